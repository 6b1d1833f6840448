/*
 * tee/snp/ticket.c — the SEV-SNP attestation ticket on the shared envelope
 * (tee/ticket.c): its format, and the SNP-typed API over it.
 *
 * The format: class "mosaik.ticket.snp.v1", report-data domain
 * "mosaik.snp.ticket.report-data.v1", version 1, the report as evidence (at
 * most MK_SNP_REPORT_LEN bytes; the verifier requires exactly that many),
 * and the certificates the attester obtained with it as endorsements: PEM
 * text (the VCEK or VLEK first, then the ASK / ASVK and ARK as the host
 * gave them; no NUL byte, kept NUL-terminated; at most
 * MK_SNP_TICKET_CERTS_MAX bytes), reasons worded "SNP ticket: ...".
 * Everything else — the report-data preimage, canonical CBOR, the capped
 * zstd wire form, the time bounds — is the envelope's, so an SNP ticket
 * differs from a TDX ticket only by its tags: evidence bound for one
 * platform's domain means nothing under the other's.
 *
 * mk_snp_ticket keeps its fields public (report, certs). Encoding reads it
 * through an envelope view of the same memory; decoding hands the
 * envelope's buffers over to the mk_snp_ticket.
 */
#include <string.h>

#include "tee/snp/snp_internal.h"

const mk_tee_ticket_format mk_snp_ticket_format = {
    .platform = MK_TEE_SNP,
    .label = "SNP ticket",
    .class_name = MK_SNP_TICKET_CLASS_NAME,
    .domain = MK_SNP_REPORT_DATA_DOMAIN,
    .evidence_name = "report",
    .endorsements_name = "certificates",
    .version = MK_SNP_TICKET_VERSION,
    .evidence_max = MK_SNP_REPORT_LEN,
    .endorsements_max = MK_SNP_TICKET_CERTS_MAX,
    .endorsements_text = true,
};

/* The envelope that is t (borrowing its buffers). */
static mk_tee_ticket view(const mk_snp_ticket *t) {
    return (mk_tee_ticket){
        .format = &mk_snp_ticket_format,
        .extra = t->extra,
        .evidence = t->report,
        .evidence_len = t->report_len,
        .endorsements = (uint8_t *)t->certs,
        .endorsements_len = t->certs_len,
    };
}

/* Take over an envelope's buffers. */
static void adopt(mk_snp_ticket *t, mk_tee_ticket *e) {
    t->extra = e->extra;
    t->report = e->evidence;
    t->report_len = e->evidence_len;
    t->certs = (char *)e->endorsements;
    t->certs_len = e->endorsements_len;
    memset(e, 0, sizeof *e);
}

void mk_snp_report_data(const mk_tee_extra_data *x, uint8_t out[64]) {
    mk_tee_report_data(MK_SNP_REPORT_DATA_DOMAIN, x, out);
}

int mk_snp_ticket_init(mk_snp_ticket *t, const mk_tee_extra_data *x, const uint8_t *report,
                       size_t report_len, const char *certs, size_t certs_len, mk_error *err) {
    if (!t) return mk_error_set(err, MK_EINVAL, "SNP ticket: no ticket");
    memset(t, 0, sizeof *t);
    mk_tee_ticket e;
    MK_TRY(mk_tee_ticket_init(&mk_snp_ticket_format, &e, x, report, report_len,
                              (const uint8_t *)certs, certs_len, err));
    adopt(t, &e);
    return 0;
}

void mk_snp_ticket_free(mk_snp_ticket *t) {
    if (!t) return;
    mk_tee_ticket e = view(t);
    mk_tee_ticket_free(&e);
    memset(t, 0, sizeof *t);
}

int mk_snp_ticket_encode_cbor(const mk_snp_ticket *t, mk_buf *out, mk_error *err) {
    if (!t) return mk_error_set(err, MK_EINVAL, "SNP ticket: no report");
    mk_tee_ticket e = view(t);
    return mk_tee_ticket_encode_cbor(&e, out, err);
}

int mk_snp_ticket_encode(const mk_snp_ticket *t, mk_buf *out, mk_error *err) {
    if (!t) return mk_error_set(err, MK_EINVAL, "SNP ticket: no report");
    mk_tee_ticket e = view(t);
    return mk_tee_ticket_encode(&e, out, err);
}

int mk_snp_ticket_decode_cbor(const uint8_t *data, size_t len, mk_snp_ticket *t, mk_error *err) {
    memset(t, 0, sizeof *t);
    mk_tee_ticket e;
    MK_TRY(mk_tee_ticket_decode_cbor(&mk_snp_ticket_format, data, len, &e, err));
    adopt(t, &e);
    return 0;
}

int mk_snp_ticket_decode(const uint8_t *data, size_t len, mk_snp_ticket *t, mk_error *err) {
    memset(t, 0, sizeof *t);
    mk_tee_ticket e;
    MK_TRY(mk_tee_ticket_decode(&mk_snp_ticket_format, data, len, &e, err));
    adopt(t, &e);
    return 0;
}

void mk_snp_ticket_class(mk_id *out) {
    mk_tee_ticket_class(&mk_snp_ticket_format, out);
}

int mk_snp_ticket_to_generic(const mk_snp_ticket *t, mk_ticket *out, mk_error *err) {
    memset(out, 0, sizeof *out);
    if (!t) return mk_error_set(err, MK_EINVAL, "SNP ticket: no report");
    mk_tee_ticket e = view(t);
    return mk_tee_ticket_to_generic(&e, out, err);
}

int mk_snp_ticket_from_generic(const mk_ticket *in, mk_snp_ticket *t, mk_error *err) {
    memset(t, 0, sizeof *t);
    mk_tee_ticket e;
    MK_TRY(mk_tee_ticket_from_generic(&mk_snp_ticket_format, in, &e, err));
    adopt(t, &e);
    return 0;
}

int mk_snp_ticket_check_binding(const mk_snp_ticket *t, mk_error *err) {
    if (!t) return mk_error_set(err, MK_EINVAL, "SNP ticket: no report");
    mk_snp_report r;
    int rc = mk_snp_report_parse(t->report, t->report_len, &r, err);
    if (rc < 0) return mk_error_prefix(err, rc, "SNP ticket");
    if (!mk_tee_binds(MK_SNP_REPORT_DATA_DOMAIN, &t->extra, r.report_data))
        return mk_error_set(err, MK_EMISMATCH,
                            "report data does not bind the ticket's extra data (peer, network, "
                            "times)");
    return 0;
}
