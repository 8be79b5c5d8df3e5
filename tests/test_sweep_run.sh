#!/bin/bash
# A tiny sweep end to end: every configuration in its own child, one row each with the .json
# sidecar; resume (a results file that already holds one configuration gets only the other);
# a configuration that fails (status oom) is recorded and the sweep goes on; a child that
# writes no row is reported and the sweep goes on, exiting 1.
# Usage: bash test_sweep_run.sh ODEGRAD SOURCE_DIR
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ODEGRAD_CACHE=$tmp/cache
cd "$tmp" || exit 1
pass=0
fail=0

check() { # check NAME CONDITION...
    local name=$1
    shift
    if "$@"; then
        echo "ok   $name"
        pass=$((pass + 1))
    else
        echo "FAIL $name"
        fail=$((fail + 1))
    fi
}
rows() { tail -n +2 "$1" | grep -c .; }
col() { # col FILE NAME: that column of every row
    awk -F, -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) c = i; next } { print $c }' "$1"
}

cat > tiny.ini <<'INI'
[sweep]
name = tiny
dim = 2
hidden = 8
batch = 4
steps = 8
repeat = 1
warmup = 0
threads = 1
[run]
method = backprop, backsolve-adjoint
INI

# 1. Two configurations, two rows.
"$bin" sweep --output out --host testhost tiny.ini > stdout.txt 2> stderr.txt
rc=$?
csv=$(ls out/testhost-*.csv 2>/dev/null | head -n 1)
check "exit 0 after two configurations" [ $rc -eq 0 ]
check "results file out/testhost-DATE.csv" [ -n "$csv" ]
[ -n "$csv" ] || csv=out/missing.csv
check "two rows" [ "$(rows "$csv" 2>/dev/null)" = 2 ]
check "provenance sidecar $csv.json" [ -s "$csv.json" ]
check "experiment column is the sweep's name" [ "$(col "$csv" experiment | sort -u)" = tiny ]
check "both methods recorded" [ "$(col "$csv" method | sort | tr '\n' ' ')" = "backprop backsolve-adjoint " ]
check "progress lines on a non-terminal" grep -q '^\[2/2\] ok' stderr.txt

# 2. Resume: a file holding only the first configuration gets only the second.
head -n 2 "$csv" > partial.csv
"$bin" sweep --resume partial.csv tiny.ini > /dev/null 2> stderr2.txt
rc=$?
check "resume: exit 0" [ $rc -eq 0 ]
check "resume: one row appended (2 rows in all)" [ "$(rows partial.csv)" = 2 ]
check "resume: the missing one was run" [ "$(col partial.csv method | sort | tr '\n' ' ')" = "backprop backsolve-adjoint " ]
check "resume: the skip is reported" grep -q '1 already recorded' stderr2.txt
"$bin" sweep --resume partial.csv tiny.ini > /dev/null 2>&1
check "resume again: nothing appended" [ "$(rows partial.csv)" = 2 ]
"$bin" sweep --output out --host testhost tiny.ini > /dev/null 2>&1
check "same day, same output: nothing appended" [ "$(rows "$csv")" = 2 ]

# 3. A configuration that fails is recorded with its status; the sweep goes on past it.
cat > failing.ini <<'INI'
[sweep]
name = failing
dim = 2
hidden = 8
batch = 4
steps = 8
repeat = 1
warmup = 0
threads = 1
[run too little memory]
method = backprop
mem-limit = 2K
[run after it]
method = backprop-steps
INI
"$bin" sweep --resume failing.csv failing.ini > /dev/null 2> stderr3.txt
rc=$?
check "failure: exit 0 (the child recorded it)" [ $rc -eq 0 ]
check "failure: status oom recorded" [ "$(col failing.csv status | head -n 1)" = oom ]
check "failure: the next configuration ran, ok" [ "$(col failing.csv status | tail -n 1)" = ok ]

# 4. A child that writes no row (its results file is a directory) is reported; the sweep goes
#    on to the next configuration and exits 1.
mkdir notafile.csv
"$bin" sweep --resume notafile.csv tiny.ini > /dev/null 2> stderr4.txt
rc=$?
check "no row: exit 1" [ $rc -eq 1 ]
check "no row: both configurations tried" [ "$(grep -c 'FAILED' stderr4.txt)" = 2 ]
check "no row: reported as such" grep -q 'no row written' stderr4.txt

# 5. Dry run: prints the command lines, runs nothing.
"$bin" sweep --dry-run --output dry tiny.ini > dry.txt 2>&1
check "dry run: two command lines" [ "$(grep -c '^odegrad run ' dry.txt)" = 2 ]
check "dry run: nothing written" [ ! -e dry ]

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
