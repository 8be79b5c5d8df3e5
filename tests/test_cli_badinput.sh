#!/usr/bin/env bash
# Bad input to `odegrad run` (and to the other commands, roofline's flags among them): every
# case must exit with
# status 2, print exactly one line on stderr that names the problem, print nothing on stdout,
# and write nothing: an existing CSV and its sidecar stay byte-identical, a new CSV is not
# created, no reference is cached, --save-grad and --save-problem directories stay empty.
#
# usage: bash test_cli_badinput.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_cli_badinput.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"

# Small and fast: no reference, one gradient.
MLP=(--dim 2 --hidden 8 --batch 4 --steps 8 --repeat 1 --warmup 0 --reference none)
LIN=(--model linear --dim 2 --batch 4 --steps 8 --repeat 1 --warmup 0 --reference none)

# ---- setup: a CSV with one row, and problem files to break ----------------------------------
mkdir -p "$W/prob_d3" "$W/prob_b5" "$W/empty" "$W/garbage" "$W/trunc" "$W/sg" "$W/sp"
"$BIN" run "${MLP[@]}" --csv "$W/keep.csv" > /dev/null || fail "setup: a good run failed"
"$BIN" run "${MLP[@]}" --dim 3 --save-problem "$W/prob_d3" > /dev/null ||
    fail "setup: --save-problem (D=3) failed"
"$BIN" run "${MLP[@]}" --batch 5 --save-problem "$W/prob_b5" > /dev/null ||
    fail "setup: --save-problem (B=5) failed"
rm -f "$W/prob_b5/W1.npy" "$W/prob_b5/b1.npy" "$W/prob_b5/W2.npy" "$W/prob_b5/b2.npy"
printf 'not an npy file at all' > "$W/garbage/W1.npy"
# a valid header with half of its data cut off
"$BIN" run "${MLP[@]}" --save-problem "$W/trunc" > /dev/null || fail "setup: --save-problem failed"
head -c $(($(stat -c %s "$W/trunc/z0.npy") - 16)) "$W/trunc/z0.npy" > "$W/trunc/z0.cut"
mv "$W/trunc/z0.cut" "$W/trunc/z0.npy"
printf 'a,b,c\n1,2,3\n' > "$W/other.csv"
touch "$W/plainfile"
rm -rf "$W/cache"
cp "$W/keep.csv" "$W/keep.before"
cp "$W/keep.csv.json" "$W/keep.json.before"
cp "$W/other.csv" "$W/other.before"

# check NAME EXPECTED-TEXT CMD ARGS...: runs `odegrad CMD ARGS...` and checks everything above.
check() {
    local name=$1 want=$2
    shift 2
    local out err rc
    "$@" > "$W/stdout" 2> "$W/stderr"
    rc=$?
    err=$(cat "$W/stderr")
    [ "$rc" -eq 2 ] && pass || fail "$name: exit status $rc, not 2 (stderr: $err)"
    [ "$(wc -l < "$W/stderr")" -eq 1 ] && pass || fail "$name: stderr is not one line: '$err'"
    [[ "$err" == *"$want"* ]] && pass || fail "$name: message '$err' does not say '$want'"
    [ ! -s "$W/stdout" ] && pass || fail "$name: wrote to stdout: $(head -c 200 "$W/stdout")"
    cmp -s "$W/keep.csv" "$W/keep.before" && pass || fail "$name: the existing CSV changed"
    cmp -s "$W/keep.csv.json" "$W/keep.json.before" && pass || fail "$name: the sidecar changed"
    cmp -s "$W/other.csv" "$W/other.before" && pass || fail "$name: other.csv changed"
    [ ! -e "$W/new.csv" ] && [ ! -e "$W/new.csv.json" ] && pass ||
        fail "$name: a new CSV was created"
    [ ! -e "$W/cache" ] && pass || fail "$name: a reference was cached"
    [ -z "$(find "$W/sg" "$W/sp" -mindepth 1 | head -n 1)" ] && pass ||
        fail "$name: files were saved"
    echo "ok: $name: $err"
}

