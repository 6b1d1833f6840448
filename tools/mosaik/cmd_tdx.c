/*
 * tools/mosaik/cmd_tdx.c — `mosaik tdx <command>`: the dispatcher.
 *
 * Each command lives in its own file (cmd_tdx.h lists them): verify,
 * inspect, ticket, collateral fetch, sim-init, and with the TD builder
 * measure and build. The command receives argv from its own name on.
 */
#include <stdio.h>

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
               "  kernel fetch         get a TDX guest kernel from Debian (apt)\n"
#endif
               "\n"
               "Run 'mosaik tdx <command> --help' for a command's options.\n");
}

static const cli_command TDX_COMMANDS[] = {
    {"verify", cli_tdx_verify},
    {"inspect", cli_tdx_inspect},
    {"ticket", cli_tdx_ticket},
    {"collateral", cli_tdx_collateral},
    {"sim-init", cli_tdx_sim_init},
#if MOSAIK_HAVE_TDX_BUILDER
    {"measure", cli_tdx_measure},
    {"build", cli_tdx_build},
    {"kernel", cli_tdx_kernel},
#endif
    {NULL, NULL},
};

int cli_cmd_tdx(int argc, char **argv) {
    return cli_dispatch(argc, argv, TDX_COMMANDS, tdx_usage, "tdx: ");
}
