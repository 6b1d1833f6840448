/*
 * mosaik/snp.h — AMD SEV-SNP attestation reports: parsing, verification to
 * AMD's root, certificates from AMD's key distribution service, policy.
 *
 * Trust model (docs/snp-verification.md): a report is accepted only when
 *   1. its structure parses: exactly MK_SNP_REPORT_LEN (1184) bytes, version
 *      2, 3 or 5, signature algorithm ECDSA P-384 / SHA-384, signed by a VCEK
 *      or a VLEK (the report's signing-key field says which);
 *   2. the product (Milan, Genoa, Turin) is known: from the report's CPUID
 *      fields (v3 and later) and the certificate's productName, which must
 *      agree;
 *   3. the certificate (VCEK or VLEK) chains through the product's ASK (VCEK)
 *      or ASVK (VLEK) to the product's ARK, which is built into the library
 *      and pinned by SHA-256 — whatever a certificate file holds besides the
 *      leaf, the built-in ARK is the anchor; every signature is RSA-PSS and
 *      every certificate must be valid at the explicit time given;
 *   4. with an AMD CRL (given or fetched): the CRL is signed by that ARK,
 *      current at that time, and does not list the ASK / ASVK;
 *   5. the certificate's TCB extensions equal the report's reported_tcb
 *      (with fmcSPL on Turin), and a VCEK's hwID equals the report's chip_id
 *      (64 bytes; 8 on Turin);
 *   6. the report's signature over bytes [0, 0x2A0) verifies under the
 *      certificate's P-384 key (r and s little-endian; zero or out-of-range
 *      values refused);
 *   7. the policy accepts it (no debug, no migration agent by default).
 * Measurements (measurement, host_data, ID-block digests …) are matched by
 * mk_snp_criteria; binding a report to a peer is the SNP ticket's job.
 * The simulator's chain (EC, its own root) never passes step 3; only a
 * verifier told to trust that root explicitly (mk_snp_verifier_trust_simulator)
 * accepts it, in a store of its own, and marks the result simulated.
 */
#ifndef MOSAIK_SNP_H
#define MOSAIK_SNP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/error.h"
#include "mosaik/export.h"
#include "mosaik/id.h"
#include "mosaik/tee.h"
#include "mosaik/ticket.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Report structure                                                    */
/* ------------------------------------------------------------------ */

#define MK_SNP_REPORT_LEN 1184  /* 0x4A0, every version */
#define MK_SNP_SIGNED_LEN 0x2A0 /* the signature covers bytes [0, 0x2A0) */
#define MK_SNP_CHIP_ID_LEN 64
#define MK_SNP_TURIN_HWID_LEN 8 /* Turin: only chip_id[0..8] identifies the chip */
#define MK_SNP_MEASUREMENT_LEN 48
#define MK_SNP_SIG_ALGO_ECDSA_P384_SHA384 1u

/* The product line a report and its certificates belong to. */
typedef enum mk_snp_product {
    MK_SNP_PRODUCT_UNKNOWN = 0,
    MK_SNP_MILAN = 1, /* EPYC 7003 */
    MK_SNP_GENOA = 2, /* EPYC 9004/8004 (also Siena, Bergamo) */
    MK_SNP_TURIN = 3, /* EPYC 9005 */
} mk_snp_product;

/* "Milan", "Genoa", "Turin" (the KDS path names); "unknown" otherwise. */
MK_EXTERN const char *mk_snp_product_name(mk_snp_product p);
/* A product name, case-insensitive, with or without a stepping suffix
 * ("Milan-B0" is Milan); MK_EINVAL if none. */
MK_EXTERN int mk_snp_product_parse(const char *name, mk_snp_product *out);

/* Which key signed a report (flags bits 4:2). */
typedef enum mk_snp_signing_key {
    MK_SNP_KEY_VCEK = 0, /* chip key, certified per chip and TCB by AMD's KDS */
    MK_SNP_KEY_VLEK = 1, /* loaded key, certified for a cloud provider */
    MK_SNP_KEY_NONE = 7, /* no signature */
} mk_snp_signing_key;
#define MK_SNP_KEY_BIT(k) (1u << (unsigned)(k))

/* "vcek", "vlek", "none". */
MK_EXTERN const char *mk_snp_signing_key_name(mk_snp_signing_key k);

/* Guest policy bits (report offset 0x08). */
#define MK_SNP_POLICY_ABI_MINOR(p) ((unsigned)((p)&0xffu))
#define MK_SNP_POLICY_ABI_MAJOR(p) ((unsigned)(((p) >> 8) & 0xffu))
#define MK_SNP_POLICY_SMT (1ull << 16)
#define MK_SNP_POLICY_RESERVED_1 (1ull << 17) /* must be 1 */
#define MK_SNP_POLICY_MIGRATE_MA (1ull << 18)
#define MK_SNP_POLICY_DEBUG (1ull << 19)
#define MK_SNP_POLICY_SINGLE_SOCKET (1ull << 20)
#define MK_SNP_POLICY_CXL_ALLOW (1ull << 21)
#define MK_SNP_POLICY_MEM_AES_256_XTS (1ull << 22)
#define MK_SNP_POLICY_RAPL_DIS (1ull << 23)
#define MK_SNP_POLICY_CIPHERTEXT_HIDING (1ull << 24)
#define MK_SNP_POLICY_PAGE_SWAP_DISABLE (1ull << 25)

