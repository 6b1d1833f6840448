/*
 * tee/trust.c — trust stores and certificate chains, for every platform.
 *
 * Trust store. A mk_tee_trust holds the platform's pinned roots (Intel's
 * SGX Root CA; AMD's ARKs), each checked at creation against the SHA-256
 * the platform pins, and, only after an explicit mk_tee_trust_add_sim_root,
 * one simulator root. Each root has its own OpenSSL X509_STORE, shared
 * read-only by concurrent verifications; separate stores mean that a root
 * carrying another's name (a simulator root named like Intel's, a Milan
 * ARK and a Genoa ASK) can never be picked as the issuer of the other's
 * certificates while a path is built. The pinned roots are fixed once the
 * store exists; the simulator root is guarded by the store's mutex.
 *
 * Chain verification (mk_tee_chain_verify_pem / _certs):
 *   1. The PEM text (capped at MK_TEE_CERT_DATA_MAX) is split into at most
 *      three certificates, leaf first. A malformed PEM block is an error;
 *      text after the last block is ignored.
 *   2. If the last certificate is self-issued (subject == issuer), it must be
 *      byte for byte one of the trusted roots. A self-made certificate named
 *      like a real root fails here, before any chain building, so a forged
 *      root can never be mistaken for the real one by name. The copy is then
 *      dropped: the store's own root is the anchor.
 *   3. The leaf must not be self-issued. (It may be a CA: TDX's PCK CRL
 *      issuer chain's "leaf" is the Platform CA.)
 *   4. OpenSSL builds and checks the path (X509_verify_cert) at the explicit
 *      time `now` (X509_VERIFY_PARAM_set_time) against the store of the
 *      root copy's root, or (no copy) each pinned root's store in order and
 *      then the simulator's: every signature, every validity window, CA
 *      basic constraints and path lengths. The path must be leaf <- root or
 *      leaf <- intermediate <- root. The first store's failure is reported,
 *      unless it only says "untrusted" and a later store got further.
 *   5. Every certificate of the built path must carry a signature algorithm
 *      the store accepts (x509.c). This runs after OpenSSL's checks, so a
 *      chain that fails them is always reported for that failure.
 *   6. OpenSSL's error is turned into a reason naming the certificate by its
 *      common name and, for windows, the RFC 3339 time; the reasons for an
 *      untrusted root use the platform's words (mk_tee_trust_config).
 *
 * Parsing. PEM blocks are read with PEM_bytes_read_bio (the same block
 * selection and errors as PEM_read_bio_X509) and the DER goes to
 * cert_from_der: bytes exactly a trusted root's DER give the root's own
 * object; others go through the store's cert cache (x509.c), so each
 * certificate is parsed once per store. Pinned roots are parsed and checked
 * once per process (x509.c's pinned cache).
 *
 * Warm path. A successful cold verification remembers the certificate
 * directly under the root (keyed by the SHA-256 of its DER, with the
 * intersection of its and its root's validity window, and the root it
 * ended in): the intermediate of a three-certificate chain, together with
 * a private X509_STORE in which it is the only, trusted, certificate; or
 * the leaf of a two-certificate chain (no store). A later chain with the
 * same intermediate, at a time inside the cached window, is verified
 * against that store with X509_V_FLAG_PARTIAL_CHAIN: only the leaf's
 * signature and the windows are checked, not the intermediate's signature
 * again. A later chain whose leaf (with no intermediate given) is a
 * remembered certificate, inside its window, is [leaf, root] without
 * signature work: the same bytes verified under the same root, and every
 * check OpenSSL makes of a certificate in the leaf position it also makes
 * (or a stricter one) in the intermediate position, while nothing but the
 * windows depends on the time. Entries for leaves are never used as
 * issuers. The cache is bounded (TRUST_CACHE_MAX entries, least recently
 * used evicted), protected by the mutex, and stores are reference counted
 * so eviction never frees a store in use by another thread. Roots are only
 * ever added, so a cached success stays correct inside its window.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "crypto/ossl.h"
#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "tee/tee_internal.h"

#define TRUST_CACHE_MAX 32
#define CHAIN_MAX_CERTS 3
#define SIM_ROOT (-1)

/* A certificate verified up to a trusted root that issued it directly: an
 * intermediate (then `store` holds it alone, as trusted, for the leaves
 * below it) or a leaf of a two-certificate chain (store NULL). */
