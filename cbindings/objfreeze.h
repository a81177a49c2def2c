/* objfreeze.h - read objfreeze tables from C and C++.            (format v1)
 *
 * objfreeze writes interpreter bytecode into a read-only section of an
 * object file, behind a sorted index reached through one global symbol. This
 * single header reads it: check a table, look a module up by binary search,
 * walk every table the linker collected. C99, no dependencies beyond
 * <stddef.h>, <stdint.h> and <string.h>; every function is `static inline`, so
 * just include it: no translation unit has to own a definition.
 *
 *     #include "objfreeze.h"
 *     OBJFREEZE_DECLARE_TABLE(objfreeze_modules);  // the --symbol name (default)
 *     const objfreeze_entry *e = objfreeze_find(&objfreeze_modules, "json");
 *     if (e) use(objfreeze_entry_data(&objfreeze_modules, e), objfreeze_entry_size(e));
 *
 * ---------------------------------------------------------------------------
 * THE FORMAT
 *
 * A table is one contiguous blob, 16-byte aligned, whose length (total_size)
 * is a multiple of 16. Every reference inside it is a byte offset from the
 * table's first byte, so the object holding it has no relocations and its
 * pages stay clean and shared. Every integer is a uint32_t in the byte order
 * of the target the object was written for, so C reads them natively.
 *
 *   offset  size  header field    meaning
 *   ------  ----  -------------   -------------------------------------------
 *        0     8  magic           "OBJFREEZ"
 *        8     4  version         1
 *       12     4  header_size     96
 *       16     4  entry_size      32
 *       20     4  count           number of index entries
 *       24     4  index_offset    offset of the index (96)
 *       28     4  names_offset    offset of the names region
 *       32     4  names_size      its length in bytes
 *       36     4  data_offset     offset of the data region (16-aligned)
 *       40     4  data_size       its length in bytes
 *       44     4  total_size      length of the whole table (16-aligned)
 *       48     4  tag_kind        0 none, 1 CPython, 2 Lua
 *       52     4  tag             CPython: the .pyc magic, its 4 bytes read
 *                                 little-endian (= PyImport_GetMagicNumber());
 *                                 Lua: the luac version byte; else 0
 *       56     4  flags           0 (no header flags are defined in v1)
 *       60     4  reserved        0
 *       64    32  digest          BLAKE3 of bytes [header_size, total_size)
 *
 *   The index: `count` entries of 32 bytes, sorted by name in strict
 *   ascending byte order (memcmp/strcmp order), so lookups binary-search.
 *
 *   offset  size  entry field     meaning
 *   ------  ----  -------------   -------------------------------------------
 *        0     4  name_offset     offset of the name (in the names region)
 *        4     4  name_len        its length, without the NUL that follows
 *        8     4  data_offset     offset of the bytecode (16-aligned)
 *       12     4  data_size       its length (for CPython: marshal data of a
 *                                 code object, no .pyc header)
 *       16     4  flags           bit 0: package; bit 1: alias; bit 2: data
 *       20     4  origin_offset   alias only: offset of the origin module's
 *       24     4  origin_len      name (the module whose source it came from)
 *       28     4  reserved        0
 *
 *   Names are NUL-terminated and hold no NUL inside, so a name is usable as
 *   a `const char *` directly. Identical blobs may be shared by entries.
 *
 *   A data entry (flag bit 2) is a file, not a module: package data or
 *   distribution metadata, its bytes as they were on disk. Its name is its
 *   path below the import root, `/`-separated, with a leading `/`
 *   ("/certifi/cacert.pem", "/attrs-23.2.0.dist-info/METADATA"). No module
 *   name starts with `/`, and `/` sorts before letters, digits and `_`: data
 *   entries form one block before the modules, a directory's files one run
 *   within it, and objfreeze_find finds them like modules. A data entry is
 *   never a package or an alias. (Readers from before bit 2 was defined
 *   refuse such tables rather than misread them: unknown bits fail the check.)
 *
 * The table symbol is hidden by default (objfreeze build --visibility
 * hidden): ELF STV_HIDDEN, Mach-O private extern. Any object of the same
 * link can declare and use it, but a shared library does not export it, so
 * two libraries with a table under the same symbol each read their own (an
 * exported symbol would interpose: both would read the first library's).
 * COFF exports nothing without dllexport. --visibility default exports it.
 *
 * Tables are placed, by default, in a section the linker collects from every
 * object: ELF `objfreeze` (GNU ld and lld define __start_/__stop_ symbols
 * for it), Mach-O `__TEXT,__objfreeze` (section$start$/section$end$), COFF
 * `.objfrz$m` (grouped after `.objfrz$a` and before `.objfrz$z`). Tables in
 * that section may be separated by zero padding.
 *
 * ---------------------------------------------------------------------------
 * WHAT objfreeze_check GUARANTEES
 *
 * objfreeze_check_size(t, avail) reads at most `avail` bytes from t (none
 * if avail < 96 or t is NULL or not 4-byte aligned) and returns 0 only if:
 *   - magic, version, header_size and entry_size are right, header flags 0;
 *   - 96 <= total_size <= avail, and total_size is a multiple of 16;
 *   - the index (4-aligned, at or after the header), the names region and
 *     the data region lie inside [0, total_size), in that order, apart;
 *   - every entry's name, and for an alias its origin, lies inside the names
 *     region, is non-empty, holds no NUL, and the byte after it is NUL;
 *   - every entry's [data_offset, +data_size) lies inside the data region;
 *   - no entry flag other than package, alias and data is set, and a data
 *     entry's name starts with '/' and it is neither package nor alias;
 *   - names are strictly ascending in strcmp order (so also unique).
 * A caller may then assume, for that table: objfreeze_entry_at(t, i) for
 * i < count, objfreeze_entry_name/_origin (NUL-terminated C strings of
 * name_len/origin_len bytes), objfreeze_entry_data (data_size readable
 * bytes) and objfreeze_find (a correct binary search; it also reads the
 * caller's NUL-terminated name) read only inside the table.
 *
 * It does not check: the digest (that needs BLAKE3; `objfreeze verify` does
 * it), so the bytecode may still be damaged; tag_kind and tag (compare the tag
 * with your interpreter's, e.g. PyImport_GetMagicNumber(), before running
 * anything); reserved fields; that blobs are 16-aligned or distinct (entries
 * may share or overlap data); what lies between regions or blobs.
 *
 * objfreeze_check(t) is objfreeze_check_size(t, t->total_size): it trusts
 * total_size, reading the header to get it, so use it only on a table whose
 * size is known to be that, such as one the linker placed (its symbol size is
 * total_size). For bytes from anywhere else, pass their real size to
 * objfreeze_check_size.
 *
 * The test suite runs both under AddressSanitizer and UBSan (gcc and clang)
 * against thousands of damaged tables (flipped bytes, truncation, wrong
 * counts and sizes, unsorted or duplicated entries, offsets out of range,
 * names without NUL), each accepted or rejected exactly as the Rust parser
 * (objfreeze::format::Table::parse) does, and walks every accepted one.
 *
 * Tables must be 4-byte aligned (linked tables are 16-aligned). Every
 * function here only reads and keeps no state: any number of threads may
 * use one table at once.
 *
 * ---------------------------------------------------------------------------
 * LINKER-COLLECTED TABLES
 *
 * objfreeze_linked_next() walks every table linked into the program in the
 * default section, in link order, without knowing their symbols: ELF via weak
 * __start_objfreeze/__stop_objfreeze (absent section: nothing to walk),
 * Mach-O via section$start$__TEXT$__objfreeze (the linker makes the section,
 * empty, if no table is linked), COFF via markers this header places in
 * .objfrz$a and .objfrz$z (selectany, so every translation unit may include
 * it, C or C++). No unit has to own a definition: there is no
 * OBJFREEZE_IMPLEMENTATION to define. Only tables that pass objfreeze_check
 * are returned; zero padding the linker puts between tables is stepped over.
 * Tables survive --gc-sections and -dead_strip although nothing names them:
 * objfreeze marks their sections SHF_GNU_RETAIN (ELF) and
 * S_ATTR_NO_DEAD_STRIP (Mach-O); MSVC-style COFF links (link.exe, lld-link
 * /OPT:REF) keep non-COMDAT sections. mingw's --gc-sections (GNU ld or lld)
 * is the exception: it drops any section nothing refers to and COFF has no
 * flag to prevent it, so there name each table (-Wl,-u,SYMBOL) or leave
 * --gc-sections out.
 * A table inside a static archive is linked only if something pulls its
 * member in, which the walk does not: link table objects directly, or the
 * archive whole (--whole-archive, -force_load, /WHOLEARCHIVE).
 *
 * Cost: objfreeze_linked_next checks each table it returns (linear in the
 * table's entries), and objfreeze_linked_find walks from the first table on
 * every call. For many lookups, walk once, keep the table pointers, and call
 * objfreeze_find on each. Define OBJFREEZE_NO_LINKED before including to
 * leave these functions out.
 *
 * MIT License. See LICENSE.
 */
