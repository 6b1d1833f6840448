/*
 * jwt_util.h — what the tests split out of test_jwt.c share: the helpers and
 * fixtures below, and the top comment of the original file:
 *
 * Unit tests of tickets/jwt.c and jwt_issue.c: RFC example tokens (RFC 7515
 * A.1 HS256, A.3 ES256, RFC 8037 A.4 EdDSA), issue→validate round trips for
 * every algorithm, each refusal with its reason, and the validator
 * signature's canonical form. All times are explicit.
 */
#ifndef MOSAIK_TESTS_JWT_UTIL_H
#define MOSAIK_TESTS_JWT_UTIL_H
#include <jansson.h>

#include "test_util.h"

/* RFC 7515 A.1: the JWK "k" of the HMAC key, in hex. */
static const char A1_KEY_HEX[] = "0323354b2b0fa5bc837e0665777ba68f5ab328e6f054c928a90f84b2d2502ebf"
                                 "d3fb5a92d20647ef968ab4c377623d223d2e2172052e4f08c0cd9af567d080a3";
static const char A1_TOKEN[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                               "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGx"
                               "lLmNvbS9pc19yb290Ijp0cnVlfQ."
                               "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/* RFC 7515 A.3: the P-256 key (x, y, d) in hex, and the token. */
static const char A3_X[] = "7fcdce2770f6c45d4183cbee6fdb4b7b580733357be9ef13bacf6e3c7bd15445";
static const char A3_Y[] = "c7f144cd1bbd9b7e872cdfedb9eeb9f4b3695d6ea90b24ad8a4623288588e5ad";
static const char A3_D[] = "8e9b109e719098bf980487df1f5d77e9cb29606ebed2263b5f57c213df84f4b2";
static const char A3_TOKEN[] =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    "."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
static const int64_t RFC_EXP = 1300819380;
/* RFC 8037 A.4 (the key is RFC 8032 test 1). */
static const char ED_D[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char ED_X[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char ED_TOKEN[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

static const int64_t T0 = 1750000000; /* 2025-06-15 */

static inline void unhex(const char *hex, uint8_t *out, size_t n) {
    mk_error err;
    if (mk_hex_decode_exact(hex, out, n, &err) != 0) fail_msg("bad hex: %s", err.msg);
}

static inline mk_jwt_key *a1_key(void) {
    uint8_t k[64];
    unhex(A1_KEY_HEX, k, sizeof k);
    mk_jwt_key *key = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_jwt_key_hs(MK_JWT_HS256, k, sizeof k, &key, &err), 0, &err);
    return key;
}

static inline mk_jwt_key *a3_pub(void) {
    char hex[2 * 64 + 1];
    snprintf(hex, sizeof hex, "%s%s", A3_X, A3_Y);
    mk_jwt_key *key = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_jwt_key_es_public_hex(MK_JWT_ES256, hex, &key, &err), 0, &err);
    return key;
}

static inline mk_jwt_key *hs_key(mk_jwt_alg alg, uint8_t fill) {
    uint8_t k[64];
    memset(k, fill, sizeof k);
    mk_jwt_key *key = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_jwt_key_hs(alg, k, sizeof k, &key, &err), 0, &err);
    return key;
}

static inline mk_id peer_a(void) {
    mk_id id;
    mk_id_from_name(&id, "test peer a");
    return id;
}

static inline mk_id peer_b(void) {
    mk_id id;
    mk_id_from_name(&id, "test peer b");
    return id;
}

/* Validate a token as the validator would for a peer. */
static inline int validate(const mk_validator *v, const char *tok, const mk_id *peer, int64_t now,
                           mk_expiration *exp, mk_error *err) {
    mk_peer_view pv;
    memset(&pv, 0, sizeof pv);
    if (peer) pv.peer_id = *peer;
    mk_error_clear(err);
    mk_expiration e = 0;
    int rc = v->ops->validate(v, (const uint8_t *)tok, strlen(tok), &pv, now, exp ? exp : &e, err);
    return rc;
}

/* A validator configured by o (copied; NULL: the defaults) over
 * keys[0..n); NULL on failure, with err saying why. */
static inline mk_validator *jwt_new(const mk_jwt_validator_config *o, const mk_jwt_key *const *keys,
                                    size_t n, mk_error *err) {
    mk_jwt_validator_config c;
    if (o)
        c = *o;
    else
        mk_jwt_validator_config_init(&c);
    c.keys = keys;
    c.n_keys = n;
    mk_validator *v = NULL;
    int rc = mk_jwt_validator_new(&c, &v, err);
    assert_true(rc < 0 ? v == NULL : rc == 0 && v != NULL);
    return v;
}

/* A validator over one key with the given options. */
static inline mk_validator *validator1(const mk_jwt_validator_config *o, const mk_jwt_key *k) {
    mk_error err;
    mk_error_clear(&err);
    mk_validator *v = jwt_new(o, &k, 1, &err);
    if (!v) fail_msg("validator: %s", err.msg);
    return v;
}

/* A standard token for peer a, issued at T0, expiring at T0+3600. */
static inline char *std_token(const mk_jwt_key *k, void (*tweak)(mk_jwt_builder *)) {
    mk_jwt_builder *b = mk_jwt_builder_new();
    assert_non_null(b);
    mk_id pa = peer_a();
    assert_int_equal(mk_jwt_builder_set_issuer(b, "https://issuer.example"), 0);
    assert_int_equal(mk_jwt_builder_set_subject_peer(b, &pa), 0);
    assert_int_equal(mk_jwt_builder_add_audience(b, "mosaik-net"), 0);
    assert_int_equal(mk_jwt_builder_set_expires_in(b, 3600), 0);
    if (tweak) tweak(b);
    char *tok = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_jwt_builder_sign(b, k, T0, &tok, &err), 0, &err);
    mk_jwt_builder_free(b);
    return tok;
}

