/* The gradient methods: a gradient kind (discrete or continuous) crossed with a storage strategy
 * (store.h).  docs/theory.md sections 3 (discrete adjoint), 4 (continuous adjoint) and 5 (the matrix).
 *
 * odg_gradient runs one forward pass, handing each step to the method's store: over a uniform or
 * given grid, or during the adaptive solve itself (binomial checkpoints, which need the step count
 * to place their snapshots, replay the solve's accepted grid instead).  Then one of three backward
 * drivers (backward.c): the discrete adjoint, the interpolated continuous adjoint, or backsolve.
 * The reversible method runs its own forward and backward passes (gradients/reversible.c).
 */
#include "backward.h"
#include "outputs_impl.h"
#include "reversible_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- the model as a system ---------------------------------------------------------------- */

static int model_f(void *ctx, double t, const double *y, double *dy)
{
    return odg_model_f(ctx, t, y, dy);
}

static int model_vjp(void *ctx, double t, const double *y, const double *g, double *ybar,
                     double *gp)
{
    return odg_model_vjp(ctx, t, y, g, ybar, gp);
}

static int model_f_act(void *ctx, double t, const double *y, double *dy, double *act)
{
    return odg_model_f_act(ctx, t, y, dy, act);
}

static int model_vjp_act(void *ctx, double t, const double *y, const double *act, const double *g,
                         double *ybar, double *gp)
{
    return odg_model_vjp_act(ctx, t, y, act, g, ybar, gp);
}

odg_system odg_model_system(odg_model *model, int keep_activations)
{
    odg_system sys = {model->B * model->D, model->P, model, model_f, model_vjp, 0, NULL, NULL};
    if (keep_activations) {
        sys.na = odg_model_act_size(model);
        sys.f_act = model_f_act;
        sys.vjp_act = model_vjp_act;
    }
    return sys;
}

size_t odg_grad_act_size(const odg_problem *p, const odg_grad_opts *o)
{
    return o->keep_activations ? odg_model_act_size(p->model) : 0;
}

/* ---- names, options, checks --------------------------------------------------------------- */

void odg_grad_opts_default(odg_grad_opts *o, odg_method m)
{
    memset(o, 0, sizeof *o);
    o->method = m;
    o->schedule = ODG_SCHEDULE_UNIFORM;
    o->interp = ODG_INTERP_HERMITE;
    o->lambda = 0.999;
}

static odg_status fail_msg(char err[ODG_ERRLEN], odg_status st, const char *msg)
{
    if (err) {
        snprintf(err, ODG_ERRLEN, "%s", msg);
    }
    return st;
}

