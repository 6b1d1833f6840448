/*
 * tee/cache.c — the on-disk cache of fetched collateral (TDX's PCS
 * bundles; SNP's VCEKs, chains and CRLs).
 *
 * An entry is one file dir/name. Names are checked (1..200 characters of
 * [A-Za-z0-9._-], no leading '.'), so no name can reach outside dir or
 * collide with a temporary file. Writes are atomic: mk_file_write creates
 * a fresh temporary file beside the entry with O_CREAT | O_EXCL |
 * O_NOFOLLOW under an unpredictable name, fsyncs it and renames it over the
 * entry; readers see the old or the new content, two writers never share a
 * temporary file, and a planted symlink is never written through. Reads
 * open with O_NOFOLLOW and accept only a regular file, capped in size.
 *
 * The cache holds no trust: what callers read back must be verified again
 * (and callers write only what verified). Entries are mode 0644 in a 0700
 * directory created on first write.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tee/tee_internal.h"

#define NAME_MAX_LEN 200

static bool name_ok(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > NAME_MAX_LEN || name[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

int mk_tee_cache_path(const char *dir, const char *name, char *out, size_t n, mk_error *err) {
    if (!dir || !dir[0]) return mk_error_set(err, MK_EINVAL, "no cache directory");
    if (!name_ok(name)) return mk_error_set(err, MK_EINVAL, "bad cache entry name");
    int w = snprintf(out, n, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= n) return mk_error_set(err, MK_EINVAL, "cache path too long");
    return 0;
}

int mk_tee_cache_read(const char *dir, const char *name, size_t max, mk_buf *out, mk_error *err) {
    char path[4096];
    MK_TRY(mk_tee_cache_path(dir, name, path, sizeof path, err));
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return mk_error_set(err, e == ENOENT ? MK_ENOTFOUND : MK_EIO, "%s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mk_error_set(err, MK_EIO, "%s: not a regular file", path);
    }
    size_t len0 = out->len, total = 0;
    uint8_t chunk[16384];
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = mk_error_set(err, MK_EIO, "%s: %s", path, strerror(errno));
            break;
        }
        if (r == 0) break;
        if ((size_t)r > max - total) {
            rc = mk_error_set(err, MK_ETOOBIG, "%s: larger than %zu bytes", path, max);
            break;
        }
        total += (size_t)r;
        if ((rc = mk_buf_append(out, chunk, (size_t)r)) < 0) {
            mk_error_set(err, rc, "%s: %s", path, mk_strerror(rc));
            break;
        }
    }
    close(fd);
    if (rc < 0) out->len = len0;
    return rc;
}

int mk_tee_cache_write(const char *dir, const char *name, const void *data, size_t len,
                       mk_error *err) {
    char path[4096];
    MK_TRY(mk_tee_cache_path(dir, name, path, sizeof path, err));
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return mk_error_set(err, MK_EIO, "cannot create %s: %s", dir, strerror(errno));
    mk_error e;
    mk_error_clear(&e);
    int rc = mk_file_write(path, data, len, 0644, &e);
    if (rc < 0) return mk_error_set(err, rc, "cannot write %s: %s", path, e.msg);
    return 0;
}

void mk_tee_cache_remove(const char *dir, const char *name) {
    char path[4096];
    if (mk_tee_cache_path(dir, name, path, sizeof path, NULL) == 0) unlink(path);
}
