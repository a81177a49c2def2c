/* objfreeze_cpython_deep.c - deep-frozen modules for a stock CPython.
 *
 * The runtime objfreeze_cpython.c calls when a table has a deep-frozen blob
 * (objfreeze_cpython_deep(), objfreeze_cpython_deep_linked()): the module's
 * static code object, made usable at its first import, instead of
 * unmarshalling. CPython 3.12, 3.13 or 3.14, with libpython linked
 * statically (the runtime uses internal functions a shared libpython does
 * not export). Compile it against the interpreter's internal headers:
 *
 *     cc -c -DPy_BUILD_CORE -I$INCLUDE -I$INCLUDE/internal objfreeze_cpython_deep.c
 *
 * where $INCLUDE is sysconfig's include path (python3.X-config --includes).
 * The blob must come from `objfreeze cpython-deep --layout layout.o`, the
 * layout probe (fork/objfreeze_layout.c) compiled the same way.
 *
 * MIT License. See LICENSE.
 */
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#include "Python.h"

#include <stdio.h>
#include <stdlib.h>

static void ofz_deep_fail(const char *who, const char *why, unsigned long a, unsigned long b) {
    fprintf(stderr, "objfreeze: %s: ", who);
    fprintf(stderr, why, a, b);
    fputc('\n', stderr);
    exit(1);
}

#define OBJFREEZE_DEEP_FAIL(who, fmt, a, b) ofz_deep_fail((who), (fmt), (a), (b))
#include "fork/objfreeze_deep_rt.h"

/* objfreeze_cpython.c refers to this weakly: it is the whole interface. */
PyObject *objfreeze_cpython__deep_code(const char *who, objfreeze_deep *d, uint32_t data_offset);

PyObject *objfreeze_cpython__deep_code(const char *who, objfreeze_deep *d, uint32_t data_offset) {
    return objfreeze_deep_code(who, d, data_offset);
}

/* Before any blob in [start, start + len) is read (objfreeze_deep_prepare). */
void objfreeze_cpython__deep_prepare(void *start, size_t len);

void objfreeze_cpython__deep_prepare(void *start, size_t len) { objfreeze_deep_prepare(start, len); }

/* Before the linked tables in [start, start + len) are first read
   (objfreeze_deep_prepare_tables). */
void objfreeze_cpython__deep_prepare_tables(const void *start, size_t len);

void objfreeze_cpython__deep_prepare_tables(const void *start, size_t len)
{
    objfreeze_deep_prepare_tables(start, len);
}
