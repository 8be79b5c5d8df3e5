# Figure "reversible": the reversible method on the linear field with a stiff spectrum
# (experiments/reversible.ini), one column per stiffness ratio S, against the step count N, one
# curve per coupling lambda.  Top: the reconstruction error (recon_err: the reconstructed initial
# states against z(t0)).  Bottom: the gradient error against the exact Van Loan gradient, and
# (dashed, open markers) against the same adjoint over kept states, the part the reconstruction
# adds.  The reconstruction amplifies a rounding by 1/lambda per step, the forward pass is stable
# on a decaying mode only while |h mu| is below about 1 - lambda (docs/theory.md, "The
# reversible method"): errors above the top of the axis are drawn at its edge.
figure = "reversible"; experiment = "reversible"; figw = 2.4; figh = 1.6
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

stats csv using (D0 = column("D"), B0 = column("B"), S0 = strcol("scheme"), T0 = column("t1"), \
                 0) every ::0::0 nooutput
SS = "1 10 30 100"
LAMBDAS = "1 0.999 0.99 0.9"
NS = words(SS)
NL = words(LAMBDAS)
LCOL = "#000000 #0072B2 #009E73 #D55E00"
LPT = "7 5 9 13"
pti(l) = int(word(LPT, l))
pto(l) = int(word(LPT, l)) - 1   # the open twin of a filled marker
TOP = 1e3
clip(x) = x > TOP ? TOP : x
sel(s, l, c) = strcol("status") eq "ok" && column("stiffness") == word(SS, s) + 0 && \
               abs(column("lambda") - word(LAMBDAS, l)) < 1e-12 ? clip(err(c)) : NaN

heading = sprintf("{/:Bold The reversible method against the step count N}  (linear stiff " . \
                  "D=%d B=%d, %s over t in [0, %g]; exact reference by Van Loan)", D0, B0, S0, T0)
set multiplot layout 2, NS title heading font ",12"
set logscale x 2
set logscale y 10
set format x "2^{%L}"
set xlabel "fixed steps N"
set yrange [1e-18:TOP * 10]
set key bottom left font ",7"
do for [s=1:NS] {
    set title sprintf("reconstruction error, S = %s", word(SS, s))
    set ylabel "recon\\_err (max relative)"
    plot for [l=1:NL] csv using "steps":(sel(s, l, "recon_err")) with linespoints \
             lc rgb word(LCOL, l) pt pti(l) ps 0.9 lw 1.5 \
             title sprintf("{/Symbol l} = %s", word(LAMBDAS, l))
}
do for [s=1:NS] {
    set title sprintf("gradient error, S = %s", word(SS, s))
    set ylabel "relative L2 error (dashed: vs kept states)"
    plot for [l=1:NL] csv using "steps":(sel(s, l, "err_vs_reference")) with linespoints \
             lc rgb word(LCOL, l) pt pti(l) ps 0.9 lw 1.5 \
             title sprintf("{/Symbol l} = %s", word(LAMBDAS, l)), \
         for [l=1:NL] csv using "steps":(sel(s, l, "err_vs_discrete")) with linespoints \
             lc rgb word(LCOL, l) pt pto(l) ps 0.7 lw 1 dt 2 notitle
}
unset multiplot
