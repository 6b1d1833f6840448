/*
 * net/keyfile.c — loading and saving the node's Ed25519 secret key.
 *
 * Format: the 32-byte Ed25519 seed as exactly 64 hex digits, optionally
 * followed by ASCII whitespace (a trailing newline), nothing else. Files are
 * written atomically with mode 0600. Loading opens the file once and checks
 * that descriptor (fstat, so no race between check and read): it must be a
 * regular file with no group/other permission bits, and at most 256 bytes.
 * The secret never stays in freed memory (buffers are wiped).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mosaik/encoding.h"
#include "net/net_internal.h"

#define KEYFILE_MAX 256

int mk_transport_key_save(const char *path, const mk_ed25519_key *key, mk_error *err) {
    if (!path || !key) return mk_error_set(err, MK_EINVAL, "key file: missing argument");
    char text[2 * 32 + 2];
    mk_hex_encode(key->secret, 32, text);
    text[64] = '\n';
    text[65] = 0;
    int rc = mk_file_write(path, text, 65, 0600, err);
    mk_wipe(text, sizeof text);
    if (rc < 0) return mk_error_prefix(err, rc, "key file");
    return 0;
}

int mk_transport_key_load(const char *path, mk_ed25519_key *key, mk_error *err) {
    if (!path || !key) return mk_error_set(err, MK_EINVAL, "key file: missing argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        return mk_error_set(err, e == ENOENT ? MK_ENOTFOUND : MK_EIO, "key file %s: %s", path,
                            strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return mk_error_set(err, MK_EIO, "key file %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mk_error_set(err, MK_EPOLICY, "key file %s: not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return mk_error_set(err, MK_EPOLICY,
                            "key file %s: mode %04o gives group/other access (use chmod 600)", path,
                            (unsigned)(st.st_mode & 07777));
    }
    uint8_t raw[KEYFILE_MAX + 1];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, raw + have, sizeof raw - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            mk_wipe(raw, sizeof raw);
            return mk_error_set(err, MK_EIO, "key file %s: %s", path, strerror(e));
        }
        if (n == 0) break;
        have += (size_t)n;
        if (have == sizeof raw) break;
    }
    close(fd);
    int rc = 0;
    if (have > KEYFILE_MAX) {
        rc = mk_error_set(err, MK_ETOOBIG, "key file %s: larger than %d bytes", path, KEYFILE_MAX);
        goto out;
    }
    mk_reader r;
    mk_reader_init(&r, raw, have);
    const uint8_t *hex;
    if (mk_read_view(&r, 64, &hex) < 0) {
        rc = mk_error_set(err, MK_EMALFORMED, "key file %s: expected 64 hex digits, got %zu bytes",
                          path, have);
        goto out;
    }
    while (!mk_reader_done(&r)) {
        uint8_t c;
        mk_read_u8(&r, &c);
        if (c != '\n' && c != '\r' && c != ' ' && c != '\t') {
            rc = mk_error_set(err, MK_EMALFORMED,
                              "key file %s: unexpected byte 0x%02x after 64 hex digits", path, c);
            goto out;
        }
    }
    char hexz[65];
    memcpy(hexz, hex, 64);
    hexz[64] = 0;
    uint8_t secret[32];
    rc = mk_hex_decode_exact(hexz, secret, 32, NULL);
    mk_wipe(hexz, sizeof hexz);
    if (rc < 0) {
        rc = mk_error_set(err, MK_EMALFORMED, "key file %s: not 64 hex digits", path);
        goto out;
    }
    rc = mk_ed25519_from_secret(secret, key);
    mk_wipe(secret, sizeof secret);
    if (rc < 0) rc = mk_error_set(err, rc, "key file %s: not an Ed25519 secret", path);
out:
    mk_wipe(raw, sizeof raw);
    return rc;
}

int mk_transport_key_load_or_create(const char *path, mk_ed25519_key *key, mk_error *err) {
    int rc = mk_transport_key_load(path, key, err);
    if (rc != MK_ENOTFOUND) return rc;
    rc = mk_ed25519_generate(key);
    if (rc < 0) return mk_error_set(err, rc, "key generation failed");
    return mk_transport_key_save(path, key, err);
}
