/*
 * Refusals with reasons (docs/groups.md, "Refusals"): the network's ring of
 * recent refusals alone (merging repeats, the cap, cleaning the text, the
 * order), then a collection that requires a JWT ticket on A refusing B
 * and C, who have none: B's id is below A's (B dials A, A answers its
 * HELLO with REFUSE), C's above (A dials C once to tell it); B and C,
 * both without tickets, also refuse each other. Each refused
 * node shows the validator's reason in its status, its ring and the error
 * of a call; A's ring lists both with the same reason.
 */
#include "groups/groups_internal.h"
#include "groups_util.h"
#include "mosaik/collections.h"
#include "mosaik/jwt.h"

/* ----- the ring alone ------------------------------------------------------ */

static void test_ring(void **state) {
    (void)state;
    mk_network *a = tg_net("refusals-ring", NULL);
    mk_id p1, p2;
    mk_id_from_name(&p1, "peer one");
    mk_id_from_name(&p2, "peer two");
    assert_int_equal(mk_network_refusals(a, NULL, 0), 0);
    assert_true(mk_network_note_refusal(a, &p1, MK_REFUSAL_STREAM, false, "s", "tdx: mismatch"));
    assert_false(mk_network_note_refusal(a, &p1, MK_REFUSAL_STREAM, false, "s", "tdx: mismatch"));
    /* another direction, another reason: new records */
    assert_true(mk_network_note_refusal(a, &p1, MK_REFUSAL_STREAM, true, "s", "tdx: mismatch"));
    assert_true(mk_network_note_refusal(a, &p2, MK_REFUSAL_GROUP, false, "g\x1b[31m", "a\nb"));
    mk_refusal_record r[MK_NETWORK_REFUSALS];
    size_t n = mk_network_refusals(a, r, MK_NETWORK_REFUSALS);
    assert_int_equal(n, 3);
    bool seen_merged = false, seen_clean = false;
    for (size_t i = 0; i < n; i++) {
        if (i) assert_true(r[i - 1].last_at >= r[i].last_at); /* newest first */
        if (mk_id_eq(&r[i].peer, &p1) && !r[i].by_peer) {
            assert_int_equal(r[i].count, 2);
            assert_string_equal(r[i].reason, "tdx: mismatch");
            assert_string_equal(mk_refusal_layer_name(r[i].layer), "stream");
            seen_merged = true;
        }
        if (mk_id_eq(&r[i].peer, &p2)) {
            assert_string_equal(r[i].where, "g?[31m");
            assert_string_equal(r[i].reason, "a?b");
            seen_clean = true;
        }
    }
    assert_true(seen_merged && seen_clean);
    /* A long reason is cut to the cap at a character boundary. */
    char longr[600];
    memset(longr, 'x', sizeof longr);
    memcpy(longr + MK_REFUSAL_REASON_MAX - 1, "\xc3\xa9", 2); /* 'é' across the cap */
    longr[sizeof longr - 1] = 0;
    assert_true(mk_network_note_refusal(a, &p2, MK_REFUSAL_GROUP, false, "g", longr));
    n = mk_network_refusals(a, r, 1);
    assert_int_equal(n, 1);
    assert_int_equal(strlen(r[0].reason), MK_REFUSAL_REASON_MAX - 1);
    /* The ring is bounded: the least recently seen records are replaced. */
    for (int i = 0; i < 3 * MK_NETWORK_REFUSALS; i++) {
        char why[32];
        snprintf(why, sizeof why, "reason %d", i);
        (void)mk_network_note_refusal(a, &p1, MK_REFUSAL_DISCOVERY, false, "", why);
    }
    assert_int_equal(mk_network_refusals(a, NULL, 0), MK_NETWORK_REFUSALS);
    tg_net_free(a);
}

/* ----- the REFUSE frame --------------------------------------------------- */

static int parse_refuse(size_t reason_len, mk_group_frame *f) {
    static uint8_t buf[MK_GF_HDR + MK_GF_MAX_REASON + 2];
    memset(buf, 'r', sizeof buf);
    buf[0] = MK_GF_REFUSE;
    memset(buf + 1, 0x11, MK_ID_LEN);
    return mk_group_frame_parse(buf, MK_GF_HDR + reason_len, f, NULL);
}

static void test_frame(void **state) {
    (void)state;
    mk_group_frame f;
    assert_int_equal(parse_refuse(5, &f), 0);
    assert_int_equal(f.type, MK_GF_REFUSE);
    assert_int_equal(f.plen, 5);
    assert_int_equal(parse_refuse(MK_GF_MAX_REASON, &f), 0);
    assert_int_equal(parse_refuse(0, &f), MK_EMALFORMED);                    /* no reason */
    assert_int_equal(parse_refuse(MK_GF_MAX_REASON + 1, &f), MK_EMALFORMED); /* over the cap */
    /* The body writer adds nothing: the reason is the payload. */
    uint8_t body[MK_GF_MAX_BODY];
    mk_writer w;
    mk_writer_init(&w, body, sizeof body);
    mk_group_frame out = {.type = MK_GF_REFUSE};
    assert_int_equal(mk_group_frame_write_body(&w, &out), 0);
    assert_int_equal(mk_writer_len(&w), 0);
}

/* ----- a collection refusing two nodes -------------------------------------- */

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

