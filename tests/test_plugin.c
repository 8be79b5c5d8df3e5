/* A field from a shared object (include/odegrad/plugin.h, models/plugin.c): the worked example
 * (examples/vanderpol.c) loads, its BLAS-free f and VJP agree with its loop reference, its VJP
 * passes the finite-difference check, its gradient through every method agrees with central
 * differences of the loss and the discrete methods agree bit for bit; the broken plugins of
 * tests/plugins/broken.c are refused with a message that names the problem, and nothing leaks.
 */
#include "check.h"
#include "odegrad/gradients.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *so(const char *name)
{
    static char path[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s.so", ODG_BUILD_DIR, name);
    return path[k];
}

static odg_model_opts plugin_opts(const char *path, size_t D, size_t B, int reference)
{
    odg_model_opts o;
    odg_model_opts_default(&o);
    o.kind = ODG_MODEL_PLUGIN;
    o.plugin = path;
    o.D = D;
    o.B = B;
    o.reference = reference;
    return o;
}

/* The example against its loop reference: the same formulas, only the order of the batch sums
 * differs (one local sum added once against sums straight into gtheta), both from zero, so the
 * results agree to a few ulps of the sums. */
static void test_reference(void)
{
    const size_t D = 6, B = 5, M = B * D;
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model_opts o = plugin_opts(so("libvanderpol"), D, B, 0);
    odg_model_opts oref = plugin_opts(so("libvanderpol"), D, B, 1);
    odg_model *m = NULL, *r = NULL;
    char err[ODG_ERRLEN];
    odg_status st = odg_model_create_msg(&m, &o, &mem, err);
    CHECK(st == ODG_OK, "%s", err);
    st = odg_model_create_msg(&r, &oref, &mem, err);
    CHECK(st == ODG_OK, "%s", err);
    if (!m || !r) {
        return;
    }
    CHECK(m->P == D && m->nviews == 2, "P %zu, %d views", m->P, m->nviews);
    CHECK(odg_model_view(m, "mu") && odg_model_view(m, "omega2"), "views mu and omega2");
    odg_rng rng;
    odg_rng_seed(&rng, 7);
    CHECK(odg_model_init(m, &rng) == ODG_OK, "init");
    memcpy(r->theta, m->theta, m->P * sizeof(double));
    double Z[30], G[30], F1[30], F2[30], Zb1[30], Zb2[30], g1[6] = {0}, g2[6] = {0};
    odg_rng_fill_normal(&rng, Z, M, 0, 1);
    odg_rng_fill_normal(&rng, G, M, 0, 1);
    CHECK(odg_model_f(m, 0.3, Z, F1) == 0 && odg_model_f(r, 0.3, Z, F2) == 0, "f");
    CHECK(odg_model_vjp(m, 0.3, Z, G, Zb1, g1) == 0 && odg_model_vjp(r, 0.3, Z, G, Zb2, g2) == 0,
          "vjp");
    CHECK(check_rel_diff(F1, F2, M) <= 1e-14, "f against the loop reference: %g",
          check_rel_diff(F1, F2, M));
    CHECK(check_rel_diff(Zb1, Zb2, M) <= 1e-14, "Zbar: %g", check_rel_diff(Zb1, Zb2, M));
    CHECK(check_rel_diff(g1, g2, D) <= 1e-14, "gtheta: %g", check_rel_diff(g1, g2, D));
    /* the VJP accumulates into gtheta: a second call doubles it */
    CHECK(odg_model_vjp(m, 0.3, Z, G, Zb1, g1) == 0, "vjp again");
    CHECK(check_rel_diff(
              g1, (double[]){2 * g2[0], 2 * g2[1], 2 * g2[2], 2 * g2[3], 2 * g2[4], 2 * g2[5]},
              D) <= 1e-14,
          "gtheta accumulates");
    CHECK(odg_model_check_vjp(m, 0.3, Z, &mem, err) == ODG_OK, "%s", err);
    double ff, fv;
    CHECK(odg_model_flops(m, &ff, &fv) == ODG_OK && ff == 7.0 * B * 3 && fv == 16.0 * B * 3,
          "the field's own flop count");
    odg_model_destroy(&m);
    odg_model_destroy(&r);
    CHECK(mem.nlive == 0, "%ld blocks left", mem.nlive);
}

/* Every method's gradient against central differences of the loss, component by component for
 * theta (P = 4) and along one random direction for z0.  Errors: the central difference with
 * e = 1e-6 errs by O(e^2 L''') ~ 1e-12 and by rounding eps |L| / e ~ 1e-10 relative; the
 * discrete methods are the exact gradient of the discrete loss, so they agree to 1e-7.  The
 * continuous adjoints differ from it by the scheme's error, O(h^4) for RK4: (1/32)^4 ~ 1e-6
 * times the field's derivatives (mu, omega2 and z of order 1 over t in [0, 1]), so 1e-5. */
static void test_methods(void)
{
    const size_t D = 4, B = 3, M = B * D;
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model_opts o = plugin_opts(so("libvanderpol"), D, B, 0);
    odg_model *m = NULL;
    char err[ODG_ERRLEN];
    if (odg_model_create_msg(&m, &o, &mem, err) != ODG_OK) {
        CHECK(0, "%s", err);
        return;
    }
    odg_rng rng;
    odg_rng_seed(&rng, 3);
    odg_model_init(m, &rng);
    const size_t P = m->P;
    double z0[12], w[12], u[12], zp[12];
    odg_rng_fill_normal(&rng, z0, M, 0, 1);
    odg_rng_fill_normal(&rng, w, M, 0, 1);
    odg_rng_fill_normal(&rng, u, M, 0, 1);
    odg_problem p = {.model = m,
                     .tab = odg_scheme_tableau(ODG_SCHEME_RK4),
                     .t0 = 0,
                     .t1 = 1,
                     .steps = 32,
                     .z0 = z0,
                     .w = w};
    const double e = 1e-6;
    double fd[4], fdz, lp, lm;
    for (size_t k = 0; k < P; k++) {
        const double th = m->theta[k];
        m->theta[k] = th + e;
        odg_loss(&p, &mem, &lp);
        m->theta[k] = th - e;
        odg_loss(&p, &mem, &lm);
        m->theta[k] = th;
        fd[k] = (lp - lm) / (2 * e);
    }
    p.z0 = zp;
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < M; i++) {
            zp[i] = z0[i] + (s == 0 ? e : -e) * u[i];
        }
        odg_loss(&p, &mem, s == 0 ? &lp : &lm);
    }
    p.z0 = z0;
    fdz = (lp - lm) / (2 * e);
    double gref[4], zref[12];
    for (int meth = 0; meth < ODG_NMETHODS; meth++) {
        odg_grad_opts go;
        odg_grad_opts_default(&go, (odg_method)meth);
        double g[4], gz[12];
        odg_grad_stats stats;
        odg_status st = odg_gradient(&p, &go, &mem, g, gz, &stats);
        const char *name = odg_method_name((odg_method)meth);
        CHECK(st == ODG_OK, "%s: %s", name, odg_status_str(st));
        double dz = 0;
        for (size_t i = 0; i < M; i++) {
            dz += gz[i] * u[i];
        }
        const int discrete = odg_method_kind((odg_method)meth) == ODG_KIND_DISCRETE;
        const double tol = discrete ? 1e-7 : 1e-5;
        CHECK(check_rel_diff(g, fd, P) <= tol, "%s: gtheta against finite differences: %g", name,
              check_rel_diff(g, fd, P));
        CHECK(fabs(dz - fdz) <= tol * fabs(fdz), "%s: gz0 . u %.12g, differences %.12g", name, dz,
              fdz);
        if (meth == ODG_METHOD_BACKPROP) {
            memcpy(gref, g, sizeof g);
            memcpy(zref, gz, sizeof gz);
        } else if (discrete && meth != ODG_METHOD_REVERSIBLE) {
            /* one discrete adjoint, whatever is stored: the same bits (reversible differentiates
             * its own map: checked by differences above) */
            CHECK(check_bit_diff(g, gref, P) == 0 && check_bit_diff(gz, zref, M) == 0,
                  "%s is not bit-identical to backprop", name);
        }
    }
    odg_model_destroy(&m);
    CHECK(mem.nlive == 0, "%ld blocks left", mem.nlive);
}

