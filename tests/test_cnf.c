/* The continuous normalizing flow (models/cnf.c, gradients/cnf_loss.c): the trace and its
 * hand-written VJP against central differences and against the loop reference, exact and
 * Hutchinson; the log-density of a linear field against its closed form l(T) = -T tr A; the
 * negative log-likelihood's gradient through every method against central differences of the
 * loss, the discrete methods bit-identical, the continuous ones converging to the fine gradient.
 */
#include "check.h"
#include "odegrad/gradients.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static odg_model *make(odg_mem *mem, size_t D, size_t H, size_t B, odg_trace tr,
                       odg_model_kind field, int reference, uint64_t seed)
{
    odg_model_opts o;
    odg_model_opts_default(&o);
    o.kind = ODG_MODEL_CNF;
    o.D = D;
    o.H = H;
    o.B = B;
    o.trace = tr;
    o.cnf_field = field;
    o.reference = reference;
    o.batch_chunk = 2; /* several chunks even for a small batch: their partial sums are tested */
    odg_model *m = NULL;
    char err[ODG_ERRLEN];
    if (odg_model_create_msg(&m, &o, mem, err) != ODG_OK) {
        fprintf(stderr, "cnf create: %s\n", err);
        exit(2);
    }
    odg_rng rng;
    odg_rng_seed(&rng, seed);
    odg_model_init(m, &rng);
    return m;
}

/* f and the VJP against the loop reference (same formulas, other summation orders: a few ulps of
 * sums of O(H D) terms, so 1e-12), and the trace against central differences of the field: with
 * e = 1e-5, O(e^2) truncation and O(eps / e) rounding, 1e-8 relative. */
static void test_trace(odg_trace tr)
{
    const size_t D = 3, H = 5, B = 5, S = D + 1, M = B * S;
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *m = make(&mem, D, H, B, tr, ODG_MODEL_MLP, 0, 11);
    odg_model *r = make(&mem, D, H, B, tr, ODG_MODEL_MLP, 1, 11);
    CHECK(m->D == S && m->P == 2 * H * D + H + D, "state row %zu, P %zu", m->D, m->P);
    double Z[20], G[20], F1[20], F2[20], Zb1[20], Zb2[20], g1[64] = {0}, g2[64] = {0};
    odg_rng rng;
    odg_rng_seed(&rng, 5);
    odg_rng_fill_normal(&rng, Z, M, 0, 1);
    odg_rng_fill_normal(&rng, G, M, 0, 1);
    odg_model_f(m, 0, Z, F1);
    odg_model_f(r, 0, Z, F2);
    odg_model_vjp(m, 0, Z, G, Zb1, g1);
    odg_model_vjp(r, 0, Z, G, Zb2, g2);
    const char *name = odg_trace_name(tr);
    CHECK(check_rel_diff(F1, F2, M) <= 1e-12, "%s: f against the loop reference %g", name,
          check_rel_diff(F1, F2, M));
    CHECK(check_rel_diff(Zb1, Zb2, M) <= 1e-12, "%s: Zbar %g", name, check_rel_diff(Zb1, Zb2, M));
    CHECK(check_rel_diff(g1, g2, m->P) <= 1e-12, "%s: gtheta %g", name,
          check_rel_diff(g1, g2, m->P));
    char err[ODG_ERRLEN];
    CHECK(odg_model_check_vjp(m, 0, Z, &mem, err) == ODG_OK, "%s: %s", name, err);
    CHECK(odg_model_check_vjp(r, 0, Z, &mem, err) == ODG_OK, "%s reference: %s", name, err);

    /* the trace by differences: row i's d(f_z)/dz along v, contracted with v: v = unit vectors
     * (exact, summed) or the model's own noise, which the Hutchinson model does not expose, so
     * there: the exact trace, and the estimate's mean over many draws is not tested here */
    if (tr == ODG_TRACE_EXACT) {
        const double e = 1e-5;
        double Zp[20], Fp[20], Fm[20];
        for (size_t i = 0; i < B; i++) {
            double t = 0;
            for (size_t d = 0; d < D; d++) {
                memcpy(Zp, Z, sizeof Zp);
                Zp[i * S + d] += e;
                odg_model_f(m, 0, Zp, Fp);
                Zp[i * S + d] -= 2 * e;
                odg_model_f(m, 0, Zp, Fm);
                t += (Fp[i * S + d] - Fm[i * S + d]) / (2 * e);
            }
            CHECK(fabs(-F1[i * S + D] - t) <= 1e-8 * fmax(1, fabs(t)),
                  "row %zu: trace %.12g, "
                  "differences %.12g",
                  i, -F1[i * S + D], t);
        }
    }
    /* dl/dt does not depend on l; the field of z does not see l */
    double Zl[20], Fl[20];
    memcpy(Zl, Z, sizeof Zl);
    for (size_t i = 0; i < B; i++) {
        Zl[i * S + D] += 3.0;
    }
    odg_model_f(m, 0, Zl, Fl);
    CHECK(check_bit_diff(F1, Fl, M) == 0, "%s: f depends on l", name);
    odg_model_destroy(&m);
    odg_model_destroy(&r);
    CHECK(mem.nlive == 0, "%ld blocks left", mem.nlive);
}

