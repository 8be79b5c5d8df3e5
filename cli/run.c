/* `odegrad run`: one configuration, honestly measured, recorded with provenance; and
 * `odegrad reference`: the same problem flags, the cached reference gradient alone.  The flag
 * parser also serves `odegrad roofline` (cli/roofline.c), which takes the flags that decide a
 * model's shapes and the thread count.
 *
 * The configuration's flags, their help and every check of their values come from the options
 * table (include/odegrad/options.def, through harness/options.c); this file adds only the flags
 * that are the command's own (--csv, --json, --from, --min-time, --help) and the getopt syntax.
 * --from reads a results file's row back through the same table (odg_csv_row_config, as resume
 * and tidy read rows), so a recorded configuration is rerun without anyone spelling its flags.
 *
 * Order matters: every flag, every file --load names and every output path is checked before
 * anything is created or appended, so bad input (exit 2) leaves no trace. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* getopt's codes: OPT_BASE + an option of options.def, then the command's own flags (above
 * every character getopt may return). */
#define OPT_BASE 256
enum {
    OPT_CSV = OPT_BASE + ODG_NOPTIONS,
    OPT_JSON,
    OPT_FROM,
    OPT_MIN_TIME,
    OPT_HELP,
    OPT_BLAS_OLD, /* --blas, the old name of --blas-mode */
    OPT_END
};

static const struct {
    const char *name;
    int has_arg;
    const char *meta, *help;
} own_flags[OPT_END - OPT_CSV] = {
    [OPT_CSV - OPT_CSV] = {"csv", required_argument, "FILE",
                                "append one row (the header when the file is new) and write "
                                "FILE.json with the provenance"},
    [OPT_JSON - OPT_CSV] = {"json", no_argument, "",
                                 "print the whole record as one JSON object on the last line"},
    [OPT_FROM - OPT_CSV] = {"from", required_argument, "FILE:LINE",
                            "start from the configuration of the row on line LINE of the "
                            "results file FILE (as grep -n counts: the header is line 1); the "
                            "other flags change it, and what the row sets that no longer "
                            "applies after them is dropped"},
    [OPT_MIN_TIME - OPT_CSV] = {"min-time", required_argument, "SECONDS", NULL},
    [OPT_HELP - OPT_CSV] = {"help", no_argument, "", "this text"},
    [OPT_BLAS_OLD - OPT_CSV] = {"blas", required_argument, "MODE", NULL},
};

/* The getopt table: every option of options.def, then the command's own flags. */
static const struct option *long_options(void)
{
    static struct option t[OPT_END - OPT_BASE + 1];
    if (t[0].name == NULL) {
        for (int o = 0; o < ODG_NOPTIONS; o++) {
            const odg_option_info *in = odg_option_get((odg_option)o);
            t[o].name = in->flag;
            t[o].has_arg = in->type == ODG_OPTTYPE_FLAG ? no_argument : required_argument;
            t[o].val = OPT_BASE + o;
        }
        for (int k = OPT_CSV; k < OPT_END; k++) {
            t[k - OPT_BASE].name = own_flags[k - OPT_CSV].name;
            t[k - OPT_BASE].has_arg = own_flags[k - OPT_CSV].has_arg;
            t[k - OPT_BASE].val = k;
        }
    }
    return t;
}

/* The flag's name for messages, from its code. */
static const char *flag_name(int code)
{
    if (code >= OPT_BASE && code < OPT_CSV) {
        return odg_option_get((odg_option)(code - OPT_BASE))->flag;
    }
    size_t k = (size_t)(code - OPT_CSV);
    return code >= OPT_CSV && k < sizeof own_flags / sizeof own_flags[0] ? own_flags[k].name : "?";
}

/* One option's help: its text, the names it takes and its default (the value of the default
 * configuration, where one is set). */