/* Platform info bits (report offset 0x40). Other bits are reserved and
 * reported as they are, never an error. */
#define MK_SNP_PLATFORM_SMT_EN (1ull << 0)
#define MK_SNP_PLATFORM_TSME_EN (1ull << 1)
#define MK_SNP_PLATFORM_ECC_EN (1ull << 2)
#define MK_SNP_PLATFORM_RAPL_DIS (1ull << 3)
#define MK_SNP_PLATFORM_CIPHERTEXT_HIDING_EN (1ull << 4)
#define MK_SNP_PLATFORM_ALIAS_CHECK_COMPLETE (1ull << 5)
#define MK_SNP_PLATFORM_TIO_EN (1ull << 7)

/* A TCB_VERSION decoded. fmc exists on Turin only (0 elsewhere). */
typedef struct mk_snp_tcb {
    uint8_t fmc;
    uint8_t bootloader;
    uint8_t tee;
    uint8_t snp;
    uint8_t microcode;
} mk_snp_tcb;

/* The byte layout of TCB_VERSION depends on the product: Milan and Genoa
 * bl@0 tee@1 snp@6 ucode@7; Turin fmc@0 bl@1 tee@2 snp@3 ucode@7. An
 * unknown product decodes with the Milan/Genoa layout. */
MK_EXTERN void mk_snp_tcb_decode(uint64_t raw, mk_snp_product p, mk_snp_tcb *out);
MK_EXTERN uint64_t mk_snp_tcb_encode(const mk_snp_tcb *t, mk_snp_product p);

/* A firmware version as the report gives it. */
typedef struct mk_snp_fw_version {
    uint8_t major, minor, build;
} mk_snp_fw_version;

/* A parsed report. Every field of the ATTESTATION_REPORT structure; the
 * version-gated ones are zero (and has_* false) when the version lacks
 * them. `raw` points into the caller's buffer. */
typedef struct mk_snp_report {
    uint32_t version; /* 2, 3 or 5 */
    uint32_t guest_svn;
    uint64_t policy;
    uint8_t family_id[16];
    uint8_t image_id[16];
    uint32_t vmpl;
    uint32_t signature_algo;
    uint64_t current_tcb;
    uint64_t platform_info;
    uint32_t flags; /* signer info, raw */
    bool author_key_en;
    bool mask_chip_key;
    mk_snp_signing_key signing_key; /* from flags bits 4:2 */
    uint8_t report_data[64];
    uint8_t measurement[48];
    uint8_t host_data[32];
    uint8_t id_key_digest[48];
    uint8_t author_key_digest[48];
    uint8_t report_id[32];
    uint8_t report_id_ma[32];
    uint64_t reported_tcb;
    bool has_cpuid; /* v3+ */
    uint8_t cpuid_fam_id, cpuid_mod_id, cpuid_step;
    mk_snp_product cpuid_product; /* from the CPUID fields; UNKNOWN for v2 */
    uint8_t chip_id[64];
    uint64_t committed_tcb;
    mk_snp_fw_version current;
    mk_snp_fw_version committed;
    uint64_t launch_tcb;
    bool has_mit_vectors; /* v5+ */
    uint64_t launch_mit_vector;
    uint64_t current_mit_vector;
    uint8_t signature_r[72]; /* little-endian, zero-extended */
    uint8_t signature_s[72];
    const uint8_t *raw; /* the 1184 bytes */
} mk_snp_report;

/* Parse the structure (no signature, no certificate). Refused with a
 * reason: any length but 1184, a version other than 2, 3, 5, a signature
 * algorithm other than ECDSA P-384 / SHA-384, a reserved signing key, a
 * non-zero reserved part of the signature. */
MK_EXTERN int mk_snp_report_parse(const uint8_t *data, size_t len, mk_snp_report *r, mk_error *err);

/* The product a CPUID family / model names (UNKNOWN if none). */
MK_EXTERN mk_snp_product mk_snp_product_from_cpuid(uint8_t family, uint8_t model);

/* ------------------------------------------------------------------ */
/* AMD's certificates                                                  */
/* ------------------------------------------------------------------ */

#define MK_SNP_CERT_MAX (16 * 1024) /* cap on one certificate file */
#define MK_SNP_CRL_MAX (256 * 1024) /* cap on one CRL */

/* Which of AMD's built-in certificates. */
typedef enum mk_snp_ca {
    MK_SNP_CA_ARK = 0,  /* AMD Root Key (self-signed; the trust anchor) */
    MK_SNP_CA_ASK = 1,  /* AMD SEV Key: signs VCEKs */
    MK_SNP_CA_ASVK = 2, /* AMD SEV VLEK Key: signs VLEKs */
} mk_snp_ca;

/* The built-in certificate (DER) of a product, and the SHA-256 it is
 * pinned by (the library refuses to use a certificate that does not hash to
 * its pin). NULL for an unknown product. */
