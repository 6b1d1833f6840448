/*
 * core/bytes.c — the bounds-checked reader and the growable buffer.
 *
 * Reader invariant: off <= len at all times. Every read first compares the
 * requested size with len - off (never off + n, which could overflow) and
 * fails with MK_ETRUNC leaving the cursor where it was. Multi-byte integers
 * are assembled byte by byte, so unaligned and endianness-independent.
 *
 * Buffer invariant: len <= cap <= max. Growth doubles (capped at max), and
 * a request beyond max fails with MK_ETOOBIG without touching the data.
 *
 * Files: mk_file_read appends to the buffer and, on failure, truncates it
 * back to its length on entry (bad input changes nothing). mk_file_write
 * writes a new temporary file next to the target, created with O_EXCL |
 * O_NOFOLLOW under an unpredictable name (pid, counter and random bytes;
 * retried on collision), then fsyncs and renames it over the target, so a
 * reader sees the old or the new content, two writers never share a
 * temporary file, and a planted symlink is never followed.
 */
#include "mosaik/bytes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

void mk_reader_init(mk_reader *r, const void *data, size_t len) {
    r->data = data;
    r->len = data ? len : 0;
    r->off = 0;
}

size_t mk_reader_remaining(const mk_reader *r) {
    return r->len - r->off;
}

size_t mk_reader_offset(const mk_reader *r) {
    return r->off;
}

bool mk_reader_done(const mk_reader *r) {
    return r->off == r->len;
}

int mk_reader_peek(const mk_reader *r, size_t n, const uint8_t **out) {
    if (n > r->len - r->off) return MK_ETRUNC;
    *out = r->data + r->off;
    return 0;
}

int mk_read_view(mk_reader *r, size_t n, const uint8_t **out) {
    MK_TRY(mk_reader_peek(r, n, out));
    r->off += n;
    return 0;
}

int mk_read_bytes(mk_reader *r, void *dst, size_t n) {
    const uint8_t *p;
    MK_TRY(mk_read_view(r, n, &p));
    if (n) memcpy(dst, p, n);
    return 0;
}

int mk_read_skip(mk_reader *r, size_t n) {
    const uint8_t *p;
    return mk_read_view(r, n, &p);
}

int mk_read_sub(mk_reader *r, size_t n, mk_reader *sub) {
    const uint8_t *p;
    MK_TRY(mk_read_view(r, n, &p));
    mk_reader_init(sub, p, n);
    return 0;
}

static int read_uint(mk_reader *r, size_t n, bool big, uint64_t *out) {
    const uint8_t *p;
    MK_TRY(mk_read_view(r, n, &p));
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        size_t idx = big ? i : n - 1 - i;
        v = (v << 8) | p[idx];
    }
    *out = v;
    return 0;
}

int mk_read_u8(mk_reader *r, uint8_t *out) {
    uint64_t v;
    MK_TRY(read_uint(r, 1, false, &v));
    *out = (uint8_t)v;
    return 0;
}
int mk_read_u16le(mk_reader *r, uint16_t *out) {
    uint64_t v;
    MK_TRY(read_uint(r, 2, false, &v));
    *out = (uint16_t)v;
    return 0;
}
int mk_read_u32le(mk_reader *r, uint32_t *out) {
    uint64_t v;
    MK_TRY(read_uint(r, 4, false, &v));
    *out = (uint32_t)v;
    return 0;
}
int mk_read_u64le(mk_reader *r, uint64_t *out) {
    return read_uint(r, 8, false, out);
}
int mk_read_u16be(mk_reader *r, uint16_t *out) {
    uint64_t v;
    MK_TRY(read_uint(r, 2, true, &v));
    *out = (uint16_t)v;
    return 0;
}
int mk_read_u32be(mk_reader *r, uint32_t *out) {
    uint64_t v;
    MK_TRY(read_uint(r, 4, true, &v));
    *out = (uint32_t)v;
    return 0;
}
int mk_read_u64be(mk_reader *r, uint64_t *out) {
    return read_uint(r, 8, true, out);
}

static int read_len(mk_reader *r, size_t width, bool big, size_t max, size_t *out) {
    size_t save = r->off;
    uint64_t v;
    MK_TRY(read_uint(r, width, big, &v));
    if (v > max) {
        r->off = save;
        return MK_ETOOBIG;
    }
    if (v > r->len - r->off) {
        r->off = save;
        return MK_ETRUNC;
    }
    *out = (size_t)v;
    return 0;
}

int mk_read_len16le(mk_reader *r, size_t max, size_t *out) {
    return read_len(r, 2, false, max, out);
}
int mk_read_len32le(mk_reader *r, size_t max, size_t *out) {
    return read_len(r, 4, false, max, out);
}
int mk_read_len32be(mk_reader *r, size_t max, size_t *out) {
    return read_len(r, 4, true, max, out);
}

/* ---- buffer ---- */

static size_t buf_max(const mk_buf *b) {
    return b->max ? b->max : MK_BUF_DEFAULT_MAX;
}

