/* objfreeze_deep_rt.h - the runtime of deep-frozen blobs (objfreeze_deep.h).
 *
 * A blob's module becomes usable at its first import: its pointer slots are
 * turned from offsets into addresses, then its fixups run (intern strings,
 * build frozensets and slices, give code objects a version; the tool wrote
 * their bytecode quickened, src/cpython/deep/quicken.rs). Included by two users, each compiled with Py_BUILD_CORE against the
 * CPython (3.12, 3.13 or 3.14) whose layout the blob follows:
 *   - a fork's frozen.c (-DOBJFREEZE_DEEP), for its own frozen sections;
 *   - objfreeze_cpython_deep.c, for a stock CPython linked statically.
 *
 * The includer defines OBJFREEZE_DEEP_FAIL(who, fmt, a, b): report a damaged
 * blob (fmt takes two unsigned longs) and not return.
 *
 * Only the main interpreter uses the static objects (a subinterpreter's
 * objects must not end up in code shared by all), and only until the
 * runtime finalizes: the strings the fixups interned die with it. Otherwise,
 * and on re-entry while a module's fixups run, objfreeze_deep_code returns
 * NULL with no exception set and the caller unmarshals.
 *
 * MIT License. See LICENSE.
 */
#ifndef OBJFREEZE_DEEP_RT_H
#define OBJFREEZE_DEEP_RT_H

#if PY_VERSION_HEX < 0x030C0000 || PY_VERSION_HEX >= 0x030F0000
#error "deep-frozen code objects are written for CPython 3.12, 3.13 and 3.14"
#endif
#ifndef OBJFREEZE_DEEP_FAIL
#error "define OBJFREEZE_DEEP_FAIL(who, fmt, a, b) before including objfreeze_deep_rt.h"
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pycore_code.h"
#include "pycore_interp.h"
#include "pycore_pystate.h"
#include "pycore_runtime.h"
#include "objfreeze_deep.h"
#include "objfreeze_prefetch.h"

/* 3.13+ interns for good in one call. 3.12's public call puts a static
   string in the runtime's table of static strings without looking in the
   interpreter's dict of interned strings, so an equal string interned there
   earlier (by a C module, say) is looked up first: `is` must hold between
   the two, as it does after unmarshal (test_decimal checks it). */
#if PY_VERSION_HEX >= 0x030D0000
#include "pycore_unicodeobject.h"
#define OBJFREEZE_DEEP__INTERN(interp, pp) _PyUnicode_InternImmortal((interp), (pp))
#else
#include "pycore_hashtable.h"
static void objfreeze_deep__intern(PyInterpreterState *interp, PyObject **pp)
{
    /* The runtime's table first, where PyUnicode_InternInPlace looks
       first too: CPython's own strings and those earlier modules
       interned. A hit there skips the dict and the call. */
    PyObject *interned, *t = (PyObject *)_Py_hashtable_get(_PyRuntime.cached_objects.interned_strings, *pp);
    if (t != NULL) {
        *pp = t;
        return;
    }
    interned = _Py_INTERP_CACHED_OBJECT(interp, interned_strings);
    if (interned != NULL && (t = PyDict_GetItemWithError(interned, *pp)) != NULL) {
        *pp = t;
        return;
    }
    PyErr_Clear();
    PyUnicode_InternInPlace(pp);
}
#define OBJFREEZE_DEEP__INTERN(interp, pp) objfreeze_deep__intern((interp), (pp))
#endif

/* The advice objfreeze__advise (objfreeze_prefetch.h) is given; 0 where
   there is no madvise (it does nothing then). */
#ifdef OBJFREEZE__MADVISE
#define OBJFREEZE_DEEP__RANDOM MADV_RANDOM
#define OBJFREEZE_DEEP__WILLNEED MADV_WILLNEED
#ifdef MADV_POPULATE_WRITE /* Linux 5.14; older kernels refuse it, harmlessly */
#define OBJFREEZE_DEEP__POPULATE_WRITE MADV_POPULATE_WRITE
#endif
#else
#define OBJFREEZE_DEEP__RANDOM 0
#define OBJFREEZE_DEEP__WILLNEED 0
#endif

/* Before the blobs in [start, start + len) are first read: their pages are
   read on demand only. A fault in a file mapping otherwise reads the file
   around it, as much as the device's read-ahead allows (8 MB on some
   virtual disks), most of it modules that never run; each module asks for
   its own range at its first import instead (bench/deep.sh: a cold
   `-c pass` read 36 MB of the executable without, 29 MB with). */
