/* A user's vector field from a shared object (include/odegrad/plugin.h): loaded with dlopen, its
 * constructor odegrad_field called for the model's sizes, the field it returns checked against
 * the contract and wrapped in the model vtable; and the finite-difference check of a model's VJP
 * that every plugin passes before a run uses it (docs/api.md, "Bring your own field").
 */
#include "odegrad/plugin.h"
#include "odegrad/models.h"

#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct plugin_impl {
    void *handle; /* dlopen's */
    odg_field field;
    int use_ref; /* f_ref and vjp_ref serve f and vjp */
    char names[ODG_FIELD_MAX_VIEWS][ODG_FIELD_NAME_LEN];
} plugin_impl;

/* ---- the model vtable --------------------------------------------------------------------- */

static int plugin_f(odg_model *m, double t, const double *Z, double *F)
{
    plugin_impl *pi = m->impl;
    int (*f)(void *, double, size_t, size_t, const double *, const double *, double *) =
        pi->use_ref ? pi->field.f_ref : pi->field.f;
    return f(pi->field.ctx, t, m->B, m->D, m->theta, Z, F) == 0 ? ODG_OK : ODG_EINVAL;
}

static int plugin_vjp(odg_model *m, double t, const double *Z, const double *G, double *Zbar,
                      double *gtheta)
{
    plugin_impl *pi = m->impl;
    int (*vjp)(void *, double, size_t, size_t, const double *, const double *, const double *,
               double *, double *) = pi->use_ref ? pi->field.vjp_ref : pi->field.vjp;
    return vjp(pi->field.ctx, t, m->B, m->D, m->theta, Z, G, Zbar, gtheta) == 0 ? ODG_OK
                                                                                : ODG_EINVAL;
}

static void plugin_destroy(odg_model *m)
{
    plugin_impl *pi = m->impl;
    if (pi == NULL) {
        return;
    }
    if (pi->field.destroy != NULL) {
        pi->field.destroy(pi->field.ctx);
    }
    if (pi->handle != NULL) {
        dlclose(pi->handle);
    }
    odg_mem_free(m->mem, pi);
    m->impl = NULL;
}

static const odg_model_ops plugin_ops = {plugin_f, plugin_vjp, plugin_destroy, NULL, NULL};

/* ---- loading ------------------------------------------------------------------------------ */

static int good_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= ODG_FIELD_NAME_LEN) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            return 0;
        }
    }
    return 1;
}

/* The field's promises that odegrad relies on: f and vjp present, P >= 1, views inside theta with
 * names that make file names, no two alike. */
static odg_status check_field(const char *path, plugin_impl *pi, char *err)
{
    const odg_field *fd = &pi->field;
    if (fd->f == NULL || fd->vjp == NULL) {
        return odg_fail(err, ODG_EINVAL, "plugin:%s: the field has no %s", path,
                        fd->f == NULL ? "f" : "vjp");
    }
    if ((fd->f_ref == NULL) != (fd->vjp_ref == NULL)) {
        return odg_fail(err, ODG_EINVAL, "plugin:%s: the field has %s but not %s", path,
                        fd->f_ref ? "f_ref" : "vjp_ref", fd->f_ref ? "vjp_ref" : "f_ref");
    }
    if (fd->P < 1 || fd->P > SIZE_MAX / sizeof(double) / 2) {
        return odg_fail(err, ODG_EINVAL,
                        "plugin:%s: the field's parameter count P = %zu is out "
                        "of range (at least 1)",
                        path, fd->P);
    }
    if (fd->nviews < 0 || fd->nviews > ODG_FIELD_MAX_VIEWS) {
        return odg_fail(err, ODG_EINVAL, "plugin:%s: %d views, at most %d", path, fd->nviews,
                        ODG_FIELD_MAX_VIEWS);
    }
    for (int v = 0; v < fd->nviews; v++) {
        const odg_field_view *fv = &fd->view[v];
        if (!good_name(fv->name)) {
            return odg_fail(err, ODG_EINVAL,
                            "plugin:%s: view %d's name is not 1 to %d "
                            "characters of A-Z, a-z, 0-9 and _",
                            path, v, ODG_FIELD_NAME_LEN - 1);
        }
        if (fv->rows < 1 || fv->cols < 1 || fv->rows > fd->P / fv->cols ||
            fv->offset > fd->P - fv->rows * fv->cols) {
            return odg_fail(err, ODG_EINVAL,
                            "plugin:%s: view %s (offset %zu, %zu x %zu) does "
                            "not lie inside theta (P = %zu)",
                            path, fv->name, fv->offset, fv->rows, fv->cols, fd->P);
        }
        if (strcmp(fv->name, "z0") == 0 || strcmp(fv->name, "w") == 0) {
            return odg_fail(err, ODG_EINVAL,
                            "plugin:%s: a view may not be named %s (the "
                            "problem's own file)",
                            path, fv->name);
        }
        for (int u = 0; u < v; u++) {
            if (strcmp(fd->view[u].name, fv->name) == 0) {
                return odg_fail(err, ODG_EINVAL, "plugin:%s: two views are named %s", path,
                                fv->name);
            }
        }
    }
    return ODG_OK;
}

