/*
 * tickets/jwt_validator.c — the JWT ticket validator (an mk_validator of
 * class MK_JWT_CLASS) and its signature.
 *
 * Judging a token: mk_jwt_decode (signature with the configured keys, then
 * the claims' types), then the policy, in named steps and in this order:
 *   1. times: exp (missing refused unless allowed; expired when
 *      now >= exp + skew), nbf (now + skew < nbf), iat (iat > now + skew);
 *   2. limits: max_age (requires iat; now > iat + max_age + skew),
 *      max_lifetime (exp - iat, or exp - now without iat);
 *   3. iss, 4. aud, 5. sub (the peer id in hex, a fixed subject, or any),
 *   6. required claims (equal as JSON values).
 * All time arithmetic is on bounded values (dates < 2^38, skew <= 86400,
 * limits <= 2^40) so nothing overflows, whatever `now` the caller gives.
 * The expiration is exp, or iat + max_age when earlier.
 *
 * Validator signature: an mk_id_derive chain starting at the class id over
 * labelled, length-prefixed sections — keys (sorted, de-duplicated entries
 * of alg name + public material; an HMAC secret as HMAC(secret, label)),
 * issuers and audiences (sorted, de-duplicated), the subject rule, the
 * required claims (sorted by name, values as compact JSON with sorted
 * keys), and the numeric options. Two validators with the same signature
 * accept the same tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "tickets/jwt_internal.h"

#define MAX_SKEW 86400
#define MAX_LIMIT (INT64_C(1) << 40)
void mk_jwt_class(mk_id *out) {
    mk_id_from_name(out, MK_JWT_CLASS_NAME);
}

typedef struct req_claim {
    char *name;
    json_t *value;
    char *canon; /* compact JSON with sorted keys */
} req_claim;

typedef struct jwt_validator {
    mk_jwt_key **keys;
    size_t nkeys;
    char **issuers;
    size_t n_issuers;
    char **audiences;
    size_t n_audiences;
    mk_jwt_subject_mode subject_mode;
    char *subject;
    req_claim *claims;
    size_t n_claims;
    bool allow_non_expiring;
    int64_t max_lifetime, max_age, skew;
    mk_id signature;
} jwt_validator;

void mk_jwt_validator_config_init(mk_jwt_validator_config *o) {
    memset(o, 0, sizeof *o);
    o->subject_mode = MK_JWT_SUB_PEER;
    o->clock_skew = MK_JWT_DEFAULT_SKEW;
}

static void state_free(jwt_validator *s) {
    if (!s) return;
    for (size_t i = 0; i < s->nkeys; i++)
        mk_jwt_key_free(s->keys[i]);
    free(s->keys);
    for (size_t i = 0; i < s->n_issuers; i++)
        free(s->issuers[i]);
    free(s->issuers);
    for (size_t i = 0; i < s->n_audiences; i++)
        free(s->audiences[i]);
    free(s->audiences);
    free(s->subject);
    for (size_t i = 0; i < s->n_claims; i++) {
        free(s->claims[i].name);
        json_decref(s->claims[i].value);
        free(s->claims[i].canon);
    }
    free(s->claims);
    free(s);
}

static void v_destroy(mk_validator *v) {
    state_free(v->state);
    v->state = NULL;
}

static void v_class(const mk_validator *v, mk_id *out) {
    (void)v;
    mk_jwt_class(out);
}

static void v_signature(const mk_validator *v, mk_id *out) {
    *out = ((const jwt_validator *)v->state)->signature;
}

static void fmt_time(int64_t t, char out[MK_RFC3339_LEN]) {
    mk_time_format_rfc3339(t, out);
}

static bool in_list(char *const *list, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s)) return true;
    return false;
}

/* "a", "b", … (truncated) for reasons. */
static void join_list(char *const *list, size_t n, char *out, size_t cap) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + used, cap - used, "%s\"%.64s\"", i ? ", " : "", list[i]);
        if (w < 0 || (size_t)w >= cap - used) {
            if (cap > 4) memcpy(out + cap - 4, "...", 4);
            return;
        }
        used += (size_t)w;
    }
}

