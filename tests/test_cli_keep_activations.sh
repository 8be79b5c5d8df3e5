#!/usr/bin/env bash
# --keep-activations on the command line and in sweeps: the discrete methods give the same
# gradient files with and without it, record keep_activations = 1 and their activations under
# their own tag in accounted_peak_by_tag, with the closed form still equal to the stored bytes;
# the continuous adjoints and the models without hidden activations (linear, cnf, plugin) are
# refused with one message naming where it applies, exit 2, nothing written; a sweep crosses it
# with the discrete methods.
#
# usage: bash test_cli_keep_activations.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_cli_keep_activations.sh ODEGRAD_BINARY SOURCE_DIR}
SRC=${2:?usage: test_cli_keep_activations.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"
BUILD=$(cd "$(dirname "$BIN")" && pwd)

# B = 70: two chunks of 64 rows, the second short
SMALL=(--dim 3 --hidden 8 --batch 70 --repeat 1 --warmup 0 --reference none --time-input)

col() { # col CSV COLUMN: the field of the last row
    python3 - "$1" "$2" << 'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(rows[-1][sys.argv[2]])
PY
}

# the same gradient files, bit for bit, with and without the option
for spec in "backprop --steps 6" "backprop --scheme dopri5 --rtol 1e-5" "backprop-steps --steps 6" \
    "backprop-checkpoint --steps 6" "backprop-checkpoint --schedule binomial --steps 6" \
    "reversible --steps 6" "backprop-checkpoint --scheme dopri5 --rtol 1e-5"; do
    read -r m rest <<< "$spec"
    rm -rf "$W/g0" "$W/g1" "$W/r.csv"
    mkdir -p "$W/g0" "$W/g1"
    # shellcheck disable=SC2086
    "$BIN" run "${SMALL[@]}" --method $m $rest --save-grad "$W/g0" > /dev/null 2> "$W/err.txt" ||
        fail "$spec: $(cat "$W/err.txt")"
    # shellcheck disable=SC2086
    "$BIN" run "${SMALL[@]}" --method $m $rest --keep-activations --save-grad "$W/g1" \
        --csv "$W/r.csv" > /dev/null 2> "$W/err.txt" || fail "$spec kept: $(cat "$W/err.txt")"
    for f in "$W"/g0/*.npy; do
        expect "$spec: $(basename "$f") is the same with kept activations" \
            cmp -s "$f" "$W/g1/$(basename "$f")"
    done
    expect "$spec: the record says keep_activations 1" test "$(col "$W/r.csv" keep_activations)" = 1
    expect "$spec: the closed form equals the stored bytes" \
        test "$(col "$W/r.csv" theory_bytes)" = "$(col "$W/r.csv" stored_bytes)"
done

# the activations under their own tag: backprop, rk4, N = 4 steps, s = 4 stages, B H = 70 * 8:
# 8 (N s + 1) B H bytes (the tape's, which the steps write in place, and the engine's row for
# the next step's first stage)
"$BIN" run "${SMALL[@]}" --steps 4 --keep-activations --json > "$W/j.txt" 2> "$W/err.txt" ||
    fail "backprop --json: $(cat "$W/err.txt")"
expect "accounted_peak_by_tag holds the activations" python3 - "$W/j.txt" << 'PY'
import json, sys
rec = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
got = rec["detail"]["accounted_peak_by_tag"]["activation"]
assert got == 8 * (4 * 4 + 1) * 70 * 8, got
PY
"$BIN" run "${SMALL[@]}" --steps 4 --json > "$W/j.txt" 2> "$W/err.txt" || fail "backprop --json"
expect "and none without the option" python3 - "$W/j.txt" << 'PY'
import json, sys
rec = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert rec["detail"]["accounted_peak_by_tag"]["activation"] == 0
assert rec["keep_activations"] == 0, rec["keep_activations"]
PY

# refused TEXT ARGS...: exit 2, one line on stderr that contains TEXT, no CSV written
refused() {
    local text=$1
    shift
    expect_refused "$text" "$BIN" run --repeat 1 --warmup 0 --reference none --steps 4 \
        --keep-activations "$@" --csv "$W/r.csv"
}
WHERE="applies only to the discrete methods (backprop, backprop-steps, backprop-checkpoint, reversible)"
for m in stored-adjoint checkpoint-adjoint backsolve-adjoint; do
    refused "$WHERE, not $m" --method $m
done
refused "applies only to the mlp model (hidden activations to keep), not linear" --model linear
refused "applies only to the mlp model (hidden activations to keep), not cnf" --model cnf
refused "applies only to the mlp model (hidden activations to keep), not plugin" \
    --model "plugin:$BUILD/libvanderpol.so" --dim 2
refused "applies only to --solver odegrad, not torch" --solver torch

# a sweep: the option crossed with the discrete methods; refused beside a continuous adjoint
cat > "$W/s.ini" << 'INI'
[sweep]
name = kept
dim = 2
hidden = 4
batch = 3
steps = 4
reference = none
repeat = 1
warmup = 0
[run]
method = backprop, reversible
keep-activations = no, yes
INI
"$BIN" sweep --dry-run "$W/s.ini" > "$W/out.txt" 2> "$W/err.txt"
expect "the sweep has the 4 configurations" test "$(grep -c -- '--method' "$W/out.txt")" = 4
expect "two of them keep the activations" test "$(grep -c -- '--keep-activations' "$W/out.txt")" = 2
sed -i 's/^method = backprop, reversible/method = backprop, stored-adjoint/' "$W/s.ini"
"$BIN" sweep --dry-run "$W/s.ini" > "$W/out.txt" 2> "$W/err.txt"
rc=$?
expect "a sweep crossing it with a continuous adjoint exits 2" test $rc -eq 2
expect "and says where it applies" grep -qF "$WHERE" "$W/err.txt"
summary
