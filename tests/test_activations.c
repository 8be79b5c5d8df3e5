/* Kept activations (odg_grad_opts.keep_activations; docs/theory.md, "Kept activations"): the
 * VJP that reads the hidden activations f wrote gives the recomputing VJP's bits, and so do the
 * whole gradients of the discrete methods that keep them, in every BLAS mode, at 1 and 2
 * threads, with and without time input, with a batch that is not a multiple of the chunk,
 * fixed and adaptive steps (FSAL and not); the memory model still equals the allocator with
 * them; the refusals (continuous adjoints, models without activations).
 *
 * Bit-identical is the claim, not a tolerance: the activations are the very numbers the VJP
 * would recompute (the same calls on the same rows), so any difference at all is a bug.
 */
#include "check.h"
#include "prob.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- the model ---------------------------------------------------------------------------- */

/* f_act against f, and vjp_act (with f_act's activations) against vjp, bit for bit. */
static void check_model(const odg_model_opts *mo, int threads, const char *label)
{
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *m = NULL;
    if (odg_model_create(&m, mo, &mem) != ODG_OK) {
        CHECK(0, "%s: model create failed", label);
        return;
    }
    odg_rng rng;
    odg_rng_seed(&rng, 11);
    odg_model_init(m, &rng);
    const size_t M = m->B * m->D, P = m->P, na = odg_model_act_size(m);
    CHECK(na == m->B * mo->H, "%s: act size %zu, want B H = %zu", label, na, m->B * mo->H);
    double *Z = malloc(M * sizeof(double)), *G = malloc(M * sizeof(double));
    double *F0 = malloc(M * sizeof(double)), *F1 = malloc(M * sizeof(double));
    double *Zb0 = malloc(M * sizeof(double)), *Zb1 = malloc(M * sizeof(double));
    double *g0 = calloc(P, sizeof(double)), *g1 = calloc(P, sizeof(double));
    double *A = malloc(na * sizeof(double));
    odg_rng_fill_normal(&rng, Z, M, 0, 1);
    odg_rng_fill_normal(&rng, G, M, 0, 1);
    omp_set_num_threads(threads);
    const double t = 0.375;
    int rc = odg_model_f(m, t, Z, F0) | odg_model_f_act(m, t, Z, F1, A) |
             odg_model_vjp(m, t, Z, G, Zb0, g0) | odg_model_vjp_act(m, t, Z, A, G, Zb1, g1);
    omp_set_num_threads(1);
    CHECK(rc == 0, "%s: rc %d", label, rc);
    CHECK(check_bit_diff(F1, F0, M) == 0, "%s: f_act's F differs from f's in %zu places", label,
          check_bit_diff(F1, F0, M));
    CHECK(check_bit_diff(Zb1, Zb0, M) == 0 && check_bit_diff(g1, g0, P) == 0,
          "%s: vjp_act differs from vjp: Zbar in %zu places, gtheta in %zu", label,
          check_bit_diff(Zb1, Zb0, M), check_bit_diff(g1, g0, P));
    free(Z);
    free(G);
    free(F0);
    free(F1);
    free(Zb0);
    free(Zb1);
    free(g0);
    free(g1);
    free(A);
    odg_model_destroy(&m);
}

static void test_model(void)
{
    const odg_blas_mode modes[] = {ODG_BLAS_CHUNKED, ODG_BLAS_THREADED};
    for (int ref = 0; ref < 2; ref++) {
        for (int b = 0; b < 2; b++) {
            for (int ti = 0; ti < 2; ti++) {
                for (int th = 1; th <= 2; th++) {
                    /* 150 rows: chunks of 64, 64 and 22; then one chunk of 40 */
                    const size_t batches[] = {150, 40};
                    for (int k = 0; k < 4; k++) {
                        /* D = 5: the GEMMs; D = 3: the thin version in chunked mode */
                        odg_model_opts mo = mlp_opts(k < 2 ? 5 : 3, 24, batches[k % 2]);
                        mo.reference = ref;
                        mo.blas_mode = modes[b];
                        mo.time_input = ti;
                        char label[96];
                        snprintf(label, sizeof label, "%s %s ti=%d threads=%d D=%zu B=%zu",
                                 ref ? "reference" : "blas", odg_blas_mode_name(modes[b]), ti, th,
                                 mo.D, batches[k % 2]);
                        check_model(&mo, th, label);
                    }
                }
            }
        }
    }
    /* kinds without activations say so, and refuse the entry points */
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model_opts lo = linear_opts(3, 4, ODG_SPECTRUM_RANDOM, 1);
    odg_model *m = NULL;
    CHECK(odg_model_create(&m, &lo, &mem) == ODG_OK, "linear create");
    if (m) {
        double z[12] = {0}, f[12], a[12];
        CHECK(odg_model_act_size(m) == 0 && odg_model_f_act(m, 0, z, f, a) == ODG_EUNSUP,
              "linear: act size %zu", odg_model_act_size(m));
        odg_model_destroy(&m);
    }
    odg_model_opts co = mlp_opts(3, 8, 4);
    co.kind = ODG_MODEL_CNF;
    CHECK(odg_model_create(&m, &co, &mem) == ODG_OK, "cnf create");
    if (m) {
        CHECK(odg_model_act_size(m) == 0, "cnf: act size %zu", odg_model_act_size(m));
        odg_model_destroy(&m);
    }
}

