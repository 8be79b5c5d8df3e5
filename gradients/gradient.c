/* The gradient methods: a gradient kind (discrete or continuous) crossed with a storage strategy
 * (store.h).  docs/theory.md sections 3 (discrete adjoint), 4 (continuous adjoint) and 5 (the matrix).
 *
 * Every method runs the same forward pass over a step grid (uniform, or the accepted steps of an
 * adaptive solve, replayed as constants), handing each step to its store; then
 *   discrete:    for n = N-1 .. 0, the stages of step n (kept, or recomputed from z_n) and
 *                odg_erk_adjoint_step;
 *   continuous:  the adjoint ODE [a, a_theta] integrated from t1 back to t0 with the same tableau,
 *                z(t) interpolated from the store (replaying the forward steps backwards, or with
 *                the adjoint's own adaptive steps);
 *   backsolve:   the augmented ODE [z, a, a_theta] integrated backwards (Chen et al. 2018).
 */
#include "store.h"

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

/* ---- the continuous adjoint's right-hand sides -------------------------------------------- */

typedef struct adj_ctx {
    odg_model *model;
    size_t M, P;
    odg_interp interp;
    const odg_tableau *tab;
    /* the forward step [tn, tn + hn] that z(t) is interpolated in */
    double tn, hn;
    const double *z0, *f0, *z1, *f1, *K; /* K: the step's stage derivatives (dense) */
    double *zt;                          /* (M) z(t) */
    long nvjp, nfe;
    /* adaptive adjoint: the interval is looked up for every t */
    int lookup;
    long cur;
    odg_store *store;
    const odg_grid *grid;
    const double *zN, *fN;
    odg_erk *erk; /* forward engine, to recompute a step's stages (dense) */
    const odg_system *sys;
    double *znext; /* (M) scratch for that recomputation */
    double *right; /* (2M) a copy of the right end's payload, when the store may recompute the
                      segment that held it (checkpoints): NULL when it keeps every step */
    long recomputed;
} adj_ctx;

