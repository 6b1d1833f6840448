/*
 * streams/producer.c — the producer: its handle (user threads) and its
 * engine (the loop).
 *
 * Sending. mk_stream_send copies the datum once into a shared item with
 * ST_DATA_HDR bytes of room in front, numbers it (seq, the producer's item
 * counter) and appends it to the bounded inbox under mu; it blocks only
 * while the inbox is full, i.e. while the loop itself is behind, never on
 * a consumer. The first item of a batch posts flush_cb to the loop, which
 * takes the whole inbox and offers each item to every active channel: sent
 * at once when the channel has credits, an empty queue and a transport
 * that is not busy, queued otherwise (mk_st_queue_push, with the lag
 * policy: channel.c). Sending an item writes the channel's DATA header in
 * front of the shared bytes (mk_st_data_header) and hands the frame to the
 * transport, which copies it.
 *
 * Flow control. A consumer grants credits in SUBSCRIBE and returns them
 * with CREDIT (receive.c); each DATA takes one. Credits beyond twice the
 * maximum window are capped. Transport backpressure (MK_EBUSY) marks the
 * channel busy until on_drain; queued items go out as credits and room
 * return (pump). Counters are accumulated on the loop and published to the
 * user-visible statistics once per pump.
 *
 * Admission. A SUBSCRIBE names a stream: no live producer of it refuses
 * with "unknown-stream". A renewed subscription (same connection and
 * number, or the same peer) replaces the old channel. Beyond max_consumers
 * it is refused with "full"; otherwise the consumer's entry is judged
 * (admit.c, which reuses the judgement of the same entry version) and the
 * answer is ACCEPT, carrying our own entry and the admission expiry, or
 * CLOSE with the reason and its text. Every refusal counts against the
 * connection (attach.c): the one beyond max_refusals within 10 s closes
 * it, so a peer cannot keep the loop busy refusing it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/clock.h"
#include "streams/streams_internal.h"

/* ------------------------------------------------------------------ */
/* Engine (loop)                                                       */
/* ------------------------------------------------------------------ */

void mk_st_prod_end(st_chan *ch, bool notify, bool by_peer, unsigned reason, const char *text,
                    mk_expiration expired) {
    if (notify) mk_st_send_end(ch, MK_SMSG_CLOSE, reason, text, expired);
    mk_st_emit(ch, MK_STREAM_EV_DISCONNECTED, by_peer, reason, text,
               reason == MK_STREAM_R_EXPIRED ? expired : ch->expires);
    mk_st_chan_free(ch);
}

/* Send one item on a channel: 0 sent, MK_EBUSY (transport full; the
 * channel pauses until on_drain), other negative: the connection closes. */
static int send_item(st_chan *ch, st_item *it) {
    mk_st_data_header(it->buf, ch->no, it->seq);
    int rc = mk_transport_conn_send(ch->conn, it->buf, ST_DATA_HDR + it->len);
    if (rc == MK_EBUSY) ch->busy = true;
    if (rc == 0) {
        ch->credits--;
        ch->pend_items++;
        ch->pend_bytes += it->len;
    }
    return rc;
}

static bool can_send(const st_chan *ch) {
    return ch->state == CS_ACTIVE && ch->credits > 0 && !ch->busy && ch->conn;
}

/* Publish the channel's counters to the user-visible statistics. */
static void publish(st_chan *ch) {
    mk_stream_producer *p = ch->p;
    pthread_mutex_lock(&p->o.mu);
    if (ch->ps) {
        ch->ps->items += ch->pend_items;
        ch->ps->bytes += ch->pend_bytes;
        ch->ps->queued = ch->q.n;
    }
    p->o.st.items += ch->pend_items;
    p->o.st.bytes += ch->pend_bytes;
    pthread_mutex_unlock(&p->o.mu);
    ch->pend_items = ch->pend_bytes = 0;
}

static void pump(st_chan *ch) {
    st_item *it;
    while (can_send(ch) && (it = mk_st_queue_front(ch))) {
        if (send_item(ch, it) < 0) break;
        mk_st_queue_pop(ch);
    }
    publish(ch);
}

