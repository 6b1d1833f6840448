#include "cli.h"
int cli_cmd_node(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_usage_error("node: not built yet");
}
