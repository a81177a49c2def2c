/* Lists objfreeze tables using only cbindings/objfreeze.h, for tests/targets.rs.
 *
 * Built for every target with that target's own compiler and linker, then run
 * (natively, under qemu-user or wine) and its output compared with
 * `objfreeze inspect --json` of the same objects.
 *
 *   -DTABLE=sym   also read the table at symbol `sym` directly: check it,
 *                 walk it, find every entry by name, probe absent names.
 *   (always)      walk every linker-collected table with objfreeze_linked_next
 *                 and find each module again with objfreeze_linked_find.
 *   -DSECOND_TU   also report how many tables second_tu.c (another
 *                 translation unit, maybe C++) walks.
 *   -DLISTING_NOCRT   Windows without a C runtime: output via kernel32
 *                 WriteFile, entry point mainCRTStartup (lld-link default).
 *
 * Output lines (checked by the test, in this order):
 *   table SYM check=C count=N tag=HEX
 *   module NAME size=N pkg=P sum=HEX find=ok|BAD
 *   absent probes=N found=M            (M must be 0)
 *   linked I check=C count=N
 *   lmodule I NAME size=N pkg=P sum=HEX first=J   (J: table linked_find chose)
 *   lfind-absent null=1
 *   linked-tables N
 *   second-tu N                        (with -DSECOND_TU)
 *   end
 * SUM is 32-bit FNV-1a of the module's bytes.
 */
#include "objfreeze.h"

/* ---- output: one buffer, written once at the end ------------------------- */

static char out_buf[1 << 20];
static size_t out_len;
static int out_overflow;

static void put(const char *s) {
    while (*s) {
        if (out_len + 1 >= sizeof out_buf) {
            out_overflow = 1;
            return;
        }
        out_buf[out_len++] = *s++;
    }
}

static void put_u32(uint32_t v, unsigned base) {
    char tmp[12];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    while (n > 0) {
        char c[2];
        c[0] = tmp[--n];
        c[1] = 0;
        put(c);
    }
}

static void put_int(int v) {
    if (v < 0) {
        put("-");
        put_u32((uint32_t)(-(long)v), 10);
    } else {
        put_u32((uint32_t)v, 10);
    }
}

#if defined(LISTING_NOCRT)
typedef void *listing_handle;
__declspec(dllimport) listing_handle __stdcall GetStdHandle(unsigned long which);
__declspec(dllimport) int __stdcall WriteFile(listing_handle h, const void *buf, unsigned long len,
                                              unsigned long *written, void *overlapped);
__declspec(dllimport) void __stdcall ExitProcess(unsigned code);
static int flush_out(void) {
    unsigned long done = 0;
    listing_handle h = GetStdHandle((unsigned long)-11); /* STD_OUTPUT_HANDLE */
    return WriteFile(h, out_buf, (unsigned long)out_len, &done, NULL) && done == out_len ? 0 : 1;
}
#elif defined(_WIN32)
#include <stdio.h>
static int flush_out(void) {
    return fwrite(out_buf, 1, out_len, stdout) == out_len && fflush(stdout) == 0 ? 0 : 1;
}
#else
/* POSIX write(2), declared here: cross Mach-O builds have no libc headers. */
#ifdef __cplusplus
extern "C"
#endif
long write(int fd, const void *buf, size_t len);
static int flush_out(void) {
    size_t off = 0;
    while (off < out_len) {
        long n = write(1, out_buf + off, out_len - off);
        if (n <= 0) return 1;
        off += (size_t)n;
    }
    return 0;
}
#endif

