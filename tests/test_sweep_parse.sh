#!/bin/bash
# Malformed sweep files are refused before anything runs: exit 2, a message naming FILE:LINE,
# and nothing written (no results directory, no CSV).  Also: the shipped experiments/*.ini
# parse, and a good file expands to the configurations it declares.
# Usage: bash test_sweep_parse.sh ODEGRAD SOURCE_DIR
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ODEGRAD_CACHE=$tmp/cache
cd "$tmp" || exit 1
pass=0
fail=0

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

# refused NAME LINE BODY: the file BODY must be refused with status 2 naming bad.ini:LINE.
refused() {
    local name=$1 line=$2
    printf '%b' "$3" > bad.ini
    "$bin" sweep --output "$tmp/out" bad.ini > stdout.txt 2> stderr.txt
    local rc=$?
    if [ $rc -ne 2 ]; then
        bad "$name: exit $rc, expected 2"
    elif ! grep -q "bad.ini:$line:" stderr.txt; then
        bad "$name: message does not name bad.ini:$line: $(cat stderr.txt)"
    elif [ -e "$tmp/out" ]; then
        bad "$name: something was written"
    else
        ok "$name ($(head -n 1 stderr.txt))"
    fi
    rm -rf "$tmp/out"
}

head='[sweep]\nname = t\ndim = 2\nhidden = 8\nbatch = 4\nrepeat = 1\n'
refused "unknown key" 9 "$head[run]\nmethod = backprop\nstepz = 8\n"
refused "bad value (not an integer)" 9 "$head[run]\nmethod = backprop\nsteps = eight\n"
refused "bad value (unknown method)" 8 "$head[run]\nmethod = backprop, backpropp\n"
refused "bad value (out of range)" 9 "$head[run]\nmethod = backprop\nsteps = 0\n"
refused "empty list" 9 "$head[run]\nmethod = backprop\nsteps =\n"
refused "empty list item" 9 "$head[run]\nmethod = backprop\nsteps = 8,,16\n"
refused "unknown section" 7 "$head[runs]\nmethod = backprop\n"
refused "unknown empty section" 7 "$head[results]\n[run]\nmethod = backprop\n"
refused "syntax error (no '=')" 9 "$head[run]\nmethod = backprop\nsteps 8\n"
refused "syntax error (unclosed section)" 7 "$head[run\nmethod = backprop\n"
refused "bad range (two bases)" 9 "$head[run]\nmethod = backprop\nsteps = 2^3..3^5\n"
refused "bad range (open end)" 9 "$head[run]\nmethod = backprop\nsteps = 8..\n"
refused "key given twice" 10 "$head[run]\nmethod = backprop\nsteps = 8\nsteps = 16\n"
refused "key that does not apply to a method" 9 "$head[run]\nmethod = backprop, backprop-checkpoint\ncheckpoints = 4\n"
refused "steps with rtol" 10 "$head[run]\nmethod = backprop\nsteps = 8\nrtol = 1e-3\n"
refused "rtol with a fixed-step scheme" 9 "$head[run]\nmethod = backprop\nrtol = 1e-3\n"
refused "run's own check (analytic reference for mlp)" 9 "$head[run]\nmethod = backprop\nreference = analytic\n"
refused "no method" 7 "$head[run]\nsteps = 8\n"
refused "no name" 1 "[sweep]\n[run]\nmethod = backprop\n"
refused "bad value (unknown blas mode)" 9 "$head[run]\nmethod = backprop\nblas-mode = fast\n"
refused "one key under two names" 10 "$head[run]\nmethod = backprop\nblas = chunked\nblas_mode = threaded\n"

# An error in a second file: nothing of the first runs either.
printf '[sweep]\nname = good\ndim = 2\nhidden = 8\nbatch = 4\nrepeat = 1\n[run]\nmethod = backprop\nsteps = 8\n' > good.ini
printf '[sweep]\nname = t\n[run]\nmethod = backprop\nsteps = 8\nbogus = 1\n' > bad.ini
"$bin" sweep --output "$tmp/out" good.ini bad.ini > /dev/null 2> stderr.txt
rc=$?
if [ $rc -eq 2 ] && grep -q "bad.ini:6:" stderr.txt && [ ! -e "$tmp/out" ]; then
    ok "a bad second file stops the first from running"
else
    bad "a bad second file: exit $rc, $(cat stderr.txt)"
fi

# A good file expands to its cross product; ranges, derived values and per-method sections.
cat > expand.ini <<'INI'
[sweep]
name = expand
dim = 2
batch = 4
repeat = 1
checkpoints = 3      ; a default: passed only to methods with checkpoints
[run discrete]
method = backprop, backprop-checkpoint
steps = 2^3..2^5
hidden = 4*dim
[run adaptive]
method = stored-adjoint
scheme = dopri5, tsit5
rtol = 10^-3..10^-4
INI
n=$("$bin" sweep --dry-run expand.ini | grep -c '^odegrad run')
lines=$("$bin" sweep --dry-run expand.ini)
if [ "$n" -eq 10 ] &&
    echo "$lines" | grep -q -- '--hidden 8 --batch 4 --steps 32 --method backprop-checkpoint --checkpoints 3' &&
    ! echo "$lines" | grep -- '--method backprop ' | grep -q -- '--checkpoints' &&
    echo "$lines" | grep -q -- '--scheme tsit5 --rtol 1e-4 --method stored-adjoint'; then
    ok "cross product, ranges, derived values, defaults only where they apply (10 configurations)"
else
    bad "expansion: $n configurations:"
    echo "$lines"
fi

# blas-mode under its other names: the column's (blas_mode) and the old flag's (blas).
printf '%b' "$head[run]\nmethod = backprop\nsteps = 8\nblas = threaded\n[run]\nmethod = backprop\nsteps = 8\nblas_mode = chunked\n" > modes.ini
lines=$("$bin" sweep --dry-run modes.ini)
if echo "$lines" | grep -q -- '--blas-mode threaded' && echo "$lines" | grep -q -- '--blas-mode chunked'; then
    ok "blas and blas_mode are blas-mode"
else
    bad "blas and blas_mode: $lines"
fi

# The shipped sweep files parse (default and full set).
for f in "$src"/experiments/*.ini "$src"/experiments/full/*.ini; do
    [ -f "$f" ] || continue
    if "$bin" sweep --dry-run "$f" > out.txt 2> err.txt; then
        ok "$(basename "$(dirname "$f")")/$(basename "$f"): $(tail -n 1 out.txt | sed 's/^# //')"
    else
        bad "$f: $(cat err.txt)"
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
