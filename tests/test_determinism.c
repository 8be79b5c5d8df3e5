/* Determinism across thread counts (include/odegrad/models.h (batch chunks and BLAS modes), the build flags of CMakeLists.txt): a gradient is
 * bit-identical for OMP_NUM_THREADS = 1, 2, 3 and 8, with fixed and adaptive steps, for the
 * discrete and both continuous kinds, in the chunked and auto BLAS modes; the threaded mode
 * (OpenBLAS splitting each GEMM, which is not bit-identical across thread counts: models.h) is
 * repeatable at each thread count, and how far it moves is printed.  (That the BLAS paths stay
 * within their round-off bound of the plain-loop reference with the batch in several chunks, in
 * both modes, is test_models' concern.)
 *
 * libgomp and OpenBLAS read OMP_NUM_THREADS once, at start-up, so the test runs itself again
 * (fork, then exec of /proc/self/exe with "--child") once per thread count; each child computes
 * every case and writes the results' bytes to a pipe, and the parent compares them with the
 * one-thread child's, bit for bit.
 */
#include "check.h"
#include "odegrad/gradients.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- the cases ---------------------------------------------------------------------------- */

typedef struct dcase {
    char label[96];
    odg_model_opts mo;
    odg_scheme scheme;
    long steps; /* 0: adaptive */
    odg_method method;
} dcase;

#define MAX_CASES 32

/* Appends one case; H is ignored by the linear model. */
static void add_case(dcase *cs, int *n, odg_model_kind kind, size_t B, size_t D, size_t H,
                     int time_input, odg_blas_mode mode, odg_scheme scheme, long steps,
                     odg_method method)
{
    dcase *c = &cs[(*n)++];
    odg_model_opts_default(&c->mo);
    c->mo.kind = kind;
    c->mo.B = B;
    c->mo.D = D;
    c->mo.H = H;
    c->mo.time_input = time_input;
    c->mo.blas_mode = mode;
    c->scheme = scheme;
    c->steps = steps;
    c->method = method;
}

/* The mlp at B = 256, D = 8, H = 32: four chunks of 64 rows, so 1, 2, 3 and 8 threads split
 * them in four different ways (and 8 threads leave some idle).  rk4 with fixed steps and dopri5
 * with adaptive ones; the discrete adjoint, the stored continuous adjoint and backsolve (whose
 * backward pass calls f and the VJP inside the augmented field); the three BLAS modes.  Then
 * the mlp at D = 16, H = 128, where OpenBLAS does split the threaded mode's GEMMs
 * (M N K > 262144); a batch of one chunk (B = 64) whose GEMMs OpenBLAS would split if it were
 * called outside a parallel region (64 x 256 x 32); the time-input column (rk4, backprop), also
 * at D = 2, where the chunked mode takes the thin version (ODG_MLP_THIN_MAX_D); the
 * linear model with two gA tiles (D = 40); and 20-row chunks (dopri5, backprop). */
static int make_cases(dcase *cs)
{
    const odg_blas_mode modes[] = {ODG_BLAS_CHUNKED, ODG_BLAS_THREADED, ODG_BLAS_AUTO};
    const odg_method methods[] = {ODG_METHOD_BACKPROP, ODG_METHOD_STORED_ADJOINT,
                                  ODG_METHOD_BACKSOLVE_ADJOINT};
    const odg_model_kind mlp = ODG_MODEL_MLP, lin = ODG_MODEL_LINEAR;
    const odg_scheme rk4 = ODG_SCHEME_RK4;
    const odg_method bp = ODG_METHOD_BACKPROP;
    int n = 0;
    for (int b = 0; b < 3; b++) {
        for (int k = 0; k < 3; k++) {
            add_case(cs, &n, mlp, 256, 8, 32, 0, modes[b], rk4, 16, methods[k]);
            add_case(cs, &n, mlp, 256, 8, 32, 0, modes[b], ODG_SCHEME_DOPRI5, 0, methods[k]);
        }
    }
    for (int b = 0; b < 2; b++) {
        add_case(cs, &n, mlp, 256, 16, 128, 0, modes[b], rk4, 4, bp);
        add_case(cs, &n, mlp, 64, 32, 256, 0, modes[b], rk4, 4, bp);
        add_case(cs, &n, mlp, 256, 8, 32, 1, modes[b], rk4, 8, bp);
        add_case(cs, &n, mlp, 256, 2, 32, 1, modes[b], rk4, 8, bp); /* the thin version */
        for (int k = 0; k < 3; k += 2) {
            /* B = 200: four chunks, the last one short */
            add_case(cs, &n, lin, 200, 40, 0, 0, modes[b], rk4, 8, methods[k]);
        }
    }
    /* another chunk size: 13 chunks of 20 rows, the last one 16 */
    add_case(cs, &n, mlp, 256, 8, 32, 0, ODG_BLAS_CHUNKED, ODG_SCHEME_DOPRI5, 0, bp);
    cs[n - 1].mo.batch_chunk = 20;
    for (int i = 0; i < n; i++) {
        dcase *c = &cs[i];
        char steps[32];
        if (c->steps > 0) {
            snprintf(steps, sizeof steps, "N=%ld", c->steps);
        } else {
            snprintf(steps, sizeof steps, "adaptive");
        }
        snprintf(c->label, sizeof c->label, "%s%s B=%zu D=%zu H=%zu chunk=%zu %s %s %s blas=%s",
                 odg_model_kind_name(c->mo.kind), c->mo.time_input ? "+t" : "", c->mo.B, c->mo.D,
                 c->mo.kind == ODG_MODEL_MLP ? c->mo.H : 0,
                 c->mo.batch_chunk ? c->mo.batch_chunk : (size_t)ODG_BATCH_CHUNK,
                 odg_scheme_name(c->scheme), steps, odg_method_name(c->method),
                 odg_blas_mode_name(c->mo.blas_mode));
    }
    return n;
}

