/* odegrad gradients: the methods of docs/theory.md section 5 (a gradient kind crossed with a storage
 * strategy), the Van Loan reference of section 7, and the Revolve schedule of section 6. */
#ifndef ODEGRAD_GRADIENTS_H
#define ODEGRAD_GRADIENTS_H

#include "odegrad/models.h"
#include "odegrad/solvers.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- methods ------------------------------------------------------------------------------ */

typedef enum { ODG_KIND_DISCRETE, ODG_KIND_CONTINUOUS } odg_grad_kind;
typedef enum { ODG_STORAGE_ALL, ODG_STORAGE_STEPS, ODG_STORAGE_CHECKPOINTS, ODG_STORAGE_NONE } odg_storage;

typedef enum {
#define ODG_METHOD(e, name, kind, storage, desc) ODG_METHOD_##e,
#include "odegrad/methods.def"
#undef ODG_METHOD
    ODG_NMETHODS
} odg_method;

typedef enum {
#define ODG_SCHEDULE(e, name, desc) ODG_SCHEDULE_##e,
#include "odegrad/schedules.def"
#undef ODG_SCHEDULE
    ODG_NSCHEDULES
} odg_schedule;

typedef enum {
#define ODG_INTERP(e, name, desc) ODG_INTERP_##e,
#include "odegrad/interps.def"
#undef ODG_INTERP
    ODG_NINTERPS
} odg_interp;

const char *odg_method_name(odg_method m);
const char *odg_method_desc(odg_method m);
odg_grad_kind odg_method_kind(odg_method m);
odg_storage odg_method_storage(odg_method m);
odg_status odg_method_from_name(const char *name, odg_method *out);
/* What a method's settings mean for it, written once: odg_grad_check and the options table's
 * rules (harness/options.c) both ask these. */
int odg_method_keeps_checkpoints(odg_method m); /* a schedule and a checkpoint count */
int odg_method_interpolates(odg_method m);      /* an interpolation of z(t) between steps */
int odg_method_adaptive_adjoint(odg_method m);  /* can take its own adaptive adjoint steps */
const char *odg_schedule_name(odg_schedule s);
const char *odg_schedule_desc(odg_schedule s);
odg_status odg_schedule_from_name(const char *name, odg_schedule *out);
const char *odg_interp_name(odg_interp i);
const char *odg_interp_desc(odg_interp i);
odg_status odg_interp_from_name(const char *name, odg_interp *out);

/* The problem: dz/dt = f(z, t; theta) from z0 over [t0, t1], L = sum(w .* z(t1)) / B, or over K
 * output times L = sum_k sum(w_k .* z(t_k)) / B (docs/theory.md section 1, "Output times"). */
typedef struct odg_problem {
    odg_model *model;
    const odg_tableau *tab;
    double t0, t1;
    long steps;           /* N fixed steps; 0 = adaptive with `adapt` */
    odg_adapt_opts adapt; /* forward tolerances when steps == 0 */
    const double *z0;     /* (B, D) */
    const double *w;      /* (K, B, D) loss weights, K = max(nout, 1); L = sum(w .* z(t1)) / B */
    long nout;            /* K output times; 0: one, at t1 */
    const double *tout;   /* (K) increasing output times in (t0, t1] (nout > 0):
                             L = sum_k sum(w_k .* z(t_k)) / B.  Fixed steps put N steps on them
                             (each interval a uniform segment, at least one step), adaptive steps
                             restart at each of them */
    const odg_grid *grid; /* optional: replay exactly these steps (accepted steps as constants;
                             finite differences of an adaptive solve); overrides steps/adapt */
    const double *lamT;   /* optional (B, D), with nout == 0 only: the terminal cotangent
                             dL/dz(t1) to use instead of w / B (any loss); the reported loss is
                             still sum(w .* z) / B */
    /* optional, with nout == 0 only: a terminal loss of one's own, L = L(z(t1)) in place of
     * sum(w .* z(t1)) / B (w and lamT are then not read; w may be NULL).  Given zT (B, D),
     * writes *loss and, when lamT is not NULL, dL/dz(t1) into lamT (B, D), overwritten.
     * Returns 0 or an odg_status.  odg_cnf_nll is one. */
    int (*terminal)(void *ctx, const double *zT, size_t B, size_t D, double *loss, double *lamT);
    void *terminal_ctx;
} odg_problem;

