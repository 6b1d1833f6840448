/*
 * specs.c — a group's validators and key from its configuration.
 *
 * A configuration gives member and writer validators as borrowed sets
 * (validators, writer_validators: the caller keeps them alive), as specs
 * held by value (validator_specs, writer_specs: the group makes its own),
 * or both. Without specs the borrowed set is used as it is (g->vs points
 * to it). With specs the group builds a set of its own holding a borrowing
 * wrapper of each borrowed validator (mk_validator_factory_borrow: same
 * class, signature and verdicts, never freed by the group) followed by the
 * validators the specs make, so admission, expiry and the group id see one
 * set either way: the id depends on the validators' signatures only, not
 * on which form gave them.
 *
 * The key is cfg->key, or with key_from_validators the key derived from
 * the member set (ident.c), computed here once the set is complete.
 *
 * Invariant: own_vs and own_wvs are empty unless specs were given; on
 * failure both are freed, so a failed join leaves nothing.
 */
#include "groups/groups_internal.h"

#include <string.h>

/* Into own: a borrow of each of borrowed's validators, then the specs'. */
static int build(mk_validator_set *own, const mk_validator_set *borrowed,
                 const mk_validator_spec *specs, size_t n, mk_error *err) {
    for (size_t i = 0; borrowed && i < borrowed->n; i++) {
        mk_validator *v = mk_validator_factory_borrow(borrowed->items[i], err);
        if (!v) return err && err->code < 0 ? err->code : MK_ENOMEM;
        if (mk_validator_set_add(own, v) < 0) {
            mk_validator_free(v);
            return mk_error_set(err, MK_ENOMEM, "out of memory");
        }
    }
    return mk_validator_set_add_specs(own, specs, n, err);
}

int mk_gspecs_make(mk_group *g, const mk_group_config *cfg, mk_error *err) {
    static const mk_id zero;
    mk_validator_set_init(&g->own_vs);
    mk_validator_set_init(&g->own_wvs);
    if (cfg->key_from_validators && !mk_id_eq(&cfg->key, &zero))
        return mk_error_set(err, MK_EINVAL, "group: a key and key_from_validators");
    g->vs = cfg->validators;
    g->wvs =
        cfg->writer_validators && cfg->writer_validators->n > 0 ? cfg->writer_validators : NULL;
    int rc = 0;
    if (cfg->n_validator_specs || cfg->validator_specs) {
        rc = build(&g->own_vs, cfg->validators, cfg->validator_specs, cfg->n_validator_specs, err);
        if (rc < 0) mk_error_prefix(err, rc, "group");
        g->vs = &g->own_vs;
    }
    if (rc == 0 && (cfg->n_writer_specs || cfg->writer_specs)) {
        rc =
            build(&g->own_wvs, cfg->writer_validators, cfg->writer_specs, cfg->n_writer_specs, err);
        if (rc < 0) mk_error_prefix(err, rc, "group: writer");
        g->wvs = g->own_wvs.n > 0 ? &g->own_wvs : NULL;
    }
    if (rc < 0) {
        mk_gspecs_free(g);
        return rc;
    }
    if (cfg->key_from_validators)
        mk_group_key_from_validators(g->vs, &g->key);
    else
        g->key = cfg->key;
    return 0;
}

void mk_gspecs_free(mk_group *g) {
    mk_validator_set_free(&g->own_vs);
    mk_validator_set_free(&g->own_wvs);
    g->vs = g->wvs = NULL;
}
