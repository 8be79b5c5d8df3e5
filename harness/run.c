/* One run of one configuration (include/odegrad/columns.def).
 *
 * Prepare: check the configuration, build the problem from a seeded odg_rng (theta, then z0,
 * then w, each ~ as docs/theory.md section 1), overwrite what --load provides, and check the
 * method against the problem; all of it before any output file exists.
 * Execute: refuse a configuration whose docs/theory.md section 6 bytes exceed the memory limit
 * (status oom), get the reference (docs/theory.md section 8), and measure in a forked child: one
 * gradient for the resident peak from memory just given back, W warm-up gradients and R timed
 * ones (timed_gradients), then the errors against the reference and against the discrete-exact
 * gradient at the same steps.  Right after the timed gradients, with the same threads, it measures
 * the DGEMM rate at the model's shapes (the roofline, docs/theory.md section 9) that the gradient's
 * own rate is read against.  The child reports after measuring and again after the errors, so a
 * child stopped late (timeout, OOM killer) still leaves its timings in the record. */
#include "harness_impl.h"

#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- what a configuration needs (for refusing before running) ----------------------------- */

double odg_method_bytes(const odg_problem *p, const odg_grad_opts *o, long N)
{
    odg_grad_memory m;
    if (odg_gradient_memory(p, o, N, &m) != ODG_OK) {
        return INFINITY;
    }
    /* and the gradient itself, which the measuring child holds: gtheta (P) and gz0 (B, D) */
    return m.peak + ((double)p->model->P + (double)p->model->B * (double)p->model->D) * 8.0;
}

/* The problem's own arrays: theta, the model's scratch, z0, w (one (B, D) array per output) and
 * the output times (models/: mlp keeps two (B, H) buffers). */
static double problem_bytes(const odg_run_config *c)
{
    const double K = (double)odg_output_count(c), Kw = K > 0 ? K : 1;
    double D = (double)c->model.D, B = (double)c->model.B, H = (double)c->model.H;
    double P, scratch;
    if (c->model.kind == ODG_MODEL_MLP) {
        double Din = D + (c->model.time_input ? 1 : 0);
        P = H * Din + H + D * H + D;
        scratch = 2 * B * H;
    } else if (c->model.kind == ODG_MODEL_LINEAR) {
        P = D * D + D;
        scratch = B * D;
    } else if (c->model.kind == ODG_MODEL_CNF) {
        /* models/cnf.c: four (B, H) arrays, eps (B, D), the per-chunk partials; rows of D + 1 */
        double chunk = c->model.batch_chunk > 0 ? (double)c->model.batch_chunk : ODG_BATCH_CHUNK;
        P = 2 * H * D + H + D;
        scratch = 4 * B * H + 3 * H + B * D + ceil(B / chunk) * P;
        D += 1;
    } else {
        /* a plugin's P is known once it is loaded; this bound is for the batch alone */
        P = 0;
        scratch = 0;
    }
    return (P + scratch + (1 + Kw) * B * D + K) * sizeof(double);
}

/* ---- prepare ------------------------------------------------------------------------------ */

static odg_status check_dir(const char *dir, const char *flag, int writable, char err[ODG_ERRLEN])
{
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        return odg_fail(err, ODG_EIO, "%s: '%s': %s", flag, dir, strerror(errno));
    }
    if (!S_ISDIR(sb.st_mode)) {
        return odg_fail(err, ODG_EIO, "%s: '%s' is not a directory", flag, dir);
    }
    if (access(dir, writable ? (W_OK | X_OK) : (R_OK | X_OK)) != 0) {
        return odg_fail(err, ODG_EIO, "%s: '%s': %s", flag, dir, strerror(errno));
    }
    if (writable) {
        /* Tried for real, as the save will do it (a directory of temporary files): access()
         * says yes to root where nothing can be created (/proc), and a read-only mount or a
         * full inode table says no only when asked. */
        char probe[4096];
        if (snprintf(probe, sizeof probe, "%s/.odegrad-probe-XXXXXX", dir) >= (int)sizeof probe) {
            return odg_fail(err, ODG_EINVAL, "%s: the directory name is too long", flag);
        }
        if (mkdtemp(probe) == NULL) {
            return odg_fail(err, ODG_EIO, "%s: '%s': cannot create files there: %s", flag, dir,
                            strerror(errno));
        }
        rmdir(probe);
    }
    return ODG_OK;
}

/* Where --load names a file: absent (ENOENT: generated from the seed), or a regular file
 * behind any links.  A dangling symbolic link is not "absent" (it names a file the user meant
 * to load), and a FIFO would block the read for ever. */
static odg_status load_file_check(const char *path, int *present, char err[ODG_ERRLEN])
{
    struct stat sb;
    *present = 0;
    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT) {
            return ODG_OK;
        }
        return odg_fail(err, ODG_EIO, "--load: %s: %s", path, strerror(errno));
    }
    int link = S_ISLNK(sb.st_mode);
    if (link && stat(path, &sb) != 0) {
        int e = errno;
        char to[512];
        ssize_t k = readlink(path, to, sizeof to - 1);
        to[k > 0 ? k : 0] = '\0';
        return odg_fail(err, ODG_EIO, "--load: %s: a symbolic link to '%s', %s", path, to,
                        e == ENOENT ? "which does not exist" : strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        return odg_fail(err, ODG_EIO, "--load: %s: %snot a regular file (%s)", path,
                        link ? "a symbolic link to something " : "",
                        odg_file_kind((unsigned)sb.st_mode));
    }
    *present = 1;
    return ODG_OK;
}

/* A loaded array must be finite: NaN or inf in the input is bad input, not a divergence of the
 * method.  The message names the file and the first bad value's index (row, column for a
 * matrix). */
static odg_status load_finite(const char *dir, const char *name, const double *x, size_t rows,
                              size_t cols, char err[ODG_ERRLEN])
{
    for (size_t i = 0; i < rows * cols; i++) {
        if (!isfinite(x[i])) {
            char at[64];
            if (cols > 1) {
                odg_fmt(at, sizeof at, "[%zu, %zu]", i / cols, i % cols);
            } else {
                odg_fmt(at, sizeof at, "[%zu]", i);
            }
            return odg_fail(err, ODG_EINVAL,
                            "--load: %s/%s.npy: the value at %s is %s; the "
                            "problem's arrays must be finite",
                            dir, name, at,
                            isnan(x[i]) ? "nan"
                            : x[i] > 0  ? "inf"
                                        : "-inf");
        }
    }
    return ODG_OK;
}

/* The cnf's initial state: each row (x, 0), x a sample of the data (--data): a toy density drawn
 * from rng after theta, z0 and w (which it replaces), or the rows of a (B, D) .npy file. */
static odg_status cnf_data(odg_run *r, odg_rng *rng, char err[ODG_ERRLEN])
{
    const size_t B = r->model->B, S = r->model->D, D = S - 1;
    const char *data = r->cfg.data ? r->cfg.data : "moons";
    memset(r->z0, 0, B * S * sizeof(double));
    odg_dataset k;
    if (odg_dataset_from_name(data, &k) == ODG_OK) {
        return odg_dataset_draw(k, rng, B, D, r->z0, S);
    }
    int present;
    odg_status st = load_file_check(data, &present, err);
    if (st != ODG_OK) {
        return st;
    }
    if (!present) {
        return odg_fail(err, ODG_EIO, "--data: '%s': no such file", data);
    }
    double *X = odg_mem_doubles(&r->mem, ODG_TAG_WORKSPACE, B * D);
    if (X == NULL) {
        return odg_fail(err, ODG_ENOMEM, "--data: the (B, D) data do not fit");
    }
    char e2[ODG_ERRLEN];
    size_t shape[2] = {B, D};
    st = odg_npy_load(data, 2, shape, X, e2);
    if (st != ODG_OK) {
        odg_mem_free(&r->mem, X);
        return odg_fail(err, st, "--data: %s (the data are (--batch, --dim))", e2);
    }
    for (size_t i = 0; i < B; i++) {
        for (size_t d = 0; d < D; d++) {
            if (!isfinite(X[i * D + d])) {
                odg_mem_free(&r->mem, X);
                return odg_fail(err, ODG_EINVAL, "--data: '%s' has a non-finite number at (%zu, "
                                "%zu)", data, i, d);
            }
            r->z0[i * S + d] = X[i * D + d];
        }
    }
    odg_mem_free(&r->mem, X);
    return ODG_OK;
}

