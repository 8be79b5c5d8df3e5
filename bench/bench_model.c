/* The model alone: the DGEMM roofline at its shapes, f and the VJP, in both BLAS modes, at the
 * three sizes.  docs/theory.md section 9: f ~ 4 B D H flops, the VJP ~ 8 B D H plus the recomputed
 * forward (2 B D H); odg_model_flops counts them. */
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct model_arg {
    const bench_size *sz;
    odg_blas_mode mode;
    int vjp; /* 0: f, 1: the VJP */
} model_arg;

/* The roofline as a row of its own: each iteration measures the DGEMM rate at the model's shapes
 * (one f's and one VJP's GEMMs) and reports the time those flops take at that rate, so the
 * FLOP/s column shows the rate itself. */
static void bench_roofline_row(odg_bench_state *st, const void *varg)
{
    const model_arg *a = varg;
    bench_problem q;
    if (bench_problem_make(&q, st, a->sz, ODG_BLAS_AUTO, ODG_SCHEME_RK4, 1) != 0) {
        return;
    }
    double f, v;
    odg_model_flops(q.model, &f, &v);
    while (odg_bench_keep_running(st)) {
        const double rate = odg_roofline_model(q.model, 0.0);
        odg_bench_set_iteration_time(st, rate > 0 ? (f + v) / (rate * 1e9) : 1.0);
    }
    bench_flop_counters(st, a->sz, f + v);
    bench_problem_free(&q);
}

static void bench_model(odg_bench_state *st, const void *varg)
{
    const model_arg *a = varg;
    bench_problem q;
    if (bench_problem_make(&q, st, a->sz, a->mode, ODG_SCHEME_RK4, 1) != 0) {
        return;
    }
    odg_model *m = q.model;
    const size_t M = m->B * m->D, P = m->P;
    double *out = bench_doubles(st, M), *gtheta = bench_doubles(st, P);
    if (out == NULL || gtheta == NULL) {
        free(out);
        free(gtheta);
        bench_problem_free(&q);
        return;
    }
    odg_bench_set_label(st, odg_blas_mode_name(m->blas));
    const double *Z = q.z0, *G = q.w;
    int rc = 0;
    const long nalloc = q.mem.nalloc;
    while (odg_bench_keep_running(st)) {
        rc |= a->vjp ? odg_model_vjp(m, 0.5, Z, G, out, gtheta) : odg_model_f(m, 0.5, Z, out);
    }
    if (rc != 0) {
        odg_bench_skip(st, "the model returned an error");
    }
    double f, v;
    odg_model_flops(m, &f, &v);
    bench_flop_counters(st, a->sz, a->vjp ? v : f);
    /* the least traffic: f reads Z and theta and writes F; the VJP reads Z, G and theta and
     * writes Zbar and gtheta */
    const double bytes =
        8.0 * (a->vjp ? 3.0 * (double)M + 2.0 * (double)P : 2.0 * (double)M + (double)P);
    odg_bench_set_bytes(st, bytes);
    odg_bench_report_memory(st, q.mem.peak_total, q.mem.nalloc - nalloc);
    free(out);
    free(gtheta);
    bench_problem_free(&q);
}

/* The hidden layer's tanh alone (odg_mlp_tanh), over one chunk of the medium size's hidden
 * layer (64 rows x H = 256) of arguments spread over [-3, 3]: 1e9 over the elements/s counter
 * is the cost in ns per hidden unit that f pays once and the VJP once more.  Each iteration
 * restores the arguments first (paused), so every call sees the same mix of the two branches'
 * inputs. */
static void bench_tanh(odg_bench_state *st, const void *varg)
{
    (void)varg;
    enum { N = 64 * 256 };
    double *x0 = bench_doubles(st, N), *x = bench_doubles(st, N);
    if (x0 == NULL || x == NULL) {
        free(x0);
        free(x);
        return;
    }
    for (size_t k = 0; k < N; k++) {
        x0[k] = -3.0 + 6.0 * ((double)k + 0.5) / N;
    }
    while (odg_bench_keep_running(st)) {
        odg_bench_pause(st);
        memcpy(x, x0, sizeof(double) * N);
        odg_bench_resume(st);
        odg_mlp_tanh(x, N);
    }
    odg_bench_set_counter(st, "elements/s", (double)N, ODG_BENCH_RATE);
    free(x0);
    free(x);
}

void bench_register_models(void)
{
    odg_bench_register("tanh/chunk", bench_tanh, NULL, 0);
    static model_arg args[BENCH_NSIZES * 5];
    const odg_blas_mode modes[] = {ODG_BLAS_CHUNKED, ODG_BLAS_THREADED};
    int n = 0;
    char name[96];
    for (int s = 0; s < BENCH_NSIZES; s++) {
        args[n] = (model_arg){&bench_sizes[s], ODG_BLAS_AUTO, 0};
        snprintf(name, sizeof name, "roofline/%s", bench_sizes[s].name);
        odg_bench_register(name, bench_roofline_row, &args[n++], 1);
    }
    for (int v = 0; v < 2; v++) {
        for (int s = 0; s < BENCH_NSIZES; s++) {
            for (int k = 0; k < 2; k++) {
                args[n] = (model_arg){&bench_sizes[s], modes[k], v};
                snprintf(name, sizeof name, "model/%s/%s/%s", v ? "vjp" : "f", bench_sizes[s].name,
                         odg_blas_mode_name(modes[k]));
                odg_bench_register(name, bench_model, &args[n++], 0);
            }
        }
    }
}
