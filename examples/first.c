/* A first program against the installed library (docs/api.md walks through it): the gradient of
 * L = sum(w .* z(1)) / B for the mlp field through RK4 with 32 steps, by backprop and by the
 * backsolve adjoint, checked against a central difference of the loss along one direction.
 *
 *     cc first.c $(pkg-config --cflags --libs odegrad) -o first && ./first
 *
 * Prints the loss, the two directional derivatives and the difference quotient; exits 1 if the
 * discrete-exact gradient (backprop) misses the difference quotient by more than 1e-6 relative.
 */
#include <odegrad/gradients.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    /* 1. a counting allocator: every byte below is accounted to it */
    odg_mem mem;
    odg_mem_init(&mem);

    /* 2. the field: mlp with D = 4, H = 16, B = 8; theta drawn from a seeded RNG */
    odg_model_opts mo;
    odg_model_opts_default(&mo);
    mo.D = 4;
    mo.H = 16;
    mo.B = 8;
    odg_model *model = NULL;
    char err[ODG_ERRLEN];
    if (odg_model_create_msg(&model, &mo, &mem, err) != ODG_OK) {
        fprintf(stderr, "first: %s\n", err);
        return 2;
    }
    odg_rng rng;
    odg_rng_seed(&rng, 1);
    odg_model_init(model, &rng);

    /* 3. the problem: z0 and the loss weights w are (B, D), row-major, owned by the caller */
    const size_t M = mo.B * mo.D, P = model->P;
    double *z0 = malloc(M * sizeof *z0), *w = malloc(M * sizeof *w);
    double *gtheta = malloc(P * sizeof *gtheta), *gz0 = malloc(M * sizeof *gz0);
    double *v = malloc(P * sizeof *v);
    if (!z0 || !w || !gtheta || !gz0 || !v) {
        return 2;
    }
    odg_rng_fill_normal(&rng, z0, M, 0.0, 1.0);
    odg_rng_fill_normal(&rng, w, M, 0.0, 1.0);
    odg_rng_fill_normal(&rng, v, P, 0.0, 1.0);
    odg_problem prob = {.model = model,
                        .tab = odg_scheme_tableau(ODG_SCHEME_RK4),
                        .t0 = 0.0,
                        .t1 = 1.0,
                        .steps = 32,
                        .z0 = z0,
                        .w = w};

    /* 4. the gradient by two methods: gtheta (P) and gz0 (B, D) are overwritten */
    const odg_method methods[2] = {ODG_METHOD_BACKPROP, ODG_METHOD_BACKSOLVE_ADJOINT};
    double dL[2], loss = 0;
    for (int k = 0; k < 2; k++) {
        odg_grad_opts go;
        odg_grad_opts_default(&go, methods[k]);
        odg_grad_stats stats;
        odg_status st = odg_gradient(&prob, &go, &mem, gtheta, gz0, &stats);
        if (st != ODG_OK) {
            fprintf(stderr, "first: %s: %s\n", odg_method_name(methods[k]), odg_status_str(st));
            return 1;
        }
        loss = stats.loss;
        dL[k] = 0;
        for (size_t i = 0; i < P; i++) {
            dL[k] += gtheta[i] * v[i];
        }
        printf("%-18s dL/dtheta . v = %.12f  (stored %zu bytes, %ld VJPs)\n",
               odg_method_name(methods[k]), dL[k], stats.stored_bytes, stats.nvjp);
    }

    /* 5. the same derivative by a central difference of the loss */
    const double e = 1e-6;
    double lp, lm;
    for (size_t i = 0; i < P; i++) {
        model->theta[i] += e * v[i];
    }
    odg_loss(&prob, &mem, &lp);
    for (size_t i = 0; i < P; i++) {
        model->theta[i] -= 2 * e * v[i];
    }
    odg_loss(&prob, &mem, &lm);
    const double fd = (lp - lm) / (2 * e);
    printf("loss %.12f, central difference %.12f\n", loss, fd);

    odg_model_destroy(&model);
    free(z0);
    free(w);
    free(gtheta);
    free(gz0);
    free(v);
    /* the difference quotient errs by O(e^2) + O(eps / e), about 1e-10 relative */
    if (fabs(dL[0] - fd) > 1e-6 * fabs(fd)) {
        fprintf(stderr, "first: backprop and the central difference disagree\n");
        return 1;
    }
    return mem.nlive == 0 ? 0 : 1;
}
