#!/bin/sh
# Redraws every figure from results already on disk; runs no measurement.  For each experiment
# the newest results file (by the date in HOST-DATE.csv, then by modification time) is tidied by
# `odegrad tidy` (the last row of each configuration, by the same identity a resumed sweep uses,
# sorted along the curves) and handed to plots/<figure>.gp, which writes <figure>.png and .pdf.
# The time-to-accuracy figure also gets each solver's Pareto front from
# scripts/time_to_accuracy.py (python3), which writes its table of time ratios next to the
# results file (HOST-DATE.ratios.md).
#
# Usage: scripts/plots.sh [RESULTS_DIR [PLOTS_DIR [ODEGRAD]]]
#        (defaults: results, plots, build/odegrad; `make plots RESULTS=DIR PLOTS=DIR2`)
# The figures of a results folder of one's own go to a folder of one's own: the committed ones
# are touched only when PLOTS_DIR is plots/.
set -eu

cd "$(dirname "$0")/.."
results=${1:-results}
out=${2:-plots}
odegrad=${3:-build/odegrad}

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plots.sh: gnuplot is not installed (apt-get install gnuplot-nox)" >&2
    exit 1
fi
if [ ! -x "$odegrad" ]; then
    echo "plots.sh: $odegrad is not built (make)" >&2
    exit 1
fi
if [ ! -d "$results" ]; then
    echo "plots.sh: $results is not a directory" >&2
    exit 2
fi
mkdir -p "$out"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# The newest results file of experiment $1, or nothing.
newest() {
    for f in "$results/$1"/*.csv; do
        [ -f "$f" ] || continue
        d=$(basename "$f" .csv | grep -o '[0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}$' || echo 0000-00-00)
        printf '%s %s %s\n' "$d" "$(stat -c %Y "$f")" "$f"
    done | sort -k1,1r -k2,2nr | head -n 1 | cut -d' ' -f3-
}

# Every curve in the order of its x: steps, D, C, threads, K; rtol from loose to tight.
sort_cols=solver,lmm,method,schedule,scheme,model,D,stiffness,checkpoints,steps,-rtol,threads,outputs

drawn=0
missing=""
failed=""
# figure:experiment whose results it reads
for pair in steps:steps memory-accuracy:steps dims:dims checkpoints:checkpoints \
            stiffness:stiffness tolerance:tolerance threads:threads targets:targets \
            reversible:reversible outputs:outputs cnf:cnf time-to-accuracy:time-to-accuracy; do
    fig=${pair%%:*}
    exp=${pair#*:}
    csv=$(newest "$exp")
    if [ -z "$csv" ]; then
        missing="$missing $fig"
        continue
    fi
    if [ ! -f "$tmp/$exp.csv" ] &&
        ! "$odegrad" tidy --sort "$sort_cols" "$csv" > "$tmp/$exp.csv"; then
        failed="$failed $fig"
        continue
    fi
    extra=""
    if [ "$fig" = time-to-accuracy ]; then
        if ! command -v python3 >/dev/null 2>&1 ||
            ! python3 scripts/time_to_accuracy.py "$tmp/$exp.csv" --front "$tmp/front.csv" \
                --table "${csv%.csv}.ratios.md" --provenance "$csv.json" \
                --duels "${csv%.csv}.duels.csv" > /dev/null; then
            failed="$failed $fig"
            continue
        fi
        extra="; front='$tmp/front.csv'"
    fi
    ok=1
    for fmt in png pdf; do
        # a method without failures gives an empty curve in plots that draw failures: not news
        gnuplot -e "csv='$tmp/$exp.csv'; out='$out/$fig'; fmt='$fmt'$extra" "plots/$fig.gp" \
            2> "$tmp/gnuplot.err" || ok=0
        grep -v 'no valid points' "$tmp/gnuplot.err" >&2 || true
    done
    if [ $ok -eq 1 ]; then
        echo "$out/$fig.png $out/$fig.pdf  <- $csv"
        drawn=$((drawn + 1))
    else
        failed="$failed $fig"
    fi
done

if [ -n "$missing" ]; then
    case " $missing " in
        *" time-to-accuracy "*) how="make experiments; time-to-accuracy: make experiments-peers" ;;
        *) how="make experiments" ;;
    esac
    echo "plots.sh: no results for:$missing (run $how)" >&2
fi
if [ -n "$failed" ]; then
    echo "plots.sh: gnuplot failed for:$failed" >&2
    exit 1
fi
[ "$drawn" -gt 0 ]
