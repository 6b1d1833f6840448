/*
 * tools/mosaik/cmd_tdx_sim.c — `mosaik tdx sim-init FILE`: create the state
 * of a TDX simulator (a test PKI whose root is NOT Intel's).
 *
 * An existing state file is loaded, not replaced, so that every node and
 * command given FILE shares one root. The root certificate's SHA-256 is
 * printed; --root-out writes the certificate (DER) for verifiers that take
 * a root rather than the state. Exit 0 ready, 1 failed, 2 on usage errors,
 * 3 when FILE cannot be read or written.
 */
#include <stdio.h>

#include "cmd_tdx.h"

void cli_tdx_sim_init_usage(FILE *f) {
    fprintf(f, "usage: mosaik tdx sim-init FILE [--root-out FILE] [--json]\n"
               "\n"
               "Create the state of a TDX simulator (a test PKI whose root is NOT Intel's) in\n"
               "FILE, unless it exists already; print the root certificate's SHA-256.\n"
               "Give FILE to 'mosaik tdx ticket --sim' and to 'mosaik tdx verify\n"
               "--trust-sim-root'. --root-out writes the root certificate (DER).\n"
               "\n"
               "\n"
               "Exit status: 0 ready, 1 failed, 2 usage error, 3 a file cannot be read or\n"
               "written.\n");
}

int cli_tdx_sim_init(int argc, char **argv) {
    const char *root_out = NULL;
    bool json = false;
    const cli_opt opts[] = {{"root-out", required_argument, 'r', &root_out, NULL},
                            {"json", no_argument, 'j', NULL, &json},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int rc = cli_tdx_one_file(argc, argv, opts, cli_tdx_sim_init_usage, "tdx sim-init");
    if (rc != CLI_CONTINUE) return rc;
    cli_json = json;
    if (cli_is_stdin(argv[optind]))
        return cli_usage_error("tdx sim-init: FILE is where the state is kept, not '-'");
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim *sim;
    if (mk_tdx_sim_load_or_create(argv[optind], NULL, &sim, &err) < 0)
        return cli_fail_err("tdx sim-init", &err);
    const uint8_t *der;
    size_t len;
    mk_tdx_sim_root_der(sim, &der, &len);
    uint8_t h[32];
    mk_sha256(der, len, h);
    char hex[65];
    mk_hex_encode(h, 32, hex);
    rc = CLI_OK;
    if (root_out && mk_file_write(root_out, der, len, 0644, &err) < 0) {
        rc = cli_fail_err("tdx sim-init", &err);
    } else if (json) {
        json_t *o = json_pack("{s:s, s:b, s:s, s:s?}", "simulator", argv[optind], "simulated", 1,
                              "root_sha256", hex, "root_out", root_out);
        cli_emit(o);
        json_decref(o);
    } else {
        printf("simulator: %s (NOT real TDX)\nroot_sha256: %s\n", argv[optind], hex);
    }
    mk_tdx_sim_free(sim);
    return rc;
}
