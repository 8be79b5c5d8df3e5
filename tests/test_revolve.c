/* Binomial checkpointing (Griewank & Walther, Revolve, ACM TOMS 26, 2000; docs/theory.md section 7):
 * odg_revolve_cost against a brute-force dynamic programme and the worked values, the split
 * against the optimality identity, and a simulation of the recursive schedule that counts forward
 * steps and live snapshots and checks that every step is reversed once, in order.  All integer:
 * every check is exact. */
#include "check.h"

#include "odegrad/gradients.h"

#include <limits.h>
#include <stdlib.h>

#define DP_L 300
#define DP_S 10

/* T(l, s) = min_{1 <= m < l} [m + T(l - m, s - 1) + T(m, s)], T(1, s) = 0, T(l, 1) = l(l-1)/2. */
static long dp[DP_L + 1][DP_S + 1];

static void dp_fill(void)
{
    for (int s = 1; s <= DP_S; s++) {
        for (long l = 1; l <= DP_L; l++) {
            if (l == 1) {
                dp[l][s] = 0;
            } else if (s == 1) {
                dp[l][s] = l * (l - 1) / 2;
            } else {
                long best = LONG_MAX;
                for (long m = 1; m < l; m++) {
                    long c = m + dp[l - m][s - 1] + dp[m][s];
                    best = c < best ? c : best;
                }
                dp[l][s] = best;
            }
        }
    }
}

/* ---- schedule simulation ------------------------------------------------------------------ */

typedef struct sim {
    long pos;       /* index of the state currently held */
    long fwd;       /* forward steps advanced (re-taping a step before reversing it not counted) */
    long next;      /* the step that must be reversed next (they go l-1, l-2, ..., 0) */
    long snap[256]; /* snapshot positions, a stack */
    int nsnap, maxsnap;
    int bad; /* a protocol violation: restore from a missing snapshot, wrong order */
} sim;

static void sim_restore(sim *S, long i)
{
    if (S->nsnap == 0 || S->snap[S->nsnap - 1] != i) {
        S->bad = 1; /* the schedule only ever restarts from its newest snapshot */
    }
    S->pos = i;
}

static void sim_advance(sim *S, long k)
{
    S->pos += k;
    S->fwd += k;
}

static void sim_reverse_step(sim *S, long i)
{
    if (S->pos != i || S->next != i) {
        S->bad = 1;
    }
    S->next--;
}

/* Reverses steps i .. i+l-1 with s snapshots, the one at i already taken. */
static void sim_reverse(sim *S, long i, long l, int s)
{
    if (l == 1) {
        sim_restore(S, i);
        sim_reverse_step(S, i);
        return;
    }
    if (s == 1) {
        for (long j = l - 1; j >= 0; j--) {
            sim_restore(S, i);
            sim_advance(S, j);
            sim_reverse_step(S, i + j);
        }
        return;
    }
    long m = odg_revolve_split(l, s);
    if (m < 1 || m >= l) {
        S->bad = 1;
        return;
    }
    sim_restore(S, i);
    sim_advance(S, m);
    if (S->nsnap == (int)(sizeof S->snap / sizeof S->snap[0])) {
        S->bad = 1;
        return;
    }
    S->snap[S->nsnap++] = i + m;
    if (S->nsnap > S->maxsnap) {
        S->maxsnap = S->nsnap;
    }
    sim_reverse(S, i + m, l - m, s - 1);
    S->nsnap--;
    sim_reverse(S, i, m, s);
}

/* Runs the whole schedule; returns 1 if it was clean, counted cost(l, s) steps and never held
 * more than s snapshots. */
static int sim_check(long l, int s)
{
    static sim S;
    S.pos = 0;
    S.fwd = 0;
    S.next = l - 1;
    S.snap[0] = 0; /* the initial state */
    S.nsnap = S.maxsnap = 1;
    S.bad = 0;
    sim_reverse(&S, 0, l, s);
    long c = odg_revolve_cost(l, s);
    int ok = !S.bad && S.next == -1 && S.nsnap == 1 && S.fwd == c && S.maxsnap <= s;
    if (!ok) {
        fprintf(stderr, "simulation l=%ld s=%d: bad=%d next=%ld steps=%ld cost=%ld maxsnap=%d\n", l,
                s, S.bad, S.next, S.fwd, c, S.maxsnap);
    }
    return ok;
}

