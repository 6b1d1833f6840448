/*
 * Unit tests of the validator combinators (tickets/anyof.c) and the spec
 * helpers (tickets/spec.c), with a small user-defined validator: its
 * tickets carry "<tag>:<expiry>" and it accepts those whose tag equals its
 * configured tag. Each member gets its own class and a name of its own
 * ("m0", "m1", …) so that refusal texts show whose reason is whose.
 */
#include "test_util.h"

#define NAMES 20

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
    char buf[256];
    if (len >= sizeof buf) return mk_error_set(err, MK_ETOOBIG, "ticket too long");
    memcpy(buf, data, len);
    buf[len] = 0;
    char *colon = strrchr(buf, ':');
    if (!colon) return mk_error_set(err, MK_EMALFORMED, "no colon");
    *colon = 0;
    if (strcmp(buf, s->tag))
        return mk_error_set(err, MK_EMISMATCH, "tag %s is not %s", buf, s->tag);
    *expires = strtoll(colon + 1, NULL, 10);
    return 0;
}

static void tv_destroy(mk_validator *v) {
    free(v->state);
}

static mk_validator_ops g_ops[NAMES];
static char g_names[NAMES][8];

static int setup(void **state) {
    (void)state;
    for (int i = 0; i < NAMES; i++) {
        snprintf(g_names[i], sizeof g_names[i], "m%d", i);
        g_ops[i] = (mk_validator_ops){.name = g_names[i],
                                      .class_id = tv_class,
                                      .signature = tv_signature,
                                      .validate = tv_validate,
                                      .destroy = tv_destroy};
    }
    return 0;
}

/* Member i: class "c<i>", accepting tag `tag`. */
static mk_validator *tv_new(int i, const char *tag) {
    tag_validator *s = calloc(1, sizeof *s);
    assert_non_null(s);
    snprintf(s->tag, sizeof s->tag, "%s", tag);
    snprintf(s->class_name, sizeof s->class_name, "c%d", i);
    mk_validator *v = NULL;
    assert_int_equal(mk_validator_new(&g_ops[i], s, &v), 0);
    return v;
}

static void ticket(mk_ticket *t, int i, const char *data) {
    mk_id cls;
    char name[16];
    snprintf(name, sizeof name, "c%d", i);
    mk_id_from_name(&cls, name);
    assert_int_equal(mk_ticket_init(t, &cls, data, strlen(data)), 0);
}

static void free_tickets(mk_ticket *t, size_t n) {
    for (size_t i = 0; i < n; i++)
        mk_ticket_free(&t[i]);
}

static mk_validator *any2(mk_validator *a, mk_validator *b) {
    mk_validator *m[2] = {a, b}, *v = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_validator_any_of_new(m, 2, &v, &err), 0, &err);
    return v;
}

/* One member suffices; of several that accept, the longest admission counts. */
static void any_of_one_member_admits(void **state) {
    (void)state;
    mk_validator *v = any2(tv_new(0, "x"), tv_new(1, "y"));
    mk_ticket t[2];
    ticket(&t[0], 1, "y:1500");
    mk_peer_view pv = {.tickets = t, .n_tickets = 1};
    mk_expiration e = 0;
    mk_error err;
    TU_ASSERT_RC(mk_validator_check(v, &pv, 1000, &e, &err), 0, &err);
    assert_int_equal(e, 1500); /* the accepting member's expiry */
    ticket(&t[1], 0, "x:2000");
    pv.n_tickets = 2;
    TU_ASSERT_RC(mk_validator_check(v, &pv, 1000, &e, &err), 0, &err);
    assert_int_equal(e, 2000);
    /* At 1600 the second member's ticket has expired: the first admits. */
    TU_ASSERT_RC(mk_validator_check(v, &pv, 1600, &e, &err), 0, &err);
    assert_int_equal(e, 2000);
    /* At 2000 both have: refused, each member saying so. */
    assert_int_equal(mk_validator_check(v, &pv, 2000, &e, &err), MK_EEXPIRED);
    assert_string_equal(err.msg, "no validator accepts (m0: ticket expired; m1: ticket expired)");
    free_tickets(t, 2);
    mk_validator_free(v);
}

/* The refusal lists every member's reason in order; the code is theirs
 * when they agree, else MK_EPOLICY. */
