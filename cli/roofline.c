/* `odegrad roofline`: this machine's DGEMM rate at a model's shapes (odg_roofline_model), the
 * model's flops per f and VJP evaluation (odg_model_flops), and for reference the rate at one
 * large square GEMM, so that a user sees how far the model's shapes are from the machine's
 * peak.  docs/theory.md section 9.  A run records the same measurement as its roofline_gflops column,
 * made in the run's measuring child with the run's threads.
 *
 * The problem is built as `odegrad run` builds it (odg_run_prepare: the same checks and
 * messages, the same memory guard); nothing is written. */
#include "cli.h"

#include <cblas.h>
#include <jansson.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* The square GEMM of the reference rate: 1024^3 is 2.1 GFLOP, large enough for OpenBLAS's peak
 * on one core or many, and 24 MiB of operands. */
#define SQUARE_N 1024

void odg_cli_roofline_usage(FILE *f)
{
    fprintf(f,
            "Usage: odegrad roofline [FLAGS]\n\n"
            "Measures this machine's DGEMM rate at a model's shapes: the GEMMs of one f and "
            "one VJP\n(docs/theory.md section 9), over the whole batch with OpenBLAS threading each "
            "GEMM and in\nbatch chunks with one thread each; the faster is the roofline.  For "
            "reference also the\nrate of one %d x %d x %d GEMM.  Prints them with the "
            "model's flops per f and VJP\nevaluation.  `odegrad run` records the same "
            "rate as its roofline_gflops column.\n\n",
            SQUARE_N, SQUARE_N, SQUARE_N);
    odg_cli_flags_usage(f, "roofline");
    odg_cli_opt(f, "--min-time SECONDS",
                "time each rate for at least this long, and at least 3 calls after a warm-up "
                "(0.5)");
    odg_cli_opt(f, "--json", "print one JSON object instead of the text");
    odg_cli_opt(f, "--help", "this text");
    fprintf(f, "\nExit status: 0 ok; 1 the rates could not be measured; 2 bad input.\n");
}

/* A flop count with its unit. */
static void flops_str(double x, char *buf, size_t cap)
{
    if (x >= 1e9) {
        snprintf(buf, cap, "%.4g GFLOP", x * 1e-9);
    } else if (x >= 1e6) {
        snprintf(buf, cap, "%.4g MFLOP", x * 1e-6);
    } else {
        snprintf(buf, cap, "%.4g kFLOP", x * 1e-3);
    }
}

typedef struct roofline_result {
    const odg_model *m;
    int threads, blas_threads;
    double min_time, f_flops, vjp_flops, square_gflops;
    odg_roofline rate;
} roofline_result;

