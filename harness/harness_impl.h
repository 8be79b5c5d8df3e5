/* The harness's private pieces: the run object, the child-process runner, what the system says
 * about memory and the CPU, and the FNV-1a hash that keys the reference cache. */
#ifndef ODG_HARNESS_IMPL_H
#define ODG_HARNESS_IMPL_H

#include "odegrad/harness.h"

#include <stddef.h>
#include <stdint.h>

/* ---- the run ------------------------------------------------------------------------------ */

struct odg_run {
    odg_run_config cfg;
    odg_mem mem; /* the problem's own arrays (theta, model scratch, z0, w) */
    odg_model *model;
    double *z0, *w; /* (B, D) and (K, B, D), K = max(nout, 1) */
    double *tout;   /* (nout) the output times, NULL when none are given */
    long nout;
    odg_problem prob;
    odg_grad_opts grad;
    unsigned loaded;      /* bit v: view v of theta came from --load; bits 8, 9: z0, w */
    uint64_t key;         /* reference cache key */
    double mem_limit;     /* bytes the configuration must fit in (INFINITY: none) */
    double t_start;       /* odg_now() when odg_run_prepare began: --timeout counts from it */
    double problem_bytes; /* the problem's own arrays, estimated before they are allocated */
    char peer_version[ODG_CELL_STRLEN]; /* a peer's version (odg_solver_available); "" */
};

#define ODG_LOADED_Z0 (1u << 8)
#define ODG_LOADED_W (1u << 9)

/* Relative L2 distance ||g - r|| / ||r|| over n numbers (NaN when ||r|| == 0 and g != r). */
double odg_rel_err(const double *g, const double *r, size_t n);

/* What measuring a method needs with N steps: the library's memory model (odg_gradient_memory,
 * its peak) and the gradient's outputs; INFINITY when the configuration is not one. */
double odg_method_bytes(const odg_problem *p, const odg_grad_opts *o, long N);

/* ---- peers that run as programs (harness/peer.c) ------------------------------------------ */

/* torch's version as this process's probe found it (odg_solver_available), or NULL when no run
 * of this process asked or torch was not there: the provenance's "peers". */
const char *odg_torch_version_asked(void);

/* What a peer's program reports besides its timings. */
typedef struct odg_peer_report {
    int reps, warmups, threads;
    odg_grad_stats stats; /* steps, rejected, adj_steps, nfe_forward, nfe_backward, nvjp, loss */
    double rss_peak, rss_base;
    int rss_cleared;
    char version[ODG_CELL_STRLEN]; /* "torch 1.13.1, own RK" */
} odg_peer_report;

/* A fresh temporary directory for a PyTorch run ($TMPDIR or /tmp), made by the run's own process
 * before the measuring child starts, so that it is removed (odg_torch_cleanup) however the child
 * ends, a timeout's SIGKILL included.  ODG_EIO with err. */
odg_status odg_torch_dir(char dir[4096], char err[ODG_ERRLEN]);
/* Removes everything a PyTorch run may have put into dir, then dir. */
void odg_torch_cleanup(const odg_run *r, const char *dir);
/* Runs r's configuration through the PyTorch peer (peers/torch_peer.py) in a process of its own,
 * from inside the measuring child, with its files in dir: its warm-up and R timed gradients,
 * their times (total, forward, backward) into times[0..R), [R..2R), [2R..3R), its last
 * gradient into g (P + B*D), the rest into pr.  ODG_OK, or an odg_status with err: ODG_ESTEPS
 * (the script's steps failed), ODG_ENOMEM (killed by SIGKILL), ODG_EIO (it failed otherwise),
 * ODG_EFORMAT. */
odg_status odg_torch_gradients(const odg_run *r, const char *dir, double *g, double *times,
                               odg_peer_report *pr, char err[ODG_ERRLEN]);

/* ---- child processes ---------------------------------------------------------------------- */

/* What a child wrote to its pipe, and how it ended. */
typedef struct odg_child {
    int exited, code;    /* exited normally with this code */
    int signaled, signo; /* killed by this signal */
    int timed_out;       /* the parent killed it at the timeout */
    unsigned char *data; /* everything it wrote (malloc'ed) */
    size_t len;
} odg_child;

/* The child's work: write results to fd; the child then _exit()s with the return value. */
typedef int (*odg_child_fn)(void *ctx, int fd);

/* Forks; the child runs fn(ctx, fd) and exits; the parent reads the pipe until EOF or until
 * timeout_s (> 0) has passed, when it kills the child (SIGKILL), and reaps it.  The child dies
 * with its parent (PR_SET_PDEATHSIG).  ODG_EIO if the pipe or fork cannot be made (errno kept
 * in err), ODG_ENOMEM if the data cannot be held. */
odg_status odg_child_run(odg_child_fn fn, void *ctx, double timeout_s, odg_child *res,
                         char err[ODG_ERRLEN]);
/* A deadline (odg_now() seconds; <= 0 or INFINITY: none) that every child started from now on
 * is killed at as well, whatever its own timeout: a run's --timeout covers the children it
 * starts on the way (the reference's) as well as the measurement.  The caller sets it back. */
void odg_child_deadline(double t);
void odg_child_free(odg_child *res);
/* write() until all of buf is written; 0 or -1. */
int odg_write_all(int fd, const void *buf, size_t len);
/* Writes path whole or not at all: len bytes of data to tmp (a name in the same directory),
 * synced, then renamed over path; every step asks odg_io_fault first.  On failure tmp is
 * removed and path is as it was; ODG_EIO with err ("PATH: cannot write: reason"). */
odg_status odg_write_file(const char *path, const char *tmp, const void *data, size_t len,
                          char err[ODG_ERRLEN]);
/* Gives the allocator's free memory back to the system (glibc malloc_trim), so that the resident
 * set just after it counts only live memory. */
void odg_malloc_release(void);

/* ---- the system --------------------------------------------------------------------------- */

/* A "Key:  N kB" line of /proc/meminfo, in bytes; NaN if absent. */
double odg_sys_meminfo(const char *key);
/* Memory available now: MemAvailable, lowered by a cgroup v2 limit when there is one. */
double odg_sys_mem_available(void);
/* A "Key:  N kB" line of /proc/self/status (VmRSS, VmHWM), in bytes; NaN if absent. */
double odg_sys_self_status(const char *key);
/* Resets this process's VmHWM to its current VmRSS (writes "5" to /proc/self/clear_refs);
 * 0 on success, -1 when not permitted. */
int odg_sys_reset_hwm(void);
/* The minor page faults of this process so far, all its threads (getrusage); -1 when unknown. */
long odg_sys_minor_faults(void);
/* The CPU's model name from /proc/cpuinfo ("unknown" if none). */
void odg_sys_cpu_model(char *buf, size_t cap);
/* The current UTC time as ISO 8601 (2024-06-11T12:34:56Z). */
void odg_sys_utc_now(char *buf, size_t cap);

/* ---- text ------------------------------------------------------------------------------- */

#if defined(__GNUC__)
#define ODG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ODG_PRINTF(f, a)
#endif

/* snprintf for messages, names and paths that are cut on purpose when too long (always
 * NUL-terminated). */
void odg_fmt(char *buf, size_t cap, const char *fmt, ...) ODG_PRINTF(3, 4);

/* ---- hashing ------------------------------------------------------------------------------ */

#define ODG_FNV_OFFSET 0xcbf29ce484222325ULL
uint64_t odg_fnv1a(uint64_t h, const void *p, size_t n);

#endif