typedef struct icache_entry {
    bool used;
    uint8_t hash[MK_SHA256_LEN];   /* SHA-256 of the certificate's DER */
    X509_STORE *store;             /* intermediates: holds only it, as trusted */
    int64_t not_before, not_after; /* intersection of its and the root's windows */
    int root;                      /* pinned root index, or SIM_ROOT */
    uint64_t last_use;
} icache_entry;

typedef struct root_entry {
    X509 *cert;
    X509_STORE *store;           /* cert only */
    uint8_t hash[MK_SHA256_LEN]; /* of its DER (the pin) */
} root_entry;

struct mk_tee_trust {
    mk_tee_trust_config cfg;
    root_entry roots[MK_TEE_TRUST_ROOTS_MAX];
    size_t n_roots;
    X509 *sim_root;        /* NULL unless added; under mu */
    X509_STORE *sim_store; /* sim_root only; NULL unless added */
    uint8_t sim_hash[MK_SHA256_LEN];
    pthread_mutex_t mu;
    icache_entry cache[TRUST_CACHE_MAX];
    mk_tee_cert_cache *parsed; /* certificates parsed for this store */
    uint64_t tick;
};

/* ------------------------------------------------------------------ */
/* Reasons                                                             */
/* ------------------------------------------------------------------ */

/* Does the subject look like a simulator's test root? Used only to word
 * the refusal; trust never depends on it. */
static bool looks_simulated(X509 *x) {
    char s[256];
    X509_NAME_oneline(X509_get_subject_name(x), s, sizeof s);
    return strcasestr(s, "simulat") || strcasestr(s, "mosaik") || strcasestr(s, "test root");
}

/* " (a simulator root is not trusted unless you pass <hint>)", or "". */
static void hint_text(const mk_tee_trust *t, char *out, size_t n) {
    out[0] = 0;
    if (t->cfg.sim_hint)
        snprintf(out, n, " (a simulator root is not trusted unless you pass %s)", t->cfg.sim_hint);
}

static int untrusted_root_error(const mk_tee_trust *t, X509 *root, mk_error *err) {
    char nm[128], hint[256];
    mk_tee_cert_name(root, nm, sizeof nm);
    if (looks_simulated(root)) {
        if (t->cfg.sim_hint)
            return mk_error_set(err, MK_EUNTRUSTED,
                                "chain ends in the simulator root '%s'; the simulator root is not "
                                "trusted; pass %s",
                                nm, t->cfg.sim_hint);
        return mk_error_set(err, MK_EUNTRUSTED,
                            "chain ends in the simulator root '%s'; the simulator root is not "
                            "trusted",
                            nm);
    }
    hint_text(t, hint, sizeof hint);
    return mk_error_set(err, MK_EUNTRUSTED, "chain does not end in %s: its root '%s' is not %s%s",
                        t->cfg.anchor, nm, t->cfg.pinned, hint);
}

/* ------------------------------------------------------------------ */
/* Trust store                                                         */
/* ------------------------------------------------------------------ */

/* A self-issued CA whose self-signature verifies. */
static int check_root_cert(X509 *x, const char *what, mk_error *err) {
    if (!mk_tee_self_issued(x) || X509_check_ca(x) == 0)
        return mk_error_set(err, MK_EMALFORMED, "%s: not a self-issued CA certificate", what);
    if (X509_verify(x, X509_get0_pubkey(x)) != 1) {
        ERR_clear_error();
        return mk_error_set(err, MK_EBADSIG, "%s: self-signature does not verify", what);
    }
    return 0;
}

static X509_STORE *store_of(X509 *x) {
    X509_STORE *s = X509_STORE_new();
    if (!s || X509_STORE_add_cert(s, x) != 1) {
        X509_STORE_free(s);
        ERR_clear_error();
        return NULL;
    }
    return s;
}

static int add_pinned(mk_tee_trust *t, const mk_tee_root *r, mk_error *err) {
    uint8_t h[MK_SHA256_LEN];
    if (!r->der || !r->sha256) return mk_error_set(err, MK_EINVAL, "pinned root: missing");
    mk_sha256(r->der, r->len, h);
    if (!mk_ct_equal(h, r->sha256, sizeof h))
        return mk_error_set(err, MK_EUNTRUSTED, "pinned root: SHA-256 does not match its pin");
    root_entry *e = &t->roots[t->n_roots];
    memcpy(e->hash, h, sizeof h);
    if (mk_tee_pinned_get(h, &e->cert, &e->store)) {
        t->n_roots++;
        return 0;
    }
    X509 *x = mk_tee_x509_from_der(r->der, r->len);
    if (!x) return mk_error_set(err, MK_EMALFORMED, "pinned root: not a DER certificate");
    int rc = check_root_cert(x, "pinned root", err);
    X509_STORE *s = rc == 0 ? store_of(x) : NULL;
    if (rc == 0 && !s) rc = mk_error_set(err, MK_ENOMEM, "pinned root: cannot make a store");
    if (rc < 0) {
        X509_free(x);
        return rc;
    }
    mk_tee_pinned_put(h, x, s);
    e->cert = x;
    e->store = s;
    t->n_roots++;
    return 0;
}

