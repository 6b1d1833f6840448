/*
 * mosaik/tdx_build.h — building a bootable TDX guest image (`mosaik tdx
 * build`): a deterministic gzip'd newc CPIO initramfs holding busybox, a
 * generated /init and the user's statically linked program, next to a QEMU
 * launch script, the expected measurements (measurements.json, computed with
 * mosaik/tdx_measure.h) and a C header pinning them (docs/tdx-builder.md).
 *
 * Determinism: the same inputs and options give byte-identical outputs.
 * Archive entries are sorted by path, numbered from inode 1 in that order,
 * owned by 0:0 with one fixed mtime (SOURCE_DATE_EPOCH or 0); the gzip
 * header carries mtime 0 and no file name.
 *
 * The CPIO writer and the gzip wrapper the builder uses are internal
 * (src/tee/tdx/build/cpio.h), as is the archive-only step
 * (src/tee/tdx/build/build_internal.h).
 */
#ifndef MOSAIK_TDX_BUILD_H
#define MOSAIK_TDX_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/error.h"
#include "mosaik/export.h"
#include "mosaik/tdx_measure.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* The image builder (src/tee/tdx/build/image.c)                        */
/* ------------------------------------------------------------------ */

#define MK_TDX_BUILD_MAX_INPUT ((size_t)512 << 20) /* one input file */
#define MK_TDX_BUILD_MAX_EXTRAS 256
#define MK_TDX_BUILD_MAX_MODULES 99
#define MK_TDX_BUILD_DEFAULT_CPUS 2
#define MK_TDX_BUILD_DEFAULT_MEMORY 2048 /* MiB */
#define MK_TDX_BUILD_DEFAULT_CMDLINE "console=ttyS0 panic=-1"
#define MK_TDX_BUILD_DEFAULT_BUSYBOX "/bin/busybox"

/* Output file names (in the output directory). */
#define MK_TDX_BUILD_INITRD "initrd.cpio.gz"
#define MK_TDX_BUILD_KERNEL "vmlinuz"
#define MK_TDX_BUILD_FIRMWARE "OVMF.fd"
#define MK_TDX_BUILD_LAUNCH "launch-tdx.sh"
#define MK_TDX_BUILD_MEASUREMENTS "measurements.json"
#define MK_TDX_BUILD_HEADER "mosaik_measurements.h"
#define MK_TDX_BUILD_MANIFEST "initrd.manifest"

typedef struct mk_tdx_build_extra {
    const char *src;  /* host file */
    const char *dest; /* absolute path in the guest, e.g. "/etc/app.conf" */
} mk_tdx_build_extra;

typedef struct mk_tdx_build_opts {
    const char *program; /* required: statically linked ELF, runs as /usr/bin/<name> */
    const char *kernel;  /* bzImage with EFI stub; NULL: no RTMR1/RTMR2, no vmlinuz */
    const char *ovmf;    /* TDX-capable OVMF; NULL: no MRTD, no OVMF.fd */
    const char *busybox; /* NULL: MK_TDX_BUILD_DEFAULT_BUSYBOX */
    const mk_tdx_build_extra *extras;
    size_t nextras;
    const char *const *modules; /* kernel modules, insmod'ed in this order */
    size_t nmodules;
    const char *ssh_key;           /* authorized_keys for /root/.ssh (NULL: none) */
    unsigned cpus;                 /* 0: default */
    unsigned memory_mib;           /* 0: default */
    const char *cmdline;           /* NULL: MK_TDX_BUILD_DEFAULT_CMDLINE */
    const mk_tdx_profile *profile; /* NULL: MK_TDX_DEFAULT_PROFILE */
    bool allow_dynamic;            /* accept an ELF program with PT_INTERP */
    int64_t mtime;                 /* < 0: SOURCE_DATE_EPOCH if set, else 0 */
    const char *out_dir;           /* created if missing (its parent must exist) */
} mk_tdx_build_opts;

typedef struct mk_tdx_build_result {
    size_t initrd_len;
    uint8_t initrd_sha384[48];
    size_t nentries;                 /* archive entries (without the trailer) */
    uint32_t mtime;                  /* the mtime used */
    mk_tdx_measurement *measurement; /* owned (heap; large) */
} mk_tdx_build_result;

MK_EXTERN void mk_tdx_build_result_free(mk_tdx_build_result *r);

/* The /init script text for opts (appended, NUL-terminated). */
MK_EXTERN int mk_tdx_build_init_script(const mk_tdx_build_opts *o, mk_buf *out, mk_error *err);

/* Build everything into o->out_dir. res may be NULL. Nothing is written
 * unless every input was read and validated. */
MK_EXTERN int mk_tdx_build(const mk_tdx_build_opts *o, mk_tdx_build_result *res, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
