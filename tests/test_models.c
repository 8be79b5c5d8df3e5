/* Tests of the models layer (models/): the BLAS path against the plain-loop reference, the VJP
 * against finite differences and the dot-product identity, accumulate/overwrite semantics, the
 * linear spectra, seeded init, .npy save/load, option checks and allocation failures.
 * docs/theory.md sections 8 and 9; docs/theory.md section 1.  Tolerances are derived in the
 * comments next to them.
 */
#include "check.h"
#include "odegrad/models.h"

#include <float.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* unit round-off u = 2^-53 and Higham's gamma_n = n u / (1 - n u) */
static const double U_RND = DBL_EPSILON / 2;

static double gam(size_t n)
{
    return (double)n * U_RND / (1 - (double)n * U_RND);
}

typedef struct config {
    char label[64];
    odg_model_opts o;
} config;

static config mlp_config(size_t B, size_t D, size_t H, int ti)
{
    config c;
    odg_model_opts_default(&c.o);
    c.o.kind = ODG_MODEL_MLP;
    c.o.B = B;
    c.o.D = D;
    c.o.H = H;
    c.o.time_input = ti;
    snprintf(c.label, sizeof c.label, "mlp B=%zu D=%zu H=%zu time=%d", B, D, H, ti);
    return c;
}

static config linear_config(size_t B, size_t D, odg_spectrum s, double S)
{
    config c;
    odg_model_opts_default(&c.o);
    c.o.kind = ODG_MODEL_LINEAR;
    c.o.B = B;
    c.o.D = D;
    c.o.spectrum = s;
    c.o.stiffness = S;
    snprintf(c.label, sizeof c.label, "linear %s B=%zu D=%zu S=%g", odg_spectrum_name(s), B, D, S);
    return c;
}

/* c with chunks of `rows` rows instead of ODG_BATCH_CHUNK (several chunks, the last one short,
 * in the small batches here) */
static config with_chunk(config c, size_t rows)
{
    c.o.batch_chunk = rows;
    size_t len = strlen(c.label);
    snprintf(c.label + len, sizeof c.label - len, " chunk=%zu", rows);
    return c;
}

/* c in BLAS mode `mode` */
static config with_mode(config c, odg_blas_mode mode)
{
    c.o.blas_mode = mode;
    size_t len = strlen(c.label);
    snprintf(c.label + len, sizeof c.label - len, " %s", odg_blas_mode_name(mode));
    return c;
}

static double *zeros(size_t n)
{
    double *x = calloc(n ? n : 1, sizeof(double));
    if (x == NULL) {
        fprintf(stderr, "test_models: out of memory\n");
        exit(2);
    }
    return x;
}

static double *normals(uint64_t seed, size_t n)
{
    double *x = zeros(n);
    odg_rng r;
    odg_rng_seed(&r, seed);
    odg_rng_fill_normal(&r, x, n, 0.0, 1.0);
    return x;
}

static double dot(const double *x, const double *y, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i] * y[i];
    }
    return s;
}

/* A model with options o (reference flag overridden) initialised from seed; NULL on failure. */
static odg_model *make(const odg_model_opts *o, int reference, odg_mem *mem, uint64_t seed)
{
    odg_model_opts oo = *o;
    oo.reference = reference;
    odg_model *m = NULL;
    odg_status st = odg_model_create(&m, &oo, mem);
    CHECK(st == ODG_OK && m != NULL, "create: %s", odg_status_str(st));
    if (st != ODG_OK) {
        return NULL;
    }
    odg_rng r;
    odg_rng_seed(&r, seed);
    st = odg_model_init(m, &r);
    CHECK(st == ODG_OK, "init: %s", odg_status_str(st));
    return m;
}

/* ---- BLAS against the plain-loop reference ------------------------------------------------ */

/* Bounds e (elementwise) on |computed - exact| for either implementation, to first order in u.
 * Both compute the same formulas and differ only in the order of each dot product's sum (OpenBLAS
 * blocks, vectorises and may use FMA); a sum of n products is within gamma_n sum|x_k y_k| of the
 * exact value in any order (Higham, Accuracy and Stability, section 3.1), so the two paths differ
 * by at most 2e.  Errors in an intermediate (Hh, Gu) are carried forward through the Lipschitz
 * constants of what follows; glibc's tanh is within 2 ulp <= 4u|tanh| of the exact value.  For
 * data of size O(1) this is a few ulps relative, larger only where a sum cancels.
 * eF, eZbar are (B, D), eg is (P); gtheta is taken to start at zero. */
