#include "cli.h"
int cli_tdx_build(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_usage_error("tdx build: under construction");
}