static odg_status load_problem(odg_run *r, char err[ODG_ERRLEN])
{
    const char *dir = r->cfg.load_dir;
    char e2[ODG_ERRLEN], path[4096];
    unsigned views = 0;
    odg_status st;
    int present;
    /* every file the model would read, checked first: odg_model_load skips what access() does
     * not see, a dangling link among them */
    for (int v = 0; v < r->model->nviews; v++) {
        if (snprintf(path, sizeof path, "%s/%s.npy", dir, r->model->view[v].name) >=
            (int)sizeof path) {
            return odg_fail(err, ODG_EINVAL, "--load: the directory name is too long");
        }
        if ((st = load_file_check(path, &present, err)) != ODG_OK) {
            return st;
        }
    }
    st = odg_model_load(r->model, dir, &views, e2);
    if (st != ODG_OK) {
        return odg_fail(err, st, "--load: %s", e2);
    }
    for (int v = 0; v < r->model->nviews; v++) {
        const odg_param_view *pv = &r->model->view[v];
        if ((views & (1u << v)) && (st = load_finite(dir, pv->name, r->model->theta + pv->offset,
                                                     pv->rows, pv->cols, err)) != ODG_OK) {
            return st;
        }
    }
    r->loaded = views;
    const char *names[2] = {"z0", "w"};
    double *dst[2] = {r->z0, r->w};
    unsigned bits[2] = {ODG_LOADED_Z0, ODG_LOADED_W};
    /* w is (K, B, D) over K > 1 output times, else (B, D) */
    const size_t Kw = r->nout > 1 ? (size_t)r->nout : 1;
    for (int k = 0; k < 2; k++) {
        const int three = k == 1 && Kw > 1;
        size_t shape[3] = {Kw, r->model->B, r->model->D};
        if (snprintf(path, sizeof path, "%s/%s.npy", dir, names[k]) >= (int)sizeof path) {
            return odg_fail(err, ODG_EINVAL, "--load: the directory name is too long");
        }
        if ((st = load_file_check(path, &present, err)) != ODG_OK) {
            return st;
        }
        if (!present) {
            continue; /* generated from the seed */
        }
        st = odg_npy_load(path, three ? 3 : 2, three ? shape : shape + 1, dst[k], e2);
        if (st != ODG_OK) {
            return odg_fail(err, st, "--load: %s", e2);
        }
        if ((st = load_finite(dir, names[k], dst[k], (three ? Kw : 1) * shape[1], shape[2],
                              err)) != ODG_OK) {
            return st;
        }
        r->loaded |= bits[k];
    }
    if (r->loaded == 0) {
        char want[256] = "";
        size_t len = 0;
        for (int v = 0; v < r->model->nviews; v++) {
            int k = snprintf(want + len, sizeof want - len, "%s.npy ", r->model->view[v].name);
            if (k > 0 && (size_t)k < sizeof want - len) {
                len += (size_t)k;
            }
        }
        return odg_fail(err, ODG_EIO, "--load: '%s' holds none of %sz0.npy w.npy", dir, want);
    }
    return ODG_OK;
}

static double resolve_mem_limit(size_t limit)
{
    if (limit == ODG_MEM_NONE) {
        return INFINITY;
    }
    if (limit == ODG_MEM_AUTO) {
        double avail = odg_sys_mem_available();
        return isfinite(avail) ? 0.8 * avail : INFINITY;
    }
    return (double)limit;
}

odg_status odg_run_prepare(odg_run **out, const odg_run_config *c, char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    if (!out) {
        return odg_fail(err, ODG_EINVAL, "odg_run_prepare: argument 1 is NULL");
    }
    *out = NULL;
    double t_start = odg_now(); /* --timeout counts the loading too */
    odg_status st = odg_run_config_check(c, NULL, err);
    if (st != ODG_OK) {
        return st;
    }
    /* a peer this machine lacks is refused like any option it cannot take */
    char peer_version[ODG_CELL_STRLEN];
    if ((st = odg_solver_available(c->solver, peer_version, err)) != ODG_OK) {
        return st;
    }
    if (c->load_dir && (st = check_dir(c->load_dir, "--load", 0, err)) != ODG_OK) {
        return st;
    }
    if (c->save_grad_dir && (st = check_dir(c->save_grad_dir, "--save-grad", 1, err)) != ODG_OK) {
        return st;
    }
    if (c->save_problem_dir &&
        (st = check_dir(c->save_problem_dir, "--save-problem", 1, err)) != ODG_OK) {
        return st;
    }
    odg_run *r = calloc(1, sizeof *r);
    if (!r) {
        return odg_fail(err, ODG_ENOMEM, "out of memory");
    }
    r->cfg = *c;
    r->t_start = t_start;
    odg_fmt(r->peer_version, sizeof r->peer_version, "%s", peer_version);
    odg_run_config_resolve(&r->cfg);
    c = &r->cfg; /* from here on, the configuration as resolved */
    odg_mem_init(&r->mem);
    if (r->cfg.model.kind != ODG_MODEL_MLP && r->cfg.model.kind != ODG_MODEL_CNF) {
        r->cfg.model.H = 0;
        r->cfg.model.time_input = 0;
    }
    r->mem_limit = resolve_mem_limit(c->mem_limit);

    /* The parent allocates (and zero-fills) the problem itself: it must fit, or it is not a
     * problem this machine can hold at all (bad input, not an oom record). */
    r->problem_bytes = problem_bytes(&r->cfg);
    double total = odg_sys_meminfo("MemTotal");
    double cap = r->mem_limit;
    const char *capname = "--mem-limit";
    if (isfinite(total) && total < cap) {
        cap = total;
        capname = "the machine's memory";
    }
    if (r->problem_bytes > cap) {
        st = odg_fail(err, ODG_ENOMEM,
                      "the problem is too large to allocate: its own arrays need %.4g bytes, more "
                      "than %s (%.4g bytes)",
                      r->problem_bytes, capname, cap);
        goto fail;
    }
    char e1[ODG_ERRLEN];
    st = odg_model_create_msg(&r->model, &r->cfg.model, &r->mem, e1);
    if (st != ODG_OK && r->cfg.model.kind == ODG_MODEL_PLUGIN) {
        st = odg_fail(err, st, "--model %s", e1);
        goto fail;
    }
    if (st == ODG_EINVAL) {
        st = odg_fail(err, st, "--dim, --hidden, --batch: sizes out of range (%zu, %zu, %zu)",
                      r->cfg.model.D, r->cfg.model.H, r->cfg.model.B);
        goto fail;
    }
    if (st == ODG_EUNSUP) {
        st = odg_fail(err, st, "--blas-mode %s needs OpenBLAS's OpenMP or sequential build",
                      odg_blas_mode_name(r->cfg.model.blas_mode));
        goto fail;
    }
    if (st != ODG_OK) {
        st = odg_fail(err, st, "the model cannot be created: %s", odg_status_str(st));
        goto fail;
    }
    if (c->mpi && c->timeout_s > 0) {
        st = odg_fail(err, ODG_EINVAL, "--timeout: not with --mpi (a rank cannot stop alone)");
        goto fail;
    }
    if (c->mpi) {
        /* checked here, set for the measurement only (the reference's child must not reach
         * MPI) */
        st = odg_mpi_active() ? odg_model_set_ranks(r->model, odg_mpi_rank(), odg_mpi_size())
                              : ODG_EINVAL;
        if (st == ODG_OK) {
            st = odg_model_set_ranks(r->model, 0, 1);
        }
        if (st != ODG_OK) {
            st = odg_fail(err, st == ODG_ENOMEM ? st : ODG_EINVAL, "--mpi: %s",
                          !odg_mpi_active() ? "MPI was not started (run under mpirun)"
                          : st == ODG_EUNSUP
                              ? "the batch is split over ranks for the mlp model in the chunked "
                                "BLAS mode only"
                              : "out of memory");
            goto fail;
        }
        if (odg_mpi_rank() != 0) {
            /* rank 0 alone computes the reference and writes what is asked for */
            r->cfg.reference = ODG_REF_NONE;
            r->cfg.save_grad_dir = NULL;
            r->cfg.save_problem_dir = NULL;
        }
    }
    size_t M = r->model->B * r->model->D;
    r->nout = odg_output_count(c);
    const size_t Kw = r->nout > 0 ? (size_t)r->nout : 1;
    r->z0 = odg_mem_doubles(&r->mem, ODG_TAG_MODEL, M);
    r->w = odg_mem_doubles(&r->mem, ODG_TAG_MODEL, Kw * M);
    r->tout = r->nout > 0 ? odg_mem_doubles(&r->mem, ODG_TAG_MODEL, (size_t)r->nout) : NULL;
    if (!r->z0 || !r->w || (r->nout > 0 && !r->tout)) {
        st = odg_fail(err, ODG_ENOMEM, "the problem is too large to allocate (z0 and w)");
        goto fail;
    }
    long K = 0;
    if (r->nout > 0 && (st = odg_output_times(c, r->tout, r->nout, &K, err)) != ODG_OK) {
        goto fail;
    }
    /* theta, then z0, then w, from one stream: what --load does not provide is what the seed
     * alone would give */
    odg_rng rng;
    odg_rng_seed(&rng, c->seed);
    /* The initialisation may call BLAS and LAPACK (linear: a QR factorisation).  With one
     * thread neither starts OpenMP's thread pool, which would not survive the fork of the
     * measuring child (libgomp: a parallel region in the child then waits for ever). */
    int omp0 = omp_get_max_threads(), blas0 = openblas_get_num_threads();
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    st = odg_model_init(r->model, &rng);
    openblas_set_num_threads(blas0);
    omp_set_num_threads(omp0);
    if (st != ODG_OK) {
        st = odg_fail(err, st, "the model cannot be initialised: %s", odg_status_str(st));
        goto fail;
    }
    odg_rng_fill_normal(&rng, r->z0, M, 0.0, 1.0);
    odg_rng_fill_normal(&rng, r->w, Kw * M, 0.0, 1.0); /* w_1 .. w_K in turn */
    if (c->model.kind == ODG_MODEL_CNF && (st = cnf_data(r, &rng, err)) != ODG_OK) {
        goto fail;
    }
    if (c->load_dir && (st = load_problem(r, err)) != ODG_OK) {
        goto fail;
    }
    /* A field from elsewhere proves its VJP before anything is measured with it, at the
     * problem's own z0 and theta (include/odegrad/plugin.h). */
    if (c->model.kind == ODG_MODEL_PLUGIN) {
        omp_set_num_threads(1);
        st = odg_model_check_vjp(r->model, 0.0, r->z0, &r->mem, e1);
        omp_set_num_threads(omp0);
        if (st != ODG_OK) {
            st = odg_fail(err, st, "--model plugin:%s: %s", c->model.plugin, e1);
            goto fail;
        }
    }

    odg_problem *p = &r->prob;
    memset(p, 0, sizeof *p);
    p->model = r->model;
    p->tab = odg_scheme_tableau(c->scheme);
    p->t0 = 0.0;
    p->t1 = c->t1;
    p->steps = c->steps;
    if (c->steps == 0) {
        odg_adapt_defaults(&p->adapt, c->rtol, c->atol);
    }
    p->z0 = r->z0;
    p->w = r->w;
    p->nout = r->nout;
    p->tout = r->tout;
    if (c->model.kind == ODG_MODEL_CNF) {
        p->terminal = odg_cnf_nll; /* the data's negative log-likelihood; w is not read */
    }
    r->grad = c->grad;
    char e2[ODG_ERRLEN];
    /* CVODES takes neither the scheme nor odegrad's methods: its own checks run in it */
    st = c->solver == ODG_SOLVER_CVODES ? ODG_OK : odg_grad_check(p, &r->grad, e2);
    if (st != ODG_OK) {
        st = odg_fail(err, st, "%s", e2[0] ? e2 : odg_status_str(st));
        goto fail;
    }
    *out = r;
    return ODG_OK;

fail:
    odg_run_destroy(&r);
    return st;
}

