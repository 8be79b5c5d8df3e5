/* odegrad's micro-benchmarks: a C API over Google Benchmark (wrapper.cc), so that the benchmark
 * bodies stay in C like the rest of the suite (README.md, "Layout", bench/).  A body is
 *
 *     static void body(odg_bench_state *st, const void *arg)
 *     {
 *         ...set up, untimed...
 *         while (odg_bench_keep_running(st)) {
 *             ...the thing measured...
 *         }
 *         odg_bench_set_counter(st, "FLOP/s", flops_per_iteration, ODG_BENCH_RATE);
 *         ...tear down...
 *     }
 *
 * registered with odg_bench_register before odg_bench_main runs them.  Benchmarks never assert: a
 * body that cannot run calls odg_bench_skip and returns.
 */
#ifndef ODEGRAD_BENCH_H
#define ODEGRAD_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct odg_bench_state odg_bench_state; /* a benchmark::State */
typedef void (*odg_bench_fn)(odg_bench_state *st, const void *arg);

/* Registers fn under name (copied); arg is passed through and must outlive odg_bench_main.  Every
 * benchmark measures wall-clock time (the work runs on several threads) in milliseconds.  With
 * manual != 0 the body reports each iteration's time itself (odg_bench_set_iteration_time). */
void odg_bench_register(const char *name, odg_bench_fn fn, const void *arg, int manual);

/* The timing loop: true while more iterations are wanted. */
int odg_bench_keep_running(odg_bench_state *st);
/* Iterations run so far. */
int64_t odg_bench_iterations(const odg_bench_state *st);
/* Stops and restarts the clock inside the loop (for per-iteration set-up). */
void odg_bench_pause(odg_bench_state *st);
void odg_bench_resume(odg_bench_state *st);
/* With manual timing: the time of the iteration just run. */
void odg_bench_set_iteration_time(odg_bench_state *st, double seconds);

enum {
    ODG_BENCH_PLAIN = 0, /* reported as given */
    ODG_BENCH_RATE = 1   /* value per iteration; reported per second of the measured time */
};
/* A named counter in the results (set it after the loop). */
void odg_bench_set_counter(odg_bench_state *st, const char *name, double value, int flags);
/* Bytes touched per iteration, reported as bytes_per_second. */
void odg_bench_set_bytes(odg_bench_state *st, double bytes_per_iteration);
void odg_bench_set_label(odg_bench_state *st, const char *label);
/* Marks the benchmark as failed with msg (shown in the results); the body must then return
 * without entering (or leave) the loop. */
void odg_bench_skip(odg_bench_state *st, const char *msg);

/* The counting allocator's figures for this benchmark: the accounted peak in bytes and the number
 * of allocations made inside the timing loop (0 for f, the VJP and a step: nothing allocates
 * there).  The peak is set as the counter "peak_bytes", and both go to Google Benchmark's memory
 * manager, whose extra run (at most 16 iterations) puts them in the results as max_bytes_used and
 * allocs_per_iter (the count divided by that run's iterations); with --benchmark_repetitions > 1
 * the memory manager is off (a Google Benchmark 1.7 bug, wrapper.cc) and only the counter stays. */
void odg_bench_report_memory(odg_bench_state *st, size_t peak_bytes, long nalloc);

/* A key-value pair for the results' context block (machine, build, threads). */
void odg_bench_add_context(const char *key, const char *value);

/* Parses Google Benchmark's flags (--benchmark_filter, --benchmark_min_time, --benchmark_out,
 * ...), runs the registered benchmarks and returns 0, or 1 on an unknown flag. */
int odg_bench_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
