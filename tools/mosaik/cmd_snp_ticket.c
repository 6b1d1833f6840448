/*
 * tools/mosaik/cmd_snp_ticket.c — `mosaik snp ticket`: make an SEV-SNP
 * ticket.
 *
 * The report comes from the SNP simulator (a state file, created with
 * --sim-init; the report is SIMULATED and said so on stderr and in the
 * JSON) or from this machine's guest (--local: configfs-tsm, else
 * /dev/sev-guest, through the library's automatic provider; --vmpl picks
 * the VMPL). The attester binds the peer id, the network id and the
 * ticket's times into the report data and puts the host's certificates
 * (VCEK or VLEK, ASK, ARK from the certificate table) into the ticket. The
 * ticket's wire form is written to -o FILE and its ids printed. Exit 0
 * written, 1 failed, 2 usage error, 3 a file cannot be read or written or
 * the guest device fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd_snp.h"

#define MAX_LIFETIME (10 * 365 * 86400) /* --expires-in: ten years at most */

void cli_snp_ticket_usage(FILE *f) {
    fprintf(f,
            "usage: mosaik snp ticket (--sim STATEFILE [--sim-init] | --local) [--vmpl N]\n"
            "                         [--measurement HEX] [--host-data HEX] [--policy HEX]\n"
            "                         [--guest-svn N] [--peer ID] [--network ID]\n"
            "                         [--started-at T] [--expires-in S] -o FILE [--json]\n"
            "\n"
            "Make a mosaik SEV-SNP ticket: a report whose report data binds the peer id,\n"
            "the network id and the ticket's times, with the host's certificates.\n"
            "\n"
            "  --sim STATEFILE      use the SNP simulator whose state is in STATEFILE\n"
            "                       (NOT real SEV-SNP: verifiers refuse it unless told to\n"
            "                       trust its root); --sim-init creates STATEFILE if missing\n"
            "  --local              use this machine's guest (configfs-tsm or /dev/sev-guest)\n"
            "  --vmpl N             the VMPL to ask the report at (0..3)\n"
            "  --measurement HEX, --host-data HEX, --policy HEX, --guest-svn N\n"
            "                       (simulator) the simulated guest's values\n"
            "  --peer ID            peer id (64 hex digits or a name; default: random)\n"
            "  --network ID         network id (hex or name; default: name 'mosaik')\n"
            "  --started-at T       node start time: UNIX seconds or RFC 3339 (default now)\n"
            "  --expires-in S       lifetime in seconds, 1..%d (default %d)\n"
            "  -o, --output FILE    where to write the ticket\n"
            "  --json               print the ticket's file, size, ids and expiry as JSON\n"
            "\n"
            "Exit status: 0 written, 1 failed, 2 usage error, 3 a file cannot be read or\n"
            "written, or the guest device failed.\n",
            MAX_LIFETIME, MK_TEE_TICKET_DEFAULT_LIFETIME);
}

typedef struct ticket_args {
    const char *sim_path, *out_path;
    bool sim_init, local, have_peer, json;
    int vmpl;
    mk_snp_sim_guest guest;
    mk_id peer, net;
    int64_t now, started, expires_in;
} ticket_args;

typedef struct ticket_run {
    mk_error err;
    mk_snp_sim *sim;
    mk_tee_provider *prov;
    mk_snp_attester *att;
    mk_ticket t;
} ticket_run;

static int hex_opt(const char *opt, const char *arg, uint8_t *dst, size_t n) {
    mk_error err;
    mk_error_clear(&err);
    if (mk_hex_decode_exact(arg, dst, n, &err) < 0)
        return cli_usage_error("snp ticket: %s: %s (want %zu hex digits)", opt, err.msg, 2 * n);
    return CLI_CONTINUE;
}

static int ticket_option(int c, const char *arg, ticket_args *a) {
    uint64_t v;
    char *end = NULL;
    switch (c) {
    case 'm':
        return hex_opt("--measurement", arg, a->guest.measurement, 48);
    case 'H':
        return hex_opt("--host-data", arg, a->guest.host_data, 32);
    case 'P':
        a->guest.policy = strtoull(arg, &end, 16);
        if (!*arg || *end) return cli_usage_error("snp ticket: --policy wants hex, not '%s'", arg);
        break;
    case 'G':
        if (cli_parse_u64("--guest-svn", arg, 0, UINT32_MAX, &v)) return CLI_USAGE;
        a->guest.guest_svn = (uint32_t)v;
        break;
    case 'V':
        if (cli_parse_u64("--vmpl", arg, 0, 3, &v)) return CLI_USAGE;
        a->vmpl = (int)v;
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
    case 'e':
        if (cli_parse_u64("--expires-in", arg, 1, MAX_LIFETIME, &v)) return CLI_USAGE;
        a->expires_in = (int64_t)v;
        break;
    default:
        return cli_help_or_usage(c == 'h', cli_snp_ticket_usage);
    }
    return CLI_CONTINUE;
}