static void any_of_refusal_lists_members(void **state) {
    (void)state;
    mk_validator *v = any2(tv_new(0, "x"), tv_new(1, "y"));
    mk_ticket t[1];
    ticket(&t[0], 0, "q:5000");
    mk_peer_view pv = {.tickets = t, .n_tickets = 1};
    mk_expiration e = 0;
    mk_error err;
    assert_int_equal(mk_validator_check(v, &pv, 1000, &e, &err), MK_EPOLICY);
    mk_id c1;
    char hex[9], want[160];
    mk_id_from_name(&c1, "c1");
    mk_id_short(&c1, hex);
    snprintf(want, sizeof want,
             "no validator accepts (m0: tag q is not x; m1: peer has no ticket of class %s)", hex);
    assert_string_equal(err.msg, want);
    pv.n_tickets = 0;
    assert_int_equal(mk_validator_check(v, &pv, 1000, &e, &err), MK_ENOTFOUND);
    TU_ASSERT_REASON(&err, "(m0: peer has no ticket of class ");
    /* No error object: the code alone. */
    assert_int_equal(mk_validator_check(v, &pv, 1000, &e, NULL), MK_ENOTFOUND);
    free_tickets(t, 1);
    mk_validator_free(v);
}

/* All-of: every member, the earliest expiry, the first refusal's reason;
 * nested in an any-of it is one alternative needing two tickets. */
static void all_of_and_nesting(void **state) {
    (void)state;
    mk_validator *m[2] = {tv_new(0, "x"), tv_new(1, "y")}, *all = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_validator_all_of_new(m, 2, &all, &err), 0, &err);
    mk_validator *v = any2(all, tv_new(2, "z"));
    mk_ticket t[3];
    ticket(&t[0], 0, "x:3000");
    ticket(&t[1], 1, "y:2500");
    ticket(&t[2], 2, "z:1200");
    mk_peer_view pv = {.tickets = t, .n_tickets = 3};
    mk_expiration e = 0;
    TU_ASSERT_RC(mk_validator_check(v, &pv, 1000, &e, &err), 0, &err);
    assert_int_equal(e, 2500); /* all-of: min(3000, 2500); any-of: max(2500, 1200) */
    pv.n_tickets = 1;          /* x only: the all-of fails on y, z is missing */
    assert_int_equal(mk_validator_check(v, &pv, 1000, &e, &err), MK_ENOTFOUND);
    TU_ASSERT_REASON(&err, "no validator accepts (m1: peer has no ticket of class ");
    TU_ASSERT_REASON(&err, "; m2: peer has no ticket of class ");
    pv.tickets = &t[2]; /* z only */
    TU_ASSERT_RC(mk_validator_check(v, &pv, 1000, &e, &err), 0, &err);
    assert_int_equal(e, 1200);
    free_tickets(t, 3);
    mk_validator_free(v);
}

/* Members: at least one, at most MK_VALIDATOR_COMBINE_MAX, none NULL; on
 * failure the caller keeps them. */
static void bounds(void **state) {
    (void)state;
    mk_validator *m[MK_VALIDATOR_COMBINE_MAX + 1], *v = (mk_validator *)&v;
    for (int i = 0; i <= MK_VALIDATOR_COMBINE_MAX; i++)
        m[i] = tv_new(i, "x");
    mk_error err;
    assert_int_equal(mk_validator_any_of_new(m, 0, &v, &err), MK_EINVAL);
    assert_null(v);
    assert_int_equal(mk_validator_any_of_new(NULL, 2, &v, &err), MK_EINVAL);
    assert_int_equal(mk_validator_any_of_new(m, MK_VALIDATOR_COMBINE_MAX + 1, &v, &err),
                     MK_ETOOBIG);
    TU_ASSERT_REASON(&err, "at most 16");
    assert_int_equal(mk_validator_all_of_new(m, MK_VALIDATOR_COMBINE_MAX + 1, &v, &err),
                     MK_ETOOBIG);
    mk_validator *with_null[2] = {m[0], NULL};
    assert_int_equal(mk_validator_any_of_new(with_null, 2, &v, &err), MK_EINVAL);
    assert_null(v);
    /* The largest is fine, and owns its members. */
    TU_ASSERT_RC(mk_validator_any_of_new(m, MK_VALIDATOR_COMBINE_MAX, &v, &err), 0, &err);
    mk_validator_free(v);
    mk_validator_free(m[MK_VALIDATOR_COMBINE_MAX]);
}

static void sig_of(mk_validator *v, mk_id *out) {
    mk_validator_signature(v, out);
    mk_validator_free(v);
}

/* Order-independent, duplicates ignored, distinct from the members, from
 * all-of and from the set of the same validators. */