void odg_run_destroy(odg_run **pr)
{
    if (!pr || !*pr) {
        return;
    }
    odg_run *r = *pr;
    odg_mem_free(&r->mem, r->tout);
    odg_mem_free(&r->mem, r->w);
    odg_mem_free(&r->mem, r->z0);
    odg_model_destroy(&r->model);
    free(r);
    *pr = NULL;
}

const odg_model *odg_run_model(const odg_run *r)
{
    return r->model;
}

const double *odg_run_z0(const odg_run *r)
{
    return r->z0;
}

const double *odg_run_w(const odg_run *r)
{
    return r->w;
}

/* ---- the record's configuration columns --------------------------------------------------- */

static void record_config(const odg_run *r, odg_run_record *rec)
{
    memset(rec, 0, sizeof *rec);
    const odg_run_config *c = &r->cfg;
    odg_cell *cl = rec->cell;
    for (int k = 0; k < ODG_NCOLUMNS; k++) {
        odg_cell_empty(&cl[k]);
    }
    odg_record_config(rec, c); /* the options' columns, from options.def */
    odg_cell_int(&cl[ODG_COL_P], (long long)r->model->P);
    /* what the child will use; the child's own report replaces these */
    odg_cell_int(&cl[ODG_COL_blas_threads], c->threads);
    odg_cell_str(&cl[ODG_COL_blas_mode], odg_blas_mode_name(r->model->blas));
    odg_cell_int(&cl[ODG_COL_batch_chunk], (long long)r->model->chunk);
    odg_cell_int(&cl[ODG_COL_cores_available], odg_cpus_available());
    odg_cell_str(&cl[ODG_COL_commit], odg_git_commit());
    if (r->peer_version[0]) {
        odg_cell_str(&cl[ODG_COL_solver_version], r->peer_version);
    }

    rec->mem_limit_bytes = isfinite(r->mem_limit) ? r->mem_limit : NAN;
    rec->forward_min_s = rec->forward_max_s = NAN;
    rec->backward_min_s = rec->backward_max_s = NAN;
    rec->rejected = rec->adj_steps = rec->interval = -1;
    rec->rss_baseline_bytes = NAN;
    rec->warmups_done = -1;
    rec->roofline_s = NAN;
    rec->ref.kind = ODG_REF_NONE;
    rec->ref.change = rec->ref.loss = rec->ref.error = NAN;
}

static void set_status(odg_run_record *rec, const char *status, const char *fmt, ...)
{
    odg_cell_str(&rec->cell[ODG_COL_status], status);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rec->message, sizeof rec->message, fmt, ap);
        va_end(ap);
    }
}

/* ---- outputs: a set of arrays, all or nothing --------------------------------------------- */

#define SAVE_MAX (ODG_MAX_VIEWS + 2)

/* Removes what a save left in its temporary directory, then the directory. */
static void save_cleanup(const char *tmp, char names[][64], int n)
{
    static const char *const ext[] = {".npy", ".npy.tmp", ".npy.old"};
    char path[4200];
    for (int i = 0; i < n; i++) {
        for (int e = 0; e < 3; e++) {
            odg_fmt(path, sizeof path, "%s/%s%s", tmp, names[i], ext[e]);
            unlink(path);
        }
    }
    rmdir(tmp);
}

/* Writes the model's views of theta (as PREFIX<view>.npy) and the (B, D) arrays arr[k] (as
 * arrname[k].npy) into dir, all or nothing: first every file into a fresh temporary directory
 * inside dir, then each moved over its name, the file it replaces kept as a hard link in the
 * temporary directory (or moved there, where links are not supported) until the last one is
 * in place.  When any step fails, the files already moved are taken back out and the old ones
 * put back, so dir holds the old set or the new one, byte for byte.  err: "DIR: what: why". */