odg_status odg_grad_check(const odg_problem *p, const odg_grad_opts *o, char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    if (!p || !o || !p->model || !p->tab || !p->z0 || (!p->w && !p->terminal)) {
        return fail_msg(err, ODG_EINVAL, "incomplete problem");
    }
    if (!isfinite(p->t0) || !isfinite(p->t1) || !(p->t1 > p->t0)) {
        return fail_msg(err, ODG_EINVAL, "the end time must be finite and after the start");
    }
    if (o->method < 0 || o->method >= ODG_NMETHODS) {
        return fail_msg(err, ODG_EINVAL, "unknown method");
    }
    if (p->steps < 0) {
        return fail_msg(err, ODG_EINVAL, "the step count must be positive");
    }
    if (p->nout < 0 || (p->nout > 0 && !p->tout)) {
        return fail_msg(err, ODG_EINVAL, "incomplete output times");
    }
    for (long k = 0; k < p->nout; k++) {
        double prev = k > 0 ? p->tout[k - 1] : p->t0;
        if (!isfinite(p->tout[k]) || !(p->tout[k] > prev) || !(p->tout[k] <= p->t1)) {
            return fail_msg(err, ODG_EINVAL,
                            "the output times must increase, after the start and not after the "
                            "end time");
        }
    }
    if (p->nout > 0 && p->lamT) {
        return fail_msg(err, ODG_EINVAL, "a terminal cotangent needs the one output at t1");
    }
    if (p->terminal && p->nout > 0) {
        return fail_msg(err, ODG_EINVAL, "a terminal loss of one's own needs the one output at t1");
    }
    if (p->steps > 0 && !p->grid &&
        p->steps < p->nout + (p->nout > 0 && p->tout[p->nout - 1] < p->t1 ? 1 : 0)) {
        return fail_msg(err, ODG_EINVAL,
                        "fewer steps than output intervals: each needs at least one step");
    }
    if (o && o->backsolve_reset && o->method != ODG_METHOD_BACKSOLVE_ADJOINT) {
        return fail_msg(err, ODG_EUNSUP, "resetting the state applies only to backsolve-adjoint");
    }
    if (p->grid && p->grid->N < 1) {
        return fail_msg(err, ODG_EINVAL, "an empty step grid");
    }
    if (p->steps == 0 && !p->grid) {
        if (!odg_tableau_adaptive(p->tab)) {
            char list[ODG_ERRLEN / 2];
            odg_schemes_where(list, sizeof list, odg_tableau_adaptive);
            return odg_fail(err, ODG_EUNSUP,
                            "adaptive steps need a scheme with an embedded error estimate (%s)",
                            list);
        }
        if (!(p->adapt.rtol >= 0) || !(p->adapt.atol >= 0) || !isfinite(p->adapt.rtol) ||
            !isfinite(p->adapt.atol) || (p->adapt.rtol == 0 && p->adapt.atol == 0)) {
            return fail_msg(err, ODG_EINVAL, "tolerances must be finite, >= 0, not both 0");
        }
    }
    if (o->method == ODG_METHOD_REVERSIBLE) {
        odg_status rst = odg_reversible_check(p, o, err);
        if (rst) {
            return rst;
        }
    } else if (o->keep_states) {
        return fail_msg(err, ODG_EUNSUP, "keeping the states applies only to reversible");
    }
    if (o->keep_activations) {
        if (odg_method_kind(o->method) != ODG_KIND_DISCRETE) {
            return odg_fail(err, ODG_EUNSUP,
                            "keeping the activations applies only to the discrete methods, not "
                            "%s: a continuous adjoint evaluates its VJPs at points the forward "
                            "pass never computed",
                            odg_method_name(o->method));
        }
        if (odg_model_act_size(p->model) == 0) {
            return odg_fail(err, ODG_EUNSUP,
                            "keeping the activations needs a model with hidden activations, not "
                            "%s",
                            odg_model_kind_name(p->model->opts.kind));
        }
    }
    if (o->checkpoints < 0) {
        return fail_msg(err, ODG_EINVAL, "the checkpoint count must be positive");
    }
    if (o->checkpoints > 0 && !odg_method_keeps_checkpoints(o->method)) {
        return fail_msg(err, ODG_EUNSUP,
                        "a checkpoint count applies only to backprop-checkpoint and "
                        "checkpoint-adjoint");
    }
    if (o->schedule < 0 || o->schedule >= ODG_NSCHEDULES || o->interp < 0 ||
        o->interp >= ODG_NINTERPS) {
        return fail_msg(err, ODG_EINVAL, "unknown schedule or interpolation");
    }
    if (odg_method_interpolates(o->method) && o->interp == ODG_INTERP_DENSE &&
        !odg_tableau_dense(p->tab)) {
        char list[ODG_ERRLEN / 2];
        odg_schemes_where(list, sizeof list, odg_tableau_dense);
        return odg_fail(err, ODG_EUNSUP,
                        "dense interpolation needs a scheme with dense output (%s), not %s", list,
                        p->tab->name);
    }
    if (!(o->adj_rtol >= 0) || !(o->adj_atol >= 0)) {
        return fail_msg(err, ODG_EINVAL, "adjoint tolerances must be >= 0");
    }
    if (o->adj_rtol > 0 || o->adj_atol > 0) {
        if (!odg_method_adaptive_adjoint(o->method)) {
            return fail_msg(err, ODG_EUNSUP,
                            "adjoint tolerances apply only to the continuous adjoints");
        }
        if (odg_method_keeps_checkpoints(o->method) && o->schedule == ODG_SCHEDULE_BINOMIAL) {
            return fail_msg(err, ODG_EUNSUP,
                            "the binomial schedule serves states in descending order only: the "
                            "adjoint's own steps over checkpoints need the uniform schedule");
        }
        if (!odg_tableau_adaptive(p->tab)) {
            return fail_msg(err, ODG_EUNSUP,
                            "adjoint tolerances need a scheme with an embedded error estimate");
        }
    }
    return ODG_OK;
}

