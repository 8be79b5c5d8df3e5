/* The explicit Runge-Kutta engine (solvers/erk.c running the tableaux of solvers/tableaux.c),
 * through the public API of include/odegrad/solvers.h.  docs/theory.md section 2 (steps, adaptive
 * stepping, FSAL, dense output) and section 3 (the discrete adjoint of a step); Hairer, Norsett &
 * Wanner, Solving ODEs I (2nd ed.), II.3 (order), II.4 (step-size control), II.6 (dense output).
 *
 * Checks: the observed order of every scheme, forwards and backwards, on a linear and a
 * non-autonomous problem with exact solutions; adaptive solves meet their tolerance and return a
 * grid that replays them bit for bit; FSAL evaluation counts and bit-identity with fresh stages;
 * the accepted-step hook; divergence, error codes and step limits; the adjoint step against
 * finite differences of the discrete map; dopri5's dense output; the workspace accounting.
 * Every problem is defined here; no model is involved.
 */
#include "check.h"
#include "odegrad/solvers.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define U (DBL_EPSILON / 2) /* unit roundoff */

/* ---- test problems ------------------------------------------------------------------------ */

/* LIN: y' = s(t) A y + p, n = 4, A = blockdiag([[-a, -w], [w, -a]], -1, -0.2) with a = 0.2,
 * w = 2: a rotation with decay and a diagonal system.  A is normal with spectral abscissa -0.2,
 * so ||exp(A t)||_2 <= 1 for t >= 0: forwards the problem does not grow.  s(t) = 1 and p = 0
 * give the exact solution used by the order and adaptive checks; the adjoint check takes
 * s(t) = 1 + sin(t)/2 (so the stage times reach the vjp too) and p != 0 as parameters. */
#define LN 4
#define LIN_A 0.2
#define LIN_W 2.0
#define LIN_D1 (-1.0)
#define LIN_D2 (-0.2)

typedef struct lin_ctx {
    double A[LN * LN]; /* (LN, LN) row-major */
    double p[LN];
    int tdep;
    const double *gp_expect; /* the adjoint check's gp: the vjp must be handed the caller's */
    int gp_wrong;
} lin_ctx;

static double lin_s(const lin_ctx *c, double t)
{
    return c->tdep ? 1.0 + 0.5 * sin(t) : 1.0;
}

static int lin_f(void *vc, double t, const double *y, double *dy)
{
    const lin_ctx *c = vc;
    double s = lin_s(c, t);
    for (int i = 0; i < LN; i++) {
        double acc = 0.0;
        for (int j = 0; j < LN; j++) {
            acc += c->A[i * LN + j] * y[j];
        }
        dy[i] = s * acc + c->p[i];
    }
    return 0;
}

/* ybar = g^T df/dy = s(t) A^T g (overwritten); gp += g^T df/dp = g (accumulated). */
static int lin_vjp(void *vc, double t, const double *y, const double *g, double *ybar, double *gp)
{
    lin_ctx *c = vc;
    double s = lin_s(c, t);
    for (int j = 0; j < LN; j++) {
        double acc = 0.0;
        for (int i = 0; i < LN; i++) {
            acc += c->A[i * LN + j] * g[i];
        }
        ybar[j] = s * acc;
    }
    if (c->gp_expect && gp != c->gp_expect) {
        c->gp_wrong = 1;
    }
    for (int i = 0; i < LN; i++) {
        gp[i] += g[i];
    }
    return 0;
}

static void lin_init(lin_ctx *c)
{
    memset(c, 0, sizeof *c);
    c->A[0 * LN + 0] = -LIN_A;
    c->A[0 * LN + 1] = -LIN_W;
    c->A[1 * LN + 0] = LIN_W;
    c->A[1 * LN + 1] = -LIN_A;
    c->A[2 * LN + 2] = LIN_D1;
    c->A[3 * LN + 3] = LIN_D2;
}

/* y(t) = exp(A (t - t0)) y0 (s = 1, p = 0). */
static void lin_exact(double t0, const double *y0, double t, double *y)
{
    double d = t - t0, e = exp(-LIN_A * d), co = cos(LIN_W * d), si = sin(LIN_W * d);
    y[0] = e * (co * y0[0] - si * y0[1]);
    y[1] = e * (si * y0[0] + co * y0[1]);
    y[2] = exp(LIN_D1 * d) * y0[2];
    y[3] = exp(LIN_D2 * d) * y0[3];
}

/* COS: y' = kappa cos(t) y, y(t) = y(t0) exp(kappa (sin t - sin t0)), kappa = 3 on [0, 4]: the
 * stage times t + c_i h enter every stage.  kappa = 3 lets the solution range over e^{+-3}, so
 * that the truncation error of the order-5 schemes stands clear of round-off while h is already
 * small enough for the asymptotic range (with kappa = 1 their errors reach the round-off floor
 * first).  The interval is not symmetric about a zero of cos, which would cancel error terms. */
#define COS_KAPPA 3.0

static int cos_f(void *ctx, double t, const double *y, double *dy)
{
    dy[0] = COS_KAPPA * cos(t) * y[0];
    return 0;
}

static void cos_exact(double t0, const double *y0, double t, double *y)
{
    y[0] = y0[0] * exp(COS_KAPPA * (sin(t) - sin(t0)));
}

typedef struct problem {
    const char *name;
    odg_system sys;
    void (*exact)(double t0, const double *y0, double t, double *y);
    double t0, t1;
    double y0[LN]; /* at t0 */
} problem;

static lin_ctx lin_plain; /* s = 1, p = 0 */

static problem prob_lin(void)
{
    lin_init(&lin_plain);
    problem p = {"lin", {LN, 0, &lin_plain, lin_f, NULL, 0, NULL, NULL}, lin_exact, 0.0, 5.0, {1, 0.5, 1, -0.7}};
    return p;
}

static problem prob_cos(void)
{
    problem p = {"cos", {1, 0, NULL, cos_f, NULL, 0, NULL, NULL}, cos_exact, 0.0, 4.0, {1}};
    return p;
}

static double norm2(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += x[i] * x[i];
    }
    return sqrt(s);
}

static double err2(const double *x, const double *y, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += (x[i] - y[i]) * (x[i] - y[i]);
    }
    return sqrt(s);
}

static int all_finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            return 0;
        }
    }
    return 1;
}

static odg_erk *erk_new(const odg_tableau *tab, size_t n, size_t np, odg_mem *mem)
{
    odg_erk *e = NULL;
    if (odg_erk_create(&e, tab, n, np, mem) != ODG_OK) {
        fprintf(stderr, "odg_erk_create(%s, %zu) failed\n", tab->name, n);
        exit(2);
    }
    return e;
}

/* ---- 1, 2: observed order, forwards and backwards ----------------------------------------- */

/* The state at the end of a uniform N-step solve from scale * (the exact state at `from`) to
 * `to`, divided back by scale, and the exact state there. */
static int solve_scaled(odg_erk *e, const problem *pb, double from, double to, long N, double scale,
                        double *z, double *y, odg_mem *mem)
{
    size_t n = pb->sys.n;
    double za[LN];
    pb->exact(pb->t0, pb->y0, from, za);
    for (size_t i = 0; i < n; i++) {
        z[i] = scale * za[i];
    }
    odg_grid g;
    if (odg_grid_uniform(&g, mem, from, to, N) != ODG_OK) {
        return 0;
    }
    odg_status st = odg_erk_run_grid(e, &pb->sys, &g, z, NULL);
    odg_grid_free(&g);
    for (size_t i = 0; i < n; i++) {
        z[i] /= scale;
    }
    pb->exact(from, za, to, y);
    return st == ODG_OK;
}

