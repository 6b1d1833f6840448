/*
 * tee/snp/chain.c — the X.509 step of SEV-SNP verification: reading
 * certificate files, the path VCEK/VLEK <- ASK/ASVK <- ARK at an explicit
 * time, and AMD's CRLs.
 *
 * This file is the whole interface between the SNP verifier and X.509
 * (snp_internal.h, "chain.c"): when the platform-neutral trust store of
 * tee/ takes over chains and CRLs, only this file changes.
 *
 * Reading (mk_snp_certs_read): PEM (every CERTIFICATE block, at most
 * MK_SNP_CHAIN_MAX_CERTS; a malformed block is an error, other text is
 * ignored) or exactly one DER certificate with nothing after it; input
 * capped at MK_SNP_CERT_MAX bytes per certificate allowed.
 *
 * The path (mk_snp_chain_verify). The anchor is the caller's root (AMD's
 * pinned ARK of the product) and the default intermediate its built-in ASK
 * or ASVK; the offered certificates (what a file or a ticket carried
 * besides the leaf) can never replace the root:
 *   1. the leaf must not be self-issued (a self-signed "VCEK" is refused
 *      by name before any signature is looked at);
 *   2. an offered self-issued certificate must be the root byte for byte —
 *      a self-made root named "ARK-Milan" is refused here;
 *   3. an offered certificate named like the intermediate but not
 *      byte-identical to the built-in one (AMD may reissue an ASK) is used
 *      only after it verifies under the root at `now`; otherwise refused;
 *      offered certificates with other names are ignored;
 *   4. the leaf's issuer name must be the intermediate's subject;
 *   5. OpenSSL (X509_verify_cert, the root alone in the trusted store, the
 *      intermediate untrusted) checks every signature — RSA-PSS throughout —
 *      every validity window at `now` (X509_VERIFY_PARAM_set_time; the wall
 *      clock is never read), CA constraints and path length; the path must be
 *      exactly leaf <- intermediate <- root.
 * OpenSSL's verdict becomes a reason naming the certificate and, for
 * windows, the RFC 3339 times.
 *
 * CRLs (mk_snp_crl_check): DER (exactly one, nothing after) or PEM; issuer
 * name equal to the root's subject, signature by the root's key, thisUpdate
 * <= now < nextUpdate (half-open, as certificate windows; no nextUpdate is
 * refused), then the certificate's serial must not be listed.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "crypto/ossl.h"
#include "mosaik/clock.h"
#include "tee/snp/snp_internal.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static bool asn1_epoch(const ASN1_TIME *t, int64_t *out) {
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return false;
    *out = mk_time_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec);
    return true;
}

int mk_snp_cert_window(X509 *x, int64_t *not_before, int64_t *not_after) {
    if (!x || !asn1_epoch(X509_get0_notBefore(x), not_before) ||
        !asn1_epoch(X509_get0_notAfter(x), not_after))
        return MK_EMALFORMED;
    return 0;
}

static void name_of(const X509_NAME *nm, char *out, size_t n) {
    snprintf(out, n, "(no name)");
    int i = nm ? X509_NAME_get_index_by_NID(nm, NID_commonName, -1) : -1;
    if (i >= 0) {
        unsigned char *u = NULL;
        int l = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i)));
        if (l >= 0) snprintf(out, n, "%.*s", l, (const char *)u);
        OPENSSL_free(u);
    } else if (nm) {
        X509_NAME_oneline(nm, out, (int)n);
    }
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

void mk_snp_cert_name(X509 *x, char *out, size_t n) {
    name_of(x ? X509_get_subject_name(x) : NULL, out, n);
}

void mk_snp_issuer_name(X509 *x, char *out, size_t n) {
    name_of(x ? X509_get_issuer_name(x) : NULL, out, n);
}

static bool self_issued(X509 *x) {
    return X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
}

static bool same_der(X509 *a, X509 *b) {
    unsigned char *da = NULL, *db = NULL;
    int la = i2d_X509(a, &da), lb = i2d_X509(b, &db);
    bool eq = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;
    OPENSSL_free(da);
    OPENSSL_free(db);
    return eq;
}

static bool looks_pem(const uint8_t *d, size_t n) {
    size_t i = 0;
    while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
        i++;
    return n - i >= 10 && memcmp(d + i, "-----BEGIN", 10) == 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

void mk_snp_cert_list_free(mk_snp_cert_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++)
        X509_free(l->cert[i]);
    memset(l, 0, sizeof *l);
}

static int read_pem(const uint8_t *data, size_t len, mk_snp_cert_list *l, mk_error *err) {
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (!bio) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = 0;
    for (;;) {
        ERR_clear_error();
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
                ERR_clear_error(); /* no more blocks */
            else
                rc = mk_error_openssl(err, MK_EMALFORMED, "PEM certificate");
            break;
        }
        if (l->n == MK_SNP_CHAIN_MAX_CERTS) {
            X509_free(x);
            rc = mk_error_set(err, MK_ETOOBIG, "more than %d certificates", MK_SNP_CHAIN_MAX_CERTS);
            break;
        }
        l->cert[l->n++] = x;
    }
    BIO_free(bio);
    return rc;
}

