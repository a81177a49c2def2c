/* objfreeze_cpython.c - install objfreeze tables into a stock CPython 3.8+.
 *
 * Compile against the Python.h of the interpreter you link (see
 * objfreeze_cpython.h for the API and README.md for the design). With
 * -DOBJFREEZE_CPYTHON_AUTO the object also installs every linked table from
 * a constructor, before main(): python.o + tables + that object +
 * libpython3.X.a is then a complete python importing from its tables.
 *
 * MIT License. See LICENSE.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <marshal.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objfreeze_cpython.h"
#include "fork/objfreeze_deep.h"
#ifdef OBJFREEZE_CPYTHON_AUTO
#include "fork/objfreeze_prefetch.h"
#endif

#if PY_VERSION_HEX < 0x03080000
#error "objfreeze_cpython needs CPython 3.8 or later"
#endif

/* 3.11+ keeps its own frozen modules in three tables consulted around
   PyImport_FrozenModules. They are not in the public headers, but libpython
   exports them; weak, so a build that lacks them still links (and then
   nothing is known to skip). */
#if PY_VERSION_HEX >= 0x030B0000 && defined(__GNUC__) && !defined(_WIN32)
#define OFZ_HAVE_INTERNAL_TABLES 1
extern const struct _frozen *_PyImport_FrozenBootstrap __attribute__((weak));
extern const struct _frozen *_PyImport_FrozenStdlib __attribute__((weak));
extern const struct _frozen *_PyImport_FrozenTest __attribute__((weak));
#endif

/* objfreeze_cpython_deep.c, the runtime of deep-frozen blobs, if linked:
   weak, so a program without deep freezing links without it. */
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030F0000 && defined(__GNUC__) && !defined(_WIN32)
#define OFZ_HAVE_DEEP 1
extern PyObject *objfreeze_cpython__deep_code(const char *who, objfreeze_deep *d, uint32_t data_offset)
    __attribute__((weak));
extern void objfreeze_cpython__deep_prepare(void *start, size_t len) __attribute__((weak));
extern void objfreeze_cpython__deep_prepare_tables(const void *start, size_t len) __attribute__((weak));
#endif

/* ---- state -------------------------------------------------------------- */

typedef struct {
    const objfreeze_table *table;
    /* One bit per entry: not installed (another table, the interpreter or
       the bootstrap has that name). */
    unsigned char *skip;
} ofz_installed;

static ofz_installed *g_tables;
static size_t g_ntables;
static unsigned g_flags;
static int g_have_orig;
static const struct _frozen *g_orig;      /* PyImport_FrozenModules before us */
static int g_magic_checked;
static char g_err[1024];

#ifdef OFZ_HAVE_DEEP
/* Deep-frozen blobs, each serving one table (objfreeze_cpython_deep). */
typedef struct {
    const objfreeze_table *table;
    objfreeze_deep *deep;
    char who[256]; /* the table, for messages */
} ofz_deep_blob;
static ofz_deep_blob *g_deep;
static size_t g_ndeep;
#endif

/* ---- magic numbers ------------------------------------------------------ */

/* The magic of each final release, so a mismatch is caught before
   Py_Initialize (PyImport_GetMagicNumber() needs a running interpreter).
   Unknown versions are checked after the bootstrap, still before any table
   module can be imported. */
static unsigned long ofz_expected_magic(void) {
    unsigned long n;
    switch (PY_MINOR_VERSION) {
    case 8: n = 3413; break;
    case 9: n = 3425; break;
    case 10: n = 3439; break;
    case 11: n = 3495; break;
    case 12: n = 3531; break;
    case 13: n = 3571; break;
    case 14: n = 3627; break;
    default: return 0;
    }
    if (PY_RELEASE_LEVEL != PY_RELEASE_LEVEL_FINAL) return 0; /* pre-releases bump it */
    return 0x0a0d0000ul | n;
}

static const char *ofz_magic_version(unsigned long tag) {
    unsigned long n = tag & 0xffffu;
    if ((tag >> 16) != 0x0a0du) return "not CPython";
    if (n >= 3360 && n < 3390) return "Python 3.6";
    if (n >= 3390 && n < 3400) return "Python 3.7";
    if (n >= 3400 && n < 3420) return "Python 3.8";
    if (n >= 3420 && n < 3430) return "Python 3.9";
    if (n >= 3430 && n < 3450) return "Python 3.10";
    if (n >= 3450 && n < 3500) return "Python 3.11";
    if (n >= 3500 && n < 3550) return "Python 3.12";
    if (n >= 3550 && n < 3600) return "Python 3.13";
    if (n >= 3600 && n < 3650) return "Python 3.14";
    return "an unknown Python";
}

/* "table of 12 modules (app, app.cli, ...)": how a message names a table. */
static void ofz_describe(const objfreeze_table *t, char *buf, size_t len) {
    const objfreeze_entry *e = t->count ? objfreeze_entry_at(t, 0) : NULL;
    snprintf(buf, len, "the table at %p holding %u module%s%s%s%s", (const void *)t, (unsigned)t->count,
             t->count == 1 ? "" : "s", e ? " (first: " : "", e ? objfreeze_entry_name(t, e) : "", e ? ")" : "");
}

/* 0 if the table may be installed here; else -1 with g_err set. `magic` 0
   means not known yet. */
static int ofz_check_table(const objfreeze_table *t, unsigned long magic) {
    char what[256];
    if (t == NULL || objfreeze_check(t) != 0) {
        snprintf(g_err, sizeof g_err, "objfreeze: refusing the table at %p: not a sound objfreeze table",
                 (const void *)t);
        return -1;
    }
    ofz_describe(t, what, sizeof what);
    if (t->tag_kind != OBJFREEZE_TAG_CPYTHON) {
        snprintf(g_err, sizeof g_err, "objfreeze: refusing %s: it does not hold CPython bytecode (tag kind %u)",
                 what, (unsigned)t->tag_kind);
        return -1;
    }
    if (magic != 0 && t->tag != magic) {
        snprintf(g_err, sizeof g_err,
                 "objfreeze: refusing %s: its bytecode is for %s (magic %lu), but this interpreter is "
                 "Python %d.%d (magic %lu); rebuild the table with this interpreter "
                 "(objfreeze build --python python%d.%d)",
                 what, ofz_magic_version(t->tag), (unsigned long)(t->tag & 0xffffu), PY_MAJOR_VERSION,
                 PY_MINOR_VERSION, magic & 0xffffu, PY_MAJOR_VERSION, PY_MINOR_VERSION);
        return -1;
    }
    for (uint32_t i = 0; i < t->count; i++) {
        if (objfreeze_entry_at(t, i)->data_size > (uint32_t)INT_MAX) {
            snprintf(g_err, sizeof g_err, "objfreeze: refusing %s: module %s is larger than 2 GiB", what,
                     objfreeze_entry_name(t, objfreeze_entry_at(t, i)));
            return -1;
        }
    }
    return 0;
}

/* ---- the struct _frozen array ----------------------------------------- */

static size_t ofz_frozen_len(const struct _frozen *p) {
    size_t n = 0;
    while (p != NULL && p[n].name != NULL) n++;
    return n;
}

static void ofz_set_skip(ofz_installed *in, const objfreeze_entry *e) {
    size_t i = (size_t)(e - objfreeze_entry_at(in->table, 0));
    in->skip[i / 8] |= (unsigned char)(1u << (i % 8));
}

static int ofz_skipped(const ofz_installed *in, const objfreeze_entry *e) {
    size_t i = (size_t)(e - objfreeze_entry_at(in->table, 0));
    return (in->skip[i / 8] >> (i % 8)) & 1;
}

/* Mark every entry of `in` whose name is in the NULL-terminated array. */
static void ofz_skip_names(ofz_installed *in, const struct _frozen *p) {
    for (; p != NULL && p->name != NULL; p++) {
        const objfreeze_entry *e = objfreeze_find(in->table, p->name);
        if (e) ofz_set_skip(in, e);
    }
}

static void ofz_skip_data(ofz_installed *in);

/* Decide, for table k, which entries are not installed. The bootstrap
   modules are never taken from a table: they already ran. */
