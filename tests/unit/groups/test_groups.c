/*
 * Groups: id derivation, the bond proof, and a 3-node raft group in one
 * process over the bridged transport (counter state machine): commits,
 * forwarding from followers, weak and strong queries, conditions, leader
 * failover, a partitioned minority, a late joiner catching up by snapshot.
 */
#include "groups_util.h"

#include "groups/groups_internal.h"
#include "mosaik/jwt.h"

/* ----- (a) identity ------------------------------------------------------- */

static mk_validator *hs_validator(const char *secret, const char *issuer) {
    mk_jwt_key *k = NULL;
    mk_error err;
    mk_error_clear(&err);
    char sec[33];
    snprintf(sec, sizeof sec, "%-32s", secret); /* HS256 wants >= 32 bytes */
    TU_ASSERT_RC(mk_jwt_key_hs(MK_JWT_HS256, sec, 32, &k, &err), 0, &err);
    mk_jwt_validator_config o;
    mk_jwt_validator_config_init(&o);
    const char *iss[1] = {issuer};
    o.issuers = iss;
    o.n_issuers = 1;
    const mk_jwt_key *ks[1] = {k};
    o.keys = ks;
    o.n_keys = 1;
    mk_validator *v = NULL;
    TU_ASSERT_RC(mk_jwt_validator_new(&o, &v, &err), 0, &err);
    assert_non_null(v);
    mk_jwt_key_free(k);
    return v;
}

static void test_group_id(void **state) {
    (void)state;
    mk_id key, sm1, sm2, a, b, c, d, e;
    mk_id_from_name(&key, "k");
    mk_id_from_name(&sm1, "sm1");
    mk_id_from_name(&sm2, "sm2");
    mk_validator_set v1, v2, v12, v21;
    mk_validator_set_init(&v1);
    mk_validator_set_init(&v2);
    mk_validator_set_init(&v12);
    mk_validator_set_init(&v21);
    assert_int_equal(mk_validator_set_add(&v1, hs_validator("s1", "iss")), 0);
    assert_int_equal(mk_validator_set_add(&v2, hs_validator("s1", "other-iss")), 0);
    assert_int_equal(mk_validator_set_add(&v12, hs_validator("s1", "iss")), 0);
    assert_int_equal(mk_validator_set_add(&v12, hs_validator("s2", "iss")), 0);
    assert_int_equal(mk_validator_set_add(&v21, hs_validator("s2", "iss")), 0);
    assert_int_equal(mk_validator_set_add(&v21, hs_validator("s1", "iss")), 0);

    mk_group_id_derive(&key, &sm1, &v1, &a);
    mk_group_id_derive(&key, &sm1, &v1, &b);
    assert_true(mk_id_eq(&a, &b)); /* deterministic */
    mk_group_id_derive(&key, &sm1, &v2, &c);
    assert_false(mk_id_eq(&a, &c)); /* other validator config */
    mk_group_id_derive(&key, &sm2, &v1, &d);
    assert_false(mk_id_eq(&a, &d)); /* other state machine */
    mk_group_id_derive(&key, &sm1, &v12, &e);
    assert_false(mk_id_eq(&a, &e)); /* one more validator */
    mk_id f;
    mk_group_id_derive(&key, &sm1, &v21, &f);
    assert_true(mk_id_eq(&e, &f)); /* order-independent */
    mk_id key2, g1;
    mk_id_from_name(&key2, "k2");
    mk_group_id_derive(&key2, &sm1, &v1, &g1);
    assert_false(mk_id_eq(&a, &g1)); /* other key */
    mk_id none;
    mk_group_id_derive(&key, &sm1, NULL, &none);
    assert_false(mk_id_eq(&a, &none));

    /* Keys from validator sets: same config, same key; else different. */
    mk_id k1, k1b, k2, k12;
    mk_group_key_from_validators(&v1, &k1);
    mk_validator_set v1b;
    mk_validator_set_init(&v1b);
    assert_int_equal(mk_validator_set_add(&v1b, hs_validator("s1", "iss")), 0);
    mk_group_key_from_validators(&v1b, &k1b);
    mk_group_key_from_validators(&v2, &k2);
    mk_group_key_from_validators(&v12, &k12);
    assert_true(mk_id_eq(&k1, &k1b));
    assert_false(mk_id_eq(&k1, &k2));
    assert_false(mk_id_eq(&k1, &k12));

    /* Raft ids: nonzero, distinct for distinct peers. */
    assert_true(mk_group_rid_of(&a) != 0);
    assert_true(mk_group_rid_of(&a) != mk_group_rid_of(&c));

    mk_validator_set_free(&v1);
    mk_validator_set_free(&v1b);
    mk_validator_set_free(&v2);
    mk_validator_set_free(&v12);
    mk_validator_set_free(&v21);
}

