/* Running a sweep (include/odegrad/experiments.h): each configuration in process through the
 * harness, which measures it in a forked child of its own (a child dies with the sweep:
 * PR_SET_PDEATHSIG), and only this process appends rows, so a sweep killed at any moment leaves
 * whole rows and no child that writes later.  One sweep per results file at a time: an
 * exclusive flock(2) on the file for the whole sweep (the row appends take fcntl(2) locks,
 * which are independent of it on Linux).  Resume: a configuration is recorded when the file has
 * a row of the same experiment whose configuration is the same (odg_run_config_same over the
 * options' columns, read back as typed values) and, unless asked otherwise, the same commit. */
#include "odegrad/experiments.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* each mkdir asks odg_io_fault first (fault-injection tests) */
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (odg_io_fault() || (mkdir(path, 0777) && errno != EEXIST)) {
                return -1;
            }
            *p = '/';
        }
    }
    return odg_io_fault() || (mkdir(path, 0777) && errno != EEXIST) ? -1 : 0;
}

/* One distinct results file of the jobs. */
typedef struct {
    const char *csv;
    int fd; /* holds the sweep's lock */
    int sidecar_written;
} target;

/* What a results file records: each row's experiment and configuration key (odg_run_config_key)
 * in a hash map, with whether a row of this binary's commit has it.  Linear in the rows. */
typedef struct {
    char **key; /* NULL: empty slot */
    unsigned char *same_commit;
    size_t cap, n;
} recorded;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    }
    return h;
}

static void recorded_free(recorded *r)
{
    for (size_t i = 0; i < r->cap; i++) {
        free(r->key[i]);
    }
    free(r->key);
    free(r->same_commit);
    memset(r, 0, sizeof *r);
}

/* The slot of key, or of the empty slot where it would go. */
static size_t recorded_slot(const recorded *r, const char *key)
{
    size_t j = hash_str(key) & (r->cap - 1);
    while (r->key[j] && strcmp(r->key[j], key) != 0) {
        j = (j + 1) & (r->cap - 1);
    }
    return j;
}

/* Adds key (taking it); 0, or -1 when out of memory (key freed). */
static int recorded_add(recorded *r, char *key, int same_commit)
{
    if (2 * (r->n + 1) > r->cap) {
        recorded g = {NULL, NULL, r->cap ? 2 * r->cap : 256, 0};
        g.key = calloc(g.cap, sizeof *g.key);
        g.same_commit = calloc(g.cap, 1);
        if (!g.key || !g.same_commit) {
            free(g.key);
            free(g.same_commit);
            free(key);
            return -1;
        }
        for (size_t i = 0; i < r->cap; i++) {
            if (r->key[i]) {
                size_t j = recorded_slot(&g, r->key[i]);
                g.key[j] = r->key[i];
                g.same_commit[j] = r->same_commit[i];
                g.n++;
            }
        }
        free(r->key);
        free(r->same_commit);
        *r = g;
    }
    size_t j = recorded_slot(r, key);
    if (r->key[j]) {
        free(key);
    } else {
        r->key[j] = key;
        r->n++;
    }
    r->same_commit[j] |= (unsigned char)same_commit;
    return 0;
}

/* "EXPERIMENT\x1fKEY" of a configuration, malloc'ed. */
static char *experiment_key(const char *experiment, const odg_run_config *c)
{
    char *k = odg_run_config_key(c);
    size_t n = k ? strlen(experiment) + strlen(k) + 2 : 0;
    char *s = k ? malloc(n) : NULL;
    if (s) {
        snprintf(s, n, "%s\x1f%s", experiment, k);
    }
    free(k);
    return s;
}

/* Configuration i of sw as its row records it: resolved, with `threads` left out taken as
 * `threads` when > 0 (the measuring ranks' count, across MPI ranks). */
static odg_run_config resolved_config(const odg_sweep *sw, int i, int threads)
{
    odg_run_config c = *odg_sweep_config(sw, i);
    if (c.threads <= 0 && threads > 0) {
        c.threads = threads;
    }
    odg_run_config_resolve(&c);
    return c;
}

/* Reads what csv records into r.  A row whose configuration does not read back is not counted
 * as recorded (its configuration runs again). */
static odg_status recorded_read(recorded *r, const char *csv, const char *commit,
                                char err[ODG_ERRLEN])
{
    odg_csv_table t;
    odg_status st = odg_csv_read(csv, &t, err);
    if (st != ODG_OK) {
        return st;
    }
    int je = odg_csv_table_col(&t, "experiment"), jc = odg_csv_table_col(&t, "commit");
    for (int i = 0; je >= 0 && i < t.nrow; i++) {
        odg_run_config c;
        if (odg_csv_row_config(&t, i, &c, NULL) != ODG_OK) {
            continue;
        }
        char *key = experiment_key(t.rows[i][je], &c);
        int same = jc >= 0 && commit && strcmp(t.rows[i][jc], commit) == 0;
        if (!key || recorded_add(r, key, same) != 0) {
            odg_csv_table_free(&t);
            return odg_fail(err, ODG_ENOMEM, "out of memory reading %s", csv);
        }
    }
    odg_csv_table_free(&t);
    return ODG_OK;
}

