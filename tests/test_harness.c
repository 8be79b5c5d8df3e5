/* The harness through its public API: a record's CSV row and JSON object agree cell by cell
 * (numbers read back bit for bit, unknowns empty and null, strings quoted when they must be);
 * the header is columns.def; odg_csv_check refuses another header; odg_run_config_check names
 * the flag of every combination that does not exist; a prepared run refuses a configuration over
 * its memory limit as an oom record without starting it; a run's rate columns agree with its
 * own counts and time (gflops from nfe, nvjp and odg_model_flops; roofline_frac the quotient),
 * blas_mode is the mode auto resolves to, and a given roofline rate is recorded as given. */
#include "check.h"
#include "odegrad/harness.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_header(void)
{
    static const char *const names[] = {
#define ODG_COLUMN(name, desc) #name,
#include "odegrad/columns.def"
#undef ODG_COLUMN
    };
    char want[4096] = "", got[4096];
    for (size_t c = 0; c < sizeof names / sizeof names[0]; c++) {
        strcat(want, c ? "," : "");
        strcat(want, names[c]);
    }
    int n = odg_csv_header(got, sizeof got);
    CHECK(n == (int)strlen(want) && strcmp(got, want) == 0, "header '%s'", got);
    CHECK(odg_csv_header(got, 10) == -1, "a short buffer is refused");
    CHECK(sizeof names / sizeof names[0] == ODG_NCOLUMNS, "one enum value per column");
}

/* Splits one CSV line (RFC 4180 quoting) into fields; returns their number. */
static int split_csv(const char *line, char fields[][128], int max)
{
    int n = 0;
    const char *p = line;
    for (;;) {
        char *out = fields[n];
        size_t k = 0;
        if (*p == '"') {
            p++;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"') {
                    p++;
                }
                out[k++] = *p++;
            }
            p += *p == '"';
        } else {
            while (*p && *p != ',' && *p != '\n') {
                out[k++] = *p++;
            }
        }
        out[k] = '\0';
        n++;
        if (*p != ',' || n == max) {
            return n;
        }
        p++;
    }
}

static void test_row_and_json(void)
{
    odg_run_record rec;
    memset(&rec, 0, sizeof rec);
    for (int c = 0; c < ODG_NCOLUMNS; c++) {
        odg_cell_real(&rec.cell[c], 0.1 * (c + 1) / 3.0); /* not exact in decimal */
    }
    odg_cell_str(&rec.cell[ODG_COL_experiment], "a \"quoted\", comma");
    odg_cell_int(&rec.cell[ODG_COL_D], 123456789012LL);
    odg_cell_real(&rec.cell[ODG_COL_loss], NAN); /* unknown */
    odg_cell_empty(&rec.cell[ODG_COL_rss_peak_bytes]);
    odg_cell_str(&rec.cell[ODG_COL_spectrum], "");
    rec.ref.kind = ODG_REF_NONE;

    char row[16384];
    int n = odg_csv_row(&rec, row, sizeof row);
    CHECK(n > 0 && row[n - 1] == '\n' && strchr(row, '\n') == row + n - 1, "one line: %s", row);
    static char fields[ODG_NCOLUMNS + 1][128];
    int nf = split_csv(row, fields, ODG_NCOLUMNS + 1);
    CHECK(nf == ODG_NCOLUMNS, "%d fields, not %d", nf, ODG_NCOLUMNS);

    char *js = odg_record_json(&rec);
    CHECK(js != NULL && strchr(js, '\n') == NULL, "one line of JSON");
    json_error_t jerr;
    json_t *o = js ? json_loads(js, 0, &jerr) : NULL;
    CHECK(o != NULL, "the JSON parses: %s", o ? "" : jerr.text);
    for (int c = 0; o && c < ODG_NCOLUMNS && c < nf; c++) {
        const char *name = odg_column_name((odg_column)c);
        json_t *v = json_object_get(o, name);
        const odg_cell *cell = &rec.cell[c];
        switch (cell->type) {
        case ODG_CELL_STR:
            CHECK(json_is_string(v) && strcmp(json_string_value(v), cell->s) == 0 &&
                      strcmp(fields[c], cell->s) == 0,
                  "%s: '%s'", name, fields[c]);
            break;
        case ODG_CELL_INT:
            CHECK(json_is_integer(v) && json_integer_value(v) == cell->i &&
                      strtoll(fields[c], NULL, 10) == cell->i,
                  "%s: '%s'", name, fields[c]);
            break;
        case ODG_CELL_REAL:
            /* %.17g both ways: the same double, bit for bit */
            CHECK(json_is_real(v) && json_real_value(v) == cell->x &&
                      strtod(fields[c], NULL) == cell->x,
                  "%s: '%s'", name, fields[c]);
            break;
        default:
            CHECK(json_is_null(v) && fields[c][0] == '\0', "%s: unknown is empty and null", name);
        }
    }
    CHECK(rec.cell[ODG_COL_loss].type == ODG_CELL_EMPTY, "a NaN cell is empty");
    CHECK(o && json_is_object(json_object_get(o, "detail")), "the detail object");
    json_decref(o);
    free(js);
}

