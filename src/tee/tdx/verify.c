/*
 * tee/tdx/verify.c — the TDX quote verifier: the trust model's steps, in
 * order, each failure prefixed with its step.
 *
 *   1. "quote: "            structure (quote.c);
 *   2. "quote signature: "  ECDSA P-256/SHA-256 by the attestation key over
 *                           header..body (v5: with the body descriptor);
 *   3. "QE report: "        the QE report's signature by the PCK leaf key, and
 *                           report_data = SHA-256(attestation key || QE auth
 *                           data) || 32 zero bytes;
 *   4. "PCK chain: "        leaf <- Platform/Processor CA <- trusted root at
 *                           `now` (tee/trust.c); "PCK extension: " the leaf's SGX
 *                           extension (pck.c);
 *   5. with collateral (given, or fetched when a fetcher is configured):
 *      "collateral: "       signatures, chains, windows (collateral_verify.c), same
 *                           root as the quote, FMSPC of the platform, and
 *                           revocation of the PCK chain;
 *      "TCB: "              TCB evaluation (tcb.c);
 *      "policy: "           the TCB status must be accepted;
 *      without collateral   only with policy.chain_only, else "policy:
 *                           collateral required";
 *   6. "policy: "           TD attributes (any TUD bit 0..7 — debug and host
 *                           profiling — unless allow_debug; reserved bits;
 *                           SEPT_VE_DISABLE), XFAM and the configured MR
 *                           values.
 * The result records everything learnt, also on refusal.
 *
 * Warm state (all bounded, protected by the verifier's mutex, with
 * reference-counted contents so eviction never frees something in use):
 *   - PCK chains, keyed by the SHA-256 of the PEM text, with the window in
 *     which the verification holds (latest notBefore .. earliest notAfter of
 *     leaf, intermediate and root) and the parsed SGX extension. A hit skips
 *     PEM parsing, chain building and the intermediate's signature: what is
 *     left on the hot path is the two ECDSA verifications the quote itself
 *     requires (quote signature, QE report signature), two SHA-256 and a
 *     small amount of bookkeeping.
 *   - fetched collateral, keyed by (FMSPC, CA), cached only after it has
 *     verified (signatures, chains, windows at the fetch time) and only
 *     until the earlier of its nextUpdate and the end of the verified
 *     window; a fetched bundle that does not verify is not cached (and any
 *     entry for that platform is evicted), so a bad or transient answer is
 *     retried on the next verification. Every use still re-verifies; the
 *     collateral object caches its own verification (collateral_verify.c).
 * The chain's validity is a pure function of (PEM bytes, trusted roots,
 * now), and roots are only ever added, so a cached success stays correct
 * inside its window.
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

#include "crypto/ossl.h"
#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "tee/tdx/collateral_internal.h"
#include "tee/tdx/tdx_internal.h"

#define CHAIN_CACHE_MAX 64
#define COLL_CACHE_MAX 16

typedef struct chain_entry {
    bool used;
    uint8_t *pem; /* the PEM text (the key: compared byte for byte) */
    size_t pem_len;
    mk_tee_chain chain; /* owned references */
    mk_tdx_pck_ext ext;
    mk_tdx_pck_ca ca;
    int64_t not_before, not_after;
    uint64_t last_use;
    /* Parse cache only: the last attestation key seen with this chain (a QE
     * keeps its attestation key across quotes) and its EVP_PKEY, so the
     * point is not decoded and validated again. Never a verification
     * result: the quote signature is verified every time. */
    bool have_att;
    uint8_t att_raw[64];
    EVP_PKEY *att_key;
} chain_entry;

typedef struct coll_ref {
    mk_tdx_collateral *c;
    int refs; /* under the verifier's mutex */
} coll_ref;

typedef struct coll_entry {
    bool used;
    uint8_t fmspc[6];
    mk_tdx_pck_ca ca;
    int64_t next_update;
    coll_ref *ref;
    uint64_t last_use;
} coll_entry;

struct mk_tdx_verifier {
    mk_tee_trust *trust;
    pthread_mutex_t mu;
    mk_tdx_policy policy;
    bool have_fetch;
    mk_tdx_fetch_opts fetch; /* strings owned below */
    char *base_url, *root_ca_crl_url, *cache_dir;
    chain_entry chains[CHAIN_CACHE_MAX];
    coll_entry colls[COLL_CACHE_MAX];
    uint64_t tick;
};

