/* `odegrad tidy`: a results file as the figures read it: the last row of each configuration (a
 * sweep rerun after a rebuild appends rows for the new commit), sorted along the curves.  The
 * file is read through the library's reader and each row's configuration compared by its
 * identity (odg_run_config_key), as resume compares it; nothing here knows the columns. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: odegrad tidy [--sort COL[,COL...]] FILE.csv\n\n"
               "Prints the results file FILE.csv (its own header, whatever version wrote it) with "
               "one row\nper configuration, the last one recorded, sorted by the columns COL "
               "(numbers as numbers,\nempty first; -COL sorts down), rows otherwise in file "
               "order.  A row whose\nconfiguration does not read back is left out, and said on "
               "stderr.\n");
}

typedef struct {
    const odg_csv_table *t;
    int ncol;
    int col[64];
    int down[64];
} sorter;

static sorter g_sort; /* qsort has no context argument in C11 */

typedef struct {
    int row;
} item;

static int cmp_field(const char *a, const char *b)
{
    if (!*a || !*b) {
        return (*a != '\0') - (*b != '\0'); /* empty first */
    }
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    if (*ea == '\0' && *eb == '\0' && !isnan(x) && !isnan(y)) {
        return (x > y) - (x < y);
    }
    return strcmp(a, b);
}

static char **g_keys;

static int cmp_keys(const void *pa, const void *pb)
{
    int a = ((const item *)pa)->row, b = ((const item *)pb)->row;
    int c = strcmp(g_keys[a], g_keys[b]);
    return c ? c : (a > b) - (a < b);
}

static int cmp_rows(const void *pa, const void *pb)
{
    int a = ((const item *)pa)->row, b = ((const item *)pb)->row;
    for (int k = 0; k < g_sort.ncol; k++) {
        int j = g_sort.col[k];
        int c = cmp_field(g_sort.t->rows[a][j], g_sort.t->rows[b][j]);
        if (c) {
            return g_sort.down[k] ? -c : c;
        }
    }
    return (a > b) - (a < b); /* stable: file order */
}

static void put_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') {
            putchar('"');
        }
        putchar(*s);
    }
    putchar('"');
}

int odg_cli_tidy(int argc, char **argv)
{
    const char *sort = NULL, *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return ODG_EXIT_OK;
        } else if (strcmp(argv[i], "--sort") == 0 && i + 1 < argc) {
            sort = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr,
                    "odegrad tidy: unknown flag or missing value: %s (see odegrad tidy "
                    "--help)\n",
                    argv[i]);
            return ODG_EXIT_USAGE;
        } else if (path) {
            fprintf(stderr, "odegrad tidy: one results file at a time ('%s' and '%s')\n", path,
                    argv[i]);
            return ODG_EXIT_USAGE;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        return ODG_EXIT_USAGE;
    }
    char err[ODG_ERRLEN];
    odg_csv_table t;
    odg_status st = odg_csv_read(path, &t, err);
    if (st != ODG_OK) {
        fprintf(stderr, "odegrad tidy: %s\n", err);
        return ODG_EXIT_USAGE;
    }
    int rc = ODG_EXIT_OK;
    item *items = NULL;
    char **keys = NULL;
    if (t.ncol == 0 || odg_csv_table_col(&t, "experiment") < 0) {
        fprintf(stderr, "odegrad tidy: %s is not an odegrad results file (no experiment column)\n",
                path);
        rc = ODG_EXIT_USAGE;
        goto done;
    }
    memset(&g_sort, 0, sizeof g_sort);
    g_sort.t = &t;
    if (sort) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", sort);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            int down = tok[0] == '-';
            int j = odg_csv_table_col(&t, tok + down);
            if (j < 0) {
                continue; /* a column an older file does not have sorts nothing */
            }
            if (g_sort.ncol == 64) {
                fprintf(stderr, "odegrad tidy: --sort: at most 64 columns\n");
                rc = ODG_EXIT_USAGE;
                goto done;
            }
            g_sort.col[g_sort.ncol] = j;
            g_sort.down[g_sort.ncol++] = down;
        }
    }
    items = calloc((size_t)t.nrow + 1, sizeof *items);
    keys = calloc((size_t)t.nrow + 1, sizeof *keys);
    if (!items || !keys) {
        fprintf(stderr, "odegrad tidy: out of memory\n");
        rc = ODG_EXIT_FAIL;
        goto done;
    }
    int je = odg_csv_table_col(&t, "experiment");
    for (int i = 0; i < t.nrow; i++) {
        odg_run_config c;
        if (odg_csv_row_config(&t, i, &c, err) != ODG_OK) {
            fprintf(stderr, "odegrad tidy: %s: %s: left out\n", path, err);
            continue;
        }
        char *k = odg_run_config_key(&c);
        size_t n = k ? strlen(k) + strlen(t.rows[i][je]) + 2 : 0;
        keys[i] = k ? malloc(n) : NULL;
        if (!keys[i]) {
            free(k);
            fprintf(stderr, "odegrad tidy: out of memory\n");
            rc = ODG_EXIT_FAIL;
            goto done;
        }
        snprintf(keys[i], n, "%s\x1f%s", t.rows[i][je], k);
        free(k);
    }
    /* the last row of each configuration: sorted by (key, row), the last of each run of equal
     * keys is the one kept */
    int n = 0;
    for (int i = 0; i < t.nrow; i++) {
        if (keys[i]) {
            items[n++].row = i;
        }
    }
    g_keys = keys;
    qsort(items, (size_t)n, sizeof *items, cmp_keys);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (i + 1 == n || strcmp(keys[items[i].row], keys[items[i + 1].row]) != 0) {
            items[kept++] = items[i];
        }
    }
    qsort(items, (size_t)kept, sizeof *items, cmp_rows);
    for (int j = 0; j < t.ncol; j++) {
        if (j) {
            putchar(',');
        }
        put_field(t.head[j]);
    }
    putchar('\n');
    for (int i = 0; i < kept; i++) {
        for (int j = 0; j < t.ncol; j++) {
            if (j) {
                putchar(',');
            }
            put_field(t.rows[items[i].row][j]);
        }
        putchar('\n');
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "odegrad tidy: cannot write the output\n");
        rc = ODG_EXIT_FAIL;
    }
done:
    for (int i = 0; keys && i < t.nrow; i++) {
        free(keys[i]);
    }
    free(keys);
    free(items);
    odg_csv_table_free(&t);
    return rc;
}
