/*
 * tools/mosaik/cmd_id.c — `mosaik id NAME|HEX`: print an id.
 *
 * 64 hex digits are normalised (lowercase); anything else is a name,
 * hashed under the id domain (mk_id_parse), exactly as every --network,
 * --tag and --peer option of the other commands reads it.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

void cli_id_usage(FILE *f) {
    fprintf(f, "usage: mosaik id NAME|HEX [--json]\n"
               "\n"
               "Print the 32-byte mosaik id of NAME (SHA-256 under the id domain), or\n"
               "normalise a 64-digit hex id.\n"
               "\n"
               "Exit status: 0, 2 usage error.\n");
}

int cli_cmd_id(int argc, char **argv) {
    bool json = false;
    const cli_opt opts[] = {{"json", no_argument, 'j', NULL, &json},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int rc = cli_args(argc, argv, opts, cli_id_usage, 1, "id: expected one NAME or HEX id");
    if (rc != CLI_CONTINUE) return rc;
    cli_json = json;
    mk_id id;
    mk_id_parse(&id, argv[optind]);
    char hex[MK_ID_HEX_LEN];
    mk_id_to_hex(&id, hex);
    if (json) {
        json_t *o = json_pack("{s:s, s:s}", "input", argv[optind], "id", hex);
        cli_emit(o);
        json_decref(o);
    } else {
        printf("%s\n", hex);
    }
    return CLI_OK;
}
