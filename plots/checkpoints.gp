# Figure "checkpoints": the time-memory trade of checkpointing at a long horizon (N fixed,
# experiments/checkpoints.ini).  Left: median time of one gradient against its accounted peak
# memory as the checkpoint count C varies, for the discrete (backprop-checkpoint) and continuous
# (checkpoint-adjoint) methods; solid: uniform schedule, dashed: binomial (Revolve).  Right: the
# forward steps per step (the forward_steps column, one meaning for both methods: every step that
# advances the state, the first sweep included, the step taken right before its own reversal
# not), against C, with Revolve's t(N, C): the least any schedule with C checkpoints can take
# (Griewank & Walther 2000).
figure = "checkpoints"; experiment = "checkpoints"; figw = 2; figh = 1.1
load system(sprintf("dirname '%s'", ARG0)) . "/styles.gp"

stats csv using (N0 = column("steps"), D0 = column("D"), H0 = column("H"), B0 = column("B"), \
                 S0 = strcol("scheme"), 0) every ::0::0 nooutput
stats csv using "checkpoints" nooutput
cmin = STATS_min > 2 ? STATS_min : 2
cmax = STATS_max

# Revolve's bound (docs/theory.md, "Binomial checkpointing"): with c checkpoints the least number
# of forward steps that reverse N steps is t(N, c) = r N - binom(c + r, c + 1), r the least
# integer with binom(c + r, c) >= N, in the count of the forward_steps column
# (odg_revolve_cost).  Both methods with the binomial schedule sit on it.
binom(n, k) = k < 0 || k > n ? 0 : \
    floor(exp(lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)) + 0.5)
set print $revolve
do for [c = cmin:cmax] {
    r = 0
    while (binom(c + r, c) < N0) { r = r + 1 }
    print sprintf("%d,%.17g", c, (r * N0 - binom(c + r, c + 1)) / real(N0)) # real: no integer division
}
unset print

schedule_of(j) = word("uniform binomial", j)
sel(m, j, x) = ok(m) && strcol("schedule") eq schedule_of(j) ? x : NaN
CK = "3 5"   # the methods with checkpoints: backprop-checkpoint, checkpoint-adjoint
label(k, j) = method(k) . " " . schedule_of(j)

heading = sprintf("{/:Bold Checkpointing: time against memory at N = %d}  " . \
                "(mlp D=%d H=%d B=%d, %s)", N0, D0, H0, B0, S0)
set multiplot layout 1, 2 title heading font ",12"

set title "time against memory as the checkpoint count varies"
set logscale xy
set xlabel "accounted peak memory of one gradient"
set ylabel "median time of one gradient (bars: min, max)"
set format x @FMT_BYTES
set format y @FMT_SECONDS
set key top right
plot for [k in CK] for [j=1:2] csv \
         using (sel(method(k + 0), j, bytes("accounted_peak_bytes"))): \
               "time_median_s":"time_min_s":"time_max_s" \
         with yerrorlines ls (j == 1 ? k + 0 : 10 + k) title label(k + 0, j)

set title "forward steps against the checkpoint count"
set logscale x 2
set format x "%.0f"
set xlabel "checkpoints C"
set ylabel "forward steps per step (forward\\_steps / N)"
set logscale y 2
set format y "%g"
set key top right
plot $revolve using 1:2 with lines ls 20 lw 2 title "Revolve t(N, C) / N", \
     for [k in CK] for [j=1:2] csv \
         using (sel(method(k + 0), j, column("checkpoints"))): \
               (column("forward_steps") / column("steps")) \
         with linespoints ls (j == 1 ? k + 0 : 10 + k) title label(k + 0, j)
unset multiplot
