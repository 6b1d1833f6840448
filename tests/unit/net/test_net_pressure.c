/*
 * test_net_pressure.c — the transport under pressure: oversized and malformed frames, many
 * connections, pending-dial limits and floods, backpressure.
 *
 * Helpers and fixtures are in net_conn_util.h.
 */
#include "net_conn_util.h"

static void oversized_frame(void **state) {
    (void)state;
    node a, b, c;
    node_opts ob = {.max_frame = 1024}, oa = {.max_frame = 65536};
    node_start(&a, &oa);
    node_start(&b, &ob);
    node_start(&c, NULL);
    dial_res ra, rc;
    dial_wait(&a, &b, NULL, NULL, false, &ra);
    dial_wait(&c, &b, NULL, NULL, false, &rc);
    assert_int_equal(ra.status, 0);
    assert_int_equal(rc.status, 0);
    WAIT_UNTIL(&b, b.connects == 2, 3000);
    /* a's limit allows 2000 bytes, b's does not: b closes a's connection. */
    static uint8_t big[2000];
    assert_int_equal(mk_transport_conn_send(ra.conn, big, sizeof big), 0);
    WAIT_UNTIL(&b, b.closes == 1, 3000);
    lock(&b);
    assert_int_equal(b.last_close_code, MK_ETOOBIG);
    if (!strstr(b.last_close_reason, "exceeds the maximum 1024"))
        fail_msg("reason: %s", b.last_close_reason);
    assert_int_equal(b.frames, 0);
    unlock(&b);
    WAIT_UNTIL(&a, a.closes == 1, 3000);
    assert_int_equal(metrics(&b).closed_oversize, 1);
    /* c's connection to b still works. */
    assert_int_equal(mk_transport_conn_send(rc.conn, "still here", 10), 0);
    WAIT_UNTIL(&b, b.frames == 1, 3000);
    lock(&b);
    assert_memory_equal(b.last_frame, "still here", 10);
    assert_int_equal(b.n_open, 1);
    unlock(&b);
    mk_transport_conn_unref(ra.conn);
    mk_transport_conn_unref(rc.conn);
    node_stop(&a);
    node_stop(&b);
    node_stop(&c);
}

static void malformed_prefix(void **state) {
    (void)state;
    node a, b;
    node_start(&a, NULL);
    node_start(&b, NULL);
    dial_res r;
    /* A length prefix of 0xffffffff. */
    dial_wait(&a, &b, NULL, NULL, false, &r);
    assert_int_equal(r.status, 0);
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    raw_job j = {r.conn, huge, sizeof huge, false};
    assert_int_equal(mk_transport_call(a.net, raw_run, &j), 0);
    WAIT_UNTIL(&b, b.closes == 1, 3000);
    lock(&b);
    assert_int_equal(b.last_close_code, MK_ETOOBIG);
    if (!strstr(b.last_close_reason, "4294967295")) fail_msg("reason: %s", b.last_close_reason);
    unlock(&b);
    WAIT_UNTIL(&a, a.closes == 1, 3000);
    mk_transport_conn_unref(r.conn);
    /* A truncated frame: 3 header bytes, then close_notify. */
    dial_wait(&a, &b, NULL, NULL, false, &r);
    assert_int_equal(r.status, 0);
    WAIT_UNTIL(&b, b.connects == 2, 3000);
    static const uint8_t part[] = {0, 0, 1};
    raw_job j2 = {r.conn, part, sizeof part, true};
    assert_int_equal(mk_transport_call(a.net, raw_run, &j2), 0);
    WAIT_UNTIL(&b, b.closes == 2, 3000);
    lock(&b);
    assert_int_equal(b.last_close_code, MK_EMALFORMED);
    if (!strstr(b.last_close_reason, "mid-frame")) fail_msg("reason: %s", b.last_close_reason);
    unlock(&b);
    assert_int_equal(metrics(&b).closed_malformed, 1);
    mk_transport_conn_unref(r.conn);
    node_stop(&a);
    node_stop(&b);
}

static void many_connections(void **state) {
    (void)state;
    enum { NCLIENTS = 10, NPROTO = 5 };
    static const char *names[NPROTO] = {"p0", "p1", "p2", "p3", "p4"};
    node srv;
    static node cl[NCLIENTS];
    /* Generous handshake deadline: 50 handshakes on 2 cores under valgrind. */
    node_opts o = {.handshake_ms = 60000};
    node_start(&srv, &o);
    srv.echo = true;
    for (int p = 0; p < NPROTO; p++) {
        mk_transport_protocol pr = proto_for(&srv, names[p], 0);
        assert_int_equal(mk_transport_protocol_register(srv.net, &pr, NULL), 0);
    }
    static dial_res res[NCLIENTS][NPROTO];
    for (int i = 0; i < NCLIENTS; i++) {
        node_start(&cl[i], &o);
        for (int p = 0; p < NPROTO; p++) {
            mk_transport_protocol pr = proto_for(&cl[i], names[p], 0);
            assert_int_equal(mk_transport_protocol_register(cl[i].net, &pr, NULL), 0);
            memset(&res[i][p], 0, sizeof res[i][p]);
            assert_int_equal(mk_transport_dial(cl[i].net, &srv.id, srv.addr, names[p], NULL,
                                               on_dial, &res[i][p], NULL),
                             0);
        }
    }
    for (int i = 0; i < NCLIENTS; i++)
        for (int p = 0; p < NPROTO; p++) {
            WAIT_COND(atomic_load(&res[i][p].done), 60000);
            if (res[i][p].status) fail_msg("dial %d/%d: %s", i, p, res[i][p].msg);
            assert_int_equal(mk_transport_conn_send(res[i][p].conn, "m", 1), 0);
        }
    WAIT_UNTIL(&srv, srv.connects == NCLIENTS * NPROTO && srv.frames == NCLIENTS * NPROTO, 30000);
    for (int i = 0; i < NCLIENTS; i++)
        WAIT_UNTIL(&cl[i], cl[i].frames == NPROTO, 30000);
    assert_int_equal(metrics(&srv).conns_open, NCLIENTS * NPROTO);
    for (int i = 0; i < NCLIENTS; i++)
        for (int p = 0; p < NPROTO; p++)
            mk_transport_conn_unref(res[i][p].conn);
    /* Stop the server first: every client sees its connections close. */
    node_stop(&srv);
    for (int i = 0; i < NCLIENTS; i++) {
        WAIT_UNTIL(&cl[i], cl[i].closes == NPROTO, 30000);
        node_stop(&cl[i]);
    }
}

