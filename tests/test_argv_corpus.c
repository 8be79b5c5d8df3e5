/* The command-line corpus (tests/data/argv/, also the seeds of `make fuzz`: each file is one
 * argument vector, its arguments separated by NUL bytes, the first naming the command) replayed
 * through the fuzz target itself (fuzz/fuzz_argv.c, compiled in here with the command's sources
 * but its main): a file breaking the target's contract aborts the program, failing the test with
 * the target's message.  Beyond that contract, the names: every valid-* vector is parsed and
 * accepted by the configuration check, every help-* one prints help, every other one is refused
 * by the parser or by the check.  The parser's own messages go to stderr as usual. */
#include "check.h"

#include "../fuzz/fuzz_argv.c"

#include <fcntl.h>
#include <unistd.h>

static void replay(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL, "%s: cannot read", path);
    if (!fp) {
        return;
    }
    uint8_t buf[4096];
    size_t len = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        return;
    }
    memcpy(exact, buf, len);
    /* --help's text is not this test's output */
    fflush(stdout);
    int keep = dup(STDOUT_FILENO), null = open("/dev/null", O_WRONLY);
    if (keep >= 0 && null >= 0) {
        dup2(null, STDOUT_FILENO);
    }
    LLVMFuzzerTestOneInput(exact, len);
    fflush(stdout);
    if (keep >= 0 && null >= 0) {
        dup2(keep, STDOUT_FILENO);
    }
    if (keep >= 0) {
        close(keep);
    }
    if (null >= 0) {
        close(null);
    }
    free(exact);
    int valid = strncmp(name, "valid-", 6) == 0, help = strncmp(name, "help-", 5) == 0;
    int ok = valid  ? fuzz_argv_parsed == 0 && fuzz_argv_checked == ODG_OK
             : help ? fuzz_argv_parsed == -1
                    : fuzz_argv_parsed == ODG_EXIT_USAGE ||
                          (fuzz_argv_parsed == 0 && fuzz_argv_checked != ODG_OK);
    CHECK(ok, "%s: parsed %d, checked %d", name, fuzz_argv_parsed, fuzz_argv_checked);
    printf("%s %s: parsed %d, checked %d\n", ok ? "ok  " : "FAIL", name, fuzz_argv_parsed,
           fuzz_argv_checked);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_corpus(ODG_TEST_DATA "/argv", replay, 5, 10);
    return check_done("test_argv_corpus");
}
