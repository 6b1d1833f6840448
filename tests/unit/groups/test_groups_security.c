/*
 * Hostile-member properties of groups (review_net.md H1, M2/M3, H3, L6):
 * a writer claim not backed by the writer validators is refused by the
 * leader; a forwarded result is accepted only from the peer it was sent to;
 * a full validation cache replaces its least recently used entries instead
 * of refusing new peers; joining a group leaves SIGPIPE's disposition alone.
 */
#include <signal.h>

#include "groups_util.h"

#include "groups/groups_internal.h"
#include "mosaik/collections.h"
#include "mosaik/jwt.h"

typedef struct snode {
    mk_network *nw;
    mk_group *g;
    tg_counter c;
    mk_group_sm sm;
    char *dir;
    mk_id id;
} snode;

static void sn_start(snode *n, const char *tag, mk_network *boot) {
    memset(n, 0, sizeof *n);
    n->nw = tg_net("groups-security", boot);
    mk_network_peer_id(n->nw, &n->id);
    n->dir = tg_tmpdir(tag);
}

static void sn_join(snode *n, const mk_validator_set *wvs, mk_group_role role, bool boot,
                    uint32_t election_ms) {
    mk_group_config cfg;
    mk_group_config_init(&cfg);
    mk_id_from_name(&cfg.key, "test.security.key");
    mk_id_from_name(&cfg.sm_signature, "test.counter.v1");
    n->sm = tg_counter_sm(&n->c);
    cfg.sm = &n->sm;
    cfg.writer_validators = wvs;
    cfg.role = role;
    cfg.data_dir = n->dir;
    cfg.bootstrap = boot;
    cfg.election_ms = election_ms;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(tg_join(n->nw, &cfg, &n->g, &err), 0, &err);
}

static void sn_free(snode *n) {
    tg_group_free(n->g);
    tg_net_free(n->nw);
    tg_dir_free(n->dir);
}

static mk_group_status st(snode *n) {
    mk_group_status s;
    mk_group_status_get(n->g, &s);
    return s;
}

static void online(snode *n, const char *what) {
    if (mk_group_wait(n->g, MK_GROUP_ONLINE, 0, 15000) != 0)
        fail_msg("timed out waiting for %s to be online", what);
}

/* ----- H1: writer authorization ------------------------------------------- */

static mk_validator *jwt_validator(const mk_jwt_key *k, const char *iss) {
    mk_jwt_validator_config o;
    mk_jwt_validator_config_init(&o);
    const char *is[1] = {iss};
    o.issuers = is;
    o.n_issuers = 1;
    const mk_jwt_key *ks[1] = {k};
    mk_error err;
    o.keys = ks;
    o.n_keys = 1;
    mk_validator *v = NULL;
    TU_ASSERT_RC(mk_jwt_validator_new(&o, &v, &err), 0, &err);
    assert_non_null(v);
    return v;
}

static void give_ticket(snode *n, const mk_jwt_key *k, const char *iss) {
    mk_jwt_builder *b = mk_jwt_builder_new();
    mk_jwt_builder_set_subject_peer(b, &n->id);
    mk_jwt_builder_set_issuer(b, iss);
    mk_jwt_builder_set_expires_at(b, mk_now() + 3600);
    mk_ticket t;
    mk_error err;
    TU_ASSERT_RC(mk_jwt_builder_ticket(b, k, mk_now(), &t, &err), 0, &err);
    mk_jwt_builder_free(b);
    TU_ASSERT_RC(mk_network_add_ticket(n->nw, &t, &err), 0, &err);
    mk_ticket_free(&t);
}

static void test_writer_claim_refused(void **state) {
    (void)state;
    uint8_t secret[32];
    memset(secret, 0x5a, sizeof secret);
    mk_jwt_key *k = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_jwt_key_hs(MK_JWT_HS256, secret, 32, &k, &err), 0, &err);
    mk_validator_set wvs;
    mk_validator_set_init(&wvs);
    assert_int_equal(mk_validator_set_add(&wvs, jwt_validator(k, "writers")), 0);

    static snode a, b, c; /* outlive a failed assertion (the teardown) */
    sn_start(&a, "wa", NULL);
    give_ticket(&a, k, "writers");
    sn_join(&a, &wvs, MK_GROUP_WRITER, true, 300);
    assert_int_equal(mk_group_wait(a.g, MK_GROUP_IS_LEADER, 0, 10000), 0);
    sn_start(&b, "wb", a.nw); /* passes the (empty) member validators, no writer ticket */
    sn_join(&b, &wvs, MK_GROUP_WRITER, false, 300);
    sn_start(&c, "wc", a.nw); /* a real writer */
    give_ticket(&c, k, "writers");
    sn_join(&c, &wvs, MK_GROUP_WRITER, false, 300);
    assert_int_equal(mk_group_wait(a.g, MK_GROUP_MEMBERS, 3, 20000), 0);
    online(&b, "b");
    online(&c, "c");
    TG_WAIT(st(&a).voters == 2 && st(&a).members == 3, 10000, "b as a standby, c as a voter");

    /* The self-declared writer's command is refused by the leader. */
    uint8_t cmd[8];
    tg_put64(cmd, 5);
    mk_error_clear(&err);
    int rc = mk_group_apply(b.g, cmd, 8, NULL, 5000, &err);
    assert_int_equal(rc, MK_EPOLICY);
    assert_true(st(&a).writers_refused >= 1);
    assert_true(st(&a).refused_readers >= 1);
    /* The authorized writer writes; b's command never committed. */
    assert_int_equal(tg_add(c.g, 7, 5000), 7);
    /* The leader has applied everything c has (c's write included; b's
     * refused command, had it been committed, comes before it). */
    uint64_t applied = st(&c).applied;
    TG_WAIT(st(&a).applied >= applied, 10000, "the leader to apply c's write");
    assert_int_equal(a.c.value, 7);

    sn_free(&c);
    sn_free(&b);
    sn_free(&a);
    mk_validator_set_free(&wvs);
    mk_jwt_key_free(k);
}

