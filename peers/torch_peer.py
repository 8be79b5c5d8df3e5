"""The PyTorch peer of odegrad: the mlp's gradient computed by PyTorch (CPU, float64), started
by odegrad's harness as a measured child (harness/peer.c; docs/experiments.md, "Peers").

The harness writes the problem's arrays into a directory (W1.npy b1.npy W2.npy b2.npy z0.npy
w.npy, and the scheme's tableau: tab_a.npy tab_b.npy tab_bt.npy tab_c.npy, odegrad's own
coefficients), starts this program with the configuration, and reads back the gradient (g.npy:
gW1, gb1, gW2, gb2 flattened row-major in that order, then gz0) and one line of JSON on stdout
with the timings, counts, loss and resident memory.

f(t, z) = W2 tanh(W1 [z; t] + b1) + b2 (t only with --time-input, as W1's last column),
L = sum(w * z(t1)) / B.  Methods:
  backprop           autograd through the Runge-Kutta steps (fixed N, or adaptive steps whose
                     sizes are taken as constants: the controller is not differentiated)
  backsolve-adjoint  the augmented system (z, a, g_theta) integrated from t1 back to t0 with
                     the same scheme, its right-hand side a VJP by torch.autograd.grad (fixed N,
                     or adaptive steps at the adjoint's tolerances, the error over every part)
The Runge-Kutta steps are this file's own (the tableau as odegrad gives it); torchdiffeq is
used instead when it can be imported and it has the scheme (implementation = torchdiffeq).

Usage (the harness's; not for people):
  torch_peer.py DIR --method M (--steps N | --rtol R --atol A) [--adj-rtol R --adj-atol A]
                --t1 T --repeat R --warmup W --threads T [--time-input] --scheme NAME
                --order Q (the embedded estimate's)
"""

