# Figure "dims": how each gradient method scales with the state dimension D (hidden width
# H = 4D) at a fixed step count (experiments/dims.ini).  Left: median time of one gradient
# (bars: min, max); right: accounted peak memory (stored data and working buffers), the closed
# form of the stored data (docs/theory.md; equal to the stored_bytes column) as open rings.
figure = "dims"; experiment = "dims"; figw = 2; figh = 1.1
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

stats csv using (N0 = column("steps"), B0 = column("B"), S0 = strcol("scheme"), 0) \
    every ::0::0 nooutput
heading = sprintf("{/:Bold Gradient cost against the state dimension D}  " . \
                "(mlp H=4D, B=%d, %s, N=%d)", B0, S0, N0)
set multiplot layout 1, 2 title heading font ",12"
set logscale x 2
set logscale y 10
set format x "%.0f"
set xlabel "state dimension D (hidden width H = 4D)"

set title "time of one gradient"
set ylabel "median time (bars: min, max)"
set format y @FMT_SECONDS
plot for [i=1:NM] csv \
         using (pick(method(i), column("D"))):"time_median_s":"time_min_s":"time_max_s" \
         with yerrorlines ls i title method(i)

set title "accounted peak memory (rings: closed form of the stored part; backsolve and reversible store none)"
set ylabel "peak bytes (counting allocator)"
set format y @FMT_BYTES
unset key
plot for [i=1:NM] csv using (pick(method(i), column("D"))):(bytes("accounted_peak_bytes")) \
         with linespoints ls i title method(i), \
     for [i=1:NM] csv using (pick(method(i), column("D"))):(bytes("theory_bytes")) \
         with points ls 10 + i ps (word(SIZES, i) + 0.9) notitle
unset multiplot
