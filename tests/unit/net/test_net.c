/*
 * test_net.c — the transport between two or more nodes: exchange, identity and network checks,
 * protocols, reuse, simultaneous dials, idle timeout, exporter, reconnect, posts and timers.
 *
 * Helpers and fixtures are in net_conn_util.h.
 */
#include "net_conn_util.h"

static void exchange(void **state) {
    (void)state;
    node a, b;
    node_start(&a, NULL);
    node_start(&b, NULL);
    b.echo = true;
    dial_res r;
    dial_wait(&a, &b, NULL, NULL, false, &r);
    if (r.status) fail_msg("dial failed: %s", r.msg);
    assert_non_null(r.conn);
    mk_id p;
    mk_transport_conn_peer(r.conn, &p);
    assert_true(mk_id_eq(&p, &b.id));
    assert_false(mk_transport_conn_inbound(r.conn));
    assert_string_equal(mk_transport_conn_protocol(r.conn), "test");
    /* The listener learned who dialed. */
    WAIT_UNTIL(&b, b.connects == 1, 3000);
    lock(&b);
    assert_true(mk_id_eq(&b.last_peer, &a.id));
    assert_true(b.last_inbound);
    unlock(&b);
    lock(&a);
    assert_int_equal(a.connects, 1);
    assert_false(a.last_inbound);
    unlock(&a);
    /* Frames both ways (b echoes). */
    assert_int_equal(mk_transport_conn_send(r.conn, "hello", 5), 0);
    WAIT_UNTIL(&a, a.frames == 1, 3000);
    lock(&b);
    assert_int_equal(b.last_frame_len, 5);
    assert_memory_equal(b.last_frame, "hello", 5);
    unlock(&b);
    lock(&a);
    assert_int_equal(a.last_frame_len, 8);
    assert_memory_equal(a.last_frame, "re:hello", 8);
    unlock(&a);
    /* Invalid sends. */
    assert_int_equal(mk_transport_conn_send(r.conn, "x", 0), MK_EINVAL);
    static uint8_t big[MK_TRANSPORT_DEFAULT_MAX_FRAME + 1];
    assert_int_equal(mk_transport_conn_send(r.conn, big, sizeof big), MK_ETOOBIG);
    /* A maximal frame goes through. */
    assert_int_equal(mk_transport_conn_send(r.conn, big, MK_TRANSPORT_DEFAULT_MAX_FRAME), 0);
    WAIT_UNTIL(&b, b.frames == 2, 5000);
    lock(&b);
    assert_int_equal(b.last_frame_len, MK_TRANSPORT_DEFAULT_MAX_FRAME);
    unlock(&b);
    mk_transport_metrics ma = metrics(&a), mb = metrics(&b);
    assert_int_equal(ma.conns_open, 1);
    assert_int_equal(mb.conns_open, 1);
    assert_int_equal(ma.conns_outbound, 1);
    assert_int_equal(mb.conns_inbound, 1);
    assert_int_equal(ma.frames_out, 2);
    assert_int_equal(mb.frames_in, 2);
    assert_true(mb.bytes_in > MK_TRANSPORT_DEFAULT_MAX_FRAME);
    /* Closing: both sides see on_close; sending after close is refused. */
    mk_transport_conn_close(r.conn, "test done");
    WAIT_UNTIL(&b, b.closes == 1, 3000);
    WAIT_UNTIL(&a, a.closes == 1, 3000);
    lock(&a);
    assert_int_equal(a.last_close_code, MK_ESTATE);
    unlock(&a);
    assert_int_equal(mk_transport_conn_send(r.conn, "x", 1), MK_ESTATE);
    mk_transport_conn_unref(r.conn);
    node_stop(&a);
    node_stop(&b);
}

