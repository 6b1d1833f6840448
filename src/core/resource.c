/*
 * core/resource.c — errors for exhausted system resources (see
 * core/resource.h): the reason names the limit (RLIMIT_NOFILE with its
 * current values, fs.file-max, RLIMIT_NPROC, memory), so that whoever reads
 * it knows what to raise.
 *
 * mk_resource_fds_available opens n eventfds and closes them again: an
 * eventfd needs nothing but a descriptor slot, so it fails only for the
 * reasons a socket, an epoll instance or a pipe would for lack of
 * descriptors.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/resource.h"

static void limit_str(unsigned long long v, char *out, size_t n) {
    if (v == (unsigned long long)RLIM_INFINITY)
        snprintf(out, n, "unlimited");
    else
        snprintf(out, n, "%llu", v);
}

int mk_resource_error(mk_error *err, int e, const char *what) {
    if (e < 0) e = -e;
    struct rlimit rl;
    char soft[24] = "?", hard[24] = "?";
    switch (e) {
    case EMFILE:
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
            limit_str((unsigned long long)rl.rlim_cur, soft, sizeof soft);
            limit_str((unsigned long long)rl.rlim_max, hard, sizeof hard);
        }
        return mk_error_set(err, MK_EBUSY,
                            "%s: out of file descriptors: the process reached RLIMIT_NOFILE "
                            "(soft limit %s, hard limit %s)",
                            what, soft, hard);
    case ENFILE:
        return mk_error_set(err, MK_EBUSY,
                            "%s: out of file descriptors: the system-wide file table is full "
                            "(fs.file-max)",
                            what);
    case EAGAIN:
        if (getrlimit(RLIMIT_NPROC, &rl) == 0)
            limit_str((unsigned long long)rl.rlim_cur, soft, sizeof soft);
        return mk_error_set(err, MK_EBUSY,
                            "%s: out of threads or processes (RLIMIT_NPROC soft limit %s, or "
                            "kernel.threads-max)",
                            what, soft);
    case ENOMEM:
        return mk_error_set(err, MK_ENOMEM, "%s: out of memory", what);
    default:
        return mk_error_set(err, MK_EIO, "%s: %s", what, strerror(e));
    }
}

int mk_resource_fds_available(int n, const char *what, mk_error *err) {
    int fds[16];
    if (n > (int)(sizeof fds / sizeof fds[0])) n = (int)(sizeof fds / sizeof fds[0]);
    int got = 0, e = 0;
    while (got < n) {
        int fd = eventfd(0, EFD_CLOEXEC);
        if (fd < 0) {
            e = errno;
            break;
        }
        fds[got++] = fd;
    }
    for (int i = 0; i < got; i++)
        close(fds[i]);
    return got == n ? 0 : mk_resource_error(err, e, what);
}
