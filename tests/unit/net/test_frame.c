/*
 * Unit tests of net/: the frame decoder and key files (no sockets).
 */
#include <sys/stat.h>

#include "test_util.h"
#include "mosaik/net.h"
#include "net/net_internal.h"

typedef struct collected {
    int n;
    size_t lens[64];
    uint8_t data[64][64];
    int stop_after; /* 0 = never */
} collected;

static int collect(void *ctx, const uint8_t *data, size_t len) {
    collected *c = ctx;
    if (c->n < 64) {
        c->lens[c->n] = len;
        memcpy(c->data[c->n], data, len < 64 ? len : 64);
    }
    c->n++;
    return c->stop_after && c->n >= c->stop_after ? 1 : 0;
}

static void decoder_splits(void **state) {
    (void)state;
    /* Three frames: "abc", "", "hello world". */
    mk_buf w = MK_BUF_INIT;
    assert_int_equal(mk_frame_encode(&w, "abc", 3), 0);
    assert_int_equal(mk_frame_encode(&w, NULL, 0), 0);
    assert_int_equal(mk_frame_encode(&w, "hello world", 11), 0);
    assert_int_equal(w.len, 4 + 3 + 4 + 4 + 11);
    /* Every split into two chunks, and byte by byte, gives the same frames. */
    for (size_t cut = 0; cut <= w.len; cut++) {
        mk_frame_decoder d;
        mk_frame_decoder_init(&d, 100);
        collected c = {0};
        assert_int_equal(mk_frame_decoder_feed(&d, w.data, cut, collect, &c, NULL), 0);
        assert_int_equal(mk_frame_decoder_feed(&d, w.data + cut, w.len - cut, collect, &c, NULL),
                         0);
        assert_int_equal(c.n, 3);
        assert_int_equal(c.lens[0], 3);
        assert_memory_equal(c.data[0], "abc", 3);
        assert_int_equal(c.lens[1], 0);
        assert_int_equal(c.lens[2], 11);
        assert_memory_equal(c.data[2], "hello world", 11);
        assert_true(mk_frame_decoder_at_boundary(&d));
        mk_frame_decoder_free(&d);
    }
    mk_frame_decoder d;
    mk_frame_decoder_init(&d, 100);
    collected c = {0};
    for (size_t i = 0; i < w.len; i++) {
        assert_int_equal(mk_frame_decoder_feed(&d, w.data + i, 1, collect, &c, NULL), 0);
        if (i == 5) {
            assert_false(mk_frame_decoder_at_boundary(&d));
            assert_int_equal(mk_frame_decoder_partial(&d), 6);
        }
    }
    assert_int_equal(c.n, 3);
    assert_memory_equal(c.data[2], "hello world", 11);
    mk_frame_decoder_free(&d);
    mk_buf_free(&w);
}

/* Two decoders share a budget: a buffer never grows beyond its frame, is
 * freed once delivered, and over the budget the reclaim decides who gives
 * up (here: the older partial frame, dropped by the test's reclaim). */
typedef struct budget_test {
    mk_frame_decoder *dec[2];
    int reclaims;
} budget_test;

static bool drop_oldest(mk_frame_budget *b, mk_frame_decoder *d) {
    budget_test *t = b->ctx;
    t->reclaims++;
    mk_frame_decoder *old = NULL;
    for (int i = 0; i < 2; i++)
        if (t->dec[i]->body.cap && (!old || t->dec[i]->partial_seq < old->partial_seq))
            old = t->dec[i];
    if (old == d) return true;
    if (old) mk_frame_budget_release(old);
    return false;
}

