/*
 * tools/mosaik/cmd_snp_fetch.c — `mosaik snp fetch [REPORT]`: download from
 * AMD's key distribution service (or --kds URL) the VCEK of the chip and
 * TCB a report names, and with --chain / --crl the product's certificate
 * chain and CRL, into --out DIR (default .) as vcek.der, cert_chain.pem,
 * crl.der. The product is the report's (CPUID, v3 and later) or
 * --product's; for a v2 report without --product, Milan and then Genoa are
 * asked (Turin when the chip id has only 8 bytes). Without REPORT, --product
 * and --chain or --crl fetch those alone. What is fetched passes the
 * client's sanity checks (mosaik/snp.h) but is not verified here: verify
 * it with `mosaik snp verify`. Exit 0 done, 1 refused or a network
 * failure, 2 usage, 3 a file could not be read or written.
 */
#include <stdio.h>
#include <string.h>

#include "cmd_snp.h"

void cli_snp_fetch_usage(FILE *f) {
    fprintf(f, "usage: mosaik snp fetch [REPORT] [--product Milan|Genoa|Turin] [--chain] [--crl]\n"
               "                        [--vlek] [--out DIR] [--kds URL] [--cache DIR]\n"
               "\n"
               "Download a report's VCEK (and the product's chain and CRL) from AMD's KDS.\n"
               "\n"
               "  --product P   the product (default: the report's CPUID; for v2 reports\n"
               "                Milan, then Genoa)\n"
               "  --chain       also cert_chain.pem (ASK+ARK, ASVK+ARK with --vlek)\n"
               "  --crl         also crl.der (checked against the pinned ARK at now)\n"
               "  --vlek        the VLEK chain / CRL instead of the VCEK ones\n"
               "  --out DIR     where to write (default .)\n"
               "  --kds URL     the KDS (default " MK_SNP_KDS_URL ")\n"
               "  --cache DIR   cache what is fetched in DIR\n"
               "\n"
               "Exit status: 0 done, 1 failed, 2 usage error, 3 a file could not be read or\n"
               "written.\n");
}

typedef struct fetch_args {
    const char *report, *product, *out, *kds, *cache;
    bool chain, crl, vlek;
} fetch_args;

static int write_out(const fetch_args *a, const char *name, const mk_buf *b, mk_error *err) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", a->out ? a->out : ".", name);
    if (mk_file_write(path, b->data, b->len, 0644, err) < 0)
        return cli_snp_fail("snp fetch", err, CLI_IO);
    fprintf(stderr, "mosaik: snp fetch: wrote %s (%zu bytes)\n", path, b->len);
    return CLI_CONTINUE;
}

/* The VCEK of the report; CLI_CONTINUE with *prod set, or an exit code. */
static int fetch_vcek(const fetch_args *a, const mk_snp_fetch_opts *o, mk_snp_product *prod,
                      mk_buf *b, mk_error *err) {
    mk_buf rb;
    mk_buf_init(&rb, 0);
    mk_snp_report rep;
    int rc = cli_snp_read(a->report, true, &rb, err);
    if (rc < 0) {
        mk_buf_free(&rb);
        return cli_snp_fail("snp fetch", err, CLI_IO);
    }
    rc = mk_snp_report_parse(rb.data, rb.len, &rep, err);
    mk_snp_product cand[2] = {*prod, MK_SNP_PRODUCT_UNKNOWN};
    size_t n = 1;
    if (rc == 0 && !*prod) {
        bool short_id = true;
        for (int i = 8; i < 64; i++)
            short_id &= rep.chip_id[i] == 0;
        if (rep.has_cpuid)
            cand[0] = rep.cpuid_product;
        else if (short_id)
            cand[0] = MK_SNP_TURIN;
        else
            cand[0] = MK_SNP_MILAN, cand[1] = MK_SNP_GENOA, n = 2;
        if (!cand[0])
            rc = mk_error_set(err, MK_EUNSUPPORTED, "the report's CPUID names no known product");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        mk_snp_tcb t;
        mk_snp_tcb_decode(rep.reported_tcb, cand[i], &t);
        rc = mk_snp_fetch_vcek(o, cand[i], rep.chip_id, &t, b, err);
        if (rc == 0) {
            *prod = cand[i];
            break;
        }
        if (rc == MK_ENOTFOUND && i + 1 < n) { /* not a chip of this product: the next */
            rc = 0;
            mk_error_clear(err);
        }
    }
    mk_buf_free(&rb);
    return rc < 0 ? cli_snp_fail("snp fetch", err, CLI_FAIL) : CLI_CONTINUE;
}

int cli_snp_fetch(int argc, char **argv) {
    fetch_args a;
    memset(&a, 0, sizeof a);
    const cli_opt opts[] = {{"product", required_argument, 'p', &a.product, NULL},
                            {"chain", no_argument, 'c', NULL, &a.chain},
                            {"crl", no_argument, 'r', NULL, &a.crl},
                            {"vlek", no_argument, 'l', NULL, &a.vlek},
                            {"out", required_argument, 'o', &a.out, NULL},
                            {"kds", required_argument, 'K', &a.kds, NULL},
                            {"cache", required_argument, 'C', &a.cache, NULL},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int c;
    optind = 0;
    if ((c = cli_getopt(argc, argv, "h", opts)) != -1)
        return cli_help_or_usage(c == 'h', cli_snp_fetch_usage);
    if (optind < argc - 1 || (optind == argc && (!a.product || (!a.chain && !a.crl)))) {
        cli_snp_fetch_usage(stderr);
        return cli_usage_error("snp fetch: expected a REPORT, or --product with --chain/--crl");
    }
    if (optind == argc - 1) a.report = argv[optind];
    mk_snp_product prod = MK_SNP_PRODUCT_UNKNOWN;
    if (a.product && mk_snp_product_parse(a.product, &prod) < 0)
        return cli_usage_error("snp fetch: unknown product '%s' (Milan, Genoa, Turin)", a.product);
    mk_snp_fetch_opts o = {.base_url = a.kds, .cache_dir = a.cache};
    if (a.kds && !strncmp(a.kds, "http://", 7)) o.insecure_http_ok = true; /* said explicitly */
    mk_buf b;
    mk_buf_init(&b, 0);
    mk_error err;
    mk_error_clear(&err);
    int rc = CLI_CONTINUE;
    mk_snp_signing_key key = a.vlek ? MK_SNP_KEY_VLEK : MK_SNP_KEY_VCEK;
    if (a.report && (rc = fetch_vcek(&a, &o, &prod, &b, &err)) == CLI_CONTINUE)
        rc = write_out(&a, "vcek.der", &b, &err);
    if (rc == CLI_CONTINUE && a.chain) {
        rc = mk_snp_fetch_chain(&o, prod, key, &b, &err) < 0
                 ? cli_snp_fail("snp fetch", &err, CLI_FAIL)
                 : write_out(&a, "cert_chain.pem", &b, &err);
    }
    if (rc == CLI_CONTINUE && a.crl) {
        rc = mk_snp_fetch_crl(&o, prod, key, mk_now(), &b, &err) < 0
                 ? cli_snp_fail("snp fetch", &err, CLI_FAIL)
                 : write_out(&a, "crl.der", &b, &err);
    }
    mk_buf_free(&b);
    return rc == CLI_CONTINUE ? CLI_OK : rc;
}
