/*
 * The groups host of a network (src/groups/host.c) and the common
 * attachment mechanism (docs/net.md, "Attaching a layer"):
 *   - the host detaches when the last group on a network leaves (protocol
 *     "groups" unregistered, the slot empty), and a later join attaches a
 *     new one that works;
 *   - a failed registration (the name "groups" taken) fails the join with
 *     a reason and leaves no dead host: once the name is free, a join
 *     bonds;
 *   - no sends under the host lock: a send that fails on the I/O thread
 *     closes its connection at once (as a failed TLS write does), which
 *     re-enters the host; the dispatch must not hold its lock then.
 */
#include "groups_util.h"

#include "groups/groups_internal.h"

typedef struct hnode {
    mk_network *nw;
    mk_group *g;
    tg_counter c;
    mk_group_sm sm;
    char *dir;
    mk_id id;
} hnode;

static hnode A, B; /* static: they outlive a failed assertion (tg_teardown) */

static void hn_start(hnode *n, const char *tag, mk_network *boot) {
    memset(n, 0, sizeof *n);
    n->nw = tg_net("groups-host", boot);
    mk_network_peer_id(n->nw, &n->id);
    n->dir = tg_tmpdir(tag);
}

static int hn_join(hnode *n, const char *key, bool boot, mk_error *err) {
    mk_group_config cfg;
    mk_group_config_init(&cfg);
    mk_id_from_name(&cfg.key, key);
    mk_id_from_name(&cfg.sm_signature, "test.counter.v1");
    n->sm = tg_counter_sm(&n->c);
    cfg.sm = &n->sm;
    cfg.data_dir = n->dir;
    cfg.bootstrap = boot;
    cfg.election_ms = 300;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    mk_error_clear(err);
    return tg_join(n->nw, &cfg, &n->g, err);
}

static void hn_free(hnode *n) {
    if (n->g) tg_group_free(n->g);
    tg_net_free(n->nw);
    tg_dir_free(n->dir);
    memset(n, 0, sizeof *n);
}

static void nop_connect(mk_transport_conn *c, bool in, void *ctx) {
    (void)c, (void)in, (void)ctx;
}
static void nop_frame(mk_transport_conn *c, const uint8_t *d, size_t n, void *ctx) {
    (void)c, (void)d, (void)n, (void)ctx;
}
static void nop_close(mk_transport_conn *c, int code, const char *r, void *ctx) {
    (void)c, (void)code, (void)r, (void)ctx;
}

/* Whether someone else could register "groups" on nw now (and undo it). */
static bool groups_name_free(mk_network *nw) {
    mk_transport_protocol p = {.name = MK_GROUPS_PROTOCOL,
                               .on_connect = nop_connect,
                               .on_frame = nop_frame,
                               .on_close = nop_close};
    if (mk_transport_protocol_register(mk_network_transport(nw), &p, NULL) != 0) return false;
    assert_int_equal(
        mk_transport_protocol_unregister(mk_network_transport(nw), MK_GROUPS_PROTOCOL, NULL), 0);
    return true;
}

/* A bootstraps key (or rejoins it); B joins it: both online and writable. */
static void pair_works(const char *key) {
    mk_error err;
    if (!A.g) TU_ASSERT_RC(hn_join(&A, key, true, &err), 0, &err);
    assert_int_equal(mk_group_wait(A.g, MK_GROUP_LEADER_KNOWN, 0, 10000), 0);
    if (!B.g) TU_ASSERT_RC(hn_join(&B, key, false, &err), 0, &err);
    if (mk_group_wait(A.g, MK_GROUP_MEMBERS, 2, 15000) != 0) {
        mk_group_status s;
        mk_group_status_get(A.g, &s);
        fail_msg("B did not join: A members %u bonds %u leader %d refused %llu", s.members, s.bonds,
                 s.is_leader, (unsigned long long)s.bonds_refused);
    }
    assert_int_equal(mk_group_wait(B.g, MK_GROUP_ONLINE, 0, 15000), 0);
    assert_true(tg_add(B.g, 1, 10000) != INT64_MIN);
}

