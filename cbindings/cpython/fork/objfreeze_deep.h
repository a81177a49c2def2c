/* objfreeze_deep.h - the deep-frozen blob `objfreeze cpython-deep` writes.
 *
 * A blob serves one table: the table's modules as static CPython objects
 * (code, str, bytes, tuple, int, float, complex), laid out for one CPython
 * build, in a writable data section under the table's symbol + "_deep".
 * Every offset below is from the blob's first byte; every integer is a
 * uint32_t in the target's byte order, but pointer slots.
 *
 * The object holding a blob has no relocations: until its module's first
 * import, a pointer slot holds an offset in the blob, or, for an extern,
 * (index << 24 | offset) into objfreeze_deep_externs' index-th object. The
 * module lists its slots; the runtime makes them addresses, then runs the
 * module's fixups. Pages of modules never imported are never written.
 *
 *   header (76 bytes; the module records follow, 8-aligned)
 *      0  magic          "OFZDEEP\n"
 *      8  version        6
 *     12  python_hex     PY_VERSION_HEX of the build whose layout it follows
 *     16  nmodules       module records, sorted by data_offset
 *     20  nfixups        fixup records, all modules
 *     24  nrelocs        pointer slots, all modules
 *     28  modules        offset of the module records
 *     32  total_size     length of the blob
 *     36  first_end      end of the modules laid out first (--first), read
 *                        with the header at startup; 0 if none
 *     40  nstrings       distinct strings the fixups intern, all modules
 *     44  table_digest   the served table's digest (objfreeze_table.digest)
 *   module record (36 bytes): a module's objects, fixup records and
 *   relocation words lie together: its first import reads one region
 *      0  data_offset    the module's marshal data in the table: the key
 *      4  code           offset of its code object
 *      8  fixups         offset of its fixup records (8-aligned)
 *     12  nfixups        how many, run in order at first import
 *     16  relocs         offset of its relocation words
 *     20  nrelocs        how many words
 *     24  state          0 at rest; written at run time (OBJFREEZE_DEEP_*)
 *     28  start          offset of its first byte: objects, fixups and
 *                        relocation words run to relocs + 4 * nrelocs
 *     32  reach          end of its subtree: the modules it imports, laid
 *                        out after it depth first, read with it at its
 *                        first import; at least relocs + 4 * nrelocs
 *   relocation words (4 bytes each): the module's pointer slots, packed
 *   as ELF's RELR packs relative relocations. First the number of words
 *   listing slots that hold blob offsets, then those words, then the words
 *   listing slots that hold externs. In a list, an even word is a slot's
 *   offset (the next slot is one pointer after it); an odd word is a
 *   bitmap: bit i (1-31) marks the slot i - 1 pointers past the next, and
 *   the next slot moves 31 pointers on. A module without slots has none.
 *   fixup record (8 bytes)
 *      0  slot           offset of a PyObject * that receives the result
 *      4  target | kind  offset of a static object (16-aligned) | kind:
 *                        1 intern the str the slot points at (target: its
 *                        number in the blob, below nstrings, << 4: what a
 *                        number interned to serves every later module),
 *                        2 frozenset of the tuple,
 *                        3 slice of the 3-tuple, 4 finish the code object
 *                        (its bytecode is written quickened);
 *                        or an earlier fixup's index in the module << 4 | 5:
 *                        copy what it stored (a str repeated in the module)
 *
 * src/cpython/deep/format.rs writes it; a test compiles this header and
 * compares. No dependencies beyond <stdint.h> and <string.h>; the runtime is
 * objfreeze_deep_rt.h.
 *
 * MIT License. See LICENSE.
 */
#ifndef OBJFREEZE_DEEP_H
#define OBJFREEZE_DEEP_H

#include <stdint.h>
#include <string.h>

#define OBJFREEZE_DEEP_MAGIC "OFZDEEP\n"
#define OBJFREEZE_DEEP_VERSION 6u

enum objfreeze_deep_kind {
    OBJFREEZE_DEEP_INTERN = 1,
    OBJFREEZE_DEEP_FROZENSET = 2,
    OBJFREEZE_DEEP_SLICE = 3,
    OBJFREEZE_DEEP_CODE = 4,
    OBJFREEZE_DEEP_COPY = 5
};
#define OBJFREEZE_DEEP_KIND_MASK 15u

/* Module record states. */
#define OBJFREEZE_DEEP_RELOCATED 1u /* pointers are addresses */
#define OBJFREEZE_DEEP_BUSY 2u      /* fixups running */
#define OBJFREEZE_DEEP_READY 4u     /* fixups done: the code is usable */

/* What extern pointer slots point into, by index: X(symbol) each. */
#define OBJFREEZE_DEEP_EXTERN_LIST(X)                                         \
    X(PyUnicode_Type) X(PyBytes_Type) X(PyTuple_Type) X(PyLong_Type)          \
    X(PyFloat_Type) X(PyComplex_Type) X(PyCode_Type) X(_Py_NoneStruct)        \
    X(_Py_TrueStruct) X(_Py_FalseStruct) X(_Py_EllipsisObject) X(_PyRuntime)
