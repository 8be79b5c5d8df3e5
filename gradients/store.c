/* Storage strategies (store.h).  Binomial checkpointing follows Griewank & Walther, "Algorithm
 * 799: Revolve", ACM TOMS 26 (2000): the schedule is run lazily, as a stack of snapshots. To get
 * the state of step n from the snapshot at step i < n with s snapshots free counting i's, it
 * advances m = odg_revolve_split(n - i + 1, s) steps, snapshots, and repeats; that is the
 * recursive Revolve schedule, visited in reverse order of the steps.  The forward sweep places
 * the snapshots of the first descent, so the total number of forward steps (re-tapes aside) is
 * exactly odg_revolve_cost(N, C). */
#include "store.h"

#include <math.h>
#include <string.h>

static odg_tag payload_tag(odg_storage kind, odg_payload pay)
{
    if (kind == ODG_STORAGE_CHECKPOINTS) {
        return ODG_TAG_CHECKPOINT;
    }
    return pay == ODG_PAY_STAGES ? ODG_TAG_TAPE : ODG_TAG_TRAJECTORY;
}

void odg_store_resolve(odg_storage kind, odg_schedule schedule, long C, long N, long *C_out,
                       long *K_out)
{
    long K = 0;
    if (kind != ODG_STORAGE_CHECKPOINTS || N < 1) {
        C = 0;
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

odg_status odg_store_create(odg_store *s, odg_storage kind, odg_schedule schedule, long C,
                            odg_payload pay, size_t M, long N, odg_erk *erk,
                            const odg_system *sys, const odg_grid *grid, odg_mem *mem)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->schedule = schedule;
    s->pay = pay;
    s->W = odg_payload_width(pay, odg_erk_tableau(erk));
    s->M = M;
    s->N = N;
    s->mem = mem;
    s->erk = erk;
    s->sys = sys;
    s->grid = grid;
    s->seg_lo = -1;
    s->work_idx = -1;
    odg_store_resolve(kind, schedule, C, N, &s->C, &s->K);
    odg_tag tag = payload_tag(kind, pay);
    size_t WM = s->W * M;
    switch (kind) {
    case ODG_STORAGE_ALL:
    case ODG_STORAGE_STEPS:
        if ((size_t)N > SIZE_MAX / sizeof(double) / WM) {
            return ODG_ENOMEM;
        }
        s->all = odg_mem_scratch(mem, tag, (size_t)N * WM);
        return s->all ? ODG_OK : ODG_ENOMEM;
    case ODG_STORAGE_CHECKPOINTS:
        if ((size_t)s->C > SIZE_MAX / sizeof(double) / M) {
            return ODG_ENOMEM;
        }
        s->ck = odg_mem_scratch(mem, ODG_TAG_CHECKPOINT, (size_t)s->C * M);
        if (!s->ck) {
            goto fail;
        }
        if (schedule == ODG_SCHEDULE_UNIFORM) {
            s->seg = odg_mem_scratch(mem, ODG_TAG_CHECKPOINT, (size_t)s->K * WM);
            if (!s->seg) {
                goto fail;
            }
        } else {
            s->ck_idx = odg_mem_alloc(mem, ODG_TAG_WORKSPACE, (size_t)s->C * sizeof(long));
            s->work = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M);
            s->work2 = odg_mem_doubles(mem, ODG_TAG_WORKSPACE, M);
            if (!s->ck_idx || !s->work || !s->work2) {
                goto fail;
            }
        }
        return ODG_OK;
    case ODG_STORAGE_NONE:
        return ODG_OK;
    }
fail:
    odg_store_destroy(s);
    return ODG_ENOMEM;
}

void odg_store_destroy(odg_store *s)
{
    odg_mem_free(s->mem, s->all);
    odg_mem_free(s->mem, s->ck);
    odg_mem_free(s->mem, s->seg);
    odg_mem_free(s->mem, s->ck_idx);
    odg_mem_free(s->mem, s->work);
    odg_mem_free(s->mem, s->work2);
    s->all = s->ck = s->seg = s->work = s->work2 = NULL;
    s->ck_idx = NULL;
}

/* Copies the payload of a step just taken into dst (W x M). */
static void pack(const odg_store *s, const odg_step_info *st, double *dst)
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
static odg_status replay_step(odg_store *s, long n, const double *z, double *znext,
                              odg_step_info *st)
{
    odg_erk *e = s->erk;
    double t = odg_grid_t(s->grid, n), h = odg_grid_h(s->grid, n);
    odg_status rc = odg_erk_step(e, s->sys, t, h, z, znext, odg_erk_stages(e), NULL, NULL);
    s->recomputed++;
    *st = (odg_step_info){n, t, h, z, odg_erk_stages(e), odg_erk_K(e), znext};
    return rc;
}

/* ---- uniform ------------------------------------------------------------------------------ */