static int ticket_parse(int argc, char **argv, ticket_args *a) {
    memset(a, 0, sizeof *a);
    mk_snp_sim_guest_default(&a->guest);
    mk_id_from_name(&a->net, "mosaik");
    a->vmpl = -1;
    a->now = mk_now();
    a->started = a->now;
    a->expires_in = MK_TEE_TICKET_DEFAULT_LIFETIME;
    const cli_opt opts[] = {{"sim", required_argument, 's', &a->sim_path, NULL},
                            {"sim-init", no_argument, 'I', NULL, &a->sim_init},
                            {"local", no_argument, 'L', NULL, &a->local},
                            {"vmpl", required_argument, 'V', NULL, NULL},
                            {"measurement", required_argument, 'm', NULL, NULL},
                            {"host-data", required_argument, 'H', NULL, NULL},
                            {"policy", required_argument, 'P', NULL, NULL},
                            {"guest-svn", required_argument, 'G', NULL, NULL},
                            {"peer", required_argument, 'p', NULL, NULL},
                            {"network", required_argument, 'n', NULL, NULL},
                            {"started-at", required_argument, 'S', NULL, NULL},
                            {"expires-in", required_argument, 'e', NULL, NULL},
                            {"output", required_argument, 'o', &a->out_path, NULL},
                            {"json", no_argument, 'j', NULL, &a->json},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int c, rc;
    optind = 0;
    while ((c = cli_getopt(argc, argv, "o:h", opts)) != -1)
        if ((rc = ticket_option(c, optarg, a)) != CLI_CONTINUE) return rc;
    if (optind != argc)
        return cli_usage_error("snp ticket: unexpected argument '%s'", argv[optind]);
    if (!a->out_path) return cli_usage_error("snp ticket: -o FILE is required");
    if (!!a->sim_path == a->local)
        return cli_usage_error("snp ticket: give exactly one of --sim, --local");
    if (a->sim_init && cli_is_stdin(a->sim_path))
        return cli_usage_error("snp ticket: --sim-init cannot create '-' (stdin)");
    if (!a->have_peer && mk_id_random(&a->peer) < 0)
        return cli_fail(CLI_IO, "snp ticket: no randomness");
    cli_json = a->json;
    return CLI_CONTINUE;
}

static int ticket_sim_source(const ticket_args *a, ticket_run *r) {
    struct stat st;
    if (!a->sim_init && !cli_is_stdin(a->sim_path) && stat(a->sim_path, &st) != 0)
        return cli_fail(CLI_IO, "snp ticket: %s does not exist (add --sim-init)", a->sim_path);
    const char *path = cli_input_path(a->sim_path, &r->err);
    if (!path) return cli_fail_err("snp ticket: --sim", &r->err);
    mk_snp_sim_config cfg = {.now = a->now};
    int rc = a->sim_init ? mk_snp_sim_load_or_create(path, &cfg, &r->sim, &r->err)
                         : mk_snp_sim_load(path, &r->sim, &r->err);
    if (rc < 0) return cli_fail_err("snp ticket: simulator", &r->err);
    if (mk_snp_provider_sim_new(r->sim, &a->guest, &r->prov, &r->err) < 0)
        return cli_fail_err("snp ticket: simulator", &r->err);
    fprintf(stderr, "mosaik: snp ticket: SIMULATED report (not real SEV-SNP)\n");
    return CLI_CONTINUE;
}

static int ticket_print(const ticket_args *a, const ticket_run *r) {
    char ph[MK_ID_HEX_LEN], nh[MK_ID_HEX_LEN];
    mk_id_to_hex(&a->peer, ph);
    mk_id_to_hex(&a->net, nh);
    if (!a->json) {
        printf("ticket: %s (%zu bytes)\npeer_id: %s\nnetwork_id: %s\nprovider: %s\n", a->out_path,
               r->t.len, ph, nh, mk_tee_provider_name(r->prov));
        return CLI_OK;
    }
    char exp[MK_RFC3339_LEN];
    mk_time_format_rfc3339(mk_now() + a->expires_in, exp);
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:b, s:s}", "ticket", a->out_path, "bytes",
                          (json_int_t)r->t.len, "peer_id", ph, "network_id", nh, "provider",
                          mk_tee_provider_name(r->prov), "simulated",
                          mk_tee_provider_is_simulated(r->prov), "expires", exp);
    cli_emit(o);
    json_decref(o);
    return CLI_OK;
}

static int ticket_make(const ticket_args *a, ticket_run *r) {
    if (a->sim_path) {
        int rc = ticket_sim_source(a, r);
        if (rc != CLI_CONTINUE) return rc;
    } else if (mk_snp_provider_auto_new(&r->prov, &r->err) < 0) {
        return cli_fail_err("snp ticket", &r->err);
    }
    if (a->vmpl >= 0) mk_snp_provider_set_vmpl(r->prov, a->vmpl);
    mk_snp_attester_config ac;
    mk_snp_attester_config_init(&ac);
    ac.provider = r->prov;
    if (mk_snp_attester_new(&ac, &r->att, &r->err) < 0 ||
        mk_tee_attester_ticket_with_expiration(r->att, &a->peer, &a->net, a->started,
                                               mk_now() + a->expires_in, &r->t, &r->err) < 0 ||
        mk_file_write(a->out_path, r->t.data, r->t.len, 0644, &r->err) < 0)
        return cli_fail_err("snp ticket", &r->err);
    return ticket_print(a, r);
}

int cli_snp_ticket(int argc, char **argv) {
    ticket_args a;
    int rc = ticket_parse(argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    ticket_run r;
    memset(&r, 0, sizeof r);
    mk_error_clear(&r.err);
    rc = ticket_make(&a, &r);
    mk_ticket_free(&r.t);
    mk_tee_attester_free(r.att);
    mk_tee_provider_free(r.prov);
    mk_snp_sim_free(r.sim);
    return rc;
}
