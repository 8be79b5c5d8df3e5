/* The model layer's common part: names generated from models.def, spectra.def and blasmodes.def,
 * default options, option checks, the choice of BLAS mode, create/destroy dispatch to mlp.c and
 * linear.c, seeded init, named views of theta, and .npy load/save of those views.
 * docs/theory.md section 9 (mlp), section 7 (linear); docs/theory.md section 1, "Parallelism".
 */
#include "odegrad/models.h"

#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Per-kind entry points, defined in mlp.c and linear.c (they would live in a private
 * models_impl.h).  create: checks the kind's options, sets P, the views and ops, allocates impl
 * under ODG_TAG_MODEL, and on failure frees what it allocated.  init: fills theta from rng. */
odg_status odg_mlp_create(odg_model *m);
odg_status odg_mlp_init(odg_model *m, odg_rng *rng);
odg_status odg_linear_create(odg_model *m);
odg_status odg_linear_init(odg_model *m, odg_rng *rng);
odg_status odg_cnf_create(odg_model *m);
odg_status odg_cnf_init(odg_model *m, odg_rng *rng);
odg_status odg_plugin_create(odg_model *m, char *err); /* plugin.c: the same, with a message */
odg_status odg_plugin_init(odg_model *m, odg_rng *rng);

typedef struct kind_entry {
    odg_status (*create)(odg_model *m);
    odg_status (*init)(odg_model *m, odg_rng *rng);
} kind_entry;

/* Indexed by odg_model_kind; a kind in models.def without an entry here is ODG_EUNSUP. */
static const kind_entry kinds[ODG_NMODELS] = {
    [ODG_MODEL_MLP] = {odg_mlp_create, odg_mlp_init},
    [ODG_MODEL_LINEAR] = {odg_linear_create, odg_linear_init},
    [ODG_MODEL_CNF] = {odg_cnf_create, odg_cnf_init},
    [ODG_MODEL_PLUGIN] = {NULL, odg_plugin_init}, /* created by odg_plugin_create */
};

/* ---- names -------------------------------------------------------------------------------- */

static const char *const kind_names[] = {
#define ODG_MODEL(e, name, desc) name,
#include "odegrad/models.def"
#undef ODG_MODEL
};

static const char *const kind_descs[] = {
#define ODG_MODEL(e, name, desc) desc,
#include "odegrad/models.def"
#undef ODG_MODEL
};

static const char *const spectrum_names[] = {
#define ODG_SPECTRUM(e, name, desc) name,
#include "odegrad/spectra.def"
#undef ODG_SPECTRUM
};

static const char *const spectrum_descs[] = {
#define ODG_SPECTRUM(e, name, desc) desc,
#include "odegrad/spectra.def"
#undef ODG_SPECTRUM
};

static const char *const blas_names[] = {
#define ODG_BLAS_MODE(e, name, desc) name,
#include "odegrad/blasmodes.def"
#undef ODG_BLAS_MODE
};

static const char *const blas_descs[] = {
#define ODG_BLAS_MODE(e, name, desc) desc,
#include "odegrad/blasmodes.def"
#undef ODG_BLAS_MODE
};

const char *odg_model_kind_name(odg_model_kind k)
{
    return (k >= 0 && k < ODG_NMODELS) ? kind_names[k] : "?";
}

const char *odg_model_kind_desc(odg_model_kind k)
{
    return (k >= 0 && k < ODG_NMODELS) ? kind_descs[k] : "?";
}

odg_status odg_model_kind_from_name(const char *name, odg_model_kind *out)
{
    if (name == NULL || out == NULL) {
        return ODG_EINVAL;
    }
    for (int k = 0; k < ODG_NMODELS; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (odg_model_kind)k;
            return ODG_OK;
        }
    }
    return ODG_EINVAL;
}

const char *odg_spectrum_name(odg_spectrum s)
{
    return (s >= 0 && s < ODG_NSPECTRA) ? spectrum_names[s] : "?";
}

const char *odg_spectrum_desc(odg_spectrum s)
{
    return (s >= 0 && s < ODG_NSPECTRA) ? spectrum_descs[s] : "?";
}

odg_status odg_spectrum_from_name(const char *name, odg_spectrum *out)
{
    if (name == NULL || out == NULL) {
        return ODG_EINVAL;
    }
    for (int s = 0; s < ODG_NSPECTRA; s++) {
        if (strcmp(name, spectrum_names[s]) == 0) {
            *out = (odg_spectrum)s;
            return ODG_OK;
        }
    }
    return ODG_EINVAL;
}

static const char *const trace_names[] = {
#define ODG_TRACE(e, name, desc) name,
#include "odegrad/traces.def"
#undef ODG_TRACE
};

