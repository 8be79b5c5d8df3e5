/* The options table (include/odegrad/options.def) walked through the public API:
 *
 * - its own defaults parse, and the default configuration passes the check;
 * - every option's text reads back through its own parser (format, then set, gives the same
 *   value);
 * - for every option x model x method x scheme, a sweep file that sets it accepts exactly what
 *   `odegrad run` accepts: the same value set on a configuration passes odg_run_config_check
 *   exactly when the sweep parses, and a configuration the check accepts is one the run
 *   prepares (odg_run_prepare, which adds odg_grad_check and the model itself);
 * - a configuration's identity: a record written and read back is the same configuration, and
 *   changing any one option with a column (where it applies) makes a different one.
 */
#include "check.h"
#include "odegrad/experiments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A valid value of each option other than its default, as text. */
static const char *sample(odg_option o)
{
    const odg_option_info *in = odg_option_get(o);
    switch (o) {
    case ODG_OPT_STIFFNESS:
        return "10";
    case ODG_OPT_SEED:
        return "7";
    case ODG_OPT_WARMUP:
        return "2";
    case ODG_OPT_THREADS:
        return "1";
    case ODG_OPT_STEPS:
        return "12";
    case ODG_OPT_CHECKPOINTS:
        return "3";
    case ODG_OPT_REFERENCE:
        return "none"; /* analytic is valid for linear only: the walk shows that apart */
    case ODG_OPT_EXPERIMENT:
        return "walk";
    case ODG_OPT_DATA:
        return "8gaussians";
    default:
        break;
    }
    switch (in->type) {
    case ODG_OPTTYPE_INT:
        return "5";
    case ODG_OPTTYPE_REAL:
        return "0.5";
    case ODG_OPTTYPE_REAL1:
        return "2";
    case ODG_OPTTYPE_NAME: {
        const odg_list *l = odg_list_find(in->list);
        return l->count() > 1 ? l->name(1) : l->name(0);
    }
    case ODG_OPTTYPE_BYTES:
        return "1G";
    case ODG_OPTTYPE_FLAG:
        return "yes";
    default:
        return "somewhere";
    }
}

static void test_defaults(void)
{
    odg_run_config c;
    char err[ODG_ERRLEN];
    for (int o = 0; o < ODG_NOPTIONS; o++) {
        const odg_option_info *in = odg_option_get((odg_option)o);
        CHECK(in != NULL && in->flag && in->help && in->group, "option %d", o);
        if (in->dflt[0]) {
            odg_run_config_default(&c);
            CHECK(odg_option_set(&c, (odg_option)o, in->dflt, err) == ODG_OK,
                  "--%s: its default '%s': %s", in->flag, in->dflt, err);
        }
        CHECK(odg_option_find(in->flag) == o, "--%s is found by its flag", in->flag);
        if (in->column >= 0) {
            CHECK(odg_option_find(odg_column_name(in->column)) == o, "--%s is found by its column",
                  in->flag);
        }
    }
    odg_run_config_default(&c);
    CHECK(odg_run_config_check(&c, NULL, err) == ODG_OK, "the default configuration: %s", err);
    CHECK(c.given == 0, "nothing given by default");
}

static void test_roundtrip(void)
{
    char err[ODG_ERRLEN], text[256];
    for (int o = 0; o < ODG_NOPTIONS; o++) {
        const odg_option_info *in = odg_option_get((odg_option)o);
        odg_run_config a, b;
        odg_run_config_default(&a);
        odg_run_config_default(&b);
        CHECK(odg_option_set(&a, (odg_option)o, sample((odg_option)o), err) == ODG_OK,
              "--%s %s: %s", in->flag, sample((odg_option)o), err);
        CHECK(a.given == (uint64_t)1 << o, "--%s: its given-bit", in->flag);
        CHECK(odg_option_format(&a, (odg_option)o, text, sizeof text) > 0, "--%s: format",
              in->flag);
        CHECK(odg_option_set(&b, (odg_option)o, text, err) == ODG_OK &&
                  odg_option_equal(&a, &b, (odg_option)o),
              "--%s: '%s' does not read back (%s)", in->flag, text, err);
        odg_option_reset(&a, (odg_option)o);
        odg_run_config d;
        odg_run_config_default(&d);
        CHECK(odg_option_equal(&a, &d, (odg_option)o) && a.given == 0, "--%s: reset", in->flag);
    }
}

/* A sweep file: [sweep] name, small sizes, then [run] with model, method, scheme and option o
 * (unless o is one of those three, which then takes the sample value instead). */
