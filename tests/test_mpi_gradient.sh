#!/bin/bash
# The batch-parallel gradient on one machine (mpirun --oversubscribe): `odegrad run --mpi` with
# 1, 2 and 3 ranks of 2 threads each is bit-identical to the serial run on one thread (every
# .npy of --save-grad compared byte for byte), for a discrete and a continuous method (backprop,
# stored-adjoint; backprop also with kept activations, each rank keeping its own chunks' rows),
# with fixed and with adaptive steps (dopri5: the step-size controller sees
# the same bits on every rank, so it accepts the same steps); the record gives the ranks, the
# exchanges and each rank's memory; what cannot be split is refused as bad input.
# Usage: bash test_mpi_gradient.sh ODEGRAD SOURCE_DIR (ODG_MPIEXEC: the launcher, or empty)
set -u
source "$(dirname "$0")/mpi_lib.sh"

# ---- the batch-parallel gradient: 40 rows in five 8-row chunks, split 1 / 2+3 / 1+2+2 --------
same_grads() { # same_grads DIR1 DIR2: the same .npy files, byte for byte
    local f n=0
    for f in "$1"/*.npy; do
        cmp -s "$f" "$2/$(basename "$f")" || return 1
        n=$((n + 1))
    done
    [ "$n" -eq 5 ] # gW1 gb1 gW2 gb2 gz0
}
for case in "backprop --steps 8" "stored-adjoint --steps 8" \
    "backprop --scheme dopri5 --rtol 1e-5" "stored-adjoint --scheme dopri5 --rtol 1e-5" \
    "backprop --steps 8 --keep-activations"; do
    name=$(echo "$case" | tr ' ' '_')
    mkdir -p "g_$name/serial"
    "$bin" run $prob --method $case --threads 1 --save-grad "g_$name/serial" > /dev/null 2>&1
    for r in 1 2 3; do
        mkdir -p "g_$name/$r"
        mpi "$r" "$bin" run $prob --method $case --mpi --threads 2 --save-grad "g_$name/$r" \
            > "g_$name/$r.txt" 2>&1
        check "--mpi $case, $r rank(s) x 2 threads: ok" grep -q 'status   ok' "g_$name/$r.txt"
        check "--mpi $case, $r rank(s) x 2 threads: the serial gradient's bits" \
            same_grads "g_$name/serial" "g_$name/$r"
    done
done
check "--mpi: the record gives the ranks and the exchanges" \
    grep -q 'mpi      3 ranks; per gradient and rank: rows .*, gradient reduction ' \
    "g_backprop_--steps_8/3.txt"
mpi 2 "$bin" run $prob --mpi --json > j.txt 2> /dev/null
check "--mpi --json: detail.mpi with the ranks, the exchanges and each rank's memory" \
    grep -q '"mpi":{"ranks":2,"comm_s_per_gradient":.*"reduce_bytes_per_gradient":.*"rank_accounted_peak_max"' j.txt
# The reduction's bytes are exact: rank 0 of 2 holds chunks 0 and 1 of the five, and receives
# the other three chunks' partials (P doubles each) at every VJP.
num() { grep -o "\"$1\":[0-9.e+-]*" j.txt | head -n 1 | cut -d: -f2; }
check "--mpi: the reduction's bytes are nvjp x 3 chunks x P x 8" \
    awk -v got="$(num reduce_bytes_per_gradient)" -v nvjp="$(num nvjp)" -v P="$(num P)" \
    'BEGIN { exit !(got == nvjp * 3 * P * 8 && nvjp > 0) }'
# and the rows': rows 16 to 39 (24 rows of D = 4) at every f and every VJP
check "--mpi: the rows' bytes are (nfe_forward + nfe_backward + nvjp) x 24 x 4 x 8" \
    awk -v got="$(num comm_bytes_per_gradient)" -v n="$(($(num nfe_forward) + $(num nfe_backward) + $(num nvjp)))" \
    'BEGIN { exit !(got == n * 24 * 4 * 8 && n > 0) }'
mpi 2 "$bin" run --model linear --dim 4 --batch 40 --batch-chunk 8 --repeat 1 --warmup 0 --mpi \
    > lin.txt 2>&1
check "--mpi with the linear model: refused, exit status 2 (bad input)" [ $? -eq 2 ]
check "--mpi with the linear model: the message says why" grep -q -- '--mpi: .*mlp model' lin.txt

summary
