/* odegrad harness: one configuration, honestly measured, recorded with provenance.
 * include/odegrad/columns.def; docs/theory.md sections 6 (memory) and 7 (references and errors).
 *
 * A run is prepared (the configuration checked, the problem built from a seed and optional .npy
 * files, the method checked against it), then executed: a configuration whose docs/theory.md section 6
 * bytes exceed the memory limit is refused and recorded as `oom`; otherwise a forked child warms
 * up, times R gradients, measures its own peak resident memory and the errors against the
 * references, and passes its results back through a pipe.  A child that dies or runs past the
 * timeout is recorded too: failure is data.
 *
 * The record is one cell per column of columns.def; the CSV row and the JSON record are both
 * written from those cells, so they cannot disagree.  The harness never prints: it fills
 * records and error texts (phrased with the CLI's flag names, as odg_grad_check does) and writes
 * only the files it is asked to write.
 */
#ifndef ODEGRAD_HARNESS_H
#define ODEGRAD_HARNESS_H

#include "odegrad/gradients.h"
#include "odegrad/peers.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the columns of a run record (columns.def) -------------------------------------------- */

typedef enum {
#define ODG_COLUMN(name, desc) ODG_COL_##name,
#include "odegrad/columns.def"
#undef ODG_COLUMN
    ODG_NCOLUMNS
} odg_column;

const char *odg_column_name(odg_column c);
const char *odg_column_desc(odg_column c);

/* One value of a record.  EMPTY is an unknown or meaningless value: an empty CSV field and a
 * JSON null. */
typedef enum { ODG_CELL_EMPTY, ODG_CELL_STR, ODG_CELL_INT, ODG_CELL_REAL } odg_cell_type;

#define ODG_CELL_STRLEN 80

typedef struct odg_cell {
    odg_cell_type type;
    long long i;
    double x;
    char s[ODG_CELL_STRLEN];
} odg_cell;

void odg_cell_str(odg_cell *c, const char *s); /* NULL or "" stays a string ""; truncated */
void odg_cell_int(odg_cell *c, long long v);
void odg_cell_real(odg_cell *c, double x); /* a non-finite x is EMPTY */
void odg_cell_empty(odg_cell *c);

/* ---- references (docs/theory.md section 8) ----------------------------------------------------- */

typedef enum { ODG_REF_AUTO, ODG_REF_ANALYTIC, ODG_REF_FINE, ODG_REF_NONE } odg_ref_kind;

const char *odg_ref_kind_name(odg_ref_kind k);
odg_status odg_ref_kind_from_name(const char *name, odg_ref_kind *out);

/* What a reference gradient is and where it came from. */
typedef struct odg_ref_info {
    odg_ref_kind kind; /* ANALYTIC or FINE once resolved; NONE when there is none */
    odg_status status; /* ODG_OK, or why it could not be computed */
    char scheme[16];   /* fine: the scheme ("rk4"); analytic: "" */
    char method[32];   /* fine: the discrete-exact method used ("backprop" or
                          "backprop-checkpoint" when the tape would not fit) */
    long N;            /* fine: the step count used; analytic: 0 */
    int converged;     /* fine: halving h changed the gradient by < ODG_REF_TOL relative, and the
                          second computation agrees within ODG_REF_AGREE; analytic: 1 */
    double change;     /* fine: that relative change at the last doubling */
    char second[48];   /* fine: the independent second computation ("dopri5 rtol=1e-13") */
    double error;      /* fine: relative L2 distance between the two computations, the
                          reference's stated error; analytic: NaN (exact up to rounding) */
    double loss;
    int cached;      /* 1: read from the cache, 0: computed by this process */
    char key[17];    /* the cache key, 16 hex digits */
    char path[1024]; /* the cache file ("" when it could not be written) */
} odg_ref_info;

/* The fine reference (docs/theory.md section 8): dopri8 at N = ODG_REF_N0, 2 N0, ... until
 * halving h changes the gradient by less than ODG_REF_TOL (capped at ODG_REF_NMAX), checked
 * against a second computation of another scheme, dopri5 with its own steps at tolerance
 * ODG_REF_RTOL2, which must agree within ODG_REF_AGREE. */
#define ODG_REF_N0 32L
#define ODG_REF_NMAX 65536L
#define ODG_REF_TOL 1e-12
#define ODG_REF_RTOL2 1e-13
#define ODG_REF_AGREE 1e-9

