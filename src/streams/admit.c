/*
 * streams/admit.c — admission: judging a peer's entry, re-validation, and
 * the expiry timer. Both sides follow the same rules (docs/streams.md).
 *
 * What is judged is the peer's signed entry: the one it sent in the
 * handshake (SUBSCRIBE from a consumer, ACCEPT from a producer), verified —
 * signature, naming the peer the TLS handshake authenticated, of our
 * network, not a departure — or the catalog's copy of that peer's entry if
 * it is newer. It must pass the owner's requirements (mk_require_rt_check:
 * tags, predicate, every validator); the admission then expires at the
 * earliest validator expiration.
 *
 * Re-checked: on every discovery event about the peer (its entry changed: a
 * ticket removed or replaced; producer.c and consumer.c call
 * mk_st_revalidate) and by the expiry timer. The timer is one one-shot
 * mk_transport_timer per network ctx, armed at the earliest admission expiry of
 * all active channels of both sides, plus 2 ms so that the clock reads past
 * the expiry second when it fires. It re-judges every channel whose
 * admission has expired — a fresh ticket that arrived by gossip keeps it —
 * closes the rest with reason "expired" (carrying the credential's expiry,
 * so the other side can measure the delay), and re-arms. A re-judgement
 * that fails for another reason after an entry change closes with
 * "revoked".
 *
 * Invariant: whenever a channel becomes active, or an active one ends or
 * changes its expiry, the caller re-arms (mk_st_arm_expiry), so the timer
 * is always at the earliest expiry or stopped when nothing expires.
 * Expiry timing uses the wall clock for the timer and mk_now() for the
 * judgement (a test clock affects only the latter).
 */
#include <stdio.h>

#include "core/timeutil.h"
#include "mosaik/clock.h"
#include "streams/streams_internal.h"

int mk_st_take_entry(st_ctx *ctx, const mk_id *peer, const uint8_t *data, size_t len,
                     mk_peer_entry *out, mk_error *err) {
    mk_peer_entry_init(out);
    int rc = mk_peer_entry_decode(data, len, out, err);
    if (rc < 0) return mk_error_prefix(err, rc, "peer entry");
    if (!mk_id_eq(&out->peer_id, peer)) {
        mk_peer_entry_free(out);
        return mk_error_set(err, MK_EMISMATCH, "peer entry names another peer");
    }
    if (!mk_id_eq(&out->network_id, &ctx->network_id)) {
        mk_peer_entry_free(out);
        return mk_error_set(err, MK_EMISMATCH, "peer entry is of another network");
    }
    if (out->departed) {
        mk_peer_entry_free(out);
        return mk_error_set(err, MK_ESTATE, "peer entry is a departure");
    }
    mk_peer_entry cat;
    mk_peer_entry_init(&cat);
    if (mk_network_get(ctx->nw, peer, &cat) == 0 && cat.version > out->version) {
        mk_peer_entry_free(out);
        *out = cat;
    } else {
        mk_peer_entry_free(&cat);
    }
    return 0;
}

int mk_st_local_entry_wire(st_ctx *ctx, mk_buf *out) {
    mk_peer_entry e;
    mk_peer_entry_init(&e);
    int rc = mk_network_local_entry(ctx->nw, &e);
    if (rc == 0) rc = mk_peer_entry_encode(&e, out, NULL);
    mk_peer_entry_free(&e);
    return rc;
}

int mk_st_judge(st_chan *ch, int64_t now, mk_expiration *exp, unsigned *reason, mk_error *err) {
    if (!ch->has_entry) {
        *reason = MK_STREAM_R_BAD_ENTRY;
        return mk_error_set(err, MK_ENOTFOUND, "no entry for the peer");
    }
    return mk_require_rt_check(&ch->o->req, &ch->entry, now, exp, reason, err);
}

void mk_st_revalidate(st_chan *ch, bool from_timer) {
    mk_error err;
    mk_error_clear(&err);
    unsigned reason;
    mk_expiration exp;
    mk_expiration old = ch->expires;
    int64_t now = mk_now();
    int rc = mk_st_judge(ch, now, &exp, &reason, &err);
    if (rc == 0) {
        ch->expires = exp;
        mk_st_chan_set_active(ch, true);
        return;
    }
    bool expired = rc == MK_EEXPIRED || (old != MK_EXPIRES_NEVER && old <= now);
    unsigned why = expired ? MK_STREAM_R_EXPIRED : MK_STREAM_R_REVOKED;
    char t[MK_STREAM_MAX_REASON];
    snprintf(t, sizeof t, "%s%.200s", from_timer ? "" : "after an entry change: ", err.msg);
    if (ch->p)
        mk_st_prod_end(ch, true, false, why, t, expired ? old : 0);
    else
        mk_st_cons_reset(ch, true, MK_STREAM_EV_DISCONNECTED, false, why, t, expired ? old : 0);
}

/* The earliest admission expiry among the active channels of list. */
static mk_expiration earliest(const st_owner *list, mk_expiration min) {
    for (const st_owner *o = list; o; o = o->next)
        for (const st_chan *ch = o->chans; ch; ch = ch->next)
            if (ch->state == CS_ACTIVE && ch->expires < min) min = ch->expires;
    return min;
}

void mk_st_arm_expiry(st_ctx *ctx) {
    mk_expiration min = earliest(ctx->consumers, earliest(ctx->producers, MK_EXPIRES_NEVER));
    if (!ctx->t_expiry) return;
    if (min == MK_EXPIRES_NEVER) {
        mk_transport_timer_stop(ctx->t_expiry);
        return;
    }
    int64_t at = st_exp_to_ms(min);
    if (at < INT64_MAX - 2) at += 2;
    int64_t now = (int64_t)mk_wall_ms();
    mk_transport_timer_start(ctx->t_expiry, at > now ? (uint64_t)(at - now) : 0, 0);
}

/* Re-judge the expired active channels of list (a channel may be freed). */
static void expire_list(st_owner *list, int64_t wall) {
    for (st_owner *o = list; o; o = o->next) {
        st_chan *ch, *next;
        for (ch = o->chans; ch; ch = next) {
            next = ch->next;
            if (ch->state == CS_ACTIVE && ch->expires != MK_EXPIRES_NEVER &&
                st_exp_to_ms(ch->expires) <= wall)
                mk_st_revalidate(ch, true);
        }
    }
}

void mk_st_expire(st_ctx *ctx) {
    int64_t wall = (int64_t)mk_wall_ms();
    expire_list(ctx->producers, wall);
    expire_list(ctx->consumers, wall);
    mk_st_arm_expiry(ctx);
}
