/*
 * fuzz_tee_ticket — the shared ticket envelope decoder (tee/ticket.c,
 * tee/zstd.c) with a platform-neutral format (binary endorsements, so NUL
 * bytes are allowed there), and the Retry-After parser of the shared
 * fetcher (tee/fetch.c), on untrusted bytes.
 *
 * The first input byte selects the target, the rest is the data:
 *   0: mk_tee_ticket_decode (the wire form: one zstd frame, capped);
 *   1: mk_tee_ticket_decode_cbor (the decompressed form);
 *   2: mk_tee_retry_after on the data as a header value.
 * Invariants checked: a decoded ticket re-encodes to exactly the input CBOR
 * (canonical form), its wire form decodes back to the same ticket, its
 * sizes and times respect the caps, a refusal always has a reason and
 * leaves nothing allocated; a parsed Retry-After is never negative.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/mosaik.h"
#include "tee/tee_internal.h"

static const mk_tee_ticket_format FMT = {
    .platform = MK_TEE_SNP,
    .label = "fuzz ticket",
    .class_name = "mosaik.ticket.fuzz.v1",
    .domain = "mosaik.fuzz.ticket.report-data.v1",
    .evidence_name = "report",
    .endorsements_name = "certificates",
    .version = 1,
    .evidence_max = 64 * 1024,
    .endorsements_max = MK_TEE_TICKET_MAX_DECOMPRESSED,
    .endorsements_text = false,
};

static void check_ticket(const mk_tee_ticket *t, const uint8_t *cbor, size_t cbor_len) {
    if (t->format != &FMT) abort();
    if (t->evidence_len == 0 || t->evidence_len > FMT.evidence_max) abort();
    if (t->endorsements && t->endorsements_len > FMT.endorsements_max) abort();
    if (t->extra.quoted_at < 0 || t->extra.quoted_at > MK_TEE_TIME_MAX) abort();
    if (t->extra.expiration < t->extra.quoted_at) abort();
    mk_buf b = MK_BUF_INIT;
    if (mk_tee_ticket_encode_cbor(t, &b, NULL) != 0) abort();
    if (cbor && (b.len != cbor_len || memcmp(b.data, cbor, cbor_len) != 0)) abort();
    mk_buf w = MK_BUF_INIT;
    if (mk_tee_ticket_encode(t, &w, NULL) == 0) {
        mk_tee_ticket u;
        if (mk_tee_ticket_decode(&FMT, w.data, w.len, &u, NULL) != 0) abort();
        if (memcmp(&u.extra, &t->extra, sizeof u.extra) != 0) abort();
        if (u.evidence_len != t->evidence_len ||
            memcmp(u.evidence, t->evidence, t->evidence_len) != 0)
            abort();
        if ((u.endorsements == NULL) != (t->endorsements == NULL)) abort();
        mk_tee_ticket_free(&u);
    }
    mk_buf_free(&w);
    mk_buf_free(&b);
}

static void check_refusal(const mk_tee_ticket *t, const mk_error *err) {
    if (err->code >= 0 || !err->msg[0]) abort(); /* a refusal always has a reason */
    if (t->evidence || t->endorsements) abort(); /* nothing left allocated */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0] % 3;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    mk_tee_ticket t;
    mk_error err;
    mk_error_clear(&err);
    if (mode == 0 || mode == 1) {
        int rc = mode == 0 ? mk_tee_ticket_decode(&FMT, d, n, &t, &err)
                           : mk_tee_ticket_decode_cbor(&FMT, d, n, &t, &err);
        if (rc == 0) {
            check_ticket(&t, mode == 1 ? d : NULL, n);
            mk_tee_ticket_free(&t);
        } else {
            check_refusal(&t, &err);
        }
    } else {
        char *s = malloc(n + 1);
        if (!s) return 0;
        memcpy(s, d, n);
        s[n] = 0;
        int64_t secs = -1;
        if (mk_tee_retry_after(s, 1700000000, &secs) && secs < 0) abort();
        free(s);
    }
    return 0;
}