void mk_buf_init(mk_buf *b, size_t max) {
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void mk_buf_free(mk_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void mk_buf_wipe_free(mk_buf *b) {
    if (b->data) OPENSSL_cleanse(b->data, b->cap);
    mk_buf_free(b);
}

void mk_buf_reset(mk_buf *b) {
    b->len = 0;
}

int mk_buf_reserve(mk_buf *b, size_t extra) {
    size_t max = buf_max(b);
    if (extra > max || b->len > max - extra) return MK_ETOOBIG;
    size_t need = b->len + extra;
    if (need <= b->cap) return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need) ncap = ncap > max / 2 ? max : ncap * 2;
    uint8_t *p = realloc(b->data, ncap);
    if (!p) return MK_ENOMEM;
    b->data = p;
    b->cap = ncap;
    return 0;
}

int mk_buf_append(mk_buf *b, const void *data, size_t n) {
    if (!n) return 0;
    MK_TRY(mk_buf_reserve(b, n));
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

uint8_t *mk_buf_extend(mk_buf *b, size_t n) {
    /* Reserve at least one byte so the result is never NULL + 0. */
    if (mk_buf_reserve(b, n ? n : 1) < 0) return NULL;
    uint8_t *p = b->data + b->len;
    memset(p, 0, n);
    b->len += n;
    return p;
}

static int append_uint(mk_buf *b, uint64_t v, size_t n, bool big) {
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++) {
        size_t idx = big ? n - 1 - i : i;
        tmp[idx] = (uint8_t)(v >> (8 * i));
    }
    return mk_buf_append(b, tmp, n);
}

int mk_buf_append_u8(mk_buf *b, uint8_t v) {
    return mk_buf_append(b, &v, 1);
}
int mk_buf_append_u16le(mk_buf *b, uint16_t v) {
    return append_uint(b, v, 2, false);
}
int mk_buf_append_u32le(mk_buf *b, uint32_t v) {
    return append_uint(b, v, 4, false);
}
int mk_buf_append_u64le(mk_buf *b, uint64_t v) {
    return append_uint(b, v, 8, false);
}
int mk_buf_append_u16be(mk_buf *b, uint16_t v) {
    return append_uint(b, v, 2, true);
}
int mk_buf_append_u32be(mk_buf *b, uint32_t v) {
    return append_uint(b, v, 4, true);
}
int mk_buf_append_u64be(mk_buf *b, uint64_t v) {
    return append_uint(b, v, 8, true);
}

int mk_buf_append_str(mk_buf *b, const char *s) {
    return mk_buf_append(b, s, strlen(s));
}

int mk_buf_printf(mk_buf *b, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return MK_EINVAL;
    }
    int rc = mk_buf_reserve(b, (size_t)n + 1);
    if (rc < 0) {
        va_end(ap2);
        return rc;
    }
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

uint8_t *mk_buf_steal(mk_buf *b, size_t *len) {
    uint8_t *p = b->data;
    if (len) *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

int mk_file_read(const char *path, size_t max, mk_buf *b, mk_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mk_error_set(err, MK_EIO, "%s: %s", path, strerror(errno));
    uint8_t chunk[16384];
    size_t total = 0, len0 = b->len;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            b->len = len0;
            return mk_error_set(err, MK_EIO, "%s: %s", path, strerror(e));
        }
        if (n == 0) break;
        if ((size_t)n > max - total) {
            close(fd);
            b->len = len0;
            return mk_error_set(err, MK_ETOOBIG, "%s: larger than %zu bytes", path, max);
        }
        total += (size_t)n;
        int rc = mk_buf_append(b, chunk, (size_t)n);
        if (rc < 0) {
            close(fd);
            b->len = len0;
            return mk_error_set(err, rc, "%s: %s", path, mk_strerror(rc));
        }
    }
    close(fd);
    return 0;
}

int mk_file_write(const char *path, const void *data, size_t len, unsigned mode, mk_error *err) {
    static atomic_ulong counter; /* uniqueness within the process */
    size_t plen = strlen(path);
    size_t tlen = plen + 64;
    char *tmp = malloc(tlen);
    if (!tmp) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int fd = -1;
    for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
        uint64_t rnd = 0;
        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
            rnd = (uint64_t)(uintptr_t)tmp ^ ((uint64_t)attempt << 32);
        snprintf(tmp, tlen, "%s.tmp.%d.%lu.%016llx", path, (int)getpid(),
                 atomic_fetch_add(&counter, 1) + 1,
                 (unsigned long long)rnd);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return mk_error_set(err, MK_EIO, "%s: %s", path, strerror(e));
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            free(tmp);
            return mk_error_set(err, MK_EIO, "%s: %s", path, strerror(e));
        }
        p += n;
        left -= (size_t)n;
    }
    int bad = fsync(fd) < 0;
    if (close(fd) < 0) bad = 1;
    if (bad || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return mk_error_set(err, MK_EIO, "%s: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}
