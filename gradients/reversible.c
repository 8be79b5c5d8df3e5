/* The reversible method: the algebraically reversible wrapper of an explicit scheme (McCallum &
 * Foster 2024, "Efficient, accurate and stable gradients for neural ODEs") and the discrete
 * adjoint of its map.  docs/theory.md section 5, "The reversible method".
 *
 * With S_h(t, y) = y + Psi_h(t, y) one step of the scheme (odg_erk_step) and a coupling lambda in
 * (0, 1], the method carries two states from y_0 = z_0 = z(t0):
 *     y_{n+1} = lambda (y_n - z_n) + S_h(t_n, z_n)        = lambda y_n + (1 - lambda) z_n
 *                                                            + Psi_h(t_n, z_n)
 *     z_{n+1} = z_n + (y_{n+1} - S_{-h}(t_{n+1}, y_{n+1})) = z_n - Psi_{-h}(t_{n+1}, y_{n+1})
 * and y_n approximates z(t_n) at the scheme's order.  The map inverts in reverse order:
 *     z_n = z_{n+1} - (y_{n+1} - S_{-h}(t_{n+1}, y_{n+1}))
 *     y_n = z_n + (y_{n+1} - S_h(t_n, z_n)) / lambda
 * so the backward pass reconstructs every state from the last one and keeps nothing.  The
 * adjoint of one step, with ybar and zbar the cotangents of y_{n+1} and z_{n+1} and J^T v the
 * engine's adjoint of one scheme step (odg_erk_adjoint_step, which maps v to J_S^T v):
 *     u      = ybar + zbar + J_{S_{-h}}^T (-zbar)        the cotangent of y_{n+1}, every path
 *     zbar_n = zbar - lambda u + J_{S_h}^T u
 *     ybar_n = lambda u
 * and dL/dz(t0) = ybar_0 + zbar_0.  Each adjoint step needs the stage inputs of its scheme
 * step, which the reconstruction computes anyway: two scheme steps forwards and two scheme
 * steps and two adjoint steps backwards per step, and no FSAL (the two steps of a pair start
 * from different states).  Over output times (gradients/outputs.c) the loss reads y at each of
 * them, so ybar takes the jump w_k / B there.
 */
#include "outputs_impl.h"
#include "reversible_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The engine's parts: a step's stage inputs (the re-tape) and its discrete adjoint. */
#define REV_PARTS (ODG_ERK_TAPE | ODG_ERK_ADJOINT)
/* Working vectors of M numbers: y, z, their cotangents, a scheme step's result, a cotangent. */
#define REV_VECTORS 6

static odg_status rev_fail(char err[ODG_ERRLEN], odg_status st, const char *msg)
{
    if (err) {
        snprintf(err, ODG_ERRLEN, "%s", msg);
    }
    return st;
}

odg_status odg_reversible_check(const odg_problem *p, const odg_grad_opts *o, char err[ODG_ERRLEN])
{
    if (!(o->lambda > 0 && o->lambda <= 1)) {
        return rev_fail(err, ODG_EINVAL, "the reversible method's lambda must be in (0, 1]");
    }
    if (p->steps == 0 && !p->grid) {
        return rev_fail(err, ODG_EUNSUP,
                        "the reversible method takes fixed steps: with adaptive ones the "
                        "backward pass would need every accepted step size, which it does not "
                        "keep");
    }
    return ODG_OK;
}

void odg_reversible_memory(const odg_problem *p, const odg_grad_opts *o, long N, odg_grad_memory *m)
{
    const double d = sizeof(double), M = (double)p->model->B * (double)p->model->D;
    m->stored = (o->keep_states ? 2.0 * (double)N * M * d : 0.0) +
                (double)odg_erk_act_bytes(p->tab, odg_grad_act_size(p, o), REV_PARTS);
    /* (a terminal loss of one's own adds its cotangent at t1) */
    m->workspace = (REV_VECTORS + (p->terminal ? 1 : 0)) * M * d +
                   (double)odg_erk_workspace_bytes(p->tab, (size_t)M, REV_PARTS) +
                   odg_outputs_bytes(p);
    m->peak = m->stored + m->workspace;
}

/* y = lambda (y - z) + s, element-wise; 1 if any result is not finite. */
static int couple_y(size_t M, double lambda, double *y, const double *z, const double *s)
{
    int bad = 0;
    for (size_t i = 0; i < M; i++) {
        y[i] = lambda * (y[i] - z[i]) + s[i];
        bad |= !isfinite(y[i]);
    }
    return bad;
}

