# Figure "threads": strong scaling of one gradient over OpenMP threads (experiments/threads.ini):
# speed-up T(1) / T(p) on the left with the ideal line, parallel efficiency T(1) / (p T(p)) on
# the right.  The batch is split into fixed chunks, so every thread count computes the same
# bits (DESIGN.md "Parallelism").
figure = "threads"; experiment = "threads"; figw = 2; figh = 1.1
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

stats csv using (N0 = column("steps"), D0 = column("D"), H0 = column("H"), B0 = column("B"), \
                 S0 = strcol("scheme"), 0) every ::0::0 nooutput
stats csv using "threads" nooutput
PMAX = STATS_max

# T(1) per method, read in one pass (NaN where a method has no completed 1-thread run).
array T1[NM]
do for [i=1:NM] { T1[i] = NaN }
set table $scratch
plot for [i=1:NM] csv \
    using (ok(method(i)) && column("threads") == 1 ? T1[i] = column("time_median_s") : 0):(0) \
    with table
unset table
speedup(i) = T1[i] / column("time_median_s")

heading = sprintf("{/:Bold Threads: one gradient of mlp D=%d H=%d B=%d}  " . \
                "(%s, N=%d; time is the median of the repeats)", D0, H0, B0, S0, N0)
set multiplot layout 1, 2 title heading font ",12"
set xlabel "OpenMP threads p"
set xrange [0.8:PMAX * 1.25]
set logscale x 2
set format x "%.0f"
set xtics 2

set title "speed-up T(1) / T(p)"
set ylabel "speed-up"
set logscale y 2
set format y "%g"
set key top left
plot x with lines ls 20 title "ideal", \
     for [i=1:NM] csv using (pick(method(i), column("threads"))):(speedup(i)) \
         with linespoints ls i title method(i)

set title "parallel efficiency T(1) / (p T(p))"
set ylabel "efficiency"
unset logscale y
set yrange [0:120]
set format y "%.0f%%"
unset key
plot 100 with lines ls 20 notitle, \
     for [i=1:NM] csv \
         using (pick(method(i), column("threads"))):(100 * speedup(i) / column("threads")) \
         with linespoints ls i notitle
unset multiplot