static void error_bounds(const odg_model *m, double t, const double *Z, const double *G, double *eF,
                         double *eZbar, double *eg)
{
    const size_t B = m->B, D = m->D;
    const double u = U_RND;
    if (m->opts.kind == ODG_MODEL_LINEAR) {
        const double *A = m->theta, *b = m->theta + D * D;
        for (size_t i = 0; i < B; i++) {
            for (size_t j = 0; j < D; j++) {
                double mf = fabs(b[j]), mz = 0;
                for (size_t k = 0; k < D; k++) {
                    mf += fabs(Z[i * D + k]) * fabs(A[j * D + k]);
                    mz += fabs(G[i * D + k]) * fabs(A[k * D + j]);
                }
                eF[i * D + j] = gam(D + 1) * mf;
                eZbar[i * D + j] = gam(D) * mz;
            }
        }
        for (size_t j = 0; j < D; j++) {
            double mb = 0;
            for (size_t k = 0; k < D; k++) {
                double ma = 0;
                for (size_t i = 0; i < B; i++) {
                    ma += fabs(G[i * D + j]) * fabs(Z[i * D + k]);
                }
                eg[j * D + k] = gam(B) * ma;
            }
            for (size_t i = 0; i < B; i++) {
                mb += fabs(G[i * D + j]);
            }
            eg[D * D + j] = gam(B) * mb;
        }
        return;
    }

    const size_t H = m->opts.H, Din = m->view[0].cols;
    const int ti = m->opts.time_input;
    const double *W1 = m->theta + m->view[0].offset, *b1 = m->theta + m->view[1].offset;
    const double *W2 = m->theta + m->view[2].offset, *b2 = m->theta + m->view[3].offset;
    double *eW1 = eg + m->view[0].offset, *eb1 = eg + m->view[1].offset;
    double *eW2 = eg + m->view[2].offset, *eb2 = eg + m->view[3].offset;
    double *Hh = zeros(B * H), *eH = zeros(B * H), *Gu = zeros(B * H), *eGu = zeros(B * H);

    for (size_t i = 0; i < B; i++) {
        for (size_t j = 0; j < H; j++) {
            /* U: D products, the time product and b1: Din + 1 terms */
            double uv = b1[j], mu = fabs(b1[j]);
            if (ti) {
                uv += t * W1[j * Din + D];
                mu += fabs(t) * fabs(W1[j * Din + D]);
            }
            for (size_t k = 0; k < D; k++) {
                uv += Z[i * D + k] * W1[j * Din + k];
                mu += fabs(Z[i * D + k]) * fabs(W1[j * Din + k]);
            }
            Hh[i * H + j] = tanh(uv);
            eH[i * H + j] = gam(Din + 1) * mu + 4 * u * fabs(Hh[i * H + j]);
        }
    }
    for (size_t i = 0; i < B; i++) {
        for (size_t j = 0; j < D; j++) {
            double mf = fabs(b2[j]), prop = 0;
            for (size_t h = 0; h < H; h++) {
                mf += fabs(Hh[i * H + h]) * fabs(W2[j * H + h]);
                prop += fabs(W2[j * H + h]) * eH[i * H + h];
            }
            eF[i * D + j] = gam(H + 1) * mf + prop;
        }
    }
    for (size_t i = 0; i < B; i++) {
        for (size_t h = 0; h < H; h++) {
            double p = 0, mp = 0;
            for (size_t j = 0; j < D; j++) {
                p += G[i * D + j] * W2[j * H + h];
                mp += fabs(G[i * D + j]) * fabs(W2[j * H + h]);
            }
            const double y = Hh[i * H + h], s = 1 - y * y;
            /* s = 1 - y*y: |s| <= 1, two roundings of at most u each, and |ds/dy| = 2|y| */
            const double es = 2 * fabs(y) * eH[i * H + h] + 2 * u;
            Gu[i * H + h] = p * s;
            eGu[i * H + h] = gam(D) * mp * fabs(s) + fabs(p) * es + u * fabs(p * s);
        }
    }
    for (size_t j = 0; j < D; j++) {
        double mb = 0;
        for (size_t h = 0; h < H; h++) {
            double mw = 0, prop = 0;
            for (size_t i = 0; i < B; i++) {
                mw += fabs(G[i * D + j]) * fabs(Hh[i * H + h]);
                prop += fabs(G[i * D + j]) * eH[i * H + h];
            }
            eW2[j * H + h] = gam(B) * mw + prop;
        }
        for (size_t i = 0; i < B; i++) {
            mb += fabs(G[i * D + j]);
        }
        eb2[j] = gam(B) * mb;
    }
    for (size_t h = 0; h < H; h++) {
        double mcol = 0, pcol = 0;
        for (size_t i = 0; i < B; i++) {
            mcol += fabs(Gu[i * H + h]);
            pcol += eGu[i * H + h];
        }
        for (size_t k = 0; k < D; k++) {
            double mw = 0, prop = 0;
            for (size_t i = 0; i < B; i++) {
                mw += fabs(Gu[i * H + h]) * fabs(Z[i * D + k]);
                prop += eGu[i * H + h] * fabs(Z[i * D + k]);
            }
            eW1[h * Din + k] = gam(B) * mw + prop;
        }
        eb1[h] = gam(B) * mcol + pcol;
        if (ti) {
            eW1[h * Din + D] = fabs(t) * (gam(B + 1) * mcol + pcol); /* t * colsum(Gu) */
        }
    }
    for (size_t i = 0; i < B; i++) {
        for (size_t k = 0; k < D; k++) {
            double mz = 0, prop = 0;
            for (size_t h = 0; h < H; h++) {
                mz += fabs(Gu[i * H + h]) * fabs(W1[h * Din + k]);
                prop += eGu[i * H + h] * fabs(W1[h * Din + k]);
            }
            eZbar[i * D + k] = gam(H) * mz + prop;
        }
    }
    free(Hh);
    free(eH);
    free(Gu);
    free(eGu);
}

/* Number of entries with |a - b| > 2e, with 1% slack for the second-order terms the bound leaves
 * out; *worst gets the largest |a - b| / 2e. */
static size_t count_outside(const double *a, const double *b, const double *e, size_t n,
                            double *worst)
{
    size_t bad = 0;
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs(a[i] - b[i]), lim = 2 * e[i];
        if (!(d <= 1.01 * lim)) {
            bad++;
        }
        if (lim > 0 && d / lim > *worst) {
            *worst = d / lim;
        }
    }
    return bad;
}

static void test_blas_vs_reference(const config *c)
{
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *mb = make(&c->o, 0, &mem, 11), *mr = make(&c->o, 1, &mem, 11);
    if (mb == NULL || mr == NULL) {
        odg_model_destroy(&mb);
        odg_model_destroy(&mr);
        return;
    }
    const size_t n = c->o.B * c->o.D, P = mb->P;
    const double t = 0.3;
    CHECK(mr->P == P && check_bit_diff(mb->theta, mr->theta, P) == 0,
          "%s: init differs between the BLAS and reference versions", c->label);
    double *Z = normals(12, n), *G = normals(13, n);
    double *Fb = zeros(n), *Fr = zeros(n), *Zb = zeros(n), *Zr = zeros(n);
    double *gb = zeros(P), *gr = zeros(P);
    double *eF = zeros(n), *eZ = zeros(n), *eg = zeros(P);

    CHECK(odg_model_f(mb, t, Z, Fb) == 0 && odg_model_f(mr, t, Z, Fr) == 0, "%s: f", c->label);
    CHECK(odg_model_vjp(mb, t, Z, G, Zb, gb) == 0 && odg_model_vjp(mr, t, Z, G, Zr, gr) == 0,
          "%s: vjp", c->label);
    error_bounds(mb, t, Z, G, eF, eZ, eg);
    double w;
    CHECK(count_outside(Fb, Fr, eF, n, &w) == 0, "%s: F, worst |diff|/bound %.3g", c->label, w);
    CHECK(count_outside(Zb, Zr, eZ, n, &w) == 0, "%s: Zbar, worst |diff|/bound %.3g", c->label, w);
    CHECK(count_outside(gb, gr, eg, P, &w) == 0, "%s: gtheta, worst |diff|/bound %.3g", c->label,
          w);
    free(Z);
    free(G);
    free(Fb);
    free(Fr);
    free(Zb);
    free(Zr);
    free(gb);
    free(gr);
    free(eF);
    free(eZ);
    free(eg);
    odg_model_destroy(&mb);
    odg_model_destroy(&mr);
    CHECK(mem.nlive == 0 && mem.cur_total == 0, "%s: leak", c->label);
}

/* ---- the VJP against finite differences --------------------------------------------------- */

/* Finite-difference checks.  With phi(x) = <G, f(x)> and a central difference of step h,
 *   |fd - phi'| <= eps_phi / h + h^2/6 max|phi'''| + 2u|fd|,
 * where eps_phi bounds the round-off in computing phi (f's own, eF from error_bounds, plus the
 * dot product's), and the last term is the subtraction and division; the VJP itself is within
 * its own round-off bound (error_bounds) of phi', which is added too.  With h ~ 1e-6 and O(1)
 * data the round-off term dominates: eps_phi ~ 10 u sum|G||F| ~ 1e-14 gives ~1e-8 absolute at
 * worst (typically ~1e-10, as errors do not all align), about 1e-8 relative to gradients of
 * O(1); the truncation term is ~1e-12 |phi'''| (zero for the linear field).  These are the
 * tolerances, computed entry by entry from the data rather than fixed, because eps_phi grows with
 * |f| (the stiff spectrum's |A| ~ S makes it ~S times larger) while the gradient need not.  A
 * wrong VJP is off by O(1) relative, far outside them. */

/* phi = <G, f(t, Z)>; F is (B, D) scratch */
static double phi(odg_model *m, double t, const double *Z, const double *G, double *F)
{
    odg_model_f(m, t, Z, F);
    return dot(G, F, m->B * m->D);
}

/* eps_phi: the round-off bound on phi at the model's current point.  F = f(t, Z). */
static double phi_roundoff(const odg_model *m, double t, const double *Z, const double *G,
                           const double *F)
{
    const size_t n = m->B * m->D;
    double *eF = zeros(n), *eZ = zeros(n), *eg = zeros(m->P);
    error_bounds(m, t, Z, G, eF, eZ, eg);
    double e = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        e += fabs(G[i]) * eF[i];
        mag += fabs(G[i] * F[i]);
    }
    free(eF);
    free(eZ);
    free(eg);
    return e + gam(n) * mag;
}