static void test_csv_check(void)
{
    char dir[] = "/tmp/odg_test_harness_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256], err[ODG_ERRLEN];
    snprintf(path, sizeof path, "%s/x.csv", dir);
    CHECK(odg_csv_check(path, err) == ODG_OK, "a new file: %s", err);
    FILE *f = fopen(path, "w");
    fputs("a,b\n1,2\n", f);
    fclose(f);
    CHECK(odg_csv_check(path, err) == ODG_EFORMAT && strstr(err, "header") != NULL,
          "another header: %s", err);
    f = fopen(path, "w");
    fclose(f);
    CHECK(odg_csv_check(path, err) == ODG_OK, "an empty file: %s", err);
    odg_run_record rec;
    memset(&rec, 0, sizeof rec);
    odg_cell_str(&rec.cell[ODG_COL_status], "ok");
    CHECK(odg_csv_append(path, &rec, err) == ODG_OK && odg_csv_append(path, &rec, err) == ODG_OK,
          "append: %s", err);
    CHECK(odg_csv_check(path, err) == ODG_OK, "our own file: %s", err);
    f = fopen(path, "r");
    char line[8192];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
    }
    fclose(f);
    CHECK(lines == 3, "header once, then two rows: %d lines", lines);
    snprintf(path, sizeof path, "%s/none/x.csv", dir);
    CHECK(odg_csv_check(path, err) == ODG_EIO, "a missing directory: %s", err);
    snprintf(path, sizeof path, "%s/x.csv", dir);
    remove(path);
    rmdir(dir);
}

/* config_err: the check fails, and its message holds `want`. */
static void config_err(const odg_run_config *c, const char *want)
{
    char err[ODG_ERRLEN];
    odg_status st = odg_run_config_check(c, NULL, err);
    CHECK(st != ODG_OK && strstr(err, want) != NULL, "'%s' does not say '%s'", err, want);
}

