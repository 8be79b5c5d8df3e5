# Figure "steps": what each gradient method costs as the step count N grows, at a fixed problem
# (experiments/steps.ini: mlp, rk4).  Four panels against N, all log-log: median time of one
# gradient (bars: fastest and slowest repeat), the accounted peak memory (stored data and working
# buffers) with the closed form of the stored data (docs/theory.md; equal to the stored_bytes
# column) as open rings, the resident memory, and the error against the reference gradient.
figure = "steps"; experiment = "steps"; figw = 2; figh = 2
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

stats csv using (D0 = column("D"), H0 = column("H"), B0 = column("B"), S0 = strcol("scheme"), 0) \
    every ::0::0 nooutput
heading = sprintf("{/:Bold Gradient cost against the step count N}  (mlp D=%d H=%d B=%d, %s)", \
                D0, H0, B0, S0)
set multiplot layout 2, 2 title heading font ",12"
set logscale x 2
set logscale y 10
set format x "%.0f"
set xlabel "fixed steps N"

set title "time of one gradient"
set ylabel "median time (bars: min, max)"
set format y @FMT_SECONDS
plot for [i=1:NM] csv \
         using (pick(method(i), column("steps"))):"time_median_s":"time_min_s":"time_max_s" \
         with yerrorlines ls i title method(i)

set title "accounted peak memory (rings: closed form of the stored part; backsolve and reversible store none)"
set ylabel "peak bytes (counting allocator)"
set format y @FMT_BYTES
unset key
plot for [i=1:NM] csv using (pick(method(i), column("steps"))):(bytes("accounted_peak_bytes")) \
         with linespoints ls i title method(i), \
     for [i=1:NM] csv using (pick(method(i), column("steps"))):(bytes("theory_bytes")) \
         with points ls 10 + i ps (word(SIZES, i) + 0.9) notitle

set title "resident memory (peak RSS minus the process's baseline)"
set ylabel "peak RSS growth"
plot for [i=1:NM] csv using (pick(method(i), column("steps"))):(bytes("rss_peak_bytes")) \
         with linespoints ls i title method(i)

set title "gradient error against the reference"
set ylabel "relative L2 error of (g_{/Symbol q}, g_{z0})"
set format y "10^{%L}"
@ZERO_LINE
plot for [i=1:NM] csv using (pick(method(i), column("steps"))):(err("err_vs_reference")) \
         with linespoints ls i title method(i)
unset multiplot
