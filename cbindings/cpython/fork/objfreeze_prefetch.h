/* objfreeze_prefetch.h - an interpreter's read-only segments in a few large
 * reads at startup (Linux, ELF; elsewhere a no-op).
 *
 * Every start runs code from all over the interpreter's read-only segments
 * (code, read-only data). On a cold start each page fault there reads only
 * the kernel's read-ahead around it (128 KB by default): 150-odd separate
 * disk reads for a `-c pass`. MADV_WILLNEED over each segment asks for them
 * in a few large reads instead, before the interpreter runs any of it. The
 * tables' section [tables_start, tables_stop) is left out: only the indexes
 * and the modules imported are read from it.
 *
 * Included by the fork's Python/frozen.c and by objfreeze_cpython.c
 * (-DOBJFREEZE_CPYTHON_AUTO), so a fork and a stock embedding start the
 * same way, and by objfreeze_deep_rt.h for objfreeze__advise.
 * -DOBJFREEZE_NO_PREFETCH leaves the prefetch out.
 *
 * MIT License. See LICENSE.
 */
#ifndef OBJFREEZE_PREFETCH_H
#define OBJFREEZE_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#if defined(__linux__)
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define OBJFREEZE__MADVISE 1

/* The kernel reads at most max(read-ahead, the device's largest request)
   of one MADV_WILLNEED and drops the rest: 128 KB on many disks. Pages are
   asked for in pieces no larger. */
#define OBJFREEZE__CHUNK ((uintptr_t)128 * 1024)

/* Whether mincore() tells which pages of this program's file are cached.
   Since Linux 5.0 it does only for a process that owns or may write the
   file (or is root), and reports every page cached to anyone else. */
static inline int objfreeze__mincore_tells(void)
{
    static int tells = -1;
    if (tells < 0) {
        struct stat st;
        tells = stat("/proc/self/exe", &st) == 0 &&
                (geteuid() == 0 || st.st_uid == geteuid() || access("/proc/self/exe", W_OK) == 0);
    }
    return tells;
}

/* MADV_WILLNEED for the pages [a, b), a piece at a time, skipping pieces
   already cached: on a warm cache the kernel would otherwise walk every
   page of every range asked for, several percent of a start's time. */
static inline void objfreeze__willneed_pages(uintptr_t a, uintptr_t b, uintptr_t page)
{
    unsigned char in[OBJFREEZE__CHUNK / 4096];
    int tells = objfreeze__mincore_tells();
    while (a < b) {
        uintptr_t n = b - a < OBJFREEZE__CHUNK ? b - a : OBJFREEZE__CHUNK, i, np = (n + page - 1) / page;
        int cached = tells && mincore((void *)a, n, in) == 0;
        for (i = 0; cached && i < np; i++) cached = in[i] & 1;
        if (!cached) (void)madvise((void *)a, n, MADV_WILLNEED);
        a += n;
    }
}
#endif

/* madvise the pages of [p, p + len): `inward` rounds to the pages wholly
   inside it (leaving neighbours alone), else outward. A no-op without
   madvise. Also the deep-frozen runtime's (objfreeze_deep_rt.h). */
static inline void objfreeze__advise(const void *p, size_t len, int advice, int inward)
{
#ifdef OBJFREEZE__MADVISE
    static uintptr_t page;
    uintptr_t a = (uintptr_t)p, b = a + len;
    if (page == 0) page = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (inward) {
        a = (a + page - 1) & ~(page - 1);
        b &= ~(page - 1);
    } else {
        a &= ~(page - 1);
        b = (b + page - 1) & ~(page - 1);
    }
    if (b <= a) return;
    if (advice == MADV_WILLNEED)
        objfreeze__willneed_pages(a, b, page);
    else
        (void)madvise((void *)a, b - a, advice);
#else
    (void)p, (void)len, (void)advice, (void)inward;
#endif
}

#if defined(__linux__) && defined(__ELF__) && !defined(OBJFREEZE_NO_PREFETCH)
#include <link.h>

struct objfreeze__prefetch_arg {
    uintptr_t self, ts, te;
};

static inline void objfreeze__willneed(uintptr_t a, uintptr_t b)
{
    if (b > a) objfreeze__advise((const void *)a, b - a, MADV_WILLNEED, 0);
}

static inline int objfreeze__prefetch_object(struct dl_phdr_info *info, size_t size, void *data)
{
    const struct objfreeze__prefetch_arg *p = (const struct objfreeze__prefetch_arg *)data;
    unsigned i;
    int mine = 0;
    (void)size;
    /* The object this file is linked into: the executable, or libpython. */
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t a = (uintptr_t)info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && p->self >= a && p->self < a + ph->p_memsz) mine = 1;
    }
    if (!mine) return 0;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t a = (uintptr_t)info->dlpi_addr + ph->p_vaddr, b = a + ph->p_filesz;
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W) || b <= a) continue;
        if (p->ts != 0 && p->te > p->ts && p->ts < b && p->te > a) {
            if (p->ts > a) objfreeze__willneed(a, p->ts);
            if (p->te < b) objfreeze__willneed(p->te, b);
        } else {
            objfreeze__willneed(a, b);
        }
    }
    return 1;
}

static inline void objfreeze_prefetch(const void *tables_start, const void *tables_stop)
{
    struct objfreeze__prefetch_arg p;
    p.self = (uintptr_t)&objfreeze__prefetch_object;
    p.ts = (uintptr_t)tables_start;
    p.te = (uintptr_t)tables_stop;
    dl_iterate_phdr(objfreeze__prefetch_object, &p);
}
#else
static inline void objfreeze_prefetch(const void *tables_start, const void *tables_stop)
{
    (void)tables_start, (void)tables_stop;
}
#endif

#endif /* OBJFREEZE_PREFETCH_H */
