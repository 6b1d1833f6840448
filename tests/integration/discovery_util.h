/*
 * tests/integration/discovery_util.h — what the discovery integration tests
 * share: networks with short intervals, catalog queries, and a raw
 * transport client (an mk_transport speaking the "discovery" protocol with any
 * key) that sends hand-made frames: signed entries, digests, garbage.
 */
#ifndef MOSAIK_DISC_UTIL_H
#define MOSAIK_DISC_UTIL_H

#include <pthread.h>
#include <time.h>

#include "net_util.h"

#include "discovery/disc_internal.h"

#define FAST_ANNOUNCE 300
#define FAST_SYNC 300

typedef void (*tweak_fn)(mk_network_config *cfg);

static inline void fast(mk_network_config *c) {
    c->announce_ms = FAST_ANNOUNCE;
    c->sync_ms = FAST_SYNC;
    c->purge_after_ms = 5000;
}

static inline mk_network *tn_new(const char *network, mk_network *boot, tweak_fn tweak) {
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = network;
    fast(&cfg);
    if (tweak) tweak(&cfg);
    return tu_network_new(&cfg, boot);
}

static inline uint64_t now_ms(void) {
    return tu_mono_ms(); /* the test's clock */
}

#define sleep_ms tu_sleep_ms

#define WAIT_UNTIL TU_WAIT_UNTIL

static inline bool all_see(mk_network **n, size_t k, size_t want) {
    for (size_t i = 0; i < k; i++)
        if (mk_network_peer_count(n[i]) != want) return false;
    return true;
}

static inline bool has_peer(mk_network *nw, mk_network *other) {
    mk_id id;
    mk_network_peer_id(other, &id);
    mk_peer_entry e;
    int rc = mk_network_get(nw, &id, &e);
    mk_peer_entry_free(&e);
    return rc == 0;
}

/* The version (a wall-clock ms stamp) of other's entry held by nw; 0 if none. */
static inline uint64_t held_version(mk_network *nw, mk_network *other) {
    mk_id id;
    mk_network_peer_id(other, &id);
    mk_peer_entry e;
    uint64_t v = mk_network_get(nw, &id, &e) == 0 ? e.version : 0;
    mk_peer_entry_free(&e);
    return v;
}

/* Syncs nw has started (one per anti-entropy round it runs). */
static inline uint64_t syncs_started(mk_network *nw) {
    mk_network_metrics m;
    mk_network_metrics_get(nw, &m);
    return m.syncs_started;
}

static inline uint64_t refused(mk_network *nw, mk_refusal r) {
    mk_network_metrics m;
    mk_network_metrics_get(nw, &m);
    return m.refused[r];
}

/* ----- a raw transport client for hostile input -------------------- */

typedef struct raw {
    mk_transport *net;
    mk_transport_conn *conn;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
    int closes;
} raw;