/* ---- a run's configuration ---------------------------------------------------------------- */

#define ODG_NAME_LEN 64
#define ODG_MEM_AUTO ((size_t)0) /* mem_limit: 80% of the memory available now */
#define ODG_MEM_NONE SIZE_MAX    /* mem_limit: no limit */

typedef struct odg_run_config {
    const char *experiment;        /* the experiment column ("adhoc") */
    odg_model_opts model;          /* kind, D, H, B, time_input, gain, spectrum, stiffness,
                                      blas_mode, batch_chunk */
    odg_solver solver;             /* odegrad, or a peer (peers.h) */
    odg_lmm lmm;                   /* cvodes: adams */
    odg_scheme scheme;             /* rk4 */
    long steps;                    /* N fixed steps (64); 0 = adaptive with rtol, atol */
    double rtol, atol;
    double t1;                    /* t in [0, t1] (1) */
    long outputs;                 /* K equally spaced output times; 0 = one, at t1 */
    const char *output_times;     /* "T1:T2:..." output times; NULL = none given */
    odg_grad_opts grad;           /* method (backprop), schedule, checkpoints, interp, adj tols */
    uint64_t seed;                /* 1; at most 2^63 - 1 (a JSON integer) */
    int repeat, warmup;           /* 3, 1 */
    int threads;                  /* OpenMP and OpenBLAS threads; 0 = leave the defaults */
    int mpi;                      /* 1: the batch split over the MPI ranks (odg_model_set_ranks),
                                     measured in this process on every rank */
    double roofline_gflops;       /* > 0: record this DGEMM rate as roofline_gflops instead of
                                     measuring it (a sweep passes the rate an earlier run of
                                     the same shapes and threads measured); 0 = measure */
    double timeout_s;             /* 0 = none */
    size_t mem_limit;             /* bytes, or ODG_MEM_AUTO / ODG_MEM_NONE */
    odg_ref_kind reference;       /* auto */
    const char *load_dir;         /* NULL = generate everything from the seed */
    const char *data;             /* cnf: a dataset name (datasets.def) or a .npy path ("moons") */
    const char *save_grad_dir;    /* NULL = do not save */
    const char *save_problem_dir; /* NULL = do not save */
    const char *cache_dir;        /* NULL = $ODEGRAD_CACHE, else results/reference */
    uint64_t given;               /* bit ODG_OPT_x: option x was given (odg_option_set) */
} odg_run_config;

/* ---- the options of a configuration (options.def) ----------------------------------------- */

typedef enum {
#define ODG_OPTION(id, flag, field, type, list, lo, hi, dflt, column, rule, use, group, meta,    \
                   help)                                                                         \
    ODG_OPT_##id,
#include "odegrad/options.def"
#undef ODG_OPTION
    ODG_NOPTIONS
} odg_option;

/* The value types of options.def (REAL1: a number >= 1). */
typedef enum {
    ODG_OPTTYPE_INT,
    ODG_OPTTYPE_REAL,
    ODG_OPTTYPE_REAL1,
    ODG_OPTTYPE_NAME,
    ODG_OPTTYPE_BYTES,
    ODG_OPTTYPE_FLAG,
    ODG_OPTTYPE_TEXT
} odg_opttype;

/* Where an option means something (options.def's `rule`). */
typedef enum {
    ODG_RULE_ALWAYS,
    ODG_RULE_MLP,         /* the mlp model */
    ODG_RULE_HIDDEN,      /* a model with a hidden layer: mlp, cnf */
    ODG_RULE_CNF,         /* the cnf model */
    ODG_RULE_LINEAR,      /* the linear model */
    ODG_RULE_WEIGHTED,    /* a model whose loss weighs its states, sum(w .* z) / B: not cnf */
    ODG_RULE_STIFF,       /* the linear model's stiff spectrum */
    ODG_RULE_FIXED,       /* fixed steps: no forward tolerance */
    ODG_RULE_ADAPTIVE,    /* schemes with an error estimate */
    ODG_RULE_CHECKPOINTS, /* methods that keep checkpoints */
    ODG_RULE_INTERP,      /* methods that interpolate z(t) */
    ODG_RULE_ADJ_TOL,     /* methods that can take their own adaptive adjoint steps, with a
                             scheme that has an error estimate */
    ODG_RULE_REVERSIBLE,  /* the reversible method */
    ODG_RULE_BACKSOLVE,   /* backsolve-adjoint */
    ODG_RULE_KEEP_ACT,    /* the discrete methods, with a model that has hidden activations:
                             the VJPs they evaluate at the forward pass's own points */
    ODG_RULE_CVODES       /* --solver cvodes */
} odg_rule;

