/*
 * Collections: the state machine alone (every kind, snapshots, hostile
 * snapshots), then each kind replicated on 3 nodes with two writers and a
 * reader (standby): operations from both writers, reads (weak after
 * waiting for a version, and strong) on the reader, the reader refused
 * locally and by the leader, declarations (MK_COLLECTION_DEF) and the
 * require_ticket rules.
 */
#include "collections/coll_internal.h"
#include "groups/groups_internal.h"
#include "unit/groups/groups_util.h"
#include "mosaik/collections.h"
#include "mosaik/jwt.h"

/* ----- the state machine alone ----------------------------------------------- */

static int sm_cmd(mk_group_sm *sm, mk_buf *res, const char *fmt, ...) {
    /* fmt: 'o' op u8, 'b' bstr (char*), 'q' u64, sequence */
    va_list ap;
    va_start(ap, fmt);
    mk_buf cmd = MK_BUF_INIT;
    for (const char *f = fmt; *f; f++) {
        if (*f == 'o') mk_buf_append_u8(&cmd, (uint8_t)va_arg(ap, int));
        if (*f == 'q') mk_buf_append_u64be(&cmd, va_arg(ap, uint64_t));
        if (*f == 'b') {
            const char *s = va_arg(ap, const char *);
            mk_buf_append_u32be(&cmd, (uint32_t)strlen(s));
            mk_buf_append(&cmd, s, strlen(s));
        }
    }
    va_end(ap);
    mk_buf_reset(res);
    int rc = sm->apply(sm->state, cmd.data, cmd.len, res);
    mk_buf_free(&cmd);
    return rc;
}

static void test_state_pq(void **state) {
    (void)state;
    mk_coll_state *s = mk_coll_state_new(MK_COLL_PQ, 3);
    mk_group_sm sm = mk_coll_state_sm(s);
    mk_buf res = MK_BUF_INIT;
    assert_int_equal(sm_cmd(&sm, &res, "oqb", 10, (uint64_t)5, "five"), 0);
    assert_int_equal(sm_cmd(&sm, &res, "oqb", 10, (uint64_t)1, "one"), 0);
    assert_int_equal(sm_cmd(&sm, &res, "oqb", 10, (uint64_t)3, "three"), 0);
    assert_int_equal(sm_cmd(&sm, &res, "oqb", 10, (uint64_t)4, "four"), 0); /* evicts 1 */
    assert_int_equal(res.data[8], 1);
    assert_int_equal(sm_cmd(&sm, &res, "oqb", 10, (uint64_t)0, "zero"), 0); /* refused */
    assert_int_equal(res.data[8], 0);
    assert_int_equal(sm_cmd(&sm, &res, "oqb", 10, (uint64_t)-7, "neg"), 0);
    assert_int_equal(res.data[8], 0);
    /* wrong kind, malformed, trailing bytes: refused, nothing changes */
    assert_int_equal(sm_cmd(&sm, &res, "obb", 1, "k", "v"), MK_EINVAL);
    assert_int_equal(sm_cmd(&sm, &res, "oq", 10, (uint64_t)1), MK_EMALFORMED);
    assert_int_equal(sm_cmd(&sm, &res, "oqbq", 10, (uint64_t)9, "x", (uint64_t)1), MK_EMALFORMED);
    /* snapshot -> restore into a fresh state gives the same pops */
    mk_buf snap = MK_BUF_INIT;
    assert_int_equal(sm.snapshot(sm.state, &snap), 0);
    mk_coll_state *s2 = mk_coll_state_new(MK_COLL_PQ, 3);
    mk_group_sm sm2 = mk_coll_state_sm(s2);
    assert_int_equal(sm2.restore(sm2.state, snap.data, snap.len), 0);
    const char *want[3] = {"five", "four", "three"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sm_cmd(&sm2, &res, "o", 11), 0);
        assert_int_equal(res.len, 16 + strlen(want[i]));
        assert_memory_equal(res.data + 16, want[i], strlen(want[i]));
    }
    assert_int_equal(sm_cmd(&sm2, &res, "o", 11), MK_ENOTFOUND);
    /* Hostile snapshots: every truncation and a flipped byte are refused
     * and leave the state as it was. */
    for (size_t n = 0; n < snap.len; n++)
        assert_true(sm2.restore(sm2.state, snap.data, n) < 0);
    snap.data[4] ^= 1; /* kind */
    assert_true(sm2.restore(sm2.state, snap.data, snap.len) < 0);
    assert_int_equal(sm_cmd(&sm2, &res, "o", 11), MK_ENOTFOUND);
    mk_buf_free(&snap);
    mk_buf_free(&res);
    mk_coll_state_free(s);
    mk_coll_state_free(s2);
}