static void test_config_check(void)
{
    odg_run_config c;
    char err[ODG_ERRLEN];
    odg_run_config_default(&c);
    CHECK(odg_run_config_check(&c, NULL, err) == ODG_OK, "the defaults: %s", err);
    CHECK(c.model.kind == ODG_MODEL_MLP && c.model.D == 16 && c.model.H == 64 &&
              c.model.B == 128 && c.scheme == ODG_SCHEME_RK4 && c.steps == 64 && c.t1 == 1 &&
              c.model.gain == 1 && c.grad.method == ODG_METHOD_BACKPROP && c.seed == 1 &&
              c.repeat == 3 && c.warmup == 1 && c.reference == ODG_REF_AUTO &&
              strcmp(c.experiment, "adhoc") == 0,
          "the defaults of `odegrad run --help`");

    /* an option given where it does not apply is refused with where it applies; the rules
     * themselves are walked option by option in test_options */
    odg_run_config_default(&c);
    CHECK(odg_option_set(&c, ODG_OPT_CHECKPOINTS, "4", err) == ODG_OK, "%s", err);
    config_err(&c, "--checkpoints applies only to methods that keep checkpoints");
    odg_run_config_default(&c);
    CHECK(odg_option_set(&c, ODG_OPT_SCHEDULE, "binomial", err) == ODG_OK, "%s", err);
    config_err(&c, "--schedule applies only to");
    odg_run_config_default(&c);
    CHECK(odg_option_set(&c, ODG_OPT_INTERP, "linear", err) == ODG_OK, "%s", err);
    c.grad.method = ODG_METHOD_BACKSOLVE_ADJOINT;
    config_err(&c, "--interp applies only to");
    odg_run_config_default(&c);
    c.scheme = ODG_SCHEME_DOPRI5;
    CHECK(odg_option_set(&c, ODG_OPT_STEPS, "8", err) == ODG_OK, "%s", err);
    CHECK(odg_option_set(&c, ODG_OPT_RTOL, "1e-6", err) == ODG_OK, "%s", err);
    config_err(&c, "--steps applies only to fixed steps");
    odg_run_config_default(&c);
    CHECK(odg_option_set(&c, ODG_OPT_RTOL, "1e-6", err) == ODG_OK, "%s", err);
    config_err(&c, "--rtol applies only to schemes with an error estimate");
    odg_run_config_default(&c);
    CHECK(odg_option_set(&c, ODG_OPT_STIFFNESS, "10", err) == ODG_OK, "%s", err);
    config_err(&c, "--stiffness applies only to");
    odg_run_config_default(&c);
    c.reference = ODG_REF_ANALYTIC;
    config_err(&c, "--reference analytic exists only for the linear model");
    odg_run_config_default(&c);
    c.model.D = 0;
    config_err(&c, "--dim must be a positive integer");
    odg_run_config_default(&c);
    c.experiment = "a,b";
    config_err(&c, "--experiment");
}

static void test_refused(void)
{
    odg_run_config c;
    char err[ODG_ERRLEN];
    odg_run_config_default(&c);
    c.model.D = 2;
    c.model.H = 4;
    c.model.B = 3;
    c.steps = 1000;
    c.mem_limit = 4096; /* backprop keeps 1000 * 4 * 6 doubles = 192000 bytes */
    c.reference = ODG_REF_NONE;
    odg_run *r = NULL;
    CHECK(odg_run_prepare(&r, &c, err) == ODG_OK, "prepare: %s", err);
    if (!r) {
        return;
    }
    CHECK(odg_run_model(r)->P == 4 * 2 + 4 + 2 * 4 + 2, "P");
    odg_run_record rec;
    CHECK(odg_run_execute(r, &rec, err) == ODG_OK, "execute: %s", err);
    CHECK(strcmp(rec.cell[ODG_COL_status].s, "oom") == 0, "status '%s'",
          rec.cell[ODG_COL_status].s);
    CHECK(rec.cell[ODG_COL_time_median_s].type == ODG_CELL_EMPTY, "no time for a refused run");
    CHECK(rec.cell[ODG_COL_theory_bytes].type == ODG_CELL_REAL &&
              rec.cell[ODG_COL_theory_bytes].x >= 192000,
          "theory bytes %g", rec.cell[ODG_COL_theory_bytes].x);
    CHECK(strstr(rec.message, "refused") != NULL, "message '%s'", rec.message);
    CHECK(rec.cell[ODG_COL_gflops].type == ODG_CELL_EMPTY &&
              rec.cell[ODG_COL_roofline_gflops].type == ODG_CELL_EMPTY &&
              rec.cell[ODG_COL_roofline_frac].type == ODG_CELL_EMPTY,
          "no rates for a refused run");
    CHECK(rec.cell[ODG_COL_blas_mode].type == ODG_CELL_STR, "blas_mode is configuration");
    odg_run_destroy(&r);
    CHECK(r == NULL, "destroy clears the pointer");
}

