/* Storage strategies: which forward data a gradient method keeps, and how it gets back the data
 * it did not keep (docs/theory.md sections 5 and 6).  One strategy serves both gradient kinds: the
 * kind only chooses the payload kept per step.
 *
 *   every step   keep the payload of every step (backprop: the stages; the continuous adjoint:
 *                z, or z and f(z) for Hermite interpolation; backprop-steps: z)
 *   uniform      keep z every K steps; recompute a segment of K payloads when it is needed
 *   binomial     keep C states chosen by Revolve; recompute by the binomial schedule
 *   none         keep nothing (backsolve)
 *
 * The forward pass calls odg_store_put for steps n = 0 .. N-1 in order; the backward pass calls
 * odg_store_get for n = N-1 .. 0 in order (every-step and uniform also allow any order).
 */
#ifndef ODG_GRADIENTS_STORE_H
#define ODG_GRADIENTS_STORE_H

#include "odegrad/gradients.h"

typedef enum {
    ODG_PAY_STATE,       /* z_n                  (1 x M) */
    ODG_PAY_STATE_DERIV, /* z_n, f(t_n, z_n)     (2 x M) */
    ODG_PAY_STAGES       /* Z_1 .. Z_s of step n (s x M) */
} odg_payload;

typedef struct odg_store {
    odg_storage kind;
    odg_schedule schedule;
    odg_payload pay;
    size_t W; /* payload width in units of M */
    size_t M;
    long N;
    odg_mem *mem;
    odg_erk *erk; /* replays steps for recomputation */
    const odg_system *sys;
    const odg_grid *grid;

    double *all; /* every step: (N, W, M) */

    long C, K;      /* checkpoints (counting the one at t0) and, uniform, the interval */
    double *ck;     /* (C, M) */
    double *seg;    /* uniform: (K, W, M), the payloads of one segment */
    long seg_lo;    /* first step held in seg, -1 when none */
    long *ck_idx;   /* binomial: step index of each occupied slot, a stack */
    long nck;       /* binomial: occupied slots */
    long next_ck;   /* binomial: the step where the forward sweep takes its next snapshot */
    double *work;   /* binomial: the state being advanced (M) */
    double *work2;  /* binomial: the next state (M) */
    long work_idx;  /* binomial: step whose state is in work, -1 when none */

    long recomputed; /* steps recomputed */
    long extra_nfe;  /* f evaluations outside whole steps (a segment's last derivative) */
    long advances;   /* binomial: forward steps besides re-tapes, the forward sweep included */
} odg_store;

/* Sets up a strategy for N steps; allocates everything it will keep (stored data under the
 * tags tape, trajectory or checkpoint).  For checkpoints, C == 0 picks the default. */
odg_status odg_store_create(odg_store *s, odg_storage kind, odg_schedule schedule, long C,
                            odg_payload pay, size_t M, long N, odg_erk *erk,
                            const odg_system *sys, const odg_grid *grid, odg_mem *mem);
void odg_store_destroy(odg_store *s);

/* Forward pass: the step just taken (hook of odg_erk_run_grid). */
odg_status odg_store_put(odg_store *s, const odg_step_info *st);

/* Backward pass: *out points to step n's data, valid until the next call; *width says how much
 * of the payload it holds: s->W (everything), or 1 (z_n only: binomial).  */
odg_status odg_store_get(odg_store *s, long n, const double **out, size_t *width);

/* The payload a method keeps per step, and its width in units of M (1, 2 or the stages s). */
odg_payload odg_method_payload(const odg_grad_opts *o);
size_t odg_payload_width(odg_payload pay, const odg_tableau *tab);
/* The checkpoint count and uniform interval a configuration resolves to. */
void odg_store_resolve(odg_storage kind, odg_schedule schedule, long C, long N, long *C_out,
                       long *K_out);

#endif