/* ------------------------------------------------------------------ */
/* The default policy                                                  */
/* ------------------------------------------------------------------ */

void mk_tdx_policy_default(mk_tdx_policy *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->accepted_statuses =
        MK_TDX_TCB_BIT(MK_TDX_TCB_UP_TO_DATE) | MK_TDX_TCB_BIT(MK_TDX_TCB_SW_HARDENING_NEEDED);
}

/* ------------------------------------------------------------------ */
/* Verifier object                                                      */
/* ------------------------------------------------------------------ */

void mk_tdx_verifier_config_init(mk_tdx_verifier_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    mk_tdx_policy_default(&cfg->policy);
}

int mk_tdx_verifier_new(const mk_tdx_verifier_config *cfg, mk_tdx_verifier **out, mk_error *err) {
    *out = NULL;
    mk_tdx_verifier_config d;
    if (!cfg) {
        mk_tdx_verifier_config_init(&d);
        cfg = &d;
    }
    mk_tdx_verifier *v = calloc(1, sizeof *v);
    if (!v) return mk_error_set(err, MK_ENOMEM, "TDX verifier: out of memory");
    v->trust = mk_tdx_trust_new();
    if (!v->trust || pthread_mutex_init(&v->mu, NULL) != 0) {
        mk_tee_trust_free(v->trust);
        free(v);
        return mk_error_set(err, MK_ENOMEM, "TDX verifier: out of memory");
    }
    v->policy = cfg->policy;
    int rc = 0;
    if (cfg->simulator_root_der)
        rc = mk_tdx_verifier_trust_simulator(v, cfg->simulator_root_der, cfg->simulator_root_len,
                                             err);
    if (rc == 0 && cfg->fetch && (rc = mk_tdx_verifier_set_fetch(v, cfg->fetch)) < 0)
        mk_error_set(err, rc, "TDX verifier: cannot configure the collateral fetcher");
    if (rc < 0) {
        mk_tdx_verifier_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

static void coll_unref_locked(coll_ref *r) {
    if (r && --r->refs == 0) {
        mk_tdx_collateral_free(r->c);
        free(r);
    }
}

static void chain_entry_clear(chain_entry *e) {
    mk_tee_chain_free(&e->chain);
    EVP_PKEY_free(e->att_key);
    free(e->pem);
    memset(e, 0, sizeof *e);
}

void mk_tdx_verifier_free(mk_tdx_verifier *v) {
    if (!v) return;
    for (size_t i = 0; i < CHAIN_CACHE_MAX; i++)
        if (v->chains[i].used) chain_entry_clear(&v->chains[i]);
    for (size_t i = 0; i < COLL_CACHE_MAX; i++)
        if (v->colls[i].used) coll_unref_locked(v->colls[i].ref);
    mk_tee_trust_free(v->trust);
    free(v->base_url);
    free(v->root_ca_crl_url);
    free(v->cache_dir);
    pthread_mutex_destroy(&v->mu);
    free(v);
}

int mk_tdx_verifier_trust_simulator(mk_tdx_verifier *v, const uint8_t *root_der, size_t len,
                                    mk_error *err) {
    if (!v) return mk_error_set(err, MK_EINVAL, "no verifier");
    return mk_tee_trust_add_sim_root(v->trust, root_der, len, err);
}

void mk_tdx_verifier_set_policy(mk_tdx_verifier *v, const mk_tdx_policy *p) {
    if (!v || !p) return;
    pthread_mutex_lock(&v->mu);
    v->policy = *p;
    pthread_mutex_unlock(&v->mu);
}

void mk_tdx_verifier_get_policy(const mk_tdx_verifier *v, mk_tdx_policy *p) {
    if (!v || !p) return;
    mk_tdx_verifier *mv = (mk_tdx_verifier *)v;
    pthread_mutex_lock(&mv->mu);
    *p = v->policy;
    pthread_mutex_unlock(&mv->mu);
}

static char *dup_or_null(const char *s, bool *fail) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *fail = true;
    return d;
}

int mk_tdx_verifier_set_fetch(mk_tdx_verifier *v, const mk_tdx_fetch_opts *o) {
    if (!v) return MK_EINVAL;
    bool fail = false;
    char *b = NULL, *r = NULL, *c = NULL;
    if (o) {
        if (!o->base_url) return MK_EINVAL;
        b = dup_or_null(o->base_url, &fail);
        r = dup_or_null(o->root_ca_crl_url, &fail);
        c = dup_or_null(o->cache_dir, &fail);
        if (fail) {
            free(b);
            free(r);
            free(c);
            return MK_ENOMEM;
        }
    }
    pthread_mutex_lock(&v->mu);
    free(v->base_url);
    free(v->root_ca_crl_url);
    free(v->cache_dir);
    v->base_url = b;
    v->root_ca_crl_url = r;
    v->cache_dir = c;
    v->have_fetch = o != NULL;
    if (o) {
        v->fetch = *o;
        v->fetch.base_url = b;
        v->fetch.root_ca_crl_url = r;
        v->fetch.cache_dir = c;
    } else {
        memset(&v->fetch, 0, sizeof v->fetch);
    }
    /* Collateral fetched from elsewhere is no longer wanted. */
    for (size_t i = 0; i < COLL_CACHE_MAX; i++) {
        if (v->colls[i].used) coll_unref_locked(v->colls[i].ref);
        memset(&v->colls[i], 0, sizeof v->colls[i]);
    }
    pthread_mutex_unlock(&v->mu);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Caches                                                               */
/* ------------------------------------------------------------------ */

static chain_entry *chain_find_locked(mk_tdx_verifier *v, const uint8_t *pem, size_t len) {
    for (size_t i = 0; i < CHAIN_CACHE_MAX; i++) {
        chain_entry *e = &v->chains[i];
        if (e->used && e->pem_len == len && memcmp(e->pem, pem, len) == 0) return e;
    }
    return NULL;
}

/* A cached chain for this exact PEM text, valid at `now`: copies references
 * out (and the cached attestation key if it is the same key). */
static bool chain_cache_get(mk_tdx_verifier *v, const mk_tdx_quote *q, int64_t now,
                            mk_tee_chain *chain, mk_tdx_pck_ext *ext, mk_tdx_pck_ca *ca,
                            EVP_PKEY **att) {
    bool hit = false;
    pthread_mutex_lock(&v->mu);
    chain_entry *e = chain_find_locked(v, q->pck_chain_pem, q->pck_chain_len);
    if (e && now >= e->not_before && now < e->not_after) {
        mk_tee_chain_copy(&e->chain, chain);
        *ext = e->ext;
        *ca = e->ca;
        e->last_use = ++v->tick;
        if (e->have_att && memcmp(e->att_raw, q->attestation_key, 64) == 0 &&
            EVP_PKEY_up_ref(e->att_key) == 1)
            *att = e->att_key;
        hit = true;
    }
    pthread_mutex_unlock(&v->mu);
    return hit;
}

/* Remember the attestation key parsed for this chain. */
static void chain_cache_set_att(mk_tdx_verifier *v, const mk_tdx_quote *q, EVP_PKEY *att) {
    pthread_mutex_lock(&v->mu);
    chain_entry *e = chain_find_locked(v, q->pck_chain_pem, q->pck_chain_len);
    if (e && EVP_PKEY_up_ref(att) == 1) {
        EVP_PKEY_free(e->att_key);
        e->att_key = att;
        memcpy(e->att_raw, q->attestation_key, 64);
        e->have_att = true;
    }
    pthread_mutex_unlock(&v->mu);
}

static void chain_cache_put(mk_tdx_verifier *v, const mk_tdx_quote *q, const mk_tee_chain *chain,
                            const mk_tdx_pck_ext *ext, mk_tdx_pck_ca ca) {
    int64_t nb = INT64_MIN, na = chain->not_after, b, a;
    X509 *certs[3] = {chain->leaf, chain->intermediate, chain->root};
    for (int i = 0; i < 3; i++) {
        if (!certs[i]) continue;
        if (mk_tee_x509_window(certs[i], &b, &a) < 0) return;
        if (b > nb) nb = b;
        if (a < na) na = a;
    }
    uint8_t *pem = malloc(q->pck_chain_len);
    if (!pem) return;
    memcpy(pem, q->pck_chain_pem, q->pck_chain_len);
    pthread_mutex_lock(&v->mu);
    chain_entry *slot = chain_find_locked(v, pem, q->pck_chain_len);
    for (size_t i = 0; i < CHAIN_CACHE_MAX && !slot; i++)
        if (!v->chains[i].used) slot = &v->chains[i];
    if (!slot) {
        slot = &v->chains[0];
        for (size_t i = 1; i < CHAIN_CACHE_MAX; i++)
            if (v->chains[i].last_use < slot->last_use) slot = &v->chains[i];
    }
    if (slot->used) chain_entry_clear(slot);
    slot->used = true;
    slot->pem = pem;
    slot->pem_len = q->pck_chain_len;
    mk_tee_chain_copy(chain, &slot->chain);
    slot->ext = *ext;
    slot->ca = ca;
    slot->not_before = nb;
    slot->not_after = na;
    slot->last_use = ++v->tick;
    pthread_mutex_unlock(&v->mu);
}

static coll_ref *coll_cache_get(mk_tdx_verifier *v, const uint8_t fmspc[6], mk_tdx_pck_ca ca,
                                int64_t now) {
    coll_ref *r = NULL;
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < COLL_CACHE_MAX; i++) {
        coll_entry *e = &v->colls[i];
        if (e->used && e->ca == ca && memcmp(e->fmspc, fmspc, 6) == 0 && now < e->next_update) {
            r = e->ref;
            r->refs++;
            e->last_use = ++v->tick;
            break;
        }
    }
    pthread_mutex_unlock(&v->mu);
    return r;
}

/* Takes ownership of c, which has been verified, and keeps it until
 * next_update; returns a referenced handle (NULL on ENOMEM, c freed). */
static coll_ref *coll_cache_put(mk_tdx_verifier *v, const uint8_t fmspc[6], mk_tdx_pck_ca ca,
                                mk_tdx_collateral *c, int64_t next_update) {
    coll_ref *r = calloc(1, sizeof *r);
    if (!r) {
        mk_tdx_collateral_free(c);
        return NULL;
    }
    r->c = c;
    r->refs = 2; /* the cache's and the caller's */
    pthread_mutex_lock(&v->mu);
    coll_entry *slot = NULL;
    for (size_t i = 0; i < COLL_CACHE_MAX && !slot; i++)
        if (v->colls[i].used && v->colls[i].ca == ca && memcmp(v->colls[i].fmspc, fmspc, 6) == 0)
            slot = &v->colls[i];
    for (size_t i = 0; i < COLL_CACHE_MAX && !slot; i++)
        if (!v->colls[i].used) slot = &v->colls[i];
    if (!slot) {
        slot = &v->colls[0];
        for (size_t i = 1; i < COLL_CACHE_MAX; i++)
            if (v->colls[i].last_use < slot->last_use) slot = &v->colls[i];
    }
    if (slot->used) coll_unref_locked(slot->ref);
    slot->used = true;
    memcpy(slot->fmspc, fmspc, 6);
    slot->ca = ca;
    slot->next_update = next_update;
    slot->ref = r;
    slot->last_use = ++v->tick;
    pthread_mutex_unlock(&v->mu);
    return r;
}

static void coll_cache_evict(mk_tdx_verifier *v, const uint8_t fmspc[6], mk_tdx_pck_ca ca) {
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < COLL_CACHE_MAX; i++) {
        coll_entry *e = &v->colls[i];
        if (e->used && e->ca == ca && memcmp(e->fmspc, fmspc, 6) == 0) {
            coll_unref_locked(e->ref);
            memset(e, 0, sizeof *e);
        }
    }
    pthread_mutex_unlock(&v->mu);
}

