/* odg_fmt_real (core/fmt.c): known values, the exponent's form, a million random bit patterns
 * that must each read back exactly and with no shorter precision that would, and a buffer that
 * is too small. */
#include "check.h"
#include "odegrad/core.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* The significant digits of a text: those of its mantissa without leading zeros, nor the
 * trailing zeros of an integer ("100" has one). */
static int sig_digits(const char *s)
{
    int n = 0, zeros = 0, started = 0, point = 0;
    for (; *s != '\0' && *s != 'e'; s++) {
        if (*s == '.') {
            point = 1;
        } else if (*s >= '0' && *s <= '9') {
            started |= *s != '0';
            if (started) {
                n++;
                zeros = *s == '0' ? zeros + 1 : 0;
            }
        }
    }
    return point ? n : n - zeros;
}

/* The exponent, if any, has no '+' and no leading zero. */
static int exponent_ok(const char *s)
{
    const char *e = strchr(s, 'e');
    if (e == NULL) {
        return 1;
    }
    e++;
    if (*e == '-') {
        e++;
    }
    return *e >= '1' && *e <= '9';
}

static void expect(double x, const char *want)
{
    char buf[64];
    int n = odg_fmt_real(buf, sizeof buf, x);
    CHECK(n == (int)strlen(want) && strcmp(buf, want) == 0, "%a gave \"%s\" (%d), want \"%s\"", x,
          buf, n, want);
}

static void test_known(void)
{
    expect(1e-6, "1e-6");
    expect(0.1, "0.1");
    expect(-0.1, "-0.1");
    expect(1e20, "1e20");
    expect(-1e-6, "-1e-6");
    expect(1.5, "1.5");
    expect(100, "100"); /* as short as "1e2": a tie goes to the plain form */
    expect(1e6, "1e6");
    expect(123456, "123456");
    expect(0.5, "0.5");
    expect(2.5e-5, "2.5e-5");
    expect(101, "101");
    expect(0.0001, "1e-4");
    expect(0.0, "0");
    expect(-0.0, "-0");
    expect(5e-324, "5e-324");
    expect(0x1p-1074, "5e-324");
    expect(-0x1p-1074, "-5e-324");
    expect(DBL_MAX, "1.7976931348623157e308");
    expect(-DBL_MAX, "-1.7976931348623157e308");
    expect(DBL_MIN, "2.2250738585072014e-308");
    expect(123456789012345678.0, "123456789012345680"); /* 17 digits, shorter plain */
    expect(1.5e25, "1.5e25");
    expect(NAN, "nan");
    expect(INFINITY, "inf");
    expect(-INFINITY, "-inf");

    char buf[64];
    int n = odg_fmt_real(buf, sizeof buf, 1.0 / 3);
    CHECK(same_bits(strtod(buf, NULL), 1.0 / 3), "1/3 gave \"%s\"", buf);
    CHECK(sig_digits(buf) == 16 || sig_digits(buf) == 17, "1/3 gave \"%s\"", buf);
    CHECK(n == (int)strlen(buf), "1/3: length %d for \"%s\"", n, buf);
}

static void test_random(void)
{
    /* Random bit patterns cover every exponent, subnormals included, evenly. */
    const long N = 1000000;
    odg_rng r;
    odg_rng_seed(&r, 20240611);
    long bad_trip = 0, bad_short = 0, bad_form = 0, tried = 0;
    char buf[32], shorter[40];
    for (long i = 0; i < N; i++) {
        uint64_t bits = odg_rng_u64(&r);
        double x;
        memcpy(&x, &bits, sizeof x);
        if (!isfinite(x)) {
            continue;
        }
        tried++;
        int n = odg_fmt_real(buf, sizeof buf, x);
        int p = sig_digits(buf);
        if (n != (int)strlen(buf) || !exponent_ok(buf) || p < 1 || p > 17) {
            if (bad_form++ == 0) {
                CHECK(0, "%a gave \"%s\" (%d)", x, buf, n);
            }
            continue;
        }
        if (!same_bits(strtod(buf, NULL), x)) {
            if (bad_trip++ == 0) {
                CHECK(0, "%a gave \"%s\", which reads back as %a", x, buf, strtod(buf, NULL));
            }
            continue;
        }
        /* Precision p - 1 must not read back; for the first values, no precision below p (the
         * definition, which core/fmt.c shortcuts by trying 15 first). */
        int lowest = tried <= 20000 ? 1 : p - 1;
        for (int q = p - 1; q >= lowest && q >= 1; q--) {
            int m = snprintf(shorter, sizeof shorter, "%.*g", q, x);
            if (m > 0 && (size_t)m < sizeof shorter && same_bits(strtod(shorter, NULL), x)) {
                if (bad_short++ == 0) {
                    CHECK(0, "%a gave \"%s\" but \"%s\" reads back too", x, buf, shorter);
                }
                break;
            }
        }
    }
    CHECK(tried > N * 99 / 100, "only %ld of %ld patterns finite", tried, N);
    CHECK(bad_form == 0, "%ld texts malformed", bad_form);
    CHECK(bad_trip == 0, "%ld values did not read back", bad_trip);
    CHECK(bad_short == 0, "%ld values had a shorter text", bad_short);
}

static void test_small_buffer(void)
{
    char buf[8];
    memset(buf, 'x', sizeof buf);
    CHECK(odg_fmt_real(buf, 3, 0.1) == -1 && buf[0] == '\0', "cap 3 for \"0.1\": \"%s\"", buf);
    CHECK(odg_fmt_real(buf, 4, 0.1) == 3 && strcmp(buf, "0.1") == 0, "cap 4: \"%s\"", buf);
    CHECK(odg_fmt_real(buf, 3, -INFINITY) == -1 && buf[0] == '\0', "cap 3 for -inf");
    CHECK(odg_fmt_real(buf, 8, DBL_MAX) == -1 && buf[0] == '\0', "cap 8 for DBL_MAX");
    CHECK(odg_fmt_real(NULL, 0, 1.0) == -1, "cap 0");
}

int main(void)
{
    test_known();
    test_random();
    test_small_buffer();
    return check_done("test_fmt");
}
