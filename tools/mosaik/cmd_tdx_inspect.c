/*
 * tools/mosaik/cmd_tdx_inspect.c — `mosaik tdx inspect FILE`: print the
 * fields of a quote or a TDX ticket without verifying anything.
 *
 * A ticket (zstd magic) is decoded for its class, extra data, whether it
 * carries collateral and whether its quote's report data binds the extra
 * data; then its quote, or the input itself, is parsed and described. Exit
 * 0 when parsed, 1 when the input is no quote or ticket, 2 on usage errors,
 * 3 when the file (or stdin, '-') cannot be read.
 */
#include <stdio.h>
#include <string.h>

#include "cmd_tdx.h"

void cli_tdx_inspect_usage(FILE *f) {
    fprintf(f, "usage: mosaik tdx inspect FILE|- [--json]\n"
               "\n"
               "Print the fields of a TDX quote (binary or hex) or of a mosaik TDX ticket\n"
               "(its extra data, whether it carries collateral, whether its report data binds\n"
               "the extra data, and its quote's fields). Nothing is verified. '-' reads stdin.\n"
               "\n"
               "Exit status: 0 parsed, 1 not a quote or ticket, 2 usage error, 3 the file\n"
               "cannot be read.\n");
}

int cli_tdx_inspect(int argc, char **argv) {
    bool json = false;
    const cli_opt opts[] = {{"json", no_argument, 'j', NULL, &json},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int rc = cli_tdx_one_file(argc, argv, opts, cli_tdx_inspect_usage, "tdx inspect");
    if (rc != CLI_CONTINUE) return rc;
    cli_json = json;
    mk_error err;
    mk_error_clear(&err);
    mk_buf in = MK_BUF_INIT;
    if (cli_tdx_read_input(argv[optind], &in, &err) < 0) {
        mk_buf_free(&in);
        return cli_fail_err("tdx inspect", &err);
    }
    json_t *o = json_object();
    mk_tdx_ticket t;
    memset(&t, 0, sizeof t);
    const uint8_t *qd = in.data;
    size_t ql = in.len;
    rc = 0;
    if (cli_tdx_is_zstd(in.data, in.len)) {
        rc = mk_tdx_ticket_decode(in.data, in.len, &t, &err);
        if (rc == 0) {
            json_object_set_new(o, "kind", json_string("ticket"));
            char cls[MK_ID_HEX_LEN];
            mk_id id;
            mk_tdx_ticket_class(&id);
            mk_id_to_hex(&id, cls);
            json_object_set_new(o, "class", json_string(cls));
            cli_tdx_describe_extra(o, &t.extra);
            json_object_set_new(o, "has_collateral", json_boolean(t.collateral != NULL));
            mk_error be;
            mk_error_clear(&be);
            json_object_set_new(o, "report_data_binds_extra",
                                json_boolean(mk_tdx_ticket_check_binding(&t, &be) == 0));
            qd = t.quote;
            ql = t.quote_len;
        }
    } else {
        json_object_set_new(o, "kind", json_string("quote"));
    }
    mk_tdx_quote q;
    if (rc == 0) rc = mk_tdx_quote_parse(qd, ql, &q, &err);
    if (rc == 0) {
        cli_tdx_describe_quote(o, &q);
        json_object_set_new(o, "quote_len", json_integer((json_int_t)q.quote_len));
        json_object_set_new(o, "qe_isv_svn", json_integer(q.qe_report.isv_svn));
        json_object_set_new(o, "qe_mr_signer", cli_tdx_jhex(q.qe_report.mr_signer, 32));
        cli_tdx_emit(o, json);
    } else {
        cli_fail(CLI_FAIL, "tdx inspect: %s", err.msg);
    }
    json_decref(o);
    mk_tdx_ticket_free(&t);
    mk_buf_free(&in);
    return rc == 0 ? CLI_OK : CLI_FAIL;
}
