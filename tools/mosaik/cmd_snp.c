/*
 * tools/mosaik/cmd_snp.c — `mosaik snp <command>`: the dispatcher.
 *
 * Each command lives in its own file (cmd_snp.h lists them): verify,
 * inspect, fetch and ticket. The command receives argv from its own name on.
 */
#include <stdio.h>

#include "cmd_snp.h"

void cli_snp_usage(FILE *f) {
    fprintf(f, "usage: mosaik snp <command> [options]\n"
               "\n"
               "  verify REPORT   verify an SEV-SNP report to AMD's root (ARK)\n"
               "  inspect FILE    print a report's or a VCEK/VLEK's fields\n"
               "  fetch REPORT    download the report's VCEK (and chain, CRL) from AMD's KDS\n"
               "  ticket          make a mosaik SEV-SNP ticket (simulator or this guest)\n"
               "\n"
               "Run 'mosaik snp <command> --help' for a command's options.\n");
}

const cli_command cli_snp_commands[] = {
    {"verify", cli_snp_verify, cli_snp_verify_usage, "REPORT [--vcek FILE] [--at T] [--json]",
     "verify an SEV-SNP report to AMD's root (ARK)", NULL, false},
    {"inspect", cli_snp_inspect, cli_snp_inspect_usage, "FILE [--json]",
     "print a report's or a VCEK/VLEK's fields", NULL, false},
    {"fetch", cli_snp_fetch, cli_snp_fetch_usage, "REPORT [-o DIR]",
     "download the report's VCEK (and chain, CRL) from AMD's KDS", NULL, false},
    {"ticket", cli_snp_ticket, cli_snp_ticket_usage, "(--sim FILE [--sim-init] | --local) -o FILE",
     "make a mosaik SEV-SNP ticket (simulator or this guest)", NULL, false},
    {NULL, NULL, NULL, NULL, NULL, NULL, false},
};
