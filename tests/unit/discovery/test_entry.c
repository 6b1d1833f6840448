/*
 * Unit tests of discovery peer entries (canonical CBOR, signatures, caps),
 * the catalog's acceptance rules (explicit times) and the message decoder.
 */
#include "test_util.h"

#include "discovery/disc_internal.h"

#define NOW_MS 1750000000000ull /* explicit wall clock for the catalog */

static mk_id net_a, net_b;

static void make_key(mk_ed25519_key *k, uint8_t seed) {
    uint8_t s[32];
    memset(s, seed, sizeof s);
    assert_int_equal(mk_ed25519_from_secret(s, k), 0);
}

/* A signed entry of key k at version v, in wire form. */
static void make_entry(const mk_ed25519_key *k, const mk_id *network, uint64_t v, bool departed,
                       mk_peer_entry *e, mk_buf *wire) {
    mk_error err;
    mk_peer_entry_init(e);
    memcpy(e->peer_id.b, k->public_key, 32);
    e->network_id = *network;
    e->version = v;
    e->started_at = (int64_t)(NOW_MS / 1000) - 10;
    e->departed = departed;
    if (!departed) {
        assert_int_equal(mk_peer_entry_add_addr(e, "127.0.0.1:4000", &err), 0);
        mk_id tag;
        mk_id_from_name(&tag, "validator");
        assert_int_equal(mk_peer_entry_add_tag(e, &tag, &err), 0);
        mk_id s;
        mk_id_from_name(&s, "prices");
        assert_int_equal(mk_peer_entry_add_served(e, MK_SERVED_STREAM, &s, &err), 0);
        mk_ticket t;
        mk_id cls;
        mk_id_from_name(&cls, "test.class");
        assert_int_equal(mk_ticket_init(&t, &cls, "hello", 5), 0);
        assert_int_equal(mk_peer_entry_add_ticket(e, &t, &err), 0);
        mk_ticket_free(&t);
    }
    TU_ASSERT_RC(mk_peer_entry_sign(e, k, &err), 0, &err);
    mk_buf_init(wire, 0);
    TU_ASSERT_RC(mk_peer_entry_encode(e, wire, &err), 0, &err);
}

static void test_roundtrip(void **state) {
    (void)state;
    mk_ed25519_key k;
    make_key(&k, 1);
    mk_peer_entry e, d;
    mk_buf w;
    make_entry(&k, &net_a, NOW_MS, false, &e, &w);
    mk_error err;
    TU_ASSERT_RC(mk_peer_entry_decode(w.data, w.len, &d, &err), 0, &err);
    assert_true(mk_peer_entry_same_content(&e, &d));
    assert_int_equal(d.version, NOW_MS);
    assert_int_equal(d.n_tickets, 1);
    assert_memory_equal(d.tickets[0].data, "hello", 5);
    assert_string_equal(d.addrs[0], "127.0.0.1:4000");
    /* Same entry, same bytes. */
    mk_buf w2 = MK_BUF_INIT;
    assert_int_equal(mk_peer_entry_encode(&d, &w2, &err), 0);
    assert_int_equal(w.len, w2.len);
    assert_memory_equal(w.data, w2.data, w.len);
    /* A copy equals, a changed one differs. */
    mk_peer_entry c;
    assert_int_equal(mk_peer_entry_copy(&c, &d), 0);
    assert_true(mk_peer_entry_same_content(&c, &d));
    mk_id cls;
    mk_id_from_name(&cls, "test.class");
    assert_int_equal(mk_peer_entry_remove_tickets_of(&c, &cls), 1);
    assert_false(mk_peer_entry_same_content(&c, &d));
    mk_peer_entry_free(&c);
    mk_peer_entry_free(&e);
    mk_peer_entry_free(&d);
    mk_buf_free(&w);
    mk_buf_free(&w2);
}

