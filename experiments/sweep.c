/* A sweep file read and expanded into run configurations (include/odegrad/experiments.h).
 *
 *   [sweep]                      name (the experiment), output, description; any option here is
 *   name = steps                 a default for every [run] section, used where it applies
 *   method = backprop, ...
 *   [run LABEL]                  options; lists expand to their cross product, the last option
 *   steps = 2^3..2^12            of options.def varying fastest
 *
 * A value is an item or a comma-separated list; an item may be a range A..B (integers) or
 * B^a..B^b (powers of one base), "nproc" (the CPUs this process may use) for an integer, or F*KEY
 * for a number derived from another option of the same type (hidden = 4*dim).  Every value goes
 * through odg_option_set and every configuration through odg_run_config_check: a sweep accepts
 * exactly what `odegrad run` accepts.  The size of each section's cross product is checked
 * before it is expanded, and duplicates are found through a hash of each configuration's
 * identity, so expansion is linear in the number of configurations. */
#include "odegrad/experiments.h"

#include <ini.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The values one section gives an option, as text; line 0: not set. */
typedef struct {
    int line;
    int n;
    char **v;
} setting;

typedef struct {
    int line; /* of the [header] */
    setting set[ODG_NOPTIONS];
} section;

struct odg_sweep {
    char *path, *name, *output, *description;
    int has_sweep;
    section defaults; /* [sweep] */
    section *runs;
    int nruns;
    odg_run_config *cfg;
    char **ident; /* each configuration's identity as text (the dedup key) */
    int ncfg, cap;
    int varies[ODG_NOPTIONS];
};

typedef struct {
    const char *text, *end, *pos; /* the file in memory */
    odg_sweep *sw;
    int line;
    int cur; /* -1: before any section, -2: [sweep], -3: a refused section, >= 0: a run */
    int err_line;
    char err[ODG_ERRLEN];
    int oom;
    long nvalues; /* list items stored so far, ranges expanded */
} parser;

static void perr(parser *ps, int line, const char *fmt, ...)
{
    if (ps->err_line) {
        return; /* the first error is the one to fix */
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err, sizeof ps->err, fmt, ap);
    va_end(ap);
    ps->err_line = line > 0 ? line : 1;
}

static char *dupstr(parser *ps, const char *s)
{
    char *d = strdup(s);
    if (!d) {
        ps->oom = 1;
        perr(ps, ps->line, "out of memory");
    }
    return d;
}

static char *trim(char *s)
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

/* A [header] as the reader sees it.  Sections are tracked here rather than in the key handler
 * because inih reports only sections that hold keys, and two [run] sections may share a label:
 * a section is known by its line. */
static void section_start(parser *ps, const char *s)
{
    odg_sweep *sw = ps->sw;
    const char *close = strchr(s, ']');
    ps->cur = -3;
    if (!close) {
        return; /* inih reports the missing ']' */
    }
    const char *after = close + 1;
    while (*after && isspace((unsigned char)*after)) {
        after++;
    }
    if (*after && *after != ';' && *after != '#') {
        perr(ps, ps->line, "text after the section header's ']'");
        return;
    }
    char inner[128];
    size_t n = (size_t)(close - s - 1);
    if (n >= sizeof inner) {
        perr(ps, ps->line, "section header longer than %zu characters", sizeof inner - 1);
        return;
    }
    memcpy(inner, s + 1, n);
    inner[n] = '\0';
    char *name = trim(inner);
    if (strcmp(name, "sweep") == 0) {
        if (sw->has_sweep) {
            perr(ps, ps->line, "a second [sweep] section (the first is on line %d)",
                 sw->defaults.line);
            return;
        }
        sw->has_sweep = 1;
        sw->defaults.line = ps->line;
        ps->cur = -2;
    } else if (strncmp(name, "run", 3) == 0 &&
               (name[3] == '\0' || isspace((unsigned char)name[3]))) {
        if (!sw->has_sweep) {
            perr(ps, ps->line, "[%s] before [sweep] (the file starts with [sweep])", name);
            return;
        }
        section *runs = realloc(sw->runs, (size_t)(sw->nruns + 1) * sizeof *runs);
        if (!runs) {
            ps->oom = 1;
            perr(ps, ps->line, "out of memory");
            return;
        }
        sw->runs = runs;
        memset(&runs[sw->nruns], 0, sizeof runs[0]);
        runs[sw->nruns].line = ps->line;
        ps->cur = sw->nruns++;
    } else {
        perr(ps, ps->line, "unknown section [%s] (expected [sweep] or [run LABEL])", name);
    }
}