static void ofz_compute_skips(size_t k, unsigned flags) {
    static const char *const bootstrap[] = {"_frozen_importlib", "_frozen_importlib_external", "zipimport"};
    ofz_installed *in = &g_tables[k];
    const objfreeze_table *t = in->table;
    memset(in->skip, 0, (t->count + 7) / 8);
    ofz_skip_data(in);
    for (size_t i = 0; i < sizeof bootstrap / sizeof bootstrap[0]; i++) {
        const objfreeze_entry *e = objfreeze_find(t, bootstrap[i]);
        if (e) ofz_set_skip(in, e);
    }
    if (!(flags & OBJFREEZE_CPYTHON_SHADOW)) {
        ofz_skip_names(in, g_orig);
#ifdef OFZ_HAVE_INTERNAL_TABLES
        if (&_PyImport_FrozenBootstrap != NULL) ofz_skip_names(in, _PyImport_FrozenBootstrap);
        if (&_PyImport_FrozenStdlib != NULL) ofz_skip_names(in, _PyImport_FrozenStdlib);
        if (&_PyImport_FrozenTest != NULL) ofz_skip_names(in, _PyImport_FrozenTest);
#endif
    }
    /* An earlier table has it: the first one wins, as in the array. */
    for (size_t j = 0; j < k; j++) {
        const objfreeze_table *u = g_tables[j].table;
        if (u->count < t->count) {
            for (uint32_t i = 0; i < u->count; i++) {
                const objfreeze_entry *e = objfreeze_find(t, objfreeze_entry_name(u, objfreeze_entry_at(u, i)));
                if (e) ofz_set_skip(in, e);
            }
        } else {
            for (uint32_t i = 0; i < t->count; i++) {
                const objfreeze_entry *e = objfreeze_entry_at(t, i);
                if (objfreeze_find(u, objfreeze_entry_name(t, e))) ofz_set_skip(in, e);
            }
        }
    }
}

static void ofz_fill(struct _frozen *f, const objfreeze_table *t, const objfreeze_entry *e) {
    memset(f, 0, sizeof *f);
    f->name = objfreeze_entry_name(t, e);
    f->code = objfreeze_entry_data(t, e);
#if PY_VERSION_HEX >= 0x030B0000
    f->size = (int)objfreeze_entry_size(e);
    f->is_package = objfreeze_entry_is_package(e);
#else
    /* 3.8-3.10 mark a package by a negative size. */
    f->size = objfreeze_entry_is_package(e) ? -(int)objfreeze_entry_size(e) : (int)objfreeze_entry_size(e);
#endif
}

/* Build the array: the interpreter's own entries, then every installed
   table module (reversed with OBJFREEZE_CPYTHON_SHADOW). */
static int ofz_rebuild(void) {
    size_t norig = ofz_frozen_len(g_orig), total = norig, n = 0;
    struct _frozen *a;
    for (size_t k = 0; k < g_ntables; k++) total += g_tables[k].table->count;
    a = (struct _frozen *)calloc(total + 1, sizeof *a);
    if (a == NULL) {
        snprintf(g_err, sizeof g_err, "objfreeze: out of memory for %zu frozen modules", total);
        return -1;
    }
    if (!(g_flags & OBJFREEZE_CPYTHON_SHADOW)) {
        memcpy(a, g_orig, norig * sizeof *a);
        n = norig;
    }
    for (size_t k = 0; k < g_ntables; k++) {
        const objfreeze_table *t = g_tables[k].table;
        for (uint32_t i = 0; i < t->count; i++) {
            const objfreeze_entry *e = objfreeze_entry_at(t, i);
            if (!ofz_skipped(&g_tables[k], e)) ofz_fill(&a[n++], t, e);
        }
    }
    if (g_flags & OBJFREEZE_CPYTHON_SHADOW) {
        memcpy(a + n, g_orig, norig * sizeof *a);
        n += norig;
    }
    /* a[n] is the all-zero terminator. The old array is not freed: a
       running interpreter may still be reading it. */
    PyImport_FrozenModules = a;
    return (int)(n - norig);
}

/* ---- the source-path finder ------------------------------------------ */

/* 1 if `t` was installed (and so checked) by objfreeze_cpython_install. */
static int ofz_installed_table(const objfreeze_table *t) {
    for (size_t k = 0; k < g_ntables; k++)
        if (g_tables[k].table == t) return 1;
    return 0;
}

/* A table module claimed by the finder (the first table holding the name
   decides), or NULL. */
static const objfreeze_entry *ofz_lookup(const char *name, const objfreeze_table **table) {
    for (size_t k = 0; k < g_ntables; k++) {
        const objfreeze_entry *e = objfreeze_find(g_tables[k].table, name);
        if (e == NULL) continue;
        if (ofz_skipped(&g_tables[k], e)) {
            /* Skipped for a later table's sake? Then keep looking. */
            continue;
        }
        *table = g_tables[k].table;
        return e;
    }
    return NULL;
}

/* The code object of entry e of table t: its deep-frozen one if it has one
   this interpreter may use, else unmarshalled. */
static PyObject *ofz_code(const objfreeze_table *t, const objfreeze_entry *e) {
#ifdef OFZ_HAVE_DEEP
    for (size_t k = 0; k < g_ndeep; k++) {
        if (g_deep[k].table == t) {
            uint32_t off = (uint32_t)((const char *)objfreeze_entry_data(t, e) - (const char *)t);
            PyObject *co = objfreeze_cpython__deep_code(g_deep[k].who, g_deep[k].deep, off);
            if (co != NULL || PyErr_Occurred()) return co;
            break;
        }
    }
#endif
    return PyMarshal_ReadObjectFromString((const char *)objfreeze_entry_data(t, e), (Py_ssize_t)e->data_size);
}

/* For objfreeze_cpython_deepfreeze.c: the code of module `name` of table
   t (deep-frozen if t has a blob), a new reference; NULL without an
   exception if t was not installed (so not checked) or lacks the name. */
PyObject *objfreeze_cpython__table_code(const objfreeze_table *t, const char *name);

PyObject *objfreeze_cpython__table_code(const objfreeze_table *t, const char *name) {
    const objfreeze_entry *e;
    if (!ofz_installed_table(t) || (e = objfreeze_find(t, name)) == NULL) return NULL;
    return ofz_code(t, e);
}

static PyObject *ofz_unmarshal(const char *name) {
    const objfreeze_table *t = NULL;
    const objfreeze_entry *e = ofz_lookup(name, &t);
    if (e == NULL) {
        PyErr_Format(PyExc_ImportError, "objfreeze: no module named %s in the linked tables", name);
        return NULL;
    }
    return ofz_code(t, e);
}

/* get_code(self, fullname) of the loader class: the frozen code, which
   find_spec left on the loader (unmarshalled once), else unmarshalled now. */
static PyObject *ofz_loader_get_code(PyObject *unused, PyObject *args) {
    PyObject *self, *fullname, *code, *own;
    const char *name;
    (void)unused;
    if (!PyArg_ParseTuple(args, "OU:get_code", &self, &fullname)) return NULL;
    name = PyUnicode_AsUTF8(fullname);
    if (name == NULL) return NULL;
    own = PyObject_GetAttrString(self, "name");
    if (own == NULL) return NULL;
    code = NULL;
    if (PyUnicode_Check(own) && PyUnicode_Compare(own, fullname) == 0 && PyObject_HasAttrString(self, "_objfreeze_code")) {
        code = PyObject_GetAttrString(self, "_objfreeze_code");
        /* Drop our reference so the module's code can be freed after it ran. */
        if (code != NULL && PyObject_SetAttrString(self, "_objfreeze_code", NULL) < 0) PyErr_Clear();
    }
    Py_DECREF(own);
    if (code != NULL && code != Py_None) return code;
    Py_XDECREF(code);
    PyErr_Clear();
    return ofz_unmarshal(name);
}

/* __eq__(self, other): equal to the stock SourceFileLoader of the same
   module and source file (they load the same module), so specs compare as
   they do in stock CPython; the hash is FileLoader's, which agrees. */
