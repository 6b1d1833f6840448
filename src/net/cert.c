/*
 * net/cert.c — self-signed Ed25519 certificates carrying the peer id.
 *
 * A node's certificate is an X.509 v3 certificate over its Ed25519 key,
 * self-signed, subject = issuer = "CN=mosaik <first 16 hex of the id>", a random
 * 128-bit serial, valid from one hour ago for 30 days. The certificate is
 * only a container for the public key in TLS: identity is the key, and
 * possession of it is proven by the TLS 1.3 CertificateVerify signature.
 *
 * Checking a peer's certificate (mk_transport_cert_peer_id): the key must be
 * Ed25519 and the certificate's self-signature must verify with it; the
 * 32-byte raw public key is the peer id. Validity dates are deliberately not
 * checked (clocks of peers differ; the dates carry no authority here).
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/ossl.h"
#include "net/net_internal.h"

#define CERT_VALID_SECS (30L * 24 * 3600)
#define CERT_BACKDATE_SECS 3600L

int mk_transport_cert_make(const mk_ed25519_key *key, EVP_PKEY **pkey_out, X509 **cert_out,
                           mk_error *err) {
    int rc = MK_ECRYPTO;
    X509 *x = NULL;
    BIGNUM *bn = NULL;
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, key->secret, 32);
    if (!pk) return mk_error_openssl(err, MK_ECRYPTO, "certificate: Ed25519 key");
    x = X509_new();
    if (!x) goto fail;
    if (!X509_set_version(x, 2)) goto fail;
    uint8_t serial[16];
    if (mk_random_bytes(serial, sizeof serial) < 0) goto fail;
    serial[0] &= 0x7f; /* positive */
    serial[0] |= 0x01; /* non-zero */
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) goto fail;
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -CERT_BACKDATE_SECS)) goto fail;
    if (!X509_gmtime_adj(X509_getm_notAfter(x), CERT_VALID_SECS)) goto fail;
    mk_id pid;
    memcpy(pid.b, key->public_key, 32);
    char hex[MK_ID_HEX_LEN], cn[80];
    mk_id_to_hex(&pid, hex);
    snprintf(cn, sizeof cn, "mosaik %.16s", hex); /* CN holds at most 64 chars */
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
        goto fail;
    if (!X509_set_issuer_name(x, name)) goto fail;
    if (!X509_set_pubkey(x, pk)) goto fail;
    if (X509_sign(x, pk, NULL) <= 0) goto fail; /* Ed25519: no separate digest */
    BN_free(bn);
    *pkey_out = pk;
    *cert_out = x;
    return 0;
fail:
    rc = mk_error_openssl(err, MK_ECRYPTO, "certificate");
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(pk);
    return rc;
}

int mk_transport_cert_peer_id(X509 *cert, mk_id *out, mk_error *err) {
    if (!cert) return mk_error_set(err, MK_EUNTRUSTED, "peer sent no certificate");
    EVP_PKEY *pk = X509_get0_pubkey(cert);
    if (!pk) return mk_error_set(err, MK_EMALFORMED, "peer certificate: unreadable public key");
    if (EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519)
        return mk_error_set(err, MK_EUNSUPPORTED, "peer certificate: key is %s, not Ed25519",
                            OBJ_nid2sn(EVP_PKEY_get_id(pk)));
    if (X509_verify(cert, pk) != 1) {
        mk_error_openssl(err, MK_EBADSIG, "peer certificate: self-signature does not verify");
        return MK_EBADSIG;
    }
    size_t n = MK_ID_LEN;
    if (EVP_PKEY_get_raw_public_key(pk, out->b, &n) != 1 || n != MK_ID_LEN)
        return mk_error_openssl(err, MK_EMALFORMED, "peer certificate: raw public key");
    return 0;
}
