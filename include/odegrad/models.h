/* odegrad models: vector fields over a batch, each with f and a hand-written VJP.
 * docs/theory.md section 9 (mlp); section 7 (linear, whose gradient is known exactly).
 *
 * Arrays are row-major, one sample per row: Z, F, G, Zbar are (B, D).  The parameters are one
 * contiguous vector theta (P) with named views (W1, b1, W2, b2 or A, b).
 */
#ifndef ODEGRAD_MODELS_H
#define ODEGRAD_MODELS_H

#include "odegrad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
#define ODG_MODEL(e, name, desc) ODG_MODEL_##e,
#include "odegrad/models.def"
#undef ODG_MODEL
    ODG_NMODELS
} odg_model_kind;

typedef enum {
#define ODG_SPECTRUM(e, name, desc) ODG_SPECTRUM_##e,
#include "odegrad/spectra.def"
#undef ODG_SPECTRUM
    ODG_NSPECTRA
} odg_spectrum;

typedef enum {
#define ODG_TRACE(e, name, desc) ODG_TRACE_##e,
#include "odegrad/traces.def"
#undef ODG_TRACE
    ODG_NTRACES
} odg_trace;

typedef enum {
#define ODG_DATASET(e, name, desc) ODG_DATASET_##e,
#include "odegrad/datasets.def"
#undef ODG_DATASET
    ODG_NDATASETS
} odg_dataset;

const char *odg_dataset_name(odg_dataset k);
const char *odg_dataset_desc(odg_dataset k);
odg_status odg_dataset_from_name(const char *name, odg_dataset *out); /* unknown: EINVAL */

/* B samples of a toy density drawn from rng (models/data.c) into the first D numbers of each row
 * of X, rows `ld` apart (ld >= D; the cnf's state rows are D + 1 long, their last number is left
 * as it is).  The densities are 2-D; for D > 2 the other coordinates are N(0, 1), for D = 1 the
 * first coordinate alone.  ODG_EINVAL for an unknown kind, D or B of 0 or ld < D. */
odg_status odg_dataset_draw(odg_dataset k, odg_rng *rng, size_t B, size_t D, double *X,
                            size_t ld);

/* How f and the VJP use threads (include/odegrad/models.h (batch chunks and BLAS modes); blasmodes.def).  AUTO is resolved at
 * create to THREADED or CHUNKED; a model never runs in AUTO. */
typedef enum {
#define ODG_BLAS_MODE(e, name, desc) ODG_BLAS_##e,
#include "odegrad/blasmodes.def"
#undef ODG_BLAS_MODE
    ODG_NBLAS_MODES
} odg_blas_mode;

/* Rows of the batch per chunk, by default (odg_model_opts.batch_chunk sets another).  Chunk c
 * holds rows [c * 64, min(B, (c + 1) * 64)) whatever the thread count, so a gradient is
 * bit-identical for any OMP_NUM_THREADS (CHUNKED mode); another chunk size gives other bits, as
 * the GEMMs and the partial sums change.  64 rows:
 * a chunk's (64, H) hidden activations stay in L2 (128 KiB at H = 256, 256 KiB at H = 512)
 * between the GEMMs that make and use them; 64 rows are 16 of OpenBLAS's 4-row micro-tiles, so a
 * per-chunk GEMM runs near full speed; and the per-chunk parameter-gradient partials (B / 64 of
 * them, P numbers each) cost half the memory and reduction traffic that 32-row chunks would,
 * while B = 128 still gives two chunks to share.  The chunks are also the unit of parallel work:
 * B = 512 has 8 of them, so 16 threads cannot all be busy; 32-row chunks give 16, each running
 * its GEMMs somewhat slower on one thread. */
#define ODG_BATCH_CHUNK 64

/* CHUNKED mode needs every GEMM single-threaded: inside an active parallel region OpenBLAS makes
 * sure of it.  A batch of one chunk may skip the region (its idle threads' barrier costs more
 * than a small chunk's work) only when no GEMM of the call could be split: OpenBLAS runs a DGEMM
 * on one thread when M N K <= 65536 x GEMM_MULTITHREAD_THRESHOLD (interface/gemm.c; the build
 * option is 4 by default and at least 1), so at or below 65536 it never splits.  With one thread
 * there is no region at all (ODG_PARALLEL): OpenBLAS has that one thread too. */
#define ODG_BLAS_SERIAL_MNK 65536.0

