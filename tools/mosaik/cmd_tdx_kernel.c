/*
 * tools/mosaik/cmd_tdx_kernel.c — `mosaik tdx kernel fetch`: a TDX-capable
 * guest kernel from Debian bookworm-backports, obtained through apt (so
 * Debian's signatures verify it), checked and unpacked into a kernel
 * directory for `mosaik tdx build --kernel-dir` (mosaik/tdx_build.h,
 * docs/tdx-builder.md).
 *
 * The apt configuration is private to the cache directory; the system's
 * sources are neither read nor changed. --offline uses only what the cache
 * holds; --deb FILE takes a package file the user already has ('-' stdin).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_tdx.h"
#include "mosaik/tdx_build.h"

void cli_tdx_kernel_usage(FILE *f) {
    fprintf(f,
            "usage: mosaik tdx kernel fetch --cache DIR [--package NAME] [--suite S]\n"
            "                               [--mirror URL] [--keyring FILE] [--module NAME]...\n"
            "                               [--offline] [--deb FILE] [--json]\n"
            "\n"
            "Get a TDX guest kernel: Debian's package through apt with a private\n"
            "configuration under DIR/apt (the suite's InRelease is checked against the\n"
            "keyring, the .deb against the index's SHA-256), unpack it, check that its\n"
            "config enables CONFIG_INTEL_TDX_GUEST, CONFIG_TDX_GUEST_DRIVER and\n"
            "CONFIG_TSM_REPORTS, and collect the modules a TD needs (configfs, tsm,\n"
            "tdx_guest, vsock + virtio transport, virtio_net) with their dependencies.\n"
            "Prints the kernel directory for `mosaik tdx build --kernel-dir`.\n"
            "\n"
            "  --cache DIR      apt state, .debs and kernel directories (required)\n"
            "  --package NAME   default %s (a metapackage is followed)\n"
            "  --suite S        default %s\n"
            "  --mirror URL     default %s\n"
            "  --keyring FILE   default %s\n"
            "  --module NAME    another module to bundle (repeatable), e.g. qemu_fw_cfg\n"
            "  --offline        no network: the cached package lists and .deb\n"
            "  --deb FILE       use this package file (its SHA-256 is recorded; no\n"
            "                   signature check)\n"
            "  --json           print the result as JSON\n"
            "\n"
            "Exit status: 0 ready, 1 failed (the reason is printed), 2 usage error,\n"
            "3 a download or a file failed.\n",
            MK_TDX_KERNEL_DEFAULT_PACKAGE, MK_TDX_KERNEL_DEFAULT_SUITE,
            MK_TDX_KERNEL_DEFAULT_MIRROR, MK_TDX_KERNEL_DEFAULT_KEYRING);
}

enum {
    OPT_CACHE = 256,
    OPT_PACKAGE,
    OPT_SUITE,
    OPT_MIRROR,
    OPT_KEYRING,
    OPT_MODULE,
    OPT_DEB,
    OPT_OFFLINE,
    OPT_JSON
};

static const char *modules[64];

static int fetch_parse(int argc, char **argv, mk_tdx_kernel_opts *o, bool *json) {
    memset(o, 0, sizeof *o);
    o->modules = modules;
    const cli_opt opts[] = {
        {"cache", required_argument, OPT_CACHE, &o->cache_dir, NULL},
        {"package", required_argument, OPT_PACKAGE, &o->package, NULL},
        {"suite", required_argument, OPT_SUITE, &o->suite, NULL},
        {"mirror", required_argument, OPT_MIRROR, &o->mirror, NULL},
        {"keyring", required_argument, OPT_KEYRING, &o->keyring, NULL},
        {"module", required_argument, OPT_MODULE, NULL, NULL},
        {"deb", required_argument, OPT_DEB, &o->deb, NULL},
        {"offline", no_argument, OPT_OFFLINE, NULL, &o->offline},
        {"json", no_argument, OPT_JSON, NULL, json},
        {"help", no_argument, 'h', NULL, NULL},
        {NULL, 0, 0, NULL, NULL},
    };
    int c;
    optind = 0;
    opterr = 0;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
        if (c == OPT_MODULE) {
            if (o->nmodules == sizeof modules / sizeof modules[0])
                return cli_usage_error("tdx kernel fetch: too many --module");
            modules[o->nmodules++] = optarg;
            continue;
        }
        return cli_help_or_usage(c == 'h', cli_tdx_kernel_usage);
    }
    if (optind < argc)
        return cli_usage_error("tdx kernel fetch: unexpected argument '%s'", argv[optind]);
    if (!o->cache_dir) return cli_usage_error("tdx kernel fetch: --cache DIR is required");
    cli_json = *json;
    mk_error err;
    mk_error_clear(&err);
    if (o->deb && !(o->deb = cli_input_path(o->deb, &err)))
        return cli_fail_err("tdx kernel fetch: --deb", &err);
    if (o->keyring && !(o->keyring = cli_input_path(o->keyring, &err)))
        return cli_fail_err("tdx kernel fetch: --keyring", &err);
    return CLI_CONTINUE;
}

int cli_tdx_kernel_fetch(int argc, char **argv) {
    mk_tdx_kernel_opts o;
    bool json = false;
    int rc = fetch_parse(argc, argv, &o, &json);
    if (rc != CLI_CONTINUE) return rc;
    mk_tdx_kernel_result res;
    mk_error err;
    mk_error_clear(&err);
    if (mk_tdx_kernel_fetch(&o, &res, &err) < 0) return cli_fail_err("tdx kernel fetch", &err);
    if (json) {
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b}", "dir", res.dir, "package", res.package,
                      "version", res.version, "sha256", res.sha256, "release", res.release,
                      "modules", (json_int_t)res.nmodules, "cached", res.cached);
        cli_emit(j);
        json_decref(j);
        return CLI_OK;
    }
    printf("kernel:  %s %s (%s)\n", res.package, res.version, res.release);
    printf("sha256:  %s (%s)\n", res.sha256,
           o.deb ? "of the given file; not verified by apt" : "checked against Debian's index");
    printf("config:  CONFIG_INTEL_TDX_GUEST, CONFIG_TDX_GUEST_DRIVER, CONFIG_TSM_REPORTS ok\n");
    printf("modules: %zu (dependencies first)\n", res.nmodules);
    printf("dir:     %s%s\n", res.dir, res.cached ? " (cached)" : "");
    return CLI_OK;
}
