# Figure "time-to-accuracy" (experiments/time-to-accuracy.ini): per problem size D, the median
# time of one gradient against its error for every configuration of every solver (odegrad,
# PyTorch, CVODES): fixed-step schemes over N and adaptive ones over the tolerance.  Each
# solver's Pareto front (the configurations no other of its own beats in both time and error) is
# the staircase through its points: at each error, the least time of a configuration at least
# that accurate (the fronts come from the largest error down, hence fsteps: up first, then
# across); scripts/time_to_accuracy.py computes the fronts (the file `front`,
# which scripts/plots.sh passes) and the table of time ratios at error targets.
figure = "time-to-accuracy"; experiment = "time-to-accuracy"
if (!exists("front")) {
    print "time-to-accuracy.gp: no front file (scripts/plots.sh computes it with " . \
          "scripts/time_to_accuracy.py)"
    exit status 1
}
set datafile separator ","
stats front using "D" nooutput
ND = 0
DS = ""; HS = ""; BS = ""
# the distinct D in the fronts file (sorted by D there), with each one's H and B
DLAST = -1
set table $scratch
plot front using (column("D") != DLAST ? (DS = DS . sprintf(" %d", column("D")), \
                  HS = HS . sprintf(" %d", column("H")), BS = BS . sprintf(" %d", column("B")), \
                  DLAST = column("D")) : 0):(0) with table
unset table
ND = words(DS)
figw = ND > 1 ? ND : 1; figh = 1.1
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

SOLVERS = "odegrad torch cvodes"
NS = words(SOLVERS)
solver(i) = word(SOLVERS, i)
SCOL = "#0072B2 #D55E00 #009E73"
do for [i=1:NS] {
    eval sprintf("set style line %d lc rgb '%s' lw 2 pt 7 ps 0.7", 30 + i, word(SCOL, i))
    eval sprintf("set style line %d lc rgb '%s' lw 2 dt 1", 40 + i, word(SCOL, i))
}
dsel(j, x) = column("D") == word(DS, j) + 0 && strcol("status") eq "ok" ? x : NaN
ssel(i, j, x) = (strcol("solver") eq solver(i) || (i == 1 && strlen(strcol("solver")) == 0)) ? \
                dsel(j, x) : NaN
fsel(i, j, x) = strcol("solver") eq solver(i) && column("D") == word(DS, j) + 0 ? x : NaN
# the marker says the kind of configuration: fixed steps (circle), adaptive steps through
# backprop or CVODES's Adams (triangle), backsolve-adjoint (square), CVODES's BDF (diamond)
fixed = "(strlen(strcol('rtol')) == 0 || column('rtol') == 0)"
ptype(x) = strcol("lmm") eq "bdf" ? 13 : strcol("method") eq "backsolve-adjoint" ? 5 : \
           @fixed ? 7 : 9

stats csv using (T0 = column("threads"), 0) every ::0::0 nooutput
heading = sprintf("{/:Bold Time to accuracy: odegrad and its peers}  (mlp, %d thread%s; " . \
                  "points: every configuration, lines: each solver's Pareto front)", \
                  T0, T0 == 1 ? "" : "s")
set multiplot layout 1, ND title heading font ",12"
set logscale xy
set xlabel "relative L2 error of the gradient against the reference"
set ylabel "median time of one gradient"
set format x "10^{%L}"
set format y @FMT_SECONDS
set xrange [*:*] reverse
set key top left
do for [j=1:ND] {
    set title sprintf("D = %s, H = %s, B = %s", word(DS, j), word(HS, j), word(BS, j))
    plot for [i=1:NS] csv using (ssel(i, j, err("err_vs_reference"))):(ssel(i, j, column("time_median_s"))):(ptype(0)) \
             with points ls 30 + i pt variable notitle, \
         for [i=1:NS] NaN with linespoints ls 40 + i pt 7 ps 0.7 title solver(i), \
         NaN with points pt 7 lc rgb "#555555" title "fixed steps", \
         NaN with points pt 9 lc rgb "#555555" title "adaptive (backprop; Adams)", \
         NaN with points pt 5 lc rgb "#555555" title "backsolve-adjoint", \
         NaN with points pt 13 lc rgb "#555555" title "BDF", \
         for [i=1:NS] front using (fsel(i, j, column("err"))):(fsel(i, j, column("time"))) \
             with fsteps ls 40 + i notitle
}
unset multiplot
