/* frozen.c - a drop-in for CPython's Python/frozen.c (3.11-3.14) that takes
 * the frozen modules from objfreeze tables instead of C arrays.
 *
 * It defines what Python/import.c reads: _PyImport_FrozenBootstrap,
 * _PyImport_FrozenStdlib, _PyImport_FrozenTest, _PyImport_FrozenAliases and
 * PyImport_FrozenModules. The sections come from three tables linked beside
 * it (symbols overridable with -D):
 *
 *   OBJFREEZE_BOOTSTRAP_TABLE  objfreeze_cpython_bootstrap  _frozen_importlib,
 *                              _frozen_importlib_external, zipimport
 *   OBJFREEZE_STDLIB_TABLE     objfreeze_cpython_stdlib     what -X frozen_modules=on adds
 *   OBJFREEZE_TEST_TABLE       objfreeze_cpython_test       __hello__, __phello__, ...
 *
 * Aliases come from the tables' origin records (`objfreeze build --alias`):
 * an entry whose origin is a module frozen as a package gets CPython's
 * "<pkg" spelling (code from that package's __init__), one whose origin is a
 * file path (holds '/' or '\\') gets NULL (frozen only: no stdlib source),
 * any other keeps its origin name.
 *
 * Nothing is copied: names and marshal data stay in the tables' read-only
 * section; only the small struct _frozen arrays are built, once, by a
 * constructor that runs before main (and so before Py_Initialize). Each
 * section is one table, so it is sorted by name, which lets the lookups in
 * objfreeze_fork.h binary-search it.
 *
 * With -DOBJFREEZE_DEEPFREEZE (3.11 and 3.12 only), entries of the bootstrap
 * and stdlib tables whose source CPython also deep-freezes get that static
 * code object as get_code, as stock frozen.c does: startup then costs what
 * it costs stock CPython instead of unmarshalling them. Only valid when
 * Python/deepfreeze/deepfreeze.o was generated from the same sources as the
 * tables (one source tree: CPython's Makefile regenerates both); make/
 * cpython.mk turns it on whenever the Makefile has DEEPFREEZE_OBJS.
 *
 * With -DOBJFREEZE_DEEP (3.13, 3.14), the bootstrap and stdlib tables each come
 * with a deep-frozen blob (`objfreeze cpython-deep`, symbol TABLE_deep;
 * see objfreeze_deep.h): their modules as static code objects. Import asks
 * _PyObjfreeze_ReadFrozen() instead of unmarshalling (make/cpython.mk
 * compiles Python/import.c with that one call swapped in), which returns
 * the static code object after running the module's fixups once: interning
 * its strings, building its frozensets and slices, giving its code objects
 * a version (their bytecode was written quickened). Only the main interpreter uses them (a
 * subinterpreter's objects must not end up in static code shared by all),
 * and only until the runtime finalizes (interned strings die then); after
 * that, and for any module without a record, the marshal data is used.
 *
 * Before any frozen module runs, every table is checked (objfreeze_check) and
 * its interpreter tag compared with this CPython's bytecode magic; a damaged
 * table or one written for another Python version stops the program with a
 * message naming it.
 *
 * Compile it as Python/frozen.c is compiled (the core CFLAGS, which give
 * -IInclude/internal and Py_BUILD_CORE), plus -I for objfreeze.h and
 * objfreeze_fork.h.
 *
 * MIT License. See LICENSE.
 */
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#include "Python.h"
#include "pycore_import.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OBJFREEZE_NO_LINKED
#include "objfreeze.h"
#include "objfreeze_fork.h"

#ifdef OBJFREEZE_DEEP
#if PY_VERSION_HEX < 0x030D0000 || PY_VERSION_HEX >= 0x030F0000
#error "a fork's deep-frozen sections are for CPython 3.13 and 3.14 (3.12: objfreeze_cpython_deep.c)"
#endif
#include "marshal.h"
#include "objfreeze_deep.h"
#endif

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030F0000
#error "objfreeze's drop-in frozen.c is for CPython 3.11 to 3.14"
#endif

#ifndef OBJFREEZE_BOOTSTRAP_TABLE
#define OBJFREEZE_BOOTSTRAP_TABLE objfreeze_cpython_bootstrap
#endif
#ifndef OBJFREEZE_STDLIB_TABLE
#define OBJFREEZE_STDLIB_TABLE objfreeze_cpython_stdlib
#endif
#ifndef OBJFREEZE_TEST_TABLE
#define OBJFREEZE_TEST_TABLE objfreeze_cpython_test
#endif