int main(void)
{
    /* Worked values (r = 2, 4, 7) and the closed forms at the edges. */
    CHECK(odg_revolve_cost(10, 3) == 15, "%ld", odg_revolve_cost(10, 3));
    CHECK(odg_revolve_cost(100, 5) == 316, "%ld", odg_revolve_cost(100, 5));
    CHECK(odg_revolve_cost(1000, 10) == 3636, "%ld", odg_revolve_cost(1000, 10));

    int edge_bad = 0;
    for (int s = 1; s <= 64; s++) {
        edge_bad += odg_revolve_cost(1, s) != 0;
    }
    for (long l = 1; l <= 5000; l++) {
        edge_bad += odg_revolve_cost(l, 1) != l * (l - 1) / 2;
    }
    CHECK(edge_bad == 0, "%d edge values wrong", edge_bad);

    /* Against the dynamic programme. */
    dp_fill();
    int dp_bad = 0;
    for (long l = 1; l <= DP_L; l++) {
        for (int s = 1; s <= DP_S; s++) {
            long c = odg_revolve_cost(l, s);
            if (c != dp[l][s]) {
                if (dp_bad++ < 5) {
                    fprintf(stderr, "cost(%ld, %d) = %ld, dp %ld\n", l, s, c, dp[l][s]);
                }
            }
        }
    }
    CHECK(dp_bad == 0, "%d costs differ from the dynamic programme", dp_bad);

    /* The split is optimal: m + cost(l - m, s - 1) + cost(m, s) == cost(l, s). */
    int split_bad = 0;
    for (long l = 2; l <= 2000; l++) {
        for (int s = 2; s <= 12; s++) {
            long m = odg_revolve_split(l, s);
            if (m < 1 || m >= l ||
                m + odg_revolve_cost(l - m, s - 1) + odg_revolve_cost(m, s) !=
                    odg_revolve_cost(l, s)) {
                if (split_bad++ < 5) {
                    fprintf(stderr, "split(%ld, %d) = %ld not optimal\n", l, s, m);
                }
            }
        }
    }
    CHECK(split_bad == 0, "%d splits not optimal", split_bad);

    /* Large arguments: a long run with few snapshots (r far past the linear scan, the bisection
     * path), many snapshots, and the split identity there too. */
    long big[][2] = {{1000000, 2}, {123456789, 2}, {1000000000, 3}, {4096, 64}, {1L << 40, 5}};
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
        long l = big[k][0];
        int s = (int)big[k][1];
        long m = odg_revolve_split(l, s), c = odg_revolve_cost(l, s);
        long c1 = odg_revolve_cost(l - m, s - 1), c2 = odg_revolve_cost(m, s);
        CHECK(c > 0 && c1 >= 0 && c2 >= 0 && m + c1 + c2 == c, "l=%ld s=%d: %ld + %ld + %ld vs %ld",
              l, s, m, c1, c2, c);
    }
    /* s = 2 closed form: r = rank, T = 2 binom(r + 1, 3) + r (l - binom(r + 1, 2)). */
    {
        long l = 1000000, r = 0;
        while ((r + 1) * (r + 2) / 2 < l) {
            r++;
        }
        long want = 2 * ((r + 1) * r * (r - 1) / 6) + r * (l - (r + 1) * r / 2);
        CHECK(odg_revolve_cost(l, 2) == want, "%ld vs %ld", odg_revolve_cost(l, 2), want);
    }
    /* Overflow is reported, not wrapped: one snapshot for LONG_MAX steps costs ~ l^2 / 2. */
    CHECK(odg_revolve_cost(LONG_MAX, 1) == -1, "%ld", odg_revolve_cost(LONG_MAX, 1));
    {
        /* Near the top of the range without overflow: the increment is the rank (r <= 18). */
        long l = LONG_MAX / 64, c = odg_revolve_cost(l, 64), c0 = odg_revolve_cost(l - 1, 64);
        CHECK(c > 0 && c0 > 0 && c - c0 >= 1 && c - c0 <= 18, "%ld %ld", c, c0);
    }
    CHECK(odg_revolve_cost(0, 3) == -1 && odg_revolve_cost(5, 0) == -1, "invalid arguments");
    CHECK(odg_revolve_split(1, 3) == -1 && odg_revolve_split(5, 1) == -1, "invalid arguments");

    /* Simulation of the recursive schedule. */
    int sim_bad = 0;
    for (long l = 1; l <= DP_L; l++) {
        for (int s = 1; s <= DP_S; s++) {
            sim_bad += !sim_check(l, s);
        }
    }
    CHECK(sim_bad == 0, "%d schedules wrong", sim_bad);
    CHECK(sim_check(4096, 8), "l=4096 s=8");
    CHECK(sim_check(4096, 64), "l=4096 s=64");

    return check_done("test_revolve");
}
