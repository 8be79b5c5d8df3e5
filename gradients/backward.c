/* The three backward drivers (backward.h), docs/theory.md sections 3 and 4:
 *   discrete:    for n = N-1 .. 0, the stages of step n (kept, or recomputed from z_n) and
 *                odg_erk_adjoint_step;
 *   continuous:  the adjoint ODE [a, a_theta] integrated from t1 back to t0 with the same tableau,
 *                z(t) from the interpolator: over the forward steps replayed backwards, or with
 *                the adjoint's own adaptive steps;
 *   backsolve:   the augmented ODE [z, a, a_theta] integrated backwards (Chen et al. 2018). */
#include "backward.h"

#include <string.h>

/* ---- discrete ----------------------------------------------------------------------------- */

odg_status odg_backward_discrete(const odg_fwd *f, double *gtheta, double *gz0,
                                 odg_bwd_counts *c)
{
    odg_erk *erk = f->erk;
    const odg_grid *g = f->grid;
    memset(gtheta, 0, f->P * sizeof(double));
    long kc = f->out->K - 1;
    for (long n = f->N - 1; n >= 0; n--) {
        if (kc >= 0 && f->out->node[kc] == n + 1) {
            odg_outputs_jump(f->p, kc--, f->lam);
        }
        const double *pl;
        size_t width;
        odg_status st = odg_store_get(f->store, n, &pl, &width);
        if (st) {
            return st;
        }
        const double *Zst = pl;
        const double *Ast = odg_store_acts(f->store, n); /* backprop's tape, or NULL */
        double t = odg_grid_t(g, n), h = odg_grid_h(g, n);
        if (f->store->pay != ODG_PAY_STAGES) {
            /* recompute the step's stages from z_n (the re-tape); its end goes to gz0, unused */
            st = odg_erk_step(erk, f->sys, t, h, pl, gz0, odg_erk_stages(erk), NULL, NULL);
            c->recomputed++;
            if (st) {
                return st;
            }
            Zst = odg_erk_stages(erk);
            Ast = f->sys->na ? odg_erk_acts(erk) : NULL; /* kept by the re-tape, if asked */
        }
        st = odg_erk_adjoint_step_act(erk, f->sys, t, h, Zst, Ast, f->lam, gtheta);
        if (st) {
            return st;
        }
    }
    memcpy(gz0, f->lam, f->M * sizeof(double));
    c->adj_steps = f->N;
    return ODG_OK;
}

/* ---- the adjoint systems ------------------------------------------------------------------ */

typedef struct adj_ctx {
    odg_model *model;
    size_t M, P;
    odg_interpolator *ip; /* continuous: z(t) */
    int lookup;           /* the adjoint's own steps: find t's interval at every evaluation */
    double *zt;           /* (M) z(t) */
    long nfe, nvjp;
} adj_ctx;