/* The bytecode magic (the number in importlib's MAGIC_NUMBER) the tables must
   carry. A fork that changes bytecode passes its own with -D; the default is
   the release value of each version. */
#ifndef OBJFREEZE_CPYTHON_MAGIC
#if PY_MINOR_VERSION == 11
#define OBJFREEZE_CPYTHON_MAGIC 3495
#elif PY_MINOR_VERSION == 12
#define OBJFREEZE_CPYTHON_MAGIC 3531
#elif PY_MINOR_VERSION == 13
#define OBJFREEZE_CPYTHON_MAGIC 3571
#else
#define OBJFREEZE_CPYTHON_MAGIC 3627
#endif
#endif

OBJFREEZE_DECLARE_TABLE(OBJFREEZE_BOOTSTRAP_TABLE);
OBJFREEZE_DECLARE_TABLE(OBJFREEZE_STDLIB_TABLE);
OBJFREEZE_DECLARE_TABLE(OBJFREEZE_TEST_TABLE);

#ifdef OBJFREEZE_DEEP
#define OBJFREEZE__CAT2(a, b) a##b
#define OBJFREEZE__CAT(a, b) OBJFREEZE__CAT2(a, b)
extern objfreeze_deep OBJFREEZE__CAT(OBJFREEZE_BOOTSTRAP_TABLE, _deep);
extern objfreeze_deep OBJFREEZE__CAT(OBJFREEZE_STDLIB_TABLE, _deep);
#endif

#define OBJFREEZE__STR2(x) #x
#define OBJFREEZE__STR(x) OBJFREEZE__STR2(x)

enum { SECTIONS = 3 };

#ifdef OBJFREEZE_DEEP
#define OBJFREEZE__DEEP_OF(t) &OBJFREEZE__CAT(t, _deep)
#else
#define OBJFREEZE__DEEP_OF(t) NULL
#endif

static const struct {
    const objfreeze_table *table;
    const char *symbol;
    void *deep; /* objfreeze_deep *, or NULL */
} sections[SECTIONS] = {
    {&OBJFREEZE_BOOTSTRAP_TABLE, OBJFREEZE__STR(OBJFREEZE_BOOTSTRAP_TABLE), OBJFREEZE__DEEP_OF(OBJFREEZE_BOOTSTRAP_TABLE)},
    {&OBJFREEZE_STDLIB_TABLE, OBJFREEZE__STR(OBJFREEZE_STDLIB_TABLE), OBJFREEZE__DEEP_OF(OBJFREEZE_STDLIB_TABLE)},
    {&OBJFREEZE_TEST_TABLE, OBJFREEZE__STR(OBJFREEZE_TEST_TABLE), NULL},
};

#if defined(OBJFREEZE_DEEPFREEZE) && PY_VERSION_HEX < 0x030D0000
/* What Python/deepfreeze/deepfreeze.c defines for the modules stock
   CPython deep-freezes into its bootstrap and stdlib sections, by source. */
typedef PyObject *(*get_code_fn)(void);
#define OBJFREEZE__DEEP(id) extern PyObject *_Py_get_##id##_toplevel(void);
OBJFREEZE__DEEP(importlib__bootstrap)
OBJFREEZE__DEEP(importlib__bootstrap_external)
OBJFREEZE__DEEP(zipimport)
OBJFREEZE__DEEP(abc)
OBJFREEZE__DEEP(codecs)
OBJFREEZE__DEEP(io)
OBJFREEZE__DEEP(_collections_abc)
OBJFREEZE__DEEP(_sitebuiltins)
OBJFREEZE__DEEP(genericpath)
OBJFREEZE__DEEP(ntpath)
OBJFREEZE__DEEP(posixpath)
OBJFREEZE__DEEP(os)
OBJFREEZE__DEEP(site)
OBJFREEZE__DEEP(stat)
OBJFREEZE__DEEP(importlib_util)
OBJFREEZE__DEEP(importlib_machinery)
OBJFREEZE__DEEP(runpy)

