/*
 * The exactly-once session table alone (src/groups/session.c): how a
 * command is classified (new, duplicate, stale), every eviction bound
 * (results per session, sessions per member, sessions in all, result
 * bytes), determinism (two tables fed the same commands encode the same
 * bytes), the snapshot prefix (round trip, an older snapshot without the
 * table reads as an empty table, hostile prefixes refused).
 */
#include "test_util.h"

#include "groups/groups_internal.h"

static int check(const mk_gsessions *t, uint64_t rid, uint64_t cid, uint64_t seq, int *st,
                 mk_buf *res) {
    const uint8_t *d = NULL;
    size_t n = 0;
    int s = 0;
    int cls = mk_gsess_check(t, rid, cid, seq, &s, &d, &n);
    if (st) *st = s;
    if (res && cls == MK_GSESS_DUP) {
        mk_buf_reset(res);
        assert_int_equal(mk_buf_append(res, d, n), 0);
    }
    return cls;
}

static void test_classify(void **state) {
    (void)state;
    mk_gsessions *t = mk_gsess_new();
    assert_non_null(t);
    mk_buf res = MK_BUF_INIT;
    int st;
    assert_int_equal(check(NULL, 1, 1, 1, NULL, NULL), MK_GSESS_NEW);
    assert_int_equal(check(t, 1, 1, 5, NULL, NULL), MK_GSESS_NEW);
    assert_int_equal(mk_gsess_record(t, 1, 1, 5, 5, 10, 0, (const uint8_t *)"abc", 3), 0);
    assert_int_equal(check(t, 1, 1, 5, &st, &res), MK_GSESS_DUP);
    assert_int_equal(st, 0);
    assert_int_equal(res.len, 3);
    assert_memory_equal(res.data, "abc", 3);
    assert_int_equal(check(t, 1, 1, 6, NULL, NULL), MK_GSESS_NEW);   /* later: new */
    assert_int_equal(check(t, 1, 1, 4, NULL, NULL), MK_GSESS_STALE); /* below the floor */
    assert_int_equal(check(t, 1, 2, 5, NULL, NULL), MK_GSESS_NEW);   /* another client */
    assert_int_equal(check(t, 2, 1, 5, NULL, NULL), MK_GSESS_NEW);   /* another member */
    /* A failed command's status is remembered too. */
    assert_int_equal(mk_gsess_record(t, 1, 1, 6, 5, 11, MK_ETOOBIG, NULL, 0), 0);
    assert_int_equal(check(t, 1, 1, 6, &st, &res), MK_GSESS_DUP);
    assert_int_equal(st, MK_ETOOBIG);
    /* Recording a known seq again changes nothing. */
    assert_int_equal(mk_gsess_record(t, 1, 1, 5, 5, 12, 0, (const uint8_t *)"zzz", 3), 0);
    assert_int_equal(check(t, 1, 1, 5, &st, &res), MK_GSESS_DUP);
    assert_memory_equal(res.data, "abc", 3);
    /* The floor rises: results below it are forgotten, their seqs stale. */
    assert_int_equal(mk_gsess_record(t, 1, 1, 9, 7, 13, 0, NULL, 0), 0);
    assert_int_equal(check(t, 1, 1, 5, NULL, NULL), MK_GSESS_STALE);
    assert_int_equal(check(t, 1, 1, 6, NULL, NULL), MK_GSESS_STALE);
    assert_int_equal(check(t, 1, 1, 8, NULL, NULL), MK_GSESS_NEW);
    assert_int_equal(check(t, 1, 1, 9, NULL, NULL), MK_GSESS_DUP);
    /* touch raises it too (a duplicate carrying a newer floor). */
    mk_gsess_touch(t, 1, 1, 10, 14);
    assert_int_equal(check(t, 1, 1, 9, NULL, NULL), MK_GSESS_STALE);
    /* A floor above the command's own seq: nothing recorded for it. */
    assert_int_equal(mk_gsess_record(t, 1, 1, 11, 20, 15, 0, NULL, 0), 0);
    assert_int_equal(check(t, 1, 1, 11, NULL, NULL), MK_GSESS_STALE);
    assert_int_equal(mk_gsess_count(t), 1);
    mk_buf_free(&res);
    mk_gsess_free(t);
}

