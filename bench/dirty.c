/* Private dirty memory attributable to a table of frozen modules in a PIE
 * executable: every mapping of /proc/self/smaps that overlaps the table's
 * address range, with its Private_Dirty summed, after every module has been
 * read (so all of the table is resident).
 *
 * Built two ways from the same modules:
 *   -DOBJFREEZE  the objfreeze table (offsets only: no relocations)
 *   (default)    a `struct _frozen` array as CPython builds it (a name and a
 *                code pointer per module: relocated at load, so its pages
 *                are written by the dynamic loader)
 * Prints `key value` lines. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objfreeze.h"

static uintptr_t lo, hi;
static unsigned long sum;

#ifdef OBJFREEZE
OBJFREEZE_DECLARE_TABLE(objfreeze_modules);

static void touch(void) {
    const objfreeze_table *t = &objfreeze_modules;
    uint32_t i, j;
    if (objfreeze_check(t) != 0) {
        fprintf(stderr, "dirty: the linked table is unsound\n");
        exit(1);
    }
    for (i = 0; i < objfreeze_count(t); i++) {
        const objfreeze_entry *e = objfreeze_entry_at(t, i);
        const unsigned char *d = objfreeze_entry_data(t, e);
        if (objfreeze_find(t, objfreeze_entry_name(t, e)) != e) exit(1);
        for (j = 0; j < objfreeze_entry_size(e); j++) sum += d[j];
    }
    lo = (uintptr_t)t;
    hi = lo + t->total_size;
    printf("modules %u\n", objfreeze_count(t));
}
#else
struct _frozen {
    const char *name;
    const unsigned char *code;
    int size;
    int is_package;
};
extern const struct _frozen bench_frozen[];
extern const int bench_frozen_count;

static void touch(void) {
    const struct _frozen *p;
    int j;
    for (p = bench_frozen; p->name; p++) {
        sum += strlen(p->name);
        for (j = 0; j < p->size; j++) sum += p->code[j];
    }
    lo = (uintptr_t)bench_frozen;
    hi = (uintptr_t)(bench_frozen + bench_frozen_count + 1);
    printf("modules %d\n", bench_frozen_count);
}
#endif

int main(void) {
    char line[512];
    unsigned long dirty = 0, clean = 0, rss = 0, maps = 0;
    int in = 0;
    FILE *f;
    touch();
    f = fopen("/proc/self/smaps", "r");
    if (!f) {
        perror("/proc/self/smaps");
        return 1;
    }
    while (fgets(line, sizeof line, f)) {
        unsigned long long a, b;
        unsigned long kb;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s", &a, &b, perms) == 3 && strchr(line, ':') && line[8] != ':') {
            in = a < hi && b > lo;
            if (in) {
                maps++;
                printf("mapping %llx-%llx %s\n", a, b, perms);
            }
        } else if (in && sscanf(line, "Private_Dirty: %lu kB", &kb) == 1) {
            dirty += kb;
        } else if (in && sscanf(line, "Private_Clean: %lu kB", &kb) == 1) {
            clean += kb;
        } else if (in && sscanf(line, "Rss: %lu kB", &kb) == 1) {
            rss += kb;
        }
    }
    fclose(f);
    printf("table_bytes %lu\n", (unsigned long)(hi - lo));
    printf("mappings %lu\n", maps);
    printf("rss_kb %lu\n", rss);
    printf("private_clean_kb %lu\n", clean);
    printf("private_dirty_kb %lu\n", dirty);
    printf("checksum %lu\n", sum);
    return 0;
}
