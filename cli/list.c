/* `odegrad list [WHAT ...]`: the names a flag accepts, each with its one-line description, read
 * from the library's own lists (the .def files through the *_name / *_desc functions). */
#include "cli.h"

#include <string.h>

static void print_list(const odg_list *l, int heading)
{
    int n = l->count();
    int width = 0;
    for (int i = 0; i < n; i++) {
        int k = (int)strlen(l->name(i));
        width = k > width ? k : width;
    }
    if (heading) {
        printf("%s%s%s%s:\n", l->what, l->flag ? " (--" : "", l->flag ? l->flag : "",
               l->flag ? ")" : "");
    }
    for (int i = 0; i < n; i++) {
        printf("  %-*s  %s\n", width, l->name(i), l->desc(i));
    }
}

static void print_what(const odg_list *l, void *f)
{
    fprintf(f, " %s", l->what);
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: odegrad list [WHAT ...]\n\nWHAT is one of:");
    odg_cli_list_each(print_what, f);
    fprintf(f, "\n(default: models schemes methods schedules interpolations spectra "
               "blas-modes\nreferences)\n");
}

int odg_cli_list(int argc, char **argv)
{
    static const char *const defaults[] = {"models",     "schemes",    "methods",  "schedules",
                                           "interpolations", "spectra", "blas-modes",
                                           "references", "traces",     "datasets"};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return ODG_EXIT_OK;
        }
        if (!odg_cli_list_find(argv[i])) {
            fprintf(stderr, "odegrad list: '%s' is not a list (see odegrad list --help)\n",
                    argv[i]);
            return ODG_EXIT_USAGE;
        }
    }
    if (argc <= 1) {
        int n = (int)(sizeof defaults / sizeof defaults[0]);
        for (int k = 0; k < n; k++) {
            print_list(odg_cli_list_find(defaults[k]), 1);
            printf(k + 1 < n ? "\n" : "");
        }
        return ODG_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        print_list(odg_cli_list_find(argv[i]), argc > 2);
        if (argc > 2 && i + 1 < argc) {
            printf("\n");
        }
    }
    return ODG_EXIT_OK;
}
