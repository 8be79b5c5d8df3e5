/* Reference gradients (docs/theory.md section 8), computed once and cached on disk.
 *
 * linear: the exact continuous gradient by Van Loan's block exponential (odg_vanloan_linear).
 * fine:   computed by a scheme of higher order than any under test, and checked by another:
 *         the discrete-exact gradient (backprop) of dopri8 (order 8) at N = 32, 64, ... until
 *         halving the step changes the gradient by less than 1e-12 relative (capped at 2^16),
 *         then the discrete-exact gradient of dopri5 with its own adaptive steps at tolerance
 *         1e-13, whose distance to the first is the reference's stated error.  It converged when
 *         both hold: the change below 1e-12 and the two within 1e-9.  When a tape would not fit,
 *         binomial checkpointing gives the same discrete-exact gradient in little memory.
 *
 * The cache file <dir>/<key>.ref is a small header and the raw doubles (gtheta, then gz0), written
 * to a temporary file and renamed, so a reader never sees half a file.  The key is an FNV-1a 64
 * hash of everything that determines the reference's bits: the reference kind and how it is
 * computed, the model kind and sizes, t1, gain, seed, time input, spectrum, stiffness, the bytes
 * of theta, z0 and w themselves (so a loaded problem, or a changed initialisation, can never hit
 * a stale entry), the BLAS mode, batch chunk and thread count, and OpenBLAS's kernel (a GEMM's
 * rounding depends on the kernel, and in threaded mode and LAPACK on the thread count).
 * The gradient is computed in a child process (no OpenMP in the parent before it forks). */
#include "harness_impl.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REF_MAGIC "ODGREF2\n"

typedef struct ref_head {
    char magic[8];
    uint64_t key, P, M;
    int64_t N;
    int32_t kind, status, converged, pad;
    double change, loss, error;
    char scheme[16], method[32], second[48];
} ref_head;

/* The bytes of a file into the hash (its path, if it cannot be read: then no entry matches a
 * later build by chance, as the path alone names no version). */
static uint64_t hash_file(uint64_t h, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return odg_fnv1a(h, path, strlen(path));
    }
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        h = odg_fnv1a(h, buf, n);
    }
    fclose(f);
    return h;
}

static uint64_t reference_key(const odg_run *r, odg_ref_kind kind)
{
    const odg_run_config *c = &r->cfg;
    const odg_model *m = r->model;
    int linear = c->model.kind == ODG_MODEL_LINEAR;
    static const char version[] = "odegrad reference v2: dopri8 doubling, dopri5 check";
    int64_t ints[] = {kind,
                      c->model.kind,
                      (int64_t)m->D,
                      linear ? 0 : (int64_t)c->model.H,
                      (int64_t)m->B,
                      (int64_t)m->P,
                      linear ? 0 : c->model.time_input,
                      linear ? (int64_t)c->model.spectrum : -1,
                      (int64_t)c->seed,
                      ODG_REF_N0,
                      ODG_REF_NMAX,
                      (int64_t)m->blas,
                      (int64_t)m->chunk,
                      c->threads,
                      c->model.kind == ODG_MODEL_CNF ? (int64_t)c->model.trace : -1};
    double reals[] = {r->prob.t0,   r->prob.t1,    c->model.gain, linear ? c->model.stiffness : 0.0,
                      ODG_REF_TOL, ODG_REF_RTOL2, ODG_REF_AGREE};
    uint64_t h = odg_fnv1a(ODG_FNV_OFFSET, version, sizeof version);
    const char *core = openblas_get_corename();
    h = odg_fnv1a(h, core ? core : "", core ? strlen(core) : 0);
    const char *gemm = odg_mlp_gemm(); /* libxsmm's kernels round otherwise */
    h = odg_fnv1a(h, gemm, strlen(gemm));
    h = odg_fnv1a(h, ints, sizeof ints);
    h = odg_fnv1a(h, reals, sizeof reals);
    if (c->model.kind == ODG_MODEL_PLUGIN) {
        h = hash_file(h, c->model.plugin); /* the field's code: another build, another key */
    }
    size_t M = m->B * m->D;
    h = odg_fnv1a(h, m->theta, m->P * sizeof(double));
    h = odg_fnv1a(h, r->z0, M * sizeof(double));
    const size_t Kw = r->nout > 0 ? (size_t)r->nout : 1;
    h = odg_fnv1a(h, r->w, Kw * M * sizeof(double));
    if (r->nout > 0) { /* the output times; none given hashes as before */
        h = odg_fnv1a(h, &r->nout, sizeof r->nout);
        h = odg_fnv1a(h, r->tout, (size_t)r->nout * sizeof(double));
    }
    return h;
}

