/*
 * tickets/ticket.c — tickets, validators and validator sets.
 *
 * Judging a peer with one validator: every ticket of the validator's class
 * is validated; among those that pass and have not yet expired at `now`,
 * the latest expiration counts (a peer that refreshed its credential is not
 * cut off because an older copy is still in its entry). A set requires all
 * validators and the earliest of their expirations is the admission's end.
 * A validator with ops->check (any-of, all-of, a borrowed validator:
 * anyof.c, spec.c) judges the whole peer itself, and mk_validator_check
 * hands its verdict on, refusing only an admission already over.
 *
 * The set's signature is order-independent: it hashes the sorted list of
 * member signatures, so two sets built in different orders are the same
 * requirement. It needs no allocation for up to SIG_STACK members; when a
 * larger set cannot get memory, the signature is a fresh random id, which
 * equals no other set's (failing closed: two sets must never compare equal
 * because memory ran out).
 *
 * Ownership: mk_validator_set_add takes ownership of v only when it
 * succeeds; on failure the caller still owns v (and frees it).
 */
#include "mosaik/ticket.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/crypto.h"

int mk_ticket_init(mk_ticket *t, const mk_id *class_id, const void *data, size_t len) {
    if (len > MK_TICKET_MAX_DATA) return MK_ETOOBIG;
    t->class_id = *class_id;
    t->len = len;
    t->data = malloc(len ? len : 1);
    if (!t->data) return MK_ENOMEM;
    if (len) memcpy(t->data, data, len);
    return 0;
}

int mk_ticket_copy(mk_ticket *dst, const mk_ticket *src) {
    return mk_ticket_init(dst, &src->class_id, src->data, src->len);
}

void mk_ticket_free(mk_ticket *t) {
    if (!t) return;
    free(t->data);
    t->data = NULL;
    t->len = 0;
}

int mk_validator_new(const mk_validator_ops *ops, void *state, mk_validator **out) {
    *out = NULL;
    if (!ops || !ops->class_id || !ops->signature || (!ops->validate && !ops->check))
        return MK_EINVAL;
    mk_validator *v = calloc(1, sizeof *v);
    if (!v) return MK_ENOMEM;
    v->ops = ops;
    v->state = state;
    *out = v;
    return 0;
}

void mk_validator_free(mk_validator *v) {
    if (!v) return;
    if (v->ops && v->ops->destroy) v->ops->destroy(v);
    free(v);
}

void mk_validator_class(const mk_validator *v, mk_id *out) {
    v->ops->class_id(v, out);
}

void mk_validator_signature(const mk_validator *v, mk_id *out) {
    v->ops->signature(v, out);
}

int mk_validator_check(const mk_validator *v, const mk_peer_view *peer, int64_t now,
                       mk_expiration *expires, mk_error *err) {
    if (v->ops->check) {
        mk_expiration e = 0;
        int rc = v->ops->check(v, peer, now, &e, err);
        if (rc == 0 && e <= now)
            rc = mk_error_set(err, MK_EEXPIRED, "%s: admission expired",
                              v->ops->name ? v->ops->name : "validator");
        if (rc == 0) *expires = e;
        return rc;
    }
    mk_id cls;
    v->ops->class_id(v, &cls);
    const char *name = v->ops->name ? v->ops->name : "validator";
    bool found = false, any_class = false;
    mk_expiration best = 0;
    mk_error last;
    mk_error_clear(&last);
    int last_rc = 0;
    for (size_t i = 0; i < peer->n_tickets; i++) {
        const mk_ticket *t = &peer->tickets[i];
        if (!mk_id_eq(&t->class_id, &cls)) continue;
        any_class = true;
        mk_expiration e = 0;
        mk_error te;
        mk_error_clear(&te);
        int rc = v->ops->validate(v, t->data, t->len, peer, now, &e, &te);
        if (rc == 0 && e <= now) {
            rc = mk_error_set(&te, MK_EEXPIRED, "ticket expired");
        }
        if (rc < 0) {
            last = te;
            last.code = rc;
            last_rc = rc;
            continue;
        }
        if (!found || e > best) best = e;
        found = true;
    }
    if (found) {
        *expires = best;
        return 0;
    }
    if (!any_class) {
        char hex[9];
        mk_id_short(&cls, hex);
        return mk_error_set(err, MK_ENOTFOUND, "%s: peer has no ticket of class %s", name, hex);
    }
    if (err) {
        *err = last;
        mk_error_prefix(err, last_rc, "%s", name);
    }
    return last_rc;
}

void mk_validator_set_init(mk_validator_set *s) {
    s->items = NULL;
    s->n = s->cap = 0;
}

int mk_validator_set_add(mk_validator_set *s, mk_validator *v) {
    if (!v) return MK_EINVAL;
    if (s->n == s->cap) {
        if (s->cap > SIZE_MAX / 2 / sizeof *s->items) return MK_ENOMEM;
        size_t nc = s->cap ? s->cap * 2 : 4;
        mk_validator **p = realloc(s->items, nc * sizeof *p);
        if (!p) return MK_ENOMEM;
        s->items = p;
        s->cap = nc;
    }
    s->items[s->n++] = v;
    return 0;
}

void mk_validator_set_free(mk_validator_set *s) {
    for (size_t i = 0; i < s->n; i++)
        mk_validator_free(s->items[i]);
    free(s->items);
    s->items = NULL;
    s->n = s->cap = 0;
}

int mk_validator_set_check(const mk_validator_set *s, const mk_peer_view *peer, int64_t now,
                           mk_expiration *expires, mk_error *err) {
    mk_expiration earliest = MK_EXPIRES_NEVER;
    for (size_t i = 0; i < s->n; i++) {
        mk_expiration e;
        MK_TRY(mk_validator_check(s->items[i], peer, now, &e, err));
        if (e < earliest) earliest = e;
    }
    *expires = earliest;
    return 0;
}

static int cmp_id(const void *a, const void *b) {
    return mk_id_cmp(a, b);
}

#define SIG_STACK 32

void mk_validator_set_signature(const mk_validator_set *s, mk_id *out) {
    static const char dom[] = "mosaik/validator-set/v1";
    mk_id stack[SIG_STACK];
    mk_id *sigs = stack;
    if (s->n > SIG_STACK) {
        sigs = s->n <= SIZE_MAX / sizeof *sigs ? calloc(s->n, sizeof *sigs) : NULL;
        if (!sigs) {
            /* Fail closed: an id no other set has. */
            if (mk_id_random(out) < 0) memset(out->b, 0xff, sizeof out->b);
            return;
        }
    }
    mk_id base;
    mk_id_from_name(&base, dom);
    for (size_t i = 0; i < s->n; i++)
        mk_validator_signature(s->items[i], &sigs[i]);
    qsort(sigs, s->n, sizeof *sigs, cmp_id);
    mk_id_derive(out, &base, sigs, s->n * sizeof *sigs);
    if (sigs != stack) free(sigs);
}