static void coll_release(mk_tdx_verifier *v, coll_ref *r) {
    if (!r) return;
    pthread_mutex_lock(&v->mu);
    coll_unref_locked(r);
    pthread_mutex_unlock(&v->mu);
}

/* ------------------------------------------------------------------ */
/* Steps                                                                */
/* ------------------------------------------------------------------ */

/* Key of the first certificate of a PEM chain (cold path only, for the QE
 * report check before the chain is verified). */
static int leaf_key_from_pem(mk_tee_trust *t, const uint8_t *pem, size_t len, EVP_PKEY **key,
                             mk_error *err) {
    *key = NULL;
    if (len > MK_TDX_CERT_DATA_MAX) return mk_error_set(err, MK_ETOOBIG, "chain too large");
    ERR_clear_error();
    X509 *x = mk_tee_trust_read_leaf(t, (const char *)pem, len);
    if (!x) return mk_error_openssl(err, MK_EMALFORMED, "cannot read the PCK leaf certificate");
    *key = X509_get_pubkey(x);
    X509_free(x);
    if (!*key) return mk_error_openssl(err, MK_EMALFORMED, "PCK leaf public key");
    if (!EVP_PKEY_is_a(*key, "EC") || EVP_PKEY_get_bits(*key) != 256) {
        EVP_PKEY_free(*key);
        *key = NULL;
        return mk_error_set(err, MK_EUNSUPPORTED, "the PCK leaf key is not EC P-256");
    }
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static int check_mr(bool enabled, const uint8_t *have, const uint8_t *want, const char *name,
                    mk_error *err) {
    if (!enabled || memcmp(have, want, 48) == 0) return 0;
    char h[97], w[97];
    mk_hex_encode(have, 48, h);
    mk_hex_encode(want, 48, w);
    return mk_error_set(err, MK_EMISMATCH, "policy: %s is %s, required %s", name, h, w);
}

static int check_td_policy(const mk_tdx_policy *p, const mk_tdx_td_report *r, mk_error *err) {
    uint64_t a = r->td_attributes;
    if ((a & MK_TDX_ATTR_TUD_MASK) && !p->allow_debug) {
        static const char *const tud[8] = {"DEBUG",         "TUD bit 1", "TUD bit 2", "TUD bit 3",
                                           "HGS_PLUS_PROF", "PERF_PROF", "PMT_PROF",  "TUD bit 7"};
        unsigned bit = 0;
        while (!(a & (1ull << bit)))
            bit++;
        return mk_error_set(err, MK_EPOLICY,
                            "policy: debug TD refused (td_attributes 0x%016llx has %s set; the "
                            "TUD bits 0..7 let the host debug or profile the TD)",
                            (unsigned long long)a, tud[bit]);
    }
    if ((a & ~MK_TDX_ATTR_KNOWN) && !p->allow_reserved_attributes)
        return mk_error_set(err, MK_EPOLICY,
                            "policy: reserved TD attribute bits 0x%016llx set (td_attributes "
                            "0x%016llx)",
                            (unsigned long long)(a & ~MK_TDX_ATTR_KNOWN), (unsigned long long)a);
    if (p->require_sept_ve_disable && !(a & MK_TDX_ATTR_SEPT_VE_DISABLE))
        return mk_error_set(err, MK_EPOLICY,
                            "policy: SEPT_VE_DISABLE required but not set (td_attributes "
                            "0x%016llx)",
                            (unsigned long long)a);
    if (p->check_xfam && r->xfam != p->xfam)
        return mk_error_set(err, MK_EMISMATCH, "policy: XFAM is 0x%016llx, required 0x%016llx",
                            (unsigned long long)r->xfam, (unsigned long long)p->xfam);
    MK_TRY(check_mr(p->check_mr_config_id, r->mr_config_id, p->mr_config_id, "MRCONFIGID", err));
    MK_TRY(check_mr(p->check_mr_owner, r->mr_owner, p->mr_owner, "MROWNER", err));
    MK_TRY(check_mr(p->check_mr_owner_config, r->mr_owner_config, p->mr_owner_config,
                    "MROWNERCONFIG", err));
    MK_TRY(
        check_mr(p->check_mr_service_td, r->mr_service_td, p->mr_service_td, "MRSERVICETD", err));
    return 0;
}

static void format_advisories(const mk_tdx_result *res, char *out, size_t n) {
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < res->n_advisories && i < MK_TDX_MAX_ADVISORIES; i++) {
        int w = snprintf(out + used, n - used, "%s%.32s", i ? ", " : "", res->advisory_ids[i]);
        if (w < 0 || (size_t)w >= n - used) break;
        used += (size_t)w;
    }
}