static void test_state_map_once(void **state) {
    (void)state;
    mk_coll_state *m = mk_coll_state_new(MK_COLL_MAP, 2);
    mk_group_sm sm = mk_coll_state_sm(m);
    mk_buf res = MK_BUF_INIT;
    assert_int_equal(sm_cmd(&sm, &res, "obb", 1, "b", "2"), 0);
    assert_int_equal(sm_cmd(&sm, &res, "obb", 1, "a", "1"), 0);
    assert_int_equal(sm_cmd(&sm, &res, "obb", 1, "c", "3"), MK_ETOOBIG); /* capacity */
    assert_int_equal(sm_cmd(&sm, &res, "obb", 1, "a", "one"), 0);        /* replace */
    assert_int_equal(res.data[8], 1);
    assert_int_equal(mk_coll_state_version(m), 3);
    mk_buf snap = MK_BUF_INIT;
    assert_int_equal(sm.snapshot(sm.state, &snap), 0);
    mk_coll_state *m2 = mk_coll_state_new(MK_COLL_MAP, 2);
    mk_group_sm sm2 = mk_coll_state_sm(m2);
    assert_int_equal(sm2.restore(sm2.state, snap.data, snap.len), 0);
    assert_int_equal(mk_coll_state_version(m2), 3);
    mk_coll_state *o = mk_coll_state_new(MK_COLL_ONCE, 0);
    mk_group_sm so = mk_coll_state_sm(o);
    assert_int_equal(sm_cmd(&so, &res, "ob", 9, "first"), 0);
    assert_int_equal(sm_cmd(&so, &res, "ob", 9, "second"), MK_ESTATE);
    mk_buf_free(&snap);
    mk_buf_free(&res);
    mk_coll_state_free(m);
    mk_coll_state_free(m2);
    mk_coll_state_free(o);
}

/* ----- replicated --------------------------------------------------------------- */

#define NN 3
typedef struct cnodes {
    mk_network *nw[NN];
    char *dir[NN][6];
} cnodes;

static mk_collection *open_coll(cnodes *cn, int i, int slot, const char *name,
                                mk_collection_kind kind, size_t cap) {
    mk_collection_config cfg;
    mk_collection_config_init(&cfg);
    cfg.name = name;
    cfg.kind = kind;
    cfg.capacity = cap;
    cfg.data_dir = cn->dir[i][slot];
    cfg.bootstrap = i == 0;
    cfg.role = i == 2 ? MK_GROUP_READER : MK_GROUP_WRITER;
    cfg.election_ms = 300;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    mk_collection *c = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(tg_coll_open(cn->nw[i], &cfg, &c, &err), 0, &err);
    return c;
}

static void ready(mk_collection **c) {
    mk_group *g0 = mk_collection_group(c[0]);
    assert_int_equal(mk_group_wait(g0, MK_GROUP_IS_LEADER, 0, 15000), 0);
    assert_int_equal(mk_group_wait(g0, MK_GROUP_MEMBERS, NN, 15000), 0);
    mk_group_status s;
    TG_WAIT((mk_group_status_get(g0, &s), s.voters == 2 && s.members == 3), 10000,
            "two voters and a standby");
    for (int i = 0; i < NN; i++)
        assert_int_equal(mk_group_wait(mk_collection_group(c[i]), MK_GROUP_ONLINE, 0, 10000), 0);
}

