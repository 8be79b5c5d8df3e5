#!/bin/bash
# A tiny sweep end to end: every configuration in its own child, one row each with the .json
# sidecar; resume (a results file that already holds one configuration gets only the other);
# a configuration that fails (status oom) is recorded and the sweep goes on; a child that
# writes no row is reported and the sweep goes on, exiting 1.  The roofline is measured once per
# shapes and threads and passed to the later runs; the two BLAS modes are two configurations,
# also on resume; a results file with another header is refused before anything runs.
# Then what a sweep must not lose: a sweep killed (the parent alone, and its whole process group)
# resumes to exactly the full set with no row twice; a second sweep on the same results file is
# refused while the first runs; --output with two sweep files writes two experiment folders, and
# the figures are drawn from them into a folder of one's own.
# Usage: bash test_sweep_run.sh ODEGRAD SOURCE_DIR
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
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
csv=$(ls out/tiny/testhost-*.csv 2>/dev/null | head -n 1)
check "exit 0 after two configurations" [ $rc -eq 0 ]
check "results file out/tiny/testhost-DATE.csv (--output DIR: DIR/EXPERIMENT/)" [ -n "$csv" ]
[ -n "$csv" ] || csv=out/missing.csv
check "two rows" [ "$(rows "$csv" 2>/dev/null)" = 2 ]
check "provenance sidecar $csv.json" [ -s "$csv.json" ]
check "experiment column is the sweep's name" [ "$(col "$csv" experiment | sort -u)" = tiny ]
check "both methods recorded" [ "$(col "$csv" method | sort | tr '\n' ' ')" = "backprop backsolve-adjoint " ]
check "progress lines on a non-terminal" grep -q '^\[2/2\] ok' stderr.txt
# the second run has the same shapes and threads: it is given the first one's rate
check "one roofline rate for one key, in both rows" \
    [ "$(col "$csv" roofline_gflops | sort -u | grep -c '^[0-9]')" = 1 ]

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

# 4. A results file that cannot take rows (a directory in its place) is refused before anything
#    runs: exit 2, one message, nothing run.
mkdir notafile.csv
"$bin" sweep --resume notafile.csv tiny.ini > /dev/null 2> stderr4.txt
rc=$?
check "not a file: exit 2" [ $rc -eq 2 ]
check "not a file: says so" grep -q 'notafile.csv: not a regular file' stderr4.txt
check "not a file: nothing ran" [ "$(grep -c '^\[' stderr4.txt)" = 0 ]

# 5. Both BLAS modes (the key under its column's name): two rows, and a resume that has only
#    the chunked one runs only the threaded one.
sed -e 's/^name = tiny/name = modes/' -e 's/^method = .*/blas_mode = chunked, threaded\nmethod = backprop/' \
    tiny.ini > modes.ini
"$bin" sweep --resume modes.csv modes.ini > /dev/null 2>&1
check "modes: one row per mode" [ "$(col modes.csv blas_mode | tr '\n' ' ')" = "chunked threaded " ]
head -n 2 modes.csv > modes1.csv
"$bin" sweep --resume modes1.csv modes.ini > /dev/null 2> stderr5.txt
check "modes: resume runs only the other mode" [ "$(col modes1.csv blas_mode | tr '\n' ' ')" = "chunked threaded " ]
check "modes: the recorded mode is skipped" grep -q '1 already recorded' stderr5.txt

# 6. A results file with another header (an older version's columns) is refused up front.
head -n 1 "$csv" | sed 's/,roofline_frac//' > old.csv
tail -n 1 "$csv" >> old.csv
cp old.csv old.before
"$bin" sweep --resume old.csv tiny.ini > /dev/null 2> stderr6.txt
rc=$?
check "old header: exit 2" [ $rc -eq 2 ]
check "old header: says so" grep -q "header is not this version's columns" stderr6.txt
check "old header: the file is untouched" cmp -s old.csv old.before

# 7. Dry run: prints the command lines, runs nothing.
"$bin" sweep --dry-run --output dry tiny.ini > dry.txt 2>&1
check "dry run: two command lines" [ "$(grep -c '^odegrad run ' dry.txt)" = 2 ]
check "dry run: nothing written" [ ! -e dry ]


