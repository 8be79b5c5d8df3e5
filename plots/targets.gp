# Figure "targets": the performance configuration (experiments/targets.ini), every method at one
# thread and at every core.  Left: the gradient's FLOP rate as a fraction of the DGEMM rate at the
# model's shapes with the same threads (roofline_frac: GEMM flops executed, recomputation
# included), with the 70% aim for backprop and stored-adjoint on one thread.  Right: its median
# time over backprop's at the same thread count, with the 1.5x aim for checkpoint-adjoint and
# the 2x aim for backsolve-adjoint.  Filled bars one thread, hatched bars every core.  The rows
# with kept activations (keep_activations = 1, the discrete methods again) are left out here: the
# bars are the methods as they recompute; the CSV holds both.
figure = "targets"; experiment = "targets"; figw = 2; figh = 1.1
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

# a row that recomputes the activations (files written before the column existed hold only those)
HAS_KA = int(system(sprintf("head -n 1 '%s' | tr , '\n' | grep -cx keep_activations", csv)))
recomputes(dummy) = HAS_KA ? strcol("keep_activations") ne "1" : 1

stats csv using (N0 = column("steps"), D0 = column("D"), H0 = column("H"), B0 = column("B"), \
                 S0 = strcol("scheme"), 0) every ::0::0 nooutput
stats csv using "threads" nooutput
PMAX = int(STATS_max)
NT = PMAX > 1 ? 2 : 1
nthreads(j) = j == 1 ? 1 : PMAX
tlabel(j) = j == 1 ? "1 thread" : sprintf("%d threads", PMAX)

# backprop's median time at each thread count (NaN where it has none)
array TB[2]
TB[1] = NaN; TB[2] = NaN
set table $scratch
plot for [j=1:NT] csv \
    using (ok("backprop") && recomputes(0) && column("threads") == nthreads(j) ? \
           TB[j] = column("time_median_s") : 0):(0) \
    with table
unset table

sel(i, j, x) = ok(method(i)) && recomputes(0) && column("threads") == nthreads(j) ? x : NaN
xpos(i, j) = i + (j == 1 ? -0.19 : 0.19)

heading = sprintf("{/:Bold Targets: one gradient of mlp D=%d H=%d B=%d}  " . \
                  "(%s, N=%d; filled 1 thread, hatched %d threads)", D0, H0, B0, S0, N0, PMAX)
set multiplot layout 1, 2 title heading font ",12"
unset logscale x
unset logscale y
set format x "%g"
set format y "%g"
set xrange [0.4:NM + 0.6]
set xtics () rotate by -30 font ",8"
do for [i=1:NM] { set xtics add (method(i) i) }
unset mxtics
set grid noxtics
set boxwidth 0.36
set key top right

set title "FLOP rate / DGEMM rate at the model's shapes (same threads)"
set ylabel "fraction of the roofline"
set yrange [0:1.1]
set format y "%.0f%%"
set ytics ("0%%" 0, "20%%" 0.2, "40%%" 0.4, "60%%" 0.6, "80%%" 0.8, "100%%" 1.0)
plot 0.7 with lines lc rgb "#333333" lw 1.5 dt 2 title "70% aim (backprop, stored-adjoint; 1 thread)", \
     for [i=1:NM] csv using (sel(i, 1, xpos(i, 1))):(column("roofline_frac")) \
         with boxes fs solid 0.8 lc rgb word(COLOURS, i) notitle, \
     for [i=1:NM] csv using (sel(i, NT, NT == 2 ? xpos(i, 2) : NaN)):(column("roofline_frac")) \
         with boxes fs pattern 4 lc rgb word(COLOURS, i) notitle, \
     for [j=1:NT] for [i=1:NM] csv \
         using (sel(i, j, xpos(i, j))):(column("roofline_frac")):(sprintf("%.2f", column("roofline_frac"))) \
         with labels offset 0, 0.6 font ",7" notitle

set title "time / backprop's time (same threads)"
set ylabel "relative time"
set yrange [0:*]
set offsets 0, 0, 0.35, 0
set format y "%.1f"
set ytics auto
plot 1.5 with lines lc rgb "#333333" lw 1.5 dt 2 title "1.5x aim (checkpoint-adjoint)", \
     2.0 with lines lc rgb "#333333" lw 1.5 dt 4 title "2x aim (backsolve-adjoint)", \
     for [i=1:NM] csv using (sel(i, 1, xpos(i, 1))):(column("time_median_s") / TB[1]) \
         with boxes fs solid 0.8 lc rgb word(COLOURS, i) notitle, \
     for [i=1:NM] csv using (sel(i, NT, NT == 2 ? xpos(i, 2) : NaN)):(column("time_median_s") / TB[NT]) \
         with boxes fs pattern 4 lc rgb word(COLOURS, i) notitle, \
     for [j=1:NT] for [i=1:NM] csv \
         using (sel(i, j, xpos(i, j))):(column("time_median_s") / TB[j]):(sprintf("%.2f", column("time_median_s") / TB[j])) \
         with labels offset 0, 0.6 font ",7" notitle
unset multiplot