/* inih's reader: one line of the buffer at a time, counted, and the syntax inih would read
 * differently from what a user means refused here. */
static char *reader(char *str, int num, void *stream)
{
    parser *ps = stream;
    if (ps->pos >= ps->end) {
        return NULL;
    }
    const char *nl = memchr(ps->pos, '\n', (size_t)(ps->end - ps->pos));
    size_t len = (size_t)((nl ? nl + 1 : ps->end) - ps->pos);
    ps->line++;
    if (len + 1 > (size_t)num) {
        perr(ps, ps->line, "line longer than %d characters", num - 3);
        ps->pos += len;
        str[0] = '\0';
        return str;
    }
    memcpy(str, ps->pos, len);
    str[len] = '\0';
    ps->pos += len;
    if (strlen(str) != len) {
        perr(ps, ps->line, "a NUL byte in the line");
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
        section_start(ps, s);
    } else if (indented && *s && *s != ';' && *s != '#' && !strpbrk(s, "=:")) {
        /* inih would take it as a continuation of the previous value */
        perr(ps, ps->line, "continuation lines are not supported: write the list on one line");
    }
    return str;
}

/* ---- values ------------------------------------------------------------------------------- */

static int is_integer_type(odg_opttype t)
{
    return t == ODG_OPTTYPE_INT;
}

static int is_number_type(odg_opttype t)
{
    return t == ODG_OPTTYPE_INT || t == ODG_OPTTYPE_REAL || t == ODG_OPTTYPE_REAL1;
}

static int parse_long(const char *s, long *out)
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

/* B^e as text: an integer when e >= 0, else 10^-k as "1e-k" (exact, unlike pow()) or the
 * shortest decimal of pow(). */
static int power_text(long base, long e, char *out, size_t cap)
{
    if (e >= 0) {
        long p = 1;
        for (long k = 0; k < e; k++) {
            if (p > LONG_MAX / base) {
                return -1;
            }
            p *= base;
        }
        snprintf(out, cap, "%ld", p);
        return 0;
    }
    if (base == 10) {
        snprintf(out, cap, "1e%ld", e);
        return 0;
    }
    return odg_fmt_real(out, cap, pow((double)base, (double)e)) < 0 ? -1 : 0;
}

/* "B^e" with 2 <= B and |e| <= 1000: 0 with base and e, -1 if it is not one. */
static int parse_power(const char *s, long *base, long *e)
{
    const char *caret = strchr(s, '^');
    char b[32];
    size_t n = caret ? (size_t)(caret - s) : 0;
    if (!caret || n == 0 || n >= sizeof b) {
        return -1;
    }
    memcpy(b, s, n);
    b[n] = '\0';
    return parse_long(b, base) || *base < 2 || parse_long(caret + 1, e) || *e < -1000 || *e > 1000
               ? -1
               : 0;
}

static int add_value(parser *ps, setting *st, const char *text)
{
    if (++ps->nvalues > ODG_SWEEP_MAX_CONFIGS) {
        perr(ps, ps->line, "more than %d values in the file's lists", ODG_SWEEP_MAX_CONFIGS);
        return -1;
    }
    char **v = realloc(st->v, (size_t)(st->n + 1) * sizeof *v);
    if (v) {
        st->v = v; /* grown: the old block is gone, whether the copy below succeeds or not */
    }
    char *d = v ? dupstr(ps, text) : NULL;
    if (!d) {
        ps->oom = 1;
        perr(ps, ps->line, "out of memory");
        return -1;
    }
    st->v[st->n++] = d;
    return 0;
}

/* Checks one value text against option o (through the table's own parser). */
static int check_value(parser *ps, odg_option o, const char *text)
{
    odg_run_config c;
    odg_run_config_default(&c);
    char why[ODG_ERRLEN];
    if (odg_option_set(&c, o, text, why) != ODG_OK) {
        perr(ps, ps->line, "'%s': %s", odg_option_get(o)->flag, why);
        return -1;
    }
    return 0;
}

