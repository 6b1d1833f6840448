/*
 * tools/mosaik/cmd_node.h — the options of `mosaik node` (cmd_node_opts.c),
 * shared with the command itself (cmd_node.c).
 *
 * Every option can come from the command line or from the configuration
 * file given with --config (docs/cli.md, "mosaik node configuration"); the
 * command line overrides the file. --print-config prints the result in the
 * file's syntax.
 */
#ifndef MOSAIK_CLI_NODE_H
#define MOSAIK_CLI_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

#define NODE_MAX_LIST 64

/* Option ids, in the order of --help, the example configuration file and
 * --print-config. */
enum {
    NODE_OPT_NETWORK = 256,
    NODE_OPT_LISTEN,
    NODE_OPT_ADVERTISE,
    NODE_OPT_BOOT,
    NODE_OPT_KEY,
    NODE_OPT_TAG,
    NODE_OPT_JWT,
    NODE_OPT_TDX_SIM,
    NODE_OPT_TDX_STATE,
    NODE_OPT_REQ_MRTD,
    NODE_OPT_TRUST_ROOT,
    NODE_OPT_SIM_MEAS,
    NODE_OPT_REQ_MEAS,
    NODE_OPT_PRODUCE,
    NODE_OPT_CONSUME,
    NODE_OPT_EXIT_AFTER,
    NODE_OPT_METRICS,
    NODE_OPT_HTTP,
    NODE_OPT_JSON,
    NODE_OPT_RUN_FOR,
    NODE_OPT_NO_DEPART,
    NODE_OPT_ANNOUNCE,
    NODE_OPT_SYNC,
    NODE_OPT_PURGE,
    NODE_OPT_CONFIG,
    NODE_OPT_PRINT,
    NODE_OPT_HELP,
    NODE_OPT_END
};
#define NODE_OPT_COUNT (NODE_OPT_END - NODE_OPT_NETWORK)

/* What the options ask for; cfg points into the lists. */
typedef struct node_opts {
    mk_network_config cfg;
    const char *boot[NODE_MAX_LIST], *tags[NODE_MAX_LIST], *adv[NODE_MAX_LIST];
    size_t nboot, ntags, nadv;
    const char *jwt_path, *metrics_addr, *http_addr, *tdx_mrtd, *tdx_state_path, *req_mrtd,
        *trust_root;
    const char *sim_meas, *req_meas, *produce, *consume, *config;
    uint64_t exit_after;
    double run_for;
    bool no_depart, json, print_config;
    /* Each single-valued option as given (flags: "true"), for
     * --print-config; the lists are above. */
    const char *raw[NODE_OPT_COUNT];
    bool list_from_cli[3]; /* --advertise, --bootstrap, --tag seen on the command line */
    mk_buf file;           /* the configuration file (values point into it) */
    bool from_file;        /* parsing the file: a list option appends */
} node_opts;

/* The configuration file (if --config names one), then the command line,
 * then the rules between the options; CLI_CONTINUE, or the exit code
 * (help, usage error, a file that cannot be read). o must be freed with
 * node_opts_free either way. */
int node_parse(int argc, char **argv, node_opts *o);
/* What the options imply (the simulated-TD tag, the validator of
 * --require-tdx-measurements) and cfg's lists; after --print-config. */
int node_opts_finish(node_opts *o);
/* The configuration in the file's syntax (or as one JSON object). */
int node_print_config(const node_opts *o);
void node_opts_free(node_opts *o);

#endif
