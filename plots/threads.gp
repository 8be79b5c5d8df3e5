# Figure "threads": strong scaling of one gradient over OpenMP threads in both BLAS modes
# (experiments/threads.ini): speed-up on the left with the ideal line, parallel efficiency on
# the right; solid lines chunked (OpenMP over fixed batch chunks, one-thread BLAS in each),
# dashed threaded (whole-batch GEMMs threaded by OpenBLAS).  Both modes are measured against
# one baseline per method, its fastest one-thread time in either mode, so that the curves of a
# method compare directly: higher is faster.  Chunked gradients are the same bits at every
# thread count (include/odegrad/models.h (batch chunks and BLAS modes)).
figure = "threads"; experiment = "threads"; figw = 2; figh = 1.1
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

stats csv using (N0 = column("steps"), D0 = column("D"), H0 = column("H"), B0 = column("B"), \
                 S0 = strcol("scheme"), 0) every ::0::0 nooutput
stats csv using "threads" nooutput
PMAX = STATS_max

# Results written before the blas_mode column ran in the default mode, which was chunked.
HAS_MODE = int(system(sprintf("head -n 1 '%s' | tr ',' '\\n' | grep -cx blas_mode", csv)))
MODES = "chunked threaded"
mode_of(dummy) = HAS_MODE ? strcol("blas_mode") : "chunked"
sel(i, j, x) = ok(method(i)) && mode_of(0) eq word(MODES, j) ? x : NaN
style(i, j) = j == 1 ? i : 10 + i

# T1 per method: its fastest completed one-thread time in either mode (NaN where it has none).
array T1[NM]
do for [i=1:NM] { T1[i] = NaN }
set table $scratch
plot for [i=1:NM] csv \
    using (ok(method(i)) && column("threads") == 1 && \
           !(column("time_median_s") >= T1[i]) ? T1[i] = column("time_median_s") : 0):(0) \
    with table
unset table
speedup(i) = T1[i] / column("time_median_s")

heading = sprintf("{/:Bold Threads: one gradient of mlp D=%d H=%d B=%d}  " . \
                "(%s, N=%d; time is the median of the repeats; solid chunked, dashed threaded)", \
                D0, H0, B0, S0, N0)
set multiplot layout 1, 2 title heading font ",12"
set xlabel "OpenMP threads p"
set xrange [0.8:PMAX * 1.25]
set logscale x 2
set format x "%.0f"
set xtics 2

set title "speed-up T_1 / T(p), T_1 the method's fastest one-thread time"
set ylabel "speed-up"
set logscale y 2
set format y "%g"
set key top left
plot x with lines ls 20 title "ideal", \
     for [j=1:2] for [i=1:NM] csv using (sel(i, j, column("threads"))):(speedup(i)) \
         with linespoints ls style(i, j) title (j == 1 ? method(i) : ""), \
     NaN with lines lc rgb "#333333" lw 2 title "chunked", \
     NaN with lines lc rgb "#333333" lw 2 dt 2 title "threaded"

set title "parallel efficiency T_1 / (p T(p))"
set ylabel "efficiency"
unset logscale y
set yrange [0:120]
set format y "%.0f%%"
unset key
plot 100 with lines ls 20 notitle, \
     for [j=1:2] for [i=1:NM] csv \
         using (sel(i, j, column("threads"))):(100 * speedup(i) / column("threads")) \
         with linespoints ls style(i, j) notitle
unset multiplot