/* ---- the cache ---------------------------------------------------------------------------- */

static void cache_dir(const odg_run *r, char *buf, size_t cap)
{
    const char *env = getenv("ODEGRAD_CACHE");
    const char *d = r->cfg.cache_dir  ? r->cfg.cache_dir
                    : (env && env[0]) ? env
                                      : "results/reference";
    snprintf(buf, cap, "%s", d);
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) {
        return -1;
    }
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            *s = '/';
        }
    }
    return (mkdir(p, 0755) != 0 && errno != EEXIST) ? -1 : 0;
}

/* Reads an entry that matches key and sizes exactly; 0 on success. */
static int cache_read(const char *path, uint64_t key, size_t P, size_t M, ref_head *h, double *g)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return -1;
    }
    int ok = fread(h, sizeof *h, 1, f) == 1 && memcmp(h->magic, REF_MAGIC, 8) == 0 &&
             h->key == key && h->P == P && h->M == M && h->status == ODG_OK &&
             fread(g, sizeof(double), P + M, f) == P + M && fgetc(f) == EOF;
    fclose(f);
    h->scheme[sizeof h->scheme - 1] = '\0';
    h->method[sizeof h->method - 1] = '\0';
    h->second[sizeof h->second - 1] = '\0';
    return ok ? 0 : -1;
}

