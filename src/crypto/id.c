/*
 * crypto/id.c — 32-byte identifiers.
 *
 *   from_name(n)      = SHA-256( lp("mosaik/id/name/v1") || lp(n) )
 *   derive(base, d)   = SHA-256( lp("mosaik/id/derive/v1") || base || lp(d) )
 *
 * where lp(x) = u64be(len(x)) || x. The length prefixes make every input
 * sequence decode uniquely, so derivations cannot collide by moving bytes
 * between fields, and the domain strings keep the two functions apart.
 */
#include "mosaik/id.h"

#include <string.h>

#include "mosaik/crypto.h"
#include "mosaik/encoding.h"

static void lp(mk_hash_ctx *c, const void *d, size_t n) {
    uint8_t l[8];
    for (int i = 0; i < 8; i++)
        l[i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    mk_hash_update(c, l, 8);
    mk_hash_update(c, d, n);
}

/* SHA-256( lp(dom) || [base] || lp(d) ); all zero if no hash context. */
static void id_hash(mk_id *out, const char *dom, const mk_id *base, const void *d, size_t n) {
    mk_hash_ctx *c = NULL;
    mk_hash_new(MK_SHA256, &c);
    if (!c) {
        memset(out, 0, sizeof *out);
        return;
    }
    lp(c, dom, strlen(dom));
    if (base) mk_hash_update(c, base->b, MK_ID_LEN);
    lp(c, d, n);
    mk_hash_final(c, out->b);
    mk_hash_free(c);
}

void mk_id_from_name_n(mk_id *out, const void *name, size_t len) {
    id_hash(out, "mosaik/id/name/v1", NULL, name, len);
}

void mk_id_from_name(mk_id *out, const char *name) {
    mk_id_from_name_n(out, name, strlen(name));
}

void mk_id_derive(mk_id *out, const mk_id *base, const void *data, size_t len) {
    id_hash(out, "mosaik/id/derive/v1", base, data, len);
}

int mk_id_random(mk_id *out) {
    return mk_random_bytes(out->b, MK_ID_LEN);
}

void mk_id_to_hex(const mk_id *id, char out[MK_ID_HEX_LEN]) {
    mk_hex_encode(id->b, MK_ID_LEN, out);
}

void mk_id_short(const mk_id *id, char out[9]) {
    mk_hex_encode(id->b, 4, out);
}

int mk_id_from_hex(mk_id *out, const char *hex, mk_error *err) {
    return mk_hex_decode_exact(hex, out->b, MK_ID_LEN, err);
}

void mk_id_parse(mk_id *out, const char *s) {
    mk_id tmp;
    if (mk_id_from_hex(&tmp, s, NULL) == 0)
        *out = tmp;
    else
        mk_id_from_name(out, s);
}

bool mk_id_eq(const mk_id *a, const mk_id *b) {
    return memcmp(a->b, b->b, MK_ID_LEN) == 0;
}

bool mk_id_is_zero(const mk_id *id) {
    static const mk_id zero;
    return mk_id_eq(id, &zero);
}

int mk_id_cmp(const mk_id *a, const mk_id *b) {
    return memcmp(a->b, b->b, MK_ID_LEN);
}
