/*
 * Hostile members at the raft level (issue 11, items 1, 2 and 5), over
 * real bonds in one process: a member opens its own raft channels to a
 * victim behind its bridge's back and writes what it likes there.
 *   - the three messages that crashed or bloated libraft 0.15 (a 72-byte
 *     batch whose header decode fails, a header claiming 10^7 entries, a
 *     header claiming 1 GiB followed by 64 MiB) close that channel only,
 *     are counted, and allocate nothing big (libraft's heap is counted);
 *   - a reader's forged AppendEntries (same term, and term + 1) is refused
 *     and the replicas stay equal, the leader keeps its term;
 *   - results count only from peers we sent requests to: a reader's
 *     AppendEntriesResult with a higher term does not depose the leader;
 *     unsolicited results are dropped;
 *   - a writer's RequestVote naming another candidate is refused;
 *   - 3,000 raft channels opened by one peer hold at most two.
 */
#include <dirent.h>

#include "groups_util.h"

#include "raft_msgs_util.h"

typedef struct anode {
    mk_network *nw;
    mk_group *g;
    tg_counter c;
    mk_group_sm sm;
    char *dir;
    mk_id id;
} anode;

static anode A, B, C; /* static: they outlive a failed assertion (tg_teardown) */

static void an_start(anode *n, const char *tag, mk_network *boot, bool bootstrap,
                     mk_group_role role) {
    memset(n, 0, sizeof *n);
    n->nw = tg_net("groups-attacks", boot);
    mk_network_peer_id(n->nw, &n->id);
    n->dir = tg_tmpdir(tag);
    mk_group_config cfg;
    mk_group_config_init(&cfg);
    mk_id_from_name(&cfg.key, "test.attacks.key");
    mk_id_from_name(&cfg.sm_signature, "test.counter.v1");
    n->sm = tg_counter_sm(&n->c);
    cfg.sm = &n->sm;
    cfg.role = role;
    cfg.data_dir = n->dir;
    cfg.bootstrap = bootstrap;
    cfg.election_ms = 600;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(tg_join(n->nw, &cfg, &n->g, &err), 0, &err);
}

static void an_free(anode *n) {
    tg_group_free(n->g);
    tg_net_free(n->nw);
    tg_dir_free(n->dir);
    memset(n, 0, sizeof *n);
}

static mk_group_status st(anode *n) {
    mk_group_status s;
    mk_group_status_get(n->g, &s);
    return s;
}

static mk_graft_stats rst(anode *n) {
    mk_graft_stats s;
    mk_group_raft_stats(n->g, &s);
    return s;
}

/* A leads; B writes; C writes or reads. */
static void trio(mk_group_role third) {
    an_start(&A, "aa", NULL, true, MK_GROUP_WRITER);
    assert_int_equal(mk_group_wait(A.g, MK_GROUP_IS_LEADER, 0, 10000), 0);
    an_start(&B, "ab", A.nw, false, MK_GROUP_WRITER);
    an_start(&C, "ac", A.nw, false, third);
    assert_int_equal(mk_group_wait(A.g, MK_GROUP_MEMBERS, 3, 20000), 0);
    unsigned voters = third == MK_GROUP_WRITER ? 3 : 2;
    TG_WAIT(st(&A).voters == voters, 15000, "the voters");
    assert_int_equal(mk_group_wait(B.g, MK_GROUP_ONLINE, 0, 15000), 0);
    assert_int_equal(mk_group_wait(C.g, MK_GROUP_ONLINE, 0, 15000), 0);
    TG_WAIT(mk_group_bonded(C.g, &B.id) && mk_group_bonded(B.g, &C.id), 10000, "C bonded with B");
    assert_true(st(&A).is_leader);
}

static void trio_free(void) {
    an_free(&C);
    an_free(&B);
    an_free(&A);
}

/* Every replica applied what the leader applied, and they agree. */
static void replicas_equal(void) {
    uint64_t want = st(&A).applied;
    TG_WAIT(st(&B).applied >= want && st(&C).applied >= want, 10000, "the replicas to catch up");
    pthread_mutex_lock(&A.g->smu);
    int64_t a = A.c.value;
    pthread_mutex_unlock(&A.g->smu);
    pthread_mutex_lock(&B.g->smu);
    int64_t b = B.c.value;
    pthread_mutex_unlock(&B.g->smu);
    pthread_mutex_lock(&C.g->smu);
    int64_t c = C.c.value;
    pthread_mutex_unlock(&C.g->smu);
    if (a != b || a != c) fail_msg("replicas differ: A %lld B %lld C %lld", a, b, c);
}