MK_EXTERN const uint8_t *mk_snp_amd_cert_der(mk_snp_product p, mk_snp_ca which, size_t *len);
MK_EXTERN const uint8_t *mk_snp_amd_cert_pin(mk_snp_product p, mk_snp_ca which);

/* What a VCEK or VLEK certificate says (its AMD extensions, arc
 * 1.3.6.1.4.1.3704.1). */
typedef struct mk_snp_cert_info {
    mk_snp_signing_key kind; /* VCEK (has hwID) or VLEK (has csp_id) */
    mk_snp_product product;  /* from productName */
    int struct_version;
    char product_name[32];
    mk_snp_tcb tcb; /* blSPL, teeSPL, snpSPL, ucodeSPL, fmcSPL */
    bool has_fmc;
    uint8_t hwid[64];
    size_t hwid_len; /* 64, 8 (Turin), 0 (VLEK) */
    char csp_id[128];
    int64_t not_before, not_after;
} mk_snp_cert_info;

/* Read a VCEK/VLEK certificate (DER or PEM, the first certificate of a PEM)
 * and its extensions; nothing is verified. */
MK_EXTERN int mk_snp_cert_info_read(const uint8_t *data, size_t len, mk_snp_cert_info *out,
                                    mk_error *err);

/* ------------------------------------------------------------------ */
/* AMD's key distribution service (KDS)                                */
/* ------------------------------------------------------------------ */

#define MK_SNP_KDS_URL "https://kdsintf.amd.com"

/* Options of a KDS client (the shared TEE fetcher underneath). Zero fields
 * take the defaults. HTTP 429 / 503 answers are retried: after the
 * server's Retry-After when it sends one, else after backoff_ms, doubled
 * per attempt, each wait capped at max_backoff_ms. */
typedef struct mk_snp_fetch_opts {
    const char *base_url;  /* NULL: MK_SNP_KDS_URL */
    const char *cache_dir; /* NULL: no disk cache */
    long timeout_ms;       /* per request; 0: 10000 */
    int max_attempts;      /* in all, retries included; 0: 4 */
    long backoff_ms;       /* first wait without Retry-After; 0: 1000 */
    long max_backoff_ms;   /* cap on one wait; 0: 30000 */
    bool fetch_crl;        /* also fetch the product's CRL when verifying */
    bool insecure_http_ok; /* allow http:// (tests against a local server) */
} mk_snp_fetch_opts;

/* The KDS URL of the VCEK for a chip at a TCB (Turin: 8-byte hwid and
 * fmcSPL first). MK_ETOOBIG if it does not fit in n. */
MK_EXTERN int mk_snp_vcek_url(const char *base_url, mk_snp_product p, const uint8_t chip_id[64],
                              const mk_snp_tcb *tcb, char *out, size_t n);

/* Fetch from the KDS, or from the disk cache (cache_dir): the VCEK (DER)
 * for a chip at a TCB; the ASK+ARK (VCEK) or ASVK+ARK (VLEK) chain (PEM);
 * the product's CRL of VCEK or VLEK chains (DER). Nothing fetched is
 * trusted — it is verified when used — but only what passes a sanity check
 * is cached: a VCEK whose signature verifies under the product's built-in
 * ASK and whose hwID and TCB are the ones asked for; a chain ending in the
 * pinned ARK whose intermediate it signed; a CRL the ARK signed that is
 * current at `now` (and reused from the cache only while it is). A cached
 * file failing its check is removed and fetched again. */
MK_EXTERN int mk_snp_fetch_vcek(const mk_snp_fetch_opts *o, mk_snp_product p,
                                const uint8_t chip_id[64], const mk_snp_tcb *tcb, mk_buf *out,
                                mk_error *err);
MK_EXTERN int mk_snp_fetch_chain(const mk_snp_fetch_opts *o, mk_snp_product p,
                                 mk_snp_signing_key key, mk_buf *out, mk_error *err);
MK_EXTERN int mk_snp_fetch_crl(const mk_snp_fetch_opts *o, mk_snp_product p, mk_snp_signing_key key,
                               int64_t now, mk_buf *out, mk_error *err);

/* ------------------------------------------------------------------ */
/* Policy                                                              */
/* ------------------------------------------------------------------ */

typedef struct mk_snp_policy {
    bool allow_debug;           /* policy DEBUG (host may read the guest) */
    bool allow_migration_agent; /* policy MIGRATE_MA */
    bool allow_smt;             /* platform_info SMT_EN */
    /* Minimum per component of reported_tcb (fmc on Turin only); zero
     * components impose nothing. */
    mk_snp_tcb min_tcb;
    uint32_t max_vmpl; /* highest VMPL the report may come from (0..3) */
    /* Minimum current firmware (SNP ABI) version, compared as major.minor
     * then build; all zero: none. */
    mk_snp_fw_version min_firmware;
    /* Minimum ABI version the guest policy demands (ABI_MAJOR.ABI_MINOR);
     * zero: none. */
    uint8_t min_policy_abi_major, min_policy_abi_minor;
    unsigned accepted_keys; /* MK_SNP_KEY_BIT(VCEK) | MK_SNP_KEY_BIT(VLEK) */
    bool require_crl;       /* refuse without a CRL (given or fetched) */
} mk_snp_policy;