/* A bound on |d^3 phi / ds^3| at (Z + s Vz, theta + s Vt) for |s| <= h; exactly one of Vz, Vt
 * is non-NULL.  The linear field is linear along both: 0.  For the mlp, U is linear in s along
 * either (dU = Vz W1^T, or Z VW1^T + Vb1 + t VW1[:, D]), and F = b2 + s Vb2 +
 * (W2 + s VW2) tanh(U + s dU), so F''' = W2(s) tanh''' dU^3 + 3 VW2 tanh'' dU^2, with
 * |tanh'''| <= 2 and |tanh''| <= 4 / 3^1.5 < 1. */
static double phi_third(const odg_model *m, double t, const double *Z, const double *G,
                        const double *Vz, const double *Vt, double h)
{
    if (m->opts.kind != ODG_MODEL_MLP) {
        return 0;
    }
    const size_t B = m->B, D = m->D, H = m->opts.H, Din = m->view[0].cols;
    const double *W1 = m->theta + m->view[0].offset, *W2 = m->theta + m->view[2].offset;
    const double *VW1 = Vt ? Vt + m->view[0].offset : NULL,
                 *Vb1 = Vt ? Vt + m->view[1].offset : NULL;
    const double *VW2 = Vt ? Vt + m->view[2].offset : NULL;
    double T = 0;
    for (size_t i = 0; i < B; i++) {
        for (size_t k = 0; k < H; k++) {
            double d = 0, gw = 0, gv = 0;
            for (size_t c = 0; c < D; c++) {
                d += Vz ? fabs(Vz[i * D + c]) * fabs(W1[k * Din + c])
                        : fabs(Z[i * D + c]) * fabs(VW1[k * Din + c]);
            }
            if (Vt) {
                d += fabs(Vb1[k]) + (Din > D ? fabs(t) * fabs(VW1[k * Din + D]) : 0);
            }
            for (size_t j = 0; j < D; j++) {
                const double vw = VW2 ? fabs(VW2[j * H + k]) : 0;
                gw += fabs(G[i * D + j]) * (fabs(W2[j * H + k]) + h * vw);
                gv += fabs(G[i * D + j]) * vw;
            }
            T += 2 * gw * d * d * d + 3 * gv * d * d;
        }
    }
    return T;
}

/* Checks xbar (the VJP's Zbar or gtheta, with its own round-off bound ebar) against central
 * differences of phi in each coordinate of x (Z or m->theta, changed in place and restored).
 * The step is h = 1e-6 max(1, |x|); the denominator is the step actually taken,
 * (x + h) - (x - h), exact by Sterbenz's lemma. */
static void fd_check(const config *c, const char *what, odg_model *m, double t, double *Z,
                     const double *G, double *x, size_t n, const double *xbar, const double *ebar)
{
    const size_t nz = m->B * m->D;
    double *F = zeros(nz), *Vz = zeros(nz), *Vt = zeros(m->P), *fd = zeros(n);
    const int inZ = x == Z;
    odg_model_f(m, t, Z, F);
    const double eps_phi = phi_roundoff(m, t, Z, G, F);
    size_t bad = 0;
    double worst = 0;
    for (size_t k = 0; k < n; k++) {
        const double x0 = x[k], h = 1e-6 * fmax(1.0, fabs(x0));
        const double xp = x0 + h, xm = x0 - h;
        x[k] = xp;
        const double fp = phi(m, t, Z, G, F);
        x[k] = xm;
        const double fm = phi(m, t, Z, G, F);
        x[k] = x0;
        fd[k] = (fp - fm) / (xp - xm);
        (inZ ? Vz : Vt)[k] = 1;
        const double T = phi_third(m, t, Z, G, inZ ? Vz : NULL, inZ ? NULL : Vt, h);
        (inZ ? Vz : Vt)[k] = 0;
        const double tol = eps_phi / h + h * h / 6 * T + 2 * U_RND * fabs(fd[k]) + ebar[k];
        const double d = fabs(fd[k] - xbar[k]);
        bad += !(d <= 1.01 * tol); /* 1%: eps_phi taken at x, not at x +- h */
        worst = fmax(worst, d / tol);
    }
    CHECK(bad == 0, "%s: %s vs finite differences: %zu entries outside, worst |diff|/tol %.3g",
          c->label, what, bad, worst);
    free(F);
    free(Vz);
    free(Vt);
    free(fd);
}

/* The dot-product identity <G, J V> = <J^T G, V> along a random direction V in Z (inZ) or in
 * theta, J V from one directional central difference with h = 1e-6.  Its tolerance: the round-off
 * of the two f calls, sum|G| eF / h; the rounding of x +- hV (|delta| <= u(|x| + 2h|V|)), which
 * moves <G, J V> by <J^T G, delta> / h; the truncation h^2/6 |phi'''|; and the two dot products
 * and the VJP's own round-off. */
static void dot_identity_check(const config *c, odg_model *m, double t, const double *Z,
                               const double *G, const double *Zbar, const double *gtheta, int inZ)
{
    const size_t nz = m->B * m->D, P = m->P, nv = inZ ? nz : P;
    const double h = 1e-6;
    double *V = normals(inZ ? 24 : 25, nv), *x0 = zeros(nv), *Zs = zeros(nz), *Fp = zeros(nz);
    double *Fm = zeros(nz), *eF = zeros(nz), *eZ = zeros(nz), *eg = zeros(P);
    double *x = inZ ? Zs : m->theta;
    const double *xbar = inZ ? Zbar : gtheta, *ebar = inZ ? eZ : eg;
    error_bounds(m, t, Z, G, eF, eZ, eg);
    memcpy(Zs, Z, nz * sizeof(double));
    memcpy(x0, x, nv * sizeof(double));
    for (size_t k = 0; k < nv; k++) {
        x[k] = x0[k] + h * V[k];
    }
    odg_model_f(m, t, Zs, Fp);
    for (size_t k = 0; k < nv; k++) {
        x[k] = x0[k] - h * V[k];
    }
    odg_model_f(m, t, Zs, Fm);
    memcpy(x, x0, nv * sizeof(double));

    double lhs = 0, rhs = 0, tol = 0, mlhs = 0, mrhs = 0;
    for (size_t k = 0; k < nz; k++) {
        const double ju = (Fp[k] - Fm[k]) / (2 * h);
        lhs += G[k] * ju;
        mlhs += fabs(G[k] * ju);
        tol += fabs(G[k]) * eF[k] / h;
    }
    for (size_t k = 0; k < nv; k++) {
        rhs += xbar[k] * V[k];
        mrhs += fabs(xbar[k] * V[k]);
        tol += fabs(xbar[k]) * U_RND * (fabs(x0[k]) + 2 * h * fabs(V[k])) / h;
        tol += ebar[k] * fabs(V[k]);
    }
    tol += gam(nz + 2) * mlhs + gam(nv) * mrhs;
    tol += h * h / 6 * phi_third(m, t, Z, G, inZ ? V : NULL, inZ ? NULL : V, h);
    CHECK(fabs(lhs - rhs) <= 1.01 * tol,
          "%s: <G, JV> = %.17g, <J^T G, V> = %.17g along %s: diff %.3g, tol %.3g", c->label, lhs,
          rhs, inZ ? "Z" : "theta", fabs(lhs - rhs), tol);
    free(V);
    free(x0);
    free(Zs);
    free(Fp);
    free(Fm);
    free(eF);
    free(eZ);
    free(eg);
}

