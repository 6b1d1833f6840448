/*
 * tools/mosaik/cmd_tdx.c — `mosaik tdx ...`: verify and inspect quotes and
 * tickets, make tickets (local TD or simulator), fetch collateral, create
 * simulator state; dispatches `measure` and `build` to their own files.
 *
 * verify: the input is a quote (binary, or hex text with optional 0x and
 * whitespace) or a TDX ticket (recognised by its zstd magic). A quote is
 * verified with mk_tdx_verify. Without --collateral (or a ticket's embedded
 * collateral) the CLI verifies the chain only, as documented in --help: it
 * says so on stderr, reports "chain_only": true and tcb_status null, and
 * checks no revocation. (The library itself never downgrades: chain-only is
 * a policy opt-in, which the CLI sets visibly.) A ticket is judged by a TDX validator (its
 * embedded collateral unless --collateral is given; peer and network
 * checked only when --peer / --network say which), which adds the
 * report-data binding and expiry. Exit 0 when
 * verified and accepted, 1 when refused (reason on stderr and in the JSON),
 * 2 on usage errors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli.h"
#include "mosaik/tdx_provider.h"
#include "mosaik/tdx_ticket.h"

#define INPUT_MAX (1u << 20)

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static int fail(const char *what, const mk_error *err) {
    fprintf(stderr, "mosaik: %s: %s\n", what, err->msg[0] ? err->msg : mk_strerror(err->code));
    return CLI_FAIL;
}

static bool is_zstd(const uint8_t *d, size_t n) {
    return n >= 4 && d[0] == 0x28 && d[1] == 0xb5 && d[2] == 0x2f && d[3] == 0xfd;
}

/* A quote file: binary, or hex text (optional 0x, whitespace tolerated). */
static int read_quote_input(const char *path, mk_buf *out, mk_error *err) {
    mk_buf raw;
    mk_buf_init(&raw, INPUT_MAX);
    int rc = mk_file_read(path, INPUT_MAX, &raw, err);
    if (rc < 0) {
        mk_buf_free(&raw);
        return rc;
    }
    /* Hex if every byte is a hex digit or whitespace (after a 0x). */
    mk_buf compact;
    mk_buf_init(&compact, INPUT_MAX);
    bool hex = raw.len > 0;
    size_t i = 0;
    while (i < raw.len && raw.data[i] && strchr(" \t\r\n", raw.data[i]))
        i++;
    if (i + 1 < raw.len && raw.data[i] == '0' && (raw.data[i + 1] == 'x' || raw.data[i + 1] == 'X'))
        i += 2;
    for (; hex && i < raw.len; i++) {
        uint8_t c = raw.data[i];
        if (strchr(" \t\r\n", c) && c) continue;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            hex = false;
        else
            mk_buf_append_u8(&compact, c);
    }
    if (hex && compact.len > 0) {
        rc = mk_hex_decode((const char *)compact.data, compact.len, out, err);
        if (rc < 0) mk_error_prefix(err, rc, "%s: hex", path);
    } else {
        rc = mk_buf_append(out, raw.data, raw.len);
    }
    mk_buf_free(&compact);
    mk_buf_free(&raw);
    return rc;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int read_opt_file(const char *dir, const char *name, size_t max, mk_buf *b, bool *found,
                         mk_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    *found = stat(path, &st) == 0;
    if (!*found) return 0;
    int rc = mk_file_read(path, max, b, err);
    if (rc == 0) rc = mk_buf_append_u8(b, 0) < 0 ? MK_ENOMEM : 0;
    if (rc == 0) b->len--; /* keep the NUL outside len */
    return rc;
}

/* Collateral: a bundle JSON file, or a directory of PCS responses (see
 * docs/tdx-tickets.md: tcb_info.json, tcb_info_issuer_chain.pem,
 * qe_identity.json, qe_identity_issuer_chain.pem, pck_crl.der,
 * pck_crl_issuer_chain.pem, root_ca_crl.der). */
static int load_collateral(const char *path, mk_tdx_collateral **out, mk_error *err) {
    if (!is_dir(path)) {
        mk_buf b;
        mk_buf_init(&b, MK_TDX_COLLATERAL_MAX * 4);
        int rc = mk_file_read(path, MK_TDX_COLLATERAL_MAX * 4, &b, err);
        if (rc == 0) rc = mk_tdx_collateral_from_bundle((const char *)b.data, b.len, out, err);
        mk_buf_free(&b);
        if (rc < 0) mk_error_prefix(err, rc, "%s", path);
        return rc;
    }
    static const char *names[7] = {"tcb_info.json",    "tcb_info_issuer_chain.pem",
                                   "qe_identity.json", "qe_identity_issuer_chain.pem",
                                   "pck_crl.der",      "pck_crl_issuer_chain.pem",
                                   "root_ca_crl.der"};
    mk_buf f[7];
    bool found[7];
    int rc = 0;
    for (int i = 0; i < 7; i++)
        mk_buf_init(&f[i], MK_TDX_COLLATERAL_MAX);
    for (int i = 0; i < 7 && rc == 0; i++)
        rc = read_opt_file(path, names[i], MK_TDX_COLLATERAL_MAX, &f[i], &found[i], err);
    if (rc == 0) {
        mk_tdx_pcs_responses r;
        memset(&r, 0, sizeof r);
#define S(i) (found[i] ? (const char *)f[i].data : NULL)
        r.tcb_info_body = S(0);
        r.tcb_info_len = f[0].len;
        r.tcb_info_issuer_chain = S(1);
        r.qe_identity_body = S(2);
        r.qe_identity_len = f[2].len;
        r.qe_identity_issuer_chain = S(3);
        r.pck_crl = found[4] ? f[4].data : NULL;
        r.pck_crl_len = f[4].len;
        r.pck_crl_issuer_chain = S(5);
        r.root_ca_crl = found[6] ? f[6].data : NULL;
        r.root_ca_crl_len = f[6].len;
#undef S
        rc = mk_tdx_collateral_from_pcs(&r, out, err);
    }
    for (int i = 0; i < 7; i++)
        mk_buf_free(&f[i]);
    if (rc < 0) mk_error_prefix(err, rc, "%s", path);
    return rc;
}

/* --trust-sim-root: a simulator state file, or a root certificate (PEM or
 * DER). Appends the root's DER to out. */
static int load_sim_root(const char *path, mk_buf *out, mk_error *err) {
    mk_tdx_sim *sim = NULL;
    mk_error e2;
    mk_error_clear(&e2);
    if (mk_tdx_sim_load(path, &sim, &e2) == 0) {
        const uint8_t *der;
        size_t len;
        mk_tdx_sim_root_der(sim, &der, &len);
        int rc = mk_buf_append(out, der, len);
        mk_tdx_sim_free(sim);
        return rc;
    }
    mk_buf b;
    mk_buf_init(&b, MK_TDX_CERT_DATA_MAX);
    int rc = mk_file_read(path, MK_TDX_CERT_DATA_MAX, &b, err);
    if (rc < 0) {
        mk_buf_free(&b);
        return rc;
    }
    X509 *x = NULL;
    if (b.len > 10 && memmem(b.data, b.len, "-----BEGIN", 10)) {
        BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
        if (bio) x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = b.data;
        x = d2i_X509(NULL, &p, (long)b.len);
    }
    mk_buf_free(&b);
    if (!x)
        return mk_error_set(err, MK_EMALFORMED,
                            "%s: neither a simulator state file (%s) nor a certificate", path,
                            e2.msg);
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    X509_free(x);
    if (n <= 0) return mk_error_set(err, MK_ECRYPTO, "%s: cannot encode the certificate", path);
    rc = mk_buf_append(out, der, (size_t)n);
    OPENSSL_free(der);
    return rc;
}

static int parse_accept(const char *s, uint32_t *mask) {
    if (!strcmp(s, "any")) {
        *mask = 0;
        for (int i = 0; i < MK_TCB_STATUS_COUNT; i++)
            if (i != MK_TCB_REVOKED) *mask |= MK_TCB_BIT(i);
        return 0;
    }
    *mask = 0;
    char *copy = strdup(s);
    if (!copy) return -1;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        mk_tcb_status st;
        if (mk_tcb_status_parse(tok, &st) < 0) {
            rc = cli_usage_error("tdx verify: unknown TCB status '%s' (use Intel's names, e.g. "
                                 "UpToDate,SWHardeningNeeded, or 'any')",
                                 tok);
            break;
        }
        *mask |= MK_TCB_BIT(st);
    }
    free(copy);
    if (rc == 0 && *mask == 0) rc = cli_usage_error("tdx verify: --accept lists no status");
    return rc;
}

