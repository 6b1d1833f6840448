/*
 * src/tee/tee_internal.h — the contracts of the shared TEE layer, for its
 * own files and for the platforms built on it (tee/tdx, tee/snp; see
 * docs/tee.md, "How a platform plugs in"):
 *
 *   platform.c  platform names, measurement registers
 *   provider.c  the provider interface (ops tables, dispatch)
 *   attr.c      kernel attribute files, sleeping, a monotonic clock
 *   tsm.c       configfs-tsm: one report request, race-checked, retried
 *   attester.c  the attester every platform plugs into
 *   sim_pki.c   the test PKI simulators are made of
 *   x509.c      certificate and CRL helpers: times, names, signature
 *               algorithms, CRL parsing / checking / lookup
 *   asn1.c      small DER readers for certificate extensions
 *   trust.c     trust stores: roots pinned by SHA-256, an optional
 *               simulator root, chain verification with a warm cache
 *   fetch.c     the capped HTTPS client (libcurl), HTTP 429 with backoff
 *   cache.c     the on-disk cache of fetched documents
 *   ticket.c    the ticket envelope: report-data preimage, canonical CBOR,
 *               the wire form, generic tickets
 *   zstd.c      zstd decompression with a hard cap
 *   checks.c    peer, network, freshness, expiry and variant checks
 *
 * Not installed; not part of the public API (mosaik/tee.h is).
 */
#ifndef MOSAIK_TEE_INTERNAL_H
#define MOSAIK_TEE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "mosaik/bytes.h"
#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "mosaik/error.h"
#include "mosaik/tee.h"

/* ------------------------------------------------------------------ */
/* x509.c                                                              */
/* ------------------------------------------------------------------ */

/* Caps on certificate data (a PEM chain, one DER certificate) and on one
 * CRL. */
#define MK_TEE_CERT_DATA_MAX (32 * 1024)
#define MK_TEE_CRL_MAX (256 * 1024)

/* Signature algorithms a trust store accepts in the chains and CRLs it
 * checks (mk_tee_trust_config.sigalgs); 0 accepts whatever OpenSSL verifies.
 *   ECDSA    ecdsa-with-SHA256 / SHA384 / SHA512;
 *   RSA_PSS  RSASSA-PSS with SHA-256 / 384 / 512, MGF1 with the same hash,
 *            a salt as long as the digest, trailer field 1 (AMD's chains:
 *            SHA-384, salt 48). */
#define MK_TEE_SIGALG_ECDSA (1u << 0)
#define MK_TEE_SIGALG_RSA_PSS (1u << 1)

/* An ASN1_TIME as seconds since the epoch; false if it cannot be read. */
bool mk_tee_asn1_time(const ASN1_TIME *t, int64_t *out);
/* RFC 3339, or "(unreadable time)". */
void mk_tee_asn1_format(const ASN1_TIME *t, char out[MK_RFC3339_LEN]);
/* A certificate's validity window (MK_EMALFORMED if unreadable). */
int mk_tee_x509_window(const X509 *x, int64_t *not_before, int64_t *not_after);
/* A printable name for messages: the common name (control characters
 * replaced by '?'), else the one-line subject; "(no name)" for NULL. */
void mk_tee_x509_name(const X509_NAME *nm, char *out, size_t n);
void mk_tee_cert_name(X509 *x, char *out, size_t n);
/* Subject == issuer. */
bool mk_tee_self_issued(X509 *x);
/* The same DER encoding (false if either is NULL). */
bool mk_tee_same_der(X509 *a, X509 *b);
/* Exactly one DER certificate of at most MK_TEE_CERT_DATA_MAX bytes, with
 * nothing after it; NULL otherwise. */
X509 *mk_tee_x509_from_der(const uint8_t *der, size_t len);

/* Whether a signature algorithm is one of `allowed` (MK_TEE_SIGALG_*; 0:
 * any). MK_EUNTRUSTED names `what` and the algorithm otherwise. */