/* Collateral from the configured fetcher (cached until its nextUpdate).
 * *out stays NULL when no fetcher is configured. */
static int fetch_collateral(mk_tdx_verifier *v, const uint8_t fmspc[6], mk_tdx_pck_ca ca,
                            int64_t now, coll_ref **out, mk_error *err) {
    *out = NULL;
    pthread_mutex_lock(&v->mu);
    bool have = v->have_fetch;
    pthread_mutex_unlock(&v->mu);
    if (!have) return 0;
    if ((*out = coll_cache_get(v, fmspc, ca, now)) != NULL) return 0;
    pthread_mutex_lock(&v->mu);
    have = v->have_fetch;
    mk_tdx_fetch_opts fo = v->fetch;
    bool fail = false;
    char *b = NULL, *r = NULL, *c = NULL;
    if (have) {
        b = dup_or_null(v->fetch.base_url, &fail);
        r = dup_or_null(v->fetch.root_ca_crl_url, &fail);
        c = dup_or_null(v->fetch.cache_dir, &fail);
    }
    pthread_mutex_unlock(&v->mu);
    int rc = 0;
    if (!have) goto done;
    if (fail) {
        rc = mk_error_set(err, MK_ENOMEM, "out of memory");
        goto done;
    }
    fo.base_url = b;
    fo.root_ca_crl_url = r;
    fo.cache_dir = c;
    mk_tdx_collateral *col = NULL;
    if ((rc = mk_tdx_collateral_fetch(&fo, fmspc, ca, now, &col, err)) < 0) {
        mk_error_prefix(err, rc, "collateral: fetch");
        goto done;
    }
    /* Verify before caching: what a server sent is kept only once it has
     * verified, and only until the earlier of its verified window's end and
     * its own nextUpdate. A refused bundle is dropped (any older entry for
     * this platform was already past its nextUpdate, or we would not have
     * fetched), so the next verification fetches again. */
    int64_t vu = INT64_MAX;
    bool csim = false;
    if ((rc = mk_tdx_collateral_verify(col, v->trust, now, &vu, &csim, err)) < 0) {
        mk_tdx_collateral_free(col);
        coll_cache_evict(v, fmspc, ca);
        mk_error_prefix(err, rc, "collateral (fetched)");
        goto done;
    }
    int64_t nu = mk_tdx_collateral_next_update(col);
    if (vu < nu) nu = vu;
    if (!(*out = coll_cache_put(v, fmspc, ca, col, nu)))
        rc = mk_error_set(err, MK_ENOMEM, "out of memory");
done:
    free(b);
    free(r);
    free(c);
    return rc;
}