/* Hutchinson's estimate is unbiased: with eps = +-1, E[eps^T J eps] = tr J; over B = 4000
 * independent samples of the same z the mean's standard error is sqrt(sum_{d != d2} J^2 ... / B),
 * about 1 / sqrt(4000) ~ 0.016 times the off-diagonal size; 5 standard errors bound it. */
static void test_hutchinson_mean(void)
{
    const size_t D = 3, H = 5, B = 4000, S = D + 1;
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *h = make(&mem, D, H, B, ODG_TRACE_HUTCHINSON, ODG_MODEL_MLP, 0, 11);
    odg_model *x = make(&mem, D, H, B, ODG_TRACE_EXACT, ODG_MODEL_MLP, 0, 11);
    double *Z = calloc(B * S, sizeof *Z), *F = calloc(B * S, sizeof *F);
    const double z[3] = {0.3, -0.7, 1.1};
    for (size_t i = 0; i < B; i++) {
        memcpy(Z + i * S, z, sizeof z);
    }
    odg_model_f(h, 0, Z, F);
    double mean = 0, sq = 0;
    for (size_t i = 0; i < B; i++) {
        mean += F[i * S + D];
        sq += F[i * S + D] * F[i * S + D];
    }
    mean /= (double)B;
    const double se = sqrt((sq / (double)B - mean * mean) / (double)B);
    odg_model_f(x, 0, Z, F);
    CHECK(fabs(mean - F[D]) <= 5 * se, "Hutchinson's mean %.6g, exact %.6g, standard error %.3g",
          mean, F[D], se);
    free(Z);
    free(F);
    odg_model_destroy(&h);
    odg_model_destroy(&x);
}

/* The linear field: l(T) = -T tr A exactly (dl/dt is constant, and every Runge-Kutta scheme's
 * weights sum to one: to rounding, 1e-13), and the NLL against its closed form with
 * z(T) = e^(A T) z0 (b = 0): RK4 at h = 1/64 errs by O(h^4) ~ 1e-7 relative. */
typedef struct capture {
    double l[8];
} capture;

static int capture_nll(void *ctx, const double *zT, size_t B, size_t D, double *loss, double *lamT)
{
    capture *c = ctx;
    for (size_t i = 0; i < B && i < 8; i++) {
        c->l[i] = zT[i * D + D - 1];
    }
    return odg_cnf_nll(NULL, zT, B, D, loss, lamT);
}

static void test_linear(void)
{
    const size_t D = 3, B = 4, S = D + 1;
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *m = make(&mem, D, 1, B, ODG_TRACE_EXACT, ODG_MODEL_LINEAR, 0, 2);
    double *A = m->theta;
    memset(A + D * D, 0, D * sizeof(double)); /* b = 0 */
    const double T = 0.8, trA = A[0] + A[4] + A[8];
    double z0[16] = {0};
    odg_rng rng;
    odg_rng_seed(&rng, 9);
    for (size_t i = 0; i < B; i++) {
        odg_rng_fill_normal(&rng, z0 + i * S, D, 0, 1); /* l(0) = 0 */
    }
    capture cap;
    odg_problem p = {.model = m,
                     .tab = odg_scheme_tableau(ODG_SCHEME_RK4),
                     .t0 = 0,
                     .t1 = T,
                     .steps = 64,
                     .z0 = z0,
                     .terminal = capture_nll,
                     .terminal_ctx = &cap};
    double loss;
    CHECK(odg_loss(&p, &mem, &loss) == ODG_OK, "loss");
    for (size_t i = 0; i < B; i++) {
        CHECK(fabs(cap.l[i] + T * trA) <= 1e-13 * fmax(1, fabs(T * trA)),
              "l(T) %.17g, -T tr A %.17g", cap.l[i], -T * trA);
    }
    double AT[9], E[9];
    for (int k = 0; k < 9; k++) {
        AT[k] = A[k] * T;
    }
    odg_expm(3, AT, E);
    double nll = 0;
    for (size_t i = 0; i < B; i++) {
        for (size_t j = 0; j < D; j++) {
            double s = 0;
            for (size_t k = 0; k < D; k++) {
                s += E[j * D + k] * z0[i * S + k];
            }
            nll += 0.5 * s * s;
        }
    }
    nll = nll / (double)B + 0.5 * (double)D * log(2 * 3.14159265358979323846) - T * trA;
    CHECK(fabs(loss - nll) <= 1e-7 * fabs(nll), "NLL %.12g, closed form %.12g", loss, nll);
    odg_model_destroy(&m);
    CHECK(mem.nlive == 0, "%ld blocks left", mem.nlive);
}