const char *odg_model_kind_name(odg_model_kind k);
const char *odg_model_kind_desc(odg_model_kind k);
odg_status odg_model_kind_from_name(const char *name, odg_model_kind *out);
const char *odg_spectrum_name(odg_spectrum s);
const char *odg_spectrum_desc(odg_spectrum s);
odg_status odg_spectrum_from_name(const char *name, odg_spectrum *out);
const char *odg_blas_mode_name(odg_blas_mode b); /* "auto" | "threaded" | "chunked"; "?" */
const char *odg_blas_mode_desc(odg_blas_mode b);
odg_status odg_blas_mode_from_name(const char *name, odg_blas_mode *out); /* unknown: EINVAL */
const char *odg_trace_name(odg_trace t); /* "exact" | "hutchinson"; "?" */
const char *odg_trace_desc(odg_trace t);

typedef struct odg_model_opts {
    odg_model_kind kind;
    size_t D, H, B;        /* state dim, hidden width (mlp), batch */
    int time_input;        /* mlp: t enters as an extra input column (W1 is H x (D+1)) */
    double gain;           /* g: scales the initial weights (default 1) */
    odg_spectrum spectrum; /* linear */
    double stiffness;      /* linear stiff: ratio S >= 1 */
    int reference;         /* 1: plain-loop implementation (tests compare against it) */
    odg_blas_mode blas_mode; /* default AUTO (also what a zeroed struct holds) */
    size_t batch_chunk;      /* rows per batch chunk; 0 (the default): ODG_BATCH_CHUNK */
    odg_trace trace;         /* cnf: the exact trace (default) or Hutchinson's estimate */
    odg_model_kind cnf_field; /* cnf: the field carried, MLP (default) or LINEAR (whose trace
                                 tr A is constant: the tests' closed form) */
    const char *plugin;      /* kind PLUGIN: the shared object's path (not copied: it must
                                outlive the model); NULL otherwise */
} odg_model_opts;

/* mlp, D=16 H=64 B=128, gain 1, random, S=1, blas auto */
void odg_model_opts_default(odg_model_opts *o);

/* The mode a model asking for `want` runs in.  What is bit-identical across thread counts:
 *   CHUNKED: everything (f, the VJP, whole gradients, adaptive step sequences), by construction:
 *     every BLAS call has the same arguments and runs single-threaded whatever the thread count.
 *   THREADED: only where OpenBLAS runs a GEMM on one thread (M N K <= 262144).  Otherwise it
 *     splits the rows of C among its threads in ranges that depend on the thread count, and its
 *     DGEMM kernel rounds a row that falls into a range's one-row tail differently from the same
 *     row inside a 4-row block (measured with OpenBLAS 0.3.21: C = A B^T, 200 x 40 x 40, 3 threads
 *     against 1: rows 66, 133, 166, 199 differ in the last bit), so results differ by a few ulps
 *     per GEMM.  It is repeatable at a fixed thread count.
 *   AUTO: CHUNKED, so that the default is bit-identical too; a rule that picked THREADED by size
 *     or thread count would make the bits depend on the thread count.  With a pthreads OpenBLAS,
 *     where CHUNKED cannot run, THREADED.
 * CHUNKED needs OpenBLAS's OpenMP build (openblas_get_parallel() == 2), which called inside our
 * parallel region runs single-threaded by itself, or its sequential build (0); a pthreads build
 * (1) would start its own threads on top of ours, so CHUNKED with it is ODG_EUNSUP.  ODG_EINVAL
 * for a mode out of range or a NULL out. */
odg_status odg_blas_mode_resolve(odg_blas_mode want, odg_blas_mode *out);

/* A named view of theta: rows x cols numbers at offset (a vector has cols == 1). */
typedef struct odg_param_view {
    const char *name;
    size_t offset, rows, cols;
} odg_param_view;

#define ODG_MAX_VIEWS 8

typedef struct odg_model odg_model;