static int parse_int64(const char *opt, const char *s, int64_t *out) {
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end) return cli_usage_error("%s wants an integer, not '%s'", opt, s);
    *out = (int64_t)v;
    return 0;
}

/* ------------------------------------------------------------------ */
/* JSON / text description of a quote                                  */
/* ------------------------------------------------------------------ */

static json_t *jhex(const uint8_t *d, size_t n) {
    char *s = malloc(2 * n + 1);
    if (!s) return json_null();
    mk_hex_encode(d, n, s);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static json_t *jhex_u64(uint64_t v) {
    char s[19];
    snprintf(s, sizeof s, "%016llx", (unsigned long long)v);
    return json_string(s);
}

static void describe_quote(json_t *o, const mk_tdx_quote *q) {
    const mk_tdx_td_report *r = &q->body;
    json_object_set_new(o, "quote_version", json_integer(q->version));
    json_object_set_new(o, "body",
                        json_string(q->body_type == MK_TDX_BODY_TD15 ? "TD1.5" : "TD1.0"));
    json_object_set_new(o, "tee_tcb_svn", jhex(r->tee_tcb_svn, 16));
    json_object_set_new(o, "td_attributes", jhex_u64(r->td_attributes));
    json_object_set_new(o, "debug", json_boolean(r->td_attributes & MK_TDX_ATTR_DEBUG));
    json_object_set_new(o, "xfam", jhex_u64(r->xfam));
    json_object_set_new(o, "mrtd", jhex(r->mr_td, 48));
    for (int i = 0; i < 4; i++) {
        char k[8];
        snprintf(k, sizeof k, "rtmr%d", i);
        json_object_set_new(o, k, jhex(r->rtmr[i], 48));
    }
    json_object_set_new(o, "mr_config_id", jhex(r->mr_config_id, 48));
    json_object_set_new(o, "mr_owner", jhex(r->mr_owner, 48));
    json_object_set_new(o, "mr_owner_config", jhex(r->mr_owner_config, 48));
    json_object_set_new(o, "mr_seam", jhex(r->mr_seam, 48));
    json_object_set_new(o, "mr_service_td",
                        q->body_type == MK_TDX_BODY_TD15 ? jhex(r->mr_service_td, 48)
                                                         : json_null());
    json_object_set_new(o, "report_data", jhex(r->report_data, 64));
    json_object_set_new(o, "trailing_bytes", json_integer((json_int_t)q->trailing_bytes));
}

static const char *const QUOTE_KEYS[] = {
    "quote_version", "body",         "tee_tcb_svn",   "td_attributes",   "debug",
    "xfam",          "mrtd",         "rtmr0",         "rtmr1",           "rtmr2",
    "rtmr3",         "mr_config_id", "mr_owner",      "mr_owner_config", "mr_seam",
    "mr_service_td", "report_data",  "trailing_bytes"};

static void null_quote_fields(json_t *o) {
    for (size_t i = 0; i < sizeof QUOTE_KEYS / sizeof *QUOTE_KEYS; i++)
        if (!json_object_get(o, QUOTE_KEYS[i])) json_object_set_new(o, QUOTE_KEYS[i], json_null());
}

static void describe_result(json_t *o, const mk_tdx_result *res, bool have) {
    if (have && res->collateral_checked && res->tcb_status != MK_TCB_UNKNOWN) {
        json_object_set_new(o, "tcb_status", json_string(mk_tcb_status_name(res->tcb_status)));
        json_t *a = json_array();
        for (size_t i = 0; i < res->n_advisories && i < MK_TDX_MAX_ADVISORIES; i++)
            json_array_append_new(a, json_string(res->advisory_ids[i]));
        json_object_set_new(o, "advisory_ids", a);
    } else {
        json_object_set_new(o, "tcb_status", json_null());
        json_object_set_new(o, "advisory_ids", json_array());
    }
    bool has_fmspc = false;
    for (int i = 0; have && i < 6; i++)
        has_fmspc |= res->fmspc[i] != 0;
    json_object_set_new(o, "fmspc", has_fmspc ? jhex(res->fmspc, 6) : json_null());
    json_object_set_new(o, "simulated", json_boolean(have && res->simulated));
    if (have && res->valid_until > 0 && res->valid_until != INT64_MAX) {
        char t[MK_RFC3339_LEN];
        mk_time_format_rfc3339(res->valid_until, t);
        json_object_set_new(o, "valid_until", json_string(t));
    } else {
        json_object_set_new(o, "valid_until", json_null());
    }
}

static void describe_extra(json_t *o, const mk_tdx_extra_data *x) {
    json_t *t = json_object();
    json_object_set_new(t, "peer_id", jhex(x->peer_id.b, 32));
    json_object_set_new(t, "network_id", jhex(x->network_id.b, 32));
    json_object_set_new(t, "started_at", json_integer(x->started_at));
    json_object_set_new(t, "quoted_at", json_integer(x->quoted_at));
    json_object_set_new(t, "expiration",
                        x->expiration == MK_EXPIRES_NEVER ? json_null()
                                                          : json_integer(x->expiration));
    json_object_set_new(o, "ticket", t);
}

/* Print a JSON object as "key: value" lines. */
static void print_text(json_t *o) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (json_is_object(v)) {
            printf("%s:\n", k);
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2) {
                char *s = json_dumps(v2, JSON_ENCODE_ANY);
                printf("  %s: %s\n", k2, s ? s : "?");
                free(s);
            }
            continue;
        }
        if (json_is_string(v)) {
            printf("%s: %s\n", k, json_string_value(v));
            continue;
        }
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("%s: %s\n", k, s ? s : "?");
        free(s);
    }
}

