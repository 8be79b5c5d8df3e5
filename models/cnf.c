/* The continuous normalizing flow (FFJORD, Grathwohl et al. 2019): the state of one sample is
 * (z, l) in R^(D+1), z carried by the mlp field and l by minus the trace of its Jacobian,
 *
 *     dz/dt = g(z) = W2 a + b2,  a = tanh(u),  u = W1 z + b1
 *     dl/dt = -tr(dg/dz) = -sum_h (1 - a_h^2) c_h,  c_h = (W1 W2)_hh = sum_d W1[h,d] W2[d,h]
 *
 * (docs/theory.md, "Continuous normalizing flows").  With Hutchinson's estimator the trace is
 * eps^T (dg/dz) eps for a noise vector eps per sample, drawn once at init (Rademacher, +-1):
 * c_h becomes the sample's k_h = p_h q_h with p = W2^T eps, q = W1 eps.  The VJP with cotangent
 * (G, gl) of one sample, written by hand:
 *
 *     Gu_h   = (G W2)_h (1 - a_h^2) + gl 2 k_h a_h (1 - a_h^2)     (d(1 - a^2)/du = -2 a (1 - a^2))
 *     zbar   = Gu W1,  lbar = 0
 *     gW2   += G^T a,  gb2 += G,  gW1 += Gu^T z,  gb1 += Gu
 *     exact:      r_h = -gl (1 - a_h^2):  gW1[h,d] += r_h W2[d,h],  gW2[d,h] += r_h W1[h,d]
 *     Hutchinson: gW1[h,d] += r_h p_h eps_d,  gW2[d,h] += r_h q_h eps_d
 *
 * The linear field g(z) = A z + b (opts.cnf_field LINEAR) has the constant trace tr A, so
 * l(T) = -T tr A exactly (log |det e^(A T)| = T tr A): the tests' closed form.
 *
 * State rows are D + 1 long (m->D = D + 1); z is read through BLAS with that leading dimension.
 * Determinism as in mlp.c: fixed batch chunks, single-threaded BLAS inside them, the per-chunk
 * parameter partials summed in chunk order.
 */
#include "models_impl.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct cnf_impl {
    double *A;    /* (B, H): u, then tanh(u) */
    double *Gu;   /* (B, H) */
    double *Pm;   /* (B, H): p = eps W2 (Hutchinson) */
    double *Qm;   /* (B, H): q = eps W1^T (Hutchinson) */
    double *c;    /* (H): diag(W1 W2) (exact) */
    double *eps;  /* (B, D): the Hutchinson noise, fixed at init */
    double *part; /* (nchunks, P) */
} cnf_impl;

typedef struct parts {
    size_t B, D, S, H; /* S = D + 1, the row length of the state */
    const double *W1, *b1, *W2, *b2;
    int hutch;
} parts;

static parts unpack(const odg_model *m)
{
    parts p;
    p.B = m->B;
    p.S = m->D;
    p.D = m->D - 1;
    p.H = m->opts.H;
    p.W1 = m->theta;
    p.b1 = p.W1 + p.H * p.D;
    p.W2 = p.b1 + p.H;
    p.b2 = p.W2 + p.D * p.H;
    p.hutch = m->opts.trace == ODG_TRACE_HUTCHINSON;
    return p;
}

/* k (n, H) of rows [lo, lo + n): the per-sample trace weights, c_h (exact) or p_h q_h. */
static double kweight(const parts *p, const cnf_impl *ci, size_t i, size_t h)
{
    return p->hutch ? ci->Pm[i * p->H + h] * ci->Qm[i * p->H + h] : ci->c[h];
}

