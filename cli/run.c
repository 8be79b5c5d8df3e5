/* `odegrad run`: one configuration, honestly measured, recorded with provenance; and
 * `odegrad reference`: the same problem flags, the cached reference gradient alone.  The flag
 * parser also serves `odegrad roofline` (cli/roofline.c), which takes the flags that decide a
 * model's shapes and the thread count.
 *
 * Order matters: every flag, every file --load names and every output path is checked before
 * anything is created or appended, so bad input (exit 2) leaves no trace. */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_MODEL = 256,
    OPT_DIM,
    OPT_HIDDEN,
    OPT_BATCH,
    OPT_SPECTRUM,
    OPT_STIFFNESS,
    OPT_TIME_INPUT,
    OPT_GAIN,
    OPT_BLAS,
    OPT_BATCH_CHUNK,
    OPT_SCHEME,
    OPT_STEPS,
    OPT_RTOL,
    OPT_ATOL,
    OPT_T1,
    OPT_METHOD,
    OPT_SCHEDULE,
    OPT_CHECKPOINTS,
    OPT_INTERP,
    OPT_ADJ_RTOL,
    OPT_ADJ_ATOL,
    OPT_SEED,
    OPT_LOAD,
    OPT_SAVE_GRAD,
    OPT_SAVE_PROBLEM,
    OPT_REPEAT,
    OPT_WARMUP,
    OPT_THREADS,
    OPT_ROOFLINE_GFLOPS,
    OPT_MIN_TIME,
    OPT_TIMEOUT,
    OPT_MEM_LIMIT,
    OPT_REFERENCE,
    OPT_CSV,
    OPT_JSON,
    OPT_EXPERIMENT,
    OPT_HELP,
};