static void signatures(void **state) {
    (void)state;
    mk_id ab, ba, aab, a1, a, allab, set;
    sig_of(any2(tv_new(0, "x"), tv_new(1, "y")), &ab);
    sig_of(any2(tv_new(1, "y"), tv_new(0, "x")), &ba);
    assert_true(mk_id_eq(&ab, &ba));
    mk_validator *m3[3] = {tv_new(0, "x"), tv_new(0, "x"), tv_new(1, "y")}, *v = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_validator_any_of_new(m3, 3, &v, &err), 0, &err);
    sig_of(v, &aab);
    assert_true(mk_id_eq(&ab, &aab));
    mk_validator *one[1] = {tv_new(0, "x")};
    TU_ASSERT_RC(mk_validator_any_of_new(one, 1, &v, &err), 0, &err);
    sig_of(v, &a1);
    sig_of(tv_new(0, "x"), &a);
    assert_false(mk_id_eq(&a1, &a));
    mk_validator *m2[2] = {tv_new(0, "x"), tv_new(1, "y")};
    TU_ASSERT_RC(mk_validator_all_of_new(m2, 2, &v, &err), 0, &err);
    sig_of(v, &allab);
    assert_false(mk_id_eq(&ab, &allab));
    mk_validator_set s;
    mk_validator_set_init(&s);
    assert_int_equal(mk_validator_set_add(&s, tv_new(0, "x")), 0);
    assert_int_equal(mk_validator_set_add(&s, tv_new(1, "y")), 0);
    mk_validator_set_signature(&s, &set);
    mk_validator_set_free(&s);
    assert_false(mk_id_eq(&ab, &set));
    assert_false(mk_id_eq(&allab, &set));
    /* Another member configuration, another signature. */
    mk_id az;
    sig_of(any2(tv_new(0, "x"), tv_new(1, "z")), &az);
    assert_false(mk_id_eq(&ab, &az));
}

/* Whether s is valid UTF-8 (no character cut). */
static bool utf8_ok(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : 3;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80) return false;
    }
    return true;
}

/* Long reasons share MK_VALIDATOR_ANY_OF_REASON_MAX fairly: every member
 * is named, short reasons stay whole, no character is cut. */
static void reason_bounded(void **state) {
    (void)state;
    int n = MK_VALIDATOR_COMBINE_MAX;
    mk_validator *m[MK_VALIDATOR_COMBINE_MAX], *v = NULL;
    mk_ticket t[MK_VALIDATOR_COMBINE_MAX];
    char data[128];
    for (int i = 0; i < n; i++) {
        m[i] = tv_new(i, "x");
        /* "é" repeated: two-byte characters to cut. */
        size_t k = 0;
        while (k + 2 < 100) {
            data[k++] = (char)0xc3;
            data[k++] = (char)0xa9;
        }
        snprintf(data + k, sizeof data - k, ":5000");
        ticket(&t[i], i, data);
    }
    mk_error err;
    TU_ASSERT_RC(mk_validator_any_of_new(m, (size_t)n, &v, &err), 0, &err);
    mk_peer_view pv = {.tickets = t, .n_tickets = (size_t)n};
    mk_expiration e = 0;
    assert_int_equal(mk_validator_check(v, &pv, 1000, &e, &err), MK_EMISMATCH);
    printf("# %zu bytes: %s\n", strlen(err.msg), err.msg);
    assert_true(strlen(err.msg) <= MK_VALIDATOR_ANY_OF_REASON_MAX);
    assert_true(utf8_ok(err.msg));
    assert_true(strncmp(err.msg, "no validator accepts (m0: ", 26) == 0);
    assert_int_equal(err.msg[strlen(err.msg) - 1], ')');
    for (int i = 0; i < n; i++) {
        char name[8];
        snprintf(name, sizeof name, "m%d:", i);
        TU_ASSERT_REASON(&err, name);
    }
    mk_validator_free(v);
    /* One long reason and one short: the short one is whole. */
    v = any2(tv_new(0, "x"), tv_new(1, "y"));
    pv.n_tickets = 1; /* t[0]: the long tag; m1 has no ticket */
    assert_int_equal(mk_validator_check(v, &pv, 1000, &e, &err), MK_EPOLICY);
    assert_true(strlen(err.msg) <= MK_VALIDATOR_ANY_OF_REASON_MAX);
    assert_true(utf8_ok(err.msg));
    TU_ASSERT_REASON(&err, "; m1: peer has no ticket of class ");
    assert_int_equal(err.msg[strlen(err.msg) - 1], ')');
    mk_validator_free(v);
    free_tickets(t, (size_t)n);
}

/* A spec factory of tag validators: arg is "<index>:<tag>"; "fail" refuses. */
static mk_validator *tv_factory(const void *arg, mk_error *err) {
    const char *a = arg;
    if (!strcmp(a, "fail")) {
        mk_error_set(err, MK_EUNSUPPORTED, "this one fails");
        return NULL;
    }
    return tv_new(a[0] - '0', a + 2);
}

