/*
 * image.c — `mosaik tdx build`: assemble a TDX guest image and its expected
 * measurements (docs/tdx-builder.md).
 *
 * Steps, in order; nothing is written before every input has been read and
 * checked:
 *   1. read the inputs (program, busybox, extras, modules, ssh key, kernel,
 *      firmware) with hard size caps; the program and busybox must be ELF
 *      files for x86 without PT_INTERP (statically linked) unless
 *      allow_dynamic;
 *   2. build the archive (cpio.c): fixed directories, dev/console, bin/busybox
 *      + bin/sh symlink, the generated /init, /usr/bin/<program>, the
 *      modules as lib/modules/mosaik/NN-<name> (NN = position, so the /init
 *      glob loads them in the order given), extras (parents created 0755),
 *      root/.ssh/authorized_keys; write it with one mtime and gzip it;
 *   3. measure with mosaik/tdx_measure.h under the chosen profile: MRTD from
 *      the firmware, RTMR1/RTMR2 from kernel, command line, initrd and RAM;
 *   4. write initrd.cpio.gz, vmlinuz, OVMF.fd, launch-tdx.sh,
 *      measurements.json, mosaik_measurements.h and initrd.manifest.
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

#include <jansson.h>
#include <zlib.h>

#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "mosaik/tdx_build.h"
#include "mosaik/version.h"
#include "tee/tdx/build/build_internal.h"

#define MAX_SMALL_INPUT ((size_t)1 << 20) /* ssh key */

/* ---- options and validation ------------------------------------------- */

typedef struct resolved {
    const char *busybox;
    const char *cmdline;
    const mk_tdx_profile *profile;
    unsigned cpus, memory_mib;
    uint32_t mtime;
    char prog_name[MK_CPIO_COMPONENT_MAX + 1];
} resolved;

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

static int resolve(const mk_tdx_build_opts *o, resolved *r, mk_error *err) {
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
    return 0;
}

/* Read a file, prefixing errors with the option it came from. */
static int read_input(const char *what, const char *path, size_t max, mk_buf *out, mk_error *err) {
    mk_buf_init(out, max);
    int rc = mk_file_read(path, max, out, err);
    if (rc < 0) mk_error_prefix(err, rc, "%s", what);
    return rc;
}

