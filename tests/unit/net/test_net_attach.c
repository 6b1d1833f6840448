/*
 * Unit tests of the attachment mechanism (docs/net.md, "Attaching a
 * layer"): registering a protocol, traffic, unregistering it (connections
 * closed, no callback afterwards, the name refused), registering it again;
 * mk_transport_call on and off the I/O thread, before start and while the network
 * stops; and, on an mk_network, typed slots with detach and hook removal.
 * Real TLS connections on 127.0.0.1 with ephemeral ports.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "net_util.h"

/* ----- a protocol endpoint that records its callbacks --------------------- */

typedef struct endpoint {
    pthread_mutex_t mu;
    int connects, closes, frames;
    int last_close_code;
    mk_transport_conn *open; /* referenced while open */
    uint8_t last_frame[64];
    size_t last_len;
    atomic_int close_sleep_ms; /* on_close sleeps this long (shutdown timing) */
    atomic_bool close_done;
} endpoint;

static void ep_init(endpoint *e) {
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
}

static void ep_free(endpoint *e) {
    pthread_mutex_destroy(&e->mu);
}

static int ep_get(endpoint *e, const int *field) {
    pthread_mutex_lock(&e->mu);
    int v = *field;
    pthread_mutex_unlock(&e->mu);
    return v;
}

static void ep_connect(mk_transport_conn *c, bool inbound, void *ctx) {
    (void)inbound;
    endpoint *e = ctx;
    pthread_mutex_lock(&e->mu);
    e->connects++;
    if (!e->open) e->open = mk_transport_conn_ref(c);
    pthread_mutex_unlock(&e->mu);
}

static void ep_frame(mk_transport_conn *c, const uint8_t *data, size_t len, void *ctx) {
    (void)c;
    endpoint *e = ctx;
    pthread_mutex_lock(&e->mu);
    e->frames++;
    e->last_len = len < sizeof e->last_frame ? len : sizeof e->last_frame;
    memcpy(e->last_frame, data, e->last_len);
    pthread_mutex_unlock(&e->mu);
}

static void ep_close(mk_transport_conn *c, int code, const char *reason, void *ctx) {
    (void)reason;
    endpoint *e = ctx;
    int ms = atomic_load(&e->close_sleep_ms);
    if (ms) tu_sleep_ms((unsigned)ms);
    pthread_mutex_lock(&e->mu);
    e->closes++;
    e->last_close_code = code;
    if (e->open == c) {
        mk_transport_conn_unref(c);
        e->open = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    atomic_store(&e->close_done, true);
}

static mk_transport_protocol ep_proto(endpoint *e, const char *name) {
    mk_transport_protocol p = {.name = name,
                               .on_connect = ep_connect,
                               .on_frame = ep_frame,
                               .on_close = ep_close,
                               .ctx = e};
    return p;
}

static mk_transport *net_start(void) {
    mk_transport_config cfg;
    mk_transport_config_init(&cfg);
    mk_id_from_name(&cfg.network_id, "attach-test");
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 100;
    mk_transport *n = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_new(&cfg, &n, &err), 0, &err);
    TU_ASSERT_RC(mk_transport_start(n, &err), 0, &err);
    return n;
}

typedef struct dial_res {
    atomic_int done;
    int status;
    mk_transport_conn *conn;
} dial_res;

static void on_dial(mk_transport_conn *c, int status, const mk_error *err, void *ctx) {
    (void)err;
    dial_res *r = ctx;
    r->status = status;
    r->conn = c ? mk_transport_conn_ref(c) : NULL;
    atomic_store(&r->done, 1);
}

/* Dial `to` from `from` for protocol and wait for the completion. */
static int dial(mk_transport *from, mk_transport *to, const char *proto, bool keep, dial_res *r) {
    memset(r, 0, sizeof *r);
    mk_id peer;
    mk_transport_peer_id(to, &peer);
    char addr[MK_TRANSPORT_ADDR_MAX];
    assert_int_equal(mk_transport_listen_addr(to, addr, sizeof addr), 0);
    mk_transport_dial_opts o = {.keep = keep};
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_dial(from, &peer, addr, proto, &o, on_dial, r, &err), 0, &err);
    TU_WAIT_UNTIL(atomic_load(&r->done), 8000, "the dial");
    return r->status;
}

/* ----- register, traffic, unregister, register again ------------------------ */

typedef struct unreg_call {
    int rc;
} unreg_call;