/* ----- a hostile bridge ------------------------------------------------------ */

static void send_frame(mk_transport_conn *conn, const mk_group_frame *f) {
    uint64_t t0 = tg_now_ms();
    int rc;
    while ((rc = mk_group_send_frame(conn, f)) == MK_EBUSY) {
        if (tg_now_ms() - t0 > 20000) fail_msg("send queue stuck");
        tg_sleep_ms(1);
    }
    assert_int_equal(rc, 0);
}

/* What a bridge writes first on a channel it opens. */
static void chan_prefix(mk_buf *b) {
    tr_hello(b, NULL);
}

/* As `from`, open raft channel chan to `to` and write bytes on it. */
static void inject(anode *from, anode *to, uint32_t chan, const uint8_t *d, size_t n) {
    mk_transport_conn *conn = mk_group_bond_conn(from->g, &to->id);
    assert_non_null(conn);
    mk_id gid;
    mk_group_id(from->g, &gid);
    mk_group_frame f = {.type = MK_GF_OPEN, .group = gid, .chan = chan};
    send_frame(conn, &f);
    for (size_t off = 0; off < n;) {
        size_t k = n - off < MK_GF_CHUNK ? n - off : MK_GF_CHUNK;
        mk_group_frame df = {.type = MK_GF_DATA,
                             .group = gid,
                             .dir = 0,
                             .chan = chan,
                             .payload = d + off,
                             .plen = k};
        send_frame(conn, &df);
        off += k;
    }
    mk_transport_conn_unref(conn);
}

static void inject_msg(anode *from, anode *to, uint32_t chan, const mk_buf *msg) {
    mk_buf b = MK_BUF_INIT;
    chan_prefix(&b);
    assert_int_equal(mk_buf_append(&b, msg->data, msg->len), 0);
    inject(from, to, chan, b.data, b.len);
    mk_buf_free(&b);
}

static size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    unsigned long size = 0, rss = 0;
    assert_int_equal(fscanf(f, "%lu %lu", &size, &rss), 2);
    fclose(f);
    return rss * (size_t)sysconf(_SC_PAGESIZE);
}

static unsigned open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    unsigned n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* libraft's heap, counted: the largest single request since reset. */
static size_t raft_max_alloc;