static PyObject *ofz_loader_eq(PyObject *unused, PyObject *args) {
    PyObject *self, *other, *base, *a = NULL, *b = NULL;
    int r = -1;
    (void)unused;
    if (!PyArg_ParseTuple(args, "OO:__eq__", &self, &other)) return NULL;
    base = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "__base__");
    if (base == NULL) return NULL;
    r = PyObject_IsInstance(other, base);
    Py_DECREF(base);
    if (r <= 0) {
        if (r < 0) return NULL;
        Py_RETURN_NOTIMPLEMENTED;
    }
    r = -1;
    if ((a = PyObject_GetAttrString(self, "name")) == NULL || (b = PyObject_GetAttrString(other, "name")) == NULL)
        goto done;
    r = PyObject_RichCompareBool(a, b, Py_EQ);
    Py_CLEAR(a);
    Py_CLEAR(b);
    if (r != 1) goto done;
    if ((a = PyObject_GetAttrString(self, "path")) == NULL || (b = PyObject_GetAttrString(other, "path")) == NULL) {
        r = -1;
        goto done;
    }
    r = PyObject_RichCompareBool(a, b, Py_EQ);
done:
    Py_XDECREF(a);
    Py_XDECREF(b);
    if (r < 0) return NULL;
    return PyBool_FromLong(r);
}

static PyMethodDef ofz_get_code_def = {
    "get_code", ofz_loader_get_code, METH_VARARGS,
    "Return the module's code object from the objfreeze table (no file is read)."};
static PyMethodDef ofz_eq_def = {"__eq__", ofz_loader_eq, METH_VARARGS,
                                 "Equal to a SourceFileLoader of the same module and path."};

typedef struct {
    PyObject_HEAD
    PyObject *spec_from_file_location;
    PyObject *module_spec;
    PyObject *loader_class;
} ofz_finder;

/* Put `def` in `ns` as a method. */
static int ofz_add_method(PyObject *ns, PyMethodDef *def) {
    PyObject *fn = PyCFunction_New(def, NULL), *meth = fn ? PyInstanceMethod_New(fn) : NULL;
    int r = meth ? PyDict_SetItemString(ns, def->ml_name, meth) : -1;
    Py_XDECREF(fn);
    Py_XDECREF(meth);
    return r;
}

static int ofz_add_data_methods(PyObject *ns, PyObject *base);

/* _frozen_importlib_external's spec_from_file_location, and a
   SourceFileLoader subclass whose get_code() returns the frozen code: every
   other method (get_source, get_filename, get_data, is_package,
   get_resource_reader) is the stock one, working on the real source path. */
static int ofz_finder_ready(ofz_finder *self) {
    PyObject *ext, *boot, *base = NULL, *ns = NULL, *hash = NULL;
    if (self->loader_class != NULL) return 0;
    ext = PyImport_ImportModule("_frozen_importlib_external");
    if (ext == NULL) return -1;
    self->spec_from_file_location = PyObject_GetAttrString(ext, "spec_from_file_location");
    base = PyObject_GetAttrString(ext, "SourceFileLoader");
    Py_DECREF(ext);
    boot = PyImport_ImportModule("_frozen_importlib");
    if (boot == NULL) goto fail;
    self->module_spec = PyObject_GetAttrString(boot, "ModuleSpec");
    Py_DECREF(boot);
    if (self->spec_from_file_location == NULL || self->module_spec == NULL || base == NULL) goto fail;
    if ((ns = PyDict_New()) == NULL || ofz_add_method(ns, &ofz_get_code_def) < 0 || ofz_add_method(ns, &ofz_eq_def) < 0)
        goto fail;
    if (ofz_add_data_methods(ns, base) < 0) goto fail;
    /* Defining __eq__ would drop the inherited __hash__. */
    if ((hash = PyObject_GetAttrString(base, "__hash__")) == NULL || PyDict_SetItemString(ns, "__hash__", hash) < 0)
        goto fail;
    {
        PyObject *mod = PyUnicode_FromString("objfreeze"), *doc = PyUnicode_FromString(
            "Loads a module's code from an objfreeze table linked into the program; "
            "everything else (source, resources, __file__) is the source file's.");
        int bad = mod == NULL || doc == NULL || PyDict_SetItemString(ns, "__module__", mod) < 0 ||
                  PyDict_SetItemString(ns, "__doc__", doc) < 0;
        Py_XDECREF(mod);
        Py_XDECREF(doc);
        if (bad) goto fail;
    }
    self->loader_class = PyObject_CallFunction((PyObject *)&PyType_Type, "s(O)O", "FrozenSourceLoader", base, ns);
    if (self->loader_class == NULL) goto fail;
    Py_DECREF(base);
    Py_DECREF(ns);
    Py_DECREF(hash);
    return 0;
fail:
    Py_XDECREF(base);
    Py_XDECREF(ns);
    Py_XDECREF(hash);
    Py_CLEAR(self->spec_from_file_location);
    Py_CLEAR(self->module_spec);
    return -1;
}

static int ofz_is_absolute(const char *p) {
    if (p[0] == '/') return 1;
#ifdef _WIN32
    if (p[0] == '\\' && p[1] == '\\') return 1;
    if (((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) && p[1] == ':' &&
        (p[2] == '\\' || p[2] == '/'))
        return 1;
#endif
    return 0;
}

static PyObject *ofz_finder_find_spec(PyObject *op, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"fullname", "path", "target", NULL};
    ofz_finder *self = (ofz_finder *)op;
    PyObject *fullname, *path = Py_None, *target = Py_None;
    PyObject *code, *filename = NULL, *loader = NULL, *pargs = NULL, *kwargs = NULL, *locs = NULL,
                    *spec = NULL;
    const objfreeze_table *t = NULL;
    const objfreeze_entry *e;
    const char *name, *fname;
    Py_ssize_t len;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|OO:find_spec", kwlist, &fullname, &path, &target)) return NULL;
    name = PyUnicode_AsUTF8AndSize(fullname, &len);
    /* Not UTF-8 (lone surrogates) or "string\0": no table holds it, though
       C would read "string". */
    if (name == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    if ((size_t)len != strlen(name)) Py_RETURN_NONE;
    e = ofz_lookup(name, &t);
    if (e == NULL) Py_RETURN_NONE;
    code = ofz_code(t, e);
    if (code == NULL) return NULL;
    if (!PyCode_Check(code)) {
        Py_DECREF(code);
        return PyErr_Format(PyExc_ImportError, "objfreeze: %s in the table is not a code object", name);
    }
    filename = PyObject_GetAttrString(code, "co_filename");
    fname = filename && PyUnicode_Check(filename) ? PyUnicode_AsUTF8(filename) : NULL;
    if (fname == NULL) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_ImportError, "objfreeze: %s has no co_filename", name);
        goto done;
    }
    if (ofz_finder_ready(self) < 0) goto done;
    if (!ofz_is_absolute(fname)) {
        /* No source path to point at (e.g. "<frozen app>"): a spec without
           location, as FrozenImporter gives: no __file__, and a package's
           submodules come from the tables only. */
        loader = PyObject_CallFunctionObjArgs(self->loader_class, fullname, filename, NULL);
        if (loader == NULL || PyObject_SetAttrString(loader, "_objfreeze_code", code) < 0) goto done;
        pargs = PyTuple_Pack(2, fullname, loader);
        kwargs = Py_BuildValue("{sO}", "is_package", objfreeze_entry_is_package(e) ? Py_True : Py_False);
        if (pargs != NULL && kwargs != NULL) spec = PyObject_Call(self->module_spec, pargs, kwargs);
        goto done;
    }
    loader = PyObject_CallFunctionObjArgs(self->loader_class, fullname, filename, NULL);
    if (loader == NULL || PyObject_SetAttrString(loader, "_objfreeze_code", code) < 0) goto done;
    /* An empty list makes spec_from_file_location put the source directory
       in __path__, so the package's submodules on disk are found too. */
    if (objfreeze_entry_is_package(e)) {
        locs = PyList_New(0);
    } else {
        Py_INCREF(Py_None);
        locs = Py_None;
    }
    pargs = PyTuple_Pack(2, fullname, filename);
    kwargs = Py_BuildValue("{sOsO}", "loader", loader, "submodule_search_locations", locs);
    if (locs == NULL || pargs == NULL || kwargs == NULL) goto done;
    spec = PyObject_Call(self->spec_from_file_location, pargs, kwargs);
