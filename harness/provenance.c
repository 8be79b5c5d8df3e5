/* Provenance: where a number came from.  The JSON sidecar of a CSV (FILE.json, written
 * atomically) names its columns and records the git commit, the compiler and its flags, the CPU,
 * the cores, the memory, OpenBLAS's build and threads, OpenMP's version and threads, the date
 * (UTC) and the command line of the latest writer; earlier writers whose environment differs are
 * kept in "environments", so a CSV that mixes machines or commits says so. */
#include "harness_impl.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* ---- the commit --------------------------------------------------------------------------- */

/* The build writes odg_build_info.h (scripts/build_info.cmake) with the commit it built. */
#if defined(__has_include)
#if __has_include("odg_build_info.h")
#include "odg_build_info.h"
#endif
#endif

#ifndef ODG_GIT_COMMIT
/* `git describe` in the binary's own directory (a build directory inside the checkout), so the
 * answer does not depend on where the binary is run from. */
static void git_describe(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", "unknown");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) {
        return;
    }
    *slash = '\0';
    const char *src = getenv("ODEGRAD_SOURCE_DIR");
    const char *dir = src && src[0] ? src : exe;
    /* the directory goes into a shell command: refuse anything that would need quoting */
    for (const char *p = dir; *p; p++) {
        if (strchr("'\"\\$`\n", *p)) {
            return;
        }
    }
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, "git -C '%s' describe --always --dirty --abbrev=12 2>/dev/null", dir);
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p) {
        return;
    }
    char line[128] = "";
    int ok = fgets(line, sizeof line, p) != NULL;
    if (pclose(p) == 0 && ok) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0]) {
            snprintf(buf, cap, "%s", line);
        }
    }
}

#endif

const char *odg_git_commit(void)
{
#ifdef ODG_GIT_COMMIT
    return ODG_GIT_COMMIT;
#else
    static char commit[128];
    if (commit[0] == '\0') {
        git_describe(commit, sizeof commit);
    }
    return commit;
#endif
}

/* ---- the environment ---------------------------------------------------------------------- */

static const char *compiler_flags(void)
{
#ifdef ODG_C_FLAGS
    return ODG_C_FLAGS;
#else
    /* The build did not pass its flags; build_macros says what the predefined macros prove. */
    return "unknown (not passed by the build); see build_macros";
#endif
}

static const char *compiler_name(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#elif defined(__VERSION__)
    return __VERSION__;
#else
    return "unknown";
#endif
}

static json_t *build_macros(void)
{
    json_t *o = json_object();
    json_object_set_new(o, "stdc_version", json_integer(__STDC_VERSION__));
#ifdef __OPTIMIZE__
    json_object_set_new(o, "optimize", json_true());
#else
    json_object_set_new(o, "optimize", json_false());
#endif
#ifdef NDEBUG
    json_object_set_new(o, "ndebug", json_true());
#else
    json_object_set_new(o, "ndebug", json_false());
#endif
#ifdef __FAST_MATH__
    json_object_set_new(o, "fast_math", json_true());
#else
    json_object_set_new(o, "fast_math", json_false());
#endif
#if defined(__SANITIZE_ADDRESS__)
    json_object_set_new(o, "sanitize_address", json_true());
#else
    json_object_set_new(o, "sanitize_address", json_false());
#endif
#ifdef __AVX2__
    json_object_set_new(o, "avx2", json_true());
#else
    json_object_set_new(o, "avx2", json_false());
#endif
#ifdef _OPENMP
    json_object_set_new(o, "openmp", json_integer(_OPENMP));
#endif
    return o;
}

static const char *blas_parallel_name(int p)
{
    return p == 0 ? "sequential" : p == 1 ? "pthreads" : p == 2 ? "openmp" : "unknown";
}

/* Who chose OpenBLAS's kernel: the odegrad command from the CPU's instruction set (cli/start.c
 * names its choice in ODEGRAD_OPENBLAS_CORE), the user (OPENBLAS_CORETYPE), or OpenBLAS's own
 * detection from the CPU's model, which is also what runs when the kernel asked for is not the
 * one running (an OpenBLAS built for one CPU ignores OPENBLAS_CORETYPE). */