static const char *const trace_descs[] = {
#define ODG_TRACE(e, name, desc) desc,
#include "odegrad/traces.def"
#undef ODG_TRACE
};

const char *odg_trace_name(odg_trace t)
{
    return (t >= 0 && t < ODG_NTRACES) ? trace_names[t] : "?";
}

const char *odg_trace_desc(odg_trace t)
{
    return (t >= 0 && t < ODG_NTRACES) ? trace_descs[t] : "?";
}

const char *odg_blas_mode_name(odg_blas_mode b)
{
    return (b >= 0 && b < ODG_NBLAS_MODES) ? blas_names[b] : "?";
}

const char *odg_blas_mode_desc(odg_blas_mode b)
{
    return (b >= 0 && b < ODG_NBLAS_MODES) ? blas_descs[b] : "?";
}

odg_status odg_blas_mode_from_name(const char *name, odg_blas_mode *out)
{
    if (name == NULL || out == NULL) {
        return ODG_EINVAL;
    }
    for (int b = 0; b < ODG_NBLAS_MODES; b++) {
        if (strcmp(name, blas_names[b]) == 0) {
            *out = (odg_blas_mode)b;
            return ODG_OK;
        }
    }
    return ODG_EINVAL;
}

/* ---- the BLAS mode ------------------------------------------------------------------------ */

/* openblas_get_parallel(): 0 sequential build, 1 pthreads build, 2 OpenMP build. */
#define ODG_OPENBLAS_SEQUENTIAL 0
#define ODG_OPENBLAS_OPENMP 2

odg_status odg_blas_mode_resolve(odg_blas_mode want, odg_blas_mode *out)
{
    if (out == NULL || want < 0 || want >= ODG_NBLAS_MODES) {
        return ODG_EINVAL;
    }
    const int par = openblas_get_parallel();
    const int chunk_ok = par == ODG_OPENBLAS_OPENMP || par == ODG_OPENBLAS_SEQUENTIAL;
    if (want == ODG_BLAS_CHUNKED && !chunk_ok) {
        return ODG_EUNSUP;
    }
    if (want == ODG_BLAS_AUTO) {
        /* the deterministic mode wherever it can run (see models.h) */
        *out = chunk_ok ? ODG_BLAS_CHUNKED : ODG_BLAS_THREADED;
    } else {
        *out = want;
    }
    return ODG_OK;
}

odg_status odg_model_set_blas_mode(odg_model *m, odg_blas_mode want)
{
    if (m == NULL) {
        return ODG_EINVAL;
    }
    odg_blas_mode got;
    odg_status st = odg_blas_mode_resolve(want, &got);
    if (st != ODG_OK) {
        return st;
    }
    m->opts.blas_mode = want;
    m->blas = got;
    return ODG_OK;
}

/* ---- options, create, destroy ------------------------------------------------------------- */

void odg_model_opts_default(odg_model_opts *o)
{
    memset(o, 0, sizeof *o);
    o->kind = ODG_MODEL_MLP;
    o->D = 16;
    o->H = 64;
    o->B = 128;
    o->time_input = 0;
    o->gain = 1.0;
    o->spectrum = ODG_SPECTRUM_RANDOM;
    o->stiffness = 1.0;
    o->reference = 0;
    o->blas_mode = ODG_BLAS_AUTO;
}

/* The checks every kind shares.  Sizes are also passed to BLAS and LAPACK as int, hence the
 * INT_MAX bounds; the kind's create checks its own products (H * Din, D * D, P). */
static odg_status check_opts(const odg_model_opts *o)
{
    if (o->kind < 0 || o->kind >= ODG_NMODELS || o->spectrum < 0 || o->spectrum >= ODG_NSPECTRA) {
        return ODG_EINVAL;
    }
    if (o->blas_mode < 0 || o->blas_mode >= ODG_NBLAS_MODES) {
        return ODG_EINVAL;
    }
    if (o->D < 1 || o->B < 1 || o->D > INT_MAX || o->B > INT_MAX) {
        return ODG_EINVAL;
    }
    if (o->B > SIZE_MAX / sizeof(double) / o->D) { /* Z, F, G, Zbar are (B, D) */
        return ODG_EINVAL;
    }
    if (o->batch_chunk > INT_MAX) {
        return ODG_EINVAL;
    }
    if (!isfinite(o->gain) || !(o->gain > 0) || !isfinite(o->stiffness) || !(o->stiffness >= 1)) {
        return ODG_EINVAL;
    }
    return ODG_OK;
}

odg_status odg_model_create(odg_model **out, const odg_model_opts *o, odg_mem *mem)
{
    return odg_model_create_msg(out, o, mem, NULL);
}

