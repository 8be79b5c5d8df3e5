/* The roofline of docs/theory.md section 9: a model's flop counts (GEMMs only) and this machine's
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
#include <omp.h>
#include <stdlib.h>
#include <string.h>

odg_status odg_plugin_flops(const odg_model *m, double *f_flops, double *vjp_flops);

odg_status odg_model_flops(const odg_model *m, double *f_flops, double *vjp_flops)
{
    if (m == NULL) {
        return ODG_EINVAL;
    }
    if (m->opts.kind == ODG_MODEL_PLUGIN) {
        return odg_plugin_flops(m, f_flops, vjp_flops); /* the field's own count, if it has one */
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
    } else if (m->opts.kind == ODG_MODEL_CNF && m->opts.cnf_field == ODG_MODEL_MLP) {
        /* the mlp's GEMMs on z (D is the data's dimension), and with Hutchinson's trace the two
         * GEMMs of p and q, recomputed in the VJP, and the two of its parameter gradient */
        const double H = (double)m->opts.H, Dz = (double)m->opts.D;
        const double hutch = m->opts.trace == ODG_TRACE_HUTCHINSON;
        f = 4 * B * Dz * H + hutch * 4 * B * Dz * H;
        v = 10 * B * Dz * H + hutch * 8 * B * Dz * H;
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
 * dimensions, as the models call it.  batch_k: the batch is k (a sum over the batch, as in a
 * parameter gradient), else m (one row of C per sample). */
typedef struct gemm_shape {
    int ta, tb; /* 1: transposed */
    int m, n, k;
    double beta;
    int batch_k;
} gemm_shape;

static void run_shape(const gemm_shape *g, const double *A, const double *Bm, double *C)
{
    const int lda = g->ta ? g->m : g->k, ldb = g->tb ? g->k : g->n;
    cblas_dgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
                g->m, g->n, g->k, 1.0, A, lda, Bm, ldb, g->beta, C, g->n);
}

/* g with its batch dimension cut to `rows` */
static gemm_shape with_rows(const gemm_shape *g, int rows)
{
    gemm_shape c = *g;
    if (g->batch_k) {
        c.k = rows;
    } else {
        c.m = rows;
    }
    return c;
}

/* Operands big enough for every shape of the list, filled with fixed, modest values (no
 * denormals, no overflow however long it runs); 0, or -1 when memory runs out (all NULL). */
typedef struct operands {
    double *A, *B, *C;
} operands;

static int operands_make(operands *o, const gemm_shape *g, int ns)
{
    size_t na = 1, nb = 1, nc = 1;
    for (int i = 0; i < ns; i++) {
        const size_t m = (size_t)g[i].m, n = (size_t)g[i].n, k = (size_t)g[i].k;
        na = m * k > na ? m * k : na;
        nb = n * k > nb ? n * k : nb;
        nc = m * n > nc ? m * n : nc;
    }
    o->A = malloc(na * sizeof(double));
    o->B = malloc(nb * sizeof(double));
    o->C = calloc(nc, sizeof(double));
    if (o->A == NULL || o->B == NULL || o->C == NULL) {
        free(o->A);
        free(o->B);
        free(o->C);
        o->A = o->B = o->C = NULL;
        return -1;
    }
    for (size_t i = 0; i < na; i++) {
        o->A[i] = 1e-3 * (double)(i % 17) - 8e-3;
    }
    for (size_t i = 0; i < nb; i++) {
        o->B[i] = 1e-3 * (double)(i % 13) - 6e-3;
    }
    return 0;
}

static void operands_free(operands *o)
{
    free(o->A);
    free(o->B);
    free(o->C);
}

/* The list's flops, or 0.0 if a shape is empty. */
static double shapes_flops(const gemm_shape *g, int ns)
{
    double flops = 0;
    for (int i = 0; i < ns; i++) {
        if (g[i].m < 1 || g[i].n < 1 || g[i].k < 1) {
            return 0.0;
        }
        flops += 2.0 * (double)g[i].m * (double)g[i].n * (double)g[i].k;
    }
    return flops;
}

/* One pass over the list: rows == 0, every GEMM over the whole batch (OpenBLAS threads it);
 * otherwise the batch cut into chunks of `rows` (of `batch`), shared among the OpenMP threads, each
 * chunk's GEMMs single-threaded in its own thread's operands, as CHUNKED mode runs them. */