/* lead[k] > 1 (lead may be NULL): array k is (lead[k], B, D), w over several output times. */
static odg_status save_arrays(const odg_run *r, const char *dir, const char *prefix,
                              const double *theta, const double *const *arr,
                              const char *const *arrname, const size_t *lead, int narr,
                              char err[ODG_ERRLEN])
{
    char names[SAVE_MAX][64], tmp[4096], src[4200], dst[4200], bak[4200], e2[ODG_ERRLEN];
    int n = 0, moved = 0;
    int backed[SAVE_MAX] = {0}; /* 1: the old file is linked at bak; 2: moved there */
    for (int v = 0; v < r->model->nviews && n < SAVE_MAX; v++) {
        odg_fmt(names[n++], sizeof names[0], "%s%s", prefix, r->model->view[v].name);
    }
    for (int k = 0; k < narr && n < SAVE_MAX; k++) {
        odg_fmt(names[n++], sizeof names[0], "%s", arrname[k]);
    }
    if (snprintf(tmp, sizeof tmp, "%s/.odegrad-save-XXXXXX", dir) >= (int)sizeof tmp) {
        return odg_fail(err, ODG_EINVAL, "%s: the directory name is too long", dir);
    }
    if (odg_io_fault() || mkdtemp(tmp) == NULL) {
        return odg_fail(err, ODG_EIO, "%s: cannot create a temporary directory: %s", dir,
                        strerror(errno));
    }
    odg_status st = odg_model_save(r->model, theta, tmp, prefix, e2);
    for (int k = 0; k < narr && st == ODG_OK; k++) {
        size_t shape[3] = {lead ? lead[k] : 1, r->model->B, r->model->D};
        odg_fmt(src, sizeof src, "%s/%s.npy", tmp, arrname[k]);
        st = shape[0] > 1 ? odg_npy_save(src, 3, shape, arr[k], e2)
                          : odg_npy_save(src, 2, shape + 1, arr[k], e2);
    }
    if (st != ODG_OK) {
        odg_fail(err, st, "%s", e2);
        goto fail;
    }
    for (moved = 0; moved < n; moved++) {
        odg_fmt(src, sizeof src, "%s/%s.npy", tmp, names[moved]);
        odg_fmt(dst, sizeof dst, "%s/%s.npy", dir, names[moved]);
        odg_fmt(bak, sizeof bak, "%s/%s.npy.old", tmp, names[moved]);
        struct stat sb;
        if (lstat(dst, &sb) == 0) {
            if (odg_io_fault()) {
                st = odg_fail(err, ODG_EIO, "%s: cannot keep the old %s.npy: %s", dir, names[moved],
                              strerror(errno));
                goto fail;
            }
            if (link(dst, bak) == 0) {
                backed[moved] = 1;
            } else if (rename(dst, bak) == 0) {
                backed[moved] = 2;
            } else {
                st = odg_fail(err, ODG_EIO, "%s: cannot keep the old %s.npy: %s", dir, names[moved],
                              strerror(errno));
                goto fail;
            }
        }
        if (odg_io_fault() || rename(src, dst) != 0) {
            st = odg_fail(err, ODG_EIO, "%s: cannot move %s.npy in place: %s", dir, names[moved],
                          strerror(errno));
            if (backed[moved] == 2) {
                rename(bak, dst); /* it was moved aside just now */
            }
            goto fail;
        }
    }
    save_cleanup(tmp, names, n);
    return ODG_OK;

fail:
    /* the old set back: each file moved in place is replaced by the one it replaced (the
     * same inode, so the same bytes), or removed where there was none */
    while (--moved >= 0) {
        odg_fmt(dst, sizeof dst, "%s/%s.npy", dir, names[moved]);
        odg_fmt(bak, sizeof bak, "%s/%s.npy.old", tmp, names[moved]);
        if (backed[moved]) {
            rename(bak, dst);
        } else {
            unlink(dst);
        }
    }
    save_cleanup(tmp, names, n);
    if (err) {
        size_t len = strlen(err);
        odg_fmt(err + len, ODG_ERRLEN - len, " (%s is as it was)", dir);
    }
    return st;
}

/* ---- the measuring child ------------------------------------------------------------------ */

/* One report from the child; written whole (it is smaller than PIPE_BUF, so one write() is
 * atomic), the parent keeps the last complete one. */
typedef struct measure_msg {
    int phase;  /* 0: some timed gradients done; 1: all; 2: errors computed too */
    int status; /* odg_status of the gradients */
    int threads, blas_threads;
    int reps; /* timed gradients completed */
    int warmups; /* warm-up gradients completed */
    double t_med, t_min, t_max, f_med, f_min, f_max, b_med, b_min, b_max;
    odg_grad_stats stats; /* of the last gradient that completed */
    int have_stats;
    double rss_peak, rss_base;
    int rss_cleared;
    double roofline_gflops; /* 0: not known */
    double roofline_s;      /* what measuring it took (NaN: given, not measured) */
    double err_ref, err_disc;
    int mpi_ranks;                   /* --mpi: the ranks; 0 without */
    double mpi_comm_s, mpi_comm_bytes;     /* per timed gradient, this rank */
    double mpi_reduce_s, mpi_reduce_bytes; /* the same for the parameter gradient's reduction */
    double mpi_peak_min, mpi_peak_max, mpi_rss_min, mpi_rss_max;
    char disc_method[32];
    char version[ODG_CELL_STRLEN]; /* a peer's own account of itself ("" for odegrad) */
    char save_err[ODG_ERRLEN];
    char msg[ODG_ERRLEN];
} measure_msg;

_Static_assert(sizeof(measure_msg) <= PIPE_BUF, "a report must be one atomic pipe write");

typedef struct measure_ctx {
    odg_run *r;
    const double *gref;   /* (P + M) or NULL */
    const char *peer_dir; /* torch: the directory of its files */
} measure_ctx;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of x[0 .. n-1] (sorts x). */
static void summarize(double *x, int n, double *med, double *min, double *max)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    *min = x[0];
    *max = x[n - 1];
    *med = n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* The summary of the m->reps timed gradients so far. */
static void report(measure_msg *m, const double *times, int R)
{
    if (m->reps == 0) {
        return;
    }
    double *x = malloc(3 * (size_t)m->reps * sizeof *x);
    if (!x) {
        return;
    }
    for (int j = 0; j < 3; j++) {
        memcpy(x + j * m->reps, times + (size_t)j * R, (size_t)m->reps * sizeof *x);
    }
    summarize(x, m->reps, &m->t_med, &m->t_min, &m->t_max);
    summarize(x + m->reps, m->reps, &m->f_med, &m->f_min, &m->f_max);
    summarize(x + 2 * m->reps, m->reps, &m->b_med, &m->b_min, &m->b_max);
    free(x);
}

static int send_msg(int fd, const measure_msg *m)
{
    return odg_write_all(fd, m, sizeof *m) == 0 ? 0 : 1;
}

/* The discrete-exact gradient at the same steps (backprop), or with binomial checkpoints when
 * the tape would not fit in half the memory limit (the same numbers, recomputed).  The
 * reversible method's own map is another one: its discrete-exact gradient is the same adjoint
 * over kept states instead of reconstructed ones. */
static odg_status discrete_gradient(odg_run *r, long N, double *gd, char name[32])
{
    odg_grad_opts o;
    odg_grad_opts_default(&o, ODG_METHOD_BACKPROP);
    if (r->grad.method == ODG_METHOD_REVERSIBLE) {
        o = r->grad;
        o.keep_states = 1;
        snprintf(name, 32, "%s (states kept)", odg_method_name(o.method));
        odg_mem mem;
        odg_mem_init(&mem);
        return odg_gradient(&r->prob, &o, &mem, gd, gd + r->model->P, NULL);
    }
    double need = odg_method_bytes(&r->prob, &o, N);
    if (need > 0.5 * r->mem_limit) {
        odg_grad_opts_default(&o, ODG_METHOD_BACKPROP_CHECKPOINT);
        o.schedule = ODG_SCHEDULE_BINOMIAL;
    }
    snprintf(name, 32, "%s", odg_method_name(o.method));
    odg_mem mem;
    odg_mem_init(&mem);
    odg_grad_stats S;
    return odg_gradient(&r->prob, &o, &mem, gd, gd + r->model->P, &S);
}

/* One f and one VJP on z0 (results dropped): what a gradient touches besides the method's own
 * memory (OpenBLAS's buffers, the threads' stacks, the model's scratch).  0, or -1 when the
 * scratch cannot be had. */
