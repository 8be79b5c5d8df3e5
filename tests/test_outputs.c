/* Losses over output times (docs/theory.md section 1, "Output times"):
 * L = sum_k sum(w_k .* z(t_k)) / B.  Every method against the exact gradient (a sum of Van Loan
 * terms) at its scheme's order with K = 1, 3 and 8 outputs; the discrete methods bit-identical to
 * each other; central differences on the mlp; backsolve with and without its resets; the memory
 * model; and the refusals. */
#include "check.h"
#include "odegrad/gradients.h"
#include "prob.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static odg_status grad(prob *q, const odg_grad_opts *o, double *g, odg_grad_stats *st)
{
    return odg_gradient(&q->p, o, &q->mem, g, g + q->P, st);
}

/* The exact gradient of the linear field's loss over the output times: a sum over k of Van
 * Loan's gradient of sum(w_k .* z(t_k)) / B. */
static void exact(prob *q, double *g)
{
    size_t D = q->model->D, B = q->model->B;
    double *gk = malloc(q->n * sizeof(double));
    memset(g, 0, q->n * sizeof(double));
    long K = q->p.nout > 0 ? q->p.nout : 1;
    for (long k = 0; k < K; k++) {
        double tk = q->p.nout > 0 ? q->tout[k] : 1.0;
        odg_vanloan_linear(D, B, q->model->theta, q->model->theta + D * D, q->z0,
                           q->w + (size_t)k * q->M, 0, tk, NULL, gk, gk + D * D, gk + q->P);
        for (size_t i = 0; i < q->n; i++) {
            g[i] += gk[i];
        }
    }
    free(gk);
}

static const char *mname(int m)
{
    return odg_method_name((odg_method)m);
}

/* Every method (stored and checkpointed adjoints with Hermite interpolation, reversible with its
 * default coupling) converges to the exact gradient at the order of the scheme, for K = 1, 3 and
 * 8 outputs on the linear spiral: the jumps are exact, so they add no error of their own.  As in
 * test_gradients' test_orders: N = 48 and 96 (divisible by 3 and 8: uniform segments), errors
 * between 1e-4 and 1e-12, in the asymptotic range; Hermite's O(h^4) does not limit rk4. */
static void test_orders(void)
{
    odg_scheme schemes[] = {ODG_SCHEME_MIDPOINT, ODG_SCHEME_RK4};
    long Ks[] = {1, 3, 8};
    odg_model_opts mo = linear_opts(4, 3, ODG_SPECTRUM_SPIRAL, 1);
    for (int si = 0; si < 2; si++) {
        for (int ki = 0; ki < 3; ki++) {
            prob q;
            prob_make_outputs(&q, &mo, schemes[si], 48, 1.0, Ks[ki], NULL, 3);
            double *gref = malloc(q.n * sizeof(double)), *g = malloc(q.n * sizeof(double));
            exact(&q, gref);
            int p = q.p.tab->order;
            for (int m = 0; m < ODG_NMETHODS; m++) {
                for (int reset = 0; reset <= (m == ODG_METHOD_BACKSOLVE_ADJOINT); reset++) {
                    odg_grad_opts o;
                    odg_grad_opts_default(&o, (odg_method)m);
                    o.backsolve_reset = reset;
                    double e[2];
                    odg_status rc = ODG_OK;
                    for (int k = 0; k < 2 && rc == ODG_OK; k++) {
                        q.p.steps = 48L << k;
                        rc = grad(&q, &o, g, NULL);
                        e[k] = check_rel_diff(g, gref, q.n);
                    }
                    double order = log2(e[0] / e[1]);
                    CHECK(rc == ODG_OK && fabs(order - p) <= 0.15,
                          "%s K=%ld %s%s: %s, observed order %.3f (errors %.2e, %.2e), "
                          "expected %d",
                          q.p.tab->name, Ks[ki], mname(m), reset ? " reset" : "",
                          odg_status_str(rc), order, e[0], e[1], p);
                    printf("outputs %-8s K=%ld %-20s%-6s err %.2e -> %.2e  observed %.2f (p=%d)\n",
                           q.p.tab->name, Ks[ki], mname(m), reset ? "reset" : "", e[0], e[1], order,
                           p);
                }
            }
            free(gref);
            free(g);
            prob_free(&q);
        }
    }
}

/* The discrete methods give the same bits over output times too (they differ only in what they
 * keep), and so do stored-adjoint and checkpoint-adjoint; output times not equally spaced and
 * before t1 (a last segment without an output) included, fixed and adaptive steps. */
