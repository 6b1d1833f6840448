/*
 * tools/mosaik/cmd_snp_inspect.c — `mosaik snp inspect FILE`: a report's
 * fields, or a VCEK's / VLEK's AMD extensions. Nothing is verified (that is
 * `mosaik snp verify`): a file of a report's size (binary or hex) is read
 * as a report, anything else as a certificate (DER or PEM, the first of a
 * PEM). Exit 0 when the file was understood, 1 when it is neither, 2 usage,
 * 3 when it cannot be read.
 */
#include <stdio.h>
#include <string.h>

#include "cmd_snp.h"

void cli_snp_inspect_usage(FILE *f) {
    fprintf(f, "usage: mosaik snp inspect FILE [--json]\n"
               "\n"
               "Print the fields of an SEV-SNP report (1184 bytes, binary or hex) or the AMD\n"
               "extensions of a VCEK/VLEK certificate (DER or PEM). Nothing is verified.\n"
               "\n"
               "Exit status: 0 shown, 1 not a report or certificate, 2 usage, 3 unreadable.\n");
}

int cli_snp_inspect(int argc, char **argv) {
    bool json = false;
    const cli_opt opts[] = {{"json", no_argument, 'j', NULL, &json},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int rc = cli_args(argc, argv, opts, cli_snp_inspect_usage, 1, "snp inspect: expected one FILE");
    if (rc != CLI_CONTINUE) return rc;
    mk_buf b;
    mk_buf_init(&b, 0);
    mk_error err;
    mk_error_clear(&err);
    rc = cli_snp_read(argv[optind], true, &b, &err);
    if (rc < 0) {
        mk_buf_free(&b);
        return cli_snp_fail("snp inspect", &err, CLI_IO);
    }
    json_t *o = json_object();
    mk_snp_report rep;
    mk_snp_cert_info ci;
    if (b.len == MK_SNP_REPORT_LEN) {
        rc = mk_snp_report_parse(b.data, b.len, &rep, &err);
        if (rc == 0) {
            json_object_set_new(o, "type", json_string("report"));
            cli_snp_describe_report(o, &rep, MK_SNP_PRODUCT_UNKNOWN);
        }
    } else {
        rc = mk_snp_cert_info_read(b.data, b.len, &ci, &err);
        if (rc == 0) {
            json_object_set_new(o, "type", json_string("certificate"));
            json_t *cj = cli_snp_describe_cert(&ci);
            json_object_update(o, cj);
            json_decref(cj);
            json_object_set_new(o, "product",
                                ci.product ? json_string(mk_snp_product_name(ci.product))
                                           : json_null());
        }
    }
    if (rc == 0) cli_snp_emit(o, json);
    json_decref(o);
    mk_buf_free(&b);
    return rc == 0 ? CLI_OK : cli_snp_fail("snp inspect", &err, CLI_FAIL);
}