static int sweep_accepts(const char *model, const char *method, const char *scheme, odg_option o,
                         const char *value, char err[ODG_ERRLEN])
{
    char text[2048];
    const char *flag = odg_option_get(o)->flag;
    int n = snprintf(text, sizeof text,
                     "[sweep]\nname = walk\nrepeat = 1\nwarmup = 0\nreference = none\n"
                     "[run]\n");
    if (o != ODG_OPT_MODEL) {
        n += snprintf(text + n, sizeof text - (size_t)n, "model = %s\n", model);
    }
    if (o != ODG_OPT_METHOD) {
        n += snprintf(text + n, sizeof text - (size_t)n, "method = %s\n", method);
    }
    if (o != ODG_OPT_SCHEME) {
        n += snprintf(text + n, sizeof text - (size_t)n, "scheme = %s\n", scheme);
    }
    if (o != ODG_OPT_DIM) {
        n += snprintf(text + n, sizeof text - (size_t)n, "dim = 2\n");
    }
    if (o != ODG_OPT_BATCH) {
        n += snprintf(text + n, sizeof text - (size_t)n, "batch = 3\n");
    }
    if (o != ODG_OPT_REFERENCE) {
        /* reference = none comes from [sweep] */
    }
    n += snprintf(text + n, sizeof text - (size_t)n, "%s = %s\n", flag, value);
    odg_sweep *sw = NULL;
    odg_status st = odg_sweep_parse(&sw, "walk.ini", text, (size_t)n, err);
    int ok = st == ODG_OK;
    if (ok) {
        CHECK(odg_sweep_count(sw) == 1, "one configuration, not %d", odg_sweep_count(sw));
    }
    odg_sweep_destroy(&sw);
    return ok;
}

/* What `odegrad run --model M --method X --scheme S --dim 2 --batch 3 --reference none
 * --FLAG VALUE` would do with the configuration: 1 it runs (prepared), 0 it is refused. */
static int run_accepts(const char *model, const char *method, const char *scheme, odg_option o,
                       const char *value, int *prepared, char err[ODG_ERRLEN])
{
    odg_run_config c;
    odg_run_config_default(&c);
    int ok = 1;
    const struct {
        odg_option o;
        const char *v;
    } base[] = {{ODG_OPT_MODEL, model}, {ODG_OPT_METHOD, method},   {ODG_OPT_SCHEME, scheme},
                {ODG_OPT_DIM, "2"},     {ODG_OPT_BATCH, "3"},       {ODG_OPT_REPEAT, "1"},
                {ODG_OPT_WARMUP, "0"},  {ODG_OPT_REFERENCE, "none"}};
    for (size_t k = 0; k < sizeof base / sizeof base[0]; k++) {
        if (base[k].o != o) {
            ok &= odg_option_set(&c, base[k].o, base[k].v, err) == ODG_OK;
        }
    }
    ok &= odg_option_set(&c, o, strcmp(value, "yes") == 0 ? "" : value, err) == ODG_OK;
    ok = ok && odg_run_config_check(&c, NULL, err) == ODG_OK;
    *prepared = -1;
    if (ok) {
        odg_run *r = NULL;
        char e2[ODG_ERRLEN];
        *prepared = odg_run_prepare(&r, &c, e2) == ODG_OK;
        if (!*prepared) {
            snprintf(err, ODG_ERRLEN, "%s", e2);
        }
        odg_run_destroy(&r);
    }
    return ok;
}

static void test_walk(const char *loaddir)
{
    const odg_list *models = odg_list_find("models"), *methods = odg_list_find("methods"),
                   *schemes = odg_list_find("schemes");
    long cases = 0, accepted = 0;
    for (int o = 0; o < ODG_NOPTIONS; o++) {
        const odg_option_info *in = odg_option_get((odg_option)o);
        if (!in->sweep) {
            continue;
        }
        const char *value = o == ODG_OPT_LOAD ? loaddir : sample((odg_option)o);
        for (int mo = 0; mo < models->count(); mo++) {
            for (int me = 0; me < methods->count(); me++) {
                for (int s = 0; s < schemes->count(); s++) {
                    char e1[ODG_ERRLEN] = "", e2[ODG_ERRLEN] = "";
                    int prepared;
                    const char *m = models->name(mo), *x = methods->name(me),
                               *sc = schemes->name(s);
                    if (o == ODG_OPT_LOAD && strcmp(m, "cnf") == 0) {
                        continue; /* the cnf's state rows are D + 1 long: the walk's z0.npy is
                                     (3, 2), refused for it with the shapes named */
                    }
                    int sw = sweep_accepts(m, x, sc, (odg_option)o, value, e1);
                    int run = run_accepts(m, x, sc, (odg_option)o, value, &prepared, e2);
                    CHECK(sw == run, "%s = %s with %s %s %s: sweep %s (%s), run %s (%s)", in->flag,
                          value, m, x, sc, sw ? "accepts" : "refuses", e1,
                          run ? "accepts" : "refuses", e2);
                    /* a peer this machine lacks (make peers) is refused by prepare alone, by
                     * design: the check cannot know what is installed */
                    char ver[ODG_CELL_STRLEN], e3[ODG_ERRLEN];
                    odg_solver sv = ODG_SOLVER_ODEGRAD;
                    if (o == ODG_OPT_SOLVER) {
                        for (int k = 0; k < ODG_NSOLVERS; k++) {
                            if (strcmp(value, odg_solver_name((odg_solver)k)) == 0) {
                                sv = (odg_solver)k;
                            }
                        }
                    }
                    int missing = odg_solver_available(sv, ver, e3) != ODG_OK;
                    CHECK(!run || prepared == 1 || missing,
                          "%s = %s with %s %s %s: checked, not prepared: %s", in->flag, value, m, x,
                          sc, e2);
                    cases++;
                    accepted += run;
                }
            }
        }
    }
    printf("walk: %ld cases (option x model x method x scheme), %ld accepted by both\n", cases,
           accepted);
    CHECK(accepted > 0 && accepted < cases, "the walk both accepts and refuses");
}

