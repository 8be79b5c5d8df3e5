/* Every Butcher tableau against the theory (docs/theory.md section 2; Hairer, Norsett & Wanner,
 * Solving ODEs I, II.2): shape, c_i = sum_j a_ij, all rooted-tree order conditions of b up to
 * the stated order and the failure of at least one of the next order (so the stated order is the
 * exact order), the same for the embedded weights, FSAL and "adaptive" for exactly the schemes
 * that have them, dopri5's dense output, and the name lookup.
 *
 * Tolerances are running error bounds (Higham, Accuracy and Stability of Numerical Algorithms,
 * 3.3): each sum is evaluated together with a bound on its rounding error, first order in the
 * unit roundoff u = 2^-53, counting one rounding for each stored coefficient (every rational
 * a/b and every 20-digit tsit5 decimal is the correctly rounded double of the exact value; the
 * 28- to 40-digit decimals of dopri8 and the Verner pairs lie within 1e-27 of it, far inside
 * u), one per product and one per addition.  The exact values satisfy the conditions exactly, so a
 * residual above its bound means a wrong coefficient; the neglected O(u^2) terms are 1e-16
 * times smaller.  The bounds are "a few ulps of the sums of the terms" made precise: 3e-16 for
 * euler, 4e-14 for dopri5, 5e-13 for tsit5's order-5 trees, whose a_ij reach 13 and whose
 * actual residuals reach 1e-14 (so a flat 1e-14 would sit on the edge for tsit5).
 */
#include "check.h"
#include "odegrad/solvers.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define U (DBL_EPSILON / 2)

/* ---- rooted trees ------------------------------------------------------------------------- */

/* Order 10 is needed to show that vern9 is not of order 10: 1205 trees of order 1 to 10. */
#define MAX_ORDER 10
#define MAX_TREES 1280
#define MAX_KIDS (MAX_ORDER - 1)

/* A rooted tree is the multiset of its root's subtrees, stored as indices of smaller trees in
 * non-decreasing order, so that each tree is generated exactly once.  gamma is the density:
 * |t| times the densities of the subtrees. */
typedef struct tree {
    int order, nkids;
    int kid[MAX_KIDS];
    double gamma;
} tree;

static tree trees[MAX_TREES];
static int ntrees;
static int first_of_order[MAX_ORDER + 2]; /* trees of order n are [first[n], first[n+1]) */

static void add_tree(int n, const int *kid, int nkids)
{
    if (ntrees == MAX_TREES) {
        return; /* caught by the count check */
    }
    tree *t = &trees[ntrees++];
    t->order = n;
    t->nkids = nkids;
    t->gamma = n;
    for (int k = 0; k < nkids; k++) {
        t->kid[k] = kid[k];
        t->gamma *= trees[kid[k]].gamma;
    }
}

/* All multisets of trees of order < n, indices >= min_idx, whose orders add up to rem. */
static void grow(int n, int rem, int min_idx, int *kid, int nkids)
{
    if (rem == 0) {
        add_tree(n, kid, nkids);
        return;
    }
    for (int u = min_idx; u < first_of_order[n]; u++) {
        if (trees[u].order <= rem) {
            kid[nkids] = u;
            grow(n, rem - trees[u].order, u, kid, nkids + 1);
        }
    }
}

static void make_trees(void)
{
    int kid[MAX_KIDS];
    ntrees = 0;
    for (int n = 1; n <= MAX_ORDER; n++) {
        first_of_order[n] = ntrees;
        if (n == 1) {
            add_tree(1, kid, 0);
        } else {
            grow(n, n - 1, 0, kid, 0);
        }
    }
    first_of_order[MAX_ORDER + 1] = ntrees;
}

/* ---- elementary weights with running error bounds ----------------------------------------- */

/* Phi[t][i] is the elementary weight of tree t at stage i (the product over the subtrees u of
 * sum_j a_ij Phi[u][j]; 1 for the single node), Ephi[t][i] a bound on its rounding error.
 * The condition of tree t for weights w is sum_i w_i Phi[t][i] = theta^|t| / gamma(t)
 * (theta = 1 for b and bt; the dense output b_i(theta) scales as theta^|t|). */
static double Phi[MAX_TREES][ODG_MAX_STAGES], Ephi[MAX_TREES][ODG_MAX_STAGES];