int mk_snp_certs_read(const uint8_t *data, size_t len, mk_snp_cert_list *l, mk_error *err) {
    if (!l || (!data && len)) return mk_error_set(err, MK_EINVAL, "no certificate data");
    if (len == 0) return mk_error_set(err, MK_EMALFORMED, "empty certificate data");
    if (len > (size_t)MK_SNP_CERT_MAX * MK_SNP_CHAIN_MAX_CERTS)
        return mk_error_set(err, MK_ETOOBIG, "certificate data of %zu bytes (cap %d)", len,
                            MK_SNP_CERT_MAX * MK_SNP_CHAIN_MAX_CERTS);
    if (looks_pem(data, len)) return read_pem(data, len, l, err);
    if (len > MK_SNP_CERT_MAX)
        return mk_error_set(err, MK_ETOOBIG, "DER certificate of %zu bytes (cap %d)", len,
                            MK_SNP_CERT_MAX);
    if (l->n == MK_SNP_CHAIN_MAX_CERTS)
        return mk_error_set(err, MK_ETOOBIG, "more than %d certificates", MK_SNP_CHAIN_MAX_CERTS);
    const unsigned char *p = data;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x) return mk_error_openssl(err, MK_EMALFORMED, "DER certificate");
    if (p != data + len) {
        X509_free(x);
        return mk_error_set(err, MK_EMALFORMED, "DER certificate: %zu bytes after it",
                            (size_t)(data + len - p));
    }
    l->cert[l->n++] = x;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The path                                                            */
/* ------------------------------------------------------------------ */

/* OpenSSL's verdict on ctx as a reason. */
static int verdict(X509_STORE_CTX *ctx, int64_t now, mk_error *err) {
    int e = X509_STORE_CTX_get_error(ctx);
    X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
    char nm[128], iss[128], when[MK_RFC3339_LEN], at[MK_RFC3339_LEN];
    mk_snp_cert_name(cur, nm, sizeof nm);
    mk_snp_issuer_name(cur, iss, sizeof iss);
    mk_time_format_rfc3339(now, at);
    int64_t nb = 0, na = 0;
    if (cur) mk_snp_cert_window(cur, &nb, &na);
    switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        mk_time_format_rfc3339(na, when);
        return mk_error_set(err, MK_EEXPIRED, "certificate '%s' expired at %s (now %s)", nm, when,
                            at);
    case X509_V_ERR_CERT_NOT_YET_VALID:
        mk_time_format_rfc3339(nb, when);
        return mk_error_set(err, MK_ENOTYET, "certificate '%s' is not valid before %s (now %s)", nm,
                            when, at);
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return mk_error_set(err, MK_EBADSIG,
                            "signature of certificate '%s' does not verify under '%s'", nm, iss);
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return mk_error_set(err, MK_EUNTRUSTED, "no trusted issuer '%s' for certificate '%s'", iss,
                            nm);
    default:
        return mk_error_set(err, MK_EUNTRUSTED, "certificate '%s': %s", nm,
                            X509_verify_cert_error_string(e));
    }
}

