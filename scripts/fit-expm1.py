#!/usr/bin/env python3
"""The coefficients EM_C1 .. EM_C10 of models/mlp.c's tanh: a minimax fit, in 50-digit
arithmetic, of e^r - 1 = em(r) = r + r^2 (1/2 + r d(r)) with d a polynomial of degree n, on
[-(1/2 - beta) ln 2, (1/2 + beta) ln 2], minimizing the relative error of em (weight
r^3 / (e^r - 1) on the error of d).  Remez exchange from Chebyshev extrema, on a 4001-point
Chebyshev grid; prints the errors with exact and with double coefficients, then the
coefficients of d in hex, lowest degree first.

    python3 scripts/fit-expm1.py 9 0.25     # models/mlp.c's: k = round(2a / ln 2 - 1/4)

Needs mpmath (Debian: python3-mpmath); not used by the build or the tests."""
import argparse
import sys

try:
    from mpmath import cos, expm1, log, lu_solve, matrix, mp, mpf, pi
except ImportError:
    sys.exit("fit-expm1.py: needs mpmath (Debian: python3-mpmath)")

mp.dps = 50


def main():
    ap = argparse.ArgumentParser(description="minimax fit of e^r - 1 (models/mlp.c's tanh)")
    ap.add_argument("degree", type=int, help="degree of d, 1 .. 20")
    ap.add_argument("beta", type=float, nargs="?", default=0.0,
                    help="shift of the interval, in [0, 0.5) (models/mlp.c: 0.25)")
    a = ap.parse_args()
    if not 1 <= a.degree <= 20 or not 0 <= a.beta < 0.5:
        ap.error("degree must be 1 .. 20 and beta in [0, 0.5)")
    n = a.degree
    beta = mpf(a.beta)
    widen = 1 + mpf(2) ** -30  # a hair past the interval: k's rounding can overshoot it
    lo = -(mpf(1) / 2 - beta) * log(2) * widen
    hi = (mpf(1) / 2 + beta) * log(2) * widen
    half, mid = (hi - lo) / 2, (hi + lo) / 2

    def dstar(r):  # the exact d: (e^r - 1 - r - r^2 / 2) / r^3
        if abs(r) < mpf(10) ** -10:
            return mpf(1) / 6 + r / 24 + r * r / 120
        return ((expm1(r) - r) / (r * r) - mpf(1) / 2) / r

    def weight(r):  # d's error reaches em relative to em scaled by r^3 / em
        return mpf(0) if r == 0 else abs(r**3 / expm1(r))

    def err(p, x):
        v = mpf(0)
        for c in reversed(p):
            v = v * x + c
        return (v - dstar(x)) * weight(x)

    m = n + 2
    xs = [mid + half * cos(pi * (m - 1 - i) / (m - 1)) + half / 1000 for i in range(m)]
    xs[-1] = hi
    grid = [mid + half * cos(pi * (4000 - i) / 4000) for i in range(4001)]
    for _ in range(12):
        # the levelled solution on the reference points: p(x_i) - d(x_i) = (-1)^i E / w(x_i)
        A, b = matrix(m, m), matrix(m, 1)
        for i, x in enumerate(xs):
            for j in range(n + 1):
                A[i, j] = x**j
            A[i, n + 1] = (-1) ** i / weight(x) if weight(x) != 0 else 0
            b[i] = dstar(x)
        s = lu_solve(A, b)
        p = [s[j] for j in range(n + 1)]
        es = [err(p, x) for x in grid]
        # the new reference: local extrema of the error, alternating in sign
        ext = [i for i in range(len(grid))
               if (i == 0 or abs(es[i]) >= abs(es[i - 1]))
               and (i == len(grid) - 1 or abs(es[i]) >= abs(es[i + 1]))]
        alt = []
        for i in ext:
            if alt and (es[i] > 0) == (es[alt[-1]] > 0):
                if abs(es[i]) > abs(es[alt[-1]]):
                    alt[-1] = i
            else:
                alt.append(i)
        while len(alt) > m:
            alt.pop(0 if abs(es[alt[0]]) < abs(es[alt[-1]]) else -1)
        if len(alt) < m:
            break
        xs = [grid[i] for i in alt]
    worst = max(abs(e) for e in es)
    pd = [float(c) for c in p]
    worst_d = max(abs(err([mpf(c) for c in pd], x)) for x in grid)
    print("degree %d on [%s, %s]: relative error of em 2^%.2f, with double coefficients 2^%.2f"
          % (n, mp.nstr(lo, 6), mp.nstr(hi, 6), float(log(worst, 2)), float(log(worst_d, 2))))
    print(", ".join(float.hex(c) for c in pd))


if __name__ == "__main__":
    main()