# run NAME EXPECTED-TEXT ARGS...: the case twice, appending to the existing CSV and to a new one.
run() {
    local name=$1 want=$2
    shift 2
    check "$name" "$want" "$BIN" run "$@" --csv "$W/keep.csv" --save-grad "$W/sg"
    check "$name (new csv)" "$want" "$BIN" run "$@" --csv "$W/new.csv" --save-problem "$W/sp"
}

# ---- flags and values --------------------------------------------------------------------
run "unknown flag" "unknown or ambiguous flag '--frobnicate'" "${MLP[@]}" --frobnicate
run "missing value" "--dim needs a value (found the flag '--csv')" "${MLP[@]}" --dim
check "missing last value" "--dim needs a value" "$BIN" run "${MLP[@]}" --dim
run "positional argument" "unexpected argument 'extra'" "${MLP[@]}" extra
run "unknown model" "--model: 'ffjord' is not one of mlp, linear, cnf, plugin" "${MLP[@]}" --model ffjord
run "unknown scheme" "--scheme: 'rk5' is not one of" "${MLP[@]}" --scheme rk5
run "unknown method" "--method: 'magic' is not one of" "${MLP[@]}" --method magic
run "unknown schedule" "--schedule: 'random' is not one of" "${MLP[@]}" \
    --method backprop-checkpoint --schedule random
run "unknown interp" "--interp: 'cubic' is not one of" "${MLP[@]}" \
    --method stored-adjoint --interp cubic
run "unknown spectrum" "--spectrum: 'flat' is not one of" "${LIN[@]}" --spectrum flat
run "unknown reference" "--reference: 'exact' is not one of" "${MLP[@]}" --reference exact
run "non-numeric dim" "--dim: 'abc' is not a positive integer" "${MLP[@]}" --dim abc
run "zero batch" "--batch: '0' is not a positive integer" "${MLP[@]}" --batch 0
run "negative hidden" "--hidden: '-4' is not a positive integer" "${MLP[@]}" --hidden -4
run "fractional steps" "--steps: '1.5' is not a positive integer" "${MLP[@]}" --steps 1.5
run "hex dim" "--dim: '0x10' is not a positive integer" "${MLP[@]}" --dim 0x10
run "huge dim" "--dim: '99999999999' is too large" "${MLP[@]}" --dim 99999999999
run "zero t1" "--t1: '0' is not a positive number" "${MLP[@]}" --t1 0
run "nan t1" "--t1: 'nan' is not a positive number" "${MLP[@]}" --t1 nan
run "negative gain" "--gain: '-1' is not a positive number" "${MLP[@]}" --gain -1
run "negative seed" "--seed: '-1' is not a non-negative integer" "${MLP[@]}" --seed -1
run "zero repeat" "--repeat: '0' is not a positive integer" "${MLP[@]}" --repeat 0
run "bad warmup" "--warmup: 'x' is not a non-negative integer" "${MLP[@]}" --warmup x
run "zero threads" "--threads: '0' is not a positive integer" "${MLP[@]}" --threads 0
run "zero timeout" "--timeout: '0' is not a positive number" "${MLP[@]}" --timeout 0
run "bad mem-limit" "--mem-limit: 'lots' is not a size in bytes" "${MLP[@]}" --mem-limit lots
run "unknown blas mode" "--blas-mode: 'fast' is not one of auto, threaded, chunked" "${MLP[@]}" \
    --blas-mode fast
run "unknown blas mode (old name)" "--blas-mode: 'fast' is not one of" "${MLP[@]}" --blas fast
run "zero batch chunk" "--batch-chunk: '0' is not a positive integer" "${MLP[@]}" --batch-chunk 0
run "batch chunk not a number" "--batch-chunk: '1e3' is not a positive integer" "${MLP[@]}" \
    --batch-chunk 1e3
run "zero roofline rate" "--roofline-gflops: '0' is not a positive number" "${MLP[@]}" \
    --roofline-gflops 0
