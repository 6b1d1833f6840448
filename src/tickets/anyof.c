/*
 * tickets/anyof.c — the combinators: any-of (one member must admit the
 * peer) and all-of (every member must), each one validator made of
 * several.
 *
 * Judging. A combinator has no ticket class of its own: it sets
 * mk_validator_ops.check and judges the whole peer by calling
 * mk_validator_check on its members, which try the peer's tickets of their
 * classes (so a member may itself be a combinator). Any-of judges every
 * member, so that among the members that accept, the one whose admission
 * lasts longest counts (as among several tickets of one class the latest
 * counts), and so that a refusal can say why each one failed. All-of stops
 * at the first refusal and passes its reason on; its admission ends at the
 * earliest of its members' expiries.
 *
 * The any-of refusal. "no validator accepts (r1; r2; …)" must fit
 * MK_VALIDATOR_ANY_OF_REASON_MAX bytes and still name every member, so the
 * room left after the fixed words is shared fairly (water-filling): in
 * order of increasing reason length, each member gets min(its length, an
 * equal share of what is left), so short reasons are kept whole and give
 * their unused share to the long ones. A reason is cut at a UTF-8
 * character boundary.
 *
 * Signature: the members' signatures sorted and deduplicated (two members
 * with one signature accept the same peers), derived from the
 * combinator's domain, computed once at construction (members never
 * change). The domains differ from the validator set's, so a combinator
 * of A and B is neither A, B nor the set {A, B}.
 *
 * Ownership: on success the state owns the members; on failure nothing
 * was taken. Members are few (MK_VALIDATOR_COMBINE_MAX), so the judging
 * scratch lives on the stack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/ticket.h"

#define ANY_DOMAIN "mosaik/validator-any-of/v1"
#define ALL_DOMAIN "mosaik/validator-all-of/v1"
#define ANY_HEAD "no validator accepts ("

typedef struct comb_state {
    mk_validator *m[MK_VALIDATOR_COMBINE_MAX];
    size_t n;
    mk_id class_id, signature;
} comb_state;

static void comb_class(const mk_validator *v, mk_id *out) {
    *out = ((const comb_state *)v->state)->class_id;
}

static void comb_signature(const mk_validator *v, mk_id *out) {
    *out = ((const comb_state *)v->state)->signature;
}

static void comb_destroy(mk_validator *v) {
    comb_state *s = v->state;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++)
        mk_validator_free(s->m[i]);
    free(s);
    v->state = NULL;
}

/* The length of at most max bytes of s that does not cut a UTF-8
 * character. */