static int prime(odg_run *r)
{
    size_t M = r->model->B * r->model->D, P = r->model->P;
    double *F = malloc(M * sizeof(double)), *Zbar = malloc(M * sizeof(double));
    double *gp = calloc(P, sizeof(double));
    int rc = F && Zbar && gp ? 0 : -1;
    if (rc == 0) {
        odg_model_f(r->model, 0.0, r->z0, F);
        odg_model_vjp(r->model, 0.0, r->z0, r->w, Zbar, gp);
    }
    free(F);
    free(Zbar);
    free(gp);
    return rc;
}

/* One gradient by the run's solver in this process: odegrad's method, or CVODES's adjoint. */
static odg_status gradient(odg_run *r, odg_mem *mem, double *g, odg_grad_stats *S)
{
    if (r->cfg.solver == ODG_SOLVER_CVODES) {
        return odg_cvodes_gradient(&r->prob, r->cfg.lmm, r->cfg.rtol, r->cfg.atol, g,
                                   g + r->model->P, S);
    }
    return odg_gradient(&r->prob, &r->grad, mem, g, g + r->model->P, S);
}

/* One gradient that is not timed: the one that reads the resident peak (what = "the
 * resident-peak gradient") or a warm-up.  0, or the failure recorded in m. */
static int untimed_gradient(odg_run *r, measure_msg *m, double *g, const char *what)
{
    odg_mem mem;
    odg_mem_init(&mem);
    odg_grad_stats S;
    odg_status st = gradient(r, &mem, g, &S);
    if (st != ODG_OK) {
        m->status = st;
        snprintf(m->msg, sizeof m->msg, "%s: %s", what, odg_status_str(st));
        return -1;
    }
    return 0;
}

/* The measurement (docs/experiments.md, "How a run is measured"): the baseline, one gradient
 * that reads the resident peak, the warm-up gradients (W, and up to ODG_RUN_SETTLE_MORE more
 * until they fault in no more memory), then the R timed ones; reports after them (and now
 * and then during them).  Leaves the last gradient in g.  0, or -1 when the parent has gone
 * (the pipe is closed).
 *
 * The baseline is everything the process holds before a gradient (the problem, the
 * libraries' buffers, the gradient's output), the same for every configuration: the output is
 * touched, one f and one VJP touch the libraries' buffers, and the allocator gives its free
 * memory back.  The next gradient starts from there, so it faults in all it touches: its
 * high-water mark over the baseline is the resident peak.  It is not timed.  The ones after it
 * can fault pages in again where the allocator places a large block elsewhere (a small block
 * now sits in the hole it left): at D = 64, H = 256, rk4 N = 2 kept, the resident-peak gradient
 * faulted 1830 pages in, the next ones 1024 (17.9 ms), 257 (8.5 ms), 97 (6.6 ms), then 0 or 1
 * (5.4 ms).  Hence the warm-up goes on until they stop, and the timed gradients reuse what the
 * process kept (odg_malloc_retain), as a training loop would. */
static int timed_gradients(odg_run *r, measure_msg *m, double *g, double *times, int fd)
{
    const odg_run_config *c = &r->cfg;
    size_t P = r->model->P;
    int R = c->repeat;
    memset(g, 0, (P + r->model->B * r->model->D) * sizeof(double));
    if (prime(r) != 0) {
        m->status = ODG_ENOMEM;
        snprintf(m->msg, sizeof m->msg, "out of memory before the measurement");
        return send_msg(fd, m) ? -1 : 0;
    }
    odg_malloc_release();
    m->rss_cleared = odg_sys_reset_hwm() == 0;
    m->rss_base = odg_sys_self_status("VmRSS");
    int bad = untimed_gradient(r, m, g, "the resident-peak gradient");
    m->rss_peak = odg_sys_self_status("VmHWM") - m->rss_base;
    const int most = c->warmup > 0 ? c->warmup + ODG_RUN_SETTLE_MORE : 0;
    int settled = 0;
    for (int k = 0; !bad && k < most && (k < c->warmup || !settled); k++) {
        char what[40];
        snprintf(what, sizeof what, "warm-up gradient %d", k + 1);
        long f0 = odg_sys_minor_faults();
        bad = untimed_gradient(r, m, g, what);
        /* every rank warms up as long as the one that settles last: each gradient is a
         * collective */
        double lo, hi;
        odg_mpi_minmax((double)(odg_sys_minor_faults() - f0), &lo, &hi);
        settled = f0 >= 0 && hi < ODG_RUN_SETTLE_PAGES;
        m->warmups = k + 1;
    }
    if (bad) {
        return send_msg(fd, m) ? -1 : 0;
    }
    double last_report = odg_now();
    memset(&r->model->comm, 0, sizeof r->model->comm);
    memset(&r->model->reduce, 0, sizeof r->model->reduce);
    odg_mem mem;
    odg_grad_stats S;
    for (int k = 0; k < R; k++) {
        odg_mem_init(&mem);
        double t0 = odg_now();
        odg_status st = gradient(r, &mem, g, &S);
        double t = odg_now() - t0;
        if (st != ODG_OK) {
            m->status = st;
            snprintf(m->msg, sizeof m->msg, "gradient %d: %s", k + 1, odg_status_str(st));
            break;
        }
        times[k] = t;
        times[R + k] = S.forward_s;
        times[2 * R + k] = S.backward_s;
        m->stats = S;
        m->have_stats = 1;
        m->reps = k + 1;
        /* a partial report now and then, so that a run stopped at its timeout still records
         * the gradients it completed */
        if (k + 1 < R && odg_now() - last_report > 0.5) {
            report(m, times, R);
            if (send_msg(fd, m) != 0) {
                return -1;
            }
            last_report = odg_now();
        }
    }
    report(m, times, R);
    if (r->model->nranks > 1 && m->reps > 0) {
        m->mpi_comm_s = r->model->comm.s / m->reps;
        m->mpi_comm_bytes = r->model->comm.bytes / m->reps;
        m->mpi_reduce_s = r->model->reduce.s / m->reps;
        m->mpi_reduce_bytes = r->model->reduce.bytes / m->reps;
    }
    m->phase = 1;
    return send_msg(fd, m) ? -1 : 0;
}

/* The PyTorch peer's warm-up and timed gradients, in a process of its own (harness/peer.c), its
 * report turned into this child's: the times, the counts, its own resident peak.  0, or -1
 * when the parent has gone. */
static int peer_gradients(const measure_ctx *mc, measure_msg *m, double *g, double *times, int fd)
{
    odg_run *r = mc->r;
    odg_peer_report pr;
    char e2[ODG_ERRLEN];
    odg_status st = odg_torch_gradients(r, mc->peer_dir, g, times, &pr, e2);
    if (st != ODG_OK) {
        m->status = st;
        snprintf(m->msg, sizeof m->msg, "%s", e2);
        return send_msg(fd, m) ? -1 : 0;
    }
    const int R = r->cfg.repeat;
    m->threads = m->blas_threads = pr.threads;
    m->reps = pr.reps;
    m->warmups = pr.warmups;
    m->rss_peak = pr.rss_peak;
    m->rss_base = pr.rss_base;
    m->rss_cleared = pr.rss_cleared;
    m->stats = pr.stats;
    m->have_stats = 1;
    snprintf(m->version, sizeof m->version, "%s", pr.version);
    if (m->reps > 0) {
        summarize(times, m->reps, &m->t_med, &m->t_min, &m->t_max);
        summarize(times + R, m->reps, &m->f_med, &m->f_min, &m->f_max);
        summarize(times + 2 * R, m->reps, &m->b_med, &m->b_min, &m->b_max);
    }
    m->phase = 1;
    return send_msg(fd, m) ? -1 : 0;
}

/* After the measurement: --save-grad, and the errors against the reference and against the
 * discrete-exact gradient at the same steps. */
