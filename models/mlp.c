/* The MLP vector field f(t, z) = W2 tanh(W1 [z; t] + b1) + b2 over a batch, and its hand-written
 * VJP: a BLAS version (cblas_dgemm) and a plain-loop reference version that tests compare with.
 * THEORY.md section 8; DESIGN.md "Canonical problems" (initialisation).
 *
 * theta = [W1 (H, Din), b1 (H), W2 (D, H), b2 (D)], Din = D + time_input; with time input, t
 * enters through the last column of W1, so U = Z W1[:, :D]^T + 1 (b1 + t W1[:, D])^T.
 */
#include "odegrad/models.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>

/* Scratch, allocated at create so f and vjp never allocate.  U is formed in place in Hh (tanh
 * overwrites it), so two (B, H) arrays suffice. */
typedef struct mlp_impl {
    double *Hh; /* (B, H): U, then tanh(U) */
    double *Gu; /* (B, H): dL/dU */
} mlp_impl;

/* The pieces of theta and the sizes, unpacked once per call. */
typedef struct mlp_parts {
    size_t B, D, H, Din;
    int ti;
    const double *W1, *b1, *W2, *b2;
} mlp_parts;

static mlp_parts mlp_unpack(const odg_model *m)
{
    mlp_parts p;
    p.B = m->B;
    p.D = m->D;
    p.H = m->opts.H;
    p.ti = m->opts.time_input;
    p.Din = p.D + (size_t)p.ti;
    p.W1 = m->theta + m->view[0].offset;
    p.b1 = m->theta + m->view[1].offset;
    p.W2 = m->theta + m->view[2].offset;
    p.b2 = m->theta + m->view[3].offset;
    return p;
}

/* The hidden bias with time folded in: b1[j] + t W1[j, D] (just b1[j] without time input). */
static double mlp_bias1(const mlp_parts *p, double t, size_t j)
{
    return p->ti ? p->b1[j] + t * p->W1[j * p->Din + p->D] : p->b1[j];
}

/* gb1 += colsum(Gu), and with time input gW1[:, D] += Gu^T t = t colsum(Gu).  Each column is
 * summed in row order into a local and added once, so the result does not depend on how a
 * caller splits work, and two calls add exactly twice.  Gu is (B, H). */
static void mlp_bias1_grad(const mlp_parts *p, double t, const double *Gu, double *gW1, double *gb1)
{
    for (size_t j = 0; j < p->H; j++) {
        double s = 0;
        for (size_t i = 0; i < p->B; i++) {
            s += Gu[i * p->H + j];
        }
        gb1[j] += s;
        if (p->ti) {
            gW1[j * p->Din + p->D] += t * s;
        }
    }
}

/* out[j] += sum_i X[i, j], column by column in row order (see mlp_bias1_grad).
 * X is (rows, cols). */
static void colsum_add(const double *X, size_t rows, size_t cols, double *out)
{
    for (size_t j = 0; j < cols; j++) {
        double s = 0;
        for (size_t i = 0; i < rows; i++) {
            s += X[i * cols + j];
        }
        out[j] += s;
    }
}

/* ---- BLAS version ------------------------------------------------------------------------- */

/* Hh = tanh(Z W1[:, :D]^T + 1 c^T), c = b1 + t W1[:, D].  Z is (B, D), Hh is (B, H). */
static void mlp_hidden_blas(const mlp_parts *p, double t, const double *Z, double *Hh)
{
    for (size_t i = 0; i < p->B; i++) {
        for (size_t j = 0; j < p->H; j++) {
            Hh[i * p->H + j] = mlp_bias1(p, t, j);
        }
    }
    /* W1 is (H, Din): its first D columns with leading dimension Din skip the time column */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p->B, (int)p->H, (int)p->D, 1.0, Z,
                (int)p->D, p->W1, (int)p->Din, 1.0, Hh, (int)p->H);
    for (size_t k = 0; k < p->B * p->H; k++) {
        Hh[k] = tanh(Hh[k]);
    }
}

/* Z, F are (B, D) */
static int mlp_f_blas(odg_model *m, double t, const double *Z, double *F)
{
    mlp_parts p = mlp_unpack(m);
    mlp_impl *w = m->impl;
    mlp_hidden_blas(&p, t, Z, w->Hh);
    for (size_t i = 0; i < p.B; i++) {
        for (size_t j = 0; j < p.D; j++) {
            F[i * p.D + j] = p.b2[j];
        }
    }
    // F (B, D) = Hh (B, H) W2^T (H, D) + F
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p.B, (int)p.D, (int)p.H, 1.0, w->Hh,
                (int)p.H, p.W2, (int)p.H, 1.0, F, (int)p.D);
    return 0;
}