int mk_tee_sigalg_check(const X509_ALGOR *alg, unsigned allowed, const char *what, mk_error *err);
int mk_tee_cert_sigalg_check(X509 *x, unsigned allowed, mk_error *err);

/* Parse a CRL from DER (exactly one, nothing after it) or PEM, capped at
 * MK_TEE_CRL_MAX. */
int mk_tee_crl_parse(const uint8_t *data, size_t len, X509_CRL **out, mk_error *err);
/* The CRL is issued by `issuer` (names equal), its signature verifies with
 * the issuer's key, its signature algorithm is one of `sigalgs` (0: any),
 * and thisUpdate <= now < nextUpdate (no nextUpdate: refused). */
int mk_tee_crl_check(X509_CRL *crl, X509 *issuer, unsigned sigalgs, int64_t now, mk_error *err);
/* MK_EREVOKED if cert's serial is listed; MK_EMISMATCH if the CRL's issuer
 * is not the certificate's issuer (it cannot speak for it). */
int mk_tee_crl_lookup(X509_CRL *crl, X509 *cert, mk_error *err);

/* ------------------------------------------------------------------ */
/* asn1.c                                                              */
/* ------------------------------------------------------------------ */

/* An OCTET STRING of exactly n bytes into dst ("<name>: want an OCTET
 * STRING of n bytes"). */
int mk_tee_asn1_octets(const ASN1_TYPE *v, uint8_t *dst, size_t n, const char *name, mk_error *err);
/* An INTEGER (type V_ASN1_INTEGER) or ENUMERATED (V_ASN1_ENUMERATED) in
 * 0..max ("<name>: want an INTEGER in 0..max"). */
int mk_tee_asn1_uint(const ASN1_TYPE *v, int type, int64_t max, int64_t *out, const char *name,
                     mk_error *err);
/* The value (the OCTET STRING's contents) of the one extension of x whose
 * OID has the DER content bytes oid[0..oid_len): MK_EMALFORMED "<what>:
 * missing in the leaf" / "<what>: present twice". *val points into x. */
int mk_tee_x509_ext(X509 *x, const uint8_t *oid, size_t oid_len, const char *what,
                    const uint8_t **val, size_t *len, mk_error *err);

/* Parse caches (x509.c). A cert cache maps the SHA-256 of a certificate's
 * exact DER to its parsed X509, bounded and thread-safe;
 * mk_tee_cert_cache_parse returns a new reference (parsing with d2i_X509
 * on a miss) or NULL with OpenSSL's error queued. The pinned cache keeps
 * pinned roots (already checked against their pin and self-signature) with
 * their stores for the whole process; get takes new references. */
typedef struct mk_tee_cert_cache mk_tee_cert_cache;
mk_tee_cert_cache *mk_tee_cert_cache_new(void);
void mk_tee_cert_cache_free(mk_tee_cert_cache *c);
X509 *mk_tee_cert_cache_parse(mk_tee_cert_cache *c, const uint8_t hash[32],
                              const unsigned char *der, long len);
bool mk_tee_pinned_get(const uint8_t hash[32], X509 **cert, X509_STORE **store);
void mk_tee_pinned_put(const uint8_t hash[32], X509 *cert, X509_STORE *store);

/* ------------------------------------------------------------------ */
/* trust.c                                                             */
/* ------------------------------------------------------------------ */

/* A root to pin: its DER certificate and the SHA-256 those bytes must
 * have (checked when the store is made). */
typedef struct mk_tee_root {
    const uint8_t *der;
    size_t len;
    const uint8_t *sha256; /* 32 bytes */
} mk_tee_root;

/* How a store words its reasons, and what it accepts. The strings are
 * borrowed (static text of the platform). */
typedef struct mk_tee_trust_config {
    const char *anchor;   /* "the Intel SGX Root CA": "chain does not end in <anchor>" */
    const char *pinned;   /* "the pinned Intel root": "its root 'X' is not <pinned>" */
    const char *sim_hint; /* how to trust a simulator root, or NULL */
    unsigned sigalgs;     /* MK_TEE_SIGALG_*, 0: any */
} mk_tee_trust_config;