static int cache_write(const char *path, const ref_head *h, const double *g, size_t n)
{
    char tmp[4200];
    odg_fmt(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    /* every step that changes the disk asks odg_io_fault first (fault-injection tests); a cache
     * that cannot be written costs only the next run's time */
    int fd = odg_io_fault() ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return -1;
    }
    int ok = !odg_io_fault() && odg_write_all(fd, h, sizeof *h) == 0 && !odg_io_fault() &&
             odg_write_all(fd, g, n * sizeof *g) == 0 && !odg_io_fault() && fsync(fd) == 0;
    if (close(fd) != 0) {
        ok = 0;
    }
    if (!ok || odg_io_fault() || rename(tmp, path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

/* ---- the computing child ------------------------------------------------------------------ */

typedef struct ref_ctx {
    odg_run *r;
    odg_ref_kind kind;
    double budget; /* bytes one fine gradient may use */
} ref_ctx;

static odg_status analytic(odg_run *r, double *g, ref_head *h)
{
    const odg_model *m = r->model;
    const odg_param_view *A = odg_model_view(m, "A"), *b = odg_model_view(m, "b");
    if (!A || !b) {
        return ODG_EUNSUP;
    }
    const size_t n = m->P + m->B * m->D, M = m->B * m->D;
    memset(g, 0, n * sizeof(double));
    double loss = NAN;
    odg_status st;
    if (r->nout == 0) {
        st = odg_vanloan_linear(m->D, m->B, m->theta + A->offset, m->theta + b->offset, r->z0,
                                r->w, r->prob.t0, r->prob.t1, &loss, g + A->offset,
                                g + b->offset, g + m->P);
    } else {
        /* the loss is a sum over the output times, so its gradient is the sum of the gradients
         * of the single-time losses sum(w_k .* z(t_k)) / B: one Van Loan term each */
        double *gk = malloc(n * sizeof(double));
        st = gk ? ODG_OK : ODG_ENOMEM;
        loss = 0.0;
        for (long k = 0; k < r->nout && st == ODG_OK; k++) {
            double lk = NAN;
            st = odg_vanloan_linear(m->D, m->B, m->theta + A->offset, m->theta + b->offset, r->z0,
                                    r->w + (size_t)k * M, r->prob.t0, r->tout[k], &lk,
                                    gk + A->offset, gk + b->offset, gk + m->P);
            for (size_t i = 0; st == ODG_OK && i < n; i++) {
                g[i] += gk[i];
            }
            loss += lk;
        }
        free(gk);
    }
    h->loss = loss;
    h->converged = 1;
    h->error = NAN;
    snprintf(h->method, sizeof h->method, "%s", "vanloan");
    return st;
}

/* The discrete-exact gradient of problem p (backprop, or binomial checkpointing when the tape
 * would not fit the budget); N is its step count (adaptive: 0, the method is chosen for the
 * accepted steps of a first estimate). */
static odg_status exact_gradient(const ref_ctx *rc, const odg_problem *p, long N, double *g,
                                 odg_grad_stats *S, char method[32])
{
    odg_grad_opts o;
    odg_grad_opts_default(&o, ODG_METHOD_BACKPROP);
    if (N > 0 && odg_method_bytes(p, &o, N) > rc->budget) {
        odg_grad_opts_default(&o, ODG_METHOD_BACKPROP_CHECKPOINT);
        o.schedule = ODG_SCHEDULE_BINOMIAL;
    }
    snprintf(method, 32, "%s", odg_method_name(o.method));
    odg_mem mem;
    odg_mem_init(&mem);
    return odg_gradient(p, &o, &mem, g, g + rc->r->model->P, S);
}

static odg_status fine(const ref_ctx *rc, double *g, double *prev, ref_head *h)
{
    odg_run *r = rc->r;
    size_t n = r->model->P + r->model->B * r->model->D;
    odg_problem p = r->prob;
    p.tab = odg_scheme_tableau(ODG_SCHEME_DOPRI8);
    p.grid = NULL;
    memset(&p.adapt, 0, sizeof p.adapt);
    snprintf(h->scheme, sizeof h->scheme, "%s", odg_scheme_name(ODG_SCHEME_DOPRI8));
    h->change = h->error = NAN;
    odg_grad_stats S;
    int doubled = 0;
    /* every interval between output times takes at least one step */
    long N0 = ODG_REF_N0, intervals = p.nout + (p.nout > 0 && p.tout[p.nout - 1] < p.t1 ? 1 : 0);
    while (N0 < intervals) {
        N0 *= 2;
    }
    for (long N = N0;; N *= 2) {
        p.steps = N;
        odg_status st = exact_gradient(rc, &p, N, g, &S, h->method);
        if (st != ODG_OK) {
            return st;
        }
        h->N = N;
        h->loss = S.loss;
        if (N > N0) {
            h->change = odg_rel_err(prev, g, n);
            if (h->change < ODG_REF_TOL) {
                doubled = 1;
                break;
            }
        }
        if (N >= ODG_REF_NMAX) {
            break; /* not converged: recorded as such */
        }
        memcpy(prev, g, n * sizeof *g);
    }
    /* the second computation, into prev: another scheme and its own steps */
    odg_problem q = r->prob;
    q.tab = odg_scheme_tableau(ODG_SCHEME_DOPRI5);
    q.grid = NULL;
    q.steps = 0;
    odg_adapt_defaults(&q.adapt, ODG_REF_RTOL2, ODG_REF_RTOL2);
    q.adapt.max_steps = 4 * ODG_REF_NMAX;
    char m2[32];
    odg_status st = exact_gradient(rc, &q, 0, prev, &S, m2);
    if (st == ODG_OK) {
        h->error = odg_rel_err(prev, g, n);
        snprintf(h->second, sizeof h->second, "dopri5 rtol=%g, %ld steps", ODG_REF_RTOL2,
                 S.steps);
    } else {
        snprintf(h->second, sizeof h->second, "dopri5 rtol=%g: %s", ODG_REF_RTOL2,
                 odg_status_str(st));
    }
    h->converged = doubled && st == ODG_OK && h->error < ODG_REF_AGREE;
    return ODG_OK;
}

static int reference_child(void *vctx, int fd)
{
    ref_ctx *rc = vctx;
    odg_run *r = rc->r;
    if (r->cfg.threads > 0) {
        omp_set_num_threads(r->cfg.threads);
    }
    size_t n = r->model->P + r->model->B * r->model->D;
    ref_head h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, REF_MAGIC, 8);
    h.kind = rc->kind;
    h.P = r->model->P;
    h.M = r->model->B * r->model->D;
    double *g = malloc(n * sizeof(double)), *prev = malloc(n * sizeof(double));
    odg_status st = ODG_ENOMEM;
    if (g && prev) {
        st = rc->kind == ODG_REF_ANALYTIC ? analytic(r, g, &h) : fine(rc, g, prev, &h);
    }
    h.status = st;
    int rc_ = odg_write_all(fd, &h, sizeof h);
    if (rc_ == 0 && st == ODG_OK) {
        rc_ = odg_write_all(fd, g, n * sizeof *g);
    }
    free(prev);
    free(g);
    return rc_ == 0 ? 0 : 1;
}

/* ---- the entry point ---------------------------------------------------------------------- */

static void info_from_head(odg_ref_info *info, const ref_head *h)
{
    info->kind = (odg_ref_kind)h->kind;
    info->status = (odg_status)h->status;
    snprintf(info->scheme, sizeof info->scheme, "%s", h->scheme);
    snprintf(info->method, sizeof info->method, "%s", h->method);
    info->N = (long)h->N;
    info->converged = h->converged;
    info->change = h->change;
    info->loss = h->loss;
    info->error = h->error;
    snprintf(info->second, sizeof info->second, "%s", h->second);
}

/* Hands g to the caller, or frees it when the caller does not want it. */
static void give(double *g, double **gref)
{
    if (gref) {
        *gref = g;
    } else {
        free(g);
    }
}

odg_status odg_run_reference(odg_run *r, odg_ref_info *info, double **gref, char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    if (gref) {
        *gref = NULL;
    }
    memset(info, 0, sizeof *info);
    info->change = info->loss = info->error = NAN;
    odg_ref_kind kind = r->cfg.reference;
    if (kind == ODG_REF_AUTO) {
        kind = r->cfg.model.kind == ODG_MODEL_LINEAR ? ODG_REF_ANALYTIC : ODG_REF_FINE;
    }
    info->kind = kind;
    if (kind == ODG_REF_NONE) {
        return ODG_OK;
    }
    uint64_t key = reference_key(r, kind);
    snprintf(info->key, sizeof info->key, "%016llx", (unsigned long long)key);
    char dir[4096], path[4200];
    cache_dir(r, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s.ref", dir, info->key);

    size_t P = r->model->P, M = r->model->B * r->model->D, n = P + M;
    double *g = malloc(n * sizeof(double));
    if (!g) {
        info->status = ODG_ENOMEM;
        return odg_fail(err, ODG_ENOMEM, "out of memory for the reference");
    }
    ref_head h;
    if (cache_read(path, key, P, M, &h, g) == 0) {
        info_from_head(info, &h);
        info->cached = 1;
        odg_fmt(info->path, sizeof info->path, "%s", path);
        give(g, gref);
        return ODG_OK;
    }

    double budget = r->mem_limit;
    if (!isfinite(budget)) {
        double avail = odg_sys_mem_available();
        budget = isfinite(avail) ? 0.8 * avail : 0x1p40;
    }
    ref_ctx rc = {.r = r, .kind = kind, .budget = 0.5 * budget};
    odg_child res;
    odg_status st = odg_child_run(reference_child, &rc, 0, &res, err);
    if (st != ODG_OK) {
        free(g);
        info->status = st;
        return st;
    }
    if (res.len < sizeof h) {
        free(g);
        info->status = ODG_ENOMEM;
        if (res.signaled) {
            st = odg_fail(err, res.signo == SIGKILL ? ODG_ENOMEM : ODG_EIO,
                          "the reference computation was killed by signal %d%s", res.signo,
                          res.signo == SIGKILL ? " (out of memory?)" : "");
        } else {
            st = odg_fail(err, ODG_EIO, "the reference computation exited with code %d", res.code);
        }
        info->status = st;
        odg_child_free(&res);
        return st;
    }
    memcpy(&h, res.data, sizeof h);
    info_from_head(info, &h);
    if (h.status != ODG_OK || res.len != sizeof h + n * sizeof(double)) {
        st = h.status != ODG_OK ? (odg_status)h.status : ODG_EIO;
        info->status = st;
        odg_child_free(&res);
        free(g);
        return odg_fail(err, st, "the %s reference could not be computed: %s",
                        odg_ref_kind_name(kind), odg_status_str(st));
    }
    memcpy(g, res.data + sizeof h, n * sizeof(double));
    odg_child_free(&res);
    h.key = key;
    /* a cache that cannot be written costs only the next run's time */
    if (make_dirs(dir) == 0 && cache_write(path, &h, g, n) == 0) {
        odg_fmt(info->path, sizeof info->path, "%s", path);
    }
    give(g, gref);
    return ODG_OK;
}