/* Z, G, Zbar are (B, D), gtheta is (P).  Zbar is overwritten (it must not alias Z or G), gtheta
 * accumulated.  Hh is recomputed rather than kept from f, so f and vjp need not be paired. */
static int mlp_vjp_blas(odg_model *m, double t, const double *Z, const double *G, double *Zbar,
                        double *gtheta)
{
    mlp_parts p = mlp_unpack(m);
    mlp_impl *w = m->impl;
    double *gW1 = gtheta + m->view[0].offset, *gb1 = gtheta + m->view[1].offset;
    double *gW2 = gtheta + m->view[2].offset, *gb2 = gtheta + m->view[3].offset;
    const int B = (int)p.B, D = (int)p.D, H = (int)p.H, Din = (int)p.Din;
    double *Hh = w->Hh, *Gu = w->Gu;

    mlp_hidden_blas(&p, t, Z, Hh);
    // gW2 (D, H) += G^T (D, B) Hh (B, H)
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, H, B, 1.0, G, D, Hh, H, 1.0, gW2, H);
    colsum_add(G, p.B, p.D, gb2);
    // Gu (B, H) = G (B, D) W2 (D, H), then times tanh' = 1 - Hh^2
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, D, 1.0, G, D, p.W2, H, 0.0, Gu, H);
    for (size_t k = 0; k < p.B * p.H; k++) {
        Gu[k] *= 1.0 - Hh[k] * Hh[k];
    }
    // gW1[:, :D] (H, D) += Gu^T (H, B) Z (B, D); leading dimension Din skips the time column
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, D, B, 1.0, Gu, H, Z, D, 1.0, gW1, Din);
    mlp_bias1_grad(&p, t, Gu, gW1, gb1);
    // Zbar (B, D) = Gu (B, H) W1[:, :D] (H, D); beta = 0, so whatever Zbar held is ignored
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, H, 1.0, Gu, H, p.W1, Din, 0.0,
                Zbar, D);
    return 0;
}

/* ---- plain-loop reference version --------------------------------------------------------- */

/* The same formulas as above with each dot product summed in index order: no BLAS, nothing
 * clever, so that a test can trust it. */
static void mlp_hidden_ref(const mlp_parts *p, double t, const double *Z, double *Hh)
{
    for (size_t i = 0; i < p->B; i++) {
        for (size_t j = 0; j < p->H; j++) {
            double s = 0;
            for (size_t k = 0; k < p->D; k++) {
                s += Z[i * p->D + k] * p->W1[j * p->Din + k];
            }
            Hh[i * p->H + j] = tanh(mlp_bias1(p, t, j) + s);
        }
    }
}

static int mlp_f_ref(odg_model *m, double t, const double *Z, double *F)
{
    mlp_parts p = mlp_unpack(m);
    mlp_impl *w = m->impl;
    mlp_hidden_ref(&p, t, Z, w->Hh);
    for (size_t i = 0; i < p.B; i++) {
        for (size_t j = 0; j < p.D; j++) {
            double s = 0;
            for (size_t h = 0; h < p.H; h++) {
                s += w->Hh[i * p.H + h] * p.W2[j * p.H + h];
            }
            F[i * p.D + j] = p.b2[j] + s;
        }
    }
    return 0;
}

static int mlp_vjp_ref(odg_model *m, double t, const double *Z, const double *G, double *Zbar,
                       double *gtheta)
{
    mlp_parts p = mlp_unpack(m);
    mlp_impl *w = m->impl;
    double *gW1 = gtheta + m->view[0].offset, *gb1 = gtheta + m->view[1].offset;
    double *gW2 = gtheta + m->view[2].offset, *gb2 = gtheta + m->view[3].offset;
    double *Hh = w->Hh, *Gu = w->Gu;
    const size_t B = p.B, D = p.D, H = p.H, Din = p.Din;

    mlp_hidden_ref(&p, t, Z, Hh);
    for (size_t j = 0; j < D; j++) { // gW2 += G^T Hh
        for (size_t h = 0; h < H; h++) {
            double s = 0;
            for (size_t i = 0; i < B; i++) {
                s += G[i * D + j] * Hh[i * H + h];
            }
            gW2[j * H + h] += s;
        }
    }
    colsum_add(G, B, D, gb2);
    for (size_t i = 0; i < B; i++) { // Gu = (G W2) .* (1 - Hh^2)
        for (size_t h = 0; h < H; h++) {
            double s = 0;
            for (size_t j = 0; j < D; j++) {
                s += G[i * D + j] * p.W2[j * H + h];
            }
            Gu[i * H + h] = s * (1.0 - Hh[i * H + h] * Hh[i * H + h]);
        }
    }
    for (size_t h = 0; h < H; h++) { // gW1[:, :D] += Gu^T Z
        for (size_t k = 0; k < D; k++) {
            double s = 0;
            for (size_t i = 0; i < B; i++) {
                s += Gu[i * H + h] * Z[i * D + k];
            }
            gW1[h * Din + k] += s;
        }
    }
    mlp_bias1_grad(&p, t, Gu, gW1, gb1);
    for (size_t i = 0; i < B; i++) { // Zbar = Gu W1[:, :D]
        for (size_t k = 0; k < D; k++) {
            double s = 0;
            for (size_t h = 0; h < H; h++) {
                s += Gu[i * H + h] * p.W1[h * Din + k];
            }
            Zbar[i * D + k] = s;
        }
    }
    return 0;
}

