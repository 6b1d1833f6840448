/*
 * tools/mosaik/cmd_snp.c — `mosaik snp <command>`: the dispatcher.
 *
 * Each command lives in its own file (cmd_snp.h lists them): verify,
 * inspect and fetch. The command receives argv from its own name on.
 */
#include <stdio.h>

#include "cmd_snp.h"

static void snp_usage(FILE *f) {
    fprintf(f, "usage: mosaik snp <command> [options]\n"
               "\n"
               "  verify REPORT   verify an SEV-SNP report to AMD's root (ARK)\n"
               "  inspect FILE    print a report's or a VCEK/VLEK's fields\n"
               "  fetch REPORT    download the report's VCEK (and chain, CRL) from AMD's KDS\n"
               "\n"
               "Run 'mosaik snp <command> --help' for a command's options.\n");
}

static const cli_command SNP_COMMANDS[] = {
    {"verify", cli_snp_verify},
    {"inspect", cli_snp_inspect},
    {"fetch", cli_snp_fetch},
    {NULL, NULL},
};

int cli_cmd_snp(int argc, char **argv) {
    return cli_dispatch(argc, argv, SNP_COMMANDS, snp_usage, "snp: ");
}
