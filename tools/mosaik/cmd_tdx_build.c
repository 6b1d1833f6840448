/*
 * tools/mosaik/cmd_tdx_build.c — `mosaik tdx build`: package a program
 * (static, or dynamic with --bundle-libs) with busybox, optionally on a
 * Debian userland, into a deterministic initramfs and write the launch
 * script and the expected measurements (mosaik/tdx_build.h,
 * docs/tdx-builder.md).
 *
 * Kernel, firmware and busybox are files the user names (or a kernel
 * directory from `mosaik tdx kernel fetch`); only --rootfs debian downloads
 * (Debian packages, through mmdebstrap and apt). Options are collected into
 * an mk_tdx_build_opts; repeatable options (--extra, --module, --arg,
 * --env, --package, --rootfs-source) are capped at the library's limits.
 * One input file may be '-' (stdin: a private temporary copy).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_tdx.h"
#include "mosaik/encoding.h"
#include "mosaik/tdx_build.h"

void cli_tdx_build_usage(FILE *f) {
    fprintf(f,
            "usage: mosaik tdx build --program FILE (--kernel FILE | --kernel-dir DIR)\n"
            "                        --ovmf FILE -o DIR\n"
            "                        [--arg ARG]... [--env NAME=VALUE]... [--bundle-libs]\n"
            "                        [--busybox FILE] [--extra SRC:DEST]... [--module FILE]...\n"
            "                        [--ssh-key FILE] [--cpus N] [--memory MiB]\n"
            "                        [--cmdline STR] [--profile NAME] [--allow-dynamic]\n"
            "                        [--rootfs busybox|debian] [--package NAME]...\n"
            "                        [--rootfs-suite S] [--rootfs-source FILE]...\n"
            "                        [--rootfs-cache DIR]\n"
            "                        [--qgs-cid N] [--qgs-port N] [--guest-cid N] [--json]\n"
            "\n"
            "Build a bootable TDX guest image: a deterministic gzip'd newc initramfs with\n"
            "busybox, a generated /init and the program, plus a QEMU launch script and\n"
            "the expected MRTD/RTMR1/RTMR2. Same inputs, same bytes.\n"
            "\n"
            "  --program FILE    the program to run (/usr/bin/<name> in the guest)\n"
            "  --arg ARG         an argument of the program (repeatable, in order)\n"
            "  --env NAME=VALUE  its environment (repeatable); arguments and environment\n"
            "                    are written into /init, so they are measured (RTMR2)\n"
            "  --bundle-libs     copy a dynamic program's loader and shared libraries\n"
            "  --kernel FILE     bzImage with EFI stub (copied to DIR/vmlinuz)\n"
            "  --kernel-dir DIR  from `mosaik tdx kernel fetch`: its vmlinuz and TD modules;\n"
            "                    package, version and SHA-256 go into measurements.json\n"
            "  --ovmf FILE       TDX-capable OVMF (copied to DIR/OVMF.fd)\n"
            "  --busybox FILE    static busybox (default %s, Debian busybox-static)\n"
            "  --extra SRC:DEST  add host file SRC as absolute guest path DEST (repeatable)\n"
            "  --module FILE     kernel module, insmod'ed by /init in the order given\n"
            "                    (repeatable; e.g. vsock.ko, then the virtio transport)\n"
            "  --ssh-key FILE    authorized_keys for /root/.ssh\n"
            "  --cpus N          vCPUs (-smp), default %d\n"
            "  --memory MiB      RAM (-m), default %d; a measurement input\n"
            "  --cmdline STR     kernel command line (-append), default \"%s\"\n"
            "  --profile NAME    host stack the measurements are for (default %s)\n"
            "  --allow-dynamic   accept a program or busybox with an ELF interpreter\n"
            "  --rootfs KIND     busybox (default) or debian: a Debian userland made with\n"
            "                    mmdebstrap from the apt sources (Essential set + --package)\n"
            "  --package NAME    a Debian package to include (repeatable)\n"
            "  --rootfs-suite S  Debian suite (default: the host's VERSION_CODENAME)\n"
            "  --rootfs-source FILE  apt source file for mmdebstrap (repeatable; default:\n"
            "                    the host's /etc/apt/sources.list{,.d/*})\n"
            "  --rootfs-cache DIR  keep downloaded .debs here between builds\n"
            "  --qgs-cid N, --qgs-port N  the host's quote generation service on vsock\n"
            "                    (defaults %d, %d; the launch script's MOSAIK_QGS_CID/_PORT)\n"
            "  --guest-cid N     the guest's vsock CID (default %d; MOSAIK_GUEST_CID)\n"
            "  -o, --output DIR  output directory (created if missing)\n"
            "  --json            print what was built as one JSON object\n"
            "One input file may be '-' (stdin).\n"
            "\n"
            "Profiles:\n",
            MK_TDX_BUILD_DEFAULT_BUSYBOX, MK_TDX_BUILD_DEFAULT_CPUS, MK_TDX_BUILD_DEFAULT_MEMORY,
            MK_TDX_BUILD_DEFAULT_CMDLINE, MK_TDX_DEFAULT_PROFILE, MK_TDX_BUILD_DEFAULT_QGS_CID,
            MK_TDX_BUILD_DEFAULT_QGS_PORT, MK_TDX_BUILD_DEFAULT_GUEST_CID);
    for (size_t i = 0; i < mk_tdx_profile_count(); i++) {
        const mk_tdx_profile *p = mk_tdx_profile_at(i);
        fprintf(f, "  %-24s %s\n", p->name, p->description);
    }
    fprintf(f,
            "\n"
            "Outputs in DIR: %s %s %s %s %s %s %s.\n"
            "Archive entries carry mtime SOURCE_DATE_EPOCH (or 0).\n"
            "Exit status: 0 built, 1 input refused, 2 usage error, 3 a file cannot be read\n"
            "or written, or a download failed.\n",
            MK_TDX_BUILD_INITRD, MK_TDX_BUILD_KERNEL, MK_TDX_BUILD_FIRMWARE, MK_TDX_BUILD_LAUNCH,
            MK_TDX_BUILD_MEASUREMENTS, MK_TDX_BUILD_HEADER, MK_TDX_BUILD_MANIFEST);
}

static int parse_uint(const char *opt, const char *v, unsigned lo, unsigned hi, unsigned *out) {
    uint32_t x;
    if (cli_parse_u32(opt, v, lo, hi, &x)) return CLI_USAGE;
    *out = x;
    return 0;
}

enum {
    OPT_PROGRAM = 256,
    OPT_KERNEL,
    OPT_OVMF,
    OPT_BUSYBOX,
    OPT_EXTRA,
    OPT_MODULE,
    OPT_SSH_KEY,
    OPT_CPUS,
    OPT_MEMORY,
    OPT_CMDLINE,
    OPT_PROFILE,
    OPT_ALLOW_DYNAMIC,
    OPT_ARG,
    OPT_ENV,
    OPT_BUNDLE,
    OPT_KERNEL_DIR,
    OPT_ROOTFS,
    OPT_PACKAGE,
    OPT_SUITE,
    OPT_SOURCE,
    OPT_ROOTFS_CACHE,
    OPT_QGS_CID,
    OPT_QGS_PORT,
    OPT_GUEST_CID,
    OPT_JSON,
};

static bool g_json;

/* The repeatable options' storage (the library's caps; static, not on the
 * stack). */
