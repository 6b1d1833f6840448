/*
 * tools/mosaik/cmd_tdx_verify.c — `mosaik tdx verify QUOTE|TICKET`.
 *
 * The input is a quote (binary, or hex text with optional 0x and
 * whitespace) or a TDX ticket (recognised by its zstd magic). A quote is
 * verified with mk_tdx_verify. Without --collateral (or a ticket's embedded
 * collateral) the CLI verifies the chain only, as documented in --help: it
 * says so on stderr, reports "chain_only": true and tcb_status null, and
 * checks no revocation. (The library itself never downgrades: chain-only is
 * a policy opt-in, which the CLI sets visibly.) A ticket is judged by a TDX
 * validator (its embedded collateral unless --collateral is given; peer and
 * network checked only when --peer / --network say which), which adds the
 * report-data binding and expiry. Exit 0 when verified and accepted, 1 when
 * refused (reason on stderr and in the JSON), 2 on usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_tdx.h"

static int parse_accept(const char *s, uint32_t *mask) {
    if (!strcmp(s, "any")) {
        *mask = 0;
        for (int i = 0; i < MK_TDX_TCB_STATUS_COUNT; i++)
            if (i != MK_TDX_TCB_REVOKED) *mask |= MK_TDX_TCB_BIT(i);
        return 0;
    }
    *mask = 0;
    char *copy = strdup(s);
    if (!copy) return -1;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        mk_tdx_tcb_status st;
        if (mk_tdx_tcb_status_parse(tok, &st) < 0) {
            rc = cli_usage_error("tdx verify: unknown TCB status '%s' (use Intel's names, e.g. "
                                 "UpToDate,SWHardeningNeeded, or 'any')",
                                 tok);
            break;
        }
        *mask |= MK_TDX_TCB_BIT(st);
    }
    free(copy);
    if (rc == 0 && *mask == 0) rc = cli_usage_error("tdx verify: --accept lists no status");
    return rc;
}

static void verify_usage(FILE *f) {
    fprintf(f, "usage: mosaik tdx verify QUOTE|TICKET [--collateral FILE|DIR] [--at UNIX_SECONDS]\n"
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

/* What the command line asks for. */
typedef struct verify_args {
    const char *path, *coll_path, *sim_path, *peer_s, *net_s;
    int64_t at;
    bool json, allow_debug, have_accept;
    uint32_t accept;
} verify_args;

/* One verification: its inputs, the objects it makes, and the report. */
typedef struct verify_run {
    mk_error err;
    mk_buf input, root;
    mk_tdx_collateral *coll;
    mk_tdx_verifier *ver;
    mk_tdx_validator_opts *vo;
    mk_validator *val;
    mk_tdx_ticket ticket;
    mk_tdx_policy pol;
    mk_tdx_result res;
    bool have_res;
    const uint8_t *qdata; /* the quote: the input, or the ticket's */
    size_t qlen;
    json_t *o;
} verify_run;

/* Options into a; CLI_CONTINUE, or the exit code (help, usage error). */
static int verify_parse(int argc, char **argv, verify_args *a) {
    memset(a, 0, sizeof *a);
    a->at = mk_now();
    const cli_opt opts[] = {{"collateral", required_argument, 'c', &a->coll_path, NULL},
                            {"at", required_argument, 't', NULL, NULL},
                            {"accept", required_argument, 'a', NULL, NULL},
                            {"allow-debug", no_argument, 'd', NULL, &a->allow_debug},
                            {"trust-sim-root", required_argument, 's', &a->sim_path, NULL},
                            {"peer", required_argument, 'p', &a->peer_s, NULL},
                            {"network", required_argument, 'n', &a->net_s, NULL},
                            {"json", no_argument, 'j', NULL, &a->json},
                            {"chain-only", no_argument, 'C', NULL, NULL},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int c;
    optind = 0;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
        if (c == 't') {
            if (cli_tdx_parse_int64("--at", optarg, &a->at)) return CLI_USAGE;
        } else if (c == 'a') {
            if (parse_accept(optarg, &a->accept)) return CLI_USAGE;
            a->have_accept = true;
        } else if (c != 'C') { /* --chain-only: what happens without collateral anyway */
            return cli_help_or_usage(c == 'h', verify_usage);
        }
    }
    if (optind != argc - 1) {
        verify_usage(stderr);
        return cli_usage_error("tdx verify: expected one QUOTE file");
    }
    a->path = argv[optind];
    return CLI_CONTINUE;
}

/* Read the input, the collateral and the trusted root. A file that cannot
 * be read is a refusal with its reason, before any report. */
static int verify_load(const verify_args *a, verify_run *r) {
    if (cli_tdx_read_input(a->path, &r->input, &r->err) < 0)
        return cli_tdx_fail("tdx verify", &r->err);
    if (a->coll_path && cli_tdx_load_collateral(a->coll_path, &r->coll, &r->err) < 0)
        return cli_tdx_fail("tdx verify: collateral", &r->err);
    if (a->sim_path && cli_tdx_load_sim_root(a->sim_path, &r->root, &r->err) < 0)
        return cli_tdx_fail("tdx verify: --trust-sim-root", &r->err);
    mk_tdx_policy_default(&r->pol);
    if (a->have_accept) r->pol.accepted_statuses = a->accept;
    r->pol.allow_debug = a->allow_debug;
    /* Without collateral: chain only, said on stderr and in the JSON. */
    r->pol.chain_only = r->coll == NULL;
    r->qdata = r->input.data;
    r->qlen = r->input.len;
    return CLI_CONTINUE;
}