/* "A..B" (integers, step 1) or "B^a..B^b" (one base, exponent step 1), either direction. */
static int parse_range(parser *ps, odg_option o, const char *item, const char *dots, setting *st)
{
    const odg_option_info *in = odg_option_get(o);
    char lo_s[64], hi_s[64];
    size_t n = (size_t)(dots - item);
    if (!is_number_type(in->type) || n == 0 || n >= sizeof lo_s ||
        strlen(dots + 2) >= sizeof hi_s) {
        perr(ps, ps->line, "bad range '%s' for '%s' (use A..B with integers or B^a..B^b)", item,
             in->flag);
        return -1;
    }
    memcpy(lo_s, item, n);
    lo_s[n] = '\0';
    snprintf(hi_s, sizeof hi_s, "%s", dots + 2);
    char *lo = trim(lo_s), *hi = trim(hi_s);
    long a, b, base_a, base_b;
    int pow_range;
    if (parse_power(lo, &base_a, &a) == 0 && parse_power(hi, &base_b, &b) == 0 &&
        base_a == base_b) {
        pow_range = 1;
    } else if (parse_long(lo, &a) == 0 && parse_long(hi, &b) == 0) {
        pow_range = 0;
    } else if (strcmp(hi, "nproc") == 0 && parse_long(lo, &a) == 0 && is_integer_type(in->type)) {
        pow_range = 0;
        b = odg_cpus_available();
    } else {
        perr(ps, ps->line,
             "bad range '%s' for '%s' (both ends integers, or both powers of one base: "
             "2^3..2^12)",
             item, in->flag);
        return -1;
    }
    /* the distance in unsigned arithmetic: b - a overflows a long for ends of opposite sign */
    unsigned long span =
        b >= a ? (unsigned long)b - (unsigned long)a : (unsigned long)a - (unsigned long)b;
    if (span >= ODG_SWEEP_MAX_RANGE) {
        perr(ps, ps->line, "range '%s' has more than %d values", item, ODG_SWEEP_MAX_RANGE);
        return -1;
    }
    long step = b >= a ? 1 : -1;
    for (long x = a;; x += step) {
        char text[64];
        if (pow_range ? power_text(base_a, x, text, sizeof text)
                      : (snprintf(text, sizeof text, "%ld", x), 0)) {
            perr(ps, ps->line, "range '%s' for '%s': a value is too large", item, in->flag);
            return -1;
        }
        if (check_value(ps, o, text) || add_value(ps, st, text)) {
            return -1;
        }
        if (x == b) {
            break;
        }
    }
    return 0;
}

static int parse_item(parser *ps, odg_option o, char *item, setting *st)
{
    const odg_option_info *in = odg_option_get(o);
    const char *dots = strstr(item, "..");
    if (dots) {
        return parse_range(ps, o, item, dots, st);
    }
    const char *star = strchr(item, '*');
    if (star) {
        /* F*KEY: a number derived, per configuration, from another option of the same type */
        int ref = odg_option_find(star + 1);
        char factor[32];
        size_t n = (size_t)(star - item);
        double f = 0;
        char *end = factor;
        if (n > 0 && n < sizeof factor) {
            memcpy(factor, item, n);
            factor[n] = '\0';
            f = strtod(factor, &end);
        }
        int good = is_number_type(in->type) && ref >= 0 && ref != (int)o &&
                   odg_option_get((odg_option)ref)->type == in->type && end != factor &&
                   *end == '\0' && isfinite(f) && f > 0 &&
                   (!is_integer_type(in->type) || (f == floor(f) && f <= 1e9));
        if (!good) {
            perr(ps, ps->line,
                 "bad value '%s' for '%s' (a derived value is F*KEY: a positive factor and an "
                 "option of the same kind, e.g. hidden = 4*dim or atol = 1e-3*rtol)",
                 item, in->flag);
            return -1;
        }
        return add_value(ps, st, item);
    }
    if (strcmp(item, "nproc") == 0 && is_integer_type(in->type)) {
        char text[32];
        snprintf(text, sizeof text, "%d", odg_cpus_available());
        return check_value(ps, o, text) || add_value(ps, st, text);
    }
    long base, e;
    if (is_number_type(in->type) && parse_power(item, &base, &e) == 0) {
        char text[64];
        if (power_text(base, e, text, sizeof text)) {
            perr(ps, ps->line, "bad value '%s' for '%s' (too large)", item, in->flag);
            return -1;
        }
        return check_value(ps, o, text) || add_value(ps, st, text);
    }
    return check_value(ps, o, item) || add_value(ps, st, item);
}