/* Whether r records key: 0 no, 1 by this commit, 2 by another only. */
static int recorded_find(const recorded *r, const char *key)
{
    if (r->cap == 0) {
        return 0;
    }
    size_t j = recorded_slot(r, key);
    return r->key[j] ? (r->same_commit[j] ? 1 : 2) : 0;
}

/* The roofline rates measured so far, by what decides them: the model's shapes, the batch
 * chunk and the threads. */
typedef struct {
    odg_run_config key;
    double rate;
} roof;

static int same_roof_key(const odg_run_config *a, const odg_run_config *b)
{
    static const odg_option parts[] = {ODG_OPT_MODEL,     ODG_OPT_DIM,         ODG_OPT_HIDDEN,
                                       ODG_OPT_BATCH,     ODG_OPT_BATCH_CHUNK, ODG_OPT_THREADS,
                                       ODG_OPT_TIME_INPUT};
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        if (!odg_option_equal(a, b, parts[k])) {
            return 0;
        }
    }
    return 1;
}

/* A record for a configuration the harness could not measure at all (a --load directory that
 * vanished, a fork that failed): its configuration, the commit and status error. */
static void failed_record(odg_run_record *rec, const odg_run_config *c, const char *why)
{
    memset(rec, 0, sizeof *rec);
    for (int k = 0; k < ODG_NCOLUMNS; k++) {
        odg_cell_empty(&rec->cell[k]);
    }
    odg_record_config(rec, c);
    odg_cell_str(&rec->cell[ODG_COL_commit], odg_git_commit());
    odg_cell_str(&rec->cell[ODG_COL_status], "error");
    snprintf(rec->message, sizeof rec->message, "%s", why);
}

static void count_status(odg_sweep_summary *sum, const char *status)
{
    for (int k = 0; k < sum->nstatus; k++) {
        if (strcmp(sum->status[k], status) == 0) {
            sum->count[k]++;
            return;
        }
    }
    if (sum->nstatus < 8) {
        snprintf(sum->status[sum->nstatus], sizeof sum->status[0], "%s", status);
        sum->count[sum->nstatus++] = 1;
    }
}

/* A field from a shared object that is refused (it cannot be loaded, refuses the sizes, or its
 * VJP fails the gradient check) is bad input, not a measurement: every plugin configuration is
 * prepared once per path, sizes and seed before anything is opened or run, and the first refusal
 * stops the sweep with its message (ODG_EFORMAT: the sweep file's value is wrong). */
static odg_status check_plugins(const odg_sweep_job *jobs, int njobs, char err[ODG_ERRLEN])
{
    for (int j = 0; j < njobs; j++) {
        const odg_sweep *sw = jobs[j].sweep;
        for (int i = 0; i < odg_sweep_count(sw); i++) {
            const odg_run_config *c = odg_sweep_config(sw, i);
            if (c->model.kind != ODG_MODEL_PLUGIN) {
                continue;
            }
            int seen = 0; /* the same field and sizes earlier in this sweep */
            for (int k = 0; k < i && !seen; k++) {
                const odg_run_config *e = odg_sweep_config(sw, k);
                seen = e->model.kind == ODG_MODEL_PLUGIN &&
                       strcmp(e->model.plugin, c->model.plugin) == 0 && e->model.D == c->model.D &&
                       e->model.B == c->model.B && e->seed == c->seed;
            }
            if (seen) {
                continue;
            }
            odg_run *r = NULL;
            char e2[ODG_ERRLEN] = "";
            odg_status st = odg_run_prepare(&r, c, e2);
            odg_run_destroy(&r);
            if (st != ODG_OK && c->model.kind == ODG_MODEL_PLUGIN &&
                strstr(e2, "--model plugin:") == e2) {
                return odg_fail(err, ODG_EFORMAT, "%s: %s", odg_sweep_name(sw), e2);
            }
        }
    }
    return ODG_OK;
}

/* The versions of the peers a sweep runs, asked once here, so that the provenance written beside
 * its results names them (the runs themselves ask in their forked children). */