/* Defaults: debug refused, migration agent refused, SMT allowed, no minimum
 * TCB or firmware, any VMPL (max 3), VCEK and VLEK accepted, CRL not
 * required. */
MK_EXTERN void mk_snp_policy_default(mk_snp_policy *p);

/* ------------------------------------------------------------------ */
/* Measurement criteria                                                */
/* ------------------------------------------------------------------ */

#define MK_SNP_REQ_MEASUREMENT (1u << 0)
#define MK_SNP_REQ_HOST_DATA (1u << 1)
#define MK_SNP_REQ_ID_KEY_DIGEST (1u << 2)
#define MK_SNP_REQ_AUTHOR_KEY_DIGEST (1u << 3)
#define MK_SNP_REQ_FAMILY_ID (1u << 4)
#define MK_SNP_REQ_IMAGE_ID (1u << 5)
#define MK_SNP_REQ_MIN_GUEST_SVN (1u << 6)
#define MK_SNP_REQ_ALL 0x7fu

/* Which report values must equal which (guest_svn: at least min_guest_svn);
 * fields not in mask are free. */
typedef struct mk_snp_criteria {
    unsigned mask; /* MK_SNP_REQ_* */
    uint8_t measurement[48];
    uint8_t host_data[32];
    uint8_t id_key_digest[48];
    uint8_t author_key_digest[48];
    uint8_t family_id[16];
    uint8_t image_id[16];
    uint32_t min_guest_svn;
} mk_snp_criteria;

MK_EXTERN void mk_snp_criteria_init(mk_snp_criteria *c);
/* Require one field to equal hex (optional 0x; exactly the field's size).
 * field: one MK_SNP_REQ_* bit other than MIN_GUEST_SVN. */
MK_EXTERN int mk_snp_criteria_require_hex(mk_snp_criteria *c, unsigned field, const char *hex,
                                          mk_error *err);
/* The same with the value's bytes: len must be the field's size (48 for
 * the measurement and the key digests, 32 for host_data, 16 for family_id
 * and image_id), else MK_EINVAL. */
MK_EXTERN int mk_snp_criteria_require(mk_snp_criteria *c, unsigned field, const uint8_t *value,
                                      size_t len, mk_error *err);
/* One setter per field (the validator's require_measurement,
 * require_host_data, ...). */
MK_EXTERN void mk_snp_criteria_require_measurement(mk_snp_criteria *c, const uint8_t v[48]);
MK_EXTERN void mk_snp_criteria_require_host_data(mk_snp_criteria *c, const uint8_t v[32]);
MK_EXTERN void mk_snp_criteria_require_id_key_digest(mk_snp_criteria *c, const uint8_t v[48]);
MK_EXTERN void mk_snp_criteria_require_author_key_digest(mk_snp_criteria *c, const uint8_t v[48]);
MK_EXTERN void mk_snp_criteria_require_family_id(mk_snp_criteria *c, const uint8_t v[16]);
MK_EXTERN void mk_snp_criteria_require_image_id(mk_snp_criteria *c, const uint8_t v[16]);
MK_EXTERN void mk_snp_criteria_require_min_guest_svn(mk_snp_criteria *c, uint32_t svn);
/* The fields named in mask taken from a report (guest_svn as minimum). */
MK_EXTERN void mk_snp_criteria_from_report(mk_snp_criteria *c, const mk_snp_report *r,
                                           unsigned mask);
/* 0 if r satisfies c; else MK_EMISMATCH with "measurement mismatch: want
 * 7a1e…, got 0b2c…". */
MK_EXTERN int mk_snp_criteria_match(const mk_snp_criteria *c, const mk_snp_report *r,
                                    mk_error *err);
/* The baseline must match, and when variants are given (n > 0) at least one
 * of them; a variant that pins nothing is MK_EINVAL (it would match every
 * guest). The reason names the baseline field or lists why each variant
 * failed ("no variant matches (1: measurement mismatch …; 2: …)"). */
MK_EXTERN int mk_snp_criteria_match_set(const mk_snp_criteria *baseline,
                                        const mk_snp_criteria *variants, size_t n,
                                        const mk_snp_report *r, mk_error *err);

/* ------------------------------------------------------------------ */
/* Verification                                                        */
/* ------------------------------------------------------------------ */

/* Certificates offered for one report. Any pointer may be NULL.
 * leaf: the VCEK or VLEK, DER or PEM; a PEM may carry the ASK/ASVK (and an
 * ARK, which must then be AMD's) after the leaf. chain: more certificates
 * (PEM, or one DER), e.g. a KDS cert_chain. crl: AMD's CRL (DER or PEM). */
typedef struct mk_snp_certs {
    const uint8_t *leaf;
    size_t leaf_len;
    const uint8_t *chain;
    size_t chain_len;
    const uint8_t *crl;
    size_t crl_len;
} mk_snp_certs;