static void wrong_peer_id(void **state) {
    (void)state;
    node a, b;
    node_start(&a, NULL);
    node_start(&b, NULL);
    /* Somebody else's id at b's address: b's certificate key differs. */
    mk_ed25519_key other;
    assert_int_equal(mk_ed25519_generate(&other), 0);
    mk_id wrong;
    memcpy(wrong.b, other.public_key, 32);
    dial_res r;
    dial_wait(&a, &b, &wrong, NULL, false, &r);
    assert_int_equal(r.status, MK_EMISMATCH);
    assert_null(r.conn);
    if (!strstr(r.msg, "peer id mismatch")) fail_msg("reason: %s", r.msg);
    /* b is done with the refused connection (its handshake failed, or -
     * were that a bug - it opened), and both I/O threads ran what that
     * queued, before the callbacks are counted. */
    WAIT_COND(metrics(&b).conns_pending == 0 &&
                  metrics(&b).handshakes_failed + metrics(&b).conns_inbound >= 1,
              3000);
    tu_loop_barrier(b.net);
    tu_loop_barrier(a.net);
    lock(&b);
    assert_int_equal(b.connects, 0);
    unlock(&b);
    lock(&a);
    assert_int_equal(a.connects, 0);
    unlock(&a);
    assert_int_equal(metrics(&a).refused_peer, 1);
    /* Dialing ourselves or an unknown protocol fails at once. */
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_dial(a.net, &a.id, b.addr, "test", NULL, NULL, NULL, &err), MK_EINVAL,
                 &err);
    TU_ASSERT_RC(mk_transport_dial(a.net, &b.id, b.addr, "nope", NULL, NULL, NULL, &err),
                 MK_ENOTFOUND, &err);
    TU_ASSERT_RC(mk_transport_dial(a.net, &b.id, "localhost:1", "test", NULL, NULL, NULL, &err),
                 MK_EINVAL, &err);
    node_stop(&a);
    node_stop(&b);
}

static void network_mismatch(void **state) {
    (void)state;
    node a, b;
    node_opts oa = {.network = "net-one"}, ob = {.network = "net-two"};
    node_start(&a, &oa);
    node_start(&b, &ob);
    b.echo = true;
    dial_res r;
    dial_wait(&a, &b, NULL, NULL, false, &r);
    assert_int_equal(r.status, MK_EMISMATCH);
    if (!strstr(r.msg, "ALPN")) fail_msg("reason: %s", r.msg);
    WAIT_COND(metrics(&b).refused_network == 1, 2000);
    /* Both ends done with the connection, their I/O threads caught up. */
    WAIT_COND(metrics(&a).conns_pending == 0 && metrics(&b).conns_pending == 0, 2000);
    tu_loop_barrier(b.net);
    tu_loop_barrier(a.net);
    lock(&b);
    assert_int_equal(b.connects, 0);
    assert_int_equal(b.frames, 0);
    unlock(&b);
    assert_int_equal(metrics(&b).frames_in, 0);
    assert_int_equal(metrics(&a).frames_out, 0);
    assert_int_equal(metrics(&a).conns_open, 0);
    node_stop(&a);
    node_stop(&b);
}

static void unknown_protocol(void **state) {
    (void)state;
    node a, b;
    node_start(&a, NULL);
    node_start(&b, NULL);
    mk_transport_protocol p = proto_for(&a, "only-a", 0);
    assert_int_equal(mk_transport_protocol_register(a.net, &p, NULL), 0);
    /* Names are validated and unique. */
    mk_transport_protocol bad = proto_for(&a, "Bad Name", 0);
    assert_int_equal(mk_transport_protocol_register(a.net, &bad, NULL), MK_EINVAL);
    assert_int_equal(mk_transport_protocol_register(a.net, &p, NULL), MK_EBUSY);
    dial_res r;
    dial_wait(&a, &b, NULL, "only-a", false, &r);
    assert_int_equal(r.status, MK_EMISMATCH);
    WAIT_COND(metrics(&b).refused_protocol == 1, 2000);
    node_stop(&a);
    node_stop(&b);
}

