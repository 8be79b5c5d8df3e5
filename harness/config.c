/* A run's configuration: the defaults of `odegrad run` (DESIGN.md) and the checks that need no
 * file: sizes, names, and combinations that do not exist.  Messages name the CLI's flags, so
 * that `odegrad run` can print them as they are; odg_grad_check (gradients/) has the last word on
 * the method-level combinations once the problem is built (odg_run_prepare). */
#include "harness_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const ref_names[] = {"auto", "analytic", "fine", "none"};

const char *odg_ref_kind_name(odg_ref_kind k)
{
    return (k >= 0 && k <= ODG_REF_NONE) ? ref_names[k] : "?";
}

odg_status odg_ref_kind_from_name(const char *name, odg_ref_kind *out)
{
    for (int k = 0; name && k <= ODG_REF_NONE; k++) {
        if (strcmp(name, ref_names[k]) == 0) {
            *out = (odg_ref_kind)k;
            return ODG_OK;
        }
    }
    return ODG_EINVAL;
}

void odg_run_config_default(odg_run_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->experiment, sizeof c->experiment, "%s", "adhoc");
    odg_model_opts_default(&c->model);
    c->model.kind = ODG_MODEL_MLP;
    c->model.D = 16;
    c->model.H = 64;
    c->model.B = 128;
    c->model.gain = 1.0;
    c->scheme = ODG_SCHEME_RK4;
    c->steps = 64;
    c->t1 = 1.0;
    odg_grad_opts_default(&c->grad, ODG_METHOD_BACKPROP);
    c->seed = 1;
    c->repeat = 3;
    c->warmup = 1;
    c->threads = 0;
    c->timeout_s = 0;
    c->mem_limit = ODG_MEM_AUTO;
    c->reference = ODG_REF_AUTO;
}

/* The methods that keep checkpoints, or interpolate z(t), as a list for messages. */
static void methods_with(char *buf, size_t cap, int (*pred)(odg_method))
{
    buf[0] = '\0';
    size_t len = 0;
    int n = 0;
    for (int m = 0; m < ODG_NMETHODS; m++) {
        if (pred((odg_method)m)) {
            int k = snprintf(buf + len, cap - len, "%s%s", n ? " and " : "",
                             odg_method_name((odg_method)m));
            if (k < 0 || (size_t)k >= cap - len) {
                return;
            }
            len += (size_t)k;
            n++;
        }
    }
}

static int keeps_checkpoints(odg_method m)
{
    return odg_method_storage(m) == ODG_STORAGE_CHECKPOINTS;
}

static int interpolates(odg_method m)
{
    return odg_method_kind(m) == ODG_KIND_CONTINUOUS && odg_method_storage(m) != ODG_STORAGE_NONE;
}

static int is_continuous(odg_method m)
{
    return odg_method_kind(m) == ODG_KIND_CONTINUOUS;
}

static odg_status check_experiment(const char *e, char err[ODG_ERRLEN])
{
    if (e[0] == '\0') {
        return odg_fail(err, ODG_EINVAL, "--experiment: the name is empty");
    }
    for (const char *p = e; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        /* the name is a CSV field: no separators, quotes or line breaks, nothing to escape */
        if (ch < 0x20 || ch > 0x7e || ch == ',' || ch == '"') {
            return odg_fail(err, ODG_EINVAL,
                            "--experiment: '%s' has a character other than printable ASCII without "
                            "',' and '\"'",
                            e);
        }
    }
    return ODG_OK;
}