/* ---- whole gradients ---------------------------------------------------------------------- */

typedef struct gcase {
    odg_method method;
    odg_schedule schedule;
} gcase;

static const gcase gcases[] = {
    {ODG_METHOD_BACKPROP, ODG_SCHEDULE_UNIFORM},
    {ODG_METHOD_BACKPROP_STEPS, ODG_SCHEDULE_UNIFORM},
    {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_UNIFORM},
    {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_BINOMIAL},
    {ODG_METHOD_REVERSIBLE, ODG_SCHEDULE_UNIFORM},
};
#define NGCASES (sizeof gcases / sizeof gcases[0])

/* The gradient with and without kept activations: the same bits, the same counts; the memory
 * model and the closed form equal to the allocator with them; activations accounted only with
 * them. */
static void check_gradient(prob *q, const gcase *gc, const char *label, long *cases)
{
    double *g0 = malloc(q->n * sizeof(double)), *g1 = malloc(q->n * sizeof(double));
    odg_grad_stats s0, s1;
    odg_grad_opts o;
    odg_grad_opts_default(&o, gc->method);
    o.schedule = gc->schedule;
    odg_status r0 = odg_gradient(&q->p, &o, &q->mem, g0, g0 + q->P, &s0);
    o.keep_activations = 1;
    odg_status r1 = odg_gradient(&q->p, &o, &q->mem, g1, g1 + q->P, &s1);
    CHECK(r0 == ODG_OK && r1 == ODG_OK, "%s: %s / %s", label, odg_status_str(r0),
          odg_status_str(r1));
    if (r0 == ODG_OK && r1 == ODG_OK) {
        (*cases)++;
        CHECK(check_bit_diff(g1, g0, q->n) == 0, "%s: %zu of %zu numbers differ", label,
              check_bit_diff(g1, g0, q->n), q->n);
        CHECK(s1.steps == s0.steps && s1.nvjp == s0.nvjp && s1.nfe_backward == s0.nfe_backward &&
                  s1.loss == s0.loss,
              "%s: steps %ld/%ld nvjp %ld/%ld nfe_backward %ld/%ld", label, s0.steps, s1.steps,
              s0.nvjp, s1.nvjp, s0.nfe_backward, s1.nfe_backward);
        odg_grad_memory mm;
        CHECK(odg_gradient_memory(&q->p, &o, s1.steps, &mm) == ODG_OK &&
                  mm.stored == (double)s1.stored_bytes &&
                  mm.workspace == (double)s1.workspace_bytes && mm.peak == (double)s1.peak_total &&
                  s1.theory_stored == (double)s1.stored_bytes,
              "%s: model %.0f + %.0f (peak %.0f), allocator %zu + %zu (peak %zu), closed form "
              "%.0f",
              label, mm.stored, mm.workspace, mm.peak, s1.stored_bytes, s1.workspace_bytes,
              s1.peak_total, s1.theory_stored);
        /* the activations: B H a stage for the engine's s + 1 rows, and backprop's N s more;
         * fixed-step backprop's steps write theirs into the tape, and the engine keeps only the
         * next step's first row (ODG_ERK_ACTS_HOOKED) */
        const double s = q->p.tab->s, BH = (double)odg_model_act_size(q->model);
        const int backprop = gc->method == ODG_METHOD_BACKPROP;
        const int fixed = q->p.steps > 0 || q->p.grid != NULL;
        const double want =
            8 * BH * ((backprop && fixed ? 1 : s + 1) + (backprop ? (double)s1.steps * s : 0));
        CHECK(s0.peak[ODG_TAG_ACTIVATION] == 0 && (double)s1.peak[ODG_TAG_ACTIVATION] == want &&
                  s1.stored_bytes == s0.stored_bytes + s1.peak[ODG_TAG_ACTIVATION],
              "%s: activation bytes %zu and %zu (want 0 and %.0f); stored %zu and %zu", label,
              s0.peak[ODG_TAG_ACTIVATION], s1.peak[ODG_TAG_ACTIVATION], want, s0.stored_bytes,
              s1.stored_bytes);
    }
    free(g0);
    free(g1);
}