static void emit(json_t *o, bool json) {
    if (json) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s) puts(s);
        free(s);
    } else {
        print_text(o);
    }
}

/* ------------------------------------------------------------------ */
/* verify                                                              */
/* ------------------------------------------------------------------ */

static void verify_usage(FILE *f) {
    fprintf(f,
            "usage: mosaik tdx verify QUOTE|TICKET [--collateral FILE|DIR] [--at UNIX_SECONDS]\n"
            "                         [--accept STATUS,...|any] [--allow-debug]\n"
            "                         [--trust-sim-root FILE] [--peer ID] [--network ID]\n"
            "                         [--chain-only] [--json]\n"
            "\n"
            "Verify a TDX quote (binary, or hex text with optional 0x; whitespace ignored)\n"
            "or a mosaik TDX ticket all the way to Intel's root CA.\n"
            "\n"
            "  --collateral FILE    collateral bundle JSON (dcap-qvl / PCCS layout), or a\n"
            "                       directory of PCS responses (docs/tdx-tickets.md). Without\n"
            "                       it a ticket's embedded collateral is used if it has one;\n"
            "                       with no collateral at all only the chain is verified\n"
            "                       (structure, signatures, PCK chain to Intel's root): no\n"
            "                       TCB status, no revocation check; stderr says so.\n"
            "  --chain-only         accepted for scripts that say it explicitly (the same)\n"
            "  --at T               verification time (UNIX seconds; default now)\n"
            "  --accept LIST        accepted TCB statuses (default UpToDate,SWHardeningNeeded;\n"
            "                       'any' = every status except Revoked)\n"
            "  --allow-debug        accept debug TDs\n"
            "  --trust-sim-root F   trust the mosaik simulator root: a simulator state file\n"
            "                       (mosaik tdx sim-init) or its root certificate (PEM/DER)\n"
            "  --peer ID, --network ID  (tickets) require these peer / network ids\n"
            "                       (64 hex digits, or a name hashed like 'mosaik id')\n"
            "  --json               print one JSON object\n"
            "\n"
            "Exit status: 0 verified and accepted, 1 refused, 2 usage error.\n");
}

