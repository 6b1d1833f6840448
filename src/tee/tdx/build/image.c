/*
 * image.c — `mosaik tdx build`: assemble a TDX guest image and its expected
 * measurements (docs/tdx-builder.md).
 *
 * Steps, in order; nothing is written before every input has been read and
 * checked (except the temporary tar of a Debian rootfs, made in the output
 * directory):
 *   1. read the inputs (kernel or kernel directory, firmware, program,
 *      busybox, extras, modules, ssh key) with hard size caps; the program
 *      and busybox must be x86 ELF files without PT_INTERP unless
 *      allow_dynamic, or, for the program, bundle_libs (elf.c, libs.c);
 *   2. build the archive: the Debian userland first when asked (rootfs.c,
 *      tar.c), then fixed directories (where the userland lacks them),
 *      dev/console, busybox, the program and its libraries, the generated
 *      /init (init.c), the modules as lib/modules/mosaik/NN-<name> (NN =
 *      position: the kernel directory's modules, then --module, so the
 *      /init glob loads them in that order), extras, the ssh key; write it
 *      with one mtime and gzip it (cpio.c). Builder entries are placed
 *      through the archive's own directory symlinks (lib -> usr/lib);
 *   3. measure with mosaik/tdx_measure.h under the chosen profile: MRTD from
 *      the firmware, RTMR1/RTMR2 from kernel, command line, initrd and RAM;
 *   4. write initrd.cpio.gz, vmlinuz, OVMF.fd, launch-tdx.sh,
 *      measurements.json, mosaik_measurements.h and initrd.manifest
 *      (outputs.c).
 *
 * Determinism: every output is a function of the input bytes and options
 * only (no wall clock, no host paths, no uid, no directory order); the mtime
 * is opts->mtime, else SOURCE_DATE_EPOCH, else 0. The command line is
 * restricted to printable ASCII so it can be quoted in the launch script and
 * the C header without ambiguity.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mosaik/crypto.h"
#include "mosaik/tdx_build.h"
#include "tee/tdx/build/build_internal.h"

#define MAX_SMALL_INPUT ((size_t)1 << 20) /* ssh key */

static const char etc_passwd[] = "root:x:0:0:root:/root:/bin/sh\n";
static const char etc_group[] = "root:x:0:\n";

/* ---- options and validation ------------------------------------------- */

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static bool safe_name(const char *s) {
    if (!*s || *s == '.' || *s == '-') return false;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-' || ch == '+'))
            return false;
    }
    return true;
}

