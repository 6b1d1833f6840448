/*
 * mosaik/jwt.h — JWT tickets: issuing and validating JSON Web Tokens.
 *
 * A JWT ticket is a ticket whose class is MK_JWT_CLASS (the id of the name
 * "mosaik.ticket.jwt.v1") and whose data is a JWS compact serialization
 * (RFC 7515 §7.1, RFC 7519): BASE64URL(header) "." BASE64URL(claims) "."
 * BASE64URL(signature), at most MK_JWT_MAX_TOKEN bytes.
 *
 * Algorithms (RFC 7518, RFC 8037): HS256, HS384, HS512 (HMAC-SHA-2), ES256
 * (ECDSA P-256 + SHA-256), ES384 (ECDSA P-384 + SHA-384) and EdDSA
 * (Ed25519). ECDSA signatures are the raw r||s form of RFC 7518 §3.4, not
 * DER. "none" is never accepted.
 *
 * Verifying a token (mk_jws_verify, mk_jwt_decode, the validator):
 *   1. size: at most MK_JWT_MAX_TOKEN bytes, exactly three segments;
 *   2. each segment is strict unpadded base64url (one encoding per value);
 *   3. the header is a JSON object (duplicate names refused, nesting at most
 *      MK_JWT_MAX_JSON_DEPTH) with a string "alg"; a "crit" header is refused
 *      (no extension is understood);
 *   4. "alg" selects the configured keys *of that algorithm*: a key is bound
 *      to one algorithm when it is made, so an HS256 header never meets an
 *      ES256 public key (no algorithm confusion), and a token whose alg has
 *      no configured key is refused before any cryptography;
 *   5. the signature over the ASCII bytes "header.payload" must verify with
 *      one of those keys (HMACs compared in constant time);
 *   6. only then is the payload parsed: a JSON object whose registered
 *      claims have the right types (exp/nbf/iat numbers, iss/sub/jti
 *      strings, aud a string or an array of strings).
 * The validator then applies its policy (see mk_jwt_validator_config), in
 * this order: exp, nbf, iat, max_age, max_lifetime, iss, aud, sub, required
 * claims. Every refusal carries a reason naming the failed check.
 */
#ifndef MOSAIK_JWT_H
#define MOSAIK_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/error.h"
#include "mosaik/id.h"
#include "mosaik/ticket.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t; /* jansson */

/* The ticket class of JWT tickets: mk_id_from_name(MK_JWT_CLASS_NAME). */
#define MK_JWT_CLASS_NAME "mosaik.ticket.jwt.v1"
void mk_jwt_class(mk_id *out);

/* Hard caps. */
#define MK_JWT_MAX_TOKEN (8 * 1024) /* bytes of a compact token */
#define MK_JWT_MAX_JSON_DEPTH 16    /* nesting of header and claims */
#define MK_JWT_MAX_HS_KEY 1024      /* bytes of an HMAC secret */
#define MK_JWT_DEFAULT_SKEW 60      /* seconds of clock skew tolerated */

typedef enum mk_jwt_alg {
    MK_JWT_HS256 = 1,
    MK_JWT_HS384 = 2,
    MK_JWT_HS512 = 3,
    MK_JWT_ES256 = 4,
    MK_JWT_ES384 = 5,
    MK_JWT_EDDSA = 6,
} mk_jwt_alg;

/* The JOSE name ("HS256", …, "EdDSA"), or NULL for an unknown value. */
const char *mk_jwt_alg_name(mk_jwt_alg alg);
/* Parse a JOSE name (exact, case-sensitive). MK_EUNSUPPORTED otherwise. */
int mk_jwt_alg_parse(const char *name, mk_jwt_alg *out);

/* ---- keys ---------------------------------------------------------------
 *
 * A key is bound to exactly one algorithm. Public keys verify; private keys
 * (and HMAC secrets) sign and verify. Keys are immutable once made and may
 * be shared between threads. */
typedef struct mk_jwt_key mk_jwt_key;

/* HMAC secret for HS256/384/512. RFC 7518 §3.2: the secret must be at least
 * as long as the hash output (32/48/64 bytes), and at most MK_JWT_MAX_HS_KEY. */
int mk_jwt_key_hs(mk_jwt_alg alg, const void *secret, size_t len, mk_jwt_key **out, mk_error *err);
/* ECDSA public key for ES256 (P-256) or ES384 (P-384): SEC1 compressed
 * (0x02/0x03||X), uncompressed (0x04||X||Y), or raw X||Y. */
int mk_jwt_key_es_public(mk_jwt_alg alg, const uint8_t *point, size_t len, mk_jwt_key **out,
                         mk_error *err);
/* Same from hex text. */
int mk_jwt_key_es_public_hex(mk_jwt_alg alg, const char *hex, mk_jwt_key **out, mk_error *err);
/* ECDSA private key from its big-endian scalar (32 bytes ES256, 48 ES384). */
int mk_jwt_key_es_private(mk_jwt_alg alg, const uint8_t *scalar, size_t len, mk_jwt_key **out,
                          mk_error *err);