typedef struct odg_model_ops {
    /* F = f(t, Z).  Z, F are (B, D).  Returns 0 or an odg_status. */
    int (*f)(odg_model *m, double t, const double *Z, double *F);
    /* With cotangent G (B, D): Zbar = G^T df/dZ (B, D), OVERWRITTEN;
     * gtheta += G^T df/dtheta (P), ACCUMULATED.  Returns 0 or an odg_status. */
    int (*vjp)(odg_model *m, double t, const double *Z, const double *G, double *Zbar,
               double *gtheta);
    void (*destroy)(odg_model *m); /* frees impl (not theta or m) */
    /* Optional (NULL where the kind has no hidden activations: odg_model_act_size says which).
     * f_act: f, and the hidden activations it forms on the way, A (B, odg_model_act_size / B),
     * written to the caller's buffer.  vjp_act: vjp at the same (t, Z) with those activations
     * read from A instead of recomputed; the same bits as vjp. */
    int (*f_act)(odg_model *m, double t, const double *Z, double *F, double *A);
    int (*vjp_act)(odg_model *m, double t, const double *Z, const double *A, const double *G,
                   double *Zbar, double *gtheta);
} odg_model_ops;

struct odg_model {
    const odg_model_ops *ops;
    odg_model_opts opts;
    size_t B, D, P;
    double *theta; /* (P), allocated under ODG_TAG_MODEL */
    int nviews;
    odg_param_view view[ODG_MAX_VIEWS];
    odg_mem *mem;
    void *impl;        /* private scratch, allocated under ODG_TAG_MODEL at create */
    odg_blas_mode blas; /* the resolved mode (THREADED or CHUNKED) that f and vjp use */
    size_t chunk;       /* rows per batch chunk (opts.batch_chunk, or ODG_BATCH_CHUNK) */
    size_t nchunks;     /* ceil(B / chunk) */
    /* Batch-parallel over MPI ranks (odg_model_set_ranks): 1 rank by default */
    int rank, nranks;
    size_t *rank_chunk; /* (nranks + 1): rank r's chunks are [rank_chunk[r], rank_chunk[r+1]) */
    size_t *rank_off;   /* (nranks + 1): scratch for the exchanges' offsets */
    odg_mpi_stats comm;   /* the rows' exchanges (F, Zbar): time, bytes received, accumulated */
    odg_mpi_stats reduce; /* the parameter gradient's: the partials' exchange and their sum in
                             chunk order, time and bytes received, accumulated */
};

/* Creates a model with theta zeroed; all its memory comes from mem (tag model).  Checks the
 * options (sizes > 0, products that overflow, stiffness >= 1, blas mode in range): ODG_EINVAL;
 * CHUNKED with a pthreads OpenBLAS: ODG_EUNSUP (odg_blas_mode_resolve).  Nothing here or in f
 * and vjp configures OpenBLAS: both modes use omp_get_max_threads() threads as they find it when
 * called (OpenBLAS's OpenMP build follows it), so a caller sets the thread count once, before a
 * solve.  Note that openblas_set_num_threads(n) in the OpenMP build also calls
 * omp_set_num_threads(n), and that with n = 1 OpenBLAS stays single-threaded even if OpenMP's
 * count is raised again later. */
odg_status odg_model_create(odg_model **out, const odg_model_opts *o, odg_mem *mem);
/* The same, with err (may be NULL) saying what is wrong in words: for kind PLUGIN the shared
 * object that cannot be loaded, the missing symbol, the other ABI version, the constructor's
 * refusal, the field that breaks the contract of include/odegrad/plugin.h (ODG_EINVAL, or
 * ODG_EUNSUP for an ABI version this library does not read). */
odg_status odg_model_create_msg(odg_model **out, const odg_model_opts *o, odg_mem *mem,
                                char err[ODG_ERRLEN]);
void odg_model_destroy(odg_model **m);

/* Switches the model to the mode `want` resolves to (the buffers serve both modes: nothing is
 * allocated).  Call between solves, never inside one.  Returns as odg_blas_mode_resolve; on
 * error the model keeps its mode. */
odg_status odg_model_set_blas_mode(odg_model *m, odg_blas_mode want);

/* Spreads f and the VJP over MPI ranks (core.h, "MPI"), which must then call them together
 * with the same arguments: rank r of n evaluates the whole chunks [r C / n, (r + 1) C / n) of the
 * C = nchunks, the same chunks that OpenMP shares among threads, each with its threads; then the
 * rows of F (f) or of Zbar and the chunks' parameter-gradient partials (vjp) are copied to every
 * rank (odg_mpi_allgather_doubles), and every rank adds the partials in chunk order itself.
 * Nothing is summed across ranks, so F, Zbar and gtheta are the same bits on every rank and as
 * with one rank: a solver that runs whole on every rank, its step-size controller included,
 * takes the same steps everywhere (docs/theory.md, "Parallelism").  The time and bytes of the
 * rows' exchanges add up in m->comm, the parameter gradient's (the partials' exchange and their
 * sum) in m->reduce.  Needs the BLAS version in CHUNKED mode (ODG_EUNSUP for the
 * reference version, THREADED mode or a kind without it: linear); nranks 1 goes back to the
 * whole batch here.  The offsets are allocated under ODG_TAG_MODEL. */
