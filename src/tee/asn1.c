/*
 * tee/asn1.c — small readers for the DER values in platform certificate
 * extensions (TDX's SGX extension of a PCK certificate, SNP's TCB and
 * hwID extensions of a VCEK).
 *
 * Every reader takes an ASN1_TYPE that OpenSSL's decoder produced (so the
 * DER itself was parsed by OpenSSL, under the caller's size caps) and
 * checks its type and size or range exactly: an OCTET STRING of a fixed
 * length, an INTEGER or ENUMERATED decoded as an integer (255 is the two
 * content bytes 00 FF) within 0..max. mk_tee_x509_ext finds an extension
 * by its OID's DER content bytes and refuses a certificate that carries it
 * twice, so a second, contradicting copy can never be the one read.
 * Reasons name the field as the caller calls it.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "tee/tee_internal.h"

int mk_tee_asn1_octets(const ASN1_TYPE *v, uint8_t *dst, size_t n, const char *name,
                       mk_error *err) {
    if (!v || ASN1_TYPE_get(v) != V_ASN1_OCTET_STRING ||
        (size_t)ASN1_STRING_length(v->value.octet_string) != n)
        return mk_error_set(err, MK_EMALFORMED, "%s: want an OCTET STRING of %zu bytes", name, n);
    memcpy(dst, ASN1_STRING_get0_data(v->value.octet_string), n);
    return 0;
}

int mk_tee_asn1_uint(const ASN1_TYPE *v, int type, int64_t max, int64_t *out, const char *name,
                     mk_error *err) {
    int64_t x = -1;
    int ok = 0;
    if (v && ASN1_TYPE_get(v) == type) {
        ok = type == V_ASN1_INTEGER ? ASN1_INTEGER_get_int64(&x, v->value.integer)
                                    : ASN1_ENUMERATED_get_int64(&x, v->value.enumerated);
    }
    ERR_clear_error();
    if (ok != 1 || x < 0 || x > max)
        return mk_error_set(err, MK_EMALFORMED, "%s: want an %s in 0..%lld", name,
                            type == V_ASN1_INTEGER ? "INTEGER" : "ENUMERATED", (long long)max);
    *out = x;
    return 0;
}

int mk_tee_x509_ext(X509 *x, const uint8_t *oid, size_t oid_len, const char *what,
                    const uint8_t **val, size_t *len, mk_error *err) {
    if (!x || !oid || !val || !len) return mk_error_set(err, MK_EINVAL, "%s: no certificate", what);
    int found = -1;
    const STACK_OF(X509_EXTENSION) *exts = X509_get0_extensions(x);
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        const ASN1_OBJECT *o = X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i));
        const unsigned char *od = OBJ_get0_data(o);
        if (od && OBJ_length(o) == oid_len && memcmp(od, oid, oid_len) == 0) {
            if (found >= 0) return mk_error_set(err, MK_EMALFORMED, "%s: present twice", what);
            found = i;
        }
    }
    if (found < 0) return mk_error_set(err, MK_EMALFORMED, "%s: missing in the leaf", what);
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(sk_X509_EXTENSION_value(exts, found));
    *val = ASN1_STRING_get0_data(v);
    *len = (size_t)ASN1_STRING_length(v);
    return 0;
}
