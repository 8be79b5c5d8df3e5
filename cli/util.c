/* Helpers every subcommand shares: the library's lists (generated from the .def files through
 * the *_name / *_desc functions, never written a second time) and strict parsing of flag values
 * with one clear message per problem. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the lists ---------------------------------------------------------------------------- */

static const char *model_name(int i)
{
    return odg_model_kind_name((odg_model_kind)i);
}
static const char *model_desc(int i)
{
    return odg_model_kind_desc((odg_model_kind)i);
}
static const char *scheme_name(int i)
{
    return odg_scheme_name((odg_scheme)i);
}
static const char *scheme_desc(int i)
{
    return odg_scheme_desc((odg_scheme)i);
}
static const char *method_name(int i)
{
    return odg_method_name((odg_method)i);
}
static const char *method_desc(int i)
{
    return odg_method_desc((odg_method)i);
}
static const char *schedule_name(int i)
{
    return odg_schedule_name((odg_schedule)i);
}
static const char *schedule_desc(int i)
{
    return odg_schedule_desc((odg_schedule)i);
}
static const char *interp_name(int i)
{
    return odg_interp_name((odg_interp)i);
}
static const char *interp_desc(int i)
{
    return odg_interp_desc((odg_interp)i);
}
static const char *spectrum_name(int i)
{
    return odg_spectrum_name((odg_spectrum)i);
}
static const char *spectrum_desc(int i)
{
    return odg_spectrum_desc((odg_spectrum)i);
}
static const char *blas_name(int i)
{
    return odg_blas_mode_name((odg_blas_mode)i);
}
static const char *blas_desc(int i)
{
    return odg_blas_mode_desc((odg_blas_mode)i);
}
static const char *ref_name(int i)
{
    return odg_ref_kind_name((odg_ref_kind)i);
}
static const char *ref_desc(int i)
{
    static const char *const d[] = {
        "analytic for linear, fine for mlp",
        "exact continuous gradient by Van Loan's block exponential (linear only)",
        "discrete-exact gradient of RK4 at N_fine = 1024, 2048, ... until halving h changes it "
        "by < 1e-12 (cached)",
        "no reference: err_vs_reference stays empty",
    };
    return (i >= 0 && i <= ODG_REF_NONE) ? d[i] : "?";
}
static const char *column_name(int i)
{
    return odg_column_name((odg_column)i);
}
static const char *column_desc(int i)
{
    return odg_column_desc((odg_column)i);
}
static const char *tag_name(int i)
{
    return odg_tag_name((odg_tag)i);
}
static const char *tag_desc(int i)
{
    static const char *const d[] = {
#define ODG_TAG(e, name, what) what,
#include "odegrad/tags.def"
#undef ODG_TAG
    };
    return (i >= 0 && i < ODG_NTAGS) ? d[i] : "?";
}

/* The status column's values: the distinct record names of status.def in order of first
 * appearance, each described by the messages of the codes that map to it. */
static int record_status_code(int i)
{
    int k = -1;
    for (int s = 0; s < ODG_NSTATUS; s++) {
        int first = 1;
        for (int t = 0; t < s && first; t++) {
            first = strcmp(odg_status_record((odg_status)t), odg_status_record((odg_status)s)) != 0;
        }
        if (first && ++k == i) {
            return s;
        }
    }
    return -1;
}
static const char *status_name(int i)
{
    int s = record_status_code(i);
    return s >= 0 ? odg_status_record((odg_status)s) : "?";
}
static const char *status_desc(int i)
{
    static char buf[512]; /* the CLI is single-threaded; one description at a time */
    int s0 = record_status_code(i);
    buf[0] = '\0';
    size_t len = 0;
    for (int s = s0; s >= 0 && s < ODG_NSTATUS; s++) {
        if (strcmp(odg_status_record((odg_status)s), odg_status_record((odg_status)s0)) == 0) {
            int k = snprintf(buf + len, sizeof buf - len, "%s%s", len ? "; " : "",
                             odg_status_str((odg_status)s));
            if (k < 0 || (size_t)k >= sizeof buf - len) {
                break;
            }
            len += (size_t)k;
        }
    }
    return buf;
}
static int count_record_statuses(void)
{
    int n = 0;
    while (record_status_code(n) >= 0) {
        n++;
    }
    return n;
}