static void test_bitwise(void)
{
    const double times[] = {0.1, 0.35, 0.4, 0.9};
    odg_model_opts mo = mlp_opts(3, 5, 4);
    for (int adaptive = 0; adaptive < 2; adaptive++) {
        for (int ti = 0; ti < 2; ti++) {
            prob q;
            prob_make_outputs(&q, &mo, adaptive ? ODG_SCHEME_DOPRI5 : ODG_SCHEME_RK4,
                              adaptive ? 0 : 37, 1.0, ti ? 4 : 8, ti ? times : NULL, 5);
            double *ref = malloc(q.n * sizeof(double)), *g = malloc(q.n * sizeof(double));
            odg_grad_opts o;
            odg_grad_opts_default(&o, ODG_METHOD_BACKPROP);
            odg_grad_stats st;
            CHECK(grad(&q, &o, ref, &st) == ODG_OK, "backprop");
            long N = st.steps;
            struct {
                odg_method m;
                odg_schedule s;
                long C;
            } disc[] = {{ODG_METHOD_BACKPROP_STEPS, 0, 0},
                        {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_UNIFORM, 0},
                        {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_UNIFORM, 5},
                        {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_BINOMIAL, 3},
                        {ODG_METHOD_BACKPROP_CHECKPOINT, ODG_SCHEDULE_BINOMIAL, N}};
            for (size_t k = 0; k < sizeof disc / sizeof disc[0]; k++) {
                odg_grad_opts_default(&o, disc[k].m);
                o.schedule = disc[k].s;
                o.checkpoints = disc[k].C;
                odg_status rc = grad(&q, &o, g, NULL);
                CHECK(rc == ODG_OK && check_bit_diff(g, ref, q.n) == 0,
                      "adaptive=%d K=%ld %s %s C=%ld: %s, %zu entries differ from backprop",
                      adaptive, q.p.nout, mname(disc[k].m), odg_schedule_name(disc[k].s), disc[k].C,
                      odg_status_str(rc), check_bit_diff(g, ref, q.n));
            }
            odg_grad_opts_default(&o, ODG_METHOD_STORED_ADJOINT);
            grad(&q, &o, ref, NULL);
            for (int sch = 0; sch < ODG_NSCHEDULES; sch++) {
                odg_grad_opts_default(&o, ODG_METHOD_CHECKPOINT_ADJOINT);
                o.schedule = (odg_schedule)sch;
                odg_status rc = grad(&q, &o, g, NULL);
                CHECK(rc == ODG_OK && check_bit_diff(g, ref, q.n) == 0,
                      "adaptive=%d K=%ld checkpoint-adjoint %s: %zu entries differ from "
                      "stored-adjoint",
                      adaptive, q.p.nout, odg_schedule_name((odg_schedule)sch),
                      check_bit_diff(g, ref, q.n));
            }
            free(ref);
            free(g);
            prob_free(&q);
        }
    }
}

/* Central differences of the loss over output times on the mlp (odg_loss sums it the same way),
 * for backprop (the discrete map of the scheme) and reversible (its own map, whose loss the
 * gradient's statistics give), with equally spaced outputs and with outputs before t1.  The bar
 * of test_gradients' test_fd: 1e-7. */
static void test_fd(void)
{
    const double times[] = {0.2, 0.5, 0.75};
    odg_model_opts mo = mlp_opts(3, 5, 4);
    for (int ti = 0; ti < 2; ti++) {
        for (int rev = 0; rev < 2; rev++) {
            prob q;
            prob_make_outputs(&q, &mo, ODG_SCHEME_RK4, 13, 1.0, 3, ti ? times : NULL, 11);
            double *g = malloc(q.n * sizeof(double)), *gf = malloc(q.n * sizeof(double));
            double *tmp = malloc(q.n * sizeof(double));
            odg_grad_opts o;
            odg_grad_opts_default(&o, rev ? ODG_METHOD_REVERSIBLE : ODG_METHOD_BACKPROP);
            CHECK(grad(&q, &o, g, NULL) == ODG_OK, "gradient");
            for (size_t i = 0; i < q.n; i++) {
                double *x = i < q.P ? &q.model->theta[i] : &q.z0[i - q.P];
                double x0 = *x, h = 1e-5 * fmax(1.0, fabs(x0)), L[2];
                for (int s = 0; s < 2; s++) {
                    *x = x0 + (s ? -h : h);
                    if (rev) {
                        odg_grad_stats st;
                        grad(&q, &o, tmp, &st);
                        L[s] = st.loss;
                    } else {
                        odg_loss(&q.p, &q.mem, &L[s]);
                    }
                }
                *x = x0;
                gf[i] = (L[0] - L[1]) / (2 * h);
            }
            double e = check_rel_diff(g, gf, q.n);
            CHECK(e < 1e-7, "%s %s outputs: vs finite differences %.2e", mname(o.method),
                  ti ? "uneven" : "even", e);
            printf("outputs fd %-10s %-6s: %.2e\n", mname(o.method), ti ? "uneven" : "even", e);
            free(g);
            free(gf);
            free(tmp);
            prob_free(&q);
        }
    }
}

