/* Before the libraries start: OpenBLAS's constructor (gotoblas_init, in the OpenMP build)
 * allocates a buffer of about 128 MiB for each thread it expects (OMP_NUM_THREADS, else one per
 * CPU) and retries a failing allocation for ever, so under an address-space limit (ulimit -v)
 * too small for those buffers the program would spin at 100% CPU before main() and never say
 * why.  A function in .preinit_array runs before the constructor of every shared library (ELF:
 * only an executable has one): under a finite RLIMIT_AS it lets OpenBLAS and libgomp start with
 * one thread.  A constructor of the executable, which runs after those of the libraries and
 * before main(), puts the environment and libgomp's thread count back as they were, so the run
 * sees the threads it would have seen, and refuses as `oom` a configuration whose threads'
 * buffers do not fit the limit (harness/run.c) instead of hanging in the measuring child.
 *
 * Not under AddressSanitizer: its own start-up runs from .preinit_array too, and it cannot run
 * under an address-space limit at all. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#if defined(__SANITIZE_ADDRESS__)
#define ODG_START_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ODG_START_ASAN 1
#endif
#endif

#if !defined(ODG_START_ASAN) && defined(__ELF__)

/* libc's own constructor points environ back at the array the kernel gave (envp), so setenv()
 * here would be undone before libgomp reads it: the entry is changed in that array itself,
 * either OMP_NUM_THREADS's own or, when there is none, one borrowed from a variable that no
 * library's constructor reads, and given back in start_restore. */
static char start_one[] = "OMP_NUM_THREADS=1";
static char *start_old; /* the entry replaced (NULL: nothing was changed) */
static int start_had;   /* it was OMP_NUM_THREADS's own */

static int start_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static void start_preinit(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    struct rlimit rl;
    if (envp == NULL || getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
        return; /* no limit: nothing to fear, nothing changed */
    }
    char **slot = NULL;
    for (char **e = envp; *e != NULL; e++) {
        if (start_prefix(*e, "OMP_NUM_THREADS=")) {
            slot = e;
            start_had = 1;
            break;
        }
    }
    /* the variables the libraries' constructors may read: libgomp, OpenBLAS, libgfortran,
     * glibc, the allocator */
    static const char *const keep[] = {"OMP_",      "GOMP_", "KMP_",   "OPENBLAS_", "GOTO",
                                       "GFORTRAN_", "LD_",   "MALLOC", "GLIBC",     "LANG",
                                       "LC_",       "TZ",    "HOME",   "PATH",      "TMP"};
    for (char **e = envp; slot == NULL && *e != NULL; e++) {
        int reserved = 0;
        for (size_t k = 0; k < sizeof keep / sizeof keep[0] && !reserved; k++) {
            reserved = start_prefix(*e, keep[k]);
        }
        if (!reserved) {
            slot = e;
        }
    }
    if (slot != NULL) {
        start_old = *slot;
        *slot = start_one;
    }
}

__attribute__((section(".preinit_array"),
               used)) static void (*start_preinit_entry)(int, char **, char **) = start_preinit;

extern char **environ;

__attribute__((constructor)) static void start_restore(void)
{
    if (start_old == NULL) {
        return;
    }
    /* the entry back wherever environ now keeps it (a constructor's setenv may have copied
     * the array) */
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (*e == start_one) {
            *e = start_old;
        }
    }
    /* libgomp read "1" at its start: the count it would have read instead (the first of a
     * list; every CPU it may use when unset or unreadable, as libgomp does) */
    int n = 0;
    if (start_had) {
        char *end;
        const char *v = start_old + strlen("OMP_NUM_THREADS=");
        long k = strtol(v, &end, 10);
        n = end != v && k > 0 && k < 1 << 20 ? (int)k : 0;
    }
    omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
}

#endif