static void pass(const gemm_shape *g, int ns, int batch, int rows, operands *ops)
{
    if (rows == 0) {
        for (int i = 0; i < ns; i++) {
            run_shape(&g[i], ops[0].A, ops[0].B, ops[0].C);
        }
        return;
    }
    const int nch = (batch + rows - 1) / rows;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < nch; c++) {
        const operands *o = &ops[omp_get_thread_num()];
        const int n = batch - c * rows < rows ? batch - c * rows : rows;
        for (int i = 0; i < ns; i++) {
            const gemm_shape gc = with_rows(&g[i], n);
            run_shape(&gc, o->A, o->B, o->C);
        }
    }
}

/* Times passes over the list (pass()), repeated until min_seconds have passed (at least 3 times,
 * after one untimed warm-up), and returns GFLOP/s; 0.0 on bad input or no memory. */
static double time_shapes(const gemm_shape *g, int ns, int batch, int rows, double min_seconds)
{
    const double flops = shapes_flops(g, ns);
    if (!(min_seconds >= 0) || !isfinite(min_seconds) || ns < 1 || ns > 8 || flops == 0.0 ||
        rows < 0) {
        return 0.0;
    }
    const int nops = rows == 0 ? 1 : omp_get_max_threads();
    operands *ops = calloc((size_t)nops, sizeof *ops);
    gemm_shape sized[8];
    for (int i = 0; i < ns; i++) {
        sized[i] = rows == 0 ? g[i] : with_rows(&g[i], rows < batch ? rows : batch);
    }
    int fail = ops == NULL;
    for (int t = 0; t < nops && !fail; t++) {
        fail = operands_make(&ops[t], sized, ns) != 0;
    }
    double rate = 0.0;
    if (!fail) {
        pass(g, ns, batch, rows, ops);
        long reps = 0;
        const double t0 = odg_now();
        double el = 0;
        do {
            pass(g, ns, batch, rows, ops);
            reps++;
            el = odg_now() - t0;
        } while (el < min_seconds || reps < 3);
        rate = flops * (double)reps / el * 1e-9;
    }
    for (int t = 0; ops != NULL && t < nops; t++) {
        operands_free(&ops[t]);
    }
    free(ops);
    return rate;
}

double odg_roofline_dgemm(size_t m, size_t n, size_t k, double min_seconds)
{
    if (m < 1 || n < 1 || k < 1 || m > INT_MAX || n > INT_MAX || k > INT_MAX) {
        return 0.0;
    }
    const gemm_shape g = {0, 1, (int)m, (int)n, (int)k, 1.0, 0};
    return time_shapes(&g, 1, (int)m, 0, min_seconds);
}

odg_status odg_roofline_model_detail(const odg_model *m, double min_seconds, odg_roofline *out)
{
    if (m == NULL || out == NULL || m->B > INT_MAX || m->chunk > INT_MAX ||
        !(min_seconds >= 0) || !isfinite(min_seconds)) {
        return ODG_EINVAL;
    }
    const int B = (int)m->B, D = (int)m->D, rows = (int)m->chunk;
    gemm_shape g[8];
    int ns = 0;
    if (m->opts.kind == ODG_MODEL_MLP) {
        const int H = (int)m->opts.H;
        /* f: U, F; the VJP: U, gW2, Gu, gW1, Zbar (mlp.c) */
        const gemm_shape mlp[] = {
            {0, 1, B, H, D, 1.0, 0}, {0, 1, B, D, H, 1.0, 0}, {0, 1, B, H, D, 1.0, 0},
            {1, 0, D, H, B, 1.0, 1}, {0, 0, B, H, D, 0.0, 0}, {1, 0, H, D, B, 1.0, 1},
            {0, 0, B, D, H, 0.0, 0},
        };
        ns = (int)(sizeof mlp / sizeof mlp[0]);
        memcpy(g, mlp, sizeof mlp);
    } else if (m->opts.kind == ODG_MODEL_LINEAR) {
        /* f: F; the VJP: Zbar, gA (linear.c) */
        const gemm_shape lin[] = {
            {0, 1, B, D, D, 1.0, 0}, {0, 0, B, D, D, 0.0, 0}, {1, 0, D, D, B, 1.0, 1}};
        ns = 3;
        memcpy(g, lin, sizeof lin);
    } else {
        return ODG_EINVAL;
    }
    out->threaded_gflops = time_shapes(g, ns, B, 0, min_seconds);
    out->chunked_gflops = time_shapes(g, ns, B, rows, min_seconds);
    out->gflops =
        out->threaded_gflops > out->chunked_gflops ? out->threaded_gflops : out->chunked_gflops;
    return out->gflops > 0 ? ODG_OK : ODG_ENOMEM;
}

double odg_roofline_model(const odg_model *m, double min_seconds)
{
    odg_roofline r;
    return odg_roofline_model_detail(m, min_seconds, &r) == ODG_OK ? r.gflops : 0.0;
}
