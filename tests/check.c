#include "check.h"

#include <math.h>
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
