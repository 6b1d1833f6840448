/*
 * tickets/jwt_issue.c — building and signing JWTs (the issuing side of JWT
 * tickets; verification is in jws.c, jwt_claims.c and jwt_validator.c).
 *
 * The builder holds the claims as a jansson object plus the time settings,
 * which are resolved only at signing time against the `now` given then:
 * iat = now unless set or omitted; exp = the absolute time, or now + the
 * relative seconds. Header and claims are serialised compactly with sorted
 * names, so a given builder, key and time give the same bytes every time
 * (and the same token for the deterministic HS* and EdDSA algorithms).
 * The token is BASE64URL(header) "." BASE64URL(claims) "." BASE64URL(sig)
 * with the signature from mk_jwt_key_sign (raw r||s for ES*), and must fit
 * MK_JWT_MAX_TOKEN, the cap every verifier applies.
 */
#include "mosaik/jwt.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mosaik/encoding.h"
#include "tickets/jwt_internal.h"

struct mk_jwt_builder {
    json_t *claims; /* iss, sub, jti and custom claims */
    json_t *aud;    /* array of strings */
    bool has_exp_at, has_exp_in, has_iat, omit_iat, has_nbf;
    int64_t exp_at, exp_in, iat, nbf;
};

mk_jwt_builder *mk_jwt_builder_new(void) {
    mk_jwt_builder *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->claims = json_object();
    b->aud = json_array();
    if (!b->claims || !b->aud) {
        mk_jwt_builder_free(b);
        return NULL;
    }
    return b;
}

void mk_jwt_builder_free(mk_jwt_builder *b) {
    if (!b) return;
    json_decref(b->claims);
    json_decref(b->aud);
    free(b);
}

/* json_string refuses invalid UTF-8 (and NULL). */
static int set_string(mk_jwt_builder *b, const char *name, const char *v) {
    json_t *s = v ? json_string(v) : NULL;
    if (!s) return MK_EINVAL;
    return json_object_set_new(b->claims, name, s) == 0 ? 0 : MK_ENOMEM;
}

int mk_jwt_builder_set_issuer(mk_jwt_builder *b, const char *iss) {
    return set_string(b, "iss", iss);
}

int mk_jwt_builder_set_subject(mk_jwt_builder *b, const char *sub) {
    return set_string(b, "sub", sub);
}

int mk_jwt_builder_set_subject_peer(mk_jwt_builder *b, const mk_id *peer_id) {
    char hex[MK_ID_HEX_LEN];
    mk_id_to_hex(peer_id, hex);
    return set_string(b, "sub", hex);
}

int mk_jwt_builder_set_id(mk_jwt_builder *b, const char *jti) {
    return set_string(b, "jti", jti);
}

int mk_jwt_builder_add_audience(mk_jwt_builder *b, const char *aud) {
    json_t *s = aud ? json_string(aud) : NULL;
    if (!s) return MK_EINVAL;
    return json_array_append_new(b->aud, s) == 0 ? 0 : MK_ENOMEM;
}

static bool date_ok(int64_t t) {
    return t >= 0 && t <= MK_JWT_MAX_DATE;
}

int mk_jwt_builder_set_expires_at(mk_jwt_builder *b, int64_t exp) {
    if (!date_ok(exp)) return MK_EINVAL;
    b->has_exp_at = true;
    b->has_exp_in = false;
    b->exp_at = exp;
    return 0;
}

int mk_jwt_builder_set_expires_in(mk_jwt_builder *b, int64_t seconds) {
    if (seconds < 0 || seconds > MK_JWT_MAX_DATE) return MK_EINVAL;
    b->has_exp_in = true;
    b->has_exp_at = false;
    b->exp_in = seconds;
    return 0;
}

int mk_jwt_builder_set_issued_at(mk_jwt_builder *b, int64_t iat) {
    if (!date_ok(iat)) return MK_EINVAL;
    b->has_iat = true;
    b->omit_iat = false;
    b->iat = iat;
    return 0;
}

int mk_jwt_builder_omit_issued_at(mk_jwt_builder *b) {
    b->omit_iat = true;
    b->has_iat = false;
    return 0;
}

int mk_jwt_builder_set_not_before(mk_jwt_builder *b, int64_t nbf) {
    if (!date_ok(nbf)) return MK_EINVAL;
    b->has_nbf = true;
    b->nbf = nbf;
    return 0;
}

static bool registered(const char *n) {
    static const char *const reg[] = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"};
    for (size_t i = 0; i < sizeof reg / sizeof reg[0]; i++)
        if (!strcmp(n, reg[i])) return true;
    return false;
}

