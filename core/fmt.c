/* Shortest round-trip decimal text for a double: records then hold exactly the value computed,
 * in as few characters as that allows (the fewest significant digits that read back to the same
 * double, in the shorter of the plain and the scientific form). */
#include "odegrad/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies the n characters of s and a NUL into buf if they fit in cap bytes. */
static int put(char *buf, size_t cap, const char *s, size_t n)
{
    if (n + 1 > cap) {
        if (cap > 0) {
            buf[0] = '\0';
        }
        return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return (int)n;
}

int odg_fmt_real(char *buf, size_t cap, double x)
{
    if (isnan(x)) {
        return put(buf, cap, "nan", 3);
    }
    if (isinf(x)) {
        return x < 0 ? put(buf, cap, "-inf", 4) : put(buf, cap, "inf", 3);
    }
    /* 17 significant digits always round-trip (IEEE 754 binary64), so the loop ends with one
     * that does; the longest text is "-d.dddddddddddddddde-308" (24 characters). */
    char t[32];
    /* Most doubles that are not short decimals need 16 or 17 digits, so 15 is tried first: when
     * it fails, no precision below it can succeed, and starting at 16 gives the same answer
     * with a fifth of the work.  Why: if p <= 15 digits D read back to x, then for a normal x the
     * 15-digit text of x is D itself (DBL_DIG is 15: any 15-digit decimal survives the trip to
     * binary64 and back), and for a subnormal x the 15-digit text is at least as close to x as
     * D and the gaps around x are equal, so it reads back too. */
    int n = snprintf(t, sizeof t, "%.15g", x);
    double back15 = strtod(t, NULL);
    int first = memcmp(&back15, &x, sizeof x) == 0 ? 1 : 16;
    for (int p = first; p <= 17; p++) {
        n = snprintf(t, sizeof t, "%.*g", p, x);
        double back = strtod(t, NULL);
        /* bitwise, so that a zero keeps its sign */
        if (memcmp(&back, &x, sizeof x) == 0) {
            break;
        }
    }
    if (n <= 0 || (size_t)n >= sizeof t) {
        /* snprintf failed (it cannot for a finite double in 32 bytes): report, never truncate */
        if (cap > 0) {
            buf[0] = '\0';
        }
        return -1;
    }
    /* The digits found, in the shorter of the two forms: scientific ("1e-4", the exponent
     * without '+' and leading zeros) or plain ("100", "0.5"); a tie goes to the plain form. */
    int p = 0;
    for (const char *q = t; *q && *q != 'e'; q++) {
        p += *q >= '0' && *q <= '9';
    }
    /* leading zeros of a plain %g text ("0.0001") are not significant digits */
    for (const char *q = t; *q == '-' || *q == '0' || *q == '.'; q++) {
        p -= *q == '0';
    }
    if (p < 1) {
        p = 1;
    }
    char sci[32], plain[64];
    snprintf(sci, sizeof sci, "%.*e", p - 1, x);
    char *e = strchr(sci, 'e');
    int exp10 = e ? atoi(e + 1) : 0;
    if (e != NULL) {
        char *src = e + 1, *dst = e + 1;
        if (*src == '+') {
            src++;
        } else if (*src == '-') {
            *dst++ = *src++;
        }
        while (src[0] == '0' && src[1] != '\0') {
            src++;
        }
        memmove(dst, src, strlen(src) + 1);
    }
    if (strcmp(sci + (sci[0] == '-'), "0e0") == 0) {
        sci[(sci[0] == '-') + 1] = '\0'; /* zero: "0", "-0" */
    }
    /* the plain form from the same p digits (not from printf's %f, which would print the
     * binary value's own digits past the p that matter) */
    const char *best = sci;
    if (exp10 >= -20 && exp10 <= 20) {
        char digits[32];
        int nd = 0;
        for (const char *q = sci; *q && *q != 'e' && nd < 31; q++) {
            if (*q >= '0' && *q <= '9') {
                digits[nd++] = *q;
            }
        }
        digits[nd] = '\0';
        size_t k = 0;
        if (x < 0 || (x == 0 && signbit(x))) {
            plain[k++] = '-';
        }
        if (exp10 >= nd - 1) {
            memcpy(plain + k, digits, (size_t)nd);
            k += (size_t)nd;
            for (int z = 0; z < exp10 - nd + 1; z++) {
                plain[k++] = '0';
            }
        } else if (exp10 >= 0) {
            memcpy(plain + k, digits, (size_t)exp10 + 1);
            k += (size_t)exp10 + 1;
            plain[k++] = '.';
            memcpy(plain + k, digits + exp10 + 1, (size_t)(nd - exp10 - 1));
            k += (size_t)(nd - exp10 - 1);
        } else {
            plain[k++] = '0';
            plain[k++] = '.';
            for (int z = 0; z < -exp10 - 1; z++) {
                plain[k++] = '0';
            }
            memcpy(plain + k, digits, (size_t)nd);
            k += (size_t)nd;
        }
        plain[k] = '\0';
        if (k <= strlen(sci)) {
            best = plain;
        }
    }
    return put(buf, cap, best, strlen(best));
}
