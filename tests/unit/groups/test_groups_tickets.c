/*
 * Ticket-gated groups: JWT (two validators ANDed: a peer needs both
 * tickets), expiry ending a bond and the membership, rejoining with a
 * fresh ticket, a removed ticket ending membership; TDX (simulated
 * quotes): only peers of the right TD bond.
 */
#include "groups_util.h"

#include "groups/groups_internal.h"
#include "mosaik/jwt.h"

typedef struct tnode {
    mk_network *nw;
    mk_group *g;
    tg_counter c;
    char *dir;
    mk_id id;
} tnode;

static void tn_start(tnode *n, const char *tag, mk_network *boot) {
    memset(n, 0, sizeof *n);
    n->nw = tg_net("groups-tickets", boot);
    mk_network_peer_id(n->nw, &n->id);
    n->dir = tg_tmpdir(tag);
}

static void tn_join(tnode *n, const mk_validator_set *vs, bool boot) {
    mk_group_config cfg;
    mk_group_config_init(&cfg);
    mk_group_key_from_validators(vs, &cfg.key); /* no shared secret */
    mk_id_from_name(&cfg.sm_signature, "test.counter.v1");
    mk_group_sm sm = tg_counter_sm(&n->c);
    cfg.sm = &sm;
    cfg.validators = vs;
    cfg.data_dir = n->dir;
    cfg.bootstrap = boot;
    cfg.election_ms = 300;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(tg_join(n->nw, &cfg, &n->g, &err), 0, &err);
}

static void tn_free(tnode *n) {
    tg_group_free(n->g);
    tg_net_free(n->nw);
    tg_dir_free(n->dir);
}

/* A follower forwards commands only to a leader it knows and is bonded
 * with: the leader counting a member does not mean the member has heard
 * from it yet, so wait for that before proposing through the member. */
static void online(tnode *n, const char *what) {
    if (mk_group_wait(n->g, MK_GROUP_ONLINE, 0, 15000) != 0)
        fail_msg("timed out waiting for %s to be online", what);
}

static unsigned members(tnode *n) {
    mk_group_status s;
    mk_group_status_get(n->g, &s);
    return s.members;
}

/* ----- JWT ------------------------------------------------------------------ */

static mk_jwt_key *hs_key(uint8_t fill) {
    uint8_t secret[32];
    memset(secret, fill, sizeof secret);
    mk_jwt_key *k = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_jwt_key_hs(MK_JWT_HS256, secret, 32, &k, &err), 0, &err);
    return k;
}

static mk_validator *jwt_validator(const mk_jwt_key *k, const char *iss) {
    mk_jwt_validator_config o;
    mk_jwt_validator_config_init(&o);
    const char *is[1] = {iss};
    o.issuers = is;
    o.n_issuers = 1;
    o.clock_skew = 0;
    const mk_jwt_key *ks[1] = {k};
    mk_error err;
    o.keys = ks;
    o.n_keys = 1;
    mk_validator *v = NULL;
    TU_ASSERT_RC(mk_jwt_validator_new(&o, &v, &err), 0, &err);
    assert_non_null(v);
    return v;
}

static void jwt_ticket(const mk_jwt_key *k, const char *iss, const mk_id *peer, int64_t exp,
                       mk_ticket *out) {
    mk_jwt_builder *b = mk_jwt_builder_new();
    mk_jwt_builder_set_subject_peer(b, peer);
    mk_jwt_builder_set_issuer(b, iss);
    mk_jwt_builder_set_expires_at(b, exp);
    mk_error err;
    TU_ASSERT_RC(mk_jwt_builder_ticket(b, k, mk_now(), out, &err), 0, &err);
    mk_jwt_builder_free(b);
}

static void give(tnode *n, const mk_jwt_key *k, const char *iss, int64_t exp, mk_ticket *keep) {
    mk_ticket t;
    jwt_ticket(k, iss, &n->id, exp, &t);
    mk_error err;
    TU_ASSERT_RC(mk_network_add_ticket(n->nw, &t, &err), 0, &err);
    if (keep)
        *keep = t;
    else
        mk_ticket_free(&t);
}

