/* The MPI layer (include/odegrad/core.h, "MPI"): the one file that includes mpi.h, compiled with
 * ODG_HAVE_MPI when CMake found MPI (Open MPI or MPICH), and as stubs that say so without it.
 * Used by the sweep across ranks (experiments/run.c) and by the batch-parallel gradient, whose
 * exchanges copy rows and never add them (models/mlp.c), so the bits do not depend on the rank
 * count.  docs/experiments.md, "Past one machine". */
#include "odegrad/core.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef ODG_HAVE_MPI
#include <mpi.h>
#endif

int odg_mpi_launched(void)
{
    /* Open MPI, MPICH and Intel MPI (PMI, Hydra), PMIx launchers, Slurm's srun */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                                       "MPI_LOCALNRANKS"};
    for (size_t k = 0; k < sizeof vars / sizeof vars[0]; k++) {
        if (getenv(vars[k])) {
            return 1;
        }
    }
    return 0;
}

void odg_mpi_host(char *name, size_t cap)
{
    if (cap == 0) {
        return;
    }
    name[0] = '\0';
#ifdef ODG_HAVE_MPI
    if (odg_mpi_active()) {
        char buf[MPI_MAX_PROCESSOR_NAME + 1];
        int len = 0;
        if (MPI_Get_processor_name(buf, &len) == MPI_SUCCESS && len > 0) {
            buf[len < MPI_MAX_PROCESSOR_NAME ? len : MPI_MAX_PROCESSOR_NAME] = '\0';
            snprintf(name, cap, "%s", buf);
            return;
        }
    }
#endif
    if (gethostname(name, cap) != 0) {
        snprintf(name, cap, "localhost");
    }
    name[cap - 1] = '\0';
}

#ifdef ODG_HAVE_MPI

static int started = 0;

int odg_mpi_built(void)
{
    return 1;
}

static odg_status mpi_fail(char err[ODG_ERRLEN], int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) {
        snprintf(msg, sizeof msg, "error %d", rc);
    }
    return odg_fail(err, ODG_EIO, "%s: %s", what, msg);
}

odg_status odg_mpi_start(char err[ODG_ERRLEN])
{
    if (err) {
        err[0] = '\0';
    }
    int init = 0;
    MPI_Initialized(&init);
    if (init) {
        started = 1;
        return ODG_OK;
    }
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) {
        return mpi_fail(err, rc, "MPI_Init_thread");
    }
    /* errors come back as codes, which the callers turn into statuses */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    started = 1;
    if (provided < MPI_THREAD_FUNNELED) {
        return odg_fail(err, ODG_EUNSUP,
                        "this MPI library does not allow OpenMP threads beside it "
                        "(MPI_THREAD_FUNNELED)");
    }
    return ODG_OK;
}

void odg_mpi_stop(void)
{
    int fin = 0;
    if (started && MPI_Finalized(&fin) == MPI_SUCCESS && !fin) {
        MPI_Finalize();
    }
    started = 0;
}

void odg_mpi_abort(int code)
{
    if (started) {
        MPI_Abort(MPI_COMM_WORLD, code);
    }
}

int odg_mpi_active(void)
{
    return started;
}

int odg_mpi_rank(void)
{
    int r = 0;
    if (started) {
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
    }
    return r;
}

int odg_mpi_size(void)
{
    int n = 1;
    if (started) {
        MPI_Comm_size(MPI_COMM_WORLD, &n);
    }
    return n;
}

odg_status odg_mpi_node_rank(int *local, int *nlocal)
{
    *local = 0;
    *nlocal = 1;
    if (!started) {
        return ODG_OK;
    }
    MPI_Comm node;
    int rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, odg_mpi_rank(),
                                 MPI_INFO_NULL, &node);
    if (rc != MPI_SUCCESS) {
        return mpi_fail(NULL, rc, "MPI_Comm_split_type");
    }
    MPI_Comm_rank(node, local);
    MPI_Comm_size(node, nlocal);
    MPI_Comm_free(&node);
    return ODG_OK;
}

odg_status odg_mpi_allgather_doubles(double *x, const size_t *off, odg_mpi_stats *stats)
{
    if (!started) {
        return ODG_OK; /* one rank holds everything already */
    }
    int n = odg_mpi_size(), me = odg_mpi_rank();
    int stack_counts[64], stack_displs[64];
    int *counts = n <= 64 ? stack_counts : malloc(2 * (size_t)n * sizeof(int));
    int *displs = n <= 64 ? stack_displs : counts + n;
    if (!counts) {
        return ODG_ENOMEM;
    }
    odg_status st = ODG_OK;
    for (int r = 0; r < n; r++) {
        if (off[r + 1] > INT_MAX || off[r + 1] < off[r]) {
            st = ODG_EUNSUP;
            goto done;
        }
        counts[r] = (int)(off[r + 1] - off[r]);
        displs[r] = (int)off[r];
    }
    double t0 = odg_now();
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts, displs, MPI_DOUBLE,
                            MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        st = ODG_EIO;
    } else if (stats) {
        stats->s += odg_now() - t0;
        stats->bytes += (double)(off[n] - (off[me + 1] - off[me])) * sizeof(double);
        stats->calls++;
    }
done:
    if (counts != stack_counts) {
        free(counts);
    }
    return st;
}

