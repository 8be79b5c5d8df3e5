/* The linear vector field f(t, z) = A z + b over a batch, its VJP (BLAS and plain-loop reference
 * versions), and the seeded spectra of A (spectra.def).  Its exact continuous gradient (Van Loan)
 * is the reference of docs/theory.md section 8; docs/theory.md section 1.
 *
 * theta = [A (D, D), b (D)].  The field does not depend on t.  Threads: see "BLAS version".
 */
#include "models_impl.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- BLAS version ------------------------------------------------------------------------- */

/* Determinism (include/odegrad/models.h (batch chunks and BLAS modes); models.h, odg_blas_mode_resolve): F and Zbar are
 * row-wise, so CHUNKED computes them per fixed chunk of m->chunk rows in an OpenMP loop
 * (single-threaded BLAS inside it), bit-identical for any thread count, and THREADED as one GEMM
 * split by OpenBLAS's threads, which is not.  gA sums over the batch: in both modes it is cut into
 * fixed blocks of LINEAR_TILE rows of gA, each one GEMM over the whole batch run single-threaded
 * inside our parallel loop, so every element of gA comes from the same call whatever the thread
 * count.  (The mlp sums per-chunk partials instead; the linear model keeps no scratch.) */
#define LINEAR_TILE 32

// F[lo:lo+n] (n, D) = 1 b^T + Z[lo:lo+n] (n, D) A^T (D, D)
static void linear_f_rows(const odg_model *m, const double *Z, double *F, size_t lo, size_t n)
{
    const size_t D = m->D;
    const double *A = m->theta, *b = m->theta + D * D;
    for (size_t i = lo; i < lo + n; i++) {
        memcpy(F + i * D, b, D * sizeof(double));
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)D, (int)D, 1.0, Z + lo * D,
                (int)D, A, (int)D, 1.0, F + lo * D, (int)D);
}

// Zbar[lo:lo+n] (n, D) = G[lo:lo+n] (n, D) A (D, D); beta = 0, so Zbar's old values are ignored
static void linear_zbar_rows(const odg_model *m, const double *G, double *Zbar, size_t lo, size_t n)
{
    const int D = (int)m->D;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, D, D, 1.0, G + lo * m->D, D,
                m->theta, D, 0.0, Zbar + lo * m->D, D);
}

/* Whether to open a parallel region: with more than one chunk or gA tile, or when a GEMM of the
 * call (B x D x D at most) is one OpenBLAS could split outside a region (ODG_BLAS_SERIAL_MNK),
 * which would make the bits depend on the thread count. */
static int linear_team(const odg_model *m, long nch, long ntile)
{
    const double B = (double)m->B, D = (double)m->D;
    return nch > 1 || ntile > 1 || B * D * D > ODG_BLAS_SERIAL_MNK;
}

static void linear_f_chunk_loop(odg_model *m, const double *Z, double *F, long nch)
{
#pragma omp for schedule(static)
    for (long c = 0; c < nch; c++) {
        size_t lo, n;
        odg_chunk_rows(m, c, &lo, &n);
        linear_f_rows(m, Z, F, lo, n);
    }
}

/* Z, F are (B, D) */
static int linear_f_blas(odg_model *m, double t, const double *Z, double *F)
{
    if (m->blas == ODG_BLAS_THREADED) {
        linear_f_rows(m, Z, F, 0, m->B);
        return 0;
    }
    const long nch = (long)m->nchunks;
    ODG_PARALLEL(linear_team(m, nch, 1), linear_f_chunk_loop(m, Z, F, nch));
    return 0;
}

/* linear_vjp_blas's worksharing: Zbar's chunks (unless THREADED formed it whole), then gA's tiles
 * of rows, each a GEMM of its own. */
static void linear_vjp_loops(odg_model *m, const double *Z, const double *G, double *Zbar,
                             double *gA, long nch, long ntile)
{
    const size_t B = m->B, D = m->D;
    if (m->blas != ODG_BLAS_THREADED) {
#pragma omp for schedule(static)
        for (long c = 0; c < nch; c++) {
            size_t lo, n;
            odg_chunk_rows(m, c, &lo, &n);
            linear_zbar_rows(m, G, Zbar, lo, n);
        }
    }
#pragma omp for schedule(static)
    for (long k = 0; k < ntile; k++) {
        const size_t r0 = (size_t)k * LINEAR_TILE;
        const size_t nr = D - r0 < LINEAR_TILE ? D - r0 : LINEAR_TILE;
        // gA[r0:r0+nr] (nr, D) += G[:, r0:r0+nr]^T (nr, B) Z (B, D)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nr, (int)D, (int)B, 1.0, G + r0,
                    (int)D, Z, (int)D, 1.0, gA + r0 * D, (int)D);
    }
}