done:
    Py_XDECREF(pargs);
    Py_XDECREF(kwargs);
    Py_XDECREF(locs);
    Py_XDECREF(loader);
    Py_XDECREF(filename);
    Py_DECREF(code);
    return spec;
}

static PyObject *ofz_finder_invalidate_caches(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    Py_RETURN_NONE;
}

static PyObject *ofz_finder_repr(PyObject *self) {
    size_t n = 0;
    (void)self;
    for (size_t k = 0; k < g_ntables; k++) {
        for (uint32_t i = 0; i < g_tables[k].table->count; i++)
            n += !ofz_skipped(&g_tables[k], objfreeze_entry_at(g_tables[k].table, i));
    }
    return PyUnicode_FromFormat("<objfreeze.TableFinder: %zu modules from %zu tables>", n, g_ntables);
}

static void ofz_finder_dealloc(PyObject *op) {
    ofz_finder *self = (ofz_finder *)op;
    Py_XDECREF(self->spec_from_file_location);
    Py_XDECREF(self->module_spec);
    Py_XDECREF(self->loader_class);
    Py_TYPE(op)->tp_free(op);
}

static PyObject *ofz_finder_find_distributions(PyObject *self, PyObject *args, PyObject *kw);

static PyMethodDef ofz_finder_methods[] = {
    {"find_spec", (PyCFunction)(void (*)(void))ofz_finder_find_spec, METH_VARARGS | METH_KEYWORDS,
     "A spec for a module of the linked objfreeze tables, with its source path as origin."},
    {"invalidate_caches", ofz_finder_invalidate_caches, METH_NOARGS, "Nothing to invalidate."},
    {"find_distributions", (PyCFunction)(void (*)(void))ofz_finder_find_distributions, METH_VARARGS | METH_KEYWORDS,
     "importlib.metadata distributions frozen in the linked tables (their *.dist-info as data entries)."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject ofz_finder_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "objfreeze.TableFinder",
    .tp_basicsize = sizeof(ofz_finder),
    .tp_dealloc = ofz_finder_dealloc,
    .tp_repr = ofz_finder_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Meta path finder for modules frozen in objfreeze tables.",
    .tp_methods = ofz_finder_methods,
};

/* ---- the startup hook ------------------------------------------------- */

/* Drop tables whose tag the running interpreter contradicts (only possible
   for versions ofz_expected_magic() does not know). */
static void ofz_check_running_magic(void) {
    long magic;
    size_t k = 0, kept = 0;
    g_magic_checked = 1;
    magic = PyImport_GetMagicNumber();
    if (magic == -1) {
        PyErr_Clear();
        return;
    }
    for (k = 0; k < g_ntables; k++) {
        if (ofz_check_table(g_tables[k].table, (unsigned long)magic) < 0) {
            fprintf(stderr, "%s\n", g_err);
            free(g_tables[k].skip);
            continue;
        }
        g_tables[kept++] = g_tables[k];
    }
    if (kept != g_ntables) {
        g_ntables = kept;
        for (k = 0; k < g_ntables; k++) ofz_compute_skips(k, g_flags);
        if (ofz_rebuild() < 0) {
            fprintf(stderr, "%s\n", g_err);
            PyImport_FrozenModules = g_orig;
            g_ntables = 0;
        }
    }
}

/* Put the finder on sys.meta_path just before FrozenImporter (which would
   otherwise load the same modules without __file__), once importlib's path
   machinery exists and before any table module is imported. */
static void ofz_install_finder(void) {
    PyObject *meta_path, *finder;
    Py_ssize_t i, n, at;
    meta_path = PySys_GetObject("meta_path");
    if (meta_path == NULL || !PyList_Check(meta_path)) return;
    n = PyList_GET_SIZE(meta_path);
    at = n;
    for (i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(meta_path, i), *nm;
        if (Py_TYPE(item) == &ofz_finder_type) return;
        nm = PyObject_GetAttrString(item, "__name__");
        if (nm == NULL) {
            PyErr_Clear();
            continue;
        }
        if (at == n && PyUnicode_Check(nm) && PyUnicode_CompareWithASCIIString(nm, "FrozenImporter") == 0) at = i;
        Py_DECREF(nm);
    }
    if (PyType_Ready(&ofz_finder_type) < 0) {
        PyErr_Clear();
        return;
    }
    /* As every finder class defined in Python has it (test_bdb filters
       sys.meta_path by the items' __module__). */
    if (PyDict_GetItemString(ofz_finder_type.tp_dict, "__module__") == NULL) {
        PyObject *mod = PyUnicode_FromString("objfreeze");
        if (mod == NULL || PyDict_SetItemString(ofz_finder_type.tp_dict, "__module__", mod) < 0) PyErr_Clear();
        Py_XDECREF(mod);
        PyType_Modified(&ofz_finder_type);
    }
    finder = PyType_GenericNew(&ofz_finder_type, NULL, NULL);
    if (finder == NULL || PyList_Insert(meta_path, at, finder) < 0) {
        PyErr_Clear();
    } else {
        /* The finder serves the tables from now on: the interpreter's own
           array again, so _imp.is_frozen() and FrozenImporter answer for
           table modules as they would for modules on disk (importlib's
           _setup() treats anything "frozen" as FrozenImporter's). */
        PyImport_FrozenModules = g_orig;
    }
    Py_XDECREF(finder);
}

static void ofz_startup(void) {
    PyObject *modules;
    if (g_ntables == 0 || PyErr_Occurred()) return;
    modules = PySys_GetObject("modules");
    if (modules == NULL || !PyDict_Check(modules) || PyDict_GetItemString(modules, "_frozen_importlib_external") == NULL)
        return;
    if (!g_magic_checked) ofz_check_running_magic();
    if (g_ntables == 0 || (g_flags & OBJFREEZE_CPYTHON_NO_FINDER)) return;
    ofz_install_finder();
}

/* The hook: the builtin `time` module's init. zipimport imports `time` at
   the end of importlib's external setup, in every interpreter (3.8-3.14),
   before `encodings`, the first stdlib module a table can provide. A wrapped
   inittab entry is public API and costs nothing after startup (an audit
   hook would see every audited event for the rest of the process). */
static PyObject *(*ofz_time_init)(void);

static PyObject *ofz_time_trampoline(void) {
    ofz_startup();
    return ofz_time_init();
}

static int ofz_hook_startup(void) {
    struct _inittab *p, *copy;
    size_t n = 0, i;
    if (ofz_time_init != NULL) return 0;
    for (p = PyImport_Inittab; p->name != NULL; p++) n++;
    for (i = 0; i < n; i++)
        if (strcmp(PyImport_Inittab[i].name, "time") == 0) break;
    if (i == n) return -1;
    /* A copy, as PyImport_ExtendInittab makes: the original may be const data. */
    copy = (struct _inittab *)calloc(n + 1, sizeof *copy);
    if (copy == NULL) return -1;
    memcpy(copy, PyImport_Inittab, n * sizeof *copy);
    ofz_time_init = copy[i].initfunc;
    copy[i].initfunc = ofz_time_trampoline;
    PyImport_Inittab = copy;
    return 0;
}

/* ---- the API ------------------------------------------------------------ */

const char *objfreeze_cpython_error(void) { return g_err; }

/* "3.11.7 (main, ...)" must start with this header's "3.11.". */
static int ofz_runtime_matches_headers(void) {
    char want[32];
    const char *v = Py_GetVersion();
    int len = snprintf(want, sizeof want, "%d.%d.", PY_MAJOR_VERSION, PY_MINOR_VERSION);
    if (strncmp(v, want, (size_t)len) == 0) return 1;
    snprintf(g_err, sizeof g_err,
             "objfreeze: objfreeze_cpython was compiled for Python %d.%d but runs in Python %.10s; "
             "compile it against this interpreter's headers (struct _frozen differs between versions)",
             PY_MAJOR_VERSION, PY_MINOR_VERSION, v);
    return 0;
}

int objfreeze_cpython_install(const objfreeze_table *const *tables, size_t n, unsigned flags) {
    unsigned long magic = ofz_expected_magic();
    size_t k, first = g_ntables;
    ofz_installed *grown;
    int r;
    g_err[0] = '\0';
    if (Py_IsInitialized()) {
        snprintf(g_err, sizeof g_err, "objfreeze: objfreeze_cpython_install must be called before Py_Initialize");
        return -1;
    }
    if (!ofz_runtime_matches_headers()) return -1;
    for (k = 0; k < n; k++)
        if (ofz_check_table(tables[k], magic) < 0) return -1;
    if (!g_have_orig) {
        g_orig = PyImport_FrozenModules;
        g_have_orig = 1;
    }
    grown = (ofz_installed *)realloc(g_tables, (g_ntables + n + 1) * sizeof *grown);
    if (grown == NULL) goto oom;
    g_tables = grown;
    for (k = 0; k < n; k++) {
        size_t j;
        for (j = 0; j < g_ntables; j++)
            if (g_tables[j].table == tables[k]) break;
        if (j < g_ntables) continue; /* already installed */
        g_tables[g_ntables].table = tables[k];
        g_tables[g_ntables].skip = (unsigned char *)calloc((tables[k]->count + 7) / 8 + 1, 1);
        if (g_tables[g_ntables].skip == NULL) goto oom;
        g_ntables++;
    }
    g_flags |= flags;
    for (k = 0; k < g_ntables; k++) ofz_compute_skips(k, g_flags);
    r = ofz_rebuild();
    if (r < 0) goto undo;
    /* Without a builtin `time` (an unusual build) there is no hook: modules
       still import, as plain frozen modules. */
    if (!(g_flags & OBJFREEZE_CPYTHON_NO_FINDER) || magic == 0) (void)ofz_hook_startup();
    return r;
oom:
    snprintf(g_err, sizeof g_err, "objfreeze: out of memory");
undo:
    while (g_ntables > first) free(g_tables[--g_ntables].skip);
    return -1;
}

int objfreeze_cpython_install_linked(unsigned flags) {
    const objfreeze_table *t = NULL, **list = NULL;
    size_t n = 0, cap = 0;
    int r;
    while ((t = objfreeze_linked_next(t)) != NULL) {
        if (n == cap) {
            const objfreeze_table **g;
            cap = cap ? cap * 2 : 8;
            g = (const objfreeze_table **)realloc((void *)list, cap * sizeof *g);
            if (g == NULL) {
                free((void *)list);
                snprintf(g_err, sizeof g_err, "objfreeze: out of memory");
                return -1;
            }
            list = g;
        }
        list[n++] = t;
    }
    r = objfreeze_cpython_install(list, n, flags);
    free((void *)list);
    return r;
}

int objfreeze_cpython_deep(const objfreeze_table *t, void *deep) {
    char what[256];
#ifdef OFZ_HAVE_DEEP
    const char *why;
    ofz_deep_blob *grown;
    size_t k;
#endif
    g_err[0] = '\0';
    if (t == NULL || deep == NULL || (!ofz_installed_table(t) && objfreeze_check(t) != 0)) {
        snprintf(g_err, sizeof g_err, "objfreeze: refusing the deep-frozen blob at %p: its table at %p is not sound",
                 deep, (const void *)t);
        return -1;
    }
    ofz_describe(t, what, sizeof what);
#ifdef OFZ_HAVE_DEEP
    if (Py_IsInitialized()) {
        snprintf(g_err, sizeof g_err, "objfreeze: objfreeze_cpython_deep must be called before Py_Initialize");
        return -1;
    }
    if (!ofz_runtime_matches_headers()) return -1;
    if (objfreeze_cpython__deep_code == NULL) {
        snprintf(g_err, sizeof g_err,
                 "objfreeze: refusing the deep-frozen blob of %s: the deep runtime is not linked (compile "
                 "cbindings/cpython/objfreeze_cpython_deep.c with -DPy_BUILD_CORE and link it)",
                 what);
        return -1;
    }
    why = objfreeze_deep_check((const objfreeze_deep *)deep, (uint32_t)PY_VERSION_HEX, t->digest);
    if (why == NULL && ((const objfreeze_deep *)deep)->python_hex != (uint32_t)Py_Version)
        why = "its _deep blob follows the layout of these headers' CPython, but libpython is another release";
    if (why != NULL) {
        snprintf(g_err, sizeof g_err, "objfreeze: refusing the deep-frozen blob of %s: %s", what, why);
        return -1;
    }
    for (k = 0; k < g_ndeep; k++)
        if (g_deep[k].table == t) break;
    if (k == g_ndeep) {
        grown = (ofz_deep_blob *)realloc(g_deep, (g_ndeep + 1) * sizeof *grown);
        if (grown == NULL) {
            snprintf(g_err, sizeof g_err, "objfreeze: out of memory");
            return -1;
        }
        g_deep = grown;
        g_ndeep++;
    }
    g_deep[k].table = t;
    g_deep[k].deep = (objfreeze_deep *)deep;
    snprintf(g_deep[k].who, sizeof g_deep[k].who, "%s", what);
    return 0;
#else
    snprintf(g_err, sizeof g_err,
             "objfreeze: refusing the deep-frozen blob of %s: deep freezing needs CPython 3.12-3.14 on an ELF or "
             "Mach-O platform, this is Python %d.%d",
             what, PY_MAJOR_VERSION, PY_MINOR_VERSION);
    return -1;
#endif
}

/* Deep-frozen blobs are laid in their own writable section (ELF
   `objfreeze_deep`, whose bounds GNU ld and lld define), each 16-aligned. */
#if defined(OFZ_HAVE_DEEP) && defined(__ELF__)
extern unsigned char __start_objfreeze_deep[] __attribute__((weak, visibility("hidden")));
extern unsigned char __stop_objfreeze_deep[] __attribute__((weak, visibility("hidden")));
#endif

int objfreeze_cpython_deep_linked(void) {
    int n = 0;
#if defined(OFZ_HAVE_DEEP) && defined(__ELF__)
    /* Through volatiles, as objfreeze.h reads its own section bounds. */
    unsigned char *volatile vstart = __start_objfreeze_deep, *volatile vstop = __stop_objfreeze_deep;
    unsigned char *p = vstart, *end = vstop;
    objfreeze_deep *d;
    int bad;
    g_err[0] = '\0';
    if (p != NULL && end > p && objfreeze_cpython__deep_prepare != NULL)
        objfreeze_cpython__deep_prepare(p, (size_t)(end - p));
    for (d = objfreeze_deep_next(p, end, &bad); d != NULL; d = objfreeze_deep_next(objfreeze_deep_after(d), end, &bad)) {
        /* Among the installed tables: they are checked already. */
        const objfreeze_table *t = NULL;
        size_t k;
        for (k = 0; k < g_ntables && t == NULL; k++)
            if (memcmp(g_tables[k].table->digest, d->table_digest, sizeof d->table_digest) == 0) t = g_tables[k].table;
        if (t == NULL) {
            snprintf(g_err, sizeof g_err,
                     "objfreeze: the deep-frozen blob at %p serves no linked table (link the table it was "
                     "written for)",
                     (void *)d);
            return -1;
        }
        if (objfreeze_cpython_deep(t, d) < 0) return -1;
        n++;
    }
    if (bad) {
        snprintf(g_err, sizeof g_err, "objfreeze: a deep-frozen blob in section objfreeze_deep runs out of it");
        return -1;
    }
#endif
    return n;
}

#ifdef OBJFREEZE_CPYTHON_AUTO
/* With OBJFREEZE_CPYTHON_HOME="/prefix" (the prefix the table's sources
   live under), the python does not probe for its stdlib: stock startup
   stats lib/python3.X/os.py (the prefix "landmark") in every directory
   above the executable, the last stdlib file it would still touch. The home
   is left to stock startup wherever it would not be the prefix: PYTHONHOME
   in the environment, a `._pth` file beside the executable (3.11+), or a
   `pyvenv.cfg` beside it or one directory up (a venv). glibc passes argv to
   constructors; elsewhere the home is never set. */
#if defined(OBJFREEZE_CPYTHON_HOME) && defined(__GLIBC__)
#include <unistd.h>
#define OFZ_SET_HOME 1

static int ofz_exists(const char *dir, size_t dirlen, const char *name) {
    char path[4096];
    if (dirlen + strlen(name) + 2 > sizeof path) return 1; /* unsure: leave it to stock */
    memcpy(path, dir, dirlen);
    path[dirlen] = '/';
    strcpy(path + dirlen + 1, name);
    return access(path, F_OK) == 0;
}

/* The executable as startup sees it (argv[0], looked up on PATH if it has
   no slash), unresolved: a symlink's directory is where `._pth` is read. */
static int ofz_find_exe(const char *argv0, char *out, size_t len) {
    const char *path = getenv("PATH"), *p, *end;
    if (argv0 == NULL || argv0[0] == '\0' || strlen(argv0) >= len) return -1;
    if (strchr(argv0, '/') != NULL) {
        strcpy(out, argv0);
        return 0;
    }
    for (p = path; p != NULL && *p != '\0'; p = *end ? end + 1 : end) {
        size_t n;
        end = strchr(p, ':');
        if (end == NULL) end = p + strlen(p);
        n = (size_t)(end - p);
        if (n == 0 || n + strlen(argv0) + 2 > len) continue;
        memcpy(out, p, n);
        out[n] = '/';
        strcpy(out + n + 1, argv0);
        if (access(out, X_OK) == 0) return 0;
    }
    return -1;
}

static void ofz_set_home(const char *argv0) {
    static wchar_t *home;
    char exe[4096];
    const char *slash, *up;
    size_t dirlen;
    if (getenv("PYTHONHOME") != NULL || home != NULL) return;
    if (ofz_find_exe(argv0, exe, sizeof exe) < 0) return;
    slash = strrchr(exe, '/');
    dirlen = (size_t)(slash - exe);
#if PY_VERSION_HEX >= 0x030B0000
    {
        char pth[4096 + 8];
        snprintf(pth, sizeof pth, "%s._pth", slash + 1);
        if (ofz_exists(exe, dirlen, pth)) return;
    }
#endif
    if (ofz_exists(exe, dirlen, "pyvenv.cfg")) return;
    for (up = slash; up > exe && up[-1] != '/';) up--;
    if (up > exe && ofz_exists(exe, (size_t)(up - 1 - exe), "pyvenv.cfg")) return;
    home = Py_DecodeLocale(OBJFREEZE_CPYTHON_HOME, NULL);
    if (home == NULL) return;
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    Py_SetPythonHome(home);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
}
#endif

/* Before main(): a python linked with tables imports from them with no
   change to its source. A table for another interpreter stops it here,
   before it could run a single frozen module. */
#if defined(OFZ_HAVE_DEEP) && defined(__ELF__) && !defined(OBJFREEZE_NO_LINKED)
/* With blobs linked, before the walk first touches the tables. */
static void ofz_tables_random(void) {
    unsigned char *volatile ds = __start_objfreeze_deep, *volatile de = __stop_objfreeze_deep;
    const unsigned char *volatile ts = OBJFREEZE__START, *volatile te = OBJFREEZE__STOP;
    if (objfreeze_cpython__deep_prepare_tables != NULL && ds != NULL && de > ds && ts != NULL && te > ts)
        objfreeze_cpython__deep_prepare_tables(ts, (size_t)(te - ts));
}
#else
static void ofz_tables_random(void) {}
#endif

/* The read-only segments before anything runs, as a fork's frozen.c does
   (objfreeze_prefetch.h); the tables' section left out. */
#if defined(__ELF__) && !defined(OBJFREEZE_NO_LINKED)
static void ofz_prefetch(void) {
    const unsigned char *volatile ts = OBJFREEZE__START, *volatile te = OBJFREEZE__STOP;
    objfreeze_prefetch(ts, te);
}
#else
static void ofz_prefetch(void) { objfreeze_prefetch(NULL, NULL); }
#endif

#ifdef OFZ_SET_HOME
__attribute__((constructor)) static void objfreeze_cpython_auto(int argc, char **argv, char **envp) {
#else
__attribute__((constructor)) static void objfreeze_cpython_auto(void) {
#endif
    int n;
    ofz_prefetch();
    ofz_tables_random();
    n = objfreeze_cpython_install_linked(0);
    if (n < 0 || objfreeze_cpython_deep_linked() < 0) {
        fprintf(stderr, "%s\n", objfreeze_cpython_error());
        exit(1);
    }
#ifdef OFZ_SET_HOME
    (void)envp;
    if (n > 0 && argc > 0) ofz_set_home(argv[0]);
#endif
}
#endif

/* ---- data entries: importlib.resources, pkgutil.get_data, metadata ------ */

/* A table built with `objfreeze build --site-packages` also holds data
   entries (objfreeze.h, flag bit 2): package data files and *.dist-info
   metadata, named by their path with a leading '/'. A module from a table
   that holds data entries takes its resources from the table: the loader's
   get_data() and get_resource_reader() and the finder's
   find_distributions() serve them, so importlib.resources, pkgutil.get_data
   and importlib.metadata work with the installed files deleted. Modules
   from tables without data (a --stdlib or --tree table) keep the stock
   methods, which read the source directory.

   The Traversable, the resource reader and the Distribution subclass are
   Python classes deriving from importlib's own ABCs, so they are written in
   Python (below) and compiled on the first request, into the module
   objfreeze._data in sys.modules; they call back into four C functions for
   the tables. A python whose tables hold no data never compiles them. */

/* Data entries are never modules: not in the struct _frozen array, not
   found by find_spec. */
static void ofz_skip_data(ofz_installed *in) {
    for (uint32_t i = 0; i < in->table->count; i++) {
        const objfreeze_entry *e = objfreeze_entry_at(in->table, i);
        if (objfreeze_entry_is_data(e)) ofz_set_skip(in, e);
    }
}

/* Does table t hold any data entry? They sort together from "/" on. */
static int ofz_table_has_data(const objfreeze_table *t) {
    for (uint32_t i = objfreeze_lower_bound(t, "/"); i < t->count; i++) {
        const objfreeze_entry *e = objfreeze_entry_at(t, i);
        if (objfreeze_entry_name(t, e)[0] != '/') break;
        if (objfreeze_entry_is_data(e)) return 1;
    }
    return 0;
}

static int ofz_any_data(void) {
    for (size_t k = 0; k < g_ntables; k++)
        if (ofz_table_has_data(g_tables[k].table)) return 1;
    return 0;
}

/* _get(name): the bytes of data entry `name` (the first table holding it), or None. */
static PyObject *ofz_py_get(PyObject *unused, PyObject *arg) {
    const char *name;
    (void)unused;
    if (!PyUnicode_Check(arg)) return PyErr_Format(PyExc_TypeError, "objfreeze: a data name is a str");
    if ((name = PyUnicode_AsUTF8(arg)) == NULL) return NULL;
    for (size_t k = 0; k < g_ntables; k++) {
        const objfreeze_table *t = g_tables[k].table;
        const objfreeze_entry *e = objfreeze_find(t, name);
        if (e != NULL && objfreeze_entry_is_data(e))
            return PyBytes_FromStringAndSize((const char *)objfreeze_entry_data(t, e), (Py_ssize_t)e->data_size);
    }
    Py_RETURN_NONE;
}

/* _names(prefix, kind): the names starting with `prefix` of every data entry
   (kind 0), or of every package in a table holding data (kind 1), sorted
   per table, each once. */
static PyObject *ofz_py_names(PyObject *unused, PyObject *args) {
    const char *prefix;
    int kind;
    size_t plen;
    PyObject *seen, *list;
    (void)unused;
    if (!PyArg_ParseTuple(args, "si:_names", &prefix, &kind)) return NULL;
    plen = strlen(prefix);
    if ((seen = PySet_New(NULL)) == NULL) return NULL;
    if ((list = PyList_New(0)) == NULL) goto fail;
    for (size_t k = 0; k < g_ntables; k++) {
        const objfreeze_table *t = g_tables[k].table;
        if (kind == 1 && !ofz_table_has_data(t)) continue;
        for (uint32_t i = objfreeze_lower_bound(t, prefix); i < t->count; i++) {
            const objfreeze_entry *e = objfreeze_entry_at(t, i);
            const char *n = objfreeze_entry_name(t, e);
            PyObject *s;
            int r;
            if (strncmp(n, prefix, plen) != 0) break;
            if (kind == 0 ? !objfreeze_entry_is_data(e) : !objfreeze_entry_is_package(e)) continue;
            if ((s = PyUnicode_FromStringAndSize(n, (Py_ssize_t)e->name_len)) == NULL) goto fail;
            r = PySet_Contains(seen, s);
            if (r == 0) r = PySet_Add(seen, s) < 0 || PyList_Append(list, s) < 0 ? -1 : 0;
            Py_DECREF(s);
            if (r < 0) goto fail;
        }
    }
    Py_DECREF(seen);
    return list;
fail:
    Py_DECREF(seen);
    Py_XDECREF(list);
    return NULL;
}

/* _owns(modname): is the module served from a table that holds data? */
static PyObject *ofz_py_owns(PyObject *unused, PyObject *arg) {
    const objfreeze_table *t = NULL;
    const char *name;
    (void)unused;
    if (!PyUnicode_Check(arg)) Py_RETURN_FALSE;
    if ((name = PyUnicode_AsUTF8(arg)) == NULL) return NULL;
    return PyBool_FromLong(ofz_lookup(name, &t) != NULL && ofz_table_has_data(t));
}

/* _is_package(modname): a package served from a table that holds data? */
static PyObject *ofz_py_is_package(PyObject *unused, PyObject *arg) {
    const objfreeze_table *t = NULL;
    const objfreeze_entry *e;
    const char *name;
    (void)unused;
    if (!PyUnicode_Check(arg)) Py_RETURN_FALSE;
    if ((name = PyUnicode_AsUTF8(arg)) == NULL) return NULL;
    e = ofz_lookup(name, &t);
    return PyBool_FromLong(e != NULL && objfreeze_entry_is_package(e) && ofz_table_has_data(t));
}

static PyMethodDef ofz_py_c_defs[] = {
    {"_get", ofz_py_get, METH_O, NULL},
    {"_names", ofz_py_names, METH_VARARGS, NULL},
    {"_owns", ofz_py_owns, METH_O, NULL},
    {"_is_package", ofz_py_is_package, METH_O, NULL},
    {NULL, NULL, 0, NULL}};

/* The Python half, as short literals (C99 promises only 4095-byte ones). */
static const char *const ofz_py_source[] = {
    "# Serves the data entries of objfreeze tables to importlib.resources,\n",
    "# pkgutil.get_data and importlib.metadata. Run once per interpreter, on the\n",
    "# first such request; _get, _names, _owns and _is_package are the C side.\n",
    "import io\n",
    "import os\n",
    "import sys\n",
    "\n",
    "\n",
    "def _pkg_dir(loader, fullname):\n",
    "    # The data name of the directory holding a module's files: its package's.\n",
    "    pkg = fullname if loader.is_package(fullname) else fullname.rpartition('.')[0]\n",
    "    return '/' + pkg.replace('.', '/') if pkg else ''\n",
    "\n",
    "\n",
    "def _traversable_base():\n",
    "    try:\n",
    "        from importlib.resources.abc import Traversable\n",
    "    except ImportError:\n",
    "        try:\n",
    "            from importlib.abc import Traversable\n",
    "        except ImportError:\n",
    "            return object\n",
    "    return Traversable\n",
    "\n",
    "\n",
    "class TableFile(_traversable_base()):\n",
    "    \"\"\"A file or directory of the data entries in the linked objfreeze tables.\"\"\"\n",
    "\n",
    "    def __init__(self, at):\n",
    "        self._at = at\n",
    "\n",
    "    def __repr__(self):\n",
    "        return 'objfreeze.TableFile(%r)' % (self._at or '/')\n",
    "\n",
    "    def __eq__(self, other):\n",
    "        return isinstance(other, TableFile) and other._at == self._at\n",
    "\n",
    "    def __hash__(self):\n",
    "        return hash(self._at)\n",
    "\n",
    "    @property\n",
    "    def name(self):\n",
    "        return self._at.rpartition('/')[2]\n",
    "\n",
    "    def _kids(self):\n",
    "        pre = self._at + '/'\n",
    "        kids = {}\n",
    "        for n in _names(pre, 0):\n",
    "            kids[n[len(pre):].partition('/')[0]] = None\n",
    "        # Subpackages are directories too, data or not.\n",
    "        mod = self._at[1:].replace('/', '.') + '.' if self._at else ''\n",
    "        for n in _names(mod, 1):\n",
    "            if '.' not in n[len(mod):]:\n",
    "                kids[n[len(mod):]] = None\n",
    "        return sorted(kids)\n",
    "\n",
    "    def _is_package_dir(self):\n",
    "        return self._at == '' or _is_package(self._at[1:].replace('/', '.'))\n",
    "\n",
    "    def is_file(self):\n",
    "        return _get(self._at) is not None\n",
    "\n",
    "    def is_dir(self):\n",
    "        return not self.is_file() and (self._is_package_dir() or bool(self._kids()))\n",
    "\n",
    "    def exists(self):\n",
    "        return self.is_file() or self.is_dir()\n",
    "\n",
    "    def iterdir(self):\n",
    "        if self.is_file():\n",
    "            raise NotADirectoryError(20, 'Not a directory', self._at)\n",
    "        kids = self._kids()\n",
    "        if not kids and not self._is_package_dir():\n",
    "            raise FileNotFoundError(2, 'No such file or directory in the objfreeze tables', self._at)\n",
    "        return iter([TableFile(self._at + '/' + k) for k in kids])\n",
    "\n",
    "    def joinpath(self, *descendants):\n",
    "        at = self._at\n",
    "        for d in descendants:\n",
    "            for part in os.fspath(d).replace('\\\\', '/').split('/'):\n",
    "                if part == '..':\n",
    "                    at = at.rpartition('/')[0]\n",
    "                elif part not in ('', '.'):\n",
    "                    at = at + '/' + part\n",
    "        return TableFile(at)\n",
    "\n",
    "    def __truediv__(self, child):\n",
    "        return self.joinpath(child)\n",
    "\n",
    "    def open(self, mode='r', *args, **kwargs):\n",
    "        data = _get(self._at)\n",
    "        if data is None:\n",
    "            if self.is_dir():\n",
    "                raise IsADirectoryError(21, 'Is a directory', self._at)\n",
    "            raise FileNotFoundError(2, 'No such file or directory in the objfreeze tables', self._at)\n",
    "        if mode in ('rb', 'br'):\n",
    "            return io.BytesIO(data)\n",
    "        if mode in ('r', 'rt', 'tr'):\n",
    "            return io.TextIOWrapper(io.BytesIO(data), *args, **kwargs)\n",
    "        raise ValueError('objfreeze data files open for reading only, not %r' % (mode,))\n",
    "\n",
    "    def read_bytes(self):\n",
    "        with self.open('rb') as f:\n",
    "            return f.read()\n",
    "\n",
    "    def read_text(self, encoding=None, errors=None):\n",
    "        with self.open('r', encoding=encoding, errors=errors) as f:\n",
    "            return f.read()\n",
    "\n",
    "\n",
    "class TableReader:\n",
    "    \"\"\"Resource reader of a package frozen with its data files.\"\"\"\n",
    "\n",
    "    def __init__(self, at):\n",
    "        self._root = TableFile(at)\n",
    "\n",
    "    def files(self):\n",
    "        return self._root\n",
    "\n",
    "    def open_resource(self, resource):\n",
    "        return self._root.joinpath(resource).open('rb')\n",
    "\n",
    "    def resource_path(self, resource):\n",
    "        # No file on disk: importlib.resources copies open_resource's bytes.\n",
    "        raise FileNotFoundError(2, 'objfreeze data files have no path', resource)\n",
    "\n",
    "    def is_resource(self, path):\n",
    "        return self._root.joinpath(path).is_file()\n",
    "\n",
    "    def contents(self):\n",
    "        return iter([k.name for k in self._root.iterdir()])\n",
    "\n",
    "\n",
    "for _c in (TableFile, TableReader):\n",
    "    _c.__module__ = 'objfreeze'\n",
    "\n",
    "\n",
    "def get_resource_reader(loader, base, fullname):\n",
    "    if _owns(loader.name):\n",
    "        return TableReader(_pkg_dir(loader, loader.name))\n",
    "    return base.get_resource_reader(loader, fullname)\n",
    "\n",
    "\n",
    "def get_data(loader, base, path):\n",
    "    if _owns(loader.name) and isinstance(path, str):\n",
    "        d = os.path.dirname(loader.path)\n",
    "        p = os.path.normpath(path)\n",
    "        if p.startswith(d + os.sep):\n",
    "            data = _get(_pkg_dir(loader, loader.name) + '/' + p[len(d) + 1:].replace(os.sep, '/'))\n",
    "            if data is not None:\n",
    "                return data\n",
    "    return base.get_data(loader, path)\n",
    "\n",
    "\n",
    "def _norm(name):\n",
    "    import re\n",
    "    return re.sub(r'[-_.]+', '_', name).lower()\n",
    "\n",
    "\n",
    "_infos = None\n",
    "_dist_class = None\n",
    "\n",
    "\n",
    "def _dist_infos():\n",
    "    global _infos\n",
    "    if _infos is None:\n",
    "        seen = {}\n",
    "        for n in _names('/', 0):\n",
    "            top = n[1:].partition('/')[0]\n",
    "            if top.endswith('.dist-info') or top.endswith('.egg-info'):\n",
    "                seen[top] = None\n",
    "        _infos = list(seen)\n",
    "    return _infos\n",
    "\n",
    "\n",
    "def _distribution_class():\n",
    "    global _dist_class\n",
    "    if _dist_class is None:\n",
    "        import importlib.metadata as md\n",
    "\n",
    "        class TableDistribution(md.Distribution):\n",
    "            \"\"\"A distribution whose metadata directory is frozen in a table.\"\"\"\n",
    "\n",
    "            def __init__(self, info):\n",
    "                self._info = info\n",
    "\n",
    "            def __repr__(self):\n",
    "                return '<objfreeze.TableDistribution %s>' % self._info\n",
    "\n",
    "            def read_text(self, filename):\n",
    "                data = _get('/' + self._info + '/' + os.fspath(filename))\n",
    "                return None if data is None else data.decode('utf-8')\n",
    "\n",
    "            def locate_file(self, path):\n",
    "                return TableFile('').joinpath(path)\n",
    "\n",
    "        TableDistribution.__module__ = 'objfreeze'\n",
    "        _dist_class = TableDistribution\n",
    "    return _dist_class\n",
    "\n",
    "\n",
    "def find_distributions(context=None):\n",
    "    import importlib.metadata as md\n",
    "    if context is None:\n",
    "        context = md.DistributionFinder.Context()\n",
    "    # Frozen distributions live on no directory: they answer the default\n",
    "    # search (sys.path), not a search of given directories.\n",
    "    if context.path is not sys.path:\n",
    "        return iter(())\n",
    "    want = None if context.name is None else _norm(context.name)\n",
    "    cls = _distribution_class()\n",
    "    return iter([cls(i) for i in _dist_infos()\n",
    "                 if want is None or _norm(i.rpartition('.')[0].partition('-')[0]) == want])\n",
};

/* objfreeze._data of this interpreter: from sys.modules, else compiled now. */
static PyObject *ofz_helper(void) {
    PyObject *modules = PySys_GetObject("modules"), *m, *d, *code = NULL, *r = NULL;
    size_t len = 1, at = 0, n = sizeof ofz_py_source / sizeof ofz_py_source[0];
    char *src;
    if (modules == NULL || !PyDict_Check(modules))
        return PyErr_Format(PyExc_RuntimeError, "objfreeze: no sys.modules");
    if ((m = PyDict_GetItemString(modules, "objfreeze._data")) != NULL) {
        Py_INCREF(m);
        return m;
    }
    for (size_t i = 0; i < n; i++) len += strlen(ofz_py_source[i]);
    if ((src = (char *)malloc(len)) == NULL) return PyErr_NoMemory();
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ofz_py_source[i]);
        memcpy(src + at, ofz_py_source[i], l);
        at += l;
    }
    src[at] = '\0';
    if ((m = PyModule_New("objfreeze._data")) == NULL) goto done;
    d = PyModule_GetDict(m);
    if (PyDict_SetItemString(d, "__builtins__", PyEval_GetBuiltins()) < 0) goto fail;
    for (PyMethodDef *def = ofz_py_c_defs; def->ml_name != NULL; def++) {
        PyObject *fn = PyCFunction_New(def, NULL);
        int bad = fn == NULL || PyDict_SetItemString(d, def->ml_name, fn) < 0;
        Py_XDECREF(fn);
        if (bad) goto fail;
    }
    if ((code = Py_CompileString(src, "<objfreeze data>", Py_file_input)) == NULL) goto fail;
    if ((r = PyEval_EvalCode(code, d, d)) == NULL) goto fail;
    if (PyDict_SetItemString(modules, "objfreeze._data", m) < 0) goto fail;
    goto done;
fail:
    Py_CLEAR(m);
done:
    Py_XDECREF(code);
    Py_XDECREF(r);
    free(src);
    return m;
}

