/*
 * tools/mosaik/cmd_tdx.c — `mosaik tdx <command>`: the command table.
 *
 * Each command lives in its own file (cmd_tdx.h lists them): verify,
 * inspect, ticket, collateral fetch, sim-init, and with the TD builder
 * measure, build and kernel fetch. cli_dispatch (cli.c) runs the one named;
 * the command receives argv from its own name on. The table is also what
 * `mosaik help` and the man page list.
 */
#include <stdio.h>

#include "cmd_tdx.h"

void cli_tdx_usage(FILE *f) {
    fprintf(f, "usage: mosaik tdx <command> [options]\n"
               "\n"
               "  verify QUOTE|TICKET  verify a quote or ticket to Intel's root CA, with TCB\n"
               "                       status and revocation from Intel's collateral\n"
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

static const cli_command COLLATERAL_COMMANDS[] = {
    {"fetch", cli_tdx_collateral_fetch, cli_tdx_collateral_usage, NULL,
     "download, verify and write a platform's TDX collateral", NULL, false},
    {NULL, NULL, NULL, NULL, NULL, NULL, false},
};

#if MOSAIK_HAVE_TDX_BUILDER
static const cli_command KERNEL_COMMANDS[] = {
    {"fetch", cli_tdx_kernel_fetch, cli_tdx_kernel_usage, NULL,
     "get a TDX guest kernel from Debian through apt, checked and unpacked", NULL, false},
    {NULL, NULL, NULL, NULL, NULL, NULL, false},
};
#endif

const cli_command cli_tdx_commands[] = {
    {"verify", cli_tdx_verify, cli_tdx_verify_usage, NULL,
     "verify a quote or ticket to Intel's root, with TCB status and revocation", NULL, false},
    {"inspect", cli_tdx_inspect, cli_tdx_inspect_usage, NULL,
     "print a quote's or ticket's fields without verifying", NULL, false},
    {"ticket", cli_tdx_ticket, cli_tdx_ticket_usage, NULL,
     "make a TDX ticket (this machine's TD or the simulator)", NULL, false},
    {"collateral", NULL, cli_tdx_collateral_usage, NULL, "TDX collateral", COLLATERAL_COMMANDS,
     false},
    {"sim-init", cli_tdx_sim_init, cli_tdx_sim_init_usage, NULL,
     "create the state of a TDX simulator (NOT real TDX)", NULL, false},
#if MOSAIK_HAVE_TDX_BUILDER
    {"measure", cli_tdx_measure, cli_tdx_measure_usage, NULL,
     "pre-compute MRTD, RTMR1 and RTMR2 of a QEMU/OVMF TD", NULL, false},
    {"build", cli_tdx_build, cli_tdx_build_usage, NULL,
     "build a bootable TDX guest image and its expected measurements", NULL, false},
    {"kernel", NULL, cli_tdx_kernel_usage, NULL, "TDX guest kernels", KERNEL_COMMANDS, false},
#endif
    {NULL, NULL, NULL, NULL, NULL, NULL, false},
};
