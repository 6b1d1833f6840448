/*
 * tools/mosaik/cmd_snp_verify.c — `mosaik snp verify REPORT`.
 *
 * The report (binary, or hex text) is verified with mk_snp_verify at --at
 * (default: now) against the certificate given by --vcek (DER or PEM; a
 * PEM may carry the ASK/ASVK and ARK after the leaf — the built-in ARK of
 * the report's product is the anchor whatever the file holds), with
 * --chain and --crl as further inputs. Without --vcek the VCEK is fetched
 * from AMD's KDS only when --fetch or --kds says so: the command never
 * goes to the network unasked. The policy is the library's default
 * (debug and migration agents refused) changed by --allow-debug,
 * --min-tcb, --max-vmpl, --key; --measurement and --host-data pin values.
 *
 * Output: one JSON object (--json) or "key: value" lines, also on refusal
 * (with "reason"); the reason goes to stderr too. Exit 0 verified, 1
 * refused, 2 usage, 3 a file could not be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_snp.h"

void cli_snp_verify_usage(FILE *f) {
    fprintf(f,
            "usage: mosaik snp verify REPORT [--vcek FILE] [--chain FILE] [--crl FILE]\n"
            "                        [--at UNIX|RFC3339] [--allow-debug]\n"
            "                        [--min-tcb bl=N,tee=N,snp=N,ucode=N[,fmc=N]]\n"
            "                        [--max-vmpl N] [--key vcek|vlek|any]\n"
            "                        [--measurement HEX] [--host-data HEX]\n"
            "                        [--fetch] [--kds URL] [--cache DIR] [--fetch-crl] [--json]\n"
            "\n"
            "Verify an AMD SEV-SNP attestation report (1184 bytes, binary or hex) all the way\n"
            "to AMD's root key (ARK) of its product, which is built in and pinned.\n"
            "\n"
            "  --vcek FILE        the VCEK or VLEK, DER or PEM (a PEM may carry the ASK/ASVK\n"
            "                     and ARK after it; the built-in ARK stays the anchor)\n"
            "  --chain FILE       more certificates (e.g. the KDS cert_chain)\n"
            "  --crl FILE         AMD's CRL of the product (DER or PEM)\n"
            "  --at T             verification time (UNIX seconds or RFC 3339; default now)\n"
            "  --allow-debug      accept a guest whose policy allows debugging\n"
            "  --min-tcb LIST     minimum reported TCB per component (fmc: Turin only)\n"
            "  --max-vmpl N       highest VMPL the report may come from (default 3)\n"
            "  --key K            accepted signing keys: vcek, vlek or any (default any)\n"
            "  --measurement HEX, --host-data HEX   required values\n"
            "  --fetch            without --vcek, fetch the VCEK from AMD's KDS\n"
            "  --kds URL          the KDS to fetch from (implies --fetch)\n"
            "  --cache DIR        cache what is fetched in DIR\n"
            "  --fetch-crl        also fetch and check AMD's CRL\n"
            "  --json             print one JSON object\n"
            "\n"
            "Exit status: 0 verified, 1 refused, 2 usage error, 3 a file could not be read.\n");
}

typedef struct verify_args {
    const char *path, *vcek, *chain, *crl, *kds, *cache, *meas, *host;
    int64_t at;
    bool json, allow_debug, fetch, fetch_crl;
    mk_snp_policy pol;
} verify_args;

static int parse_key(const char *s, unsigned *mask) {
    if (!strcmp(s, "vcek"))
        *mask = MK_SNP_KEY_BIT(MK_SNP_KEY_VCEK);
    else if (!strcmp(s, "vlek"))
        *mask = MK_SNP_KEY_BIT(MK_SNP_KEY_VLEK);
    else if (!strcmp(s, "any"))
        *mask = MK_SNP_KEY_BIT(MK_SNP_KEY_VCEK) | MK_SNP_KEY_BIT(MK_SNP_KEY_VLEK);
    else
        return cli_usage_error("snp verify: --key wants vcek, vlek or any, not '%s'", s);
    return 0;
}

static int verify_parse(int argc, char **argv, verify_args *a) {
    memset(a, 0, sizeof *a);
    a->at = mk_now();
    mk_snp_policy_default(&a->pol);
    const cli_opt opts[] = {{"vcek", required_argument, 'v', &a->vcek, NULL},
                            {"chain", required_argument, 'c', &a->chain, NULL},
                            {"crl", required_argument, 'r', &a->crl, NULL},
                            {"at", required_argument, 't', NULL, NULL},
                            {"allow-debug", no_argument, 'd', NULL, &a->allow_debug},
                            {"min-tcb", required_argument, 'm', NULL, NULL},
                            {"max-vmpl", required_argument, 'V', NULL, NULL},
                            {"key", required_argument, 'k', NULL, NULL},
                            {"measurement", required_argument, 'M', &a->meas, NULL},
                            {"host-data", required_argument, 'H', &a->host, NULL},
                            {"fetch", no_argument, 'f', NULL, &a->fetch},
                            {"kds", required_argument, 'K', &a->kds, NULL},
                            {"cache", required_argument, 'C', &a->cache, NULL},
                            {"fetch-crl", no_argument, 'R', NULL, &a->fetch_crl},
                            {"json", no_argument, 'j', NULL, &a->json},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int c;
    optind = 0;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
        char *end = NULL;
        long v;
        switch (c) {
        case 't':
            if (cli_snp_parse_time(optarg, &a->at)) return CLI_USAGE;
            break;
        case 'm':
            if (cli_snp_parse_tcb(optarg, &a->pol.min_tcb)) return CLI_USAGE;
            break;
        case 'V':
            v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 0 || v > 3)
                return cli_usage_error("snp verify: --max-vmpl wants 0..3, not '%s'", optarg);
            a->pol.max_vmpl = (uint32_t)v;
            break;
        case 'k':
            if (parse_key(optarg, &a->pol.accepted_keys)) return CLI_USAGE;
            break;
        default:
            return cli_help_or_usage(c == 'h', cli_snp_verify_usage);
        }
    }
    if (optind != argc - 1) {
        cli_snp_verify_usage(stderr);
        return cli_usage_error("snp verify: expected one REPORT file");
    }
    a->path = argv[optind];
    a->pol.allow_debug = a->allow_debug;
    if (a->kds) a->fetch = true;
    if (a->fetch_crl && !a->fetch && !a->crl) a->fetch = true;
    return CLI_CONTINUE;
}

typedef struct verify_run {
    mk_buf report, leaf, chain, crl;
    mk_snp_criteria crit;
    mk_error err;
} verify_run;

/* Files and pinned values; CLI_CONTINUE or the exit code. */
static int verify_load(const verify_args *a, verify_run *r) {
    const struct {
        const char *path;
        mk_buf *b;
        bool hex;
    } in[] = {{a->path, &r->report, true},
              {a->vcek, &r->leaf, false},
              {a->chain, &r->chain, false},
              {a->crl, &r->crl, false}};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        if (!in[i].path) continue;
        int rc = cli_snp_read(in[i].path, in[i].hex, in[i].b, &r->err);
        if (rc < 0) return cli_snp_fail("snp verify", &r->err, CLI_IO);
    }
    mk_snp_criteria_init(&r->crit);
    if (a->meas &&
        mk_snp_criteria_require_hex(&r->crit, MK_SNP_REQ_MEASUREMENT, a->meas, &r->err) < 0)
        return cli_usage_error("snp verify: --measurement: %s", r->err.msg);
    if (a->host &&
        mk_snp_criteria_require_hex(&r->crit, MK_SNP_REQ_HOST_DATA, a->host, &r->err) < 0)
        return cli_usage_error("snp verify: --host-data: %s", r->err.msg);
    return CLI_CONTINUE;
}