/* Step 1: exp, nbf, iat. */
static int check_times(const jwt_validator *s, const mk_jwt *j, int64_t now, mk_error *err) {
    char t1[MK_RFC3339_LEN], t2[MK_RFC3339_LEN];
    int64_t skew = s->skew;
    if (!j->has_exp) {
        if (!s->allow_non_expiring)
            return mk_error_set(err, MK_EPOLICY,
                                "token has no \"exp\" and non-expiring tokens are not allowed");
        if (s->max_lifetime)
            return mk_error_set(err, MK_EPOLICY,
                                "token has no \"exp\" but a maximum lifetime of %lld s applies",
                                (long long)s->max_lifetime);
    } else if (j->exp + skew <= now) {
        fmt_time(j->exp, t1);
        fmt_time(now, t2);
        return mk_error_set(err, MK_EEXPIRED, "token expired at %s (now %s, skew %lld s)", t1, t2,
                            (long long)skew);
    }
    if (j->has_nbf && j->nbf - skew > now) {
        fmt_time(j->nbf, t1);
        fmt_time(now, t2);
        return mk_error_set(err, MK_ENOTYET, "token not valid before %s (now %s, skew %lld s)", t1,
                            t2, (long long)skew);
    }
    if (j->has_iat && j->iat - skew > now) {
        fmt_time(j->iat, t1);
        fmt_time(now, t2);
        return mk_error_set(err, MK_ENOTYET,
                            "token issued in the future: iat %s (now %s, skew %lld s)", t1, t2,
                            (long long)skew);
    }
    return 0;
}

/* Step 2: max_age, max_lifetime (exp is present here when a limit applies). */
static int check_limits(const jwt_validator *s, const mk_jwt *j, int64_t now, mk_error *err) {
    char t1[MK_RFC3339_LEN];
    if (s->max_age) {
        if (!j->has_iat)
            return mk_error_set(err, MK_EPOLICY,
                                "token has no \"iat\" but a maximum age of %lld s applies",
                                (long long)s->max_age);
        if (now > j->iat + s->max_age + s->skew) {
            fmt_time(j->iat, t1);
            return mk_error_set(err, MK_EEXPIRED,
                                "token too old: issued at %s, maximum age %lld s (skew %lld s)", t1,
                                (long long)s->max_age, (long long)s->skew);
        }
    }
    if (s->max_lifetime && j->has_exp) {
        if (j->has_iat) {
            if (j->exp - j->iat > s->max_lifetime)
                return mk_error_set(err, MK_EPOLICY,
                                    "token lifetime exp - iat = %lld s exceeds the maximum %lld s",
                                    (long long)(j->exp - j->iat), (long long)s->max_lifetime);
        } else if (j->exp - s->max_lifetime > now) {
            return mk_error_set(err, MK_EPOLICY,
                                "token lifetime exp - now exceeds the maximum %lld s (no iat)",
                                (long long)s->max_lifetime);
        }
    }
    return 0;
}

/* Step 3: iss. */
static int check_issuer(const jwt_validator *s, const mk_jwt *j, mk_error *err) {
    if (!s->n_issuers) return 0;
    char list[256];
    join_list(s->issuers, s->n_issuers, list, sizeof list);
    if (!j->iss)
        return mk_error_set(err, MK_EMISMATCH, "token has no \"iss\"; expected one of %s", list);
    if (!in_list(s->issuers, s->n_issuers, j->iss))
        return mk_error_set(err, MK_EMISMATCH, "issuer \"%.64s\" not accepted (expected one of %s)",
                            j->iss, list);
    return 0;
}

