/*
 * Collections with validator specs by value: a declaration gated per
 * instance (MK_TICKET_PER_INSTANCE) opened on two nodes of one process,
 * each with its own JWT validator configuration built on its stack; the
 * two meet (same validator signatures) and replicate, while a third node
 * of the same process, configured with another key, forms no group with
 * them. An any-of of two keys admits a member of each. The configuration
 * rules: instance validators only where the declaration requires a ticket,
 * and at least one when it does.
 */
#include "collections_util.h"
#include "unit/streams/streams_util.h"

MK_COLLECTION_DEF(VAULT, "specs.vault", MK_COLL_MAP, 0, MK_TICKET_PER_INSTANCE);
MK_COLLECTION_DEF(OPEN, "specs.open", MK_COLL_MAP, 0, MK_NO_TICKET);

/* Open VAULT on node i of cu, requiring a JWT of an HS256 key filled with
 * `fill`; the configuration and key live only during the call. */
static int open_vault(cu_cluster *cu, int i, uint8_t fill, bool boot, mk_collection **out,
                      mk_error *err) {
    mk_jwt_key *k = st_hs_key(fill);
    const mk_jwt_key *keys[1] = {k};
    mk_jwt_validator_config jc;
    mk_jwt_validator_config_init(&jc);
    jc.keys = keys;
    jc.n_keys = 1;
    mk_collection_config cfg = {MK_VALIDATORS({mk_validator_factory_jwt, &jc})};
    cu_node_cfg(cu, i, &cfg);
    cfg.bootstrap = boot;
    int rc = tg_coll_open_def(cu->nw[i], &VAULT, &cfg, out, err);
    mk_jwt_key_free(k);
    return rc;
}

