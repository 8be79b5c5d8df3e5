#include "check.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int check_npass, check_nfail;

double check_rel_diff(const double *x, const double *y, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (x[i] - y[i]) * (x[i] - y[i]);
        den += y[i] * y[i];
    }
    return sqrt(num) / fmax(sqrt(den), 1e-300);
}

size_t check_bit_diff(const double *x, const double *y, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        k += memcmp(&x[i], &y[i], sizeof(double)) != 0;
    }
    return k;
}

int check_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_npass, check_nfail);
    return check_nfail ? 1 : 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void check_corpus(const char *dir, void (*fn)(const char *dir, const char *name), int min_valid,
                  int min_other)
{
    int nvalid = 0;
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot open %s", dir);
    if (!d) {
        return;
    }
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < (int)(sizeof names / sizeof names[0])) {
        if (e->d_name[0] != '.' && strcmp(e->d_name, "README") != 0) {
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    CHECK(n < (int)(sizeof names / sizeof names[0]), "more than %d files in %s: some left out", n,
          dir);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) {
        nvalid += strncmp(names[i], "valid-", 6) == 0;
        fn(dir, names[i]);
        free(names[i]);
    }
    CHECK(nvalid >= min_valid && n - nvalid >= min_other,
          "%s: %d valid and %d other files: a corpus lost", dir, nvalid, n - nvalid);
}