/* Loads m->opts.plugin and fills m's P, views, ops and impl (models/model.c calls it from
 * odg_model_create_msg); on failure frees what it took. */
odg_status odg_plugin_create(odg_model *m, char *err)
{
    const char *path = m->opts.plugin;
    if (path == NULL || path[0] == '\0') {
        return odg_fail(err, ODG_EINVAL, "--model plugin needs a path: plugin:PATH");
    }
    if (m->opts.time_input != 0) {
        return odg_fail(err, ODG_EUNSUP, "plugin:%s: a plugin field has no time input", path);
    }
    /* A path without a slash would be searched for on the library path; the user means a file. */
    char local[4096];
    const char *open_path = path;
    if (strchr(path, '/') == NULL) {
        if ((size_t)snprintf(local, sizeof local, "./%s", path) >= sizeof local) {
            return odg_fail(err, ODG_EINVAL, "plugin:%s: the path is too long", path);
        }
        open_path = local;
    }
    plugin_impl *pi = odg_mem_alloc(m->mem, ODG_TAG_MODEL, sizeof *pi);
    if (pi == NULL) {
        return ODG_ENOMEM;
    }
    memset(pi, 0, sizeof *pi);
    odg_status st;
    dlerror();
    pi->handle = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
    if (pi->handle == NULL) {
        const char *why = dlerror();
        st = odg_fail(err, ODG_EINVAL, "plugin:%s: cannot be loaded: %s", path,
                      why ? why : "dlopen failed");
        goto fail;
    }
    dlerror();
    void *sym = dlsym(pi->handle, ODG_FIELD_SYMBOL);
    if (sym == NULL) {
        st = odg_fail(err, ODG_EINVAL,
                      "plugin:%s: exports no function " ODG_FIELD_SYMBOL
                      " (include/odegrad/plugin.h; a C++ field declares it extern \"C\")",
                      path);
        goto fail;
    }
    /* dlsym returns a data pointer; POSIX guarantees that it converts to a function pointer */
    odg_field_fn make;
    memcpy(&make, &sym, sizeof make);
    odg_field_request req = {ODG_FIELD_ABI, m->D, m->B, m->opts.reference};
    if (make(&req, &pi->field) != 0) {
        pi->field.msg[ODG_FIELD_MSG_LEN - 1] = '\0';
        st = odg_fail(err, ODG_EINVAL, "plugin:%s: refuses D = %zu, B = %zu: %s", path, m->D, m->B,
                      pi->field.msg[0] ? pi->field.msg : "(it gives no reason)");
        pi->field.destroy = NULL; /* a refusing constructor keeps nothing */
        goto fail;
    }
    if (pi->field.abi != ODG_FIELD_ABI) {
        st = odg_fail(err, ODG_EUNSUP,
                      "plugin:%s: built for field ABI version %d; this odegrad reads version %d "
                      "(rebuild it against this odegrad's include/odegrad/plugin.h)",
                      path, pi->field.abi, ODG_FIELD_ABI);
        pi->field.destroy = NULL; /* another layout: nothing of it can be trusted */
        goto fail;
    }
    if ((st = check_field(path, pi, err)) != ODG_OK) {
        goto fail;
    }
    const odg_field *fd = &pi->field;
    pi->use_ref = m->opts.reference && fd->f_ref != NULL;
    m->P = fd->P;
    if (fd->nviews == 0) {
        snprintf(pi->names[0], ODG_FIELD_NAME_LEN, "theta");
        m->nviews = 1;
        m->view[0] = (odg_param_view){pi->names[0], 0, fd->P, 1};
    } else {
        m->nviews = fd->nviews;
        for (int v = 0; v < fd->nviews; v++) {
            /* copied: the plugin's strings go with dlclose */
            snprintf(pi->names[v], ODG_FIELD_NAME_LEN, "%s", fd->view[v].name);
            m->view[v] = (odg_param_view){pi->names[v], fd->view[v].offset, fd->view[v].rows,
                                          fd->view[v].cols};
        }
    }
    m->impl = pi;
    m->ops = &plugin_ops;
    return ODG_OK;

fail:
    if (pi->field.destroy != NULL) {
        pi->field.destroy(pi->field.ctx);
    }
    if (pi->handle != NULL) {
        dlclose(pi->handle);
    }
    odg_mem_free(m->mem, pi);
    return st;
}