static uint32_t fnv1a(const unsigned char *p, uint32_t n) {
    uint32_t h = 2166136261u;
    uint32_t i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

/* ---- one table, by symbol ------------------------------------------------ */

#ifdef TABLE
#define LISTING_STR2(x) #x
#define LISTING_STR(x) LISTING_STR2(x)
OBJFREEZE_DECLARE_TABLE(TABLE);

static char probe[512];

/* Does objfreeze_find return non-NULL for `name` (absent by construction)? */
static int probe_found(const objfreeze_table *t, const char *prefix, const char *suffix) {
    size_t n = 0;
    while (*prefix && n + 1 < sizeof probe) probe[n++] = *prefix++;
    while (*suffix && n + 1 < sizeof probe) probe[n++] = *suffix++;
    probe[n] = 0;
    return objfreeze_find(t, probe) != NULL;
}

static void list_table(void) {
    const objfreeze_table *t = &TABLE;
    int check = objfreeze_check(t);
    uint32_t i, n, probes = 0, found = 0;
    put("table " LISTING_STR(TABLE) " check=");
    put_int(check);
    if (check != 0) {
        put("\n");
        return;
    }
    n = objfreeze_count(t);
    put(" count=");
    put_u32(n, 10);
    put(" tag=");
    put_u32(t->tag, 16);
    put("\n");
    for (i = 0; i < n; i++) {
        const objfreeze_entry *e = objfreeze_entry_at(t, i);
        const char *name = objfreeze_entry_name(t, e);
        put("module ");
        put(name);
        put(" size=");
        put_u32(objfreeze_entry_size(e), 10);
        put(" pkg=");
        put_int(objfreeze_entry_is_package(e));
        put(" sum=");
        put_u32(fnv1a(objfreeze_entry_data(t, e), objfreeze_entry_size(e)), 16);
        put(objfreeze_find(t, name) == e ? " find=ok\n" : " find=BAD\n");
        /* Names just after this one, between it and the next: "\x01" sorts
           before every character a module name may hold. */
        found += (uint32_t)probe_found(t, name, "\x01");
        found += (uint32_t)probe_found(t, name, "\x01zz");
        probes += 2;
    }
    found += (uint32_t)probe_found(t, "", "");
    found += (uint32_t)probe_found(t, "\x01", "");
    found += (uint32_t)probe_found(t, "\x7f\x7f", "");
    found += (uint32_t)(objfreeze_entry_at(t, n) != NULL);
    probes += 4;
    put("absent probes=");
    put_u32(probes, 10);
    put(" found=");
    put_u32(found, 10);
    put("\n");
}
#endif

/* ---- every linked table, without naming them ----------------------------- */

static int index_of(const objfreeze_table *t) {
    const objfreeze_table *p = NULL;
    int i = 0;
    while ((p = objfreeze_linked_next(p)) != NULL) {
        if (p == t) return i;
        i++;
    }
    return -1;
}

static void list_linked(void) {
    const objfreeze_table *t = NULL, *ft = NULL;
    int i = 0;
    while ((t = objfreeze_linked_next(t)) != NULL) {
        uint32_t k, n = objfreeze_count(t);
        put("linked ");
        put_int(i);
        put(" check=");
        put_int(objfreeze_check(t));
        put(" count=");
        put_u32(n, 10);
        put("\n");
        for (k = 0; k < n; k++) {
            const objfreeze_entry *e = objfreeze_entry_at(t, k);
            const char *name = objfreeze_entry_name(t, e);
            const objfreeze_entry *f = objfreeze_linked_find(name, &ft);
            put("lmodule ");
            put_int(i);
            put(" ");
            put(name);
            put(" size=");
            put_u32(objfreeze_entry_size(e), 10);
            put(" pkg=");
            put_int(objfreeze_entry_is_package(e));
            put(" sum=");
            put_u32(fnv1a(objfreeze_entry_data(t, e), objfreeze_entry_size(e)), 16);
            put(" first=");
            /* linked_find must give an entry of the table it reports */
            put_int(f != NULL && ft != NULL && objfreeze_find(ft, name) == f ? index_of(ft) : -2);
            put("\n");
        }
        i++;
    }
    ft = (const objfreeze_table *)(const void *)out_buf; /* must be reset to NULL */
    put("lfind-absent null=");
    put_int(objfreeze_linked_find("no.such.module", &ft) == NULL && ft == NULL);
    put("\nlinked-tables ");
    put_int(i);
    put("\n");
}

#ifdef SECOND_TU
int listing_second_tu_count(void);
#endif

static int run(void) {
#ifdef TABLE
    list_table();
#endif
    list_linked();
#ifdef SECOND_TU
    put("second-tu ");
    put_int(listing_second_tu_count());
    put("\n");
#endif
    put("end\n");
    if (out_overflow) return 2;
    return flush_out();
}

#if defined(LISTING_NOCRT)
void mainCRTStartup(void);
void mainCRTStartup(void) { ExitProcess((unsigned)run()); }
#else
int main(void) { return run(); }
#endif
