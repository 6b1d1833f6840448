/*
 * src/tickets/jwt_internal.h — contracts between the JWT files of tickets/:
 *
 *   jwt_key.c        algorithms and keys (signing and verifying);
 *   jws.c            compact JWS verification (mk_jws_verify);
 *   jwt_claims.c     claim decoding (mk_jwt_decode) and accessors;
 *   jwt_validator.c  the JWT ticket validator and its signature;
 *   jwt_issue.c      building and signing tokens.
 *
 * Not installed; not part of the public API.
 */
#ifndef MOSAIK_TICKETS_JWT_INTERNAL_H
#define MOSAIK_TICKETS_JWT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mosaik/crypto.h"
#include "mosaik/jwt.h"

/* The latest NumericDate accepted or produced: 9999-12-31T23:59:59Z. */
#define MK_JWT_MAX_DATE INT64_C(253402300799)

/* ---- jwt_key.c ---- */

/* A key, bound to one algorithm, holding its material in the form the
 * crypto layer wants. Immutable once made. */
struct mk_jwt_key {
    mk_jwt_alg alg;
    bool priv;
    uint8_t *secret; /* HS: the secret */
    size_t secret_len;
    mk_pubkey *pub;     /* ES */
    mk_privkey *ecpriv; /* ES signing keys */
    uint8_t scalar[48]; /* ES signing keys: the scalar (for copies) */
    uint8_t raw[96];    /* ES: canonical X||Y */
    size_t raw_len;
    mk_ed25519_key ed; /* EdDSA: public_key always, secret if priv */
};

bool mk_jwt_alg_is_hs(mk_jwt_alg a);
bool mk_jwt_alg_is_es(mk_jwt_alg a);
/* The hash of an algorithm (SHA-256 for EdDSA, which does not use it). */
mk_hash_alg mk_jwt_alg_hash(mk_jwt_alg a);
/* The length of the signatures an algorithm produces (0 if unknown). */
size_t mk_jwt_alg_sig_len(mk_jwt_alg a);

/* ---- jws.c ---- */

/* Parse decoded segment bytes as one JSON object: duplicates refused,
 * nesting at most MK_JWT_MAX_JSON_DEPTH (MK_ETOOBIG). Reasons start with
 * `what`. */
int mk_jwt_parse_object(const char *what, const mk_buf *b, json_t **out, mk_error *err);

/* mk_jws_verify, also handing over the parsed header when hdr_out. */
int mk_jws_verify_ex(const char *token, size_t len, const mk_jwt_key *const *keys, size_t nkeys,
                     mk_jwt_alg *alg_out, mk_buf *payload, json_t **hdr_out, mk_error *err);

#endif