static int cmd_verify(int argc, char **argv) {
    static const struct option opts[] = {{"collateral", required_argument, NULL, 'c'},
                                         {"at", required_argument, NULL, 't'},
                                         {"accept", required_argument, NULL, 'a'},
                                         {"allow-debug", no_argument, NULL, 'd'},
                                         {"trust-sim-root", required_argument, NULL, 's'},
                                         {"peer", required_argument, NULL, 'p'},
                                         {"network", required_argument, NULL, 'n'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"chain-only", no_argument, NULL, 'C'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *coll_path = NULL, *sim_path = NULL, *peer_s = NULL, *net_s = NULL;
    int64_t at = mk_now();
    bool json = false, allow_debug = false, have_accept = false, chain_only = false;
    uint32_t accept = 0;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            coll_path = optarg;
            break;
        case 't':
            if (parse_int64("--at", optarg, &at)) return CLI_USAGE;
            break;
        case 'a':
            if (parse_accept(optarg, &accept)) return CLI_USAGE;
            have_accept = true;
            break;
        case 'd':
            allow_debug = true;
            break;
        case 's':
            sim_path = optarg;
            break;
        case 'p':
            peer_s = optarg;
            break;
        case 'n':
            net_s = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'C':
            chain_only = true;
            break;
        case 'h':
            verify_usage(stdout);
            return CLI_OK;
        default:
            verify_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        verify_usage(stderr);
        return cli_usage_error("tdx verify: expected one QUOTE file");
    }
    const char *path = argv[optind];

    mk_error err;
    mk_error_clear(&err);
    mk_buf input = MK_BUF_INIT, root = MK_BUF_INIT;
    mk_tdx_collateral *coll = NULL;
    mk_tdx_verifier *ver = NULL;
    mk_tdx_validator_opts *vo = NULL;
    mk_validator *val = NULL;
    mk_tdx_ticket ticket;
    memset(&ticket, 0, sizeof ticket);
    json_t *o = json_object();
    int rc = 0, exit_code = CLI_FAIL;

    /* Setting-up failures (unreadable files) are refusals with a reason. */
    if (read_quote_input(path, &input, &err) < 0) {
        fail("tdx verify", &err);
        goto out_early;
    }
    if (coll_path && load_collateral(coll_path, &coll, &err) < 0) {
        fail("tdx verify: collateral", &err);
        goto out_early;
    }
    if (sim_path && load_sim_root(sim_path, &root, &err) < 0) {
        fail("tdx verify: --trust-sim-root", &err);
        goto out_early;
    }

    mk_tdx_policy pol;
    mk_tdx_policy_default(&pol);
    if (have_accept) pol.accepted_statuses = accept;
    pol.allow_debug = allow_debug;
    /* Without collateral: chain only, said on stderr and in the JSON. */
    (void)chain_only;
    pol.chain_only = coll == NULL;

    bool is_ticket = is_zstd(input.data, input.len);
    const uint8_t *qdata = input.data;
    size_t qlen = input.len;
    mk_tdx_result res;
    memset(&res, 0, sizeof res);
    bool have_res = false;

    if (is_ticket) {
        json_object_set_new(o, "kind", json_string("ticket"));
        if (mk_tdx_ticket_decode(input.data, input.len, &ticket, &err) < 0) {
            rc = err.code;
            goto report;
        }
        describe_extra(o, &ticket.extra);
        qdata = ticket.quote;
        qlen = ticket.quote_len;
        vo = mk_tdx_validator_opts_new();
        if (!vo) {
            rc = mk_error_set(&err, MK_ENOMEM, "out of memory");
            goto report;
        }
        pol.chain_only = coll == NULL && ticket.collateral == NULL;
        mk_tdx_validator_opts_policy(vo, &pol);
        if (root.len && (rc = mk_tdx_validator_opts_trust_simulator(vo, root.data, root.len,
                                                                    &err)) < 0)
            goto report;
        if (coll) {
            mk_tdx_validator_opts_collateral_from_ticket(vo, false);
            if ((rc = mk_tdx_validator_opts_static_collateral(vo, coll, &err)) < 0) goto report;
        }
        val = mk_tdx_validator_new(vo, &err);
        if (!val) {
            rc = err.code ? err.code : MK_ENOMEM;
            goto report;
        }
        mk_peer_view pv;
        memset(&pv, 0, sizeof pv);
        pv.peer_id = ticket.extra.peer_id;
        pv.network_id = ticket.extra.network_id;
        if (peer_s) mk_id_parse(&pv.peer_id, peer_s);
        if (net_s) mk_id_parse(&pv.network_id, net_s);
        mk_expiration exp = 0;
        rc = mk_tdx_validator_validate_ex(val, input.data, input.len, &pv, at, &exp, &res, &err);
        have_res = true;
        if (rc == 0) {
            char t[MK_RFC3339_LEN];
            if (exp == MK_EXPIRES_NEVER)
                json_object_set_new(o, "admitted_until", json_null());
            else
                mk_time_format_rfc3339(exp, t),
                    json_object_set_new(o, "admitted_until", json_string(t));
        }
    } else {
        json_object_set_new(o, "kind", json_string("quote"));
        ver = mk_tdx_verifier_new();
        if (!ver) {
            rc = mk_error_set(&err, MK_ENOMEM, "out of memory");
            goto report;
        }
        mk_tdx_verifier_set_policy(ver, &pol);
        if (root.len && mk_tdx_verifier_trust_simulator(ver, root.data, root.len, &err) < 0) {
            rc = err.code;
            goto report;
        }
        rc = mk_tdx_verify(ver, qdata, qlen, coll, at, &res, &err);
        have_res = true;
    }

report:;
    mk_tdx_quote q;
    if (qdata && mk_tdx_quote_parse(qdata, qlen, &q, NULL) == 0)
        describe_quote(o, &q);
    else
        null_quote_fields(o);
    describe_result(o, &res, have_res);
    json_object_set_new(o, "verified", json_boolean(rc == 0));
    json_object_set_new(o, "reason", rc == 0 ? json_null() : json_string(err.msg));
    json_object_set_new(o, "chain_only", json_boolean(pol.chain_only));
    if (pol.chain_only)
        fprintf(stderr, "mosaik: tdx verify: no collateral: chain only (structure, signatures, "
                        "PCK chain); no TCB status, no revocation check\n");
    /* Put the verdict first for readers. */
    json_t *ordered = json_object();
    json_object_set(ordered, "verified", json_object_get(o, "verified"));
    json_object_set(ordered, "reason", json_object_get(o, "reason"));
    json_object_update(ordered, o);
    if (json || rc == 0) emit(ordered, json);
    json_decref(ordered);
    if (rc < 0) fprintf(stderr, "mosaik: tdx verify: refused: %s\n", err.msg);
    exit_code = rc == 0 ? CLI_OK : CLI_FAIL;
out_early:
    json_decref(o);
    mk_validator_free(val);
    mk_tdx_validator_opts_free(vo);
    mk_tdx_ticket_free(&ticket);
    mk_tdx_verifier_free(ver);
    mk_tdx_collateral_free(coll);
    mk_buf_free(&root);
    mk_buf_free(&input);
    return exit_code;
}

/* ------------------------------------------------------------------ */
/* inspect                                                             */
/* ------------------------------------------------------------------ */

static void inspect_usage(FILE *f) {
    fprintf(f, "usage: mosaik tdx inspect FILE [--json]\n"
               "\n"
               "Print the fields of a TDX quote (binary or hex) or of a mosaik TDX ticket\n"
               "(its extra data, whether it carries collateral, whether its report data binds\n"
               "the extra data, and its quote's fields). Nothing is verified.\n"
               "\n"
               "Exit status: 0 parsed, 1 not a quote or ticket, 2 usage error.\n");
}

static int cmd_inspect(int argc, char **argv) {
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'h')
            return inspect_usage(stdout), CLI_OK;
        else
            return inspect_usage(stderr), CLI_USAGE;
    }
    if (optind != argc - 1) {
        inspect_usage(stderr);
        return cli_usage_error("tdx inspect: expected one FILE");
    }
    mk_error err;
    mk_error_clear(&err);
    mk_buf in = MK_BUF_INIT;
    if (read_quote_input(argv[optind], &in, &err) < 0) {
        mk_buf_free(&in);
        return fail("tdx inspect", &err);
    }
    json_t *o = json_object();
    mk_tdx_ticket t;
    memset(&t, 0, sizeof t);
    const uint8_t *qd = in.data;
    size_t ql = in.len;
    int rc = 0;
    if (is_zstd(in.data, in.len)) {
        rc = mk_tdx_ticket_decode(in.data, in.len, &t, &err);
        if (rc == 0) {
            json_object_set_new(o, "kind", json_string("ticket"));
            char cls[MK_ID_HEX_LEN];
            mk_id id;
            mk_tdx_ticket_class(&id);
            mk_id_to_hex(&id, cls);
            json_object_set_new(o, "class", json_string(cls));
            describe_extra(o, &t.extra);
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
        describe_quote(o, &q);
        json_object_set_new(o, "quote_len", json_integer((json_int_t)q.quote_len));
        json_object_set_new(o, "qe_isv_svn", json_integer(q.qe_report.isv_svn));
        json_object_set_new(o, "qe_mr_signer", jhex(q.qe_report.mr_signer, 32));
        emit(o, json);
    } else {
        fprintf(stderr, "mosaik: tdx inspect: %s\n", err.msg);
    }
    json_decref(o);
    mk_tdx_ticket_free(&t);
    mk_buf_free(&in);
    return rc == 0 ? CLI_OK : CLI_FAIL;
}