static void ask_peer_versions(const odg_sweep_job *jobs, int njobs)
{
    for (int j = 0; j < njobs; j++) {
        for (int i = 0; i < odg_sweep_count(jobs[j].sweep); i++) {
            const odg_run_config *c = odg_sweep_config(jobs[j].sweep, i);
            if (c->solver == ODG_SOLVER_TORCH) {
                char version[ODG_CELL_STRLEN], e[ODG_ERRLEN];
                (void)odg_solver_available(ODG_SOLVER_TORCH, version, e);
                return;
            }
        }
    }
}

/* What a process that measures keeps between configurations: the roofline rates so far. */
typedef struct {
    roof *roofs;
    int nroofs;
} measurer;

/* Measures configuration i of sw through the harness (in its forked child); rec is its record,
 * or a failed_record when the harness could not measure it at all.  The DGEMM rate of the first
 * run of each model shape, batch chunk and thread count is passed to the later ones. */
static void measure(const odg_sweep *sw, int i, measurer *mc, odg_run_record *rec,
                    double *wall_s)
{
    odg_run_config c = *odg_sweep_config(sw, i);
    odg_run_config_resolve(&c);
    for (int k = 0; k < mc->nroofs; k++) {
        if (same_roof_key(&mc->roofs[k].key, &c)) {
            c.roofline_gflops = mc->roofs[k].rate;
        }
    }
    double t0 = odg_now();
    char e2[ODG_ERRLEN] = "";
    odg_run *r = NULL;
    odg_status ps = odg_run_prepare(&r, &c, e2);
    if (ps == ODG_OK) {
        ps = odg_run_execute(r, rec, e2);
    }
    odg_run_destroy(&r);
    if (ps != ODG_OK) {
        failed_record(rec, &c, e2);
    }
    *wall_s = odg_now() - t0;
    const odg_cell *rate = &rec->cell[ODG_COL_roofline_gflops];
    if (rate->type == ODG_CELL_REAL && c.roofline_gflops == 0) {
        roof *nr = realloc(mc->roofs, (size_t)(mc->nroofs + 1) * sizeof *nr);
        if (nr) {
            mc->roofs = nr;
            mc->roofs[mc->nroofs].key = c;
            mc->roofs[mc->nroofs].rate = rate->x;
            mc->nroofs++;
        }
    }
}

/* ---- across MPI ranks ---------------------------------------------------------------------- */

/* Who is who when the sweep is spread over ranks: every rank's host, and which ranks measure
 * (rank 0 hands out the configurations and writes; on each node the first ranks_per_node of the
 * other ranks measure, the rest wait, so that measurements share no node's cores unless
 * asked). */
#define HOST_LEN 256
typedef struct {
    int n, me;
    char *hosts;              /* n x HOST_LEN */
    unsigned char *measuring; /* n */
    int nmeasuring;
    int threads; /* the thread count a configuration without one resolves to on the first
                    measuring rank (0: this process's own) */
} rank_info;

static void rank_info_free(rank_info *ri)
{
    free(ri->hosts);
    free(ri->measuring);
    memset(ri, 0, sizeof *ri);
}

static odg_status rank_info_get(rank_info *ri, int per_node, char err[ODG_ERRLEN])
{
    memset(ri, 0, sizeof *ri);
    ri->n = odg_mpi_size();
    ri->me = odg_mpi_rank();
    char mine[HOST_LEN];
    odg_mpi_host(mine, sizeof mine);
    ri->hosts = calloc((size_t)ri->n, HOST_LEN);
    ri->measuring = calloc((size_t)ri->n, 1);
    if (!ri->hosts || !ri->measuring) {
        rank_info_free(ri);
        return odg_fail(err, ODG_ENOMEM, "out of memory");
    }
    /* what `threads` left out resolves to where the measuring happens (its CPUs, which an
     * MPI launcher's binding may limit), so that rank 0 knows a configuration as its row
     * records it */
    odg_run_config c;
    memset(&c, 0, sizeof c);
    odg_run_config_resolve(&c);
    int *threads = malloc((size_t)ri->n * sizeof *threads);
    if (!threads || odg_mpi_allgather_bytes(mine, HOST_LEN, ri->hosts) != ODG_OK ||
        odg_mpi_allgather_bytes(&c.threads, sizeof c.threads, threads) != ODG_OK) {
        free(threads);
        rank_info_free(ri);
        return odg_fail(err, ODG_EIO, "the ranks could not exchange their host names");
    }
    for (int r = 1; r < ri->n; r++) {
        int before = 0;
        for (int q = 1; q < r; q++) {
            before += strcmp(ri->hosts + (size_t)q * HOST_LEN, ri->hosts + (size_t)r * HOST_LEN) ==
                      0;
        }
        ri->measuring[r] = before < per_node;
        if (ri->measuring[r] && ri->nmeasuring++ == 0) {
            ri->threads = threads[r];
        }
    }
    free(threads);
    return ODG_OK;
}

