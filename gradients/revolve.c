/* Binomial checkpointing: the optimal cost and the optimal split of Revolve (A. Griewank and
 * A. Walther, "Algorithm 799: Revolve: an implementation of checkpointing for the reverse or
 * adjoint mode of computational differentiation", ACM TOMS 26(1), 2000; A. Griewank,
 * "Achieving logarithmic growth of temporal and spatial complexity in reverse automatic
 * differentiation", Optim. Methods Softw. 1, 1992).  docs/theory.md section 7.
 *
 * Notation: beta(s, r) = binom(s + r, s) is the longest chain that s snapshots reverse when no
 * step is advanced more than r times; beta(s, -1) = 0.  rho_s(l), the "rank" of l, is the least
 * r with beta(s, r) >= l.  With T(l, s) the optimal number of forward steps,
 *   T(l, s) - T(l - 1, s) = rho_s(l),                                                  (1)
 * i.e. T is piecewise linear and convex in l with slope r on (beta(s, r-1), beta(s, r)], and at
 * the knots T(beta(s, q), s) = s binom(s + q, s + 1).  Hence, with r = rho_s(l),
 *   T(l, s) = s binom(s + r - 1, s + 1) + r (l - beta(s, r - 1)),                      (2)
 * which equals the header's r l - binom(s + r, s + 1) but is a sum of non-negative terms, so
 * overflow is detected term by term.
 *
 * Integers: every binomial is built by exact steps x * p / q where q divides x * p; when x * p
 * would overflow, the common factor gcd(x, q) is cancelled first, after which q / gcd divides p.
 * Values above LONG_MAX saturate to ODG_SAT (they are only ever compared with l <= LONG_MAX).
 */
#include "odegrad/gradients.h"

#include <limits.h>

#define ODG_SAT ((unsigned long)LONG_MAX + 1ul)

