/*
 * tools/mosaik/cmd_tdx_measure.c — `mosaik tdx measure`: pre-compute MRTD,
 * RTMR1 and RTMR2 of a QEMU/OVMF direct-boot TD (mosaik/tdx_measure.h).
 *
 * A profile gives the host-stack defaults; every knob can be overridden
 * individually (the profile is then reported as "<name>+custom").
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_tdx.h"
#include "mosaik/tdx_measure.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mosaik tdx measure --firmware OVMF.fd [--kernel bzImage] [--initrd FILE]\n"
            "                          [--cmdline STR] [--memory MiB] [--profile NAME]\n"
            "                          [--page-order two-pass|interleaved]\n"
            "                          [--kernel-image raw|patched] [--rtmr1-separator yes|no]\n"
            "                          [--initrd-arg suffix|prefix] [--stub-measures yes|no]\n"
            "                          [--json]\n"
            "       mosaik tdx measure --list-profiles [--json]\n"
            "\n"
            "Pre-compute the TDX measurements of a QEMU + OVMF (TDVF) direct kernel boot:\n"
            "MRTD from the firmware, RTMR1 from the kernel, RTMR2 from the command line and\n"
            "initrd; prints every event digest and the registers. RTMR0 is not computed.\n"
            "\n"
            "  --firmware FILE      TDX-capable OVMF image (-bios)\n"
            "  --kernel FILE        bzImage with EFI stub (-kernel)\n"
            "  --initrd FILE        initrd (-initrd)\n"
            "  --cmdline STR        kernel command line (-append)\n"
            "  --memory MiB         guest RAM (-m), default 2048; matters for a patched kernel\n"
            "  --profile NAME       host stack (default %s; see --list-profiles)\n"
            "  --page-order ORDER   MRTD page order: interleaved (QEMU >= 9) or two-pass (8.2)\n"
            "  --kernel-image KIND  raw (QEMU >= 10.0 + edk2 >= 202502, or QEMU >= 10.2) or\n"
            "                       patched (QEMU's setup-header patch)\n"
            "  --rtmr1-separator B  EV_SEPARATOR in RTMR1 (edk2 >= stable202411)\n"
            "  --initrd-arg WHERE   initrd=initrd suffix (edk2 <= 202505) or prefix (later)\n"
            "  --stub-measures B    guest kernel's EFI stub extends RTMR2 (Linux >= 6.9)\n"
            "  --json               JSON output\n"
            "\n"
            "Exit status: 0 measured, 1 input refused, 2 usage error.\n",
            MK_TDX_DEFAULT_PROFILE);
}

static int parse_bool(const char *opt, const char *v, bool *out) {
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
        *out = true;
    else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
        *out = false;
    else
        return cli_usage_error("tdx measure: %s wants yes or no, not '%s'", opt, v);
    return 0;
}

static int list_profiles(bool json) {
    mk_buf b = MK_BUF_INIT;
    int rc = 0;
    if (json) rc = mk_buf_printf(&b, "[\n");
    for (size_t i = 0; rc == 0 && i < mk_tdx_profile_count(); i++) {
        const mk_tdx_profile *p = mk_tdx_profile_at(i);
        const char *order =
            p->page_order == MK_TDX_PAGE_ORDER_TWO_PASS ? "two-pass" : "interleaved";
        const char *kimg = p->kernel_image == MK_TDX_KERNEL_RAW ? "raw" : "patched";
        const char *iarg = p->initrd_arg == MK_TDX_INITRD_ARG_PREFIX ? "prefix" : "suffix";
        if (json)
            rc = mk_buf_printf(&b,
                               "  {\"name\": \"%s\", \"page_order\": \"%s\", \"kernel_image\": "
                               "\"%s\", \"rtmr1_separator\": %s, \"initrd_arg\": \"%s\", "
                               "\"stub_measures_rtmr2\": %s, \"default\": %s}%s\n",
                               p->name, order, kimg, p->rtmr1_separator ? "true" : "false", iarg,
                               p->stub_measures_rtmr2 ? "true" : "false",
                               strcmp(p->name, MK_TDX_DEFAULT_PROFILE) ? "false" : "true",
                               i + 1 < mk_tdx_profile_count() ? "," : "");
        else
            rc = mk_buf_printf(&b,
                               "%s%s\n    page-order %s, kernel-image %s, rtmr1-separator %s, "
                               "initrd-arg %s, stub-measures %s\n    %s\n",
                               p->name, strcmp(p->name, MK_TDX_DEFAULT_PROFILE) ? "" : " (default)",
                               order, kimg, p->rtmr1_separator ? "yes" : "no", iarg,
                               p->stub_measures_rtmr2 ? "yes" : "no", p->description);
    }
    if (rc == 0 && json) rc = mk_buf_printf(&b, "]\n");
    if (rc == 0) fwrite(b.data, 1, b.len, stdout);
    mk_buf_free(&b);
    return rc == 0 ? CLI_OK : CLI_FAIL;
}

enum {
    OPT_FIRMWARE = 256,
    OPT_KERNEL,
    OPT_INITRD,
    OPT_CMDLINE,
    OPT_MEMORY,
    OPT_PROFILE,
    OPT_PAGE_ORDER,
    OPT_KERNEL_IMAGE,
    OPT_SEPARATOR,
    OPT_INITRD_ARG,
    OPT_STUB,
    OPT_JSON,
    OPT_LIST,
};

int cli_tdx_measure(int argc, char **argv) {
    static const struct option opts[] = {
        {"firmware", required_argument, NULL, OPT_FIRMWARE},
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"initrd", required_argument, NULL, OPT_INITRD},
        {"cmdline", required_argument, NULL, OPT_CMDLINE},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"profile", required_argument, NULL, OPT_PROFILE},
        {"page-order", required_argument, NULL, OPT_PAGE_ORDER},
        {"kernel-image", required_argument, NULL, OPT_KERNEL_IMAGE},
        {"rtmr1-separator", required_argument, NULL, OPT_SEPARATOR},
        {"initrd-arg", required_argument, NULL, OPT_INITRD_ARG},
        {"stub-measures", required_argument, NULL, OPT_STUB},
        {"json", no_argument, NULL, OPT_JSON},
        {"list-profiles", no_argument, NULL, OPT_LIST},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *firmware = NULL, *kernel = NULL, *initrd = NULL, *cmdline = NULL;
    const char *profile_name = MK_TDX_DEFAULT_PROFILE;
    const char *order = NULL, *kimg = NULL, *iarg = NULL;
    bool have_sep = false, sep = false, have_stub = false, stub = false, json = false, list = false;
    unsigned long long memory = 2048;
    int c;
    optind = 0; /* reset getopt for this argv */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_FIRMWARE:
            firmware = optarg;
            break;
        case OPT_KERNEL:
            kernel = optarg;
            break;
        case OPT_INITRD:
            initrd = optarg;
            break;
        case OPT_CMDLINE:
            cmdline = optarg;
            break;
        case OPT_MEMORY: {
            char *end;
            memory = strtoull(optarg, &end, 10);
            if (!*optarg || *end || memory < 64 || memory > (1ull << 24))
                return cli_usage_error("tdx measure: --memory wants MiB in [64, 16777216], not "
                                       "'%s'",
                                       optarg);
            break;
        }
        case OPT_PROFILE:
            profile_name = optarg;
            break;
        case OPT_PAGE_ORDER:
            order = optarg;
            break;
        case OPT_KERNEL_IMAGE:
            kimg = optarg;
            break;
        case OPT_SEPARATOR:
            if (parse_bool("--rtmr1-separator", optarg, &sep) != 0) return CLI_USAGE;
            have_sep = true;
            break;
        case OPT_INITRD_ARG:
            iarg = optarg;
            break;
        case OPT_STUB:
            if (parse_bool("--stub-measures", optarg, &stub) != 0) return CLI_USAGE;
            have_stub = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_LIST:
            list = true;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            if (optopt >= OPT_FIRMWARE)
                return cli_usage_error("tdx measure: option needs an argument");
            return cli_usage_error("tdx measure: unknown option '%s' (see --help)",
                                   argv[optind - 1] ? argv[optind - 1] : "?");
        }
    }
    if (optind < argc)
        return cli_usage_error("tdx measure: unexpected argument '%s'", argv[optind]);
    if (list) return list_profiles(json);

    if (!kernel && (initrd || cmdline))
        return cli_usage_error("tdx measure: --initrd and --cmdline need --kernel");
    if (!firmware && !kernel)
        return cli_usage_error("tdx measure: give --firmware and/or --kernel (see --help)");

    const mk_tdx_profile *base = mk_tdx_profile_find(profile_name);
    if (!base)
        return cli_usage_error("tdx measure: unknown profile '%s' (see --list-profiles)",
                               profile_name);
    mk_tdx_profile p = *base;
    bool custom = false;
    if (order) {
        if (!strcmp(order, "two-pass"))
            p.page_order = MK_TDX_PAGE_ORDER_TWO_PASS;
        else if (!strcmp(order, "interleaved") || !strcmp(order, "single-pass"))
            p.page_order = MK_TDX_PAGE_ORDER_INTERLEAVED;
        else
            return cli_usage_error("tdx measure: --page-order two-pass|interleaved");
        custom |= p.page_order != base->page_order;
    }
    if (kimg) {
        if (!strcmp(kimg, "raw"))
            p.kernel_image = MK_TDX_KERNEL_RAW;
        else if (!strcmp(kimg, "patched"))
            p.kernel_image = MK_TDX_KERNEL_PATCHED;
        else
            return cli_usage_error("tdx measure: --kernel-image raw|patched");
        custom |= p.kernel_image != base->kernel_image;
    }
    if (iarg) {
        if (!strcmp(iarg, "suffix"))
            p.initrd_arg = MK_TDX_INITRD_ARG_SUFFIX;
        else if (!strcmp(iarg, "prefix"))
            p.initrd_arg = MK_TDX_INITRD_ARG_PREFIX;
        else
            return cli_usage_error("tdx measure: --initrd-arg suffix|prefix");
        custom |= p.initrd_arg != base->initrd_arg;
    }
    if (have_sep) {
        p.rtmr1_separator = sep;
        custom |= sep != base->rtmr1_separator;
    }
    if (have_stub) {
        p.stub_measures_rtmr2 = stub;
        custom |= stub != base->stub_measures_rtmr2;
    }
    char name[96];
    snprintf(name, sizeof name, "%s%s", base->name, custom ? "+custom" : "");
    p.name = name;

    mk_tdx_measurement *m = calloc(1, sizeof *m);
    if (!m) return CLI_FAIL;
    mk_error err;
    mk_error_clear(&err);
    int rc = mk_tdx_measure_files(firmware, kernel, initrd, cmdline, memory, &p, m, &err);
    if (rc < 0) {
        fprintf(stderr, "mosaik: tdx measure: %s\n", err.msg);
        free(m);
        return CLI_FAIL;
    }
    mk_buf out = MK_BUF_INIT;
    rc = json ? mk_tdx_measurement_json(m, &p, &out) : mk_tdx_measurement_text(m, &p, &out);
    if (rc == 0) fwrite(out.data, 1, out.len, stdout);
    mk_buf_free(&out);
    free(m);
    if (rc < 0) {
        fprintf(stderr, "mosaik: tdx measure: cannot render output (%s)\n", mk_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}
