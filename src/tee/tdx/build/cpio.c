/*
 * cpio.c — a deterministic writer of "newc" CPIO archives (the format the
 * Linux kernel unpacks as initramfs) and a deterministic gzip wrapper.
 *
 * newc entry layout (all numbers 8 uppercase hex digits, no NUL):
 *   "070701" ino mode uid gid nlink mtime filesize devmajor devminor
 *   rdevmajor rdevminor namesize check      (110 bytes)
 *   name + NUL, zero-padded so header+name is a multiple of 4
 *   data (filesize bytes; a symlink's data is its target), zero-padded to 4
 * The archive ends with an entry named "TRAILER!!!" (ino 0, mode 0, nlink 1).
 *
 * Determinism rules (docs/tdx-builder.md): entries are sorted bytewise by
 * path — a prefix sorts before its extensions, so every directory comes
 * before its contents — and numbered ino = 1..n in that order; uid = gid =
 * 0 unless an owner was set for the entry (a Debian root filesystem keeps
 * its package owners); nlink = 2 for directories, 1 otherwise (the kernel
 * treats a regular file with nlink >= 2 as a hard-link candidate); every
 * mtime is the one given; devmajor/devminor/check are 0. No trailing block
 * padding.
 *
 * Invariants: paths are validated on insertion (relative, no empty/./..
 * components, printable ASCII, length caps), a path is present at most once,
 * at most MK_CPIO_MAX_ENTRIES entries, every file < 4 GiB and the archive
 * at most MK_CPIO_MAX_ARCHIVE bytes. A failed call leaves the archive as it
 * was. mk_cpio_write refuses an entry whose parent directory is missing.
 * Paths are found through an open-addressing hash index (FNV-1a, linear
 * probing, at most half full) so that archives of tens of thousands of
 * entries (a Debian userland) are assembled in linear time.
 *
 * gzip (RFC 1952): a fixed 10-byte header (1f 8b, CM 8, FLG 0, MTIME 0,
 * XFL 2, OS 3), a raw deflate stream from zlib (level 9, window 15,
 * memLevel 8, default strategy), CRC-32 and ISIZE little-endian. The bytes
 * depend only on the input and the zlib implementation (recorded in
 * measurements.json by the builder).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "tee/tdx/build/cpio.h"

typedef struct cpio_entry {
    char *path;
    mk_cpio_kind kind;
    unsigned perm;
    unsigned rmajor, rminor;
    uint32_t uid, gid;
    uint8_t *data; /* file contents or symlink target; may be NULL when len 0 */
    size_t len;
} cpio_entry;

struct mk_cpio {
    cpio_entry *e;
    size_t n, cap;
    size_t *slot; /* hash index: entry index + 1, 0 = empty */
    size_t nslot; /* power of two, > 2 * n */
};

mk_cpio *mk_cpio_new(void) {
    return calloc(1, sizeof(mk_cpio));
}

void mk_cpio_free(mk_cpio *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].path);
        free(c->e[i].data);
    }
    free(c->e);
    free(c->slot);
    free(c);
}

size_t mk_cpio_count(const mk_cpio *c) {
    return c ? c->n : 0;
}

/* ---- validation -------------------------------------------------------- */

static int check_path(const char *path, mk_error *err) {
    if (!path || !*path) return mk_error_set(err, MK_EINVAL, "cpio: empty path");
    size_t len = strnlen(path, MK_CPIO_PATH_MAX + 1);
    if (len > MK_CPIO_PATH_MAX)
        return mk_error_set(err, MK_EINVAL, "cpio: path longer than %d bytes: '%.40s...'",
                            MK_CPIO_PATH_MAX, path);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char ch = (unsigned char)path[i];
        if (ch == '/' || ch == 0) {
            size_t clen = i - start;
            if (clen == 0)
                return mk_error_set(err, MK_EINVAL,
                                    "cpio: path '%s' has an empty component (leading, "
                                    "trailing or double '/')",
                                    path);
            if ((clen == 1 && path[start] == '.') ||
                (clen == 2 && path[start] == '.' && path[start + 1] == '.'))
                return mk_error_set(err, MK_EINVAL, "cpio: path '%s' has a '.' or '..' component",
                                    path);
            if (clen > MK_CPIO_COMPONENT_MAX)
                return mk_error_set(err, MK_EINVAL,
                                    "cpio: a component of '%.40s...' is longer than %d bytes", path,
                                    MK_CPIO_COMPONENT_MAX);
            start = i + 1;
            continue;
        }
        if (ch <= 0x20 || ch >= 0x7f)
            return mk_error_set(err, MK_EINVAL,
                                "cpio: path '%.60s' has a byte 0x%02x that is not printable "
                                "ASCII",
                                path, ch);
    }
    return 0;
}