static void test_finite_differences(const config *c)
{
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *m = make(&c->o, 0, &mem, 21);
    if (m == NULL) {
        return;
    }
    const size_t n = c->o.B * c->o.D, P = m->P;
    const double t = 0.3;
    double *Z = normals(22, n), *G = normals(23, n), *Zbar = zeros(n), *g = zeros(P);
    double *eF = zeros(n), *eZ = zeros(n), *eg = zeros(P);
    odg_model_vjp(m, t, Z, G, Zbar, g);
    error_bounds(m, t, Z, G, eF, eZ, eg);
    fd_check(c, "Zbar", m, t, Z, G, Z, n, Zbar, eZ);
    fd_check(c, "gtheta", m, t, Z, G, m->theta, P, g, eg);
    dot_identity_check(c, m, t, Z, G, Zbar, g, 1);
    dot_identity_check(c, m, t, Z, G, Zbar, g, 0);
    free(Z);
    free(G);
    free(Zbar);
    free(g);
    free(eF);
    free(eZ);
    free(eg);
    odg_model_destroy(&m);
}

/* ---- overwrite and accumulate, no allocation in f or vjp ---------------------------------- */

/* f and vjp overwrite F and Zbar (prefilled with NaN here, which would show through) and vjp adds
 * into gtheta: a second call on the first call's gtheta gives exactly 2 g1, since every entry is
 * added once per call (column sums go through a local) and g1 + g1 is exact, provided the GEMM's
 * inner dimension K (the rows of one GEMM: the batch chunk, or the whole batch in threaded mode)
 * fits one K-block of OpenBLAS's kernel.  The smallest K-block among OpenBLAS's x86-64 DGEMM
 * kernels is 128 (Prescott, the generic kernel OpenBLAS falls back to on an unrecognised CPU;
 * measured: K = 128 exact, K = 136 not).  A longer K is accumulated into gtheta block by block,
 * one rounding per block, so there the check is normwise: the two sums differ by at most
 * gamma_K ||G||.||Z|| per entry (Higham, Accuracy and Stability, section 3.5), about K eps
 * relative to entries of this random data's size: 1e-12 covers K = 200 with room, and a vjp that
 * overwrote gtheta would be off by a relative 0.5.  Neither may allocate. */
static void test_accumulate(const config *c, int reference)
{
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *m = make(&c->o, reference, &mem, 31);
    if (m == NULL) {
        return;
    }
    const size_t n = c->o.B * c->o.D, P = m->P;
    const double t = 0.7;
    double *Z = normals(32, n), *G = normals(33, n), *F1 = zeros(n), *F2 = zeros(n);
    double *Zbar1 = zeros(n), *Zbar2 = zeros(n), *g = zeros(P), *g1 = zeros(P);
    const long nalloc = mem.nalloc;
    odg_model_f(m, t, Z, F1);
    for (size_t k = 0; k < n; k++) {
        F2[k] = NAN;
        Zbar2[k] = NAN;
    }
    odg_model_f(m, t, Z, F2);
    odg_model_vjp(m, t, Z, G, Zbar1, g);
    memcpy(g1, g, P * sizeof(double));
    odg_model_vjp(m, t, Z, G, Zbar2, g);
    CHECK(mem.nalloc == nalloc, "%s ref=%d: f or vjp allocated", c->label, reference);
    CHECK(check_bit_diff(F1, F2, n) == 0, "%s ref=%d: F not overwritten", c->label, reference);
    CHECK(check_bit_diff(Zbar1, Zbar2, n) == 0, "%s ref=%d: Zbar not overwritten", c->label,
          reference);
    for (size_t k = 0; k < P; k++) {
        g1[k] *= 2;
    }
    const size_t chunk = c->o.batch_chunk ? c->o.batch_chunk : ODG_BATCH_CHUNK;
    const size_t K = c->o.blas_mode == ODG_BLAS_THREADED ? c->o.B : chunk;
    if (reference || K <= 128) {
        CHECK(check_bit_diff(g, g1, P) == 0, "%s ref=%d: two vjp calls do not give 2 gtheta",
              c->label, reference);
    } else {
        CHECK(check_rel_diff(g, g1, P) <= 1e-12, "%s ref=%d: two vjp calls do not give 2 gtheta",
              c->label, reference);
    }
    free(Z);
    free(G);
    free(F1);
    free(F2);
    free(Zbar1);
    free(Zbar2);
    free(g);
    free(g1);
    odg_model_destroy(&m);
}

/* ---- init ----------------------------------------------------------------------------------- */

static void test_init_reproducible(const config *c)
{
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *m0 = NULL;
    CHECK(odg_model_create(&m0, &c->o, &mem) == ODG_OK, "%s: create", c->label);
    if (m0 != NULL) {
        size_t nz = 0;
        for (size_t k = 0; k < m0->P; k++) {
            nz += m0->theta[k] != 0;
        }
        CHECK(nz == 0, "%s: theta not zero after create", c->label);
    }
    odg_model *a = make(&c->o, 0, &mem, 5), *b = make(&c->o, 0, &mem, 5);
    odg_model *d = make(&c->o, 0, &mem, 6);
    if (a != NULL && b != NULL && d != NULL) {
        CHECK(check_bit_diff(a->theta, b->theta, a->P) == 0, "%s: same seed, different theta",
              c->label);
        CHECK(check_bit_diff(a->theta, d->theta, a->P) > 0, "%s: different seed, same theta",
              c->label);
    }
    odg_model_destroy(&m0);
    odg_model_destroy(&a);
    odg_model_destroy(&b);
    odg_model_destroy(&d);
    CHECK(mem.nlive == 0 && mem.cur_total == 0, "%s: leak", c->label);
}

/* The draws happen in view order, row-major, with the documented scales: the same rng stream
 * filled by hand gives the same theta bit for bit. */
/* The mlp's own tanh (odg_mlp_tanh) against long double tanhl: within the 2-ulp allowance that
 * error_bounds above gives tanh, at 2^20 points spread over [-25, 25] (past 22 tanh rounds to
 * +-1), at tiny and huge arguments, and exactly right at the special values.  tanhl is within
 * an ulp of long double (2^-64 relative), 2^11 times finer than the ulp of double measured here,
 * so its own error moves a measured error by < 0.001 ulp. */
static double ulp_of(double y)
{
    double a = fabs(y);
    return a == 0.0 ? DBL_TRUE_MIN : nextafter(a, INFINITY) - a;
}