/* The continuous normalizing flow's loss (a `terminal` of odg_problem; ctx unused): the state
 * rows are (z (D - 1 numbers), l) with l(t1) = -integral of tr(df/dz), and
 * L = mean over the batch of -log N(z; 0, I) + l = |z|^2 / 2 + (D - 1) log(2 pi) / 2 + l, the
 * negative log-likelihood of the data the flow started from; dL/dz = z / B, dL/dl = 1 / B. */
int odg_cnf_nll(void *ctx, const double *zT, size_t B, size_t D, double *loss, double *lamT);

typedef struct odg_grad_opts {
    odg_method method;
    odg_schedule schedule;
    long checkpoints;     /* checkpoint count C (incl. the one at t0); 0 = default: uniform
                             K = round(sqrt(N)), C = ceil(N / K); binomial C = ceil(log2 N) + 1 */
    odg_interp interp;    /* continuous adjoints only */
    double adj_rtol, adj_atol; /* > 0: the continuous adjoint takes its own adaptive steps
                                  (stored-adjoint and backsolve-adjoint); 0: it replays the
                                  forward steps backwards */
    int adj_seminorm;          /* with adj_rtol/adj_atol: the adjoint's error norm leaves out the
                                  parameter adjoint a_theta (Kidger, Chen & Lyons 2021, "Hey,
                                  that's not an ODE"): it feeds back into nothing, so its error
                                  need not limit the steps */
    double lambda;             /* reversible: the coupling lambda in (0, 1] of the two states
                                  (McCallum & Foster 2024); default 0.999 */
    int backsolve_reset;       /* backsolve-adjoint with output times: at each output time before
                                  t1, reset the backwards-integrated z to the forward value kept
                                  there (8 K M bytes), as torchdiffeq does */
    int keep_states;           /* reversible: keep every forward state (y_n, z_n) instead of
                                  reconstructing them (memory 16 N M bytes); the same discrete
                                  adjoint, so the gradient differs from the reconstructing one
                                  by the reconstruction's round-off only */
    int keep_activations;      /* the discrete methods (backprop, backprop-steps,
                                  backprop-checkpoint, reversible) with a model that has hidden
                                  activations (odg_model_act_size > 0, the mlp): keep each stage's
                                  activations from its forward evaluation for its VJP, B H
                                  doubles a stage, instead of recomputing them (one GEMM and one
                                  tanh pass a stage); the same gradient bit for bit */
} odg_grad_opts;

void odg_grad_opts_default(odg_grad_opts *o, odg_method m);

/* Checks a combination before anything runs; on ODG_EUNSUP or ODG_EINVAL, err says what is
 * wrong in words a user can act on ("--interp dense needs a scheme with dense output"). */
odg_status odg_grad_check(const odg_problem *p, const odg_grad_opts *o, char err[ODG_ERRLEN]);

typedef struct odg_grad_stats {
    long steps;            /* accepted forward steps N */
    long rejected;         /* rejected forward steps (adaptive) */
    long adj_steps;        /* steps of the adjoint integration */
    long nfe_forward;      /* f evaluations in the forward pass */
    long nfe_backward;     /* f evaluations in the backward pass (recomputation, backsolve) */
    long nvjp;             /* vector-Jacobian products (backward pass) */
    long recomputed_steps; /* forward steps recomputed in the backward pass, re-tapes included */
    long forward_steps;    /* forward steps that advance the state, the first sweep included,
                              Revolve's count (docs/theory.md): the step evaluated right before
                              its own reversal (a re-tape, a dense-output recomputation, the first
                              sweep's last step) is not counted, so it is N - 1 when every state
                              is kept and t(N, C) for binomial checkpoints, for every method */
    long revolve_advances; /* binomial: forward steps besides the re-tape before each reversal */
    long checkpoints;      /* checkpoints used (C), 0 when none */
    long interval;         /* uniform: steps between checkpoints (K) */
    double loss;           /* sum(w .* z(t1)) / B */
    double forward_s, backward_s;
    size_t peak[ODG_NTAGS]; /* accounted peak bytes per tag during the gradient */
    size_t peak_total;
    size_t stored_bytes;    /* accounted peak of what the method keeps for the backward pass
                               (tags tape, trajectory, checkpoint) */
    size_t workspace_bytes; /* accounted peak of its working buffers (tag workspace) */
    double theory_stored;   /* the closed form of the stored data (odg_theory_stored_bytes) */
    double recon_err;       /* reversible: the largest relative difference (max norm) between
                               the reconstructed initial states (y_0, z_0) and z(t0); NaN for
                               the other methods and with keep_states */
} odg_grad_stats;

