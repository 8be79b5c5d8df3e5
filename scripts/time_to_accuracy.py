#!/usr/bin/env python3
"""The time-to-accuracy table and Pareto fronts of a results file (experiments/time-to-accuracy.ini).

For each problem (D, H, B) and each solver, a configuration is one row with status ok: its
median time of one gradient (time_median_s) and its error against the reference
(err_vs_reference).  For an error target e, a solver's time to e is the smallest time among its
configurations whose error is at most e; the table gives, per problem and peer, the peer's time
over odegrad's at the targets 1e-3, 1e-5, 1e-7, 1e-10 and 1e-12, with the winning configuration
on each side ("-" where a solver reaches no configuration that accurate).  A solver's Pareto
front is its configurations that no other of its configurations beats in both time and error.

Usage: time_to_accuracy.py RESULTS.csv [--table OUT.md] [--front OUT.csv]
The results file may be raw (the last row of each configuration counts) or tidied by
`odegrad tidy`.  The table goes to stdout too.
"""

import argparse
import csv
import math
import sys

TARGETS = [1e-3, 1e-5, 1e-7, 1e-10, 1e-12]


def number(s):
    try:
        x = float(s)
    except (TypeError, ValueError):
        return math.nan
    return x


def adaptive(r):
    return number(r.get("rtol")) > 0


def label(r):
    """A configuration in a few words: 'rk4 N=64 backprop', 'dopri5 rtol=1e-08 backsolve-adjoint',
    'adams rtol=1e-09'."""
    if r.get("solver") == "cvodes":
        return "%s rtol=%g" % (r.get("lmm", ""), number(r["rtol"]))
    how = "rtol=%g" % number(r["rtol"]) if adaptive(r) else "N=%s" % r.get("steps", "")
    return "%s %s %s" % (r.get("scheme", ""), how, r.get("method", ""))


def key(r):
    """A configuration's identity within this experiment (a raw file may hold it twice)."""
    return (r.get("D"), r.get("H"), r.get("B"), r.get("solver", "odegrad"), label(r))


def read(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    last = {}
    for r in rows:
        r.setdefault("solver", "odegrad")
        r["solver"] = r["solver"] or "odegrad"
        last[key(r)] = r
    pts = []
    for r in last.values():
        t, e = number(r.get("time_median_s")), number(r.get("err_vs_reference"))
        if r.get("status") == "ok" and math.isfinite(t) and math.isfinite(e):
            pts.append({"problem": (int(r["D"]), int(r["H"]), int(r["B"])),
                        "solver": r["solver"], "time": t, "err": e, "label": label(r)})
    return pts


def fastest(pts, target):
    best = None
    for p in pts:
        if p["err"] <= target and (best is None or p["time"] < best["time"]):
            best = p
    return best


def front(pts):
    """The Pareto front, from the largest error to the smallest."""
    out = []
    for p in sorted(pts, key=lambda p: (p["time"], p["err"])):
        if not out or p["err"] < out[-1]["err"]:
            out.append(p)
    return sorted(out, key=lambda p: -p["err"])


def fmt_time(t):
    return "%.3g s" % t


def table(pts):
    problems = sorted({p["problem"] for p in pts})
    solvers = sorted({p["solver"] for p in pts})
    peers = [s for s in solvers if s != "odegrad"]
    lines = ["# Time to accuracy: each peer's fastest gradient over odegrad's", "",
             "ratio = peer's time / odegrad's time to an error <= the target (< 1: the peer is "
             "faster); each side's winning configuration below it; '-': no configuration of "
             "that solver reached the target.", ""]
    for prob in problems:
        mine = [p for p in pts if p["problem"] == prob]
        ours = [p for p in mine if p["solver"] == "odegrad"]
        lines.append("## mlp D=%d H=%d B=%d" % prob)
        lines.append("")
        lines.append("| peer | target | odegrad | peer | ratio | odegrad's configuration | "
                     "peer's configuration |")
        lines.append("|---|---|---|---|---|---|---|")
        for peer in peers:
            theirs = [p for p in mine if p["solver"] == peer]
            if not theirs:
                continue
            for e in TARGETS:
                a, b = fastest(ours, e), fastest(theirs, e)
                ratio = "%.3g" % (b["time"] / a["time"]) if a and b else "-"
                lines.append("| %s | %g | %s | %s | %s | %s | %s |" % (
                    peer, e, fmt_time(a["time"]) if a else "-", fmt_time(b["time"]) if b else "-",
                    ratio, a["label"] if a else "-", b["label"] if b else "-"))
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--table")
    ap.add_argument("--front")
    a = ap.parse_args()
    pts = read(a.csv)
    if not pts:
        sys.stderr.write("time_to_accuracy.py: %s has no ok row with an error\n" % a.csv)
        return 1
    text = table(pts)
    sys.stdout.write(text + "\n")
    if a.table:
        with open(a.table, "w") as fh:
            fh.write(text + "\n")
    if a.front:
        with open(a.front, "w") as fh:
            fh.write("D,H,B,solver,err,time\n")
            for prob in sorted({p["problem"] for p in pts}):
                for s in sorted({p["solver"] for p in pts}):
                    for p in front([q for q in pts if q["problem"] == prob and q["solver"] == s]):
                        fh.write("%d,%d,%d,%s,%.17g,%.17g\n" % (prob + (s, p["err"], p["time"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
