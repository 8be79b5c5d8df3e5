/* The counting allocator (after Redis zmalloc): every block carries a 64-byte header with its
 * size and tag, so free needs no lookup and the accounting is exact.  Sizes accounted are the
 * bytes the caller asked for, so the peak compares directly with docs/theory.md section 6.
 * Fault injection (after SQLite): with fail_at = k, the k-th attempt returns NULL.  The I/O
 * counterpart, odg_io_fault, lives here too: the k-th operation that changes a file fails. */
#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE, beyond POSIX */
#include "odegrad/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ODG_ALIGN 64

typedef struct block_header {
    size_t bytes;
    int tag;
    unsigned magic;
} block_header;

#define BLOCK_MAGIC 0x0De62AD5u

_Static_assert(sizeof(block_header) <= ODG_ALIGN, "header must fit in one alignment unit");

static const char *const tag_names[] = {
#define ODG_TAG(e, name, what) name,
#include "odegrad/tags.def"
#undef ODG_TAG
};

const char *odg_tag_name(odg_tag t)
{
    return (t >= 0 && t < ODG_NTAGS) ? tag_names[t] : "?";
}

void odg_mem_init(odg_mem *m)
{
    memset(m, 0, sizeof *m);
}

/* Large blocks (a backprop tape is hundreds of MiB, written once per gradient) ask the kernel for
 * transparent huge pages: first touch then costs one fault per 2 MiB instead of per 4 KiB.  Only
 * the 2 MiB-aligned interior can be advised; advice that is refused changes nothing. */
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_ADVISE_MIN (4 * HUGE_PAGE)

static void advise_huge(void *p, size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes < HUGE_ADVISE_MIN) {
        return;
    }
    uintptr_t lo = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t hi = ((uintptr_t)p + bytes) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (hi > lo) {
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    }
#else
    (void)p;
    (void)bytes;
#endif
}

static void *mem_alloc(odg_mem *m, odg_tag tag, size_t bytes, int zero)
{
    if (!m || tag < 0 || tag >= ODG_NTAGS) {
        return NULL;
    }
    m->nalloc++;
    if (m->fail_at > 0 && m->nalloc == m->fail_at) {
        return NULL;
    }
    /* round the payload up to the alignment; refuse sizes whose rounding overflows */
    if (bytes > SIZE_MAX - 2 * ODG_ALIGN) {
        return NULL;
    }
    size_t total = ODG_ALIGN + (bytes + ODG_ALIGN - 1) / ODG_ALIGN * ODG_ALIGN;
    unsigned char *raw = aligned_alloc(ODG_ALIGN, total);
    if (!raw) {
        return NULL;
    }
    block_header *h = (block_header *)raw;
    h->bytes = bytes;
    h->tag = tag;
    h->magic = BLOCK_MAGIC;
    void *p = raw + ODG_ALIGN;
    advise_huge(p, bytes);
    if (zero) {
        memset(p, 0, bytes);
    }
    m->cur[tag] += bytes;
    m->cur_total += bytes;
    if (m->cur[tag] > m->peak[tag]) {
        m->peak[tag] = m->cur[tag];
    }
    if (m->cur_total > m->peak_total) {
        m->peak_total = m->cur_total;
    }
    m->nlive++;
    return p;
}

void *odg_mem_alloc(odg_mem *m, odg_tag tag, size_t bytes)
{
    return mem_alloc(m, tag, bytes, 1);
}

static double *mem_doubles(odg_mem *m, odg_tag tag, size_t n, int zero)
{
    if (n > SIZE_MAX / sizeof(double)) {
        if (m) {
            m->nalloc++; /* an attempt all the same, so fault-injection counts stay aligned */
        }
        return NULL;
    }
    return mem_alloc(m, tag, n * sizeof(double), zero);
}

double *odg_mem_doubles(odg_mem *m, odg_tag tag, size_t n)
{
    return mem_doubles(m, tag, n, 1);
}

double *odg_mem_scratch(odg_mem *m, odg_tag tag, size_t n)
{
    return mem_doubles(m, tag, n, 0);
}

void odg_mem_free(odg_mem *m, void *p)
{
    if (!p || !m) {
        return;
    }
    block_header *h = (block_header *)((unsigned char *)p - ODG_ALIGN);
    if (h->magic != BLOCK_MAGIC) {
        abort(); /* not ours or freed twice: a programming error, not a run-time condition */
    }
    h->magic = 0;
    m->cur[h->tag] -= h->bytes;
    m->cur_total -= h->bytes;
    m->nlive--;
    free(h);
}

void odg_mem_reset_peak(odg_mem *m)
{
    for (int t = 0; t < ODG_NTAGS; t++) {
        m->peak[t] = m->cur[t];
    }
    m->peak_total = m->cur_total;
}

/* ---- I/O fault injection ------------------------------------------------------------------ */

/* The count lives in a shared anonymous page once armed, so that a forked child (the measuring
 * process writes --save-grad) and its parent number their operations in one sequence: the
 * parent waits while the child writes, so the order is the same at every run. */
typedef struct io_faults {
    long count, fail_at;
} io_faults;

static io_faults *io_state;

void odg_io_fault_arm(long n)
{
    if (!io_state) {
        void *p =
            mmap(NULL, sizeof *io_state, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            return; /* a test that cannot arm sees no fault and no count, and says so */
        }
        io_state = p;
    }
    io_state->count = 0;
    io_state->fail_at = n > 0 ? n : 0;
}

long odg_io_fault_count(void)
{
    return io_state ? io_state->count : 0;
}

int odg_io_fault(void)
{
    if (!io_state) {
        return 0;
    }
    io_state->count++;
    if (io_state->fail_at > 0 && io_state->count == io_state->fail_at) {
        errno = ENOSPC; /* a full disk: the failure the outputs must survive */
        return 1;
    }
    return 0;
}