static void test_tanh(void)
{
    enum { NPTS = 1 << 20, NTINY = 64 };
    double *x = malloc((NPTS + NTINY) * sizeof(double));
    double *y = malloc((NPTS + NTINY) * sizeof(double));
    CHECK(x && y, "tanh: out of memory");
    if (!x || !y) {
        free(x);
        free(y);
        return;
    }
    for (int i = 0; i < NPTS; i++) {
        x[i] = -25.0 + 50.0 * (i + 0.5) / NPTS;
    }
    for (int i = 0; i < NTINY; i++) {
        x[NPTS + i] = ldexp(i % 2 ? 1.3 : -1.7, -16 * (i / 2)) * (i < NTINY / 2 ? 1.0 : 1e300);
    }
    memcpy(y, x, (NPTS + NTINY) * sizeof(double));
    odg_mlp_tanh(y, NPTS + NTINY);
    double worst = 0.0, at = 0.0;
    for (int i = 0; i < NPTS + NTINY; i++) {
        long double t = tanhl((long double)x[i]);
        double e = (double)(fabsl((long double)y[i] - t) / (long double)ulp_of((double)t));
        if (!(e <= worst)) {
            worst = e;
            at = x[i];
        }
    }
    CHECK(worst <= 2.0, "odg_mlp_tanh: %.3f ulp from tanhl at x = %.17g", worst, at);
    printf("odg_mlp_tanh: max error %.3f ulp (at x = %.6g) over %d points\n", worst, at,
           NPTS + NTINY);
    double sp[5] = {NAN, INFINITY, -INFINITY, -0.0, 0.0};
    odg_mlp_tanh(sp, 5);
    CHECK(isnan(sp[0]) && sp[1] == 1.0 && sp[2] == -1.0 && sp[3] == 0.0 && signbit(sp[3]) &&
              sp[4] == 0.0 && !signbit(sp[4]),
          "odg_mlp_tanh special values: %g %g %g %g %g", sp[0], sp[1], sp[2], sp[3], sp[4]);
    free(x);
    free(y);
}

static void test_init_draws(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    config c = mlp_config(2, 3, 4, 1);
    c.o.gain = 1.5;
    odg_model *m = make(&c.o, 0, &mem, 77);
    if (m != NULL) {
        const size_t D = 3, H = 4, Din = 4;
        double *want = zeros(m->P);
        odg_rng r;
        odg_rng_seed(&r, 77);
        odg_rng_fill_normal(&r, want, H * Din, 0, 1.5 / sqrt((double)Din));
        odg_rng_fill_normal(&r, want + H * Din + H, D * H, 0, 1.5 / sqrt((double)H));
        for (size_t k = 0; k < H; k++) {
            want[H * Din + k] = 0.1;
        }
        for (size_t k = 0; k < D; k++) {
            want[H * Din + H + D * H + k] = 0.1;
        }
        CHECK(m->P == H * Din + H + D * H + D && check_bit_diff(m->theta, want, m->P) == 0,
              "mlp init: not W1 ~ N(0, g^2/Din), b1 = 0.1, W2 ~ N(0, g^2/H), b2 = 0.1 in order");
        free(want);
        odg_model_destroy(&m);
    }
    c = linear_config(2, 5, ODG_SPECTRUM_RANDOM, 1);
    c.o.gain = 1.5;
    m = make(&c.o, 0, &mem, 78);
    if (m != NULL) {
        double *want = zeros(m->P);
        odg_rng r;
        odg_rng_seed(&r, 78);
        odg_rng_fill_normal(&r, want, 25, 0, 1.5 / sqrt(5.0));
        for (size_t k = 0; k < 5; k++) {
            want[25 + k] = 0.1;
        }
        CHECK(m->P == 30 && check_bit_diff(m->theta, want, m->P) == 0,
              "linear random init: not A ~ N(0, g^2/D), b = 0.1");
        free(want);
        odg_model_destroy(&m);
    }
}

/* ---- spectra ------------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Tolerance: ||A||_2 is g S (stiff) or below 2.01 g (spiral, A normal).  Q from Householder QR is
 * orthogonal to O(D u), forming Q S Q^T adds O(D u ||A||), and dsyev / dgeev are backward stable
 * (O(p(D) u ||A||)); eigenvalues of a symmetric or normal matrix move by at most the norm of the
 * perturbation (Weyl, Bauer-Fike with a unitary eigenbasis).  With D <= 8 and p(D) <= D^2 this is
 * below 100 u ||A|| ~ 1e-14 ||A||; 1e-12 ||A|| leaves room for the constants. */
static void test_spectra(void)
{
    const double g = 2.0;
    const size_t stiffD[] = {1, 2, 5, 8};
    const double stiffS[] = {10, 1e3, 1, 1e4};
    for (int c = 0; c < 4; c++) {
        const size_t D = stiffD[c];
        const double S = stiffS[c];
        config cf = linear_config(1, D, ODG_SPECTRUM_STIFF, S);
        cf.o.gain = g;
        odg_mem mem;
        odg_mem_init(&mem);
        odg_model *m = make(&cf.o, 0, &mem, 40 + (uint64_t)c);
        if (m == NULL) {
            continue;
        }
        double *A = zeros(D * D), *w = zeros(D);
        memcpy(A, m->theta, D * D * sizeof(double));
        size_t asym = 0;
        for (size_t i = 0; i < D; i++) {
            for (size_t j = 0; j < D; j++) {
                asym += A[i * D + j] != A[j * D + i];
            }
        }
        CHECK(asym == 0, "%s: A not symmetric", cf.label);
        CHECK(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (int)D, A, (int)D, w) == 0, "%s: dsyev",
              cf.label);
        double worst = 0;
        for (size_t r = 0; r < D; r++) {
            /* ascending order: the most negative, k = D - 1, first */
            const size_t k = D - 1 - r;
            const double lam = D == 1 ? -g : -g * pow(S, (double)k / (double)(D - 1));
            worst = fmax(worst, fabs(w[r] - lam));
        }
        CHECK(worst <= 1e-12 * g * S, "%s: eigenvalues off by %.3g", cf.label, worst);
        free(A);
        free(w);
        odg_model_destroy(&m);
    }

    const size_t spiralD[] = {1, 2, 3, 6, 7};
    for (int c = 0; c < 5; c++) {
        const size_t D = spiralD[c], nb = D / 2;
        config cf = linear_config(1, D, ODG_SPECTRUM_SPIRAL, 1);
        cf.o.gain = g;
        odg_mem mem;
        odg_mem_init(&mem);
        odg_model *m = make(&cf.o, 0, &mem, 50 + (uint64_t)c);
        if (m == NULL) {
            continue;
        }
        double *A = zeros(D * D), *wr = zeros(D), *wi = zeros(D), *want = zeros(D);
        memcpy(A, m->theta, D * D * sizeof(double));
        CHECK(LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', (int)D, A, (int)D, wr, wi, NULL, (int)D,
                            NULL, (int)D) == 0,
              "%s: dgeev", cf.label);
        for (size_t k = 0; k < nb; k++) {
            const double wk = 1.0 + (double)k / (double)nb;
            want[2 * k] = g * wk;
            want[2 * k + 1] = -g * wk;
        }
        qsort(want, D, sizeof(double), cmp_double); /* an odd D leaves one 0 */
        qsort(wi, D, sizeof(double), cmp_double);
        double worst_re = 0, worst_im = 0;
        for (size_t k = 0; k < D; k++) {
            worst_re = fmax(worst_re, fabs(wr[k] + 0.1 * g));
            worst_im = fmax(worst_im, fabs(wi[k] - want[k]));
        }
        const double tol = 1e-12 * 2.01 * g;
        CHECK(worst_re <= tol, "%s: real parts off -0.1 g by %.3g", cf.label, worst_re);
        CHECK(worst_im <= tol, "%s: imaginary parts off g w_k by %.3g", cf.label, worst_im);
        free(A);
        free(wr);
        free(wi);
        free(want);
        odg_model_destroy(&m);
    }
}

