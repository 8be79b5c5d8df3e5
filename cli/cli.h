/* The odegrad command: its subcommands and the helpers they share.  Only cli/ talks to people:
 * messages go to stderr as one line naming the problem ("odegrad run: --dim: 'abc' is not a
 * positive integer"), and bad input exits with status 2 before any output file is touched. */
#ifndef ODG_CLI_H
#define ODG_CLI_H

#include "odegrad/harness.h"

#include <stdio.h>

/* Exit statuses of every subcommand. */
#define ODG_EXIT_OK 0
#define ODG_EXIT_FAIL 1  /* the results could not be written, or the harness failed */
#define ODG_EXIT_USAGE 2 /* bad input: nothing was written */
#define ODG_EXIT_NOTOK 3 /* run: recorded, with a status other than ok */

/* The subcommands; argv[0] is the subcommand's name. */
int odg_cli_run(int argc, char **argv);
int odg_cli_reference(int argc, char **argv);
int odg_cli_list(int argc, char **argv);
int odg_cli_version(int argc, char **argv);
int odg_cli_sweep(int argc, char **argv);    /* cli/sweep.c */
int odg_cli_roofline(int argc, char **argv); /* cli/roofline.c */
int odg_cli_tidy(int argc, char **argv);     /* cli/tidy.c */

/* The whole command line as main() received it (for the provenance); main sets it before any
 * subcommand runs. */
void odg_cli_command_line(int *argc, char ***argv);

/* ---- the lists the library writes once (the .def files), for `list`, help and parsing ------ */

/* The library's lists (odg_lists: models, schemes, methods, ...) and the command's own: the
 * record's columns, its statuses and the allocator's tags. */
const odg_list *odg_cli_list_find(const char *what);
/* Calls fn for every list, the library's first. */
void odg_cli_list_each(void (*fn)(const odg_list *l, void *ctx), void *ctx);

/* ---- help text ---------------------------------------------------------------------------- */

/* One flag of a --help: its name in a 20-column field, then text wrapped at 80 columns. */
void odg_cli_opt(FILE *f, const char *flag, const char *text);
/* "PRE NAMES (DEFAULT)" for a flag that takes one of the names of a list. */
void odg_cli_opt_list(FILE *f, const char *flag, const char *pre, const char *list,
                      const char *dflt);

/* ---- the flags of `run` (shared by `reference`, and by sweeps that want them) --------------- */

typedef struct odg_cli_run_opts {
    odg_run_config cfg;
    const char *csv;   /* --csv FILE or NULL */
    int json;          /* --json */
    double min_time;   /* roofline: --min-time SECONDS (ODG_CLI_MIN_TIME) */
    odg_csv_table row; /* --from FILE:LINE: the file read back; cfg's strings point into it */
} odg_cli_run_opts;

#define ODG_CLI_MIN_TIME 0.5

/* Parses the flags of `cmd` in argv[1 ..] into o (defaults first, then the row of --from FILE:LINE,
 * then the other flags over it, wherever they stand): every `run` flag for run, reference and
 * sweep; for roofline only --model, --dim, --hidden, --batch, --threads and its
 * own --min-time, --json, --help.  Returns 0, ODG_EXIT_USAGE after printing the problem, or -1
 * after printing --help to stdout (the caller exits 0). */
int odg_cli_parse_run(const char *cmd, int argc, char **argv, odg_cli_run_opts *o);
/* What odg_cli_parse_run holds (the file of --from); o->cfg's strings are gone after it. */
void odg_cli_run_opts_free(odg_cli_run_opts *o);
void odg_cli_run_usage(FILE *f, const char *cmd);
void odg_cli_roofline_usage(FILE *f);
/* The help of the options (options.def) that command `cmd` takes, by group. */
void odg_cli_flags_usage(FILE *f, const char *cmd);

#endif
