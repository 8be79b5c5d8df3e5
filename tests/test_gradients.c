/* The gradient methods (docs/theory.md sections 3-8): exactness of the discrete methods against finite
 * differences and an independent implementation, bit-identity across storage strategies,
 * convergence of every method to the exact (Van Loan) gradient at its scheme's order, the
 * documented failure of backsolve on stiff fields, the Revolve step counts, and the memory
 * formula. */
#include "check.h"
#include "odegrad/gradients.h"
#include "prob.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int sys_f(void *ctx, double t, const double *y, double *dy)
{
    return odg_model_f(ctx, t, y, dy);
}

/* The gradient as one vector g = (gtheta, gz0) of length P + M; returns its status. */
static odg_status grad(prob *q, odg_method m, odg_schedule sch, long C, odg_interp ip, double *g,
                       odg_grad_stats *st)
{
    odg_grad_opts o;
    odg_grad_opts_default(&o, m);
    o.schedule = sch;
    o.checkpoints = C;
    o.interp = ip;
    return odg_gradient(&q->p, &o, &q->mem, g, g + q->P, st);
}

static double loss(prob *q)
{
    double L = NAN;
    odg_loss(&q->p, &q->mem, &L);
    return L;
}

/* Central differences of the loss over every parameter and every z0 entry.  With relative step
 * eps the truncation error is O(eps^2 |L'''|) ~ 1e-10 and the round-off O(u |L| / eps) ~ 1e-11
 * relative (u = 1.1e-16), so a correct gradient agrees to about 1e-9; the bar is 1e-7. */
static void fd_grad(prob *q, double *g)
{
    double *th = q->model->theta;
    double *z0 = (double *)q->p.z0;
    for (size_t i = 0; i < q->P + q->M; i++) {
        double *x = i < q->P ? &th[i] : &z0[i - q->P];
        double x0 = *x, e = 1e-5 * fmax(1.0, fabs(x0));
        *x = x0 + e;
        double lp = loss(q);
        *x = x0 - e;
        double lm = loss(q);
        *x = x0;
        g[i] = (lp - lm) / (2 * e);
    }
}

static void test_fd(void)
{
    for (int mk = 0; mk < 2; mk++) {
        for (int s = 0; s < ODG_NSCHEMES; s++) {
            const odg_tableau *tab = odg_scheme_tableau((odg_scheme)s);
            for (int adaptive = 0; adaptive <= odg_tableau_adaptive(tab); adaptive++) {
                odg_model_opts mo = mk == 0 ? mlp_opts(3, 5, 4)
                                            : linear_opts(3, 4, ODG_SPECTRUM_RANDOM, 1);
                prob q;
                prob_make(&q, &mo, (odg_scheme)s, adaptive ? 0 : 7, 1.0, 11);
                size_t n = q.P + q.M;
                double *g = malloc(n * sizeof(double)), *g2 = malloc(n * sizeof(double));
                double *gf = malloc(n * sizeof(double));
                odg_grad_stats st;
                odg_status rc = grad(&q, ODG_METHOD_BACKPROP, 0, 0, 0, g, &st);
                CHECK(rc == ODG_OK, "backprop status %s", odg_status_str(rc));
                odg_grid grid = {0};
                if (adaptive) {
                    /* accepted steps are constants: differentiate the map on that grid */
                    CHECK(st.steps > 2, "adaptive solve took %ld steps", st.steps);
                    odg_erk *e = NULL;
                    odg_erk_create(&e, tab, q.M, q.P, &q.mem);
                    odg_grid_init(&grid, &q.mem, 16);
                    double *z = malloc(q.M * sizeof(double));
                    memcpy(z, q.z0, q.M * sizeof(double));
                    odg_system sys = {q.M, q.P, q.model, sys_f, NULL, 0, NULL, NULL};
                    odg_erk_run_adaptive(e, &sys, 0, 1, &q.p.adapt, z, NULL, &grid);
                    free(z);
                    odg_erk_destroy(&e);
                    q.p.grid = &grid;
                    grad(&q, ODG_METHOD_BACKPROP, 0, 0, 0, g2, NULL);
                    CHECK(check_bit_diff(g, g2, n) == 0, "%s: replaying the accepted grid "
                          "changes the gradient", tab->name);
                }
                fd_grad(&q, gf);
                double e = check_rel_diff(g, gf, n);
                CHECK(e < 1e-7, "%s %s %s: backprop vs finite differences %.3e",
                      mk ? "linear" : "mlp", tab->name, adaptive ? "adaptive" : "fixed", e);
                odg_grid_free(&grid);
                free(g);
                free(g2);
                free(gf);
                prob_free(&q);
            }
        }
    }
}

static const char *mname(int m)
{
    return odg_method_name((odg_method)m);
}

/* The storage strategies of one gradient kind return the same bits: they only decide what is
 * kept and what is recomputed, and recomputation repeats the same floating-point operations.
 * backprop-steps (states kept, stages recomputed) is the symplectic adjoint of Matsubara et al.
 * (2021), docs/theory.md section 5: its equality with backprop here is that method's exactness. */