/* An ELF executable for x86 without a program interpreter. */
static int check_elf(const char *what, const char *path, const mk_buf *b, bool allow_dynamic,
                     mk_error *err) {
    mk_reader r;
    mk_reader_init(&r, b->data, b->len);
    const uint8_t *ident;
    if (mk_read_view(&r, 16, &ident) < 0 || memcmp(ident,
                                                   "\x7f"
                                                   "ELF",
                                                   4) != 0)
        return mk_error_set(err, MK_EINVAL, "%s %s: not an ELF executable", what, path);
    uint8_t cls = ident[4], data = ident[5];
    if ((cls != 1 && cls != 2) || data != 1)
        return mk_error_set(err, MK_EINVAL, "%s %s: not a little-endian 32/64-bit ELF file", what,
                            path);
    uint16_t type, machine, phentsize, phnum;
    uint64_t phoff;
    int rc = mk_read_u16le(&r, &type);
    if (rc == 0) rc = mk_read_u16le(&r, &machine);
    if (rc == 0) rc = mk_read_skip(&r, 4 + (cls == 2 ? 8 : 4)); /* version, entry */
    if (cls == 2) {
        if (rc == 0) rc = mk_read_u64le(&r, &phoff);
    } else {
        uint32_t p32 = 0;
        if (rc == 0) rc = mk_read_u32le(&r, &p32);
        phoff = p32;
    }
    if (rc == 0) rc = mk_read_skip(&r, (cls == 2 ? 8 : 4) + 4 + 2); /* shoff, flags, ehsize */
    if (rc == 0) rc = mk_read_u16le(&r, &phentsize);
    if (rc == 0) rc = mk_read_u16le(&r, &phnum);
    if (rc < 0) return mk_error_set(err, MK_EMALFORMED, "%s %s: truncated ELF header", what, path);
    if (type != 2 && type != 3) /* ET_EXEC, ET_DYN (static-pie) */
        return mk_error_set(err, MK_EINVAL, "%s %s: ELF type %u is not an executable", what, path,
                            type);
    if (machine != 62 && machine != 3)
        return mk_error_set(err, MK_EINVAL, "%s %s: ELF machine %u is not x86-64", what, path,
                            machine);
    if (phnum > 256 || phentsize < (cls == 2 ? 56 : 32))
        return mk_error_set(err, MK_EMALFORMED, "%s %s: bad ELF program header table", what, path);
    mk_reader ph;
    mk_reader_init(&ph, b->data, b->len);
    if (phoff > b->len || mk_read_skip(&ph, (size_t)phoff) < 0)
        return mk_error_set(err, MK_EMALFORMED, "%s %s: program headers beyond the file", what,
                            path);
    for (unsigned i = 0; i < phnum; i++) {
        mk_reader e;
        uint32_t ptype;
        if (mk_read_sub(&ph, phentsize, &e) < 0 || mk_read_u32le(&e, &ptype) < 0)
            return mk_error_set(err, MK_EMALFORMED, "%s %s: truncated program headers", what, path);
        if (ptype == 3 && !allow_dynamic) /* PT_INTERP */
            return mk_error_set(err, MK_EINVAL,
                                "%s %s: dynamically linked (has a program interpreter); the "
                                "image has no libc: link it statically (e.g. musl-gcc -static)",
                                what, path);
    }
    return 0;
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

/* ---- the init script --------------------------------------------------- */

static const char init_head[] =
    "#!/bin/busybox sh\n"
    "# /init of a mosaik TDX image, generated by `mosaik tdx build` (docs/tdx-builder.md).\n"
    "# Mounts the pseudo file systems, loads the bundled kernel modules, brings up the\n"
    "# network and runs the program; powers the guest off when the program exits.\n"
    "/bin/busybox --install -s /bin\n"
    "export PATH=/usr/bin:/bin HOME=/root\n"
    "log() { echo \"mosaik-init: $*\"; }\n"
    "mount -t proc proc /proc\n"
    "mount -t sysfs sysfs /sys\n"
    "mount -t devtmpfs devtmpfs /dev || log \"devtmpfs not available\"\n"
    "mkdir -p /dev/pts /dev/shm\n"
    "mount -t devpts devpts /dev/pts 2>/dev/null\n"
    "mount -t tmpfs -o mode=1777 tmpfs /tmp\n"
    "mount -t tmpfs -o mode=0755 tmpfs /run\n"
    "mount -t securityfs securityfs /sys/kernel/security 2>/dev/null\n"
    "# Kernel modules, in the order given to the builder (e.g. configfs, tdx_guest,\n"
    "# vsock, vmw_vsock_virtio_transport_common, vmw_vsock_virtio_transport).\n"
    "for m in /lib/modules/mosaik/*.ko*; do\n"
    "  [ -e \"$m\" ] || continue\n"
    "  if insmod \"$m\"; then log \"loaded module ${m##*/}\"; else log \"cannot load module "
    "${m##*/}\"; fi\n"
    "done\n"
    "if mount -t configfs configfs /sys/kernel/config 2>/dev/null; then\n"
    "  log \"configfs mounted on /sys/kernel/config\"\n"
    "else\n"
    "  log \"configfs not available\"\n"
    "fi\n"
    "ip link set lo up 2>/dev/null || log \"cannot bring up lo\"\n"
    "if [ -e /sys/class/net/eth0 ]; then\n"
    "  ip link set eth0 up\n"
    "  if udhcpc -i eth0 -s /etc/mosaik/udhcpc.sh -q -n -t 5 -T 2 >/dev/null 2>&1; then\n"
    "    log \"eth0: $(ip -4 -o addr show dev eth0 | awk '{print $4}')\"\n"
    "  else\n"
    "    log \"eth0: no DHCP lease\"\n"
    "  fi\n"
    "fi\n"
    "# Diagnostics: with mosaik.dumplog=1 on the command line, print the firmware event\n"
    "# log (vTPM or TDX CCEL) base64-encoded between markers.\n"
    "case \" $(cat /proc/cmdline) \" in\n"
    "*\" mosaik.dumplog=1 \"*)\n"
    "  for f in /sys/kernel/security/tpm0/binary_bios_measurements "
    "/sys/firmware/acpi/tables/data/CCEL; do\n"
    "    [ -r \"$f\" ] || continue\n"
    "    echo \"MOSAIK-EVENTLOG-BEGIN $f\"\n"
    "    base64 \"$f\"\n"
    "    echo \"MOSAIK-EVENTLOG-END\"\n"
    "  done\n"
    "  ;;\n"
    "esac\n";

int mk_tdx_build_init_script(const mk_tdx_build_opts *o, mk_buf *out, mk_error *err) {
    resolved r;
    MK_TRY(resolve(o, &r, err));
    size_t start = out->len;
    int rc = mk_buf_append_str(out, init_head);
    if (rc == 0)
        rc = mk_buf_printf(out,
                           "log \"starting /usr/bin/%s\"\n"
                           "/usr/bin/%s\n"
                           "rc=$?\n"
                           "log \"program exited with status $rc; powering off\"\n"
                           "sync\n"
                           "poweroff -f\n",
                           r.prog_name, r.prog_name);
    if (rc < 0) {
        out->len = start;
        return mk_error_set(err, rc, "build: out of memory");
    }
    return 0;
}

static const char udhcpc_script[] =
    "#!/bin/sh\n"
    "# udhcpc hook of a mosaik image: applies a DHCP lease to $interface.\n"
    "case \"$1\" in\n"
    "deconfig)\n"
    "  ip -4 addr flush dev \"$interface\"\n"
    "  ip link set \"$interface\" up\n"
    "  ;;\n"
    "bound|renew)\n"
    "  ip -4 addr flush dev \"$interface\"\n"
    "  ip -4 addr add \"$ip/${mask:-24}\" dev \"$interface\"\n"
    "  [ -n \"$router\" ] && ip -4 route add default via \"${router%% *}\" dev \"$interface\"\n"
    "  : > /etc/resolv.conf\n"
    "  for d in $dns; do echo \"nameserver $d\" >> /etc/resolv.conf; done\n"
    "  ;;\n"
    "esac\n"
    "exit 0\n";

static const char etc_passwd[] = "root:x:0:0:root:/root:/bin/sh\n";
static const char etc_group[] = "root:x:0:\n";

/* ---- the archive ------------------------------------------------------- */

static unsigned perm_of(const char *path, unsigned dflt_exec, unsigned dflt) {
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 0111)) return dflt_exec;
    return dflt;
}