/* A record of c written as a CSV row and read back. */
static void write_read(const odg_run_config *c, const char *path, odg_run_config *back,
                       odg_csv_table *t)
{
    odg_run_record rec;
    memset(&rec, 0, sizeof rec);
    for (int k = 0; k < ODG_NCOLUMNS; k++) {
        odg_cell_empty(&rec.cell[k]);
    }
    odg_record_config(&rec, c);
    odg_cell_str(&rec.cell[ODG_COL_status], "ok");
    char err[ODG_ERRLEN];
    remove(path);
    CHECK(odg_csv_append(path, &rec, err) == ODG_OK, "append: %s", err);
    CHECK(odg_csv_read(path, t, err) == ODG_OK && t->nrow == 1, "read: %s", err);
    CHECK(t->nrow == 1 && odg_csv_row_config(t, 0, back, err) == ODG_OK, "row config: %s", err);
}

static void test_identity(const char *dir)
{
    char path[512], err[ODG_ERRLEN];
    snprintf(path, sizeof path, "%s/identity.csv", dir);
    /* a base where every option applies somewhere: stored-adjoint with dopri5 takes interp and
     * adjoint tolerances, backprop-checkpoint takes schedule and checkpoints */
    const char *methods[] = {"stored-adjoint", "backprop-checkpoint"};
    const char *models[] = {"mlp", "linear"};
    long differ = 0;
    for (int mi = 0; mi < 2; mi++) {
        for (int mo = 0; mo < 2; mo++) {
            odg_run_config base;
            odg_run_config_default(&base);
            odg_option_set(&base, ODG_OPT_METHOD, methods[mi], err);
            odg_option_set(&base, ODG_OPT_MODEL, models[mo], err);
            odg_option_set(&base, ODG_OPT_SCHEME, "dopri5", err);
            if (mo == 1) {
                odg_option_set(&base, ODG_OPT_SPECTRUM, "stiff", err);
            }
            odg_run_config_resolve(&base);
            odg_run_config back;
            odg_csv_table t;
            write_read(&base, path, &back, &t);
            CHECK(odg_run_config_same(&base, &back), "%s %s: a row reads back as itself",
                  models[mo], methods[mi]);
            char *k1 = odg_run_config_key(&base), *k2 = odg_run_config_key(&back);
            CHECK(k1 && k2 && strcmp(k1, k2) == 0, "keys: %s / %s", k1, k2);
            free(k2);
            odg_csv_table_free(&t);
            for (int o = 0; o < ODG_NOPTIONS; o++) {
                const odg_option_info *in = odg_option_get((odg_option)o);
                if (in->column < 0 || !odg_option_applies(&base, (odg_option)o, NULL) ||
                    o == ODG_OPT_MODEL || o == ODG_OPT_METHOD || o == ODG_OPT_SCHEME) {
                    continue;
                }
                odg_run_config c = base;
                CHECK(odg_option_set(&c, (odg_option)o, sample((odg_option)o), err) == ODG_OK, "%s",
                      err);
                if (odg_option_equal(&c, &base, (odg_option)o)) {
                    continue; /* the sample is this base's value */
                }
                write_read(&c, path, &back, &t);
                CHECK(!odg_run_config_same(&base, &back) && odg_run_config_same(&c, &back),
                      "%s %s: a row differing in %s only is another configuration", models[mo],
                      methods[mi], in->column >= 0 ? odg_column_name(in->column) : in->flag);
                char *k3 = odg_run_config_key(&back);
                CHECK(k1 && k3 && strcmp(k1, k3) != 0, "%s: the keys differ", in->flag);
                free(k3);
                odg_csv_table_free(&t);
                differ++;
            }
            free(k1);
        }
    }
    printf("identity: %ld single-option changes, each another configuration\n", differ);
    remove(path);
}

int main(void)
{
    char dir[] = "/tmp/odg_options_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("ODEGRAD_CACHE", dir, 1);
    /* --load reads z0.npy of the walk's shape (B = 3, D = 2) from here; the rest from the seed */
    char z0path[512];
    snprintf(z0path, sizeof z0path, "%s/z0.npy", dir);
    const size_t shape[2] = {3, 2};
    const double z0[6] = {0.1, -0.2, 0.3, -0.4, 0.5, -0.6};
    CHECK(odg_npy_save(z0path, 2, shape, z0, NULL) == ODG_OK, "z0.npy");
    test_defaults();
    test_roundtrip();
    test_walk(dir);
    test_identity(dir);
    remove(z0path);
    rmdir(dir);
    return check_done("test_options");
}
