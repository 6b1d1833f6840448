/*
 * test_jwt.c — what the JWT validator refuses, each with its reason (signatures and algorithms,
 * algorithm confusion, malformed tokens, times, identity), and the validator signature.
 *
 * Helpers and fixtures are in jwt_util.h.
 */
#include "jwt_util.h"

static void refuse_signature_and_alg(void **state) {
    (void)state;
    mk_error err;
    mk_jwt_key *k = hs_key(MK_JWT_HS256, 0x11);
    mk_jwt_key *other = hs_key(MK_JWT_HS256, 0x22);
    mk_jwt_key *k384 = hs_key(MK_JWT_HS384, 0x11);
    mk_jwt_validator_config o;
    std_opts(&o);
    mk_validator *v = validator1(&o, k);
    mk_id pa = peer_a();

    /* Wrong key. */
    char *tok = std_token(other, NULL);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EBADSIG);
    TU_ASSERT_REASON(&err, "signature does not verify with the configured HS256 key");
    free(tok);

    /* Wrong alg: an HS384 token, only an HS256 key configured. */
    tok = std_token(k384, NULL);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "alg HS384 not accepted: no HS384 key configured (configured: HS256)");
    free(tok);

    /* "none". */
    tok = craft("{\"alg\":\"none\"}", "{\"iss\":\"https://issuer.example\"}", NULL);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EUNSUPPORTED);
    TU_ASSERT_REASON(&err, "alg \"none\" (unsecured JWS) is never accepted");
    free(tok);

    /* Unknown alg, missing alg, crit. */
    tok = craft("{\"alg\":\"RS256\"}", "{}", NULL);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EUNSUPPORTED);
    TU_ASSERT_REASON(&err, "alg \"RS256\" is not supported");
    free(tok);
    tok = craft("{\"typ\":\"JWT\"}", "{}", NULL);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "\"alg\" missing");
    free(tok);
    tok = craft("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{}", k);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EUNSUPPORTED);
    TU_ASSERT_REASON(&err, "crit");
    free(tok);

    /* Signature of the wrong length. */
    tok = std_token(k, NULL);
    char *dot = strrchr(tok, '.');
    dot[5] = '\0';
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EBADSIG);
    TU_ASSERT_REASON(&err, "signature is 3 bytes, HS256 needs 32");
    free(tok);

    /* Several keys: a token of any of them passes; a failure counts them. */
    const mk_jwt_key *two[] = {k, other};
    mk_validator *v2 = jwt_new(&o, two, 2, &err);
    assert_non_null(v2);
    tok = std_token(other, NULL);
    TU_ASSERT_RC(validate(v2, tok, &pa, T0, NULL, &err), 0, &err);
    free(tok);
    mk_jwt_key *third = hs_key(MK_JWT_HS256, 0x33);
    tok = std_token(third, NULL);
    assert_int_equal(validate(v2, tok, &pa, T0, NULL, &err), MK_EBADSIG);
    TU_ASSERT_REASON(&err, "any of the 2 configured HS256 keys");
    free(tok);
    mk_jwt_key_free(third);
    mk_validator_free(v2);

    mk_validator_free(v);
    mk_jwt_key_free(k);
    mk_jwt_key_free(other);
    mk_jwt_key_free(k384);
}

/* The classic confusion: an attacker HMACs a token with the *public* EC key
 * bytes as the secret and labels it HS256. */
static void refuse_algorithm_confusion(void **state) {
    (void)state;
    mk_error err;
    mk_jwt_key *es = a3_pub();
    uint8_t raw[96];
    size_t n;
    assert_int_equal(mk_jwt_key_public_bytes(es, raw, sizeof raw, &n), 0);
    mk_jwt_key *forged_key;
    TU_ASSERT_RC(mk_jwt_key_hs(MK_JWT_HS256, raw, n, &forged_key, &err), 0, &err);
    mk_jwt_validator_config o;
    std_opts(&o);
    mk_validator *v = validator1(&o, es);
    mk_id pa = peer_a();
    char *tok = std_token(forged_key, NULL);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "alg HS256 not accepted: no HS256 key configured (configured: ES256)");
    free(tok);
    /* An ES384 label on a P-256 key is refused the same way. */
    tok = craft("{\"alg\":\"ES384\"}", "{}", NULL);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "no ES384 key");
    free(tok);
    /* An HS key never verifies an ES token either. */
    mk_jwt_key *hs = hs_key(MK_JWT_HS256, 9);
    mk_validator *vh = validator1(&o, hs);
    assert_int_equal(validate(vh, A3_TOKEN, &pa, RFC_EXP - 1, NULL, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "no ES256 key configured (configured: HS256)");
    mk_validator_free(vh);
    mk_jwt_key_free(hs);
    mk_validator_free(v);
    mk_jwt_key_free(forged_key);
    mk_jwt_key_free(es);
}

