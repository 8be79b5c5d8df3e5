#!/usr/bin/env python3
"""The time-to-accuracy table and Pareto fronts of a results file (experiments/time-to-accuracy.ini).

For each problem (D, H, B) and each solver, a configuration is one row with status ok: its
median time of one gradient (time_median_s) and its error against the reference
(err_vs_reference).  For an error target e, a solver's time to e is the smallest time among its
configurations whose error is at most e; the table gives, per problem and peer, the peer's time
over odegrad's at the targets 1e-3, 1e-5, 1e-7, 1e-10 and 1e-12, with the winning configuration
on each side ("-" where a solver reaches no configuration that accurate).  A solver's Pareto
front is its configurations that no other of its configurations beats in both time and error.

The sweep times each configuration on its own, minutes apart from its rival, and on a shared
machine the speed drifts between the two; the drift can also pick a cell's winner: two
configurations a few per cent apart trade places from one run to the next.  So each cell is
run again side by side: --run-duels N takes each side's contenders (its fastest configuration
that reaches the target and the next one if the sweep timed it within CONTENDER_FACTOR of that;
the peers' side pools every peer) and runs them alternately N times (the two sides' contenders
interleaved, odegrad's first in even pairs, the peer's in odd ones; each run the median of the
row's repeats, through `odegrad run --from RESULTS.csv:LINE`, which reads the row's
configuration), checks that each run reproduces the row's error (so the command is the
configuration measured), and writes every run's time to the duels file.  Each side's duel
winner is its contender with the smaller median over the pairs (both sides get the same rule,
so the same small benefit of choosing); the table adds the ratio of the two winners per pair,
median and range over the pairs, and names the winners where the sweep had picked others.
Without --run-duels an existing duels file is read.

Usage: time_to_accuracy.py RESULTS.csv [--table OUT.md] [--front OUT.csv] [--provenance JSON]
                           [--duels FILE.csv [--run-duels N --odegrad BIN]]
The results file may be raw (the last row of each configuration counts) or tidied by
`odegrad tidy`.  The table goes to stdout too.
"""

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys

TARGETS = [1e-3, 1e-5, 1e-7, 1e-10, 1e-12]

# The side-by-side runs' contenders per side: the sweep's fastest and up to CONTENDERS - 1 more
# timed within CONTENDER_FACTOR of it.  In an earlier set the sweep timed odegrad's vern7 N = 4
# at D = 2 1.12 times slower than adaptive vern7 (1.73 against 1.55 ms), and side by side it was
# the faster of the two: the factor leaves room for a drift of that size.
CONTENDERS = 2
CONTENDER_FACTOR = 1.25


def number(s):
    try:
        x = float(s)
    except (TypeError, ValueError):
        return math.nan
    return x


def adaptive(r):
    return number(r.get("rtol")) > 0


def label(r):
    """A configuration in a few words: 'rk4 N=64 backprop', 'vern8 N=4 backprop kept' (kept
    activations), 'dopri5 rtol=1e-08 backsolve-adjoint', 'adams rtol=1e-09'."""
    if r.get("solver") == "cvodes":
        return "%s rtol=%g" % (r.get("lmm", ""), number(r["rtol"]))
    how = "rtol=%g" % number(r["rtol"]) if adaptive(r) else "N=%s" % r.get("steps", "")
    kept = " kept" if r.get("keep_activations") in ("1", "yes", "true") else ""
    return "%s %s %s%s" % (r.get("scheme", ""), how, r.get("method", ""), kept)


def key(r):
    """A configuration's identity within this experiment (a raw file may hold it twice)."""
    return (r.get("D"), r.get("H"), r.get("B"), r.get("solver", "odegrad"), label(r))


def read(path):
    """The configurations of a results file, each with its file and line (for `odegrad run
    --from FILE:LINE`)."""
    rows = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        for r in reader:
            r["_at"] = "%s:%d" % (path, reader.line_num)
            rows.append(r)
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
                        "solver": r["solver"], "time": t, "err": e, "label": label(r), "row": r})
    return pts


def reaching(pts, target):
    """The configurations of pts at least as accurate as target, fastest first."""
    return sorted((p for p in pts if p["err"] <= target), key=lambda p: p["time"])


def fastest(pts, target):
    ok = reaching(pts, target)
    return ok[0] if ok else None


def front(pts):
    """The Pareto front, from the largest error to the smallest."""
    out = []
    for p in sorted(pts, key=lambda p: (p["time"], p["err"])):
        if not out or p["err"] < out[-1]["err"]:
            out.append(p)
    return sorted(out, key=lambda p: -p["err"])


# ---- side by side -------------------------------------------------------------------------

