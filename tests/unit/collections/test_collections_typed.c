/*
 * Typed collections: declarations with key and value codecs
 * (MK_COLLECTION_DEF ... MK_CODECS) and configurations with them, on two
 * nodes. A Map<String, String> hands back C strings from mk_map_get_value
 * and its typed compare_exchange, batches and iteration; a Vec of JSON, a
 * Set of strings, a PriorityQueue keyed by strings with CBOR values, a
 * Cell of JSON, a Once of a string, and an untyped Map through the bytes
 * codec. A stored datum its codec refuses (written with the byte form)
 * fails a typed read with MK_EMALFORMED and skips in typed iteration;
 * values the codec refuses are not sent; a declaration's codecs may not
 * be set again in the configuration.
 */
#include <cbor.h>
#include <jansson.h>

#include "collections_util.h"

MK_COLLECTION_DEF(NAMES, "typed.names", MK_COLL_MAP, 0, MK_NO_TICKET,
                  MK_CODECS(&mk_codec_string, &mk_codec_string));
MK_COLLECTION_DEF(EVENTS, "typed.events", MK_COLL_VEC, 0, MK_NO_TICKET,
                  MK_CODECS(NULL, &mk_codec_json));
MK_COLLECTION_DEF(TAGS, "typed.tags", MK_COLL_SET, 0, MK_NO_TICKET,
                  MK_CODECS(&mk_codec_string, NULL));
MK_COLLECTION_DEF(JOBS, "typed.jobs", MK_COLL_PQ, 8, MK_NO_TICKET,
                  MK_CODECS(&mk_codec_string, &mk_codec_cbor));
MK_COLLECTION_DEF(SETTINGS, "typed.settings", MK_COLL_CELL, 0, MK_NO_TICKET,
                  MK_CODECS(NULL, &mk_codec_json));
MK_COLLECTION_DEF(RAW, "typed.raw", MK_COLL_MAP, 0, MK_NO_TICKET);

