/* The binomial strategy (store.h), after Griewank & Walther, "Algorithm 799: Revolve", ACM TOMS
 * 26 (2000): the schedule is run lazily, as a stack of snapshots.  To get the state of step n
 * from the snapshot at step i < n with s snapshots free counting i's, it advances
 * m = odg_revolve_split(n - i + 1, s) steps, snapshots, and repeats; that is the recursive
 * Revolve schedule, visited in reverse order of the steps.  The forward sweep places the
 * snapshots of the first descent, so the total number of forward steps (re-tapes aside) is
 * exactly odg_revolve_cost(N, C).  Placing them needs N: it does not fill online. */
#include "store.h"

#include <stdint.h>
#include <string.h>

static odg_status binomial_create(odg_store *s)
{
    size_t M = s->M;
    odg_store_resolve(s->kind, s->schedule, s->C, s->N, 0, &s->C, &s->K);
    if ((size_t)s->C > SIZE_MAX / sizeof(double) / M) {
        return ODG_ENOMEM;
    }
    s->ck = odg_mem_scratch(s->mem, ODG_TAG_CHECKPOINT, (size_t)s->C * M);
    s->ck_idx = odg_mem_alloc(s->mem, ODG_TAG_WORKSPACE, (size_t)s->C * sizeof(long));
    s->work = odg_mem_doubles(s->mem, ODG_TAG_WORKSPACE, M);
    s->work2 = odg_mem_doubles(s->mem, ODG_TAG_WORKSPACE, M);
    return s->ck && s->ck_idx && s->work && s->work2 ? ODG_OK : ODG_ENOMEM;
}

/* Plans the forward sweep's next snapshot after one taken at step i: the lazy schedule below,
 * asked for step N-1 from i, would advance odg_revolve_split(N - i, free) steps and snapshot. */
static void plan_next(odg_store *s, long i)
{
    long l = s->N - i, free_snaps = s->C - s->nck + 1;
    long next = (l >= 2 && free_snaps >= 2) ? i + odg_revolve_split(l, (int)free_snaps) : -1;
    s->next_ck = next < s->N - 1 ? next : -1;
}

static void push(odg_store *s, long n, const double *z)
{
    memcpy(s->ck + (size_t)s->nck * s->M, z, s->M * sizeof(double));
    s->ck_idx[s->nck++] = n;
}

static odg_status binomial_put(odg_store *s, const odg_step_info *st)
{
    long n = st->n;
    if (n == 0) {
        s->nck = 0;
        push(s, 0, st->z);
        plan_next(s, 0);
    } else if (n == s->next_ck) {
        push(s, n, st->z);
        plan_next(s, n);
    }
    if (n < s->N - 1) {
        s->advances++; /* the forward sweep advances through steps 0 .. N-2 */
    } else {
        memcpy(s->work, st->z, s->M * sizeof(double)); /* z_{N-1} in hand for the first get */
        s->work_idx = n;
    }
    return ODG_OK;
}

static odg_status binomial_get(odg_store *s, long n, const double **out, size_t *width)
{
    size_t M = s->M;
    *width = 1;
    while (s->nck > 0 && s->ck_idx[s->nck - 1] > n) {
        s->nck--; /* snapshots past n are spent */
    }
    if (s->work_idx == n) {
        *out = s->work;
        return ODG_OK;
    }
    if (s->nck == 0) {
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
            odg_status rc = odg_store_replay(s, cur, s->work, s->work2, &st);
            if (rc) {
                return rc;
            }
            double *t = s->work;
            s->work = s->work2;
            s->work2 = t;
            s->advances++;
        }
        if (cur < n) {
            push(s, cur, s->work);
        }
    }
    s->work_idx = n;
    *out = s->work;
    return ODG_OK;
}

static void binomial_destroy(odg_store *s)
{
    odg_mem_free(s->mem, s->ck);
    odg_mem_free(s->mem, s->ck_idx);
    odg_mem_free(s->mem, s->work);
    odg_mem_free(s->mem, s->work2);
    s->ck = s->work = s->work2 = NULL;
    s->ck_idx = NULL;
}

const odg_store_ops odg_store_binomial_ops = {
    "binomial", 0, binomial_create, binomial_put, NULL, binomial_get, binomial_destroy,
};