MK_COLLECTION_DEF(VAULT, "vault", MK_COLL_MAP, 0, MK_REQUIRE_TICKET({make_jwt, NULL}));

/* A network whose peer id is below (below true) or above `than`. */
static mk_network *net_beside(const mk_id *than, bool below, mk_network *boot) {
    mk_ed25519_key k;
    for (;;) {
        assert_int_equal(mk_ed25519_generate(&k), 0);
        int c = memcmp(k.public_key, than->b, MK_ID_LEN);
        if (below ? c < 0 : c > 0) break;
    }
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = "refusals";
    cfg.announce_ms = 300;
    cfg.sync_ms = 300;
    cfg.purge_after_ms = 20000;
    cfg.key = &k;
    return tg_net_cfg(&cfg, boot);
}

static bool refused_status(mk_collection *c, mk_group_status *s) {
    mk_group_status_get(mk_collection_group(c), s);
    return s->refused;
}

/* The record of peer in nw's ring (layer collection, where "vault"). */
static bool find_record(mk_network *nw, const mk_id *peer, bool by_peer, mk_refusal_record *out) {
    mk_refusal_record r[MK_NETWORK_REFUSALS];
    size_t n = mk_network_refusals(nw, r, MK_NETWORK_REFUSALS);
    for (size_t i = 0; i < n; i++)
        if (mk_id_eq(&r[i].peer, peer) && r[i].by_peer == by_peer &&
            r[i].layer == MK_REFUSAL_COLLECTION && !strcmp(r[i].where, "vault")) {
            *out = r[i];
            return true;
        }
    return false;
}

/* x (refused by A) learns why. The other refused node refuses x too, for
 * the same reason (x has no ticket either), so either may have said it
 * last. */
static void check_refused(mk_network *a, const mk_id *ida, mk_network *x, mk_collection *cx,
                          mk_network *other) {
    mk_id idx, ido;
    mk_network_peer_id(x, &idx);
    mk_network_peer_id(other, &ido);
    mk_group_status s;
    TG_WAIT(refused_status(cx, &s), 15000, "the refused node to learn why");
    assert_true(mk_id_eq(&s.refused_by, ida) || mk_id_eq(&s.refused_by, &ido));
    mk_refusal_record ra, rx;
    TG_WAIT(find_record(a, &idx, false, &ra), 5000, "A to record the refusal");
    assert_true(find_record(x, ida, true, &rx));
    assert_true(ra.reason[0] != 0);
    assert_string_equal(s.refusal, ra.reason); /* what A's validator said */
    assert_string_equal(rx.reason, ra.reason);
    print_message("# refused: %s\n", ra.reason);
    mk_error err;
    mk_error_clear(&err);
    assert_true(mk_map_put(cx, "k", 1, "w", 1, NULL, 600, &err) < 0);
    TU_ASSERT_REASON(&err, "not admitted: ");
    TU_ASSERT_REASON(&err, ra.reason);
}

static void test_collection_refusal(void **state) {
    (void)state;
    uint8_t secret[32];
    memset(secret, 9, sizeof secret);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_jwt_key_hs(MK_JWT_HS256, secret, 32, &g_key, &err), 0, &err);
    mk_network *a = tg_net("refusals", NULL);
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
    mk_network *b = net_beside(&ida, true, a), *c = net_beside(&ida, false, a);

    char *da = tg_tmpdir("ref"), *db = tg_tmpdir("ref"), *dc = tg_tmpdir("ref");
    mk_collection_config o = {
        .data_dir = da, .bootstrap = true, .election_ms = 300, .heartbeat_ms = 50, .tick_ms = 50};
    mk_collection *va = NULL, *vb = NULL, *vc = NULL;
    TU_ASSERT_RC(tg_coll_open_def(a, &VAULT, &o, &va, &err), 0, &err);
    TU_ASSERT_RC(mk_map_put(va, "k", 1, "v", 1, NULL, 5000, &err), 0, &err);
    /* A alone is the configuration: itself, a voter, the leader. */
    mk_group_member m[4];
    TG_WAIT(mk_group_members(mk_collection_group(va), m, 4) == 1 && m[0].leader, 5000,
            "A's member list");
    assert_true(m[0].self && m[0].voter && !m[0].bonded && mk_id_eq(&m[0].peer, &ida));
    mk_collection_config ob = {
        .data_dir = db, .election_ms = 300, .heartbeat_ms = 50, .tick_ms = 50};
    TU_ASSERT_RC(tg_coll_open_def(b, &VAULT, &ob, &vb, &err), 0, &err);
    ob.data_dir = dc;
    TU_ASSERT_RC(tg_coll_open_def(c, &VAULT, &ob, &vc, &err), 0, &err);

    check_refused(a, &ida, b, vb, c); /* B dials: its HELLO is answered with REFUSE */
    check_refused(a, &ida, c, vc, b); /* A dials C to tell it */

    tg_coll_close(vc);
    tg_coll_close(vb);
    tg_coll_close(va);
    tg_net_free(c);
    tg_net_free(b);
    tg_net_free(a);
    tg_dir_free(da);
    tg_dir_free(db);
    tg_dir_free(dc);
    mk_jwt_key_free(g_key);
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ring, tg_teardown),
        cmocka_unit_test(test_frame),
        cmocka_unit_test_teardown(test_collection_refusal, tg_teardown),
    };
    return TG_RUN(tests);
}
