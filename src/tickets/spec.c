/*
 * tickets/spec.c — validator specs: making validators from (factory,
 * argument) pairs, the combinator factories and the borrowing factory.
 *
 * A spec is held by value in configurations and declarations; the objects
 * created from them (producers, consumers, collections, discovery) call
 * mk_validator_set_add_specs when they are created and own what it makes.
 * It is all or none: the validators are made into a scratch set first and
 * moved into the caller's set only when every spec succeeded, so a
 * failure leaves the caller's set as it was.
 *
 * The any-of / all-of factories make one member per spec (each member is
 * freed again when a later one fails) and hand them to the combinator,
 * which takes them only on success. A borrowed validator is wrapped: the
 * wrapper forwards class, signature and verdicts to the caller's
 * validator and has no destroy, so freeing it never frees the borrowed
 * one.
 */
#include <stdio.h>
#include <string.h>

#include "mosaik/ticket.h"

/* The code of a factory failure: its own, or MK_EINVAL when it set none. */
static int fail_code(const mk_error *err) {
    return err && err->code < 0 ? err->code : MK_EINVAL;
}

static mk_validator *make_one(const mk_validator_spec *sp, mk_error *err) {
    if (!sp->make) {
        mk_error_set(err, MK_EINVAL, "no factory");
        return NULL;
    }
    if (err) mk_error_clear(err);
    mk_validator *v = sp->make(sp->arg, err);
    if (!v && err && err->code >= 0) mk_error_set(err, MK_EINVAL, "the factory refused");
    return v;
}

int mk_validator_set_add_specs(mk_validator_set *s, const mk_validator_spec *specs, size_t n,
                               mk_error *err) {
    if (n && !specs) return mk_error_set(err, MK_EINVAL, "validators: count without array");
    mk_validator_set tmp;
    mk_validator_set_init(&tmp);
    for (size_t i = 0; i < n; i++) {
        mk_validator *v = make_one(&specs[i], err);
        if (!v) {
            int rc = fail_code(err);
            mk_validator_set_free(&tmp);
            return mk_error_prefix(err, rc, "validator %zu", i);
        }
        if (mk_validator_set_add(&tmp, v) < 0) {
            mk_validator_free(v);
            mk_validator_set_free(&tmp);
            return mk_error_set(err, MK_ENOMEM, "validators: out of memory");
        }
    }
    size_t done = 0;
    for (; done < tmp.n; done++)
        if (mk_validator_set_add(s, tmp.items[done]) < 0) break;
    if (done < tmp.n) {
        /* Out of memory half-way: take the moved ones back out. */
        s->n -= done;
        mk_validator_set_free(&tmp);
        return mk_error_set(err, MK_ENOMEM, "validators: out of memory");
    }
    tmp.n = 0; /* moved */
    mk_validator_set_free(&tmp);
    return 0;
}

typedef int (*comb_ctor)(mk_validator *const *members, size_t n, mk_validator **out, mk_error *err);

static mk_validator *make_combined(const void *arg, const char *what, comb_ctor ctor,
                                   mk_error *err) {
    const mk_validator_specs *l = arg;
    if (!l || !l->n || !l->specs) {
        mk_error_set(err, MK_EINVAL, "%s: no member", what);
        return NULL;
    }
    if (l->n > MK_VALIDATOR_COMBINE_MAX) {
        mk_error_set(err, MK_ETOOBIG, "%s: %zu members, at most %d", what, l->n,
                     MK_VALIDATOR_COMBINE_MAX);
        return NULL;
    }
    mk_validator *m[MK_VALIDATOR_COMBINE_MAX];
    size_t made = 0;
    int rc = 0;
    for (; made < l->n; made++) {
        m[made] = make_one(&l->specs[made], err);
        if (!m[made]) {
            rc = mk_error_prefix(err, fail_code(err), "%s member %zu", what, made);
            break;
        }
    }
    mk_validator *v = NULL;
    if (rc == 0) rc = ctor(m, made, &v, err);
    if (rc < 0)
        for (size_t i = 0; i < made; i++)
            mk_validator_free(m[i]);
    return rc < 0 ? NULL : v;
}

mk_validator *mk_validator_factory_any_of(const void *arg, mk_error *err) {
    return make_combined(arg, "any-of", mk_validator_any_of_new, err);
}

mk_validator *mk_validator_factory_all_of(const void *arg, mk_error *err) {
    return make_combined(arg, "all-of", mk_validator_all_of_new, err);
}

static void borrow_class(const mk_validator *v, mk_id *out) {
    mk_validator_class(v->state, out);
}

static void borrow_signature(const mk_validator *v, mk_id *out) {
    mk_validator_signature(v->state, out);
}

static int borrow_check(const mk_validator *v, const mk_peer_view *peer, int64_t now,
                        mk_expiration *expires, mk_error *err) {
    return mk_validator_check(v->state, peer, now, expires, err);
}

static const mk_validator_ops borrow_ops = {
    .name = "borrowed",
    .class_id = borrow_class,
    .signature = borrow_signature,
    .check = borrow_check,
};

mk_validator *mk_validator_factory_borrow(const void *arg, mk_error *err) {
    if (!arg) {
        mk_error_set(err, MK_EINVAL, "borrow: no validator");
        return NULL;
    }
    mk_validator *v = NULL;
    if (mk_validator_new(&borrow_ops, (void *)arg, &v) < 0) {
        mk_error_set(err, MK_ENOMEM, "borrow: out of memory");
        return NULL;
    }
    return v;
}
