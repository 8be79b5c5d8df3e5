/* The options of a run's configuration (options.def): parsing, formatting, comparing, the rules
 * of where each option applies, the defaults and the checks.  Everything that knows what an
 * option is reads it from the table; the CLI and the sweep layer add only their own syntax.
 * Messages are in the library's words; odg_run_config_check names an option by its flag. */
#include "harness_impl.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the table ---------------------------------------------------------------------------- */

static const odg_option_info options[] = {
#define ODG_OPTION(id, flag, field, type, list, lo, hi, dflt, column, rule, use, group, meta,      \
                   help)                                                                           \
    {flag, #field,           ODG_OPTTYPE_##type, list,          (double)(lo), (double)(hi),        \
     dflt, ODG_COL_##column, ODG_RULE_##rule,    ODG_USE_##use, group,        meta,                \
     help},
#define ODG_COL_NONE (-1)
#define ODG_USE_SWEEP 1
#define ODG_USE_RUN 0
#include "odegrad/options.def"
#undef ODG_OPTION
};

const odg_option_info *odg_option_get(odg_option o)
{
    return (o >= 0 && o < ODG_NOPTIONS) ? &options[o] : NULL;
}

int odg_option_find(const char *name)
{
    for (int o = 0; name && o < ODG_NOPTIONS; o++) {
        if (strcmp(options[o].flag, name) == 0 ||
            (options[o].column >= 0 && strcmp(odg_column_name(options[o].column), name) == 0)) {
            return o;
        }
    }
    return -1;
}

/* A value of any option type, and one getter and one setter per option, generated: the
 * conversions are C's own between the field's type and these. */
typedef struct {
    long long i;          /* INT, NAME (index), FLAG */
    unsigned long long u; /* BYTES */
    double x;             /* REAL, REAL1 */
    const char *s;        /* TEXT */
} optval;

#define GET_INT(f) v->i = (long long)c->f
#define GET_REAL(f) v->x = c->f
#define GET_REAL1(f) v->x = c->f
#define GET_NAME(f) v->i = (long long)c->f
#define GET_BYTES(f) v->u = (unsigned long long)c->f
#define GET_FLAG(f) v->i = c->f
#define GET_TEXT(f) v->s = c->f
#define PUT_INT(f) c->f = v->i
#define PUT_REAL(f) c->f = v->x
#define PUT_REAL1(f) c->f = v->x
#define PUT_NAME(f) c->f = v->i
#define PUT_BYTES(f) c->f = v->u
#define PUT_FLAG(f) c->f = (int)v->i
#define PUT_TEXT(f) c->f = v->s
#define ODG_OPTION(id, flag, field, type, list, lo, hi, dflt, column, rule, use, group, meta,      \
                   help)                                                                           \
    static void get_##id(const odg_run_config *c, optval *v)                                       \
    {                                                                                              \
        GET_##type(field);                                                                         \
    }                                                                                              \
    static void put_##id(odg_run_config *c, const optval *v)                                       \
    {                                                                                              \
        PUT_##type(field);                                                                         \
    }
#include "odegrad/options.def"
#undef ODG_OPTION

static void (*const getters[])(const odg_run_config *, optval *) = {
#define ODG_OPTION(id, ...) get_##id,
#include "odegrad/options.def"
#undef ODG_OPTION
};
static void (*const putters[])(odg_run_config *, const optval *) = {
#define ODG_OPTION(id, ...) put_##id,
#include "odegrad/options.def"
#undef ODG_OPTION
};

static optval get(const odg_run_config *c, odg_option o)
{
    optval v = {0, 0, 0.0, NULL};
    getters[o](c, &v);
    return v;
}

#define GIVEN(o) ((uint64_t)1 << (o))

/* ---- the name lists ----------------------------------------------------------------------- */

static const char *const ref_names[] = {"auto", "analytic", "fine", "none"};
static const char *const ref_descs[] = {
    "analytic for linear, fine for mlp",
    "exact continuous gradient by Van Loan's block exponential (linear only)",
    "discrete-exact gradient of RK4 at N_fine = 1024, 2048, ... until halving h changes it "
    "by < 1e-12 (cached)",
    "no reference: err_vs_reference stays empty",
};

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

/* Each list's count, names and descriptions through the layer's own *_name / *_desc. */
#define LIST(what, n, namefn, descfn, T)                                                           \
    static int what##_count(void)                                                                  \
    {                                                                                              \
        return (n);                                                                                \
    }                                                                                              \
    static const char *what##_name(int i)                                                          \
    {                                                                                              \
        return namefn((T)i);                                                                       \
    }                                                                                              \
    static const char *what##_desc(int i)                                                          \
    {                                                                                              \
        return descfn((T)i);                                                                       \
    }
static const char *ref_desc(odg_ref_kind k)
{
    return (k >= 0 && k <= ODG_REF_NONE) ? ref_descs[k] : "?";
}
LIST(models, ODG_NMODELS, odg_model_kind_name, odg_model_kind_desc, odg_model_kind)
LIST(schemes, ODG_NSCHEMES, odg_scheme_name, odg_scheme_desc, odg_scheme)
LIST(methods, ODG_NMETHODS, odg_method_name, odg_method_desc, odg_method)
LIST(schedules, ODG_NSCHEDULES, odg_schedule_name, odg_schedule_desc, odg_schedule)
LIST(interps, ODG_NINTERPS, odg_interp_name, odg_interp_desc, odg_interp)
LIST(spectra, ODG_NSPECTRA, odg_spectrum_name, odg_spectrum_desc, odg_spectrum)
LIST(blas, ODG_NBLAS_MODES, odg_blas_mode_name, odg_blas_mode_desc, odg_blas_mode)
LIST(traces, ODG_NTRACES, odg_trace_name, odg_trace_desc, odg_trace)
LIST(datasets, ODG_NDATASETS, odg_dataset_name, odg_dataset_desc, odg_dataset)
LIST(refs, ODG_REF_NONE + 1, odg_ref_kind_name, ref_desc, odg_ref_kind)
LIST(solvers, ODG_NSOLVERS, odg_solver_name, odg_solver_desc, odg_solver)
LIST(lmms, ODG_NLMMS, odg_lmm_name, odg_lmm_desc, odg_lmm)
#undef LIST

