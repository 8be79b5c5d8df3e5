/* NumPy .npy files, float64 in C order only: the peers' initial states and weights come in as
 * .npy and results may go out as .npy (`--load`, `--save-grad`).  The format is NumPy's NEP 1: a
 * magic string, a version, a little-endian header length, a Python dict literal
 * {'descr': '<f8', 'fortran_order': False, 'shape': (64, 2), } padded with spaces and a newline,
 * then the raw data.  Reading takes versions 1.0, 2.0 and 3.0 and any formatting of the dict that
 * Python would accept for these three keys; anything else is refused with a message naming the
 * problem.  Bytes are assembled explicitly in little-endian order, so this works on any host.
 */
#include "odegrad/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* NumPy itself refuses headers over 10000 bytes unless told otherwise; a few times that is
 * still far more than three keys need, and it stops a corrupt length from asking for 4 GiB. */
#define NPY_MAX_HEADER 65536

/* ---- error text --------------------------------------------------------------------------- */

/* err = "<path>: <message>".  A very long path keeps only its tail, so the message (the useful
 * part) still fits in ODG_ERRLEN. */
static void npy_err(char *err, const char *path, const char *fmt, ...)
{
    if (err == NULL) {
        return;
    }
    const char *shown = path ? path : "(null)";
    const char *dots = "";
    size_t len = strlen(shown);
    if (len > 100) {
        shown += len - 97;
        dots = "...";
    }
    int k = snprintf(err, ODG_ERRLEN, "%s%s: ", dots, shown);
    if (k < 0 || k >= ODG_ERRLEN) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + k, ODG_ERRLEN - (size_t)k, fmt, ap);
    va_end(ap);
}

/* "(3, 4)", "(3,)" or "()", as Python prints a shape. */
static void npy_shape_str(char *buf, size_t cap, int ndim, const size_t *shape)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "(");
    for (int i = 0; i < ndim && k < cap; i++) {
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %zu" : "%zu", shape[i]);
    }
    if (k < cap) {
        snprintf(buf + k, cap - k, ndim == 1 ? ",)" : ")");
    }
}

/* Product of the dimensions; 0 with *n untouched if n * 8 bytes would not fit in size_t. */
static int npy_count(int ndim, const size_t *shape, size_t *n)
{
    size_t p = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] != 0 && p > SIZE_MAX / sizeof(double) / shape[i]) {
            return 0;
        }
        p *= shape[i];
    }
    *n = p;
    return 1;
}

/* ---- the header dict ---------------------------------------------------------------------- */

typedef struct npy_parser {
    const char *p, *end;
} npy_parser;

static void npy_skip_ws(npy_parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

/* Skips white space, then consumes c if it is next. */
static int npy_accept(npy_parser *ps, char c)
{
    npy_skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...", no escapes: none of the values we accept needs one) into
 * buf, truncated to cap - 1 characters. */
static int npy_string(npy_parser *ps, char *buf, size_t cap)
{
    npy_skip_ws(ps);
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"')) {
        return 0;
    }
    const char q = *ps->p++;
    size_t k = 0;
    while (ps->p < ps->end && *ps->p != q) {
        if (*ps->p == '\\' || *ps->p == '\n') {
            return 0;
        }
        if (k + 1 < cap) {
            buf[k++] = *ps->p;
        }
        ps->p++;
    }
    if (ps->p >= ps->end) {
        return 0;
    }
    ps->p++;
    buf[k] = '\0';
    return 1;
}

/* A bare word such as True or False. */
static int npy_word(npy_parser *ps, const char *w)
{
    npy_skip_ws(ps);
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0) {
        const char *after = ps->p + n;
        if (after == ps->end ||
            !((*after >= 'a' && *after <= 'z') || (*after >= 'A' && *after <= 'Z') ||
              (*after >= '0' && *after <= '9') || *after == '_')) {
            ps->p = after;
            return 1;
        }
    }
    return 0;
}

