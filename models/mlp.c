/* The MLP vector field f(t, z) = W2 tanh(W1 [z; t] + b1) + b2 over a batch, and its hand-written
 * VJP: a BLAS version (cblas_dgemm, parallel over fixed batch chunks; at D <= 4 its thin version,
 * loops of its own instead of GEMMs) and a plain-loop reference version that tests compare
 * with.  docs/theory.md section 9; docs/theory.md section 1 (initialisation), "Parallelism"
 * (chunks, BLAS modes).
 *
 * theta = [W1 (H, Din), b1 (H), W2 (D, H), b2 (D)], Din = D + time_input; with time input, t
 * enters through the last column of W1, so U = Z W1[:, :D]^T + 1 (b1 + t W1[:, D])^T.
 *
 * Determinism: the batch is cut into chunks of m->chunk rows (ODG_BATCH_CHUNK by default)
 * whatever the thread count.
 * Rows are independent in f, in Gu and in Zbar; the parameter gradient sums over rows, so each
 * chunk writes its own partial gradient (P numbers) and the partials are added in chunk order.
 * In CHUNKED mode every BLAS call then has the same arguments and runs single-threaded for any
 * thread count, so the result is bit-identical.  THREADED mode keeps the partials (no sum over
 * the batch is ever split by OpenBLAS) but runs the row-wise GEMMs over the whole batch, and
 * OpenBLAS rounds a row differently depending on where its thread split puts it (models.h,
 * odg_blas_mode_resolve): THREADED is repeatable at a fixed thread count, not across them.
 */
#include "models_impl.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>
#ifdef ODG_HAVE_XSMM
#include <libxsmm.h>
#endif

/* Scratch, allocated at create so f and vjp never allocate.  U is formed in place in Hh (tanh
 * overwrites it), so two (B, H) arrays suffice.  The partials live in the impl's own block (one
 * allocation: the allocation count is part of the models' tests). */
typedef struct mlp_impl {
    double *Hh;    /* (B, H): U, then tanh(U) */
    double *Gu;    /* (B, H): dL/dU */
    double *gpart; /* (nchunks, P): chunk c's parameter gradient, laid out like theta; NULL in
                      the reference version */
    double *W1t;   /* (D, H): W1[:, :D]^T, for libxsmm (see mlp_dgemm) or the thin version;
                      NULL without either */
    double *W2t;   /* (H, D): W2^T, for libxsmm; NULL without it */
    double *c;     /* (H): the hidden bias b1 + t W1[:, D], for the thin version; else NULL */
    double *thin;  /* (nchunks, D H + THIN_ROWS H): chunk c's scratch in the thin version; else
                      NULL */
} mlp_impl;

/* The pieces of theta and the sizes, unpacked once per call. */
typedef struct mlp_parts {
    size_t B, D, H, Din;
    int ti;
    const double *W1, *b1, *W2, *b2;
    int xsmm;                /* whether the GEMMs may take libxsmm's kernels (mlp_dgemm) */
    int chunk;               /* m->chunk, rows per kernel call there */
    const double *W1t, *W2t; /* W1[:, :D]^T and W2^T when xsmm (mlp_xsmm_prepare), else NULL;
                                W1t also in the thin version (mlp_thin_prepare) */
    int thin;                /* whether f and the VJP take the thin version (THIN_MAX_D) */
    const double *c;         /* the hidden bias with time folded in, in the thin version */
    double *thin_ws;         /* the thin version's scratch, (nchunks, D H + THIN_ROWS H) */
} mlp_parts;

static mlp_parts mlp_unpack(const odg_model *m)
{
    mlp_parts p;
    p.B = m->B;
    p.D = m->D;
    p.H = m->opts.H;
    p.ti = m->opts.time_input;
    p.Din = p.D + (size_t)p.ti;
    p.W1 = m->theta + m->view[0].offset;
    p.b1 = m->theta + m->view[1].offset;
    p.W2 = m->theta + m->view[2].offset;
    p.b2 = m->theta + m->view[3].offset;
    const mlp_impl *w = m->impl;
    /* THREADED hands whole-batch GEMMs to OpenBLAS's threads: libxsmm would run them on one */
    p.thin = w != NULL && w->thin != NULL;
    p.xsmm = w != NULL && w->W2t != NULL && m->blas != ODG_BLAS_THREADED;
    p.chunk = (int)m->chunk;
    p.W1t = NULL;
    p.W2t = NULL;
    p.c = NULL;
    p.thin_ws = p.thin ? w->thin : NULL;
    return p;
}

/* The hidden bias with time folded in: b1[j] + t W1[j, D] (just b1[j] without time input). */
static double mlp_bias1(const mlp_parts *p, double t, size_t j)
{
    return p->ti ? p->b1[j] + t * p->W1[j * p->Din + p->D] : p->b1[j];
}

/* gb1 += colsum(Gu), and with time input gW1[:, D] += Gu^T t = t colsum(Gu).  Each column is
 * summed in row order into a local and added once, so the result does not depend on how a
 * caller splits work, and two calls add exactly twice.  Gu is (B, H). */
static void mlp_bias1_grad(const mlp_parts *p, double t, const double *Gu, double *gW1, double *gb1)
{
    for (size_t j = 0; j < p->H; j++) {
        double s = 0;
        for (size_t i = 0; i < p->B; i++) {
            s += Gu[i * p->H + j];
        }
        gb1[j] += s;
        if (p->ti) {
            gW1[j * p->Din + p->D] += t * s;
        }
    }
}

/* ---- tanh --------------------------------------------------------------------------------- */

/* glibc's tanh takes about 11 ns per element on the reference machine; with f at 4 D flops of
 * GEMM per hidden unit, the tanh pass would dwarf the GEMMs at small D and the roofline
 * (docs/theory.md section 9) would be out of reach.  This tanh is branch-free so the compiler
 * vectorizes it.  Its polynomial is evaluated with explicit fma(): fused multiply-add is
 * correctly rounded by IEEE 754 wherever it runs (a vector instruction, a scalar one, or libm's
 * software fma on a CPU without it), so the function gives the same bits on every machine and
 * in every vector width, while -ffp-contract=off keeps the compiler from fusing anything else.
 * A CPU without FMA (x86 before 2013) runs the "default" clone, whose fma() calls are libm's
 * software ones: slow, and still the same bits.  The plain-loop reference keeps glibc's tanh.
 *
 * Measured (bench/kernels.c, `odegrad_kernels tanh`: one core, 32768 arguments in [-3, 3], each
 * call copying its arguments in first, 0.19 ns of it, medians of 31 interleaved rounds): 1.26 ns
 * per element with the AVX-512 clone; within 1.50 ulp of tanhl over 4.2e6 points of [-25, 25]
 * and tiny arguments (1.53 over 2.1e7), 1.73 at the worst point of a denser search near
 * a = 0.2523, so the 2-ulp (4u|tanh|) allowance in tests/test_models.c's error bound holds.  NaN
 * stays NaN, +-inf gives +-1, -0 gives -0.  Against SLEEF 3.5.1 on the same run (4.2e6 points):
 * Sleef_tanhd8_u10avx512f 4.04 ns (within 1.00 ulp), Sleef_tanhd8_u35avx512f 1.77 (2.87 ulp),
 * glibc 11.3 (2.00 ulp); SLEEF's FMA
 * builds (avx512f, avx2, purecfma) agree bit for bit, its build without FMA (purec) differs at 6
 * of 4.2e6 points.  So SLEEF is 3.2x slower at 1 ulp and slower and past the tests' 2 ulp at
 * 3.5, and the same bits only where FMA is: this function stays.
 *
 * The form before this one (kept in the history) evaluated both tanh a = a + a s P(s)/Q(s),
 * s = a^2 (Cephes's rational form), and 1 - 2 / (e^2a + 1) with e^r by its Taylor series to
 * r^13/13!, and selected: 1.33 ulp, two divisions.  Against it, interleaved in one process
 * (41 to 61 rounds): this one 1.35x faster with the AVX-512 clone (1.195 against 1.62 ns), 1.16x
 * with the Haswell one; with the same Taylor series, without the shifted reduction and the
 * h - h q form below, one division was 1.43x faster but 2.46 ulp.  Both divisions replaced by
 * multiplications (wrong results, for the timing only) made the old form 1.19x faster: the loop
 * is bound by its instruction count and dependency chains more than by its divisions.
 *
 * The chains more than the count: each element's operations depend on one another from fabs to
 * the sign, and the same operations in a shorter chain run faster (below).  So the chain is kept
 * short where the bits allow it: k is nearbyint(kf), one rounding where the shift
 * made two dependent additions (the same integer: kf + SHIFT_H rounds kf to the nearest, ties to
 * even, as nearbyint does in the default rounding mode, and its bits still give 2^(k-1), off the
 * chain); kf is formed from a, not from y = a + a (the same product, scaled by 2 exactly); and
 * the cap for large a is a select at the end instead of a clamp at the start.  The same
 * operations in a shorter chain, and the same bits (8e6 points each of [-25, 25], [-1, 1] and
 * [-5e-4, 5e-4] and the special values, built for AVX-512, for Haswell and without FMA): against
 * the form before (kept in the history), interleaved in one process, 101 rounds on an AVX-512 EPYC
 * (family 26), 1.14x faster with the AVX-512 clone (0.673 against 0.588 ns per element, minima)
 * and 1.14x with the Haswell one.  Forming c as fma(p, r^2, fma(C1, r, 0.5)) would shorten it by
 * one more fma (1.17x), with other bits and 1.79 ulp. */