static void unregister_on_loop(mk_transport *net, void *ctx) {
    unreg_call *u = ctx;
    u->rc = mk_transport_protocol_unregister(net, "app", NULL);
}

static void protocol_lifecycle(void **state) {
    (void)state;
    endpoint ea, eb, eb2;
    ep_init(&ea);
    ep_init(&eb);
    ep_init(&eb2);
    mk_transport *a = net_start(), *b = net_start();
    mk_error err;
    mk_error_clear(&err);
    mk_transport_protocol pa = ep_proto(&ea, "app"), pb = ep_proto(&eb, "app");
    TU_ASSERT_RC(mk_transport_protocol_register(a, &pa, &err), 0, &err);
    TU_ASSERT_RC(mk_transport_protocol_register(b, &pb, &err), 0, &err);
    assert_int_equal(mk_transport_protocol_register(b, &pb, NULL), MK_EBUSY);

    /* Traffic. */
    dial_res r;
    assert_int_equal(dial(a, b, "app", false, &r), 0);
    assert_int_equal(mk_transport_conn_send(r.conn, "ping", 4), 0);
    TU_WAIT_UNTIL(ep_get(&eb, &eb.frames) == 1, 3000, "the frame at b");
    pthread_mutex_lock(&eb.mu);
    assert_int_equal(eb.last_len, 4);
    assert_memory_equal(eb.last_frame, "ping", 4);
    pthread_mutex_unlock(&eb.mu);

    /* Not from the I/O thread. */
    unreg_call u = {0};
    assert_int_equal(mk_transport_call(b, unregister_on_loop, &u), 0);
    assert_int_equal(u.rc, MK_ESTATE);

    /* Unregister: b's connection is closed before it returns, with
     * MK_ESTATE; a sees the peer close. */
    TU_ASSERT_RC(mk_transport_protocol_unregister(b, "app", &err), 0, &err);
    assert_int_equal(ep_get(&eb, &eb.closes), 1);
    assert_int_equal(ep_get(&eb, &eb.last_close_code), MK_ESTATE);
    TU_WAIT_UNTIL(ep_get(&ea, &ea.closes) == 1, 3000, "the close at a");
    mk_transport_conn_unref(r.conn);
    /* The name is gone: local dials, forgets and a second unregister fail,
     * and a remote dial is refused in the handshake. */
    mk_id pid;
    mk_transport_peer_id(a, &pid);
    assert_int_equal(mk_transport_dial(b, &pid, "127.0.0.1:1", "app", NULL, NULL, NULL, NULL),
                     MK_ENOTFOUND);
    assert_int_equal(mk_transport_forget(b, &pid, "app"), MK_ENOTFOUND);
    assert_int_equal(mk_transport_protocol_unregister(b, "app", NULL), MK_ENOTFOUND);
    assert_int_equal(dial(a, b, "app", false, &r), MK_EMISMATCH);
    /* No callback of the unregistered protocol ran after it returned: the
     * refused dial is over at b (nothing pending), and b's I/O thread ran
     * everything queued before the count. */
    TU_WAIT_UNTIL(({
                      mk_transport_metrics mb;
                      mk_transport_metrics_get(b, &mb);
                      mb.refused_protocol >= 1 && mb.conns_pending == 0;
                  }),
                  3000, "b done with the refused dial");
    tu_loop_barrier(b);
    assert_int_equal(ep_get(&eb, &eb.connects), 1);
    assert_int_equal(ep_get(&eb, &eb.closes), 1);
    assert_int_equal(ep_get(&eb, &eb.frames), 1);

    /* Register again, with another context: traffic reaches the new one. */
    mk_transport_protocol pb2 = ep_proto(&eb2, "app");
    TU_ASSERT_RC(mk_transport_protocol_register(b, &pb2, &err), 0, &err);
    assert_int_equal(dial(a, b, "app", false, &r), 0);
    assert_int_equal(mk_transport_conn_send(r.conn, "again", 5), 0);
    TU_WAIT_UNTIL(ep_get(&eb2, &eb2.frames) == 1, 3000, "the frame at the new b");
    assert_int_equal(ep_get(&eb, &eb.frames), 1);
    assert_int_equal(ep_get(&eb2, &eb2.connects), 1);
    mk_transport_conn_unref(r.conn);

    /* A kept connection: unregistering at the dialer forgets the peer (no
     * redials afterwards) and closes it. */
    assert_int_equal(dial(a, b, "app", true, &r), 0);
    mk_transport_conn_unref(r.conn);
    int a_closes = ep_get(&ea, &ea.closes);
    TU_ASSERT_RC(mk_transport_protocol_unregister(a, "app", &err), 0, &err);
    assert_int_equal(ep_get(&ea, &ea.closes), a_closes + 1);
    TU_WAIT_UNTIL(ep_get(&eb2, &eb2.closes) == 1, 3000, "the close at b");
    mk_transport_metrics m1, m2;
    mk_transport_metrics_get(a, &m1);
    /* Several backoff periods (reconnect_max_ms 100), and a's timers due by
     * then have run. */
    tu_wait_loop_after(a, 250);
    mk_transport_metrics_get(a, &m2);
    assert_int_equal(m1.reconnects, m2.reconnects);
    assert_int_equal(m2.conns_open, 0);

    mk_transport_free(a);
    mk_transport_free(b);
    assert_null(ea.open);
    assert_null(eb2.open);
    ep_free(&ea);
    ep_free(&eb);
    ep_free(&eb2);
}