run "roofline's flag" "--min-time does not apply to odegrad run" "${MLP[@]}" --min-time 1
run "stiffness < 1" "--stiffness: '0.5' is not a number >= 1" "${LIN[@]}" --spectrum stiff \
    --stiffness 0.5
run "bad experiment" "--experiment: 'a,b'" "${MLP[@]}" --experiment a,b
# sizes that are valid numbers but cannot be allocated: B * D * 8 bytes for z0 alone is 3.2e19
run "too large to allocate" "too large to allocate" "${MLP[@]}" --dim 2000000000 \
    --batch 2000000000

# ---- combinations that do not exist ------------------------------------------------------
run "dense interp with rk4" "dense output" "${MLP[@]}" --method stored-adjoint --interp dense
run "dense interp with vern7" "--interp dense needs a scheme with dense output (dopri5), not vern7" \
    "${MLP[@]}" --method stored-adjoint --scheme vern7 --interp dense
run "interp with backprop" "--interp applies only to" "${MLP[@]}" --interp hermite
run "interp with backsolve" "--interp applies only to" "${MLP[@]}" --method backsolve-adjoint \
    --interp linear
run "checkpoints with backprop" "--checkpoints applies only to" "${MLP[@]}" --checkpoints 4
run "schedule without checkpoints" "--schedule applies only to" "${MLP[@]}" \
    --method stored-adjoint --schedule binomial
run "steps and rtol" "--steps applies only to fixed steps, not to adaptive ones" "${MLP[@]}" --rtol 1e-6
run "rtol with rk4" "--rtol applies only to schemes with an error estimate (bosh3, dopri5, tsit5, dopri8, vern6, vern7, vern8, vern9), not rk4" --dim 2 --hidden 8 --batch 4 --rtol 1e-6 \
    --reference none
run "adjoint tolerance with backprop" "--adj-rtol applies only to methods that can take their own adaptive adjoint steps" \
    "${MLP[@]}" --adj-rtol 1e-6
run "adjoint tolerance with rk4" "--adj-rtol needs a scheme with an error estimate" "${MLP[@]}" \
    --method backsolve-adjoint --adj-rtol 1e-6
run "stiffness with mlp" "--stiffness applies only to the linear model's stiff spectrum, not mlp" "${MLP[@]}" --stiffness 10
run "stiffness with random spectrum" "--stiffness applies only to the linear model's stiff spectrum, not linear random" "${LIN[@]}" \
    --stiffness 10
run "spectrum with mlp" "--spectrum applies only to the linear model, not mlp" "${MLP[@]}" --spectrum stiff
run "hidden with linear" "--hidden applies only to the mlp and cnf models, not linear" "${LIN[@]}" --hidden 8
run "time input with linear" "--time-input applies only to the mlp model, not linear" "${LIN[@]}" --time-input
run "analytic reference for mlp" "--reference analytic exists only for the linear model" \
    "${MLP[@]}" --reference analytic
run "lambda with backprop" "--lambda applies only to the reversible method, not backprop" \
    "${MLP[@]}" --lambda 0.9
run "lambda above 1" "--lambda: '1.5' is not a number in (0, 1]" "${MLP[@]}" --method reversible --lambda 1.5
run "reversible with rtol" "--rtol does not apply to reversible" --dim 2 --hidden 8 --batch 4 \
    --scheme dopri5 --rtol 1e-6 --method reversible --reference none
run "outputs and output times" "two ways to give the output times" "${MLP[@]}" --outputs 2 \
    --output-times 0.5:1
run "output times decreasing" "the output times must increase" "${MLP[@]}" \
    --output-times 0.5:0.2
run "output time not a number" "output time 2 is not a number" "${MLP[@]}" \
    --output-times 0.5:x
run "output time after t1" "each in (0, 1]" "${MLP[@]}" --output-times 0.5:2
run "fewer steps than outputs" "--steps must be at least the number of intervals" "${MLP[@]}" \
    --outputs 9