/* ------------------------------------------------------------------ */
/* ticket                                                              */
/* ------------------------------------------------------------------ */

static void ticket_usage(FILE *f) {
    fprintf(f,
            "usage: mosaik tdx ticket (--sim STATEFILE [--sim-init] | --local)\n"
            "                         [--mrtd HEX] [--rtmr N=HEX]... [--quote-version 4|5]\n"
            "                         [--td15] [--peer ID] [--network ID] [--started-at T]\n"
            "                         [--expires-in S] [--with-collateral] [--collateral FILE]\n"
            "                         -o FILE\n"
            "\n"
            "Make a mosaik TDX ticket: a quote whose report data binds the peer id, the\n"
            "network id and the ticket's times.\n"
            "\n"
            "  --sim STATEFILE      use the TDX simulator whose state is in STATEFILE\n"
            "                       (NOT real TDX: verifiers refuse it unless told to trust\n"
            "                       its root); --sim-init creates STATEFILE if missing\n"
            "  --local              use this machine's TD (configfs-tsm or /dev/tdx_guest)\n"
            "  --mrtd HEX, --rtmr N=HEX   (simulator) the simulated TD's measurements\n"
            "  --quote-version 4|5, --td15  (simulator) quote format\n"
            "  --peer ID            peer id (64 hex digits or a name; default: random)\n"
            "  --network ID         network id (hex or name; default: name 'mosaik')\n"
            "  --started-at T       node start time (UNIX seconds; default now)\n"
            "  --expires-in S       lifetime in seconds (default %d)\n"
            "  --with-collateral    (simulator) embed the simulator's collateral\n"
            "  --collateral FILE    embed this collateral bundle\n"
            "  -o, --output FILE    where to write the ticket\n"
            "\n"
            "Exit status: 0 written, 1 failed, 2 usage error.\n",
            MK_TDX_TICKET_DEFAULT_LIFETIME);
}