/* The same through a collection's writer_validators. */
static mk_collection *coll_open(snode *n, const mk_validator_set *wvs, bool boot) {
    mk_collection_config cfg;
    mk_collection_config_init(&cfg);
    cfg.name = "security-writers";
    cfg.kind = MK_COLL_CELL;
    /* Specs by value; the set's validators are borrowed (wvs outlives
     * the collection). */
    mk_validator_spec wspecs[4];
    assert_true(wvs->n <= 4);
    for (size_t i = 0; i < wvs->n; i++)
        wspecs[i] = (mk_validator_spec)MK_BORROW(wvs->items[i]);
    cfg.writer_validators = wspecs;
    cfg.n_writer_validators = wvs->n;
    cfg.data_dir = n->dir;
    cfg.bootstrap = boot;
    cfg.election_ms = 300;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    mk_collection *c = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(tg_coll_open(n->nw, &cfg, &c, &err), 0, &err);
    return c;
}

static void test_collection_writer_claim_refused(void **state) {
    (void)state;
    uint8_t secret[32];
    memset(secret, 0x6b, sizeof secret);
    mk_jwt_key *k = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_jwt_key_hs(MK_JWT_HS256, secret, 32, &k, &err), 0, &err);
    mk_validator_set wvs;
    mk_validator_set_init(&wvs);
    assert_int_equal(mk_validator_set_add(&wvs, jwt_validator(k, "writers")), 0);
    static snode a, b;
    sn_start(&a, "ca", NULL);
    give_ticket(&a, k, "writers");
    mk_collection *ca = coll_open(&a, &wvs, true);
    mk_group *ga = mk_collection_group(ca);
    assert_int_equal(mk_group_wait(ga, MK_GROUP_IS_LEADER, 0, 10000), 0);
    sn_start(&b, "cb", a.nw);
    mk_collection *cb = coll_open(&b, &wvs, false);
    assert_int_equal(mk_group_wait(ga, MK_GROUP_MEMBERS, 2, 20000), 0);
    assert_int_equal(mk_group_wait(mk_collection_group(cb), MK_GROUP_ONLINE, 0, 15000), 0);
    mk_error_clear(&err);
    assert_int_equal(mk_collection_clear(cb, NULL, 5000, &err), MK_EPOLICY);
    mk_group_status s;
    mk_group_status_get(ga, &s);
    assert_true(s.writers_refused >= 1);
    assert_int_equal(s.voters, 1);
    uint64_t v = 0;
    TU_ASSERT_RC(mk_collection_clear(ca, &v, 5000, &err), 0, &err);
    assert_true(v >= 1);
    tg_coll_close(cb);
    tg_coll_close(ca);
    a.g = b.g = NULL;
    sn_free(&b);
    sn_free(&a);
    mk_validator_set_free(&wvs);
    mk_jwt_key_free(k);
}

/* ----- M2: forwarded results come from the peer they were sent to ---------- */

typedef struct qarg {
    mk_group *g;
    int rc;
    int64_t value;
} qarg;

static void *strong_query(void *p) {
    qarg *q = p;
    mk_buf res = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    q->rc = mk_group_query(q->g, MK_GROUP_STRONG, "q", 1, &res, 900, &err);
    q->value = res.len == 8 ? tg_get64(res.data) : -1;
    mk_buf_free(&res);
    return NULL;
}

