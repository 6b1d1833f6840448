/*
 * tools/mosaik/cmd_tdx_measure.c — `mosaik tdx measure`: pre-compute MRTD,
 * RTMR1 and RTMR2 of a QEMU/OVMF direct-boot TD (mosaik/tdx_measure.h).
 *
 * A profile gives the host-stack defaults; every knob can be overridden
 * individually (the profile is then reported as "<name>+custom"). One of
 * the files may be '-' (stdin).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_tdx.h"
#include "mosaik/tdx_measure.h"

void cli_tdx_measure_usage(FILE *f) {
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
            "  --json               JSON output (--list-profiles: {\"profiles\": [...]})\n"
            "\n"
            "One of the files may be '-' (stdin).\n"
            "Exit status: 0 measured, 1 input refused, 2 usage error, 3 a file cannot be\n"
            "read.\n",
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
    if (json) rc = mk_buf_printf(&b, "{\"profiles\": [\n");
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
    if (rc == 0 && json) rc = mk_buf_printf(&b, "]}\n");
    if (rc == 0) fwrite(b.data, 1, b.len, stdout);
    mk_buf_free(&b);
    return rc == 0 ? CLI_OK : cli_fail(CLI_FAIL, "tdx measure: out of memory");
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

/* What the command line asks for. The profile knobs stay words until the
 * profile is known (measure_profile), so that a bad word is reported after
 * the options that matter more (--list-profiles, the inputs). */
typedef struct measure_args {
    const char *firmware, *kernel, *initrd, *cmdline;
    const char *profile_name;
    const char *order, *kimg, *iarg;
    bool have_sep, sep, have_stub, stub, json, list;
    unsigned long long memory;
} measure_args;

/* An option that is not only stored, into a; CLI_CONTINUE, or the exit
 * code (help, usage error). */
static int measure_option(int c, const char *arg, measure_args *a, char **argv) {
    switch (c) {
    case OPT_MEMORY: {
        uint64_t v;
        if (cli_parse_u64("--memory", arg, 64, 1ull << 24, &v)) return CLI_USAGE;
        a->memory = v;
        break;
    }
    case OPT_SEPARATOR:
        if (parse_bool("--rtmr1-separator", arg, &a->sep) != 0) return CLI_USAGE;
        a->have_sep = true;
        break;
    case OPT_STUB:
        if (parse_bool("--stub-measures", arg, &a->stub) != 0) return CLI_USAGE;
        a->have_stub = true;
        break;
    default: /* cli_getopt said why */
        (void)argv;
        if (c == 'h') return cli_help_or_usage(true, cli_tdx_measure_usage);
        return CLI_USAGE;
    }
    return CLI_CONTINUE;
}

/* A knob's words and the values they stand for (NULL-terminated). */
typedef struct choice {
    const char *word;
    int value;
} choice;

static const choice PAGE_ORDERS[] = {{"two-pass", MK_TDX_PAGE_ORDER_TWO_PASS},
                                     {"interleaved", MK_TDX_PAGE_ORDER_INTERLEAVED},
                                     {"single-pass", MK_TDX_PAGE_ORDER_INTERLEAVED},
                                     {NULL, 0}};
static const choice KERNEL_IMAGES[] = {
    {"raw", MK_TDX_KERNEL_RAW}, {"patched", MK_TDX_KERNEL_PATCHED}, {NULL, 0}};
static const choice INITRD_ARGS[] = {
    {"suffix", MK_TDX_INITRD_ARG_SUFFIX}, {"prefix", MK_TDX_INITRD_ARG_PREFIX}, {NULL, 0}};

/* A knob's word (if given) as its value in *v; false if t has no such word. */
static bool pick(const choice *t, const char *word, int *v) {
    if (!word) return true;
    for (; t->word; t++)
        if (!strcmp(t->word, word)) return *v = t->value, true;
    return false;
}

/* The named profile with the knobs given on the command line; named
 * "<name>+custom" (in name) when they change it. CLI_CONTINUE, or the exit
 * code of a usage error. */