static void reuse(void **state) {
    (void)state;
    node a, b;
    node_start(&a, NULL);
    node_start(&b, NULL);
    /* Two dials in flight at once, then a third after: one connection. */
    dial_res r1, r2, r3;
    memset(&r1, 0, sizeof r1);
    memset(&r2, 0, sizeof r2);
    assert_int_equal(mk_transport_dial(a.net, &b.id, b.addr, "test", NULL, on_dial, &r1, NULL), 0);
    assert_int_equal(mk_transport_dial(a.net, &b.id, b.addr, "test", NULL, on_dial, &r2, NULL), 0);
    WAIT_COND(atomic_load(&r1.done) && atomic_load(&r2.done), 5000);
    dial_wait(&a, &b, NULL, NULL, false, &r3);
    assert_int_equal(r1.status, 0);
    assert_int_equal(r2.status, 0);
    assert_int_equal(r3.status, 0);
    assert_ptr_equal(r1.conn, r2.conn);
    assert_ptr_equal(r1.conn, r3.conn);
    /* b's on_connect, then anything else b's I/O thread had queued. */
    WAIT_UNTIL(&b, b.connects >= 1, 3000);
    tu_loop_barrier(b.net);
    lock(&b);
    assert_int_equal(b.connects, 1);
    unlock(&b);
    assert_int_equal(metrics(&a).conns_outbound, 1);
    /* b dialing a for the same protocol reuses b's inbound connection. */
    dial_res r4;
    dial_wait(&b, &a, NULL, NULL, false, &r4);
    assert_int_equal(r4.status, 0);
    assert_true(mk_transport_conn_inbound(r4.conn));
    assert_int_equal(metrics(&b).conns_outbound, 0);
    mk_transport_conn_unref(r1.conn);
    mk_transport_conn_unref(r2.conn);
    mk_transport_conn_unref(r3.conn);
    mk_transport_conn_unref(r4.conn);
    node_stop(&a);
    node_stop(&b);
}

static void simultaneous_dial(void **state) {
    (void)state;
    for (int round = 0; round < 3; round++) {
        node a, b;
        node_start(&a, NULL);
        node_start(&b, NULL);
        dial_res ra, rb;
        memset(&ra, 0, sizeof ra);
        memset(&rb, 0, sizeof rb);
        assert_int_equal(mk_transport_dial(a.net, &b.id, b.addr, "test", NULL, on_dial, &ra, NULL),
                         0);
        assert_int_equal(mk_transport_dial(b.net, &a.id, a.addr, "test", NULL, on_dial, &rb, NULL),
                         0);
        WAIT_COND(atomic_load(&ra.done) && atomic_load(&rb.done), 5000);
        assert_int_equal(ra.status, 0);
        assert_int_equal(rb.status, 0);
        /* Settle: one open connection each side, nothing pending. */
        WAIT_COND(metrics(&a).conns_open == 1 && metrics(&b).conns_open == 1 &&
                      metrics(&a).conns_pending == 0 && metrics(&b).conns_pending == 0,
                  5000);
        /* Settled on both ends: what their I/O threads had queued has run. */
        tu_loop_barrier(a.net);
        tu_loop_barrier(b.net);
        assert_int_equal(metrics(&a).conns_open, 1);
        assert_int_equal(metrics(&b).conns_open, 1);
        lock(&a);
        lock(&b);
        assert_int_equal(a.n_open, 1);
        assert_int_equal(b.n_open, 1);
        mk_transport_conn *ca = mk_transport_conn_ref(a.open[0]),
                          *cb = mk_transport_conn_ref(b.open[0]);
        unlock(&b);
        unlock(&a);
        /* The same TLS connection on both ends: equal exporter values. */
        uint8_t ea[32], eb[32];
        export_of(&a, ca, "simul", ea);
        export_of(&b, cb, "simul", eb);
        assert_memory_equal(ea, eb, 32);
        /* It is the one dialed by the lower peer id. */
        bool a_lower = mk_id_cmp(&a.id, &b.id) < 0;
        assert_int_equal(mk_transport_conn_inbound(ca), !a_lower);
        assert_int_equal(mk_transport_conn_inbound(cb), a_lower);
        /* And it carries frames. */
        assert_int_equal(mk_transport_conn_send(ca, "ping", 4), 0);
        WAIT_UNTIL(&b, b.frames == 1, 3000);
        mk_transport_conn_unref(ca);
        mk_transport_conn_unref(cb);
        if (ra.conn) mk_transport_conn_unref(ra.conn);
        if (rb.conn) mk_transport_conn_unref(rb.conn);
        node_stop(&a);
        node_stop(&b);
    }
}

