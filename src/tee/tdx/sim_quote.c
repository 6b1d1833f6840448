/*
 * tee/tdx/sim_quote.c — the simulated TD and its quotes.
 *
 * The simulated TD is a mk_tdx_sim_td (measurements, attributes, quote
 * version, body type); its TD report fills the fields a real TDX module
 * would (MRSEAM = SHA-384("mosaik simulated TDX module"), MRSIGNERSEAM and
 * SEAM attributes zero). A quote has the layout of Intel's DCAP quotes v4 /
 * v5 (docs/tdx-verification.md, "Quote layout"), little-endian, and is
 * written through mk_writer field by field, in order, into a buffer of the
 * size computed from that layout first:
 *
 *   header 48     version u16 | attestation key type u16 = 2 (ECDSA P-256) |
 *                 TEE type u32 = 0x81 | reserved u32 | QE vendor id 16
 *                 (Intel's) | user data 20 = "MOSAIK SIMULATED TDX"
 *   v5 only       body type u16 (2 = TD 1.0, 3 = TD 1.5) | body size u32
 *   body          TD report 584 (TD 1.0) or 648 (TD 1.5)
 *   u32 signature data length, then
 *                 quote signature r||s 64 | attestation key x||y 64 |
 *                 cert type u16 = 6 | size u32 | QE report 384 | QE report
 *                 signature 64 | auth size u16 = 32 | auth data 32 |
 *                 cert type u16 = 5 | size u32 | PEM chain (leaf, PCK CA,
 *                 root) with its NUL, as real quotes carry it
 *
 * The attestation key signs header..end of body (for v5 including the body
 * descriptor), exactly as written. The writer must end exactly full, so a
 * layout error can never produce a short or padded quote.
 */
#include <string.h>

#include "mosaik/crypto.h"
#include "tee/tdx/sim_internal.h"

#define HEADER_LEN 48
#define BODY_DESC_LEN 6
#define TD10_LEN 584
#define TD15_LEN 648
#define ATT_KEY_ECDSA_P256 2
#define CERT_TYPE_QE_REPORT 6
#define CERT_TYPE_PCK_CHAIN 5

static const uint8_t intel_qe_vendor_id[16] = {0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9,
                                               0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07};

static const char sim_mr_td_label[] = "mosaik simulated TD";
static const char sim_mr_seam_label[] = "mosaik simulated TDX module";

void mk_tdx_sim_td_default(mk_tdx_sim_td *td) {
    memset(td, 0, sizeof *td);
    mk_sha384(sim_mr_td_label, sizeof sim_mr_td_label - 1, td->mr_td);
    td->td_attributes = MK_TDX_ATTR_SEPT_VE_DISABLE;
    td->xfam = 0x602e7;
    td->quote_version = 4;
    td->body_type = MK_TDX_BODY_TD10;
    memcpy(td->tee_tcb_svn, mk_tdx_sim_tdx_comps, 16);
    memcpy(td->tee_tcb_svn2, mk_tdx_sim_tdx_comps, 16);
}

void mk_tdx_sim_td_report(const mk_tdx_sim_td *td,
                          const uint8_t report_data[MK_TDX_REPORT_DATA_LEN],
                          mk_tdx_td_report *out) {
    memset(out, 0, sizeof *out);
    memcpy(out->tee_tcb_svn, td->tee_tcb_svn, 16);
    mk_sha384(sim_mr_seam_label, sizeof sim_mr_seam_label - 1, out->mr_seam);
    out->td_attributes = td->td_attributes;
    out->xfam = td->xfam;
    memcpy(out->mr_td, td->mr_td, 48);
    memcpy(out->mr_config_id, td->mr_config_id, 48);
    memcpy(out->mr_owner, td->mr_owner, 48);
    memcpy(out->mr_owner_config, td->mr_owner_config, 48);
    memcpy(out->rtmr, td->rtmr, sizeof out->rtmr);
    memcpy(out->report_data, report_data, 64);
    if (td->body_type == MK_TDX_BODY_TD15) {
        memcpy(out->tee_tcb_svn2, td->tee_tcb_svn2, 16);
        memcpy(out->mr_service_td, td->mr_service_td, 48);
    }
}

/* The TD report body, in quote order. */
static void write_body(mk_writer *w, const mk_tdx_td_report *r, bool td15) {
    mk_write_bytes(w, r->tee_tcb_svn, 16);
    mk_write_bytes(w, r->mr_seam, 48);
    mk_write_bytes(w, r->mr_signer_seam, 48);
    mk_write_u64le(w, r->seam_attributes);
    mk_write_u64le(w, r->td_attributes);
    mk_write_u64le(w, r->xfam);
    mk_write_bytes(w, r->mr_td, 48);
    mk_write_bytes(w, r->mr_config_id, 48);
    mk_write_bytes(w, r->mr_owner, 48);
    mk_write_bytes(w, r->mr_owner_config, 48);
    mk_write_bytes(w, r->rtmr, sizeof r->rtmr);
    mk_write_bytes(w, r->report_data, 64);
    if (td15) {
        mk_write_bytes(w, r->tee_tcb_svn2, 16);
        mk_write_bytes(w, r->mr_service_td, 48);
    }
}

