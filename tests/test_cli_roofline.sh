#!/usr/bin/env bash
# `odegrad roofline`: --json prints one JSON object with the shapes, the thread counts, the
# model's flops per f and VJP (docs/theory.md section 9: mlp 4 B D H and 10 B D H, linear 2 B D^2
# and 4 B D^2), positive rates (the roofline the faster of the threaded and chunked ways) and
# their quotient; the text names the same shapes; --threads
# sets both thread counts; --help exits 0.  Rates are measured with --min-time 0 (three calls
# after a warm-up) and only checked to be positive: tests never time.  Bad input is in
# test_cli_badinput.sh.
#
# usage: bash test_cli_roofline.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_cli_roofline.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"

# fields JSON MODEL D H B THREADS: the object has every field, with these values.
fields() {
    python3 - "$@" << 'EOF'
import json, sys
path, model, D, H, B, T = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
lines = open(path).read().splitlines()
assert len(lines) == 1, "not one line: %r" % lines
o = json.loads(lines[0])
want = ["model", "D", "H", "B", "P", "batch_chunk", "threads", "blas_threads", "min_time_s",
        "f_flops", "vjp_flops", "roofline_gflops", "threaded_gflops", "chunked_gflops", "square_n",
        "square_gflops", "fraction_of_square"]
assert list(o) == want, list(o)
assert (o["model"], o["D"], o["H"], o["B"]) == (model, D, H, B), o
assert o["threads"] == T and o["blas_threads"] == T, o
f, v = (4 * B * D * H, 10 * B * D * H) if model == "mlp" else (2 * B * D * D, 4 * B * D * D)
assert (o["f_flops"], o["vjp_flops"]) == (f, v), o
assert o["roofline_gflops"] > 0 and o["square_gflops"] > 0 and o["square_n"] > 0, o
# the roofline is the faster of the two ways of running the GEMMs
assert o["roofline_gflops"] == max(o["threaded_gflops"], o["chunked_gflops"]), o
assert o["batch_chunk"] == (2 if B == 7 else 64), o
assert o["fraction_of_square"] == o["roofline_gflops"] / o["square_gflops"], o
assert o["min_time_s"] == 0, o
EOF
}

"$BIN" roofline --model mlp --dim 3 --hidden 5 --batch 7 --batch-chunk 2 --min-time 0 --json \
    > "$W/mlp.json" && pass || fail "roofline mlp --json"
fields "$W/mlp.json" mlp 3 5 7 1 && pass || fail "the mlp JSON object"
"$BIN" roofline --model linear --dim 4 --batch 6 --threads 2 --min-time 0 --json \
    > "$W/lin.json" && pass || fail "roofline linear --json --threads 2"
fields "$W/lin.json" linear 4 0 6 2 && pass || fail "the linear JSON object (2 threads)"

"$BIN" roofline --dim 3 --hidden 5 --batch 7 --min-time 0 > "$W/text" && pass ||
    fail "roofline (text)"
grep -q "^mlp D=3 H=5 B=7 " "$W/text" && grep -q "GFLOP/s at the model's shapes" "$W/text" &&
    grep -q "GFLOP/s at 1024 x 1024 x 1024" "$W/text" && pass ||
    fail "the text does not name the shapes and both rates: $(cat "$W/text")"

"$BIN" roofline --help > "$W/help" && grep -q -- "--min-time" "$W/help" && pass ||
    fail "roofline --help"
"$BIN" --help | grep -q "^  roofline " && pass || fail "odegrad --help does not list roofline"

summary