static void note(size_t n) {
    size_t cur = __atomic_load_n(&raft_max_alloc, __ATOMIC_RELAXED);
    while (n > cur && !__atomic_compare_exchange_n(&raft_max_alloc, &cur, n, false,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}
static void *h_malloc(void *d, size_t n) {
    (void)d;
    note(n);
    return malloc(n);
}
static void h_free(void *d, void *p) {
    (void)d;
    free(p);
}
static void *h_calloc(void *d, size_t k, size_t n) {
    (void)d;
    note(k * n);
    return calloc(k, n);
}
static void *h_realloc(void *d, void *p, size_t n) {
    (void)d;
    note(n);
    return realloc(p, n);
}
static void *h_aligned(void *d, size_t a, size_t n) {
    (void)d;
    note(n);
    return aligned_alloc(a, n);
}
static void h_aligned_free(void *d, size_t a, void *p) {
    (void)d;
    (void)a;
    free(p);
}
static struct raft_heap counting_heap = {NULL,      h_malloc,  h_free,        h_calloc,
                                         h_realloc, h_aligned, h_aligned_free};

/* ----- the crashing messages --------------------------------------------------- */

/* The channel closed and was counted, raft allocated nothing big for it;
 * the bond and the group live on. */
static void survived(uint64_t malformed_before) {
    TG_WAIT(rst(&B).malformed > malformed_before, 10000, "the channel to be refused");
    print_message("# B: %s\n", rst(&B).last);
    assert_true(__atomic_load_n(&raft_max_alloc, __ATOMIC_RELAXED) < ((size_t)16 << 20));
    assert_true(mk_group_bonded(B.g, &C.id));
    assert_true(tg_add(C.g, 1, 10000) != INT64_MIN);
    assert_true(tg_add(B.g, 1, 10000) != INT64_MIN);
    replicas_equal();
}

static void test_replay_72_bytes(void **state) {
    (void)state;
    trio(MK_GROUP_WRITER);
    uint64_t before = rst(&B).malformed;
    mk_buf m = MK_BUF_INIT;
    tr_crash_72(&m);
    assert_int_equal(m.len, 72);
    __atomic_store_n(&raft_max_alloc, 0, __ATOMIC_RELAXED);
    inject_msg(&C, &B, 0x7f000001, &m);
    survived(before);
    mk_buf_free(&m);
    trio_free();
}

static void test_replay_many_entries(void **state) {
    (void)state;
    trio(MK_GROUP_WRITER);
    uint64_t before = rst(&B).malformed;
    mk_buf m = MK_BUF_INIT;
    tr_crash_entries(&m);
    __atomic_store_n(&raft_max_alloc, 0, __ATOMIC_RELAXED);
    inject_msg(&C, &B, 0x7f000002, &m);
    survived(before);
    mk_buf_free(&m);
    trio_free();
}

static void test_replay_gib_header(void **state) {
    (void)state;
    trio(MK_GROUP_WRITER);
    uint64_t before = rst(&B).malformed;
    mk_buf m = MK_BUF_INIT;
    tr_crash_gib(&m);
    /* ... and 64 MiB of "header" behind it: 0.15 would keep all of it. */
    size_t extra = (size_t)64 << 20;
    uint8_t *junk = calloc(1, MK_GF_CHUNK);
    assert_non_null(junk);
    size_t rss0 = rss_bytes();
    __atomic_store_n(&raft_max_alloc, 0, __ATOMIC_RELAXED);
    inject_msg(&C, &B, 0x7f000003, &m);
    for (size_t off = 0; off < extra; off += MK_GF_CHUNK) {
        mk_transport_conn *conn = mk_group_bond_conn(C.g, &B.id);
        assert_non_null(conn);
        mk_id gid;
        mk_group_id(C.g, &gid);
        mk_group_frame df = {.type = MK_GF_DATA,
                             .group = gid,
                             .chan = 0x7f000003,
                             .payload = junk,
                             .plen = MK_GF_CHUNK};
        send_frame(conn, &df);
        mk_transport_conn_unref(conn);
    }
    survived(before);
    size_t rss1 = rss_bytes(), most = __atomic_load_n(&raft_max_alloc, __ATOMIC_RELAXED);
    print_message("# RSS %zu -> %zu MB after a 1 GiB header and 64 MiB; raft's largest "
                  "allocation meanwhile %zu bytes\n",
                  rss0 >> 20, rss1 >> 20, most);
    assert_true(most < ((size_t)16 << 20));
    /* (a sanitizer's quarantine keeps freed memory resident) */
    if (!getenv("MOSAIK_SANITIZED")) assert_true(rss1 < rss0 + ((size_t)32 << 20));
    free(junk);
    mk_buf_free(&m);
    trio_free();
}

/* ----- a reader forges commands -------------------------------------------------- */

/* A command entry as fsm.c writes it: [1][proposer][seq][len][+1000], padded. */
static void forged_entry(uint8_t out[32], uint64_t proposer) {
    memset(out, 0, 32);
    mk_writer w;
    mk_writer_init(&w, out, 32);
    mk_write_u8(&w, 1);
    mk_write_u64be(&w, proposer);
    mk_write_u64be(&w, 0x77777777);
    mk_write_u32be(&w, 8);
    mk_write_u64be(&w, 1000);
}

static void test_reader_forges_append_entries(void **state) {
    (void)state;
    trio(MK_GROUP_READER); /* C reads */
    for (int i = 0; i < 3; i++)
        assert_true(tg_add(A.g, 1, 5000) != INT64_MIN);
    replicas_equal();
    /* B's last entry: applied and known committed (the status refreshes). */
    mk_group_status sb;
    TG_WAIT((sb = st(&B), sb.commit == sb.applied && sb.applied >= st(&A).applied), 10000,
            "B's status to settle");
    uint64_t term = sb.term, last = sb.commit;
    uint64_t refused = rst(&B).refused;
    uint8_t cmd[32];
    forged_entry(cmd, mk_group_rid_of(&A.id));
    tr_entry e = {term, MK_GRAFT_COMMAND, cmd, 32};
    mk_buf m = MK_BUF_INIT;
    /* The next entry of the leader's term, as if the leader sent it ... */
    tr_ae(&m, term, last, term, last + 1, &e, 1);
    inject_msg(&C, &B, 0x7e000001, &m);
    /* ... and a whole new term with it. */
    mk_buf_reset(&m);
    e.term = term + 1;
    tr_ae(&m, term + 1, last, term, last + 1, &e, 1);
    inject_msg(&C, &B, 0x7e000002, &m);
    TG_WAIT(rst(&B).refused >= refused + 2, 10000, "the forgeries to be refused");
    print_message("# B: %s\n", rst(&B).last);
    /* The leader's own next entries; the replicas stay equal. */
    for (int i = 0; i < 3; i++)
        assert_true(tg_add(A.g, 1, 10000) != INT64_MIN);
    replicas_equal();
    assert_int_equal(A.c.value, 6);
    assert_true(st(&A).is_leader);
    assert_int_equal(st(&A).term, term);
    assert_int_equal(st(&B).term, term);
    mk_buf_free(&m);
    trio_free();
}

/* ----- results only from peers we asked ------------------------------------------- */

static void test_results_only_from_asked(void **state) {
    (void)state;
    trio(MK_GROUP_READER);
    mk_group_status sa = st(&A);
    uint64_t dropped = rst(&A).dropped;
    mk_buf m = MK_BUF_INIT;
    /* A reader's result with a higher term would depose the leader. */
    tr_aer(&m, sa.term + 5, 0, sa.commit);
    inject_msg(&C, &A, 0x7d000001, &m);
    TG_WAIT(rst(&A).dropped > dropped, 10000, "the result to be dropped");
    /* A vote nobody asked for, from a writer. */
    dropped = rst(&A).dropped;
    mk_buf_reset(&m);
    tr_rvr(&m, sa.term, 1, 0);
    inject_msg(&B, &A, 0x7d000002, &m);
    TG_WAIT(rst(&A).dropped > dropped, 10000, "the vote to be dropped");
    /* 200 results from a reader the leader asked far fewer times. */
    dropped = rst(&A).dropped;
    mk_buf_reset(&m);
    for (int i = 0; i < 200; i++)
        tr_aer(&m, sa.term, 0, sa.commit);
    inject_msg(&C, &A, 0x7d000003, &m);
    TG_WAIT(rst(&A).dropped >= dropped + 150, 10000, "unsolicited results to be dropped");
    /* A write commits after the injections (a round trip through the
     * leader and a majority) before leadership and term are checked. */
    assert_true(tg_add(B.g, 1, 10000) != INT64_MIN);
    assert_true(st(&A).is_leader);
    assert_int_equal(st(&A).term, sa.term);
    replicas_equal();
    mk_buf_free(&m);
    trio_free();
}

static void test_vote_for_another(void **state) {
    (void)state;
    trio(MK_GROUP_WRITER);
    mk_group_status sb = st(&B);
    uint64_t refused = rst(&B).refused;
    mk_buf m = MK_BUF_INIT;
    /* C asks B to vote for A, with the leadership-transfer flag. */
    tr_rv(&m, sb.term + 1, mk_group_rid_of(&A.id), sb.commit, sb.term, 1);
    inject_msg(&C, &B, 0x7c000001, &m);
    TG_WAIT(rst(&B).refused > refused, 10000, "the vote request to be refused");
    assert_int_equal(st(&B).term, sb.term);
    mk_buf_free(&m);
    trio_free();
}

/* ----- channels per peer ------------------------------------------------------------ */

static void test_channel_cap(void **state) {
    (void)state;
    trio(MK_GROUP_WRITER);
    unsigned fd0 = open_fds();
    uint64_t evicted = rst(&B).evicted;
    mk_buf m = MK_BUF_INIT;
    /* A TimeoutNow passes the gate (raft ignores it): each channel gets
     * its socketpair and raft's accept. */
    tr_tn(&m, st(&B).term, 0, 0);
    for (uint32_t i = 0; i < 3000; i++)
        inject_msg(&C, &B, 0x70000000 + i, &m);
    TG_WAIT(rst(&B).evicted >= evicted + 2990, 30000, "older channels to be closed");
    unsigned fd1 = 0;
    TG_WAIT((fd1 = open_fds()) <= fd0 + 16, 10000, "the file descriptors to be released");
    print_message("# fds %u -> %u after 3000 channel opens\n", fd0, fd1);
    assert_true(tg_add(C.g, 1, 10000) != INT64_MIN);
    replicas_equal();
    mk_buf_free(&m);
    trio_free();
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    raft_heap_set(&counting_heap); /* before any raft exists */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_replay_72_bytes, tg_teardown),
        cmocka_unit_test_teardown(test_replay_many_entries, tg_teardown),
        cmocka_unit_test_teardown(test_replay_gib_header, tg_teardown),
        cmocka_unit_test_teardown(test_reader_forges_append_entries, tg_teardown),
        cmocka_unit_test_teardown(test_results_only_from_asked, tg_teardown),
        cmocka_unit_test_teardown(test_vote_for_another, tg_teardown),
        cmocka_unit_test_teardown(test_channel_cap, tg_teardown),
    };
    return TG_RUN(tests);
}
