/* The references of docs/theory.md section 8: odg_expm (Higham 2005, scaling and squaring with Pade
 * approximants) on matrices whose exponential is known in closed form, across every Pade degree
 * and with squaring; and odg_vanloan_linear (Van Loan 1978) against a closed-form loss, central
 * finite differences of the loss, and a fine RK4 solve with its exact discrete adjoint (docs/theory.md
 * section 3), which tells a transposed block apart.
 *
 * Tolerances.  u = 2^-53.  Higham's theta_m make the backward error of the Pade step at most
 * u ||A||; evaluating and solving adds a few n u (kappa_1(V - U) is about 5 or less at these
 * norms, Higham 2005 section 2); the s squarings multiply the relative error of exp(A / 2^s) by
 * about 2^s, which is at most 2 ||A||_1 / theta_13.  For a normal A the condition number of exp
 * is ||A||, so the normwise relative error is at most c n u (1 + ||A||_1) with c a small
 * constant: we take c = 16 (EXPM_C below), i.e. 2 x (kappa(V - U) ~ 5 + the 3 roundings of U,
 * V and the solve). */
#include "check.h"

#include "odegrad/gradients.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define U_ROUND (DBL_EPSILON / 2)
#define EXPM_C 16.0
#define NMAX 8

/* A deterministic uniform in [-1, 1) (splitmix64), independent of the library's RNG. */
static double unif(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-52 - 1.0;
}

static double norm1(size_t n, const double *X)
{
    double best = 0;
    for (size_t j = 0; j < n; j++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) {
            s += fabs(X[i * n + j]);
        }
        best = s > best ? s : best;
    }
    return best;
}

/* ||X - Y||_1 / ||Y||_1 */
static double rel1(size_t n, const double *X, const double *Y)
{
    double D[NMAX * NMAX];
    for (size_t e = 0; e < n * n; e++) {
        D[e] = X[e] - Y[e];
    }
    return norm1(n, D) / norm1(n, Y);
}

static void matmul(size_t n, const double *X, const double *Y, double *Z)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t k = 0; k < n; k++) {
                s += X[i * n + k] * Y[k * n + j];
            }
            Z[i * n + j] = s;
        }
    }
}

static double expm_tol(size_t n, const double *A)
{
    return EXPM_C * (double)n * U_ROUND * (1.0 + norm1(n, A));
}

/* The norms below put each case in one Pade branch: theta_3 = 0.015, theta_5 = 0.25,
 * theta_7 = 0.95, theta_9 = 2.1, theta_13 = 5.37; past it, squaring. */
static const double branch_norms[] = {0.01, 0.2, 0.9, 2.0, 5.0, 40.0, 300.0};
#define NBRANCH (sizeof branch_norms / sizeof branch_norms[0])

static void test_expm_diagonal(void)
{
    const size_t n = 5;
    const double d0[5] = {-1.0, -0.2, 0.0, 0.35, 0.8}; /* ||diag||_1 = 1 before scaling */
    for (size_t k = 0; k < NBRANCH; k++) {
        double A[25] = {0}, E[25], X[25] = {0};
        for (size_t i = 0; i < n; i++) {
            A[i * n + i] = d0[i] * branch_norms[k];
            X[i * n + i] = exp(A[i * n + i]);
        }
        CHECK(odg_expm(n, A, E) == ODG_OK, "diag %zu", k);
        /* Diagonal in, diagonal out: off-diagonal entries are sums of exact zeros. */
        double off = 0, rel = 0;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < n; j++) {
                if (i != j) {
                    off = fmax(off, fabs(E[i * n + j]));
                } else {
                    rel = fmax(rel, fabs(E[i * n + i] - X[i * n + i]) / X[i * n + i]);
                }
            }
        }
        /* Entrywise relative here: the diagonal entries do not mix, so each carries its own
         * c n u (1 + ||A||) bound (tiny e^-300 included). */
        double tol = expm_tol(n, A);
        CHECK(off == 0.0 && rel <= tol, "norm %g: off %g rel %g tol %g", branch_norms[k], off, rel,
              tol);
    }
}