/* A value: one item or a comma-separated list. */
static int parse_list(parser *ps, odg_option o, const char *value, setting *st)
{
    char *copy = dupstr(ps, value);
    if (!copy) {
        return -1;
    }
    char *t = trim(copy);
    int rc = 0;
    if (*t == '\0') {
        perr(ps, ps->line, "empty list for '%s'", odg_option_get(o)->flag);
        rc = -1;
    }
    for (char *p = t; rc == 0 && p;) {
        char *comma = strchr(p, ',');
        if (comma) {
            *comma = '\0';
        }
        char *item = trim(p);
        if (*item == '\0') {
            perr(ps, ps->line, "empty item in the list for '%s'", odg_option_get(o)->flag);
            rc = -1;
        } else {
            rc = parse_item(ps, o, item, st);
        }
        p = comma ? comma + 1 : NULL;
    }
    free(copy);
    return rc;
}

/* The experiment's name becomes a directory under results/ and a CSV field. */
static int good_name(const char *v)
{
    if (!isalnum((unsigned char)v[0]) || strlen(v) >= ODG_NAME_LEN) {
        return 0;
    }
    for (const char *c = v; *c; c++) {
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') {
            return 0;
        }
    }
    return 1;
}

/* An output directory given in a file stays relative and inside the tree it names. */
static int good_output(const char *v)
{
    if (v[0] == '/') {
        return 0;
    }
    for (const char *p = v; *p;) {
        size_t n = strcspn(p, "/");
        if ((n == 2 && p[0] == '.' && p[1] == '.') || n == 0) {
            return 0;
        }
        p += n;
        p += *p == '/';
    }
    return 1;
}

static int handler(void *user, const char *sec, const char *name, const char *value)
{
    (void)sec; /* tracked by the reader, see section_start */
    parser *ps = user;
    odg_sweep *sw = ps->sw;
    if (ps->cur == -3 || ps->err_line) {
        return 0;
    }
    if (ps->cur == -1) {
        perr(ps, ps->line, "'%s' outside a section (start with [sweep])", name);
        return 0;
    }
    char **meta = strcmp(name, "name") == 0          ? &sw->name
                  : strcmp(name, "output") == 0      ? &sw->output
                  : strcmp(name, "description") == 0 ? &sw->description
                                                     : NULL;
    if (meta) {
        if (ps->cur != -2) {
            perr(ps, ps->line, "'%s' belongs in [sweep]", name);
            return 0;
        }
        if (*meta) {
            perr(ps, ps->line, "'%s' given twice in [sweep]", name);
            return 0;
        }
        char *v = dupstr(ps, value);
        if (!v) {
            return 0;
        }
        memmove(v, trim(v), strlen(trim(v)) + 1);
        if (*v == '\0') {
            perr(ps, ps->line, "empty value for '%s'", name);
        } else if (meta == &sw->name && !good_name(v)) {
            perr(ps, ps->line,
                 "bad name '%s' (a letter or digit, then letters, digits, '-', '_', '.'; at most "
                 "%d characters)",
                 v, ODG_NAME_LEN - 1);
        } else if (meta == &sw->output && !good_output(v)) {
            perr(ps, ps->line,
                 "bad output '%s' (a relative directory without '..'; --output DIR on the command "
                 "line goes anywhere)",
                 v);
        }
        *meta = v;
        return ps->err_line == 0;
    }
    int o = odg_option_find(name);
    if (o >= 0 && !odg_option_get((odg_option)o)->sweep) {
        perr(ps, ps->line, "'%s' is not a sweep key (the sweep sets it)", name);
        return 0;
    }
    if (o < 0 && strcmp(name, "blas") == 0) {
        o = ODG_OPT_BLAS_MODE; /* the old name of blas-mode */
    }
    if (o < 0) {
        perr(ps, ps->line, "unknown key '%s' (see `odegrad sweep --help` for the keys)", name);
        return 0;
    }
    section *s = ps->cur == -2 ? &sw->defaults : &sw->runs[ps->cur];
    setting *st = &s->set[o];
    if (st->line) {
        perr(ps, ps->line, "'%s' given twice in this section (first on line %d)",
             odg_option_get((odg_option)o)->flag, st->line);
        return 0;
    }
    st->line = ps->line;
    return parse_list(ps, (odg_option)o, value, st) == 0;
}

/* ---- expanding ---------------------------------------------------------------------------- */

/* One configuration being built: the value of each option, the line that set it, and whether
 * the [run] section set it itself (not a [sweep] default). */
typedef struct {
    const char *v[ODG_NOPTIONS];
    int line[ODG_NOPTIONS];
    int own[ODG_NOPTIONS];
} draft;

