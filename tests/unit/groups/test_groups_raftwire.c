/*
 * The raft wire parser and the role rules, without a network
 * (src/groups/raftwire.c, raftgate.c): well-formed messages of every type
 * pass unchanged whatever the split into reads; the three messages that
 * crashed or bloated libraft 0.15 (issue 11) and every other malformed or
 * oversized header fail the stream before anything is passed on; dropped
 * messages are skipped whole; the caps follow the snapshot settings; the
 * judge's table.
 */
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"

#include "raft_msgs_util.h"

/* ----- a sink --------------------------------------------------------------- */

typedef struct sink {
    mk_buf out;
    int verdict; /* for every message */
    unsigned msgs, hellos;
    mk_graft_msg last;
    mk_gcluster cluster;
    bool refuse_hello;
} sink;

static int s_hello(void *ctx, const mk_gcluster *c, const char **why) {
    sink *s = ctx;
    s->hellos++;
    s->cluster = *c;
    if (s->refuse_hello) {
        *why = "refused";
        return MK_EPOLICY;
    }
    return 0;
}

static int s_msg(void *ctx, const mk_graft_msg *m, const char **why) {
    sink *s = ctx;
    s->msgs++;
    s->last = *m;
    if (s->verdict == MK_GRAFT_REFUSE) *why = "refused by the test";
    return s->verdict;
}

static int s_out(void *ctx, const uint8_t *p, size_t n) {
    sink *s = ctx;
    return mk_buf_append(&s->out, p, n);
}

static void sink_init(sink *s) {
    memset(s, 0, sizeof *s);
    mk_buf_init(&s->out, 0);
}

/* Feed in reads of `step` bytes (0: one read). */
static int feed(const mk_graft_limits *l, int mode, const mk_buf *in, size_t step, sink *s,
                mk_graft_parser *p) {
    mk_graft_ops ops = {s_hello, s_msg, s_out, s};
    mk_graft_parser_init(p, mode, l);
    size_t off = 0;
    int rc = 0;
    while (off < in->len && rc == 0) {
        size_t k = step && in->len - off > step ? step : in->len - off;
        rc = mk_graft_feed(p, in->data + off, k, &ops);
        off += k;
    }
    return rc;
}

static void limits(mk_graft_limits *l) {
    mk_graft_limits_init(l, 0, 0, true);
}

/* A command entry of 32 bytes (fsm.c's layout does not matter here). */
static const uint8_t cmd32[32] = {1, 2, 3, 4, 5, 6, 7, 8};

static void conf3(mk_buf *c) {
    uint64_t ids[3] = {11, 22, 33};
    const char *addr[3] = {"aa", "bb", "cc"};
    uint8_t roles[3] = {1, 1, 0};
    tr_conf(c, ids, addr, roles, 3);
}

static void all_types(mk_buf *in) {
    mk_buf conf = MK_BUF_INIT;
    conf3(&conf);
    uint8_t snap[24] = {9, 9, 9};
    tr_entry e[3] = {{2, MK_GRAFT_COMMAND, cmd32, 32},
                     {3, MK_GRAFT_BARRIER, cmd32, 8},
                     {3, MK_GRAFT_CHANGE, conf.data, (uint32_t)conf.len}};
    tr_hello(in, NULL);
    tr_ae(in, 3, 10, 2, 9, e, 3);
    tr_ae(in, 3, 13, 3, 13, NULL, 0); /* a heartbeat */
    tr_aer(in, 3, 0, 13);
    tr_rv(in, 4, 77, 13, 3, 2);
    tr_rvr(in, 4, 1, 1);
    tr_is(in, 4, 100, 3, 90, &conf, snap, sizeof snap);
    tr_tn(in, 4, 100, 3);
    mk_buf_free(&conf);
}

/* ----- well-formed streams -------------------------------------------------- */

static void test_passes_unchanged(void **state) {
    (void)state;
    mk_graft_limits l;
    limits(&l);
    mk_buf in = MK_BUF_INIT;
    all_types(&in);
    size_t steps[] = {0, 1, 3, 7, 16, 33, 1000};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        sink s;
        mk_graft_parser p;
        sink_init(&s);
        assert_int_equal(feed(&l, MK_GRAFT_IN, &in, steps[i], &s, &p), 0);
        assert_int_equal(s.hellos, 1);
        assert_int_equal(s.msgs, 7);
        /* everything after the hello, byte for byte */
        assert_int_equal(s.out.len, in.len - MK_GRAFT_HELLO_LEN);
        assert_memory_equal(s.out.data, in.data + MK_GRAFT_HELLO_LEN, s.out.len);
        assert_int_equal(s.last.type, MK_GRAFT_TN);
        mk_graft_parser_free(&p);
        mk_buf_free(&s.out);
    }
    mk_buf_free(&in);
}

