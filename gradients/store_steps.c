/* The every-step strategy (store.h): the payload of every step.  With N known it is one (N, W, M)
 * array; online (an adaptive solve) one block per accepted step, found through a pointer table
 * that grows without moving, so that nothing is copied and no step is kept twice. */
#include "store.h"

#include <stdint.h>

static odg_status steps_create(odg_store *s)
{
    if (s->online) {
        return ODG_OK; /* blocks come with the steps */
    }
    size_t WM = s->W * s->M;
    if ((size_t)s->N > SIZE_MAX / sizeof(double) / WM) {
        return ODG_ENOMEM;
    }
    s->all = odg_mem_scratch(s->mem, odg_store_tag(s), (size_t)s->N * WM);
    return s->all ? ODG_OK : ODG_ENOMEM;
}

static odg_status steps_put(odg_store *s, const odg_step_info *st)
{
    double *dst;
    if (s->online) {
        double **slot = odg_ptab_at(&s->steps, st->n, s->mem);
        if (!slot) {
            return ODG_ENOMEM;
        }
        *slot = odg_mem_scratch(s->mem, odg_store_tag(s), s->W * s->M);
        if (!*slot) {
            return ODG_ENOMEM;
        }
        dst = *slot;
    } else {
        dst = s->all + (size_t)st->n * s->W * s->M;
    }
    odg_store_pack(s, st, dst);
    return ODG_OK;
}

static odg_status steps_get(odg_store *s, long n, const double **out, size_t *width)
{
    (void)width;
    *out = s->online ? *odg_ptab_at(&s->steps, n, s->mem) : s->all + (size_t)n * s->W * s->M;
    return ODG_OK;
}

static void steps_destroy(odg_store *s)
{
    odg_ptab_free(&s->steps, s->mem, 1);
    odg_mem_free(s->mem, s->all);
    s->all = NULL;
}

const odg_store_ops odg_store_steps_ops = {
    "every step", 1, steps_create, steps_put, NULL, steps_get, steps_destroy,
};
