/*
 * tools/mosaik/cmd_tdx_collateral.c — `mosaik tdx collateral fetch`:
 * download a platform's TDX collateral from Intel PCS or a PCCS.
 *
 * The library fetches (with an optional on-disk cache; http:// only when
 * allowed), verifies the collateral at the given time and serialises it as
 * the bundle JSON that `tdx verify --collateral` and tickets take. Exit 0
 * written, 1 refused (the collateral does not verify, or is not for the
 * FMSPC), 2 on usage errors, 3 when the fetch or the write failed.
 */
#include <stdio.h>
#include <string.h>

#include "cmd_tdx.h"

void cli_tdx_collateral_usage(FILE *f) {
    fprintf(f,
            "usage: mosaik tdx collateral fetch --fmspc HEX [--ca platform|processor]\n"
            "                                   [--pccs URL] [--cache DIR] [--allow-http]\n"
            "                                   [--at T] -o FILE [--json]\n"
            "\n"
            "Download TDX collateral (TCB info, QE identity, CRLs) for a platform from\n"
            "Intel PCS or a PCCS, verify it, and write it as a bundle JSON usable with\n"
            "'mosaik tdx verify --collateral' and for embedding in tickets.\n"
            "\n"
            "  --fmspc HEX          the platform's FMSPC (12 hex digits, from 'tdx verify')\n"
            "  --ca KIND            PCK CA: platform (default) or processor\n"
            "  --pccs URL, --pcs URL  base URL (default https://api.trustedservices.intel.com)\n"
            "  --cache DIR          on-disk cache\n"
            "  --allow-http         allow http:// (a local PCCS in tests)\n"
            "  --at T               verify at this time: UNIX seconds or RFC 3339 (default now)\n"
            "  -o, --output FILE    where to write the bundle\n"
            "  --json               print {\"collateral\", \"fmspc\", \"ca\", \"next_update\"}\n"
            "\n"
            "Exit status: 0 written, 1 refused, 2 usage error, 3 the fetch or the write\n"
            "failed.\n");
}

/* The written bundle: its path, FMSPC, CA and when it must be refreshed. */
static void collateral_print(const char *path, const char *fmspc, mk_tdx_pck_ca ca,
                             const mk_tdx_collateral *coll, bool json) {
    char next[MK_RFC3339_LEN];
    mk_time_format_rfc3339(mk_tdx_collateral_next_update(coll), next);
    const char *caname = ca == MK_TDX_CA_PROCESSOR ? "processor" : "platform";
    if (!json) {
        printf("collateral: %s\nnext_update: %s\n", path, next);
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "collateral", path, "fmspc", fmspc, "ca", caname,
                          "next_update", next);
    cli_emit(o);
    json_decref(o);
}

int cli_tdx_collateral_fetch(int argc, char **argv) {
    const char *fmspc_s = NULL, *out_path = NULL;
    bool json = false;
    mk_tdx_fetch_opts fo;
    memset(&fo, 0, sizeof fo);
    fo.base_url = "https://api.trustedservices.intel.com";
    mk_tdx_pck_ca ca = MK_TDX_CA_PLATFORM;
    int64_t now = mk_now();
    const cli_opt opts[] = {{"fmspc", required_argument, 'f', &fmspc_s, NULL},
                            {"ca", required_argument, 'c', NULL, NULL},
                            {"pccs", required_argument, 'p', &fo.base_url, NULL},
                            {"pcs", required_argument, 'p', &fo.base_url, NULL},
                            {"cache", required_argument, 'C', &fo.cache_dir, NULL},
                            {"allow-http", no_argument, 'H', NULL, &fo.insecure_http_ok},
                            {"at", required_argument, 't', NULL, NULL},
                            {"output", required_argument, 'o', &out_path, NULL},
                            {"json", no_argument, 'j', NULL, &json},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int c;
    optind = 0;
    while ((c = cli_getopt(argc, argv, "o:h", opts)) != -1) {
        if (c == 'c' && !strcmp(optarg, "platform"))
            ca = MK_TDX_CA_PLATFORM;
        else if (c == 'c' && !strcmp(optarg, "processor"))
            ca = MK_TDX_CA_PROCESSOR;
        else if (c == 'c')
            return cli_usage_error("tdx collateral fetch: --ca platform|processor");
        else if (c == 't') {
            if (cli_parse_time("--at", optarg, &now)) return CLI_USAGE;
        } else
            return cli_help_or_usage(c == 'h', cli_tdx_collateral_usage);
    }
    if (optind != argc)
        return cli_usage_error("tdx collateral fetch: unexpected argument '%s'", argv[optind]);
    if (!fmspc_s) return cli_usage_error("tdx collateral fetch: --fmspc is required");
    if (!out_path) return cli_usage_error("tdx collateral fetch: -o FILE is required");
    cli_json = json;
    uint8_t fmspc[6];
    mk_error err;
    mk_error_clear(&err);
    if (mk_hex_decode_exact(fmspc_s, fmspc, 6, &err) < 0)
        return cli_usage_error("tdx collateral fetch: --fmspc: %s (want 12 hex digits)", err.msg);
    mk_tdx_collateral *coll = NULL;
    if (mk_tdx_collateral_fetch(&fo, fmspc, ca, now, &coll, &err) < 0) {
        /* Not reaching the PCS, or an FMSPC it does not know: I/O. */
        bool io = err.code == MK_ENOTFOUND || cli_exit_code(err.code) == CLI_IO;
        return cli_fail(io ? CLI_IO : CLI_FAIL, "tdx collateral fetch: %s", err.msg);
    }
    mk_buf b = MK_BUF_INIT;
    int rc = mk_tdx_collateral_to_bundle(coll, &b);
    if (rc < 0)
        mk_error_set(&err, rc, "cannot serialise the collateral");
    else
        rc = mk_file_write(out_path, b.data, b.len, 0644, &err);
    mk_buf_free(&b);
    if (rc == 0) collateral_print(out_path, fmspc_s, ca, coll, json);
    mk_tdx_collateral_free(coll);
    if (rc < 0) return cli_fail_err("tdx collateral fetch", &err);
    return CLI_OK;
}