static int build_archive(const mk_tdx_build_opts *o, const resolved *r, mk_cpio **out,
                         mk_error *err) {
    static const struct {
        const char *path;
        unsigned perm;
    } dirs[] = {
        {"bin", 0755},     {"dev", 0755},         {"etc", 0755},  {"etc/mosaik", 0755},
        {"lib", 0755},     {"lib/modules", 0755}, {"proc", 0555}, {"root", 0700},
        {"run", 0755},     {"sys", 0555},         {"tmp", 01777}, {"usr", 0755},
        {"usr/bin", 0755}, {"var", 0755},
    };
    mk_cpio *c = mk_cpio_new();
    mk_buf b = MK_BUF_INIT;
    char path[MK_CPIO_PATH_MAX + 1];
    int rc = c ? 0 : mk_error_set(err, MK_ENOMEM, "build: out of memory");
    for (size_t i = 0; rc == 0 && i < sizeof dirs / sizeof dirs[0]; i++)
        rc = mk_cpio_add_dir(c, dirs[i].path, dirs[i].perm, err);
    if (rc == 0) rc = mk_cpio_add_chardev(c, "dev/console", 0600, 5, 1, err);

    /* busybox and the program */
    if (rc == 0) rc = read_input("--busybox", r->busybox, MK_TDX_BUILD_MAX_INPUT, &b, err);
    if (rc == 0) rc = check_elf("--busybox", r->busybox, &b, o->allow_dynamic, err);
    if (rc == 0) rc = mk_cpio_add_file(c, "bin/busybox", 0755, b.data, b.len, err);
    if (rc == 0) rc = mk_cpio_add_symlink(c, "bin/sh", "busybox", err);
    mk_buf_free(&b);
    if (rc == 0) rc = read_input("--program", o->program, MK_TDX_BUILD_MAX_INPUT, &b, err);
    if (rc == 0) rc = check_elf("--program", o->program, &b, o->allow_dynamic, err);
    if (rc == 0) {
        snprintf(path, sizeof path, "usr/bin/%s", r->prog_name);
        rc = mk_cpio_add_file(c, path, 0755, b.data, b.len, err);
    }
    mk_buf_free(&b);

    /* generated files */
    mk_buf_init(&b, 0);
    if (rc == 0) rc = mk_tdx_build_init_script(o, &b, err);
    if (rc == 0) rc = mk_cpio_add_file(c, "init", 0755, b.data, b.len, err);
    mk_buf_free(&b);
    if (rc == 0)
        rc = mk_cpio_add_file(c, "etc/mosaik/udhcpc.sh", 0755, udhcpc_script,
                              sizeof udhcpc_script - 1, err);
    if (rc == 0)
        rc = mk_cpio_add_file(c, "etc/passwd", 0644, etc_passwd, sizeof etc_passwd - 1, err);
    if (rc == 0) rc = mk_cpio_add_file(c, "etc/group", 0644, etc_group, sizeof etc_group - 1, err);

    /* kernel modules: NN- prefix keeps the given order under the /init glob */
    if (rc == 0 && o->nmodules) rc = mk_cpio_add_dir(c, "lib/modules/mosaik", 0755, err);
    for (size_t i = 0; rc == 0 && i < o->nmodules; i++) {
        const char *m = o->modules[i];
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
            snprintf(path, sizeof path, "lib/modules/mosaik/%02zu-%s", i + 1, mn);
            rc = mk_cpio_add_file(c, path, 0644, b.data, b.len, err);
        }
        mk_buf_free(&b);
    }

    /* ssh key */
    if (rc == 0 && o->ssh_key) {
        rc = read_input("--ssh-key", o->ssh_key, MAX_SMALL_INPUT, &b, err);
        if (rc == 0 && (b.len == 0 || memchr(b.data, 0, b.len)))
            rc = mk_error_set(err, MK_EINVAL, "--ssh-key %s: empty or not a text file", o->ssh_key);
        if (rc == 0) rc = mk_cpio_add_dir(c, "root/.ssh", 0700, err);
        if (rc == 0)
            rc = mk_cpio_add_file(c, "root/.ssh/authorized_keys", 0600, b.data, b.len, err);
        mk_buf_free(&b);
    }

    /* extras (may add directories; a clash with the entries above is refused) */
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
    if (rc < 0) {
        mk_cpio_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int mk_tdx_build_archive(const mk_tdx_build_opts *o, mk_cpio **out, mk_error *err) {
    resolved r;
    if (!out) return mk_error_set(err, MK_EINVAL, "build: NULL argument");
    MK_TRY(resolve(o, &r, err));
    return build_archive(o, &r, out, err);
}

/* ---- outputs ----------------------------------------------------------- */

static void hex48(const uint8_t *d, char out[97]) {
    mk_hex_encode(d, 48, out);
}

/* 'single-quoted' for sh. */
static int sh_quote(mk_buf *b, const char *s) {
    MK_TRY(mk_buf_append_str(b, "'"));
    for (; *s; s++) {
        if (*s == '\'')
            MK_TRY(mk_buf_append_str(b, "'\\''"));
        else
            MK_TRY(mk_buf_append(b, s, 1));
    }
    return mk_buf_append_str(b, "'");
}

static int launch_script(const resolved *r, mk_buf *b) {
    MK_TRY(mk_buf_printf(
        b,
        "#!/bin/sh\n"
        "# Boot this mosaik image as an Intel TDX guest (generated by mosaik tdx build %s).\n"
        "# Needs a TDX host: KVM with TDX (upstream Linux >= 6.16), QEMU >= 10.1 with TDX,\n"
        "# and the QEMU/OVMF stack of profile '%s' (see measurements.json and\n"
        "# docs/operator-guide.md). -smp, -m, -append, the kernel, the initrd and the\n"
        "# firmware are measurement inputs: change them and the registers change.\n"
        "# Extra arguments go to QEMU (e.g. -device vhost-vsock-pci,guest-cid=3 or a\n"
        "# -netdev/-device pair); they do not change MRTD/RTMR1/RTMR2 (they may change\n"
        "# RTMR0). QEMU=/path/to/qemu-system-x86_64 selects the binary.\n"
        "set -eu\n"
        "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
        "for f in %s %s %s; do\n"
        "  [ -r \"$here/$f\" ] || { echo \"launch-tdx.sh: $here/$f is missing\" >&2; exit 1; }\n"
        "done\n"
        "exec \"${QEMU:-qemu-system-x86_64}\" \\\n"
        "  -accel kvm -cpu host \\\n"
        "  -object tdx-guest,id=tdx0 \\\n"
        "  -machine q35,kernel-irqchip=split,confidential-guest-support=tdx0 \\\n"
        "  -bios \"$here/%s\" \\\n"
        "  -kernel \"$here/%s\" \\\n"
        "  -initrd \"$here/%s\" \\\n"
        "  -append ",
        MOSAIK_VERSION, r->profile->name ? r->profile->name : "custom", MK_TDX_BUILD_FIRMWARE,
        MK_TDX_BUILD_KERNEL, MK_TDX_BUILD_INITRD, MK_TDX_BUILD_FIRMWARE, MK_TDX_BUILD_KERNEL,
        MK_TDX_BUILD_INITRD));
    MK_TRY(sh_quote(b, r->cmdline));
    return mk_buf_printf(b,
                         " \\\n"
                         "  -smp %u -m %u \\\n"
                         "  -nographic -nodefaults -serial stdio -no-reboot \\\n"
                         "  \"$@\"\n",
                         r->cpus, r->memory_mib);
}

/* "..." for C, the command line being printable ASCII. */
static int c_string(mk_buf *b, const char *s) {
    MK_TRY(mk_buf_append_str(b, "\""));
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') MK_TRY(mk_buf_append_str(b, "\\"));
        /* keep "??" from forming trigraphs */
        if (*s == '?' && s[1] == '?') {
            MK_TRY(mk_buf_append_str(b, "?\\"));
            continue;
        }
        MK_TRY(mk_buf_append(b, s, 1));
    }
    return mk_buf_append_str(b, "\"");
}

