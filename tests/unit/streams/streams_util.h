/*
 * tests/unit/streams/streams_util.h — helpers shared by the streams tests:
 * networks on loopback with short gossip intervals, JWT tickets, waiting.
 */
#ifndef ST_UTIL_H
#define ST_UTIL_H

#include <time.h>

#include "net_util.h"

#include "mosaik/streams.h"

#define st_sleep_ms tu_sleep_ms

static inline uint64_t st_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#define ST_WAIT_UNTIL(pred, timeout_ms, what) ((void)TU_WAIT_UNTIL(pred, timeout_ms, what))
#define st_boot_string tu_boot_string

static inline mk_network *st_net(const char *network, mk_network *boot) {
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = network;
    cfg.announce_ms = 500;
    cfg.sync_ms = 300;
    return tu_network_new(&cfg, boot);
}

static inline mk_jwt_key *st_hs_key(uint8_t fill) {
    uint8_t secret[32];
    memset(secret, fill, sizeof secret);
    mk_jwt_key *k = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_jwt_key_hs(MK_JWT_HS256, secret, sizeof secret, &k, &err), 0, &err);
    return k;
}

/* A JWT ticket for nw's peer id expiring at exp. */
static inline void st_jwt_ticket(mk_network *nw, const mk_jwt_key *k, int64_t exp, mk_ticket *t) {
    mk_id peer;
    mk_network_peer_id(nw, &peer);
    mk_jwt_builder *b = mk_jwt_builder_new();
    assert_non_null(b);
    assert_int_equal(mk_jwt_builder_set_subject_peer(b, &peer), 0);
    assert_int_equal(mk_jwt_builder_set_expires_at(b, exp), 0);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_jwt_builder_ticket(b, k, mk_now(), t, &err), 0, &err);
    mk_jwt_builder_free(b);
}

static inline void st_give_jwt(mk_network *nw, const mk_jwt_key *k, int64_t exp) {
    mk_ticket t;
    st_jwt_ticket(nw, k, exp, &t);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_network_replace_ticket(nw, &t, &err), 0, &err);
    mk_ticket_free(&t);
}

static inline mk_validator *st_jwt_validator(const mk_jwt_key *k) {
    mk_error err;
    mk_error_clear(&err);
    const mk_jwt_key *keys[1] = {k};
    mk_jwt_validator_config jc;
    mk_jwt_validator_config_init(&jc);
    jc.keys = keys;
    jc.n_keys = 1;
    mk_validator *v = NULL;
    if (mk_jwt_validator_new(&jc, &v, &err) < 0) fail_msg("jwt validator: %s", err.msg);
    return v;
}

/* Records the events of one producer or consumer. */
typedef struct st_log {
    pthread_mutex_t mu;
    int n[5];
    unsigned last_reason[5];
    char last_text[5][300];
    int64_t last_late_ms;     /* the library's figure (ev->late_ms) */
    uint64_t last_expired_at; /* tu_wall_ms() when that EXPIRED event arrived */
} st_log;

static inline void st_log_init(st_log *l) {
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
}

static inline void st_on_event(const mk_stream_event *ev, void *ctx) {
    st_log *l = ctx;
    pthread_mutex_lock(&l->mu);
    l->n[ev->type]++;
    l->last_reason[ev->type] = ev->reason;
    snprintf(l->last_text[ev->type], sizeof l->last_text[0], "%s", ev->text);
    if (ev->reason == MK_STREAM_R_EXPIRED) {
        l->last_late_ms = ev->late_ms;
        l->last_expired_at = tu_wall_ms();
    }
    pthread_mutex_unlock(&l->mu);
}

static inline int st_count(st_log *l, mk_stream_event_type t) {
    pthread_mutex_lock(&l->mu);
    int n = l->n[t];
    pthread_mutex_unlock(&l->mu);
    return n;
}

/* How late after exp (s since the epoch) the last EXPIRED event of l came,
 * on the test's clock; asserts that the library's own late_ms, measured
 * before the event was delivered, lies between 0 and that. */
static inline int64_t st_expired_late(st_log *l, int64_t exp) {
    pthread_mutex_lock(&l->mu);
    int64_t late = (int64_t)l->last_expired_at - exp * 1000;
    int64_t lib = l->last_late_ms;
    pthread_mutex_unlock(&l->mu);
    printf("# EXPIRED event %lld ms after the expiry (the library reports %lld ms)\n",
           (long long)late, (long long)lib);
    assert_true(lib >= 0 && lib <= late);
    return late;
}

static inline unsigned st_reason(st_log *l, mk_stream_event_type t) {
    pthread_mutex_lock(&l->mu);
    unsigned r = l->last_reason[t];
    pthread_mutex_unlock(&l->mu);
    return r;
}

/* A consumer node of the ticket tests: its network, its consumer of one
 * stream, and the events it saw. */
typedef struct st_node {
    mk_network *nw;
    mk_stream_consumer *c;
    st_log log;
} st_node;

static inline void st_node_net(st_node *n, const char *net, mk_network *boot) {
    st_log_init(&n->log);
    n->nw = st_net(net, boot);
    n->c = NULL;
}

static inline void st_node_consume(st_node *n, const char *stream) {
    mk_stream_consumer_config o;
    mk_stream_consumer_config_init(&o);
    o.on_event = st_on_event;
    o.event_ctx = &n->log;
    o.retry_min_ms = 100;
    o.retry_max_ms = 300;
    mk_error err;
    mk_error_clear(&err);
    o.name = stream;
    TU_ASSERT_RC(mk_stream_consumer_new(n->nw, &o, &n->c, &err), 0, &err);
}

static inline void st_node_free(st_node *n) {
    mk_stream_consumer_free(n->c);
    mk_network_free(n->nw);
}

static inline bool st_node_admitted(st_node *n) {
    mk_stream_when w = mk_when_subscribed();
    return mk_stream_consumer_wait(n->c, &w, 0) == 0;
}

/* The node was refused for its tickets, with substr in the reason. */
static inline void st_node_expect_rejected(st_node *n, const char *substr) {
    ST_WAIT_UNTIL(st_count(&n->log, MK_STREAM_EV_REJECTED) > 0, 10000, "a refusal");
    assert_int_equal(st_reason(&n->log, MK_STREAM_EV_REJECTED), MK_STREAM_R_TICKET);
    pthread_mutex_lock(&n->log.mu);
    if (!strstr(n->log.last_text[MK_STREAM_EV_REJECTED], substr))
        fail_msg("refusal \"%s\" lacks \"%s\"", n->log.last_text[MK_STREAM_EV_REJECTED], substr);
    printf("# refused: %s\n", n->log.last_text[MK_STREAM_EV_REJECTED]);
    pthread_mutex_unlock(&n->log.mu);
    assert_false(st_node_admitted(n));
}

/* A producer of stream on nw requiring v (taken; NULL: nothing). */
static inline mk_stream_producer *st_producer_requiring(mk_network *nw, const char *stream,
                                                        mk_validator *v) {
    mk_stream_producer *p = NULL;
    mk_error err;
    mk_error_clear(&err);
    mk_stream_producer_config o;
    mk_stream_producer_config_init(&o);
    o.name = stream;
    TU_ASSERT_RC(mk_stream_producer_new(nw, &o, &p, &err), 0, &err);
    if (v) TU_ASSERT_RC(mk_stream_producer_require(p, v, &err), 0, &err);
    return p;
}

#endif
