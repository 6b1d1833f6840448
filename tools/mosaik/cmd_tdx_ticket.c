/*
 * tools/mosaik/cmd_tdx_ticket.c — `mosaik tdx ticket`: make a TDX ticket.
 *
 * The quote comes from the TDX simulator (a state file, created with
 * --sim-init; the quote is SIMULATED and said so on stderr) or from this
 * machine's TD (--local, through the library's automatic provider). The
 * attester binds the peer id, the network id and the ticket's times into
 * the quote's report data; collateral is embedded when asked for (the
 * simulator's own, or a bundle file; '-' stdin). The ticket is written to
 * -o FILE and its ids printed. Exit 0 written, 1 failed, 2 on usage errors,
 * 3 when a file cannot be read or written (or the TD's device fails).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd_tdx.h"

/* The longest lifetime --expires-in takes: ten years. */
#define MAX_LIFETIME (10 * 365 * 86400)

void cli_tdx_ticket_usage(FILE *f) {
    fprintf(f,
            "usage: mosaik tdx ticket (--sim STATEFILE [--sim-init] | --local)\n"
            "                         [--mrtd HEX] [--rtmr N=HEX]... [--quote-version 4|5]\n"
            "                         [--td15] [--peer ID] [--network ID] [--started-at T]\n"
            "                         [--expires-in S] [--with-collateral] [--collateral FILE]\n"
            "                         -o FILE [--json]\n"
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
            "  --started-at T       node start time: UNIX seconds or RFC 3339 (default now)\n"
            "  --expires-in S       lifetime in seconds, 1..%d (default %d)\n"
            "  --with-collateral    (simulator) embed the simulator's collateral\n"
            "  --collateral FILE    embed this collateral bundle ('-' stdin)\n"
            "  -o, --output FILE    where to write the ticket\n"
            "  --json               print the ticket's file, size, ids and expiry as JSON\n"
            "\n"
            "Exit status: 0 written, 1 failed, 2 usage error, 3 a file cannot be read or\n"
            "written, or the TD's quote device failed.\n",
            MAX_LIFETIME, MK_TDX_TICKET_DEFAULT_LIFETIME);
}

/* What the command line asks for. */
typedef struct ticket_args {
    const char *sim_path, *out_path, *coll_path;
    bool sim_init, local, with_coll, have_peer, json;
    mk_tdx_sim_td td; /* the simulated TD */
    mk_id peer, net;
    int64_t now, started, expires_in;
} ticket_args;

/* What making the ticket holds (freed by ticket_run_free). */
typedef struct ticket_run {
    mk_error err;
    mk_tdx_sim *sim;
    mk_tdx_provider *prov;
    mk_tdx_collateral *coll;
    mk_tdx_attester *att;
    mk_ticket t;
} ticket_run;

/* One option into a; CLI_CONTINUE, or the exit code of a usage error. */
static int ticket_option(int c, const char *arg, ticket_args *a) {
    mk_error err;
    mk_error_clear(&err);
    switch (c) {
    case 'm':
        if (mk_hex_decode_exact(arg, a->td.mr_td, 48, &err) < 0)
            return cli_usage_error("tdx ticket: --mrtd: %s (want 96 hex digits)", err.msg);
        break;
    case 'r': {
        const char *eq = strchr(arg, '=');
        if (!eq || eq - arg != 1 || arg[0] < '0' || arg[0] > '3')
            return cli_usage_error("tdx ticket: --rtmr wants N=HEX with N in 0..3");
        if (mk_hex_decode_exact(eq + 1, a->td.rtmr[arg[0] - '0'], 48, &err) < 0)
            return cli_usage_error("tdx ticket: --rtmr: %s (want 96 hex digits)", err.msg);
        break;
    }
    case 'V':
        if (strcmp(arg, "4") && strcmp(arg, "5"))
            return cli_usage_error("tdx ticket: --quote-version is 4 or 5");
        a->td.quote_version = (uint16_t)atoi(arg);
        break;
    case '5':
        a->td.body_type = MK_TDX_BODY_TD15;
        break;
    case 'p':
        mk_id_parse(&a->peer, arg);
        a->have_peer = true;
        break;
    case 'n':
        mk_id_parse(&a->net, arg);
        break;
    case 'S':
        if (cli_parse_time("--started-at", arg, &a->started)) return CLI_USAGE;
        break;
    case 'e': {
        uint64_t v;
        if (cli_parse_u64("--expires-in", arg, 1, MAX_LIFETIME, &v)) return CLI_USAGE;
        a->expires_in = (int64_t)v;
        break;
    }
    default:
        return cli_help_or_usage(c == 'h', cli_tdx_ticket_usage);
    }
    return CLI_CONTINUE;
}

/* Options into a, then the rules between them; CLI_CONTINUE, or the exit
 * code (help, usage error). */