/* FNV-1a over a string: the identities' hash set. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    }
    return h;
}

/* The hash set of identities: open addressing over indices into sw->ident. */
typedef struct {
    int *slot; /* -1 empty */
    size_t cap;
} idset;

static int idset_find_or_add(idset *h, odg_sweep *sw, const char *id, int idx)
{
    if ((size_t)(sw->ncfg + 1) * 2 > h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 1024;
        int *slot = malloc(cap * sizeof *slot);
        if (!slot) {
            return -2;
        }
        for (size_t i = 0; i < cap; i++) {
            slot[i] = -1;
        }
        for (size_t i = 0; i < h->cap; i++) {
            if (h->slot[i] >= 0) {
                size_t j = hash_str(sw->ident[h->slot[i]]) & (cap - 1);
                while (slot[j] >= 0) {
                    j = (j + 1) & (cap - 1);
                }
                slot[j] = h->slot[i];
            }
        }
        free(h->slot);
        h->slot = slot;
        h->cap = cap;
    }
    size_t j = hash_str(id) & (h->cap - 1);
    while (h->slot[j] >= 0) {
        if (strcmp(sw->ident[h->slot[j]], id) == 0) {
            return h->slot[j];
        }
        j = (j + 1) & (h->cap - 1);
    }
    if (idx >= 0) {
        h->slot[j] = idx;
    }
    return -1;
}

typedef struct {
    int line;
    char msg[ODG_ERRLEN];
} xerr;

static int xfail(xerr *e, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->line = line;
    return -1;
}

/* Builds one configuration from a draft and adds it unless it is there already. */
static int add_config(odg_sweep *sw, const section *sec, draft *d, idset *h, xerr *e)
{
    odg_run_config c;
    odg_run_config_default(&c);
    char why[ODG_ERRLEN];
    /* plain values first, then the derived ones (F*KEY), which read them */
    for (int pass = 0; pass < 2; pass++) {
        for (int o = 0; o < ODG_NOPTIONS; o++) {
            const char *v = d->v[o];
            if (!v || (strchr(v, '*') != NULL) != (pass == 1)) {
                continue;
            }
            char text[64];
            if (pass == 1) {
                const char *star = strchr(v, '*');
                int ref = odg_option_find(star + 1);
                if (!d->v[ref] || strchr(d->v[ref], '*')) {
                    return xfail(e, d->line[o], "'%s = %s' needs '%s' set to a number",
                                 odg_option_get((odg_option)o)->flag, v,
                                 odg_option_get((odg_option)ref)->flag);
                }
                double x = strtod(v, NULL) * strtod(d->v[ref], NULL);
                if (odg_option_get((odg_option)o)->type == ODG_OPTTYPE_INT) {
                    if (!(x < 9e18)) {
                        return xfail(e, d->line[o], "'%s = %s': the value is too large",
                                     odg_option_get((odg_option)o)->flag, v);
                    }
                    snprintf(text, sizeof text, "%.0f", x);
                } else {
                    /* 15 digits: the product of two decimal inputs without binary noise */
                    snprintf(text, sizeof text, "%.15g", x);
                }
                v = text;
            }
            if (odg_option_set(&c, (odg_option)o, v, why) != ODG_OK) {
                return xfail(e, d->line[o], "'%s': %s", odg_option_get((odg_option)o)->flag, why);
            }
        }
    }
    /* Fixed steps and forward tolerances exclude each other: a [run] section's own choice wins
     * over the [sweep] default of the other kind. */
    int tol_own = (d->v[ODG_OPT_RTOL] && d->own[ODG_OPT_RTOL]) ||
                  (d->v[ODG_OPT_ATOL] && d->own[ODG_OPT_ATOL]);
    if (d->v[ODG_OPT_STEPS] && d->own[ODG_OPT_STEPS] && !tol_own) {
        odg_option_reset(&c, ODG_OPT_RTOL);
        odg_option_reset(&c, ODG_OPT_ATOL);
    } else if (tol_own && d->v[ODG_OPT_STEPS] && !d->own[ODG_OPT_STEPS]) {
        odg_option_reset(&c, ODG_OPT_STEPS);
    }
    /* A default that does not apply is left out; one the section sets itself is an error.
     * Until nothing changes: leaving a default out can change where another applies. */
    for (int changed = 1; changed;) {
        changed = 0;
        for (int o = 0; o < ODG_NOPTIONS; o++) {
            if (!(c.given & ((uint64_t)1 << o)) || odg_option_applies(&c, (odg_option)o, why)) {
                continue;
            }
            if (d->own[o]) {
                /* blamed on the later of its line and the lines of what its rule reads: the
                 * line that made the combination */
                int line = d->line[o];
                for (int k = 0; k < ODG_NOPTIONS; k++) {
                    if (odg_option_depends((odg_option)o, (odg_option)k) && d->v[k] &&
                        d->line[k] > line) {
                        line = d->line[k];
                    }
                }
                return xfail(e, line, "'%s' %s; give those their own [run] section",
                             odg_option_get((odg_option)o)->flag, why);
            }
            odg_option_reset(&c, (odg_option)o);
            changed = 1;
        }
    }
    c.experiment = sw->name;
    int bad;
    if (odg_run_config_check(&c, &bad, why) != ODG_OK) {
        return xfail(e, bad >= 0 && d->line[bad] ? d->line[bad] : sec->line, "%s", why);
    }
    odg_run_config r = c;
    odg_run_config_resolve(&r);
    char *id = odg_run_config_key(&r);
    if (!id) {
        return xfail(e, sec->line, "out of memory");
    }
    int found = idset_find_or_add(h, sw, id, -1);
    if (found == -2) {
        free(id);
        return xfail(e, sec->line, "out of memory");
    }
    if (found >= 0) {
        free(id);
        return 0; /* listed twice: measured once */
    }
    if (sw->ncfg >= ODG_SWEEP_MAX_CONFIGS) {
        free(id);
        return xfail(e, sec->line, "more than %d configurations", ODG_SWEEP_MAX_CONFIGS);
    }
    if (sw->ncfg == sw->cap) {
        int cap = sw->cap ? 2 * sw->cap : 64;
        odg_run_config *cfg = realloc(sw->cfg, (size_t)cap * sizeof *cfg);
        if (cfg) {
            sw->cfg = cfg;
        }
        char **ident = cfg ? realloc(sw->ident, (size_t)cap * sizeof *ident) : NULL;
        if (ident) {
            sw->ident = ident;
        }
        if (!cfg || !ident) {
            free(id);
            return xfail(e, sec->line, "out of memory");
        }
        sw->cap = cap;
    }
    sw->cfg[sw->ncfg] = c;
    sw->ident[sw->ncfg] = id;
    if (idset_find_or_add(h, sw, id, sw->ncfg) == -2) {
        free(id);
        return xfail(e, sec->line, "out of memory");
    }
    sw->ncfg++;
    return 0;
}

