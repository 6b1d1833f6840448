/*
 * mosaik/tdx.h — Intel TDX quotes: parsing, verification to Intel's root,
 * collateral, TCB evaluation and policy.
 *
 * Trust model (docs/tdx-verification.md): a quote is accepted only when
 *   1. its structure parses (v4 or v5; TD 1.0 or TD 1.5 body), every length
 *      checked against the buffer, trailing bytes tolerated and reported;
 *   2. the quote signature verifies under the attestation key;
 *   3. the QE report verifies under the PCK leaf key, and its report data is
 *      SHA-256(attestation key || QE auth data) followed by 32 zero bytes;
 *   4. the PCK chain (leaf, Platform/Processor CA, root) ends in a trusted
 *      root: the pinned Intel SGX Root CA, or — only after an explicit
 *      mk_tdx_verifier_trust_simulator() — the simulator's test root;
 *   5. with collateral (TCB info, QE identity, CRLs; each signed over the exact
 *      bytes served, chained to the same root, within its window): nothing is
 *      revoked, the QE identity matches, and the platform's TCB status is one
 *      the policy accepts;
 *   6. the TD attributes pass the policy (no debug TD by default).
 * Binding the quote to a peer (report data) is the attestation ticket's job
 * (mosaik/tdx_ticket.h).
 */
#ifndef MOSAIK_TDX_H
#define MOSAIK_TDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Quote structure                                                     */
/* ------------------------------------------------------------------ */

#define MK_TDX_QUOTE_MAX (64 * 1024)     /* cap on a quote's bytes */
#define MK_TDX_CERT_DATA_MAX (32 * 1024) /* cap on certification data */
#define MK_TDX_QE_AUTH_MAX 4096          /* cap on QE authentication data */
#define MK_TDX_TEE_TYPE 0x81u
#define MK_TDX_MR_LEN 48

typedef enum mk_tdx_body_type {
    MK_TDX_BODY_TD10 = 2, /* TD report 1.0, 584 bytes */
    MK_TDX_BODY_TD15 = 3, /* TD report 1.5, 648 bytes */
} mk_tdx_body_type;

/* TD attribute bits (td_attributes). */
#define MK_TDX_ATTR_DEBUG (1ull << 0)
/* Bits 0..7 are the TUD group ("TD under debug"): DEBUG (0), HGS_PLUS_PROF
 * (4), PERF_PROF (5), PMT_PROF (6) and reserved ones. Any set bit lets the
 * host observe or alter the TD, so the whole group is debug-class: refused
 * unless policy.allow_debug, and reported as mk_tdx_result.debug. */
#define MK_TDX_ATTR_TUD_MASK 0xffull
#define MK_TDX_ATTR_SEPT_VE_DISABLE (1ull << 28)
#define MK_TDX_ATTR_MIGRATABLE (1ull << 29)
#define MK_TDX_ATTR_PKS (1ull << 30)
#define MK_TDX_ATTR_KL (1ull << 31)
#define MK_TDX_ATTR_PERFMON (1ull << 63)
/* Bits that are defined by some TDX module version; the rest are reserved.
 * "Known" does not mean "safe": the TUD bits 0, 4, 5, 6 are known and still
 * refused without allow_debug (MK_TDX_ATTR_TUD_MASK). */
#define MK_TDX_ATTR_KNOWN                                                                          \
    (MK_TDX_ATTR_DEBUG | (1ull << 4) | (1ull << 5) | (1ull << 6) | (1ull << 16) | (1ull << 27) |   \
     MK_TDX_ATTR_SEPT_VE_DISABLE | MK_TDX_ATTR_MIGRATABLE | MK_TDX_ATTR_PKS | MK_TDX_ATTR_KL |     \
     (1ull << 62) | MK_TDX_ATTR_PERFMON)

/* The TD report body (TD 1.0 fields; the TD 1.5 ones are zero for 1.0). */
typedef struct mk_tdx_td_report {
    uint8_t tee_tcb_svn[16];
    uint8_t mr_seam[48];
    uint8_t mr_signer_seam[48];
    uint64_t seam_attributes;
    uint64_t td_attributes;
    uint64_t xfam;
    uint8_t mr_td[48];
    uint8_t mr_config_id[48];
    uint8_t mr_owner[48];
    uint8_t mr_owner_config[48];
    uint8_t rtmr[4][48];
    uint8_t report_data[64];
    uint8_t tee_tcb_svn2[16];  /* TD 1.5 only */
    uint8_t mr_service_td[48]; /* TD 1.5 only */
} mk_tdx_td_report;

/* An SGX report body (the QE report). */
typedef struct mk_tdx_sgx_report {
    uint8_t cpusvn[16];
    uint32_t miscselect;
    uint8_t attributes[16];
    uint8_t mr_enclave[32];
    uint8_t mr_signer[32];
    uint16_t isv_prod_id;
    uint16_t isv_svn;
    uint8_t report_data[64];
} mk_tdx_sgx_report;

/* A parsed quote. Pointers are views into the caller's buffer, valid as
 * long as it is. */
