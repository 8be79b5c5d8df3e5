/* .npy I/O (core/npy.c): bit-exact round trips, files written by real NumPy, headers written
 * every way Python allows, and every refusal with its status and a message naming the problem.
 * Files for the bad cases are written here, into a fresh temporary directory removed at the end. */
#include "check.h"
#include "odegrad/core.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[512];

/* tmpdir/name, in a static buffer that the next call overwrites. */
static const char *tpath(const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            rmdir(p);
        } else {
            remove(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* Writes a .npy file by hand: magic, version major.0, the header length field (2 bytes for
 * version 1, 4 otherwise), the header text exactly as given, then nbytes of payload. */
static void write_raw(const char *path, const char *magic, int major, const char *header,
                      const void *payload, size_t nbytes)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (f == NULL) {
        return;
    }
    size_t hlen = strlen(header);
    unsigned char pre[12];
    memcpy(pre, magic, 6);
    pre[6] = (unsigned char)major;
    pre[7] = 0;
    size_t lb = major == 1 ? 2 : 4;
    for (size_t i = 0; i < lb; i++) {
        pre[8 + i] = (unsigned char)(hlen >> (8 * i));
    }
    fwrite(pre, 1, 8 + lb, f);
    fwrite(header, 1, hlen, f);
    if (nbytes) {
        fwrite(payload, 1, nbytes, f);
    }
    fclose(f);
}

static const char MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Little-endian bytes of x[0 .. n-1]. */
static void to_le(const double *x, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &x[i], sizeof u);
        for (int b = 0; b < 8; b++) {
            out[8 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
        }
    }
}

static double from_le(const unsigned char *p)
{
    uint64_t u = 0;
    for (int b = 0; b < 8; b++) {
        u |= (uint64_t)p[b] << (8 * b);
    }
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Saves, checks the file's layout, reads back with both read and load, compares bit for bit. */
static void round_trip(const char *name, int ndim, const size_t *shape, const double *x)
{
    char path[1024], tmp[1100], err[ODG_ERRLEN];
    snprintf(path, sizeof path, "%s", tpath(name));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        n *= shape[i];
    }
    odg_status st = odg_npy_save(path, ndim, shape, x, err);
    CHECK(st == ODG_OK, "save %s: %s", name, err);

    /* Layout: magic, version 1.0, data starting at a multiple of 64, header ending in '\n'. */
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "%s not written", name);
    if (f != NULL) {
        unsigned char head[10];
        CHECK(fread(head, 1, 10, f) == 10, "%s too short", name);
        size_t hlen = (size_t)head[8] | (size_t)head[9] << 8;
        CHECK(memcmp(head, MAGIC, 6) == 0 && head[6] == 1 && head[7] == 0, "%s preamble", name);
        CHECK((10 + hlen) % 64 == 0, "%s: data start at %zu", name, 10 + hlen);
        fseek(f, 0, SEEK_END);
        CHECK((size_t)ftell(f) == 10 + hlen + 8 * n, "%s: size %ld", name, ftell(f));
        fseek(f, (long)(10 + hlen - 1), SEEK_SET);
        CHECK(fgetc(f) == '\n', "%s: header does not end in a newline", name);
        fclose(f);
    }
    CHECK(!exists(tmp), "%s: temporary file left behind", name);

    int nd = -1;
    size_t shp[ODG_NPY_MAXDIM];
    double *y = NULL;
    st = odg_npy_read(path, &nd, shp, &y, err);
    CHECK(st == ODG_OK, "read %s: %s", name, err);
    if (st == ODG_OK) {
        CHECK(nd == ndim, "%s: ndim %d", name, nd);
        for (int i = 0; i < ndim && i < nd; i++) {
            CHECK(shp[i] == shape[i], "%s: shape[%d] = %zu", name, i, shp[i]);
        }
        CHECK(check_bit_diff(y, x, n) == 0, "%s: values differ", name);
        free(y);
    }
    double z[16];
    memset(z, 0, sizeof z);
    st = odg_npy_load(path, ndim, shape, z, err);
    CHECK(st == ODG_OK, "load %s: %s", name, err);
    CHECK(check_bit_diff(z, x, n) == 0, "%s: loaded values differ", name);
}