#define MK_TEE_TRUST_ROOTS_MAX 8
#define MK_TEE_CHAIN_POOL_MAX 8

/* The roots a verifier trusts: the pinned ones, fixed at creation, plus at
 * most one simulator root added explicitly later. Each root has its own
 * X509_STORE, so a root carrying another's name can never be picked as
 * the issuer of that one's certificates. Thread-safe. */
typedef struct mk_tee_trust mk_tee_trust;

int mk_tee_trust_new(const mk_tee_trust_config *cfg, const mk_tee_root *roots, size_t n,
                     mk_tee_trust **out, mk_error *err);
void mk_tee_trust_free(mk_tee_trust *t);
/* Trust a simulator root (a self-signed CA, DER). A second, different one
 * is MK_ESTATE; one of the pinned roots is accepted as already trusted. */
int mk_tee_trust_add_sim_root(mk_tee_trust *t, const uint8_t *der, size_t len, mk_error *err);
/* Pinned root i (0..n-1), or the simulator root for i < 0 (NULL if none).
 * Borrowed: valid while t lives. */
X509 *mk_tee_trust_root(mk_tee_trust *t, int i);
unsigned mk_tee_trust_sigalgs(const mk_tee_trust *t);
/* The first certificate of PEM text (at most MK_TEE_CERT_DATA_MAX bytes),
 * parsed through the store's parse cache (a new reference), or NULL with
 * OpenSSL's error queued. Nothing is verified. */
X509 *mk_tee_trust_read_leaf(mk_tee_trust *t, const char *pem, size_t len);

/* A verified chain. */
typedef struct mk_tee_chain {
    X509 *leaf;         /* owned reference */
    X509 *intermediate; /* owned reference; NULL when the leaf is issued by the root */
    EVP_PKEY *leaf_key; /* owned reference */
    X509 *root;         /* owned reference: the trusted root it ends in */
    int root_index;     /* which pinned root; -1: the simulator root */
    bool simulated;     /* ends in the simulator root */
    int64_t not_after;  /* earliest notAfter in the chain */
} mk_tee_chain;

/* Verify a PEM chain (leaf first, at most three certificates; a trailing
 * self-issued root copy must equal a trusted root byte for byte and is then
 * the only root tried) to a trusted root at time `now`: signatures,
 * validity windows, CA constraints, the store's signature algorithms, and
 * the shape leaf <- root or leaf <- intermediate <- root. The data is
 * capped at MK_TEE_CERT_DATA_MAX. Reasons name the certificate and the
 * failure ("certificate 'X' expired at 2025-..."). Free with
 * mk_tee_chain_free. */
int mk_tee_chain_verify_pem(mk_tee_trust *t, const char *pem, size_t len, int64_t now,
                            mk_tee_chain *out, mk_error *err);
/* The same for certificates already parsed (borrowed; leaf first, n <= 3),
 * with `pool` (may be NULL) holding further candidate intermediates (at
 * most MK_TEE_CHAIN_POOL_MAX; e.g. a platform's built-in CA certificates)
 * that OpenSSL may use to build the path. */
int mk_tee_chain_verify_certs(mk_tee_trust *t, X509 *const *certs, size_t n, X509 *const *pool,
                              size_t npool, int64_t now, mk_tee_chain *out, mk_error *err);
/* A copy with its own references. */
void mk_tee_chain_copy(const mk_tee_chain *src, mk_tee_chain *dst);
void mk_tee_chain_free(mk_tee_chain *c);

/* ------------------------------------------------------------------ */
/* fetch.c                                                             */
/* ------------------------------------------------------------------ */

#define MK_TEE_HTTP_BODY_MAX (256 * 1024) /* default cap on a response body */
#define MK_TEE_HTTP_HEADERS_MAX 4         /* response headers one GET captures */