/* Call objfreeze._data.<fn>(self, <the stock loader class>, arg), or just
   the stock method when no table holds data. */
static PyObject *ofz_loader_delegate(const char *fn, PyObject *args) {
    PyObject *self, *arg, *base, *helper, *r;
    if (!PyArg_ParseTuple(args, "OO", &self, &arg)) return NULL;
    if ((base = PyObject_GetAttrString(self, "_objfreeze_stock")) == NULL) return NULL;
    if (!ofz_any_data()) {
        r = PyObject_CallMethod(base, fn, "OO", self, arg);
    } else if ((helper = ofz_helper()) == NULL) {
        r = NULL;
    } else {
        r = PyObject_CallMethod(helper, fn, "OOO", self, base, arg);
        Py_DECREF(helper);
    }
    Py_DECREF(base);
    return r;
}

static PyObject *ofz_loader_get_data(PyObject *unused, PyObject *args) {
    (void)unused;
    return ofz_loader_delegate("get_data", args);
}

static PyObject *ofz_loader_get_resource_reader(PyObject *unused, PyObject *args) {
    (void)unused;
    return ofz_loader_delegate("get_resource_reader", args);
}

static PyMethodDef ofz_get_data_def = {
    "get_data", ofz_loader_get_data, METH_VARARGS,
    "A file in the module's directory: from the table's data entries if the module's table holds data, else read."};
