/*
 * discovery/wire.c — the discovery protocol's messages.
 *
 * One message per transport frame (net.h frames, at most MK_DISC_MAX_FRAME
 * bytes), each a definite CBOR array whose first item is the type:
 *
 *   announce  [1, hops, entry]    entry: the signed wire form (bstr), hops:
 *                                 how many gossip hops it has travelled,
 *                                 counting this one (0 = sent by sync)
 *   digest    [2, want_reply, [[peer id (bstr 32), version], ...]]
 *                                 the sender's catalog summary (tombstones
 *                                 and its own entry included); want_reply 1
 *                                 asks for the receiver's digest back
 *
 * Decoding uses the CBOR pull reader (an mk_reader cursor). The digest's
 * item count is checked against MK_DIGEST_MAX_ITEMS and against what the
 * frame can hold (each item takes at least 36 bytes) before the item array
 * is allocated, so a small frame cannot make us allocate much. Items are
 * sorted by peer id after decoding (binary search during sync); a repeated
 * peer id is refused. Trailing bytes are refused.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/cbor.h"
#include "discovery/disc_internal.h"

#define CTX "discovery message"
#define DIGEST_ITEM_MIN 36 /* 1 (array) + 2 + 32 (peer) + 1 (version) */

int mk_disc_encode_announce(mk_buf *out, unsigned hops, const uint8_t *entry, size_t len) {
    MK_TRY(mk_cbor_put_array(out, 3));
    MK_TRY(mk_cbor_put_uint(out, MK_MSG_ANNOUNCE));
    MK_TRY(mk_cbor_put_uint(out, hops));
    return mk_cbor_put_bstr(out, entry, len);
}

int mk_disc_encode_digest(mk_buf *out, bool want_reply, const mk_digest_item *items, size_t n) {
    MK_TRY(mk_cbor_put_array(out, 3));
    MK_TRY(mk_cbor_put_uint(out, MK_MSG_DIGEST));
    MK_TRY(mk_cbor_put_uint(out, want_reply ? 1 : 0));
    MK_TRY(mk_cbor_put_array(out, n));
    for (size_t i = 0; i < n; i++) {
        MK_TRY(mk_cbor_put_array(out, 2));
        MK_TRY(mk_cbor_put_bstr(out, items[i].peer.b, MK_ID_LEN));
        MK_TRY(mk_cbor_put_uint(out, items[i].version));
    }
    return 0;
}

static int item_cmp(const void *a, const void *b) {
    return mk_id_cmp(&((const mk_digest_item *)a)->peer, &((const mk_digest_item *)b)->peer);
}

static int decode(mk_reader *r, mk_disc_msg *m, mk_error *err) {
    size_t n;
    uint64_t type, u;
    MK_TRY(mk_cbor_expect_array(r, CTX, "message", 3, &n, err));
    if (n != 3) return mk_error_set(err, MK_EMALFORMED, CTX ": want 3 fields, got %zu", n);
    MK_TRY(mk_cbor_expect_uint(r, CTX, "type", &type, err));
    if (type == MK_MSG_ANNOUNCE) {
        m->type = MK_MSG_ANNOUNCE;
        MK_TRY(mk_cbor_expect_uint(r, CTX, "hops", &u, err));
        if (u > 255)
            return mk_error_set(err, MK_EMALFORMED, CTX ": %llu hops", (unsigned long long)u);
        m->hops = (unsigned)u;
        MK_TRY(mk_cbor_expect_bstr(r, CTX, "entry", 1, MK_ENTRY_MAX_BYTES, &m->entry, &m->entry_len,
                                   err));
    } else if (type == MK_MSG_DIGEST) {
        m->type = MK_MSG_DIGEST;
        MK_TRY(mk_cbor_expect_uint(r, CTX, "want_reply", &u, err));
        if (u > 1) return mk_error_set(err, MK_EMALFORMED, CTX ": want_reply is not 0 or 1");
        m->want_reply = u == 1;
        MK_TRY(mk_cbor_expect_array(r, CTX, "digest", MK_DIGEST_MAX_ITEMS, &n, err));
        if (n > mk_reader_remaining(r) / DIGEST_ITEM_MIN)
            return mk_error_set(err, MK_ETRUNC, CTX ": digest of %zu items in %zu bytes", n,
                                mk_reader_remaining(r));
        if (n) {
            m->items = calloc(n, sizeof *m->items);
            if (!m->items) return mk_error_set(err, MK_ENOMEM, CTX ": out of memory");
        }
        for (size_t i = 0; i < n; i++) {
            size_t two;
            const uint8_t *p;
            size_t len;
            MK_TRY(mk_cbor_expect_array(r, CTX, "digest item", 2, &two, err));
            if (two != 2) return mk_error_set(err, MK_EMALFORMED, CTX ": digest item not a pair");
            MK_TRY(mk_cbor_expect_bstr(r, CTX, "digest peer", 32, 32, &p, &len, err));
            memcpy(m->items[i].peer.b, p, 32);
            MK_TRY(mk_cbor_expect_uint(r, CTX, "digest version", &m->items[i].version, err));
            m->n_items = i + 1;
        }
        if (n > 1) {
            qsort(m->items, n, sizeof *m->items, item_cmp);
            for (size_t i = 1; i < n; i++)
                if (mk_id_eq(&m->items[i - 1].peer, &m->items[i].peer))
                    return mk_error_set(err, MK_EMALFORMED, CTX ": digest repeats a peer");
        }
    } else {
        return mk_error_set(err, MK_EMALFORMED, CTX ": unknown type %llu",
                            (unsigned long long)type);
    }
    if (!mk_reader_done(r))
        return mk_error_set(err, MK_EMALFORMED, CTX ": %zu trailing bytes", mk_reader_remaining(r));
    return 0;
}

int mk_disc_decode(const uint8_t *data, size_t len, mk_disc_msg *m, mk_refusal *why,
                   mk_error *err) {
    memset(m, 0, sizeof *m);
    if (len > MK_DISC_MAX_FRAME) {
        *why = MK_REFUSE_TOO_BIG;
        return mk_error_set(err, MK_ETOOBIG, CTX ": %zu bytes exceed %zu", len,
                            (size_t)MK_DISC_MAX_FRAME);
    }
    mk_reader r;
    mk_reader_init(&r, data, len);
    int rc = decode(&r, m, err);
    if (rc < 0) {
        *why = rc == MK_ETOOBIG ? MK_REFUSE_TOO_BIG : MK_REFUSE_MALFORMED;
        mk_disc_msg_free(m);
    }
    return rc;
}

void mk_disc_msg_free(mk_disc_msg *m) {
    free(m->items);
    memset(m, 0, sizeof *m);
}

_Static_assert(offsetof(mk_digest_item, peer) == 0, "the peer id leads a digest item");
bool mk_digest_lookup(const mk_disc_msg *m, const mk_id *peer, uint64_t *version) {
    bool found;
    size_t i = mk_disc_id_search(m->items, m->n_items, sizeof *m->items, peer, &found);
    if (found) *version = m->items[i].version;
    return found;
}
