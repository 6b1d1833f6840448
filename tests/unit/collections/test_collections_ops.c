/*
 * The operations of state machine v2 on replicated collections: three
 * nodes, two writers and a reader. Each new operation from both writers,
 * its result read on the reader (weak after waiting for the version,
 * strong, and by iteration); iteration as a consistent snapshot (it does
 * not move while the collection does; STRONG sees every write completed
 * before it); waiting for an update; the reader refused the new writes;
 * and compare_exchange races between the two writers on a Map entry and
 * on a Cell, led by one writer and then by the other: in every round
 * exactly one wins and the other sees the winner's value, and CAS-loop
 * counters on both lose no increment.
 */
#include "collections_util.h"

static void iter_keys_are(mk_collection *c, mk_group_consistency cons, const char *want,
                          uint64_t *version) {
    mk_collection_iter *it;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_collection_iter_new(c, cons, &it, 5000, &err), 0, &err);
    char got[256] = "";
    mk_collection_entry e;
    uint64_t n = 0;
    while (mk_collection_iter_next(it, &e) == 1) {
        assert_int_equal(e.index, n++);
        if (e.klen) strncat(got, (const char *)e.key, e.klen);
        strcat(got, "=");
        if (e.vlen) strncat(got, (const char *)e.val, e.vlen);
        strcat(got, " ");
    }
    assert_int_equal(mk_collection_iter_len(it), n);
    if (version) *version = mk_collection_iter_version(it);
    mk_collection_iter_free(it);
    assert_string_equal(got, want);
}