static void test_round_trip(void)
{
    /* Values that a text or a careless binary format would lose: signed zero, infinities, a
     * NaN with a payload, a subnormal, the extremes, a number with all mantissa bits set. */
    double x[12];
    uint64_t nan_payload = 0x7ff8000000012345u;
    memcpy(&x[0], &nan_payload, sizeof x[0]);
    x[1] = -0.0;
    x[2] = INFINITY;
    x[3] = -INFINITY;
    x[4] = 0x1p-1074;
    x[5] = DBL_MAX;
    x[6] = -DBL_MIN;
    x[7] = 0x1.fffffffffffffp-1;
    x[8] = 0.1;
    x[9] = -1.0 / 3.0;
    x[10] = 1e300;
    x[11] = 42.0;

    const size_t s1[1] = {12};
    round_trip("rt1.npy", 1, s1, x);
    const size_t s2[2] = {3, 4};
    round_trip("rt2.npy", 2, s2, x);
    const size_t s4[4] = {1, 2, 3, 2};
    round_trip("rt4.npy", 4, s4, x);
    round_trip("rt0.npy", 0, NULL, &x[9]); /* a 0-D array: one value, shape () */
    const size_t se[2] = {0, 3};
    round_trip("rte.npy", 2, se, x); /* an empty array */

    /* Saving over an existing file replaces it. */
    const size_t s3[1] = {3};
    char err[ODG_ERRLEN];
    CHECK(odg_npy_save(tpath("rt2.npy"), 1, s3, x + 8, err) == ODG_OK, "%s", err);
    int nd;
    size_t shp[ODG_NPY_MAXDIM];
    double *y = NULL;
    CHECK(odg_npy_read(tpath("rt2.npy"), &nd, shp, &y, err) == ODG_OK, "%s", err);
    CHECK(y != NULL && nd == 1 && shp[0] == 3 && check_bit_diff(y, x + 8, 3) == 0,
          "overwritten file reads back wrong");
    free(y);
}

static void test_numpy_files(void)
{
    /* Written by NumPy's np.save (the mlp problem of tests/data/peers: D = 2, H = 64, B = 256).  The values
     * pinned below were decoded from the files' bytes with Python's struct module. */
    static const struct {
        const char *name;
        int ndim;
        size_t shape[2];
        double first, last;
    } files[] = {
        {"W1", 2, {64, 2}, -0x1.31d5a2c5c6a5ep-3, 0x1.1eb298cae3206p-1},
        {"b1", 1, {64, 0}, 0x1.999999999999ap-4, 0x1.999999999999ap-4},
        {"W2", 2, {2, 64}, -0x1.cfce391fd7000p-4, -0x1.0f4867910e461p-3},
        {"b2", 1, {2, 0}, 0x1.999999999999ap-4, 0x1.999999999999ap-4},
        {"z0", 2, {256, 2}, -0x1.25ee70c1cde46p-2, 0x1.04bea2afa5e29p+0},
        {"w", 2, {256, 2}, 0x1.98ff2ace07cadp-3, 0x1.c487278c03208p-3},
    };
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char path[1024], err[ODG_ERRLEN];
        snprintf(path, sizeof path, "%s/peers/D2_H64_B256/%s.npy", ODG_TEST_DATA, files[k].name);
        int nd = -1;
        size_t shp[ODG_NPY_MAXDIM];
        double *x = NULL;
        odg_status st = odg_npy_read(path, &nd, shp, &x, err);
        CHECK(st == ODG_OK, "%s: %s", files[k].name, err);
        if (st != ODG_OK) {
            continue;
        }
        size_t n = files[k].shape[0] * (files[k].ndim == 2 ? files[k].shape[1] : 1);
        CHECK(nd == files[k].ndim && shp[0] == files[k].shape[0] &&
                  (nd == 1 || shp[1] == files[k].shape[1]),
              "%s: shape", files[k].name);
        CHECK(x[0] == files[k].first && x[n - 1] == files[k].last, "%s: first %a, last %a",
              files[k].name, x[0], x[n - 1]);

        /* Every value equals the little-endian decoding of the file's tail: the data are the
         * last 8n bytes. */
        FILE *f = fopen(path, "rb");
        unsigned char *raw = malloc(8 * n);
        int same = f != NULL && raw != NULL && fseek(f, -(long)(8 * n), SEEK_END) == 0 &&
                   fread(raw, 8, n, f) == n;
        for (size_t i = 0; same && i < n; i++) {
            double v = from_le(raw + 8 * i);
            same = memcmp(&v, &x[i], sizeof v) == 0;
        }
        CHECK(same, "%s: values differ from the file's bytes", files[k].name);
        free(raw);
        if (f != NULL) {
            fclose(f);
        }

        /* load into a caller-sized buffer, right shape and then the transposed one. */
        double *y = malloc(n * sizeof *y);
        if (y != NULL) {
            CHECK(odg_npy_load(path, files[k].ndim, files[k].shape, y, err) == ODG_OK, "%s: %s",
                  files[k].name, err);
            CHECK(check_bit_diff(x, y, n) == 0, "%s: load differs from read", files[k].name);
            if (files[k].ndim == 2) {
                size_t t[2] = {files[k].shape[1], files[k].shape[0]};
                st = odg_npy_load(path, 2, t, y, err);
                char want[128];
                snprintf(want, sizeof want, "%s.npy: expected (%zu, %zu), found (%zu, %zu)",
                         files[k].name, t[0], t[1], t[1], t[0]);
                CHECK(st == ODG_ESHAPE && strstr(err, want) != NULL, "%s: status %d, '%s'",
                      files[k].name, (int)st, err);
            }
            free(y);
        }
        free(x);
    }
}