static void test_per_instance_validators(void **state) {
    (void)state;
    assert_true(VAULT.require_ticket);
    assert_int_equal(VAULT.n_validators, 0);
    cu_cluster cu;
    cu_start(&cu, "coll-specs", 3);
    mk_jwt_key *ka = st_hs_key(0x41), *kc = st_hs_key(0x43);
    st_give_jwt(cu.nw[0], ka, mk_now() + 3600);
    st_give_jwt(cu.nw[1], ka, mk_now() + 3600);
    st_give_jwt(cu.nw[2], kc, mk_now() + 3600);
    mk_collection *c[3];
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(open_vault(&cu, 0, 0x41, true, &c[0], &err), 0, &err);
    TU_ASSERT_RC(open_vault(&cu, 1, 0x41, false, &c[1], &err), 0, &err);
    TU_ASSERT_RC(open_vault(&cu, 2, 0x43, false, &c[2], &err), 0, &err);
    mk_group *g0 = mk_collection_group(c[0]);
    assert_int_equal(mk_group_wait(g0, MK_GROUP_IS_LEADER, 0, 15000), 0);
    assert_int_equal(mk_group_wait(g0, MK_GROUP_MEMBERS, 2, 15000), 0);
    assert_int_equal(mk_group_wait(mk_collection_group(c[1]), MK_GROUP_ONLINE, 0, 10000), 0);
    uint64_t v = 0;
    TU_ASSERT_RC(mk_map_put(c[0], "k", 1, "v", 1, &v, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_collection_wait_version(c[1], v, 5000), 0, &err);
    mk_buf b = MK_BUF_INIT;
    TU_ASSERT_RC(mk_map_get(c[1], MK_GROUP_WEAK, "k", 1, &b, 5000, &err), 0, &err);
    CU_BUF_IS(b, "v");
    mk_buf_free(&b);
    /* Node 2 required another key: another validator signature, another
     * group; it never joins the first and is not online. */
    mk_id id0, id2;
    mk_group_id(g0, &id0);
    mk_group_id(mk_collection_group(c[2]), &id2);
    assert_false(mk_id_eq(&id0, &id2));
    assert_int_equal(mk_group_wait(mk_collection_group(c[2]), MK_GROUP_ONLINE, 0, 1500),
                     MK_ETIMEDOUT);
    mk_group_status s;
    mk_group_status_get(g0, &s);
    assert_int_equal(s.members, 2);
    cu_close(c, 3);
    mk_jwt_key_free(ka);
    mk_jwt_key_free(kc);
    cu_stop(&cu);
}

/* Per instance, an any-of of two JWT keys: node 0 holds a token of key
 * A, node 1 one of key B, and both are members of one group. */
static void test_any_of_members(void **state) {
    (void)state;
    cu_cluster cu;
    cu_start(&cu, "coll-specs-any", 2);
    mk_jwt_key *ka = st_hs_key(0x51), *kb = st_hs_key(0x52);
    st_give_jwt(cu.nw[0], ka, mk_now() + 3600);
    st_give_jwt(cu.nw[1], kb, mk_now() + 3600);
    mk_collection *c[2];
    mk_error err;
    mk_error_clear(&err);
    for (int i = 0; i < 2; i++) {
        const mk_jwt_key *keys_a[1] = {ka}, *keys_b[1] = {kb};
        mk_jwt_validator_config ja, jb;
        mk_jwt_validator_config_init(&ja);
        mk_jwt_validator_config_init(&jb);
        ja.keys = keys_a;
        ja.n_keys = 1;
        jb.keys = keys_b;
        jb.n_keys = 1;
        mk_collection_config cfg = {MK_VALIDATORS(
            MK_ANY_OF({mk_validator_factory_jwt, &ja}, {mk_validator_factory_jwt, &jb}))};
        cu_node_cfg(&cu, i, &cfg);
        TU_ASSERT_RC(tg_coll_open_def(cu.nw[i], &VAULT, &cfg, &c[i], &err), 0, &err);
    }
    cu_ready(&cu, c);
    uint64_t v = 0;
    TU_ASSERT_RC(mk_map_put(c[1], "b", 1, "2", 1, &v, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_collection_wait_version(c[0], v, 5000), 0, &err);
    cu_close(c, 2);
    mk_jwt_key_free(ka);
    mk_jwt_key_free(kb);
    cu_stop(&cu);
}

static void test_instance_rules(void **state) {
    (void)state;
    cu_cluster cu;
    cu_start(&cu, "coll-specs-rules", 1);
    mk_collection *c = NULL;
    mk_error err;
    mk_error_clear(&err);
    /* Gated per instance but no validator given. */
    mk_collection_config cfg = {0};
    cu_node_cfg(&cu, 0, &cfg);
    assert_int_equal(tg_coll_open_def(cu.nw[0], &VAULT, &cfg, &c, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "require_ticket without any validator");
    assert_null(c);
    /* Validators on an open declaration: refused, not dropped. */
    mk_jwt_key *k = st_hs_key(0x44);
    const mk_jwt_key *keys[1] = {k};
    mk_jwt_validator_config jc;
    mk_jwt_validator_config_init(&jc);
    jc.keys = keys;
    jc.n_keys = 1;
    mk_collection_config o = {MK_VALIDATORS({mk_validator_factory_jwt, &jc})};
    cu_node_cfg(&cu, 0, &o);
    assert_int_equal(tg_coll_open_def(cu.nw[0], &OPEN, &o, &c, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "validators given but require_ticket is false");
    /* A spec that fails names the collection and the validator. */
    jc.n_keys = 0;
    assert_int_equal(tg_coll_open_def(cu.nw[0], &VAULT, &o, &c, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "collection specs.vault: validator 0: jwt factory: no keys");
    /* require_ticket itself stays the declaration's. */
    mk_collection_config r = {.require_ticket = true};
    cu_node_cfg(&cu, 0, &r);
    assert_int_equal(tg_coll_open_def(cu.nw[0], &VAULT, &r, &c, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "come from the declaration");
    assert_null(c);
    mk_jwt_key_free(k);
    cu_stop(&cu);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_per_instance_validators, tg_teardown),
        cmocka_unit_test_teardown(test_any_of_members, tg_teardown),
        cmocka_unit_test_teardown(test_instance_rules, tg_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
