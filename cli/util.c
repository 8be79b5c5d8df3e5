/* Helpers every subcommand shares: the lists (the library's, generated from the .def files, and
 * the command's own) and the layout of --help. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the lists ---------------------------------------------------------------------------- */

/* The command's own lists, beside the library's odg_lists: the record's columns, the values of
 * its status column and the allocator's tags. */
static int column_count(void)
{
    return ODG_NCOLUMNS;
}
static const char *column_name(int i)
{
    return odg_column_name((odg_column)i);
}
static const char *column_desc(int i)
{
    return odg_column_desc((odg_column)i);
}
static int tag_count(void)
{
    return ODG_NTAGS;
}
static const char *tag_name(int i)
{
    return odg_tag_name((odg_tag)i);
}
static const char *tag_desc(int i)
{
    static const char *const d[] = {
#define ODG_TAG(e, name, what) what,
#include "odegrad/tags.def"
#undef ODG_TAG
    };
    return (i >= 0 && i < ODG_NTAGS) ? d[i] : "?";
}

/* The status column's values: the distinct record names of status.def in order of first
 * appearance, each described by the messages of the codes that map to it. */
static int record_status_code(int i)
{
    int k = -1;
    for (int s = 0; s < ODG_NSTATUS; s++) {
        int first = 1;
        for (int t = 0; t < s && first; t++) {
            first = strcmp(odg_status_record((odg_status)t), odg_status_record((odg_status)s)) != 0;
        }
        if (first && ++k == i) {
            return s;
        }
    }
    return -1;
}
static const char *status_name(int i)
{
    int s = record_status_code(i);
    return s >= 0 ? odg_status_record((odg_status)s) : "?";
}
static const char *status_desc(int i)
{
    static char buf[512]; /* the CLI is single-threaded; one description at a time */
    int s0 = record_status_code(i);
    buf[0] = '\0';
    size_t len = 0;
    for (int s = s0; s >= 0 && s < ODG_NSTATUS; s++) {
        if (strcmp(odg_status_record((odg_status)s), odg_status_record((odg_status)s0)) == 0) {
            int k = snprintf(buf + len, sizeof buf - len, "%s%s", len ? "; " : "",
                             odg_status_str((odg_status)s));
            if (k < 0 || (size_t)k >= sizeof buf - len) {
                break;
            }
            len += (size_t)k;
        }
    }
    return buf;
}
static int status_count(void)
{
    int n = 0;
    while (record_status_code(n) >= 0) {
        n++;
    }
    return n;
}

/* The options of a configuration (options.def): flag, where it applies, column. */
static int option_count(void)
{
    return ODG_NOPTIONS;
}
static const char *option_name(int i)
{
    const odg_option_info *in = odg_option_get((odg_option)i);
    return in ? in->flag : "?";
}
static const char *option_desc(int i)
{
    static char buf[1024]; /* the CLI is single-threaded; one description at a time */
    const odg_option_info *in = odg_option_get((odg_option)i);
    char where[256];
    if (!in) {
        return "?";
    }
    odg_option_where((odg_option)i, where, sizeof where);
    snprintf(buf, sizeof buf, "%s; column %s; %s%s%s", in->help,
             in->column >= 0 ? odg_column_name(in->column) : "(none)",
             where[0] ? "applies to " : "applies always", where, in->sweep ? "" : "; not a sweep key");
    return buf;
}

static const odg_list own_lists[] = {
    {"options", NULL, option_count, option_name, option_desc},
    {"columns", NULL, column_count, column_name, column_desc},
    {"statuses", NULL, status_count, status_name, status_desc},
    {"tags", NULL, tag_count, tag_name, tag_desc},
};
#define NOWN ((int)(sizeof own_lists / sizeof own_lists[0]))

const odg_list *odg_cli_list_find(const char *what)
{
    const odg_list *l = odg_list_find(what);
    for (int k = 0; !l && what && k < NOWN; k++) {
        if (strcmp(own_lists[k].what, what) == 0) {
            l = &own_lists[k];
        }
    }
    return l;
}

void odg_cli_list_each(void (*fn)(const odg_list *l, void *ctx), void *ctx)
{
    for (int k = 0; k < odg_nlists; k++) {
        fn(&odg_lists[k], ctx);
    }
    for (int k = 0; k < NOWN; k++) {
        fn(&own_lists[k], ctx);
    }
}

/* ---- help text ---------------------------------------------------------------------------- */

void odg_cli_opt(FILE *f, const char *flag, const char *text)
{
    const int indent = 22, width = 80;
    if ((int)strlen(flag) > 19) {
        fprintf(f, "  %s\n%*s", flag, indent, "");
    } else {
        fprintf(f, "  %-19s ", flag);
    }
    int col = indent;
    const char *p = text;
    while (*p) {
        size_t w = strcspn(p, " ");
        if (col > indent && col + 1 + (int)w > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", (int)w, p);
        col += (int)w;
        p += w;
        p += strspn(p, " ");
    }
    fputc('\n', f);
}

void odg_cli_opt_list(FILE *f, const char *flag, const char *pre, const char *list,
                      const char *dflt)
{
    char names[512], text[1024];
    odg_list_names(odg_cli_list_find(list), names, sizeof names);
    snprintf(text, sizeof text, "%s%s (%s)", pre, names, dflt);
    odg_cli_opt(f, flag, text);
}