/* A fresh random ECDSA private key. */
int mk_jwt_key_es_generate(mk_jwt_alg alg, mk_jwt_key **out, mk_error *err);
/* Ed25519 (alg EdDSA): raw 32-byte public key, or the 32-byte secret seed. */
int mk_jwt_key_ed25519_public(const uint8_t pk[32], mk_jwt_key **out, mk_error *err);
int mk_jwt_key_ed25519_private(const uint8_t seed[32], mk_jwt_key **out, mk_error *err);

/* Generic constructor from bytes, as the CLI uses it: for HS* the secret;
 * for ES* and EdDSA a private key (scalar / seed) when `private_key`,
 * otherwise a public key. */
int mk_jwt_key_from_bytes(mk_jwt_alg alg, bool private_key, const uint8_t *bytes, size_t len,
                          mk_jwt_key **out, mk_error *err);

/* The verification-only form of a key (for HS*, a copy of the secret). */
int mk_jwt_key_public(const mk_jwt_key *key, mk_jwt_key **out, mk_error *err);
int mk_jwt_key_copy(const mk_jwt_key *key, mk_jwt_key **out, mk_error *err);
mk_jwt_alg mk_jwt_key_alg(const mk_jwt_key *key);
bool mk_jwt_key_can_sign(const mk_jwt_key *key);
/* Public material, canonical: ES* raw X||Y, EdDSA the 32-byte key. For HS*
 * this is MK_EINVAL (a secret has no public form). Writes *len bytes. */
int mk_jwt_key_public_bytes(const mk_jwt_key *key, uint8_t *out, size_t cap, size_t *len);
void mk_jwt_key_free(mk_jwt_key *key);

/* Sign the JWS signing input with the key's algorithm (raw r||s for ES*).
 * sig must hold 132 bytes; *siglen receives the length. */
#define MK_JWT_MAX_SIG 132
int mk_jwt_key_sign(const mk_jwt_key *key, const void *msg, size_t len, uint8_t *sig,
                    size_t *siglen, mk_error *err);
/* Verify one signature; MK_EBADSIG if it does not verify. */
int mk_jwt_key_verify(const mk_jwt_key *key, const void *msg, size_t len, const uint8_t *sig,
                      size_t siglen, mk_error *err);

/* ---- decoding ----------------------------------------------------------- */

/* Verify a compact JWS (steps 1–5 above) and return its payload bytes
 * (appended to *payload, which the caller initialises and frees) and alg.
 * The payload may be any bytes (RFC 8037's example signs a sentence). */
int mk_jws_verify(const char *token, size_t len, const mk_jwt_key *const *keys, size_t nkeys,
                  mk_jwt_alg *alg, mk_buf *payload, mk_error *err);

/* A verified, decoded JWT. `header` and `claims` are owned jansson objects;
 * the string pointers borrow from `claims`. */
typedef struct mk_jwt {
    mk_jwt_alg alg;
    struct json_t *header;
    struct json_t *claims;
    const char *iss; /* NULL if absent */
    const char *sub;
    const char *jti;
    bool has_exp, has_nbf, has_iat;
    int64_t exp, nbf, iat; /* NumericDate seconds (fractions truncated down) */
} mk_jwt;

/* mk_jws_verify, then parse the payload as JWT claims (step 6). No policy
 * (times, issuer, …) is applied: that is the validator's job. */
int mk_jwt_decode(const char *token, size_t len, const mk_jwt_key *const *keys, size_t nkeys,
                  mk_jwt *out, mk_error *err);
void mk_jwt_free(mk_jwt *jwt);
/* Number of audiences of the token (0 when absent) and the i-th one. */
size_t mk_jwt_audience_count(const mk_jwt *jwt);
const char *mk_jwt_audience(const mk_jwt *jwt, size_t i);

/* ---- the validator -------------------------------------------------------- */

typedef enum mk_jwt_subject_mode {
    /* `sub` must be the validated peer's id in lowercase hex (64 digits):
     * the token is bound to the peer carrying it. The default. */
    MK_JWT_SUB_PEER = 0,
    /* `sub` is not checked. */
    MK_JWT_SUB_ANY = 1,
    /* `sub` must equal opts.subject. */
    MK_JWT_SUB_FIXED = 2,
} mk_jwt_subject_mode;

/* A required claim: the claim `name` must be present and equal (jansson's
 * json_equal: same type and value, so 1 and 1.0 differ) to the JSON text
 * `json`. */
typedef struct mk_jwt_claim {
    const char *name;
    const char *json;
} mk_jwt_claim;