static void test_string_map(void **state) {
    (void)state;
    assert_ptr_equal(NAMES.key_codec, &mk_codec_string);
    assert_null(RAW.value_codec);
    cu_cluster cu;
    cu_start(&cu, "coll-typed-map", 2);
    mk_collection *m[2];
    cu_open_def(&cu, &NAMES, m);
    mk_error err;
    mk_error_clear(&err);
    uint64_t v, n;
    char *s = NULL;

    TU_ASSERT_RC(mk_map_put_value(m[0], "alice", "admin", &v, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_map_get_value(m[1], MK_GROUP_STRONG, "alice", (void **)&s, 5000, &err), 0,
                 &err);
    assert_string_equal(s, "admin");
    mk_collection_value_free(m[1], s);
    assert_int_equal(mk_map_get_value(m[1], MK_GROUP_STRONG, "bob", (void **)&s, 5000, &err),
                     MK_ENOTFOUND);
    assert_null(s);
    /* The byte form sees the encoding: the string without its NUL. */
    mk_buf b = MK_BUF_INIT;
    TU_ASSERT_RC(mk_map_get(m[0], MK_GROUP_STRONG, "alice", 5, &b, 5000, &err), 0, &err);
    CU_BUF_IS(b, "admin");
    mk_buf_reset(&b);
    /* What the codec refuses is not sent. */
    assert_int_equal(mk_map_put_value(m[0], "bad\xC3", "x", NULL, 5000, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "key: string: invalid UTF-8 at byte 3");

    /* compare_exchange with strings. */
    TU_ASSERT_RC(mk_map_compare_exchange_value(m[1], "alice", "admin", "root", (void **)&s, NULL,
                                               5000, &err),
                 0, &err);
    assert_null(s);
    assert_int_equal(mk_map_compare_exchange_value(m[0], "alice", "admin", "guest", (void **)&s,
                                                   NULL, 5000, &err),
                     MK_ESTATE);
    assert_string_equal(s, "root");
    mk_collection_value_free(m[0], s);

    /* Batches and typed iteration. */
    const char *keys[3] = {"carol", "bob", "dave"}, *vals[3] = {"user", "user", "ops"};
    TU_ASSERT_RC(mk_map_extend_value(m[0], (const void *const *)keys, (const void *const *)vals, 3,
                                     &n, NULL, 5000, &err),
                 0, &err);
    assert_int_equal(n, 3);
    TU_ASSERT_RC(
        mk_map_remove_many_value(m[1], (const void *const *)keys + 2, 1, &n, &v, 5000, &err), 0,
        &err);
    assert_int_equal(n, 1);
    /* A datum the codec refuses, stored through the byte form. */
    TU_ASSERT_RC(mk_map_put(m[0], "mallory", 7, "\xFF", 1, &v, 5000, &err), 0, &err);
    assert_int_equal(mk_map_get_value(m[0], MK_GROUP_STRONG, "mallory", (void **)&s, 5000, &err),
                     MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "stored value: string: invalid UTF-8 at byte 0");
    assert_null(s);
    assert_int_equal(mk_collection_wait_version(m[1], v, 5000), 0);
    mk_collection_iter *it;
    TU_ASSERT_RC(mk_collection_iter_new(m[1], MK_GROUP_WEAK, &it, 0, &err), 0, &err);
    const char *want[4][2] = {{"alice", "root"}, {"bob", "user"}, {"carol", "user"}, {NULL, NULL}};
    mk_collection_entry e;
    int k = 0, rc, bad = 0;
    while ((rc = mk_collection_iter_next_value(it, &e, &err)) != 0) {
        if (rc < 0) {
            assert_int_equal(rc, MK_EMALFORMED);
            TU_ASSERT_REASON(&err, "entry 3");
            bad++;
            continue;
        }
        assert_string_equal(e.decoded_key, want[k][0]);
        assert_string_equal(e.decoded_val, want[k][1]);
        k++;
    }
    assert_int_equal(k, 3);
    assert_int_equal(bad, 1);
    mk_collection_iter_free(it);
    bool existed;
    TU_ASSERT_RC(mk_map_remove_value(m[1], "mallory", &existed, NULL, 5000, &err), 0, &err);
    assert_true(existed);

    /* The declaration's codecs stay out of the configuration. */
    mk_collection_config o = {.data_dir = "/nonexistent", .value_codec = &mk_codec_json};
    mk_collection *x = NULL;
    assert_int_equal(mk_collection_new_from_def(cu.nw[0], &NAMES, &o, &x, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "codecs come from the declaration");
    assert_null(x);

    mk_buf_free(&b);
    cu_close(m, 2);
    cu_stop(&cu);
}

static void test_json_vec_string_set(void **state) {
    (void)state;
    cu_cluster cu;
    cu_start(&cu, "coll-typed-vec", 2);
    mk_collection *ev[2], *tags[2];
    cu_open_def(&cu, &EVENTS, ev);
    cu_open_def(&cu, &TAGS, tags);
    mk_error err;
    mk_error_clear(&err);
    uint64_t idx, n;
    json_t *a = json_pack("{s:s, s:i}", "kind", "login", "at", 1700000000);
    json_t *b = json_pack("[i, s, n]", 1, "two");
    TU_ASSERT_RC(mk_vec_push_value(ev[0], a, &idx, NULL, 5000, &err), 0, &err);
    assert_int_equal(idx, 0);
    TU_ASSERT_RC(mk_vec_insert_value(ev[1], 0, b, NULL, 5000, &err), 0, &err);
    json_t *got = NULL;
    TU_ASSERT_RC(mk_vec_get_value(ev[1], MK_GROUP_STRONG, 1, (void **)&got, 5000, &err), 0, &err);
    assert_true(json_equal(got, a));
    mk_collection_value_free(ev[1], got);
    json_t *seven = json_integer(7);
    TU_ASSERT_RC(mk_vec_set_value(ev[0], 1, seven, NULL, 5000, &err), 0, &err);
    json_decref(seven);
    TU_ASSERT_RC(mk_vec_remove_value(ev[0], 0, (void **)&got, NULL, 5000, &err), 0, &err);
    assert_true(json_equal(got, b));
    mk_collection_value_free(ev[0], got);
    TU_ASSERT_RC(mk_vec_pop_value(ev[1], (void **)&got, NULL, 5000, &err), 0, &err);
    assert_int_equal(json_integer_value(got), 7);
    mk_collection_value_free(ev[1], got);
    assert_int_equal(mk_vec_pop_value(ev[1], (void **)&got, NULL, 5000, &err), MK_ENOTFOUND);
    assert_null(got);
    json_decref(a);
    json_decref(b);

    bool f;
    TU_ASSERT_RC(mk_set_insert_value(tags[0], "red", &f, NULL, 5000, &err), 0, &err);
    assert_true(f);
    const char *more[3] = {"green", "blue", "red"};
    TU_ASSERT_RC(mk_set_extend_value(tags[1], (const void *const *)more, 3, &n, NULL, 5000, &err),
                 0, &err);
    assert_int_equal(n, 2);
    TU_ASSERT_RC(mk_set_contains_value(tags[1], MK_GROUP_STRONG, "blue", &f, 5000, &err), 0, &err);
    assert_true(f);
    TU_ASSERT_RC(
        mk_set_remove_many_value(tags[0], (const void *const *)more, 2, &n, NULL, 5000, &err), 0,
        &err);
    assert_int_equal(n, 2);
    TU_ASSERT_RC(mk_set_remove_value(tags[0], "red", &f, NULL, 5000, &err), 0, &err);
    assert_true(f);
    TU_ASSERT_RC(mk_set_contains_value(tags[1], MK_GROUP_STRONG, "red", &f, 5000, &err), 0, &err);
    assert_false(f);
    cu_close(tags, 2);
    cu_close(ev, 2);
    cu_stop(&cu);
}

static void test_pq_cell_once_raw(void **state) {
    (void)state;
    cu_cluster cu;
    cu_start(&cu, "coll-typed-pq", 2);
    mk_collection *jobs[2], *set[2], *once[2], *raw[2];
    cu_open_def(&cu, &JOBS, jobs);
    cu_open_def(&cu, &SETTINGS, set);
    cu_open(&cu,
            &(mk_collection_config){
                .name = "typed.once", .kind = MK_COLL_ONCE, .value_codec = &mk_codec_string},
            once);
    cu_open_def(&cu, &RAW, raw);
    mk_error err;
    mk_error_clear(&err);

    /* PQ: string keys, CBOR values. */
    cbor_item_t *one = cbor_build_uint8(1), *two = cbor_build_string("two");
    bool ins;
    int64_t prio;
    TU_ASSERT_RC(mk_pq_insert_value(jobs[0], "j1", 10, one, &ins, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_pq_insert_value(jobs[1], "j2", 20, two, &ins, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_pq_push_value(jobs[0], 5, one, &ins, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_pq_update_value(jobs[1], "j1", 30, NULL, 5000, &err), 0, &err);
    cbor_item_t *got = NULL;
    TU_ASSERT_RC(mk_pq_peek_value(jobs[1], MK_GROUP_STRONG, &prio, (void **)&got, 5000, &err), 0,
                 &err);
    assert_int_equal(prio, 30);
    assert_int_equal(cbor_get_uint8(got), 1);
    mk_collection_value_free(jobs[1], got);
    TU_ASSERT_RC(mk_pq_remove_value(jobs[0], "j2", &prio, (void **)&got, NULL, 5000, &err), 0,
                 &err);
    assert_int_equal(prio, 20);
    assert_true(cbor_isa_string(got));
    mk_collection_value_free(jobs[0], got);
    mk_collection_iter *it;
    TU_ASSERT_RC(mk_collection_iter_new(jobs[1], MK_GROUP_STRONG, &it, 5000, &err), 0, &err);
    mk_collection_entry e;
    assert_int_equal(mk_collection_iter_next_value(it, &e, &err), 1);
    assert_string_equal(e.decoded_key, "j1");
    assert_int_equal(cbor_get_uint8(e.decoded_val), 1);
    assert_int_equal(mk_collection_iter_next_value(it, &e, &err), 1);
    assert_null(e.decoded_key); /* pushed without a key */
    assert_int_equal(e.prio, 5);
    assert_int_equal(mk_collection_iter_next_value(it, &e, &err), 0);
    mk_collection_iter_free(it);
    TU_ASSERT_RC(mk_pq_pop_value(jobs[1], &prio, (void **)&got, NULL, 5000, &err), 0, &err);
    assert_int_equal(prio, 30);
    mk_collection_value_free(jobs[1], got);
    cbor_decref(&one);
    cbor_decref(&two);

    /* Cell of JSON with compare_exchange. */
    json_t *v1 = json_pack("{s:b}", "debug", 0), *v2 = json_pack("{s:b}", "debug", 1);
    json_t *cur = NULL;
    TU_ASSERT_RC(mk_cell_compare_exchange_value(set[0], NULL, v1, (void **)&cur, NULL, 5000, &err),
                 0, &err);
    assert_int_equal(
        mk_cell_compare_exchange_value(set[1], NULL, v2, (void **)&cur, NULL, 5000, &err),
        MK_ESTATE);
    assert_true(json_equal(cur, v1));
    mk_collection_value_free(set[1], cur);
    TU_ASSERT_RC(mk_cell_set_value(set[1], v2, NULL, 5000, &err), 0, &err);
    TU_ASSERT_RC(mk_cell_get_value(set[0], MK_GROUP_STRONG, (void **)&cur, 5000, &err), 0, &err);
    assert_true(json_equal(cur, v2));
    mk_collection_value_free(set[0], cur);
    json_decref(v1);
    json_decref(v2);

    /* Once of a string, from a configuration. */
    char *s = NULL;
    TU_ASSERT_RC(mk_once_set_value(once[1], "first", NULL, 5000, &err), 0, &err);
    assert_int_equal(mk_once_set_value(once[0], "second", NULL, 5000, &err), MK_ESTATE);
    TU_ASSERT_RC(mk_once_get_value(once[0], MK_GROUP_STRONG, (void **)&s, 5000, &err), 0, &err);
    assert_string_equal(s, "first");
    mk_collection_value_free(once[0], s);

    /* Untyped: the bytes codec (values are mk_bytes). */
    mk_bytes k = CU_B("k"), val = {"\0\1\2", 3};
    TU_ASSERT_RC(mk_map_put_value(raw[0], &k, &val, NULL, 5000, &err), 0, &err);
    mk_bytes *rb = NULL;
    TU_ASSERT_RC(mk_map_get_value(raw[1], MK_GROUP_STRONG, &k, (void **)&rb, 5000, &err), 0, &err);
    assert_int_equal(rb->len, 3);
    assert_memory_equal(rb->data, "\0\1\2", 3);
    mk_collection_value_free(raw[1], rb);

    cu_close(raw, 2);
    cu_close(once, 2);
    cu_close(set, 2);
    cu_close(jobs, 2);
    cu_stop(&cu);
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_string_map, tg_teardown),
        cmocka_unit_test_teardown(test_json_vec_string_set, tg_teardown),
        cmocka_unit_test_teardown(test_pq_cell_once_raw, tg_teardown),
    };
    return TG_RUN(tests);
}
