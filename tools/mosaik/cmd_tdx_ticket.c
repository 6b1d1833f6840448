/*
 * tools/mosaik/cmd_tdx_ticket.c — `mosaik tdx ticket`: make a TDX ticket.
 *
 * The quote comes from the TDX simulator (a state file, created with
 * --sim-init; the quote is SIMULATED and said so on stderr) or from this
 * machine's TD (--local, through the library's automatic provider). The
 * attester binds the peer id, the network id and the ticket's times into
 * the quote's report data; collateral is embedded when asked for (the
 * simulator's own, or a bundle file). The ticket is written to -o FILE and
 * its ids printed. Exit 0 written, 1 failed, 2 on usage errors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd_tdx.h"

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

int cli_tdx_ticket(int argc, char **argv) {
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
            if (cli_tdx_parse_int64("--started-at", optarg, &started)) return CLI_USAGE;
            break;
        case 'e':
            if (cli_tdx_parse_int64("--expires-in", optarg, &expires_in)) return CLI_USAGE;
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
        if (rc < 0) return cli_tdx_fail("tdx ticket: simulator", &err);
        prov = mk_tdx_provider_sim_new(sim, &td);
        if (with_coll && mk_tdx_sim_collateral(sim, now, &coll, &err) < 0) {
            rc = cli_tdx_fail("tdx ticket: simulator collateral", &err);
            goto out;
        }
        fprintf(stderr, "mosaik: tdx ticket: SIMULATED quote (not real TDX)\n");
    } else {
        prov = mk_tdx_provider_auto_new(&err);
        if (!prov) return cli_tdx_fail("tdx ticket", &err);
    }
    if (!prov) {
        rc = cli_tdx_fail("tdx ticket", &err);
        goto out;
    }
    if (coll_path && cli_tdx_load_collateral(coll_path, &coll, &err) < 0) {
        rc = cli_tdx_fail("tdx ticket: collateral", &err);
        goto out;
    }
    if (mk_tdx_attester_new(prov, coll, &att, &err) < 0) {
        rc = cli_tdx_fail("tdx ticket", &err);
        goto out;
    }
    if (mk_tdx_attester_ticket_with_expiration(att, &peer, &net, started, mk_now() + expires_in, &t,
                                               &err) < 0) {
        rc = cli_tdx_fail("tdx ticket", &err);
        goto out;
    }
    if (mk_file_write(out_path, t.data, t.len, 0644, &err) < 0) {
        rc = cli_tdx_fail("tdx ticket", &err);
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