/* What the method keeps per step. */
odg_payload odg_method_payload(const odg_grad_opts *o)
{
    if (odg_method_kind(o->method) == ODG_KIND_DISCRETE) {
        return odg_method_storage(o->method) == ODG_STORAGE_ALL ? ODG_PAY_STAGES : ODG_PAY_STATE;
    }
    return o->interp == ODG_INTERP_HERMITE ? ODG_PAY_STATE_DERIV : ODG_PAY_STATE;
}

/* The outputs before t1: where backsolve-adjoint with resets keeps z. */
static long resets_of(const odg_problem *p, const odg_grad_opts *o)
{
    if (!o->backsolve_reset || p->nout == 0) {
        return 0;
    }
    return p->nout - (p->tout[p->nout - 1] < p->t1 ? 0 : 1);
}

/* ---- memory: what each method allocates, and the closed form of what it stores ------------- */

/* Whether the forward pass solves adaptively (and so builds its grid as it goes). */
static int adaptive_forward(const odg_problem *p)
{
    return !p->grid && p->steps == 0;
}

/* Whether the store fills during the adaptive solve (else the solve's grid is replayed). */
static int one_pass(const odg_problem *p, const odg_grad_opts *o)
{
    return adaptive_forward(p) && odg_store_online(odg_method_storage(o->method), o->schedule);
}

/* The forward engine's parts: the discrete methods keep a step's stage inputs (backprop's tape,
 * or the re-tape of a step) and run the discrete adjoint; the continuous ones need neither. */
static unsigned forward_parts(const odg_problem *p, const odg_grad_opts *o)
{
    unsigned parts = adaptive_forward(p) ? ODG_ERK_ADAPTIVE : 0;
    if (odg_method_kind(o->method) == ODG_KIND_DISCRETE) {
        parts |= ODG_ERK_TAPE | ODG_ERK_ADJOINT;
    }
    /* backprop over a grid known beforehand writes every step's activations into its tape in
     * place (fwd_acts): the engine needs no rows of its own */
    if (o->method == ODG_METHOD_BACKPROP && !adaptive_forward(p)) {
        parts |= ODG_ERK_ACTS_HOOKED;
    }
    return parts;
}

/* The adaptive grid's first capacity; it doubles when full (solvers/erk.c). */
#define GRID_CAP0 64

/* The counting allocator's view, replayed: current and peak bytes of the stored data and the
 * workspace, and the peak of their sum. */
typedef struct ledger {
    double st, ws, st_peak, ws_peak, peak;
} ledger;

static void ledger_add(ledger *l, double stored, double workspace)
{
    l->st += stored;
    l->ws += workspace;
    l->st_peak = fmax(l->st_peak, l->st);
    l->ws_peak = fmax(l->ws_peak, l->ws);
    l->peak = fmax(l->peak, l->st + l->ws);
}

static double grid_bytes(double cap)
{
    return (2 * cap + 1) * sizeof(double); /* t (cap + 1) and h (cap) */
}