typedef struct npy_header {
    char descr[32];
    int fortran_order;
    int ndim; /* may exceed ODG_NPY_MAXDIM; only the first ODG_NPY_MAXDIM dims are kept */
    size_t shape[ODG_NPY_MAXDIM];
    int have_descr, have_fortran, have_shape;
} npy_header;

/* A shape tuple: "()", "(3,)", "(2, 3)", "(2, 3,)".  Python 2 era files may write "3L". */
static int npy_shape(npy_parser *ps, npy_header *h, char *why, size_t whycap)
{
    if (!npy_accept(ps, '(')) {
        snprintf(why, whycap, "shape is not a tuple");
        return 0;
    }
    h->ndim = 0;
    int trailing_comma = 0;
    for (;;) {
        if (npy_accept(ps, ')')) {
            break;
        }
        npy_skip_ws(ps);
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
            snprintf(why, whycap, "shape has an entry that is not a non-negative integer");
            return 0;
        }
        size_t d = 0;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            unsigned digit = (unsigned)(*ps->p - '0');
            if (d > (SIZE_MAX - digit) / 10) {
                snprintf(why, whycap, "shape has a dimension too large for this machine");
                return 0;
            }
            d = d * 10 + digit;
            ps->p++;
        }
        if (ps->p < ps->end && (*ps->p == 'L' || *ps->p == 'l')) {
            ps->p++;
        }
        if (h->ndim < ODG_NPY_MAXDIM) {
            h->shape[h->ndim] = d;
        }
        if (h->ndim < 1000) {
            h->ndim++;
        }
        trailing_comma = npy_accept(ps, ',');
        if (!trailing_comma) {
            if (!npy_accept(ps, ')')) {
                snprintf(why, whycap, "shape tuple is malformed");
                return 0;
            }
            break;
        }
    }
    /* In Python "(3)" is the integer 3, not a tuple; NumPy never writes it and refuses it. */
    if (h->ndim == 1 && !trailing_comma) {
        snprintf(why, whycap, "shape (%zu) is not a tuple (a 1-D shape is written (%zu,))",
                 h->shape[0], h->shape[0]);
        return 0;
    }
    return 1;
}

