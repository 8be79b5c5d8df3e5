/* The counting allocator: exact current and peak bytes per tag and in total, 64-byte alignment,
 * zero fill (and its absence in scratch blocks), reset of peaks, and fault injection of the k-th
 * attempt. */
#include "check.h"
#include "odegrad/core.h"

#include <stdint.h>

int main(void)
{
    odg_mem m;
    odg_mem_init(&m);
    void *a = odg_mem_alloc(&m, ODG_TAG_TAPE, 100);
    double *b = odg_mem_doubles(&m, ODG_TAG_CHECKPOINT, 10);
    void *c = odg_mem_alloc(&m, ODG_TAG_TAPE, 0);
    CHECK(a && b && c, "allocations failed");
    CHECK(((uintptr_t)a % 64) == 0 && ((uintptr_t)b % 64) == 0 && ((uintptr_t)c % 64) == 0,
          "not 64-byte aligned");
    CHECK(a != c, "a zero-byte block must still be unique");
    int zero = 1;
    for (int i = 0; i < 10; i++) {
        zero &= b[i] == 0.0;
    }
    CHECK(zero, "blocks are zero-filled");
    /* requested bytes are accounted, not the header or the padding */
    CHECK(m.cur[ODG_TAG_TAPE] == 100 && m.cur[ODG_TAG_CHECKPOINT] == 80 && m.cur_total == 180,
          "cur tape %zu checkpoint %zu total %zu", m.cur[ODG_TAG_TAPE],
          m.cur[ODG_TAG_CHECKPOINT], m.cur_total);
    CHECK(m.nalloc == 3 && m.nlive == 3, "nalloc %ld nlive %ld", m.nalloc, m.nlive);
    odg_mem_free(&m, a);
    CHECK(m.cur[ODG_TAG_TAPE] == 0 && m.peak[ODG_TAG_TAPE] == 100 && m.peak_total == 180,
          "after free: cur %zu peak %zu total peak %zu", m.cur[ODG_TAG_TAPE],
          m.peak[ODG_TAG_TAPE], m.peak_total);
    odg_mem_reset_peak(&m);
    CHECK(m.peak[ODG_TAG_TAPE] == 0 && m.peak_total == 80, "reset: %zu %zu",
          m.peak[ODG_TAG_TAPE], m.peak_total);
    /* the peak is the high-water mark of the sum, not the sum of per-tag peaks */
    void *d = odg_mem_alloc(&m, ODG_TAG_WORKSPACE, 1000);
    odg_mem_free(&m, d);
    void *e = odg_mem_alloc(&m, ODG_TAG_MODEL, 500);
    CHECK(m.peak_total == 1080 && m.peak[ODG_TAG_WORKSPACE] == 1000 &&
              m.peak[ODG_TAG_MODEL] == 500,
          "peaks %zu %zu %zu", m.peak_total, m.peak[ODG_TAG_WORKSPACE], m.peak[ODG_TAG_MODEL]);
    /* fault injection: exactly the k-th attempt fails, and it is counted */
    m.fail_at = m.nalloc + 2;
    void *f = odg_mem_alloc(&m, ODG_TAG_MODEL, 8);
    void *g = odg_mem_alloc(&m, ODG_TAG_MODEL, 8);
    void *h = odg_mem_alloc(&m, ODG_TAG_MODEL, 8);
    CHECK(f && !g && h, "fault injection failed the wrong attempt");
    CHECK(m.cur[ODG_TAG_MODEL] == 516, "a failed attempt is not accounted: %zu",
          m.cur[ODG_TAG_MODEL]);
    /* scratch blocks (not zero-filled) are accounted, aligned and fault-injected the same way,
     * large ones too (those get the huge-page advice, which must not disturb the block) */
    const size_t big = (size_t)20 << 20;
    const long before = m.nalloc;
    m.fail_at = before + 1;
    CHECK(odg_mem_scratch(&m, ODG_TAG_TAPE, 8) == NULL, "fault injection missed a scratch block");
    double *s1 = odg_mem_scratch(&m, ODG_TAG_TAPE, big / sizeof(double));
    CHECK(s1 && ((uintptr_t)s1 % 64) == 0, "scratch block failed or misaligned");
    CHECK(m.nalloc == before + 2 && m.cur[ODG_TAG_TAPE] == big, "scratch: nalloc %ld cur %zu",
          m.nalloc - before, m.cur[ODG_TAG_TAPE]);
    if (s1) {
        for (size_t i = 0; i < big / sizeof(double); i++) {
            s1[i] = (double)i;
        }
        CHECK(s1[0] == 0.0 && s1[big / sizeof(double) - 1] == (double)(big / sizeof(double) - 1),
              "scratch block does not hold what was written");
    }
    odg_mem_free(&m, s1);
    CHECK(m.cur[ODG_TAG_TAPE] == 0, "scratch free not accounted: %zu", m.cur[ODG_TAG_TAPE]);
    CHECK(odg_mem_scratch(&m, ODG_TAG_TAPE, SIZE_MAX / 4) == NULL, "scratch overflow not refused");
    /* sizes whose byte count overflows fail cleanly */
    CHECK(odg_mem_doubles(&m, ODG_TAG_MODEL, SIZE_MAX / 4) == NULL, "overflow not refused");
    CHECK(odg_mem_alloc(&m, ODG_NTAGS, 8) == NULL, "bad tag accepted");
    odg_mem_free(&m, b);
    odg_mem_free(&m, c);
    odg_mem_free(&m, e);
    odg_mem_free(&m, f);
    odg_mem_free(&m, h);
    odg_mem_free(&m, NULL);
    CHECK(m.cur_total == 0 && m.nlive == 0, "leak: %zu bytes, %ld blocks", m.cur_total, m.nlive);
    for (int t = 0; t < ODG_NTAGS; t++) {
        CHECK(odg_tag_name((odg_tag)t)[0] != '?', "tag %d has no name", t);
    }
    return check_done("test_mem");
}
