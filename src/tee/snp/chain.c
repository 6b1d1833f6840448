/*
 * tee/snp/chain.c — the X.509 step of SEV-SNP verification on the shared
 * trust store (tee/trust.c, tee/x509.c): AMD's store, reading certificate
 * files, the path VCEK/VLEK <- ASK/ASVK <- ARK of the report's product at
 * an explicit time, and AMD's CRLs.
 *
 * AMD's store (mk_snp_trust_new) pins the three ARKs (Milan, Genoa, Turin,
 * in that order: root index = product - 1) by their SHA-256 and accepts
 * RSASSA-PSS only (every signature in AMD's chains). Each ARK has its own
 * OpenSSL store inside, so a Genoa ASK can never be taken as issued by the
 * Milan ARK; the shared store also caches verified intermediates, so a
 * second VCEK under a known ASK costs one RSA verification.
 *
 * Reading (mk_snp_certs_read): PEM (every CERTIFICATE block, at most
 * MK_SNP_CHAIN_MAX_CERTS; a malformed block is an error, other text is
 * ignored) or exactly one DER certificate with nothing after it.
 *
 * The path (mk_snp_chain_verify). The anchor is always the product's
 * pinned ARK and the intermediate by default its built-in ASK (VCEK) or
 * ASVK (VLEK); what a file or a ticket offered besides the leaf can never
 * replace the anchor:
 *   1. the leaf must not be self-issued (a self-signed "VCEK" is refused
 *      before any signature is looked at);
 *   2. an offered self-issued certificate must be the product's ARK byte for
 *      byte — a self-made root named "ARK-Milan" is refused here;
 *   3. an offered certificate named like the intermediate but not
 *      byte-identical to the built-in one (AMD may reissue an ASK) is used
 *      only if it verifies under the product's ARK at `now`; offered
 *      certificates with other names are ignored;
 *   4. the leaf's issuer name must be the intermediate's subject;
 *   5. the shared store verifies leaf <- intermediate <- ARK at `now`
 *      (signatures, windows, CA constraints, RSA-PSS parameters), and the
 *      path must end in this product's ARK.
 *
 * The simulator's way (only when a verifier was told to trust a simulator
 * root, in.sim_trust): a leaf whose issuer is not the product's AMD
 * intermediate is verified against that root alone, in a store of its own
 * that holds no AMD certificate and accepts ECDSA only, with the offered
 * certificates as candidate intermediates; the result is marked simulated.
 * A leaf that names AMD's intermediate as its issuer always goes AMD's
 * way, so a simulator root can never stand in for an ARK.
 *
 * CRLs (mk_snp_crl_check): parsed, checked (issuer = the ARK, its
 * signature RSA-PSS by the ARK's key, thisUpdate <= now < nextUpdate) and
 * searched by the shared CRL helpers; a simulator's CRL the same way with
 * ECDSA (mk_snp_crl_check_sim).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/ossl.h"
#include "mosaik/clock.h"
#include "tee/snp/snp_internal.h"
#include "tee/tee_internal.h"

int mk_snp_trust_new(mk_tee_trust **out, mk_error *err) {
    static const mk_tee_trust_config cfg = {
        .anchor = "AMD's ARK",
        .pinned = "AMD's pinned ARK",
        .sim_hint = NULL,
        .sigalgs = MK_TEE_SIGALG_RSA_PSS,
    };
    mk_tee_root roots[3];
    for (int i = 0; i < 3; i++) {
        mk_snp_product p = (mk_snp_product)(MK_SNP_MILAN + i);
        roots[i].der = mk_snp_amd_cert_der(p, MK_SNP_CA_ARK, &roots[i].len);
        roots[i].sha256 = mk_snp_amd_cert_pin(p, MK_SNP_CA_ARK);
        if (!roots[i].der)
            return mk_error_set(err, MK_ECRYPTO, "built-in ARK-%s unusable",
                                mk_snp_product_name(p));
    }
    return mk_tee_trust_new(&cfg, roots, 3, out, err);
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
    if (len > MK_SNP_CERTS_MAX)
        return mk_error_set(err, MK_ETOOBIG, "certificate data of %zu bytes (cap %d)", len,
                            MK_SNP_CERTS_MAX);
    if (looks_pem(data, len)) return read_pem(data, len, l, err);
    if (l->n == MK_SNP_CHAIN_MAX_CERTS)
        return mk_error_set(err, MK_ETOOBIG, "more than %d certificates", MK_SNP_CHAIN_MAX_CERTS);
    X509 *x = mk_tee_x509_from_der(data, len);
    if (!x) {
        /* Say why: trailing bytes, or not a certificate at all. */
        const unsigned char *p = data;
        X509 *y = len <= MK_SNP_CERT_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
        size_t extra = y ? (size_t)(data + len - p) : 0;
        X509_free(y);
        ERR_clear_error();
        if (extra)
            return mk_error_set(err, MK_EMALFORMED, "DER certificate: %zu bytes after it", extra);
        return mk_error_set(err, len > MK_SNP_CERT_MAX ? MK_ETOOBIG : MK_EMALFORMED,
                            "not a DER or PEM certificate (%zu bytes)", len);
    }
    l->cert[l->n++] = x;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The path                                                            */