/* Parses the dict into h.  On failure writes the reason into why. */
static int npy_parse_header(const char *text, size_t len, npy_header *h, char *why, size_t whycap)
{
    npy_parser ps = {text, text + len};
    memset(h, 0, sizeof *h);
    if (!npy_accept(&ps, '{')) {
        snprintf(why, whycap, "header is not a dict");
        return 0;
    }
    for (;;) {
        if (npy_accept(&ps, '}')) {
            break;
        }
        char key[32];
        if (!npy_string(&ps, key, sizeof key)) {
            snprintf(why, whycap, "header dict has a key that is not a string");
            return 0;
        }
        if (!npy_accept(&ps, ':')) {
            snprintf(why, whycap, "header dict has no ':' after '%s'", key);
            return 0;
        }
        if (strcmp(key, "descr") == 0 && !h->have_descr) {
            h->have_descr = 1;
            if (!npy_string(&ps, h->descr, sizeof h->descr)) {
                /* A list of fields (a structured dtype): say so rather than "malformed". */
                snprintf(why, whycap,
                         "dtype is not a simple type (structured dtypes are not "
                         "supported; expected '<f8')");
                return 0;
            }
        } else if (strcmp(key, "fortran_order") == 0 && !h->have_fortran) {
            h->have_fortran = 1;
            if (npy_word(&ps, "True")) {
                h->fortran_order = 1;
            } else if (npy_word(&ps, "False")) {
                h->fortran_order = 0;
            } else {
                snprintf(why, whycap, "fortran_order is neither True nor False");
                return 0;
            }
        } else if (strcmp(key, "shape") == 0 && !h->have_shape) {
            h->have_shape = 1;
            if (!npy_shape(&ps, h, why, whycap)) {
                return 0;
            }
        } else if (strcmp(key, "descr") == 0 || strcmp(key, "fortran_order") == 0 ||
                   strcmp(key, "shape") == 0) {
            snprintf(why, whycap, "header dict repeats the key '%s'", key);
            return 0;
        } else {
            snprintf(why, whycap, "header dict has an unexpected key '%s'", key);
            return 0;
        }
        if (!npy_accept(&ps, ',')) {
            if (!npy_accept(&ps, '}')) {
                snprintf(why, whycap, "header dict is malformed after '%s'", key);
                return 0;
            }
            break;
        }
    }
    npy_skip_ws(&ps);
    if (ps.p != ps.end) {
        snprintf(why, whycap, "header has text after the dict");
        return 0;
    }
    if (!h->have_descr || !h->have_fortran || !h->have_shape) {
        snprintf(why, whycap, "header dict lacks the key '%s'",
                 !h->have_descr     ? "descr"
                 : !h->have_fortran ? "fortran_order"
                                    : "shape");
        return 0;
    }
    return 1;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* Reads the preamble and header of an open file and checks that it holds a float64 C-order
 * array of at most ODG_NPY_MAXDIM dimensions, whose data fit in the rest of the file when that
 * can be known.  Leaves f at the start of the data. */
static odg_status npy_read_header(FILE *f, const char *path, int *ndim,
                                  size_t shape[ODG_NPY_MAXDIM], size_t *n, char *err)
{
    unsigned char pre[12];
    size_t got = fread(pre, 1, 8, f);
    if (got < 8) {
        if (ferror(f)) {
            npy_err(err, path, "read error: %s", strerror(errno));
            return ODG_EIO;
        }
        npy_err(err, path, "not a .npy file (only %zu bytes)", got);
        return ODG_EFORMAT;
    }
    if (memcmp(pre, NPY_MAGIC, sizeof NPY_MAGIC) != 0) {
        npy_err(err, path, "not a .npy file (bad magic string)");
        return ODG_EFORMAT;
    }
    const unsigned major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        npy_err(err, path, "unsupported .npy version %u.%u (1.0, 2.0 and 3.0 are read)", major,
                minor);
        return ODG_EFORMAT;
    }
    /* Version 1.0 has a 2-byte header length, 2.0 and 3.0 (UTF-8 header) a 4-byte one. */
    const size_t lenbytes = major == 1 ? 2 : 4;
    if (fread(pre + 8, 1, lenbytes, f) != lenbytes) {
        if (ferror(f)) {
            npy_err(err, path, "read error: %s", strerror(errno));
            return ODG_EIO;
        }
        npy_err(err, path, "truncated header");
        return ODG_EFORMAT;
    }
    size_t hlen = 0;
    for (size_t i = 0; i < lenbytes; i++) {
        hlen |= (size_t)pre[8 + i] << (8 * i);
    }
    if (hlen > NPY_MAX_HEADER) {
        npy_err(err, path, "header length %zu is implausibly large", hlen);
        return ODG_EFORMAT;
    }
    char *text = malloc(hlen + 1);
    if (text == NULL) {
        npy_err(err, path, "out of memory reading the header");
        return ODG_ENOMEM;
    }
    if (fread(text, 1, hlen, f) != hlen) {
        int rerr = ferror(f);
        int e = errno;
        free(text);
        if (rerr) {
            npy_err(err, path, "read error: %s", strerror(e));
            return ODG_EIO;
        }
        npy_err(err, path, "truncated header");
        return ODG_EFORMAT;
    }
    text[hlen] = '\0';
    /* NumPy evaluates the header as a Python literal, which refuses a NUL byte anywhere in it
     * ('<f8\0' is no dtype); the dict parser here would stop at it and read '<f8'. */
    const char *nul = memchr(text, '\0', hlen);
    if (nul != NULL) {
        npy_err(err, path, "header holds a NUL byte (at byte %zu of the dict)",
                (size_t)(nul - text));
        free(text);
        return ODG_EFORMAT;
    }
    npy_header h;
    char why[160];
    int ok = npy_parse_header(text, hlen, &h, why, sizeof why);
    free(text);
    if (!ok) {
        npy_err(err, path, "%s", why);
        return ODG_EFORMAT;
    }

    if (strcmp(h.descr, "<f8") != 0) {
        if (strcmp(h.descr, ">f8") == 0) {
            npy_err(err, path,
                    "dtype '>f8' is big-endian; only little-endian float64 ('<f8') "
                    "is read");
        } else {
            npy_err(err, path, "dtype '%s' is not float64 ('<f8')", h.descr);
        }
        return ODG_EFORMAT;
    }
    if (h.fortran_order) {
        npy_err(err, path, "fortran_order is True; only C-order arrays are read");
        return ODG_EFORMAT;
    }
    if (h.ndim > ODG_NPY_MAXDIM) {
        npy_err(err, path, "array has %d dimensions; at most %d are supported", h.ndim,
                ODG_NPY_MAXDIM);
        return ODG_EFORMAT;
    }
    if (!npy_count(h.ndim, h.shape, n)) {
        char s[128];
        npy_shape_str(s, sizeof s, h.ndim, h.shape);
        npy_err(err, path, "shape %s is too large", s);
        return ODG_EFORMAT;
    }
    /* For a regular file, compare with its size now, before anyone allocates for a corrupt
     * shape; for anything else a short read below tells. */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        const size_t start = 8 + lenbytes + hlen;
        const size_t have = (size_t)st.st_size > start ? (size_t)st.st_size - start : 0;
        if (have / sizeof(double) < *n) {
            npy_err(err, path, "truncated data: %zu bytes for %zu values, %zu expected", have, *n,
                    *n * sizeof(double));
            return ODG_EFORMAT;
        }
    }
    *ndim = h.ndim;
    for (int i = 0; i < h.ndim; i++) {
        shape[i] = h.shape[i];
    }
    return ODG_OK;
}