static void idle_timeout(void **state) {
    (void)state;
    node a, b;
    node_opts o = {.idle_ms = 150};
    node_start(&a, &o);
    node_start(&b, NULL); /* default 30 s: a times out first */
    dial_res r;
    uint64_t t0 = ms_now();
    dial_wait(&a, &b, NULL, NULL, false, &r);
    assert_int_equal(r.status, 0);
    /* Traffic every 60 ms keeps it open until, on the test's clock, more
     * than idle_ms (150) plus 90 ms have passed since the dial began... */
    while (ms_now() - t0 < 150 + 90) {
        sleep_ms(60);
        assert_int_equal(mk_transport_conn_send(r.conn, "k", 1), 0);
    }
    lock(&a);
    assert_int_equal(a.closes, 0);
    unlock(&a);
    /* ...then silence closes it. */
    WAIT_UNTIL(&a, a.closes == 1, 3000);
    WAIT_UNTIL(&b, b.closes == 1, 3000);
    assert_true(ms_now() - t0 >= 150 + 240);
    lock(&a);
    assert_int_equal(a.last_close_code, MK_ETIMEDOUT);
    unlock(&a);
    lock(&b);
    assert_int_equal(b.last_close_code, MK_ENETWORK);
    unlock(&b);
    assert_int_equal(metrics(&a).closed_idle, 1);
    mk_transport_conn_unref(r.conn);
    node_stop(&a);
    node_stop(&b);
}

static void exporter(void **state) {
    (void)state;
    node a, b, c;
    node_start(&a, NULL);
    node_start(&b, NULL);
    node_start(&c, NULL);
    dial_res r1, r2;
    dial_wait(&a, &b, NULL, NULL, false, &r1);
    dial_wait(&c, &b, NULL, NULL, false, &r2);
    assert_int_equal(r1.status, 0);
    assert_int_equal(r2.status, 0);
    WAIT_UNTIL(&b, b.connects == 2, 3000);
    mk_transport_conn *b_for_a = NULL, *b_for_c = NULL;
    lock(&b);
    for (int i = 0; i < b.n_open; i++) {
        mk_id p;
        mk_transport_conn_peer(b.open[i], &p);
        if (mk_id_eq(&p, &a.id)) b_for_a = mk_transport_conn_ref(b.open[i]);
        if (mk_id_eq(&p, &c.id)) b_for_c = mk_transport_conn_ref(b.open[i]);
    }
    unlock(&b);
    assert_non_null(b_for_a);
    assert_non_null(b_for_c);
    uint8_t x1[32], y1[32], x2[32], y2[32], z[32];
    export_of(&a, r1.conn, "binding", x1);
    export_of(&b, b_for_a, "binding", y1);
    export_of(&c, r2.conn, "binding", x2);
    export_of(&b, b_for_c, "binding", y2);
    assert_memory_equal(x1, y1, 32);
    assert_memory_equal(x2, y2, 32);
    assert_memory_not_equal(x1, x2, 32);
    export_of(&a, r1.conn, "other", z); /* labels separate */
    assert_memory_not_equal(x1, z, 32);
    mk_error err;
    mk_error_clear(&err);
    assert_int_equal(mk_transport_conn_export(r1.conn, "x", NULL, 0, z, 0, &err), MK_EINVAL);
    mk_transport_conn_unref(b_for_a);
    mk_transport_conn_unref(b_for_c);
    mk_transport_conn_unref(r1.conn);
    mk_transport_conn_unref(r2.conn);
    node_stop(&a);
    node_stop(&b);
    node_stop(&c);
}

