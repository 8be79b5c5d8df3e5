/* Losses over a time series (docs/theory.md section 1, "Output times"): where the K output times
 * sit on a method's step grid, the loss summed over them, and the jumps they put into the
 * adjoint.  Shared by every driver (gradients/gradient.c, gradients/reversible.c). */
#ifndef ODG_GRADIENTS_OUTPUTS_IMPL_H
#define ODG_GRADIENTS_OUTPUTS_IMPL_H

#include "odegrad/gradients.h"

typedef struct odg_outputs {
    long K;     /* outputs: max(p->nout, 1) */
    long J;     /* segments of a fixed-step grid: one per output, and one more to t1 when the
                   last output is before it */
    double *b;  /* (J + 1) t0, the output times, t1 when after the last */
    long *end;  /* (J) the grid node that ends each segment */
    long *node; /* (K) the grid node of output k, increasing */
    odg_mem *mem;
    int owned; /* b, end, node allocated (nout > 0); else they point at one1 */
    double one_b[2];
    long one_end, one_node;
} odg_outputs;

/* Sets up the outputs of p (odg_grad_check has passed).  With nout == 0 (one output at t1)
 * nothing is allocated; else b, end and node, under ODG_TAG_WORKSPACE: odg_outputs_bytes. */
odg_status odg_outputs_create(odg_outputs *o, const odg_problem *p, odg_mem *mem);
void odg_outputs_destroy(odg_outputs *o);
double odg_outputs_bytes(const odg_problem *p);

/* The fixed-step grid of N steps that lands on every output time: N spread over the segments in
 * proportion to their lengths, at least one each (odg_grid_segments); with one segment exactly
 * odg_grid_uniform's grid, bit for bit.  Sets node.  ODG_EINVAL when N < J. */
odg_status odg_outputs_fixed_grid(odg_outputs *o, const odg_problem *p, long N, odg_grid *g);

/* The nodes of a replayed grid (p->grid): each output time must be a node exactly. */
odg_status odg_outputs_find(odg_outputs *o, const odg_problem *p, const odg_grid *g);

/* An adaptive solve that lands on every output time: odg_erk_run_adaptive from each output time
 * to the next, appending to grid; sets node. */
odg_status odg_outputs_adaptive(odg_outputs *o, const odg_problem *p, odg_erk *e,
                                const odg_system *sys, double *z, const odg_erk_hook *hook,
                                odg_grid *grid);

/* sum(w_k .* z) / B for output k, summed in index order: the loss is these, added in k order. */
double odg_outputs_loss(const odg_problem *p, long k, const double *z);

/* lam += dL/dz(t_k) = w_k / B (or p->lamT for the one output at t1): the adjoint's jump at
 * output k. */
void odg_outputs_jump(const odg_problem *p, long k, double *lam);

#endif
