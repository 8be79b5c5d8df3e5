/* The peers on this machine, and the one that runs as a program of its own: PyTorch
 * (peers/torch_peer.py; docs/experiments.md, "Peers").
 *
 * Availability is asked once per process: Debian's python3 (python3-torch installs there, not in
 * another interpreter that PATH may find first; ODEGRAD_PYTHON overrides it) must find torch and
 * numpy, and the peer's script must be readable (ODEGRAD_TORCH_PEER overrides the build's path);
 * CVODES must be in this build.
 *
 * A PyTorch run happens inside the measuring child (harness/run.c): the problem's arrays and the
 * scheme's tableau go to a temporary directory as .npy files, the script runs as a process of
 * its own with the run's threads, measures its own resident peak and times its own gradients the
 * way the harness does (harness/run.c, timed_gradients: the peak on an untimed gradient from
 * memory just given back, then the warm-ups, then the timed gradients), and leaves its last
 * gradient in g.npy and one line of JSON on stdout.  The child dies with the measuring process
 * (PR_SET_PDEATHSIG), so a timeout stops it too. */
#include "harness_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif

#ifndef ODG_TORCH_PEER
#define ODG_TORCH_PEER "peers/torch_peer.py"
#endif
#define ODG_PYTHON "/usr/bin/python3"

static const char *python(void)
{
    const char *p = getenv("ODEGRAD_PYTHON");
    return p && p[0] ? p : ODG_PYTHON;
}

static const char *torch_script(void)
{
    const char *p = getenv("ODEGRAD_TORCH_PEER");
    return p && p[0] ? p : ODG_TORCH_PEER;
}

/* Runs argv with stdout into out (cap, NUL-terminated, the rest dropped) and stderr into the file
 * errpath (or /dev/null), OMP_NUM_THREADS set to threads when > 0.  The exit code, 128 + the
 * signal when killed, or -1 (errno) when it could not be started. */