/* N strictly upper triangular (nilpotent, N^5 = 0): exp(N) = I + N + N^2/2 + N^3/6 + N^4/24.
 * Not normal: the absolute condition number of exp at N is ||L(N)|| <= sum_{k<4} ||N||^k / k!
 * (differentiate the finite series), so the error bound is c n u ||N|| sum_{k<4} ||N||^k / k!
 * absolute, on top of the squaring factor already in expm_tol; we check the 1-norm error against
 * c n u (1 + ||N||) sum_{k<4} ||N||^k / k!. */
static void test_expm_nilpotent(void)
{
    const size_t n = 5;
    uint64_t st = 11;
    double N0[25] = {0};
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            N0[i * n + j] = unif(&st);
        }
    }
    double nrm0 = norm1(n, N0);
    for (size_t k = 0; k < NBRANCH; k++) {
        double N[25], P[25], Q[25], X[25], E[25], D[25];
        for (size_t e = 0; e < 25; e++) {
            N[e] = N0[e] * branch_norms[k] / nrm0;
        }
        /* X = sum_k N^k / k!, exactly the polynomial (the terms are computed in double; their
         * rounding is u ||X||, well inside the tolerance). */
        memset(X, 0, sizeof X);
        memset(P, 0, sizeof P);
        for (size_t i = 0; i < n; i++) {
            P[i * n + i] = 1.0;
        }
        double fact = 1.0;
        for (int p = 0; p < 5; p++) {
            if (p > 0) {
                matmul(n, P, N, Q);
                memcpy(P, Q, sizeof P);
                fact *= p;
            }
            for (size_t e = 0; e < 25; e++) {
                X[e] += P[e] / fact;
            }
        }
        CHECK(odg_expm(n, N, E) == ODG_OK, "nilpotent %zu", k);
        for (size_t e = 0; e < 25; e++) {
            D[e] = E[e] - X[e];
        }
        double nu = norm1(n, N), cond = 1 + nu + nu * nu / 2 + nu * nu * nu / 6;
        double err = norm1(n, D), tol = expm_tol(n, N) * cond;
        /* exp(N) is upper unitriangular; the lower part must be exactly zero. */
        int lower = 0;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < i; j++) {
                lower += E[i * n + j] != 0.0;
            }
        }
        CHECK(err <= tol && lower == 0, "norm %g: err %g tol %g lower %d", nu, err, tol, lower);
    }
}

/* exp([[0, -w], [w, 0]]) = [[cos w, -sin w], [sin w, cos w]]: normal, ||A||_1 = |w|. */
static void test_expm_rotation(void)
{
    for (size_t k = 0; k < NBRANCH; k++) {
        double w = branch_norms[k];
        double A[4] = {0, -w, w, 0}, X[4] = {cos(w), -sin(w), sin(w), cos(w)}, E[4];
        CHECK(odg_expm(2, A, E) == ODG_OK, "rotation %g", w);
        double err = rel1(2, E, X), tol = expm_tol(2, A);
        CHECK(err <= tol, "w %g: err %g tol %g", w, err, tol);
    }
}

/* A large-norm symmetric matrix (forces 3 squarings): A = Q diag(lam) Q^T with Q a
 * Householder reflector, exp(A) = Q diag(exp(lam)) Q^T.  Q is orthogonal to u and A is rounded
 * once, which perturbs the reference by about n u ||A|| relative: inside the bound. */
