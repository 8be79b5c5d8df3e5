#!/usr/bin/env bash
# scripts/time_to_accuracy.py on a results file made by hand: a solver's time to a target is its
# fastest ok configuration at least that accurate; the ratio is the peer's over odegrad's; a
# target no configuration reaches is '-'; a configuration recorded twice counts once, its last
# row; the Pareto front keeps exactly the configurations no other of the same solver beats.
#
# usage: bash test_time_to_accuracy.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_time_to_accuracy.sh ODEGRAD_BINARY SOURCE_DIR}
SRC=${2:?usage: test_time_to_accuracy.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"

cat > "$W/r.csv" << 'CSV'
D,H,B,solver,lmm,scheme,steps,rtol,method,status,time_median_s,err_vs_reference
2,8,4,odegrad,,rk4,8,,backprop,ok,0.010,1e-4
2,8,4,odegrad,,rk4,16,,backprop,ok,0.020,1e-6
2,8,4,odegrad,,rk4,32,,backprop,ok,0.040,1e-8
2,8,4,odegrad,,dopri5,10,1e-9,backprop,ok,0.030,1e-8
2,8,4,odegrad,,rk4,64,,backprop,diverged,0.001,1e-13
2,8,4,torch,,rk4,16,,backprop,ok,0.500,1e-6
2,8,4,torch,,rk4,16,,backprop,ok,0.200,1e-6
2,8,4,cvodes,adams,,30,1e-11,checkpoint-adjoint,ok,0.015,2e-11
CSV
if ! python3 "$SRC/scripts/time_to_accuracy.py" "$W/r.csv" --table "$W/t.md" \
    --front "$W/f.csv" > "$W/out.md"; then
    fail "the script fails on a valid file"
fi
expect "the table file is what it prints" cmp -s "$W/t.md" "$W/out.md"
# torch at 1e-5: its last row of rk4 N=16 (0.2 s) over odegrad's rk4 N=16 (0.02 s)
expect "torch at 1e-5: ratio 10 against rk4 N=16" \
    grep -qF "| torch | 1e-05 | 0.02 s | 0.2 s | 10 | rk4 N=16 backprop | rk4 N=16 backprop |" "$W/t.md"
# at 1e-7 odegrad's fastest is dopri5 (0.03 s), not rk4 N=32; torch never gets there
expect "torch at 1e-7: not reached" \
    grep -qF "| torch | 1e-07 | 0.03 s | - | - | dopri5 rtol=1e-09 backprop | - |" "$W/t.md"
# at 1e-10 only cvodes gets there; the diverged row does not count for odegrad
expect "cvodes at 1e-10: odegrad never" \
    grep -qF "| cvodes | 1e-10 | - | 0.015 s | - | - | adams rtol=1e-11 |" "$W/t.md"
expect "cvodes at 1e-3: ratio 1.5" grep -qF "| cvodes | 0.001 | 0.01 s | 0.015 s | 1.5 |" "$W/t.md"
# the fastest peer per target: at 1e-3 cvodes (0.015 s) beats torch (0.2 s): 0.015 / 0.01; at
# 1e-10 no odegrad configuration gets there; at 1e-12 nobody does
expect "summary: the fastest peer at 1e-3 is cvodes" \
    grep -qF "| 2, 8, 4 | 1.5 (cvodes) | 0.75 (cvodes) | 0.5 (cvodes) | - | - |" "$W/t.md"
# the provenance line comes from the sidecar
cat > "$W/p.json" << 'JSON'
{"provenance": {"cpu_model": "Some CPU", "cores_online": 4, "date": "2026-01-02T03:04:05Z",
 "git_commit": "abc123", "openblas_core": "Haswell", "openblas_core_from": "instruction-set",
 "peers": {"torch": "torch 1.13.0", "cvodes": null}}}
JSON
python3 "$SRC/scripts/time_to_accuracy.py" "$W/r.csv" --provenance "$W/p.json" > "$W/p.md" ||
    fail "the script fails with a sidecar"
expect "the provenance line names the kernel and the peers' versions" grep -qF \
    "Measured on Some CPU (4 cores), 2026-01-02T03:04:05Z, commit abc123; OpenBLAS kernel Haswell (chosen by: instruction-set); peers: cvodes: version not recorded, torch: torch 1.13.0." \
    "$W/p.md"
# two configurations that differ only in kept activations are two configurations, named apart
cat > "$W/k.csv" << 'CSV'
D,H,B,solver,lmm,scheme,steps,rtol,method,keep_activations,status,time_median_s,err_vs_reference
2,8,4,odegrad,,rk4,8,,backprop,0,ok,0.010,1e-4
2,8,4,odegrad,,rk4,8,,backprop,1,ok,0.008,1e-4
2,8,4,torch,,rk4,8,,backprop,,ok,0.040,1e-4
CSV
python3 "$SRC/scripts/time_to_accuracy.py" "$W/k.csv" > "$W/k.md" || fail "the script fails on kept activations"
expect "kept activations: the faster of the two, named as such" \
    grep -qF "| torch | 0.001 | 0.008 s | 0.04 s | 5 | rk4 N=8 backprop kept | rk4 N=8 backprop |" "$W/k.md"
# odegrad's front: rk4 N=8, rk4 N=16, dopri5 (rk4 N=32 is beaten by dopri5)
expect "odegrad's front has three points" \
    test "$(grep -c '^2,8,4,odegrad,' "$W/f.csv")" -eq 3
expect "rk4 N=32 is off the front" bash -c "! grep -q ',1e-08,0.040' '$W/f.csv'"

# Side by side (--run-duels), against a stand-in for odegrad that logs its arguments, reads the
# row that --from FILE:LINE names and answers with a time per solver and the error of that row
# (ERR_odegrad overrides odegrad's).
cat > "$W/d.csv" << 'CSV'
model,D,H,B,seed,threads,repeat,warmup,t1,gain,time_input,solver,lmm,scheme,steps,rtol,atol,method,keep_activations,status,time_median_s,err_vs_reference
mlp,2,8,4,1,1,3,1,1,1,0,odegrad,,rk4,8,,,backprop,1,ok,0.010,1e-4
mlp,2,8,4,1,1,3,1,1,1,0,cvodes,adams,,40,1e-5,1e-8,checkpoint-adjoint,,ok,0.030,5e-5
mlp,2,8,4,1,1,3,1,1,1,0,torch,,dopri5,12,1e-6,1e-9,backprop,,ok,0.050,1e-6
CSV
cat > "$W/fake" << 'SH'
#!/bin/sh
[ "$1 $2" = "run --from" ] && [ "$4" = "--json" ] || { echo "bad arguments: $*" >&2; exit 2; }
row=$(sed -n "${3##*:}p" "${3%:*}")
solver=$(echo "$row" | cut -d, -f12)
e=$(echo "$row" | cut -d, -f22)
echo "$* $solver" >> "$LOG"
case "$solver" in
    odegrad) t=0.002 e=${ERR_odegrad:-$e} ;;
    cvodes) t=0.008 ;;
    *) t=0.010 ;;