static void refuse_malformed(void **state) {
    (void)state;
    mk_error err;
    mk_jwt_key *k = hs_key(MK_JWT_HS256, 0x11);
    mk_jwt_validator_config o;
    std_opts(&o);
    mk_validator *v = validator1(&o, k);
    mk_id pa = peer_a();

    /* Oversized. */
    char *big = malloc(MK_JWT_MAX_TOKEN + 2);
    memset(big, 'a', MK_JWT_MAX_TOKEN + 1);
    big[10] = big[20] = '.';
    big[MK_JWT_MAX_TOKEN + 1] = 0;
    assert_int_equal(validate(v, big, &pa, T0, NULL, &err), MK_ETOOBIG);
    TU_ASSERT_REASON(&err, "token is 8193 bytes, more than the 8192 allowed");
    free(big);

    /* Segment counts. */
    assert_int_equal(validate(v, "abc.def", &pa, T0, NULL, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "2 segments, expected 3");
    assert_int_equal(validate(v, "a.b.c.d.e", &pa, T0, NULL, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "5 segments");
    assert_int_equal(validate(v, "", &pa, T0, NULL, &err), MK_EMALFORMED);

    /* Malformed base64url in each segment. */
    char *tok = std_token(k, NULL);
    char *p1 = strchr(tok, '.') + 1;
    char save = p1[2];
    p1[2] = '*';
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "payload: base64url: invalid character");
    p1[2] = save;
    tok[1] = '+'; /* standard alphabet is not base64url */
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "header: base64url");
    free(tok);
    tok = std_token(k, NULL);
    size_t L = strlen(tok);
    char *padded = malloc(L + 2);
    memcpy(padded, tok, L);
    padded[L] = '=';
    padded[L + 1] = 0;
    assert_int_equal(validate(v, padded, &pa, T0, NULL, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "signature: base64url");
    free(padded);
    free(tok);

    /* Malformed JSON: header, and a validly signed non-JSON payload. */
    tok = craft("{\"alg\":\"HS256\"", "{}", k);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "header: malformed JSON");
    free(tok);
    tok = craft("{\"alg\":\"HS256\"}", "{\"iss\":", k);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "claims: malformed JSON");
    free(tok);
    tok = craft("{\"alg\":\"HS256\"}", "[1,2]", k);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "claims: not a JSON object");
    free(tok);
    /* Duplicate names (which one would count?) are refused. */
    tok = craft("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"sub\":\"b\"}", k);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "duplicate");
    free(tok);
    /* Depth limit. */
    char deep[200] = "{\"x\":";
    for (int i = 0; i < 20; i++)
        strcat(deep, "[");
    for (int i = 0; i < 20; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    tok = craft("{\"alg\":\"HS256\"}", deep, k);
    assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_ETOOBIG);
    TU_ASSERT_REASON(&err, "nested deeper than 16");
    free(tok);
    /* Registered claims of the wrong type. */
    const char *bad[][2] = {{"{\"exp\":\"tomorrow\"}", "claim \"exp\" is not a NumericDate"},
                            {"{\"exp\":-5}", "claim \"exp\" out of range"},
                            {"{\"iat\":1e300}", "claim \"iat\" out of range"},
                            {"{\"iss\":42}", "claim \"iss\" is not a string"},
                            {"{\"aud\":{}}", "claim \"aud\" is neither"},
                            {"{\"aud\":[\"a\",1]}", "member that is not a string"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tok = craft("{\"alg\":\"HS256\"}", bad[i][0], k);
        assert_int_equal(validate(v, tok, &pa, T0, NULL, &err), MK_EMALFORMED);
        TU_ASSERT_REASON(&err, bad[i][1]);
        free(tok);
    }
    /* A fractional exp is truncated. */
    tok = craft("{\"alg\":\"HS256\"}", "{\"exp\":1750000100.9}", k);
    mk_jwt j;
    TU_ASSERT_RC(mk_jwt_decode(tok, strlen(tok), (const mk_jwt_key *const *)&k, 1, &j, &err), 0,
                 &err);
    assert_int_equal(j.exp, T0 + 100);
    mk_jwt_free(&j);
    free(tok);
    mk_validator_free(v);
    mk_jwt_key_free(k);
}