static mk_tdx_build_extra extras[MK_TDX_BUILD_MAX_EXTRAS];
static const char *modules[MK_TDX_BUILD_MAX_MODULES];
static const char *args[MK_TDX_BUILD_MAX_ARGS];
static const char *envs[MK_TDX_BUILD_MAX_ENV];
static const char *packages[MK_TDX_BUILD_MAX_PACKAGES];
static const char *sources[16];

/* A repeatable option's value appended to list (cap entries). */
static int add_item(const char **list, size_t *n, size_t cap, const char *v, const char *opt) {
    if (*n >= cap) return cli_usage_error("tdx build: more than %zu %s", cap, opt);
    list[(*n)++] = v;
    return CLI_CONTINUE;
}

/* --extra SRC:DEST, split in place at the colon. */
static int add_extra(mk_tdx_build_opts *o, char *arg) {
    char *colon = strchr(arg, ':');
    if (!colon || colon == arg || colon[1] != '/')
        return cli_usage_error("tdx build: --extra wants SRC:/absolute/dest, not '%s'", arg);
    if (o->nextras >= MK_TDX_BUILD_MAX_EXTRAS)
        return cli_usage_error("tdx build: more than %d --extra", MK_TDX_BUILD_MAX_EXTRAS);
    *colon = 0;
    extras[o->nextras].src = arg;
    extras[o->nextras].dest = colon + 1;
    o->nextras++;
    return CLI_CONTINUE;
}

/* An option that is not only stored, into o; CLI_CONTINUE, or the exit
 * code (help, usage error). */
