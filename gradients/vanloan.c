/* The exact references of docs/theory.md section 8: the matrix exponential by scaling and squaring
 * with Pade approximants (N. J. Higham, "The scaling and squaring method for the matrix
 * exponential revisited", SIAM J. Matrix Anal. Appl. 26(4), 2005, Algorithm 2.3), and the exact
 * continuous gradient of the linear model f = A z + b through Van Loan's block exponential
 * (C. F. Van Loan, "Computing integrals involving the matrix exponential", IEEE Trans. Automat.
 * Control 23(3), 1978).
 *
 * These are references, not measured methods: scratch comes from plain malloc, not the counting
 * allocator, and is freed on every path.
 */
#include "odegrad/gradients.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- exp(A) ------------------------------------------------------------------------------- */

/* Higham (2005), section 2: theta_m, the largest 1-norm of A for which the [m/m] Pade
 * approximant of exp(A) has backward error at most the unit round-off 2^-53. */
static const double odg_theta[5] = {1.495585217958292e-2, 2.539398330063230e-1,
                                    9.504178996162932e-1, 2.097847961257068e0, 5.371920351148152e0};
static const int odg_pade_deg[5] = {3, 5, 7, 9, 13};

/* Coefficients b_0 .. b_m of the [m/m] Pade numerator p_m(x) = sum_j b_j x^j (the denominator is
 * p_m(-x)), scaled to be integers as in Higham (2005), Algorithm 2.3.  All are exact in double. */
static const double odg_b3[4] = {120.0, 60.0, 12.0, 1.0};
static const double odg_b5[6] = {30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0};
static const double odg_b7[8] = {17297280.0, 8648640.0, 1995840.0, 277200.0,
                                 25200.0,    1512.0,    56.0,      1.0};
static const double odg_b9[10] = {17643225600.0, 8821612800.0, 2075673600.0, 302702400.0,
                                  30270240.0,    2162160.0,    110880.0,     3960.0,
                                  90.0,          1.0};
static const double odg_b13[14] = {64764752532480000.0,
                                   32382376266240000.0,
                                   7771770303897600.0,
                                   1187353796428800.0,
                                   129060195264000.0,
                                   10559470521600.0,
                                   670442572800.0,
                                   33522128640.0,
                                   1323241920.0,
                                   40840800.0,
                                   960960.0,
                                   16380.0,
                                   182.0,
                                   1.0};

/* C = X Y, all n x n row-major. */
static void odg_mm(int n, const double *X, const double *Y, double *C)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, X, n, Y, n, 0.0, C, n);
}

/* 1-norm of the n x n row-major X: the largest column sum of |x_ij|. */
static double odg_norm1(size_t n, const double *X)
{
    double best = 0.0;
    for (size_t j = 0; j < n; j++) {
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) {
            sum += fabs(X[i * n + j]);
        }
        if (sum > best) {
            best = sum;
        }
    }
    return best;
}

/* Forms U (odd part, times A) and V (even part) of the [m/m] Pade approximant at X, with
 * Pw[k] = X^(2k) for k >= 1 (Pw[0], the identity, is implicit) and work an n x n buffer:
 *   U = X sum_k b[2k+1] X^(2k),   V = sum_k b[2k] X^(2k)      (m = 3, 5, 7, 9)
 * and for m = 13 Higham's grouping, which needs only X^2, X^4, X^6:
 *   U = X [X^6 (b13 X^6 + b11 X^4 + b9 X^2) + b7 X^6 + b5 X^4 + b3 X^2 + b1 I]
 *   V =    X^6 (b12 X^6 + b10 X^4 + b8 X^2) + b6 X^6 + b4 X^4 + b2 X^2 + b0 I */
static void odg_pade_uv(int m, size_t n, const double *X, double *const *Pw, double *U, double *V,
                        double *work)
{
    int ni = (int)n;
    size_t nn = n * n;
    if (m != 13) {
        const double *b = m == 3 ? odg_b3 : m == 5 ? odg_b5 : m == 7 ? odg_b7 : odg_b9;
        int half = (m - 1) / 2; /* highest power used is X^(2 half) */
        for (size_t e = 0; e < nn; e++) {
            double odd = 0.0, even = 0.0;
            for (int k = 1; k <= half; k++) {
                odd += b[2 * k + 1] * Pw[k][e];
                even += b[2 * k] * Pw[k][e];
            }
            work[e] = odd;
            V[e] = even;
        }
        for (size_t i = 0; i < n; i++) {
            work[i * n + i] += b[1];
            V[i * n + i] += b[0];
        }
        odg_mm(ni, X, work, U);
        return;
    }
    const double *b = odg_b13;
    const double *X2 = Pw[1], *X4 = Pw[2], *X6 = Pw[3];
    /* U: the inner bracket goes through work, X^6 times it into U, then the rest is added. */
    for (size_t e = 0; e < nn; e++) {
        work[e] = b[13] * X6[e] + b[11] * X4[e] + b[9] * X2[e];
    }
    odg_mm(ni, X6, work, U);
    for (size_t e = 0; e < nn; e++) {
        U[e] += b[7] * X6[e] + b[5] * X4[e] + b[3] * X2[e];
    }
    for (size_t i = 0; i < n; i++) {
        U[i * n + i] += b[1];
    }
    memcpy(work, U, nn * sizeof(double));
    odg_mm(ni, X, work, U);
    /* V */
    for (size_t e = 0; e < nn; e++) {
        work[e] = b[12] * X6[e] + b[10] * X4[e] + b[8] * X2[e];
    }
    odg_mm(ni, X6, work, V);
    for (size_t e = 0; e < nn; e++) {
        V[e] += b[6] * X6[e] + b[4] * X4[e] + b[2] * X2[e];
    }
    for (size_t i = 0; i < n; i++) {
        V[i * n + i] += b[0];
    }
}

