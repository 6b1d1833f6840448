/*
 * tickets/jws.c — verification of a compact JWS (RFC 7515 §7.1).
 *
 * The token (at most MK_JWT_MAX_TOKEN bytes) is split with the
 * bounds-checked reader into exactly three segments, each strictly
 * base64url-decoded; the header is parsed with jansson (duplicates refused,
 * depth limited) and its "alg" chooses the keys of *that* algorithm among
 * the configured ones. Because the algorithm belongs to the key and not to
 * the token, the classic confusions cannot happen: "none" has no key, an
 * HS256 header never reaches an EC public key used as an HMAC secret, an
 * ES384 header never reaches a P-256 key. A "crit" header is refused (no
 * extension is understood). The signature's length must be the algorithm's
 * before any key is tried; the signing input is the ASCII bytes
 * "header.payload". The payload is handed out only after the signature
 * verified (jwt_claims.c parses it).
 */
#include <stdio.h>
#include <string.h>

#include "mosaik/bytes.h"
#include "mosaik/encoding.h"
#include "core/json.h"
#include "tickets/jwt_internal.h"

int mk_jwt_parse_object(const char *what, const mk_buf *b, json_t **out, mk_error *err) {
    json_error_t je;
    json_t *j = json_loadb((const char *)b->data, b->len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return mk_error_set(err, MK_EMALFORMED, "%s: malformed JSON: %s (column %d)", what, je.text,
                            je.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return mk_error_set(err, MK_EMALFORMED, "%s: not a JSON object", what);
    }
    if (!mk_json_depth_ok(j, MK_JWT_MAX_JSON_DEPTH)) {
        json_decref(j);
        return mk_error_set(err, MK_ETOOBIG, "%s: JSON nested deeper than %d", what,
                            MK_JWT_MAX_JSON_DEPTH);
    }
    *out = j;
    return 0;
}

/* Split into three segments with the reader; views point into token. */
static int split3(const char *token, size_t len, const uint8_t *seg[3], size_t seglen[3],
                  mk_error *err) {
    mk_reader r;
    mk_reader_init(&r, token, len);
    size_t start = 0, n = 0, count = 0;
    size_t dots[2] = {0, 0};
    uint8_t c;
    while (mk_read_u8(&r, &c) == 0) {
        if (c != '.') continue;
        if (count < 2) dots[count] = mk_reader_offset(&r) - 1;
        count++;
    }
    if (count != 2)
        return mk_error_set(
            err, MK_EMALFORMED,
            "not a compact JWS: %zu segments, expected 3 (header.payload.signature)", count + 1);
    mk_reader_init(&r, token, len);
    for (int i = 0; i < 3; i++) {
        n = (i < 2 ? dots[i] : len) - start;
        MK_TRY(mk_read_view(&r, n, &seg[i]));
        seglen[i] = n;
        if (i < 2) MK_TRY(mk_read_skip(&r, 1));
        start += n + 1;
    }
    return 0;
}

static void configured_algs(const mk_jwt_key *const *keys, size_t nkeys, char *out, size_t cap) {
    out[0] = '\0';
    size_t used = 0;
    for (int a = MK_JWT_HS256; a <= MK_JWT_EDDSA; a++) {
        bool have = false;
        for (size_t i = 0; i < nkeys; i++)
            have |= keys[i] && keys[i]->alg == (mk_jwt_alg)a;
        if (!have) continue;
        int w = snprintf(out + used, cap - used, "%s%s", used ? ", " : "",
                         mk_jwt_alg_name((mk_jwt_alg)a));
        if (w < 0 || (size_t)w >= cap - used) break;
        used += (size_t)w;
    }
    if (!used) snprintf(out, cap, "none");
}

/* Steps 1-5; on success the payload is appended and, if hdr_out, the parsed
 * header handed over. */
int mk_jws_verify_ex(const char *token, size_t len, const mk_jwt_key *const *keys, size_t nkeys,
                     mk_jwt_alg *alg_out, mk_buf *payload, json_t **hdr_out, mk_error *err) {
    if (len > MK_JWT_MAX_TOKEN)
        return mk_error_set(err, MK_ETOOBIG, "token is %zu bytes, more than the %d allowed", len,
                            MK_JWT_MAX_TOKEN);
    const uint8_t *seg[3];
    size_t seglen[3];
    MK_TRY(split3(token, len, seg, seglen, err));
    static const char *const names[3] = {"header", "payload", "signature"};
    mk_buf dec[3];
    for (int i = 0; i < 3; i++)
        mk_buf_init(&dec[i], MK_JWT_MAX_TOKEN);
    json_t *hdr = NULL;
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = mk_base64url_decode((const char *)seg[i], seglen[i], &dec[i], err);
        if (rc < 0) mk_error_prefix(err, rc, "%s", names[i]);
    }
    if (rc == 0) rc = mk_jwt_parse_object("header", &dec[0], &hdr, err);
    if (rc < 0) goto done;

    json_t *a = json_object_get(hdr, "alg");
    if (!json_is_string(a)) {
        rc = mk_error_set(err, MK_EMALFORMED, "header: \"alg\" missing or not a string");
        goto done;
    }
    const char *an = json_string_value(a);
    if (!strcmp(an, "none")) {
        rc = mk_error_set(err, MK_EUNSUPPORTED, "alg \"none\" (unsecured JWS) is never accepted");
        goto done;
    }
    if (json_object_get(hdr, "crit")) {
        rc = mk_error_set(err, MK_EUNSUPPORTED,
                          "header: \"crit\" names extensions this verifier does not understand");
        goto done;
    }
    mk_jwt_alg alg;
    char have[64];
    configured_algs(keys, nkeys, have, sizeof have);
    if (mk_jwt_alg_parse(an, &alg) < 0) {
        rc = mk_error_set(err, MK_EUNSUPPORTED, "alg \"%.32s\" is not supported (configured: %s)",
                          an, have);
        goto done;
    }
    size_t candidates = 0;
    for (size_t i = 0; i < nkeys; i++)
        candidates += keys[i] && keys[i]->alg == alg;
    if (!candidates) {
        rc = mk_error_set(err, MK_EPOLICY,
                          "alg %s not accepted: no %s key configured (configured: %s)", an, an,
                          have);
        goto done;
    }
    if (dec[2].len != mk_jwt_alg_sig_len(alg)) {
        rc = mk_error_set(err, MK_EBADSIG, "signature is %zu bytes, %s needs %zu", dec[2].len, an,
                          mk_jwt_alg_sig_len(alg));
        goto done;
    }
    /* Signing input: the ASCII bytes "header.payload". */
    size_t input_len = seglen[0] + 1 + seglen[1];
    bool ok = false;
    for (size_t i = 0; i < nkeys && !ok; i++) {
        if (!keys[i] || keys[i]->alg != alg) continue;
        ok = mk_jwt_key_verify(keys[i], token, input_len, dec[2].data, dec[2].len, NULL) == 0;
    }
    if (!ok) {
        if (candidates == 1)
            rc = mk_error_set(err, MK_EBADSIG,
                              "signature does not verify with the configured %s key", an);
        else
            rc = mk_error_set(err, MK_EBADSIG,
                              "signature does not verify with any of the %zu configured %s keys",
                              candidates, an);
        goto done;
    }
    rc = mk_buf_append(payload, dec[1].data, dec[1].len);
    if (rc < 0) {
        mk_error_set(err, rc, "payload too large");
        goto done;
    }
    if (alg_out) *alg_out = alg;
    if (hdr_out) {
        *hdr_out = hdr;
        hdr = NULL;
    }
done:
    json_decref(hdr);
    for (int i = 0; i < 3; i++)
        mk_buf_free(&dec[i]);
    return rc;
}

int mk_jws_verify(const char *token, size_t len, const mk_jwt_key *const *keys, size_t nkeys,
                  mk_jwt_alg *alg, mk_buf *payload, mk_error *err) {
    return mk_jws_verify_ex(token, len, keys, nkeys, alg, payload, NULL, err);
}