odg_status odg_model_set_ranks(odg_model *m, int rank, int nranks);

/* Seeded initialisation (docs/theory.md section 1), drawing from rng in view order:
 * mlp: W1 ~ N(0, g^2/Din) (Din = D or D+1), b1 = 0.1, W2 ~ N(0, g^2/H), b2 = 0.1;
 * linear: A by spectrum, b = 0.1. */
odg_status odg_model_init(odg_model *m, odg_rng *rng);

/* Checks the model's VJP against central finite differences of its f at (t, Z) and the current
 * theta, for one random direction u of Z and one v of theta and a random cotangent G (drawn from
 * a fixed seed): <Zbar, u> against (<G, f(Z + e u)> - <G, f(Z - e u)>) / 2e, and <gtheta, v>
 * likewise.  Z is (B, D).  The two must agree to a relative 1e-5 (the truncation error is
 * O(e^2) and the rounding error O(eps / e) with e = 1e-5 (1 + max |Z|), both far below it for
 * any smooth field; a wrong VJP is off by O(1)).  Scratch comes from mem (tag workspace) and is
 * freed.  ODG_OK, ODG_EINVAL with err naming the failing product, ODG_ENOMEM. */
odg_status odg_model_check_vjp(odg_model *m, double t, const double *Z, odg_mem *mem,
                               char err[ODG_ERRLEN]);

/* The view with this name, or NULL. */
const odg_param_view *odg_model_view(const odg_model *m, const char *name);

static inline int odg_model_f(odg_model *m, double t, const double *Z, double *F)
{
    return m->ops->f(m, t, Z, F);
}
static inline int odg_model_vjp(odg_model *m, double t, const double *Z, const double *G,
                                double *Zbar, double *gtheta)
{
    return m->ops->vjp(m, t, Z, G, Zbar, gtheta);
}

/* The number of doubles of hidden activations that f_act keeps per evaluation (mlp: B H, its
 * tanh(U)), or 0 for a kind that has none (linear, cnf, plugin): odg_model_f_act and
 * odg_model_vjp_act are then ODG_EUNSUP.  docs/theory.md, "Kept activations". */
size_t odg_model_act_size(const odg_model *m);
/* Whether models of this kind have hidden activations to keep (the mlp), before any is created:
 * where --keep-activations applies.  The one place that says so. */
int odg_model_kind_has_activations(odg_model_kind k);

/* F = f(t, Z) as odg_model_f computes it (the same bits), and A (odg_model_act_size doubles,
 * overwritten) the hidden activations at (t, Z). */
static inline int odg_model_f_act(odg_model *m, double t, const double *Z, double *F, double *A)
{
    return m->ops->f_act ? m->ops->f_act(m, t, Z, F, A) : ODG_EUNSUP;
}
/* odg_model_vjp at (t, Z), with A what odg_model_f_act wrote at the same (t, Z) and theta: the
 * same Zbar and gtheta bit for bit, without recomputing the activations (one GEMM and one tanh
 * pass fewer for mlp).  Z is still read (the W1 gradient needs it). */
static inline int odg_model_vjp_act(odg_model *m, double t, const double *Z, const double *A,
                                    const double *G, double *Zbar, double *gtheta)
{
    return m->ops->vjp_act ? m->ops->vjp_act(m, t, Z, A, G, Zbar, gtheta) : ODG_EUNSUP;
}

/* Loads <dir>/<view>.npy for each view that exists in dir, checking its shape (a vector may be
 * stored as shape (n,) or (n,1)); sets bit v of *loaded for each view loaded.  Missing files are
 * not an error; a malformed or mismatched one is (err names the file and the problem). */
odg_status odg_model_load(odg_model *m, const char *dir, unsigned *loaded, char err[ODG_ERRLEN]);
/* Writes <dir>/<prefix><view>.npy for each view of v (P numbers laid out like theta): prefix ""
 * saves parameters, prefix "g" saves a parameter gradient (gW1.npy ...). */
odg_status odg_model_save(const odg_model *m, const double *v, const char *dir, const char *prefix,
                          char err[ODG_ERRLEN]);