static unsigned long odg_gcd(unsigned long a, unsigned long b)
{
    while (b) {
        unsigned long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* x * p / q for x <= LONG_MAX (or ODG_SAT), p >= 0, q >= 1, q dividing x * p: exact, or ODG_SAT if
 * the quotient exceeds LONG_MAX. */
static unsigned long odg_muldiv(unsigned long x, unsigned long p, unsigned long q)
{
    if (x >= ODG_SAT) {
        return ODG_SAT;
    }
    if (p == 0 || x == 0) {
        return 0;
    }
    unsigned long r;
    if (x <= ULONG_MAX / p) {
        r = x * p / q;
    } else {
        unsigned long g = odg_gcd(x, q);
        x /= g;
        p /= q / g;
        if (x > ULONG_MAX / p) {
            return ODG_SAT;
        }
        r = x * p;
    }
    return r > (unsigned long)LONG_MAX ? ODG_SAT : r;
}

/* beta(s, r) = binom(s + r, s), saturating.  The loop runs over the smaller of s and r and stops
 * at saturation; binom(n, i) >= 2^i for i <= n / 2, so it never takes more than about 64 steps. */
static unsigned long odg_beta(long s, long r)
{
    if (r < 0) {
        return 0;
    }
    unsigned long k = (unsigned long)(s < r ? s : r), n = (unsigned long)s + (unsigned long)r;
    unsigned long x = 1;
    for (unsigned long i = 1; i <= k && x < ODG_SAT; i++) {
        x = odg_muldiv(x, n - k + i, i); /* binom(n - k + i, i) from binom(n - k + i - 1, i - 1) */
    }
    return x;
}

/* r = rho_s(l) for l >= 1, s >= 1, and beta(s, r - 1) (< l, so exact).  A linear scan costs one
 * exact step per r and is the fast path: in practice r is small (4096 steps with 8 snapshots
 * have r = 7).  Past 64 steps r can only be large because s is small, and the scan switches to
 * doubling then bisection, O(log l) evaluations of at most ~64 steps each. */
static long odg_rank(long l, long s, unsigned long *beta_prev)
{
    unsigned long ul = (unsigned long)l, prev = 0, cur = 1; /* beta(s, -1), beta(s, 0) */
    long r = 0;
    while (cur < ul && r < 64) {
        prev = cur;
        cur = odg_muldiv(cur, (unsigned long)(s + r + 1), (unsigned long)(r + 1));
        r++;
    }
    if (cur >= ul) {
        *beta_prev = prev;
        return r;
    }
    /* beta(s, lo) < l <= beta(s, hi); beta(s, l - 1) >= l, so hi stays below l. */
    long lo = r, hi = r;
    do {
        lo = hi;
        hi = hi > (l - 1) / 2 ? l - 1 : 2 * hi;
    } while (odg_beta(s, hi) < ul);
    while (hi - lo > 1) {
        long mid = lo + (hi - lo) / 2;
        if (odg_beta(s, mid) < ul) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    *beta_prev = odg_beta(s, hi - 1);
    return hi;
}

long odg_revolve_cost(long l, int s)
{
    if (l < 1 || s < 1) {
        return -1;
    }
    unsigned long bprev;
    long r = odg_rank(l, s, &bprev);
    if (r == 0) {
        return 0; /* l == 1: the step is only re-taped */
    }
    /* (2): binom(s + r - 1, s + 1) = binom(s + r - 1, s) (r - 1) / (s + 1); exact. */
    unsigned long knot = odg_muldiv(bprev, (unsigned long)(r - 1), (unsigned long)s + 1);
    unsigned long rest = (unsigned long)l - bprev, lim = (unsigned long)LONG_MAX;
    if (knot >= ODG_SAT || (knot && (unsigned long)s > lim / knot) ||
        rest > lim / (unsigned long)r) {
        return -1;
    }
    unsigned long a = (unsigned long)s * knot, c = (unsigned long)r * rest;
    if (a > lim - c) {
        return -1;
    }
    return (long)(a + c);
}

/* The split.  g(m) = m + T(l - m, s - 1) + T(m, s) is convex in m (by (1), both T's are convex),
 * with increments g(m + 1) - g(m) = 1 + rho_s(m + 1) - rho_{s-1}(l - m), so m is optimal iff
 *   (a) m == 1 or rho_{s-1}(l - m + 1) >= 1 + rho_s(m), and
 *   (b) m == l - 1 or rho_{s-1}(l - m) <= 1 + rho_s(m + 1).
 * With r = rho_s(l), the rule is
 *   m = max(l - beta(s - 1, r), beta(s, r - 2) + 1):
 * fill the right part (s - 1 snapshots) to the capacity beta(s - 1, r) it has at rank r, unless
 * that leaves the left part below rank r - 1, in which case give the left part the smallest
 * length of rank r - 1.  Proof: either way beta(s, r - 2) < m <= beta(s, r - 1) (the upper bound
 * because l <= beta(s, r) = beta(s, r - 1) + beta(s - 1, r)), so rho_s(m) = r - 1, and
 * l - m <= beta(s - 1, r), so rho_{s-1}(l - m) <= r: this gives (b).  For (a): in the first case
 * l - m + 1 = beta(s - 1, r) + 1 has rank r + 1; in the second, l - m + 1 > beta(s, r - 1) -
 * beta(s, r - 2) = beta(s - 1, r - 1) because l > beta(s, r - 1), so its rank is >= r.  Also
 * 1 <= m <= l - 1, as beta(s, r - 2) + 1 < beta(s, r - 1) + 1 <= l and beta(s - 1, r) >= 1.
 * Cost: one rank, O(r) exact steps for small r and O(log l) in general. */
long odg_revolve_split(long l, int s)
{
    if (l < 2 || s < 2) {
        return -1;
    }
    unsigned long bprev;
    long r = odg_rank(l, s, &bprev); /* r >= 1 as l >= 2 */
    /* beta(s - 1, r) = binom(s + r - 1, s - 1) = beta(s, r - 1) s / r, and
     * beta(s, r - 2) = beta(s, r - 1) (r - 1) / (s + r - 1); both exact, the first may saturate. */
    unsigned long right = odg_muldiv(bprev, (unsigned long)s, (unsigned long)r);
    unsigned long left = odg_muldiv(bprev, (unsigned long)(r - 1), (unsigned long)(s + r - 1));
    long m = (long)left + 1;
    if (right < (unsigned long)l && l - (long)right > m) {
        m = l - (long)right;
    }
    return m;
}