/* tanh a = h / (h + 1) with h = (e^2a - 1) / 2, a = |x|, one division; below a = 0.2599 as
 * h - h q (q that quotient), in which the roundings of h + 1 and of the division reach the
 * result scaled down by h <= 0.34.
 *
 * e^2a = 2^k e^r with k = round(2a / ln 2 - 1/4), so r = 2a - k ln 2 lies in
 * [-ln2/4, 3 ln2/4] (k LN2_HI and y - k LN2_HI are exact), and e^r - 1 = em = r + r^2 c(r) with
 * c a minimax polynomial of degree 10 (relative error of em below 2^-61 with these double
 * coefficients; `python3 scripts/fit-expm1.py 9 0.25` fits them).  The interval is shifted so
 * that k = 0 (h = em / 2 exactly) covers a < 0.2599, all of the h - h q range, and so that for
 * k >= 1, where h = 2^(k-1) em + 2^(k-1) - 1/2 cancels, em >= -0.16 and the cancellation at most
 * multiplies em's rounding by 0.47.  Error: em's rounding (half an ulp, scaled by 1 / (1 + h)),
 * that of h + 1 and of the division, and the final one.  Past a = 22, where 1 - tanh < 2^-62
 * and tanh rounds to 1, the result is 1, selected at the end: what y gives there (2^(k-1)
 * overflowing, inf - inf) is dropped.  Up to it, y <= 44 and 2^(k-1) (k <= 63) cannot overflow;
 * for k >= 54, 2^(k-1) - 1/2 rounds to 2^(k-1), which moves q by < 2^-55 where it rounds to
 * 1 - 2^-53 or 1 anyway. */
#define EM_C1 0x1.555555555555ap-3
#define EM_C2 0x1.5555555555516p-5
#define EM_C3 0x1.111111110e331p-7
#define EM_C4 0x1.6c16c16c8266dp-10
#define EM_C5 0x1.a01a01bbe21fbp-13
#define EM_C6 0x1.a019fb6f94726p-16
#define EM_C7 0x1.71de379aa1002p-19
#define EM_C8 0x1.27fce05f09618p-22
#define EM_C9 0x1.a9981d9b22842p-26
#define EM_C10 0x1.501e4c9dfcca3p-29
/* ln 2 = LN2_HI + LN2_LO, the low 20 bits of LN2_HI zero so that k LN2_HI is exact for
 * |k| < 2^20 (fdlibm's split); adding SHIFT_H = 1.5 2^52 + 1022 rounds to an integer and leaves
 * k + 1022, the biased exponent of 2^(k-1), in the low bits. */
#define LN2_HI 0x1.62e42fee00000p-1
#define LN2_LO 0x1.a39ef35793c76p-33
#define TWO_INV_LN2 0x1.71547652b82fep1 /* 2 / ln 2 */
#define SHIFT_H (0x1.8p52 + 1022.0)

/* c ? x : y through the bits: a ?: on doubles may become a branch (with trapping math the
 * compiler may not evaluate both arms), which stops vectorization. */
static inline double bit_select(int c, double x, double y)
{
    const uint64_t m = (uint64_t)0 - (uint64_t)(c != 0);
    uint64_t bx, by;
    memcpy(&bx, &x, sizeof bx);
    memcpy(&by, &y, sizeof by);
    const uint64_t r = (bx & m) | (by & ~m);
    double out;
    memcpy(&out, &r, sizeof out);
    return out;
}

/* always_inline: the clones below must each get their own copy, compiled for their ISA, or the
 * fma() calls stay calls. */
static inline __attribute__((always_inline)) double mlp_tanh(double x)
{
    const double a = fabs(x);
    const double y = a + a;
    const double kf = fma(a, TWO_INV_LN2, -0.25); /* y / ln 2 - 1/4, the same rounding */
    const double kd = kf + SHIFT_H;
    const double k = nearbyint(kf); /* kd - SHIFT_H, without waiting for kd */
    const double r = fma(-k, LN2_LO, fma(-k, LN2_HI, y));
    uint64_t kb;
    memcpy(&kb, &kd, sizeof kb);
    const uint64_t hb = kb << 52; /* the bits of 2^(k-1) */
    double hs;
    memcpy(&hs, &hb, sizeof hs);
    /* c = 1/2 + r (C1 + r (C2 + .. + C10 r^8)), the inner part by Estrin's scheme: same
     * operations on every machine, shorter dependency chain than Horner's */
    const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const double p = fma(EM_C10, r8,
                         fma(fma(fma(EM_C9, r, EM_C8), r2, fma(EM_C7, r, EM_C6)), r4,
                             fma(fma(EM_C5, r, EM_C4), r2, fma(EM_C3, r, EM_C2))));
    const double c = fma(fma(p, r, EM_C1), r, 0.5);
    const double em = fma(r2, c, r);
    const double h = fma(hs, em, hs - 0.5);
    const double q = h / (h + 1.0);
    /* NaN fails both tests and keeps q, which is NaN */
    const double t = bit_select(a > 22.0, 1.0, bit_select(a < 0.2599, fma(-h, q, h), q));
    uint64_t bt, bsign;
    memcpy(&bt, &t, sizeof bt);
    memcpy(&bsign, &x, sizeof bsign);
    bt |= bsign & 0x8000000000000000ull; /* t >= 0: copy the sign of x */
    double out;
    memcpy(&out, &bt, sizeof out);
    return out;
}

/* x[k] = tanh(x[k]), k < n, in every vector width (ODG_SIMD_CLONES): all give the same bits
 * (see above). */
ODG_SIMD_CLONES static void mlp_tanh_inplace(double *restrict x, size_t n)
{
#pragma omp simd
    for (size_t k = 0; k < n; k++) {
        x[k] = mlp_tanh(x[k]);
    }
}

void odg_mlp_tanh(double *x, size_t n)
{
    mlp_tanh_inplace(x, n);
}

const char *odg_mlp_gemm(void)
{
_Static_assert(ODG_MLP_THIN_MAX_D == 4, "odg_mlp_gemm's text names the thin version's bound");
#define THIN_TEXT "own loops at D <= 4 (chunked), else "
#ifdef ODG_HAVE_XSMM
    return THIN_TEXT "libxsmm " LIBXSMM_VERSION " (kernels to 2^22 multiply-adds), else OpenBLAS";
#else
    return THIN_TEXT "OpenBLAS";
#endif
#undef THIN_TEXT
}

/* ---- GEMM: OpenBLAS, or libxsmm's JIT kernels where they win ------------------------------- */

/* With libxsmm (libxsmm-dev; CMake's ODG_XSMM), a GEMM of a batch chunk runs on libxsmm's
 * JIT-compiled kernel when its output rows have at least XSMM_MIN_N columns and its kernel's
 * m n k is at most XSMM_MAX_MNK; every other GEMM runs on OpenBLAS.  Measured by bench/kernels.c
 * (odegrad_kernels gemm, one core, SkylakeX kernels for OpenBLAS 0.3.21, libxsmm 1.17, 64-row
 * chunks, medians of 31 interleaved rounds): the six GEMMs of f and the VJP took 9.37 against
 * 11.89 us at D = 16, H = 64 (0.79x), 4.88 against 6.59 at D = 8 and 157.5 against 232.0 at
 * D = 64, H = 256 (0.68x), every one of them faster; with 2 or 4 columns (F, gW1 and Zbar at D = 2
 * or 4) libxsmm's kernel (which vectorizes along a row of C) was 1.3 .. 2.7x slower, hence the
 * column threshold.  On whole backprop gradients (rk4, one thread, `odegrad run` of a build with
 * libxsmm against one without, interleaved pairs, ratio of medians; the machine shared): 1.13x at
 * D = 32, H = 128, B = 256, 1.20x at D = 64, H = 256, B = 256, 1.11x at D = 128, H = 512, B = 128
 * (kernels of m n k = 2^22), but 0.60x (libxsmm 1.7x slower) at D = 256, H = 1024, B = 64, whose
 * kernels are 64 x 1024 x 256 = 2^24: libxsmm's kernels do not block for the caches as
 * OpenBLAS's do, hence the size threshold, placed at the largest size measured to win.  The
 * choice depends on the shape alone, never on the thread count.  A libxsmm kernel
 * rounds a row of C differently depending on the number of rows it was generated for, so a GEMM
 * over the whole batch (f at one thread) calls the kernel once per chunk of rows, the same
 * kernels on the same rows as in chunks: the bits do not depend on the thread count.  libxsmm
 * 1.17 has no kernel for a transposed first operand (column-major), which is f's op(B) = W^T:
 * those two GEMMs read copies of W1[:, :D]^T and W2^T made once per call (mlp_xsmm_prepare).  A
 * build with libxsmm gives other bits than one without (the provenance's build_macros say which
 * ran). */
#define XSMM_MIN_N 8
#define XSMM_MAX_MNK 4194304.0 /* 2^22 */

#ifdef ODG_HAVE_XSMM
/* Row-major C (M, N) = op(A) op(B) + beta C is column-major C^T = op(B)^T op(A)^T: libxsmm gets
 * m = N, n = M, B first and A second. */
static libxsmm_dmmfunction mlp_xsmm_kernel(int ta, int M, int N, int K, int lda, int ldb,
                                           double beta, int ldc)
{
    const int flags = (ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0) | (beta == 0.0 ? LIBXSMM_GEMM_FLAG_BETA_0 : 0);
    const libxsmm_blasint xlda = ldb, xldb = lda, xldc = ldc;
    const double alpha = 1.0;
    const int prefetch = LIBXSMM_PREFETCH_NONE;
    return libxsmm_dmmdispatch(N, M, K, &xlda, &xldb, &xldc, &alpha, &beta, &flags, &prefetch);
}
#endif

/* C (M, N) = op(A) op(B) + beta C, row-major, as cblas_dgemm with alpha = 1.  Bt, when op(B) is
 * B^T, is a copy of B^T (K, N) with leading dimension N, or NULL.  With p->xsmm, N >= XSMM_MIN_N,
 * the kernel's m n k <= XSMM_MAX_MNK and the kernels at hand, libxsmm's kernels: when op(A) = A, the rows of C in blocks of
 * p->chunk starting at row 0 of the call, which callers start at a chunk's first row (one call
 * when A^T: its M is D or H, and its K the rows of one chunk); otherwise OpenBLAS. */