/* Reads a hand-written file and checks its shape and values. */
static void expect_reads(const char *what, int major, const char *header, int ndim,
                         const size_t *shape, size_t n)
{
    double x[6] = {1.5, -2.25, 3.0, 0.125, -0.0, 7.0};
    unsigned char bytes[48];
    to_le(x, n, bytes);
    write_raw(tpath("ok.npy"), MAGIC, major, header, bytes, 8 * n);
    int nd = -1;
    size_t shp[ODG_NPY_MAXDIM];
    double *y = NULL;
    char err[ODG_ERRLEN];
    odg_status st = odg_npy_read(tpath("ok.npy"), &nd, shp, &y, err);
    CHECK(st == ODG_OK, "%s: %s", what, err);
    if (st != ODG_OK) {
        return;
    }
    int same = nd == ndim;
    for (int i = 0; same && i < nd; i++) {
        same = shp[i] == shape[i];
    }
    CHECK(same, "%s: wrong shape (ndim %d)", what, nd);
    CHECK(check_bit_diff(y, x, n) == 0, "%s: wrong values", what);
    free(y);
}

static void test_header_forms(void)
{
    const size_t s23[2] = {2, 3}, s3[1] = {3}, s6[1] = {6};
    /* NumPy's own form, without the padding (readers must not rely on alignment). */
    expect_reads("plain", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\n", 2,
                 s23, 6);
    expect_reads("keys reordered, no trailing comma", 1,
                 "{'shape': (3,), 'fortran_order': False, 'descr': '<f8'}", 1, s3, 3);
    expect_reads("spaces and double quotes", 1,
                 "  { \"descr\" :\"<f8\" ,'shape':( 2 ,3 , ) ,  'fortran_order' :False ,}   \n", 2,
                 s23, 6);
    expect_reads("0-D", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n", 0, NULL, 1);
    expect_reads("Python 2 long", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (6L,)}", 1,
                 s6, 6);
    expect_reads("version 2.0", 2, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\n",
                 2, s23, 6);
    expect_reads("version 3.0", 3, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n", 1,
                 s3, 3);
}

/* Writes a bad file, reads it, and checks the status and that err names the file and contains
 * each of the (up to two) given fragments. */
static void expect_refused(const char *what, const char *magic, int major, const char *header,
                           size_t nbytes, odg_status want, const char *frag1, const char *frag2)
{
    unsigned char payload[64] = {0};
    write_raw(tpath("bad.npy"), magic, major, header, payload, nbytes);
    int nd;
    size_t shp[ODG_NPY_MAXDIM];
    double *y = (double *)&nd; /* must come back NULL */
    char err[ODG_ERRLEN];
    odg_status st = odg_npy_read(tpath("bad.npy"), &nd, shp, &y, err);
    CHECK(st == want, "%s: status %d (%s), want %d; '%s'", what, (int)st, odg_status_str(st),
          (int)want, err);
    CHECK(y == NULL, "%s: data not NULL after a failure", what);
    CHECK(strstr(err, "bad.npy: ") != NULL, "%s: err does not name the file: '%s'", what, err);
    CHECK(strstr(err, frag1) != NULL, "%s: err lacks '%s': '%s'", what, frag1, err);
    if (frag2) {
        CHECK(strstr(err, frag2) != NULL, "%s: err lacks '%s': '%s'", what, frag2, err);
    }
    if (st == ODG_OK) {
        free(y);
    }
}

