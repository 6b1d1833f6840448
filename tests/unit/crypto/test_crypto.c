/*
 * Unit tests of crypto/: the OpenSSL wrappers against published vectors —
 * SHA-2 (FIPS 180 "abc"), HMAC-SHA-256 (RFC 4231 case 2), ECDSA P-256
 * (RFC 6979 A.2.5, raw r||s), P-384 round trips, SEC1 point forms, Ed25519
 * (RFC 8032 test 1), constant-time comparison and bounded randomness.
 */
#include <openssl/crypto.h>

#include "test_util.h"

static void unhex(const char *hex, uint8_t *out, size_t n) {
    mk_error err;
    if (mk_hex_decode_exact(hex, out, n, &err) != 0) fail_msg("bad hex: %s", err.msg);
}

static void assert_hex(const uint8_t *got, size_t n, const char *want) {
    char buf[2 * 64 + 1];
    assert_true(n <= 64);
    mk_hex_encode(got, n, buf);
    assert_string_equal(buf, want);
}

static void sha2_abc(void **state) {
    (void)state;
    uint8_t d[64];
    mk_sha256("abc", 3, d);
    assert_hex(d, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    mk_sha384("abc", 3, d);
    assert_hex(d, 48,
               "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163"
               "1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
    mk_sha512("abc", 3, d);
    assert_hex(d, 64,
               "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
               "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    assert_int_equal(mk_hash_len(MK_SHA384), 48);
    assert_int_equal(mk_hash((mk_hash_alg)9, "abc", 3, d), MK_EINVAL);
    /* Incremental equals one-shot, and the context is reusable. */
    mk_hash_ctx *c = NULL;
    assert_int_equal(mk_hash_new(MK_SHA256, &c), 0);
    assert_non_null(c);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(mk_hash_update(c, "a", 1), 0);
        assert_int_equal(mk_hash_update(c, "bc", 2), 0);
        assert_int_equal(mk_hash_final(c, d), 0);
        assert_hex(d, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    mk_hash_free(c);
}

static void hmac_rfc4231(void **state) {
    (void)state;
    uint8_t mac[32];
    const char *data = "what do ya want for nothing?";
    assert_int_equal(mk_hmac(MK_SHA256, "Jefe", 4, data, strlen(data), mac), 0);
    assert_hex(mac, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* RFC 6979 A.2.5: P-256 key, SHA-256, message "sample". */
static const char P256_D[] = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
static const char P256_UX[] = "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6";
static const char P256_UY[] = "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";
static const char P256_R[] = "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716";
static const char P256_S[] = "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8";

static void ecdsa_p256_rfc6979(void **state) {
    (void)state;
    mk_error err;
    uint8_t pt[65], sig[64];
    pt[0] = 0x04;
    unhex(P256_UX, pt + 1, 32);
    unhex(P256_UY, pt + 33, 32);
    unhex(P256_R, sig, 32);
    unhex(P256_S, sig + 32, 32);
    mk_pubkey *pk = NULL;
    TU_ASSERT_RC(mk_pubkey_from_ec(MK_P256, pt, 65, &pk, &err), 0, &err);
    TU_ASSERT_RC(mk_ecdsa_verify_raw(pk, MK_SHA256, "sample", 6, sig, 64, &err), 0, &err);
    /* Over the precomputed digest too. */
    uint8_t dg[32];
    mk_sha256("sample", 6, dg);
    TU_ASSERT_RC(mk_ecdsa_verify_digest_raw(pk, dg, 32, sig, 64, &err), 0, &err);
    /* A digest shorter than the curve's is refused, not truncated-and-accepted. */
    assert_int_equal(mk_ecdsa_verify_digest_raw(pk, dg, 20, sig, 64, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "ECDSA digest");
    /* One flipped bit anywhere is refused: in s, in r, in the message. */
    sig[63] ^= 1;
    assert_int_equal(mk_ecdsa_verify_raw(pk, MK_SHA256, "sample", 6, sig, 64, &err), MK_EBADSIG);
    TU_ASSERT_REASON(&err, "does not verify");
    sig[63] ^= 1;
    sig[0] ^= 0x80;
    assert_int_equal(mk_ecdsa_verify_raw(pk, MK_SHA256, "sample", 6, sig, 64, &err), MK_EBADSIG);
    sig[0] ^= 0x80;
    assert_int_equal(mk_ecdsa_verify_raw(pk, MK_SHA256, "samplf", 6, sig, 64, &err), MK_EBADSIG);
    /* Wrong signature length. */
    assert_int_equal(mk_ecdsa_verify_raw(pk, MK_SHA256, "sample", 6, sig, 63, &err), MK_EMALFORMED);
    /* DER round trip of the raw signature. */
    uint8_t *der = NULL, back[64];
    size_t dlen = 0;
    assert_int_equal(mk_ecdsa_sig_raw_to_der(sig, 32, &der, &dlen), 0);
    assert_int_equal(mk_ecdsa_sig_der_to_raw(der, dlen, 32, back), 0);
    assert_memory_equal(back, sig, 64);
    OPENSSL_free(der);
    mk_pubkey_free(pk);

    /* The private scalar gives the RFC's public key. */
    uint8_t d[32], raw[96];
    size_t n = 0;
    unhex(P256_D, d, 32);
    mk_privkey *sk = NULL;
    TU_ASSERT_RC(mk_ec_from_scalar(MK_P256, d, 32, &sk, &err), 0, &err);
    assert_int_equal(mk_privkey_public_raw(sk, raw, &n), 0);
    assert_int_equal(n, 64);
    assert_memory_equal(raw, pt + 1, 64);
    /* A fresh signature by it verifies (ECDSA is randomised here). */
    uint8_t s2[96];
    size_t slen = 0;
    assert_int_equal(mk_ecdsa_sign_raw(sk, MK_SHA256, "msg", 3, s2, &slen), 0);
    assert_int_equal(slen, 64);
    mk_pubkey *pk2 = NULL;
    assert_int_equal(mk_privkey_public(sk, &pk2), 0);
    TU_ASSERT_RC(mk_ecdsa_verify_raw(pk2, MK_SHA256, "msg", 3, s2, slen, &err), 0, &err);
    mk_pubkey_free(pk2);
    mk_privkey_free(sk);
    /* Scalars 0 and >= n are refused. */
    uint8_t zero[32] = {0}, ff[32];
    memset(ff, 0xff, sizeof ff);
    assert_true(mk_ec_from_scalar(MK_P256, zero, 32, &sk, NULL) < 0);
    assert_true(mk_ec_from_scalar(MK_P256, ff, 32, &sk, NULL) < 0);
}

static void ecdsa_p384_roundtrip(void **state) {
    (void)state;
    mk_error err;
    mk_privkey *sk = NULL;
    assert_int_equal(mk_ec_generate(MK_P384, &sk), 0);
    uint8_t raw[96], sig[96];
    size_t n = 0, slen = 0;
    assert_int_equal(mk_privkey_public_raw(sk, raw, &n), 0);
    assert_int_equal(n, 96);
    assert_int_equal(mk_ecdsa_sign_raw(sk, MK_SHA384, "hello", 5, sig, &slen), 0);
    assert_int_equal(slen, 96);
    mk_pubkey *pk = NULL;
    TU_ASSERT_RC(mk_pubkey_from_ec(MK_P384, raw, 96, &pk, &err), 0, &err);
    TU_ASSERT_RC(mk_ecdsa_verify_raw(pk, MK_SHA384, "hello", 5, sig, 96, &err), 0, &err);
    assert_int_equal(mk_ecdsa_verify_raw(pk, MK_SHA384, "hellp", 5, sig, 96, &err), MK_EBADSIG);
    /* The hash is part of the signature: SHA-256 over the same bytes fails. */
    assert_int_equal(mk_ecdsa_verify_raw(pk, MK_SHA256, "hello", 5, sig, 96, &err), MK_EBADSIG);
    /* A P-256-sized signature is malformed for a P-384 key. */
    assert_int_equal(mk_ecdsa_verify_raw(pk, MK_SHA384, "hello", 5, sig, 64, &err), MK_EMALFORMED);
    mk_pubkey_free(pk);
    /* The P-384 point is not a P-256 key (length). */
    assert_true(mk_pubkey_from_ec(MK_P256, raw, 96, &pk, &err) < 0);
    mk_privkey_free(sk);
}

static void ec_point_forms(void **state) {
    (void)state;
    mk_error err;
    uint8_t unc[65], comp[33], sig[64];
    unc[0] = 0x04;
    unhex(P256_UX, unc + 1, 32);
    unhex(P256_UY, unc + 33, 32);
    comp[0] = (unc[64] & 1) ? 0x03 : 0x02;
    memcpy(comp + 1, unc + 1, 32);
    unhex(P256_R, sig, 32);
    unhex(P256_S, sig + 32, 32);
    mk_pubkey *a = NULL, *b = NULL, *c = NULL;
    TU_ASSERT_RC(mk_pubkey_from_ec(MK_P256, unc, 65, &a, &err), 0, &err);
    TU_ASSERT_RC(mk_pubkey_from_ec(MK_P256, comp, 33, &b, &err), 0, &err);
    TU_ASSERT_RC(mk_pubkey_from_ec(MK_P256, unc + 1, 64, &c, &err), 0, &err);
    TU_ASSERT_RC(mk_ecdsa_verify_raw(a, MK_SHA256, "sample", 6, sig, 64, &err), 0, &err);
    TU_ASSERT_RC(mk_ecdsa_verify_raw(b, MK_SHA256, "sample", 6, sig, 64, &err), 0, &err);
    TU_ASSERT_RC(mk_ecdsa_verify_raw(c, MK_SHA256, "sample", 6, sig, 64, &err), 0, &err);
    mk_pubkey_free(a);
    mk_pubkey_free(b);
    mk_pubkey_free(c);
    /* The other parity is the negated point: a different key. */
    comp[0] ^= 1;
    TU_ASSERT_RC(mk_pubkey_from_ec(MK_P256, comp, 33, &b, &err), 0, &err);
    assert_int_equal(mk_ecdsa_verify_raw(b, MK_SHA256, "sample", 6, sig, 64, &err), MK_EBADSIG);
    mk_pubkey_free(b);
    /* Off-curve point and bad prefix are refused. */
    unc[64] ^= 1;
    assert_true(mk_pubkey_from_ec(MK_P256, unc, 65, &a, &err) < 0);
    unc[64] ^= 1;
    unc[0] = 0x05;
    assert_int_equal(mk_pubkey_from_ec(MK_P256, unc, 65, &a, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "bad length");
}

/* RFC 8032 §7.1 test 1: empty message. */
static void ed25519_rfc8032(void **state) {
    (void)state;
    uint8_t sk[32], pk[32], sig[64], want[64];
    unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", sk, 32);
    unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", pk, 32);
    unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
          "1cf9b46bd25bf5f0595bbe24655141438e7a100b",
          want, 64);
    mk_ed25519_key k;
    assert_int_equal(mk_ed25519_from_secret(sk, &k), 0);
    assert_memory_equal(k.public_key, pk, 32);
    assert_int_equal(mk_ed25519_sign(&k, "", 0, sig), 0);
    assert_memory_equal(sig, want, 64);
    assert_int_equal(mk_ed25519_verify(pk, "", 0, sig), 0);
    sig[10] ^= 4;
    assert_int_equal(mk_ed25519_verify(pk, "", 0, sig), MK_EBADSIG);
    sig[10] ^= 4;
    assert_int_equal(mk_ed25519_verify(pk, "x", 1, sig), MK_EBADSIG);
    mk_ed25519_wipe(&k);
    uint8_t zero[32] = {0};
    assert_memory_equal(k.secret, zero, 32);
    /* Generated keys sign and verify. */
    mk_ed25519_key g;
    assert_int_equal(mk_ed25519_generate(&g), 0);
    assert_int_equal(mk_ed25519_sign(&g, "m", 1, sig), 0);
    assert_int_equal(mk_ed25519_verify(g.public_key, "m", 1, sig), 0);
    mk_pubkey *p = NULL;
    assert_int_equal(mk_pubkey_from_ed25519(g.public_key, &p, NULL), 0);
    mk_pubkey_free(p);
    mk_ed25519_wipe(&g);
}

static void ct_equal_and_random(void **state) {
    (void)state;
    uint8_t a[40], b[40];
    memset(a, 0x5a, sizeof a);
    memcpy(b, a, sizeof b);
    assert_true(mk_ct_equal(a, b, sizeof a));
    assert_true(mk_ct_equal(a, b, 0));
    for (size_t i = 0; i < sizeof a; i += 13) {
        b[i] ^= 0x01;
        assert_false(mk_ct_equal(a, b, sizeof a));
        b[i] ^= 0x01;
    }
    /* mk_random_below stays in range and reaches both ends of a small range. */
    bool seen[7] = {false};
    for (int i = 0; i < 2000; i++) {
        uint64_t v = mk_random_below(7);
        assert_true(v < 7);
        seen[v] = true;
    }
    for (int i = 0; i < 7; i++)
        assert_true(seen[i]);
    assert_int_equal(mk_random_below(0), 0);
    assert_int_equal(mk_random_below(1), 0);
    uint64_t big = (UINT64_C(1) << 63) + 12345;
    for (int i = 0; i < 100; i++)
        assert_true(mk_random_below(big) < big);
    /* Random bytes are not all equal (probability 2^-256 of a false failure). */
    uint8_t r1[32], r2[32];
    assert_int_equal(mk_random_bytes(r1, 32), 0);
    assert_int_equal(mk_random_bytes(r2, 32), 0);
    assert_false(mk_ct_equal(r1, r2, 32));
    uint8_t w[8];
    memset(w, 0xff, sizeof w);
    mk_wipe(w, sizeof w);
    for (int i = 0; i < 8; i++)
        assert_int_equal(w[i], 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha2_abc),
        cmocka_unit_test(hmac_rfc4231),
        cmocka_unit_test(ecdsa_p256_rfc6979),
        cmocka_unit_test(ecdsa_p384_roundtrip),
        cmocka_unit_test(ec_point_forms),
        cmocka_unit_test(ed25519_rfc8032),
        cmocka_unit_test(ct_equal_and_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
