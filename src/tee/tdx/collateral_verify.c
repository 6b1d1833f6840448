/*
 * tee/tdx/collateral_verify.c — verification of a collateral object, with
 * its warm cache, and revocation of a PCK chain against its CRLs.
 *
 * Verification (mk_tdx_collateral_verify): each issuer chain is verified to
 * a root of the trust store with mk_tee_chain_verify_pem; the TCB info and QE
 * identity signing certificates must be issued directly by the root and be
 * "TCB Signing" certificates; the PCK CRL issuer chain's leaf (the Platform
 * or Processor CA) must be issued by the root and must have signed the PCK
 * CRL; the root CA CRL must be signed by the root. All chains must end in the
 * same root. JSON documents are valid for issueDate <= now < nextUpdate, CRLs
 * for thisUpdate <= now < nextUpdate (Intel's QvE treats "nextUpdate <= now"
 * as expired). The signing certificates and the CRL's CA must not be listed
 * in the root CA CRL. Each JSON signature is checked over the exact text
 * kept by collateral.c (the bytes Intel signed), never a re-serialisation.
 *
 * Warm path: a success is remembered with its window [now, valid_until) and
 * the root it ended in. Every check is monotone in time within that window,
 * so a later call with `now` inside it needs no signature work. Results that
 * end in the pinned Intel root hold for every trust store (all trust Intel);
 * simulator results are keyed by the SHA-256 of the simulator root's DER.
 * The cache is the only mutable part of a collateral object (under its
 * mutex).
 *
 * Reasons do not repeat "collateral": callers (verify.c) prefix the step.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/ossl.h"
#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "tee/tdx/collateral_impl_internal.h"
#include "tee/tdx/tdx_internal.h"

static int window(const char *what, int64_t from, int64_t until, int64_t now, mk_error *err) {
    char a[MK_RFC3339_LEN], b[MK_RFC3339_LEN];
    if (now < from) {
        mk_time_format_rfc3339(from, a);
        mk_time_format_rfc3339(now, b);
        return mk_error_set(err, MK_ENOTYET, "%s not valid before %s (now %s)", what, a, b);
    }
    if (now >= until) {
        mk_time_format_rfc3339(until, a);
        mk_time_format_rfc3339(now, b);
        return mk_error_set(err, MK_EEXPIRED, "%s expired at %s (now %s)", what, a, b);
    }
    return 0;
}

static void cert_cn(X509 *x, char *out, size_t n) {
    out[0] = 0;
    X509_NAME *nm = x ? X509_get_subject_name(x) : NULL;
    int i = nm ? X509_NAME_get_index_by_NID(nm, NID_commonName, -1) : -1;
    if (i < 0) return;
    ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i));
    int len = ASN1_STRING_length(s);
    if (len < 0) return;
    size_t l = (size_t)len < n - 1 ? (size_t)len : n - 1;
    memcpy(out, ASN1_STRING_get0_data(s), l);
    out[l] = 0;
}

typedef struct vstate {
    mk_tee_trust *t;
    int64_t now;
    int64_t until;
    int roots; /* bit 0: Intel root seen, bit 1: simulator root seen */
} vstate;

static void note_chain(vstate *v, const mk_tee_chain *ch) {
    v->roots |= ch->simulated ? 2 : 1;
    if (ch->not_after < v->until) v->until = ch->not_after;
}

/* A JSON document: chain (leaf issued by the root, "TCB Signing"),
 * not revoked by the root CA CRL, signature over the exact text, window. */
static int verify_doc(vstate *v, const mk_tdx_collateral *c, const char *what, const char *chain,
                      const char *text, size_t len, const uint8_t sig[64], int64_t issue,
                      int64_t next, mk_error *err) {
    if (!chain) return mk_error_set(err, MK_ENOTFOUND, "%s: no issuer chain", what);
    mk_tee_chain ch;
    memset(&ch, 0, sizeof ch);
    int rc = mk_tee_chain_verify_pem(v->t, chain, strlen(chain), v->now, &ch, err);
    if (rc < 0) return mk_error_prefix(err, rc, "%s issuer chain", what);
    char cn[128];
    cert_cn(ch.leaf, cn, sizeof cn);
    mk_pubkey *key = NULL;
    if (ch.intermediate || !strstr(cn, "TCB Signing")) {
        rc = mk_error_set(err, MK_EUNTRUSTED,
                          "%s: signer '%s' is not a TCB signing certificate issued by the root",
                          what, cn);
    } else if (c->root_crl && (rc = mk_tee_crl_lookup(c->root_crl, ch.leaf, err)) < 0) {
        mk_error_prefix(err, rc, "%s signer '%s'", what, cn);
    } else if ((rc = mk_pubkey_from_evp(ch.leaf_key, &key)) < 0) {
        mk_error_set(err, rc, "%s: cannot use the signer's key", what);
    } else if ((rc = mk_ecdsa_verify_raw(key, MK_SHA256, text, len, sig, 64, err)) < 0) {
        if (rc == MK_EBADSIG)
            mk_error_set(err, MK_EBADSIG, "%s: signature does not verify under '%s'", what, cn);
        else
            mk_error_prefix(err, rc, "%s signature", what);
    } else if ((rc = window(what, issue, next, v->now, err)) == 0) {
        note_chain(v, &ch);
        if (next < v->until) v->until = next;
    }
    mk_pubkey_free(key);
    mk_tee_chain_free(&ch);
    return rc;
}