static int cmd_ticket(int argc, char **argv) {
    static const struct option opts[] = {{"sim", required_argument, NULL, 's'},
                                         {"sim-init", no_argument, NULL, 'I'},
                                         {"local", no_argument, NULL, 'L'},
                                         {"mrtd", required_argument, NULL, 'm'},
                                         {"rtmr", required_argument, NULL, 'r'},
                                         {"quote-version", required_argument, NULL, 'V'},
                                         {"td15", no_argument, NULL, '5'},
                                         {"peer", required_argument, NULL, 'p'},
                                         {"network", required_argument, NULL, 'n'},
                                         {"started-at", required_argument, NULL, 'S'},
                                         {"expires-in", required_argument, NULL, 'e'},
                                         {"with-collateral", no_argument, NULL, 'C'},
                                         {"collateral", required_argument, NULL, 'c'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *sim_path = NULL, *out_path = NULL, *coll_path = NULL;
    bool sim_init = false, local = false, with_coll = false;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_id peer, net;
    bool have_peer = false;
    mk_id_from_name(&net, "mosaik");
    int64_t now = mk_now(), started = now, expires_in = MK_TDX_TICKET_DEFAULT_LIFETIME;
    mk_error err;
    mk_error_clear(&err);
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sim_path = optarg;
            break;
        case 'I':
            sim_init = true;
            break;
        case 'L':
            local = true;
            break;
        case 'm':
            if (mk_hex_decode_exact(optarg, td.mr_td, 48, &err) < 0)
                return cli_usage_error("tdx ticket: --mrtd: %s (want 96 hex digits)", err.msg);
            break;
        case 'r': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq - optarg != 1 || optarg[0] < '0' || optarg[0] > '3')
                return cli_usage_error("tdx ticket: --rtmr wants N=HEX with N in 0..3");
            if (mk_hex_decode_exact(eq + 1, td.rtmr[optarg[0] - '0'], 48, &err) < 0)
                return cli_usage_error("tdx ticket: --rtmr: %s (want 96 hex digits)", err.msg);
            break;
        }
        case 'V':
            if (strcmp(optarg, "4") && strcmp(optarg, "5"))
                return cli_usage_error("tdx ticket: --quote-version is 4 or 5");
            td.quote_version = (uint16_t)atoi(optarg);
            break;
        case '5':
            td.body_type = MK_TDX_BODY_TD15;
            break;
        case 'p':
            mk_id_parse(&peer, optarg);
            have_peer = true;
            break;
        case 'n':
            mk_id_parse(&net, optarg);
            break;
        case 'S':
            if (parse_int64("--started-at", optarg, &started)) return CLI_USAGE;
            break;
        case 'e':
            if (parse_int64("--expires-in", optarg, &expires_in)) return CLI_USAGE;
            if (expires_in <= 0) return cli_usage_error("tdx ticket: --expires-in must be > 0");
            break;
        case 'C':
            with_coll = true;
            break;
        case 'c':
            coll_path = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'h':
            ticket_usage(stdout);
            return CLI_OK;
        default:
            ticket_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc)
        return cli_usage_error("tdx ticket: unexpected argument '%s'", argv[optind]);
    if (!out_path) return cli_usage_error("tdx ticket: -o FILE is required");
    if (!!sim_path == local)
        return cli_usage_error("tdx ticket: give exactly one of --sim, --local");
    if (td.body_type == MK_TDX_BODY_TD15 && td.quote_version != 5)
        return cli_usage_error("tdx ticket: --td15 needs --quote-version 5");
    if (with_coll && !sim_path)
        return cli_usage_error("tdx ticket: --with-collateral is for the simulator; use "
                               "--collateral FILE");
    if (!have_peer && mk_id_random(&peer) < 0) return cli_usage_error("no randomness");

    mk_tdx_sim *sim = NULL;
    mk_tdx_provider *prov = NULL;
    mk_tdx_collateral *coll = NULL;
    mk_tdx_attester *att = NULL;
    mk_ticket t = {0};
    int rc;
    if (sim_path) {
        struct stat st;
        if (!sim_init && stat(sim_path, &st) != 0) {
            fprintf(stderr,
                    "mosaik: tdx ticket: %s does not exist (add --sim-init, or run "
                    "'mosaik tdx sim-init %s')\n",
                    sim_path, sim_path);
            return CLI_FAIL;
        }
        rc = sim_init ? mk_tdx_sim_load_or_create(sim_path, now, &sim, &err)
                      : mk_tdx_sim_load(sim_path, &sim, &err);
        if (rc < 0) return fail("tdx ticket: simulator", &err);
        prov = mk_tdx_provider_sim_new(sim, &td);
        if (with_coll && mk_tdx_sim_collateral(sim, now, &coll, &err) < 0) {
            rc = fail("tdx ticket: simulator collateral", &err);
            goto out;
        }
        fprintf(stderr, "mosaik: tdx ticket: SIMULATED quote (not real TDX)\n");
    } else {
        prov = mk_tdx_provider_auto_new(&err);
        if (!prov) return fail("tdx ticket", &err);
    }
    if (!prov) {
        rc = fail("tdx ticket", &err);
        goto out;
    }
    if (coll_path && load_collateral(coll_path, &coll, &err) < 0) {
        rc = fail("tdx ticket: collateral", &err);
        goto out;
    }
    if (mk_tdx_attester_new(prov, coll, &att, &err) < 0) {
        rc = fail("tdx ticket", &err);
        goto out;
    }
    if (mk_tdx_attester_ticket_with_expiration(att, &peer, &net, started, mk_now() + expires_in, &t,
                                               &err) < 0) {
        rc = fail("tdx ticket", &err);
        goto out;
    }
    if (mk_file_write(out_path, t.data, t.len, 0644, &err) < 0) {
        rc = fail("tdx ticket", &err);
        goto out;
    }
    char ph[MK_ID_HEX_LEN], nh[MK_ID_HEX_LEN];
    mk_id_to_hex(&peer, ph);
    mk_id_to_hex(&net, nh);
    printf("ticket: %s (%zu bytes)\npeer_id: %s\nnetwork_id: %s\n", out_path, t.len, ph, nh);
    rc = CLI_OK;