/* The mlp's tanh, in place: x[k] = tanh(x[k]) for k < n, measured within 1.73 ulp of the exact
 * value, the same bits on every machine (models/mlp.c says how), NaN to NaN, +-inf to +-1, -0 to
 * -0.  For tests and benchmarks; the model calls it on its hidden layer. */
void odg_mlp_tanh(double *x, size_t n);

/* The mlp's thin version (models/mlp.c): at D <= ODG_MLP_THIN_MAX_D, in chunked BLAS mode, f and
 * the VJP run on loops of their own, a row of the batch at a time, instead of GEMMs. */
#define ODG_MLP_THIN_MAX_D 4

/* What runs the mlp's GEMMs in this build: "own loops at D <= 4 (chunked), else OpenBLAS", or
 * "own loops at D <= 4 (chunked), else libxsmm VERSION (kernels to 2^22 multiply-adds), else
 * OpenBLAS" when it was built with libxsmm (models/mlp.c, mlp_dgemm).  Each gives other bits;
 * the provenance records it. */
const char *odg_mlp_gemm(void);

/* ---- the roofline (models/roofline.c; docs/theory.md section 9) ---------------------------------- */

/* Floating-point operations of one f and one VJP of this model, counting the GEMMs only (2 per
 * multiply-add; the bias, tanh and column-sum passes are left out, as docs/theory.md section 9 does):
 *   mlp:    f = 4 B D H;  vjp = 8 B D H (four GEMMs) + 2 B D H (the hidden layer it recomputes;
 *           not with kept activations, odg_model_vjp_act, which the harness counts at 8 B D H)
 *   linear: f = 2 B D^2;  vjp = 4 B D^2
 *   cnf:    as mlp with D the data's dimension; Hutchinson adds 4 B D H to f and 8 B D H to the
 *           VJP (p and q, and the trace's parameter gradient); the trace sums are left out
 *   plugin: the field's own count (odg_field.flops), ODG_EUNSUP without one
 * A solve's count is nfe * f + nvjp * vjp; its rate over the measured DGEMM rate is the
 * fraction of the roofline reached.  The reference version counts the same (same formulas).
 * Either output may be NULL.  ODG_EINVAL for a NULL model or one without a count (cnf of the
 * linear field). */
odg_status odg_model_flops(const odg_model *m, double *f_flops, double *vjp_flops);

/* This machine's DGEMM rate in GFLOP/s for C (m, n) += A (m, k) B (n, k)^T, row-major (the shape
 * of the mlp's first GEMM with m = B, n = H, k = D), run back to back for at least min_seconds
 * (at least 3 calls, after one untimed warm-up call).  Uses OpenBLAS as it is set now: OpenMP
 * build, omp_get_max_threads() threads (set 1 thread first for the single-core roofline).  The
 * operands are malloc'ed here (not counted: this is not a solve) and filled with fixed values.
 * Returns 0.0 if m, n or k is 0 or over INT_MAX, min_seconds is not finite, or memory runs out. */
double odg_roofline_dgemm(size_t m, size_t n, size_t k, double min_seconds);

/* The DGEMM rate in GFLOP/s at this model's own shapes: one f and one VJP's GEMMs (flops as
 * odg_model_flops counts them), timed together for at least min_seconds in each of two ways:
 *   threaded: every GEMM over the whole batch, split by OpenBLAS among omp_get_max_threads()
 *     threads, as THREADED mode calls them;
 *   chunked: the batch cut into the model's chunks (m->chunk rows), shared among the OpenMP
 *     threads, every chunk's GEMMs single-threaded, as CHUNKED mode calls them.
 * gflops is the faster of the two: the best rate this machine reaches on these GEMMs with these
 * threads, against which the model's f, VJP and a gradient's rate are read.  On one core the
 * whole-batch GEMMs win (fewer, larger calls); on several the chunks can (OpenBLAS splits a GEMM
 * with a small inner dimension poorly).  Same threading rules as odg_roofline_dgemm.  ODG_EINVAL
 * for a NULL argument, an unknown kind or a min_seconds that is negative or not finite;
 * ODG_ENOMEM when the operands cannot be had. */
typedef struct odg_roofline {
    double gflops, threaded_gflops, chunked_gflops;
} odg_roofline;
odg_status odg_roofline_model_detail(const odg_model *m, double min_seconds, odg_roofline *out);
/* Its gflops, or 0.0 where it fails. */
double odg_roofline_model(const odg_model *m, double min_seconds);

#ifdef __cplusplus
}
#endif
#endif