static void test_refusals(void)
{
    const char *good = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n";
    expect_refused("bad magic", "\x93NUMPI", 1, good, 16, ODG_EFORMAT, "magic", NULL);
    expect_refused("version 4.0", MAGIC, 4, good, 16, ODG_EFORMAT, "version 4.0", NULL);
    expect_refused("float32", MAGIC, 1,
                   "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 16, ODG_EFORMAT,
                   "dtype '<f4' is not float64 ('<f8')", NULL);
    expect_refused("big-endian", MAGIC, 1,
                   "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }\n", 16, ODG_EFORMAT,
                   "'>f8'", "big-endian");
    expect_refused("int64", MAGIC, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }\n",
                   16, ODG_EFORMAT, "dtype '<i8' is not float64", NULL);
    expect_refused("structured", MAGIC, 1,
                   "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }\n", 16,
                   ODG_EFORMAT, "structured", NULL);
    expect_refused("fortran order", MAGIC, 1,
                   "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 1), }\n", 16, ODG_EFORMAT,
                   "fortran_order is True", NULL);
    expect_refused("truncated data", MAGIC, 1, good, 12, ODG_EFORMAT, "truncated data", NULL);
    /* A shape whose product fits in size_t but not in the file: refused from the file size,
     * before anything is allocated for it. */
    expect_refused("huge truncated", MAGIC, 1,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }\n", 16,
                   ODG_EFORMAT, "truncated data", NULL);
    expect_refused("product overflow", MAGIC, 1,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, "
                   "4611686018427387904), }\n",
                   16, ODG_EFORMAT, "too large", NULL);
    expect_refused("dimension overflow", MAGIC, 1,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
                   16, ODG_EFORMAT, "too large", NULL);
    expect_refused("5-D", MAGIC, 1,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 2), }\n", 16,
                   ODG_EFORMAT, "5 dimensions", NULL);
    expect_refused("(3) is no tuple", MAGIC, 1,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (2), }\n", 16, ODG_EFORMAT,
                   "not a tuple", NULL);
    expect_refused("negative dimension", MAGIC, 1,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }\n", 16, ODG_EFORMAT,
                   "shape", NULL);
    expect_refused("missing key", MAGIC, 1, "{'descr': '<f8', 'shape': (2,), }\n", 16, ODG_EFORMAT,
                   "lacks the key 'fortran_order'", NULL);
    expect_refused("unknown key", MAGIC, 1,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}\n", 16,
                   ODG_EFORMAT, "unexpected key 'x'", NULL);
    expect_refused("not a dict", MAGIC, 1, "['descr', '<f8']\n", 16, ODG_EFORMAT, "not a dict",
                   NULL);
    expect_refused("unclosed dict", MAGIC, 1, "{'descr': '<f8', 'fortran_order': False", 16,
                   ODG_EFORMAT, "malformed", NULL);

    /* Shorter than the preamble, and an empty file. */
    FILE *f = fopen(tpath("bad.npy"), "wb");
    if (f != NULL) {
        fwrite("\x93NUM", 1, 4, f);
        fclose(f);
    }
    int nd;
    size_t shp[ODG_NPY_MAXDIM];
    double *y = NULL;
    char err[ODG_ERRLEN];
    odg_status st = odg_npy_read(tpath("bad.npy"), &nd, shp, &y, err);
    CHECK(st == ODG_EFORMAT && strstr(err, "not a .npy file"), "short file: %d '%s'", (int)st, err);
    /* A header length running past the end of the file. */
    write_raw(tpath("bad.npy"), MAGIC, 1, "", NULL, 0);
    f = fopen(tpath("bad.npy"), "r+b");
    if (f != NULL) {
        fseek(f, 8, SEEK_SET);
        fputc(100, f);
        fclose(f);
    }
    st = odg_npy_read(tpath("bad.npy"), &nd, shp, &y, err);
    CHECK(st == ODG_EFORMAT && strstr(err, "truncated header"), "header past the end: %d '%s'",
          (int)st, err);

    /* A missing file is an I/O error, for read and load alike. */
    st = odg_npy_read(tpath("missing.npy"), &nd, shp, &y, err);
    CHECK(st == ODG_EIO && strstr(err, "missing.npy: cannot open"), "missing: %d '%s'", (int)st,
          err);
    double z[12];
    const size_t s34[2] = {3, 4};
    st = odg_npy_load(tpath("missing.npy"), 2, s34, z, err);
    CHECK(st == ODG_EIO && strstr(err, "missing.npy: cannot open"), "missing: %d '%s'", (int)st,
          err);

    /* Shape mismatch in load, with the message the header promises. */
    const size_t s43[2] = {4, 3};
    for (int i = 0; i < 12; i++) {
        z[i] = i;
    }
    CHECK(odg_npy_save(tpath("m.npy"), 2, s43, z, err) == ODG_OK, "%s", err);
    st = odg_npy_load(tpath("m.npy"), 2, s34, z, err);
    CHECK(st == ODG_ESHAPE && strstr(err, "m.npy: expected (3, 4), found (4, 3)"),
          "mismatch: %d '%s'", (int)st, err);
    const size_t s12[1] = {12};
    st = odg_npy_load(tpath("m.npy"), 1, s12, z, err);
    CHECK(st == ODG_ESHAPE && strstr(err, "expected (12,), found (4, 3)"), "mismatch: %d '%s'",
          (int)st, err);
    /* A NULL err is allowed. */
    CHECK(odg_npy_load(tpath("m.npy"), 1, s12, z, NULL) == ODG_ESHAPE, "NULL err");
}