/* What a child sends for each case, followed by P + M doubles (gtheta, then gz0). */
typedef struct result_head {
    int status;
    int blas;   /* the mode the model resolved to */
    int repeat; /* 1: a second gradient in the same process gave the same bits */
    long steps, rejected;
    double loss;
    size_t n; /* P + M */
} result_head;

/* What a child sends first. */
typedef struct child_head {
    int omp_threads, blas_threads, blas_parallel;
    int ncases;
} child_head;

/* ---- the child ---------------------------------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One gradient; writes its head and numbers to fd.  Returns 0, or -1 if the pipe failed. */
static int run_case(const dcase *c, int fd)
{
    result_head h;
    memset(&h, 0, sizeof h);
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *m = NULL;
    double *z0 = NULL, *w = NULL, *g = NULL;
    h.status = odg_model_create(&m, &c->mo, &mem);
    if (h.status == ODG_OK) {
        odg_rng rng;
        odg_rng_seed(&rng, 2024);
        odg_model_init(m, &rng);
        const size_t M = c->mo.B * c->mo.D;
        h.n = m->P + M;
        h.blas = m->blas;
        z0 = malloc(M * sizeof(double));
        w = malloc(M * sizeof(double));
        g = calloc(h.n, sizeof(double));
        if (z0 == NULL || w == NULL || g == NULL) {
            h.status = ODG_ENOMEM;
            h.n = 0;
        } else {
            odg_rng_fill_normal(&rng, z0, M, 0, 1);
            odg_rng_fill_normal(&rng, w, M, 0, 1);
            odg_problem p = {.model = m,
                             .tab = odg_scheme_tableau(c->scheme),
                             .t0 = 0,
                             .t1 = 1,
                             .steps = c->steps,
                             .z0 = z0,
                             .w = w};
            odg_adapt_defaults(&p.adapt, 1e-7, 1e-9);
            odg_grad_opts o;
            odg_grad_opts_default(&o, c->method);
            odg_grad_stats S;
            h.status = odg_gradient(&p, &o, &mem, g, g + m->P, &S);
            h.steps = S.steps;
            h.rejected = S.rejected;
            h.loss = S.loss;
            double *g2 = malloc(h.n * sizeof(double));
            if (h.status == ODG_OK && g2 != NULL &&
                odg_gradient(&p, &o, &mem, g2, g2 + m->P, &S) == ODG_OK) {
                h.repeat = memcmp(g, g2, h.n * sizeof(double)) == 0;
            }
            free(g2);
        }
    }
    int rc = write_all(fd, &h, sizeof h);
    if (rc == 0 && h.n > 0) {
        rc = write_all(fd, g, h.n * sizeof(double));
    }
    free(z0);
    free(w);
    free(g);
    odg_model_destroy(&m);
    return rc;
}

