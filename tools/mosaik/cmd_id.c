/*
 * tools/mosaik/cmd_id.c — `mosaik id NAME|HEX`: print an id.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_cmd_id(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: mosaik id NAME|HEX\n"
                "Print the 32-byte mosaik id of NAME (SHA-256 under the id domain), or\n"
                "normalise a 64-digit hex id.\n");
        return argc == 2 ? CLI_OK : CLI_USAGE;
    }
    mk_id id;
    mk_id_parse(&id, argv[1]);
    char hex[MK_ID_HEX_LEN];
    mk_id_to_hex(&id, hex);
    printf("%s\n", hex);
    return CLI_OK;
}