static void test_bond_mac(void **state) {
    (void)state;
    mk_id key, key2, gid, gid2;
    mk_id_from_name(&key, "key");
    mk_id_from_name(&key2, "key2");
    mk_id_from_name(&gid, "g");
    mk_id_from_name(&gid2, "g2");
    uint8_t ex[32], ex2[32], m[32], m2[32];
    memset(ex, 1, sizeof ex);
    memset(ex2, 2, sizeof ex2);
    assert_int_equal(mk_group_bond_mac(&key, &gid, 0, 0, ex, m), 0);
    assert_int_equal(mk_group_bond_mac(&key, &gid, 0, 0, ex, m2), 0);
    assert_memory_equal(m, m2, 32);
    /* every input matters */
    assert_int_equal(mk_group_bond_mac(&key2, &gid, 0, 0, ex, m2), 0);
    assert_memory_not_equal(m, m2, 32);
    assert_int_equal(mk_group_bond_mac(&key, &gid2, 0, 0, ex, m2), 0);
    assert_memory_not_equal(m, m2, 32);
    assert_int_equal(mk_group_bond_mac(&key, &gid, 1, 0, ex, m2), 0); /* no reflection */
    assert_memory_not_equal(m, m2, 32);
    assert_int_equal(mk_group_bond_mac(&key, &gid, 0, 1, ex, m2), 0); /* role bound */
    assert_memory_not_equal(m, m2, 32);
    assert_int_equal(mk_group_bond_mac(&key, &gid, 0, 0, ex2, m2), 0); /* channel bound */
    assert_memory_not_equal(m, m2, 32);
}

/* ----- (b) a 3-node group ------------------------------------------------- */

typedef struct node {
    mk_network *nw;
    mk_group *g;
    tg_counter c;
    char *dir;
    mk_id id;
} node;

static void node_join(node *n, const mk_id *key, bool boot, mk_group_role role,
                      unsigned snap_threshold) {
    mk_group_config cfg;
    mk_group_config_init(&cfg);
    cfg.key = *key;
    mk_id_from_name(&cfg.sm_signature, "test.counter.v1");
    mk_group_sm sm = tg_counter_sm(&n->c);
    cfg.sm = &sm;
    cfg.data_dir = n->dir;
    cfg.bootstrap = boot;
    cfg.role = role;
    cfg.election_ms = 300;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    cfg.snapshot_threshold = snap_threshold;
    cfg.snapshot_trailing = snap_threshold ? 2 : 0;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(tg_join(n->nw, &cfg, &n->g, &err), 0, &err);
}

static void node_new(node *n, const char *tag, mk_network *boot) {
    memset(n, 0, sizeof *n);
    n->nw = tg_net("groups-test", boot);
    mk_network_peer_id(n->nw, &n->id);
    n->dir = tg_tmpdir(tag);
}

static void node_stop(node *n) {
    tg_group_free(n->g);
    n->g = NULL;
    tg_net_free(n->nw);
    n->nw = NULL;
}

static void node_free(node *n) {
    if (n->g || n->nw) node_stop(n);
    tg_dir_free(n->dir);
}

static int leader_of(node *ns, size_t k) {
    for (size_t i = 0; i < k; i++) {
        if (!ns[i].g) continue;
        mk_group_status s;
        mk_group_status_get(ns[i].g, &s);
        if (s.is_leader) return (int)i;
    }
    return -1;
}

static void cut(node *ns, size_t a, size_t b, bool on) {
    mk_group_partition(ns[a].g, &ns[b].id, on);
    mk_group_partition(ns[b].g, &ns[a].id, on);
}

