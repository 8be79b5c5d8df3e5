#!/usr/bin/env bash
# Faults at the edges of `odegrad run`, each case of issue 16 through the command itself:
#   outputs   a full disk (a file-size limit, `ulimit -f`, with SIGXFSZ ignored: the kernel takes
#             what fits and then refuses, as a full disk does) cuts neither a CSV row nor a set of
#             --save-grad files, and a failed save is the row's status; outputs that cannot be
#             written are refused (exit 2) before anything is measured;
#   inputs    a dangling symbolic link or a FIFO among the --load files, NaN or inf in them and
#             a dtype with a NUL byte are bad input (exit 2, naming the file); huge finite
#             values that overflow are `diverged`, never `ok` with an empty loss; an unconverged
#             fine reference is the row's status (`unconverged`);
#   resources an address-space limit too small for OpenBLAS's buffers is an `oom` row, not a
#             hang before main(); --timeout covers the reference's computation as well.
#
# usage: bash test_cli_faults.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_cli_faults.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"

MLP=(--dim 2 --hidden 8 --batch 4 --steps 8 --repeat 1 --warmup 0 --reference none)

# npy PATH SHAPE VALUES [DESCR]: a .npy file written by hand (no NumPy needed); VALUES is a
# Python expression for the list of numbers.
npy() {
    python3 - "$@" << 'EOF'
import struct, sys
path, shape, vals = sys.argv[1], eval(sys.argv[2]), eval(sys.argv[3])
descr = (sys.argv[4] if len(sys.argv) > 4 else '<f8').replace('\\0', '\0')
d = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (descr, shape)
h = d.encode('latin1')
h += b' ' * ((10 + len(h) + 1 + 63) // 64 * 64 - 10 - len(h) - 1) + b'\n'
with open(path, 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h)
    f.write(struct.pack('<%dd' % len(vals), *vals))
EOF
}
# field FILE COLUMN: the column's value in the CSV's last row
field() {
    python3 -c "
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(rows[-1][sys.argv[2]] if rows else '')" "$1" "$2"
}
# jfield FILE KEY: a key of the JSON record on the output's last line
jfield() {
    python3 -c "
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
v = r[sys.argv[2]]
print('null' if v is None else v)" "$1" "$2"
}
# expect_exit NAME WANT-STATUS WANT-TEXT: the last command's status and its stderr
expect_exit() {
    local name=$1 want=$2 text=$3
    [ "$rc" -eq "$want" ] && pass || fail "$name: exit status $rc, not $want ($(cat "$W/err"))"
    grep -qF -- "$text" "$W/err" && pass ||
        fail "$name: stderr does not say '$text': $(cat "$W/err")"
    echo "ok: $name: exit $rc: $(head -n 1 "$W/err")"
}

# ---- outputs: a full disk ----------------------------------------------------------------
# A CSV whose next row crosses the file-size limit: the write takes what fits, then fails.
csv=$W/full.csv
"$BIN" run "${MLP[@]}" --csv "$csv" > /dev/null || fail "setup: a run"
for i in $(seq 1 40); do
    size=$(stat -c %s "$csv")
    gap=$(((size / 1024 + 1) * 1024 - size))
    [ "$gap" -gt 16 ] && [ "$gap" -lt 250 ] && break
    "$BIN" run "${MLP[@]}" --csv "$csv" > /dev/null || fail "setup: a run"
done
limit=$((size / 1024 + 1))
cp "$csv" "$W/full.before"
cp "$csv.json" "$W/full.json.before"
(trap '' XFSZ; ulimit -f "$limit"; "$BIN" run "${MLP[@]}" --csv "$csv" > /dev/null 2> "$W/err")
rc=$?
expect_exit "row over the file-size limit ($size bytes, limit $limit KiB)" 1 \
    "cannot append the row: $(python3 -c 'import os, errno; print(os.strerror(errno.EFBIG))')"
cmp -s "$csv" "$W/full.before" && pass || fail "a row cut short stayed in the file"
cmp -s "$csv.json" "$W/full.json.before" && pass || fail "the sidecar changed"

# --save-grad over the limit: gz0 (B x D = 128 x 16 doubles, 16 KiB) does not fit in 8 KiB,
# the four weight files do.  The set is written whole or not at all, and the row says so.
SG=(--dim 16 --hidden 8 --batch 128 --steps 4 --repeat 1 --warmup 0 --reference none --json)
mkdir -p "$W/sg_new" "$W/sg_old"
"$BIN" run "${SG[@]}" --seed 7 --save-grad "$W/sg_old" > /dev/null || fail "setup: --save-grad"
cp -r "$W/sg_old" "$W/sg_old.before"
for d in sg_new sg_old; do
    (trap '' XFSZ; ulimit -f 8; "$BIN" run "${SG[@]}" --save-grad "$W/$d" > "$W/out" 2> "$W/err")
    rc=$?
    expect_exit "--save-grad over the file-size limit ($d)" 1 "--save-grad"
    [ "$(jfield "$W/out" status)" = error ] && pass ||
        fail "$d: a failed --save-grad is status $(jfield "$W/out" status), not error"
    grep -q "save-grad failed" "$W/out" && pass || fail "$d: the record's message: $(cat "$W/out")"
done
[ -z "$(ls -A "$W/sg_new")" ] && pass || fail "a failed --save-grad left: $(ls -A "$W/sg_new")"
diff -r "$W/sg_old" "$W/sg_old.before" > /dev/null && pass ||
    fail "a failed --save-grad changed the earlier set: $(ls -A "$W/sg_old")"
# and with room, the set replaces the old one whole
"$BIN" run "${SG[@]}" --save-grad "$W/sg_old" > /dev/null && pass || fail "--save-grad with room"
[ "$(ls "$W/sg_old" | tr '\n' ' ')" = "gW1.npy gW2.npy gb1.npy gb2.npy gz0.npy " ] && pass ||
    fail "the saved set: $(ls -A "$W/sg_old")"

# Outputs that cannot be written are refused before anything is measured (root may pass
# access() for /proc: every output is opened or created for real).
mkdir -p "$W/empty"
"$BIN" run "${MLP[@]}" --save-grad /proc > "$W/out" 2> "$W/err"
rc=$?
expect_exit "--save-grad /proc" 2 "--save-grad: '/proc'"
[ ! -s "$W/out" ] && pass || fail "--save-grad /proc measured: $(cat "$W/out")"
"$BIN" run "${MLP[@]}" --csv /proc/x.csv > "$W/out" 2> "$W/err"
rc=$?
expect_exit "--csv /proc/x.csv" 2 "--csv: /proc/x.csv: cannot create the file"
[ ! -s "$W/out" ] && pass || fail "--csv /proc/x.csv measured: $(cat "$W/out")"
"$BIN" run "${MLP[@]}" --save-problem /proc/self > "$W/out" 2> "$W/err"
rc=$?
expect_exit "--save-problem /proc/self" 2 "--save-problem"
mkdir "$W/dir.csv.json"
"$BIN" run "${MLP[@]}" --csv "$W/dir.csv" > "$W/out" 2> "$W/err"
rc=$?
expect_exit "--csv whose sidecar is a directory" 2 "not a regular file"
[ ! -e "$W/dir.csv" ] && pass || fail "the refused --csv was created"

# ---- inputs ------------------------------------------------------------------------------
mkdir -p "$W/prob"
"$BIN" run "${MLP[@]}" --save-problem "$W/prob" > /dev/null || fail "setup: --save-problem"
# load_case NAME WANT-STATUS WANT-TEXT: a run that loads $W/case, a copy of a saved problem
# (fresh_case) with one file broken by the caller
load_case() {
    local name=$1 want=$2 text=$3
    timeout 60 "$BIN" run "${MLP[@]}" --load "$W/case" --json > "$W/out" 2> "$W/err"
    rc=$?
    expect_exit "$name" "$want" "$text"
}
fresh_case() {
    rm -rf "$W/case"
    cp -r "$W/prob" "$W/case"
}
fresh_case
rm "$W/case/z0.npy"
ln -s "$W/case/nowhere.npy" "$W/case/z0.npy"
load_case "dangling symlink z0.npy" 2 "z0.npy: a symbolic link to"
fresh_case
rm "$W/case/W1.npy"
ln -s missing.npy "$W/case/W1.npy"
load_case "dangling symlink W1.npy" 2 \
    "W1.npy: a symbolic link to 'missing.npy', which does not exist"
fresh_case
rm "$W/case/W1.npy"
mkfifo "$W/case/W1.npy"
load_case "FIFO W1.npy" 2 "W1.npy: not a regular file (a FIFO)"
fresh_case
rm "$W/case/z0.npy"
mkfifo "$W/case/z0.npy"
load_case "FIFO z0.npy" 2 "z0.npy: not a regular file (a FIFO)"
fresh_case
npy "$W/case/z0.npy" "(4, 2)" "[0, 1, 2, float('nan'), 4, 5, 6, 7]"
load_case "NaN in z0.npy" 2 "z0.npy: the value at [1, 1] is nan"
fresh_case
npy "$W/case/b1.npy" "(8,)" "[0] * 5 + [float('-inf')] + [0] * 2"
load_case "-inf in b1.npy" 2 "b1.npy: the value at [5] is -inf"
fresh_case
npy "$W/case/w.npy" "(4, 2)" "[1] * 8" "<f8\\0"
load_case "dtype '<f8\\0'" 2 "w.npy: header holds a NUL byte"
fresh_case
npy "$W/case/z0.npy" "(4, 2)" "[1e308] * 8"
npy "$W/case/w.npy" "(4, 2)" "[1e308] * 8"
load_case "1e308 in z0.npy and w.npy" 3 "status diverged: the loss is inf"
[ "$(jfield "$W/out" status)" = diverged ] && [ "$(jfield "$W/out" loss)" = null ] && pass ||
    fail "1e308: status $(jfield "$W/out" status), loss $(jfield "$W/out" loss)"

# an unconverged fine reference: the row is not ok, and says why
timeout 300 "$BIN" run --dim 2 --hidden 8 --batch 4 --steps 8 --repeat 1 --warmup 0 --gain 1e6 \
    --csv "$W/unconv.csv" > "$W/out" 2> "$W/err"
rc=$?
[ "$rc" -eq 3 ] && pass || fail "--gain 1e6: exit status $rc, not 3 ($(cat "$W/err"))"
[ "$(field "$W/unconv.csv" status)" = unconverged ] && pass ||
    fail "--gain 1e6: status $(field "$W/unconv.csv" status), not unconverged"
echo "ok: --gain 1e6: exit $rc: $(grep status "$W/out")"
"$BIN" list statuses | grep -q "^  unconverged " && pass || fail "odegrad list statuses"

# ---- resources ---------------------------------------------------------------------------
# An address-space limit below OpenBLAS's per-thread buffers: an oom row, not a spin before
# main().  AddressSanitizer cannot run under an address-space limit at all.
if [ -n "${ODG_SANITIZE:-}" ]; then
    echo "skipped under the sanitizers (ODG_SANITIZE=$ODG_SANITIZE): ulimit -v" \
        "(AddressSanitizer reserves terabytes of address space)"
else
    for t in 1 2; do
        start=$(date +%s)
        (ulimit -v 200000; timeout 120 "$BIN" run "${MLP[@]}" --threads $t --csv "$W/ulimit.csv" \
            > "$W/out" 2> "$W/err")
        rc=$?
        took=$(($(date +%s) - start))
        [ "$rc" -eq 3 ] && pass || fail "ulimit -v 200000, --threads $t: exit $rc, not 3 (${took}s)"
        [ "$(field "$W/ulimit.csv" status)" = oom ] && pass ||
            fail "ulimit -v 200000: status $(field "$W/ulimit.csv" status), not oom"
        echo "ok: ulimit -v 200000, --threads $t: exit $rc in ${took}s: $(grep status "$W/out")"
    done
    # odegrad roofline calls OpenBLAS in its own process: refused (exit 1, the rates could not
    # be measured), not a spin in OpenBLAS's buffer allocation
    (ulimit -v 200000; timeout 60 "$BIN" roofline --dim 2 --hidden 8 --batch 4 > "$W/out" \
        2> "$W/err")
    rc=$?
    [ "$rc" -eq 1 ] && grep -q "address-space limit" "$W/err" && pass ||
        fail "roofline under ulimit -v 200000: exit $rc: $(cat "$W/err")"
fi
# --timeout counts the reference: one that takes minutes is stopped at the timeout
start=$(date +%s)
timeout 120 "$BIN" run --dim 32 --hidden 128 --batch 256 --gain 3 --steps 8 --repeat 1 \
    --timeout 1 --csv "$W/timeout.csv" > "$W/out" 2> "$W/err"
rc=$?
took=$(($(date +%s) - start))
[ "$rc" -eq 3 ] && [ "$took" -lt 30 ] && pass || fail "--timeout 1: exit $rc after ${took}s"
[ "$(field "$W/timeout.csv" status)" = timeout ] && pass ||
    fail "--timeout 1: status $(field "$W/timeout.csv" status), not timeout"
echo "ok: --timeout 1 with a long reference: exit $rc in ${took}s: $(grep status "$W/out")"

summary
