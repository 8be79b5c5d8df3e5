/* odegrad experiments: a sweep file (experiments/NAME.ini) read into a list of run
 * configurations, and those configurations measured one by one through the harness (each in
 * its own forked child, README.md, "Layout"), appended to a results file that a resumed sweep
 * reads back.  The file's keys are the options of options.def (their flags without dashes, or
 * their column names); where a key applies, what its values mean and what is refused are the
 * options table's, so a sweep accepts exactly what `odegrad run` accepts.  Messages name the
 * file and line ("steps.ini:12: ...").  The library never prints. */
#ifndef ODEGRAD_EXPERIMENTS_H
#define ODEGRAD_EXPERIMENTS_H

#include "odegrad/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most configurations one file may expand to, and the most values one range may give. */
#define ODG_SWEEP_MAX_CONFIGS 100000
#define ODG_SWEEP_MAX_RANGE 4096

typedef struct odg_sweep odg_sweep;

/* Reads and expands the sweep file at path.  ODG_OK, or ODG_EIO / ODG_EFORMAT / ODG_EINVAL /
 * ODG_EUNSUP with err as "PATH:LINE: what is wrong"; *out is NULL then. */
odg_status odg_sweep_read(odg_sweep **out, const char *path, char err[ODG_ERRLEN]);
/* The same from text in memory (len bytes, need not be NUL-terminated); `path` names it in
 * messages.  For tests and the fuzz target. */
odg_status odg_sweep_parse(odg_sweep **out, const char *path, const char *text, size_t len,
                           char err[ODG_ERRLEN]);
void odg_sweep_destroy(odg_sweep **s);

const char *odg_sweep_name(const odg_sweep *s);   /* the experiment */
const char *odg_sweep_output(const odg_sweep *s); /* the file's `output`, or results/NAME */
const char *odg_sweep_path(const odg_sweep *s);
int odg_sweep_count(const odg_sweep *s);
/* Configuration i (0 <= i < count): given bits set for what the file sets; experiment is the
 * sweep's name. */
const odg_run_config *odg_sweep_config(const odg_sweep *s, int i);
/* The `odegrad run` command line that measures configuration i alone; its length or -1. */
int odg_sweep_command(const odg_sweep *s, int i, char *buf, size_t cap);
/* "NAME key=value ...": the keys whose value varies in this sweep, and the method. */
void odg_sweep_describe(const odg_sweep *s, int i, char *buf, size_t cap);
/* A rough relative cost of configuration i (f evaluations times the size of one), for an ETA. */
double odg_sweep_cost(const odg_sweep *s, int i);

/* ---- running ------------------------------------------------------------------------------ */

/* One sweep file and the results file it appends to. */
typedef struct odg_sweep_job {
    const odg_sweep *sweep;
    const char *csv;
} odg_sweep_job;

typedef struct odg_sweep_opts {
    int reuse_any_commit; /* 1: a row recorded by another commit counts as recorded */
    int dry_run;          /* plan only: decide what is recorded, run nothing, write nothing */
    int argc;             /* the command line, for the provenance sidecar */
    char *const *argv;
    volatile const int *stop; /* polled between configurations; a run cut short by the same
                                 signal is not recorded (resume runs it again) */
    int mpi;            /* 1: spread over the MPI ranks (the caller started MPI, core.h) */
    int ranks_per_node; /* with mpi: ranks that measure on each node (0: 1) */
} odg_sweep_opts;

/* What happens, as it happens. */
typedef enum {
    ODG_SWEEP_PLAN,  /* one per job: `recorded` of its configurations are in the file already */
    ODG_SWEEP_START, /* a configuration starts */
    ODG_SWEEP_DONE   /* it was recorded (rec), or could not be (error) */
} odg_sweep_event_kind;

typedef struct odg_sweep_event {
    odg_sweep_event_kind kind;
    const odg_sweep_job *job;
    int index;                  /* the configuration (START, DONE) */
    long done, total;           /* configurations finished and to run, all jobs */
    int recorded, reused_other; /* PLAN: already recorded, of which by another commit */
    int other_commit;           /* PLAN: recorded by another commit only, run again */
    const char *commit;         /* PLAN: this binary's commit */
    const odg_run_record *rec;  /* DONE: the record appended */
    const char *error;          /* DONE: why nothing was appended (NULL when rec was) */
    double wall_s;              /* DONE: how long the configuration took */
    int rank;                   /* START across ranks: the rank that measures it (else 0) */
} odg_sweep_event;

typedef void (*odg_sweep_fn)(const odg_sweep_event *ev, void *ctx);

typedef struct odg_sweep_summary {
    long run, failed; /* configurations run; those that left no row */
    long recorded;    /* already recorded, skipped */
    int nstatus;      /* rows appended, by status column */
    char status[8][ODG_CELL_STRLEN];
    long count[8];
    int interrupted;
    char sidecar_error[ODG_ERRLEN]; /* a provenance sidecar could not be written, or the
                                       rows could not be put in the serial order */
    int ranks, measuring_ranks;     /* across ranks: all of them, and those that measured */
    int follower; /* this rank is not rank 0: it measured what rank 0 gave it, wrote nothing */
} odg_sweep_summary;

/* Runs the configurations of the jobs that their results files do not already record (same
 * experiment, same configuration by odg_run_config_same, same commit unless reuse_any_commit),
 * in order, each through odg_run_prepare and odg_run_execute; appends each record and writes the
 * provenance sidecar.  A configuration that fails is recorded as data (status error, oom,
 * timeout, diverged) and the sweep goes on.  Before anything runs, every results file is
 * checked (its header must be this version's), its directory created and an exclusive lock
 * taken (one sweep per file; a second is refused).  The DGEMM rate of the first run of each
 * model shape, batch chunk and thread count is passed to the later ones (roofline_gflops).
 * ODG_OK with sum filled, or an odg_status with err when the sweep could not start (nothing was
 * run then).
 *
 * Across MPI ranks (opts->mpi, more than one rank; every rank calls this with the same jobs):
 * rank 0 does all of the above but the measuring: it hands the configurations out one at a time,
 * longest first by odg_sweep_cost, to whichever measuring rank is free (on each node the first
 * ranks_per_node ranks other than 0; the others wait), and appends each record as it comes
 * back, so a rank that dies loses only the configuration it was measuring.  Each is still
 * measured alone in its forked child.  When the sweep completes, rank 0 rewrites each results
 * file with its rows in the order the serial sweep appends them; the provenance sidecar names
 * every rank's host.  The other ranks return with sum->follower set. */
odg_status odg_sweep_execute(const odg_sweep_job *jobs, int njobs, const odg_sweep_opts *opts,
                             odg_sweep_fn fn, void *ctx, odg_sweep_summary *sum,
                             char err[ODG_ERRLEN]);

#ifdef __cplusplus
}
#endif
#endif