static void mlp_dgemm(const mlp_parts *p, int ta, int tb, int M, int N, int K, const double *A,
                      int lda, const double *B, int ldb, const double *Bt, double beta, double *C,
                      int ldc)
{
#ifdef ODG_HAVE_XSMM
    const int rows = ta || M < p->chunk ? M : p->chunk;
    if (p->xsmm && N >= XSMM_MIN_N && (double)rows * N * K <= XSMM_MAX_MNK &&
        (!tb || Bt != NULL)) {
        const double *Bx = tb ? Bt : B;
        const int ldbx = tb ? N : ldb;
        const int rest = M % rows;
        libxsmm_dmmfunction k1 = mlp_xsmm_kernel(ta, rows, N, K, lda, ldbx, beta, ldc);
        libxsmm_dmmfunction k2 = rest ? mlp_xsmm_kernel(ta, rest, N, K, lda, ldbx, beta, ldc) : k1;
        if (k1 != NULL && k2 != NULL) {
            int i = 0;
            for (; i + rows <= M; i += rows) {
                k1(Bx, A + (size_t)i * (size_t)lda, C + (size_t)i * (size_t)ldc);
            }
            if (rest) {
                k2(Bx, A + (size_t)i * (size_t)lda, C + (size_t)i * (size_t)ldc);
            }
            return;
        }
    }
#else
    (void)p;
    (void)Bt;
#endif
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
}

/* dst[c ldd + r] = src[r lds + c] for r < rows, c < cols: 8 x 8 blocks through a local tile,
 * read as 8 runs of 8 source doubles (one cache line each when aligned) and written as 8 runs of
 * 8 destination doubles, then the edges element by element.  Element by element along a whole
 * destination row instead, each read lands on another line of the source (a column of W1 at
 * H = 256 is 256 lines): at D = 64, H = 256 the two copies below, once per call of f or the
 * VJP, took 6.3% of a gradient that way, 2.7% this way (perf, vern7 N = 3, kept activations, one
 * core); with the VJP that reads kept activations no longer copying W1^T, which none of its
 * GEMMs reads (mlp_vjp_hidden), that gradient is 1.062x faster (11 interleaved pairs, medians;
 * 1.031 .. 1.092), the same bits. */
ODG_SIMD_CLONES static void transpose_into(const double *restrict src, size_t rows, size_t cols,
                                           size_t lds, double *restrict dst, size_t ldd)
{
    const size_t R = rows & ~(size_t)7, C = cols & ~(size_t)7;
    for (size_t r0 = 0; r0 < R; r0 += 8) {
        for (size_t c0 = 0; c0 < C; c0 += 8) {
            double t[8][8];
            for (size_t r = 0; r < 8; r++) {
                for (size_t c = 0; c < 8; c++) {
                    t[c][r] = src[(r0 + r) * lds + c0 + c];
                }
            }
            for (size_t c = 0; c < 8; c++) {
                for (size_t r = 0; r < 8; r++) {
                    dst[(c0 + c) * ldd + r0 + r] = t[c][r];
                }
            }
        }
    }
    for (size_t c = 0; c < cols; c++) { /* the edges: rows >= R, or columns >= C */
        for (size_t r = c < C ? R : 0; r < rows; r++) {
            dst[c * ldd + r] = src[r * lds + c];
        }
    }
}

/* W1[:, :D]^T (D, H) into the impl's copy, which p then points to (libxsmm's and the thin
 * version's). */
static void mlp_copy_w1t(mlp_impl *w, mlp_parts *p)
{
    transpose_into(p->W1, p->H, p->D, p->Din, w->W1t, p->H); /* W1[:, :D] (H, D) */
    p->W1t = w->W1t;
}

/* With libxsmm: W1[:, :D]^T (D, H) and, for f (both), W2^T (H, D) into the impl's copies, which
 * p then points to.  Serial: D H numbers each, once per call of f and of the VJP that recomputes
 * U (mlp_vjp_hidden). */
static void mlp_xsmm_prepare(odg_model *m, mlp_parts *p, int both)
{
    if (!p->xsmm) {
        return;
    }
    mlp_impl *w = m->impl;
    mlp_copy_w1t(w, p);
    if (both) {
        transpose_into(p->W2, p->D, p->H, p->H, w->W2t, p->D); /* W2 (D, H) */
        p->W2t = w->W2t;
    }
}

/* Asks for the cache lines of x[0 .. len) ahead of their use (rw 1: to be written).  Kept
 * activations outgrow L2 after a few stages (B H doubles a stage, 128 KiB at B = 256, H = 64),
 * and the hardware prefetchers stop at every 4 KiB page, so without this the pass that first
 * writes a stage's rows (f's U) and the one that reads them back (the VJP) wait on L3 at each
 * page.  The thin version asks PREFETCH_ROWS rows ahead as it goes, the BLAS version for the
 * chunk's rows before its GEMMs.  Prefetches change no value.  Measured against the code without
 * (backprop with kept activations, one core, interleaved, median of 5 to 9 pairs): D = 2, rk4
 * N = 16 1.13x, N = 64 1.28x, vern7 N = 8 1.15x, vern9 N = 8 1.26x (kept activations then beat
 * recomputing them: 4.7 against 6.4 ms), rk4 N = 2 unchanged; D = 16, rk4 N = 64 1.07x; D = 64
 * and 256 unchanged (0.99 .. 1.01). */
#define PREFETCH_ROWS 16
static inline __attribute__((always_inline)) void prefetch_lines(const double *x, size_t len,
                                                                 int rw)
{
    for (size_t k = 0; k < len; k += 64 / sizeof(double)) {
        if (rw) {
            __builtin_prefetch(x + k, 1, 3);
        } else {
            __builtin_prefetch(x + k, 0, 3);
        }
    }
}

/* ---- BLAS version: pieces over rows [lo, lo + n) -------------------------------------------- */

/* X[i, j] = c[j] for the n rows of X (row length len): stores in every vector width, where a
 * memcpy per row (512 bytes at H = 64) costs its call more than its copy */
ODG_SIMD_CLONES static void fill_rows(double *restrict X, size_t n, size_t len,
                                      const double *restrict c)
{
    for (size_t i = 0; i < n; i++) {
#pragma omp simd
        for (size_t j = 0; j < len; j++) {
            X[i * len + j] = c[j];
        }
    }
}

/* Hh[lo:lo+n] = 1 c^T, c = b1 + t W1[:, D] (the hidden bias): the first row, then copies. */
static void mlp_bias_rows(const mlp_parts *p, double t, double *Hh, size_t lo, size_t n)
{
    double *row0 = Hh + lo * p->H;
    if (n == 0) {
        return;
    }
    prefetch_lines(row0, n * p->H, 1);
    for (size_t j = 0; j < p->H; j++) {
        row0[j] = mlp_bias1(p, t, j);
    }
    fill_rows(row0 + p->H, n - 1, p->H, row0);
}

// Hh[lo:lo+n] (n, H) += Z[lo:lo+n] (n, D) W1[:, :D]^T (D, H); leading dimension Din skips time
static void mlp_u_gemm(const mlp_parts *p, const double *Z, double *Hh, size_t lo, size_t n)
{
    mlp_dgemm(p, 0, 1, (int)n, (int)p->H, (int)p->D, Z + lo * p->D, (int)p->D, p->W1, (int)p->Din,
              p->W1t, 1.0, Hh + lo * p->H, (int)p->H);
}

/* F[lo:lo+n] = 1 b2^T */
static void mlp_out_bias_rows(const mlp_parts *p, double *F, size_t lo, size_t n)
{
    fill_rows(F + lo * p->D, n, p->D, p->b2);
}

// F[lo:lo+n] (n, D) += Hh[lo:lo+n] (n, H) W2^T (H, D)
static void mlp_f_gemm(const mlp_parts *p, const double *Hh, double *F, size_t lo, size_t n)
{
    mlp_dgemm(p, 0, 1, (int)n, (int)p->D, (int)p->H, Hh + lo * p->H, (int)p->H, p->W2, (int)p->H,
              p->W2t, 1.0, F + lo * p->D, (int)p->D);
}

// Gu[lo:lo+n] (n, H) = G[lo:lo+n] (n, D) W2 (D, H); beta = 0, so Gu's old values are ignored
static void mlp_gu_gemm(const mlp_parts *p, const double *G, double *Gu, size_t lo, size_t n)
{
    mlp_dgemm(p, 0, 0, (int)n, (int)p->H, (int)p->D, G + lo * p->D, (int)p->D, p->W2, (int)p->H,
              NULL, 0.0, Gu + lo * p->H, (int)p->H);
}

/* Gu[lo:lo+n] *= tanh'(U) = 1 - Hh^2, element-wise */
ODG_SIMD_CLONES static void mlp_gu_scale(const mlp_parts *p, const double *restrict Hh,
                                         double *restrict Gu, size_t lo, size_t n)
{
    const size_t a = lo * p->H, b = (lo + n) * p->H;
#pragma omp simd
    for (size_t k = a; k < b; k++) {
        Gu[k] *= 1.0 - Hh[k] * Hh[k];
    }
}

// Zbar[lo:lo+n] (n, D) = Gu[lo:lo+n] (n, H) W1[:, :D] (H, D); beta = 0
static void mlp_zbar_gemm(const mlp_parts *p, const double *Gu, double *Zbar, size_t lo, size_t n)
{
    mlp_dgemm(p, 0, 0, (int)n, (int)p->D, (int)p->H, Gu + lo * p->H, (int)p->H, p->W1,
              (int)p->Din, NULL, 0.0, Zbar + lo * p->D, (int)p->D);
}

/* acc[j] = X[0][j] + X[1][j] + ... + X[rows-1][j], j < n, row i at X + i stride: each sum in row
 * order, a row at a time so that the loop over j vectorizes without reordering any sum. */
ODG_SIMD_CLONES static void sum_rows(const double *X, size_t rows, size_t stride, size_t n,
                                     double *restrict acc)
{
    memcpy(acc, X, n * sizeof(double));
    for (size_t i = 1; i < rows; i++) {
        const double *row = X + i * stride;
#pragma omp simd
        for (size_t j = 0; j < n; j++) {
            acc[j] += row[j];
        }
    }
}