/* Error (2-norm) at the end of a uniform N-step solve from the exact state at `from` to `to`;
 * *roundoff receives a measurement of the round-off in it.  Both problems are
 * linear in y, so the discretisation error of a solve from 3 y0, divided by 3, is that of the
 * solve from y0 (exactly, in exact arithmetic), while its roundings are different ones (3 is not
 * a power of two): the difference of the two results is round-off only, a sample of the same
 * size as the round-off in either. */
static double solve_error(odg_erk *e, const problem *pb, double from, double to, long N,
                          odg_mem *mem, double *roundoff)
{
    size_t n = pb->sys.n;
    double z[LN], y[LN], z3[LN];
    if (!solve_scaled(e, pb, from, to, N, 1.0, z, y, mem)) {
        return NAN;
    }
    if (roundoff) {
        *roundoff = solve_scaled(e, pb, from, to, N, 3.0, z3, y, mem) ? err2(z, z3, n) : NAN;
    }
    return err2(z, y, n);
}

/* The pair (N, 2N) of a convergence study, N = 2^k.
 *
 * Round-off floor.  A pair (N, 2N) is used only if its finer error is at least 100 times the
 * round-off measured in either solve (solve_error), so that round-off moves log2(e_N / e_2N) by
 * < 2 / (100 ln 2) = 0.03.  The floor is measured rather than estimated because it depends on
 * the tableau: a step rounds the new state once at the size of y, which alone would give about
 * sqrt(N) u max|y| (2.2e-15 sqrt(N) with max|y| <= e^3), and schemes with weights of moderate
 * size stay near that; but vern6's weights reach 176 in size with opposite signs (b_7 + b_8 =
 * -4.1) and its a_ij 207, so its stage sums round at 1e2 .. 1e3 times the size of y (its errors
 * flatten at 1e-12 on LIN from N = 128 on, where that estimate says 1.6e-14).  The floor follows
 * N because an order-8 scheme reaches it within a few dozen steps: at a fixed 1e-11 its only
 * usable pair could be the coarsest, still outside the asymptotic range.
 *
 * Among the pairs above the floor the finest is used: e(h) = C h^p (1 + D h + ...) gives
 * log2(e_N / e_2N) - p ~ D h / (2 ln 2), which fades as h shrinks, and the finest pair is the
 * deepest into that asymptotic range.  The rule picks N per scheme and problem (euler needs
 * N ~ 2^10, tsit5, whose principal error coefficients are minimised so that its h^6 terms
 * linger, about 2^8, dopri8 2^4 .. 2^5), and a scheme of the wrong order is caught because no
 * pair then gives its order.  N stops at 2^10 (2N = 2048) so that a test run stays short. */
#define ROUNDOFF_MARGIN 100.0
#define KMIN 3
#define KMAX 10
#define ORDER_TOL 0.15

typedef struct order_result {
    double ratio;
    long N;
    double e2N, floor2N;
} order_result;

static order_result measure_order(odg_erk *e, const problem *pb, int backwards, odg_mem *mem)
{
    double from = backwards ? pb->t1 : pb->t0, to = backwards ? pb->t0 : pb->t1;
    double err[KMAX + 2], ro[KMAX + 2], floor[KMAX + 2];
    /* Refine until the error drops below the floor: the pair before that is the finest above
     * it (the errors fall monotonically here; a dip would show as a wrong ratio, not a pass). */
    int k2 = KMIN + 1;
    err[KMIN] = solve_error(e, pb, from, to, 1L << KMIN, mem, &ro[KMIN]);
    for (; k2 <= KMAX + 1; k2++) {
        err[k2] = solve_error(e, pb, from, to, 1L << k2, mem, &ro[k2]);
        floor[k2] = ROUNDOFF_MARGIN * fmax(ro[k2], ro[k2 - 1]);
        if (!(err[k2] >= floor[k2])) {
            break;
        }
    }
    if (k2 > KMAX + 1 || k2 == KMIN + 1) {
        k2 = k2 > KMAX + 1 ? KMAX + 1 : KMIN + 1; /* the floor check reports the second case */
    } else {
        k2--;
    }
    order_result r = {log2(err[k2 - 1] / err[k2]), 1L << (k2 - 1), err[k2], floor[k2]};
    return r;
}

/* The orders the pairs can show.  Verner's pairs minimise their principal error coefficients
 * so far that every order-(p+1) condition nearly holds: the largest residual, computed in
 * 90-digit arithmetic from the coefficients, is 1.0e-6 (vern6), 1.7e-5 (vern7), 4.2e-7 (vern8)
 * and 1.8e-6 (vern9), against 4e-4 .. 8e-5 for their order-(p+2) conditions.  The h^p term of the
 * error then overtakes the h^(p+1) term only at steps so small that both are below round-off in
 * double precision (vern6: at h ~ 1e-6 / 4e-4 = 2.5e-3 in the problem's time unit, an error
 * of 1e-22), so a convergence study shows between p and p + 1 (vern6 shows 7 on both problems).
 * The lower end still catches a scheme run wrongly, which loses at least one order; that the
 * order is exactly p is test_tableau's algebraic check.  Every other scheme shows p itself.
 *
 * vern8 and vern9 go further: their errors fall from the pre-asymptotic range (h w >= 0.6 on
 * LIN, where the higher terms still bend the ratio) to the round-off floor within one or two
 * halvings, so only LIN forwards, whose solution decays and carries the least round-off, keeps
 * a pair inside the band (vern8 7.88 at N = 8, vern9 9.50 at N = 16).  LIN backwards grows by
 * e^5 and COS passes through cancellations of its error terms, which at N = 8 .. 16 give ratios
 * of 7.7 to 12.9; these are printed, not checked.  *all_cases is 0 for them. */
static int order_high(const odg_tableau *tab, int *all_cases)
{
    static const char *const minimised[] = {"vern6", "vern7", "vern8", "vern9"};
    *all_cases = tab->order < 8 || strcmp(tab->name, "dopri8") == 0;
    for (size_t k = 0; k < sizeof minimised / sizeof minimised[0]; k++) {
        if (strcmp(tab->name, minimised[k]) == 0) {
            return tab->order + 1;
        }
    }
    return tab->order;
}

static void test_orders(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    problem pbs[2] = {prob_lin(), prob_cos()};
    for (int s = 0; s < ODG_NSCHEMES; s++) {
        const odg_tableau *tab = odg_scheme_tableau((odg_scheme)s);
        int all_cases;
        int hi = order_high(tab, &all_cases);
        char line[512];
        int len = snprintf(line, sizeof line, "order %-8s expected %d..%d:", tab->name,
                           tab->order, hi);
        for (int ip = 0; ip < 2; ip++) {
            const problem *pb = &pbs[ip];
            odg_erk *e = erk_new(tab, pb->sys.n, 0, &mem);
            for (int back = 0; back < 2; back++) {
                order_result r = measure_order(e, pb, back, &mem);
                const char *dir = back ? "bwd" : "fwd";
                int checked = all_cases || (ip == 0 && !back);
                CHECK(!checked || (r.ratio >= tab->order - ORDER_TOL && r.ratio <= hi + ORDER_TOL),
                      "%s %s %s: log2(e_N/e_2N) = %.3f at N = %ld, expected %d..%d +- %.2f",
                      tab->name, pb->name, dir, r.ratio, r.N, tab->order, hi, ORDER_TOL);
                CHECK(!checked || r.e2N >= r.floor2N,
                      "%s %s %s: e_2N = %.2e at N = %ld is below the floor %.1e", tab->name,
                      pb->name, dir, r.e2N, r.N, r.floor2N);
                len += snprintf(line + len, sizeof line - (size_t)len, "  %s %s %.3f (N=%ld)%s",
                                pb->name, dir, r.ratio, r.N, checked ? "" : "*");
            }
            odg_erk_destroy(&e);
        }
        printf("%s%s\n", line, all_cases ? "" : "  (* printed, not checked)");
    }
}

/* Backwards integration itself is measured in test_orders (bwd: from the exact state at t1 back
 * to t0).  Here: the uniform grid of a backward solve, and the arguments it refuses. */