/* Unregistering a protocol of a network that is stopped, or never started. */
static void unregister_stopped(void **state) {
    (void)state;
    endpoint e;
    ep_init(&e);
    mk_transport *n = NULL;
    assert_int_equal(mk_transport_new(NULL, &n, NULL), 0);
    mk_transport_protocol p = ep_proto(&e, "app");
    assert_int_equal(mk_transport_protocol_register(n, &p, NULL), 0);
    assert_int_equal(mk_transport_protocol_unregister(n, "app", NULL), 0);
    assert_int_equal(mk_transport_protocol_register(n, &p, NULL), 0);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_start(n, &err), 0, &err);
    assert_int_equal(mk_transport_stop(n), 0);
    assert_int_equal(mk_transport_protocol_unregister(n, "app", NULL), 0);
    assert_int_equal(mk_transport_protocol_unregister(n, "app", NULL), MK_ENOTFOUND);
    mk_transport_free(n);
    ep_free(&e);
}

/* ----- mk_transport_call ------------------------------------------------------------ */

typedef struct call_ctx {
    atomic_int runs;
    atomic_bool on_loop;
    mk_transport *net;
    atomic_int nested;
} call_ctx;

static void count_run(mk_transport *net, void *ctx) {
    call_ctx *c = ctx;
    atomic_fetch_add(&c->runs, 1);
    atomic_store(&c->on_loop, mk_transport_on_loop(net));
}

static void nested_run(mk_transport *net, void *ctx) {
    call_ctx *c = ctx;
    /* From the I/O thread a call runs directly. */
    atomic_store(&c->nested, mk_transport_call(net, count_run, c) == 0 ? 1 : -1);
}

static void call_basics(void **state) {
    (void)state;
    call_ctx c = {0};
    assert_int_equal(mk_transport_call(NULL, count_run, &c), MK_EINVAL);
    mk_transport *n = NULL;
    assert_int_equal(mk_transport_new(NULL, &n, NULL), 0);
    assert_int_equal(mk_transport_call(n, NULL, &c), MK_EINVAL);
    /* Before start: directly on the caller's thread. */
    assert_int_equal(mk_transport_call(n, count_run, &c), 0);
    assert_int_equal(atomic_load(&c.runs), 1);
    assert_false(atomic_load(&c.on_loop));
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_start(n, &err), 0, &err);
    /* Running: on the I/O thread, waited for. */
    assert_int_equal(mk_transport_call(n, count_run, &c), 0);
    assert_int_equal(atomic_load(&c.runs), 2);
    assert_true(atomic_load(&c.on_loop));
    assert_int_equal(mk_transport_call(n, nested_run, &c), 0);
    assert_int_equal(atomic_load(&c.nested), 1);
    assert_int_equal(atomic_load(&c.runs), 3);
    /* Stopped: not run; the idiom runs it once on the caller's thread. */
    assert_int_equal(mk_transport_stop(n), 0);
    if (mk_transport_call(n, count_run, &c) == MK_ESTATE) count_run(n, &c);
    assert_int_equal(atomic_load(&c.runs), 4);
    assert_false(atomic_load(&c.on_loop));
    mk_transport_free(n);
}

