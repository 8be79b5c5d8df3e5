/* Child processes: a measured configuration (and a reference gradient) runs in a fork, so that
 * its peak resident memory is its own, a crash or the OOM killer takes only the child, and a
 * timeout can stop it.  The child writes its results to a pipe; the parent keeps whatever
 * arrived, so a child that dies late still leaves what it had measured.
 *
 * The parent runs no OpenMP region and no BLAS call before forking (libgomp's thread pool does
 * not survive fork): everything that computes happens in a child. */
#include "harness_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

int odg_write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

odg_status odg_write_file(const char *path, const char *tmp, const void *data, size_t len,
                          char err[ODG_ERRLEN])
{
    const char *doing = "cannot create";
    int fd = odg_io_fault() ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        goto fail;
    }
    doing = "cannot write";
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t k = odg_io_fault() ? -1 : write(fd, p, len);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            if (k == 0) {
                errno = ENOSPC;
            }
            goto fail;
        }
        p += k;
        len -= (size_t)k;
    }
    /* synced before the rename, so that the name never points at data still in flight */
    doing = "cannot sync";
    if (odg_io_fault() || fsync(fd) != 0) {
        goto fail;
    }
    int g = fd;
    fd = -1;
    doing = "cannot close";
    if (close(g) != 0) {
        goto fail;
    }
    doing = "cannot rename the temporary file over it";
    if (odg_io_fault() || rename(tmp, path) != 0) {
        goto fail;
    }
    return ODG_OK;

fail:;
    int e = errno;
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    return odg_fail(err, ODG_EIO, "%.160s: %s: %.60s", path, doing, strerror(e));
}

void odg_malloc_release(void)
{
#ifdef __GLIBC__
    /* Gives back the top of the heap and every free page inside it (madvise), so that pages a
     * warm-up gradient touched and freed are not resident any more: the next gradient touches
     * them again, and the high-water mark sees them.  (Fixing a small mmap threshold instead
     * would do the same, but turns every scratch block that BLAS or the OpenMP runtime
     * allocates per call into an mmap/munmap pair: ruinous under threads.) */
    malloc_trim(0);
#endif
}

void odg_malloc_retain(void)
{
#ifdef __GLIBC__
    /* Large blocks from the heap rather than a fresh mmap each, and freed memory kept there: a
     * gradient's tape, trajectory and checkpoints then land on pages the previous gradient of
     * the run already faulted in and the kernel need not zero again, as in a training loop that
     * keeps its buffers.  Only odg_malloc_release gives memory back.  Without this, a backprop
     * tape of 256 MiB costs ~0.3 s of page faults and kernel page clearing per gradient. */
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

void odg_child_free(odg_child *res)
{
    if (res) {
        free(res->data);
        res->data = NULL;
        res->len = 0;
    }
}

/* The current run's deadline (odg_child_deadline); INFINITY when none. */
static double child_deadline = INFINITY;

void odg_child_deadline(double t)
{
    child_deadline = t > 0 ? t : INFINITY;
}

static odg_status sys_fail(char err[ODG_ERRLEN], const char *what)
{
    if (err) {
        snprintf(err, ODG_ERRLEN, "%s: %s", what, strerror(errno));
    }
    return ODG_EIO;
}

odg_status odg_child_run(odg_child_fn fn, void *ctx, double timeout_s, odg_child *res,
                         char err[ODG_ERRLEN])
{
    memset(res, 0, sizeof *res);
    int fds[2];
    if (pipe(fds) != 0) {
        return sys_fail(err, "pipe");
    }
    fflush(stdout); /* the child must not write the parent's buffered output a second time */
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return sys_fail(err, "fork");
    }
    if (pid == 0) {
        close(fds[0]);
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed parent takes its measurement with it */
        if (getppid() != parent) {
            _exit(127);
        }
#else
        (void)parent;
#endif
        /* the caller's handlers (a sweep's, which stops between configurations) must not keep
         * a measurement alive past an interrupt */
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        int rc = fn(ctx, fds[1]);
        close(fds[1]);
        _exit(rc); /* no atexit handlers, no stdio flush: the parent owns those */
    }
    close(fds[1]);
    odg_status st = ODG_OK;
    size_t cap = 0;
    double deadline = timeout_s > 0 ? odg_now() + timeout_s : INFINITY;
    if (child_deadline < deadline) {
        deadline = child_deadline;
    }
    for (;;) {
        int wait_ms = -1;
        if (isfinite(deadline)) {
            double left = deadline - odg_now();
            if (left <= 0) {
                kill(pid, SIGKILL);
                res->timed_out = 1;
                break;
            }
            wait_ms = left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
        }
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int n = poll(&pfd, 1, wait_ms);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            kill(pid, SIGKILL);
            st = sys_fail(err, "poll");
            break;
        }
        if (n == 0) {
            continue; /* the deadline is checked at the top */
        }
        if (cap - res->len < 65536) {
            size_t ncap = cap ? 2 * cap : 65536;
            unsigned char *p = realloc(res->data, ncap);
            if (!p) {
                kill(pid, SIGKILL);
                st = ODG_ENOMEM;
                if (err) {
                    snprintf(err, ODG_ERRLEN, "out of memory reading a child's results");
                }
                break;
            }
            res->data = p;
            cap = ncap;
        }
        ssize_t k = read(fds[0], res->data + res->len, cap - res->len);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            kill(pid, SIGKILL);
            st = sys_fail(err, "read");
            break;
        }
        if (k == 0) {
            break; /* EOF: the child closed the pipe (exited or died) */
        }
        res->len += (size_t)k;
    }
    close(fds[0]);
    int wst = 0;
    while (waitpid(pid, &wst, 0) < 0) {
        if (errno != EINTR) {
            return st != ODG_OK ? st : sys_fail(err, "waitpid");
        }
    }
    if (WIFEXITED(wst)) {
        res->exited = 1;
        res->code = WEXITSTATUS(wst);
    } else if (WIFSIGNALED(wst)) {
        res->signaled = 1;
        res->signo = WTERMSIG(wst);
    }
    return st;
}
