/*
 * streams/channel.c — channel records, the producer's per-channel queue
 * with its lag policy, and the control messages a channel sends.
 *
 * A channel is one subscription of one consumer to one producer, numbered
 * by the consumer (unique within its node, hence within each connection).
 * Both ends keep a channel record in their owner's list (loop-only): the
 * producer's, created by an admitted SUBSCRIBE (producer.c), and the
 * consumer's, one per candidate producer, IDLE → DIALING → SUBSCRIBING →
 * ACTIVE and back to IDLE (consumer.c). A connection (one per peer for
 * this protocol) carries any number of channels in both directions, which
 * is why a channel is found by (connection, number) among the owners of
 * one side only: the message type says which side (msg.c).
 *
 * Every channel is bound to its peer's record (owner.c) from creation to
 * free, and publishes to it under mu whether it is active, its admission
 * expiry and the peer's tags at admission, so conditions and statistics
 * read a consistent picture without touching loop state. A channel holds a
 * reference on its connection while it uses one.
 *
 * Queue (producer side). Items a producer cannot send yet — no credits,
 * transport busy — wait in the channel's ring of shared items (reference
 * counted: one datum sent to many consumers is stored once). The ring
 * grows by doubling up to max_lag items; past max_lag the lag policy
 * applies: DISCONNECT closes the channel with reason "lagging", DROP_NEWEST
 * discards the new item, DROP_OLDEST the oldest queued one, and both count
 * the drop for the peer and in total.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streams/streams_internal.h"

/* ----- records ---------------------------------------------------------- */

void mk_st_chan_set_active(st_chan *ch, bool active) {
    st_owner *o = ch->o;
    pthread_mutex_lock(&o->mu);
    if (ch->ps) {
        bool was = ch->ps->active;
        ch->ps->active = active;
        ch->ps->expires = ch->expires;
        if (active && ch->has_entry) {
            free(ch->ps->tags.items);
            ch->ps->tags.items = NULL;
            ch->ps->tags.n = 0;
            size_t n = ch->entry.tags.n;
            if (n && (ch->ps->tags.items = malloc(n * sizeof(mk_id)))) {
                memcpy(ch->ps->tags.items, ch->entry.tags.items, n * sizeof(mk_id));
                ch->ps->tags.n = n;
            }
        }
        if (was != active) {
            if (active)
                o->st.active++;
            else if (o->st.active)
                o->st.active--;
        }
        if (!active) ch->ps->queued = 0;
    }
    pthread_cond_broadcast(&o->cond);
    pthread_mutex_unlock(&o->mu);
}

void mk_st_chan_drop_conn(st_chan *ch) {
    if (ch->conn) {
        mk_transport_conn_unref(ch->conn);
        ch->conn = NULL;
    }
}

void mk_st_chan_free(st_chan *ch) {
    st_owner *o = ch->o;
    for (st_chan **pp = &o->chans; *pp; pp = &(*pp)->next)
        if (*pp == ch) {
            *pp = ch->next;
            break;
        }
    if (ch->state == CS_ACTIVE) mk_st_chan_set_active(ch, false);
    pthread_mutex_lock(&o->mu);
    if (ch->ps && ch->ps->cur_serial == ch->serial) ch->ps->cur_serial = 0;
    pthread_mutex_unlock(&o->mu);
    while (ch->q.n)
        mk_st_queue_pop(ch);
    mk_st_ring_free(&ch->q);
    mk_st_chan_drop_conn(ch);
    mk_peer_entry_free(&ch->entry);
    free(ch);
}

