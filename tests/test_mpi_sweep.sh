#!/bin/bash
# Sweeps under mpirun on one machine (--oversubscribe): with 2 and 3 ranks the results file
# holds exactly the serial sweep's rows (the same configurations in the same order, the same
# deterministic columns: work counts, accounted bytes, loss, errors), none twice, and the
# provenance names every rank's host; a results file that rank 0 refuses stops every rank; a rank killed mid-sweep loses only what it was measuring,
# and a resume with another rank count completes the set, none twice, in the serial order.
# Usage: bash test_mpi_sweep.sh ODEGRAD SOURCE_DIR (ODG_MPIEXEC: the launcher, or empty)
set -u
source "$(dirname "$0")/mpi_lib.sh"

# ---- sweeps ---------------------------------------------------------------------------------
cat > tiny.ini <<'INI'
[sweep]
name = mpitiny
model = mlp
dim = 4
hidden = 8
batch = 16
repeat = 1
warmup = 0
reference = none
[run all]
method = backprop, stored-adjoint, checkpoint-adjoint
steps = 4, 8, 16, 32
INI
# the columns a measurement decides without timing it: configuration, work, bytes, results
proj() {
    awk -F, 'NR == 1 { n = split("experiment,D,H,B,P,scheme,steps,method,schedule," \
                 "checkpoints,checkpoints_used,threads,blas_mode,batch_chunk,nfe_forward," \
                 "nfe_backward,nvjp,recomputed_steps,forward_steps,accounted_peak_bytes," \
                 "stored_bytes,workspace_bytes,theory_bytes,err_vs_discrete,loss,status,seed," \
                 "commit", want, ","); for (i = 1; i <= NF; i++) at[$i] = i; next }
             { s = ""; for (k = 1; k <= n; k++) s = s $(at[want[k]]) ","; print s }' "$1"
}
"$bin" sweep --resume serial.csv tiny.ini 2> /dev/null
proj serial.csv > serial.txt
check "sweep: the serial sweep has 12 rows" [ "$(wc -l < serial.txt)" -eq 12 ]
for r in 2 3; do
    mpi "$r" "$bin" sweep --ranks-per-node 2 --resume "m$r.csv" tiny.ini 2> "m$r.err"
    check "sweep over $r ranks: exit status 0" [ $? -eq 0 ]
    proj "m$r.csv" > "m$r.txt"
    check "sweep over $r ranks: the serial sweep's rows, in its order" cmp -s serial.txt "m$r.txt"
    check "sweep over $r ranks: no configuration twice" \
        [ "$(cut -d, -f1-14 "m$r.txt" | sort -u | wc -l)" -eq 12 ]
    check "sweep over $r ranks: the provenance names every rank's host" \
        grep -q '"measuring_ranks"' "m$r.csv.json"
done
check "sweep over 3 ranks: two of them measured" grep -q '3 ranks, 2 measuring' m3.err
echo "a,b" > other.csv
mpi 3 "$bin" sweep --ranks-per-node 2 --resume other.csv tiny.ini 2> other.err
check "sweep over ranks: a file with another header is refused (exit 2), no rank left waiting" \
    [ $? -eq 2 ]
check "sweep over ranks: the refusal says why, once" \
    [ "$(grep -c "its header is not this version's" other.err)" -eq 1 ]

# ---- a rank killed mid-sweep, then resume with another rank count --------------------------
# The step counts make the sweep last about a second after its first row, so that the kill
# lands while it runs however fast the GEMM kernels are.
cat > kill.ini <<'INI'
[sweep]
name = mpikill
model = mlp
dim = 8
hidden = 32
batch = 64
repeat = 2
warmup = 0
reference = none
[run all]
method = backprop, stored-adjoint
steps = 2^9..2^12
INI
mpi 3 "$bin" sweep --ranks-per-node 2 --resume k.csv kill.ini > k1.err 2>&1 &
launcher=$!
for _ in $(seq 1 300); do
    [ "$(cat k.csv 2> /dev/null | wc -l)" -ge 2 ] && break
    sleep 0.05
done
descendants() { # the processes below $1: timeout, the launcher, the ranks and their children
    local c
    for c in $(pgrep -P "$1"); do
        echo "$c"
        descendants "$c"
    done
}
killed=0
for p in $(descendants "$launcher"); do
    if { tr '\0' '\n' < "/proc/$p/environ"; } 2> /dev/null |
        grep -qx -e 'OMPI_COMM_WORLD_RANK=1' -e 'PMI_RANK=1'; then
        kill -9 "$p" && killed=1
    fi
done
wait "$launcher"
check "kill: rank 1 was killed while the sweep ran" [ "$killed" -eq 1 ]
before=$(($(wc -l < k.csv) - 1))
check "kill: some rows were written, not all ($before of 8)" [ "$before" -ge 1 -a "$before" -lt 8 ]
mpi 2 "$bin" sweep --resume k.csv kill.ini 2> k2.err
check "kill: the resume over 2 ranks completes (exit status 0)" [ $? -eq 0 ]
check "kill: the resume ran only what was missing" \
    grep -q -- "$before already recorded" k2.err
proj k.csv > k.txt
check "kill: the full set, 8 rows" [ "$(wc -l < k.txt)" -eq 8 ]
check "kill: no configuration twice" [ "$(cut -d, -f1-14 k.txt | sort -u | wc -l)" -eq 8 ]
check "kill: the rows in the serial order" \
    [ "$(cut -d, -f7,8 k.txt | tr "\n" " ")" = "512,backprop 512,stored-adjoint 1024,backprop 1024,stored-adjoint 2048,backprop 2048,stored-adjoint 4096,backprop 4096,stored-adjoint " ]

summary