int mk_tee_trust_new(const mk_tee_trust_config *cfg, const mk_tee_root *roots, size_t n,
                     mk_tee_trust **out, mk_error *err) {
    *out = NULL;
    if (!cfg || !cfg->anchor || !cfg->pinned || (n && !roots))
        return mk_error_set(err, MK_EINVAL, "trust store: incomplete configuration");
    if (n > MK_TEE_TRUST_ROOTS_MAX)
        return mk_error_set(err, MK_ETOOBIG, "trust store: more than %d pinned roots",
                            MK_TEE_TRUST_ROOTS_MAX);
    mk_tee_trust *t = calloc(1, sizeof *t);
    if (!t) return mk_error_set(err, MK_ENOMEM, "out of memory");
    t->cfg = *cfg;
    if (!(t->parsed = mk_tee_cert_cache_new()) || pthread_mutex_init(&t->mu, NULL) != 0) {
        mk_tee_cert_cache_free(t->parsed);
        free(t);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int rc = add_pinned(t, &roots[i], err);
        if (rc < 0) {
            mk_tee_trust_free(t);
            return rc;
        }
    }
    *out = t;
    return 0;
}

/* Is x (byte for byte) a trusted root? Sets *idx (SIM_ROOT for the
 * simulator's). */
static bool is_trusted_root(mk_tee_trust *t, X509 *x, int *idx) {
    for (size_t i = 0; i < t->n_roots; i++)
        if (mk_tee_same_der(x, t->roots[i].cert)) {
            *idx = (int)i;
            return true;
        }
    pthread_mutex_lock(&t->mu);
    bool s = t->sim_root && mk_tee_same_der(x, t->sim_root);
    pthread_mutex_unlock(&t->mu);
    if (s) *idx = SIM_ROOT;
    return s;
}

int mk_tee_trust_add_sim_root(mk_tee_trust *t, const uint8_t *der, size_t len, mk_error *err) {
    if (!t || !der) return mk_error_set(err, MK_EINVAL, "simulator root: no certificate");
    if (len > MK_TEE_CERT_DATA_MAX)
        return mk_error_set(err, MK_ETOOBIG, "simulator root: %zu bytes exceed the cap", len);
    X509 *x = mk_tee_x509_from_der(der, len);
    if (!x) return mk_error_openssl(err, MK_EMALFORMED, "simulator root: not a DER certificate");
    int rc = check_root_cert(x, "simulator root", err);
    int idx;
    if (rc < 0 || (is_trusted_root(t, x, &idx) && idx >= 0)) goto out; /* pinned: trusted */
    pthread_mutex_lock(&t->mu);
    if (t->sim_root) {
        if (!mk_tee_same_der(x, t->sim_root))
            rc = mk_error_set(err, MK_ESTATE, "simulator root: a different one is already trusted");
    } else {
        X509_STORE *s = store_of(x);
        if (!s) {
            rc = mk_error_openssl(err, MK_ECRYPTO, "simulator root: cannot add to a store");
        } else {
            t->sim_store = s;
            t->sim_root = x;
            mk_sha256(der, len, t->sim_hash);
            x = NULL;
        }
    }
    pthread_mutex_unlock(&t->mu);
out:
    X509_free(x);
    return rc;
}

