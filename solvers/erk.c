/* The explicit Runge-Kutta engine: one forward step and one discrete-adjoint step for every
 * tableau, the replay of a step grid, and adaptive stepping.  docs/theory.md sections 2 and 3;
 * Hairer, Norsett & Wanner, Solving ODEs I (2nd ed.), II.4 (step-size control, initial step).
 *
 * Determinism: every vector update is element-wise, so splitting it over threads cannot change
 * a bit; the one reduction (the error norm) sums fixed chunks in chunk order.  Stage inputs and
 * the new state are formed by the same routine (combine), so for an FSAL tableau the last stage
 * input equals the new state bit for bit and reusing its derivative changes nothing.
 */
#include "odegrad/solvers.h"

#include <math.h>
#include <string.h>

/* Elements per chunk of a vector update.  Fixed, so that chunk boundaries (and the order of the
 * error norm's partial sums) do not depend on the number of threads. */
#define ODG_CHUNK 4096

/* A vector update opens a parallel region only from this many chunks on (64K doubles).  Below
 * it an element-wise pass takes microseconds, less than waking a thread team, and on a busy
 * machine far less than waiting for every thread of the team to be scheduled.  The chunk
 * boundaries, and so the results, are the same either way. */
#define ODG_PAR_CHUNKS 16

struct odg_erk {
    const odg_tableau *tab;
    size_t n, np;
    odg_mem *mem;
    unsigned parts;  /* ODG_ERK_*: what was allocated */
    double *K;       /* (s, n) stage derivatives of the last step */
    double *Zst;     /* (s, n) with ODG_ERK_TAPE, else (1, n): stage inputs */
    double *kbar;    /* (s, n) stage cotangents in the adjoint step (ODG_ERK_ADJOINT) */
    double *ybar;    /* (n) one stage's VJP (ODG_ERK_ADJOINT) */
    double *znext;   /* (n) the proposed new state in a solve */
    double *err;     /* (n) the embedded error estimate (ODG_ERK_ADAPTIVE) */
    double *k1;      /* (n) f at the start of the next step (FSAL or fresh) */
    double *partial; /* (nchunks) partial sums of the error norm (ODG_ERK_ADAPTIVE) */
    size_t na;       /* activations per stage; 0: none kept */
    double *Ast_own; /* (s, na) the stages' activations (ODG_TAG_ACTIVATION) */
    double *Ast;     /* where the step being taken writes them: Ast_own, or a caller's buffer
                        during a solve whose hook says where (odg_erk_hook.acts) */
    double *k1act;   /* (na) the activations of k1 */
    size_t nchunks;
    int need[ODG_MAX_STAGES]; /* stage cotangent can be non-zero in the adjoint */
    int error_only[ODG_MAX_STAGES]; /* k_i feeds only the error estimate (not FSAL's k_1) */
    double d[ODG_MAX_STAGES]; /* b_i - bt_i, the error weights */
    odg_erk_counts cnt;
};

/* ---- grids -------------------------------------------------------------------------------- */

odg_status odg_grid_init(odg_grid *g, odg_mem *mem, long cap)
{
    memset(g, 0, sizeof *g);
    if (cap < 1) {
        cap = 1;
    }
    g->mem = mem;
    g->t = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, (size_t)cap + 1);
    g->h = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, (size_t)cap);
    if (!g->t || !g->h) {
        odg_grid_free(g);
        return ODG_ENOMEM;
    }
    g->cap = cap;
    return ODG_OK;
}

void odg_grid_free(odg_grid *g)
{
    if (g->mem) {
        odg_mem_free(g->mem, g->t);
        odg_mem_free(g->mem, g->h);
    }
    g->t = g->h = NULL;
    g->N = g->cap = 0;
}

