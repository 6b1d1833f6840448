/*
 * tools/mosaik/cli.h — subcommands of the mosaik command-line tool, and
 * what they share.
 *
 * The contract every command keeps (docs/cli.md):
 *   - exit status 0 success, 1 refused (or failed for a reason found in the
 *     input), 2 usage error, 3 input/output error (a file, stdin, the
 *     network);
 *   - with --json, exactly one JSON object on stdout, errors and --help
 *     included (node and demo, which run, print one object per line);
 *   - '-' where a file is read means stdin;
 *   - times (--at and the like) are UNIX seconds or RFC 3339 date-times;
 *   - an option value out of range is a usage error, never clamped.
 *
 * cli.c: errors, JSON output, dispatching and option parsing.
 * cli_input.c: option values (integers, times, durations) and inputs
 * (files, stdin). cli_help.c: `mosaik help`, the command list and the man
 * page, all made from the command tables and their --help texts.
 */
#ifndef MOSAIK_CLI_H
#define MOSAIK_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "mosaik/mosaik.h"

#define CLI_OK 0
#define CLI_FAIL 1  /* refused, or failed for a reason in the input */
#define CLI_USAGE 2 /* the command line is wrong */
#define CLI_IO 3    /* a file, stdin or the network failed */
/* What a command's step returns to say "go on" (never an exit code). */
#define CLI_CONTINUE (-1)

/* ----- commands ---------------------------------------------------------- */

/* A command word: its entry point (argv[0] is the word; NULL for a word
 * with subcommands, which cli_dispatch then dispatches over), its --help
 * text, the arguments and one line for the command list, and its
 * subcommands. Hidden entries (aliases) are
 * dispatched but neither listed nor documented. Tables end with a NULL
 * name. */
typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *f);
    const char *args;
    const char *summary;
    const struct cli_command *sub;
    bool hidden;
} cli_command;

extern const cli_command cli_commands[];     /* main.c */
extern const cli_command cli_jwt_commands[]; /* cmd_jwt.c */
void cli_jwt_usage(FILE *f);
#if MOSAIK_HAVE_TDX
extern const cli_command cli_tdx_commands[]; /* cmd_tdx.c */
void cli_tdx_usage(FILE *f);
#endif
#if MOSAIK_HAVE_SNP
extern const cli_command cli_snp_commands[]; /* cmd_snp.c */
void cli_snp_usage(FILE *f);
#endif
void cli_main_usage(FILE *f); /* main.c */

int cli_cmd_id(int argc, char **argv);
void cli_id_usage(FILE *f);
int cli_cmd_version(int argc, char **argv);
void cli_version_usage(FILE *f);
int cli_cmd_node(int argc, char **argv);
void cli_node_usage(FILE *f);
int cli_cmd_help(int argc, char **argv); /* cli_help.c */
void cli_help_usage(FILE *f);
#if MOSAIK_HAVE_TDX
/* The demo runs simulated-TDX nodes: it needs MOSAIK_TDX. */
int cli_cmd_demo(int argc, char **argv);
void cli_demo_usage(FILE *f);
#endif

/* Whether arg asks for help: --help, -h or help. */
bool cli_is_help(const char *arg);

/* Run the command argv[1] names in table (argv[0] is the caller's word,
 * appended to the command path). No word: usage on stderr, CLI_USAGE;
 * help: usage on stdout, CLI_OK; an unknown word: usage on stderr and
 * "mosaik: <path>: unknown subcommand 'WORD'", CLI_USAGE. */
int cli_dispatch(int argc, char **argv, const cli_command *table, void (*usage)(FILE *f));

/* The words of the command being run, e.g. "tdx verify" (cli_dispatch). */
const char *cli_command_path(void);

/* ----- errors and JSON output ------------------------------------------- */

/* Set by main when --json appears anywhere before "--", so that an error
 * found before the option is parsed is reported as JSON too. */
extern bool cli_json;

