#!/bin/sh
# Runs the micro-benchmarks (bench/, Google Benchmark) at one thread and at every core, and
# writes their JSON to results/bench/<host>-<date>-t<threads>.json (`make bench`).  About two
# minutes on a two-core machine.  The one-thread run is the one the roofline fractions of the
# performance targets are read from (DGEMM rate at the model's shapes on one core).
#
# Usage: scripts/bench.sh [BUILD] [extra odegrad_bench flags...]
#   BUILD defaults to build; flags go to Google Benchmark, e.g. --benchmark_filter=model/ or
#   --odg_targets (every method at the medium size with N = 256, a few minutes more).
set -eu

build=${1:-build}
[ $# -gt 0 ] && shift
case $build in
    /*) ;;
    *) build=$PWD/$build ;;
esac
cd "$(dirname "$0")/.."

bin=$build/bench/odegrad_bench
if [ ! -x "$bin" ]; then
    echo "bench.sh: $bin is not built (Google Benchmark, libbenchmark-dev, is needed; make)" >&2
    exit 2
fi
mkdir -p results/bench
host=$(hostname -s 2>/dev/null || hostname)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
cores=$(nproc 2>/dev/null || echo 1)

threads=1
[ "$cores" -gt 1 ] && threads="1 $cores"
for t in $threads; do
    out=results/bench/$host-$stamp-t$t.json
    echo "bench.sh: OMP_NUM_THREADS=$t -> $out"
    # min_time is per benchmark: 0.05 s keeps the ~60 of them (and the memory manager's extra
    # run of each) within the time above; the slow gradients run once or twice regardless.
    OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$bin" --benchmark_min_time=0.05 \
        --benchmark_out="$out" --benchmark_out_format=json "$@"
done