static void pending_limit(void **state) {
    (void)state;
    node b;
    /* Short enough for the idle slots to time out soon, long enough for a
     * real TLS handshake under ASan on a loaded machine (300 ms was not). */
    node_opts o = {.max_pending = 2, .handshake_ms = 2000};
    node_start(&b, &o);
    /* Plain TCP connections that never speak TLS occupy handshake slots. */
    int fds[5];
    struct sockaddr_storage ss;
    assert_int_equal(mk_transport_addr_parse(b.addr, &ss, false, NULL), 0);
    for (int i = 0; i < 5; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
        /* b has taken it into a slot or refused it before the next one. */
        WAIT_COND(metrics(&b).conns_pending + metrics(&b).refused_limit == (uint64_t)i + 1, 5000);
    }
    WAIT_COND(metrics(&b).refused_limit == 3, 10000);
    /* The two slots time out and free up. */
    WAIT_COND(metrics(&b).handshakes_failed == 2 && metrics(&b).conns_pending == 0, 15000);
    for (int i = 0; i < 5; i++)
        close(fds[i]);
    /* A real peer gets in afterwards. */
    node a;
    node_start(&a, NULL);
    dial_res r;
    dial_wait(&a, &b, NULL, NULL, false, &r);
    assert_int_equal(r.status, 0);
    mk_transport_conn_unref(r.conn);
    node_stop(&a);
    node_stop(&b);
}

/* M1: more idle raw TCP sockets than max_pending (default 64) must not lock
 * real peers out: the oldest pending handshake is dropped for a newcomer. */
static void pending_flood(void **state) {
    (void)state;
    enum { NIDLE = 70 };
    node b;
    node_opts o = {.handshake_ms = 20000}; /* the idle sockets would not time out */
    node_start(&b, &o);
    int fds[NIDLE];
    struct sockaddr_storage ss;
    assert_int_equal(mk_transport_addr_parse(b.addr, &ss, false, NULL), 0);
    for (int i = 0; i < NIDLE; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
    }
    WAIT_COND(metrics(&b).conns_pending == 64, 3000);
    node a;
    node_start(&a, NULL);
    dial_res r;
    dial_wait(&a, &b, NULL, NULL, false, &r);
    printf("# after %d idle sockets: dial status %d %s\n", NIDLE, r.status, r.msg);
    assert_int_equal(r.status, 0);
    assert_true(metrics(&b).refused_limit >= NIDLE - 64 + 1);
    mk_transport_conn_unref(r.conn);
    for (int i = 0; i < NIDLE; i++)
        close(fds[i]);
    node_stop(&a);
    node_stop(&b);
}

static void backpressure(void **state) {
    (void)state;
    node a, b;
    node_opts oa = {.max_send_queue = 64 * 1024};
    node_start(&a, &oa);
    node_start(&b, NULL);
    dial_res r;
    dial_wait(&a, &b, NULL, NULL, false, &r);
    assert_int_equal(r.status, 0);
    static uint8_t chunk[60000];
    int sent = 0, busy = 0;
    for (int i = 0; i < 2000 && !busy; i++) {
        int rc = mk_transport_conn_send(r.conn, chunk, sizeof chunk);
        if (rc == MK_EBUSY)
            busy = 1;
        else if (rc == 0)
            sent++;
        else
            fail_msg("send: %s", mk_strerror(rc));
    }
    assert_true(busy);
    assert_true(metrics(&a).send_busy >= 1);
    /* The queue drains, on_drain fires, and everything accepted arrives. */
    WAIT_UNTIL(&a, a.drains == 1, 5000);
    WAIT_UNTIL(&b, b.frames == sent, 5000);
    WAIT_COND(mk_transport_conn_queued(r.conn) == 0, 3000);
    assert_int_equal(mk_transport_conn_send(r.conn, chunk, sizeof chunk), 0);
    WAIT_UNTIL(&b, b.frames == sent + 1, 5000);
    mk_transport_conn_unref(r.conn);
    node_stop(&a);
    node_stop(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oversized_frame),  cmocka_unit_test(malformed_prefix),
        cmocka_unit_test(many_connections), cmocka_unit_test(pending_limit),
        cmocka_unit_test(pending_flood),    cmocka_unit_test(backpressure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