/* Each broken plugin: refused at create (with status and a phrase of its message) or, where the
 * field loads, by the gradient check. */
static void test_broken(void)
{
    static const struct {
        const char *name;
        int at_create;
        odg_status st;
        const char *phrase;
    } cases[] = {
        {"plugin_abi", 1, ODG_EUNSUP, "ABI version 2; this odegrad reads version 1"},
        {"plugin_nosymbol", 1, ODG_EINVAL, "exports no function odegrad_field"},
        {"plugin_refuses", 1, ODG_EINVAL, "this field is switched off"},
        {"plugin_view", 1, ODG_EINVAL, "does not lie inside theta"},
        {"plugin_missing", 1, ODG_EINVAL, "cannot be loaded"},
        {"plugin_vjpz", 0, ODG_EINVAL, "fails the gradient check in z"},
        {"plugin_vjptheta", 0, ODG_EINVAL, "fails the gradient check in theta"},
        {"plugin_nan", 0, ODG_EINVAL, "non-finite"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        odg_mem mem;
        odg_mem_init(&mem);
        odg_model_opts o = plugin_opts(so(cases[c].name), 3, 4, 0);
        odg_model *m = NULL;
        char err[ODG_ERRLEN] = "";
        odg_status st = odg_model_create_msg(&m, &o, &mem, err);
        if (cases[c].at_create) {
            CHECK(st == cases[c].st && m == NULL, "%s: status %s", cases[c].name,
                  odg_status_str(st));
        } else {
            CHECK(st == ODG_OK, "%s: %s", cases[c].name, err);
            if (m) {
                odg_rng rng;
                odg_rng_seed(&rng, 1);
                odg_model_init(m, &rng);
                double Z[12];
                odg_rng_fill_normal(&rng, Z, 12, 0, 1);
                st = odg_model_check_vjp(m, 0.0, Z, &mem, err);
                CHECK(st == cases[c].st, "%s: status %s", cases[c].name, odg_status_str(st));
            }
        }
        CHECK(strstr(err, cases[c].phrase) != NULL, "%s: message '%s' lacks '%s'", cases[c].name,
              err, cases[c].phrase);
        odg_model_destroy(&m);
        CHECK(mem.nlive == 0, "%s: %ld blocks left", cases[c].name, mem.nlive);
    }
    /* the example's own refusal: D odd */
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model_opts o = plugin_opts(so("libvanderpol"), 3, 2, 0);
    odg_model *m = NULL;
    char err[ODG_ERRLEN] = "";
    CHECK(odg_model_create_msg(&m, &o, &mem, err) == ODG_EINVAL && strstr(err, "D is even"),
          "odd D: '%s'", err);
    /* the built-in models pass the same gradient check */
    for (int k = 0; k < 2; k++) {
        odg_model_opts_default(&o);
        o.kind = k == 0 ? ODG_MODEL_MLP : ODG_MODEL_LINEAR;
        o.D = 3;
        o.H = 5;
        o.B = 4;
        CHECK(odg_model_create(&m, &o, &mem) == ODG_OK, "create %d", k);
        odg_rng rng;
        odg_rng_seed(&rng, 1);
        odg_model_init(m, &rng);
        double Z[12];
        odg_rng_fill_normal(&rng, Z, 12, 0, 1);
        CHECK(odg_model_check_vjp(m, 0.0, Z, &mem, err) == ODG_OK, "%s: %s",
              odg_model_kind_name(o.kind), err);
        odg_model_destroy(&m);
    }
    CHECK(mem.nlive == 0, "%ld blocks left", mem.nlive);
}

int main(void)
{
    test_reference();
    test_methods();
    test_broken();
    return check_done("test_plugin");
}
