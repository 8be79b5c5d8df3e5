/* What the system says about memory, the CPU and the time: /proc/meminfo, /proc/self/status
 * (VmRSS, VmHWM and its reset through /proc/self/clear_refs), the cgroup v2 memory limit,
 * /proc/cpuinfo.  Linux files; elsewhere every figure is simply unknown (NaN). */
#include "harness_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Looks for a line "key: value [kB]" in a /proc file; the value in bytes (kB lines scaled). */
static double proc_field(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return NAN;
    }
    char line[512];
    size_t klen = strlen(key);
    double v = NAN;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            double x;
            char unit[16] = "";
            int n = sscanf(line + klen + 1, "%lf %15s", &x, unit);
            if (n >= 1) {
                v = (n == 2 && strcmp(unit, "kB") == 0) ? x * 1024.0 : x;
            }
            break;
        }
    }
    fclose(f);
    return v;
}

double odg_sys_meminfo(const char *key)
{
    return proc_field("/proc/meminfo", key);
}

double odg_sys_self_status(const char *key)
{
    return proc_field("/proc/self/status", key);
}

/* A cgroup v2 file holding one number (or "max"); NaN when absent or unlimited. */
static double cgroup_number(const char *name)
{
    /* /proc/self/cgroup for v2 is one line "0::/path" */
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) {
        return NAN;
    }
    char line[1024], rel[1024] = "";
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::", 3) == 0) {
            snprintf(rel, sizeof rel, "%s", line + 3);
            rel[strcspn(rel, "\n")] = '\0';
            break;
        }
    }
    fclose(f);
    if (rel[0] == '\0') {
        return NAN;
    }
    char path[1200];
    snprintf(path, sizeof path, "/sys/fs/cgroup%s/%s", strcmp(rel, "/") == 0 ? "" : rel, name);
    f = fopen(path, "r");
    if (!f) {
        return NAN;
    }
    double v = NAN;
    char buf[64];
    if (fgets(buf, sizeof buf, f) && strncmp(buf, "max", 3) != 0) {
        double x;
        if (sscanf(buf, "%lf", &x) == 1) {
            v = x;
        }
    }
    fclose(f);
    return v;
}

double odg_sys_mem_available(void)
{
    double avail = odg_sys_meminfo("MemAvailable");
    double max = cgroup_number("memory.max"), cur = cgroup_number("memory.current");
    if (isfinite(max) && isfinite(cur)) {
        double left = max > cur ? max - cur : 0;
        if (!isfinite(avail) || left < avail) {
            avail = left;
        }
    }
    return avail;
}

int odg_sys_reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) {
        return -1;
    }
    int ok = fputs("5", f) >= 0;
    if (fclose(f) != 0) {
        ok = 0;
    }
    return ok ? 0 : -1;
}

long odg_sys_minor_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : -1;
}

void odg_sys_cpu_model(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) {
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ' || *p == '\t') {
                    p++;
                }
                p[strcspn(p, "\n")] = '\0';
                snprintf(buf, cap, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

void odg_sys_utc_now(char *buf, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, cap, "%s", "unknown");
    }
}

uint64_t odg_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

double odg_rel_err(const double *g, const double *r, size_t n)
{
    /* scaled sums of squares, so that neither norm overflows nor underflows needlessly */
    double rmax = 0, dmax = 0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs(r[i]), d = fabs(g[i] - r[i]);
        if (a > rmax) {
            rmax = a;
        }
        if (!(d <= dmax)) {
            dmax = d; /* NaN propagates */
        }
    }
    if (isnan(dmax)) {
        return NAN;
    }
    if (dmax == 0) {
        return 0;
    }
    if (rmax == 0) {
        return NAN;
    }
    double sd = 0, sr = 0;
    for (size_t i = 0; i < n; i++) {
        double a = r[i] / rmax, d = (g[i] - r[i]) / dmax;
        sr += a * a;
        sd += d * d;
    }
    return (dmax * sqrt(sd)) / (rmax * sqrt(sr));
}

void odg_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    if (cap == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