double odg_grid_t(const odg_grid *g, long n)
{
    if (g->t) {
        return g->t[n];
    }
    if (g->nseg > 0) {
        /* the segment holding node n: the first j with n < end[j] (n == N: the last end) */
        long lo = 0, hi = g->nseg - 1;
        while (lo < hi) {
            long mid = (lo + hi) / 2;
            if (n < g->end[mid]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        long start = lo > 0 ? g->end[lo - 1] : 0, Nj = g->end[lo] - start;
        return n < g->end[lo] ? g->b[lo] + (double)(n - start) * ((g->b[lo + 1] - g->b[lo]) /
                                                                     (double)Nj)
                              : g->b[lo + 1];
    }
    /* the same expressions the arrays of a uniform grid once held, so the same bits */
    return n < g->N ? g->t0 + (double)n * ((g->t1 - g->t0) / (double)g->N) : g->t1;
}

double odg_grid_h(const odg_grid *g, long n)
{
    return g->h ? g->h[n] : odg_grid_t(g, n + 1) - odg_grid_t(g, n);
}

odg_status odg_grid_uniform(odg_grid *g, odg_mem *mem, double t0, double t1, long N)
{
    if (N < 1 || !isfinite(t0) || !isfinite(t1) || t0 == t1) {
        memset(g, 0, sizeof *g);
        return ODG_EINVAL;
    }
    /* h(n) is the difference of neighbouring nodes (exact when they are within a factor of two,
     * Sterbenz), so that t(n) + h(n) == t(n+1) and FSAL carries over every step */
    (void)mem;
    memset(g, 0, sizeof *g);
    g->t0 = t0;
    g->t1 = t1;
    g->N = g->cap = N;
    return ODG_OK;
}

odg_status odg_grid_segments(odg_grid *g, const double *b, const long *end, long nseg)
{
    memset(g, 0, sizeof *g);
    if (nseg < 1 || !b || !end) {
        return ODG_EINVAL;
    }
    for (long j = 0; j < nseg; j++) {
        if (!(b[j + 1] > b[j]) || !isfinite(b[j]) || !isfinite(b[j + 1]) ||
            end[j] - (j > 0 ? end[j - 1] : 0) < 1) {
            return ODG_EINVAL;
        }
    }
    g->t0 = b[0];
    g->t1 = b[nseg];
    g->N = g->cap = end[nseg - 1];
    g->nseg = nseg;
    g->b = b;
    g->end = end;
    return ODG_OK;
}

/* Appends a step, doubling the capacity when full (between steps, never inside one). */
static odg_status grid_push(odg_grid *g, double t, double h, double tnext)
{
    if (g->N == g->cap) {
        odg_grid bigger;
        odg_status st = odg_grid_init(&bigger, g->mem, 2 * g->cap);
        if (st) {
            return st;
        }
        memcpy(bigger.t, g->t, (size_t)(g->N + 1) * sizeof(double));
        memcpy(bigger.h, g->h, (size_t)g->N * sizeof(double));
        bigger.N = g->N;
        odg_grid_free(g);
        *g = bigger;
    }
    g->t[g->N] = t;
    g->h[g->N] = h;
    g->t[g->N + 1] = tnext;
    g->N++;
    return ODG_OK;
}

/* ---- create / destroy --------------------------------------------------------------------- */

odg_status odg_erk_create(odg_erk **out, const odg_tableau *tab, size_t n, size_t np,
                          odg_mem *mem)
{
    return odg_erk_create_parts(out, tab, n, np, ODG_ERK_ALL, mem);
}

odg_status odg_erk_create_parts(odg_erk **out, const odg_tableau *tab, size_t n, size_t np,
                                unsigned parts, odg_mem *mem)
{
    return odg_erk_create_act(out, tab, n, np, 0, parts, mem);
}

odg_status odg_erk_create_act(odg_erk **out, const odg_tableau *tab, size_t n, size_t np,
                              size_t na, unsigned parts, odg_mem *mem)
{
    *out = NULL;
    if (!tab || tab->s < 1 || tab->s > ODG_MAX_STAGES || n == 0 || !mem) {
        return ODG_EINVAL;
    }
    size_t s = (size_t)tab->s;
    if (n > SIZE_MAX / sizeof(double) / s || na > SIZE_MAX / sizeof(double) / (s + 1)) {
        return ODG_ENOMEM;
    }
    odg_erk *e = odg_mem_alloc(mem, ODG_TAG_WORKSPACE, sizeof *e);
    if (!e) {
        return ODG_ENOMEM;
    }
    e->tab = tab;
    e->n = n;
    e->np = np;
    e->mem = mem;
    e->parts = parts;
    e->nchunks = (n + ODG_CHUNK - 1) / ODG_CHUNK;
    int tape = (parts & ODG_ERK_TAPE) != 0, adj = (parts & ODG_ERK_ADJOINT) != 0,
        ada = (parts & ODG_ERK_ADAPTIVE) != 0;
    e->K = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, s * n);
    e->Zst = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, (tape ? s : 1) * n);
    e->kbar = adj ? odg_mem_doubles(mem, ODG_TAG_WORKSPACE, s * n) : NULL;
    e->ybar = adj ? odg_mem_doubles(mem, ODG_TAG_WORKSPACE, n) : NULL;
    e->znext = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, n);
    e->err = ada ? odg_mem_doubles(mem, ODG_TAG_WORKSPACE, n) : NULL;
    e->k1 = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, n);
    e->partial = ada ? odg_mem_doubles(mem, ODG_TAG_WORKSPACE, e->nchunks) : NULL;
    e->na = na;
    /* not zeroed: a row is written by its stage's f before anything reads it (an error-only
     * stage's row, never written, is never read), and zeroing (s + 1) B H doubles per solve
     * would cost as much as a few stages of the mlp at small D */
    const int own = na && !(parts & ODG_ERK_ACTS_HOOKED);
    e->Ast = e->Ast_own = own ? odg_mem_scratch(mem, ODG_TAG_ACTIVATION, s * na) : NULL;
    e->k1act = na ? odg_mem_scratch(mem, ODG_TAG_ACTIVATION, na) : NULL;
    if (!e->K || !e->Zst || (adj && (!e->kbar || !e->ybar)) || !e->znext ||
        (ada && (!e->err || !e->partial)) || !e->k1 || (own && !e->Ast) || (na && !e->k1act)) {
        odg_erk_destroy(&e);
        return ODG_ENOMEM;
    }
    /* A stage's cotangent kbar_i = h b_i lam + h sum_{j>i} a_ji Zbar_j can be non-zero only if
     * b_i != 0 or a later stage that matters reads k_i (dopri5's 7th stage does not). */
    for (int i = tab->s - 1; i >= 0; i--) {
        e->need[i] = tab->b[i] != 0.0;
        for (int j = i + 1; j < tab->s; j++) {
            e->need[i] |= e->need[j] && tab->a[j][i] != 0.0;
        }
        e->d[i] = tab->emb_order > 0 ? tab->b[i] - tab->bt[i] : 0.0;
    }
    /* The same stages are those that y_next does not read either.  Where the tableau is FSAL its
     * last stage is the next step's k_1, so nothing there is error-only; vern7, vern8 and vern9
     * end with a stage that only their error estimate reads. */
    const int fsal = odg_tableau_fsal(tab);
    for (int i = 0; i < tab->s; i++) {
        e->error_only[i] = !e->need[i] && !fsal;
    }
    *out = e;
    return ODG_OK;
}

