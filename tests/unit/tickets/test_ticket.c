/*
 * Unit tests of tickets/ticket.c: tickets and validator-set semantics, with
 * a small user-defined validator. Its tickets carry "<tag>:<expiry>" and it
 * accepts those whose tag equals its configured tag; "<tag>:never" never
 * expires; anything else is refused with a reason.
 */
#include "test_util.h"

typedef struct tag_validator {
    char tag[16];
    char class_name[32];
} tag_validator;

static void tv_class(const mk_validator *v, mk_id *out) {
    const tag_validator *s = v->state;
    mk_id_from_name(out, s->class_name);
}

static void tv_signature(const mk_validator *v, mk_id *out) {
    const tag_validator *s = v->state;
    mk_id base;
    mk_id_from_name(&base, "test.tag-validator");
    mk_id_derive(out, &base, s->tag, strlen(s->tag));
}

static int tv_validate(const mk_validator *v, const uint8_t *data, size_t len,
                       const mk_peer_view *peer, int64_t now, mk_expiration *expires,
                       mk_error *err) {
    (void)peer;
    (void)now;
    const tag_validator *s = v->state;
    char buf[64];
    if (len >= sizeof buf) return mk_error_set(err, MK_ETOOBIG, "ticket too long");
    memcpy(buf, data, len);
    buf[len] = 0;
    char *colon = strchr(buf, ':');
    if (!colon) return mk_error_set(err, MK_EMALFORMED, "no colon");
    *colon = 0;
    if (strcmp(buf, s->tag))
        return mk_error_set(err, MK_EMISMATCH, "tag %s is not %s", buf, s->tag);
    if (!strcmp(colon + 1, "never")) {
        *expires = MK_EXPIRES_NEVER;
        return 0;
    }
    *expires = strtoll(colon + 1, NULL, 10);
    return 0;
}

static void tv_destroy(mk_validator *v) {
    free(v->state);
}

static const mk_validator_ops tv_ops = {
    .name = "tag",
    .class_id = tv_class,
    .signature = tv_signature,
    .validate = tv_validate,
    .destroy = tv_destroy,
};

static mk_validator *tv_new(const char *class_name, const char *tag) {
    tag_validator *s = calloc(1, sizeof *s);
    snprintf(s->tag, sizeof s->tag, "%s", tag);
    snprintf(s->class_name, sizeof s->class_name, "%s", class_name);
    mk_validator *v = NULL;
    assert_int_equal(mk_validator_new(&tv_ops, s, &v), 0);
    assert_non_null(v);
    return v;
}

static void ticket(mk_ticket *t, const char *class_name, const char *data) {
    mk_id cls;
    mk_id_from_name(&cls, class_name);
    assert_int_equal(mk_ticket_init(t, &cls, data, strlen(data)), 0);
}

static void free_tickets(mk_ticket *t, size_t n) {
    for (size_t i = 0; i < n; i++)
        mk_ticket_free(&t[i]);
}

static void tickets_basic(void **state) {
    (void)state;
    mk_ticket a, b;
    ticket(&a, "c1", "x:5");
    assert_int_equal(a.len, 3);
    assert_int_equal(mk_ticket_copy(&b, &a), 0);
    assert_memory_equal(b.data, "x:5", 3);
    assert_true(mk_id_eq(&a.class_id, &b.class_id));
    mk_ticket_free(&a);
    mk_ticket_free(&b);
    mk_ticket_free(&b); /* idempotent */
    mk_id cls;
    mk_id_from_name(&cls, "c1");
    static uint8_t big[MK_TICKET_MAX_DATA + 1];
    assert_int_equal(mk_ticket_init(&a, &cls, big, sizeof big), MK_ETOOBIG);
    /* Incomplete ops are refused. */
    mk_validator_ops bad = tv_ops;
    bad.validate = NULL;
    mk_validator *none = NULL;
    assert_int_equal(mk_validator_new(&bad, NULL, &none), MK_EINVAL);
    assert_null(none);
}

