#!/usr/bin/env bash
# `odegrad run --model cnf`: every toy density with both traces records ok rows whose trace and
# data columns say what ran; a (B, D) .npy file is the flow's data (its rows the initial z, l = 0);
# the same seed gives the same loss; bad data and options that do not apply are refused with one
# message and exit 2; a sweep over the traces resumes by them.
#
# usage: bash test_cli_cnf.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_cli_cnf.sh ODEGRAD_BINARY SOURCE_DIR}
SRC=${2:?usage: test_cli_cnf.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"
SMALL=(--model cnf --dim 2 --hidden 8 --batch 5 --steps 8 --repeat 1 --warmup 0)

for data in moons 8gaussians checkerboard; do
    for trace in exact hutchinson; do
        expect "$data, $trace: ok" sh -c "'$BIN' run ${SMALL[*]} --data $data --trace $trace \
            --csv '$W/runs.csv' > /dev/null 2>&1"
    done
done
# the error of RK4 at h = 1/8 is O(h^4) ~ 2.4e-4 times derivatives of order one
expect "six ok rows, each with its trace and data, against the fine reference" python3 -c "
import csv, sys
rows = list(csv.DictReader(open('$W/runs.csv')))
want = [(d, t) for d in ('moons', '8gaussians', 'checkerboard') for t in ('exact', 'hutchinson')]
sys.exit(not (len(rows) == 6 and [(r['data'], r['trace']) for r in rows] == want and
              all(r['status'] == 'ok' and r['model'] == 'cnf' and r['D'] == '2' and
                  r['P'] == str(2 * 8 * 2 + 8 + 2) and float(r['err_vs_reference']) < 1e-3
                  for r in rows)))"

# the same seed, the same data and loss; another seed, other data
loss() { "$BIN" run "${SMALL[@]}" --reference none "$@" --json 2> /dev/null | tail -1 |
    python3 -c "import json, sys; print(repr(json.load(sys.stdin)['loss']))"; }
expect "the same seed gives the same loss" test "$(loss --seed 3)" = "$(loss --seed 3)"
expect "another seed draws other data" test "$(loss --seed 3)" != "$(loss --seed 4)"

# a .npy file as data: the (5, 2) z0 that an mlp problem of D = 2 saves
mkdir -p "$W/p" "$W/q"
"$BIN" run --model mlp --dim 2 --hidden 4 --batch 5 --steps 2 --repeat 1 --warmup 0 \
    --reference none --save-problem "$W/p" > /dev/null 2>&1
expect "--data FILE.npy runs" sh -c "'$BIN' run ${SMALL[*]} --data '$W/p/z0.npy' \
    --save-problem '$W/q' --csv '$W/npy.csv' > /dev/null 2>&1"
expect "the record's data column holds the file" grep -q ",$W/p/z0.npy," "$W/npy.csv"
expect "the flow starts from the file's rows, log-density 0" python3 -c "
import struct, sys
def npy(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<H', b[8:10])[0]
    h = eval(b[10:10 + n].decode())
    k = 1
    for s in h['shape']:
        k *= s
    return list(struct.unpack('<%dd' % k, b[10 + n:10 + n + 8 * k])), h['shape']
x, xs = npy('$W/p/z0.npy')
z, zs = npy('$W/q/z0.npy')
rows = [z[i * 3:i * 3 + 3] for i in range(5)]
sys.exit(not (xs == (5, 2) and zs == (5, 3) and
              all(r[:2] == x[2 * i:2 * i + 2] and r[2] == 0.0 for i, r in enumerate(rows))))"

refused() { # refused WHAT PHRASE ARGS...
    local what=$1 phrase=$2
    shift 2
    "$BIN" run "$@" > "$W/out" 2> "$W/err"
    local rc=$?
    if [ $rc -eq 2 ] && grep -q -- "$phrase" "$W/err" && [ "$(wc -l < "$W/err")" -eq 1 ]; then
        pass
    else
        fail "$what: exit $rc, message: $(cat "$W/err")"
    fi
}
refused "data of another shape" "expected (5, 3), found (5, 2)" \
    "${SMALL[@]}" --dim 3 --data "$W/p/z0.npy"
refused "no such data file" "--data: '$W/none.npy'" "${SMALL[@]}" --data "$W/none.npy"
refused "an unknown density" "'spiral' is not one of moons, 8gaussians, checkerboard" \
    "${SMALL[@]}" --data spiral
refused "--trace for mlp" "--trace applies only to the cnf model, not mlp" \
    --model mlp --trace exact
refused "--data for linear" "--data applies only to the cnf model, not linear" \
    --model linear --data moons
refused "an unknown trace" "'stochastic' is not one of exact, hutchinson" \
    "${SMALL[@]}" --trace stochastic
refused "time input" "--time-input applies only to the mlp model, not cnf" \
    "${SMALL[@]}" --time-input

cat > "$W/s.ini" << EOF2
[sweep]
name = flow
model = cnf
dim = 2
hidden = 4
batch = 5
steps = 4
reference = none
repeat = 1
warmup = 0
method = backprop, backsolve-adjoint
[run]
trace = exact, hutchinson
EOF2
expect "a sweep over the traces" sh -c "'$BIN' sweep --output '$W/sw' '$W/s.ini' > /dev/null 2>&1"
expect "four rows" test "$(tail -n +2 "$W"/sw/flow/*.csv | wc -l)" = 4
expect "the sweep resumes by the trace: nothing left to run" \
    sh -c "'$BIN' sweep --output '$W/sw' '$W/s.ini' 2>&1 | grep -q '0 to run'"
summary