/* ---- create, destroy, init ---------------------------------------------------------------- */

static void mlp_destroy(odg_model *m)
{
    mlp_impl *w = m->impl;
    if (w == NULL) {
        return;
    }
    odg_mem_free(m->mem, w->Hh);
    odg_mem_free(m->mem, w->Gu);
    odg_mem_free(m->mem, w);
    m->impl = NULL;
}

static const odg_model_ops mlp_blas_ops = {mlp_f_blas, mlp_vjp_blas, mlp_destroy};
static const odg_model_ops mlp_ref_ops = {mlp_f_ref, mlp_vjp_ref, mlp_destroy};

odg_status odg_mlp_create(odg_model *m)
{
    const odg_model_opts *o = &m->opts;
    const size_t D = m->D, B = m->B, H = o->H;
    if (H < 1 || H > INT_MAX || (o->time_input != 0 && o->time_input != 1) ||
        D > (size_t)INT_MAX - (size_t)o->time_input) { /* Din is a BLAS int too */
        return ODG_EINVAL;
    }
    const size_t Din = D + (size_t)o->time_input;
    const size_t maxn = SIZE_MAX / sizeof(double);
    if (H > maxn / Din || H > maxn / D || H > maxn / B) { /* W1, W2, Hh and Gu */
        return ODG_EINVAL;
    }
    const size_t nW1 = H * Din, nW2 = D * H;
    if (nW1 > maxn - H || nW1 + H > maxn - nW2 || nW1 + H + nW2 > maxn - D) { /* P */
        return ODG_EINVAL;
    }
    m->nviews = 4;
    m->view[0] = (odg_param_view){"W1", 0, H, Din};
    m->view[1] = (odg_param_view){"b1", nW1, H, 1};
    m->view[2] = (odg_param_view){"W2", nW1 + H, D, H};
    m->view[3] = (odg_param_view){"b2", nW1 + H + nW2, D, 1};
    m->P = nW1 + H + nW2 + D;

    mlp_impl *w = odg_mem_alloc(m->mem, ODG_TAG_MODEL, sizeof *w);
    if (w == NULL) {
        return ODG_ENOMEM;
    }
    w->Hh = odg_mem_doubles(m->mem, ODG_TAG_MODEL, B * H);
    w->Gu = odg_mem_doubles(m->mem, ODG_TAG_MODEL, B * H);
    if (w->Hh == NULL || w->Gu == NULL) {
        goto fail;
    }
    m->impl = w;
    m->ops = o->reference ? &mlp_ref_ops : &mlp_blas_ops;
    return ODG_OK;

fail:
    odg_mem_free(m->mem, w->Hh);
    odg_mem_free(m->mem, w->Gu);
    odg_mem_free(m->mem, w);
    return ODG_ENOMEM;
}

/* W1 ~ N(0, g^2/Din), b1 = 0.1, W2 ~ N(0, g^2/H), b2 = 0.1, drawn in view order, row-major. */
odg_status odg_mlp_init(odg_model *m, odg_rng *rng)
{
    const double g = m->opts.gain;
    for (int v = 0; v < m->nviews; v++) {
        const odg_param_view *pv = &m->view[v];
        double *x = m->theta + pv->offset;
        size_t n = pv->rows * pv->cols;
        if (v == 0 || v == 2) {
            /* fan-in: W1 (H, Din) has Din inputs per row, W2 (D, H) has H */
            odg_rng_fill_normal(rng, x, n, 0.0, g / sqrt((double)pv->cols));
        } else {
            for (size_t k = 0; k < n; k++) {
                x[k] = 0.1;
            }
        }
    }
    return ODG_OK;
}