static void test_expm_large(void)
{
    const size_t n = 6;
    const double lam[6] = {-25.0, -7.5, -1.0, 3.0, 12.0, 20.0};
    double v[6], vv = 0;
    uint64_t st = 5;
    for (size_t i = 0; i < n; i++) {
        v[i] = unif(&st);
        vv += v[i] * v[i];
    }
    double Q[36], A[36], X[36], E[36];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            Q[i * n + j] = (i == j) - 2.0 * v[i] * v[j] / vv;
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            long double a = 0, x = 0;
            for (size_t k = 0; k < n; k++) {
                a += (long double)Q[i * n + k] * lam[k] * Q[j * n + k];
                x += (long double)Q[i * n + k] * expl(lam[k]) * Q[j * n + k];
            }
            A[i * n + j] = (double)a;
            X[i * n + j] = (double)x;
        }
    }
    CHECK(odg_expm(n, A, E) == ODG_OK, "large");
    double err = rel1(n, E, X), tol = expm_tol(n, A);
    CHECK(norm1(n, A) > 4 * 5.371920351148152 && err <= tol, "norm %g: err %g tol %g", norm1(n, A),
          err, tol);

    /* Non-normal 2 x 2 with squaring: exp([[a, c], [0, d]]) = [[e^a, c (e^a - e^d)/(a - d)],
     * [0, e^d]].  Its condition number is that of the scalar divided difference, bounded by
     * (1 + |c| / |a - d|) times the normal bound. */
    double a = 3.0, c = 40.0, d = -5.0;
    double T[4] = {a, c, 0, d}, Y[4] = {exp(a), c * (exp(a) - exp(d)) / (a - d), 0, exp(d)}, F[4];
    CHECK(odg_expm(2, T, F) == ODG_OK, "triangular");
    err = rel1(2, F, Y);
    tol = expm_tol(2, T) * (1 + fabs(c) / fabs(a - d));
    CHECK(err <= tol && F[2] == 0.0, "triangular: err %g tol %g", err, tol);
}

/* exp(A) exp(-A) = I for a dense non-normal A.  With E = exp(A)(I + dE), F = (I + dF) exp(-A),
 * ||dE||, ||dF|| <= tol: ||E F - I|| <= (||dE|| + ||dF||) ||E|| ||F|| / min(...) -- we bound by
 * 2 tol ||E||_1 ||F||_1, plus n u ||E|| ||F|| for the product itself. */
static void test_expm_inverse(void)
{
    const size_t n = 7;
    uint64_t st = 99;
    const double scales[] = {0.5, 3.0, 12.0};
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
        double A[49], M[49], E[49], F[49], P[49];
        for (size_t e = 0; e < 49; e++) {
            A[e] = unif(&st);
        }
        double nrm = norm1(n, A);
        for (size_t e = 0; e < 49; e++) {
            A[e] *= scales[k] / nrm;
            M[e] = -A[e];
        }
        CHECK(odg_expm(n, A, E) == ODG_OK && odg_expm(n, M, F) == ODG_OK, "inverse");
        matmul(n, E, F, P);
        for (size_t i = 0; i < n; i++) {
            P[i * n + i] -= 1.0;
        }
        double err = norm1(n, P);
        double tol = (2 * expm_tol(n, A) + n * U_ROUND) * norm1(n, E) * norm1(n, F);
        CHECK(err <= tol, "scale %g: ||exp(A)exp(-A) - I|| = %g tol %g", scales[k], err, tol);
    }
}

static void test_expm_errors(void)
{
    double A[4] = {1, 2, NAN, 4}, E[4];
    CHECK(odg_expm(2, A, E) == ODG_EINVAL, "NaN input");
    A[2] = INFINITY;
    CHECK(odg_expm(2, A, E) == ODG_EINVAL, "inf input");
    CHECK(odg_expm(2, NULL, E) == ODG_EINVAL, "NULL input");
    double H[1] = {800.0}, G[1];
    CHECK(odg_expm(1, H, G) == ODG_DIVERGED, "overflow is diverged");
    CHECK(odg_expm(0, NULL, NULL) == ODG_OK, "empty");
}

/* ---- Van Loan ----------------------------------------------------------------------------- */