int mk_tdx_build_resolve(const mk_tdx_build_opts *o, mk_tdx_resolved *r, mk_error *err) {
    if (!o) return mk_error_set(err, MK_EINVAL, "build: NULL options");
    if (!o->program || !*o->program)
        return mk_error_set(err, MK_EINVAL, "build: no program given (--program FILE)");
    if (!o->out_dir || !*o->out_dir)
        return mk_error_set(err, MK_EINVAL, "build: no output directory given (-o DIR)");
    memset(r, 0, sizeof *r);
    r->busybox = o->busybox ? o->busybox : MK_TDX_BUILD_DEFAULT_BUSYBOX;
    r->cmdline = o->cmdline ? o->cmdline : MK_TDX_BUILD_DEFAULT_CMDLINE;
    r->profile = o->profile ? o->profile : mk_tdx_profile_find(MK_TDX_DEFAULT_PROFILE);
    if (!r->profile) return mk_error_set(err, MK_EINVAL, "build: no default profile");
    r->cpus = o->cpus ? o->cpus : MK_TDX_BUILD_DEFAULT_CPUS;
    r->memory_mib = o->memory_mib ? o->memory_mib : MK_TDX_BUILD_DEFAULT_MEMORY;
    if (r->cpus > 1024) return mk_error_set(err, MK_EINVAL, "build: %u CPUs (max 1024)", r->cpus);
    if (r->memory_mib < 64 || r->memory_mib > (1u << 24))
        return mk_error_set(err, MK_EINVAL, "build: memory %u MiB outside [64, 16777216]",
                            r->memory_mib);
    size_t cl = strnlen(r->cmdline, MK_TDX_CMDLINE_MAX + 1);
    if (cl > 4096)
        return mk_error_set(err, MK_ETOOBIG, "build: command line longer than 4096 bytes");
    for (size_t i = 0; i < cl; i++) {
        unsigned char ch = (unsigned char)r->cmdline[i];
        if (ch < 0x20 || ch > 0x7e)
            return mk_error_set(err, MK_EINVAL,
                                "build: command line byte %zu (0x%02x) is not printable ASCII", i,
                                ch);
    }
    if (o->mtime >= 0) {
        if (o->mtime > 0xffffffffLL)
            return mk_error_set(err, MK_EINVAL, "build: mtime %lld beyond 32 bits",
                                (long long)o->mtime);
        r->mtime = (uint32_t)o->mtime;
    } else {
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        if (sde && *sde) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(sde, &end, 10);
            if (*end || errno || sde[0] == '-' || v > 0xffffffffULL)
                return mk_error_set(err, MK_EINVAL,
                                    "build: SOURCE_DATE_EPOCH '%.32s' is not a 32-bit number of "
                                    "seconds",
                                    sde);
            r->mtime = (uint32_t)v;
        }
    }
    if (o->nextras > MK_TDX_BUILD_MAX_EXTRAS)
        return mk_error_set(err, MK_ETOOBIG, "build: more than %d extra files",
                            MK_TDX_BUILD_MAX_EXTRAS);
    if (o->nmodules > MK_TDX_BUILD_MAX_MODULES)
        return mk_error_set(err, MK_ETOOBIG, "build: more than %d modules",
                            MK_TDX_BUILD_MAX_MODULES);
    const char *pn = base_name(o->program);
    if (!safe_name(pn) || strlen(pn) > MK_CPIO_COMPONENT_MAX)
        return mk_error_set(err, MK_EINVAL,
                            "build: program file name '%.64s' must be letters, digits and ._+- "
                            "(not starting with . or -)",
                            pn);
    snprintf(r->prog_name, sizeof r->prog_name, "%s", pn);
    if (o->rootfs && strcmp(o->rootfs, "busybox") && strcmp(o->rootfs, "debian"))
        return mk_error_set(err, MK_EINVAL, "--rootfs '%.32s': want busybox or debian", o->rootfs);
    r->debian = o->rootfs && !strcmp(o->rootfs, "debian");
    if (o->npackages && !r->debian)
        return mk_error_set(err, MK_EINVAL, "--package needs --rootfs debian");
    if (o->npackages > MK_TDX_BUILD_MAX_PACKAGES)
        return mk_error_set(err, MK_ETOOBIG, "build: more than %d packages",
                            MK_TDX_BUILD_MAX_PACKAGES);
    r->bb_path = r->debian ? "/usr/lib/mosaik/busybox" : "/bin/busybox";
    r->bb_dir = r->debian ? "/usr/lib/mosaik/bin" : "/bin";
    r->qgs_cid = o->qgs_cid ? o->qgs_cid : MK_TDX_BUILD_DEFAULT_QGS_CID;
    r->qgs_port = o->qgs_port ? o->qgs_port : MK_TDX_BUILD_DEFAULT_QGS_PORT;
    r->guest_cid = o->guest_cid ? o->guest_cid : MK_TDX_BUILD_DEFAULT_GUEST_CID;
    if (r->guest_cid < 3 || r->qgs_port > 0xffffffffu)
        return mk_error_set(err, MK_EINVAL, "build: guest vsock CID %u (want >= 3)", r->guest_cid);
    return 0;
}

static int read_input(const char *what, const char *path, size_t max, mk_buf *out, mk_error *err) {
    mk_buf_init(out, max);
    int rc = mk_file_read(path, max, out, err);
    if (rc < 0) mk_error_prefix(err, rc, "%s", what);
    return rc;
}

/* "/etc/x" → "etc/x", validated by cpio. */
static int guest_path(const char *dest, const char **out, mk_error *err) {
    if (!dest || dest[0] != '/')
        return mk_error_set(err, MK_EINVAL, "build: extra destination '%s' must be absolute",
                            dest ? dest : "");
    while (*dest == '/')
        dest++;
    *out = dest;
    return 0;
}

static unsigned perm_of(const char *path, unsigned dflt_exec, unsigned dflt) {
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 0111)) return dflt_exec;
    return dflt;
}

/* ---- paths inside the archive ------------------------------------------ */