/* a = tanh(Z W1^T + b1) for rows [lo, lo + n), and with Hutchinson p and q. */
static void hidden_rows(const parts *p, cnf_impl *ci, const double *Z, size_t lo, size_t n)
{
    const int D = (int)p->D, H = (int)p->H, S = (int)p->S;
    double *A = ci->A + lo * p->H;
    for (size_t i = 0; i < n; i++) {
        memcpy(A + i * p->H, p->b1, p->H * sizeof(double));
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, H, D, 1.0, Z + lo * p->S, S, p->W1,
                D, 1.0, A, H);
    for (size_t k = 0; k < n * p->H; k++) {
        A[k] = tanh(A[k]);
    }
    if (p->hutch) {
        const double *E = ci->eps + lo * p->D;
        // Pm (n, H) = eps (n, D) W2 (D, H);  Qm (n, H) = eps (n, D) W1^T (D, H)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, H, D, 1.0, E, D, p->W2, H,
                    0.0, ci->Pm + lo * p->H, H);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, H, D, 1.0, E, D, p->W1, D, 0.0,
                    ci->Qm + lo * p->H, H);
    }
}

static void diag_w1w2(const parts *p, double *c)
{
    for (size_t h = 0; h < p->H; h++) {
        double s = 0;
        for (size_t d = 0; d < p->D; d++) {
            s += p->W1[h * p->D + d] * p->W2[d * p->H + h];
        }
        c[h] = s;
    }
}

static void f_rows(const parts *p, cnf_impl *ci, const double *Z, double *F, size_t lo, size_t n)
{
    const int D = (int)p->D, H = (int)p->H, S = (int)p->S;
    hidden_rows(p, ci, Z, lo, n);
    const double *A = ci->A + lo * p->H;
    for (size_t i = lo; i < lo + n; i++) {
        memcpy(F + i * p->S, p->b2, p->D * sizeof(double));
    }
    // F[:, :D] (n, D) += A (n, H) W2^T (H, D)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, D, H, 1.0, A, H, p->W2, H, 1.0,
                F + lo * p->S, S);
    for (size_t i = 0; i < n; i++) {
        double tr = 0;
        for (size_t h = 0; h < p->H; h++) {
            const double a = A[i * p->H + h];
            tr += (1.0 - a * a) * kweight(p, ci, lo + i, h);
        }
        F[(lo + i) * p->S + p->D] = -tr;
    }
}

/* Chunk c's partial gradient into part (P, zeroed here) and its rows of Zbar. */
static void vjp_rows(const parts *p, cnf_impl *ci, const double *Z, const double *G, double *Zbar,
                     double *part, size_t lo, size_t n)
{
    const int D = (int)p->D, H = (int)p->H, S = (int)p->S;
    const size_t PP = 2 * p->H * p->D + p->H + p->D;
    memset(part, 0, PP * sizeof(double));
    double *gW1 = part, *gb1 = gW1 + p->H * p->D, *gW2 = gb1 + p->H, *gb2 = gW2 + p->D * p->H;
    hidden_rows(p, ci, Z, lo, n);
    const double *A = ci->A + lo * p->H;
    double *Gu = ci->Gu + lo * p->H;
    const double *Gz = G + lo * p->S, *Zz = Z + lo * p->S;
    // Gu (n, H) = G[:, :D] (n, D) W2 (D, H)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, H, D, 1.0, Gz, S, p->W2, H, 0.0,
                Gu, H);
    for (size_t i = 0; i < n; i++) {
        const double gl = G[(lo + i) * p->S + p->D];
        for (size_t h = 0; h < p->H; h++) {
            const double a = A[i * p->H + h], s = 1.0 - a * a;
            Gu[i * p->H + h] = Gu[i * p->H + h] * s + gl * 2.0 * kweight(p, ci, lo + i, h) * a * s;
        }
    }
    // Zbar[:, :D] (n, D) = Gu (n, H) W1 (H, D); Zbar[:, D] = 0
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, D, H, 1.0, Gu, H, p->W1, D, 0.0,
                Zbar + lo * p->S, S);
    for (size_t i = lo; i < lo + n; i++) {
        Zbar[i * p->S + p->D] = 0.0;
    }
    // gW2 (D, H) += G[:, :D]^T A;  gW1 (H, D) += Gu^T Z[:, :D]
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, H, (int)n, 1.0, Gz, S, A, H, 1.0, gW2,
                H);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, D, (int)n, 1.0, Gu, H, Zz, S, 1.0, gW1,
                D);
    for (size_t i = 0; i < n; i++) {
        for (size_t d = 0; d < p->D; d++) {
            gb2[d] += Gz[i * p->S + d];
        }
        for (size_t h = 0; h < p->H; h++) {
            gb1[h] += Gu[i * p->H + h];
        }
    }
    /* the trace's own dependence on W1 and W2; r_h = -gl (1 - a_h^2) */
    if (!p->hutch) {
        for (size_t h = 0; h < p->H; h++) {
            double r = 0;
            for (size_t i = 0; i < n; i++) {
                const double a = A[i * p->H + h];
                r -= G[(lo + i) * p->S + p->D] * (1.0 - a * a);
            }
            for (size_t d = 0; d < p->D; d++) {
                gW1[h * p->D + d] += r * p->W2[d * p->H + h];
                gW2[d * p->H + h] += r * p->W1[h * p->D + d];
            }
        }
    } else {
        /* Gu is free again: R .* P into it, then R .* Q into A's rows (no longer needed) */
        double *RQ = ci->A + lo * p->H;
        for (size_t i = 0; i < n; i++) {
            const double gl = G[(lo + i) * p->S + p->D];
            for (size_t h = 0; h < p->H; h++) {
                const size_t k = i * p->H + h, kk = (lo + i) * p->H + h;
                const double r = -gl * (1.0 - RQ[k] * RQ[k]);
                Gu[k] = r * ci->Pm[kk];
                RQ[k] = r * ci->Qm[kk];
            }
        }
        const double *E = ci->eps + lo * p->D;
        // gW1 (H, D) += (R .* P)^T (H, n) eps (n, D);  gW2 (D, H) += eps^T (D, n) (R .* Q) (n, H)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, D, (int)n, 1.0, Gu, H, E, D, 1.0,
                    gW1, D);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, H, (int)n, 1.0, E, D, RQ, H, 1.0,
                    gW2, H);
    }
}

