/* Every write of a run and of a sweep failing in turn (I/O fault injection, as test_oom does for
 * allocations: odg_io_fault_arm makes the k-th operation that writes an output fail with
 * ENOSPC, as on a full disk).  A run does what `odegrad run --csv --save-grad --save-problem`
 * does; a sweep what `odegrad sweep` does.  After each failure:
 *   - the earlier results are byte-identical, or replaced by the new ones whole: the CSV is
 *     the old bytes followed by whole rows only, the sidecar the old one or a whole JSON file,
 *     and each --save-grad and --save-problem directory holds exactly the old set of files or
 *     exactly the new set, nothing else (no temporary file or directory left);
 *   - the failure is reported: the run fails, the row's status is error (a failed --save-grad),
 *     or the append or the sidecar reports it; a failed save is never an ok row.
 * And a write cut short for real (RLIMIT_FSIZE: the kernel takes what fits, as a full disk
 * does, then refuses) leaves the CSV as it was, with the kernel's reason in the message. */
#include "check.h"
#include "odegrad/experiments.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- files -------------------------------------------------------------------------------- */

typedef struct file {
    char name[600]; /* relative to the scratch directory */
    char *data;
    size_t len;
} file;

typedef struct snapshot {
    file f[64];
    int n;
} snapshot;

static char W[256]; /* the scratch directory */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *p = malloc(cap + 1);
    size_t k;
    while (p && (k = fread(p + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *q = realloc(p, 2 * cap + 1);
            if (!q) {
                free(p);
                p = NULL;
                break;
            }
            p = q;
            cap *= 2;
        }
    }
    fclose(f);
    if (p) {
        p[n] = '\0';
        *len = n;
    }
    return p;
}

static void remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        return;
    }
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                remove_tree(sub);
            }
        }
        if (d) {
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const file *)a)->name, ((const file *)b)->name);
}

/* Every entry under W/rel (one level of directories), sorted; a directory that is not one of
 * the output directories (a temporary one left behind) is an entry too, with data NULL. */
static void snap_dir(snapshot *s, const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", W, rel);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && s->n < 64) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        file *f = &s->f[s->n++];
        snprintf(f->name, sizeof f->name, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        char full[1024];
        snprintf(full, sizeof full, "%s/%s", W, f->name);
        struct stat sb;
        f->data = NULL;
        f->len = 0;
        if (lstat(full, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            if (rel[0] == '\0' && (strcmp(e->d_name, "sg") == 0 || strcmp(e->d_name, "sp") == 0 ||
                                   strcmp(e->d_name, "sweep") == 0)) {
                s->n--;
                snap_dir(s, e->d_name);
            }
            continue;
        }
        f->data = slurp(full, &f->len);
    }
    if (d) {
        closedir(d);
    }
}

static void snap(snapshot *s)
{
    s->n = 0;
    snap_dir(s, "");
    qsort(s->f, (size_t)s->n, sizeof s->f[0], cmp_file);
}

static void snap_free(snapshot *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->f[i].data);
    }
    s->n = 0;
}

static const file *find(const snapshot *s, const char *name)
{
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->f[i].name, name) == 0) {
            return &s->f[i];
        }
    }
    return NULL;
}

/* W made to hold exactly what s holds (the cache directory aside) */
static void restore(const snapshot *s)
{
    static const char *const dirs[] = {"sg", "sp", "sweep", "run.csv", "run.csv.json"};
    char path[1024];
    for (size_t k = 0; k < sizeof dirs / sizeof dirs[0]; k++) {
        snprintf(path, sizeof path, "%s/%s", W, dirs[k]);
        remove_tree(path);
    }
    snprintf(path, sizeof path, "%s/sg", W);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/sp", W);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/sweep", W);
    mkdir(path, 0755);
    for (int i = 0; i < s->n; i++) {
        snprintf(path, sizeof path, "%s/%s", W, s->f[i].name);
        FILE *f = s->f[i].data ? fopen(path, "wb") : NULL;
        if (f) {
            fwrite(s->f[i].data, 1, s->f[i].len, f);
            fclose(f);
        }
    }
}

