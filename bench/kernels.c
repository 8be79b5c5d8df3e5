/* odegrad_kernels: the mlp's two kernels against the libraries that could replace them, outside
 * Google Benchmark so that the variants run interleaved (A B A B ...) in one process.
 *
 *   odegrad_kernels tanh [rounds]  odg_mlp_tanh against SLEEF's vector tanh (libsleef-dev): ns
 *                                  per element over 32768 arguments in [-3, 3], max ulp against
 *                                  tanhl, and whether SLEEF's vector widths agree bit for bit
 *   odegrad_kernels gemm [rounds]  the mlp's GEMMs of one batch chunk (models/mlp.c) at five
 *                                  sizes: cblas_dgemm against libxsmm's JIT kernels
 *                                  (libxsmm-dev), and whether they give the same bits
 *   odegrad_kernels mlp D H B r    f + VJP of the mlp as built, with a checksum of the results'
 *                                  bits (to compare two builds of models/mlp.c)
 *
 * Each round times every variant once (the mean of a batch of calls), variants interleaved;
 * the table gives the median and the min over the rounds.  Pin it to one core and set
 * OPENBLAS_CORETYPE if OpenBLAS misdetects the CPU (docs/theory.md section 9, "Kernels").
 * Built when SLEEF or libxsmm is found (CMake); never run by the tests. */
#include <odegrad/core.h>
#include <odegrad/models.h>

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef ODG_HAVE_SLEEF
#include <sleef.h>
#endif
#ifdef ODG_HAVE_XSMM
#include <libxsmm.h>
#endif

/* The calling thread's CPU time: everything here runs on one thread, and on a shared machine a
 * time slice given to another process on the same core then does not count (cache misses it
 * causes still do). */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median and min of v[0..n) (sorts v) */
static void med_min(double *v, int n, double *med, double *mn)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    *med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    *mn = v[0];
}

/* ---- tanh ------------------------------------------------------------------------------- */

typedef void (*tanh_fn)(double *x, size_t n); /* x[k] = tanh(x[k]), in place */

static void tanh_copy_only(double *x, size_t n)
{
    (void)x;
    (void)n;
}

#ifdef ODG_HAVE_SLEEF
#include "kernels_sleef.h"

static void sleef_d1_u10_purec(double *x, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        x[k] = Sleef_tanhd1_u10purec(x[k]);
    }
}
#endif

static void glibc_tanh(double *x, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        x[k] = tanh(x[k]);
    }
}

typedef struct tanh_variant {
    const char *name;
    tanh_fn fn;
    int needs; /* 0: any CPU, 2: AVX-512F (bench/kernels_sleef.c is compiled for it) */
} tanh_variant;

static const tanh_variant tanh_variants[] = {
    {"copy only", tanh_copy_only, 0},
    {"odg_mlp_tanh", odg_mlp_tanh, 0},
#ifdef ODG_HAVE_SLEEF
    {"Sleef_tanhd8_u10avx512f", odg_sleef_d8_u10_avx512f, 2},
    {"Sleef_tanhd8_u35avx512f", odg_sleef_d8_u35_avx512f, 2},
    {"Sleef_tanhd8_u10 (dispatch)", odg_sleef_d8_u10, 2},
    {"Sleef_tanhd4_u10avx2", odg_sleef_d4_u10_avx2, 2},
    {"Sleef_tanhd4_u35avx2", odg_sleef_d4_u35_avx2, 2},
    {"Sleef_tanhd1_u10purecfma", odg_sleef_d1_u10_purecfma, 2},
    {"Sleef_tanhd1_u10purec", sleef_d1_u10_purec, 0},
    {"Sleef_tanhd1_u35purecfma", odg_sleef_d1_u35_purecfma, 2},
#endif
    {"glibc tanh", glibc_tanh, 0},
};
enum { NTANH = sizeof tanh_variants / sizeof tanh_variants[0] };

static int tanh_runs(const tanh_variant *v)
{
    __builtin_cpu_init();
    if (v->needs == 2) {
        return __builtin_cpu_supports("avx512f");
    }
    return 1;
}

