# The look shared by every odegrad figure; each plots/*.gp sets `figure`, `experiment` and its
# size in panels (figw, figh) and then loads this file.
#
# One colour and marker per gradient method, the same in every figure (Okabe-Ito colours, safe
# for colour-blind readers): discrete adjoints in blues and green, continuous ones in warm
# colours, the reversible method in black.  Line style i is method i of METHODS (the order of
# include/odegrad/methods.def); style 10+i is its twin with an open marker and a dashed line (a
# theory value, a second schedule or a second scheme).
#
# Variables a caller may set with gnuplot -e before the script: csv (the results file; default
# the newest results/<experiment>/*.csv), out (the figure's path without extension; default
# plots/<figure>), fmt ("png" or "pdf"; default png).

here = system(sprintf("dirname '%s'", ARG0))
if (!exists("csv")) {
    csv = system(sprintf("ls -1t results/%s/*.csv 2>/dev/null | head -n 1", experiment))
}
if (strlen(csv) == 0) {
    print sprintf("%s.gp: no results/%s/*.csv (make experiments)", figure, experiment)
    exit status 1
}
if (!exists("out")) { out = here . "/" . figure }

METHODS = "backprop backprop-steps backprop-checkpoint " . \
          "stored-adjoint checkpoint-adjoint backsolve-adjoint reversible"
NM = words(METHODS)
method(i) = word(METHODS, i)

# Marker sizes shrink along each family, and later methods are drawn on top: where methods
# compute the same numbers (the three discrete ones always do) their markers nest instead of
# hiding each other.
set style line 1 lc rgb "#0072B2" lw 2 pt 7 ps 1.5    # backprop: blue, filled circle
set style line 2 lc rgb "#56B4E9" lw 2 pt 5 ps 1.1    # backprop-steps: sky blue, filled square
set style line 3 lc rgb "#009E73" lw 2 pt 9 ps 0.8    # backprop-checkpoint: green, triangle
set style line 4 lc rgb "#E69F00" lw 2 pt 11 ps 1.5   # stored-adjoint: orange, triangle down
set style line 5 lc rgb "#D55E00" lw 2 pt 13 ps 1.1   # checkpoint-adjoint: vermillion, diamond
set style line 6 lc rgb "#CC79A7" lw 2 pt 15 ps 0.8   # backsolve-adjoint: pink, pentagon
set style line 7 lc rgb "#000000" lw 2 pt 3 ps 1.2    # reversible: black, star
COLOURS = "#0072B2 #56B4E9 #009E73 #E69F00 #D55E00 #CC79A7 #000000"
OPEN_MARKERS = "6 4 8 10 12 14 1"
SIZES = "1.5 1.1 0.8 1.5 1.1 0.8 1.2"
do for [i=1:NM] {
    # the dashed twin: same colour, open marker
    eval sprintf("set style line %d lc rgb '%s' lw 1.5 dt 2 pt %s ps %s", 10 + i, \
                 word(COLOURS, i), word(OPEN_MARKERS, i), word(SIZES, i))
}
set style line 20 lc rgb "#555555" lw 1 dt 3         # guides: ideal lines, bounds
set style line 21 lc rgb "#999999" lw 6              # the Pareto front, behind the curves

# The results files: comma separated, first line the column names (selected with column("name")).
# Rows filtered out with NaN are skipped without breaking a curve.
set datafile separator ","
set datafile missing NaN

# A row of method m that ran to completion; pick(m, x) is x for such rows and NaN otherwise.
ok(m) = strcol("method") eq m && strcol("status") eq "ok"
pick(m, x) = ok(m) ? x : NaN
bytes(c) = column(c) > 0 ? column(c) : NaN
# An error column: a zero (the gradient equal to the reference to the last bit) is drawn at the
# floor ERR_ZERO, which ZERO_LINE marks on the plot, never dropped from the log axis; an empty
# field (no reference) stays out.
ERR_ZERO = 1e-17
err(c) = strlen(strcol(c)) == 0 ? NaN : column(c) > 0 ? column(c) : ERR_ZERO
ZERO_LINE = "set yrange [ERR_ZERO / 4:*]; " . \
            "set arrow 99 from graph 0, first ERR_ZERO to graph 1, first ERR_ZERO nohead " . \
            "dt 3 lc rgb '#777777'; set label 99 'exactly 0' at graph 0.98, first ERR_ZERO * 3 " . \
            "right font ',8' tc rgb '#555555'"
NO_ZERO_LINE = "unset arrow 99; unset label 99; set yrange [*:*]"

set grid xtics ytics mxtics mytics lc rgb "#e0e0e0" lw 1, lc rgb "#f2f2f2" lw 1
set key top left box opaque samplen 2.5 spacing 1.1 font ",8"
set border lw 1
set tics nomirror out scale 0.6
set mxtics 10
set mytics 10
set format x "10^{%L}"
set format y "10^{%L}"
FMT_BYTES = '"%.0s %cB"'
FMT_SECONDS = '"%.0s %cs"'

# Terminal and output: a figure of figw x figh panels (set by the script before loading us).
if (!exists("fmt")) { fmt = "png" }
if (!exists("figw")) { figw = 1 }
if (!exists("figh")) { figh = 1 }
if (fmt eq "pdf") {
    set terminal pdfcairo enhanced color font "Helvetica,9" size 4.2 * figw, 3.1 * figh
} else {
    set terminal pngcairo enhanced color font "Helvetica,10" size 720 * figw, 540 * figh
}
set output out . "." . fmt
