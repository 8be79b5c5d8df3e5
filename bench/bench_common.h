/* What the benchmark bodies share: the three sizes, building a problem at a size, and the
 * FLOP/s and roofline counters (docs/theory.md section 9). */
#ifndef ODEGRAD_BENCH_COMMON_H
#define ODEGRAD_BENCH_COMMON_H

#include "bench.h"
#include "odegrad/gradients.h"

/* The mlp at three sizes: state dimension D, hidden width H, batch B. */
typedef struct bench_size {
    const char *name;
    size_t D, H, B;
} bench_size;

#define BENCH_NSIZES 3
extern const bench_size bench_sizes[BENCH_NSIZES];

/* A problem at a size: the model (seeded init), z0 and w ~ N(0, 1), t in [0, 1], rk4 with
 * `steps` fixed steps unless scheme says otherwise.  The model's memory is counted in mem. */
typedef struct bench_problem {
    odg_mem mem;
    odg_model *model;
    double *z0, *w; /* (B, D) */
    odg_problem p;
} bench_problem;

/* Returns 0, or -1 with the reason in st (odg_bench_skip) and nothing left allocated. */
int bench_problem_make(bench_problem *q, odg_bench_state *st, const bench_size *sz,
                       odg_blas_mode mode, odg_scheme scheme, long steps);
void bench_problem_free(bench_problem *q);

/* The DGEMM rate (GFLOP/s) at this size's model shapes with the process's thread count
 * (odg_roofline_model), measured on first use and kept. */
double bench_roofline(const bench_size *sz);

/* Sets "FLOP/s" (flops per iteration, as a rate) and "dgemm_frac" (that rate over the roofline of
 * bench_roofline). */
void bench_flop_counters(odg_bench_state *st, const bench_size *sz, double flops_per_iteration);

/* malloc that reports through st (odg_bench_skip) instead of failing silently; NULL on failure. */
double *bench_doubles(odg_bench_state *st, size_t n);

/* Registration of each group (bench_model.c, bench_step.c, bench_gradient.c); `targets` adds the
 * slow runs at the configuration of the performance targets (medium size, N = 256). */
void bench_register_models(void);
void bench_register_steps(void);
void bench_register_gradients(int targets);

#endif