typedef struct caller {
    mk_transport *net;
    endpoint *watch;
    call_ctx c;
    atomic_bool go;
    int estate_before_done; /* MK_ESTATE seen while on_close still ran */
    int ran, refused;
} caller;

static void *caller_main(void *arg) {
    caller *k = arg;
    while (!atomic_load(&k->go)) {
    }
    for (;;) {
        int rc = mk_transport_call(k->net, count_run, &k->c);
        if (rc == 0) {
            k->ran++;
            continue;
        }
        if (rc == MK_ESTATE) {
            /* The I/O thread must be gone: the slow on_close finished. */
            if (!atomic_load(&k->watch->close_done)) k->estate_before_done++;
            k->refused++;
        }
        return NULL;
    }
}

/* mk_transport_call during mk_transport_stop: every call either ran on the I/O thread
 * or returned MK_ESTATE after the shutdown finished (the protocol's
 * on_close, run by the stop on the I/O thread, sleeps to widen the
 * window). */
static void call_during_close(void **state) {
    (void)state;
    endpoint ea, eb;
    ep_init(&ea);
    ep_init(&eb);
    mk_transport *a = net_start(), *b = net_start();
    mk_transport_protocol pa = ep_proto(&ea, "app"), pb = ep_proto(&eb, "app");
    assert_int_equal(mk_transport_protocol_register(a, &pa, NULL), 0);
    assert_int_equal(mk_transport_protocol_register(b, &pb, NULL), 0);
    dial_res r;
    assert_int_equal(dial(a, b, "app", false, &r), 0);
    mk_transport_conn_unref(r.conn);
    atomic_store(&ea.close_sleep_ms, 200);

    caller k[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        memset(&k[i], 0, sizeof k[i]);
        k[i].net = a;
        k[i].watch = &ea;
        assert_int_equal(pthread_create(&th[i], NULL, caller_main, &k[i]), 0);
        atomic_store(&k[i].go, true);
    }
    /* Both callers are calling before the stop begins. */
    TU_WAIT_UNTIL(atomic_load(&k[0].c.runs) > 0 && atomic_load(&k[1].c.runs) > 0, 5000,
                  "both callers running");
    assert_int_equal(mk_transport_stop(a), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(k[i].refused, 1);
        assert_int_equal(k[i].estate_before_done, 0);
        assert_int_equal(atomic_load(&k[i].c.runs), k[i].ran);
    }
    assert_true(atomic_load(&ea.close_done));
    assert_int_equal(ep_get(&ea, &ea.closes), 1);
    assert_int_equal(ep_get(&ea, &ea.last_close_code), MK_ESTATE);
    mk_transport_free(a);
    mk_transport_free(b);
    ep_free(&ea);
    ep_free(&eb);
}

/* ----- typed slots and hooks on an mk_network ------------------------------------ */

static atomic_int g_destroyed;

static void slot_destroy(void *ptr) {
    (void)ptr;
    atomic_fetch_add(&g_destroyed, 1);
}

static const mk_network_slot_type slot_a = {"layer-a", slot_destroy};
static const mk_network_slot_type slot_b = {"layer-b", slot_destroy};

/* The contact string names this node as bootstrap lists take it. */
static void contact(void **state) {
    (void)state;
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = "attach-contact";
    mk_network *nw = tu_network_new(&cfg, NULL);
    char c[MK_NETWORK_CONTACT_MAX], addr[MK_TRANSPORT_ADDR_MAX + 1],
        want[MK_TRANSPORT_ADDR_MAX + 1];
    assert_int_equal(mk_network_contact(nw, c, sizeof c), 0);
    mk_id got, self;
    mk_error err;
    TU_ASSERT_RC(mk_parse_peer_addr(c, &got, addr, &err), 0, &err);
    mk_network_peer_id(nw, &self);
    assert_true(mk_id_eq(&got, &self));
    assert_int_equal(mk_network_listen_addr(nw, want, sizeof want), 0);
    assert_string_equal(addr, want);
    assert_int_equal(mk_network_contact(nw, c, 70), MK_ETOOBIG);
    mk_network_free(nw);
}

