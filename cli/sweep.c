/* odegrad sweep: runs the configurations of declarative sweep files (experiments/NAME.ini), each as
 * its own child `odegrad run` process, so that every configuration's peak memory and any crash
 * are its own.  Resumable: configurations already in the results file for the same commit are
 * skipped.  The file format is described in `odegrad sweep --help` and docs/experiments.md.
 *
 * The DGEMM rate at a model's shapes (the roofline_gflops column) depends only on the shapes,
 * the batch chunk and the thread count: the first run of each (model, dim, hidden, batch,
 * batch-chunk, threads) measures it, and the later runs of the same key are given its value
 * (--roofline-gflops).
 *
 * Every file is read and expanded before anything runs, so a typo on line 40 costs nothing. */

#include <ini.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "odegrad/core.h"
#include "odegrad/gradients.h"
#include "odegrad/harness.h"
#include "odegrad/models.h"
#include "odegrad/solvers.h"

/* ---- the keys of a sweep file: `odegrad run` flags without their dashes ---------------------- */

typedef enum {
    V_COUNT,  /* integer >= 1 */
    V_NONNEG, /* integer >= 0 */
    V_POS,    /* real > 0 */
    V_STIFF,  /* real >= 1 */
    V_NAME,   /* one of the names of a list of cli.h (odg_cli_lists) */
    V_BYTES   /* a size: an integer with an optional unit (2G, 512MiB), "auto" or "none" */
} sweep_vtype;

/* The order here is the order of the cross product (first key varies slowest) and of the flags
 * on the child's command line: method varies fastest, so an interrupted sweep has every method
 * at the small sizes first. */
enum {
    K_MODEL,
    K_SPECTRUM,
    K_DIM,
    K_HIDDEN,
    K_BATCH,
    K_STIFFNESS,
    K_GAIN,
    K_T1,
    K_SCHEME,
    K_STEPS,
    K_RTOL,
    K_ATOL,
    K_CHECKPOINTS,
    K_SCHEDULE,
    K_INTERP,
    K_ADJ_RTOL,
    K_ADJ_ATOL,
    K_BLAS,
    K_BATCH_CHUNK,
    K_THREADS,
    K_METHOD,
    K_SEED,
    K_REPEAT,
    K_WARMUP,
    K_TIMEOUT,
    K_MEMLIMIT,
    K_REFERENCE,
    NKEYS
};

static const struct sweep_key {
    const char *name; /* the flag without "--" */
    sweep_vtype type;
    const char *list;   /* V_NAME: the odg_cli_lists entry that holds the accepted names */
    const char *column; /* the record column that identifies the key; NULL: none */
} keys[NKEYS] = {
    [K_MODEL] = {"model", V_NAME, "models", "model"},
    [K_SPECTRUM] = {"spectrum", V_NAME, "spectra", "spectrum"},
    [K_DIM] = {"dim", V_COUNT, NULL, "D"},
    [K_HIDDEN] = {"hidden", V_COUNT, NULL, "H"},
    [K_BATCH] = {"batch", V_COUNT, NULL, "B"},
    [K_STIFFNESS] = {"stiffness", V_STIFF, NULL, "stiffness"},
    [K_GAIN] = {"gain", V_POS, NULL, "gain"},
    [K_T1] = {"t1", V_POS, NULL, "t1"},
    [K_SCHEME] = {"scheme", V_NAME, "schemes", "scheme"},
    [K_STEPS] = {"steps", V_COUNT, NULL, "steps"},
    [K_RTOL] = {"rtol", V_POS, NULL, "rtol"},
    [K_ATOL] = {"atol", V_POS, NULL, "atol"},
    [K_CHECKPOINTS] = {"checkpoints", V_COUNT, NULL, "checkpoints"},
    [K_SCHEDULE] = {"schedule", V_NAME, "schedules", "schedule"},
    [K_INTERP] = {"interp", V_NAME, "interpolations", "interp"},
    [K_ADJ_RTOL] = {"adj-rtol", V_POS, NULL, NULL},
    [K_ADJ_ATOL] = {"adj-atol", V_POS, NULL, NULL},
    [K_BLAS] = {"blas-mode", V_NAME, "blas-modes", "blas_mode"},
    [K_BATCH_CHUNK] = {"batch-chunk", V_COUNT, NULL, "batch_chunk"},
    [K_THREADS] = {"threads", V_COUNT, NULL, "threads"},
    [K_METHOD] = {"method", V_NAME, "methods", "method"},
    [K_SEED] = {"seed", V_NONNEG, NULL, "seed"},
    [K_REPEAT] = {"repeat", V_COUNT, NULL, "repeats"},
    [K_WARMUP] = {"warmup", V_NONNEG, NULL, NULL},
    [K_TIMEOUT] = {"timeout", V_POS, NULL, NULL},
    [K_MEMLIMIT] = {"mem-limit", V_BYTES, NULL, NULL},
    [K_REFERENCE] = {"reference", V_NAME, "references", NULL},
};

#define SWEEP_MAX_RANGE 4096 /* values one range may expand to */
#define SWEEP_MAX_CONFIGS 100000

/* One key as a section sets it: its line and its list of values (canonical text; a derived
 * value such as "4*dim" is kept as written and evaluated per configuration). */
typedef struct {
    int line; /* 0: not set */
    int n;
    char **v;
} sweep_setting;

typedef struct {
    int line; /* of the [header] */
    char label[64];
    sweep_setting set[NKEYS];
} sweep_section;

typedef struct {
    char *val[NKEYS]; /* NULL: not passed (the child's default) */
    int line[NKEYS];  /* the line that set each value */
    int sec_line;     /* the line of its [run] header */
} sweep_config;

typedef struct {
    const char *path;
    char *name, *output, *description;
    int has_sweep;
    sweep_section defaults; /* [sweep]: defaults for every [run] section, where they apply */
    sweep_section *runs;
    int nruns;
    sweep_config *cfg;
    int ncfg;
    int varies[NKEYS]; /* keys whose value differs between configurations: shown in progress */
    char *csv;         /* the results file this sweep appends to */
} sweep_file;

/* ---- small helpers -------------------------------------------------------------------------- */

static void *sweep_alloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "odegrad sweep: out of memory\n");
        exit(1);
    }
    return p;
}

static void *sweep_grow(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "odegrad sweep: out of memory\n");
        exit(1);
    }
    return q;
}

static char *sweep_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = sweep_alloc(n);
    memcpy(d, s, n);
    return d;
}

/* Trims leading and trailing white space in place; returns the start. */
static char *sweep_trim(char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        s[--n] = '\0';
    }
    return s;
}

