/* A run's record: the columns of columns.def as typed cells, written as a CSV row and as a JSON
 * object from the same cells.  A row is formatted into one buffer and appended with one write()
 * on an O_APPEND descriptor under an exclusive lock, so a crash or a kill never leaves a torn
 * line and concurrent writers never interleave; a write cut short by a full disk is cut back off
 * the file.  The header is written once, when the file is new or empty.  Doubles are written as
 * the shortest decimal that reads back to the same double (JSON: 17 significant digits), so a
 * value reads back bit for bit from either.
 *
 * Reading the CSV lives here too, beside writing it: a results file as a table of fields, and a
 * row's configuration parsed back through the options table (odg_csv_row_config), so that a
 * configuration's identity is compared as typed values, never as text. */
#include "harness_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const column_names[] = {
#define ODG_COLUMN(name, desc) #name,
#include "odegrad/columns.def"
#undef ODG_COLUMN
};

static const char *const column_descs[] = {
#define ODG_COLUMN(name, desc) desc,
#include "odegrad/columns.def"
#undef ODG_COLUMN
};

const char *odg_column_name(odg_column c)
{
    return (c >= 0 && c < ODG_NCOLUMNS) ? column_names[c] : "?";
}

const char *odg_column_desc(odg_column c)
{
    return (c >= 0 && c < ODG_NCOLUMNS) ? column_descs[c] : "?";
}

/* ---- cells -------------------------------------------------------------------------------- */

void odg_cell_empty(odg_cell *c)
{
    memset(c, 0, sizeof *c);
    c->type = ODG_CELL_EMPTY;
}

void odg_cell_str(odg_cell *c, const char *s)
{
    odg_cell_empty(c);
    c->type = ODG_CELL_STR;
    snprintf(c->s, sizeof c->s, "%s", s ? s : "");
}

void odg_cell_int(odg_cell *c, long long v)
{
    odg_cell_empty(c);
    c->type = ODG_CELL_INT;
    c->i = v;
}

void odg_cell_real(odg_cell *c, double x)
{
    odg_cell_empty(c);
    if (isfinite(x)) {
        c->type = ODG_CELL_REAL;
        c->x = x;
    }
}

/* ---- CSV ---------------------------------------------------------------------------------- */

int odg_csv_header(char *buf, size_t cap)
{
    size_t len = 0;
    for (int c = 0; c < ODG_NCOLUMNS; c++) {
        int k = snprintf(buf + len, cap - len, "%s%s", c ? "," : "", column_names[c]);
        if (k < 0 || (size_t)k >= cap - len) {
            return -1;
        }
        len += (size_t)k;
    }
    return (int)len;
}

/* A string field, quoted (RFC 4180) only when it holds a separator, a quote or a line break. */
static int csv_string(char *buf, size_t cap, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        return snprintf(buf, cap, "%s", s);
    }
    size_t len = 0;
    if (cap < 2) {
        return -1;
    }
    buf[len++] = '"';
    for (const char *p = s; *p; p++) {
        if (len + 3 >= cap) {
            return -1;
        }
        if (*p == '"') {
            buf[len++] = '"';
        }
        buf[len++] = *p;
    }
    if (len + 2 > cap) {
        return -1;
    }
    buf[len++] = '"';
    buf[len] = '\0';
    return (int)len;
}

int odg_csv_row(const odg_run_record *rec, char *buf, size_t cap)
{
    size_t len = 0;
    for (int c = 0; c < ODG_NCOLUMNS; c++) {
        if (c) {
            if (len + 1 >= cap) {
                return -1;
            }
            buf[len++] = ',';
            buf[len] = '\0';
        }
        const odg_cell *cell = &rec->cell[c];
        int k = 0;
        switch (cell->type) {
        case ODG_CELL_STR:
            k = csv_string(buf + len, cap - len, cell->s);
            break;
        case ODG_CELL_INT:
            k = snprintf(buf + len, cap - len, "%lld", cell->i);
            break;
        case ODG_CELL_REAL:
            k = odg_fmt_real(buf + len, cap - len, cell->x);
            break;
        default:
            k = 0;
            break;
        }
        if (k < 0 || (size_t)k >= cap - len) {
            return -1;
        }
        len += (size_t)k;
    }
    if (len + 2 > cap) {
        return -1;
    }
    buf[len++] = '\n';
    buf[len] = '\0';
    return (int)len;
}

