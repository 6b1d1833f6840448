/*
 * tee/x509.c — certificate and CRL helpers shared by every platform: times,
 * names for messages, signature-algorithm policy, CRLs.
 *
 * Times. ASN1_TIME values become seconds since the epoch through
 * ASN1_TIME_to_tm and mk_time_from_civil (UTC, no time zone games).
 *
 * Names. Reasons name certificates by their common name, with control
 * characters replaced, so a hostile certificate cannot forge the layout of
 * a message; without a common name the one-line subject is used.
 *
 * Signature algorithms. OpenSSL verifies every signature; this file only
 * decides which algorithms a trust store accepts at all
 * (MK_TEE_SIGALG_*). ECDSA is accepted with SHA-256/384/512. RSASSA-PSS
 * is accepted only with explicit parameters: a hash of SHA-256/384/512
 * (the default SHA-1 is refused), MGF1 with that same hash, a salt as long
 * as the digest (48 for AMD's SHA-384 chains), and a trailer field that is
 * absent or 1; both DER forms AMD issues (with and without the explicit
 * trailer field) decode to the same parameters.
 *
 * CRLs. mk_tee_crl_parse accepts DER (exactly one CRL, nothing after it)
 * or PEM. mk_tee_crl_check requires the CRL's issuer name to equal the
 * issuer certificate's subject, its signature to verify with the issuer's
 * key, its algorithm to be accepted, and thisUpdate <= now < nextUpdate
 * (a CRL without nextUpdate is refused). The windows are half-open like
 * OpenSSL's certificate check (notAfter <= now is expired), so a CRL whose
 * nextUpdate is now has expired. The algorithm is judged after the
 * signature, so a CRL that does not verify is always reported as such.
 * mk_tee_crl_lookup refuses a CRL whose issuer is not the certificate's
 * issuer before looking for the serial.
 *
 * Parse caches. Parsing is a pure function of the bytes, and in OpenSSL 3.0
 * a certificate's parse costs more than an ECDSA verification (most of it
 * the setup of the public-key decoder), so parsed objects are kept, keyed
 * by the SHA-256 of their exact DER bytes; nothing about trust is cached
 * here. A cert cache (one per trust store) is bounded (CERT_CACHE_MAX,
 * least recently used evicted), guarded by its mutex, and hands out new
 * references, so eviction never frees a certificate in use. The pinned
 * cache holds the platforms' pinned roots, parsed and self-signature
 * checked once per process, with their stores (read-only once made);
 * bounded by PINNED_CACHE_MAX, never freed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto/ossl.h"
#include "mosaik/clock.h"
#include "tee/tee_internal.h"

/* ------------------------------------------------------------------ */
/* Times and names                                                     */
/* ------------------------------------------------------------------ */

bool mk_tee_asn1_time(const ASN1_TIME *t, int64_t *out) {
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return false;
    *out = mk_time_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec);
    return true;
}

int mk_tee_x509_window(const X509 *x, int64_t *not_before, int64_t *not_after) {
    if (!x || !mk_tee_asn1_time(X509_get0_notBefore(x), not_before) ||
        !mk_tee_asn1_time(X509_get0_notAfter(x), not_after))
        return MK_EMALFORMED;
    return 0;
}

void mk_tee_asn1_format(const ASN1_TIME *t, char out[MK_RFC3339_LEN]) {
    int64_t e;
    if (mk_tee_asn1_time(t, &e))
        mk_time_format_rfc3339(e, out);
    else
        snprintf(out, MK_RFC3339_LEN, "(unreadable time)");
}

void mk_tee_x509_name(const X509_NAME *nm, char *out, size_t n) {
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

void mk_tee_cert_name(X509 *x, char *out, size_t n) {
    mk_tee_x509_name(x ? X509_get_subject_name(x) : NULL, out, n);
}

bool mk_tee_self_issued(X509 *x) {
    return X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
}

bool mk_tee_same_der(X509 *a, X509 *b) {
    if (!a || !b) return false;
    unsigned char *da = NULL, *db = NULL;
    int la = i2d_X509(a, &da), lb = i2d_X509(b, &db);
    bool eq = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;
    OPENSSL_free(da);
    OPENSSL_free(db);
    return eq;
}

X509 *mk_tee_x509_from_der(const uint8_t *der, size_t len) {
    if (!der || len == 0 || len > MK_TEE_CERT_DATA_MAX) return NULL;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x && p != der + len) {
        X509_free(x);
        x = NULL;
    }
    if (!x) ERR_clear_error();
    return x;
}