/* Step 4: aud. */
static int check_audience(const jwt_validator *s, const mk_jwt *j, mk_error *err) {
    size_t naud = mk_jwt_audience_count(j);
    if (!s->n_audiences) {
        if (!naud) return 0;
        return mk_error_set(err, MK_EMISMATCH,
                            "token is meant for audience \"%.64s\" but this validator accepts no "
                            "audience",
                            mk_jwt_audience(j, 0));
    }
    char list[256];
    join_list(s->audiences, s->n_audiences, list, sizeof list);
    if (!naud)
        return mk_error_set(err, MK_EMISMATCH, "token has no \"aud\"; expected one of %s", list);
    bool ok = false;
    for (size_t i = 0; i < naud && !ok; i++)
        ok = in_list(s->audiences, s->n_audiences, mk_jwt_audience(j, i));
    if (!ok)
        return mk_error_set(err, MK_EMISMATCH,
                            "audience \"%.64s\"%s not accepted (expected one of %s)",
                            mk_jwt_audience(j, 0), naud > 1 ? " (and others)" : "", list);
    return 0;
}

/* Step 5: sub. */
static int check_subject(const jwt_validator *s, const mk_jwt *j, const mk_peer_view *peer,
                         mk_error *err) {
    if (s->subject_mode == MK_JWT_SUB_PEER) {
        if (!peer) return mk_error_set(err, MK_EINVAL, "no peer to bind the subject to");
        char hex[MK_ID_HEX_LEN];
        mk_id_to_hex(&peer->peer_id, hex);
        if (!j->sub)
            return mk_error_set(err, MK_EMISMATCH, "token has no \"sub\"; expected the peer id %s",
                                hex);
        if (strcmp(j->sub, hex))
            return mk_error_set(err, MK_EMISMATCH,
                                "token subject \"%.64s\" is not this peer (%.8s...): another "
                                "peer's token",
                                j->sub, hex);
    } else if (s->subject_mode == MK_JWT_SUB_FIXED) {
        if (!j->sub)
            return mk_error_set(err, MK_EMISMATCH, "token has no \"sub\"; expected \"%.64s\"",
                                s->subject);
        if (strcmp(j->sub, s->subject))
            return mk_error_set(err, MK_EMISMATCH,
                                "subject \"%.64s\" is not the required \"%.64s\"", j->sub,
                                s->subject);
    }
    return 0;
}

/* Step 6: required claims. */
static int check_required_claims(const jwt_validator *s, const mk_jwt *j, mk_error *err) {
    for (size_t i = 0; i < s->n_claims; i++) {
        const req_claim *rq = &s->claims[i];
        json_t *v = json_object_get(j->claims, rq->name);
        if (!v)
            return mk_error_set(err, MK_EMISMATCH, "required claim \"%.64s\" is missing", rq->name);
        if (!json_equal(v, rq->value)) {
            char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            int rc = mk_error_set(err, MK_EMISMATCH, "claim \"%.64s\" is %.80s, required %.80s",
                                  rq->name, got ? got : "?", rq->canon);
            free(got);
            return rc;
        }
    }
    return 0;
}

static int check_policy(const jwt_validator *s, const mk_jwt *j, const mk_peer_view *peer,
                        int64_t now, mk_expiration *expires, mk_error *err) {
    MK_TRY(check_times(s, j, now, err));
    MK_TRY(check_limits(s, j, now, err));
    MK_TRY(check_issuer(s, j, err));
    MK_TRY(check_audience(s, j, err));
    MK_TRY(check_subject(s, j, peer, err));
    MK_TRY(check_required_claims(s, j, err));
    mk_expiration e = j->has_exp ? j->exp : MK_EXPIRES_NEVER;
    if (s->max_age && j->iat + s->max_age < e) e = j->iat + s->max_age;
    *expires = e;
    return 0;
}

static int v_validate(const mk_validator *v, const uint8_t *data, size_t len,
                      const mk_peer_view *peer, int64_t now, mk_expiration *expires,
                      mk_error *err) {
    const jwt_validator *s = v->state;
    mk_jwt j;
    MK_TRY(mk_jwt_decode((const char *)data, len, (const mk_jwt_key *const *)s->keys, s->nkeys, &j,
                         err));
    int rc = check_policy(s, &j, peer, now, expires, err);
    mk_jwt_free(&j);
    return rc;
}

