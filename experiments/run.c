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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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
    target *tg = calloc((size_t)njobs, sizeof *tg);
    int ntg = 0, *job_tg = calloc((size_t)njobs, sizeof *job_tg);
    char **todo = calloc((size_t)njobs, sizeof *todo);
    roof *roofs = NULL;
    int nroofs = 0;
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
            odg_run_config c = *odg_sweep_config(sw, i);
            odg_run_config_resolve(&c);
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
            odg_run_config c = *odg_sweep_config(sw, i);
            odg_run_config_resolve(&c);
            for (int k = 0; k < nroofs; k++) {
                if (same_roof_key(&roofs[k].key, &c)) {
                    c.roofline_gflops = roofs[k].rate;
                }
            }
            double t0 = odg_now();
            char e2[ODG_ERRLEN] = "";
            odg_run_record rec;
            odg_run *r = NULL;
            odg_status ps = odg_run_prepare(&r, &c, e2);
            if (ps == ODG_OK) {
                ps = odg_run_execute(r, &rec, e2);
            }
            odg_run_destroy(&r);
            if (ps != ODG_OK) {
                failed_record(&rec, &c, e2);
            }
            if (opts->stop && *opts->stop) {
                /* the signal reached the measuring child too: this is no measurement */
                sum->interrupted = 1;
                goto done;
            }
            ev.kind = ODG_SWEEP_DONE;
            ev.wall_s = odg_now() - t0;
            sum->run++;
            ev.done = sum->run;
            const char *csv = jobs[j].csv;
            if (odg_csv_append(csv, &rec, e2) != ODG_OK) {
                sum->failed++;
                ev.error = e2;
            } else {
                ev.rec = &rec;
                count_status(sum, rec.cell[ODG_COL_status].s);
                target *tt = &tg[job_tg[j]];
                if (!tt->sidecar_written) {
                    char e3[ODG_ERRLEN];
                    if (odg_sidecar_write(csv, opts->argc, opts->argv, e3) != ODG_OK) {
                        snprintf(sum->sidecar_error, sizeof sum->sidecar_error, "%s", e3);
                    } else {
                        tt->sidecar_written = 1;
                    }
                }
                const odg_cell *rate = &rec.cell[ODG_COL_roofline_gflops];
                if (rate->type == ODG_CELL_REAL && c.roofline_gflops == 0) {
                    roof *nr = realloc(roofs, (size_t)(nroofs + 1) * sizeof *nr);
                    if (nr) {
                        roofs = nr;
                        roofs[nroofs].key = c;
                        roofs[nroofs].rate = rate->x;
                        nroofs++;
                    }
                }
            }
            if (fn) {
                fn(&ev, ctx);
            }
        }
    }
done:
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
    free(roofs);
    return st;
}
