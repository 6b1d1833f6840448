/*
 * init.c — the generated /init of a mosaik TDX image and its DHCP hook
 * (docs/tdx-builder.md, "/init").
 *
 * /init is a busybox sh script: applet links, pseudo file systems, the
 * bundled kernel modules in the order given, configfs and what the TSM
 * report interface offers, lo and eth0 (DHCP), the optional event-log dump,
 * then the program with the arguments and environment given to the builder,
 * run as a child (PID 1 must not exit), and a power-off.
 *
 * Quoting: every argument and environment value is printable ASCII and is
 * written single-quoted ('\'' for a quote), so the shell passes it through
 * byte for byte; environment names are [A-Za-z_][A-Za-z0-9_]*. The text is
 * a function of the options only: it is part of the initrd and so of RTMR2.
 */
#include <string.h>

#include "tee/tdx/build/build_internal.h"

static const char init_body[] =
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
    "# What the TSM report interface (configfs) offers; a TD with a TDX module\n"
    "# lists tdx_guest as the provider of a report entry.\n"
    "if [ -d /sys/kernel/config/tsm ]; then\n"
    "  log \"tsm: $(cd /sys/kernel/config/tsm && find . | sort | tr '\\n' ' ')\"\n"
    "  if mkdir /sys/kernel/config/tsm/report/mosaik-probe 2>/dev/null; then\n"
    "    log \"tsm: report provider $(cat /sys/kernel/config/tsm/report/mosaik-probe/provider "
    "2>&1)\"\n"
    "    rmdir /sys/kernel/config/tsm/report/mosaik-probe\n"
    "  else\n"
    "    log \"tsm: no report provider (no TDX module answers)\"\n"
    "  fi\n"
    "else\n"
    "  log \"tsm: /sys/kernel/config/tsm absent\"\n"
    "fi\n"
    "[ -e /dev/tdx_guest ] && log \"tdx: /dev/tdx_guest present\"\n"
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

static bool printable(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return false;
    return true;
}

static bool env_name_ok(const char *s, size_t n) {
    if (!n || (s[0] >= '0' && s[0] <= '9')) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* 'single-quoted' for sh. */
static int sh_quote(mk_buf *b, const char *s, size_t n) {
    MK_TRY(mk_buf_append_str(b, "'"));
    for (size_t i = 0; i < n; i++)
        MK_TRY(s[i] == '\'' ? mk_buf_append_str(b, "'\\''") : mk_buf_append(b, s + i, 1));
    return mk_buf_append_str(b, "'");
}

/* The arguments and environment are checked here, so a bad one is
 * refused before anything is built. */
static int check_args(const mk_tdx_build_opts *o, mk_error *err) {
    if (o->nargs > MK_TDX_BUILD_MAX_ARGS || (o->nargs && !o->args))
        return mk_error_set(err, MK_ETOOBIG, "build: more than %d --arg", MK_TDX_BUILD_MAX_ARGS);
    if (o->nenv > MK_TDX_BUILD_MAX_ENV || (o->nenv && !o->env))
        return mk_error_set(err, MK_ETOOBIG, "build: more than %d --env", MK_TDX_BUILD_MAX_ENV);
    for (size_t i = 0; i < o->nargs; i++)
        if (!o->args[i] || strlen(o->args[i]) > 4096 || !printable(o->args[i]))
            return mk_error_set(err, MK_EINVAL,
                                "--arg %zu: want at most 4096 bytes of printable ASCII", i + 1);
    for (size_t i = 0; i < o->nenv; i++) {
        const char *e = o->env[i], *eq = e ? strchr(e, '=') : NULL;
        if (!eq || !env_name_ok(e, (size_t)(eq - e)) || strlen(e) > 4096 || !printable(e))
            return mk_error_set(err, MK_EINVAL,
                                "--env '%.64s': want NAME=VALUE (NAME letters, digits, _; "
                                "printable ASCII)",
                                e ? e : "");
    }
    return 0;
}

int mk_tdx_init_script(const mk_tdx_build_opts *o, const mk_tdx_resolved *r, mk_buf *out,
                       mk_error *err) {
    MK_TRY(check_args(o, err));
    size_t start = out->len;
    int rc = mk_buf_printf(out,
                           "#!%s sh\n"
                           "# /init of a mosaik TDX image, generated by `mosaik tdx build` "
                           "(docs/tdx-builder.md).\n"
                           "# Mounts the pseudo file systems, loads the bundled kernel modules, "
                           "brings up the\n"
                           "# network and runs the program; powers the guest off when the "
                           "program exits.\n",
                           r->bb_path);
    if (rc == 0 && r->debian)
        rc = mk_buf_printf(out,
                           "mkdir -p %s\n%s --install -s %s\n"
                           "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:"
                           "/bin:%s HOME=/root\n",
                           r->bb_dir, r->bb_path, r->bb_dir, r->bb_dir);
    else if (rc == 0)
        rc = mk_buf_printf(out, "%s --install -s %s\nexport PATH=/usr/bin:/bin HOME=/root\n",
                           r->bb_path, r->bb_dir);
    if (rc == 0) rc = mk_buf_append_str(out, init_body);
    for (size_t i = 0; rc == 0 && i < o->nenv; i++) {
        const char *eq = strchr(o->env[i], '=');
        rc = mk_buf_printf(out, "export %.*s=", (int)(eq - o->env[i]), o->env[i]);
        if (rc == 0) rc = sh_quote(out, eq + 1, strlen(eq + 1));
        if (rc == 0) rc = mk_buf_append_str(out, "\n");
    }
    if (rc == 0)
        rc = mk_buf_printf(out, "log \"starting /usr/bin/%s\"\n/usr/bin/%s", r->prog_name,
                           r->prog_name);
    for (size_t i = 0; rc == 0 && i < o->nargs; i++) {
        rc = mk_buf_append_str(out, " ");
        if (rc == 0) rc = sh_quote(out, o->args[i], strlen(o->args[i]));
    }
    if (rc == 0)
        rc = mk_buf_append_str(out, "\nrc=$?\n"
                                    "log \"program exited with status $rc; powering off\"\n"
                                    "sync\n"
                                    "poweroff -f\n");
    if (rc < 0) {
        out->len = start;
        return mk_error_set(err, rc, "build: out of memory");
    }
    return 0;
}

int mk_tdx_build_init_script(const mk_tdx_build_opts *o, mk_buf *out, mk_error *err) {
    mk_tdx_resolved r;
    MK_TRY(mk_tdx_build_resolve(o, &r, err));
    return mk_tdx_init_script(o, &r, out, err);
}

const char mk_tdx_udhcpc_script[] =
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