/* A parallel region with more than one chunk, or when a GEMM of the call (B x H x D at most)
 * is one OpenBLAS could split outside a region (ODG_BLAS_SERIAL_MNK): inside one every GEMM runs
 * single-threaded, so the bits do not depend on the thread count (models.h). */
static int cnf_team(const odg_model *m)
{
    return m->nchunks > 1 ||
           (double)m->B * (double)m->D * (double)(m->opts.H + 1) > ODG_BLAS_SERIAL_MNK;
}

/* The chunks' rows of f, or of the VJP with each chunk's partial into ci->part: worksharing loops
 * for cnf_f and cnf_vjp's regions. */
static void cnf_f_loop(odg_model *m, const parts *p, cnf_impl *ci, const double *Z, double *F)
{
#pragma omp for schedule(static)
    for (long c = 0; c < (long)m->nchunks; c++) {
        size_t lo, n;
        odg_chunk_rows(m, c, &lo, &n);
        f_rows(p, ci, Z, F, lo, n);
    }
}

static void cnf_vjp_loop(odg_model *m, const parts *p, cnf_impl *ci, const double *Z,
                         const double *G, double *Zbar)
{
#pragma omp for schedule(static)
    for (long c = 0; c < (long)m->nchunks; c++) {
        size_t lo, n;
        odg_chunk_rows(m, c, &lo, &n);
        vjp_rows(p, ci, Z, G, Zbar, ci->part + (size_t)c * m->P, lo, n);
    }
}

static int cnf_f(odg_model *m, double t, const double *Z, double *F)
{
    parts p = unpack(m);
    cnf_impl *ci = m->impl;
    if (!p.hutch) {
        diag_w1w2(&p, ci->c);
    }
    ODG_PARALLEL(cnf_team(m), cnf_f_loop(m, &p, ci, Z, F));
    return 0;
}