/* Options of an HTTP client; zero means the default given. */
typedef struct mk_tee_http_opts {
    long timeout_ms;        /* per attempt (connect and transfer); 0: 10000 */
    bool insecure_http_ok;  /* allow http:// (tests against a local server) */
    size_t body_max;        /* cap on a body; 0: MK_TEE_HTTP_BODY_MAX */
    size_t header_max;      /* cap on a captured header value; 0: 3 * MK_TEE_CERT_DATA_MAX */
    const char *user_agent; /* copied; NULL: "mosaik-tee/1" */
    /* HTTP 429 / 503: attempts in all (<= 1: one, and a 429 is an error),
     * the first backoff without Retry-After (0: 1000 ms, doubled per
     * attempt), the cap on one wait and on Retry-After (0: 30000 ms), the
     * cap on all waits of one request (0: 120000 ms). */
    int max_attempts;
    long backoff_ms;
    long backoff_max_ms;
    long retry_budget_ms;
} mk_tee_http_opts;

typedef struct mk_tee_http_response {
    long status;
    mk_buf body;                        /* at most body_max bytes */
    char *hdr[MK_TEE_HTTP_HEADERS_MAX]; /* values of the names asked for (NULL: absent) */
    int attempts;                       /* requests made (more than 1 after a 429) */
} mk_tee_http_response;

/* A client reusing one connection pool; not shared between threads. */
typedef struct mk_tee_http mk_tee_http;

int mk_tee_http_new(const mk_tee_http_opts *o, mk_tee_http **out, mk_error *err);
void mk_tee_http_free(mk_tee_http *h);
/* GET url, capturing the response headers named by hdr_names (NULL or
 * NULL-terminated, at most MK_TEE_HTTP_HEADERS_MAX). 0 only for HTTP 200
 * (r then owns body and headers: mk_tee_http_response_free); MK_ENOTFOUND
 * for 404, MK_EBUSY when rate limiting outlasts the options, MK_ETOOBIG,
 * MK_ETIMEDOUT, MK_EPOLICY (scheme), MK_ENETWORK otherwise. */
int mk_tee_http_get(mk_tee_http *h, const char *url, const char *const *hdr_names,
                    mk_tee_http_response *r, mk_error *err);
void mk_tee_http_response_free(mk_tee_http_response *r);
/* https://, or http:// too when http_ok. */
bool mk_tee_url_scheme_ok(const char *url, bool http_ok);
/* A Retry-After value (delta seconds or an HTTP-date) as seconds to wait
 * from now (0 for a date in the past); false when unreadable. */
bool mk_tee_retry_after(const char *value, int64_t now, int64_t *seconds);

/* ------------------------------------------------------------------ */
/* cache.c                                                             */
/* ------------------------------------------------------------------ */

/* Cache entries are files dir/name; a name is 1..200 of [A-Za-z0-9._-],
 * not starting with '.', so it can never leave dir. */
int mk_tee_cache_path(const char *dir, const char *name, char *out, size_t n, mk_error *err);
/* Read an entry (a regular file, not followed through a symlink) of at
 * most max bytes, appended to out; MK_ENOTFOUND when absent. */
int mk_tee_cache_read(const char *dir, const char *name, size_t max, mk_buf *out, mk_error *err);
/* Write an entry atomically: dir is created (mode 0700) when missing, the
 * data go to a fresh temporary file (O_EXCL | O_NOFOLLOW) renamed over the
 * entry, so readers see the old or the new content, never a mix. */
int mk_tee_cache_write(const char *dir, const char *name, const void *data, size_t len,
                       mk_error *err);
/* Remove an entry (best effort). */
void mk_tee_cache_remove(const char *dir, const char *name);

/* ------------------------------------------------------------------ */
/* ticket.c, zstd.c                                                    */
/* ------------------------------------------------------------------ */