static void elementary_weights(const odg_tableau *tab)
{
    int s = tab->s;
    for (int t = 0; t < ntrees; t++) {
        for (int i = 0; i < s; i++) {
            double p = 1.0, e = 0.0;
            for (int k = 0; k < trees[t].nkids; k++) {
                int u = trees[t].kid[k];
                double w = 0.0, ew = 0.0, mag = 0.0;
                for (int j = 0; j < i; j++) {
                    w += tab->a[i][j] * Phi[u][j];
                    ew += fabs(tab->a[i][j]) * Ephi[u][j];
                    mag += fabs(tab->a[i][j] * Phi[u][j]);
                }
                /* a_ij stored (1), the product (1), at most s - 2 additions: s roundings. */
                ew += s * U * mag;
                /* Product of two computed factors: their errors propagate, plus one rounding. */
                double q = p * w;
                e = fabs(w) * e + fabs(p) * ew + U * fabs(q);
                p = q;
            }
            Phi[t][i] = p;
            Ephi[t][i] = e;
        }
    }
}

/* Residual of tree t's condition for weights w (s) with error bounds ew (s); *bound receives
 * the rounding bound of the residual. */
static double condition(const odg_tableau *tab, int t, const double *w, const double *ew,
                        double theta, double *bound)
{
    int s = tab->s, n = trees[t].order;
    double sum = 0.0, e = 0.0, mag = 0.0;
    for (int i = 0; i < s; i++) {
        sum += w[i] * Phi[t][i];
        e += fabs(w[i]) * Ephi[t][i] + ew[i] * fabs(Phi[t][i]);
        mag += fabs(w[i] * Phi[t][i]);
    }
    e += s * U * mag; /* products and additions */
    /* theta^n / gamma: n - 1 products, one division (gamma is an exact integer). */
    double target = 1.0;
    for (int k = 0; k < n; k++) {
        target *= theta;
    }
    target /= trees[t].gamma;
    e += n * U * fabs(target);
    *bound = e;
    return sum - target;
}

/* Checks that weights w satisfy every condition of order <= p and, when expect_exact, fail at
 * least one of order p + 1 by far more than rounding (1e3 times its bound; the real violations
 * are 1e-4 or more, the bounds 5e-13 or less).  Prints the largest residual and bound. */
static void check_order(const odg_tableau *tab, const char *what, const double *w, const double *ew,
                        double theta, int p, int expect_exact)
{
    double worst = 0.0, worst_bound = 0.0;
    for (int t = first_of_order[1]; t < first_of_order[p + 1]; t++) {
        double bound, r = condition(tab, t, w, ew, theta, &bound);
        CHECK(fabs(r) <= bound, "%s %s theta=%g: tree %d (order %d, gamma %g) residual %.3g > %.3g",
              tab->name, what, theta, t, trees[t].order, trees[t].gamma, r, bound);
        worst = fmax(worst, fabs(r));
        worst_bound = fmax(worst_bound, bound);
    }
    if (expect_exact && p < MAX_ORDER) {
        int violated = 0;
        for (int t = first_of_order[p + 1]; t < first_of_order[p + 2]; t++) {
            double bound, r = condition(tab, t, w, ew, theta, &bound);
            violated |= fabs(r) > 1e3 * bound;
        }
        CHECK(violated, "%s %s theta=%g satisfies every order-%d condition: order %d is not exact",
              tab->name, what, theta, p + 1, p);
    }
    printf("%-8s %-5s theta=%-4g order %d: max residual %8.2g, max bound %8.2g\n", tab->name, what,
           theta, p, worst, worst_bound);
}

/* ---- per-scheme checks -------------------------------------------------------------------- */

/* What schemes.def promises, written independently of the tableaux. */
typedef struct expect {
    odg_scheme id;
    int s, order, emb_order, fsal, dense_order;
} expect;

static const expect expected[] = {
    {ODG_SCHEME_EULER, 1, 1, 0, 0, 0},  {ODG_SCHEME_MIDPOINT, 2, 2, 0, 0, 0},
    {ODG_SCHEME_HEUN, 2, 2, 0, 0, 0},   {ODG_SCHEME_RK4, 4, 4, 0, 0, 0},
    {ODG_SCHEME_RK38, 4, 4, 0, 0, 0},   {ODG_SCHEME_BOSH3, 4, 3, 2, 1, 0},
    {ODG_SCHEME_DOPRI5, 7, 5, 4, 1, 4}, {ODG_SCHEME_TSIT5, 7, 5, 4, 1, 0},
    {ODG_SCHEME_DOPRI8, 12, 8, 5, 0, 0}, {ODG_SCHEME_VERN6, 9, 6, 5, 1, 0},
    {ODG_SCHEME_VERN7, 10, 7, 6, 0, 0},  {ODG_SCHEME_VERN8, 13, 8, 7, 0, 0},
    {ODG_SCHEME_VERN9, 16, 9, 8, 0, 0},
};