static int measure_profile(const measure_args *a, mk_tdx_profile *p, char name[96]) {
    const mk_tdx_profile *base = mk_tdx_profile_find(a->profile_name);
    if (!base)
        return cli_usage_error("tdx measure: unknown profile '%s' (see --list-profiles)",
                               a->profile_name);
    *p = *base;
    int order = p->page_order, kimg = p->kernel_image, iarg = p->initrd_arg;
    if (!pick(PAGE_ORDERS, a->order, &order))
        return cli_usage_error("tdx measure: --page-order two-pass|interleaved");
    if (!pick(KERNEL_IMAGES, a->kimg, &kimg))
        return cli_usage_error("tdx measure: --kernel-image raw|patched");
    if (!pick(INITRD_ARGS, a->iarg, &iarg))
        return cli_usage_error("tdx measure: --initrd-arg suffix|prefix");
    p->page_order = (mk_tdx_page_order)order;
    p->kernel_image = (mk_tdx_kernel_image)kimg;
    p->initrd_arg = (mk_tdx_initrd_arg)iarg;
    if (a->have_sep) p->rtmr1_separator = a->sep;
    if (a->have_stub) p->stub_measures_rtmr2 = a->stub;
    bool custom = p->page_order != base->page_order || p->kernel_image != base->kernel_image ||
                  p->initrd_arg != base->initrd_arg ||
                  p->rtmr1_separator != base->rtmr1_separator ||
                  p->stub_measures_rtmr2 != base->stub_measures_rtmr2;
    snprintf(name, 96, "%s%s", base->name, custom ? "+custom" : "");
    p->name = name;
    return CLI_CONTINUE;
}

/* Measure the files with profile p and print the result. */
static int measure_run(const measure_args *a, const mk_tdx_profile *p) {
    mk_error err;
    mk_error_clear(&err);
    const char *fw = a->firmware, *k = a->kernel, *rd = a->initrd;
    if ((fw && !(fw = cli_input_path(fw, &err))) || (k && !(k = cli_input_path(k, &err))) ||
        (rd && !(rd = cli_input_path(rd, &err))))
        return cli_fail_err("tdx measure", &err);
    mk_tdx_measurement *m = calloc(1, sizeof *m);
    if (!m) return cli_fail(CLI_FAIL, "tdx measure: out of memory");
    int rc = mk_tdx_measure_files(fw, k, rd, a->cmdline, a->memory, p, m, &err);
    if (rc < 0) {
        free(m);
        return cli_fail_err("tdx measure", &err);
    }
    mk_buf out = MK_BUF_INIT;
    rc = a->json ? mk_tdx_measurement_json(m, p, &out) : mk_tdx_measurement_text(m, p, &out);
    if (rc == 0) fwrite(out.data, 1, out.len, stdout);
    mk_buf_free(&out);
    free(m);
    if (rc < 0)
        return cli_fail(CLI_FAIL, "tdx measure: cannot render output (%s)", mk_strerror(rc));
    return CLI_OK;
}

int cli_tdx_measure(int argc, char **argv) {
    measure_args a;
    memset(&a, 0, sizeof a);
    a.profile_name = MK_TDX_DEFAULT_PROFILE;
    a.memory = 2048;
    const cli_opt opts[] = {
        {"firmware", required_argument, OPT_FIRMWARE, &a.firmware, NULL},
        {"kernel", required_argument, OPT_KERNEL, &a.kernel, NULL},
        {"initrd", required_argument, OPT_INITRD, &a.initrd, NULL},
        {"cmdline", required_argument, OPT_CMDLINE, &a.cmdline, NULL},
        {"memory", required_argument, OPT_MEMORY, NULL, NULL},
        {"profile", required_argument, OPT_PROFILE, &a.profile_name, NULL},
        {"page-order", required_argument, OPT_PAGE_ORDER, &a.order, NULL},
        {"kernel-image", required_argument, OPT_KERNEL_IMAGE, &a.kimg, NULL},
        {"rtmr1-separator", required_argument, OPT_SEPARATOR, NULL, NULL},
        {"initrd-arg", required_argument, OPT_INITRD_ARG, &a.iarg, NULL},
        {"stub-measures", required_argument, OPT_STUB, NULL, NULL},
        {"json", no_argument, OPT_JSON, NULL, &a.json},
        {"list-profiles", no_argument, OPT_LIST, NULL, &a.list},
        {"help", no_argument, 'h', NULL, NULL},
        {NULL, 0, 0, NULL, NULL},
    };
    int c, rc;
    optind = 0; /* reset getopt for this argv */
    opterr = 0;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1)
        if ((rc = measure_option(c, optarg, &a, argv)) != CLI_CONTINUE) return rc;
    if (optind < argc)
        return cli_usage_error("tdx measure: unexpected argument '%s'", argv[optind]);
    cli_json = a.json;
    if (a.list) return list_profiles(a.json);
    if (!a.kernel && (a.initrd || a.cmdline))
        return cli_usage_error("tdx measure: --initrd and --cmdline need --kernel");
    if (!a.firmware && !a.kernel)
        return cli_usage_error("tdx measure: give --firmware and/or --kernel (see --help)");
    mk_tdx_profile p;
    char name[96];
    rc = measure_profile(&a, &p, name);
    return rc == CLI_CONTINUE ? measure_run(&a, &p) : rc;
}