/* A TDX validator configured like a node's, for this ticket. */
static int ticket_validator(verify_run *r) {
    r->vo = mk_tdx_validator_opts_new();
    if (!r->vo) return mk_error_set(&r->err, MK_ENOMEM, "out of memory");
    r->pol.chain_only = r->coll == NULL && r->ticket.collateral == NULL;
    mk_tdx_validator_opts_policy(r->vo, &r->pol);
    int rc;
    if (r->root.len &&
        (rc = mk_tdx_validator_opts_trust_simulator(r->vo, r->root.data, r->root.len, &r->err)) < 0)
        return rc;
    if (r->coll) {
        mk_tdx_validator_opts_collateral_from_ticket(r->vo, false);
        if ((rc = mk_tdx_validator_opts_static_collateral(r->vo, r->coll, &r->err)) < 0) return rc;
    }
    r->val = mk_tdx_validator_new(r->vo, &r->err);
    if (!r->val) return r->err.code ? r->err.code : MK_ENOMEM;
    return 0;
}

/* A ticket: decoded, then judged by a TDX validator as a peer's ticket
 * (peer and network from the ticket unless --peer / --network say). */
static int verify_ticket(const verify_args *a, verify_run *r) {
    json_object_set_new(r->o, "kind", json_string("ticket"));
    if (mk_tdx_ticket_decode(r->input.data, r->input.len, &r->ticket, &r->err) < 0)
        return r->err.code;
    cli_tdx_describe_extra(r->o, &r->ticket.extra);
    r->qdata = r->ticket.quote;
    r->qlen = r->ticket.quote_len;
    int rc = ticket_validator(r);
    if (rc < 0) return rc;
    mk_peer_view pv;
    memset(&pv, 0, sizeof pv);
    pv.peer_id = r->ticket.extra.peer_id;
    pv.network_id = r->ticket.extra.network_id;
    if (a->peer_s) mk_id_parse(&pv.peer_id, a->peer_s);
    if (a->net_s) mk_id_parse(&pv.network_id, a->net_s);
    mk_expiration exp = 0;
    rc = mk_tdx_validator_validate_ex(r->val, r->input.data, r->input.len, &pv, a->at, &exp,
                                      &r->res, &r->err);
    r->have_res = true;
    if (rc == 0) {
        char t[MK_RFC3339_LEN];
        if (exp == MK_EXPIRES_NEVER)
            json_object_set_new(r->o, "admitted_until", json_null());
        else
            mk_time_format_rfc3339(exp, t),
                json_object_set_new(r->o, "admitted_until", json_string(t));
    }
    return rc;
}

/* A bare quote: mk_tdx_verify with the policy and the collateral given. */
static int verify_quote(const verify_args *a, verify_run *r) {
    json_object_set_new(r->o, "kind", json_string("quote"));
    r->ver = mk_tdx_verifier_new();
    if (!r->ver) return mk_error_set(&r->err, MK_ENOMEM, "out of memory");
    mk_tdx_verifier_set_policy(r->ver, &r->pol);
    if (r->root.len &&
        mk_tdx_verifier_trust_simulator(r->ver, r->root.data, r->root.len, &r->err) < 0)
        return r->err.code;
    int rc = mk_tdx_verify(r->ver, r->qdata, r->qlen, r->coll, a->at, &r->res, &r->err);
    r->have_res = true;
    return rc;
}

/* The verdict (rc) with the quote's fields: printed as JSON with --json,
 * as text when verified; a refusal's reason also on stderr. */
static int verify_report(const verify_args *a, verify_run *r, int rc) {
    json_t *o = r->o;
    mk_tdx_quote q;
    if (r->qdata && mk_tdx_quote_parse(r->qdata, r->qlen, &q, NULL) == 0)
        cli_tdx_describe_quote(o, &q);
    else
        cli_tdx_null_quote_fields(o);
    cli_tdx_describe_result(o, &r->res, r->have_res);
    json_object_set_new(o, "verified", json_boolean(rc == 0));
    json_object_set_new(o, "reason", rc == 0 ? json_null() : json_string(r->err.msg));
    json_object_set_new(o, "chain_only", json_boolean(r->pol.chain_only));
    if (r->pol.chain_only)
        fprintf(stderr, "mosaik: tdx verify: no collateral: chain only (structure, signatures, "
                        "PCK chain); no TCB status, no revocation check\n");
    /* Put the verdict first for readers. */
    json_t *ordered = json_object();
    json_object_set(ordered, "verified", json_object_get(o, "verified"));
    json_object_set(ordered, "reason", json_object_get(o, "reason"));
    json_object_update(ordered, o);
    if (a->json || rc == 0) cli_tdx_emit(ordered, a->json);
    json_decref(ordered);
    if (rc < 0) fprintf(stderr, "mosaik: tdx verify: refused: %s\n", r->err.msg);
    return rc == 0 ? CLI_OK : CLI_FAIL;
}

static void verify_run_free(verify_run *r) {
    json_decref(r->o);
    mk_validator_free(r->val);
    mk_tdx_validator_opts_free(r->vo);
    mk_tdx_ticket_free(&r->ticket);
    mk_tdx_verifier_free(r->ver);
    mk_tdx_collateral_free(r->coll);
    mk_buf_free(&r->root);
    mk_buf_free(&r->input);
}

int cli_tdx_verify(int argc, char **argv) {
    verify_args a;
    int rc = verify_parse(argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    verify_run r;
    memset(&r, 0, sizeof r);
    mk_error_clear(&r.err);
    r.o = json_object();
    rc = verify_load(&a, &r);
    if (rc == CLI_CONTINUE) {
        bool is_ticket = cli_tdx_is_zstd(r.input.data, r.input.len);
        int vrc = is_ticket ? verify_ticket(&a, &r) : verify_quote(&a, &r);
        rc = verify_report(&a, &r, vrc);
    }
    verify_run_free(&r);
    return rc;
}
