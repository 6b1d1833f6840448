/*
 * tee/tdx/ticket.c — the TDX attestation ticket on the shared envelope
 * (tee/ticket.c): its format, and the TDX-typed API over it.
 *
 * The format: class "mosaik.ticket.tdx.v1", report-data domain
 * "mosaik.tdx.ticket.report-data.v1", version 1, the quote as evidence
 * (at most MK_TDX_QUOTE_MAX bytes) and the collateral bundle JSON as
 * endorsements (text: no NUL byte, kept NUL-terminated; at most
 * MK_TDX_TICKET_MAX_DECOMPRESSED bytes), reasons worded "TDX ticket: ...".
 * Everything else — the report-data preimage, canonical CBOR, the capped
 * zstd wire form, the canonical re-encoding check, the time bounds — is the
 * envelope's, so TDX tickets and every other platform's are one format
 * with different tags.
 *
 * mk_tdx_ticket keeps its public fields (quote, collateral). Encoding reads
 * it through an envelope view of the same memory (no copy); decoding hands
 * the envelope's buffers over to the mk_tdx_ticket.
 */
#include "mosaik/tdx_ticket.h"

#include <string.h>

#include "mosaik/crypto.h"
#include "tee/tdx/tdx_internal.h"

const mk_tee_ticket_format mk_tdx_ticket_format = {
    .platform = MK_TEE_TDX,
    .label = "TDX ticket",
    .class_name = MK_TDX_TICKET_CLASS_NAME,
    .domain = MK_TDX_REPORT_DATA_DOMAIN,
    .evidence_name = "quote",
    .endorsements_name = "collateral",
    .version = MK_TDX_TICKET_VERSION,
    .evidence_max = MK_TDX_QUOTE_MAX,
    .endorsements_max = MK_TDX_TICKET_MAX_DECOMPRESSED,
    .endorsements_text = true,
};

/* The envelope that is t (borrowing its buffers). */
static mk_tee_ticket view(const mk_tdx_ticket *t) {
    return (mk_tee_ticket){
        .format = &mk_tdx_ticket_format,
        .extra = t->extra,
        .evidence = t->quote,
        .evidence_len = t->quote_len,
        .endorsements = (uint8_t *)t->collateral,
        .endorsements_len = t->collateral_len,
    };
}

/* Take over an envelope's buffers. */
static void adopt(mk_tdx_ticket *t, mk_tee_ticket *e) {
    t->extra = e->extra;
    t->quote = e->evidence;
    t->quote_len = e->evidence_len;
    t->collateral = (char *)e->endorsements;
    t->collateral_len = e->endorsements_len;
    memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------------ */
/* Report data                                                         */
/* ------------------------------------------------------------------ */

void mk_tdx_extra_data_encode(const mk_tdx_extra_data *x, uint8_t out[MK_TDX_EXTRA_ENCODED_LEN]) {
    mk_tee_extra_data_encode(MK_TDX_REPORT_DATA_DOMAIN, x, out, MK_TDX_EXTRA_ENCODED_LEN);
}

void mk_tdx_report_data(const mk_tdx_extra_data *x, uint8_t out[64]) {
    mk_tee_report_data(MK_TDX_REPORT_DATA_DOMAIN, x, out);
}

/* ------------------------------------------------------------------ */
/* Construction, encoding, decoding                                    */
/* ------------------------------------------------------------------ */

int mk_tdx_ticket_init(mk_tdx_ticket *t, const mk_tdx_extra_data *x, const uint8_t *quote,
                       size_t quote_len, const char *collateral, size_t collateral_len,
                       mk_error *err) {
    memset(t, 0, sizeof *t);
    mk_tee_ticket e;
    MK_TRY(mk_tee_ticket_init(&mk_tdx_ticket_format, &e, x, quote, quote_len,
                              (const uint8_t *)collateral, collateral_len, err));
    adopt(t, &e);
    return 0;
}

void mk_tdx_ticket_free(mk_tdx_ticket *t) {
    if (!t) return;
    mk_tee_ticket e = view(t);
    mk_tee_ticket_free(&e);
    memset(t, 0, sizeof *t);
}

int mk_tdx_ticket_encode_cbor(const mk_tdx_ticket *t, mk_buf *out, mk_error *err) {
    if (!t) return mk_error_set(err, MK_EINVAL, "TDX ticket: no quote");
    mk_tee_ticket e = view(t);
    return mk_tee_ticket_encode_cbor(&e, out, err);
}

int mk_tdx_ticket_encode(const mk_tdx_ticket *t, mk_buf *out, mk_error *err) {
    if (!t) return mk_error_set(err, MK_EINVAL, "TDX ticket: no quote");
    mk_tee_ticket e = view(t);
    return mk_tee_ticket_encode(&e, out, err);
}

int mk_tdx_ticket_decode_cbor(const uint8_t *data, size_t len, mk_tdx_ticket *t, mk_error *err) {
    memset(t, 0, sizeof *t);
    mk_tee_ticket e;
    MK_TRY(mk_tee_ticket_decode_cbor(&mk_tdx_ticket_format, data, len, &e, err));
    adopt(t, &e);
    return 0;
}

int mk_tdx_ticket_decode(const uint8_t *data, size_t len, mk_tdx_ticket *t, mk_error *err) {
    memset(t, 0, sizeof *t);
    mk_tee_ticket e;
    MK_TRY(mk_tee_ticket_decode(&mk_tdx_ticket_format, data, len, &e, err));
    adopt(t, &e);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Generic tickets, collateral, binding                                */
/* ------------------------------------------------------------------ */

void mk_tdx_ticket_class(mk_id *out) {
    mk_tee_ticket_class(&mk_tdx_ticket_format, out);
}

int mk_tdx_ticket_to_generic(const mk_tdx_ticket *t, mk_ticket *out, mk_error *err) {
    memset(out, 0, sizeof *out);
    if (!t) return mk_error_set(err, MK_EINVAL, "TDX ticket: no quote");
    mk_tee_ticket e = view(t);
    return mk_tee_ticket_to_generic(&e, out, err);
}

int mk_tdx_ticket_from_generic(const mk_ticket *in, mk_tdx_ticket *t, mk_error *err) {
    memset(t, 0, sizeof *t);
    mk_tee_ticket e;
    MK_TRY(mk_tee_ticket_from_generic(&mk_tdx_ticket_format, in, &e, err));
    adopt(t, &e);
    return 0;
}

int mk_tdx_ticket_collateral(const mk_tdx_ticket *t, mk_tdx_collateral **out, mk_error *err) {
    *out = NULL;
    if (!t->collateral) return mk_error_set(err, MK_ENOTFOUND, "TDX ticket carries no collateral");
    int rc = mk_tdx_collateral_from_bundle(t->collateral, t->collateral_len, out, err);
    if (rc < 0) return mk_error_prefix(err, rc, "ticket collateral");
    return 0;
}

int mk_tdx_ticket_check_binding(const mk_tdx_ticket *t, mk_error *err) {
    mk_tdx_quote q;
    int rc = mk_tdx_quote_parse(t->quote, t->quote_len, &q, err);
    if (rc < 0) return mk_error_prefix(err, rc, "TDX ticket quote");
    if (!mk_tee_binds(MK_TDX_REPORT_DATA_DOMAIN, &t->extra, q.body.report_data))
        return mk_error_set(err, MK_EMISMATCH,
                            "report data does not bind the ticket's extra data (peer, network, "
                            "times)");
    return 0;
}