odg_status odg_gradient_memory(const odg_problem *p, const odg_grad_opts *o, long N,
                               odg_grad_memory *m)
{
    memset(m, 0, sizeof *m);
    odg_status st = odg_grad_check(p, o, NULL);
    if (st) {
        return st;
    }
    if (N < 1) {
        return ODG_EINVAL;
    }
    if (o->method == ODG_METHOD_REVERSIBLE) {
        odg_reversible_memory(p, o, N, m);
        return ODG_OK;
    }
    const odg_tableau *tab = p->tab;
    const double d = sizeof(double), M = (double)p->model->B * (double)p->model->D;
    const odg_storage kind = odg_method_storage(o->method);
    const double WM = (double)odg_payload_width(odg_method_payload(o), tab) * M;
    /* kept activations: the engine's (one step) are stored data; backprop's tape keeps every
     * step's too, A numbers a step */
    const size_t na = odg_grad_act_size(p, o);
    const double A = odg_method_payload(o) == ODG_PAY_STAGES ? (double)tab->s * (double)na : 0;
    const int adaptive = adaptive_forward(p), online = one_pass(p, o);
    long C, K;
    odg_store_resolve(kind, o->schedule, o->checkpoints, N, online, &C, &K);
    const long cap = o->checkpoints > 0 ? o->checkpoints : ODG_ONLINE_SLOTS; /* online slots */

    /* in the order odg_gradient allocates: z and lam, the forward engine, the outputs, the
     * resets' states, the grid */
    ledger l = {0};
    /* (with a terminal loss of one's own, a third M-vector: its cotangent) */
    ledger_add(&l, (double)odg_erk_act_bytes(tab, na, forward_parts(p, o)),
               (p->terminal ? 3 : 2) * M * d +
                   (double)odg_erk_workspace_bytes(tab, (size_t)M, forward_parts(p, o)));
    ledger_add(&l, 0, odg_outputs_bytes(p));
    if (o->method == ODG_METHOD_BACKSOLVE_ADJOINT) {
        ledger_add(&l, (double)resets_of(p, o) * M * d, 0);
    }
    if (p->grid && p->grid->t) {
        ledger_add(&l, 0, grid_bytes((double)p->grid->N));
    }
    /* the store's own allocations before the forward pass */
    int uniform = kind == ODG_STORAGE_CHECKPOINTS && o->schedule == ODG_SCHEDULE_UNIFORM;
    if (online) {
        ledger_add(&l, 0, uniform ? (double)cap * sizeof(double *) : 0);
    }
    if (adaptive) {
        /* the solve: each accepted step is pushed on the grid (which doubles when full, holding
         * the old arrays and the new ones at once), then, in one pass, handed to the store */
        double gcap = GRID_CAP0;
        ledger_add(&l, 0, grid_bytes(gcap));
        long chunk_end = 0, chunk = 64;
        for (long n = 0; n < N; n++) {
            if (n == (long)gcap) {
                ledger_add(&l, 0, grid_bytes(2 * gcap));
                ledger_add(&l, 0, -grid_bytes(gcap));
                gcap *= 2;
            }
            if (!online) {
                continue;
            }
            if (kind == ODG_STORAGE_ALL || kind == ODG_STORAGE_STEPS) {
                const int new_chunk = n == chunk_end; /* the pointer tables' next chunk */
                if (new_chunk) {
                    ledger_add(&l, 0, (double)chunk * sizeof(double *));
                }
                ledger_add(&l, WM * d, 0);
                if (A > 0) { /* the activations' own pointer table and block */
                    ledger_add(&l, 0, new_chunk ? (double)chunk * sizeof(double *) : 0);
                    ledger_add(&l, A * d, 0);
                }
                if (new_chunk) {
                    chunk_end += chunk;
                    chunk *= 2;
                }
            } else if (uniform && n < cap) {
                ledger_add(&l, M * d, 0); /* slot n, filled while the interval is 1 */
            }
        }
        if (online && uniform) {
            ledger_add(&l, (double)K * WM * d, 0); /* the segment, once K is known */
        }
    }
    if (!online) {
        /* the store, created with N known */
        switch (kind) {
        case ODG_STORAGE_ALL:
        case ODG_STORAGE_STEPS:
            ledger_add(&l, (double)N * (WM + A) * d, 0);
            break;
        case ODG_STORAGE_CHECKPOINTS:
            if (uniform) {
                ledger_add(&l, (double)C * M * d + (double)K * WM * d, 0);
            } else { /* the states, the stack of their indices and two states */
                ledger_add(&l, (double)C * M * d, (double)C * sizeof(long) + 2 * M * d);
            }
            break;
        case ODG_STORAGE_NONE:
            break;
        }
    }
    /* the backward driver's buffers */
    ledger_add(&l, 0, (double)odg_backward_bytes(p, o));
    m->stored = l.st_peak;
    m->workspace = l.ws_peak;
    m->peak = l.peak;
    return ODG_OK;
}