/* Whether s is one of the names of the list called `list` in cli.h. */
static int sweep_name_known(const char *list, const char *s)
{
    const odg_cli_names *l = odg_cli_list_find(list);
    for (int i = 0; l && i < l->n; i++) {
        if (strcmp(l->name(i), s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Other names a key is known by: blas-mode's column name and its old flag name. */
static const struct {
    const char *name;
    int key;
} key_aliases[] = {{"blas_mode", K_BLAS}, {"blas", K_BLAS}};

static int sweep_key_index(const char *name)
{
    for (int k = 0; k < NKEYS; k++) {
        if (strcmp(keys[k].name, name) == 0) {
            return k;
        }
    }
    for (size_t a = 0; a < sizeof key_aliases / sizeof key_aliases[0]; a++) {
        if (strcmp(key_aliases[a].name, name) == 0) {
            return key_aliases[a].key;
        }
    }
    return -1;
}

/* The name a column records for a key's value: a BLAS mode as the run resolves it (auto is
 * recorded as chunked or threaded); other values as they are. */
static const char *sweep_recorded_name(int k, const char *v)
{
    odg_blas_mode want, got;
    if (k == K_BLAS && odg_blas_mode_from_name(v, &want) == ODG_OK &&
        odg_blas_mode_resolve(want, &got) == ODG_OK) {
        return odg_blas_mode_name(got);
    }
    return v;
}

static long sweep_nproc(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

static void sweep_format_duration(double s, char *out, size_t len)
{
    if (!(s >= 0) || s > 359999) {
        snprintf(out, len, "?");
    } else if (s >= 3600) {
        snprintf(out, len, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    } else if (s >= 60) {
        snprintf(out, len, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    } else {
        snprintf(out, len, "%.0fs", s);
    }
}

/* ---- reading a sweep file ------------------------------------------------------------------- */

typedef struct {
    FILE *fp;
    sweep_file *sf;
    int line;     /* the line inih is on: counted by our reader, one fgets per line */
    int cur;      /* -1: before any section, -2: [sweep], -3: a refused section, >= 0: a run */
    int err_line; /* first error we found; 0: none */
    char err[320];
} sweep_parse;

static void sweep_parse_error(sweep_parse *ps, int line, const char *fmt, ...)
{
    if (ps->err_line) {
        return; /* the first error is the one to fix */
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err, sizeof ps->err, fmt, ap);
    va_end(ap);
    ps->err_line = line;
}

static sweep_section *sweep_current(sweep_parse *ps)
{
    if (ps->cur == -2) {
        return &ps->sf->defaults;
    }
    return ps->cur >= 0 ? &ps->sf->runs[ps->cur] : NULL;
}

/* A [header] seen by the reader.  Sections are tracked here rather than in the key handler
 * because inih only reports sections that hold keys, and because two [run] sections may share a
 * label: a section is known by its line. */
static void sweep_section_start(sweep_parse *ps, const char *s)
{
    const char *end = strchr(s, ']');
    if (!end) {
        ps->cur = -3; /* inih reports the missing ']' */
        return;
    }
    char inner[128];
    size_t n = (size_t)(end - s - 1);
    if (n >= sizeof inner) {
        n = sizeof inner - 1;
    }
    memcpy(inner, s + 1, n);
    inner[n] = '\0';
    char *name = sweep_trim(inner);
    sweep_file *sf = ps->sf;
    if (strcmp(name, "sweep") == 0) {
        if (sf->has_sweep) {
            sweep_parse_error(ps, ps->line, "a second [sweep] section (the first is on line %d)",
                              sf->defaults.line);
            ps->cur = -3;
            return;
        }
        sf->has_sweep = 1;
        sf->defaults.line = ps->line;
        ps->cur = -2;
    } else if (strncmp(name, "run", 3) == 0 &&
               (name[3] == '\0' || isspace((unsigned char)name[3]))) {
        sf->runs = sweep_grow(sf->runs, (size_t)(sf->nruns + 1) * sizeof *sf->runs);
        sweep_section *sec = &sf->runs[sf->nruns];
        memset(sec, 0, sizeof *sec);
        sec->line = ps->line;
        snprintf(sec->label, sizeof sec->label, "%s", sweep_trim(name + 3));
        ps->cur = sf->nruns++;
    } else {
        sweep_parse_error(ps, ps->line, "unknown section [%s] (expected [sweep] or [run LABEL])",
                          name);
        ps->cur = -3;
    }
}

static char *sweep_reader(char *str, int num, void *stream)
{
    sweep_parse *ps = stream;
    if (!fgets(str, num, ps->fp)) {
        return NULL;
    }
    ps->line++;
    size_t n = strlen(str);
    if (n > 0 && str[n - 1] != '\n' && !feof(ps->fp)) {
        /* inih would read the rest as a line of its own: refuse it here instead */
        sweep_parse_error(ps, ps->line, "line longer than %d characters", num - 3);
        int c;
        while ((c = fgetc(ps->fp)) != EOF && c != '\n') {
        }
        str[0] = '\0';
        return str;
    }
    const char *s = str;
    if (ps->line == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF) {
        s += 3;
    }
    int indented = isspace((unsigned char)*s) && *s != '\n' && *s != '\r';
    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (*s == '[') {
        sweep_section_start(ps, s);
    } else if (indented && *s && *s != ';' && *s != '#' && !strpbrk(s, "=:")) {
        /* inih would take it as a continuation of the previous value */
        sweep_parse_error(ps, ps->line,
                          "continuation lines are not supported: write the list "
                          "on one line");
    }
    return str;
}

/* One numeric list item: an integer, a real, "nproc", or a power B^e. */
typedef struct {
    enum { N_INT, N_REAL, N_POW } kind;
    long i;
    double d;
    long base, exp;
} sweep_num;

static int sweep_is_int_type(sweep_vtype t)
{
    return t == V_COUNT || t == V_NONNEG || t == V_BYTES;
}

static int sweep_parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE) {
        return -1;
    }
    *out = v;
    return 0;
}

static int sweep_parse_num(const char *s, sweep_vtype t, sweep_num *num)
{
    const char *caret = strchr(s, '^');
    if (strcmp(s, "nproc") == 0 && sweep_is_int_type(t)) {
        num->kind = N_INT;
        num->i = sweep_nproc();
        return 0;
    }
    if (caret) {
        char b[32];
        size_t n = (size_t)(caret - s);
        if (n == 0 || n >= sizeof b) {
            return -1;
        }
        memcpy(b, s, n);
        b[n] = '\0';
        if (sweep_parse_long(b, &num->base) || num->base < 2 ||
            sweep_parse_long(caret + 1, &num->exp) || labs(num->exp) > 1000) {
            return -1;
        }
        num->kind = N_POW;
        return 0;
    }
    if (sweep_is_int_type(t)) {
        num->kind = N_INT;
        return sweep_parse_long(s, &num->i);
    }
    char *end;
    num->d = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(num->d)) {
        return -1;
    }
    num->kind = N_REAL;
    return 0;
}

/* Writes the canonical text of a number after checking it against the key's type; the literal
 * is kept for reals so that the child sees exactly what the file says. */
static int sweep_num_text(const sweep_num *num, const char *literal, sweep_vtype t, char *out,
                          size_t len, const char **why)
{
    double v;
    if (num->kind == N_POW) {
        if (num->exp >= 0) {
            long p = 1;
            for (long e = 0; e < num->exp; e++) {
                if (p > LONG_MAX / num->base) {
                    *why = "too large";
                    return -1;
                }
                p *= num->base;
            }
            snprintf(out, len, "%ld", p);
            v = (double)p;
        } else {
            if (sweep_is_int_type(t)) {
                *why = "not an integer";
                return -1;
            }
            if (num->base == 10) {
                snprintf(out, len, "1e%ld", num->exp); /* exact, unlike pow() */
            } else {
                snprintf(out, len, "%.17g", pow((double)num->base, (double)num->exp));
            }
            v = strtod(out, NULL);
        }
    } else if (num->kind == N_INT) {
        snprintf(out, len, "%ld", num->i);
        v = (double)num->i;
    } else {
        snprintf(out, len, "%s", literal);
        v = num->d;
    }
    switch (t) {
    case V_COUNT:
    case V_BYTES:
        if (v < 1) {
            *why = "must be an integer >= 1";
            return -1;
        }
        break;
    case V_NONNEG:
        if (v < 0) {
            *why = "must be an integer >= 0";
            return -1;
        }
        break;
    case V_POS:
        if (!(v > 0)) {
            *why = "must be > 0";
            return -1;
        }
        break;
    case V_STIFF:
        if (!(v >= 1)) {
            *why = "must be >= 1";
            return -1;
        }
        break;
    case V_NAME:
        break;
    }
    return 0;
}

static void sweep_setting_add(sweep_setting *st, const char *text)
{
    st->v = sweep_grow(st->v, (size_t)(st->n + 1) * sizeof *st->v);
    st->v[st->n++] = sweep_strdup(text);
}

/* "A..B" (integers, step 1) or "B^a..B^b" (one base, exponent step 1), either direction. */
static int sweep_parse_range(sweep_parse *ps, int k, const char *item, const char *dots,
                             sweep_setting *st)
{
    const struct sweep_key *key = &keys[k];
    char lo_s[64], hi_s[64];
    size_t n = (size_t)(dots - item);
    if (n == 0 || n >= sizeof lo_s || strlen(dots + 2) >= sizeof hi_s) {
        sweep_parse_error(ps, ps->line, "bad range '%s' for '%s'", item, key->name);
        return -1;
    }
    memcpy(lo_s, item, n);
    lo_s[n] = '\0';
    snprintf(hi_s, sizeof hi_s, "%s", dots + 2);
    char *lo_t = sweep_trim(lo_s), *hi_t = sweep_trim(hi_s);
    sweep_num lo, hi;
    if (key->type == V_NAME || sweep_parse_num(lo_t, key->type, &lo) ||
        sweep_parse_num(hi_t, key->type, &hi)) {
        sweep_parse_error(ps, ps->line,
                          "bad range '%s' for '%s' (use A..B with integers or B^a..B^b)", item,
                          key->name);
        return -1;
    }
    long a, b;
    int pow_range;
    if (lo.kind == N_POW && hi.kind == N_POW && lo.base == hi.base) {
        pow_range = 1;
        a = lo.exp;
        b = hi.exp;
    } else if (lo.kind == N_INT && hi.kind == N_INT) {
        pow_range = 0;
        a = lo.i;
        b = hi.i;
    } else {
        sweep_parse_error(ps, ps->line,
                          "bad range '%s' for '%s' (both ends integers, or both powers of one "
                          "base: 2^3..2^12)",
                          item, key->name);
        return -1;
    }
    long count = (b >= a ? b - a : a - b) + 1;
    if (count > SWEEP_MAX_RANGE) {
        sweep_parse_error(ps, ps->line, "range '%s' has %ld values (at most %d)", item, count,
                          SWEEP_MAX_RANGE);
        return -1;
    }
    long step = b >= a ? 1 : -1;
    for (long x = a;; x += step) {
        sweep_num v = lo;
        if (pow_range) {
            v.exp = x;
        } else {
            v.i = x;
        }
        char text[64];
        const char *why = NULL;
        if (sweep_num_text(&v, "", key->type, text, sizeof text, &why)) {
            sweep_parse_error(ps, ps->line, "range '%s' for '%s': value %s", item, key->name, why);
            return -1;
        }
        sweep_setting_add(st, text);
        if (x == b) {
            break;
        }
    }
    return 0;
}

static int sweep_parse_item(sweep_parse *ps, int k, char *item, sweep_setting *st)
{
    const struct sweep_key *key = &keys[k];
    const char *dots = strstr(item, "..");
    if (dots) {
        return sweep_parse_range(ps, k, item, dots, st);
    }
    if (key->type == V_NAME) {
        if (!sweep_name_known(key->list, item)) {
            char choices[512] = "?";
            const odg_cli_names *l = odg_cli_list_find(key->list);
            if (l) {
                odg_cli_list_names(l, choices, sizeof choices);
            }
            sweep_parse_error(ps, ps->line, "bad value '%s' for '%s' (one of: %s)", item, key->name,
                              choices);
            return -1;
        }
        sweep_setting_add(st, item);
        return 0;
    }
    if (key->type == V_BYTES) {
        /* "auto", "none" and sizes with a unit (512M, 2GiB) are passed on as written; the
         * units are `odegrad run`'s to read, and its parser checks them before anything runs
         * (sweep_check_configs) */
        const char *p = item;
        while (isdigit((unsigned char)*p)) {
            p++;
        }
        if (strcmp(item, "auto") == 0 || strcmp(item, "none") == 0 ||
            (p > item && isalpha((unsigned char)*p))) {
            sweep_setting_add(st, item);
            return 0;
        }
    }
    /* A derived value "F*key" (hidden = 4*dim, atol = 1e-3*rtol): evaluated per configuration.
     * Integers derive from integers, reals from reals. */
    const char *star = strchr(item, '*');
    if (star) {
        char factor[32];
        size_t n = (size_t)(star - item);
        int ref = sweep_key_index(star + 1);
        if (n > 0 && n < sizeof factor) {
            memcpy(factor, item, n);
            factor[n] = '\0';
        } else {
            factor[0] = '\0';
        }
        long fi;
        char *end;
        double fd = strtod(factor, &end);
        int good =
            ref >= 0 && ref != k && keys[ref].type == key->type &&
            ((key->type == V_COUNT && sweep_parse_long(factor, &fi) == 0 && fi >= 1) ||
             (key->type == V_POS && end != factor && *end == '\0' && fd > 0 && isfinite(fd)));
        if (!good) {
            sweep_parse_error(ps, ps->line,
                              "bad value '%s' for '%s' (a derived value is F*KEY with a key of "
                              "the same kind, e.g. hidden = 4*dim or atol = 1e-3*rtol)",
                              item, key->name);
            return -1;
        }
        sweep_setting_add(st, item);
        return 0;
    }
    sweep_num num;
    char text[64];
    const char *why = "not a number";
    if (sweep_parse_num(item, key->type, &num) ||
        sweep_num_text(&num, item, key->type, text, sizeof text, &why)) {
        sweep_parse_error(ps, ps->line, "bad value '%s' for '%s' (%s)", item, key->name,
                          strcmp(why, "not a number") == 0 && sweep_is_int_type(key->type)
                              ? "not an integer"
                              : why);
        return -1;
    }
    sweep_setting_add(st, text);
    return 0;
}

/* A value: one item or a comma-separated list; each item may be a range. */
static int sweep_parse_list(sweep_parse *ps, int k, const char *value, sweep_setting *st)
{
    char *copy = sweep_strdup(value);
    char *trimmed = sweep_trim(copy);
    int rc = 0;
    if (*trimmed == '\0') {
        sweep_parse_error(ps, ps->line, "empty list for '%s'", keys[k].name);
        rc = -1;
    }
    for (char *p = trimmed; rc == 0 && p;) {
        char *comma = strchr(p, ',');
        if (comma) {
            *comma = '\0';
        }
        char *item = sweep_trim(p);
        if (*item == '\0') {
            sweep_parse_error(ps, ps->line, "empty item in the list for '%s'", keys[k].name);
            rc = -1;
        } else {
            rc = sweep_parse_item(ps, k, item, st);
        }
        p = comma ? comma + 1 : NULL;
    }
    free(copy);
    return rc;
}

static int sweep_handler(void *user, const char *section, const char *name, const char *value)
{
    (void)section; /* tracked by the reader, see sweep_section_start */
    sweep_parse *ps = user;
    sweep_file *sf = ps->sf;
    if (ps->cur == -3) {
        return 0;
    }
    if (ps->cur == -1) {
        sweep_parse_error(ps, ps->line, "'%s' outside a section (start with [sweep])", name);
        return 0;
    }
    char **meta = NULL;
    if (strcmp(name, "name") == 0) {
        meta = &sf->name;
    } else if (strcmp(name, "output") == 0) {
        meta = &sf->output;
    } else if (strcmp(name, "description") == 0) {
        meta = &sf->description;
    }
    if (meta) {
        if (ps->cur != -2) {
            sweep_parse_error(ps, ps->line, "'%s' belongs in [sweep]", name);
            return 0;
        }
        if (*meta) {
            sweep_parse_error(ps, ps->line, "'%s' given twice in [sweep]", name);
            return 0;
        }
        char *v = sweep_strdup(value);
        char *t = sweep_trim(v);
        memmove(v, t, strlen(t) + 1);
        if (*v == '\0') {
            sweep_parse_error(ps, ps->line, "empty value for '%s'", name);
            free(v);
            return 0;
        }
        if (meta == &sf->name) {
            for (const char *c = v; *c; c++) {
                if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') {
                    sweep_parse_error(ps, ps->line,
                                      "bad name '%s' (letters, digits, '-', '_', '.')", v);
                    free(v);
                    return 0;
                }
            }
        }
        *meta = v;
        return 1;
    }
    int k = sweep_key_index(name);
    if (k < 0) {
        sweep_parse_error(ps, ps->line,
                          "unknown key '%s' (see `odegrad sweep --help` for the keys)", name);
        return 0;
    }
    sweep_setting *st = &sweep_current(ps)->set[k];
    if (st->line) {
        sweep_parse_error(ps, ps->line, "'%s' given twice in this section (first on line %d)", name,
                          st->line);
        return 0;
    }
    st->line = ps->line;
    return sweep_parse_list(ps, k, value, st) == 0;
}

/* ---- expanding a file into configurations ---------------------------------------------------- */

typedef struct {
    const char *v[NKEYS];
    int line[NKEYS]; /* the line that set it */
    int own[NKEYS];  /* set by the [run] section itself (not a [sweep] default) */
} sweep_draft;

/* Whether a key means anything for this configuration; a default from [sweep] that does not
 * apply is left out, a key the [run] section sets itself is an error. */
static int sweep_key_applies(int k, const sweep_draft *d, const char **why)
{
    odg_method m = ODG_METHOD_BACKPROP;
    int has_method = d->v[K_METHOD] && odg_method_from_name(d->v[K_METHOD], &m) == ODG_OK;
    int linear = d->v[K_MODEL] && strcmp(d->v[K_MODEL], "linear") == 0;
    switch (k) {
    case K_CHECKPOINTS:
    case K_SCHEDULE:
        *why = "applies only to methods with checkpoints";
        return !has_method || odg_method_storage(m) == ODG_STORAGE_CHECKPOINTS;
    case K_INTERP:
        *why = "applies only to continuous adjoints";
        return !has_method || odg_method_kind(m) == ODG_KIND_CONTINUOUS;
    case K_ADJ_RTOL:
    case K_ADJ_ATOL:
        *why = "applies only to continuous adjoints";
        return !has_method || odg_method_kind(m) == ODG_KIND_CONTINUOUS;
    case K_SPECTRUM:
        *why = "applies only to model linear";
        return linear;
    case K_STIFFNESS:
        *why = "applies only to model linear with spectrum stiff";
        return linear && d->v[K_SPECTRUM] && strcmp(d->v[K_SPECTRUM], "stiff") == 0;
    case K_HIDDEN:
        *why = "does not apply to model linear";
        return !linear;
    default:
        return 1;
    }
}

static int sweep_draft_error(int line, char *err, size_t len, int *err_line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    *err_line = line;
    return -1;
}

static int sweep_config_equal(const sweep_config *a, const sweep_config *b)
{
    for (int k = 0; k < NKEYS; k++) {
        if (!a->val[k] != !b->val[k] || (a->val[k] && strcmp(a->val[k], b->val[k]) != 0)) {
            return 0;
        }
    }
    return 1;
}

/* Applies the rules to one combination and appends it; returns -1 with err on a mistake in the
 * file. */
static int sweep_add_config(sweep_file *sf, const sweep_section *sec, sweep_draft *d, char *err,
                            size_t len, int *err_line)
{
    /* steps (fixed) and rtol/atol (adaptive) exclude each other; a [run] section's own choice
     * wins over the [sweep] default of the other kind. */
    int fixed_own = d->v[K_STEPS] && d->own[K_STEPS];
    int adapt_own = (d->v[K_RTOL] && d->own[K_RTOL]) || (d->v[K_ATOL] && d->own[K_ATOL]);
    if (fixed_own) {
        if (!adapt_own) {
            d->v[K_RTOL] = d->v[K_ATOL] = NULL;
        }
    } else if (adapt_own) {
        d->v[K_STEPS] = NULL;
    }
    if (d->v[K_STEPS] && (d->v[K_RTOL] || d->v[K_ATOL])) {
        int k = d->v[K_RTOL] ? K_RTOL : K_ATOL;
        return sweep_draft_error(
            d->line[k] > d->line[K_STEPS] ? d->line[k] : d->line[K_STEPS], err, len, err_line,
            "'steps' (fixed steps) and '%s' (adaptive) exclude each other", keys[k].name);
    }
    if (!d->v[K_METHOD]) {
        return sweep_draft_error(sec->line, err, len, err_line,
                                 "no 'method' in this [run] section or in [sweep]");
    }
    for (int k = 0; k < NKEYS; k++) {
        const char *why = "";
        if (d->v[k] && !sweep_key_applies(k, d, &why)) {
            if (d->own[k]) {
                return sweep_draft_error(
                    d->line[k], err, len, err_line,
                    "'%s' %s, not to %s %s; give those their own [run] section", keys[k].name, why,
                    k == K_HIDDEN || k == K_SPECTRUM || k == K_STIFFNESS ? "model" : "method",
                    k == K_HIDDEN || k == K_SPECTRUM || k == K_STIFFNESS
                        ? (d->v[K_MODEL] ? d->v[K_MODEL] : "mlp")
                        : d->v[K_METHOD]);
            }
            d->v[k] = NULL;
        }
    }
    if (d->v[K_SCHEME]) {
        odg_scheme s;
        if (odg_scheme_from_name(d->v[K_SCHEME], &s) == ODG_OK) {
            const odg_tableau *tab = odg_scheme_tableau(s);
            if ((d->v[K_RTOL] || d->v[K_ATOL]) && tab && !odg_tableau_adaptive(tab)) {
                int k = d->v[K_RTOL] ? K_RTOL : K_ATOL;
                return sweep_draft_error(d->line[k], err, len, err_line,
                                         "'%s' needs an adaptive scheme, not %s", keys[k].name,
                                         d->v[K_SCHEME]);
            }
            if (d->v[K_INTERP] && strcmp(d->v[K_INTERP], "dense") == 0 && tab &&
                tab->dense_deg == 0) {
                return sweep_draft_error(d->line[K_INTERP], err, len, err_line,
                                         "'interp = dense' needs a scheme with dense output, "
                                         "not %s",
                                         d->v[K_SCHEME]);
            }
        }
    }
    sweep_config c;
    memset(&c, 0, sizeof c);
    c.sec_line = sec->line;
    for (int k = 0; k < NKEYS; k++) {
        const char *v = d->v[k];
        if (!v) {
            continue;
        }
        c.line[k] = d->line[k];
        const char *star = strchr(v, '*');
        if (star) {
            int ref = sweep_key_index(star + 1);
            const char *rv = d->v[ref];
            if (!rv || strchr(rv, '*')) {
                for (int j = 0; j < k; j++) {
                    free(c.val[j]);
                }
                return sweep_draft_error(d->line[k], err, len, err_line,
                                         "'%s = %s' needs '%s' set to a number", keys[k].name, v,
                                         keys[ref].name);
            }
            char text[40];
            if (keys[k].type == V_COUNT) {
                snprintf(text, sizeof text, "%ld", strtol(v, NULL, 10) * strtol(rv, NULL, 10));
            } else {
                /* 15 digits: the product of two decimal inputs, without binary noise */
                snprintf(text, sizeof text, "%.15g", strtod(v, NULL) * strtod(rv, NULL));
            }
            c.val[k] = sweep_strdup(text);
        } else {
            c.val[k] = sweep_strdup(v);
        }
    }
    for (int i = 0; i < sf->ncfg; i++) {
        if (sweep_config_equal(&sf->cfg[i], &c)) {
            for (int k = 0; k < NKEYS; k++) {
                free(c.val[k]);
            }
            return 0; /* listed twice: measured once */
        }
    }
    if (sf->ncfg >= SWEEP_MAX_CONFIGS) {
        return sweep_draft_error(sec->line, err, len, err_line, "more than %d configurations",
                                 SWEEP_MAX_CONFIGS);
    }
    sf->cfg = sweep_grow(sf->cfg, (size_t)(sf->ncfg + 1) * sizeof *sf->cfg);
    sf->cfg[sf->ncfg++] = c;
    return 0;
}

static int sweep_expand(sweep_file *sf, char *err, size_t len, int *err_line)
{
    for (int r = 0; r < sf->nruns; r++) {
        const sweep_section *sec = &sf->runs[r];
        const sweep_setting *src[NKEYS];
        int own[NKEYS], idx[NKEYS];
        for (int k = 0; k < NKEYS; k++) {
            own[k] = sec->set[k].line != 0;
            src[k] =
                own[k] ? &sec->set[k] : (sf->defaults.set[k].line ? &sf->defaults.set[k] : NULL);
            idx[k] = 0;
        }
        for (;;) {
            sweep_draft d;
            memset(&d, 0, sizeof d);
            for (int k = 0; k < NKEYS; k++) {
                if (src[k]) {
                    d.v[k] = src[k]->v[idx[k]];
                    d.line[k] = src[k]->line;
                    d.own[k] = own[k];
                }
            }
            if (sweep_add_config(sf, sec, &d, err, len, err_line)) {
                return -1;
            }
            /* the odometer: the last key varies fastest */
            int k = NKEYS - 1;
            for (; k >= 0; k--) {
                if (src[k] && ++idx[k] < src[k]->n) {
                    break;
                }
                idx[k] = 0;
            }
            if (k < 0) {
                break;
            }
        }
    }
    for (int k = 0; k < NKEYS; k++) {
        for (int i = 1; i < sf->ncfg && !sf->varies[k]; i++) {
            const char *a = sf->cfg[0].val[k], *b = sf->cfg[i].val[k];
            sf->varies[k] = !a != !b || (a && strcmp(a, b) != 0);
        }
    }
    return 0;
}

static char **sweep_argv(const sweep_file *sf, const sweep_config *c, const char *roofline);

/* Every configuration through the parser and the checks of `odegrad run` itself, so that what
 * the sweep accepts the child accepts: a mistake is reported now with its line, not as a failed
 * run an hour in.  Returns 0, or -1 with err and the line that is to blame. */
static int sweep_check_configs(const sweep_file *sf, char *err, size_t len, int *err_line)
{
    for (int i = 0; i < sf->ncfg; i++) {
        const sweep_config *c = &sf->cfg[i];
        char **argv = sweep_argv(sf, c, NULL);
        int argc = 0;
        while (argv[argc]) {
            argc++;
        }
        odg_cli_run_opts o;
        char msg[ODG_ERRLEN] = "";
        /* each flag on its own first, so that a value the parser refuses (it says why on
         * stderr) is blamed on its own line */
        for (int k = 0; k < NKEYS; k++) {
            char flag[32];
            snprintf(flag, sizeof flag, "--%s", keys[k].name);
            char *one[] = {"run", flag, c->val[k], NULL};
            if (c->val[k] && odg_cli_parse_run("sweep", 3, one, &o) != 0) {
                free(argv);
                snprintf(err, len, "`odegrad run` refuses %s %s (above)", flag, c->val[k]);
                *err_line = c->line[k];
                return -1;
            }
        }
        /* argv[1] is "run": the parser reads its flags from argv[1 ..] of what it is given */
        int rc = odg_cli_parse_run("sweep", argc - 1, argv + 1, &o);
        if (rc != 0) {
            snprintf(msg, sizeof msg, "`odegrad run` refuses this configuration (above)");
        } else if (odg_run_config_check(&o.cfg, msg) != ODG_OK) {
            rc = 1;
        }
        free(argv);
        if (rc != 0) {
            /* blame the key the message names, else the [run] header */
            *err_line = c->sec_line;
            size_t best = SIZE_MAX;
            for (int k = 0; k < NKEYS; k++) {
                char flag[32];
                snprintf(flag, sizeof flag, "--%s", keys[k].name);
                const char *at = strstr(msg, flag);
                if (c->val[k] && at && (size_t)(at - msg) < best) {
                    best = (size_t)(at - msg);
                    *err_line = c->line[k];
                }
            }
            snprintf(err, len, "%s", msg);
            return -1;
        }
    }
    return 0;
}

/* Reads and expands one file.  Returns 0, or 2 after printing "FILE:LINE: message". */
static int sweep_load(const char *path, sweep_file *sf)
{
    memset(sf, 0, sizeof *sf);
    sf->path = path;
    sweep_parse ps;
    memset(&ps, 0, sizeof ps);
    ps.sf = sf;
    ps.cur = -1;
    ps.fp = fopen(path, "r");
    if (!ps.fp) {
        fprintf(stderr, "odegrad sweep: %s: %s\n", path, strerror(errno));
        return ODG_EXIT_USAGE;
    }
    int rc = ini_parse_stream(sweep_reader, &ps, sweep_handler, &ps);
    fclose(ps.fp);
    if (rc < 0) {
        fprintf(stderr, "odegrad sweep: %s: cannot read (inih error %d)\n", path, rc);
        return ODG_EXIT_USAGE;
    }
    /* inih reports the first line it could not parse or that our handler refused; the reader
     * may have refused an earlier line (a section header) that inih itself accepted. */
    if (rc > 0 && (!ps.err_line || rc < ps.err_line)) {
        ps.err_line = rc;
        snprintf(ps.err, sizeof ps.err,
                 "syntax error (expected [section], key = value or a "
                 "; comment)");
    }
    if (ps.err_line) {
        fprintf(stderr, "odegrad sweep: %s:%d: %s\n", path, ps.err_line, ps.err);
        return ODG_EXIT_USAGE;
    }
    if (!sf->has_sweep || !sf->name) {
        fprintf(stderr,
                "odegrad sweep: %s:%d: no 'name' (every file needs [sweep] with name = "
                "EXPERIMENT)\n",
                path, sf->has_sweep ? sf->defaults.line : 1);
        return ODG_EXIT_USAGE;
    }
    if (sf->nruns == 0) {
        fprintf(stderr, "odegrad sweep: %s:%d: no [run] section\n", path, ps.line);
        return ODG_EXIT_USAGE;
    }
    char err[320];
    int line = 0;
    if (sweep_expand(sf, err, sizeof err, &line) ||
        sweep_check_configs(sf, err, sizeof err, &line)) {
        fprintf(stderr, "odegrad sweep: %s:%d: %s\n", path, line, err);
        return ODG_EXIT_USAGE;
    }
    return 0;
}

static void sweep_free(sweep_file *sf)
{
    for (int r = -1; r < sf->nruns; r++) {
        sweep_section *sec = r < 0 ? &sf->defaults : &sf->runs[r];
        for (int k = 0; k < NKEYS; k++) {
            for (int i = 0; i < sec->set[k].n; i++) {
                free(sec->set[k].v[i]);
            }
            free(sec->set[k].v);
        }
    }
    for (int i = 0; i < sf->ncfg; i++) {
        for (int k = 0; k < NKEYS; k++) {
            free(sf->cfg[i].val[k]);
        }
    }
    free(sf->runs);
    free(sf->cfg);
    free(sf->name);
    free(sf->output);
    free(sf->description);
    free(sf->csv);
}

/* ---- results files: what is already recorded ------------------------------------------------- */

typedef struct {
    char *text; /* the whole file, split in place */
    int ncol;
    char **head; /* column names */
    int nrow;
    char ***rows; /* nrow x ncol fields (missing fields are "") */
} sweep_csv;

static int sweep_csv_col(const sweep_csv *t, const char *name)
{
    for (int j = 0; j < t->ncol; j++) {
        if (strcmp(t->head[j], name) == 0) {
            return j;
        }
    }
    return -1;
}

/* Splits one line in place into at most max fields; "quoted" fields are unquoted. */
static int sweep_csv_split(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *start = p, *w = p;
        if (*p == '"') {
            start = w = ++p;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"') {
                    p++; /* "" inside quotes */
                }
                *w++ = *p++;
            }
            if (*p == '"') {
                p++;
            }
        } else {
            while (*p && *p != ',') {
                *w++ = *p++;
            }
        }
        char *next = *p == ',' ? p + 1 : NULL;
        *w = '\0';
        if (n < max) {
            f[n++] = start;
        }
        if (!next) {
            break;
        }
        p = next;
    }
    return n;
}