typedef struct odg_option_info {
    const char *flag;   /* the flag without its dashes; the sweep key */
    const char *field;  /* the odg_run_config member, as text ("model.D") */
    odg_opttype type;
    const char *list;   /* NAME: the name list (odg_list_find) */
    double lo, hi;      /* INT: [lo, hi]; REAL: (lo, hi], hi = 0: no bound */
    const char *dflt;   /* over the library's defaults; "" keeps them */
    int column;         /* the odg_column holding it, or -1 */
    odg_rule rule;
    int sweep;          /* also a sweep key */
    const char *group;  /* the section of --help */
    const char *meta;   /* "D" of "--dim D" ("" for a FLAG) */
    const char *help;
} odg_option_info;

const odg_option_info *odg_option_get(odg_option o); /* NULL outside the table */
/* The option named `name`: its flag, or its record column's name (blas_mode for blas-mode);
 * -1 if none. */
int odg_option_find(const char *name);

/* Parses text as option o's value into c and marks it given.  FLAG takes yes/no, true/false or
 * 1/0 ("" means yes: a flag on the command line).  ODG_EINVAL with err saying why in the
 * library's words, without the option's name ("'abc' is not an integer >= 1"). */
odg_status odg_option_set(odg_run_config *c, odg_option o, const char *text,
                          char err[ODG_ERRLEN]);
/* Option o of c back to its default value, given cleared. */
void odg_option_reset(odg_run_config *c, odg_option o);
/* The value's text, the inverse of odg_option_set (numbers as the shortest decimal that reads
 * back to the same double; TEXT unset is ""); its length, or -1 if cap is too small. */
int odg_option_format(const odg_run_config *c, odg_option o, char *buf, size_t cap);
/* Whether option o means something in configuration c (its rule); when not and why is not
 * NULL, why says where it applies ("applies only to methods that keep checkpoints
 * (backprop-checkpoint, checkpoint-adjoint), not backprop"). */
int odg_option_applies(const odg_run_config *c, odg_option o, char why[ODG_ERRLEN]);
/* Where option o applies, in a few words for a help text ("mlp", "backprop-checkpoint,
 * checkpoint-adjoint"); "" where it always does. */
void odg_option_where(odg_option o, char *buf, size_t cap);
/* The output times of c (--outputs K: k T / K; --output-times: the list), into out (cap
 * numbers); *K their count, 0 when neither is given.  ODG_EINVAL with err saying why (a value
 * that is not a number, not increasing, outside (0, T], or more than cap). */
odg_status odg_output_times(const odg_run_config *c, double *out, long cap, long *K,
                            char err[ODG_ERRLEN]);
/* Their count without parsing the values: 0, K, or the list's length. */
long odg_output_count(const odg_run_config *c);
/* Whether option o's rule reads option `on` (where --checkpoints applies depends on --method). */
int odg_option_depends(odg_option o, odg_option on);
/* Whether a and b hold the same value of option o (typed: numbers as doubles, names by index). */
int odg_option_equal(const odg_run_config *a, const odg_run_config *b, odg_option o);

/* Whether a and b are the same configuration: every option with a record column that applies
 * to either is equal in both.  This is a configuration's identity for resume and for the plots'
 * one row per configuration. */
int odg_run_config_same(const odg_run_config *a, const odg_run_config *b);

/* The same identity as text ("model=mlp;dim=16;...": every option with a column that applies,
 * as odg_option_format writes it), for hashing: two configurations are the same exactly when
 * their keys are.  malloc'ed; NULL when out of memory. */
char *odg_run_config_key(const odg_run_config *c);

/* The settings a run decides from its machine and its other settings, made explicit as the
 * record shows them: the thread count (0: omp_get_max_threads()), the BLAS mode (auto: what it
 * resolves to), the batch chunk (0: ODG_BATCH_CHUNK), a tolerance given alone (the other takes
 * its value; a forward tolerance makes the steps adaptive), and a continuous adjoint's
 * interpolation when it was not given (its given-bit clear): the scheme's dense output where it
 * has one.  A caller that sets a field directly rather than through odg_option_set should set
 * its given-bit too. */
