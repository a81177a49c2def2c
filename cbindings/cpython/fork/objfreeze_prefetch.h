/* objfreeze_prefetch.h - an interpreter's read-only segments in a few large
 * reads at startup (Linux, ELF; elsewhere a no-op).
 *
 * Every start runs code from all over the interpreter's read-only segments
 * (code, read-only data). On a cold start each page fault there reads only
 * the kernel's read-ahead around it (128 KB by default): 150-odd separate
 * disk reads for a `-c pass`. One MADV_WILLNEED per segment asks for them
 * in a few large reads instead, before the interpreter runs any of it. The
 * tables' section [tables_start, tables_stop) is left out: only the indexes
 * and the modules imported are read from it.
 *
 * Included by the fork's Python/frozen.c and by objfreeze_cpython.c
 * (-DOBJFREEZE_CPYTHON_AUTO), so a fork and a stock embedding start the
 * same way. -DOBJFREEZE_NO_PREFETCH leaves it out.
 *
 * MIT License. See LICENSE.
 */
#ifndef OBJFREEZE_PREFETCH_H
#define OBJFREEZE_PREFETCH_H

#if defined(__linux__) && defined(__ELF__) && !defined(OBJFREEZE_NO_PREFETCH)
#include <link.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

struct objfreeze__prefetch_arg {
    uintptr_t self, ts, te, page;
};

static void objfreeze__willneed(uintptr_t a, uintptr_t b, uintptr_t page)
{
    a &= ~(page - 1);
    b = (b + page - 1) & ~(page - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_WILLNEED);
}

static int objfreeze__prefetch_object(struct dl_phdr_info *info, size_t size, void *data)
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
            if (p->ts > a) objfreeze__willneed(a, p->ts, p->page);
            if (p->te < b) objfreeze__willneed(p->te, b, p->page);
        } else {
            objfreeze__willneed(a, b, p->page);
        }
    }
    return 1;
}

static void objfreeze_prefetch(const void *tables_start, const void *tables_stop)
{
    struct objfreeze__prefetch_arg p;
    p.self = (uintptr_t)&objfreeze__prefetch_object;
    p.ts = (uintptr_t)tables_start;
    p.te = (uintptr_t)tables_stop;
    p.page = (uintptr_t)sysconf(_SC_PAGESIZE);
    dl_iterate_phdr(objfreeze__prefetch_object, &p);
}
#else
static void objfreeze_prefetch(const void *tables_start, const void *tables_stop)
{
    (void)tables_start, (void)tables_stop;
}
#endif

#endif /* OBJFREEZE_PREFETCH_H */
