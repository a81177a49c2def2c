/* Run objfreeze_check_size/objfreeze_check and the lookup functions over
 * table files, each loaded into a heap block of exactly its size so that
 * AddressSanitizer reports any read past it.
 *
 * Usage: sanitize_harness LISTFILE   (one table file path per line)
 * Prints one line per file: "reject", or "accept COUNT HASH" where HASH is
 * FNV-1a over every entry's name, NUL, data, flags and origin, walked in
 * index order; the test compares these with the Rust parser. Exits non-zero
 * if the C functions disagree with each other. */
#define OBJFREEZE_NO_LINKED
#include "objfreeze.h"

#include <stdio.h>
#include <stdlib.h>

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int fail(const char *path, const char *what) {
    fprintf(stderr, "%s: %s\n", path, what);
    return 1;
}

/* Check one table; 0 if the C functions agree with each other. */
static int one(const char *path) {
    FILE *f = fopen(path, "rb");
    long len;
    unsigned char *buf;
    const objfreeze_table *t;
    uint32_t i;
    uint64_t h = 14695981039346656037ull;
    if (!f) return fail(path, "cannot open");
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return fail(path, "cannot size");
    }
    /* Exactly len bytes (malloc aligns to 16), so ASan sees one byte past. */
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (!buf || (len > 0 && fread(buf, 1, (size_t)len, f) != (size_t)len)) {
        fclose(f);
        free(buf);
        return fail(path, "cannot read");
    }
    fclose(f);
    t = (const objfreeze_table *)(const void *)buf;
    if (objfreeze_check_size(t, (size_t)len) != 0) {
        /* objfreeze_check trusts total_size; call it only where that is true. */
        if ((size_t)len >= OBJFREEZE_HEADER_SIZE && t->total_size <= (size_t)len && objfreeze_check(t) == 0) {
            free(buf);
            return fail(path, "objfreeze_check accepts what objfreeze_check_size rejects");
        }
        printf("reject\n");
        free(buf);
        return 0;
    }
    if (objfreeze_check(t) != 0) {
        free(buf);
        return fail(path, "objfreeze_check rejects what objfreeze_check_size accepts");
    }
    if (objfreeze_entry_at(t, objfreeze_count(t)) != NULL) {
        free(buf);
        return fail(path, "entry_at past the end is not NULL");
    }
    for (i = 0; i < objfreeze_count(t); i++) {
        const objfreeze_entry *e = objfreeze_entry_at(t, i);
        const char *name = objfreeze_entry_name(t, e);
        const char *origin = objfreeze_entry_origin(t, e);
        uint32_t flags = e->flags;
        char probe[600];
        size_t n = strlen(name);
        if (n != e->name_len || objfreeze_find(t, name) != e) {
            free(buf);
            return fail(path, "a name is not found where it is, or its length is wrong");
        }
        h = fnv(h, (const unsigned char *)name, n + 1);
        h = fnv(h, objfreeze_entry_data(t, e), objfreeze_entry_size(e));
        h = fnv(h, (const unsigned char *)&flags, sizeof flags);
        if (origin) {
            if (strlen(origin) != e->origin_len) {
                free(buf);
                return fail(path, "origin length is wrong");
            }
            h = fnv(h, (const unsigned char *)origin, strlen(origin) + 1);
        }
        /* Names that are absent: one byte longer, and cut short. */
        if (n + 2 < sizeof probe) {
            memcpy(probe, name, n);
            probe[n] = '\x01';
            probe[n + 1] = '\0';
            if (objfreeze_find(t, probe) != NULL && strcmp(objfreeze_entry_name(t, objfreeze_find(t, probe)), probe) != 0) {
                free(buf);
                return fail(path, "find returned an entry with another name");
            }
            probe[n - 1] = '\0';
            (void)objfreeze_find(t, probe);
        }
        (void)objfreeze_entry_is_package(e);
        (void)objfreeze_entry_is_alias(e);
    }
    if (objfreeze_find(t, "") != NULL) {
        free(buf);
        return fail(path, "the empty name was found");
    }
    printf("accept %u %016llx\n", (unsigned)objfreeze_count(t), (unsigned long long)h);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    char line[4096];
    FILE *list;
    int bad = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: %s LISTFILE\n", argv[0]);
        return 2;
    }
    list = fopen(argv[1], "r");
    if (!list) return fail(argv[1], "cannot open list");
    while (fgets(line, sizeof line, list)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0]) bad |= one(line);
    }
    fclose(list);
    return bad;
}
