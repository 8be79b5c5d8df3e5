/* The CVODES peer: the gradient of an mlp or linear model by SUNDIALS CVODES's adjoint, with the
 * model's own f and VJP (docs/experiments.md, "Peers"; docs/theory.md section 4, the continuous
 * adjoint).  Built with CVODES when CMake finds SUNDIALS (ODG_HAVE_CVODES); otherwise every entry
 * says so (ODG_EUNSUP) and the harness refuses --solver cvodes naming libsundials-dev.
 *
 * Forward: z' = f(t, z) by CVodeF from t0 to t1, a checkpoint every ODG_CVODES_ND steps.
 * Backward: lam' = -(df/dz)^T lam from lam(t1) = w / B by CVodeB (CVODES recomputes each interval
 * forward and interpolates z with Hermite polynomials), and the quadrature
 * q' = -lam^T df/dtheta with q(t1) = 0, so q(t0) = int_t0^t1 lam^T df/dtheta dt = gtheta.
 * One VJP gives both lam^T df/dz and lam^T df/dtheta: the backward right-hand side keeps the
 * parameter part it computed, and the quadrature's right-hand side takes it when CVODES asks at
 * the same t and lam (it asks right after, at every stage), rather than a second VJP.
 * Adams uses fixed-point iteration; BDF Newton with matrix-free GMRES (Jacobian-vector products
 * by CVODES's difference quotients of f, or of the adjoint's right-hand side). */
#include "odegrad/peers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef ODG_HAVE_CVODES
#include <cvodes/cvodes.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_config.h>
#include <sunlinsol/sunlinsol_spgmr.h>
#include <sunnonlinsol/sunnonlinsol_fixedpoint.h>
#endif

const char *odg_cvodes_version(void)
{
#ifdef ODG_HAVE_CVODES
    return SUNDIALS_VERSION;
#else
    return NULL;
#endif
}

#ifndef ODG_HAVE_CVODES

odg_status odg_cvodes_gradient(const odg_problem *p, odg_lmm lmm, double rtol, double atol,
                               double *gtheta, double *gz0, odg_grad_stats *S)
{
    return ODG_EUNSUP;
}

#else

typedef struct cv_ctx {
    odg_model *model;
    size_t M, P;   /* B * D, the parameters */
    double *gp;    /* (P): the parameter part of the last VJP */
    double *lam;   /* (M): the lam it was computed at */
    double t_gp;   /* and its t (NaN: none kept) */
    long nf, nvjp; /* f evaluations, VJPs */
    int bad;       /* a model call failed or a value was not finite */
} cv_ctx;

static int all_finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            return 0;
        }
    }
    return 1;
}

/* z' = f(t, z) */
static int rhs(sunrealtype t, N_Vector y, N_Vector ydot, void *ud)
{
    cv_ctx *c = ud;
    const double *Z = N_VGetArrayPointer(y);
    double *F = N_VGetArrayPointer(ydot);
    c->nf++;
    if (!all_finite(Z, c->M) || odg_model_f(c->model, t, Z, F) != 0) {
        c->bad = 1;
        return -1; /* unrecoverable */
    }
    return 0;
}

/* lam' = -(df/dz)^T lam, keeping lam^T df/dtheta for the quadrature */
static int rhs_adj(sunrealtype t, N_Vector y, N_Vector yB, N_Vector yBdot, void *ud)
{
    cv_ctx *c = ud;
    const double *Z = N_VGetArrayPointer(y), *lam = N_VGetArrayPointer(yB);
    double *Zbar = N_VGetArrayPointer(yBdot);
    memset(c->gp, 0, c->P * sizeof(double));
    c->nvjp++;
    if (!all_finite(lam, c->M) || odg_model_vjp(c->model, t, Z, lam, Zbar, c->gp) != 0) {
        c->bad = 1;
        return -1;
    }
    for (size_t i = 0; i < c->M; i++) {
        Zbar[i] = -Zbar[i];
    }
    memcpy(c->lam, lam, c->M * sizeof(double));
    c->t_gp = t;
    return 0;
}