const odg_cli_names odg_cli_lists[] = {
    {"models", "--model", ODG_NMODELS, model_name, model_desc},
    {"schemes", "--scheme", ODG_NSCHEMES, scheme_name, scheme_desc},
    {"methods", "--method", ODG_NMETHODS, method_name, method_desc},
    {"schedules", "--schedule", ODG_NSCHEDULES, schedule_name, schedule_desc},
    {"interpolations", "--interp", ODG_NINTERPS, interp_name, interp_desc},
    {"spectra", "--spectrum", ODG_NSPECTRA, spectrum_name, spectrum_desc},
    {"blas-modes", "--blas-mode", ODG_NBLAS_MODES, blas_name, blas_desc},
    {"references", "--reference", ODG_REF_NONE + 1, ref_name, ref_desc},
    {"columns", NULL, ODG_NCOLUMNS, column_name, column_desc},
    {"statuses", NULL, -1, status_name, status_desc},
    {"tags", NULL, ODG_NTAGS, tag_name, tag_desc},
};
const int odg_cli_nlists = (int)(sizeof odg_cli_lists / sizeof odg_cli_lists[0]);

const odg_cli_names *odg_cli_list_find(const char *what)
{
    for (int k = 0; k < odg_cli_nlists; k++) {
        if (strcmp(odg_cli_lists[k].what, what) == 0 ||
            (odg_cli_lists[k].flag && strcmp(odg_cli_lists[k].flag + 2, what) == 0)) {
            return &odg_cli_lists[k];
        }
    }
    return NULL;
}

int odg_cli_list_len(const odg_cli_names *l)
{
    return l->n >= 0 ? l->n : count_record_statuses();
}

void odg_cli_list_names(const odg_cli_names *l, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    int n = odg_cli_list_len(l);
    for (int i = 0; i < n; i++) {
        int k = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", l->name(i));
        if (k < 0 || (size_t)k >= cap - len) {
            return;
        }
        len += (size_t)k;
    }
}

int odg_cli_name(const char *cmd, const odg_cli_names *l, const char *text, int *out)
{
    int n = odg_cli_list_len(l);
    for (int i = 0; i < n; i++) {
        if (strcmp(text, l->name(i)) == 0) {
            *out = i;
            return 0;
        }
    }
    char names[512];
    odg_cli_list_names(l, names, sizeof names);
    fprintf(stderr, "odegrad %s: %s: '%s' is not one of %s\n", cmd, l->flag ? l->flag : l->what,
            text, names);
    return ODG_EXIT_USAGE;
}

/* ---- help text ---------------------------------------------------------------------------- */