/* The two parameter-gradient GEMMs of one chunk, into gp (P, laid out like theta): its partial
 * (overwritten, beta = 0), or gtheta itself (added to, beta = 1; mlp_vjp_chunked with one
 * chunk).  G, Z are (B, D), Hh, Gu are (B, H); rows [lo, lo + n). */
// gp.W2 (D, H) = G[lo:lo+n]^T (D, n) Hh[lo:lo+n] (n, H) + beta gp.W2
static void mlp_gw2_chunk(const odg_model *m, const mlp_parts *p, const double *G, const double *Hh,
                          double beta, double *gp, size_t lo, size_t n)
{
    mlp_dgemm(p, 1, 0, (int)p->D, (int)p->H, (int)n, G + lo * p->D, (int)p->D, Hh + lo * p->H,
              (int)p->H, NULL, beta, gp + m->view[2].offset, (int)p->H);
}

// gp.W1[:, :D] (H, D) = Gu[lo:lo+n]^T (H, n) Z[lo:lo+n] (n, D) + beta gp.W1; leading dimension Din
static void mlp_gw1_chunk(const odg_model *m, const mlp_parts *p, const double *Z, const double *Gu,
                          double beta, double *gp, size_t lo, size_t n)
{
    mlp_dgemm(p, 1, 0, (int)p->H, (int)p->D, (int)n, Gu + lo * p->H, (int)p->H, Z + lo * p->D,
              (int)p->D, NULL, beta, gp + m->view[0].offset, (int)p->Din);
}

/* gp.b2 = colsum(G rows), gp.b1 = colsum(Gu rows), and with time input gp.W1[:, D] = t gp.b1. */
static void mlp_bias_grads_chunk(const odg_model *m, const mlp_parts *p, double t, const double *G,
                                 const double *Gu, double *gp, size_t lo, size_t n)
{
    double *gb1 = gp + m->view[1].offset, *gW1 = gp + m->view[0].offset;
    sum_rows(G + lo * p->D, n, p->D, p->D, gp + m->view[3].offset);
    sum_rows(Gu + lo * p->H, n, p->H, p->H, gb1);
    if (p->ti) {
        for (size_t j = 0; j < p->H; j++) {
            gW1[j * p->Din + p->D] = t * gb1[j];
        }
    }
}

/* Entries per block of the reduction: 4 KiB of accumulator, in L1. */
#define REDUCE_BLOCK 512

/* gtheta[e] += (((gpart[0][e] + gpart[1][e]) + gpart[2][e]) + ...), the partials (nchunks, P)
 * added in chunk order into a local and the sum added once, so two calls add exactly twice.  An
 * orphaned worksharing loop: inside a parallel region its blocks are shared among the threads
 * (each entry's sum is still formed by one thread in chunk order), outside one it runs serially. */
static void mlp_reduce(size_t P, size_t nchunks, const double *gpart, double *gtheta)
{
    const long nblk = (long)((P + REDUCE_BLOCK - 1) / REDUCE_BLOCK);
#pragma omp for schedule(static)
    for (long b = 0; b < nblk; b++) {
        const size_t lo = (size_t)b * REDUCE_BLOCK;
        const size_t n = P - lo < REDUCE_BLOCK ? P - lo : REDUCE_BLOCK;
        if (nchunks == 1) { /* the sum is the one partial: added as it is, the same bits */
#pragma omp simd
            for (size_t e = 0; e < n; e++) {
                gtheta[lo + e] += gpart[lo + e];
            }
            continue;
        }
        double acc[REDUCE_BLOCK];
        sum_rows(gpart + lo, nchunks, P, n, acc);
#pragma omp simd
        for (size_t e = 0; e < n; e++) {
            gtheta[lo + e] += acc[e];
        }
    }
}

/* ---- thin version: D <= THIN_MAX_D, loops of our own instead of GEMMs ---------------------- */

/* At small D every GEMM of the mlp has D as one of its sizes: U = Z W1^T and Gu = G W2 are
 * rank-D updates of a (rows, H) array, F = Hh W2^T and Zbar = Gu W1 are D dot products of length H
 * per row, and gW2, gW1 are D rows of sums over the batch.  A BLAS call there spends most of its
 * time packing and being called, and the five GEMMs and three element-wise passes of the VJP
 * each read or write the chunk's (rows, H) arrays.  The thin version makes one pass instead: one
 * loop over the H hidden units for THIN_ROWS rows at a time forms those rows of Gu and adds their
 * terms to gW2, gW1 and gb1, and the D dot products of Zbar follow on the rows of Gu while they
 * are in L1.  Measured against the GEMMs (docs/theory.md section 9, "The thin version": H = 64,
 * B = 256, one core, interleaved): the VJP with kept activations 2.7x faster at D = 2 (22.6 ->
 * 8.4 us) and 1.55x at D = 4, f (mostly its tanh) 1.04 .. 1.17x.  The parameter gradient still
 * goes to the chunk's partial and the partials are reduced in chunk order (mlp_reduce), so the
 * bits do not depend on the thread count; f and the VJP form U with the same function, so kept
 * activations are the VJP's own bits.  Its sums are other sums than BLAS's (every dot product
 * in the fixed order of dot8, every sum over rows in row order), so the thin version gives other
 * bits than the GEMMs would: the reference version, which tests compare with, is unchanged.
 * Multiply-adds are explicit fma(), correctly rounded everywhere, as in mlp_tanh: the same bits
 * in every vector width (the clones below) and on every machine.  Used in CHUNKED mode only
 * (THREADED hands the GEMMs to OpenBLAS's threads); with or without libxsmm.  The bound: at D = 8
 * an earlier thin f, its dot products one after another, was slower than the GEMMs (48 against
 * 40 us), and D <= 4 is what was measured since. */
#define THIN_MAX_D ODG_MLP_THIN_MAX_D

/* CALL(d) with d = D as a constant, so that the loops over k in what it calls unroll (GCC does
 * not unroll an inner loop of variable length before vectorizing the outer one). */
#define THIN_DISPATCH(D, CALL)                                                                     \
    switch (D) {                                                                                   \
    case 1:                                                                                        \
        CALL(1);                                                                                   \
        break;                                                                                     \
    case 2:                                                                                        \
        CALL(2);                                                                                   \
        break;                                                                                     \
    case 3:                                                                                        \
        CALL(3);                                                                                   \
        break;                                                                                     \
    case 4:                                                                                        \
        CALL(4);                                                                                   \
        break;                                                                                     \
    default:                                                                                       \
        break; /* not reached: THIN_MAX_D */                                                       \
    }
_Static_assert(ODG_MLP_THIN_MAX_D == 4, "THIN_DISPATCH has a case for every thin D");

/* Rows of the batch per pass of the thin version: the VJP's sums over rows (gb1, gW2, gW1t) stay
 * in registers over THIN_ROWS rows, a quarter of the loads and stores of one row at a time, and
 * the dot products of THIN_ROWS rows run as independent chains instead of one after another. */
#define THIN_ROWS 4

/* out[r D + k] = dot8(X[r, :], Y[k, :]) for r < R, k < D, rows of X and Y n numbers apart, where
 * dot8(x, y) = sum_j x[j] y[j], j < n, in an order that every vector width reproduces: lane l
 * accumulates the terms j = l mod 8 in j order with fma, then the lanes are added ((0 + 4) +
 * (2 + 6)) + ((1 + 5) + (3 + 7)).  R D such sums at once: one alone is a chain of fma latencies. */