static int expand(odg_sweep *sw, xerr *e)
{
    idset h = {NULL, 0};
    int rc = 0;
    double listed = 0; /* duplicates included: the work expanding takes */
    for (int r = 0; r < sw->nruns && rc == 0; r++) {
        const section *sec = &sw->runs[r];
        const setting *src[ODG_NOPTIONS];
        int own[ODG_NOPTIONS], idx[ODG_NOPTIONS];
        double product = 1; /* checked before expanding: a limit, not a minutes-long loop */
        for (int o = 0; o < ODG_NOPTIONS; o++) {
            own[o] = sec->set[o].line != 0;
            src[o] =
                own[o] ? &sec->set[o] : (sw->defaults.set[o].line ? &sw->defaults.set[o] : NULL);
            idx[o] = 0;
            product *= src[o] ? src[o]->n : 1;
        }
        listed += product;
        if (product > ODG_SWEEP_MAX_CONFIGS) {
            rc = xfail(e, sec->line,
                       "this section expands to %.0f configurations (at most %d in a file)",
                       product, ODG_SWEEP_MAX_CONFIGS);
            break;
        }
        if (listed > ODG_SWEEP_MAX_CONFIGS) {
            rc = xfail(e, sec->line,
                       "the sections up to this one list %.0f configurations, duplicates included "
                       "(at most %d in a file)",
                       listed, ODG_SWEEP_MAX_CONFIGS);
            break;
        }
        if (!src[ODG_OPT_METHOD]) {
            rc = xfail(e, sec->line, "no 'method' in this [run] section or in [sweep]");
            break;
        }
        for (;;) {
            draft d;
            memset(&d, 0, sizeof d);
            for (int o = 0; o < ODG_NOPTIONS; o++) {
                if (src[o]) {
                    d.v[o] = src[o]->v[idx[o]];
                    d.line[o] = src[o]->line;
                    d.own[o] = own[o];
                }
            }
            if ((rc = add_config(sw, sec, &d, &h, e)) != 0) {
                break;
            }
            /* the odometer: the last option varies fastest */
            int o = ODG_NOPTIONS - 1;
            for (; o >= 0; o--) {
                if (src[o] && ++idx[o] < src[o]->n) {
                    break;
                }
                idx[o] = 0;
            }
            if (o < 0) {
                break;
            }
        }
    }
    free(h.slot);
    for (int o = 0; rc == 0 && o < ODG_NOPTIONS; o++) {
        for (int i = 1; i < sw->ncfg && !sw->varies[o]; i++) {
            sw->varies[o] = !odg_option_equal(&sw->cfg[0], &sw->cfg[i], (odg_option)o);
        }
    }
    return rc;
}