static int build_option(int c, char *arg, mk_tdx_build_opts *o, char **argv) {
    switch (c) {
    case OPT_EXTRA:
        return add_extra(o, arg);
    case OPT_MODULE:
        if (o->nmodules >= MK_TDX_BUILD_MAX_MODULES)
            return cli_usage_error("tdx build: more than %d --module", MK_TDX_BUILD_MAX_MODULES);
        modules[o->nmodules++] = arg;
        break;
    case OPT_ARG:
        return add_item(args, &o->nargs, MK_TDX_BUILD_MAX_ARGS, arg, "--arg");
    case OPT_ENV:
        return add_item(envs, &o->nenv, MK_TDX_BUILD_MAX_ENV, arg, "--env");
    case OPT_PACKAGE:
        return add_item(packages, &o->npackages, MK_TDX_BUILD_MAX_PACKAGES, arg, "--package");
    case OPT_SOURCE:
        return add_item(sources, &o->nrootfs_sources, 16, arg, "--rootfs-source");
    case OPT_QGS_CID:
        return parse_uint("--qgs-cid", arg, 1, 0xffffffffu, &o->qgs_cid) ? CLI_USAGE : CLI_CONTINUE;
    case OPT_QGS_PORT:
        return parse_uint("--qgs-port", arg, 1, 0xffffffffu, &o->qgs_port) ? CLI_USAGE
                                                                           : CLI_CONTINUE;
    case OPT_GUEST_CID:
        return parse_uint("--guest-cid", arg, 3, 0xfffffffeu, &o->guest_cid) ? CLI_USAGE
                                                                             : CLI_CONTINUE;
    case OPT_CPUS:
        if (parse_uint("--cpus", arg, 1, 1024, &o->cpus) != 0) return CLI_USAGE;
        break;
    case OPT_MEMORY:
        if (parse_uint("--memory", arg, 64, 1u << 24, &o->memory_mib) != 0) return CLI_USAGE;
        break;
    default: /* cli_getopt said why */
        (void)argv;
        if (c == 'h') return cli_help_or_usage(true, cli_tdx_build_usage);
        return CLI_USAGE;
    }
    return CLI_CONTINUE;
}

/* The input files given as '-': a private copy of stdin each (at most one
 * distinct input can be stdin; cli_input_path hands the same copy). */
static int stdin_inputs(mk_tdx_build_opts *o) {
    mk_error err;
    mk_error_clear(&err);
    const char **files[] = {&o->program, &o->kernel, &o->ovmf, &o->busybox, &o->ssh_key};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (*files[i] && !(*files[i] = cli_input_path(*files[i], &err)))
            return cli_fail_err("tdx build", &err);
    for (size_t i = 0; i < o->nextras; i++)
        if (!(extras[i].src = cli_input_path(extras[i].src, &err)))
            return cli_fail_err("tdx build: --extra", &err);
    for (size_t i = 0; i < o->nmodules; i++)
        if (!(modules[i] = cli_input_path(modules[i], &err)))
            return cli_fail_err("tdx build: --module", &err);
    return CLI_CONTINUE;
}

/* Options into o, then the required ones and the profile; CLI_CONTINUE,
 * or the exit code (help, usage error). */
static int build_parse(int argc, char **argv, mk_tdx_build_opts *o) {
    memset(o, 0, sizeof *o);
    o->mtime = -1;
    o->extras = extras;
    o->modules = modules;
    o->args = args;
    o->env = envs;
    o->packages = packages;
    o->rootfs_sources = sources;
    const char *profile_name = MK_TDX_DEFAULT_PROFILE;
    const cli_opt opts[] = {
        {"program", required_argument, OPT_PROGRAM, &o->program, NULL},
        {"kernel", required_argument, OPT_KERNEL, &o->kernel, NULL},
        {"ovmf", required_argument, OPT_OVMF, &o->ovmf, NULL},
        {"busybox", required_argument, OPT_BUSYBOX, &o->busybox, NULL},
        {"extra", required_argument, OPT_EXTRA, NULL, NULL},
        {"module", required_argument, OPT_MODULE, NULL, NULL},
        {"ssh-key", required_argument, OPT_SSH_KEY, &o->ssh_key, NULL},
        {"cpus", required_argument, OPT_CPUS, NULL, NULL},
        {"memory", required_argument, OPT_MEMORY, NULL, NULL},
        {"cmdline", required_argument, OPT_CMDLINE, &o->cmdline, NULL},
        {"profile", required_argument, OPT_PROFILE, &profile_name, NULL},
        {"allow-dynamic", no_argument, OPT_ALLOW_DYNAMIC, NULL, &o->allow_dynamic},
        {"arg", required_argument, OPT_ARG, NULL, NULL},
        {"env", required_argument, OPT_ENV, NULL, NULL},
        {"bundle-libs", no_argument, OPT_BUNDLE, NULL, &o->bundle_libs},
        {"kernel-dir", required_argument, OPT_KERNEL_DIR, &o->kernel_dir, NULL},
        {"rootfs", required_argument, OPT_ROOTFS, &o->rootfs, NULL},
        {"package", required_argument, OPT_PACKAGE, NULL, NULL},
        {"rootfs-suite", required_argument, OPT_SUITE, &o->rootfs_suite, NULL},
        {"rootfs-source", required_argument, OPT_SOURCE, NULL, NULL},
        {"rootfs-cache", required_argument, OPT_ROOTFS_CACHE, &o->rootfs_cache, NULL},
        {"qgs-cid", required_argument, OPT_QGS_CID, NULL, NULL},
        {"qgs-port", required_argument, OPT_QGS_PORT, NULL, NULL},
        {"guest-cid", required_argument, OPT_GUEST_CID, NULL, NULL},
        {"output", required_argument, 'o', &o->out_dir, NULL},
        {"json", no_argument, OPT_JSON, NULL, &g_json},
        {"help", no_argument, 'h', NULL, NULL},
        {NULL, 0, 0, NULL, NULL},
    };
    int c, rc;
    optind = 0;
    opterr = 0;
    while ((c = cli_getopt(argc, argv, "ho:", opts)) != -1)
        if ((rc = build_option(c, optarg, o, argv)) != CLI_CONTINUE) return rc;
    if (optind < argc) return cli_usage_error("tdx build: unexpected argument '%s'", argv[optind]);
    if (!o->program) return cli_usage_error("tdx build: --program FILE is required");
    if (!o->kernel && !o->kernel_dir)
        return cli_usage_error("tdx build: --kernel FILE or --kernel-dir DIR is required");
    if (!o->ovmf) return cli_usage_error("tdx build: --ovmf FILE is required");
    if (!o->out_dir) return cli_usage_error("tdx build: -o DIR is required");
    o->profile = mk_tdx_profile_find(profile_name);
    if (!o->profile)
        return cli_usage_error("tdx build: unknown profile '%s' (see --help)", profile_name);
    cli_json = g_json;
    return stdin_inputs(o);
}