#ifndef OBJFREEZE_H
#define OBJFREEZE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OBJFREEZE_VERSION 1u
#define OBJFREEZE_HEADER_SIZE 96u
#define OBJFREEZE_ENTRY_SIZE 32u
#define OBJFREEZE_ALIGN 16u

#define OBJFREEZE_FLAG_PACKAGE 1u
#define OBJFREEZE_FLAG_ALIAS 2u
#define OBJFREEZE_FLAG_DATA 4u

#define OBJFREEZE_TAG_NONE 0u
#define OBJFREEZE_TAG_CPYTHON 1u
#define OBJFREEZE_TAG_LUA 2u

/* What the table symbol points at: the header, followed by the rest. */
typedef struct objfreeze_table {
    unsigned char magic[8];
    uint32_t version;
    uint32_t header_size;
    uint32_t entry_size;
    uint32_t count;
    uint32_t index_offset;
    uint32_t names_offset;
    uint32_t names_size;
    uint32_t data_offset;
    uint32_t data_size;
    uint32_t total_size;
    uint32_t tag_kind;
    uint32_t tag;
    uint32_t flags;
    uint32_t reserved;
    unsigned char digest[32];
} objfreeze_table;

typedef struct objfreeze_entry {
    uint32_t name_offset;
    uint32_t name_len;
    uint32_t data_offset;
    uint32_t data_size;
    uint32_t flags;
    uint32_t origin_offset;
    uint32_t origin_len;
    uint32_t reserved;
} objfreeze_entry;