static odg_status io_fail(char err[ODG_ERRLEN], const char *path, const char *what)
{
    if (err) {
        snprintf(err, ODG_ERRLEN, "%s: %s%s%s", path, what, errno ? ": " : "",
                 errno ? strerror(errno) : "");
    }
    return ODG_EIO;
}

/* Reads the first line of an open file (up to cap - 1 bytes); its length, or -1. */
static long first_line(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t k = pread(fd, buf + len, cap - 1 - len, (off_t)len);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (k == 0) {
            break;
        }
        len += (size_t)k;
        if (memchr(buf, '\n', len)) {
            break;
        }
    }
    buf[len] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl) {
        *nl = '\0';
        if (nl > buf && nl[-1] == '\r') {
            nl[-1] = '\0';
        }
    }
    return (long)strlen(buf);
}

/* The directory part of path ("." when there is none). */
static void dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, cap, "%s", ".");
    } else if (slash == path) {
        snprintf(dir, cap, "%s", "/");
    } else {
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
    }
}

odg_status odg_csv_check(const char *path, char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    if (!path || !path[0]) {
        errno = 0;
        return io_fail(err, "--csv", "the file name is empty");
    }
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    struct stat sb;
    errno = 0;
    if (stat(dir, &sb) != 0) {
        return io_fail(err, dir, "cannot use the directory");
    }
    if (!S_ISDIR(sb.st_mode)) {
        errno = 0;
        return io_fail(err, dir, "not a directory");
    }
    /* The sidecar is written beside the file (a temporary file renamed over FILE.json), so a
     * FILE.json that is a directory or a FIFO would fail only after the measurement. */
    char side[4200];
    if (snprintf(side, sizeof side, "%s.json", path) >= (int)sizeof side) {
        errno = ENAMETOOLONG;
        return io_fail(err, path, "cannot use the file");
    }
    if (lstat(side, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        errno = 0;
        return io_fail(err, side, "not a regular file (the sidecar is written there)");
    }
    /* Opened for real, not asked with access(): access() says yes to root for files that
     * refuse every write (/proc), and a directory may take no new file for reasons it cannot
     * see (a read-only mount, a full inode table).  O_NONBLOCK: a FIFO must not block here. */
    if (stat(path, &sb) != 0) {
        if (errno != ENOENT) {
            return io_fail(err, path, "cannot use the file");
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, 0644);
        if (fd < 0) {
            return io_fail(err, path, "cannot create the file");
        }
        /* the probe goes again: bad input found later must leave no trace */
        close(fd);
        if (unlink(path) != 0) {
            return io_fail(err, path, "cannot remove the test file just created");
        }
        return ODG_OK; /* a new file */
    }
    errno = 0;
    if (!S_ISREG(sb.st_mode)) {
        return io_fail(err, path, "not a regular file");
    }
    int fd = open(path, O_RDWR | O_APPEND | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return io_fail(err, path, "cannot append to the file");
    }
    if (sb.st_size == 0) {
        close(fd);
        return ODG_OK;
    }
    char line[8192], want[8192];
    long n = first_line(fd, line, sizeof line);
    int e = errno;
    close(fd);
    errno = e;
    if (n < 0) {
        return io_fail(err, path, "cannot read the file");
    }
    if (odg_csv_header(want, sizeof want) < 0 || strcmp(line, want) != 0) {
        if (err) {
            snprintf(err, ODG_ERRLEN,
                     "%s: its header is not this version's columns (see `odegrad list columns`); "
                     "write to a new file",
                     path);
        }
        return ODG_EFORMAT;
    }
    return ODG_OK;
}

/* Takes an exclusive advisory lock on the whole file, waiting for it. */
static int lock_file(int fd)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    while (fcntl(fd, F_SETLKW, &fl) != 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return 0;
}

/* Appends buf with as many write() calls as it takes, each asked of odg_io_fault first; 0, or
 * -1 with errno saying why (a write that takes nothing and says nothing is ENOSPC). */
static int append_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        if (odg_io_fault()) {
            return -1;
        }
        ssize_t k = write(fd, buf, len);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0) {
            return -1;
        }
        if (k == 0) {
            errno = ENOSPC;
            return -1;
        }
        buf += k;
        len -= (size_t)k;
    }
    return 0;
}