/* The policy's collateral freshness (after the documents' signatures have
 * been verified, so the numbers and dates are Intel's). */
static int check_collateral_freshness(const mk_tdx_collateral *coll, const mk_tdx_policy *pol,
                                      int64_t now, mk_error *err) {
    const mk_tdx_tcb_info *ti = mk_tdx_collateral_tcb_info(coll);
    const mk_tdx_qe_identity *qi = mk_tdx_collateral_qe_identity(coll);
    uint32_t min = pol->min_tcb_evaluation_data_number;
    if (min) {
        if (!ti || ti->eval_number < min)
            return mk_error_set(err, MK_EPOLICY,
                                "policy: collateral TCB info tcbEvaluationDataNumber %lu is below "
                                "the required %lu",
                                ti ? (unsigned long)ti->eval_number : 0ul, (unsigned long)min);
        if (!qi || qi->eval_number < min)
            return mk_error_set(err, MK_EPOLICY,
                                "policy: collateral QE identity tcbEvaluationDataNumber %lu is "
                                "below the required %lu",
                                qi ? (unsigned long)qi->eval_number : 0ul, (unsigned long)min);
    }
    if (pol->max_collateral_age > 0) {
        if (!ti || !qi)
            return mk_error_set(err, MK_EPOLICY,
                                "policy: max_collateral_age needs TCB info and QE identity");
        int64_t issued = ti->issue_date < qi->issue_date ? ti->issue_date : qi->issue_date;
        int64_t age;
        if (__builtin_sub_overflow(now, issued, &age) || age > pol->max_collateral_age) {
            char ts[MK_RFC3339_LEN];
            mk_time_format_rfc3339(issued, ts);
            return mk_error_set(err, MK_EPOLICY,
                                "policy: collateral issued at %s is older than max_collateral_age "
                                "%lld s",
                                ts, (long long)pol->max_collateral_age);
        }
    }
    return 0;
}