static void test_failed_save(void)
{
    double x[3] = {1, 2, 3};
    const size_t s3[1] = {3};
    char err[ODG_ERRLEN];

    /* Into a directory that does not exist: nothing can be created, nothing is left. */
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s", tpath("no/such/dir/x.npy"));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    odg_status st = odg_npy_save(path, 1, s3, x, err);
    CHECK(st == ODG_EIO && strstr(err, "x.npy: ") != NULL, "save into a missing directory: %d '%s'",
          (int)st, err);
    CHECK(!exists(path) && !exists(tmp), "a failed save left a file behind");

    /* The data are written but the final rename fails (the target is a non-empty directory):
     * the temporary file must be removed and the target untouched. */
    snprintf(path, sizeof path, "%s", tpath("adir"));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(mkdir(path, 0700) == 0, "mkdir %s", path);
    char inner[1100];
    snprintf(inner, sizeof inner, "%s/keep", path);
    FILE *f = fopen(inner, "wb");
    if (f != NULL) {
        fclose(f);
    }
    st = odg_npy_save(path, 1, s3, x, err);
    CHECK(st == ODG_EIO && strstr(err, "adir: ") != NULL, "rename onto a directory: %d '%s'",
          (int)st, err);
    CHECK(!exists(tmp), "a failed rename left %s behind", tmp);
    CHECK(exists(inner), "the target directory was disturbed");
    remove(inner);
    rmdir(path);

    /* Bad arguments are refused before anything is written. */
    st = odg_npy_save(tpath("inv.npy"), 5, s3, x, err);
    CHECK(st == ODG_EINVAL && strstr(err, "argument 2"), "ndim 5: %d '%s'", (int)st, err);
    st = odg_npy_save(tpath("inv.npy"), 1, s3, NULL, err);
    CHECK(st == ODG_EINVAL && strstr(err, "argument 4"), "NULL data: %d '%s'", (int)st, err);
    const size_t huge[2] = {SIZE_MAX / 2, 4};
    st = odg_npy_save(tpath("inv.npy"), 2, huge, x, err);
    CHECK(st == ODG_EINVAL && strstr(err, "too large"), "huge shape: %d '%s'", (int)st, err);
    CHECK(!exists(tpath("inv.npy")) && !exists(tpath("inv.npy.tmp")), "refused save wrote a file");
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/odg_test_npy_XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        CHECK(0, "mkdtemp %s failed", tmpdir);
        return check_done("test_npy");
    }
    test_round_trip();
    test_numpy_files();
    test_header_forms();
    test_refusals();
    test_failed_save();
    remove_tree(tmpdir);
    CHECK(!exists(tmpdir), "temporary directory %s not removed", tmpdir);
    return check_done("test_npy");
}