static int c_register(mk_buf *b, const char *name, const uint8_t *d) {
    char hx[97];
    hex48(d, hx);
    MK_TRY(mk_buf_printf(b, "#define MOSAIK_EXPECTED_%s \"%s\"\n#define MOSAIK_EXPECTED_%s_BYTES {",
                         name, hx, name));
    for (int i = 0; i < 48; i++)
        MK_TRY(mk_buf_printf(b, "%s0x%02x", i % 12 ? ", " : i ? ", \\\n    " : " \\\n    ", d[i]));
    return mk_buf_printf(b, " \\\n}\n");
}

static int c_header(const resolved *r, const mk_tdx_build_result *res, mk_buf *b) {
    const mk_tdx_measurement *m = res->measurement;
    char hx[97];
    hex48(res->initrd_sha384, hx);
    MK_TRY(mk_buf_printf(
        b,
        "/*\n"
        " * mosaik_measurements.h — expected TDX measurements of the image built next to\n"
        " * this file (generated by mosaik tdx build %s; do not edit).\n"
        " *\n"
        " * Bind a TDX validator to the image at compile time (docs/operator-guide.md):\n"
        " *   #include \"mosaik/mosaik.h\"\n"
        " *   #include \"mosaik_measurements.h\"\n"
        " *   mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();\n"
        " *   mosaik_expected_criteria(mk_tdx_validator_opts_baseline(o));\n"
        " * RTMR0 is not pinned: it depends on the host's QEMU, CPUs, RAM and devices.\n"
        " * The values hold for the host stack of MOSAIK_EXPECTED_PROFILE only.\n"
        " */\n"
        "#ifndef MOSAIK_MEASUREMENTS_H\n"
        "#define MOSAIK_MEASUREMENTS_H\n"
        "\n"
        "#define MOSAIK_EXPECTED_PROFILE \"%s\"\n"
        "#define MOSAIK_EXPECTED_CPUS %u\n"
        "#define MOSAIK_EXPECTED_MEMORY_MIB %u\n"
        "#define MOSAIK_EXPECTED_CMDLINE ",
        MOSAIK_VERSION, m->profile, r->cpus, r->memory_mib));
    MK_TRY(c_string(b, r->cmdline));
    MK_TRY(mk_buf_printf(b, "\n#define MOSAIK_EXPECTED_INITRD_SHA384 \"%s\"\n", hx));
    if (m->have_mrtd) MK_TRY(c_register(b, "MRTD", m->mrtd));
    if (m->have_rtmr) {
        MK_TRY(c_register(b, "RTMR1", m->rtmr1));
        MK_TRY(c_register(b, "RTMR2", m->rtmr2));
    }
    MK_TRY(mk_buf_printf(b, "\n#ifdef MOSAIK_TDX_TICKET_H\n"
                            "/* Require every register above (replaces *c). */\n"
                            "static inline void mosaik_expected_criteria(mk_tdx_criteria *c) {\n"));
    if (m->have_mrtd)
        MK_TRY(
            mk_buf_printf(b, "    static const uint8_t mrtd[48] = MOSAIK_EXPECTED_MRTD_BYTES;\n"));
    if (m->have_rtmr)
        MK_TRY(mk_buf_printf(
            b, "    static const uint8_t rtmr1[48] = MOSAIK_EXPECTED_RTMR1_BYTES;\n"
               "    static const uint8_t rtmr2[48] = MOSAIK_EXPECTED_RTMR2_BYTES;\n"));
    MK_TRY(mk_buf_printf(b, "    mk_tdx_criteria_init(c);\n"));
    if (m->have_mrtd) MK_TRY(mk_buf_printf(b, "    mk_tdx_criteria_require_mrtd(c, mrtd);\n"));
    if (m->have_rtmr)
        MK_TRY(mk_buf_printf(b, "    mk_tdx_criteria_require_rtmr(c, 1, rtmr1);\n"
                                "    mk_tdx_criteria_require_rtmr(c, 2, rtmr2);\n"));
    return mk_buf_printf(b, "}\n#endif\n\n#endif\n");
}