static void test_backwards_grid(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    odg_grid g;
    CHECK(odg_grid_uniform(&g, &mem, 5.0, 0.0, 10) == ODG_OK, "backward uniform grid");
    CHECK(odg_grid_t(&g, 0) == 5.0 && odg_grid_t(&g, 10) == 0.0 && odg_grid_h(&g, 0) == -0.5,
          "backward grid: t0 %g tN %g h %g", odg_grid_t(&g, 0), odg_grid_t(&g, 10),
          odg_grid_h(&g, 0));
    odg_grid_free(&g);
    CHECK(odg_grid_uniform(&g, &mem, 1.0, 1.0, 10) == ODG_EINVAL, "t0 == t1 is EINVAL");
    CHECK(odg_grid_uniform(&g, &mem, 0.0, 1.0, 0) == ODG_EINVAL, "N == 0 is EINVAL");
    CHECK(mem.nlive == 0, "grids freed: %ld live", mem.nlive);
}

/* ---- 3: adaptive integration ---------------------------------------------------------------- */

/* The global error bound.  On LIN forwards ||exp(A t)||_2 <= 1, so the global error is at most
 * the sum of the local errors carried to t1 without growth.  The controller keeps each step's
 * estimate below 1 in the RMS norm weighted by atol + rtol |y| (per component at most
 * sqrt(n) = 2 times rtol |y| + atol), and the state carried on is the higher-order one (local
 * extrapolation), whose local error is well below the estimate; for such a problem the global
 * error is the tolerance times a modest factor, nearly independent of the tolerance (tolerance
 * proportionality, HNW II.4).  20 rtol ||y0|| leaves room for both the sqrt(n) and that factor
 * (measured: about 5 for bosh3, below 1.1 for dopri5 and tsit5, below 0.1 for dopri8's order-5
 * estimate and the Verner pairs, whose estimates are pessimistic).  The acceptance rule itself is
 * checked step by step by accept_hook below. */
#define ADAPT_FACTOR 20.0

/* Every accepted step must have an error norm <= 1 (docs/theory.md section 2).  The hook recomputes
 * err = h sum_i (b_i - bt_i) K_i and the weighted RMS norm from what the step shows.  Its sums
 * round differently from the engine's by at most (s + 2) u h sum_i |b_i - bt_i| |K_i| per
 * component, so each step is held to 1 plus that rounding scaled by its weight. */
typedef struct accept_rec {
    const odg_tableau *tab;
    size_t n;
    double rtol, atol, en_max;
    long bad;
} accept_rec;

static int accept_hook(void *ctx, const odg_step_info *st)
{
    accept_rec *r = ctx;
    const odg_tableau *tab = r->tab;
    double sum = 0.0, slack = 0.0;
    for (size_t i = 0; i < r->n; i++) {
        double err = 0.0, mag = 0.0;
        for (int j = 0; j < tab->s; j++) {
            double d = tab->b[j] - tab->bt[j], k = st->K[(size_t)j * r->n + i];
            err += d * k;
            mag += fabs(d * k);
        }
        double sc = r->atol + r->rtol * fmax(fabs(st->z[i]), fabs(st->znext[i]));
        double q = st->h * err / sc;
        sum += q * q;
        slack = fmax(slack, (tab->s + 2) * U * fabs(st->h) * mag / sc);
    }
    double en = sqrt(sum / (double)r->n);
    r->en_max = fmax(r->en_max, en);
    r->bad += en > 1.0 + slack + 4 * U;
    return 0;
}

static void check_grid(const odg_grid *g, double t0, double t1, const char *what)
{
    CHECK(g->N >= 1 && odg_grid_t(g, 0) == t0, "%s: grid t[0] = %.17g, t0 = %.17g", what,
          odg_grid_t(g, 0), t0);
    long bad = 0;
    for (long k = 0; k < g->N; k++) {
        bad += odg_grid_t(g, k) + odg_grid_h(g, k) != odg_grid_t(g, k + 1);
        bad += (t1 > t0) != (odg_grid_h(g, k) > 0);
    }
    CHECK(bad == 0, "%s: %ld steps with t[n] + h[n] != t[n+1] or h of the wrong sign", what, bad);
    /* The last step is h = t1 - t, so t + h misses t1 by at most its own rounding. */
    double tN = odg_grid_t(g, g->N);
    CHECK(fabs(tN - t1) <= 4 * U * fmax(fabs(t1), fabs(odg_grid_t(g, g->N - 1))),
          "%s: t[N] = %.17g, t1 = %.17g", what, tN, t1);
}

static void test_adaptive(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    problem pbs[2] = {prob_lin(), prob_cos()};
    for (int is = 0; is < ODG_NSCHEMES; is++) {
        const odg_tableau *tab = odg_scheme_tableau((odg_scheme)is);
        if (!odg_tableau_adaptive(tab)) {
            continue;
        }
        /* (problem, direction): LIN forwards carries the error bound; LIN backwards and COS
         * forwards check the grid, the replay and the counts. */
        for (int c = 0; c < 3; c++) {
            const problem *pb = &pbs[c == 2];
            int back = c == 1;
            size_t n = pb->sys.n;
            double from = back ? pb->t1 : pb->t0, to = back ? pb->t0 : pb->t1;
            double za[LN], y[LN];
            pb->exact(pb->t0, pb->y0, from, za);
            pb->exact(from, za, to, y);
            odg_erk *e = erk_new(tab, n, 0, &mem);
            long prev_steps = 0;
            char line[512];
            int len = snprintf(line, sizeof line, "adaptive %-6s %s %s: err/rtol (steps)",
                               tab->name, pb->name, back ? "bwd" : "fwd");
            for (int k = 3; k <= 9; k++) {
                double rtol = pow(10.0, -k);
                odg_adapt_opts o;
                odg_adapt_defaults(&o, rtol, rtol * 1e-2);
                double z[LN];
                memcpy(z, za, n * sizeof(double));
                odg_grid g;
                odg_grid_init(&g, &mem, 8);
                odg_erk_counts_reset(e);
                char what[96];
                snprintf(what, sizeof what, "%s %s %s rtol 1e-%d", tab->name, pb->name,
                         back ? "bwd" : "fwd", k);
                accept_rec ar = {tab, n, o.rtol, o.atol, 0.0, 0};
                odg_erk_hook hk = {&ar, accept_hook, NULL};
                odg_status st = odg_erk_run_adaptive(e, &pb->sys, from, to, &o, z, &hk, &g);
                CHECK(ar.bad == 0, "%s: %ld accepted steps with error norm > 1 (max %.3f)", what,
                      ar.bad, ar.en_max);
                CHECK(st == ODG_OK && all_finite(z, n), "%s: status %s", what, odg_status_str(st));
                odg_erk_counts cnt = odg_erk_counts_get(e);
                double err = err2(z, y, n);
                if (c == 0) {
                    double bound = ADAPT_FACTOR * rtol * norm2(za, n);
                    CHECK(err <= bound, "%s: error %.3e > %.3e", what, err, bound);
                }
                len +=
                    snprintf(line + len, sizeof line - (size_t)len, " %.2f(%ld)", err / rtol, g.N);
                CHECK(g.N > prev_steps, "%s: %ld steps, %ld at 10 x the tolerance", what, g.N,
                      prev_steps);
                prev_steps = g.N;
                check_grid(&g, from, to, what);
                CHECK(cnt.naccept == g.N, "%s: naccept %ld, grid N %ld", what, cnt.naccept, g.N);
                /* f at t0, one more for the initial-step heuristic (HNW II.4), then s - 1 per
                 * attempt, rejected ones included, since k1 is known before every attempt; a
                 * scheme without FSAL evaluates k1 afresh after each accepted step but the last. */
                long attempts = cnt.naccept + cnt.nreject;
                long fresh = odg_tableau_fsal(tab) ? 0 : cnt.naccept - 1;
                CHECK(cnt.nfe == 2 + (tab->s - 1) * attempts + fresh, "%s: nfe %ld, %ld attempts",
                      what, cnt.nfe, attempts);
                /* Replaying the grid repeats the solve bit for bit. */
                double zr[LN];
                memcpy(zr, za, n * sizeof(double));
                st = odg_erk_run_grid(e, &pb->sys, &g, zr, NULL);
                CHECK(st == ODG_OK && memcmp(zr, z, n * sizeof(double)) == 0,
                      "%s: replay differs in %zu of %zu entries", what, check_bit_diff(zr, z, n),
                      n);
                odg_grid_free(&g);
            }
            if (c == 0) {
                printf("%s\n", line);
            }
            odg_erk_destroy(&e);
        }
    }
    CHECK(mem.nlive == 0, "adaptive: %ld blocks live", mem.nlive);
}