/* Steps 5: collateral, revocation, TCB, TCB policy. */
static int check_collateral(mk_tdx_verifier *v, const mk_tdx_collateral *coll,
                            const mk_tdx_quote *q, const mk_tee_chain *chain,
                            const mk_tdx_pck_ext *ext, const mk_tdx_policy *pol, int64_t now,
                            mk_tdx_result *res, mk_error *err) {
    int64_t vu = INT64_MAX;
    bool csim = false;
    int rc = mk_tdx_collateral_verify(coll, v->trust, now, &vu, &csim, err);
    if (rc < 0) return mk_error_prefix(err, rc, "collateral");
    if (csim != chain->simulated)
        return mk_error_set(err, MK_EUNTRUSTED,
                            "collateral: signed under the %s root but the PCK chain ends in the "
                            "%s root",
                            csim ? "simulator" : "Intel", chain->simulated ? "simulator" : "Intel");
    uint8_t cf[6];
    if (mk_tdx_collateral_fmspc(coll, cf) && memcmp(cf, ext->fmspc, 6) != 0) {
        char a[13], b[13];
        mk_hex_encode(cf, 6, a);
        mk_hex_encode(ext->fmspc, 6, b);
        return mk_error_set(err, MK_EMISMATCH,
                            "collateral: TCB info is for FMSPC %s, the platform's is %s", a, b);
    }
    if ((rc = check_collateral_freshness(coll, pol, now, err)) < 0) return rc;
    if ((rc = mk_tdx_collateral_check_revocation(coll, chain, err)) < 0)
        return mk_error_prefix(err, rc, "collateral");
    if (vu < res->valid_until) res->valid_until = vu;
    res->collateral_checked = true;
    if ((rc = mk_tdx_tcb_evaluate(coll, q, ext, res, err)) < 0)
        return mk_error_prefix(err, rc, "TCB");
    if ((int)res->tcb_status < 0 || res->tcb_status >= MK_TDX_TCB_STATUS_COUNT ||
        !(pol->accepted_statuses & MK_TDX_TCB_BIT(res->tcb_status))) {
        char adv[256];
        format_advisories(res, adv, sizeof adv);
        return mk_error_set(err, MK_EPOLICY, "policy: TCB status %s is not accepted%s%s%s",
                            mk_tdx_tcb_status_name(res->tcb_status), adv[0] ? " (advisories: " : "",
                            adv, adv[0] ? ")" : "");
    }
    return 0;
}