/* Z, G, Zbar are (B, D), gtheta is (P).  Zbar is overwritten (it must not alias Z or G), gtheta
 * accumulated. */
static int linear_vjp_blas(odg_model *m, double t, const double *Z, const double *G, double *Zbar,
                           double *gtheta)
{
    const size_t B = m->B, D = m->D;
    double *gA = gtheta, *gb = gtheta + D * D;
    const long nch = (long)m->nchunks, ntile = (long)((D + LINEAR_TILE - 1) / LINEAR_TILE);
    if (m->blas == ODG_BLAS_THREADED) {
        linear_zbar_rows(m, G, Zbar, 0, B);
    }
    ODG_PARALLEL(linear_team(m, nch, ntile), linear_vjp_loops(m, Z, G, Zbar, gA, nch, ntile));
    odg_colsum_add(G, B, D, gb);
    return 0;
}

/* ---- plain-loop reference version --------------------------------------------------------- */

static int linear_f_ref(odg_model *m, double t, const double *Z, double *F)
{
    const size_t B = m->B, D = m->D;
    const double *A = m->theta, *b = m->theta + D * D;
    for (size_t i = 0; i < B; i++) {
        for (size_t j = 0; j < D; j++) {
            double s = 0;
            for (size_t k = 0; k < D; k++) {
                s += Z[i * D + k] * A[j * D + k];
            }
            F[i * D + j] = b[j] + s;
        }
    }
    return 0;
}

static int linear_vjp_ref(odg_model *m, double t, const double *Z, const double *G, double *Zbar,
                          double *gtheta)
{
    const size_t B = m->B, D = m->D;
    const double *A = m->theta;
    double *gA = gtheta, *gb = gtheta + D * D;
    for (size_t i = 0; i < B; i++) { // Zbar = G A
        for (size_t k = 0; k < D; k++) {
            double s = 0;
            for (size_t j = 0; j < D; j++) {
                s += G[i * D + j] * A[j * D + k];
            }
            Zbar[i * D + k] = s;
        }
    }
    for (size_t j = 0; j < D; j++) { // gA += G^T Z
        for (size_t k = 0; k < D; k++) {
            double s = 0;
            for (size_t i = 0; i < B; i++) {
                s += G[i * D + j] * Z[i * D + k];
            }
            gA[j * D + k] += s;
        }
    }
    odg_colsum_add(G, B, D, gb);
    return 0;
}

/* ---- create, destroy ---------------------------------------------------------------------- */

static void linear_destroy(odg_model *m)
{
    (void)m; /* no scratch: f and vjp are single GEMMs straight into the caller's arrays */
}

static const odg_model_ops linear_blas_ops = {linear_f_blas, linear_vjp_blas, linear_destroy,
                                              NULL, NULL};
static const odg_model_ops linear_ref_ops = {linear_f_ref, linear_vjp_ref, linear_destroy, NULL,
                                             NULL};

odg_status odg_linear_create(odg_model *m)
{
    const size_t D = m->D;
    const size_t maxn = SIZE_MAX / sizeof(double);
    /* A linear field has no time input to offer: refuse rather than silently ignore it. */
    if (m->opts.time_input != 0) {
        return ODG_EUNSUP;
    }
    if (D > maxn / D || D * D > maxn - D) { /* A, then P */
        return ODG_EINVAL;
    }
    m->nviews = 2;
    m->view[0] = (odg_param_view){"A", 0, D, D};
    m->view[1] = (odg_param_view){"b", D * D, D, 1};
    m->P = D * D + D;
    m->impl = NULL;
    m->ops = m->opts.reference ? &linear_ref_ops : &linear_blas_ops;
    return ODG_OK;
}

/* ---- spectra ------------------------------------------------------------------------------ */

/* Q (D, D) orthogonal from the QR of a matrix of N(0, 1) draws, row-major, with the column signs
 * chosen so that R has a positive diagonal: that makes Q a function of the draws alone (and Haar
 * distributed).  tau and sign are (D) scratch. */