static void refuse_times(void **state) {
    (void)state;
    mk_error err;
    mk_jwt_key *k = hs_key(MK_JWT_HS256, 0x11);
    mk_jwt_validator_config o;
    std_opts(&o);
    mk_validator *v = validator1(&o, k);
    mk_id pa = peer_a();
    mk_expiration e;

    /* Expired, and the skew (60 s). */
    char *tok = std_token(k, NULL);
    TU_ASSERT_RC(validate(v, tok, &pa, T0 + 3600 + 59, &e, &err), 0, &err);
    assert_int_equal(e, T0 + 3600);
    assert_int_equal(validate(v, tok, &pa, T0 + 3600 + 60, &e, &err), MK_EEXPIRED);
    TU_ASSERT_REASON(&err, "token expired at 2025-06-15T16:06:40Z");
    /* Through mk_validator_check, an expiration already past does not count. */
    mk_ticket t;
    mk_id cls;
    mk_jwt_class(&cls);
    assert_int_equal(mk_ticket_init(&t, &cls, tok, strlen(tok)), 0);
    mk_peer_view pv = {.peer_id = pa, .tickets = &t, .n_tickets = 1};
    assert_int_equal(mk_validator_check(v, &pv, T0 + 3600 + 30, &e, &err), MK_EEXPIRED);
    TU_ASSERT_REASON(&err, "jwt: ticket expired");
    mk_ticket_free(&t);
    free(tok);

    /* nbf. */
    tok = std_token(k, tweak_nbf);
    assert_int_equal(validate(v, tok, &pa, T0, &e, &err), MK_ENOTYET);
    TU_ASSERT_REASON(&err, "token not valid before 2025-06-15T15:16:40Z");
    TU_ASSERT_RC(validate(v, tok, &pa, T0 + 541, &e, &err), 0, &err);
    free(tok);

    /* iat in the future beyond the skew. */
    tok = std_token(k, tweak_iat_future);
    assert_int_equal(validate(v, tok, &pa, T0, &e, &err), MK_ENOTYET);
    TU_ASSERT_REASON(&err, "issued in the future");
    free(tok);

    /* Missing exp, refused by default, accepted when allowed. */
    char hdr[] = "{\"alg\":\"HS256\"}";
    char pl[512];
    char hex[MK_ID_HEX_LEN];
    mk_id_to_hex(&pa, hex);
    snprintf(pl, sizeof pl,
             "{\"iss\":\"https://issuer.example\",\"aud\":\"mosaik-net\",\"sub\":\"%s\"}", hex);
    tok = craft(hdr, pl, k);
    assert_int_equal(validate(v, tok, &pa, T0, &e, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "no \"exp\" and non-expiring tokens are not allowed");
    mk_jwt_validator_config o2 = o;
    o2.allow_non_expiring = true;
    mk_validator *vn = validator1(&o2, k);
    TU_ASSERT_RC(validate(vn, tok, &pa, T0, &e, &err), 0, &err);
    assert_true(e == MK_EXPIRES_NEVER);
    mk_validator_free(vn);
    /* ... but not with a maximum lifetime. */
    o2.max_lifetime = 7200;
    vn = validator1(&o2, k);
    assert_int_equal(validate(vn, tok, &pa, T0, &e, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "no \"exp\" but a maximum lifetime of 7200 s applies");
    mk_validator_free(vn);
    free(tok);

    /* max_lifetime: exp - iat = 3600. */
    o2 = o;
    o2.max_lifetime = 3599;
    vn = validator1(&o2, k);
    tok = std_token(k, NULL);
    assert_int_equal(validate(vn, tok, &pa, T0, &e, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "lifetime exp - iat = 3600 s exceeds the maximum 3599 s");
    mk_validator_free(vn);
    o2.max_lifetime = 3600;
    vn = validator1(&o2, k);
    TU_ASSERT_RC(validate(vn, tok, &pa, T0, &e, &err), 0, &err);
    free(tok);
    /* Without iat: exp - now. */
    snprintf(
        pl, sizeof pl,
        "{\"iss\":\"https://issuer.example\",\"aud\":\"mosaik-net\",\"sub\":\"%s\",\"exp\":%lld}",
        hex, (long long)(T0 + 3600));
    tok = craft(hdr, pl, k);
    TU_ASSERT_RC(validate(vn, tok, &pa, T0, &e, &err), 0, &err);
    assert_int_equal(validate(vn, tok, &pa, T0 - 1, &e, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "lifetime exp - now exceeds the maximum 3600 s (no iat)");
    mk_validator_free(vn);

    /* max_age: needs iat. */
    o2 = o;
    o2.max_age = 600;
    vn = validator1(&o2, k);
    assert_int_equal(validate(vn, tok, &pa, T0, &e, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "no \"iat\" but a maximum age of 600 s applies");
    free(tok);
    tok = std_token(k, NULL);
    TU_ASSERT_RC(validate(vn, tok, &pa, T0 + 100, &e, &err), 0, &err);
    assert_int_equal(e, T0 + 600); /* the age limit ends admission before exp */
    assert_int_equal(validate(vn, tok, &pa, T0 + 661, &e, &err), MK_EEXPIRED);
    TU_ASSERT_REASON(&err, "token too old: issued at 2025-06-15T15:06:40Z, maximum age 600 s");
    mk_validator_free(vn);
    free(tok);

    /* Zero skew is exact. */
    o2 = o;
    o2.clock_skew = 0;
    vn = validator1(&o2, k);
    tok = std_token(k, NULL);
    TU_ASSERT_RC(validate(vn, tok, &pa, T0 + 3599, &e, &err), 0, &err);
    assert_int_equal(validate(vn, tok, &pa, T0 + 3600, &e, &err), MK_EEXPIRED);
    free(tok);
    mk_validator_free(vn);
    mk_validator_free(v);
    mk_jwt_key_free(k);
}

static void refuse_identity(void **state) {
    (void)state;
    mk_error err;
    mk_jwt_key *k = hs_key(MK_JWT_HS256, 0x11);
    mk_jwt_validator_config o;
    std_opts(&o);
    mk_validator *v = validator1(&o, k);
    mk_id pa = peer_a(), pb = peer_b();
    mk_expiration e;

    /* Another peer's token. */
    char *tok = std_token(k, NULL);
    TU_ASSERT_RC(validate(v, tok, &pa, T0, &e, &err), 0, &err);
    assert_int_equal(validate(v, tok, &pb, T0, &e, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "is not this peer");
    TU_ASSERT_REASON(&err, "another peer's token");
    /* Not checked with MK_JWT_SUB_ANY; a fixed subject must match. */
    mk_jwt_validator_config o2 = o;
    o2.subject_mode = MK_JWT_SUB_ANY;
    mk_validator *v2 = validator1(&o2, k);
    TU_ASSERT_RC(validate(v2, tok, &pb, T0, &e, &err), 0, &err);
    mk_validator_free(v2);
    o2.subject_mode = MK_JWT_SUB_FIXED;
    o2.subject = "service-x";
    v2 = validator1(&o2, k);
    assert_int_equal(validate(v2, tok, &pa, T0, &e, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "is not the required \"service-x\"");
    mk_validator_free(v2);
    free(tok);

    /* Wrong issuer. */
    tok = std_token(k, tweak_iss);
    assert_int_equal(validate(v, tok, &pa, T0, &e, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "issuer \"https://evil.example\" not accepted (expected one of "
                           "\"https://issuer.example\")");
    free(tok);

    /* Audiences: an array containing ours passes; another audience does not. */
    tok = std_token(k, tweak_aud);
    TU_ASSERT_RC(validate(v, tok, &pa, T0, &e, &err), 0, &err);
    static const char *const other_aud[] = {"third-net", "other-net"};
    o2 = o;
    o2.audiences = other_aud;
    o2.n_audiences = 2;
    v2 = validator1(&o2, k);
    TU_ASSERT_RC(validate(v2, tok, &pa, T0, &e, &err), 0, &err);
    mk_validator_free(v2);
    free(tok);
    tok = std_token(k, NULL);
    v2 = validator1(&o2, k);
    assert_int_equal(validate(v2, tok, &pa, T0, &e, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "audience \"mosaik-net\" not accepted");
    mk_validator_free(v2);
    /* No audience configured: a token naming one is refused (RFC 7519 4.1.3). */
    o2.n_audiences = 0;
    v2 = validator1(&o2, k);
    assert_int_equal(validate(v2, tok, &pa, T0, &e, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "accepts no audience");
    mk_validator_free(v2);
    free(tok);

    /* Required claims: missing, different, equal. */
    static const mk_jwt_claim req[] = {{"role", "\"admin\""}, {"level", "3"}};
    o2 = o;
    o2.claims = req;
    o2.n_claims = 2;
    v2 = validator1(&o2, k);
    tok = std_token(k, NULL);
    assert_int_equal(validate(v2, tok, &pa, T0, &e, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "required claim \"level\" is missing");
    free(tok);
    tok = std_token(k, tweak_role_user);
    assert_int_equal(validate(v2, tok, &pa, T0, &e, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "is missing"); /* level is checked first (sorted) */
    free(tok);
    static const mk_jwt_claim req1[] = {{"role", "\"admin\""}};
    o2.claims = req1;
    o2.n_claims = 1;
    mk_validator *v3 = validator1(&o2, k);
    tok = std_token(k, tweak_role_user);
    assert_int_equal(validate(v3, tok, &pa, T0, &e, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "claim \"role\" is \"user\", required \"admin\"");
    free(tok);
    mk_validator_free(v3);
    tok = std_token(k, tweak_role_admin);
    TU_ASSERT_RC(validate(v2, tok, &pa, T0, &e, &err), 0, &err);
    free(tok);
    mk_validator_free(v2);

    /* Option errors. */
    static const mk_jwt_claim reg[] = {{"exp", "1"}};
    o2 = o;
    o2.claims = reg;
    o2.n_claims = 1;
    assert_null(jwt_new(&o2, (const mk_jwt_key *const *)&k, 1, &err));
    TU_ASSERT_REASON(&err, "registered claim");
    static const mk_jwt_claim badjson[] = {{"x", "{"}};
    o2.claims = badjson;
    assert_null(jwt_new(&o2, (const mk_jwt_key *const *)&k, 1, &err));
    TU_ASSERT_REASON(&err, "invalid JSON");
    assert_null(jwt_new(&o, NULL, 0, &err));
    TU_ASSERT_REASON(&err, "no key");
    o2 = o;
    o2.subject_mode = MK_JWT_SUB_FIXED;
    assert_null(jwt_new(&o2, (const mk_jwt_key *const *)&k, 1, &err));
    o2 = o;
    o2.clock_skew = -1;
    assert_null(jwt_new(&o2, (const mk_jwt_key *const *)&k, 1, &err));
    mk_validator_free(v);
    mk_jwt_key_free(k);
}

static void validator_signature(void **state) {
    (void)state;
    mk_error err;
    mk_jwt_key *k1 = hs_key(MK_JWT_HS256, 1), *k2 = hs_key(MK_JWT_HS256, 2);
    mk_jwt_key *k1b = hs_key(MK_JWT_HS256, 1);
    mk_jwt_key *e1 = a3_pub();
    static const char *const iss_ab[] = {"a", "b"}, *const iss_ba[] = {"b", "a", "b"};
    static const char *const aud_xy[] = {"x", "y"}, *const aud_yx[] = {"y", "x"};
    static const mk_jwt_claim c_12[] = {{"c1", "{\"a\":1,\"b\":2}"}, {"c2", "true"}};
    static const mk_jwt_claim c_21[] = {{"c2", "true"}, {"c1", "{ \"b\" : 2, \"a\" : 1 }"}};

    mk_jwt_validator_config a, b;
    mk_jwt_validator_config_init(&a);
    a.issuers = iss_ab;
    a.n_issuers = 2;
    a.audiences = aud_xy;
    a.n_audiences = 2;
    a.claims = c_12;
    a.n_claims = 2;
    b = a;
    b.issuers = iss_ba;
    b.n_issuers = 3;
    b.audiences = aud_yx;
    b.claims = c_21;
    const mk_jwt_key *ka[] = {k1, e1}, *kb[] = {e1, k1b, k1};
    mk_validator *va = jwt_new(&a, ka, 2, &err);
    mk_validator *vb = jwt_new(&b, kb, 3, &err);
    assert_non_null(va);
    assert_non_null(vb);
    mk_id sa, sb;
    mk_validator_signature(va, &sa);
    mk_validator_signature(vb, &sb);
    assert_true(mk_id_eq(&sa, &sb));
    mk_id cls, want;
    mk_validator_class(va, &cls);
    mk_jwt_class(&want);
    assert_true(mk_id_eq(&cls, &want));
    assert_string_equal(va->ops->name, "jwt");
    mk_validator_free(vb);

    /* Every single change gives a different signature. */
    mk_id seen[16];
    size_t nseen = 0;
    seen[nseen++] = sa;
    for (int variant = 0; variant < 12; variant++) {
        mk_jwt_validator_config c = a;
        const mk_jwt_key *kc[] = {k1, e1};
        size_t nk = 2;
        static const char *const iss_a[] = {"a"};
        static const char *const aud_x[] = {"x"};
        static const mk_jwt_claim c_1[] = {{"c1", "{\"a\":1,\"b\":2}"}};
        static const mk_jwt_claim c_x[] = {{"c1", "{\"a\":1,\"b\":3}"}, {"c2", "true"}};
        switch (variant) {
        case 0:
            kc[0] = k2;
            break;
        case 1:
            nk = 1;
            break;
        case 2:
            c.issuers = iss_a, c.n_issuers = 1;
            break;
        case 3:
            c.audiences = aud_x, c.n_audiences = 1;
            break;
        case 4:
            c.claims = c_1, c.n_claims = 1;
            break;
        case 5:
            c.claims = c_x;
            break;
        case 6:
            c.subject_mode = MK_JWT_SUB_ANY;
            break;
        case 7:
            c.subject_mode = MK_JWT_SUB_FIXED, c.subject = "s";
            break;
        case 8:
            c.allow_non_expiring = true;
            break;
        case 9:
            c.max_lifetime = 10;
            break;
        case 10:
            c.max_age = 10;
            break;
        case 11:
            c.clock_skew = 61;
            break;
        }
        mk_validator *vc = jwt_new(&c, kc, nk, &err);
        if (!vc) fail_msg("variant %d: %s", variant, err.msg);
        mk_id sc;
        mk_validator_signature(vc, &sc);
        for (size_t i = 0; i < nseen; i++)
            if (mk_id_eq(&sc, &seen[i])) fail_msg("variant %d collides with %zu", variant, i);
        seen[nseen++] = sc;
        mk_validator_free(vc);
    }
    /* The secret does not appear in the signature input in the clear: two
     * validators differing only in the HS secret differ (checked above), and
     * the fingerprint is an HMAC — nothing more to assert here. */
    mk_validator_free(va);
    mk_jwt_key_free(k1);
    mk_jwt_key_free(k2);
    mk_jwt_key_free(k1b);
    mk_jwt_key_free(e1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuse_signature_and_alg), cmocka_unit_test(refuse_algorithm_confusion),
        cmocka_unit_test(refuse_malformed),         cmocka_unit_test(refuse_times),
        cmocka_unit_test(refuse_identity),          cmocka_unit_test(validator_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