/* ---- save and load ------------------------------------------------------------------------ */

static void test_save_load(void)
{
    char dir[] = "/tmp/odg_test_models_XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    odg_mem mem;
    odg_mem_init(&mem);
    config c = mlp_config(2, 3, 4, 1);
    odg_model *m = make(&c.o, 0, &mem, 60), *m2 = make(&c.o, 0, &mem, 61);
    if (m == NULL || m2 == NULL) {
        odg_model_destroy(&m);
        odg_model_destroy(&m2);
        return;
    }
    const size_t P = m->P;
    char err[ODG_ERRLEN], path[512];
    unsigned loaded = 0;

    /* round trip, bit for bit, and the gradient prefix */
    odg_status st = odg_model_save(m, m->theta, dir, "", err);
    CHECK(st == ODG_OK, "save: %s", err);
    st = odg_model_save(m, m->theta, dir, "g", err);
    CHECK(st == ODG_OK, "save g: %s", err);
    snprintf(path, sizeof path, "%s/gW1.npy", dir);
    CHECK(access(path, F_OK) == 0, "save with prefix g did not write %s", path);
    st = odg_model_load(m2, dir, &loaded, err);
    CHECK(st == ODG_OK && loaded == 0xFu, "load: %s, loaded %#x", err, loaded);
    CHECK(check_bit_diff(m->theta, m2->theta, P) == 0, "save/load round trip changed theta");

    /* b1 written as (H, 1) loads too */
    const odg_param_view *vb1 = odg_model_view(m, "b1");
    double b1[4] = {1.5, -2.5, 3.25, 0.125};
    size_t shape[2] = {4, 1};
    snprintf(path, sizeof path, "%s/b1.npy", dir);
    CHECK(odg_npy_save(path, 2, shape, b1, err) == ODG_OK, "npy_save: %s", err);
    st = odg_model_load(m2, dir, &loaded, err);
    CHECK(st == ODG_OK && vb1 != NULL && memcmp(m2->theta + vb1->offset, b1, sizeof b1) == 0,
          "a vector stored as (n, 1) did not load: %s", err);

    /* a missing file is skipped: its bit is clear and its view untouched */
    snprintf(path, sizeof path, "%s/b2.npy", dir);
    unlink(path);
    odg_model *m3 = NULL;
    CHECK(odg_model_create(&m3, &c.o, &mem) == ODG_OK, "create");
    if (m3 != NULL) {
        const odg_param_view *vb2 = odg_model_view(m3, "b2");
        st = odg_model_load(m3, dir, &loaded, err);
        CHECK(st == ODG_OK && loaded == 0x7u, "missing b2: %s, loaded %#x", odg_status_str(st),
              loaded);
        size_t nz = 0;
        for (size_t k = 0; k < vb2->rows; k++) {
            nz += m3->theta[vb2->offset + k] != 0;
        }
        CHECK(nz == 0, "missing b2.npy changed b2");
        odg_model_destroy(&m3);
    }

    /* wrong shapes: W2 transposed, b1 one too long; each error names the file */
    double junk[32] = {0};
    size_t wshape[2] = {4, 3}; /* W2 is (D, H) = (3, 4) */
    snprintf(path, sizeof path, "%s/W2.npy", dir);
    CHECK(odg_npy_save(path, 2, wshape, junk, err) == ODG_OK, "npy_save: %s", err);
    st = odg_model_load(m2, dir, &loaded, err);
    CHECK(st == ODG_ESHAPE && strstr(err, "W2.npy") != NULL, "transposed W2: %s, err '%s'",
          odg_status_str(st), err);
    CHECK(odg_model_save(m, m->theta, dir, "", err) == ODG_OK, "save: %s", err);
    size_t bshape[1] = {5};
    snprintf(path, sizeof path, "%s/b1.npy", dir);
    CHECK(odg_npy_save(path, 1, bshape, junk, err) == ODG_OK, "npy_save: %s", err);
    st = odg_model_load(m2, dir, &loaded, err);
    CHECK(st == ODG_ESHAPE && strstr(err, "b1.npy") != NULL, "b1 of length 5: %s, err '%s'",
          odg_status_str(st), err);

    /* a malformed file */
    snprintf(path, sizeof path, "%s/W1.npy", dir);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fputs("this is not an npy file", f);
        fclose(f);
    }
    st = odg_model_load(m2, dir, &loaded, err);
    CHECK(st == ODG_EFORMAT && strstr(err, "W1.npy") != NULL, "malformed W1: %s, err '%s'",
          odg_status_str(st), err);

    /* a directory name too long for a path is refused, not truncated */
    char *longdir = malloc(5001);
    if (longdir != NULL) {
        memset(longdir, 'd', 5000);
        longdir[5000] = '\0';
        CHECK(odg_model_load(m2, longdir, &loaded, err) == ODG_EINVAL, "load: long dir");
        CHECK(odg_model_save(m, m->theta, longdir, "", err) == ODG_EINVAL, "save: long dir");
        free(longdir);
    }

    const char *names[] = {"W1", "b1", "W2", "b2"};
    for (int v = 0; v < 4; v++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, names[v]);
        unlink(path);
        snprintf(path, sizeof path, "%s/g%s.npy", dir, names[v]);
        unlink(path);
    }
    CHECK(rmdir(dir) == 0, "temporary directory %s not empty", dir);
    odg_model_destroy(&m);
    odg_model_destroy(&m2);
    CHECK(mem.nlive == 0 && mem.cur_total == 0, "save/load: leak");
}

/* ---- options, names, allocation failures -------------------------------------------------- */

static void test_bad_options(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    config base = mlp_config(3, 4, 5, 0);
    struct {
        const char *what;
        odg_model_opts o;
        odg_status want;
    } cases[24];
    int nc = 0;
#define BAD(desc, field, value, status)                                                            \
    do {                                                                                           \
        cases[nc].what = desc;                                                                     \
        cases[nc].o = base.o;                                                                      \
        cases[nc].o.field = value;                                                                 \
        cases[nc].want = status;                                                                   \
        nc++;                                                                                      \
    } while (0)
    BAD("D = 0", D, 0, ODG_EINVAL);
    BAD("B = 0", B, 0, ODG_EINVAL);
    BAD("H = 0", H, 0, ODG_EINVAL);
    BAD("D = SIZE_MAX", D, SIZE_MAX, ODG_EINVAL);
    BAD("H = 2^40 (over a BLAS int)", H, (size_t)1 << 40, ODG_EINVAL);
    BAD("gain = 0", gain, 0.0, ODG_EINVAL);
    BAD("gain = -1", gain, -1.0, ODG_EINVAL);
    BAD("gain = NaN", gain, NAN, ODG_EINVAL);
    BAD("gain = inf", gain, INFINITY, ODG_EINVAL);
    BAD("stiffness = 0.5", stiffness, 0.5, ODG_EINVAL);
    BAD("stiffness = inf", stiffness, INFINITY, ODG_EINVAL);
    BAD("stiffness = NaN", stiffness, NAN, ODG_EINVAL);
    BAD("time_input = 2", time_input, 2, ODG_EINVAL);
    BAD("kind out of range", kind, ODG_NMODELS, ODG_EINVAL);
    BAD("batch_chunk = 2^40 (over a BLAS int)", batch_chunk, (size_t)1 << 40, ODG_EINVAL);
    /* sizes that each fit a BLAS int but whose products overflow size_t (in bytes) */
    base.o.B = INT_MAX;
    BAD("B = D = INT_MAX (B * D overflows)", D, INT_MAX, ODG_EINVAL);
    base.o.B = 1;
    base.o.H = INT_MAX;
    BAD("H = INT_MAX, D = INT_MAX - 1 (H * Din overflows)", D, (size_t)INT_MAX - 1, ODG_EINVAL);
    base.o.H = 5;
    base.o.kind = ODG_MODEL_LINEAR;
    BAD("linear with D = INT_MAX (D * D overflows)", D, INT_MAX, ODG_EINVAL);
    BAD("linear with D = 2^31 (over a BLAS int)", D, (size_t)1 << 31, ODG_EINVAL);
    BAD("linear with time input", time_input, 1, ODG_EUNSUP);
#undef BAD
    for (int k = 0; k < nc; k++) {
        odg_model dummy, *m = &dummy; /* not NULL, so the test sees create clear it */
        odg_status st = odg_model_create(&m, &cases[k].o, &mem);
        CHECK(st == cases[k].want && m == NULL, "%s: got %s", cases[k].what, odg_status_str(st));
    }
    CHECK(mem.nlive == 0 && mem.cur_total == 0, "bad options: allocated");
    odg_model *m = NULL;
    CHECK(odg_model_create(&m, &base.o, NULL) == ODG_EINVAL && m == NULL, "mem NULL");
    CHECK(odg_model_create(&m, NULL, &mem) == ODG_EINVAL && m == NULL, "opts NULL");
    CHECK(odg_model_create(NULL, &base.o, &mem) == ODG_EINVAL, "out NULL");
    odg_model_destroy(NULL);
}

