/*
 * mosaik/tdx_build.h — building a bootable TDX guest image (`mosaik tdx
 * build`): a deterministic gzip'd newc CPIO initramfs holding busybox, a
 * generated /init and the user's program (static, or dynamic with its
 * loader and libraries bundled), optionally on a Debian userland made with
 * mmdebstrap, next to a QEMU launch script, the expected measurements
 * (measurements.json, computed with mosaik/tdx_measure.h) and a C header
 * pinning them (docs/tdx-builder.md). Also: fetching a TDX-capable guest
 * kernel from Debian through apt (`mosaik tdx kernel fetch`).
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
#define MK_TDX_BUILD_MAX_ARGS 64     /* --arg */
#define MK_TDX_BUILD_MAX_ENV 64      /* --env */
#define MK_TDX_BUILD_MAX_PACKAGES 64 /* --package */
#define MK_TDX_BUILD_MAX_LIBS 256    /* --bundle-libs closure */
#define MK_TDX_BUILD_DEFAULT_QGS_CID 2
#define MK_TDX_BUILD_DEFAULT_QGS_PORT 4050
#define MK_TDX_BUILD_DEFAULT_GUEST_CID 3
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
/* In a kernel directory made by mk_tdx_kernel_fetch. */
#define MK_TDX_KERNEL_META "kernel.json"

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
    /* The program's command line and environment, baked into /init (and so
     * measured through the initrd digest in RTMR2). env items: NAME=VALUE. */
    const char *const *args;
    size_t nargs;
    const char *const *env;
    size_t nenv;
    /* Copy a dynamic program's interpreter and shared-library closure
     * (DT_NEEDED, recursively) into the image; implies allow_dynamic for
     * the program. */
    bool bundle_libs;
    /* A kernel directory from mk_tdx_kernel_fetch: its vmlinuz is the kernel
     * (unless kernel is set), its modules are loaded before `modules`, and
     * its package name, version and SHA-256 go into measurements.json. */
    const char *kernel_dir;
    /* Root filesystem: NULL or "busybox" (the default layout), "debian" (a
     * Debian userland from mmdebstrap, with `packages` included). */
    const char *rootfs;
    const char *const *packages;
    size_t npackages;
    const char *rootfs_suite;          /* NULL: the host's VERSION_CODENAME */
    const char *const *rootfs_sources; /* apt source files; NULL: the host's */
    size_t nrootfs_sources;
    const char *rootfs_cache; /* .deb cache directory (NULL: none) */
    /* Launch script: the host's quote generation service (QGS) as a vsock
     * address (0: MK_TDX_BUILD_DEFAULT_QGS_CID / _PORT) and the guest's
     * vsock CID (0: MK_TDX_BUILD_DEFAULT_GUEST_CID). Not measured. */
    unsigned qgs_cid, qgs_port, guest_cid;
} mk_tdx_build_opts;

typedef struct mk_tdx_build_result {
    size_t initrd_len;
    uint8_t initrd_sha384[48];
    size_t nentries;                 /* archive entries (without the trailer) */
    uint32_t mtime;                  /* the mtime used */
    mk_tdx_measurement *measurement; /* owned (heap; large) */
} mk_tdx_build_result;

void mk_tdx_build_result_free(mk_tdx_build_result *r);

/* The /init script text for opts (appended, NUL-terminated). */
int mk_tdx_build_init_script(const mk_tdx_build_opts *o, mk_buf *out, mk_error *err);

/* Build everything into o->out_dir. res may be NULL. Nothing is written
 * unless every input was read and validated (a Debian root filesystem is
 * made in a temporary file inside out_dir first). */
int mk_tdx_build(const mk_tdx_build_opts *o, mk_tdx_build_result *res, mk_error *err);

/* ------------------------------------------------------------------ */
/* A TDX guest kernel from Debian (src/tee/tdx/build/kernel*.c)         */
/* ------------------------------------------------------------------ */

#define MK_TDX_KERNEL_DEFAULT_PACKAGE "linux-image-cloud-amd64"
#define MK_TDX_KERNEL_DEFAULT_SUITE "bookworm-backports"
#define MK_TDX_KERNEL_DEFAULT_MIRROR "http://deb.debian.org/debian"
#define MK_TDX_KERNEL_DEFAULT_KEYRING "/usr/share/keyrings/debian-archive-keyring.gpg"

typedef struct mk_tdx_kernel_opts {
    const char *cache_dir; /* required: apt state, .debs and kernel directories */
    const char *package;   /* NULL: MK_TDX_KERNEL_DEFAULT_PACKAGE (a metapackage is followed) */
    const char *deb;       /* a .deb file to use instead of apt (offline) */
    const char *suite;     /* NULL: MK_TDX_KERNEL_DEFAULT_SUITE */
    const char *mirror;    /* NULL: MK_TDX_KERNEL_DEFAULT_MIRROR */
    const char *keyring;   /* NULL: MK_TDX_KERNEL_DEFAULT_KEYRING */
    bool offline;          /* use only what the cache holds */
    const char *const *modules; /* module names to bundle (NULL: the TD set) */
    size_t nmodules;
} mk_tdx_kernel_opts;

typedef struct mk_tdx_kernel_result {
    char dir[1024];    /* the kernel directory (vmlinuz, config, modules/, kernel.json) */
    char package[128]; /* the real (versioned) package */
    char version[128];
    char sha256[65];   /* of the .deb */
    char release[128]; /* uname -r of the kernel */
    bool cached;       /* the directory existed already */
    size_t nmodules;
} mk_tdx_kernel_result;

/* Obtain the kernel package through apt (a private apt configuration under
 * cache_dir, so Debian's Release signature and the package's SHA-256 are
 * checked by apt), unpack it, check its configuration (CONFIG_INTEL_TDX_GUEST,
 * CONFIG_TSM_REPORTS, CONFIG_TDX_GUEST_DRIVER) and collect the modules a TD
 * needs with their dependencies, in load order. docs/tdx-builder.md. */
int mk_tdx_kernel_fetch(const mk_tdx_kernel_opts *o, mk_tdx_kernel_result *res, mk_error *err);

/* Check a kernel configuration text for what a TDX guest needs; the first
 * missing option is named in err. */
int mk_tdx_kernel_check_config(const char *config, size_t len, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