static const mk_validator_ops jwt_ops = {
    .name = "jwt",
    .class_id = v_class,
    .signature = v_signature,
    .validate = v_validate,
    .destroy = v_destroy,
};

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copy, sort and de-duplicate a string list. */
static int copy_list(const char *what, const char *const *in, size_t n, char ***out, size_t *nout,
                     mk_error *err) {
    *out = NULL;
    *nout = 0;
    if (!n) return 0;
    if (!in) return mk_error_set(err, MK_EINVAL, "JWT validator: %s list is NULL", what);
    char **l = calloc(n, sizeof *l);
    if (!l) return mk_error_set(err, MK_ENOMEM, "out of memory");
    *out = l;
    for (size_t i = 0; i < n; i++) {
        if (!in[i]) return mk_error_set(err, MK_EINVAL, "JWT validator: %s %zu is NULL", what, i);
        if (!(l[i] = strdup(in[i]))) return mk_error_set(err, MK_ENOMEM, "out of memory");
        *nout = i + 1;
    }
    qsort(l, n, sizeof *l, cmp_str);
    size_t w = 1;
    for (size_t i = 1; i < n; i++) {
        if (!strcmp(l[i], l[w - 1])) {
            free(l[i]);
            continue;
        }
        l[w++] = l[i];
    }
    *nout = w;
    return 0;
}

static int cmp_claim(const void *a, const void *b) {
    return strcmp(((const req_claim *)a)->name, ((const req_claim *)b)->name);
}

static bool registered(const char *n) {
    static const char *const reg[] = {"iss", "sub", "aud", "exp", "nbf", "iat"};
    for (size_t i = 0; i < sizeof reg / sizeof reg[0]; i++)
        if (!strcmp(n, reg[i])) return true;
    return false;
}

/* Length-prefixed (u64 big-endian) field. */
static int put_lp(mk_buf *b, const void *d, size_t n) {
    MK_TRY(mk_buf_append_u64be(b, n));
    return mk_buf_append(b, d, n);
}

static int put_str(mk_buf *b, const char *s) {
    return put_lp(b, s, strlen(s));
}

/* id = derive(id, lp(label) || content) */
static void chain(mk_id *id, const char *label, const mk_buf *content) {
    mk_buf t;
    mk_buf_init(&t, 0);
    if (put_str(&t, label) == 0 && mk_buf_append(&t, content->data, content->len) == 0) {
        mk_id prev = *id;
        mk_id_derive(id, &prev, t.data, t.len);
    } else {
        memset(id, 0, sizeof *id);
    }
    mk_buf_free(&t);
}

typedef struct key_entry {
    uint8_t b[8 + 8 + 8 + 96];
    size_t len;
} key_entry;

static int cmp_entry(const void *a, const void *b) {
    const key_entry *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->b, y->b, n);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static int key_entry_of(const mk_jwt_key *k, key_entry *e) {
    mk_buf b;
    mk_buf_init(&b, sizeof e->b);
    uint8_t mat[96];
    size_t n = 0;
    if (mk_jwt_alg_is_hs(k->alg)) {
        static const char label[] = MK_JWT_CLASS_NAME "/hs-key-fingerprint";
        MK_TRY(mk_hmac(MK_SHA256, k->secret, k->secret_len, label, sizeof label - 1, mat));
        n = 32;
    } else {
        MK_TRY(mk_jwt_key_public_bytes(k, mat, sizeof mat, &n));
    }
    int rc = put_str(&b, mk_jwt_alg_name(k->alg));
    if (rc == 0) rc = put_lp(&b, mat, n);
    if (rc == 0) {
        memcpy(e->b, b.data, b.len);
        e->len = b.len;
    }
    mk_buf_free(&b);
    return rc;
}

