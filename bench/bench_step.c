/* One step of each scheme (docs/theory.md section 2) on the mlp at the three sizes: s evaluations of
 * f and the engine's vector updates; adaptive schemes also form their error estimate.  The
 * default (chunked) BLAS mode. */
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct step_arg {
    const bench_size *sz;
    odg_scheme scheme;
} step_arg;

static int sys_f(void *ctx, double t, const double *y, double *dy)
{
    return odg_model_f(ctx, t, y, dy);
}

static void bench_step(odg_bench_state *st, const void *varg)
{
    const step_arg *a = varg;
    bench_problem q;
    if (bench_problem_make(&q, st, a->sz, ODG_BLAS_AUTO, a->scheme, 1) != 0) {
        return;
    }
    const odg_tableau *tab = odg_scheme_tableau(a->scheme);
    const size_t M = q.model->B * q.model->D;
    odg_system sys = {M, q.model->P, q.model, sys_f, NULL, 0, NULL, NULL};
    odg_erk *e = NULL;
    double *znext = bench_doubles(st, M), *err = bench_doubles(st, M);
    odg_status s = odg_erk_create(&e, tab, M, q.model->P, &q.mem);
    if (s != ODG_OK || znext == NULL || err == NULL) {
        if (s != ODG_OK) {
            odg_bench_skip(st, odg_status_str(s));
        }
        odg_erk_destroy(&e);
        free(znext);
        free(err);
        bench_problem_free(&q);
        return;
    }
    double *errp = odg_tableau_adaptive(tab) ? err : NULL;
    const long nalloc = q.mem.nalloc;
    while (odg_bench_keep_running(st)) {
        s = odg_erk_step(e, &sys, 0.0, 1.0 / 16, q.z0, znext, NULL, errp, NULL);
        if (s != ODG_OK) {
            break;
        }
    }
    if (s != ODG_OK) {
        odg_bench_skip(st, odg_status_str(s));
    }
    double f;
    odg_model_flops(q.model, &f, NULL);
    bench_flop_counters(st, a->sz, (double)tab->s * f);
    odg_bench_report_memory(st, q.mem.peak_total, q.mem.nalloc - nalloc);
    odg_erk_destroy(&e);
    free(znext);
    free(err);
    bench_problem_free(&q);
}

void bench_register_steps(void)
{
    static step_arg args[BENCH_NSIZES * ODG_NSCHEMES];
    int n = 0;
    char name[96];
    for (int s = 0; s < BENCH_NSIZES; s++) {
        for (int k = 0; k < ODG_NSCHEMES; k++) {
            args[n] = (step_arg){&bench_sizes[s], (odg_scheme)k};
            snprintf(name, sizeof name, "step/%s/%s", odg_scheme_name((odg_scheme)k),
                     bench_sizes[s].name);
            odg_bench_register(name, bench_step, &args[n++], 0);
        }
    }
}
