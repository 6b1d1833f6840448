/*
 * tee/tdx/x509.c — trust anchors, certificate chains and CRLs for TDX.
 *
 * Trust store. A mk_tdx_trust holds the pinned Intel SGX Root CA (parsed
 * from the embedded bytes of intel_root.c) and, only after an explicit
 * mk_tdx_trust_add_sim_root(), one simulator root. Each root has its own
 * OpenSSL X509_STORE, shared read-only by concurrent verifications; separate
 * stores mean that a simulator root carrying Intel's name can never be picked
 * as the issuer of an Intel certificate (or the reverse) while a path is
 * built.
 *
 * Chain verification (mk_tdx_chain_verify_pem):
 *   1. The PEM text (capped at MK_TDX_CERT_DATA_MAX) is split into at most
 *      three certificates, leaf first. A malformed PEM block is an error; text
 *      after the last block is ignored.
 *   2. If the last certificate is self-issued (subject == issuer), it must be
 *      byte-for-byte one of the trusted roots. A self-made certificate named
 *      "Intel SGX Root CA" fails here, before any chain building, so a forged
 *      root can never be mistaken for the real one by name. The copy is then
 *      dropped: the store's own root is the anchor.
 *   3. The leaf must not be self-issued. (It may be a CA: the PCK CRL issuer
 *      chain's "leaf" is the Platform CA.)
 *   4. OpenSSL builds and checks the path (X509_verify_cert) at the explicit
 *      time `now` (X509_VERIFY_PARAM_set_time) against the store of the
 *      root copy's root, or (no copy) Intel's store and then the
 *      simulator's: every signature, every
 *      validity window, CA basic constraints and path lengths. The path must
 *      be leaf <- root or leaf <- intermediate <- root.
 *   5. OpenSSL's error is turned into a reason naming the certificate by its
 *      common name and, for windows, the RFC 3339 time.
 *
 * Warm path. When a chain has an intermediate, a successful cold verification
 * caches that intermediate (keyed by the SHA-256 of its DER, with the
 * intersection of its and its root's validity window, and whether the root
 * was the simulator's) together with a private X509_STORE in which it is the
 * only, trusted, certificate. A later chain with the same intermediate, at a
 * time inside the cached window, is verified against that store with
 * X509_V_FLAG_PARTIAL_CHAIN: only the leaf's signature and the windows are
 * checked, not the intermediate's signature again. The cache is bounded
 * (TRUST_CACHE_MAX entries, least recently used evicted), protected by a
 * mutex, and stores are reference counted so eviction never frees a store in
 * use by another thread.
 *
 * CRLs. mk_tdx_crl_parse accepts DER (exactly one CRL, nothing after it) or
 * PEM. mk_tdx_crl_check requires the CRL's issuer name to equal the issuer
 * certificate's subject, its signature to verify with the issuer's key, and
 * thisUpdate <= now < nextUpdate (a CRL without nextUpdate is refused). The
 * windows are half-open like OpenSSL's certificate check (notAfter <= now is
 * expired), so a CRL whose nextUpdate is now has expired.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
#include "tee/tdx/tdx_internal.h"

#define TRUST_CACHE_MAX 32
#define CHAIN_MAX_CERTS 3
#define CRL_MAX MK_TDX_COLLATERAL_MAX

typedef struct icache_entry {
    bool used;
    uint8_t hash[MK_SHA256_LEN];   /* SHA-256 of the intermediate's DER */
    X509_STORE *store;             /* holds only the intermediate, as trusted */
    int64_t not_before, not_after; /* intersection of intermediate and root windows */
    bool simulated;
    uint64_t last_use;
} icache_entry;