static void test_bitwise(void)
{
    odg_scheme schemes[] = {ODG_SCHEME_RK4, ODG_SCHEME_DOPRI5};
    for (int si = 0; si < 2; si++) {
        for (int adaptive = 0; adaptive <= si; adaptive++) {
            odg_model_opts mo = mlp_opts(3, 5, 4);
            prob q;
            prob_make(&q, &mo, schemes[si], adaptive ? 0 : 13, 1.0, 5);
            size_t n = q.P + q.M;
            double *ref = malloc(n * sizeof(double)), *g = malloc(n * sizeof(double));
            odg_grad_stats st;
            grad(&q, ODG_METHOD_BACKPROP, 0, 0, 0, ref, &st);
            long N = st.steps;
            struct {
                odg_method m;
                odg_schedule s;
                long C;
            } disc[] = {{ODG_METHOD_BACKPROP_STEPS, 0, 0},
                        {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_UNIFORM, 0},
                        {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_UNIFORM, 2},
                        {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_UNIFORM, 5},
                        {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_UNIFORM, N},
                        {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_BINOMIAL, 1},
                        {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_BINOMIAL, 2},
                        {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_BINOMIAL, 3},
                        {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_BINOMIAL, N}};
            for (size_t k = 0; k < sizeof disc / sizeof disc[0]; k++) {
                odg_status rc = grad(&q, disc[k].m, disc[k].s, disc[k].C, 0, g, NULL);
                CHECK(rc == ODG_OK && check_bit_diff(g, ref, n) == 0,
                      "%s %s %s C=%ld: %zu entries differ from backprop", q.p.tab->name,
                      mname(disc[k].m), odg_schedule_name(disc[k].s), disc[k].C,
                      check_bit_diff(g, ref, n));
            }
            for (int ip = 0; ip < ODG_NINTERPS; ip++) {
                if (ip == ODG_INTERP_DENSE && q.p.tab->dense_deg == 0) {
                    continue;
                }
                grad(&q, ODG_METHOD_STORED_ADJOINT, 0, 0, (odg_interp)ip, ref, NULL);
                long Cs[] = {0, 3, N};
                for (int sch = 0; sch < ODG_NSCHEDULES; sch++) {
                    for (int c = 0; c < 3; c++) {
                        odg_status rc = grad(&q, ODG_METHOD_CHECKPOINT_ADJOINT,
                                             (odg_schedule)sch, Cs[c], (odg_interp)ip, g, NULL);
                        CHECK(rc == ODG_OK && check_bit_diff(g, ref, n) == 0,
                              "%s %s checkpoint-adjoint %s C=%ld: %zu entries differ from "
                              "stored-adjoint",
                              q.p.tab->name, odg_interp_name((odg_interp)ip),
                              odg_schedule_name((odg_schedule)sch), Cs[c],
                              check_bit_diff(g, ref, n));
                    }
                }
            }
            free(ref);
            free(g);
            prob_free(&q);
        }
    }
}

/* The order at which a method's gradient approaches the exact one (Van Loan) on the linear
 * spiral.  The discrete methods and backsolve converge at the scheme's order p.  The stored and
 * checkpointed adjoints add the interpolation error of z(t): O(h^2) linear, O(h^4) Hermite
 * (cubic Hermite error h^4 z''''/384), O(h^5) dopri5's dense output (a continuous extension of
 * order 4, whose local error is O(h^5)); so they converge at min(p, that exponent).  The step
 * counts keep the errors between about 1e-3 and 1e-12, far above round-off (~1e-15) and in the
 * asymptotic range. */
static void test_orders(void)
{
    struct {
        odg_scheme s;
        long N;
    } cases[] = {{ODG_SCHEME_EULER, 64}, {ODG_SCHEME_MIDPOINT, 32}, {ODG_SCHEME_HEUN, 32},
                 {ODG_SCHEME_RK4, 16},   {ODG_SCHEME_RK38, 16},     {ODG_SCHEME_BOSH3, 16},
                 {ODG_SCHEME_DOPRI5, 32}, {ODG_SCHEME_TSIT5, 32}};
    odg_model_opts mo = linear_opts(4, 3, ODG_SPECTRUM_SPIRAL, 1);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        prob q;
        prob_make(&q, &mo, cases[c].s, cases[c].N, 1.0, 3);
        size_t n = q.P + q.M, D = mo.D;
        double *gref = malloc(n * sizeof(double)), *g = malloc(n * sizeof(double));
        odg_vanloan_linear(D, mo.B, q.model->theta, q.model->theta + D * D, q.z0, q.w, 0, 1,
                           NULL, gref, gref + D * D, gref + q.P);
        int p = q.p.tab->order;
        for (int m = 0; m < ODG_NMETHODS; m++) {
            if (m == ODG_METHOD_REVERSIBLE) {
                continue; /* a map of its own: test_reversible_order */
            }
            int interpolates = odg_method_kind((odg_method)m) == ODG_KIND_CONTINUOUS &&
                               odg_method_storage((odg_method)m) != ODG_STORAGE_NONE;
            for (int ip = 0; ip < (interpolates ? ODG_NINTERPS : 1); ip++) {
                if (ip == ODG_INTERP_DENSE && q.p.tab->dense_deg == 0) {
                    continue;
                }
                int expect = p;
                if (interpolates) {
                    int q_int = ip == ODG_INTERP_LINEAR ? 2 : ip == ODG_INTERP_HERMITE ? 4 : 5;
                    expect = p < q_int ? p : q_int;
                }
                double e[2];
                for (int k = 0; k < 2; k++) {
                    q.p.steps = cases[c].N << k;
                    grad(&q, (odg_method)m, 0, 0, (odg_interp)ip, g, NULL);
                    e[k] = check_rel_diff(g, gref, n);
                }
                double order = log2(e[0] / e[1]);
                const char *ipn = interpolates ? odg_interp_name((odg_interp)ip) : "-";
                CHECK(fabs(order - expect) <= 0.15,
                      "%s %s %s: observed order %.3f (errors %.2e, %.2e), expected %d",
                      q.p.tab->name, mname(m), ipn, order, e[0], e[1], expect);
                printf("order %-8s %-20s %-8s N=%-3ld err %.2e -> %.2e  observed %.2f (p=%d)\n",
                       q.p.tab->name, mname(m), ipn, cases[c].N, e[0], e[1], order, expect);
            }
        }
        free(gref);
        free(g);
        prob_free(&q);
    }
}

