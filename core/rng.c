/* The random number generator: xoshiro256** seeded through splitmix64 (Blackman and Vigna,
 * "Scrambled linear pseudorandom number generators", 2021, and the reference code at
 * prng.di.unimi.it), normals by Marsaglia's polar method, and odg_log, a natural logarithm made
 * of IEEE basic operations only.  libm's log differs between libraries and versions, so a
 * normal built on it could differ in the last bit from one machine to the next; with odg_log and
 * sqrt (correctly rounded by IEEE 754) the same seed gives the same normals everywhere, as long as
 * the build keeps -ffp-contract=off.  No libm function other than sqrt is used here.
 */
#include "odegrad/core.h"

#include <math.h>
#include <string.h>

/* ---- splitmix64 and xoshiro256** ---------------------------------------------------------- */

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* One splitmix64 step: advances *state and returns the mixed output. */
static uint64_t splitmix64_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void odg_rng_seed(odg_rng *r, uint64_t seed)
{
    /* The authors' recommended seeding: splitmix64 spreads any 64-bit seed (0 included) over the
     * 256-bit state.  Its outputs for four successive counter values are distinct (the mixer is
     * a bijection), so the state is never all zero, the one state xoshiro must avoid. */
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) {
        r->s[i] = splitmix64_next(&sm);
    }
    r->spare = 0.0;
    r->has_spare = 0;
}

uint64_t odg_rng_u64(odg_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl64(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

double odg_rng_uniform(odg_rng *r)
{
    /* The top 53 bits (the best ones of xoshiro256**) times 2^-53: every value k * 2^-53,
     * k = 0 .. 2^53 - 1, equally likely, and the product is exact. */
    return (double)(odg_rng_u64(r) >> 11) * 0x1.0p-53;
}

double odg_rng_normal(odg_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        /* 2 * uniform - 1 is exact (a multiple of 2^-52 in [-1, 1)). */
        u = 2.0 * odg_rng_uniform(r) - 1.0;
        v = 2.0 * odg_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = sqrt(-2.0 * odg_log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

void odg_rng_fill_normal(odg_rng *r, double *x, size_t n, double mean, double sd)
{
    for (size_t i = 0; i < n; i++) {
        x[i] = mean + sd * odg_rng_normal(r);
    }
}

/* ---- odg_log ------------------------------------------------------------------------------ */

/* ln 2 split so that k * LN2_HI is exact for every exponent k a double can have (|k| < 2^11):
 * LN2_HI is ln 2 truncated to 32 significant bits, LN2_LO the rest rounded to double. */
#define LN2_HI 0x1.62e42feep-1
#define LN2_LO 0x1.a39ef35793c76p-33
/* sqrt(2) rounded to double: the split point of the reduced argument. */
#define SQRT2 0x1.6a09e667f3bcdp+0

/* 2 / (2i + 3), i = 0 .. 9: the series coefficients of R below (constant divisions, rounded once
 * by the compiler, the same everywhere). */
#define ATANH_TERMS 10
static const double ATANH_C[ATANH_TERMS] = {
    2.0 / 3.0,  2.0 / 5.0,  2.0 / 7.0,  2.0 / 9.0,  2.0 / 11.0,
    2.0 / 13.0, 2.0 / 15.0, 2.0 / 17.0, 2.0 / 19.0, 2.0 / 21.0,
};

double odg_log(double x)
{
    /* Outside the domain the header promises nothing; answer as C's log would, without
     * raising anything. */
    if (x != x) {
        return x;
    }
    if (x <= 0.0) {
        return x == 0.0 ? -HUGE_VAL : NAN;
    }
    if (x == HUGE_VAL) {
        return x;
    }

    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int k = 0;
    if ((bits >> 52) == 0) {
        /* Subnormal: scale by 2^54 (exact) so the exponent field is meaningful. */
        x *= 0x1.0p54;
        memcpy(&bits, &x, sizeof bits);
        k = -54;
    }
    /* x = 2^k * m with m in [1, 2), read straight from the bits. */
    k += (int)(bits >> 52) - 1023;
    bits = (bits & 0x000fffffffffffffu) | 0x3ff0000000000000u;
    double m;
    memcpy(&m, &bits, sizeof m);
    /* Move m into [sqrt(1/2), sqrt(2)) so that |s| below is at most 0.1716 and the series
     * converges fast; halving is exact. */
    if (m >= SQRT2) {
        m *= 0.5;
        k += 1;
    }

    /* log(m) = log(1 + f) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = f / (2 + f).
     * f = m - 1 is exact (Sterbenz).  Written as in fdlibm, log(1 + f) = f - hfsq + s (hfsq + R)
     * with hfsq = f^2 / 2 and R = 2 s^2/3 + 2 s^4/5 + ... (the identity 2 s = f - s f gives it),
     * so the large term f carries no rounding error and the rounded rest is a small correction:
     * the result is within about 1 ulp. */
    const double f = m - 1.0;
    const double s = f / (2.0 + f);
    const double z = s * s;
    /* Ten terms of R by Horner's rule, a fixed number so that every machine does the same
     * operations.  z is at most 0.0295, so the first term left out, 2 z^11 / 23, is below 1e-18
     * relative to log(m): far under half an ulp. */
    double R = ATANH_C[ATANH_TERMS - 1];
    for (int i = ATANH_TERMS - 2; i >= 0; i--) {
        R = ATANH_C[i] + z * R;
    }
    R *= z;
    const double hfsq = 0.5 * f * f;
    const double dk = (double)k;
    /* k ln2 + log(m), adding the small parts first and the exact k * LN2_HI last. */
    return dk * LN2_HI + (f - (hfsq - (s * (hfsq + R) + dk * LN2_LO)));
}