#define TV(s)                                                                                      \
    { tv_factory, s }

static const mk_validator_spec g_specs[] = {
    MK_ANY_OF(TV("0:x"), MK_ALL_OF(TV("1:y"), TV("2:z"))),
    TV("3:w"),
};

/* Specs: MK_ANY_OF / MK_ALL_OF at file scope (as in a declaration), all or
 * none, the failing member named. */
static void specs(void **state) {
    (void)state;
    mk_validator_set s;
    mk_validator_set_init(&s);
    mk_error err;
    TU_ASSERT_RC(mk_validator_set_add_specs(&s, g_specs, 2, &err), 0, &err);
    assert_int_equal(s.n, 2);
    mk_ticket t[4];
    ticket(&t[0], 1, "y:3000");
    ticket(&t[1], 2, "z:2000");
    ticket(&t[2], 3, "w:9000");
    ticket(&t[3], 0, "x:1500");
    mk_peer_view pv = {.tickets = t, .n_tickets = 3};
    mk_expiration e = 0;
    TU_ASSERT_RC(mk_validator_set_check(&s, &pv, 1000, &e, &err), 0, &err);
    assert_int_equal(e, 2000);
    pv.tickets = &t[2]; /* w and x */
    pv.n_tickets = 2;
    TU_ASSERT_RC(mk_validator_set_check(&s, &pv, 1000, &e, &err), 0, &err);
    assert_int_equal(e, 1500);

    /* A failing member: nothing is added, the reason says where. */
    const mk_validator_spec bad[] = {TV("3:w"), MK_ANY_OF(TV("0:x"), TV("fail"))};
    assert_int_equal(mk_validator_set_add_specs(&s, bad, 2, &err), MK_EUNSUPPORTED);
    TU_ASSERT_REASON(&err, "validator 1: any-of member 1: this one fails");
    assert_int_equal(s.n, 2);
    const mk_validator_spec nofactory[] = {{NULL, NULL}};
    assert_int_equal(mk_validator_set_add_specs(&s, nofactory, 1, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "validator 0: no factory");
    assert_int_equal(mk_validator_set_add_specs(&s, NULL, 1, &err), MK_EINVAL);
    const mk_validator_spec empty[] = {{mk_validator_factory_any_of, NULL}};
    assert_int_equal(mk_validator_set_add_specs(&s, empty, 1, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "any-of: no member");
    assert_int_equal(s.n, 2);
    TU_ASSERT_RC(mk_validator_set_add_specs(&s, NULL, 0, &err), 0, &err);
    free_tickets(t, 4);
    mk_validator_set_free(&s);
}

/* MK_BORROW: the same class, signature and verdicts; freeing the wrapper
 * leaves the borrowed validator alone. */
static void borrow(void **state) {
    (void)state;
    mk_validator *mine = tv_new(0, "x");
    mk_validator_set s;
    mk_validator_set_init(&s);
    const mk_validator_spec sp[] = {MK_BORROW(mine)};
    mk_error err;
    TU_ASSERT_RC(mk_validator_set_add_specs(&s, sp, 1, &err), 0, &err);
    mk_id c1, c2, s1, s2;
    mk_validator_class(mine, &c1);
    mk_validator_class(s.items[0], &c2);
    mk_validator_signature(mine, &s1);
    mk_validator_signature(s.items[0], &s2);
    assert_true(mk_id_eq(&c1, &c2));
    assert_true(mk_id_eq(&s1, &s2));
    mk_ticket t[1];
    ticket(&t[0], 0, "x:1700");
    mk_peer_view pv = {.tickets = t, .n_tickets = 1};
    mk_expiration e = 0;
    TU_ASSERT_RC(mk_validator_set_check(&s, &pv, 1000, &e, &err), 0, &err);
    assert_int_equal(e, 1700);
    assert_int_equal(mk_validator_set_check(&s, &pv, 1700, &e, &err), MK_EEXPIRED);
    TU_ASSERT_REASON(&err, "m0: ticket expired");
    mk_validator_set_free(&s);
    TU_ASSERT_RC(mk_validator_check(mine, &pv, 1000, &e, &err), 0, &err);
    mk_validator_free(mine);
    assert_null(mk_validator_factory_borrow(NULL, &err));
    free_tickets(t, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(any_of_one_member_admits),
        cmocka_unit_test(any_of_refusal_lists_members),
        cmocka_unit_test(all_of_and_nesting),
        cmocka_unit_test(bounds),
        cmocka_unit_test(signatures),
        cmocka_unit_test(reason_bounded),
        cmocka_unit_test(specs),
        cmocka_unit_test(borrow),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