static odg_status random_orthogonal(odg_rng *rng, size_t D, double *Q, double *tau, double *sign)
{
    const int n = (int)D;
    odg_rng_fill_normal(rng, Q, D * D, 0.0, 1.0);
    if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, n, n, Q, n, tau) != 0) {
        return ODG_EINVAL;
    }
    for (size_t k = 0; k < D; k++) {
        sign[k] = Q[k * D + k] < 0 ? -1.0 : 1.0; /* R's diagonal, before dorgqr overwrites it */
    }
    if (LAPACKE_dorgqr(LAPACK_ROW_MAJOR, n, n, n, Q, n, tau) != 0) {
        return ODG_EINVAL;
    }
    for (size_t i = 0; i < D; i++) {
        for (size_t k = 0; k < D; k++) {
            Q[i * D + k] *= sign[k];
        }
    }
    return ODG_OK;
}

/* A (D, D) = T Q^T with T = Q S, S given by the spectrum:
 * spiral: 2x2 blocks g [[-0.1, w_k], [-w_k, -0.1]], w_k = 1 + k / (D/2), and -0.1 g for an odd
 *         last dimension: eigenvalues g (-0.1 +- i w_k), A normal;
 * stiff:  diag(lambda), lambda_k = -g S^(k/(D-1)) (-g when D = 1): A symmetric. */
static void spectrum_matrix(const odg_model *m, const double *Q, double *T, double *A)
{
    const size_t D = m->D;
    const double g = m->opts.gain;
    if (m->opts.spectrum == ODG_SPECTRUM_SPIRAL) {
        const size_t nb = D / 2;
        for (size_t k = 0; k < nb; k++) {
            const double w = 1.0 + (double)k / (double)nb;
            const size_t c = 2 * k;
            for (size_t i = 0; i < D; i++) {
                const double q0 = Q[i * D + c], q1 = Q[i * D + c + 1];
                T[i * D + c] = q0 * (-0.1 * g) + q1 * (-w * g);
                T[i * D + c + 1] = q0 * (w * g) + q1 * (-0.1 * g);
            }
        }
        if (D % 2 == 1) {
            for (size_t i = 0; i < D; i++) {
                T[i * D + D - 1] = Q[i * D + D - 1] * (-0.1 * g);
            }
        }
    } else {
        const double S = m->opts.stiffness;
        for (size_t k = 0; k < D; k++) {
            const double lam = D == 1 ? -g : -g * pow(S, (double)k / (double)(D - 1));
            for (size_t i = 0; i < D; i++) {
                T[i * D + k] = Q[i * D + k] * lam;
            }
        }
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)D, (int)D, (int)D, 1.0, T, (int)D, Q,
                (int)D, 0.0, A, (int)D);
    if (m->opts.spectrum == ODG_SPECTRUM_STIFF) {
        /* Q diag Q^T is symmetric; rounding in the product is not, so make it so exactly */
        for (size_t i = 0; i < D; i++) {
            for (size_t j = i + 1; j < D; j++) {
                const double a = 0.5 * (A[i * D + j] + A[j * D + i]);
                A[i * D + j] = a;
                A[j * D + i] = a;
            }
        }
    }
}

/* A by spectrum (random: A_ij ~ N(0, g^2/D); spiral and stiff: D*D draws for Q), b = 0.1.  The QR
 * scratch uses plain malloc: init is not a measured method. */
odg_status odg_linear_init(odg_model *m, odg_rng *rng)
{
    const size_t D = m->D;
    double *A = m->theta + m->view[0].offset, *b = m->theta + m->view[1].offset;
    odg_status st = ODG_OK;
    if (m->opts.spectrum == ODG_SPECTRUM_RANDOM) {
        odg_rng_fill_normal(rng, A, D * D, 0.0, m->opts.gain / sqrt((double)D));
    } else {
        /* Q, T (D, D), tau, sign (D): 2 (D * D + D) doubles, refused if that overflows */
        if (D * D > SIZE_MAX / sizeof(double) / 2 - D) {
            return ODG_ENOMEM;
        }
        double *work = malloc((2 * D * D + 2 * D) * sizeof(double));
        if (work == NULL) {
            return ODG_ENOMEM;
        }
        double *Q = work, *T = work + D * D, *tau = T + D * D, *sign = tau + D;
        st = random_orthogonal(rng, D, Q, tau, sign);
        if (st == ODG_OK) {
            spectrum_matrix(m, Q, T, A);
        }
        free(work);
    }
    for (size_t k = 0; k < D; k++) {
        b[k] = 0.1;
    }
    return st;
}
