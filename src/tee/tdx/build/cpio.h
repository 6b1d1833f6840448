/*
 * src/tee/tdx/build/cpio.h — a deterministic newc CPIO writer and a
 * deterministic gzip wrapper (src/tee/tdx/build/cpio.c), the building
 * blocks of the TDX image builder's initramfs (docs/tdx-builder.md).
 *
 * Shared inside tee/tdx/build (image.c) and with the builder's tests; not
 * installed, not part of the public API.
 */
#ifndef MOSAIK_TDX_BUILD_CPIO_H
#define MOSAIK_TDX_BUILD_CPIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/error.h"

#define MK_CPIO_PATH_MAX 1023                 /* bytes of an archive path */
#define MK_CPIO_COMPONENT_MAX 255             /* bytes of one path component */
#define MK_CPIO_MAX_ENTRIES 32768             /* entries in one archive */
#define MK_CPIO_MAX_ARCHIVE ((size_t)1 << 30) /* bytes of the whole archive */

typedef enum mk_cpio_kind {
    MK_CPIO_DIR = 1,
    MK_CPIO_FILE = 2,
    MK_CPIO_SYMLINK = 3,
    MK_CPIO_CHARDEV = 4,
} mk_cpio_kind;

/* An archive under construction: a set of entries, written sorted. */
typedef struct mk_cpio mk_cpio;

mk_cpio *mk_cpio_new(void);
void mk_cpio_free(mk_cpio *c);
size_t mk_cpio_count(const mk_cpio *c);

/* Paths are relative ("bin/busybox"): no leading or trailing '/', no empty,
 * "." or ".." components, printable ASCII other than space, at most
 * MK_CPIO_PATH_MAX bytes (MK_CPIO_COMPONENT_MAX per component). A path may
 * be added once. perm holds permission bits only (<= 07777). */
int mk_cpio_add_dir(mk_cpio *c, const char *path, unsigned perm, mk_error *err);
/* The data is copied. */
int mk_cpio_add_file(mk_cpio *c, const char *path, unsigned perm, const void *data, size_t len,
                     mk_error *err);
int mk_cpio_add_symlink(mk_cpio *c, const char *path, const char *target, mk_error *err);
int mk_cpio_add_chardev(mk_cpio *c, const char *path, unsigned perm, unsigned major, unsigned minor,
                        mk_error *err);
/* Whether path is an entry (and its kind, when kind is not NULL). */
bool mk_cpio_has(const mk_cpio *c, const char *path, mk_cpio_kind *kind);
/* A regular file's contents (borrowed); MK_ENOTFOUND when path is not one. */
int mk_cpio_file_data(const mk_cpio *c, const char *path, const uint8_t **data, size_t *len);
/* A symlink's target (borrowed, not NUL-terminated); MK_ENOTFOUND. */
int mk_cpio_link_target(const mk_cpio *c, const char *path, const uint8_t **target, size_t *len);
/* Numeric owner of an existing entry (default 0:0). */
int mk_cpio_set_owner(mk_cpio *c, const char *path, uint32_t uid, uint32_t gid, mk_error *err);
/* Add every missing ancestor directory of path with mode perm. */
int mk_cpio_add_parents(mk_cpio *c, const char *path, unsigned perm, mk_error *err);

/* Append the archive to out: entries sorted bytewise by path (so every
 * directory precedes its contents), inodes 1..n in that order, uid:gid as
 * set (default 0:0), nlink 2 for directories and 1 otherwise, every mtime = mtime, then
 * the "TRAILER!!!" entry. Fails (MK_EINVAL) when an entry's parent
 * directory is not itself an entry. */
int mk_cpio_write(const mk_cpio *c, uint32_t mtime, mk_buf *out, mk_error *err);

/* A text listing for auditing, one line per entry in archive order:
 * "<octal mode> <size> <sha256 or -> <path>[ -> <target>]". Appended,
 * NUL-terminated. */
int mk_cpio_manifest(const mk_cpio *c, mk_buf *out, mk_error *err);

/* Deterministic gzip (RFC 1952) of data: zlib deflate level 9, header with
 * mtime 0, no name, XFL 2, OS 3 (Unix). Appended to out. */
int mk_gzip(const void *data, size_t len, mk_buf *out, mk_error *err);

#endif