typedef struct mk_tdx_quote {
    uint16_t version; /* 4 or 5 */
    uint16_t att_key_type;
    uint32_t tee_type;
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
    mk_tdx_body_type body_type;
    mk_tdx_td_report body;
    const uint8_t *signed_data; /* header .. end of body: what the attestation key signs */
    size_t signed_len;
    uint8_t signature[64];        /* r||s */
    uint8_t attestation_key[64];  /* x||y */
    const uint8_t *qe_report_raw; /* 384 bytes, what the PCK key signs */
    mk_tdx_sgx_report qe_report;
    uint8_t qe_report_signature[64];
    const uint8_t *qe_auth_data;
    size_t qe_auth_len;
    const uint8_t *pck_chain_pem; /* PEM certificates, trailing NUL removed */
    size_t pck_chain_len;
    size_t quote_len;      /* bytes that belong to the quote */
    size_t trailing_bytes; /* bytes after it in the input (tolerated) */
} mk_tdx_quote;

/* Parse the structure only (no signatures). SGX quotes are refused as
 * "not a TDX quote". */
int mk_tdx_quote_parse(const uint8_t *data, size_t len, mk_tdx_quote *q, mk_error *err);

/* ------------------------------------------------------------------ */
/* PCK certificate SGX extensions (OID 1.2.840.113741.1.13.1)          */
/* ------------------------------------------------------------------ */

typedef enum mk_tdx_pck_ca { MK_TDX_CA_PLATFORM = 1, MK_TDX_CA_PROCESSOR = 2 } mk_tdx_pck_ca;

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

/* ------------------------------------------------------------------ */
/* TCB status                                                          */
/* ------------------------------------------------------------------ */

typedef enum mk_tdx_tcb_status {
    MK_TDX_TCB_UP_TO_DATE = 0,
    MK_TDX_TCB_SW_HARDENING_NEEDED,
    MK_TDX_TCB_CONFIGURATION_NEEDED,
    MK_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    MK_TDX_TCB_OUT_OF_DATE,
    MK_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    MK_TDX_TCB_TD_RELAUNCH_ADVISED,
    MK_TDX_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
    MK_TDX_TCB_REVOKED,
    MK_TDX_TCB_STATUS_COUNT,
    MK_TDX_TCB_UNKNOWN = -1, /* not evaluated (no collateral) */
} mk_tdx_tcb_status;

/* Intel's names ("UpToDate", ...). */
const char *mk_tdx_tcb_status_name(mk_tdx_tcb_status s);
int mk_tdx_tcb_status_parse(const char *name, mk_tdx_tcb_status *out);
#define MK_TDX_TCB_BIT(s) (1u << (unsigned)(s))

/* ------------------------------------------------------------------ */
/* Collateral                                                          */
/* ------------------------------------------------------------------ */

#define MK_TDX_COLLATERAL_MAX (256 * 1024) /* cap on one collateral document */

typedef struct mk_tdx_collateral mk_tdx_collateral; /* opaque, immutable once built */

/* The JSON bundle of dcap-qvl / Phala's PCCS: tcb_info, tcb_info_signature,
 * tcb_info_issuer_chain, qe_identity, qe_identity_signature,
 * qe_identity_issuer_chain, pck_crl, root_ca_crl, pck_crl_issuer_chain. */
int mk_tdx_collateral_from_bundle(const char *json, size_t len, mk_tdx_collateral **out,
                                  mk_error *err);
/* Serialise back to the same bundle form (the exact signed texts are kept). */
int mk_tdx_collateral_to_bundle(const mk_tdx_collateral *c, mk_buf *out);

/* Intel PCS v4 responses: bodies exactly as served plus the issuer-chain
 * headers (URL-encoded or plain PEM). CRLs are DER (or PEM). Any pointer
 * may be NULL when not available; verification then says what is missing. */
typedef struct mk_tdx_pcs_responses {
    const char *tcb_info_body;
    size_t tcb_info_len;
    const char *tcb_info_issuer_chain;
    const char *qe_identity_body;
    size_t qe_identity_len;
    const char *qe_identity_issuer_chain;
    const uint8_t *pck_crl;
    size_t pck_crl_len;
    const char *pck_crl_issuer_chain;
    const uint8_t *root_ca_crl;
    size_t root_ca_crl_len;
} mk_tdx_pcs_responses;
int mk_tdx_collateral_from_pcs(const mk_tdx_pcs_responses *r, mk_tdx_collateral **out,
                               mk_error *err);
void mk_tdx_collateral_free(mk_tdx_collateral *c);
/* FMSPC the TCB info is for (6 bytes), false if no TCB info. */
bool mk_tdx_collateral_fmspc(const mk_tdx_collateral *c, uint8_t fmspc[6]);
/* The earliest nextUpdate among its documents (when it must be refreshed). */
int64_t mk_tdx_collateral_next_update(const mk_tdx_collateral *c);

/* Fetch collateral for an FMSPC and CA from Intel PCS or a PCCS over HTTPS
 * (libcurl), caching it on disk under cache_dir (may be NULL) until its
 * nextUpdate. base_url: e.g. "https://api.trustedservices.intel.com" (PCS v4
 * paths are appended). Reasons state what failed ("FMSPC ..., platform CA:
 * GET ...: HTTP 404") without naming the operation: prefix it as needed. */