/* Rank 0 to a rank: measure configuration (job, index), or stop (job < 0). */
typedef struct {
    int job, index;
} rank_order;

/* A rank to rank 0: ready (job < 0), or the record of what it was given. */
typedef struct {
    int job, index;
    int interrupted; /* a signal stopped it: no measurement, and it takes no more */
    double wall_s;
    odg_run_record rec;
} rank_result;

enum { TAG_ORDER = 11, TAG_RESULT = 12 };

/* Waits for a message from any rank without spinning (a blocking receive polls a core at full
 * speed in Open MPI, which would take it from a measurement on the same node). */
static void wait_message(void)
{
    int from, tag;
    while (!odg_mpi_poll(&from, &tag)) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

/* A rank other than 0: measures what it is given until told to stop (or waits for that alone
 * when it does not measure). */
static odg_status follow_ranks(const odg_sweep_job *jobs, int njobs, const odg_sweep_opts *opts,
                               const rank_info *ri, char err[ODG_ERRLEN])
{
    measurer mc = {NULL, 0};
    rank_result *res = calloc(1, sizeof *res);
    odg_status st = ODG_OK;
    if (!res) {
        return odg_fail(err, ODG_ENOMEM, "out of memory");
    }
    res->job = -1;
    /* "ready": the head alone */
    if (ri->measuring[ri->me] &&
        odg_mpi_send(res, offsetof(rank_result, rec), 0, TAG_RESULT) != ODG_OK) {
        st = odg_fail(err, ODG_EIO, "rank %d cannot reach rank 0", ri->me);
        goto done;
    }
    for (;;) {
        rank_order o;
        wait_message();
        if (odg_mpi_recv(&o, sizeof o, 0, TAG_ORDER, NULL, NULL) != ODG_OK) {
            st = odg_fail(err, ODG_EIO, "rank %d lost rank 0", ri->me);
            break;
        }
        if (o.job < 0 || o.job >= njobs || o.index < 0 ||
            o.index >= odg_sweep_count(jobs[o.job].sweep)) {
            break;
        }
        res->job = o.job;
        res->index = o.index;
        measure(jobs[o.job].sweep, o.index, &mc, &res->rec, &res->wall_s);
        res->interrupted = opts->stop && *opts->stop;
        if (odg_mpi_send(res, sizeof *res, 0, TAG_RESULT) != ODG_OK) {
            st = odg_fail(err, ODG_EIO, "rank %d cannot reach rank 0", ri->me);
            break;
        }
    }
done:
    free(mc.roofs);
    free(res);
    return st;
}

/* The configurations to run, longest first by the sweep's own estimate (the serial order among
 * equals): the long ones start early and the short ones fill the ends. */
typedef struct {
    int job, index;
    double cost;
    long serial;
} todo_item;

static int cmp_todo(const void *a, const void *b)
{
    const todo_item *x = a, *y = b;
    if (x->cost != y->cost) {
        return x->cost > y->cost ? -1 : 1;
    }
    return (x->serial > y->serial) - (x->serial < y->serial);
}

static void record_row(const odg_sweep_job *jobs, int j, int i, target *tt,
                       const odg_sweep_opts *opts, const rank_info *ri, odg_run_record *rec,
                       double wall, long total, odg_sweep_fn fn, void *ctx,
                       odg_sweep_summary *sum);

/* Rank 0: hands the configurations out, one at a time to whichever measuring rank asks, and
 * appends each record as it comes back (whole rows, so a rank that dies loses only the
 * configuration it was measuring). */
static odg_status lead_ranks(const odg_sweep_job *jobs, int njobs, const odg_sweep_opts *opts,
                             char **todo, long total, target *tg, const int *job_tg,
                             const rank_info *ri, odg_sweep_fn fn, void *ctx,
                             odg_sweep_summary *sum, char err[ODG_ERRLEN])
{
    todo_item *items = total > 0 ? malloc((size_t)total * sizeof *items) : NULL;
    rank_result *res = malloc(sizeof *res);
    odg_status st = ODG_OK;
    if ((total > 0 && !items) || !res) {
        st = odg_fail(err, ODG_ENOMEM, "out of memory");
        goto stop_all;
    }
    long n = 0, serial = 0;
    for (int j = 0; j < njobs; j++) {
        for (int i = 0; i < odg_sweep_count(jobs[j].sweep); i++, serial++) {
            if (todo[j][i]) {
                items[n++] = (todo_item){j, i, odg_sweep_cost(jobs[j].sweep, i), serial};
            }
        }
    }
    qsort(items, (size_t)n, sizeof *items, cmp_todo);
    long next = 0;
    int active = ri->nmeasuring;
    while (active > 0) {
        wait_message();
        int from = -1;
        if (odg_mpi_recv(res, sizeof *res, -1, TAG_RESULT, &from, NULL) != ODG_OK) {
            st = odg_fail(err, ODG_EIO, "rank 0 lost a rank's message");
            goto stop_all;
        }
        if (res->job >= 0 && res->job < njobs) {
            if (res->interrupted) {
                sum->interrupted = 1; /* no measurement; resume runs it again */
            } else {
                record_row(jobs, res->job, res->index, &tg[job_tg[res->job]], opts, ri,
                           &res->rec, res->wall_s, total, fn, ctx, sum);
            }
        }
        int stop = (opts->stop && *opts->stop) || res->interrupted;
        sum->interrupted |= stop && next < n;
        rank_order o = {-1, -1};
        if (!stop && next < n) {
            o.job = items[next].job;
            o.index = items[next].index;
            next++;
            odg_sweep_event ev = {.kind = ODG_SWEEP_START,
                                  .job = &jobs[o.job],
                                  .index = o.index,
                                  .done = sum->run,
                                  .total = total,
                                  .rank = from};
            if (fn) {
                fn(&ev, ctx);
            }
        } else {
            active--;
        }
        if (odg_mpi_send(&o, sizeof o, from, TAG_ORDER) != ODG_OK) {
            st = odg_fail(err, ODG_EIO, "rank 0 cannot reach rank %d", from);
            goto stop_all;
        }
    }
stop_all:
    /* the ranks that do not measure wait for this alone; after a failure, everyone */
    for (int r = 1; r < ri->n; r++) {
        if (!ri->measuring[r] || st != ODG_OK) {
            rank_order o = {-1, -1};
            odg_mpi_send(&o, sizeof o, r, TAG_ORDER);
        }
    }
    free(items);
    free(res);
    return st;
}

/* ---- the serial order ---------------------------------------------------------------------- */

/* A configuration key's place in the serial sweep: an open-addressing map. */
typedef struct {
    char **key;
    long *pos;
    size_t cap;
} order_map;

static void order_map_free(order_map *m)
{
    for (size_t k = 0; m->key && k < m->cap; k++) {
        free(m->key[k]);
    }
    free(m->key);
    free(m->pos);
}

static long order_map_find(const order_map *m, const char *key)
{
    size_t j = hash_str(key) & (m->cap - 1);
    while (m->key[j]) {
        if (strcmp(m->key[j], key) == 0) {
            return m->pos[j];
        }
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

typedef struct {
    long pos, row;
} row_place;

static int cmp_place(const void *a, const void *b)
{
    const row_place *x = a, *y = b;
    if (x->pos != y->pos) {
        return x->pos < y->pos ? -1 : 1;
    }
    return (x->row > y->row) - (x->row < y->row);
}

/* Rewrites results file k of the jobs with its rows in the order the serial sweep appends them:
 * the rows of other configurations first, as they were, then this sweep's by their place in it
 * (several rows of one configuration, from other commits, in the order they were appended).  A
 * file with a line that is not a row is left as it is.  Written whole (a temporary file synced
 * and renamed over it), under the sweep's lock. */
static odg_status serial_order(const char *csv, const odg_sweep_job *jobs, int njobs,
                               const int *job_tg, int k, int threads, char err[ODG_ERRLEN])
{
    odg_csv_table t;
    odg_status st = odg_csv_read(csv, &t, err);
    if (st != ODG_OK) {
        return st;
    }
    order_map m = {NULL, NULL, 0};
    row_place *pl = NULL;
    char *text = NULL, **lines = NULL, *out = NULL;
    size_t n = 0;
    for (int j = 0; j < njobs; j++) {
        n += job_tg[j] == k ? (size_t)odg_sweep_count(jobs[j].sweep) : 0;
    }
    if (t.torn > 0 || t.nrow < 2) {
        goto done;
    }
    m.cap = 16;
    while (m.cap < 2 * n) {
        m.cap *= 2;
    }
    m.key = calloc(m.cap, sizeof *m.key);
    m.pos = calloc(m.cap, sizeof *m.pos);
    pl = malloc((size_t)t.nrow * sizeof *pl);
    if (!m.key || !m.pos || !pl) {
        st = odg_fail(err, ODG_ENOMEM, "out of memory ordering %s", csv);
        goto done;
    }
    long pos = 0;
    for (int j = 0; j < njobs; j++) {
        for (int i = 0; job_tg[j] == k && i < odg_sweep_count(jobs[j].sweep); i++, pos++) {
            odg_run_config c = resolved_config(jobs[j].sweep, i, threads);
            char *key = experiment_key(c.experiment, &c);
            if (!key) {
                st = odg_fail(err, ODG_ENOMEM, "out of memory ordering %s", csv);
                goto done;
            }
            size_t s = hash_str(key) & (m.cap - 1);
            while (m.key[s] && strcmp(m.key[s], key) != 0) {
                s = (s + 1) & (m.cap - 1);
            }
            if (m.key[s]) {
                free(key); /* the same configuration twice: its first place */
            } else {
                m.key[s] = key;
                m.pos[s] = pos;
            }
        }
    }
    int je = odg_csv_table_col(&t, "experiment");
    int sorted = 1;
    for (int i = 0; i < t.nrow; i++) {
        odg_run_config c;
        long p = -1;
        if (je >= 0 && odg_csv_row_config(&t, i, &c, NULL) == ODG_OK) {
            char *key = experiment_key(t.rows[i][je], &c);
            if (!key) {
                st = odg_fail(err, ODG_ENOMEM, "out of memory ordering %s", csv);
                goto done;
            }
            p = order_map_find(&m, key);
            free(key);
        }
        pl[i] = (row_place){p, i};
        sorted &= i == 0 || cmp_place(&pl[i - 1], &pl[i]) < 0;
    }
    if (sorted) {
        goto done; /* already in order: nothing to write */
    }
    qsort(pl, (size_t)t.nrow, sizeof *pl, cmp_place);
    /* the file's lines again, as written (the table split its copy in place) */
    FILE *fp = fopen(csv, "rb");
    long len = -1;
    if (fp && fseek(fp, 0, SEEK_END) == 0) {
        len = ftell(fp);
    }
    text = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (!fp || !text || fseek(fp, 0, SEEK_SET) != 0 ||
        fread(text, 1, (size_t)len, fp) != (size_t)len) {
        if (fp) {
            fclose(fp);
        }
        st = odg_fail(err, text || len < 0 ? ODG_EIO : ODG_ENOMEM, "%s: cannot read it again", csv);
        goto done;
    }
    fclose(fp);
    text[len] = '\0';
    int nlines = 1;
    for (long c = 0; c < len; c++) {
        nlines += text[c] == '\n';
    }
    lines = malloc((size_t)(nlines + 1) * sizeof *lines);
    out = malloc((size_t)len + 2);
    if (!lines || !out) {
        st = odg_fail(err, ODG_ENOMEM, "out of memory ordering %s", csv);
        goto done;
    }
    int nl = 0;
    for (char *l = text, *nx; l; l = nx) {
        nx = strchr(l, '\n');
        if (nx) {
            *nx++ = '\0';
        }
        lines[++nl - 1] = l; /* line numbers from 1, as the table's */
        if (nl > nlines) {
            break;
        }
    }
    size_t o = 0;
    o += (size_t)sprintf(out + o, "%s\n", lines[0]);
    for (int i = 0; i < t.nrow; i++) {
        int ln = t.line[pl[i].row];
        if (ln < 1 || ln > nl) {
            st = odg_fail(err, ODG_EFORMAT, "%s changed while it was ordered", csv);
            goto done;
        }
        o += (size_t)sprintf(out + o, "%s\n", lines[ln - 1]);
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.%ld.order", csv, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ok = fd >= 0;
    for (size_t w = 0; ok && w < o;) {
        ssize_t got = write(fd, out + w, o - w);
        ok = got > 0;
        w += ok ? (size_t)got : 0;
    }
    ok = ok && fsync(fd) == 0;
    if (fd >= 0) {
        ok = close(fd) == 0 && ok;
    }
    if (!ok || rename(tmp, csv) != 0) {
        st = odg_fail(err, ODG_EIO, "%s: cannot write it in the serial order: %s", csv,
                      strerror(errno));
        unlink(tmp);
    }
done:
    free(out);
    free(lines);
    free(text);
    free(pl);
    order_map_free(&m);
    odg_csv_table_free(&t);
    return st;
}

/* Appends a configuration's record to its results file and reports it (and the provenance
 * sidecar with the first row written there). */
static void record_row(const odg_sweep_job *jobs, int j, int i, target *tt,
                       const odg_sweep_opts *opts, const rank_info *ri, odg_run_record *rec,
                       double wall, long total, odg_sweep_fn fn, void *ctx,
                       odg_sweep_summary *sum)
{
    char e2[ODG_ERRLEN];
    odg_sweep_event ev = {.kind = ODG_SWEEP_DONE,
                          .job = &jobs[j],
                          .index = i,
                          .total = total,
                          .wall_s = wall};
    sum->run++;
    ev.done = sum->run;
    const char *csv = jobs[j].csv;
    if (odg_csv_append(csv, rec, e2) != ODG_OK) {
        sum->failed++;
        ev.error = e2;
    } else {
        ev.rec = rec;
        count_status(sum, rec->cell[ODG_COL_status].s);
        if (!tt->sidecar_written) {
            char e3[ODG_ERRLEN];
            odg_status ss =
                ri ? odg_sidecar_write_ranks(csv, opts->argc, opts->argv, ri->n, ri->hosts,
                                             HOST_LEN, ri->measuring, e3)
                   : odg_sidecar_write(csv, opts->argc, opts->argv, e3);
            if (ss != ODG_OK) {
                snprintf(sum->sidecar_error, sizeof sum->sidecar_error, "%s", e3);
            } else {
                tt->sidecar_written = 1;
            }
        }
    }
    if (fn) {
        fn(&ev, ctx);
    }
}

odg_status odg_sweep_execute(const odg_sweep_job *jobs, int njobs, const odg_sweep_opts *opts,
                             odg_sweep_fn fn, void *ctx, odg_sweep_summary *sum,
                             char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    if (!jobs || njobs < 1 || !opts || !sum) {
        return odg_fail(err, ODG_EINVAL, "odg_sweep_execute: nothing to run");
    }
    memset(sum, 0, sizeof *sum);
    odg_status st = check_plugins(jobs, njobs, err);
    if (st != ODG_OK) {
        return st;
    }
    ask_peer_versions(jobs, njobs);
    /* across ranks: who measures; every rank other than 0 follows rank 0's orders */
    rank_info ranks = {1, 0, NULL, NULL, 0, 0};
    int told = 1;
    target *tg = NULL;
    int ntg = 0, *job_tg = NULL;
    char **todo = NULL;
    measurer mc = {NULL, 0};
    if (opts->mpi && odg_mpi_size() > 1 && !opts->dry_run) {
        st = rank_info_get(&ranks, opts->ranks_per_node > 0 ? opts->ranks_per_node : 1, err);
        if (st != ODG_OK) {
            return st;
        }
        sum->ranks = ranks.n;
        sum->measuring_ranks = ranks.nmeasuring;
        if (ranks.me != 0) {
            st = follow_ranks(jobs, njobs, opts, &ranks, err);
            sum->follower = 1;
            rank_info_free(&ranks);
            return st;
        }
        if (ranks.nmeasuring == 0) {
            told = 0;
            st = odg_fail(err, ODG_EINVAL, "no rank measures: rank 0 hands out the work");
            goto done;
        }
        told = 0; /* until lead_ranks has run, the other ranks wait for a word */
    }
    tg = calloc((size_t)njobs, sizeof *tg);
    job_tg = calloc((size_t)njobs, sizeof *job_tg);
    todo = calloc((size_t)njobs, sizeof *todo);
    if (!tg || !job_tg || !todo) {
        st = odg_fail(err, ODG_ENOMEM, "out of memory");
        goto done;
    }
    /* the distinct results files: checked, created and locked before anything runs */
    for (int j = 0; j < njobs; j++) {
        int k = 0;
        while (k < ntg && strcmp(tg[k].csv, jobs[j].csv) != 0) {
            k++;
        }
        job_tg[j] = k;
        if (k == ntg) {
            tg[ntg].csv = jobs[j].csv;
            tg[ntg].fd = -1;
            ntg++;
        }
    }
    /* every file checked first (a directory that does not exist yet is created later), then
     * directories created and files locked: a refusal leaves nothing behind */
    for (int k = 0; k < ntg; k++) {
        char e2[ODG_ERRLEN], dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", tg[k].csv);
        char *slash = strrchr(dir, '/');
        struct stat sb;
        if (slash && slash != dir) {
            *slash = '\0';
            if (stat(dir, &sb) != 0 && errno == ENOENT) {
                continue;
            }
        }
        odg_status cs = odg_csv_check(tg[k].csv, e2);
        if (cs != ODG_OK) {
            st = odg_fail(err, cs, "%s", e2);
            goto done;
        }
    }
    for (int k = 0; k < ntg && !opts->dry_run; k++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", tg[k].csv);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (make_dirs(dir) != 0) {
                st = odg_fail(err, ODG_EIO, "cannot create %s: %s", dir, strerror(errno));
                goto done;
            }
        }
        tg[k].fd =
            odg_io_fault() ? -1 : open(tg[k].csv, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (tg[k].fd < 0) {
            st = odg_fail(err, ODG_EIO, "%s: cannot open: %s", tg[k].csv, strerror(errno));
            goto done;
        }
        if (flock(tg[k].fd, LOCK_EX | LOCK_NB) != 0) {
            st = odg_fail(err, ODG_EIO,
                          "%s: another sweep is writing it (one sweep per results file); wait "
                          "for it, or write elsewhere with --output DIR",
                          tg[k].csv);
            goto done;
        }
    }
    /* what is recorded already */
    const char *commit = odg_git_commit();
    int known_commit = commit && strcmp(commit, "unknown") != 0;
    for (int j = 0; j < njobs; j++) {
        const odg_sweep *sw = jobs[j].sweep;
        int n = odg_sweep_count(sw);
        recorded rec = {NULL, NULL, 0, 0};
        char e2[ODG_ERRLEN];
        odg_status rs = recorded_read(&rec, jobs[j].csv, commit, e2);
        if (rs != ODG_OK) {
            st = odg_fail(err, rs, "%s", e2);
            goto done;
        }
        todo[j] = malloc((size_t)n + 1);
        if (!todo[j]) {
            recorded_free(&rec);
            st = odg_fail(err, ODG_ENOMEM, "out of memory");
            goto done;
        }
        odg_sweep_event ev = {.kind = ODG_SWEEP_PLAN, .job = &jobs[j], .commit = commit};
        for (int i = 0; i < n; i++) {
            odg_run_config c = resolved_config(sw, i, ranks.threads);
            char *key = experiment_key(c.experiment, &c);
            if (!key) {
                recorded_free(&rec);
                st = odg_fail(err, ODG_ENOMEM, "out of memory");
                goto done;
            }
            /* without a known commit nothing is reused: better measure twice than never */
            int how = known_commit ? recorded_find(&rec, key) : 0;
            free(key);
            int found = how == 1 || (how == 2 && opts->reuse_any_commit);
            todo[j][i] = !found;
            ev.recorded += found;
            ev.reused_other += found && how == 2;
            ev.other_commit += how == 2 && !opts->reuse_any_commit;
            sum->recorded += found;
            ev.total += !found;
        }
        recorded_free(&rec);
        if (fn) {
            fn(&ev, ctx);
        }
    }
    long total = 0;
    for (int j = 0; j < njobs; j++) {
        for (int i = 0; i < odg_sweep_count(jobs[j].sweep); i++) {
            total += todo[j][i];
        }
    }
    if (opts->dry_run) {
        goto done;
    }
    if (ranks.n > 1) {
        st = lead_ranks(jobs, njobs, opts, todo, total, tg, job_tg, &ranks, fn, ctx, sum, err);
        told = 1;
        if (st == ODG_OK && !sum->interrupted) {
            /* the rows in the order the serial sweep appends them */
            for (int k = 0; k < ntg; k++) {
                char e2[ODG_ERRLEN];
                if (serial_order(tg[k].csv, jobs, njobs, job_tg, k, ranks.threads, e2) != ODG_OK &&
                    !sum->sidecar_error[0]) {
                    snprintf(sum->sidecar_error, sizeof sum->sidecar_error, "%s", e2);
                }
            }
        }
        goto done;
    }
    for (int j = 0; j < njobs; j++) {
        const odg_sweep *sw = jobs[j].sweep;
        for (int i = 0; i < odg_sweep_count(sw); i++) {
            if (!todo[j][i]) {
                continue;
            }
            if (opts->stop && *opts->stop) {
                sum->interrupted = 1;
                goto done;
            }
            odg_sweep_event ev = {.kind = ODG_SWEEP_START,
                                  .job = &jobs[j],
                                  .index = i,
                                  .done = sum->run,
                                  .total = total};
            if (fn) {
                fn(&ev, ctx);
            }
            odg_run_record rec;
            double wall;
            measure(sw, i, &mc, &rec, &wall);
            if (opts->stop && *opts->stop) {
                /* the signal reached the measuring child too: this is no measurement */
                sum->interrupted = 1;
                goto done;
            }
            record_row(jobs, j, i, &tg[job_tg[j]], opts, NULL, &rec, wall, total, fn, ctx, sum);
        }
    }
done:
    if (!told) {
        /* rank 0 could not start: the others stop too, the measuring ones once their "ready"
         * is taken (a send that no receive matches may never return) */
        for (int r = 1; r < ranks.n; r++) {
            rank_result ready;
            rank_order o = {-1, -1};
            if (ranks.measuring[r]) {
                odg_mpi_recv(&ready, offsetof(rank_result, rec), r, TAG_RESULT, NULL, NULL);
            }
            odg_mpi_send(&o, sizeof o, r, TAG_ORDER);
        }
    }
    rank_info_free(&ranks);
    for (int k = 0; tg && k < ntg; k++) {
        if (tg[k].fd >= 0) {
            close(tg[k].fd); /* releases the lock */
        }
    }
    for (int j = 0; todo && j < njobs; j++) {
        free(todo[j]);
    }
    free(todo);
    free(job_tg);
    free(tg);
    free(mc.roofs);
    return st;
}
