/*
 * tickets/anyof.c — the any-of validator: a peer is admitted when it
 * satisfies every validator of at least one of several sets.
 *
 * Judging: each alternative is an mk_validator_set judged with
 * mk_validator_set_check (all required, the earliest expiration). Every
 * alternative is judged, so that among those the peer satisfies the one
 * whose admission lasts longest counts (as among several tickets of one
 * class the latest counts), and so that a refusal can say why each one
 * failed. The refusal text is built in a fixed buffer: each alternative's
 * reason gets an equal share of what is left after the fixed words, cut
 * at a UTF-8 character boundary, so the whole text always fits
 * MK_ERROR_MSG_MAX and names every alternative.
 *
 * Signature: the alternatives' set signatures (each order-independent
 * already), sorted and deduplicated — two alternatives with the same
 * signature accept the same peers, so listing one twice changes nothing —
 * then derived from the domain "mosaik/validator-any-of/v1", which the
 * AND set's "mosaik/validator-set/v1" is not: an any-of of one set is not
 * that set. Computed once at construction (the validators never change).
 *
 * Ownership: on success the state owns the validators of every set (the
 * caller's sets are left empty, their storage moved here); on failure
 * nothing was moved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/ticket.h"

#define ANY_DOMAIN "mosaik/validator-any-of/v1"
#define ANY_MAX_ALTS 64

typedef struct any_state {
    mk_validator_set *alts;
    size_t n;
    mk_id signature;
} any_state;

static void any_class(const mk_validator *v, mk_id *out) {
    (void)v;
    mk_id_from_name(out, ANY_DOMAIN);
}

static void any_signature(const mk_validator *v, mk_id *out) {
    *out = ((const any_state *)v->state)->signature;
}

/* The length of at most max bytes of s that does not cut a UTF-8
 * character. */
static size_t utf8_cut(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n <= max) return n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

/* "no alternative admits the peer: (1) r1; (2) r2" into err. */
static int refuse(const any_state *s, mk_error *why, int code, mk_error *err) {
    if (!err) return code;
    char out[MK_ERROR_MSG_MAX];
    static const char head[] = "no alternative admits the peer: ";
    size_t used = (size_t)snprintf(out, sizeof out, "%s", head);
    for (size_t i = 0; i < s->n; i++) {
        size_t left = sizeof out - 1 - used;
        size_t fixed = 12; /* "(NN) " and "; " */
        size_t share = left / (s->n - i);
        size_t room = share > fixed ? share - fixed : 0;
        size_t take = utf8_cut(why[i].msg, room);
        int w = snprintf(out + used, sizeof out - used, "%s(%zu) %.*s", i ? "; " : "", i + 1,
                         (int)take, why[i].msg);
        if (w < 0 || (size_t)w >= sizeof out - used) break;
        used += (size_t)w;
    }
    return mk_error_set(err, code, "%s", out);
}

static int any_check(const mk_validator *v, const mk_peer_view *peer, int64_t now,
                     mk_expiration *expires, mk_error *err) {
    const any_state *s = v->state;
    mk_error *why = calloc(s->n, sizeof *why);
    if (!why) return mk_error_set(err, MK_ENOMEM, "any-of: out of memory");
    bool found = false;
    mk_expiration best = 0;
    int code = 0;
    bool same = true;
    for (size_t i = 0; i < s->n; i++) {
        mk_expiration e = 0;
        mk_error_clear(&why[i]);
        int rc = mk_validator_set_check(&s->alts[i], peer, now, &e, &why[i]);
        if (rc == 0) {
            if (!found || e > best) best = e;
            found = true;
            continue;
        }
        if (!why[i].msg[0]) snprintf(why[i].msg, sizeof why[i].msg, "%s", mk_strerror(rc));
        if (code && rc != code) same = false;
        code = rc;
    }
    int rc = 0;
    if (found)
        *expires = best;
    else
        rc = refuse(s, why, same ? code : MK_EPOLICY, err);
    free(why);
    return rc;
}

static void any_destroy(mk_validator *v) {
    any_state *s = v->state;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++)
        mk_validator_set_free(&s->alts[i]);
    free(s->alts);
    free(s);
    v->state = NULL;
}

static const mk_validator_ops any_ops = {
    .name = "any-of",
    .class_id = any_class,
    .signature = any_signature,
    .destroy = any_destroy,
    .check = any_check,
};

static int cmp_id(const void *a, const void *b) {
    return mk_id_cmp(a, b);
}

/* Sorted, deduplicated set signatures, derived from the domain. */
static void compute_signature(any_state *s, mk_id sigs[]) {
    for (size_t i = 0; i < s->n; i++)
        mk_validator_set_signature(&s->alts[i], &sigs[i]);
    qsort(sigs, s->n, sizeof *sigs, cmp_id);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!w || !mk_id_eq(&sigs[i], &sigs[w - 1])) sigs[w++] = sigs[i];
    mk_id base;
    mk_id_from_name(&base, ANY_DOMAIN);
    mk_id_derive(&s->signature, &base, sigs, w * sizeof *sigs);
}

int mk_validator_any_of_new(mk_validator_set *alts, size_t n, mk_validator **out, mk_error *err) {
    *out = NULL;
    if (!alts || n == 0) return mk_error_set(err, MK_EINVAL, "any-of: no alternative");
    if (n > ANY_MAX_ALTS)
        return mk_error_set(err, MK_ETOOBIG, "any-of: more than %d alternatives", ANY_MAX_ALTS);
    for (size_t i = 0; i < n; i++)
        if (alts[i].n == 0)
            return mk_error_set(err, MK_EINVAL,
                                "any-of: alternative %zu is empty (it would admit every peer)",
                                i + 1);
    any_state *s = calloc(1, sizeof *s);
    mk_id *sigs = calloc(n, sizeof *sigs);
    if (s) s->alts = calloc(n, sizeof *s->alts);
    mk_validator *v = NULL;
    if (!s || !sigs || !s->alts || mk_validator_new(&any_ops, s, &v) < 0) {
        if (s) free(s->alts);
        free(s);
        free(sigs);
        return mk_error_set(err, MK_ENOMEM, "any-of: out of memory");
    }
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        s->alts[i] = alts[i];
        mk_validator_set_init(&alts[i]);
    }
    compute_signature(s, sigs);
    free(sigs);
    *out = v;
    return 0;
}