static void slots(void **state) {
    (void)state;
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = "attach-slots";
    mk_network *nw = tu_network_new(&cfg, NULL);
    int x = 1, y = 2, z = 3;
    mk_error err;
    mk_error_clear(&err);
    assert_null(mk_network_slot_get(nw, &slot_a));
    TU_ASSERT_RC(mk_network_slot_attach(nw, &slot_a, &x, &err), 0, &err);
    assert_ptr_equal(mk_network_slot_get(nw, &slot_a), &x);
    assert_int_equal(mk_network_slot_attach(nw, &slot_a, &y, &err), MK_EBUSY);
    TU_ASSERT_REASON(&err, "layer-a");
    /* Detach hands the pointer back without destroying it. */
    assert_ptr_equal(mk_network_slot_detach(nw, &slot_a), &x);
    assert_null(mk_network_slot_get(nw, &slot_a));
    assert_null(mk_network_slot_detach(nw, &slot_a));
    assert_int_equal(atomic_load(&g_destroyed), 0);
    /* Attached again, and a second layer: both destroyed at free. */
    TU_ASSERT_RC(mk_network_slot_attach(nw, &slot_a, &y, &err), 0, &err);
    TU_ASSERT_RC(mk_network_slot_attach(nw, &slot_b, &z, &err), 0, &err);
    mk_network_free(nw);
    assert_int_equal(atomic_load(&g_destroyed), 2);
}

static atomic_int g_hook_a, g_hook_b, g_remove_rc = 1;

static void hook_a(mk_network *nw, const mk_network_event *ev, void *ctx) {
    (void)nw, (void)ev, (void)ctx;
    atomic_fetch_add(&g_hook_a, 1);
}

/* Removes hook_a from within a run: hook_a, after it, is not called. */
static void hook_b(mk_network *nw, const mk_network_event *ev, void *ctx) {
    (void)ev, (void)ctx;
    atomic_fetch_add(&g_hook_b, 1);
    if (atomic_load(&g_hook_b) == 2)
        atomic_store(&g_remove_rc, mk_network_remove_hook(nw, hook_a, NULL));
}

static void hooks(void **state) {
    (void)state;
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = "attach-hooks";
    cfg.announce_ms = 200;
    cfg.sync_ms = 200;
    /* a's hooks are in place before b (bootstrapped from a) exists. */
    mk_network *a = tu_network_new(&cfg, NULL);
    mk_error err;
    mk_error_clear(&err);
    assert_int_equal(mk_network_remove_hook(a, hook_a, NULL), MK_ENOTFOUND);
    TU_ASSERT_RC(mk_network_add_hook(a, hook_b, NULL, &err), 0, &err);
    TU_ASSERT_RC(mk_network_add_hook(a, hook_a, NULL, &err), 0, &err);
    mk_network *b = tu_network_new(&cfg, a);
    TU_WAIT_UNTIL(mk_network_peer_count(a) == 1, 10000, "a to discover b");
    TU_WAIT_UNTIL(atomic_load(&g_hook_a) == 1, 3000, "hook_a");
    assert_int_equal(atomic_load(&g_hook_b), 1);
    /* b changes: hook_b runs first and removes hook_a, which is skipped. */
    mk_id tag;
    mk_id_from_name(&tag, "t1");
    TU_ASSERT_RC(mk_network_add_tag(b, &tag, &err), 0, &err);
    TU_WAIT_UNTIL(atomic_load(&g_hook_b) == 2, 5000, "hook_b again");
    assert_int_equal(atomic_load(&g_remove_rc), 0);
    assert_int_equal(atomic_load(&g_hook_a), 1);
    /* From this thread: after remove_hook returns, hook_b runs no more. */
    assert_int_equal(mk_network_remove_hook(a, hook_b, NULL), 0);
    int b_runs = atomic_load(&g_hook_b);
    mk_id_from_name(&tag, "t2");
    TU_ASSERT_RC(mk_network_add_tag(b, &tag, &err), 0, &err);
    mk_network_event ev;
    int updates = 0;
    while (updates < 2 && mk_network_next_event(a, 5000, &ev) == 0) {
        if (ev.type == MK_EVENT_UPDATED) updates++;
        mk_network_event_free(&ev);
    }
    assert_int_equal(updates, 2); /* the events still reach the queue */
    assert_int_equal(atomic_load(&g_hook_b), b_runs);
    assert_int_equal(atomic_load(&g_hook_a), 1);
    mk_network_free(a);
    mk_network_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(protocol_lifecycle),
        cmocka_unit_test(unregister_stopped),
        cmocka_unit_test(call_basics),
        cmocka_unit_test(call_during_close),
        cmocka_unit_test(contact),
        cmocka_unit_test(slots),
        cmocka_unit_test(hooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
