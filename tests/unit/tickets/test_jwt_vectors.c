/*
 * test_jwt_vectors.c — JWS against the RFC 7515 / RFC 8037 examples, every algorithm round trip,
 * the builder and keys.
 *
 * Helpers and fixtures are in jwt_util.h.
 */
#include "jwt_util.h"

static void rfc7515_a1_hs256(void **state) {
    (void)state;
    mk_jwt_key *k = a1_key();
    mk_jwt j;
    mk_error err;
    TU_ASSERT_RC(
        mk_jwt_decode(A1_TOKEN, strlen(A1_TOKEN), (const mk_jwt_key *const *)&k, 1, &j, &err), 0,
        &err);
    assert_int_equal(j.alg, MK_JWT_HS256);
    assert_string_equal(j.iss, "joe");
    assert_true(j.has_exp);
    assert_int_equal(j.exp, RFC_EXP);
    assert_false(j.has_iat);
    assert_true(json_is_true(json_object_get(j.claims, "http://example.com/is_root")));
    assert_string_equal(json_string_value(json_object_get(j.header, "typ")), "JWT");
    mk_jwt_free(&j);

    /* As a ticket: valid before exp, with issuer joe and no subject binding. */
    static const char *const iss[] = {"joe"};
    mk_jwt_validator_config o;
    mk_jwt_validator_config_init(&o);
    o.issuers = iss;
    o.n_issuers = 1;
    o.subject_mode = MK_JWT_SUB_ANY;
    mk_validator *v = validator1(&o, k);
    mk_expiration e;
    TU_ASSERT_RC(validate(v, A1_TOKEN, NULL, RFC_EXP - 100, &e, &err), 0, &err);
    assert_int_equal(e, RFC_EXP);
    /* Today it is long expired. */
    TU_ASSERT_RC(validate(v, A1_TOKEN, NULL, T0, &e, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "expired at 2011-03-22T18:43:00Z");
    /* One flipped signature bit. */
    char bad[sizeof A1_TOKEN];
    memcpy(bad, A1_TOKEN, sizeof bad);
    bad[sizeof bad - 3] = bad[sizeof bad - 3] == 'X' ? 'Y' : 'X';
    TU_ASSERT_RC(validate(v, bad, NULL, RFC_EXP - 100, &e, &err), MK_EBADSIG, &err);
    mk_validator_free(v);
    mk_jwt_key_free(k);
}

static void rfc7515_a3_es256(void **state) {
    (void)state;
    mk_error err;
    uint8_t x[32], y[32], pt[65];
    unhex(A3_X, x, 32);
    unhex(A3_Y, y, 32);
    /* Raw X||Y, SEC1 uncompressed and SEC1 compressed (y is odd: 0x03). */
    mk_jwt_key *keys[3];
    pt[0] = 0x04;
    memcpy(pt + 1, x, 32);
    memcpy(pt + 33, y, 32);
    TU_ASSERT_RC(mk_jwt_key_es_public(MK_JWT_ES256, pt + 1, 64, &keys[0], &err), 0, &err);
    TU_ASSERT_RC(mk_jwt_key_es_public(MK_JWT_ES256, pt, 65, &keys[1], &err), 0, &err);
    uint8_t comp[33];
    comp[0] = (y[31] & 1) ? 0x03 : 0x02;
    memcpy(comp + 1, x, 32);
    TU_ASSERT_RC(mk_jwt_key_es_public(MK_JWT_ES256, comp, 33, &keys[2], &err), 0, &err);
    mk_id sig0;
    for (int i = 0; i < 3; i++) {
        mk_jwt j;
        TU_ASSERT_RC(mk_jwt_decode(A3_TOKEN, strlen(A3_TOKEN), (const mk_jwt_key *const *)&keys[i],
                                   1, &j, &err),
                     0, &err);
        assert_string_equal(j.iss, "joe");
        assert_int_equal(j.exp, RFC_EXP);
        mk_jwt_free(&j);
        /* The compressed key is the same key: canonical bytes and validator
         * signatures agree. */
        uint8_t raw[96];
        size_t n;
        assert_int_equal(mk_jwt_key_public_bytes(keys[i], raw, sizeof raw, &n), 0);
        assert_int_equal(n, 64);
        assert_memory_equal(raw, x, 32);
        assert_memory_equal(raw + 32, y, 32);
        mk_validator *v = validator1(NULL, keys[i]);
        mk_id s;
        mk_validator_signature(v, &s);
        if (i == 0)
            sig0 = s;
        else
            assert_true(mk_id_eq(&s, &sig0));
        mk_validator_free(v);
    }
    /* The private key d gives the same public key, and signs tokens the
     * public key verifies. */
    uint8_t d[32];
    unhex(A3_D, d, 32);
    mk_jwt_key *priv;
    TU_ASSERT_RC(mk_jwt_key_es_private(MK_JWT_ES256, d, 32, &priv, &err), 0, &err);
    uint8_t raw[96];
    size_t n;
    assert_int_equal(mk_jwt_key_public_bytes(priv, raw, sizeof raw, &n), 0);
    assert_memory_equal(raw, x, 32);
    char *tok = craft("{\"alg\":\"ES256\"}", "{\"iss\":\"joe\"}", priv);
    mk_jwt j;
    TU_ASSERT_RC(mk_jwt_decode(tok, strlen(tok), (const mk_jwt_key *const *)&keys[2], 1, &j, &err),
                 0, &err);
    mk_jwt_free(&j);
    free(tok);
    /* A tampered A.3 signature is refused. */
    char bad[sizeof A3_TOKEN];
    memcpy(bad, A3_TOKEN, sizeof bad);
    bad[sizeof bad - 2] = 'A';
    TU_ASSERT_RC(mk_jwt_decode(bad, strlen(bad), (const mk_jwt_key *const *)&keys[0], 1, &j, &err),
                 MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "does not verify");
    mk_jwt_key_free(priv);
    for (int i = 0; i < 3; i++)
        mk_jwt_key_free(keys[i]);
}

static void rfc8037_a4_eddsa(void **state) {
    (void)state;
    mk_error err;
    uint8_t d[32], x[32];
    unhex(ED_D, d, 32);
    unhex(ED_X, x, 32);
    mk_jwt_key *pub, *priv;
    TU_ASSERT_RC(mk_jwt_key_ed25519_public(x, &pub, &err), 0, &err);
    TU_ASSERT_RC(mk_jwt_key_ed25519_private(d, &priv, &err), 0, &err);
    mk_buf payload = MK_BUF_INIT;
    mk_jwt_alg alg;
    TU_ASSERT_RC(mk_jws_verify(ED_TOKEN, strlen(ED_TOKEN), (const mk_jwt_key *const *)&pub, 1, &alg,
                               &payload, &err),
                 0, &err);
    assert_int_equal(alg, MK_JWT_EDDSA);
    assert_int_equal(payload.len, strlen("Example of Ed25519 signing"));
    assert_memory_equal(payload.data, "Example of Ed25519 signing", payload.len);
    mk_buf_free(&payload);
    /* The payload is a sentence, not a claims set: not a JWT. */
    mk_jwt j;
    TU_ASSERT_RC(
        mk_jwt_decode(ED_TOKEN, strlen(ED_TOKEN), (const mk_jwt_key *const *)&pub, 1, &j, &err),
        MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "claims: malformed JSON");
    /* Ed25519 is deterministic: signing the same input gives the RFC's signature. */
    const char *input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    uint8_t sig[MK_JWT_MAX_SIG];
    size_t n;
    TU_ASSERT_RC(mk_jwt_key_sign(priv, input, strlen(input), sig, &n, &err), 0, &err);
    mk_buf enc = MK_BUF_INIT;
    assert_int_equal(mk_base64url_encode(sig, n, &enc), 0);
    assert_string_equal((char *)enc.data, strrchr(ED_TOKEN, '.') + 1);
    mk_buf_free(&enc);
    /* Public keys cannot sign. */
    assert_int_equal(mk_jwt_key_sign(pub, input, 1, sig, &n, NULL), MK_EINVAL);
    mk_jwt_key_free(pub);
    mk_jwt_key_free(priv);
}

static void roundtrip_all_algorithms(void **state) {
    (void)state;
    mk_error err;
    const mk_jwt_alg algs[] = {MK_JWT_HS256, MK_JWT_HS384, MK_JWT_HS512,
                               MK_JWT_ES256, MK_JWT_ES384, MK_JWT_EDDSA};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        mk_jwt_key *signer = NULL, *verifier = NULL;
        if (algs[i] <= MK_JWT_HS512) {
            signer = hs_key(algs[i], 0x42);
        } else if (algs[i] == MK_JWT_EDDSA) {
            uint8_t seed[32];
            memset(seed, 7, sizeof seed);
            TU_ASSERT_RC(mk_jwt_key_ed25519_private(seed, &signer, &err), 0, &err);
        } else {
            TU_ASSERT_RC(mk_jwt_key_es_generate(algs[i], &signer, &err), 0, &err);
        }
        TU_ASSERT_RC(mk_jwt_key_public(signer, &verifier, &err), 0, &err);
        assert_int_equal(mk_jwt_key_alg(verifier), algs[i]);
        assert_true(mk_jwt_key_can_sign(signer));
        assert_int_equal(mk_jwt_key_can_sign(verifier), algs[i] <= MK_JWT_HS512);

        mk_jwt_builder *b = mk_jwt_builder_new();
        mk_id pa = peer_a();
        assert_int_equal(mk_jwt_builder_set_issuer(b, "https://issuer.example"), 0);
        assert_int_equal(mk_jwt_builder_set_subject_peer(b, &pa), 0);
        assert_int_equal(mk_jwt_builder_add_audience(b, "mosaik-net"), 0);
        assert_int_equal(mk_jwt_builder_set_expires_in(b, 3600), 0);
        assert_int_equal(mk_jwt_builder_set_id(b, "token-1"), 0);
        TU_ASSERT_RC(mk_jwt_builder_set_claim(b, "role", "\"admin\"", &err), 0, &err);
        mk_ticket t;
        TU_ASSERT_RC(mk_jwt_builder_ticket(b, signer, T0, &t, &err), 0, &err);
        mk_jwt_builder_free(b);
        mk_id cls, want;
        mk_jwt_class(&cls);
        mk_id_from_name(&want, "mosaik.ticket.jwt.v1");
        assert_true(mk_id_eq(&cls, &want));
        assert_true(mk_id_eq(&t.class_id, &cls));

        static const mk_jwt_claim role[] = {{"role", "\"admin\""}};
        mk_jwt_validator_config o;
        std_opts(&o);
        o.claims = role;
        o.n_claims = 1;
        mk_validator *v = validator1(&o, verifier);
        mk_peer_view pv = {.peer_id = pa, .tickets = &t, .n_tickets = 1};
        mk_expiration e = 0;
        TU_ASSERT_RC(mk_validator_check(v, &pv, T0 + 10, &e, &err), 0, &err);
        assert_int_equal(e, T0 + 3600);
        /* Decoded claims. */
        mk_jwt j;
        TU_ASSERT_RC(mk_jwt_decode((const char *)t.data, t.len,
                                   (const mk_jwt_key *const *)&verifier, 1, &j, &err),
                     0, &err);
        assert_int_equal(j.alg, algs[i]);
        assert_true(j.has_iat);
        assert_int_equal(j.iat, T0);
        assert_string_equal(j.jti, "token-1");
        assert_int_equal(mk_jwt_audience_count(&j), 1);
        assert_string_equal(mk_jwt_audience(&j, 0), "mosaik-net");
        assert_true(json_is_string(json_object_get(j.claims, "aud")));
        mk_jwt_free(&j);
        mk_validator_free(v);
        mk_ticket_free(&t);
        mk_jwt_key_free(signer);
        mk_jwt_key_free(verifier);
    }
}