void odg_run_config_resolve(odg_run_config *c);

/* ---- the library's name lists (the .def files), for parsing, help and `odegrad list` -------- */

typedef struct odg_list {
    const char *what; /* "models", "schemes", ... */
    const char *flag; /* the option that takes one of these names ("model"), or NULL */
    int (*count)(void);
    const char *(*name)(int i);
    const char *(*desc)(int i);
} odg_list;

extern const odg_list odg_lists[];
extern const int odg_nlists;
/* The list called `what`, or the one the option `what` takes; NULL if none. */
const odg_list *odg_list_find(const char *what);
/* The index of name in l, or -1. */
int odg_list_index(const odg_list *l, const char *name);
/* "a, b, c" into buf (cut at cap). */
void odg_list_names(const odg_list *l, char *buf, size_t cap);

/* The defaults of `odegrad run` (options.def over the library's own defaults): mlp D=16 H=64
 * B=128, rk4, N=64, t1=1, gain 1, backprop, seed 1, repeat 3, warmup 1, reference auto, memory
 * limit auto. */
void odg_run_config_default(odg_run_config *c);

/* Checks the configuration on its own (no files touched): every value in its range, every
 * option given where it applies, and the combinations that do not exist.  ODG_EINVAL /
 * ODG_EUNSUP with err naming the option as its flag ("--checkpoints applies only to methods
 * that keep checkpoints ..."); *bad (when not NULL) is the option to blame, or -1. */
odg_status odg_run_config_check(const odg_run_config *c, int *bad, char err[ODG_ERRLEN]);

/* Whether c's solver computes c's combination (a rule per peer: its models and methods, whether it
 * takes fixed steps); ODG_EUNSUP with why ("torch supports --method backprop and
 * backsolve-adjoint, not stored-adjoint").  odg_run_config_check calls it. */
odg_status odg_solver_check(const odg_run_config *c, char why[ODG_ERRLEN]);

/* Whether the solver can run on this machine (odegrad always; torch: Debian's python3 finds
 * torch and numpy and the peer's program is readable, asked once per process; cvodes: this build
 * has CVODES).  ODG_OK with its version in version (torch's package version, "SUNDIALS 6.4.1";
 * "" for odegrad), or ODG_EUNSUP with err naming the Debian packages and `make peers`. */
odg_status odg_solver_available(odg_solver s, char version[ODG_CELL_STRLEN], char err[ODG_ERRLEN]);

/* ---- a run's record ----------------------------------------------------------------------- */

typedef struct odg_run_record {
    odg_cell cell[ODG_NCOLUMNS];
    /* Beside the columns (the JSON record's "detail"): */
    char message[ODG_ERRLEN]; /* why the status is not ok ("" when it is) */
    double mem_limit_bytes;   /* the limit the configuration was checked against (NaN: none) */
    double forward_min_s, forward_max_s, backward_min_s, backward_max_s;
    long rejected, adj_steps, interval;
    int have_peaks;
    double peak_bytes[ODG_NTAGS]; /* accounted peak per allocator tag */
    double rss_baseline_bytes;
    int warmups_done;         /* warm-up gradients run: --warmup, and those past it until the
                                 gradients fault in no more memory (ODG_RUN_SETTLE_MORE) */
    char rss_method[16];      /* "clear_refs" (VmHWM reset) or "vmrss" (baseline = VmRSS) */
    char discrete_method[32]; /* the method err_vs_discrete compared against */
    char roofline_source[16]; /* "measured" (in the measuring child) or "given"
                                 (--roofline-gflops); "" when there is no roofline_gflops */
    double roofline_s;        /* what measuring it took, s (NaN when given or not measured) */
    odg_ref_info ref;
    char save_grad_error[ODG_ERRLEN]; /* --save-grad failed: why ("" otherwise) */
    /* --mpi: the ranks; per timed gradient (their mean) on rank 0, the rows' exchanges (F, Zbar)
     * and the parameter gradient's reduction (its partials' exchange and their sum in chunk
     * order): time and bytes received; the largest and smallest rank's memory (accounted peak,
     * resident peak); mpi_ranks 0 without --mpi */
    int mpi_ranks;
    double mpi_comm_s, mpi_comm_bytes, mpi_reduce_s, mpi_reduce_bytes;
    double mpi_peak_min, mpi_peak_max, mpi_rss_min, mpi_rss_max;
} odg_run_record;