static int ticket_parse(int argc, char **argv, ticket_args *a) {
    memset(a, 0, sizeof *a);
    mk_tdx_sim_td_default(&a->td);
    mk_id_from_name(&a->net, "mosaik");
    a->now = mk_now();
    a->started = a->now;
    a->expires_in = MK_TDX_TICKET_DEFAULT_LIFETIME;
    const cli_opt opts[] = {{"sim", required_argument, 's', &a->sim_path, NULL},
                            {"sim-init", no_argument, 'I', NULL, &a->sim_init},
                            {"local", no_argument, 'L', NULL, &a->local},
                            {"mrtd", required_argument, 'm', NULL, NULL},
                            {"rtmr", required_argument, 'r', NULL, NULL},
                            {"quote-version", required_argument, 'V', NULL, NULL},
                            {"td15", no_argument, '5', NULL, NULL},
                            {"peer", required_argument, 'p', NULL, NULL},
                            {"network", required_argument, 'n', NULL, NULL},
                            {"started-at", required_argument, 'S', NULL, NULL},
                            {"expires-in", required_argument, 'e', NULL, NULL},
                            {"with-collateral", no_argument, 'C', NULL, &a->with_coll},
                            {"collateral", required_argument, 'c', &a->coll_path, NULL},
                            {"output", required_argument, 'o', &a->out_path, NULL},
                            {"json", no_argument, 'j', NULL, &a->json},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int c, rc;
    optind = 0;
    while ((c = cli_getopt(argc, argv, "o:h", opts)) != -1)
        if ((rc = ticket_option(c, optarg, a)) != CLI_CONTINUE) return rc;
    if (optind != argc)
        return cli_usage_error("tdx ticket: unexpected argument '%s'", argv[optind]);
    if (!a->out_path) return cli_usage_error("tdx ticket: -o FILE is required");
    if (!!a->sim_path == a->local)
        return cli_usage_error("tdx ticket: give exactly one of --sim, --local");
    if (a->td.body_type == MK_TDX_BODY_TD15 && a->td.quote_version != 5)
        return cli_usage_error("tdx ticket: --td15 needs --quote-version 5");
    if (a->with_coll && !a->sim_path)
        return cli_usage_error("tdx ticket: --with-collateral is for the simulator; use "
                               "--collateral FILE");
    if (a->sim_init && cli_is_stdin(a->sim_path))
        return cli_usage_error("tdx ticket: --sim-init cannot create '-' (stdin)");
    if (!a->have_peer && mk_id_random(&a->peer) < 0)
        return cli_fail(CLI_IO, "tdx ticket: no randomness");
    cli_json = a->json;
    return CLI_CONTINUE;
}

/* The simulator as the quote source (with its collateral if asked for). */
static int ticket_sim_source(const ticket_args *a, ticket_run *r) {
    struct stat st;
    if (!a->sim_init && !cli_is_stdin(a->sim_path) && stat(a->sim_path, &st) != 0)
        return cli_fail(CLI_IO,
                        "tdx ticket: %s does not exist (add --sim-init, or run "
                        "'mosaik tdx sim-init %s')",
                        a->sim_path, a->sim_path);
    const char *path = cli_input_path(a->sim_path, &r->err);
    if (!path) return cli_fail_err("tdx ticket: --sim", &r->err);
    int rc = a->sim_init ? mk_tdx_sim_load_or_create(path, &(mk_tdx_sim_config){.now = a->now},
                                                     &r->sim, &r->err)
                         : mk_tdx_sim_load(path, &r->sim, &r->err);
    if (rc < 0) return cli_fail_err("tdx ticket: simulator", &r->err);
    mk_tdx_provider_sim_new(r->sim, &a->td, &r->prov, &r->err); /* checked by the caller */
    if (a->with_coll && mk_tdx_sim_collateral(r->sim, a->now, &r->coll, &r->err) < 0)
        return cli_fail_err("tdx ticket: simulator collateral", &r->err);
    fprintf(stderr, "mosaik: tdx ticket: SIMULATED quote (not real TDX)\n");
    return CLI_CONTINUE;
}

/* The quote source, then the attester, the ticket and its file. */
static int ticket_make(const ticket_args *a, ticket_run *r) {
    if (a->sim_path) {
        int rc = ticket_sim_source(a, r);
        if (rc != CLI_CONTINUE) return rc;
    } else {
        mk_tdx_provider_auto_new(&r->prov, &r->err);
    }
    if (!r->prov) return cli_fail_err("tdx ticket", &r->err);
    if (a->coll_path && cli_tdx_load_collateral(a->coll_path, &r->coll, &r->err) < 0)
        return cli_fail_err("tdx ticket: collateral", &r->err);
    if (mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = r->prov, .collateral = r->coll},
                            &r->att, &r->err) < 0 ||
        mk_tdx_attester_ticket_with_expiration(r->att, &a->peer, &a->net, a->started,
                                               mk_now() + a->expires_in, &r->t, &r->err) < 0 ||
        mk_file_write(a->out_path, r->t.data, r->t.len, 0644, &r->err) < 0)
        return cli_fail_err("tdx ticket", &r->err);
    char ph[MK_ID_HEX_LEN], nh[MK_ID_HEX_LEN];
    mk_id_to_hex(&a->peer, ph);
    mk_id_to_hex(&a->net, nh);
    if (!a->json) {
        printf("ticket: %s (%zu bytes)\npeer_id: %s\nnetwork_id: %s\n", a->out_path, r->t.len, ph,
               nh);
        return CLI_OK;
    }
    char exp[MK_RFC3339_LEN];
    mk_time_format_rfc3339(mk_now() + a->expires_in, exp);
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:b, s:s}", "ticket", a->out_path, "bytes",
                          (json_int_t)r->t.len, "peer_id", ph, "network_id", nh, "simulated",
                          a->sim_path != NULL, "expires", exp);
    cli_emit(o);
    json_decref(o);
    return CLI_OK;
}

static void ticket_run_free(ticket_run *r) {
    mk_ticket_free(&r->t);
    mk_tdx_attester_free(r->att);
    mk_tdx_collateral_free(r->coll);
    mk_tdx_provider_free(r->prov);
    mk_tdx_sim_free(r->sim);
}

int cli_tdx_ticket(int argc, char **argv) {
    ticket_args a;
    int rc = ticket_parse(argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    ticket_run r;
    memset(&r, 0, sizeof r);
    mk_error_clear(&r.err);
    rc = ticket_make(&a, &r);
    ticket_run_free(&r);
    return rc;
}
