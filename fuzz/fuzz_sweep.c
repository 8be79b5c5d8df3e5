/* A libFuzzer target for the sweep-file parser (odg_sweep_parse, experiments/sweep.c).
 *
 * A sweep file is the one input odegrad reads that a person writes by hand, so the parser must
 * take any bytes: never crash, hang, leak or read past the buffer (which is not NUL-terminated
 * here, so AddressSanitizer sees any read past its end).  On every input it checks the contract
 * of include/odegrad/experiments.h and aborts when it is broken:
 *   ODG_OK       *out is a sweep of at least one configuration;
 *   otherwise    *out is NULL and err says "fuzz.ini:LINE: message" (an allocation failure may
 *                have no line: "fuzz.ini: out of memory").
 * Built by `make fuzz` (CMake option ODG_FUZZ, clang only); the seeds are tests/data/sweep/. */
#include "odegrad/experiments.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_PATH "fuzz.ini"
#define FUZZ_MAX_INPUT (64 * 1024)

static void broken(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_sweep: contract broken: %s (err: \"%s\")\n", what, err);
    abort();
}

/* "fuzz.ini:LINE: ..." with LINE >= 1, or "fuzz.ini: out of memory" for ODG_ENOMEM. */
static int good_message(odg_status st, const char *err)
{
    size_t n = strlen(FUZZ_PATH);
    if (strncmp(err, FUZZ_PATH ":", n + 1) != 0) {
        return 0;
    }
    const char *p = err + n + 1;
    if (st == ODG_ENOMEM && *p == ' ') {
        return 1;
    }
    if (*p < '1' || *p > '9') {
        return 0;
    }
    while (isdigit((unsigned char)*p)) {
        p++;
    }
    return p[0] == ':' && p[1] == ' ' && p[2] != '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT) {
        return 0;
    }
    odg_sweep *sw = (odg_sweep *)(uintptr_t)1; /* must be overwritten, even on failure */
    char err[ODG_ERRLEN];
    memset(err, 'x', sizeof err); /* must be overwritten too */
    odg_status st = odg_sweep_parse(&sw, FUZZ_PATH, (const char *)data, size, err);
    if (memchr(err, '\0', sizeof err) == NULL) {
        broken("err is not NUL-terminated", "");
    }
    if (st == ODG_OK) {
        if (sw == NULL) {
            broken("ODG_OK with *out NULL", err);
        }
        int n = odg_sweep_count(sw);
        if (n < 1) {
            broken("ODG_OK with no configuration", err);
        }
        if (odg_sweep_name(sw) == NULL || odg_sweep_output(sw) == NULL) {
            broken("ODG_OK without a name or an output", err);
        }
        /* what `odegrad sweep` prints of the first and the last configuration */
        char buf[4096];
        for (int i = 0; i < n; i += n - 1 > 0 ? n - 1 : 1) {
            if (odg_sweep_config(sw, i) == NULL) {
                broken("a configuration in range is NULL", err);
            }
            odg_sweep_describe(sw, i, buf, sizeof buf);
            (void)odg_sweep_command(sw, i, buf, sizeof buf);
        }
        if (odg_sweep_config(sw, n) != NULL || odg_sweep_config(sw, -1) != NULL) {
            broken("a configuration out of range is not NULL", err);
        }
        odg_sweep_destroy(&sw);
        if (sw != NULL) {
            broken("odg_sweep_destroy left *s set", err);
        }
    } else {
        if (sw != NULL) {
            broken("refused with *out set", err);
        }
        if (!good_message(st, err)) {
            broken("refused without \"" FUZZ_PATH ":LINE: message\"", err);
        }
    }
    return 0;
}