odg_status odg_expm(size_t n, const double *A, double *E)
{
    if (n == 0) {
        return ODG_OK;
    }
    if (!A || !E || n > (size_t)INT_MAX / n) {
        return ODG_EINVAL; /* BLAS and LAPACK take int dimensions */
    }
    size_t nn = n * n;
    for (size_t e = 0; e < nn; e++) {
        if (!isfinite(A[e])) {
            return ODG_EINVAL;
        }
    }
    odg_status st = ODG_OK;
    /* Seven n x n buffers: X (the scaled A), X^2, X^4, X^6, X^8, V, work; U lives in E. */
    double *buf = malloc(7 * nn * sizeof(double));
    lapack_int *ipiv = malloc(n * sizeof(lapack_int));
    if (!buf || !ipiv) {
        st = ODG_ENOMEM;
        goto fail;
    }
    double *X = buf, *V = buf + 5 * nn, *work = buf + 6 * nn;
    double *Pw[5] = {NULL, buf + nn, buf + 2 * nn, buf + 3 * nn, buf + 4 * nn};
    int ni = (int)n;

    double norm = odg_norm1(n, A);
    int m = 13, sq = 0;
    for (int k = 0; k < 4; k++) {
        if (norm <= odg_theta[k]) {
            m = odg_pade_deg[k];
            break;
        }
    }
    if (m == 13 && norm > odg_theta[4]) {
        /* A / 2^sq has norm <= theta_13; scaling by a power of two is exact (barring underflow
         * of tiny entries, which only perturbs A by far less than its backward error). */
        sq = (int)ceil(log2(norm / odg_theta[4]));
        if (sq < 0) {
            sq = 0;
        }
        if (ldexp(odg_theta[4], sq) < norm) {
            sq++; /* log2 rounded below the true value */
        }
    }
    for (size_t e = 0; e < nn; e++) {
        X[e] = ldexp(A[e], -sq);
    }
    /* Only the powers that the chosen degree uses: m = 3 needs X^2, 5 adds X^4, 7 and 13 add
     * X^6, 9 adds X^8. */
    odg_mm(ni, X, X, Pw[1]);
    if (m >= 5) {
        odg_mm(ni, Pw[1], Pw[1], Pw[2]);
    }
    if (m >= 7) {
        odg_mm(ni, Pw[2], Pw[1], Pw[3]);
    }
    if (m == 9) {
        odg_mm(ni, Pw[3], Pw[1], Pw[4]);
    }
    double *U = E;
    odg_pade_uv(m, n, X, Pw, U, V, work);

    /* r_m = (V - U)^{-1} (V + U): the right-hand side overwrites U (E), the matrix V. */
    for (size_t e = 0; e < nn; e++) {
        double u = U[e], v = V[e];
        U[e] = v + u;
        V[e] = v - u;
    }
    lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, ni, ni, V, ni, ipiv, E, ni);
    if (info != 0) {
        /* info > 0: V - U singular, which the theta bounds exclude in exact arithmetic; only a
         * breakdown (overflow in the powers) gets here. */
        st = info > 0 ? ODG_DIVERGED : ODG_EINVAL;
        goto fail;
    }
    /* Undo the scaling: exp(A) = r(A / 2^sq)^(2^sq). */
    for (int k = 0; k < sq; k++) {
        odg_mm(ni, E, E, work);
        memcpy(E, work, nn * sizeof(double));
    }
    for (size_t e = 0; e < nn; e++) {
        if (!isfinite(E[e])) {
            st = ODG_DIVERGED;
            break;
        }
    }
fail:
    free(buf);
    free(ipiv);
    return st;
}

/* ---- Van Loan's gradient of the linear model ---------------------------------------------- */