/* q' = -lam^T df/dtheta: the one rhs_adj just computed at this t and lam, else a VJP of its own
 * (its Zbar dropped) */
static int rhs_quad(sunrealtype t, N_Vector y, N_Vector yB, N_Vector qBdot, void *ud)
{
    cv_ctx *c = ud;
    const double *Z = N_VGetArrayPointer(y), *lam = N_VGetArrayPointer(yB);
    double *q = N_VGetArrayPointer(qBdot);
    if (!(t == c->t_gp && memcmp(lam, c->lam, c->M * sizeof(double)) == 0)) {
        double *Zbar = malloc(c->M * sizeof(double));
        memset(c->gp, 0, c->P * sizeof(double));
        c->nvjp++;
        int rc = Zbar ? odg_model_vjp(c->model, t, Z, lam, Zbar, c->gp) : -1;
        free(Zbar);
        if (rc != 0) {
            c->bad = 1;
            return -1;
        }
        memcpy(c->lam, lam, c->M * sizeof(double));
        c->t_gp = t;
    }
    for (size_t i = 0; i < c->P; i++) {
        q[i] = -c->gp[i];
    }
    return 0;
}

/* The status of a CVODES return value (a failed allocation is an out-of-memory, the rest a
 * failed integration) or of a failed model call. */
static odg_status cv_status(int flag, const cv_ctx *c)
{
    if (c->bad) {
        return ODG_DIVERGED;
    }
    return flag == CV_MEM_FAIL ? ODG_ENOMEM : ODG_ESTEPS;
}

