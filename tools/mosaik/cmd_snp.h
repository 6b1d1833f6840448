/*
 * tools/mosaik/cmd_snp.h — what the `mosaik snp` subcommands share.
 *
 * cmd_snp.c dispatches `mosaik snp <command>` to one file per command
 * (cmd_snp_verify.c, cmd_snp_inspect.c, cmd_snp_fetch.c, cmd_snp_ticket.c);
 * what they share is in cmd_snp_common.c: reading a report or certificate
 * file, the --at and --min-tcb values, the failure message (through the
 * CLI contract's cli_fail, so --json gets its error object), and the
 * report / certificate / verdict as one JSON object printed as JSON (the
 * run's one object, cli_emit) or as "key: value" text.
 *
 * Exit codes of every snp command: 0 verified / done, 1 refused or failed,
 * 2 usage error, 3 a file could not be read or written (CLI_IO).
 */
#ifndef MOSAIK_CMD_SNP_H
#define MOSAIK_CMD_SNP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli.h"
#include "mosaik/snp.h"

#define CLI_IO 3

int cli_snp_verify(int argc, char **argv);
int cli_snp_inspect(int argc, char **argv);
int cli_snp_fetch(int argc, char **argv);
int cli_snp_ticket(int argc, char **argv);
void cli_snp_verify_usage(FILE *f);
void cli_snp_inspect_usage(FILE *f);
void cli_snp_fetch_usage(FILE *f);
void cli_snp_ticket_usage(FILE *f);

/* Print "mosaik: WHAT: <reason>" to stderr and return code. */
int cli_snp_fail(const char *what, const mk_error *err, int code);

/* A report or certificate file into out (binary; a report may also be hex
 * text, whitespace and 0x tolerated). MK_EIO when it cannot be read,
 * MK_ETOOBIG beyond the cap. */
int cli_snp_read(const char *path, bool hex_ok, mk_buf *out, mk_error *err);

/* --at: UNIX seconds or RFC 3339. A usage error (CLI_USAGE) otherwise. */
int cli_snp_parse_time(const char *s, int64_t *out);
/* --min-tcb bl=N,tee=N,snp=N,ucode=N[,fmc=N] (each 0..255, any subset). */
int cli_snp_parse_tcb(const char *s, mk_snp_tcb *out);

/* n bytes as a lowercase hex JSON string. */
json_t *cli_snp_jhex(const uint8_t *d, size_t n);
/* A TCB as {"bootloader":…, "tee":…, "snp":…, "microcode":…[, "fmc":…]}. */
json_t *cli_snp_jtcb(const mk_snp_tcb *t, mk_snp_product p);
/* A parsed report's fields into o (product: the one verification found, or
 * the CPUID's). */
void cli_snp_describe_report(json_t *o, const mk_snp_report *r, mk_snp_product p);
/* A certificate's AMD extensions and validity as an object. */
json_t *cli_snp_describe_cert(const mk_snp_cert_info *ci);
/* Print o on stdout: indented JSON, or one "key: value" line per key. */
void cli_snp_emit(json_t *o, bool json);

#endif