/* ---- 4: FSAL -------------------------------------------------------------------------------- */

/* Integrates with odg_erk_step one step at a time, every stage evaluated afresh (k1 = NULL). */
static odg_status fresh_steps(odg_erk *e, const odg_system *sys, const odg_grid *g, double *z)
{
    double zn[LN];
    for (long k = 0; k < g->N; k++) {
        odg_status st =
            odg_erk_step(e, sys, odg_grid_t(g, k), odg_grid_h(g, k), z, zn, NULL, NULL, NULL);
        if (st) {
            return st;
        }
        memcpy(z, zn, sys->n * sizeof(double));
    }
    return ODG_OK;
}

static void test_fsal(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    problem pbs[2] = {prob_lin(), prob_cos()};
    for (int s = 0; s < ODG_NSCHEMES; s++) {
        const odg_tableau *tab = odg_scheme_tableau((odg_scheme)s);
        int fsal = odg_tableau_fsal(tab);
        /* Without an error estimate a step evaluates only the stages that y_next reads, or that
         * a stage it reads reads; FSAL schemes keep their last stage (the next k_1). */
        long ev = 0;
        int reads[ODG_MAX_STAGES] = {0};
        for (int i = tab->s - 1; i >= 0; i--) {
            reads[i] = tab->b[i] != 0.0 || (fsal && i == tab->s - 1);
            for (int j = i + 1; j < tab->s; j++) {
                reads[i] |= reads[j] && tab->a[j][i] != 0.0;
            }
            ev += reads[i];
        }
        for (int ip = 0; ip < 2; ip++) {
            const problem *pb = &pbs[ip];
            size_t n = pb->sys.n;
            odg_erk *e = erk_new(tab, n, 0, &mem);
            /* [0, 1] in 16 steps: h = 1/16 and every t[n] are exact binary fractions, so
             * t[n] + h == t[n+1] holds at every step and FSAL applies to all but the first.
             * [0, 1] in 10 steps: t[n] = n * 0.1 and t[n-1] + 0.1 differ in the last bit at
             * some n; there the engine evaluates k1 afresh (solvers.h, odg_erk_run_grid). */
            long Ns[2] = {16, 10};
            for (int ig = 0; ig < 2; ig++) {
                odg_grid g;
                odg_grid_uniform(&g, &mem, 0.0, 1.0, Ns[ig]);
                long N = g.N, reuse = 0;
                for (long k = 1; k < N; k++) {
                    reuse += fsal && odg_grid_t(&g, k - 1) + odg_grid_h(&g, k - 1) == odg_grid_t(&g, k);
                }
                double z[LN], zf[LN];
                memcpy(z, pb->y0, n * sizeof(double));
                memcpy(zf, pb->y0, n * sizeof(double));
                odg_erk_counts_reset(e);
                odg_status st = odg_erk_run_grid(e, &pb->sys, &g, z, NULL);
                odg_erk_counts cnt = odg_erk_counts_get(e);
                CHECK(st == ODG_OK, "fsal %s %s: status %s", tab->name, pb->name,
                      odg_status_str(st));
                CHECK(cnt.nfe == ev * N - reuse, "%s %s N=%ld: nfe %ld, expected %ld",
                      tab->name, pb->name, N, cnt.nfe, ev * N - reuse);
                if (ig == 0) {
                    long expect = fsal ? 1 + (tab->s - 1) * N : ev * N;
                    CHECK(cnt.nfe == expect, "%s %s uniform dyadic grid: nfe %ld, expected %ld",
                          tab->name, pb->name, cnt.nfe, expect);
                }
                CHECK(cnt.naccept == N, "%s: naccept %ld of %ld", tab->name, cnt.naccept, N);
                odg_erk_counts_reset(e);
                st = fresh_steps(e, &pb->sys, &g, zf);
                CHECK(st == ODG_OK && odg_erk_counts_get(e).nfe == ev * N,
                      "%s %s fresh steps: status %s nfe %ld", tab->name, pb->name,
                      odg_status_str(st), odg_erk_counts_get(e).nfe);
                CHECK(memcmp(z, zf, n * sizeof(double)) == 0,
                      "%s %s N=%ld: FSAL and fresh stages differ in %zu entries", tab->name,
                      pb->name, N, check_bit_diff(z, zf, n));
                odg_grid_free(&g);
            }
            odg_erk_destroy(&e);
        }
    }
    /* The schemes the FSAL check above expects to be FSAL. */
    CHECK(odg_tableau_fsal(odg_scheme_tableau(ODG_SCHEME_DOPRI5)) &&
              odg_tableau_fsal(odg_scheme_tableau(ODG_SCHEME_BOSH3)) &&
              odg_tableau_fsal(odg_scheme_tableau(ODG_SCHEME_TSIT5)) &&
              !odg_tableau_fsal(odg_scheme_tableau(ODG_SCHEME_RK4)),
          "FSAL schemes");
}

/* ---- 5: the hook ---------------------------------------------------------------------------- */

typedef struct hook_rec {
    const odg_system *sys;
    const odg_grid *grid; /* the grid the steps must follow; NULL: record them instead */
    double t[256], h[256];
    double zprev[LN]; /* znext of the previous step */
    long calls, stop_at;
    int stop_status;
    long bad_n, bad_th, bad_z0, bad_chain, bad_k1;
} hook_rec;

static int hook_fn(void *ctx, const odg_step_info *st)
{
    hook_rec *r = ctx;
    size_t n = r->sys->n;
    double f0[LN];
    r->bad_n += st->n != r->calls;
    if (r->grid) {
        r->bad_th +=
            st->n >= r->grid->N || st->t != odg_grid_t(r->grid, st->n) ||
            st->h != odg_grid_h(r->grid, st->n);
    } else if (r->calls < 256) {
        r->t[r->calls] = st->t;
        r->h[r->calls] = st->h;
    }
    r->bad_z0 += memcmp(st->Zst, st->z, n * sizeof(double)) != 0;
    r->bad_chain += r->calls > 0 && memcmp(r->zprev, st->z, n * sizeof(double)) != 0;
    /* K row 0 is f(t, z), evaluated or reused (FSAL reuses f at the same bits). */
    r->sys->f(r->sys->ctx, st->t, st->z, f0);
    r->bad_k1 += memcmp(f0, st->K, n * sizeof(double)) != 0;
    memcpy(r->zprev, st->znext, n * sizeof(double));
    r->calls++;
    return r->calls - 1 == r->stop_at ? r->stop_status : 0;
}

static void hook_report(const hook_rec *r, const char *what)
{
    CHECK(r->bad_n == 0, "%s: %ld steps out of order", what, r->bad_n);
    CHECK(r->bad_th == 0, "%s: %ld steps with t or h off the grid", what, r->bad_th);
    CHECK(r->bad_z0 == 0, "%s: %ld steps with Zst row 0 != z", what, r->bad_z0);
    CHECK(r->bad_chain == 0, "%s: %ld steps whose z is not the previous znext", what, r->bad_chain);
    CHECK(r->bad_k1 == 0, "%s: %ld steps whose K row 0 is not f(t, z)", what, r->bad_k1);
}