/* path with every symlinked directory component of the archive followed
 * (a Debian userland has bin -> usr/bin, lib -> usr/lib, ...), so the
 * builder's own entries land in the real directories. Relative targets
 * are taken from the link's directory; at most 8 links are followed. */
static int archive_path(const mk_cpio *c, const char *path, char *out, size_t cap, mk_error *err) {
    char cur[MK_CPIO_PATH_MAX + 1];
    if ((size_t)snprintf(cur, sizeof cur, "%s", path) >= sizeof cur)
        return mk_error_set(err, MK_EINVAL, "build: path '%.40s...' too long", path);
    for (int hops = 0; hops < 8; hops++) {
        bool changed = false;
        for (char *p = cur; *p; p++) {
            if (*p != '/') continue;
            *p = 0;
            mk_cpio_kind k;
            const uint8_t *t = NULL;
            size_t tl = 0;
            if (mk_cpio_has(c, cur, &k) && k == MK_CPIO_SYMLINK &&
                mk_cpio_link_target(c, cur, &t, &tl) == 0) {
                char next[MK_CPIO_PATH_MAX + 1], dir[MK_CPIO_PATH_MAX + 1];
                const char *slash = strrchr(cur, '/');
                size_t dl = slash ? (size_t)(slash - cur) : 0;
                memcpy(dir, cur, dl);
                dir[dl] = 0;
                int n = t[0] == '/'
                            ? snprintf(next, sizeof next, "%.*s/%s", (int)tl - 1, t + 1, p + 1)
                        : dl ? snprintf(next, sizeof next, "%s/%.*s/%s", dir, (int)tl, t, p + 1)
                             : snprintf(next, sizeof next, "%.*s/%s", (int)tl, t, p + 1);
                if (n < 0 || (size_t)n >= sizeof next)
                    return mk_error_set(err, MK_EINVAL, "build: path '%.40s...' too long", path);
                memcpy(cur, next, (size_t)n + 1);
                changed = true;
                break;
            }
            *p = '/';
        }
        if (!changed) {
            if ((size_t)snprintf(out, cap, "%s", cur) >= cap)
                return mk_error_set(err, MK_EINVAL, "build: path too long");
            return 0;
        }
    }
    return mk_error_set(err, MK_EINVAL, "build: too many symlinks in '%s'", path);
}

/* Add a file at the archive's real location of path, parents 0755. */
static int add_file_at(mk_cpio *c, const char *path, unsigned perm, const uint8_t *d, size_t n,
                       mk_error *err) {
    char real[MK_CPIO_PATH_MAX + 1];
    MK_TRY(archive_path(c, path, real, sizeof real, err));
    MK_TRY(mk_cpio_add_parents(c, real, 0755, err));
    return mk_cpio_add_file(c, real, perm, d, n, err);
}

/* ---- the archive ------------------------------------------------------- */

/* What the archive step collects for measurements.json. */
typedef struct archive_extra {
    mk_tdx_lib *libs;
    size_t nlibs;
    mk_buf status; /* dpkg status of a Debian rootfs */
    char suite[64];
} archive_extra;

static int add_layout(mk_cpio *c, const mk_tdx_resolved *r, mk_error *err) {
    static const struct {
        const char *path;
        unsigned perm;
    } dirs[] = {
        {"bin", 0755},     {"dev", 0755},         {"etc", 0755},  {"etc/mosaik", 0755},
        {"lib", 0755},     {"lib/modules", 0755}, {"proc", 0555}, {"root", 0700},
        {"run", 0755},     {"sys", 0555},         {"tmp", 01777}, {"usr", 0755},
        {"usr/bin", 0755}, {"var", 0755},
    };
    char real[MK_CPIO_PATH_MAX + 1];
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        MK_TRY(archive_path(c, dirs[i].path, real, sizeof real, err));
        if (!mk_cpio_has(c, real, NULL)) MK_TRY(mk_cpio_add_dir(c, real, dirs[i].perm, err));
    }
    if (!mk_cpio_has(c, "dev/console", NULL))
        MK_TRY(mk_cpio_add_chardev(c, "dev/console", 0600, 5, 1, err));
    if (!r->debian) return 0;
    MK_TRY(mk_cpio_add_parents(c, "usr/lib/mosaik/bin", 0755, err));
    return mk_cpio_has(c, "usr/lib/mosaik/bin", NULL)
               ? 0
               : mk_cpio_add_dir(c, "usr/lib/mosaik/bin", 0755, err);
}

