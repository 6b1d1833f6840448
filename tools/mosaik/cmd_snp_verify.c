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
 * A mosaik SNP ticket (the file is a zstd frame, as `mosaik snp ticket`
 * writes it) is verified the same way: its report, with the certificates
 * it carries unless --vcek is given, and then its report data must bind
 * the ticket's extra data (peer, network, times), which the output lists.
 * A simulated report verifies only with --trust-sim-root STATEFILE (the
 * simulator's state file; the output then says "simulated": true).
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
    fprintf(f, "usage: mosaik snp verify REPORT|TICKET [--vcek FILE] [--chain FILE] [--crl FILE]\n"
               "                        [--at UNIX|RFC3339] [--allow-debug]\n"
               "                        [--min-tcb bl=N,tee=N,snp=N,ucode=N[,fmc=N]]\n"
               "                        [--max-vmpl N] [--key vcek|vlek|any]\n"
               "                        [--measurement HEX] [--host-data HEX]\n"
               "                        [--fetch] [--kds URL] [--cache DIR] [--fetch-crl]\n"
               "                        [--trust-sim-root STATEFILE] [--json]\n"
               "\n"
               "Verify an AMD SEV-SNP attestation report (1184 bytes, binary or hex) all the way\n"
               "to AMD's root key (ARK) of its product, which is built in and pinned. A mosaik\n"
               "SNP ticket is verified with the certificates it carries (unless --vcek), and\n"
               "its report data must bind the ticket's peer, network and times.\n"
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
               "  --trust-sim-root STATEFILE  trust the SNP simulator of this state file\n"
               "                     (its reports are NOT real SEV-SNP)\n"
               "  --json             print one JSON object\n"
               "\n"
               "Exit status: 0 verified, 1 refused, 2 usage error, 3 a file could not be read.\n");
}

typedef struct verify_args {
    const char *path, *vcek, *chain, *crl, *kds, *cache, *meas, *host, *sim;
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
                            {"trust-sim-root", required_argument, 'S', &a->sim, NULL},
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
    bool is_ticket;
    mk_snp_ticket ticket;
    mk_snp_sim *sim;
} verify_run;

/* A ticket file: its report replaces the file's bytes, its certificates
 * are the leaf unless --vcek gave one. CLI_CONTINUE or the exit code. */
static int load_ticket(const verify_args *a, verify_run *r) {
    static const uint8_t zstd[4] = {0x28, 0xb5, 0x2f, 0xfd};
    if (r->report.len == MK_SNP_REPORT_LEN || r->report.len < 4 ||
        memcmp(r->report.data, zstd, 4) != 0)
        return CLI_CONTINUE;
    if (mk_snp_ticket_decode(r->report.data, r->report.len, &r->ticket, &r->err) < 0)
        return cli_snp_fail("snp verify", &r->err, CLI_FAIL);
    r->is_ticket = true;
    mk_buf_reset(&r->report);
    if (mk_buf_append(&r->report, r->ticket.report, r->ticket.report_len) < 0 ||
        (!a->vcek && r->ticket.certs &&
         mk_buf_append(&r->leaf, r->ticket.certs, r->ticket.certs_len) < 0))
        return cli_fail(CLI_FAIL, "snp verify: out of memory");
    return CLI_CONTINUE;
}

/* The ticket's extra data and whether the report binds it. */
static int ticket_describe(json_t *o, verify_run *r, int vr) {
    const mk_tee_extra_data *x = &r->ticket.extra;
    char ph[MK_ID_HEX_LEN], nh[MK_ID_HEX_LEN], t1[MK_RFC3339_LEN], t2[MK_RFC3339_LEN],
        t3[MK_RFC3339_LEN];
    mk_id_to_hex(&x->peer_id, ph);
    mk_id_to_hex(&x->network_id, nh);
    mk_time_format_rfc3339(x->started_at, t1);
    mk_time_format_rfc3339(x->quoted_at, t2);
    mk_time_format_rfc3339(x->expiration, t3);
    mk_error e;
    mk_error_clear(&e);
    bool binds = mk_snp_ticket_check_binding(&r->ticket, &e) == 0;
    json_object_set_new(o, "ticket",
                        json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "peer_id", ph, "network_id", nh,
                                  "started_at", t1, "quoted_at", t2, "expiration",
                                  x->expiration == MK_EXPIRES_NEVER ? "never" : t3, "binds",
                                  binds));
    if (vr == 0 && !binds) {
        r->err = e;
        return e.code;
    }
    return vr;
}

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
    int lt = load_ticket(a, r);
    if (lt != CLI_CONTINUE) return lt;
    const char *sim = a->sim ? cli_input_path(a->sim, &r->err) : NULL;
    if (a->sim && (!sim || mk_snp_sim_load(sim, &r->sim, &r->err) < 0))
        return cli_snp_fail("snp verify: --trust-sim-root", &r->err, cli_exit_code(r->err.code));
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
    if (r->sim) mk_snp_sim_root_der(r->sim, &cfg.simulator_root_der, &cfg.simulator_root_len);
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
        if (!a.vcek && !a.fetch && !r.leaf.len)
            fprintf(stderr, "mosaik: snp verify: no --vcek; pass --fetch to ask AMD's KDS\n");
        int vr = verify_run_one(&a, &r, &res);
        json_t *o = json_object();
        if (r.is_ticket) vr = ticket_describe(o, &r, vr);
        json_object_set_new(o, "verified", json_boolean(vr == 0));
        json_object_set_new(o, "simulated", json_boolean(res.simulated));
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
    mk_snp_ticket_free(&r.ticket);
    mk_snp_sim_free(r.sim);
    return rc;
}
