/* `odegrad version [--json]`: the version, the commit, and with --json the whole provenance
 * object that a CSV's sidecar records. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#ifndef ODG_VERSION
#define ODG_VERSION "unknown"
#endif

int odg_cli_version(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("Usage: odegrad version [--json]\n");
            return ODG_EXIT_OK;
        } else {
            fprintf(stderr, "odegrad version: unknown flag '%s' (only --json)\n", argv[i]);
            return ODG_EXIT_USAGE;
        }
    }
    if (json) {
        int cargc;
        char **cargv;
        odg_cli_command_line(&cargc, &cargv);
        char *s = odg_provenance_json(cargc ? cargc : argc, cargc ? cargv : argv);
        if (!s) {
            fprintf(stderr, "odegrad version: cannot format the JSON\n");
            return ODG_EXIT_FAIL;
        }
        printf("{\"version\":\"%s\",\"provenance\":%s}\n", ODG_VERSION, s);
        free(s);
        return ODG_EXIT_OK;
    }
    printf("odegrad %s (commit %s)\n", ODG_VERSION, odg_git_commit());
#ifdef __VERSION__
    printf("compiler %s\n", __VERSION__);
#endif
    return ODG_EXIT_OK;
}