/* The files of s under dir/ (name and bytes) equal those of t under dir/: the same set. */
static int same_set(const snapshot *s, const snapshot *t, const char *dir)
{
    size_t n = strlen(dir);
    int count_s = 0, count_t = 0;
    for (int i = 0; i < s->n; i++) {
        if (strncmp(s->f[i].name, dir, n) != 0 || s->f[i].name[n] != '/') {
            continue;
        }
        count_s++;
        const file *o = find(t, s->f[i].name);
        if (!o || !s->f[i].data || !o->data || o->len != s->f[i].len ||
            memcmp(o->data, s->f[i].data, o->len) != 0) {
            return 0;
        }
    }
    for (int i = 0; i < t->n; i++) {
        count_t += strncmp(t->f[i].name, dir, n) == 0 && t->f[i].name[n] == '/';
    }
    return count_s == count_t;
}

/* The CSV is the old bytes followed by whole rows of the header's width only. */
static int csv_old_plus_whole_rows(const file *now, const file *old, int *added)
{
    *added = 0;
    if (!now) {
        return old == NULL;
    }
    size_t ol = old ? old->len : 0;
    if (now->len < ol || (old && memcmp(now->data, old->data, ol) != 0)) {
        return 0;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/tmp.csv", W);
    FILE *f = fopen(path, "wb");
    if (!f) {
        return 0;
    }
    fwrite(now->data, 1, now->len, f);
    fclose(f);
    odg_csv_table t;
    char err[ODG_ERRLEN];
    int ok = odg_csv_read(path, &t, err) == ODG_OK && t.torn == 0 &&
             (now->len == 0 || now->data[now->len - 1] == '\n');
    int old_rows = 0;
    for (size_t i = 0; old && i < ol; i++) {
        old_rows += old->data[i] == '\n';
    }
    *added = ok ? t.nrow - (old_rows > 0 ? old_rows - 1 : 0) : 0;
    ok = ok && t.ncol == ODG_NCOLUMNS;
    odg_csv_table_free(&t);
    unlink(path);
    return ok;
}

static int json_whole(const file *f)
{
    if (!f || !f->data) {
        return 0;
    }
    json_t *j = json_loadb(f->data, f->len, 0, NULL);
    int ok = j && json_is_object(j) && json_object_get(j, "columns");
    json_decref(j);
    return ok;
}

/* ---- a run, as `odegrad run` does it ------------------------------------------------------ */

static char sg_dir[300], sp_dir[300], run_csv[300], sweep_dir[300];

static void run_config(odg_run_config *c, const char *seed)
{
    static const struct {
        odg_option o;
        const char *v;
    } set[] = {{ODG_OPT_DIM, "2"},     {ODG_OPT_HIDDEN, "8"},       {ODG_OPT_BATCH, "4"},
               {ODG_OPT_STEPS, "8"},   {ODG_OPT_REPEAT, "1"},       {ODG_OPT_WARMUP, "0"},
               {ODG_OPT_THREADS, "1"}, {ODG_OPT_REFERENCE, "none"}, {ODG_OPT_ROOFLINE_GFLOPS, "1"}};
    char err[ODG_ERRLEN];
    odg_run_config_default(c);
    for (size_t k = 0; k < sizeof set / sizeof set[0]; k++) {
        odg_status st = odg_option_set(c, set[k].o, set[k].v, err);
        CHECK(st == ODG_OK, "--%s %s: %s", odg_option_get(set[k].o)->flag, set[k].v, err);
    }
    odg_option_set(c, ODG_OPT_SEED, seed, err);
    odg_option_set(c, ODG_OPT_SAVE_GRAD, sg_dir, err);
    odg_option_set(c, ODG_OPT_SAVE_PROBLEM, sp_dir, err);
}

typedef struct outcome {
    odg_status prepare, execute, append, sidecar;
    char status[ODG_CELL_STRLEN];
    char message[ODG_ERRLEN], err[ODG_ERRLEN];
} outcome;

static void do_run(const char *seed, outcome *o)
{
    memset(o, 0, sizeof *o);
    odg_run_config c;
    run_config(&c, seed);
    static char *argv[] = {"test_io_faults", NULL};
    odg_run *r = NULL;
    o->prepare = odg_csv_check(run_csv, o->err);
    if (o->prepare == ODG_OK) {
        o->prepare = odg_run_prepare(&r, &c, o->err);
    }
    if (o->prepare != ODG_OK) {
        return;
    }
    odg_run_record rec;
    o->execute = odg_run_execute(r, &rec, o->err);
    odg_run_destroy(&r);
    if (o->execute != ODG_OK) {
        return;
    }
    snprintf(o->status, sizeof o->status, "%s", rec.cell[ODG_COL_status].s);
    snprintf(o->message, sizeof o->message, "%s", rec.message);
    o->append = odg_csv_append(run_csv, &rec, o->err);
    if (o->append == ODG_OK) {
        o->sidecar = odg_sidecar_write(run_csv, 1, argv, o->err);
    }
}

static void test_run(void)
{
    outcome o;
    snapshot old, fresh, now;
    /* the earlier results: one run of seed 1 */
    odg_io_fault_arm(0);
    do_run("1", &o);
    CHECK(o.prepare == ODG_OK && o.execute == ODG_OK && o.append == ODG_OK && o.sidecar == ODG_OK &&
              strcmp(o.status, "ok") == 0,
          "the first run: %s %s", o.status, o.err);
    snap(&old);
    /* the new run (another seed: other arrays), undisturbed, counting its writes */
    odg_io_fault_arm(0);
    do_run("2", &o);
    long K = odg_io_fault_count();
    CHECK(o.execute == ODG_OK && strcmp(o.status, "ok") == 0 && o.sidecar == ODG_OK,
          "the new run: %s %s", o.status, o.err);
    snap(&fresh);
    CHECK(!same_set(&fresh, &old, "sg") && !same_set(&fresh, &old, "sp"),
          "the new run saved other arrays");
    CHECK(K >= 30, "a run with --csv, --save-grad and --save-problem counts %ld writes", K);
    int failed_at_grad = 0, failed_at_problem = 0, failed_at_csv = 0, failed_at_side = 0;
    for (long k = 1; k <= K; k++) {
        restore(&old);
        odg_io_fault_arm(k);
        do_run("2", &o);
        odg_io_fault_arm(0);
        snap(&now);
        int added = 0;
        int csv_ok = csv_old_plus_whole_rows(find(&now, "run.csv"), find(&old, "run.csv"), &added);
        CHECK(csv_ok && added <= 1,
              "write %ld failing: the CSV is not the old one plus whole "
              "rows (%d added)",
              k, added);
        const file *side = find(&now, "run.csv.json");
        const file *side0 = find(&old, "run.csv.json");
        CHECK(side && side0 &&
                  ((side->len == side0->len && memcmp(side->data, side0->data, side->len) == 0) ||
                   json_whole(side)),
              "write %ld failing: the sidecar is neither the old one nor whole", k);
        CHECK(same_set(&now, &old, "sg") || same_set(&now, &fresh, "sg"),
              "write %ld failing: --save-grad holds neither the old set nor the new one", k);
        CHECK(same_set(&now, &old, "sp") || same_set(&now, &fresh, "sp"),
              "write %ld failing: --save-problem holds neither the old set nor the new one", k);
        for (int i = 0; i < now.n; i++) {
            CHECK(find(&old, now.f[i].name) || find(&fresh, now.f[i].name),
                  "write %ld failing leaves %s behind", k, now.f[i].name);
        }
        /* reported, and never an ok row with a failed save */
        int reported = o.prepare != ODG_OK || o.execute != ODG_OK || o.append != ODG_OK ||
                       o.sidecar != ODG_OK || strcmp(o.status, "ok") != 0;
        CHECK(reported, "write %ld failing is not reported", k);
        if (o.execute == ODG_OK && strcmp(o.status, "ok") != 0) {
            failed_at_grad++;
            CHECK(strcmp(o.status, "error") == 0 && strstr(o.message, "--save-grad") &&
                      strstr(o.message, strerror(ENOSPC)),
                  "write %ld failing in --save-grad: status %s, message '%s'", k, o.status,
                  o.message);
            CHECK(same_set(&now, &old, "sg"), "write %ld failing: --save-grad is not the old set",
                  k);
            CHECK(added == 1, "write %ld failing in --save-grad: the error row is not recorded", k);
        }
        if (o.execute != ODG_OK) {
            failed_at_problem++;
            CHECK(strstr(o.err, "--save-problem") && strstr(o.err, strerror(ENOSPC)),
                  "write %ld failing: '%s'", k, o.err);
            CHECK(same_set(&now, &old, "sp") && added == 0,
                  "write %ld failing in --save-problem leaves a trace", k);
        }
        if (o.append != ODG_OK) {
            failed_at_csv++;
            CHECK(added == 0 && strstr(o.err, strerror(ENOSPC)), "write %ld failing: '%s'", k,
                  o.err);
        }
        failed_at_side += o.sidecar != ODG_OK;
        snap_free(&now);
    }
    printf("run: %ld writes, each failing in turn: %d in --save-problem, %d in --save-grad, %d "
           "in the row, %d in the sidecar\n",
           K, failed_at_problem, failed_at_grad, failed_at_csv, failed_at_side);
    CHECK(failed_at_problem > 0 && failed_at_grad > 0 && failed_at_csv > 0 && failed_at_side > 0,
          "every output met a failure");
    CHECK(failed_at_problem + failed_at_grad + failed_at_csv + failed_at_side == K,
          "each failure is reported once");
    restore(&old);
    snap_free(&old);
    snap_free(&fresh);
}

/* ---- a sweep, as `odegrad sweep` does it -------------------------------------------------- */

static const char *sweep_text(int seed)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "[sweep]\nname = io\nmodel = mlp\ndim = 2\nhidden = 8\nbatch = 4\nrepeat = 1\n"
             "warmup = 0\nthreads = 1\nreference = none\nmethod = backprop\nseed = %d\n"
             "[run a]\nsteps = 8, 16\n",
             seed);
    return buf;
}