/* theta from P normal draws: the field's own init, or gain * noise. */
odg_status odg_plugin_init(odg_model *m, odg_rng *rng)
{
    plugin_impl *pi = m->impl;
    double *noise = odg_mem_doubles(m->mem, ODG_TAG_WORKSPACE, m->P);
    if (noise == NULL) {
        return ODG_ENOMEM;
    }
    odg_rng_fill_normal(rng, noise, m->P, 0.0, 1.0);
    odg_status st = ODG_OK;
    if (pi->field.init != NULL) {
        st = pi->field.init(pi->field.ctx, m->D, m->theta, noise) == 0 ? ODG_OK : ODG_EINVAL;
    } else {
        for (size_t i = 0; i < m->P; i++) {
            m->theta[i] = m->opts.gain * noise[i];
        }
    }
    odg_mem_free(m->mem, noise);
    return st;
}

/* The field's own count, where it gives one. */
odg_status odg_plugin_flops(const odg_model *m, double *f_flops, double *vjp_flops)
{
    const plugin_impl *pi = m->impl;
    double f = 0, v = 0;
    if (pi->field.flops == NULL || pi->field.flops(pi->field.ctx, m->B, m->D, &f, &v) != 0) {
        return ODG_EUNSUP;
    }
    if (f_flops) {
        *f_flops = f;
    }
    if (vjp_flops) {
        *vjp_flops = v;
    }
    return ODG_OK;
}

/* ---- the gradient check ------------------------------------------------------------------- */

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        s += a[i] * b[i];
    }
    return s;
}

/* (<G, F+> - <G, F->) / 2e and the analytic value agree to a relative 1e-5; floor: the rounding
 * of the two dot products themselves, eps * sum |G .* F| / e. */
static int agrees(double fd, double an, double floor_)
{
    return fabs(fd - an) <= 1e-5 * fmax(fabs(fd), fabs(an)) + floor_;
}