static size_t path_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

/* The slot holding path, or the empty slot where it would go. */
static size_t *slot_of(const mk_cpio *c, const char *path) {
    size_t mask = c->nslot - 1;
    for (size_t i = path_hash(path) & mask;; i = (i + 1) & mask)
        if (!c->slot[i] || strcmp(c->e[c->slot[i] - 1].path, path) == 0) return &c->slot[i];
}

static cpio_entry *find(const mk_cpio *c, const char *path) {
    if (!c->nslot) return NULL;
    size_t *s = slot_of(c, path);
    return *s ? &c->e[*s - 1] : NULL;
}

/* Keep the index at most half full (rebuilt on growth). */
static int index_reserve(mk_cpio *c, size_t n) {
    if (c->nslot > 2 * n) return 0;
    size_t ns = c->nslot ? c->nslot : 64;
    while (ns <= 2 * n)
        ns *= 2;
    size_t *old = c->slot;
    c->slot = calloc(ns, sizeof *c->slot);
    if (!c->slot) {
        c->slot = old;
        return MK_ENOMEM;
    }
    free(old);
    c->nslot = ns;
    for (size_t i = 0; i < c->n; i++)
        *slot_of(c, c->e[i].path) = i + 1;
    return 0;
}

static int add_entry(mk_cpio *c, const char *path, mk_cpio_kind kind, unsigned perm,
                     unsigned rmajor, unsigned rminor, const void *data, size_t len,
                     mk_error *err) {
    if (!c) return mk_error_set(err, MK_EINVAL, "cpio: NULL archive");
    MK_TRY(check_path(path, err));
    if (perm > 07777)
        return mk_error_set(err, MK_EINVAL, "cpio: '%s': mode %o has bits beyond 07777", path,
                            perm);
    if (len > 0xffffffffu)
        return mk_error_set(err, MK_ETOOBIG, "cpio: '%s': %zu bytes exceed the 4 GiB newc limit",
                            path, len);
    if (find(c, path)) return mk_error_set(err, MK_EINVAL, "cpio: duplicate path '%s'", path);
    if (c->n >= MK_CPIO_MAX_ENTRIES)
        return mk_error_set(err, MK_ETOOBIG, "cpio: more than %d entries", MK_CPIO_MAX_ENTRIES);
    if (index_reserve(c, c->n + 1) < 0) return mk_error_set(err, MK_ENOMEM, "cpio: out of memory");
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 32;
        cpio_entry *ne = realloc(c->e, ncap * sizeof *ne);
        if (!ne) return mk_error_set(err, MK_ENOMEM, "cpio: out of memory");
        c->e = ne;
        c->cap = ncap;
    }
    cpio_entry en = {0};
    en.path = strdup(path);
    if (len) {
        en.data = malloc(len);
        if (en.data) memcpy(en.data, data, len);
    }
    if (!en.path || (len && !en.data)) {
        free(en.path);
        free(en.data);
        return mk_error_set(err, MK_ENOMEM, "cpio: out of memory");
    }
    en.kind = kind;
    en.perm = perm;
    en.rmajor = rmajor;
    en.rminor = rminor;
    en.len = len;
    c->e[c->n++] = en;
    *slot_of(c, path) = c->n;
    return 0;
}

bool mk_cpio_has(const mk_cpio *c, const char *path, mk_cpio_kind *kind) {
    const cpio_entry *e = c && path ? find(c, path) : NULL;
    if (e && kind) *kind = e->kind;
    return e != NULL;
}

