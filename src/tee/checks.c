/*
 * tee/checks.c — the checks every platform's validator makes after the
 * evidence itself has verified and bound the ticket's extra data: the
 * ticket is this peer's, on this network; it is fresh; it has not expired.
 *
 * Peer and network: the extra data's ids must equal the peer entry's
 * (mk_peer_view), so a ticket copied from another node, or from another
 * network, is refused with both ids named.
 *
 * Freshness (mk_tee_freshness; 0 turns a limit off): quoted_at no more
 * than MK_TEE_CLOCK_SKEW seconds in the future; now - quoted_at at most
 * max_age; quoted_at not before not_before; expiration - quoted_at at most
 * max_lifetime, so a ticket that never expires is refused whenever
 * max_lifetime is set. Overflow-free: decoding bounds a ticket's times to
 * [0, year 9999] (or expiration == never), but `now` is the caller's; every
 * difference is computed with __builtin_sub_overflow and an overflow counts
 * as "too far apart".
 *
 * Expiry: a ticket is admitted until its expiration or the end of its
 * evidence's verified window (certificates, collateral), whichever comes
 * first; at or after its expiration it is refused.
 *
 * Variants: a validator's measurement criteria are a baseline every ticket
 * must meet and, optionally, variants of which at least one must match
 * (several accepted images). The variants are kept sorted and without
 * duplicates (so the order they were configured in changes neither the
 * outcome nor the validator's signature), and a refusal lists why each one
 * failed: "no variant matches (1: ...; 2: ...)". The criteria themselves
 * are the platform's (TDX: MRTD, RTMRs; SNP: MEASUREMENT, HOST_DATA, ...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/clock.h"
#include "tee/tee_internal.h"

static void fmt_time(int64_t t, char out[MK_RFC3339_LEN]) {
    if (t == MK_EXPIRES_NEVER)
        snprintf(out, MK_RFC3339_LEN, "never");
    else
        mk_time_format_rfc3339(t, out);
}

int mk_tee_check_peer(const mk_tee_extra_data *x, const mk_peer_view *peer, mk_error *err) {
    if (!x) return mk_error_set(err, MK_EINVAL, "no ticket to judge");
    if (!peer) return mk_error_set(err, MK_EINVAL, "no peer to judge the ticket for");
    char a[MK_ID_HEX_LEN], b[MK_ID_HEX_LEN];
    if (!mk_id_eq(&x->peer_id, &peer->peer_id)) {
        mk_id_to_hex(&x->peer_id, a);
        mk_id_to_hex(&peer->peer_id, b);
        return mk_error_set(err, MK_EMISMATCH, "ticket binds peer %.16s, entry is peer %.16s", a,
                            b);
    }
    if (!mk_id_eq(&x->network_id, &peer->network_id)) {
        mk_id_to_hex(&x->network_id, a);
        mk_id_to_hex(&peer->network_id, b);
        return mk_error_set(err, MK_EMISMATCH, "ticket binds network %.16s, entry is network %.16s",
                            a, b);
    }
    return 0;
}

int mk_tee_check_freshness(const mk_tee_freshness *f, const mk_tee_extra_data *x, int64_t now,
                           mk_error *err) {
    if (!f || !x) return mk_error_set(err, MK_EINVAL, "no ticket to judge");
    char tq[MK_RFC3339_LEN];
    fmt_time(x->quoted_at, tq);
    int64_t age = 0, lifetime = 0;
    bool age_ovf = __builtin_sub_overflow(now, x->quoted_at, &age);
    if ((!age_ovf && age < -MK_TEE_CLOCK_SKEW) || (age_ovf && now < x->quoted_at))
        return mk_error_set(err, MK_ENOTYET, "ticket quoted at %s, in the future", tq);
    if (f->max_age > 0 && (age_ovf || age > f->max_age)) {
        if (age_ovf)
            return mk_error_set(err, MK_EEXPIRED,
                                "ticket quoted at %s is too old, max_age is %lld s", tq,
                                (long long)f->max_age);
        return mk_error_set(err, MK_EEXPIRED,
                            "ticket quoted at %s is %lld s old, max_age is %lld s", tq,
                            (long long)age, (long long)f->max_age);
    }
    if (f->not_before != 0 && x->quoted_at < f->not_before) {
        char nb[MK_RFC3339_LEN];
        fmt_time(f->not_before, nb);
        return mk_error_set(err, MK_EPOLICY, "ticket quoted at %s, before not_before %s", tq, nb);
    }
    if (f->max_lifetime > 0) {
        if (x->expiration == MK_EXPIRES_NEVER)
            return mk_error_set(err, MK_EPOLICY, "ticket never expires, max_lifetime is %lld s",
                                (long long)f->max_lifetime);
        if (__builtin_sub_overflow(x->expiration, x->quoted_at, &lifetime) ||
            lifetime > f->max_lifetime)
            return mk_error_set(err, MK_EPOLICY,
                                "ticket lifetime %lld s exceeds max_lifetime %lld s",
                                (long long)lifetime, (long long)f->max_lifetime);
    }
    return 0;
}

int mk_tee_check_expiry(const mk_tee_extra_data *x, int64_t valid_until, int64_t now,
                        mk_expiration *expires, mk_error *err) {
    if (!x) return mk_error_set(err, MK_EINVAL, "no ticket to judge");
    if (x->expiration != MK_EXPIRES_NEVER && now >= x->expiration) {
        char tx[MK_RFC3339_LEN];
        fmt_time(x->expiration, tx);
        return mk_error_set(err, MK_EEXPIRED, "ticket expired at %s", tx);
    }
    mk_expiration e = x->expiration;
    if (valid_until > 0 && valid_until < e) e = valid_until;
    if (expires) *expires = e;
    return 0;
}

void mk_tee_freshness_encode(const mk_tee_freshness *f, mk_buf *b) {
    mk_buf_append_u64be(b, (uint64_t)f->max_age);
    mk_buf_append_u64be(b, (uint64_t)f->not_before);
    mk_buf_append_u64be(b, (uint64_t)f->max_lifetime);
}

size_t mk_tee_variants_normalize(void *variants, size_t n, size_t size,
                                 int (*cmp)(const void *, const void *)) {
    if (n == 0) return 0;
    qsort(variants, n, size, cmp);
    uint8_t *v = variants;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || cmp(v + (k - 1) * size, v + i * size) != 0) {
            if (k != i) memmove(v + k * size, v + i * size, size);
            k++;
        }
    return k;
}

int mk_tee_check_variants(const void *variants, size_t n, size_t size,
                          int (*match)(const void *variant, const void *ctx, mk_error *err),
                          const void *ctx, mk_error *err) {
    if (n == 0) return 0;
    char why[MK_ERROR_MSG_MAX] = "";
    size_t off = 0;
    const uint8_t *v = variants;
    for (size_t i = 0; i < n; i++) {
        mk_error ve;
        mk_error_clear(&ve);
        if (match(v + i * size, ctx, &ve) == 0) return 0;
        if (off < sizeof why) {
            int w =
                snprintf(why + off, sizeof why - off, "%s%zu: %s", i ? "; " : "", i + 1, ve.msg);
            if (w > 0) off += (size_t)w;
        }
    }
    return mk_error_set(err, MK_EMISMATCH, "no variant matches (%s)", why);
}