static int cnf_vjp(odg_model *m, double t, const double *Z, const double *G, double *Zbar,
                   double *gtheta)
{
    parts p = unpack(m);
    cnf_impl *ci = m->impl;
    if (!p.hutch) {
        diag_w1w2(&p, ci->c);
    }
    const long nch = (long)m->nchunks;
    const size_t P = m->P;
    ODG_PARALLEL(cnf_team(m), cnf_vjp_loop(m, &p, ci, Z, G, Zbar));
    for (long c = 0; c < nch; c++) { /* in chunk order, whatever the threads */
        const double *pc = ci->part + (size_t)c * P;
        for (size_t k = 0; k < P; k++) {
            gtheta[k] += pc[k];
        }
    }
    return 0;
}

/* ---- plain-loop reference: the Jacobian formed per sample, its trace and their derivatives
 * straight from the definitions ------------------------------------------------------------ */

static void ref_hidden(const parts *p, const double *z, double *a)
{
    for (size_t h = 0; h < p->H; h++) {
        double u = p->b1[h];
        for (size_t d = 0; d < p->D; d++) {
            u += p->W1[h * p->D + d] * z[d];
        }
        a[h] = tanh(u);
    }
}

/* the trace estimate's vector: e (D) = eps of sample i, or NULL for the exact trace */
static double ref_trace(const parts *p, const double *a, const double *e)
{
    double tr = 0;
    for (size_t d = 0; d < p->D; d++) {
        for (size_t d2 = 0; d2 < p->D; d2++) {
            if (e == NULL && d2 != d) {
                continue;
            }
            double J = 0; /* dg_d / dz_d2 */
            for (size_t h = 0; h < p->H; h++) {
                J += p->W2[d * p->H + h] * (1.0 - a[h] * a[h]) * p->W1[h * p->D + d2];
            }
            tr += e ? e[d] * J * e[d2] : J;
        }
    }
    return tr;
}

static int cnf_f_ref(odg_model *m, double t, const double *Z, double *F)
{
    parts p = unpack(m);
    cnf_impl *ci = m->impl;
    double *a = ci->c + p.H; /* the reference's scratch: (H) after c */
    for (size_t i = 0; i < p.B; i++) {
        const double *z = Z + i * p.S;
        ref_hidden(&p, z, a);
        for (size_t d = 0; d < p.D; d++) {
            double s = p.b2[d];
            for (size_t h = 0; h < p.H; h++) {
                s += p.W2[d * p.H + h] * a[h];
            }
            F[i * p.S + d] = s;
        }
        F[i * p.S + p.D] = -ref_trace(&p, a, p.hutch ? ci->eps + i * p.D : NULL);
    }
    return 0;
}

static int cnf_vjp_ref(odg_model *m, double t, const double *Z, const double *G, double *Zbar,
                       double *gtheta)
{
    parts p = unpack(m);
    cnf_impl *ci = m->impl;
    double *a = ci->c + p.H, *gu = a + p.H;
    double *gW1 = gtheta, *gb1 = gW1 + p.H * p.D, *gW2 = gb1 + p.H, *gb2 = gW2 + p.D * p.H;
    for (size_t i = 0; i < p.B; i++) {
        const double *z = Z + i * p.S, *g = G + i * p.S;
        const double gl = g[p.D];
        const double *e = p.hutch ? ci->eps + i * p.D : NULL;
        ref_hidden(&p, z, a);
        for (size_t h = 0; h < p.H; h++) {
            /* k_h = sum over the trace's pairs (d, d2) of W2[d,h] W1[h,d2] (e_d e_d2) */
            double k = 0, pe = 0, qe = 0;
            for (size_t d = 0; d < p.D; d++) {
                if (e) {
                    pe += e[d] * p.W2[d * p.H + h];
                    qe += p.W1[h * p.D + d] * e[d];
                } else {
                    k += p.W1[h * p.D + d] * p.W2[d * p.H + h];
                }
            }
            if (e) {
                k = pe * qe;
            }
            double gw = 0;
            for (size_t d = 0; d < p.D; d++) {
                gw += g[d] * p.W2[d * p.H + h];
            }
            const double s = 1.0 - a[h] * a[h];
            gu[h] = gw * s + gl * 2.0 * k * a[h] * s;
            const double r = -gl * s; /* d f_l / d k_h */
            for (size_t d = 0; d < p.D; d++) {
                gW1[h * p.D + d] += gu[h] * z[d] + r * (e ? pe * e[d] : p.W2[d * p.H + h]);
                gW2[d * p.H + h] += g[d] * a[h] + r * (e ? qe * e[d] : p.W1[h * p.D + d]);
            }
            gb1[h] += gu[h];
        }
        for (size_t d = 0; d < p.D; d++) {
            double s = 0;
            for (size_t h = 0; h < p.H; h++) {
                s += gu[h] * p.W1[h * p.D + d];
            }
            Zbar[i * p.S + d] = s;
            gb2[d] += g[d];
        }
        Zbar[i * p.S + p.D] = 0.0;
    }
    return 0;
}