/* The loss through odg_expm of the augmented matrix, written independently of vanloan.c. */
static double loss_expm(size_t D, size_t B, const double *A, const double *b, const double *z0,
                        const double *w, double T)
{
    size_t D1 = D + 1;
    double M[NMAX * NMAX] = {0}, E[NMAX * NMAX];
    for (size_t i = 0; i < D; i++) {
        for (size_t j = 0; j < D; j++) {
            M[i * D1 + j] = A[i * D + j] * T;
        }
        M[i * D1 + D] = b[i] * T;
    }
    if (odg_expm(D1, M, E) != ODG_OK) {
        return NAN;
    }
    double L = 0;
    for (size_t s = 0; s < B; s++) {
        for (size_t i = 0; i < D; i++) {
            double z = E[i * D1 + D];
            for (size_t j = 0; j < D; j++) {
                z += E[i * D1 + j] * z0[s * D + j];
            }
            L += w[s * D + i] * z;
        }
    }
    return L / (double)B;
}

/* f = A z + b: F = A Z + b for one sample. */
static void lin_f(size_t D, const double *A, const double *b, const double *z, double *f)
{
    for (size_t i = 0; i < D; i++) {
        double s = b[i];
        for (size_t j = 0; j < D; j++) {
            s += A[i * D + j] * z[j];
        }
        f[i] = s;
    }
}

/* Classic RK4 over N steps and its exact discrete adjoint (docs/theory.md section 3), per sample:
 * returns the loss and writes gA (D x D), gb (D), gz0 (B x D). */
#define RK4_N 1000
static double rk4_adjoint(size_t D, size_t B, const double *A, const double *b, const double *z0,
                          const double *w, double T, double *gA, double *gb, double *gz0)
{
    static const double a[4][4] = {{0}, {0.5}, {0, 0.5}, {0, 0, 1.0}};
    static const double bw[4] = {1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0};
    static double traj[RK4_N + 1][NMAX];
    const double h = T / RK4_N;
    double L = 0;
    memset(gA, 0, D * D * sizeof(double));
    memset(gb, 0, D * sizeof(double));
    for (size_t s = 0; s < B; s++) {
        double Zi[4][NMAX], K[4][NMAX];
        memcpy(traj[0], z0 + s * D, D * sizeof(double));
        for (int n = 0; n < RK4_N; n++) {
            for (int i = 0; i < 4; i++) {
                for (size_t d = 0; d < D; d++) {
                    double acc = traj[n][d];
                    for (int j = 0; j < i; j++) {
                        acc += h * a[i][j] * K[j][d];
                    }
                    Zi[i][d] = acc;
                }
                lin_f(D, A, b, Zi[i], K[i]);
            }
            for (size_t d = 0; d < D; d++) {
                double acc = traj[n][d];
                for (int i = 0; i < 4; i++) {
                    acc += h * bw[i] * K[i][d];
                }
                traj[n + 1][d] = acc;
            }
        }
        for (size_t d = 0; d < D; d++) {
            L += w[s * D + d] * traj[RK4_N][d];
        }
        /* Reverse: lam = dL/dz_N = w_s / B. */
        double lam[NMAX], kbar[4][NMAX], Zbar[NMAX];
        for (size_t d = 0; d < D; d++) {
            lam[d] = w[s * D + d] / (double)B;
        }
        for (int n = RK4_N - 1; n >= 0; n--) {
            /* Recompute the stage inputs of step n (the forward is deterministic). */
            for (int i = 0; i < 4; i++) {
                for (size_t d = 0; d < D; d++) {
                    double acc = traj[n][d];
                    for (int j = 0; j < i; j++) {
                        acc += h * a[i][j] * K[j][d];
                    }
                    Zi[i][d] = acc;
                }
                lin_f(D, A, b, Zi[i], K[i]);
            }
            for (int i = 0; i < 4; i++) {
                for (size_t d = 0; d < D; d++) {
                    kbar[i][d] = h * bw[i] * lam[d];
                }
            }
            for (int i = 3; i >= 0; i--) {
                /* VJP of f = A Z + b with cotangent kbar_i: Zbar = A^T kbar_i,
                 * gA += kbar_i Z_i^T, gb += kbar_i. */
                for (size_t j = 0; j < D; j++) {
                    double acc = 0;
                    for (size_t r = 0; r < D; r++) {
                        acc += A[r * D + j] * kbar[i][r];
                    }
                    Zbar[j] = acc;
                }
                for (size_t r = 0; r < D; r++) {
                    for (size_t j = 0; j < D; j++) {
                        gA[r * D + j] += kbar[i][r] * Zi[i][j];
                    }
                    gb[r] += kbar[i][r];
                }
                for (size_t d = 0; d < D; d++) {
                    lam[d] += Zbar[d];
                }
                for (int j = 0; j < i; j++) {
                    for (size_t d = 0; d < D; d++) {
                        kbar[j][d] += h * a[i][j] * Zbar[d];
                    }
                }
            }
        }
        memcpy(gz0 + s * D, lam, D * sizeof(double));
    }
    return L / (double)B;
}

