/*
 * src/tee/tdx/build/build_internal.h — what the image builder's files share
 * (image.c orchestrates; elf.c, libs.c, init.c, outputs.c, rootfs.c,
 * tar.c, kernel.c, kernel_fetch.c, run.c do one job each), and the archive
 * step for the builder's tests.
 *
 * Not installed; not part of the public API.
 */
#ifndef MOSAIK_TDX_BUILD_INTERNAL_H
#define MOSAIK_TDX_BUILD_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

#include "mosaik/tdx_build.h"
#include "tee/tdx/build/cpio.h"

/* Assemble the archive (not compressed) for opts: busybox, /init, the
 * program, extras, modules, ssh key, fixed directories. */
int mk_tdx_build_archive(const mk_tdx_build_opts *o, mk_cpio **out, mk_error *err);

/* ---- options after defaults (image.c) ---------------------------------- */

typedef struct mk_tdx_resolved {
    const char *busybox;
    const char *cmdline;
    const mk_tdx_profile *profile;
    unsigned cpus, memory_mib;
    uint32_t mtime;
    bool debian; /* --rootfs debian */
    unsigned qgs_cid, qgs_port, guest_cid;
    char prog_name[MK_CPIO_COMPONENT_MAX + 1];
    /* guest paths of busybox and its applet directory (layout dependent) */
    const char *bb_path, *bb_dir;
} mk_tdx_resolved;

int mk_tdx_build_resolve(const mk_tdx_build_opts *o, mk_tdx_resolved *r, mk_error *err);

/* ---- ELF (elf.c) -------------------------------------------------------- */

#define MK_TDX_ELF_MAX_NEEDED 64
#define MK_TDX_ELF_NAME_MAX 255

typedef struct mk_tdx_elf_info {
    bool is64, has_interp;
    char interp[MK_TDX_ELF_NAME_MAX + 1];
    size_t n_needed;
    char needed[MK_TDX_ELF_MAX_NEEDED][MK_TDX_ELF_NAME_MAX + 1];
    char runpath[1024]; /* DT_RUNPATH, else DT_RPATH; "" when neither */
} mk_tdx_elf_info;

/* An x86 executable or shared object (ET_EXEC/ET_DYN); refused with
 * PT_INTERP unless allow_dynamic (has_interp tells). Errors name `what`
 * and `path`. */
int mk_tdx_elf_inspect(const char *what, const char *path, const uint8_t *data, size_t len,
                       bool allow_dynamic, mk_tdx_elf_info *info, mk_error *err);
/* The same, and for a dynamic ELF64 object its interpreter, DT_NEEDED
 * names and run path (strictly: a malformed table is refused). */
int mk_tdx_elf_dynamic(const char *what, const char *path, const uint8_t *data, size_t len,
                       mk_tdx_elf_info *info, mk_error *err);
/* The value of key in a kernel module's .modinfo section (NUL-terminated
 * into out); MK_ENOTFOUND, MK_ETOOBIG, MK_EINVAL (not a module). */
int mk_tdx_elf_modinfo(const uint8_t *data, size_t len, const char *key, char *out, size_t cap);

/* ---- shared-library closure (libs.c) ------------------------------------ */

typedef struct mk_tdx_lib {
    char guest[1024]; /* absolute path in the guest */
    char host[1024];  /* where it was found */
} mk_tdx_lib;

/* The interpreter and DT_NEEDED closure of a dynamic program, sorted by
 * guest path; *out is malloc'd (free it). Search per object: DT_RPATH or
 * DT_RUNPATH ($ORIGIN expanded), then MK_TDX_LIB_DIRS. */
#define MK_TDX_LIB_DIRS                                                                            \
    "/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib64:/usr/lib64:/lib:/usr/lib"
int mk_tdx_lib_closure(const char *program, const uint8_t *data, size_t len, mk_tdx_lib **out,
                       size_t *n, mk_error *err);

