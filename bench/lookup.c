/* Lookup cost: objfreeze_find (binary search over the sorted index) against
 * a linear strcmp scan of a `struct _frozen` array, which is how CPython
 * finds a frozen module.
 *
 *   lookup HITS.TXT MISSES.TXT ROUNDS     ns per lookup, min over ROUNDS
 *   lookup HITS.TXT MISSES.TXT count      one pass of each (<= 1,000 queries), for callgrind
 *
 * Every query is checked: each hit must be found by both, each miss by
 * neither, or the program fails. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "objfreeze.h"

struct _frozen {
    const char *name;
    const unsigned char *code;
    int size;
    int is_package;
};

extern const struct _frozen bench_frozen[];
OBJFREEZE_DECLARE_TABLE(objfreeze_modules);

/* The loop in CPython's find_frozen(): first match by strcmp, in order. */
static const struct _frozen *linear_find(const char *name) {
    const struct _frozen *p;
    for (p = bench_frozen; p->name != NULL; p++) {
        if (strcmp(p->name, name) == 0) return p;
    }
    return NULL;
}

typedef struct {
    char **v;
    size_t n;
} list;

static list read_lines(const char *path) {
    list l = {NULL, 0};
    size_t cap = 0, len = 0;
    char *line = NULL;
    ssize_t got;
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    while ((got = getline(&line, &len, f)) > 0) {
        if (line[got - 1] == '\n') line[got - 1] = 0;
        if (l.n == cap) {
            cap = cap ? cap * 2 : 1024;
            l.v = realloc(l.v, cap * sizeof *l.v);
            if (!l.v) exit(2);
        }
        l.v[l.n++] = strdup(line);
    }
    free(line);
    fclose(f);
    return l;
}

/* Not inlined, so callgrind can count exactly these instructions. */
__attribute__((noinline)) size_t pass_objfreeze(const list *q) {
    size_t i, found = 0;
    for (i = 0; i < q->n; i++) found += objfreeze_find(&objfreeze_modules, q->v[i]) != NULL;
    return found;
}

__attribute__((noinline)) size_t pass_linear(const list *q) {
    size_t i, found = 0;
    for (i = 0; i < q->n; i++) found += linear_find(q->v[i]) != NULL;
    return found;
}

/* One pass per query kind, for callgrind's --toggle-collect=cg_*. Each
   stores its own mark, so the compiler cannot fold them into one. */
static volatile int cg_mark;
__attribute__((noinline)) size_t cg_objfreeze_hit(const list *q) {
    cg_mark = 1;
    return pass_objfreeze(q);
}
__attribute__((noinline)) size_t cg_objfreeze_miss(const list *q) {
    cg_mark = 2;
    return pass_objfreeze(q);
}
__attribute__((noinline)) size_t cg_linear_hit(const list *q) {
    cg_mark = 3;
    return pass_linear(q);
}
__attribute__((noinline)) size_t cg_linear_miss(const list *q) {
    cg_mark = 4;
    return pass_linear(q);
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Best ns per lookup over `rounds`; each round repeats the pass until it
 * has run for at least 20 ms, so the clock's resolution does not matter. */
static double best_ns(size_t (*pass)(const list *), const list *q, size_t want, int rounds) {
    double best = 1e300;
    int r;
    for (r = 0; r < rounds; r++) {
        size_t reps = 0;
        double t0 = now_ns(), t;
        do {
            if (pass(q) != want) {
                fprintf(stderr, "lookup: wrong result count\n");
                exit(1);
            }
            reps++;
            t = now_ns() - t0;
        } while (t < 20e6);
        if (t / (double)(reps * q->n) < best) best = t / (double)(reps * q->n);
    }
    return best;
}

int main(int argc, char **argv) {
    list hits, misses;
    if (argc != 4) {
        fprintf(stderr, "usage: %s HITS.TXT MISSES.TXT ROUNDS|count\n", argv[0]);
        return 2;
    }
    if (objfreeze_check(&objfreeze_modules) != 0) {
        fprintf(stderr, "lookup: the linked table is unsound\n");
        return 1;
    }
    hits = read_lines(argv[1]);
    misses = read_lines(argv[2]);
    if (hits.n != objfreeze_count(&objfreeze_modules)) {
        fprintf(stderr, "lookup: %zu hits for a table of %u\n", hits.n, objfreeze_count(&objfreeze_modules));
        return 1;
    }
    if (strcmp(argv[3], "count") == 0) {
        /* At most 1,000 queries of each kind: the queries are shuffled, so
           the average holds, and the linear scan stays quick under valgrind. */
        list h = hits, m = misses;
        if (h.n > 1000) h.n = 1000;
        if (m.n > 1000) m.n = 1000;
        if (cg_objfreeze_hit(&h) != h.n || cg_linear_hit(&h) != h.n || cg_objfreeze_miss(&m) != 0 ||
            cg_linear_miss(&m) != 0) {
            fprintf(stderr, "lookup: wrong result count\n");
            return 1;
        }
        printf("queries %zu %zu\n", h.n, m.n);
        return 0;
    }
    {
        int rounds = atoi(argv[3]);
        printf("objfreeze_find hit %.1f\n", best_ns(pass_objfreeze, &hits, hits.n, rounds));
        printf("objfreeze_find miss %.1f\n", best_ns(pass_objfreeze, &misses, 0, rounds));
        printf("linear_strcmp hit %.1f\n", best_ns(pass_linear, &hits, hits.n, rounds));
        printf("linear_strcmp miss %.1f\n", best_ns(pass_linear, &misses, 0, rounds));
    }
    return 0;
}
