# Figure "tolerance": adaptive solves (dopri5 solid, tsit5 dashed) over rtol = 1e-2 ... 1e-10
# (experiments/tolerance.ini), each method's gradient error against the work it did: f
# evaluations (forward + backward) on the left, median wall time on the right.  The field is
# made hard enough (longer horizon t1, larger gain) that the step count spans over a decade.
# Those two panels show the adjoints that replay the forward steps; the third shows the
# continuous adjoints with their own adaptive steps at the forward tolerance (dopri5), with the
# full error norm (solid) and the seminorm that leaves the parameter adjoint out (dashed).
figure = "tolerance"; experiment = "tolerance"; figw = 3; figh = 1.1
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

stats csv using (D0 = column("D"), H0 = column("H"), B0 = column("B"), G0 = column("gain"), \
                 T0 = column("t1"), 0) every ::0::0 nooutput
stats csv using (strcol("status") eq "ok" ? column("steps") : NaN) nooutput
NLO = STATS_min; NHI = STATS_max
stats csv using "rtol" nooutput
RLO = STATS_min; RHI = STATS_max
decade(x) = floor(log10(x) + 0.5)

SCHEMES = "dopri5 tsit5"
# the rows whose adjoint replays the forward steps (no adj_rtol of its own)
replays = "(strlen(strcol('adj_rtol')) == 0 || column('adj_rtol') == 0)"
sel(m, j, x) = ok(m) && strcol("scheme") eq word(SCHEMES, j) && @replays ? x : NaN
# the rows with the adjoint's own steps, full norm (j = 1) or seminorm (j = 2)
own(m, j, x) = ok(m) && strlen(strcol("adj_rtol")) > 0 && column("adj_rtol") > 0 && \
               column("adj_seminorm") == j - 1 ? x : NaN

heading = sprintf("{/:Bold Adaptive steps: gradient error against work, rtol = 10^{%d} ... " . \
                "10^{%d}}  (mlp D=%d H=%d B=%d, gain %g, t1 = %g: %d ... %d accepted steps)", \
                decade(RHI), decade(RLO), D0, H0, B0, G0, T0, NLO, NHI)
set multiplot layout 1, 3 title heading font ",12"
set logscale xy
set ylabel "relative L2 error of the gradient against the reference"
set format y "10^{%L}"

set title "error against function evaluations (solid: dopri5, dashed: tsit5)"
@ZERO_LINE
set xlabel "f evaluations, forward + backward"
set format x "10^{%L}"
set key bottom left
plot for [i=1:NM] for [j=1:2] csv \
         using (sel(method(i), j, column("nfe_forward") + column("nfe_backward"))): \
               (err("err_vs_reference")) \
         with linespoints ls (j == 1 ? i : 10 + i) title (j == 1 ? method(i) : "")

set title "error against time (solid: dopri5, dashed: tsit5)"
set xlabel "median time of one gradient"
set format x @FMT_SECONDS
unset key
plot for [i=1:NM] for [j=1:2] csv \
         using (sel(method(i), j, column("time_median_s"))):(err("err_vs_reference")) \
         with linespoints ls (j == 1 ? i : 10 + i) notitle

set title "the adjoint's own steps (dopri5; solid: full norm, dashed: seminorm)"
set xlabel "f evaluations and VJPs, forward + backward"
set format x "10^{%L}"
set key bottom left
OWN = "4 6"   # stored-adjoint, backsolve-adjoint
plot for [i in OWN] for [j=1:2] csv \
         using (own(method(i + 0), j, column("nfe_forward") + column("nfe_backward") + \
                                     column("nvjp"))):(err("err_vs_reference")) \
         with linespoints ls (j == 1 ? i + 0 : 10 + i) \
         title (j == 1 ? method(i + 0) : method(i + 0) . " seminorm")
unset multiplot