static const char *blas_core_from(void)
{
    const char *set = getenv("OPENBLAS_CORETYPE"), *ours = getenv("ODEGRAD_OPENBLAS_CORE");
    const char *core = openblas_get_corename();
    if (set == NULL || core == NULL || strcasecmp(set, core) != 0) {
        return "openblas";
    }
    return ours != NULL && strcmp(set, ours) == 0 ? "instruction-set" : "OPENBLAS_CORETYPE";
}

/* Everything but the date and the command line: two writers with equal environments ran the
 * same build on the same machine. */
static json_t *environment_json(void)
{
    json_t *o = json_object();
    const char *commit = odg_git_commit();
    size_t cl = strlen(commit);
    json_object_set_new(o, "git_commit", json_string(commit));
    json_object_set_new(o, "git_dirty",
                        json_boolean(cl >= 6 && strcmp(commit + cl - 6, "-dirty") == 0));
    json_object_set_new(o, "compiler", json_string(compiler_name()));
    json_object_set_new(o, "compiler_flags", json_string(compiler_flags()));
    json_object_set_new(o, "build_macros", build_macros());
    char cpu[256];
    odg_sys_cpu_model(cpu, sizeof cpu);
    json_object_set_new(o, "cpu_model", json_string(cpu));
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    json_object_set_new(o, "cores_online", online > 0 ? json_integer(online) : json_null());
    json_object_set_new(o, "cores_available", json_integer(odg_cpus_available()));
    double total = odg_sys_meminfo("MemTotal");
    json_object_set_new(o, "memory_total_bytes", isfinite(total) ? json_real(total) : json_null());
    struct utsname u;
    if (uname(&u) == 0) {
        char os[3 * sizeof u.release];
        snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
        json_object_set_new(o, "os", json_string(os));
        json_object_set_new(o, "host", json_string(u.nodename));
    }
    const char *cfg = openblas_get_config();
    json_object_set_new(o, "openblas_config", json_string(cfg ? cfg : "unknown"));
    const char *core = openblas_get_corename();
    json_object_set_new(o, "openblas_core", json_string(core ? core : "unknown"));
    json_object_set_new(o, "openblas_core_from", json_string(blas_core_from()));
    json_object_set_new(o, "mlp_gemm", json_string(odg_mlp_gemm()));
    json_object_set_new(o, "openblas_parallel",
                        json_string(blas_parallel_name(openblas_get_parallel())));
    json_object_set_new(o, "openblas_threads", json_integer(openblas_get_num_threads()));
#ifdef _OPENMP
    json_object_set_new(o, "openmp_version", json_integer(_OPENMP));
#endif
    json_object_set_new(o, "openmp_threads", json_integer(omp_get_max_threads()));
    const char *env = getenv("OMP_NUM_THREADS");
    json_object_set_new(o, "OMP_NUM_THREADS", env ? json_string(env) : json_null());
    return o;
}

static json_t *provenance_json(int argc, char *const *argv)
{
    json_t *o = environment_json();
    char date[64];
    odg_sys_utc_now(date, sizeof date);
    json_object_set_new(o, "date", json_string(date));
    double avail = odg_sys_mem_available();
    json_object_set_new(o, "memory_available_bytes",
                        isfinite(avail) ? json_real(avail) : json_null());
    json_t *cmd = json_array();
    for (int i = 0; i < argc; i++) {
        json_array_append_new(cmd, json_string(argv[i]));
    }
    json_object_set_new(o, "command_line", cmd);
    /* the peers this process had: CVODES's version when the build has it, torch's when a run
     * of this process asked for it (null: not in the build, or not asked) */
    json_t *peers = json_object();
    const char *cv = odg_cvodes_version();
    char sv[ODG_CELL_STRLEN + 16];
    snprintf(sv, sizeof sv, "SUNDIALS %s", cv ? cv : "");
    json_object_set_new(peers, "cvodes", cv ? json_string(sv) : json_null());
    const char *tv = odg_torch_version_asked();
    json_object_set_new(peers, "torch", tv ? json_string(tv) : json_null());
    json_object_set_new(o, "peers", peers);
    return o;
}

char *odg_provenance_json(int argc, char *const *argv)
{
    json_t *o = provenance_json(argc, argv);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

/* ---- the sidecar -------------------------------------------------------------------------- */

static json_t *columns_json(void)
{
    json_t *a = json_array();
    for (int c = 0; c < ODG_NCOLUMNS; c++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(odg_column_name((odg_column)c)));
        json_object_set_new(o, "description", json_string(odg_column_desc((odg_column)c)));
        json_array_append_new(a, o);
    }
    return a;
}