int mk_cpio_file_data(const mk_cpio *c, const char *path, const uint8_t **data, size_t *len) {
    const cpio_entry *e = c && path ? find(c, path) : NULL;
    if (!e || e->kind != MK_CPIO_FILE) return MK_ENOTFOUND;
    *data = e->data;
    *len = e->len;
    return 0;
}

int mk_cpio_link_target(const mk_cpio *c, const char *path, const uint8_t **target, size_t *len) {
    const cpio_entry *e = c && path ? find(c, path) : NULL;
    if (!e || e->kind != MK_CPIO_SYMLINK) return MK_ENOTFOUND;
    *target = e->data;
    *len = e->len;
    return 0;
}

int mk_cpio_set_owner(mk_cpio *c, const char *path, uint32_t uid, uint32_t gid, mk_error *err) {
    cpio_entry *e = c && path ? find(c, path) : NULL;
    if (!e) return mk_error_set(err, MK_ENOTFOUND, "cpio: no entry '%s'", path ? path : "");
    e->uid = uid;
    e->gid = gid;
    return 0;
}

int mk_cpio_add_dir(mk_cpio *c, const char *path, unsigned perm, mk_error *err) {
    return add_entry(c, path, MK_CPIO_DIR, perm, 0, 0, NULL, 0, err);
}

int mk_cpio_add_file(mk_cpio *c, const char *path, unsigned perm, const void *data, size_t len,
                     mk_error *err) {
    if (len && !data) return mk_error_set(err, MK_EINVAL, "cpio: NULL data");
    return add_entry(c, path, MK_CPIO_FILE, perm, 0, 0, data, len, err);
}

int mk_cpio_add_symlink(mk_cpio *c, const char *path, const char *target, mk_error *err) {
    if (!target || !*target) return mk_error_set(err, MK_EINVAL, "cpio: empty symlink target");
    size_t tl = strnlen(target, MK_CPIO_PATH_MAX + 1);
    if (tl > MK_CPIO_PATH_MAX)
        return mk_error_set(err, MK_EINVAL, "cpio: symlink target longer than %d bytes",
                            MK_CPIO_PATH_MAX);
    return add_entry(c, path, MK_CPIO_SYMLINK, 0777, 0, 0, target, tl, err);
}

int mk_cpio_add_chardev(mk_cpio *c, const char *path, unsigned perm, unsigned major, unsigned minor,
                        mk_error *err) {
    if (major > 0xfff || minor > 0xfffff)
        return mk_error_set(err, MK_EINVAL, "cpio: device %u:%u out of range", major, minor);
    return add_entry(c, path, MK_CPIO_CHARDEV, perm, major, minor, NULL, 0, err);
}

int mk_cpio_add_parents(mk_cpio *c, const char *path, unsigned perm, mk_error *err) {
    if (!c) return mk_error_set(err, MK_EINVAL, "cpio: NULL archive");
    MK_TRY(check_path(path, err));
    char buf[MK_CPIO_PATH_MAX + 1];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        const cpio_entry *e = find(c, buf);
        if (!e) {
            MK_TRY(mk_cpio_add_dir(c, buf, perm, err));
        } else if (e->kind != MK_CPIO_DIR) {
            return mk_error_set(err, MK_EINVAL, "cpio: '%s' is needed as a directory for '%s'", buf,
                                path);
        }
        *p = '/';
    }
    return 0;
}

/* ---- writing ----------------------------------------------------------- */

static int cmp_entry(const void *a, const void *b) {
    const cpio_entry *x = *(const cpio_entry *const *)a, *y = *(const cpio_entry *const *)b;
    return strcmp(x->path, y->path);
}

static int cmp_key(const void *key, const void *elem) {
    const cpio_entry *y = *(const cpio_entry *const *)elem;
    return strcmp((const char *)key, y->path);
}

static uint32_t kind_bits(mk_cpio_kind k) {
    switch (k) {
    case MK_CPIO_DIR:
        return 0040000;
    case MK_CPIO_SYMLINK:
        return 0120000;
    case MK_CPIO_CHARDEV:
        return 0020000;
    case MK_CPIO_FILE:
    default:
        return 0100000;
    }
}