void odg_erk_destroy(odg_erk **pe)
{
    odg_erk *e = *pe;
    if (!e) {
        return;
    }
    odg_mem *mem = e->mem;
    odg_mem_free(mem, e->K);
    odg_mem_free(mem, e->Zst);
    odg_mem_free(mem, e->kbar);
    odg_mem_free(mem, e->ybar);
    odg_mem_free(mem, e->znext);
    odg_mem_free(mem, e->err);
    odg_mem_free(mem, e->k1);
    odg_mem_free(mem, e->partial);
    odg_mem_free(mem, e->Ast_own);
    odg_mem_free(mem, e->k1act);
    odg_mem_free(mem, e);
    *pe = NULL;
}

const odg_tableau *odg_erk_tableau(const odg_erk *e)
{
    return e->tab;
}

odg_erk_counts odg_erk_counts_get(const odg_erk *e)
{
    return e->cnt;
}

void odg_erk_counts_reset(odg_erk *e)
{
    memset(&e->cnt, 0, sizeof e->cnt);
}

const double *odg_erk_K(const odg_erk *e)
{
    return e->K;
}

double *odg_erk_stages(odg_erk *e)
{
    return (e->parts & ODG_ERK_TAPE) ? e->Zst : NULL;
}

double *odg_erk_acts(odg_erk *e)
{
    return e->Ast;
}

size_t odg_erk_act_bytes(const odg_tableau *tab, size_t na, unsigned parts)
{
    const size_t rows = (parts & ODG_ERK_ACTS_HOOKED) ? 1 : (size_t)tab->s + 1;
    return sizeof(double) * rows * na;
}