odg_status odg_model_check_vjp(odg_model *m, double t, const double *Z, odg_mem *mem,
                               char err[ODG_ERRLEN])
{
    if (m == NULL || Z == NULL || mem == NULL) {
        return odg_fail(err, ODG_EINVAL, "odg_model_check_vjp: an argument is NULL");
    }
    const size_t M = m->B * m->D, P = m->P;
    /* one block: G, u, Zp, Fp, Fm, Zbar (M each); v, gtheta, theta0 (P each) */
    double *buf = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, 6 * M + 3 * P);
    if (buf == NULL) {
        return ODG_ENOMEM;
    }
    double *G = buf, *u = G + M, *Zp = u + M, *Fp = Zp + M, *Fm = Fp + M, *Zbar = Fm + M;
    double *v = Zbar + M, *gtheta = v + P, *theta0 = gtheta + P;
    odg_rng rng;
    odg_rng_seed(&rng, 20240917);
    odg_rng_fill_normal(&rng, G, M, 0.0, 1.0);
    odg_rng_fill_normal(&rng, u, M, 0.0, 1.0);
    odg_rng_fill_normal(&rng, v, P, 0.0, 1.0);
    memcpy(theta0, m->theta, P * sizeof(double));
    double zmax = 0, tmax = 0;
    for (size_t i = 0; i < M; i++) {
        zmax = fmax(zmax, fabs(Z[i]));
    }
    for (size_t i = 0; i < P; i++) {
        tmax = fmax(tmax, fabs(theta0[i]));
    }
    const double ez = 1e-5 * (1 + zmax), et = 1e-5 * (1 + tmax);
    odg_status st = ODG_OK;
    double fd_z = 0, fd_t = 0, an_z = 0, an_t = 0, floor_z = 0, floor_t = 0;
    int rc = odg_model_vjp(m, t, Z, G, Zbar, gtheta); /* gtheta zeroed by the allocator */
    an_z = dot(Zbar, u, M);
    an_t = dot(gtheta, v, P);
    /* d/de <G, f(Z + e u)> */
    for (int s = 0; rc == 0 && s < 2; s++) {
        for (size_t i = 0; i < M; i++) {
            Zp[i] = Z[i] + (s == 0 ? ez : -ez) * u[i];
        }
        rc = odg_model_f(m, t, Zp, s == 0 ? Fp : Fm);
    }
    if (rc == 0) {
        fd_z = (dot(G, Fp, M) - dot(G, Fm, M)) / (2 * ez);
        for (size_t i = 0; i < M; i++) {
            floor_z += fabs(G[i] * Fp[i]) + fabs(G[i] * Fm[i]);
        }
    }
    /* d/de <G, f(Z; theta + e v)> */
    for (int s = 0; rc == 0 && s < 2; s++) {
        for (size_t i = 0; i < P; i++) {
            m->theta[i] = theta0[i] + (s == 0 ? et : -et) * v[i];
        }
        rc = odg_model_f(m, t, Z, s == 0 ? Fp : Fm);
    }
    memcpy(m->theta, theta0, P * sizeof(double));
    if (rc == 0) {
        fd_t = (dot(G, Fp, M) - dot(G, Fm, M)) / (2 * et);
        for (size_t i = 0; i < M; i++) {
            floor_t += fabs(G[i] * Fp[i]) + fabs(G[i] * Fm[i]);
        }
    }
    /* eps / e times the size of what was subtracted, with a factor 100 for the sums' rounding */
    floor_z *= 100 * 0x1p-52 / ez;
    floor_t *= 100 * 0x1p-52 / et;
    if (rc != 0) {
        st = odg_fail(err, ODG_EINVAL, "f or its VJP reports failure (%d) at t = %g", rc, t);
    } else if (!isfinite(fd_z) || !isfinite(an_z) || !isfinite(fd_t) || !isfinite(an_t)) {
        st = odg_fail(err, ODG_EINVAL, "f or its VJP gives a non-finite number at t = %g", t);
    } else if (!agrees(fd_z, an_z, floor_z)) {
        st = odg_fail(err, ODG_EINVAL,
                      "its VJP fails the gradient check in z: <Zbar, u> = %.10g, but central "
                      "differences of f give %.10g",
                      an_z, fd_z);
    } else if (!agrees(fd_t, an_t, floor_t)) {
        st = odg_fail(err, ODG_EINVAL,
                      "its VJP fails the gradient check in theta: <gtheta, v> = %.10g, but "
                      "central differences of f give %.10g",
                      an_t, fd_t);
    }
    odg_mem_free(mem, buf);
    return st;
}