/* A platform's tickets: one static description per platform, its tag. */
typedef struct mk_tee_ticket_format {
    mk_tee_platform platform;
    const char *label;             /* in reasons: "TDX ticket" */
    const char *class_name;        /* mk_id_from_name(class_name) is the ticket class */
    const char *domain;            /* the report-data domain (mk_tee_report_data) */
    const char *evidence_name;     /* "quote" */
    const char *endorsements_name; /* "collateral" */
    uint64_t version;              /* key 0 */
    size_t evidence_max;           /* cap on key 6 */
    size_t endorsements_max;       /* cap on key 7 */
    bool endorsements_text;        /* key 7 is text: no NUL byte, kept NUL-terminated */
} mk_tee_ticket_format;

/* A decoded (or to-be-encoded) envelope. */
typedef struct mk_tee_ticket {
    const mk_tee_ticket_format *format;
    mk_tee_extra_data extra;
    uint8_t *evidence; /* owned */
    size_t evidence_len;
    uint8_t *endorsements; /* owned; NULL when absent; NUL-terminated if text */
    size_t endorsements_len;
} mk_tee_ticket;

/* Copies of evidence and endorsements (endorsements NULL: none), within
 * the format's caps. */
int mk_tee_ticket_init(const mk_tee_ticket_format *f, mk_tee_ticket *t, const mk_tee_extra_data *x,
                       const uint8_t *evidence, size_t evidence_len, const uint8_t *endorsements,
                       size_t endorsements_len, mk_error *err);
void mk_tee_ticket_free(mk_tee_ticket *t);
/* The canonical CBOR, and the wire form (zstd of it, at most
 * MK_TICKET_MAX_DATA), appended to out; the same ticket always gives the
 * same bytes. */
int mk_tee_ticket_encode_cbor(const mk_tee_ticket *t, mk_buf *out, mk_error *err);
int mk_tee_ticket_encode(const mk_tee_ticket *t, mk_buf *out, mk_error *err);
/* Decoding; on failure *t is zeroed and nothing is allocated. */
int mk_tee_ticket_decode_cbor(const mk_tee_ticket_format *f, const uint8_t *data, size_t len,
                              mk_tee_ticket *t, mk_error *err);
int mk_tee_ticket_decode(const mk_tee_ticket_format *f, const uint8_t *data, size_t len,
                         mk_tee_ticket *t, mk_error *err);
/* The class id, and conversions to / from generic tickets. */
void mk_tee_ticket_class(const mk_tee_ticket_format *f, mk_id *out);
int mk_tee_ticket_to_generic(const mk_tee_ticket *t, mk_ticket *out, mk_error *err);
int mk_tee_ticket_from_generic(const mk_tee_ticket_format *f, const mk_ticket *in, mk_tee_ticket *t,
                               mk_error *err);

/* The report-data preimage: its length for a domain, and writing it (0 when
 * cap is too small or the domain too long). */
size_t mk_tee_extra_data_encoded_len(const char *domain);
size_t mk_tee_extra_data_encode(const char *domain, const mk_tee_extra_data *x, uint8_t *out,
                                size_t cap);
/* report_data equals mk_tee_report_data(domain, x) (constant time). */
bool mk_tee_binds(const char *domain, const mk_tee_extra_data *x,
                  const uint8_t report_data[MK_TEE_REPORT_DATA_LEN]);

/* Decompress one zstd frame into out, refusing more than max bytes of
 * output (without allocating beyond max) and bytes after the frame. */
int mk_tee_zstd_decompress_capped(const uint8_t *data, size_t len, size_t max, mk_buf *out,
                                  mk_error *err);

/* ------------------------------------------------------------------ */
/* checks.c                                                            */
/* ------------------------------------------------------------------ */

/* The freshness limits as 24 bytes (three i64be) of a validator's
 * signature. */
void mk_tee_freshness_encode(const mk_tee_freshness *f, mk_buf *b);
/* Sort n variants of `size` bytes by cmp and drop duplicates; the new
 * count. */
size_t mk_tee_variants_normalize(void *variants, size_t n, size_t size,
                                 int (*cmp)(const void *, const void *));