static json_t *hex_json(const uint8_t *d, size_t n) {
    char hx[2 * 64 + 1];
    mk_hex_encode(d, n, hx);
    return json_string(hx);
}

static json_t *file_json(const char *name, const mk_buf *b) {
    uint8_t d[MK_SHA256_LEN];
    mk_sha256(b->data, b->len, d);
    return json_pack("{s:s, s:I, s:o}", "file", name, "size", (json_int_t)b->len, "sha256",
                     hex_json(d, sizeof d));
}

static int measurements_json(const resolved *r, const mk_tdx_build_result *res,
                             const mk_buf *kernel, const mk_buf *fw, const mk_buf *initrd,
                             mk_buf *out, mk_error *err) {
    mk_buf mj = MK_BUF_INIT;
    int rc = mk_tdx_measurement_json(res->measurement, r->profile, &mj);
    if (rc < 0) {
        mk_buf_free(&mj);
        return mk_error_set(err, rc, "build: cannot render the measurements");
    }
    json_error_t je;
    json_t *root = json_loadb((const char *)mj.data, mj.len, 0, &je);
    mk_buf_free(&mj);
    if (!root) return mk_error_set(err, MK_EINVAL, "build: measurement JSON: %s", je.text);
    json_t *img = json_object();
    json_t *fin = file_json(MK_TDX_BUILD_INITRD, initrd);
    if (fin) json_object_set_new(fin, "sha384", hex_json(res->initrd_sha384, 48));
    json_object_set_new(img, "builder", json_sprintf("mosaik %s", MOSAIK_VERSION));
    json_object_set_new(img, "zlib", json_string(zlibVersion()));
    json_object_set_new(img, "cpus", json_integer(r->cpus));
    json_object_set_new(img, "memory_mib", json_integer(r->memory_mib));
    json_object_set_new(img, "cmdline", json_string(r->cmdline));
    json_object_set_new(img, "mtime", json_integer(r->mtime));
    json_object_set_new(img, "entries", json_integer((json_int_t)res->nentries));
    json_object_set_new(img, "initrd", fin);
    if (kernel->len) json_object_set_new(img, "kernel", file_json(MK_TDX_BUILD_KERNEL, kernel));
    if (fw->len) json_object_set_new(img, "firmware", file_json(MK_TDX_BUILD_FIRMWARE, fw));
    json_object_set_new(img, "launch", json_string(MK_TDX_BUILD_LAUNCH));
    json_object_set_new(img, "rtmr0",
                        json_string("not computed: depends on the host's QEMU version, CPUs, "
                                    "RAM and devices"));
    json_object_set_new(root, "image", img);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s) return mk_error_set(err, MK_ENOMEM, "build: out of memory");
    rc = mk_buf_printf(out, "%s\n", s);
    free(s);
    return rc < 0 ? mk_error_set(err, rc, "build: out of memory") : 0;
}

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