static const struct {
    const char *source;
    get_code_fn get_code;
} deepfrozen[] = {
    {"importlib._bootstrap", _Py_get_importlib__bootstrap_toplevel},
    {"importlib._bootstrap_external", _Py_get_importlib__bootstrap_external_toplevel},
    {"zipimport", _Py_get_zipimport_toplevel},
    {"abc", _Py_get_abc_toplevel},
    {"codecs", _Py_get_codecs_toplevel},
    {"io", _Py_get_io_toplevel},
    {"_collections_abc", _Py_get__collections_abc_toplevel},
    {"_sitebuiltins", _Py_get__sitebuiltins_toplevel},
    {"genericpath", _Py_get_genericpath_toplevel},
    {"ntpath", _Py_get_ntpath_toplevel},
    {"posixpath", _Py_get_posixpath_toplevel},
    {"os", _Py_get_os_toplevel},
    {"site", _Py_get_site_toplevel},
    {"stat", _Py_get_stat_toplevel},
    {"importlib.util", _Py_get_importlib_util_toplevel},
    {"importlib.machinery", _Py_get_importlib_machinery_toplevel},
    {"runpy", _Py_get_runpy_toplevel},
};

/* The deep-frozen code of an entry compiled from `source`, or NULL. */
static get_code_fn deepfrozen_code(const char *source)
{
    size_t i;
    for (i = 0; i < sizeof deepfrozen / sizeof deepfrozen[0]; i++)
        if (strcmp(deepfrozen[i].source, source) == 0) return deepfrozen[i].get_code;
    return NULL;
}
#endif

/* Until the constructor runs the sections are empty, never dangling. */
static const struct _frozen no_modules[1];
static const struct _module_alias no_aliases[1];

const struct _frozen *_PyImport_FrozenBootstrap = no_modules;
const struct _frozen *_PyImport_FrozenStdlib = no_modules;
const struct _frozen *_PyImport_FrozenTest = no_modules;
const struct _module_alias *_PyImport_FrozenAliases = no_aliases;

/* Embedding applications may point this at their own modules; import.c
   consults it after the bootstrap section and before the stdlib one. */
const struct _frozen *PyImport_FrozenModules = NULL;

/* Each section's array and length (without the sentinel), for the lookups. */
static const struct _frozen *section_base[SECTIONS];
static size_t section_len[SECTIONS];
static const struct _module_alias *alias_base;
static size_t alias_len;

static void fail(const char *symbol, const char *why, unsigned long a, unsigned long b)
{
    fprintf(stderr, "objfreeze frozen.c: table %s: ", symbol);
    fprintf(stderr, why, a, b);
    fputc('\n', stderr);
    exit(1);
}

/* 1 if the origin is frozen as a package in any section. */
static int origin_is_package(const char *origin)
{
    int s;
    for (s = 0; s < SECTIONS; s++) {
        const objfreeze_entry *e = objfreeze_find(sections[s].table, origin);
        if (e != NULL && objfreeze_entry_is_package(e)) return 1;
    }
    return 0;
}

/* CPython's spelling of an origin record; `buf` receives "<pkg" forms. */
static const char *cpython_origin(const char *origin, char **buf)
{
    size_t n;
    if (origin[0] == '<') return origin;
    if (strchr(origin, '/') != NULL || strchr(origin, '\\') != NULL) return NULL;
    if (!origin_is_package(origin)) return origin;
    n = strlen(origin);
    (*buf)[0] = '<';
    memcpy(*buf + 1, origin, n + 1);
    origin = *buf;
    *buf += n + 2;
    return origin;
}

static int alias_cmp(const void *a, const void *b)
{
    const struct _module_alias *x = (const struct _module_alias *)a;
    const struct _module_alias *y = (const struct _module_alias *)b;
    int c = strcmp(x->name, y->name);
    /* Equal names (one module in two sections): keep section order, as
       CPython's linear scan would find the first. */
    if (c == 0) return x < y ? -1 : (x > y ? 1 : 0);
    return c;
}

#ifdef __ELF__
/* The tables' section (objfreeze), bounded by GNU ld and lld. */
extern char __start_objfreeze[] __attribute__((weak, visibility("hidden")));
extern char __stop_objfreeze[] __attribute__((weak, visibility("hidden")));
#endif

