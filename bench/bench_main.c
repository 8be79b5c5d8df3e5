/* odegrad_bench: the micro-benchmarks (bench.h).  Google Benchmark's own flags apply
 * (--benchmark_filter, --benchmark_min_time, --benchmark_out ...); one of ours:
 *   --odg_targets   also run every method at the medium size with N = 256 (slow: about a minute
 *                   on one core), the configuration of the performance targets.
 * The thread count is OMP_NUM_THREADS as the process starts (scripts/bench.sh runs it at 1 and
 * at all cores); it goes in the results' context with the OpenBLAS build. */
#include "bench_common.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    int targets = 0, n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--odg_targets") == 0) {
            targets = 1;
        } else {
            argv[n++] = argv[i];
        }
    }
    argv[n] = NULL;
    char buf[64];
    snprintf(buf, sizeof buf, "%d", omp_get_max_threads());
    odg_bench_add_context("omp_threads", buf);
    snprintf(buf, sizeof buf, "%d", openblas_get_num_threads());
    odg_bench_add_context("openblas_threads", buf);
    const char *cfg = openblas_get_config();
    odg_bench_add_context("openblas_config", cfg ? cfg : "unknown");
    snprintf(buf, sizeof buf, "%d", ODG_BATCH_CHUNK);
    odg_bench_add_context("batch_chunk", buf);
    bench_register_models();
    bench_register_steps();
    bench_register_gradients(targets);
    return odg_bench_main(n, argv);
}