import argparse
import gc
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--method", required=True, choices=["backprop", "backsolve-adjoint"])
    ap.add_argument("--scheme", required=True)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--rtol", type=float, default=0.0)
    ap.add_argument("--atol", type=float, default=0.0)
    ap.add_argument("--adj-rtol", type=float, default=0.0)
    ap.add_argument("--adj-atol", type=float, default=0.0)
    ap.add_argument("--t1", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--time-input", action="store_true")
    ap.add_argument("--order", type=int, default=4)
    ap.add_argument("--implementation", choices=["auto", "own"], default="auto")
    return ap.parse_args()


def status_kb(key):
    """A 'Key:  N kB' line of /proc/self/status, in bytes (NaN when absent)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return float("nan")


def retain_memory():
    """Large blocks from the heap rather than a fresh mmap each, and freed memory kept there, as
    the harness's measured child has it (odg_malloc_retain): each gradient then reuses the pages
    the one before faulted in, as in a training loop.  Without it every tensor of the graph above
    glibc's mmap threshold is mapped, faulted in and zeroed again in every gradient: mlp D = 256,
    dopri8 N = 8 took a median 0.63 to 0.88 s (360,000 to 410,000 page faults a run of 9
    gradients) instead of 0.52 to 0.55 s (170,000)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's malloc.h
        libc.mallopt(M_MMAP_MAX, 0)
        libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    except (OSError, AttributeError):
        pass


def release_memory():
    """Gives the allocator's free memory back to the system (glibc's malloc_trim), as the
    harness does before its baseline: the next gradient then faults in what it touches."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def prime(field, params, z0, w):
    """One f and one VJP on z0 (results dropped): what a gradient touches besides its own
    tensors (the thread pool, BLAS's buffers, autograd's engine)."""
    z = z0.detach().clone().requires_grad_(True)
    torch.autograd.grad(field(torch.zeros(()), z), params + [z], grad_outputs=w)


SETTLE_PAGES, SETTLE_MORE = 8, 8  # include/odegrad/harness.h, ODG_RUN_SETTLE_*


def minor_faults():
    """The minor page faults of this process so far, all its threads."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class Counter:
    def __init__(self):
        self.f = 0
        self.vjp = 0


class Field:
    """The mlp over a batch: Z (B, D) -> F (B, D)."""

    def __init__(self, W1, b1, W2, b2, time_input, counter):
        self.W1, self.b1, self.W2, self.b2 = W1, b1, W2, b2
        self.D = W2.shape[0]
        self.ti = time_input
        self.count = counter

    def params(self):
        return [self.W1, self.b1, self.W2, self.b2]

    def __call__(self, t, z):
        self.count.f += 1
        u = z @ self.W1[:, : self.D].T + self.b1
        if self.ti:
            u = u + t * self.W1[:, self.D]
        return torch.tanh(u) @ self.W2.T + self.b2


class Tableau:
    def __init__(self, d):
        load = lambda n: np.load(os.path.join(d, n))
        self.a = load("tab_a.npy").tolist()
        self.b = load("tab_b.npy").tolist()
        self.bt = load("tab_bt.npy").tolist()
        self.c = load("tab_c.npy").tolist()
        self.s = len(self.b)
        self.e = [self.b[i] - self.bt[i] for i in range(self.s)]


def combine(y, h, coef, k):
    """y + h * sum_j coef[j] k[j], zero coefficients left out."""
    acc = None
    for cj, kj in zip(coef, k):
        if cj != 0.0:
            acc = kj * cj if acc is None else acc + kj * cj
    return y if acc is None else y + h * acc


def rk_step(tab, f, t, y, h, k0=None):
    """One explicit Runge-Kutta step of y (a tensor or a tuple of tensors); returns
    (y_next, k) with k the stage derivatives."""
    tup = isinstance(y, tuple)
    k = []
    for i in range(tab.s):
        if i == 0 and k0 is not None:
            ki = k0
        else:
            if tup:
                yi = tuple(combine(y[m], h, tab.a[i][:i], [kj[m] for kj in k]) for m in range(len(y)))
            else:
                yi = combine(y, h, tab.a[i][:i], k)
            ki = f(t + tab.c[i] * h, yi)
        k.append(ki)
    if tup:
        yn = tuple(combine(y[m], h, tab.b, [kj[m] for kj in k]) for m in range(len(y)))
    else:
        yn = combine(y, h, tab.b, k)
    return yn, k


def flat(y):
    return torch.cat([x.reshape(-1) for x in y]) if isinstance(y, tuple) else y.reshape(-1)


def err_norm(tab, y, yn, k, h, rtol, atol):
    """RMS norm of the embedded error estimate scaled by atol + rtol max(|y|, |y_next|)."""
    with torch.no_grad():
        if isinstance(y, tuple):
            err = tuple(combine(torch.zeros_like(y[m]), h, tab.e, [kj[m] for kj in k])
                        for m in range(len(y)))
        else:
            err = combine(torch.zeros_like(y), h, tab.e, k)
        yf, ynf, ef = flat(y), flat(yn), flat(err)
        sc = atol + rtol * torch.maximum(yf.abs(), ynf.abs())
        return float(torch.sqrt(torch.mean((ef / sc) ** 2)))


def initial_step(f, t0, y, f0, order, rtol, atol, direction):
    """Hairer, Norsett & Wanner I, II.4: the first step's size."""
    with torch.no_grad():
        yf, f0f = flat(y), flat(f0)
        sc = atol + rtol * yf.abs()
        d0 = float(torch.sqrt(torch.mean((yf / sc) ** 2)))
        d1 = float(torch.sqrt(torch.mean((f0f / sc) ** 2)))
        h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        if isinstance(y, tuple):
            y1 = tuple(y[m] + direction * h0 * f0[m] for m in range(len(y)))
        else:
            y1 = y + direction * h0 * f0
        f1 = f(t0 + direction * h0, y1)
        d2 = float(torch.sqrt(torch.mean(((flat(f1) - f0f) / sc) ** 2))) / h0
        if max(d1, d2) <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1.0 / (order + 1))
        return min(100 * h0, h1)


