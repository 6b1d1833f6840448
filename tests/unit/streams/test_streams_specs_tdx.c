/*
 * Validator specs by value on streams, with simulated TDX tickets: two
 * producer nodes of one process open the same declaration, each with its
 * own MRTD requirement, and each admits the consumer with its MRTD and
 * refuses the other; an any-of of a TDX and a JWT validator admits a peer
 * with either ticket, refuses one with neither naming both reasons, and
 * ends the admission at the accepting member's expiry; a declaration
 * holding an any-of of constant specs refuses with every member's reason;
 * a consumer's own spec judges the producers.
 * The simulator root is trusted explicitly, per instance.
 */
#include <pthread.h>

#include "streams_util.h"

#if MOSAIK_HAVE_TDX

static mk_tdx_sim *g_sim;
static mk_tdx_collateral *g_coll;
static const uint8_t *g_root;
static size_t g_root_len;

static int setup(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    if (mk_tdx_sim_new(NULL, &g_sim, &err) < 0) return -1;
    if (mk_tdx_sim_collateral(g_sim, mk_now(), &g_coll, &err) < 0) return -1;
    mk_tdx_sim_root_der(g_sim, &g_root, &g_root_len);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mk_tdx_collateral_free(g_coll);
    mk_tdx_sim_free(g_sim);
    return 0;
}

/* A simulated TD whose MRTD is SHA-384 of label. */
static void td_with(mk_tdx_sim_td *td, const char *label) {
    mk_tdx_sim_td_default(td);
    mk_sha384(label, strlen(label), td->mr_td);
}

static void mrtd_hex(const mk_tdx_sim_td *td, char out[97]) {
    mk_hex_encode(td->mr_td, sizeof td->mr_td, out);
}

static void give_tdx(mk_network *nw, const mk_tdx_sim_td *td, int64_t exp) {
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_provider *prov = NULL;
    assert_int_equal(mk_tdx_provider_sim_new(g_sim, td, &prov, NULL), 0);
    mk_tdx_attester *att = NULL;
    TU_ASSERT_RC(mk_tdx_attester_new(
                     &(mk_tdx_attester_config){.provider = prov, .collateral = g_coll}, &att, &err),
                 0, &err);
    mk_id peer, net;
    mk_network_peer_id(nw, &peer);
    mk_network_id(nw, &net);
    mk_ticket t;
    TU_ASSERT_RC(mk_tdx_attester_ticket_with_expiration(att, &peer, &net, mk_now(), exp, &t, &err),
                 0, &err);
    TU_ASSERT_RC(mk_network_replace_ticket(nw, &t, &err), 0, &err);
    mk_ticket_free(&t);
    mk_tdx_attester_free(att);
    mk_tdx_provider_free(prov);
}

/* Events of one producer, with the peer each concerns. */
#define EV_MAX 256
typedef struct ev_log {
    pthread_mutex_t mu;
    size_t n;
    struct {
        mk_stream_event_type type;
        mk_id peer;
        mk_expiration expires;
        unsigned reason;
        char text[MK_STREAM_MAX_REASON + 1];
    } ev[EV_MAX];
} ev_log;

static void on_ev(const mk_stream_event *e, void *ctx) {
    ev_log *l = ctx;
    pthread_mutex_lock(&l->mu);
    if (l->n < EV_MAX) {
        l->ev[l->n].type = e->type;
        l->ev[l->n].peer = e->peer;
        l->ev[l->n].expires = e->expires;
        l->ev[l->n].reason = e->reason;
        snprintf(l->ev[l->n].text, sizeof l->ev[0].text, "%s", e->text);
        l->n++;
    }
    pthread_mutex_unlock(&l->mu);
}

/* The index of the first event of type t about nw's peer, or -1; its
 * text into text (may be NULL). */
static int ev_find(ev_log *l, mk_stream_event_type t, mk_network *nw, char *text,
                   mk_expiration *expires) {
    mk_id peer;
    mk_network_peer_id(nw, &peer);
    int found = -1;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n && found < 0; i++)
        if (l->ev[i].type == t && mk_id_eq(&l->ev[i].peer, &peer)) {
            found = (int)i;
            if (text) snprintf(text, MK_STREAM_MAX_REASON + 1, "%s", l->ev[i].text);
            if (expires) *expires = l->ev[i].expires;
        }
    pthread_mutex_unlock(&l->mu);
    return found;
}

static bool admitted_by(ev_log *l, mk_network *nw) {
    return ev_find(l, MK_STREAM_EV_ADMITTED, nw, NULL, NULL) >= 0;
}