static void test_fwd_res_from_third_member(void **state) {
    (void)state;
    static snode a, b, c;
    sn_start(&a, "fa", NULL);
    sn_join(&a, NULL, MK_GROUP_WRITER, true, 1500);
    assert_int_equal(mk_group_wait(a.g, MK_GROUP_IS_LEADER, 0, 10000), 0);
    sn_start(&b, "fb", a.nw);
    sn_join(&b, NULL, MK_GROUP_WRITER, false, 1500);
    sn_start(&c, "fc", a.nw);
    sn_join(&c, NULL, MK_GROUP_WRITER, false, 1500);
    assert_int_equal(mk_group_wait(a.g, MK_GROUP_MEMBERS, 3, 20000), 0);
    online(&b, "b");
    online(&c, "c");
    TG_WAIT(mk_group_bonded(c.g, &b.id), 10000, "c bonded with b");

    /* The leader stops answering b; b's forward stays pending. */
    mk_group_partition(a.g, &b.id, true);
    qarg q = {b.g, 0, 0};
    pthread_t th;
    tg_thread(&th, strong_query, &q);
    /* b's forward is sent and on record (b's loop sends it, then adds it to
     * g->fwds) before the forgeries go out. */
    TG_WAIT(__atomic_load_n(&b.g->fwds, __ATOMIC_ACQUIRE) != NULL, 5000, "b's forward");
    /* c, a bonded member but not the leader b forwarded to, answers every
     * recent seq of b's with a forged value. */
    mk_transport_conn *conn = mk_group_bond_conn(c.g, &b.id);
    assert_non_null(conn);
    pthread_mutex_lock(&b.g->qmu); /* any lock: only to read a recent seq */
    uint64_t s = b.g->next_seq;
    pthread_mutex_unlock(&b.g->qmu);
    mk_id gid;
    mk_group_id(b.g, &gid);
    for (uint64_t i = s - 4; i <= s + 4; i++) {
        uint8_t hdr[12] = {0}, val[8];
        tg_put64(hdr, i);
        tg_put64(val, 777);
        assert_int_equal(mk_group_send(conn, &gid, MK_GF_FWD_RES, hdr, 12, val, 8), 0);
    }
    mk_transport_conn_unref(conn);
    tg_thread_join(th);
    assert_int_not_equal(q.value, 777);
    assert_int_not_equal(q.rc, 0);

    mk_group_partition(a.g, &b.id, false);
    sn_free(&c);
    sn_free(&b);
    sn_free(&a);
}

/* ----- H3: the validation cache replaces, never refuses -------------------- */

static bool in_vcache(mk_group *g, const mk_id *peer) {
    pthread_mutex_lock(&g->bmu);
    bool found = false;
    for (size_t i = 0; i < g->n_vc; i++)
        if (mk_id_eq(&g->vc[i].peer, peer)) found = true;
    pthread_mutex_unlock(&g->bmu);
    return found;
}

static void test_vcache_lru(void **state) {
    (void)state;
    static snode a, p[3];
    sn_start(&a, "va", NULL);
    sn_join(&a, NULL, MK_GROUP_WRITER, true, 300);
    mk_group_vcache_limit(a.g, 2);
    assert_int_equal(mk_group_wait(a.g, MK_GROUP_IS_LEADER, 0, 10000), 0);
    for (int i = 0; i < 3; i++) {
        sn_start(&p[i], "vp", a.nw);
        sn_join(&p[i], NULL, MK_GROUP_WRITER, false, 300);
    }
    /* Three peers, two cache slots: all three still bond and join. */
    if (mk_group_wait(a.g, MK_GROUP_MEMBERS, 4, 20000) != 0)
        fail_msg("only %u members with a 2-entry cache", st(&a).members);
    assert_true(st(&a).vcache <= 2);
    for (int i = 0; i < 3; i++)
        TG_WAIT(mk_group_bonded(a.g, &p[i].id), 10000, "bond with each peer");

    /* A departure evicts the peer's entry. */
    mk_id gone = p[2].id;
    sn_free(&p[2]);
    TG_WAIT(!mk_group_bonded(a.g, &gone), 10000, "the departed peer unbonded");
    TG_WAIT(!in_vcache(a.g, &gone), 10000, "the departed peer's cache entry evicted");
    /* and it stays out: departed entries are not cached again, through
     * two more sync rounds of a's discovery (which would bring the
     * departed entry back to be judged). */
    mk_network_metrics m0, m1;
    mk_network_metrics_get(a.nw, &m0);
    TG_WAIT((mk_network_metrics_get(a.nw, &m1), m1.syncs_started >= m0.syncs_started + 2), 10000,
            "two sync rounds of a");
    assert_false(in_vcache(a.g, &gone));
    for (int i = 0; i < 2; i++)
        sn_free(&p[i]);
    sn_free(&a);
}

/* ----- L6: SIGPIPE's disposition is left alone ------------------------------ */

static void test_sigpipe_untouched(void **state) {
    (void)state;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &sa, &old);
    static snode a;
    sn_start(&a, "sa", NULL);
    sn_join(&a, NULL, MK_GROUP_WRITER, true, 300);
    struct sigaction now;
    sigaction(SIGPIPE, NULL, &now);
    assert_true(now.sa_handler == SIG_DFL);
    assert_int_equal(mk_group_wait(a.g, MK_GROUP_IS_LEADER, 0, 10000), 0);
    sn_free(&a);
    sigaction(SIGPIPE, &old, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sigpipe_untouched, tg_teardown),
        cmocka_unit_test_teardown(test_writer_claim_refused, tg_teardown),
        cmocka_unit_test_teardown(test_collection_writer_claim_refused, tg_teardown),
        cmocka_unit_test_teardown(test_fwd_res_from_third_member, tg_teardown),
        cmocka_unit_test_teardown(test_vcache_lru, tg_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