static int compute_signature(jwt_validator *s) {
    mk_id id;
    mk_jwt_class(&id);
    mk_buf b;
    mk_buf_init(&b, 0);
    int rc = 0;
    mk_buf_append_str(&b, "v1");
    chain(&id, "mosaik.jwt.validator", &b);

    key_entry *ents = calloc(s->nkeys, sizeof *ents);
    if (!ents) return MK_ENOMEM;
    for (size_t i = 0; i < s->nkeys && rc == 0; i++)
        rc = key_entry_of(s->keys[i], &ents[i]);
    if (rc == 0) {
        qsort(ents, s->nkeys, sizeof *ents, cmp_entry);
        mk_buf_reset(&b);
        for (size_t i = 0; i < s->nkeys && rc == 0; i++) {
            if (i && !cmp_entry(&ents[i], &ents[i - 1])) continue;
            rc = put_lp(&b, ents[i].b, ents[i].len);
        }
        chain(&id, "keys", &b);
    }
    mk_wipe(ents, s->nkeys * sizeof *ents);
    free(ents);

    mk_buf_reset(&b);
    for (size_t i = 0; i < s->n_issuers && rc == 0; i++)
        rc = put_str(&b, s->issuers[i]);
    chain(&id, "issuers", &b);
    mk_buf_reset(&b);
    for (size_t i = 0; i < s->n_audiences && rc == 0; i++)
        rc = put_str(&b, s->audiences[i]);
    chain(&id, "audiences", &b);
    mk_buf_reset(&b);
    if (rc == 0) rc = mk_buf_append_u64be(&b, (uint64_t)s->subject_mode);
    if (rc == 0 && s->subject_mode == MK_JWT_SUB_FIXED) rc = put_str(&b, s->subject);
    chain(&id, "subject", &b);
    mk_buf_reset(&b);
    for (size_t i = 0; i < s->n_claims && rc == 0; i++) {
        rc = put_str(&b, s->claims[i].name);
        if (rc == 0) rc = put_str(&b, s->claims[i].canon);
    }
    chain(&id, "claims", &b);
    mk_buf_reset(&b);
    if (rc == 0) rc = mk_buf_append_u64be(&b, s->allow_non_expiring ? 1 : 0);
    if (rc == 0) rc = mk_buf_append_u64be(&b, (uint64_t)s->max_lifetime);
    if (rc == 0) rc = mk_buf_append_u64be(&b, (uint64_t)s->max_age);
    if (rc == 0) rc = mk_buf_append_u64be(&b, (uint64_t)s->skew);
    chain(&id, "limits", &b);
    mk_buf_free(&b);
    s->signature = id;
    return rc;
}