/* backsolve-adjoint with and without resets, on the non-stiff spiral: both converge (test_orders
 * checks the order), they are different computations (the resets change the bits), and the
 * resets keep K - 1 states.  With its own adaptive steps each interval between output times is
 * one adjoint solve, and the error falls below 1e-6 at rtol 1e-10, as with one output. */
static void test_backsolve_reset(void)
{
    odg_model_opts mo = linear_opts(4, 3, ODG_SPECTRUM_SPIRAL, 1);
    prob q;
    prob_make_outputs(&q, &mo, ODG_SCHEME_DOPRI5, 64, 1.0, 5, NULL, 3);
    double *gref = malloc(q.n * sizeof(double)), *g0 = malloc(q.n * sizeof(double));
    double *g1 = malloc(q.n * sizeof(double));
    exact(&q, gref);
    odg_grad_opts o;
    odg_grad_opts_default(&o, ODG_METHOD_BACKSOLVE_ADJOINT);
    odg_grad_stats s0, s1;
    odg_status r0 = grad(&q, &o, g0, &s0);
    o.backsolve_reset = 1;
    odg_status r1 = grad(&q, &o, g1, &s1);
    double e0 = check_rel_diff(g0, gref, q.n), e1 = check_rel_diff(g1, gref, q.n);
    CHECK(r0 == ODG_OK && r1 == ODG_OK && e0 < 1e-9 && e1 < 1e-9 && check_bit_diff(g0, g1, q.n) > 0,
          "backsolve without resets %.2e, with %.2e, %zu entries differ", e0, e1,
          check_bit_diff(g0, g1, q.n));
    CHECK(s0.stored_bytes == 0 && s1.stored_bytes == 4 * q.M * sizeof(double) &&
              s1.theory_stored == (double)s1.stored_bytes,
          "backsolve stores %zu bytes, with resets %zu (closed form %.0f)", s0.stored_bytes,
          s1.stored_bytes, s1.theory_stored);
    printf("outputs backsolve dopri5 N=64 K=5: error %.2e without resets, %.2e with\n", e0, e1);
    for (int reset = 0; reset < 2; reset++) {
        odg_grad_opts_default(&o, ODG_METHOD_BACKSOLVE_ADJOINT);
        o.backsolve_reset = reset;
        o.adj_rtol = 1e-10;
        o.adj_atol = 1e-12;
        odg_status rc = grad(&q, &o, g0, &s0);
        double e = check_rel_diff(g0, gref, q.n);
        CHECK(rc == ODG_OK && e < 1e-6, "own steps reset=%d: %s, error %.2e", reset,
              odg_status_str(rc), e);
        odg_grad_opts_default(&o, ODG_METHOD_STORED_ADJOINT);
        o.adj_rtol = 1e-10;
        o.adj_atol = 1e-12;
        rc = grad(&q, &o, g0, &s0);
        e = check_rel_diff(g0, gref, q.n);
        CHECK(rc == ODG_OK && e < 1e-6, "stored-adjoint own steps: %s, error %.2e",
              odg_status_str(rc), e);
    }
    free(gref);
    free(g0);
    free(g1);
    prob_free(&q);
}

/* Adaptive steps land on the output times: the loss and gradient over K = 4 outputs agree with
 * the exact ones to about the tolerance (1e-8 relative, 1e-10 absolute: well below 1e-5). */
static void test_adaptive(void)
{
    odg_model_opts mo = linear_opts(4, 3, ODG_SPECTRUM_SPIRAL, 1);
    prob q;
    prob_make_outputs(&q, &mo, ODG_SCHEME_DOPRI5, 0, 1.0, 4, NULL, 3);
    odg_adapt_defaults(&q.p.adapt, 1e-8, 1e-10);
    double *gref = malloc(q.n * sizeof(double)), *g = malloc(q.n * sizeof(double));
    exact(&q, gref);
    for (int m = 0; m < ODG_NMETHODS; m++) {
        odg_grad_opts o;
        odg_grad_opts_default(&o, (odg_method)m);
        if (m == ODG_METHOD_REVERSIBLE) {
            CHECK(grad(&q, &o, g, NULL) == ODG_EUNSUP, "reversible takes fixed steps only");
            continue;
        }
        odg_grad_stats st;
        odg_status rc = grad(&q, &o, g, &st);
        double e = check_rel_diff(g, gref, q.n);
        CHECK(rc == ODG_OK && e < 1e-5, "adaptive %s: %s, error %.2e", mname(m), odg_status_str(rc),
              e);
    }
    free(gref);
    free(g);
    prob_free(&q);
}

