/*
 * Groups configured with validator specs by value (mk_group_config
 * validator_specs / writer_specs, key_from_validators): two nodes of one
 * process, each with a JWT validator configuration on its own stack, meet
 * and replicate; a third with another key forms no group with them; the
 * spec form and the borrowed-set form of the same validators give the
 * same group id; writer specs change the id; misconfigurations refused.
 */
#include "groups_util.h"

#include "mosaik/jwt.h"

static mk_jwt_key *hs_key(uint8_t fill) {
    uint8_t secret[32];
    memset(secret, fill, sizeof secret);
    mk_jwt_key *k = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_jwt_key_hs(MK_JWT_HS256, secret, 32, &k, &err), 0, &err);
    return k;
}

static void give_jwt(mk_network *nw, const mk_jwt_key *k) {
    mk_id peer;
    mk_network_peer_id(nw, &peer);
    mk_jwt_builder *b = mk_jwt_builder_new();
    assert_non_null(b);
    assert_int_equal(mk_jwt_builder_set_subject_peer(b, &peer), 0);
    assert_int_equal(mk_jwt_builder_set_expires_in(b, 3600), 0);
    mk_ticket t;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_jwt_builder_ticket(b, k, mk_now(), &t, &err), 0, &err);
    TU_ASSERT_RC(mk_network_replace_ticket(nw, &t, &err), 0, &err);
    mk_ticket_free(&t);
    mk_jwt_builder_free(b);
}

typedef struct snode {
    mk_network *nw;
    mk_group *g;
    tg_counter c;
    char *dir;
} snode;

static void base_cfg(snode *n, mk_group_config *cfg, mk_group_sm *sm, bool boot) {
    mk_group_config_init(cfg);
    mk_id_from_name(&cfg->sm_signature, "test.counter.v1");
    *sm = tg_counter_sm(&n->c);
    cfg->sm = sm;
    cfg->data_dir = n->dir;
    cfg->bootstrap = boot;
    cfg->election_ms = 300;
    cfg->heartbeat_ms = 50;
    cfg->tick_ms = 50;
}

/* Join with a JWT spec of a key filled with `fill` (the configuration and
 * key live only during the call); writer: the same as writer spec too. */
static int join_spec(snode *n, uint8_t fill, bool boot, bool writer, mk_error *err) {
    mk_jwt_key *k = hs_key(fill);
    const mk_jwt_key *keys[1] = {k};
    mk_jwt_validator_config jc;
    mk_jwt_validator_config_init(&jc);
    jc.keys = keys;
    jc.n_keys = 1;
    const mk_validator_spec specs[] = {{mk_validator_factory_jwt, &jc}};
    mk_group_config cfg;
    mk_group_sm sm;
    base_cfg(n, &cfg, &sm, boot);
    cfg.validator_specs = specs;
    cfg.n_validator_specs = 1;
    if (writer) {
        cfg.writer_specs = specs;
        cfg.n_writer_specs = 1;
    }
    cfg.key_from_validators = true;
    int rc = tg_join(n->nw, &cfg, &n->g, err);
    mk_jwt_key_free(k);
    return rc;
}

static void sn_start(snode *n, mk_network *boot) {
    memset(n, 0, sizeof *n);
    n->nw = tg_net("groups-specs", boot);
    n->dir = tg_tmpdir("gspec");
}

static void sn_free(snode *n) {
    tg_group_free(n->g);
    tg_net_free(n->nw);
    tg_dir_free(n->dir);
}

static void test_spec_groups_meet(void **state) {
    (void)state;
    snode n[3];
    sn_start(&n[0], NULL);
    sn_start(&n[1], n[0].nw);
    sn_start(&n[2], n[0].nw);
    mk_jwt_key *ka = hs_key(0x61), *kc = hs_key(0x63);
    give_jwt(n[0].nw, ka);
    give_jwt(n[1].nw, ka);
    give_jwt(n[2].nw, kc);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(join_spec(&n[0], 0x61, true, false, &err), 0, &err);
    TU_ASSERT_RC(join_spec(&n[1], 0x61, false, false, &err), 0, &err);
    TU_ASSERT_RC(join_spec(&n[2], 0x63, false, false, &err), 0, &err);
    assert_int_equal(mk_group_wait(n[0].g, MK_GROUP_IS_LEADER, 0, 15000), 0);
    assert_int_equal(mk_group_wait(n[0].g, MK_GROUP_MEMBERS, 2, 15000), 0);
    assert_int_equal(mk_group_wait(n[1].g, MK_GROUP_ONLINE, 0, 15000), 0);
    assert_int_equal(tg_add(n[1].g, 5, 5000), 5);
    mk_id id0, id1, id2;
    mk_group_id(n[0].g, &id0);
    mk_group_id(n[1].g, &id1);
    mk_group_id(n[2].g, &id2);
    assert_true(mk_id_eq(&id0, &id1));
    assert_false(mk_id_eq(&id0, &id2));
    assert_int_equal(mk_group_wait(n[2].g, MK_GROUP_ONLINE, 0, 1500), MK_ETIMEDOUT);
    mk_group_status s;
    mk_group_status_get(n[0].g, &s);
    assert_int_equal(s.members, 2);
    for (int i = 2; i >= 0; i--)
        sn_free(&n[i]);
    mk_jwt_key_free(ka);
    mk_jwt_key_free(kc);
}