static void objfreeze_deep_prepare(void *start, size_t len)
{
    unsigned char *end = (unsigned char *)start + len;
    objfreeze_deep *d;
    int bad;
    objfreeze__advise(start, len, OBJFREEZE_DEEP__RANDOM, 1);
    /* What every start reads of each blob, its header and module records
       and the modules laid out first: one request per blob rather than a
       fault per page. */
    for (d = objfreeze_deep_next((unsigned char *)start, end, &bad); d != NULL;
         d = objfreeze_deep_next(objfreeze_deep_after(d), end, &bad)) {
        size_t n = (size_t)d->modules + (size_t)d->nmodules * sizeof(objfreeze_deep_module);
        if (d->first_end > n && d->first_end <= d->total_size) n = d->first_end;
        objfreeze__advise(d, n, OBJFREEZE_DEEP__WILLNEED, 0);
    }
}

/* Before the tables in [start, start + len) are first read, when blobs serve
   their code: import then reads only their headers, indexes and names, so
   no read-around there (one fault on a header would otherwise read
   megabytes of bytecode around it on a cold start). */
static void objfreeze_deep_prepare_tables(const void *start, size_t len)
{
    objfreeze__advise(start, len, OBJFREEZE_DEEP__RANDOM, 1);
}

/* What each blob's string numbers interned to (NULL: not yet), so that a
   string many modules hold is interned once: half the strings an
   import-heavy start interns are ones an earlier module interned. */
#define OBJFREEZE_DEEP__BLOBS 8
static struct {
    const objfreeze_deep *blob;
    PyObject **strings;
} objfreeze_deep__interned[OBJFREEZE_DEEP__BLOBS];

/* Blob d's table of interned strings; NULL if there is no room for one
   (each module then interns its own, as before it). */
static PyObject **objfreeze_deep__strings(const objfreeze_deep *d)
{
    int i;
    for (i = 0; i < OBJFREEZE_DEEP__BLOBS; i++) {
        if (objfreeze_deep__interned[i].blob == d) return objfreeze_deep__interned[i].strings;
        if (objfreeze_deep__interned[i].blob == NULL) {
            PyObject **t = (PyObject **)PyMem_RawCalloc(d->nstrings ? d->nstrings : 1, sizeof *t);
            if (t == NULL) return NULL;
            objfreeze_deep__interned[i].blob = d;
            objfreeze_deep__interned[i].strings = t;
            return t;
        }
    }
    return NULL;
}

/* Set at finalization (Py_AtExit): later Py_Initialize calls unmarshal.
   The strings interned die with the runtime, and their tables with them. */
static int objfreeze_deep__finalized;
static int objfreeze_deep__atexit;

static void objfreeze_deep__at_exit(void)
{
    int i;
    objfreeze_deep__finalized = 1;
    for (i = 0; i < OBJFREEZE_DEEP__BLOBS && objfreeze_deep__interned[i].blob != NULL; i++) {
        PyMem_RawFree(objfreeze_deep__interned[i].strings);
        objfreeze_deep__interned[i].strings = NULL;
    }
}

/* What extern pointer slots point into, in objfreeze_deep_extern order. */
#define OBJFREEZE_DEEP__EXTERN_ADDR(sym) (char *)&sym,
static char *const objfreeze_deep__externs[OBJFREEZE_DEEP_EXTERNS] = {
    OBJFREEZE_DEEP_EXTERN_LIST(OBJFREEZE_DEEP__EXTERN_ADDR)};
#undef OBJFREEZE_DEEP__EXTERN_ADDR

/* The number of trailing zero bits of x (not 0). */
static inline unsigned objfreeze_deep__ctz(uint32_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return (unsigned)__builtin_ctz(x);
#else
    unsigned n = 0;
    while (!(x & 1)) {
        x >>= 1;
        n++;
    }
    return n;
#endif
}

/* Make the pointer slots one list of relocation words marks addresses
   (objfreeze_deep.h): blob offsets if `ext` is 0, externs otherwise. */
