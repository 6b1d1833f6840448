/*
 * examples/attest_demo.c — attestation end to end, without a network.
 *
 * Five nodes of one network each present (or fail to present) a TDX
 * attestation ticket; a validator that requires the expected MRTD judges
 * them, as a stream or group would at admission:
 *
 *   node-a, node-b  the expected MRTD                    → admitted
 *   node-c          a different MRTD                     → refused (why)
 *   node-d          no ticket                            → refused (why)
 *   node-e          the expected MRTD, short-lived ticket → admitted, then
 *                                                          refused once expired
 *   node-f          replays node-a's ticket as its own   → refused (binding)
 *
 * The quotes come from the TDX *simulator*: a software TD signing through a
 * test chain whose root is not Intel's. The validator accepts them only
 * because this program explicitly trusts that root. On a TDX machine,
 * make the provider with mk_tdx_provider_auto_new instead of
 * mk_tdx_provider_sim_new and drop the trust call.
 *
 * usage: attest_demo [--expire-after SECONDS] [--json]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosaik/mosaik.h>

typedef struct node {
    const char *name;
    mk_ed25519_key key;
    mk_tdx_sim_td td;
    int ticket_kind; /* 0 none, 1 normal, 2 short-lived, 3 replay of node 0 */
    mk_ticket ticket;
    bool has_ticket;
} node;

static bool json;

static void report(const char *name, const mk_id *peer, bool ok, mk_expiration exp,
                   const char *reason) {
    char hex[9];
    mk_id_short(peer, hex);
    if (json) {
        printf("{\"node\":\"%s\",\"peer\":\"%s\",\"admitted\":%s", name, hex,
               ok ? "true" : "false");
        if (ok) {
            printf(",\"expires\":%lld", (long long)exp);
        } else {
            printf(",\"reason\":\"");
            for (const char *p = reason; *p; p++) {
                if (*p == '"' || *p == '\\') putchar('\\');
                putchar(*p);
            }
            printf("\"");
        }
        printf(",\"simulated\":true}\n");
        return;
    }
    if (ok) {
        char when[MK_RFC3339_LEN];
        mk_time_format_rfc3339(exp, when);
        printf("  %-7s %s  ADMITTED  (ticket valid until %s)\n", name, hex, when);
    } else {
        printf("  %-7s %s  REFUSED   %s\n", name, hex, reason);
    }
}

static void judge(mk_validator *v, node *nodes, size_t n, const mk_id *network) {
    int64_t now = mk_now();
    for (size_t i = 0; i < n; i++) {
        mk_peer_view pv = {.peer_id = {{0}}, .network_id = *network};
        memcpy(pv.peer_id.b, nodes[i].key.public_key, 32);
        pv.tickets = nodes[i].has_ticket ? &nodes[i].ticket : NULL;
        pv.n_tickets = nodes[i].has_ticket ? 1 : 0;
        mk_expiration exp = 0;
        mk_error err;
        mk_error_clear(&err);
        int rc = mk_validator_check(v, &pv, now, &exp, &err);
        report(nodes[i].name, &pv.peer_id, rc == 0, exp, err.msg);
    }
}

static int fail(const char *what, const mk_error *err) {
    fprintf(stderr, "attest_demo: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv) {
    int expire_after = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--expire-after") && i + 1 < argc) {
            expire_after = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: attest_demo [--expire-after SECONDS] [--json]\n");
            return 2;
        }
    }
    if (expire_after < 1) expire_after = 1;
    mk_error err;
    mk_error_clear(&err);
    int64_t now = mk_now();

    if (!json) {
        printf("mosaik attestation demo — THE QUOTES ARE SIMULATED\n"
               "A software TD signs through a test chain whose root is not Intel's; the\n"
               "validator below accepts it only because this demo explicitly trusts it.\n\n");
    }

    mk_tdx_sim *sim = NULL;
    if (mk_tdx_sim_new(&(mk_tdx_sim_config){.now = now}, &sim, &err) < 0)
        return fail("simulator", &err);
    mk_tdx_collateral *coll = NULL;
    if (mk_tdx_sim_collateral(sim, now, &coll, &err) < 0) return fail("sim collateral", &err);

    mk_id network;
    mk_id_from_name(&network, "mosaik-demo");

    node nodes[] = {
        {.name = "node-a", .ticket_kind = 1}, {.name = "node-b", .ticket_kind = 1},
        {.name = "node-c", .ticket_kind = 1}, {.name = "node-d", .ticket_kind = 0},
        {.name = "node-e", .ticket_kind = 2}, {.name = "node-f", .ticket_kind = 3},
    };
    const size_t n = sizeof nodes / sizeof *nodes;
    for (size_t i = 0; i < n; i++) {
        mk_ed25519_generate(&nodes[i].key);
        mk_tdx_sim_td_default(&nodes[i].td);
    }
    /* node-c runs other firmware: a different MRTD. */
    mk_sha384("other firmware", 14, nodes[2].td.mr_td);

    /* Expected MRTD: the one node-a's image has. */
    uint8_t expected[48];
    memcpy(expected, nodes[0].td.mr_td, 48);

    for (size_t i = 0; i < n; i++) {
        node *nd = &nodes[i];
        if (nd->ticket_kind == 0) continue;
        if (nd->ticket_kind == 3) {
            if (mk_ticket_copy(&nd->ticket, &nodes[0].ticket) < 0) return 1;
            nd->has_ticket = true;
            continue;
        }
        mk_tdx_provider *prov = NULL;
        mk_tdx_attester *att = NULL;
        if (mk_tdx_provider_sim_new(sim, &nd->td, &prov, &err) < 0 ||
            mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = prov, .collateral = coll},
                                &att, &err) < 0)
            return fail("attester", &err);
        mk_id peer;
        memcpy(peer.b, nd->key.public_key, 32);
        mk_expiration exp = nd->ticket_kind == 2 ? now + expire_after : now + 3600;
        if (mk_tdx_attester_ticket_with_expiration(att, &peer, &network, now, exp, &nd->ticket,
                                                   &err) < 0)
            return fail("ticket", &err);
        nd->has_ticket = true;
        mk_tdx_attester_free(att);
        mk_tdx_provider_free(prov);
    }

    char hex[97];
    mk_hex_encode(expected, 48, hex);
    const uint8_t *root;
    size_t root_len;
    mk_tdx_sim_root_der(sim, &root, &root_len);
    /* The validator from a spec held by value (what MK_TDX(...) puts in a
     * stream's or collection's requirements). */
    const mk_tdx_spec spec = {
        .mrtd = hex, .sim_root = root, .sim_root_len = root_len, .max_lifetime = 24 * 3600};
    mk_validator *v = mk_tdx_spec_factory(&spec, &err);
    if (!v) return fail("validator", &err);

    if (!json) {
        printf("validator: TDX, MRTD must be %.16s…, collateral carried in the ticket,\n"
               "           full chain + TCB status + report-data binding checked\n\n",
               hex);
        printf("at start:\n");
    }
    judge(v, nodes, n, &network);

    if (!json) printf("\nwaiting %d s for node-e's ticket to expire…\n\n", expire_after + 1);
    sleep((unsigned)expire_after + 1);
    if (!json) printf("after node-e's expiry:\n");
    judge(v, nodes, n, &network);

    mk_validator_free(v);
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].has_ticket) mk_ticket_free(&nodes[i].ticket);
        mk_ed25519_wipe(&nodes[i].key);
    }
    mk_tdx_collateral_free(coll);
    mk_tdx_sim_free(sim);
    return 0;
}