typedef struct mk_snp_result {
    mk_snp_report report;
    mk_snp_product product;
    mk_snp_signing_key signing_key;
    mk_snp_tcb reported_tcb; /* decoded with the product's layout */
    mk_snp_tcb current_tcb;
    mk_snp_cert_info cert; /* the leaf's extensions (when read) */
    bool have_cert;
    bool chain_verified;
    bool crl_checked;
    bool debug;           /* policy DEBUG */
    bool migration_agent; /* policy MIGRATE_MA */
    int64_t valid_until;  /* earliest notAfter (and CRL nextUpdate); 0 if not verified */
    /* The chain ended in the simulator root the verifier was told to trust
     * (mk_snp_verifier_trust_simulator): NOT real SEV-SNP evidence. */
    bool simulated;
} mk_snp_result;

typedef struct mk_snp_verifier mk_snp_verifier; /* thread-safe */

typedef struct mk_snp_verifier_config {
    mk_snp_policy policy; /* default: mk_snp_policy_default */
    /* Certificates not given to mk_snp_verify are fetched from the KDS
     * (copied). NULL (the default): nothing is fetched. */
    const mk_snp_fetch_opts *fetch;
    /* A simulator root to trust (DER, copied; mk_snp_sim_root_der), or
     * NULL (the default): simulated reports are refused. */
    const uint8_t *simulator_root_der;
    size_t simulator_root_len;
} mk_snp_verifier_config;

MK_EXTERN void mk_snp_verifier_config_init(mk_snp_verifier_config *cfg);
MK_EXTERN int mk_snp_verifier_new(const mk_snp_verifier_config *cfg, mk_snp_verifier **out,
                                  mk_error *err);
MK_EXTERN void mk_snp_verifier_free(mk_snp_verifier *v);
MK_EXTERN void mk_snp_verifier_set_policy(mk_snp_verifier *v, const mk_snp_policy *p);
MK_EXTERN void mk_snp_verifier_get_policy(const mk_snp_verifier *v, mk_snp_policy *p);
/* Replace the fetcher (NULL: none). MK_ENOMEM leaves the old one. */
MK_EXTERN int mk_snp_verifier_set_fetch(mk_snp_verifier *v, const mk_snp_fetch_opts *o);
/* Trust a simulator root (a self-signed EC CA, DER: mk_snp_sim_root_der).
 * Never done by default. A report whose leaf is not issued by the
 * product's AMD intermediate is then verified against that root alone
 * (through an intermediate offered with the leaf) and, if it verifies, has
 * res->simulated set; AMD's chains are unaffected (the simulator root has
 * a store of its own, ECDSA only, and a leaf naming AMD's intermediate as
 * its issuer always goes AMD's way). A second, different root is
 * MK_ESTATE. */
MK_EXTERN int mk_snp_verifier_trust_simulator(mk_snp_verifier *v, const uint8_t *root_der,
                                              size_t len, mk_error *err);

/* Verify a report at time `now` with the certificates offered (certs may be
 * NULL, or lack a leaf: the VCEK is then fetched when a fetcher is
 * configured; a VLEK cannot be fetched). On refusal err says which step
 * failed and why ("chain: …", "TCB: …", "signature: …", "policy: …"); res
 * (if not NULL) holds what was learnt. */
MK_EXTERN int mk_snp_verify(mk_snp_verifier *v, const uint8_t *report, size_t len,
                            const mk_snp_certs *certs, int64_t now, mk_snp_result *res,
                            mk_error *err);

/* ================================================================== */
/* Tickets, providers, the simulator, the attester and the validator: */
/* SEV-SNP on the shared TEE layer (docs/snp-verification.md)         */
/* ================================================================== */

/* ------------------------------------------------------------------ */
/* The SNP ticket                                                      */
/* ------------------------------------------------------------------ */

/* An SNP ticket is the shared envelope (docs/tee.md) with the report as
 * evidence and the certificates the attester obtained with it (its VCEK or
 * VLEK, then the ASK / ASVK and ARK, as PEM) as endorsements, so a
 * verifier needs no network. The report data binds the extra data:
 *   report_data = SHA-512( u32be(len(D)) || D || peer_id[32] || network_id[32]
 *                          || i64be(started_at) || i64be(quoted_at)
 *                          || i64be(expiration) )
 * with D = MK_SNP_REPORT_DATA_DOMAIN. Wire form: one zstd frame of
 * canonical CBOR {0: version, 1: peer, 2: network, 3: started_at,
 * 4: quoted_at, 5: expiration, 6: report (bstr, at most 1184 bytes),
 * 7: certificates (PEM text, optional, at most MK_SNP_TICKET_CERTS_MAX)};
 * the ticket class is mk_id_from_name(MK_SNP_TICKET_CLASS_NAME). */
#define MK_SNP_TICKET_CLASS_NAME "mosaik.ticket.snp.v1"
#define MK_SNP_REPORT_DATA_DOMAIN "mosaik.snp.ticket.report-data.v1"
#define MK_SNP_TICKET_VERSION 1
#define MK_SNP_TICKET_CERTS_MAX (48 * 1024)