/* The states part of odg_theory_stored_bytes. */
static double theory_states(const odg_problem *p, const odg_grad_opts *o, long N);

double odg_theory_stored_bytes(const odg_problem *p, const odg_grad_opts *o, long N)
{
    /* kept activations, B H numbers a stage: the engine's s + 1 rows (a step's stages and the
     * next step's first), only the last with fixed-step backprop, whose steps write theirs into
     * the tape, and backprop's tape N s more */
    const double Nd = (double)N, s = p->tab->s, BH = (double)odg_grad_act_size(p, o);
    const int backprop = o->method == ODG_METHOD_BACKPROP;
    const double engine = backprop && !adaptive_forward(p) ? 1 : s + 1;
    const double act = 8 * engine * BH + (backprop ? 8 * Nd * s * BH : 0);
    return act + theory_states(p, o, N);
}

static double theory_states(const odg_problem *p, const odg_grad_opts *o, long N)
{
    /* docs/theory.md, "Memory": written from the formulas, not from the store's code, so that
     * the two can be checked against each other */
    const double Nd = (double)N, M = (double)p->model->B * (double)p->model->D, s = p->tab->s;
    const int hermite = o->interp == ODG_INTERP_HERMITE;
    const double Wc = hermite ? 2 : 1; /* a continuous adjoint keeps z, and f(z) for Hermite */
    switch (o->method) {
    case ODG_METHOD_BACKPROP:
        return 8 * Nd * s * M; /* every stage input of every step */
    case ODG_METHOD_BACKPROP_STEPS:
        return 8 * Nd * M; /* every step's state */
    case ODG_METHOD_STORED_ADJOINT:
        return 8 * Nd * Wc * M;
    case ODG_METHOD_BACKPROP_CHECKPOINT:
    case ODG_METHOD_CHECKPOINT_ADJOINT: {
        double W = o->method == ODG_METHOD_BACKPROP_CHECKPOINT ? 1 : Wc;
        double C = (double)o->checkpoints;
        if (o->schedule == ODG_SCHEDULE_UNIFORM && !p->grid && p->steps == 0) {
            /* adaptive steps, N unknown while the store fills: C slots (16 unless given), the
             * interval doubled until ceil(N/K) fit them, so the least power of two that does;
             * min(N, C) slots filled, and one segment of K payloads */
            double slots = C > 0 ? C : 16, K = 1;
            while (ceil(Nd / K) > slots) {
                K *= 2;
            }
            return 8 * (fmin(Nd, slots) + K * W) * M;
        }
        if (o->schedule == ODG_SCHEDULE_UNIFORM) {
            /* states every K steps, and one segment of K payloads recomputed; K = round(sqrt N)
             * minimises C + K, or the least K that needs at most the C given */
            double K = C > 0 ? ceil(Nd / C) : floor(sqrt(Nd) + 0.5);
            K = K < 1 ? 1 : K;
            return 8 * (ceil(Nd / K) + K * W) * M;
        }
        /* binomial: C states, by default ceil(log2 N) + 1, never more than N */
        if (C <= 0) {
            C = ceil(log2(Nd)) + 1;
        }
        return 8 * fmin(C, Nd) * M;
    }
    case ODG_METHOD_REVERSIBLE:
        /* nothing, or with keep_states the pair (y_n, z_n) of every step */
        return o->keep_states ? 16 * Nd * M : 0;
    case ODG_METHOD_BACKSOLVE_ADJOINT:
    default:
        /* nothing that grows with N; with resets z at each output time before t1 */
        return 8 * (double)resets_of(p, o) * M;
    }
}

/* ---- the forward pass and the drivers ------------------------------------------------------ */