/* Declare a table by its --symbol name. */
#define OBJFREEZE_DECLARE_TABLE(sym) extern const objfreeze_table sym

#define OBJFREEZE_FN static inline

/* ---- reading one table ------------------------------------------------ */

/* The table's first byte. A declared table looks like one 96-byte header to
   the compiler, but its index, names and data follow it: hide the pointer's
   origin so gcc's -Warray-bounds does not flag reads past the header. */
OBJFREEZE_FN const unsigned char *objfreeze__base(const objfreeze_table *t) {
    const unsigned char *p = (const unsigned char *)t;
#if defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+r"(p));
#endif
    return p;
}

OBJFREEZE_FN uint32_t objfreeze_count(const objfreeze_table *t) { return t->count; }

OBJFREEZE_FN const objfreeze_entry *objfreeze_entry_at(const objfreeze_table *t, uint32_t i) {
    if (i >= t->count) return NULL;
    return (const objfreeze_entry *)(const void *)(objfreeze__base(t) + t->index_offset) + i;
}

OBJFREEZE_FN const char *objfreeze_entry_name(const objfreeze_table *t, const objfreeze_entry *e) {
    return (const char *)objfreeze__base(t) + e->name_offset;
}

OBJFREEZE_FN const unsigned char *objfreeze_entry_data(const objfreeze_table *t, const objfreeze_entry *e) {
    return objfreeze__base(t) + e->data_offset;
}

OBJFREEZE_FN uint32_t objfreeze_entry_size(const objfreeze_entry *e) { return e->data_size; }

OBJFREEZE_FN int objfreeze_entry_is_package(const objfreeze_entry *e) {
    return (e->flags & OBJFREEZE_FLAG_PACKAGE) != 0;
}

OBJFREEZE_FN int objfreeze_entry_is_alias(const objfreeze_entry *e) {
    return (e->flags & OBJFREEZE_FLAG_ALIAS) != 0;
}

/* A data file (package data, metadata), not a module. */
OBJFREEZE_FN int objfreeze_entry_is_data(const objfreeze_entry *e) {
    return (e->flags & OBJFREEZE_FLAG_DATA) != 0;
}

/* The origin module's name for an alias, NULL otherwise. */
OBJFREEZE_FN const char *objfreeze_entry_origin(const objfreeze_table *t, const objfreeze_entry *e) {
    if (!objfreeze_entry_is_alias(e)) return NULL;
    return (const char *)objfreeze__base(t) + e->origin_offset;
}

