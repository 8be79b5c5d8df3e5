/* The interpolator of z(t) for the continuous adjoint (backward.h), shared by its fixed steps
 * (the forward steps replayed backwards, one interval each) and its own adaptive steps (any t). */
#include "backward.h"

#include <string.h>

static int needs_f(odg_interp kind)
{
    return kind == ODG_INTERP_HERMITE;
}

/* Hermite with binomial checkpoints: the store gives z_n alone, f(t_n, z_n) is evaluated again. */
static int needs_fbuf(odg_interp kind, odg_storage storage, odg_schedule schedule)
{
    return needs_f(kind) && storage == ODG_STORAGE_CHECKPOINTS &&
           schedule == ODG_SCHEDULE_BINOMIAL;
}

size_t odg_interp_bytes(odg_interp kind, odg_storage storage, odg_schedule schedule, size_t M)
{
    size_t n = 2; /* zr, zN */
    n += needs_f(kind) ? 2 : 0;
    n += needs_fbuf(kind, storage, schedule) ? 1 : 0;
    n += kind == ODG_INTERP_DENSE ? 1 : 0;
    return n * M * sizeof(double);
}

void odg_interp_free(odg_interpolator *ip, odg_mem *mem)
{
    double **bufs[] = {&ip->zr, &ip->fr, &ip->zN, &ip->fN, &ip->fbuf, &ip->znx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        odg_mem_free(mem, *bufs[i]);
        *bufs[i] = NULL;
    }
}

odg_status odg_interp_init(odg_interpolator *ip, odg_interp kind, odg_store *store, odg_erk *erk,
                           const odg_system *sys, const double *zN, odg_mem *mem)
{
    memset(ip, 0, sizeof *ip);
    size_t M = store->M;
    ip->kind = kind;
    ip->tab = odg_erk_tableau(erk);
    ip->M = M;
    ip->store = store;
    ip->grid = store->grid;
    ip->erk = erk;
    ip->sys = sys;
    ip->N = store->N;
    ip->cur = -1;
    int f = needs_f(kind);
    ip->zr = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M);
    ip->zN = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M);
    int ok = ip->zr && ip->zN;
    if (ok && f) {
        ip->fr = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M);
        ip->fN = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M);
        ok = ip->fr && ip->fN;
    }
    if (ok && needs_fbuf(kind, store->kind, store->schedule)) {
        ok = (ip->fbuf = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M)) != NULL;
    }
    if (ok && kind == ODG_INTERP_DENSE) {
        ok = (ip->znx = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M)) != NULL;
    }
    if (!ok) {
        odg_interp_free(ip, mem);
        return ODG_ENOMEM;
    }
    memcpy(ip->zN, zN, M * sizeof(double));
    if (f) {
        int rc = sys->f(sys->ctx, odg_grid_t(ip->grid, ip->N), ip->zN, ip->fN);
        ip->nfe++;
        if (rc) {
            return (odg_status)rc;
        }
    }
    return ODG_OK;
}

/* f(t_n, z_n) for the left end when the store's payload lacks it. */
static odg_status left_deriv(odg_interpolator *ip, long n, const double *pl, size_t width)
{
    if (width >= 2) {
        ip->f0 = pl + ip->M;
        return ODG_OK;
    }
    int rc = ip->sys->f(ip->sys->ctx, odg_grid_t(ip->grid, n), pl, ip->fbuf);
    ip->nfe++;
    ip->f0 = ip->fbuf;
    return (odg_status)rc;
}

odg_status odg_interp_seek(odg_interpolator *ip, long n)
{
    if (n == ip->cur) {
        return ODG_OK;
    }
    size_t M = ip->M, d = sizeof(double);
    int f = needs_f(ip->kind);
    odg_status rc;
    /* the right end first: fetching the left end may recompute the segment that held it */
    if (n + 1 == ip->N) {
        memcpy(ip->zr, ip->zN, M * d);
        if (f) {
            memcpy(ip->fr, ip->fN, M * d);
        }
    } else if (n + 1 == ip->cur) {
        memcpy(ip->zr, ip->z0, M * d); /* the step back: the old left end is the new right end */
        if (f) {
            memcpy(ip->fr, ip->f0, M * d);
        }
    } else {
        const double *pr;
        size_t w;
        rc = odg_store_get(ip->store, n + 1, &pr, &w);
        if (rc) {
            return rc;
        }
        memcpy(ip->zr, pr, M * d);
        if (f) {
            rc = left_deriv(ip, n + 1, pr, w);
            if (rc) {
                return rc;
            }
            memcpy(ip->fr, ip->f0, M * d);
        }
    }
    ip->cur = -1;
    const double *pl;
    size_t w;
    rc = odg_store_get(ip->store, n, &pl, &w);
    if (rc) {
        return rc;
    }
    ip->z0 = pl;
    ip->tn = odg_grid_t(ip->grid, n);
    ip->hn = odg_grid_h(ip->grid, n);
    if (f) {
        rc = left_deriv(ip, n, pl, w);
        if (rc) {
            return rc;
        }
    } else if (ip->kind == ODG_INTERP_DENSE) {
        rc = odg_erk_step(ip->erk, ip->sys, ip->tn, ip->hn, pl, ip->znx, NULL, NULL, NULL);
        ip->recomputed++;
        if (rc) {
            return rc;
        }
        ip->K = odg_erk_K(ip->erk);
    }
    ip->cur = n;
    return ODG_OK;
}

odg_status odg_interp_find(odg_interpolator *ip, double t)
{
    const odg_grid *g = ip->grid;
    long lo = 0, hi = ip->N - 1;
    while (lo < hi) { /* the last n with t[n] <= t, clamped to [0, N-1] */
        long mid = (lo + hi + 1) / 2;
        if (odg_grid_t(g, mid) <= t) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return odg_interp_seek(ip, lo);
}

void odg_interp_eval(const odg_interpolator *ip, double t, double *zt)
{
    size_t M = ip->M;
    double th = (t - ip->tn) / ip->hn;
    switch (ip->kind) {
    case ODG_INTERP_HERMITE: {
        /* cubic Hermite basis on [0, 1] */
        double t2 = th * th, t3 = t2 * th;
        double h00 = 2 * t3 - 3 * t2 + 1, h10 = t3 - 2 * t2 + th;
        double h01 = -2 * t3 + 3 * t2, h11 = t3 - t2;
        double hn = ip->hn;
        for (size_t i = 0; i < M; i++) {
            zt[i] = h00 * ip->z0[i] + h10 * hn * ip->f0[i] + h01 * ip->zr[i] + h11 * hn * ip->fr[i];
        }
        break;
    }
    case ODG_INTERP_LINEAR:
        for (size_t i = 0; i < M; i++) {
            zt[i] = (1 - th) * ip->z0[i] + th * ip->zr[i];
        }
        break;
    case ODG_INTERP_DENSE:
        odg_erk_dense(ip->tab, M, th, ip->hn, ip->z0, ip->K, zt);
        break;
    default:
        break;
    }
}