const odg_list odg_lists[] = {
    {"models", "model", models_count, models_name, models_desc},
    {"schemes", "scheme", schemes_count, schemes_name, schemes_desc},
    {"methods", "method", methods_count, methods_name, methods_desc},
    {"schedules", "schedule", schedules_count, schedules_name, schedules_desc},
    {"interpolations", "interp", interps_count, interps_name, interps_desc},
    {"spectra", "spectrum", spectra_count, spectra_name, spectra_desc},
    {"blas-modes", "blas-mode", blas_count, blas_name, blas_desc},
    {"traces", "trace", traces_count, traces_name, traces_desc},
    {"datasets", "data", datasets_count, datasets_name, datasets_desc}, /* or a .npy file */
    {"references", "reference", refs_count, refs_name, refs_desc},
    {"solvers", "solver", solvers_count, solvers_name, solvers_desc},
    {"lmms", "lmm", lmms_count, lmms_name, lmms_desc},
};
const int odg_nlists = (int)(sizeof odg_lists / sizeof odg_lists[0]);

const odg_list *odg_list_find(const char *what)
{
    for (int k = 0; what && k < odg_nlists; k++) {
        if (strcmp(odg_lists[k].what, what) == 0 ||
            (odg_lists[k].flag && strcmp(odg_lists[k].flag, what) == 0)) {
            return &odg_lists[k];
        }
    }
    return NULL;
}

int odg_list_index(const odg_list *l, const char *name)
{
    int n = l->count();
    for (int i = 0; name && i < n; i++) {
        if (strcmp(l->name(i), name) == 0) {
            return i;
        }
    }
    return -1;
}

void odg_list_names(const odg_list *l, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    int n = l->count();
    for (int i = 0; i < n; i++) {
        int k = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", l->name(i));
        if (k < 0 || (size_t)k >= cap - len) {
            return;
        }
        len += (size_t)k;
    }
}

/* ---- parsing and formatting --------------------------------------------------------------- */

/* A plain decimal integer: digits only (no sign, no spaces, no 0x). */
static int digits_only(const char *s)
{
    if (!*s) {
        return 0;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return 0;
        }
    }
    return 1;
}

/* A finite decimal number, the whole text (strtod's hex floats, inf and nan refused). */
static int parse_real(const char *text, double *out)
{
    if (!*text || strpbrk(text, "xXnNiI \t") != NULL) {
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (*end != '\0' || end == text || !isfinite(v) || errno == ERANGE) {
        return -1;
    }
    *out = v;
    return 0;
}

/* BYTES with an optional binary suffix (K, M, G, T, with or without "iB"), "auto" or "none". */
static odg_status parse_bytes(const char *text, unsigned long long *out, char err[ODG_ERRLEN])
{
    if (strcmp(text, "auto") == 0) {
        *out = ODG_MEM_AUTO;
        return ODG_OK;
    }
    if (strcmp(text, "none") == 0) {
        *out = ODG_MEM_NONE;
        return ODG_OK;
    }
    static const struct {
        const char *suffix;
        double scale;
    } units[] = {{"", 1},         {"B", 1},      {"K", 0x1p10},   {"KiB", 0x1p10},
                 {"k", 0x1p10},   {"M", 0x1p20}, {"MiB", 0x1p20}, {"G", 0x1p30},
                 {"GiB", 0x1p30}, {"T", 0x1p40}, {"TiB", 0x1p40}};
    char num[64];
    size_t k = strspn(text, "0123456789.");
    double v;
    if (k > 0 && k < sizeof num) {
        memcpy(num, text, k);
        num[k] = '\0';
        for (size_t u = 0; parse_real(num, &v) == 0 && u < sizeof units / sizeof units[0]; u++) {
            if (strcmp(text + k, units[u].suffix) == 0) {
                double b = floor(v * units[u].scale);
                if (!(b >= 1)) {
                    break;
                }
                if (b >= 0x1p62) {
                    return odg_fail(err, ODG_EINVAL, "'%s' is too large", text);
                }
                *out = (unsigned long long)b;
                return ODG_OK;
            }
        }
    }
    return odg_fail(err, ODG_EINVAL,
                    "'%s' is not a size in bytes (e.g. 2000000000, 512M, 4G), auto or none", text);
}

/* The experiment's name is a CSV field and part of file names: printable ASCII without
 * separators, quotes or slashes. */
static odg_status check_name(const char *s, char err[ODG_ERRLEN])
{
    if (strlen(s) >= ODG_NAME_LEN) {
        return odg_fail(err, ODG_EINVAL, "'%s' is longer than %d characters", s, ODG_NAME_LEN - 1);
    }
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch > 0x7e || ch == ',' || ch == '"' || ch == '/') {
            return odg_fail(err, ODG_EINVAL,
                            "'%s' has a character other than printable ASCII without spaces, "
                            "',', '\"' and '/'",
                            s);
        }
    }
    return ODG_OK;
}

/* --data: a toy density's name, or a .npy file whose path fits the record's cell. */
static odg_status check_data(const char *s, char err[ODG_ERRLEN])
{
    odg_dataset k;
    if (odg_dataset_from_name(s, &k) == ODG_OK) {
        return ODG_OK;
    }
    size_t n = strlen(s);
    if (n < 4 || strcmp(s + n - 4, ".npy") != 0) {
        return odg_fail(err, ODG_EINVAL, "'%s' is not one of moons, 8gaussians, checkerboard or a "
                        ".npy file", s);
    }
    if (n >= ODG_CELL_STRLEN) {
        return odg_fail(err, ODG_EINVAL, "'%s' is longer than the record's %d characters", s,
                        ODG_CELL_STRLEN - 1);
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == ',' || *p == '"') {
            return odg_fail(err, ODG_EINVAL, "'%s' has a character other than printable ASCII "
                            "without ',' and '\"'", s);
        }
    }
    return ODG_OK;
}