size_t odg_erk_workspace_bytes(const odg_tableau *tab, size_t n, unsigned parts)
{
    size_t s = (size_t)tab->s, nchunks = (n + ODG_CHUNK - 1) / ODG_CHUNK;
    size_t doubles = s * n                                       /* K */
                     + ((parts & ODG_ERK_TAPE) ? s : 1) * n      /* stage inputs */
                     + 2 * n                                     /* znext, k1 */
                     + ((parts & ODG_ERK_ADJOINT) ? s * n + n : 0) /* kbar, ybar */
                     + ((parts & ODG_ERK_ADAPTIVE) ? n + nchunks : 0); /* err, partial */
    return sizeof(struct odg_erk) + sizeof(double) * doubles;
}

/* ---- vector kernels ----------------------------------------------------------------------- */

/* out = z + h sum_{j<m} coef[j] K_j (K is (m, n)), z == NULL read as zero; coef[j] == 0 terms are
 * skipped.  Returns 1 if any element of out is not finite.  Element-wise, so any split over
 * threads gives the same bits.  The sum is formed in a block of COMBINE_BLOCK elements on the
 * stack, j by j, so that out is written once instead of m + 2 times (the update is memory-bound:
 * for the adjoint's M + P numbers it was most of what a step spent outside f and the VJP); each
 * element's operations are those of 0 + c_0 K_0 + c_1 K_1 + ... in order, as before. */
#define COMBINE_BLOCK 256
ODG_SIMD_CLONES static int combine_chunk(size_t n, size_t lo, size_t hi, double *restrict out,
                                         const double *z, double h, const double *coef, int m,
                                         const double *K)
{
    int bad = 0;
    double acc[COMBINE_BLOCK];
    for (size_t b0 = lo; b0 < hi; b0 += COMBINE_BLOCK) {
        const size_t nb = hi - b0 < COMBINE_BLOCK ? hi - b0 : COMBINE_BLOCK;
#pragma omp simd
        for (size_t e = 0; e < nb; e++) {
            acc[e] = 0.0;
        }
        for (int j = 0; j < m; j++) {
            if (coef[j] == 0.0) {
                continue;
            }
            const double *Kj = K + (size_t)j * n + b0;
            const double cj = coef[j];
#pragma omp simd
            for (size_t e = 0; e < nb; e++) {
                acc[e] += cj * Kj[e];
            }
        }
        if (z) {
#pragma omp simd reduction(| : bad)
            for (size_t e = 0; e < nb; e++) {
                const double v = z[b0 + e] + h * acc[e];
                out[b0 + e] = v;
                bad |= !isfinite(v);
            }
        } else {
#pragma omp simd reduction(| : bad)
            for (size_t e = 0; e < nb; e++) {
                const double v = 0.0 + h * acc[e];
                out[b0 + e] = v;
                bad |= !isfinite(v);
            }
        }
    }
    return bad;
}

static int combine(size_t n, double *restrict out, const double *z, double h, const double *coef,
                   int m, const double *K)
{
    long nch = (long)((n + ODG_CHUNK - 1) / ODG_CHUNK);
    if (nch < ODG_PAR_CHUNKS || !odg_team_possible()) {
        return combine_chunk(n, 0, n, out, z, h, coef, m, K); /* element-wise: same bits */
    }
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (long c = 0; c < nch; c++) {
        size_t lo = (size_t)c * ODG_CHUNK, hi = lo + ODG_CHUNK < n ? lo + ODG_CHUNK : n;
        bad |= combine_chunk(n, lo, hi, out, z, h, coef, m, K);
    }
    return bad;
}

/* y[lo:hi] += alpha x[lo:hi] */
ODG_SIMD_CLONES static void axpy_range(size_t lo, size_t hi, double alpha, const double *restrict x,
                                       double *restrict y)
{
#pragma omp simd
    for (size_t e = lo; e < hi; e++) {
        y[e] += alpha * x[e];
    }
}

/* y += alpha x, element-wise. */
static void axpy(size_t n, double alpha, const double *restrict x, double *restrict y)
{
    long nch = (long)((n + ODG_CHUNK - 1) / ODG_CHUNK);
    if (nch < ODG_PAR_CHUNKS || !odg_team_possible()) {
        axpy_range(0, n, alpha, x, y);
        return;
    }
#pragma omp parallel for schedule(static)
    for (long c = 0; c < nch; c++) {
        size_t lo = (size_t)c * ODG_CHUNK, hi = lo + ODG_CHUNK < n ? lo + ODG_CHUNK : n;
        axpy_range(lo, hi, alpha, x, y);
    }
}

/* y = alpha x, element-wise */
ODG_SIMD_CLONES static void scale_into(size_t n, double alpha, const double *restrict x,
                                       double *restrict y)
{
#pragma omp simd
    for (size_t e = 0; e < n; e++) {
        y[e] = alpha * x[e];
    }
}