/* At least one of n variants matches (match returns 0), or n is 0; else
 * MK_EMISMATCH "no variant matches (1: <why>; 2: <why>)". */
int mk_tee_check_variants(const void *variants, size_t n, size_t size,
                          int (*match)(const void *variant, const void *ctx, mk_error *err),
                          const void *ctx, mk_error *err);

/* ------------------------------------------------------------------ */
/* platform.c, provider.c                                              */
/* ------------------------------------------------------------------ */

/* Append a register (name shorter than 16, value at most
 * MK_TEE_REGISTER_MAX bytes): MK_EINVAL, MK_ETOOBIG when full. */
int mk_tee_measurements_add(mk_tee_measurements *m, const char *name, const uint8_t *value,
                            size_t len);

#define MK_TEE_PROVIDER_DEFAULT_TIMEOUT_MS 30000u

/* One provider kind. The operations' arguments are already checked
 * (non-NULL, report data of MK_TEE_REPORT_DATA_LEN bytes). A platform may
 * embed this table as the first member of a larger one of its own. */
typedef struct mk_tee_provider_ops {
    const char *name;                   /* mk_tee_provider_name */
    mk_tee_platform platform;           /* == ticket->platform */
    bool is_simulated;                  /* mk_tee_provider_is_simulated */
    const mk_tee_ticket_format *ticket; /* the tickets its evidence goes into */
    bool (*available)(const mk_tee_provider *p, mk_error *err);
    /* Evidence for rd replacing *evidence; aux NULL: not wanted. */
    int (*evidence)(mk_tee_provider *p, const uint8_t rd[MK_TEE_REPORT_DATA_LEN], mk_buf *evidence,
                    mk_buf *aux, mk_error *err);
    int (*measurements)(mk_tee_provider *p, mk_tee_measurements *out, mk_error *err);
    void (*destroy)(mk_tee_provider *p); /* releases p->state (may be NULL) */
} mk_tee_provider_ops;

struct mk_tee_provider {
    const mk_tee_provider_ops *ops;
    atomic_uint timeout_ms;
    void *state; /* the kind's */
};

/* A provider of a kind, holding state (NULL when out of memory or when the
 * table is incomplete; state is then the caller's to free). */
mk_tee_provider *mk_tee_provider_alloc(const mk_tee_provider_ops *ops, void *state);
uint32_t mk_tee_provider_timeout_ms(const mk_tee_provider *p);

/* ------------------------------------------------------------------ */
/* attr.c                                                              */
/* ------------------------------------------------------------------ */

#define MK_TEE_ATTR_SMALL_MAX 256 /* cap for provider/generation/register files */

void mk_tee_sleep_ms(unsigned ms);
uint64_t mk_tee_mono_ms(void);
/* EBUSY, EAGAIN, EINTR. */
bool mk_tee_errno_transient(int e);
/* Read a whole attribute into b (reset first), at most max bytes: 0, or
 * -errno (-EFBIG over the cap). */
int mk_tee_attr_read(const char *path, size_t max, mk_buf *b);
/* Write exactly n bytes in one write(): 0 or -errno. */
int mk_tee_attr_write(const char *path, const void *data, size_t n);
/* A small attribute as text, trailing whitespace and NULs stripped. */
int mk_tee_attr_read_text(const char *path, char *out, size_t outsz);

/* ------------------------------------------------------------------ */
/* tsm.c                                                               */
/* ------------------------------------------------------------------ */

#define MK_TEE_TSM_INBLOB_MAX 64

typedef struct mk_tee_tsm_request {
    const char *dir;      /* the report dir; NULL: MK_TEE_TSM_REPORT_DIR */
    const char *provider; /* the kernel provider wanted: "tdx_guest", "sev_guest" */
    const char *guest;    /* in reasons: "not a TDX guest" */
    const char *what;     /* what outblob holds, in reasons ("quote"); NULL: "report" */
    const uint8_t *inblob;
    size_t inblob_len; /* 1..MK_TEE_TSM_INBLOB_MAX (sev_guest wants exactly 64) */
    int privlevel;     /* < 0: not written; 0..3: written before inblob */
    size_t outblob_max;
    size_t auxblob_max;  /* 0: auxblob not read */
    uint32_t timeout_ms; /* the whole request, retries included */
} mk_tee_tsm_request;