static const struct option run_options[] = {
    {"model", required_argument, NULL, OPT_MODEL},
    {"dim", required_argument, NULL, OPT_DIM},
    {"hidden", required_argument, NULL, OPT_HIDDEN},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"spectrum", required_argument, NULL, OPT_SPECTRUM},
    {"stiffness", required_argument, NULL, OPT_STIFFNESS},
    {"time-input", no_argument, NULL, OPT_TIME_INPUT},
    {"gain", required_argument, NULL, OPT_GAIN},
    {"blas-mode", required_argument, NULL, OPT_BLAS},
    {"blas", required_argument, NULL, OPT_BLAS}, /* the old name, kept as a synonym */
    {"batch-chunk", required_argument, NULL, OPT_BATCH_CHUNK},
    {"scheme", required_argument, NULL, OPT_SCHEME},
    {"steps", required_argument, NULL, OPT_STEPS},
    {"rtol", required_argument, NULL, OPT_RTOL},
    {"atol", required_argument, NULL, OPT_ATOL},
    {"t1", required_argument, NULL, OPT_T1},
    {"method", required_argument, NULL, OPT_METHOD},
    {"schedule", required_argument, NULL, OPT_SCHEDULE},
    {"checkpoints", required_argument, NULL, OPT_CHECKPOINTS},
    {"interp", required_argument, NULL, OPT_INTERP},
    {"adj-rtol", required_argument, NULL, OPT_ADJ_RTOL},
    {"adj-atol", required_argument, NULL, OPT_ADJ_ATOL},
    {"seed", required_argument, NULL, OPT_SEED},
    {"load", required_argument, NULL, OPT_LOAD},
    {"save-grad", required_argument, NULL, OPT_SAVE_GRAD},
    {"save-problem", required_argument, NULL, OPT_SAVE_PROBLEM},
    {"repeat", required_argument, NULL, OPT_REPEAT},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"roofline-gflops", required_argument, NULL, OPT_ROOFLINE_GFLOPS},
    {"min-time", required_argument, NULL, OPT_MIN_TIME},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"mem-limit", required_argument, NULL, OPT_MEM_LIMIT},
    {"reference", required_argument, NULL, OPT_REFERENCE},
    {"csv", required_argument, NULL, OPT_CSV},
    {"json", no_argument, NULL, OPT_JSON},
    {"experiment", required_argument, NULL, OPT_EXPERIMENT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Sizes go to BLAS as int; step and repetition counts are bounded where a double still counts
 * them exactly and a step grid's bytes cannot overflow. */
#define MAX_SIZE 2147483647L
#define MAX_STEPS (1L << 40)
#define MAX_REPEAT 1000000L

void odg_cli_shape_usage(FILE *f)
{
    odg_cli_opt_list(f, "--model NAME", "", "models", "mlp");
    odg_cli_opt(f, "--dim D", "state dimension (16)");
    odg_cli_opt(f, "--hidden H", "hidden width, mlp only (64)");
    odg_cli_opt(f, "--batch B", "batch size (128)");
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
    fprintf(f, "\nProblem:\n");
    odg_cli_shape_usage(f);
    odg_cli_opt(f, "--time-input", "mlp: t is an extra input of the first layer");
    odg_cli_opt_list(f, "--spectrum NAME", "linear only: ", "spectra", "random");
    odg_cli_opt(f, "--stiffness S", "linear --spectrum stiff: eigenvalue ratio, >= 1 (1)");
    odg_cli_opt(f, "--gain G", "initial-weight gain (1)");
    odg_cli_opt(f, "--t1 T", "end time, t in [0, T] (1)");
    odg_cli_opt(f, "--seed S", "RNG seed: theta, then z0, then w are drawn from it (1)");
    odg_cli_opt(
        f, "--load DIR",
        "read W1.npy b1.npy W2.npy b2.npy (or A.npy b.npy), z0.npy and w.npy from DIR; what is "
        "absent comes from the seed; every shape is checked");
    odg_cli_opt_list(f, "--blas-mode MODE",
                     "how f and its VJP use threads (--blas is a synonym): ", "blas-modes", "auto");
    odg_cli_opt(f, "--batch-chunk ROWS",
                "rows per batch chunk, the unit of parallel work in chunked mode; a gradient's "
                "bits depend on it, never on the thread count (64)");
    fprintf(f, "Solver:\n");
    odg_cli_opt_list(f, "--scheme NAME", "", "schemes", "rk4");
    odg_cli_opt(f, "--steps N", "fixed steps (64)");
    odg_cli_opt(f, "--rtol R", "adaptive steps instead of --steps (adaptive schemes only)");
    odg_cli_opt(f, "--atol A",
                "absolute tolerance (default: the same as --rtol, and the other way)");
    fprintf(f, "Gradient:\n");
    odg_cli_opt_list(f, "--method NAME", "", "methods", "backprop");
    odg_cli_opt_list(f, "--schedule NAME", "checkpointing methods: ", "schedules", "uniform");
    odg_cli_opt(f, "--checkpoints C",
                "checkpointing methods: the checkpoint count (default: uniform about sqrt(N) steps "
                "apart, binomial ceil(log2 N) + 1)");
    odg_cli_opt_list(f, "--interp NAME",
                     "stored-adjoint and checkpoint-adjoint: ", "interpolations", "hermite");
    odg_cli_opt(f, "--adj-rtol R",
                "continuous adjoints: their own adaptive steps, with these tolerances");
    odg_cli_opt(f, "--adj-atol A", "(default: the same as --adj-rtol, and the other way)");
    odg_cli_opt_list(f, "--reference KIND", "", "references", "auto");
    if (run) {
        fprintf(f, "Measurement:\n");
        odg_cli_opt(f, "--repeat R", "timed gradients (3)");
        odg_cli_opt(f, "--warmup W", "untimed gradients first (1)");
        odg_cli_opt(f, "--threads T",
                    "OpenMP and OpenBLAS threads (default: as OMP_NUM_THREADS says)");
        odg_cli_opt(f, "--roofline-gflops G",
                    "record G as roofline_gflops instead of measuring the DGEMM rate at the "
                    "model's shapes after the timed gradients (odegrad sweep passes the rate an "
                    "earlier run of the same shapes and threads measured)");
        odg_cli_opt(f, "--timeout SECONDS", "stop the run there and record status timeout");
        odg_cli_opt(
            f, "--mem-limit BYTES",
            "refuse (and record as oom) a configuration whose memory by THEORY.md section 6 "
            "exceeds BYTES; BYTES may end in K, M, G or T (powers of 1024); auto = 80% of the "
            "memory available (default), none = no limit");
        fprintf(f, "Output:\n");
        odg_cli_opt(f, "--csv FILE",
                    "append one row (the header from columns.def when the file is new) and write "
                    "FILE.json with the provenance");
        odg_cli_opt(f, "--json", "print the whole record as one JSON object on the last line");
        odg_cli_opt(f, "--experiment NAME", "the experiment column (adhoc)");
        odg_cli_opt(f, "--save-grad DIR",
                    "write gW1.npy ... (or gA.npy gb.npy) and gz0.npy to DIR");
        odg_cli_opt(f, "--help", "this text");
        fprintf(f, "\nExit status: 0 ok; 1 the results could not be written; 2 bad input (nothing "
                   "was\nwritten); 3 recorded with a status other than ok (diverged, oom, "
                   "timeout, error).\n");
    } else {
        odg_cli_opt(f, "--json", "print the reference's description as JSON");
        odg_cli_opt(f, "--help", "this text");
    }
}

/* Whether a flag belongs to the command: `roofline` takes the flags that decide the model's
 * shapes, the thread count and its own --min-time; the others take every flag but --min-time
 * (`reference` refuses the output flags itself). */
static int flag_applies(const char *cmd, int code)
{
    if (strcmp(cmd, "roofline") != 0) {
        return code != OPT_MIN_TIME;
    }
    switch (code) {
    case OPT_MODEL:
    case OPT_DIM:
    case OPT_HIDDEN:
    case OPT_BATCH:
    case OPT_BATCH_CHUNK:
    case OPT_THREADS:
    case OPT_MIN_TIME:
    case OPT_JSON:
    case OPT_HELP:
        return 1;
    default:
        return 0;
    }
}

/* The option's name for messages, from its code. */
static const char *option_name(int code)
{
    for (const struct option *o = run_options; o->name; o++) {
        if (o->val == code) {
            return o->name;
        }
    }
    return "?";
}

int odg_cli_parse_run(const char *cmd, int argc, char **argv, odg_cli_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->min_time = ODG_CLI_MIN_TIME;
    odg_run_config *c = &o->cfg;
    odg_run_config_default(c);
    int rc = 0;
    long v;
    int idx;
    char flag[64];
    opterr = 0;
    optind = 0; /* glibc: a full re-initialisation, so a caller may parse more than once */
    for (;;) {
        int opt = getopt_long(argc, argv, "+:", run_options, NULL);
        if (opt == -1) {
            break;
        }
        snprintf(flag, sizeof flag, "--%s", option_name(opt));
        if (opt >= OPT_MODEL && !flag_applies(cmd, opt)) {
            fprintf(stderr, "odegrad %s: %s does not apply to odegrad %s (see odegrad %s --help)\n",
                    cmd, flag, cmd, cmd);
            return ODG_EXIT_USAGE;
        }
        /* "--dim --batch 4": the value is missing; no value of ours starts with "--" */
        if (opt >= OPT_MODEL && optarg && strncmp(optarg, "--", 2) == 0) {
            fprintf(stderr, "odegrad %s: %s needs a value (found the flag '%s')\n", cmd, flag,
                    optarg);
            return ODG_EXIT_USAGE;
        }
        switch (opt) {
        case OPT_MODEL:
            rc = odg_cli_name(cmd, odg_cli_list_find("models"), optarg, &idx);
            c->model.kind = (odg_model_kind)idx;
            break;
        case OPT_DIM:
            rc = odg_cli_posint(cmd, flag, optarg, MAX_SIZE, &v);
            c->model.D = (size_t)v;
            break;
        case OPT_HIDDEN:
            rc = odg_cli_posint(cmd, flag, optarg, MAX_SIZE, &v);
            c->model.H = (size_t)v;
            c->given |= ODG_GIVEN_HIDDEN;
            break;
        case OPT_BATCH:
            rc = odg_cli_posint(cmd, flag, optarg, MAX_SIZE, &v);
            c->model.B = (size_t)v;
            break;
        case OPT_SPECTRUM:
            rc = odg_cli_name(cmd, odg_cli_list_find("spectra"), optarg, &idx);
            c->model.spectrum = (odg_spectrum)idx;
            c->given |= ODG_GIVEN_SPECTRUM;
            break;
        case OPT_STIFFNESS:
            rc = odg_cli_real_min(cmd, flag, optarg, 1.0, &c->model.stiffness);
            c->given |= ODG_GIVEN_STIFFNESS;
            break;
        case OPT_TIME_INPUT:
            c->model.time_input = 1;
            c->given |= ODG_GIVEN_TIME_INPUT;
            break;
        case OPT_GAIN:
            rc = odg_cli_posreal(cmd, flag, optarg, &c->model.gain);
            break;
        case OPT_BLAS:
            rc = odg_cli_name(cmd, odg_cli_list_find("blas-modes"), optarg, &idx);
            c->model.blas_mode = (odg_blas_mode)idx;
            break;
        case OPT_BATCH_CHUNK:
            rc = odg_cli_posint(cmd, flag, optarg, MAX_SIZE, &v);
            c->model.batch_chunk = (size_t)v;
            break;
        case OPT_SCHEME:
            rc = odg_cli_name(cmd, odg_cli_list_find("schemes"), optarg, &idx);
            c->scheme = (odg_scheme)idx;
            break;
        case OPT_STEPS:
            rc = odg_cli_posint(cmd, flag, optarg, MAX_STEPS, &v);
            c->steps = v;
            c->given |= ODG_GIVEN_STEPS;
            break;
        case OPT_RTOL:
            rc = odg_cli_posreal(cmd, flag, optarg, &c->rtol);
            c->given |= ODG_GIVEN_RTOL;
            break;
        case OPT_ATOL:
            rc = odg_cli_posreal(cmd, flag, optarg, &c->atol);
            c->given |= ODG_GIVEN_ATOL;
            break;
        case OPT_T1:
            rc = odg_cli_posreal(cmd, flag, optarg, &c->t1);
            break;
        case OPT_METHOD:
            rc = odg_cli_name(cmd, odg_cli_list_find("methods"), optarg, &idx);
            c->grad.method = (odg_method)idx;
            break;
        case OPT_SCHEDULE:
            rc = odg_cli_name(cmd, odg_cli_list_find("schedules"), optarg, &idx);
            c->grad.schedule = (odg_schedule)idx;
            c->given |= ODG_GIVEN_SCHEDULE;
            break;
        case OPT_CHECKPOINTS:
            rc = odg_cli_posint(cmd, flag, optarg, MAX_SIZE, &v);
            c->grad.checkpoints = v;
            c->given |= ODG_GIVEN_CHECKPOINTS;
            break;
        case OPT_INTERP:
            rc = odg_cli_name(cmd, odg_cli_list_find("interpolations"), optarg, &idx);
            c->grad.interp = (odg_interp)idx;
            c->given |= ODG_GIVEN_INTERP;
            break;
        case OPT_ADJ_RTOL:
            rc = odg_cli_posreal(cmd, flag, optarg, &c->grad.adj_rtol);
            c->given |= ODG_GIVEN_ADJ_RTOL;
            break;
        case OPT_ADJ_ATOL:
            rc = odg_cli_posreal(cmd, flag, optarg, &c->grad.adj_atol);
            c->given |= ODG_GIVEN_ADJ_ATOL;
            break;
        case OPT_SEED:
            rc = odg_cli_u64(cmd, flag, optarg, (uint64_t)INT64_MAX, &c->seed);
            break;
        case OPT_LOAD:
            c->load_dir = optarg;
            break;
        case OPT_SAVE_GRAD:
            c->save_grad_dir = optarg;
            break;
        case OPT_SAVE_PROBLEM:
            c->save_problem_dir = optarg;
            break;
        case OPT_REPEAT:
            rc = odg_cli_posint(cmd, flag, optarg, MAX_REPEAT, &v);
            c->repeat = (int)v;
            break;
        case OPT_WARMUP:
            rc = odg_cli_count(cmd, flag, optarg, MAX_REPEAT, &v);
            c->warmup = (int)v;
            break;
        case OPT_THREADS:
            rc = odg_cli_posint(cmd, flag, optarg, 4096, &v);
            c->threads = (int)v;
            break;
        case OPT_ROOFLINE_GFLOPS:
            rc = odg_cli_posreal(cmd, flag, optarg, &c->roofline_gflops);
            break;
        case OPT_MIN_TIME:
            rc = odg_cli_real_min(cmd, flag, optarg, 0.0, &o->min_time);
            break;
        case OPT_TIMEOUT:
            rc = odg_cli_posreal(cmd, flag, optarg, &c->timeout_s);
            break;
        case OPT_MEM_LIMIT:
            rc = odg_cli_bytes(cmd, flag, optarg, &c->mem_limit);
            break;
        case OPT_REFERENCE:
            rc = odg_cli_name(cmd, odg_cli_list_find("references"), optarg, &idx);
            c->reference = (odg_ref_kind)idx;
            break;
        case OPT_CSV:
            o->csv = optarg;
            break;
        case OPT_JSON:
            o->json = 1;
            break;
        case OPT_EXPERIMENT:
            if (strlen(optarg) >= sizeof c->experiment) {
                fprintf(stderr, "odegrad %s: --experiment: '%s' is longer than %zu characters\n",
                        cmd, optarg, sizeof c->experiment - 1);
                rc = ODG_EXIT_USAGE;
            } else {
                snprintf(c->experiment, sizeof c->experiment, "%s", optarg);
            }
            break;
        case OPT_HELP:
            if (strcmp(cmd, "roofline") == 0) {
                odg_cli_roofline_usage(stdout);
            } else {
                odg_cli_run_usage(stdout, cmd);
            }
            return -1;
        case ':':
            fprintf(stderr, "odegrad %s: --%s needs a value\n", cmd, option_name(optopt));
            return ODG_EXIT_USAGE;
        default:
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
        if (rc != 0) {
            return rc;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "odegrad %s: unexpected argument '%s' (see odegrad %s --help)\n", cmd,
                argv[optind], cmd);
        return ODG_EXIT_USAGE;
    }
    /* adaptive steps: a tolerance not given takes the other's value */
    if (c->given & (ODG_GIVEN_RTOL | ODG_GIVEN_ATOL)) {
        if (!(c->given & ODG_GIVEN_STEPS)) {
            c->steps = 0;
        }
        if (!(c->given & ODG_GIVEN_RTOL)) {
            c->rtol = c->atol;
        }
        if (!(c->given & ODG_GIVEN_ATOL)) {
            c->atol = c->rtol;
        }
    }
    if (c->given & (ODG_GIVEN_ADJ_RTOL | ODG_GIVEN_ADJ_ATOL)) {
        if (!(c->given & ODG_GIVEN_ADJ_RTOL)) {
            c->grad.adj_rtol = c->grad.adj_atol;
        }
        if (!(c->given & ODG_GIVEN_ADJ_ATOL)) {
            c->grad.adj_atol = c->grad.adj_rtol;
        }
    }
    return 0;
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
    fprintf(f, ", %lld thread%s\n", cl[ODG_COL_threads].i, cl[ODG_COL_threads].i == 1 ? "" : "s");
    fprintf(f, "  status   %s%s%s\n", cl[ODG_COL_status].s, rec->message[0] ? ": " : "",
            rec->message);
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
                snprintf(d, sizeof d, "fine: %s N=%ld%s", ri->scheme, ri->N,
                         ri->converged ? "" : ", not converged");
            } else {
                snprintf(d, sizeof d, "%s", odg_ref_kind_name(ri->kind));
            }
            fprintf(f, "%.3e vs reference (%s), ", cl[ODG_COL_err_vs_reference].x, d);
        }
        if (cl[ODG_COL_err_vs_discrete].type == ODG_CELL_REAL) {
            fprintf(f, "%.3e vs backprop at the same steps", cl[ODG_COL_err_vs_discrete].x);
        }
        fprintf(f, "\n");
    }
    if (cl[ODG_COL_loss].type == ODG_CELL_REAL) {
        fprintf(f, "  loss     %.17g\n", cl[ODG_COL_loss].x);
    }
}

