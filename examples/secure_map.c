/*
 * examples/secure_map.c — the design's second example: a replicated map
 * open only to peers that run what this machine runs (the same MRTD and
 * RTMR2 as the local trust domain's own quote).
 *
 * Two nodes in one process, each a (simulated) TD of the same image:
 * each attests itself in one call (renewed by the library) and opens the
 * map with a validator built from its *own* measurements, so the map's
 * group admits exactly the peers whose quotes match them. On TDX hardware
 * use mk_tdx_provider_auto_new and real collateral instead of the
 * simulator, whose test root is trusted here explicitly.
 *
 * usage: secure_map DATA_DIR   (the raft logs go in DATA_DIR/a, DATA_DIR/b)
 * On an error it prints the reason and exits 1 at once (TRY).
 */
#include <stdio.h>

#include <mosaik/mosaik.h>

#define TRY(call)                                                                                  \
    if ((rc = (call)) < 0)                                                                         \
    return fprintf(stderr, "secure_map: %s\n", err.msg[0] ? err.msg : mk_strerror(rc)), 1

static mk_error err;
static mk_tdx_sim *sim;

typedef struct node {
    mk_network *nw;
    mk_tee_provider *td;
    mk_attestation *at;
    mk_collection *map;
} node;

/* Node `name`: network, attested TD, and the map gated by its own MRTD and RTMR2. */
static int node_start(node *n, const char *name, const char *dir, const char *boot) {
    int rc;
    char path[4096];
    mk_network_config nc;
    mk_network_config_init(&nc);
    nc.network = "example-vault";
    nc.bootstrap = (const char *[]){boot}, nc.n_bootstrap = boot ? 1 : 0;
    TRY(mk_network_new(&nc, &n->nw, &err));
    mk_buf coll = MK_BUF_INIT;
    TRY(mk_tdx_provider_sim_new(sim, NULL, &n->td, &err));
    TRY(mk_tdx_sim_collateral_json(sim, mk_now(), &coll, &err));
    mk_attestation_opts ao;
    mk_attestation_opts_init(&ao);
    ao.endorsements = coll.data, ao.endorsements_len = coll.len;
    TRY(mk_network_attest(n->nw, n->td, &ao, &n->at, &err));
    mk_buf_free(&coll);

    mk_tdx_validator_opts *own = mk_tdx_validator_opts_new();
    const uint8_t *root;
    size_t root_len;
    mk_tdx_sim_root_der(sim, &root, &root_len);
    TRY(mk_tdx_validator_opts_trust_simulator(own, root, root_len, &err));
    TRY(mk_tdx_validator_opts_require_own(own, n->td, MK_TDX_REQ_MRTD | MK_TDX_REQ_RTMR2, &err));
    snprintf(path, sizeof path, "%s/%s", dir, name);
    mk_collection_config cc = {MK_VALIDATORS(MK_TDX(.opts = own))};
    cc.name = "vault", cc.kind = MK_COLL_MAP, cc.require_ticket = true;
    cc.data_dir = path, cc.bootstrap = boot == NULL;
    TRY(mk_collection_new(n->nw, &cc, &n->map, &err));
    mk_tdx_validator_opts_free(own); /* the collection copied it */
    return 0;
}

static void node_free(node *n) {
    mk_collection_free(n->map);
    mk_attestation_free(n->at);
    mk_network_free(n->nw);
    mk_tee_provider_free(n->td);
}

int main(int argc, char **argv) {
    int rc;
    node a = {0}, b = {0};
    char contact[MK_NETWORK_CONTACT_MAX];
    if (argc != 2) return fprintf(stderr, "usage: secure_map DATA_DIR\n"), 2;
    TRY(mk_tdx_sim_new(NULL, &sim, &err));
    if (node_start(&a, "a", argv[1], NULL)) return 1;
    TRY(mk_network_contact(a.nw, contact, sizeof contact));
    if (node_start(&b, "b", argv[1], contact)) return 1;

    uint64_t version;
    TRY(mk_map_put(b.map, "owner", 5, "alice", 5, &version, 20000, &err));
    TRY(mk_collection_wait_version(a.map, version, 10000));
    mk_buf v = MK_BUF_INIT;
    TRY(mk_map_get(a.map, MK_GROUP_WEAK, "owner", 5, &v, 5000, &err));
    printf("a reads what b wrote: owner = %.*s\n", (int)v.len, (const char *)v.data);

    mk_buf_free(&v);
    node_free(&b);
    node_free(&a);
    mk_tdx_sim_free(sim);
    return 0;
}