static void expect_refused(ev_log *l, mk_network *nw, const char *a, const char *b) {
    char text[MK_STREAM_MAX_REASON + 1];
    ST_WAIT_UNTIL(ev_find(l, MK_STREAM_EV_REFUSED, nw, text, NULL) >= 0, 15000, "a refusal");
    printf("# refused: %s\n", text);
    if (!strstr(text, a)) fail_msg("refusal \"%s\" lacks \"%s\"", text, a);
    if (b && !strstr(text, b)) fail_msg("refusal \"%s\" lacks \"%s\"", text, b);
    assert_false(admitted_by(l, nw));
}

/* One declaration, no validator in it: each instance brings its own. */
MK_STREAM_DEF(ATTESTED, "specs.attested", NULL, MK_REQUIRE_NOTHING, MK_REQUIRE_NOTHING);

static mk_stream_producer *open_producer(mk_network *nw, const mk_stream_def *def,
                                         const mk_validator_spec *specs, size_t n, ev_log *log) {
    pthread_mutex_init(&log->mu, NULL);
    log->n = 0;
    mk_stream_producer_config o = {.requirements = {.validators = specs, .n_validators = n},
                                   .on_event = on_ev,
                                   .event_ctx = log};
    mk_stream_producer *p = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_stream_producer_new_from_def(nw, def, &o, &p, &err), 0, &err);
    return p;
}

static mk_stream_consumer *open_consumer(mk_network *nw, const mk_stream_def *def) {
    mk_stream_consumer_config o = {.retry_min_ms = 100, .retry_max_ms = 300};
    mk_stream_consumer *c = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_stream_consumer_new_from_def(nw, def, &o, &c, &err), 0, &err);
    return c;
}

/* Producer P_a requires MRTD A, P_b MRTD B, both from ATTESTED; the
 * specs are built per instance on the stack and gone before the
 * consumers come. Consumer C_a (MRTD A) is admitted by P_a only, C_b by
 * P_b only. */
static void test_per_instance_mrtd(void **state) {
    (void)state;
    mk_tdx_sim_td ta, tb;
    td_with(&ta, "firmware A");
    td_with(&tb, "firmware B");
    mk_network *pa_nw = st_net("specs-mrtd", NULL);
    mk_network *pb_nw = st_net("specs-mrtd", pa_nw);
    ev_log la, lb;
    mk_stream_producer *pa, *pb;
    {
        char ha[97], hb[97];
        mrtd_hex(&ta, ha);
        mrtd_hex(&tb, hb);
        const mk_validator_spec sa[] = {MK_TDX(.mrtd = ha, .sim_root = g_root,
                                               .sim_root_len = g_root_len, .max_lifetime = 86400)};
        const mk_validator_spec sb[] = {MK_TDX(.mrtd = hb, .sim_root = g_root,
                                               .sim_root_len = g_root_len, .max_lifetime = 86400)};
        pa = open_producer(pa_nw, &ATTESTED, sa, 1, &la);
        pb = open_producer(pb_nw, &ATTESTED, sb, 1, &lb);
        memset(ha, 'f', sizeof ha - 1); /* the producers kept nothing of these */
        memset(hb, 'f', sizeof hb - 1);
    }
    mk_network *ca_nw = st_net("specs-mrtd", pa_nw);
    mk_network *cb_nw = st_net("specs-mrtd", pa_nw);
    give_tdx(ca_nw, &ta, mk_now() + 600);
    give_tdx(cb_nw, &tb, mk_now() + 600);
    mk_stream_consumer *ca = open_consumer(ca_nw, &ATTESTED);
    mk_stream_consumer *cb = open_consumer(cb_nw, &ATTESTED);
    ST_WAIT_UNTIL(admitted_by(&la, ca_nw) && admitted_by(&lb, cb_nw), 15000,
                  "each producer admitting its own MRTD");
    expect_refused(&la, cb_nw, "tdx: ", "MRTD mismatch");
    expect_refused(&lb, ca_nw, "tdx: ", "MRTD mismatch");
    mk_stream_stats s;
    ST_WAIT_UNTIL((mk_stream_producer_stats(pa, &s), s.active == 1), 5000, "P_a: one consumer");
    ST_WAIT_UNTIL((mk_stream_producer_stats(pb, &s), s.active == 1), 5000, "P_b: one consumer");
    mk_stream_consumer_free(ca);
    mk_stream_consumer_free(cb);
    mk_stream_producer_free(pa);
    mk_stream_producer_free(pb);
    mk_network_free(cb_nw);
    mk_network_free(ca_nw);
    mk_network_free(pb_nw);
    mk_network_free(pa_nw);
}