/* Take the whole inbox (mu); NULL when empty or out of memory (then the
 * items are dropped). */
static st_item **inbox_take(mk_stream_producer *p, uint32_t *n_out) {
    pthread_mutex_lock(&p->o.mu);
    uint32_t n = (uint32_t)p->inbox.n;
    st_item **items = n ? malloc(n * sizeof *items) : NULL;
    for (uint32_t i = 0; i < n; i++) {
        st_item *it;
        mk_st_ring_shift(&p->inbox, &it);
        if (items)
            items[i] = it;
        else
            mk_st_item_unref(it);
    }
    p->inbox.head = 0;
    p->flush_posted = false;
    pthread_cond_broadcast(&p->o.cond);
    pthread_mutex_unlock(&p->o.mu);
    *n_out = n;
    return items;
}

static void flush_cb(mk_transport *net, void *arg, int status) {
    (void)net;
    mk_stream_producer *p = arg;
    uint32_t n;
    st_item **items = inbox_take(p, &n);
    if (!items) return;
    for (uint32_t i = 0; i < n; i++) {
        if (status == 0) {
            st_chan *ch = p->o.chans, *next;
            for (; ch; ch = next) {
                next = ch->next;
                if (ch->state != CS_ACTIVE) continue;
                if (ch->q.n == 0 && can_send(ch) && send_item(ch, items[i]) == 0) continue;
                mk_st_queue_push(ch, items[i]);
            }
        }
        mk_st_item_unref(items[i]);
    }
    free(items);
    if (status == 0)
        for (st_chan *ch = p->o.chans; ch; ch = ch->next)
            pump(ch);
}

void mk_st_prod_on_credit(st_chan *ch, uint32_t more) {
    uint64_t c = (uint64_t)ch->credits + more;
    ch->credits = c > 2u * MK_STREAM_MAX_WINDOW ? 2u * MK_STREAM_MAX_WINDOW : (uint32_t)c;
    pump(ch);
}

void mk_st_prod_on_drain(st_ctx *ctx, mk_transport_conn *conn) {
    for (st_owner *o = ctx->producers; o; o = o->next)
        for (st_chan *ch = o->chans; ch; ch = ch->next)
            if (ch->conn == conn) {
                ch->busy = false;
                pump(ch);
            }
}

/* The consumer's entry and the producer's capacity: 0 to admit. */
static int admit(st_chan *ch, mk_stream_producer *p, const mk_stream_msg *m, mk_expiration *exp,
                 unsigned *reason, mk_error *err) {
    *reason = MK_STREAM_R_BAD_ENTRY;
    MK_TRY(mk_st_take_entry(ch->ctx, &ch->peer, m->entry, m->entry_len, &ch->entry, err));
    ch->has_entry = true;
    uint32_t active = 0;
    for (st_chan *o = p->o.chans; o; o = o->next)
        active += o->state == CS_ACTIVE;
    if (active >= p->max_consumers) {
        *reason = MK_STREAM_R_FULL;
        return mk_error_set(err, MK_EBUSY, "producer has its maximum of %u consumers",
                            (unsigned)p->max_consumers);
    }
    return mk_st_judge(ch, mk_now(), exp, reason, err);
}

static void send_accept(st_chan *ch, mk_transport_conn *conn, mk_expiration exp) {
    mk_buf w;
    mk_buf_init(&w, MK_ENTRY_MAX_BYTES);
    mk_stream_msg a;
    mk_st_msg_init(&a, MK_SMSG_ACCEPT, ch->no);
    a.expires = exp;
    if (mk_st_local_entry_wire(ch->ctx, &w) == 0) {
        a.entry = w.data;
        a.entry_len = w.len;
    }
    mk_st_send_msg(conn, &a);
    mk_buf_free(&w);
}

/* A refused SUBSCRIBE: beyond max refusals in the window, the connection
 * goes (counted by p when not NULL). */