static void set_all_required_earliest_wins(void **state) {
    (void)state;
    mk_validator_set s;
    mk_validator_set_init(&s);
    assert_int_equal(mk_validator_set_add(&s, tv_new("c1", "x")), 0);
    assert_int_equal(mk_validator_set_add(&s, tv_new("c2", "y")), 0);
    assert_int_equal(mk_validator_set_add(&s, NULL), MK_EINVAL);
    mk_ticket t[3];
    ticket(&t[0], "c1", "x:2000");
    ticket(&t[1], "c2", "y:1500");
    ticket(&t[2], "c9", "z:9999"); /* other classes are ignored */
    mk_peer_view pv = {.tickets = t, .n_tickets = 3};
    mk_id_from_name(&pv.peer_id, "peer");
    mk_expiration e = 0;
    mk_error err;
    TU_ASSERT_RC(mk_validator_set_check(&s, &pv, 1000, &e, &err), 0, &err);
    assert_int_equal(e, 1500); /* the earliest of the validators' expirations */

    /* All required: a peer failing one validator is refused, with its reason. */
    mk_ticket_free(&t[1]);
    ticket(&t[1], "c2", "q:1500");
    assert_int_equal(mk_validator_set_check(&s, &pv, 1000, &e, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "tag: tag q is not y");

    /* A peer with no ticket of the class: the reason names the class. */
    pv.n_tickets = 1;
    assert_int_equal(mk_validator_set_check(&s, &pv, 1000, &e, &err), MK_ENOTFOUND);
    mk_id c2;
    char shorthex[9];
    mk_id_from_name(&c2, "c2");
    mk_id_short(&c2, shorthex);
    TU_ASSERT_REASON(&err, "peer has no ticket of class");
    TU_ASSERT_REASON(&err, shorthex);
    free_tickets(t, 3);
    mk_validator_set_free(&s);
}

static void latest_valid_ticket_counts(void **state) {
    (void)state;
    mk_validator *v = tv_new("c1", "x");
    mk_ticket t[4];
    ticket(&t[0], "c1", "x:1200");
    ticket(&t[1], "c1", "x:3000");
    ticket(&t[2], "c1", "bad:9000"); /* invalid: does not count, does not refuse */
    ticket(&t[3], "c1", "x:2000");
    mk_peer_view pv = {.tickets = t, .n_tickets = 4};
    mk_expiration e = 0;
    mk_error err;
    TU_ASSERT_RC(mk_validator_check(v, &pv, 1000, &e, &err), 0, &err);
    assert_int_equal(e, 3000);
    /* An expired ticket does not count: at 2500 only x:3000 remains; at 3000
     * none does, and the reason says it expired. */
    TU_ASSERT_RC(mk_validator_check(v, &pv, 2500, &e, &err), 0, &err);
    assert_int_equal(e, 3000);
    pv.n_tickets = 1; /* only x:1200 */
    assert_int_equal(mk_validator_check(v, &pv, 1200, &e, &err), MK_EEXPIRED);
    TU_ASSERT_REASON(&err, "tag: ticket expired");
    /* Only invalid tickets: the last failure's reason. */
    pv.tickets = &t[2];
    pv.n_tickets = 1;
    assert_int_equal(mk_validator_check(v, &pv, 1000, &e, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "tag: tag bad is not x");
    free_tickets(t, 4);
    mk_validator_free(v);
}

static void never_expiring_and_empty_set(void **state) {
    (void)state;
    mk_validator_set s;
    mk_validator_set_init(&s);
    mk_peer_view pv = {.tickets = NULL, .n_tickets = 0};
    mk_expiration e = 0;
    mk_error err;
    /* The empty set admits everyone, never expiring. */
    TU_ASSERT_RC(mk_validator_set_check(&s, &pv, 1000, &e, &err), 0, &err);
    assert_true(e == MK_EXPIRES_NEVER);
    /* A never-expiring ticket and a dated one: the dated one bounds. */
    assert_int_equal(mk_validator_set_add(&s, tv_new("c1", "x")), 0);
    assert_int_equal(mk_validator_set_add(&s, tv_new("c2", "y")), 0);
    mk_ticket t[2];
    ticket(&t[0], "c1", "x:never");
    ticket(&t[1], "c2", "y:4000");
    pv.tickets = t;
    pv.n_tickets = 2;
    TU_ASSERT_RC(mk_validator_set_check(&s, &pv, 1000, &e, &err), 0, &err);
    assert_int_equal(e, 4000);
    mk_ticket_free(&t[1]);
    ticket(&t[1], "c2", "y:never");
    TU_ASSERT_RC(mk_validator_set_check(&s, &pv, 1000, &e, &err), 0, &err);
    assert_true(e == MK_EXPIRES_NEVER);
    free_tickets(t, 2);
    mk_validator_set_free(&s);
}

static void set_signature_order_independent(void **state) {
    (void)state;
    mk_validator_set a, b, c, empty;
    mk_validator_set_init(&a);
    mk_validator_set_init(&b);
    mk_validator_set_init(&c);
    mk_validator_set_init(&empty);
    assert_int_equal(mk_validator_set_add(&a, tv_new("c1", "x")), 0);
    assert_int_equal(mk_validator_set_add(&a, tv_new("c2", "y")), 0);
    assert_int_equal(mk_validator_set_add(&a, tv_new("c3", "z")), 0);
    assert_int_equal(mk_validator_set_add(&b, tv_new("c3", "z")), 0);
    assert_int_equal(mk_validator_set_add(&b, tv_new("c1", "x")), 0);
    assert_int_equal(mk_validator_set_add(&b, tv_new("c2", "y")), 0);
    assert_int_equal(mk_validator_set_add(&c, tv_new("c1", "x")), 0);
    assert_int_equal(mk_validator_set_add(&c, tv_new("c2", "y")), 0);
    assert_int_equal(mk_validator_set_add(&c, tv_new("c3", "w")), 0);
    mk_id sa, sb, sc, se;
    mk_validator_set_signature(&a, &sa);
    mk_validator_set_signature(&b, &sb);
    mk_validator_set_signature(&c, &sc);
    mk_validator_set_signature(&empty, &se);
    assert_true(mk_id_eq(&sa, &sb));
    assert_false(mk_id_eq(&sa, &sc));
    assert_false(mk_id_eq(&sa, &se));
    /* The set signature is not just one member's. */
    mk_id m;
    mk_validator_signature(a.items[0], &m);
    assert_false(mk_id_eq(&sa, &m));
    mk_validator_set_free(&a);
    mk_validator_set_free(&b);
    mk_validator_set_free(&c);
    mk_validator_set_free(&empty);
}

/* The set signature is mk_id_derive(name "mosaik/validator-set/v1", sorted
 * member signatures), unchanged, for small (stack) and large (heap) sets. */
static void set_signature_value(void **state) {
    (void)state;
    for (int round = 0; round < 2; round++) {
        size_t n = round ? 40 : 3;
        mk_validator_set s;
        mk_validator_set_init(&s);
        mk_id *sigs = calloc(n, sizeof *sigs);
        assert_non_null(sigs);
        for (size_t i = 0; i < n; i++) {
            char tag[16];
            snprintf(tag, sizeof tag, "t%zu", n - i);
            assert_int_equal(mk_validator_set_add(&s, tv_new("c", tag)), 0);
            mk_validator_signature(s.items[i], &sigs[i]);
        }
        /* sort by hand (insertion) */
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && mk_id_cmp(&sigs[j - 1], &sigs[j]) > 0; j--) {
                mk_id t = sigs[j];
                sigs[j] = sigs[j - 1];
                sigs[j - 1] = t;
            }
        mk_id base, want, got;
        mk_id_from_name(&base, "mosaik/validator-set/v1");
        mk_id_derive(&want, &base, sigs, n * sizeof *sigs);
        mk_validator_set_signature(&s, &got);
        assert_true(mk_id_eq(&want, &got));
        free(sigs);
        mk_validator_set_free(&s);
    }
}

/* L3: when the signature cannot be computed (no memory for the member
 * list: here a set too large to allocate), the result equals no other
 * set's — not a constant that two such sets would share. */
static void set_signature_fails_closed(void **state) {
    (void)state;
    mk_validator_set huge = {NULL, SIZE_MAX / 8, SIZE_MAX / 8};
    mk_validator_set empty;
    mk_validator_set_init(&empty);
    mk_id a, b, e, base;
    mk_validator_set_signature(&huge, &a);
    mk_validator_set_signature(&huge, &b);
    mk_validator_set_signature(&empty, &e);
    mk_id_from_name(&base, "mosaik/validator-set/v1");
    assert_false(mk_id_eq(&a, &b));
    assert_false(mk_id_eq(&a, &e));
    assert_false(mk_id_eq(&a, &base));
}

/* L3: growing a set whose capacity would overflow fails with MK_ENOMEM and
 * leaves v with the caller (ownership passes only on success). */
static void set_add_overflow(void **state) {
    (void)state;
    mk_validator_set s = {NULL, (SIZE_MAX / 8) + 1, (SIZE_MAX / 8) + 1};
    mk_validator *v = tv_new("c1", "x");
    assert_int_equal(mk_validator_set_add(&s, v), MK_ENOMEM);
    assert_null(s.items);
    mk_validator_free(v); /* still ours */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tickets_basic),
        cmocka_unit_test(set_all_required_earliest_wins),
        cmocka_unit_test(latest_valid_ticket_counts),
        cmocka_unit_test(never_expiring_and_empty_set),
        cmocka_unit_test(set_signature_order_independent),
        cmocka_unit_test(set_signature_value),
        cmocka_unit_test(set_signature_fails_closed),
        cmocka_unit_test(set_add_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
