/* The strategy that keeps nothing (store.h): backsolve integrates z back with the adjoint. */
#include "store.h"

static odg_status none_create(odg_store *s)
{
    (void)s;
    return ODG_OK;
}

static odg_status none_put(odg_store *s, const odg_step_info *st)
{
    (void)s;
    (void)st;
    return ODG_OK;
}

static void none_destroy(odg_store *s)
{
    (void)s;
}

/* no get: asking a store that keeps nothing for a step is ODG_EINVAL */
const odg_store_ops odg_store_none_ops = {
    "none", 1, none_create, none_put, NULL, NULL, none_destroy,
};
