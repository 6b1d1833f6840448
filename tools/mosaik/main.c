/*
 * tools/mosaik/main.c — entry point of the mosaik command-line tool.
 *
 * Dispatches to one subcommand per file (cmd_*.c) through the command
 * table below, which is also what `mosaik help`, the command list of the
 * usage text, the man page (cli_help.c) and the bash completion are made
 * from. Before dispatching, a --json anywhere on the command line (before
 * "--") turns on JSON output, so that a usage error found before the
 * option is parsed is still reported as one JSON object; a command that
 * parsed its options sets cli_json from its own --json. cli_finish prints
 * the JSON error object of a command that failed without printing one.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const cli_command cli_commands[] = {
    {"id", cli_cmd_id, cli_id_usage, "NAME|HEX",
     "print the 32-byte id of a name (or normalise a hex id)", NULL, false},
    {"jwt", NULL, cli_jwt_usage, NULL, "issue or verify JWT tickets", cli_jwt_commands, false},
    {"node", cli_cmd_node, cli_node_usage, "--network NAME [options]",
     "run a node: discovery, tickets, streams, Prometheus metrics", NULL, false},
#if MOSAIK_HAVE_TDX
    {"demo", cli_cmd_demo, cli_demo_usage, "[--json] [--duration S]",
     "a local network of attested nodes (simulated TDX)", NULL, false},
    {"tdx", NULL, cli_tdx_usage, NULL, "Intel TDX attestation", cli_tdx_commands, false},
#endif
#if MOSAIK_HAVE_SNP
    {"snp", NULL, cli_snp_usage, NULL, "AMD SEV-SNP attestation", cli_snp_commands, false},
#endif
    {"version", cli_cmd_version, cli_version_usage, "[--json]",
     "print the library's version and features", NULL, false},
    {"help", cli_cmd_help, cli_help_usage, "[COMMAND...]",
     "a command's help (--commands: every command; --man: mosaik(1))", NULL, false},
    {"--version", cli_cmd_version, cli_version_usage, NULL, NULL, NULL, true},
    {"-V", cli_cmd_version, cli_version_usage, NULL, NULL, NULL, true},
    {NULL, NULL, NULL, NULL, NULL, NULL, false},
};

/* "word a|b|c" for a command with subcommands, "word ARGS" otherwise. */
static void command_synopsis(const cli_command *c, char *out, size_t n) {
    size_t off = (size_t)snprintf(out, n, "%s", c->name);
    if (c->sub) {
        const char *sep = " ";
        for (const cli_command *s = c->sub; s->name && off < n; s++) {
            if (s->hidden) continue;
            off += (size_t)snprintf(out + off, n - off, "%s%s", sep, s->name);
            sep = "|";
        }
    } else if (c->args && off < n) {
        snprintf(out + off, n - off, " %s", c->args);
    }
}

void cli_main_usage(FILE *f) {
    fprintf(f,
            "mosaik %s — peer-to-peer nodes with hardware-attested identity\n"
            "\n"
            "usage: mosaik <command> [options]\n"
            "       mosaik -V | --version\n"
            "\n"
            "commands:\n",
            mk_version());
    for (const cli_command *c = cli_commands; c->name; c++) {
        if (c->hidden) continue;
        char syn[160];
        command_synopsis(c, syn, sizeof syn);
        if (strlen(syn) <= 26)
            fprintf(f, "  %-26s %s\n", syn, c->summary);
        else
            fprintf(f, "  %s\n  %-26s %s\n", syn, "", c->summary);
    }
    fprintf(
        f, "\n"
           "Run 'mosaik <command> --help' for a command's options.\n"
           "Every command: --json prints one JSON object on stdout (errors included);\n"
           "'-' reads stdin where a file is read; times are UNIX seconds or RFC 3339\n"
           "(2025-07-19T09:57:14Z).\n"
           "Exit status: 0 ok, 1 refused, 2 usage error, 3 input/output error.\n"
           "Environment: MOSAIK_LOG=error|warn|info|debug|trace (default warn),\n"
           "             MOSAIK_LOG_FORMAT=text|json (json: one object per line, RFC 3339 time)\n");
}

void cli_version_usage(FILE *f) {
    fprintf(f, "usage: mosaik version [--json]    (also: mosaik -V, mosaik --version)\n"
               "\n"
               "Print the version and the features of the library this binary runs with\n"
               "(mk_version, mk_features).\n"
               "\n"
               "Exit status: 0.\n");
}

/* The library's own version and features (mk_version, mk_features). */
int cli_cmd_version(int argc, char **argv) {
    bool json = false;
    const cli_opt opts[] = {{"json", no_argument, 'j', NULL, &json},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int rc = cli_args(argc, argv, opts, cli_version_usage, 0, "version");
    if (rc != CLI_CONTINUE) return rc;
    cli_json = json;
    unsigned f = mk_features();
    if (json) {
        json_t *o =
            json_pack("{s:s, s:{s:b, s:b, s:b, s:b}}", "version", mk_version(), "features", "tee",
                      (f & MK_FEATURE_TEE) != 0, "tdx", (f & MK_FEATURE_TDX) != 0, "tdx_builder",
                      (f & MK_FEATURE_TDX_BUILDER) != 0, "snp", (f & MK_FEATURE_SNP) != 0);
        cli_emit(o);
        json_decref(o);
        return CLI_OK;
    }
    printf("mosaik %s (tee=%s tdx=%s tdx-builder=%s snp=%s)\n", mk_version(),
           f & MK_FEATURE_TEE ? "on" : "off", f & MK_FEATURE_TDX ? "on" : "off",
           f & MK_FEATURE_TDX_BUILDER ? "on" : "off", f & MK_FEATURE_SNP ? "on" : "off");
    return CLI_OK;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--json")) cli_json = true;
    return cli_finish(cli_dispatch(argc, argv, cli_commands, cli_main_usage));
}