static void do_sweep(int seed, odg_sweep_summary *sum, odg_status *st)
{
    char err[ODG_ERRLEN];
    odg_sweep *sw = NULL;
    memset(sum, 0, sizeof *sum);
    const char *text = sweep_text(seed);
    odg_status ps = odg_sweep_parse(&sw, "io.ini", text, strlen(text), err);
    CHECK(ps == ODG_OK, "the sweep file: %s", err);
    if (ps != ODG_OK) {
        *st = ps;
        return;
    }
    char csv[400];
    snprintf(csv, sizeof csv, "%s/io.csv", sweep_dir);
    odg_sweep_job job = {.sweep = sw, .csv = csv};
    static char *argv[] = {"test_io_faults", NULL};
    odg_sweep_opts opts = {.argc = 1, .argv = argv};
    memset(sum, 0, sizeof *sum);
    *st = odg_sweep_execute(&job, 1, &opts, NULL, NULL, sum, err);
    odg_sweep_destroy(&sw);
}

static void test_sweep(void)
{
    odg_sweep_summary sum;
    odg_status st;
    snapshot old, now;
    restore(&(snapshot){.n = 0});
    odg_io_fault_arm(0);
    do_sweep(1, &sum, &st);
    CHECK(st == ODG_OK && sum.run == 2 && sum.failed == 0 && !sum.sidecar_error[0],
          "the first sweep: %ld run, %ld failed", sum.run, sum.failed);
    snap(&old);
    odg_io_fault_arm(0);
    do_sweep(2, &sum, &st);
    long K = odg_io_fault_count();
    CHECK(st == ODG_OK && sum.run == 2 && sum.failed == 0, "the new sweep");
    CHECK(K >= 4, "a sweep of two rows counts %ld writes", K);
    int rows_lost = 0, sidecars = 0;
    for (long k = 1; k <= K; k++) {
        restore(&old);
        odg_io_fault_arm(k);
        do_sweep(2, &sum, &st);
        odg_io_fault_arm(0);
        snap(&now);
        int added = 0;
        int ok =
            csv_old_plus_whole_rows(find(&now, "sweep/io.csv"), find(&old, "sweep/io.csv"), &added);
        CHECK(ok, "write %ld failing: the results file is not the old one plus whole rows", k);
        /* a failure while the sweep sets up (its directory, the results file it locks) stops
         * it before anything runs; a later one costs the rows or the sidecar it hits */
        CHECK((st == ODG_OK && added == 2 - sum.failed) || (st != ODG_OK && added == 0),
              "write %ld failing: %d rows added, %ld reported failed (%s)", k, added, sum.failed,
              odg_status_str(st));
        const file *side = find(&now, "sweep/io.csv.json");
        const file *side0 = find(&old, "sweep/io.csv.json");
        CHECK(side && side0 &&
                  ((side->len == side0->len && memcmp(side->data, side0->data, side->len) == 0) ||
                   json_whole(side)),
              "write %ld failing: the sidecar is neither the old one nor whole", k);
        for (int i = 0; i < now.n; i++) {
            CHECK(find(&old, now.f[i].name) != NULL, "write %ld failing leaves %s behind", k,
                  now.f[i].name);
        }
        CHECK(st != ODG_OK || sum.failed > 0 || sum.sidecar_error[0],
              "write %ld failing is not reported", k);
        rows_lost += (int)sum.failed;
        sidecars += sum.sidecar_error[0] != '\0';
        snap_free(&now);
    }
    printf("sweep: %ld writes, each failing in turn: %d rows not appended, %d sidecars not "
           "written\n",
           K, rows_lost, sidecars);
    snap_free(&old);
}

