/* The loops over SLEEF's tanh that bench/kernels.c times: bench/kernels_sleef.c, compiled for
 * AVX-512F (sleef.h declares the vector functions only where the compiler targets their
 * instructions).  x[k] = tanh(x[k]), k < n, by each SLEEF function. */
#ifndef ODEGRAD_BENCH_KERNELS_SLEEF_H
#define ODEGRAD_BENCH_KERNELS_SLEEF_H

#include <stddef.h>

void odg_sleef_d8_u10_avx512f(double *x, size_t n);
void odg_sleef_d8_u35_avx512f(double *x, size_t n);
void odg_sleef_d8_u10(double *x, size_t n);
void odg_sleef_d4_u10_avx2(double *x, size_t n);
void odg_sleef_d4_u35_avx2(double *x, size_t n);
void odg_sleef_d1_u10_purecfma(double *x, size_t n);
void odg_sleef_d1_u35_purecfma(double *x, size_t n);

#endif