static int verify_run_one(const verify_args *a, verify_run *r, mk_snp_result *res) {
    mk_snp_fetch_opts fo = {.base_url = a->kds, .cache_dir = a->cache, .fetch_crl = a->fetch_crl};
    mk_snp_verifier_config cfg;
    mk_snp_verifier_config_init(&cfg);
    cfg.policy = a->pol;
    if (a->fetch) cfg.fetch = &fo;
    if (a->kds && !strncmp(a->kds, "http://", 7)) fo.insecure_http_ok = true; /* said explicitly */
    mk_snp_verifier *v = NULL;
    int rc = mk_snp_verifier_new(&cfg, &v, &r->err);
    if (rc < 0) return rc;
    mk_snp_certs c = {r->leaf.len ? r->leaf.data : NULL,   r->leaf.len,
                      r->chain.len ? r->chain.data : NULL, r->chain.len,
                      r->crl.len ? r->crl.data : NULL,     r->crl.len};
    rc = mk_snp_verify(v, r->report.data, r->report.len, &c, a->at, res, &r->err);
    if (rc == 0 && (rc = mk_snp_criteria_match(&r->crit, &res->report, &r->err)) < 0)
        rc = mk_error_prefix(&r->err, rc, "measurements");
    mk_snp_verifier_free(v);
    return rc;
}

