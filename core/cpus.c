/* The number of CPUs this process may really use: its affinity mask, lowered by a cgroup CPU
 * quota.  `nproc` and omp_get_num_procs see only the mask, so in a container limited to two
 * CPUs' worth of time on a 64-CPU host they say 64, and a benchmark that starts 64 threads then
 * measures the scheduler.  Also whether a parallel region would now have a team of more than one
 * thread (odg_team_possible, core.h). */
#define _GNU_SOURCE /* CPU_ALLOC and sched_getaffinity; before any include */

#include "odegrad/core.h"

#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* CPUs in the affinity mask, or 0 if it cannot be read.  The set is allocated, not a plain
 * cpu_set_t, because that holds only 1024 CPUs and the call fails with EINVAL on a machine with
 * more; the size doubles until the kernel's mask fits. */
static int affinity_count(void)
{
    long conf = sysconf(_SC_NPROCESSORS_CONF);
    int n = conf > 1024 && conf < INT_MAX / 2 ? (int)conf : 1024;
    for (; n <= (1 << 22); n *= 2) {
        cpu_set_t *set = CPU_ALLOC(n);
        if (set == NULL) {
            return 0;
        }
        size_t size = CPU_ALLOC_SIZE(n);
        CPU_ZERO_S(size, set);
        int rc = sched_getaffinity(0, size, set);
        int err = errno;
        int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
        CPU_FREE(set);
        if (rc == 0 || err != EINVAL) {
            return count;
        }
    }
    return 0;
}

/* ceil(quota / period) CPUs, or 0 (no limit) unless both are positive. */
static long long quota_cpus(long long quota, long long period)
{
    if (quota <= 0 || period <= 0) {
        return 0;
    }
    return quota / period + (quota % period != 0);
}

/* cgroup v2: dir/cpu.max holds "max PERIOD" (no limit) or "QUOTA PERIOD". */
static long long v2_limit(const char *dir)
{
    char path[4200], first[32];
    long long period = 0;
    snprintf(path, sizeof path, "%s/cpu.max", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    int got = fscanf(f, "%31s %lld", first, &period);
    fclose(f);
    if (got != 2 || strcmp(first, "max") == 0) {
        return 0;
    }
    return quota_cpus(strtoll(first, NULL, 10), period);
}

/* One integer from dir/name, or 0 if there is none. */
static long long read_ll(const char *dir, const char *name)
{
    char path[4200];
    long long v = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%lld", &v) != 1) {
        v = 0;
    }
    fclose(f);
    return v;
}

/* cgroup v1: cpu.cfs_quota_us is -1 when there is no limit. */
static long long v1_limit(const char *dir)
{
    return quota_cpus(read_ll(dir, "cpu.cfs_quota_us"), read_ll(dir, "cpu.cfs_period_us"));
}

/* The smallest limit at root + cgpath and each parent up to root itself, 0 if none.  The walk
 * matters twice over: a limit may sit on an ancestor, and inside a container without its own
 * cgroup namespace cgpath names the host's hierarchy, absent from the container's mount, whose
 * root is then the container's own cgroup. */
static long long walk_limit(const char *root, const char *cgpath, long long (*limit)(const char *))
{
    char dir[4096];
    size_t rootlen = strlen(root);
    int n = snprintf(dir, sizeof dir, "%s%s", root, cgpath);
    if (n < 0 || (size_t)n >= sizeof dir) {
        return 0;
    }
    long long best = 0;
    for (;;) {
        size_t len = strlen(dir);
        while (len > rootlen && dir[len - 1] == '/') {
            dir[--len] = '\0';
        }
        long long c = limit(dir);
        if (c > 0 && (best == 0 || c < best)) {
            best = c;
        }
        if (len <= rootlen) {
            return best;
        }
        char *slash = strrchr(dir + rootlen, '/');
        if (slash == NULL) {
            return best;
        }
        *slash = '\0';
    }
}

/* Whether the comma-separated controller list names "cpu" (v1 mounts it alone or as
 * "cpu,cpuacct"). */
static int has_cpu_controller(const char *list)
{
    for (const char *p = list;;) {
        size_t k = strcspn(p, ",");
        if (k == 3 && strncmp(p, "cpu", 3) == 0) {
            return 1;
        }
        if (p[k] == '\0') {
            return 0;
        }
        p += k + 1;
    }
}

/* The smallest cgroup CPU quota over v2 and v1, in whole CPUs, or 0 if there is none. */
static long long cgroup_limit(void)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f == NULL) {
        return 0;
    }
    long long best = 0;
    char line[4096];
    /* each line is "HIERARCHY:CONTROLLERS:PATH"; v2's is "0::PATH" */
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL || c2[1] != '/') {
            continue;
        }
        *c1 = '\0';
        *c2 = '\0';
        const char *controllers = c1 + 1, *cgpath = c2 + 1;
        long long c[2] = {0, 0};
        if (strcmp(line, "0") == 0 && controllers[0] == '\0') {
            c[0] = walk_limit("/sys/fs/cgroup", cgpath, v2_limit);
        } else if (has_cpu_controller(controllers)) {
            c[0] = walk_limit("/sys/fs/cgroup/cpu,cpuacct", cgpath, v1_limit);
            c[1] = walk_limit("/sys/fs/cgroup/cpu", cgpath, v1_limit);
        }
        for (int i = 0; i < 2; i++) {
            if (c[i] > 0 && (best == 0 || c[i] < best)) {
                best = c[i];
            }
        }
    }
    fclose(f);
    return best;
}

int odg_cpus_available(void)
{
    static int cached;
    if (cached > 0) {
        return cached;
    }
    long long n = affinity_count();
    if (n <= 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
    }
    long long quota = cgroup_limit();
    if (quota > 0 && (n <= 0 || quota < n)) {
        n = quota;
    }
    if (n > INT_MAX) {
        n = INT_MAX;
    }
    cached = n < 1 ? 1 : (int)n;
    return cached;
}

int odg_team_possible(void)
{
    return omp_get_max_threads() > 1;
}