/* busybox, the program and (--bundle-libs) its loader and libraries. */
static int add_programs(const mk_tdx_build_opts *o, const mk_tdx_resolved *r, mk_cpio *c,
                        archive_extra *x, mk_error *err) {
    mk_buf b = MK_BUF_INIT;
    mk_tdx_elf_info *info = calloc(1, sizeof *info);
    char path[MK_CPIO_PATH_MAX + 1];
    int rc = info ? 0 : mk_error_set(err, MK_ENOMEM, "build: out of memory");
    if (rc == 0) rc = read_input("--busybox", r->busybox, MK_TDX_BUILD_MAX_INPUT, &b, err);
    if (rc == 0)
        rc =
            mk_tdx_elf_inspect("--busybox", r->busybox, b.data, b.len, o->allow_dynamic, info, err);
    if (rc == 0) rc = add_file_at(c, r->bb_path + 1, 0755, b.data, b.len, err);
    if (rc == 0 && !r->debian) rc = mk_cpio_add_symlink(c, "bin/sh", "busybox", err);
    mk_buf_free(&b);
    if (rc == 0) rc = read_input("--program", o->program, MK_TDX_BUILD_MAX_INPUT, &b, err);
    if (rc == 0)
        rc = mk_tdx_elf_inspect("--program", o->program, b.data, b.len,
                                o->allow_dynamic || o->bundle_libs, info, err);
    if (rc == 0) {
        snprintf(path, sizeof path, "usr/bin/%s", r->prog_name);
        rc = add_file_at(c, path, 0755, b.data, b.len, err);
    }
    if (rc == 0 && o->bundle_libs && info->has_interp)
        rc = mk_tdx_lib_closure(o->program, b.data, b.len, &x->libs, &x->nlibs, err);
    mk_buf_free(&b);
    for (size_t i = 0; rc == 0 && i < x->nlibs; i++) {
        char real[MK_CPIO_PATH_MAX + 1];
        rc = archive_path(c, x->libs[i].guest + 1, real, sizeof real, err);
        if (rc < 0 || mk_cpio_has(c, real, NULL)) continue; /* the rootfs's own copy */
        rc = read_input("--bundle-libs", x->libs[i].host, MK_TDX_BUILD_MAX_INPUT, &b, err);
        if (rc == 0) rc = add_file_at(c, x->libs[i].guest + 1, 0755, b.data, b.len, err);
        mk_buf_free(&b);
    }
    free(info);
    return rc;
}

/* Kernel modules: the kernel directory's, then --module; the NN- prefix
 * keeps the order under the /init glob. */
static int add_modules(const mk_tdx_build_opts *o, mk_cpio *c, mk_error *err) {
    char **km = NULL;
    size_t nkm = 0;
    mk_buf b = MK_BUF_INIT;
    int rc = 0;
    if (o->kernel_dir) rc = mk_tdx_kernel_dir_read(o->kernel_dir, NULL, &km, &nkm, err);
    size_t total = nkm + o->nmodules;
    if (rc == 0 && total > MK_TDX_BUILD_MAX_MODULES)
        rc = mk_error_set(err, MK_ETOOBIG, "build: more than %d modules", MK_TDX_BUILD_MAX_MODULES);
    for (size_t i = 0; rc == 0 && i < total; i++) {
        const char *m = i < nkm ? km[i] : o->modules[i - nkm];
        const char *mn = m ? base_name(m) : "";
        if (!safe_name(mn) || !strstr(mn, ".ko")) {
            rc = mk_error_set(err, MK_EINVAL,
                              "--module '%s': want a kernel module file named NAME.ko[.xz|.zst]",
                              m ? m : "");
            break;
        }
        rc = read_input("--module", m, MK_TDX_BUILD_MAX_INPUT, &b, err);
        if (rc == 0 &&
            (b.len < 4 || memcmp(b.data,
                                 "\x7f"
                                 "ELF",
                                 4) != 0) &&
            !strstr(mn, ".ko."))
            rc = mk_error_set(err, MK_EINVAL, "--module %s: not an ELF kernel module", m);
        if (rc == 0) {
            char path[MK_CPIO_PATH_MAX + 1];
            snprintf(path, sizeof path, "lib/modules/mosaik/%02zu-%s", i + 1, mn);
            rc = add_file_at(c, path, 0644, b.data, b.len, err);
        }
        mk_buf_free(&b);
    }
    mk_tdx_kernel_modules_free(km, nkm);
    return rc;
}

