/*
 * tools/mosaik/cli.h — subcommands of the mosaik command-line tool.
 *
 * Exit codes: 0 success, 1 refused/failed (reason on stderr), 2 usage error.
 */
#ifndef MOSAIK_CLI_H
#define MOSAIK_CLI_H

#include "mosaik/mosaik.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2
/* What a command's step returns to say "go on" (never an exit code). */
#define CLI_CONTINUE (-1)

int cli_cmd_id(int argc, char **argv);
int cli_cmd_jwt(int argc, char **argv);
int cli_cmd_node(int argc, char **argv);
#if MOSAIK_HAVE_TDX
int cli_cmd_tdx(int argc, char **argv);
/* The demo runs simulated-TDX nodes: it needs MOSAIK_TDX. */
int cli_cmd_demo(int argc, char **argv);
#endif

/* Print to stderr "mosaik: <msg>" and return CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#if MOSAIK_HAVE_TDX
/* A trusted simulator root (`--trust-sim-root FILE` of `tdx verify` and
 * `node`): a simulator state file, or its root certificate (PEM or DER).
 * Appends the root's DER to out. (cmd_tdx_common.c) */
int cli_tdx_load_sim_root(const char *path, mk_buf *out, mk_error *err);
#endif

#endif