odg_status odg_mpi_allgather_bytes(const void *mine, size_t len, void *all)
{
    if (!started) {
        memcpy(all, mine, len);
        return ODG_OK;
    }
    if (len > INT_MAX) {
        return ODG_EUNSUP;
    }
    return MPI_Allgather(mine, (int)len, MPI_BYTE, all, (int)len, MPI_BYTE, MPI_COMM_WORLD) ==
                   MPI_SUCCESS
               ? ODG_OK
               : ODG_EIO;
}

odg_status odg_mpi_minmax(double x, double *min, double *max)
{
    *min = *max = x;
    if (!started) {
        return ODG_OK;
    }
    /* min and max are exact whatever the order MPI combines them in */
    if (MPI_Allreduce(&x, min, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS ||
        MPI_Allreduce(&x, max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS) {
        return ODG_EIO;
    }
    return ODG_OK;
}

odg_status odg_mpi_bcast(void *buf, size_t len, int root)
{
    if (!started) {
        return ODG_OK;
    }
    if (len > INT_MAX) {
        return ODG_EUNSUP;
    }
    return MPI_Bcast(buf, (int)len, MPI_BYTE, root, MPI_COMM_WORLD) == MPI_SUCCESS ? ODG_OK
                                                                                   : ODG_EIO;
}

odg_status odg_mpi_barrier(void)
{
    if (!started) {
        return ODG_OK;
    }
    return MPI_Barrier(MPI_COMM_WORLD) == MPI_SUCCESS ? ODG_OK : ODG_EIO;
}

odg_status odg_mpi_send(const void *buf, size_t len, int dest, int tag)
{
    if (!started) {
        return ODG_EUNSUP;
    }
    if (len > INT_MAX) {
        return ODG_EUNSUP;
    }
    return MPI_Send(buf, (int)len, MPI_BYTE, dest, tag, MPI_COMM_WORLD) == MPI_SUCCESS ? ODG_OK
                                                                                       : ODG_EIO;
}

odg_status odg_mpi_recv(void *buf, size_t len, int src, int tag, int *from, int *got_tag)
{
    if (!started) {
        return ODG_EUNSUP;
    }
    if (len > INT_MAX) {
        return ODG_EUNSUP;
    }
    MPI_Status s;
    int rc = MPI_Recv(buf, (int)len, MPI_BYTE, src < 0 ? MPI_ANY_SOURCE : src,
                      tag < 0 ? MPI_ANY_TAG : tag, MPI_COMM_WORLD, &s);
    if (rc != MPI_SUCCESS) {
        return ODG_EIO;
    }
    if (from) {
        *from = s.MPI_SOURCE;
    }
    if (got_tag) {
        *got_tag = s.MPI_TAG;
    }
    return ODG_OK;
}

int odg_mpi_poll(int *from, int *tag)
{
    if (!started) {
        return 0;
    }
    int flag = 0;
    MPI_Status s;
    if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &s) != MPI_SUCCESS ||
        !flag) {
        return 0;
    }
    if (from) {
        *from = s.MPI_SOURCE;
    }
    if (tag) {
        *tag = s.MPI_TAG;
    }
    return 1;
}

#else /* built without MPI: one rank, and starting MPI says why not */

int odg_mpi_built(void)
{
    return 0;
}

odg_status odg_mpi_start(char err[ODG_ERRLEN])
{
    return odg_fail(err, ODG_EUNSUP,
                    "this odegrad was built without MPI: install an MPI (Debian: "
                    "libopenmpi-dev openmpi-bin, `scripts/install-deps.sh mpi`) and rebuild");
}

void odg_mpi_stop(void)
{
}

void odg_mpi_abort(int code)
{
    (void)code;
}

int odg_mpi_active(void)
{
    return 0;
}

int odg_mpi_rank(void)
{
    return 0;
}

int odg_mpi_size(void)
{
    return 1;
}

odg_status odg_mpi_node_rank(int *local, int *nlocal)
{
    *local = 0;
    *nlocal = 1;
    return ODG_OK;
}

odg_status odg_mpi_allgather_doubles(double *x, const size_t *off, odg_mpi_stats *stats)
{
    (void)x;
    (void)off;
    (void)stats;
    return ODG_OK;
}

odg_status odg_mpi_allgather_bytes(const void *mine, size_t len, void *all)
{
    memcpy(all, mine, len);
    return ODG_OK;
}

odg_status odg_mpi_minmax(double x, double *min, double *max)
{
    *min = *max = x;
    return ODG_OK;
}

odg_status odg_mpi_bcast(void *buf, size_t len, int root)
{
    (void)buf;
    (void)len;
    (void)root;
    return ODG_OK;
}

odg_status odg_mpi_barrier(void)
{
    return ODG_OK;
}

odg_status odg_mpi_send(const void *buf, size_t len, int dest, int tag)
{
    (void)buf;
    (void)len;
    (void)dest;
    (void)tag;
    return ODG_EUNSUP;
}

odg_status odg_mpi_recv(void *buf, size_t len, int src, int tag, int *from, int *got_tag)
{
    (void)buf;
    (void)len;
    (void)src;
    (void)tag;
    (void)from;
    (void)got_tag;
    return ODG_EUNSUP;
}

int odg_mpi_poll(int *from, int *tag)
{
    (void)from;
    (void)tag;
    return 0;
}

#endif