static void sweep_csv_free(sweep_csv *t)
{
    for (int i = 0; i < t->nrow; i++) {
        free(t->rows[i]);
    }
    free(t->rows);
    free(t->head);
    free(t->text);
    memset(t, 0, sizeof *t);
}

/* Reads a results file; a missing file is an empty table.  Returns 0, or -1 with a message. */
static int sweep_csv_read(const char *path, sweep_csv *t)
{
    memset(t, 0, sizeof *t);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        if (errno == ENOENT) {
            return 0;
        }
        fprintf(stderr, "odegrad sweep: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0, got;
    t->text = sweep_alloc(cap + 1);
    while ((got = fread(t->text + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            t->text = sweep_grow(t->text, cap + 1);
        }
    }
    fclose(fp);
    t->text[n] = '\0';
    char *save = NULL;
    for (char *line = strtok_r(t->text, "\r\n", &save); line;
         line = strtok_r(NULL, "\r\n", &save)) {
        if (!t->head) {
            int ncol = 1;
            for (const char *c = line; *c; c++) {
                ncol += *c == ',';
            }
            t->head = sweep_alloc((size_t)ncol * sizeof *t->head);
            t->ncol = sweep_csv_split(line, t->head, ncol);
            continue;
        }
        char **f = sweep_alloc((size_t)t->ncol * sizeof *f);
        int got_f = sweep_csv_split(line, f, t->ncol);
        for (int j = got_f; j < t->ncol; j++) {
            f[j] = "";
        }
        t->rows = sweep_grow(t->rows, (size_t)(t->nrow + 1) * sizeof *t->rows);
        t->rows[t->nrow++] = f;
    }
    if (t->head && (sweep_csv_col(t, "experiment") < 0 || sweep_csv_col(t, "method") < 0 ||
                    sweep_csv_col(t, "status") < 0)) {
        fprintf(stderr,
                "odegrad sweep: %s is not an odegrad results file (no experiment, method "
                "and status columns)\n",
                path);
        sweep_csv_free(t);
        return -1;
    }
    return 0;
}

static int sweep_same_number(const char *a, const char *b)
{
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    if (ea == a || eb == b) {
        return 0;
    }
    /* the record may print fewer digits than the file gave; configurations never differ by a
     * part in a million */
    return x == y || fabs(x - y) <= 1e-6 * fmax(fabs(x), fabs(y));
}

/* Whether row i of t records configuration c of experiment `name` built from `commit`. */
static int sweep_row_matches(const sweep_csv *t, int i, const sweep_config *c, const char *name,
                             const char *commit)
{
    char **row = t->rows[i];
    int j = sweep_csv_col(t, "experiment");
    if (j < 0 || strcmp(row[j], name) != 0) {
        return 0;
    }
    j = sweep_csv_col(t, "commit");
    if (commit && (j < 0 || strcmp(row[j], commit) != 0)) {
        return 0;
    }
    for (int k = 0; k < NKEYS; k++) {
        if (!c->val[k] || !keys[k].column) {
            continue; /* the child's default: whatever it recorded */
        }
        j = sweep_csv_col(t, keys[k].column);
        if (j < 0) {
            return 0;
        }
        int same = keys[k].type == V_NAME ? strcmp(row[j], sweep_recorded_name(k, c->val[k])) == 0
                                          : sweep_same_number(row[j], c->val[k]);
        if (!same) {
            return 0;
        }
    }
    if (c->val[K_STEPS]) {
        /* a fixed-step configuration is not an adaptive row that happened to take N steps */
        j = sweep_csv_col(t, "rtol");
        if (j >= 0 && row[j][0] && strtod(row[j], NULL) != 0) {
            return 0;
        }
    }
    return 1;
}

static int sweep_recorded(const sweep_csv *t, const sweep_config *c, const char *name,
                          const char *commit)
{
    for (int i = 0; i < t->nrow; i++) {
        if (sweep_row_matches(t, i, c, name, commit)) {
            return 1;
        }
    }
    return 0;
}

/* ---- the commit of this binary ------------------------------------------------------------- */

/* The commit the child will record, from the same function the child asks: resume compares
 * against it, so a rebuilt binary measures again. */
static char *sweep_commit(void)
{
    const char *c = odg_git_commit();
    return c && *c ? sweep_strdup(c) : NULL;
}

/* ---- running a configuration ------------------------------------------------------------------
 */

static volatile sig_atomic_t sweep_interrupted = 0;

static void sweep_on_signal(int sig)
{
    sweep_interrupted = sig;
}

/* The child's argument vector: odegrad run --KEY VALUE ... --csv FILE --experiment NAME, and
 * --roofline-gflops ROOFLINE when it is not NULL. */
static char **sweep_argv(const sweep_file *sf, const sweep_config *c, const char *roofline)
{
    char **argv = sweep_alloc((2 * NKEYS + 10) * sizeof *argv);
    int n = 0;
    argv[n++] = "odegrad";
    argv[n++] = "run";
    for (int k = 0; k < NKEYS; k++) {
        if (c->val[k]) {
            static char flags[NKEYS][24];
            snprintf(flags[k], sizeof flags[k], "--%s", keys[k].name);
            argv[n++] = flags[k];
            argv[n++] = c->val[k];
        }
    }
    argv[n++] = "--csv";
    argv[n++] = sf->csv ? sf->csv : "results.csv"; /* not yet chosen while checking */
    argv[n++] = "--experiment";
    argv[n++] = sf->name;
    if (roofline) {
        argv[n++] = "--roofline-gflops";
        argv[n++] = (char *)roofline;
    }
    argv[n] = NULL;
    return argv;
}

/* The short form shown in progress lines: the keys that vary in this sweep. */
static void sweep_describe(const sweep_file *sf, const sweep_config *c, char *out, size_t len)
{
    snprintf(out, len, "%s", sf->name);
    for (int k = 0; k < NKEYS; k++) {
        if ((sf->varies[k] || k == K_METHOD) && c->val[k]) {
            size_t used = strlen(out);
            snprintf(out + used, len - used, " %s=%s", keys[k].name, c->val[k]);
        }
    }
}

/* A rough cost of a configuration, for the ETA only: f evaluations times the size of one. */
static double sweep_cost(const sweep_config *c)
{
    double D = c->val[K_DIM] ? atof(c->val[K_DIM]) : 16;
    double H = c->val[K_HIDDEN] ? atof(c->val[K_HIDDEN]) : 4 * D;
    double B = c->val[K_BATCH] ? atof(c->val[K_BATCH]) : 128;
    double N = c->val[K_STEPS] ? atof(c->val[K_STEPS]) : 64;
    if (c->val[K_RTOL]) {
        N = 8 * pow(1.0 / atof(c->val[K_RTOL]), 0.2); /* a fifth-order pair: steps ~ tol^-1/5 */
    }
    double R = (c->val[K_REPEAT] ? atof(c->val[K_REPEAT]) : 3) +
               (c->val[K_WARMUP] ? atof(c->val[K_WARMUP]) : 1);
    if (c->val[K_MODEL] && strcmp(c->val[K_MODEL], "linear") == 0) {
        H = D;
    }
    double threads = c->val[K_THREADS] ? atof(c->val[K_THREADS]) : 1;
    return 0.05 + 1e-9 * R * N * B * D * H / sqrt(threads);
}

typedef struct {
    int tty;
    int width;
    long total, done;
    double cost_total, cost_done, elapsed_done, t0;
} sweep_progress;

/* The bar, the count, the ETA and the configuration running for `running` seconds. */
static void sweep_progress_draw(const sweep_progress *pg, const char *what, double running)
{
    if (!pg->tty) {
        return;
    }
    char eta[32] = "?";
    if (pg->cost_done > 0) {
        double left = pg->elapsed_done / pg->cost_done * (pg->cost_total - pg->cost_done);
        sweep_format_duration(left > running ? left - running : 0, eta, sizeof eta);
    }
    char head[128];
    int barw = 24;
    int fill = pg->total ? (int)(barw * pg->done / pg->total) : 0;
    char bar[32];
    for (int i = 0; i < barw; i++) {
        bar[i] = i < fill ? '#' : '.';
    }
    bar[barw] = '\0';
    char run[32];
    sweep_format_duration(running, run, sizeof run);
    snprintf(head, sizeof head, "[%s] %ld/%ld ETA %s (%s) ", bar, pg->done + 1, pg->total, eta,
             run);
    int room = pg->width - (int)strlen(head) - 1;
    fprintf(stderr, "\r%s%.*s\033[K", head, room > 0 ? room : 0, what);
    fflush(stderr);
}

static void sweep_progress_line(const sweep_progress *pg, const char *fmt, ...)
{
    if (pg->tty) {
        fputs("\r\033[K", stderr);
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

static long sweep_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Fields of the last row of the results file (the one the child appended): out[i] is the
 * column names[i], "?" when there is no such row or column. */
#define SWEEP_FIELD_LEN 40
static void sweep_last_row(const char *csv, const char *const *names, int n,
                           char (*out)[SWEEP_FIELD_LEN])
{
    for (int i = 0; i < n; i++) {
        snprintf(out[i], SWEEP_FIELD_LEN, "?");
    }
    sweep_csv t;
    if (sweep_csv_read(csv, &t) || t.nrow == 0) {
        sweep_csv_free(&t);
        return;
    }
    char **row = t.rows[t.nrow - 1];
    for (int i = 0; i < n; i++) {
        int j = sweep_csv_col(&t, names[i]);
        if (j >= 0) {
            snprintf(out[i], SWEEP_FIELD_LEN, "%s", row[j]);
        }
    }
    sweep_csv_free(&t);
}

/* ---- the roofline rates measured so far ------------------------------------------------------ */

typedef struct {
    char key[160]; /* model|dim|hidden|batch|batch-chunk|threads as the configuration says */
    char rate[SWEEP_FIELD_LEN]; /* roofline_gflops as the first run of the key recorded it */
} sweep_roof;

typedef struct {
    sweep_roof *v;
    int n;
} sweep_roofs;

/* The key of a configuration's roofline: what decides the model's GEMM shapes, the chunks and
 * the threads (a value left to the child's default is the same default in every child). */
static void sweep_roof_key(const sweep_config *c, char *out, size_t len)
{
    static const int parts[] = {K_MODEL, K_DIM, K_HIDDEN, K_BATCH, K_BATCH_CHUNK, K_THREADS};
    out[0] = '\0';
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s|", c->val[parts[i]] ? c->val[parts[i]] : "");
    }
}

static const char *sweep_roof_find(const sweep_roofs *rs, const sweep_config *c)
{
    char key[160];
    sweep_roof_key(c, key, sizeof key);
    for (int i = 0; i < rs->n; i++) {
        if (strcmp(rs->v[i].key, key) == 0) {
            return rs->v[i].rate;
        }
    }
    return NULL;
}

/* Keeps the rate a run recorded, if it is one (a row that is not ok has none). */
static void sweep_roof_add(sweep_roofs *rs, const sweep_config *c, const char *rate)
{
    char *end;
    double v = strtod(rate, &end);
    if (end == rate || *end != '\0' || !(v > 0) || !isfinite(v) || sweep_roof_find(rs, c)) {
        return;
    }
    rs->v = sweep_grow(rs->v, (size_t)(rs->n + 1) * sizeof *rs->v);
    sweep_roof *r = &rs->v[rs->n++];
    sweep_roof_key(c, r->key, sizeof r->key);
    snprintf(r->rate, sizeof r->rate, "%s", rate);
}

/* Prints the tail of the child's output (it went to a temporary file). */
static void sweep_print_tail(FILE *log)
{
    char buf[1024];
    long size;
    fflush(log);
    if (fseek(log, 0, SEEK_END) || (size = ftell(log)) <= 0) {
        return;
    }
    long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
    fseek(log, from, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, log);
    buf[n] = '\0';
    char *p = buf;
    if (from > 0 && strchr(p, '\n')) {
        p = strchr(p, '\n') + 1;
    }
    for (char *line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
        fprintf(stderr, "    | %s\n", line);
    }
}

/* Runs one configuration; returns 0 when the child wrote its row, 1 when it did not. */
static int sweep_run_one(const sweep_file *sf, const sweep_config *c, sweep_progress *pg,
                         sweep_roofs *roofs, const char *what)
{
    FILE *log = tmpfile();
    char **argv = sweep_argv(sf, c, sweep_roof_find(roofs, c));
    long before = sweep_file_size(sf->csv);
    double t0 = odg_now();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        sweep_progress_line(pg, "odegrad sweep: fork: %s\n", strerror(errno));
        free(argv);
        if (log) {
            fclose(log);
        }
        return 1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
        }
        if (log) {
            dup2(fileno(log), 1);
            dup2(fileno(log), 2);
        }
        execv("/proc/self/exe", argv);
        fprintf(stderr, "exec /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    /* A child that hangs past its own --timeout is killed: the sweep must go on. */
    double limit = c->val[K_TIMEOUT] ? 2 * atof(c->val[K_TIMEOUT]) + 60 : 0;
    int st = 0, killed = 0;
    double drawn = t0;
    for (;;) {
        if (odg_now() - drawn >= 1) {
            drawn = odg_now();
            sweep_progress_draw(pg, what, drawn - t0);
        }
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            break;
        }
        if (w < 0 && errno != EINTR) {
            break;
        }
        if (limit > 0 && odg_now() - t0 > limit && !killed) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    double wall = odg_now() - t0;
    long after = sweep_file_size(sf->csv);
    int wrote = after > before && after > 0;
    int rc = 0;
    char secs[32];
    snprintf(secs, sizeof secs, "%.1fs", wall);
    if (WIFSIGNALED(st) && (WTERMSIG(st) == SIGINT || WTERMSIG(st) == SIGTERM)) {
        sweep_interrupted = WTERMSIG(st);
    }
    /* `odegrad run` exits 0 for an ok row and ODG_EXIT_NOTOK for a row with another status */
    if (wrote && WIFEXITED(st) &&
        (WEXITSTATUS(st) == ODG_EXIT_OK || WEXITSTATUS(st) == ODG_EXIT_NOTOK)) {
        static const char *const names[] = {"status", "time_median_s", "roofline_gflops"};
        char got[3][SWEEP_FIELD_LEN], shown[48] = "";
        sweep_last_row(sf->csv, names, 3, got);
        char *end;
        double t = strtod(got[1], &end);
        if (end != got[1] && isfinite(t)) {
            snprintf(shown, sizeof shown, "median %.3g s, ", t);
        }
        sweep_roof_add(roofs, c, got[2]);
        sweep_progress_line(pg, "[%ld/%ld] %-8s %s (%s%s)\n", pg->done + 1, pg->total, got[0], what,
                            shown, secs);
    } else {
        char why[96];
        if (killed) {
            snprintf(why, sizeof why, "killed after %s, past twice its --timeout", secs);
        } else if (WIFSIGNALED(st)) {
            snprintf(why, sizeof why, "child died of signal %d (%s)", WTERMSIG(st),
                     strsignal(WTERMSIG(st)));
        } else if (WIFEXITED(st)) {
            snprintf(why, sizeof why, "child exited with status %d", WEXITSTATUS(st));
        } else {
            snprintf(why, sizeof why, "child lost");
        }
        sweep_progress_line(pg, "[%ld/%ld] FAILED   %s: %s%s\n", pg->done + 1, pg->total, what, why,
                            wrote ? "" : ", no row written");
        if (log) {
            sweep_print_tail(log);
        }
        rc = 1;
    }
    if (log) {
        fclose(log);
    }
    free(argv);
    pg->elapsed_done += wall;
    return rc;
}

/* ---- the command ---------------------------------------------------------------------------- */

static void sweep_usage(FILE *fp)
{
    fprintf(fp,
            "usage: odegrad sweep [--output DIR] [--resume FILE] [--host NAME] [--dry-run] "
            "FILE...\n"
            "\n"
            "Runs every configuration of the sweep files, each as its own `odegrad run` child,\n"
            "appending one row per configuration to DIR/HOST-DATE.csv (DIR: the file's\n"
            "'output', default results/NAME).  Configurations already recorded there for the\n"
            "same commit are skipped, so an interrupted sweep resumes where it stopped.\n"
            "\n"
            "  --output DIR   write the results under DIR instead of the files' 'output'\n"
            "  --resume FILE  append to (and skip what is recorded in) this results file\n"
            "  --host NAME    the HOST in HOST-DATE.csv (default: this machine's name)\n"
            "  --dry-run      print the configurations as command lines; run nothing\n"
            "\n"
            "A sweep file:\n"
            "  [sweep]\n"
            "  name = steps                 ; the experiment (column 'experiment')\n"
            "  output = results/steps       ; optional\n"
            "  repeat = 3                   ; any run key here is a default for every [run]\n"
            "  [run discrete]\n"
            "  method = backprop, backprop-steps\n"
            "  steps = 2^3..2^12            ; lists expand to their cross product\n"
            "\n"
            "Values: one item or a comma-separated list; an item may be a range A..B (integers)\n"
            "or B^a..B^b (powers of one base, e.g. 10^-2..10^-10); 'nproc' is the number of\n"
            "processors; N*KEY derives a value (hidden = 4*dim).  A [sweep] default is used only\n"
            "where it applies (no checkpoints for backprop); a [run] key that does not apply to\n"
            "one of the section's methods is an error.\n"
            "\n"
            "Keys (`odegrad run` flags without the dashes):\n ");
    int col = 1;
    for (int k = 0; k < NKEYS; k++) {
        int w = (int)strlen(keys[k].name) + 1;
        if (col + w > 78) {
            fprintf(fp, "\n ");
            col = 1;
        }
        fprintf(fp, " %s", keys[k].name);
        col += w;
    }
    fprintf(fp, "\nand the other names of a key:");
    for (size_t a = 0; a < sizeof key_aliases / sizeof key_aliases[0]; a++) {
        fprintf(fp, "%s %s (%s)", a ? "," : "", key_aliases[a].name, keys[key_aliases[a].key].name);
    }
    fprintf(fp, ".\n");
}

static int sweep_mkdirs(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0777) && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    if (mkdir(path, 0777) && errno != EEXIST) {
        return -1;
    }
    return 0;
}

int odg_cli_sweep(int argc, char **argv)
{
    const char *output = NULL, *resume = NULL, *host_opt = NULL;
    int dry = 0;
    const char **files = sweep_alloc((size_t)(argc + 1) * sizeof *files);
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            sweep_usage(stdout);
            free(files);
            return 0;
        } else if (strcmp(a, "--dry-run") == 0) {
            dry = 1;
            continue;
        } else if (strcmp(a, "--output") == 0) {
            dst = &output;
        } else if (strcmp(a, "--resume") == 0) {
            dst = &resume;
        } else if (strcmp(a, "--host") == 0) {
            dst = &host_opt;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "odegrad sweep: unknown option %s (see odegrad sweep --help)\n", a);
            free(files);
            return ODG_EXIT_USAGE;
        } else {
            files[nfiles++] = a;
            continue;
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0') {
            fprintf(stderr, "odegrad sweep: %s needs a value\n", a);
            free(files);
            return ODG_EXIT_USAGE;
        }
        *dst = argv[++i];
    }
    if (nfiles == 0) {
        sweep_usage(stderr);
        free(files);
        return ODG_EXIT_USAGE;
    }

    char host[128];
    if (host_opt) {
        snprintf(host, sizeof host, "%s", host_opt);
    } else if (gethostname(host, sizeof host) != 0) {
        snprintf(host, sizeof host, "localhost");
    }
    host[sizeof host - 1] = '\0';
    if (!host_opt && strchr(host, '.')) {
        *strchr(host, '.') = '\0';
    }
    for (char *c = host; *c; c++) {
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') {
            *c = '_'; /* it becomes part of a file name */
        }
    }
    char date[16];
    time_t now = time(NULL);
    struct tm tmv;
    localtime_r(&now, &tmv);
    strftime(date, sizeof date, "%Y-%m-%d", &tmv);

    /* Everything is read and checked before anything runs. */
    sweep_file *sfs = sweep_alloc((size_t)nfiles * sizeof *sfs);
    int rc = 0, loaded = 0;
    for (int f = 0; f < nfiles && rc == 0; f++) {
        rc = sweep_load(files[f], &sfs[f]);
        loaded = f + 1;
        if (rc == 0) {
            char dir[PATH_MAX], path[PATH_MAX + 160];
            if (output) {
                snprintf(dir, sizeof dir, "%s", output);
            } else if (sfs[f].output) {
                snprintf(dir, sizeof dir, "%s", sfs[f].output);
            } else {
                snprintf(dir, sizeof dir, "results/%s", sfs[f].name);
            }
            if (resume) {
                snprintf(path, sizeof path, "%s", resume);
            } else {
                snprintf(path, sizeof path, "%s/%s-%s.csv", dir, host, date);
            }
            sfs[f].csv = sweep_strdup(path);
        }
    }
    /* A results file written by a version with other columns cannot take this version's rows:
     * refused now rather than by every child.  (Other problems with the file, such as a
     * directory in its place, are each child's to report.) */
    for (int f = 0; f < nfiles && rc == 0; f++) {
        char err[ODG_ERRLEN];
        if (odg_csv_check(sfs[f].csv, err) == ODG_EFORMAT) {
            fprintf(stderr, "odegrad sweep: %s (--output DIR or --host NAME names another)\n", err);
            rc = ODG_EXIT_USAGE;
        }
    }
    /* only now, with every file accepted, is anything created */
    for (int f = 0; f < nfiles && rc == 0 && !dry; f++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", sfs[f].csv);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (sweep_mkdirs(dir)) {
                fprintf(stderr, "odegrad sweep: cannot create %s: %s\n", dir, strerror(errno));
                rc = ODG_EXIT_FAIL;
            }
        }
    }
    if (rc) {
        goto done;
    }

    char *commit = sweep_commit();
    long total = 0, skipped = 0;
    /* which configurations to run: a table per distinct results file */
    char **todo = sweep_alloc((size_t)nfiles * sizeof *todo);
    for (int f = 0; f < nfiles && rc == 0; f++) {
        sweep_csv t;
        if (sweep_csv_read(sfs[f].csv, &t)) {
            rc = ODG_EXIT_USAGE;
            break;
        }
        todo[f] = sweep_alloc((size_t)sfs[f].ncfg + 1);
        for (int i = 0; i < sfs[f].ncfg; i++) {
            /* without a known commit nothing is skipped: better measure twice than never */
            todo[f][i] = !(commit && sweep_recorded(&t, &sfs[f].cfg[i], sfs[f].name, commit));
            total += todo[f][i];
            skipped += !todo[f][i];
        }
        sweep_csv_free(&t);
    }
    if (rc) {
        for (int f = 0; f < nfiles; f++) {
            free(todo[f]);
        }
        free(todo);
        free(commit);
        goto done;
    }

    if (dry) {
        for (int f = 0; f < nfiles; f++) {
            printf("# %s (%s): %d configuration%s -> %s\n", sfs[f].name, sfs[f].path, sfs[f].ncfg,
                   sfs[f].ncfg == 1 ? "" : "s", sfs[f].csv);
            for (int i = 0; i < sfs[f].ncfg; i++) {
                char **av = sweep_argv(&sfs[f], &sfs[f].cfg[i], NULL);
                printf("%s", todo[f][i] ? "" : "# recorded: ");
                for (int j = 0; av[j]; j++) {
                    printf("%s%s", j ? " " : "", av[j]);
                }
                printf("\n");
                free(av);
            }
        }
        printf("# %ld to run, %ld already recorded\n", total, skipped);
    } else {
        sweep_progress pg;
        memset(&pg, 0, sizeof pg);
        pg.tty = isatty(2);
        pg.width = 80;
        struct winsize ws;
        if (pg.tty && ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) {
            pg.width = ws.ws_col;
        }
        pg.total = total;
        for (int f = 0; f < nfiles; f++) {
            for (int i = 0; i < sfs[f].ncfg; i++) {
                pg.cost_total += todo[f][i] ? sweep_cost(&sfs[f].cfg[i]) : 0;
            }
        }
        fprintf(stderr, "odegrad sweep: %ld configuration%s to run", total, total == 1 ? "" : "s");
        if (skipped) {
            fprintf(stderr, ", %ld already recorded for commit %s", skipped, commit);
        }
        if (!commit) {
            fprintf(stderr, " (commit unknown: nothing skipped)");
        }
        fprintf(stderr, "\n");
        struct sigaction sa, old_int, old_term;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = sweep_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        long failed = 0;
        sweep_roofs roofs = {NULL, 0};
        double t0 = odg_now();
        for (int f = 0; f < nfiles && !sweep_interrupted; f++) {
            for (int i = 0; i < sfs[f].ncfg && !sweep_interrupted; i++) {
                if (!todo[f][i]) {
                    continue;
                }
                char what[512];
                sweep_describe(&sfs[f], &sfs[f].cfg[i], what, sizeof what);
                sweep_progress_draw(&pg, what, 0);
                failed += sweep_run_one(&sfs[f], &sfs[f].cfg[i], &pg, &roofs, what);
                pg.cost_done += sweep_cost(&sfs[f].cfg[i]);
                pg.done++;
            }
        }
        free(roofs.v);
        char wall[32];
        sweep_format_duration(odg_now() - t0, wall, sizeof wall);
        if (pg.tty) {
            fputs("\r\033[K", stderr);
        }
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        if (sweep_interrupted) {
            fprintf(stderr,
                    "odegrad sweep: interrupted after %ld of %ld (%s); run it again to "
                    "resume\n",
                    pg.done, total, wall);
            rc = 130;
        } else {
            fprintf(stderr, "odegrad sweep: %ld run, %ld without a row, %s\n", pg.done, failed,
                    wall);
            rc = failed ? 1 : 0;
        }
        for (int f = 0; f < nfiles; f++) {
            if (f == 0 || strcmp(sfs[f].csv, sfs[f - 1].csv) != 0) {
                fprintf(stderr, "  %s\n", sfs[f].csv);
            }
        }
    }
    for (int f = 0; f < nfiles; f++) {
        free(todo[f]);
    }
    free(todo);
    free(commit);
done:
    for (int f = 0; f < loaded; f++) {
        sweep_free(&sfs[f]);
    }
    free(sfs);
    free(files);
    return rc;
}