void mk_tee_trust_free(mk_tee_trust *t) {
    if (!t) return;
    for (size_t i = 0; i < TRUST_CACHE_MAX; i++)
        if (t->cache[i].used) X509_STORE_free(t->cache[i].store);
    mk_tee_cert_cache_free(t->parsed);
    for (size_t i = 0; i < t->n_roots; i++) {
        X509_STORE_free(t->roots[i].store);
        X509_free(t->roots[i].cert);
    }
    X509_STORE_free(t->sim_store);
    X509_free(t->sim_root);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

X509 *mk_tee_trust_root(mk_tee_trust *t, int i) {
    if (!t) return NULL;
    if (i >= 0) return (size_t)i < t->n_roots ? t->roots[i].cert : NULL;
    pthread_mutex_lock(&t->mu);
    X509 *r = t->sim_root;
    pthread_mutex_unlock(&t->mu);
    return r;
}

unsigned mk_tee_trust_sigalgs(const mk_tee_trust *t) {
    return t ? t->cfg.sigalgs : 0;
}

/* ---- intermediate cache ---- */

/* Returns an up-referenced store for the intermediate if cached and `now`
 * is inside its window, else NULL. */
static X509_STORE *icache_get(mk_tee_trust *t, const uint8_t hash[32], int64_t now, int *root) {
    X509_STORE *s = NULL;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < TRUST_CACHE_MAX; i++) {
        icache_entry *e = &t->cache[i];
        if (!e->used || memcmp(e->hash, hash, 32) != 0) continue;
        if (e->store && now >= e->not_before && now < e->not_after &&
            X509_STORE_up_ref(e->store) == 1) {
            e->last_use = ++t->tick;
            *root = e->root;
            s = e->store;
        }
        break;
    }
    pthread_mutex_unlock(&t->mu);
    return s;
}

/* Is the certificate of this hash known as verified (as an intermediate or
 * a leaf) directly under a trusted root, with `now` inside the window?
 * Sets *root. */