/* Step 1's record: what the structure tells, kept also on refusal. */
static void record_quote(const mk_tdx_quote *q, mk_tdx_result *res) {
    res->quote_version = q->version;
    res->body_type = q->body_type;
    res->report = q->body;
    res->qe_report = q->qe_report;
    res->trailing_bytes = q->trailing_bytes;
    res->debug = (q->body.td_attributes & MK_TDX_ATTR_TUD_MASK) != 0;
}

/* Step 2: the quote signature by the attestation key. *att_key comes from
 * the warm chain entry, or is made here from the quote's point. */
static int check_quote_signature(const mk_tdx_quote *q, EVP_PKEY **att_key, mk_error *err) {
    int rc;
    if (!*att_key) {
        mk_pubkey *att = NULL;
        if ((rc = mk_pubkey_from_ec(MK_P256, q->attestation_key, 64, &att, err)) < 0)
            return mk_error_prefix(err, rc, "quote signature: attestation key");
        *att_key = mk_pubkey_evp(att);
        EVP_PKEY_up_ref(*att_key);
        mk_pubkey_free(att);
    }
    uint8_t digest[MK_SHA256_LEN];
    mk_sha256(q->signed_data, q->signed_len, digest);
    if ((rc = mk_ecdsa_verify_digest_evp(*att_key, digest, sizeof digest, q->signature,
                                         sizeof q->signature, err)) < 0)
        return mk_error_prefix(err, rc, "quote signature");
    return 0;
}

/* Step 3: the QE report's signature by the PCK leaf key, then the binding
 * of the attestation key: report data = SHA-256(key || auth data) || 0^32. */
static int check_qe_report(const mk_tdx_quote *q, EVP_PKEY *leaf_key, mk_error *err) {
    uint8_t digest[MK_SHA256_LEN];
    mk_sha256(q->qe_report_raw, 384, digest);
    int rc = mk_ecdsa_verify_digest_evp(leaf_key, digest, sizeof digest, q->qe_report_signature,
                                        sizeof q->qe_report_signature, err);
    if (rc < 0) return mk_error_prefix(err, rc, "QE report: signature by the PCK key");
    uint8_t bound[64 + MK_TDX_QE_AUTH_MAX];
    memcpy(bound, q->attestation_key, 64);
    if (q->qe_auth_len) memcpy(bound + 64, q->qe_auth_data, q->qe_auth_len);
    mk_sha256(bound, 64 + q->qe_auth_len, digest);
    if (!mk_ct_equal(digest, q->qe_report.report_data, 32) ||
        !all_zero(q->qe_report.report_data + 32, 32))
        return mk_error_set(err, MK_EMISMATCH,
                            "QE report: report data is not SHA-256(attestation key || QE auth "
                            "data) || zeros; the attestation key is not the QE's");
    return 0;
}