static void option_usage(FILE *f, odg_option o)
{
    const odg_option_info *in = odg_option_get(o);
    odg_run_config d;
    odg_run_config_default(&d);
    char flag[64], text[1024], dflt[64] = "", names[512] = "";
    snprintf(flag, sizeof flag, "--%s%s%s", in->flag, in->meta[0] ? " " : "", in->meta);
    if (in->type == ODG_OPTTYPE_NAME) {
        odg_list_names(odg_list_find(in->list), names, sizeof names);
    }
    int set = 0;
    switch (in->type) {
    case ODG_OPTTYPE_TEXT:
        set = in->dflt[0] != '\0';
        break;
    case ODG_OPTTYPE_FLAG:
        set = 0;
        break;
    case ODG_OPTTYPE_BYTES:
    case ODG_OPTTYPE_NAME:
        set = 1;
        break;
    default:
        set = odg_option_format(&d, o, dflt, sizeof dflt) > 0 && strcmp(dflt, "0") != 0;
        break;
    }
    if (set) {
        odg_option_format(&d, o, dflt, sizeof dflt);
    }
    char where[256];
    odg_option_where(o, where, sizeof where);
    snprintf(text, sizeof text, "%s%s%s%s%s%s%s%s%s", where[0] ? "[" : "", where,
             where[0] ? "] " : "", in->help, names[0] ? ": " : "", names, set ? " (" : "",
             set ? dflt : "", set ? ")" : "");
    odg_cli_opt(f, flag, text);
}

/* Whether a flag belongs to the command: `roofline` takes the flags that decide the model's
 * shapes, the thread count and its own --min-time; the others take every flag but --min-time
 * (`reference` refuses the output flags itself). */
static int flag_applies(const char *cmd, int code)
{
    if (strcmp(cmd, "roofline") != 0) {
        return code != OPT_MIN_TIME;
    }
    switch (code - OPT_BASE) {
    case ODG_OPT_MODEL:
    case ODG_OPT_DIM:
    case ODG_OPT_HIDDEN:
    case ODG_OPT_BATCH:
    case ODG_OPT_BATCH_CHUNK:
    case ODG_OPT_THREADS:
        return 1;
    default:
        break;
    }
    switch (code) {
    case OPT_MIN_TIME:
    case OPT_JSON:
    case OPT_HELP:
        return 1;
    default:
        return 0;
    }
}

void odg_cli_flags_usage(FILE *f, const char *cmd)
{
    const char *group = "";
    for (int o = 0; o < ODG_NOPTIONS; o++) {
        const odg_option_info *in = odg_option_get((odg_option)o);
        if (!flag_applies(cmd, OPT_BASE + o) || (strcmp(cmd, "reference") == 0 && strcmp(in->group, "Output") == 0)) {
            continue;
        }
        if (strcmp(group, in->group) != 0) {
            group = in->group;
            fprintf(f, "%s:\n", group);
        }
        option_usage(f, (odg_option)o);
    }
}

void odg_cli_run_usage(FILE *f, const char *cmd)
{
    int run = strcmp(cmd, "run") == 0;
    fprintf(f, "Usage: odegrad %s [FLAGS]\n\n", cmd);
    if (run) {
        fprintf(f, "Measures the gradient of L = sum(w .* z(t1)) / B through an ODE solve by one "
                   "method:\nmedian time, accounted/theory/resident memory, errors against the "
                   "reference and\nagainst the discrete-exact gradient.  One CSV row per run "
                   "(--csv), or --json.\n");
    } else {
        fprintf(f, "Computes (or finds in the cache) the reference gradient of the problem that "
                   "the same\nflags describe for `odegrad run`, and says where it is.  Cache: "
                   "$ODEGRAD_CACHE, else\nresults/reference.\n");
    }
    fprintf(f, "\n[Where a flag applies]: given for another model, method or scheme it is "
               "refused,\nwith where it applies.\n\n");
    odg_cli_flags_usage(f, cmd);
    odg_cli_opt(f, "--from FILE:LINE", own_flags[OPT_FROM - OPT_CSV].help);
    if (run) {
        odg_cli_opt(f, "--csv FILE", own_flags[OPT_CSV - OPT_CSV].help);
    }
    odg_cli_opt(f, "--json",
                run ? own_flags[OPT_JSON - OPT_CSV].help
                    : "print the reference's description as JSON");
    odg_cli_opt(f, "--help", "this text");
    if (run) {
        fprintf(f, "\nExit status: 0 ok; 1 the results could not be written; 2 bad input (nothing "
                   "was\nwritten); 3 recorded with a status other than ok (diverged, oom, "
                   "timeout, error,\nunconverged).\n");
    }
}