static bool icache_known(mk_tee_trust *t, const uint8_t hash[32], int64_t now, int *root) {
    bool hit = false;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < TRUST_CACHE_MAX && !hit; i++) {
        icache_entry *e = &t->cache[i];
        if (e->used && memcmp(e->hash, hash, 32) == 0 && now >= e->not_before &&
            now < e->not_after) {
            e->last_use = ++t->tick;
            *root = e->root;
            hit = true;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return hit;
}

/* Remember a certificate verified as issued directly by root `idx`: as an
 * intermediate (with a store for the leaves below it) or as a leaf. An
 * intermediate entry is never downgraded to a leaf entry. */
static void icache_put(mk_tee_trust *t, const uint8_t hash[32], X509 *inter, X509 *root, int idx,
                       bool as_ca) {
    int64_t nb1, na1, nb2, na2;
    if (mk_tee_x509_window(inter, &nb1, &na1) < 0 || mk_tee_x509_window(root, &nb2, &na2) < 0)
        return;
    X509_STORE *s = as_ca ? store_of(inter) : NULL;
    if (as_ca && (!s || X509_STORE_set_flags(s, X509_V_FLAG_PARTIAL_CHAIN) != 1)) {
        X509_STORE_free(s);
        ERR_clear_error();
        return;
    }
    pthread_mutex_lock(&t->mu);
    icache_entry *slot = NULL;
    for (size_t i = 0; i < TRUST_CACHE_MAX && !slot; i++)
        if (t->cache[i].used && memcmp(t->cache[i].hash, hash, 32) == 0) slot = &t->cache[i];
    for (size_t i = 0; i < TRUST_CACHE_MAX && !slot; i++)
        if (!t->cache[i].used) slot = &t->cache[i];
    if (!slot) {
        slot = &t->cache[0];
        for (size_t i = 1; i < TRUST_CACHE_MAX; i++)
            if (t->cache[i].last_use < slot->last_use) slot = &t->cache[i];
    }
    if (!s && slot->used && slot->store && memcmp(slot->hash, hash, 32) == 0) {
        pthread_mutex_unlock(&t->mu); /* already known as an intermediate */
        return;
    }
    if (slot->used) X509_STORE_free(slot->store); /* others may still hold a reference */
    slot->used = true;
    memcpy(slot->hash, hash, 32);
    slot->store = s;
    slot->not_before = nb1 > nb2 ? nb1 : nb2;
    slot->not_after = na1 < na2 ? na1 : na2;
    slot->root = idx;
    slot->last_use = ++t->tick;
    pthread_mutex_unlock(&t->mu);
}

/* ------------------------------------------------------------------ */
/* Chains                                                              */
/* ------------------------------------------------------------------ */

static void free_certs(X509 **c, size_t n) {
    for (size_t i = 0; i < n; i++)
        X509_free(c[i]);
}

/* The certificate of these DER bytes: a trusted root's own object when the
 * bytes are exactly its DER, else the parse cache's (same bytes, same
 * parse), else d2i_X509 (as PEM_read_bio_X509 does: bytes after the value
 * inside the PEM block are not looked at), remembered. A new reference, or
 * NULL with OpenSSL's error queued. */
static X509 *cert_from_der(mk_tee_trust *t, const unsigned char *der, long len) {
    uint8_t h[MK_SHA256_LEN];
    mk_sha256(der, (size_t)len, h);
    X509 *x = NULL;
    for (size_t i = 0; i < t->n_roots && !x; i++)
        if (memcmp(h, t->roots[i].hash, sizeof h) == 0 && X509_up_ref(t->roots[i].cert) == 1)
            x = t->roots[i].cert;
    pthread_mutex_lock(&t->mu);
    if (!x && t->sim_root && memcmp(h, t->sim_hash, sizeof h) == 0 && X509_up_ref(t->sim_root) == 1)
        x = t->sim_root;
    pthread_mutex_unlock(&t->mu);
    return x ? x : mk_tee_cert_cache_parse(t->parsed, h, der, len);
}

/* The next CERTIFICATE block of bio, through cert_from_der; NULL at the
 * end or on error, with OpenSSL's error queued (PEM_R_NO_START_LINE when
 * there is no further block). */
static X509 *read_pem_cert(mk_tee_trust *t, BIO *bio) {
    char *name = NULL;
    unsigned char *der = NULL;
    long len = 0;
    X509 *x = NULL;
    if (PEM_bytes_read_bio(&der, &len, &name, PEM_STRING_X509, bio, NULL, NULL) == 1) {
        x = cert_from_der(t, der, len);
        if (!x) ERR_raise(ERR_LIB_PEM, ERR_R_ASN1_LIB);
    }
    OPENSSL_free(name);
    OPENSSL_free(der);
    return x;
}

X509 *mk_tee_trust_read_leaf(mk_tee_trust *t, const char *pem, size_t len) {
    if (!t || !pem || len == 0 || len > MK_TEE_CERT_DATA_MAX) return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x = bio ? read_pem_cert(t, bio) : NULL;
    BIO_free(bio);
    return x;
}

/* Split PEM text into certificates (leaf first). */
static int read_pem_certs(mk_tee_trust *t, const char *pem, size_t len, X509 **certs, size_t *n,
                          mk_error *err) {
    *n = 0;
    if (!pem || len == 0) return mk_error_set(err, MK_EMALFORMED, "empty certificate chain");
    if (len > MK_TEE_CERT_DATA_MAX)
        return mk_error_set(err, MK_ETOOBIG, "certificate chain of %zu bytes exceeds the cap %d",
                            len, MK_TEE_CERT_DATA_MAX);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = 0;
    ERR_clear_error();
    for (;;) {
        X509 *x = read_pem_cert(t, bio);
        if (!x) {
            unsigned long e = ERR_peek_last_error();
            if (*n > 0 && ERR_GET_LIB(e) == ERR_LIB_PEM &&
                ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                ERR_clear_error();
                break;
            }
            rc = *n == 0 && ERR_GET_REASON(e) == PEM_R_NO_START_LINE
                     ? mk_error_set(err, MK_EMALFORMED, "no PEM certificate found")
                     : mk_error_openssl(err, MK_EMALFORMED, "malformed PEM certificate");
            ERR_clear_error();
            break;
        }
        if (*n == CHAIN_MAX_CERTS) {
            X509_free(x);
            rc = mk_error_set(err, MK_ETOOBIG, "more than %d certificates in the chain",
                              CHAIN_MAX_CERTS);
            break;
        }
        certs[(*n)++] = x;
    }
    BIO_free(bio);
    if (rc < 0) {
        free_certs(certs, *n);
        *n = 0;
    }
    return rc;
}

/* Turn a failed X509_verify_cert into a reason. */
static int verify_error(const mk_tee_trust *t, X509_STORE_CTX *ctx, int64_t now, mk_error *err) {
    int e = X509_STORE_CTX_get_error(ctx);
    X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
    char nm[128], tb[MK_RFC3339_LEN], nowb[MK_RFC3339_LEN], iss[128], hint[256];
    mk_tee_cert_name(cur, nm, sizeof nm);
    mk_time_format_rfc3339(now, nowb);
    ERR_clear_error();
    switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        mk_tee_asn1_format(cur ? X509_get0_notAfter(cur) : NULL, tb);
        return mk_error_set(err, MK_EEXPIRED, "certificate '%s' expired at %s (now %s)", nm, tb,
                            nowb);
    case X509_V_ERR_CERT_NOT_YET_VALID:
        mk_tee_asn1_format(cur ? X509_get0_notBefore(cur) : NULL, tb);
        return mk_error_set(err, MK_ENOTYET, "certificate '%s' is not valid before %s (now %s)", nm,
                            tb, nowb);
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
        return mk_error_set(err, MK_EBADSIG, "signature of certificate '%s' does not verify", nm);
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        mk_tee_x509_name(cur ? X509_get_issuer_name(cur) : NULL, iss, sizeof iss);
        hint_text(t, hint, sizeof hint);
        return mk_error_set(err, MK_EUNTRUSTED,
                            "chain does not end in %s: no trusted issuer '%s' for certificate "
                            "'%s'%s",
                            t->cfg.anchor, iss, nm, hint);
    case X509_V_ERR_INVALID_CA:
        return mk_error_set(err, MK_EUNTRUSTED, "certificate '%s' is not a CA but issues another",
                            nm);
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
        return mk_error_set(err, MK_EUNTRUSTED, "certificate '%s': path length constraint exceeded",
                            nm);
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
        return mk_error_set(err, MK_EMALFORMED, "certificate '%s' has an unreadable validity field",
                            nm);
    default:
        return mk_error_set(err, MK_EUNTRUSTED, "certificate '%s': %s", nm,
                            X509_verify_cert_error_string(e));
    }
}