odg_status odg_csv_append(const char *path, const odg_run_record *rec, char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    /* the header (for a new file), a newline (after a line cut short) and the row, in one
     * buffer written at once */
    char out[8192 + 16384 + 2];
    const size_t headcap = 8192;
    int hlen = odg_csv_header(out, headcap - 1);
    if (hlen < 0) {
        errno = 0;
        return io_fail(err, path, "a record does not fit its buffer");
    }
    /* O_NONBLOCK: a FIFO put in the file's place since odg_csv_check must not block the open */
    int fd = odg_io_fault()
                 ? -1
                 : open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0) {
        return io_fail(err, path, "cannot open for appending");
    }
    odg_status st = ODG_OK;
    if (lock_file(fd) != 0) {
        st = io_fail(err, path, "cannot lock");
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = io_fail(err, path, "cannot stat");
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        errno = 0;
        st = io_fail(err, path, "not a regular file");
        goto fail;
    }
    size_t len = 0;
    if (sb.st_size == 0) {
        out[hlen] = '\n';
        len = (size_t)hlen + 1;
    } else {
        /* A file that does not end with a newline (edited by hand, or cut short by a writer
         * that did not clean up): the row starts on a line of its own all the same, so only
         * the broken line is lost. */
        char last = '\n';
        int rfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (rfd >= 0) {
            if (pread(rfd, &last, 1, sb.st_size - 1) != 1) {
                last = '\n';
            }
            close(rfd);
        }
        if (last != '\n') {
            out[len++] = '\n';
        }
    }
    int rlen = odg_csv_row(rec, out + len, sizeof out - len);
    if (rlen < 0) {
        errno = 0;
        st = io_fail(err, path, "a record does not fit its buffer");
        goto fail;
    }
    len += (size_t)rlen;
    /* A write cut short (a full disk takes what fits) would leave part of a row for good: the
     * file is cut back to where it was, under the lock, and the message gives the reason of
     * the write that failed, not a stale errno. */
    if (append_all(fd, out, len) != 0) {
        int e = errno;
        if (ftruncate(fd, sb.st_size) != 0) {
            int e2 = errno;
            if (err) {
                snprintf(err, ODG_ERRLEN,
                         "%s: cannot append the row: %s; and cutting the file back to its %lld "
                         "bytes failed too: %s",
                         path, strerror(e), (long long)sb.st_size, strerror(e2));
            }
            st = ODG_EIO;
        } else {
            if (err) {
                snprintf(err, ODG_ERRLEN, "%s: cannot append the row: %s (the file is as it was)",
                         path, strerror(e));
            }
            st = ODG_EIO;
        }
    }
fail:
    if (close(fd) != 0 && st == ODG_OK) {
        st = io_fail(err, path, "cannot close");
    }
    return st;
}

/* ---- the configuration columns ------------------------------------------------------------ */