static inline void raw_dial_cb(mk_transport_conn *conn, int status, const mk_error *err,
                               void *ctx) {
    (void)err;
    raw *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->status = status;
    if (status == 0) r->conn = mk_transport_conn_ref(conn);
    r->done = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static inline void raw_on_frame(mk_transport_conn *c, const uint8_t *d, size_t l, void *ctx) {
    (void)c, (void)d, (void)l, (void)ctx;
}

static inline void raw_on_close(mk_transport_conn *c, int code, const char *reason, void *ctx) {
    (void)c, (void)code, (void)reason;
    raw *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->closes++;
    pthread_mutex_unlock(&r->mu);
}

static inline void raw_connect(raw *r, mk_network *target) {
    mk_id nid, pid;
    mk_network_id(target, &nid);
    mk_network_peer_id(target, &pid);
    char addr[MK_TRANSPORT_ADDR_MAX + 1];
    mk_network_listen_addr(target, addr, sizeof addr);
    pthread_mutex_lock(&r->mu);
    r->done = false;
    if (r->conn) mk_transport_conn_unref(r->conn);
    r->conn = NULL;
    pthread_mutex_unlock(&r->mu);
    mk_error err;
    TU_ASSERT_RC(
        mk_transport_dial(r->net, &pid, addr, MK_NETWORK_PROTOCOL, NULL, raw_dial_cb, r, &err), 0,
        &err);
    pthread_mutex_lock(&r->mu);
    while (!r->done)
        pthread_cond_wait(&r->cv, &r->mu);
    int st = r->status;
    pthread_mutex_unlock(&r->mu);
    assert_int_equal(st, 0);
}

/* A raw client of target with key (NULL: a random one). */
static inline void raw_open_key(raw *r, mk_network *target, const mk_ed25519_key *key) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    mk_transport_config nc;
    mk_transport_config_init(&nc);
    mk_network_id(target, &nc.network_id);
    nc.no_listen = true;
    nc.key = key;
    mk_error err;
    TU_ASSERT_RC(mk_transport_new(&nc, &r->net, &err), 0, &err);
    mk_transport_protocol p = {.name = MK_NETWORK_PROTOCOL,
                               .max_frame = 4 << 20,
                               .on_frame = raw_on_frame,
                               .on_close = raw_on_close,
                               .ctx = r};
    TU_ASSERT_RC(mk_transport_protocol_register(r->net, &p, &err), 0, &err);
    TU_ASSERT_RC(mk_transport_start(r->net, &err), 0, &err);
    raw_connect(r, target);
}

static inline void raw_open(raw *r, mk_network *target) {
    raw_open_key(r, target, NULL);
}

static inline void raw_send(raw *r, const mk_buf *frame) {
    assert_int_equal(mk_transport_conn_send(r->conn, frame->data, frame->len), 0);
}

static inline void raw_free(raw *r) {
    mk_transport_stop(r->net);
    if (r->conn) mk_transport_conn_unref(r->conn);
    mk_transport_free(r->net);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

static inline uint64_t wall_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A signed entry (with ticket t when not NULL) as an announce frame. */
static inline void entry_frame_t(const mk_ed25519_key *k, const mk_id *network, uint64_t version,
                                 bool departed, const mk_ticket *t, mk_buf *frame) {
    mk_peer_entry e;
    mk_peer_entry_init(&e);
    memcpy(e.peer_id.b, k->public_key, 32);
    e.network_id = *network;
    e.version = version;
    e.started_at = (int64_t)(version / 1000);
    e.departed = departed;
    mk_error err;
    if (!departed) assert_int_equal(mk_peer_entry_add_addr(&e, "127.0.0.1:1", &err), 0);
    if (t) TU_ASSERT_RC(mk_peer_entry_add_ticket(&e, t, &err), 0, &err);
    TU_ASSERT_RC(mk_peer_entry_sign(&e, k, &err), 0, &err);
    mk_buf w = MK_BUF_INIT;
    TU_ASSERT_RC(mk_peer_entry_encode(&e, &w, &err), 0, &err);
    mk_buf_init(frame, 0);
    assert_int_equal(mk_disc_encode_announce(frame, 0, w.data, w.len), 0);
    mk_buf_free(&w);
    mk_peer_entry_free(&e);
}

static inline void entry_frame(const mk_ed25519_key *k, const mk_id *network, uint64_t version,
                               bool departed, mk_buf *frame) {
    entry_frame_t(k, network, version, departed, NULL, frame);
}

static inline void expect_refusal(mk_network *a, raw *r, const mk_buf *frame, mk_refusal why) {
    uint64_t before = refused(a, why);
    size_t peers = mk_network_peer_count(a);
    raw_send(r, frame);
    char what[64];
    snprintf(what, sizeof what, "refusal %s", mk_refusal_name(why));
    WAIT_UNTIL(refused(a, why) == before + 1, 5000, what);
    assert_int_equal(mk_network_peer_count(a), peers);
}

static inline void no_sync(mk_network_config *c) {
    c->announce_ms = 60000;
    c->sync_ms = 60000;
}

#endif