static void test_map_set(void **state) {
    (void)state;
    cu_cluster cu;
    cu_start(&cu, "coll-ops-map", 3);
    mk_collection *m[3], *s[3];
    cu_open(&cu, &(mk_collection_config){.name = "m", .kind = MK_COLL_MAP}, m);
    cu_open(&cu, &(mk_collection_config){.name = "s", .kind = MK_COLL_SET, .capacity = 4}, s);
    mk_error err;
    mk_error_clear(&err);
    mk_buf cur = MK_BUF_INIT;
    uint64_t v, n;

    /* compare_exchange: insert from absent, mismatch, absent, swap, remove. */
    mk_bytes one = CU_B("1"), two = CU_B("2");
    TU_ASSERT_RC(mk_map_compare_exchange(m[0], "k", 1, NULL, &one, &cur, &v, 5000, &err), 0, &err);
    assert_int_equal(mk_map_compare_exchange(m[1], "k", 1, NULL, &two, &cur, NULL, 5000, &err),
                     MK_ESTATE);
    TU_ASSERT_REASON(&err, "another value");
    CU_BUF_IS(cur, "1");
    mk_buf_reset(&cur);
    assert_int_equal(mk_map_compare_exchange(m[1], "x", 1, &one, &two, &cur, NULL, 5000, &err),
                     MK_ENOTFOUND);
    assert_int_equal(cur.len, 0);
    TU_ASSERT_RC(mk_map_compare_exchange(m[1], "k", 1, &one, &two, NULL, &v, 5000, &err), 0, &err);
    assert_int_equal(mk_collection_wait_version(m[2], v, 5000), 0);
    mk_buf b = MK_BUF_INIT;
    TU_ASSERT_RC(mk_map_get(m[2], MK_GROUP_WEAK, "k", 1, &b, 0, &err), 0, &err);
    CU_BUF_IS(b, "2");
    mk_buf_reset(&b);

    /* extend (a later entry of a key wins), iteration in key order. */
    mk_bytes keys[4] = {CU_B("c"), CU_B("a"), CU_B("b"), CU_B("a")};
    mk_bytes vals[4] = {CU_B("C"), CU_B("A1"), CU_B("B"), CU_B("A2")};
    TU_ASSERT_RC(mk_map_extend(m[0], keys, vals, 4, &n, &v, 5000, &err), 0, &err);
    assert_int_equal(n, 3);
    assert_int_equal(mk_collection_wait_version(m[2], v, 5000), 0);
    uint64_t iv;
    iter_keys_are(m[2], MK_GROUP_WEAK, "a=A2 b=B c=C k=2 ", &iv);
    assert_int_equal(iv, v);
    /* A snapshot does not move; a strong one from the reader sees a write
     * just completed on a writer. */
    mk_collection_iter *snap;
    assert_int_equal(mk_collection_wait_version(m[1], v, 5000), 0);
    TU_ASSERT_RC(mk_collection_iter_new(m[1], MK_GROUP_WEAK, &snap, 0, &err), 0, &err);
    mk_bytes gone[3] = {CU_B("a"), CU_B("zz"), CU_B("k")};
    TU_ASSERT_RC(mk_map_remove_many(m[1], gone, 3, &n, &v, 5000, &err), 0, &err);
    assert_int_equal(n, 2);
    iter_keys_are(m[2], MK_GROUP_STRONG, "b=B c=C ", &iv);
    assert_true(iv >= v);
    mk_collection_entry e;
    uint64_t seen = 0;
    while (mk_collection_iter_next(snap, &e) == 1)
        seen++;
    assert_int_equal(seen, 4);
    mk_collection_iter_rewind(snap);
    assert_int_equal(mk_collection_iter_next(snap, &e), 1);
    assert_memory_equal(e.key, "a", 1);
    mk_collection_iter_free(snap);

    /* Set: extend, remove_many, iteration; capacity is all or nothing. */
    mk_bytes el[3] = {CU_B("y"), CU_B("x"), CU_B("y")};
    TU_ASSERT_RC(mk_set_extend(s[1], el, 3, &n, NULL, 5000, &err), 0, &err);
    assert_int_equal(n, 2);
    mk_bytes more[3] = {CU_B("p"), CU_B("q"), CU_B("r")};
    assert_int_equal(mk_set_extend(s[0], more, 3, &n, NULL, 5000, &err), MK_ETOOBIG);
    TU_ASSERT_RC(mk_set_extend(s[0], more, 2, &n, &v, 5000, &err), 0, &err);
    assert_int_equal(mk_collection_wait_version(s[2], v, 5000), 0);
    iter_keys_are(s[2], MK_GROUP_WEAK, "p= q= x= y= ", NULL);
    mk_bytes rm[2] = {CU_B("q"), CU_B("x")};
    TU_ASSERT_RC(mk_set_remove_many(s[1], rm, 2, &n, NULL, 5000, &err), 0, &err);
    assert_int_equal(n, 2);
    iter_keys_are(s[2], MK_GROUP_STRONG, "p= y= ", NULL);

    /* The reader writes nothing; another kind's call is refused. */
    assert_int_equal(mk_map_compare_exchange(m[2], "k", 1, NULL, &one, NULL, NULL, 1000, &err),
                     MK_EPOLICY);
    assert_int_equal(mk_map_extend(m[2], keys, vals, 1, NULL, NULL, 1000, &err), MK_EPOLICY);
    assert_int_equal(mk_set_remove_many(s[2], rm, 1, NULL, NULL, 1000, &err), MK_EPOLICY);
    assert_int_equal(mk_set_extend(m[0], el, 1, NULL, NULL, 1000, &err), MK_EINVAL);

    mk_buf_free(&b);
    mk_buf_free(&cur);
    cu_close(s, 3);
    cu_close(m, 3);
    cu_stop(&cu);
}

static void vec_is(mk_collection *c, const char *want) {
    mk_collection_iter *it;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_collection_iter_new(c, MK_GROUP_STRONG, &it, 5000, &err), 0, &err);
    char got[64] = "";
    mk_collection_entry e;
    while (mk_collection_iter_next(it, &e) == 1)
        if (e.vlen) strncat(got, (const char *)e.val, e.vlen);
    mk_collection_iter_free(it);
    assert_string_equal(got, want);
}