static void test_hook(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    problem pb = prob_lin();
    odg_scheme schemes[3] = {ODG_SCHEME_RK4, ODG_SCHEME_DOPRI5, ODG_SCHEME_TSIT5};
    for (int is = 0; is < 3; is++) {
        const odg_tableau *tab = odg_scheme_tableau(schemes[is]);
        odg_erk *e = erk_new(tab, LN, 0, &mem);
        odg_grid g;
        odg_grid_uniform(&g, &mem, 0.0, 2.0, 32);
        hook_rec r = {.sys = &pb.sys, .grid = &g, .stop_at = -1};
        odg_erk_hook hk = {&r, hook_fn, NULL};
        double z[LN];
        memcpy(z, pb.y0, sizeof z);
        odg_status st = odg_erk_run_grid(e, &pb.sys, &g, z, &hk);
        char what[64];
        snprintf(what, sizeof what, "hook %s grid", tab->name);
        CHECK(st == ODG_OK && r.calls == g.N, "%s: status %s, %ld calls of %ld", what,
              odg_status_str(st), r.calls, g.N);
        hook_report(&r, what);
        CHECK(memcmp(r.zprev, z, sizeof z) == 0, "%s: final z is not the last znext", what);

        /* A non-zero return stops the solve with that status, after that step. */
        hook_rec r2 = {.sys = &pb.sys, .grid = &g, .stop_at = 5, .stop_status = ODG_ETIMEOUT};
        hk.ctx = &r2;
        memcpy(z, pb.y0, sizeof z);
        st = odg_erk_run_grid(e, &pb.sys, &g, z, &hk);
        CHECK(st == ODG_ETIMEOUT && r2.calls == 6, "%s stop: status %s after %ld calls", what,
              odg_status_str(st), r2.calls);
        odg_grid_free(&g);

        if (odg_tableau_adaptive(tab)) {
            hook_rec r3 = {.sys = &pb.sys, .grid = NULL, .stop_at = -1};
            hk.ctx = &r3;
            odg_adapt_opts o;
            odg_adapt_defaults(&o, 1e-6, 1e-8);
            odg_grid ga;
            odg_grid_init(&ga, &mem, 4);
            memcpy(z, pb.y0, sizeof z);
            odg_erk_counts_reset(e);
            st = odg_erk_run_adaptive(e, &pb.sys, 0.0, 5.0, &o, z, &hk, &ga);
            snprintf(what, sizeof what, "hook %s adaptive", tab->name);
            CHECK(st == ODG_OK && r3.calls == ga.N && r3.calls <= 256 &&
                      r3.calls == odg_erk_counts_get(e).naccept,
                  "%s: status %s, %ld calls, grid N %ld", what, odg_status_str(st), r3.calls, ga.N);
            long off = 0;
            for (long k = 0; k < ga.N && k < 256; k++) {
                off += r3.t[k] != ga.t[k] || r3.h[k] != ga.h[k];
            }
            CHECK(off == 0, "%s: %ld accepted steps differ from the grid", what, off);
            hook_report(&r3, what);
            CHECK(memcmp(r3.zprev, z, sizeof z) == 0, "%s: final z is not the last znext", what);
            hook_rec r4 = {.sys = &pb.sys, .stop_at = 2, .stop_status = ODG_EIO};
            hk.ctx = &r4;
            memcpy(z, pb.y0, sizeof z);
            st = odg_erk_run_adaptive(e, &pb.sys, 0.0, 5.0, &o, z, &hk, NULL);
            CHECK(st == ODG_EIO && r4.calls == 3, "%s stop: status %s after %ld calls", what,
                  odg_status_str(st), r4.calls);
            odg_grid_free(&ga);
        }
        odg_erk_destroy(&e);
    }
}

/* ---- 6: divergence, error codes, step limits ------------------------------------------------ */

/* y' = y^2, y(0) = 1: y = 1 / (1 - t) blows up at t = 1. */
static int sq_f(void *ctx, double t, const double *y, double *dy)
{
    dy[0] = y[0] * y[0];
    return 0;
}

/* y' = -y until t = 0.5, then NaN (or the status in *ctx, if non-zero). */
static int nan_f(void *ctx, double t, const double *y, double *dy)
{
    int code = ctx ? *(const int *)ctx : 0;
    if (t > 0.5) {
        if (code) {
            return code;
        }
        dy[0] = NAN;
        return 0;
    }
    dy[0] = -y[0];
    return 0;
}

static void test_divergence(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    odg_system sq = {1, 0, NULL, sq_f, NULL, 0, NULL, NULL};
    odg_system nan_sys = {1, 0, NULL, nan_f, NULL, 0, NULL, NULL};
    int eio = ODG_EIO;
    odg_system err_sys = {1, 0, &eio, nan_f, NULL, 0, NULL, NULL};
    for (int s = 0; s < ODG_NSCHEMES; s++) {
        const odg_tableau *tab = odg_scheme_tableau((odg_scheme)s);
        odg_erk *e = erk_new(tab, 1, 0, &mem);
        odg_grid g;
        /* h = 0.01 past t = 1: once h y >> 1 every step at least squares y, so y overflows
         * long before t = 3. */
        odg_grid_uniform(&g, &mem, 0.0, 3.0, 300);
        double z = 1.0;
        odg_status st = odg_erk_run_grid(e, &sq, &g, &z, NULL);
        CHECK(st == ODG_DIVERGED, "%s y' = y^2: status %s, z = %g", tab->name, odg_status_str(st),
              z);
        odg_grid_free(&g);

        odg_grid_uniform(&g, &mem, 0.0, 1.0, 16);
        z = 1.0;
        st = odg_erk_run_grid(e, &nan_sys, &g, &z, NULL);
        CHECK(st == ODG_DIVERGED, "%s NaN right-hand side: status %s", tab->name,
              odg_status_str(st));
        z = 1.0;
        st = odg_erk_run_grid(e, &err_sys, &g, &z, NULL);
        CHECK(st == ODG_EIO, "%s right-hand side error: status %s", tab->name, odg_status_str(st));
        odg_grid_free(&g);

        if (odg_tableau_adaptive(tab)) {
            odg_adapt_opts o;
            odg_adapt_defaults(&o, 1e-6, 1e-8);
            z = 1.0;
            st = odg_erk_run_adaptive(e, &sq, 0.0, 2.0, &o, &z, NULL, NULL);
            CHECK(st == ODG_DIVERGED || st == ODG_ESTEPS, "%s adaptive y' = y^2: status %s",
                  tab->name, odg_status_str(st));
            CHECK(st != ODG_OK || all_finite(&z, 1), "%s adaptive y' = y^2: NaN as success",
                  tab->name);
            z = 1.0;
            st = odg_erk_run_adaptive(e, &nan_sys, 0.0, 1.0, &o, &z, NULL, NULL);
            CHECK(st == ODG_DIVERGED || st == ODG_ESTEPS, "%s adaptive NaN: status %s", tab->name,
                  odg_status_str(st));

            /* max_steps counts attempts: a solve that needs A attempts succeeds with
             * max_steps = A and stops with ODG_ESTEPS after exactly A - 1 with one less. */
            problem pb = prob_cos();
            odg_erk *e1 = erk_new(tab, 1, 0, &mem);
            odg_adapt_defaults(&o, 1e-8, 1e-10);
            z = pb.y0[0];
            st = odg_erk_run_adaptive(e1, &pb.sys, pb.t0, pb.t1, &o, &z, NULL, NULL);
            odg_erk_counts cnt = odg_erk_counts_get(e1);
            long A = cnt.naccept + cnt.nreject;
            CHECK(st == ODG_OK && A > 10, "%s: status %s, %ld attempts", tab->name,
                  odg_status_str(st), A);
            o.max_steps = A;
            z = pb.y0[0];
            st = odg_erk_run_adaptive(e1, &pb.sys, pb.t0, pb.t1, &o, &z, NULL, NULL);
            CHECK(st == ODG_OK, "%s max_steps = %ld attempts: status %s", tab->name, A,
                  odg_status_str(st));
            o.max_steps = A - 1;
            z = pb.y0[0];
            odg_erk_counts_reset(e1);
            st = odg_erk_run_adaptive(e1, &pb.sys, pb.t0, pb.t1, &o, &z, NULL, NULL);
            cnt = odg_erk_counts_get(e1);
            CHECK(st == ODG_ESTEPS && cnt.naccept + cnt.nreject == A - 1,
                  "%s max_steps = %ld: status %s after %ld attempts", tab->name, A - 1,
                  odg_status_str(st), cnt.naccept + cnt.nreject);
            o.max_steps = 10;
            st = odg_erk_run_adaptive(e1, &pb.sys, pb.t0, pb.t1, &o, &z, NULL, NULL);
            CHECK(st == ODG_ESTEPS, "%s max_steps = 10: status %s", tab->name, odg_status_str(st));
            odg_erk_destroy(&e1);
        } else {
            odg_adapt_opts o;
            odg_adapt_defaults(&o, 1e-6, 1e-8);
            z = 1.0;
            st = odg_erk_run_adaptive(e, &sq, 0.0, 0.5, &o, &z, NULL, NULL);
            CHECK(st == ODG_EINVAL, "%s has no embedded pair: adaptive gives %s", tab->name,
                  odg_status_str(st));
        }
        odg_erk_destroy(&e);
    }
}

