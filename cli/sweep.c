/* `odegrad sweep`: the command's flags and its progress display over the sweep layer
 * (include/odegrad/experiments.h), which reads the files, expands them, resumes and measures.
 *
 * Where the rows go: --resume FILE; else DIR/EXPERIMENT/HOST-DATE.csv with --output DIR; else
 * the file's `output` (default results/EXPERIMENT)/HOST-DATE.csv.  Every file is read and
 * expanded before anything runs, so a typo on line 40 costs nothing. */
#include "cli.h"
#include "odegrad/experiments.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static volatile int interrupted = 0;

/* Under mpirun every rank parses the same command line: rank 0 alone speaks. */
static int quiet_rank = 0;

static void say(const char *fmt, ...)
{
    if (quiet_rank) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static void on_signal(int sig)
{
    interrupted = sig;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: odegrad sweep [--output DIR] [--resume FILE] [--host NAME] [--dry-run]\n"
                "                     [--reuse-any-commit] [--ranks-per-node N] FILE...\n"
                "       mpirun -np R odegrad sweep [FLAGS] FILE...\n"
                "\n"
                "Measures every configuration of the sweep files, each in a child process of its "
                "own,\nappending one row per configuration to OUT/HOST-DATE.csv (+ .json "
                "provenance), where\nOUT is DIR/EXPERIMENT with --output DIR, else the file's "
                "'output' (default\nresults/EXPERIMENT).  Configurations already recorded there by "
                "the same commit are\nskipped, so an interrupted sweep resumes where it stopped; "
                "one sweep at a time per\nresults file.\n"
                "\n");
    odg_cli_opt(fp, "--output DIR", "write each experiment to DIR/EXPERIMENT/HOST-DATE.csv");
    odg_cli_opt(fp, "--resume FILE", "append to (and skip what is recorded in) this results file");
    odg_cli_opt(fp, "--host NAME", "the HOST in HOST-DATE.csv (default: this machine's name)");
    odg_cli_opt(fp, "--dry-run", "print the configurations as command lines; run nothing");
    odg_cli_opt(fp, "--ranks-per-node N",
                "under mpirun: ranks that measure on each node (default 1, so that "
                "measurements share no node's cores); rank 0 hands out the configurations, "
                "longest first, and alone writes the file, in the serial sweep's order");
    odg_cli_opt(fp, "--reuse-any-commit",
                "count a row recorded by another build (another commit) as recorded too; by "
                "default only the same commit's rows are reused");
    fprintf(fp, "\n"
                "A sweep file:\n"
                "  [sweep]\n"
                "  name = steps                 ; the experiment (column 'experiment')\n"
                "  output = results/steps       ; optional, a relative directory\n"
                "  repeat = 3                   ; any run key here is a default for every [run]\n"
                "  [run discrete]\n"
                "  method = backprop, backprop-steps\n"
                "  steps = 2^3..2^12            ; lists expand to their cross product\n"
                "\n"
                "Values: one item or a comma-separated list; an item may be a range A..B "
                "(integers)\nor B^a..B^b (powers of one base, e.g. 10^-2..10^-10); 'nproc' is the "
                "CPUs this\nprocess may use (affinity and cgroup quota); F*KEY derives a number "
                "(hidden = 4*dim).\nA [sweep] default is used only where it applies (no "
                "checkpoints for backprop); a\n[run] key that does not apply to one of the "
                "section's configurations is an error.\n"
                "\n"
                "Keys: the options of `odegrad run` without their dashes (or their column's "
                "name):\n ");
    int col = 1;
    for (int o = 0; o < ODG_NOPTIONS; o++) {
        const odg_option_info *in = odg_option_get((odg_option)o);
        if (!in->sweep) {
            continue;
        }
        int w = (int)strlen(in->flag) + 1;
        if (col + w > 78) {
            fprintf(fp, "\n ");
            col = 1;
        }
        fprintf(fp, " %s", in->flag);
        col += w;
    }
    fprintf(fp, "\n\nExit status: 0 every configuration recorded; 1 a row or the provenance could "
                "not be\nwritten; 2 bad input (nothing run or written); 130 interrupted.\n");
}