/* sum over [lo, hi) of (err_i / (atol + rtol max(|z_i|, |znext_i|)))^2, in index order */
static double chunk_sumsq(const double *err, const double *z, const double *znext, size_t lo,
                          size_t hi, double rtol, double atol)
{
    double s = 0.0;
    for (size_t i = lo; i < hi; i++) {
        double sc = atol + rtol * fmax(fabs(z[i]), fabs(znext[i]));
        double r = err[i] / sc;
        s += r * r;
    }
    return s;
}

/* e->partial[c] for the chunks c < nch of n numbers: error_norm's worksharing loop */
static void error_partials(odg_erk *e, const double *err, const double *z, const double *znext,
                           double rtol, double atol, size_t n, long nch)
{
#pragma omp for schedule(static)
    for (long c = 0; c < nch; c++) {
        size_t lo = (size_t)c * ODG_CHUNK, hi = lo + ODG_CHUNK < n ? lo + ODG_CHUNK : n;
        e->partial[c] = chunk_sumsq(err, z, znext, lo, hi, rtol, atol);
    }
}

/* The error norm of docs/theory.md section 2:
 * sqrt(mean((err_i / (atol + rtol max(|z_i|, |znext_i|)))^2)), summed chunk by chunk in chunk
 * order, so the value is the same for any number of threads. */
static double error_norm(odg_erk *e, const double *err, const double *z, const double *znext,
                         double rtol, double atol, size_t n)
{
    long nch = (long)((n + ODG_CHUNK - 1) / ODG_CHUNK);
    /* per-chunk partial sums added in chunk order on either path, so the same bits */
    ODG_PARALLEL(nch >= ODG_PAR_CHUNKS, error_partials(e, err, z, znext, rtol, atol, n, nch));
    double total = 0.0;
    for (long c = 0; c < nch; c++) {
        total += e->partial[c];
    }
    return sqrt(total / (double)n);
}

/* The same norm of a single vector v, scaled by atol + rtol |z| (initial-step heuristic). */
static double scaled_norm(const double *v, const double *z, size_t n, double rtol, double atol)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double r = v[i] / (atol + rtol * fabs(z[i]));
        s += r * r;
    }
    return sqrt(s / (double)n);
}

static int all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            return 0;
        }
    }
    return 1;
}

/* ---- one step and its adjoint ------------------------------------------------------------- */

/* Whether this engine keeps the activations of this system's evaluations. */
static int keeps_acts(const odg_erk *e, const odg_system *sys)
{
    return e->na > 0 && sys->na == e->na && sys->f_act && sys->vjp_act;
}

/* dy = f(t, y), counted; with act, its activations into A. */
static int eval_f(odg_erk *e, const odg_system *sys, int act, double t, const double *y,
                  double *dy, double *A)
{
    e->cnt.nfe++;
    return act ? sys->f_act(sys->ctx, t, y, dy, A) : sys->f(sys->ctx, t, y, dy);
}

/* Where step n of a solve writes its activations: the hook's buffer for it, or the engine's. */
static void acts_for_step(odg_erk *e, const odg_erk_hook *hook, long n)
{
    double *dst = e->na && hook && hook->acts ? hook->acts(hook->ctx, n) : NULL;
    e->Ast = dst ? dst : e->Ast_own;
}

/* After a step is accepted: f at the next start is its last stage (FSAL), activations too. */
static void carry_k1(odg_erk *e, const odg_system *sys)
{
    const size_t s1 = (size_t)e->tab->s - 1;
    memcpy(e->k1, e->K + s1 * e->n, e->n * sizeof(double));
    if (keeps_acts(e, sys)) {
        memcpy(e->k1act, e->Ast + s1 * e->na, e->na * sizeof(double));
    }
}