/* Whether an option's value v is in its range; why says what is expected. */
static int in_range(const odg_option_info *in, const optval *v, const char **why)
{
    switch (in->type) {
    case ODG_OPTTYPE_INT:
        *why = in->lo > 0 ? "a positive integer" : "a non-negative integer";
        return v->i >= (long long)in->lo && (double)v->i <= in->hi;
    case ODG_OPTTYPE_REAL: {
        static _Thread_local char bounded[64];
        if (in->hi > 0) {
            snprintf(bounded, sizeof bounded, "a number in (%g, %g]", in->lo, in->hi);
        }
        *why = in->hi > 0 ? bounded : "a positive number";
        return isfinite(v->x) && v->x > in->lo && (in->hi == 0 || v->x <= in->hi);
    }
    case ODG_OPTTYPE_REAL1:
        *why = "a number >= 1";
        return isfinite(v->x) && v->x >= in->lo;
    case ODG_OPTTYPE_NAME: {
        *why = "a known name";
        const odg_list *l = odg_list_find(in->list);
        return v->i >= 0 && l && v->i < l->count();
    }
    case ODG_OPTTYPE_FLAG:
        *why = "0 or 1";
        return v->i == 0 || v->i == 1;
    case ODG_OPTTYPE_TEXT:
        *why = "a non-empty name";
        return v->s && v->s[0];
    default:
        *why = "";
        return 1;
    }
}

/* --model plugin:PATH: the kind PLUGIN with the path (not copied: text must outlive c, as for
 * every TEXT option).  The record's model column holds "plugin:PATH", so the path must fit it.
 * Any other text leaves c as it was, the plugin path cleared. */
static odg_status set_plugin(odg_run_config *c, const char *text, char err[ODG_ERRLEN])
{
    static const char pre[] = "plugin:";
    const size_t npre = sizeof pre - 1;
    if (strcmp(text, "plugin") == 0) {
        return odg_fail(err, ODG_EINVAL, "'plugin' needs the shared object's path: plugin:PATH");
    }
    if (strncmp(text, pre, npre) != 0) {
        c->model.plugin = NULL;
        return ODG_OK;
    }
    if (text[npre] == '\0') {
        return odg_fail(err, ODG_EINVAL, "'%s' names no file: plugin:PATH", text);
    }
    if (strlen(text) >= ODG_CELL_STRLEN) {
        return odg_fail(err, ODG_EINVAL,
                        "'%s' is longer than the record's %d characters (use a shorter or "
                        "relative path)",
                        text, ODG_CELL_STRLEN - 1);
    }
    for (const char *p = text; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch > 0x7e || ch == ',' || ch == '"') {
            return odg_fail(err, ODG_EINVAL,
                            "'%s' has a character other than printable ASCII without ',' and '\"' "
                            "(the record's CSV field)",
                            text);
        }
    }
    c->model.kind = ODG_MODEL_PLUGIN;
    c->model.plugin = text + npre;
    c->given |= GIVEN(ODG_OPT_MODEL);
    return ODG_OK;
}

odg_status odg_option_set(odg_run_config *c, odg_option o, const char *text, char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    const odg_option_info *in = odg_option_get(o);
    if (!c || !in || !text) {
        return odg_fail(err, ODG_EINVAL, "odg_option_set: no configuration, option or text");
    }
    optval v = {0, 0, 0.0, NULL};
    const char *why = "";
    switch (in->type) {
    case ODG_OPTTYPE_INT: {
        if (!digits_only(text)) {
            in_range(in, &v, &why);
            return odg_fail(err, ODG_EINVAL, "'%s' is not %s", text, why);
        }
        errno = 0;
        unsigned long long u = strtoull(text, NULL, 10);
        if (errno == ERANGE || (double)u > in->hi) {
            return odg_fail(err, ODG_EINVAL, "'%s' is too large (at most %.0f)", text, in->hi);
        }
        v.i = (long long)u;
        break;
    }
    case ODG_OPTTYPE_REAL:
    case ODG_OPTTYPE_REAL1:
        if (parse_real(text, &v.x) != 0) {
            in_range(in, &v, &why);
            return odg_fail(err, ODG_EINVAL, "'%s' is not %s", text, why);
        }
        break;
    case ODG_OPTTYPE_NAME: {
        const odg_list *l = odg_list_find(in->list);
        if (o == ODG_OPT_MODEL) {
            odg_status st = set_plugin(c, text, err);
            if (st != ODG_OK || c->model.kind == ODG_MODEL_PLUGIN) {
                return st;
            }
        }
        v.i = odg_list_index(l, text);
        if (v.i < 0) {
            char names[512];
            odg_list_names(l, names, sizeof names);
            return odg_fail(err, ODG_EINVAL, "'%s' is not one of %s", text, names);
        }
        break;
    }
    case ODG_OPTTYPE_BYTES: {
        odg_status st = parse_bytes(text, &v.u, err);
        if (st != ODG_OK) {
            return st;
        }
        break;
    }
    case ODG_OPTTYPE_FLAG:
        if (!*text || !strcmp(text, "yes") || !strcmp(text, "true") || !strcmp(text, "1")) {
            v.i = 1;
        } else if (!strcmp(text, "no") || !strcmp(text, "false") || !strcmp(text, "0")) {
            v.i = 0;
        } else {
            return odg_fail(err, ODG_EINVAL, "'%s' is not yes or no", text);
        }
        break;
    case ODG_OPTTYPE_TEXT:
        if (!*text) {
            return odg_fail(err, ODG_EINVAL, "the name is empty");
        }
        if (o == ODG_OPT_EXPERIMENT) {
            odg_status st = check_name(text, err);
            if (st != ODG_OK) {
                return st;
            }
        }
        if (o == ODG_OPT_DATA) {
            odg_status st = check_data(text, err);
            if (st != ODG_OK) {
                return st;
            }
        }
        v.s = text;
        break;
    }
    if (!in_range(in, &v, &why)) {
        return odg_fail(err, ODG_EINVAL, "'%s' is not %s", text, why);
    }
    putters[o](c, &v);
    c->given |= GIVEN(o);
    return ODG_OK;
}

void odg_option_reset(odg_run_config *c, odg_option o)
{
    odg_run_config d;
    odg_run_config_default(&d);
    optval v = get(&d, o);
    putters[o](c, &v);
    if (o == ODG_OPT_MODEL) {
        c->model.plugin = NULL;
    }
    c->given &= ~GIVEN(o);
}