/* Any-of (TDX with MRTD A, JWT of key k): a TDX-only consumer and a
 * JWT-only consumer are admitted; one with MRTD B and an expired JWT is
 * refused with both reasons; the JWT-only admission ends at the JWT's
 * expiry. */
static void test_any_of_tdx_or_jwt(void **state) {
    (void)state;
    mk_tdx_sim_td ta, tb;
    td_with(&ta, "firmware A");
    td_with(&tb, "firmware B");
    mk_jwt_key *k = st_hs_key(0x5a);
    mk_network *p_nw = st_net("specs-any", NULL);
    ev_log l;
    mk_stream_producer *p;
    {
        char ha[97];
        mrtd_hex(&ta, ha);
        const mk_jwt_key *keys[1] = {k};
        mk_jwt_validator_config jc;
        mk_jwt_validator_config_init(&jc);
        jc.keys = keys;
        jc.n_keys = 1;
        const mk_validator_spec any[] = {
            MK_ANY_OF(MK_TDX(.mrtd = ha, .sim_root = g_root, .sim_root_len = g_root_len,
                             .max_lifetime = 86400),
                      {mk_validator_factory_jwt, &jc})};
        p = open_producer(p_nw, &ATTESTED, any, 1, &l);
    }
    mk_network *n_tdx = st_net("specs-any", p_nw);
    mk_network *n_jwt = st_net("specs-any", p_nw);
    mk_network *n_bad = st_net("specs-any", p_nw);
    give_tdx(n_tdx, &ta, mk_now() + 600);
    int64_t jwt_exp = mk_now() + 8; /* admission well before it, even when loaded */
    st_give_jwt(n_jwt, k, jwt_exp);
    give_tdx(n_bad, &tb, mk_now() + 600);
    st_give_jwt(n_bad, k, mk_now() - 3600);
    mk_stream_consumer *c[3] = {open_consumer(n_tdx, &ATTESTED), open_consumer(n_jwt, &ATTESTED),
                                open_consumer(n_bad, &ATTESTED)};
    ST_WAIT_UNTIL(admitted_by(&l, n_tdx) && admitted_by(&l, n_jwt), 15000,
                  "the TDX-only and the JWT-only consumer");
    expect_refused(&l, n_bad, "no validator accepts (tdx: ", "; jwt: token expired");
    char text[MK_STREAM_MAX_REASON + 1];
    ev_find(&l, MK_STREAM_EV_REFUSED, n_bad, text, NULL);
    assert_non_null(strstr(text, "MRTD mismatch"));
    /* The accepting member's expiry: the JWT's for n_jwt, the TDX
     * ticket's (600 s) for n_tdx. */
    mk_expiration e_jwt = 0, e_tdx = 0;
    ev_find(&l, MK_STREAM_EV_ADMITTED, n_jwt, NULL, &e_jwt);
    ev_find(&l, MK_STREAM_EV_ADMITTED, n_tdx, NULL, &e_tdx);
    printf("# admission expiries: jwt %lld (token exp %lld), tdx in %lld s\n", (long long)e_jwt,
           (long long)jwt_exp, (long long)(e_tdx - mk_now()));
    assert_int_equal(e_jwt, jwt_exp);
    assert_true(e_tdx > jwt_exp + 500);
    ST_WAIT_UNTIL(ev_find(&l, MK_STREAM_EV_DISCONNECTED, n_jwt, NULL, NULL) >= 0, 15000,
                  "the JWT-only consumer cut at its token's expiry");
    int i = ev_find(&l, MK_STREAM_EV_DISCONNECTED, n_jwt, NULL, NULL);
    assert_int_equal(l.ev[i].reason, MK_STREAM_R_EXPIRED);
    assert_true(mk_now() >= jwt_exp);
    assert_true(ev_find(&l, MK_STREAM_EV_DISCONNECTED, n_tdx, NULL, NULL) < 0);
    for (int j = 0; j < 3; j++)
        mk_stream_consumer_free(c[j]);
    mk_stream_producer_free(p);
    mk_network_free(n_bad);
    mk_network_free(n_jwt);
    mk_network_free(n_tdx);
    mk_network_free(p_nw);
    mk_jwt_key_free(k);
}

/* A declaration holding an any-of of constant TDX specs (no simulator
 * root: nothing simulated can pass): a simulated consumer is refused, the
 * reason naming each member's failure. */