/* The earlier sidecar's "environments", with this process's environment added or its entry
 * updated (date of the last write, number of writes). */
static json_t *merge_environments(const char *side, const char *date)
{
    json_t *envs = NULL;
    json_t *old = json_load_file(side, 0, NULL);
    if (old && json_is_object(old)) {
        json_t *e = json_object_get(old, "environments");
        if (json_is_array(e)) {
            envs = json_deep_copy(e);
        }
    }
    json_decref(old);
    if (!envs) {
        envs = json_array();
    }
    json_t *mine = environment_json();
    size_t i;
    json_t *entry;
    json_array_foreach(envs, i, entry)
    {
        if (json_equal(json_object_get(entry, "environment"), mine)) {
            json_int_t n = json_integer_value(json_object_get(entry, "writes"));
            json_object_set_new(entry, "last_date", json_string(date));
            json_object_set_new(entry, "writes", json_integer(n + 1));
            json_decref(mine);
            return envs;
        }
    }
    json_t *e = json_object();
    json_object_set_new(e, "environment", mine);
    json_object_set_new(e, "first_date", json_string(date));
    json_object_set_new(e, "last_date", json_string(date));
    json_object_set_new(e, "writes", json_integer(1));
    json_array_append_new(envs, e);
    return envs;
}

static odg_status sidecar_write(const char *csv_path, int argc, char *const *argv,
                                json_t *ranks, char err[ODG_ERRLEN]);

odg_status odg_sidecar_write(const char *csv_path, int argc, char *const *argv,
                             char err[ODG_ERRLEN])
{
    return sidecar_write(csv_path, argc, argv, NULL, err);
}

odg_status odg_sidecar_write_ranks(const char *csv_path, int argc, char *const *argv,
                                   int nranks, const char *hosts, size_t host_len,
                                   const unsigned char *measuring, char err[ODG_ERRLEN])
{
    json_t *o = json_object(), *h = json_array(), *m = json_array();
    for (int r = 0; r < nranks; r++) {
        json_array_append_new(h, json_string(hosts + (size_t)r * host_len));
        if (measuring[r]) {
            json_array_append_new(m, json_integer(r));
        }
    }
    json_object_set_new(o, "ranks", json_integer(nranks));
    json_object_set_new(o, "hosts", h);
    json_object_set_new(o, "measuring_ranks", m);
    odg_status st = sidecar_write(csv_path, argc, argv, o, err);
    json_decref(o);
    return st;
}

static odg_status sidecar_write(const char *csv_path, int argc, char *const *argv,
                                json_t *ranks, char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    char side[4096], tmp[4200];
    if (snprintf(side, sizeof side, "%s.json", csv_path) >= (int)sizeof side) {
        if (err) {
            snprintf(err, ODG_ERRLEN, "%s: the path is too long", csv_path);
        }
        return ODG_EINVAL;
    }
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", side, (long)getpid());
    /* Writers of the same CSV take turns (the CSV's own lock), so the merge sees every one. */
    int lfd = open(csv_path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (lfd >= 0) {
        struct flock fl;
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        while (fcntl(lfd, F_SETLKW, &fl) != 0 && errno == EINTR) {
        }
    }
    json_t *prov = provenance_json(argc, argv);
    const char *date = json_string_value(json_object_get(prov, "date"));
    json_t *o = json_object();
    json_object_set_new(o, "csv", json_string(csv_path));
    json_object_set_new(o, "columns", columns_json());
    json_object_set_new(o, "environments", merge_environments(side, date ? date : ""));
    json_object_set_new(o, "provenance", prov);
    if (ranks) {
        json_object_set(o, "mpi", ranks);
    }
    odg_status st = ODG_OK;
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    if (!text) {
        st = odg_fail(err, ODG_ENOMEM, "%.160s: cannot format the sidecar", side);
    } else {
        /* a file that is either the old sidecar or the new one, whole (tmp + fsync + rename) */
        char e2[ODG_ERRLEN];
        st = odg_write_file(side, tmp, text, strlen(text), e2);
        if (st != ODG_OK) {
            odg_fail(err, st, "cannot write the sidecar: %s", e2);
        }
        free(text);
    }
    json_decref(o);
    if (lfd >= 0) {
        close(lfd);
    }
    return st;
}