/* Backsolve reconstructs z by integrating it backwards, which amplifies every error by about
 * exp(|lambda_max| T): harmless on a non-stiff field, fatal on a stiff one.  On the stiff linear
 * field (eigenvalues -1 .. -S) with rk4 at N = 800 (|h lambda| <= 0.125, well inside the
 * stability region of rk4, so the forward and stored methods are accurate): backsolve's error
 * must grow with S and be useless (> 1; exp(100) * 1e-16 ~ 3e27) at S = 100, while the stored
 * adjoint stays accurate (its O(h^4) error is about 1e-8 at S = 100). */
static void test_stiff(void)
{
    double S[] = {1, 10, 30, 100}, prev = 0;
    for (int k = 0; k < 4; k++) {
        odg_model_opts mo = linear_opts(4, 3, ODG_SPECTRUM_STIFF, S[k]);
        prob q;
        prob_make(&q, &mo, ODG_SCHEME_RK4, 800, 1.0, 3);
        size_t n = q.P + q.M, D = mo.D;
        double *gref = malloc(n * sizeof(double)), *g = malloc(n * sizeof(double));
        odg_vanloan_linear(D, mo.B, q.model->theta, q.model->theta + D * D, q.z0, q.w, 0, 1,
                           NULL, gref, gref + D * D, gref + q.P);
        odg_status rc = grad(&q, ODG_METHOD_BACKSOLVE_ADJOINT, 0, 0, 0, g, NULL);
        double eb = rc == ODG_OK ? check_rel_diff(g, gref, n) : INFINITY;
        grad(&q, ODG_METHOD_STORED_ADJOINT, 0, 0, 0, g, NULL);
        double es = check_rel_diff(g, gref, n);
        printf("stiff S=%-4g backsolve err %.2e (%s), stored-adjoint err %.2e\n", S[k], eb,
               odg_status_str(rc), es);
        CHECK(es < 1e-7, "S=%g: stored-adjoint error %.2e", S[k], es);
        CHECK(eb > prev, "S=%g: backsolve error %.2e does not grow (previous %.2e)", S[k], eb,
              prev);
        if (S[k] == 1) {
            CHECK(eb < 1e-12, "S=1: backsolve error %.2e on a non-stiff field", eb);
        }
        if (S[k] == 100) {
            CHECK(eb > 1, "S=100: backsolve error %.2e, expected the documented failure", eb);
        }
        prev = eb;
        free(gref);
        free(g);
        prob_free(&q);
    }
}

/* Binomial checkpointing takes exactly the Revolve optimum of forward steps. */
static void test_revolve_counts(void)
{
    long cases[][3] = {{10, 3, 15}, {100, 5, 316}, {1000, 10, 3636}};
    for (int k = 0; k < 3; k++) {
        odg_model_opts mo = mlp_opts(1, 1, 1);
        prob q;
        prob_make(&q, &mo, ODG_SCHEME_EULER, cases[k][0], 1.0, 1);
        double g[16];
        odg_grad_stats st;
        odg_status rc = grad(&q, ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_BINOMIAL,
                             cases[k][1], 0, g, &st);
        CHECK(rc == ODG_OK && st.revolve_advances == cases[k][2],
              "l=%ld s=%ld: %ld forward steps, Revolve optimum %ld", cases[k][0], cases[k][1],
              st.revolve_advances, cases[k][2]);
        /* recomputed = advances after the forward sweep's N-1, plus one re-tape per step */
        CHECK(st.recomputed_steps == st.revolve_advances - (cases[k][0] - 1) + cases[k][0],
              "recomputed %ld", st.recomputed_steps);
        /* forward_steps has one meaning for both checkpointed methods: Revolve's count */
        for (int ip = 0; ip < ODG_NINTERPS; ip++) {
            if (ip == ODG_INTERP_DENSE) {
                continue; /* euler has no dense output */
            }
            odg_grad_stats sd, sc;
            grad(&q, ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_BINOMIAL, cases[k][1], 0, g,
                 &sd);
            grad(&q, ODG_METHOD_CHECKPOINT_ADJOINT, ODG_SCHEDULE_BINOMIAL, cases[k][1],
                 (odg_interp)ip, g, &sc);
            CHECK(sd.forward_steps == cases[k][2] && sc.forward_steps == cases[k][2],
                  "l=%ld s=%ld %s: forward_steps %ld (discrete) and %ld (continuous), Revolve "
                  "%ld",
                  cases[k][0], cases[k][1], odg_interp_name((odg_interp)ip), sd.forward_steps,
                  sc.forward_steps, cases[k][2]);
        }
        /* with every state kept, N - 1 for every method */
        for (int m = 0; m < ODG_NMETHODS; m++) {
            if (odg_method_keeps_checkpoints((odg_method)m)) {
                continue;
            }
            odg_grad_stats sa;
            grad(&q, (odg_method)m, 0, 0, 0, g, &sa);
            CHECK(sa.forward_steps == cases[k][0] - 1, "%s N=%ld: forward_steps %ld", mname(m),
                  cases[k][0], sa.forward_steps);
        }
        prob_free(&q);
    }
}