/* Recomputes the payloads of the segment holding step n from its checkpoint. */
static odg_status uniform_fill(odg_store *s, long n)
{
    size_t M = s->M, WM = s->W * M;
    long lo = n / s->K * s->K, hi = lo + s->K < s->N ? lo + s->K : s->N;
    s->seg_lo = -1;
    memcpy(s->seg, s->ck + (size_t)(lo / s->K) * M, M * sizeof(double));
    for (long j = lo; j < hi; j++) {
        double *dst = s->seg + (size_t)(j - lo) * WM;
        if (j + 1 < hi) {
            /* z_{j+1} goes straight into the next payload */
            odg_step_info st;
            odg_status rc = replay_step(s, j, dst, dst + WM, &st);
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

/* ---- binomial ----------------------------------------------------------------------------- */

/* Plans the forward sweep's next snapshot after one taken at step i: the lazy schedule below,
 * asked for step N-1 from i, would advance odg_revolve_split(N - i, free) steps and snapshot. */
static void binomial_plan_next(odg_store *s, long i)
{
    long l = s->N - i, free_snaps = s->C - s->nck + 1;
    long next = (l >= 2 && free_snaps >= 2) ? i + odg_revolve_split(l, (int)free_snaps) : -1;
    s->next_ck = next < s->N - 1 ? next : -1;
}

static void binomial_push(odg_store *s, long n, const double *z)
{
    memcpy(s->ck + (size_t)s->nck * s->M, z, s->M * sizeof(double));
    s->ck_idx[s->nck++] = n;
}

static odg_status binomial_put(odg_store *s, const odg_step_info *st)
{
    long n = st->n;
    if (n == 0) {
        s->nck = 0;
        binomial_push(s, 0, st->z);
        binomial_plan_next(s, 0);
    } else if (n == s->next_ck) {
        binomial_push(s, n, st->z);
        binomial_plan_next(s, n);
    }
    if (n < s->N - 1) {
        s->advances++; /* the forward sweep advances through steps 0 .. N-2 */
    } else {
        memcpy(s->work, st->z, s->M * sizeof(double)); /* z_{N-1} in hand for the first get */
        s->work_idx = n;
    }
    return ODG_OK;
}

static odg_status binomial_get(odg_store *s, long n, const double **out)
{
    size_t M = s->M;
    while (s->nck > 0 && s->ck_idx[s->nck - 1] > n) {
        s->nck--; /* snapshots past n are spent */
    }
    if (s->work_idx == n) {
        *out = s->work;
        return ODG_OK;
    }
    if (s->nck == 0 || n < 0) {
        return ODG_EINVAL; /* requests must come in descending order */
    }
    long cur = s->ck_idx[s->nck - 1];
    if (cur == n) {
        *out = s->ck + (size_t)(s->nck - 1) * M;
        return ODG_OK;
    }
    memcpy(s->work, s->ck + (size_t)(s->nck - 1) * M, M * sizeof(double));
    s->work_idx = -1;
    while (cur < n) {
        /* the top snapshot is at cur; free_snaps counts it */
        long l = n - cur + 1, free_snaps = s->C - s->nck + 1;
        long m = free_snaps >= 2 ? odg_revolve_split(l, (int)free_snaps) : l - 1;
        for (long k = 0; k < m; k++, cur++) {
            odg_step_info st;
            odg_status rc = replay_step(s, cur, s->work, s->work2, &st);
            if (rc) {
                return rc;
            }
            double *t = s->work;
            s->work = s->work2;
            s->work2 = t;
            s->advances++;
        }
        if (cur < n) {
            binomial_push(s, cur, s->work);
        }
    }
    s->work_idx = n;
    *out = s->work;
    return ODG_OK;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

odg_status odg_store_put(odg_store *s, const odg_step_info *st)
{
    size_t WM = s->W * s->M;
    switch (s->kind) {
    case ODG_STORAGE_ALL:
    case ODG_STORAGE_STEPS:
        pack(s, st, s->all + (size_t)st->n * WM);
        return ODG_OK;
    case ODG_STORAGE_CHECKPOINTS:
        if (s->schedule == ODG_SCHEDULE_BINOMIAL) {
            return binomial_put(s, st);
        }
        if (st->n % s->K == 0) {
            memcpy(s->ck + (size_t)(st->n / s->K) * s->M, st->z, s->M * sizeof(double));
        }
        return ODG_OK;
    case ODG_STORAGE_NONE:
        return ODG_OK;
    }
    return ODG_EINVAL;
}

odg_status odg_store_get(odg_store *s, long n, const double **out, size_t *width)
{
    if (n < 0 || n >= s->N) {
        return ODG_EINVAL;
    }
    *width = s->W;
    switch (s->kind) {
    case ODG_STORAGE_ALL:
    case ODG_STORAGE_STEPS:
        *out = s->all + (size_t)n * s->W * s->M;
        return ODG_OK;
    case ODG_STORAGE_CHECKPOINTS:
        if (s->schedule == ODG_SCHEDULE_BINOMIAL) {
            *width = 1;
            return binomial_get(s, n, out);
        }
        if (s->seg_lo < 0 || n < s->seg_lo || n >= s->seg_lo + s->K) {
            odg_status rc = uniform_fill(s, n);
            if (rc) {
                return rc;
            }
        }
        *out = s->seg + (size_t)(n - s->seg_lo) * s->W * s->M;
        return ODG_OK;
    case ODG_STORAGE_NONE:
        break;
    }
    return ODG_EINVAL;
}