/* The memory model equals the allocator with output times, for every method, fixed and
 * adaptive steps, backsolve with resets included; the refusals. */
static void test_memory(void)
{
    const double times[] = {0.25, 0.6};
    odg_model_opts mo = mlp_opts(3, 5, 4);
    long cases = 0;
    for (int adaptive = 0; adaptive < 2; adaptive++) {
        prob q;
        prob_make_outputs(&q, &mo, adaptive ? ODG_SCHEME_DOPRI5 : ODG_SCHEME_RK4, adaptive ? 0 : 40,
                          1.0, 2, times, 2);
        double *g = malloc(q.n * sizeof(double));
        for (int m = 0; m < ODG_NMETHODS; m++) {
            for (int sch = 0; sch < ODG_NSCHEDULES; sch++) {
                for (int reset = 0; reset < 2; reset++) {
                    odg_grad_opts o;
                    odg_grad_opts_default(&o, (odg_method)m);
                    o.schedule = (odg_schedule)sch;
                    o.backsolve_reset = reset;
                    if (odg_grad_check(&q.p, &o, NULL) != ODG_OK ||
                        (sch && !odg_method_keeps_checkpoints(o.method))) {
                        continue;
                    }
                    odg_grad_stats st;
                    odg_status rc = grad(&q, &o, g, &st);
                    odg_grad_memory mm;
                    CHECK(rc == ODG_OK && odg_gradient_memory(&q.p, &o, st.steps, &mm) == ODG_OK &&
                              mm.stored == (double)st.stored_bytes &&
                              mm.workspace == (double)st.workspace_bytes &&
                              mm.peak == (double)st.peak_total &&
                              st.theory_stored == (double)st.stored_bytes,
                          "adaptive=%d %s %s reset=%d: model %.0f + %.0f (peak %.0f), allocator "
                          "%zu + %zu (peak %zu), closed form %.0f",
                          adaptive, mname(m), odg_schedule_name(o.schedule), reset, mm.stored,
                          mm.workspace, mm.peak, st.stored_bytes, st.workspace_bytes, st.peak_total,
                          st.theory_stored);
                    cases++;
                }
            }
        }
        free(g);
        prob_free(&q);
    }
    CHECK(cases >= 16, "%ld memory cases", cases);

    /* refusals: times not increasing, after t1, fewer steps than intervals; resets elsewhere */
    prob q;
    const double bad[][3] = {{0.5, 0.5, 1.0}, {0.2, 0.1, 1.0}, {0.2, 0.5, 1.5}, {0.0, 0.5, 1.0}};
    prob_make_outputs(&q, &mo, ODG_SCHEME_RK4, 8, 1.0, 3, NULL, 2);
    double *g = malloc(q.n * sizeof(double));
    odg_grad_opts o;
    odg_grad_opts_default(&o, ODG_METHOD_BACKPROP);
    for (int b = 0; b < 4; b++) {
        memcpy(q.tout, bad[b], sizeof bad[b]);
        CHECK(grad(&q, &o, g, NULL) == ODG_EINVAL, "output times %g %g %g not refused", bad[b][0],
              bad[b][1], bad[b][2]);
    }
    const double fine[3] = {0.2, 0.5, 0.8};
    memcpy(q.tout, fine, sizeof fine);
    q.p.steps = 3; /* four intervals */
    CHECK(grad(&q, &o, g, NULL) == ODG_EINVAL, "3 steps over 4 intervals not refused");
    q.p.steps = 4;
    CHECK(grad(&q, &o, g, NULL) == ODG_OK, "4 steps over 4 intervals refused");
    o.backsolve_reset = 1;
    CHECK(grad(&q, &o, g, NULL) == ODG_EUNSUP, "resets with backprop not refused");
    free(g);
    prob_free(&q);
}

int main(void)
{
    test_orders();
    test_bitwise();
    test_fd();
    test_backsolve_reset();
    test_adaptive();
    test_memory();
    return check_done("test_outputs");
}
