/* Shared pieces of the benchmark bodies: sizes, problems, and the roofline counters. */
#include "bench_common.h"

#include <stdlib.h>
#include <string.h>

/* The three sizes: small fits in L2, medium in L3, large spills (Hh alone is 4 MiB). */
const bench_size bench_sizes[BENCH_NSIZES] = {
    {"small", 16, 64, 128},
    {"medium", 64, 256, 512},
    {"large", 128, 512, 1024},
};

double *bench_doubles(odg_bench_state *st, size_t n)
{
    double *x = calloc(n ? n : 1, sizeof(double));
    if (x == NULL) {
        odg_bench_skip(st, "out of memory");
    }
    return x;
}

int bench_problem_make(bench_problem *q, odg_bench_state *st, const bench_size *sz,
                       odg_blas_mode mode, odg_scheme scheme, long steps)
{
    memset(q, 0, sizeof *q);
    odg_mem_init(&q->mem);
    odg_model_opts o;
    odg_model_opts_default(&o);
    o.D = sz->D;
    o.H = sz->H;
    o.B = sz->B;
    o.blas_mode = mode;
    odg_status s = odg_model_create(&q->model, &o, &q->mem);
    if (s != ODG_OK) {
        odg_bench_skip(st, odg_status_str(s));
        return -1;
    }
    odg_rng rng;
    odg_rng_seed(&rng, 1);
    odg_model_init(q->model, &rng);
    const size_t M = sz->B * sz->D;
    q->z0 = bench_doubles(st, M);
    q->w = bench_doubles(st, M);
    if (q->z0 == NULL || q->w == NULL) {
        bench_problem_free(q);
        return -1;
    }
    odg_rng_fill_normal(&rng, q->z0, M, 0, 1);
    odg_rng_fill_normal(&rng, q->w, M, 0, 1);
    q->p = (odg_problem){.model = q->model,
                         .tab = odg_scheme_tableau(scheme),
                         .t0 = 0,
                         .t1 = 1,
                         .steps = steps,
                         .z0 = q->z0,
                         .w = q->w};
    odg_adapt_defaults(&q->p.adapt, 1e-6, 1e-8);
    return 0;
}

void bench_problem_free(bench_problem *q)
{
    odg_model_destroy(&q->model);
    free(q->z0);
    free(q->w);
    q->z0 = q->w = NULL;
}

double bench_roofline(const bench_size *sz)
{
    static double rate[BENCH_NSIZES];
    const int k = (int)(sz - bench_sizes);
    if (k < 0 || k >= BENCH_NSIZES) {
        return 0.0;
    }
    if (rate[k] == 0.0) {
        odg_mem mem;
        odg_mem_init(&mem);
        odg_model_opts o;
        odg_model_opts_default(&o);
        o.D = sz->D;
        o.H = sz->H;
        o.B = sz->B;
        odg_model *m = NULL;
        if (odg_model_create(&m, &o, &mem) == ODG_OK) {
            rate[k] = odg_roofline_model(m, 0.25);
        }
        odg_model_destroy(&m);
    }
    return rate[k];
}

void bench_flop_counters(odg_bench_state *st, const bench_size *sz, double flops_per_iteration)
{
    odg_bench_set_counter(st, "FLOP/s", flops_per_iteration, ODG_BENCH_RATE);
    const double peak = bench_roofline(sz) * 1e9;
    if (peak > 0) {
        /* flops / peak seconds per iteration, as a rate: (flops / time) / peak */
        odg_bench_set_counter(st, "dgemm_frac", flops_per_iteration / peak, ODG_BENCH_RATE);
    }
}