static size_t utf8_cut(const char *s, size_t len, size_t max) {
    if (len <= max) return len;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

/* Fair shares of `room` bytes for n reasons of lengths len[] (water-filling
 * in order of increasing length). */
static void shares(const size_t *len, size_t n, size_t room, size_t *take) {
    bool done[MK_VALIDATOR_COMBINE_MAX] = {false};
    for (size_t k = n; k > 0; k--) {
        size_t pick = n;
        for (size_t i = 0; i < n; i++)
            if (!done[i] && (pick == n || len[i] < len[pick])) pick = i;
        size_t share = room / k;
        take[pick] = len[pick] < share ? len[pick] : share;
        room -= take[pick];
        done[pick] = true;
    }
}

/* "no validator accepts (r1; r2)" into err, with code. */
static int refuse(size_t n, const mk_error *why, int code, mk_error *err) {
    if (!err) return code;
    size_t len[MK_VALIDATOR_COMBINE_MAX], take[MK_VALIDATOR_COMBINE_MAX];
    /* Fixed words: the head, ")" and "; " between members. */
    size_t fixed = strlen(ANY_HEAD) + 1 + 2 * (n - 1);
    size_t room =
        MK_VALIDATOR_ANY_OF_REASON_MAX > fixed ? MK_VALIDATOR_ANY_OF_REASON_MAX - fixed : 0;
    for (size_t i = 0; i < n; i++)
        len[i] = strlen(why[i].msg);
    shares(len, n, room, take);
    char out[MK_VALIDATOR_ANY_OF_REASON_MAX + 1];
    size_t used = (size_t)snprintf(out, sizeof out, "%s", ANY_HEAD);
    for (size_t i = 0; i < n; i++) {
        size_t t = utf8_cut(why[i].msg, len[i], take[i]);
        int w =
            snprintf(out + used, sizeof out - used, "%s%.*s", i ? "; " : "", (int)t, why[i].msg);
        if (w < 0 || (size_t)w >= sizeof out - used) break;
        used += (size_t)w;
    }
    if (used < sizeof out - 1) out[used++] = ')';
    out[used] = '\0';
    return mk_error_set(err, code, "%s", out);
}

static int any_check(const mk_validator *v, const mk_peer_view *peer, int64_t now,
                     mk_expiration *expires, mk_error *err) {
    const comb_state *s = v->state;
    mk_error why[MK_VALIDATOR_COMBINE_MAX];
    bool found = false, same = true;
    mk_expiration best = 0;
    int code = 0;
    for (size_t i = 0; i < s->n; i++) {
        mk_expiration e = 0;
        mk_error_clear(&why[i]);
        int rc = mk_validator_check(s->m[i], peer, now, &e, &why[i]);
        if (rc == 0) {
            if (!found || e > best) best = e;
            found = true;
            continue;
        }
        if (!why[i].msg[0]) snprintf(why[i].msg, sizeof why[i].msg, "%s", mk_strerror(rc));
        if (code && rc != code) same = false;
        code = rc;
    }
    if (found) {
        *expires = best;
        return 0;
    }
    return refuse(s->n, why, same ? code : MK_EPOLICY, err);
}

static int all_check(const mk_validator *v, const mk_peer_view *peer, int64_t now,
                     mk_expiration *expires, mk_error *err) {
    const comb_state *s = v->state;
    mk_expiration earliest = MK_EXPIRES_NEVER;
    for (size_t i = 0; i < s->n; i++) {
        mk_expiration e = 0;
        MK_TRY(mk_validator_check(s->m[i], peer, now, &e, err));
        if (e < earliest) earliest = e;
    }
    *expires = earliest;
    return 0;
}

static const mk_validator_ops any_ops = {
    .name = "any-of",
    .class_id = comb_class,
    .signature = comb_signature,
    .destroy = comb_destroy,
    .check = any_check,
};

static const mk_validator_ops all_ops = {
    .name = "all-of",
    .class_id = comb_class,
    .signature = comb_signature,
    .destroy = comb_destroy,
    .check = all_check,
};

static int cmp_id(const void *a, const void *b) {
    return mk_id_cmp(a, b);
}

/* Sorted, deduplicated member signatures, derived from the domain. */
static void compute_signature(comb_state *s) {
    mk_id sigs[MK_VALIDATOR_COMBINE_MAX];
    for (size_t i = 0; i < s->n; i++)
        mk_validator_signature(s->m[i], &sigs[i]);
    qsort(sigs, s->n, sizeof *sigs, cmp_id);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!w || !mk_id_eq(&sigs[i], &sigs[w - 1])) sigs[w++] = sigs[i];
    mk_id_derive(&s->signature, &s->class_id, sigs, w * sizeof *sigs);
}

static int comb_new(const mk_validator_ops *ops, const char *domain, mk_validator *const *members,
                    size_t n, mk_validator **out, mk_error *err) {
    *out = NULL;
    if (!members || n == 0) return mk_error_set(err, MK_EINVAL, "%s: no member", ops->name);
    if (n > MK_VALIDATOR_COMBINE_MAX)
        return mk_error_set(err, MK_ETOOBIG, "%s: %zu members, at most %d", ops->name, n,
                            MK_VALIDATOR_COMBINE_MAX);
    for (size_t i = 0; i < n; i++)
        if (!members[i])
            return mk_error_set(err, MK_EINVAL, "%s: member %zu is NULL", ops->name, i);
    comb_state *s = calloc(1, sizeof *s);
    mk_validator *v = NULL;
    if (!s || mk_validator_new(ops, s, &v) < 0) {
        free(s);
        return mk_error_set(err, MK_ENOMEM, "%s: out of memory", ops->name);
    }
    s->n = n;
    memcpy(s->m, members, n * sizeof *members);
    mk_id_from_name(&s->class_id, domain);
    compute_signature(s);
    *out = v;
    return 0;
}

int mk_validator_any_of_new(mk_validator *const *members, size_t n, mk_validator **out,
                            mk_error *err) {
    return comb_new(&any_ops, ANY_DOMAIN, members, n, out, err);
}

int mk_validator_all_of_new(mk_validator *const *members, size_t n, mk_validator **out,
                            mk_error *err) {
    return comb_new(&all_ops, ALL_DOMAIN, members, n, out, err);
}