static int build_state(jwt_validator *s, const mk_jwt_validator_config *o,
                       const mk_jwt_key *const *keys, size_t nkeys, mk_error *err) {
    if (!keys || !nkeys) return mk_error_set(err, MK_EINVAL, "JWT validator: no key configured");
    if (o->clock_skew < 0 || o->clock_skew > MAX_SKEW)
        return mk_error_set(err, MK_EINVAL, "JWT validator: clock skew must be 0..%d s", MAX_SKEW);
    if (o->max_lifetime < 0 || o->max_lifetime > MAX_LIMIT || o->max_age < 0 ||
        o->max_age > MAX_LIMIT)
        return mk_error_set(err, MK_EINVAL, "JWT validator: lifetime/age limit out of range");
    s->keys = calloc(nkeys, sizeof *s->keys);
    if (!s->keys) return mk_error_set(err, MK_ENOMEM, "out of memory");
    for (size_t i = 0; i < nkeys; i++) {
        if (!keys[i]) return mk_error_set(err, MK_EINVAL, "JWT validator: key %zu is NULL", i);
        MK_TRY(mk_jwt_key_public(keys[i], &s->keys[i], err));
        s->nkeys = i + 1;
    }
    MK_TRY(copy_list("issuer", o->issuers, o->n_issuers, &s->issuers, &s->n_issuers, err));
    MK_TRY(
        copy_list("audience", o->audiences, o->n_audiences, &s->audiences, &s->n_audiences, err));
    switch (o->subject_mode) {
    case MK_JWT_SUB_PEER:
    case MK_JWT_SUB_ANY:
        break;
    case MK_JWT_SUB_FIXED:
        if (!o->subject)
            return mk_error_set(err, MK_EINVAL,
                                "JWT validator: fixed subject mode needs a subject");
        if (!(s->subject = strdup(o->subject)))
            return mk_error_set(err, MK_ENOMEM, "out of memory");
        break;
    default:
        return mk_error_set(err, MK_EINVAL, "JWT validator: unknown subject mode");
    }
    s->subject_mode = o->subject_mode;
    if (o->n_claims) {
        if (!o->claims) return mk_error_set(err, MK_EINVAL, "JWT validator: claims list is NULL");
        s->claims = calloc(o->n_claims, sizeof *s->claims);
        if (!s->claims) return mk_error_set(err, MK_ENOMEM, "out of memory");
        for (size_t i = 0; i < o->n_claims; i++) {
            const mk_jwt_claim *c = &o->claims[i];
            if (!c->name || !c->json)
                return mk_error_set(err, MK_EINVAL, "JWT validator: claim %zu incomplete", i);
            if (registered(c->name))
                return mk_error_set(err, MK_EINVAL,
                                    "JWT validator: \"%s\" is a registered claim; use its option",
                                    c->name);
            req_claim *r = &s->claims[i];
            s->n_claims = i + 1;
            json_error_t je;
            r->value = json_loads(c->json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
            if (!r->value)
                return mk_error_set(err, MK_EINVAL,
                                    "JWT validator: required claim \"%s\": invalid JSON: %s",
                                    c->name, je.text);
            r->name = strdup(c->name);
            r->canon = json_dumps(r->value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            if (!r->name || !r->canon) return mk_error_set(err, MK_ENOMEM, "out of memory");
        }
        qsort(s->claims, s->n_claims, sizeof *s->claims, cmp_claim);
        for (size_t i = 1; i < s->n_claims; i++)
            if (!strcmp(s->claims[i].name, s->claims[i - 1].name))
                return mk_error_set(err, MK_EINVAL, "JWT validator: claim \"%s\" required twice",
                                    s->claims[i].name);
    }
    s->allow_non_expiring = o->allow_non_expiring;
    s->max_lifetime = o->max_lifetime;
    s->max_age = o->max_age;
    s->skew = o->clock_skew;
    int rc = compute_signature(s);
    if (rc < 0) return mk_error_set(err, rc, "JWT validator: cannot compute signature");
    return 0;
}

mk_validator *mk_jwt_validator_new(const mk_jwt_validator_config *opts,
                                   const mk_jwt_key *const *keys, size_t nkeys, mk_error *err) {
    mk_jwt_validator_config defaults;
    if (!opts) {
        mk_jwt_validator_config_init(&defaults);
        opts = &defaults;
    }
    jwt_validator *s = calloc(1, sizeof *s);
    if (!s) {
        mk_error_set(err, MK_ENOMEM, "out of memory");
        return NULL;
    }
    if (build_state(s, opts, keys, nkeys, err) < 0) {
        state_free(s);
        return NULL;
    }
    mk_validator *v = mk_validator_new(&jwt_ops, s);
    if (!v) {
        state_free(s);
        mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    return v;
}

mk_validator *mk_validator_factory_jwt(const void *arg, mk_error *err) {
    const mk_jwt_factory_arg *a = arg;
    if (!a || !a->keys || a->n_keys == 0) {
        mk_error_set(err, MK_EINVAL, "jwt factory: no keys");
        return NULL;
    }
    return mk_jwt_validator_new(a->opts, a->keys, a->n_keys, err);
}
