/* Storage strategies: what they share, and the dispatch to their ops tables (store.h). */
#include "store.h"

#include <math.h>
#include <string.h>

void odg_store_resolve(odg_storage kind, odg_schedule schedule, long C, long N, int adaptive,
                       long *C_out, long *K_out)
{
    long K = 0;
    if (kind != ODG_STORAGE_CHECKPOINTS || N < 1) {
        C = 0;
    } else if (schedule == ODG_SCHEDULE_UNIFORM && adaptive) {
        /* online: the interval starts at 1 and doubles whenever the next checkpoint would not
         * fit the cap slots (store_uniform.c), so it ends as the least power of two with
         * ceil(N/K) <= cap; every slot up to min(N, cap) has been filled once */
        long cap = C > 0 ? C : ODG_ONLINE_SLOTS;
        K = 1;
        while ((N + K - 1) / K > cap) {
            K *= 2;
        }
        C = N < cap ? N : cap;
    } else if (schedule == ODG_SCHEDULE_UNIFORM) {
        /* K near sqrt(N) minimises N/K + K; with C given, the smallest K that needs at most C */
        K = C > 0 ? (N + C - 1) / C : (long)floor(sqrt((double)N) + 0.5);
        if (K < 1) {
            K = 1;
        }
        C = (N + K - 1) / K;
    } else {
        if (C <= 0) {
            C = 1;
            while ((1L << (C - 1)) < N) {
                C++; /* ceil(log2 N) + 1 */
            }
        }
        if (C > N) {
            C = N;
        }
    }
    *C_out = C;
    *K_out = K;
}

size_t odg_payload_width(odg_payload pay, const odg_tableau *tab)
{
    return pay == ODG_PAY_STATE ? 1 : pay == ODG_PAY_STATE_DERIV ? 2 : (size_t)tab->s;
}

static const odg_store_ops *ops_of(odg_storage kind, odg_schedule schedule)
{
    switch (kind) {
    case ODG_STORAGE_ALL:
    case ODG_STORAGE_STEPS:
        return &odg_store_steps_ops;
    case ODG_STORAGE_CHECKPOINTS:
        return schedule == ODG_SCHEDULE_BINOMIAL ? &odg_store_binomial_ops
                                                 : &odg_store_uniform_ops;
    case ODG_STORAGE_NONE:
        break;
    }
    return &odg_store_none_ops;
}

int odg_store_online(odg_storage kind, odg_schedule schedule)
{
    return ops_of(kind, schedule)->online;
}

odg_status odg_store_create(odg_store *s, odg_storage kind, odg_schedule schedule, long C,
                            odg_payload pay, size_t M, size_t A, long N, odg_erk *erk,
                            const odg_system *sys, const odg_grid *grid, odg_mem *mem)
{
    memset(s, 0, sizeof *s);
    s->A = A;
    s->ops = ops_of(kind, schedule);
    s->kind = kind;
    s->schedule = schedule;
    s->pay = pay;
    s->W = odg_payload_width(pay, odg_erk_tableau(erk));
    s->M = M;
    s->N = N;
    s->online = N == 0;
    s->C = C;
    s->mem = mem;
    s->erk = erk;
    s->sys = sys;
    s->grid = grid;
    s->seg_lo = -1;
    s->work_idx = -1;
    if ((s->online && !s->ops->online) || (A > 0 && (pay != ODG_PAY_STAGES ||
                                                      s->ops != &odg_store_steps_ops))) {
        return ODG_EINVAL;
    }
    odg_status st = s->ops->create(s);
    if (st) {
        odg_store_destroy(s);
    }
    return st;
}

void odg_store_destroy(odg_store *s)
{
    if (s->ops) {
        s->ops->destroy(s);
    }
}

odg_status odg_store_put(odg_store *s, const odg_step_info *st)
{
    if (s->online) {
        s->N = st->n + 1;
    }
    return s->ops->put(s, st);
}

odg_status odg_store_close(odg_store *s)
{
    return s->ops->close ? s->ops->close(s) : ODG_OK;
}