out:
    mk_ticket_free(&t);
    mk_tdx_attester_free(att);
    mk_tdx_collateral_free(coll);
    mk_tdx_provider_free(prov);
    mk_tdx_sim_free(sim);
    return rc;
}

/* ------------------------------------------------------------------ */
/* collateral fetch                                                    */
/* ------------------------------------------------------------------ */

static void collateral_usage(FILE *f) {
    fprintf(f, "usage: mosaik tdx collateral fetch --fmspc HEX [--ca platform|processor]\n"
               "                                   [--pcs URL] [--cache DIR] [--allow-http]\n"
               "                                   [--at T] -o FILE\n"
               "\n"
               "Download TDX collateral (TCB info, QE identity, CRLs) for a platform from\n"
               "Intel PCS or a PCCS, verify it, and write it as a bundle JSON usable with\n"
               "'mosaik tdx verify --collateral' and for embedding in tickets.\n"
               "\n"
               "  --fmspc HEX          the platform's FMSPC (12 hex digits, from 'tdx verify')\n"
               "  --ca KIND            PCK CA: platform (default) or processor\n"
               "  --pcs URL            base URL (default https://api.trustedservices.intel.com)\n"
               "  --cache DIR          on-disk cache\n"
               "  --allow-http         allow http:// (a local PCCS in tests)\n"
               "  -o, --output FILE    where to write the bundle\n"
               "\n"
               "Exit status: 0 written, 1 failed, 2 usage error.\n");
}

