/* odegrad core: status codes, the counting allocator, the RNG, .npy I/O, the timer, number text
 * and the CPU count.
 *
 * Everything a gradient method keeps goes through an odg_mem, so its peak is exact and can be
 * compared with docs/theory.md section 6.  Nothing here prints, aborts or exits.
 */
#ifndef ODEGRAD_CORE_H
#define ODEGRAD_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes (status.def) ------------------------------------------------------------ */

typedef enum {
#define ODG_STATUS(e, rec, msg) ODG_##e,
#include "odegrad/status.def"
#undef ODG_STATUS
    ODG_NSTATUS
} odg_status;

const char *odg_status_str(odg_status s);    /* human message, e.g. "out of memory" */
const char *odg_status_record(odg_status s); /* record column: ok|diverged|oom|timeout|error */

/* Length of the error text buffers that some functions fill (always NUL-terminated). */
#define ODG_ERRLEN 256

/* The message, printf-style, into err (when err is not NULL), and st returned: every failure
 * that explains itself returns through it. */
odg_status odg_fail(char err[ODG_ERRLEN], odg_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- vector clones ------------------------------------------------------------------------ */

/* One copy of a function per vector width (AVX-512, AVX2 with FMA, the baseline the library is
 * built for), chosen once at load time by the CPU.  For loops of element-wise arithmetic (no
 * reassociated sum; fused multiply-adds only as explicit fma(), -ffp-contract=off fuses nothing
 * else) every copy computes the same bits; the loops are marked `omp simd` so that -O2's cheap
 * cost model does not leave them scalar. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define ODG_SIMD_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define ODG_SIMD_CLONES
#endif

/* ---- the counting allocator --------------------------------------------------------------- */

typedef enum {
#define ODG_TAG(e, name, what) ODG_TAG_##e,
#include "odegrad/tags.def"
#undef ODG_TAG
    ODG_NTAGS
} odg_tag;

const char *odg_tag_name(odg_tag t);

/* Per-run accounting: bytes requested by callers (not counting the allocator's own header or
 * alignment padding), current and peak, per tag and in total.  Not thread-safe: allocate
 * outside parallel regions (the house rule anyway). */
typedef struct odg_mem {
    size_t cur[ODG_NTAGS], peak[ODG_NTAGS];
    size_t cur_total, peak_total;
    long nalloc;  /* allocation attempts so far, failed ones included */
    long nlive;   /* blocks allocated and not yet freed */
    long fail_at; /* fault injection: attempt number fail_at (1-based) fails; 0 = never */
} odg_mem;

void odg_mem_init(odg_mem *m);
/* 64-byte aligned block of `bytes` bytes (zero-filled), accounted under `tag`.  Returns NULL on
 * failure or injected fault.  bytes == 0 returns a valid unique block. */
void *odg_mem_alloc(odg_mem *m, odg_tag tag, size_t bytes);
/* Array of n doubles; NULL on overflow of n * 8 as well. */
double *odg_mem_doubles(odg_mem *m, odg_tag tag, size_t n);
/* The same without the zero fill, for blocks every reader finds written first (a tape, a
 * trajectory, checkpoints): the fill is a pass over memory the kernel has just zeroed anyway, and
 * for a backprop tape about a tenth of the gradient. */
double *odg_mem_scratch(odg_mem *m, odg_tag tag, size_t n);
/* Frees a block from odg_mem_alloc of the same m; NULL is ignored. */
void odg_mem_free(odg_mem *m, void *p);
/* Sets the peaks to the current values, so that a later phase can be measured on its own. */
void odg_mem_reset_peak(odg_mem *m);

/* ---- RNG ---------------------------------------------------------------------------------- */

/* xoshiro256** seeded through splitmix64.  Uniforms are bit-identical on every machine; normals
 * use Marsaglia's polar method with odg_log (below) and sqrt (correctly rounded by IEEE 754), so
 * they are bit-identical too on any IEEE-754 machine built with -ffp-contract=off. */
typedef struct odg_rng {
    uint64_t s[4];
    double spare;
    int has_spare;
} odg_rng;

void odg_rng_seed(odg_rng *r, uint64_t seed);
uint64_t odg_rng_u64(odg_rng *r);
double odg_rng_uniform(odg_rng *r); /* in [0, 1), 53 random bits */
double odg_rng_normal(odg_rng *r);  /* N(0, 1) */
/* x[i] = mean + sd * N(0, 1), i = 0 .. n-1, in index order. */
void odg_rng_fill_normal(odg_rng *r, double *x, size_t n, double mean, double sd);
/* Natural logarithm from IEEE basic operations only (no libm), so identical everywhere; about
 * 1 ulp. x must be finite and > 0. */
double odg_log(double x);

/* ---- .npy I/O (float64, C order) ---------------------------------------------------------- */

#define ODG_NPY_MAXDIM 4

/* Reads a float64 little-endian C-order array.  On success *data is malloc'ed (free() it) and
 * ndim/shape are set.  On failure returns ODG_EIO (cannot open/read), ODG_EFORMAT (bad magic,
 * version, header, dtype, byte order, fortran_order, truncated data) with `err` naming the
 * problem; err may be NULL. */
odg_status odg_npy_read(const char *path, int *ndim, size_t shape[ODG_NPY_MAXDIM], double **data,
                        char err[ODG_ERRLEN]);
/* What a file of this st_mode is, for messages: "a FIFO", "a directory", ... */
const char *odg_file_kind(unsigned mode);
/* Reads into out, which the caller sized as the expected shape; a different shape is
 * ODG_ESHAPE, with err saying expected and found. */
odg_status odg_npy_load(const char *path, int ndim, const size_t *shape, double *out,
                        char err[ODG_ERRLEN]);
/* Writes an array (version 1.0 header).  Writes to path.tmp and renames, so a failure never
 * leaves a half-written file at path. */
odg_status odg_npy_save(const char *path, int ndim, const size_t *shape, const double *data,
                        char err[ODG_ERRLEN]);

/* ---- timer -------------------------------------------------------------------------------- */

double odg_now(void); /* monotonic seconds */

/* ---- number text -------------------------------------------------------------------------- */

/* Writes the shortest decimal text that strtod reads back to exactly x: "%.*g" with the first
 * precision from 1 to 17 that round-trips, its exponent without '+' or leading zeros ("1e-6",
 * "1e20").  -0.0 gives "-0"; a NaN gives "nan", infinities "inf" and "-inf" (the caller decides
 * what to do with them).  Assumes the "C" locale's decimal point (a program that never calls
 * setlocale is in it).  Returns the length written, without the NUL, or -1 if cap bytes are too
 * few (at most 25 are ever needed); buf then holds "" when cap > 0, and may be NULL when
 * cap == 0. */
int odg_fmt_real(char *buf, size_t cap, double x);

/* ---- CPUs --------------------------------------------------------------------------------- */

/* The number of CPUs this process may really use: those in its affinity mask, lowered to
 * ceil(quota / period) by a cgroup CPU quota (v2 cpu.max or v1 cpu.cfs_quota_us, the smallest
 * over the process's cgroup and its ancestors).  `nproc` and omp_get_num_procs honour the mask
 * but not the quota, and a benchmark that runs more threads than it has CPUs measures the
 * scheduler.  Falls back to the online CPU count if the mask cannot be read; never less
 * than 1.  Read once per process (a sweep asks for every configuration): an affinity or quota
 * changed while the process runs is not seen. */
int odg_cpus_available(void);

/* Whether a parallel region opened now would have more than one thread (omp_get_max_threads()
 * above 1).  A region libgomp opens for one thread, by a false `if` clause or with one thread
 * asked for, still passes its barriers, each a futex call: at D = 2, B = 256 two of them for
 * every call of f or of the VJP, about 5% of a gradient's time. */
int odg_team_possible(void);

/* Runs `call` in a parallel region when the caller wants one (`team`) and more than one thread
 * could run it (odg_team_possible), else directly on the calling thread: with one thread no
 * region opens.  `call` holds the region's work as orphaned worksharing loops (`omp for`): called
 * outside any region, those run every iteration on the one thread in the same order as a team of
 * one would, so the result is the same bits either way. */
#define ODG_PARALLEL(team, call)                                                                   \
    do {                                                                                           \
        if ((team) && odg_team_possible()) {                                                       \
            _Pragma("omp parallel") call;                                                          \
        } else {                                                                                   \
            call;                                                                                  \
        }                                                                                          \
    } while (0)

/* ---- MPI (core/mpi.c) ---------------------------------------------------------------------- */

/* A thin layer over MPI (Open MPI or MPICH), the one place that includes mpi.h: the build has it
 * when CMake found MPI (ODG_MPI=auto|on|off), and without it every call below says so
 * (odg_mpi_built() 0, odg_mpi_start ODG_EUNSUP) rather than failing to link.  One communicator,
 * MPI_COMM_WORLD, used by the main thread only (MPI_THREAD_FUNNELED: never inside an OpenMP
 * region).  Sizes are bytes or doubles; a count over INT_MAX is ODG_EUNSUP (MPI counts are
 * int).  Not started, a process is rank 0 of 1 and the collectives are copies. */
int odg_mpi_built(void);
/* 1 when this process was started by an MPI launcher (mpirun, mpiexec, srun): its environment
 * names a rank.  A sweep uses MPI only then, so a plain `odegrad sweep` never starts it. */
int odg_mpi_launched(void);
/* MPI_Init_thread once per process (a second call does nothing); err says why not. */
odg_status odg_mpi_start(char err[ODG_ERRLEN]);
void odg_mpi_stop(void);      /* MPI_Finalize, if started */
void odg_mpi_abort(int code); /* MPI_Abort on every rank, if started; returns otherwise */
int odg_mpi_active(void);
int odg_mpi_rank(void);
int odg_mpi_size(void);
/* The ranks on this rank's node (MPI_COMM_TYPE_SHARED): *local is this rank's index among them
 * (by rank), *nlocal their number. */
odg_status odg_mpi_node_rank(int *local, int *nlocal);
/* This node's name (MPI_Get_processor_name, else gethostname) into name[cap]. */
void odg_mpi_host(char *name, size_t cap);

/* Time spent and bytes received in the exchanges below, accumulated. */
typedef struct odg_mpi_stats {
    double s, bytes;
    long calls;
} odg_mpi_stats;

/* In place on every rank: rank r holds x[off[r] .. off[r+1]) (doubles, off has size() + 1
 * entries, off[0] = 0), and afterwards every rank holds all of x.  The values are copied, never
 * combined, so the result is the same bits on every rank whatever the rank count.  stats may be
 * NULL. */
odg_status odg_mpi_allgather_doubles(double *x, const size_t *off, odg_mpi_stats *stats);
/* Every rank's len bytes at mine, in rank order, into all (size() * len bytes) on every rank. */
odg_status odg_mpi_allgather_bytes(const void *mine, size_t len, void *all);
/* The largest and smallest of x over the ranks, on every rank. */
odg_status odg_mpi_minmax(double x, double *min, double *max);
odg_status odg_mpi_bcast(void *buf, size_t len, int root);
odg_status odg_mpi_barrier(void);
/* Point to point, blocking: len bytes with a tag (>= 0).  recv: from src (-1: any rank), *from
 * and *tag (may be NULL) say which message it was (tag -1: any). */
odg_status odg_mpi_send(const void *buf, size_t len, int dest, int tag);
odg_status odg_mpi_recv(void *buf, size_t len, int src, int tag, int *from, int *got_tag);
/* 1 when a message from any rank is waiting (MPI_Iprobe), with its source and tag; 0 none. */
int odg_mpi_poll(int *from, int *tag);

/* ---- I/O fault injection ------------------------------------------------------------------ */

/* Every operation that writes a run's results (the CSV row, its sidecar, the .npy files of
 * --save-grad and --save-problem: creating a file or a directory, writing, syncing, linking,
 * renaming) asks odg_io_fault first and fails as the system call would when it answers 1.  A
 * test arms it (tests/test_io_faults.c): operation n, counted from the arming, fails with errno
 * ENOSPC, as on a full disk; one failure per arming.  The count is shared with the children
 * forked afterwards (the measuring process writes --save-grad), so a run numbers its operations
 * in one sequence.  Nothing but a test arms it; unarmed, it costs a test of a pointer.  Not
 * thread-safe: outputs are written outside parallel regions. */
void odg_io_fault_arm(long n); /* n >= 1: that operation fails; 0: none fails, counting goes on */
long odg_io_fault_count(void); /* operations since the last arming (0 if never armed) */
int odg_io_fault(void);        /* 1, with errno = ENOSPC, when this operation is to fail */

#ifdef __cplusplus
}
#endif
#endif
