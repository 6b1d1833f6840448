/*
 * tar.c — reading a tar archive (the root filesystem mmdebstrap writes) into
 * the builder's CPIO archive.
 *
 * Format: 512-byte headers (ustar: name @0, mode @100, uid @108, gid @116,
 * size @124, checksum @148, type @156, linkname @157, magic @257, prefix
 * @345), data padded to 512 bytes, end at a zero block. Numbers are octal,
 * or base-256 when the first byte has its high bit set. The header checksum
 * (sum of the header bytes with the checksum field read as spaces) must
 * match. Extensions: pax records ('x': "LEN key=value\n", keys path,
 * linkpath, size, uid, gid; 'g' is ignored) and GNU long names ('L', 'K')
 * apply to the next entry only.
 *
 * Mapping: a leading "./" or "/" is dropped, "." itself is skipped;
 * directories, regular files, symlinks keep their permission bits and
 * numeric owner; a hard link becomes a copy of its (earlier) target;
 * anything under dev/ is skipped (the image mounts devtmpfs there); other
 * types (devices, fifos elsewhere) are refused. Every byte is read through
 * mk_reader; sizes are bounded by the archive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/tdx/build/build_internal.h"

#define PATHCAP (MK_CPIO_PATH_MAX + 2)

typedef struct pending {
    char path[PATHCAP], link[PATHCAP];
    bool have_path, have_link, have_size, have_uid, have_gid;
    uint64_t size, uid, gid;
} pending;

static int number(const uint8_t *f, size_t n, uint64_t *out) {
    uint64_t v = 0;
    if (f[0] & 0x80) { /* base-256 */
        v = f[0] & 0x7f;
        for (size_t i = 1; i < n; i++) {
            if (v >> 55) return MK_EMALFORMED;
            v = (v << 8) | f[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < n && f[i] == ' ')
        i++;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60) return MK_EMALFORMED;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    if (i < n && f[i] != 0 && f[i] != ' ') return MK_EMALFORMED;
    *out = v;
    return 0;
}