static int run_program(char *const argv[], int threads, char *out, size_t cap, const char *errpath)
{
    int fd[2];
    if (pipe(fd) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fd[0]);
        close(fd[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        int e = open(errpath ? errpath : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (e >= 0) {
            dup2(e, STDERR_FILENO);
            close(e);
        }
        if (threads > 0) {
            char t[32];
            snprintf(t, sizeof t, "%d", threads);
            setenv("OMP_NUM_THREADS", t, 1);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    for (;;) {
        char buf[4096];
        ssize_t k = read(fd[0], buf, sizeof buf);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            break;
        }
        size_t take = (size_t)k < cap - 1 - len ? (size_t)k : cap - 1 - len;
        memcpy(out + len, buf, take);
        len += take;
    }
    out[len] = '\0';
    close(fd[0]);
    int ws;
    while (waitpid(pid, &ws, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* The torch probe's answer, once per process (odg_solver_available). */
static int torch_asked;
static odg_status torch_st;
static char torch_ver[ODG_CELL_STRLEN], torch_why[ODG_ERRLEN];

const char *odg_torch_version_asked(void)
{
    return torch_asked && torch_st == ODG_OK ? torch_ver : NULL;
}

odg_status odg_solver_available(odg_solver s, char version[ODG_CELL_STRLEN], char err[ODG_ERRLEN])
{
    version[0] = '\0';
    if (s == ODG_SOLVER_CVODES) {
        const char *v = odg_cvodes_version();
        if (!v) {
            return odg_fail(err, ODG_EUNSUP,
                            "--solver cvodes: this build has no SUNDIALS CVODES (Debian package "
                            "%s: `make peers`, then build again)",
                            odg_solver_packages(s));
        }
        odg_fmt(version, ODG_CELL_STRLEN, "SUNDIALS %s", v);
        return ODG_OK;
    }
    if (s != ODG_SOLVER_TORCH) {
        return ODG_OK;
    }
    /* once per process: a sweep asks for every configuration */
    odg_status st = torch_st;
    char *ver = torch_ver, *why = torch_why;
    if (!torch_asked) {
        torch_asked = 1;
        st = ODG_OK;
        char out[256];
        /* found, not imported (an import of torch takes a second or two, and a sweep's
         * process asks before its first run): a torch that is found but does not import is an
         * error row of the run, with its message */
        char *argv[] = {(char *)python(), "-c",
                        "import importlib.util as u, importlib.metadata as m\n"
                        "assert u.find_spec('torch') and u.find_spec('numpy')\n"
                        "try:\n    v = m.version('torch')\nexcept Exception:\n    v = '?'\n"
                        "print('torch ' + v)",
                        NULL};
        int rc =
            access(torch_script(), R_OK) != 0 ? -2 : run_program(argv, 1, out, sizeof out, NULL);
        if (rc == -2) {
            st = odg_fail(why, ODG_EUNSUP, "--solver torch: its program %s: %s", torch_script(),
                          strerror(errno));
        } else if (rc != 0) {
            st = odg_fail(why, ODG_EUNSUP,
                          "--solver torch needs %s with PyTorch and NumPy (Debian packages %s: "
                          "`make peers`); %s",
                          python(), odg_solver_packages(s),
                          rc == 127 || rc < 0 ? "it cannot be started" : "it does not have them");
        } else {
            out[strcspn(out, "\n")] = '\0';
            odg_fmt(ver, ODG_CELL_STRLEN, "%s", out);
        }
        torch_st = st;
    }
    if (st != ODG_OK) {
        return odg_fail(err, st, "%s", why);
    }
    odg_fmt(version, ODG_CELL_STRLEN, "%s", ver);
    return ODG_OK;
}

/* ---- a PyTorch run ------------------------------------------------------------------------ */

static const char *const tab_names[] = {"tab_a", "tab_b", "tab_bt", "tab_c"};

void odg_torch_cleanup(const odg_run *r, const char *dir)
{
    char path[4200];
    for (int v = 0; v < r->model->nviews; v++) {
        odg_fmt(path, sizeof path, "%s/%s.npy", dir, r->model->view[v].name);
        unlink(path);
    }
    const char *more[] = {"z0.npy",    "w.npy",     "g.npy",      "stderr.txt",
                          "tab_a.npy", "tab_b.npy", "tab_bt.npy", "tab_c.npy"};
    for (size_t k = 0; k < sizeof more / sizeof more[0]; k++) {
        odg_fmt(path, sizeof path, "%s/%s", dir, more[k]);
        unlink(path);
    }
    rmdir(dir);
}

/* The problem and odegrad's tableau of the scheme, as the script reads them. */
static odg_status torch_inputs(const odg_run *r, const char *dir, char err[ODG_ERRLEN])
{
    char path[4200];
    odg_status st = odg_model_save(r->model, r->model->theta, dir, "", err);
    size_t shape[2] = {r->model->B, r->model->D};
    const double *arr[2] = {r->z0, r->w};
    const char *name[2] = {"z0", "w"};
    for (int k = 0; k < 2 && st == ODG_OK; k++) {
        odg_fmt(path, sizeof path, "%s/%s.npy", dir, name[k]);
        st = odg_npy_save(path, 2, shape, arr[k], err);
    }
    const odg_tableau *tab = r->prob.tab;
    size_t s = (size_t)tab->s;
    double a[ODG_MAX_STAGES * ODG_MAX_STAGES];
    for (size_t i = 0; i < s; i++) {
        for (size_t j = 0; j < s; j++) {
            a[i * s + j] = tab->a[i][j];
        }
    }
    double bt[ODG_MAX_STAGES];
    for (size_t i = 0; i < s; i++) {
        bt[i] = tab->emb_order > 0 ? tab->bt[i] : tab->b[i];
    }
    const double *tv[4] = {a, tab->b, bt, tab->c};
    size_t ts[2] = {s, s};
    for (int k = 0; k < 4 && st == ODG_OK; k++) {
        odg_fmt(path, sizeof path, "%s/%s.npy", dir, tab_names[k]);
        st = k == 0 ? odg_npy_save(path, 2, ts, tv[k], err) : odg_npy_save(path, 1, ts, tv[k], err);
    }
    return st;
}

static double jnum(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A count the peer reports: -1 when it does not know it (null, absent, or not a count). */
static long jcount(const json_t *o, const char *key)
{
    const double v = jnum(o, key);
    return v >= 0 && v < 9e15 && v == floor(v) ? (long)v : -1;
}

/* The numbers of a JSON array into x (n of them); 0, or -1 when it is not n numbers. */
static int jarray(const json_t *o, const char *key, double *x, int n)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_array(v) || (int)json_array_size(v) != n) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, (size_t)i);
        if (!json_is_number(e)) {
            return -1;
        }
        x[i] = json_number_value(e);
    }
    return 0;
}

/* The last line of the script's stderr, for a message. */
static void last_line(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) {
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (line[0] != '\n') {
            line[strcspn(line, "\n")] = '\0';
            odg_fmt(buf, cap, "%s", line);
        }
    }
    fclose(f);
}

odg_status odg_torch_dir(char dir[4096], char err[ODG_ERRLEN])
{
    const char *tmpdir = getenv("TMPDIR");
    odg_fmt(dir, 4096, "%s/odegrad-torch-XXXXXX", tmpdir && tmpdir[0] ? tmpdir : "/tmp");
    if (mkdtemp(dir) == NULL) {
        return odg_fail(err, ODG_EIO, "torch: cannot create a temporary directory %s: %s", dir,
                        strerror(errno));
    }
    return ODG_OK;
}

odg_status odg_torch_gradients(const odg_run *r, const char *dir, double *g, double *times,
                               odg_peer_report *pr, char err[ODG_ERRLEN])
{
    const odg_run_config *c = &r->cfg;
    const int R = c->repeat;
    memset(pr, 0, sizeof *pr);
    pr->rss_peak = pr->rss_base = NAN;
    char path[4200], e2[ODG_ERRLEN];
    odg_status st = torch_inputs(r, dir, e2);
    if (st != ODG_OK) {
        return odg_fail(err, st, "torch: the problem's files: %s", e2);
    }
    char a[16][40];
    char *argv[40];
    int n = 0;
    argv[n++] = (char *)python();
    argv[n++] = (char *)torch_script();
    argv[n++] = (char *)dir;
    int k = 0;
#define ARG(...)                                                                                   \
    do {                                                                                           \
        odg_fmt(a[k], sizeof a[k], __VA_ARGS__);                                                   \
        argv[n++] = a[k++];                                                                        \
    } while (0)
    argv[n++] = "--method";
    argv[n++] = (char *)odg_method_name(c->grad.method);
    argv[n++] = "--scheme";
    argv[n++] = (char *)odg_scheme_name(c->scheme);
    argv[n++] = "--order";
    ARG("%d", r->prob.tab->emb_order > 0 ? r->prob.tab->emb_order : r->prob.tab->order);
    if (c->steps > 0) {
        argv[n++] = "--steps";
        ARG("%ld", c->steps);
    } else {
        argv[n++] = "--rtol";
        ARG("%.17g", c->rtol);
        argv[n++] = "--atol";
        ARG("%.17g", c->atol);
        if (c->grad.adj_rtol > 0) {
            argv[n++] = "--adj-rtol";
            ARG("%.17g", c->grad.adj_rtol);
            argv[n++] = "--adj-atol";
            ARG("%.17g", c->grad.adj_atol);
        }
    }
    argv[n++] = "--t1";
    ARG("%.17g", c->t1);
    argv[n++] = "--repeat";
    ARG("%d", R);
    argv[n++] = "--warmup";
    ARG("%d", c->warmup);
    argv[n++] = "--threads";
    ARG("%d", c->threads > 0 ? c->threads : 1);
    if (c->model.time_input) {
        argv[n++] = "--time-input";
    }
    argv[n] = NULL;
#undef ARG

    char *out = malloc(65536);
    if (!out) {
        return odg_fail(err, ODG_ENOMEM, "torch: out of memory");
    }
    char errpath[4200];
    odg_fmt(errpath, sizeof errpath, "%s/stderr.txt", dir);
    int rc = run_program(argv, c->threads, out, 65536, errpath);
    json_t *o = NULL;
    if (rc != 0) {
        last_line(errpath, e2, sizeof e2);
        st = rc == 3 ? ODG_ESTEPS : rc == 128 + SIGKILL ? ODG_ENOMEM : ODG_EIO;
        odg_fail(err, st, "torch: %s %s%s%s", torch_script(),
                 rc < 0 ? "could not be started" : "failed", e2[0] ? ": " : "", e2);
        goto done;
    }
    char *line = strrchr(out, '{');
    json_error_t je;
    o = line ? json_loads(line, 0, &je) : NULL;
    if (!o || jarray(o, "times", times, R) != 0 || jarray(o, "forward", times + R, R) != 0 ||
        jarray(o, "backward", times + 2 * R, R) != 0) {
        st = odg_fail(err, ODG_EFORMAT, "torch: its report is not what odegrad reads: %.120s", out);
        goto done;
    }
    size_t ng = r->model->P + r->model->B * r->model->D;
    odg_fmt(path, sizeof path, "%s/g.npy", dir);
    st = odg_npy_load(path, 1, &ng, g, e2);
    if (st != ODG_OK) {
        odg_fail(err, st, "torch: its gradient: %s", e2);
        goto done;
    }
    odg_grad_stats *S = &pr->stats;
    memset(S, 0, sizeof *S);
    S->loss = jnum(o, "loss");
    S->steps = jcount(o, "steps");
    S->rejected = jcount(o, "rejected");
    S->adj_steps = jcount(o, "adj_steps");
    S->nfe_forward = jcount(o, "nfe_forward");
    S->nfe_backward = jcount(o, "nfe_backward");
    S->nvjp = jcount(o, "nvjp");
    pr->reps = R;
    pr->warmups = (int)jcount(o, "warmups");
    pr->rss_peak = jnum(o, "rss_peak");
    pr->rss_base = jnum(o, "rss_base");
    const char *rm = json_string_value(json_object_get(o, "rss_method"));
    pr->rss_cleared = rm && strcmp(rm, "clear_refs") == 0;
    pr->threads = (int)jcount(o, "threads");
    const char *ver = json_string_value(json_object_get(o, "version"));
    const char *impl = json_string_value(json_object_get(o, "implementation"));
    odg_fmt(pr->version, sizeof pr->version, "%s, %s", ver ? ver : "torch ?", impl ? impl : "?");
    st = ODG_OK;

done:
    json_decref(o);
    free(out);
    return st;
}