/* The value of --from, FILE:LINE, into *path (malloc'ed) and *line; 0, or ODG_EXIT_USAGE after
 * saying why. */
static int from_spec(const char *cmd, const char *spec, char **path, long *line)
{
    const char *colon = strrchr(spec, ':');
    const char *digits = colon ? colon + 1 : "";
    size_t nd = strspn(digits, "0123456789");
    if (!colon || colon == spec || nd == 0 || nd > 9 || digits[nd] != '\0' ||
        (*line = strtol(digits, NULL, 10)) < 1) {
        fprintf(stderr,
                "odegrad %s: --from: '%s' is not FILE:LINE (a results file and the line of a "
                "row, counted from 1)\n",
                cmd, spec);
        return ODG_EXIT_USAGE;
    }
    size_t n = (size_t)(colon - spec);
    *path = malloc(n + 1);
    if (!*path) {
        fprintf(stderr, "odegrad %s: out of memory\n", cmd);
        return ODG_EXIT_USAGE;
    }
    memcpy(*path, spec, n);
    (*path)[n] = '\0';
    return 0;
}

/* c = the configuration of the row on line `line` of the results file `path`, read into t. */
static int from_row(const char *cmd, const char *path, long line, odg_csv_table *t,
                    odg_run_config *c)
{
    char err[ODG_ERRLEN];
    FILE *probe = fopen(path, "r"); /* odg_csv_read takes a missing file for an empty one */
    if (!probe) {
        fprintf(stderr, "odegrad %s: --from: cannot open %s: %s\n", cmd, path, strerror(errno));
        return ODG_EXIT_USAGE;
    }
    fclose(probe);
    if (odg_csv_read(path, t, err) != ODG_OK) {
        fprintf(stderr, "odegrad %s: --from: %s\n", cmd, err);
        return ODG_EXIT_USAGE;
    }
    if (odg_csv_table_col(t, "model") < 0 || odg_csv_table_col(t, "status") < 0) {
        fprintf(stderr, "odegrad %s: --from: %s is not a results file (no column model or "
                        "status)\n",
                cmd, path);
        return ODG_EXIT_USAGE;
    }
    int i = 0;
    while (i < t->nrow && t->line[i] != line) {
        i++;
    }
    if (i == t->nrow) {
        if (t->nrow == 0) {
            fprintf(stderr, "odegrad %s: --from: %s has no rows\n", cmd, path);
        } else {
            fprintf(stderr,
                    "odegrad %s: --from: line %ld of %s is not a row (%s; the rows are on lines "
                    "%d to %d)\n",
                    cmd, line, path, line == 1 ? "it is the header" : "no such line, or a torn one",
                    t->line[0], t->line[t->nrow - 1]);
        }
        return ODG_EXIT_USAGE;
    }
    if (odg_csv_row_config(t, i, c, err) != ODG_OK) {
        fprintf(stderr, "odegrad %s: --from: %s: %s\n", cmd, path, err);
        return ODG_EXIT_USAGE;
    }
    return 0;
}

/* One getopt pass over argv.  Pass 0 looks for --from only (and says what is not a flag); pass
 * 1 sets every other flag, so that the flags change the row wherever they stand. */