int mk_tdx_collateral_verify_doc(const mk_tdx_collateral *c, mk_tee_trust *t, mk_tdx_doc which,
                                 int64_t now, mk_error *err) {
    if (!c || !t) return mk_error_set(err, MK_EINVAL, "missing argument");
    vstate v = {.t = t, .now = now, .until = INT64_MAX, .roots = 0};
    if (which == MK_TDX_DOC_TCB_INFO) {
        if (!c->tcb) return mk_error_set(err, MK_ENOTFOUND, "no TCB info");
        return verify_doc(&v, c, "TCB info", c->tcb_chain, c->tcb_text, c->tcb_len, c->tcb_sig,
                          c->tcb->issue_date, c->tcb->next_update, err);
    }
    if (which == MK_TDX_DOC_QE_IDENTITY) {
        if (!c->qe) return mk_error_set(err, MK_ENOTFOUND, "no QE identity");
        return verify_doc(&v, c, "QE identity", c->qe_chain, c->qe_text, c->qe_len, c->qe_sig,
                          c->qe->issue_date, c->qe->next_update, err);
    }
    return mk_error_set(err, MK_EINVAL, "unknown document");
}

static int verify_uncached(const mk_tdx_collateral *c, vstate *v, mk_error *err) {
    if (!c->tcb) return mk_error_set(err, MK_ENOTFOUND, "no TCB info");
    if (!c->qe) return mk_error_set(err, MK_ENOTFOUND, "no QE identity");
    if (!c->pck_crl) return mk_error_set(err, MK_ENOTFOUND, "no PCK CRL");
    if (!c->root_crl) return mk_error_set(err, MK_ENOTFOUND, "no root CA CRL");
    if (!c->pck_crl_chain) return mk_error_set(err, MK_ENOTFOUND, "no PCK CRL issuer chain");

    /* PCK CRL issuer chain: the CA issued by the root. */
    mk_tee_chain ch;
    memset(&ch, 0, sizeof ch);
    int rc =
        mk_tee_chain_verify_pem(v->t, c->pck_crl_chain, strlen(c->pck_crl_chain), v->now, &ch, err);
    if (rc < 0) return mk_error_prefix(err, rc, "PCK CRL issuer chain");
    X509 *root = ch.root;
    char cn[128];
    cert_cn(ch.leaf, cn, sizeof cn);
    if (ch.intermediate || !root) {
        rc = mk_error_set(err, MK_EUNTRUSTED, "PCK CRL issuer '%s' is not issued by the root", cn);
    } else if (X509_cmp(ch.leaf, c->pck_crl_ca) != 0) {
        rc = mk_error_set(err, MK_EMALFORMED, "PCK CRL issuer chain: unexpected leaf");
    } else if (X509_NAME_cmp(X509_CRL_get_issuer(c->pck_crl), X509_get_subject_name(ch.leaf))) {
        rc = mk_error_set(err, MK_EMISMATCH, "PCK CRL is not issued by '%s'", cn);
    } else if (X509_NAME_cmp(X509_CRL_get_issuer(c->root_crl), X509_get_subject_name(root))) {
        rc = mk_error_set(err, MK_EMISMATCH, "root CA CRL is not issued by the trusted root");
    } else if ((rc = window("root CA CRL", c->root_crl_this, c->root_crl_next, v->now, err)) < 0) {
    } else if ((rc = mk_tee_crl_check(c->root_crl, root, mk_tee_trust_sigalgs(v->t), v->now, err)) <
               0) {
        mk_error_prefix(err, rc, "root CA CRL");
    } else if ((rc = window("PCK CRL", c->pck_crl_this, c->pck_crl_next, v->now, err)) < 0) {
    } else if ((rc = mk_tee_crl_check(c->pck_crl, ch.leaf, mk_tee_trust_sigalgs(v->t), v->now,
                                      err)) < 0) {
        mk_error_prefix(err, rc, "PCK CRL");
    } else if ((rc = mk_tee_crl_lookup(c->root_crl, ch.leaf, err)) < 0) {
        mk_error_prefix(err, rc, "PCK CRL issuer '%s'", cn);
    } else {
        note_chain(v, &ch);
        if (c->root_crl_next < v->until) v->until = c->root_crl_next;
        if (c->pck_crl_next < v->until) v->until = c->pck_crl_next;
    }
    mk_tee_chain_free(&ch);
    if (rc < 0) return rc;

    MK_TRY(verify_doc(v, c, "TCB info", c->tcb_chain, c->tcb_text, c->tcb_len, c->tcb_sig,
                      c->tcb->issue_date, c->tcb->next_update, err));
    MK_TRY(verify_doc(v, c, "QE identity", c->qe_chain, c->qe_text, c->qe_len, c->qe_sig,
                      c->qe->issue_date, c->qe->next_update, err));
    if (v->roots == 3)
        return mk_error_set(err, MK_EUNTRUSTED,
                            "chains end in different roots (Intel and simulator)");
    return 0;
}