/* ------------------------------------------------------------------ */
/* Signature algorithms                                                */
/* ------------------------------------------------------------------ */

static bool good_hash(int nid) {
    return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512;
}

/* The hash an AlgorithmIdentifier names (NID_undef if it names none). */
static int algor_md(const X509_ALGOR *a) {
    if (!a) return NID_undef;
    const ASN1_OBJECT *o = NULL;
    X509_ALGOR_get0(&o, NULL, NULL, a);
    return o ? OBJ_obj2nid(o) : NID_undef;
}

/* The hash inside an MGF1 AlgorithmIdentifier (NID_undef if it is not
 * MGF1 or names none). OpenSSL's d2i leaves RSA_PSS_PARAMS.maskHash empty;
 * its parameter is decoded here. */
static int mgf1_md(const X509_ALGOR *mgf) {
    if (algor_md(mgf) != NID_mgf1) return NID_undef;
    int ptype = 0;
    const void *pval = NULL;
    X509_ALGOR_get0(NULL, &ptype, &pval, mgf);
    if (ptype != V_ASN1_SEQUENCE || !pval) return NID_undef;
    const ASN1_STRING *s = pval;
    const unsigned char *p = ASN1_STRING_get0_data(s), *end = p + ASN1_STRING_length(s);
    X509_ALGOR *h = d2i_X509_ALGOR(NULL, &p, ASN1_STRING_length(s));
    int md = h && p == end ? algor_md(h) : NID_undef;
    X509_ALGOR_free(h);
    ERR_clear_error();
    return md;
}

/* RSASSA-PSS parameters as described at the top of the file. */
static bool pss_params_ok(const X509_ALGOR *alg) {
    int ptype = 0;
    const void *pval = NULL;
    X509_ALGOR_get0(NULL, &ptype, &pval, alg);
    if (ptype != V_ASN1_SEQUENCE || !pval) return false;
    const ASN1_STRING *s = pval;
    const unsigned char *p = ASN1_STRING_get0_data(s), *end = p + ASN1_STRING_length(s);
    RSA_PSS_PARAMS *pss = d2i_RSA_PSS_PARAMS(NULL, &p, ASN1_STRING_length(s));
    if (!pss || p != end) {
        RSA_PSS_PARAMS_free(pss);
        ERR_clear_error();
        return false;
    }
    int md = algor_md(pss->hashAlgorithm);
    const EVP_MD *d = good_hash(md) ? EVP_get_digestbynid(md) : NULL;
    bool ok = d != NULL && mgf1_md(pss->maskGenAlgorithm) == md && pss->saltLength &&
              ASN1_INTEGER_get(pss->saltLength) == (long)EVP_MD_get_size(d) &&
              (!pss->trailerField || ASN1_INTEGER_get(pss->trailerField) == 1);
    RSA_PSS_PARAMS_free(pss);
    ERR_clear_error();
    return ok;
}

int mk_tee_sigalg_check(const X509_ALGOR *alg, unsigned allowed, const char *what, mk_error *err) {
    if (allowed == 0) return 0;
    int nid = algor_md(alg);
    switch (nid) {
    case NID_ecdsa_with_SHA256:
    case NID_ecdsa_with_SHA384:
    case NID_ecdsa_with_SHA512:
        if (allowed & MK_TEE_SIGALG_ECDSA) return 0;
        break;
    case NID_rsassaPss:
        if ((allowed & MK_TEE_SIGALG_RSA_PSS) && pss_params_ok(alg)) return 0;
        if (allowed & MK_TEE_SIGALG_RSA_PSS)
            return mk_error_set(err, MK_EUNTRUSTED,
                                "%s: RSASSA-PSS parameters refused (want SHA-256/384/512, MGF1 "
                                "with the same hash, salt as long as the digest)",
                                what);
        break;
    default:
        break;
    }
    char name[80] = "unknown";
    if (alg) {
        const ASN1_OBJECT *o = NULL;
        X509_ALGOR_get0(&o, NULL, NULL, alg);
        if (o) OBJ_obj2txt(name, sizeof name, o, 0);
    }
    return mk_error_set(err, MK_EUNTRUSTED, "%s: signature algorithm %s is not accepted", what,
                        name);
}