static void reconnect(void **state) {
    (void)state;
    node a, b;
    mk_ed25519_key kb;
    assert_int_equal(mk_ed25519_generate(&kb), 0);
    node_opts ob = {.key = &kb};
    node_start(&a, NULL);
    node_start(&b, &ob);
    char baddr[64];
    snprintf(baddr, sizeof baddr, "%s", b.addr);
    dial_res r;
    dial_wait(&a, &b, NULL, NULL, true, &r);
    assert_int_equal(r.status, 0);
    mk_transport_conn_unref(r.conn);
    /* The peer goes away... */
    node_stop(&b);
    WAIT_UNTIL(&a, a.closes == 1, 3000);
    /* ...a keeps trying (refused) while b is down... */
    WAIT_COND(metrics(&a).reconnects >= 2, 3000);
    /* ...and b comes back on the same address with the same key. */
    node_opts ob2 = {.key = &kb, .listen = baddr};
    node_start(&b, &ob2);
    WAIT_UNTIL(&a, a.connects == 2, 5000);
    WAIT_UNTIL(&b, b.connects == 1, 3000);
    lock(&a);
    assert_true(mk_id_eq(&a.last_peer, &b.id));
    unlock(&a);
    /* A local close ends keeping: no further reconnects. */
    lock(&a);
    mk_transport_conn *c = mk_transport_conn_ref(a.open[0]);
    unlock(&a);
    mk_transport_conn_close(c, "done");
    mk_transport_conn_unref(c);
    WAIT_UNTIL(&b, b.closes == 1, 3000);
    uint64_t rc = metrics(&a).reconnects;
    /* Longer than the longest backoff (reconnect_max_ms 200), and a's
     * timers due by then have run. */
    tu_wait_loop_after(a.net, 300);
    assert_int_equal(metrics(&a).reconnects, rc);
    lock(&a);
    assert_int_equal(a.connects, 2);
    unlock(&a);
    node_stop(&a);
    node_stop(&b);
}

static void post_and_timers(void **state) {
    (void)state;
    node a;
    node_start(&a, NULL);
    post_ctx p = {.net = a.net};
    assert_false(mk_transport_on_loop(a.net));
    assert_int_equal(mk_transport_post(a.net, posted, &p), 0);
    WAIT_COND(atomic_load(&p.ran) == 1, 2000);
    assert_int_equal(atomic_load(&p.status), 0);
    assert_int_equal(mk_transport_timer_new(a.net, ticked, &p, &p.t), 0);
    assert_int_equal(mk_transport_timer_start(p.t, 10, 10), 0);
    WAIT_COND(atomic_load(&p.fired) == 3, 2000);
    /* Stopped: six more periods pass and a's due timers run, none fires. */
    tu_wait_loop_after(a.net, 60);
    assert_int_equal(atomic_load(&p.fired), 3);
    /* A timer left running is closed at stop; free after stop is fine. */
    assert_int_equal(mk_transport_timer_start(p.t, 100000, 0), 0);
    mk_transport_stop(a.net);
    assert_int_equal(mk_transport_post(a.net, posted, &p), MK_ESTATE);
    mk_transport_timer_free(p.t);
    node_stop(&a);
    /* A network that never started frees cleanly, cancelling posts. */
    mk_transport *n;
    assert_int_equal(mk_transport_new(NULL, &n, NULL), 0);
    post_ctx q = {.net = n};
    assert_int_equal(mk_transport_post(n, posted, &q), 0);
    mk_transport_timer *t;
    assert_int_equal(mk_transport_timer_new(n, ticked, &q, &t), 0);
    mk_transport_free(n);
    (void)t; /* freed with the network */
    assert_int_equal(atomic_load(&q.ran), 1);
    assert_int_equal(atomic_load(&q.status), MK_ESTATE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exchange),
        cmocka_unit_test(wrong_peer_id),
        cmocka_unit_test(network_mismatch),
        cmocka_unit_test(unknown_protocol),
        cmocka_unit_test(reuse),
        cmocka_unit_test(simultaneous_dial),
        cmocka_unit_test(idle_timeout),
        cmocka_unit_test(exporter),
        cmocka_unit_test(reconnect),
        cmocka_unit_test(post_and_timers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