static void check_shape(const odg_tableau *tab, const expect *x)
{
    int s = tab->s;
    CHECK(s == x->s && tab->order == x->order && tab->emb_order == x->emb_order,
          "%s: s %d order %d emb_order %d, expected %d %d %d", tab->name, s, tab->order,
          tab->emb_order, x->s, x->order, x->emb_order);
    /* Strictly lower triangular, and nothing stored past the s stages, past the dense degree,
     * or in bt when there are no embedded weights: the engine loops to s only, so anything
     * there would be data that no test sees. */
    int upper = 0, padding = 0;
    for (int i = 0; i < ODG_MAX_STAGES; i++) {
        for (int j = 0; j < ODG_MAX_STAGES; j++) {
            upper += j >= i && tab->a[i][j] != 0.0;
            padding += i >= s && tab->a[i][j] != 0.0;
            padding += (i >= s || j >= tab->dense_deg) && tab->dense[i][j] != 0.0;
        }
        padding += i >= s && (tab->b[i] != 0.0 || tab->bt[i] != 0.0 || tab->c[i] != 0.0);
        padding += tab->emb_order == 0 && tab->bt[i] != 0.0;
    }
    CHECK(upper == 0, "%s: %d entries of a on or above the diagonal", tab->name, upper);
    CHECK(padding == 0, "%s: %d nonzero entries past the stages or unused bt", tab->name, padding);
    /* c_i = sum_j a_ij.  The exact values agree exactly (tsit5's c2..c4 are exact decimals by
     * construction and its a_i1 are defined as c_i - sum_{j>1} a_ij; c5 is written to 20
     * digits, 1e-20 from the exact value), so only rounding remains: c_i and each a_ij stored
     * (u each), at most s - 2 additions. */
    for (int i = 0; i < s; i++) {
        double sum = 0.0, mag = fabs(tab->c[i]);
        for (int j = 0; j < i; j++) {
            sum += tab->a[i][j];
            mag += fabs(tab->a[i][j]);
        }
        CHECK(fabs(sum - tab->c[i]) <= s * U * mag, "%s: c[%d] = %.17g but row sum %.17g",
              tab->name, i, tab->c[i], sum);
    }
}

static void check_dense(const odg_tableau *tab, const expect *x)
{
    CHECK(tab->dense_order == x->dense_order && (tab->dense_deg > 0) == (x->dense_order > 0),
          "%s: dense_order %d dense_deg %d, expected order %d", tab->name, tab->dense_order,
          tab->dense_deg, x->dense_order);
    if (tab->dense_deg <= 0 || tab->dense_deg > ODG_MAX_STAGES) {
        return;
    }
    int s = tab->s, deg = tab->dense_deg;
    /* b_i(theta) by Horner, with its bound: each coefficient stored (u), one product and one
     * addition per degree. */
    static const double thetas[] = {0.0, 0.1, 0.37, 0.5, 0.9, 1.0};
    for (size_t k = 0; k < sizeof thetas / sizeof thetas[0]; k++) {
        double theta = thetas[k], w[ODG_MAX_STAGES], ew[ODG_MAX_STAGES];
        for (int i = 0; i < s; i++) {
            double v = 0.0, mag = 0.0;
            for (int q = deg; q >= 1; q--) {
                v = (v + tab->dense[i][q - 1]) * theta;
                mag = (mag + fabs(tab->dense[i][q - 1])) * theta;
            }
            w[i] = v;
            ew[i] = (2 * deg + 1) * U * mag;
        }
        if (theta == 0.0) {
            /* No constant term: the output starts at y exactly. */
            int nonzero = 0;
            for (int i = 0; i < s; i++) {
                nonzero += w[i] != 0.0;
            }
            CHECK(nonzero == 0, "%s: b_i(0) != 0 for %d stages", tab->name, nonzero);
        } else if (theta == 1.0) {
            /* The end of the step is y_next itself. */
            for (int i = 0; i < s; i++) {
                CHECK(fabs(w[i] - tab->b[i]) <= ew[i] + U * fabs(tab->b[i]),
                      "%s: b_%d(1) = %.17g but b_%d = %.17g", tab->name, i + 1, w[i], i + 1,
                      tab->b[i]);
            }
        } else {
            /* Its own order conditions, and the stated dense order is exact (at theta = 1 the
             * dense output is b, of order 5, so exactness is tested inside the step only). */
            check_order(tab, "dense", w, ew, theta, tab->dense_order, 1);
        }
    }
}