def run_once(odegrad, r):
    """One run of row r's configuration, read from its line of the results file by `odegrad run
    --from`: its median time.  Refuses a run whose error is not the row's (another configuration
    than the one measured)."""
    cmd = [odegrad, "run", "--from", r["_at"], "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rec = json.loads(out.strip().splitlines()[-1])
    if rec.get("status") != "ok":
        raise RuntimeError("%s: status %s" % (" ".join(cmd), rec.get("status")))
    want, got = number(r["err_vs_reference"]), number(rec.get("err_vs_reference"))
    # the same configuration computes the same gradient; a peer's library may round
    # differently from one process to the next, never by a relative 1e-6
    if not abs(got - want) <= 1e-6 * abs(want):
        raise RuntimeError("%s: error %r, the results file has %r for this configuration"
                           % (" ".join(cmd), got, want))
    return number(rec["time_median_s"])


def contenders(pts, target):
    """The configurations of pts (one side) that reach target and may be its fastest: the
    sweep's fastest and the next ones it timed within CONTENDER_FACTOR of it, CONTENDERS at
    most, fastest first."""
    ok = reaching(pts, target)
    return [p for p in ok[:CONTENDERS] if p["time"] <= CONTENDER_FACTOR * ok[0]["time"]]


def cells(pts):
    """Per problem and target that both sides reach: odegrad's contenders and the peers'."""
    out = []
    for prob in sorted({p["problem"] for p in pts}):
        mine = [p for p in pts if p["problem"] == prob]
        ours = [p for p in mine if p["solver"] == "odegrad"]
        theirs = [p for p in mine if p["solver"] != "odegrad"]
        for e in TARGETS:
            a, b = contenders(ours, e), contenders(theirs, e)
            if a and b:
                out.append((prob, e, a, b))
    return out


DUEL_COLUMNS = ["D", "H", "B", "target", "side", "solver", "config", "pair", "time_s"]


def run_duels(pts, odegrad, n, path):
    """Runs each cell's contenders n times alternately; writes path (whole or not at all)."""
    rows = []
    for prob, e, a, b in cells(pts):
        for i in range(n):
            first, second = (("odegrad", a), ("peer", b)) if i % 2 == 0 else \
                (("peer", b), ("odegrad", a))
            order = []
            for k in range(max(len(a), len(b))):
                order += [(side, c[k]) for side, c in (first, second) if k < len(c)]
            for side, p in order:
                t = run_once(odegrad, p["row"])
                rows.append([prob[0], prob[1], prob[2], "%g" % e, side, p["solver"], p["label"],
                             i, repr(t)])
                sys.stderr.write("duel D=%d %g pair %d: %s %s: %.3g s\n"
                                 % (prob[0], e, i, p["solver"], p["label"], t))
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(DUEL_COLUMNS)
        w.writerows(rows)
    os.replace(tmp, path)


def read_duels(path):
    """{(problem, target): {side: {(solver, config): {pair: time}}}} from a duels file."""
    out = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not set(DUEL_COLUMNS) <= set(reader.fieldnames or []):
            raise ValueError("%s: not a duels file of this version (columns %s)"
                             % (path, ", ".join(DUEL_COLUMNS)))
        for r in reader:
            cell = ((int(r["D"]), int(r["H"]), int(r["B"])), number(r["target"]))
            side = out.setdefault(cell, {}).setdefault(r["side"], {})
            side.setdefault((r["solver"], r["config"]), {})[int(r["pair"])] = number(r["time_s"])
    return out


def duel_winners(cell):
    """Each side's contender with the smaller median over the pairs, and the per-pair ratios
    of the two (pairs both ran)."""
    win = {}
    for side in ("odegrad", "peer"):
        runs = cell.get(side)
        if not runs:
            return None
        win[side] = min(runs.items(), key=lambda kv: statistics.median(kv[1].values()))
    a, b = win["odegrad"][1], win["peer"][1]
    ratios = [b[i] / a[i] for i in sorted(set(a) & set(b))]
    return (win["odegrad"][0], win["peer"][0], ratios) if ratios else None


def side_by_side(pts, duels):
    """The summary again from the duels: median (min-max) of the per-pair ratios of each side's
    duel winner, and the winners that are not the sweep's."""
    if not duels:
        return []
    n = max(len(times) for c in duels.values() for s in c.values() for times in s.values())
    lines = ["## Side by side", "",
             "Each cell's contenders (each side's fastest configuration in the sweep and the next "
             "one if it was within %g times that, the peers' side pooling every peer) run again, "
             "alternately, in %s; each side's winner is its contender with the smaller median; "
             "ratio = the peer winner's time / odegrad's in each pair: median (min-max) over the "
             "pairs." % (CONTENDER_FACTOR, "one pair" if n == 1 else "%d pairs" % n), "",
             "| D, H, B | " + " | ".join("%g" % e for e in TARGETS) + " |",
             "|---|" + "---|" * len(TARGETS)]
    by, changed = {}, []
    for prob, e, a, b in cells(pts):
        w = duel_winners(duels.get((prob, e), {}))
        by[(prob, e)] = w
        if w and ((w[0][1] != a[0]["label"]) or (w[1] != (b[0]["solver"], b[0]["label"]))):
            changed.append("- D=%d H=%d B=%d, %g: odegrad %s, %s %s (the sweep's: %s; %s %s)"
                           % (prob + (e, w[0][1], w[1][0], w[1][1], a[0]["label"],
                                      b[0]["solver"], b[0]["label"])))
    for prob in sorted({p["problem"] for p in pts}):
        row = []
        for e in TARGETS:
            w = by.get((prob, e))
            row.append("%.3g (%.3g-%.3g)" % (statistics.median(w[2]), min(w[2]), max(w[2]))
                       if w else "-")
        lines.append("| %d, %d, %d | " % prob + " | ".join(row) + " |")
    lines.append("")
    if changed:
        lines += ["Cells whose duel winners are not the sweep's:", ""] + changed + [""]
    return lines


def fmt_time(t):
    return "%.3g s" % t


def provenance(path):
    """One line on what ran: the machine, OpenBLAS's kernel and the peers' versions, from the
    results file's sidecar (empty when it has none)."""
    try:
        with open(path) as fh:
            p = json.load(fh)["provenance"]
    except (OSError, ValueError, KeyError):
        return ""
    peers = p.get("peers") or {}
    named = ", ".join("%s: %s" % (k, v if v else "version not recorded")
                      for k, v in sorted(peers.items()))
    core = p.get("openblas_core")
    blas = "OpenBLAS kernel %s (chosen by: %s)" % (core, p.get("openblas_core_from")) if core \
        else p.get("openblas_config", "OpenBLAS (configuration not recorded)")
    return "Measured on %s (%s cores), %s, commit %s; %s; peers: %s." % (
        p.get("cpu_model", "?"), p.get("cores_online", "?"), p.get("date", "?"),
        p.get("git_commit", "?"), blas, named or "none")


def summary(pts, problems, peers):
    """The fastest peer's time over odegrad's, per problem and target."""
    lines = ["## The fastest peer against odegrad", "",
             "| D, H, B | " + " | ".join("%g" % e for e in TARGETS) + " |",
             "|---|" + "---|" * len(TARGETS)]
    for prob in problems:
        mine = [p for p in pts if p["problem"] == prob]
        ours = [p for p in mine if p["solver"] == "odegrad"]
        theirs = [p for p in mine if p["solver"] in peers]
        cells = []
        for e in TARGETS:
            a, b = fastest(ours, e), fastest(theirs, e)
            cells.append("%.3g (%s)" % (b["time"] / a["time"], b["solver"]) if a and b
                         else "- (odegrad only)" if a else "-")
        lines.append("| %d, %d, %d | " % prob + " | ".join(cells) + " |")
    return lines + [""]


def table(pts, source="", duels=None):
    problems = sorted({p["problem"] for p in pts})
    solvers = sorted({p["solver"] for p in pts})
    peers = [s for s in solvers if s != "odegrad"]
    lines = ["# Time to accuracy: each peer's fastest gradient over odegrad's", "",
             "ratio = peer's time / odegrad's time to an error <= the target (< 1: the peer is "
             "faster); each side's winning configuration below it; '-': no configuration of "
             "that solver reached the target (\"odegrad only\": odegrad did, no peer did).", ""]
    if source:
        lines += [source, ""]
    if peers:
        lines += summary(pts, problems, peers)
        lines += side_by_side(pts, duels)
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
    ap.add_argument("--provenance", help="the results' sidecar (default: RESULTS.csv.json)")
    ap.add_argument("--duels", help="the side-by-side runs' file: read, or written by --run-duels")
    ap.add_argument("--run-duels", type=int, default=0, metavar="N",
                    help="run each cell's contenders alternately N times into --duels")
    ap.add_argument("--odegrad", default="build/odegrad", help="the odegrad that runs them")
    a = ap.parse_args()
    if a.run_duels < 0 or (a.run_duels and not a.duels):
        ap.error("--run-duels N needs N >= 1 and --duels FILE")
    pts = read(a.csv)
    if not pts:
        sys.stderr.write("time_to_accuracy.py: %s has no ok row with an error\n" % a.csv)
        return 1
    if a.run_duels:
        try:
            run_duels(pts, a.odegrad, a.run_duels, a.duels)
        except (OSError, RuntimeError, subprocess.CalledProcessError, ValueError) as exc:
            detail = getattr(exc, "stderr", "") or ""
            sys.stderr.write("time_to_accuracy.py: side-by-side runs failed: %s %s\n"
                             % (exc, detail.strip()))
            return 1
    try:
        duels = read_duels(a.duels) if a.duels and os.path.exists(a.duels) else None
    except (OSError, ValueError, KeyError) as exc:
        sys.stderr.write("time_to_accuracy.py: %s\n" % exc)
        return 1
    text = table(pts, provenance(a.provenance or a.csv + ".json"), duels)
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