/* ---- a run -------------------------------------------------------------------------------- */

typedef struct odg_run odg_run;

/* How long a run measures its roofline_gflops (min_seconds of odg_roofline_model): long enough
 * for a repeatable rate at the suite's shapes, short beside the timed gradients. */
#define ODG_RUN_ROOFLINE_S 0.1

/* The warm-up (--warmup W >= 1) goes on past W gradients while the last one faulted in
 * ODG_RUN_SETTLE_PAGES pages or more, at most ODG_RUN_SETTLE_MORE gradients past W: the timed
 * gradients then find the memory they use resident.  A warm gradient faults in 0 to 2 pages (the
 * suite's mlp problems, D = 2 ... 256); one whose large blocks the allocator placed on pages it
 * had not used yet, 97 to 1024 (0.4 to 4 MiB), and took up to 4.5 times as long. */
#define ODG_RUN_SETTLE_PAGES 8
#define ODG_RUN_SETTLE_MORE 8

/* Everything that computes runs in a forked child.  A process that calls odg_run_execute or
 * odg_run_reference must not have run an OpenMP parallel region itself (nor BLAS with more than
 * one thread): libgomp's thread pool does not survive fork, and the child would wait for ever.
 * odg_run_prepare initialises the model with one thread for that reason. */

/* Everything that can fail on bad input, before any output file is created: the configuration
 * (odg_run_config_check), the --load directory and every file in it (shapes included), the
 * output directories, the problem's own size against the memory, and odg_grad_check.
 * c is copied (its strings are not: they must outlive the run).  ODG_OK, or an odg_status with
 * err saying what is wrong; *out is NULL then. */
odg_status odg_run_prepare(odg_run **out, const odg_run_config *c, char err[ODG_ERRLEN]);
void odg_run_destroy(odg_run **r);

/* The problem's arrays: theta (P), z0 and w (B, D), and the model. */
const odg_model *odg_run_model(const odg_run *r);
const double *odg_run_z0(const odg_run *r);
const double *odg_run_w(const odg_run *r);

/* The reference for the run's problem (kind from the configuration; AUTO resolves to ANALYTIC for
 * linear and FINE for mlp): read from the cache, else computed in a child process and cached
 * (written atomically).  On success and when gref is not NULL, *gref is a malloc'ed copy of
 * (gtheta (P), gz0 (B*D)); free() it. */
odg_status odg_run_reference(odg_run *r, odg_ref_info *info, double **gref, char err[ODG_ERRLEN]);

/* Runs the configuration and fills rec (every column; EMPTY for what is not known).  Writes the
 * --save-problem files first and the --save-grad files from the child, each set whole or not at
 * all (a failed --save-grad is status error).  Right after the timed gradients the child
 * measures the DGEMM rate at the model's shapes with the same threads (odg_roofline_model for
 * ODG_RUN_ROOFLINE_S seconds), unless the configuration gives it; gflops, roofline_gflops and
 * roofline_frac are filled only in a record whose status is ok.  The timeout counts from
 * odg_run_prepare and covers the reference's child too; a loss or gradient that is not finite
 * is status diverged, an error against an unconverged fine reference status unconverged, and a
 * run whose threads' OpenBLAS buffers do not fit an address-space limit (RLIMIT_AS) is refused
 * as oom.  Returns ODG_OK when rec is complete, whatever the run's own status (the `status`
 * column); an odg_status with err if the harness itself failed (a pipe or fork that could not
 * be made) or the --save-problem files could not be written. */
odg_status odg_run_execute(odg_run *r, odg_run_record *rec, char err[ODG_ERRLEN]);

/* ---- output ------------------------------------------------------------------------------- */

/* Checks, before anything is written, that path can take rows: its directory exists, the file
 * can be opened for appending (a new file is created to find out, and removed again), it is a
 * regular file whose first line, if it is not empty, is this version's header, and path.json
 * (the sidecar) is not something other than a regular file.  ODG_EIO / ODG_EFORMAT with err. */
odg_status odg_csv_check(const char *path, char err[ODG_ERRLEN]);
/* The header line (no newline) into buf; returns its length, or -1 if cap is too small. */
int odg_csv_header(char *buf, size_t cap);
/* One row (with its newline) into buf; returns its length, or -1 if cap is too small. */
int odg_csv_row(const odg_run_record *rec, char *buf, size_t cap);
/* Appends rec to path: the header first when the file is new or empty, then the row, in one
 * write() on an O_APPEND descriptor held under an exclusive lock, so a crash or kill never
 * leaves a torn line and concurrent writers do not interleave.  A write cut short (a full disk)
 * is undone: the file is cut back to its size before, and err gives the write's own reason. */