/* One report: outblob replaces *out, auxblob (when asked for and aux is
 * not NULL) replaces *aux; both unchanged on failure. MK_EUNAVAILABLE (no
 * report dir), MK_EMISMATCH (another provider), MK_EBUSY (concurrent
 * writers persisted through the bounded retries), MK_ETIMEDOUT,
 * MK_ETOOBIG, MK_EIO, MK_EINVAL (a bad request). */
int mk_tee_tsm_report(const mk_tee_tsm_request *r, mk_buf *out, mk_buf *aux, mk_error *err);
/* Whether the report dir (NULL: the default) exists; MK_EUNAVAILABLE
 * naming it and the guest kind otherwise. */
bool mk_tee_tsm_available(const char *dir, const char *guest, mk_error *err);

/* ------------------------------------------------------------------ */
/* sim_pki.c                                                           */
/* ------------------------------------------------------------------ */

typedef enum mk_tee_sim_cert_kind {
    MK_TEE_SIM_ROOT, /* self-signed CA */
    MK_TEE_SIM_CA,   /* CA */
    MK_TEE_SIM_LEAF, /* end entity */
} mk_tee_sim_cert_kind;

/* A private extension: its dotted OID and DER value. */
typedef struct mk_tee_sim_ext {
    const char *oid;
    const uint8_t *der;
    size_t len;
} mk_tee_sim_ext;

typedef struct mk_tee_sim_cert_spec {
    mk_tee_sim_cert_kind kind;
    const char *cn;  /* subject CN */
    const char *org; /* subject O: says "simulated" */
    int pathlen;     /* roots and CAs */
    int64_t now;     /* valid [now - 1 day, now + years) */
    int years;       /* <= 0: 10 */
    const mk_tee_sim_ext *ext;
    size_t n_ext;
} mk_tee_sim_cert_spec;

/* A new EC key on curve ("P-256", "P-384"); NULL on failure. */
EVP_PKEY *mk_tee_sim_keygen(const char *curve);
/* ECDSA over msg with alg, as raw r||s of n bytes each. */
int mk_tee_sim_sign(EVP_PKEY *key, mk_hash_alg alg, const void *msg, size_t len, uint8_t *sig,
                    size_t n, mk_error *err);
/* An EC key's point as raw x||y of n bytes each. */
int mk_tee_sim_pub_raw(EVP_PKEY *key, uint8_t *out, size_t n, mk_error *err);
/* A certificate for key as spec says, issued by issuer / issuer_key (for a
 * root: issuer NULL, issuer_key its own key); NULL on failure. */
X509 *mk_tee_sim_cert(const mk_tee_sim_cert_spec *spec, EVP_PKEY *key, X509 *issuer,
                      EVP_PKEY *issuer_key);
/* An empty CRL by issuer, valid [now - 1 h, now + 30 days], appended to
 * der. */
int mk_tee_sim_crl(X509 *issuer, EVP_PKEY *key, int64_t now, mk_buf *der, mk_error *err);
/* The PEM of up to three certificates (NULL ones skipped) as one
 * NUL-terminated string (malloc'd); *len without the NUL when len. */
char *mk_tee_sim_pem_chain(X509 *a, X509 *b, X509 *c, size_t *len);
/* Publish a simulator's state at `path` exactly once among racing
 * processes: save(ctx, tmp) writes a private name beside it, then link()
 * makes it `path`. 0: this call created it; 1: another process had (load
 * theirs); else a negative MK_E* with the reason. The private name is
 * always removed. */
int mk_tee_sim_publish(const char *path,
                       int (*save)(const void *ctx, const char *tmp, mk_error *err),
                       const void *ctx, mk_error *err);

#endif