static int cmd_collateral(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "fetch")) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
            return collateral_usage(stdout), CLI_OK;
        collateral_usage(stderr);
        return cli_usage_error("tdx collateral: expected 'fetch'");
    }
    argc--, argv++;
    static const struct option opts[] = {{"fmspc", required_argument, NULL, 'f'},
                                         {"ca", required_argument, NULL, 'c'},
                                         {"pcs", required_argument, NULL, 'p'},
                                         {"cache", required_argument, NULL, 'C'},
                                         {"allow-http", no_argument, NULL, 'H'},
                                         {"at", required_argument, NULL, 't'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *fmspc_s = NULL, *out_path = NULL;
    mk_tdx_fetch_opts fo;
    memset(&fo, 0, sizeof fo);
    fo.base_url = "https://api.trustedservices.intel.com";
    mk_tdx_pck_ca ca = MK_TDX_CA_PLATFORM;
    int64_t now = mk_now();
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmspc_s = optarg;
            break;
        case 'c':
            if (!strcmp(optarg, "platform"))
                ca = MK_TDX_CA_PLATFORM;
            else if (!strcmp(optarg, "processor"))
                ca = MK_TDX_CA_PROCESSOR;
            else
                return cli_usage_error("tdx collateral fetch: --ca platform|processor");
            break;
        case 'p':
            fo.base_url = optarg;
            break;
        case 'C':
            fo.cache_dir = optarg;
            break;
        case 'H':
            fo.insecure_http_ok = true;
            break;
        case 't':
            if (parse_int64("--at", optarg, &now)) return CLI_USAGE;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'h':
            collateral_usage(stdout);
            return CLI_OK;
        default:
            collateral_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc)
        return cli_usage_error("tdx collateral fetch: unexpected argument '%s'", argv[optind]);
    if (!fmspc_s) return cli_usage_error("tdx collateral fetch: --fmspc is required");
    if (!out_path) return cli_usage_error("tdx collateral fetch: -o FILE is required");
    uint8_t fmspc[6];
    mk_error err;
    mk_error_clear(&err);
    if (mk_hex_decode_exact(fmspc_s, fmspc, 6, &err) < 0)
        return cli_usage_error("tdx collateral fetch: --fmspc: %s (want 12 hex digits)", err.msg);
    mk_tdx_collateral *coll = NULL;
    if (mk_tdx_collateral_fetch(&fo, fmspc, ca, now, &coll, &err) < 0)
        return fail("tdx collateral fetch", &err);
    mk_buf b = MK_BUF_INIT;
    int rc = mk_tdx_collateral_to_bundle(coll, &b);
    if (rc < 0)
        mk_error_set(&err, rc, "cannot serialise the collateral");
    else
        rc = mk_file_write(out_path, b.data, b.len, 0644, &err);
    mk_buf_free(&b);
    mk_tdx_collateral_free(coll);
    if (rc < 0) return fail("tdx collateral fetch", &err);
    printf("collateral: %s\n", out_path);
    return CLI_OK;
}

/* ------------------------------------------------------------------ */
/* sim-init                                                            */
/* ------------------------------------------------------------------ */

static void sim_init_usage(FILE *f) {
    fprintf(f, "usage: mosaik tdx sim-init FILE [--root-out FILE]\n"
               "\n"
               "Create the state of a TDX simulator (a test PKI whose root is NOT Intel's) in\n"
               "FILE, unless it exists already; print the root certificate's SHA-256.\n"
               "Give FILE to 'mosaik tdx ticket --sim' and to 'mosaik tdx verify\n"
               "--trust-sim-root'. --root-out writes the root certificate (DER).\n"
               "\n"
               "Exit status: 0 ready, 1 failed, 2 usage error.\n");
}

static int cmd_sim_init(int argc, char **argv) {
    static const struct option opts[] = {{"root-out", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *root_out = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'r')
            root_out = optarg;
        else if (c == 'h')
            return sim_init_usage(stdout), CLI_OK;
        else
            return sim_init_usage(stderr), CLI_USAGE;
    }
    if (optind != argc - 1) {
        sim_init_usage(stderr);
        return cli_usage_error("tdx sim-init: expected one FILE");
    }
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim *sim;
    if (mk_tdx_sim_load_or_create(argv[optind], mk_now(), &sim, &err) < 0)
        return fail("tdx sim-init", &err);
    const uint8_t *der;
    size_t len;
    mk_tdx_sim_root_der(sim, &der, &len);
    uint8_t h[32];
    mk_sha256(der, len, h);
    char hex[65];
    mk_hex_encode(h, 32, hex);
    int rc = CLI_OK;
    if (root_out && mk_file_write(root_out, der, len, 0644, &err) < 0)
        rc = fail("tdx sim-init", &err);
    else
        printf("simulator: %s (NOT real TDX)\nroot_sha256: %s\n", argv[optind], hex);
    mk_tdx_sim_free(sim);
    return rc;
}

/* ------------------------------------------------------------------ */
/* dispatch                                                            */
/* ------------------------------------------------------------------ */

static void tdx_usage(FILE *f) {
    fprintf(f, "usage: mosaik tdx <command> [options]\n"
               "\n"
               "  verify QUOTE|TICKET  verify a quote or ticket to Intel's root CA\n"
               "  inspect FILE         print a quote's or ticket's fields\n"
               "  ticket               make a ticket (local TD or simulator)\n"
               "  collateral fetch     download collateral from Intel PCS / a PCCS\n"
               "  sim-init FILE        create simulator state (NOT real TDX)\n"
#if MOSAIK_HAVE_TDX_BUILDER
               "  measure              pre-compute MRTD / RTMRs of a TD image\n"
               "  build                build a TD image\n"
#endif
               "\n"
               "Run 'mosaik tdx <command> --help' for a command's options.\n");
}

int cli_cmd_tdx(int argc, char **argv) {
    if (argc < 2) {
        tdx_usage(stderr);
        return CLI_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        tdx_usage(stdout);
        return CLI_OK;
    }
    argc--, argv++;
    if (!strcmp(sub, "verify")) return cmd_verify(argc, argv);
    if (!strcmp(sub, "inspect")) return cmd_inspect(argc, argv);
    if (!strcmp(sub, "ticket")) return cmd_ticket(argc, argv);
    if (!strcmp(sub, "collateral")) return cmd_collateral(argc, argv);
    if (!strcmp(sub, "sim-init")) return cmd_sim_init(argc, argv);
#if MOSAIK_HAVE_TDX_BUILDER
    if (!strcmp(sub, "measure")) return cli_tdx_measure(argc, argv);
    if (!strcmp(sub, "build")) return cli_tdx_build(argc, argv);
#endif
    tdx_usage(stderr);
    return cli_usage_error("tdx: unknown command '%s'", sub);
}
