/*
 * The collection state machine alone, for the commands of state machine
 * v2: compare_exchange on Map entries and the Cell, Map and Set
 * remove_many / extend (duplicates, capacity: all or nothing), Vec insert
 * / remove / truncate / swap, PriorityQueue insert (keyed, replacing,
 * evicting), update and remove by key; the version moves exactly when the
 * state changed; snapshots of every kind restore to the same bytes, and
 * restore refuses what the kinds promise not to hold (duplicate PQ keys,
 * keys in a Vec, values in a Set); a clone (what an iterator holds) stays
 * as it was while the state moves on.
 */
#include "test_util.h"

#include "collections/coll_internal.h"

/* fmt: 'o' op u8, 'b' bstr (char *), 'q' u64, 'x' opt (char * or NULL),
 * 'K' batch (int n, const char **keys), 'B' batch (n, keys, values). */
static int cmd(mk_group_sm *sm, mk_buf *res, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mk_buf c = MK_BUF_INIT;
    for (const char *f = fmt; *f; f++) {
        if (*f == 'o') mk_buf_append_u8(&c, (uint8_t)va_arg(ap, int));
        if (*f == 'q') mk_buf_append_u64be(&c, va_arg(ap, uint64_t));
        if (*f == 'b' || *f == 'x') {
            const char *s = va_arg(ap, const char *);
            if (*f == 'x') mk_buf_append_u8(&c, s ? 1 : 0);
            if (!s) continue;
            mk_buf_append_u32be(&c, (uint32_t)strlen(s));
            mk_buf_append(&c, s, strlen(s));
        }
        if (*f == 'K' || *f == 'B') {
            int n = va_arg(ap, int);
            const char **k = va_arg(ap, const char **);
            const char **v = *f == 'B' ? va_arg(ap, const char **) : NULL;
            mk_buf_append_u32be(&c, (uint32_t)n);
            for (int i = 0; i < n; i++) {
                mk_buf_append_u32be(&c, (uint32_t)strlen(k[i]));
                mk_buf_append(&c, k[i], strlen(k[i]));
                if (!v) continue;
                mk_buf_append_u32be(&c, (uint32_t)strlen(v[i]));
                mk_buf_append(&c, v[i], strlen(v[i]));
            }
        }
    }
    va_end(ap);
    mk_buf_reset(res);
    int rc = sm->apply(sm->state, c.data, c.len, res);
    mk_buf_free(&c);
    return rc;
}

static uint64_t be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The result after the version. */
#define EXTRA(res) ((res).data + 8)
/* lit: a string literal (it may hold NUL bytes). */
#define EXTRA_IS(res, lit)                                                                         \
    (assert_int_equal((res).len, 8 + sizeof(lit) - 1),                                             \
     assert_memory_equal(EXTRA(res), lit, sizeof(lit) - 1))

/* GET of a key (Map, Set): its status, the value into *out (may be NULL). */
static int get(mk_group_sm *sm, const char *key, mk_buf *out) {
    mk_buf q = MK_BUF_INIT, r = MK_BUF_INIT;
    mk_buf_append_u8(&q, MK_CQ_GET);
    mk_buf_append_u32be(&q, (uint32_t)strlen(key));
    mk_buf_append(&q, key, strlen(key));
    int rc = sm->query(sm->state, q.data, q.len, &r);
    mk_buf_free(&q);
    if (out)
        *out = r;
    else
        mk_buf_free(&r);
    return rc;
}

#define GET_IS(sm, key, str)                                                                       \
    do {                                                                                           \
        mk_buf g_;                                                                                 \
        assert_int_equal(get(sm, key, &g_), 0);                                                    \
        assert_int_equal(g_.len, strlen(str));                                                     \
        assert_memory_equal(g_.data, str, strlen(str));                                            \
        mk_buf_free(&g_);                                                                          \
    } while (0)
#define ABSENT(sm, key) assert_int_equal(get(sm, key, NULL), MK_ENOTFOUND)

