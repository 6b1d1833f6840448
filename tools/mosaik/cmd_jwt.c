#include "cli.h"
int cli_cmd_jwt(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_usage_error("jwt: under construction");
}