/* Runs c and returns its record (status ok expected). */
static int run_ok(const odg_run_config *c, odg_run_record *rec, double *f_flops, double *vjp_flops)
{
    char err[ODG_ERRLEN];
    odg_run *r = NULL;
    CHECK(odg_run_prepare(&r, c, err) == ODG_OK, "prepare: %s", err);
    if (!r) {
        return 0;
    }
    CHECK(odg_model_flops(odg_run_model(r), f_flops, vjp_flops) == ODG_OK, "flops");
    CHECK(odg_run_execute(r, rec, err) == ODG_OK, "execute: %s", err);
    odg_run_destroy(&r);
    CHECK(strcmp(rec->cell[ODG_COL_status].s, "ok") == 0, "status '%s': %s",
          rec->cell[ODG_COL_status].s, rec->message);
    return strcmp(rec->cell[ODG_COL_status].s, "ok") == 0;
}

static void test_rates(void)
{
    odg_run_config c;
    odg_run_config_default(&c);
    c.model.D = 3;
    c.model.H = 5;
    c.model.B = 4;
    c.steps = 6;
    c.repeat = 2;
    c.warmup = 0;
    c.threads = 1;
    c.reference = ODG_REF_NONE;
    c.grad.method = ODG_METHOD_CHECKPOINT_ADJOINT; /* recomputes: nfe_backward > 0 */
    odg_run_record rec;
    double f, v;
    if (run_ok(&c, &rec, &f, &v)) {
        const odg_cell *cl = rec.cell;
        /* docs/theory.md section 9: f = 4 B D H, the VJP 8 B D H plus the hidden layer again */
        CHECK(f == 4.0 * 4 * 3 * 5 && v == 10.0 * 4 * 3 * 5, "flops %g %g", f, v);
        CHECK(cl[ODG_COL_nfe_backward].i > 0 && cl[ODG_COL_nvjp].i > 0, "the counts");
        double want = ((double)(cl[ODG_COL_nfe_forward].i + cl[ODG_COL_nfe_backward].i) * f +
                       (double)cl[ODG_COL_nvjp].i * v) /
                      cl[ODG_COL_time_median_s].x / 1e9;
        CHECK(cl[ODG_COL_gflops].type == ODG_CELL_REAL && cl[ODG_COL_gflops].x > 0 &&
                  fabs(cl[ODG_COL_gflops].x - want) <= 1e-12 * want,
              "gflops %.17g, the row's own counts give %.17g", cl[ODG_COL_gflops].x, want);
        CHECK(cl[ODG_COL_roofline_gflops].type == ODG_CELL_REAL &&
                  cl[ODG_COL_roofline_gflops].x > 0,
              "a roofline was measured");
        CHECK(cl[ODG_COL_roofline_frac].type == ODG_CELL_REAL &&
                  cl[ODG_COL_roofline_frac].x ==
                      cl[ODG_COL_gflops].x / cl[ODG_COL_roofline_gflops].x,
              "roofline_frac = gflops / roofline_gflops");
        CHECK(strcmp(rec.roofline_source, "measured") == 0 && rec.roofline_s > 0,
              "source '%s', %g s", rec.roofline_source, rec.roofline_s);
        odg_blas_mode want_mode;
        CHECK(odg_blas_mode_resolve(ODG_BLAS_AUTO, &want_mode) == ODG_OK &&
                  strcmp(cl[ODG_COL_blas_mode].s, odg_blas_mode_name(want_mode)) == 0,
              "blas_mode '%s' for auto", cl[ODG_COL_blas_mode].s);
        CHECK(cl[ODG_COL_threads].i == 1 && cl[ODG_COL_blas_threads].i == 1, "one thread");
        char *js = odg_record_json(&rec);
        json_t *o = js ? json_loads(js, 0, NULL) : NULL;
        json_t *roof = json_object_get(json_object_get(o, "detail"), "roofline");
        CHECK(json_is_string(json_object_get(roof, "source")) &&
                  json_is_real(json_object_get(roof, "seconds")),
              "detail.roofline: %s", js ? js : "(none)");
        json_decref(o);
        free(js);
    }
    /* a rate given (as a sweep passes it) is recorded as it is, and not measured */
    c.roofline_gflops = 12.5;
    c.model.blas_mode = ODG_BLAS_THREADED;
    if (run_ok(&c, &rec, &f, &v)) {
        CHECK(rec.cell[ODG_COL_roofline_gflops].x == 12.5 &&
                  strcmp(rec.roofline_source, "given") == 0 && isnan(rec.roofline_s),
              "given: %g, '%s'", rec.cell[ODG_COL_roofline_gflops].x, rec.roofline_source);
        CHECK(rec.cell[ODG_COL_roofline_frac].x == rec.cell[ODG_COL_gflops].x / 12.5,
              "roofline_frac with the given rate");
        CHECK(strcmp(rec.cell[ODG_COL_blas_mode].s, "threaded") == 0, "blas_mode '%s'",
              rec.cell[ODG_COL_blas_mode].s);
    }
    odg_run_config_default(&c);
    c.roofline_gflops = -1;
    config_err(&c, "--roofline-gflops");
}

