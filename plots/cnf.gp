# Figure "cnf": the gradient methods on the continuous normalizing flow (model cnf, FFJORD:
# the mlp field on z carrying log p, loss the data's negative log-likelihood) against the data
# dimension D (hidden width H = 4D), experiments/cnf.ini.  Solid lines and filled markers: the
# exact trace; dashed lines and open markers: Hutchinson's estimate (noise fixed per run).
# Left: median time of one gradient; middle: accounted peak memory; right: relative error
# against the fine reference of the same flow (for Hutchinson, the same noise).
figure = "cnf"; experiment = "cnf"; figw = 3; figh = 1.1
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

stats csv using (N0 = column("steps"), B0 = column("B"), S0 = strcol("scheme"), 0) \
    every ::0::0 nooutput
heading = sprintf("{/:Bold The continuous normalizing flow against the data dimension D}  " . \
                  "(cnf H=4D, B=%d, %s, N=%d; solid: exact trace, dashed: Hutchinson)", \
                  B0, S0, N0)
# a row of method m with trace tr that ran to completion
okt(m, tr) = ok(m) && strcol("trace") eq tr
pickt(m, tr, x) = okt(m, tr) ? x : NaN

set multiplot layout 1, 3 title heading font ",12"
set logscale x 2
set logscale y 10
set format x "%.0f"
set xlabel "data dimension D (hidden width H = 4D)"

set title "time of one gradient"
set ylabel "median time"
set format y @FMT_SECONDS
plot for [i=1:NM] csv using (pickt(method(i), "exact", column("D"))):"time_median_s" \
         with linespoints ls i title method(i), \
     for [i=1:NM] csv using (pickt(method(i), "hutchinson", column("D"))):"time_median_s" \
         with linespoints ls 10 + i notitle

set title "accounted peak memory"
set ylabel "peak bytes (counting allocator)"
set format y @FMT_BYTES
unset key
plot for [i=1:NM] csv using (pickt(method(i), "exact", column("D"))):(bytes("accounted_peak_bytes")) \
         with linespoints ls i, \
     for [i=1:NM] csv using (pickt(method(i), "hutchinson", column("D"))):(bytes("accounted_peak_bytes")) \
         with linespoints ls 10 + i

set title "error against the fine reference"
set ylabel "relative L2 error of the gradient"
set format y "10^{%L}"
eval ZERO_LINE
plot for [i=1:NM] csv using (pickt(method(i), "exact", column("D"))):(err("err_vs_reference")) \
         with linespoints ls i, \
     for [i=1:NM] csv using (pickt(method(i), "hutchinson", column("D"))):(err("err_vs_reference")) \
         with linespoints ls 10 + i
unset multiplot