static int check_td(const mk_tdx_sim_td *td, mk_error *err) {
    if (td->quote_version != 4 && td->quote_version != 5)
        return mk_error_set(err, MK_EUNSUPPORTED, "simulator quote: version %u (want 4 or 5)",
                            td->quote_version);
    if (td->body_type != MK_TDX_BODY_TD10 && td->body_type != MK_TDX_BODY_TD15)
        return mk_error_set(err, MK_EUNSUPPORTED, "simulator quote: body type %d",
                            (int)td->body_type);
    if (td->quote_version == 4 && td->body_type != MK_TDX_BODY_TD10)
        return mk_error_set(err, MK_EUNSUPPORTED,
                            "simulator quote: a TD 1.5 body needs a version 5 quote");
    return 0;
}

/* Header, body descriptor (v5) and body: the signed part. */
static void write_signed_part(mk_writer *w, const mk_tdx_sim_td *td, const mk_tdx_td_report *rep,
                              size_t body_len) {
    static const char user_data[20] = "MOSAIK SIMULATED TDX";
    mk_write_u16le(w, td->quote_version);
    mk_write_u16le(w, ATT_KEY_ECDSA_P256);
    mk_write_u32le(w, MK_TDX_TEE_TYPE);
    mk_write_u32le(w, 0); /* reserved */
    mk_write_bytes(w, intel_qe_vendor_id, 16);
    mk_write_bytes(w, user_data, 20);
    if (td->quote_version == 5) {
        mk_write_u16le(w, (uint16_t)td->body_type);
        mk_write_u32le(w, (uint32_t)body_len);
    }
    write_body(w, rep, td->body_type == MK_TDX_BODY_TD15);
}

/* Signature data: the quote signature, the attestation key and the QE
 * report certification data around the PCK chain. */
static void write_signature_data(mk_writer *w, const mk_tdx_sim *sim, const uint8_t sig[64],
                                 size_t sig_data, size_t cert_data, size_t chain_len) {
    mk_write_u32le(w, (uint32_t)sig_data);
    mk_write_bytes(w, sig, 64);
    mk_write_bytes(w, sim->att_pub, 64);
    mk_write_u16le(w, CERT_TYPE_QE_REPORT);
    mk_write_u32le(w, (uint32_t)cert_data);
    mk_write_bytes(w, sim->qe_report, MK_TDX_SIM_QE_REPORT_LEN);
    mk_write_bytes(w, sim->qe_report_sig, 64);
    mk_write_u16le(w, MK_TDX_SIM_QE_AUTH_LEN);
    mk_tdx_sim_qe_auth(w);
    mk_write_u16le(w, CERT_TYPE_PCK_CHAIN);
    mk_write_u32le(w, (uint32_t)chain_len);
    mk_write_bytes(w, sim->pck_chain, chain_len);
}

int mk_tdx_sim_quote(const mk_tdx_sim *sim, const mk_tdx_sim_td *td,
                     const uint8_t report_data[MK_TDX_REPORT_DATA_LEN], mk_buf *out,
                     mk_error *err) {
    if (!sim || !td || !report_data || !out)
        return mk_error_set(err, MK_EINVAL, "simulator quote: NULL argument");
    MK_TRY(check_td(td, err));
    mk_tdx_td_report rep;
    mk_tdx_sim_td_report(td, report_data, &rep);

    /* Sizes from the layout, outermost last. */
    size_t body_len = td->body_type == MK_TDX_BODY_TD15 ? TD15_LEN : TD10_LEN;
    size_t signed_len = HEADER_LEN + (td->quote_version == 5 ? BODY_DESC_LEN : 0) + body_len;
    size_t chain_len = sim->pck_chain_len + 1; /* with its NUL, as real quotes do */
    size_t cert_data =
        MK_TDX_SIM_QE_REPORT_LEN + 64 + 2 + MK_TDX_SIM_QE_AUTH_LEN + 2 + 4 + chain_len;
    size_t sig_data = 64 + 64 + 2 + 4 + cert_data;

    mk_buf q;
    mk_buf_init(&q, MK_TDX_QUOTE_MAX);
    mk_writer w;
    int rc = mk_writer_init_buf(&w, &q, signed_len + 4 + sig_data);
    if (rc < 0) goto fail;
    write_signed_part(&w, td, &rep, body_len);
    if ((rc = mk_writer_status(&w)) < 0 || mk_writer_len(&w) != signed_len) goto layout;
    uint8_t sig[64];
    MK_GUARD(rc, mk_tdx_sim_sign(sim->att_key, w.data, mk_writer_len(&w), sig, err), fail_err);
    write_signature_data(&w, sim, sig, sig_data, cert_data, chain_len);
    if ((rc = mk_writer_status(&w)) < 0 || mk_writer_room(&w) != 0) goto layout;

    mk_buf_free(out);
    *out = q;
    return 0;
layout:
    if (rc == 0) rc = MK_ETOOBIG;
fail:
    mk_error_set(err, rc, "simulator quote: %s", mk_strerror(rc));
fail_err:
    mk_buf_free(&q);
    return rc;
}
