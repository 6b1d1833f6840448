/*
 * tools/mosaik/cmd_tdx.c — `mosaik tdx <command>`: the dispatcher.
 *
 * Each command lives in its own file (cmd_tdx.h lists them): verify,
 * inspect, ticket, collateral fetch, sim-init, and with the TD builder
 * measure and build. The command receives argv from its own name on.
 */
#include <stdio.h>
#include <string.h>

#include "cmd_tdx.h"

static void tdx_usage(FILE *f) {
    fprintf(f, "usage: mosaik tdx <command> [options]\n"
               "\n"
               "  verify QUOTE|TICKET  verify a quote or ticket to Intel's root CA\n"
               "  inspect FILE         print a quote's or ticket's fields\n"
               "  ticket               make a ticket (local TD or simulator)\n"
               "  collateral fetch     download collateral from Intel PCS / a PCCS\n"
               "  sim-init FILE        create simulator state (NOT real TDX)\n"
#if MOSAIK_HAVE_TDX_BUILDER
               "  measure              pre-compute MRTD / RTMRs of a TD image\n"
               "  build                build a TD image\n"
#endif
               "\n"
               "Run 'mosaik tdx <command> --help' for a command's options.\n");
}

int cli_cmd_tdx(int argc, char **argv) {
    if (argc < 2) {
        tdx_usage(stderr);
        return CLI_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        tdx_usage(stdout);
        return CLI_OK;
    }
    argc--, argv++;
    if (!strcmp(sub, "verify")) return cli_tdx_verify(argc, argv);
    if (!strcmp(sub, "inspect")) return cli_tdx_inspect(argc, argv);
    if (!strcmp(sub, "ticket")) return cli_tdx_ticket(argc, argv);
    if (!strcmp(sub, "collateral")) return cli_tdx_collateral(argc, argv);
    if (!strcmp(sub, "sim-init")) return cli_tdx_sim_init(argc, argv);
#if MOSAIK_HAVE_TDX_BUILDER
    if (!strcmp(sub, "measure")) return cli_tdx_measure(argc, argv);
    if (!strcmp(sub, "build")) return cli_tdx_build(argc, argv);
#endif
    tdx_usage(stderr);
    return cli_usage_error("tdx: unknown command '%s'", sub);
}
