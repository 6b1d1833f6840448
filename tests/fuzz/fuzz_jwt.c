/*
 * fuzz_jwt — the JWT decoder and validator on untrusted tokens.
 *
 * Two shapes of input:
 *  - no newline: the bytes are a compact token, given to mk_jwt_decode and
 *    to the validator (keys: the RFC 7515 A.1 HS256 key, the A.3 P-256 key,
 *    the RFC 8032 Ed25519 key). Random signatures rarely verify, so this
 *    exercises splitting, base64url, header JSON and key selection;
 *  - "HEADER\nCLAIMS": both parts are base64url-encoded and the token is
 *    signed here with the HS256 key, so the claims parser and every policy
 *    check see fuzzer-chosen JSON behind a valid signature.
 * Invariants checked: success implies decoded claims is an object and the
 * validator's expiration is consistent with exp.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mosaik/mosaik.h"

static mk_jwt_key *keys[3];
static mk_validator *strict, *lax;

static void init(void) {
    static const char hs[] = "0323354b2b0fa5bc837e0665777ba68f5ab328e6f054c928a90f84b2d2502ebf"
                             "d3fb5a92d20647ef968ab4c377623d223d2e2172052e4f08c0cd9af567d080a3";
    static const char es[] = "047fcdce2770f6c45d4183cbee6fdb4b7b580733357be9ef13bacf6e3c7bd15445"
                             "c7f144cd1bbd9b7e872cdfedb9eeb9f4b3695d6ea90b24ad8a4623288588e5ad";
    static const char ed[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    uint8_t k[64], e[32];
    if (mk_hex_decode_exact(hs, k, 64, NULL) ||
        mk_jwt_key_hs(MK_JWT_HS256, k, 64, &keys[0], NULL) ||
        mk_jwt_key_es_public_hex(MK_JWT_ES256, es, &keys[1], NULL) ||
        mk_hex_decode_exact(ed, e, 32, NULL) || mk_jwt_key_ed25519_public(e, &keys[2], NULL))
        abort();
    static const char *const iss[] = {"joe", "issuer"};
    static const char *const aud[] = {"net", "other"};
    static const mk_jwt_claim claims[] = {{"role", "\"admin\""}, {"n", "[1,{\"a\":null}]"}};
    mk_jwt_validator_config o;
    mk_jwt_validator_config_init(&o);
    o.issuers = iss;
    o.n_issuers = 2;
    o.audiences = aud;
    o.n_audiences = 2;
    o.claims = claims;
    o.n_claims = 2;
    o.max_age = 3600;
    o.max_lifetime = 86400;
    strict = mk_jwt_validator_new(&o, (const mk_jwt_key *const *)keys, 3, NULL);
    mk_jwt_validator_config_init(&o);
    o.subject_mode = MK_JWT_SUB_ANY;
    o.allow_non_expiring = true;
    lax = mk_jwt_validator_new(&o, (const mk_jwt_key *const *)keys, 3, NULL);
    if (!strict || !lax) abort();
}

static void judge(const uint8_t *tok, size_t len) {
    mk_jwt j;
    mk_error err;
    if (mk_jwt_decode((const char *)tok, len, (const mk_jwt_key *const *)keys, 3, &j, &err) == 0) {
        if (!json_is_object(j.claims) || !json_is_object(j.header)) abort();
        for (size_t i = 0; i < mk_jwt_audience_count(&j); i++)
            if (!mk_jwt_audience(&j, i)) abort();
        mk_jwt_free(&j);
    }
    mk_peer_view pv;
    memset(&pv, 0, sizeof pv);
    mk_id_from_name(&pv.peer_id, "fuzz peer");
    const mk_validator *vs[2] = {strict, lax};
    for (int i = 0; i < 2; i++) {
        mk_expiration e = 0;
        int rc = vs[i]->ops->validate(vs[i], tok, len, &pv, 1300819000, &e, &err);
        if (rc > 0) abort();
        if (rc < 0 && err.msg[0] == '\0') abort(); /* every refusal has a reason */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!keys[0]) init();
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) {
        judge(data, size);
        return 0;
    }
    if (size > 3 * MK_JWT_MAX_TOKEN) return 0;
    size_t hl = (size_t)(nl - data);
    mk_buf t;
    mk_buf_init(&t, 0);
    uint8_t sig[MK_JWT_MAX_SIG];
    size_t slen = 0;
    if (mk_base64url_encode(data, hl, &t) == 0 && mk_buf_append_u8(&t, '.') == 0 &&
        mk_base64url_encode(nl + 1, size - hl - 1, &t) == 0 &&
        mk_jwt_key_sign(keys[0], t.data, t.len, sig, &slen, NULL) == 0 &&
        mk_buf_append_u8(&t, '.') == 0 && mk_base64url_encode(sig, slen, &t) == 0)
        judge(t.data, t.len);
    mk_buf_free(&t);
    return 0;
}