/* Memory, for every method, schedule and interpolation, fixed and adaptive steps:
 * - the accounted stored bytes (tags tape, trajectory, checkpoint) equal the closed form of
 *   docs/theory.md (odg_theory_stored_bytes, written from the formulas) exactly, and that form in
 *   units of M is the one the docs give;
 * - the memory model (odg_gradient_memory) equals the allocator exactly: stored, workspace and
 *   the peak of the gradient, so that the harness refuses exactly what would not fit;
 * - nothing but stored data grows with N under fixed steps: the workspace is the same at N = 64
 *   and 256, and backsolve's whole accounted peak too. */
static void test_memory(void)
{
    odg_model_opts mo = mlp_opts(3, 5, 4);
    long cases = 0;
    for (int adaptive = 0; adaptive < 2; adaptive++) {
        odg_scheme scheme = adaptive ? ODG_SCHEME_DOPRI5 : ODG_SCHEME_RK4;
        for (int m = 0; m < ODG_NMETHODS; m++) {
            for (int sch = 0; sch < ODG_NSCHEDULES; sch++) {
                for (int ip = 0; ip < ODG_NINTERPS; ip++) {
                    if ((sch && !odg_method_keeps_checkpoints((odg_method)m)) ||
                        (ip && !odg_method_interpolates((odg_method)m)) ||
                        (ip == ODG_INTERP_DENSE && !adaptive) ||
                        (adaptive && m == ODG_METHOD_REVERSIBLE)) { /* fixed steps only */
                        continue;
                    }
                    size_t ws[3] = {0, 0, 0}, peak[3] = {0, 0, 0};
                    long Ns[2] = {64, 256};
                    /* adaptive: a few steps, then over [0, 40] enough to double the grid (64
                     * steps) and fill the trajectory's second table chunk (192) */
                    for (int k = 0; k < (adaptive ? 3 : 2); k++) {
                        prob q;
                        prob_make(&q, &mo, scheme, adaptive ? 0 : Ns[k], k == 2 ? 40.0 : 1.0, 2);
                        if (adaptive) {
                            double tol = k == 0 ? 1e-5 : 1e-9;
                            odg_adapt_defaults(&q.p.adapt, tol, tol);
                        }
                        double *g = malloc((q.P + q.M) * sizeof(double));
                        odg_grad_stats st;
                        odg_status rc = grad(&q, (odg_method)m, (odg_schedule)sch, 0,
                                             (odg_interp)ip, g, &st);
                        const char *what = mname(m);
                        const char *sn = odg_schedule_name((odg_schedule)sch);
                        const char *in = odg_interp_name((odg_interp)ip);
                        CHECK(rc == ODG_OK, "%s %s %s: %s", what, sn, in, odg_status_str(rc));
                        long N = st.steps;
                        size_t M = q.M;
                        CHECK(k < 2 || N > 192, "%s %s %s: %ld adaptive steps, the case needs "
                              "more than 192", what, sn, in, N);
                        CHECK((double)st.stored_bytes == st.theory_stored,
                              "%s %s %s N=%ld adaptive=%d: stored %zu, closed form %.0f", what,
                              sn, in, N, adaptive, st.stored_bytes, st.theory_stored);
                        odg_grad_opts o;
                        odg_grad_opts_default(&o, (odg_method)m);
                        o.schedule = (odg_schedule)sch;
                        o.interp = (odg_interp)ip;
                        odg_grad_memory mm;
                        CHECK(odg_gradient_memory(&q.p, &o, N, &mm) == ODG_OK, "model");
                        CHECK(mm.stored == (double)st.stored_bytes &&
                                  mm.workspace == (double)st.workspace_bytes &&
                                  mm.peak == (double)st.peak_total,
                              "%s %s %s N=%ld adaptive=%d: model %.0f + %.0f (peak %.0f), "
                              "allocator %zu + %zu (peak %zu)",
                              what, sn, in, N, adaptive, mm.stored, mm.workspace, mm.peak,
                              st.stored_bytes, st.workspace_bytes, st.peak_total);
                        ws[k] = st.workspace_bytes;
                        peak[k] = st.peak_total;
                        /* the closed form in units of M, as docs/theory.md gives it */
                        size_t units = (size_t)-1, W = ip == ODG_INTERP_HERMITE ? 2 : 1;
                        long K = (long)floor(sqrt((double)N) + 0.5), C = 1;
                        while ((1L << (C - 1)) < N) {
                            C++;
                        }
                        int s = adaptive ? 7 : 4;
                        if (m == ODG_METHOD_BACKPROP) {
                            units = (size_t)(N * s);
                        } else if (m == ODG_METHOD_BACKPROP_STEPS) {
                            units = (size_t)N;
                        } else if (m == ODG_METHOD_STORED_ADJOINT) {
                            units = (size_t)N * W;
                        } else if (m == ODG_METHOD_BACKSOLVE_ADJOINT ||
                                   m == ODG_METHOD_REVERSIBLE) {
                            units = 0;
                        } else if (sch == ODG_SCHEDULE_BINOMIAL) {
                            units = (size_t)C;
                        } else if (adaptive) {
                            /* online: 16 slots, the interval the least power of two that fits
                             * N into them, min(N, 16) slots filled */
                            long Ka = 1;
                            while ((N + Ka - 1) / Ka > 16) {
                                Ka *= 2;
                            }
                            units = (size_t)(N < 16 ? N : 16) +
                                    (size_t)Ka * (m == ODG_METHOD_BACKPROP_CHECKPOINT ? 1 : W);
                        } else {
                            units = (size_t)((N + K - 1) / K) +
                                    (size_t)K * (m == ODG_METHOD_BACKPROP_CHECKPOINT ? 1 : W);
                        }
                        CHECK(st.stored_bytes == units * M * sizeof(double),
                              "%s %s %s N=%ld: %zu bytes, expected %zu units of M", what, sn, in,
                              N, st.stored_bytes, units);
                        free(g);
                        prob_free(&q);
                        cases++;
                    }
                    if (!adaptive) {
                        /* binomial's stack of checkpoint indices is C longs: C = 7 at N = 64,
                         * 9 at N = 256 */
                        size_t grows = sch == ODG_SCHEDULE_BINOMIAL ? 2 * sizeof(long) : 0;
                        CHECK(ws[1] - ws[0] == grows,
                              "%s %s %s: workspace %zu at N=64, %zu at N=256", mname(m),
                              odg_schedule_name((odg_schedule)sch),
                              odg_interp_name((odg_interp)ip), ws[0], ws[1]);
                    }
                    if (!adaptive && (m == ODG_METHOD_BACKSOLVE_ADJOINT ||
                                      m == ODG_METHOD_REVERSIBLE)) {
                        CHECK(peak[0] == peak[1], "%s: accounted %zu at N=64, %zu at N=256",
                              mname(m), peak[0], peak[1]);
                    }
                }
            }
        }
    }
    CHECK(cases > 40, "%ld memory cases", cases);
}