static void test_jwt_group(void **state) {
    (void)state;
    mk_jwt_key *k1 = hs_key(0x11), *k2 = hs_key(0x22);
    mk_validator_set vs;
    mk_validator_set_init(&vs);
    assert_int_equal(mk_validator_set_add(&vs, jwt_validator(k1, "issuer-one")), 0);
    assert_int_equal(mk_validator_set_add(&vs, jwt_validator(k2, "issuer-two")), 0);

    int64_t now = mk_now(), hour = now + 3600;
    static tnode n[4]; /* outlives a failed assertion (the teardown) */
    tn_start(&n[0], "ja", NULL);
    for (int i = 1; i < 4; i++)
        tn_start(&n[i], "jx", n[0].nw);
    mk_ticket b_one;
    give(&n[0], k1, "issuer-one", hour, NULL);
    give(&n[0], k2, "issuer-two", hour, NULL);
    give(&n[1], k1, "issuer-one", hour, &b_one);
    give(&n[1], k2, "issuer-two", hour, NULL);
    give(&n[2], k1, "issuer-one", hour, NULL);
    give(&n[2], k2, "issuer-two", now + 8, NULL); /* C: expires soon */
    give(&n[3], k1, "issuer-one", hour, NULL);    /* D: only one of two */
    tn_join(&n[0], &vs, true);
    for (int i = 1; i < 4; i++)
        tn_join(&n[i], &vs, false);

    TG_WAIT(members(&n[0]) == 3, 10000, "A, B and C to join");
    online(&n[2], "C");
    online(&n[1], "B");
    /* C's second ticket must still be valid here: its expiry (now + 8)
     * leaves room for joining on a loaded machine under sanitizers. */
    if (mk_now() >= now + 7)
        fail_msg("setup took %lld s: C's ticket expires too soon", (long long)(mk_now() - now));
    assert_int_equal(tg_add(n[2].g, 1, 5000), 1);
    assert_int_equal(tg_add(n[1].g, 1, 5000), 2);
    /* D carries only one ticket of the two required: never bonds. A and B
     * have judged D's entry (and refused it) before that is checked. */
    TG_WAIT(tg_judged_refused(n[0].g, &n[3].id) && tg_judged_refused(n[1].g, &n[3].id), 10000,
            "A and B to judge D's entry");
    assert_false(mk_group_bonded(n[0].g, &n[3].id));
    assert_false(mk_group_bonded(n[1].g, &n[3].id));
    assert_int_equal(members(&n[0]), 3);
    mk_group_status s;
    mk_group_status_get(n[3].g, &s);
    assert_false(s.in_config);

    /* C's second ticket expires: its bonds close, the leader removes it. */
    TG_WAIT(!mk_group_bonded(n[0].g, &n[2].id) && members(&n[0]) == 2, 15000,
            "C's expiry to end its membership");
    mk_group_status_get(n[0].g, &s);
    assert_true(s.bonds_expired >= 1);
    assert_int_equal(tg_add(n[0].g, 1, 5000), 3); /* A and B still commit */

    /* C rejoins with a fresh ticket. */
    mk_ticket fresh;
    jwt_ticket(k2, "issuer-two", &n[2].id, hour, &fresh);
    mk_error err;
    TU_ASSERT_RC(mk_network_add_ticket(n[2].nw, &fresh, &err), 0, &err);
    mk_ticket_free(&fresh);
    TG_WAIT(members(&n[0]) == 3 && mk_group_bonded(n[0].g, &n[2].id), 10000, "C to rejoin");
    online(&n[2], "C");
    assert_int_equal(tg_add(n[2].g, 1, 5000), 4);

    /* B's ticket is removed: bond and membership end. */
    TU_ASSERT_RC(mk_network_remove_ticket(n[1].nw, &b_one, &err), 0, &err);
    mk_ticket_free(&b_one);
    TG_WAIT(!mk_group_bonded(n[0].g, &n[1].id) && members(&n[0]) == 2, 15000,
            "B's removed ticket to end its membership");
    assert_int_equal(tg_add(n[2].g, 1, 5000), 5);

    for (int i = 3; i >= 0; i--)
        tn_free(&n[i]);
    mk_validator_set_free(&vs);
    mk_jwt_key_free(k1);
    mk_jwt_key_free(k2);
}

/* ----- TDX (simulated) -------------------------------------------------------- */