/* A dropped message is skipped whole; the next one passes. */
static void test_drop_skips_whole(void **state) {
    (void)state;
    mk_graft_limits l;
    limits(&l);
    mk_buf in = MK_BUF_INIT, want = MK_BUF_INIT;
    tr_entry e[1] = {{2, MK_GRAFT_COMMAND, cmd32, 32}};
    tr_ae(&in, 2, 0, 0, 0, e, 1);
    sink s;
    mk_graft_parser p;
    sink_init(&s);
    s.verdict = MK_GRAFT_DROP;
    assert_int_equal(feed(&l, MK_GRAFT_OUT, &in, 5, &s, &p), 0);
    assert_int_equal(s.out.len, 0);
    s.verdict = MK_GRAFT_FORWARD;
    mk_graft_ops ops = {s_hello, s_msg, s_out, &s};
    tr_aer(&want, 2, 0, 1);
    assert_int_equal(mk_graft_feed(&p, want.data, want.len, &ops), 0);
    assert_int_equal(s.out.len, want.len);
    assert_int_equal(s.msgs, 2);
    mk_graft_parser_free(&p);
    mk_buf_free(&s.out);
    mk_buf_free(&in);
    mk_buf_free(&want);
}

/* ----- what fails the stream ------------------------------------------------- */

/* in (after a hello) fails with rc, at most `passed` bytes of it passed on
 * (a configuration entry is checked when it is complete, after its
 * header went: raft then sees the stream end inside a message). */
static void expect_fail_after(const mk_graft_limits *l, const mk_buf *msg, int rc, size_t passed,
                              const char *what) {
    mk_buf in = MK_BUF_INIT;
    tr_hello(&in, NULL);
    assert_int_equal(mk_buf_append(&in, msg->data, msg->len), 0);
    size_t steps[] = {0, 1, 9};
    for (size_t i = 0; i < 3; i++) {
        sink s;
        mk_graft_parser p;
        sink_init(&s);
        int got = feed(l, MK_GRAFT_IN, &in, steps[i], &s, &p);
        if (got != rc) fail_msg("%s: got %d (%s), want %d", what, got, p.why ? p.why : "", rc);
        assert_true(mk_graft_parser_failed(&p));
        assert_non_null(p.why);
        assert_true(s.out.len <= passed);
        /* failure is final */
        mk_graft_ops ops = {s_hello, s_msg, s_out, &s};
        assert_int_equal(mk_graft_feed(&p, in.data, 1, &ops), rc);
        mk_graft_parser_free(&p);
        mk_buf_free(&s.out);
    }
    mk_buf_free(&in);
}

static void expect_fail(const mk_graft_limits *l, const mk_buf *msg, int rc, const char *what) {
    expect_fail_after(l, msg, rc, 0, what);
}

static void test_crash_messages(void **state) {
    (void)state;
    mk_graft_limits l;
    limits(&l);
    mk_buf m = MK_BUF_INIT;
    tr_crash_72(&m);
    assert_int_equal(m.len, 72);
    expect_fail(&l, &m, MK_EMALFORMED, "72-byte batch");
    mk_buf_reset(&m);
    tr_crash_entries(&m);
    expect_fail(&l, &m, MK_ETOOBIG, "10^7 entries");
    mk_buf_reset(&m);
    tr_crash_gib(&m);
    expect_fail(&l, &m, MK_ETOOBIG, "1 GiB header");
    mk_buf_free(&m);
}