/* Binary search by name; NULL if absent. */
OBJFREEZE_FN const objfreeze_entry *objfreeze_find(const objfreeze_table *t, const char *name) {
    const objfreeze_entry *idx = objfreeze_entry_at(t, 0);
    const char *base = (const char *)objfreeze__base(t);
    uint32_t lo = 0, hi = t->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(base + idx[mid].name_offset, name);
        if (c == 0) return &idx[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* The index of the first entry whose name is not below `key` (count if
   none): entries from there whose names start with a prefix are every entry
   under it, e.g. a data directory's files ("/pkg/data/"). */
OBJFREEZE_FN uint32_t objfreeze_lower_bound(const objfreeze_table *t, const char *key) {
    const objfreeze_entry *idx = objfreeze_entry_at(t, 0);
    const char *base = (const char *)objfreeze__base(t);
    uint32_t lo = 0, hi = t->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (strcmp(base + idx[mid].name_offset, key) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Is [off, off+len) inside [lo, hi)?  Written so nothing overflows. */
OBJFREEZE_FN int objfreeze__within(uint32_t off, uint32_t len, uint32_t lo, uint32_t hi) {
    return off >= lo && off <= hi && len <= hi - off;
}

/* A name at [off, off+len] in the names region: non-empty, no NUL inside, NUL after. */
OBJFREEZE_FN int objfreeze__name_ok(const unsigned char *b, uint32_t off, uint32_t len, uint32_t lo, uint32_t hi) {
    if (len == 0 || !objfreeze__within(off, len, lo, hi) || off + len >= hi) return 0;
    if (b[off + len] != 0) return 0;
    return memchr(b + off, 0, len) == NULL;
}

/* 0 when the table is sound (see the top of this file); -1 otherwise.
   Reads at most `avail` bytes. */
OBJFREEZE_FN int objfreeze_check_size(const objfreeze_table *t, size_t avail) {
    static const unsigned char magic[8] = {'O', 'B', 'J', 'F', 'R', 'E', 'E', 'Z'};
    const unsigned char *b = objfreeze__base(t);
    uint32_t total, i, idx_end, names_end, data_end;
    const objfreeze_entry *idx;
    if (t == NULL || avail < OBJFREEZE_HEADER_SIZE) return -1;
    if (((uintptr_t)t & 3u) != 0) return -1;
    if (memcmp(t->magic, magic, 8) != 0) return -1;
    if (t->version != OBJFREEZE_VERSION || t->header_size != OBJFREEZE_HEADER_SIZE ||
        t->entry_size != OBJFREEZE_ENTRY_SIZE || t->flags != 0)
        return -1;
    total = t->total_size;
    if (total > avail || total < OBJFREEZE_HEADER_SIZE || total % OBJFREEZE_ALIGN != 0) return -1;
    if (t->index_offset < OBJFREEZE_HEADER_SIZE || t->index_offset % 4 != 0 || t->index_offset > total) return -1;
    if (t->count > (total - t->index_offset) / OBJFREEZE_ENTRY_SIZE) return -1;
    idx_end = t->index_offset + t->count * OBJFREEZE_ENTRY_SIZE;
    if (t->names_offset < idx_end || !objfreeze__within(t->names_offset, t->names_size, idx_end, total))
        return -1;
    names_end = t->names_offset + t->names_size;
    if (t->data_offset < names_end || !objfreeze__within(t->data_offset, t->data_size, names_end, total))
        return -1;
    data_end = t->data_offset + t->data_size;
    idx = (const objfreeze_entry *)(const void *)(b + t->index_offset);
    for (i = 0; i < t->count; i++) {
        const objfreeze_entry *e = &idx[i];
        if (!objfreeze__name_ok(b, e->name_offset, e->name_len, t->names_offset, names_end)) return -1;
        if (!objfreeze__within(e->data_offset, e->data_size, t->data_offset, data_end)) return -1;
        if (e->flags & ~(OBJFREEZE_FLAG_PACKAGE | OBJFREEZE_FLAG_ALIAS | OBJFREEZE_FLAG_DATA)) return -1;
        if ((e->flags & OBJFREEZE_FLAG_DATA) &&
            (b[e->name_offset] != '/' || (e->flags & (OBJFREEZE_FLAG_PACKAGE | OBJFREEZE_FLAG_ALIAS))))
            return -1;
        if ((e->flags & OBJFREEZE_FLAG_ALIAS) &&
            !objfreeze__name_ok(b, e->origin_offset, e->origin_len, t->names_offset, names_end))
            return -1;
        if (i > 0 && strcmp((const char *)b + idx[i - 1].name_offset, (const char *)b + e->name_offset) >= 0)
            return -1;
    }
    return 0;
}

OBJFREEZE_FN int objfreeze_check(const objfreeze_table *t) {
    if (t == NULL) return -1;
    return objfreeze_check_size(t, t->total_size);
}

/* ---- linker-collected tables ------------------------------------------- */
#ifndef OBJFREEZE_NO_LINKED

#if defined(__APPLE__)
extern const unsigned char objfreeze__start[] __asm("section$start$__TEXT$__objfreeze");
extern const unsigned char objfreeze__stop[] __asm("section$end$__TEXT$__objfreeze");
#define OBJFREEZE__START objfreeze__start
#define OBJFREEZE__STOP objfreeze__stop
#elif defined(_WIN32)
/* The linker sorts .objfrz$a < .objfrz$m < .objfrz$z into one section, so
   these two markers bracket every table. selectany: every translation unit
   may define them, the linker keeps one. C++ needs `extern` to give a const
   external linkage; C warns about it. */
#ifdef __cplusplus
#define OBJFREEZE__DEF extern
#else
#define OBJFREEZE__DEF
#endif
#if defined(_MSC_VER) && !defined(__clang__)
#pragma section(".objfrz$a", read)
#pragma section(".objfrz$z", read)
__declspec(allocate(".objfrz$a")) __declspec(selectany) __declspec(align(16))
OBJFREEZE__DEF const unsigned char objfreeze__start[16] = {0};
__declspec(allocate(".objfrz$z")) __declspec(selectany) __declspec(align(16))
OBJFREEZE__DEF const unsigned char objfreeze__stop[16] = {0};
#else
__attribute__((section(".objfrz$a"), selectany, aligned(16)))
OBJFREEZE__DEF const unsigned char objfreeze__start[16] = {0};
__attribute__((section(".objfrz$z"), selectany, aligned(16)))
OBJFREEZE__DEF const unsigned char objfreeze__stop[16] = {0};
#endif
#undef OBJFREEZE__DEF
#define OBJFREEZE__START (objfreeze__start + 16)
#define OBJFREEZE__STOP objfreeze__stop
#else
/* Weak, so a program that links no table still links; they are then null. */
extern const unsigned char __start_objfreeze[] __attribute__((weak, visibility("hidden")));
extern const unsigned char __stop_objfreeze[] __attribute__((weak, visibility("hidden")));
#define OBJFREEZE__START __start_objfreeze
#define OBJFREEZE__STOP __stop_objfreeze
#endif

/* The section bounds, passed through a volatile so the compiler cannot
   reason about them as the separate objects they are declared as (the COFF
   markers are 16-byte arrays; the tables lie between them). */
OBJFREEZE_FN const unsigned char *objfreeze__launder(const unsigned char *p) {
    const unsigned char *volatile v = p;
    return v;
}

/* The first sound table at or after p, or after the section start when p is
   NULL (4-byte steps skip linker padding). */
OBJFREEZE_FN const objfreeze_table *objfreeze__scan(const unsigned char *p) {
    const unsigned char *start = objfreeze__launder(OBJFREEZE__START);
    const unsigned char *stop = objfreeze__launder(OBJFREEZE__STOP);
    if (start == NULL || stop == NULL) return NULL;
    if (p == NULL) p = start;
    while ((uintptr_t)p % 4u != 0) p++;
    for (; p < stop && (size_t)(stop - p) >= OBJFREEZE_HEADER_SIZE; p += 4) {
        const objfreeze_table *t = (const objfreeze_table *)(const void *)p;
        if (p[0] == 'O' && objfreeze_check_size(t, (size_t)(stop - p)) == 0) return t;
    }
    return NULL;
}

/* Every table linked into the program in the default section, in link
   order: NULL gives the first; NULL after the last. */
OBJFREEZE_FN const objfreeze_table *objfreeze_linked_next(const objfreeze_table *prev) {
    if (prev == NULL) return objfreeze__scan(NULL);
    return objfreeze__scan(objfreeze__base(prev) + prev->total_size);
}

/* The first linked table that has `name`; sets *table (if table is not NULL). */
OBJFREEZE_FN const objfreeze_entry *objfreeze_linked_find(const char *name, const objfreeze_table **table) {
    const objfreeze_table *t = NULL;
    while ((t = objfreeze_linked_next(t)) != NULL) {
        const objfreeze_entry *e = objfreeze_find(t, name);
        if (e) {
            if (table) *table = t;
            return e;
        }
    }
    if (table) *table = NULL;
    return NULL;
}

#endif /* OBJFREEZE_NO_LINKED */

#ifdef __cplusplus
}
#endif
#endif /* OBJFREEZE_H */