odg_status odg_model_create_msg(odg_model **out, const odg_model_opts *o, odg_mem *mem,
                                char err[ODG_ERRLEN])
{
    if (err != NULL) {
        err[0] = '\0';
    }
    if (out == NULL) {
        return odg_fail(err, ODG_EINVAL, "odg_model_create: out is NULL");
    }
    *out = NULL;
    if (o == NULL || mem == NULL) {
        return odg_fail(err, ODG_EINVAL, "odg_model_create: %s is NULL", o ? "mem" : "o");
    }
    odg_status st = check_opts(o);
    if (st != ODG_OK) {
        return odg_fail(err, st, "the model's options are out of range");
    }
    const int plugin = o->kind == ODG_MODEL_PLUGIN;
    if (kinds[o->kind].create == NULL && !plugin) {
        return odg_fail(err, ODG_EUNSUP, "model %s cannot be created", kind_names[o->kind]);
    }
    odg_blas_mode blas;
    st = odg_blas_mode_resolve(o->blas_mode, &blas);
    if (st != ODG_OK) {
        return odg_fail(err, st, "blas mode %s needs OpenBLAS's OpenMP or sequential build",
                        blas_names[o->blas_mode]);
    }
    /* The struct itself is counted too, so nlive returns to its old value after destroy. */
    odg_model *m = odg_mem_alloc(mem, ODG_TAG_MODEL, sizeof *m);
    if (m == NULL) {
        return ODG_ENOMEM;
    }
    m->opts = *o;
    m->B = o->B;
    m->D = o->D;
    m->mem = mem;
    m->blas = blas;
    m->chunk = o->batch_chunk > 0 ? o->batch_chunk : ODG_BATCH_CHUNK;
    m->nchunks = (o->B + m->chunk - 1) / m->chunk;
    m->rank = 0;
    m->nranks = 1;
    st = plugin ? odg_plugin_create(m, err) : kinds[o->kind].create(m); /* P, views, ops, impl */
    if (st != ODG_OK) {
        if (err != NULL && err[0] == '\0') {
            odg_fail(err, st, "the model cannot be created: %s", odg_status_str(st));
        }
        goto fail;
    }
    m->theta = odg_mem_doubles(mem, ODG_TAG_MODEL, m->P); /* zero-filled by the allocator */
    if (m->theta == NULL) {
        st = ODG_ENOMEM;
        goto fail;
    }
    *out = m;
    return ODG_OK;

fail:
    if (m->ops != NULL) {
        m->ops->destroy(m);
    }
    odg_mem_free(mem, m);
    return st;
}

void odg_model_destroy(odg_model **pm)
{
    if (pm == NULL || *pm == NULL) {
        return;
    }
    odg_model *m = *pm;
    odg_mem *mem = m->mem;
    if (m->ops != NULL) {
        m->ops->destroy(m);
    }
    odg_mem_free(mem, m->rank_chunk);
    odg_mem_free(mem, m->theta);
    odg_mem_free(mem, m);
    *pm = NULL;
}

odg_status odg_model_set_ranks(odg_model *m, int rank, int nranks)
{
    if (m == NULL || nranks < 1 || rank < 0 || rank >= nranks) {
        return ODG_EINVAL;
    }
    if (nranks > 1 && (m->opts.kind != ODG_MODEL_MLP || m->opts.reference ||
                       m->blas != ODG_BLAS_CHUNKED)) {
        return ODG_EUNSUP;
    }
    odg_mem_free(m->mem, m->rank_chunk);
    m->rank_chunk = m->rank_off = NULL;
    m->rank = 0;
    m->nranks = 1;
    if (nranks == 1) {
        return ODG_OK;
    }
    size_t *a = odg_mem_alloc(m->mem, ODG_TAG_MODEL, 2 * ((size_t)nranks + 1) * sizeof(size_t));
    if (a == NULL) {
        return ODG_ENOMEM;
    }
    m->rank_chunk = a;
    m->rank_off = a + nranks + 1;
    /* contiguous runs of whole chunks, as even as they can be */
    for (int r = 0; r <= nranks; r++) {
        m->rank_chunk[r] = (size_t)r * m->nchunks / (size_t)nranks;
    }
    m->rank = rank;
    m->nranks = nranks;
    return ODG_OK;
}

odg_status odg_model_init(odg_model *m, odg_rng *rng)
{
    if (m == NULL || rng == NULL || m->opts.kind < 0 || m->opts.kind >= ODG_NMODELS) {
        return ODG_EINVAL;
    }
    if (kinds[m->opts.kind].init == NULL) {
        return ODG_EUNSUP;
    }
    return kinds[m->opts.kind].init(m, rng);
}