/* --extra SRC:DEST (parents created; a clash with other entries is
 * refused) and --ssh-key. */
static int add_extras(const mk_tdx_build_opts *o, mk_cpio *c, mk_error *err) {
    mk_buf b = MK_BUF_INIT;
    int rc = 0;
    if (o->ssh_key) {
        rc = read_input("--ssh-key", o->ssh_key, MAX_SMALL_INPUT, &b, err);
        if (rc == 0 && (b.len == 0 || memchr(b.data, 0, b.len)))
            rc = mk_error_set(err, MK_EINVAL, "--ssh-key %s: empty or not a text file", o->ssh_key);
        if (rc == 0) rc = mk_cpio_add_dir(c, "root/.ssh", 0700, err);
        if (rc == 0)
            rc = mk_cpio_add_file(c, "root/.ssh/authorized_keys", 0600, b.data, b.len, err);
        mk_buf_free(&b);
    }
    for (size_t i = 0; rc == 0 && i < o->nextras; i++) {
        const mk_tdx_build_extra *x = &o->extras[i];
        const char *dest = NULL;
        if (!x->src || !*x->src) {
            rc = mk_error_set(err, MK_EINVAL, "--extra: empty source");
            break;
        }
        rc = guest_path(x->dest, &dest, err);
        if (rc < 0) {
            mk_error_prefix(err, rc, "--extra %s:%s", x->src, x->dest);
            break;
        }
        /* A read failure names the option and the file already. */
        rc = read_input("--extra", x->src, MK_TDX_BUILD_MAX_INPUT, &b, err);
        if (rc == 0) {
            rc = mk_cpio_add_parents(c, dest, 0755, err);
            if (rc == 0)
                rc = mk_cpio_add_file(c, dest, perm_of(x->src, 0755, 0644), b.data, b.len, err);
            if (rc < 0) mk_error_prefix(err, rc, "--extra %s:%s", x->src, x->dest);
        }
        mk_buf_free(&b);
    }
    return rc;
}

static int build_archive(const mk_tdx_build_opts *o, const mk_tdx_resolved *r, mk_cpio **out,
                         archive_extra *x, mk_error *err) {
    mk_cpio *c = mk_cpio_new();
    mk_buf b = MK_BUF_INIT;
    int rc = c ? 0 : mk_error_set(err, MK_ENOMEM, "build: out of memory");
    if (rc == 0 && r->debian) rc = mk_tdx_rootfs_debian(o, r, c, &x->status, x->suite, err);
    if (rc == 0) rc = add_layout(c, r, err);
    if (rc == 0) rc = add_programs(o, r, c, x, err);
    mk_buf_init(&b, 0);
    if (rc == 0) rc = mk_tdx_init_script(o, r, &b, err);
    if (rc == 0) rc = mk_cpio_add_file(c, "init", 0755, b.data, b.len, err);
    mk_buf_free(&b);
    if (rc == 0)
        rc = add_file_at(c, "etc/mosaik/udhcpc.sh", 0755, (const uint8_t *)mk_tdx_udhcpc_script,
                         strlen(mk_tdx_udhcpc_script), err);
    if (rc == 0 && !mk_cpio_has(c, "etc/passwd", NULL))
        rc = mk_cpio_add_file(c, "etc/passwd", 0644, etc_passwd, sizeof etc_passwd - 1, err);
    if (rc == 0 && !mk_cpio_has(c, "etc/group", NULL))
        rc = mk_cpio_add_file(c, "etc/group", 0644, etc_group, sizeof etc_group - 1, err);
    if (rc == 0) rc = add_modules(o, c, err);
    if (rc == 0) rc = add_extras(o, c, err);
    if (rc < 0) {
        mk_cpio_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void extra_free(archive_extra *x) {
    free(x->libs);
    mk_buf_free(&x->status);
    memset(x, 0, sizeof *x);
}

int mk_tdx_build_archive(const mk_tdx_build_opts *o, mk_cpio **out, mk_error *err) {
    mk_tdx_resolved r;
    if (!out) return mk_error_set(err, MK_EINVAL, "build: NULL argument");
    MK_TRY(mk_tdx_build_resolve(o, &r, err));
    archive_extra x = {0};
    int rc = build_archive(o, &r, out, &x, err);
    extra_free(&x);
    return rc;
}

/* ---- outputs ----------------------------------------------------------- */

static int make_dir(const char *dir, mk_error *err) {
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return mk_error_set(err, MK_EINVAL, "-o %s: exists and is not a directory", dir);
        return 0;
    }
    if (mkdir(dir, 0755) < 0)
        return mk_error_set(err, MK_EIO, "-o %s: cannot create: %s", dir, strerror(errno));
    return 0;
}

static int write_out(const char *dir, const char *name, const void *data, size_t len, unsigned mode,
                     mk_error *err) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return mk_error_set(err, MK_EINVAL, "-o: directory name too long");
    return mk_file_write(path, data, len, mode, err);
}