void odg_cli_opt(FILE *f, const char *flag, const char *text)
{
    const int indent = 22, width = 80;
    fprintf(f, "  %-19s ", flag);
    if ((int)strlen(flag) > 19) {
        fprintf(f, "\n%*s", indent, "");
    }
    int col = indent;
    const char *p = text;
    while (*p) {
        size_t w = strcspn(p, " ");
        if (col > indent && col + 1 + (int)w > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", (int)w, p);
        col += (int)w;
        p += w;
        p += strspn(p, " ");
    }
    fputc('\n', f);
}

void odg_cli_opt_list(FILE *f, const char *flag, const char *pre, const char *list,
                      const char *dflt)
{
    char names[512], text[1024];
    odg_cli_list_names(odg_cli_list_find(list), names, sizeof names);
    snprintf(text, sizeof text, "%s%s (%s)", pre, names, dflt);
    odg_cli_opt(f, flag, text);
}

/* ---- numbers ------------------------------------------------------------------------------ */

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

/* A decimal integer in [lo, hi] (lo is 0 or 1, which names it in the message). */
static int parse_uint(const char *cmd, const char *flag, const char *text, uint64_t lo, uint64_t hi,
                      uint64_t *out)
{
    const char *what = lo > 0 ? "a positive integer" : "a non-negative integer";
    if (!digits_only(text)) {
        fprintf(stderr, "odegrad %s: %s: '%s' is not %s\n", cmd, flag, text, what);
        return ODG_EXIT_USAGE;
    }
    errno = 0;
    unsigned long long v = strtoull(text, NULL, 10);
    if (v < lo) {
        fprintf(stderr, "odegrad %s: %s: '%s' is not %s\n", cmd, flag, text, what);
        return ODG_EXIT_USAGE;
    }
    if (errno == ERANGE || v > hi) {
        fprintf(stderr, "odegrad %s: %s: '%s' is too large (at most %llu)\n", cmd, flag, text,
                (unsigned long long)hi);
        return ODG_EXIT_USAGE;
    }
    *out = (uint64_t)v;
    return 0;
}

int odg_cli_posint(const char *cmd, const char *flag, const char *text, long max, long *out)
{
    uint64_t v;
    int rc = parse_uint(cmd, flag, text, 1, (uint64_t)max, &v);
    if (rc == 0) {
        *out = (long)v;
    }
    return rc;
}

int odg_cli_count(const char *cmd, const char *flag, const char *text, long max, long *out)
{
    uint64_t v;
    int rc = parse_uint(cmd, flag, text, 0, (uint64_t)max, &v);
    if (rc == 0) {
        *out = (long)v;
    }
    return rc;
}

int odg_cli_u64(const char *cmd, const char *flag, const char *text, uint64_t max, uint64_t *out)
{
    return parse_uint(cmd, flag, text, 0, max, out);
}

/* A finite decimal number, the whole text (strtod's hex floats, inf and nan refused). */
static int parse_real(const char *text, double *out)
{
    if (!*text || strpbrk(text, "xXnNiI ") != NULL) {
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

int odg_cli_posreal(const char *cmd, const char *flag, const char *text, double *out)
{
    double v;
    if (parse_real(text, &v) != 0 || !(v > 0)) {
        fprintf(stderr, "odegrad %s: %s: '%s' is not a positive number\n", cmd, flag, text);
        return ODG_EXIT_USAGE;
    }
    *out = v;
    return 0;
}

int odg_cli_real_min(const char *cmd, const char *flag, const char *text, double min, double *out)
{
    double v;
    if (parse_real(text, &v) != 0 || !(v >= min)) {
        fprintf(stderr, "odegrad %s: %s: '%s' is not a number >= %g\n", cmd, flag, text, min);
        return ODG_EXIT_USAGE;
    }
    *out = v;
    return 0;
}

int odg_cli_bytes(const char *cmd, const char *flag, const char *text, size_t *out)
{
    if (strcmp(text, "auto") == 0) {
        *out = ODG_MEM_AUTO;
        return 0;
    }
    if (strcmp(text, "none") == 0) {
        *out = ODG_MEM_NONE;
        return 0;
    }
    static const struct {
        const char *suffix;
        double scale;
    } units[] = {{"", 1},         {"B", 1},      {"K", 0x1p10},   {"KiB", 0x1p10},
                 {"k", 0x1p10},   {"M", 0x1p20}, {"MiB", 0x1p20}, {"G", 0x1p30},
                 {"GiB", 0x1p30}, {"T", 0x1p40}, {"TiB", 0x1p40}};
    char num[64];
    size_t k = strspn(text, "0123456789.");
    if (k == 0 || k >= sizeof num) {
        goto bad;
    }
    memcpy(num, text, k);
    num[k] = '\0';
    double v;
    if (parse_real(num, &v) != 0) {
        goto bad;
    }
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        if (strcmp(text + k, units[u].suffix) == 0) {
            double b = floor(v * units[u].scale);
            if (!(b >= 1)) {
                goto bad;
            }
            if (b >= 0x1p62) {
                fprintf(stderr, "odegrad %s: %s: '%s' is too large\n", cmd, flag, text);
                return ODG_EXIT_USAGE;
            }
            *out = (size_t)b;
            return 0;
        }
    }
bad:
    fprintf(stderr,
            "odegrad %s: %s: '%s' is not a size in bytes (e.g. 2000000000, 512M, 4G), auto or "
            "none\n",
            cmd, flag, text);
    return ODG_EXIT_USAGE;
}