typedef struct lin_case {
    size_t D, B;
    double A[NMAX * NMAX], b[NMAX], z0[2 * NMAX], w[2 * NMAX];
    double t0, t1;
} lin_case;

static void lin_case_fill(lin_case *c, uint64_t seed)
{
    uint64_t st = seed;
    c->D = 3;
    c->B = 2;
    for (size_t e = 0; e < c->D * c->D; e++) {
        c->A[e] = 0.6 * unif(&st); /* ||A T|| ~ 1: a non-normal, non-symmetric A */
    }
    for (size_t i = 0; i < c->D; i++) {
        c->b[i] = unif(&st);
    }
    for (size_t e = 0; e < c->B * c->D; e++) {
        c->z0[e] = unif(&st);
        c->w[e] = unif(&st);
    }
    c->t0 = 0.25;
    c->t1 = 1.25;
}

/* Diagonal A: z_i(T) = e^{a_i T} z0_i + b_i T (e^{a_i T} - 1) / (a_i T), by expm1, without any
 * matrix exponential.  Tolerance: the expm bound for At T, n = D + 1, plus the loss's own sum. */
static void test_vanloan_loss_diag(void)
{
    const size_t D = 4, B = 3;
    const double a[4] = {-2.0, -0.3, 0.5, 1.1}, b[4] = {0.4, -1.0, 0.2, 0.7};
    double A[16] = {0}, z0[12], w[12];
    uint64_t st = 3;
    for (size_t i = 0; i < D; i++) {
        A[i * D + i] = a[i];
    }
    for (size_t e = 0; e < B * D; e++) {
        z0[e] = unif(&st);
        w[e] = unif(&st);
    }
    const double t0 = -0.5, t1 = 1.5, T = t1 - t0;
    double L = 0, Labs = 0, loss;
    for (size_t s = 0; s < B; s++) {
        for (size_t i = 0; i < D; i++) {
            double x = a[i] * T;
            double z = exp(x) * z0[s * D + i] + b[i] * T * expm1(x) / x;
            L += w[s * D + i] * z;
            Labs += fabs(w[s * D + i] * z);
        }
    }
    L /= (double)B;
    Labs /= (double)B;
    CHECK(odg_vanloan_linear(D, B, A, b, z0, w, t0, t1, &loss, NULL, NULL, NULL) == ODG_OK,
          "diag loss");
    /* ||At T||_1 is the larger of max |a_i| T (columns 0 .. D-1) and sum |b_i| T (column D).
     * The error of each z is relative to ||z||, so the bound applies to sum |w z|, not to L. */
    double nrm = 0, bsum = 0;
    for (size_t i = 0; i < D; i++) {
        nrm = fmax(nrm, fabs(a[i]) * T);
        bsum += fabs(b[i]) * T;
    }
    nrm = fmax(nrm, bsum);
    double tol = EXPM_C * (double)(D + 1) * U_ROUND * (1 + nrm) * Labs;
    CHECK(fabs(loss - L) <= tol, "loss %.17g closed form %.17g tol %g", loss, L, tol);
}

