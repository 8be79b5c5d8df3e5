// The C API of bench.h over Google Benchmark (1.7): registration, the state loop, counters, and
// a memory manager that reports odegrad's accounted peak instead of counting malloc calls.
// Nothing here throws into C: Google Benchmark reports errors through the state.
#include "bench.h"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace
{

benchmark::State &S(odg_bench_state *st)
{
    return *reinterpret_cast<benchmark::State *>(st);
}

const benchmark::State &S(const odg_bench_state *st)
{
    return *reinterpret_cast<const benchmark::State *>(st);
}

// What the body of the memory manager's run reported (odg_bench_report_memory).  The memory
// manager's Start and Stop see no state, so the report goes through this one slot; benchmarks
// run one at a time, so one slot is enough.
struct MemoryReport {
    bool have = false;
    int64_t peak = 0, nalloc = 0;
} g_report;

// Google Benchmark runs each benchmark once more between Start and Stop (with at most 16
// iterations) and puts Stop's figures in the results.  A malloc-counting manager would count
// OpenBLAS's buffers and miss nothing we care about; odegrad's own counting allocator already
// knows the exact accounted peak, so that is what is reported.
class AccountedPeak : public benchmark::MemoryManager
{
  public:
    void Start() override
    {
        g_report = MemoryReport();
    }
    void Stop(Result *result) override
    {
        if (g_report.have) {
            result->max_bytes_used = g_report.peak;
            result->num_allocs = g_report.nalloc;
        }
    }
};

AccountedPeak g_manager;

// Google Benchmark up to 1.9.1 (Debian's is 1.7.1) keeps each repetition's memory result in a
// std::vector and hands the reporters pointers into it (benchmark_runner.cc, memory_results), so
// with --benchmark_repetitions > 1 a later push_back leaves the earlier pointers dangling and the
// JSON reporter reads freed memory (seen here as a crash in JSONReporter::PrintRunData; fixed
// upstream by google/benchmark#1941).  So with repetitions the memory manager is left out; the
// peak_bytes counter still carries the accounted peak.
int repetitions(int argc, char **argv)
{
    int reps = 1;
    if (const char *env = std::getenv("BENCHMARK_REPETITIONS")) {
        reps = std::atoi(env);
    }
    const char *flag = "--benchmark_repetitions=";
    for (int i = 1; i < argc; i++) {
        if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) {
            reps = std::atoi(argv[i] + std::strlen(flag));
        }
    }
    return reps;
}

} // namespace

extern "C" {

void odg_bench_register(const char *name, odg_bench_fn fn, const void *arg, int manual)
{
    benchmark::internal::Benchmark *b =
        benchmark::RegisterBenchmark(name, [fn, arg](benchmark::State &st) {
            fn(reinterpret_cast<odg_bench_state *>(&st), arg);
        });
    b->Unit(benchmark::kMillisecond);
    if (manual) {
        b->UseManualTime();
    } else {
        b->UseRealTime();
    }
}

int odg_bench_keep_running(odg_bench_state *st)
{
    return S(st).KeepRunning() ? 1 : 0;
}

int64_t odg_bench_iterations(const odg_bench_state *st)
{
    return static_cast<int64_t>(S(st).iterations());
}

void odg_bench_pause(odg_bench_state *st)
{
    S(st).PauseTiming();
}

void odg_bench_resume(odg_bench_state *st)
{
    S(st).ResumeTiming();
}

void odg_bench_set_iteration_time(odg_bench_state *st, double seconds)
{
    S(st).SetIterationTime(seconds);
}

void odg_bench_set_counter(odg_bench_state *st, const char *name, double value, int flags)
{
    const benchmark::Counter::Flags f = flags == ODG_BENCH_RATE
                                            ? benchmark::Counter::kIsIterationInvariantRate
                                            : benchmark::Counter::kDefaults;
    S(st).counters[name] = benchmark::Counter(value, f);
}

void odg_bench_set_bytes(odg_bench_state *st, double bytes_per_iteration)
{
    S(st).SetBytesProcessed(static_cast<int64_t>(bytes_per_iteration) *
                            static_cast<int64_t>(S(st).iterations()));
}

void odg_bench_set_label(odg_bench_state *st, const char *label)
{
    S(st).SetLabel(label);
}

void odg_bench_skip(odg_bench_state *st, const char *msg)
{
    S(st).SkipWithError(msg);
}

void odg_bench_report_memory(odg_bench_state *st, size_t peak_bytes, long nalloc)
{
    S(st).counters["peak_bytes"] = benchmark::Counter(static_cast<double>(peak_bytes));
    g_report.have = true;
    g_report.peak = static_cast<int64_t>(peak_bytes);
    g_report.nalloc = static_cast<int64_t>(nalloc);
}

void odg_bench_add_context(const char *key, const char *value)
{
    benchmark::AddCustomContext(key, value);
}

int odg_bench_main(int argc, char **argv)
{
    const bool manage = repetitions(argc, argv) <= 1;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    if (manage) {
        benchmark::RegisterMemoryManager(&g_manager);
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::RegisterMemoryManager(nullptr);
    benchmark::Shutdown();
    return 0;
}

} // extern "C"