/* The gradient of L by the chosen method: writes gtheta (P) and gz0 (B, D) (both
 * overwritten).  All memory comes from mem (which the caller may inspect for peaks; the stats
 * hold the peaks measured from entry).  Returns ODG_OK, ODG_ENOMEM (nothing leaked),
 * ODG_DIVERGED (a non-finite state), ODG_ESTEPS, ODG_EUNSUP/ODG_EINVAL (see odg_grad_check). */
odg_status odg_gradient(const odg_problem *p, const odg_grad_opts *o, odg_mem *mem,
                        double *gtheta, double *gz0, odg_grad_stats *stats);

/* The loss alone (one forward solve, nothing stored), for finite differences and references. */
odg_status odg_loss(const odg_problem *p, odg_mem *mem, double *loss);

/* The closed form of the data a method stores for the backward pass, in bytes, written from the
 * formulas of docs/theory.md ("Memory") and not from the allocating code: backprop 8 N s M,
 * backprop-steps 8 N M, stored-adjoint 8 N W M (W = 2 with Hermite interpolation, else 1),
 * uniform checkpoints 8 (ceil(N/K) + K W) M, binomial 8 C M, backsolve and reversible 0
 * (reversible with keep_states 16 N M); with keep_activations, plus the activations
 * 8 (s + 1) B H of one step (the engine's) and for backprop 8 N s B H more (the tape's).  A
 * double: it cannot overflow. */
double odg_theory_stored_bytes(const odg_problem *p, const odg_grad_opts *o, long N);

/* What odg_gradient allocates for a configuration with N steps (for adaptive steps, N accepted
 * ones), in bytes, exactly as its counting allocator sees it: the stored data (tags tape,
 * trajectory, checkpoint), the working buffers (tag workspace), and the peak of their sum over
 * the gradient.  The one memory model: the statistics, the harness's refusal of a
 * configuration that cannot fit and the fine reference's choice of method all use it.
 * Doubles, so that no configuration overflows it.  ODG_OK, or odg_grad_check's status. */
typedef struct odg_grad_memory {
    double stored, workspace, peak;
} odg_grad_memory;
odg_status odg_gradient_memory(const odg_problem *p, const odg_grad_opts *o, long N,
                               odg_grad_memory *m);

/* ---- references (docs/theory.md section 8) ----------------------------------------------------- */

/* E = exp(A), A and E (n x n) row-major (may not alias).  Scaling and squaring with the [13/13]
 * Pade approximant (Higham 2005, SIAM J. Matrix Anal. Appl. 26(4)); solves through LAPACKE.
 * ODG_EINVAL for a non-finite A, ODG_ENOMEM, ODG_DIVERGED if the result is not finite. */
odg_status odg_expm(size_t n, const double *A, double *E);

/* The exact continuous gradient for the linear model f = A z + b over t in [t0, t1] with
 * L = sum(w .* z(t1)) / B, by Van Loan's block exponential (1978).  A (D x D), b (D), z0 and w
 * (B x D), all row-major.  Writes loss, gA (D x D), gb (D), gz0 (B x D); any output may be NULL. */
odg_status odg_vanloan_linear(size_t D, size_t B, const double *A, const double *b,
                              const double *z0, const double *w, double t0, double t1,
                              double *loss, double *gA, double *gb, double *gz0);

/* ---- binomial checkpointing (Griewank & Walther, Revolve, ACM TOMS 26, 2000) --------------- */

/* The least number of forward steps that reverse l >= 1 steps with s >= 1 snapshots (counting
 * the one that holds the initial state), not counting the one re-taping of each step just
 * before its reversal: r l - binom(s + r, s + 1), r the least integer with binom(s + r, s) >= l.
 * Returns -1 if the result would overflow a long. */
long odg_revolve_cost(long l, int s);

/* With a snapshot at the start of a range of l >= 2 steps and s >= 2 snapshots counting it: how
 * many steps m (1 <= m < l) to advance before taking the next snapshot, so that
 * m + cost(l - m, s - 1) + cost(m, s) == cost(l, s) (an optimal split). */
long odg_revolve_split(long l, int s);

#ifdef __cplusplus
}
#endif
#endif
