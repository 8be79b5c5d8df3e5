#!/bin/sh
# The "ranks" experiment: one gradient spread over MPI ranks x OpenMP threads (`odegrad run
# --mpi`, docs/experiments.md, "Past one machine"), strong scaling (the batch fixed) and weak
# scaling (the batch grows with the ranks, the rows per rank fixed), then the figure
# plots/ranks.png and .pdf.  Rows go to results/ranks/HOST-DATE.csv: per run the ranks, threads,
# the CPUs of the machine, whether the ranks x threads exceed them (oversubscribed), the batch,
# the median gradient time, the time and bytes per gradient and rank of the rows' exchanges
# (comm) and of the parameter gradient's reduction (reduce), and the largest rank's accounted
# memory; beside it HOST-DATE.csv.json (`odegrad version --json`) and HOST-DATE.csv.launcher
# (the MPI launcher's version).  Every --mpi gradient is bit-identical to the one-rank one
# (tests/test_mpi_gradient.sh), so only time and memory are measured here.
#
# Usage: scripts/ranks.sh [ODEGRAD]   (default build/odegrad)
# Environment: RANKS (default "1 2 4"), THREADS (default "1 2"), MPIRUN (default mpirun; srun
# inside a Slurm allocation), MPIRUN_FLAGS (default with Open MPI outside Slurm:
# --oversubscribe --bind-to none), PROBLEM (the odegrad run flags of the problem), WEAK_ROWS
# (rows per rank of the weak-scaling runs, default 128), RESULTS (default results), PLOTS
# (default plots).  On one machine more ranks x threads than CPUs share cores: the rows say so
# (oversubscribed 1) and so does the figure; such times measure the sharing, not the method.
set -eu

bin=${1:-build/odegrad}
case $bin in
    /*) ;;
    *) bin=$PWD/$bin ;;
esac
cd "$(dirname "$0")/.."
if [ ! -x "$bin" ]; then
    echo "ranks.sh: $bin is not built (make)" >&2
    exit 2
fi
ranks=${RANKS:-1 2 4}
threads=${THREADS:-1 2}
mpirun=${MPIRUN:-mpirun}
if ! command -v "$mpirun" >/dev/null 2>&1; then
    echo "ranks.sh: $mpirun not found: install an MPI (scripts/install-deps.sh mpi) and rebuild" >&2
    exit 2
fi
if [ -z "${MPIRUN_FLAGS+x}" ]; then
    MPIRUN_FLAGS=""
    if [ -z "${SLURM_JOB_ID:-}" ] && "$mpirun" --version 2>&1 | grep -q -e 'Open MPI' -e OpenRTE; then
        MPIRUN_FLAGS="--oversubscribe --bind-to none"
    fi
fi
# Open MPI will not start as root (a container's user) unless told that this is meant
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
problem=${PROBLEM:---model mlp --dim 32 --hidden 128 --scheme rk4 --steps 16 --method backprop --repeat 3 --warmup 1 --reference none}
weak_rows=${WEAK_ROWS:-128}
results=${RESULTS:-results}
plots=${PLOTS:-plots}
cores=$(nproc 2>/dev/null || echo 1)
if [ -n "${SLURM_JOB_ID:-}" ]; then
    cores=$(( ${SLURM_CPUS_ON_NODE:-$cores} * ${SLURM_JOB_NUM_NODES:-1} ))
fi

mkdir -p "$results/ranks" "$plots"
csv="$results/ranks/$(hostname -s 2>/dev/null || hostname)-$(date +%Y-%m-%d).csv"
# the provenance: this binary's (commit, compiler, CPU, OpenBLAS, OpenMP) and the launcher's
"$bin" version --json > "$csv.json.tmp" 2>/dev/null && mv "$csv.json.tmp" "$csv.json" || rm -f "$csv.json.tmp"
"$mpirun" --version 2>&1 | head -n 1 > "$csv.launcher" || true
[ -s "$csv" ] || echo "scaling,ranks,threads,cores,oversubscribed,B,time_median_s,comm_s,comm_bytes,reduce_s,reduce_bytes,rank_peak_bytes,status" > "$csv"

# field NAME: the number after "NAME": in the one-line JSON record on stdin
field() { grep -o "\"$1\":[^,}]*" | head -n 1 | cut -d: -f2 | tr -d '"'; }

status=0
for scaling in strong weak; do
    for t in $threads; do
        for r in $ranks; do
            if [ "$scaling" = strong ]; then
                b=$((weak_rows * 4))
            else
                b=$((weak_rows * r))
            fi
            over=0
            [ $((r * t)) -gt "$cores" ] && over=1
            yield=0
            if [ $over -eq 1 ]; then
                echo "ranks.sh: $scaling, $r ranks x $t threads on $cores CPUs: oversubscribed" >&2
                yield=1 # Open MPI: a rank that waits gives its core up rather than polling
            fi
            # shellcheck disable=SC2086
            json=$(OMP_NUM_THREADS=$t OMPI_MCA_mpi_yield_when_idle=$yield "$mpirun" $MPIRUN_FLAGS -n "$r" "$bin" run $problem \
                --batch "$b" --threads "$t" --mpi --json 2>/dev/null | tail -n 1) || status=1
            st=$(echo "$json" | field status)
            echo "$scaling,$r,$t,$cores,$over,$b,$(echo "$json" | field time_median_s)," \
                "$(echo "$json" | field comm_s_per_gradient),$(echo "$json" | field comm_bytes_per_gradient)," \
                "$(echo "$json" | field reduce_s_per_gradient),$(echo "$json" | field reduce_bytes_per_gradient)," \
                "$(echo "$json" | field rank_accounted_peak_max),${st:-error}" | tr -d ' ' >> "$csv"
            echo "ranks.sh: $scaling B=$b $r x $t: ${st:-error} $(echo "$json" | field time_median_s) s" >&2
        done
    done
done
echo "ranks.sh: $csv" >&2

if command -v gnuplot >/dev/null 2>&1; then
    err=$(mktemp)
    for fmt in png pdf; do
        # a kind of run that did not happen (none oversubscribed) is an empty curve: not news
        gnuplot -e "csv='$csv'; out='$plots/ranks'; fmt='$fmt'" plots/ranks.gp 2> "$err" || status=1
        grep -v 'no valid points' "$err" >&2 || true
    done
    rm -f "$err"
    echo "ranks.sh: $plots/ranks.png $plots/ranks.pdf" >&2
fi
exit "$status"