/* Sets the interval of step n from the store (adaptive adjoint: any n, any order). */
static int adj_locate(adj_ctx *c, double t)
{
    const odg_grid *g = c->grid;
    long lo = 0, hi = g->N - 1;
    while (lo < hi) { /* the last n with t[n] <= t, clamped to [0, N-1] */
        long mid = (lo + hi + 1) / 2;
        if (odg_grid_t(g, mid) <= t) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    if (lo == c->cur) {
        return 0;
    }
    const double *pl, *pr;
    size_t w;
    int rc;
    /* the right end first: fetching the left end may recompute the segment that held it */
    if (lo + 1 < g->N) {
        rc = odg_store_get(c->store, lo + 1, &pr, &w);
        if (rc) {
            return rc;
        }
        if (c->right) {
            memcpy(c->right, pr, (w < 2 ? w : 2) * c->M * sizeof(double));
            pr = c->right;
        }
        c->z1 = pr;
        c->f1 = pr + c->M;
    } else {
        c->z1 = c->zN;
        c->f1 = c->fN;
    }
    rc = odg_store_get(c->store, lo, &pl, &w);
    if (rc) {
        return rc;
    }
    c->z0 = pl;
    c->f0 = pl + c->M;
    c->tn = odg_grid_t(g, lo);
    c->hn = odg_grid_h(g, lo);
    if (c->interp == ODG_INTERP_DENSE) {
        rc = odg_erk_step(c->erk, c->sys, c->tn, c->hn, c->z0, c->znext, NULL, NULL, NULL);
        c->recomputed++;
        if (rc) {
            return rc;
        }
        c->K = odg_erk_K(c->erk);
    }
    c->cur = lo;
    return 0;
}

/* zt = z(t) inside the current interval. */
static void adj_interp(adj_ctx *c, double t)
{
    size_t M = c->M;
    double th = (t - c->tn) / c->hn;
    switch (c->interp) {
    case ODG_INTERP_HERMITE: {
        /* cubic Hermite basis on [0, 1] */
        double t2 = th * th, t3 = t2 * th;
        double h00 = 2 * t3 - 3 * t2 + 1, h10 = t3 - 2 * t2 + th;
        double h01 = -2 * t3 + 3 * t2, h11 = t3 - t2;
        double hn = c->hn;
        for (size_t i = 0; i < M; i++) {
            c->zt[i] = h00 * c->z0[i] + h10 * hn * c->f0[i] + h01 * c->z1[i] + h11 * hn * c->f1[i];
        }
        break;
    }
    case ODG_INTERP_LINEAR:
        for (size_t i = 0; i < M; i++) {
            c->zt[i] = (1 - th) * c->z0[i] + th * c->z1[i];
        }
        break;
    case ODG_INTERP_DENSE:
        odg_erk_dense(c->tab, M, th, c->hn, c->z0, c->K, c->zt);
        break;
    default:
        break;
    }
}

/* y = [a (M), a_theta (P)];  da/dt = -a^T df/dz,  da_theta/dt = -a^T df/dtheta  at z(t). */
static int adj_rhs(void *ctx, double t, const double *y, double *dy)
{
    adj_ctx *c = ctx;
    if (c->lookup) {
        int rc = adj_locate(c, t);
        if (rc) {
            return rc;
        }
    }
    adj_interp(c, t);
    size_t n = c->M + c->P;
    memset(dy + c->M, 0, c->P * sizeof(double));
    int rc = odg_model_vjp(c->model, t, c->zt, y, dy, dy + c->M);
    c->nvjp++;
    for (size_t i = 0; i < n; i++) {
        dy[i] = -dy[i];
    }
    return rc;
}

/* y = [z (M), a (M), a_theta (P)]: the augmented system of the backsolve adjoint. */
static int backsolve_rhs(void *ctx, double t, const double *y, double *dy)
{
    adj_ctx *c = ctx;
    size_t M = c->M, P = c->P;
    int rc = odg_model_f(c->model, t, y, dy);
    c->nfe++;
    if (rc) {
        return rc;
    }
    memset(dy + 2 * M, 0, P * sizeof(double));
    rc = odg_model_vjp(c->model, t, y, y + M, dy + M, dy + 2 * M);
    c->nvjp++;
    for (size_t i = M; i < 2 * M + P; i++) {
        dy[i] = -dy[i];
    }
    return rc;
}

/* ---- names, options, checks --------------------------------------------------------------- */

void odg_grad_opts_default(odg_grad_opts *o, odg_method m)
{
    memset(o, 0, sizeof *o);
    o->method = m;
    o->schedule = ODG_SCHEDULE_UNIFORM;
    o->interp = ODG_INTERP_HERMITE;
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
    if (p->grid && p->grid->N < 1) {
        return fail_msg(err, ODG_EINVAL, "an empty step grid");
    }
    if (p->steps == 0 && !p->grid) {
        if (!odg_tableau_adaptive(p->tab)) {
            return fail_msg(err, ODG_EUNSUP,
                            "adaptive steps need a scheme with an embedded error estimate "
                            "(bosh3, dopri5, tsit5)");
        }
        if (!(p->adapt.rtol >= 0) || !(p->adapt.atol >= 0) || !isfinite(p->adapt.rtol) ||
            !isfinite(p->adapt.atol) || (p->adapt.rtol == 0 && p->adapt.atol == 0)) {
            return fail_msg(err, ODG_EINVAL, "tolerances must be finite, >= 0, not both 0");
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
        p->tab->dense_deg == 0) {
        return fail_msg(err, ODG_EUNSUP,
                        "dense interpolation needs a scheme with dense output (dopri5)");
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

/* ---- memory: what each method allocates, and the closed form of what it stores ------------- */

/* Whether the forward pass solves adaptively (and so builds its grid as it goes). */
static int adaptive_forward(const odg_problem *p)
{
    return !p->grid && p->steps == 0;
}

/* The forward engine's parts: the discrete methods keep a step's stage inputs (backprop's tape,
 * or the re-tape of a step) and run the discrete adjoint; the continuous ones need neither. */
static unsigned forward_parts(const odg_problem *p, const odg_grad_opts *o)
{
    unsigned parts = adaptive_forward(p) ? ODG_ERK_ADAPTIVE : 0;
    if (odg_method_kind(o->method) == ODG_KIND_DISCRETE) {
        parts |= ODG_ERK_TAPE | ODG_ERK_ADJOINT;
    }
    return parts;
}

/* The continuous adjoint's engine steps the adjoint system forward in reversed time: no tape, no
 * discrete adjoint, its own error estimate only with its own tolerances. */
static unsigned adjoint_parts(const odg_grad_opts *o)
{
    return o->adj_rtol > 0 || o->adj_atol > 0 ? ODG_ERK_ADAPTIVE : 0;
}

/* Whether the continuous adjoint copies the right end of its interval: with its own steps over
 * checkpoints, whose store recomputes a segment in the place of the previous one. */
static int adjoint_copies(const odg_grad_opts *o)
{
    return (o->adj_rtol > 0 || o->adj_atol > 0) && odg_method_keeps_checkpoints(o->method);
}

/* The capacity an adaptive grid of N accepted steps ends with: it starts at 64 and doubles. */
static long adaptive_cap(long N)
{
    long cap = 64;
    while (cap < N) {
        cap *= 2;
    }
    return cap;
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
    const odg_tableau *tab = p->tab;
    const double d = sizeof(double), M = (double)p->model->B * (double)p->model->D;
    const double P = (double)p->model->P;
    const int backsolve = o->method == ODG_METHOD_BACKSOLVE_ADJOINT;
    const double na = backsolve ? 2 * M + P : M + P;
    /* in the order odg_gradient allocates: z and lam, the forward engine, the grid, the store,
     * then the continuous adjoint's y, ynext, carry and engine */
    double before_grid = 2 * M * d + (double)odg_erk_workspace_bytes(tab, (size_t)M,
                                                                       forward_parts(p, o));
    double grid = 0, grid_transient = 0;
    if (p->grid && p->grid->t) {
        grid = (2.0 * (double)p->grid->N + 1) * d;
    } else if (adaptive_forward(p)) {
        long cap = adaptive_cap(N);
        grid = (2.0 * (double)cap + 1) * d;
        if (cap > 64) {
            /* the last doubling held the old arrays (cap/2) and the new ones (cap) at once */
            grid_transient = (3.0 * (double)cap + 2) * d;
        }
    }
    long C, K;
    odg_storage kind = odg_method_storage(o->method);
    odg_store_resolve(kind, o->schedule, o->checkpoints, N, &C, &K);
    double W = (double)odg_payload_width(odg_method_payload(o), tab);
    double stored = 0, store_ws = 0;
    switch (kind) {
    case ODG_STORAGE_ALL:
    case ODG_STORAGE_STEPS:
        stored = (double)N * W * M * d;
        break;
    case ODG_STORAGE_CHECKPOINTS:
        stored = (double)C * M * d;
        if (o->schedule == ODG_SCHEDULE_UNIFORM) {
            stored += (double)K * W * M * d;
        } else {
            store_ws = (double)C * sizeof(long) + 2 * M * d; /* the stack, two states */
        }
        break;
    case ODG_STORAGE_NONE:
        break;
    }
    double adjoint = 0;
    if (odg_method_kind(o->method) == ODG_KIND_CONTINUOUS) {
        /* y and ynext, four states, and with its own steps over checkpoints the right end's
         * payload copied (2 states) */
        int copy = adjoint_copies(o);
        adjoint = 2 * na * d + (copy ? 6 : 4) * M * d +
                  (double)odg_erk_workspace_bytes(tab, (size_t)na, adjoint_parts(o));
    }
    m->stored = stored;
    m->workspace = before_grid + grid + store_ws + adjoint;
    m->peak = stored + m->workspace;
    if (before_grid + grid_transient > m->peak) {
        m->peak = before_grid + grid_transient;
    }
    return ODG_OK;
}

double odg_theory_stored_bytes(const odg_problem *p, const odg_grad_opts *o, long N)
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
    case ODG_METHOD_BACKSOLVE_ADJOINT:
    default:
        return 0; /* nothing that grows with N */
    }
}

/* ---- the driver --------------------------------------------------------------------------- */

typedef struct fwd_hook_ctx {
    odg_store *store;
} fwd_hook_ctx;

static int fwd_hook(void *ctx, const odg_step_info *st)
{
    return odg_store_put(((fwd_hook_ctx *)ctx)->store, st);
}

/* sum(w .* z) / B, summed in index order. */
static double loss_of(const double *w, const double *z, size_t M, size_t B)
{
    double s = 0.0;
    for (size_t i = 0; i < M; i++) {
        s += w[i] * z[i];
    }
    return s / (double)B;
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
    double *z = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M);
    st = z ? odg_erk_create_parts(&erk, p->tab, M, p->model->P,
                                  adaptive_forward(p) ? ODG_ERK_ADAPTIVE : 0, mem)
           : ODG_ENOMEM;
    if (st) {
        goto done;
    }
    odg_system sys = {M, p->model->P, p->model, model_f, model_vjp};
    memcpy(z, p->z0, M * sizeof(double));
    if (p->grid) {
        st = odg_erk_run_grid(erk, &sys, p->grid, z, NULL);
    } else if (p->steps > 0) {
        st = odg_grid_uniform(&grid, mem, p->t0, p->t1, p->steps);
        if (!st) {
            st = odg_erk_run_grid(erk, &sys, &grid, z, NULL);
        }
    } else {
        st = odg_erk_run_adaptive(erk, &sys, p->t0, p->t1, &p->adapt, z, NULL, NULL);
    }
    if (!st) {
        st = p->terminal ? (odg_status)p->terminal(p->terminal_ctx, z, p->model->B, p->model->D,
                                                   loss, NULL)
                         : (*loss = loss_of(p->w, z, M, p->model->B), ODG_OK);
    }
done:
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
    odg_status st = odg_grad_check(p, o, NULL);
    if (st) {
        return st;
    }
    odg_model *model = p->model;
    const odg_tableau *tab = p->tab;
    size_t M = model->B * model->D, P = model->P, d = sizeof(double);
    odg_grad_kind kind = odg_method_kind(o->method);
    odg_storage storage = odg_method_storage(o->method);
    int backsolve = o->method == ODG_METHOD_BACKSOLVE_ADJOINT;
    int adaptive_adj = kind == ODG_KIND_CONTINUOUS && (o->adj_rtol > 0 || o->adj_atol > 0);

    size_t base[ODG_NTAGS], base_total = mem->cur_total;
    memcpy(base, mem->cur, sizeof base);
    odg_mem_reset_peak(mem);

    odg_erk *erk = NULL, *aerk = NULL;
    odg_grid grid = {0};
    odg_store store = {0};
    double *z = NULL, *lam = NULL, *y = NULL, *ynext = NULL, *carry = NULL;
    size_t na = backsolve ? 2 * M + P : M + P;
    odg_system sys = {M, P, model, model_f, model_vjp};
    adj_ctx ac = {0};
    odg_system asys = {na, 0, &ac, backsolve ? backsolve_rhs : adj_rhs, NULL};

    double t_start = odg_now();
    z = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M);
    lam = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M);
    if (!z || !lam) {
        st = ODG_ENOMEM;
        goto done;
    }
    st = odg_erk_create_parts(&erk, tab, M, P, forward_parts(p, o), mem);
    if (st) {
        goto done;
    }

    /* 1. the step grid: uniform, or the accepted steps of an adaptive solve */
    memcpy(z, p->z0, M * d);
    int need_replay = 1;
    if (p->grid && !p->grid->t) {
        grid = *p->grid; /* a uniform grid: nothing to copy */
        grid.mem = NULL;
    } else if (p->grid) {
        st = odg_grid_init(&grid, mem, p->grid->N);
        if (!st) {
            memcpy(grid.t, p->grid->t, (size_t)(p->grid->N + 1) * d);
            memcpy(grid.h, p->grid->h, (size_t)p->grid->N * d);
            grid.N = p->grid->N;
        }
    } else if (p->steps > 0) {
        st = odg_grid_uniform(&grid, mem, p->t0, p->t1, p->steps);
    } else {
        st = odg_grid_init(&grid, mem, 64);
        if (!st) {
            st = odg_erk_run_adaptive(erk, &sys, p->t0, p->t1, &p->adapt, z, NULL, &grid);
        }
        /* backsolve needs only z(t1); the others replay the accepted steps with their store */
        need_replay = !backsolve;
        S->rejected = odg_erk_counts_get(erk).nreject;
    }
    if (st) {
        goto done;
    }
    long N = grid.N;
    S->steps = N;

    /* 2. the store, then the forward pass through it */
    st = odg_store_create(&store, storage, o->schedule, o->checkpoints, odg_method_payload(o), M, N,
                          erk, &sys, &grid, mem);
    if (st) {
        goto done;
    }
    S->checkpoints = store.C;
    S->interval = store.K;
    if (need_replay) {
        memcpy(z, p->z0, M * d);
        fwd_hook_ctx hc = {&store};
        odg_erk_hook hook = {&hc, fwd_hook};
        st = odg_erk_run_grid(erk, &sys, &grid, z, storage == ODG_STORAGE_NONE ? NULL : &hook);
        if (st) {
            goto done;
        }
    }
    if (p->terminal) { /* the loss and its cotangent (step 3) from z(t1) */
        st = (odg_status)p->terminal(p->terminal_ctx, z, model->B, model->D, &S->loss, lam);
        if (st) {
            goto done;
        }
    } else {
        S->loss = loss_of(p->w, z, M, model->B);
    }
    odg_erk_counts fc = odg_erk_counts_get(erk);
    S->nfe_forward = fc.nfe;
    odg_erk_counts_reset(erk);
    double t_fwd = odg_now();
    S->forward_s = t_fwd - t_start;

    /* 3. the terminal cotangent */
    if (p->terminal) {
        /* lam holds it already */
    } else if (p->lamT) {
        memcpy(lam, p->lamT, M * d);
    } else {
        for (size_t i = 0; i < M; i++) {
            lam[i] = p->w[i] / (double)model->B;
        }
    }

    /* 4. the backward pass */
    long extra_nfe = 0, recomputed = 0;
    if (kind == ODG_KIND_DISCRETE) {
        memset(gtheta, 0, P * d);
        for (long n = N - 1; n >= 0; n--) {
            const double *pl;
            size_t width;
            st = odg_store_get(&store, n, &pl, &width);
            if (st) {
                goto done;
            }
            const double *Zst = pl;
            if (store.pay != ODG_PAY_STAGES) {
                /* recompute the step's stages from z_n (the re-tape) */
                st = odg_erk_step(erk, &sys, odg_grid_t(&grid, n), odg_grid_h(&grid, n), pl, z, odg_erk_stages(erk),
                                  NULL, NULL);
                recomputed++;
                if (st) {
                    goto done;
                }
                Zst = odg_erk_stages(erk);
            }
            st = odg_erk_adjoint_step(erk, &sys, odg_grid_t(&grid, n), odg_grid_h(&grid, n), Zst, lam, gtheta);
            if (st) {
                goto done;
            }
        }
        memcpy(gz0, lam, M * d);
        S->adj_steps = N;
    } else {
        y = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, na);
        ynext = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, na);
        carry = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, (adjoint_copies(o) ? 6 : 4) * M);
        if (!y || !ynext || !carry) {
            st = ODG_ENOMEM;
            goto done;
        }
        st = odg_erk_create_parts(&aerk, tab, na, 0, adjoint_parts(o), mem);
        if (st) {
            goto done;
        }
        double *zc = carry, *fcar = carry + M, *fn_buf = carry + 2 * M, *znx = carry + 3 * M;
        ac.model = model;
        ac.M = M;
        ac.P = P;
        ac.interp = o->interp;
        ac.tab = tab;
        ac.zt = lam; /* lam is free once copied into y */
        ac.cur = -1;
        ac.store = &store;
        ac.grid = &grid;
        ac.erk = erk;
        ac.sys = &sys;
        ac.znext = znx;
        ac.right = adjoint_copies(o) ? carry + 4 * M : NULL;
        /* y(t1): [a, a_theta] = [lamT, 0], or [z(t1), lamT, 0] for backsolve */
        memset(y, 0, na * d);
        if (backsolve) {
            memcpy(y, z, M * d);
            memcpy(y + M, lam, M * d);
        } else {
            memcpy(y, lam, M * d);
            /* the right end of the last interval: z(t1) and f(t1, z(t1)) */
            memcpy(zc, z, M * d);
            if (o->interp == ODG_INTERP_HERMITE) {
                st = (odg_status)odg_model_f(model, odg_grid_t(&grid, N), zc, fcar);
                extra_nfe++;
                if (st) {
                    goto done;
                }
            }
            ac.zN = zc;
            ac.fN = fcar;
        }
        if (adaptive_adj) {
            odg_adapt_opts ao;
            odg_adapt_defaults(&ao, o->adj_rtol, o->adj_atol);
            if (o->adj_seminorm) {
                ao.norm_len = na - P; /* [a] or [z, a]: a_theta left out */
            }
            ac.lookup = !backsolve;
            st = odg_erk_run_adaptive(aerk, &asys, odg_grid_t(&grid, N), p->t0, &ao, y, NULL, NULL);
            if (st) {
                goto done;
            }
            S->adj_steps = odg_erk_counts_get(aerk).naccept;
        } else {
            for (long n = N - 1; n >= 0; n--) {
                if (!backsolve) {
                    const double *pl;
                    size_t width;
                    st = odg_store_get(&store, n, &pl, &width);
                    if (st) {
                        goto done;
                    }
                    ac.tn = odg_grid_t(&grid, n);
                    ac.hn = odg_grid_h(&grid, n);
                    ac.z0 = pl;
                    ac.z1 = zc;
                    ac.f1 = fcar;
                    if (o->interp == ODG_INTERP_HERMITE) {
                        if (width >= 2) {
                            ac.f0 = pl + M;
                        } else { /* binomial keeps z only: f(t_n, z_n) again */
                            st = (odg_status)odg_model_f(model, odg_grid_t(&grid, n), pl, fn_buf);
                            extra_nfe++;
                            if (st) {
                                goto done;
                            }
                            ac.f0 = fn_buf;
                        }
                    } else if (o->interp == ODG_INTERP_DENSE) {
                        st = odg_erk_step(erk, &sys, odg_grid_t(&grid, n), odg_grid_h(&grid, n), pl, znx, NULL, NULL,
                                          NULL);
                        recomputed++;
                        if (st) {
                            goto done;
                        }
                        ac.K = odg_erk_K(erk);
                    }
                }
                st = odg_erk_step(aerk, &asys, odg_grid_t(&grid, n + 1), -odg_grid_h(&grid, n), y, ynext, NULL, NULL,
                                  NULL);
                if (st) {
                    goto done;
                }
                double *tmp = y;
                y = ynext;
                ynext = tmp;
                if (!backsolve) {
                    /* z_n, f_n become the right end of the next interval back */
                    memmove(zc, ac.z0, M * d);
                    if (o->interp == ODG_INTERP_HERMITE) {
                        memmove(fcar, ac.f0, M * d);
                    }
                }
            }
            S->adj_steps = N;
        }
        size_t off = backsolve ? M : 0;
        memcpy(gz0, y + off, M * d);
        memcpy(gtheta, y + off + M, P * d);
    }

    fc = odg_erk_counts_get(erk);
    S->nfe_backward = fc.nfe + store.extra_nfe + extra_nfe + ac.nfe;
    S->nvjp = fc.nvjp + ac.nvjp;
    S->recomputed_steps = store.recomputed + recomputed + ac.recomputed;
    /* the first sweep's N - 1 advances (its last step is step N-1's turn), the advances that
     * recompute states from checkpoints, and an adaptive solve's steps when they are replayed */
    S->forward_steps = N - 1 + store.recomputed + (adaptive_forward(p) && need_replay ? N : 0);
    S->revolve_advances = store.advances;
    S->backward_s = odg_now() - t_fwd;
    for (int t = 0; t < ODG_NTAGS; t++) {
        S->peak[t] = mem->peak[t] - base[t];
    }
    S->peak_total = mem->peak_total - base_total;
    S->theory_stored = odg_theory_stored_bytes(p, o, N);
    S->stored_bytes = S->peak[ODG_TAG_TAPE] + S->peak[ODG_TAG_TRAJECTORY] +
                      S->peak[ODG_TAG_CHECKPOINT];
    S->workspace_bytes = S->peak[ODG_TAG_WORKSPACE];

done:
    odg_erk_destroy(&aerk);
    odg_mem_free(mem, y);
    odg_mem_free(mem, ynext);
    odg_mem_free(mem, carry);
    odg_store_destroy(&store);
    odg_grid_free(&grid);
    odg_erk_destroy(&erk);
    odg_mem_free(mem, z);
    odg_mem_free(mem, lam);
    return st;
}