/* sum(w .* z) / B, summed in index order. */
static double loss_of(const double *w, const double *z, size_t M, size_t B)
{
    double s = 0.0;
    for (size_t i = 0; i < M; i++) {
        s += w[i] * z[i];
    }
    return s / (double)B;
}

/* What the forward pass does after each step: hand it to the store, and at an output node add
 * the loss's term there (and for backsolve with resets keep the state). */
typedef struct fwd_hook_ctx {
    odg_store *store; /* NULL: nothing kept per step */
    const odg_problem *p;
    const odg_outputs *out;
    long kc;     /* the next output */
    double loss; /* the loss's terms so far, in output order */
    double *zk;  /* backsolve's resets: z at the outputs before t1, (nreset, M); or NULL */
    long nreset;
    size_t M;
} fwd_hook_ctx;

static int fwd_hook(void *ctx, const odg_step_info *st)
{
    fwd_hook_ctx *c = ctx;
    if (c->store) {
        int rc = odg_store_put(c->store, st);
        if (rc) {
            return rc;
        }
    }
    if (c->kc < c->out->K && c->out->node[c->kc] == st->n + 1) {
        if (!c->p->terminal) {
            c->loss += odg_outputs_loss(c->p, c->kc, st->znext);
        }
        if (c->zk && c->kc < c->nreset) {
            memcpy(c->zk + (size_t)c->kc * c->M, st->znext, c->M * sizeof(double));
        }
        c->kc++;
    }
    return 0;
}

/* Where the forward pass writes step n's activations: in place in the store when it can. */
static double *fwd_acts(void *ctx, long n)
{
    fwd_hook_ctx *c = ctx;
    return c->store ? odg_store_act_dest(c->store, n) : NULL;
}

odg_status odg_loss(const odg_problem *p, odg_mem *mem, double *loss)
{
    odg_grad_opts o;
    odg_grad_opts_default(&o, ODG_METHOD_BACKSOLVE_ADJOINT);
    odg_status st = odg_grad_check(p, &o, NULL);
    if (st) {
        return st;
    }
    size_t M = p->model->B * p->model->D;
    odg_erk *erk = NULL;
    odg_grid grid = {0};
    odg_outputs out = {0};
    double *z = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M);
    st = z ? odg_erk_create_parts(&erk, p->tab, M, p->model->P,
                                  adaptive_forward(p) ? ODG_ERK_ADAPTIVE : 0, mem)
           : ODG_ENOMEM;
    if (st) {
        goto done;
    }
    odg_system sys = odg_model_system(p->model, 0);
    memcpy(z, p->z0, M * sizeof(double));
    if (p->nout == 0 && !p->grid && p->steps == 0) {
        /* one output at t1: no grid needed */
        st = odg_erk_run_adaptive(erk, &sys, p->t0, p->t1, &p->adapt, z, NULL, NULL);
        if (!st && !p->terminal) {
            *loss = loss_of(p->w, z, M, p->model->B);
        }
        goto terminal;
    }
    st = odg_outputs_create(&out, p, mem);
    if (st) {
        goto done;
    }
    fwd_hook_ctx hc = {NULL, p, &out, 0, 0.0, NULL, 0, M};
    odg_erk_hook hook = {&hc, fwd_hook, NULL};
    if (p->grid) {
        st = odg_outputs_find(&out, p, p->grid);
        if (!st) {
            st = odg_erk_run_grid(erk, &sys, p->grid, z, &hook);
        }
    } else if (p->steps > 0) {
        st = odg_outputs_fixed_grid(&out, p, p->steps, &grid);
        if (!st) {
            st = odg_erk_run_grid(erk, &sys, &grid, z, &hook);
        }
    } else {
        st = odg_grid_init(&grid, mem, GRID_CAP0);
        if (!st) {
            st = odg_outputs_adaptive(&out, p, erk, &sys, z, &hook, &grid);
        }
    }
    if (!st) {
        *loss = hc.loss;
    }
terminal:
    if (!st && p->terminal) {
        st = (odg_status)p->terminal(p->terminal_ctx, z, p->model->B, p->model->D, loss, NULL);
    }
