/* The every-step strategy (store.h): the payload of every step.  With N known it is one (N, W, M)
 * array; online (an adaptive solve) one block per accepted step, found through a pointer table
 * that grows without moving, so that nothing is copied and no step is kept twice. */
#include "store.h"

#include <stdint.h>
#include <string.h>

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
    if (!s->all) {
        return ODG_ENOMEM;
    }
    if (s->A > 0) {
        if ((size_t)s->N > SIZE_MAX / sizeof(double) / s->A) {
            return ODG_ENOMEM;
        }
        s->acts = odg_mem_scratch(s->mem, ODG_TAG_ACTIVATION, (size_t)s->N * s->A);
        if (!s->acts) {
            return ODG_ENOMEM;
        }
    }
    return ODG_OK;
}

/* Online: a new block of count doubles under tag for step n, its pointer in tab's slot n. */
static double *online_block(odg_store *s, odg_ptab *tab, long n, odg_tag tag, size_t count)
{
    double **slot = odg_ptab_at(tab, n, s->mem);
    if (!slot) {
        return NULL;
    }
    *slot = odg_mem_scratch(s->mem, tag, count);
    return *slot;
}

static odg_status steps_put(odg_store *s, const odg_step_info *st)
{
    double *dst = s->online ? online_block(s, &s->steps, st->n, odg_store_tag(s), s->W * s->M)
                            : s->all + (size_t)st->n * s->W * s->M;
    if (!dst) {
        return ODG_ENOMEM;
    }
    odg_store_pack(s, st, dst);
    if (s->A > 0) {
        /* the stages' activations, when the engine kept them for this step */
        if (!st->Ast) {
            return ODG_EINVAL;
        }
        double *adst = s->online
                           ? online_block(s, &s->act_steps, st->n, ODG_TAG_ACTIVATION, s->A)
                           : s->acts + (size_t)st->n * s->A;
        if (!adst) {
            return ODG_ENOMEM;
        }
        if (st->Ast != adst) { /* else the engine wrote them in place (odg_store_act_dest) */
            memcpy(adst, st->Ast, s->A * sizeof(double));
        }
    }
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
    odg_ptab_free(&s->act_steps, s->mem, 1);
    odg_mem_free(s->mem, s->all);
    odg_mem_free(s->mem, s->acts);
    s->all = NULL;
    s->acts = NULL;
}

const odg_store_ops odg_store_steps_ops = {
    "every step", 1, steps_create, steps_put, NULL, steps_get, steps_destroy,
};
