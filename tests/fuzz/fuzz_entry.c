/*
 * Fuzz target: discovery entry and message decoding (discovery/entry.c,
 * discovery/wire.c, discovery/catalog.c).
 *
 * Byte 0 selects the mode, the rest is the input:
 *   0: a signed entry in wire form ([body, signature]) -> mk_peer_entry_decode;
 *      on success the entry must re-encode to exactly the input, and it is
 *      offered to a catalog;
 *   1: an entry body, wrapped as [body, 64 zero bytes] so the body parser
 *      (caps, canonical re-encoding) is reached on every input;
 *   2: a discovery message -> mk_disc_decode; an announce's entry is then
 *      decoded and offered to a catalog, a digest is searched.
 * Nothing may crash, leak, or decode into something that re-encodes
 * differently.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/disc_internal.h"

static void offer(const uint8_t *data, size_t len) {
    mk_id net, self;
    memset(&net, 0, sizeof net);
    memset(&self, 1, sizeof self);
    mk_catalog_limits lim = {.max_peers = 4,
                             .max_bytes = 1 << 20,
                             .purge_after_ms = 60000,
                             .tombstone_ms = 120000,
                             .max_drift_ms = 60000};
    mk_catalog c;
    mk_catalog_init(&c, &net, &self, &lim);
    mk_offer_result res;
    mk_refusal why;
    mk_peer_entry out;
    if (mk_catalog_offer(&c, data, len, 1750000000000ull, &res, &out, &why, NULL) == 0)
        mk_peer_entry_free(&out);
    mk_catalog_expire(&c, UINT64_MAX / 2, NULL, NULL);
    mk_catalog_free(&c);
}

static void decode_entry(const uint8_t *data, size_t len) {
    mk_peer_entry e;
    if (mk_peer_entry_decode(data, len, &e, NULL) == 0) {
        mk_buf b = MK_BUF_INIT;
        if (mk_peer_entry_encode(&e, &b, NULL) != 0 || b.len != len || memcmp(b.data, data, len))
            abort();
        mk_buf_free(&b);
        mk_peer_entry_free(&e);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0] % 3;
    data++;
    size--;
    if (mode == 0) {
        decode_entry(data, size);
        offer(data, size);
    } else if (mode == 1) {
        mk_buf w = MK_BUF_INIT;
        uint8_t sig[64] = {0};
        if (mk_cbor_put_array(&w, 2) == 0 && mk_cbor_put_bstr(&w, data, size) == 0 &&
            mk_cbor_put_bstr(&w, sig, 64) == 0)
            decode_entry(w.data, w.len);
        mk_buf_free(&w);
    } else {
        mk_disc_msg m;
        mk_refusal why;
        if (mk_disc_decode(data, size, &m, &why, NULL) == 0) {
            if (m.type == MK_MSG_ANNOUNCE) {
                decode_entry(m.entry, m.entry_len);
                offer(m.entry, m.entry_len);
            } else {
                uint64_t v;
                mk_id probe;
                memset(&probe, 0, sizeof probe);
                (void)mk_digest_lookup(&m, &probe, &v);
                for (size_t i = 0; i < m.n_items; i++)
                    if (!mk_digest_lookup(&m, &m.items[i].peer, &v)) abort();
            }
            mk_disc_msg_free(&m);
        }
    }
    return 0;
}