/* z += y - s (sign +1, the forward step) or z -= y - s (sign -1, its inverse). */
static int couple_z(size_t M, double sign, double *z, const double *y, const double *s)
{
    int bad = 0;
    for (size_t i = 0; i < M; i++) {
        z[i] = sign > 0 ? z[i] + (y[i] - s[i]) : z[i] - (y[i] - s[i]);
        bad |= !isfinite(z[i]);
    }
    return bad;
}

odg_status odg_reversible_gradient(const odg_problem *p, const odg_grad_opts *o, odg_mem *mem,
                                   double *gtheta, double *gz0, odg_grad_stats *S)
{
    odg_model *model = p->model;
    const size_t M = model->B * model->D, P = model->P, d = sizeof(double);
    const double lambda = o->lambda;
    size_t base[ODG_NTAGS], base_total = mem->cur_total;
    memcpy(base, mem->cur, sizeof base);
    odg_mem_reset_peak(mem);

    odg_grid grid = {0};
    odg_erk *erk = NULL;
    double *buf = NULL, *traj = NULL;
    odg_outputs out;
    odg_status st = odg_outputs_create(&out, p, mem);
    if (st) {
        return st;
    }
    if (p->grid) {
        grid = *p->grid; /* read only: nothing copied */
        grid.mem = NULL;
        st = odg_outputs_find(&out, p, &grid);
    } else {
        st = odg_outputs_fixed_grid(&out, p, p->steps, &grid);
    }
    if (st) {
        goto done;
    }
    const long N = grid.N;
    const double t_start = odg_now();
    buf = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, (REV_VECTORS + (p->terminal ? 1 : 0)) * M);
    if (!buf) {
        st = ODG_ENOMEM;
        goto done;
    }
    const odg_system sys = odg_model_system(model, o->keep_activations);
    st = odg_erk_create_act(&erk, p->tab, M, P, sys.na, REV_PARTS, mem);
    if (st) {
        goto done;
    }
    if (o->keep_states) {
        traj = odg_mem_doubles(mem, ODG_TAG_TRAJECTORY, 2 * (size_t)N * M);
        if (!traj) {
            st = ODG_ENOMEM;
            goto done;
        }
    }
    double *y = buf, *z = buf + M, *ybar = buf + 2 * M, *zbar = buf + 3 * M, *s = buf + 4 * M;
    double *v = buf + 5 * M;

    /* forward: the coupled pair from y_0 = z_0 = z(t0); the loss summed at the output nodes */
    memcpy(y, p->z0, M * d);
    memcpy(z, p->z0, M * d);
    double loss = 0.0;
    long kc = 0;
    for (long n = 0; n < N; n++) {
        const double t = odg_grid_t(&grid, n), h = odg_grid_h(&grid, n);
        const double t1 = odg_grid_t(&grid, n + 1);
        if (traj) {
            memcpy(traj + 2 * (size_t)n * M, y, M * d);
            memcpy(traj + (2 * (size_t)n + 1) * M, z, M * d);
        }
        st = odg_erk_step(erk, &sys, t, h, z, s, NULL, NULL, NULL);
        if (!st && couple_y(M, lambda, y, z, s)) {
            st = ODG_DIVERGED;
        }
        if (!st) {
            st = odg_erk_step(erk, &sys, t1, -h, y, s, NULL, NULL, NULL);
        }
        if (!st && couple_z(M, 1.0, z, y, s)) {
            st = ODG_DIVERGED;
        }
        if (st) {
            goto done;
        }
        if (kc < out.K && out.node[kc] == n + 1) {
            loss += p->terminal ? 0.0 : odg_outputs_loss(p, kc, y);
            kc++;
        }
    }
    /* a terminal loss of one's own (one output, at t1): its value, and its cotangent for the
     * jump, handed on as lamT */
    odg_problem pt = *p;
    if (p->terminal) {
        double *tcot = buf + REV_VECTORS * M;
        st = (odg_status)p->terminal(p->terminal_ctx, y, model->B, model->D, &loss, tcot);
        if (st) {
            goto done;
        }
        pt.lamT = tcot;
        pt.terminal = NULL;
    }
    S->loss = loss;
    S->nfe_forward = odg_erk_counts_get(erk).nfe;
    odg_erk_counts_reset(erk);
    const double t_fwd = odg_now();
    S->forward_s = t_fwd - t_start;

    /* backward: the loss reads y only, so its cotangents jump into ybar at the output nodes */
    memset(ybar, 0, M * d);
    memset(zbar, 0, M * d);
    memset(gtheta, 0, P * d);
    double *Zst = odg_erk_stages(erk);
    const double *Ast = sys.na ? odg_erk_acts(erk) : NULL; /* each re-tape's, when kept */
    kc = out.K - 1;
    for (long n = N - 1; n >= 0; n--) {
        const double t = odg_grid_t(&grid, n), h = odg_grid_h(&grid, n);
        const double t1 = odg_grid_t(&grid, n + 1);
        if (kc >= 0 && out.node[kc] == n + 1) {
            odg_outputs_jump(&pt, kc--, ybar);
        }
        /* y, z hold step n+1: S_{-h}(t_{n+1}, y_{n+1}) with its stages, and its adjoint */
        st = odg_erk_step(erk, &sys, t1, -h, y, s, Zst, NULL, NULL);
        if (st) {
            goto done;
        }
        for (size_t i = 0; i < M; i++) {
            v[i] = -zbar[i];
        }
        st = odg_erk_adjoint_step_act(erk, &sys, t1, -h, Zst, Ast, v, gtheta);
        if (st) {
            goto done;
        }
        for (size_t i = 0; i < M; i++) {
            ybar[i] = ybar[i] + zbar[i] + v[i]; /* u */
        }
        /* z_n */
        if (traj) {
            memcpy(z, traj + (2 * (size_t)n + 1) * M, M * d);
        } else if (couple_z(M, -1.0, z, y, s)) {
            st = ODG_DIVERGED;
            goto done;
        }
        /* S_h(t_n, z_n) with its stages, and its adjoint */
        st = odg_erk_step(erk, &sys, t, h, z, s, Zst, NULL, NULL);
        if (st) {
            goto done;
        }
        memcpy(v, ybar, M * d);
        st = odg_erk_adjoint_step_act(erk, &sys, t, h, Zst, Ast, v, gtheta);
        if (st) {
            goto done;
        }
        for (size_t i = 0; i < M; i++) {
            zbar[i] = zbar[i] - lambda * ybar[i] + v[i];
            ybar[i] = lambda * ybar[i];
        }
        /* y_n */
        if (traj) {
            memcpy(y, traj + 2 * (size_t)n * M, M * d);
        } else {
            int bad = 0;
            for (size_t i = 0; i < M; i++) {
                y[i] = z[i] + (y[i] - s[i]) / lambda;
                bad |= !isfinite(y[i]);
            }
            if (bad) {
                st = ODG_DIVERGED;
                goto done;
            }
        }
    }
    for (size_t i = 0; i < M; i++) {
        gz0[i] = ybar[i] + zbar[i];
    }
    /* the reconstruction's error where it costs nothing: (y_0, z_0) against z(t0) */
    S->recon_err = NAN;
    if (!traj) {
        double diff = 0.0, scale = 0.0;
        for (size_t i = 0; i < M; i++) {
            diff = fmax(diff, fmax(fabs(y[i] - p->z0[i]), fabs(z[i] - p->z0[i])));
            scale = fmax(scale, fabs(p->z0[i]));
        }
        S->recon_err = scale > 0 ? diff / scale : diff;
    }

    odg_erk_counts bc = odg_erk_counts_get(erk);
    S->steps = N;
    S->adj_steps = N;
    S->nfe_backward = bc.nfe;
    S->nvjp = bc.nvjp;
    S->recomputed_steps = N;  /* each step's pair of scheme steps, once */
    S->forward_steps = N - 1; /* the first sweep; every state is then reconstructed */
    S->backward_s = odg_now() - t_fwd;
    for (int tg = 0; tg < ODG_NTAGS; tg++) {
        S->peak[tg] = mem->peak[tg] - base[tg];
    }
    S->peak_total = mem->peak_total - base_total;
    S->theory_stored = odg_theory_stored_bytes(p, o, N);
    S->stored_bytes =
        S->peak[ODG_TAG_TAPE] + S->peak[ODG_TAG_TRAJECTORY] + S->peak[ODG_TAG_CHECKPOINT] +
        S->peak[ODG_TAG_ACTIVATION];
    S->workspace_bytes = S->peak[ODG_TAG_WORKSPACE];

done:
    odg_mem_free(mem, traj);
    odg_erk_destroy(&erk);
    odg_mem_free(mem, buf);
    odg_outputs_destroy(&out);
    return st;
}
