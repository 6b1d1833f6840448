#include "cli.h"
int cli_tdx_measure(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_usage_error("tdx measure: under construction");
}