/* The fine reference is independent of what it measures: on the linear field, whose exact
 * gradient Van Loan's block exponential gives, it must converge and agree with that gradient.
 * dopri8 converged by halving h to a change below 1e-12 leaves a discretisation error of about
 * that change / (2^8 - 1), and the exponential itself is exact to a few ulps times its
 * condition, so 1e-11 leaves a hundredfold margin; the stated error (the distance to dopri5 at
 * tolerance 1e-13) must lie below the agreement bound, and the cache key must differ between
 * the two kinds and between thread counts. */
static void test_fine_reference(void)
{
    char dir[] = "/tmp/odg_ref_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    odg_run_config c;
    char err[ODG_ERRLEN];
    odg_run_config_default(&c);
    c.model.kind = ODG_MODEL_LINEAR;
    c.model.D = 4;
    c.model.B = 3;
    c.model.spectrum = ODG_SPECTRUM_SPIRAL;
    c.t1 = 2;
    c.threads = 1;
    c.cache_dir = dir;
    double *g[2] = {NULL, NULL};
    odg_ref_info ri[2];
    size_t n = 0;
    for (int k = 0; k < 2; k++) {
        c.reference = k ? ODG_REF_FINE : ODG_REF_ANALYTIC;
        odg_run *r = NULL;
        CHECK(odg_run_prepare(&r, &c, err) == ODG_OK, "prepare: %s", err);
        if (!r) {
            return;
        }
        n = odg_run_model(r)->P + 4 * 3;
        CHECK(odg_run_reference(r, &ri[k], &g[k], err) == ODG_OK, "reference: %s", err);
        odg_run_destroy(&r);
    }
    if (g[0] && g[1]) {
        double e = check_rel_diff(g[1], g[0], n);
        printf("fine reference (%s N=%ld, %s, stated error %.2e) against Van Loan: %.2e\n",
               ri[1].scheme, ri[1].N, ri[1].second, ri[1].error, e);
        CHECK(ri[1].converged == 1 && strcmp(ri[1].scheme, "dopri8") == 0, "fine converged");
        CHECK(e < 1e-11, "fine reference off the exact gradient by %.3e", e);
        CHECK(ri[1].error < ODG_REF_AGREE, "stated error %.3e", ri[1].error);
        CHECK(strcmp(ri[0].key, ri[1].key) != 0, "one key for two kinds");
    }
    free(g[0]);
    free(g[1]);
    /* another thread count is another cache entry (the bits may depend on it) */
    c.threads = 2;
    odg_run *r = NULL;
    odg_ref_info r2;
    if (odg_run_prepare(&r, &c, err) == ODG_OK) {
        CHECK(odg_run_reference(r, &r2, NULL, err) == ODG_OK, "reference: %s", err);
        CHECK(strcmp(r2.key, ri[1].key) != 0, "the thread count is not in the cache key");
    }
    odg_run_destroy(&r);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

int main(void)
{
    test_header();
    test_row_and_json();
    test_csv_check();
    test_config_check();
    test_refused();
    test_rates();
    test_fine_reference();
    return check_done("test_harness");
}