static void objfreeze_deep__relocate_list(const char *who, objfreeze_deep *d, const uint32_t *w, uint32_t n,
                                          int ext)
{
    /* Locals, not the records: CPython builds with -fno-strict-aliasing,
       so each slot written would otherwise reload them. */
    char *const base = (char *)d;
    const uint32_t size = d->total_size;
    /* 64-bit positions: a damaged list cannot wrap them around. */
    const uint64_t last = (uint64_t)size - sizeof(uintptr_t);
    uint64_t at, next = 0;
    uint32_t i;
    if (n != 0 && size < sizeof(uintptr_t))
        OBJFREEZE_DEEP_FAIL(who, "its _deep blob of %lu bytes has pointer slots", (unsigned long)size, 0ul);
    for (i = 0; i < n; i++) {
        uint32_t bits = w[i];
        at = bits;
        if (bits & 1) {
            at = next;
            bits >>= 1;
            next += 31 * sizeof(uintptr_t);
        } else {
            if (at % sizeof(uintptr_t) != 0)
                OBJFREEZE_DEEP_FAIL(who, "its _deep blob's relocation word %lu is not a pointer slot",
                                    (unsigned long)i, 0ul);
            bits = 1;
            next = at + sizeof(uintptr_t);
        }
        for (; bits != 0; bits &= bits - 1) {
            const uint64_t here = at + (uint64_t)objfreeze_deep__ctz(bits) * sizeof(uintptr_t);
            uintptr_t *slot, v;
            if (here > last)
                OBJFREEZE_DEEP_FAIL(who, "its _deep blob's relocation word %lu marks a slot out of it",
                                    (unsigned long)i, 0ul);
            slot = (uintptr_t *)(base + here);
            v = *slot;
            if (ext) {
                if (v >> 24 >= OBJFREEZE_DEEP_EXTERNS)
                    OBJFREEZE_DEEP_FAIL(who, "its _deep blob's pointer slot at %lu names extern %lu",
                                        (unsigned long)here, (unsigned long)(v >> 24));
                *slot = (uintptr_t)(objfreeze_deep__externs[v >> 24] + (v & 0xffffffu));
            } else {
                if (v >= size)
                    OBJFREEZE_DEEP_FAIL(who, "its _deep blob's pointer slot at %lu points out of it",
                                        (unsigned long)here, 0ul);
                *slot = (uintptr_t)(base + v);
            }
        }
    }
}

/* Make module m's pointer slots addresses (once: they are offsets until). */
static void objfreeze_deep__relocate(const char *who, objfreeze_deep *d, const objfreeze_deep_module *m)
{
    const uint32_t *r = objfreeze_deep_relocs(d, m);
    uint32_t own;
    if (m->nrelocs == 0) return;
    own = r[0];
    if (own > m->nrelocs - 1)
        OBJFREEZE_DEEP_FAIL(who, "its _deep blob lists %lu relocation words of %lu", (unsigned long)own,
                            (unsigned long)m->nrelocs);
    objfreeze_deep__relocate_list(who, d, r + 1, own, 0);
    objfreeze_deep__relocate_list(who, d, r + 1 + own, m->nrelocs - 1 - own, 1);
}

/* The module and what it imports (its subtree) in one read: see
   objfreeze_deep_prepare. Subtrees nest (order.rs lays them out depth
   first), so one asked for with an importer's is not asked for again: on a
   warm cache each request still walks every page of its range. */
static void objfreeze_deep__read_subtree(objfreeze_deep *d, const objfreeze_deep_module *m)
{
    static const char *lo[32], *hi[32];
    static int n;
    const char *a = (char *)d + m->start, *b = (char *)d + m->reach;
    int i;
    for (i = 0; i < n; i++)
        if (lo[i] <= a && b <= hi[i]) return;
    objfreeze__advise(a, (size_t)(b - a), OBJFREEZE_DEEP__WILLNEED, 0);
    if (n < 32) {
        lo[n] = a;
        hi[n] = b;
        n++;
    }
}

/* Code watchers (PyCode_AddWatcher) hear of a static code object when it
   becomes usable, as of any other at its creation. */
static void objfreeze_deep__created(PyInterpreterState *interp, PyCodeObject *co)
{
    uint8_t bits = interp->active_code_watchers;
    int i;
    for (i = 0; bits != 0; i++, bits >>= 1) {
        PyCode_WatchCallback cb = interp->code_watchers[i];
        if ((bits & 1) && cb != NULL && cb(PY_CODE_EVENT_CREATE, co) < 0) PyErr_WriteUnraisable((PyObject *)co);
    }
}