# 8. Killed with SIGKILL, the parent alone and then the whole process group: no row is written
#    after the kill (the measuring child dies with the sweep), every row is whole, and resume
#    completes exactly the set, no configuration twice.
cat > slow.ini <<'INI'
[sweep]
name = slow
dim = 16
hidden = 64
batch = 32
repeat = 1
warmup = 0
threads = 1
reference = none
[run]
steps = 256, 512, 1024
method = backprop, backprop-steps, backsolve-adjoint
INI
unique() { "$bin" tidy "$1" | tail -n +2 | grep -c .; }
for how in parent group; do
    rm -f "slow-$how.csv" "slow-$how.csv.json"
    if [ $how = group ]; then
        setsid "$bin" sweep --resume "slow-$how.csv" slow.ini > /dev/null 2>&1 &
    else
        "$bin" sweep --resume "slow-$how.csv" slow.ini > /dev/null 2>&1 &
    fi
    pid=$!
    # wait for the first row, then kill in the middle of a later configuration
    for _ in $(seq 100); do
        n=$(rows "slow-$how.csv" 2>/dev/null)
        [ "${n:-0}" -ge 1 ] && break
        sleep 0.1
    done
    sleep 0.2
    if [ $how = group ]; then kill -9 -- "-$pid"; else kill -9 "$pid"; fi
    wait "$pid" 2>/dev/null
    sleep 1 # a child that outlived its sweep would append now
    before=$(rows "slow-$how.csv")
    sleep 1
    check "killed ($how): nothing appended after the kill" [ "$(rows "slow-$how.csv")" = "$before" ]
    check "killed ($how): fewer than all 9 rows ($before)" [ "$before" -lt 9 ]
    "$bin" sweep --resume "slow-$how.csv" slow.ini > /dev/null 2> "stderr-$how.txt"
    check "killed ($how): resume exits 0" [ $? -eq 0 ]
    check "killed ($how): the resume says what it reuses" grep -q "$before already recorded" "stderr-$how.txt"
    check "killed ($how): 9 rows after resume" [ "$(rows "slow-$how.csv")" = 9 ]
    check "killed ($how): 9 distinct configurations" [ "$(unique "slow-$how.csv")" = 9 ]
done

# 9. One sweep per results file: a second one is refused while the first runs.
rm -f lock.csv
"$bin" sweep --resume lock.csv slow.ini > /dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do
    [ -s lock.csv ] && break
    sleep 0.05
done
"$bin" sweep --resume lock.csv slow.ini > /dev/null 2> stderr9.txt
rc=$?
check "lock: the second sweep exits 2" [ $rc -eq 2 ]
check "lock: it says why" grep -q 'another sweep is writing it' stderr9.txt
wait "$pid"
check "lock: the first completes its 9 rows, once each" [ "$(unique lock.csv)" = 9 ] && [ "$(rows lock.csv)" = 9 ]

# 10. --output DIR with two sweep files: DIR/steps/ and DIR/dims/, and figures drawn from DIR
#     into a folder of one's own.
sed -e 's/^name = tiny/name = steps/' tiny.ini > a.ini
sed -e 's/^name = tiny/name = dims/' tiny.ini > b.ini
"$bin" sweep --output two --host testhost a.ini b.ini > /dev/null 2>&1
check "two files: two experiment folders" [ -s two/steps/testhost-*.csv ] && [ -s two/dims/testhost-*.csv ]
if command -v gnuplot > /dev/null 2>&1; then
    bash "$src/scripts/plots.sh" "$tmp/two" "$tmp/figs" "$bin" > plots.txt 2>&1
    check "two files: the figures drawn from them" [ -s figs/steps.png ] && [ -s figs/dims.png ] &&
        [ -s figs/memory-accuracy.pdf ]
    check "two files: the committed figures untouched" [ ! -e "$tmp/plots" ]
else
    echo "skip: gnuplot is not installed (make deps installs it): the figures are not drawn"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