/* Every method on the mlp flow, exact and Hutchinson: the discrete ones against central
 * differences of the NLL (e = 1e-6: 1e-10 relative from truncation and rounding, so 1e-7) and
 * bit-identical to one another; the continuous ones against the discrete gradient at N = 1024
 * (their error is RK4's O(h^4) at N = 64, ~ 1e-7 for a field of order one over [0, 1]; 1e-5). */
static void test_methods(odg_trace tr)
{
    const size_t D = 2, H = 6, B = 4, S = D + 1, M = B * S;
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *m = make(&mem, D, H, B, tr, ODG_MODEL_MLP, 0, 4);
    const size_t P = m->P;
    double z0[12] = {0};
    odg_rng rng;
    odg_rng_seed(&rng, 8);
    for (size_t i = 0; i < B; i++) {
        odg_rng_fill_normal(&rng, z0 + i * S, D, 0, 1);
    }
    odg_problem p = {.model = m,
                     .tab = odg_scheme_tableau(ODG_SCHEME_RK4),
                     .t0 = 0,
                     .t1 = 1,
                     .steps = 64,
                     .z0 = z0,
                     .terminal = odg_cnf_nll};
    const char *name = odg_trace_name(tr);
    double *fd = calloc(P, sizeof *fd), *g = calloc(P, sizeof *g), *g0 = calloc(P, sizeof *g0);
    double *fine = calloc(P, sizeof *fine), gz[12], gz0[12];
    const double e = 1e-6;
    for (size_t k = 0; k < P; k++) {
        double lp, lm;
        const double th = m->theta[k];
        m->theta[k] = th + e;
        odg_loss(&p, &mem, &lp);
        m->theta[k] = th - e;
        odg_loss(&p, &mem, &lm);
        m->theta[k] = th;
        fd[k] = (lp - lm) / (2 * e);
    }
    odg_grad_opts go;
    odg_grad_opts_default(&go, ODG_METHOD_BACKPROP);
    p.steps = 1024;
    CHECK(odg_gradient(&p, &go, &mem, fine, gz, NULL) == ODG_OK, "fine");
    p.steps = 64;
    for (int meth = 0; meth < ODG_NMETHODS; meth++) {
        odg_grad_opts_default(&go, (odg_method)meth);
        odg_grad_stats st;
        odg_status s = odg_gradient(&p, &go, &mem, g, gz, &st);
        const char *mn = odg_method_name((odg_method)meth);
        CHECK(s == ODG_OK, "%s %s: %s", name, mn, odg_status_str(s));
        /* the memory model counts the terminal loss's cotangent buffer like the allocator */
        odg_grad_memory mm;
        CHECK(odg_gradient_memory(&p, &go, st.steps, &mm) == ODG_OK &&
                  mm.stored == (double)st.stored_bytes &&
                  mm.workspace == (double)st.workspace_bytes && mm.peak == (double)st.peak_total,
              "%s %s: model %.0f + %.0f (peak %.0f), allocator %zu + %zu (peak %zu)", name, mn,
              mm.stored, mm.workspace, mm.peak, st.stored_bytes, st.workspace_bytes,
              st.peak_total);
        if (odg_method_kind((odg_method)meth) == ODG_KIND_DISCRETE) {
            CHECK(check_rel_diff(g, fd, P) <= 1e-7, "%s %s: against differences %g", name, mn,
                  check_rel_diff(g, fd, P));
            if (meth == ODG_METHOD_BACKPROP) {
                memcpy(g0, g, P * sizeof *g);
                memcpy(gz0, gz, sizeof gz);
            } else if (meth != ODG_METHOD_REVERSIBLE) {
                /* (reversible differentiates its own map: checked by differences above) */
                CHECK(check_bit_diff(g, g0, P) == 0 && check_bit_diff(gz, gz0, M) == 0,
                      "%s %s: not bit-identical to backprop", name, mn);
            }
        } else {
            CHECK(check_rel_diff(g, fine, P) <= 1e-5, "%s %s: against the fine gradient %g", name,
                  mn, check_rel_diff(g, fine, P));
        }
    }
    /* every method converges to the fine gradient at RK4's order: halving h from 1/8 to 1/16
     * divides the error by 2^4 = 16 in the limit; more than 8 leaves room for the terms of
     * higher order at these steps */
    for (int meth = 0; meth < ODG_NMETHODS; meth++) {
        odg_grad_opts_default(&go, (odg_method)meth);
        double e8, e16;
        p.steps = 8;
        odg_gradient(&p, &go, &mem, g, gz, NULL);
        e8 = check_rel_diff(g, fine, P);
        p.steps = 16;
        odg_gradient(&p, &go, &mem, g, gz, NULL);
        e16 = check_rel_diff(g, fine, P);
        CHECK(e8 / e16 > 8, "%s %s: error %g at N = 8, %g at N = 16", name,
              odg_method_name((odg_method)meth), e8, e16);
    }
    p.steps = 64;
    /* the loss is the NLL: at least the constant D/2 log(2 pi) minus nothing it could hide */
    double loss;
    odg_loss(&p, &mem, &loss);
    CHECK(isfinite(loss) && loss > 0, "%s: NLL %g", name, loss);
    free(fd);
    free(g);
    free(g0);
    free(fine);
    odg_model_destroy(&m);
    CHECK(mem.nlive == 0, "%ld blocks left", mem.nlive);
}