/* With y = [z; 1] the affine field is linear, y' = At y, At = [[A, b], [0, 0]] ((D+1) x (D+1)),
 * so y(t1) = exp(At T) y0 with T = t1 - t0.  Writing wt_b = [w_b; 0] and y0_b = [z0_b; 1],
 *   L = sum_b wt_b^T exp(At T) y0_b / B = <exp(At T), C>,   C = sum_b wt_b y0_b^T / B,
 * so dL/dy0_b = exp(At T)^T wt_b / B.  With X = At T and the Frechet derivative
 * d exp(X)[H] = int_0^1 exp(sX) H exp((1-s)X) ds, moving the factors across the trace gives
 *   dL/dAt = T int_0^1 exp(s X^T) C exp((1-s) X^T) ds,
 * which is the upper-right block of exp([[X^T, C T], [0, X^T]]) = exp([[At^T, C], [0, At^T]] T)
 * (Van Loan 1978, Theorem 1).  gA is its top-left D x D block and gb the first D entries of its
 * last column; the last row of dL/dAt belongs to the constant 1 and is dropped. */
odg_status odg_vanloan_linear(size_t D, size_t B, const double *A, const double *b,
                              const double *z0, const double *w, double t0, double t1, double *loss,
                              double *gA, double *gb, double *gz0)
{
    if (D == 0 || B == 0 || !A || !b || !z0 || !w || !isfinite(t0) || !isfinite(t1)) {
        return ODG_EINVAL;
    }
    size_t D1 = D + 1, N2 = 2 * D1;
    if (D1 > (size_t)INT_MAX / (2 * N2) || B > (size_t)INT_MAX / D1) {
        return ODG_EINVAL;
    }
    double T = t1 - t0;
    odg_status st = ODG_OK;
    int fwd = loss || gz0, rev = gA || gb;
    /* At and E are (D+1)^2, Big and EBig (2(D+1))^2. */
    double *buf = malloc((2 * D1 * D1 + 2 * N2 * N2) * sizeof(double));
    if (!buf) {
        return ODG_ENOMEM;
    }
    double *At = buf, *E = At + D1 * D1, *Big = E + D1 * D1, *EBig = Big + N2 * N2;

    /* At T, row-major, last row zero. */
    for (size_t i = 0; i < D1; i++) {
        for (size_t j = 0; j < D1; j++) {
            double a = 0.0;
            if (i < D) {
                a = j < D ? A[i * D + j] : b[i];
            }
            At[i * D1 + j] = a * T;
        }
    }

    if (fwd) {
        st = odg_expm(D1, At, E);
        if (st != ODG_OK) {
            goto fail;
        }
        if (loss) {
            /* z_b(T) = E[0:D, 0:D] z0_b + E[0:D, D]; summed over b in order, divided once. */
            double acc = 0.0;
            for (size_t bi = 0; bi < B; bi++) {
                const double *zb = z0 + bi * D, *wb = w + bi * D;
                for (size_t i = 0; i < D; i++) {
                    double zi = E[i * D1 + D];
                    for (size_t j = 0; j < D; j++) {
                        zi += E[i * D1 + j] * zb[j];
                    }
                    acc += wb[i] * zi;
                }
            }
            *loss = acc / (double)B;
        }
        if (gz0) {
            /* gz0 (B x D) = w (B x D) E[0:D, 0:D] / B: row b is (E11^T w_b)^T / B. */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)D, (int)D,
                        1.0 / (double)B, w, (int)D, E, (int)D1, 0.0, gz0, (int)D);
        }
    }

    if (rev) {
        /* Big = [[At^T T, C T], [0, At^T T]], C = sum_b wt_b y0_b^T / B; row D of C is zero
         * because wt_b ends in 0. */
        memset(Big, 0, N2 * N2 * sizeof(double));
        for (size_t i = 0; i < D1; i++) {
            for (size_t j = 0; j < D1; j++) {
                Big[i * N2 + j] = At[j * D1 + i];
                Big[(D1 + i) * N2 + D1 + j] = At[j * D1 + i];
            }
        }
        for (size_t i = 0; i < D; i++) {
            for (size_t j = 0; j < D1; j++) {
                double c = 0.0;
                for (size_t bi = 0; bi < B; bi++) {
                    c += w[bi * D + i] * (j < D ? z0[bi * D + j] : 1.0);
                }
                Big[i * N2 + D1 + j] = c / (double)B * T;
            }
        }
        st = odg_expm(N2, Big, EBig);
        if (st != ODG_OK) {
            goto fail;
        }
        for (size_t i = 0; i < D; i++) {
            if (gA) {
                for (size_t j = 0; j < D; j++) {
                    gA[i * D + j] = EBig[i * N2 + D1 + j];
                }
            }
            if (gb) {
                gb[i] = EBig[i * N2 + D1 + D];
            }
        }
    }
fail:
    free(buf);
    return st;
}