static void reader_refused(mk_collection **c) {
    mk_error err;
    mk_error_clear(&err);
    mk_group_status s0, s1;
    /* Locally. */
    assert_int_equal(mk_collection_clear(c[2], NULL, 2000, &err), MK_EPOLICY);
    /* By the leader, when the reader bypasses its own check. */
    mk_group_status_get(mk_collection_group(c[0]), &s0);
    uint8_t clear = 12;
    assert_int_equal(
        mk_group_apply_unchecked(mk_collection_group(c[2]), &clear, 1, NULL, 5000, &err),
        MK_EPOLICY);
    TU_ASSERT_REASON(&err, "readers cannot write");
    mk_group_status_get(mk_collection_group(c[0]), &s1);
    assert_int_equal(s1.refused_readers, s0.refused_readers + 1);
}

#define BUF_IS(b, str)                                                                             \
    (assert_int_equal((b).len, strlen(str)), assert_memory_equal((b).data, str, strlen(str)))

static void test_replicated(void **state) {
    (void)state;
    cnodes cn;
    cn.nw[0] = tg_net("collections-test", NULL);
    for (int i = 1; i < NN; i++)
        cn.nw[i] = tg_net("collections-test", cn.nw[0]);
    for (int i = 0; i < NN; i++)
        for (int j = 0; j < 6; j++)
            cn.dir[i][j] = tg_tmpdir("coll");
    mk_collection *map[NN], *vec[NN], *set[NN], *cell[NN], *once[NN], *pq[NN];
    for (int i = 0; i < NN; i++) {
        map[i] = open_coll(&cn, i, 0, "m", MK_COLL_MAP, 0);
        vec[i] = open_coll(&cn, i, 1, "v", MK_COLL_VEC, 0);
        set[i] = open_coll(&cn, i, 2, "s", MK_COLL_SET, 0);
        cell[i] = open_coll(&cn, i, 3, "c", MK_COLL_CELL, 0);
        once[i] = open_coll(&cn, i, 4, "o", MK_COLL_ONCE, 0);
        pq[i] = open_coll(&cn, i, 5, "p", MK_COLL_PQ, 3);
    }
    ready(map);
    ready(vec);
    ready(set);
    ready(cell);
    ready(once);
    ready(pq);
    mk_error err;
    mk_error_clear(&err);
    mk_buf b = MK_BUF_INIT;
    uint64_t v1, v2, n;
    bool f;

    /* Map: both writers; the reader reads. */
    TU_ASSERT_RC(mk_map_put(map[0], "k1", 2, "v1", 2, &v1, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_map_put(map[1], "k2", 2, "v2", 2, &v2, 5000, &err), 0, &err);
    assert_true(v2 > v1);
    assert_int_equal(mk_collection_wait_version(map[2], v2, 5000), 0);
    TU_ASSERT_RC(mk_map_get(map[2], MK_GROUP_WEAK, "k1", 2, &b, 0, &err), 0, &err);
    BUF_IS(b, "v1");
    mk_buf_reset(&b);
    TU_ASSERT_RC(mk_map_get(map[2], MK_GROUP_STRONG, "k2", 2, &b, 5000, &err), 0, &err);
    BUF_IS(b, "v2");
    mk_buf_reset(&b);
    TU_ASSERT_RC(mk_map_remove(map[1], "k1", 2, &f, NULL, 5000, &err), 0, &err);
    assert_true(f);
    assert_int_equal(mk_map_get(map[0], MK_GROUP_STRONG, "k1", 2, &b, 5000, &err), MK_ENOTFOUND);
    TU_ASSERT_RC(mk_collection_len(map[2], MK_GROUP_STRONG, &n, 5000, &err), 0, &err);
    assert_int_equal(n, 1);
    assert_int_equal(mk_map_put(map[2], "x", 1, "y", 1, NULL, 1000, &err), MK_EPOLICY);
    reader_refused(map);

    /* Vec */
    uint64_t idx;
    TU_ASSERT_RC(mk_vec_push(vec[0], "a", 1, &idx, NULL, 5000, &err), 0, &err);
    assert_int_equal(idx, 0);
    TU_ASSERT_RC(mk_vec_push(vec[1], "b", 1, &idx, NULL, 5000, &err), 0, &err);
    assert_int_equal(idx, 1);
    TU_ASSERT_RC(mk_vec_set(vec[1], 0, "A", 1, &v1, 5000, &err), 0, &err);
    assert_int_equal(mk_vec_set(vec[0], 9, "Z", 1, NULL, 5000, &err), MK_ENOTFOUND);
    assert_int_equal(mk_collection_wait_version(vec[2], v1, 5000), 0);
    TU_ASSERT_RC(mk_vec_get(vec[2], MK_GROUP_WEAK, 0, &b, 0, &err), 0, &err);
    BUF_IS(b, "A");
    mk_buf_reset(&b);
    TU_ASSERT_RC(mk_vec_pop(vec[0], &b, NULL, 5000, &err), 0, &err);
    BUF_IS(b, "b");
    mk_buf_reset(&b);
    TU_ASSERT_RC(mk_collection_len(vec[2], MK_GROUP_STRONG, &n, 5000, &err), 0, &err);
    assert_int_equal(n, 1);
    assert_int_equal(mk_vec_push(vec[2], "r", 1, NULL, NULL, 1000, &err), MK_EPOLICY);

    /* Set */
    TU_ASSERT_RC(mk_set_insert(set[0], "x", 1, &f, NULL, 5000, &err), 0, &err);
    assert_true(f);
    TU_ASSERT_RC(mk_set_insert(set[1], "x", 1, &f, NULL, 5000, &err), 0, &err);
    assert_false(f);
    TU_ASSERT_RC(mk_set_insert(set[1], "y", 1, &f, &v1, 5000, &err), 0, &err);
    assert_int_equal(mk_collection_wait_version(set[2], v1, 5000), 0);
    TU_ASSERT_RC(mk_set_contains(set[2], MK_GROUP_WEAK, "y", 1, &f, 0, &err), 0, &err);
    assert_true(f);
    TU_ASSERT_RC(mk_set_remove(set[0], "y", 1, &f, NULL, 5000, &err), 0, &err);
    assert_true(f);
    TU_ASSERT_RC(mk_set_contains(set[2], MK_GROUP_STRONG, "y", 1, &f, 5000, &err), 0, &err);
    assert_false(f);
    assert_int_equal(mk_set_insert(set[2], "z", 1, NULL, NULL, 1000, &err), MK_EPOLICY);

    /* Cell */
    assert_int_equal(mk_cell_get(cell[2], MK_GROUP_STRONG, &b, 5000, &err), MK_ENOTFOUND);
    TU_ASSERT_RC(mk_cell_set(cell[0], "first", 5, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_cell_set(cell[1], "second", 6, &v1, 5000, &err), 0, &err);
    assert_int_equal(mk_collection_wait_version(cell[2], v1, 5000), 0);
    TU_ASSERT_RC(mk_cell_get(cell[2], MK_GROUP_WEAK, &b, 0, &err), 0, &err);
    BUF_IS(b, "second");
    mk_buf_reset(&b);
    assert_int_equal(mk_cell_set(cell[2], "r", 1, NULL, 1000, &err), MK_EPOLICY);

    /* Once: the first writer wins. */
    TU_ASSERT_RC(mk_once_set(once[1], "winner", 6, NULL, 5000, &err), 0, &err);
    assert_int_equal(mk_once_set(once[0], "late", 4, NULL, 5000, &err), MK_ESTATE);
    TU_ASSERT_RC(mk_once_get(once[2], MK_GROUP_STRONG, &b, 5000, &err), 0, &err);
    BUF_IS(b, "winner");
    mk_buf_reset(&b);

    /* PriorityQueue, capacity 3. */
    int64_t prio;
    TU_ASSERT_RC(mk_pq_push(pq[0], 5, "five", 4, &f, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_pq_push(pq[1], 1, "one", 3, &f, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_pq_push(pq[0], 3, "three", 5, &f, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_pq_push(pq[1], 4, "four", 4, &f, NULL, 5000, &err), 0, &err);
    assert_true(f); /* evicted "one" */
    TU_ASSERT_RC(mk_pq_push(pq[0], 0, "zero", 4, &f, NULL, 5000, &err), 0, &err);
    assert_false(f); /* below everything: refused */
    TU_ASSERT_RC(mk_pq_peek(pq[2], MK_GROUP_STRONG, &prio, &b, 5000, &err), 0, &err);
    assert_int_equal(prio, 5);
    BUF_IS(b, "five");
    mk_buf_reset(&b);
    TU_ASSERT_RC(mk_pq_pop(pq[1], &prio, &b, NULL, 5000, &err), 0, &err);
    assert_int_equal(prio, 5);
    mk_buf_reset(&b);
    TU_ASSERT_RC(mk_pq_pop(pq[0], &prio, &b, NULL, 5000, &err), 0, &err);
    assert_int_equal(prio, 4);
    mk_buf_reset(&b);
    TU_ASSERT_RC(mk_pq_pop(pq[0], &prio, &b, NULL, 5000, &err), 0, &err);
    assert_int_equal(prio, 3);
    BUF_IS(b, "three");
    mk_buf_reset(&b);
    assert_int_equal(mk_pq_pop(pq[1], &prio, &b, NULL, 5000, &err), MK_ENOTFOUND);
    assert_int_equal(mk_pq_push(pq[2], 9, "r", 1, NULL, NULL, 1000, &err), MK_EPOLICY);

    mk_buf_free(&b);
    for (int i = NN - 1; i >= 0; i--) {
        tg_coll_close(map[i]);
        tg_coll_close(vec[i]);
        tg_coll_close(set[i]);
        tg_coll_close(cell[i]);
        tg_coll_close(once[i]);
        tg_coll_close(pq[i]);
        tg_net_free(cn.nw[i]);
        for (int j = 0; j < 6; j++)
            tg_dir_free(cn.dir[i][j]);
    }
}

/* ----- declarations and require_ticket ------------------------------------------ */

static mk_jwt_key *g_key;

static mk_validator *make_jwt(const void *arg, mk_error *err) {
    (void)arg;
    const mk_jwt_key *ks[1] = {g_key};
    mk_jwt_validator_config jc;
    mk_jwt_validator_config_init(&jc);
    jc.keys = ks;
    jc.n_keys = 1;
    mk_validator *v = NULL;
    return mk_jwt_validator_new(&jc, &v, err) < 0 ? NULL : v;
}

MK_COLLECTION_DEF(SCORES, "scores", MK_COLL_PQ, 10, MK_NO_TICKET);
MK_COLLECTION_DEF(VAULT, "vault", MK_COLL_MAP, 0, MK_REQUIRE_TICKET({make_jwt, NULL}));

static void test_defs_and_tickets(void **state) {
    (void)state;
    uint8_t secret[32];
    memset(secret, 7, sizeof secret);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_jwt_key_hs(MK_JWT_HS256, secret, 32, &g_key, &err), 0, &err);
    assert_int_equal(SCORES.capacity, 10);
    assert_false(SCORES.require_ticket);
    assert_true(VAULT.require_ticket);
    assert_int_equal(VAULT.n_validators, 1);

    /* Configuration rules. */
    mk_network *a = tg_net("collections-defs", NULL);
    char *d1 = tg_tmpdir("def"), *d2 = tg_tmpdir("def"), *d3 = tg_tmpdir("def");
    mk_collection_config cfg;
    mk_collection_config_init(&cfg);
    cfg.name = "x";
    cfg.kind = MK_COLL_MAP;
    cfg.data_dir = d1;
    cfg.require_ticket = true;
    mk_collection *c = NULL;
    assert_int_equal(tg_coll_open(a, &cfg, &c, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "require_ticket");

    /* Declared collections: one open, one ticket-gated. A has a ticket,
     * B has none and never bonds. */
    mk_network *b = tg_net("collections-defs", a);
    mk_id ida;
    mk_network_peer_id(a, &ida);
    mk_jwt_builder *jb = mk_jwt_builder_new();
    mk_jwt_builder_set_subject_peer(jb, &ida);
    mk_jwt_builder_set_expires_in(jb, 3600);
    mk_ticket t;
    TU_ASSERT_RC(mk_jwt_builder_ticket(jb, g_key, mk_now(), &t, &err), 0, &err);
    mk_jwt_builder_free(jb);
    TU_ASSERT_RC(mk_network_add_ticket(a, &t, &err), 0, &err);
    mk_ticket_free(&t);

    mk_collection_config o = {
        .data_dir = d2, .bootstrap = true, .election_ms = 300, .heartbeat_ms = 50, .tick_ms = 50};
    mk_collection *sa = NULL, *va = NULL, *sb = NULL, *vb = NULL;
    TU_ASSERT_RC(tg_coll_open_def(a, &SCORES, &o, &sa, &err), 0, &err);
    o.data_dir = d3;
    TU_ASSERT_RC(tg_coll_open_def(a, &VAULT, &o, &va, &err), 0, &err);
    char *d4 = tg_tmpdir("def"), *d5 = tg_tmpdir("def");
    mk_collection_config ob = {
        .data_dir = d4, .election_ms = 300, .heartbeat_ms = 50, .tick_ms = 50};
    TU_ASSERT_RC(tg_coll_open_def(b, &SCORES, &ob, &sb, &err), 0, &err);
    ob.data_dir = d5;
    TU_ASSERT_RC(tg_coll_open_def(b, &VAULT, &ob, &vb, &err), 0, &err);
    mk_id idb;
    mk_network_peer_id(b, &idb);
    TG_WAIT(mk_group_bonded(mk_collection_group(sa), &idb), 10000, "the open collection to bond");
    bool ins;
    TU_ASSERT_RC(mk_pq_push(sb, 1, "x", 1, &ins, NULL, 5000, &err), 0, &err);
    uint64_t ver;
    TU_ASSERT_RC(mk_map_put(va, "k", 1, "v", 1, &ver, 5000, &err), 0, &err);
    /* b has no ticket: a's vault refuses it; b's vault judges a (and a
     * never answers the bond). */
    TG_WAIT(tg_judged_refused(mk_collection_group(va), &idb) &&
                tg_judged_as(mk_collection_group(vb), &ida, false),
            10000, "each vault group to judge the other node");
    assert_false(mk_group_bonded(mk_collection_group(va), &idb));
    assert_false(mk_group_bonded(mk_collection_group(vb), &ida));
    assert_int_equal(mk_map_put(vb, "k", 1, "w", 1, NULL, 800, &err) < 0, 1);

    tg_coll_close(vb);
    tg_coll_close(sb);
    tg_coll_close(va);
    tg_coll_close(sa);
    tg_net_free(b);
    tg_net_free(a);
    char *ds[5] = {d1, d2, d3, d4, d5};
    for (int i = 0; i < 5; i++)
        tg_dir_free(ds[i]);
    mk_jwt_key_free(g_key);
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_pq),
        cmocka_unit_test(test_state_map_once),
        cmocka_unit_test_teardown(test_replicated, tg_teardown),
        cmocka_unit_test_teardown(test_defs_and_tickets, tg_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