/* Snapshot -> restore into a fresh state -> the same snapshot. */
static void snap_roundtrip(mk_coll_state *s, mk_collection_kind kind, size_t cap) {
    mk_group_sm sm = mk_coll_state_sm(s);
    mk_buf a = MK_BUF_INIT, b = MK_BUF_INIT;
    assert_int_equal(sm.snapshot(sm.state, &a), 0);
    mk_coll_state *t = mk_coll_state_new(kind, cap);
    mk_group_sm tm = mk_coll_state_sm(t);
    assert_int_equal(tm.restore(tm.state, a.data, a.len), 0);
    assert_int_equal(tm.snapshot(tm.state, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_int_equal(mk_coll_state_version(t), mk_coll_state_version(s));
    mk_buf_free(&a);
    mk_buf_free(&b);
    mk_coll_state_free(t);
}

static void test_map_cas_batches(void **state) {
    (void)state;
    mk_coll_state *s = mk_coll_state_new(MK_COLL_MAP, 4);
    mk_group_sm sm = mk_coll_state_sm(s);
    mk_buf r = MK_BUF_INIT;
    /* CAS from absent inserts; from absent again fails with the value. */
    assert_int_equal(cmd(&sm, &r, "obxx", MK_COP_MAP_CAS, "k", NULL, "one"), 0);
    EXTRA_IS(r, "\x01");
    assert_int_equal(be64(r.data), 1);
    assert_int_equal(cmd(&sm, &r, "obxx", MK_COP_MAP_CAS, "k", NULL, "two"), 0);
    EXTRA_IS(r, "\x00\x01one");
    assert_int_equal(be64(r.data), 1); /* unchanged: the version stays */
    /* Mismatch, match, absent with an expected value. */
    assert_int_equal(cmd(&sm, &r, "obxx", MK_COP_MAP_CAS, "k", "xxx", "two"), 0);
    EXTRA_IS(r, "\x00\x01one");
    assert_int_equal(cmd(&sm, &r, "obxx", MK_COP_MAP_CAS, "k", "one", "two"), 0);
    EXTRA_IS(r, "\x01");
    GET_IS(&sm, "k", "two");
    assert_int_equal(cmd(&sm, &r, "obxx", MK_COP_MAP_CAS, "nope", "two", "x"), 0);
    assert_int_equal(r.len, 10);
    assert_memory_equal(EXTRA(r), "\x00\x00", 2);
    /* Desired absent removes; absent to absent changes nothing. */
    assert_int_equal(cmd(&sm, &r, "obxx", MK_COP_MAP_CAS, "k", "two", NULL), 0);
    EXTRA_IS(r, "\x01");
    ABSENT(&sm, "k");
    uint64_t v = mk_coll_state_version(s);
    assert_int_equal(cmd(&sm, &r, "obxx", MK_COP_MAP_CAS, "k", NULL, NULL), 0);
    assert_int_equal(mk_coll_state_version(s), v);
    /* Malformed optional fields. */
    assert_int_equal(cmd(&sm, &r, "obo", MK_COP_MAP_CAS, "k", 2), MK_EMALFORMED);

    /* extend: a later entry of a key wins; all or nothing on capacity. */
    const char *k1[] = {"b", "a", "b", "c"}, *v1[] = {"B1", "A", "B2", "C"};
    assert_int_equal(cmd(&sm, &r, "oB", MK_COP_MAP_EXTEND, 4, k1, v1), 0);
    assert_int_equal(be64(EXTRA(r)), 3);
    GET_IS(&sm, "b", "B2");
    GET_IS(&sm, "a", "A");
    const char *k2[] = {"a", "d", "e"}, *v2[] = {"A2", "D", "E"};
    v = mk_coll_state_version(s);
    assert_int_equal(cmd(&sm, &r, "oB", MK_COP_MAP_EXTEND, 3, k2, v2), MK_ETOOBIG);
    assert_int_equal(mk_coll_state_version(s), v);
    GET_IS(&sm, "a", "A"); /* nothing of it applied */
    ABSENT(&sm, "d");
    assert_int_equal(cmd(&sm, &r, "oB", MK_COP_MAP_EXTEND, 2, k2, v2), 0); /* a, d: fits */
    assert_int_equal(be64(EXTRA(r)), 1);
    GET_IS(&sm, "a", "A2");
    snap_roundtrip(s, MK_COLL_MAP, 4);

    /* remove_many: counts the present ones once. */
    const char *k3[] = {"a", "zz", "a", "c"};
    assert_int_equal(cmd(&sm, &r, "oK", MK_COP_MAP_REMOVE_MANY, 4, k3), 0);
    assert_int_equal(be64(EXTRA(r)), 2);
    ABSENT(&sm, "a");
    GET_IS(&sm, "b", "B2");
    GET_IS(&sm, "d", "D");
    v = mk_coll_state_version(s);
    assert_int_equal(cmd(&sm, &r, "oK", MK_COP_MAP_REMOVE_MANY, 1, k3 + 1), 0);
    assert_int_equal(be64(EXTRA(r)), 0);
    assert_int_equal(mk_coll_state_version(s), v);
    /* A batch announcing more entries than it has, or over the cap. */
    assert_int_equal(cmd(&sm, &r, "oq", MK_COP_MAP_REMOVE_MANY, (uint64_t)2 << 32), MK_EMALFORMED);
    uint8_t big[5] = {MK_COP_MAP_REMOVE_MANY, 0x7f, 0xff, 0xff, 0xff};
    mk_buf_reset(&r);
    assert_int_equal(sm.apply(sm.state, big, 5, &r), MK_EMALFORMED);
    snap_roundtrip(s, MK_COLL_MAP, 4);
    mk_buf_free(&r);
    mk_coll_state_free(s);
}

static void test_set_batches(void **state) {
    (void)state;
    mk_coll_state *s = mk_coll_state_new(MK_COLL_SET, 3);
    mk_group_sm sm = mk_coll_state_sm(s);
    mk_buf r = MK_BUF_INIT;
    const char *e1[] = {"x", "y", "x"};
    assert_int_equal(cmd(&sm, &r, "oK", MK_COP_SET_EXTEND, 3, e1), 0);
    assert_int_equal(be64(EXTRA(r)), 2);
    assert_int_equal(be64(r.data), 1);
    assert_int_equal(cmd(&sm, &r, "oK", MK_COP_SET_EXTEND, 2, e1), 0); /* nothing new */
    assert_int_equal(be64(EXTRA(r)), 0);
    assert_int_equal(be64(r.data), 1);
    const char *e2[] = {"z", "w"};
    assert_int_equal(cmd(&sm, &r, "oK", MK_COP_SET_EXTEND, 2, e2), MK_ETOOBIG);
    assert_int_equal(cmd(&sm, &r, "oK", MK_COP_SET_EXTEND, 1, e2), 0);
    const char *e3[] = {"y", "q", "z"};
    assert_int_equal(cmd(&sm, &r, "oK", MK_COP_SET_REMOVE_MANY, 3, e3), 0);
    assert_int_equal(be64(EXTRA(r)), 2);
    ABSENT(&sm, "y");
    mk_buf x;
    assert_int_equal(get(&sm, "x", &x), 0);
    assert_int_equal(x.len, 0); /* present, no value */
    mk_buf_free(&x);
    /* Another kind's batch is refused. */
    const char *v[] = {"1"};
    assert_int_equal(cmd(&sm, &r, "oB", MK_COP_MAP_EXTEND, 1, e1, v), MK_EINVAL);
    snap_roundtrip(s, MK_COLL_SET, 3);
    mk_buf_free(&r);
    mk_coll_state_free(s);
}

static mk_buf vec_at(mk_group_sm *sm, uint64_t i) {
    mk_buf q = MK_BUF_INIT, r = MK_BUF_INIT;
    mk_buf_append_u8(&q, MK_CQ_GET);
    mk_buf_append_u64be(&q, i);
    if (sm->query(sm->state, q.data, q.len, &r) < 0) mk_buf_free(&r);
    mk_buf_free(&q);
    return r;
}

static void vec_is(mk_group_sm *sm, const char *want) {
    size_t n = strlen(want);
    for (size_t i = 0; i <= n; i++) {
        mk_buf b = vec_at(sm, i);
        if (i == n) {
            assert_null(b.data);
        } else {
            assert_int_equal(b.len, 1);
            assert_int_equal(b.data[0], want[i]);
        }
        mk_buf_free(&b);
    }
}

static void test_vec_ops(void **state) {
    (void)state;
    mk_coll_state *s = mk_coll_state_new(MK_COLL_VEC, 5);
    mk_group_sm sm = mk_coll_state_sm(s);
    mk_buf r = MK_BUF_INIT;
    assert_int_equal(cmd(&sm, &r, "ob", MK_COP_VEC_PUSH, "b"), 0);
    assert_int_equal(cmd(&sm, &r, "oqb", MK_COP_VEC_INSERT, (uint64_t)0, "a"), 0);
    assert_int_equal(cmd(&sm, &r, "oqb", MK_COP_VEC_INSERT, (uint64_t)2, "d"), 0); /* append */
    assert_int_equal(cmd(&sm, &r, "oqb", MK_COP_VEC_INSERT, (uint64_t)2, "c"), 0);
    assert_int_equal(cmd(&sm, &r, "oqb", MK_COP_VEC_INSERT, (uint64_t)9, "z"), MK_ENOTFOUND);
    vec_is(&sm, "abcd");
    assert_int_equal(cmd(&sm, &r, "oqq", MK_COP_VEC_SWAP, (uint64_t)0, (uint64_t)3), 0);
    vec_is(&sm, "dbca");
    uint64_t v = mk_coll_state_version(s);
    assert_int_equal(cmd(&sm, &r, "oqq", MK_COP_VEC_SWAP, (uint64_t)1, (uint64_t)1), 0);
    assert_int_equal(mk_coll_state_version(s), v);
    assert_int_equal(cmd(&sm, &r, "oqq", MK_COP_VEC_SWAP, (uint64_t)1, (uint64_t)4), MK_ENOTFOUND);
    assert_int_equal(cmd(&sm, &r, "oq", MK_COP_VEC_REMOVE, (uint64_t)1), 0);
    EXTRA_IS(r, "b");
    vec_is(&sm, "dca");
    assert_int_equal(cmd(&sm, &r, "oq", MK_COP_VEC_REMOVE, (uint64_t)3), MK_ENOTFOUND);
    assert_int_equal(cmd(&sm, &r, "ob", MK_COP_VEC_PUSH, "e"), 0);
    assert_int_equal(cmd(&sm, &r, "ob", MK_COP_VEC_PUSH, "f"), 0);
    assert_int_equal(cmd(&sm, &r, "oqb", MK_COP_VEC_INSERT, (uint64_t)0, "x"), MK_ETOOBIG);
    v = mk_coll_state_version(s);
    assert_int_equal(cmd(&sm, &r, "oq", MK_COP_VEC_TRUNCATE, (uint64_t)7), 0);
    assert_int_equal(be64(EXTRA(r)), 0);
    assert_int_equal(mk_coll_state_version(s), v);
    assert_int_equal(cmd(&sm, &r, "oq", MK_COP_VEC_TRUNCATE, (uint64_t)2), 0);
    assert_int_equal(be64(EXTRA(r)), 3);
    vec_is(&sm, "dc");
    snap_roundtrip(s, MK_COLL_VEC, 5);
    assert_int_equal(cmd(&sm, &r, "oq", MK_COP_VEC_TRUNCATE, (uint64_t)0), 0);
    vec_is(&sm, "");
    mk_buf_free(&r);
    mk_coll_state_free(s);
}

static void test_cell_cas(void **state) {
    (void)state;
    mk_coll_state *s = mk_coll_state_new(MK_COLL_CELL, 0);
    mk_group_sm sm = mk_coll_state_sm(s);
    mk_buf r = MK_BUF_INIT;
    assert_int_equal(cmd(&sm, &r, "oxx", MK_COP_CELL_CAS, "a", "b"), 0);
    assert_memory_equal(EXTRA(r), "\x00\x00", 2); /* unset */
    assert_int_equal(cmd(&sm, &r, "oxx", MK_COP_CELL_CAS, NULL, "a"), 0);
    EXTRA_IS(r, "\x01");
    assert_int_equal(cmd(&sm, &r, "oxx", MK_COP_CELL_CAS, NULL, "b"), 0);
    EXTRA_IS(r, "\x00\x01"
                "a");
    assert_int_equal(cmd(&sm, &r, "oxx", MK_COP_CELL_CAS, "a", "b"), 0);
    EXTRA_IS(r, "\x01");
    snap_roundtrip(s, MK_COLL_CELL, 0);
    assert_int_equal(cmd(&sm, &r, "oxx", MK_COP_CELL_CAS, "b", NULL), 0); /* unset it */
    EXTRA_IS(r, "\x01");
    mk_buf q = MK_BUF_INIT;
    mk_buf_append_u8(&q, MK_CQ_GET);
    mk_buf_reset(&r);
    assert_int_equal(sm.query(sm.state, q.data, q.len, &r), MK_ENOTFOUND);
    assert_int_equal(cmd(&sm, &r, "obxx", MK_COP_MAP_CAS, "k", NULL, "x"), MK_EINVAL);
    mk_buf_free(&q);
    mk_buf_free(&r);
    mk_coll_state_free(s);
}

/* The PQ's pops, highest first, as "prio:value" joined by spaces. */
static void pq_drain_is(mk_coll_state *s, const char *want) {
    mk_group_sm sm = mk_coll_state_sm(s);
    mk_buf r = MK_BUF_INIT;
    char got[256] = "";
    while (cmd(&sm, &r, "o", MK_COP_PQ_POP) == 0) {
        char one[64];
        snprintf(one, sizeof one, "%s%lld:%.*s", got[0] ? " " : "", (long long)be64(EXTRA(r)),
                 (int)(r.len - 16), (const char *)r.data + 16);
        strcat(got, one);
    }
    assert_string_equal(got, want);
    mk_buf_free(&r);
}

static void test_pq_keyed(void **state) {
    (void)state;
    mk_coll_state *s = mk_coll_state_new(MK_COLL_PQ, 3);
    mk_group_sm sm = mk_coll_state_sm(s);
    mk_buf r = MK_BUF_INIT;
    assert_int_equal(cmd(&sm, &r, "obqb", MK_COP_PQ_INSERT, "a", (uint64_t)5, "A"), 0);
    EXTRA_IS(r, "\x01");
    assert_int_equal(cmd(&sm, &r, "oqb", MK_COP_PQ_PUSH, (uint64_t)5, "anon"), 0);
    assert_int_equal(cmd(&sm, &r, "obqb", MK_COP_PQ_INSERT, "b", (uint64_t)1, "B"), 0);
    /* Full: a lower newcomer is refused, a higher one evicts the lowest (b). */
    assert_int_equal(cmd(&sm, &r, "obqb", MK_COP_PQ_INSERT, "c", (uint64_t)0, "C"), 0);
    EXTRA_IS(r, "\x00");
    assert_int_equal(cmd(&sm, &r, "obqb", MK_COP_PQ_INSERT, "c", (uint64_t)2, "C"), 0);
    EXTRA_IS(r, "\x01");
    assert_int_equal(cmd(&sm, &r, "obq", MK_COP_PQ_UPDATE, "b", (uint64_t)9), MK_ENOTFOUND);
    /* Replacing a present key is never refused and ranks as a fresh push. */
    assert_int_equal(cmd(&sm, &r, "obqb", MK_COP_PQ_INSERT, "a", (uint64_t)5, "A2"), 0);
    EXTRA_IS(r, "\x01");
    snap_roundtrip(s, MK_COLL_PQ, 3);
    /* Update keeps the push order among equals: c (pushed before the new
     * a) goes to 5 and ranks above a, after anon. */
    assert_int_equal(cmd(&sm, &r, "obq", MK_COP_PQ_UPDATE, "c", (uint64_t)5), 0);
    uint64_t v = mk_coll_state_version(s);
    assert_int_equal(cmd(&sm, &r, "obq", MK_COP_PQ_UPDATE, "c", (uint64_t)5), 0);
    assert_int_equal(mk_coll_state_version(s), v); /* same priority: no change */
    mk_coll_state *copy = mk_coll_state_new(MK_COLL_PQ, 3);
    mk_buf snap = MK_BUF_INIT;
    assert_int_equal(sm.snapshot(sm.state, &snap), 0);
    mk_group_sm cm = mk_coll_state_sm(copy);
    assert_int_equal(cm.restore(cm.state, snap.data, snap.len), 0);
    pq_drain_is(copy, "5:anon 5:C 5:A2");
    /* Remove by key gives its priority and value. */
    assert_int_equal(cmd(&sm, &r, "ob", MK_COP_PQ_REMOVE, "c"), 0);
    assert_int_equal(be64(EXTRA(r)), 5);
    assert_int_equal(r.len, 17);
    assert_int_equal(r.data[16], 'C');
    assert_int_equal(cmd(&sm, &r, "ob", MK_COP_PQ_REMOVE, "c"), MK_ENOTFOUND);
    /* An empty key is malformed. */
    assert_int_equal(cmd(&sm, &r, "obqb", MK_COP_PQ_INSERT, "", (uint64_t)1, "x"), MK_EMALFORMED);
    pq_drain_is(s, "5:anon 5:A2");
    mk_buf_free(&snap);
    mk_buf_free(&r);
    mk_coll_state_free(copy);
    mk_coll_state_free(s);
}

/* A snapshot of n items [prio, seq, key, value]. */
static void put_snap(mk_buf *b, mk_collection_kind kind, uint64_t cap, int n, const char **keys,
                     const char **vals) {
    mk_buf_reset(b);
    mk_buf_append(b, "MKC1", 4);
    mk_buf_append_u8(b, (uint8_t)kind);
    mk_buf_append_u64be(b, cap);
    mk_buf_append_u64be(b, 7);
    mk_buf_append_u64be(b, 9);
    mk_buf_append_u32be(b, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        mk_buf_append_u64be(b, 1);
        mk_buf_append_u64be(b, (uint64_t)(9 - i));
        mk_buf_append_u32be(b, (uint32_t)strlen(keys[i]));
        mk_buf_append(b, keys[i], strlen(keys[i]));
        mk_buf_append_u32be(b, (uint32_t)strlen(vals[i]));
        mk_buf_append(b, vals[i], strlen(vals[i]));
    }
}

static void test_hostile_snapshots(void **state) {
    (void)state;
    mk_buf b = MK_BUF_INIT;
    struct {
        mk_collection_kind kind;
        int n;
        const char *k[2], *v[2];
        int rc;
    } cases[] = {
        {MK_COLL_PQ, 2, {"k", "k"}, {"1", "2"}, MK_EMALFORMED}, /* duplicate PQ keys */
        {MK_COLL_PQ, 2, {"k", ""}, {"1", "2"}, 0},              /* a keyed, an unkeyed item */
        {MK_COLL_PQ, 2, {"", ""}, {"1", "2"}, 0},               /* v1 queues */
        {MK_COLL_VEC, 1, {"key"}, {"v"}, MK_EMALFORMED},        /* Vec items have no key */
        {MK_COLL_CELL, 1, {"key"}, {"v"}, MK_EMALFORMED},
        {MK_COLL_SET, 1, {"e"}, {"value"}, MK_EMALFORMED}, /* Set elements have no value */
        {MK_COLL_SET, 2, {"a", "b"}, {"", ""}, 0},
        {MK_COLL_MAP, 2, {"b", "a"}, {"1", "2"}, MK_EMALFORMED}, /* unsorted */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mk_coll_state *s = mk_coll_state_new(cases[i].kind, 4);
        mk_group_sm sm = mk_coll_state_sm(s);
        put_snap(&b, cases[i].kind, 4, cases[i].n, cases[i].k, cases[i].v);
        int rc = sm.restore(sm.state, b.data, b.len);
        if (rc != cases[i].rc) fail_msg("case %zu: %s", i, mk_strerror(rc));
        assert_int_equal(mk_coll_state_version(s), rc == 0 ? 7 : 0);
        mk_coll_state_free(s);
    }
    mk_buf_free(&b);
}

static void test_clone_is_a_snapshot(void **state) {
    (void)state;
    mk_coll_state *s = mk_coll_state_new(MK_COLL_MAP, 0);
    mk_group_sm sm = mk_coll_state_sm(s);
    mk_buf r = MK_BUF_INIT;
    const char *k[] = {"a", "b", "c"}, *v[] = {"1", "2", "3"};
    assert_int_equal(cmd(&sm, &r, "oB", MK_COP_MAP_EXTEND, 3, k, v), 0);
    mk_coll_items c;
    uint64_t ver;
    assert_int_equal(mk_coll_state_clone(s, &c, &ver), 0);
    assert_int_equal(ver, 1);
    /* The state moves on: replace, remove, clear; the clone does not. */
    assert_int_equal(cmd(&sm, &r, "obb", MK_COP_MAP_PUT, "a", "changed"), 0);
    assert_int_equal(cmd(&sm, &r, "ob", MK_COP_MAP_REMOVE, "b"), 0);
    assert_int_equal(cmd(&sm, &r, "o", MK_COP_CLEAR), 0);
    assert_int_equal(c.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(mk_coll_blob_is(c.a[i].k, (const uint8_t *)k[i], 1));
        assert_true(mk_coll_blob_is(c.a[i].v, (const uint8_t *)v[i], 1));
    }
    mk_coll_state_free(s); /* the clone outlives the state */
    assert_true(mk_coll_blob_is(c.a[2].v, (const uint8_t *)"3", 1));
    mk_coll_items_free(&c);
    mk_buf_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_cas_batches),
        cmocka_unit_test(test_set_batches),
        cmocka_unit_test(test_vec_ops),
        cmocka_unit_test(test_cell_cas),
        cmocka_unit_test(test_pq_keyed),
        cmocka_unit_test(test_hostile_snapshots),
        cmocka_unit_test(test_clone_is_a_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
