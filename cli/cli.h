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

/* The whole command line as main() received it (for the provenance); argc 0 if unknown. */
void odg_cli_command_line(int *argc, char ***argv);

/* ---- the lists the library writes once (the .def files), for `list`, help and parsing ------ */

typedef struct odg_cli_names {
    const char *what; /* "models", "schemes", ... */
    const char *flag; /* the flag that takes one of these names ("--model"), or NULL */
    int n;
    const char *(*name)(int i);
    const char *(*desc)(int i);
} odg_cli_names;

extern const odg_cli_names odg_cli_lists[];
extern const int odg_cli_nlists;
const odg_cli_names *odg_cli_list_find(const char *what);
/* The number of names (the statuses are counted from status.def, not declared). */
int odg_cli_list_len(const odg_cli_names *l);
/* "a, b, c" into buf. */
void odg_cli_list_names(const odg_cli_names *l, char *buf, size_t cap);

/* ---- help text ---------------------------------------------------------------------------- */

/* One flag of a --help: its name in a 20-column field, then text wrapped at 80 columns. */
void odg_cli_opt(FILE *f, const char *flag, const char *text);
/* "PRE NAMES (DEFAULT)" for a flag that takes one of the names of a list. */
void odg_cli_opt_list(FILE *f, const char *flag, const char *pre, const char *list,
                      const char *dflt);

/* ---- flag values -------------------------------------------------------------------------- */

/* Each parses text for flag, or prints "odegrad CMD: FLAG: 'TEXT' is not ..." to stderr and
 * returns ODG_EXIT_USAGE; 0 on success. */
int odg_cli_posint(const char *cmd, const char *flag, const char *text, long max, long *out);
int odg_cli_count(const char *cmd, const char *flag, const char *text, long max, long *out);
int odg_cli_u64(const char *cmd, const char *flag, const char *text, uint64_t max, uint64_t *out);
int odg_cli_posreal(const char *cmd, const char *flag, const char *text, double *out);
int odg_cli_real_min(const char *cmd, const char *flag, const char *text, double min, double *out);
/* BYTES with an optional binary suffix (K, M, G, T, with or without "iB"), "auto" or "none". */
int odg_cli_bytes(const char *cmd, const char *flag, const char *text, size_t *out);
/* One of the names of list l; *out is its index. */
int odg_cli_name(const char *cmd, const odg_cli_names *l, const char *text, int *out);

/* ---- the flags of `run` (shared by `reference`, and by sweeps that want them) --------------- */

typedef struct odg_cli_run_opts {
    odg_run_config cfg;
    const char *csv; /* --csv FILE or NULL */
    int json;        /* --json */
    double min_time; /* roofline: --min-time SECONDS (ODG_CLI_MIN_TIME) */
} odg_cli_run_opts;

#define ODG_CLI_MIN_TIME 0.5

/* Parses the flags of `cmd` in argv[1 ..] into o (defaults first): every `run` flag for run,
 * reference and sweep; for roofline only --model, --dim, --hidden, --batch, --threads and its
 * own --min-time, --json, --help.  Returns 0, ODG_EXIT_USAGE after printing the problem, or -1
 * after printing --help to stdout (the caller exits 0). */
int odg_cli_parse_run(const char *cmd, int argc, char **argv, odg_cli_run_opts *o);
void odg_cli_run_usage(FILE *f, const char *cmd);
void odg_cli_roofline_usage(FILE *f);
/* The help of the flags that decide a model's shapes (--model, --dim, --hidden, --batch). */
void odg_cli_shape_usage(FILE *f);

#endif