/* The same validators as a borrowed set and as a spec: one group id; with
 * both forms at once the validators add up; writer specs change the id. */
static void test_forms_and_rules(void **state) {
    (void)state;
    snode a, b, c, d;
    sn_start(&a, NULL);
    sn_start(&b, a.nw);
    sn_start(&c, a.nw);
    sn_start(&d, a.nw);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(join_spec(&a, 0x62, false, false, &err), 0, &err);
    mk_jwt_key *k = hs_key(0x62);
    const mk_jwt_key *keys[1] = {k};
    mk_jwt_validator_config jc;
    mk_jwt_validator_config_init(&jc);
    jc.keys = keys;
    jc.n_keys = 1;
    mk_validator *v = NULL;
    TU_ASSERT_RC(mk_jwt_validator_new(&jc, &v, &err), 0, &err);
    mk_validator_set vs;
    mk_validator_set_init(&vs);
    assert_int_equal(mk_validator_set_add(&vs, v), 0);
    mk_group_config cfg;
    mk_group_sm sm;
    base_cfg(&b, &cfg, &sm, false);
    cfg.validators = &vs;
    cfg.key_from_validators = true;
    TU_ASSERT_RC(tg_join(b.nw, &cfg, &b.g, &err), 0, &err);
    mk_id ida, idb, idc, idd;
    mk_group_id(a.g, &ida);
    mk_group_id(b.g, &idb);
    assert_true(mk_id_eq(&ida, &idb));
    /* Both forms: the borrowed validator and one more from a spec. */
    mk_jwt_key *k2 = hs_key(0x64);
    const mk_jwt_key *keys2[1] = {k2};
    mk_jwt_validator_config jc2 = jc;
    jc2.keys = keys2;
    const mk_validator_spec more[] = {{mk_validator_factory_jwt, &jc2}};
    base_cfg(&c, &cfg, &sm, false);
    cfg.validators = &vs;
    cfg.validator_specs = more;
    cfg.n_validator_specs = 1;
    cfg.key_from_validators = true;
    TU_ASSERT_RC(tg_join(c.nw, &cfg, &c.g, &err), 0, &err);
    mk_group_id(c.g, &idc);
    assert_false(mk_id_eq(&ida, &idc));
    TU_ASSERT_RC(join_spec(&d, 0x62, false, true, &err), 0, &err);
    mk_group_id(d.g, &idd);
    assert_false(mk_id_eq(&ida, &idd));

    /* Refused: a key together with key_from_validators; a failing spec. */
    snode e;
    sn_start(&e, a.nw);
    base_cfg(&e, &cfg, &sm, false);
    mk_id_from_name(&cfg.key, "secret");
    cfg.key_from_validators = true;
    mk_group *g = NULL;
    assert_int_equal(tg_join(e.nw, &cfg, &g, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "key_from_validators");
    base_cfg(&e, &cfg, &sm, false);
    jc2.n_keys = 0;
    cfg.writer_specs = more;
    cfg.n_writer_specs = 1;
    assert_int_equal(tg_join(e.nw, &cfg, &g, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "group: writer: validator 0: jwt factory: no keys");
    assert_null(g);
    sn_free(&e);
    sn_free(&d);
    sn_free(&c);
    sn_free(&b);
    sn_free(&a);
    mk_validator_set_free(&vs);
    mk_jwt_key_free(k2);
    mk_jwt_key_free(k);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_spec_groups_meet, tg_teardown),
        cmocka_unit_test_teardown(test_forms_and_rules, tg_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