int mk_tdx_build(const mk_tdx_build_opts *o, mk_tdx_build_result *res, mk_error *err) {
    resolved r;
    MK_TRY(resolve(o, &r, err));
    mk_cpio *c = NULL;
    mk_buf cpio = MK_BUF_INIT, initrd = MK_BUF_INIT, kernel = MK_BUF_INIT, fw = MK_BUF_INIT;
    mk_buf text = MK_BUF_INIT;
    mk_tdx_build_result out = {0};
    int rc = 0;

    /* 1-2: inputs and archive */
    if (o->kernel) rc = read_input("--kernel", o->kernel, MK_TDX_PE_MAX_IMAGE, &kernel, err);
    if (rc == 0 && o->kernel && kernel.len == 0)
        rc = mk_error_set(err, MK_EINVAL, "--kernel %s: empty file", o->kernel);
    if (rc == 0 && o->ovmf) rc = read_input("--ovmf", o->ovmf, MK_TDX_TDVF_MAX_IMAGE, &fw, err);
    if (rc == 0 && o->ovmf && fw.len == 0)
        rc = mk_error_set(err, MK_EINVAL, "--ovmf %s: empty file", o->ovmf);
    if (rc == 0) rc = build_archive(o, &r, &c, err);
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
    if (rc == 0) {
        out.measurement = calloc(1, sizeof *out.measurement);
        if (!out.measurement) rc = mk_error_set(err, MK_ENOMEM, "build: out of memory");
    }
    if (rc == 0 && (kernel.len || fw.len)) {
        /* without a kernel only MRTD can be computed */
        mk_tdx_measure_input in = {0};
        in.firmware = fw.len ? fw.data : NULL;
        in.firmware_len = fw.len;
        in.kernel = kernel.len ? kernel.data : NULL;
        in.kernel_len = kernel.len;
        in.have_initrd = kernel.len != 0;
        in.initrd = kernel.len ? initrd.data : NULL;
        in.initrd_len = kernel.len ? initrd.len : 0;
        in.cmdline = kernel.len ? r.cmdline : NULL;
        in.memory_mib = r.memory_mib;
        rc = mk_tdx_measure(&in, r.profile, out.measurement, err);
        if (rc < 0) mk_error_prefix(err, rc, "build: measuring the image");
    } else if (rc == 0) {
        snprintf(out.measurement->profile, sizeof out.measurement->profile, "%s",
                 r.profile->name ? r.profile->name : "custom");
    }

    /* 4: outputs */
    if (rc == 0) rc = make_dir(o->out_dir, err);
    if (rc == 0)
        rc = write_out(o->out_dir, MK_TDX_BUILD_INITRD, initrd.data, initrd.len, 0644, err);
    if (rc == 0 && kernel.len)
        rc = write_out(o->out_dir, MK_TDX_BUILD_KERNEL, kernel.data, kernel.len, 0644, err);
    if (rc == 0 && fw.len)
        rc = write_out(o->out_dir, MK_TDX_BUILD_FIRMWARE, fw.data, fw.len, 0644, err);
    if (rc == 0) {
        mk_buf_reset(&text);
        rc = launch_script(&r, &text);
        if (rc < 0)
            mk_error_set(err, rc, "build: out of memory");
        else
            rc = write_out(o->out_dir, MK_TDX_BUILD_LAUNCH, text.data, text.len, 0755, err);
    }
    if (rc == 0) {
        mk_buf_reset(&text);
        rc = measurements_json(&r, &out, &kernel, &fw, &initrd, &text, err);
        if (rc == 0)
            rc = write_out(o->out_dir, MK_TDX_BUILD_MEASUREMENTS, text.data, text.len, 0644, err);
    }
    if (rc == 0) {
        mk_buf_reset(&text);
        rc = c_header(&r, &out, &text);
        if (rc < 0)
            mk_error_set(err, rc, "build: out of memory");
        else
            rc = write_out(o->out_dir, MK_TDX_BUILD_HEADER, text.data, text.len, 0644, err);
    }
    if (rc == 0) {
        mk_buf_reset(&text);
        rc = mk_cpio_manifest(c, &text, err);
        if (rc == 0)
            rc = write_out(o->out_dir, MK_TDX_BUILD_MANIFEST, text.data, text.len, 0644, err);
    }

    mk_cpio_free(c);
    mk_buf_free(&initrd);
    mk_buf_free(&kernel);
    mk_buf_free(&fw);
    mk_buf_free(&text);
    if (rc < 0 || !res) {
        mk_tdx_build_result_free(&out);
        return rc;
    }
    *res = out;
    return 0;
}