int odg_option_format(const odg_run_config *c, odg_option o, char *buf, size_t cap)
{
    const odg_option_info *in = odg_option_get(o);
    if (!in || !buf || cap == 0) {
        return -1;
    }
    optval v = get(c, o);
    int k;
    switch (in->type) {
    case ODG_OPTTYPE_INT:
    case ODG_OPTTYPE_FLAG:
        k = snprintf(buf, cap, "%lld", v.i);
        break;
    case ODG_OPTTYPE_REAL:
    case ODG_OPTTYPE_REAL1:
        return odg_fmt_real(buf, cap, v.x);
    case ODG_OPTTYPE_NAME: {
        const odg_list *l = odg_list_find(in->list);
        if (o == ODG_OPT_MODEL && v.i == ODG_MODEL_PLUGIN) {
            k = snprintf(buf, cap, "plugin:%s", c->model.plugin ? c->model.plugin : "");
            break;
        }
        k = snprintf(buf, cap, "%s", l && v.i >= 0 && v.i < l->count() ? l->name((int)v.i) : "?");
        break;
    }
    case ODG_OPTTYPE_BYTES:
        k = v.u == ODG_MEM_AUTO   ? snprintf(buf, cap, "auto")
            : v.u == ODG_MEM_NONE ? snprintf(buf, cap, "none")
                                  : snprintf(buf, cap, "%llu", v.u);
        break;
    default:
        k = snprintf(buf, cap, "%s", v.s ? v.s : "");
        break;
    }
    if (k < 0 || (size_t)k >= cap) {
        buf[0] = '\0';
        return -1;
    }
    return k;
}

int odg_option_equal(const odg_run_config *a, const odg_run_config *b, odg_option o)
{
    const odg_option_info *in = odg_option_get(o);
    if (!in) {
        return 0;
    }
    optval x = get(a, o), y = get(b, o);
    switch (in->type) {
    case ODG_OPTTYPE_REAL:
    case ODG_OPTTYPE_REAL1:
        return x.x == y.x;
    case ODG_OPTTYPE_BYTES:
        return x.u == y.u;
    case ODG_OPTTYPE_TEXT:
        return strcmp(x.s ? x.s : "", y.s ? y.s : "") == 0;
    default:
        if (o == ODG_OPT_MODEL && x.i == ODG_MODEL_PLUGIN && y.i == ODG_MODEL_PLUGIN) {
            const char *pa = a->model.plugin, *pb = b->model.plugin;
            return strcmp(pa ? pa : "", pb ? pb : "") == 0;
        }
        return x.i == y.i;
    }
}

/* ---- where an option applies -------------------------------------------------------------- */

/* The names of list l whose index satisfies pred, "a, b" into buf. */
static void names_where(char *buf, size_t cap, int n, const char *(*name)(int), int (*pred)(int))
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (pred(i)) {
            int k = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", name(i));
            if (k < 0 || (size_t)k >= cap - len) {
                return;
            }
            len += (size_t)k;
        }
    }
}

static int scheme_adaptive(int s)
{
    return odg_tableau_adaptive(odg_scheme_tableau((odg_scheme)s));
}
static int method_checkpoints(int m)
{
    return odg_method_keeps_checkpoints((odg_method)m);
}
static int method_interp(int m)
{
    return odg_method_interpolates((odg_method)m);
}
static int model_with_activations(int k)
{
    return odg_model_kind_has_activations((odg_model_kind)k);
}
static int method_discrete(int m)
{
    return odg_method_kind((odg_method)m) == ODG_KIND_DISCRETE;
}

static int method_adjoint(int m)
{
    return odg_method_adaptive_adjoint((odg_method)m);
}

/* The options of odegrad's own engine that a peer has no use for (docs/experiments.md, "Peers"):
 * PyTorch has its own threads and none of the checkpointing methods; CVODES chooses its own
 * steps and order, keeps its own checkpoints and takes the forward tolerances for its adjoint
 * (it calls the model's f and VJP, so the model's BLAS mode and chunks are its too). */
static int peer_ignores(odg_solver s, odg_option o)
{
    switch (s) {
    case ODG_SOLVER_TORCH:
        return o == ODG_OPT_BLAS_MODE || o == ODG_OPT_BATCH_CHUNK || o == ODG_OPT_SCHEDULE ||
               o == ODG_OPT_CHECKPOINTS || o == ODG_OPT_INTERP || o == ODG_OPT_ADJ_SEMINORM ||
               o == ODG_OPT_KEEP_ACTIVATIONS;
    case ODG_SOLVER_CVODES:
        return o == ODG_OPT_SCHEME || o == ODG_OPT_STEPS || o == ODG_OPT_SCHEDULE ||
               o == ODG_OPT_CHECKPOINTS || o == ODG_OPT_INTERP || o == ODG_OPT_ADJ_RTOL ||
               o == ODG_OPT_ADJ_ATOL || o == ODG_OPT_ADJ_SEMINORM ||
               o == ODG_OPT_KEEP_ACTIVATIONS;
    default:
        return 0;
    }
}