int cli_snp_verify(int argc, char **argv) {
    verify_args a;
    int rc = verify_parse(argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    verify_run r;
    memset(&r, 0, sizeof r);
    mk_buf *bufs[] = {&r.report, &r.leaf, &r.chain, &r.crl};
    for (size_t i = 0; i < 4; i++)
        mk_buf_init(bufs[i], 0);
    mk_snp_result res;
    memset(&res, 0, sizeof res);
    rc = verify_load(&a, &r);
    if (rc == CLI_CONTINUE) {
        if (!a.vcek && !a.fetch)
            fprintf(stderr, "mosaik: snp verify: no --vcek; pass --fetch to ask AMD's KDS\n");
        int vr = verify_run_one(&a, &r, &res);
        json_t *o = json_object();
        json_object_set_new(o, "verified", json_boolean(vr == 0));
        bool parsed = res.report.raw != NULL;
        if (parsed) {
            cli_snp_describe_report(o, &res.report, res.product);
        } else {
            const char *keys[] = {"version",      "product", "signing_key", "measurement",
                                  "reported_tcb", "policy",  "vmpl"};
            for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
                json_object_set_new(o, keys[i], json_null());
        }
        json_object_set_new(o, "chain_verified", json_boolean(res.chain_verified));
        json_object_set_new(o, "crl_checked", json_boolean(res.crl_checked));
        if (res.have_cert) json_object_set_new(o, "certificate", cli_snp_describe_cert(&res.cert));
        char ts[MK_RFC3339_LEN];
        mk_time_format_rfc3339(a.at, ts);
        json_object_set_new(o, "at", json_string(ts));
        if (vr == 0) {
            mk_time_format_rfc3339(res.valid_until, ts);
            json_object_set_new(o, "valid_until", json_string(ts));
        } else {
            json_object_set_new(o, "reason", json_string(r.err.msg));
        }
        int code = vr == 0 ? CLI_OK : cli_exit_code(r.err.code);
        char msg[1100];
        snprintf(msg, sizeof msg, "snp verify: %s", r.err.msg[0] ? r.err.msg : mk_strerror(vr));
        if (a.json) cli_json_set_error(o, code, msg);
        cli_snp_emit(o, a.json);
        json_decref(o);
        rc = vr == 0 ? CLI_OK : cli_snp_fail("snp verify", &r.err, code);
    }
    for (size_t i = 0; i < 4; i++)
        mk_buf_free(bufs[i]);
    return rc;
}