/* leaf <- [inter <-] root at now with OpenSSL; depth is the required path
 * length (2 or 3 certificates). */
static int openssl_path(X509 *root, X509 *inter, X509 *leaf, int depth, int64_t now,
                        mk_error *err) {
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int rc = 0;
    if (!st || !ctx || !untrusted || X509_STORE_add_cert(st, root) != 1 ||
        (inter && !sk_X509_push(untrusted, inter)) ||
        X509_STORE_CTX_init(ctx, st, leaf, untrusted) != 1) {
        rc = mk_error_openssl(err, MK_ENOMEM, "certificate store");
        goto out;
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)now);
    if (X509_verify_cert(ctx) != 1) {
        rc = verdict(ctx, now, err);
        ERR_clear_error();
        goto out;
    }
    STACK_OF(X509) *path = X509_STORE_CTX_get0_chain(ctx);
    if (!path || sk_X509_num(path) != depth) {
        char nm[128];
        mk_snp_cert_name(leaf, nm, sizeof nm);
        rc = mk_error_set(err, MK_EUNTRUSTED, "certificate '%s': path of %d certificates (want %d)",
                          nm, path ? sk_X509_num(path) : 0, depth);
    }
out:
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    return rc;
}

/* Steps 2 and 3: what the offered certificates may change. */
static int pick_intermediate(const mk_snp_chain_in *in, int64_t now, X509 **inter, mk_error *err) {
    *inter = in->intermediate;
    if (!in->offered) return 0;
    char nm[128];
    for (size_t i = 0; i < in->offered->n; i++) {
        X509 *c = in->offered->cert[i];
        if (c == in->leaf || same_der(c, in->leaf)) continue;
        mk_snp_cert_name(c, nm, sizeof nm);
        if (self_issued(c)) {
            if (!same_der(c, in->root))
                return mk_error_set(err, MK_EUNTRUSTED,
                                    "the certificates offered hold a root '%s' that is not %s", nm,
                                    in->root_label);
            continue;
        }
        if (same_der(c, in->intermediate) ||
            X509_NAME_cmp(X509_get_subject_name(c), X509_get_subject_name(in->intermediate)))
            continue;
        int rc = openssl_path(in->root, NULL, c, 2, now, err);
        if (rc < 0)
            return mk_error_prefix(err, rc,
                                   "certificate '%s' offered as the intermediate is not AMD's "
                                   "(under %s)",
                                   nm, in->root_label);
        *inter = c;
    }
    return 0;
}

int mk_snp_chain_verify(const mk_snp_chain_in *in, int64_t now, mk_snp_chain_out *out,
                        mk_error *err) {
    memset(out, 0, sizeof *out);
    if (!in || !in->root || !in->intermediate || !in->leaf)
        return mk_error_set(err, MK_EINVAL, "chain: missing certificate");
    char nm[128], iss[128], want[128];
    mk_snp_cert_name(in->leaf, nm, sizeof nm);
    mk_snp_issuer_name(in->leaf, iss, sizeof iss);
    if (self_issued(in->leaf))
        return mk_error_set(err, MK_EUNTRUSTED,
                            "certificate '%s' is self-signed; it must be issued under %s", nm,
                            in->root_label);
    X509 *inter;
    MK_TRY(pick_intermediate(in, now, &inter, err));
    mk_snp_cert_name(inter, want, sizeof want);
    if (X509_NAME_cmp(X509_get_issuer_name(in->leaf), X509_get_subject_name(inter)))
        return mk_error_set(err, MK_EUNTRUSTED,
                            "certificate '%s' is issued by '%s', not by '%s' (under %s)", nm, iss,
                            want, in->root_label);
    MK_TRY(openssl_path(in->root, inter, in->leaf, 3, now, err));
    X509 *all[3] = {in->leaf, inter, in->root};
    out->not_before = INT64_MIN;
    out->not_after = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        int64_t nb, na;
        if (mk_snp_cert_window(all[i], &nb, &na) < 0)
            return mk_error_set(err, MK_EMALFORMED, "certificate validity is unreadable");
        if (nb > out->not_before) out->not_before = nb;
        if (na < out->not_after) out->not_after = na;
    }
    out->intermediate = inter;
    return 0;
}