static int parse_pass(const char *cmd, int argc, char **argv, odg_cli_run_opts *o, int pass,
                      const char **from)
{
    odg_run_config *c = &o->cfg;
    const struct option *table = long_options();
    char err[ODG_ERRLEN];
    opterr = 0;
    optind = 0; /* glibc: a full re-initialisation, so a caller may parse more than once */
    for (;;) {
        int opt = getopt_long(argc, argv, "+:", table, NULL);
        if (opt == -1) {
            break;
        }
        if (opt == OPT_BLAS_OLD) {
            opt = OPT_BASE + ODG_OPT_BLAS_MODE;
        }
        if (opt == ':') {
            fprintf(stderr, "odegrad %s: --%s needs a value\n", cmd, flag_name(optopt == OPT_BLAS_OLD ? OPT_BASE + ODG_OPT_BLAS_MODE : optopt));
            return ODG_EXIT_USAGE;
        }
        if (opt < OPT_BASE || opt >= OPT_END) {
            if (optopt) {
                fprintf(stderr, "odegrad %s: unknown flag '-%c' (see odegrad %s --help)\n", cmd,
                        optopt, cmd);
            } else {
                fprintf(stderr,
                        "odegrad %s: unknown or ambiguous flag '%s' (see odegrad %s --help)\n", cmd,
                        argv[optind - 1], cmd);
            }
            return ODG_EXIT_USAGE;
        }
        if (!flag_applies(cmd, opt)) {
            fprintf(stderr,
                    "odegrad %s: --%s does not apply to odegrad %s (see odegrad %s --help)\n", cmd,
                    flag_name(opt), cmd, cmd);
            return ODG_EXIT_USAGE;
        }
        /* "--dim --batch 4": the value is missing; no value of ours starts with "--" */
        if (optarg && strncmp(optarg, "--", 2) == 0) {
            fprintf(stderr, "odegrad %s: --%s needs a value (found the flag '%s')\n", cmd,
                    flag_name(opt), optarg);
            return ODG_EXIT_USAGE;
        }
        if ((pass == 0) != (opt == OPT_FROM)) {
            continue;
        }
        if (opt < OPT_CSV) {
            if (odg_option_set(c, (odg_option)(opt - OPT_BASE), optarg ? optarg : "", err) !=
                ODG_OK) {
                fprintf(stderr, "odegrad %s: --%s: %s\n", cmd, flag_name(opt), err);
                return ODG_EXIT_USAGE;
            }
            continue;
        }
        switch (opt) {
        case OPT_FROM:
            if (*from) {
                fprintf(stderr, "odegrad %s: --from is given twice\n", cmd);
                return ODG_EXIT_USAGE;
            }
            *from = optarg;
            break;
        case OPT_MIN_TIME: {
            char *end;
            double v = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !isfinite(v) || v < 0 ||
                strpbrk(optarg, "xXnN") != NULL) {
                fprintf(stderr, "odegrad %s: --min-time: '%s' is not a number >= 0\n", cmd,
                        optarg);
                return ODG_EXIT_USAGE;
            }
            o->min_time = v;
            break;
        }
        case OPT_CSV:
            o->csv = optarg;
            break;
        case OPT_JSON:
            o->json = 1;
            break;
        case OPT_HELP:
            if (strcmp(cmd, "roofline") == 0) {
                odg_cli_roofline_usage(stdout);
            } else {
                odg_cli_run_usage(stdout, cmd);
            }
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "odegrad %s: unexpected argument '%s' (see odegrad %s --help)\n", cmd,
                argv[optind], cmd);
        return ODG_EXIT_USAGE;
    }
    return 0;
}

/* The options a row read back sets: those whose value is not the default and that apply to the
 * row (the others, such as the steps an adaptive row records, are reset: they are results, not
 * configuration).  Their given-bits stay clear: what a run checks of a given flag, that it
 * applies, the row has passed already. */
static uint64_t row_options(odg_run_config *c)
{
    odg_run_config d;
    odg_run_config_default(&d);
    uint64_t row = 0;
    for (int k = 0; k < ODG_NOPTIONS; k++) {
        if (odg_option_equal(c, &d, (odg_option)k)) {
            continue;
        }
        if (odg_option_applies(c, (odg_option)k, NULL)) {
            row |= (uint64_t)1 << k;
        } else {
            odg_option_reset(c, (odg_option)k);
        }
    }
    c->given = 0;
    return row;
}

/* c is the row (rowcfg) with the flags over it; `kept` the row's options the flags did not set.
 * A row records values that odg_run_config_resolve derived from others (a tolerance given alone
 * takes the other's value, a continuous adjoint interpolates with the scheme's dense output):
 * where the flags derive such a value anew, it follows them, as the tolerance of `--rtol` over
 * an adaptive row.  Then what no longer applies is dropped, as that tolerance under `--scheme
 * rk4`.  The rest is the row's. */
