/*
 * tools/mosaik/cmd_tdx.h — what the `mosaik tdx` subcommands share.
 *
 * cmd_tdx.c holds the table of `mosaik tdx <command>`, one file per
 * command (cmd_tdx_verify.c, cmd_tdx_inspect.c, cmd_tdx_ticket.c,
 * cmd_tdx_collateral.c, cmd_tdx_sim.c, cmd_tdx_measure.c, cmd_tdx_build.c,
 * cmd_tdx_kernel.c), each with its --help text (cli_tdx_*_usage). The
 * commands share two things, each in its own file:
 *
 *   cmd_tdx_common.c    reading inputs: a quote or ticket file (binary, or
 *                       hex text; '-' stdin), collateral (a bundle file or
 *                       a directory of PCS responses), and the options of a
 *                       one-FILE command;
 *   cmd_tdx_describe.c  a quote, a ticket's extra data and a verdict as a
 *                       JSON object, printed as JSON or as "key: value" text.
 *
 * Every command takes argv[0] = its own name and returns a CLI_* exit code.
 */
#ifndef MOSAIK_CMD_TDX_H
#define MOSAIK_CMD_TDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli.h"
#include "mosaik/tdx_provider.h"
#include "mosaik/tdx_ticket.h"

/* ----- the commands ---------------------------------------------------- */

int cli_tdx_verify(int argc, char **argv);
void cli_tdx_verify_usage(FILE *f);
int cli_tdx_inspect(int argc, char **argv);
void cli_tdx_inspect_usage(FILE *f);
int cli_tdx_ticket(int argc, char **argv);
void cli_tdx_ticket_usage(FILE *f);
int cli_tdx_collateral_fetch(int argc, char **argv);
void cli_tdx_collateral_usage(FILE *f);
int cli_tdx_sim_init(int argc, char **argv);
void cli_tdx_sim_init_usage(FILE *f);
#if MOSAIK_HAVE_TDX_BUILDER
int cli_tdx_measure(int argc, char **argv);
void cli_tdx_measure_usage(FILE *f);
int cli_tdx_build(int argc, char **argv);
void cli_tdx_build_usage(FILE *f);
int cli_tdx_kernel_fetch(int argc, char **argv);
void cli_tdx_kernel_usage(FILE *f);
#endif

/* ----- inputs (cmd_tdx_common.c) --------------------------------------- */

/* Whether the bytes start with the zstd magic, which marks a TDX ticket. */
bool cli_tdx_is_zstd(const uint8_t *d, size_t n);

/* A quote or ticket file ('-' stdin): binary, or hex text (optional 0x,
 * whitespace tolerated), appended to out as bytes. */
int cli_tdx_read_input(const char *path, mk_buf *out, mk_error *err);

/* Collateral: a bundle JSON file ('-' stdin), or a directory of PCS
 * responses. */
int cli_tdx_load_collateral(const char *path, mk_tdx_collateral **out, mk_error *err);

/* The options of a command that takes one FILE (argv[optind] on
 * CLI_CONTINUE) and only options that opts stores. Otherwise the exit code:
 * help; an unknown option; not one FILE ("mosaik: WHAT: expected one
 * FILE" after the usage). */
int cli_tdx_one_file(int argc, char **argv, const cli_opt *opts, void (*usage)(FILE *f),
                     const char *what);

/* ----- descriptions (cmd_tdx_describe.c) -------------------------------- */

/* n bytes as a JSON hex string (JSON null when out of memory). */
json_t *cli_tdx_jhex(const uint8_t *d, size_t n);

/* A parsed quote's fields into o. */
void cli_tdx_describe_quote(json_t *o, const mk_tdx_quote *q);

/* The quote fields cli_tdx_describe_quote sets, as JSON null where o has
 * none (a report on an input that is no quote keeps its shape). */
void cli_tdx_null_quote_fields(json_t *o);

/* A verification result's TCB status, advisories, FMSPC, simulated flag and
 * validity; with have == false, the same keys with empty values. */
void cli_tdx_describe_result(json_t *o, const mk_tdx_result *res, bool have);

/* A ticket's extra data as the object "ticket" of o. */
void cli_tdx_describe_extra(json_t *o, const mk_tdx_extra_data *x);

/* Print o on stdout: the command's JSON object (cli_emit), or one
 * "key: value" line per key. */
void cli_tdx_emit(json_t *o, bool json);

#endif