static void test_names_and_views(void)
{
    odg_model_opts o;
    odg_model_opts_default(&o);
    CHECK(o.kind == ODG_MODEL_MLP && o.D == 16 && o.H == 64 && o.B == 128 && o.gain == 1.0 &&
              o.spectrum == ODG_SPECTRUM_RANDOM && o.stiffness == 1.0 && o.time_input == 0 &&
              o.reference == 0,
          "defaults");
    for (int k = 0; k < ODG_NMODELS; k++) {
        odg_model_kind back;
        CHECK(odg_model_kind_from_name(odg_model_kind_name((odg_model_kind)k), &back) == ODG_OK &&
                  back == (odg_model_kind)k && odg_model_kind_desc((odg_model_kind)k)[0] != '\0',
              "model kind %d", k);
    }
    for (int s = 0; s < ODG_NSPECTRA; s++) {
        odg_spectrum back;
        CHECK(odg_spectrum_from_name(odg_spectrum_name((odg_spectrum)s), &back) == ODG_OK &&
                  back == (odg_spectrum)s && odg_spectrum_desc((odg_spectrum)s)[0] != '\0',
              "spectrum %d", s);
    }
    odg_model_kind k;
    odg_spectrum s;
    CHECK(odg_model_kind_from_name("mlp", &k) == ODG_OK && k == ODG_MODEL_MLP, "mlp");
    CHECK(odg_model_kind_from_name("linear", &k) == ODG_OK && k == ODG_MODEL_LINEAR, "linear");
    CHECK(odg_model_kind_from_name("ffjord", &k) == ODG_EINVAL, "unknown kind");
    CHECK(odg_model_kind_from_name(NULL, &k) == ODG_EINVAL, "NULL kind");
    CHECK(odg_spectrum_from_name("stiff", &s) == ODG_OK && s == ODG_SPECTRUM_STIFF, "stiff");
    CHECK(odg_spectrum_from_name("Stiff", &s) == ODG_EINVAL, "names are case-sensitive");
    CHECK(strcmp(odg_model_kind_name(ODG_NMODELS), "?") == 0, "out-of-range kind name");

    /* view layout: contiguous, in order, covering theta */
    odg_mem mem;
    odg_mem_init(&mem);
    config cs[2] = {mlp_config(3, 4, 5, 1), linear_config(3, 4, ODG_SPECTRUM_RANDOM, 1)};
    const char *want[2][4] = {{"W1", "b1", "W2", "b2"}, {"A", "b", NULL, NULL}};
    const size_t rows[2][4] = {{5, 5, 4, 4}, {4, 4, 0, 0}};
    const size_t cols[2][4] = {{5, 1, 5, 1}, {4, 1, 0, 0}};
    for (int c = 0; c < 2; c++) {
        odg_model *m = NULL;
        CHECK(odg_model_create(&m, &cs[c].o, &mem) == ODG_OK, "%s: create", cs[c].label);
        if (m == NULL) {
            continue;
        }
        size_t off = 0;
        CHECK(m->nviews == (c == 0 ? 4 : 2), "%s: nviews %d", cs[c].label, m->nviews);
        for (int v = 0; v < m->nviews && v < 4; v++) {
            const odg_param_view *pv = odg_model_view(m, want[c][v]);
            CHECK(pv == &m->view[v] && pv->offset == off && pv->rows == rows[c][v] &&
                      pv->cols == cols[c][v],
                  "%s: view %s", cs[c].label, want[c][v]);
            off += m->view[v].rows * m->view[v].cols;
        }
        CHECK(off == m->P, "%s: views cover %zu of P = %zu", cs[c].label, off, m->P);
        CHECK(odg_model_view(m, "W3") == NULL, "%s: unknown view", cs[c].label);
        odg_model_destroy(&m);
    }
}

/* Fail the k-th allocation of create for k = 1, 2, ... until create succeeds (after SQLite):
 * every failure must be ODG_ENOMEM and leave nothing allocated. */
static void test_alloc_failures(const config *c)
{
    int k, failures = 0, thin = 0;
    for (k = 1; k < 100; k++) {
        odg_mem mem;
        odg_mem_init(&mem);
        mem.fail_at = k;
        odg_model *m = NULL;
        odg_status st = odg_model_create(&m, &c->o, &mem);
        if (st == ODG_OK) {
            thin = c->o.kind == ODG_MODEL_MLP && !c->o.reference && m->blas != ODG_BLAS_THREADED &&
                   m->D <= ODG_MLP_THIN_MAX_D;
            odg_model_destroy(&m);
            CHECK(mem.nlive == 0 && mem.cur_total == 0, "%s: destroy leaks", c->label);
            break;
        }
        failures++;
        CHECK(st == ODG_ENOMEM && m == NULL, "%s, allocation %d failing: %s", c->label, k,
              odg_status_str(st));
        CHECK(mem.nlive == 0 && mem.cur_total == 0, "%s, allocation %d failing: leaves %ld blocks",
              c->label, k, mem.nlive);
    }
    /* the struct and theta always, and the mlp's impl, Hh and Gu (no Gu in the thin version,
     * whose VJP never forms the whole of it) */
    const int want = c->o.kind == ODG_MODEL_MLP ? 5 - thin : 2;
    CHECK(failures == want, "%s: %d allocations, expected %d", c->label, failures, want);
}

/* The roofline refuses what it cannot time; the rate itself is never asserted (tests do not
 * time). */