static double ulp_of(double y)
{
    const double a = fabs(y);
    return a == 0.0 ? DBL_TRUE_MIN : nextafter(a, INFINITY) - a;
}

/* The accuracy set of models/mlp.c's comment: npts evenly over [-25, 25], then tiny and huge
 * arguments. */
enum { NTINY = 64 };
static void accuracy_points(double *x, size_t npts)
{
    for (size_t i = 0; i < npts; i++) {
        x[i] = -25.0 + 50.0 * ((double)i + 0.5) / (double)npts;
    }
    for (int i = 0; i < NTINY; i++) {
        x[npts + (size_t)i] =
            ldexp(i % 2 ? 1.3 : -1.7, -16 * (i / 2)) * (i < NTINY / 2 ? 1.0 : 1e300);
    }
}

static int bench_tanh(int rounds, size_t npts)
{
    enum { N = 32768, CALLS = 40 };
    double *x = malloc(N * sizeof(double)), *y = malloc(N * sizeof(double));
    double *t = malloc((size_t)rounds * NTANH * sizeof(double));
    if (!x || !y || !t) {
        fprintf(stderr, "odegrad_kernels: out of memory\n");
        return 1;
    }
    for (int i = 0; i < N; i++) {
        x[i] = -3.0 + 6.0 * (i + 0.5) / N;
    }
    /* Each call: copy the arguments in, then tanh in place (the "copy only" row is that copy). */
    for (int r = 0; r < rounds; r++) {
        for (int v = 0; v < NTANH; v++) {
            if (!tanh_runs(&tanh_variants[v])) {
                continue;
            }
            const int calls = tanh_variants[v].fn == glibc_tanh ? 4 : CALLS;
            const double t0 = now_s();
            for (int c = 0; c < calls; c++) {
                memcpy(y, x, N * sizeof(double));
                tanh_variants[v].fn(y, N);
                __asm__ volatile("" : : "r"(y) : "memory");
            }
            t[v * rounds + r] = (now_s() - t0) / calls / N * 1e9;
        }
    }
    printf("tanh: ns per element over %d arguments in [-3, 3] (copy in + tanh in place), "
           "%d interleaved rounds\n",
           N, rounds);
    printf("%-30s %9s %9s %10s %9s\n", "function", "median", "min", "max ulp", "at x");
    /* accuracy over npts + NTINY points against tanhl */
    const size_t na = npts + NTINY;
    double *ax = malloc(na * sizeof(double)), *ay = malloc(na * sizeof(double));
    long double *ref = malloc(na * sizeof(long double));
    double *bits[NTANH] = {0};
    if (!ax || !ay || !ref) {
        fprintf(stderr, "odegrad_kernels: out of memory\n");
        return 1;
    }
    accuracy_points(ax, npts);
    for (size_t i = 0; i < na; i++) {
        ref[i] = tanhl((long double)ax[i]);
    }
    for (int v = 0; v < NTANH; v++) {
        if (!tanh_runs(&tanh_variants[v])) {
            printf("%-30s (this CPU lacks its instructions)\n", tanh_variants[v].name);
            continue;
        }
        double med, mn;
        med_min(t + v * rounds, rounds, &med, &mn);
        if (tanh_variants[v].fn == tanh_copy_only) {
            printf("%-30s %9.3f %9.3f\n", tanh_variants[v].name, med, mn);
            continue;
        }
        memcpy(ay, ax, na * sizeof(double));
        tanh_variants[v].fn(ay, na);
        double worst = 0.0, at = 0.0;
        for (size_t i = 0; i < na; i++) {
            const double e =
                (double)(fabsl((long double)ay[i] - ref[i]) / (long double)ulp_of((double)ref[i]));
            if (!(e <= worst)) {
                worst = e;
                at = ax[i];
            }
        }
        printf("%-30s %9.3f %9.3f %10.3f %9.4g\n", tanh_variants[v].name, med, mn, worst, at);
        bits[v] = malloc(na * sizeof(double));
        if (bits[v]) {
            memcpy(bits[v], ay, na * sizeof(double));
        }
    }
    /* bit agreement of every pair of functions, over the accuracy set */
    printf("\nbit agreement over %zu points (number of points whose bits differ):\n", na);
    for (int a = 0; a < NTANH; a++) {
        for (int b = a + 1; b < NTANH; b++) {
            if (!bits[a] || !bits[b]) {
                continue;
            }
            size_t diff = 0;
            for (size_t i = 0; i < na; i++) {
                diff += memcmp(bits[a] + i, bits[b] + i, sizeof(double)) != 0;
            }
            printf("  %-28s vs %-28s %zu\n", tanh_variants[a].name, tanh_variants[b].name, diff);
        }
    }
    for (int v = 0; v < NTANH; v++) {
        free(bits[v]);
    }
    free(ax);
    free(ay);
    free(ref);
    free(x);
    free(y);
    free(t);
    return 0;
}