int mk_jwt_builder_set_claim(mk_jwt_builder *b, const char *name, const char *json, mk_error *err) {
    if (!name || !json) return mk_error_set(err, MK_EINVAL, "JWT claim: name and value required");
    if (registered(name))
        return mk_error_set(err, MK_EINVAL, "JWT claim \"%s\" is registered: use its setter", name);
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!v)
        return mk_error_set(err, MK_EINVAL, "JWT claim \"%s\": invalid JSON: %s", name, je.text);
    if (json_object_set_new(b->claims, name, v) != 0)
        return mk_error_set(err, MK_EINVAL, "JWT claim \"%s\": invalid name", name);
    return 0;
}

int mk_jwt_builder_set_claim_string(mk_jwt_builder *b, const char *name, const char *value) {
    if (!name || registered(name)) return MK_EINVAL;
    return set_string(b, name, value);
}

static int b64_json(json_t *j, mk_buf *out) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s) return MK_ENOMEM;
    int rc = mk_base64url_encode(s, strlen(s), out);
    free(s);
    return rc;
}

int mk_jwt_builder_sign(const mk_jwt_builder *b, const mk_jwt_key *key, int64_t now, char **token,
                        mk_error *err) {
    *token = NULL;
    if (!key || !mk_jwt_key_can_sign(key))
        return mk_error_set(err, MK_EINVAL, "JWT: signing needs a private key or secret");
    if (!date_ok(now)) return mk_error_set(err, MK_EINVAL, "JWT: signing time out of range");
    const char *alg = mk_jwt_alg_name(mk_jwt_key_alg(key));
    json_t *claims = json_deep_copy(b->claims);
    json_t *hdr = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
    mk_buf out;
    mk_buf_init(&out, MK_JWT_MAX_TOKEN + 1);
    uint8_t sig[MK_JWT_MAX_SIG];
    size_t siglen = 0, len;
    int rc = MK_ENOMEM;
    size_t naud = json_array_size(b->aud);
    int64_t iat = b->has_iat ? b->iat : now;
    bool has_exp = b->has_exp_at || b->has_exp_in;
    int64_t exp = b->has_exp_at ? b->exp_at : now + b->exp_in;
    if (has_exp && !date_ok(exp)) {
        rc = mk_error_set(err, MK_EINVAL, "JWT: expiration out of range");
        goto done;
    }
    if (!claims || !hdr ||
        (naud == 1 && json_object_set(claims, "aud", json_array_get(b->aud, 0)) != 0) ||
        (naud > 1 && json_object_set_new(claims, "aud", json_deep_copy(b->aud)) != 0) ||
        (!b->omit_iat && json_object_set_new(claims, "iat", json_integer(iat)) != 0) ||
        (has_exp && json_object_set_new(claims, "exp", json_integer(exp)) != 0) ||
        (b->has_nbf && json_object_set_new(claims, "nbf", json_integer(b->nbf)) != 0)) {
        rc = mk_error_set(err, MK_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = b64_json(hdr, &out)) < 0 || (rc = mk_buf_append_u8(&out, '.')) < 0 ||
        (rc = b64_json(claims, &out)) < 0)
        goto encode_failed;
    if ((rc = mk_jwt_key_sign(key, out.data, out.len, sig, &siglen, err)) < 0) goto done;
    if ((rc = mk_buf_append_u8(&out, '.')) < 0 || (rc = mk_base64url_encode(sig, siglen, &out)) < 0)
        goto encode_failed;
    if (out.len > MK_JWT_MAX_TOKEN) {
        rc = MK_ETOOBIG;
        goto encode_failed;
    }
    *token = (char *)mk_buf_steal(&out, &len); /* NUL-terminated by the encoder */
    rc = 0;
    goto done;
encode_failed:
    if (rc == MK_ETOOBIG)
        mk_error_set(err, rc, "JWT: token larger than %d bytes", MK_JWT_MAX_TOKEN);
    else
        mk_error_set(err, rc, "JWT: cannot encode token");
done:
    json_decref(claims);
    json_decref(hdr);
    mk_buf_free(&out);
    return rc;
}

int mk_jwt_builder_ticket(const mk_jwt_builder *b, const mk_jwt_key *key, int64_t now,
                          mk_ticket *out, mk_error *err) {
    char *tok;
    MK_TRY(mk_jwt_builder_sign(b, key, now, &tok, err));
    mk_id cls;
    mk_jwt_class(&cls);
    int rc = mk_ticket_init(out, &cls, tok, strlen(tok));
    free(tok);
    if (rc < 0) return mk_error_set(err, rc, "JWT: cannot make ticket");
    return 0;
}