typedef struct mk_jwt_validator_config {
    /* Accepted issuers: `iss` must equal one of them. None: not checked. */
    const char *const *issuers;
    size_t n_issuers;
    /* Accepted audiences: `aud` (a string or an array) must contain one of
     * them. None: a token that names any audience is refused (RFC 7519
     * §4.1.3: a recipient that does not identify itself with `aud` must
     * reject it); a token without `aud` passes. */
    const char *const *audiences;
    size_t n_audiences;
    mk_jwt_subject_mode subject_mode;
    const char *subject; /* for MK_JWT_SUB_FIXED */
    /* Required claims, all of them. Registered names (iss, sub, aud, exp,
     * nbf, iat) are refused here: use the dedicated options. */
    const mk_jwt_claim *claims;
    size_t n_claims;
    /* Accept tokens without `exp` (they never expire). Default false. */
    bool allow_non_expiring;
    /* Maximum lifetime in seconds (exp - iat, or exp - now without iat);
     * 0: unlimited. With a limit, a token without `exp` is refused. */
    int64_t max_lifetime;
    /* Maximum age in seconds (now - iat); 0: unlimited. With a limit, `iat`
     * is required, and the admission ends at iat + max_age if that is
     * earlier than exp. */
    int64_t max_age;
    /* Tolerated clock difference, seconds (0..86400): exp, nbf, iat and
     * max_age are compared with this leeway. */
    int64_t clock_skew;
} mk_jwt_validator_config;

/* Defaults: no issuer/audience lists, subject = the peer, no required
 * claims, non-expiring refused, no lifetime/age limit, skew 60 s. */
void mk_jwt_validator_config_init(mk_jwt_validator_config *opts);

/* A validator of JWT tickets accepting tokens signed by any of `keys` (at
 * least one; the keys are copied, the caller keeps its own). opts NULL
 * means the defaults. On success validate() sets the expiration to `exp`
 * (MK_EXPIRES_NEVER for an allowed non-expiring token), or iat + max_age
 * when that is earlier.
 *
 * signature(): mk_id_derive chain from the class over the keys (algorithm
 * + public material; an HMAC secret enters as HMAC(secret, fixed label),
 * never itself) and every option, canonically (keys, issuers and audiences
 * sorted and de-duplicated, claims sorted by name with their values
 * re-serialised compactly with sorted object keys). Identical configurations
 * give identical signatures; any difference changes it. */
mk_validator *mk_jwt_validator_new(const mk_jwt_validator_config *opts,
                                   const mk_jwt_key *const *keys, size_t nkeys, mk_error *err);

/* ---- issuing -------------------------------------------------------------- */

typedef struct mk_jwt_builder mk_jwt_builder;

mk_jwt_builder *mk_jwt_builder_new(void);
void mk_jwt_builder_free(mk_jwt_builder *b);
int mk_jwt_builder_set_issuer(mk_jwt_builder *b, const char *iss);
int mk_jwt_builder_set_subject(mk_jwt_builder *b, const char *sub);
/* sub = the peer id in lowercase hex (what validators require by default). */
int mk_jwt_builder_set_subject_peer(mk_jwt_builder *b, const mk_id *peer_id);
/* Add an audience: one gives a string `aud`, several an array. */
int mk_jwt_builder_add_audience(mk_jwt_builder *b, const char *aud);
/* exp at an absolute time, or `seconds` after the signing time. */
int mk_jwt_builder_set_expires_at(mk_jwt_builder *b, int64_t exp);
int mk_jwt_builder_set_expires_in(mk_jwt_builder *b, int64_t seconds);
/* iat defaults to the signing time; set it explicitly, or leave it out. */
int mk_jwt_builder_set_issued_at(mk_jwt_builder *b, int64_t iat);
int mk_jwt_builder_omit_issued_at(mk_jwt_builder *b);
int mk_jwt_builder_set_not_before(mk_jwt_builder *b, int64_t nbf);
int mk_jwt_builder_set_id(mk_jwt_builder *b, const char *jti);
/* A custom claim from JSON text (any JSON value). Registered names are
 * refused (use the setters). Setting a name again replaces the value. */
int mk_jwt_builder_set_claim(mk_jwt_builder *b, const char *name, const char *json, mk_error *err);
int mk_jwt_builder_set_claim_string(mk_jwt_builder *b, const char *name, const char *value);

/* Sign with `key` (which must be able to sign) at time `now` (normally
 * mk_now()): header {"alg":…,"typ":"JWT"}, claims serialised compactly with
 * sorted names, so HS* and EdDSA tokens are deterministic. *token is a
 * NUL-terminated string to free(). */
int mk_jwt_builder_sign(const mk_jwt_builder *b, const mk_jwt_key *key, int64_t now, char **token,
                        mk_error *err);
/* Same, as a ticket of class MK_JWT_CLASS (free with mk_ticket_free). */
int mk_jwt_builder_ticket(const mk_jwt_builder *b, const mk_jwt_key *key, int64_t now,
                          mk_ticket *out, mk_error *err);

/* The JWT validator factory for declarations (mosaik/ticket.h): arg is a
 * `const mk_jwt_factory_arg *`. */
typedef struct mk_jwt_factory_arg {
    const mk_jwt_validator_config *opts; /* NULL: defaults */
    const mk_jwt_key *const *keys;
    size_t n_keys;
} mk_jwt_factory_arg;
mk_validator *mk_validator_factory_jwt(const void *arg, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