/* ---- the public functions ----------------------------------------------------------------- */

odg_status odg_sweep_parse(odg_sweep **out, const char *path, const char *text, size_t len,
                           char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    if (!out || !path || (!text && len)) {
        return odg_fail(err, ODG_EINVAL, "odg_sweep_parse: a NULL argument");
    }
    *out = NULL;
    odg_sweep *sw = calloc(1, sizeof *sw);
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.text = ps.pos = text ? text : "";
    ps.end = ps.text + len;
    ps.sw = sw;
    ps.cur = -1;
    if (!sw || !(sw->path = strdup(path))) {
        free(sw);
        return odg_fail(err, ODG_ENOMEM, "%s: out of memory", path);
    }
    int rc = ini_parse_stream(reader, &ps, handler, &ps);
    odg_status st = ps.oom ? ODG_ENOMEM : ODG_EFORMAT;
    /* inih reports the first line it could not parse or that the handler refused; the reader may
     * have refused an earlier line that inih itself accepted */
    if (rc > 0 && (!ps.err_line || rc < ps.err_line)) {
        ps.err_line = rc;
        snprintf(ps.err, sizeof ps.err,
                 "syntax error (expected [section], key = value or a ; comment)");
    } else if (rc < 0 && !ps.err_line) {
        ps.err_line = 1;
        snprintf(ps.err, sizeof ps.err, "cannot read (inih error %d)", rc);
    }
    if (!ps.err_line && (!sw->has_sweep || !sw->name)) {
        ps.err_line = sw->has_sweep ? sw->defaults.line : 1;
        snprintf(ps.err, sizeof ps.err,
                 "no 'name' (every file needs [sweep] with name = EXPERIMENT)");
    }
    if (!ps.err_line && sw->nruns == 0) {
        ps.err_line = ps.line > 0 ? ps.line : 1;
        snprintf(ps.err, sizeof ps.err, "no [run] section");
    }
    if (!ps.err_line) {
        xerr e = {0, ""};
        if (expand(sw, &e) != 0) {
            ps.err_line = e.line;
            snprintf(ps.err, sizeof ps.err, "%s", e.msg);
            st = strstr(e.msg, "out of memory") ? ODG_ENOMEM : ODG_EINVAL;
        }
    }
    if (ps.err_line) {
        odg_fail(err, st, "%s:%d: %s", path, ps.err_line, ps.err);
        odg_sweep_destroy(&sw);
        return st;
    }
    if (!sw->output) {
        size_t n = strlen(sw->name) + 9;
        sw->output = malloc(n);
        if (!sw->output) {
            odg_sweep_destroy(&sw);
            return odg_fail(err, ODG_ENOMEM, "%s: out of memory", path);
        }
        snprintf(sw->output, n, "results/%s", sw->name);
    }
    *out = sw;
    return ODG_OK;
}

odg_status odg_sweep_read(odg_sweep **out, const char *path, char err[ODG_ERRLEN])
{
    if (out) {
        *out = NULL;
    }
    if (!out || !path) {
        return odg_fail(err, ODG_EINVAL, "odg_sweep_read: a NULL argument");
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        return odg_fail(err, ODG_EIO, "%s: %s", path, strerror(errno));
    }
    /* a sweep file is small: 1 MiB is far more than any configuration list needs */
    size_t cap = 1 << 20;
    char *text = malloc(cap + 1);
    size_t n = text ? fread(text, 1, cap + 1, fp) : 0;
    int bad = !text || ferror(fp);
    fclose(fp);
    if (bad) {
        free(text);
        return odg_fail(err, text ? ODG_EIO : ODG_ENOMEM, "%s: cannot read", path);
    }
    if (n > cap) {
        free(text);
        return odg_fail(err, ODG_EFORMAT, "%s: larger than 1 MiB: not a sweep file", path);
    }
    odg_status st = odg_sweep_parse(out, path, text, n, err);
    free(text);
    return st;
}

