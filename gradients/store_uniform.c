/* The uniform strategy (store.h): z every K steps, and one segment of K payloads recomputed from
 * its checkpoint when the backward pass enters it.
 *
 * With N known, K = round(sqrt N) (or the least K that needs at most the C given) and the
 * ceil(N/K) checkpoints are one array.  Online (an adaptive solve) N is unknown while the store
 * fills: it has cap slots (C, or ODG_ONLINE_SLOTS), allocated as they are first needed, and an
 * interval that starts at 1; when the next checkpoint would not fit, every other one is dropped
 * and the interval doubles.  It ends with the least power of two K that fits ceil(N/K) <= cap,
 * and the segment buffer, K payloads, is allocated when the solve is over. */
#include "store.h"

#include <stdint.h>
#include <string.h>

static double *slot_at(const odg_store *s, long i)
{
    return s->online ? s->slot[i] : s->ck + (size_t)i * s->M;
}

static odg_status uniform_create(odg_store *s)
{
    size_t M = s->M;
    if (s->online) {
        s->cap = s->C > 0 ? s->C : ODG_ONLINE_SLOTS;
        s->K = 1;
        s->C = 0;
        s->slot = odg_mem_alloc(s->mem, ODG_TAG_WORKSPACE, (size_t)s->cap * sizeof(double *));
        return s->slot ? ODG_OK : ODG_ENOMEM;
    }
    odg_store_resolve(s->kind, s->schedule, s->C, s->N, 0, &s->C, &s->K);
    s->cap = s->nslots = s->C;
    if ((size_t)s->C > SIZE_MAX / sizeof(double) / M ||
        (size_t)s->K > SIZE_MAX / sizeof(double) / (s->W * M)) {
        return ODG_ENOMEM;
    }
    s->ck = odg_mem_scratch(s->mem, ODG_TAG_CHECKPOINT, (size_t)s->C * M);
    s->seg = s->ck ? odg_mem_scratch(s->mem, ODG_TAG_CHECKPOINT, (size_t)s->K * s->W * M) : NULL;
    return s->seg ? ODG_OK : ODG_ENOMEM;
}

/* Online: keeps the checkpoints at multiples of 2K (slot 2i becomes slot i) and doubles K.  The
 * slots' blocks are swapped, not copied, and none is freed: a later checkpoint refills them. */
static void uniform_thin(odg_store *s)
{
    long used = s->N == 0 ? 0 : (s->N - 2) / s->K + 1; /* the checkpoints before step N - 1 */
    for (long i = 1; 2 * i < used; i++) {
        double *t = s->slot[i];
        s->slot[i] = s->slot[2 * i];
        s->slot[2 * i] = t;
    }
    s->K *= 2;
}

static odg_status uniform_put(odg_store *s, const odg_step_info *st)
{
    long n = st->n;
    if (s->online) {
        while (n % s->K == 0 && n / s->K >= s->cap) {
            uniform_thin(s);
        }
        if (n % s->K != 0) {
            return ODG_OK;
        }
        long i = n / s->K;
        if (i >= s->nslots) {
            s->slot[i] = odg_mem_scratch(s->mem, ODG_TAG_CHECKPOINT, s->M);
            if (!s->slot[i]) {
                return ODG_ENOMEM;
            }
            s->nslots = i + 1;
        }
    } else if (n % s->K != 0) {
        return ODG_OK;
    }
    memcpy(slot_at(s, n / s->K), st->z, s->M * sizeof(double));
    return ODG_OK;
}

static odg_status uniform_close(odg_store *s)
{
    if (!s->online) {
        return ODG_OK;
    }
    s->C = s->nslots;
    if ((size_t)s->K > SIZE_MAX / sizeof(double) / (s->W * s->M)) {
        return ODG_ENOMEM;
    }
    s->seg = odg_mem_scratch(s->mem, ODG_TAG_CHECKPOINT, (size_t)s->K * s->W * s->M);
    return s->seg ? ODG_OK : ODG_ENOMEM;
}

/* Recomputes the payloads of the segment holding step n from its checkpoint. */
static odg_status uniform_fill(odg_store *s, long n)
{
    size_t M = s->M, WM = s->W * M;
    long lo = n / s->K * s->K, hi = lo + s->K < s->N ? lo + s->K : s->N;
    s->seg_lo = -1;
    memcpy(s->seg, slot_at(s, lo / s->K), M * sizeof(double));
    for (long j = lo; j < hi; j++) {
        double *dst = s->seg + (size_t)(j - lo) * WM;
        if (j + 1 < hi) {
            /* z_{j+1} goes straight into the next payload */
            odg_step_info st;
            odg_status rc = odg_store_replay(s, j, dst, dst + WM, &st);
            if (rc) {
                return rc;
            }
            if (s->pay == ODG_PAY_STATE_DERIV) {
                memcpy(dst + M, st.K, M * sizeof(double));
            }
        } else if (s->pay == ODG_PAY_STATE_DERIV) {
            /* the segment's last step needs only f(t_j, z_j), not a whole step */
            int rc = s->sys->f(s->sys->ctx, odg_grid_t(s->grid, j), dst, dst + M);
            s->extra_nfe++;
            if (rc) {
                return (odg_status)rc;
            }
        }
    }
    s->seg_lo = lo;
    return ODG_OK;
}

static odg_status uniform_get(odg_store *s, long n, const double **out, size_t *width)
{
    (void)width;
    if (!s->seg) {
        return ODG_EINVAL; /* online, and not closed */
    }
    if (s->seg_lo < 0 || n < s->seg_lo || n >= s->seg_lo + s->K) {
        odg_status rc = uniform_fill(s, n);
        if (rc) {
            return rc;
        }
    }
    *out = s->seg + (size_t)(n - s->seg_lo) * s->W * s->M;
    return ODG_OK;
}

static void uniform_destroy(odg_store *s)
{
    for (long i = 0; s->slot && i < s->nslots; i++) {
        odg_mem_free(s->mem, s->slot[i]);
    }
    odg_mem_free(s->mem, s->slot);
    odg_mem_free(s->mem, s->ck);
    odg_mem_free(s->mem, s->seg);
    s->slot = NULL;
    s->ck = s->seg = NULL;
    s->nslots = 0;
}

const odg_store_ops odg_store_uniform_ops = {
    "uniform", 1, uniform_create, uniform_put, uniform_close, uniform_get, uniform_destroy,
};