static void test_roofline_args(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    config c = mlp_config(7, 3, 8, 0);
    odg_model *m = make(&c.o, 0, &mem, 1);
    odg_roofline r;
    CHECK(odg_roofline_model_detail(NULL, 0.0, &r) == ODG_EINVAL, "roofline: NULL model");
    CHECK(odg_roofline_model_detail(m, 0.0, NULL) == ODG_EINVAL, "roofline: NULL out");
    CHECK(odg_roofline_model_detail(m, -1.0, &r) == ODG_EINVAL, "roofline: negative time");
    CHECK(odg_roofline_model_detail(m, NAN, &r) == ODG_EINVAL, "roofline: NaN time");
    CHECK(odg_roofline_model_detail(m, 0.0, &r) == ODG_OK && r.gflops > 0 &&
              r.gflops == (r.threaded_gflops > r.chunked_gflops ? r.threaded_gflops
                                                                  : r.chunked_gflops),
          "roofline: the faster of the two ways");
    odg_model_destroy(&m);
}

/* The batch split over ranks (odg_model_set_ranks), checked in one process: MPI is not started
 * here, so the exchanges copy nothing and each call computes only its rank's chunks.  Calling
 * the ranks one after another on the same model fills F and Zbar rank by rank, and the last
 * rank's reduction finds every chunk's partial in place (each earlier call wrote its own), so
 * F, Zbar and that gtheta must be the one-rank results bit for bit: the chunks are the same and
 * the partials are added in the same order.  Also the refusals: a kind, version or mode that
 * cannot be split, and a rank out of range. */
static void test_ranks(size_t D)
{
    /* 4 chunks: 64, 64, 64 and 8 rows */
    config c = with_mode(mlp_config(200, D, 48, 1), ODG_BLAS_CHUNKED);
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *m = NULL;
    odg_rng rng;
    odg_rng_seed(&rng, 7);
    CHECK(odg_model_create(&m, &c.o, &mem) == ODG_OK && odg_model_init(m, &rng) == ODG_OK,
          "ranks: create");
    if (m == NULL) {
        return;
    }
    const size_t M = m->B * m->D, P = m->P;
    double *Z = normals(11, M), *G = normals(12, M);
    double *F1 = zeros(M), *Zb1 = zeros(M), *g1 = zeros(P);
    double *F = zeros(M), *Zb = zeros(M), *g = zeros(P);
    const double t = 0.375;
    odg_model_f(m, t, Z, F1);
    odg_model_vjp(m, t, Z, G, Zb1, g1);
    long live = mem.nlive;
    for (int R = 1; R <= 5; R++) {
        memset(F, 0, M * sizeof *F);
        memset(Zb, 0, M * sizeof *Zb);
        for (int r = 0; r < R; r++) {
            CHECK(odg_model_set_ranks(m, r, R) == ODG_OK, "ranks: set rank %d of %d", r, R);
            memset(g, 0, P * sizeof *g);
            CHECK(odg_model_f(m, t, Z, F) == 0 && odg_model_vjp(m, t, Z, G, Zb, g) == 0,
                  "ranks: f and vjp on rank %d of %d", r, R);
        }
        CHECK(memcmp(F, F1, M * sizeof *F) == 0, "ranks: F over %d ranks differs", R);
        CHECK(memcmp(Zb, Zb1, M * sizeof *Zb) == 0, "ranks: Zbar over %d ranks differs", R);
        CHECK(memcmp(g, g1, P * sizeof *g) == 0, "ranks: gtheta over %d ranks differs", R);
    }
    CHECK(odg_model_set_ranks(m, 0, 1) == ODG_OK && mem.nlive == live,
          "ranks: one rank again frees the offsets");
    CHECK(odg_model_set_ranks(m, 2, 2) == ODG_EINVAL, "ranks: rank 2 of 2 accepted");
    CHECK(odg_model_set_ranks(m, 0, 0) == ODG_EINVAL, "ranks: 0 ranks accepted");
    CHECK(odg_model_set_ranks(NULL, 0, 2) == ODG_EINVAL, "ranks: NULL model accepted");
    CHECK(odg_model_set_blas_mode(m, ODG_BLAS_THREADED) == ODG_OK &&
              odg_model_set_ranks(m, 0, 2) == ODG_EUNSUP,
          "ranks: threaded mode accepted");
    odg_model_destroy(&m);
    config others[] = {with_mode(linear_config(7, 3, ODG_SPECTRUM_RANDOM, 1), ODG_BLAS_CHUNKED),
                       mlp_config(7, 3, 8, 0)};
    others[1].o.reference = 1;
    for (int k = 0; k < 2; k++) {
        CHECK(odg_model_create(&m, &others[k].o, &mem) == ODG_OK &&
                  odg_model_set_ranks(m, 0, 2) == ODG_EUNSUP,
              "ranks: %s%s split", others[k].label, k ? " (reference version)" : "");
        odg_model_destroy(&m);
    }
    CHECK(mem.nlive == 0, "ranks: %ld blocks left", mem.nlive);
    free(Z);
    free(G);
    free(F1);
    free(Zb1);
    free(g1);
    free(F);
    free(Zb);
    free(g);
}

int main(void)
{
    config cs[] = {
        mlp_config(3, 4, 5, 0),
        mlp_config(3, 4, 5, 1),
        mlp_config(7, 3, 8, 0),
        mlp_config(7, 3, 8, 1),
        linear_config(3, 4, ODG_SPECTRUM_RANDOM, 1),
        linear_config(7, 3, ODG_SPECTRUM_RANDOM, 1),
        linear_config(3, 4, ODG_SPECTRUM_SPIRAL, 1),
        linear_config(7, 3, ODG_SPECTRUM_SPIRAL, 1),
        linear_config(3, 4, ODG_SPECTRUM_STIFF, 100),
        linear_config(7, 3, ODG_SPECTRUM_STIFF, 100),
        with_chunk(mlp_config(7, 3, 8, 1), 2),
        with_chunk(linear_config(7, 3, ODG_SPECTRUM_RANDOM, 1), 3),
        /* the default 64-row chunks, four of them, the last of 8 rows, in both modes */
        with_mode(mlp_config(200, 8, 48, 0), ODG_BLAS_CHUNKED),
        with_mode(mlp_config(200, 8, 48, 1), ODG_BLAS_CHUNKED),
        with_mode(mlp_config(200, 8, 48, 0), ODG_BLAS_THREADED),
        with_mode(mlp_config(200, 8, 48, 1), ODG_BLAS_THREADED),
        /* D <= ODG_MLP_THIN_MAX_D takes the thin version in chunked mode (D = 3 and 4 above,
         * and these), D = 8 the GEMMs.  H = 13 and 19: one or two blocks of 8 hidden units in
         * the thin version's dot products, and a rest. */
        with_mode(mlp_config(200, 4, 48, 0), ODG_BLAS_CHUNKED),
        with_mode(mlp_config(200, 4, 48, 1), ODG_BLAS_CHUNKED),
        mlp_config(70, 1, 13, 1),
        mlp_config(9, 2, 19, 0),
    };
    const int nc = (int)(sizeof cs / sizeof cs[0]);
    for (int c = 0; c < nc; c++) {
        test_blas_vs_reference(&cs[c]);
        test_finite_differences(&cs[c]);
        test_accumulate(&cs[c], 0);
        test_accumulate(&cs[c], 1);
        test_init_reproducible(&cs[c]);
        test_alloc_failures(&cs[c]);
    }
    test_init_draws();
    test_tanh();
    test_spectra();
    test_save_load();
    test_bad_options();
    test_names_and_views();
    test_roofline_args();
    test_ranks(4); /* the thin version */
    test_ranks(8); /* the GEMMs */
    return check_done("test_models");
}