st_chan *mk_st_chan_new(st_ctx *ctx, st_owner *o, const mk_id *peer) {
    st_chan *ch = calloc(1, sizeof *ch);
    if (!ch) return NULL;
    ch->ctx = ctx;
    ch->o = o;
    ch->p = o->p;
    ch->c = o->c;
    ch->peer = *peer;
    ch->serial = ++ctx->next_serial;
    ch->expires = MK_EXPIRES_NEVER;
    mk_st_ring_init(&ch->q, sizeof(st_item *));
    mk_peer_entry_init(&ch->entry);
    pthread_mutex_lock(&o->mu);
    ch->ps = mk_st_pstat_get(o, peer);
    if (ch->ps) ch->ps->cur_serial = ch->serial;
    pthread_mutex_unlock(&o->mu);
    if (!ch->ps) {
        free(ch);
        return NULL;
    }
    ch->next = o->chans;
    o->chans = ch;
    return ch;
}

st_chan *mk_st_chan_find(st_owner *list, mk_transport_conn *conn, uint32_t no, int min_state) {
    for (st_owner *o = list; o; o = o->next)
        for (st_chan *ch = o->chans; ch; ch = ch->next)
            if (ch->conn == conn && ch->no == no && ch->state >= min_state) return ch;
    return NULL;
}

st_owner *mk_st_owner_find(st_owner *list, const mk_id *sid) {
    for (st_owner *o = list; o; o = o->next)
        if (mk_id_eq(&o->stream_id, sid) && !o->closing) return o;
    return NULL;
}

/* ----- the producer's queue --------------------------------------------- */

void mk_st_item_unref(st_item *it) {
    if (it && atomic_fetch_sub(&it->refs, 1) == 1) free(it);
}

st_item *mk_st_queue_front(const st_chan *ch) {
    return ch->q.n ? *(st_item **)mk_st_ring_at(&ch->q, 0) : NULL;
}

void mk_st_queue_pop(st_chan *ch) {
    st_item *it;
    if (!ch->q.n) return;
    mk_st_ring_shift(&ch->q, &it);
    mk_st_item_unref(it);
}

bool mk_st_queue_push(st_chan *ch, st_item *it) {
    mk_stream_producer *p = ch->p;
    if (ch->q.n >= p->max_lag) {
        if (p->policy == MK_STREAM_LAG_DISCONNECT) {
            char t[96];
            snprintf(t, sizeof t, "consumer lagging: %u items queued", (unsigned)ch->q.n);
            mk_st_prod_end(ch, true, false, MK_STREAM_R_LAGGING, t, 0);
            return false;
        }
        pthread_mutex_lock(&p->o.mu);
        if (ch->ps) ch->ps->drops++;
        p->o.st.drops++;
        pthread_mutex_unlock(&p->o.mu);
        if (p->policy == MK_STREAM_LAG_DROP_NEWEST) return true;
        mk_st_queue_pop(ch);
    }
    /* Out of memory: drop silently. */
    if (!mk_st_ring_room(&ch->q, 64, p->max_lag)) return true;
    atomic_fetch_add(&it->refs, 1);
    mk_st_ring_push(&ch->q, &it);
    return true;
}

/* ----- control messages -------------------------------------------------- */

int mk_st_send_msg(mk_transport_conn *conn, const mk_stream_msg *m) {
    if (!conn) return MK_ESTATE;
    mk_buf b;
    mk_buf_init(&b, MK_STREAM_MAX_ITEM + 64);
    int rc = mk_stream_msg_encode(m, &b, NULL);
    if (rc == 0) rc = mk_transport_conn_send(conn, b.data, b.len);
    mk_buf_free(&b);
    return rc;
}

void mk_st_send_end_on(mk_transport_conn *conn, uint32_t no, mk_stream_msg_type type,
                       unsigned reason, const char *text, mk_expiration expired) {
    mk_stream_msg m;
    mk_st_msg_init(&m, type, no);
    m.reason = (uint16_t)reason;
    m.expires = expired;
    snprintf(m.text, sizeof m.text, "%.*s", MK_STREAM_MAX_REASON, text ? text : "");
    mk_st_send_msg(conn, &m);
}

void mk_st_send_end(st_chan *ch, mk_stream_msg_type type, unsigned reason, const char *text,
                    mk_expiration expired) {
    mk_st_send_end_on(ch->conn, ch->no, type, reason, text, expired);
}
