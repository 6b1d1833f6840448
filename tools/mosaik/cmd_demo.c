#include "cli.h"
int cli_cmd_demo(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_usage_error("demo: the networked demo is not built yet; run make demo");
}