/* Step 4 (cold): the PCK chain to a trusted root and the PCK extension;
 * a success is remembered in the chain cache. */
static int verify_pck_chain(mk_tdx_verifier *v, const mk_tdx_quote *q, int64_t now,
                            mk_tee_chain *chain, mk_tdx_pck_ext *ext, mk_tdx_pck_ca *ca,
                            mk_error *err) {
    int rc = mk_tee_chain_verify_pem(v->trust, (const char *)q->pck_chain_pem, q->pck_chain_len,
                                     now, chain, err);
    if (rc < 0) return mk_error_prefix(err, rc, "PCK chain");
    if (!chain->intermediate)
        return mk_error_set(err, MK_EUNTRUSTED,
                            "PCK chain: the PCK certificate is not issued by a PCK CA");
    if ((rc = mk_tdx_pck_from_cert(chain->leaf, chain->intermediate, ext, ca, err)) < 0)
        return mk_error_prefix(err, rc, "PCK chain");
    chain_cache_put(v, q, chain, ext, *ca);
    return 0;
}

int mk_tdx_verify(mk_tdx_verifier *v, const uint8_t *quote, size_t len,
                  const mk_tdx_collateral *coll, int64_t now, mk_tdx_result *res, mk_error *err) {
    mk_tdx_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    res->tcb_status = res->platform_status = res->qe_status = MK_TDX_TCB_UNKNOWN;
    res->valid_until = 0; /* unknown until the chain is verified */
    if (!v) return mk_error_set(err, MK_EINVAL, "no verifier");

    mk_tdx_policy pol;
    mk_tdx_verifier_get_policy(v, &pol);

    /* 1. Structure. */
    mk_tdx_quote q;
    int rc = mk_tdx_quote_parse(quote, len, &q, err);
    if (rc < 0) return mk_error_prefix(err, rc, "quote");
    record_quote(&q, res);

    EVP_PKEY *att_key = NULL, *cold_key = NULL;
    mk_tee_chain chain;
    memset(&chain, 0, sizeof chain);
    mk_tdx_pck_ext ext;
    mk_tdx_pck_ca ca = MK_TDX_CA_PLATFORM;
    coll_ref *fetched = NULL;

    /* Warm state for this exact chain, if any. */
    bool warm = chain_cache_get(v, &q, now, &chain, &ext, &ca, &att_key);

    /* 2. Quote signature by the attestation key. */
    bool att_fresh = !att_key;
    if ((rc = check_quote_signature(&q, &att_key, err)) < 0) goto out;

    /* 3. QE report: signature by the PCK leaf key, then the key binding. */
    EVP_PKEY *leaf_key = chain.leaf_key;
    if (!warm) {
        if ((rc = leaf_key_from_pem(v->trust, q.pck_chain_pem, q.pck_chain_len, &cold_key, err)) <
            0) {
            mk_error_prefix(err, rc, "PCK chain");
            goto out;
        }
        leaf_key = cold_key;
    }
    if ((rc = check_qe_report(&q, leaf_key, err)) < 0) goto out;

    /* 4. PCK chain to a trusted root, and the PCK extension. */
    if (!warm && (rc = verify_pck_chain(v, &q, now, &chain, &ext, &ca, err)) < 0) goto out;
    if (att_fresh) chain_cache_set_att(v, &q, att_key);
    memcpy(res->fmspc, ext.fmspc, 6);
    res->pck_ca = ca;
    res->simulated = chain.simulated;
    res->valid_until = chain.not_after;

    /* 5. Collateral, revocation, TCB status. */
    if (!coll) {
        if ((rc = fetch_collateral(v, ext.fmspc, ca, now, &fetched, err)) < 0) goto out;
        if (fetched) coll = fetched->c;
    }
    if (coll) {
        rc = check_collateral(v, coll, &q, &chain, &ext, &pol, now, res, err);
        if (rc < 0) goto out;
    } else if (!pol.chain_only) {
        rc = mk_error_set(err, MK_EPOLICY,
                          "policy: collateral required (none given and no fetcher configured; "
                          "chain-only verification must be enabled explicitly)");
        goto out;
    }

    /* 6. TD attributes and measurements the policy pins. */
    rc = check_td_policy(&pol, &q.body, err);

out:
    coll_release(v, fetched);
    mk_tee_chain_free(&chain);
    EVP_PKEY_free(cold_key);
    EVP_PKEY_free(att_key);
    return rc;
}
