/* Links against one table object (default symbol) and checks it from C with
   only cbindings/objfreeze.h: prints "name size package fnv1a" per module,
   then probes that must miss, given on the command line. */
#include <stdio.h>
#include "objfreeze.h"

OBJFREEZE_DECLARE_TABLE(objfreeze_modules);

static unsigned long fnv1a(const unsigned char *p, uint32_t n) {
    unsigned long h = 2166136261ul;
    uint32_t i;
    for (i = 0; i < n; i++) h = ((h ^ p[i]) * 16777619ul) & 0xfffffffful;
    return h;
}

int main(int argc, char **argv) {
    const objfreeze_table *t = &objfreeze_modules;
    uint32_t i;
    int a;
    if (objfreeze_check(t) != 0) {
        puts("objfreeze_check failed");
        return 1;
    }
    for (i = 0; i < objfreeze_count(t); i++) {
        const objfreeze_entry *e = objfreeze_entry_at(t, i);
        const char *name = objfreeze_entry_name(t, e);
        if (objfreeze_find(t, name) != e) {
            printf("find(%s) did not return its own entry\n", name);
            return 1;
        }
        printf("%s %u %d %08lx\n", name, objfreeze_entry_size(e), objfreeze_entry_is_package(e),
               fnv1a(objfreeze_entry_data(t, e), objfreeze_entry_size(e)));
    }
    if (objfreeze_entry_at(t, objfreeze_count(t)) != NULL) return 1;
    for (a = 1; a < argc; a++)
        printf("miss %s %s\n", argv[a][0] ? argv[a] : "<empty>", objfreeze_find(t, argv[a]) ? "FOUND" : "null");
    return 0;
}