static void check_scheme(const expect *x)
{
    const odg_tableau *tab = odg_scheme_tableau(x->id);
    CHECK(tab != NULL, "no tableau for scheme %d", (int)x->id);
    if (!tab) {
        return;
    }
    CHECK(tab->name && strcmp(tab->name, odg_scheme_name(x->id)) == 0,
          "tableau name %s, schemes.def name %s", tab->name ? tab->name : "(null)",
          odg_scheme_name(x->id));
    CHECK(tab->s >= 1 && tab->s <= ODG_MAX_STAGES, "%s: s = %d", tab->name, tab->s);
    if (tab->s < 1 || tab->s > ODG_MAX_STAGES || tab->order < 1 || tab->order > MAX_ORDER - 1) {
        CHECK(0, "%s: s %d order %d out of the tested range", tab->name, tab->s, tab->order);
        return;
    }
    check_shape(tab, x);
    elementary_weights(tab);

    /* The stored weights are the correctly rounded doubles of the exact values. */
    double eb[ODG_MAX_STAGES], ebt[ODG_MAX_STAGES];
    for (int i = 0; i < tab->s; i++) {
        eb[i] = U * fabs(tab->b[i]);
        ebt[i] = U * fabs(tab->bt[i]);
    }
    check_order(tab, "b", tab->b, eb, 1.0, tab->order, 1);
    if (tab->emb_order > 0) {
        check_order(tab, "bt", tab->bt, ebt, 1.0, tab->emb_order, 1);
    }

    CHECK(odg_tableau_fsal(tab) == x->fsal, "%s: odg_tableau_fsal %d, expected %d", tab->name,
          odg_tableau_fsal(tab), x->fsal);
    CHECK(odg_tableau_adaptive(tab) == (x->emb_order > 0), "%s: odg_tableau_adaptive %d", tab->name,
          odg_tableau_adaptive(tab));
    check_dense(tab, x);
}

/* ---- names -------------------------------------------------------------------------------- */

static void check_names(void)
{
    for (int s = 0; s < ODG_NSCHEMES; s++) {
        const char *name = odg_scheme_name((odg_scheme)s);
        const char *desc = odg_scheme_desc((odg_scheme)s);
        odg_scheme back = ODG_NSCHEMES;
        CHECK(odg_scheme_from_name(name, &back) == ODG_OK && back == (odg_scheme)s,
              "name %s does not map back to scheme %d", name, s);
        CHECK(desc && desc[0] != '\0', "scheme %s has no description", name);
    }
    static const char *const bad[] = {"", "rk5", "RK4", "dopri", "euler ", "?"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        odg_scheme out = ODG_SCHEME_RK4;
        CHECK(odg_scheme_from_name(bad[k], &out) == ODG_EINVAL && out == ODG_SCHEME_RK4,
              "unknown name \"%s\" accepted or *out changed", bad[k]);
    }
    odg_scheme out;
    CHECK(odg_scheme_from_name(NULL, &out) == ODG_EINVAL, "NULL name accepted");
    CHECK(odg_scheme_from_name("rk4", NULL) == ODG_EINVAL, "NULL out accepted");
    CHECK(odg_scheme_tableau(ODG_NSCHEMES) == NULL && odg_scheme_tableau((odg_scheme)-1) == NULL,
          "tableau for an out-of-range scheme");
    CHECK(odg_tableau_fsal(NULL) == 0 && odg_tableau_adaptive(NULL) == 0, "NULL tableau");
}

int main(void)
{
    make_trees();
    /* 1, 2, 4, 8, 17, 37, 85, 200, 486, 1205 conditions up to orders 1..10 (HNW I, Table
     * II.2.1). */
    static const int cumulative[MAX_ORDER + 1] = {0, 1, 2, 4, 8, 17, 37, 85, 200, 486, 1205};
    for (int n = 1; n <= MAX_ORDER; n++) {
        CHECK(first_of_order[n + 1] == cumulative[n], "%d trees of order <= %d, expected %d",
              first_of_order[n + 1], n, cumulative[n]);
    }

    CHECK(sizeof expected / sizeof expected[0] == ODG_NSCHEMES, "expected[] misses schemes");
    for (size_t k = 0; k < sizeof expected / sizeof expected[0]; k++) {
        check_scheme(&expected[k]);
    }
    check_names();
    return check_done("test_tableau");
}