odg_status odg_cvodes_gradient(const odg_problem *p, odg_lmm lmm, double rtol, double atol,
                               double *gtheta, double *gz0, odg_grad_stats *S)
{
    if (!p || !p->model || !gtheta || !gz0 || !S || !(rtol > 0) || !(atol > 0) ||
        (lmm != ODG_LMM_ADAMS && lmm != ODG_LMM_BDF)) {
        return ODG_EINVAL;
    }
    memset(S, 0, sizeof *S);
    odg_model *m = p->model;
    cv_ctx c = {.model = m, .M = m->B * m->D, .P = m->P, .t_gp = NAN};
    const int family = lmm == ODG_LMM_ADAMS ? CV_ADAMS : CV_BDF;
    odg_status st = ODG_ENOMEM;
    int flag = 0, which = -1;
    int ncheck = 0;
    sunrealtype tret;
    SUNContext sun = NULL;
    void *cv = NULL;
    N_Vector y = NULL, yB = NULL, qB = NULL;
    SUNNonlinearSolver nls = NULL, nlsB = NULL;
    SUNLinearSolver ls = NULL, lsB = NULL;
    c.gp = malloc(c.P * sizeof(double));
    c.lam = malloc(c.M * sizeof(double));
    if (!c.gp || !c.lam || SUNContext_Create(NULL, &sun) != 0) {
        goto done;
    }
    y = N_VNew_Serial((sunindextype)c.M, sun);
    yB = N_VNew_Serial((sunindextype)c.M, sun);
    qB = N_VNew_Serial((sunindextype)c.P, sun);
    cv = CVodeCreate(family, sun);
    if (!y || !yB || !qB || !cv) {
        goto done;
    }
    memcpy(N_VGetArrayPointer(y), p->z0, c.M * sizeof(double));

    double t0 = odg_now();
    st = ODG_ESTEPS;
    if ((flag = CVodeInit(cv, rhs, p->t0, y)) != CV_SUCCESS ||
        (flag = CVodeSStolerances(cv, rtol, atol)) != CV_SUCCESS ||
        (flag = CVodeSetUserData(cv, &c)) != CV_SUCCESS ||
        (flag = CVodeSetMaxNumSteps(cv, 1000000)) != CV_SUCCESS) {
        st = cv_status(flag, &c);
        goto done;
    }
    if (family == CV_ADAMS) {
        nls = SUNNonlinSol_FixedPoint(y, 0, sun);
        flag = nls ? CVodeSetNonlinearSolver(cv, nls) : CV_MEM_FAIL;
    } else {
        ls = SUNLinSol_SPGMR(y, SUN_PREC_NONE, 0, sun);
        flag = ls ? CVodeSetLinearSolver(cv, ls, NULL) : CV_MEM_FAIL;
    }
    if (flag != CV_SUCCESS || (flag = CVodeAdjInit(cv, ODG_CVODES_ND, CV_HERMITE)) != CV_SUCCESS ||
        (flag = CVodeF(cv, p->t1, y, &tret, CV_NORMAL, &ncheck)) < 0) {
        st = cv_status(flag, &c);
        goto done;
    }
    long nst = 0, netf = 0;
    CVodeGetNumSteps(cv, &nst);
    CVodeGetNumErrTestFails(cv, &netf);
    S->steps = nst;
    S->rejected = netf;
    S->nfe_forward = c.nf;
    S->checkpoints = ncheck;
    const double *zT = N_VGetArrayPointer(y);
    double *lamT = N_VGetArrayPointer(yB);
    double loss = 0.0;
    for (size_t i = 0; i < c.M; i++) {
        loss += p->w[i] * zT[i];
        lamT[i] = p->lamT ? p->lamT[i] : p->w[i] / (double)m->B;
    }
    S->loss = loss / (double)m->B;
    double t1 = odg_now();
    S->forward_s = t1 - t0;

    N_VConst(0.0, qB);
    if ((flag = CVodeCreateB(cv, family, &which)) != CV_SUCCESS ||
        (flag = CVodeInitB(cv, which, rhs_adj, p->t1, yB)) != CV_SUCCESS ||
        (flag = CVodeSStolerancesB(cv, which, rtol, atol)) != CV_SUCCESS ||
        (flag = CVodeSetUserDataB(cv, which, &c)) != CV_SUCCESS ||
        (flag = CVodeSetMaxNumStepsB(cv, which, 1000000)) != CV_SUCCESS ||
        (flag = CVodeQuadInitB(cv, which, rhs_quad, qB)) != CV_SUCCESS) {
        st = cv_status(flag, &c);
        goto done;
    }
    if (family == CV_ADAMS) {
        nlsB = SUNNonlinSol_FixedPoint(yB, 0, sun);
        flag = nlsB ? CVodeSetNonlinearSolverB(cv, which, nlsB) : CV_MEM_FAIL;
    } else {
        lsB = SUNLinSol_SPGMR(yB, SUN_PREC_NONE, 0, sun);
        flag = lsB ? CVodeSetLinearSolverB(cv, which, lsB, NULL) : CV_MEM_FAIL;
    }
    long nf_forward = c.nf;
    if (flag != CV_SUCCESS || (flag = CVodeB(cv, p->t0, CV_NORMAL)) < 0 ||
        (flag = CVodeGetB(cv, which, &tret, yB)) != CV_SUCCESS ||
        (flag = CVodeGetQuadB(cv, which, &tret, qB)) != CV_SUCCESS) {
        st = cv_status(flag, &c);
        goto done;
    }
    S->backward_s = odg_now() - t1;
    long nstB = 0;
    CVodeGetNumSteps(CVodeGetAdjCVodeBmem(cv, which), &nstB);
    S->adj_steps = nstB;
    S->nfe_backward = c.nf - nf_forward;
    S->nvjp = c.nvjp;
    memcpy(gz0, N_VGetArrayPointer(yB), c.M * sizeof(double));
    memcpy(gtheta, N_VGetArrayPointer(qB), c.P * sizeof(double));
    st = c.bad ? ODG_DIVERGED : ODG_OK;

done:
    if (cv) {
        CVodeFree(&cv); /* the backward problems with it */
    }
    if (nls) {
        SUNNonlinSolFree(nls);
    }
    if (nlsB) {
        SUNNonlinSolFree(nlsB);
    }
    if (ls) {
        SUNLinSolFree(ls);
    }
    if (lsB) {
        SUNLinSolFree(lsB);
    }
    if (y) {
        N_VDestroy(y);
    }
    if (yB) {
        N_VDestroy(yB);
    }
    if (qB) {
        N_VDestroy(qB);
    }
    if (sun) {
        SUNContext_Free(&sun);
    }
    free(c.gp);
    free(c.lam);
    return st;
}

#endif