/* The report data binding x (SHA-512 of the preimage above). */
MK_EXTERN void mk_snp_report_data(const mk_tee_extra_data *x, uint8_t out[64]);

typedef struct mk_snp_ticket {
    mk_tee_extra_data extra;
    uint8_t *report; /* owned */
    size_t report_len;
    char *certs; /* owned PEM (NUL-terminated), NULL when absent */
    size_t certs_len;
} mk_snp_ticket;

/* A ticket holding copies of the report and the (optional) PEM. */
MK_EXTERN int mk_snp_ticket_init(mk_snp_ticket *t, const mk_tee_extra_data *x,
                                 const uint8_t *report, size_t report_len, const char *certs,
                                 size_t certs_len, mk_error *err);
MK_EXTERN void mk_snp_ticket_free(mk_snp_ticket *t);
/* The wire form (the same ticket always gives the same bytes), and
 * decoding it (on failure *t is zeroed and nothing is allocated). */
MK_EXTERN int mk_snp_ticket_encode(const mk_snp_ticket *t, mk_buf *out, mk_error *err);
MK_EXTERN int mk_snp_ticket_decode(const uint8_t *data, size_t len, mk_snp_ticket *t,
                                   mk_error *err);
/* The ticket class id, and conversions to / from the generic ticket. */
MK_EXTERN void mk_snp_ticket_class(mk_id *out);
MK_EXTERN int mk_snp_ticket_to_generic(const mk_snp_ticket *t, mk_ticket *out, mk_error *err);
MK_EXTERN int mk_snp_ticket_from_generic(const mk_ticket *in, mk_snp_ticket *t, mk_error *err);
/* The report's structure parses and its report data is the hash of the
 * extra data (nothing is verified: that is the validator's job). */
MK_EXTERN int mk_snp_ticket_check_binding(const mk_snp_ticket *t, mk_error *err);

/* ------------------------------------------------------------------ */
/* Providers                                                           */
/* ------------------------------------------------------------------ */

/* Where SNP reports come from, as mk_tee_provider objects of platform
 * MK_TEE_SNP (mosaik/tee.h: mk_tee_provider_evidence gives the report and,
 * as auxiliary data, the certificate table the host supplied — the GHCB
 * table of {GUID, offset, length} entries; mk_tee_provider_measurements the
 * registers MEASUREMENT, HOST_DATA, ID_KEY_DIGEST, AUTHOR_KEY (the author
 * key digest), FAMILY_ID, IMAGE_ID, GUEST_SVN (4 bytes, little-endian) and
 * REPORTED_TCB (8 bytes, little-endian) of a fresh report).
 *
 *   configfs-tsm   /sys/kernel/config/tsm/report, provider "sev_guest"
 *                  (Linux >= 6.7): 64 bytes of inblob, privlevel when a VMPL
 *                  is set, the report from outblob, the certificate table
 *                  from auxblob (docs/tee.md: the shared core).
 *   sev-guest      /dev/sev-guest, the SNP_GET_EXT_REPORT ioctl with a
 *                  certificate buffer that is grown and the request retried
 *                  when the host says it is too small.
 *   auto           the first of them available here; never the simulator.
 *   simulator      mk_snp_provider_sim_new: reports signed through a test
 *                  chain made on this machine, named "simulator (NOT real
 *                  SEV-SNP)", is_simulated true; no verifier accepts them
 *                  unless told to trust the simulator's root. */
#define MK_SNP_GUEST_DEV "/dev/sev-guest"

/* configfs-tsm (tsm_report_dir NULL: MK_TEE_TSM_REPORT_DIR). Construction
 * does not touch the file system; fails only when out of memory. */
MK_EXTERN int mk_snp_provider_configfs_new(const char *tsm_report_dir, mk_tee_provider **out,
                                           mk_error *err);
/* /dev/sev-guest (dev NULL: MK_SNP_GUEST_DEV); fails only when out of
 * memory. */
MK_EXTERN int mk_snp_provider_devsev_new(const char *dev, mk_tee_provider **out, mk_error *err);
/* The first available real provider: configfs-tsm, then /dev/sev-guest.
 * MK_EUNAVAILABLE (*out NULL) naming every path tried when none is. */
MK_EXTERN int mk_snp_provider_auto_new(mk_tee_provider **out, mk_error *err);
/* The VMPL reports are asked for at (0..3; -1, the default: configfs-tsm
 * leaves privlevel at the kernel's floor, the ioctl asks for VMPL 0).
 * MK_EINVAL for another value or a provider that is not SNP's. */
MK_EXTERN int mk_snp_provider_set_vmpl(mk_tee_provider *p, int vmpl);
/* A report for report_data (replacing *report) and, when certs is not
 * NULL, the certificate table (replacing *certs; empty when the host gave
 * none); the report's structure is checked and its report data must be
 * report_data. MK_EINVAL for a provider that is not SNP's. */
MK_EXTERN int mk_snp_provider_report(mk_tee_provider *p, const uint8_t report_data[64],
                                     mk_buf *report, mk_buf *certs, mk_error *err);

/* ------------------------------------------------------------------ */
/* The simulator                                                       */
/* ------------------------------------------------------------------ */

