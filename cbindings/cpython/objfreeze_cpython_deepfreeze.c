/* objfreeze_cpython_deepfreeze.c - CPython 3.12's own frozen modules,
 * deep-frozen by objfreeze and readied at first import, in place of
 * CPython's Python/deepfreeze.
 *
 * Stock 3.12 links deepfreeze.o: static code objects for the modules it
 * freezes (importlib's bootstrap, codecs, io, abc, os, site, ... and the
 * __hello__ fixtures). _Py_Deepfreeze_Init readies and quickens every one
 * of them at startup and _Py_Deepfreeze_Fini undoes it at exit, whether the
 * program imports them or not: 3.4 M of the 26.9 M instructions of
 * `python -I -S -c pass`. This file defines deepfreeze.o's symbols instead:
 *
 *   _Py_get_<name>_toplevel  frozen.c's get_code of each module: the code
 *                            of that module in the objfreeze table
 *                            `objfreeze_cpython_frozen` (deep-frozen if its
 *                            blob is linked: static, readied on first use,
 *                            quickened when the blob was written). A module
 *                            the table lacks is unmarshalled from frozen.c's
 *                            own data (__hello_only__: CPython installs no
 *                            source for it);
 *   _Py_Deepfreeze_Init      nothing to do at startup;
 *   _Py_Deepfreeze_Fini      nothing to do at exit (objfreeze_cpython_deep.c
 *                            ends its blobs at Py_AtExit);
 *   _Py_next_func_version    the first code version init_code hands out.
 *
 * Link it in place of deepfreeze.o: with a copy of libpython3.12.a without
 * that member (`ar d libpython.a deepfreeze.o`), objfreeze_cpython.c
 * (-DOBJFREEZE_CPYTHON_AUTO), objfreeze_cpython_deep.c and the table
 * objfreeze_cpython_frozen with its blob: the interpreter's frozen modules
 * compiled as its own freeze step compiles them (make/cpython-frozen.py),
 * under their frozen names, code filename `<frozen ORIGIN>` (import.c hides
 * traceback frames of `<frozen importlib._bootstrap>`). examples/frozen-python
 * builds its python-deep so.
 *
 * MIT License. See LICENSE.
 */
#include <Python.h>
#include <marshal.h>

#include "objfreeze.h"

#if PY_VERSION_HEX < 0x030C0000 || PY_VERSION_HEX >= 0x030D0000
#error "objfreeze_cpython_deepfreeze.c replaces CPython 3.12's deepfreeze.o (3.13 has none; 3.11 has no deep runtime)"
#endif

/* The table and objfreeze_cpython.c's lookup into it (deep or marshal). */
OBJFREEZE_DECLARE_TABLE(objfreeze_cpython_frozen);
PyObject *objfreeze_cpython__table_code(const objfreeze_table *t, const char *name);

/* frozen.c's three arrays: libpython exports them, no public header declares them. */
extern const struct _frozen *_PyImport_FrozenBootstrap;
extern const struct _frozen *_PyImport_FrozenStdlib;
extern const struct _frozen *_PyImport_FrozenTest;

typedef PyObject *(*ofz_get_code)(void);

/* The first frozen.c entry whose get_code is `fn`: aliases (os.path,
   __hello_alias__) share their origin's function and come after it. */
static const struct _frozen *ofz_entry_of(ofz_get_code fn) {
    const struct _frozen *const *lists[] = {&_PyImport_FrozenBootstrap, &_PyImport_FrozenStdlib,
                                            &_PyImport_FrozenTest};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        for (const struct _frozen *p = *lists[i]; p != NULL && p->name != NULL; p++)
            if (p->get_code == fn) return p;
    return NULL;
}

static PyObject *ofz_frozen_code(ofz_get_code fn) {
    const struct _frozen *p = ofz_entry_of(fn);
    PyObject *co;
    if (p == NULL) {
        PyErr_SetString(PyExc_ImportError, "objfreeze: a frozen module's get_code has no entry in frozen.c");
        return NULL;
    }
    co = objfreeze_cpython__table_code(&objfreeze_cpython_frozen, p->name);
    if (co != NULL || PyErr_Occurred()) return co;
    return PyMarshal_ReadObjectFromString((const char *)p->code, p->size);
}

/* Every get_code 3.12's frozen.c refers to (its GET_CODE names): one
   missing here is an undefined reference when python links. */
#define OFZ_GET_CODES(X)                                                                                     \
    X(importlib__bootstrap) X(importlib__bootstrap_external) X(zipimport) X(abc) X(codecs) X(io)              \
    X(_collections_abc) X(_sitebuiltins) X(genericpath) X(ntpath) X(posixpath) X(os) X(site) X(stat)         \
    X(importlib_util) X(importlib_machinery) X(runpy) X(__hello__) X(__phello__) X(__phello___ham)            \
    X(__phello___ham_eggs) X(__phello___spam) X(frozen_only)

#define OFZ_DEFINE_GET_CODE(ident)                                                                           \
    PyObject *_Py_get_##ident##_toplevel(void);                                                              \
    PyObject *_Py_get_##ident##_toplevel(void) { return ofz_frozen_code(_Py_get_##ident##_toplevel); }
OFZ_GET_CODES(OFZ_DEFINE_GET_CODE)

int _Py_Deepfreeze_Init(void);
int _Py_Deepfreeze_Init(void) { return 0; }

void _Py_Deepfreeze_Fini(void);
void _Py_Deepfreeze_Fini(void) {}

/* deepfreeze.o numbers its code objects from 1 and sets this past them;
   none are left, so init_code starts at 1. */
uint32_t _Py_next_func_version = 1;