/* Run X509_verify_cert; on success returns the built chain (caller frees). */
static int run_verify(const mk_tee_trust *t, X509_STORE *store, X509 *leaf,
                      STACK_OF(X509) * untrusted, int64_t now, STACK_OF(X509) * *chain,
                      mk_error *err) {
    if (!store) return mk_error_set(err, MK_EUNTRUSTED, "no such trusted root");
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!ctx) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = 0;
    if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
        rc = mk_error_openssl(err, MK_ECRYPTO, "certificate store setup");
        goto out;
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)now);
    if (X509_verify_cert(ctx) != 1) {
        rc = verify_error(t, ctx, now, err);
        goto out;
    }
    *chain = X509_STORE_CTX_get1_chain(ctx);
    if (!*chain) rc = mk_error_set(err, MK_ENOMEM, "out of memory");
out:
    X509_STORE_CTX_free(ctx);
    return rc;
}

/* Steps 2-3: a root copy at the end must be exactly a trusted root (then
 * *copy_root says which); the leaf must not be self-issued; at most two
 * certificates below the root. *m: leaf + intermediates. */
static int check_shape(mk_tee_trust *t, X509 *const *certs, size_t n, bool *have_root_copy,
                       int *copy_root, size_t *m, mk_error *err) {
    *have_root_copy = false;
    if (n >= 2 && mk_tee_self_issued(certs[n - 1])) {
        if (!is_trusted_root(t, certs[n - 1], copy_root))
            return untrusted_root_error(t, certs[n - 1], err);
        *have_root_copy = true;
    }
    *m = *have_root_copy ? n - 1 : n;
    int idx;
    if (mk_tee_self_issued(certs[0]))
        return is_trusted_root(t, certs[0], &idx)
                   ? mk_error_set(err, MK_EMALFORMED, "the chain holds only a root certificate")
                   : untrusted_root_error(t, certs[0], err);
    if (*m > 2)
        return mk_error_set(err, MK_EMALFORMED, "chain has %zu certificates below the root (max 2)",
                            *m);
    return 0;
}

/* The stores to try, in order: the root copy's only, or every pinned
 * root's and then the simulator's (up-referenced; the caller frees). */
static size_t stores_to_try(mk_tee_trust *t, bool have_root_copy, int copy_root,
                            X509_STORE **stores) {
    size_t n = 0;
    if (have_root_copy && copy_root >= 0) {
        X509_STORE_up_ref(t->roots[copy_root].store);
        stores[n++] = t->roots[copy_root].store;
        return n;
    }
    if (!have_root_copy)
        for (size_t i = 0; i < t->n_roots; i++) {
            X509_STORE_up_ref(t->roots[i].store);
            stores[n++] = t->roots[i].store;
        }
    pthread_mutex_lock(&t->mu);
    if (t->sim_store && X509_STORE_up_ref(t->sim_store) == 1) stores[n++] = t->sim_store;
    pthread_mutex_unlock(&t->mu);
    if (n == 0) stores[n++] = NULL; /* "no such trusted root" */
    return n;
}

/* Step 4, cold: OpenSSL builds the path against each candidate store. On
 * success *chain is the built chain and *root the root it ends in; its
 * intermediate is remembered in the warm cache. */