/* ---- a row cut short by the kernel -------------------------------------------------------- */

static void test_short_write(void)
{
    char csv[400];
    snprintf(csv, sizeof csv, "%s/short.csv", W);
    odg_run_record rec;
    memset(&rec, 0, sizeof rec);
    for (int c = 0; c < ODG_NCOLUMNS; c++) {
        odg_cell_real(&rec.cell[c], 0.1 * (c + 1) / 3.0);
    }
    char err[ODG_ERRLEN];
    CHECK(odg_csv_append(csv, &rec, err) == ODG_OK, "%s", err);
    size_t len0 = 0;
    char *before = slurp(csv, &len0);
    /* a child whose file-size limit lets 40 more bytes in: the row is longer, so the write
     * takes 40 bytes and the next one fails with EFBIG, as a full disk takes what fits */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)len0 + 40, (rlim_t)len0 + 40};
        setrlimit(RLIMIT_FSIZE, &rl);
        odg_status st = odg_csv_append(csv, &rec, err);
        int good = st == ODG_EIO && strstr(err, strerror(EFBIG)) && strstr(err, "as it was");
        if (!good) {
            fprintf(stderr, "short write: %s\n", err);
        }
        _exit(good ? 0 : 1);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "a row cut short is reported with EFBIG");
    size_t len1 = 0;
    char *after = slurp(csv, &len1);
    CHECK(before && after && len1 == len0 && memcmp(before, after, len0) == 0,
          "a row cut short leaves the file as it was (%zu -> %zu bytes)", len0, len1);
    free(before);
    free(after);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(W, sizeof W, "%s/odg-iofault-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(W)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(sg_dir, sizeof sg_dir, "%s/sg", W);
    snprintf(sp_dir, sizeof sp_dir, "%s/sp", W);
    snprintf(run_csv, sizeof run_csv, "%s/run.csv", W);
    snprintf(sweep_dir, sizeof sweep_dir, "%s/sweep", W);
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache", W);
    setenv("ODEGRAD_CACHE", cache, 1);
    mkdir(sg_dir, 0755);
    mkdir(sp_dir, 0755);
    mkdir(sweep_dir, 0755);
    test_run();
    test_sweep();
    test_short_write();
    remove_tree(W);
    return check_done("test_io_faults");
}