static void follow_flags(odg_run_config *c, const odg_run_config *rowcfg, uint64_t kept)
{
    for (int k = 0; k < ODG_NOPTIONS; k++) {
        const odg_option o = (odg_option)k;
        if (!(kept & ((uint64_t)1 << k))) {
            continue;
        }
        odg_run_config was = *rowcfg, now = *c;
        odg_option_reset(&was, o);
        odg_run_config_resolve(&was);
        odg_option_reset(&now, o);
        odg_run_config_resolve(&now);
        if (odg_option_equal(&was, rowcfg, o) && !odg_option_equal(&now, c, o)) {
            odg_option_reset(c, o);
        }
    }
    for (int k = 0; k < ODG_NOPTIONS; k++) {
        if ((kept & ((uint64_t)1 << k)) && !odg_option_applies(c, (odg_option)k, NULL)) {
            odg_option_reset(c, (odg_option)k);
        }
    }
}

int odg_cli_parse_run(const char *cmd, int argc, char **argv, odg_cli_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->min_time = ODG_CLI_MIN_TIME;
    odg_run_config *c = &o->cfg;
    odg_run_config_default(c);
    const char *from = NULL;
    int rc = parse_pass(cmd, argc, argv, o, 0, &from);
    if (rc != 0) {
        return rc;
    }
    uint64_t row = 0;
    odg_run_config rowcfg;
    if (from) {
        char *path = NULL;
        long line = 0;
        rc = from_spec(cmd, from, &path, &line);
        if (rc == 0) {
            rc = from_row(cmd, path, line, &o->row, c);
        }
        free(path);
        if (rc != 0) {
            odg_cli_run_opts_free(o);
            return rc;
        }
        row = row_options(c);
        rowcfg = *c;
    }
    rc = parse_pass(cmd, argc, argv, o, 1, &from);
    if (rc != 0) {
        odg_cli_run_opts_free(o);
        return rc;
    }
    if (from) {
        follow_flags(c, &rowcfg, row & ~c->given);
    }
    return 0;
}

void odg_cli_run_opts_free(odg_cli_run_opts *o)
{
    odg_csv_table_free(&o->row);
}

/* ---- the summary -------------------------------------------------------------------------- */

static const odg_cell *cell(const odg_run_record *rec, odg_column c)
{
    return &rec->cell[c];
}

static double real_of(const odg_cell *c)
{
    return c->type == ODG_CELL_REAL ? c->x : c->type == ODG_CELL_INT ? (double)c->i : NAN;
}

static void bytes_str(double b, char *buf, size_t cap)
{
    if (!isfinite(b)) {
        snprintf(buf, cap, "%s", "-");
    } else if (fabs(b) >= 0x1p30) {
        snprintf(buf, cap, "%.2f GiB", b / 0x1p30);
    } else if (fabs(b) >= 0x1p20) {
        snprintf(buf, cap, "%.2f MiB", b / 0x1p20);
    } else if (fabs(b) >= 0x1p10) {
        snprintf(buf, cap, "%.1f KiB", b / 0x1p10);
    } else {
        snprintf(buf, cap, "%.0f B", b);
    }
}

static void time_str(double t, char *buf, size_t cap)
{
    if (!isfinite(t)) {
        snprintf(buf, cap, "%s", "-");
    } else if (t >= 1) {
        snprintf(buf, cap, "%.3f s", t);
    } else if (t >= 1e-3) {
        snprintf(buf, cap, "%.3f ms", t * 1e3);
    } else {
        snprintf(buf, cap, "%.1f us", t * 1e6);
    }
}

