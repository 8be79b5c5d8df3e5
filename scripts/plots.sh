#!/bin/sh
# Redraws every figure from results already on disk; runs nothing.  For each experiment the
# newest results file (by the date in HOST-DATE.csv, then by modification time) is tidied and
# handed to plots/<figure>.gp, which writes plots/<figure>.png and plots/<figure>.pdf.
#
# Usage: scripts/plots.sh [RESULTS_DIR]     (default: results)
#
# Tidying: when a configuration was measured more than once in one file (a sweep rerun after a
# rebuild appends rows for the new commit), only its last row is kept; rows are then sorted so
# that every curve is drawn in the order of its x (steps, D, C, threads; rtol from loose to tight).
# A configuration is named by its columns up to the BLAS mode: the threads experiment measures
# the same configuration in both modes.
set -eu

cd "$(dirname "$0")/.."
results=${1:-results}

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plots.sh: gnuplot is not installed (apt-get install gnuplot-nox)" >&2
    exit 1
fi

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

# The last row of each configuration, sorted along the curves; header first.
tidy() {
    head -n 1 "$1" > "$2"
    awk -F, '
        NR == 1 {
            for (i = 1; i <= NF; i++) col[$i] = i
            n = split("experiment model D H B spectrum stiffness gain t1 scheme rtol atol " \
                      "method schedule checkpoints interp threads blas_mode batch_chunk seed", id, " ")
            next
        }
        {
            key = ""
            for (k = 1; k <= n; k++) key = key "," (id[k] in col ? $(col[id[k]]) : "")
            # a fixed-step configuration is named by its N, an adaptive one by its tolerances
            if ("rtol" in col && $(col["rtol"]) + 0 == 0) key = key "," $(col["steps"])
            if (!(key in row)) order[++m] = key
            row[key] = $0
        }
        END { for (i = 1; i <= m; i++) print row[order[i]] }
    ' "$1" > "$2.rows"
    # sort keys by column position, found from the header
    c() { head -n 1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1; }
    sort -t, -s -k"$(c "$1" method)","$(c "$1" method)" \
        -k"$(c "$1" schedule)","$(c "$1" schedule)" \
        -k"$(c "$1" scheme)","$(c "$1" scheme)" \
        -k"$(c "$1" model)","$(c "$1" model)" \
        -k"$(c "$1" D)","$(c "$1" D)g" \
        -k"$(c "$1" stiffness)","$(c "$1" stiffness)g" \
        -k"$(c "$1" checkpoints)","$(c "$1" checkpoints)g" \
        -k"$(c "$1" steps)","$(c "$1" steps)g" \
        -k"$(c "$1" rtol)","$(c "$1" rtol)gr" \
        -k"$(c "$1" threads)","$(c "$1" threads)g" \
        "$2.rows" >> "$2"
}

drawn=0
missing=""
failed=""
# figure:experiment whose results it reads
for pair in steps:steps memory-accuracy:steps dims:dims checkpoints:checkpoints \
            stiffness:stiffness tolerance:tolerance threads:threads targets:targets; do
    fig=${pair%%:*}
    exp=${pair#*:}
    csv=$(newest "$exp")
    if [ -z "$csv" ]; then
        missing="$missing $fig"
        continue
    fi
    [ -f "$tmp/$exp.csv" ] || tidy "$csv" "$tmp/$exp.csv"
    ok=1
    for fmt in png pdf; do
        # a method without failures gives an empty curve in plots that draw failures: not news
        gnuplot -e "csv='$tmp/$exp.csv'; out='plots/$fig'; fmt='$fmt'" "plots/$fig.gp" \
            2> "$tmp/gnuplot.err" || ok=0
        grep -v 'no valid points' "$tmp/gnuplot.err" >&2 || true
    done
    if [ $ok -eq 1 ]; then
        echo "plots/$fig.png plots/$fig.pdf  <- $csv"
        drawn=$((drawn + 1))
    else
        failed="$failed $fig"
    fi
done

if [ -n "$missing" ]; then
    echo "plots.sh: no results for:$missing (run make experiments)" >&2
fi
if [ -n "$failed" ]; then
    echo "plots.sh: gnuplot failed for:$failed" >&2
    exit 1
fi
[ "$drawn" -gt 0 ]