#define ZEROS48 "000000000000000000000000000000000000000000000000"
#define ONES48 "111111111111111111111111111111111111111111111111"
MK_STREAM_DEF(FLEET, "specs.fleet", NULL,
              MK_REQUIRE(MK_VALIDATORS(MK_ANY_OF(MK_TDX(.mrtd = ZEROS48 ZEROS48),
                                                 MK_TDX(.mrtd = ONES48 ONES48, .max_age = 600))),
                         MK_NO_TAGS),
              MK_REQUIRE_NOTHING);

static void test_declared_any_of(void **state) {
    (void)state;
    assert_int_equal(FLEET.producer.n_validators, 1);
    mk_tdx_sim_td td;
    td_with(&td, "firmware A");
    mk_network *p_nw = st_net("specs-decl", NULL);
    ev_log l;
    mk_stream_producer *p = open_producer(p_nw, &FLEET, NULL, 0, &l);
    mk_network *c_nw = st_net("specs-decl", p_nw);
    give_tdx(c_nw, &td, mk_now() + 600);
    mk_stream_consumer *c = open_consumer(c_nw, &FLEET);
    expect_refused(&l, c_nw, "no validator accepts (tdx: ", "; tdx: ");
    mk_stream_consumer_free(c);
    mk_stream_producer_free(p);
    mk_network_free(c_nw);
    mk_network_free(p_nw);
}

/* The consumer side: a consumer's own spec (an MRTD of its producers)
 * judges each producer; one producer with the TD, one without a ticket. */
static void test_consumer_instance(void **state) {
    (void)state;
    mk_tdx_sim_td ta;
    td_with(&ta, "firmware A");
    mk_network *good = st_net("specs-cons", NULL);
    mk_network *bare = st_net("specs-cons", good);
    give_tdx(good, &ta, mk_now() + 600);
    ev_log pl[2];
    mk_stream_producer *p[2] = {open_producer(good, &ATTESTED, NULL, 0, &pl[0]),
                                open_producer(bare, &ATTESTED, NULL, 0, &pl[1])};
    mk_network *c_nw = st_net("specs-cons", good);
    ev_log cl;
    pthread_mutex_init(&cl.mu, NULL);
    cl.n = 0;
    mk_stream_consumer *c = NULL;
    {
        char ha[97];
        mrtd_hex(&ta, ha);
        mk_stream_consumer_config o = {
            .requirements = {MK_VALIDATORS(
                MK_TDX(.mrtd = ha, .sim_root = g_root, .sim_root_len = g_root_len))},
            .retry_min_ms = 100,
            .retry_max_ms = 300,
            .on_event = on_ev,
            .event_ctx = &cl};
        mk_error err;
        mk_error_clear(&err);
        TU_ASSERT_RC(mk_stream_consumer_new_from_def(c_nw, &ATTESTED, &o, &c, &err), 0, &err);
    }
    ST_WAIT_UNTIL(admitted_by(&cl, good), 15000, "the attested producer");
    expect_refused(&cl, bare, "tdx: peer has no ticket", NULL);
    mk_stream_consumer_free(c);
    for (int i = 0; i < 2; i++)
        mk_stream_producer_free(p[i]);
    mk_network_free(c_nw);
    mk_network_free(bare);
    mk_network_free(good);
}

/* Instance specs are checked like the declaration's: a bad one fails the
 * open with a reason naming it; tags stay the declaration's. */
static void test_instance_spec_errors(void **state) {
    (void)state;
    mk_network *nw = st_net("specs-err", NULL);
    mk_stream_producer *p = NULL;
    mk_error err;
    mk_error_clear(&err);
    mk_stream_producer_config o = {.requirements = {MK_VALIDATORS(MK_TDX(.mrtd = "12zz"))}};
    assert_int_equal(mk_stream_producer_new_from_def(nw, &ATTESTED, &o, &p, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "instance: validator 0: tdx spec: mrtd");
    assert_null(p);
    static const char *const tags[] = {"t"};
    mk_stream_consumer_config co = {.requirements = {.tags = tags, .n_tags = 1}};
    mk_stream_consumer *c = NULL;
    assert_int_equal(mk_stream_consumer_new_from_def(nw, &ATTESTED, &co, &c, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "an instance adds validators only");
    assert_null(c);
    mk_network_free(nw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_instance_mrtd),    cmocka_unit_test(test_any_of_tdx_or_jwt),
        cmocka_unit_test(test_declared_any_of),      cmocka_unit_test(test_consumer_instance),
        cmocka_unit_test(test_instance_spec_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#else
int main(void) {
    printf("streams spec TDX tests: built without TDX support, skipped\n");
    return 77; /* CTest: skipped (tests/test_util.h, "Skips") */
}
#endif