done:
    odg_outputs_destroy(&out);
    odg_grid_free(&grid);
    odg_erk_destroy(&erk);
    odg_mem_free(mem, z);
    return st;
}


odg_status odg_gradient(const odg_problem *p, const odg_grad_opts *o, odg_mem *mem,
                        double *gtheta, double *gz0, odg_grad_stats *stats)
{
    odg_grad_stats dummy;
    odg_grad_stats *S = stats ? stats : &dummy;
    memset(S, 0, sizeof *S);
    S->recon_err = NAN;
    odg_status st = odg_grad_check(p, o, NULL);
    if (st) {
        return st;
    }
    if (o->method == ODG_METHOD_REVERSIBLE) {
        return odg_reversible_gradient(p, o, mem, gtheta, gz0, S);
    }
    odg_model *model = p->model;
    size_t M = model->B * model->D, P = model->P, d = sizeof(double);
    odg_storage storage = odg_method_storage(o->method);
    const int adaptive = adaptive_forward(p), online = one_pass(p, o);

    size_t base[ODG_NTAGS], base_total = mem->cur_total;
    memcpy(base, mem->cur, sizeof base);
    odg_mem_reset_peak(mem);

    odg_erk *erk = NULL;
    odg_grid grid = {0};
    odg_store store = {0};
    const odg_system sys = odg_model_system(model, o->keep_activations);
    const size_t na = sys.na;
    odg_outputs out = {0};
    const long nreset = o->method == ODG_METHOD_BACKSOLVE_ADJOINT ? resets_of(p, o) : 0;
    double *zk = NULL;
    fwd_hook_ctx hc = {&store, p, &out, 0, 0.0, NULL, nreset, M};
    odg_erk_hook hook = {&hc, fwd_hook, fwd_acts};

    double t_start = odg_now();
    double *z = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M);
    double *lam = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M);
    /* a terminal loss of one's own: its cotangent at t1, handed to the drivers as lamT */
    double *tcot = p->terminal ? odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M) : NULL;
    odg_problem pt;
    const odg_problem *pf = p;
    st = z && lam && (tcot || !p->terminal)
             ? odg_erk_create_act(&erk, p->tab, M, P, na, forward_parts(p, o), mem)
             : ODG_ENOMEM;
    if (!st) {
        st = odg_outputs_create(&out, p, mem);
    }
    if (!st && nreset > 0) {
        zk = odg_mem_doubles(mem, ODG_TAG_TRAJECTORY, (size_t)nreset * M);
        st = zk ? ODG_OK : ODG_ENOMEM;
        hc.zk = zk;
    }
    if (st) {
        goto done;
    }

    /* 1. the step grid: uniform (a uniform segment per output interval), given, or the
     * accepted steps of the adaptive solve, which lands on every output time */
    if (p->grid && !p->grid->t) {
        grid = *p->grid; /* a uniform grid: nothing to copy */
        grid.mem = NULL;
        st = odg_outputs_find(&out, p, &grid);
    } else if (p->grid) {
        st = odg_grid_init(&grid, mem, p->grid->N);
        if (!st) {
            memcpy(grid.t, p->grid->t, (size_t)(p->grid->N + 1) * d);
            memcpy(grid.h, p->grid->h, (size_t)p->grid->N * d);
            grid.N = p->grid->N;
            st = odg_outputs_find(&out, p, &grid);
        }
    } else if (p->steps > 0) {
        st = odg_outputs_fixed_grid(&out, p, p->steps, &grid);
    } else {
        st = odg_grid_init(&grid, mem, GRID_CAP0);
    }
    if (st) {
        goto done;
    }

    /* 2. the forward pass, each step handed to the store: over the grid; during the adaptive
     * solve; or, for a store that needs N first, over the solve's accepted grid afterwards */
    const odg_schedule sched = o->schedule;
    const odg_payload pay = odg_method_payload(o);
    const size_t A = pay == ODG_PAY_STAGES ? (size_t)p->tab->s * na : 0; /* kept on the tape */
    memcpy(z, p->z0, M * d);
    if (online) {
        st = odg_store_create(&store, storage, sched, o->checkpoints, pay, M, A, 0, erk, &sys,
                              &grid, mem);
        if (!st) {
            st = odg_outputs_adaptive(&out, p, erk, &sys, z, &hook, &grid);
        }
    } else {
        if (adaptive) {
            st = odg_outputs_adaptive(&out, p, erk, &sys, z, NULL, &grid);
            memcpy(z, p->z0, M * d);
        }
        if (!st) {
            st = odg_store_create(&store, storage, sched, o->checkpoints, pay, M, A, grid.N, erk,
                                  &sys, &grid, mem);
        }
        if (!st) {
            st = odg_erk_run_grid(erk, &sys, &grid, z, &hook);
        }
    }
    if (!st) {
        st = odg_store_close(&store);
    }
    if (st) {
        goto done;
    }
    long N = grid.N;
    odg_erk_counts fc = odg_erk_counts_get(erk);
    S->steps = N;
    S->rejected = fc.nreject;
    S->checkpoints = store.C;
    S->interval = store.K;
    S->loss = hc.loss;
    S->nfe_forward = fc.nfe; /* every evaluation made, rejected steps' and a replay's included */
    if (p->terminal) { /* the loss and its cotangent at t1, which the drivers add as lamT */
        st = (odg_status)p->terminal(p->terminal_ctx, z, model->B, model->D, &S->loss, tcot);
        if (st) {
            goto done;
        }
        pt = *p;
        pt.lamT = tcot;
        pt.terminal = NULL;
        pf = &pt;
    }
    odg_erk_counts_reset(erk);
    double t_fwd = odg_now();
    S->forward_s = t_fwd - t_start;

    /* 3. the cotangent: zero; the drivers add the loss's jumps at the output nodes (the one at
     * t1 the terminal cotangent w / B, or lamT) as the backward pass reaches them */
    memset(lam, 0, M * d);

    /* 4. the backward pass */
    odg_fwd f = {pf, o, mem, &sys, erk, &grid, &store, M, P, N, z, lam, &out, zk, nreset};
    odg_bwd_counts bc = {0};
    if (odg_method_kind(o->method) == ODG_KIND_DISCRETE) {
        st = odg_backward_discrete(&f, gtheta, gz0, &bc);
    } else if (o->method == ODG_METHOD_BACKSOLVE_ADJOINT) {
        st = odg_backward_backsolve(&f, gtheta, gz0, &bc);
    } else {
        st = odg_backward_continuous(&f, gtheta, gz0, &bc);
    }
    if (st) {
        goto done;
    }

    fc = odg_erk_counts_get(erk);
    S->adj_steps = bc.adj_steps;
    S->nfe_backward = fc.nfe + store.extra_nfe + bc.nfe;
    S->nvjp = fc.nvjp + bc.nvjp;
    S->recomputed_steps = store.recomputed + bc.recomputed;
    /* the first sweep's N - 1 advances (its last step is step N-1's turn), the advances that
     * recompute states from checkpoints, and the solve's steps when its grid is replayed */
    S->forward_steps = N - 1 + store.recomputed + (adaptive && !online ? N : 0);
    S->revolve_advances = store.advances;
    S->backward_s = odg_now() - t_fwd;
    for (int t = 0; t < ODG_NTAGS; t++) {
        S->peak[t] = mem->peak[t] - base[t];
    }
    S->peak_total = mem->peak_total - base_total;
    S->theory_stored = odg_theory_stored_bytes(p, o, N);
    S->stored_bytes = S->peak[ODG_TAG_TAPE] + S->peak[ODG_TAG_TRAJECTORY] +
                      S->peak[ODG_TAG_CHECKPOINT] + S->peak[ODG_TAG_ACTIVATION];
    S->workspace_bytes = S->peak[ODG_TAG_WORKSPACE];

done:
    odg_store_destroy(&store);
    odg_grid_free(&grid);
    odg_mem_free(mem, zk);
    odg_outputs_destroy(&out);
    odg_erk_destroy(&erk);
    odg_mem_free(mem, z);
    odg_mem_free(mem, lam);
    odg_mem_free(mem, tcot);
    return st;
}