static void errors(const measure_ctx *mc, measure_msg *m, const double *g)
{
    odg_run *r = mc->r;
    const odg_run_config *c = &r->cfg;
    size_t P = r->model->P, n = P + r->model->B * r->model->D;
    if (c->save_grad_dir) {
        const double *arr[1] = {g + P};
        const char *name[1] = {"gz0"};
        save_arrays(r, c->save_grad_dir, "g", g, arr, name, NULL, 1, m->save_err);
    }
    if (mc->gref) {
        m->err_ref = odg_rel_err(g, mc->gref, n);
    }
    /* a peer's steps are its own when adaptive: there is no odegrad gradient "at the same
     * steps" to compare with, only at fixed N */
    if (c->solver != ODG_SOLVER_ODEGRAD && !(c->solver == ODG_SOLVER_TORCH && c->steps > 0)) {
        return;
    }
    if (c->solver == ODG_SOLVER_ODEGRAD && c->grad.method == ODG_METHOD_BACKPROP) {
        m->err_disc = 0.0; /* it is the discrete-exact gradient */
        snprintf(m->disc_method, sizeof m->disc_method, "%s", "backprop");
        return;
    }
    double *gd = malloc(n * sizeof(double));
    odg_status st = gd ? discrete_gradient(r, m->stats.steps, gd, m->disc_method) : ODG_ENOMEM;
    if (st == ODG_OK) {
        m->err_disc = odg_rel_err(g, gd, n);
    } else {
        snprintf(m->msg, sizeof m->msg, "no err_vs_discrete: the discrete-exact gradient (%s): %s",
                 m->disc_method, odg_status_str(st));
    }
    free(gd);
}

/* The DGEMM rate at the model's shapes, with the thread counts the gradients just ran with, or
 * the rate the configuration gives.  After the timed gradients and their resident-set reading,
 * so that its operands (malloc'ed, not counted) touch neither. */
static void roofline(const odg_run *r, measure_msg *m)
{
    if (r->cfg.roofline_gflops > 0) {
        m->roofline_gflops = r->cfg.roofline_gflops;
        return;
    }
    double t0 = odg_now();
    m->roofline_gflops = odg_roofline_model(r->model, ODG_RUN_ROOFLINE_S);
    m->roofline_s = odg_now() - t0;
}

/* A gradient whose loss or any value is not finite is no result, whatever the method
 * returned: huge finite inputs (1e308) overflow without the engine's state ever becoming
 * non-finite.  Sets status diverged and says where; 1 when all is finite. */
static int finite_result(const odg_run *r, measure_msg *m, const double *g)
{
    size_t P = r->model->P, n = P + r->model->B * r->model->D;
    if (!isfinite(m->stats.loss)) {
        m->status = ODG_DIVERGED;
        snprintf(m->msg, sizeof m->msg, "the loss is %s", isnan(m->stats.loss) ? "nan" : "inf");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(g[i])) {
            m->status = ODG_DIVERGED;
            snprintf(m->msg, sizeof m->msg, "the gradient is %s at %s[%zu]",
                     isnan(g[i]) ? "nan" : "inf", i < P ? "theta" : "z0", i < P ? i : i - P);
            return 0;
        }
    }
    return 1;
}

static int measure_child(void *vctx, int fd)
{
    measure_ctx *mc = vctx;
    odg_run *r = mc->r;
    const odg_run_config *c = &r->cfg;
    measure_msg m;
    memset(&m, 0, sizeof m);
    m.t_med = m.t_min = m.t_max = m.f_med = m.f_min = m.f_max = NAN;
    m.b_med = m.b_min = m.b_max = NAN;
    m.rss_peak = m.rss_base = m.err_ref = m.err_disc = m.roofline_s = NAN;
    if (c->threads > 0) {
        omp_set_num_threads(c->threads);
        openblas_set_num_threads(c->threads);
    }
    m.threads = omp_get_max_threads();
    m.blas_threads = openblas_get_num_threads();
    odg_malloc_retain();

    size_t n = r->model->P + r->model->B * r->model->D;
    double *g = malloc(n * sizeof(double));
    double *times = malloc(3 * (size_t)c->repeat * sizeof(double));
    if (c->mpi) {
        /* every rank measures in this process (a forked child cannot reach MPI), the batch
         * split over them; the ranks hold the same arrays, a failure is the same everywhere */
        m.mpi_ranks = odg_mpi_size();
        int ok = g && times, all_ok = ok;
        double lo, hi;
        odg_mpi_minmax(ok, &lo, &hi);
        all_ok = lo > 0;
        if (all_ok && odg_model_set_ranks(r->model, odg_mpi_rank(), odg_mpi_size()) == ODG_OK) {
            timed_gradients(r, &m, g, times, fd);
            odg_model_set_ranks(r->model, 0, 1);
            odg_mpi_minmax(m.have_stats ? (double)m.stats.peak_total : NAN, &m.mpi_peak_min,
                           &m.mpi_peak_max);
            odg_mpi_minmax(m.rss_peak, &m.mpi_rss_min, &m.mpi_rss_max);
        } else {
            m.status = ODG_ENOMEM;
            snprintf(m.msg, sizeof m.msg, "out of memory for the gradient on a rank");
            send_msg(fd, &m);
        }
        if (odg_mpi_rank() != 0 || m.status != ODG_OK) {
            /* the roofline, the errors and --save-grad are rank 0's, on its own */
            free(times);
            free(g);
            return 0;
        }
        if (!finite_result(r, &m, g)) {
            send_msg(fd, &m);
        } else {
            roofline(r, &m);
            errors(mc, &m, g);
            m.phase = 2;
            send_msg(fd, &m);
        }
    } else if (!g || !times) {
        m.status = ODG_ENOMEM;
        snprintf(m.msg, sizeof m.msg, "out of memory for the gradient");
        send_msg(fd, &m);
    } else if (c->solver == ODG_SOLVER_TORCH) {
        if (peer_gradients(mc, &m, g, times, fd) == 0 && m.status == ODG_OK) {
            if (!finite_result(r, &m, g)) {
                send_msg(fd, &m);
            } else {
                roofline(r, &m);
                errors(mc, &m, g);
                m.phase = 2;
                send_msg(fd, &m);
            }
        }
    } else if (timed_gradients(r, &m, g, times, fd) == 0 && m.status == ODG_OK) {
        if (!finite_result(r, &m, g)) {
            send_msg(fd, &m); /* diverged: no roofline, no errors, nothing saved */
        } else {
            roofline(r, &m);
            errors(mc, &m, g);
            m.phase = 2;
            send_msg(fd, &m);
        }
    }
    free(times);
    free(g);
    return 0;
}

/* ---- execute ------------------------------------------------------------------------------ */

/* What an address-space limit (ulimit -v: RLIMIT_AS) leaves of this process's address space, in
 * bytes; INFINITY without one. */
static double address_space_room(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
        return INFINITY;
    }
    double used = odg_sys_self_status("VmSize");
    return isfinite(used) ? (double)rl.rlim_cur - used : (double)rl.rlim_cur;
}

/* OpenBLAS (0.3.21, the OpenMP build) takes a buffer of 128 MiB (and a page) of address space
 * for each thread that calls it, on the first call, and when the allocation fails it retries
 * for ever: under an address-space limit a run without room for them would spin, not fail.
 * Each thread also has its stack (RLIMIT_STACK, the default of a thread's).  Measured: a run of
 * the smallest mlp needs 137 MiB more of the limit for each thread (cli/start.c makes the
 * process start with one buffer). */
#define ODG_BLAS_BUFFER_BYTES (130.0 * 1048576.0)
#define ODG_AS_SLACK_BYTES (4.0 * 1048576.0)

static double threads_address_space(int threads)
{
    struct rlimit rl;
    double stack = 8.0 * 1048576.0;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        stack = (double)rl.rlim_cur;
    }
    return threads * (ODG_BLAS_BUFFER_BYTES + stack) + ODG_AS_SLACK_BYTES;
}

odg_status odg_address_space_check(int threads, double extra, char err[ODG_ERRLEN])
{
    double room = address_space_room();
    double need = threads_address_space(threads > 0 ? threads : omp_get_max_threads()) + extra;
    if (isfinite(room) && need > room) {
        return odg_fail(err, ODG_ENOMEM,
                        "the address-space limit (ulimit -v) leaves %.4g bytes, and OpenBLAS's "
                        "buffers, the threads' stacks and the operands need about %.4g",
                        room, need);
    }
    return ODG_OK;
}

