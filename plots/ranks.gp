# Figure "ranks": one gradient spread over MPI ranks x OpenMP threads (scripts/ranks.sh, which
# writes results/ranks/HOST-DATE.csv).  Left, strong scaling (the batch fixed): speed-up over
# one rank with the same threads, against the ranks, one line per thread count, with the ideal
# line.  Right, weak scaling (the rows per rank fixed, the batch growing with the ranks): the
# time of one gradient, flat when the ranks add no cost; the exchanges' time (the rows' and the
# gradient reduction's) is drawn dashed with crosses.
# Runs with more ranks x threads than the machine's CPUs (column oversubscribed) are drawn with
# open markers and the title says how many there are: their times measure the sharing of cores.
figure = "ranks"; experiment = "ranks"; figw = 2; figh = 1.1
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

stats csv using "threads" nooutput
TMAX = int(STATS_max)
stats csv using "cores" nooutput
CORES = int(STATS_max)
stats csv using "oversubscribed" nooutput
NOVER = int(STATS_sum)
stats csv using "ranks" nooutput
RMAX = STATS_max

# T1[t]: the strong-scaling time of one rank with t threads
array T1[TMAX]
do for [t=1:TMAX] { T1[t] = NaN }
set table $scratch
plot csv using (strcol("scaling") eq "strong" && column("ranks") == 1 && \
                strcol("status") eq "ok" ? T1[int(column("threads"))] = column("time_median_s") : 0):(0) \
     with table
unset table

sel(s, t, over, x) = strcol("scaling") eq s && column("threads") == t && \
                     strcol("status") eq "ok" && column("oversubscribed") == over ? x : NaN

heading = sprintf("{/:Bold Ranks: one gradient over MPI ranks x OpenMP threads}  (%d CPUs%s)", \
                  CORES, NOVER > 0 ? sprintf("; %d runs oversubscribed (open markers): they " . \
                  "share cores, their times measure the sharing", NOVER) : "")
set multiplot layout 1, 2 title heading font ",12"
set xlabel "MPI ranks"
set xrange [0.8:RMAX * 1.25]
set logscale x 2
set format x "%.0f"
set xtics 2
set key top left

set title "strong scaling: speed-up T(1 rank) / T(ranks), the batch fixed"
set ylabel "speed-up"
set logscale y 2
set format y "%g"
plot x with lines ls 20 title "ideal", \
     for [t=1:TMAX] csv using (sel("strong", t, 0, column("ranks"))):(T1[t] / column("time_median_s")) \
         with linespoints ls t title sprintf("%d thread%s", t, t == 1 ? "" : "s"), \
     for [t=1:TMAX] csv using (sel("strong", t, 1, column("ranks"))):(T1[t] / column("time_median_s")) \
         with points ls 10 + t notitle

set title "weak scaling: time of one gradient, the rows per rank fixed"
set ylabel "time (s)"
set logscale y 10
set format y "%g"
plot for [t=1:TMAX] csv using (sel("weak", t, 0, column("ranks"))):"time_median_s" \
         with linespoints ls t title sprintf("%d thread%s", t, t == 1 ? "" : "s"), \
     for [t=1:TMAX] csv using (sel("weak", t, 1, column("ranks"))):"time_median_s" \
         with points ls 10 + t notitle, \
     for [t=1:TMAX] csv using (sel("weak", t, 0, column("ranks"))):(column("comm_s") + column("reduce_s") > 0 ? column("comm_s") + column("reduce_s") : NaN) \
         with linespoints ls 10 + t pt 2 title sprintf("exchanges, %d thread%s", t, t == 1 ? "" : "s")
unset multiplot