esac
echo "{\"status\": \"ok\", \"time_median_s\": $t, \"err_vs_reference\": $e}"
SH
chmod +x "$W/fake"
export LOG="$W/log"
: > "$LOG"
python3 "$SRC/scripts/time_to_accuracy.py" "$W/d.csv" --duels "$W/duels.csv" --run-duels 3 \
    --odegrad "$W/fake" --table "$W/d.md" > /dev/null 2> "$W/d.err" || fail "--run-duels fails"
# one cell has both winners: 1e-3, rk4 N=8 against cvodes (faster than torch); at 1e-5 only the
# peers get there, so nothing to run side by side
expect "three pairs of one duel: six runs" test "$(wc -l < "$LOG")" -eq 6
expect "alternating: odegrad first, then the peer first, then odegrad" test \
    "$(awk '{print $NF}' "$LOG" | tr '\n' ' ')" = "odegrad cvodes cvodes odegrad odegrad cvodes "
expect "odegrad's winner: its line of the results file" \
    grep -qxF "run --from $W/d.csv:2 --json odegrad" "$LOG"
expect "the peer's winner: its line" grep -qxF "run --from $W/d.csv:3 --json cvodes" "$LOG"
expect "the duels file: a header and six runs" test "$(wc -l < "$W/duels.csv")" -eq 7
expect "the side-by-side ratio is the peer's time over odegrad's, per pair" \
    grep -qF "| 2, 8, 4 | 4 (4-4) | - | - | - | - |" "$W/d.md"
# the table drawn again later reads the duels file
python3 "$SRC/scripts/time_to_accuracy.py" "$W/d.csv" --duels "$W/duels.csv" > "$W/d2.md" ||
    fail "reading a duels file fails"