void mk_tdx_build_result_free(mk_tdx_build_result *r) {
    if (!r) return;
    free(r->measurement);
    memset(r, 0, sizeof *r);
}

/* The measured inputs: kernel (--kernel, else the kernel directory's
 * vmlinuz) with the directory's kernel.json, and the firmware. */
static int read_kernel_fw(const mk_tdx_build_opts *o, mk_buf *kernel, mk_buf *meta, mk_buf *fw,
                          mk_error *err) {
    char kpath[1200];
    const char *k = o->kernel;
    int rc = 0;
    if (o->kernel_dir) {
        rc = mk_tdx_kernel_dir_read(o->kernel_dir, meta, NULL, NULL, err);
        if (rc == 0 && !k) {
            snprintf(kpath, sizeof kpath, "%s/vmlinuz", o->kernel_dir);
            k = kpath;
        }
    }
    if (rc == 0 && k) rc = read_input("--kernel", k, MK_TDX_PE_MAX_IMAGE, kernel, err);
    if (rc == 0 && k && kernel->len == 0)
        rc = mk_error_set(err, MK_EINVAL, "--kernel %s: empty file", k);
    if (rc == 0 && o->ovmf) rc = read_input("--ovmf", o->ovmf, MK_TDX_TDVF_MAX_IMAGE, fw, err);
    if (rc == 0 && o->ovmf && fw->len == 0)
        rc = mk_error_set(err, MK_EINVAL, "--ovmf %s: empty file", o->ovmf);
    return rc;
}

/* MRTD, RTMR1, RTMR2 of the image under the profile (MRTD only without a
 * kernel). */
static int measure(const mk_tdx_resolved *r, const mk_buf *kernel, const mk_buf *fw,
                   const mk_buf *initrd, mk_tdx_build_result *out, mk_error *err) {
    out->measurement = calloc(1, sizeof *out->measurement);
    if (!out->measurement) return mk_error_set(err, MK_ENOMEM, "build: out of memory");
    if (!kernel->len && !fw->len) {
        snprintf(out->measurement->profile, sizeof out->measurement->profile, "%s",
                 r->profile->name ? r->profile->name : "custom");
        return 0;
    }
    mk_tdx_measure_input in = {0};
    in.firmware = fw->len ? fw->data : NULL;
    in.firmware_len = fw->len;
    in.kernel = kernel->len ? kernel->data : NULL;
    in.kernel_len = kernel->len;
    in.have_initrd = kernel->len != 0;
    in.initrd = kernel->len ? initrd->data : NULL;
    in.initrd_len = kernel->len ? initrd->len : 0;
    in.cmdline = kernel->len ? r->cmdline : NULL;
    in.memory_mib = r->memory_mib;
    int rc = mk_tdx_measure(&in, r->profile, out->measurement, err);
    if (rc < 0) mk_error_prefix(err, rc, "build: measuring the image");
    return rc;
}