static bool checksum_ok(const uint8_t *h) {
    uint64_t want;
    if (number(h + 148, 8, &want) < 0) return false;
    uint64_t sum = 0;
    for (size_t i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return sum == want;
}

/* A NUL-padded field as a string. */
static void str_field(const uint8_t *f, size_t n, char *out, size_t cap) {
    size_t l = 0;
    while (l < n && f[l])
        l++;
    if (l >= cap) l = cap - 1;
    memcpy(out, f, l);
    out[l] = 0;
}

/* The records of a pax extended header into p. */
static int pax(const uint8_t *d, size_t n, pending *p) {
    mk_reader r;
    mk_reader_init(&r, d, n);
    while (mk_reader_remaining(&r) > 0) {
        const uint8_t *rest;
        size_t left = mk_reader_remaining(&r);
        MK_TRY(mk_reader_peek(&r, left, &rest));
        size_t len = 0, i = 0;
        while (i < left && rest[i] >= '0' && rest[i] <= '9' && len < (1u << 20))
            len = len * 10 + (size_t)(rest[i++] - '0');
        if (i == left || rest[i] != ' ' || len <= i + 1 || len > left || rest[len - 1] != '\n')
            return MK_EMALFORMED;
        const char *kv = (const char *)rest + i + 1;
        size_t kvl = len - i - 2;
        const char *eq = memchr(kv, '=', kvl);
        if (!eq) return MK_EMALFORMED;
        size_t kl = (size_t)(eq - kv), vl = kvl - kl - 1;
        char val[PATHCAP];
        if (vl >= sizeof val) return MK_ETOOBIG;
        memcpy(val, eq + 1, vl);
        val[vl] = 0;
        if (kl == 4 && !memcmp(kv, "path", 4)) {
            memcpy(p->path, val, vl + 1);
            p->have_path = true;
        } else if (kl == 8 && !memcmp(kv, "linkpath", 8)) {
            memcpy(p->link, val, vl + 1);
            p->have_link = true;
        } else if (kl == 4 && !memcmp(kv, "size", 4)) {
            p->size = strtoull(val, NULL, 10);
            p->have_size = true;
        } else if (kl == 3 && !memcmp(kv, "uid", 3)) {
            p->uid = strtoull(val, NULL, 10);
            p->have_uid = true;
        } else if (kl == 3 && !memcmp(kv, "gid", 3)) {
            p->gid = strtoull(val, NULL, 10);
            p->have_gid = true;
        }
        MK_TRY(mk_read_skip(&r, len));
    }
    return 0;
}

/* "./usr/bin/" -> "usr/bin"; "" for the root. */
static void normalize(char *p) {
    char *s = p;
    while (s[0] == '.' && s[1] == '/')
        s += 2;
    while (*s == '/')
        s++;
    if (!strcmp(s, ".")) s += 1;
    memmove(p, s, strlen(s) + 1);
    size_t l = strlen(p);
    while (l && p[l - 1] == '/')
        p[--l] = 0;
}

typedef struct entry {
    char type;
    unsigned mode;
    uint64_t uid, gid;
    char path[PATHCAP], link[PATHCAP];
    const uint8_t *data;
    size_t size;
} entry;

static int add(mk_cpio *c, const entry *e, mk_error *err) {
    if (!e->path[0]) return 0;
    if (!strncmp(e->path, "dev/", 4)) return 0;
    int rc;
    if (e->type == '5' && mk_cpio_has(c, e->path, NULL)) return 0;
    MK_TRY(mk_cpio_add_parents(c, e->path, 0755, err));
    switch (e->type) {
    case '0':
    case '\0':
    case '7':
        rc = mk_cpio_add_file(c, e->path, e->mode, e->data, e->size, err);
        break;
    case '1': {
        char t[PATHCAP];
        const uint8_t *d;
        size_t n;
        snprintf(t, sizeof t, "%s", e->link);
        normalize(t);
        if (mk_cpio_file_data(c, t, &d, &n) < 0)
            return mk_error_set(err, MK_EMALFORMED, "tar: hard link %s to %s, not an earlier file",
                                e->path, t);
        rc = mk_cpio_add_file(c, e->path, e->mode, d, n, err);
        break;
    }
    case '2':
        rc = mk_cpio_add_symlink(c, e->path, e->link, err);
        break;
    case '5':
        rc = mk_cpio_add_dir(c, e->path, e->mode, err);
        break;
    default:
        return mk_error_set(err, MK_EINVAL, "tar: %s: entry type '%c' is not supported", e->path,
                            e->type);
    }
    if (rc == 0 && (e->uid || e->gid)) {
        if (e->uid > 0xffffffffu || e->gid > 0xffffffffu)
            return mk_error_set(err, MK_EINVAL, "tar: %s: owner beyond 32 bits", e->path);
        rc = mk_cpio_set_owner(c, e->path, (uint32_t)e->uid, (uint32_t)e->gid, err);
    }
    return rc;
}

/* One header (h) and its data: an extension into p, or an entry. */
static int header(mk_cpio *c, const uint8_t *h, mk_reader *r, pending *p, mk_error *err) {
    if (!checksum_ok(h)) return mk_error_set(err, MK_EMALFORMED, "tar: bad header checksum");
    entry e;
    memset(&e, 0, sizeof e);
    uint64_t size, mode;
    if (number(h + 124, 12, &size) < 0 || number(h + 100, 8, &mode) < 0 ||
        number(h + 108, 8, &e.uid) < 0 || number(h + 116, 8, &e.gid) < 0)
        return mk_error_set(err, MK_EMALFORMED, "tar: bad number in a header");
    e.type = (char)h[156];
    if (p->have_size) size = p->size;
    if (size > mk_reader_remaining(r))
        return mk_error_set(err, MK_EMALFORMED, "tar: entry data beyond the archive");
    const uint8_t *data = NULL;
    if (mk_read_view(r, (size_t)size, &data) < 0 ||
        mk_read_skip(r, (size_t)((512 - size % 512) % 512)) < 0)
        return mk_error_set(err, MK_EMALFORMED, "tar: truncated entry");
    if (e.type == 'x' || e.type == 'g') {
        if (e.type == 'x' && pax(data, (size_t)size, p) < 0)
            return mk_error_set(err, MK_EMALFORMED, "tar: bad pax header");
        return 0;
    }
    if (e.type == 'L' || e.type == 'K') {
        char *dst = e.type == 'L' ? p->path : p->link;
        str_field(data, (size_t)size, dst, PATHCAP);
        *(e.type == 'L' ? &p->have_path : &p->have_link) = true;
        return 0;
    }
    if (p->have_path) {
        memcpy(e.path, p->path, PATHCAP);
    } else {
        char name[101], prefix[156];
        str_field(h, 100, name, sizeof name);
        str_field(h + 345, 155, prefix, sizeof prefix);
        snprintf(e.path, sizeof e.path, "%s%s%s", prefix, prefix[0] ? "/" : "", name);
    }
    if (p->have_link)
        memcpy(e.link, p->link, PATHCAP);
    else
        str_field(h + 157, 100, e.link, sizeof e.link);
    if (p->have_uid) e.uid = p->uid;
    if (p->have_gid) e.gid = p->gid;
    memset(p, 0, sizeof *p);
    normalize(e.path);
    e.mode = (unsigned)(mode & 07777);
    e.data = data;
    e.size = (size_t)size;
    int rc = add(c, &e, err);
    if (rc < 0) mk_error_prefix(err, rc, "rootfs");
    return rc;
}

int mk_tdx_tar_import(mk_cpio *c, const uint8_t *tar, size_t len, mk_error *err) {
    mk_reader r;
    mk_reader_init(&r, tar, len);
    pending *p = calloc(1, sizeof *p);
    if (!p) return mk_error_set(err, MK_ENOMEM, "out of memory");
    static const uint8_t zero[512];
    int rc = 0;
    while (rc == 0) {
        const uint8_t *h;
        if (mk_read_view(&r, 512, &h) < 0) {
            rc = mk_error_set(err, MK_EMALFORMED, "tar: archive ends without an end marker");
            break;
        }
        if (!memcmp(h, zero, 512)) break;
        rc = header(c, h, &r, p, err);
    }
    free(p);
    return rc;
}