static odg_status save_problem(odg_run *r, char err[ODG_ERRLEN])
{
    char e2[ODG_ERRLEN];
    const double *arr[2] = {r->z0, r->w};
    const char *name[2] = {"z0", "w"};
    const size_t lead[2] = {1, r->nout > 1 ? (size_t)r->nout : 1};
    odg_status st =
        save_arrays(r, r->cfg.save_problem_dir, "", r->model->theta, arr, name, lead, 2, e2);
    return st == ODG_OK ? ODG_OK : odg_fail(err, st, "--save-problem: %s", e2);
}

static void fill_measured(odg_run *r, const measure_msg *m, odg_run_record *rec)
{
    odg_cell *cl = rec->cell;
    odg_cell_int(&cl[ODG_COL_threads], m->threads);
    odg_cell_int(&cl[ODG_COL_blas_threads], m->blas_threads);
    if (m->reps > 0) {
        odg_cell_int(&cl[ODG_COL_repeats], m->reps); /* fewer than asked when stopped early */
        odg_cell_real(&cl[ODG_COL_time_median_s], m->t_med);
        odg_cell_real(&cl[ODG_COL_time_min_s], m->t_min);
        odg_cell_real(&cl[ODG_COL_time_max_s], m->t_max);
        odg_cell_real(&cl[ODG_COL_forward_s], m->f_med);
        odg_cell_real(&cl[ODG_COL_backward_s], m->b_med);
        rec->forward_min_s = m->f_min;
        rec->forward_max_s = m->f_max;
        rec->backward_min_s = m->b_min;
        rec->backward_max_s = m->b_max;
        odg_cell_real(&cl[ODG_COL_rss_peak_bytes], m->rss_peak);
        rec->rss_baseline_bytes = m->rss_base;
        rec->warmups_done = m->warmups;
        snprintf(rec->rss_method, sizeof rec->rss_method, "%s",
                 m->rss_cleared ? "clear_refs" : "vmrss");
    }
    if (m->version[0]) {
        odg_cell_str(&cl[ODG_COL_solver_version], m->version);
    }
    if (m->have_stats && r->cfg.solver != ODG_SOLVER_ODEGRAD) {
        /* a peer: what it counts itself (a count it does not know, -1, stays empty); its memory
         * is its own allocator's (rss_peak_bytes) */
        const odg_grad_stats *S = &m->stats;
        const long counts[] = {S->steps, S->nfe_forward, S->nfe_backward, S->nvjp};
        const int cols[] = {ODG_COL_steps, ODG_COL_nfe_forward, ODG_COL_nfe_backward, ODG_COL_nvjp};
        for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
            if (counts[k] >= 0) {
                odg_cell_int(&cl[cols[k]], counts[k]);
            }
        }
        odg_cell_real(&cl[ODG_COL_loss], S->loss);
        if (r->cfg.solver == ODG_SOLVER_CVODES) {
            odg_cell_int(&cl[ODG_COL_checkpoints_used], S->checkpoints);
            rec->interval = ODG_CVODES_ND;
        }
        rec->rejected = S->rejected;
        rec->adj_steps = S->adj_steps;
    } else if (m->have_stats) {
        const odg_grad_stats *S = &m->stats;
        odg_cell_int(&cl[ODG_COL_steps], S->steps);
        odg_cell_int(&cl[ODG_COL_nfe_forward], S->nfe_forward);
        odg_cell_int(&cl[ODG_COL_nfe_backward], S->nfe_backward);
        odg_cell_int(&cl[ODG_COL_nvjp], S->nvjp);
        odg_cell_int(&cl[ODG_COL_recomputed_steps], S->recomputed_steps);
        odg_cell_int(&cl[ODG_COL_forward_steps], S->forward_steps);
        odg_cell_real(&cl[ODG_COL_accounted_peak_bytes], (double)S->peak_total);
        odg_cell_real(&cl[ODG_COL_theory_bytes], S->theory_stored);
        odg_cell_real(&cl[ODG_COL_stored_bytes], (double)S->stored_bytes);
        odg_cell_real(&cl[ODG_COL_workspace_bytes], (double)S->workspace_bytes);
        odg_cell_real(&cl[ODG_COL_loss], S->loss);
        odg_cell_real(&cl[ODG_COL_recon_err], S->recon_err); /* NaN: empty */
        if (odg_method_keeps_checkpoints(r->cfg.grad.method)) {
            odg_cell_int(&cl[ODG_COL_checkpoints_used], S->checkpoints);
            rec->interval = S->interval;
        }
        rec->rejected = S->rejected;
        rec->adj_steps = S->adj_steps;
        rec->have_peaks = 1;
        for (int t = 0; t < ODG_NTAGS; t++) {
            rec->peak_bytes[t] = (double)S->peak[t];
        }
    }
    if (m->phase >= 2 && m->roofline_gflops > 0) {
        odg_cell_real(&cl[ODG_COL_roofline_gflops], m->roofline_gflops);
        snprintf(rec->roofline_source, sizeof rec->roofline_source, "%s",
                 isnan(m->roofline_s) ? "given" : "measured");
        rec->roofline_s = m->roofline_s;
    }
    if (m->phase >= 2) {
        odg_cell_real(&cl[ODG_COL_err_vs_reference], m->err_ref);
        odg_cell_real(&cl[ODG_COL_err_vs_discrete], m->err_disc);
        snprintf(rec->discrete_method, sizeof rec->discrete_method, "%s", m->disc_method);
    }
    snprintf(rec->save_grad_error, sizeof rec->save_grad_error, "%s", m->save_err);
    rec->mpi_ranks = m->mpi_ranks;
    if (m->mpi_ranks > 0) {
        rec->mpi_comm_s = m->mpi_comm_s;
        rec->mpi_comm_bytes = m->mpi_comm_bytes;
        rec->mpi_reduce_s = m->mpi_reduce_s;
        rec->mpi_reduce_bytes = m->mpi_reduce_bytes;
        rec->mpi_peak_min = m->mpi_peak_min;
        rec->mpi_peak_max = m->mpi_peak_max;
        rec->mpi_rss_min = m->mpi_rss_min;
        rec->mpi_rss_max = m->mpi_rss_max;
    }
}

/* --mpi: measure_child in this process (every rank at once), its reports into an unnamed
 * temporary file read back afterwards, as odg_child_run reads the pipe.  No timeout: a rank
 * cannot stop alone in a collective (a --timeout is refused with --mpi). */
static odg_status measure_here(measure_ctx *mc, odg_child *res, char err[ODG_ERRLEN])
{
    memset(res, 0, sizeof *res);
    FILE *fp = tmpfile();
    if (!fp) {
        return odg_fail(err, ODG_EIO, "cannot create a temporary file: %s", strerror(errno));
    }
    res->code = measure_child(mc, fileno(fp));
    res->exited = 1;
    long len = lseek(fileno(fp), 0, SEEK_END);
    odg_status st = ODG_OK;
    if (len > 0 && lseek(fileno(fp), 0, SEEK_SET) == 0) {
        res->data = malloc((size_t)len);
        if (!res->data) {
            st = odg_fail(err, ODG_ENOMEM, "out of memory reading the results");
        } else {
            ssize_t k = read(fileno(fp), res->data, (size_t)len);
            res->len = k > 0 ? (size_t)k : 0;
        }
    }
    fclose(fp);
    return st;
}

/* The gradient's rate and its fraction of the roofline, for a record whose status is ok (the
 * others keep these cells empty, roofline_gflops included): every f and VJP counted at the
 * GEMM flops of odg_model_flops (the VJP's less the hidden layer it no longer recomputes when
 * the activations are kept), over the median time of one gradient. */