void odg_record_config(odg_run_record *rec, const odg_run_config *c)
{
    for (int o = 0; o < ODG_NOPTIONS; o++) {
        const odg_option_info *in = odg_option_get((odg_option)o);
        if (in->column < 0) {
            continue;
        }
        odg_cell *cell = &rec->cell[in->column];
        char text[ODG_CELL_STRLEN];
        if (!odg_option_applies(c, (odg_option)o, NULL) ||
            odg_option_format(c, (odg_option)o, text, sizeof text) < 0) {
            odg_cell_empty(cell);
            continue;
        }
        switch (in->type) {
        case ODG_OPTTYPE_INT:
        case ODG_OPTTYPE_FLAG:
            odg_cell_int(cell, strtoll(text, NULL, 10));
            break;
        case ODG_OPTTYPE_REAL:
        case ODG_OPTTYPE_REAL1:
            odg_cell_real(cell, strtod(text, NULL));
            break;
        default:
            odg_cell_str(cell, text);
            break;
        }
    }
}

/* ---- reading ------------------------------------------------------------------------------ */

/* Splits one line in place into at most max fields (RFC 4180 quotes undone); the count of
 * fields the line has, which may exceed max. */
static int split_fields(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *start = p, *w = p;
        if (*p == '"') {
            start = w = ++p;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"') {
                    p++; /* "" inside quotes */
                }
                *w++ = *p++;
            }
            if (*p == '"') {
                p++;
            }
            while (*p && *p != ',') {
                p++; /* text after a closing quote: not RFC 4180, dropped */
            }
        } else {
            while (*p && *p != ',') {
                *w++ = *p++;
            }
        }
        char *next = *p == ',' ? p + 1 : NULL;
        *w = '\0';
        if (n < max) {
            f[n] = start;
        }
        n++;
        if (!next) {
            return n;
        }
        p = next;
    }
}

void odg_csv_table_free(odg_csv_table *t)
{
    if (!t) {
        return;
    }
    for (int i = 0; i < t->nrow; i++) {
        free(t->rows[i]);
    }
    free(t->rows);
    free(t->line);
    free(t->head);
    free(t->text);
    memset(t, 0, sizeof *t);
}

int odg_csv_table_col(const odg_csv_table *t, const char *name)
{
    for (int j = 0; j < t->ncol; j++) {
        if (strcmp(t->head[j], name) == 0) {
            return j;
        }
    }
    return -1;
}

odg_status odg_csv_read(const char *path, odg_csv_table *t, char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    memset(t, 0, sizeof *t);
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
        return errno == ENOENT ? ODG_OK : io_fail(err, path, "cannot read");
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        errno = 0;
        return io_fail(err, path, "not a regular file");
    }
    size_t n = (size_t)sb.st_size, got = 0;
    t->text = malloc(n + 1);
    if (!t->text) {
        close(fd);
        return odg_fail(err, ODG_ENOMEM, "%s: out of memory reading it", path);
    }
    while (got < n) {
        ssize_t k = read(fd, t->text + got, n - got);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            break; /* a file that shrank: what was read is the file */
        }
        got += (size_t)k;
    }
    close(fd);
    t->text[got] = '\0';
    if (memchr(t->text, '\0', got)) {
        odg_csv_table_free(t);
        return odg_fail(err, ODG_EFORMAT, "%s: not a text file (it holds a NUL byte)", path);
    }
    int lineno = 0;
    odg_status st = ODG_OK;
    for (char *line = t->text, *next; line && *line != '\0' && st == ODG_OK; line = next) {
        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        lineno++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r') {
            line[--len] = '\0';
        }
        if (!t->head) {
            int ncol = 1;
            for (const char *c = line; *c; c++) {
                ncol += *c == ',';
            }
            t->head = malloc((size_t)ncol * sizeof *t->head);
            if (!t->head) {
                st = odg_fail(err, ODG_ENOMEM, "%s: out of memory reading it", path);
                break;
            }
            t->ncol = split_fields(line, t->head, ncol);
            continue;
        }
        if (len == 0) {
            continue;
        }
        /* a row without its last newline was cut short (a full disk, a kill): not a record */
        if (!next) {
            t->torn++;
            break;
        }
        char **f = malloc((size_t)t->ncol * sizeof *f);
        char ***rows = f ? realloc(t->rows, (size_t)(t->nrow + 1) * sizeof *t->rows) : NULL;
        int *lines = rows ? realloc(t->line, (size_t)(t->nrow + 1) * sizeof *t->line) : NULL;
        if (rows) {
            t->rows = rows;
        }
        if (lines) {
            t->line = lines;
        }
        if (!f || !rows || !lines) {
            free(f);
            st = odg_fail(err, ODG_ENOMEM, "%s: out of memory reading it", path);
            break;
        }
        if (split_fields(line, f, t->ncol) != t->ncol) {
            free(f);
            t->torn++; /* a torn or foreign line: not a record */
            continue;
        }
        t->rows[t->nrow] = f;
        t->line[t->nrow] = lineno;
        t->nrow++;
    }
    if (st != ODG_OK) {
        odg_csv_table_free(t);
    }
    return st;
}