/* ---- GEMM --------------------------------------------------------------------------------- */

/* One row-major GEMM C (M, N) = alpha op(A) op(B) + beta C as models/mlp.c calls it. */
typedef struct gemm_shape {
    const char *name;
    int ta, tb; /* op(A) = A^T, op(B) = B^T */
    int M, N, K, lda, ldb, ldc;
    double beta;
} gemm_shape;

/* The mlp's calls on one chunk of n rows (models/mlp.c; Din = D, no time input). */
static int mlp_shapes(gemm_shape *s, int n, int D, int H)
{
    const gemm_shape list[] = {
        {"U = Z W1^T", 0, 1, n, H, D, D, D, H, 1.0},   /* f, and the VJP's recompute */
        {"F = Hh W2^T", 0, 1, n, D, H, H, H, D, 1.0},  /* f */
        {"Gu = G W2", 0, 0, n, H, D, D, H, H, 0.0},    /* VJP */
        {"gW2 = G^T Hh", 1, 0, D, H, n, D, H, H, 0.0}, /* VJP, per-chunk partial */
        {"gW1 = Gu^T Z", 1, 0, H, D, n, H, D, D, 0.0}, /* VJP, per-chunk partial */
        {"Zbar = Gu W1", 0, 0, n, D, H, H, D, D, 0.0}, /* VJP */
    };
    memcpy(s, list, sizeof list);
    return (int)(sizeof list / sizeof list[0]);
}

static void gemm_blas(const gemm_shape *g, const double *A, const double *B, double *C)
{
    cblas_dgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
                g->M, g->N, g->K, 1.0, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
}

#ifdef ODG_HAVE_XSMM
/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: libxsmm (column-major) gets
 * m = N, n = M, with B as its first operand and A as its second, the transposes carried over. */
static libxsmm_dmmfunction gemm_xsmm_dispatch(const gemm_shape *g)
{
    const int flags = (g->tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) |
                      (g->ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0) |
                      (g->beta == 0.0 ? LIBXSMM_GEMM_FLAG_BETA_0 : 0);
    const libxsmm_blasint lda = g->ldb, ldb = g->lda, ldc = g->ldc;
    const double alpha = 1.0, beta = g->beta;
    const int prefetch = LIBXSMM_PREFETCH_NONE;
    return libxsmm_dmmdispatch(g->N, g->M, g->K, &lda, &ldb, &ldc, &alpha, &beta, &flags,
                               &prefetch);
}

/* libxsmm's BLAS-like entry: its own kernel where it has one, else BLAS (column-major). */
static void gemm_xsmm_blaslike(const gemm_shape *g, const double *A, const double *B, double *C)
{
    const char ta = g->tb ? 'T' : 'N', tb = g->ta ? 'T' : 'N';
    const libxsmm_blasint m = g->N, n = g->M, k = g->K, lda = g->ldb, ldb = g->lda, ldc = g->ldc;
    const double alpha = 1.0, beta = g->beta;
    libxsmm_dgemm(&ta, &tb, &m, &n, &k, &alpha, B, &lda, A, &ldb, &beta, C, &ldc);
}
#endif

/* n doubles in [-1, 1) with all 53 bits random: with fewer (say 24), products are exact and the
 * sums hardly round, so two summation orders would agree and the bit comparison say nothing */