#define OBJFREEZE_DEEP__EXTERN_ENUM(sym) OBJFREEZE_DEEP_EXTERN_##sym,
enum objfreeze_deep_extern { OBJFREEZE_DEEP_EXTERN_LIST(OBJFREEZE_DEEP__EXTERN_ENUM) OBJFREEZE_DEEP_EXTERNS };
#undef OBJFREEZE_DEEP__EXTERN_ENUM
typedef struct objfreeze_deep_module {
    uint32_t data_offset;
    uint32_t code;
    uint32_t fixups;
    uint32_t nfixups;
    uint32_t relocs;
    uint32_t nrelocs;
    uint32_t state;
    uint32_t start;
    uint32_t reach;
} objfreeze_deep_module;

typedef struct objfreeze_deep_fixup {
    uint32_t slot;
    uint32_t target;
} objfreeze_deep_fixup;

typedef struct objfreeze_deep {
    char magic[8];
    uint32_t version;
    uint32_t python_hex;
    uint32_t nmodules;
    uint32_t nfixups;
    uint32_t nrelocs;
    uint32_t modules;
    uint32_t total_size;
    uint32_t first_end;
    uint32_t nstrings;
    unsigned char table_digest[32];
} objfreeze_deep;

static inline objfreeze_deep_module *objfreeze_deep_modules(objfreeze_deep *d)
{
    return (objfreeze_deep_module *)((char *)d + d->modules);
}

static inline const objfreeze_deep_fixup *objfreeze_deep_fixups(const objfreeze_deep *d,
                                                                const objfreeze_deep_module *m)
{
    return (const objfreeze_deep_fixup *)((const char *)d + m->fixups);
}

static inline const uint32_t *objfreeze_deep_relocs(const objfreeze_deep *d, const objfreeze_deep_module *m)
{
    return (const uint32_t *)((const char *)d + m->relocs);
}

/* The record of the module whose marshal data is at `data_offset` in the
   table, or NULL (binary search). */
static inline objfreeze_deep_module *objfreeze_deep_find(objfreeze_deep *d, uint32_t data_offset)
{
    objfreeze_deep_module *m = objfreeze_deep_modules(d);
    uint32_t lo = 0, hi = d->nmodules;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (m[mid].data_offset == data_offset) return &m[mid];
        if (m[mid].data_offset < data_offset) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* The first blob at or after `p` in a section [p, end) of blobs laid out
   16-aligned, zero padding between them; 0 if there is none, and then *bad
   is 1 if a blob there claims more bytes than the section holds. */
static inline objfreeze_deep *objfreeze_deep_next(unsigned char *p, unsigned char *end, int *bad)
{
    *bad = 0;
    for (; p != 0 && p < end && (size_t)(end - p) >= sizeof(objfreeze_deep); p += 16) {
        objfreeze_deep *d = (objfreeze_deep *)(void *)p;
        if (memcmp(d->magic, OBJFREEZE_DEEP_MAGIC, 8) != 0) continue;
        if (d->total_size < sizeof *d || d->total_size > (size_t)(end - p)) {
            *bad = 1;
            return 0;
        }
        return d;
    }
    return 0;
}

/* Where to look for the blob after `d`. */
static inline unsigned char *objfreeze_deep_after(objfreeze_deep *d)
{
    return (unsigned char *)d + (((size_t)d->total_size + 15) & ~(size_t)15);
}

/* Why blob `d` cannot serve the table whose digest is `digest` in the
   CPython whose PY_VERSION_HEX is `python_hex`, or 0 if it can. Fixups are
   checked at each module's first import instead: checking them all would
   cost every start. */
static inline const char *objfreeze_deep_check(const objfreeze_deep *d, uint32_t python_hex,
                                               const unsigned char digest[32])
{
    const objfreeze_deep_module *m;
    uint32_t i;
    if (memcmp(d->magic, OBJFREEZE_DEEP_MAGIC, 8) != 0 || d->version != OBJFREEZE_DEEP_VERSION)
        return "its _deep blob is damaged or of another format version";
    if (d->python_hex != python_hex)
        return "its _deep blob follows the object layout of another CPython version (PY_VERSION_HEX differs)";
    if (memcmp(d->table_digest, digest, sizeof d->table_digest) != 0)
        return "its _deep blob was written for another table (digest differs): rebuild it";
    if (d->modules % 8 != 0 || d->modules < sizeof *d || d->first_end > d->total_size ||
        (uint64_t)d->modules + (uint64_t)d->nmodules * sizeof *m > d->total_size)
        return "its _deep blob's records run out of it";
    m = (const objfreeze_deep_module *)((const char *)d + d->modules);
    for (i = 0; i < d->nmodules; i++) {
        if ((i > 0 && m[i].data_offset <= m[i - 1].data_offset) || m[i].code % 16 != 0 ||
            m[i].code >= d->total_size || m[i].fixups % 8 != 0 || m[i].relocs % 4 != 0 ||
            (uint64_t)m[i].fixups + (uint64_t)m[i].nfixups * sizeof(objfreeze_deep_fixup) > d->total_size ||
            (uint64_t)m[i].relocs + (uint64_t)m[i].nrelocs * 4 > d->total_size || m[i].state != 0 ||
            m[i].start > m[i].code || m[i].start > m[i].fixups || m[i].start > m[i].relocs ||
            m[i].reach > d->total_size || (uint64_t)m[i].reach < (uint64_t)m[i].relocs + (uint64_t)m[i].nrelocs * 4)
            return "its _deep blob has a damaged module record";
    }
    return 0;
}

#endif /* OBJFREEZE_DEEP_H */