void odg_sweep_destroy(odg_sweep **ps)
{
    if (!ps || !*ps) {
        return;
    }
    odg_sweep *sw = *ps;
    for (int r = -1; r < sw->nruns; r++) {
        section *sec = r < 0 ? &sw->defaults : &sw->runs[r];
        for (int o = 0; o < ODG_NOPTIONS; o++) {
            for (int i = 0; i < sec->set[o].n; i++) {
                free(sec->set[o].v[i]);
            }
            free(sec->set[o].v);
        }
    }
    for (int i = 0; i < sw->ncfg; i++) {
        free(sw->ident[i]);
    }
    free(sw->ident);
    free(sw->cfg);
    free(sw->runs);
    free(sw->path);
    free(sw->name);
    free(sw->output);
    free(sw->description);
    free(sw);
    *ps = NULL;
}

const char *odg_sweep_name(const odg_sweep *s)
{
    return s->name;
}
const char *odg_sweep_output(const odg_sweep *s)
{
    return s->output;
}
const char *odg_sweep_path(const odg_sweep *s)
{
    return s->path;
}
int odg_sweep_count(const odg_sweep *s)
{
    return s->ncfg;
}
const odg_run_config *odg_sweep_config(const odg_sweep *s, int i)
{
    return i >= 0 && i < s->ncfg ? &s->cfg[i] : NULL;
}

int odg_sweep_command(const odg_sweep *s, int i, char *buf, size_t cap)
{
    const odg_run_config *c = odg_sweep_config(s, i);
    size_t len = 0;
    int k = snprintf(buf, cap, "odegrad run");
    for (int o = 0; c && k >= 0 && (size_t)k < cap - len && o < ODG_NOPTIONS; o++) {
        len += (size_t)k;
        k = 0;
        const odg_option_info *in = odg_option_get((odg_option)o);
        if (!(c->given & ((uint64_t)1 << o)) && o != ODG_OPT_EXPERIMENT) {
            continue;
        }
        char v[ODG_CELL_STRLEN + 64];
        if (odg_option_format(c, (odg_option)o, v, sizeof v) < 0) {
            return -1;
        }
        k = in->type == ODG_OPTTYPE_FLAG
                ? (strcmp(v, "1") == 0 ? snprintf(buf + len, cap - len, " --%s", in->flag) : 0)
                : snprintf(buf + len, cap - len, " --%s %s", in->flag, v);
    }
    if (!c || k < 0 || (size_t)k >= cap - len) {
        return -1;
    }
    return (int)(len + (size_t)k);
}

void odg_sweep_describe(const odg_sweep *s, int i, char *buf, size_t cap)
{
    const odg_run_config *c = odg_sweep_config(s, i);
    snprintf(buf, cap, "%s", s->name);
    for (int o = 0; c && o < ODG_NOPTIONS; o++) {
        if ((s->varies[o] || o == ODG_OPT_METHOD) && odg_option_applies(c, (odg_option)o, NULL) &&
            o != ODG_OPT_EXPERIMENT) {
            char v[ODG_CELL_STRLEN + 64];
            size_t used = strlen(buf);
            if (odg_option_format(c, (odg_option)o, v, sizeof v) >= 0 && used < cap) {
                snprintf(buf + used, cap - used, " %s=%s", odg_option_get((odg_option)o)->flag, v);
            }
        }
    }
}

double odg_sweep_cost(const odg_sweep *s, int i)
{
    const odg_run_config *c = odg_sweep_config(s, i);
    if (!c) {
        return 0;
    }
    double D = (double)c->model.D, B = (double)c->model.B;
    double H =
        c->model.kind == ODG_MODEL_MLP || c->model.kind == ODG_MODEL_CNF ? (double)c->model.H : D;
    /* a fifth-order pair takes about tol^(-1/5) steps */
    double N = c->rtol > 0 ? 8 * pow(1.0 / c->rtol, 0.2) : (double)c->steps;
    double R = c->repeat + c->warmup;
    double T = c->threads > 0 ? c->threads : 1;
    return 0.05 + 1e-9 * R * N * B * D * H / sqrt(T);
}