static void test_vanloan_fd(void)
{
    lin_case c;
    lin_case_fill(&c, 2024);
    size_t D = c.D, B = c.B;
    double gA[NMAX * NMAX], gb[NMAX], gz0[2 * NMAX], loss;
    CHECK(odg_vanloan_linear(D, B, c.A, c.b, c.z0, c.w, c.t0, c.t1, &loss, gA, gb, gz0) == ODG_OK,
          "vanloan");
    double T = c.t1 - c.t0;
    /* The same At T, the same exponential, the same order of sums: equal to a few ulps. */
    double L0 = loss_expm(D, B, c.A, c.b, c.z0, c.w, T);
    CHECK(fabs(loss - L0) <= 8 * U_ROUND * fabs(L0), "loss %.17g vs %.17g", loss, L0);

    /* Central differences with step delta = 1e-5: truncation delta^2 |L'''| / 6 ~ 2e-11 (L''' is
     * O(T^3) ~ 1 here) plus round-off ~ 10 u |L| / delta ~ 1e-10 (the expm error is ~10 u
     * relative); relative to a gradient of norm ~ 1, an error above 1e-8 is a wrong gradient. */
    const double delta = 1e-5;
    double g[NMAX * NMAX + NMAX + 2 * NMAX], fd[NMAX * NMAX + NMAX + 2 * NMAX];
    size_t ng = 0;
    double *params[3] = {c.A, c.b, c.z0};
    const double *grads[3] = {gA, gb, gz0};
    size_t sizes[3] = {D * D, D, B * D};
    for (int p = 0; p < 3; p++) {
        for (size_t e = 0; e < sizes[p]; e++) {
            double x = params[p][e];
            params[p][e] = x + delta;
            double Lp = loss_expm(D, B, c.A, c.b, c.z0, c.w, T);
            params[p][e] = x - delta;
            double Lm = loss_expm(D, B, c.A, c.b, c.z0, c.w, T);
            params[p][e] = x;
            fd[ng] = (Lp - Lm) / (2 * delta);
            g[ng++] = grads[p][e];
        }
    }
    double rel = check_rel_diff(g, fd, ng);
    CHECK(rel <= 1e-8, "gradient vs finite differences: rel %g", rel);
}

/* Against RK4 at N = 1000 steps with its exact discrete adjoint.  The discrete gradient differs
 * from the continuous one by the global error of RK4 on the linear system, ~ T h^4 ||A||^5 / 120
 * ~ 1e-14 at h = 1e-3, ||A|| <= 1.8; round-off over N steps adds ~ N u = 1e-13 at worst.  A
 * transposed block (gA^T, or exp(At) in place of exp(At^T)) is wrong at O(1). */
static void test_vanloan_rk4(void)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        lin_case c;
        lin_case_fill(&c, seed);
        size_t D = c.D, B = c.B, nA = D * D;
        double gA[NMAX * NMAX], gb[NMAX], gz0[2 * NMAX], loss;
        double rA[NMAX * NMAX], rb[NMAX], rz0[2 * NMAX];
        CHECK(odg_vanloan_linear(D, B, c.A, c.b, c.z0, c.w, c.t0, c.t1, &loss, gA, gb, gz0) ==
                  ODG_OK,
              "vanloan");
        double rloss = rk4_adjoint(D, B, c.A, c.b, c.z0, c.w, c.t1 - c.t0, rA, rb, rz0);
        double g[NMAX * NMAX + NMAX + 2 * NMAX], r[NMAX * NMAX + NMAX + 2 * NMAX];
        memcpy(g, gA, nA * sizeof(double));
        memcpy(g + nA, gb, D * sizeof(double));
        memcpy(g + nA + D, gz0, B * D * sizeof(double));
        memcpy(r, rA, nA * sizeof(double));
        memcpy(r + nA, rb, D * sizeof(double));
        memcpy(r + nA + D, rz0, B * D * sizeof(double));
        double eg = check_rel_diff(g, r, nA + D + B * D);
        double eA = check_rel_diff(gA, rA, nA), eb = check_rel_diff(gb, rb, D);
        double ez = check_rel_diff(gz0, rz0, B * D);
        double el = fabs(loss - rloss) / fabs(rloss);
        CHECK(el <= 1e-12, "seed %llu: loss rel %g", (unsigned long long)seed, el);
        CHECK(eg <= 1e-12 && eA <= 1e-12 && eb <= 1e-12 && ez <= 1e-12,
              "seed %llu: rel all %g gA %g gb %g gz0 %g", (unsigned long long)seed, eg, eA, eb, ez);
    }
}

