/* odegrad_bench: the micro-benchmarks (bench.h).  Google Benchmark's own flags apply
 * (--benchmark_filter, --benchmark_min_time, --benchmark_out ...); one of ours:
 *   --odg_targets   also run every method at the medium size with N = 256 (slow: about a minute
 *                   on one core), the configuration of the performance targets
 *                   (experiments/targets.ini).
 * The thread count is OMP_NUM_THREADS as the process starts (scripts/bench.sh runs it at 1 and
 * at all cores); it goes in the results' context with the OpenBLAS build. */
#include "bench_common.h"
#include "odegrad/harness.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    /* Google Benchmark's flags, with our defaults first so that the user's, parsed later, win:
     * untimed iterations before the timed ones (at least one), as `odegrad run --warmup 1`, since
     * the first gradient of a process pays for first-touch page faults, the OpenMP team and
     * OpenBLAS's buffers. */
    static char warmup[] = "--benchmark_min_warmup_time=0.001";
    char **args = malloc(((size_t)argc + 2) * sizeof *args);
    if (args == NULL) {
        fprintf(stderr, "odegrad_bench: out of memory\n");
        return 1;
    }
    int targets = 0, n = 0;
    args[n++] = argv[0];
    args[n++] = warmup;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--odg_targets") == 0) {
            targets = 1;
        } else {
            args[n++] = argv[i];
        }
    }
    args[n] = NULL;
    odg_malloc_retain(); /* as the run's child does: iterations reuse the previous one's memory */
    odg_bench_add_context("odegrad_commit", odg_git_commit());
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
    const int rc = odg_bench_main(n, args);
    free(args);
    return rc;
}
