/*
 * tools/mosaik/cmd_tdx_verify.c — `mosaik tdx verify QUOTE|TICKET`.
 *
 * The input is a quote (binary, or hex text with optional 0x and
 * whitespace; '-' reads stdin) or a TDX ticket (recognised by its zstd
 * magic). A quote is verified with mk_tdx_verify; a ticket is judged by a
 * TDX validator configured like a node's (peer and network checked only
 * when --peer / --network say which), which adds the report-data binding
 * and expiry.
 *
 * Collateral — what makes a check a verification (TCB status, revocation)
 * — comes from exactly one source, in this order: --collateral (a bundle
 * or a directory of PCS responses), a ticket's embedded bundle, or else
 * Intel PCS (or the PCCS --pccs names), fetched through the on-disk cache
 * (--cache DIR, default $XDG_CACHE_HOME/mosaik/pcs or ~/.cache/mosaik/pcs;
 * a fresh cached bundle needs no network). When the fetch fails (offline,
 * PCS unreachable, an FMSPC it does not know) nothing is reported as
 * verified: the command exits 3 and names --collateral and --chain-only.
 * --chain-only is the only way to a check without collateral, and its
 * report says "chain verified; TCB status and revocation not checked", in
 * text and JSON, with "verified": false.
 *
 * Exit 0 verified and accepted (or, with --chain-only, the chain verified),
 * 1 refused (reason on stderr and in the JSON), 2 usage error, 3 an input
 * or the collateral could not be read or fetched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd_tdx.h"

#define PCS_URL "https://api.trustedservices.intel.com"
#define CHAIN_ONLY_NOTE "chain verified; TCB status and revocation not checked"

static int parse_accept(const char *s, uint32_t *mask) {
    if (!strcmp(s, "any")) {
        *mask = 0;
        for (int i = 0; i < MK_TDX_TCB_STATUS_COUNT; i++)
            if (i != MK_TDX_TCB_REVOKED) *mask |= MK_TDX_TCB_BIT(i);
        return 0;
    }
    *mask = 0;
    char *copy = strdup(s);
    if (!copy) return cli_fail(CLI_FAIL, "out of memory");
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

void cli_tdx_verify_usage(FILE *f) {
    fprintf(f,
            "usage: mosaik tdx verify QUOTE|TICKET|- [--collateral FILE|DIR | --pccs URL\n"
            "                         [--cache DIR | --no-cache] [--allow-http] | --chain-only]\n"
            "                         [--at T] [--accept STATUS,...|any] [--allow-debug]\n"
            "                         [--trust-sim-root FILE] [--peer ID] [--network ID]\n"
            "                         [--json]\n"
            "\n"
            "Verify a TDX quote (binary, or hex text with optional 0x; whitespace ignored)\n"
            "or a mosaik TDX ticket all the way to Intel's root CA, with the TCB status and\n"
            "revocation from Intel's collateral. '-' reads the input from stdin.\n"
            "\n"
            "Collateral, from the first of:\n"
            "  --collateral FILE|DIR  a bundle JSON (dcap-qvl / PCCS layout, as written by\n"
            "                       'tdx collateral fetch'; '-' stdin) or a directory of PCS\n"
            "                       responses (docs/tdx-tickets.md)\n"
            "  (a ticket's own)     the bundle a ticket carries\n"
            "  --pccs URL           else fetched from this PCS or PCCS (default\n"
            "                       %s)\n"
            "  --cache DIR          through this cache (default $XDG_CACHE_HOME/mosaik/pcs or\n"
            "                       ~/.cache/mosaik/pcs); a fresh cached bundle needs no network\n"
            "  --no-cache           fetch without the cache\n"
            "  --allow-http         let --pccs be http:// (a local PCCS)\n"
            "When no collateral can be had (offline, PCS unreachable) nothing is verified:\n"
            "exit 3, naming --collateral and --chain-only.\n"
            "  --chain-only         check only structure, signatures and the PCK chain to the\n"
            "                       root; the report says \"chain verified; TCB status and\n"
            "                       revocation not checked\" and \"verified\" is false\n"
            "\n"
            "  --at T               verification time: UNIX seconds or RFC 3339 (default now)\n"
            "  --accept LIST        accepted TCB statuses (default UpToDate,SWHardeningNeeded;\n"
            "                       'any' = every status except Revoked)\n"
            "  --allow-debug        accept debug TDs\n"
            "  --trust-sim-root F   trust the mosaik simulator root: a simulator state file\n"
            "                       (mosaik tdx sim-init) or its root certificate (PEM/DER)\n"
            "  --peer ID, --network ID  (tickets) require these peer / network ids\n"
            "                       (64 hex digits, or a name hashed like 'mosaik id')\n"
            "  --json               print one JSON object (also on refusal and errors)\n"
            "\n"
            "Exit status: 0 verified and accepted (--chain-only: the chain verified),\n"
            "1 refused, 2 usage error, 3 input or collateral not readable or fetchable.\n",
            PCS_URL);
}

/* What the command line asks for. */
typedef struct verify_args {
    const char *path, *coll_path, *sim_path, *peer_s, *net_s, *pccs, *cache;
    int64_t at;
    bool json, allow_debug, have_accept, chain_only, allow_http, no_cache;
    uint32_t accept;
} verify_args;

