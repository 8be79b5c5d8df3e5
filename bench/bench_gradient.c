/* One gradient of each method (docs/theory.md section 5) on the mlp at the three sizes, rk4 with N = 16
 * fixed steps, in the default (chunked) BLAS mode, and backprop in the threaded mode to compare.
 * With targets: every method at the medium size with N = 256, the configuration of the
 * performance targets (backprop and stored-adjoint at >= 70% of the DGEMM rate on one thread;
 * checkpoint-adjoint <= 1.5x and backsolve-adjoint <= 2x backprop's time).
 *
 * Counters: FLOP/s counts the model's GEMM flops (odg_model_flops) over every f and VJP the
 * gradient evaluated, recomputation included; dgemm_frac divides by the roofline; peak_bytes is
 * the method's accounted peak (odg_grad_stats). */
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct grad_arg {
    const bench_size *sz;
    odg_method method;
    odg_blas_mode mode;
    long steps;
} grad_arg;

static void bench_gradient(odg_bench_state *st, const void *varg)
{
    const grad_arg *a = varg;
    bench_problem q;
    if (bench_problem_make(&q, st, a->sz, a->mode, ODG_SCHEME_RK4, a->steps) != 0) {
        return;
    }
    const size_t M = q.model->B * q.model->D, P = q.model->P;
    double *g = bench_doubles(st, P + M);
    if (g == NULL) {
        bench_problem_free(&q);
        return;
    }
    odg_grad_opts o;
    odg_grad_opts_default(&o, a->method);
    odg_grad_stats S;
    odg_status s = ODG_OK;
    odg_mem mem; /* the method's own memory, apart from the model's */
    odg_mem_init(&mem);
    while (odg_bench_keep_running(st)) {
        s = odg_gradient(&q.p, &o, &mem, g, g + P, &S);
        if (s != ODG_OK) {
            break;
        }
    }
    if (s != ODG_OK) {
        odg_bench_skip(st, odg_status_str(s));
    } else if (odg_bench_iterations(st) > 0) {
        double f, v;
        odg_model_flops(q.model, &f, &v);
        const double flops = (double)(S.nfe_forward + S.nfe_backward) * f + (double)S.nvjp * v;
        bench_flop_counters(st, a->sz, flops);
        odg_bench_set_counter(st, "nfe", (double)(S.nfe_forward + S.nfe_backward), 0);
        odg_bench_set_counter(st, "nvjp", (double)S.nvjp, 0);
        odg_bench_set_counter(st, "forward_ms", 1e3 * S.forward_s, 0);
        odg_bench_set_counter(st, "backward_ms", 1e3 * S.backward_s, 0);
        odg_bench_report_memory(st, S.peak_total, mem.nalloc); /* per gradient: / iterations */
    }
    odg_bench_set_label(st, odg_blas_mode_name(q.model->blas));
    free(g);
    bench_problem_free(&q);
}

void bench_register_gradients(int targets)
{
    static grad_arg args[BENCH_NSIZES * (ODG_NMETHODS + 1) + ODG_NMETHODS + 1];
    int n = 0;
    char name[128];
    for (int s = 0; s < BENCH_NSIZES; s++) {
        for (int k = 0; k <= ODG_NMETHODS; k++) {
            /* every method chunked, then backprop threaded */
            const odg_method meth = k < ODG_NMETHODS ? (odg_method)k : ODG_METHOD_BACKPROP;
            const odg_blas_mode mode = k < ODG_NMETHODS ? ODG_BLAS_CHUNKED : ODG_BLAS_THREADED;
            args[n] = (grad_arg){&bench_sizes[s], meth, mode, 16};
            snprintf(name, sizeof name, "gradient/%s/%s/rk4/N16/%s", odg_method_name(meth),
                     bench_sizes[s].name, odg_blas_mode_name(mode));
            odg_bench_register(name, bench_gradient, &args[n++], 0);
        }
    }
    if (targets) {
        for (int k = 0; k <= ODG_NMETHODS; k++) {
            const odg_method meth = k < ODG_NMETHODS ? (odg_method)k : ODG_METHOD_BACKPROP;
            const odg_blas_mode mode = k < ODG_NMETHODS ? ODG_BLAS_CHUNKED : ODG_BLAS_THREADED;
            args[n] = (grad_arg){&bench_sizes[1], meth, mode, 256};
            snprintf(name, sizeof name, "target/%s/medium/rk4/N256/%s", odg_method_name(meth),
                     odg_blas_mode_name(mode));
            odg_bench_register(name, bench_gradient, &args[n++], 0);
        }
    }
}