/* The independent implementation: PyTorch autograd through 32 steps of classic RK4 on the
 * arrays in tests/data/peers (README there).  Both evaluate the same expression with sums in
 * possibly different orders, so they agree to round-off, about 1e-13 relative. */
static void test_peer(void)
{
    const char *dir = ODG_TEST_DATA "/peers/D2_H64_B256";
    const char *gdir = ODG_TEST_DATA "/peers/D2_H64_B256_backprop_rk4_N32";
    odg_model_opts mo = mlp_opts(2, 64, 256);
    prob q;
    prob_make(&q, &mo, ODG_SCHEME_RK4, 32, 1.0, 1);
    char err[ODG_ERRLEN] = "";
    unsigned loaded = 0;
    odg_status rc = odg_model_load(q.model, dir, &loaded, err);
    CHECK(rc == ODG_OK && loaded == 0xF, "load: %s", err);
    size_t shape[2] = {256, 2};
    char path[512];
    snprintf(path, sizeof path, "%s/z0.npy", dir);
    CHECK(odg_npy_load(path, 2, shape, q.z0, err) == ODG_OK, "%s", err);
    snprintf(path, sizeof path, "%s/w.npy", dir);
    CHECK(odg_npy_load(path, 2, shape, q.w, err) == ODG_OK, "%s", err);
    size_t n = q.P + q.M;
    double *g = malloc(n * sizeof(double)), *peer = calloc(n, sizeof(double));
    for (int v = 0; v < q.model->nviews; v++) {
        const odg_param_view *pv = &q.model->view[v];
        snprintf(path, sizeof path, "%s/g%s.npy", gdir, pv->name);
        int nd = 0;
        size_t sh[ODG_NPY_MAXDIM];
        double *data = NULL;
        CHECK(odg_npy_read(path, &nd, sh, &data, err) == ODG_OK, "%s", err);
        if (data) {
            memcpy(peer + pv->offset, data, pv->rows * pv->cols * sizeof(double));
            free(data);
        }
    }
    snprintf(path, sizeof path, "%s/gz0.npy", gdir);
    CHECK(odg_npy_load(path, 2, shape, peer + q.P, err) == ODG_OK, "%s", err);
    double peer_loss = NAN;
    snprintf(path, sizeof path, "%s/loss.npy", gdir);
    CHECK(odg_npy_load(path, 0, NULL, &peer_loss, err) == ODG_OK, "%s", err);
    for (int m = 0; m <= ODG_METHOD_BACKPROP_CHECKPOINT; m++) {
        odg_grad_stats st;
        grad(&q, (odg_method)m, 0, 0, 0, g, &st);
        double e = check_rel_diff(g, peer, n);
        CHECK(e < 1e-13, "%s vs PyTorch autograd: %.3e", mname(m), e);
        CHECK(fabs(st.loss - peer_loss) <= 1e-13 * fabs(peer_loss), "loss %.17g vs %.17g",
              st.loss, peer_loss);
        printf("peer %-20s relative difference %.2e, loss %.17g (PyTorch %.17g)\n", mname(m), e,
               st.loss, peer_loss);
    }
    free(g);
    free(peer);
    prob_free(&q);
}

/* The continuous adjoints with their own adaptive steps: the adjoint error is controlled by the
 * adjoint tolerance, the forward trajectory's by its step count; with dopri5 at N = 64 on the
 * spiral the forward error is ~1e-11, so the gradient error must fall with the adjoint rtol and
 * reach well below 1e-6 at rtol 1e-10 (global error a modest multiple of the tolerance). */