odg_status odg_erk_step(odg_erk *e, const odg_system *sys, double t, double h, const double *z,
                        double *znext, double *Zst, double *err, const double *k1)
{
    const odg_tableau *tab = e->tab;
    size_t n = e->n;
    if (sys->n != n || znext == z) {
        return ODG_EINVAL;
    }
    double *Y = Zst ? Zst : e->Zst;
    int rc;
    const int act = keeps_acts(e, sys);
    if (act && k1 && k1 != e->k1) {
        return ODG_EINVAL; /* only the engine's own k1 comes with its activations */
    }
    if (act && !e->Ast) {
        return ODG_EINVAL; /* ODG_ERK_ACTS_HOOKED, and no hook gave this step a buffer */
    }
    /* stage 1: Z_1 = z */
    if (Zst) {
        memcpy(Zst, z, n * sizeof(double));
    }
    if (k1) {
        memcpy(e->K, k1, n * sizeof(double));
        if (act) {
            memcpy(e->Ast, e->k1act, e->na * sizeof(double));
        }
    } else {
        rc = eval_f(e, sys, act, t, z, e->K, e->Ast);
        if (rc) {
            return (odg_status)rc;
        }
    }
    for (int i = 1; i < tab->s; i++) {
        /* with Zst NULL every stage input reuses the first row of the engine's buffer */
        double *Zi = Zst ? Zst + (size_t)i * n : Y;
        if (!Zst && !err && e->error_only[i]) {
            continue; /* nothing reads it: no estimate asked for, no stage inputs kept */
        }
        if (combine(n, Zi, z, h, tab->a[i], i, e->K)) {
            return ODG_DIVERGED;
        }
        if (!err && e->error_only[i]) {
            continue; /* its input is kept (Zst), but k_i would feed only the estimate */
        }
        rc = eval_f(e, sys, act, t + tab->c[i] * h, Zi, e->K + (size_t)i * n,
                    act ? e->Ast + (size_t)i * e->na : NULL);
        if (rc) {
            return (odg_status)rc;
        }
    }
    int bad = combine(n, znext, z, h, tab->b, tab->s, e->K);
    if (err) {
        if (tab->emb_order == 0) {
            return ODG_EUNSUP;
        }
        combine(n, err, NULL, h, e->d, tab->s, e->K); /* err = h sum_i (b_i - bt_i) k_i */
    }
    return bad ? ODG_DIVERGED : ODG_OK;
}

odg_status odg_erk_adjoint_step(odg_erk *e, const odg_system *sys, double t, double h,
                                const double *Zst, double *lam, double *gp)
{
    return odg_erk_adjoint_step_act(e, sys, t, h, Zst, NULL, lam, gp);
}

odg_status odg_erk_adjoint_step_act(odg_erk *e, const odg_system *sys, double t, double h,
                                    const double *Zst, const double *Ast, double *lam, double *gp)
{
    const odg_tableau *tab = e->tab;
    size_t n = e->n;
    if (sys->n != n || !sys->vjp || sys->np != e->np || !(e->parts & ODG_ERK_ADJOINT) ||
        (Ast && (!sys->vjp_act || sys->na == 0))) {
        return ODG_EINVAL;
    }
    int s = tab->s;
    /* kbar_i = h b_i lam_{n+1} */
    for (int i = 0; i < s; i++) {
        if (!e->need[i]) {
            continue;
        }
        scale_into(n, h * tab->b[i], lam, e->kbar + (size_t)i * n);
    }
    /* lam_n = lam_{n+1} + sum_i Zbar_i;  kbar_j += h a_ij Zbar_i for j < i */
    for (int i = s - 1; i >= 0; i--) {
        if (!e->need[i]) {
            continue;
        }
        const double ti = t + tab->c[i] * h, *Zi = Zst + (size_t)i * n;
        int rc = Ast ? sys->vjp_act(sys->ctx, ti, Zi, Ast + (size_t)i * sys->na,
                                    e->kbar + (size_t)i * n, e->ybar, gp)
                     : sys->vjp(sys->ctx, ti, Zi, e->kbar + (size_t)i * n, e->ybar, gp);
        e->cnt.nvjp++;
        if (rc) {
            return (odg_status)rc;
        }
        axpy(n, 1.0, e->ybar, lam);
        for (int j = 0; j < i; j++) {
            if (tab->a[i][j] != 0.0 && e->need[j]) {
                axpy(n, h * tab->a[i][j], e->ybar, e->kbar + (size_t)j * n);
            }
        }
    }
    return all_finite(lam, n) ? ODG_OK : ODG_DIVERGED;
}

void odg_erk_dense(const odg_tableau *tab, size_t n, double theta, double h, const double *z,
                   const double *K, double *y)
{
    double w[ODG_MAX_STAGES];
    for (int i = 0; i < tab->s; i++) {
        /* b_i(theta) by Horner: sum_{q=1..deg} dense[i][q-1] theta^q */
        double p = 0.0;
        for (int q = tab->dense_deg; q >= 1; q--) {
            p = p * theta + tab->dense[i][q - 1];
        }
        w[i] = p * theta;
    }
    combine(n, y, z, h, w, tab->s, K);
}