static int child_main(void)
{
    static dcase cs[MAX_CASES];
    const int n = make_cases(cs);
    child_head ch = {omp_get_max_threads(), openblas_get_num_threads(), openblas_get_parallel(), n};
    if (write_all(STDOUT_FILENO, &ch, sizeof ch) != 0) {
        return 1;
    }
    for (int i = 0; i < n; i++) {
        if (run_case(&cs[i], STDOUT_FILENO) != 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- the parent: run the children, compare ------------------------------------------------ */

typedef struct child_out {
    unsigned char *buf;
    size_t len;
} child_out;

/* Runs this program with --child under OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = threads and
 * collects its output.  Returns 0 on success. */
static int run_child(int threads, child_out *out)
{
    out->buf = NULL;
    out->len = 0;
    /* the environment is built before fork: between fork and exec only async-signal-safe calls */
    size_t nenv = 0;
    while (environ[nenv] != NULL) {
        nenv++;
    }
    char **env = calloc(nenv + 3, sizeof(char *));
    char omp[48], blas[48];
    if (env == NULL) {
        return -1;
    }
    snprintf(omp, sizeof omp, "OMP_NUM_THREADS=%d", threads);
    snprintf(blas, sizeof blas, "OPENBLAS_NUM_THREADS=%d", threads);
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++) {
        if (strncmp(environ[i], "OMP_NUM_THREADS=", 16) != 0 &&
            strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21) != 0) {
            env[k++] = environ[i];
        }
    }
    env[k++] = omp;
    env[k++] = blas;
    env[k] = NULL;
    char self[] = "/proc/self/exe", flag[] = "--child";
    char *argv[] = {self, flag, NULL};

    int fds[2];
    if (pipe(fds) != 0) {
        free(env);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        free(env);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        if (dup2(fds[1], STDOUT_FILENO) < 0) {
            _exit(126);
        }
        close(fds[1]);
        execve(self, argv, env);
        _exit(127);
    }
    close(fds[1]);
    free(env);
    size_t cap = 1 << 16;
    out->buf = malloc(cap);
    int rc = out->buf ? 0 : -1;
    while (rc == 0) {
        if (out->len == cap) {
            unsigned char *b = realloc(out->buf, 2 * cap);
            if (b == NULL) {
                rc = -1;
                break;
            }
            out->buf = b;
            cap *= 2;
        }
        ssize_t r = read(fds[0], out->buf + out->len, cap - out->len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            rc = -1;
        } else if (r == 0) {
            break;
        } else {
            out->len += (size_t)r;
        }
    }
    close(fds[0]);
    int wst = 0;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
        fprintf(stderr, "test_determinism: child with %d threads: exit status %d\n", threads,
                WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
        rc = -1;
    }
    return rc;
}

/* A cursor over a child's output. */
typedef struct reader {
    const unsigned char *p, *end;
} reader;

static int take(reader *r, void *dst, size_t n)
{
    if ((size_t)(r->end - r->p) < n) {
        return -1;
    }
    memcpy(dst, r->p, n);
    r->p += n;
    return 0;
}

static void test_threads(void)
{
    static dcase cs[MAX_CASES];
    const int ncases = make_cases(cs);
    const int threads[] = {1, 2, 3, 8};
    const int nt = (int)(sizeof threads / sizeof threads[0]);
    child_out outs[4];
    for (int t = 0; t < nt; t++) {
        int rc = run_child(threads[t], &outs[t]);
        CHECK(rc == 0, "child with OMP_NUM_THREADS=%d failed", threads[t]);
    }
    for (int t = 0; t < nt; t++) {
        reader r = {outs[t].buf, outs[t].buf + outs[t].len};
        reader r1 = {outs[0].buf, outs[0].buf + outs[0].len};
        child_head h, h1;
        if (outs[t].buf == NULL || outs[0].buf == NULL || take(&r, &h, sizeof h) ||
            take(&r1, &h1, sizeof h1)) {
            CHECK(0, "threads=%d: no output to compare", threads[t]);
            continue;
        }
        CHECK(h.omp_threads == threads[t], "child asked for %d threads has omp_get_max_threads %d",
              threads[t], h.omp_threads);
        CHECK(h.ncases == ncases, "threads=%d: %d cases, expected %d", threads[t], h.ncases,
              ncases);
        int same = 0, nsame = 0, auto_blas = -1;
        size_t tdiff = 0, tnum = 0;
        double tworst = 0;
        for (int i = 0; i < ncases && i < h.ncases; i++) {
            result_head a, b;
            if (take(&r, &a, sizeof a) || take(&r1, &b, sizeof b)) {
                CHECK(0, "threads=%d: output cut short at case %d", threads[t], i);
                break;
            }
            double *ga = malloc((a.n ? a.n : 1) * sizeof(double));
            double *gb = malloc((b.n ? b.n : 1) * sizeof(double));
            if (ga == NULL || gb == NULL || take(&r, ga, a.n * sizeof(double)) ||
                take(&r1, gb, b.n * sizeof(double))) {
                CHECK(0, "threads=%d: output cut short at case %d", threads[t], i);
                free(ga);
                free(gb);
                break;
            }
            const dcase *c = &cs[i];
            if (c->mo.blas_mode == ODG_BLAS_AUTO) {
                auto_blas = a.blas;
            }
            CHECK(a.status == ODG_OK, "%s, threads=%d: %s", c->label, threads[t],
                  odg_status_str((odg_status)a.status));
            CHECK(a.repeat, "%s, threads=%d: two gradients in one process differ", c->label,
                  threads[t]);
            const size_t nd = a.n == b.n ? check_bit_diff(ga, gb, a.n) : a.n + b.n;
            const double rd = a.n == b.n ? check_rel_diff(ga, gb, a.n) : NAN;
            const int ok = a.status == ODG_OK && b.status == ODG_OK && a.n == b.n && nd == 0 &&
                           a.steps == b.steps && a.rejected == b.rejected &&
                           memcmp(&a.loss, &b.loss, sizeof a.loss) == 0;
            if (a.blas == ODG_BLAS_THREADED) {
                /* not promised: count and print */
                tdiff += nd;
                tnum += a.n;
                tworst = rd > tworst ? rd : tworst;
            } else {
                CHECK(ok,
                      "%s: threads=%d differs from threads=1: %zu of %zu numbers, steps %ld/%ld "
                      "rejected %ld/%ld, loss %.17g/%.17g, rel diff %.3g",
                      c->label, threads[t], nd, a.n, a.steps, b.steps, a.rejected, b.rejected,
                      a.loss, b.loss, rd);
                same += ok;
                nsame++;
            }
            free(ga);
            free(gb);
        }
        printf("threads=%d (OpenBLAS %d threads, build %d): chunked/auto %d of %d gradients "
               "bit-identical to threads=1 (auto ran %s); threaded: %zu of %zu numbers differ, "
               "rel diff <= %.2g\n",
               threads[t], h.blas_threads, h.blas_parallel, same, nsame,
               odg_blas_mode_name((odg_blas_mode)auto_blas), tdiff, tnum, tworst);
    }
    for (int t = 0; t < nt; t++) {
        free(outs[t].buf);
    }
}

/* ---- the mode's names and choice ---------------------------------------------------------- */

static void test_modes(void)
{
    for (int b = 0; b < ODG_NBLAS_MODES; b++) {
        odg_blas_mode back;
        CHECK(odg_blas_mode_from_name(odg_blas_mode_name((odg_blas_mode)b), &back) == ODG_OK &&
                  back == (odg_blas_mode)b && odg_blas_mode_desc((odg_blas_mode)b)[0] != '\0',
              "blas mode %d round trip", b);
    }
    odg_blas_mode m;
    CHECK(odg_blas_mode_from_name("chunky", &m) == ODG_EINVAL, "unknown mode name");
    CHECK(odg_blas_mode_resolve(ODG_NBLAS_MODES, &m) == ODG_EINVAL, "mode out of range");
    const int omp_build = openblas_get_parallel() == 2;
    CHECK(omp_build, "OpenBLAS is not its OpenMP build (openblas_get_parallel() = %d)",
          openblas_get_parallel());
    if (omp_build) {
        CHECK(odg_blas_mode_resolve(ODG_BLAS_AUTO, &m) == ODG_OK && m == ODG_BLAS_CHUNKED,
              "auto resolved to %s", odg_blas_mode_name(m));
        CHECK(odg_blas_mode_resolve(ODG_BLAS_CHUNKED, &m) == ODG_OK && m == ODG_BLAS_CHUNKED,
              "chunked asked for");
        CHECK(odg_blas_mode_resolve(ODG_BLAS_THREADED, &m) == ODG_OK && m == ODG_BLAS_THREADED,
              "threaded asked for");
    }
    /* switching modes allocates nothing; a bad mode is refused and leaves the model as it was */
    odg_model_opts o;
    odg_model_opts_default(&o);
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *md = NULL;
    o.blas_mode = (odg_blas_mode)7;
    CHECK(odg_model_create(&md, &o, &mem) == ODG_EINVAL && md == NULL, "bad blas mode accepted");
    o.blas_mode = ODG_BLAS_THREADED;
    CHECK(odg_model_create(&md, &o, &mem) == ODG_OK, "create");
    if (md != NULL) {
        const long nalloc = mem.nalloc;
        CHECK(md->blas == ODG_BLAS_THREADED, "threaded asked for, got %s",
              odg_blas_mode_name(md->blas));
        CHECK(odg_model_set_blas_mode(md, ODG_BLAS_CHUNKED) == ODG_OK &&
                  md->blas == ODG_BLAS_CHUNKED && mem.nalloc == nalloc,
              "set_blas_mode");
        CHECK(odg_model_set_blas_mode(md, (odg_blas_mode)-1) == ODG_EINVAL &&
                  md->blas == ODG_BLAS_CHUNKED,
              "bad mode changed the model");
        odg_model_destroy(&md);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0) {
        return child_main();
    }
    test_modes();
    test_threads();
    return check_done("test_determinism");
}