typedef struct {
    int tty, width;
    double t0, cost_total, cost_done;
    long total;
} progress;

static void format_duration(double s, char *out, size_t len)
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

static void on_event(const odg_sweep_event *ev, void *vp)
{
    progress *pg = vp;
    const odg_sweep *sw = ev->job->sweep;
    char what[512];
    switch (ev->kind) {
    case ODG_SWEEP_PLAN:
        fprintf(stderr, "odegrad sweep: %s: %d configuration%s, ", odg_sweep_name(sw),
                odg_sweep_count(sw), odg_sweep_count(sw) == 1 ? "" : "s");
        if (ev->recorded) {
            fprintf(stderr, "%d already recorded in %s (commit %s", ev->recorded, ev->job->csv,
                    ev->commit);
            if (ev->reused_other) {
                fprintf(stderr, "; %d of them by other commits", ev->reused_other);
            }
            fprintf(stderr, "), ");
        }
        if (ev->other_commit) {
            fprintf(stderr,
                    "%d recorded by other commits only (run again; --reuse-any-commit "
                    "reuses them), ",
                    ev->other_commit);
        }
        fprintf(stderr, "%ld to run -> %s\n", ev->total, ev->job->csv);
        pg->total += ev->total;
        break;
    case ODG_SWEEP_START:
        odg_sweep_describe(sw, ev->index, what, sizeof what);
        if (pg->tty) {
            char eta[32] = "?";
            double el = odg_now() - pg->t0;
            if (pg->cost_done > 0) {
                format_duration(el / pg->cost_done * (pg->cost_total - pg->cost_done), eta,
                                sizeof eta);
            }
            char head[96];
            snprintf(head, sizeof head, "[%ld/%ld] ETA %s ", ev->done + 1, ev->total, eta);
            int room = pg->width - (int)strlen(head) - 1;
            fprintf(stderr, "\r%s%.*s\033[K", head, room > 0 ? room : 0, what);
            fflush(stderr);
        }
        break;
    case ODG_SWEEP_DONE: {
        pg->cost_done += odg_sweep_cost(sw, ev->index);
        odg_sweep_describe(sw, ev->index, what, sizeof what);
        if (pg->tty) {
            fputs("\r\033[K", stderr);
        }
        if (ev->rec) {
            const odg_cell *t = &ev->rec->cell[ODG_COL_time_median_s];
            char shown[48] = "";
            if (t->type == ODG_CELL_REAL) {
                snprintf(shown, sizeof shown, "median %.3g s, ", t->x);
            }
            fprintf(stderr, "[%ld/%ld] %-8s %s (%s%.1fs)\n", ev->done, pg->total,
                    ev->rec->cell[ODG_COL_status].s, what, shown, ev->wall_s);
            if (ev->rec->message[0] && strcmp(ev->rec->cell[ODG_COL_status].s, "ok") != 0) {
                fprintf(stderr, "    | %s\n", ev->rec->message);
            }
        } else {
            fprintf(stderr, "[%ld/%ld] FAILED   %s: no row written: %s\n", ev->done, pg->total,
                    what, ev->error);
        }
        fflush(stderr);
        break;
    }
    }
}

static int sweep_main(int argc, char **argv, int mpi);

int odg_cli_sweep(int argc, char **argv)
{
    if (odg_mpi_launched()) {
        /* started by mpirun: the configurations spread over the ranks */
        char e0[ODG_ERRLEN];
        if (odg_mpi_start(e0) != ODG_OK) {
            fprintf(stderr, "odegrad sweep: under mpirun: %s\n", e0);
            return ODG_EXIT_USAGE;
        }
        quiet_rank = odg_mpi_rank() != 0;
        int rc = sweep_main(argc, argv, 1);
        odg_mpi_stop();
        return rc;
    }
    return sweep_main(argc, argv, 0);
}