static void print_summary(FILE *f, const odg_run_record *rec)
{
    const odg_cell *cl = rec->cell;
    char a[64], b[64], c2[64], d[64];
    fprintf(f, "%s", cl[ODG_COL_model].s);
    fprintf(f, " D=%lld", cl[ODG_COL_D].i);
    if (cl[ODG_COL_H].i > 0) {
        fprintf(f, " H=%lld", cl[ODG_COL_H].i);
    }
    fprintf(f, " B=%lld (P=%lld)", cl[ODG_COL_B].i, cl[ODG_COL_P].i);
    if (cl[ODG_COL_spectrum].s[0]) {
        fprintf(f, " %s", cl[ODG_COL_spectrum].s);
    }
    fprintf(f, ", %s ", cl[ODG_COL_scheme].s);
    if (real_of(&cl[ODG_COL_rtol]) > 0 || real_of(&cl[ODG_COL_atol]) > 0) {
        fprintf(f, "rtol=%g atol=%g", real_of(&cl[ODG_COL_rtol]), real_of(&cl[ODG_COL_atol]));
        if (cl[ODG_COL_steps].type == ODG_CELL_INT) {
            fprintf(f, " (%lld steps)", cl[ODG_COL_steps].i);
        }
    } else {
        fprintf(f, "N=%lld", cl[ODG_COL_steps].i);
    }
    fprintf(f, ", %s", cl[ODG_COL_method].s);
    if (cl[ODG_COL_schedule].s[0] || cl[ODG_COL_interp].s[0]) {
        fprintf(f, " (");
        if (cl[ODG_COL_schedule].s[0]) {
            fprintf(f, "%s, C=%lld%s", cl[ODG_COL_schedule].s, cl[ODG_COL_checkpoints].i,
                    cl[ODG_COL_interp].s[0] ? ", " : "");
        }
        fprintf(f, "%s)", cl[ODG_COL_interp].s);
    }
    fprintf(f, ", %lld thread%s", cl[ODG_COL_threads].i, cl[ODG_COL_threads].i == 1 ? "" : "s");
    if (cl[ODG_COL_cores_available].type == ODG_CELL_INT &&
        cl[ODG_COL_threads].i > cl[ODG_COL_cores_available].i) {
        fprintf(f, " on %lld CPU%s: more threads than CPUs, they share cores",
                cl[ODG_COL_cores_available].i, cl[ODG_COL_cores_available].i == 1 ? "" : "s");
    }
    fprintf(f, "\n");
    fprintf(f, "  status   %s%s%s\n", cl[ODG_COL_status].s, rec->message[0] ? ": " : "",
            rec->message);
    if (rec->mpi_ranks > 0) {
        bytes_str(rec->mpi_comm_bytes, a, sizeof a);
        time_str(rec->mpi_comm_s, b, sizeof b);
        fprintf(f, "  mpi      %d rank%s; per gradient and rank: rows %s received in %s",
                rec->mpi_ranks, rec->mpi_ranks == 1 ? "" : "s", a, b);
        bytes_str(rec->mpi_reduce_bytes, a, sizeof a);
        time_str(rec->mpi_reduce_s, b, sizeof b);
        bytes_str(rec->mpi_peak_max, c2, sizeof c2);
        bytes_str(rec->mpi_rss_max, d, sizeof d);
        fprintf(f,
                ", gradient reduction %s received in %s; largest rank %s accounted, %s "
                "resident\n",
                a, b, c2, d);
    }
    if (cl[ODG_COL_time_median_s].type == ODG_CELL_REAL) {
        time_str(cl[ODG_COL_time_median_s].x, a, sizeof a);
        time_str(cl[ODG_COL_time_min_s].x, b, sizeof b);
        time_str(cl[ODG_COL_time_max_s].x, c2, sizeof c2);
        fprintf(f, "  time     %s median of %lld (min %s, max %s)", a, cl[ODG_COL_repeats].i, b,
                c2);
        time_str(real_of(cell(rec, ODG_COL_forward_s)), a, sizeof a);
        time_str(real_of(cell(rec, ODG_COL_backward_s)), b, sizeof b);
        fprintf(f, "; forward %s, backward %s\n", a, b);
    }
    if (cl[ODG_COL_nfe_forward].type == ODG_CELL_INT) {
        fprintf(f, "  work     %lld f forward, %lld f backward, %lld VJPs, %lld steps recomputed\n",
                cl[ODG_COL_nfe_forward].i, cl[ODG_COL_nfe_backward].i, cl[ODG_COL_nvjp].i,
                cl[ODG_COL_recomputed_steps].i);
    }
    if (cl[ODG_COL_gflops].type == ODG_CELL_REAL) {
        fprintf(f, "  rate     %.3g GFLOP/s (blas %s, %lld-row chunks)", cl[ODG_COL_gflops].x,
                cl[ODG_COL_blas_mode].s, cl[ODG_COL_batch_chunk].i);
        if (cl[ODG_COL_roofline_frac].type == ODG_CELL_REAL) {
            fprintf(f, ", %.1f%% of the DGEMM rate at these shapes (%.3g GFLOP/s)",
                    100 * cl[ODG_COL_roofline_frac].x, cl[ODG_COL_roofline_gflops].x);
        }
        fprintf(f, "\n");
    }
    bytes_str(real_of(cell(rec, ODG_COL_accounted_peak_bytes)), a, sizeof a);
    bytes_str(real_of(cell(rec, ODG_COL_theory_bytes)), b, sizeof b);
    bytes_str(real_of(cell(rec, ODG_COL_rss_peak_bytes)), c2, sizeof c2);
    fprintf(f, "  memory   accounted %s, theory %s, resident %s\n", a, b, c2);
    if (cl[ODG_COL_err_vs_reference].type == ODG_CELL_REAL ||
        cl[ODG_COL_err_vs_discrete].type == ODG_CELL_REAL) {
        fprintf(f, "  error    ");
        if (cl[ODG_COL_err_vs_reference].type == ODG_CELL_REAL) {
            const odg_ref_info *ri = &rec->ref;
            if (ri->kind == ODG_REF_FINE) {
                snprintf(d, sizeof d, "fine: %s N=%ld, stated error %.1e%s", ri->scheme, ri->N,
                         ri->error, ri->converged ? "" : ", NOT converged");
            } else {
                snprintf(d, sizeof d, "%s", odg_ref_kind_name(ri->kind));
            }
            fprintf(f, "%.3e vs reference (%s), ", cl[ODG_COL_err_vs_reference].x, d);
        }
        if (cl[ODG_COL_err_vs_discrete].type == ODG_CELL_REAL) {
            fprintf(f, "%.3e vs %s at the same steps", cl[ODG_COL_err_vs_discrete].x,
                    rec->discrete_method[0] ? rec->discrete_method : "backprop");
        }
        fprintf(f, "\n");
    }
    if (cl[ODG_COL_recon_err].type == ODG_CELL_REAL) {
        fprintf(f, "  recon    %.3e: the reconstructed initial states against z(t0)\n",
                cl[ODG_COL_recon_err].x);
    }
    if (cl[ODG_COL_loss].type == ODG_CELL_REAL) {
        fprintf(f, "  loss     %.17g\n", cl[ODG_COL_loss].x);
    }
}