struct mk_tdx_trust {
    X509 *intel_root;
    X509 *sim_root;        /* NULL unless added */
    X509_STORE *store;     /* intel_root only */
    X509_STORE *sim_store; /* sim_root only; NULL unless added */
    pthread_mutex_t mu;
    icache_entry cache[TRUST_CACHE_MAX];
    uint64_t tick;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* ASN1_TIME to seconds since the epoch; false if it cannot be read. */
static bool asn1_epoch(const ASN1_TIME *t, int64_t *out) {
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return false;
    *out = mk_time_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec);
    return true;
}

int mk_tdx_x509_window(const X509 *x, int64_t *not_before, int64_t *not_after) {
    if (!x || !asn1_epoch(X509_get0_notBefore(x), not_before) ||
        !asn1_epoch(X509_get0_notAfter(x), not_after))
        return MK_EMALFORMED;
    return 0;
}

static void fmt_asn1(const ASN1_TIME *t, char out[MK_RFC3339_LEN]) {
    int64_t e;
    if (asn1_epoch(t, &e))
        mk_time_format_rfc3339(e, out);
    else
        snprintf(out, MK_RFC3339_LEN, "(unreadable time)");
}

/* A name for messages: the common name, else the one-line subject. */
static void name_of(const X509_NAME *nm, char *out, size_t n) {
    out[0] = '\0';
    if (!nm) {
        snprintf(out, n, "(no name)");
        return;
    }
    int i = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
    if (i >= 0) {
        const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i));
        unsigned char *u = NULL;
        int l = ASN1_STRING_to_UTF8(&u, s);
        if (l >= 0) {
            snprintf(out, n, "%.*s", l, (const char *)u);
            OPENSSL_free(u);
            /* Keep messages printable. */
            for (char *p = out; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
            return;
        }
    }
    X509_NAME_oneline(nm, out, (int)n);
}

static void cert_name(X509 *x, char *out, size_t n) {
    name_of(x ? X509_get_subject_name(x) : NULL, out, n);
}

static bool self_issued(X509 *x) {
    return X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
}

static bool same_der(X509 *a, X509 *b) {
    if (!a || !b) return false;
    unsigned char *da = NULL, *db = NULL;
    int la = i2d_X509(a, &da), lb = i2d_X509(b, &db);
    bool eq = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;
    OPENSSL_free(da);
    OPENSSL_free(db);
    return eq;
}

/* Does the subject look like the simulator's test root? Used only to word
 * the refusal; trust never depends on it. */
static bool looks_simulated(X509 *x) {
    char s[256];
    X509_NAME_oneline(X509_get_subject_name(x), s, sizeof s);
    return strcasestr(s, "simulat") || strcasestr(s, "mosaik") || strcasestr(s, "test root");
}

static int untrusted_root_error(X509 *root, mk_error *err) {
    char nm[128];
    cert_name(root, nm, sizeof nm);
    if (looks_simulated(root))
        return mk_error_set(err, MK_EUNTRUSTED,
                            "chain ends in the simulator root '%s'; the simulator root is not "
                            "trusted; pass --trust-sim-root / mk_tdx_verifier_trust_simulator",
                            nm);
    return mk_error_set(err, MK_EUNTRUSTED,
                        "chain does not end in the Intel SGX Root CA: its root '%s' is not the "
                        "pinned Intel root (a simulator root is not trusted unless you pass "
                        "--trust-sim-root / mk_tdx_verifier_trust_simulator)",
                        nm);
}

/* ------------------------------------------------------------------ */
/* Trust store                                                         */
/* ------------------------------------------------------------------ */

static X509 *parse_der_cert(const uint8_t *der, size_t len) {
    if (!der || len == 0 || len > MK_TDX_CERT_DATA_MAX) return NULL;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x && p != der + len) {
        X509_free(x);
        return NULL;
    }
    return x;
}