static void record_rates(const odg_run *r, odg_run_record *rec)
{
    odg_cell *cl = rec->cell;
    double f_flops, vjp_flops;
    if (strcmp(cl[ODG_COL_status].s, "ok") != 0 || cl[ODG_COL_nvjp].type != ODG_CELL_INT ||
        cl[ODG_COL_time_median_s].type != ODG_CELL_REAL ||
        odg_model_flops(r->model, &f_flops, &vjp_flops) != ODG_OK) {
        odg_cell_empty(&cl[ODG_COL_roofline_gflops]);
        rec->roofline_source[0] = '\0';
        rec->roofline_s = NAN;
        return;
    }
    if (r->cfg.grad.keep_activations) {
        /* the VJP reads the activations instead of recomputing them: it skips the first of f's
         * two GEMMs of 2 B D H flops each (odg_model_flops; the mlp, the one kind with them) */
        vjp_flops -= f_flops / 2;
    }
    const double nfe = (double)(cl[ODG_COL_nfe_forward].i + cl[ODG_COL_nfe_backward].i);
    const double flops = nfe * f_flops + (double)cl[ODG_COL_nvjp].i * vjp_flops;
    const double gflops = flops / cl[ODG_COL_time_median_s].x / 1e9;
    odg_cell_real(&cl[ODG_COL_gflops], gflops);
    if (cl[ODG_COL_roofline_gflops].type == ODG_CELL_REAL) {
        odg_cell_real(&cl[ODG_COL_roofline_frac], gflops / cl[ODG_COL_roofline_gflops].x);
    }
}

static const char *signal_name(int s)
{
    switch (s) {
    case SIGKILL:
        return "SIGKILL";
    case SIGSEGV:
        return "SIGSEGV";
    case SIGABRT:
        return "SIGABRT";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    default:
        return "a signal";
    }
}

odg_status odg_run_execute(odg_run *r, odg_run_record *rec, char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    record_config(r, rec);
    const odg_run_config *c = &r->cfg;
    odg_status st;
    if (c->save_problem_dir && (st = save_problem(r, err)) != ODG_OK) {
        return st;
    }

    /* Under an address-space limit: refused as oom when the threads' buffers and the method do
     * not fit what is left (the measuring child would spin in OpenBLAS, not fail), and the
     * memory limit lowered to what the buffers leave, for the reference and the discrete
     * gradient too. */
    double room = address_space_room();
    if (isfinite(room)) {
        int nt = c->threads > 0 ? c->threads : omp_get_max_threads();
        double lib = threads_address_space(nt);
        double method = c->steps > 0 && c->solver == ODG_SOLVER_ODEGRAD
                            ? odg_method_bytes(&r->prob, &r->grad, c->steps)
                            : 0.0;
        if (lib + method > room) {
            set_status(rec, "oom",
                       "refused before starting: the address-space limit (ulimit -v) leaves "
                       "%.4g bytes, the run needs about %.4g (%.4g for the method, %.4g for "
                       "OpenBLAS's buffers and the stacks of %d thread%s)",
                       room, lib + method, method, lib, nt, nt == 1 ? "" : "s");
            return ODG_OK;
        }
        if (room - lib < r->mem_limit) {
            r->mem_limit = room - lib;
            rec->mem_limit_bytes = r->mem_limit;
        }
    }

    /* Refuse before starting what cannot fit (fixed steps: N is known; a peer's memory is not
     * odegrad's to know). */
    if (c->steps > 0 && c->solver == ODG_SOLVER_ODEGRAD) {
        double need = odg_method_bytes(&r->prob, &r->grad, c->steps);
        odg_cell_real(&rec->cell[ODG_COL_theory_bytes],
                      odg_theory_stored_bytes(&r->prob, &r->grad, c->steps));
        if (need + r->problem_bytes > r->mem_limit) {
            set_status(rec, "oom",
                       "refused before starting: needs %.4g bytes (%.4g for the method, %.4g "
                       "for the problem), the limit is %.4g (--mem-limit)",
                       need + r->problem_bytes, need, r->problem_bytes, r->mem_limit);
            return ODG_OK;
        }
    }

    /* --timeout counts from the start of odg_run_prepare (the loading) and covers the
     * reference's child as well as the measuring one */
    double deadline = c->timeout_s > 0 ? r->t_start + c->timeout_s : INFINITY;
    double *gref = NULL;
    if (c->reference != ODG_REF_NONE) {
        char e2[ODG_ERRLEN];
        odg_child_deadline(deadline);
        odg_status rs = odg_run_reference(r, &rec->ref, &gref, e2);
        odg_child_deadline(INFINITY);
        if (rs != ODG_OK && odg_now() >= deadline) {
            rec->ref.status = ODG_ETIMEOUT;
            set_status(rec, "timeout", "stopped at --timeout %g s while computing the reference",
                       c->timeout_s);
            return ODG_OK;
        }
        if (rs != ODG_OK) {
            /* no reference: err_vs_reference stays empty, the detail says why */
            odg_fmt(rec->message, sizeof rec->message, "no reference: %s", e2);
        } else {
            const odg_ref_info *ri = &rec->ref;
            char how[ODG_CELL_STRLEN];
            if (ri->kind == ODG_REF_FINE) {
                odg_fmt(how, sizeof how, "%s N=%ld", ri->scheme, ri->N);
            } else {
                odg_fmt(how, sizeof how, "%s", ri->method);
            }
            odg_cell_str(&rec->cell[ODG_COL_ref_method], how);
            odg_cell_real(&rec->cell[ODG_COL_ref_error], ri->error);
        }
    }

    double left = deadline - odg_now();
    if (left <= 0) {
        free(gref);
        set_status(rec, "timeout",
                   "stopped at --timeout %g s before measuring (loading the "
                   "problem and the reference took it all)",
                   c->timeout_s);
        return ODG_OK;
    }
    measure_ctx mc = {.r = r, .gref = gref};
    char peer_dir[4096];
    if (c->solver == ODG_SOLVER_TORCH) {
        if ((st = odg_torch_dir(peer_dir, err)) != ODG_OK) {
            free(gref);
            return st;
        }
        mc.peer_dir = peer_dir;
    }
    odg_child res;
    st = c->mpi ? measure_here(&mc, &res, err)
                : odg_child_run(measure_child, &mc, isfinite(left) ? left : 0, &res, err);
    free(gref);
    if (mc.peer_dir) {
        odg_torch_cleanup(r, peer_dir);
    }
    if (st != ODG_OK) {
        odg_child_free(&res);
        return st;
    }
    measure_msg m;
    size_t nmsg = res.len / sizeof m;
    if (nmsg > 0) {
        memcpy(&m, res.data + (nmsg - 1) * sizeof m, sizeof m);
        fill_measured(r, &m, rec);
    }
    if (res.timed_out) {
        set_status(rec, "timeout", "stopped at --timeout %g s%s", c->timeout_s,
                   nmsg > 0 ? " (after the timed gradients)" : "");
    } else if (res.signaled) {
        set_status(rec, res.signo == SIGKILL ? "oom" : "error",
                   "the measuring process was killed by %s (%d)%s", signal_name(res.signo),
                   res.signo, res.signo == SIGKILL ? ", most likely by the OOM killer" : "");
    } else if (nmsg == 0 || res.code != 0) {
        set_status(rec, "error", "the measuring process exited with code %d%s", res.code,
                   nmsg == 0 ? " and no results" : "");
    } else {
        set_status(rec, odg_status_record((odg_status)m.status), m.msg[0] ? "%s" : NULL, m.msg);
    }
    /* What makes an otherwise ok row not ok: outputs it was asked for that are missing, and an
     * error against a reference that is itself not accurate */
    const odg_ref_info *ri = &rec->ref;
    if (strcmp(rec->cell[ODG_COL_status].s, "ok") != 0) {
        /* the measurement's own status stands */
    } else if (rec->save_grad_error[0]) {
        set_status(rec, "error", "--save-grad failed: %s", rec->save_grad_error);
    } else if (ri->kind == ODG_REF_FINE && ri->status == ODG_OK && !ri->converged &&
               rec->cell[ODG_COL_err_vs_reference].type == ODG_CELL_REAL) {
        char check[96] = "";
        if (isfinite(ri->error)) {
            odg_fmt(check, sizeof check, ", %.3g from %s", ri->error, ri->second);
        } else if (ri->second[0]) {
            odg_fmt(check, sizeof check, ", check %s", ri->second);
        }
        set_status(rec, odg_status_record(ODG_EUNCONVERGED),
                   "err_vs_reference is against a fine reference that did not converge (%s "
                   "N=%ld: change %.3g at the last doubling%s)",
                   ri->scheme, ri->N, ri->change, check);
    }
    record_rates(r, rec);
    odg_child_free(&res);
    return ODG_OK;
}