/* Reads n little-endian doubles from f into out. */
static odg_status npy_read_data(FILE *f, const char *path, double *out, size_t n, char *err)
{
    unsigned char buf[4096];
    size_t done = 0;
    while (done < n) {
        size_t want = n - done;
        if (want > sizeof buf / 8) {
            want = sizeof buf / 8;
        }
        size_t got = fread(buf, 8, want, f);
        for (size_t i = 0; i < got; i++) {
            uint64_t u = 0;
            for (int b = 0; b < 8; b++) {
                u |= (uint64_t)buf[8 * i + (size_t)b] << (8 * b);
            }
            memcpy(&out[done + i], &u, sizeof u);
        }
        done += got;
        if (got < want) {
            if (ferror(f)) {
                npy_err(err, path, "read error: %s", strerror(errno));
                return ODG_EIO;
            }
            npy_err(err, path, "truncated data: %zu of %zu values", done, n);
            return ODG_EFORMAT;
        }
    }
    return ODG_OK;
}

/* Opens path for reading only if it is a regular file: a FIFO would block the open (and the
 * run) until someone writes to it, a device or a directory is no array.  O_NONBLOCK makes the
 * open itself return at once whatever the file is; for a regular file it changes nothing. */
static FILE *npy_open_read(const char *path, char *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        npy_err(err, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        npy_err(err, path, "cannot open: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        npy_err(err, path, "not a regular file (%s)", odg_file_kind((unsigned)sb.st_mode));
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "rb");
    if (f == NULL) {
        npy_err(err, path, "cannot open: %s", strerror(errno));
        close(fd);
    }
    return f;
}

odg_status odg_npy_read(const char *path, int *ndim, size_t shape[ODG_NPY_MAXDIM], double **data,
                        char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    if (path == NULL || ndim == NULL || shape == NULL || data == NULL) {
        npy_err(err, path, "odg_npy_read: argument %d is NULL",
                path == NULL    ? 1
                : ndim == NULL  ? 2
                : shape == NULL ? 3
                                : 4);
        return ODG_EINVAL;
    }
    *data = NULL;
    FILE *f = npy_open_read(path, err);
    if (f == NULL) {
        return ODG_EIO;
    }
    int nd = 0;
    size_t shp[ODG_NPY_MAXDIM] = {0};
    size_t n = 0;
    double *x = NULL;
    odg_status st = npy_read_header(f, path, &nd, shp, &n, err);
    if (st != ODG_OK) {
        goto fail;
    }
    /* malloc(0) may return NULL; one spare element keeps an empty array a valid pointer. */
    x = malloc((n ? n : 1) * sizeof(double));
    if (x == NULL) {
        npy_err(err, path, "out of memory for %zu values", n);
        st = ODG_ENOMEM;
        goto fail;
    }
    st = npy_read_data(f, path, x, n, err);
    if (st != ODG_OK) {
        goto fail;
    }
    fclose(f);
    *ndim = nd;
    for (int i = 0; i < ODG_NPY_MAXDIM; i++) {
        shape[i] = i < nd ? shp[i] : 0;
    }
    *data = x;
    return ODG_OK;

fail:
    free(x);
    fclose(f);
    return st;
}

odg_status odg_npy_load(const char *path, int ndim, const size_t *shape, double *out,
                        char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    const char *bad = path == NULL                          ? "argument 1 (path) is NULL"
                      : (ndim < 0 || ndim > ODG_NPY_MAXDIM) ? "argument 2 (ndim) is out of range"
                      : (ndim > 0 && shape == NULL)         ? "argument 3 (shape) is NULL"
                      : out == NULL                         ? "argument 4 (out) is NULL"
                                                            : NULL;
    if (bad != NULL) {
        npy_err(err, path, "odg_npy_load: %s", bad);
        return ODG_EINVAL;
    }
    FILE *f = npy_open_read(path, err);
    if (f == NULL) {
        return ODG_EIO;
    }
    int nd = 0;
    size_t shp[ODG_NPY_MAXDIM] = {0};
    size_t n = 0;
    odg_status st = npy_read_header(f, path, &nd, shp, &n, err);
    if (st == ODG_OK) {
        int same = nd == ndim;
        for (int i = 0; same && i < nd; i++) {
            same = shp[i] == shape[i];
        }
        if (!same) {
            char want[128], found[128];
            npy_shape_str(want, sizeof want, ndim, shape);
            npy_shape_str(found, sizeof found, nd, shp);
            npy_err(err, path, "expected %s, found %s", want, found);
            st = ODG_ESHAPE;
        }
    }
    if (st == ODG_OK) {
        /* Straight into out: no second copy of a possibly large array. */
        st = npy_read_data(f, path, out, n, err);
    }
    fclose(f);
    return st;
}

/* ---- writing ------------------------------------------------------------------------------ */

odg_status odg_npy_save(const char *path, int ndim, const size_t *shape, const double *data,
                        char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    size_t n = 0;
    const char *bad = path == NULL                          ? "argument 1 (path) is NULL"
                      : (ndim < 0 || ndim > ODG_NPY_MAXDIM) ? "argument 2 (ndim) is out of range"
                      : (ndim > 0 && shape == NULL)         ? "argument 3 (shape) is NULL"
                                                            : NULL;
    if (bad != NULL) {
        npy_err(err, path, "odg_npy_save: %s", bad);
        return ODG_EINVAL;
    }
    if (!npy_count(ndim, shape, &n)) {
        npy_err(err, path, "odg_npy_save: shape is too large");
        return ODG_EINVAL;
    }
    if (n > 0 && data == NULL) {
        npy_err(err, path, "odg_npy_save: argument 4 (data) is NULL");
        return ODG_EINVAL;
    }

    /* The header as NumPy writes it, padded with spaces and ended by a newline so that the data
     * start at a multiple of 64 bytes (NumPy's alignment, good for memory mapping). */
    char header[256];
    char shp[128];
    npy_shape_str(shp, sizeof shp, ndim, shape);
    int hk = snprintf(header, sizeof header,
                      "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }", shp);
    if (hk < 0 || (size_t)hk + 1 >= sizeof header) {
        npy_err(err, path, "odg_npy_save: header too long");
        return ODG_EINVAL;
    }
    size_t hlen = (size_t)hk + 1; /* with the newline */
    const size_t pre = 10;        /* magic, version, 2-byte length */
    size_t total = (pre + hlen + 63) / 64 * 64;
    if (total - pre > sizeof header) {
        npy_err(err, path, "odg_npy_save: header too long");
        return ODG_EINVAL;
    }
    memset(header + hk, ' ', total - pre - (size_t)hk);
    hlen = total - pre;
    header[hlen - 1] = '\n';
    unsigned char preamble[10];
    memcpy(preamble, NPY_MAGIC, sizeof NPY_MAGIC);
    preamble[6] = 1;
    preamble[7] = 0;
    preamble[8] = (unsigned char)(hlen & 0xff);
    preamble[9] = (unsigned char)(hlen >> 8);

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (tmp == NULL) {
        npy_err(err, path, "out of memory");
        return ODG_ENOMEM;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    /* Every step that changes the disk asks odg_io_fault first (fault-injection tests). */
    const char *doing = "cannot create", *base;
    FILE *f = odg_io_fault() ? NULL : fopen(tmp, "wb");
    if (f == NULL) {
        goto fail;
    }
    doing = "cannot write";
    if (odg_io_fault() || fwrite(preamble, 1, sizeof preamble, f) != sizeof preamble ||
        odg_io_fault() || fwrite(header, 1, hlen, f) != hlen) {
        goto fail;
    }
    unsigned char buf[4096];
    for (size_t done = 0; done < n;) {
        size_t m = n - done;
        if (m > sizeof buf / 8) {
            m = sizeof buf / 8;
        }
        for (size_t i = 0; i < m; i++) {
            uint64_t u;
            memcpy(&u, &data[done + i], sizeof u);
            for (int b = 0; b < 8; b++) {
                buf[8 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
            }
        }
        if (odg_io_fault() || fwrite(buf, 8, m, f) != m) {
            goto fail;
        }
        done += m;
    }
    /* Flush and sync before the rename, so that the name never points at data still in
     * flight (a crash then leaves the old file or the new one, not a mixture). */
    if (odg_io_fault() || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        goto fail;
    }
    /* fclose releases the stream even when it fails, so it must not be closed again below. */
    FILE *g = f;
    f = NULL;
    if (fclose(g) != 0) {
        goto fail;
    }
    doing = "cannot rename";
    if (odg_io_fault() || rename(tmp, path) != 0) {
        goto fail;
    }
    free(tmp);
    return ODG_OK;

fail:
    /* The directory is already in the path at the front of the message; errno is read before
     * anything below can change it. */
    base = strrchr(tmp, '/');
    npy_err(err, path, "%s %s: %s", doing, base ? base + 1 : tmp, strerror(errno));
    if (f != NULL) {
        fclose(f);
    }
    remove(tmp); /* harmless when it was never created */
    free(tmp);
    return ODG_EIO;
}

const char *odg_file_kind(unsigned mode)
{
    mode_t m = (mode_t)mode;
    return S_ISREG(m)    ? "a regular file"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISDIR(m)  ? "a directory"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
           : S_ISLNK(m)  ? "a symbolic link"
                         : "of another kind";
}