odg_status odg_csv_append(const char *path, const odg_run_record *rec, char err[ODG_ERRLEN]);

/* The configuration columns of rec from c (options.def): each option that has a column and
 * applies to c, as a typed cell; an option that does not apply leaves its column empty. */
void odg_record_config(odg_run_record *rec, const odg_run_config *c);

/* A results file read back: its header and its rows as fields.  A row with the wrong number of
 * fields, or the last line without its newline, is a torn write and not a row (counted). */
typedef struct odg_csv_table {
    char *text;   /* the whole file, split in place */
    int ncol;
    char **head;  /* column names */
    int nrow;
    char ***rows; /* nrow x ncol fields */
    int *line;    /* each row's line number in the file */
    int torn;     /* lines that are not rows */
} odg_csv_table;

/* Reads path (a missing file is an empty table: ODG_OK, ncol 0).  ODG_EIO, ODG_EFORMAT (not
 * text), ODG_ENOMEM with err; t is then empty. */
odg_status odg_csv_read(const char *path, odg_csv_table *t, char err[ODG_ERRLEN]);
void odg_csv_table_free(odg_csv_table *t);
/* The index of the column called name, or -1. */
int odg_csv_table_col(const odg_csv_table *t, const char *name);
/* Row i's configuration: each option's column read back with the option's own parser (an empty
 * field or a missing column leaves the default); strings point into t.  ODG_EFORMAT with err
 * naming the line and column of a value that does not parse. */
odg_status odg_csv_row_config(const odg_csv_table *t, int i, odg_run_config *c,
                              char err[ODG_ERRLEN]);

/* The whole record as one line of JSON (no newline): the columns as keys in CSV order, plus a
 * "detail" object.  malloc'ed; NULL on failure. */
char *odg_record_json(const odg_run_record *rec);
/* A reference's description as one line of JSON (the record's detail.reference); malloc'ed. */
char *odg_ref_info_json(const odg_ref_info *ri);

/* Writes csv_path + ".json" atomically (tmp + rename): the columns with their descriptions and
 * the provenance of this process (git commit, compiler and flags, CPU, cores, memory, OpenBLAS
 * and OpenMP configuration, date, command line).  Environments recorded by earlier writers of
 * the same CSV that differ from this one are kept in "environments". */
odg_status odg_sidecar_write(const char *csv_path, int argc, char *const *argv,
                             char err[ODG_ERRLEN]);
/* The same for a sweep spread over MPI ranks, with an "mpi" object: the ranks, each rank's host
 * (hosts holds nranks NUL-terminated names, host_len bytes apart) and the ranks that measured
 * (measuring[r] != 0). */
odg_status odg_sidecar_write_ranks(const char *csv_path, int argc, char *const *argv,
                                   int nranks, const char *hosts, size_t host_len,
                                   const unsigned char *measuring, char err[ODG_ERRLEN]);

/* The provenance object as one JSON line (malloc'ed), for `odegrad version --json`. */
char *odg_provenance_json(int argc, char *const *argv);

/* The git commit of the build (ODG_GIT_COMMIT when the build defines it, else `git describe
 * --always --dirty` run in the binary's directory at run time, else "unknown"). */
const char *odg_git_commit(void);

/* ---- a measuring process ------------------------------------------------------------------ */

/* Under an address-space limit (ulimit -v), whether OpenBLAS's per-thread buffers for `threads`
 * threads (0: the OpenMP default), their stacks and `extra` bytes more fit what is left:
 * ODG_OK (always, without a limit), or ODG_ENOMEM with err saying what is left and what is
 * needed.  OpenBLAS retries a failing buffer allocation for ever, so a call without room would
 * hang rather than fail: a process that calls BLAS itself asks first. */
odg_status odg_address_space_check(int threads, double extra, char err[ODG_ERRLEN]);

/* Makes memory a gradient frees stay in the process for its next gradient (glibc: large blocks
 * from the heap, no trimming), as a training loop keeps its buffers.  Called once by a process
 * that times repeated gradients: the run's child, the benchmarks. */
void odg_malloc_retain(void);

#ifdef __cplusplus
}
#endif
#endif
