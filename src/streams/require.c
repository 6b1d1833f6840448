/*
 * streams/require.c — requirements: what one side of a stream (or, later,
 * a group or collection) requires of the other.
 *
 * A declaration (mk_requirements) is static: validator specs, i.e.
 * factories with their arguments, held by value (mosaik/ticket.h; each
 * validator module provides its own), tag names, an optional predicate.
 * mk_require_rt_build turns it into run-time form (streams_internal.h): one
 * fresh validator per spec in an mk_validator_set (all required, the
 * earliest expiration wins), the instance's own specs besides when the
 * object comes from a declaration (mk_*_new_from_def), and the
 * tags as ids (mk_name_or_id_parse: a name is hashed, 64 hex digits are an
 * id, and a bad string — NULL, empty, malformed hex, the zero id — fails
 * the build instead of becoming some tag). mk_require_rt_check judges one peer entry, cheapest
 * test first: tags, then the predicate, then every validator through
 * mk_validator_set_check over the entry's peer view. A refusal says which
 * requirement failed (reason MK_STREAM_R_REQUIREMENT for tags and the
 * predicate, MK_STREAM_R_TICKET for validators) and why.
 *
 * Invariant: a built rt owns its validators and tag array; a failed build
 * leaves nothing allocated.
 */
#include <stdlib.h>
#include <string.h>

#include "streams/streams_internal.h"

void mk_require_rt_free(mk_require_rt *rt) {
    if (!rt) return;
    mk_validator_set_free(&rt->validators);
    free(rt->tags);
    memset(rt, 0, sizeof *rt);
}

bool mk_require_only_validators(const mk_requirements *inst) {
    return !inst->tags && !inst->n_tags && !inst->require && !inst->require_ctx;
}

int mk_require_rt_build(mk_require_rt *rt, const mk_requirements *req, const mk_requirements *inst,
                        mk_error *err) {
    memset(rt, 0, sizeof *rt);
    mk_validator_set_init(&rt->validators);
    if (!req) return 0;
    if ((req->n_validators && !req->validators) || (req->n_tags && !req->tags))
        return mk_error_set(err, MK_EINVAL, "requirements: count without array");
    if (req->n_tags > MK_ENTRY_MAX_TAGS)
        return mk_error_set(err, MK_EINVAL, "requirements: more than %d tags", MK_ENTRY_MAX_TAGS);
    int rc = mk_validator_set_add_specs(&rt->validators, req->validators, req->n_validators, err);
    if (rc == 0 && inst) {
        rc = mk_validator_set_add_specs(&rt->validators, inst->validators, inst->n_validators, err);
        if (rc < 0) mk_error_prefix(err, rc, "instance");
    }
    if (rc < 0) {
        mk_require_rt_free(rt);
        return mk_error_prefix(err, rc, "requirements");
    }
    if (req->n_tags) {
        rt->tags = calloc(req->n_tags, sizeof *rt->tags);
        if (!rt->tags) {
            mk_require_rt_free(rt);
            return mk_error_set(err, MK_ENOMEM, "requirements: out of memory");
        }
        for (size_t i = 0; i < req->n_tags; i++) {
            rc = mk_name_or_id_parse(req->tags[i], &rt->tags[i], err);
            if (rc < 0) {
                mk_require_rt_free(rt);
                return mk_error_prefix(err, rc, "requirements: tag %zu", i);
            }
        }
        rt->n_tags = req->n_tags;
    }
    rt->require = req->require;
    rt->require_ctx = req->require_ctx;
    return 0;
}

int mk_require_rt_add_validator(mk_require_rt *rt, mk_validator *v) {
    if (!v) return MK_EINVAL;
    return mk_validator_set_add(&rt->validators, v);
}

int mk_require_rt_check(const mk_require_rt *rt, const mk_peer_entry *peer, int64_t now,
                        mk_expiration *expires, unsigned *reason, mk_error *err) {
    if (reason) *reason = MK_STREAM_R_REQUIREMENT;
    for (size_t i = 0; i < rt->n_tags; i++) {
        if (!mk_peer_entry_has_tag(peer, &rt->tags[i])) {
            char hex[9];
            mk_id_short(&rt->tags[i], hex);
            return mk_error_set(err, MK_EPOLICY, "required tag %s is missing", hex);
        }
    }
    if (rt->require) {
        mk_error e;
        mk_error_clear(&e);
        int rc = rt->require(peer, rt->require_ctx, &e);
        if (rc < 0) {
            if (err) {
                *err = e;
                err->code = rc;
                if (!e.msg[0])
                    mk_error_set(err, rc, "custom requirement refused the peer");
                else
                    mk_error_prefix(err, rc, "requirement");
            }
            return rc;
        }
    }
    if (reason) *reason = MK_STREAM_R_TICKET;
    mk_peer_view view;
    mk_peer_entry_view(peer, &view);
    mk_expiration e = MK_EXPIRES_NEVER;
    int rc = mk_validator_set_check(&rt->validators, &view, now, &e, err);
    if (rc < 0) return rc;
    if (expires) *expires = e;
    if (reason) *reason = MK_STREAM_R_NONE;
    return 0;
}