/* ---- solves ------------------------------------------------------------------------------- */

odg_status odg_erk_run_grid(odg_erk *e, const odg_system *sys, const odg_grid *g, double *z,
                            const odg_erk_hook *hook)
{
    size_t n = e->n;
    int fsal = odg_tableau_fsal(e->tab);
    int have_k1 = 0;
    double *tape = odg_erk_stages(e);
    odg_status st = ODG_OK;
    for (long k = 0; k < g->N; k++) {
        double t = odg_grid_t(g, k), h = odg_grid_h(g, k);
        acts_for_step(e, hook, k);
        /* FSAL: the last stage was evaluated at (t_prev + h_prev, znext); it is f at the start
         * of this step only when this step starts exactly there. */
        const double *k1 =
            have_k1 && odg_grid_t(g, k - 1) + odg_grid_h(g, k - 1) == t ? e->k1 : NULL;
        st = odg_erk_step(e, sys, t, h, z, e->znext, tape, NULL, k1);
        if (st) {
            break;
        }
        e->cnt.naccept++;
        if (hook && hook->accepted) {
            odg_step_info info = {k, t, h, z, tape, e->K, e->znext,
                                  keeps_acts(e, sys) ? e->Ast : NULL};
            int rc = hook->accepted(hook->ctx, &info);
            if (rc) {
                st = (odg_status)rc;
                break;
            }
        }
        memcpy(z, e->znext, n * sizeof(double));
        if (fsal) {
            carry_k1(e, sys);
            have_k1 = 1;
        }
    }
    e->Ast = e->Ast_own;
    return st;
}

void odg_adapt_defaults(odg_adapt_opts *o, double rtol, double atol)
{
    o->rtol = rtol;
    o->atol = atol;
    o->h0 = 0.0;
    o->max_steps = 100000;
    o->safety = 0.9;
    o->fac_min = 0.2;
    o->fac_max = 10.0;
    o->beta = 0.04;
    o->norm_len = 0;
}

/* The initial step of Hairer, Norsett & Wanner I, II.4 ("Starting step size"), with f0 = f(t0, z)
 * given; uses one more f evaluation.  q is the order of the scheme. */
static odg_status initial_step(odg_erk *e, const odg_system *sys, double t0, double dir,
                               const double *z, const double *f0, int q,
                               const odg_adapt_opts *o, double *h_out)
{
    size_t n = e->n, nn = o->norm_len > 0 && o->norm_len < n ? o->norm_len : n;
    double d0 = scaled_norm(z, z, nn, o->rtol, o->atol);
    double d1 = scaled_norm(f0, z, nn, o->rtol, o->atol);
    double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    double *z1 = e->znext, *f1 = e->err;
    for (size_t i = 0; i < n; i++) {
        z1[i] = z[i] + dir * h0 * f0[i];
    }
    int rc = sys->f(sys->ctx, t0 + dir * h0, z1, f1);
    e->cnt.nfe++;
    if (rc) {
        return (odg_status)rc;
    }
    for (size_t i = 0; i < n; i++) {
        f1[i] -= f0[i];
    }
    double d2 = scaled_norm(f1, z, nn, o->rtol, o->atol) / h0;
    double dmax = fmax(d1, d2);
    double h1 = dmax <= 1e-15 ? fmax(1e-6, h0 * 1e-3) : pow(0.01 / dmax, 1.0 / (q + 1));
    *h_out = fmin(100 * h0, h1);
    return ODG_OK;
}

static odg_status run_adaptive(odg_erk *e, const odg_system *sys, double t0, double t1,
                               const odg_adapt_opts *o, double *z, const odg_erk_hook *hook,
                               odg_grid *grid);

odg_status odg_erk_run_adaptive(odg_erk *e, const odg_system *sys, double t0, double t1,
                                const odg_adapt_opts *o, double *z, const odg_erk_hook *hook,
                                odg_grid *grid)
{
    odg_status st = run_adaptive(e, sys, t0, t1, o, z, hook, grid);
    e->Ast = e->Ast_own; /* a hook's buffer serves during the solve only */
    return st;
}