static void test_vec_cell_pq(void **state) {
    (void)state;
    cu_cluster cu;
    cu_start(&cu, "coll-ops-vec", 3);
    mk_collection *v[3], *cell[3], *pq[3];
    cu_open(&cu, &(mk_collection_config){.name = "v", .kind = MK_COLL_VEC, .capacity = 6}, v);
    cu_open(&cu, &(mk_collection_config){.name = "c", .kind = MK_COLL_CELL}, cell);
    cu_open(&cu, &(mk_collection_config){.name = "p", .kind = MK_COLL_PQ, .capacity = 3}, pq);
    mk_error err;
    mk_error_clear(&err);
    mk_buf b = MK_BUF_INIT;
    uint64_t n, ver;

    /* Vec: insert, swap, remove, truncate from both writers. */
    TU_ASSERT_RC(mk_vec_push(v[0], "b", 1, NULL, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_vec_insert(v[1], 0, "a", 1, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_vec_insert(v[0], 2, "d", 1, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_vec_insert(v[1], 2, "c", 1, NULL, 5000, &err), 0, &err);
    assert_int_equal(mk_vec_insert(v[0], 9, "z", 1, NULL, 5000, &err), MK_ENOTFOUND);
    vec_is(v[2], "abcd");
    TU_ASSERT_RC(mk_vec_swap(v[1], 0, 3, NULL, 5000, &err), 0, &err);
    assert_int_equal(mk_vec_swap(v[0], 0, 4, NULL, 5000, &err), MK_ENOTFOUND);
    vec_is(v[2], "dbca");
    TU_ASSERT_RC(mk_vec_remove(v[0], 1, &b, NULL, 5000, &err), 0, &err);
    CU_BUF_IS(b, "b");
    mk_buf_reset(&b);
    assert_int_equal(mk_vec_remove(v[1], 3, &b, NULL, 5000, &err), MK_ENOTFOUND);
    vec_is(v[2], "dca");
    TU_ASSERT_RC(mk_vec_truncate(v[1], 1, &n, &ver, 5000, &err), 0, &err);
    assert_int_equal(n, 2);
    assert_int_equal(mk_collection_wait_version(v[2], ver, 5000), 0);
    TU_ASSERT_RC(mk_vec_get(v[2], MK_GROUP_WEAK, 0, &b, 0, &err), 0, &err);
    CU_BUF_IS(b, "d");
    mk_buf_reset(&b);
    TU_ASSERT_RC(mk_collection_len(v[2], MK_GROUP_WEAK, &n, 0, &err), 0, &err);
    assert_int_equal(n, 1);
    assert_int_equal(mk_vec_insert(v[2], 0, "r", 1, NULL, 1000, &err), MK_EPOLICY);
    assert_int_equal(mk_vec_truncate(v[2], 0, NULL, NULL, 1000, &err), MK_EPOLICY);

    /* Cell compare_exchange. */
    mk_bytes x = CU_B("x"), y = CU_B("y");
    assert_int_equal(mk_cell_compare_exchange(cell[0], &x, &y, &b, NULL, 5000, &err), MK_ENOTFOUND);
    TU_ASSERT_RC(mk_cell_compare_exchange(cell[1], NULL, &x, &b, NULL, 5000, &err), 0, &err);
    assert_int_equal(mk_cell_compare_exchange(cell[0], NULL, &y, &b, NULL, 5000, &err), MK_ESTATE);
    CU_BUF_IS(b, "x");
    mk_buf_reset(&b);
    TU_ASSERT_RC(mk_cell_compare_exchange(cell[0], &x, &y, NULL, &ver, 5000, &err), 0, &err);
    assert_int_equal(mk_collection_wait_version(cell[2], ver, 5000), 0);
    TU_ASSERT_RC(mk_cell_get(cell[2], MK_GROUP_WEAK, &b, 0, &err), 0, &err);
    CU_BUF_IS(b, "y");
    mk_buf_reset(&b);
    assert_int_equal(mk_cell_compare_exchange(cell[2], &y, &x, NULL, NULL, 1000, &err), MK_EPOLICY);

    /* PQ by key: insert, update, remove; iteration highest first. */
    bool ins;
    TU_ASSERT_RC(mk_pq_insert(pq[0], "job1", 4, 10, "one", 3, &ins, NULL, 5000, &err), 0, &err);
    assert_true(ins);
    TU_ASSERT_RC(mk_pq_insert(pq[1], "job2", 4, 20, "two", 3, &ins, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_pq_push(pq[0], 15, "anon", 4, &ins, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_pq_update(pq[1], "job1", 4, 30, NULL, 5000, &err), 0, &err);
    assert_int_equal(mk_pq_update(pq[0], "nope", 4, 1, NULL, 5000, &err), MK_ENOTFOUND);
    assert_int_equal(mk_pq_insert(pq[0], "", 0, 1, "e", 1, NULL, NULL, 5000, &err), MK_EINVAL);
    mk_collection_iter *it;
    TU_ASSERT_RC(mk_collection_iter_new(pq[2], MK_GROUP_STRONG, &it, 5000, &err), 0, &err);
    mk_collection_entry e;
    const int64_t want_p[3] = {30, 20, 15};
    const char *want_k[3] = {"job1", "job2", ""};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mk_collection_iter_next(it, &e), 1);
        assert_int_equal(e.index, i);
        assert_int_equal(e.prio, want_p[i]);
        assert_int_equal(e.klen, strlen(want_k[i]));
        if (e.klen) assert_memory_equal(e.key, want_k[i], e.klen);
    }
    assert_int_equal(mk_collection_iter_next(it, &e), 0);
    mk_collection_iter_free(it);
    int64_t prio;
    TU_ASSERT_RC(mk_pq_remove(pq[0], "job2", 4, &prio, &b, NULL, 5000, &err), 0, &err);
    assert_int_equal(prio, 20);
    CU_BUF_IS(b, "two");
    mk_buf_reset(&b);
    assert_int_equal(mk_pq_remove(pq[1], "job2", 4, &prio, &b, NULL, 5000, &err), MK_ENOTFOUND);
    TU_ASSERT_RC(mk_pq_pop(pq[1], &prio, &b, NULL, 5000, &err), 0, &err);
    assert_int_equal(prio, 30);
    CU_BUF_IS(b, "one");
    mk_buf_reset(&b);
    assert_int_equal(mk_pq_remove(pq[2], "job1", 4, NULL, NULL, NULL, 1000, &err), MK_EPOLICY);

    mk_buf_free(&b);
    cu_close(pq, 3);
    cu_close(cell, 3);
    cu_close(v, 3);
    cu_stop(&cu);
}

/* ----- waiting for an update ----------------------------------------------------- */

typedef struct waiter {
    mk_collection *c;
    uint64_t version; /* in: seen; out: the new one */
    int rc;
} waiter;

static void *wait_thread(void *arg) {
    waiter *w = arg;
    w->rc = mk_collection_wait_updated(w->c, &w->version, 10000);
    return NULL;
}

static void test_wait_updated(void **state) {
    (void)state;
    cu_cluster cu;
    cu_start(&cu, "coll-ops-wait", 2);
    mk_collection *m[2];
    cu_open(&cu, &(mk_collection_config){.name = "w", .kind = MK_COLL_MAP}, m);
    mk_error err;
    mk_error_clear(&err);
    /* Nothing changes: a timeout, the version as it was. */
    uint64_t seen = mk_collection_version(m[1]);
    assert_int_equal(mk_collection_wait_updated(m[1], &seen, 0), MK_ETIMEDOUT);
    assert_int_equal(mk_collection_wait_updated(m[1], &seen, 150), MK_ETIMEDOUT);
    assert_int_equal(seen, mk_collection_version(m[1]));
    /* A waiter on the other node wakes with the version a write made. */
    waiter w = {m[1], seen, 1};
    pthread_t th;
    tg_thread(&th, wait_thread, &w);
    uint64_t v;
    TU_ASSERT_RC(mk_map_put(m[0], "k", 1, "v", 1, &v, 5000, &err), 0, &err);
    tg_thread_join(th);
    assert_int_equal(w.rc, 0);
    assert_int_equal(w.version, v);
    /* A change made while nobody waited is not missed. */
    TU_ASSERT_RC(mk_map_put(m[0], "k", 1, "w", 1, &v, 5000, &err), 0, &err);
    assert_int_equal(mk_collection_wait_version(m[1], v, 5000), 0);
    TU_ASSERT_RC(mk_collection_wait_updated(m[1], &w.version, 0), 0, &err);
    assert_int_equal(w.version, v);
    /* A command that changes nothing is no update. */
    bool existed;
    TU_ASSERT_RC(mk_map_remove(m[0], "zz", 2, &existed, NULL, 5000, &err), 0, &err);
    assert_false(existed);
    assert_int_equal(mk_collection_wait_updated(m[1], &w.version, 300), MK_ETIMEDOUT);
    cu_close(m, 2);
    cu_stop(&cu);
}

/* ----- compare_exchange races ------------------------------------------------------ */

typedef struct racer {
    mk_collection *c;
    pthread_barrier_t *start;
    const char *expected, *desired; /* expected NULL: absent */
    int rc;
    mk_buf current;
    bool cell;
} racer;

static void *race_thread(void *arg) {
    racer *r = arg;
    mk_bytes e = {r->expected, r->expected ? strlen(r->expected) : 0};
    mk_bytes d = CU_B(r->desired);
    mk_buf_reset(&r->current);
    pthread_barrier_wait(r->start);
    r->rc = r->cell ? mk_cell_compare_exchange(r->c, r->expected ? &e : NULL, &d, &r->current, NULL,
                                               10000, NULL)
                    : mk_map_compare_exchange(r->c, "race", 4, r->expected ? &e : NULL, &d,
                                              &r->current, NULL, 10000, NULL);
    return NULL;
}

/* Leadership to node `to` of the two. */
static void lead_on(cu_cluster *cu, mk_collection **c, int to) {
    mk_id id;
    mk_network_peer_id(cu->nw[to], &id);
    mk_error err;
    mk_error_clear(&err);
    mk_group *g = mk_collection_group(c[to]);
    if (mk_group_wait(g, MK_GROUP_IS_LEADER, 0, 0) == 0) return;
    TU_ASSERT_RC(mk_group_transfer(mk_collection_group(c[1 - to]), &id, &err), 0, &err);
    assert_int_equal(mk_group_wait(g, MK_GROUP_IS_LEADER, 0, 10000), 0);
}

/* Rounds of two CAS from the same expected value, one on each writer;
 * the leader is node 0 for the first half, node 1 for the second. */
static void race_rounds(cu_cluster *cu, mk_collection **c, bool cell, int rounds) {
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    racer r[2] = {{c[0], &start, NULL, NULL, 0, MK_BUF_INIT, cell},
                  {c[1], &start, NULL, NULL, 0, MK_BUF_INIT, cell}};
    char prev[32] = "", d0[32], d1[32];
    int wins[2] = {0, 0};
    for (int i = 0; i < rounds; i++) {
        lead_on(cu, c, i < rounds / 2 ? 0 : 1);
        snprintf(d0, sizeof d0, "r%d-node0", i);
        snprintf(d1, sizeof d1, "r%d-node1", i);
        r[0].expected = r[1].expected = i ? prev : NULL;
        r[0].desired = d0;
        r[1].desired = d1;
        pthread_t t0, t1;
        tg_thread(&t0, race_thread, &r[0]);
        tg_thread(&t1, race_thread, &r[1]);
        tg_thread_join(t0);
        tg_thread_join(t1);
        /* Exactly one wins; the loser saw the winner's value. */
        int w = r[0].rc == 0 ? 0 : 1, l = 1 - w;
        if (r[w].rc != 0 || r[l].rc != MK_ESTATE)
            fail_msg("round %d: %s and %s", i, mk_strerror(r[0].rc), mk_strerror(r[1].rc));
        CU_BUF_IS(r[l].current, r[w].desired);
        wins[w]++;
        snprintf(prev, sizeof prev, "%s", r[w].desired);
    }
    print_message("%s races: node 0 won %d, node 1 won %d\n", cell ? "cell" : "map", wins[0],
                  wins[1]);
    mk_buf_free(&r[0].current);
    mk_buf_free(&r[1].current);
    pthread_barrier_destroy(&start);
}

typedef struct counter {
    mk_collection *c;
    int n;
    int retries;
} counter;

/* n increments of a decimal counter in the cell, each a CAS loop. */
static void *count_thread(void *arg) {
    counter *k = arg;
    mk_buf cur = MK_BUF_INIT;
    char seen[32] = "0", next[32];
    bool absent = true;
    for (int i = 0; i < k->n;) {
        snprintf(next, sizeof next, "%ld", strtol(seen, NULL, 10) + 1);
        mk_bytes e = CU_B(seen), d = CU_B(next);
        mk_buf_reset(&cur);
        int rc = mk_cell_compare_exchange(k->c, absent ? NULL : &e, &d, &cur, NULL, 10000, NULL);
        if (rc == 0) {
            snprintf(seen, sizeof seen, "%s", next);
            absent = false;
            i++;
        } else if (rc == MK_ESTATE) {
            snprintf(seen, sizeof seen, "%.*s", (int)cur.len, (const char *)cur.data);
            absent = false;
            k->retries++;
        } else if (rc != MK_ENOTFOUND) {
            k->retries = -1000000; /* reported by the test */
            break;
        }
    }
    mk_buf_free(&cur);
    return NULL;
}

static void test_cas_races(void **state) {
    (void)state;
    cu_cluster cu;
    cu_start(&cu, "coll-ops-race", 2);
    mk_collection *m[2], *c[2], *k[2];
    cu_open(&cu, &(mk_collection_config){.name = "race-map", .kind = MK_COLL_MAP}, m);
    cu_open(&cu, &(mk_collection_config){.name = "race-cell", .kind = MK_COLL_CELL}, c);
    cu_open(&cu, &(mk_collection_config){.name = "counter", .kind = MK_COLL_CELL}, k);
    race_rounds(&cu, m, false, 12);
    race_rounds(&cu, c, true, 12);
    /* Two CAS-loop counters, 25 increments each: 50, none lost. */
    counter a = {k[0], 25, 0}, b = {k[1], 25, 0};
    pthread_t ta, tb;
    tg_thread(&ta, count_thread, &a);
    tg_thread(&tb, count_thread, &b);
    tg_thread_join(ta);
    tg_thread_join(tb);
    assert_true(a.retries >= 0 && b.retries >= 0);
    print_message("counter: %d + %d retries\n", a.retries, b.retries);
    mk_buf v = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_cell_get(k[1], MK_GROUP_STRONG, &v, 5000, &err), 0, &err);
    CU_BUF_IS(v, "50");
    mk_buf_free(&v);
    cu_close(k, 2);
    cu_close(c, 2);
    cu_close(m, 2);
    cu_stop(&cu);
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_map_set, tg_teardown),
        cmocka_unit_test_teardown(test_vec_cell_pq, tg_teardown),
        cmocka_unit_test_teardown(test_wait_updated, tg_teardown),
        cmocka_unit_test_teardown(test_cas_races, tg_teardown),
    };
    return TG_RUN(tests);
}
