/* odegrad: gradients through ODE solvers, measured.  The command dispatches to its
 * subcommands (cli/run.c, cli/sweep.c, cli/roofline.c, cli/tidy.c, cli/list.c, cli/version.c);
 * README.md, "Layout". */
#include "cli.h"

#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *desc;
} commands[] = {
    {"run", odg_cli_run, "measure one configuration and record it (CSV row, JSON)"},
    {"sweep", odg_cli_sweep, "run a sweep file: many configurations, resumable"},
    {"reference", odg_cli_reference, "compute or find the cached reference gradient of a problem"},
    {"roofline", odg_cli_roofline,
     "this machine's DGEMM rate at a model's shapes, and at its peak"},
    {"tidy", odg_cli_tidy, "a results file as the figures read it: one row per configuration, sorted"},
    {"list", odg_cli_list, "models, schemes, methods, schedules, interpolations, columns, ..."},
    {"version", odg_cli_version, "version, commit and (--json) the provenance record"},
};

/* The whole command line, for the provenance (the subcommands see only their own part). */
static int full_argc;
static char **full_argv;

void odg_cli_command_line(int *argc, char ***argv)
{
    *argc = full_argc;
    *argv = full_argv;
}

#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

/* "run, sweep, ..." for messages. */
static void command_names(char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < NCOMMANDS; k++) {
        int n = snprintf(buf + len, cap - len, "%s%s", k ? ", " : "", commands[k].name);
        if (n < 0 || (size_t)n >= cap - len) {
            return;
        }
        len += (size_t)n;
    }
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: odegrad COMMAND [FLAGS]\n\n"
               "How should a gradient be computed through an ODE solver, and what does each "
               "way cost\nin time, memory and accuracy?\n\nCommands:\n");
    for (int k = 0; k < NCOMMANDS; k++) {
        fprintf(f, "  %-10s  %s\n", commands[k].name, commands[k].desc);
    }
    fprintf(f, "\n`odegrad COMMAND --help` describes a command's flags.\n"
               "Example: odegrad run --model mlp --dim 16 --scheme rk4 --steps 256 "
               "--method checkpoint-adjoint --json\n");
}

int main(int argc, char **argv)
{
    full_argc = argc;
    full_argv = argv;
    char names[256];
    command_names(names, sizeof names);
    if (argc < 2) {
        fprintf(stderr, "odegrad: no command (%s; see odegrad --help)\n", names);
        return ODG_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return ODG_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        return odg_cli_version(1, argv + 1);
    }
    for (int k = 0; k < NCOMMANDS; k++) {
        if (strcmp(cmd, commands[k].name) == 0) {
            return commands[k].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "odegrad: unknown command '%s' (%s; see odegrad --help)\n", cmd, names);
    return ODG_EXIT_USAGE;
}
