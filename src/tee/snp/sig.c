/*
 * tee/snp/sig.c — the report's signature: ECDSA P-384 with SHA-384 over
 * bytes [0, 0x2A0), by the VCEK's or VLEK's key.
 *
 * The report stores r and s as 72-byte little-endian fields (at 0x2A0 and
 * 0x2E8) holding 48-byte values. Before anything is handed to OpenSSL:
 * bytes 48..71 of each must be zero (a larger value is out of range), and
 * each value must lie in [1, n-1] for the P-384 group order n — zero and
 * out-of-range values are refused with a reason of their own rather than as
 * a failed verification. Then r and s are reversed to big-endian and the
 * SHA-384 digest of the signed range is verified under the key, which must
 * be an EC key on P-384 (a VCEK/VLEK never has another).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "crypto/ossl.h"
#include "mosaik/crypto.h"
#include "tee/snp/snp_internal.h"

#define COORD 48

/* The order n of P-384, big-endian. */
static const uint8_t P384_N[COORD] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
};

/* One 72-byte little-endian field to 48 big-endian bytes, range checked. */
static int scalar(const uint8_t field[72], const char *what, uint8_t be[COORD], mk_error *err) {
    for (int i = COORD; i < 72; i++)
        if (field[i])
            return mk_error_set(err, MK_EMALFORMED,
                                "%s is out of range (non-zero byte %d of its 72-byte field)", what,
                                i);
    uint8_t acc = 0;
    for (int i = 0; i < COORD; i++) {
        be[i] = field[COORD - 1 - i];
        acc |= be[i];
    }
    if (!acc) return mk_error_set(err, MK_EMALFORMED, "%s is zero", what);
    if (memcmp(be, P384_N, COORD) >= 0)
        return mk_error_set(err, MK_EMALFORMED, "%s is not below the P-384 group order", what);
    return 0;
}

static bool is_p384(EVP_PKEY *key) {
    char grp[32];
    size_t gl = 0;
    if (!key || !EVP_PKEY_is_a(key, "EC")) return false;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, grp, sizeof grp, &gl) != 1)
        return false;
    return !strcmp(grp, "secp384r1") || !strcmp(grp, "P-384");
}

int mk_snp_report_verify_sig(const mk_snp_report *r, EVP_PKEY *key, mk_error *err) {
    if (!r || !r->raw) return mk_error_set(err, MK_EINVAL, "no report");
    uint8_t rs[2 * COORD];
    MK_TRY(scalar(r->signature_r, "r", rs, err));
    MK_TRY(scalar(r->signature_s, "s", rs + COORD, err));
    if (!is_p384(key))
        return mk_error_set(err, MK_EUNSUPPORTED, "the certificate's key is not an EC P-384 key");
    uint8_t digest[MK_SHA384_LEN];
    mk_sha384(r->raw, MK_SNP_SIGNED_LEN, digest);
    return mk_ecdsa_verify_digest_evp(key, digest, sizeof digest, rs, sizeof rs, err);
}