static odg_status run_adaptive(odg_erk *e, const odg_system *sys, double t0, double t1,
                               const odg_adapt_opts *o, double *z, const odg_erk_hook *hook,
                               odg_grid *grid)
{
    const odg_tableau *tab = e->tab;
    size_t n = e->n;
    if (sys->n != n || !(e->parts & ODG_ERK_ADAPTIVE) || !odg_tableau_adaptive(tab) ||
        !(o->rtol >= 0) || !(o->atol >= 0) ||
        (o->rtol == 0 && o->atol == 0) || !isfinite(t0) || !isfinite(t1) || o->max_steps < 1) {
        return ODG_EINVAL;
    }
    if (grid && !(grid->N > 0 && grid->t[grid->N] == t0)) {
        grid->N = 0; /* a new solve; one that continues where the grid ends appends to it */
        grid->t[0] = t0;
    }
    if (t0 == t1) {
        return ODG_OK;
    }
    double dir = t1 > t0 ? 1.0 : -1.0;
    int fsal = odg_tableau_fsal(tab);
    const int act = keeps_acts(e, sys);
    int rc = eval_f(e, sys, act, t0, z, e->k1, e->k1act);
    if (rc) {
        return (odg_status)rc;
    }
    if (!all_finite(e->k1, n)) {
        return ODG_DIVERGED;
    }
    double habs;
    if (o->h0 > 0) {
        habs = o->h0;
    } else {
        odg_status st = initial_step(e, sys, t0, dir, z, e->k1, tab->order, o, &habs);
        if (st) {
            return st;
        }
    }
    habs = fmin(habs, fabs(t1 - t0));
    /* PI controller (HNW II.4, "PI step size control"): alpha from the lower of the two orders */
    double alpha = 1.0 / (tab->emb_order + 1) - 0.75 * o->beta;
    double errold = 1e-4;
    int rejected_last = 0;
    double t = t0;
    long attempts = 0, naccepted = 0;
    for (;;) {
        if (++attempts > o->max_steps) {
            return ODG_ESTEPS;
        }
        int last = habs >= fabs(t1 - t);
        double h = last ? t1 - t : dir * habs;
        acts_for_step(e, hook, grid ? grid->N : naccepted); /* each attempt at the next step */
        odg_status st = odg_erk_step(e, sys, t, h, z, e->znext, odg_erk_stages(e), e->err, e->k1);
        double en;
        if (st == ODG_DIVERGED) {
            en = INFINITY; /* a trial step that overflowed is rejected, not fatal */
        } else if (st) {
            return st;
        } else {
            en = error_norm(e, e->err, z, e->znext, o->rtol, o->atol,
                            o->norm_len > 0 && o->norm_len < n ? o->norm_len : n);
        }
        if (en <= 1.0) {
            double tnext = t + h;
            if (grid) {
                st = grid_push(grid, t, h, tnext);
                if (st) {
                    return st;
                }
            }
            e->cnt.naccept++;
            naccepted++;
            if (hook && hook->accepted) {
                long k = grid ? grid->N - 1 : naccepted - 1;
                odg_step_info info = {k, t, h, z, odg_erk_stages(e), e->K, e->znext,
                                      act ? e->Ast : NULL};
                rc = hook->accepted(hook->ctx, &info);
                if (rc) {
                    return (odg_status)rc;
                }
            }
            memcpy(z, e->znext, n * sizeof(double));
            if (last) {
                return ODG_OK;
            }
            t = tnext;
            if (fsal) {
                carry_k1(e, sys);
            } else {
                rc = eval_f(e, sys, act, t, z, e->k1, e->k1act);
                if (rc) {
                    return (odg_status)rc;
                }
            }
            double fac = o->safety * pow(fmax(en, 1e-10), -alpha) * pow(errold, o->beta);
            fac = fmin(o->fac_max, fmax(o->fac_min, fac));
            if (rejected_last) {
                fac = fmin(fac, 1.0);
            }
            habs *= fac;
            errold = fmax(en, 1e-4);
            rejected_last = 0;
        } else {
            e->cnt.nreject++;
            double fac = isfinite(en) ? o->safety * pow(en, -1.0 / (tab->emb_order + 1)) : 0.0;
            habs *= fmax(o->fac_min, fac);
            rejected_last = 1;
        }
        if (habs <= 16 * 2.220446049250313e-16 * fmax(fabs(t), 1.0)) {
            return st == ODG_DIVERGED ? ODG_DIVERGED : ODG_ESTEPS;
        }
    }
}