static int verify_cold(mk_tee_trust *t, X509 *const *certs, size_t m, X509 *const *pool,
                       size_t npool, bool have_root_copy, int copy_root, bool have_inter,
                       int64_t now, STACK_OF(X509) * *chain, int *root, mk_error *err) {
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    if (!untrusted) return mk_error_set(err, MK_ENOMEM, "out of memory");
    for (size_t i = 1; i < m + npool; i++) {
        if (!sk_X509_push(untrusted, i < m ? certs[i] : pool[i - m])) {
            sk_X509_free(untrusted);
            return mk_error_set(err, MK_ENOMEM, "out of memory");
        }
    }
    X509_STORE *stores[MK_TEE_TRUST_ROOTS_MAX + 1];
    size_t ns = stores_to_try(t, have_root_copy, copy_root, stores);
    int rc = run_verify(t, stores[0], certs[0], untrusted, now, chain, err);
    for (size_t i = 1; i < ns && rc < 0; i++) {
        mk_error e2;
        mk_error_clear(&e2);
        if (run_verify(t, stores[i], certs[0], untrusted, now, chain, &e2) == 0) {
            rc = 0;
            if (err) mk_error_clear(err);
        } else if (e2.code != MK_EUNTRUSTED && rc == MK_EUNTRUSTED) {
            /* This store's path got further: report its failure. */
            rc = e2.code;
            if (err) *err = e2;
        }
    }
    for (size_t i = 0; i < ns; i++)
        X509_STORE_free(stores[i]);
    sk_X509_free(untrusted);
    if (rc < 0) return rc;
    int cn = sk_X509_num(*chain);
    X509 *top = sk_X509_value(*chain, cn - 1);
    if (cn < 2 || cn > 3)
        return mk_error_set(err, MK_EUNTRUSTED, "chain of %d certificates (want 2 or 3)", cn);
    if (!is_trusted_root(t, top, root)) return untrusted_root_error(t, top, err);
    if ((cn == 3 && have_inter) || cn == 2) {
        uint8_t h2[32];
        unsigned int l2 = 0;
        X509 *mid = sk_X509_value(*chain, cn - 2);
        if (X509_digest(mid, EVP_sha256(), h2, &l2) == 1 && l2 == 32)
            icache_put(t, h2, mid, top, *root, cn == 3);
    }
    return 0;
}

/* Step 5: the signature algorithms of the built path. */
static int check_sigalgs(const mk_tee_trust *t, STACK_OF(X509) * chain, mk_error *err) {
    for (int i = 0; i < sk_X509_num(chain); i++)
        MK_TRY(mk_tee_cert_sigalg_check(sk_X509_value(chain, i), t->cfg.sigalgs, err));
    return 0;
}

/* The result — leaf, its key, the intermediate (the second certificate
 * unless it is the root), the root, the earliest notAfter of the chain and,
 * on the warm path, of the cache entry (which folded in the root's). */
static int fill_result(mk_tee_trust *t, STACK_OF(X509) * chain, X509 *leaf, bool warm,
                       const uint8_t ihash[MK_SHA256_LEN], int root, mk_tee_chain *out,
                       mk_error *err) {
    int cn = sk_X509_num(chain);
    int64_t na = INT64_MAX;
    for (int i = 0; i < cn; i++) {
        int64_t a;
        if (!mk_tee_asn1_time(X509_get0_notAfter(sk_X509_value(chain, i)), &a))
            return mk_error_set(err, MK_EMALFORMED, "unreadable notAfter");
        if (a < na) na = a;
    }
    if (warm) {
        pthread_mutex_lock(&t->mu);
        for (size_t i = 0; i < TRUST_CACHE_MAX; i++)
            if (t->cache[i].used && memcmp(t->cache[i].hash, ihash, 32) == 0 &&
                t->cache[i].not_after < na)
                na = t->cache[i].not_after;
        pthread_mutex_unlock(&t->mu);
    }
    X509 *r = mk_tee_trust_root(t, root);
    out->leaf_key = X509_get_pubkey(leaf);
    if (!out->leaf_key || !r) return mk_error_openssl(err, MK_EMALFORMED, "leaf public key");
    X509_up_ref(leaf);
    out->leaf = leaf;
    if (cn == 3 || (warm && cn == 2)) {
        out->intermediate = sk_X509_value(chain, 1);
        X509_up_ref(out->intermediate);
    }
    X509_up_ref(r);
    out->root = r;
    out->root_index = root;
    out->simulated = root == SIM_ROOT;
    out->not_after = na;
    return 0;
}

/* The chain [leaf, root] of a certificate the cache knows as verified. */
static int known_chain(mk_tee_trust *t, X509 *leaf, int root, STACK_OF(X509) * *chain,
                       mk_error *err) {
    X509 *r = mk_tee_trust_root(t, root);
    *chain = r ? sk_X509_new_null() : NULL;
    for (int i = 0; i < 2 && *chain; i++) {
        X509 *x = i == 0 ? leaf : r;
        if (X509_up_ref(x) != 1) break;
        if (!sk_X509_push(*chain, x)) {
            X509_free(x);
            break;
        }
    }
    if (*chain && sk_X509_num(*chain) == 2) return 0;
    sk_X509_pop_free(*chain, X509_free);
    *chain = NULL;
    return mk_error_set(err, MK_ENOMEM, "out of memory");
}