static void test_bad_signature_and_tamper(void **state) {
    (void)state;
    mk_ed25519_key k;
    make_key(&k, 2);
    mk_peer_entry e, d;
    mk_buf w;
    make_entry(&k, &net_a, NOW_MS, false, &e, &w);
    mk_error err;
    /* Flip one bit of the signature (the last byte). */
    w.data[w.len - 1] ^= 1;
    TU_ASSERT_RC(mk_peer_entry_decode(w.data, w.len, &d, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "signature");
    w.data[w.len - 1] ^= 1;
    /* Flip a byte inside the body (the "hello" ticket data). */
    for (size_t i = 0; i + 5 <= w.len; i++) {
        if (!memcmp(w.data + i, "hello", 5)) {
            w.data[i] = 'j';
            break;
        }
    }
    TU_ASSERT_RC(mk_peer_entry_decode(w.data, w.len, &d, &err), MK_EBADSIG, &err);
    /* Truncations never decode. */
    for (size_t n = 0; n < w.len; n += 7)
        assert_true(mk_peer_entry_decode(w.data, n, &d, &err) < 0);
    /* Signing with a key that is not the peer id is refused. */
    mk_ed25519_key other;
    make_key(&other, 3);
    TU_ASSERT_RC(mk_peer_entry_sign(&e, &other, &err), MK_EINVAL, &err);
    mk_peer_entry_free(&e);
    mk_buf_free(&w);
}

static void test_non_canonical(void **state) {
    (void)state;
    mk_ed25519_key k;
    make_key(&k, 4);
    mk_peer_entry e, d;
    mk_buf w;
    make_entry(&k, &net_a, NOW_MS, false, &e, &w);
    mk_error err;
    /* Re-encode the body with a non-minimal format field (0x18 0x01 for 1)
     * and sign it properly: still refused as non-canonical. */
    mk_buf body = MK_BUF_INIT, nb = MK_BUF_INIT, msg = MK_BUF_INIT, out = MK_BUF_INIT;
    assert_int_equal(mk_peer_entry_encode_body(&e, &body, &err), 0);
    /* body: a0+12=0xac, 0x00 (key 0), 0x01 (format 1) ... */
    assert_int_equal(body.data[0], 0xac);
    assert_int_equal(body.data[1], 0x00);
    assert_int_equal(body.data[2], 0x01);
    mk_buf_append(&nb, body.data, 2);
    mk_buf_append_u8(&nb, 0x18);
    mk_buf_append_u8(&nb, 0x01);
    mk_buf_append(&nb, body.data + 3, body.len - 3);
    assert_int_equal(mk_peer_entry_signed_bytes(nb.data, nb.len, &msg), 0);
    uint8_t sig[64];
    assert_int_equal(mk_ed25519_sign(&k, msg.data, msg.len, sig), 0);
    mk_cbor_put_array(&out, 2);
    mk_cbor_put_bstr(&out, nb.data, nb.len);
    mk_cbor_put_bstr(&out, sig, 64);
    TU_ASSERT_RC(mk_peer_entry_decode(out.data, out.len, &d, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "canonical");
    /* Trailing bytes after the signature. */
    mk_buf_reset(&out);
    mk_buf_append(&out, w.data, w.len);
    mk_buf_append_u8(&out, 0);
    TU_ASSERT_RC(mk_peer_entry_decode(out.data, out.len, &d, &err), MK_EMALFORMED, &err);
    mk_buf_free(&body);
    mk_buf_free(&nb);
    mk_buf_free(&msg);
    mk_buf_free(&out);
    mk_peer_entry_free(&e);
    mk_buf_free(&w);
}

static void test_caps(void **state) {
    (void)state;
    mk_peer_entry e;
    mk_peer_entry_init(&e);
    mk_error err;
    char addr[32];
    for (int i = 0; i < MK_ENTRY_MAX_ADDRS; i++) {
        snprintf(addr, sizeof addr, "10.0.0.%d:1", i);
        assert_int_equal(mk_peer_entry_add_addr(&e, addr, &err), 0);
    }
    TU_ASSERT_RC(mk_peer_entry_add_addr(&e, "10.9.9.9:1", &err), MK_ETOOBIG, &err);
    TU_ASSERT_RC(mk_peer_entry_add_addr(&e, "bad addr", &err), MK_EINVAL, &err);
    for (int i = 0; i < MK_ENTRY_MAX_TAGS; i++) {
        mk_id t;
        mk_id_derive(&t, &net_a, &i, sizeof i);
        assert_int_equal(mk_peer_entry_add_tag(&e, &t, &err), 0);
    }
    mk_id t;
    mk_id_from_name(&t, "one too many");
    TU_ASSERT_RC(mk_peer_entry_add_tag(&e, &t, &err), MK_ETOOBIG, &err);
    mk_id cls;
    mk_id_from_name(&cls, "big");
    mk_ticket tk;
    uint8_t *big = calloc(1, MK_TICKET_MAX_DATA + 1);
    tk.class_id = cls;
    tk.data = big;
    tk.len = MK_TICKET_MAX_DATA + 1;
    TU_ASSERT_RC(mk_peer_entry_add_ticket(&e, &tk, &err), MK_ETOOBIG, &err);
    tk.len = MK_TICKET_MAX_DATA;
    for (int i = 0; i < 5; i++)
        TU_ASSERT_RC(mk_peer_entry_add_ticket(&e, &tk, &err), 0, &err);
    /* 5 * 64 KiB fits in the entry cap; 6 do not: encoding refuses. */
    mk_ed25519_key k;
    make_key(&k, 5);
    memcpy(e.peer_id.b, k.public_key, 32);
    e.network_id = net_a;
    TU_ASSERT_RC(mk_peer_entry_sign(&e, &k, &err), 0, &err);
    TU_ASSERT_RC(mk_peer_entry_add_ticket(&e, &tk, &err), 0, &err);
    TU_ASSERT_RC(mk_peer_entry_sign(&e, &k, &err), MK_ETOOBIG, &err);
    free(big);
    mk_peer_entry_free(&e);

    /* An oversized frame is refused before decoding. */
    uint8_t *huge = calloc(1, MK_ENTRY_MAX_BYTES + 1);
    mk_peer_entry d;
    TU_ASSERT_RC(mk_peer_entry_decode(huge, MK_ENTRY_MAX_BYTES + 1, &d, &err), MK_ETOOBIG, &err);
    free(huge);
    /* A ticket list announcing more than the cap is refused before allocation:
     * hand-built body prefix claiming 1000 tickets is malformed/too big. */
    mk_buf b = MK_BUF_INIT;
    mk_cbor_put_array(&b, 2);
    mk_cbor_put_bstr(&b, "\x9a\xff\xff\xff\xff", 5); /* body: array of 2^32-1 */
    uint8_t sig[64] = {0};
    mk_cbor_put_bstr(&b, sig, 64);
    assert_true(mk_peer_entry_decode(b.data, b.len, &d, &err) < 0);
    mk_buf_free(&b);
}

static mk_catalog_limits limits(void) {
    mk_catalog_limits l = {.max_peers = 8,
                           .max_bytes = 1 << 20,
                           .purge_after_ms = 10000,
                           .tombstone_ms = 20000,
                           .max_drift_ms = 5000};
    return l;
}

static void offer_ok(mk_catalog *c, const mk_buf *w, uint64_t now, mk_offer_result want) {
    mk_error err;
    mk_offer_result res;
    mk_refusal why;
    TU_ASSERT_RC(mk_catalog_offer(c, w->data, w->len, now, &res, NULL, &why, &err), 0, &err);
    assert_int_equal(res, want);
}

static void offer_refused(mk_catalog *c, const mk_buf *w, uint64_t now, mk_refusal want,
                          const char *reason) {
    mk_error err;
    mk_error_clear(&err);
    mk_offer_result res;
    mk_refusal why = MK_REFUSE_COUNT;
    size_t n = c->n, bytes = c->bytes;
    assert_true(mk_catalog_offer(c, w->data, w->len, now, &res, NULL, &why, &err) < 0);
    if (why != want)
        fail_msg("refused as %s, want %s: %s", mk_refusal_name(why), mk_refusal_name(want),
                 err.msg);
    if (reason) TU_ASSERT_REASON(&err, reason);
    assert_int_equal(c->n, n); /* nothing changed */
    assert_int_equal(c->bytes, bytes);
}

static void test_catalog_rules(void **state) {
    (void)state;
    mk_ed25519_key self, k1, k2;
    make_key(&self, 10);
    make_key(&k1, 11);
    make_key(&k2, 12);
    mk_id self_id;
    memcpy(self_id.b, self.public_key, 32);
    mk_catalog_limits l = limits();
    mk_catalog c;
    mk_catalog_init(&c, &net_a, &self_id, &l);

    mk_peer_entry e;
    mk_buf w1, w1b, w1c, wx, wself, wfut, wold, wdep, wstale;
    make_entry(&k1, &net_a, NOW_MS, false, &e, &w1);
    mk_peer_entry_free(&e);
    offer_ok(&c, &w1, NOW_MS, MK_OFFER_NEW);
    assert_int_equal(mk_catalog_live(&c), 1);
    /* Replay of the same version, then an older one. */
    offer_refused(&c, &w1, NOW_MS, MK_REFUSE_OLD_VERSION, "not newer");
    make_entry(&k1, &net_a, NOW_MS - 1, false, &e, &wold);
    mk_peer_entry_free(&e);
    offer_refused(&c, &wold, NOW_MS, MK_REFUSE_OLD_VERSION, NULL);
    /* Newer, same content: refreshed; newer with a change: updated. */
    make_entry(&k1, &net_a, NOW_MS + 1, false, &e, &w1b);
    offer_ok(&c, &w1b, NOW_MS, MK_OFFER_REFRESHED);
    mk_id extra;
    mk_id_from_name(&extra, "extra-tag");
    mk_error err;
    mk_peer_entry_add_tag(&e, &extra, &err);
    e.version = NOW_MS + 2;
    mk_peer_entry_sign(&e, &k1, &err);
    mk_buf_init(&w1c, 0);
    mk_peer_entry_encode(&e, &w1c, &err);
    mk_peer_entry_free(&e);
    offer_ok(&c, &w1c, NOW_MS, MK_OFFER_UPDATED);
    mk_id k1_id;
    memcpy(k1_id.b, k1.public_key, 32);
    const mk_catalog_rec *rec = mk_catalog_find(&c, &k1_id);
    assert_non_null(rec);
    assert_true(mk_peer_entry_has_tag(&rec->entry, &extra));
    /* Another network. */
    make_entry(&k2, &net_b, NOW_MS, false, &e, &wx);
    mk_peer_entry_free(&e);
    offer_refused(&c, &wx, NOW_MS, MK_REFUSE_WRONG_NETWORK, "another network");
    /* Our own id. */
    make_entry(&self, &net_a, NOW_MS, false, &e, &wself);
    mk_peer_entry_free(&e);
    offer_refused(&c, &wself, NOW_MS, MK_REFUSE_SELF, NULL);
    /* From the future (beyond max drift), and just within it. */
    make_entry(&k2, &net_a, NOW_MS + 6000, false, &e, &wfut);
    mk_peer_entry_free(&e);
    offer_refused(&c, &wfut, NOW_MS, MK_REFUSE_FUTURE, "future");
    /* Stale: older than purge_after. */
    make_entry(&k2, &net_a, NOW_MS - 10001, false, &e, &wstale);
    mk_peer_entry_free(&e);
    offer_refused(&c, &wstale, NOW_MS, MK_REFUSE_STALE, "stale");
    offer_ok(&c, &wfut, NOW_MS + 1000, MK_OFFER_NEW); /* within drift later */

    /* Departure of k1, then its older entries are refused by the tombstone. */
    make_entry(&k1, &net_a, NOW_MS + 3, true, &e, &wdep);
    mk_peer_entry_free(&e);
    offer_ok(&c, &wdep, NOW_MS + 100, MK_OFFER_DEPARTED);
    assert_int_equal(c.n_tombstones, 1);
    assert_int_equal(mk_catalog_live(&c), 1);
    offer_refused(&c, &w1c, NOW_MS + 100, MK_REFUSE_TOMBSTONE, "departure");
    /* Purge: at NOW+10002 the k2 entry (version NOW+6000) stays, the
     * tombstone stays (20 s); at NOW+16001 k2 goes; at NOW+20004 the
     * tombstone goes; then k1's old entry is stale, not resurrected. */
    assert_int_equal(mk_catalog_expire(&c, NOW_MS + 10002, NULL, NULL), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(mk_catalog_expire(&c, NOW_MS + 16001, NULL, NULL), 1);
    assert_int_equal(c.n, 1);
    assert_int_equal(mk_catalog_expire(&c, NOW_MS + 20004, NULL, NULL), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(c.bytes, 0);
    offer_refused(&c, &w1c, NOW_MS + 20004, MK_REFUSE_STALE, NULL);
    /* Garbage. */
    mk_buf junk = MK_BUF_INIT;
    mk_buf_append(&junk, "\x82\x41\x00\x40", 4);
    offer_refused(&c, &junk, NOW_MS, MK_REFUSE_MALFORMED, NULL);
    mk_buf_free(&junk);

    mk_buf *bufs[] = {&w1, &w1b, &w1c, &wx, &wself, &wfut, &wold, &wdep, &wstale};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        mk_buf_free(bufs[i]);
    mk_catalog_free(&c);
}

/* An exact copy of a held record skips decoding and the signature check
 * (catalog.c): it must be refused exactly as a decoded one would be. */
static void test_catalog_held_copy(void **state) {
    (void)state;
    mk_ed25519_key self, k1, k2;
    make_key(&self, 20);
    make_key(&k1, 21);
    make_key(&k2, 22);
    mk_id self_id, k1_id, peeked;
    memcpy(self_id.b, self.public_key, 32);
    memcpy(k1_id.b, k1.public_key, 32);
    mk_catalog_limits l = limits();
    mk_catalog c;
    mk_catalog_init(&c, &net_a, &self_id, &l);
    mk_peer_entry e;
    mk_buf w1, wdep, wbad;
    make_entry(&k1, &net_a, NOW_MS, false, &e, &w1);
    mk_peer_entry_free(&e);
    assert_true(mk_peer_entry_peek_id(w1.data, w1.len, &peeked));
    assert_true(mk_id_eq(&peeked, &k1_id));
    assert_false(mk_peer_entry_peek_id(w1.data, 20, &peeked)); /* truncated */
    assert_false(mk_peer_entry_peek_id((const uint8_t *)"\x82\x41\x00\x40", 4, &peeked));
    offer_ok(&c, &w1, NOW_MS, MK_OFFER_NEW);
    offer_refused(&c, &w1, NOW_MS, MK_REFUSE_OLD_VERSION, "not newer");
    /* The clock stepped back beyond the drift, or the copy aged: the rules
     * about the entry alone come first, as for a decoded entry. */
    offer_refused(&c, &w1, NOW_MS - 6000, MK_REFUSE_FUTURE, "future");
    offer_refused(&c, &w1, NOW_MS + 10001, MK_REFUSE_STALE, "stale");
    /* The same bytes with another signature are not a copy: checked. */
    mk_buf_init(&wbad, 0);
    mk_buf_append(&wbad, w1.data, w1.len);
    wbad.data[wbad.len - 1] ^= 1;
    offer_refused(&c, &wbad, NOW_MS, MK_REFUSE_BAD_SIGNATURE, NULL);
    /* A held departure's copy: refused by the tombstone. */
    make_entry(&k1, &net_a, NOW_MS + 1, true, &e, &wdep);
    mk_peer_entry_free(&e);
    offer_ok(&c, &wdep, NOW_MS, MK_OFFER_DEPARTED);
    offer_refused(&c, &wdep, NOW_MS, MK_REFUSE_TOMBSTONE, "departure");
    mk_buf_free(&w1);
    mk_buf_free(&wdep);
    mk_buf_free(&wbad);
    mk_catalog_free(&c);
}

static void test_catalog_full(void **state) {
    (void)state;
    mk_id self_id;
    mk_id_from_name(&self_id, "self");
    mk_catalog_limits l = limits();
    mk_catalog c;
    mk_catalog_init(&c, &net_a, &self_id, &l);
    mk_error err;
    for (int i = 0; i < 12; i++) {
        mk_ed25519_key k;
        make_key(&k, (uint8_t)(100 + i));
        mk_peer_entry e;
        mk_buf w;
        make_entry(&k, &net_a, NOW_MS, false, &e, &w);
        mk_peer_entry_free(&e);
        if (i < 8)
            offer_ok(&c, &w, NOW_MS, MK_OFFER_NEW);
        else
            offer_refused(&c, &w, NOW_MS, MK_REFUSE_CATALOG_FULL, "catalog full");
        mk_buf_free(&w);
    }
    assert_int_equal(c.n, 8);
    /* Byte cap: a catalog of 100 bytes takes nothing. */
    mk_catalog c2;
    l.max_bytes = 100;
    mk_catalog_init(&c2, &net_a, &self_id, &l);
    mk_ed25519_key k;
    make_key(&k, 99);
    mk_peer_entry e;
    mk_buf w;
    make_entry(&k, &net_a, NOW_MS, false, &e, &w);
    mk_peer_entry_free(&e);
    offer_refused(&c2, &w, NOW_MS, MK_REFUSE_CATALOG_FULL, NULL);
    mk_buf_free(&w);
    mk_catalog_free(&c2);
    mk_catalog_free(&c);
    (void)err;
}

/* ----- vouching, eviction, the new-identity limit (catalog.c) ------- */

/* An entry of k at version v carrying one ticket with `data` (NULL: none);
 * the padding makes the wire form bigger. */
static void make_entry_t(const mk_ed25519_key *k, uint64_t v, const char *data, size_t padding,
                         mk_buf *wire) {
    mk_error err;
    mk_peer_entry e;
    mk_peer_entry_init(&e);
    memcpy(e.peer_id.b, k->public_key, 32);
    e.network_id = net_a;
    e.version = v;
    mk_id cls;
    mk_id_from_name(&cls, "test.class");
    if (data || padding) {
        uint8_t *buf = calloc(1, strlen(data ? data : "") + padding + 1);
        memcpy(buf, data ? data : "", strlen(data ? data : ""));
        mk_ticket t;
        assert_int_equal(mk_ticket_init(&t, &cls, buf, strlen(data ? data : "") + padding), 0);
        assert_int_equal(mk_peer_entry_add_ticket(&e, &t, &err), 0);
        mk_ticket_free(&t);
        free(buf);
    }
    TU_ASSERT_RC(mk_peer_entry_sign(&e, k, &err), 0, &err);
    mk_buf_init(wire, 0);
    TU_ASSERT_RC(mk_peer_entry_encode(&e, wire, &err), 0, &err);
    mk_peer_entry_free(&e);
}

static int judge_calls;

/* Vouches for entries whose first ticket begins with "good". */
static int64_t test_judge(const mk_peer_entry *e, int64_t now_s, void *ctx) {
    (void)ctx;
    judge_calls++;
    if (e->n_tickets && e->tickets[0].len >= 4 && !memcmp(e->tickets[0].data, "good", 4))
        return now_s + 100;
    return 0;
}

typedef struct evictions {
    int n;
    mk_id last;
} evictions;

static void on_evicted(const mk_catalog_rec *rec, void *ctx) {
    evictions *ev = ctx;
    ev->n++;
    ev->last = rec->entry.peer_id;
}

/* Offer with a policy; the refusal reason (MK_REFUSE_COUNT: accepted). */
static mk_refusal offer_ex(mk_catalog *c, const mk_buf *w, uint64_t now, bool no_new, evictions *ev,
                           mk_catalog_offer_opts *out) {
    mk_catalog_offer_opts o = {.no_new_unvouched = no_new, .evicted = on_evicted, .ctx = ev};
    mk_offer_result res;
    mk_refusal why = MK_REFUSE_COUNT;
    mk_error err;
    mk_error_clear(&err);
    int rc = mk_catalog_offer_ex(c, w->data, w->len, now, &o, &res, NULL, &why, &err);
    if (out) *out = o;
    return rc == 0 ? MK_REFUSE_COUNT : why;
}

static void test_catalog_vouch(void **state) {
    (void)state;
    const int64_t now_s = (int64_t)(NOW_MS / 1000);
    mk_id self_id;
    mk_id_from_name(&self_id, "self");
    mk_catalog_limits l = limits(); /* 8 records */
    mk_catalog c;
    mk_catalog_init(&c, &net_a, &self_id, &l);
    c.judge = test_judge;
    evictions ev = {0};
    mk_catalog_offer_opts o;
    mk_buf w;
    mk_ed25519_key k[20];
    for (int i = 0; i < 20; i++)
        make_key(&k[i], (uint8_t)(150 + i));
    /* 6 live entries that are not vouched (a ticket, refused; none), 2
     * tombstones. */
    for (int i = 0; i < 8; i++) {
        if (i < 6) {
            make_entry_t(&k[i], NOW_MS, i % 2 ? "bad" : NULL, 0, &w);
        } else {
            mk_peer_entry e;
            make_entry(&k[i], &net_a, NOW_MS, true, &e, &w);
            mk_peer_entry_free(&e);
        }
        assert_int_equal(offer_ex(&c, &w, NOW_MS, false, &ev, &o), MK_REFUSE_COUNT);
        assert_true(o.new_identity);
        assert_false(o.vouched);
        mk_buf_free(&w);
    }
    assert_int_equal(judge_calls, 3); /* the three with a ticket */
    assert_int_equal(c.n_tombstones, 2);
    /* An unvouched newcomer is refused: full. */
    make_entry_t(&k[8], NOW_MS, "bad", 0, &w);
    assert_int_equal(offer_ex(&c, &w, NOW_MS, false, &ev, NULL), MK_REFUSE_CATALOG_FULL);
    mk_buf_free(&w);
    /* Vouched newcomers evict the tombstones first (no eviction event). */
    for (int i = 9; i < 11; i++) {
        make_entry_t(&k[i], NOW_MS, "good", 0, &w);
        assert_int_equal(offer_ex(&c, &w, NOW_MS, false, &ev, &o), MK_REFUSE_COUNT);
        assert_true(o.vouched);
        assert_int_equal(o.n_evicted, 1);
        mk_buf_free(&w);
    }
    assert_int_equal(c.n_tombstones, 0);
    assert_int_equal(ev.n, 0);
    assert_int_equal(c.n, 8);
    /* Then live unvouched entries, one each, told to the callback. */
    for (int i = 11; i < 17; i++) {
        make_entry_t(&k[i], NOW_MS, "good", 0, &w);
        assert_int_equal(offer_ex(&c, &w, NOW_MS, false, &ev, &o), MK_REFUSE_COUNT);
        assert_int_equal(o.n_evicted, 1);
        assert_int_equal(ev.n, i - 10);
        assert_null(mk_catalog_find(&c, &ev.last));
        mk_buf_free(&w);
    }
    assert_int_equal(c.n, 8);
    /* All vouched now: a vouched newcomer is refused too. */
    make_entry_t(&k[17], NOW_MS, "good", 0, &w);
    assert_int_equal(offer_ex(&c, &w, NOW_MS, false, &ev, NULL), MK_REFUSE_CATALOG_FULL);
    mk_buf_free(&w);
    /* Ranks; a refresh with the same tickets is not judged again, a
     * change of tickets is. */
    mk_id id9, id8;
    memcpy(id9.b, k[9].public_key, 32);
    memcpy(id8.b, k[8].public_key, 32);
    assert_int_equal(mk_catalog_rank(&c, &id9, now_s), 2);
    assert_int_equal(mk_catalog_rank(&c, &id9, now_s + 200), 1); /* its vouching expired */
    assert_int_equal(mk_catalog_rank(&c, &id8, now_s), 0);
    int calls = judge_calls;
    make_entry_t(&k[9], NOW_MS + 1, "good", 0, &w);
    assert_int_equal(offer_ex(&c, &w, NOW_MS + 1, false, &ev, &o), MK_REFUSE_COUNT);
    assert_true(o.vouched);
    assert_false(o.new_identity);
    assert_int_equal(judge_calls, calls);
    mk_buf_free(&w);
    make_entry_t(&k[9], NOW_MS + 2, "bad", 0, &w);
    assert_int_equal(offer_ex(&c, &w, NOW_MS + 2, false, &ev, &o), MK_REFUSE_COUNT);
    assert_false(o.vouched);
    assert_int_equal(judge_calls, calls + 1);
    assert_int_equal(mk_catalog_rank(&c, &id9, now_s), 1);
    mk_buf_free(&w);
    mk_catalog_free(&c);

    /* The new-identity limit: unvouched newcomers refused, vouched ones and
     * known peers not. */
    mk_catalog_init(&c, &net_a, &self_id, &l);
    c.judge = test_judge;
    make_entry_t(&k[0], NOW_MS, NULL, 0, &w);
    assert_int_equal(offer_ex(&c, &w, NOW_MS, false, &ev, NULL), MK_REFUSE_COUNT);
    mk_buf_free(&w);
    make_entry_t(&k[1], NOW_MS, "bad", 0, &w);
    assert_int_equal(offer_ex(&c, &w, NOW_MS, true, &ev, NULL), MK_REFUSE_NEW_IDS);
    mk_buf_free(&w);
    make_entry_t(&k[2], NOW_MS, "good", 0, &w);
    assert_int_equal(offer_ex(&c, &w, NOW_MS, true, &ev, NULL), MK_REFUSE_COUNT);
    mk_buf_free(&w);
    make_entry_t(&k[0], NOW_MS + 1, NULL, 0, &w);
    assert_int_equal(offer_ex(&c, &w, NOW_MS + 1, true, &ev, NULL), MK_REFUSE_COUNT);
    mk_buf_free(&w);
    assert_int_equal(c.n, 2);
    mk_catalog_free(&c);

    /* The byte cap: a big vouched entry evicts as many as it needs. */
    l.max_bytes = 2000;
    mk_catalog_init(&c, &net_a, &self_id, &l);
    c.judge = test_judge;
    size_t n0 = 0;
    for (int i = 0; i < 8; i++) {
        make_entry_t(&k[i], NOW_MS, "bad", 100, &w);
        if (offer_ex(&c, &w, NOW_MS, false, &ev, NULL) == MK_REFUSE_COUNT) n0++;
        mk_buf_free(&w);
    }
    make_entry_t(&k[10], NOW_MS, "good", 900, &w);
    assert_int_equal(offer_ex(&c, &w, NOW_MS, false, &ev, &o), MK_REFUSE_COUNT);
    assert_true(o.n_evicted >= 2);
    assert_true(c.bytes <= l.max_bytes);
    assert_int_equal(c.n, n0 - o.n_evicted + 1);
    mk_buf_free(&w);
    mk_catalog_free(&c);
}

static void test_messages(void **state) {
    (void)state;
    mk_buf f = MK_BUF_INIT;
    mk_digest_item items[3];
    for (int i = 0; i < 3; i++) {
        mk_id_derive(&items[i].peer, &net_a, &i, sizeof i);
        items[i].version = 100u + (unsigned)i;
    }
    assert_int_equal(mk_disc_encode_digest(&f, true, items, 3), 0);
    mk_disc_msg m;
    mk_refusal why;
    mk_error err;
    TU_ASSERT_RC(mk_disc_decode(f.data, f.len, &m, &why, &err), 0, &err);
    assert_int_equal(m.type, MK_MSG_DIGEST);
    assert_true(m.want_reply);
    assert_int_equal(m.n_items, 3);
    uint64_t v;
    assert_true(mk_digest_lookup(&m, &items[1].peer, &v));
    assert_int_equal(v, 101);
    assert_false(mk_digest_lookup(&m, &net_b, &v));
    mk_disc_msg_free(&m);
    /* Every truncation fails cleanly. */
    for (size_t n = 0; n < f.len; n++)
        assert_true(mk_disc_decode(f.data, n, &m, &why, &err) < 0);
    /* A repeated peer. */
    items[2].peer = items[0].peer;
    mk_buf_reset(&f);
    mk_disc_encode_digest(&f, false, items, 3);
    TU_ASSERT_RC(mk_disc_decode(f.data, f.len, &m, &why, &err), MK_EMALFORMED, &err);
    /* A digest claiming many items in a few bytes: refused before alloc. */
    mk_buf_reset(&f);
    mk_buf_append(&f, "\x83\x02\x00\x9a\x00\x00\x10\x00", 8);
    assert_true(mk_disc_decode(f.data, f.len, &m, &why, &err) < 0);
    mk_buf_reset(&f);
    mk_buf_append(&f, "\x83\x02\x00\x9a\x7f\x00\x00\x00", 8);
    TU_ASSERT_RC(mk_disc_decode(f.data, f.len, &m, &why, &err), MK_ETOOBIG, &err);
    assert_int_equal(why, MK_REFUSE_TOO_BIG);
    /* Unknown type, announce round trip. */
    mk_buf_reset(&f);
    mk_buf_append(&f, "\x83\x07\x00\x00", 4);
    TU_ASSERT_RC(mk_disc_decode(f.data, f.len, &m, &why, &err), MK_EMALFORMED, &err);
    mk_buf_reset(&f);
    assert_int_equal(mk_disc_encode_announce(&f, 3, (const uint8_t *)"xyz", 3), 0);
    TU_ASSERT_RC(mk_disc_decode(f.data, f.len, &m, &why, &err), 0, &err);
    assert_int_equal(m.hops, 3);
    assert_int_equal(m.entry_len, 3);
    mk_disc_msg_free(&m);
    mk_buf_free(&f);
}

static void test_parse_peer_addr(void **state) {
    (void)state;
    mk_id p;
    char addr[MK_TRANSPORT_ADDR_MAX + 1];
    mk_error err;
    char s[200];
    char hex[MK_ID_HEX_LEN];
    mk_id_to_hex(&net_a, hex);
    snprintf(s, sizeof s, "%s@127.0.0.1:9000", hex);
    TU_ASSERT_RC(mk_parse_peer_addr(s, &p, addr, &err), 0, &err);
    assert_true(mk_id_eq(&p, &net_a));
    assert_string_equal(addr, "127.0.0.1:9000");
    TU_ASSERT_RC(mk_parse_peer_addr("abc@1.2.3.4:5", &p, addr, &err), MK_EINVAL, &err);
    TU_ASSERT_RC(mk_parse_peer_addr("127.0.0.1:9000", &p, addr, &err), MK_EINVAL, &err);
}

/* Names and tags: a bad string is an error, never some id (issue 11). */
static void test_name_or_id(void **state) {
    (void)state;
    mk_id id, want;
    mk_error err;
    TU_ASSERT_RC(mk_name_or_id_parse("prices", &id, &err), 0, &err);
    mk_id_from_name(&want, "prices");
    assert_true(mk_id_eq(&id, &want));
    char hex[MK_ID_HEX_LEN], ox[MK_ID_HEX_LEN + 2];
    mk_id_to_hex(&net_a, hex);
    TU_ASSERT_RC(mk_name_or_id_parse(hex, &id, &err), 0, &err);
    assert_true(mk_id_eq(&id, &net_a));
    snprintf(ox, sizeof ox, "0x%s", hex);
    TU_ASSERT_RC(mk_name_or_id_parse(ox, &id, &err), 0, &err);
    assert_true(mk_id_eq(&id, &net_a));
    static const char zeros[] = "0000000000000000000000000000000000000000000000000000000000000000";
    char ox_zeros[MK_ID_HEX_LEN + 2];
    snprintf(ox_zeros, sizeof ox_zeros, "0x%s", zeros);
    char not_hex[MK_ID_HEX_LEN];
    memcpy(not_hex, hex, sizeof not_hex);
    not_hex[10] = 'g'; /* 64 characters, one not a hex digit: a name */
    const char *bad[] = {NULL, "", "0x", "0x1234", "0xzz", zeros, ox_zeros, "tab\there", "\x7f"};
    TU_ASSERT_RC(mk_name_or_id_parse(not_hex, &id, &err), 0, &err);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mk_error_clear(&err);
        assert_int_equal(mk_name_or_id_parse(bad[i], &id, &err), MK_EINVAL);
        assert_true(err.msg[0] != 0);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(mk_name_or_id_parse(longname, &id, &err), MK_EINVAL);
    longname[MK_NAME_MAX] = 0;
    TU_ASSERT_RC(mk_name_or_id_parse(longname, &id, &err), 0, &err);
}

int main(void) {
    mk_id_from_name(&net_a, "net-a");
    mk_id_from_name(&net_b, "net-b");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),     cmocka_unit_test(test_bad_signature_and_tamper),
        cmocka_unit_test(test_non_canonical), cmocka_unit_test(test_caps),
        cmocka_unit_test(test_catalog_rules), cmocka_unit_test(test_catalog_held_copy),
        cmocka_unit_test(test_catalog_full),  cmocka_unit_test(test_catalog_vouch),
        cmocka_unit_test(test_messages),      cmocka_unit_test(test_parse_peer_addr),
        cmocka_unit_test(test_name_or_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