def detach_all(y):
    return tuple(x.detach() for x in y) if isinstance(y, tuple) else y.detach()


def fsal(tab):
    """The last stage is the next step's first: its last row of a is b, its node 1."""
    return all(tab.a[tab.s - 1][j] == tab.b[j] for j in range(tab.s - 1)) and tab.c[-1] == 1.0


def integrate(tab, f, t0, t1, y, steps, rtol, atol, order, stats):
    """y(t1) from y(t0): N equal steps, or adaptive steps at (rtol, atol) with an integral
    controller (safety 0.9, factor in [0.2, 10]); stats counts accepted and rejected steps.
    The step sizes are plain floats, so autograd never differentiates the controller."""
    if steps > 0:
        # odegrad's uniform grid: t_n = t0 + n ((t1 - t0) / N), t_N = t1, h_n = t_{n+1} - t_n
        dt = (t1 - t0) / steps
        node = lambda n: t0 + n * dt if n < steps else t1
        for n in range(steps):
            y, _ = rk_step(tab, f, node(n), y, node(n + 1) - node(n))
        stats["steps"] += steps
        return y
    direction = 1.0 if t1 >= t0 else -1.0
    t = t0
    reuse = fsal(tab)
    k0 = f(t, y)
    h = direction * initial_step(f, t, y, k0, order, rtol, atol, direction)
    nmax = 1000000
    while direction * (t1 - t) > 0:
        if stats["steps"] + stats["rejected"] > nmax:
            raise RuntimeError("step limit reached")
        if direction * (t + h - t1) > 0:
            h = t1 - t
        yn, k = rk_step(tab, f, t, y, h, k0)
        en = err_norm(tab, y, yn, k, h, rtol, atol)
        if not math.isfinite(en):
            raise FloatingPointError("non-finite state")
        fac = 10.0 if en == 0 else min(10.0, max(0.2, 0.9 * en ** (-1.0 / (order + 1))))
        if en <= 1.0:
            t = t1 if h == t1 - t else t + h
            y = yn
            k0 = k[-1] if reuse else f(t, y)
            stats["steps"] += 1
        else:
            stats["rejected"] += 1
            fac = min(1.0, fac)
        h = h * fac
        if abs(h) < 1e-14 * max(1.0, abs(t)):
            raise RuntimeError("step size underflow")
    return y


def gradient_own(a, field, params, z0, w, tab, order):
    """One gradient by this file's own steps: (loss, gtheta list, gz0, stats)."""
    B = z0.shape[0]
    stats = {"steps": 0, "rejected": 0, "adj_steps": 0, "forward_s": 0.0, "backward_s": 0.0}
    cnt = field.count
    cnt.f = cnt.vjp = 0
    t0 = time.perf_counter()
    if a.method == "backprop":
        z = z0.clone().requires_grad_(True)
        zT = integrate(tab, field, 0.0, a.t1, z, a.steps, a.rtol, a.atol, order, stats)
        loss = (w * zT).sum() / B
        nf = cnt.f
        t1 = time.perf_counter()
        grads = torch.autograd.grad(loss, params + [z])
        stats["forward_s"] = t1 - t0
        stats["backward_s"] = time.perf_counter() - t1
        # the evaluations autograd reverses: every stage of a fixed step; with adaptive steps
        # the first f, then s - 1 new stages per accepted step, and (without FSAL) the f at the
        # start of every later step (rejected attempts and the controller's extra f are not in
        # the graph)
        nvjp = nf
        if a.steps == 0:
            acc = stats["steps"]
            nvjp = 1 + acc * (tab.s - 1) + (0 if fsal(tab) else acc - 1)
        stats["nfe_forward"], stats["nfe_backward"], stats["nvjp"] = nf, 0, nvjp
        return float(loss), list(grads[:-1]), grads[-1], stats
    with torch.no_grad():
        zT = integrate(tab, field, 0.0, a.t1, z0, a.steps, a.rtol, a.atol, order, stats)
        loss = (w * zT).sum() / B
    nf = cnt.f
    t1 = time.perf_counter()

    def aug(t, y):
        z, lam = y[0], y[1]
        with torch.enable_grad():
            zz = z.detach().requires_grad_(True)
            fz = field(t, zz)
            g = torch.autograd.grad(fz, [zz] + params, grad_outputs=lam, allow_unused=True)
        cnt.vjp += 1
        return (fz.detach(), -g[0]) + tuple(-x for x in g[1:])

    y = (zT, w / B) + tuple(torch.zeros_like(p) for p in params)
    back = {"steps": 0, "rejected": 0}
    rtol = a.adj_rtol if a.adj_rtol > 0 else a.rtol
    atol = a.adj_atol if a.adj_atol > 0 else a.atol
    with torch.no_grad():
        y = integrate(tab, aug, a.t1, 0.0, y, a.steps, rtol, atol, order, back)
    stats["adj_steps"] = back["steps"]
    stats["forward_s"] = t1 - t0
    stats["backward_s"] = time.perf_counter() - t1
    stats["nfe_forward"], stats["nfe_backward"], stats["nvjp"] = nf, cnt.f - nf, cnt.vjp
    return float(loss), list(y[2:]), y[1], stats


