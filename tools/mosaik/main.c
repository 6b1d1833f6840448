/*
 * tools/mosaik/main.c — entry point of the mosaik command-line tool.
 *
 * Dispatches to one subcommand per file (cmd_*.c). Each subcommand parses
 * its own options with getopt_long and prints its own --help.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
#endif
#if MOSAIK_HAVE_TDX
            "  tdx verify|inspect|ticket|collateral|measure|build\n"
            "                     Intel TDX attestation (run 'mosaik tdx --help')\n"
#endif
            "  version            print version and enabled features\n"
            "\n"
            "Run 'mosaik <command> --help' for a command's options.\n"
            "Environment: MOSAIK_LOG=error|warn|info|debug|trace\n",
            MOSAIK_VERSION);
}

int cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mosaik: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_USAGE;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("mosaik %s (tee=%s tdx=%s tdx-builder=%s)\n", MOSAIK_VERSION,
               MOSAIK_HAVE_TEE ? "on" : "off", MOSAIK_HAVE_TDX ? "on" : "off",
               MOSAIK_HAVE_TDX_BUILDER ? "on" : "off");
        return CLI_OK;
    }
    if (!strcmp(cmd, "id")) return cli_cmd_id(argc - 1, argv + 1);
    if (!strcmp(cmd, "jwt")) return cli_cmd_jwt(argc - 1, argv + 1);
    if (!strcmp(cmd, "node")) return cli_cmd_node(argc - 1, argv + 1);
#if MOSAIK_HAVE_TDX
    if (!strcmp(cmd, "tdx")) return cli_cmd_tdx(argc - 1, argv + 1);
    if (!strcmp(cmd, "demo")) return cli_cmd_demo(argc - 1, argv + 1);
#endif
    usage(stderr);
    return cli_usage_error("unknown command '%s'", cmd);
}