/* The gradient is bit-identical for any thread count (fixed chunks, partials summed in chunk
 * order; one chunk large enough that OpenBLAS could split its GEMMs runs inside a region too). */
static void test_threads(size_t chunk)
{
    const size_t D = 8, H = 128, B = 70, S = D + 1, M = B * S;
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model_opts o;
    odg_model_opts_default(&o);
    o.kind = ODG_MODEL_CNF;
    o.D = D;
    o.H = H;
    o.B = B;
    o.batch_chunk = chunk;
    odg_model *m = NULL;
    CHECK(odg_model_create(&m, &o, &mem) == ODG_OK, "create");
    odg_rng rng;
    odg_rng_seed(&rng, 1);
    odg_model_init(m, &rng);
    double *z0 = calloc(M, sizeof *z0), *g[2], gz[2][630];
    odg_dataset_draw(ODG_DATASET_MOONS, &rng, B, D, z0, S);
    odg_problem p = {.model = m,
                     .tab = odg_scheme_tableau(ODG_SCHEME_RK4),
                     .t1 = 1,
                     .steps = 4,
                     .z0 = z0,
                     .terminal = odg_cnf_nll};
    odg_grad_opts go;
    odg_grad_opts_default(&go, ODG_METHOD_BACKPROP);
    const int threads[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        g[k] = calloc(m->P, sizeof *g[k]);
        omp_set_num_threads(threads[k]);
        CHECK(odg_gradient(&p, &go, &mem, g[k], gz[k], NULL) == ODG_OK, "gradient");
    }
    omp_set_num_threads(1);
    CHECK(check_bit_diff(g[0], g[1], m->P) == 0 && check_bit_diff(gz[0], gz[1], M) == 0,
          "chunk %zu: 1 and 3 threads differ", chunk);
    free(g[0]);
    free(g[1]);
    free(z0);
    odg_model_destroy(&m);
}

int main(void)
{
    test_threads(16);
    test_threads(0);
    test_trace(ODG_TRACE_EXACT);
    test_trace(ODG_TRACE_HUTCHINSON);
    test_hutchinson_mean();
    test_linear();
    test_methods(ODG_TRACE_EXACT);
    test_methods(ODG_TRACE_HUTCHINSON);
    return check_done("test_cnf");
}
