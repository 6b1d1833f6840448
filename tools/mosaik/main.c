/*
 * tools/mosaik/main.c — entry point of the mosaik command-line tool.
 *
 * Dispatches to one subcommand per file (cmd_*.c). Each subcommand parses
 * its own options (cli_getopt, cli.c) and prints its own --help.
 */
#include <stdio.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "mosaik %s — peer-to-peer nodes with hardware-attested identity\n"
            "\n"
            "usage: mosaik <command> [options]\n"
            "\n"
            "commands:\n"
            "  id NAME|HEX        print the 32-byte id of a name (or normalise a hex id)\n"
            "  jwt issue|verify   issue or verify JWT tickets\n"
            "  node               run a node: discovery, tickets, events\n"
#if MOSAIK_HAVE_TDX
            "  demo               a local network of attested nodes (simulated TDX)\n"
#if MOSAIK_HAVE_TDX_BUILDER
            "  tdx verify|inspect|ticket|collateral|measure|build\n"
#else
            "  tdx verify|inspect|ticket|collateral\n"
#endif
            "                     Intel TDX attestation (run 'mosaik tdx --help')\n"
#endif
#if MOSAIK_HAVE_SNP
            "  snp verify|inspect|fetch\n"
            "                     AMD SEV-SNP attestation (run 'mosaik snp --help')\n"
#endif
            "  version            print version and enabled features\n"
            "\n"
            "Run 'mosaik <command> --help' for a command's options.\n"
            "Environment: MOSAIK_LOG=error|warn|info|debug|trace\n",
            mk_version());
}

/* The library's own version and features (mk_version, mk_features). */
static int cmd_version(int argc, char **argv) {
    (void)argc, (void)argv;
    unsigned f = mk_features();
    printf("mosaik %s (tee=%s tdx=%s tdx-builder=%s)\n", mk_version(),
           f & MK_FEATURE_TEE ? "on" : "off", f & MK_FEATURE_TDX ? "on" : "off",
           f & MK_FEATURE_TDX_BUILDER ? "on" : "off");
    return CLI_OK;
}

static const cli_command COMMANDS[] = {
    {"version", cmd_version},
    {"--version", cmd_version},
    {"id", cli_cmd_id},
    {"jwt", cli_cmd_jwt},
    {"node", cli_cmd_node},
#if MOSAIK_HAVE_TDX
    {"tdx", cli_cmd_tdx},
    {"demo", cli_cmd_demo},
#endif
#if MOSAIK_HAVE_SNP
    {"snp", cli_cmd_snp},
#endif
    {NULL, NULL},
};

int main(int argc, char **argv) {
    return cli_dispatch(argc, argv, COMMANDS, usage, "");
}
