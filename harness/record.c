/* A run's record: the columns of columns.def as typed cells, written as a CSV row and as a JSON
 * object from the same cells.  A row is formatted into one buffer and appended with one write()
 * on an O_APPEND descriptor under an exclusive lock, so a crash or a kill never leaves a torn
 * line and concurrent writers never interleave; the header is written once, when the file is new
 * or empty.  Doubles are written with %.17g (JSON: 17 significant digits too), so a value reads
 * back bit for bit from either. */
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
            k = snprintf(buf + len, cap - len, "%.17g", cell->x);
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
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) {
            errno = 0;
            if (access(dir, W_OK) != 0) {
                return io_fail(err, dir, "cannot create files in the directory");
            }
            return ODG_OK; /* a new file */
        }
        return io_fail(err, path, "cannot use the file");
    }
    errno = 0;
    if (!S_ISREG(sb.st_mode)) {
        return io_fail(err, path, "not a regular file");
    }
    if (access(path, W_OK) != 0) {
        return io_fail(err, path, "cannot append to the file");
    }
    if (sb.st_size == 0) {
        return ODG_OK;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return io_fail(err, path, "cannot read the file");
    }
    char line[8192], want[8192];
    long n = first_line(fd, line, sizeof line);
    close(fd);
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

odg_status odg_csv_append(const char *path, const odg_run_record *rec, char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    char row[16384], head[8192];
    int rlen = odg_csv_row(rec, row, sizeof row - 1); /* room for a leading newline */
    int hlen = odg_csv_header(head, sizeof head - 1);
    if (rlen < 0 || hlen < 0) {
        errno = 0;
        return io_fail(err, path, "a record does not fit its buffer");
    }
    head[hlen++] = '\n';
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
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
    if (sb.st_size == 0 && odg_write_all(fd, head, (size_t)hlen) != 0) {
        st = io_fail(err, path, "cannot write the header");
        goto fail;
    }
    /* A file that does not end with a newline (cut short by a full disk, or edited by hand):
     * the row starts on a line of its own all the same, so only the broken line is lost. */
    const char *out = row;
    char last = '\n';
    int rfd = sb.st_size > 0 ? open(path, O_RDONLY) : -1;
    if (rfd >= 0) {
        if (pread(rfd, &last, 1, sb.st_size - 1) != 1) {
            last = '\n';
        }
        close(rfd);
    }
    if (last != '\n') {
        memmove(row + 1, row, (size_t)rlen + 1);
        row[0] = '\n';
        rlen++;
    }
    /* one write() of the whole row: a regular file takes it whole or not at all in practice;
     * a short write (disk full) is reported */
    ssize_t k = write(fd, out, (size_t)rlen);
    if (k != rlen) {
        st = io_fail(err, path, k < 0 ? "cannot append the row" : "the row was cut short");
    }
fail:
    if (close(fd) != 0 && st == ODG_OK) {
        st = io_fail(err, path, "cannot close");
    }
    return st;
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
    json_object_set_new(d, "theory_stored_bytes", real_or_null(rec->theory_stored_bytes));
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
    json_object_set_new(d, "discrete_method", json_string(rec->discrete_method));
    json_t *roof = json_object();
    json_object_set_new(roof, "source", json_string(rec->roofline_source));
    json_object_set_new(roof, "seconds", real_or_null(rec->roofline_s));
    json_object_set_new(d, "roofline", roof);
    json_object_set_new(d, "reference", ref_json(&rec->ref));
    json_object_set_new(d, "save_grad_error", json_string(rec->save_grad_error));
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