odg_status odg_store_get(odg_store *s, long n, const double **out, size_t *width)
{
    if (n < 0 || n >= s->N || !s->ops->get) {
        return ODG_EINVAL;
    }
    *width = s->W;
    return s->ops->get(s, n, out, width);
}

const double *odg_store_acts(odg_store *s, long n)
{
    if (s->A == 0 || n < 0 || n >= s->N) {
        return NULL;
    }
    return s->online ? *odg_ptab_at(&s->act_steps, n, s->mem) : s->acts + (size_t)n * s->A;
}

double *odg_store_act_dest(odg_store *s, long n)
{
    if (s->A == 0 || s->online || !s->acts || n < 0 || n >= s->N) {
        return NULL;
    }
    return s->acts + (size_t)n * s->A;
}

/* ---- shared by the strategies ------------------------------------------------------------- */

odg_tag odg_store_tag(const odg_store *s)
{
    if (s->kind == ODG_STORAGE_CHECKPOINTS) {
        return ODG_TAG_CHECKPOINT;
    }
    return s->pay == ODG_PAY_STAGES ? ODG_TAG_TAPE : ODG_TAG_TRAJECTORY;
}

/* Copies the payload of a step just taken into dst (W x M). */
void odg_store_pack(const odg_store *s, const odg_step_info *st, double *dst)
{
    size_t M = s->M;
    switch (s->pay) {
    case ODG_PAY_STATE:
        memcpy(dst, st->z, M * sizeof(double));
        break;
    case ODG_PAY_STATE_DERIV:
        memcpy(dst, st->z, M * sizeof(double));
        memcpy(dst + M, st->K, M * sizeof(double)); /* k_1 = f(t_n, z_n) */
        break;
    case ODG_PAY_STAGES:
        memcpy(dst, st->Zst, s->W * M * sizeof(double));
        break;
    }
}

/* One forward step n from z into znext with the engine's buffers; fills st. */
odg_status odg_store_replay(odg_store *s, long n, const double *z, double *znext,
                            odg_step_info *st)
{
    odg_erk *e = s->erk;
    double t = odg_grid_t(s->grid, n), h = odg_grid_h(s->grid, n);
    odg_status rc = odg_erk_step(e, s->sys, t, h, z, znext, odg_erk_stages(e), NULL, NULL);
    s->recomputed++;
    *st = (odg_step_info){n, t, h, z, odg_erk_stages(e), odg_erk_K(e), znext, NULL};
    return rc;
}

/* ---- the growing pointer table ------------------------------------------------------------ */

static int ptab_chunk(long n, long *first)
{
    int k = 0;
    long lo = 0, size = 64;
    while (n >= lo + size) {
        lo += size;
        size *= 2;
        k++;
    }
    *first = lo;
    return k;
}

double **odg_ptab_at(odg_ptab *t, long n, odg_mem *mem)
{
    long lo;
    int k = ptab_chunk(n, &lo);
    if (k >= ODG_PTAB_CHUNKS) {
        return NULL;
    }
    if (!t->chunk[k]) {
        t->chunk[k] = odg_mem_alloc(mem, ODG_TAG_WORKSPACE, (64UL << k) * sizeof(double *));
        if (!t->chunk[k]) {
            return NULL;
        }
    }
    return &t->chunk[k][n - lo];
}

void odg_ptab_free(odg_ptab *t, odg_mem *mem, int free_entries)
{
    for (int k = 0; k < ODG_PTAB_CHUNKS; k++) {
        if (!t->chunk[k]) {
            continue;
        }
        for (long i = 0; free_entries && i < (64L << k); i++) {
            odg_mem_free(mem, t->chunk[k][i]);
        }
        odg_mem_free(mem, t->chunk[k]);
        t->chunk[k] = NULL;
    }
}

size_t odg_ptab_bytes(long n)
{
    size_t bytes = 0;
    long lo = 0, size = 64;
    while (lo < n) {
        bytes += (size_t)size * sizeof(double *);
        lo += size;
        size *= 2;
    }
    return bytes;
}