static PyMethodDef ofz_get_resource_reader_def = {
    "get_resource_reader", ofz_loader_get_resource_reader, METH_VARARGS,
    "A reader over the table's data entries if the module's table holds data, else the stock reader."};

static int ofz_add_data_methods(PyObject *ns, PyObject *base) {
    /* The stock class the fallbacks call, recorded rather than taken from
       type(self).__base__, which a subclass of the loader would change. */
    if (PyDict_SetItemString(ns, "_objfreeze_stock", base) < 0) return -1;
    if (ofz_add_method(ns, &ofz_get_data_def) < 0) return -1;
    return ofz_add_method(ns, &ofz_get_resource_reader_def);
}

/* find_distributions(context=None): the frozen *.dist-info directories, for
   importlib.metadata. The finder sits before PathFinder on sys.meta_path,
   so a frozen distribution is found before one of the same name on disk. */
static PyObject *ofz_finder_find_distributions(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"context", NULL};
    PyObject *context = Py_None, *helper, *r;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:find_distributions", kwlist, &context)) return NULL;
    if (!ofz_any_data()) {
        PyObject *empty = PyTuple_New(0);
        r = empty ? PyObject_GetIter(empty) : NULL;
        Py_XDECREF(empty);
        return r;
    }
    if ((helper = ofz_helper()) == NULL) return NULL;
    r = PyObject_CallMethod(helper, "find_distributions", "O", context);
    Py_DECREF(helper);
    return r;
}