static void decoder_budget(void **state) {
    (void)state;
    budget_test t = {0};
    mk_frame_budget b = {.max = 1000, .reclaim = drop_oldest, .ctx = &t};
    mk_frame_decoder d0, d1;
    mk_frame_decoder_init(&d0, 4096);
    mk_frame_decoder_init(&d1, 4096);
    d0.budget = d1.budget = &b;
    t.dec[0] = &d0;
    t.dec[1] = &d1;
    collected c = {0};
    static uint8_t body[700];
    uint8_t hdr[4] = {0, 0, 2, 0xbc}; /* 700 bytes */
    /* d0: a partial frame of 700 announced, 699 in: capacity exactly 700. */
    assert_int_equal(mk_frame_decoder_feed(&d0, hdr, 4, collect, &c, NULL), 0);
    assert_int_equal(mk_frame_decoder_feed(&d0, body, 600, collect, &c, NULL), 0);
    assert_int_equal(mk_frame_decoder_feed(&d0, body, 99, collect, &c, NULL), 0);
    assert_true(d0.body.cap <= 700);
    assert_int_equal(b.used, d0.body.cap);
    /* d1 begins a frame later: over the budget, the older d0 is dropped. */
    assert_int_equal(mk_frame_decoder_feed(&d1, hdr, 4, collect, &c, NULL), 0);
    assert_int_equal(mk_frame_decoder_feed(&d1, body, 500, collect, &c, NULL), 0);
    assert_int_equal(mk_frame_decoder_feed(&d1, body, 100, collect, &c, NULL), 0);
    assert_true(t.reclaims >= 1);
    assert_int_equal(d0.body.cap, 0);
    assert_int_equal(b.used, d1.body.cap);
    /* d1 completes: delivered, its buffer freed, the budget back to 0. */
    assert_int_equal(mk_frame_decoder_feed(&d1, body, 100, collect, &c, NULL), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.lens[0], 700);
    assert_int_equal(d1.body.cap, 0);
    assert_int_equal(b.used, 0);
    /* The newest partial frame is the oldest one left: it gives up itself. */
    mk_frame_decoder_free(&d0);
    mk_frame_decoder_init(&d0, 4096);
    d0.budget = &b;
    b.max = 100;
    mk_error err;
    mk_error_clear(&err);
    assert_int_equal(mk_frame_decoder_feed(&d1, hdr, 4, collect, &c, NULL), 0);
    TU_ASSERT_RC(mk_frame_decoder_feed(&d1, body, 300, collect, &c, &err), MK_EBUSY, &err);
    TU_ASSERT_REASON(&err, "budget");
    assert_int_equal(d1.body.cap, 0);
    assert_int_equal(b.used, 0);
    mk_frame_decoder_free(&d0);
    mk_frame_decoder_free(&d1);
}

static void decoder_limits(void **state) {
    (void)state;
    mk_frame_decoder d;
    mk_error err;
    collected c = {0};
    /* Exactly the maximum is fine; one more is refused before any body. */
    uint8_t ok[4 + 8] = {0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    mk_frame_decoder_init(&d, 8);
    assert_int_equal(mk_frame_decoder_feed(&d, ok, sizeof ok, collect, &c, NULL), 0);
    assert_int_equal(c.n, 1);
    uint8_t big[4] = {0, 0, 0, 9};
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_frame_decoder_feed(&d, big, 3, collect, &c, &err), 0, &err);
    TU_ASSERT_RC(mk_frame_decoder_feed(&d, big + 3, 1, collect, &c, &err), MK_ETOOBIG, &err);
    TU_ASSERT_REASON(&err, "exceeds the maximum 8");
    mk_frame_decoder_free(&d);
    /* A huge length (a malformed prefix) is refused without allocating. */
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    mk_frame_decoder_init(&d, 1 << 20);
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_frame_decoder_feed(&d, huge, 4, collect, &c, &err), MK_ETOOBIG, &err);
    TU_ASSERT_REASON(&err, "4294967295");
    assert_null(d.body.data);
    mk_frame_decoder_free(&d);
    /* A callback may stop the decoder. */
    uint8_t two[] = {0, 0, 0, 1, 'x', 0, 0, 0, 1, 'y'};
    collected s = {.stop_after = 1};
    mk_frame_decoder_init(&d, 8);
    assert_int_equal(mk_frame_decoder_feed(&d, two, sizeof two, collect, &s, NULL), 1);
    assert_int_equal(s.n, 1);
    mk_frame_decoder_free(&d);
}

static void tmp_path(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/net_test_%d_%s", MOSAIK_BINARY_DIR, (int)getpid(), name);
}

