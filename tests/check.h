/* A tiny test harness: CHECK records a failure and goes on; check_done prints the summary line
 * "N passed, N failed" and returns the exit status. */
#ifndef ODG_TESTS_CHECK_H
#define ODG_TESTS_CHECK_H

#include <stdio.h>

extern int check_npass, check_nfail;

#define CHECK(cond, ...)                                                                         \
    do {                                                                                         \
        if (cond) {                                                                              \
            check_npass++;                                                                       \
        } else {                                                                                 \
            check_nfail++;                                                                       \
            fprintf(stderr, "%s:%d: FAIL: %s: ", __FILE__, __LINE__, #cond);                     \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
        }                                                                                        \
    } while (0)

/* Relative difference ||x - y|| / max(||y||, tiny) in the 2-norm. */
double check_rel_diff(const double *x, const double *y, size_t n);
/* Number of positions where x and y differ bitwise. */
size_t check_bit_diff(const double *x, const double *y, size_t n);

int check_done(const char *name);

/* The fuzz corpora's replay: calls fn(dir, name) for every file of the corpus folder dir (dot
 * files and README left out), in name order, and checks that at least min_valid of them are
 * named valid-* and at least min_other are not, so that a corpus lost does not pass. */
void check_corpus(const char *dir, void (*fn)(const char *dir, const char *name), int min_valid,
                  int min_other);

#endif
