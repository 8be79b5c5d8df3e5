#!/usr/bin/env bash
# `odegrad run --from FILE:LINE`: a row of a results file run again.  With no other flag the
# rerun records every column of the row but the times and the resident memory (the same
# configuration, the same gradient bit for bit: errors, loss, counts, accounted memory), and
# `odegrad tidy` takes the two rows for one configuration.  Flags change the row wherever they
# stand; what the row derived from what they change follows them (the other tolerance, the
# interpolation), and what no longer applies is dropped.  Bad specs are refused with exit 2 and
# nothing written.
#
# usage: bash test_cli_from.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_cli_from.sh ODEGRAD_BINARY SOURCE_DIR}
SRC=${2:?usage: test_cli_from.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"

Q=(--repeat 1 --warmup 0)
# three rows: fixed steps with kept activations; adaptive with a continuous adjoint (its
# tolerance given alone, its interpolation the scheme's dense output); the linear model with two
# outputs and another seed
"$BIN" run --dim 2 --hidden 8 --batch 4 --steps 8 --keep-activations "${Q[@]}" \
    --csv "$W/a.csv" > /dev/null || fail "row 2 not recorded"
"$BIN" run --dim 2 --hidden 8 --batch 4 --scheme dopri5 --rtol 1e-6 --method stored-adjoint \
    "${Q[@]}" --csv "$W/a.csv" > /dev/null || fail "row 3 not recorded"
"$BIN" run --model linear --spectrum spiral --dim 3 --batch 2 --seed 7 --outputs 2 --steps 4 \
    --method backsolve-adjoint "${Q[@]}" --csv "$W/a.csv" > /dev/null || fail "row 4 not recorded"

for line in 2 3 4; do
    "$BIN" run --from "$W/a.csv:$line" --csv "$W/b.csv" > /dev/null || fail "--from line $line"
done
# the columns that measure this process's time and resident memory may differ; nothing else
expect "each rerun records its row's configuration and results" python3 - "$W/a.csv" "$W/b.csv" << 'EOF'
import csv, sys
a, b = (list(csv.DictReader(open(p, newline=""))) for p in sys.argv[1:3])
timed = {"time_median_s", "time_min_s", "time_max_s", "forward_s", "backward_s", "gflops",
         "roofline_gflops", "roofline_frac", "rss_peak_bytes"}
assert len(a) == len(b) == 3, (len(a), len(b))
for x, y in zip(a, b):
    diff = [k for k in x if k not in timed and x[k] != y[k]]
    assert not diff, diff
EOF
{ cat "$W/a.csv"; tail -n +2 "$W/b.csv"; } > "$W/ab.csv"
expect "tidy: the row and its rerun are one configuration" \
    test "$("$BIN" tidy "$W/ab.csv" | wc -l)" -eq 4

# field NAME...: those fields of the JSON record on stdin's last line, space-separated
field() {
    tail -n 1 | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(" ".join(str(d[k]) for k in sys.argv[1:]))' "$@"
}
expect "a flag before --from changes the row too" test \
    "$("$BIN" run --steps 16 --from "$W/a.csv:2" --json | field scheme steps keep_activations D)" = \
    "rk4 16 1 2"
expect "a tolerance derived from the one given follows the new one" test \
    "$("$BIN" run --from "$W/a.csv:3" --rtol 1e-8 --json | field rtol atol interp)" = \
    "1e-08 1e-08 dense"
expect "a fixed-step scheme: the tolerances dropped, the steps the default, Hermite" test \
    "$("$BIN" run --from "$W/a.csv:3" --scheme rk4 --json | field scheme steps rtol atol interp)" = \
    "rk4 64 None None hermite"
expect "another method: the row's interpolation dropped" test \
    "$("$BIN" run --from "$W/a.csv:3" --method backprop --json | field method interp rtol)" = \
    "backprop None 1e-06"
expect "another model: the spectrum dropped, the rest kept" test \
    "$("$BIN" run --from "$W/a.csv:4" --model mlp --json | field model spectrum D outputs seed)" = \
    "mlp None 3 2 7"
"$BIN" reference --from "$W/a.csv:4" > "$W/ref.txt" || fail "reference --from"
expect "reference --from: the row's problem (the linear model's exact gradient)" \
    grep -q "^reference  analytic" "$W/ref.txt"

# bad specs: one line, exit 2, no CSV ($W/r.csv) written
expect_refused "is not FILE:LINE" "$BIN" run --from "$W/a.csv" --csv "$W/r.csv"
expect_refused "is not FILE:LINE" "$BIN" run --from "$W/a.csv:0" --csv "$W/r.csv"
expect_refused "is not FILE:LINE" "$BIN" run --from "$W/a.csv:2x" --csv "$W/r.csv"
expect_refused "is not FILE:LINE" "$BIN" run --from ":2" --csv "$W/r.csv"
expect_refused "it is the header" "$BIN" run --from "$W/a.csv:1" --csv "$W/r.csv"
expect_refused "the rows are on lines 2 to 4" "$BIN" run --from "$W/a.csv:5" --csv "$W/r.csv"
expect_refused "cannot open $W/none.csv" "$BIN" run --from "$W/none.csv:2" --csv "$W/r.csv"
printf 'a,b\n1,2\n' > "$W/other.csv"
expect_refused "is not a results file" "$BIN" run --from "$W/other.csv:2" --csv "$W/r.csv"
head -n 1 "$W/a.csv" > "$W/empty.csv"
expect_refused "has no rows" "$BIN" run --from "$W/empty.csv:2" --csv "$W/r.csv"
expect_refused "given twice" "$BIN" run --from "$W/a.csv:2" --from "$W/a.csv:3" --csv "$W/r.csv"
expect_refused "--from does not apply to odegrad roofline" "$BIN" roofline --from "$W/a.csv:2"
# a flag the changed configuration refuses is still refused
expect_refused "--checkpoints applies only" "$BIN" run --from "$W/a.csv:2" --checkpoints 3 \
    --csv "$W/r.csv"
summary
