/*
 * fuzz_tdx_ticket — the TDX ticket decoder (zstd + canonical CBOR) and the
 * TDX validator on untrusted ticket bytes.
 *
 * The first input byte selects the target, the rest is the data:
 *   0: mk_tdx_ticket_decode (the wire form: one zstd frame, capped);
 *   1: mk_tdx_ticket_decode_cbor (the decompressed form);
 *   2: a TDX validator (Intel root only, chain-only policy) judging the wire
 *      form for a fixed peer, which also runs the quote parser and verifier
 *      on whatever quote the ticket carries.
 * Invariants checked: a decoded ticket re-encodes to exactly the input CBOR
 * (canonical form, round trip), encode/decode of it round-trips, and its
 * sizes respect the caps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/mosaik.h"
#include "tee/tdx/tdx_internal.h" /* the CBOR layer of the ticket */

static mk_validator *val;

static void init(void) {
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    mk_tdx_policy p;
    mk_tdx_policy_default(&p);
    p.chain_only = true;
    mk_tdx_validator_opts_policy(o, &p);
    mk_tdx_validator_opts_max_lifetime(o, 86400);
    val = mk_tdx_validator_new(o, NULL);
    mk_tdx_validator_opts_free(o);
    if (!val) abort();
}

static void check_ticket(const mk_tdx_ticket *t, const uint8_t *cbor, size_t cbor_len) {
    if (t->quote_len == 0 || t->quote_len > MK_TDX_QUOTE_MAX) abort();
    if (t->collateral && t->collateral_len > MK_TDX_TICKET_MAX_DECOMPRESSED) abort();
    if (t->extra.expiration < t->extra.quoted_at) abort();
    mk_buf b = MK_BUF_INIT;
    if (mk_tdx_ticket_encode_cbor(t, &b, NULL) != 0) abort();
    if (cbor && (b.len != cbor_len || memcmp(b.data, cbor, cbor_len) != 0)) abort();
    mk_buf w = MK_BUF_INIT;
    if (mk_tdx_ticket_encode(t, &w, NULL) == 0) {
        mk_tdx_ticket u;
        if (mk_tdx_ticket_decode(w.data, w.len, &u, NULL) != 0) abort();
        if (memcmp(&u.extra, &t->extra, sizeof u.extra) != 0) abort();
        if (u.quote_len != t->quote_len || memcmp(u.quote, t->quote, t->quote_len) != 0) abort();
        mk_tdx_ticket_free(&u);
    }
    mk_buf_free(&w);
    mk_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!val) init();
    if (size < 1) return 0;
    uint8_t mode = data[0] % 3;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    mk_tdx_ticket t;
    mk_error err;
    mk_error_clear(&err);
    if (mode == 0) {
        if (mk_tdx_ticket_decode(d, n, &t, &err) == 0) {
            check_ticket(&t, NULL, 0);
            mk_tdx_ticket_free(&t);
        } else if (err.code >= 0 || !err.msg[0]) {
            abort(); /* a refusal always has a reason */
        } else if (t.quote || t.collateral) {
            abort(); /* nothing left allocated on failure */
        }
    } else if (mode == 1) {
        if (mk_tdx_ticket_decode_cbor(d, n, &t, &err) == 0) {
            check_ticket(&t, d, n);
            mk_tdx_ticket_free(&t);
        } else if (t.quote || t.collateral) {
            abort();
        }
    } else {
        mk_peer_view pv;
        memset(&pv, 0, sizeof pv);
        mk_expiration e = 0;
        int rc = val->ops->validate(val, d, n, &pv, 1700000000, &e, &err);
        if (rc == 0 && e <= 1700000000) abort();
        if (rc < 0 && !err.msg[0]) abort();
    }
    return 0;
}
