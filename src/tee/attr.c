/*
 * tee/attr.c — kernel attribute files (configfs, sysfs) and the waits
 * around them, for the guest interfaces of every platform.
 *
 * An attribute is read whole, capped (-EFBIG beyond the cap, so a hostile
 * or broken kernel interface cannot make us allocate without bound), and
 * written with exactly one write() of the whole value, as the kernel's
 * attribute semantics want. Errors are -errno, so callers can tell a
 * missing interface (ENOENT) from a busy one (EBUSY, EAGAIN, EINTR:
 * transient) and from a real failure. Waits use CLOCK_MONOTONIC directly,
 * not the replaceable clock of mosaik/clock.h: a fake clock in a test must
 * not stretch or shrink a wait for the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tee/tee_internal.h"

void mk_tee_sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

uint64_t mk_tee_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool mk_tee_errno_transient(int e) {
    return e == EBUSY || e == EAGAIN || e == EINTR;
}

int mk_tee_attr_read(const char *path, size_t max, mk_buf *b) {
    mk_buf_reset(b);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    uint8_t chunk[4096];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = -errno;
            break;
        }
        if (n == 0) break;
        if ((size_t)n > max - b->len) {
            rc = -EFBIG;
            break;
        }
        if (mk_buf_append(b, chunk, (size_t)n) < 0) {
            rc = -ENOMEM;
            break;
        }
    }
    close(fd);
    return rc;
}

int mk_tee_attr_write(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t w;
    do {
        w = write(fd, data, n);
    } while (w < 0 && errno == EINTR);
    int rc = w < 0 ? -errno : (size_t)w != n ? -EIO : 0;
    if (close(fd) != 0 && rc == 0) rc = -errno;
    return rc;
}

int mk_tee_attr_read_text(const char *path, char *out, size_t outsz) {
    mk_buf b = MK_BUF_INIT;
    int rc = mk_tee_attr_read(path, MK_TEE_ATTR_SMALL_MAX, &b);
    if (rc == 0) {
        size_t n = b.len;
        while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == ' ' || b.data[n - 1] == 0))
            n--;
        if (n >= outsz) {
            rc = -EFBIG;
        } else {
            if (n) memcpy(out, b.data, n);
            out[n] = 0;
        }
    }
    mk_buf_free(&b);
    return rc;
}