odg_status odg_csv_row_config(const odg_csv_table *t, int i, odg_run_config *c,
                              char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    odg_run_config_default(c);
    if (i < 0 || i >= t->nrow) {
        return odg_fail(err, ODG_EINVAL, "no row %d", i);
    }
    const odg_run_config d = *c;
    int bad[ODG_NOPTIONS], nbad = 0;
    for (int o = 0; o < ODG_NOPTIONS; o++) {
        const odg_option_info *in = odg_option_get((odg_option)o);
        int j = in->column >= 0 ? odg_csv_table_col(t, odg_column_name(in->column)) : -1;
        const char *v = j >= 0 ? t->rows[i][j] : "";
        char dflt[ODG_CELL_STRLEN];
        if (!v[0] || (odg_option_format(&d, (odg_option)o, dflt, sizeof dflt) >= 0 &&
                      strcmp(v, dflt) == 0)) {
            continue; /* not recorded, does not apply, or the default (0: "unset") */
        }
        if (odg_option_set(c, (odg_option)o, v, NULL) != ODG_OK) {
            bad[nbad++] = o;
        }
    }
    /* a value that does not parse matters only where its option applies (an older version
     * wrote H = 0 for the linear model) */
    for (int k = 0; k < nbad; k++) {
        odg_option o = (odg_option)bad[k];
        if (odg_option_applies(c, o, NULL)) {
            const odg_option_info *in = odg_option_get(o);
            char why[ODG_ERRLEN];
            int j = odg_csv_table_col(t, odg_column_name(in->column));
            odg_option_set(c, o, t->rows[i][j], why);
            return odg_fail(err, ODG_EFORMAT, "line %d, column %s: %s", t->line[i],
                            odg_column_name(in->column), why);
        }
    }
    c->given = 0;
    return ODG_OK;
}

/* ---- JSON --------------------------------------------------------------------------------- */

static json_t *cell_json(const odg_cell *c)
{
    switch (c->type) {
    case ODG_CELL_STR:
        return json_string(c->s);
    case ODG_CELL_INT:
        return json_integer((json_int_t)c->i);
    case ODG_CELL_REAL:
        return json_real(c->x);
    default:
        return json_null();
    }
}

static json_t *real_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *ref_json(const odg_ref_info *ri)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(odg_ref_kind_name(ri->kind)));
    json_object_set_new(o, "status", json_string(odg_status_record(ri->status)));
    if (ri->kind == ODG_REF_NONE) {
        return o;
    }
    json_object_set_new(o, "message", json_string(odg_status_str(ri->status)));
    if (ri->kind == ODG_REF_FINE) {
        json_object_set_new(o, "scheme", json_string(ri->scheme));
        json_object_set_new(o, "method", json_string(ri->method));
        json_object_set_new(o, "N", json_integer(ri->N));
        json_object_set_new(o, "converged", json_boolean(ri->converged));
        json_object_set_new(o, "change", real_or_null(ri->change));
        json_object_set_new(o, "tolerance", json_real(ODG_REF_TOL));
        json_object_set_new(o, "second", json_string(ri->second));
        json_object_set_new(o, "error", real_or_null(ri->error));
    }
    json_object_set_new(o, "loss", real_or_null(ri->loss));
    json_object_set_new(o, "cached", json_boolean(ri->cached));
    json_object_set_new(o, "key", json_string(ri->key));
    json_object_set_new(o, "path", json_string(ri->path));
    return o;
}