/* Where the collateral comes from. */
typedef enum coll_src { SRC_NONE, SRC_FILE, SRC_TICKET, SRC_FETCH } coll_src;

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
    mk_tdx_fetch_opts fetch;
    char cache_dir[1024];
    coll_src src;
    mk_tdx_result res;
    bool have_res;
    const uint8_t *qdata; /* the quote: the input, or the ticket's */
    size_t qlen;
    json_t *o;
} verify_run;

/* The rules between the options; CLI_CONTINUE or a usage error. */
static int verify_check_args(const verify_args *a) {
    if (a->chain_only && (a->coll_path || a->pccs || a->cache || a->no_cache || a->allow_http))
        return cli_usage_error("tdx verify: --chain-only uses no collateral: drop --collateral, "
                               "--pccs, --cache, --no-cache and --allow-http");
    if (a->coll_path && (a->pccs || a->cache || a->no_cache || a->allow_http))
        return cli_usage_error("tdx verify: --collateral is the collateral: --pccs, --cache, "
                               "--no-cache and --allow-http are for fetching it");
    if (a->cache && a->no_cache) return cli_usage_error("tdx verify: --cache or --no-cache");
    if (a->pccs && strncmp(a->pccs, "https://", 8) &&
        !(a->allow_http && !strncmp(a->pccs, "http://", 7)))
        return cli_usage_error("tdx verify: --pccs wants an https:// URL (http:// only with "
                               "--allow-http), not '%s'",
                               a->pccs);
    return CLI_CONTINUE;
}

/* Options into a; CLI_CONTINUE, or the exit code (help, usage error). */
static int verify_parse(int argc, char **argv, verify_args *a) {
    memset(a, 0, sizeof *a);
    a->at = mk_now();
    const cli_opt opts[] = {{"collateral", required_argument, 'c', &a->coll_path, NULL},
                            {"pccs", required_argument, 'P', &a->pccs, NULL},
                            {"pcs", required_argument, 'P', &a->pccs, NULL},
                            {"cache", required_argument, 'K', &a->cache, NULL},
                            {"no-cache", no_argument, 'N', NULL, &a->no_cache},
                            {"allow-http", no_argument, 'H', NULL, &a->allow_http},
                            {"chain-only", no_argument, 'C', NULL, &a->chain_only},
                            {"at", required_argument, 't', NULL, NULL},
                            {"accept", required_argument, 'a', NULL, NULL},
                            {"allow-debug", no_argument, 'd', NULL, &a->allow_debug},
                            {"trust-sim-root", required_argument, 's', &a->sim_path, NULL},
                            {"peer", required_argument, 'p', &a->peer_s, NULL},
                            {"network", required_argument, 'n', &a->net_s, NULL},
                            {"json", no_argument, 'j', NULL, &a->json},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int c;
    optind = 0;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
        if (c == 't') {
            if (cli_parse_time("--at", optarg, &a->at)) return CLI_USAGE;
        } else if (c == 'a') {
            if (parse_accept(optarg, &a->accept)) return CLI_USAGE;
            a->have_accept = true;
        } else {
            return cli_help_or_usage(c == 'h', cli_tdx_verify_usage);
        }
    }
    if (optind != argc - 1) {
        cli_tdx_verify_usage(stderr);
        return cli_usage_error("tdx verify: expected one QUOTE file");
    }
    a->path = argv[optind];
    cli_json = a->json;
    return verify_check_args(a);
}