size_t odg_model_act_size(const odg_model *m)
{
    if (m == NULL || m->ops == NULL || m->ops->f_act == NULL || m->ops->vjp_act == NULL) {
        return 0;
    }
    return odg_model_kind_has_activations(m->opts.kind) ? m->B * m->opts.H : 0;
}

int odg_model_kind_has_activations(odg_model_kind k)
{
    return k == ODG_MODEL_MLP;
}

const odg_param_view *odg_model_view(const odg_model *m, const char *name)
{
    if (m == NULL || name == NULL) {
        return NULL;
    }
    for (int v = 0; v < m->nviews; v++) {
        if (strcmp(m->view[v].name, name) == 0) {
            return &m->view[v];
        }
    }
    return NULL;
}

/* ---- load and save ------------------------------------------------------------------------ */

/* Long enough for any real directory; a longer one is refused rather than truncated. */
#define ODG_PATH_CAP 4096

static void set_err(char *err, const char *fmt, ...)
{
    if (err == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, ODG_ERRLEN, fmt, ap);
    va_end(ap);
}

/* path = <dir>/<prefix><name>.npy; ODG_EINVAL if it does not fit. */
static odg_status view_path(char path[ODG_PATH_CAP], const char *dir, const char *prefix,
                            const char *name, char *err)
{
    int k = snprintf(path, ODG_PATH_CAP, "%s/%s%s.npy", dir, prefix, name);
    if (k < 0 || k >= ODG_PATH_CAP) {
        set_err(err, "path for view %s%s is longer than %d bytes", prefix, name, ODG_PATH_CAP - 1);
        return ODG_EINVAL;
    }
    return ODG_OK;
}

odg_status odg_model_load(odg_model *m, const char *dir, unsigned *loaded, char err[ODG_ERRLEN])
{
    if (err != NULL) {
        err[0] = '\0';
    }
    if (loaded != NULL) {
        *loaded = 0;
    }
    if (m == NULL || dir == NULL) {
        set_err(err, "odg_model_load: argument %d is NULL", m == NULL ? 1 : 2);
        return ODG_EINVAL;
    }
    char path[ODG_PATH_CAP];
    for (int v = 0; v < m->nviews; v++) {
        const odg_param_view *pv = &m->view[v];
        odg_status st = view_path(path, dir, "", pv->name, err);
        if (st != ODG_OK) {
            return st;
        }
        /* Only a file that is not there at all is skipped; one that cannot be read is an error,
         * which odg_npy_load reports. */
        if (access(path, F_OK) != 0 && errno == ENOENT) {
            continue;
        }
        double *dst = m->theta + pv->offset;
        if (pv->cols == 1) {
            /* A vector: numpy writes (n,), but (n, 1) is common too. */
            size_t shape1[1] = {pv->rows};
            st = odg_npy_load(path, 1, shape1, dst, err);
            if (st == ODG_ESHAPE) {
                char err2[ODG_ERRLEN];
                size_t shape2[2] = {pv->rows, 1};
                if (odg_npy_load(path, 2, shape2, dst, err2) == ODG_OK) {
                    st = ODG_OK;
                    if (err != NULL) {
                        err[0] = '\0';
                    }
                }
                /* else keep the first message: it names the file and the shape found */
            }
        } else {
            size_t shape[2] = {pv->rows, pv->cols};
            st = odg_npy_load(path, 2, shape, dst, err);
        }
        if (st != ODG_OK) {
            return st; /* the views before this one stay loaded */
        }
        if (loaded != NULL) {
            *loaded |= 1u << v;
        }
    }
    return ODG_OK;
}

odg_status odg_model_save(const odg_model *m, const double *v, const char *dir, const char *prefix,
                          char err[ODG_ERRLEN])
{
    if (err != NULL) {
        err[0] = '\0';
    }
    if (m == NULL || v == NULL || dir == NULL) {
        set_err(err, "odg_model_save: argument %d is NULL", m == NULL ? 1 : v == NULL ? 2 : 3);
        return ODG_EINVAL;
    }
    if (prefix == NULL) {
        prefix = "";
    }
    char path[ODG_PATH_CAP];
    for (int k = 0; k < m->nviews; k++) {
        const odg_param_view *pv = &m->view[k];
        odg_status st = view_path(path, dir, prefix, pv->name, err);
        if (st != ODG_OK) {
            return st;
        }
        size_t shape[2] = {pv->rows, pv->cols};
        int ndim = pv->cols == 1 ? 1 : 2; /* vectors as 1-D, as numpy users expect */
        st = odg_npy_save(path, ndim, shape, v + pv->offset, err);
        if (st != ODG_OK) {
            return st;
        }
    }
    return ODG_OK;
}