/* What was built, as one JSON object. */
static void build_print_json(const mk_tdx_build_opts *o, const mk_tdx_build_result *res) {
    char hx[97], launch[4200];
    mk_hex_encode(res->initrd_sha384, 48, hx);
    snprintf(launch, sizeof launch, "%s/%s", o->out_dir, MK_TDX_BUILD_LAUNCH);
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s}", "image", o->out_dir,
                          "initrd_sha384", hx, "entries", (json_int_t)res->nentries, "initrd_bytes",
                          (json_int_t)res->initrd_len, "mtime", (json_int_t)res->mtime, "profile",
                          res->measurement->profile, "launch", launch, "measurements",
                          MK_TDX_BUILD_MEASUREMENTS);
    const mk_tdx_measurement *m = res->measurement;
    if (m->have_mrtd) json_object_set_new(j, "mrtd", cli_tdx_jhex(m->mrtd, 48));
    if (m->have_rtmr) {
        json_object_set_new(j, "rtmr1", cli_tdx_jhex(m->rtmr1, 48));
        json_object_set_new(j, "rtmr2", cli_tdx_jhex(m->rtmr2, 48));
    }
    cli_emit(j);
    json_decref(j);
}

/* What was built: the image, the initrd's digest, the measurements. */
static void build_print(const mk_tdx_build_opts *o, const mk_tdx_build_result *res) {
    if (g_json) {
        build_print_json(o, res);
        return;
    }
    char hx[97];
    mk_hex_encode(res->initrd_sha384, 48, hx);
    printf("image:   %s (%s, %zu entries, %zu bytes, mtime %u)\n", o->out_dir, MK_TDX_BUILD_INITRD,
           res->nentries, res->initrd_len, res->mtime);
    printf("initrd:  sha384 %s\n", hx);
    printf("profile: %s\n", res->measurement->profile);
    if (res->measurement->have_mrtd) {
        mk_hex_encode(res->measurement->mrtd, 48, hx);
        printf("MRTD:    %s\n", hx);
    }
    if (res->measurement->have_rtmr) {
        mk_hex_encode(res->measurement->rtmr1, 48, hx);
        printf("RTMR1:   %s\n", hx);
        mk_hex_encode(res->measurement->rtmr2, 48, hx);
        printf("RTMR2:   %s\n", hx);
    }
    printf("launch:  %s/%s (TDX host: QEMU >= 10.1, Linux >= 6.16; QGS on vsock)\n", o->out_dir,
           MK_TDX_BUILD_LAUNCH);
}

int cli_tdx_build(int argc, char **argv) {
    mk_tdx_build_opts o;
    int rc = build_parse(argc, argv, &o);
    if (rc != CLI_CONTINUE) return rc;
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_build_result res;
    if (mk_tdx_build(&o, &res, &err) < 0)
        /* library reasons from the builder itself start with "build: " */
        return cli_fail(cli_exit_code(err.code), "tdx %s%s",
                        strncmp(err.msg, "build: ", 7) ? "build: " : "", err.msg);
    build_print(&o, &res);
    mk_tdx_build_result_free(&res);
    return CLI_OK;
}
