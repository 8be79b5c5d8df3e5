/* The roofline of THEORY.md section 8: a model's flop counts (GEMMs only) and this machine's
 * DGEMM rate, at a given shape or at a model's own shapes, so that a run can report the fraction
 * of the DGEMM rate that f, the VJP or a whole gradient reaches.
 *
 * The rates are measured, not looked up: OpenBLAS's speed at B x H x D shapes with small D is
 * well below its large-square peak, and that, not the nominal peak, is what a model can reach.
 */
#include "odegrad/models.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

odg_status odg_model_flops(const odg_model *m, double *f_flops, double *vjp_flops)
{
    if (m == NULL) {
        return ODG_EINVAL;
    }
    const double B = (double)m->B, D = (double)m->D;
    double f = 0, v = 0;
    if (m->opts.kind == ODG_MODEL_MLP) {
        const double H = (double)m->opts.H;
        f = 4 * B * D * H;   /* U = Z W1^T, F = Hh W2^T */
        v = 8 * B * D * H    /* gW2, Gu, gW1, Zbar */
            + 2 * B * D * H; /* U again: the VJP recomputes the hidden layer */
    } else if (m->opts.kind == ODG_MODEL_LINEAR) {
        f = 2 * B * D * D; /* F = Z A^T */
        v = 4 * B * D * D; /* Zbar = G A, gA = G^T Z */
    } else {
        return ODG_EINVAL;
    }
    if (f_flops != NULL) {
        *f_flops = f;
    }
    if (vjp_flops != NULL) {
        *vjp_flops = v;
    }
    return ODG_OK;
}

/* One GEMM to time: C (m, n) = alpha op(A) op(B) + beta C, row-major, with its leading
 * dimensions, as the models call it. */
typedef struct gemm_shape {
    int ta, tb; /* 1: transposed */
    int m, n, k;
    double beta;
} gemm_shape;

static void run_shape(const gemm_shape *g, const double *A, const double *Bm, double *C)
{
    const int lda = g->ta ? g->m : g->k, ldb = g->tb ? g->k : g->n;
    cblas_dgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
                g->m, g->n, g->k, 1.0, A, lda, Bm, ldb, g->beta, C, g->n);
}

/* Times the list of GEMMs run back to back, repeated until min_seconds have passed (at least 3
 * times, after one untimed warm-up), and returns GFLOP/s; 0.0 on bad input or no memory. */
static double time_shapes(const gemm_shape *g, int ns, double min_seconds)
{
    if (!(min_seconds >= 0) || !isfinite(min_seconds) || ns < 1) {
        return 0.0;
    }
    size_t na = 0, nb = 0, nc = 0;
    double flops = 0;
    for (int i = 0; i < ns; i++) {
        if (g[i].m < 1 || g[i].n < 1 || g[i].k < 1) {
            return 0.0;
        }
        const size_t m = (size_t)g[i].m, n = (size_t)g[i].n, k = (size_t)g[i].k;
        na = m * k > na ? m * k : na;
        nb = n * k > nb ? n * k : nb;
        nc = m * n > nc ? m * n : nc;
        flops += 2.0 * (double)m * (double)n * (double)k;
    }
    double *A = malloc(na * sizeof(double)), *Bm = malloc(nb * sizeof(double));
    double *C = calloc(nc, sizeof(double));
    double rate = 0.0;
    if (A == NULL || Bm == NULL || C == NULL) {
        goto out;
    }
    /* fixed, modest values: no denormals, no overflow however long it runs */
    for (size_t i = 0; i < na; i++) {
        A[i] = 1e-3 * (double)(i % 17) - 8e-3;
    }
    for (size_t i = 0; i < nb; i++) {
        Bm[i] = 1e-3 * (double)(i % 13) - 6e-3;
    }
    for (int i = 0; i < ns; i++) {
        run_shape(&g[i], A, Bm, C);
    }
    long reps = 0;
    const double t0 = odg_now();
    double el = 0;
    do {
        for (int i = 0; i < ns; i++) {
            run_shape(&g[i], A, Bm, C);
        }
        reps++;
        el = odg_now() - t0;
    } while (el < min_seconds || reps < 3);
    rate = flops * (double)reps / el * 1e-9;
out:
    free(A);
    free(Bm);
    free(C);
    return rate;
}

double odg_roofline_dgemm(size_t m, size_t n, size_t k, double min_seconds)
{
    if (m < 1 || n < 1 || k < 1 || m > INT_MAX || n > INT_MAX || k > INT_MAX) {
        return 0.0;
    }
    const gemm_shape g = {0, 1, (int)m, (int)n, (int)k, 1.0};
    return time_shapes(&g, 1, min_seconds);
}

double odg_roofline_model(const odg_model *m, double min_seconds)
{
    if (m == NULL) {
        return 0.0;
    }
    const int B = (int)m->B, D = (int)m->D;
    if (m->opts.kind == ODG_MODEL_MLP) {
        const int H = (int)m->opts.H;
        /* f: U, F; the VJP: U, gW2, Gu, gW1, Zbar (mlp.c, THREADED mode) */
        const gemm_shape g[] = {
            {0, 1, B, H, D, 1.0}, {0, 1, B, D, H, 1.0}, {0, 1, B, H, D, 1.0}, {1, 0, D, H, B, 1.0},
            {0, 0, B, H, D, 0.0}, {1, 0, H, D, B, 1.0}, {0, 0, B, D, H, 0.0},
        };
        return time_shapes(g, (int)(sizeof g / sizeof g[0]), min_seconds);
    }
    if (m->opts.kind == ODG_MODEL_LINEAR) {
        /* f: F; the VJP: Zbar, gA (linear.c) */
        const gemm_shape g[] = {{0, 1, B, D, D, 1.0}, {0, 0, B, D, D, 0.0}, {1, 0, D, D, B, 1.0}};
        return time_shapes(g, 3, min_seconds);
    }
    return 0.0;
}
