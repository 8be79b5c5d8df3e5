/* Storage strategies: which forward data a gradient method keeps, and how it gets back the data
 * it did not keep (docs/theory.md sections 5 and 6).  One strategy serves both gradient kinds: the
 * kind only chooses the payload kept per step.  Each strategy is an ops table in a file of its own:
 *
 *   every step   store_steps.c     the payload of every step (backprop: the stages; backprop-steps
 *                                  and the continuous adjoint: z, or z and f(z) for Hermite)
 *   uniform      store_uniform.c   z every K steps; a segment of K payloads recomputed when needed
 *   binomial     store_binomial.c  C states placed by Revolve; recomputed by its schedule
 *   none         store_none.c      nothing (backsolve, and the loss alone)
 *
 * The forward pass calls odg_store_put for steps n = 0 .. N-1 in order, then odg_store_close; the
 * backward pass calls odg_store_get for n = N-1 .. 0 in order (every step and uniform also allow
 * any order).  A store created with N == 0 fills during an adaptive solve, whose step count is
 * known only when it ends ("online"); binomial cannot (Revolve places its snapshots from N), so an
 * adaptive solve hands it its accepted grid afterwards (odg_store_online says which).
 */
#ifndef ODG_GRADIENTS_STORE_H
#define ODG_GRADIENTS_STORE_H

#include "odegrad/gradients.h"

typedef enum {
    ODG_PAY_STATE,       /* z_n                  (1 x M) */
    ODG_PAY_STATE_DERIV, /* z_n, f(t_n, z_n)     (2 x M) */
    ODG_PAY_STAGES       /* Z_1 .. Z_s of step n (s x M) */
} odg_payload;

/* A table of pointers that grows without moving what it holds: chunk k has 64 << k entries, each
 * allocated when first needed (tag workspace).  Index n lives in chunk floor(log2(n/64 + 1)). */
#define ODG_PTAB_CHUNKS 40
typedef struct odg_ptab {
    double **chunk[ODG_PTAB_CHUNKS];
} odg_ptab;

typedef struct odg_store odg_store;

typedef struct odg_store_ops {
    const char *name;
    int online; /* can fill during an adaptive solve */
    odg_status (*create)(odg_store *s);
    odg_status (*put)(odg_store *s, const odg_step_info *st);
    odg_status (*close)(odg_store *s); /* the forward pass is over: N is s->N */
    odg_status (*get)(odg_store *s, long n, const double **out, size_t *width);
    void (*destroy)(odg_store *s);
} odg_store_ops;

struct odg_store {
    const odg_store_ops *ops;
    odg_storage kind;
    odg_schedule schedule;
    odg_payload pay;
    size_t W; /* payload width in units of M */
    size_t M;
    long N;     /* steps: given, or (online) counted by put */
    int online; /* created with N unknown */
    odg_mem *mem;
    odg_erk *erk; /* replays steps for recomputation */
    const odg_system *sys;
    const odg_grid *grid;

    /* every step */
    double *all;      /* (N, W, M) when N is known */
    odg_ptab steps;   /* online: one (W, M) block per step */
    size_t A;         /* kept activations per step (the stages' Ast, s na), 0: none */
    double *acts;     /* (N, A) when N is known (ODG_TAG_ACTIVATION) */
    odg_ptab act_steps; /* online: one (A) block per step */
    /* uniform */
    long C, K;        /* checkpoints (counting the one at t0) and the interval between them */
    long cap;         /* uniform: the slots it may hold */
    long nslots;      /* uniform: slots allocated so far */
    double **slot;    /* uniform: (cap) states, slot i holding z_{i K} */
    double *seg;      /* uniform: (K, W, M), the payloads of one segment */
    long seg_lo;      /* first step held in seg, -1 when none */
    /* binomial */
    double *ck;       /* (C, M) */
    long *ck_idx;     /* step index of each occupied slot, a stack */
    long nck;         /* occupied slots */
    long next_ck;     /* the step where the forward sweep takes its next snapshot */
    double *work;     /* the state being advanced (M) */
    double *work2;    /* the next state (M) */
    long work_idx;    /* step whose state is in work, -1 when none */

    long recomputed; /* steps recomputed */
    long extra_nfe;  /* f evaluations outside whole steps (a segment's last derivative) */
    long advances;   /* binomial: forward steps besides re-tapes, the forward sweep included */
};

extern const odg_store_ops odg_store_steps_ops, odg_store_uniform_ops, odg_store_binomial_ops,
    odg_store_none_ops;

/* A: activation doubles kept per step beside the payload (the every-step store with the stages
 * payload only; 0 otherwise).
 * Sets up a strategy for N steps (N == 0: online, for an adaptive solve); allocates what it keeps
 * (stored data under the tags tape, trajectory or checkpoint) when it is known.  For checkpoints,
 * C == 0 picks the default. */
odg_status odg_store_create(odg_store *s, odg_storage kind, odg_schedule schedule, long C,
                            odg_payload pay, size_t M, size_t A, long N, odg_erk *erk,
                            const odg_system *sys, const odg_grid *grid, odg_mem *mem);
void odg_store_destroy(odg_store *s);
/* Whether a strategy can fill during an adaptive solve. */
int odg_store_online(odg_storage kind, odg_schedule schedule);

/* Forward pass: the step just taken (hook of odg_erk_run_grid and odg_erk_run_adaptive). */
odg_status odg_store_put(odg_store *s, const odg_step_info *st);
/* The forward pass is over (online: N is now known, and what depends on it is allocated). */
odg_status odg_store_close(odg_store *s);

/* Backward pass: *out points to step n's data, valid until the next call; *width says how much
 * of the payload it holds: s->W (everything), or 1 (z_n only: binomial).  */
odg_status odg_store_get(odg_store *s, long n, const double **out, size_t *width);
/* Step n's kept activations (A doubles: the stages' Ast), or NULL when the store keeps none
 * (A == 0; only the every-step store keeps them, with the stages payload). */
const double *odg_store_acts(odg_store *s, long n);
/* Where step n's activations are to be written in place during the forward pass (the engine's
 * hook asks, odg_erk_hook.acts), or NULL where the store copies them in put (online) or keeps
 * none. */
double *odg_store_act_dest(odg_store *s, long n);

/* The payload a method keeps per step, and its width in units of M (1, 2 or the stages s). */
odg_payload odg_method_payload(const odg_grad_opts *o);
size_t odg_payload_width(odg_payload pay, const odg_tableau *tab);
/* The checkpoint count and uniform interval a configuration resolves to; adaptive: the online
 * rule (uniform: the least power-of-two interval that fits C slots, C = ODG_ONLINE_SLOTS unless
 * given).  Online, C is the slots allocated, min(N, C). */
void odg_store_resolve(odg_storage kind, odg_schedule schedule, long C, long N, int adaptive,
                       long *C_out, long *K_out);
#define ODG_ONLINE_SLOTS 16

/* Shared by the strategies (store.c). */
odg_tag odg_store_tag(const odg_store *s);
void odg_store_pack(const odg_store *s, const odg_step_info *st, double *dst);
odg_status odg_store_replay(odg_store *s, long n, const double *z, double *znext,
                            odg_step_info *st);
double **odg_ptab_at(odg_ptab *t, long n, odg_mem *mem); /* the entry, its chunk allocated */
void odg_ptab_free(odg_ptab *t, odg_mem *mem, int free_entries);
/* Bytes of the chunks that hold entries 0 .. n-1. */
size_t odg_ptab_bytes(long n);

#endif