static void test_bounds(void **state) {
    (void)state;
    mk_gsessions *t = mk_gsess_new();
    uint64_t idx = 1;
    /* Results per session: the lowest go, the floor rises past them. */
    for (uint64_t s = 1; s <= MK_GSESS_PER_SESSION + 44; s++)
        assert_int_equal(mk_gsess_record(t, 1, 1, s, 0, idx++, 0, NULL, 0), 0);
    for (uint64_t s = 1; s <= 44; s++)
        assert_int_equal(check(t, 1, 1, s, NULL, NULL), MK_GSESS_STALE);
    for (uint64_t s = 45; s <= MK_GSESS_PER_SESSION + 44; s++)
        assert_int_equal(check(t, 1, 1, s, NULL, NULL), MK_GSESS_DUP);
    /* Sessions per member: the least recently used of that member goes. */
    for (uint64_t c = 1; c <= MK_GSESS_PER_RID; c++)
        assert_int_equal(mk_gsess_record(t, 2, c, 1, 1, idx++, 0, NULL, 0), 0);
    assert_int_equal(mk_gsess_record(t, 2, 1, 2, 1, idx++, 0, NULL, 0), 0); /* cid 1 used again */
    assert_int_equal(mk_gsess_record(t, 2, 99, 1, 1, idx++, 0, NULL, 0), 0);
    assert_int_equal(check(t, 2, 2, 1, NULL, NULL), MK_GSESS_NEW); /* cid 2 was the LRU: gone */
    assert_int_equal(check(t, 2, 1, 1, NULL, NULL), MK_GSESS_DUP);
    assert_int_equal(check(t, 2, 99, 1, NULL, NULL), MK_GSESS_DUP);
    assert_int_equal(check(t, 1, 1, 100, NULL, NULL), MK_GSESS_DUP); /* other members keep theirs */
    assert_int_equal(mk_gsess_count(t), 1 + MK_GSESS_PER_RID);
    /* Sessions in all: the least recently used goes (member 1's). */
    for (uint64_t r = 100; mk_gsess_count(t) < MK_GSESS_MAX; r++)
        assert_int_equal(mk_gsess_record(t, r, 1, 1, 1, idx++, 0, NULL, 0), 0);
    assert_int_equal(check(t, 1, 1, 100, NULL, NULL), MK_GSESS_DUP);
    assert_int_equal(mk_gsess_record(t, 7, 7, 1, 1, idx++, 0, NULL, 0), 0);
    assert_int_equal(mk_gsess_count(t), MK_GSESS_MAX);
    assert_int_equal(check(t, 1, 1, 100, NULL, NULL), MK_GSESS_NEW);
    assert_int_equal(check(t, 7, 7, 1, NULL, NULL), MK_GSESS_DUP);
    mk_gsess_free(t);

    /* Result bytes: the least recently used session's lowest results go. */
    t = mk_gsess_new();
    size_t big = MK_GROUP_MAX_RESULT;
    uint8_t *blob = calloc(1, big);
    assert_non_null(blob);
    size_t fit = MK_GSESS_BYTES / big;
    for (uint64_t s = 1; s <= fit; s++)
        assert_int_equal(mk_gsess_record(t, 1, 1, s, 0, s, 0, blob, big), 0);
    assert_int_equal(check(t, 1, 1, 1, NULL, NULL), MK_GSESS_DUP);
    assert_int_equal(mk_gsess_record(t, 2, 1, 1, 0, 1000, 0, blob, big), 0);
    assert_int_equal(check(t, 1, 1, 1, NULL, NULL), MK_GSESS_STALE); /* evicted, not re-run */
    assert_int_equal(check(t, 1, 1, 2, NULL, NULL), MK_GSESS_DUP);
    assert_int_equal(check(t, 2, 1, 1, NULL, NULL), MK_GSESS_DUP);
    free(blob);
    mk_gsess_free(t);
}

/* The same commands in the same order: the same table, byte for byte. */
static void feed(mk_gsessions *t) {
    uint64_t x = 12345;
    for (uint64_t i = 1; i <= 3000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t rid = (x >> 60) % 5, cid = (x >> 50) % 23, seq = (x >> 20) % 400;
        uint8_t r[4] = {(uint8_t)i, (uint8_t)(i >> 8), 1, 2};
        int st = 0;
        const uint8_t *d;
        size_t n;
        int cls = mk_gsess_check(t, rid, cid, seq, &st, &d, &n);
        if (cls == MK_GSESS_NEW)
            assert_int_equal(mk_gsess_record(t, rid, cid, seq, seq / 2, i, 0, r, i % 5), 0);
        else
            mk_gsess_touch(t, rid, cid, seq / 2, i);
    }
}