mk_tdx_trust *mk_tdx_trust_new(void) {
    mk_tdx_trust *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    size_t len;
    const uint8_t *der = mk_tdx_intel_root_der(&len);
    t->intel_root = parse_der_cert(der, len);
    t->store = X509_STORE_new();
    if (!t->intel_root || !t->store || X509_STORE_add_cert(t->store, t->intel_root) != 1 ||
        pthread_mutex_init(&t->mu, NULL) != 0) {
        X509_free(t->intel_root);
        X509_STORE_free(t->store);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    return t;
}

int mk_tdx_trust_add_sim_root(mk_tdx_trust *t, const uint8_t *der, size_t len, mk_error *err) {
    if (!t || !der) return mk_error_set(err, MK_EINVAL, "simulator root: no certificate");
    if (len > MK_TDX_CERT_DATA_MAX)
        return mk_error_set(err, MK_ETOOBIG, "simulator root: %zu bytes exceed the cap", len);
    X509 *x = parse_der_cert(der, len);
    if (!x) return mk_error_openssl(err, MK_EMALFORMED, "simulator root: not a DER certificate");
    int rc = 0;
    if (!self_issued(x) || X509_check_ca(x) == 0) {
        rc = mk_error_set(err, MK_EMALFORMED, "simulator root: not a self-issued CA certificate");
        goto out;
    }
    if (X509_verify(x, X509_get0_pubkey(x)) != 1) {
        ERR_clear_error();
        rc = mk_error_set(err, MK_EBADSIG, "simulator root: self-signature does not verify");
        goto out;
    }
    if (same_der(x, t->intel_root)) goto out; /* already trusted */
    pthread_mutex_lock(&t->mu);
    if (t->sim_root) {
        if (!same_der(x, t->sim_root))
            rc = mk_error_set(err, MK_ESTATE, "simulator root: a different one is already trusted");
    } else {
        X509_STORE *s = X509_STORE_new();
        if (!s || X509_STORE_add_cert(s, x) != 1) {
            X509_STORE_free(s);
            rc = mk_error_openssl(err, MK_ECRYPTO, "simulator root: cannot add to a store");
        } else {
            t->sim_store = s;
            t->sim_root = x;
            x = NULL;
        }
    }
    pthread_mutex_unlock(&t->mu);
out:
    X509_free(x);
    return rc;
}

void mk_tdx_trust_free(mk_tdx_trust *t) {
    if (!t) return;
    for (size_t i = 0; i < TRUST_CACHE_MAX; i++)
        if (t->cache[i].used) X509_STORE_free(t->cache[i].store);
    X509_STORE_free(t->store);
    X509_STORE_free(t->sim_store);
    X509_free(t->intel_root);
    X509_free(t->sim_root);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

X509 *mk_tdx_trust_root(mk_tdx_trust *t, bool simulated) {
    if (!t) return NULL;
    if (!simulated) return t->intel_root;
    pthread_mutex_lock(&t->mu);
    X509 *r = t->sim_root;
    pthread_mutex_unlock(&t->mu);
    return r;
}

/* Is x (byte for byte) a trusted root? Sets *sim accordingly. */
static bool is_trusted_root(mk_tdx_trust *t, X509 *x, bool *sim) {
    if (same_der(x, t->intel_root)) {
        *sim = false;
        return true;
    }
    pthread_mutex_lock(&t->mu);
    bool s = t->sim_root && same_der(x, t->sim_root);
    pthread_mutex_unlock(&t->mu);
    if (s) *sim = true;
    return s;
}

/* ---- intermediate cache ---- */

/* Returns an up-referenced store for the intermediate if cached and `now`
 * is inside its window, else NULL. */
static X509_STORE *icache_get(mk_tdx_trust *t, const uint8_t hash[32], int64_t now, bool *sim) {
    X509_STORE *s = NULL;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < TRUST_CACHE_MAX; i++) {
        icache_entry *e = &t->cache[i];
        if (!e->used || memcmp(e->hash, hash, 32) != 0) continue;
        if (now >= e->not_before && now < e->not_after && X509_STORE_up_ref(e->store) == 1) {
            e->last_use = ++t->tick;
            *sim = e->simulated;
            s = e->store;
        }
        break;
    }
    pthread_mutex_unlock(&t->mu);
    return s;
}

static void icache_put(mk_tdx_trust *t, const uint8_t hash[32], X509 *inter, X509 *root, bool sim) {
    int64_t nb1, na1, nb2, na2;
    if (!asn1_epoch(X509_get0_notBefore(inter), &nb1) ||
        !asn1_epoch(X509_get0_notAfter(inter), &na1) ||
        !asn1_epoch(X509_get0_notBefore(root), &nb2) || !asn1_epoch(X509_get0_notAfter(root), &na2))
        return;
    X509_STORE *s = X509_STORE_new();
    if (!s || X509_STORE_add_cert(s, inter) != 1 ||
        X509_STORE_set_flags(s, X509_V_FLAG_PARTIAL_CHAIN) != 1) {
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
    if (slot->used) X509_STORE_free(slot->store); /* others may still hold a reference */
    slot->used = true;
    memcpy(slot->hash, hash, 32);
    slot->store = s;
    slot->not_before = nb1 > nb2 ? nb1 : nb2;
    slot->not_after = na1 < na2 ? na1 : na2;
    slot->simulated = sim;
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

/* Split PEM text into certificates (leaf first). */
static int read_pem_certs(const char *pem, size_t len, X509 **certs, size_t *n, mk_error *err) {
    *n = 0;
    if (!pem || len == 0) return mk_error_set(err, MK_EMALFORMED, "empty certificate chain");
    if (len > MK_TDX_CERT_DATA_MAX)
        return mk_error_set(err, MK_ETOOBIG, "certificate chain of %zu bytes exceeds the cap %d",
                            len, MK_TDX_CERT_DATA_MAX);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = 0;
    ERR_clear_error();
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
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
static int verify_error(X509_STORE_CTX *ctx, int64_t now, mk_error *err) {
    int e = X509_STORE_CTX_get_error(ctx);
    X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
    char nm[128], tb[MK_RFC3339_LEN], nowb[MK_RFC3339_LEN];
    cert_name(cur, nm, sizeof nm);
    mk_time_format_rfc3339(now, nowb);
    ERR_clear_error();
    switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        fmt_asn1(cur ? X509_get0_notAfter(cur) : NULL, tb);
        return mk_error_set(err, MK_EEXPIRED, "certificate '%s' expired at %s (now %s)", nm, tb,
                            nowb);
    case X509_V_ERR_CERT_NOT_YET_VALID:
        fmt_asn1(cur ? X509_get0_notBefore(cur) : NULL, tb);
        return mk_error_set(err, MK_ENOTYET, "certificate '%s' is not valid before %s (now %s)", nm,
                            tb, nowb);
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
        return mk_error_set(err, MK_EBADSIG, "signature of certificate '%s' does not verify", nm);
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: {
        char iss[128];
        name_of(cur ? X509_get_issuer_name(cur) : NULL, iss, sizeof iss);
        return mk_error_set(err, MK_EUNTRUSTED,
                            "chain does not end in the Intel SGX Root CA: no trusted issuer '%s' "
                            "for certificate '%s' (a simulator root is not trusted unless you "
                            "pass --trust-sim-root / mk_tdx_verifier_trust_simulator)",
                            iss, nm);
    }
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
static int run_verify(X509_STORE *store, X509 *leaf, STACK_OF(X509) * untrusted, int64_t now,
                      STACK_OF(X509) * *chain, mk_error *err) {
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
        rc = verify_error(ctx, now, err);
        goto out;
    }
    *chain = X509_STORE_CTX_get1_chain(ctx);
    if (!*chain) rc = mk_error_set(err, MK_ENOMEM, "out of memory");
out:
    X509_STORE_CTX_free(ctx);
    return rc;
}

/* Steps 2-3: a root copy at the end must be exactly a trusted root (then
 * *have_root_copy, *root_sim say which); the leaf must not be self-issued;
 * at most two certificates below the root. *m: leaf + intermediates. */
static int check_shape(mk_tdx_trust *t, X509 **certs, size_t n, bool *have_root_copy,
                       bool *root_sim, size_t *m, mk_error *err) {
    *have_root_copy = false;
    if (n >= 2 && self_issued(certs[n - 1])) {
        if (!is_trusted_root(t, certs[n - 1], root_sim))
            return untrusted_root_error(certs[n - 1], err);
        *have_root_copy = true;
    }
    *m = *have_root_copy ? n - 1 : n;
    if (self_issued(certs[0]))
        return is_trusted_root(t, certs[0], root_sim)
                   ? mk_error_set(err, MK_EMALFORMED, "the chain holds only a root certificate")
                   : untrusted_root_error(certs[0], err);
    if (*m > 2)
        return mk_error_set(err, MK_EMALFORMED, "chain has %zu certificates below the root (max 2)",
                            *m);
    return 0;
}

/* Step 4, cold: OpenSSL builds the path against the root copy's store, or
 * Intel's and then the simulator's. Each root has its own store, so that
 * two roots with the same name (a simulator root may imitate Intel's)
 * cannot be confused while the path is built. On success *chain is the
 * built chain, *sim whether it ends in the simulator root, and its
 * intermediate is remembered in the warm cache. */
static int verify_cold(mk_tdx_trust *t, X509 **certs, size_t m, bool have_root_copy, bool root_sim,
                       bool have_inter, int64_t now, STACK_OF(X509) * *chain, bool *sim,
                       mk_error *err) {
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    if (!untrusted) return mk_error_set(err, MK_ENOMEM, "out of memory");
    for (size_t i = 1; i < m; i++) {
        if (!sk_X509_push(untrusted, certs[i])) {
            sk_X509_free(untrusted);
            return mk_error_set(err, MK_ENOMEM, "out of memory");
        }
    }
    X509_STORE *sim_store = NULL;
    pthread_mutex_lock(&t->mu);
    if (t->sim_store && X509_STORE_up_ref(t->sim_store) == 1) sim_store = t->sim_store;
    pthread_mutex_unlock(&t->mu);
    int rc;
    if (have_root_copy && root_sim) {
        rc = run_verify(sim_store, certs[0], untrusted, now, chain, err);
    } else {
        rc = run_verify(t->store, certs[0], untrusted, now, chain, err);
        if (rc < 0 && !have_root_copy && sim_store) {
            mk_error serr;
            if (run_verify(sim_store, certs[0], untrusted, now, chain, &serr) == 0) {
                rc = 0;
                if (err) mk_error_clear(err);
            } else if (serr.code != MK_EUNTRUSTED && rc == MK_EUNTRUSTED) {
                /* The simulator path got further: report its failure. */
                rc = serr.code;
                if (err) *err = serr;
            }
        }
    }
    X509_STORE_free(sim_store);
    sk_X509_free(untrusted);
    if (rc < 0) return rc;
    int cn = sk_X509_num(*chain);
    X509 *top = sk_X509_value(*chain, cn - 1);
    if (cn < 2 || cn > 3)
        return mk_error_set(err, MK_EUNTRUSTED, "chain of %d certificates (want 2 or 3)", cn);
    if (!is_trusted_root(t, top, sim)) return untrusted_root_error(top, err);
    if (cn == 3 && have_inter) {
        uint8_t h2[32];
        unsigned int l2 = 0;
        X509 *mid = sk_X509_value(*chain, 1);
        if (X509_digest(mid, EVP_sha256(), h2, &l2) == 1 && l2 == 32)
            icache_put(t, h2, mid, top, *sim);
    }
    return 0;
}

/* Step 5: the result — leaf, its key, the intermediate (the second
 * certificate unless it is the root), the earliest notAfter of the chain
 * and, on the warm path, of the cache entry (which folded in the root's). */
static int fill_result(mk_tdx_trust *t, STACK_OF(X509) * chain, X509 *leaf, bool warm,
                       const uint8_t ihash[MK_SHA256_LEN], bool sim, mk_tdx_chain *out,
                       mk_error *err) {
    int cn = sk_X509_num(chain);
    int64_t na = INT64_MAX;
    for (int i = 0; i < cn; i++) {
        int64_t a;
        if (!asn1_epoch(X509_get0_notAfter(sk_X509_value(chain, i)), &a))
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
    out->leaf_key = X509_get_pubkey(leaf);
    if (!out->leaf_key) return mk_error_openssl(err, MK_EMALFORMED, "leaf public key");
    X509_up_ref(leaf);
    out->leaf = leaf;
    if (cn == 3 || (warm && cn == 2)) {
        out->intermediate = sk_X509_value(chain, 1);
        X509_up_ref(out->intermediate);
    }
    out->simulated = sim;
    out->not_after = na;
    return 0;
}

int mk_tdx_chain_verify_pem(mk_tdx_trust *t, const char *pem, size_t len, int64_t now,
                            mk_tdx_chain *out, mk_error *err) {
    if (!t || !out) return mk_error_set(err, MK_EINVAL, "no trust store");
    memset(out, 0, sizeof *out);
    X509 *certs[CHAIN_MAX_CERTS] = {NULL};
    size_t n = 0, m = 0;
    MK_TRY(read_pem_certs(pem, len, certs, &n, err));

    STACK_OF(X509) *chain = NULL;
    X509_STORE *warm = NULL;
    bool sim = false, root_sim = false, have_root_copy = false;
    int rc = check_shape(t, certs, n, &have_root_copy, &root_sim, &m, err);
    if (rc < 0) goto out;

    uint8_t ihash[MK_SHA256_LEN] = {0};
    unsigned int hl = 0;
    bool have_inter = m == 2 && X509_digest(certs[1], EVP_sha256(), ihash, &hl) == 1 && hl == 32;
    if (have_inter) warm = icache_get(t, ihash, now, &sim);

    if (warm) {
        /* Intermediate already verified up to a trusted root. */
        rc = run_verify(warm, certs[0], NULL, now, &chain, err);
        if (rc == 0 && sk_X509_num(chain) != 2)
            rc = mk_error_set(err, MK_EUNTRUSTED, "unexpected chain shape");
    } else {
        rc = verify_cold(t, certs, m, have_root_copy, root_sim, have_inter, now, &chain, &sim, err);
    }
    if (rc < 0) goto out;
    if (have_root_copy && sim != root_sim) {
        rc = mk_error_set(err, MK_EUNTRUSTED, "the chain's root copy is not the root it ends in");
        goto out;
    }
    rc = fill_result(t, chain, certs[0], warm != NULL, ihash, sim, out, err);

out:
    sk_X509_pop_free(chain, X509_free);
    X509_STORE_free(warm);
    free_certs(certs, n);
    return rc;
}

void mk_tdx_chain_free(mk_tdx_chain *c) {
    if (!c) return;
    X509_free(c->leaf);
    X509_free(c->intermediate);
    EVP_PKEY_free(c->leaf_key);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------ */
/* CRLs                                                                */
/* ------------------------------------------------------------------ */

int mk_tdx_crl_parse(const uint8_t *data, size_t len, X509_CRL **out, mk_error *err) {
    if (!data || !out || len == 0) return mk_error_set(err, MK_EMALFORMED, "empty CRL");
    *out = NULL;
    if (len > CRL_MAX)
        return mk_error_set(err, MK_ETOOBIG, "CRL of %zu bytes exceeds the cap %d", len, CRL_MAX);
    X509_CRL *crl = NULL;
    static const char pem_tag[] = "-----BEGIN";
    if (len >= sizeof pem_tag - 1 && memcmp(data, pem_tag, sizeof pem_tag - 1) == 0) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (!bio) return mk_error_set(err, MK_ENOMEM, "out of memory");
        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = data;
        crl = d2i_X509_CRL(NULL, &p, (long)len);
        if (crl && p != data + len) {
            X509_CRL_free(crl);
            ERR_clear_error();
            return mk_error_set(err, MK_EMALFORMED, "CRL: %zu bytes after the DER value",
                                (size_t)(data + len - p));
        }
    }
    if (!crl) return mk_error_openssl(err, MK_EMALFORMED, "CRL: not a DER or PEM CRL");
    *out = crl;
    return 0;
}

int mk_tdx_crl_check(X509_CRL *crl, X509 *issuer, int64_t now, mk_error *err) {
    if (!crl || !issuer) return mk_error_set(err, MK_EINVAL, "CRL: missing CRL or issuer");
    char cn[128], in[128];
    name_of(X509_CRL_get_issuer(crl), cn, sizeof cn);
    cert_name(issuer, in, sizeof in);
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0)
        return mk_error_set(err, MK_EMISMATCH, "CRL issued by '%s' is not from '%s'", cn, in);
    EVP_PKEY *k = X509_get0_pubkey(issuer);
    if (!k || X509_CRL_verify(crl, k) != 1) {
        ERR_clear_error();
        return mk_error_set(err, MK_EBADSIG, "signature of the CRL of '%s' does not verify", cn);
    }
    int64_t tu, nu;
    if (!asn1_epoch(X509_CRL_get0_lastUpdate(crl), &tu))
        return mk_error_set(err, MK_EMALFORMED, "CRL of '%s': unreadable thisUpdate", cn);
    if (!X509_CRL_get0_nextUpdate(crl) || !asn1_epoch(X509_CRL_get0_nextUpdate(crl), &nu))
        return mk_error_set(err, MK_EMALFORMED, "CRL of '%s': no readable nextUpdate", cn);
    char tb[MK_RFC3339_LEN], nowb[MK_RFC3339_LEN];
    mk_time_format_rfc3339(now, nowb);
    if (now < tu) {
        mk_time_format_rfc3339(tu, tb);
        return mk_error_set(err, MK_ENOTYET, "CRL of '%s' is not valid before %s (now %s)", cn, tb,
                            nowb);
    }
    if (now >= nu) {
        mk_time_format_rfc3339(nu, tb);
        return mk_error_set(err, MK_EEXPIRED, "CRL of '%s' expired at %s (now %s)", cn, tb, nowb);
    }
    return 0;
}

int mk_tdx_crl_lookup(X509_CRL *crl, X509 *cert, mk_error *err) {
    if (!crl || !cert) return mk_error_set(err, MK_EINVAL, "CRL: missing CRL or certificate");
    char nm[128], cn[128];
    cert_name(cert, nm, sizeof nm);
    name_of(X509_CRL_get_issuer(crl), cn, sizeof cn);
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(cert)) != 0) {
        char iss[128];
        name_of(X509_get_issuer_name(cert), iss, sizeof iss);
        return mk_error_set(err, MK_EMISMATCH,
                            "CRL issued by '%s' does not cover certificate '%s' (issuer '%s')", cn,
                            nm, iss);
    }
    X509_REVOKED *rev = NULL;
    int r = X509_CRL_get0_by_cert(crl, &rev, cert);
    if (r == 1 && rev) {
        char when[MK_RFC3339_LEN];
        fmt_asn1(X509_REVOKED_get0_revocationDate(rev), when);
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        int rc = mk_error_set(err, MK_EREVOKED,
                              "certificate '%s' (serial %s) is revoked by the CRL of '%s' since %s",
                              nm, hex ? hex : "?", cn, when);
        OPENSSL_free(hex);
        BN_free(bn);
        return rc;
    }
    ERR_clear_error();
    return 0;
}