static void test_adaptive_adjoint(void)
{
    odg_model_opts mo = linear_opts(4, 3, ODG_SPECTRUM_SPIRAL, 1);
    prob q;
    prob_make(&q, &mo, ODG_SCHEME_DOPRI5, 64, 1.0, 3);
    size_t n = q.P + q.M, D = mo.D;
    double *gref = malloc(n * sizeof(double)), *g = malloc(n * sizeof(double));
    odg_vanloan_linear(D, mo.B, q.model->theta, q.model->theta + D * D, q.z0, q.w, 0, 1, NULL,
                       gref, gref + D * D, gref + q.P);
    odg_method ms[] = {ODG_METHOD_STORED_ADJOINT, ODG_METHOD_BACKSOLVE_ADJOINT};
    for (int k = 0; k < 2; k++) {
        for (int ip = 0; ip < ODG_NINTERPS; ip += 2) { /* hermite and dense */
            double prev = INFINITY;
            for (double rtol = 1e-4; rtol >= 1e-10; rtol *= 1e-3) {
                odg_grad_opts o;
                odg_grad_opts_default(&o, ms[k]);
                o.interp = (odg_interp)ip;
                o.adj_rtol = rtol;
                o.adj_atol = rtol * 1e-2;
                odg_grad_stats st;
                odg_status rc = odg_gradient(&q.p, &o, &q.mem, g, g + q.P, &st);
                double e = check_rel_diff(g, gref, n);
                CHECK(rc == ODG_OK && e < prev, "%s %s adj_rtol %g: error %.2e (previous %.2e)",
                      mname(ms[k]), odg_interp_name(o.interp), rtol, e, prev);
                if (rtol < 1e-9) {
                    CHECK(e < 1e-6, "%s adj_rtol %g: error %.2e", mname(ms[k]), rtol, e);
                }
                printf("adaptive adjoint %-18s %-8s rtol %.0e: %3ld steps, error %.2e\n",
                       mname(ms[k]), odg_interp_name(o.interp), rtol, st.adj_steps, e);
                prev = e;
            }
        }
    }
    /* checkpoint-adjoint with its own steps (uniform schedule): its segments are recomputed
     * in whatever order the adjoint's steps ask, from checkpoints that hold the same bits as
     * stored-adjoint's steps, so the gradient is stored-adjoint's bit for bit; the memory model
     * still equals the allocator; the binomial schedule, which serves states in descending order
     * only, is refused. */
    for (int ip = 0; ip < ODG_NINTERPS; ip++) {
        odg_grad_opts o;
        odg_grad_opts_default(&o, ODG_METHOD_STORED_ADJOINT);
        o.interp = (odg_interp)ip;
        o.adj_rtol = 1e-7;
        o.adj_atol = 1e-9;
        odg_grad_stats ss, sc;
        double *gs = malloc(n * sizeof(double));
        odg_status rs = odg_gradient(&q.p, &o, &q.mem, gs, gs + q.P, &ss);
        o.method = ODG_METHOD_CHECKPOINT_ADJOINT;
        o.checkpoints = 6;
        odg_status rc = odg_gradient(&q.p, &o, &q.mem, g, g + q.P, &sc);
        CHECK(rs == ODG_OK && rc == ODG_OK && check_bit_diff(g, gs, n) == 0 &&
                  sc.adj_steps == ss.adj_steps,
              "checkpoint-adjoint %s with its own steps: %s, %zu numbers differ from "
              "stored-adjoint's, %ld steps against %ld",
              odg_interp_name(o.interp), odg_status_str(rc), check_bit_diff(g, gs, n),
              sc.adj_steps, ss.adj_steps);
        odg_grad_memory mm;
        CHECK(odg_gradient_memory(&q.p, &o, sc.steps, &mm) == ODG_OK &&
                  mm.peak == (double)sc.peak_total && mm.stored == (double)sc.stored_bytes,
              "checkpoint-adjoint %s own steps: model %.0f (stored %.0f), allocator %zu (%zu)",
              odg_interp_name(o.interp), mm.peak, mm.stored, sc.peak_total, sc.stored_bytes);
        printf("adaptive adjoint checkpoint-adjoint %-8s rtol 1e-07: %3ld steps, %ld recomputed, "
               "bit-identical to stored-adjoint\n",
               odg_interp_name(o.interp), sc.adj_steps, sc.recomputed_steps);
        o.schedule = ODG_SCHEDULE_BINOMIAL;
        CHECK(odg_gradient(&q.p, &o, &q.mem, g, g + q.P, &sc) == ODG_EUNSUP,
              "binomial checkpoints with the adjoint's own steps not refused");
        free(gs);
    }
    /* The seminorm (Kidger, Chen & Lyons 2021): the parameter adjoint left out of the error
     * norm.  It feeds back into nothing, so the gradient still converges with the tolerance
     * (below 1e-6 at rtol 1e-10, as above), and the steps differ from the full norm's (the norm
     * sees other terms).  Whether it takes fewer depends on which part's error dominates the
     * full norm; on this field the parameter adjoint's does, and the seminorm takes fewer
     * (printed, not asserted). */
    long sum_full = 0, sum_semi = 0;
    for (int k = 0; k < 2; k++) {
        for (double rtol = 1e-4; rtol >= 1e-10; rtol *= 1e-3) {
            odg_grad_stats full, semi;
            odg_grad_opts o;
            odg_grad_opts_default(&o, ms[k]);
            o.adj_rtol = rtol;
            o.adj_atol = rtol * 1e-2;
            odg_gradient(&q.p, &o, &q.mem, g, g + q.P, &full);
            o.adj_seminorm = 1;
            odg_status rc = odg_gradient(&q.p, &o, &q.mem, g, g + q.P, &semi);
            double e = check_rel_diff(g, gref, n);
            CHECK(rc == ODG_OK, "%s seminorm rtol %g: %s", mname(ms[k]), rtol,
                  odg_status_str(rc));
            sum_full += full.adj_steps;
            sum_semi += semi.adj_steps;
            if (rtol < 1e-9) {
                CHECK(e < 1e-6, "%s seminorm rtol %g: error %.2e", mname(ms[k]), rtol, e);
            }
            printf("adaptive adjoint %-18s seminorm rtol %.0e: %3ld steps (full norm %3ld), "
                   "error %.2e\n",
                   mname(ms[k]), rtol, semi.adj_steps, full.adj_steps, e);
        }
    }
    CHECK(sum_semi != sum_full, "the seminorm took the same steps as the full norm (%ld)",
          sum_semi);
    free(gref);
    free(g);
    prob_free(&q);
}

