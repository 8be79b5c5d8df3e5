#!/bin/sh
# Runs the experiment set and draws every figure: `make experiments` (default: fits in 15
# minutes on a two-core machine), `make experiments-full` (paper scale: larger N and D, more
# repeats; hours) and `make experiments-peers` (odegrad against its peers: the time-to-accuracy
# experiment at the default scale alone, too long for the default set; the full set has it at
# full scale, and `make experiments-peers-full` runs that alone).  Results go to results/<experiment>/<host>-<date>.csv with a .json sidecar,
# figures to plots/.  An interrupted run resumes where it stopped: the sweep skips what the
# day's results file already records for the same commit.
#
# Usage: scripts/experiments.sh default|full|peers|peers-full [ODEGRAD]   (ODEGRAD: default build/odegrad)
set -eu

scale=${1:-default}
bin=${2:-build/odegrad}
case $bin in
    /*) ;;
    *) bin=$PWD/$bin ;;
esac
cd "$(dirname "$0")/.."

names="steps dims checkpoints stiffness tolerance threads targets reversible outputs cnf"
case $scale in
    default) dir=experiments ;;
    full)
        dir=experiments/full
        names="$names time-to-accuracy"
        ;;
    peers)
        dir=experiments
        names=time-to-accuracy
        ;;
    peers-full)
        dir=experiments/full
        names=time-to-accuracy
        ;;
    *)
        echo "usage: scripts/experiments.sh default|full|peers|peers-full [ODEGRAD]" >&2
        exit 2
        ;;
esac
if [ ! -x "$bin" ]; then
    echo "experiments.sh: $bin is not built (make)" >&2
    exit 2
fi

# OPENBLAS_CORETYPE set in the environment wins over the kernel odegrad would choose from the
# instruction set (docs/experiments.md): the results record it, and this says so before hours of
# sweeps rather than after.  A machine image may set it for its own reasons: one that set Haswell
# on an AVX-512 AMD EPYC made mlp D=256 dopri8 N=8 backprop 1.53x slower than SkylakeX there.
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    core_of() { "$@" version --json 2>/dev/null | grep -o '"openblas_core":"[^"]*"' | cut -d'"' -f4; }
    ours=$(core_of env -u OPENBLAS_CORETYPE "$bin" || true)
    if [ -n "$ours" ] && [ "$(echo "$ours" | tr "[:upper:]" "[:lower:]")" != "$(echo "$OPENBLAS_CORETYPE" | tr "[:upper:]" "[:lower:]")" ]; then
        echo "experiments.sh: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE from the environment replaces" \
            "the $ours kernels odegrad would choose for this CPU (unset it to use them)" >&2
    fi
fi

# The headline experiment first, so an interrupted run already has its figure.
files=""
for name in $names; do
    [ -f "$dir/$name.ini" ] && files="$files $dir/$name.ini"
done

start=$(date +%s)
status=0
# shellcheck disable=SC2086
"$bin" sweep $files || status=$?
end=$(date +%s)
echo "experiments.sh: $scale set: $(( (end - start) / 60 )) min $(( (end - start) % 60 )) s of sweeps" >&2

# The time-to-accuracy table's side-by-side column: each cell's contenders (each side's fastest
# and a close second) run again alternately (scripts/time_to_accuracy.py --run-duels), into
# HOST-DATE.duels.csv next to the newest results file, which plots.sh then reads into the table.
case " $names " in
    *" time-to-accuracy "*)
        tta=$(ls -t results/time-to-accuracy/*.csv 2>/dev/null | grep -v '\.duels\.csv$' | head -n 1 || true)
        if [ -n "$tta" ] && command -v python3 >/dev/null 2>&1; then
            python3 scripts/time_to_accuracy.py "$tta" --duels "${tta%.csv}.duels.csv" \
                --run-duels 5 --odegrad "$bin" > /dev/null || status=$?
        fi
        ;;
esac

scripts/plots.sh results plots "$bin" || status=$?
exit "$status"
