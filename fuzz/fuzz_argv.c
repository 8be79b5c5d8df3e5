/* A libFuzzer target for the command line of `odegrad run`, `reference` and `roofline`: the flag
 * parser (odg_cli_parse_run, cli/run.c) and the options table behind it (harness/options.c).
 *
 * The input is split at NUL bytes into an argument vector (at most FUZZ_ARGV_MAX arguments); its
 * first argument names the command (run, reference or roofline; anything else is taken as
 * run).  The contract, checked on every input (a broken one aborts):
 *   odg_cli_parse_run  returns 0, ODG_EXIT_USAGE (after one message) or -1 (--help), and
 *                      reads no argument out of the vector;
 *   on 0               (the flags, or --from FILE:LINE and the flags over that row)
 *                      odg_run_config_check answers (ODG_OK, or EINVAL / EUNSUP with err
 *                      NUL-terminated and *bad an option or -1); when it accepts, every option
 *                      given formats to text that parses back to an equal value, so the
 *                      configuration read back from its own text is the same configuration
 *                      (odg_run_config_same) with the same identity key: what a sweep's --dry-run
 *                      prints and a results file records is what was asked.
 * The parser prints its messages and --help; run the target with -close_fd_mask=3 (fuzz/run.sh
 * does).  Built by `make fuzz`; the seeds and every crash found so far are tests/data/argv/,
 * which tests/test_argv_corpus.c replays through this same function in `make test`. */
#include "../cli/cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ARGV_MAX 64

/* What the last input gave, for the replay test: the parser's return and the check's status
 * (-1 when the check did not run). */
static int fuzz_argv_parsed;
static int fuzz_argv_checked;

/* cli/odegrad.c (main) is not linked in; cli/run.c asks for the command line only to write a
 * provenance sidecar, which nothing here does. */
void odg_cli_command_line(int *argc, char ***argv)
{
    static char *none[] = {"odegrad", NULL};
    *argc = 1;
    *argv = none;
}

static void fuzz_argv_broken(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_argv: contract broken: %s (err: \"%s\")\n", what, err ? err : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) {
        return 0;
    }
    /* a copy with a NUL at the end, cut at each NUL into arguments */
    char *buf = malloc(size + 1);
    if (!buf) {
        return 0;
    }
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[FUZZ_ARGV_MAX + 1];
    int argc = 0;
    for (size_t i = 0; i <= size && argc < FUZZ_ARGV_MAX;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    const char *cmd = strcmp(argv[0], "reference") == 0  ? "reference"
                      : strcmp(argv[0], "roofline") == 0 ? "roofline"
                                                         : "run";

    odg_cli_run_opts o;
    fuzz_argv_parsed = odg_cli_parse_run(cmd, argc, argv, &o);
    fuzz_argv_checked = -1;
    if (fuzz_argv_parsed != 0 && fuzz_argv_parsed != -1 && fuzz_argv_parsed != ODG_EXIT_USAGE) {
        fuzz_argv_broken("the parser returned something other than 0, -1 or 2", "");
    }
    if (fuzz_argv_parsed == 0) {
        char err[ODG_ERRLEN];
        memset(err, 'x', sizeof err);
        int bad = -2;
        odg_status st = odg_run_config_check(&o.cfg, &bad, err);
        fuzz_argv_checked = st;
        if (st != ODG_OK) {
            if (st != ODG_EINVAL && st != ODG_EUNSUP) {
                fuzz_argv_broken("the check refused with an unexpected status", err);
            }
            if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0') {
                fuzz_argv_broken("the check refused without a message", "");
            }
            if (bad < -1 || bad >= ODG_NOPTIONS) {
                fuzz_argv_broken("the check blames no option and not -1", err);
            }
        } else if (o.row.nrow == 0) {
            /* every option given, through its text and back, into a fresh configuration (with
             * --from the configuration is a row's, not the options given: tests/test_cli_from.sh
             * checks that a row's rerun records the row) */
            odg_run_config back;
            odg_run_config_default(&back);
            char text[ODG_NOPTIONS][1024];
            for (int k = 0; k < ODG_NOPTIONS; k++) {
                if (!(o.cfg.given & ((uint64_t)1 << k))) {
                    continue;
                }
                if (odg_option_format(&o.cfg, (odg_option)k, text[k], sizeof text[k]) < 0) {
                    continue; /* a value longer than the buffer: nothing to compare */
                }
                if (odg_option_set(&back, (odg_option)k, text[k], err) != ODG_OK) {
                    fprintf(stderr, "--%s '%s'\n", odg_option_get((odg_option)k)->flag, text[k]);
                    fuzz_argv_broken("an accepted value's own text is refused", err);
                }
                if (!odg_option_equal(&o.cfg, &back, (odg_option)k)) {
                    fprintf(stderr, "--%s '%s'\n", odg_option_get((odg_option)k)->flag, text[k]);
                    fuzz_argv_broken("an accepted value's own text reads back to another value",
                                     "");
                }
            }
            if (!odg_run_config_same(&o.cfg, &back)) {
                fuzz_argv_broken("the configuration read back from its text is not the same", "");
            }
            char *k1 = odg_run_config_key(&o.cfg), *k2 = odg_run_config_key(&back);
            if (k1 && k2 && strcmp(k1, k2) != 0) {
                fprintf(stderr, "%s\n%s\n", k1, k2);
                fuzz_argv_broken("the configuration read back from its text has another key", "");
            }
            free(k1);
            free(k2);
        }
    }
    if (fuzz_argv_parsed == 0) {
        odg_cli_run_opts_free(&o);
    }
    free(buf);
    return 0;
}