static int put_entry(mk_buf *out, uint32_t ino, uint32_t mode, const uint32_t owner[2],
                     uint32_t nlink, uint32_t mtime, uint32_t rmajor, uint32_t rminor,
                     const char *name, const uint8_t *data, size_t len) {
    size_t nlen = strlen(name) + 1;
    static const uint8_t zeros[4] = {0};
    MK_TRY(mk_buf_printf(out, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino,
                         mode, owner[0], owner[1], nlink, mtime, (uint32_t)len, 0u, 0u, rmajor,
                         rminor, (uint32_t)nlen, 0u));
    MK_TRY(mk_buf_append(out, name, nlen));
    size_t hn = 110 + nlen;
    MK_TRY(mk_buf_append(out, zeros, (4 - hn % 4) % 4));
    if (len) {
        MK_TRY(mk_buf_append(out, data, len));
        MK_TRY(mk_buf_append(out, zeros, (4 - len % 4) % 4));
    }
    return 0;
}

int mk_cpio_write(const mk_cpio *c, uint32_t mtime, mk_buf *out, mk_error *err) {
    if (!c || !out) return mk_error_set(err, MK_EINVAL, "cpio: NULL argument");
    /* Size first, so the cap is checked before anything is appended. */
    size_t total = 0;
    for (size_t i = 0; i <= c->n; i++) {
        size_t nlen = (i < c->n ? strlen(c->e[i].path) : 10) + 1;
        size_t dlen = i < c->n ? c->e[i].len : 0;
        total += (110 + nlen + 3) / 4 * 4 + (dlen + 3) / 4 * 4;
        if (total > MK_CPIO_MAX_ARCHIVE)
            return mk_error_set(err, MK_ETOOBIG, "cpio: archive larger than %zu bytes",
                                MK_CPIO_MAX_ARCHIVE);
    }
    const cpio_entry **sorted = calloc(c->n ? c->n : 1, sizeof *sorted);
    if (!sorted) return mk_error_set(err, MK_ENOMEM, "cpio: out of memory");
    for (size_t i = 0; i < c->n; i++)
        sorted[i] = &c->e[i];
    qsort(sorted, c->n, sizeof *sorted, cmp_entry);

    int rc = 0;
    char parent[MK_CPIO_PATH_MAX + 1];
    for (size_t i = 0; i < c->n; i++) {
        const char *slash = strrchr(sorted[i]->path, '/');
        if (!slash) continue;
        size_t pl = (size_t)(slash - sorted[i]->path);
        memcpy(parent, sorted[i]->path, pl);
        parent[pl] = 0;
        const cpio_entry *const *p = bsearch(parent, sorted, c->n, sizeof *sorted, cmp_key);
        if (!p || (*p)->kind != MK_CPIO_DIR) {
            rc = mk_error_set(err, MK_EINVAL,
                              "cpio: the parent directory '%s' of '%s' is not in the archive",
                              parent, sorted[i]->path);
            goto done;
        }
    }
    size_t start = out->len;
    rc = mk_buf_reserve(out, total);
    for (size_t i = 0; rc == 0 && i < c->n; i++) {
        const cpio_entry *e = sorted[i];
        const uint32_t owner[2] = {e->uid, e->gid};
        rc = put_entry(out, (uint32_t)(i + 1), kind_bits(e->kind) | e->perm, owner,
                       e->kind == MK_CPIO_DIR ? 2 : 1, mtime, e->rmajor, e->rminor, e->path,
                       e->data, e->len);
    }
    static const uint32_t root[2] = {0, 0};
    if (rc == 0) rc = put_entry(out, 0, 0, root, 1, 0, 0, 0, "TRAILER!!!", NULL, 0);
    if (rc < 0) {
        out->len = start;
        mk_error_set(err, rc, "cpio: cannot grow the output buffer");
    }
done:
    free(sorted);
    return rc;
}