/* ---- the linear field: g = A z + b, tr(dg/dz) = tr A (exact) or eps^T A eps --------------- */

static int lin_f(odg_model *m, double t, const double *Z, double *F)
{
    const size_t B = m->B, S = m->D, D = S - 1;
    const double *A = m->theta, *b = A + D * D;
    const cnf_impl *ci = m->impl;
    for (size_t i = 0; i < B; i++) {
        const double *z = Z + i * S, *e = ci->eps ? ci->eps + i * D : NULL;
        double tr = 0;
        for (size_t j = 0; j < D; j++) {
            double s = b[j];
            for (size_t k = 0; k < D; k++) {
                s += A[j * D + k] * z[k];
                tr += e ? e[j] * A[j * D + k] * e[k] : (j == k ? A[j * D + k] : 0.0);
            }
            F[i * S + j] = s;
        }
        F[i * S + D] = -tr;
    }
    return 0;
}

static int lin_vjp(odg_model *m, double t, const double *Z, const double *G, double *Zbar,
                   double *gtheta)
{
    const size_t B = m->B, S = m->D, D = S - 1;
    const double *A = m->theta;
    double *gA = gtheta, *gb = gA + D * D;
    const cnf_impl *ci = m->impl;
    for (size_t i = 0; i < B; i++) {
        const double *z = Z + i * S, *g = G + i * S, *e = ci->eps ? ci->eps + i * D : NULL;
        const double gl = g[D];
        for (size_t k = 0; k < D; k++) {
            double s = 0;
            for (size_t j = 0; j < D; j++) {
                s += g[j] * A[j * D + k];
                /* d(-tr)/dA[j,k] = -e_j e_k, or -1 on the diagonal */
                gA[j * D + k] += g[j] * z[k] - gl * (e ? e[j] * e[k] : (j == k ? 1.0 : 0.0));
            }
            Zbar[i * S + k] = s;
        }
        Zbar[i * S + D] = 0.0;
        for (size_t j = 0; j < D; j++) {
            gb[j] += g[j];
        }
    }
    return 0;
}

/* ---- create, init ------------------------------------------------------------------------- */

static void cnf_destroy(odg_model *m)
{
    if (m->impl != NULL) {
        cnf_impl *ci = m->impl;
        odg_mem_free(m->mem, ci->A);
        odg_mem_free(m->mem, m->impl);
        m->impl = NULL;
    }
}

static const odg_model_ops cnf_blas_ops = {cnf_f, cnf_vjp, cnf_destroy, NULL, NULL};
static const odg_model_ops cnf_ref_ops = {cnf_f_ref, cnf_vjp_ref, cnf_destroy, NULL,
                                          NULL};
static const odg_model_ops cnf_lin_ops = {lin_f, lin_vjp, cnf_destroy, NULL, NULL};