static void refused_on(mk_transport_conn *conn, mk_stream_producer *p) {
    if (!mk_st_conn_refused(conn, p ? p->max_refusals : MK_STREAM_DEFAULT_MAX_REFUSALS) || !p)
        return;
    pthread_mutex_lock(&p->o.mu);
    p->o.st.closed_refusals++;
    pthread_mutex_unlock(&p->o.mu);
}

void mk_st_prod_on_subscribe(st_ctx *ctx, mk_transport_conn *conn, const mk_id *peer,
                             const mk_stream_msg *m) {
    st_owner *o = mk_st_owner_find(ctx->producers, &m->stream_id);
    if (!o) {
        mk_st_send_end_on(conn, m->channel, MK_SMSG_CLOSE, MK_STREAM_R_UNKNOWN_STREAM,
                          "this peer does not produce the stream", 0);
        refused_on(conn, NULL);
        return;
    }
    /* A renewed subscription of the same peer replaces the old one. */
    st_chan *old = mk_st_chan_find(ctx->producers, conn, m->channel, CS_IDLE);
    if (old) mk_st_chan_free(old);
    for (st_chan *ch = o->chans; ch; ch = ch->next)
        if (mk_id_eq(&ch->peer, peer)) {
            mk_st_chan_free(ch);
            break;
        }
    st_chan *ch = mk_st_chan_new(ctx, o, peer);
    if (!ch) {
        mk_st_send_end_on(conn, m->channel, MK_SMSG_CLOSE, MK_STREAM_R_FULL,
                          "producer out of resources", 0);
        refused_on(conn, o->p);
        return;
    }
    ch->no = m->channel;
    ch->conn = mk_transport_conn_ref(conn);
    mk_error err;
    mk_error_clear(&err);
    unsigned reason;
    mk_expiration exp = MK_EXPIRES_NEVER;
    if (admit(ch, o->p, m, &exp, &reason, &err) < 0) {
        mk_st_send_end(ch, MK_SMSG_CLOSE, reason, err.msg, 0);
        mk_st_emit(ch, MK_STREAM_EV_REFUSED, false, reason, err.msg, 0);
        mk_st_chan_free(ch);
        refused_on(conn, o->p);
        return;
    }
    ch->expires = exp;
    ch->credits = m->window;
    ch->state = CS_ACTIVE;
    send_accept(ch, conn, exp);
    mk_st_chan_set_active(ch, true);
    mk_st_emit(ch, MK_STREAM_EV_ADMITTED, false, 0, "", exp);
    mk_st_arm_expiry(ctx);
}

void mk_st_prod_on_entry(st_ctx *ctx, const mk_network_event *ev) {
    bool gone = ev->type == MK_EVENT_DEPARTED || ev->type == MK_EVENT_PURGED;
    const mk_peer_entry *e = &ev->entry;
    for (st_owner *o = ctx->producers; o; o = o->next) {
        st_chan *ch, *next;
        for (ch = o->chans; ch; ch = next) {
            next = ch->next;
            if (!mk_id_eq(&ch->peer, &ev->peer_id)) continue;
            if (gone) {
                mk_st_prod_end(
                    ch, true, false, MK_STREAM_R_DEPARTED,
                    ev->type == MK_EVENT_DEPARTED ? "peer departed" : "peer entry purged", 0);
                continue;
            }
            if (ch->has_entry && e->version <= ch->entry.version) continue;
            mk_peer_entry_free(&ch->entry);
            if (mk_peer_entry_copy(&ch->entry, e) < 0) {
                ch->has_entry = false;
                continue;
            }
            ch->has_entry = true;
            mk_st_revalidate(ch, false);
        }
    }
}

/* ------------------------------------------------------------------ */
/* The handle (user threads)                                           */
/* ------------------------------------------------------------------ */