run "resets without outputs" "--backsolve-reset needs output times" "${MLP[@]}" \
    --method backsolve-adjoint --backsolve-reset
run "resets with backprop" "--backsolve-reset applies only to backsolve-adjoint" "${MLP[@]}" \
    --outputs 2 --backsolve-reset

# ---- files and directories ---------------------------------------------------------------
run "missing load dir" "--load: '$W/nowhere': No such file or directory" "${MLP[@]}" \
    --load "$W/nowhere"
run "load from a file" "is not a directory" "${MLP[@]}" --load "$W/plainfile"
run "nothing to load" "holds none of W1.npy b1.npy W2.npy b2.npy z0.npy w.npy" "${MLP[@]}" \
    --load "$W/empty"
run "malformed npy" "garbage/W1.npy: not a .npy file" "${MLP[@]}" --load "$W/garbage"
run "truncated npy" "truncated" "${MLP[@]}" --load "$W/trunc"
run "mismatched W1" "W1.npy" "${MLP[@]}" --load "$W/prob_d3"
run "mismatched z0" "z0.npy" "${MLP[@]}" --load "$W/prob_b5"
check "missing save-grad dir" "--save-grad: '$W/nowhere': No such file or directory" \
    "$BIN" run "${MLP[@]}" --csv "$W/keep.csv" --save-grad "$W/nowhere"
check "missing save-problem dir" "--save-problem: '$W/nowhere': No such file or directory" \
    "$BIN" run "${MLP[@]}" --csv "$W/new.csv" --save-problem "$W/nowhere"
check "csv in a missing directory" "cannot use the directory" "$BIN" run "${MLP[@]}" \
    --csv "$W/nowhere/x.csv"
check "csv with another header" "header is not this version's columns" "$BIN" run "${MLP[@]}" \
    --csv "$W/other.csv"
check "csv that is a directory" "not a regular file" "$BIN" run "${MLP[@]}" --csv "$W/empty"

# ---- the other commands ------------------------------------------------------------------
check "unknown command" "unknown command 'frobnicate'" "$BIN" frobnicate
check "no command" "odegrad: no command" "$BIN"
check "unknown list" "'bogus' is not a list" "$BIN" list bogus
check "reference none" "--reference none leaves nothing to compute" "$BIN" reference \
    "${MLP[@]}" --reference none
check "reference with a bad flag" "--dim: 'x' is not a positive integer" "$BIN" reference \
    --dim x

# ---- roofline: the shape flags of run, --threads and its own --min-time -------------------
check "roofline: bad dim" "odegrad roofline: --dim: 'abc' is not a positive integer" \
    "$BIN" roofline --dim abc
check "roofline: zero batch" "--batch: '0' is not a positive integer" "$BIN" roofline --batch 0
check "roofline: unknown model" "--model: 'ffjord' is not one of mlp, linear, cnf, plugin" "$BIN" roofline \
    --model ffjord
check "roofline: negative min-time" "--min-time: '-1' is not a number >= 0" "$BIN" roofline \
    --min-time -1
check "roofline: non-numeric min-time" "--min-time: 'soon' is not a number >= 0" \
    "$BIN" roofline --min-time soon
check "roofline: missing min-time" "--min-time needs a value" "$BIN" roofline --min-time
check "roofline: stray argument" "unexpected argument 'extra'" "$BIN" roofline --dim 2 extra
check "roofline: a flag of run" "--method does not apply to odegrad roofline" "$BIN" roofline \
    --method backprop
check "roofline: --csv" "--csv does not apply to odegrad roofline" "$BIN" roofline \
    --csv "$W/new.csv"
check "roofline: hidden with linear" "--hidden applies only to the mlp and cnf models, not linear" "$BIN" roofline \
    --model linear --hidden 8
check "roofline: zero threads" "--threads: '0' is not a positive integer" "$BIN" roofline \
    --threads 0
check "roofline: too large to allocate" "too large to allocate" "$BIN" roofline \
    --dim 2000000000 --batch 2000000000

summary