static char *result_json(const roofline_result *q)
{
    const odg_model *m = q->m;
    const double g = q->rate.gflops;
    json_t *o = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:f, s:f}",
        "model", odg_model_kind_name(m->opts.kind), "D", (json_int_t)m->D, "H",
        (json_int_t)m->opts.H, "B", (json_int_t)m->B, "P", (json_int_t)m->P, "batch_chunk",
        (json_int_t)m->chunk, "threads", q->threads, "blas_threads", q->blas_threads, "min_time_s",
        q->min_time, "f_flops", q->f_flops, "vjp_flops", q->vjp_flops, "roofline_gflops", g,
        "threaded_gflops", q->rate.threaded_gflops, "chunked_gflops", q->rate.chunked_gflops,
        "square_n", SQUARE_N, "square_gflops", q->square_gflops, "fraction_of_square",
        g / q->square_gflops);
    if (!o) {
        return NULL;
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

static void print_result(const roofline_result *q)
{
    const odg_model *m = q->m;
    char f[32], v[32];
    printf("%s D=%zu", odg_model_kind_name(m->opts.kind), m->D);
    if (m->opts.kind == ODG_MODEL_MLP) {
        printf(" H=%zu", m->opts.H);
    }
    printf(" B=%zu (P=%zu), %d thread%s (OpenBLAS %d)\n", m->B, m->P, q->threads,
           q->threads == 1 ? "" : "s", q->blas_threads);
    flops_str(q->f_flops, f, sizeof f);
    flops_str(q->vjp_flops, v, sizeof v);
    printf("  flops    f %s, VJP %s per evaluation (GEMMs only)\n", f, v);
    printf("  DGEMM    %.3g GFLOP/s at the model's shapes (one f and one VJP), the faster of\n",
           q->rate.gflops);
    printf("             %.3g whole batch, OpenBLAS threading each GEMM (threaded mode)\n",
           q->rate.threaded_gflops);
    printf("             %.3g in %zu-row chunks, one thread each (chunked mode)\n",
           q->rate.chunked_gflops, m->chunk);
    printf("  square   %.3g GFLOP/s at %d x %d x %d: the model's shapes reach %.0f%% of it\n",
           q->square_gflops, SQUARE_N, SQUARE_N, SQUARE_N, 100 * q->rate.gflops / q->square_gflops);
    printf("  timed    at least %g s and 3 calls each, after a warm-up call\n", q->min_time);
}

int odg_cli_roofline(int argc, char **argv)
{
    odg_cli_run_opts o;
    int rc = odg_cli_parse_run("roofline", argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? ODG_EXIT_OK : rc;
    }
    o.cfg.mem_limit = ODG_MEM_NONE; /* no --mem-limit here: the machine's memory is the cap */
    if (o.cfg.model.kind != ODG_MODEL_MLP && o.cfg.model.kind != ODG_MODEL_LINEAR) {
        fprintf(stderr, "odegrad roofline: --model %s: the roofline knows the GEMM shapes of mlp "
                "and linear only\n", odg_model_kind_name(o.cfg.model.kind));
        return ODG_EXIT_USAGE;
    }
    char err[ODG_ERRLEN];
    odg_run *r = NULL;
    if (odg_run_prepare(&r, &o.cfg, err) != ODG_OK) {
        fprintf(stderr, "odegrad roofline: %s\n", err);
        return ODG_EXIT_USAGE;
    }
    /* OpenBLAS would spin on a buffer it cannot have (ulimit -v): refused instead, counting the
     * square GEMM's three operands */
    if (odg_address_space_check(o.cfg.threads, 3.0 * SQUARE_N * SQUARE_N * sizeof(double), err) !=
        ODG_OK) {
        odg_run_destroy(&r);
        fprintf(stderr, "odegrad roofline: %s\n", err);
        return ODG_EXIT_FAIL;
    }
    /* this process forks nothing after, so it may run its own threads (odg_run_prepare) */
    if (o.cfg.threads > 0) {
        omp_set_num_threads(o.cfg.threads);
        openblas_set_num_threads(o.cfg.threads);
    }
    roofline_result q = {.m = odg_run_model(r), .min_time = o.min_time};
    q.threads = omp_get_max_threads();
    q.blas_threads = openblas_get_num_threads();
    odg_model_flops(q.m, &q.f_flops, &q.vjp_flops);
    const odg_status st = odg_roofline_model_detail(q.m, o.min_time, &q.rate);
    q.square_gflops =
        st == ODG_OK ? odg_roofline_dgemm(SQUARE_N, SQUARE_N, SQUARE_N, o.min_time) : 0.0;
    rc = ODG_EXIT_OK;
    if (st != ODG_OK || !(q.square_gflops > 0)) {
        fprintf(stderr, "odegrad roofline: the GEMMs could not be timed (out of memory)\n");
        rc = ODG_EXIT_FAIL;
    } else if (o.json) {
        char *s = result_json(&q);
        if (!s) {
            fprintf(stderr, "odegrad roofline: cannot format the JSON\n");
            rc = ODG_EXIT_FAIL;
        } else {
            printf("%s\n", s);
            free(s);
        }
    } else {
        print_result(&q);
    }
    odg_run_destroy(&r);
    if (fflush(stdout) != 0) {
        rc = ODG_EXIT_FAIL;
    }
    return rc;
}