static void test_malformed(void **state) {
    (void)state;
    mk_graft_limits l;
    limits(&l);
    mk_buf m = MK_BUF_INIT, conf = MK_BUF_INIT;
    uint64_t f[6] = {1, 2, 3, 4, 5, 6};

    tr_small(&m, 7, f, 3); /* unknown type */
    expect_fail(&l, &m, MK_EMALFORMED, "type 7");
    mk_buf_reset(&m);
    tr_small(&m, MK_GRAFT_AER, f, 2); /* short */
    expect_fail(&l, &m, MK_EMALFORMED, "short AER");
    mk_buf_reset(&m);
    tr_small(&m, MK_GRAFT_TN, f, 4); /* long */
    expect_fail(&l, &m, MK_EMALFORMED, "long TimeoutNow");
    mk_buf_reset(&m);
    tr_small(&m, MK_GRAFT_RV, f, 4); /* legacy size: 0.15 never sends it */
    expect_fail(&l, &m, MK_EMALFORMED, "32-byte RequestVote");
    mk_buf_reset(&m);
    tr_rv(&m, 4, 7, 1, 1, 4); /* unknown flag */
    expect_fail(&l, &m, MK_EMALFORMED, "RequestVote flags");
    mk_buf_reset(&m);
    tr_rv(&m, 4, 0, 1, 1, 0); /* no candidate */
    expect_fail(&l, &m, MK_EMALFORMED, "RequestVote candidate 0");
    mk_buf_reset(&m);
    tr_rvr(&m, 4, 2, 0);
    expect_fail(&l, &m, MK_EMALFORMED, "RequestVoteResult granted 2");

    tr_entry e = {2, MK_GRAFT_COMMAND, cmd32, 30}; /* not a multiple of 8 */
    mk_buf_reset(&m);
    tr_ae(&m, 2, 0, 0, 0, &e, 1);
    expect_fail(&l, &m, MK_EMALFORMED, "entry length 30");
    e.len = 32;
    e.term = 3; /* above the message's term */
    mk_buf_reset(&m);
    tr_ae(&m, 2, 0, 0, 0, &e, 1);
    expect_fail(&l, &m, MK_EMALFORMED, "entry term above the message");
    e.term = 1; /* below prev term */
    mk_buf_reset(&m);
    tr_ae(&m, 2, 5, 2, 0, &e, 1);
    expect_fail(&l, &m, MK_EMALFORMED, "entry term below the previous one");
    e.term = 2;
    e.type = 4;
    mk_buf_reset(&m);
    tr_ae(&m, 2, 0, 0, 0, &e, 1);
    expect_fail(&l, &m, MK_EMALFORMED, "entry type 4");

    /* configurations */
    uint64_t ids[2] = {5, 5};
    const char *addr[2] = {"x", "y"};
    uint8_t roles[2] = {1, 1};
    tr_conf(&conf, ids, addr, roles, 2); /* duplicate id */
    e = (tr_entry){2, MK_GRAFT_CHANGE, conf.data, (uint32_t)conf.len};
    mk_buf_reset(&m);
    tr_ae(&m, 2, 0, 0, 0, &e, 1);
    expect_fail_after(&l, &m, MK_EMALFORMED, 16 + 48 + 16, "duplicate server id");
    ids[1] = 6;
    roles[1] = 3;
    mk_buf_reset(&conf);
    tr_conf(&conf, ids, addr, roles, 2); /* role 3 */
    uint8_t snap[8] = {1};
    mk_buf_reset(&m);
    tr_is(&m, 2, 10, 2, 5, &conf, snap, 8);
    expect_fail(&l, &m, MK_EMALFORMED, "role 3 in a snapshot's configuration");
    roles[1] = 1;
    addr[1] = "x";
    mk_buf_reset(&conf);
    tr_conf(&conf, ids, addr, roles, 2); /* duplicate address */
    mk_buf_reset(&m);
    tr_is(&m, 2, 10, 2, 5, &conf, snap, 8);
    expect_fail(&l, &m, MK_EMALFORMED, "duplicate address");
    addr[1] = "y";
    mk_buf_reset(&conf);
    tr_conf(&conf, ids, addr, roles, 2);
    mk_buf_reset(&m);
    tr_is(&m, 2, 10, 2, 5, &conf, snap, 0); /* empty snapshot data */
    expect_fail(&l, &m, MK_EMALFORMED, "empty snapshot");
    mk_buf_reset(&m);
    tr_is(&m, 2, 10, 2, 11, &conf, snap, 8); /* conf index above last */
    expect_fail(&l, &m, MK_EMALFORMED, "conf index above last index");
    /* a configuration length that does not match the header */
    mk_buf_reset(&m);
    tr_is(&m, 2, 10, 2, 5, &conf, snap, 8);
    m.data[16 + 32] += 8;
    expect_fail(&l, &m, MK_EMALFORMED, "conf length beyond the header");
    /* a truncated address (no NUL) */
    mk_buf_reset(&conf);
    tr_u8(&conf, 1);
    tr_u64(&conf, 1);
    tr_u64(&conf, 9);
    assert_int_equal(mk_buf_append(&conf, "abcdefg", 7), 0);
    assert_false(mk_graft_conf_valid(conf.data, conf.len));
    /* zero servers, too many servers */
    mk_buf_reset(&conf);
    tr_conf(&conf, ids, addr, roles, 0);
    assert_false(mk_graft_conf_valid(conf.data, conf.len));
    mk_buf_reset(&conf);
    tr_u8(&conf, 1);
    tr_u64(&conf, MK_GROUP_MAX_MEMBERS + 1);
    assert_false(mk_graft_conf_valid(conf.data, conf.len));

    /* the hello */
    mk_buf in = MK_BUF_INIT;
    assert_int_equal(mk_buf_append(&in, "notahello", 9), 0);
    while (in.len < MK_GRAFT_HELLO_LEN)
        tr_u8(&in, 0);
    sink s;
    mk_graft_parser p;
    sink_init(&s);
    assert_int_equal(feed(&l, MK_GRAFT_IN, &in, 0, &s, &p), MK_EMALFORMED);
    mk_graft_parser_free(&p);
    /* the reverse direction carries the hello only */
    mk_buf_reset(&in);
    tr_hello(&in, NULL);
    tr_aer(&in, 1, 0, 0);
    assert_int_equal(feed(&l, MK_GRAFT_REPLY, &in, 0, &s, &p), MK_EMALFORMED);
    assert_int_equal(s.hellos, 1);
    mk_graft_parser_free(&p);
    /* a refused hello */
    mk_buf_reset(&in);
    tr_hello(&in, NULL);
    s.refuse_hello = true;
    assert_int_equal(feed(&l, MK_GRAFT_IN, &in, 0, &s, &p), MK_EPOLICY);
    mk_graft_parser_free(&p);
    /* a refused message */
    s.refuse_hello = false;
    s.verdict = MK_GRAFT_REFUSE;
    tr_aer(&in, 1, 0, 0);
    assert_int_equal(feed(&l, MK_GRAFT_IN, &in, 0, &s, &p), MK_EPOLICY);
    assert_string_equal(p.why, "refused by the test");
    mk_graft_parser_free(&p);
    mk_buf_free(&s.out);
    mk_buf_free(&in);
    mk_buf_free(&m);
    mk_buf_free(&conf);
}

