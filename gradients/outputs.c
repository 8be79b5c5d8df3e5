/* Losses over a time series: L = sum_k sum(w_k .* z(t_k)) / B over K output times t_k in
 * (t0, t1].  docs/theory.md section 1, "Output times".
 *
 * Every method puts the output times on its step grid (a fixed-step grid made of one uniform
 * segment per output interval, or an adaptive solve restarted at each output time), sums the
 * loss there in the forward pass, and adds w_k / B to the adjoint when the backward pass crosses
 * t_k: the cotangent of z(t_k) is the sum of what flows back from later times and of the loss's
 * own term.  With one output at t1 (nout == 0) all of this is the single-time loss, bit for bit.
 */
#include "outputs_impl.h"

#include <math.h>
#include <string.h>

double odg_outputs_bytes(const odg_problem *p)
{
    if (p->nout == 0) {
        return 0.0;
    }
    const double K = (double)p->nout, J = K + (p->tout[p->nout - 1] < p->t1 ? 1 : 0);
    return (J + 1) * sizeof(double) + J * sizeof(long) + K * sizeof(long);
}

odg_status odg_outputs_create(odg_outputs *o, const odg_problem *p, odg_mem *mem)
{
    memset(o, 0, sizeof *o);
    o->mem = mem;
    if (p->nout == 0) {
        o->K = o->J = 1;
        o->one_b[0] = p->t0;
        o->one_b[1] = p->t1;
        o->b = o->one_b;
        o->end = &o->one_end;
        o->node = &o->one_node;
        return ODG_OK;
    }
    o->K = p->nout;
    o->J = o->K + (p->tout[o->K - 1] < p->t1 ? 1 : 0);
    o->owned = 1;
    o->b = odg_mem_alloc(mem, ODG_TAG_WORKSPACE, (size_t)(o->J + 1) * sizeof(double));
    o->end = odg_mem_alloc(mem, ODG_TAG_WORKSPACE, (size_t)o->J * sizeof(long));
    o->node = odg_mem_alloc(mem, ODG_TAG_WORKSPACE, (size_t)o->K * sizeof(long));
    if (!o->b || !o->end || !o->node) {
        odg_outputs_destroy(o);
        return ODG_ENOMEM;
    }
    o->b[0] = p->t0;
    memcpy(o->b + 1, p->tout, (size_t)o->K * sizeof(double));
    o->b[o->J] = p->t1; /* the last output time, or t1 after it */
    return ODG_OK;
}

void odg_outputs_destroy(odg_outputs *o)
{
    if (o->owned) {
        odg_mem_free(o->mem, o->b);
        odg_mem_free(o->mem, o->end);
        odg_mem_free(o->mem, o->node);
    }
    o->b = NULL;
    o->end = o->node = NULL;
    o->owned = 0;
}

odg_status odg_outputs_fixed_grid(odg_outputs *o, const odg_problem *p, long N, odg_grid *g)
{
    if (N < o->J) {
        return ODG_EINVAL;
    }
    if (o->J == 1) {
        o->end[0] = N;
        o->node[0] = N;
        return odg_grid_uniform(g, NULL, p->t0, p->t1, N);
    }
    /* segment j ends at the node nearest N (b[j+1] - t0) / (t1 - t0), kept at least one step
     * after the previous end and leaving at least one step to each later segment */
    const double T = p->t1 - p->t0;
    for (long j = 0; j < o->J; j++) {
        long e = j == o->J - 1 ? N : (long)floor((double)N * ((o->b[j + 1] - p->t0) / T) + 0.5);
        long lo = (j > 0 ? o->end[j - 1] : 0) + 1, hi = N - (o->J - 1 - j);
        o->end[j] = e < lo ? lo : e > hi ? hi : e;
    }
    for (long k = 0; k < o->K; k++) {
        o->node[k] = o->end[k];
    }
    return odg_grid_segments(g, o->b, o->end, o->J);
}

odg_status odg_outputs_find(odg_outputs *o, const odg_problem *p, const odg_grid *g)
{
    long n = 0;
    for (long k = 0; k < o->K; k++) {
        double tk = p->nout == 0 ? p->t1 : p->tout[k];
        /* a node within a few ulps: an adaptive solve ends a segment at t + (t_k - t) */
        const double tol = 8 * 2.220446049250313e-16 * fmax(fabs(tk), 1.0);
        while (n <= g->N && odg_grid_t(g, n) < tk - tol) {
            n++;
        }
        if (n > g->N || fabs(odg_grid_t(g, n) - tk) > tol) {
            return ODG_EINVAL;
        }
        o->node[k] = n;
        o->end[k] = n;
    }
    o->end[o->J - 1] = g->N; /* the segment after the last output, if any */
    return ODG_OK;
}

odg_status odg_outputs_adaptive(odg_outputs *o, const odg_problem *p, odg_erk *e,
                                const odg_system *sys, double *z, const odg_erk_hook *hook,
                                odg_grid *grid)
{
    for (long j = 0; j < o->J; j++) {
        /* each solve continues the grid where the last one ended (odg_erk_run_adaptive), from
         * the node it ended on: within rounding of the output time, and exactly that node */
        double from = j == 0 ? o->b[0] : grid->t[grid->N];
        odg_status st = odg_erk_run_adaptive(e, sys, from, o->b[j + 1], &p->adapt, z, hook, grid);
        if (st) {
            return st;
        }
        o->end[j] = grid->N;
        if (j < o->K) {
            o->node[j] = grid->N;
        }
    }
    return ODG_OK;
}

double odg_outputs_loss(const odg_problem *p, long k, const double *z)
{
    const size_t M = p->model->B * p->model->D;
    const double *w = p->w + (size_t)k * M;
    double s = 0.0;
    for (size_t i = 0; i < M; i++) {
        s += w[i] * z[i];
    }
    return s / (double)p->model->B;
}

void odg_outputs_jump(const odg_problem *p, long k, double *lam)
{
    const size_t M = p->model->B * p->model->D;
    if (p->lamT && p->nout == 0) {
        for (size_t i = 0; i < M; i++) {
            lam[i] += p->lamT[i];
        }
        return;
    }
    const double *w = p->w + (size_t)k * M, B = (double)p->model->B;
    for (size_t i = 0; i < M; i++) {
        lam[i] += w[i] / B;
    }
}