static int sweep_main(int argc, char **argv, int mpi)
{
    const char *output = NULL, *resume = NULL, *host_opt = NULL, *per_node = NULL;
    int dry = 0, reuse_any = 0, nfiles = 0, rc = 0;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    if (!files) {
        say("odegrad sweep: out of memory\n");
        return ODG_EXIT_FAIL;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            free(files);
            return ODG_EXIT_OK;
        } else if (strcmp(a, "--dry-run") == 0) {
            dry = 1;
            continue;
        } else if (strcmp(a, "--reuse-any-commit") == 0) {
            reuse_any = 1;
            continue;
        } else if (strcmp(a, "--output") == 0) {
            dst = &output;
        } else if (strcmp(a, "--resume") == 0) {
            dst = &resume;
        } else if (strcmp(a, "--host") == 0) {
            dst = &host_opt;
        } else if (strcmp(a, "--ranks-per-node") == 0) {
            dst = &per_node;
        } else if (a[0] == '-' && a[1] != '\0') {
            say("odegrad sweep: unknown flag %s (see odegrad sweep --help)\n", a);
            free(files);
            return ODG_EXIT_USAGE;
        } else {
            files[nfiles++] = a;
            continue;
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0' || strncmp(argv[i + 1], "--", 2) == 0) {
            say("odegrad sweep: %s needs a value\n", a);
            free(files);
            return ODG_EXIT_USAGE;
        }
        *dst = argv[++i];
    }
    if (nfiles == 0) {
        usage(stderr);
        free(files);
        return ODG_EXIT_USAGE;
    }
    int ranks_per_node = 1;
    if (per_node) {
        char *end;
        long v = strtol(per_node, &end, 10);
        if (*end != '\0' || end == per_node || v < 1 || v > 4096) {
            say("odegrad sweep: --ranks-per-node: '%s' is not an integer in [1, 4096]\n",
                per_node);
            free(files);
            return ODG_EXIT_USAGE;
        }
        ranks_per_node = (int)v;
    }
    if (output && resume) {
        say("odegrad sweep: --output and --resume exclude each other\n");
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
    if (host[0] == '.' || host[0] == '\0') {
        say("odegrad sweep: --host: '%s' is not a usable file name\n", host);
        free(files);
        return ODG_EXIT_USAGE;
    }
    char date[16];
    time_t now = time(NULL);
    struct tm tmv;
    localtime_r(&now, &tmv);
    strftime(date, sizeof date, "%Y-%m-%d", &tmv);

    /* every file read and expanded before anything runs */
    odg_sweep **sws = calloc((size_t)nfiles, sizeof *sws);
    odg_sweep_job *jobs = calloc((size_t)nfiles, sizeof *jobs);
    char **paths = calloc((size_t)nfiles, sizeof *paths);
    char err[ODG_ERRLEN];
    if (!sws || !jobs || !paths) {
        say("odegrad sweep: out of memory\n");
        rc = ODG_EXIT_FAIL;
        goto done;
    }
    for (int f = 0; f < nfiles; f++) {
        odg_status st = odg_sweep_read(&sws[f], files[f], err);
        if (st != ODG_OK) {
            say("odegrad sweep: %s\n", err);
            rc = st == ODG_ENOMEM ? ODG_EXIT_FAIL : ODG_EXIT_USAGE;
            goto done;
        }
        size_t cap = PATH_MAX;
        paths[f] = malloc(cap);
        if (!paths[f]) {
            say("odegrad sweep: out of memory\n");
            rc = ODG_EXIT_FAIL;
            goto done;
        }
        int k = resume ? snprintf(paths[f], cap, "%s", resume)
                : output
                    ? snprintf(paths[f], cap, "%s/%s/%s-%s.csv", output, odg_sweep_name(sws[f]),
                               host, date)
                    : snprintf(paths[f], cap, "%s/%s-%s.csv", odg_sweep_output(sws[f]), host, date);
        if (k < 0 || (size_t)k >= cap) {
            say("odegrad sweep: the results path is too long\n");
            rc = ODG_EXIT_USAGE;
            goto done;
        }
        jobs[f].sweep = sws[f];
        jobs[f].csv = paths[f];
    }
    progress pg;
    memset(&pg, 0, sizeof pg);
    pg.tty = isatty(2);
    pg.width = 80;
    struct winsize ws;
    if (pg.tty && ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) {
        pg.width = ws.ws_col;
    }
    int cargc;
    char **cargv;
    odg_cli_command_line(&cargc, &cargv);
    odg_sweep_opts opts = {.reuse_any_commit = reuse_any,
                           .dry_run = dry,
                           .argc = cargc,
                           .argv = cargv,
                           .stop = &interrupted,
                           .mpi = mpi,
                           .ranks_per_node = ranks_per_node};
    odg_sweep_summary sum;
    if (dry && quiet_rank) {
        goto done; /* rank 0 prints the plan */
    }
    if (dry) {
        odg_status st = odg_sweep_execute(jobs, nfiles, &opts, NULL, NULL, &sum, err);
        if (st != ODG_OK) {
            say("odegrad sweep: %s\n", err);
            rc = ODG_EXIT_USAGE;
            goto done;
        }
        long n = 0;
        for (int f = 0; f < nfiles; f++) {
            printf("# %s (%s): %d configuration%s -> %s\n", odg_sweep_name(sws[f]), files[f],
                   odg_sweep_count(sws[f]), odg_sweep_count(sws[f]) == 1 ? "" : "s", paths[f]);
            for (int i = 0; i < odg_sweep_count(sws[f]); i++) {
                char line[4096];
                if (odg_sweep_command(sws[f], i, line, sizeof line) >= 0) {
                    printf("%s\n", line);
                }
                n++;
            }
        }
        printf("# %ld to run, %ld already recorded\n", n - sum.recorded, sum.recorded);
        goto done;
    }
    for (int f = 0; f < nfiles; f++) {
        for (int i = 0; i < odg_sweep_count(sws[f]); i++) {
            pg.cost_total += odg_sweep_cost(sws[f], i);
        }
    }
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    pg.t0 = odg_now();
    odg_status st =
        odg_sweep_execute(jobs, nfiles, &opts, quiet_rank ? NULL : on_event, &pg, &sum, err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (st != ODG_OK) {
        if (quiet_rank) {
            fprintf(stderr, "odegrad sweep: rank %d: %s\n", odg_mpi_rank(), err);
        }
        say("odegrad sweep: %s\n", err);
        rc = st == ODG_EFORMAT || st == ODG_EIO ? ODG_EXIT_USAGE : ODG_EXIT_FAIL;
        goto done;
    }
    if (sum.follower) {
        rc = interrupted ? 130 : ODG_EXIT_OK; /* rank 0 reports and writes */
        goto done;
    }
    char wall[32];
    format_duration(odg_now() - pg.t0, wall, sizeof wall);
    if (pg.tty) {
        fputs("\r\033[K", stderr);
    }
    long rows = 0;
    for (int k = 0; k < sum.nstatus; k++) {
        rows += sum.count[k];
    }
    say("odegrad sweep: %ld row%s", rows, rows == 1 ? "" : "s");
    for (int k = 0; k < sum.nstatus; k++) {
        say("%s %ld %s", k ? "," : ":", sum.count[k], sum.status[k]);
    }
    if (sum.failed) {
        say("; %ld configuration%s without a row", sum.failed,
                sum.failed == 1 ? "" : "s");
    }
    say(" (%s", wall);
    if (sum.ranks > 1) {
        say(", %d ranks, %d measuring", sum.ranks, sum.measuring_ranks);
    }
    say(")\n");
    if (sum.sidecar_error[0]) {
        say("odegrad sweep: the provenance could not be written: %s\n",
                sum.sidecar_error);
    }
    if (sum.interrupted) {
        say("odegrad sweep: interrupted; run it again to resume\n");
        rc = 130;
    } else {
        rc = sum.failed || sum.sidecar_error[0] ? ODG_EXIT_FAIL : ODG_EXIT_OK;
    }
done:
    for (int f = 0; f < nfiles; f++) {
        if (sws) {
            odg_sweep_destroy(&sws[f]);
        }
        if (paths) {
            free(paths[f]);
        }
    }
    free(sws);
    free(jobs);
    free(paths);
    free(files);
    return rc;
}