/* ----- caps ------------------------------------------------------------------ */

static void test_limits(void **state) {
    (void)state;
    mk_graft_limits l;
    mk_graft_limits_init(&l, 0, 0, true); /* libraft's defaults: 1024 + 2048 */
    assert_int_equal(l.max_entries, 2 * (1024 + 2048) + 4096);
    assert_int_equal(l.max_header, 48 + 16 * l.max_entries);
    assert_true(l.max_entry >= MK_GROUP_MAX_COMMAND + 64);
    assert_true(l.max_snapshot == MK_GROUP_MAX_SNAPSHOT);
    mk_graft_limits_init(&l, 16, 2, true); /* never below the defaults */
    assert_int_equal(l.max_entries, 2 * (1024 + 2048) + 4096);
    mk_graft_limits_init(&l, 100000, 5000, true);
    assert_int_equal(l.max_entries, 2 * (100000 + 5000) + 4096);
    mk_graft_limits_init(&l, 0, 0, false); /* no snapshots: only the header cap */
    assert_true(l.max_entries > 200000);
    assert_true(l.max_header <= (4u << 20));

    /* the cap itself: max_entries passes, one more fails */
    mk_graft_limits_init(&l, 0, 0, true);
    l.max_entries = 3;
    tr_entry e[4] = {{1, MK_GRAFT_BARRIER, cmd32, 8},
                     {1, MK_GRAFT_BARRIER, cmd32, 8},
                     {1, MK_GRAFT_BARRIER, cmd32, 8},
                     {1, MK_GRAFT_BARRIER, cmd32, 8}};
    mk_buf m = MK_BUF_INIT, in = MK_BUF_INIT;
    tr_hello(&in, NULL);
    tr_ae(&in, 1, 0, 0, 0, e, 3);
    sink s;
    mk_graft_parser p;
    sink_init(&s);
    assert_int_equal(feed(&l, MK_GRAFT_IN, &in, 0, &s, &p), 0);
    mk_graft_parser_free(&p);
    mk_buf_free(&s.out);
    tr_ae(&m, 1, 0, 0, 0, e, 4);
    expect_fail(&l, &m, MK_ETOOBIG, "one entry over the cap");
    /* an entry over the entry cap */
    uint8_t *big = calloc(1, MK_GRAFT_MAX_ENTRY + 8);
    assert_non_null(big);
    tr_entry b = {1, MK_GRAFT_COMMAND, big, (uint32_t)MK_GRAFT_MAX_ENTRY + 8};
    mk_graft_limits_init(&l, 0, 0, true);
    mk_buf_reset(&m);
    tr_ae(&m, 1, 0, 0, 0, &b, 1);
    expect_fail(&l, &m, MK_ETOOBIG, "entry over the cap");
    b.len = (uint32_t)MK_GRAFT_MAX_ENTRY;
    mk_buf_reset(&in);
    tr_hello(&in, NULL);
    tr_ae(&in, 1, 0, 0, 0, &b, 1);
    sink_init(&s);
    assert_int_equal(feed(&l, MK_GRAFT_IN, &in, 65536, &s, &p), 0);
    assert_int_equal(s.out.len, in.len - MK_GRAFT_HELLO_LEN);
    mk_graft_parser_free(&p);
    mk_buf_free(&s.out);
    free(big);
    mk_buf_free(&m);
    mk_buf_free(&in);
}

