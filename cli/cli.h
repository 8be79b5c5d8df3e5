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
int odg_cli_sweep(int argc, char **argv); /* cli/sweep.c */

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
} odg_cli_run_opts;

/* Parses the `run` flags in argv[1 ..] into o (defaults first).  Returns 0, ODG_EXIT_USAGE after
 * printing the problem, or -1 after printing --help to stdout (the caller exits 0). */
int odg_cli_parse_run(const char *cmd, int argc, char **argv, odg_cli_run_opts *o);
void odg_cli_run_usage(FILE *f, const char *cmd);

#endif