int mk_snp_cert_signed_by(X509 *cert, X509 *issuer) {
    EVP_PKEY *k = issuer ? X509_get0_pubkey(issuer) : NULL;
    if (!cert || !k || X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(issuer)))
        return 0;
    int ok = X509_verify(cert, k) == 1;
    ERR_clear_error();
    return ok;
}

bool mk_snp_cert_same(X509 *a, X509 *b) {
    return a && b && same_der(a, b);
}

/* ------------------------------------------------------------------ */
/* CRLs                                                                */
/* ------------------------------------------------------------------ */

static int crl_parse(const uint8_t *data, size_t len, X509_CRL **out, mk_error *err) {
    *out = NULL;
    if (!data || len == 0) return mk_error_set(err, MK_EMALFORMED, "CRL: empty");
    if (len > MK_SNP_CRL_MAX)
        return mk_error_set(err, MK_ETOOBIG, "CRL: %zu bytes (cap %d)", len, MK_SNP_CRL_MAX);
    if (looks_pem(data, len)) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        *out = bio ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
    } else {
        const unsigned char *p = data;
        *out = d2i_X509_CRL(NULL, &p, (long)len);
        if (*out && p != data + len) {
            X509_CRL_free(*out);
            *out = NULL;
            return mk_error_set(err, MK_EMALFORMED, "CRL: bytes after it");
        }
    }
    if (!*out) return mk_error_openssl(err, MK_EMALFORMED, "CRL");
    return 0;
}

static int crl_window(X509_CRL *crl, int64_t now, int64_t *next_update, mk_error *err) {
    int64_t tu, nu;
    char a[MK_RFC3339_LEN], b[MK_RFC3339_LEN];
    if (!asn1_epoch(X509_CRL_get0_lastUpdate(crl), &tu))
        return mk_error_set(err, MK_EMALFORMED, "CRL: thisUpdate unreadable");
    if (!asn1_epoch(X509_CRL_get0_nextUpdate(crl), &nu))
        return mk_error_set(err, MK_EMALFORMED, "CRL: no readable nextUpdate");
    mk_time_format_rfc3339(now, b);
    if (now < tu) {
        mk_time_format_rfc3339(tu, a);
        return mk_error_set(err, MK_ENOTYET, "CRL: not valid before %s (now %s)", a, b);
    }
    if (now >= nu) {
        mk_time_format_rfc3339(nu, a);
        return mk_error_set(err, MK_EEXPIRED, "CRL: expired at %s (now %s)", a, b);
    }
    *next_update = nu;
    return 0;
}

int mk_snp_crl_check(const uint8_t *data, size_t len, X509 *root, X509 *cert, int64_t now,
                     int64_t *next_update, mk_error *err) {
    X509_CRL *crl;
    MK_TRY(crl_parse(data, len, &crl, err));
    char rn[128], cn[128];
    mk_snp_cert_name(root, rn, sizeof rn);
    mk_snp_cert_name(cert, cn, sizeof cn);
    int rc = 0;
    EVP_PKEY *key = X509_get0_pubkey(root);
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(root))) {
        char in[128];
        name_of(X509_CRL_get_issuer(crl), in, sizeof in);
        rc = mk_error_set(err, MK_EUNTRUSTED, "CRL: issued by '%s', not by '%s'", in, rn);
    } else if (!key || X509_CRL_verify(crl, key) != 1) {
        ERR_clear_error();
        rc = mk_error_set(err, MK_EBADSIG, "CRL: signature does not verify under '%s'", rn);
    } else if ((rc = crl_window(crl, now, next_update, err)) == 0) {
        X509_REVOKED *rev = NULL;
        if (X509_CRL_get0_by_cert(crl, &rev, cert) == 1)
            rc = mk_error_set(err, MK_EREVOKED, "certificate '%s' is revoked by %s's CRL", cn, rn);
    }
    X509_CRL_free(crl);
    return rc;
}