#ifdef OBJFREEZE_DEEP
#define OBJFREEZE_DEEP_FAIL(who, fmt, a, b) fail((who), (fmt), (a), (b))
#include "objfreeze_deep_rt.h"
#ifdef __ELF__
/* The blobs' section (objfreeze_deep). */
extern char __start_objfreeze_deep[] __attribute__((weak, visibility("hidden")));
extern char __stop_objfreeze_deep[] __attribute__((weak, visibility("hidden")));
#endif
#endif

/* The read-only segments before anything runs: objfreeze_prefetch.h. */
#include "objfreeze_prefetch.h"

static void objfreeze_fork_init(void)
{
    size_t modules = 0, aliases = 0, origin_bytes = 0;
    struct _frozen *mods;
    struct _module_alias *al, *al_start;
    char *strings;
    int s;
    uint32_t i;
#ifdef __ELF__
    /* The tables' section. Through volatiles: the compiler must not reason
       about the two symbols as the separate arrays they are declared as. */
    char *volatile tstart = __start_objfreeze, *volatile tstop = __stop_objfreeze;
#else
    char *tstart = NULL, *tstop = NULL;
#endif

    objfreeze_prefetch(tstart, tstop);
#if defined(OBJFREEZE_DEEP) && defined(__ELF__)
    /* Before the first read of a blob. */
    {
        char *volatile start = __start_objfreeze_deep, *volatile stop = __stop_objfreeze_deep;
        if (start != NULL && stop > start) objfreeze_deep_prepare(start, (size_t)(stop - start));
        /* Each table's header, index and names in one request. */
        if (tstart != NULL && tstop > tstart) {
            objfreeze_deep_prepare_tables(tstart, (size_t)(tstop - tstart));
            for (s = 0; s < SECTIONS; s++)
                if (sections[s].deep != NULL)
                    objfreeze__advise(sections[s].table, sections[s].table->data_offset, OBJFREEZE_DEEP__WILLNEED, 0);
        }
    }
#endif
    for (s = 0; s < SECTIONS; s++) {
        const objfreeze_table *t = sections[s].table;
        if (objfreeze_check(t) != 0)
            fail(sections[s].symbol, "not a sound objfreeze table (damaged, or written by another format version)", 0, 0);
        if (t->tag_kind != OBJFREEZE_TAG_CPYTHON || (t->tag & 0xffffu) != OBJFREEZE_CPYTHON_MAGIC)
            fail(sections[s].symbol,
                 "holds bytecode with magic %lu, but this is CPython " PY_VERSION
                 " (magic %lu): rebuild the tables with this version's interpreter",
                 (unsigned long)(t->tag_kind == OBJFREEZE_TAG_CPYTHON ? (t->tag & 0xffffu) : 0),
                 (unsigned long)OBJFREEZE_CPYTHON_MAGIC);
#ifdef OBJFREEZE_DEEP
        if (sections[s].deep != NULL) {
            const char *why = objfreeze_deep_check((const objfreeze_deep *)sections[s].deep,
                                                   (uint32_t)PY_VERSION_HEX, t->digest);
            if (why != NULL) fail(sections[s].symbol, why, 0, 0);
        }
#endif
        for (i = 0; i < objfreeze_count(t); i++) {
            const objfreeze_entry *e = objfreeze_entry_at(t, i);
            if (objfreeze_entry_size(e) > (uint32_t)INT_MAX)
                fail(sections[s].symbol, "module %lu is too large for struct _frozen", (unsigned long)i, 0);
            if (objfreeze_entry_is_alias(e)) {
                aliases++;
                origin_bytes += e->origin_len + 2;
            }
        }
        modules += objfreeze_count(t) + 1;
    }

    mods = (struct _frozen *)calloc(modules, sizeof *mods);
    al = (struct _module_alias *)calloc(aliases + 1, sizeof *al);
    strings = (char *)malloc(origin_bytes + 1);
    if (mods == NULL || al == NULL || strings == NULL)
        fail(sections[0].symbol, "out of memory for %lu modules", (unsigned long)modules, 0);

    al_start = al;
    for (s = 0; s < SECTIONS; s++) {
        const objfreeze_table *t = sections[s].table;
        section_base[s] = mods;
        for (i = 0; i < objfreeze_count(t); i++) {
            const objfreeze_entry *e = objfreeze_entry_at(t, i);
            /* Data files (--site-packages tables) are no modules. */
            if (objfreeze_entry_is_data(e)) continue;
            /* calloc left get_code (3.11, 3.12) NULL: the code is unmarshalled. */
            mods->name = objfreeze_entry_name(t, e);
            mods->code = objfreeze_entry_data(t, e);
            mods->size = (int)objfreeze_entry_size(e);
            mods->is_package = objfreeze_entry_is_package(e);
#if defined(OBJFREEZE_DEEPFREEZE) && PY_VERSION_HEX < 0x030D0000
            if (s < 2) {
                const char *source = objfreeze_entry_origin(t, e);
                mods->get_code = deepfrozen_code(source != NULL ? source : mods->name);
            }
#endif
            mods++;
            if (objfreeze_entry_is_alias(e)) {
                al->name = objfreeze_entry_name(t, e);
                al->orig = cpython_origin(objfreeze_entry_origin(t, e), &strings);
                al++;
            }
        }
        section_len[s] = (size_t)(mods - section_base[s]);
        mods++; /* the zeroed sentinel */
    }
    qsort(al_start, aliases, sizeof *al_start, alias_cmp);
    alias_base = al_start;
    alias_len = aliases;

    _PyImport_FrozenBootstrap = section_base[0];
    _PyImport_FrozenStdlib = section_base[1];
    _PyImport_FrozenTest = section_base[2];
    _PyImport_FrozenAliases = alias_base;
}