/* Run module m's fixups; -1 with an exception set if one failed. */
static int objfreeze_deep__fix(const char *who, objfreeze_deep *d, const objfreeze_deep_module *m,
                               PyInterpreterState *interp)
{
    char *const base = (char *)d;
    const objfreeze_deep_fixup *const f0 = objfreeze_deep_fixups(d, m);
    const objfreeze_deep_fixup *f = f0;
    PyObject **const strings = objfreeze_deep__strings(d);
    const uint32_t n = m->nfixups, size = d->total_size, nstrings = d->nstrings;
    uint32_t i;
    for (i = 0; i < n; i++, f++) {
        uint32_t kind = f->target & OBJFREEZE_DEEP_KIND_MASK;
        uint32_t target = f->target & ~OBJFREEZE_DEEP_KIND_MASK;
        PyObject **slot = (PyObject **)(base + f->slot);
        PyObject *obj = (PyObject *)(base + target);
        if (f->slot % sizeof(PyObject *) != 0 || f->slot > size - sizeof(PyObject *) ||
            (kind == OBJFREEZE_DEEP_INTERN ? target >> 4 >= nstrings
                                           : kind != OBJFREEZE_DEEP_COPY && target >= size))
            OBJFREEZE_DEEP_FAIL(who, "its _deep blob's fixup %lu is out of bounds", (unsigned long)i, 0);
        switch (kind) {
        case OBJFREEZE_DEEP_INTERN:
            /* Already interned strings replace ours, as unmarshal's would;
               the slot holds our static string (relocated). */
            if (strings != NULL && strings[target >> 4] != NULL) {
                *slot = strings[target >> 4];
                break;
            }
            obj = *slot;
            OBJFREEZE_DEEP__INTERN(interp, &obj);
            if (strings != NULL) strings[target >> 4] = obj;
            *slot = obj;
            break;
        case OBJFREEZE_DEEP_FROZENSET:
            obj = PyFrozenSet_New(obj);
            if (obj == NULL) return -1;
            *slot = obj;
            break;
        case OBJFREEZE_DEEP_SLICE:
            obj = PySlice_New(PyTuple_GET_ITEM(obj, 0), PyTuple_GET_ITEM(obj, 1), PyTuple_GET_ITEM(obj, 2));
            if (obj == NULL) return -1;
            *slot = obj;
            break;
        case OBJFREEZE_DEEP_CODE: {
            /* What init_code does that depends on the running interpreter
               (its _PyCode_Quicken the tool did when writing the blob). */
            PyCodeObject *co = (PyCodeObject *)obj;
            co->co_version = interp->func_state.next_version;
            if (interp->func_state.next_version != 0) interp->func_state.next_version++;
            if (interp->active_code_watchers) objfreeze_deep__created(interp, co);
            break;
        }
        case OBJFREEZE_DEEP_COPY: {
            /* An earlier fixup of this module: it has run. */
            uint32_t from = f->target >> 4;
            if (from >= i)
                OBJFREEZE_DEEP_FAIL(who, "its _deep blob's fixup %lu copies from fixup %lu, not an earlier one",
                                    (unsigned long)i, (unsigned long)from);
            *slot = *(PyObject **)(base + f0[from].slot);
            break;
        }
        default:
            OBJFREEZE_DEEP_FAIL(who, "its _deep blob's fixup %lu has unknown kind %lu", (unsigned long)i,
                                (unsigned long)kind);
        }
    }
    return 0;
}

/* The static code object of the module whose marshal data is at
   `data_offset` in the table blob `d` serves, as a new reference; NULL
   without an exception if there is none to use, NULL with one if a fixup
   failed. `who` names the table in messages. */
static PyObject *objfreeze_deep_code(const char *who, objfreeze_deep *d, uint32_t data_offset)
{
    PyInterpreterState *interp;
    objfreeze_deep_module *m;
    if (objfreeze_deep__finalized) return NULL;
    interp = _PyInterpreterState_GET();
    if (!_Py_IsMainInterpreter(interp)) return NULL;
    m = objfreeze_deep_find(d, data_offset);
    if (m == NULL) return NULL;
    if (m->state & OBJFREEZE_DEEP_READY) return Py_NewRef((PyObject *)((char *)d + m->code));
    if (m->state & OBJFREEZE_DEEP_BUSY) return NULL; /* re-entered while fixing up: unmarshal */
    if (!objfreeze_deep__atexit) {
        if (Py_AtExit(objfreeze_deep__at_exit) != 0) return NULL;
        objfreeze_deep__atexit = 1;
    }
    if (!(m->state & OBJFREEZE_DEEP_RELOCATED)) {
        objfreeze_deep__read_subtree(d, m);
#ifdef OBJFREEZE_DEEP__POPULATE_WRITE
        /* Relocation writes nearly every page of the module's objects: one
           call makes them private copies instead of a write fault each. */
        if (m->start < m->fixups && m->fixups <= d->total_size)
            objfreeze__advise((char *)d + m->start, (size_t)m->fixups - m->start, OBJFREEZE_DEEP__POPULATE_WRITE, 0);
#endif
        objfreeze_deep__relocate(who, d, m);
        m->state = OBJFREEZE_DEEP_RELOCATED;
    }
    m->state |= OBJFREEZE_DEEP_BUSY;
    if (objfreeze_deep__fix(who, d, m, interp) != 0) {
        /* Fixups start from the static objects again, so a retry is safe. */
        m->state = OBJFREEZE_DEEP_RELOCATED;
        return NULL;
    }
    m->state = OBJFREEZE_DEEP_RELOCATED | OBJFREEZE_DEEP_READY;
    return Py_NewRef((PyObject *)((char *)d + m->code));
}

#endif /* OBJFREEZE_DEEP_RT_H */