int odg_option_applies(const odg_run_config *c, odg_option o, char why[ODG_ERRLEN])
{
    const odg_option_info *in = odg_option_get(o);
    if (!in || !c) {
        return 0;
    }
    if (peer_ignores(c->solver, o)) {
        if (why) {
            char list[64] = "";
            for (int k = 0; k < ODG_NSOLVERS; k++) {
                if (!peer_ignores((odg_solver)k, o)) {
                    size_t len = strlen(list);
                    odg_fmt(list + len, sizeof list - len, "%s%s", len ? ", " : "",
                            odg_solver_name((odg_solver)k));
                }
            }
            odg_fmt(why, ODG_ERRLEN, "applies only to --solver %s, not %s", list,
                    odg_solver_name(c->solver));
        }
        return 0;
    }
    const odg_model_kind model = c->model.kind;
    const odg_method m = c->grad.method;
    const odg_scheme s = c->scheme;
    const char *mname = odg_method_name(m), *sname = odg_scheme_name(s);
    char list[256];
    int ok = 1;
    switch (in->rule) {
    case ODG_RULE_ALWAYS:
        return 1;
    case ODG_RULE_MLP:
        ok = model == ODG_MODEL_MLP;
        if (!ok && why) {
            odg_fmt(why, ODG_ERRLEN, "applies only to the mlp model, not %s",
                    odg_model_kind_name(model));
        }
        break;
    case ODG_RULE_HIDDEN:
        ok = model == ODG_MODEL_MLP || model == ODG_MODEL_CNF;
        if (!ok && why) {
            odg_fmt(why, ODG_ERRLEN, "applies only to the mlp and cnf models, not %s",
                    odg_model_kind_name(model));
        }
        break;
    case ODG_RULE_CNF:
        ok = model == ODG_MODEL_CNF;
        if (!ok && why) {
            odg_fmt(why, ODG_ERRLEN, "applies only to the cnf model, not %s",
                    odg_model_kind_name(model));
        }
        break;
    case ODG_RULE_WEIGHTED:
        ok = model != ODG_MODEL_CNF;
        if (!ok && why) {
            odg_fmt(why, ODG_ERRLEN,
                    "applies only to models whose loss weighs the states, sum(w .* z) / B, not "
                    "cnf (its loss is the data's negative log-likelihood at t1)");
        }
        break;
    case ODG_RULE_LINEAR:
        ok = model == ODG_MODEL_LINEAR;
        if (!ok && why) {
            odg_fmt(why, ODG_ERRLEN, "applies only to the linear model, not %s",
                    odg_model_kind_name(model));
        }
        break;
    case ODG_RULE_STIFF:
        ok = model == ODG_MODEL_LINEAR && c->model.spectrum == ODG_SPECTRUM_STIFF;
        if (!ok && why) {
            odg_fmt(why, ODG_ERRLEN,
                    "applies only to the linear model's stiff spectrum, not %s%s%s",
                    odg_model_kind_name(model), model == ODG_MODEL_LINEAR ? " " : "",
                    model == ODG_MODEL_LINEAR ? odg_spectrum_name(c->model.spectrum) : "");
        }
        break;
    case ODG_RULE_FIXED:
        ok = !(c->rtol > 0 || c->atol > 0);
        if (!ok && why) {
            odg_fmt(why, ODG_ERRLEN,
                    "applies only to fixed steps, not to adaptive ones (a forward tolerance: rtol, "
                    "atol)");
        }
        break;
    case ODG_RULE_ADAPTIVE:
        /* CVODES controls its own error, whatever --scheme says */
        ok = c->solver == ODG_SOLVER_CVODES || (s >= 0 && s < ODG_NSCHEMES && scheme_adaptive(s));
        if (!ok && why) {
            names_where(list, sizeof list, ODG_NSCHEMES, schemes_name, scheme_adaptive);
            odg_fmt(why, ODG_ERRLEN, "applies only to schemes with an error estimate (%s), not %s",
                    list, sname);
        }
        break;
    case ODG_RULE_CHECKPOINTS:
        ok = odg_method_keeps_checkpoints(m);
        if (!ok && why) {
            names_where(list, sizeof list, ODG_NMETHODS, methods_name, method_checkpoints);
            odg_fmt(why, ODG_ERRLEN, "applies only to methods that keep checkpoints (%s), not %s",
                    list, mname);
        }
        break;
    case ODG_RULE_INTERP:
        ok = odg_method_interpolates(m);
        if (!ok && why) {
            names_where(list, sizeof list, ODG_NMETHODS, methods_name, method_interp);
            odg_fmt(why, ODG_ERRLEN,
                    "applies only to continuous adjoints that interpolate z(t) (%s), not %s", list,
                    mname);
        }
        break;
    case ODG_RULE_REVERSIBLE:
        ok = m == ODG_METHOD_REVERSIBLE;
        if (!ok && why) {
            odg_fmt(why, ODG_ERRLEN, "applies only to the reversible method, not %s", mname);
        }
        break;
    case ODG_RULE_BACKSOLVE:
        ok = m == ODG_METHOD_BACKSOLVE_ADJOINT;
        if (!ok && why) {
            odg_fmt(why, ODG_ERRLEN, "applies only to backsolve-adjoint, not %s", mname);
        }
        break;
    case ODG_RULE_KEEP_ACT:
        ok = method_discrete(m) && odg_model_kind_has_activations(model);
        if (!ok && why) {
            names_where(list, sizeof list, ODG_NMETHODS, methods_name, method_discrete);
            if (!method_discrete(m)) {
                odg_fmt(why, ODG_ERRLEN,
                        "applies only to the discrete methods (%s), not %s: a continuous adjoint "
                        "evaluates its VJPs at points the forward pass never computed",
                        list, mname);
            } else {
                names_where(list, sizeof list, ODG_NMODELS, models_name,
                            model_with_activations);
                odg_fmt(why, ODG_ERRLEN,
                        "applies only to the %s model (hidden activations to keep), not %s", list,
                        odg_model_kind_name(model));
            }
        }
        break;
    case ODG_RULE_ADJ_TOL:
        ok = odg_method_adaptive_adjoint(m) && s >= 0 && s < ODG_NSCHEMES && scheme_adaptive(s);
        if (!ok && why) {
            if (!odg_method_adaptive_adjoint(m)) {
                names_where(list, sizeof list, ODG_NMETHODS, methods_name, method_adjoint);
                odg_fmt(why, ODG_ERRLEN,
                        "applies only to methods that can take their own adaptive adjoint steps "
                        "(%s), not %s (it replays the forward steps)",
                        list, mname);
            } else {
                names_where(list, sizeof list, ODG_NSCHEMES, schemes_name, scheme_adaptive);
                odg_fmt(why, ODG_ERRLEN, "needs a scheme with an error estimate (%s), not %s", list,
                        sname);
            }
        }
        break;
    case ODG_RULE_CVODES:
        ok = c->solver == ODG_SOLVER_CVODES;
        if (!ok && why) {
            odg_fmt(why, ODG_ERRLEN, "applies only to --solver cvodes, not %s",
                    odg_solver_name(c->solver));
        }
        break;
    }
    if (ok && why) {
        why[0] = '\0';
    }
    return ok;
}