/* Arguments the entry points must refuse before touching anything.  A system whose length is
 * not the engine's would make f write sys.n values into the engine's n-long buffers, so the
 * size check has to come before the first f evaluation.  counting_f writes nothing, so that
 * the test itself stays memory-safe whatever the engine does. */
static int counting_f(void *ctx, double t, const double *y, double *dy)
{
    (*(long *)ctx)++;
    return 0;
}

static void test_arguments(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    for (int s = 0; s < ODG_NSCHEMES; s++) {
        const odg_tableau *tab = odg_scheme_tableau((odg_scheme)s);
        odg_erk *e = erk_new(tab, 1, 0, &mem);
        long calls = 0;
        odg_system wrong = {LN, 0, &calls, counting_f, NULL, 0, NULL, NULL};
        double z[LN] = {1, 1, 1, 1}, zn[LN];
        odg_status st = odg_erk_step(e, &wrong, 0.0, 0.1, z, zn, NULL, NULL, NULL);
        CHECK(st == ODG_EINVAL && calls == 0, "%s step, sys.n %d != 1: %s after %ld f calls",
              tab->name, LN, odg_status_str(st), calls);
        odg_grid g;
        odg_grid_uniform(&g, &mem, 0.0, 1.0, 4);
        calls = 0;
        st = odg_erk_run_grid(e, &wrong, &g, z, NULL);
        CHECK(st == ODG_EINVAL && calls == 0, "%s run_grid, sys.n %d != 1: %s after %ld f calls",
              tab->name, LN, odg_status_str(st), calls);
        odg_grid_free(&g);
        if (odg_tableau_adaptive(tab)) {
            odg_adapt_opts o;
            odg_adapt_defaults(&o, 1e-6, 1e-8);
            calls = 0;
            st = odg_erk_run_adaptive(e, &wrong, 0.0, 1.0, &o, z, NULL, NULL);
            CHECK(st == ODG_EINVAL && calls == 0,
                  "%s run_adaptive, sys.n %d != 1: %s after %ld f calls (a real f writes "
                  "sys.n values into the engine's 1-long buffers)",
                  tab->name, LN, odg_status_str(st), calls);
        }
        odg_system one = {1, 0, &calls, counting_f, NULL, 0, NULL, NULL};
        st = odg_erk_step(e, &one, 0.0, 0.1, z, z, NULL, NULL, NULL);
        CHECK(st == ODG_EINVAL, "%s step with znext == z: %s", tab->name, odg_status_str(st));
        double err[1];
        if (!odg_tableau_adaptive(tab)) {
            st = odg_erk_step(e, &one, 0.0, 0.1, z, zn, NULL, err, NULL);
            CHECK(st == ODG_EUNSUP, "%s has no error estimate: %s", tab->name, odg_status_str(st));
        }
        odg_erk_destroy(&e);
    }
}

/* ---- 7: the discrete adjoint step ------------------------------------------------------------ */

/* L(y0, p) = sum_i w_i y_N,i of N = 16 steps of LIN with s(t) = 1 + sin(t)/2 and parameters p.
 *
 * Tolerance.  Every step is affine in (y, p), so L is affine in (y0, p) and the central
 * difference (L(x + eps e_i) - L(x - eps e_i)) / (2 eps) has no truncation error for any eps;
 * only rounding remains.  Each of the N steps rounds each component about s + 2 times at the
 * size of |y| <= 2, so |fl(L) - L| <= N (s + 2) u |w|_1 max|y| ~ 16 * 9 * 1.1e-16 * 3.1 * 2 =
 * 1e-13, and the difference quotient with eps = 0.1 is off by at most 1e-12, against gradients
 * of norm ~1.  The adjoint sweep rounds as often.  Relative agreement to 1e-8 therefore leaves a
 * margin of 1e4 and still fails for any wrong stage weight, skipped stage or stage time, which
 * change the gradient by O(h) ~ 0.06. */
#define ADJ_N 16
#define ADJ_EPS 0.1
#define ADJ_TOL 1e-8

static const double adj_w[LN] = {0.7, -1.1, 0.4, 0.9};

static double adj_loss(odg_erk *e, lin_ctx *c, const double *y0)
{
    odg_system sys = {LN, LN, c, lin_f, lin_vjp, 0, NULL, NULL};
    double z[LN], zn[LN];
    memcpy(z, y0, sizeof z);
    double h = 1.0 / ADJ_N;
    for (int k = 0; k < ADJ_N; k++) {
        if (odg_erk_step(e, &sys, k * h, h, z, zn, NULL, NULL, NULL) != ODG_OK) {
            return NAN;
        }
        memcpy(z, zn, sizeof z);
    }
    double L = 0.0;
    for (int i = 0; i < LN; i++) {
        L += adj_w[i] * z[i];
    }
    return L;
}