#if MOSAIK_HAVE_TDX
static void tdx_install(tnode *n, mk_tdx_attester *att) {
    mk_id nid;
    mk_network_id(n->nw, &nid);
    mk_peer_entry local;
    mk_network_local_entry(n->nw, &local);
    mk_ticket_sink sink = {mk_network_sink_add_ticket, n->nw};
    mk_error err;
    TU_ASSERT_RC(
        mk_tdx_attester_install_own_ticket(att, &n->id, &nid, local.started_at, &sink, NULL, &err),
        0, &err);
    mk_peer_entry_free(&local);
}

static void test_tdx_group(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim *sim;
    int64_t now = mk_now();
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = now}, &sim, &err), 0, &err);
    mk_tdx_collateral *coll;
    TU_ASSERT_RC(mk_tdx_sim_collateral(sim, now, &coll, &err), 0, &err);
    mk_tdx_sim_td good, bad;
    mk_tdx_sim_td_default(&good);
    memset(good.mr_td, 0xab, 48);
    mk_tdx_sim_td_default(&bad);
    memset(bad.mr_td, 0xcd, 48);
    mk_tdx_provider *pg = NULL;
    assert_int_equal(mk_tdx_provider_sim_new(sim, &good, &pg, NULL), 0);
    mk_tdx_provider *pb = NULL;
    assert_int_equal(mk_tdx_provider_sim_new(sim, &bad, &pb, NULL), 0);
    mk_tdx_attester *ag, *ab;
    TU_ASSERT_RC(mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = pg, .collateral = coll},
                                     &ag, &err),
                 0, &err);
    TU_ASSERT_RC(mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = pb, .collateral = coll},
                                     &ab, &err),
                 0, &err);

    const uint8_t *root;
    size_t root_len;
    mk_tdx_sim_root_der(sim, &root, &root_len);
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    TU_ASSERT_RC(mk_tdx_validator_opts_trust_simulator(o, root, root_len, &err), 0, &err);
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), good.mr_td);
    mk_validator *v = mk_tdx_validator_new(o, &err);
    assert_non_null(v);
    mk_tdx_validator_opts_free(o);
    mk_validator_set vs;
    mk_validator_set_init(&vs);
    assert_int_equal(mk_validator_set_add(&vs, v), 0);

    static tnode n[4];
    tn_start(&n[0], "ta", NULL);
    for (int i = 1; i < 4; i++)
        tn_start(&n[i], "tx", n[0].nw);
    for (int i = 0; i < 3; i++)
        tdx_install(&n[i], ag);
    tdx_install(&n[3], ab); /* another TD: refused */
    tn_join(&n[0], &vs, true);
    for (int i = 1; i < 4; i++)
        tn_join(&n[i], &vs, false);
    TG_WAIT(members(&n[0]) == 3, 15000, "the three good TDs to join");
    online(&n[1], "the second TD");
    assert_int_equal(tg_add(n[1].g, 2, 5000), 2);
    /* The leader has judged the other TD's entry (and refused it). */
    TG_WAIT(tg_judged_refused(n[0].g, &n[3].id), 10000, "the leader to judge the other TD");
    assert_false(mk_group_bonded(n[0].g, &n[3].id));
    assert_int_equal(members(&n[0]), 3);

    /* A removed TDX ticket ends the bond and the membership. */
    mk_id cls;
    mk_tdx_ticket_class(&cls);
    TU_ASSERT_RC(mk_network_remove_tickets_of(n[2].nw, &cls, NULL, &err), 0, &err);
    TG_WAIT(!mk_group_bonded(n[0].g, &n[2].id) && members(&n[0]) == 2, 8000,
            "the removed TDX ticket to end membership");
    assert_int_equal(tg_add(n[0].g, 1, 5000), 3);

    for (int i = 3; i >= 0; i--)
        tn_free(&n[i]);
    mk_validator_set_free(&vs);
    mk_tdx_attester_free(ag);
    mk_tdx_attester_free(ab);
    mk_tdx_provider_free(pg);
    mk_tdx_provider_free(pb);
    mk_tdx_collateral_free(coll);
    mk_tdx_sim_free(sim);
}
#endif

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_jwt_group, tg_teardown),
#if MOSAIK_HAVE_TDX
        cmocka_unit_test_teardown(test_tdx_group, tg_teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