/* ---- run ---------------------------------------------------------------------------------- */

int odg_cli_run(int argc, char **argv)
{
    odg_cli_run_opts o;
    int rc = odg_cli_parse_run("run", argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? ODG_EXIT_OK : rc;
    }
    char err[ODG_ERRLEN];
    if (o.csv && odg_csv_check(o.csv, err) != ODG_OK) {
        fprintf(stderr, "odegrad run: --csv: %s\n", err);
        return ODG_EXIT_USAGE;
    }
    odg_run *r = NULL;
    if (odg_run_prepare(&r, &o.cfg, err) != ODG_OK) {
        fprintf(stderr, "odegrad run: %s\n", err);
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
    rc = ODG_EXIT_OK;
    if (o.csv) {
        int cargc;
        char **cargv;
        odg_cli_command_line(&cargc, &cargv);
        if (cargc == 0) {
            cargc = argc;
            cargv = argv;
        }
        if (odg_csv_append(o.csv, &rec, err) != ODG_OK ||
            odg_sidecar_write(o.csv, cargc, cargv, err) != ODG_OK) {
            fprintf(stderr, "odegrad run: --csv: %s\n", err);
            rc = ODG_EXIT_FAIL;
        }
    }
    if (rec.save_grad_error[0]) {
        fprintf(stderr, "odegrad run: --save-grad: %s\n", rec.save_grad_error);
        rc = ODG_EXIT_FAIL;
    }
    const char *status = rec.cell[ODG_COL_status].s;
    if (o.json) {
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

/* ---- reference ---------------------------------------------------------------------------- */

int odg_cli_reference(int argc, char **argv)
{
    odg_cli_run_opts o;
    int rc = odg_cli_parse_run("reference", argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? ODG_EXIT_OK : rc;
    }
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
            printf(": %s, %s, N=%ld, %s (change at the last doubling %.3e)", ri.scheme, ri.method,
                   ri.N, ri.converged ? "converged" : "NOT converged", ri.change);
        }
        printf("\nloss       %.17g\n", ri.loss);
        printf("key        %s\n", ri.key);
        printf("cache      %s (%s, %.3f s)\n", ri.path[0] ? ri.path : "(not written)",
               ri.cached ? "found" : "computed", t);
    }
    return ODG_EXIT_OK;
}