typedef struct mk_tdx_fetch_opts {
    const char *base_url;
    const char *root_ca_crl_url; /* NULL: <base_url>/sgx/certification/v4/rootcacrl */
    const char *cache_dir;
    long timeout_ms;       /* 0: 10000 */
    bool insecure_http_ok; /* allow http:// (tests against a local server) */
} mk_tdx_fetch_opts;
int mk_tdx_collateral_fetch(const mk_tdx_fetch_opts *o, const uint8_t fmspc[6], mk_tdx_pck_ca ca,
                            int64_t now, mk_tdx_collateral **out, mk_error *err);

/* ------------------------------------------------------------------ */
/* Policy                                                              */
/* ------------------------------------------------------------------ */

typedef struct mk_tdx_policy {
    uint32_t accepted_statuses; /* MK_TDX_TCB_BIT(...) mask */
    bool allow_debug;
    bool allow_reserved_attributes;
    bool require_sept_ve_disable;
    bool check_mr_service_td; /* require mr_service_td == mr_service_td below */
    uint8_t mr_service_td[48];
    bool check_xfam;
    uint64_t xfam;
    bool check_mr_config_id;
    uint8_t mr_config_id[48];
    bool check_mr_owner;
    uint8_t mr_owner[48];
    bool check_mr_owner_config;
    uint8_t mr_owner_config[48];
    /* Verify the chain without collateral (no TCB status, no revocation).
     * An explicit opt-in; off by default. */
    bool chain_only;
    /* Collateral freshness, checked on the collateral actually used (given,
     * fetched or carried by a ticket) after its signatures verified; 0 turns
     * a check off. min_tcb_evaluation_data_number: the TCB info's and the QE
     * identity's tcbEvaluationDataNumber must be at least this (refuses
     * bundles from before a TCB recovery). max_collateral_age: seconds since
     * the older of their issueDates (refuses old bundles, e.g. from before a
     * PCK revocation). */
    uint32_t min_tcb_evaluation_data_number;
    int64_t max_collateral_age;
} mk_tdx_policy;

/* Defaults: accept UpToDate and SWHardeningNeeded; refuse debug TDs and
 * reserved attribute bits; collateral required. */
void mk_tdx_policy_default(mk_tdx_policy *p);

/* ------------------------------------------------------------------ */
/* Verification                                                        */
/* ------------------------------------------------------------------ */

#define MK_TDX_MAX_ADVISORIES 64

typedef struct mk_tdx_result {
    uint16_t quote_version;
    mk_tdx_body_type body_type;
    mk_tdx_td_report report;
    mk_tdx_sgx_report qe_report;
    uint8_t fmspc[6];
    mk_tdx_pck_ca pck_ca;
    bool collateral_checked;
    mk_tdx_tcb_status tcb_status;      /* MK_TDX_TCB_UNKNOWN without collateral */
    mk_tdx_tcb_status platform_status; /* SGX+TDX components level status */
    mk_tdx_tcb_status qe_status;
    size_t n_advisories;
    char advisory_ids[MK_TDX_MAX_ADVISORIES][32];
    bool simulated; /* chain ends in the simulator's test root */
    bool debug;     /* any td_attributes TUD bit (0..7; DEBUG, profiling) */
    size_t trailing_bytes;
    int64_t valid_until; /* earliest certificate notAfter / collateral nextUpdate */
} mk_tdx_result;

typedef struct mk_tdx_verifier mk_tdx_verifier; /* thread-safe; caches warm state */

/* A verifier that trusts only the pinned Intel SGX Root CA. */
mk_tdx_verifier *mk_tdx_verifier_new(void);
void mk_tdx_verifier_free(mk_tdx_verifier *v);
/* Trust a simulator root (DER). Quotes chained to it are then accepted and
 * flagged `simulated`. Never done by default. */
int mk_tdx_verifier_trust_simulator(mk_tdx_verifier *v, const uint8_t *root_der, size_t len,
                                    mk_error *err);
void mk_tdx_verifier_set_policy(mk_tdx_verifier *v, const mk_tdx_policy *p);
void mk_tdx_verifier_get_policy(const mk_tdx_verifier *v, mk_tdx_policy *p);
/* Collateral used when mk_tdx_verify gets none: fetched and cached. */
int mk_tdx_verifier_set_fetch(mk_tdx_verifier *v, const mk_tdx_fetch_opts *o);

/* Verify a quote at time `now`. coll may be NULL: then the fetcher (if
 * configured) is used, else only the chain is verified — which the policy
 * must allow (chain_only), or the result is MK_EPOLICY. On refusal, err says
 * which step failed and why; res (if not NULL) holds what was learnt. */
int mk_tdx_verify(mk_tdx_verifier *v, const uint8_t *quote, size_t len,
                  const mk_tdx_collateral *coll, int64_t now, mk_tdx_result *res, mk_error *err);

/* The pinned Intel SGX Root CA certificate (DER). */
const uint8_t *mk_tdx_intel_root_der(size_t *len);

#ifdef __cplusplus
}
#endif
#endif