int mk_tee_chain_verify_certs(mk_tee_trust *t, X509 *const *certs, size_t n, X509 *const *pool,
                              size_t npool, int64_t now, mk_tee_chain *out, mk_error *err) {
    if (!t || !out) return mk_error_set(err, MK_EINVAL, "no trust store");
    memset(out, 0, sizeof *out);
    if (!certs || n == 0) return mk_error_set(err, MK_EMALFORMED, "empty certificate chain");
    if (n > CHAIN_MAX_CERTS)
        return mk_error_set(err, MK_ETOOBIG, "more than %d certificates in the chain",
                            CHAIN_MAX_CERTS);
    if (npool > MK_TEE_CHAIN_POOL_MAX || (npool && !pool))
        return mk_error_set(err, MK_EINVAL, "more than %d candidate intermediates",
                            MK_TEE_CHAIN_POOL_MAX);
    STACK_OF(X509) *chain = NULL;
    X509_STORE *warm = NULL;
    int root = 0, copy_root = 0;
    bool have_root_copy = false;
    size_t m = 0;
    int rc = check_shape(t, certs, n, &have_root_copy, &copy_root, &m, err);
    if (rc < 0) return rc;

    uint8_t ihash[MK_SHA256_LEN] = {0};
    unsigned int hl = 0;
    bool have_inter = m == 2 && X509_digest(certs[1], EVP_sha256(), ihash, &hl) == 1 && hl == 32;
    if (have_inter) warm = icache_get(t, ihash, now, &root);
    uint8_t lhash[MK_SHA256_LEN];
    unsigned int ll = 0;
    bool known = m == 1 && X509_digest(certs[0], EVP_sha256(), lhash, &ll) == 1 && ll == 32 &&
                 icache_known(t, lhash, now, &root);

    if (known) {
        /* These very bytes were verified under this root, inside the window. */
        rc = known_chain(t, certs[0], root, &chain, err);
    } else if (warm) {
        /* Intermediate already verified up to a trusted root. */
        rc = run_verify(t, warm, certs[0], NULL, now, &chain, err);
        if (rc == 0 && sk_X509_num(chain) != 2)
            rc = mk_error_set(err, MK_EUNTRUSTED, "unexpected chain shape");
    } else {
        rc = verify_cold(t, certs, m, pool, npool, have_root_copy, copy_root, have_inter, now,
                         &chain, &root, err);
    }
    if (rc == 0 && have_root_copy && root != copy_root)
        rc = mk_error_set(err, MK_EUNTRUSTED, "the chain's root copy is not the root it ends in");
    if (rc == 0) rc = check_sigalgs(t, chain, err);
    if (rc == 0) rc = fill_result(t, chain, certs[0], warm != NULL, ihash, root, out, err);
    if (rc < 0) mk_tee_chain_free(out);
    sk_X509_pop_free(chain, X509_free);
    X509_STORE_free(warm);
    return rc;
}

int mk_tee_chain_verify_pem(mk_tee_trust *t, const char *pem, size_t len, int64_t now,
                            mk_tee_chain *out, mk_error *err) {
    if (!t || !out) return mk_error_set(err, MK_EINVAL, "no trust store");
    memset(out, 0, sizeof *out);
    X509 *certs[CHAIN_MAX_CERTS] = {NULL};
    size_t n = 0;
    MK_TRY(read_pem_certs(t, pem, len, certs, &n, err));
    int rc = mk_tee_chain_verify_certs(t, certs, n, NULL, 0, now, out, err);
    free_certs(certs, n);
    return rc;
}

void mk_tee_chain_copy(const mk_tee_chain *src, mk_tee_chain *dst) {
    *dst = *src;
    if (dst->leaf) X509_up_ref(dst->leaf);
    if (dst->intermediate) X509_up_ref(dst->intermediate);
    if (dst->leaf_key) EVP_PKEY_up_ref(dst->leaf_key);
    if (dst->root) X509_up_ref(dst->root);
}

void mk_tee_chain_free(mk_tee_chain *c) {
    if (!c) return;
    X509_free(c->leaf);
    X509_free(c->intermediate);
    EVP_PKEY_free(c->leaf_key);
    X509_free(c->root);
    memset(c, 0, sizeof *c);
}
