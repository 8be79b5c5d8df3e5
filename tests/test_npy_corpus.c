/* The .npy corpus (tests/data/npy/, also the seeds of `make fuzz`) replayed through the fuzz
 * target itself (fuzz/fuzz_npy.c, compiled in here), so the contract checked in `make test` is
 * the one the fuzzer checks: a file breaking it aborts the program, failing the test with the
 * target's message.  Beyond that contract, the names: every valid-* file is read (ODG_OK), every
 * other file refused.  Each refused file is an input an older reader got wrong (the issue 16
 * dtype '<f8\0' among them) or one the fuzzer found; its name says what it tests. */
#include "check.h"

#include "../fuzz/fuzz_npy.c"


static void replay(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL, "%s: cannot read", path);
    if (!fp) {
        return;
    }
    /* exactly the file's bytes, so that a read past them shows under ASan or valgrind */
    uint8_t *buf = malloc(65536);
    size_t len = buf ? fread(buf, 1, 65536, fp) : 0;
    fclose(fp);
    CHECK(buf && len < 65536, "%s: larger than 64 KiB", name);
    uint8_t *exact = malloc(len ? len : 1);
    if (buf && exact) {
        memcpy(exact, buf, len);
        LLVMFuzzerTestOneInput(exact, len);
        int valid = strncmp(name, "valid-", 6) == 0;
        CHECK(valid == (fuzz_npy_status == ODG_OK), "%s: %s", name,
              valid ? "refused" : "read, though its name says it must be refused");
        printf("%s %s: %s\n", valid == (fuzz_npy_status == ODG_OK) ? "ok  " : "FAIL", name,
               odg_status_str(fuzz_npy_status));
    }
    free(exact);
    free(buf);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_corpus(ODG_TEST_DATA "/npy", replay, 5, 15);
    return check_done("test_npy_corpus");
}