odg_status odg_run_config_check(const odg_run_config *c, char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    if (!c) {
        return odg_fail(err, ODG_EINVAL, "no configuration");
    }
    char list[128];
    odg_status st = check_experiment(c->experiment, err);
    if (st != ODG_OK) {
        return st;
    }
    const odg_model_opts *mo = &c->model;
    if (mo->kind < 0 || mo->kind >= ODG_NMODELS) {
        return odg_fail(err, ODG_EINVAL, "--model: unknown model");
    }
    int mlp = mo->kind == ODG_MODEL_MLP;
    if (mo->D < 1 || mo->B < 1 || (mlp && mo->H < 1)) {
        return odg_fail(err, ODG_EINVAL, "--dim, --batch and --hidden must be positive");
    }
    if (!mlp && (c->given & ODG_GIVEN_HIDDEN)) {
        return odg_fail(err, ODG_EUNSUP, "--hidden applies only to --model mlp");
    }
    if (!mlp && (c->given & ODG_GIVEN_TIME_INPUT)) {
        return odg_fail(err, ODG_EUNSUP, "--time-input applies only to --model mlp");
    }
    if (mlp && (c->given & ODG_GIVEN_SPECTRUM)) {
        return odg_fail(err, ODG_EUNSUP, "--spectrum applies only to --model linear");
    }
    if (mlp && (c->given & ODG_GIVEN_STIFFNESS)) {
        return odg_fail(err, ODG_EUNSUP,
                        "--stiffness applies only to --model linear --spectrum stiff");
    }
    if (!mlp && (c->given & ODG_GIVEN_STIFFNESS) && mo->spectrum != ODG_SPECTRUM_STIFF) {
        return odg_fail(err, ODG_EUNSUP, "--stiffness applies only to --spectrum stiff, not %s",
                        odg_spectrum_name(mo->spectrum));
    }
    if (!isfinite(mo->gain) || !(mo->gain > 0)) {
        return odg_fail(err, ODG_EINVAL, "--gain must be a positive number");
    }
    if (!isfinite(mo->stiffness) || !(mo->stiffness >= 1)) {
        return odg_fail(err, ODG_EINVAL, "--stiffness must be a number >= 1");
    }
    if (!isfinite(c->t1) || !(c->t1 > 0)) {
        return odg_fail(err, ODG_EINVAL, "--t1 must be a positive number");
    }
    if (c->scheme < 0 || c->scheme >= ODG_NSCHEMES) {
        return odg_fail(err, ODG_EINVAL, "--scheme: unknown scheme");
    }
    int adaptive_given = (c->given & (ODG_GIVEN_RTOL | ODG_GIVEN_ATOL)) != 0;
    if ((c->given & ODG_GIVEN_STEPS) && adaptive_given) {
        return odg_fail(err, ODG_EUNSUP,
                        "--steps and --rtol/--atol exclude each other (fixed or adaptive steps)");
    }
    if (c->steps < 0 || (c->steps == 0 && !(c->rtol > 0 || c->atol > 0))) {
        return odg_fail(err, ODG_EINVAL, "--steps must be a positive integer");
    }
    if (c->steps == 0) {
        if (!isfinite(c->rtol) || !isfinite(c->atol) || c->rtol < 0 || c->atol < 0) {
            return odg_fail(err, ODG_EINVAL, "--rtol and --atol must be positive numbers");
        }
        if (!odg_tableau_adaptive(odg_scheme_tableau(c->scheme))) {
            return odg_fail(err, ODG_EUNSUP,
                            "--rtol/--atol need an adaptive scheme (bosh3, dopri5, tsit5), not %s",
                            odg_scheme_name(c->scheme));
        }
    }
    const odg_grad_opts *g = &c->grad;
    if (g->method < 0 || g->method >= ODG_NMETHODS) {
        return odg_fail(err, ODG_EINVAL, "--method: unknown method");
    }
    const char *mname = odg_method_name(g->method);
    if ((c->given & ODG_GIVEN_SCHEDULE) && !keeps_checkpoints(g->method)) {
        methods_with(list, sizeof list, keeps_checkpoints);
        return odg_fail(err, ODG_EUNSUP, "--schedule applies only to %s, not %s", list, mname);
    }
    if ((c->given & ODG_GIVEN_CHECKPOINTS) && !keeps_checkpoints(g->method)) {
        methods_with(list, sizeof list, keeps_checkpoints);
        return odg_fail(err, ODG_EUNSUP, "--checkpoints applies only to %s, not %s", list, mname);
    }
    if (g->checkpoints < 0 || ((c->given & ODG_GIVEN_CHECKPOINTS) && g->checkpoints < 1)) {
        return odg_fail(err, ODG_EINVAL, "--checkpoints must be a positive integer");
    }
    if ((c->given & ODG_GIVEN_INTERP) && !interpolates(g->method)) {
        methods_with(list, sizeof list, interpolates);
        return odg_fail(err, ODG_EUNSUP, "--interp applies only to %s, not %s", list, mname);
    }
    if ((c->given & (ODG_GIVEN_ADJ_RTOL | ODG_GIVEN_ADJ_ATOL)) && !is_continuous(g->method)) {
        return odg_fail(err, ODG_EUNSUP,
                        "--adj-rtol/--adj-atol apply only to continuous adjoints, not %s", mname);
    }
    if (!isfinite(g->adj_rtol) || !isfinite(g->adj_atol) || g->adj_rtol < 0 || g->adj_atol < 0) {
        return odg_fail(err, ODG_EINVAL, "--adj-rtol and --adj-atol must be positive numbers");
    }
    if (c->repeat < 1) {
        return odg_fail(err, ODG_EINVAL, "--repeat must be a positive integer");
    }
    if (c->warmup < 0) {
        return odg_fail(err, ODG_EINVAL, "--warmup must be a non-negative integer");
    }
    if (c->threads < 0) {
        return odg_fail(err, ODG_EINVAL, "--threads must be a positive integer");
    }
    if (!isfinite(c->roofline_gflops) || c->roofline_gflops < 0) {
        return odg_fail(err, ODG_EINVAL, "--roofline-gflops must be a positive number");
    }
    if (!isfinite(c->timeout_s) || c->timeout_s < 0) {
        return odg_fail(err, ODG_EINVAL, "--timeout must be a positive number of seconds");
    }
    if (c->seed > (uint64_t)INT64_MAX) {
        return odg_fail(err, ODG_EINVAL, "--seed must be at most 2^63 - 1");
    }
    if (c->reference < 0 || c->reference > ODG_REF_NONE) {
        return odg_fail(err, ODG_EINVAL, "--reference: unknown kind");
    }
    if (c->reference == ODG_REF_ANALYTIC && mo->kind != ODG_MODEL_LINEAR) {
        return odg_fail(err, ODG_EUNSUP,
                        "--reference analytic exists only for --model linear (use fine or auto)");
    }
    const char *dirs[3] = {c->load_dir, c->save_grad_dir, c->save_problem_dir};
    const char *flags[3] = {"--load", "--save-grad", "--save-problem"};
    for (int k = 0; k < 3; k++) {
        if (dirs[k] && dirs[k][0] == '\0') {
            return odg_fail(err, ODG_EINVAL, "%s: the directory name is empty", flags[k]);
        }
    }
    return ODG_OK;
}