static json_t *detail_json(const odg_run_record *rec)
{
    json_t *d = json_object();
    json_object_set_new(d, "message", json_string(rec->message));
    json_object_set_new(d, "mem_limit_bytes", real_or_null(rec->mem_limit_bytes));
    json_object_set_new(d, "forward_min_s", real_or_null(rec->forward_min_s));
    json_object_set_new(d, "forward_max_s", real_or_null(rec->forward_max_s));
    json_object_set_new(d, "backward_min_s", real_or_null(rec->backward_min_s));
    json_object_set_new(d, "backward_max_s", real_or_null(rec->backward_max_s));
    json_object_set_new(d, "rejected_steps",
                        rec->rejected >= 0 ? json_integer(rec->rejected) : json_null());
    json_object_set_new(d, "adjoint_steps",
                        rec->adj_steps >= 0 ? json_integer(rec->adj_steps) : json_null());
    json_object_set_new(d, "checkpoint_interval",
                        rec->interval >= 0 ? json_integer(rec->interval) : json_null());
    if (rec->have_peaks) {
        json_t *p = json_object();
        for (int t = 0; t < ODG_NTAGS; t++) {
            json_object_set_new(p, odg_tag_name((odg_tag)t), real_or_null(rec->peak_bytes[t]));
        }
        json_object_set_new(d, "accounted_peak_by_tag", p);
    } else {
        json_object_set_new(d, "accounted_peak_by_tag", json_null());
    }
    json_object_set_new(d, "rss_baseline_bytes", real_or_null(rec->rss_baseline_bytes));
    json_object_set_new(d, "rss_method", json_string(rec->rss_method));
    json_object_set_new(d, "warmups_done",
                        rec->warmups_done >= 0 ? json_integer(rec->warmups_done) : json_null());
    json_object_set_new(d, "discrete_method", json_string(rec->discrete_method));
    json_t *roof = json_object();
    json_object_set_new(roof, "source", json_string(rec->roofline_source));
    json_object_set_new(roof, "seconds", real_or_null(rec->roofline_s));
    json_object_set_new(d, "roofline", roof);
    json_object_set_new(d, "reference", ref_json(&rec->ref));
    json_object_set_new(d, "save_grad_error", json_string(rec->save_grad_error));
    if (rec->mpi_ranks > 0) {
        json_t *mp = json_object();
        json_object_set_new(mp, "ranks", json_integer(rec->mpi_ranks));
        json_object_set_new(mp, "comm_s_per_gradient", real_or_null(rec->mpi_comm_s));
        json_object_set_new(mp, "comm_bytes_per_gradient", real_or_null(rec->mpi_comm_bytes));
        json_object_set_new(mp, "reduce_s_per_gradient", real_or_null(rec->mpi_reduce_s));
        json_object_set_new(mp, "reduce_bytes_per_gradient", real_or_null(rec->mpi_reduce_bytes));
        json_object_set_new(mp, "rank_accounted_peak_min", real_or_null(rec->mpi_peak_min));
        json_object_set_new(mp, "rank_accounted_peak_max", real_or_null(rec->mpi_peak_max));
        json_object_set_new(mp, "rank_rss_peak_min", real_or_null(rec->mpi_rss_min));
        json_object_set_new(mp, "rank_rss_peak_max", real_or_null(rec->mpi_rss_max));
        json_object_set_new(d, "mpi", mp);
    }
    return d;
}

char *odg_record_json(const odg_run_record *rec)
{
    json_t *o = json_object();
    if (!o) {
        return NULL;
    }
    for (int c = 0; c < ODG_NCOLUMNS; c++) {
        json_object_set_new(o, column_names[c], cell_json(&rec->cell[c]));
    }
    json_object_set_new(o, "detail", detail_json(rec));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

char *odg_ref_info_json(const odg_ref_info *ri)
{
    json_t *o = ref_json(ri);
    if (!o) {
        return NULL;
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}