/* ---- run ---------------------------------------------------------------------------------- */

/* The run itself; with --mpi every rank comes here, and rank 0 alone writes and prints. */
static int run_one(odg_cli_run_opts *o)
{
    char err[ODG_ERRLEN];
    int quiet = o->cfg.mpi && odg_mpi_rank() != 0;
    if (o->csv && !quiet && odg_csv_check(o->csv, err) != ODG_OK) {
        fprintf(stderr, "odegrad run: --csv: %s\n", err);
        return ODG_EXIT_USAGE;
    }
    odg_run *r = NULL;
    if (odg_run_prepare(&r, &o->cfg, err) != ODG_OK) {
        if (!quiet) {
            fprintf(stderr, "odegrad run: %s\n", err);
        }
        return ODG_EXIT_USAGE;
    }
    /* nothing has been written up to here */
    odg_run_record rec;
    odg_status st = odg_run_execute(r, &rec, err);
    odg_run_destroy(&r);
    if (st != ODG_OK) {
        fprintf(stderr, "odegrad run: %s\n", err);
        return ODG_EXIT_FAIL;
    }
    const char *status = rec.cell[ODG_COL_status].s;
    if (quiet) {
        return strcmp(status, "ok") == 0 ? ODG_EXIT_OK : ODG_EXIT_NOTOK;
    }
    int rc = ODG_EXIT_OK;
    if (o->csv) {
        int cargc;
        char **cargv;
        odg_cli_command_line(&cargc, &cargv);
        if (odg_csv_append(o->csv, &rec, err) != ODG_OK ||
            odg_sidecar_write(o->csv, cargc, cargv, err) != ODG_OK) {
            fprintf(stderr, "odegrad run: --csv: %s\n", err);
            rc = ODG_EXIT_FAIL;
        }
    }
    if (rec.save_grad_error[0]) {
        fprintf(stderr, "odegrad run: --save-grad: %s\n", rec.save_grad_error);
        rc = ODG_EXIT_FAIL;
    }
    if (o->json) {
        char *s = odg_record_json(&rec);
        if (!s) {
            fprintf(stderr, "odegrad run: cannot format the JSON record\n");
            return ODG_EXIT_FAIL;
        }
        printf("%s\n", s);
        free(s);
        if (strcmp(status, "ok") != 0) {
            fprintf(stderr, "odegrad run: status %s%s%s\n", status, rec.message[0] ? ": " : "",
                    rec.message);
        }
    } else {
        print_summary(stdout, &rec);
    }
    if (fflush(stdout) != 0) {
        rc = ODG_EXIT_FAIL;
    }
    if (rc == ODG_EXIT_OK && strcmp(status, "ok") != 0) {
        rc = ODG_EXIT_NOTOK;
    }
    return rc;
}