static double *rand_doubles(size_t n, unsigned *seed)
{
    double *v = malloc(n * sizeof(double));
    odg_rng r;
    odg_rng_seed(&r, *seed);
    *seed += 1;
    if (v != NULL) {
        odg_rng_fill_normal(&r, v, n, 0.0, 0.5);
    }
    return v;
}

static size_t rows_of(int trans, int rows, int cols, int ld)
{
    (void)cols;
    return (size_t)(trans ? (size_t)ld * (size_t)rows : (size_t)rows * (size_t)ld);
}

static int bench_gemm(int rounds)
{
    const int sizes[][2] = {{16, 64}, {2, 64}, {4, 64}, {8, 64}, {64, 256}};
    enum { CHUNK = 64, MAXV = 3 };
#ifdef ODG_HAVE_XSMM
    libxsmm_init();
#endif
    printf("GEMMs of one %d-row chunk (models/mlp.c), us per call, %d interleaved rounds\n", CHUNK,
           rounds);
    printf("%-6s %-14s %-16s %9s %9s %9s %9s %9s %9s  %s\n", "D,H", "call", "M,N,K", "blas med",
           "blas min", "xsmm med", "xsmm min", "xdg med", "xdg min", "bits");
    for (size_t sz = 0; sz < sizeof sizes / sizeof sizes[0]; sz++) {
        gemm_shape s[8];
        const int D = sizes[sz][0], H = sizes[sz][1];
        const int ns = mlp_shapes(s, CHUNK, D, H);
        double tot[MAXV][64] = {{0}};
        for (int i = 0; i < ns; i++) {
            const gemm_shape *g = &s[i];
            unsigned seed = 12345u + (unsigned)i;
            /* op(A) is (M, K): A is (K, M) when transposed; op(B) is (K, N) */
            const size_t na =
                g->ta ? rows_of(1, g->K, g->M, g->lda) : rows_of(0, g->M, g->K, g->lda);
            const size_t nb =
                g->tb ? rows_of(1, g->N, g->K, g->ldb) : rows_of(0, g->K, g->N, g->ldb);
            const size_t nc = (size_t)g->M * (size_t)g->ldc;
            double *A = rand_doubles(na, &seed), *B = rand_doubles(nb, &seed);
            double *C0 = rand_doubles(nc, &seed), *C[MAXV];
            for (int v = 0; v < MAXV; v++) {
                C[v] = malloc(nc * sizeof(double));
            }
            double *t = malloc((size_t)rounds * MAXV * sizeof(double));
            if (!A || !B || !C0 || !C[0] || !C[1] || !C[2] || !t) {
                fprintf(stderr, "odegrad_kernels: out of memory\n");
                return 1;
            }
            int nv = 1;
#ifdef ODG_HAVE_XSMM
            libxsmm_dmmfunction kern = gemm_xsmm_dispatch(g);
            nv = 3;
            /* libxsmm 1.17 has no kernel for a transposed first operand (column-major), which
             * is the row-major op(B) = B^T of f's two GEMMs: there it runs on a copy of B^T
             * (K, N), which models/mlp.c would make once per call of f (a weight matrix), not
             * per chunk; the copy is not timed. */
            const double *Bx = B;
            double *Bt = NULL;
            int via_copy = 0;
            if (kern == NULL && g->tb && !g->ta) {
                Bt = malloc((size_t)g->K * (size_t)g->N * sizeof(double));
                if (Bt == NULL) {
                    fprintf(stderr, "odegrad_kernels: out of memory\n");
                    return 1;
                }
                for (int k = 0; k < g->K; k++) {
                    for (int j = 0; j < g->N; j++) {
                        Bt[(size_t)k * (size_t)g->N + (size_t)j] =
                            B[(size_t)j * (size_t)g->ldb + (size_t)k];
                    }
                }
                gemm_shape gn = *g;
                gn.tb = 0;
                gn.ldb = g->N;
                kern = gemm_xsmm_dispatch(&gn);
                Bx = Bt;
                via_copy = kern != NULL;
            }
#endif
            const double flops = 2.0 * g->M * g->N * g->K;
            const int calls = (int)(2e7 / flops) + 1;
            for (int r = 0; r < rounds; r++) {
                for (int v = 0; v < nv; v++) {
                    memcpy(C[v], C0, nc * sizeof(double));
                    const double t0 = now_s();
                    for (int c = 0; c < calls; c++) {
                        if (v == 0) {
                            gemm_blas(g, A, B, C[v]);
                        }
#ifdef ODG_HAVE_XSMM
                        else if (v == 1 && kern) {
                            kern(Bx, A, C[v]);
                        } else if (v == 2) {
                            gemm_xsmm_blaslike(g, A, B, C[v]);
                        }
#endif
                        __asm__ volatile("" : : "r"(C[v]) : "memory");
                    }
                    t[v * rounds + r] = (now_s() - t0) / calls * 1e6;
                }
            }
            /* bits: one call from the same C0 */
            for (int v = 0; v < nv; v++) {
                memcpy(C[v], C0, nc * sizeof(double));
            }
            gemm_blas(g, A, B, C[0]);
            char bits[64] = "-";
#ifdef ODG_HAVE_XSMM
            if (kern) {
                kern(Bx, A, C[1]);
            }
            gemm_xsmm_blaslike(g, A, B, C[2]);
            double maxd = 0;
            size_t diff = 0;
            for (size_t e = 0; e < nc; e++) {
                diff += memcmp(C[0] + e, C[1] + e, sizeof(double)) != 0;
                const double d = fabs(C[0][e] - C[1][e]);
                maxd = d > maxd ? d : maxd;
            }
            snprintf(
                bits, sizeof bits,
                kern ? (via_copy ? "%zu/%zu differ, max %.1e (on B^T)" : "%zu/%zu differ, max %.1e")
                     : "no kernel",
                diff, nc, maxd);
            free(Bt);
#endif
            double med[MAXV] = {0}, mn[MAXV] = {0};
            for (int v = 0; v < nv; v++) {
                med_min(t + v * rounds, rounds, &med[v], &mn[v]);
                tot[v][0] += med[v];
                tot[v][1] += mn[v];
            }
            char mnk[32], dh[16];
            snprintf(mnk, sizeof mnk, "%d,%d,%d%s%s", g->M, g->N, g->K, g->ta ? " tA" : "",
                     g->tb ? " tB" : "");
            snprintf(dh, sizeof dh, "%d,%d", D, H);
            printf("%-6s %-14s %-16s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f  %s\n", dh, g->name, mnk,
                   med[0], mn[0], med[1], mn[1], med[2], mn[2], bits);
            free(A);
            free(B);
            free(C0);
            for (int v = 0; v < MAXV; v++) {
                free(C[v]);
            }
            free(t);
        }
        printf("%-6s %-14s %-16s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", "", "sum of calls", "",
               tot[0][0], tot[0][1], tot[1][0], tot[1][1], tot[2][0], tot[2][1]);
    }
    return 0;
}

