/* A python whose standard library comes from objfreeze tables.
 *
 * Before handing over to CPython's own main, every table linked into the
 * program (found through the linker-collected section, no symbol names
 * needed) is installed into PyImport_FrozenModules. Module names and
 * bytecode stay in the read-only section; only the small struct _frozen
 * array is allocated. A table compiled for another Python version is refused
 * before any of its code could run. CPython 3.11 and 3.12 layout of
 * struct _frozen (name, code, size, is_package, get_code). */
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>

#include "objfreeze.h"

#if PY_VERSION_HEX < 0x030b0000 || PY_VERSION_HEX >= 0x030d0000
#error "this example fills the CPython 3.11/3.12 struct _frozen"
#endif

/* The .pyc magic of the interpreter this is compiled against, as the table
 * stores it (the 4 header bytes read little-endian). PyImport_GetMagicNumber()
 * needs a running interpreter, so it cannot be asked here. */
#if PY_VERSION_HEX < 0x030c0000
#define BYTECODE_MAGIC (3495u | 0x0a0d0000u) /* 3.11 */
#else
#define BYTECODE_MAGIC (3531u | 0x0a0d0000u) /* 3.12 */
#endif

static int install_linked_tables(void) {
    const objfreeze_table *t = NULL;
    size_t n = 0, i = 0;
    struct _frozen *fz;
    while ((t = objfreeze_linked_next(t)) != NULL) {
        if (t->tag_kind != OBJFREEZE_TAG_CPYTHON || t->tag != BYTECODE_MAGIC) {
            fprintf(stderr,
                    "python: refusing an objfreeze table: its bytecode tag is %#x (kind %u), "
                    "this is CPython %s, magic %#x\n",
                    (unsigned)t->tag, (unsigned)t->tag_kind, PY_VERSION, BYTECODE_MAGIC);
            return -1;
        }
        n += objfreeze_count(t);
    }
    if (n == 0) return 0;
    fz = calloc(n + 1, sizeof *fz); /* zeroed last entry ends the array */
    if (fz == NULL) return -1;
    while ((t = objfreeze_linked_next(t)) != NULL) {
        uint32_t k;
        for (k = 0; k < objfreeze_count(t); k++) {
            const objfreeze_entry *e = objfreeze_entry_at(t, k);
            fz[i].name = objfreeze_entry_name(t, e);
            fz[i].code = objfreeze_entry_data(t, e);
            fz[i].size = (int)objfreeze_entry_size(e);
            fz[i].is_package = objfreeze_entry_is_package(e) != 0;
            i++;
        }
    }
    PyImport_FrozenModules = fz;
    return 0;
}

int main(int argc, char **argv) {
    if (install_linked_tables() != 0) return 2;
    return Py_BytesMain(argc, argv);
}
