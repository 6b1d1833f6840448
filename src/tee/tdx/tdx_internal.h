/*
 * src/tee/tdx/tdx_internal.h — contracts between the TDX source files.
 * The shared pieces (trust stores, chains, CRLs, the ticket envelope, the
 * fetcher) are tee/'s: tee/tee_internal.h.
 *
 *   intel_root.c the pinned Intel SGX Root CA and TDX's trust store
 *   quote.c      quote structure
 *   pck.c        PCK certificate SGX extension
 *   collateral*.c collateral documents: forms (collateral.c), JSON
 *                (collateral_json.c), parsers (collateral_parse.c), signatures,
 *                chains, windows, CRLs (collateral_verify.c)
 *   tcb.c        TCB evaluation by Intel's QVL rules
 *   fetch.c      PCS/PCCS download and on-disk cache
 *   verify.c     the verifier: runs the trust model's steps in order
 *   ticket.c     TDX's ticket format on the shared envelope, and the TDX
 *                ticket API over it
 *   validator.c  the TDX validator
 *   describe.c   what a ticket shows, for the operator's view
 *
 * Not installed; not part of the public API.
 */
#ifndef MOSAIK_TDX_INTERNAL_H
#define MOSAIK_TDX_INTERNAL_H

#include <openssl/x509.h>

#include "mosaik/tdx.h"
#include "mosaik/tdx_ticket.h"
#include "tee/tee_internal.h"

/* ---- intel_root.c ---- */

/* TDX's trust store (tee/trust.c): the Intel SGX Root CA pinned by its
 * SHA-256, ECDSA signatures only, reasons in TDX's words ("chain does not
 * end in the Intel SGX Root CA", "--trust-sim-root /
 * mk_tdx_verifier_trust_simulator"). NULL when out of memory. */
mk_tee_trust *mk_tdx_trust_new(void);

/* ---- pck.c ---- */

/* The SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1). */
typedef struct mk_tdx_pck_ext {
    uint8_t ppid[16];
    uint8_t sgx_tcb_comp[16]; /* TCB component SVNs 1..16 */
    uint16_t pcesvn;
    uint8_t cpusvn[16];
    uint8_t pce_id[2];
    uint8_t fmspc[6];
    int sgx_type; /* 0 standard, 1 scalable, 2 scalable with integrity */
    bool has_platform_instance_id;
    uint8_t platform_instance_id[16];
} mk_tdx_pck_ext;

/* Parse the DER value (the OCTET STRING's contents) of the SGX extension,
 * under depth and size limits. */
int mk_tdx_pck_ext_parse(const uint8_t *der, size_t len, mk_tdx_pck_ext *out, mk_error *err);

/* Find and parse the SGX extension of a PCK leaf certificate; also tells
 * whether its issuer is the Platform or the Processor CA. */
int mk_tdx_pck_from_cert(X509 *leaf, X509 *issuer, mk_tdx_pck_ext *ext, mk_tdx_pck_ca *ca,
                         mk_error *err);

/* ---- collateral.c ---- */

/* The pieces of a collateral bundle (the dcap-qvl / PCCS JSON layout of
 * mk_tdx_collateral_from_bundle); a NULL piece is left out. The texts are
 * the exact signed documents; CRLs are DER; signatures raw r||s (64). */
typedef struct mk_tdx_bundle_parts {
    const char *pck_crl_issuer_chain;
    const uint8_t *root_ca_crl;
    size_t root_ca_crl_len;
    const uint8_t *pck_crl;
    size_t pck_crl_len;
    const char *tcb_info_issuer_chain;
    const char *tcb_info;
    size_t tcb_info_len;
    const uint8_t *tcb_info_signature; /* with tcb_info */
    const char *qe_identity_issuer_chain;
    const char *qe_identity;
    size_t qe_identity_len;
    const uint8_t *qe_identity_signature; /* with qe_identity */
} mk_tdx_bundle_parts;

/* Append the bundle JSON to out: members in dcap-qvl's order, byte strings
 * as lower-case hex, texts unchanged; json_flags are jansson's json_dumps
 * flags (JSON_PRESERVE_ORDER is always added). MK_ENOMEM when a text is not
 * valid UTF-8 or memory runs out. */
int mk_tdx_bundle_write(const mk_tdx_bundle_parts *p, size_t json_flags, mk_buf *out);

/* ---- collateral_verify.c / tcb.c ---- */

/* Verify every collateral document: signatures over the exact bytes served,
 * issuer chains to a root of `t`, validity windows at `now`, CRL signatures.
 * Sets *valid_until to the earliest nextUpdate / notAfter, *simulated if the
 * chains end in the simulator root. Results may be cached inside c (warm
 * verification), keyed by `now` staying within the validated window. */
int mk_tdx_collateral_verify(const mk_tdx_collateral *c, mk_tee_trust *t, int64_t now,
                             int64_t *valid_until, bool *simulated, mk_error *err);

/* Revocation of the PCK chain: intermediate against the root CA CRL, leaf
 * against the PCK CRL (whose issuer must be the chain's intermediate). */
int mk_tdx_collateral_check_revocation(const mk_tdx_collateral *c, const mk_tee_chain *chain,
                                       mk_error *err);

/* TCB evaluation (Intel QVL rules): fills res->tcb_status, platform_status,
 * qe_status and advisory ids. "No TCB level matches" is MK_EMISMATCH with
 * a reason starting "no TCB level matches". A QE identity mismatch
 * (MRSIGNER, ISVPRODID, masked MISCSELECT/ATTRIBUTES) is MK_EMISMATCH. */
int mk_tdx_tcb_evaluate(const mk_tdx_collateral *c, const mk_tdx_quote *q,
                        const mk_tdx_pck_ext *ext, mk_tdx_result *res, mk_error *err);

/* ---- ticket.c ---- */

/* TDX's ticket format on the shared envelope (tee/ticket.c). */
extern const mk_tee_ticket_format mk_tdx_ticket_format;
/* Length of the report-data preimage (mosaik/tdx_ticket.h). */
#define MK_TDX_EXTRA_ENCODED_LEN (4 + sizeof(MK_TDX_REPORT_DATA_DOMAIN) - 1 + 32 + 32 + 8 + 8 + 8)
/* The preimage whose SHA-512 is mk_tdx_report_data. */
void mk_tdx_extra_data_encode(const mk_tdx_extra_data *x, uint8_t out[MK_TDX_EXTRA_ENCODED_LEN]);
/* The canonical CBOR inside the zstd frame of the wire form; decoding
 * zeroes *t on failure and allocates nothing. */
int mk_tdx_ticket_encode_cbor(const mk_tdx_ticket *t, mk_buf *out, mk_error *err);
int mk_tdx_ticket_decode_cbor(const uint8_t *data, size_t len, mk_tdx_ticket *t, mk_error *err);

/* ---- validator.c ---- */

/* Only step 1 of v (a TDX validator): the quote's chain, signatures,
 * collateral and TCB; res filled as mk_tdx_verify fills it. */
int mk_tdx_validator_verify_quote(const mk_validator *v, const mk_tdx_ticket *t, int64_t now,
                                  mk_tdx_result *res, mk_error *err);

#endif