/* The reversible method (docs/theory.md section 5, "The reversible method"). */
static odg_status rev_grad(prob *q, double lambda, int keep, double *g, odg_grad_stats *st)
{
    odg_grad_opts o;
    odg_grad_opts_default(&o, ODG_METHOD_REVERSIBLE);
    o.lambda = lambda;
    o.keep_states = keep;
    return odg_gradient(&q->p, &o, &q->mem, g, g + q->P, st);
}

/* The loss of the reversible map itself (odg_loss solves with the plain scheme). */
static double rev_loss(prob *q, double lambda, double *scratch)
{
    odg_grad_stats st;
    return rev_grad(q, lambda, 0, scratch, &st) == ODG_OK ? st.loss : NAN;
}

/* - its gradient is the exact gradient of its own map: against the same discrete adjoint over
 *   kept states (keep_states: no reconstruction), they differ by the reconstruction's round-off
 *   only.  Each inverse step rounds a few ulps of the states (u = 1.1e-16), and the inverse of
 *   y divides by lambda, so a rounding made k steps from the end has grown by lambda^-k (times
 *   the map's Lipschitz factor, about 1 here: h L < 1/4) when it reaches (y_0, z_0): the
 *   reconstruction error is at most about 4 N u lambda^-N, 1.4e-14 for lambda = 1 and 2.3e-10
 *   for lambda = 0.5 at N = 16, and the gradients differ by about as much (1e-9 the bar);
 * - against central differences of the reversible loss (the bar of test_fd, 1e-7). */
static void test_reversible_exact(void)
{
    odg_scheme schemes[] = {ODG_SCHEME_EULER, ODG_SCHEME_RK4, ODG_SCHEME_DOPRI5};
    double lambdas[] = {1.0, 0.999, 0.5};
    for (int si = 0; si < 3; si++) {
        for (int li = 0; li < 3; li++) {
            odg_model_opts mo = mlp_opts(3, 5, 4);
            prob q;
            prob_make(&q, &mo, schemes[si], 16, 1.0, 17);
            size_t n = q.P + q.M;
            double *g = malloc(n * sizeof(double)), *gk = malloc(n * sizeof(double));
            double *gf = malloc(n * sizeof(double)), *tmp = malloc(n * sizeof(double));
            odg_grad_stats st, sk;
            odg_status rc = rev_grad(&q, lambdas[li], 0, g, &st);
            odg_status rk = rev_grad(&q, lambdas[li], 1, gk, &sk);
            double e = check_rel_diff(g, gk, n);
            const double bound = 4 * 16 * 1.1e-16 * pow(1 / lambdas[li], 16);
            CHECK(rc == ODG_OK && rk == ODG_OK && e < 1e-9,
                  "%s lambda %g: %s/%s, reconstructing vs kept states %.2e", q.p.tab->name,
                  lambdas[li], odg_status_str(rc), odg_status_str(rk), e);
            CHECK(st.recon_err <= bound && isnan(sk.recon_err),
                  "%s lambda %g: reconstruction error %.2e, bound %.2e", q.p.tab->name,
                  lambdas[li], st.recon_err, bound);
            CHECK(st.loss == sk.loss, "the two forward passes differ");
            /* central differences of the reversible map's own loss */
            double *th = q.model->theta, *z0 = q.z0;
            for (size_t i = 0; i < n; i++) {
                double *x = i < q.P ? &th[i] : &z0[i - q.P];
                double x0 = *x, h = 1e-5 * fmax(1.0, fabs(x0));
                *x = x0 + h;
                double lp = rev_loss(&q, lambdas[li], tmp);
                *x = x0 - h;
                double lm = rev_loss(&q, lambdas[li], tmp);
                *x = x0;
                gf[i] = (lp - lm) / (2 * h);
            }
            double ef = check_rel_diff(g, gf, n);
            CHECK(ef < 1e-7, "%s lambda %g: reversible vs finite differences %.2e",
                  q.p.tab->name, lambdas[li], ef);
            printf("reversible %-6s lambda %-5g: vs kept states %.2e, vs finite differences "
                   "%.2e, reconstruction error %.2e\n",
                   q.p.tab->name, lambdas[li], e, ef, st.recon_err);
            free(g);
            free(gk);
            free(gf);
            free(tmp);
            prob_free(&q);
        }
    }
}

/* Its order is the scheme's: on the linear spiral against the exact (Van Loan) gradient the error
 * falls by 2^p when N doubles, for several schemes and couplings near 1 (step counts in the
 * asymptotic range, errors well above round-off, as in test_orders).  Smaller couplings are
 * left out here: the reconstruction's lambda^-N (test_reversible_exact) swamps the gradient at
 * these N, which is the method's documented limit, not its order.  Euler only with lambda = 1:
 * its O(h) difference between y and z decays like lambda^n, over some 1 / (1 - lambda) = 1000
 * steps with 0.999, so at the N where euler is accurate enough it is not yet asymptotic. */