/* A simulated SEV-SNP platform (docs/snp-verification.md, "The simulator"): a self-signed
 * "mosaik simulated ARK-Milan", a "mosaik simulated SEV-Milan" ASK under
 * it and a "mosaik simulated SEV-VCEK" with AMD's VCEK extensions
 * (productName Milan-B0, the simulated TCB, hwID = the simulated chip id),
 * all EC P-384 and ECDSA-signed, every O "mosaik SIMULATED SEV-SNP, not
 * AMD". Reports are version 3 with Milan's CPUID (19/01/01), signed by the
 * VCEK's key. Immutable after creation, thread-safe, reference counted
 * (providers keep it alive). */
typedef struct mk_snp_sim mk_snp_sim;

/* The TCB of the simulated chip (reported, current, committed, launch). */
#define MK_SNP_SIM_TCB_BOOTLOADER 4
#define MK_SNP_SIM_TCB_TEE 0
#define MK_SNP_SIM_TCB_SNP 22
#define MK_SNP_SIM_TCB_MICROCODE 213

typedef struct mk_snp_sim_config {
    /* Certificates are valid from now - 1 day for 10 years (0, the
     * default: mk_now() at creation). */
    int64_t now;
} mk_snp_sim_config;

MK_EXTERN void mk_snp_sim_config_init(mk_snp_sim_config *cfg);
/* A fresh simulator (cfg NULL: the defaults). */
MK_EXTERN int mk_snp_sim_new(const mk_snp_sim_config *cfg, mk_snp_sim **out, mk_error *err);
/* Persist the keys and certificates (PEM, mode 0600, atomically), so that
 * several processes share one simulator; load checks the keys match the
 * certificates and the chain links up; load_or_create loads path if it
 * exists, else creates and saves (race-free: the first writer wins). */
MK_EXTERN int mk_snp_sim_save(const mk_snp_sim *sim, const char *path, mk_error *err);
MK_EXTERN int mk_snp_sim_load(const char *path, mk_snp_sim **out, mk_error *err);
MK_EXTERN int mk_snp_sim_load_or_create(const char *path, const mk_snp_sim_config *cfg,
                                        mk_snp_sim **out, mk_error *err);
MK_EXTERN void mk_snp_sim_free(mk_snp_sim *sim);
/* The simulator's root (DER), for mk_snp_verifier_trust_simulator and the
 * validator's simulator_root_der; points into sim. */
MK_EXTERN void mk_snp_sim_root_der(const mk_snp_sim *sim, const uint8_t **der, size_t *len);
/* VCEK, ASK and ARK as PEM (what its tickets carry); points into sim. */
MK_EXTERN void mk_snp_sim_chain_pem(const mk_snp_sim *sim, const char **pem, size_t *len);
/* The simulated chip id (64 bytes; its VCEK's hwID). */
MK_EXTERN const uint8_t *mk_snp_sim_chip_id(const mk_snp_sim *sim);
/* The certificate table a host would give with its reports (VCEK, ASK,
 * ARK), replacing *out. */
MK_EXTERN int mk_snp_sim_cert_table(const mk_snp_sim *sim, mk_buf *out, mk_error *err);

/* A simulated guest: what its reports carry. */
typedef struct mk_snp_sim_guest {
    uint8_t measurement[48];
    uint8_t host_data[32];
    uint8_t id_key_digest[48];
    uint8_t author_key_digest[48]; /* non-zero sets AUTHOR_KEY_EN */
    uint8_t family_id[16];
    uint8_t image_id[16];
    uint32_t guest_svn;
    uint64_t policy; /* guest policy */
    uint32_t vmpl;
} mk_snp_sim_guest;

/* Defaults: measurement = SHA-384("mosaik simulated SNP guest"), the other
 * values zero, policy 0x30000 (SMT allowed, no debug, no migration agent),
 * VMPL 0. */
MK_EXTERN void mk_snp_sim_guest_default(mk_snp_sim_guest *g);
/* A complete, signed report for g with the given report data (replacing
 * *out): version 3, Milan's CPUID, the simulated chip id and TCB, firmware
 * 1.55.0, a random report id. */
MK_EXTERN int mk_snp_sim_report(const mk_snp_sim *sim, const mk_snp_sim_guest *g,
                                const uint8_t report_data[64], mk_buf *out, mk_error *err);
/* The simulator as a provider (name "simulator (NOT real SEV-SNP)",
 * is_simulated true): reports for a copy of g (NULL: the defaults) and the
 * simulator's certificate table. Holds a reference to sim. */
MK_EXTERN int mk_snp_provider_sim_new(mk_snp_sim *sim, const mk_snp_sim_guest *g,
                                      mk_tee_provider **out, mk_error *err);

/* ------------------------------------------------------------------ */
/* The attester (node-facing)                                          */
/* ------------------------------------------------------------------ */

/* The shared attester (mosaik/tee.h) over an SNP provider, whose tickets
 * carry the certificates of the provider's certificate table: its VCEK or
 * VLEK (the one the report's signing key names) first, then the ASK /
 * ASVK and the ARK when present, as PEM; none when the host gave no
 * table (a verifier then needs the KDS or the operator's certificates).
 * Use it with mk_tee_attester_ticket, _install_own_ticket, _free. */
