/* Before the libraries start.  A function in .preinit_array runs before the constructor of every
 * shared library (ELF: only an executable has one); it does two things there.
 *
 * The BLAS kernel.  OpenBLAS's DYNAMIC_ARCH build picks its kernels in its constructor from the
 * CPU's vendor, family and model; a processor it does not know, or a virtual machine that does
 * not show the real model, gets its generic Prescott (SSE3) kernels whatever the CPU can run.  On
 * the reference machine (an AVX-512 Xeon in a virtual machine) that made every DGEMM 3.8x slower
 * than the SkylakeX kernel (15.4 against 68.6 GFLOP/s at 512^3; 16.1 against 61.6 at
 * 256 x 256 x 64, the mlp's shapes), and put the backprop gradient of mlp D=16 H=64 B=256 rk4
 * N=2 at 4.3 ms against 1.4 ms.  So unless OPENBLAS_CORETYPE is set (the user's choice always
 * wins), the kernel is chosen here from the instruction set the CPU reports: SkylakeX with
 * AVX-512 F, CD, DQ, BW and VL, Haswell with AVX2 and FMA, else OpenBLAS's own choice.  The
 * choice is put in the environment, so a peer the run starts (the torch peer's Python, which
 * uses the same OpenBLAS) gets the same kernel, and ODEGRAD_OPENBLAS_CORE names it, so the
 * provenance can say who chose it (harness/provenance.c).  The rule depends on the instruction
 * set alone, so two machines with the same one run the same kernel, hence the same bits, whatever
 * model name they report.
 *
 * The address-space limit.  OpenBLAS's constructor (gotoblas_init, in the OpenMP build)
 * allocates a buffer of about 128 MiB for each thread it expects (OMP_NUM_THREADS, else one per
 * CPU) and retries a failing allocation for ever, so under an address-space limit (ulimit -v)
 * too small for those buffers the program would spin at 100% CPU before main() and never say
 * why.  Under a finite RLIMIT_AS the function lets OpenBLAS and libgomp start with one thread.
 * A constructor of the executable, which runs after those of the libraries and before main(),
 * puts the environment and libgomp's thread count back as they were, so the run sees the
 * threads it would have seen, and refuses as `oom` a configuration whose threads' buffers do not
 * fit the limit (harness/run.c) instead of hanging in the measuring child.
 *
 * Not under AddressSanitizer: its own start-up runs from .preinit_array too, and it cannot run
 * under an address-space limit at all.  There OpenBLAS chooses its kernel itself. */
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
 * here would be undone before the libraries read it: an entry is changed in that array itself,
 * either the variable's own or, when there is none, one borrowed from a variable that no
 * library's constructor reads, and given back in start_restore. */
typedef struct start_slot {
    char **at;  /* the entry changed in envp (NULL: none) */
    char *old;  /* what it held */
    char *mine; /* what it holds now */
    int own;    /* it was the variable's own entry */
} start_slot;

static char start_threads[] = "OMP_NUM_THREADS=1";
static char start_core[sizeof "OPENBLAS_CORETYPE=SkylakeX"];
static start_slot start_slots[2]; /* [0] the thread count, [1] the kernel */

static int start_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* The entry of the variable that `entry` (NAME=VALUE) sets, or NULL. */
static char **start_find(char **envp, const char *entry)
{
    const size_t n = (size_t)(strchr(entry, '=') - entry) + 1;
    for (char **e = envp; *e != NULL; e++) {
        if (strncmp(*e, entry, n) == 0) {
            return e;
        }
    }
    return NULL;
}

/* An entry no library's constructor reads (the variables libgomp, OpenBLAS, libgfortran, glibc
 * and the allocator may read are kept; an entry borrowed already now reads OMP_ or OPENBLAS_). */
static char **start_borrow(char **envp)
{
    static const char *const keep[] = {"OMP_",      "GOMP_", "KMP_",   "OPENBLAS_", "GOTO",
                                       "GFORTRAN_", "LD_",   "MALLOC", "GLIBC",     "LANG",
                                       "LC_",       "TZ",    "HOME",   "PATH",      "TMP"};
    for (char **e = envp; *e != NULL; e++) {
        int reserved = 0;
        for (size_t k = 0; k < sizeof keep / sizeof keep[0] && !reserved; k++) {
            reserved = start_prefix(*e, keep[k]);
        }
        if (!reserved) {
            return e;
        }
    }
    return NULL;
}

/* Puts entry (NAME=VALUE) in the variable's own slot, else in a borrowed one. */
static void start_set(start_slot *s, char **envp, char *entry)
{
    char **at = start_find(envp, entry);
    s->own = at != NULL;
    if (at == NULL) {
        at = start_borrow(envp);
    }
    if (at != NULL) {
        s->at = at;
        s->old = *at;
        s->mine = entry;
        *at = entry;
    }
}

/* The OpenBLAS kernel for this CPU's instruction set, or NULL to leave OpenBLAS's choice.
 * SkylakeX's kernels use AVX-512 F, CD, DQ, BW and VL; Haswell's AVX2 and FMA. */
static const char *start_core_for_cpu(void)
{
    __builtin_cpu_init(); /* libgcc's own initializer may not have run yet */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
        return "SkylakeX";
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        return "Haswell";
    }
    return NULL;
}

static void start_preinit(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    if (envp == NULL) {
        return;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        start_set(&start_slots[0], envp, start_threads);
    }
    const char *core = start_find(envp, "OPENBLAS_CORETYPE=") ? NULL : start_core_for_cpu();
    if (core != NULL) {
        strcpy(start_core, "OPENBLAS_CORETYPE=");
        strcat(start_core, core);
        start_set(&start_slots[1], envp, start_core);
    }
}

__attribute__((section(".preinit_array"),
               used)) static void (*start_preinit_entry)(int, char **, char **) = start_preinit;

extern char **environ;

/* The entry back wherever environ now keeps it (a constructor's setenv may have copied the
 * array). */
static void start_put_back(const start_slot *s)
{
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (*e == s->mine) {
            *e = s->old;
        }
    }
}

__attribute__((constructor)) static void start_restore(void)
{
    const start_slot *core = &start_slots[1];
    if (core->at != NULL) {
        start_put_back(core);
        /* now in the environment proper, for what the run starts, and named as odegrad's */
        const char *name = core->mine + strlen("OPENBLAS_CORETYPE=");
        setenv("OPENBLAS_CORETYPE", name, 1);
        setenv("ODEGRAD_OPENBLAS_CORE", name, 1);
    }
    const start_slot *thr = &start_slots[0];
    if (thr->at == NULL) {
        return;
    }
    start_put_back(thr);
    /* libgomp read "1" at its start: the count it would have read instead (the first of a
     * list; every CPU it may use when unset or unreadable, as libgomp does) */
    int n = 0;
    if (thr->own) {
        char *end;
        const char *v = thr->old + strlen("OMP_NUM_THREADS=");
        long k = strtol(v, &end, 10);
        n = end != v && k > 0 && k < 1 << 20 ? (int)k : 0;
    }
    omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
}

#endif
