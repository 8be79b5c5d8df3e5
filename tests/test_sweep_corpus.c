/* The sweep-file corpus (tests/data/sweep/, also the seeds of `make fuzz`) replayed through
 * odg_sweep_parse: every valid-* file parses to at least one configuration, every other file is
 * refused with "PATH:LINE: message" and nothing returned.  A first line saying "= N
 * configurations" (valid) or "error on line N" (refused) is checked too.  Each file is passed in
 * a buffer of exactly its size, not NUL-terminated, so a read past the end shows under ASan or
 * valgrind.  Nothing is timed; a parser that runs away with memory (a range that overflows its
 * count once did) meets an address-space limit and fails here instead of taking the machine. */
#include "check.h"
#include "odegrad/experiments.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* The whole file in a buffer of exactly its size (NULL for an empty file); -1 if unreadable. */
static long slurp(const char *path, char **out)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        return -1;
    }
    long n = -1;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0 && fseek(fp, 0, SEEK_SET) == 0) {
        *out = malloc((size_t)n);
        if (!*out || fread(*out, 1, (size_t)n, fp) != (size_t)n) {
            free(*out);
            *out = NULL;
            n = -1;
        }
    }
    fclose(fp);
    return n;
}

/* The number after `key` in the first line of text ("= 12 configurations" with key "= " and
 * suffix " configurations", "error on line 4" with key "error on line "), or -1. */
static long first_line_number(const char *text, long len, const char *key, const char *suffix)
{
    char line[256];
    long n = 0;
    while (n < len && n < (long)sizeof line - 1 && text[n] != '\n' && text[n] != '\0') {
        n++;
    }
    memcpy(line, text ? text : "", (size_t)n);
    line[n] = '\0';
    for (char *p = strstr(line, key); p; p = strstr(p + 1, key)) {
        char *end;
        long v = strtol(p + strlen(key), &end, 10);
        if (end != p + strlen(key) && strncmp(end, suffix, strlen(suffix)) == 0) {
            return v;
        }
    }
    return -1;
}

/* The LINE of "path:LINE: message", or -1 if err does not say that. */
static long message_line(const char *err, const char *path)
{
    size_t n = strlen(path);
    if (strncmp(err, path, n) != 0 || err[n] != ':') {
        return -1;
    }
    char *end;
    long line = strtol(err + n + 1, &end, 10);
    return end != err + n + 1 && line >= 1 && end[0] == ':' && end[1] == ' ' && end[2] ? line : -1;
}

static void replay(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text;
    long len = slurp(path, &text);
    CHECK(len >= 0, "%s: cannot read", path);
    if (len < 0) {
        return;
    }
    int valid = strncmp(name, "valid-", 6) == 0, nfail = check_nfail;
    odg_sweep *sw = NULL;
    char err[ODG_ERRLEN];
    odg_status st = odg_sweep_parse(&sw, path, text, (size_t)len, err);
    if (valid) {
        CHECK(st == ODG_OK, "%s: refused: %s", name, err);
        if (st == ODG_OK) {
            int n = odg_sweep_count(sw);
            long want = first_line_number(text, len, "= ", " configurations");
            CHECK(n >= 1, "%s: no configuration", name);
            CHECK(want < 0 || n == want, "%s: %d configurations, the file says %ld", name, n, want);
            CHECK(odg_sweep_name(sw) && odg_sweep_output(sw), "%s: no name or output", name);
            if (strcmp(name, "valid-90000-configurations.ini") == 0) {
                CHECK(n == 90000, "%s: %d configurations, not 300 x 300", name, n);
            }
            if (check_nfail == nfail) {
                printf("ok   %s: %d configuration%s\n", name, n, n == 1 ? "" : "s");
            }
        }
    } else {
        long line = message_line(err, path);
        long want = first_line_number(text, len, "error on line ", "");
        CHECK(st != ODG_OK, "%s: accepted (%d configurations)", name, sw ? odg_sweep_count(sw) : 0);
        CHECK(st == ODG_OK || sw == NULL, "%s: refused but *out is set", name);
        /* refused for what the file says, not because the parser ran out of memory */
        CHECK(st == ODG_OK || st == ODG_EFORMAT || st == ODG_EINVAL, "%s: %s: %s", name,
              odg_status_str(st), err);
        CHECK(st == ODG_OK || line >= 1, "%s: not \"PATH:LINE: message\": %s", name, err);
        CHECK(st == ODG_OK || want < 0 || line == want, "%s: line %ld, expected %ld: %s", name, line,
              want, err);
        if (strcmp(name, "over-100000-configurations.ini") == 0) {
            CHECK(st != ODG_OK && strstr(err, "180000 configurations") && strstr(err, "100000"),
                  "%s: not refused for its 180000 configurations: %s", name, err);
        }
        if (check_nfail == nfail) {
            printf("ok   %s: %s\n", name, err + strlen(dir) + 1);
        }
    }
    odg_sweep_destroy(&sw);
    free(text);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* the "ok" lines in order with the failures on stderr */
    /* A parser looping on an overflowed count allocates until it fails: 512 MiB more address
     * space than the process has now is far more than the largest file needs (90000
     * configurations: under 100 MB) and turns such a loop into a quick ODG_ENOMEM, refused below
     * as the wrong reason.  The limit is relative, so ASan's reserved shadow does not count. */
    long pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (statm) {
        if (fscanf(statm, "%ld", &pages) != 1) {
            pages = 0;
        }
        fclose(statm);
    }
    struct rlimit rl;
    if (pages > 0 && getrlimit(RLIMIT_AS, &rl) == 0) {
        rlim_t want = (rlim_t)pages * 4096 + ((rlim_t)512 << 20);
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > want) {
            rl.rlim_cur = want;
            setrlimit(RLIMIT_AS, &rl);
        }
    }

    check_corpus(ODG_TEST_DATA "/sweep", replay, 3, 10);
    return check_done("test_sweep_corpus");
}
