/*
 * tee/tdx/quote.c — the structure of an Intel TDX DCAP quote (v4 and v5).
 *
 * Layout (little-endian integers; Intel's sgx_quote_4.h / sgx_quote_5.h;
 * field by field in docs/tdx-verification.md, "Quote layout"):
 *
 *   header (48)  version u16 | att_key_type u16 | tee_type u32 | reserved 4 |
 *                qe_vendor_id 16 | user_data 20
 *   v4: body     TD report 1.0 (584)
 *   v5: body     body_type u16 (2 = TD 1.0, 3 = TD 1.5) | body_size u32 |
 *                body (584 or 648)
 *   u32 sig_data_len, then the signature data:
 *     quote signature r||s (64) | attestation key x||y (64) |
 *     cert type u16 (= 6) | cert size u32 | QE report certification data:
 *       QE report (384) | QE report signature (64) |
 *       auth size u16 | auth data | cert type u16 (= 5) | cert size u32 |
 *       PEM chain (leaf, intermediate, root; maybe one trailing NUL)
 *   anything after sig_data_len bytes is trailing data: tolerated, reported,
 *   never signed or interpreted.
 *
 * Invariants enforced here:
 *   - every field is read through mk_reader; every length is checked against
 *     what remains of its enclosing structure and against a hard cap
 *     (MK_TDX_QUOTE_MAX for the input, MK_TDX_CERT_DATA_MAX for certification
 *     data, MK_TDX_QE_AUTH_MAX for QE auth data);
 *   - nested sizes are consistent: the type-6 data fills the signature data
 *     exactly, and the type-5 chain ends the type-6 data exactly;
 *   - only TDX (tee type 0x81), ECDSA P-256 attestation keys (type 2), the
 *     Intel QE vendor id, and TD 1.0 / TD 1.5 bodies are accepted;
 *   - the signed region is header..end of body, which for v5 includes the
 *     6-byte body descriptor.
 * Nothing is verified cryptographically here (see verify.c). On failure the
 * output is zeroed.
 */
#include <string.h>

#include "tee/tdx/tdx_internal.h"

#define HEADER_LEN 48
#define TD10_LEN 584
#define TD15_LEN 648
#define QE_REPORT_LEN 384
#define SIG_FIXED_LEN (64 + 64 + 2 + 4)
#define CERT_TYPE_QE_REPORT 6
#define CERT_TYPE_PCK_CHAIN 5
#define ATT_KEY_ECDSA_P256 2