/* ---- the model ---------------------------------------------------------------------------- */

/* f and the VJP of the mlp (BLAS version, CHUNKED, one thread) at D, H, B: the microseconds of
 * one f plus one VJP (median and min over rounds of 50 of each; and each alone), and a checksum
 * of F, Zbar and gtheta's bits, so that two builds of models/mlp.c can be compared run against
 * run. */
static int bench_mlp(int rounds, int D, int H, int B)
{
    odg_model_opts o;
    odg_model_opts_default(&o);
    o.D = (size_t)D;
    o.H = (size_t)H;
    o.B = (size_t)B;
    o.blas_mode = ODG_BLAS_CHUNKED;
    omp_set_num_threads(1);
    odg_mem mem;
    odg_mem_init(&mem);
    odg_model *m = NULL;
    if (odg_model_create(&m, &o, &mem) != ODG_OK) {
        fprintf(stderr, "odegrad_kernels: the mlp D=%d H=%d B=%d cannot be created\n", D, H, B);
        return 2;
    }
    odg_rng rng;
    odg_rng_seed(&rng, 7);
    odg_model_init(m, &rng);
    const size_t M = (size_t)B * (size_t)D;
    double *Z = malloc(M * sizeof(double)), *G = malloc(M * sizeof(double));
    double *F = malloc(M * sizeof(double)), *Zbar = malloc(M * sizeof(double));
    double *gt = calloc(m->P, sizeof(double)), *t = malloc(3 * (size_t)rounds * sizeof(double));
    double *tf = t ? t + rounds : NULL, *tv = t ? t + 2 * rounds : NULL;
    if (!Z || !G || !F || !Zbar || !gt || !t) {
        fprintf(stderr, "odegrad_kernels: out of memory\n");
        return 1;
    }
    odg_rng_fill_normal(&rng, Z, M, 0.0, 1.0);
    odg_rng_fill_normal(&rng, G, M, 0.0, 1.0);
    enum { PAIRS = 50 };
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        for (int c = 0; c < PAIRS; c++) {
            odg_model_f(m, 0.5, Z, F);
        }
        tf[r] = (now_s() - t0) / PAIRS * 1e6;
        t0 = now_s();
        for (int c = 0; c < PAIRS; c++) {
            odg_model_vjp(m, 0.5, Z, G, Zbar, gt);
        }
        tv[r] = (now_s() - t0) / PAIRS * 1e6;
        t[r] = tf[r] + tv[r];
    }
    memset(gt, 0, m->P * sizeof(double));
    odg_model_f(m, 0.5, Z, F);
    odg_model_vjp(m, 0.5, Z, G, Zbar, gt);
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the bytes of F, Zbar, gtheta */
    const double *arr[3] = {F, Zbar, gt};
    const size_t len[3] = {M, M, m->P};
    for (int a = 0; a < 3; a++) {
        const unsigned char *b = (const unsigned char *)arr[a];
        for (size_t i = 0; i < len[a] * sizeof(double); i++) {
            h = (h ^ b[i]) * 1099511628211ull;
        }
    }
    double med, mn;
    double fmed, fmn, vmed, vmn;
    med_min(tf, rounds, &fmed, &fmn);
    med_min(tv, rounds, &vmed, &vmn);
    med_min(t, rounds, &med, &mn);
    printf("mlp D=%d H=%d B=%d: f + VJP %.3f us median, %.3f min (%d rounds of %d); bits %016llx; "
           "f %.3f, VJP %.3f (medians)\n",
           D, H, B, med, mn, rounds, PAIRS, (unsigned long long)h, fmed, vmed);
    free(Z);
    free(G);
    free(F);
    free(Zbar);
    free(gt);
    free(t);
    odg_model_destroy(&m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "mlp") == 0) {
        if (argc != 6) {
            fprintf(stderr, "usage: odegrad_kernels mlp D H B rounds\n");
            return 2;
        }
        const int D = atoi(argv[2]), H = atoi(argv[3]), B = atoi(argv[4]), r = atoi(argv[5]);
        if (D < 1 || H < 1 || B < 1 || r < 1 || D > 4096 || H > 4096 || B > 1 << 20 || r > 10000) {
            fprintf(stderr, "odegrad_kernels: mlp: D, H (1 .. 4096), B (1 .. 2^20) and rounds "
                            "(1 .. 10000) must be positive integers\n");
            return 2;
        }
        return bench_mlp(r, D, H, B);
    }
    if (argc < 2 || (strcmp(argv[1], "tanh") != 0 && strcmp(argv[1], "gemm") != 0)) {
        fprintf(stderr, "usage: odegrad_kernels tanh [rounds] [accuracy points] | gemm [rounds] | "
                        "mlp D H B rounds\n");
        return 2;
    }
    const int rounds = argc > 2 ? atoi(argv[2]) : 21;
    if (rounds < 1 || rounds > 10000) {
        fprintf(stderr, "odegrad_kernels: rounds must be 1 .. 10000, not %s\n", argv[2]);
        return 2;
    }
    if (strcmp(argv[1], "tanh") == 0) {
        const long npts = argc > 3 ? atol(argv[3]) : 1L << 22;
        if (npts < 1) {
            fprintf(stderr, "odegrad_kernels: accuracy points must be positive, not %s\n", argv[3]);
            return 2;
        }
        return bench_tanh(rounds, (size_t)npts);
    }
    return bench_gemm(rounds);
}