/* Any output may be NULL; each alone is bitwise what the full call writes. */
static void test_vanloan_outputs(void)
{
    lin_case c;
    lin_case_fill(&c, 7);
    size_t D = c.D, B = c.B;
    double gA[9], gb[3], gz0[6], loss, gA1[9], gb1[3], gz01[6], loss1;
    odg_status s0 = odg_vanloan_linear(D, B, c.A, c.b, c.z0, c.w, c.t0, c.t1, &loss, gA, gb, gz0);
    odg_status s1 = odg_vanloan_linear(D, B, c.A, c.b, c.z0, c.w, c.t0, c.t1, &loss1, 0, 0, 0);
    odg_status s2 = odg_vanloan_linear(D, B, c.A, c.b, c.z0, c.w, c.t0, c.t1, 0, gA1, 0, 0);
    odg_status s3 = odg_vanloan_linear(D, B, c.A, c.b, c.z0, c.w, c.t0, c.t1, 0, 0, gb1, 0);
    odg_status s4 = odg_vanloan_linear(D, B, c.A, c.b, c.z0, c.w, c.t0, c.t1, 0, 0, 0, gz01);
    odg_status s5 = odg_vanloan_linear(D, B, c.A, c.b, c.z0, c.w, c.t0, c.t1, 0, 0, 0, 0);
    CHECK(s0 == ODG_OK && s1 == ODG_OK && s2 == ODG_OK && s3 == ODG_OK && s4 == ODG_OK &&
              s5 == ODG_OK,
          "statuses");
    CHECK(check_bit_diff(&loss, &loss1, 1) == 0 && check_bit_diff(gA, gA1, 9) == 0 &&
              check_bit_diff(gb, gb1, 3) == 0 && check_bit_diff(gz0, gz01, 6) == 0,
          "outputs alone differ from the full call");

    double bad[9];
    memcpy(bad, c.A, sizeof bad);
    bad[4] = NAN;
    CHECK(odg_vanloan_linear(D, B, bad, c.b, c.z0, c.w, c.t0, c.t1, &loss, 0, 0, 0) == ODG_EINVAL,
          "NaN in A");
    CHECK(odg_vanloan_linear(0, B, c.A, c.b, c.z0, c.w, c.t0, c.t1, &loss, 0, 0, 0) == ODG_EINVAL,
          "D = 0");
    CHECK(odg_vanloan_linear(D, 0, c.A, c.b, c.z0, c.w, c.t0, c.t1, &loss, 0, 0, 0) == ODG_EINVAL,
          "B = 0");
    CHECK(odg_vanloan_linear(D, B, c.A, NULL, c.z0, c.w, c.t0, c.t1, &loss, 0, 0, 0) == ODG_EINVAL,
          "b NULL");
    CHECK(odg_vanloan_linear(D, B, c.A, c.b, c.z0, c.w, c.t0, INFINITY, &loss, 0, 0, 0) ==
              ODG_EINVAL,
          "t1 inf");
}

int main(void)
{
    test_expm_diagonal();
    test_expm_nilpotent();
    test_expm_rotation();
    test_expm_large();
    test_expm_inverse();
    test_expm_errors();
    test_vanloan_loss_diag();
    test_vanloan_fd();
    test_vanloan_rk4();
    test_vanloan_outputs();
    return check_done("test_vanloan");
}