static void test_reversible_order(void)
{
    struct {
        odg_scheme s;
        long N;
    } cases[] = {{ODG_SCHEME_EULER, 1024}, {ODG_SCHEME_MIDPOINT, 128}, {ODG_SCHEME_HEUN, 128},
                 {ODG_SCHEME_RK4, 32},     {ODG_SCHEME_BOSH3, 32},     {ODG_SCHEME_DOPRI5, 16}};
    double lambdas[] = {1.0, 0.999};
    odg_model_opts mo = linear_opts(4, 3, ODG_SPECTRUM_SPIRAL, 1);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int li = 0; li < 2; li++) {
            if (cases[c].s == ODG_SCHEME_EULER && lambdas[li] != 1.0) {
                continue;
            }
            prob q;
            prob_make(&q, &mo, cases[c].s, cases[c].N, 1.0, 3);
            size_t n = q.P + q.M, D = mo.D;
            double *gref = malloc(n * sizeof(double)), *g = malloc(n * sizeof(double));
            odg_vanloan_linear(D, mo.B, q.model->theta, q.model->theta + D * D, q.z0, q.w, 0, 1,
                               NULL, gref, gref + D * D, gref + q.P);
            int p = q.p.tab->order;
            double e[2];
            for (int k = 0; k < 2; k++) {
                q.p.steps = cases[c].N << k;
                rev_grad(&q, lambdas[li], 0, g, NULL);
                e[k] = check_rel_diff(g, gref, n);
            }
            double order = log2(e[0] / e[1]);
            CHECK(fabs(order - p) <= 0.15,
                  "reversible %s lambda %g: observed order %.3f (errors %.2e, %.2e), expected %d",
                  q.p.tab->name, lambdas[li], order, e[0], e[1], p);
            printf("reversible order %-8s lambda %-5g N=%-3ld err %.2e -> %.2e  observed %.2f "
                   "(p=%d)\n",
                   q.p.tab->name, lambdas[li], cases[c].N, e[0], e[1], order, p);
            free(gref);
            free(g);
            prob_free(&q);
        }
    }
}

/* Memory constant in N: the accounted bytes (all of them, the peak included) are the same for
 * N = 16 and 4096, nothing is stored, and the memory model equals the allocator; with kept
 * states the stored bytes are 16 N M exactly.  Adaptive steps and a lambda outside (0, 1] are
 * refused with a status, not run. */
static void test_reversible_memory(void)
{
    odg_model_opts mo = mlp_opts(3, 5, 4);
    size_t peak[2] = {0, 0};
    long Ns[2] = {16, 4096};
    for (int k = 0; k < 2; k++) {
        prob q;
        prob_make(&q, &mo, ODG_SCHEME_RK4, Ns[k], 1.0, 2);
        double *g = malloc((q.P + q.M) * sizeof(double));
        for (int keep = 0; keep < 2; keep++) {
            odg_grad_stats st;
            odg_status rc = rev_grad(&q, 0.999, keep, g, &st);
            odg_grad_opts o;
            odg_grad_opts_default(&o, ODG_METHOD_REVERSIBLE);
            o.keep_states = keep;
            odg_grad_memory mm;
            CHECK(rc == ODG_OK && odg_gradient_memory(&q.p, &o, Ns[k], &mm) == ODG_OK &&
                      mm.stored == (double)st.stored_bytes &&
                      mm.workspace == (double)st.workspace_bytes &&
                      mm.peak == (double)st.peak_total,
                  "reversible keep=%d N=%ld: model %.0f + %.0f (peak %.0f), allocator %zu + %zu "
                  "(peak %zu)",
                  keep, Ns[k], mm.stored, mm.workspace, mm.peak, st.stored_bytes,
                  st.workspace_bytes, st.peak_total);
            size_t expect = keep ? 16 * (size_t)Ns[k] * q.M : 0;
            CHECK(st.stored_bytes == expect && st.theory_stored == (double)expect,
                  "reversible keep=%d N=%ld: stored %zu, closed form %.0f, expected %zu", keep,
                  Ns[k], st.stored_bytes, st.theory_stored, expect);
            if (!keep) {
                peak[k] = st.peak_total;
            }
        }
        if (k == 0) {
            odg_grad_opts o;
            odg_grad_opts_default(&o, ODG_METHOD_REVERSIBLE);
            q.p.steps = 0;
            CHECK(odg_gradient(&q.p, &o, &q.mem, g, g + q.P, NULL) == ODG_EUNSUP,
                  "adaptive steps not refused");
            q.p.steps = 16;
            double bad[] = {0.0, -0.5, 1.5, NAN};
            for (int b = 0; b < 4; b++) {
                o.lambda = bad[b];
                CHECK(odg_gradient(&q.p, &o, &q.mem, g, g + q.P, NULL) == ODG_EINVAL,
                      "lambda %g not refused", bad[b]);
            }
            odg_grad_opts_default(&o, ODG_METHOD_BACKPROP);
            o.keep_states = 1;
            CHECK(odg_gradient(&q.p, &o, &q.mem, g, g + q.P, NULL) == ODG_EUNSUP,
                  "keep_states with backprop not refused");
        }
        free(g);
        prob_free(&q);
    }
    CHECK(peak[0] == peak[1] && peak[0] > 0, "reversible: accounted %zu at N=16, %zu at N=4096",
          peak[0], peak[1]);
    printf("reversible accounted peak: %zu bytes at N=16, %zu at N=4096\n", peak[0], peak[1]);
}

int main(void)
{
    test_fd();
    test_bitwise();
    test_orders();
    test_stiff();
    test_revolve_counts();
    test_memory();
    test_peer();
    test_adaptive_adjoint();
    test_reversible_exact();
    test_reversible_order();
    test_reversible_memory();
    return check_done("test_gradients");
}