static inline void std_opts(mk_jwt_validator_config *o) {
    static const char *const iss[] = {"https://issuer.example"};
    static const char *const aud[] = {"mosaik-net"};
    mk_jwt_validator_config_init(o);
    o->issuers = iss;
    o->n_issuers = 1;
    o->audiences = aud;
    o->n_audiences = 1;
}

/* A token from literal header and payload bytes, signed by k (or with an
 * empty signature when k is NULL). */
static inline char *craft(const char *hdr, const char *payload, const mk_jwt_key *k) {
    mk_buf b = MK_BUF_INIT;
    assert_int_equal(mk_base64url_encode(hdr, strlen(hdr), &b), 0);
    assert_int_equal(mk_buf_append_u8(&b, '.'), 0);
    assert_int_equal(mk_base64url_encode(payload, strlen(payload), &b), 0);
    if (k) {
        uint8_t sig[MK_JWT_MAX_SIG];
        size_t n;
        assert_int_equal(mk_jwt_key_sign(k, b.data, b.len, sig, &n, NULL), 0);
        assert_int_equal(mk_buf_append_u8(&b, '.'), 0);
        assert_int_equal(mk_base64url_encode(sig, n, &b), 0);
    } else {
        assert_int_equal(mk_buf_append_str(&b, "."), 0);
    }
    assert_int_equal(mk_buf_append_u8(&b, 0), 0);
    size_t len;
    return (char *)mk_buf_steal(&b, &len);
}

/* ---- RFC vectors ---- */

/* ---- round trips ---- */

/* ---- refusals, each with its reason ---- */

static inline void tweak_nbf(mk_jwt_builder *b) {
    mk_jwt_builder_set_not_before(b, T0 + 600);
}
static inline void tweak_iat_future(mk_jwt_builder *b) {
    mk_jwt_builder_set_issued_at(b, T0 + 600);
}

static inline void tweak_iss(mk_jwt_builder *b) {
    mk_jwt_builder_set_issuer(b, "https://evil.example");
}
static inline void tweak_aud(mk_jwt_builder *b) {
    mk_jwt_builder_add_audience(b, "other-net"); /* now ["mosaik-net","other-net"] */
}
static inline void tweak_role_user(mk_jwt_builder *b) {
    mk_jwt_builder_set_claim(b, "role", "\"user\"", NULL);
}
static inline void tweak_role_admin(mk_jwt_builder *b) {
    mk_jwt_builder_set_claim(b, "role", "\"admin\"", NULL);
    mk_jwt_builder_set_claim(b, "level", "3", NULL);
}

/* ---- signature ---- */

#endif