/* mkdir -p of the default cache directory (best effort: a cache that
 * cannot be made only costs a fetch). */
static void make_dirs(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(path, 0700);
        *p = '/';
    }
    mkdir(path, 0700);
}

/* The fetcher: --pccs or Intel PCS, through --cache or the default cache. */
static void verify_fetcher(const verify_args *a, verify_run *r) {
    r->fetch.base_url = a->pccs ? a->pccs : PCS_URL;
    r->fetch.insecure_http_ok = a->allow_http;
    if (a->no_cache) return;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n = 0;
    if (a->cache)
        n = snprintf(r->cache_dir, sizeof r->cache_dir, "%s", a->cache);
    else if (xdg && *xdg == '/')
        n = snprintf(r->cache_dir, sizeof r->cache_dir, "%s/mosaik/pcs", xdg);
    else if (home && *home == '/')
        n = snprintf(r->cache_dir, sizeof r->cache_dir, "%s/.cache/mosaik/pcs", home);
    if (n <= 0 || (size_t)n >= sizeof r->cache_dir) {
        r->cache_dir[0] = 0;
        return;
    }
    make_dirs(r->cache_dir);
    r->fetch.cache_dir = r->cache_dir;
}

/* Read the input, the collateral and the trusted root. A file that cannot
 * be read ends the command before any verification. */
static int verify_load(const verify_args *a, verify_run *r) {
    if (cli_tdx_read_input(a->path, &r->input, &r->err) < 0)
        return cli_fail_err("tdx verify", &r->err);
    if (a->coll_path && cli_tdx_load_collateral(a->coll_path, &r->coll, &r->err) < 0)
        return cli_fail_err("tdx verify: collateral", &r->err);
    if (a->sim_path && cli_tdx_load_sim_root(a->sim_path, &r->root, &r->err) < 0)
        return cli_fail_err("tdx verify: --trust-sim-root", &r->err);
    mk_tdx_policy_default(&r->pol);
    if (a->have_accept) r->pol.accepted_statuses = a->accept;
    r->pol.allow_debug = a->allow_debug;
    r->pol.chain_only = a->chain_only;
    r->src = a->chain_only ? SRC_NONE : r->coll ? SRC_FILE : SRC_FETCH;
    if (r->src == SRC_FETCH) verify_fetcher(a, r);
    r->qdata = r->input.data;
    r->qlen = r->input.len;
    return CLI_CONTINUE;
}

/* A TDX validator configured like a node's, for this ticket, with the
 * collateral source verify_load chose (a ticket's own bundle comes before
 * fetching). */