/* y = [a (M), a_theta (P)];  da/dt = -a^T df/dz,  da_theta/dt = -a^T df/dtheta  at z(t). */
static int adj_rhs(void *ctx, double t, const double *y, double *dy)
{
    adj_ctx *c = ctx;
    if (c->lookup) {
        int rc = odg_interp_find(c->ip, t);
        if (rc) {
            return rc;
        }
    }
    odg_interp_eval(c->ip, t, c->zt);
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

/* ---- what the continuous drivers share ---------------------------------------------------- */

static int own_steps(const odg_grad_opts *o)
{
    return o->adj_rtol > 0 || o->adj_atol > 0;
}

/* The length of the adjoint state: [a, a_theta], or [z, a, a_theta] for backsolve. */
static size_t adjoint_len(const odg_grad_opts *o, size_t M, size_t P)
{
    return o->method == ODG_METHOD_BACKSOLVE_ADJOINT ? 2 * M + P : M + P;
}

size_t odg_backward_bytes(const odg_problem *p, const odg_grad_opts *o)
{
    if (odg_method_kind(o->method) != ODG_KIND_CONTINUOUS) {
        return 0;
    }
    size_t M = p->model->B * p->model->D, na = adjoint_len(o, M, p->model->P);
    size_t bytes = 2 * na * sizeof(double) +
                   odg_erk_workspace_bytes(p->tab, na, own_steps(o) ? ODG_ERK_ADAPTIVE : 0);
    if (o->method != ODG_METHOD_BACKSOLVE_ADJOINT) {
        bytes += odg_interp_bytes(o->interp, odg_method_storage(o->method), o->schedule, M);
    }
    return bytes;
}

/* The adjoint's jump at output k: a += w_k / B into y = [a, a_theta] or [z, a, a_theta]; backsolve
 * with resets also puts z back to its forward value there (what torchdiffeq does). */
static void adjoint_jump(const odg_fwd *f, long k, double *y)
{
    const int backsolve = f->o->method == ODG_METHOD_BACKSOLVE_ADJOINT;
    odg_outputs_jump(f->p, k, y + (backsolve ? f->M : 0));
    if (backsolve && f->zk && k < f->nreset) {
        memcpy(y, f->zk + (size_t)k * f->M, f->M * sizeof(double));
    }
}

/* Integrates the adjoint system from t1 to t0: over the forward grid backwards (the interval of
 * each step made current first, when there is an interpolator), or with its own adaptive steps,
 * one solve per interval between output times.  The loss's jumps are added at the output nodes.
 * y holds the state at t1 on entry (a = 0) and at t0 on return. */
static odg_status integrate_back(const odg_fwd *f, odg_system *asys, adj_ctx *ac, double **y,
                                 odg_bwd_counts *c)
{
    const odg_grad_opts *o = f->o;
    const odg_grid *g = f->grid;
    size_t na = asys->n;
    odg_erk *aerk = NULL;
    double *ynext = odg_mem_doubles(f->mem, ODG_TAG_WORKSPACE, na);
    odg_status st = ynext ? odg_erk_create_parts(&aerk, f->p->tab, na, 0,
                                                 own_steps(o) ? ODG_ERK_ADAPTIVE : 0, f->mem)
                          : ODG_ENOMEM;
    if (st) {
        goto done;
    }
    if (own_steps(o)) {
        odg_adapt_opts ao;
        odg_adapt_defaults(&ao, o->adj_rtol, o->adj_atol);
        if (o->adj_seminorm) {
            ao.norm_len = na - f->P; /* [a] or [z, a]: a_theta left out */
        }
        ac->lookup = ac->ip != NULL;
        const odg_outputs *out = f->out;
        for (long j = out->J - 1; j >= 0 && !st; j--) {
            if (j < out->K) {
                adjoint_jump(f, j, *y);
            }
            st = odg_erk_run_adaptive(aerk, asys, odg_grid_t(g, out->end[j]),
                                      odg_grid_t(g, j > 0 ? out->end[j - 1] : 0), &ao, *y, NULL,
                                      NULL);
        }
        c->adj_steps = odg_erk_counts_get(aerk).naccept;
        goto done;
    }
    long kc = f->out->K - 1;
    for (long n = f->N - 1; n >= 0; n--) {
        if (kc >= 0 && f->out->node[kc] == n + 1) {
            adjoint_jump(f, kc--, *y);
        }
        if (ac->ip) {
            st = odg_interp_seek(ac->ip, n);
            if (st) {
                goto done;
            }
        }
        st = odg_erk_step(aerk, asys, odg_grid_t(g, n + 1), -odg_grid_h(g, n), *y, ynext, NULL,
                          NULL, NULL);
        if (st) {
            goto done;
        }
        double *tmp = *y;
        *y = ynext;
        ynext = tmp;
    }
    c->adj_steps = f->N;
done:
    odg_erk_destroy(&aerk);
    odg_mem_free(f->mem, ynext);
    return st;
}

/* ---- continuous --------------------------------------------------------------------------- */

odg_status odg_backward_continuous(const odg_fwd *f, double *gtheta, double *gz0,
                                   odg_bwd_counts *c)
{
    size_t M = f->M, P = f->P, na = M + P;
    odg_interpolator ip = {0};
    adj_ctx ac = {f->p->model, M, P, &ip, 0, f->lam, 0, 0};
    odg_system asys = {na, 0, &ac, adj_rhs, NULL, 0, NULL, NULL};
    /* y(t1) = [0, 0] and the jumps; lam is free once copied, and holds z(t) from then on */
    double *y = odg_mem_doubles(f->mem, ODG_TAG_WORKSPACE, na);
    odg_status st = y ? odg_interp_init(&ip, f->o->interp, f->store, f->erk, f->sys, f->z, f->mem)
                      : ODG_ENOMEM;
    if (!st) {
        memcpy(y, f->lam, M * sizeof(double));
        st = integrate_back(f, &asys, &ac, &y, c);
    }
    if (!st) {
        memcpy(gz0, y, M * sizeof(double));
        memcpy(gtheta, y + M, P * sizeof(double));
    }
    c->nfe += ip.nfe;
    c->nvjp += ac.nvjp;
    c->recomputed += ip.recomputed;
    odg_interp_free(&ip, f->mem);
    odg_mem_free(f->mem, y);
    return st;
}

/* ---- backsolve ---------------------------------------------------------------------------- */

odg_status odg_backward_backsolve(const odg_fwd *f, double *gtheta, double *gz0,
                                  odg_bwd_counts *c)
{
    size_t M = f->M, P = f->P, na = 2 * M + P;
    adj_ctx ac = {f->p->model, M, P, NULL, 0, NULL, 0, 0};
    odg_system asys = {na, 0, &ac, backsolve_rhs, NULL, 0, NULL, NULL};
    /* y(t1) = [z(t1), 0, 0] and the jumps */
    double *y = odg_mem_doubles(f->mem, ODG_TAG_WORKSPACE, na);
    odg_status st = y ? ODG_OK : ODG_ENOMEM;
    if (!st) {
        memcpy(y, f->z, M * sizeof(double));
        memcpy(y + M, f->lam, M * sizeof(double));
        st = integrate_back(f, &asys, &ac, &y, c);
    }
    if (!st) {
        memcpy(gz0, y + M, M * sizeof(double));
        memcpy(gtheta, y + 2 * M, P * sizeof(double));
    }
    c->nfe += ac.nfe;
    c->nvjp += ac.nvjp;
    odg_mem_free(f->mem, y);
    return st;
}
