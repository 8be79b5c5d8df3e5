#!/bin/sh
# Fuzzes the parsers of what odegrad reads (`make fuzz`): the sweep file (fuzz/fuzz_sweep.c), the
# .npy reader (fuzz/fuzz_npy.c) and the command line (fuzz/fuzz_argv.c).  Builds them with
# clang, libFuzzer, AddressSanitizer and UBSan into BUILD (the whole library sanitized and
# coverage-instrumented: CMake option ODG_FUZZ), then runs each for SECONDS over a working
# corpus, BUILD/corpus-TARGET, that starts from the seeds and regression inputs of
# tests/data/TARGET/ (never written to) and keeps what libFuzzer adds between runs.  A crash,
# leak, hang or broken contract stops it with a non-zero status and leaves the input in
# BUILD/artifacts/; replay one with
#   BUILD/fuzz_TARGET BUILD/artifacts/crash-...
# and, once fixed, copy it into tests/data/TARGET/ under a name saying what it tests (make test
# replays those directories: tests/test_*_corpus.c).
#
# Usage: fuzz/run.sh [BUILD [SECONDS [libFuzzer flags...]]]   (defaults: build-fuzz 60)
# FUZZ_TARGETS="sweep npy argv" (the default) chooses the targets; SECONDS is each one's.
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
targets=${FUZZ_TARGETS:-sweep npy argv}
for t in $targets; do
    cmake --build "$build" --target "fuzz_$t" -j "$(nproc 2>/dev/null || echo 2)"
done

# A hang is an input that takes more than -timeout seconds (the 90000-configuration seed takes
# a few under the sanitizers); a leak stops the run like a crash (libFuzzer's default).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$build/artifacts"
for t in $targets; do
    corpus=$build/corpus-$t
    mkdir -p "$corpus"
    for f in tests/data/"$t"/*; do
        [ "$(basename "$f")" = README ] || cp "$f" "$corpus/"
    done
    dict=
    [ -f "fuzz/$t.dict" ] && dict=-dict=fuzz/$t.dict
    # the command-line parser prints its messages and --help: the target's output is closed
    quiet=
    [ "$t" = argv ] && quiet=-close_fd_mask=3
    echo "fuzz: $build/fuzz_$t for ${seconds}s over $corpus ($(ls "$corpus" | wc -l) inputs)"
    "$build/fuzz_$t" -max_len=4096 -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
        $dict $quiet -artifact_prefix="$build/artifacts/$t-" -print_final_stats=1 "$@" "$corpus"
done
