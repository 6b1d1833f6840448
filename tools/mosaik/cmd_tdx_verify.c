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
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_tdx.h"

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

int cli_tdx_verify(int argc, char **argv) {
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
            if (cli_tdx_parse_int64("--at", optarg, &at)) return CLI_USAGE;
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
    if (cli_tdx_read_input(path, &input, &err) < 0) {
        cli_tdx_fail("tdx verify", &err);
        goto out_early;
    }
    if (coll_path && cli_tdx_load_collateral(coll_path, &coll, &err) < 0) {
        cli_tdx_fail("tdx verify: collateral", &err);
        goto out_early;
    }
    if (sim_path && cli_tdx_load_sim_root(sim_path, &root, &err) < 0) {
        cli_tdx_fail("tdx verify: --trust-sim-root", &err);
        goto out_early;
    }

    mk_tdx_policy pol;
    mk_tdx_policy_default(&pol);
    if (have_accept) pol.accepted_statuses = accept;
    pol.allow_debug = allow_debug;
    /* Without collateral: chain only, said on stderr and in the JSON. */
    (void)chain_only;
    pol.chain_only = coll == NULL;

    bool is_ticket = cli_tdx_is_zstd(input.data, input.len);
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
        cli_tdx_describe_extra(o, &ticket.extra);
        qdata = ticket.quote;
        qlen = ticket.quote_len;
        vo = mk_tdx_validator_opts_new();
        if (!vo) {
            rc = mk_error_set(&err, MK_ENOMEM, "out of memory");
            goto report;
        }
        pol.chain_only = coll == NULL && ticket.collateral == NULL;
        mk_tdx_validator_opts_policy(vo, &pol);
        if (root.len &&
            (rc = mk_tdx_validator_opts_trust_simulator(vo, root.data, root.len, &err)) < 0)
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
        cli_tdx_describe_quote(o, &q);
    else
        cli_tdx_null_quote_fields(o);
    cli_tdx_describe_result(o, &res, have_res);
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
    if (json || rc == 0) cli_tdx_emit(ordered, json);
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