void odg_option_where(odg_option o, char *buf, size_t cap)
{
    const odg_option_info *in = odg_option_get(o);
    char list[256] = "";
    buf[0] = '\0';
    switch (in ? in->rule : ODG_RULE_ALWAYS) {
    case ODG_RULE_ALWAYS:
        return;
    case ODG_RULE_MLP:
        snprintf(buf, cap, "mlp");
        return;
    case ODG_RULE_LINEAR:
        snprintf(buf, cap, "linear");
        return;
    case ODG_RULE_HIDDEN:
        snprintf(buf, cap, "mlp, cnf");
        return;
    case ODG_RULE_CNF:
        snprintf(buf, cap, "cnf");
        return;
    case ODG_RULE_WEIGHTED:
        snprintf(buf, cap, "every model but cnf");
        return;
    case ODG_RULE_STIFF:
        snprintf(buf, cap, "linear with spectrum stiff");
        return;
    case ODG_RULE_FIXED:
        snprintf(buf, cap, "fixed steps");
        return;
    case ODG_RULE_ADAPTIVE:
        names_where(list, sizeof list, ODG_NSCHEMES, schemes_name, scheme_adaptive);
        break;
    case ODG_RULE_CHECKPOINTS:
        names_where(list, sizeof list, ODG_NMETHODS, methods_name, method_checkpoints);
        break;
    case ODG_RULE_INTERP:
        names_where(list, sizeof list, ODG_NMETHODS, methods_name, method_interp);
        break;
    case ODG_RULE_ADJ_TOL:
        names_where(list, sizeof list, ODG_NMETHODS, methods_name, method_adjoint);
        snprintf(buf, cap, "%s, with a scheme that has an error estimate", list);
        return;
    case ODG_RULE_REVERSIBLE:
        snprintf(buf, cap, "%s", odg_method_name(ODG_METHOD_REVERSIBLE));
        return;
    case ODG_RULE_BACKSOLVE:
        snprintf(buf, cap, "%s", odg_method_name(ODG_METHOD_BACKSOLVE_ADJOINT));
        return;
    case ODG_RULE_KEEP_ACT:
        names_where(list, sizeof list, ODG_NMETHODS, methods_name, method_discrete);
        char models[128];
        names_where(models, sizeof models, ODG_NMODELS, models_name, model_with_activations);
        snprintf(buf, cap, "%s, with the %s model", list, models);
        return;
    case ODG_RULE_CVODES:
        snprintf(buf, cap, "--solver cvodes");
        return;
    }
    snprintf(buf, cap, "%s", list);
}

long odg_output_count(const odg_run_config *c)
{
    if (c->output_times) {
        long K = 1;
        for (const char *s = c->output_times; *s; s++) {
            K += *s == ':';
        }
        return K;
    }
    return c->outputs > 0 ? c->outputs : 0;
}

odg_status odg_output_times(const odg_run_config *c, double *out, long cap, long *K,
                            char err[ODG_ERRLEN])
{
    *K = odg_output_count(c);
    if (out && *K > cap) {
        return odg_fail(err, ODG_EINVAL, "more than %ld output times", cap);
    }
    if (!c->output_times) {
        for (long k = 0; out && k < *K; k++) {
            /* k T / K, the last one T exactly */
            out[k] = k + 1 == *K ? c->t1 : c->t1 * (double)(k + 1) / (double)*K;
        }
        return ODG_OK;
    }
    const char *s = c->output_times;
    double prev = 0.0;
    for (long k = 0; k < *K; k++) {
        char *end = NULL;
        errno = 0;
        double t = strtod(s, &end);
        if (end == s || (*end != ':' && *end != '\0') || errno == ERANGE || !isfinite(t)) {
            return odg_fail(err, ODG_EINVAL, "'%s': output time %ld is not a number",
                            c->output_times, k + 1);
        }
        if (!(t > prev) || !(t <= c->t1)) {
            return odg_fail(err, ODG_EINVAL,
                            "'%s': the output times must increase, each in (0, %g] (--t1)",
                            c->output_times, c->t1);
        }
        if (out) {
            out[k] = t;
        }
        prev = t;
        s = *end ? end + 1 : end;
    }
    return ODG_OK;
}

int odg_option_depends(odg_option o, odg_option on)
{
    const odg_option_info *in = odg_option_get(o);
    if (!in) {
        return 0;
    }
    if (on == ODG_OPT_SOLVER) {
        for (int k = 0; k < ODG_NSOLVERS; k++) {
            if (peer_ignores((odg_solver)k, o)) {
                return 1;
            }
        }
    }
    switch (in->rule) {
    case ODG_RULE_CVODES:
        return on == ODG_OPT_SOLVER;
    case ODG_RULE_ADAPTIVE:
        return on == ODG_OPT_SCHEME || on == ODG_OPT_SOLVER;
    case ODG_RULE_MLP:
    case ODG_RULE_HIDDEN:
    case ODG_RULE_CNF:
    case ODG_RULE_WEIGHTED:
    case ODG_RULE_LINEAR:
        return on == ODG_OPT_MODEL;
    case ODG_RULE_STIFF:
        return on == ODG_OPT_MODEL || on == ODG_OPT_SPECTRUM;
    case ODG_RULE_FIXED:
        return on == ODG_OPT_RTOL || on == ODG_OPT_ATOL;
    case ODG_RULE_CHECKPOINTS:
    case ODG_RULE_INTERP:
    case ODG_RULE_REVERSIBLE:
    case ODG_RULE_BACKSOLVE:
        return on == ODG_OPT_METHOD;
    case ODG_RULE_ADJ_TOL:
        return on == ODG_OPT_METHOD || on == ODG_OPT_SCHEME;
    case ODG_RULE_KEEP_ACT:
        return on == ODG_OPT_METHOD || on == ODG_OPT_MODEL;
    default:
        return 0;
    }
}

int odg_run_config_same(const odg_run_config *a, const odg_run_config *b)
{
    for (int o = 0; o < ODG_NOPTIONS; o++) {
        if (options[o].column < 0) {
            continue;
        }
        int in_a = odg_option_applies(a, (odg_option)o, NULL);
        if (in_a != odg_option_applies(b, (odg_option)o, NULL)) {
            return 0;
        }
        if (in_a && !odg_option_equal(a, b, (odg_option)o)) {
            return 0;
        }
    }
    return 1;
}