expect "a duels file read gives the same side-by-side table" grep -qF "| 2, 8, 4 | 4 (4-4) |" "$W/d2.md"
# a run that does not reproduce its row's error is another configuration: refused, and the
# duels file from before stays as it was
cp "$W/duels.csv" "$W/duels.before"
ERR_odegrad=2e-4 python3 "$SRC/scripts/time_to_accuracy.py" "$W/d.csv" --duels "$W/duels.csv" \
    --run-duels 2 --odegrad "$W/fake" > /dev/null 2> "$W/d.err"
expect "an error that is not the row's: exit 1" test $? -eq 1
expect "... with a message that says so" grep -qF "the results file has" "$W/d.err"
expect "... and the duels file untouched" cmp -s "$W/duels.csv" "$W/duels.before"
python3 "$SRC/scripts/time_to_accuracy.py" "$W/d.csv" --run-duels 2 > /dev/null 2> "$W/d.err"
expect "--run-duels without --duels: refused with exit 2" test $? -eq 2

# Contenders: each side's fastest in the sweep and the next one timed within 1.25 times it run
# alternately; each side's duel winner is its contender with the smaller median.  The stand-in
# answers each row's last column.  At 1e-3 odegrad's rk4 N=8 backprop (0.012 s in the sweep,
# within 1.25 x 0.010) and the peers' cvodes (0.045, within 1.25 x 0.040) win their duels; rk4
# N=16 (0.020) is no contender at 1e-3, and at 1e-5 no peer gets there.
cat > "$W/c.csv" << 'CSV'
model,D,H,B,seed,threads,repeat,warmup,t1,gain,time_input,solver,lmm,scheme,steps,rtol,atol,method,keep_activations,status,time_median_s,err_vs_reference,answer
mlp,2,8,4,1,1,3,1,1,1,0,odegrad,,rk4,8,,,backprop,1,ok,0.010,1e-4,0.004
mlp,2,8,4,1,1,3,1,1,1,0,odegrad,,rk4,8,,,backprop,0,ok,0.012,1e-4,0.002
mlp,2,8,4,1,1,3,1,1,1,0,odegrad,,rk4,16,,,backprop,1,ok,0.020,1e-6,0.001
mlp,2,8,4,1,1,3,1,1,1,0,torch,,rk4,8,,,backprop,,ok,0.040,1e-4,0.020
mlp,2,8,4,1,1,3,1,1,1,0,cvodes,adams,,40,1e-5,1e-8,checkpoint-adjoint,,ok,0.045,5e-5,0.012
CSV
cat > "$W/fake2" << 'SH'
#!/bin/sh
row=$(sed -n "${3##*:}p" "${3%:*}")
echo "${3##*:}" >> "$LOG"
echo "{\"status\": \"ok\", \"time_median_s\": $(echo "$row" | cut -d, -f23), \"err_vs_reference\": $(echo "$row" | cut -d, -f22)}"
SH
chmod +x "$W/fake2"
: > "$LOG"
python3 "$SRC/scripts/time_to_accuracy.py" "$W/c.csv" --duels "$W/cd.csv" --run-duels 2 \
    --odegrad "$W/fake2" --table "$W/c.md" > /dev/null 2> "$W/c.err" || fail "contenders: --run-duels fails"
expect "two contenders a side, two pairs: the lines of the file interleaved, sides alternating" \
    test "$(tr '\n' ' ' < "$LOG")" = "2 5 3 6 5 2 6 3 "
expect "the duel winners' ratio: cvodes 0.012 over rk4 N=8's 0.002" \
    grep -qF "| 2, 8, 4 | 6 (6-6) | - | - | - | - |" "$W/c.md"
expect "the winners that are not the sweep's, named" grep -qF -e \
    "- D=2 H=8 B=4, 0.001: odegrad rk4 N=8 backprop, cvodes adams rtol=1e-05 (the sweep's: rk4 N=8 backprop kept; torch rk4 N=8 backprop)" \
    "$W/c.md"
# a duels file of the format before contenders (one row per pair of winners)
cat > "$W/old.csv" << 'CSV'
D,H,B,odegrad_config,peer,peer_config,pair,odegrad_s,peer_s
2,8,4,rk4 N=8 backprop kept,cvodes,adams rtol=1e-05,0,0.002,0.008
CSV
python3 "$SRC/scripts/time_to_accuracy.py" "$W/d.csv" --duels "$W/old.csv" > /dev/null 2> "$W/c.err"
expect "a duels file without this version's columns: exit 1" test $? -eq 1
expect "... naming the file" grep -qF "old.csv: not a duels file of this version" "$W/c.err"
summary