/* ----- the role rules -------------------------------------------------------- */

static int judge(uint64_t type, uint64_t term, uint8_t role, mk_graft_view v) {
    mk_graft_msg m = {.type = type, .term = term, .candidate = 7};
    const char *why = NULL;
    v.role = role;
    int r = mk_graft_judge(&m, &v, &why);
    if (r != MK_GRAFT_FORWARD) assert_non_null(why);
    return r;
}

static void test_judge(void **state) {
    (void)state;
    mk_graft_view v = {.sender = 7, .term = 5, .ae_credit = 1, .rv_credit = 1};
    const int W = MK_GROUP_WRITER, R = MK_GROUP_READER;
    /* readers never send requests */
    assert_int_equal(judge(MK_GRAFT_AE, 9, R, v), MK_GRAFT_REFUSE);
    assert_int_equal(judge(MK_GRAFT_IS, 9, R, v), MK_GRAFT_REFUSE);
    assert_int_equal(judge(MK_GRAFT_RV, 9, R, v), MK_GRAFT_REFUSE);
    assert_int_equal(judge(MK_GRAFT_TN, 9, R, v), MK_GRAFT_REFUSE);
    /* a reader's results: only within credit and never with a higher term */
    assert_int_equal(judge(MK_GRAFT_AER, 5, R, v), MK_GRAFT_FORWARD);
    assert_int_equal(judge(MK_GRAFT_AER, 6, R, v), MK_GRAFT_DROP);
    assert_int_equal(judge(MK_GRAFT_AER, 6, W, v), MK_GRAFT_FORWARD);
    v.ae_credit = v.rv_credit = 0;
    assert_int_equal(judge(MK_GRAFT_AER, 5, W, v), MK_GRAFT_DROP);
    assert_int_equal(judge(MK_GRAFT_RVR, 5, W, v), MK_GRAFT_DROP);
    v.rv_credit = 1;
    assert_int_equal(judge(MK_GRAFT_RVR, 5, W, v), MK_GRAFT_FORWARD);
    /* a writer's AppendEntries: new and old terms pass */
    assert_int_equal(judge(MK_GRAFT_AE, 6, W, v), MK_GRAFT_FORWARD);
    assert_int_equal(judge(MK_GRAFT_AE, 4, W, v), MK_GRAFT_FORWARD);
    assert_int_equal(judge(MK_GRAFT_AE, 5, W, v), MK_GRAFT_FORWARD);
    /* ... not of the term we lead */
    v.leader = true;
    assert_int_equal(judge(MK_GRAFT_AE, 5, W, v), MK_GRAFT_DROP);
    assert_int_equal(judge(MK_GRAFT_IS, 5, W, v), MK_GRAFT_DROP);
    assert_int_equal(judge(MK_GRAFT_AE, 6, W, v), MK_GRAFT_FORWARD);
    v.leader = false;
    /* ... nor from a second leader of one term */
    v.lt_term = 5;
    v.lt_rid = 8;
    assert_int_equal(judge(MK_GRAFT_AE, 5, W, v), MK_GRAFT_DROP);
    v.lt_rid = 7;
    assert_int_equal(judge(MK_GRAFT_AE, 5, W, v), MK_GRAFT_FORWARD);
    /* the leader accepted last may be ahead of raft's term */
    v.lt_term = 6;
    v.lt_rid = 8;
    assert_int_equal(judge(MK_GRAFT_AE, 6, W, v), MK_GRAFT_DROP);
    assert_int_equal(judge(MK_GRAFT_AE, 7, W, v), MK_GRAFT_FORWARD);
    /* RequestVote must name its sender */
    assert_int_equal(judge(MK_GRAFT_RV, 6, W, v), MK_GRAFT_FORWARD);
    v.sender = 8;
    assert_int_equal(judge(MK_GRAFT_RV, 6, W, v), MK_GRAFT_REFUSE);
    assert_int_equal(judge(MK_GRAFT_TN, 6, W, v), MK_GRAFT_FORWARD);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passes_unchanged), cmocka_unit_test(test_drop_skips_whole),
        cmocka_unit_test(test_crash_messages),   cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),           cmocka_unit_test(test_judge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