int mk_cpio_manifest(const mk_cpio *c, mk_buf *out, mk_error *err) {
    if (!c || !out) return mk_error_set(err, MK_EINVAL, "cpio: NULL argument");
    const cpio_entry **sorted = calloc(c->n ? c->n : 1, sizeof *sorted);
    if (!sorted) return mk_error_set(err, MK_ENOMEM, "cpio: out of memory");
    for (size_t i = 0; i < c->n; i++)
        sorted[i] = &c->e[i];
    qsort(sorted, c->n, sizeof *sorted, cmp_entry);
    size_t start = out->len;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->n; i++) {
        const cpio_entry *e = sorted[i];
        char hx[2 * MK_SHA256_LEN + 1] = "-";
        if (e->kind == MK_CPIO_FILE) {
            uint8_t d[MK_SHA256_LEN];
            mk_sha256(e->data, e->len, d);
            mk_hex_encode(d, sizeof d, hx);
        }
        rc = mk_buf_printf(out, "%06o %zu %s %s", (unsigned)(kind_bits(e->kind) | e->perm), e->len,
                           hx, e->path);
        if (rc == 0 && e->kind == MK_CPIO_SYMLINK)
            rc = mk_buf_printf(out, " -> %.*s", (int)e->len, (const char *)e->data);
        if (rc == 0 && e->kind == MK_CPIO_CHARDEV)
            rc = mk_buf_printf(out, " (char %u:%u)", e->rmajor, e->rminor);
        if (rc == 0) rc = mk_buf_printf(out, "\n");
    }
    if (rc == 0) rc = mk_buf_printf(out, "%s", ""); /* NUL-terminate */
    free(sorted);
    if (rc < 0) {
        out->len = start;
        return mk_error_set(err, rc, "cpio: cannot grow the output buffer");
    }
    return 0;
}

/* ---- gzip -------------------------------------------------------------- */

int mk_gzip(const void *data, size_t len, mk_buf *out, mk_error *err) {
    if (!out || (len && !data)) return mk_error_set(err, MK_EINVAL, "gzip: NULL argument");
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return mk_error_set(err, MK_ENOMEM, "gzip: deflateInit2 failed");
    size_t start = out->len;
    static const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3};
    int rc = mk_buf_append(out, hdr, sizeof hdr);
    const uint8_t *in = data;
    size_t left = len;
    uLong crc = crc32(0L, Z_NULL, 0);
    int zr = Z_OK;
    while (rc == 0 && zr != Z_STREAM_END) {
        if (zs.avail_in == 0 && left > 0) {
            uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
            zs.next_in = (Bytef *)(uintptr_t)in;
            zs.avail_in = chunk;
            crc = crc32(crc, in, chunk);
            in += chunk;
            left -= chunk;
        }
        /* grow by up to 64 KiB, never past the buffer's cap */
        size_t cap = out->max ? out->max : MK_BUF_DEFAULT_MAX;
        size_t room = cap > out->len ? cap - out->len : 0;
        uInt step = room < (1u << 16) ? (uInt)room : (1u << 16);
        uint8_t *dst = step ? mk_buf_extend(out, step) : NULL;
        if (!dst) {
            rc = step ? MK_ENOMEM : MK_ETOOBIG;
            break;
        }
        zs.next_out = dst;
        zs.avail_out = step;
        zr = deflate(&zs, left == 0 ? Z_FINISH : Z_NO_FLUSH);
        out->len -= zs.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) rc = MK_ECRYPTO;
    }
    deflateEnd(&zs);
    if (rc == 0) rc = mk_buf_append_u32le(out, (uint32_t)crc);
    if (rc == 0) rc = mk_buf_append_u32le(out, (uint32_t)(len & 0xffffffffu));
    if (rc < 0) {
        out->len = start;
        if (rc == MK_ECRYPTO) return mk_error_set(err, MK_EINVAL, "gzip: deflate failed");
        if (rc == MK_ENOMEM) return mk_error_set(err, rc, "gzip: out of memory");
        return mk_error_set(err, MK_ETOOBIG, "gzip: output larger than the buffer allows");
    }
    return 0;
}