void mk_stream_producer_config_init(mk_stream_producer_config *cfg) {
    *cfg = (mk_stream_producer_config){.max_consumers = MK_STREAM_DEFAULT_MAX_CONSUMERS,
                                       .max_lag = MK_STREAM_DEFAULT_MAX_LAG,
                                       .lag_policy = MK_STREAM_LAG_DISCONNECT,
                                       .inbox = ST_DEFAULT_INBOX,
                                       .verdict_ttl_ms = MK_STREAM_DEFAULT_VERDICT_TTL_MS,
                                       .max_refusals = MK_STREAM_DEFAULT_MAX_REFUSALS};
}

static void producer_destroy(mk_stream_producer *p) {
    for (size_t i = 0; i < p->inbox.n; i++)
        mk_st_item_unref(*(st_item **)mk_st_ring_at(&p->inbox, i));
    mk_st_ring_free(&p->inbox);
    mk_st_owner_fini(&p->o);
    free(p);
}

static int producer_create(mk_network *nw, const char *name, const mk_datum_codec *codec,
                           const mk_requirements *req, const mk_requirements *inst,
                           const mk_stream_producer_config *opts, mk_stream_producer **out,
                           mk_error *err) {
    *out = NULL;
    MK_TRY(mk_st_owner_check(nw, name, err));
    mk_stream_producer *p = calloc(1, sizeof *p);
    if (!p) return mk_error_set(err, MK_ENOMEM, "out of memory");
    mk_st_owner_init(&p->o, nw, name, codec, opts->on_event, opts->event_ctx);
    p->o.p = p;
    p->max_consumers = opts->max_consumers ? opts->max_consumers : MK_STREAM_DEFAULT_MAX_CONSUMERS;
    p->max_lag = opts->max_lag ? opts->max_lag : MK_STREAM_DEFAULT_MAX_LAG;
    if (p->max_lag > MK_STREAM_MAX_LAG) p->max_lag = MK_STREAM_MAX_LAG;
    p->policy = opts->lag_policy;
    p->o.verdict_ttl_ms =
        opts->verdict_ttl_ms ? opts->verdict_ttl_ms : MK_STREAM_DEFAULT_VERDICT_TTL_MS;
    p->max_refusals = opts->max_refusals ? opts->max_refusals : MK_STREAM_DEFAULT_MAX_REFUSALS;
    uint32_t in_cap = opts->inbox ? opts->inbox : ST_DEFAULT_INBOX;
    if (in_cap > 65536) in_cap = 65536;
    mk_st_ring_init(&p->inbox, sizeof(st_item *));
    int rc = mk_st_ring_alloc(&p->inbox, in_cap) ? mk_st_owner_attach(&p->o, req, inst, err)
                                                 : mk_error_set(err, MK_ENOMEM, "out of memory");
    if (rc < 0) {
        producer_destroy(p);
        return rc;
    }
    rc = mk_network_add_served(nw, MK_SERVED_STREAM, &p->o.stream_id, err);
    if (rc < 0) {
        mk_stream_producer_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int mk_stream_producer_new(mk_network *nw, const mk_stream_producer_config *cfg,
                           mk_stream_producer **out, mk_error *err) {
    if (!cfg) {
        *out = NULL;
        return mk_error_set(err, MK_EINVAL, "no producer configuration");
    }
    return producer_create(nw, cfg->name, cfg->codec, &cfg->requirements, NULL, cfg, out, err);
}

int mk_stream_producer_new_from_def(mk_network *nw, const mk_stream_def *def,
                                    const mk_stream_producer_config *cfg, mk_stream_producer **out,
                                    mk_error *err) {
    *out = NULL;
    if (!def) return mk_error_set(err, MK_EINVAL, "no stream declaration");
    mk_stream_producer_config d;
    mk_stream_producer_config_init(&d);
    if (!cfg) cfg = &d;
    if (cfg->name || cfg->codec || !mk_require_only_validators(&cfg->requirements))
        return mk_error_set(err, MK_EINVAL,
                            "stream %s: the name, the codec, the tags and the predicate come from "
                            "the declaration (an instance adds validators only)",
                            def->name ? def->name : "?");
    return producer_create(nw, def->name, def->codec, &def->producer, &cfg->requirements, cfg, out,
                           err);
}

void mk_stream_producer_free(mk_stream_producer *p) {
    if (!p) return;
    mk_network_remove_served(p->o.nw, MK_SERVED_STREAM, &p->o.stream_id, NULL);
    pthread_mutex_lock(&p->o.mu);
    p->o.closing = true;
    pthread_cond_broadcast(&p->o.cond);
    pthread_mutex_unlock(&p->o.mu);
    mk_st_owner_detach(&p->o);
    producer_destroy(p);
}

void mk_stream_producer_id(const mk_stream_producer *p, mk_id *out) {
    *out = p->o.stream_id;
}

/* A shared item holding a copy of the datum, with room for the header. */
static st_item *item_new(const void *data, size_t len) {
    st_item *it = malloc(sizeof *it + ST_DATA_HDR + len);
    if (!it) return NULL;
    atomic_init(&it->refs, 1);
    it->len = len;
    mk_writer w;
    mk_writer_init(&w, it->buf, ST_DATA_HDR + len);
    mk_write_reserve(&w, ST_DATA_HDR); /* written per channel by send_item */
    mk_write_bytes(&w, data, len);
    return it;
}

/* Wait for room in the inbox and append it (mu). */
static int inbox_put(mk_stream_producer *p, st_item *it, uint32_t timeout_ms, bool *post,
                     mk_error *err) {
    struct timespec dl;
    bool have_dl = false; /* the clock is read only when waiting */
    pthread_mutex_lock(&p->o.mu);
    while (p->inbox.n == p->inbox.cap && !p->o.closing) {
        if (!have_dl) mk_st_deadline(&dl, timeout_ms);
        have_dl = true;
        if (mk_st_wait_step(&p->o, timeout_ms, &dl) == ETIMEDOUT && p->inbox.n == p->inbox.cap) {
            pthread_mutex_unlock(&p->o.mu);
            return mk_error_set(err, MK_EBUSY, "producer inbox full");
        }
    }
    if (p->o.closing) {
        pthread_mutex_unlock(&p->o.mu);
        return mk_error_set(err, MK_ESTATE, "producer closed");
    }
    it->seq = p->next_seq++;
    mk_st_ring_push(&p->inbox, &it);
    *post = !p->flush_posted;
    p->flush_posted = true;
    pthread_mutex_unlock(&p->o.mu);
    return 0;
}

int mk_stream_send(mk_stream_producer *p, const void *data, size_t len, uint32_t timeout_ms,
                   mk_error *err) {
    if (!p || (len && !data)) return mk_error_set(err, MK_EINVAL, "no producer or data");
    if (len > MK_STREAM_MAX_ITEM)
        return mk_error_set(err, MK_ETOOBIG, "datum of %zu bytes exceeds %zu", len,
                            (size_t)MK_STREAM_MAX_ITEM);
    st_item *it = item_new(data, len);
    if (!it) return mk_error_set(err, MK_ENOMEM, "out of memory");
    bool post = false;
    int rc = inbox_put(p, it, timeout_ms, &post, err);
    if (rc < 0) {
        free(it);
        return rc;
    }
    if (post && mk_transport_post(mk_network_transport(p->o.nw), flush_cb, p) < 0) {
        pthread_mutex_lock(&p->o.mu);
        p->flush_posted = false;
        pthread_mutex_unlock(&p->o.mu);
        return mk_error_set(err, MK_ESTATE, "network stopped");
    }
    return 0;
}

int mk_stream_send_value(mk_stream_producer *p, const void *value, uint32_t timeout_ms,
                         mk_error *err) {
    if (!p || !p->o.codec) return mk_error_set(err, MK_EINVAL, "the stream has no codec");
    mk_buf b;
    mk_buf_init(&b, MK_STREAM_MAX_ITEM);
    int rc = mk_datum_encode(p->o.codec, value, &b, err);
    if (rc == 0) rc = mk_stream_send(p, b.data, b.len, timeout_ms, err);
    mk_buf_free(&b);
    return rc;
}