static void keyfile_roundtrip(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "key");
    unlink(path);
    mk_ed25519_key k, k2;
    mk_error err;
    mk_error_clear(&err);
    assert_int_equal(mk_ed25519_generate(&k), 0);
    TU_ASSERT_RC(mk_transport_key_save(path, &k, &err), 0, &err);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    TU_ASSERT_RC(mk_transport_key_load(path, &k2, &err), 0, &err);
    assert_memory_equal(k.secret, k2.secret, 32);
    assert_memory_equal(k.public_key, k2.public_key, 32);

    /* Group/world-readable: refused. */
    assert_int_equal(chmod(path, 0644), 0);
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_key_load(path, &k2, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "0644");
    assert_int_equal(chmod(path, 0640), 0);
    TU_ASSERT_RC(mk_transport_key_load(path, &k2, &err), MK_EPOLICY, &err);
    unlink(path);

    /* Without an error object the real status still comes back (the
     * prefixing on the way up used to turn it into MK_EINVAL). */
    assert_int_equal(mk_transport_key_save("/nonexistent-dir/mosaik/key", &k, NULL), MK_EIO);
    assert_int_equal(mk_transport_key_load("/nonexistent-dir/mosaik/key", &k2, NULL), MK_ENOTFOUND);

    /* Wrong sizes and contents. */
    const char *bad[] = {"abcd\n", "", "zz" /* not hex */};
    for (size_t i = 0; i < 3; i++) {
        mk_error_clear(&err);
        assert_int_equal(mk_file_write(path, bad[i], strlen(bad[i]), 0600, NULL), 0);
        TU_ASSERT_RC(mk_transport_key_load(path, &k2, &err), MK_EMALFORMED, &err);
    }
    char text[200];
    memset(text, 'a', 64);
    strcpy(text + 64, "aa\n"); /* 66 hex digits */
    assert_int_equal(mk_file_write(path, text, strlen(text), 0600, NULL), 0);
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_key_load(path, &k2, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "after 64 hex digits");
    memset(text, 'g', 64); /* right size, not hex */
    text[64] = '\n';
    assert_int_equal(mk_file_write(path, text, 65, 0600, NULL), 0);
    TU_ASSERT_RC(mk_transport_key_load(path, &k2, &err), MK_EMALFORMED, &err);
    unlink(path);

    /* Missing: not found; load_or_create makes one, then loads the same. */
    TU_ASSERT_RC(mk_transport_key_load(path, &k2, &err), MK_ENOTFOUND, &err);
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_key_load_or_create(path, &k, &err), 0, &err);
    TU_ASSERT_RC(mk_transport_key_load_or_create(path, &k2, &err), 0, &err);
    assert_memory_equal(k.public_key, k2.public_key, 32);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    unlink(path);
}

static void addr_parse(void **state) {
    (void)state;
    struct sockaddr_storage ss;
    char out[64];
    mk_error err;
    assert_int_equal(mk_transport_addr_parse("127.0.0.1:80", &ss, false, NULL), 0);
    mk_transport_addr_format((struct sockaddr *)&ss, out, sizeof out);
    assert_string_equal(out, "127.0.0.1:80");
    assert_int_equal(mk_transport_addr_parse("[::1]:443", &ss, false, NULL), 0);
    mk_transport_addr_format((struct sockaddr *)&ss, out, sizeof out);
    assert_string_equal(out, "[::1]:443");
    assert_int_equal(mk_transport_addr_parse("127.0.0.1:0", &ss, true, NULL), 0);
    const char *bad[] = {"127.0.0.1:0", "127.0.0.1", "localhost:80", "1.2.3.4:65536",
                         "1.2.3.4:-1",  "[::1]80",   "1.2.3.4:8x",   ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mk_error_clear(&err);
        TU_ASSERT_RC(mk_transport_addr_parse(bad[i], &ss, false, &err), MK_EINVAL, &err);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decoder_splits), cmocka_unit_test(decoder_limits),
        cmocka_unit_test(decoder_budget), cmocka_unit_test(keyfile_roundtrip),
        cmocka_unit_test(addr_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