static void builder_details(void **state) {
    (void)state;
    mk_error err;
    mk_jwt_key *k = hs_key(MK_JWT_HS256, 1);
    mk_jwt_builder *b = mk_jwt_builder_new();
    assert_int_equal(mk_jwt_builder_add_audience(b, "a"), 0);
    assert_int_equal(mk_jwt_builder_add_audience(b, "b"), 0);
    assert_int_equal(mk_jwt_builder_set_expires_at(b, T0 + 50), 0);
    assert_int_equal(mk_jwt_builder_set_not_before(b, T0 - 5), 0);
    assert_int_equal(mk_jwt_builder_set_issued_at(b, T0 - 10), 0);
    TU_ASSERT_RC(mk_jwt_builder_set_claim(b, "n", "{\"z\":1,\"a\":[true,null]}", &err), 0, &err);
    assert_int_equal(mk_jwt_builder_set_claim_string(b, "s", "text"), 0);
    /* Registered names have setters; bad JSON is refused. */
    assert_int_equal(mk_jwt_builder_set_claim(b, "exp", "1", &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "registered");
    assert_int_equal(mk_jwt_builder_set_claim(b, "x", "{oops", &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "invalid JSON");
    assert_int_equal(mk_jwt_builder_set_claim_string(b, "sub", "x"), MK_EINVAL);
    assert_int_equal(mk_jwt_builder_set_expires_at(b, -1), MK_EINVAL);
    char *t1, *t2;
    TU_ASSERT_RC(mk_jwt_builder_sign(b, k, T0, &t1, &err), 0, &err);
    TU_ASSERT_RC(mk_jwt_builder_sign(b, k, T0, &t2, &err), 0, &err);
    assert_string_equal(t1, t2); /* deterministic for HS* */
    mk_jwt j;
    TU_ASSERT_RC(mk_jwt_decode(t1, strlen(t1), (const mk_jwt_key *const *)&k, 1, &j, &err), 0,
                 &err);
    assert_int_equal(mk_jwt_audience_count(&j), 2);
    assert_string_equal(mk_jwt_audience(&j, 1), "b");
    assert_null(mk_jwt_audience(&j, 2));
    assert_int_equal(j.exp, T0 + 50);
    assert_int_equal(j.nbf, T0 - 5);
    assert_int_equal(j.iat, T0 - 10);
    assert_null(j.iss);
    assert_string_equal(json_string_value(json_object_get(j.claims, "s")), "text");
    assert_string_equal(json_string_value(json_object_get(j.header, "alg")), "HS256");
    mk_jwt_free(&j);
    free(t1);
    free(t2);
    /* Omitted iat; a public key cannot sign. */
    assert_int_equal(mk_jwt_builder_omit_issued_at(b), 0);
    TU_ASSERT_RC(mk_jwt_builder_sign(b, k, T0, &t1, &err), 0, &err);
    TU_ASSERT_RC(mk_jwt_decode(t1, strlen(t1), (const mk_jwt_key *const *)&k, 1, &j, &err), 0,
                 &err);
    assert_false(j.has_iat);
    mk_jwt_free(&j);
    free(t1);
    mk_jwt_key *pub;
    uint8_t seed[32] = {1};
    mk_jwt_key *ed;
    TU_ASSERT_RC(mk_jwt_key_ed25519_private(seed, &ed, &err), 0, &err);
    TU_ASSERT_RC(mk_jwt_key_public(ed, &pub, &err), 0, &err);
    assert_int_equal(mk_jwt_builder_sign(b, pub, T0, &t1, &err), MK_EINVAL);
    assert_null(t1);
    /* Oversized claims are refused at issue time. */
    char *big = malloc(MK_JWT_MAX_TOKEN + 3);
    big[0] = '"';
    memset(big + 1, 'a', MK_JWT_MAX_TOKEN);
    big[MK_JWT_MAX_TOKEN + 1] = '"';
    big[MK_JWT_MAX_TOKEN + 2] = 0;
    TU_ASSERT_RC(mk_jwt_builder_set_claim(b, "big", big, &err), 0, &err);
    assert_int_equal(mk_jwt_builder_sign(b, k, T0, &t1, &err), MK_ETOOBIG);
    TU_ASSERT_REASON(&err, "larger than 8192");
    free(big);
    mk_jwt_builder_free(b);
    mk_jwt_key_free(pub);
    mk_jwt_key_free(ed);
    mk_jwt_key_free(k);
}

static void keys(void **state) {
    (void)state;
    mk_error err;
    mk_jwt_key *k = NULL;
    uint8_t s[64] = {0};
    /* RFC 7518 §3.2 minimum secret sizes. */
    assert_int_equal(mk_jwt_key_hs(MK_JWT_HS256, s, 31, &k, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "at least 32");
    assert_int_equal(mk_jwt_key_hs(MK_JWT_HS512, s, 63, &k, &err), MK_EINVAL);
    assert_int_equal(mk_jwt_key_hs(MK_JWT_ES256, s, 32, &k, &err), MK_EINVAL);
    /* ES keys: wrong length, point not on the curve, wrong curve. */
    assert_true(mk_jwt_key_es_public(MK_JWT_ES256, s, 63, &k, &err) < 0);
    assert_true(mk_jwt_key_es_public(MK_JWT_ES256, s, 64, &k, &err) < 0);
    assert_true(mk_jwt_key_es_public_hex(MK_JWT_ES256, "zz", &k, &err) < 0);
    assert_int_equal(mk_jwt_key_es_private(MK_JWT_ES384, s, 32, &k, &err), MK_EINVAL);
    assert_null(k);
    /* Names. */
    mk_jwt_alg a;
    assert_int_equal(mk_jwt_alg_parse("EdDSA", &a), 0);
    assert_int_equal(a, MK_JWT_EDDSA);
    assert_int_equal(mk_jwt_alg_parse("none", &a), MK_EUNSUPPORTED);
    assert_int_equal(mk_jwt_alg_parse("hs256", &a), MK_EUNSUPPORTED);
    assert_string_equal(mk_jwt_alg_name(MK_JWT_ES384), "ES384");
    assert_null(mk_jwt_alg_name((mk_jwt_alg)0));
    /* Copies of signing keys still sign the same way. */
    uint8_t d[32];
    unhex(A3_D, d, 32);
    mk_jwt_key *p, *c;
    TU_ASSERT_RC(mk_jwt_key_from_bytes(MK_JWT_ES256, true, d, 32, &p, &err), 0, &err);
    TU_ASSERT_RC(mk_jwt_key_copy(p, &c, &err), 0, &err);
    assert_true(mk_jwt_key_can_sign(c));
    char *tok = craft("{\"alg\":\"ES256\"}", "{}", c);
    mk_jwt j;
    TU_ASSERT_RC(mk_jwt_decode(tok, strlen(tok), (const mk_jwt_key *const *)&p, 1, &j, &err), 0,
                 &err);
    mk_jwt_free(&j);
    free(tok);
    mk_jwt_key_free(p);
    mk_jwt_key_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc7515_a1_hs256), cmocka_unit_test(rfc7515_a3_es256),
        cmocka_unit_test(rfc8037_a4_eddsa), cmocka_unit_test(roundtrip_all_algorithms),
        cmocka_unit_test(builder_details),  cmocka_unit_test(keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
