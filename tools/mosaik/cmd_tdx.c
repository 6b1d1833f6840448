#include "cli.h"
int cli_cmd_tdx(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_usage_error("tdx: under construction");
}