# odegrad's scheme -> torchdiffeq's method of the same tableau (torchdiffeq's "rk4" is Kutta's
# 3/8 rule); only these are handed to it.
TORCHDIFFEQ_FIXED = {"euler": "euler", "midpoint": "midpoint", "rk38": "rk4"}
TORCHDIFFEQ_ADAPTIVE = {"bosh3": "bosh3", "dopri5": "dopri5"}


def torchdiffeq_method(a):
    if a.implementation != "auto":
        return None
    try:
        import torchdiffeq  # noqa: F401
    except ImportError:
        return None
    if a.steps > 0:
        return TORCHDIFFEQ_FIXED.get(a.scheme)
    return TORCHDIFFEQ_ADAPTIVE.get(a.scheme)


def gradient_torchdiffeq(a, field, params, z0, w, tdmethod):
    import torchdiffeq

    B = z0.shape[0]
    cnt = field.count
    cnt.f = cnt.vjp = 0

    stats = {"steps": 0, "rejected": 0, "adj_steps": 0}

    class Mod(torch.nn.Module):
        def forward(self, t, z):
            return field(float(t), z)

        # torchdiffeq (0.2.3 and later) reports each adaptive step through these
        def callback_accept_step(self, t0, y0, dt):
            stats["steps"] += 1

        def callback_reject_step(self, t0, y0, dt):
            stats["rejected"] += 1

        def callback_accept_step_adjoint(self, t0, y0, dt):
            stats["adj_steps"] += 1

    mod = Mod()
    ts = torch.tensor([0.0, a.t1], dtype=torch.float64)
    kw = {"method": tdmethod}
    if a.steps > 0:
        kw["options"] = {"step_size": a.t1 / a.steps}
    else:
        kw["rtol"], kw["atol"] = a.rtol, a.atol
    t0 = time.perf_counter()
    z = z0.clone().requires_grad_(True)
    if a.method == "backprop":
        zT = torchdiffeq.odeint(mod, z, ts, **kw)[-1]
    else:
        if a.steps == 0:
            kw["adjoint_rtol"] = a.adj_rtol if a.adj_rtol > 0 else a.rtol
            kw["adjoint_atol"] = a.adj_atol if a.adj_atol > 0 else a.atol
        zT = torchdiffeq.odeint_adjoint(mod, z, ts, adjoint_params=tuple(params), **kw)[-1]
    loss = (w * zT).sum() / B
    nf = cnt.f
    t1 = time.perf_counter()
    grads = torch.autograd.grad(loss, params + [z])
    stats["forward_s"] = t1 - t0
    stats["backward_s"] = time.perf_counter() - t1
    stats["nfe_forward"], stats["nfe_backward"] = nf, cnt.f - nf
    stats["nvjp"] = nf if a.method == "backprop" else cnt.f - nf
    if a.steps > 0:
        stats["steps"] = a.steps
        stats["adj_steps"] = a.steps if a.method != "backprop" else 0
    elif stats["steps"] == 0:  # an older torchdiffeq, without the callbacks: not known
        stats["steps"] = stats["rejected"] = stats["adj_steps"] = None
    return float(loss), list(grads[:-1]), grads[-1], stats