/* ----- detaching ------------------------------------------------------------- */

static void test_detach_with_last_group(void **state) {
    (void)state;
    hn_start(&A, "da", NULL);
    hn_start(&B, "db", A.nw);
    pair_works("test.host.one");
    /* A second group on A's network keeps the host. */
    static hnode A2;
    A2 = (hnode){.nw = A.nw, .dir = tg_tmpdir("d2")};
    mk_error err;
    TU_ASSERT_RC(hn_join(&A2, "test.host.two", true, &err), 0, &err);
    tg_group_free(A.g);
    A.g = NULL;
    assert_true(mk_ghost_attached(A.nw));
    assert_false(groups_name_free(A.nw));
    /* The last one leaves: detached. */
    tg_group_free(A2.g);
    tg_dir_free(A2.dir);
    assert_false(mk_ghost_attached(A.nw));
    assert_true(groups_name_free(A.nw));
    /* And a new join attaches a new host that works (its data is kept). */
    pair_works("test.host.one");
    assert_true(mk_ghost_attached(A.nw));
    hn_free(&B);
    hn_free(&A);
}

static void test_failed_registration(void **state) {
    (void)state;
    hn_start(&A, "fa", NULL);
    hn_start(&B, "fb", A.nw);
    mk_transport_protocol p = {.name = MK_GROUPS_PROTOCOL,
                               .on_connect = nop_connect,
                               .on_frame = nop_frame,
                               .on_close = nop_close};
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_protocol_register(mk_network_transport(A.nw), &p, &err), 0, &err);
    assert_int_equal(hn_join(&A, "test.host.three", true, &err), MK_EBUSY);
    print_message("# join refused: %s\n", err.msg);
    assert_true(err.msg[0] != 0);
    assert_null(A.g);
    assert_false(mk_ghost_attached(A.nw));
    assert_int_equal(
        mk_transport_protocol_unregister(mk_network_transport(A.nw), MK_GROUPS_PROTOCOL, NULL), 0);
    /* The name is free again: a join attaches a host that bonds. */
    pair_works("test.host.three");
    hn_free(&B);
    hn_free(&A);
}

/* ----- no sends under the host lock -------------------------------------------- */

static int budget, fired;

/* The first `budget` sends on an I/O thread fail the way a TLS write does:
 * the connection closes there and then, running the host's on_close. */
static int failing_send(mk_transport_conn *conn) {
    if (!mk_transport_on_loop(mk_transport_conn_transport(conn))) return 0;
    if (__atomic_sub_fetch(&budget, 1, __ATOMIC_SEQ_CST) < 0) return 0;
    mk_transport_conn_close(conn, "test: a send failed");
    __atomic_add_fetch(&fired, 1, __ATOMIC_SEQ_CST);
    return -1;
}

static void test_no_sends_under_host_lock(void **state) {
    (void)state;
    hn_start(&A, "sa", NULL);
    mk_error err;
    TU_ASSERT_RC(hn_join(&A, "test.host.four", true, &err), 0, &err);
    assert_int_equal(mk_group_wait(A.g, MK_GROUP_IS_LEADER, 0, 10000), 0);
    budget = 3;
    fired = 0;
    mk_ghost_send_hook = failing_send;
    hn_start(&B, "sb", A.nw);
    TU_ASSERT_RC(hn_join(&B, "test.host.four", false, &err), 0, &err);
    /* The greetings and HELLO answers sent from dispatches fail and close
     * their connections; the host survives that and the bond forms. */
    TG_WAIT(__atomic_load_n(&fired, __ATOMIC_SEQ_CST) == 3, 20000, "three failed sends");
    pair_works("test.host.four");
    mk_ghost_send_hook = NULL;
    hn_free(&B);
    hn_free(&A);
}

static int hook_off(void **state) {
    mk_ghost_send_hook = NULL;
    return tg_teardown(state);
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_detach_with_last_group, tg_teardown),
        cmocka_unit_test_teardown(test_failed_registration, tg_teardown),
        cmocka_unit_test_teardown(test_no_sends_under_host_lock, hook_off),
    };
    return TG_RUN(tests);
}