/* ---- generated files (init.c, outputs.c) -------------------------------- */

extern const char mk_tdx_udhcpc_script[];
int mk_tdx_init_script(const mk_tdx_build_opts *o, const mk_tdx_resolved *r, mk_buf *out,
                       mk_error *err);
int mk_tdx_launch_script(const mk_tdx_resolved *r, mk_buf *b);
int mk_tdx_c_header(const mk_tdx_resolved *r, const mk_tdx_build_result *res, mk_buf *b);

/* What measurements.json records beyond the registers. */
typedef struct mk_tdx_json_extra {
    const mk_buf *kernel, *firmware, *initrd;
    const char *kernel_meta; /* kernel.json text of a kernel directory, or NULL */
    size_t kernel_meta_len;
    const mk_buf *dpkg_status; /* the Debian rootfs's var/lib/dpkg/status, or NULL */
    const char *suite;
    const mk_tdx_lib *libs; /* --bundle-libs */
    size_t nlibs;
    const char *const *args, *const *env;
    size_t nargs, nenv;
} mk_tdx_json_extra;
int mk_tdx_measurements_json(const mk_tdx_resolved *r, const mk_tdx_build_result *res,
                             const mk_tdx_json_extra *x, mk_buf *out, mk_error *err);

/* ---- processes (run.c) -------------------------------------------------- */

/* Run argv (argv[0] searched in PATH) with extra environment entries
 * (NAME=VALUE, may be NULL), stdin from /dev/null, stdout appended to out
 * (when not NULL, at most max bytes) and stderr kept for the error. 0 when
 * it exited 0; otherwise an error naming the program, its status and the
 * tail of its stderr. */
int mk_tdx_run(const char *const *argv, const char *const *env, mk_buf *out, size_t max,
               mk_error *err);
/* The same, in directory cwd (NULL: the current one). */
int mk_tdx_run_in(const char *cwd, const char *const *argv, const char *const *env, mk_buf *out,
                  size_t max, mk_error *err);
/* Whether a program is found in PATH. */
bool mk_tdx_have_program(const char *name);

/* ---- tar import (tar.c) and the Debian root filesystem (rootfs.c) ------- */

/* Add a POSIX/pax/GNU tar archive's entries to c: directories, regular
 * files, symlinks, hard links (as copies) with their modes and numeric
 * owners; a leading "./" is dropped; entries under dev/ are skipped
 * (devtmpfs is mounted there). */
int mk_tdx_tar_import(mk_cpio *c, const uint8_t *tar, size_t len, mk_error *err);

/* Make the Debian userland with mmdebstrap into a tar in the output
 * directory and import it; *status receives var/lib/dpkg/status (the
 * package manifest), suite the suite used. */
int mk_tdx_rootfs_debian(const mk_tdx_build_opts *o, const mk_tdx_resolved *r, mk_cpio *c,
                         mk_buf *status, char suite[64], mk_error *err);
/* "Package Version Architecture" of every installed package of a dpkg
 * status file, as a JSON array text appended to out. */
int mk_tdx_dpkg_manifest(const uint8_t *status, size_t len, mk_buf *out, mk_error *err);

/* ---- kernels (kernel.c) ------------------------------------------------- */

/* The default modules a TD needs (names as modinfo "name"). */
extern const char *const mk_tdx_kernel_td_modules[];
extern const size_t mk_tdx_kernel_n_td_modules;

/* Read a kernel directory's kernel.json and list its modules in load
 * order (paths inside the directory, malloc'd array of malloc'd strings). */
int mk_tdx_kernel_dir_read(const char *dir, mk_buf *meta, char ***modules, size_t *n,
                           mk_error *err);
void mk_tdx_kernel_modules_free(char **m, size_t n);
/* The checked configuration options and their values (new reference). */
json_t *mk_tdx_kernel_config_json(const char *config, size_t len);

#endif