static int ticket_validator(verify_run *r) {
    r->vo = mk_tdx_validator_opts_new();
    if (!r->vo) return mk_error_set(&r->err, MK_ENOMEM, "out of memory");
    if (r->src == SRC_FETCH && r->ticket.collateral) r->src = SRC_TICKET;
    mk_tdx_validator_opts_policy(r->vo, &r->pol);
    mk_tdx_validator_opts_collateral_from_ticket(r->vo, r->src == SRC_TICKET);
    int rc;
    if (r->root.len &&
        (rc = mk_tdx_validator_opts_trust_simulator(r->vo, r->root.data, r->root.len, &r->err)) < 0)
        return rc;
    if (r->src == SRC_FILE &&
        (rc = mk_tdx_validator_opts_static_collateral(r->vo, r->coll, &r->err)) < 0)
        return rc;
    if (r->src == SRC_FETCH && (rc = mk_tdx_validator_opts_fetch(r->vo, &r->fetch, &r->err)) < 0)
        return rc;
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

/* A bare quote: mk_tdx_verify with the policy and the collateral source. */
static int verify_quote(const verify_args *a, verify_run *r) {
    json_object_set_new(r->o, "kind", json_string("quote"));
    mk_tdx_verifier_config vc;
    mk_tdx_verifier_config_init(&vc);
    vc.policy = r->pol;
    vc.simulator_root_der = r->root.len ? r->root.data : NULL;
    vc.simulator_root_len = r->root.len;
    vc.fetch = r->src == SRC_FETCH ? &r->fetch : NULL;
    if (mk_tdx_verifier_new(&vc, &r->ver, &r->err) < 0) return r->err.code;
    int rc = mk_tdx_verify(r->ver, r->qdata, r->qlen, r->coll, a->at, &r->res, &r->err);
    r->have_res = true;
    return rc;
}

/* Whether a refusal is the fetcher's: no collateral could be had (the
 * network, a timeout, an FMSPC the PCS does not know, or a reply the
 * fetcher refused; the library prefixes those "collateral: fetch:"). A
 * fetched bundle that does not verify is a refusal like any other. */
static bool fetch_failed(const verify_run *r, int rc) {
    return r->src == SRC_FETCH && (rc == MK_ENETWORK || rc == MK_ETIMEDOUT || rc == MK_ENOTFOUND ||
                                   strstr(r->err.msg, "collateral: fetch:"));
}

/* The verdict's exit status and reason; a fetch failure becomes the
 * refusal to verify without collateral. */
static int verify_verdict(verify_run *r, int rc, char *reason, size_t n) {
    if (rc == 0) {
        reason[0] = 0;
        return CLI_OK;
    }
    if (!fetch_failed(r, rc)) {
        snprintf(reason, n, "%s", r->err.msg[0] ? r->err.msg : mk_strerror(rc));
        return CLI_FAIL;
    }
    snprintf(reason, n,
             "no collateral: fetching it from %s failed (%s); give --collateral FILE|DIR, or "
             "--chain-only to check the chain alone (TCB status and revocation not checked)",
             r->fetch.base_url, r->err.msg);
    return CLI_IO;
}

static const char *source_name(coll_src s) {
    static const char *names[] = {"none", "file", "ticket", "pcs"};
    return names[s];
}

/* The verdict first, then what was checked and with what collateral. */
static json_t *verify_head(const verify_args *a, const verify_run *r, int code,
                           const char *reason) {
    bool ok = code == CLI_OK;
    char result[1200], at[MK_RFC3339_LEN];
    if (ok && a->chain_only)
        snprintf(result, sizeof result, "%s", CHAIN_ONLY_NOTE);
    else if (ok)
        snprintf(result, sizeof result, "verified: chain, TCB status %s, revocation checked",
                 mk_tdx_tcb_status_name(r->res.tcb_status));
    else
        snprintf(result, sizeof result, "%s: %s", code == CLI_IO ? "not verified" : "refused",
                 reason);
    mk_time_format_rfc3339(a->at, at);
    json_t *h = json_object();
    json_object_set_new(h, "verified", json_boolean(ok && !a->chain_only));
    json_object_set_new(h, "chain_verified", json_boolean(ok));
    json_object_set_new(h, "chain_only", json_boolean(a->chain_only));
    json_object_set_new(h, "result", json_string(result));
    json_object_set_new(h, "reason", ok ? json_null() : json_string(reason));
    json_object_set_new(h, "at", json_string(at));
    json_object_set_new(h, "collateral", json_string(source_name(r->src)));
    json_object_set_new(h, "collateral_url",
                        r->src == SRC_FETCH ? json_string(r->fetch.base_url) : json_null());
    return h;
}

/* The report: printed as JSON with --json, as text when accepted; a
 * refusal's reason also on stderr. */
static int verify_report(const verify_args *a, verify_run *r, int rc) {
    char reason[1100];
    int code = verify_verdict(r, rc, reason, sizeof reason);
    json_t *o = r->o;
    mk_tdx_quote q;
    if (r->qdata && mk_tdx_quote_parse(r->qdata, r->qlen, &q, NULL) == 0)
        cli_tdx_describe_quote(o, &q);
    else
        cli_tdx_null_quote_fields(o);
    cli_tdx_describe_result(o, &r->res, r->have_res);
    json_t *report = verify_head(a, r, code, reason);
    json_object_update(report, o);
    if (a->json) cli_json_set_error(report, code, reason);
    if (a->json || code == CLI_OK) cli_tdx_emit(report, a->json);
    json_decref(report);
    if (code == CLI_OK && a->chain_only)
        fprintf(stderr, "mosaik: tdx verify: --chain-only: " CHAIN_ONLY_NOTE "\n");
    if (code != CLI_OK)
        cli_fail(code, "tdx verify: %s: %s", code == CLI_IO ? "error" : "refused", reason);
    return code;
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