static void test_three_nodes(void **state) {
    (void)state;
    mk_id key;
    mk_id_from_name(&key, "three-node-key");
    static node ns[4]; /* outlives a failed assertion (the teardown) */
    node_new(&ns[0], "a", NULL);
    node_new(&ns[1], "b", ns[0].nw);
    node_new(&ns[2], "c", ns[0].nw);
    node_join(&ns[0], &key, true, MK_GROUP_WRITER, 16);
    node_join(&ns[1], &key, false, MK_GROUP_WRITER, 16);
    node_join(&ns[2], &key, false, MK_GROUP_WRITER, 16);

    if (mk_group_wait(ns[0].g, MK_GROUP_IS_LEADER, 0, 15000) != 0) {
        mk_group_status s0;
        mk_group_status_get(ns[0].g, &s0);
        fail_msg("no leader: members %u voters %u term %llu applied %llu in_config %d", s0.members,
                 s0.voters, (unsigned long long)s0.term, (unsigned long long)s0.applied,
                 s0.in_config);
    }
    if (mk_group_wait(ns[0].g, MK_GROUP_MEMBERS, 3, 15000) != 0) {
        for (int i = 0; i < 3; i++) {
            mk_group_status s0;
            mk_group_status_get(ns[i].g, &s0);
            print_message("node %d: members %u bonds %u refused %llu peers %zu leader %d\n", i,
                          s0.members, s0.bonds, (unsigned long long)s0.bonds_refused,
                          mk_network_peer_count(ns[i].nw), s0.is_leader);
        }
        fail_msg("members did not join");
    }
    for (int i = 0; i < 3; i++) {
        if (mk_group_wait(ns[i].g, MK_GROUP_ONLINE, 0, 10000) != 0) {
            mk_group_status s0;
            mk_group_status_get(ns[i].g, &s0);
            fail_msg("node %d offline: members %u voters %u bonds %u leader_known %d in_config %d "
                     "applied %llu commit %llu",
                     i, s0.members, s0.voters, s0.bonds, s0.leader_known, s0.in_config,
                     (unsigned long long)s0.applied, (unsigned long long)s0.commit);
        }
    }
    mk_group_status s;
    TG_WAIT((mk_group_status_get(ns[0].g, &s), s.voters == 3), 10000, "three voters");

    /* Commands from the leader and from followers (forwarded). */
    assert_int_equal(tg_add(ns[0].g, 5, 5000), 5);
    assert_int_equal(tg_add(ns[1].g, 7, 5000), 12);
    assert_int_equal(tg_add(ns[2].g, -2, 5000), 10);
    for (int i = 0; i < 40; i++)
        assert_true(tg_add(ns[i % 3].g, 1, 5000) != INT64_MIN);
    /* Strong query on a follower sees everything committed. */
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_group_query(ns[2].g, MK_GROUP_STRONG, "", 0, &q, 5000, &err), 0, &err);
    assert_int_equal(tg_get64(q.data), 50);
    mk_buf_reset(&q);
    /* Weak: after waiting for the index, local reads agree. */
    mk_group_status_get(ns[0].g, &s);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mk_group_wait(ns[i].g, MK_GROUP_INDEX, s.applied, 5000), 0);
        TU_ASSERT_RC(mk_group_query(ns[i].g, MK_GROUP_WEAK, "", 0, &q, 0, &err), 0, &err);
        assert_int_equal(tg_get64(q.data), 50);
        mk_buf_reset(&q);
    }

    /* A partitioned minority cannot commit; the majority can. */
    cut(ns, 2, 0, true);
    cut(ns, 2, 1, true);
    uint8_t one[8];
    tg_put64(one, 1);
    assert_int_equal(mk_group_apply(ns[2].g, one, 8, NULL, 1500, &err) < 0, 1);
    assert_int_equal(tg_add(ns[0].g, 100, 5000), 150);
    cut(ns, 2, 0, false);
    cut(ns, 2, 1, false);
    mk_group_status_get(ns[0].g, &s);
    assert_int_equal(mk_group_wait(ns[2].g, MK_GROUP_INDEX, s.applied, 10000), 0);
    TU_ASSERT_RC(mk_group_query(ns[2].g, MK_GROUP_WEAK, "", 0, &q, 0, &err), 0, &err);
    {
        mk_group_status s2;
        mk_group_status_get(ns[2].g, &s2);
        print_message(
            "leader applied %llu lead %d; node2 applied %llu lead %d value %lld restored %llu\n",
            (unsigned long long)s.applied, s.is_leader, (unsigned long long)s2.applied,
            s2.is_leader, (long long)tg_get64(q.data), (unsigned long long)s2.snapshots_restored);
    }
    assert_int_equal(tg_get64(q.data), 150);
    mk_buf_reset(&q);

    /* A late joiner catches up by snapshot (threshold 16 entries). */
    node_new(&ns[3], "d", ns[0].nw);
    node_join(&ns[3], &key, false, MK_GROUP_WRITER, 16);
    assert_int_equal(mk_group_wait(ns[0].g, MK_GROUP_MEMBERS, 4, 15000), 0);
    mk_group_status_get(ns[0].g, &s);
    assert_int_equal(mk_group_wait(ns[3].g, MK_GROUP_INDEX, s.applied, 10000), 0);
    TU_ASSERT_RC(mk_group_query(ns[3].g, MK_GROUP_WEAK, "", 0, &q, 0, &err), 0, &err);
    assert_int_equal(tg_get64(q.data), 150);
    mk_buf_reset(&q);
    mk_group_status_get(ns[3].g, &s);
    assert_true(s.snapshots_restored >= 1);
    assert_true(ns[3].c.applied < 40); /* did not replay the whole log */

    /* Leader failover: stop the leader; the others elect one and commit. */
    int l = leader_of(ns, 4);
    assert_true(l >= 0);
    node_stop(&ns[l]);
    int nl = -1;
    TG_WAIT((nl = leader_of(ns, 4)) >= 0 && nl != l, 10000, "a new leader");
    assert_int_equal(tg_add(ns[nl].g, 1, 10000), 151);
    int other = -1;
    for (int i = 0; i < 4; i++)
        if (i != l && i != nl) other = i;
    /* A follower forwards only to the leader it knows: until the new
     * leader's first message reaches it, it may still name the old one. */
    TG_WAIT(
        (mk_group_status_get(ns[other].g, &s), s.leader_known && mk_id_eq(&s.leader, &ns[nl].id)),
        10000, "the other node to learn the new leader");
    assert_int_equal(tg_add(ns[other].g, 1, 10000), 152);

    mk_buf_free(&q);
    for (int i = 0; i < 4; i++)
        node_free(&ns[i]);
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_id),
        cmocka_unit_test(test_bond_mac),
        cmocka_unit_test_teardown(test_three_nodes, tg_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