int mk_tee_cert_sigalg_check(X509 *x, unsigned allowed, mk_error *err) {
    if (allowed == 0) return 0;
    const X509_ALGOR *alg = NULL;
    X509_get0_signature(NULL, &alg, x);
    char nm[128], what[160];
    mk_tee_cert_name(x, nm, sizeof nm);
    snprintf(what, sizeof what, "certificate '%s'", nm);
    return mk_tee_sigalg_check(alg, allowed, what, err);
}

/* ------------------------------------------------------------------ */
/* CRLs                                                                */
/* ------------------------------------------------------------------ */

int mk_tee_crl_parse(const uint8_t *data, size_t len, X509_CRL **out, mk_error *err) {
    if (!data || !out || len == 0) return mk_error_set(err, MK_EMALFORMED, "empty CRL");
    *out = NULL;
    if (len > MK_TEE_CRL_MAX)
        return mk_error_set(err, MK_ETOOBIG, "CRL of %zu bytes exceeds the cap %d", len,
                            MK_TEE_CRL_MAX);
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

int mk_tee_crl_check(X509_CRL *crl, X509 *issuer, unsigned sigalgs, int64_t now, mk_error *err) {
    if (!crl || !issuer) return mk_error_set(err, MK_EINVAL, "CRL: missing CRL or issuer");
    char cn[128], in[128];
    mk_tee_x509_name(X509_CRL_get_issuer(crl), cn, sizeof cn);
    mk_tee_cert_name(issuer, in, sizeof in);
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0)
        return mk_error_set(err, MK_EMISMATCH, "CRL issued by '%s' is not from '%s'", cn, in);
    EVP_PKEY *k = X509_get0_pubkey(issuer);
    if (!k || X509_CRL_verify(crl, k) != 1) {
        ERR_clear_error();
        return mk_error_set(err, MK_EBADSIG, "signature of the CRL of '%s' does not verify", cn);
    }
    if (sigalgs) {
        const X509_ALGOR *alg = NULL;
        X509_CRL_get0_signature(crl, NULL, &alg);
        char what[160];
        snprintf(what, sizeof what, "CRL of '%s'", cn);
        MK_TRY(mk_tee_sigalg_check(alg, sigalgs, what, err));
    }
    int64_t tu, nu;
    if (!mk_tee_asn1_time(X509_CRL_get0_lastUpdate(crl), &tu))
        return mk_error_set(err, MK_EMALFORMED, "CRL of '%s': unreadable thisUpdate", cn);
    if (!X509_CRL_get0_nextUpdate(crl) || !mk_tee_asn1_time(X509_CRL_get0_nextUpdate(crl), &nu))
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

int mk_tee_crl_lookup(X509_CRL *crl, X509 *cert, mk_error *err) {
    if (!crl || !cert) return mk_error_set(err, MK_EINVAL, "CRL: missing CRL or certificate");
    char nm[128], cn[128];
    mk_tee_cert_name(cert, nm, sizeof nm);
    mk_tee_x509_name(X509_CRL_get_issuer(crl), cn, sizeof cn);
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(cert)) != 0) {
        char iss[128];
        mk_tee_x509_name(X509_get_issuer_name(cert), iss, sizeof iss);
        return mk_error_set(err, MK_EMISMATCH,
                            "CRL issued by '%s' does not cover certificate '%s' (issuer '%s')", cn,
                            nm, iss);
    }
    X509_REVOKED *rev = NULL;
    int r = X509_CRL_get0_by_cert(crl, &rev, cert);
    if (r == 1 && rev) {
        char when[MK_RFC3339_LEN];
        mk_tee_asn1_format(X509_REVOKED_get0_revocationDate(rev), when);
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

/* ------------------------------------------------------------------ */
/* Parse caches                                                        */
/* ------------------------------------------------------------------ */

#define CERT_CACHE_MAX 32
#define PINNED_CACHE_MAX 8

struct mk_tee_cert_cache {
    pthread_mutex_t mu;
    struct {
        bool used;
        uint8_t hash[32];
        X509 *cert;
        uint64_t last_use;
    } e[CERT_CACHE_MAX];
    uint64_t tick;
};

mk_tee_cert_cache *mk_tee_cert_cache_new(void) {
    mk_tee_cert_cache *c = calloc(1, sizeof *c);
    if (c && pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        c = NULL;
    }
    return c;
}

void mk_tee_cert_cache_free(mk_tee_cert_cache *c) {
    if (!c) return;
    for (size_t i = 0; i < CERT_CACHE_MAX; i++)
        if (c->e[i].used) X509_free(c->e[i].cert);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

X509 *mk_tee_cert_cache_parse(mk_tee_cert_cache *c, const uint8_t hash[32],
                              const unsigned char *der, long len) {
    X509 *x = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < CERT_CACHE_MAX && !x; i++)
        if (c->e[i].used && memcmp(c->e[i].hash, hash, 32) == 0 && X509_up_ref(c->e[i].cert) == 1) {
            x = c->e[i].cert;
            c->e[i].last_use = ++c->tick;
        }
    pthread_mutex_unlock(&c->mu);
    if (x) return x;
    const unsigned char *p = der;
    if (!(x = d2i_X509(NULL, &p, len))) return NULL;
    pthread_mutex_lock(&c->mu);
    size_t slot = 0;
    for (size_t i = 1; i < CERT_CACHE_MAX && c->e[slot].used; i++)
        if (!c->e[i].used || c->e[i].last_use < c->e[slot].last_use) slot = i;
    if (X509_up_ref(x) == 1) {
        if (c->e[slot].used) X509_free(c->e[slot].cert); /* others may hold a reference */
        c->e[slot].used = true;
        memcpy(c->e[slot].hash, hash, 32);
        c->e[slot].cert = x;
        c->e[slot].last_use = ++c->tick;
    }
    pthread_mutex_unlock(&c->mu);
    return x;
}

static struct {
    uint8_t hash[32];
    X509 *cert;
    X509_STORE *store;
} pinned_cache[PINNED_CACHE_MAX];
static size_t n_pinned_cache;
static pthread_mutex_t pinned_mu = PTHREAD_MUTEX_INITIALIZER;

bool mk_tee_pinned_get(const uint8_t hash[32], X509 **cert, X509_STORE **store) {
    bool hit = false;
    pthread_mutex_lock(&pinned_mu);
    for (size_t i = 0; i < n_pinned_cache && !hit; i++) {
        if (memcmp(pinned_cache[i].hash, hash, 32) != 0) continue;
        if (X509_up_ref(pinned_cache[i].cert) != 1) break;
        if (X509_STORE_up_ref(pinned_cache[i].store) != 1) {
            X509_free(pinned_cache[i].cert);
            break;
        }
        *cert = pinned_cache[i].cert;
        *store = pinned_cache[i].store;
        hit = true;
    }
    pthread_mutex_unlock(&pinned_mu);
    return hit;
}

void mk_tee_pinned_put(const uint8_t hash[32], X509 *cert, X509_STORE *store) {
    pthread_mutex_lock(&pinned_mu);
    bool have = false;
    for (size_t i = 0; i < n_pinned_cache; i++)
        have = have || memcmp(pinned_cache[i].hash, hash, 32) == 0;
    if (!have && n_pinned_cache < PINNED_CACHE_MAX && X509_up_ref(cert) == 1) {
        if (X509_STORE_up_ref(store) == 1) {
            memcpy(pinned_cache[n_pinned_cache].hash, hash, 32);
            pinned_cache[n_pinned_cache].cert = cert;
            pinned_cache[n_pinned_cache].store = store;
            n_pinned_cache++;
        } else {
            X509_free(cert);
        }
    }
    pthread_mutex_unlock(&pinned_mu);
}