static const uint8_t intel_qe_vendor[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                            0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

/* Reason for a failed read of a named field. */
static int field_error(mk_error *err, int rc, const mk_reader *r, const char *field) {
    if (rc == MK_ETOOBIG) return mk_error_set(err, rc, "%s: size exceeds its cap", field);
    if (rc == MK_ETRUNC)
        return mk_error_set(err, rc, "%s: truncated at offset %zu (%zu bytes left)", field,
                            mk_reader_offset(r), mk_reader_remaining(r));
    return mk_error_set(err, rc, "%s: cannot read", field);
}

#define READ(expr, r, field)                                                                       \
    do {                                                                                           \
        int rd_rc_ = (expr);                                                                       \
        if (rd_rc_ < 0) return field_error(err, rd_rc_, (r), (field));                             \
    } while (0)

static int parse_td_body(mk_reader *r, mk_tdx_body_type type, mk_tdx_td_report *b, mk_error *err) {
    READ(mk_read_bytes(r, b->tee_tcb_svn, 16), r, "TD report");
    READ(mk_read_bytes(r, b->mr_seam, 48), r, "TD report");
    READ(mk_read_bytes(r, b->mr_signer_seam, 48), r, "TD report");
    READ(mk_read_u64le(r, &b->seam_attributes), r, "TD report");
    READ(mk_read_u64le(r, &b->td_attributes), r, "TD report");
    READ(mk_read_u64le(r, &b->xfam), r, "TD report");
    READ(mk_read_bytes(r, b->mr_td, 48), r, "TD report");
    READ(mk_read_bytes(r, b->mr_config_id, 48), r, "TD report");
    READ(mk_read_bytes(r, b->mr_owner, 48), r, "TD report");
    READ(mk_read_bytes(r, b->mr_owner_config, 48), r, "TD report");
    for (int i = 0; i < 4; i++)
        READ(mk_read_bytes(r, b->rtmr[i], 48), r, "TD report");
    READ(mk_read_bytes(r, b->report_data, 64), r, "TD report");
    if (type == MK_TDX_BODY_TD15) {
        READ(mk_read_bytes(r, b->tee_tcb_svn2, 16), r, "TD report");
        READ(mk_read_bytes(r, b->mr_service_td, 48), r, "TD report");
    }
    return 0;
}

static int parse_qe_report(mk_reader *r, mk_tdx_sgx_report *q, mk_error *err) {
    READ(mk_read_bytes(r, q->cpusvn, 16), r, "QE report");
    READ(mk_read_u32le(r, &q->miscselect), r, "QE report");
    READ(mk_read_skip(r, 28), r, "QE report");
    READ(mk_read_bytes(r, q->attributes, 16), r, "QE report");
    READ(mk_read_bytes(r, q->mr_enclave, 32), r, "QE report");
    READ(mk_read_skip(r, 32), r, "QE report");
    READ(mk_read_bytes(r, q->mr_signer, 32), r, "QE report");
    READ(mk_read_skip(r, 96), r, "QE report");
    READ(mk_read_u16le(r, &q->isv_prod_id), r, "QE report");
    READ(mk_read_u16le(r, &q->isv_svn), r, "QE report");
    READ(mk_read_skip(r, 60), r, "QE report");
    READ(mk_read_bytes(r, q->report_data, 64), r, "QE report");
    return 0;
}

static int parse(const uint8_t *data, size_t len, mk_tdx_quote *q, mk_error *err) {
    mk_reader r;
    mk_reader_init(&r, data, len);

    /* Header. */
    if (len < HEADER_LEN)
        return mk_error_set(err, MK_ETRUNC, "quote header: %zu bytes, need %d", len, HEADER_LEN);
    READ(mk_read_u16le(&r, &q->version), &r, "quote header");
    READ(mk_read_u16le(&r, &q->att_key_type), &r, "quote header");
    READ(mk_read_u32le(&r, &q->tee_type), &r, "quote header");
    READ(mk_read_skip(&r, 4), &r, "quote header");
    READ(mk_read_bytes(&r, q->qe_vendor_id, 16), &r, "quote header");
    READ(mk_read_bytes(&r, q->user_data, 20), &r, "quote header");
    if (q->tee_type != MK_TDX_TEE_TYPE)
        return mk_error_set(err, MK_EUNSUPPORTED, "not a TDX quote (tee type 0x%x%s)",
                            (unsigned)q->tee_type, q->tee_type == 0 ? ", an SGX quote" : "");
    if (q->version != 4 && q->version != 5)
        return mk_error_set(err, MK_EUNSUPPORTED, "quote version %u is not supported (4 or 5)",
                            (unsigned)q->version);
    if (q->att_key_type != ATT_KEY_ECDSA_P256)
        return mk_error_set(err, MK_EUNSUPPORTED,
                            "attestation key type %u is not supported (2 = ECDSA P-256)",
                            (unsigned)q->att_key_type);
    if (memcmp(q->qe_vendor_id, intel_qe_vendor, 16) != 0)
        return mk_error_set(err, MK_EUNSUPPORTED, "QE vendor id is not Intel's");

    /* Body. */
    size_t body_len = TD10_LEN;
    q->body_type = MK_TDX_BODY_TD10;
    if (q->version == 5) {
        uint16_t type;
        uint32_t size;
        READ(mk_read_u16le(&r, &type), &r, "body descriptor");
        READ(mk_read_u32le(&r, &size), &r, "body descriptor");
        if (type == MK_TDX_BODY_TD10) {
            body_len = TD10_LEN;
        } else if (type == MK_TDX_BODY_TD15) {
            body_len = TD15_LEN;
        } else {
            return mk_error_set(err, MK_EUNSUPPORTED,
                                "body type %u is not supported (2 = TD 1.0, 3 = TD 1.5)",
                                (unsigned)type);
        }
        if (size != body_len)
            return mk_error_set(err, MK_EMALFORMED, "body of type %u has size %u, want %zu",
                                (unsigned)type, (unsigned)size, body_len);
        q->body_type = (mk_tdx_body_type)type;
    }
    mk_reader body;
    READ(mk_read_sub(&r, body_len, &body), &r, "TD report");
    MK_TRY(parse_td_body(&body, q->body_type, &q->body, err));
    q->signed_data = data;
    q->signed_len = mk_reader_offset(&r);

    /* Signature data. */
    size_t sig_len;
    mk_reader sd;
    READ(mk_read_len32le(&r, SIG_FIXED_LEN + MK_TDX_CERT_DATA_MAX, &sig_len), &r,
         "signature data length");
    READ(mk_read_sub(&r, sig_len, &sd), &r, "signature data");
    READ(mk_read_bytes(&sd, q->signature, 64), &sd, "quote signature");
    READ(mk_read_bytes(&sd, q->attestation_key, 64), &sd, "attestation key");
    uint16_t ctype;
    size_t clen;
    READ(mk_read_u16le(&sd, &ctype), &sd, "certification data type");
    if (ctype != CERT_TYPE_QE_REPORT)
        return mk_error_set(err, MK_EUNSUPPORTED,
                            "certification data type %u is not supported (6 = QE report)",
                            (unsigned)ctype);
    READ(mk_read_len32le(&sd, MK_TDX_CERT_DATA_MAX, &clen), &sd, "certification data");
    if (clen != mk_reader_remaining(&sd))
        return mk_error_set(err, MK_EMALFORMED,
                            "certification data size %zu does not fill the signature data (%zu)",
                            clen, mk_reader_remaining(&sd));
    mk_reader cd;
    READ(mk_read_sub(&sd, clen, &cd), &sd, "certification data");

    /* QE report certification data. */
    mk_reader qr;
    READ(mk_read_view(&cd, QE_REPORT_LEN, &q->qe_report_raw), &cd, "QE report");
    mk_reader_init(&qr, q->qe_report_raw, QE_REPORT_LEN);
    MK_TRY(parse_qe_report(&qr, &q->qe_report, err));
    READ(mk_read_bytes(&cd, q->qe_report_signature, 64), &cd, "QE report signature");
    READ(mk_read_len16le(&cd, MK_TDX_QE_AUTH_MAX, &q->qe_auth_len), &cd, "QE auth data");
    READ(mk_read_view(&cd, q->qe_auth_len, &q->qe_auth_data), &cd, "QE auth data");
    uint16_t itype;
    size_t ilen;
    READ(mk_read_u16le(&cd, &itype), &cd, "PCK certification data type");
    if (itype != CERT_TYPE_PCK_CHAIN)
        return mk_error_set(err, MK_EUNSUPPORTED,
                            "PCK certification data type %u is not supported (5 = PCK chain)",
                            (unsigned)itype);
    READ(mk_read_len32le(&cd, MK_TDX_CERT_DATA_MAX, &ilen), &cd, "PCK chain");
    if (ilen != mk_reader_remaining(&cd))
        return mk_error_set(err, MK_EMALFORMED,
                            "PCK chain size %zu does not fill the certification data (%zu)", ilen,
                            mk_reader_remaining(&cd));
    const uint8_t *pem;
    READ(mk_read_view(&cd, ilen, &pem), &cd, "PCK chain");
    if (ilen > 0 && pem[ilen - 1] == 0) ilen--; /* one trailing NUL */
    if (ilen == 0) return mk_error_set(err, MK_EMALFORMED, "PCK chain is empty");
    q->pck_chain_pem = pem;
    q->pck_chain_len = ilen;

    q->quote_len = mk_reader_offset(&r);
    q->trailing_bytes = mk_reader_remaining(&r);
    return 0;
}

int mk_tdx_quote_parse(const uint8_t *data, size_t len, mk_tdx_quote *q, mk_error *err) {
    if (!q) return mk_error_set(err, MK_EINVAL, "no output");
    memset(q, 0, sizeof *q);
    if (!data && len) return mk_error_set(err, MK_EINVAL, "no quote");
    if (len > MK_TDX_QUOTE_MAX)
        return mk_error_set(err, MK_ETOOBIG, "quote of %zu bytes exceeds the cap %d", len,
                            MK_TDX_QUOTE_MAX);
    int rc = parse(data, len, q, err);
    if (rc < 0) memset(q, 0, sizeof *q);
    return rc;
}