static void test_adjoint(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    const double y0[LN] = {1.0, 0.5, -0.3, 0.8}, p0[LN] = {0.3, -0.2, 0.1, 0.4};
    for (int s = 0; s < ODG_NSCHEMES; s++) {
        const odg_tableau *tab = odg_scheme_tableau((odg_scheme)s);
        size_t S = (size_t)tab->s;
        odg_erk *e = erk_new(tab, LN, LN, &mem);
        lin_ctx c;
        lin_init(&c);
        c.tdep = 1;
        memcpy(c.p, p0, sizeof c.p);
        odg_system sys = {LN, LN, &c, lin_f, lin_vjp, 0, NULL, NULL};
        double h = 1.0 / ADJ_N;
        /* Forward, keeping the stage inputs of every step: Zs is (N, s, n). */
        double *Zs = malloc(ADJ_N * S * LN * sizeof(double));
        double z[LN], zn[LN];
        memcpy(z, y0, sizeof z);
        for (int k = 0; k < ADJ_N; k++) {
            odg_erk_step(e, &sys, k * h, h, z, zn, Zs + (size_t)k * S * LN, NULL, NULL);
            memcpy(z, zn, sizeof z);
        }
        /* Backward: lam = dL/dy_N = w, then one adjoint step per step in reverse.  gp starts at
         * a sentinel: the engine must add into it, never overwrite it. */
        double lam[LN], gp[LN], sentinel = 10.0;
        memcpy(lam, adj_w, sizeof lam);
        for (int i = 0; i < LN; i++) {
            gp[i] = sentinel;
        }
        c.gp_expect = gp;
        odg_erk_counts_reset(e);
        odg_status st = ODG_OK;
        for (int k = ADJ_N - 1; k >= 0 && st == ODG_OK; k--) {
            st = odg_erk_adjoint_step(e, &sys, k * h, h, Zs + (size_t)k * S * LN, lam, gp);
        }
        c.gp_expect = NULL;
        CHECK(st == ODG_OK, "%s adjoint: status %s", tab->name, odg_status_str(st));
        CHECK(!c.gp_wrong, "%s adjoint: vjp handed a gp other than the caller's", tab->name);
        /* Stages that no weight and no needed later stage reads are skipped: the last stage of
         * the FSAL schemes (b_s = 0) and the error-only last stage of vern7, vern8, vern9. */
        long need = 0;
        int needed[ODG_MAX_STAGES] = {0};
        for (int i = tab->s - 1; i >= 0; i--) {
            needed[i] = tab->b[i] != 0.0;
            for (int j = i + 1; j < tab->s; j++) {
                needed[i] |= needed[j] && tab->a[j][i] != 0.0;
            }
            need += needed[i];
        }
        CHECK(odg_erk_counts_get(e).nvjp == need * ADJ_N, "%s adjoint: nvjp %ld, expected %ld",
              tab->name, odg_erk_counts_get(e).nvjp, need * ADJ_N);
        double g_adj[2 * LN], g_fd[2 * LN];
        for (int i = 0; i < LN; i++) {
            g_adj[i] = lam[i];
            g_adj[LN + i] = gp[i] - sentinel;
        }
        /* Central differences of the discrete map, in y0 and in p. */
        for (int i = 0; i < 2 * LN; i++) {
            double yp[LN], ym[LN];
            memcpy(yp, y0, sizeof yp);
            memcpy(ym, y0, sizeof ym);
            lin_ctx cp = c, cm = c;
            if (i < LN) {
                yp[i] += ADJ_EPS;
                ym[i] -= ADJ_EPS;
            } else {
                cp.p[i - LN] += ADJ_EPS;
                cm.p[i - LN] -= ADJ_EPS;
            }
            g_fd[i] = (adj_loss(e, &cp, yp) - adj_loss(e, &cm, ym)) / (2 * ADJ_EPS);
        }
        double rel = check_rel_diff(g_adj, g_fd, 2 * LN);
        CHECK(rel <= ADJ_TOL, "%s adjoint vs central differences: relative difference %.2e",
              tab->name, rel);
        printf("adjoint %-8s relative difference to central differences %.1e\n", tab->name, rel);
        free(Zs);
        odg_erk_destroy(&e);
    }
    /* The engine's own stage buffer may serve as Zst for a recomputed step (solvers.h). */
    const odg_tableau *tab = odg_scheme_tableau(ODG_SCHEME_DOPRI5);
    odg_erk *e = erk_new(tab, LN, LN, &mem);
    lin_ctx c;
    lin_init(&c);
    c.tdep = 1;
    memcpy(c.p, p0, sizeof c.p);
    odg_system sys = {LN, LN, &c, lin_f, lin_vjp, 0, NULL, NULL};
    double Zown[7 * LN], zn[LN], lam1[LN], lam2[LN], gp1[LN] = {0}, gp2[LN] = {0};
    memcpy(lam1, adj_w, sizeof lam1);
    memcpy(lam2, adj_w, sizeof lam2);
    odg_erk_step(e, &sys, 0.25, 0.125, y0, zn, Zown, NULL, NULL);
    odg_erk_adjoint_step(e, &sys, 0.25, 0.125, Zown, lam1, gp1);
    double *Zeng = odg_erk_stages(e);
    odg_erk_step(e, &sys, 0.25, 0.125, y0, zn, Zeng, NULL, NULL);
    odg_erk_adjoint_step(e, &sys, 0.25, 0.125, Zeng, lam2, gp2);
    CHECK(memcmp(lam1, lam2, sizeof lam1) == 0 && memcmp(gp1, gp2, sizeof gp1) == 0,
          "adjoint step on odg_erk_stages differs from one on the caller's stages");
    odg_erk_destroy(&e);
}

/* ---- 8: dopri5's dense output --------------------------------------------------------------- */

/* theta = 1 against znext.  b_i(1) = sum_q dense[i][q] is b_i exactly for the paper's
 * rationals; evaluated by Horner from rounded coefficients it is off by at most
 * (2 deg + 1) u S_i with S_i = sum_q |dense[i][q]| (>= |b_i|).  The two combinations
 * z + h sum_i w_i K_i round each of their s-term sums by at most s u h sum_i S_i |K_i| and the
 * final multiply and add by 2 u |result|.  So, first order in u,
 *   |y(1) - znext| <= (2 deg + 1 + 2 s) u h sum_i S_i |K_i| + 4 u |znext|,
 * "a few ulps" made precise; (2 deg + 1 + 2 s) = 23 is rounded up to 32. */
static void check_dense_ends(const odg_tableau *tab, const problem *pb, double t, double h,
                             odg_mem *mem)
{
    size_t n = pb->sys.n;
    odg_erk *e = erk_new(tab, n, 0, mem);
    double z[LN], zn[LN], y[LN];
    pb->exact(pb->t0, pb->y0, t, z);
    odg_erk_step(e, &pb->sys, t, h, z, zn, NULL, NULL, NULL);
    const double *K = odg_erk_K(e);
    odg_erk_dense(tab, n, 0.0, h, z, K, y);
    CHECK(memcmp(y, z, n * sizeof(double)) == 0, "dense %s: theta = 0 differs from z", pb->name);
    odg_erk_dense(tab, n, 1.0, h, z, K, y);
    for (size_t i = 0; i < n; i++) {
        double sk = 0.0;
        for (int j = 0; j < tab->s; j++) {
            double S = 0.0;
            for (int q = 0; q < tab->dense_deg; q++) {
                S += fabs(tab->dense[j][q]);
            }
            sk += S * fabs(K[(size_t)j * n + i]);
        }
        double bound = 32 * U * fabs(h) * sk + 4 * U * fabs(zn[i]);
        CHECK(fabs(y[i] - zn[i]) <= bound, "dense %s: theta = 1, component %zu off by %.2e > %.2e",
              pb->name, i, fabs(y[i] - zn[i]), bound);
    }
    odg_erk_destroy(&e);
}

/* The local error at theta = 1/2: one step from the exact y(t*) on COS, against y(t* + h/2).
 * The continuous extension has order 4, so its local error is O(h^5) and log2 of the ratio of
 * the errors at h and h/2 is 5 + O(h); the same +-0.15 as the order checks (the brief asks only
 * >= 4 - 0.15, which this implies).  t* = 1, h = 1/32 and 1/64: the errors are 1.3e-9 and
 * 3.9e-11, far above the ~u |y| = 1.4e-15 round-off of a single step. */
static void test_dense(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    const odg_tableau *tab = odg_scheme_tableau(ODG_SCHEME_DOPRI5);
    CHECK(tab->dense_deg == 4 && tab->dense_order == 4, "dopri5 dense output of degree 4");
    problem pl = prob_lin(), pc = prob_cos();
    check_dense_ends(tab, &pl, 0.3, 0.25, &mem);
    check_dense_ends(tab, &pc, 1.0, 0.5, &mem);
    check_dense_ends(tab, &pc, 3.0, -0.5, &mem);

    odg_erk *e = erk_new(tab, 1, 0, &mem);
    double ts = 1.0, err[2];
    for (int k = 0; k < 2; k++) {
        double h = 1.0 / (32 << k), z[1], zn[1], y[1], ye[1];
        pc.exact(pc.t0, pc.y0, ts, z);
        odg_erk_step(e, &pc.sys, ts, h, z, zn, NULL, NULL, NULL);
        odg_erk_dense(tab, 1, 0.5, h, z, odg_erk_K(e), y);
        pc.exact(ts, z, ts + 0.5 * h, ye);
        err[k] = fabs(y[0] - ye[0]);
    }
    double r = log2(err[0] / err[1]);
    CHECK(fabs(r - 5.0) <= ORDER_TOL, "dense theta = 1/2: log2 error ratio %.3f (%.2e, %.2e)", r,
          err[0], err[1]);
    printf("dense dopri5 theta=0.5 local error order %.3f (errors %.1e, %.1e)\n", r, err[0],
           err[1]);
    odg_erk_destroy(&e);
}