static void test_gradients(void)
{
    /* fixed rk4 (no FSAL) and dopri5 (FSAL: the first stage's activations reused); adaptive
     * dopri5 and vern7 (not FSAL, its last stage only the error estimate's) */
    const struct {
        odg_scheme scheme;
        long steps;
    } grids[] = {
        {ODG_SCHEME_RK4, 6}, {ODG_SCHEME_DOPRI5, 5}, {ODG_SCHEME_DOPRI5, 0}, {ODG_SCHEME_VERN7, 0}};
    const odg_blas_mode modes[] = {ODG_BLAS_CHUNKED, ODG_BLAS_THREADED};
    long cases = 0;
    for (int b = 0; b < 2; b++) {
        for (int ti = 0; ti < 2; ti++) {
            odg_model_opts mo = mlp_opts(3, 8, 150); /* chunks of 64, 64, 22 */
            mo.blas_mode = modes[b];
            mo.time_input = ti;
            for (size_t gi = 0; gi < sizeof grids / sizeof grids[0]; gi++) {
                prob q;
                prob_make(&q, &mo, grids[gi].scheme, grids[gi].steps, 1.0, 5);
                odg_adapt_defaults(&q.p.adapt, 1e-5, 1e-7);
                for (int th = 1; th <= 2; th++) {
                    omp_set_num_threads(th);
                    for (size_t c = 0; c < NGCASES; c++) {
                        if (gcases[c].method == ODG_METHOD_REVERSIBLE && grids[gi].steps == 0) {
                            continue; /* fixed steps only */
                        }
                        char label[128];
                        snprintf(label, sizeof label, "%s %s %s %s ti=%d threads=%d",
                                 odg_method_name(gcases[c].method),
                                 odg_schedule_name(gcases[c].schedule),
                                 odg_scheme_name(grids[gi].scheme),
                                 grids[gi].steps ? "fixed" : "adaptive", ti, th);
                        snprintf(label + strlen(label), sizeof label - strlen(label), " %s",
                                 odg_blas_mode_name(modes[b]));
                        check_gradient(&q, &gcases[c], label, &cases);
                    }
                }
                omp_set_num_threads(1);
                prob_free(&q);
            }
        }
    }
    CHECK(cases == 2 * 2 * 2 * (2 * 5 + 2 * 4), "%ld gradient cases", cases);
}

/* ---- refusals ----------------------------------------------------------------------------- */

static void test_refusals(void)
{
    odg_model_opts mo = mlp_opts(3, 8, 4);
    prob q;
    prob_make(&q, &mo, ODG_SCHEME_DOPRI5, 4, 1.0, 3);
    char err[ODG_ERRLEN];
    for (int m = 0; m < ODG_NMETHODS; m++) {
        odg_grad_opts o;
        odg_grad_opts_default(&o, (odg_method)m);
        o.keep_activations = 1;
        odg_status st = odg_grad_check(&q.p, &o, err);
        if (odg_method_kind((odg_method)m) == ODG_KIND_CONTINUOUS) {
            CHECK(st == ODG_EUNSUP && strstr(err, "discrete methods") != NULL,
                  "%s with kept activations: %s (%s)", odg_method_name((odg_method)m),
                  odg_status_str(st), err);
        } else {
            CHECK(st == ODG_OK, "%s with kept activations: %s (%s)", odg_method_name((odg_method)m),
                  odg_status_str(st), err);
        }
    }
    prob_free(&q);
    odg_model_opts lo = linear_opts(3, 4, ODG_SPECTRUM_RANDOM, 1);
    prob_make(&q, &lo, ODG_SCHEME_RK4, 4, 1.0, 3);
    odg_grad_opts o;
    odg_grad_opts_default(&o, ODG_METHOD_BACKPROP);
    o.keep_activations = 1;
    double g[64];
    CHECK(odg_grad_check(&q.p, &o, err) == ODG_EUNSUP && strstr(err, "linear") != NULL &&
              odg_gradient(&q.p, &o, &q.mem, g, g + q.P, NULL) == ODG_EUNSUP,
          "linear with kept activations: %s", err);
    prob_free(&q);
}

int main(void)
{
    test_model();
    test_gradients();
    test_refusals();
    return check_done("test_activations");
}