/* Step 4: every output file. */
static int write_outputs(const mk_tdx_build_opts *o, const mk_tdx_resolved *r,
                         const mk_tdx_build_result *out, const mk_cpio *c,
                         const mk_tdx_json_extra *jx, mk_error *err) {
    mk_buf text = MK_BUF_INIT;
    const char *dir = o->out_dir;
    int rc = write_out(dir, MK_TDX_BUILD_INITRD, jx->initrd->data, jx->initrd->len, 0644, err);
    if (rc == 0 && jx->kernel->len)
        rc = write_out(dir, MK_TDX_BUILD_KERNEL, jx->kernel->data, jx->kernel->len, 0644, err);
    if (rc == 0 && jx->firmware->len)
        rc =
            write_out(dir, MK_TDX_BUILD_FIRMWARE, jx->firmware->data, jx->firmware->len, 0644, err);
    if (rc == 0) {
        rc = mk_tdx_launch_script(r, &text);
        if (rc < 0)
            mk_error_set(err, rc, "build: out of memory");
        else
            rc = write_out(dir, MK_TDX_BUILD_LAUNCH, text.data, text.len, 0755, err);
    }
    if (rc == 0) {
        mk_buf_reset(&text);
        rc = mk_tdx_measurements_json(r, out, jx, &text, err);
        if (rc == 0) rc = write_out(dir, MK_TDX_BUILD_MEASUREMENTS, text.data, text.len, 0644, err);
    }
    if (rc == 0) {
        mk_buf_reset(&text);
        rc = mk_tdx_c_header(r, out, &text);
        if (rc < 0)
            mk_error_set(err, rc, "build: out of memory");
        else
            rc = write_out(dir, MK_TDX_BUILD_HEADER, text.data, text.len, 0644, err);
    }
    if (rc == 0) {
        mk_buf_reset(&text);
        rc = mk_cpio_manifest(c, &text, err);
        if (rc == 0) rc = write_out(dir, MK_TDX_BUILD_MANIFEST, text.data, text.len, 0644, err);
    }
    mk_buf_free(&text);
    return rc;
}

int mk_tdx_build(const mk_tdx_build_opts *o, mk_tdx_build_result *res, mk_error *err) {
    mk_tdx_resolved r;
    MK_TRY(mk_tdx_build_resolve(o, &r, err));
    mk_cpio *c = NULL;
    mk_buf cpio = MK_BUF_INIT, initrd = MK_BUF_INIT, kernel = MK_BUF_INIT, fw = MK_BUF_INIT;
    mk_buf meta = MK_BUF_INIT;
    mk_tdx_build_result out = {0};
    archive_extra x = {0};

    /* 1-2: inputs and archive (a Debian rootfs is made inside out_dir) */
    int rc = read_kernel_fw(o, &kernel, &meta, &fw, err);
    if (rc == 0 && r.debian) rc = make_dir(o->out_dir, err);
    if (rc == 0) rc = build_archive(o, &r, &c, &x, err);
    mk_buf_init(&cpio, MK_CPIO_MAX_ARCHIVE);
    mk_buf_init(&initrd, MK_CPIO_MAX_ARCHIVE + (MK_CPIO_MAX_ARCHIVE >> 4));
    if (rc == 0) rc = mk_cpio_write(c, r.mtime, &cpio, err);
    if (rc == 0) rc = mk_gzip(cpio.data, cpio.len, &initrd, err);
    mk_buf_free(&cpio);
    if (rc == 0) {
        out.nentries = mk_cpio_count(c);
        out.mtime = r.mtime;
        out.initrd_len = initrd.len;
        mk_sha384(initrd.data, initrd.len, out.initrd_sha384);
    }
    /* 3: measurements */
    if (rc == 0) rc = measure(&r, &kernel, &fw, &initrd, &out, err);
    /* 4: outputs */
    if (rc == 0) rc = make_dir(o->out_dir, err);
    if (rc == 0) {
        mk_tdx_json_extra jx = {
            .kernel = &kernel,
            .firmware = &fw,
            .initrd = &initrd,
            .kernel_meta = meta.len ? (const char *)meta.data : NULL,
            .kernel_meta_len = meta.len,
            .dpkg_status = r.debian ? &x.status : NULL,
            .suite = x.suite,
            .libs = x.libs,
            .nlibs = x.nlibs,
            .args = o->args,
            .nargs = o->nargs,
            .env = o->env,
            .nenv = o->nenv,
        };
        rc = write_outputs(o, &r, &out, c, &jx, err);
    }
    mk_cpio_free(c);
    extra_free(&x);
    mk_buf_free(&initrd);
    mk_buf_free(&kernel);
    mk_buf_free(&meta);
    mk_buf_free(&fw);
    if (rc < 0 || !res) {
        mk_tdx_build_result_free(&out);
        return rc;
    }
    *res = out;
    return 0;
}