char *odg_run_config_key(const odg_run_config *c)
{
    size_t cap = 512, len = 0;
    char *s = malloc(cap);
    for (int o = 0; s && o < ODG_NOPTIONS; o++) {
        if (options[o].column < 0 || !odg_option_applies(c, (odg_option)o, NULL)) {
            continue;
        }
        char v[ODG_CELL_STRLEN + 64];
        int k = odg_option_format(c, (odg_option)o, v, sizeof v);
        size_t need = strlen(options[o].flag) + (k > 0 ? (size_t)k : 0) + 3;
        if (len + need >= cap) {
            cap = 2 * (len + need);
            char *t = realloc(s, cap);
            if (!t) {
                free(s);
                return NULL;
            }
            s = t;
        }
        len += (size_t)snprintf(s + len, cap - len, "%s=%s;", options[o].flag, k > 0 ? v : "");
    }
    return s;
}

/* ---- defaults, resolution, checks --------------------------------------------------------- */

void odg_run_config_default(odg_run_config *c)
{
    memset(c, 0, sizeof *c);
    odg_model_opts_default(&c->model);
    odg_grad_opts_default(&c->grad, ODG_METHOD_BACKPROP);
    for (int o = 0; o < ODG_NOPTIONS; o++) {
        if (options[o].dflt[0]) {
            /* the table's own defaults are valid by construction: test_options checks them */
            (void)odg_option_set(c, (odg_option)o, options[o].dflt, NULL);
        }
    }
    c->given = 0;
}

void odg_run_config_resolve(odg_run_config *c)
{
    if (c->threads <= 0) {
        /* OMP_NUM_THREADS when set, else every CPU this process may use (its affinity mask
         * and cgroup quota; libgomp counts the mask only) */
        c->threads = getenv("OMP_NUM_THREADS") ? omp_get_max_threads() : odg_cpus_available();
    }
    odg_blas_mode got;
    if (odg_blas_mode_resolve(c->model.blas_mode, &got) == ODG_OK) {
        c->model.blas_mode = got;
    }
    if (c->model.batch_chunk == 0) {
        c->model.batch_chunk = ODG_BATCH_CHUNK;
    }
    if (c->rtol > 0 || c->atol > 0) {
        if (!(c->given & GIVEN(ODG_OPT_STEPS))) {
            c->steps = 0;
        }
        c->rtol = c->rtol > 0 ? c->rtol : c->atol;
        c->atol = c->atol > 0 ? c->atol : c->rtol;
    }
    odg_grad_opts *g = &c->grad;
    /* CVODES has one method, its checkpointed adjoint */
    if (c->solver == ODG_SOLVER_CVODES && !(c->given & GIVEN(ODG_OPT_METHOD))) {
        g->method = ODG_METHOD_CHECKPOINT_ADJOINT;
    }
    /* a continuous adjoint interpolates with the scheme's own dense output where it has one:
     * the interpolation then has the scheme's order, Hermite's 4 does not limit it */
    const odg_tableau *tab = odg_scheme_tableau(c->scheme);
    if (!(c->given & GIVEN(ODG_OPT_INTERP)) && odg_method_interpolates(g->method) && tab &&
        tab->dense_deg > 0) {
        g->interp = ODG_INTERP_DENSE;
    }
    if (g->adj_rtol > 0 || g->adj_atol > 0) {
        g->adj_rtol = g->adj_rtol > 0 ? g->adj_rtol : g->adj_atol;
        g->adj_atol = g->adj_atol > 0 ? g->adj_atol : g->adj_rtol;
    }
}

/* What each peer computes (docs/experiments.md, "Peers"): PyTorch the mlp by backprop or
 * backsolve-adjoint, with any scheme (odegrad's tableau is handed to it); CVODES its own
 * checkpointed adjoint at a forward tolerance, for the models whose loss is sum(w .* z(t1)) / B
 * (mlp, linear). */
odg_status odg_solver_check(const odg_run_config *c, char why[ODG_ERRLEN])
{
    const odg_method m = c->grad.method;
    if (c->solver != ODG_SOLVER_ODEGRAD && odg_output_count(c) > 0) {
        /* both peers compute and seed their adjoint with the one loss at t1 */
        return odg_fail(why, ODG_EUNSUP,
                        "%s computes the loss at t1 only: --outputs and --output-times apply to "
                        "--solver odegrad",
                        odg_solver_name(c->solver));
    }
    switch (c->solver) {
    case ODG_SOLVER_TORCH:
        if (c->model.kind != ODG_MODEL_MLP) {
            return odg_fail(why, ODG_EUNSUP, "torch computes the mlp model only, not %s",
                            odg_model_kind_name(c->model.kind));
        }
        if (m != ODG_METHOD_BACKPROP && m != ODG_METHOD_BACKSOLVE_ADJOINT) {
            return odg_fail(why, ODG_EUNSUP,
                            "torch supports --method backprop and backsolve-adjoint, not %s",
                            odg_method_name(m));
        }
        return ODG_OK;
    case ODG_SOLVER_CVODES:
        /* the loss CVODES's driver computes and seeds its adjoint with is sum(w .* z(t1)) / B */
        if (c->model.kind != ODG_MODEL_MLP && c->model.kind != ODG_MODEL_LINEAR) {
            return odg_fail(why, ODG_EUNSUP, "cvodes computes the mlp and linear models, not %s",
                            odg_model_kind_name(c->model.kind));
        }
        if (m != ODG_METHOD_CHECKPOINT_ADJOINT) {
            return odg_fail(why, ODG_EUNSUP,
                            "cvodes supports --method checkpoint-adjoint (its own checkpointed "
                            "adjoint) only, not %s",
                            odg_method_name(m));
        }
        if (!(c->rtol > 0 || c->atol > 0)) {
            return odg_fail(why, ODG_EUNSUP,
                            "cvodes takes its own steps: it needs --rtol (and --atol), not fixed "
                            "--steps");
        }
        return ODG_OK;
    default:
        return ODG_OK;
    }
}

static odg_status bad_option(int *bad, odg_option o, char err[ODG_ERRLEN], odg_status st,
                             const char *what)
{
    if (bad) {
        *bad = (int)o;
    }
    return odg_fail(err, st, "--%s %s", options[o].flag, what);
}