def main():
    a = parse()
    retain_memory()
    torch.set_num_threads(max(1, a.threads))
    torch.set_default_dtype(torch.float64)
    load = lambda n: torch.from_numpy(np.ascontiguousarray(np.load(os.path.join(a.dir, n + ".npy"),
                                                                  allow_pickle=False)))
    W1, b1, W2, b2 = (load(n).clone() for n in ("W1", "b1", "W2", "b2"))
    b1, b2 = b1.reshape(-1), b2.reshape(-1)
    z0, w = load("z0"), load("w")
    params = [p.requires_grad_(True) for p in (W1, b1, W2, b2)]
    cnt = Counter()
    field = Field(*params, a.time_input, cnt)
    tab = Tableau(a.dir)
    order = a.order  # of the embedded error estimate: the step-size exponent is 1/(order+1)
    tdmethod = torchdiffeq_method(a)
    if tdmethod:
        import torchdiffeq

        impl = "torchdiffeq %s %s" % (getattr(torchdiffeq, "__version__", "?"), tdmethod)
        run = lambda: gradient_torchdiffeq(a, field, params, z0, w, tdmethod)
    else:
        impl = "own RK"
        run = lambda: gradient_own(a, field, params, z0, w, tab, order)

    # The measurement of harness/run.c (timed_gradients): the baseline after one f and one VJP
    # (the libraries' buffers) and with the allocator's free memory given back; one gradient
    # from there, untimed, for the resident peak; the warm-ups, past --warmup while the last one
    # faulted pages in (the harness's ODG_RUN_SETTLE_PAGES and _MORE); the timed gradients.
    prime(field, params, z0, w)
    gc.collect()
    release_memory()
    cleared = reset_hwm()
    base = status_kb("VmRSS")
    run()
    rss_peak = status_kb("VmHWM") - base
    most = a.warmup + SETTLE_MORE if a.warmup > 0 else 0
    warmups, settled = 0, False
    while warmups < most and (warmups < a.warmup or not settled):
        f0 = minor_faults()
        run()
        settled = minor_faults() - f0 < SETTLE_PAGES
        warmups += 1
    times, fw, bw = [], [], []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        loss, gtheta, gz0, stats = run()
        times.append(time.perf_counter() - t0)
        fw.append(stats["forward_s"])
        bw.append(stats["backward_s"])
    g = torch.cat([x.detach().reshape(-1) for x in gtheta] + [gz0.detach().reshape(-1)])
    np.save(os.path.join(a.dir, "g.npy"), g.numpy())
    out = {
        "times": times, "forward": fw, "backward": bw, "loss": loss,
        "steps": stats["steps"], "rejected": stats["rejected"], "adj_steps": stats["adj_steps"],
        "nfe_forward": stats["nfe_forward"], "nfe_backward": stats["nfe_backward"],
        "nvjp": stats["nvjp"], "rss_peak": rss_peak, "rss_base": base, "warmups": warmups,
        "rss_method": "clear_refs" if cleared else "vmrss", "threads": torch.get_num_threads(),
        "version": "torch %s" % torch.__version__, "implementation": impl,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, FloatingPointError) as e:
        sys.stderr.write("torch_peer: %s\n" % e)
        sys.exit(3)