static inline __attribute__((always_inline)) void dot8_block(const double *restrict X,
                                                             const double *restrict Y, size_t n,
                                                             size_t R, size_t D, double *out)
{
    double acc[THIN_ROWS][ODG_MLP_THIN_MAX_D][8];
#pragma GCC unroll 4
    for (size_t r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (size_t k = 0; k < D; k++) {
            for (int l = 0; l < 8; l++) {
                acc[r][k][l] = 0;
            }
        }
    }
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
#pragma GCC unroll 4
        for (size_t r = 0; r < R; r++) {
#pragma GCC unroll 4
            for (size_t k = 0; k < D; k++) {
                for (int l = 0; l < 8; l++) {
                    acc[r][k][l] = fma(X[r * n + j + l], Y[k * n + j + l], acc[r][k][l]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (size_t r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (size_t k = 0; k < D; k++) {
            double *a = acc[r][k];
            for (int l = 0; j + (size_t)l < n; l++) {
                a[l] = fma(X[r * n + j + l], Y[k * n + j + l], a[l]);
            }
            /* halves, then quarters: the vector reductions, which keep a in registers */
            for (int l = 0; l < 4; l++) {
                a[l] += a[l + 4];
            }
            for (int l = 0; l < 2; l++) {
                a[l] += a[l + 2];
            }
            out[r * D + k] = a[0] + a[1];
        }
    }
}

/* Hh[lo:lo+n] = tanh(Z[lo:lo+n] W1[:, :D]^T + 1 c^T): each U[i, j] = c[j] + z[0] W1[j, 0] +
 * z[1] W1[j, 1] + ..., an fma per term in k order; then the chunk's tanh. */
static inline __attribute__((always_inline)) void thin_u_rows_d(const mlp_parts *p, const double *Z,
                                                                double *Hh, size_t lo, size_t n,
                                                                size_t D)
{
    const size_t H = p->H;
    const double *restrict c = p->c, *restrict W1t = p->W1t;
    for (size_t i = lo; i < lo + n; i++) {
        double *restrict u = Hh + i * H;
        const double *z = Z + i * D;
        if (i + PREFETCH_ROWS < p->B) {
            prefetch_lines(u + PREFETCH_ROWS * H, H, 1);
        }
#pragma omp simd
        for (size_t j = 0; j < H; j++) {
            double s = c[j];
#pragma GCC unroll 4
            for (size_t k = 0; k < D; k++) {
                s = fma(z[k], W1t[k * H + j], s);
            }
            u[j] = s;
        }
    }
}

ODG_SIMD_CLONES static void thin_u_rows(const mlp_parts *p, const double *Z, double *Hh, size_t lo,
                                        size_t n)
{
#define THIN_U(d) thin_u_rows_d(p, Z, Hh, lo, n, d)
    THIN_DISPATCH(p->D, THIN_U)
#undef THIN_U
    mlp_tanh_inplace(Hh + lo * p->H, n * p->H);
}

/* F[lo:lo+n] = Hh[lo:lo+n] W2^T + 1 b2^T: F[i, k] = b2[k] + dot8(Hh[i, :], W2[k, :]). */
static inline __attribute__((always_inline)) void thin_f_rows_d(const mlp_parts *p,
                                                                const double *Hh, double *F,
                                                                size_t lo, size_t n, size_t D)
{
    const size_t H = p->H;
    double dots[THIN_ROWS * ODG_MLP_THIN_MAX_D];
    size_t i = lo;
    for (; i + THIN_ROWS <= lo + n; i += THIN_ROWS) {
        dot8_block(Hh + i * H, p->W2, H, THIN_ROWS, D, dots);
        for (size_t e = 0; e < THIN_ROWS * D; e++) {
            F[i * D + e] = p->b2[e % D] + dots[e];
        }
    }
    for (; i < lo + n; i++) {
        dot8_block(Hh + i * H, p->W2, H, 1, D, dots);
        for (size_t k = 0; k < D; k++) {
            F[i * D + k] = p->b2[k] + dots[k];
        }
    }
}

ODG_SIMD_CLONES static void thin_f_rows(const mlp_parts *p, const double *Hh, double *F, size_t lo,
                                        size_t n)
{
#define THIN_F(d) thin_f_rows_d(p, Hh, F, lo, n, d)
    THIN_DISPATCH(p->D, THIN_F)
#undef THIN_F
}

/* The thin VJP's pass over rows i .. i + R - 1, D and R constants in each instance
 * (thin_vjp_rows): with g, z a row's G and Z and h its Hh,
 *     gu[j] = (g[0] W2[0, j] + g[1] W2[1, j] + ...) (1 - h[j]^2)          (the row of Gu)
 *     gb1[j] += gu[j],   gW2[k, j] += g[k] h[j],   gW1t[k, j] += gu[j] z[k]
 *     zbar[k] = dot8(gu, W1[:, k])
 * the rows added in row order, one fma each.  gW1t is gW1[:, :D]^T (D, H), transposed into the
 * partial once per chunk.  g, z are R rows of D numbers, h and gu R rows of H. */
static inline __attribute__((always_inline)) void
thin_vjp_block(const double *restrict W2, const double *restrict W1t, size_t H, size_t D,
               size_t R, const double *g, const double *z, const double *h, double *restrict gu,
               double *restrict gb1, double *restrict gW2, double *restrict gW1t, double *zbar)
{
#pragma omp simd
    for (size_t j = 0; j < H; j++) {
        double b1 = gb1[j], a2[ODG_MLP_THIN_MAX_D], a1[ODG_MLP_THIN_MAX_D];
#pragma GCC unroll 4
        for (size_t k = 0; k < D; k++) {
            a2[k] = gW2[k * H + j];
            a1[k] = gW1t[k * H + j];
        }
#pragma GCC unroll 4
        for (size_t r = 0; r < R; r++) {
            const double *gr = g + r * D, *zr = z + r * D, hj = h[r * H + j];
            double gh = gr[0] * W2[j];
#pragma GCC unroll 4
            for (size_t k = 1; k < D; k++) {
                gh = fma(gr[k], W2[k * H + j], gh);
            }
            const double v = gh * (1.0 - hj * hj);
            gu[r * H + j] = v;
            b1 += v;
#pragma GCC unroll 4
            for (size_t k = 0; k < D; k++) {
                a2[k] = fma(gr[k], hj, a2[k]);
                a1[k] = fma(v, zr[k], a1[k]);
            }
        }
        gb1[j] = b1;
#pragma GCC unroll 4
        for (size_t k = 0; k < D; k++) {
            gW2[k * H + j] = a2[k];
            gW1t[k * H + j] = a1[k];
        }
    }
    dot8_block(gu, W1t, H, R, D, zbar);
}

static inline __attribute__((always_inline)) void
thin_vjp_rows(const mlp_parts *p, const double *Z, const double *Hh, const double *G, double *Zbar,
              double *ws, double *gb1, double *gW2, double *gb2, size_t lo, size_t n, size_t D)
{
    const size_t H = p->H;
    double *gW1t = ws, *gu = ws + D * H;
    size_t i = lo;
    for (; i + THIN_ROWS <= lo + n; i += THIN_ROWS) {
        if (i + PREFETCH_ROWS + THIN_ROWS <= p->B) {
            prefetch_lines(Hh + (i + PREFETCH_ROWS) * H, THIN_ROWS * H, 0);
        }
        thin_vjp_block(p->W2, p->W1t, H, D, THIN_ROWS, G + i * D, Z + i * D, Hh + i * H, gu, gb1,
                       gW2, gW1t, Zbar + i * D);
    }
    for (; i < lo + n; i++) {
        thin_vjp_block(p->W2, p->W1t, H, D, 1, G + i * D, Z + i * D, Hh + i * H, gu, gb1, gW2,
                       gW1t, Zbar + i * D);
    }
    for (i = lo; i < lo + n; i++) {
        for (size_t k = 0; k < D; k++) {
            gb2[k] += G[i * D + k];
        }
    }
}

/* One chunk of the thin VJP: its rows of Zbar, and its partial gp (P, laid out like theta,
 * overwritten) from the activations Hh.  ws is the chunk's scratch (D H + THIN_ROWS H). */
ODG_SIMD_CLONES static void thin_vjp_chunk(const odg_model *m, const mlp_parts *p, double t,
                                           const double *Z, const double *Hh, const double *G,
                                           double *Zbar, double *gp, double *ws, size_t lo,
                                           size_t n)
{
    const size_t D = p->D, H = p->H, Din = p->Din;
    double *gW1 = gp + m->view[0].offset, *gb1 = gp + m->view[1].offset;
    double *gW2 = gp + m->view[2].offset, *gb2 = gp + m->view[3].offset;
    memset(gp, 0, m->P * sizeof(double));
    memset(ws, 0, D * H * sizeof(double));
#define THIN_VJP(d) thin_vjp_rows(p, Z, Hh, G, Zbar, ws, gb1, gW2, gb2, lo, n, d)
    THIN_DISPATCH(D, THIN_VJP)
#undef THIN_VJP
    for (size_t j = 0; j < H; j++) {
        for (size_t k = 0; k < D; k++) {
            gW1[j * Din + k] = ws[k * H + j];
        }
        if (p->ti) {
            gW1[j * Din + D] = t * gb1[j];
        }
    }
}

/* W1[:, :D]^T (D, H) and the hidden bias c = b1 + t W1[:, D] into the impl's copies, which p
 * then points to.  Serial: D H + H numbers, once per call of f or the VJP. */
static void mlp_thin_prepare(odg_model *m, mlp_parts *p, double t)
{
    if (!p->thin) {
        return;
    }
    mlp_impl *w = m->impl;
    mlp_copy_w1t(w, p);
    for (size_t j = 0; j < p->H; j++) {
        w->c[j] = mlp_bias1(p, t, j);
    }
    p->c = w->c;
}

/* ---- BLAS version: f and vjp in the two modes ------------------------------------------------ */

/* Whether CHUNKED opens a parallel region: with two or more chunks, or with one whose GEMMs
 * (all n x H x D) OpenBLAS could split outside a region (ODG_BLAS_SERIAL_MNK), which would make the
 * bits depend on the thread count. */
static int mlp_team(const mlp_parts *p, long nch)
{
    return nch > 1 || (double)p->B * (double)p->H * (double)p->D > ODG_BLAS_SERIAL_MNK;
}

/* CHUNKED: one parallel loop over the chunks; every GEMM is per chunk and, called inside an active
 * parallel region, OpenBLAS's OpenMP build runs it single-threaded (common_thread.h,
 * num_cpu_avail: omp_in_parallel() gives 1 thread).  With one thread there is no region
 * (ODG_PARALLEL) and OpenBLAS has one thread anyway.  Chunks [c0, c1); Z, F are (B, D). */
static void mlp_f_chunk_loop(odg_model *m, const mlp_parts *p, double t, const double *Z, double *F,
                             double *Hh, long c0, long c1)
{
#pragma omp for schedule(static)
    for (long c = c0; c < c1; c++) {
        size_t lo, n;
        odg_chunk_rows(m, c, &lo, &n);
        if (p->thin) {
            thin_u_rows(p, Z, Hh, lo, n);
            thin_f_rows(p, Hh, F, lo, n);
            continue;
        }
        mlp_bias_rows(p, t, Hh, lo, n);
        mlp_u_gemm(p, Z, Hh, lo, n);
        mlp_tanh_inplace(Hh + lo * p->H, n * p->H);
        mlp_out_bias_rows(p, F, lo, n);
        mlp_f_gemm(p, Hh, F, lo, n);
    }
}

static void mlp_f_chunks(odg_model *m, const mlp_parts *p, double t, const double *Z, double *F,
                         double *Hh, long c0, long c1)
{
    ODG_PARALLEL(mlp_team(p, c1 - c0), mlp_f_chunk_loop(m, p, t, Z, F, Hh, c0, c1));
}

static void mlp_f_chunked(odg_model *m, const mlp_parts *p, double t, const double *Z, double *F,
                          double *Hh)
{
    mlp_f_chunks(m, p, t, Z, F, Hh, 0, (long)m->nchunks);
}

/* CHUNKED on one thread with several chunks: U and tanh(U) chunk by chunk, with the very calls
 * the VJP makes (mlp_vjp_chunk), so that the activations f leaves in Hh are the VJP's bits by
 * construction; then the output GEMM once over the whole batch (see mlp_f_blas). */
static void mlp_f_serial(odg_model *m, const mlp_parts *p, double t, const double *Z, double *F,
                         double *Hh)
{
    for (long c = 0; c < (long)m->nchunks; c++) {
        size_t lo, n;
        odg_chunk_rows(m, c, &lo, &n);
        mlp_bias_rows(p, t, Hh, lo, n);
        mlp_u_gemm(p, Z, Hh, lo, n);
        mlp_tanh_inplace(Hh + lo * p->H, n * p->H);
        mlp_out_bias_rows(p, F, lo, n);
    }
    mlp_f_gemm(p, Hh, F, 0, p->B);
}

/* THREADED's element-wise passes, chunk by chunk as worksharing loops: the hidden bias into Hh
 * and, unless F is NULL, the output bias into F; tanh over Hh; Gu *= 1 - Hh^2. */
static void mlp_bias_loop(odg_model *m, const mlp_parts *p, double t, double *Hh, double *F)
{
#pragma omp for schedule(static)
    for (long c = 0; c < (long)m->nchunks; c++) {
        size_t lo, n;
        odg_chunk_rows(m, c, &lo, &n);
        mlp_bias_rows(p, t, Hh, lo, n);
        if (F != NULL) {
            mlp_out_bias_rows(p, F, lo, n);
        }
    }
}

static void mlp_tanh_loop(odg_model *m, const mlp_parts *p, double *Hh)
{
#pragma omp for schedule(static)
    for (long c = 0; c < (long)m->nchunks; c++) {
        size_t lo, n;
        odg_chunk_rows(m, c, &lo, &n);
        mlp_tanh_inplace(Hh + lo * p->H, n * p->H);
    }
}

static void mlp_gu_scale_loop(odg_model *m, const mlp_parts *p, const double *Hh, double *Gu)
{
#pragma omp for schedule(static)
    for (long c = 0; c < (long)m->nchunks; c++) {
        size_t lo, n;
        odg_chunk_rows(m, c, &lo, &n);
        mlp_gu_scale(p, Hh, Gu, lo, n);
    }
}

/* THREADED: the two GEMMs over the whole batch, outside any parallel region so that OpenBLAS
 * splits them among omp_get_max_threads() threads; the element-wise passes in our own loops. */
static void mlp_f_threaded(odg_model *m, const mlp_parts *p, double t, const double *Z, double *F,
                           double *Hh)
{
    const int team = m->nchunks > 1;
    ODG_PARALLEL(team, mlp_bias_loop(m, p, t, Hh, F));
    mlp_u_gemm(p, Z, Hh, 0, p->B);
    ODG_PARALLEL(team, mlp_tanh_loop(m, p, Hh));
    mlp_f_gemm(p, Hh, F, 0, p->B);
}

/* Over MPI ranks (odg_model_set_ranks): this rank's chunks, as mlp_f_chunked computes them,
 * then every rank's rows copied to every rank.  Z, F are (B, D). */
static int mlp_f_ranks(odg_model *m, const mlp_parts *p, double t, const double *Z, double *F,
                       double *Hh)
{
    mlp_f_chunks(m, p, t, Z, F, Hh, (long)m->rank_chunk[m->rank],
                 (long)m->rank_chunk[m->rank + 1]);
    return odg_mpi_allgather_doubles(F, odg_rank_offsets(m, p->D, 0), &m->comm);
}

/* Z, F are (B, D); the activations tanh(U) go to Hh (B, H).
 *
 * At one thread CHUNKED runs f's output GEMM as THREADED does, once over the whole batch: every
 * row of F is a dot product over H that OpenBLAS forms in the same order whatever the number of
 * rows around it (the rows split into micro-tiles, the inner dimension into the same blocks), so
 * the bits are those of the chunks (test_determinism compares 1 thread with 2, 3 and 8;
 * test_models compares the modes), while 8 calls of 64 rows become one of 512.  Measured on one
 * core against the chunks (same tanh), interleaved, min of 10 .. 30 calls per round, 21 rounds,
 * with both GEMMs over the batch: f at D = 16, H = 64, B = 128 1.030x faster (median; min
 * 0.98x), at D = 64, H = 256, B = 512 1.041x (median; one disturbed round 0.65x).  U is formed
 * chunk by chunk (mlp_f_serial), with the very calls of the VJP, so that activations kept from
 * f (f_act) are the VJP's own bits by construction, whatever a GEMM does with its rows.  Against
 * U over the whole batch (THREADED at one thread), 15 interleaved rounds of the best of 5 x 50
 * calls on a loaded machine, the whole batch's time over the chunks', median per round: 1.04 at
 * D = 2, H = 64, B = 256; 1.00 at D = 16, H = 64, B = 256; 0.96 at D = 64, H = 256, B = 256; 0.92
 * at B = 512 (rounds from 0.7 to 1.5 there): within the noise, at most a few percent.  The VJP stays in chunks: its parameter gradient sums over the batch, and
 * the chunk partials are what makes that sum independent of the thread count. */
static int mlp_f_hidden(odg_model *m, double t, const double *Z, double *F, double *Hh)
{
    mlp_parts p = mlp_unpack(m);
    mlp_xsmm_prepare(m, &p, 1);
    mlp_thin_prepare(m, &p, t);
    if (m->nranks > 1) {
        return mlp_f_ranks(m, &p, t, Z, F, Hh);
    }
    if (m->blas == ODG_BLAS_THREADED) {
        mlp_f_threaded(m, &p, t, Z, F, Hh);
    } else if (m->nchunks > 1 && omp_get_max_threads() == 1 && !p.thin) {
        mlp_f_serial(m, &p, t, Z, F, Hh);
    } else {
        mlp_f_chunked(m, &p, t, Z, F, Hh);
    }
    return 0;
}

static int mlp_f_blas(odg_model *m, double t, const double *Z, double *F)
{
    return mlp_f_hidden(m, t, Z, F, ((mlp_impl *)m->impl)->Hh);
}

/* f, its activations tanh(U) (B, H) left in A: the same calls as f, so the same F. */
static int mlp_f_act_blas(odg_model *m, double t, const double *Z, double *F, double *A)
{
    return mlp_f_hidden(m, t, Z, F, A);
}

/* gtheta += gp at the entries mlp_bias_grads_chunk writes: gb2, gb1 and, with time input,
 * gW1[:, D]. */
static void mlp_add_bias_grads(const odg_model *m, const mlp_parts *p, const double *gp,
                               double *gtheta)
{
    const size_t ob2 = m->view[3].offset, ob1 = m->view[1].offset, oW1 = m->view[0].offset;
    for (size_t j = 0; j < p->D; j++) {
        gtheta[ob2 + j] += gp[ob2 + j];
    }
    for (size_t j = 0; j < p->H; j++) {
        gtheta[ob1 + j] += gp[ob1 + j];
        if (p->ti) {
            gtheta[oW1 + j * p->Din + p->D] += gp[oW1 + j * p->Din + p->D];
        }
    }
}

/* One chunk of the VJP, on one thread: its Hh recomputed (or read from the activations A kept by
 * f, when A is not NULL), its partial gradient, its rows of Gu and Zbar.  With gtheta not NULL
 * (the whole batch one chunk, GEMM version), the parameter gradient is added to gtheta instead:
 * the weight GEMMs with beta = 1, the bias sums through the partial, so every entry gets
 * gtheta[e] + (the chunk's sum) as mlp_reduce would add it, without the partial's zeroing and
 * the reduction's pass over P numbers (4 MiB each at D = 256, H = 1024).  Only where that is
 * mlp_reduce's bits (mlp_direct). */
static void mlp_vjp_chunk(odg_model *m, const mlp_parts *p, double t, const double *Z,
                          const double *A, const double *G, double *Zbar, double *gtheta, long c)
{
    mlp_impl *w = m->impl;
    double *Gu = w->Gu;
    const double *Hh = A;
    size_t lo, n;
    odg_chunk_rows(m, c, &lo, &n);
    double *gp = w->gpart + (size_t)c * m->P;
    if (p->thin) {
        if (A == NULL) {
            thin_u_rows(p, Z, w->Hh, lo, n);
            Hh = w->Hh;
        }
        double *ws = p->thin_ws + (size_t)c * (p->D + THIN_ROWS) * p->H;
        thin_vjp_chunk(m, p, t, Z, Hh, G, Zbar, gp, ws, lo, n);
        return;
    }
    if (A == NULL) {
        mlp_bias_rows(p, t, w->Hh, lo, n);
        mlp_u_gemm(p, Z, w->Hh, lo, n);
        mlp_tanh_inplace(w->Hh + lo * p->H, n * p->H);
        Hh = w->Hh;
    }
    if (A != NULL) { /* kept activations: from the tape, not just computed */
        prefetch_lines(Hh + lo * p->H, n * p->H, 0);
        prefetch_lines(Z + lo * p->D, n * p->D, 0);
    }
    /* into gtheta itself when given: the GEMMs add to it, the bias sums go to the partial and
     * are added from there */
    const double beta = gtheta != NULL ? 1.0 : 0.0;
    double *gw = gtheta != NULL ? gtheta : gp;
    mlp_gw2_chunk(m, p, G, Hh, beta, gw, lo, n);
    mlp_gu_gemm(p, G, Gu, lo, n);
    mlp_gu_scale(p, Hh, Gu, lo, n);
    mlp_gw1_chunk(m, p, Z, Gu, beta, gw, lo, n);
    mlp_bias_grads_chunk(m, p, t, G, Gu, gp, lo, n);
    if (gtheta != NULL) {
        mlp_add_bias_grads(m, p, gp, gtheta);
    }
    mlp_zbar_gemm(p, Gu, Zbar, lo, n);
}

/* Chunks [c0, c1) of the VJP, each on one thread (mlp_vjp_chunk), and with `reduce`, after the
 * loop's barrier, the partials reduced by all threads together; with `direct` (mlp_direct), the
 * one chunk adds to gtheta itself and there is nothing to reduce. */
static void mlp_vjp_chunk_loop(odg_model *m, const mlp_parts *p, double t, const double *Z,
                               const double *A, const double *G, double *Zbar, double *gtheta,
                               long c0, long c1, int reduce, int direct)
{
    mlp_impl *w = m->impl;
#pragma omp for schedule(static)
    for (long c = c0; c < c1; c++) {
        mlp_vjp_chunk(m, p, t, Z, A, G, Zbar, direct ? gtheta : NULL, c);
    }
    if (reduce && !direct) {
        mlp_reduce(m->P, m->nchunks, w->gpart, gtheta);
    }
}

/* Rows at most, and m n k at least, of a weight GEMM that adds its product to C as it would add
 * the same product to zeros: OpenBLAS's blocked GEMM sums a block of up to GEMM_Q rows (256 or
 * more in its x86 kernels) in registers and then adds it to C; libxsmm's kernels (to
 * XSMM_MAX_MNK) and OpenBLAS's small-matrix ones (to 1e6) may start the sum from C instead. */
#define DIRECT_MAX_ROWS 128
#define DIRECT_MIN_MNK XSMM_MAX_MNK

/* Whether the VJP adds its parameter gradient straight into gtheta (mlp_vjp_chunk): the batch
 * one chunk of the GEMM version, whose weight GEMMs (D H rows m n k) give mlp_reduce's bits.
 * At D = 256, H = 1024, B = 64 (dopri8 N = 8, backprop, kept activations, one core, 9
 * interleaved pairs against the partial and mlp_reduce): 1.083x faster (medians; 1.055 ..
 * 1.165), the same bits (saved gradients, SkylakeX and Haswell kernels, 1 and 2 threads). */
static int mlp_direct(const odg_model *m, const mlp_parts *p)
{
    return m->nchunks == 1 && !p->thin && p->B <= DIRECT_MAX_ROWS &&
           (double)p->D * (double)p->H * (double)p->B > DIRECT_MIN_MNK;
}

/* CHUNKED: every chunk, then the reduction; or the one chunk straight into gtheta. */
static void mlp_vjp_chunked(odg_model *m, const mlp_parts *p, double t, const double *Z,
                            const double *A, const double *G, double *Zbar, double *gtheta)
{
    const long nch = (long)m->nchunks;
    const int direct = mlp_direct(m, p);
    ODG_PARALLEL(mlp_team(p, nch),
                 mlp_vjp_chunk_loop(m, p, t, Z, A, G, Zbar, gtheta, 0, nch, 1, direct));
}

/* s[j] = sum_i X[i, j] (overwritten), X (rows, cols): blocks of columns shared among the threads,
 * each column summed by one thread in row order, so the split does not change a bit. */
#define COLSUM_BLOCK 64
static void colsum_loop(const double *X, size_t rows, size_t cols, double *s, long nblk)
{
#pragma omp for schedule(static)
    for (long b = 0; b < nblk; b++) {
        const size_t j0 = (size_t)b * COLSUM_BLOCK;
        const size_t nj = cols - j0 < COLSUM_BLOCK ? cols - j0 : COLSUM_BLOCK;
        double acc[COLSUM_BLOCK];
        sum_rows(X + j0, rows, cols, nj, acc);
        memcpy(s + j0, acc, nj * sizeof(double));
    }
}

static void colsum_par(const double *X, size_t rows, size_t cols, double *s)
{
    const long nblk = (long)((cols + COLSUM_BLOCK - 1) / COLSUM_BLOCK);
    ODG_PARALLEL(nblk > 1, colsum_loop(X, rows, cols, s, nblk));
}

/* THREADED: every GEMM once over the whole batch, outside any parallel region, so that OpenBLAS
 * splits it among omp_get_max_threads() threads, the parameter-gradient GEMMs (which sum over the
 * batch) accumulating straight into gtheta; the element-wise passes and column sums in our own
 * loops.  No partials: this mode is not bit-identical across thread counts anyway (models.h), so
 * they would cost memory traffic for nothing; their buffer serves as the column sums' scratch. */
static void mlp_vjp_threaded(odg_model *m, const mlp_parts *p, double t, const double *Z,
                             const double *A, const double *G, double *Zbar, double *gtheta)
{
    mlp_impl *w = m->impl;
    double *Gu = w->Gu, *s = w->gpart;
    const double *Hh = A != NULL ? A : w->Hh;
    double *gW1 = gtheta + m->view[0].offset, *gb1 = gtheta + m->view[1].offset;
    double *gW2 = gtheta + m->view[2].offset, *gb2 = gtheta + m->view[3].offset;
    const int B = (int)p->B, D = (int)p->D, H = (int)p->H, Din = (int)p->Din;
    const int team = m->nchunks > 1;
    if (A == NULL) { /* U and tanh(U) as mlp_f_threaded forms them */
        double *U = w->Hh;
        ODG_PARALLEL(team, mlp_bias_loop(m, p, t, U, NULL));
        mlp_u_gemm(p, Z, U, 0, p->B);
        ODG_PARALLEL(team, mlp_tanh_loop(m, p, U));
    }
    // gW2 (D, H) += G^T (D, B) Hh (B, H)
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, H, B, 1.0, G, D, Hh, H, 1.0, gW2, H);
    mlp_gu_gemm(p, G, Gu, 0, p->B);
    ODG_PARALLEL(team, mlp_gu_scale_loop(m, p, Hh, Gu));
    // gW1[:, :D] (H, D) += Gu^T (H, B) Z (B, D); leading dimension Din skips the time column
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, D, B, 1.0, Gu, H, Z, D, 1.0, gW1, Din);
    mlp_zbar_gemm(p, Gu, Zbar, 0, p->B);
    /* gb2 += colsum(G); gb1 += colsum(Gu) and, with time input, gW1[:, D] += t colsum(Gu) */
    colsum_par(G, p->B, p->D, s);
    for (size_t j = 0; j < p->D; j++) {
        gb2[j] += s[j];
    }
    colsum_par(Gu, p->B, p->H, s);
    for (size_t j = 0; j < p->H; j++) {
        gb1[j] += s[j];
        if (p->ti) {
            gW1[j * p->Din + p->D] += t * s[j];
        }
    }
}

/* Over MPI ranks: this rank's chunks as mlp_vjp_chunked computes them (its rows of Zbar, its
 * chunks' partials), then the rows of Zbar and the partials (nchunks, P) copied to every rank,
 * which reduces all of them in chunk order as mlp_vjp_chunked does: the same sums, term by term,
 * as with one rank.  The exchange sits between two parallel regions (MPI is called by the main
 * thread only). */
static int mlp_vjp_ranks(odg_model *m, const mlp_parts *p, double t, const double *Z,
                         const double *A, const double *G, double *Zbar, double *gtheta)
{
    mlp_impl *w = m->impl;
    const long c0 = (long)m->rank_chunk[m->rank], c1 = (long)m->rank_chunk[m->rank + 1];
    ODG_PARALLEL(mlp_team(p, c1 - c0),
                 mlp_vjp_chunk_loop(m, p, t, Z, A, G, Zbar, gtheta, c0, c1, 0, 0));
    int st = odg_mpi_allgather_doubles(Zbar, odg_rank_offsets(m, p->D, 0), &m->comm);
    const double t0 = odg_now(), s0 = m->reduce.s;
    if (st == ODG_OK) {
        st = odg_mpi_allgather_doubles(w->gpart, odg_rank_offsets(m, m->P, 1), &m->reduce);
    }
    if (st != ODG_OK) {
        return st;
    }
    ODG_PARALLEL(mlp_team(p, (long)m->nchunks), mlp_reduce(m->P, m->nchunks, w->gpart, gtheta));
    m->reduce.s = s0 + (odg_now() - t0); /* the exchange and the sum */
    return 0;
}

/* Z, G, Zbar are (B, D), gtheta is (P), A (B, H) or NULL.  Zbar is overwritten (it must not
 * alias Z or G), gtheta accumulated.  With A NULL, Hh is recomputed, so f and vjp need not be
 * paired; else A holds the activations that f_act wrote at the same (t, Z), read in their place:
 * one GEMM and one tanh pass fewer, and the same bits, since f formed them with the calls made
 * here (mlp_f_serial, mlp_f_threaded, mlp_f_chunks). */
static int mlp_vjp_hidden(odg_model *m, double t, const double *Z, const double *A,
                          const double *G, double *Zbar, double *gtheta)
{
    mlp_parts p = mlp_unpack(m);
    if (A == NULL) { /* W1^T only for recomputing U: no other GEMM of the VJP transposes B */
        mlp_xsmm_prepare(m, &p, 0);
    }
    mlp_thin_prepare(m, &p, t);
    if (m->nranks > 1) {
        return mlp_vjp_ranks(m, &p, t, Z, A, G, Zbar, gtheta);
    }
    if (m->blas == ODG_BLAS_THREADED) {
        mlp_vjp_threaded(m, &p, t, Z, A, G, Zbar, gtheta);
    } else {
        mlp_vjp_chunked(m, &p, t, Z, A, G, Zbar, gtheta);
    }
    return 0;
}

static int mlp_vjp_blas(odg_model *m, double t, const double *Z, const double *G, double *Zbar,
                        double *gtheta)
{
    return mlp_vjp_hidden(m, t, Z, NULL, G, Zbar, gtheta);
}

static int mlp_vjp_act_blas(odg_model *m, double t, const double *Z, const double *A,
                            const double *G, double *Zbar, double *gtheta)
{
    return mlp_vjp_hidden(m, t, Z, A, G, Zbar, gtheta);
}

/* ---- plain-loop reference version --------------------------------------------------------- */

/* The same formulas as above with each dot product summed in index order: no BLAS, nothing
 * clever, so that a test can trust it. */
static void mlp_hidden_ref(const mlp_parts *p, double t, const double *Z, double *Hh)
{
    for (size_t i = 0; i < p->B; i++) {
        for (size_t j = 0; j < p->H; j++) {
            double s = 0;
            for (size_t k = 0; k < p->D; k++) {
                s += Z[i * p->D + k] * p->W1[j * p->Din + k];
            }
            Hh[i * p->H + j] = tanh(mlp_bias1(p, t, j) + s);
        }
    }
}

/* F = f(t, Z), the activations left in Hh (B, H). */
static int mlp_f_ref_hidden(odg_model *m, double t, const double *Z, double *F, double *Hh)
{
    mlp_parts p = mlp_unpack(m);
    mlp_hidden_ref(&p, t, Z, Hh);
    for (size_t i = 0; i < p.B; i++) {
        for (size_t j = 0; j < p.D; j++) {
            double s = 0;
            for (size_t h = 0; h < p.H; h++) {
                s += Hh[i * p.H + h] * p.W2[j * p.H + h];
            }
            F[i * p.D + j] = p.b2[j] + s;
        }
    }
    return 0;
}

static int mlp_f_ref(odg_model *m, double t, const double *Z, double *F)
{
    return mlp_f_ref_hidden(m, t, Z, F, ((mlp_impl *)m->impl)->Hh);
}

static int mlp_f_act_ref(odg_model *m, double t, const double *Z, double *F, double *A)
{
    return mlp_f_ref_hidden(m, t, Z, F, A);
}

/* A: the activations f_act wrote at (t, Z), or NULL to recompute them. */
static int mlp_vjp_ref_hidden(odg_model *m, double t, const double *Z, const double *A,
                              const double *G, double *Zbar, double *gtheta)
{
    mlp_parts p = mlp_unpack(m);
    mlp_impl *w = m->impl;
    double *gW1 = gtheta + m->view[0].offset, *gb1 = gtheta + m->view[1].offset;
    double *gW2 = gtheta + m->view[2].offset, *gb2 = gtheta + m->view[3].offset;
    double *Gu = w->Gu;
    const double *Hh = A;
    const size_t B = p.B, D = p.D, H = p.H, Din = p.Din;

    if (A == NULL) {
        mlp_hidden_ref(&p, t, Z, w->Hh);
        Hh = w->Hh;
    }
    for (size_t j = 0; j < D; j++) { // gW2 += G^T Hh
        for (size_t h = 0; h < H; h++) {
            double s = 0;
            for (size_t i = 0; i < B; i++) {
                s += G[i * D + j] * Hh[i * H + h];
            }
            gW2[j * H + h] += s;
        }
    }
    odg_colsum_add(G, B, D, gb2);
    for (size_t i = 0; i < B; i++) { // Gu = (G W2) .* (1 - Hh^2)
        for (size_t h = 0; h < H; h++) {
            double s = 0;
            for (size_t j = 0; j < D; j++) {
                s += G[i * D + j] * p.W2[j * H + h];
            }
            Gu[i * H + h] = s * (1.0 - Hh[i * H + h] * Hh[i * H + h]);
        }
    }
    for (size_t h = 0; h < H; h++) { // gW1[:, :D] += Gu^T Z
        for (size_t k = 0; k < D; k++) {
            double s = 0;
            for (size_t i = 0; i < B; i++) {
                s += Gu[i * H + h] * Z[i * D + k];
            }
            gW1[h * Din + k] += s;
        }
    }
    mlp_bias1_grad(&p, t, Gu, gW1, gb1);
    for (size_t i = 0; i < B; i++) { // Zbar = Gu W1[:, :D]
        for (size_t k = 0; k < D; k++) {
            double s = 0;
            for (size_t h = 0; h < H; h++) {
                s += Gu[i * H + h] * p.W1[h * Din + k];
            }
            Zbar[i * D + k] = s;
        }
    }
    return 0;
}

static int mlp_vjp_ref(odg_model *m, double t, const double *Z, const double *G, double *Zbar,
                       double *gtheta)
{
    return mlp_vjp_ref_hidden(m, t, Z, NULL, G, Zbar, gtheta);
}

static int mlp_vjp_act_ref(odg_model *m, double t, const double *Z, const double *A,
                           const double *G, double *Zbar, double *gtheta)
{
    return mlp_vjp_ref_hidden(m, t, Z, A, G, Zbar, gtheta);
}

/* ---- create, destroy, init ---------------------------------------------------------------- */

static void mlp_destroy(odg_model *m)
{
    mlp_impl *w = m->impl;
    if (w == NULL) {
        return;
    }
    odg_mem_free(m->mem, w->Hh);
    odg_mem_free(m->mem, w->Gu);
    odg_mem_free(m->mem, w); /* the partials with it */
    m->impl = NULL;
}

/* The impl struct's bytes rounded up to a cache line, where the partials start. */
#define IMPL_HEAD ((sizeof(mlp_impl) + 63) / 64 * 64)

static const odg_model_ops mlp_blas_ops = {mlp_f_blas, mlp_vjp_blas, mlp_destroy, mlp_f_act_blas,
                                           mlp_vjp_act_blas};
static const odg_model_ops mlp_ref_ops = {mlp_f_ref, mlp_vjp_ref, mlp_destroy, mlp_f_act_ref,
                                          mlp_vjp_act_ref};

odg_status odg_mlp_create(odg_model *m)
{
    const odg_model_opts *o = &m->opts;
    const size_t D = m->D, B = m->B, H = o->H;
    if (H < 1 || H > INT_MAX || (o->time_input != 0 && o->time_input != 1) ||
        D > (size_t)INT_MAX - (size_t)o->time_input) { /* Din is a BLAS int too */
        return ODG_EINVAL;
    }
    const size_t Din = D + (size_t)o->time_input;
    const size_t maxn = SIZE_MAX / sizeof(double);
    if (H > maxn / Din || H > maxn / D || H > maxn / B) { /* W1, W2, Hh and Gu */
        return ODG_EINVAL;
    }
    const size_t nW1 = H * Din, nW2 = D * H;
    if (nW1 > maxn - H || nW1 + H > maxn - nW2 || nW1 + H + nW2 > maxn - D) { /* P */
        return ODG_EINVAL;
    }
    /* the BLAS version's partials, nchunks x P, share the impl's block */
    const size_t P = nW1 + H + nW2 + D, nch = m->nchunks;
    if (!o->reference && (P > (maxn - IMPL_HEAD / sizeof(double)) / nch)) {
        return ODG_EINVAL;
    }
    m->nviews = 4;
    m->view[0] = (odg_param_view){"W1", 0, H, Din};
    m->view[1] = (odg_param_view){"b1", nW1, H, 1};
    m->view[2] = (odg_param_view){"W2", nW1 + H, D, H};
    m->view[3] = (odg_param_view){"b2", nW1 + H + nW2, D, 1};
    m->P = nW1 + H + nW2 + D;

    const size_t npart = o->reference ? 0 : nch * P;
    /* with libxsmm, W1[:, :D]^T and W2^T after the partials (mlp_xsmm_prepare): 2 D H more,
     * where its kernels will run: chunked or auto BLAS mode, and the six GEMMs' kernels (each of
     * rows x H x D numbers of work, rows = one chunk) within XSMM_MAX_MNK */
    size_t nwt = 0;
#ifdef ODG_HAVE_XSMM
    const double rows = (double)(m->chunk < B ? m->chunk : B);
    if (!o->reference && m->blas != ODG_BLAS_THREADED && rows * (double)H * (double)D <= XSMM_MAX_MNK) {
        nwt = 2 * D * H;
        libxsmm_init();
    }
#endif
    /* the thin version (D <= THIN_MAX_D, not THREADED) instead: W1[:, :D]^T and the hidden bias
     * (D H + H), then each chunk's scratch (D H + THIN_ROWS H); no libxsmm, and no Gu (B, H) */
    const int thin = !o->reference && D <= THIN_MAX_D && m->blas != ODG_BLAS_THREADED;
    const size_t room = maxn - IMPL_HEAD / sizeof(double) - npart;
    size_t nthin = 0;
    if (thin) {
        nwt = 0;
        if (H > room / (D + THIN_ROWS) / (nch + 1)) {
            return ODG_EINVAL;
        }
        nthin = (D + 1) * H + nch * (D + THIN_ROWS) * H;
    }
    if (nwt > room) {
        return ODG_EINVAL;
    }
    mlp_impl *w = odg_mem_alloc(m->mem, ODG_TAG_MODEL,
                                IMPL_HEAD + (npart + nwt + nthin) * sizeof(double));
    if (w == NULL) {
        return ODG_ENOMEM;
    }
    w->gpart = o->reference ? NULL : (double *)((unsigned char *)w + IMPL_HEAD);
    w->W1t = nwt ? w->gpart + npart : NULL;
    w->W2t = nwt ? w->W1t + D * H : NULL;
    w->c = NULL;
    w->thin = NULL;
    if (thin) {
        w->W1t = w->gpart + npart;
        w->c = w->W1t + D * H;
        w->thin = w->c + H;
    }
    w->Hh = odg_mem_doubles(m->mem, ODG_TAG_MODEL, B * H);
    w->Gu = thin ? NULL : odg_mem_doubles(m->mem, ODG_TAG_MODEL, B * H);
    if (w->Hh == NULL || (!thin && w->Gu == NULL)) {
        goto fail;
    }
    m->impl = w;
    m->ops = o->reference ? &mlp_ref_ops : &mlp_blas_ops;
    return ODG_OK;

fail:
    odg_mem_free(m->mem, w->Hh);
    odg_mem_free(m->mem, w->Gu);
    odg_mem_free(m->mem, w);
    return ODG_ENOMEM;
}

/* W1 ~ N(0, g^2/Din), b1 = 0.1, W2 ~ N(0, g^2/H), b2 = 0.1, drawn in view order, row-major. */
odg_status odg_mlp_init(odg_model *m, odg_rng *rng)
{
    const double g = m->opts.gain;
    for (int v = 0; v < m->nviews; v++) {
        const odg_param_view *pv = &m->view[v];
        double *x = m->theta + pv->offset;
        size_t n = pv->rows * pv->cols;
        if (v == 0 || v == 2) {
            /* fan-in: W1 (H, Din) has Din inputs per row, W2 (D, H) has H */
            odg_rng_fill_normal(rng, x, n, 0.0, g / sqrt((double)pv->cols));
        } else {
            for (size_t k = 0; k < n; k++) {
                x[k] = 0.1;
            }
        }
    }
    return ODG_OK;
}