/* ------------------------------------------------------------------ */

/* Steps 2 and 3: what the offered certificates may change. */
static int pick_intermediate(const mk_snp_chain_in *in, X509 *ark, const char *label, int64_t now,
                             X509 **inter, mk_error *err) {
    if (!in->offered) return 0;
    char nm[128];
    for (size_t i = 0; i < in->offered->n; i++) {
        X509 *c = in->offered->cert[i];
        if (mk_tee_same_der(c, in->leaf)) continue;
        mk_tee_cert_name(c, nm, sizeof nm);
        if (mk_tee_self_issued(c)) {
            if (!mk_tee_same_der(c, ark))
                return mk_error_set(err, MK_EUNTRUSTED,
                                    "the certificates offered hold a root '%s' that is not %s", nm,
                                    label);
            continue;
        }
        if (mk_tee_same_der(c, *inter) ||
            X509_NAME_cmp(X509_get_subject_name(c), X509_get_subject_name(*inter)))
            continue;
        mk_tee_chain ch;
        int rc = mk_tee_chain_verify_certs(in->trust, &c, 1, NULL, 0, now, &ch, err);
        if (rc == 0 && ch.root_index != (int)in->product - 1)
            rc = mk_error_set(err, MK_EUNTRUSTED, "it is under another product's ARK");
        mk_tee_chain_free(&ch);
        if (rc < 0)
            return mk_error_prefix(err, rc,
                                   "certificate '%s' offered as the intermediate is not AMD's "
                                   "(under %s)",
                                   nm, label);
        *inter = c;
    }
    return 0;
}

int mk_snp_sim_trust_new(const uint8_t *root_der, size_t len, mk_tee_trust **out, mk_error *err) {
    static const mk_tee_trust_config cfg = {
        .anchor = "the trusted SNP simulator root",
        .pinned = "the trusted SNP simulator root",
        .sim_hint = NULL,
        .sigalgs = MK_TEE_SIGALG_ECDSA,
    };
    MK_TRY(mk_tee_trust_new(&cfg, NULL, 0, out, err));
    int rc = mk_tee_trust_add_sim_root(*out, root_der, len, err);
    if (rc < 0) {
        mk_tee_trust_free(*out);
        *out = NULL;
    }
    return rc;
}

/* The simulator's way: leaf <- an offered intermediate <- the simulator
 * root. */
static int sim_path(const mk_snp_chain_in *in, int64_t now, mk_tee_chain *out, mk_error *err) {
    X509 *pool[MK_TEE_CHAIN_POOL_MAX];
    size_t np = 0;
    for (size_t i = 0; in->offered && i < in->offered->n && np < MK_TEE_CHAIN_POOL_MAX; i++)
        if (!mk_tee_self_issued(in->offered->cert[i])) pool[np++] = in->offered->cert[i];
    MK_TRY(mk_tee_chain_verify_certs(in->sim_trust, &in->leaf, 1, pool, np, now, out, err));
    if (!out->simulated || !out->intermediate) {
        mk_tee_chain_free(out);
        return mk_error_set(err, MK_EUNTRUSTED, "not a simulator chain of three certificates");
    }
    return 0;
}

