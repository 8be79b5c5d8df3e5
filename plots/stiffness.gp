# Figure "stiffness": each gradient method's error on the linear field with a stiff spectrum
# (eigenvalues spread over S = 1 ... 1e4, experiments/stiffness.ini), against the exact Van Loan
# gradient.  backsolve-adjoint integrates z(t) backwards, where the decaying modes grow like
# exp(S t): its error explodes with S.  Runs that failed (diverged, out of memory, timed out) or
# whose error is beyond the top of the axis are drawn as open markers on the "failed" line.
figure = "stiffness"; experiment = "stiffness"; figw = 1.4; figh = 1.3
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

stats csv using (N0 = column("steps"), D0 = column("D"), B0 = column("B"), \
                 S0 = strcol("scheme"), T0 = column("t1"), 0) every ::0::0 nooutput

TOP = 1e2      # errors above this are off the scale: drawn at FAILED with the failures
FAILED = 1e3
fine(m) = ok(m) && column("err_vs_reference") <= TOP
failed(m) = strcol("method") eq m && !fine(m)

set title font ",11" sprintf("{/:Bold Gradient error on a stiff linear field, against the " . \
    "stiffness ratio S}\n(linear stiff D=%d B=%d, %s N=%d over t in [0, %g]; exact " . \
    "reference by Van Loan)", D0, B0, S0, N0, T0)
set logscale xy
set xlabel "stiffness ratio S (eigenvalues -S^{k/(D-1)}, k = 0 ... D-1)"
set ylabel "relative L2 error of the gradient against the exact one"
set yrange [:FAILED * 10]
set arrow from graph 0, first FAILED to graph 1, first FAILED nohead ls 20
set label "failed, or error > 10^{2}" at graph 0.02, first FAILED * 1.8 font ",8" \
    tc rgb "#555555"
set arrow from graph 0, first 1 to graph 1, first 1 nohead ls 20 dt 2
set label "100 % error" at graph 0.02, first 1.8 font ",8" tc rgb "#555555"
set key bottom right
# failures of several methods at one S would hide each other: spread them a little sideways
nudge(i) = 1 + 0.06 * (i - (NM + 1) / 2.0)
plot for [i=1:NM] csv using (fine(method(i)) ? column("stiffness") : NaN):(err("err_vs_reference")) \
         with linespoints ls i title method(i), \
     for [i=1:NM] csv using (failed(method(i)) ? column("stiffness") * nudge(i) : NaN):(FAILED) \
         with points ls 10 + i ps 1.3 notitle
