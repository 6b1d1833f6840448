/*
 * tools/mosaik/cli.h — subcommands of the mosaik command-line tool, and
 * what they share (cli.c).
 *
 * Exit codes: 0 success, 1 refused/failed (reason on stderr), 2 usage error.
 */
#ifndef MOSAIK_CLI_H
#define MOSAIK_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

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
#if MOSAIK_HAVE_SNP
int cli_cmd_snp(int argc, char **argv); /* cmd_snp.c */
#endif

/* Print to stderr "mosaik: <msg>" and return CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ----- dispatching ------------------------------------------------------ */

/* A command word and its entry point (argv[0] is the word); tables end
 * with a NULL name. */
typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
} cli_command;

/* Whether arg asks for help: --help, -h or help. */
bool cli_is_help(const char *arg);

/* Run the command argv[1] names in table. No word: usage on stderr,
 * CLI_USAGE; help: usage on stdout, CLI_OK; an unknown word: usage on
 * stderr and "mosaik: <prefix>unknown command 'WORD'", CLI_USAGE. */
int cli_dispatch(int argc, char **argv, const cli_command *table, void (*usage)(FILE *f),
                 const char *prefix);

/* ----- options ----------------------------------------------------------- */

#define CLI_OPTS_MAX 40

/* A long option: getopt_long's name, has_arg (no_argument or
 * required_argument) and id (what it returns: a letter, or >= 256); str or
 * flag for an option that only stores its value, or true. Tables end with
 * a NULL name. */
typedef struct cli_opt {
    const char *name;
    int has_arg;
    int id;
    const char **str;
    bool *flag;
} cli_opt;

/* getopt_long over opts (at most CLI_OPTS_MAX): options with str or flag
 * are stored and not returned; every other result is returned as
 * getopt_long gives it (an id, '?' with optopt, -1 at the end). */
int cli_getopt(int argc, char **argv, const char *shortopts, const cli_opt *opts);

/* The end of an option switch: help prints the usage on stdout and gives
 * CLI_OK; anything else (an unknown option, a missing value) prints it on
 * stderr and gives CLI_USAGE. */
int cli_help_or_usage(bool help, void (*usage)(FILE *f));

#if MOSAIK_HAVE_TDX
/* A trusted simulator root (`--trust-sim-root FILE` of `tdx verify` and
 * `node`): a simulator state file, or its root certificate (PEM or DER).
 * Appends the root's DER to out. (cmd_tdx_common.c) */
int cli_tdx_load_sim_root(const char *path, mk_buf *out, mk_error *err);
#endif

#endif