typedef struct mk_tee_attester mk_snp_attester;

typedef struct mk_snp_attester_config {
    mk_tee_provider *provider; /* an SNP provider (required; borrowed) */
    int64_t lifetime;          /* seconds; <= 0: MK_TEE_TICKET_DEFAULT_LIFETIME */
} mk_snp_attester_config;

MK_EXTERN void mk_snp_attester_config_init(mk_snp_attester_config *cfg);
MK_EXTERN int mk_snp_attester_new(const mk_snp_attester_config *cfg, mk_snp_attester **out,
                                  mk_error *err);
/* The endorse hook it uses (mk_tee_endorse_fn; ctx unused): the PEM of the
 * certificate table in aux, for the signing key of the report in evidence.
 * MK_ENOTFOUND when a table is given but lacks that key's certificate. */
MK_EXTERN int mk_snp_endorse_certs(void *ctx, const uint8_t *evidence, size_t evidence_len,
                                   const uint8_t *aux, size_t aux_len, mk_buf *endorsements,
                                   mk_error *err);

/* ------------------------------------------------------------------ */
/* The validator                                                       */
/* ------------------------------------------------------------------ */

/* What an SNP validator requires (by value; mk_snp_validator_new copies
 * everything it points to). Initialise with mk_snp_validator_config_init. */
typedef struct mk_snp_validator_config {
    /* Every ticket's report must match the baseline (require_measurement,
     * require_host_data, ...: mk_snp_criteria_require*), and when variants
     * are given one of them (a variant pinning nothing is MK_EINVAL). */
    mk_snp_criteria baseline;
    const mk_snp_criteria *variants;
    size_t n_variants;
    /* require_own_measurement / from_local: the fields in require_own
     * (MK_SNP_REQ_*; MK_SNP_REQ_ALL is from_local) must equal the local
     * guest's, read once at construction from own_provider's report
     * (guest_svn as a minimum); added to the baseline. */
    mk_tee_provider *own_provider;
    unsigned require_own;
    /* Freshness (0 / INT64_MIN: off): now - quoted_at <= max_age,
     * quoted_at >= not_before, expiration - quoted_at <= max_lifetime (a
     * never-expiring ticket is then refused). */
    int64_t max_age, not_before, max_lifetime;
    /* The report policy (mk_snp_policy_default). */
    mk_snp_policy policy;
    /* trust_simulator: a simulator root (DER) to trust; NULL: none. */
    const uint8_t *simulator_root_der;
    size_t simulator_root_len;
    /* Certificate sources. The operator's win: a leaf given here (DER or
     * PEM, a PEM may carry the chain) is used for every ticket; else, with
     * a fetcher, a VCEK is fetched from the KDS; the ticket's certificates
     * only when neither applies, or with a fetcher for a VLEK-signed
     * report (the KDS serves no VLEK), and only if certs_from_ticket (the
     * default) is true. chain (intermediates, PEM or DER) and crl (AMD's CRL), when
     * given, replace what the ticket carries; without a crl and with a
     * fetcher whose fetch_crl is set, the CRL is fetched. */
    mk_snp_certs certs;
    const mk_snp_fetch_opts *fetch;
    bool certs_from_ticket;
} mk_snp_validator_config;

/* Empty criteria, no freshness limits, mk_snp_policy_default, no
 * simulator, no operator certificates, certs_from_ticket true. */
MK_EXTERN void mk_snp_validator_config_init(mk_snp_validator_config *cfg);

/* A validator of class MK_SNP_TICKET_CLASS_NAME. It checks, in order: the
 * ticket decodes; the report verifies to AMD's root (mk_snp_verify: chain,
 * TCB, hwID, signature, policy) with the certificates chosen as above;
 * its report data binds the ticket's extra data; the baseline and a
 * variant match; the ticket names this peer and network; freshness;
 * expiry. Admitted until the earlier of the ticket's expiration and the
 * chain's (and CRL's) validity. Its signature is mk_id_derive(
 * mk_id_from_name("mosaik.validator.snp.v1"), canonical configuration):
 * the baseline, the variants sorted and deduplicated, the freshness
 * limits, every policy field and the SHA-256 of the trusted simulator
 * root; where certificates come from is not part of it. */
MK_EXTERN int mk_snp_validator_new(const mk_snp_validator_config *cfg, mk_validator **out,
                                   mk_error *err);
/* Validate and also return the verification result (res may be NULL). */
MK_EXTERN int mk_snp_validator_validate_ex(const mk_validator *v, const uint8_t *data, size_t len,
                                           const mk_peer_view *peer, int64_t now,
                                           mk_expiration *expires, mk_snp_result *res,
                                           mk_error *err);
/* The factory for declarations (MK_STREAM_DEF, MK_COLLECTION_DEF, group
 * and collection configs): arg is a `const mk_snp_validator_config *` (a
 * static declaration may point at a variable filled in at run time). */
MK_EXTERN mk_validator *mk_validator_factory_snp(const void *arg, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