/* Run before main: import.c reads the section pointers directly, and the
   first import happens inside Py_Initialize. */
#if defined(_MSC_VER) && !defined(__clang__)
#pragma section(".CRT$XCU", read)
__declspec(allocate(".CRT$XCU")) void (*objfreeze_fork_init_ptr)(void) = objfreeze_fork_init;
#else
__attribute__((constructor)) static void objfreeze_fork_ctor(void) { objfreeze_fork_init(); }
#endif

const struct _frozen *_PyImport_FrozenSectionFind(const struct _frozen *section, const char *name)
{
    int s;
    for (s = 0; s < SECTIONS; s++) {
        if (section == section_base[s] && section != NULL) {
            size_t lo = 0, hi = section_len[s];
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(section[mid].name, name);
                if (c == 0) return &section[mid];
                if (c < 0) lo = mid + 1;
                else hi = mid;
            }
            return NULL;
        }
    }
    for (; section != NULL && section->name != NULL; section++)
        if (strcmp(section->name, name) == 0) return section;
    return NULL;
}

int _PyImport_FrozenAliasFind(const char *name, const char **orig)
{
    size_t lo = 0, hi = alias_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(alias_base[mid].name, name);
        if (c == 0) {
            /* The first of equal names, as a linear scan would find. */
            while (mid > 0 && strcmp(alias_base[mid - 1].name, name) == 0) mid--;
            if (orig != NULL) *orig = alias_base[mid].orig;
            return 1;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

#ifdef OBJFREEZE_DEEP
/* The static code object for the module whose marshal data is `data`, as a
   new reference; NULL without an exception if there is none to use. */
static PyObject *deep_code(const char *data)
{
    int s;
    for (s = 0; s < SECTIONS; s++) {
        const objfreeze_table *t = sections[s].table;
        const char *start = (const char *)t;
        if (sections[s].deep == NULL || data < start || data >= start + t->total_size) continue;
        return objfreeze_deep_code(sections[s].symbol, (objfreeze_deep *)sections[s].deep,
                                   (uint32_t)(data - start));
    }
    return NULL;
}

int _PyObjfreeze_FrozenEmpty(const unsigned char *code, int size)
{
    int s;
    if (size == 0) return 1;
    /* objfreeze wrote every module of a table with a blob from a code
       object, and its blob was checked against that table at startup. */
    for (s = 0; s < SECTIONS; s++) {
        const char *start = (const char *)sections[s].table;
        if (sections[s].deep != NULL && (const char *)code >= start &&
            (const char *)code < start + sections[s].table->total_size)
            return 0;
    }
    return code[0] == '\0';
}

PyObject *_PyObjfreeze_ReadFrozen(const char *data, ptrdiff_t size)
{
    PyObject *co = deep_code(data);
    if (co != NULL || PyErr_Occurred()) return co;
    return PyMarshal_ReadObjectFromString(data, size);
}
#endif
