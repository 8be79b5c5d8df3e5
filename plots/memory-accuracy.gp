# Figure "memory-accuracy", the headline: for each gradient method, the (peak memory, gradient
# error) pairs it reaches as the step count N grows (one point per N, from the "steps" data),
# log-log.  Down and to the left is better.  The grey staircase is the Pareto front over all
# methods: the least error any method reached within a memory budget; circled points are on it.
figure = "memory-accuracy"; experiment = "steps"; figw = 1.4; figh = 1.3
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

stats csv using (D0 = column("D"), H0 = column("H"), B0 = column("B"), S0 = strcol("scheme"), 0) \
    every ::0::0 nooutput
stats csv using "steps" nooutput
NMIN = STATS_min; NMAX = STATS_max

# The Pareto front: every completed run as (memory, error), sorted by memory; a point is on the
# front when its error is below that of every run using less memory.  gnuplot sorts only with
# "smooth unique", which averages points of equal x (backsolve-adjoint uses the same memory at
# every N), so x is first nudged by a part in 1e12 ordered by the error: equal memories then sort
# by error and stay apart.
set table $runs separator comma
plot csv using (bytes("accounted_peak_bytes")): \
               (strcol("status") eq "ok" ? err("err_vs_reference") : NaN) with table
unset table
set format xy "%.17g"   # table output uses the axis formats
set table $sorted
plot $runs using ($1 * (1 + 1e-12 * (log10($2) + 40))):2 smooth unique
unset table
set datafile separator whitespace
best = 1e300
set table $front separator comma
plot $sorted using 1:($2 < best ? (best = $2) : NaN) with table
unset table
set datafile separator ","

set title font ",11" sprintf("{/:Bold Peak memory against gradient error, per method, " . \
    "over N = %d ... %d steps}\n(mlp D=%d H=%d B=%d, %s; down and left is better)", \
    NMIN, NMAX, D0, H0, B0, S0)
set logscale xy
set format x @FMT_BYTES
set format y "10^{%L}"
set xlabel "accounted peak memory of one gradient"
set ylabel "relative L2 error of the gradient against the reference"
set key bottom left
@ZERO_LINE
plot $front using 1:2 with steps ls 21 title "Pareto front", \
     $front using 1:2 with points pt 6 ps 2.2 lc rgb "#444444" notitle, \
     for [i=1:NM] csv \
         using (pick(method(i), bytes("accounted_peak_bytes"))):(err("err_vs_reference")) \
         with linespoints ls i title method(i)