odg_status odg_run_config_check(const odg_run_config *c, int *bad, char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    if (bad) {
        *bad = -1;
    }
    if (!c) {
        return odg_fail(err, ODG_EINVAL, "no configuration");
    }
    /* checked as it will run: a tolerance given alone paired, the steps made adaptive */
    odg_run_config resolved = *c;
    odg_run_config_resolve(&resolved);
    c = &resolved;
    char msg[ODG_ERRLEN];
    /* every value in its range; a value still at its default is valid, since some defaults
     * mean "unset" (0 threads: the machine's; 0 checkpoints: the default for N) */
    odg_run_config d;
    odg_run_config_default(&d);
    for (int o = 0; o < ODG_NOPTIONS; o++) {
        const odg_option_info *in = &options[o];
        optval v = get(c, (odg_option)o);
        const char *why;
        int given = (c->given & GIVEN(o)) != 0;
        int unset = !given && (odg_option_equal(c, &d, (odg_option)o) ||
                               !odg_option_applies(c, (odg_option)o, NULL));
        if (!unset && !in_range(in, &v, &why)) {
            odg_fmt(msg, sizeof msg, "must be %s", why);
            return bad_option(bad, (odg_option)o, err, ODG_EINVAL, msg);
        }
        if (o == ODG_OPT_EXPERIMENT && v.s && check_name(v.s, msg) != ODG_OK) {
            return bad_option(bad, (odg_option)o, err, ODG_EINVAL, msg);
        }
    }
    /* every option given where it applies, in the table's order: the model and method come
     * before what depends on them */
    for (int o = 0; o < ODG_NOPTIONS; o++) {
        if ((c->given & GIVEN(o)) && !odg_option_applies(c, (odg_option)o, msg)) {
            return bad_option(bad, (odg_option)o, err, ODG_EUNSUP, msg);
        }
    }
    /* the combinations of values that do not exist */
    int adaptive = c->rtol > 0 || c->atol > 0;
    odg_status pst = odg_solver_check(c, msg);
    if (pst != ODG_OK) {
        return bad_option(bad, ODG_OPT_SOLVER, err, pst, msg);
    }
    if (!adaptive && c->steps < 1) {
        return bad_option(bad, ODG_OPT_STEPS, err, ODG_EINVAL, "must be a positive integer");
    }
    if (adaptive && !odg_option_applies(c, ODG_OPT_RTOL, msg)) {
        return bad_option(bad, c->rtol > 0 ? ODG_OPT_RTOL : ODG_OPT_ATOL, err, ODG_EUNSUP, msg);
    }
    if ((c->given & GIVEN(ODG_OPT_OUTPUTS)) && (c->given & GIVEN(ODG_OPT_OUTPUT_TIMES))) {
        return bad_option(bad, ODG_OPT_OUTPUT_TIMES, err, ODG_EINVAL,
                          "and --outputs are two ways to give the output times: give one");
    }
    long K = 0;
    if (c->output_times && odg_output_times(c, NULL, 0, &K, msg) != ODG_OK) {
        return bad_option(bad, ODG_OPT_OUTPUT_TIMES, err, ODG_EINVAL, msg);
    }
    K = odg_output_count(c);
    if (K > 0 && !adaptive && c->steps > 0) {
        /* each interval between output times takes at least one step */
        char *end = NULL;
        double last = c->outputs > 0 ? c->t1 : 0.0;
        if (c->output_times) {
            const char *s = strrchr(c->output_times, ':');
            last = strtod(s ? s + 1 : c->output_times, &end);
        }
        long intervals = K + (last < c->t1 ? 1 : 0);
        if (c->steps < intervals) {
            odg_fmt(msg, sizeof msg,
                    "must be at least the number of intervals between output times (%ld)",
                    intervals);
            return bad_option(bad, ODG_OPT_STEPS, err, ODG_EINVAL, msg);
        }
    }
    if (c->grad.backsolve_reset && K == 0) {
        return bad_option(bad, ODG_OPT_BACKSOLVE_RESET, err, ODG_EUNSUP,
                          "needs output times (--outputs or --output-times)");
    }
    if (adaptive && c->grad.method == ODG_METHOD_REVERSIBLE) {
        return bad_option(bad, c->rtol > 0 ? ODG_OPT_RTOL : ODG_OPT_ATOL, err, ODG_EUNSUP,
                          "does not apply to reversible, which takes fixed steps (its backward "
                          "pass would need every accepted step size)");
    }
    const odg_tableau *tab = odg_scheme_tableau(c->scheme);
    if (odg_method_interpolates(c->grad.method) && c->grad.interp == ODG_INTERP_DENSE && tab &&
        !odg_tableau_dense(tab)) {
        char list[ODG_ERRLEN / 2];
        odg_schemes_where(list, sizeof list, odg_tableau_dense);
        odg_fmt(msg, sizeof msg, "dense needs a scheme with dense output (%s), not %s", list,
                odg_scheme_name(c->scheme));
        return bad_option(bad, ODG_OPT_INTERP, err, ODG_EUNSUP, msg);
    }
    if ((c->grad.adj_rtol > 0 || c->grad.adj_atol > 0) &&
        odg_method_keeps_checkpoints(c->grad.method) &&
        c->grad.schedule == ODG_SCHEDULE_BINOMIAL) {
        return bad_option(bad, c->grad.adj_rtol > 0 ? ODG_OPT_ADJ_RTOL : ODG_OPT_ADJ_ATOL, err,
                          ODG_EUNSUP,
                          "with checkpoints needs the uniform schedule (the binomial one serves "
                          "states in descending order only)");
    }
    if (c->grad.adj_seminorm && !(c->grad.adj_rtol > 0 || c->grad.adj_atol > 0)) {
        return bad_option(bad, ODG_OPT_ADJ_SEMINORM, err, ODG_EUNSUP,
                          "needs the adjoint's own tolerances (adj-rtol, adj-atol)");
    }
    if (c->reference == ODG_REF_ANALYTIC && c->model.kind != ODG_MODEL_LINEAR) {
        return bad_option(bad, ODG_OPT_REFERENCE, err, ODG_EUNSUP,
                          "analytic exists only for the linear model (use fine or auto)");
    }
    return ODG_OK;
}
