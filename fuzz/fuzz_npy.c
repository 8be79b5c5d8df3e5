/* A libFuzzer target for the .npy reader (odg_npy_read and odg_npy_load, core/npy.c).
 *
 * --load reads .npy files made elsewhere (a peer's NumPy, a script, a hand), so the reader must
 * take any bytes: never crash, hang, leak, read past the data, or allocate for a shape the file
 * does not hold.  The reader takes a path (and checks the data's size against the file's), so
 * each input is written to a file first and read both ways.  The contract of
 * include/odegrad/core.h, checked on every input (a broken one aborts):
 *   odg_npy_read  ODG_OK: *data set, ndim <= ODG_NPY_MAXDIM, shape[i] = 0 past ndim, and the
 *                 values are the little-endian doubles right after the header, all inside the
 *                 file; otherwise *data NULL, the status one of EIO, EFORMAT, ENOMEM, and err
 *                 "PATH: message";
 *   odg_npy_load  into a (2, 3) array: ODG_OK exactly when odg_npy_read finds that shape, with
 *                 the same values; ODG_ESHAPE when it finds another shape; otherwise the
 *                 reader's own refusal.
 * Built by `make fuzz` (CMake option ODG_FUZZ, clang only).  The seeds and every crash found so
 * far are tests/data/npy/, which tests/test_npy_corpus.c replays through this same function in
 * `make test`. */
#include "odegrad/core.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The status of the last input's odg_npy_read, for the replay test's valid-* files. */
static odg_status fuzz_npy_status;

static char fuzz_npy_dir[256], fuzz_npy_path[300];

static void fuzz_npy_broken(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_npy: contract broken: %s (err: \"%s\")\n", what, err ? err : "");
    abort();
}

static void fuzz_npy_cleanup(void)
{
    unlink(fuzz_npy_path);
    rmdir(fuzz_npy_dir);
}

/* One scratch file per process (libFuzzer's -fork and -jobs run several), removed at exit. */
static const char *fuzz_npy_file(void)
{
    if (!fuzz_npy_path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_npy_dir, sizeof fuzz_npy_dir, "%s/odg-fuzz-npy-XXXXXX",
                 tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(fuzz_npy_dir)) {
            fuzz_npy_broken("cannot make a scratch directory", fuzz_npy_dir);
        }
        snprintf(fuzz_npy_path, sizeof fuzz_npy_path, "%s/in.npy", fuzz_npy_dir);
        atexit(fuzz_npy_cleanup);
    }
    return fuzz_npy_path;
}

static uint64_t fuzz_npy_le(const uint8_t *p, int nbytes)
{
    uint64_t v = 0;
    for (int b = 0; b < nbytes; b++) {
        v |= (uint64_t)p[b] << (8 * b);
    }
    return v;
}

/* err is "PATH: something" and NUL-terminated within ODG_ERRLEN. */
static int fuzz_npy_message(const char *err, const char *path)
{
    if (memchr(err, '\0', ODG_ERRLEN) == NULL) {
        return 0;
    }
    size_t n = strlen(path);
    return strncmp(err, path, n) == 0 && err[n] == ':' && err[n + 1] == ' ' && err[n + 2];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_npy_file();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size) || close(fd) != 0) {
        fuzz_npy_broken("cannot write the scratch file", path);
    }

    int ndim = -1;
    size_t shape[ODG_NPY_MAXDIM];
    memset(shape, 0xab, sizeof shape); /* must be overwritten on success */
    double *x = (double *)(uintptr_t)1;
    char err[ODG_ERRLEN];
    memset(err, 'x', sizeof err);
    odg_status rs = odg_npy_read(path, &ndim, shape, &x, err);
    fuzz_npy_status = rs;
    size_t n = 0;
    if (rs == ODG_OK) {
        if (x == NULL || ndim < 0 || ndim > ODG_NPY_MAXDIM) {
            fuzz_npy_broken("ODG_OK without data or with ndim out of range", err);
        }
        n = 1;
        for (int i = 0; i < ODG_NPY_MAXDIM; i++) {
            if (i >= ndim && shape[i] != 0) {
                fuzz_npy_broken("a dimension past ndim is not 0", err);
            }
            if (i < ndim) {
                n *= shape[i];
            }
        }
        /* the data start right after the header; versions 2 and 3 have a 4-byte length */
        if (size < 10 || (data[6] != 1 && size < 12)) {
            fuzz_npy_broken("ODG_OK for a file shorter than a preamble", err);
        }
        size_t start = data[6] == 1 ? 10 + (size_t)fuzz_npy_le(data + 8, 2)
                                    : 12 + (size_t)fuzz_npy_le(data + 8, 4);
        if (start > size || (size - start) / 8 < n) {
            fuzz_npy_broken("ODG_OK with values that are not inside the file", err);
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t u = fuzz_npy_le(data + start + 8 * i, 8);
            if (memcmp(&x[i], &u, sizeof u) != 0) {
                fuzz_npy_broken("a value is not the file's little-endian double", err);
            }
        }
    } else {
        if (x != NULL) {
            fuzz_npy_broken("refused with *data set", err);
        }
        if (rs != ODG_EIO && rs != ODG_EFORMAT && rs != ODG_ENOMEM) {
            fuzz_npy_broken("refused with an unexpected status", err);
        }
        if (!fuzz_npy_message(err, path)) {
            fuzz_npy_broken("refused without \"PATH: message\"", err);
        }
    }

    /* the same file into a (2, 3) array of exactly that size (ASan sees a write past it) */
    static const size_t want[2] = {2, 3};
    double *out = malloc(6 * sizeof *out);
    if (!out) {
        fuzz_npy_broken("out of memory in the target", "");
    }
    memset(err, 'x', sizeof err);
    odg_status ls = odg_npy_load(path, 2, want, out, err);
    int is23 = rs == ODG_OK && ndim == 2 && shape[0] == 2 && shape[1] == 3;
    if (is23) {
        if (ls != ODG_OK || memcmp(out, x, 6 * sizeof *out) != 0) {
            fuzz_npy_broken("a (2, 3) array that odg_npy_read reads is not loaded the same", err);
        }
    } else if (rs == ODG_OK) {
        if (ls != ODG_ESHAPE || !fuzz_npy_message(err, path)) {
            fuzz_npy_broken("another shape is not ODG_ESHAPE with \"PATH: message\"", err);
        }
    } else if (rs != ODG_ENOMEM && (ls != rs || !fuzz_npy_message(err, path))) {
        fuzz_npy_broken("odg_npy_load does not refuse what odg_npy_read refuses", err);
    }
    free(out);
    if (rs == ODG_OK) {
        free(x);
    }
    return 0;
}