static void test_snapshot_prefix(void **state) {
    (void)state;
    mk_gsessions *a = mk_gsess_new(), *b = mk_gsess_new();
    feed(a);
    feed(b);
    mk_buf ea = MK_BUF_INIT, eb = MK_BUF_INIT;
    assert_int_equal(mk_gsess_encode(a, &ea), 0);
    assert_int_equal(mk_gsess_encode(b, &eb), 0);
    assert_int_equal(ea.len, eb.len);
    assert_memory_equal(ea.data, eb.data, ea.len); /* deterministic */
    /* Round trip, with the user's snapshot behind it. */
    mk_buf snap = MK_BUF_INIT;
    assert_int_equal(mk_buf_append(&snap, ea.data, ea.len), 0);
    assert_int_equal(mk_buf_append(&snap, "MKC1user", 8), 0);
    mk_gsessions *c = NULL;
    size_t used = 0;
    assert_int_equal(mk_gsess_decode(snap.data, snap.len, &c, &used), 0);
    assert_int_equal(used, ea.len);
    assert_int_equal(mk_gsess_count(c), mk_gsess_count(a));
    mk_buf ec = MK_BUF_INIT;
    assert_int_equal(mk_gsess_encode(c, &ec), 0);
    assert_int_equal(ec.len, ea.len);
    assert_memory_equal(ec.data, ea.data, ea.len);
    mk_gsess_free(c);
    /* An older snapshot (no table): an empty table, nothing consumed. */
    assert_int_equal(mk_gsess_decode((const uint8_t *)"MKC1user", 8, &c, &used), 0);
    assert_non_null(c);
    assert_int_equal(used, 0);
    assert_int_equal(mk_gsess_count(c), 0);
    mk_gsess_free(c);
    assert_int_equal(mk_gsess_decode((const uint8_t *)"", 0, &c, &used), 0);
    assert_int_equal(used, 0);
    mk_gsess_free(c);
    /* An empty table encodes to a prefix that decodes to an empty table. */
    mk_buf e0 = MK_BUF_INIT;
    assert_int_equal(mk_gsess_encode(NULL, &e0), 0);
    assert_int_equal(mk_gsess_decode(e0.data, e0.len, &c, &used), 0);
    assert_int_equal(used, e0.len);
    assert_int_equal(mk_gsess_count(c), 0);
    mk_gsess_free(c);
    /* Hostile prefixes: every truncation refused (never read past the end). */
    for (size_t n = 8; n < ea.len; n += 1 + n / 16) {
        c = (mk_gsessions *)1;
        assert_int_equal(mk_gsess_decode(ea.data, n, &c, &used), MK_EMALFORMED);
        assert_null(c);
    }
    mk_buf_free(&ea);
    mk_buf_free(&eb);
    mk_buf_free(&ec);
    mk_buf_free(&snap);
    mk_buf_free(&e0);
    mk_gsess_free(a);
    mk_gsess_free(b);
}

/* A one-session table with given fields, encoded by hand. */
static void one(mk_buf *b, uint32_t n, uint64_t rid, uint64_t cid, uint64_t floor, uint32_t k,
                uint64_t seq, uint32_t status, uint32_t len) {
    mk_buf_reset(b);
    assert_int_equal(mk_buf_append(b, "\0MKGSES1", 8), 0);
    mk_buf_append_u32be(b, n);
    for (uint32_t i = 0; i < n; i++) {
        mk_buf_append_u64be(b, rid);
        mk_buf_append_u64be(b, cid);
        mk_buf_append_u64be(b, floor);
        mk_buf_append_u64be(b, 1);
        mk_buf_append_u32be(b, k);
        for (uint32_t j = 0; j < k; j++) {
            mk_buf_append_u64be(b, seq + j);
            mk_buf_append_u32be(b, status);
            mk_buf_append_u32be(b, len);
            for (uint32_t x = 0; x < len; x++)
                mk_buf_append_u8(b, 0);
        }
    }
}

static void test_hostile_prefix(void **state) {
    (void)state;
    mk_buf b = MK_BUF_INIT;
    mk_gsessions *t;
    size_t used;
    one(&b, 1, 1, 1, 5, 1, 5, 0, 3);
    assert_int_equal(mk_gsess_decode(b.data, b.len, &t, &used), 0); /* the well-formed one */
    mk_gsess_free(t);
    one(&b, 1, 1, 1, 5, 1, 4, 0, 3); /* a result below the floor */
    assert_int_equal(mk_gsess_decode(b.data, b.len, &t, &used), MK_EMALFORMED);
    one(&b, 1, 1, 1, 5, 1, 5, 1, 3); /* a positive status */
    assert_int_equal(mk_gsess_decode(b.data, b.len, &t, &used), MK_EMALFORMED);
    one(&b, 2, 1, 1, 5, 0, 0, 0, 0); /* the same session twice (keys not increasing) */
    assert_int_equal(mk_gsess_decode(b.data, b.len, &t, &used), MK_EMALFORMED);
    one(&b, 1, 1, 1, 0, MK_GSESS_PER_SESSION + 1, 1, 0, 0); /* too many results */
    assert_int_equal(mk_gsess_decode(b.data, b.len, &t, &used), MK_EMALFORMED);
    one(&b, 1, 1, 1, 0, 1, 1, 0, 0);
    b.data[8] = 0xff; /* a session count beyond the bound */
    assert_int_equal(mk_gsess_decode(b.data, b.len, &t, &used), MK_EMALFORMED);
    one(&b, 1, 1, 1, 0, 1, 1, 0, 0);
    size_t off = 8 + 4 + 32 + 4 + 8 + 4; /* the result's length field */
    b.data[off] = 0x7f;                  /* a result longer than the buffer / the cap */
    assert_int_equal(mk_gsess_decode(b.data, b.len, &t, &used), MK_EMALFORMED);
    /* Results out of order. */
    one(&b, 1, 1, 1, 0, 2, 1, 0, 0);
    b.data[8 + 4 + 32 + 4 + 7] = 9; /* first seq 9 > second seq 2 */
    assert_int_equal(mk_gsess_decode(b.data, b.len, &t, &used), MK_EMALFORMED);
    mk_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_snapshot_prefix),
        cmocka_unit_test(test_hostile_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
