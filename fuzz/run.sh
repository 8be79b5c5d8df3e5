#!/bin/sh
# Fuzzes the sweep-file parser (`make fuzz`): builds fuzz/fuzz_sweep.c with clang, libFuzzer,
# AddressSanitizer and UBSan into BUILD (the whole library sanitized and coverage-instrumented:
# CMake option ODG_FUZZ), then runs it for SECONDS over a working corpus, BUILD/corpus, that
# starts from the seeds and regression inputs of tests/data/sweep/ (never written to) and keeps
# what libFuzzer adds between runs.  A crash, leak, hang or broken contract stops it with a
# non-zero status and leaves the input in BUILD/artifacts/; replay one with
#   BUILD/fuzz_sweep BUILD/artifacts/crash-...
# and, once fixed, copy it into tests/data/sweep/ under a name saying what it tests.
#
# Usage: fuzz/run.sh [BUILD [SECONDS [libFuzzer flags...]]]   (defaults: build-fuzz 60)
# Needs clang and its runtimes, which `make deps` does not install (fuzzing is optional):
#   apt-get install clang libclang-rt-14-dev libomp-dev
set -eu

build=${1:-build-fuzz}
seconds=${2:-60}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/.."

if ! command -v clang > /dev/null 2>&1; then
    echo "make fuzz needs clang with libFuzzer: apt-get install clang libclang-rt-14-dev libomp-dev" >&2
    exit 1
fi
# libFuzzer's runtime comes with libclang-rt-NN-dev, a recommendation of clang that
# --no-install-recommends leaves out
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" > "$probe/log" 2>&1; then
    echo "make fuzz: clang cannot link libFuzzer (apt-get install libclang-rt-14-dev):" >&2
    cat "$probe/log" >&2
    exit 1
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DODG_FUZZ=ON -DODG_SANITIZE=ON
fi
cmake --build "$build" --target fuzz_sweep -j "$(nproc 2>/dev/null || echo 2)"

mkdir -p "$build/corpus" "$build/artifacts"
for f in tests/data/sweep/*; do
    [ "$(basename "$f")" = README ] || cp "$f" "$build/corpus/"
done
# A hang is an input that takes more than -timeout seconds (the 90000-configuration seed takes
# a few under the sanitizers); a leak stops the run like a crash (libFuzzer's default).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
echo "fuzz: $build/fuzz_sweep for ${seconds}s over $build/corpus ($(ls "$build/corpus" | wc -l) inputs)"
"$build/fuzz_sweep" -max_len=4096 -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
    -dict=fuzz/sweep.dict -artifact_prefix="$build/artifacts/" -print_final_stats=1 "$@" \
    "$build/corpus"