static bool sim_root_digest(mk_tee_trust *t, uint8_t out[32]) {
    X509 *root = mk_tee_trust_root(t, -1);
    unsigned int n = 0;
    return root && X509_digest(root, EVP_sha256(), out, &n) == 1 && n == 32;
}

int mk_tdx_collateral_verify(const mk_tdx_collateral *cc, mk_tee_trust *t, int64_t now,
                             int64_t *valid_until, bool *simulated, mk_error *err) {
    if (!cc || !t) return mk_error_set(err, MK_EINVAL, "missing argument");
    mk_tdx_collateral *c = (mk_tdx_collateral *)cc; /* only the cache is written */
    uint8_t dig[32];

    pthread_mutex_lock(&c->lock);
    bool hit = c->cache_ok && now >= c->cache_from && now < c->cache_until;
    bool sim = c->cache_sim;
    int64_t until = c->cache_until;
    uint8_t cached_dig[32];
    memcpy(cached_dig, c->cache_sim_root, 32);
    pthread_mutex_unlock(&c->lock);
    if (hit && sim) hit = sim_root_digest(t, dig) && memcmp(dig, cached_dig, 32) == 0;
    if (hit) {
        if (valid_until) *valid_until = until;
        if (simulated) *simulated = sim;
        return 0;
    }

    vstate v = {.t = t, .now = now, .until = INT64_MAX, .roots = 0};
    int rc = verify_uncached(c, &v, err);
    if (rc < 0) return rc;
    sim = v.roots == 2;
    bool have_dig = !sim || sim_root_digest(t, dig);
    pthread_mutex_lock(&c->lock);
    if (have_dig && v.until > now) {
        c->cache_ok = true;
        c->cache_from = now;
        c->cache_until = v.until;
        c->cache_sim = sim;
        if (sim) memcpy(c->cache_sim_root, dig, 32);
    }
    pthread_mutex_unlock(&c->lock);
    if (valid_until) *valid_until = v.until;
    if (simulated) *simulated = sim;
    return 0;
}

int mk_tdx_collateral_check_revocation(const mk_tdx_collateral *c, const mk_tee_chain *chain,
                                       mk_error *err) {
    if (!c || !chain || !chain->leaf)
        return mk_error_set(err, MK_EINVAL, "revocation: missing argument");
    if (!c->root_crl || !c->pck_crl || !c->pck_crl_ca)
        return mk_error_set(err, MK_ENOTFOUND, "revocation: collateral has no CRLs");
    if (!chain->intermediate)
        return mk_error_set(err, MK_EMALFORMED, "revocation: PCK chain has no intermediate CA");
    char cn[128];
    cert_cn(chain->intermediate, cn, sizeof cn);
    if (X509_NAME_cmp(X509_CRL_get_issuer(c->root_crl), X509_get_issuer_name(chain->intermediate)))
        return mk_error_set(err, MK_EMISMATCH, "root CA CRL is not from the issuer of '%s'", cn);
    int rc = mk_tee_crl_lookup(c->root_crl, chain->intermediate, err);
    if (rc < 0) return mk_error_prefix(err, rc, "PCK chain intermediate '%s'", cn);
    /* The PCK CRL must come from the very CA that issued the leaf. */
    if (X509_NAME_cmp(X509_CRL_get_issuer(c->pck_crl), X509_get_issuer_name(chain->leaf))) {
        char crl_cn[128];
        cert_cn(c->pck_crl_ca, crl_cn, sizeof crl_cn);
        return mk_error_set(err, MK_EMISMATCH,
                            "PCK CRL is from '%s' but the PCK certificate is issued by '%s'",
                            crl_cn, cn);
    }
    if (X509_cmp(c->pck_crl_ca, chain->intermediate) != 0)
        return mk_error_set(err, MK_EMISMATCH,
                            "PCK CRL issuer certificate differs from the PCK chain's '%s'", cn);
    rc = mk_tee_crl_lookup(c->pck_crl, chain->leaf, err);
    if (rc < 0) return mk_error_prefix(err, rc, "PCK certificate");
    return 0;
}