int odg_cli_run(int argc, char **argv)
{
    odg_cli_run_opts o;
    int rc = odg_cli_parse_run("run", argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? ODG_EXIT_OK : rc;
    }
    if (!o.cfg.mpi) {
        rc = run_one(&o);
        odg_cli_run_opts_free(&o);
        return rc;
    }
    char err[ODG_ERRLEN];
    if (odg_mpi_start(err) != ODG_OK) {
        fprintf(stderr, "odegrad run: --mpi: %s\n", err);
        odg_cli_run_opts_free(&o);
        return ODG_EXIT_USAGE;
    }
    rc = run_one(&o);
    /* every rank's exit status: bad input is the same on all of them, rank 0 reports it */
    odg_mpi_stop();
    odg_cli_run_opts_free(&o);
    return rc;
}

/* ---- reference ---------------------------------------------------------------------------- */

static int reference_one(odg_cli_run_opts *po)
{
    const odg_cli_run_opts o = *po;
    if (o.cfg.reference == ODG_REF_NONE) {
        fprintf(stderr, "odegrad reference: --reference none leaves nothing to compute\n");
        return ODG_EXIT_USAGE;
    }
    if (o.csv || o.cfg.save_grad_dir || o.cfg.save_problem_dir) {
        fprintf(stderr, "odegrad reference: --csv, --save-grad and --save-problem belong to "
                        "odegrad run\n");
        return ODG_EXIT_USAGE;
    }
    char err[ODG_ERRLEN];
    odg_run *r = NULL;
    if (odg_run_prepare(&r, &o.cfg, err) != ODG_OK) {
        fprintf(stderr, "odegrad reference: %s\n", err);
        return ODG_EXIT_USAGE;
    }
    odg_ref_info ri;
    double t0 = odg_now();
    odg_status st = odg_run_reference(r, &ri, NULL, err);
    double t = odg_now() - t0;
    odg_run_destroy(&r);
    if (st != ODG_OK) {
        fprintf(stderr, "odegrad reference: %s\n", err);
        return ODG_EXIT_FAIL;
    }
    if (o.json) {
        char *s = odg_ref_info_json(&ri);
        if (!s) {
            fprintf(stderr, "odegrad reference: cannot format the JSON\n");
            return ODG_EXIT_FAIL;
        }
        printf("%s\n", s);
        free(s);
    } else {
        printf("reference  %s", odg_ref_kind_name(ri.kind));
        if (ri.kind == ODG_REF_FINE) {
            printf(": %s, %s, N=%ld, %s (change at the last doubling %.3e; against %s: "
                   "%.3e)",
                   ri.scheme, ri.method, ri.N, ri.converged ? "converged" : "NOT converged",
                   ri.change, ri.second, ri.error);
        }
        printf("\nloss       %.17g\n", ri.loss);
        printf("key        %s\n", ri.key);
        printf("cache      %s (%s, %.3f s)\n", ri.path[0] ? ri.path : "(not written)",
               ri.cached ? "found" : "computed", t);
    }
    return ODG_EXIT_OK;
}

int odg_cli_reference(int argc, char **argv)
{
    odg_cli_run_opts o;
    int rc = odg_cli_parse_run("reference", argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? ODG_EXIT_OK : rc;
    }
    rc = reference_one(&o);
    odg_cli_run_opts_free(&o);
    return rc;
}