/* m->D is the state's row, D + 1: opts.D is the data's dimension. */
odg_status odg_cnf_create(odg_model *m)
{
    const odg_model_opts *o = &m->opts;
    const int linear = o->cnf_field == ODG_MODEL_LINEAR;
    if (o->time_input != 0 || (o->cnf_field != ODG_MODEL_MLP && !linear)) {
        return ODG_EUNSUP;
    }
    if (o->trace < 0 || o->trace >= ODG_NTRACES) {
        return ODG_EINVAL;
    }
    const size_t D = o->D, H = linear ? 0 : o->H, B = m->B;
    const size_t maxn = SIZE_MAX / sizeof(double) / 8;
    if (D >= maxn || (!linear && (H < 1 || H > maxn / (D + 1) / 2)) || D > maxn / (D + 1) ||
        B > maxn / (D + 1) / (H + D + 1)) {
        return ODG_EINVAL;
    }
    m->D = D + 1;
    if (linear) {
        m->P = D * D + D;
        m->nviews = 2;
        m->view[0] = (odg_param_view){"A", 0, D, D};
        m->view[1] = (odg_param_view){"b", D * D, D, 1};
    } else {
        m->P = 2 * H * D + H + D;
        m->nviews = 4;
        m->view[0] = (odg_param_view){"W1", 0, H, D};
        m->view[1] = (odg_param_view){"b1", H * D, H, 1};
        m->view[2] = (odg_param_view){"W2", H * D + H, D, H};
        m->view[3] = (odg_param_view){"b2", 2 * H * D + H, D, 1};
    }
    cnf_impl *ci = odg_mem_alloc(m->mem, ODG_TAG_MODEL, sizeof *ci);
    if (ci == NULL) {
        return ODG_ENOMEM;
    }
    memset(ci, 0, sizeof *ci);
    /* one block: A, Gu, Pm, Qm (B, H each), c and the reference's two (H) rows, eps (B, D), the
     * partials (nchunks, P) */
    const size_t n = 4 * B * H + 3 * H + B * D + m->nchunks * m->P;
    double *blk = odg_mem_doubles(m->mem, ODG_TAG_MODEL, n);
    if (blk == NULL) {
        odg_mem_free(m->mem, ci);
        return ODG_ENOMEM;
    }
    ci->A = blk;
    ci->Gu = ci->A + B * H;
    ci->Pm = ci->Gu + B * H;
    ci->Qm = ci->Pm + B * H;
    ci->c = ci->Qm + B * H;
    ci->eps = o->trace == ODG_TRACE_HUTCHINSON ? ci->c + 3 * H : NULL;
    ci->part = ci->c + 3 * H + B * D;
    m->impl = ci;
    m->ops = linear ? &cnf_lin_ops : o->reference ? &cnf_ref_ops : &cnf_blas_ops;
    return ODG_OK;
}

/* theta as mlp's (W1 ~ N(0, g^2 / D), b1 = 0.1, W2 ~ N(0, g^2 / H), b2 = 0.1) or linear's
 * (A ~ N(0, g^2 / D), b = 0.1), then the Hutchinson noise, +-1 with equal odds. */
odg_status odg_cnf_init(odg_model *m, odg_rng *rng)
{
    const odg_model_opts *o = &m->opts;
    const size_t D = o->D, H = o->H;
    cnf_impl *ci = m->impl;
    const double g = o->gain;
    if (o->cnf_field == ODG_MODEL_LINEAR) {
        odg_rng_fill_normal(rng, m->theta, D * D, 0.0, g / sqrt((double)D));
        for (size_t j = 0; j < D; j++) {
            m->theta[D * D + j] = 0.1;
        }
    } else {
        odg_rng_fill_normal(rng, m->theta, H * D, 0.0, g / sqrt((double)D));
        for (size_t h = 0; h < H; h++) {
            m->theta[H * D + h] = 0.1;
        }
        odg_rng_fill_normal(rng, m->theta + H * D + H, D * H, 0.0, g / sqrt((double)H));
        for (size_t d = 0; d < D; d++) {
            m->theta[2 * H * D + H + d] = 0.1;
        }
    }
    if (ci->eps != NULL) {
        for (size_t k = 0; k < m->B * D; k++) {
            ci->eps[k] = odg_rng_uniform(rng) < 0.5 ? -1.0 : 1.0;
        }
    }
    return ODG_OK;
}