int mk_snp_chain_verify(const mk_snp_chain_in *in, int64_t now, mk_tee_chain *out, mk_error *err) {
    memset(out, 0, sizeof *out);
    if (!in || !in->trust || !in->leaf || in->product < MK_SNP_MILAN || in->product > MK_SNP_TURIN)
        return mk_error_set(err, MK_EINVAL, "chain: missing certificate or product");
    X509 *ark = mk_tee_trust_root(in->trust, (int)in->product - 1);
    X509 *inter = mk_snp_amd_cert_x509(in->product, in->ca);
    if (!ark || !inter) return mk_error_set(err, MK_ECRYPTO, "built-in certificates unusable");
    char label[64], nm[128], iss[128], want[128];
    snprintf(label, sizeof label, "AMD's pinned ARK-%s", mk_snp_product_name(in->product));
    mk_tee_cert_name(in->leaf, nm, sizeof nm);
    mk_tee_x509_name(X509_get_issuer_name(in->leaf), iss, sizeof iss);
    if (mk_tee_self_issued(in->leaf))
        return mk_error_set(err, MK_EUNTRUSTED,
                            "certificate '%s' is self-signed; it must be issued under %s", nm,
                            label);
    if (in->sim_trust &&
        X509_NAME_cmp(X509_get_issuer_name(in->leaf), X509_get_subject_name(inter)))
        return sim_path(in, now, out, err);
    MK_TRY(pick_intermediate(in, ark, label, now, &inter, err));
    mk_tee_cert_name(inter, want, sizeof want);
    if (X509_NAME_cmp(X509_get_issuer_name(in->leaf), X509_get_subject_name(inter)))
        return mk_error_set(err, MK_EUNTRUSTED,
                            "certificate '%s' is issued by '%s', not by '%s' (under %s)", nm, iss,
                            want, label);
    X509 *certs[2] = {in->leaf, inter};
    MK_TRY(mk_tee_chain_verify_certs(in->trust, certs, 2, NULL, 0, now, out, err));
    if (out->root_index != (int)in->product - 1 || !out->intermediate) {
        mk_tee_chain_free(out);
        return mk_error_set(err, MK_EUNTRUSTED, "certificate '%s' does not chain to %s", nm, label);
    }
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

/* ------------------------------------------------------------------ */
/* CRLs                                                                */
/* ------------------------------------------------------------------ */

static int crl_check(const uint8_t *data, size_t len, X509 *root, X509 *cert, unsigned sigalgs,
                     int64_t now, int64_t *next_update, mk_error *err) {
    X509_CRL *crl;
    MK_TRY(mk_tee_crl_parse(data, len, &crl, err));
    int rc = mk_tee_crl_check(crl, root, sigalgs, now, err);
    if (rc == 0 && !mk_tee_asn1_time(X509_CRL_get0_nextUpdate(crl), next_update))
        rc = mk_error_set(err, MK_EMALFORMED, "CRL: nextUpdate unreadable");
    if (rc == 0) rc = mk_tee_crl_lookup(crl, cert, err);
    X509_CRL_free(crl);
    return rc;
}

int mk_snp_crl_check(const uint8_t *data, size_t len, X509 *root, X509 *cert, int64_t now,
                     int64_t *next_update, mk_error *err) {
    return crl_check(data, len, root, cert, MK_TEE_SIGALG_RSA_PSS, now, next_update, err);
}

int mk_snp_crl_check_sim(const uint8_t *data, size_t len, X509 *root, X509 *cert, int64_t now,
                         int64_t *next_update, mk_error *err) {
    return crl_check(data, len, root, cert, MK_TEE_SIGALG_ECDSA, now, next_update, err);
}