/* ---- 9: workspace -------------------------------------------------------------------------- */

/* y_i' = -(1 + i/n) y_i. */
static int diag_f(void *ctx, double t, const double *y, double *dy)
{
    size_t n = *(const size_t *)ctx;
    for (size_t i = 0; i < n; i++) {
        dy[i] = -(1.0 + (double)i / (double)n) * y[i];
    }
    return 0;
}

static int diag_vjp(void *ctx, double t, const double *y, const double *g, double *ybar, double *gp)
{
    size_t n = *(const size_t *)ctx;
    for (size_t i = 0; i < n; i++) {
        ybar[i] = -(1.0 + (double)i / (double)n) * g[i];
    }
    return 0;
}

static void test_workspace(void)
{
    /* n = 5000 is two chunks of the engine's vector updates, the parallel path.  Solving there
     * is done for two schemes only: every parallel region costs a thread wake-up, which a
     * loaded machine makes slow, and the allocation pattern does not depend on the tableau. */
    size_t sizes[2] = {4, 5000};
    for (int s = 0; s < ODG_NSCHEMES; s++) {
        const odg_tableau *tab = odg_scheme_tableau((odg_scheme)s);
        for (int is = 0; is < 2; is++) {
            size_t n = sizes[is];
            odg_mem mem;
            odg_mem_init(&mem);
            /* every choice of parts allocates exactly what workspace_bytes says, all of it
             * under workspace, and refuses what it was not built for */
            for (unsigned parts = 0; parts < ODG_ERK_ALL; parts++) {
                odg_erk *ep = NULL;
                CHECK(odg_erk_create_parts(&ep, tab, n, 0, parts, &mem) == ODG_OK, "parts %u",
                      parts);
                size_t wp = odg_erk_workspace_bytes(tab, n, parts);
                CHECK(mem.cur_total == wp, "%s n=%zu parts %u: allocated %zu, workspace_bytes %zu",
                      tab->name, n, parts, mem.cur_total, wp);
                CHECK((odg_erk_stages(ep) != NULL) == ((parts & ODG_ERK_TAPE) != 0),
                      "%s parts %u: the tape", tab->name, parts);
                if (!(parts & ODG_ERK_ADJOINT)) {
                    size_t nn0 = n;
                    odg_system sys0 = {n, 0, &nn0, diag_f, diag_vjp, 0, NULL, NULL};
                    double *v = calloc(2 * n * (size_t)tab->s + n, sizeof(double));
                    CHECK(odg_erk_adjoint_step(ep, &sys0, 0.0, 0.1, v, v + n * (size_t)tab->s,
                                               NULL) == ODG_EINVAL,
                          "%s parts %u: an adjoint step without ODG_ERK_ADJOINT", tab->name, parts);
                    free(v);
                }
                odg_erk_destroy(&ep);
            }
            odg_erk *e = erk_new(tab, n, 0, &mem);
            size_t ws = odg_erk_workspace_bytes(tab, n, ODG_ERK_ALL);
            CHECK(mem.cur_total == ws, "%s n=%zu: allocated %zu, workspace_bytes %zu", tab->name,
                  n, mem.cur_total, ws);
            CHECK(mem.cur[ODG_TAG_WORKSPACE] == mem.cur_total, "%s: not all under workspace",
                  tab->name);
            CHECK(ws >= (3 * (size_t)tab->s + 4) * n * sizeof(double),
                  "%s n=%zu: workspace_bytes %zu below K, Zst, kbar and 4 vectors", tab->name, n,
                  ws);
            if (n > 4 && s != ODG_SCHEME_RK4 && s != ODG_SCHEME_DOPRI5) {
                odg_erk_destroy(&e);
                continue;
            }
            size_t nn = n;
            odg_system sys = {n, 0, &nn, diag_f, diag_vjp, 0, NULL, NULL};
            double *z = malloc(n * sizeof(double));
            double *lam = malloc(n * sizeof(double));
            for (size_t i = 0; i < n; i++) {
                z[i] = 1.0;
                lam[i] = 1.0;
            }
            odg_grid g, ga;
            odg_grid_uniform(&g, &mem, 0.0, 1.0, 8); /* allocates nothing */
            odg_grid_init(&ga, &mem, 1024);
            long nalloc = mem.nalloc;
            size_t cur = mem.cur_total;
            odg_status st = odg_erk_run_grid(e, &sys, &g, z, NULL);
            CHECK(st == ODG_OK, "%s n=%zu run_grid: %s", tab->name, n, odg_status_str(st));
            if (odg_tableau_adaptive(tab)) {
                odg_adapt_opts o;
                odg_adapt_defaults(&o, 1e-3, 1e-5); /* few steps: this is about allocation */
                st = odg_erk_run_adaptive(e, &sys, 1.0, 2.0, &o, z, NULL, NULL);
                CHECK(st == ODG_OK, "%s n=%zu adaptive: %s", tab->name, n, odg_status_str(st));
                st = odg_erk_run_adaptive(e, &sys, 2.0, 3.0, &o, z, NULL, &ga);
                CHECK(st == ODG_OK && ga.N < ga.cap, "%s n=%zu adaptive with grid: %s", tab->name,
                      n, odg_status_str(st));
            }
            double *Zst = odg_erk_stages(e);
            odg_erk_step(e, &sys, 0.0, 0.1, z, lam, Zst, NULL, NULL); /* lam: scratch znext */
            for (size_t i = 0; i < n; i++) {
                lam[i] = 1.0;
            }
            odg_erk_adjoint_step(e, &sys, 0.0, 0.1, Zst, lam, NULL);
            CHECK(mem.nalloc == nalloc && mem.cur_total == cur,
                  "%s n=%zu: stepping allocated (%ld allocations, %zu -> %zu bytes)", tab->name, n,
                  mem.nalloc - nalloc, cur, mem.cur_total);
            odg_grid_free(&g);
            odg_grid_free(&ga);
            odg_erk_destroy(&e);
            CHECK(e == NULL && mem.cur_total == 0 && mem.nlive == 0,
                  "%s n=%zu: after destroy %zu bytes in %ld blocks", tab->name, n, mem.cur_total,
                  mem.nlive);
            free(z);
            free(lam);
        }
        /* Fault injection: a failure at any of create's allocations leaves nothing behind. */
        odg_mem mem;
        odg_mem_init(&mem);
        odg_erk *e = erk_new(tab, 4, 0, &mem);
        long nallocs = mem.nalloc;
        odg_erk_destroy(&e);
        for (long k = 1; k <= nallocs; k++) {
            odg_mem_init(&mem);
            mem.fail_at = k;
            odg_status st = odg_erk_create(&e, tab, 4, 0, &mem);
            CHECK(st == ODG_ENOMEM && e == NULL && mem.nlive == 0 && mem.cur_total == 0,
                  "%s: allocation %ld of %ld failing gives %s, %ld blocks live", tab->name, k,
                  nallocs, odg_status_str(st), mem.nlive);
        }
    }
}

int main(void)
{
    test_orders();
    test_backwards_grid();
    test_adaptive();
    test_fsal();
    test_hook();
    test_divergence();
    test_arguments();
    test_adjoint();
    test_dense();
    test_workspace();
    return check_done("test_solvers");
}
