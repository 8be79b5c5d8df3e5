/* The loops over SLEEF's tanh for bench/kernels.c, in a file of their own compiled with
 * -mavx512f -mfma: sleef.h declares its vector functions only when the compiler targets their
 * instructions, so bench/kernels.c calls these only on a CPU with AVX-512F. */
#include "kernels_sleef.h"

#include <immintrin.h>
#include <sleef.h>
#include <stddef.h>
#include <string.h>

/* x[k] = fn(x[k]) a vector of w at a time, the tail by the scalar function of the same
 * accuracy (the benchmark's n are multiples of 8) */
#define SLEEF_LOOP(name, fn, tail, vt, w)                                                          \
    void name(double *x, size_t n)                                                                 \
    {                                                                                              \
        size_t k = 0;                                                                              \
        for (; k + (w) <= n; k += (w)) {                                                           \
            vt v;                                                                                  \
            memcpy(&v, x + k, sizeof v);                                                           \
            v = fn(v);                                                                             \
            memcpy(x + k, &v, sizeof v);                                                           \
        }                                                                                          \
        for (; k < n; k++) {                                                                       \
            x[k] = tail(x[k]);                                                                     \
        }                                                                                          \
    }
SLEEF_LOOP(odg_sleef_d8_u10_avx512f, Sleef_tanhd8_u10avx512f, Sleef_tanhd1_u10purecfma, __m512d, 8)
SLEEF_LOOP(odg_sleef_d8_u35_avx512f, Sleef_tanhd8_u35avx512f, Sleef_tanhd1_u35purecfma, __m512d, 8)
SLEEF_LOOP(odg_sleef_d8_u10, Sleef_tanhd8_u10, Sleef_tanhd1_u10purecfma, __m512d, 8)
SLEEF_LOOP(odg_sleef_d4_u10_avx2, Sleef_tanhd4_u10avx2, Sleef_tanhd1_u10purecfma, __m256d, 4)
SLEEF_LOOP(odg_sleef_d4_u35_avx2, Sleef_tanhd4_u35avx2, Sleef_tanhd1_u35purecfma, __m256d, 4)

void odg_sleef_d1_u10_purecfma(double *x, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        x[k] = Sleef_tanhd1_u10purecfma(x[k]);
    }
}

void odg_sleef_d1_u35_purecfma(double *x, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        x[k] = Sleef_tanhd1_u35purecfma(x[k]);
    }
}
