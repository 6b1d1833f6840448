/*
 * tickets/jwt_claims.c — decoding a JWT's claims (mk_jwt_decode) and
 * reading its audience.
 *
 * The token is first verified as a JWS (jws.c); only then is the payload
 * parsed, as a JSON object (duplicates refused, depth limited). Registered
 * claims are type-checked: exp/nbf/iat are NumericDates in
 * [0, 253402300799] (fractions truncated down), iss, sub and jti strings,
 * aud a string or an array of strings. Other claims are left to the caller
 * (and to the validator's required claims).
 */
#include <string.h>

#include "tickets/jwt_internal.h"

static int numeric_date(json_t *claims, const char *name, bool *has, int64_t *out, mk_error *err) {
    json_t *v = json_object_get(claims, name);
    *has = false;
    if (!v) return 0;
    int64_t t;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > MK_JWT_MAX_DATE)
            return mk_error_set(err, MK_EMALFORMED, "claim \"%s\" out of range", name);
        t = (int64_t)i;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d <= (double)MK_JWT_MAX_DATE))
            return mk_error_set(err, MK_EMALFORMED, "claim \"%s\" out of range", name);
        t = (int64_t)d; /* truncation towards zero = floor for d >= 0 */
    } else {
        return mk_error_set(err, MK_EMALFORMED, "claim \"%s\" is not a NumericDate", name);
    }
    *has = true;
    *out = t;
    return 0;
}

static int string_claim(json_t *claims, const char *name, const char **out, mk_error *err) {
    json_t *v = json_object_get(claims, name);
    *out = NULL;
    if (!v) return 0;
    if (!json_is_string(v))
        return mk_error_set(err, MK_EMALFORMED, "claim \"%s\" is not a string", name);
    *out = json_string_value(v);
    return 0;
}

void mk_jwt_free(mk_jwt *j) {
    if (!j) return;
    json_decref(j->header);
    json_decref(j->claims);
    memset(j, 0, sizeof *j);
}

int mk_jwt_decode(const char *token, size_t len, const mk_jwt_key *const *keys, size_t nkeys,
                  mk_jwt *out, mk_error *err) {
    memset(out, 0, sizeof *out);
    mk_buf payload;
    mk_buf_init(&payload, MK_JWT_MAX_TOKEN);
    int rc = mk_jws_verify_ex(token, len, keys, nkeys, &out->alg, &payload, &out->header, err);
    if (rc == 0) rc = mk_jwt_parse_object("claims", &payload, &out->claims, err);
    mk_buf_free(&payload);
    json_t *c = out->claims;
    if (rc == 0) rc = numeric_date(c, "exp", &out->has_exp, &out->exp, err);
    if (rc == 0) rc = numeric_date(c, "nbf", &out->has_nbf, &out->nbf, err);
    if (rc == 0) rc = numeric_date(c, "iat", &out->has_iat, &out->iat, err);
    if (rc == 0) rc = string_claim(c, "iss", &out->iss, err);
    if (rc == 0) rc = string_claim(c, "sub", &out->sub, err);
    if (rc == 0) rc = string_claim(c, "jti", &out->jti, err);
    if (rc == 0) {
        json_t *aud = json_object_get(c, "aud");
        if (aud && !json_is_string(aud)) {
            size_t i;
            json_t *x;
            if (!json_is_array(aud))
                rc = mk_error_set(err, MK_EMALFORMED,
                                  "claim \"aud\" is neither a string nor an array");
            else
                json_array_foreach(aud, i, x) {
                    if (!json_is_string(x)) {
                        rc = mk_error_set(err, MK_EMALFORMED,
                                          "claim \"aud\" has a member that is not a string");
                        break;
                    }
                }
        }
    }
    if (rc < 0) mk_jwt_free(out);
    return rc;
}

size_t mk_jwt_audience_count(const mk_jwt *j) {
    json_t *aud = j->claims ? json_object_get(j->claims, "aud") : NULL;
    if (json_is_string(aud)) return 1;
    if (json_is_array(aud)) return json_array_size(aud);
    return 0;
}

const char *mk_jwt_audience(const mk_jwt *j, size_t i) {
    json_t *aud = j->claims ? json_object_get(j->claims, "aud") : NULL;
    if (json_is_string(aud)) return i == 0 ? json_string_value(aud) : NULL;
    return json_string_value(json_array_get(aud, i));
}