/* Print "mosaik: <msg>" to stderr, remember the first message of the run
 * for the JSON error object, and return CLI_USAGE / code. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "mosaik: WHAT: <reason>" (the code's name when err has no message),
 * with the exit status cli_exit_code gives. */
int cli_fail_err(const char *what, const mk_error *err);
/* The exit status for a library error code: CLI_IO for I/O, network,
 * timeouts and unavailable devices, else CLI_FAIL. */
int cli_exit_code(int mk_code);

/* A prefix for the messages above (e.g. "node.conf:12"), NULL for none. */
void cli_set_context(const char *ctx);

/* The command's one JSON object on stdout (indented, keys in insertion
 * order); o is borrowed. */
void cli_emit(json_t *o);
/* One object as one compact line (node and demo); o is borrowed. */
void cli_emit_line(json_t *o);
/* o's "error": null for exit status 0, else {"exit", "class" ("refused",
 * "usage" or "io"), "message"}. */
void cli_json_set_error(json_t *o, int exit_code, const char *msg);
/* The message remembered by the error functions ("" if none). */
const char *cli_last_error(void);

/* The end of main: with --json, a command that failed without printing
 * its object gets the error object {"error": {...}} printed for it.
 * Returns rc. */
int cli_finish(int rc);

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
 * getopt_long gives it (an id, '?' at an unknown option or a missing
 * value, -1 at the end). At '?' the reason ("unknown option '--x'",
 * "option '--at' needs a value") has been printed and remembered. */
int cli_getopt(int argc, char **argv, const char *shortopts, const cli_opt *opts);

/* The end of an option switch: help prints the usage on stdout (as
 * {"help": TEXT} with --json) and gives CLI_OK; anything else (an unknown
 * option, a missing value) prints it on stderr and gives CLI_USAGE. */
int cli_help_or_usage(bool help, void (*usage)(FILE *f));
/* A command's options (opts: flags and strings, and --help) followed by
 * exactly n words: CLI_CONTINUE with argv[optind] the first word; --help,
 * a bad option, or another number of words end it (the usage on stderr
 * and the usage error `expect`; with n == 0, "<expect>: unexpected argument
 * 'WORD'"). */
int cli_args(int argc, char **argv, const cli_opt *opts, void (*usage)(FILE *f), int n,
             const char *expect);

/* ----- option values and inputs (cli_input.c) ---------------------------- */

/* An integer in [lo, hi]: decimal digits only. Otherwise a usage error
 * naming opt ("--memory wants an integer in [64, 16777216], not 'x'"). */
int cli_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
int cli_parse_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi, uint32_t *out);
/* A point in time: UNIX seconds (decimal digits) or an RFC 3339
 * date-time ("2025-07-19T09:57:14Z", offsets allowed). */
int cli_parse_time(const char *opt, const char *s, int64_t *out);
/* A duration in seconds, fractions allowed, in [lo, hi]. */
int cli_parse_seconds(const char *opt, const char *s, double lo, double hi, double *out);

/* Whether path names stdin ("-"). */
bool cli_is_stdin(const char *path);
/* A whole input, appended to out: the file, or stdin for "-". Stdin is
 * read once and kept, so two inputs given as '-' get the same bytes. */
int cli_read_file(const char *path, size_t max, mk_buf *out, mk_error *err);
/* A path for a file the library opens itself: path, or for "-" a private
 * copy of stdin in a temporary file (mode 0600, removed at exit). NULL
 * with err set on failure. */
const char *cli_input_path(const char *path, mk_error *err);

#if MOSAIK_HAVE_TDX
/* A trusted simulator root (`--trust-sim-root FILE` of `tdx verify` and
 * `node`): a simulator state file, or its root certificate (PEM or DER).
 * Appends the root's DER to out. (cmd_tdx_common.c) */
int cli_tdx_load_sim_root(const char *path, mk_buf *out, mk_error *err);
#endif

#endif
