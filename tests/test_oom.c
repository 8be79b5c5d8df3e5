/* Every allocation of every method failing in turn (fault injection, after SQLite): each
 * failure must come back as ODG_ENOMEM with every byte returned, and the run that finally
 * succeeds must give the same gradient as an undisturbed one.  ctest runs this program under
 * valgrind when it is installed, which also catches leaks outside the counting allocator. */
#include "check.h"
#include "odegrad/gradients.h"

#include <stdlib.h>
#include <string.h>

int main(void)
{
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model_opts mo;
    odg_model_opts_default(&mo);
    mo.D = 2;
    mo.H = 3;
    mo.B = 2;
    odg_model *model = NULL;
    odg_status rc = odg_model_create(&model, &mo, &mem);
    CHECK(rc == ODG_OK, "model: %s", odg_status_str(rc));
    if (rc) {
        return check_done("test_oom");
    }
    odg_rng rng;
    odg_rng_seed(&rng, 7);
    odg_model_init(model, &rng);
    size_t M = mo.B * mo.D, P = model->P, n = P + M;
    double z0[4], w[12];
    const double tout[3] = {0.3, 0.7, 0.9}; /* three outputs and a last interval without one */
    odg_rng_fill_normal(&rng, z0, M, 0, 1);
    odg_rng_fill_normal(&rng, w, 3 * M, 0, 1);
    double *ref = malloc(n * sizeof(double)), *g = malloc(n * sizeof(double));

    for (int run = 0; run < 4; run++) {
        const int adaptive = run & 1, outputs = run >> 1;
        odg_problem p = {.model = model,
                         .nout = outputs ? 3 : 0,
                         .tout = outputs ? tout : NULL,
                         .tab = odg_scheme_tableau(adaptive ? ODG_SCHEME_DOPRI5 : ODG_SCHEME_RK4),
                         .t0 = 0,
                         .t1 = 1,
                         .steps = adaptive ? 0 : 9,
                         .z0 = z0,
                         .w = w};
        odg_adapt_defaults(&p.adapt, 1e-6, 1e-8);
        for (int m = 0; m < ODG_NMETHODS; m++) {
            for (int sch = 0; sch < ODG_NSCHEDULES; sch++) {
                /* each interpolation, then (ip >= ODG_NINTERPS) with kept activations, which
                     * the discrete methods allocate besides */
                for (int ipk = 0; ipk < 2 * ODG_NINTERPS; ipk++) {
                    const int ip = ipk % ODG_NINTERPS;
                    odg_grad_opts o;
                    odg_grad_opts_default(&o, (odg_method)m);
                    o.schedule = (odg_schedule)sch;
                    o.interp = (odg_interp)ip;
                    o.keep_activations = ipk >= ODG_NINTERPS;
                    /* reversible runs with its states reconstructed, and with them kept, and
                     * backsolve over output times without and with its resets (the second
                     * schedule's turn, which they otherwise ignore) */
                    const int second = m == ODG_METHOD_REVERSIBLE ||
                                       (m == ODG_METHOD_BACKSOLVE_ADJOINT && outputs);
                    if (second) {
                        o.keep_states = m == ODG_METHOD_REVERSIBLE && sch == 1;
                        o.backsolve_reset = m == ODG_METHOD_BACKSOLVE_ADJOINT && sch == 1;
                        o.schedule = ODG_SCHEDULE_UNIFORM;
                    }
                    /* a schedule or interpolation that the method ignores repeats a case */
                    if (odg_grad_check(&p, &o, NULL) != ODG_OK ||
                        (sch && !odg_method_keeps_checkpoints(o.method) && !second) ||
                        (ip && !odg_method_interpolates(o.method)) ||
                        (o.keep_activations && ip)) {
                        continue;
                    }
                    mem.fail_at = 0;
                    rc = odg_gradient(&p, &o, &mem, ref, ref + P, NULL);
                    CHECK(rc == ODG_OK, "%s: %s", odg_method_name(o.method), odg_status_str(rc));
                    size_t base = mem.cur_total;
                    long live = mem.nlive, k;
                    for (k = 1; k < 1000; k++) {
                        mem.nalloc = 0;
                        mem.fail_at = k;
                        rc = odg_gradient(&p, &o, &mem, g, g + P, NULL);
                        CHECK(mem.cur_total == base && mem.nlive == live,
                              "%s %s %s%s: allocation %ld failing leaks %zu bytes",
                              odg_method_name(o.method), odg_schedule_name(o.schedule),
                              odg_interp_name(o.interp),
                              o.keep_activations ? " (kept activations)" : "", k,
                              mem.cur_total - base);
                        if (rc == ODG_OK) {
                            break;
                        }
                        CHECK(rc == ODG_ENOMEM, "%s: allocation %ld failing gives %s",
                              odg_method_name(o.method), k, odg_status_str(rc));
                    }
                    mem.fail_at = 0;
                    CHECK(rc == ODG_OK && k > 1, "%s: never succeeded or never allocated",
                          odg_method_name(o.method));
                    CHECK(check_bit_diff(g, ref, n) == 0, "%s: gradient after faults differs",
                          odg_method_name(o.method));
                }
            }
        }
    }
    odg_model_destroy(&model);
    CHECK(mem.nlive == 0 && mem.cur_total == 0, "model leaks %zu bytes", mem.cur_total);
    free(ref);
    free(g);
    return check_done("test_oom");
}
