# Figure "outputs": the loss over K equally spaced output times at a fixed total of N steps
# (experiments/outputs.ini), against K.  Left and middle: each method's gradient error against
# the exact one (a sum of K Van Loan terms) on the linear field with a spiral and with a stiff
# spectrum; backsolve-adjoint with its resets to the kept forward states is its dashed twin with
# open markers.  Right: the accounted peak memory on the spiral (the resets keep K - 1 states;
# the other methods' memory does not depend on K beyond a few bytes per output).
figure = "outputs"; experiment = "outputs"; figw = 2.6; figh = 1.1
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

stats csv using (N0 = column("steps"), D0 = column("D"), B0 = column("B"), \
                 S0 = strcol("scheme"), 0) every ::0::0 nooutput
BS = 6 # backsolve-adjoint's place in METHODS
reset(x) = strlen(strcol("backsolve_reset")) > 0 && column("backsolve_reset") == 1
spec(s, m, x) = ok(m) && strcol("spectrum") eq s && !reset(0) ? x : NaN
spec_reset(s, x) = ok("backsolve-adjoint") && strcol("spectrum") eq s && reset(0) ? x : NaN

heading = sprintf("{/:Bold Losses over K output times at a fixed N}  (linear D=%d B=%d, " . \
                  "%s N=%d over t in [0, 1]; exact reference by Van Loan)", D0, B0, S0, N0)
set multiplot layout 1, 3 title heading font ",12"
set logscale x 2
set logscale y 10
set format x "%.0f"
set xlabel "output times K (t_k = k / K)"
set key top left font ",7"

do for [s in "spiral stiff"] {
    set title sprintf("gradient error, %s spectrum%s", s, s eq "stiff" ? " (S = 20)" : "")
    set ylabel "relative L2 error against the exact gradient"
    set format y "10^{%L}"
    plot for [i=1:NM] csv using (spec(s, method(i), column("outputs"))):(err("err_vs_reference")) \
             with linespoints ls i title method(i), \
         csv using (spec_reset(s, column("outputs"))):(err("err_vs_reference")) \
             with linespoints ls 10 + BS title "backsolve-adjoint, resets"
}

set title "accounted peak memory (spiral)"
set ylabel "peak bytes (counting allocator)"
set format y @FMT_BYTES
unset key
plot for [i=1:NM] csv using (spec("spiral", method(i), column("outputs"))):(bytes("accounted_peak_bytes")) \
         with linespoints ls i title method(i), \
     csv using (spec_reset("spiral", column("outputs"))):(bytes("accounted_peak_bytes")) \
         with linespoints ls 10 + BS title "backsolve-adjoint, resets"
unset multiplot
