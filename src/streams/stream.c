/*
 * streams/stream.c — producers, consumers and subscriptions over the
 * "streams" protocol (wire messages: msg.c; requirements: require.c).
 *
 * Per network. The first producer or consumer created on an mk_network
 * registers the "streams" protocol on its transport and a discovery hook,
 * both with a *shim* as context: a small record attached to the network
 * (mk_network_attach, freed with it) pointing to the network's current
 * engine state (st_ctx), or NULL when no producer or consumer exists. The
 * ctx is created with the first and freed with the last producer/consumer;
 * callbacks that find no ctx close what they see.
 *
 * Threads. All engine state — the ctx, the channels, connections, timers —
 * is touched only on the network's I/O thread ("the loop"). User calls
 * reach it by posting (run_on_loop waits for the posted function). What
 * user threads also read — a producer's inbox, a consumer's receive queue,
 * per-peer statistics and the data conditions wait on — sits behind the
 * owner's mutex `mu`; the loop takes it briefly and never calls out while
 * holding it. Freeing a producer/consumer while the network is closing
 * is safe: run_on_loop's post then fails and it waits for the I/O thread
 * to be joined (mk_net_wait_stopped) before detaching on the user thread.
 * (Handles must still be freed before the network itself is freed.)
 *
 * Channels. A channel is one subscription of one consumer to one producer,
 * numbered by the consumer (unique within its node, hence within each
 * connection). Both ends keep a channel record: the producer's (created by
 * an admitted SUBSCRIBE, state ACTIVE) and the consumer's (a candidate
 * producer: IDLE → DIALING → SUBSCRIBING → ACTIVE, back to IDLE with
 * exponential backoff after a refusal or disconnection). A connection
 * (one per peer for this protocol) carries any number of channels in both
 * directions; when it closes, every channel on it ends. A consumer keeps
 * a record for every candidate (any entry claiming the stream, up to
 * cons_max_candidates), but only DIALING/SUBSCRIBING/ACTIVE channels count
 * against max_producers; IDLE candidates wait and are tried in turn, the
 * longest-waiting first (cons_pump), so entries that merely claim the
 * stream cannot keep a real producer out.
 *
 * Admission (both sides, same rules). The peer's signed entry — from the
 * handshake message (verified: signature, same peer as the TLS identity,
 * same network, not a departure) or the catalog's copy if newer — must pass
 * the side's requirements (mk_require_rt_check). The admission expires at
 * the earliest validator expiration. Re-checked: on every discovery event
 * about the peer (its entry changed: a ticket removed or replaced) and by
 * the expiry timer, a single one-shot timer per ctx armed at the earliest
 * admission expiry of all active channels (+2 ms so the clock reads past
 * it); it closes every channel whose admission has expired, with reason
 * "expired", and re-arms. A refusal or disconnection sends CLOSE (producer)
 * or UNSUBSCRIBE (consumer) carrying the reason code and text.
 *
 * Flow control. The consumer grants `window` credits in SUBSCRIBE and
 * returns credits as the user receives items (in batches of window/2); a
 * producer sends DATA only against credits, so a consumer's receive queue
 * holds at most window items per producer. Items a producer cannot send
 * yet wait in the channel's queue (shared, reference-counted items); past
 * max_lag items the lag policy disconnects the consumer or drops (newest or
 * oldest) and counts. Transport backpressure (MK_EBUSY) pauses a channel
 * until on_drain. The user's send hands items to the loop through a
 * bounded inbox (blocking only while the loop itself is behind).
 *
 * Liveness. Consumers send an empty CREDIT every 5 s on quiet channels so
 * the transport's idle timeout does not close subscribed connections.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "mosaik/clock.h"
#include "mosaik/log.h"
#include "mosaik/streams.h"
#include "net/net_internal.h"

#define LOG "streams"
#define DATA_HDR 13 /* type, channel, seq */
#define TICK_MS 100u
#define KEEPALIVE_MS 5000u
#define MAX_PSTATS 1024
#define DEFAULT_INBOX 4096u
#define MAX_CANDIDATES 256u /* minimum per-consumer candidate cap (cons_max_candidates) */

enum { CS_IDLE = 0, CS_DIALING, CS_SUBSCRIBING, CS_ACTIVE };

/* ------------------------------------------------------------------ */
/* Types                                                               */
/* ------------------------------------------------------------------ */

typedef struct st_item {
    atomic_uint refs;
    uint64_t seq;
    size_t len;
    uint8_t buf[]; /* DATA_HDR bytes, then the payload */
} st_item;

/* Per-peer statistics and condition data (owner's mu). */
typedef struct st_pstat {
    mk_id peer;
    bool active;
    uint64_t items, bytes, drops, queued;
    mk_expiration expires;
    unsigned last_reason;
    mk_id_list tags;     /* the peer's tags at its last admission */
    uint64_t cur_serial; /* the channel now bound to this record */
    uint32_t consumed;   /* consumer: items received by the user, not yet credited */
} st_pstat;

typedef struct st_ritem { /* consumer's receive queue */
    st_pstat *ps;
    uint64_t serial;
    mk_id producer;
    uint64_t seq;
    uint8_t *data;
    size_t len;
} st_ritem;

typedef struct st_ctx st_ctx;
typedef struct st_chan st_chan;

typedef struct st_shim {
    mk_network *nw;
    st_ctx *ctx; /* loop-only */
} st_shim;

struct st_chan {
    st_chan *next; /* in the owner's list */
    st_ctx *ctx;
    mk_stream_producer *p; /* exactly one of p, c */
    mk_stream_consumer *c;
    uint64_t serial;
    mk_id peer;
    char addr[MK_NET_ADDR_MAX + 1];
    mk_net_conn *conn; /* referenced while DIALING done .. closed */
    uint32_t no;
    int state;
    mk_peer_entry entry; /* the peer's entry of the last check */
    bool has_entry;
    bool from_discovery, explicit_;
    mk_expiration expires;
    st_pstat *ps;
    /* producer side */
    uint32_t credits;
    st_item **q;
    uint32_t q_head, q_n, q_cap;
    bool busy;
    uint64_t pend_items, pend_bytes; /* sent, not yet published */
    /* consumer side */
    uint64_t last_seq;
    bool got_any;
    uint32_t outstanding;
    uint64_t retry_at, backoff;
    uint64_t last_tx;
};

struct st_ctx {
    st_shim *shim;
    mk_network *nw;
    mk_net *net;
    mk_id self, network_id;
    mk_stream_producer *producers;
    mk_stream_consumer *consumers;
    uint32_t next_no;
    uint64_t next_serial;
    mk_net_timer *t_expiry, *t_tick;
};

typedef struct owner_common {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    st_pstat **ps;
    size_t n_ps;
    mk_stream_stats st;
    mk_stream_observer on_event;
    void *event_ctx;
} owner_common;

struct mk_stream_producer {
    mk_stream_producer *next; /* in ctx->producers (loop) */
    owner_common o;
    mk_network *nw;
    st_shim *shim;
    mk_id stream_id;
    char name[128];
    const mk_datum_codec *codec;
    mk_require_rt req;
    uint32_t max_consumers, max_lag;
    mk_stream_lag_policy policy;
    st_chan *chans; /* loop */
    /* inbox (mu) */
    st_item **inbox;
    uint32_t in_head, in_n, in_cap;
    bool flush_posted;
    uint64_t next_seq;
    bool closing;
};

struct mk_stream_consumer {
    mk_stream_consumer *next;
    owner_common o;
    mk_network *nw;
    st_shim *shim;
    mk_id stream_id;
    char name[128];
    const mk_datum_codec *codec;
    mk_require_rt req;
    uint32_t window, max_producers, retry_min, retry_max;
    st_chan *chans;        /* loop */
    uint64_t warn_full_at; /* loop: rate limit of the "too many candidates" warning */
    /* receive queue (mu) */
    st_ritem *rq;
    size_t rq_head, rq_n, rq_cap;
    int efd;
    bool credit_posted;
    bool closing;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static uint64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *const reason_names[MK_STREAM_R_COUNT] = {
    "none",   "unknown-stream", "ticket",  "expired",  "requirement", "full",    "lagging",
    "closed", "bad-entry",      "revoked", "departed", "protocol",    "network",
};

const char *mk_stream_reason_name(unsigned reason) {
    return reason < MK_STREAM_R_COUNT ? reason_names[reason] : "unknown";
}

const char *mk_stream_event_name(mk_stream_event_type t) {
    switch (t) {
    case MK_STREAM_EV_ADMITTED:
        return "admitted";
    case MK_STREAM_EV_REFUSED:
        return "refused";
    case MK_STREAM_EV_REJECTED:
        return "rejected";
    case MK_STREAM_EV_DISCONNECTED:
        return "disconnected";
    }
    return "unknown";
}

mk_stream_when mk_when_subscribed(void) {
    return (mk_stream_when){.min_peers = 1};
}
mk_stream_when mk_when_minimum_of(unsigned n) {
    return (mk_stream_when){.min_peers = n};
}
mk_stream_when mk_when_offline(void) {
    return (mk_stream_when){.min_peers = 1, .offline = true};
}

void mk_stream_producer_opts_init(mk_stream_producer_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_consumers = MK_STREAM_DEFAULT_MAX_CONSUMERS;
    o->max_lag = MK_STREAM_DEFAULT_MAX_LAG;
    o->lag_policy = MK_STREAM_LAG_DISCONNECT;
    o->inbox = DEFAULT_INBOX;
}

void mk_stream_consumer_opts_init(mk_stream_consumer_opts *o) {
    memset(o, 0, sizeof *o);
    o->window = MK_STREAM_DEFAULT_WINDOW;
    o->max_producers = MK_STREAM_DEFAULT_MAX_PRODUCERS;
    o->retry_min_ms = MK_STREAM_DEFAULT_RETRY_MIN_MS;
    o->retry_max_ms = MK_STREAM_DEFAULT_RETRY_MAX_MS;
}

static void item_unref(st_item *it) {
    if (it && atomic_fetch_sub(&it->refs, 1) == 1) free(it);
}

/* Run fn(arg) on the loop and wait; directly when on the loop, or when the
 * loop is gone (then nothing else runs concurrently). */
typedef struct st_call {
    void (*fn)(void *);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} st_call;

static void call_cb(mk_net *net, void *ctx, int status) {
    (void)net, (void)status;
    st_call *c = ctx;
    c->fn(c->arg);
    pthread_mutex_lock(&c->mu);
    c->done = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void run_on_loop(mk_net *net, void (*fn)(void *), void *arg) {
    if (mk_net_on_loop(net)) {
        fn(arg);
        return;
    }
    st_call c = {.fn = fn, .arg = arg, .done = false};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    if (mk_net_post(net, call_cb, &c) < 0) {
        /* The network is stopping or stopped: its I/O thread may still be
         * closing connections (our on_close walks the same lists), so wait
         * until it has been joined, then run fn here, alone. */
        mk_net_wait_stopped(net);
        fn(arg);
    } else {
        pthread_mutex_lock(&c.mu);
        while (!c.done)
            pthread_cond_wait(&c.cv, &c.mu);
        pthread_mutex_unlock(&c.mu);
    }
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
}

/* ----- owner common ---------------------------------------------------- */

static int owner_init(owner_common *o, mk_stream_observer cb, void *ctx) {
    memset(o, 0, sizeof *o);
    pthread_mutex_init(&o->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cond, &ca);
    pthread_condattr_destroy(&ca);
    o->on_event = cb;
    o->event_ctx = ctx;
    return 0;
}

static void owner_destroy(owner_common *o) {
    for (size_t i = 0; i < o->n_ps; i++) {
        free(o->ps[i]->tags.items);
        free(o->ps[i]);
    }
    free(o->ps);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cond);
}

/* Find or make the record of a peer (mu held). NULL when full. */
static st_pstat *pstat_get(owner_common *o, const mk_id *peer) {
    for (size_t i = 0; i < o->n_ps; i++)
        if (mk_id_eq(&o->ps[i]->peer, peer)) return o->ps[i];
    if (o->n_ps >= MAX_PSTATS) {
        /* Recycle an inactive record with no channel bound. */
        for (size_t i = 0; i < o->n_ps; i++) {
            st_pstat *ps = o->ps[i];
            if (!ps->active && ps->cur_serial == 0) {
                free(ps->tags.items);
                memset(ps, 0, sizeof *ps);
                ps->peer = *peer;
                return ps;
            }
        }
        return NULL;
    }
    st_pstat **n = realloc(o->ps, (o->n_ps + 1) * sizeof *n);
    if (!n) return NULL;
    o->ps = n;
    st_pstat *ps = calloc(1, sizeof *ps);
    if (!ps) return NULL;
    ps->peer = *peer;
    o->ps[o->n_ps++] = ps;
    return ps;
}

static void deadline_after(struct timespec *ts, uint32_t ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

/* mu held */
static bool when_holds(owner_common *o, const mk_stream_when *w) {
    unsigned need = w->min_peers ? w->min_peers : 1;
    unsigned n = 0;
    for (size_t i = 0; i < o->n_ps; i++) {
        st_pstat *ps = o->ps[i];
        if (!ps->active) continue;
        bool ok = true;
        for (size_t t = 0; t < w->n_tags && ok; t++) {
            bool has = false;
            for (size_t k = 0; k < ps->tags.n; k++)
                if (mk_id_eq(&ps->tags.items[k], &w->tags[t])) has = true;
            ok = has;
        }
        if (ok) n++;
    }
    return w->offline ? n < need : n >= need;
}

static int owner_wait(owner_common *o, const mk_stream_when *w, uint32_t timeout_ms) {
    struct timespec dl;
    deadline_after(&dl, timeout_ms == MK_NET_NO_TIMEOUT ? 0 : timeout_ms);
    pthread_mutex_lock(&o->mu);
    int rc = 0;
    while (!when_holds(o, w)) {
        if (timeout_ms == 0) {
            rc = MK_ETIMEDOUT;
            break;
        }
        if (timeout_ms == MK_NET_NO_TIMEOUT) {
            pthread_cond_wait(&o->cond, &o->mu);
        } else if (pthread_cond_timedwait(&o->cond, &o->mu, &dl) == ETIMEDOUT) {
            if (!when_holds(o, w)) rc = MK_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&o->mu);
    return rc;
}

static int owner_channels(owner_common *o, mk_stream_channel_stats **out, size_t *n) {
    pthread_mutex_lock(&o->mu);
    size_t k = o->n_ps;
    mk_stream_channel_stats *a = calloc(k ? k : 1, sizeof *a);
    if (!a) {
        pthread_mutex_unlock(&o->mu);
        return MK_ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        st_pstat *ps = o->ps[i];
        a[i] = (mk_stream_channel_stats){.peer = ps->peer,
                                         .active = ps->active,
                                         .items = ps->items,
                                         .bytes = ps->bytes,
                                         .drops = ps->drops,
                                         .queued = ps->queued,
                                         .expires = ps->expires,
                                         .last_reason = ps->last_reason};
    }
    pthread_mutex_unlock(&o->mu);
    *out = a;
    *n = k;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

/* Seconds → milliseconds, saturating: `expires` may come from a peer
 * (CLOSE/UNSUBSCRIBE) or a ticket and take any int64 value. */
static int64_t exp_to_ms(int64_t s) {
    int64_t ms;
    if (__builtin_mul_overflow(s, (int64_t)1000, &ms)) return s < 0 ? INT64_MIN : INT64_MAX;
    return ms;
}

static void emit(st_chan *ch, mk_stream_event_type type, bool by_peer, unsigned reason,
                 const char *text, mk_expiration expires) {
    owner_common *o = ch->p ? &ch->p->o : &ch->c->o;
    const mk_id *sid = ch->p ? &ch->p->stream_id : &ch->c->stream_id;
    const char *name = ch->p ? ch->p->name : ch->c->name;
    mk_stream_event ev = {.type = type,
                          .stream_id = *sid,
                          .peer = ch->peer,
                          .producer_side = ch->p != NULL,
                          .by_peer = by_peer,
                          .reason = reason,
                          .text = text ? text : "",
                          .expires = expires};
    if (reason == MK_STREAM_R_EXPIRED && expires != MK_EXPIRES_NEVER && expires > 0)
        ev.late_ms = (int64_t)wall_ms() - exp_to_ms(expires); /* expires > 0: no overflow */
    pthread_mutex_lock(&o->mu);
    switch (type) {
    case MK_STREAM_EV_ADMITTED:
        o->st.admitted++;
        break;
    case MK_STREAM_EV_REFUSED:
        o->st.refused++;
        break;
    case MK_STREAM_EV_REJECTED:
        o->st.rejected++;
        break;
    case MK_STREAM_EV_DISCONNECTED:
        o->st.disconnected++;
        break;
    }
    if (type != MK_STREAM_EV_ADMITTED && ch->ps) ch->ps->last_reason = reason;
    pthread_mutex_unlock(&o->mu);
    char pid[9];
    mk_id_short(&ch->peer, pid);
    mk_log(type == MK_STREAM_EV_ADMITTED ? MK_LOG_INFO : MK_LOG_WARN, LOG, "%s %s: %s %s%s%s%s%s",
           ch->p ? "producer" : "consumer", name, mk_stream_event_name(type), pid,
           reason ? " reason=" : "", reason ? mk_stream_reason_name(reason) : "",
           text && *text ? ": " : "", text && *text ? text : "");
    if (o->on_event) o->on_event(&ev, o->event_ctx);
}

/* ------------------------------------------------------------------ */
/* Channels                                                            */
/* ------------------------------------------------------------------ */

static owner_common *chan_owner(st_chan *ch) {
    return ch->p ? &ch->p->o : &ch->c->o;
}

static void chan_set_active(st_chan *ch, bool active) {
    owner_common *o = chan_owner(ch);
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

static void q_clear(st_chan *ch) {
    while (ch->q_n) {
        item_unref(ch->q[ch->q_head]);
        ch->q_head = (ch->q_head + 1) % ch->q_cap;
        ch->q_n--;
    }
    ch->q_head = 0;
}

static void chan_drop_conn(st_chan *ch) {
    if (ch->conn) {
        mk_net_conn_unref(ch->conn);
        ch->conn = NULL;
    }
}

/* Unlink and free (loop). */
static void chan_free(st_chan *ch) {
    st_chan **pp = ch->p ? &ch->p->chans : &ch->c->chans;
    for (; *pp; pp = &(*pp)->next)
        if (*pp == ch) {
            *pp = ch->next;
            break;
        }
    if (ch->state == CS_ACTIVE) chan_set_active(ch, false);
    owner_common *o = chan_owner(ch);
    pthread_mutex_lock(&o->mu);
    if (ch->ps && ch->ps->cur_serial == ch->serial) ch->ps->cur_serial = 0;
    pthread_mutex_unlock(&o->mu);
    q_clear(ch);
    free(ch->q);
    chan_drop_conn(ch);
    mk_peer_entry_free(&ch->entry);
    free(ch);
}

static st_chan *chan_new(st_ctx *ctx, mk_stream_producer *p, mk_stream_consumer *c,
                         const mk_id *peer) {
    owner_common *o = p ? &p->o : &c->o;
    st_chan *ch = calloc(1, sizeof *ch);
    if (!ch) return NULL;
    ch->ctx = ctx;
    ch->p = p;
    ch->c = c;
    ch->peer = *peer;
    ch->serial = ++ctx->next_serial;
    ch->expires = MK_EXPIRES_NEVER;
    mk_peer_entry_init(&ch->entry);
    pthread_mutex_lock(&o->mu);
    ch->ps = pstat_get(o, peer);
    if (ch->ps) ch->ps->cur_serial = ch->serial;
    pthread_mutex_unlock(&o->mu);
    if (!ch->ps) {
        free(ch);
        return NULL;
    }
    if (p) {
        ch->next = p->chans;
        p->chans = ch;
    } else {
        ch->next = c->chans;
        c->chans = ch;
    }
    return ch;
}

static int send_msg(mk_net_conn *conn, const mk_stream_msg *m) {
    if (!conn) return MK_ESTATE;
    mk_buf b;
    mk_buf_init(&b, MK_STREAM_MAX_ITEM + 64);
    int rc = mk_stream_msg_encode(m, &b, NULL);
    if (rc == 0) rc = mk_net_conn_send(conn, b.data, b.len);
    mk_buf_free(&b);
    return rc;
}

static void send_end(st_chan *ch, mk_stream_msg_type type, unsigned reason, const char *text,
                     mk_expiration expired) {
    mk_stream_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.channel = ch->no;
    m.reason = (uint16_t)reason;
    m.expires = expired;
    snprintf(m.text, sizeof m.text, "%.*s", MK_STREAM_MAX_REASON, text ? text : "");
    send_msg(ch->conn, &m);
}

static void arm_expiry(st_ctx *ctx);

/* Producer side: end a subscription (sends CLOSE unless the peer ended it
 * or the connection is gone) and free the channel. */
static void prod_end(st_chan *ch, bool notify, bool by_peer, unsigned reason, const char *text,
                     mk_expiration expired) {
    if (notify) send_end(ch, MK_SMSG_CLOSE, reason, text, expired);
    emit(ch, MK_STREAM_EV_DISCONNECTED, by_peer, reason, text,
         reason == MK_STREAM_R_EXPIRED ? expired : ch->expires);
    chan_free(ch);
}

static uint64_t backoff_next(mk_stream_consumer *c, st_chan *ch) {
    if (!ch->backoff) ch->backoff = c->retry_min;
    uint64_t b = ch->backoff;
    ch->backoff = ch->backoff * 2 > c->retry_max ? c->retry_max : ch->backoff * 2;
    return b;
}

/* Consumer side: back to IDLE, retry later. */
static void cons_reset(st_chan *ch, bool notify, mk_stream_event_type ev, bool by_peer,
                       unsigned reason, const char *text, mk_expiration expired) {
    mk_stream_consumer *c = ch->c;
    if (notify && ch->conn && (ch->state == CS_SUBSCRIBING || ch->state == CS_ACTIVE))
        send_end(ch, MK_SMSG_UNSUBSCRIBE, reason, text, expired);
    bool was_active = ch->state == CS_ACTIVE;
    if (was_active) chan_set_active(ch, false);
    ch->state = CS_IDLE;
    chan_drop_conn(ch);
    ch->outstanding = 0;
    ch->got_any = false;
    /* New serial: credits of items from this subscription no longer count. */
    owner_common *o = &c->o;
    pthread_mutex_lock(&o->mu);
    ch->serial = ++ch->ctx->next_serial;
    if (ch->ps) {
        ch->ps->cur_serial = ch->serial;
        ch->ps->consumed = 0;
    }
    pthread_mutex_unlock(&o->mu);
    ch->retry_at = mk_mono_ms() + backoff_next(c, ch);
    if ((int)ev) emit(ch, ev, by_peer, reason, text, reason == MK_STREAM_R_EXPIRED ? expired : 0);
}

/* ------------------------------------------------------------------ */
/* Entries                                                             */
/* ------------------------------------------------------------------ */

/* Decode a peer's entry from a handshake message and check it belongs to
 * the connection's peer and our network; prefer the catalog's if newer. */
static int take_entry(st_ctx *ctx, const mk_id *peer, const uint8_t *data, size_t len,
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

static int local_entry_wire(st_ctx *ctx, mk_buf *out) {
    mk_peer_entry e;
    mk_peer_entry_init(&e);
    int rc = mk_network_local_entry(ctx->nw, &e);
    if (rc == 0) rc = mk_peer_entry_encode(&e, out, NULL);
    mk_peer_entry_free(&e);
    return rc;
}

/* Judge the channel's peer by its entry with the owner's requirements. */
static int judge(st_chan *ch, int64_t now, mk_expiration *exp, unsigned *reason, mk_error *err) {
    const mk_require_rt *rt = ch->p ? &ch->p->req : &ch->c->req;
    if (!ch->has_entry) {
        *reason = MK_STREAM_R_BAD_ENTRY;
        return mk_error_set(err, MK_ENOTFOUND, "no entry for the peer");
    }
    return mk_require_rt_check(rt, &ch->entry, now, exp, reason, err);
}

/* ------------------------------------------------------------------ */
/* Producer engine (loop)                                              */
/* ------------------------------------------------------------------ */

/* Send one item on a channel: 0 sent, MK_EBUSY (transport full; the
 * channel pauses until on_drain), other negative: the connection closes. */
static int send_item(st_chan *ch, st_item *it) {
    it->buf[0] = MK_SMSG_DATA;
    it->buf[1] = (uint8_t)(ch->no >> 24);
    it->buf[2] = (uint8_t)(ch->no >> 16);
    it->buf[3] = (uint8_t)(ch->no >> 8);
    it->buf[4] = (uint8_t)ch->no;
    for (int i = 0; i < 8; i++)
        it->buf[5 + i] = (uint8_t)(it->seq >> (56 - 8 * i));
    int rc = mk_net_conn_send(ch->conn, it->buf, DATA_HDR + it->len);
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
        ch->ps->queued = ch->q_n;
    }
    p->o.st.items += ch->pend_items;
    p->o.st.bytes += ch->pend_bytes;
    pthread_mutex_unlock(&p->o.mu);
    ch->pend_items = ch->pend_bytes = 0;
}

static void pump(st_chan *ch) {
    while (can_send(ch) && ch->q_n > 0) {
        st_item *it = ch->q[ch->q_head];
        if (send_item(ch, it) < 0) break;
        ch->q_head = (ch->q_head + 1) % ch->q_cap;
        ch->q_n--;
        item_unref(it);
    }
    publish(ch);
}

/* Queue one item for a channel under the lag policy. false: the channel
 * was closed (disconnect policy). */
static bool enqueue(st_chan *ch, st_item *it) {
    mk_stream_producer *p = ch->p;
    if (ch->q_n >= p->max_lag) {
        if (p->policy == MK_STREAM_LAG_DISCONNECT) {
            char t[96];
            snprintf(t, sizeof t, "consumer lagging: %u items queued", (unsigned)ch->q_n);
            prod_end(ch, true, false, MK_STREAM_R_LAGGING, t, 0);
            return false;
        }
        pthread_mutex_lock(&p->o.mu);
        if (ch->ps) ch->ps->drops++;
        p->o.st.drops++;
        pthread_mutex_unlock(&p->o.mu);
        if (p->policy == MK_STREAM_LAG_DROP_NEWEST) return true;
        item_unref(ch->q[ch->q_head]);
        ch->q_head = (ch->q_head + 1) % ch->q_cap;
        ch->q_n--;
    }
    if (ch->q_n == ch->q_cap) {
        uint32_t ncap = ch->q_cap ? ch->q_cap * 2 : 64;
        if (ncap > p->max_lag) ncap = p->max_lag;
        st_item **nq = malloc(ncap * sizeof *nq);
        if (!nq) return true; /* drop silently under memory pressure */
        for (uint32_t i = 0; i < ch->q_n; i++)
            nq[i] = ch->q[(ch->q_head + i) % ch->q_cap];
        free(ch->q);
        ch->q = nq;
        ch->q_cap = ncap;
        ch->q_head = 0;
    }
    atomic_fetch_add(&it->refs, 1);
    ch->q[(ch->q_head + ch->q_n) % ch->q_cap] = it;
    ch->q_n++;
    return true;
}

static void flush_cb(mk_net *net, void *arg, int status) {
    (void)net;
    mk_stream_producer *p = arg;
    pthread_mutex_lock(&p->o.mu);
    uint32_t n = p->in_n;
    st_item **items = NULL;
    if (n) {
        items = malloc(n * sizeof *items);
        if (items)
            for (uint32_t i = 0; i < n; i++)
                items[i] = p->inbox[(p->in_head + i) % p->in_cap];
        else
            for (uint32_t i = 0; i < n; i++)
                item_unref(p->inbox[(p->in_head + i) % p->in_cap]);
    }
    p->in_head = 0;
    p->in_n = 0;
    p->flush_posted = false;
    pthread_cond_broadcast(&p->o.cond);
    pthread_mutex_unlock(&p->o.mu);
    if (!items) return;
    for (uint32_t i = 0; i < n; i++) {
        if (status == 0) {
            st_chan *ch = p->chans, *next;
            for (; ch; ch = next) {
                next = ch->next;
                if (ch->state != CS_ACTIVE) continue;
                if (ch->q_n == 0 && can_send(ch) && send_item(ch, items[i]) == 0) continue;
                enqueue(ch, items[i]);
            }
        }
        item_unref(items[i]);
    }
    free(items);
    if (status == 0)
        for (st_chan *ch = p->chans; ch; ch = ch->next)
            pump(ch);
}

static mk_stream_producer *find_producer(st_ctx *ctx, const mk_id *sid) {
    for (mk_stream_producer *p = ctx->producers; p; p = p->next)
        if (mk_id_eq(&p->stream_id, sid) && !p->closing) return p;
    return NULL;
}

static st_chan *find_prod_chan(st_ctx *ctx, mk_net_conn *conn, uint32_t no) {
    for (mk_stream_producer *p = ctx->producers; p; p = p->next)
        for (st_chan *ch = p->chans; ch; ch = ch->next)
            if (ch->conn == conn && ch->no == no) return ch;
    return NULL;
}

static st_chan *find_cons_chan(st_ctx *ctx, mk_net_conn *conn, uint32_t no) {
    for (mk_stream_consumer *c = ctx->consumers; c; c = c->next)
        for (st_chan *ch = c->chans; ch; ch = ch->next)
            if (ch->conn == conn && ch->no == no && ch->state >= CS_SUBSCRIBING) return ch;
    return NULL;
}

static void refuse_subscribe(mk_net_conn *conn, uint32_t no, unsigned reason, const char *text) {
    mk_stream_msg m;
    memset(&m, 0, sizeof m);
    m.type = MK_SMSG_CLOSE;
    m.channel = no;
    m.reason = (uint16_t)reason;
    snprintf(m.text, sizeof m.text, "%s", text);
    send_msg(conn, &m);
}

static void on_subscribe(st_ctx *ctx, mk_net_conn *conn, const mk_id *peer,
                         const mk_stream_msg *m) {
    mk_stream_producer *p = find_producer(ctx, &m->stream_id);
    if (!p) {
        refuse_subscribe(conn, m->channel, MK_STREAM_R_UNKNOWN_STREAM,
                         "this peer does not produce the stream");
        return;
    }
    /* A renewed subscription of the same peer replaces the old one. */
    st_chan *old = find_prod_chan(ctx, conn, m->channel);
    if (old) chan_free(old);
    for (st_chan *ch = p->chans; ch; ch = ch->next)
        if (mk_id_eq(&ch->peer, peer)) {
            chan_free(ch);
            break;
        }
    st_chan *ch = chan_new(ctx, p, NULL, peer);
    if (!ch) {
        refuse_subscribe(conn, m->channel, MK_STREAM_R_FULL, "producer out of resources");
        return;
    }
    ch->no = m->channel;
    ch->conn = mk_net_conn_ref(conn);
    mk_error err;
    mk_error_clear(&err);
    unsigned reason = MK_STREAM_R_BAD_ENTRY;
    int rc = take_entry(ctx, peer, m->entry, m->entry_len, &ch->entry, &err);
    mk_expiration exp = MK_EXPIRES_NEVER;
    if (rc == 0) {
        ch->has_entry = true;
        uint32_t active = 0;
        for (st_chan *o = p->chans; o; o = o->next)
            active += o->state == CS_ACTIVE;
        if (active >= p->max_consumers) {
            reason = MK_STREAM_R_FULL;
            rc = mk_error_set(&err, MK_EBUSY, "producer has its maximum of %u consumers",
                              (unsigned)p->max_consumers);
        } else {
            rc = judge(ch, mk_now(), &exp, &reason, &err);
        }
    }
    if (rc < 0) {
        send_end(ch, MK_SMSG_CLOSE, reason, err.msg, 0);
        emit(ch, MK_STREAM_EV_REFUSED, false, reason, err.msg, 0);
        chan_free(ch);
        return;
    }
    ch->expires = exp;
    ch->credits = m->window;
    ch->state = CS_ACTIVE;
    mk_buf w;
    mk_buf_init(&w, MK_ENTRY_MAX_BYTES);
    mk_stream_msg a;
    memset(&a, 0, sizeof a);
    a.type = MK_SMSG_ACCEPT;
    a.channel = ch->no;
    a.expires = exp;
    if (local_entry_wire(ctx, &w) == 0) {
        a.entry = w.data;
        a.entry_len = w.len;
    }
    send_msg(conn, &a);
    mk_buf_free(&w);
    chan_set_active(ch, true);
    emit(ch, MK_STREAM_EV_ADMITTED, false, 0, "", exp);
    arm_expiry(ctx);
}

/* ------------------------------------------------------------------ */
/* Consumer engine (loop)                                              */
/* ------------------------------------------------------------------ */

typedef struct dial_ctx {
    st_shim *shim;
    uint64_t serial;
} dial_ctx;

static st_chan *find_serial(st_ctx *ctx, uint64_t serial) {
    for (mk_stream_consumer *c = ctx->consumers; c; c = c->next)
        for (st_chan *ch = c->chans; ch; ch = ch->next)
            if (ch->serial == serial) return ch;
    return NULL;
}

static void send_subscribe(st_chan *ch) {
    mk_stream_consumer *c = ch->c;
    mk_buf w;
    mk_buf_init(&w, MK_ENTRY_MAX_BYTES);
    int rc = local_entry_wire(ch->ctx, &w);
    if (rc == 0) {
        mk_stream_msg m;
        memset(&m, 0, sizeof m);
        m.type = MK_SMSG_SUBSCRIBE;
        m.channel = ch->no;
        m.stream_id = c->stream_id;
        m.window = c->window;
        m.entry = w.data;
        m.entry_len = w.len;
        rc = send_msg(ch->conn, &m);
    }
    mk_buf_free(&w);
    if (rc < 0) {
        cons_reset(ch, false, MK_STREAM_EV_REJECTED, false, MK_STREAM_R_NETWORK,
                   "could not send the subscription", 0);
        return;
    }
    ch->state = CS_SUBSCRIBING;
    ch->last_tx = mk_mono_ms();
}

static void dial_done(mk_net_conn *conn, int status, const mk_error *err, void *arg) {
    dial_ctx *d = arg;
    st_ctx *ctx = d->shim->ctx;
    st_chan *ch = ctx ? find_serial(ctx, d->serial) : NULL;
    free(d);
    if (!ch || ch->state != CS_DIALING) return;
    if (status < 0) {
        char t[MK_STREAM_MAX_REASON];
        snprintf(t, sizeof t, "dial %s: %.180s", ch->addr,
                 err && err->msg[0] ? err->msg : "failed");
        cons_reset(ch, false, MK_STREAM_EV_REJECTED, true, MK_STREAM_R_NETWORK, t, 0);
        return;
    }
    ch->conn = mk_net_conn_ref(conn);
    send_subscribe(ch);
}

/* Channels of c that hold one of its max_producers slots: an attempt in
 * flight (DIALING, bounded by the transport's handshake timeout) or a
 * subscription (SUBSCRIBING, ACTIVE). IDLE candidates never hold a slot. */
static uint32_t cons_busy(const mk_stream_consumer *c) {
    uint32_t n = 0;
    for (const st_chan *ch = c->chans; ch; ch = ch->next)
        n += ch->state != CS_IDLE;
    return n;
}

static void try_subscribe(st_chan *ch) {
    st_ctx *ctx = ch->ctx;
    mk_stream_consumer *c = ch->c;
    if (ch->state != CS_IDLE || c->closing) return;
    /* No free slot: stay IDLE; cons_pump tries it when one frees up. */
    if (cons_busy(c) >= c->max_producers) return;
    /* Judge the producer first when its entry is known. */
    if (ch->has_entry) {
        mk_error err;
        mk_error_clear(&err);
        unsigned reason;
        mk_expiration exp;
        if (judge(ch, mk_now(), &exp, &reason, &err) < 0) {
            ch->retry_at = mk_mono_ms() + c->retry_max;
            ch->backoff = c->retry_max;
            emit(ch, MK_STREAM_EV_REFUSED, false, reason, err.msg, 0);
            return;
        }
    }
    ch->no = ++ctx->next_no;
    if (ch->no == 0) ch->no = ++ctx->next_no;
    dial_ctx *d = malloc(sizeof *d);
    if (!d) {
        ch->retry_at = mk_mono_ms() + c->retry_min;
        return;
    }
    d->shim = ctx->shim;
    d->serial = ch->serial;
    ch->state = CS_DIALING;
    mk_error err;
    mk_error_clear(&err);
    int rc =
        mk_net_dial(ctx->net, &ch->peer, ch->addr, MK_STREAMS_PROTOCOL, NULL, dial_done, d, &err);
    if (rc < 0) {
        free(d);
        ch->state = CS_IDLE;
        cons_reset(ch, false, MK_STREAM_EV_REJECTED, false, MK_STREAM_R_NETWORK, err.msg, 0);
    }
}

/* Candidates (any entry that claims the stream; ids are free) are kept up
 * to this many per consumer; only max_producers of them hold a slot at a
 * time (cons_busy), so claims alone cannot lock a real producer out. */
static size_t cons_max_candidates(const mk_stream_consumer *c) {
    size_t m = (size_t)c->max_producers * 8;
    return m < MAX_CANDIDATES ? MAX_CANDIDATES : m;
}

/* Fill the free slots of c with IDLE candidates that are due, the one
 * waiting longest (earliest retry_at) first: candidates that fail go back
 * to IDLE with backoff behind the others, so every candidate, the real
 * producer among Sybils included, gets its turn (round-robin). */
static void cons_pump(mk_stream_consumer *c, uint64_t now) {
    for (uint32_t round = 0; round <= c->max_producers && !c->closing; round++) {
        if (cons_busy(c) >= c->max_producers) return;
        st_chan *best = NULL;
        for (st_chan *ch = c->chans; ch; ch = ch->next)
            if (ch->state == CS_IDLE && ch->retry_at <= now && ch->addr[0] &&
                (!best || ch->retry_at < best->retry_at))
                best = ch;
        if (!best) return;
        uint64_t before = best->retry_at;
        try_subscribe(best);
        /* No progress (should not happen): do not spin on it this tick. */
        if (best->state == CS_IDLE && best->retry_at == before) best->retry_at = now + c->retry_min;
    }
}

/* A candidate producer (from discovery or named explicitly). */
static st_chan *cons_candidate(st_ctx *ctx, mk_stream_consumer *c, const mk_id *peer,
                               const char *addr) {
    for (st_chan *ch = c->chans; ch; ch = ch->next)
        if (mk_id_eq(&ch->peer, peer)) {
            if (addr && addr[0] && ch->state == CS_IDLE)
                snprintf(ch->addr, sizeof ch->addr, "%s", addr);
            return ch;
        }
    size_t n = 0;
    for (st_chan *ch = c->chans; ch; ch = ch->next)
        n++;
    if (n >= cons_max_candidates(c)) {
        uint64_t now = mk_mono_ms();
        if (now >= c->warn_full_at) {
            c->warn_full_at = now + 10000;
            mk_log(MK_LOG_WARN, LOG, "consumer %s: ignoring producers beyond %u candidates",
                   c->name, (unsigned)cons_max_candidates(c));
        }
        return NULL;
    }
    st_chan *ch = chan_new(ctx, NULL, c, peer);
    if (!ch) return NULL;
    snprintf(ch->addr, sizeof ch->addr, "%s", addr ? addr : "");
    ch->state = CS_IDLE;
    ch->retry_at = 0;
    return ch;
}

static void on_accept(st_ctx *ctx, st_chan *ch, const mk_id *peer, const mk_stream_msg *m) {
    (void)ctx;
    if (ch->state != CS_SUBSCRIBING) return;
    mk_error err;
    mk_error_clear(&err);
    mk_peer_entry e;
    unsigned reason = MK_STREAM_R_BAD_ENTRY;
    int rc = take_entry(ch->ctx, peer, m->entry, m->entry_len, &e, &err);
    if (rc == 0) {
        if (!ch->has_entry || e.version >= ch->entry.version) {
            mk_peer_entry_free(&ch->entry);
            ch->entry = e;
            ch->has_entry = true;
        } else {
            mk_peer_entry_free(&e);
        }
    }
    mk_expiration exp = MK_EXPIRES_NEVER;
    if (rc == 0) rc = judge(ch, mk_now(), &exp, &reason, &err);
    if (rc < 0) {
        send_end(ch, MK_SMSG_UNSUBSCRIBE, reason, err.msg, 0);
        chan_drop_conn(ch);
        ch->state = CS_IDLE;
        cons_reset(ch, false, MK_STREAM_EV_REFUSED, false, reason, err.msg, 0);
        ch->retry_at = mk_mono_ms() + ch->c->retry_max;
        return;
    }
    ch->expires = exp;
    ch->state = CS_ACTIVE;
    ch->outstanding = ch->c->window;
    ch->backoff = 0;
    chan_set_active(ch, true);
    emit(ch, MK_STREAM_EV_ADMITTED, false, 0, "", exp);
    arm_expiry(ch->ctx);
}

static void on_data(st_chan *ch, const mk_stream_msg *m) {
    mk_stream_consumer *c = ch->c;
    if (ch->state != CS_ACTIVE) return;
    if (ch->outstanding == 0) {
        cons_reset(ch, true, MK_STREAM_EV_DISCONNECTED, false, MK_STREAM_R_PROTOCOL,
                   "producer sent beyond its credits", 0);
        return;
    }
    ch->outstanding--;
    uint8_t *copy = malloc(m->len ? m->len : 1);
    if (!copy) return;
    if (m->len) memcpy(copy, m->data, m->len);
    uint64_t gap = 0;
    if (ch->got_any && m->seq > ch->last_seq + 1) gap = m->seq - ch->last_seq - 1;
    ch->got_any = true;
    ch->last_seq = m->seq;
    pthread_mutex_lock(&c->o.mu);
    if (c->rq_n == c->rq_cap) {
        size_t ncap = c->rq_cap ? c->rq_cap * 2 : 256;
        st_ritem *nq = malloc(ncap * sizeof *nq);
        if (!nq) {
            pthread_mutex_unlock(&c->o.mu);
            free(copy);
            return;
        }
        for (size_t i = 0; i < c->rq_n; i++)
            nq[i] = c->rq[(c->rq_head + i) % c->rq_cap];
        free(c->rq);
        c->rq = nq;
        c->rq_cap = ncap;
        c->rq_head = 0;
    }
    c->rq[(c->rq_head + c->rq_n) % c->rq_cap] = (st_ritem){.ps = ch->ps,
                                                           .serial = ch->serial,
                                                           .producer = ch->peer,
                                                           .seq = m->seq,
                                                           .data = copy,
                                                           .len = m->len};
    if (c->rq_n++ == 0) {
        uint64_t one = 1;
        ssize_t w = write(c->efd, &one, sizeof one);
        (void)w;
    }
    if (ch->ps) {
        ch->ps->items++;
        ch->ps->bytes += m->len;
        ch->ps->drops += gap;
    }
    c->o.st.items++;
    c->o.st.bytes += m->len;
    c->o.st.drops += gap;
    pthread_cond_broadcast(&c->o.cond);
    pthread_mutex_unlock(&c->o.mu);
}

static void send_credits(mk_stream_consumer *c, bool keepalive) {
    uint64_t now = mk_mono_ms();
    for (st_chan *ch = c->chans; ch; ch = ch->next) {
        if (ch->state != CS_ACTIVE) continue;
        pthread_mutex_lock(&c->o.mu);
        uint32_t n = 0;
        if (ch->ps && ch->ps->cur_serial == ch->serial) {
            n = ch->ps->consumed;
            ch->ps->consumed = 0;
        }
        pthread_mutex_unlock(&c->o.mu);
        if (n == 0 && !(keepalive && now - ch->last_tx >= KEEPALIVE_MS)) continue;
        if (n > MK_STREAM_MAX_WINDOW) n = MK_STREAM_MAX_WINDOW;
        mk_stream_msg m;
        memset(&m, 0, sizeof m);
        m.type = MK_SMSG_CREDIT;
        m.channel = ch->no;
        m.window = n;
        if (send_msg(ch->conn, &m) == 0) {
            ch->outstanding += n;
            ch->last_tx = now;
        }
    }
}

static void credit_cb(mk_net *net, void *arg, int status) {
    (void)net;
    mk_stream_consumer *c = arg;
    pthread_mutex_lock(&c->o.mu);
    c->credit_posted = false;
    pthread_mutex_unlock(&c->o.mu);
    if (status == 0) send_credits(c, false);
}

/* ------------------------------------------------------------------ */
/* Re-validation, expiry, ticks                                        */
/* ------------------------------------------------------------------ */

static void revalidate(st_chan *ch, bool from_timer) {
    mk_error err;
    mk_error_clear(&err);
    unsigned reason;
    mk_expiration exp;
    mk_expiration old = ch->expires;
    int64_t now = mk_now();
    int rc = judge(ch, now, &exp, &reason, &err);
    if (rc == 0) {
        ch->expires = exp;
        chan_set_active(ch, true);
        return;
    }
    bool expired = rc == MK_EEXPIRED || (old != MK_EXPIRES_NEVER && old <= now);
    unsigned why = expired ? MK_STREAM_R_EXPIRED : MK_STREAM_R_REVOKED;
    char t[MK_STREAM_MAX_REASON];
    snprintf(t, sizeof t, "%s%.200s", from_timer ? "" : "after an entry change: ", err.msg);
    if (ch->p)
        prod_end(ch, true, false, why, t, expired ? old : 0);
    else
        cons_reset(ch, true, MK_STREAM_EV_DISCONNECTED, false, why, t, expired ? old : 0);
}

static void arm_expiry(st_ctx *ctx) {
    mk_expiration min = MK_EXPIRES_NEVER;
    for (mk_stream_producer *p = ctx->producers; p; p = p->next)
        for (st_chan *ch = p->chans; ch; ch = ch->next)
            if (ch->state == CS_ACTIVE && ch->expires < min) min = ch->expires;
    for (mk_stream_consumer *c = ctx->consumers; c; c = c->next)
        for (st_chan *ch = c->chans; ch; ch = ch->next)
            if (ch->state == CS_ACTIVE && ch->expires < min) min = ch->expires;
    if (!ctx->t_expiry) return;
    if (min == MK_EXPIRES_NEVER) {
        mk_net_timer_stop(ctx->t_expiry);
        return;
    }
    int64_t at = exp_to_ms(min);
    if (at < INT64_MAX - 2) at += 2;
    int64_t now = (int64_t)wall_ms();
    mk_net_timer_start(ctx->t_expiry, at > now ? (uint64_t)(at - now) : 0, 0);
}

static void on_expiry(mk_net_timer *t, void *arg) {
    (void)t;
    st_ctx *ctx = ((st_shim *)arg)->ctx;
    if (!ctx) return;
    int64_t wall = (int64_t)wall_ms();
    for (mk_stream_producer *p = ctx->producers; p; p = p->next) {
        st_chan *ch, *next;
        for (ch = p->chans; ch; ch = next) {
            next = ch->next;
            if (ch->state == CS_ACTIVE && ch->expires != MK_EXPIRES_NEVER &&
                exp_to_ms(ch->expires) <= wall)
                revalidate(ch, true);
        }
    }
    for (mk_stream_consumer *c = ctx->consumers; c; c = c->next)
        for (st_chan *ch = c->chans; ch; ch = ch->next)
            if (ch->state == CS_ACTIVE && ch->expires != MK_EXPIRES_NEVER &&
                exp_to_ms(ch->expires) <= wall)
                revalidate(ch, true);
    arm_expiry(ctx);
}

static void on_tick(mk_net_timer *t, void *arg) {
    (void)t;
    st_ctx *ctx = ((st_shim *)arg)->ctx;
    if (!ctx) return;
    uint64_t now = mk_mono_ms();
    for (mk_stream_consumer *c = ctx->consumers; c; c = c->next) {
        cons_pump(c, now);
        send_credits(c, true);
    }
}

static void on_hook(mk_network *nw, const mk_network_event *ev, void *arg) {
    (void)nw;
    st_ctx *ctx = ((st_shim *)arg)->ctx;
    if (!ctx) return;
    bool gone = ev->type == MK_EVENT_DEPARTED || ev->type == MK_EVENT_PURGED;
    const mk_peer_entry *e = &ev->entry;
    /* Producers: re-judge their consumers. */
    for (mk_stream_producer *p = ctx->producers; p; p = p->next) {
        st_chan *ch, *next;
        for (ch = p->chans; ch; ch = next) {
            next = ch->next;
            if (!mk_id_eq(&ch->peer, &ev->peer_id)) continue;
            if (gone) {
                prod_end(ch, true, false, MK_STREAM_R_DEPARTED,
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
            revalidate(ch, false);
        }
    }
    /* Consumers: new producers, changed producers. */
    for (mk_stream_consumer *c = ctx->consumers; c; c = c->next) {
        st_chan *ch = NULL;
        for (st_chan *x = c->chans; x; x = x->next)
            if (mk_id_eq(&x->peer, &ev->peer_id)) ch = x;
        bool serves = !gone && mk_peer_entry_serves(e, MK_SERVED_STREAM, &c->stream_id);
        if (!ch && serves) ch = cons_candidate(ctx, c, &ev->peer_id, e->n_addrs ? e->addrs[0] : "");
        if (!ch) continue;
        if (gone || !serves) {
            if (ch->state != CS_IDLE)
                cons_reset(ch, true, MK_STREAM_EV_DISCONNECTED, false,
                           gone ? MK_STREAM_R_DEPARTED : MK_STREAM_R_CLOSED,
                           gone ? "producer departed" : "peer no longer produces the stream", 0);
            if (!ch->explicit_) chan_free(ch);
            continue;
        }
        ch->from_discovery = true;
        if (!ch->has_entry || e->version > ch->entry.version) {
            mk_peer_entry_free(&ch->entry);
            ch->has_entry = mk_peer_entry_copy(&ch->entry, e) == 0;
            if (!ch->has_entry) continue;
            if (ch->state == CS_ACTIVE) revalidate(ch, false);
        }
        if (ch->state == CS_IDLE) {
            if (e->n_addrs && ch->addr[0] == 0)
                snprintf(ch->addr, sizeof ch->addr, "%s", e->addrs[0]);
            ch->retry_at = 0; /* the producer changed: try again now */
            try_subscribe(ch);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Protocol callbacks (loop)                                           */
/* ------------------------------------------------------------------ */

static void on_connect(mk_net_conn *conn, bool inbound, void *arg) {
    (void)conn, (void)inbound, (void)arg;
}

static void on_frame(mk_net_conn *conn, const uint8_t *data, size_t len, void *arg) {
    st_ctx *ctx = ((st_shim *)arg)->ctx;
    mk_id peer;
    mk_net_conn_peer(conn, &peer);
    mk_stream_msg m;
    mk_error err;
    mk_error_clear(&err);
    if (mk_stream_msg_decode(data, len, &m, &err) < 0) {
        char pid[9];
        mk_id_short(&peer, pid);
        mk_log(MK_LOG_WARN, LOG, "malformed message from %s: %s", pid, err.msg);
        mk_net_conn_close(conn, "malformed stream message");
        return;
    }
    if (!ctx) {
        if (m.type == MK_SMSG_SUBSCRIBE)
            refuse_subscribe(conn, m.channel, MK_STREAM_R_UNKNOWN_STREAM,
                             "this peer does not produce the stream");
        return;
    }
    st_chan *ch;
    switch (m.type) {
    case MK_SMSG_SUBSCRIBE:
        on_subscribe(ctx, conn, &peer, &m);
        break;
    case MK_SMSG_UNSUBSCRIBE:
        if ((ch = find_prod_chan(ctx, conn, m.channel)))
            prod_end(ch, false, true, m.reason, m.text, m.expires);
        break;
    case MK_SMSG_CREDIT:
        if ((ch = find_prod_chan(ctx, conn, m.channel)) && m.window) {
            uint64_t c = (uint64_t)ch->credits + m.window;
            ch->credits = c > 2u * MK_STREAM_MAX_WINDOW ? 2u * MK_STREAM_MAX_WINDOW : (uint32_t)c;
            pump(ch);
        }
        break;
    case MK_SMSG_ACCEPT:
        if ((ch = find_cons_chan(ctx, conn, m.channel))) on_accept(ctx, ch, &peer, &m);
        break;
    case MK_SMSG_CLOSE:
        if ((ch = find_cons_chan(ctx, conn, m.channel))) {
            mk_stream_event_type t =
                ch->state == CS_ACTIVE ? MK_STREAM_EV_DISCONNECTED : MK_STREAM_EV_REJECTED;
            cons_reset(ch, false, t, true, m.reason, m.text, m.expires);
        }
        break;
    case MK_SMSG_DATA:
        if ((ch = find_cons_chan(ctx, conn, m.channel))) on_data(ch, &m);
        break;
    }
}

static void on_close(mk_net_conn *conn, int code, const char *reason, void *arg) {
    (void)code;
    st_ctx *ctx = ((st_shim *)arg)->ctx;
    if (!ctx) return;
    char t[MK_STREAM_MAX_REASON];
    snprintf(t, sizeof t, "connection closed: %s", reason && *reason ? reason : "?");
    for (mk_stream_producer *p = ctx->producers; p; p = p->next) {
        st_chan *ch, *next;
        for (ch = p->chans; ch; ch = next) {
            next = ch->next;
            if (ch->conn == conn) prod_end(ch, false, true, MK_STREAM_R_NETWORK, t, 0);
        }
    }
    for (mk_stream_consumer *c = ctx->consumers; c; c = c->next)
        for (st_chan *ch = c->chans; ch; ch = ch->next)
            if (ch->conn == conn)
                cons_reset(ch, false,
                           ch->state == CS_ACTIVE ? MK_STREAM_EV_DISCONNECTED
                                                  : MK_STREAM_EV_REJECTED,
                           true, MK_STREAM_R_NETWORK, t, 0);
    arm_expiry(ctx);
}

static void on_drain(mk_net_conn *conn, void *arg) {
    st_ctx *ctx = ((st_shim *)arg)->ctx;
    if (!ctx) return;
    for (mk_stream_producer *p = ctx->producers; p; p = p->next)
        for (st_chan *ch = p->chans; ch; ch = ch->next)
            if (ch->conn == conn) {
                ch->busy = false;
                pump(ch);
            }
}

/* ------------------------------------------------------------------ */
/* Attaching to a network                                              */
/* ------------------------------------------------------------------ */

/* The shim lives in the network's attachment slot and is freed with the
 * network (after its I/O thread stopped, so no callback can still see it). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static const char shim_key = 0;

static st_shim *shim_for(mk_network *nw) {
    pthread_mutex_lock(&g_mu);
    st_shim *s = mk_network_attached(nw, &shim_key);
    if (!s && (s = calloc(1, sizeof *s))) {
        s->nw = nw;
        if (mk_network_attach(nw, &shim_key, s, free, NULL) < 0) {
            free(s);
            s = NULL;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return s;
}

typedef struct attach_req {
    st_shim *shim;
    mk_network *nw;
    mk_stream_producer *p;
    mk_stream_consumer *c;
    int rc;
    mk_error *err;
} attach_req;

static void ctx_maybe_free(st_ctx *ctx) {
    if (ctx->producers || ctx->consumers) return;
    mk_net_timer_free(ctx->t_expiry);
    mk_net_timer_free(ctx->t_tick);
    ctx->shim->ctx = NULL;
    free(ctx);
}

static void consumer_scan(st_ctx *ctx, mk_stream_consumer *c) {
    mk_peer_entry *peers = NULL;
    size_t n = 0;
    if (mk_network_peers(ctx->nw, &peers, &n) < 0) return;
    for (size_t i = 0; i < n; i++) {
        const mk_peer_entry *e = &peers[i];
        if (!mk_peer_entry_serves(e, MK_SERVED_STREAM, &c->stream_id)) continue;
        st_chan *ch = cons_candidate(ctx, c, &e->peer_id, e->n_addrs ? e->addrs[0] : "");
        if (!ch) continue;
        ch->from_discovery = true;
        if (!ch->has_entry || e->version > ch->entry.version) {
            mk_peer_entry_free(&ch->entry);
            ch->has_entry = mk_peer_entry_copy(&ch->entry, e) == 0;
        }
        if (ch->state == CS_IDLE && ch->addr[0]) try_subscribe(ch);
    }
    mk_peer_entries_free(peers, n);
}

static void attach_run(void *arg) {
    attach_req *a = arg;
    st_ctx *ctx = a->shim->ctx;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx) {
            a->rc = mk_error_set(a->err, MK_ENOMEM, "out of memory");
            return;
        }
        ctx->shim = a->shim;
        ctx->nw = a->nw;
        ctx->net = mk_network_net(a->nw);
        mk_network_peer_id(a->nw, &ctx->self);
        mk_network_id(a->nw, &ctx->network_id);
        mk_net_protocol proto = {.name = MK_STREAMS_PROTOCOL,
                                 .max_frame = MK_STREAM_MAX_ITEM + 64,
                                 .on_connect = on_connect,
                                 .on_frame = on_frame,
                                 .on_close = on_close,
                                 .on_drain = on_drain,
                                 .ctx = a->shim};
        mk_error e;
        mk_error_clear(&e);
        int rc = mk_net_register_protocol(ctx->net, &proto, &e);
        if (rc == 0) {
            rc = mk_network_add_hook(a->nw, on_hook, a->shim, a->err);
        } else if (rc == MK_EBUSY) {
            rc = 0; /* registered by an earlier ctx of this network (with its hook) */
        } else if (a->err) {
            *a->err = e;
        }
        if (rc == 0) rc = mk_net_timer_new(ctx->net, on_expiry, a->shim, &ctx->t_expiry);
        if (rc == 0) rc = mk_net_timer_new(ctx->net, on_tick, a->shim, &ctx->t_tick);
        if (rc == 0) rc = mk_net_timer_start(ctx->t_tick, TICK_MS, TICK_MS);
        if (rc < 0) {
            mk_net_timer_free(ctx->t_expiry);
            mk_net_timer_free(ctx->t_tick);
            free(ctx);
            if (!a->err || !a->err->code) mk_error_set(a->err, rc, "streams: cannot attach");
            a->rc = rc;
            return;
        }
        a->shim->ctx = ctx;
    }
    if (a->p) {
        if (find_producer(ctx, &a->p->stream_id)) {
            a->rc = mk_error_set(a->err, MK_EBUSY, "stream %s already has a producer on this node",
                                 a->p->name);
            ctx_maybe_free(ctx);
            return;
        }
        a->p->next = ctx->producers;
        ctx->producers = a->p;
    }
    if (a->c) {
        for (mk_stream_consumer *o = ctx->consumers; o; o = o->next)
            if (mk_id_eq(&o->stream_id, &a->c->stream_id) && !o->closing) {
                a->rc = mk_error_set(a->err, MK_EBUSY,
                                     "stream %s already has a consumer on this node", a->c->name);
                ctx_maybe_free(ctx);
                return;
            }
        a->c->next = ctx->consumers;
        ctx->consumers = a->c;
        consumer_scan(ctx, a->c);
    }
    a->rc = 0;
}

static int validate_name(const char *name, mk_error *err) {
    if (!name || !*name || strlen(name) >= 128)
        return mk_error_set(err, MK_EINVAL, "stream name must be 1..127 bytes");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Producers (public)                                                  */
/* ------------------------------------------------------------------ */

static void producer_destroy(mk_stream_producer *p) {
    for (uint32_t i = 0; i < p->in_n; i++)
        item_unref(p->inbox[(p->in_head + i) % p->in_cap]);
    free(p->inbox);
    mk_require_rt_free(&p->req);
    owner_destroy(&p->o);
    free(p);
}

static int producer_create(mk_network *nw, const char *name, const mk_datum_codec *codec,
                           const mk_requirements *req, const mk_stream_producer_opts *opts,
                           mk_stream_producer **out, mk_error *err) {
    *out = NULL;
    MK_TRY(validate_name(name, err));
    if (!nw) return mk_error_set(err, MK_EINVAL, "no network");
    mk_stream_producer_opts d;
    mk_stream_producer_opts_init(&d);
    if (!opts) opts = &d;
    mk_stream_producer *p = calloc(1, sizeof *p);
    if (!p) return mk_error_set(err, MK_ENOMEM, "out of memory");
    owner_init(&p->o, opts->on_event, opts->event_ctx);
    p->nw = nw;
    snprintf(p->name, sizeof p->name, "%s", name);
    mk_id_from_name(&p->stream_id, name);
    p->codec = codec;
    p->max_consumers = opts->max_consumers ? opts->max_consumers : MK_STREAM_DEFAULT_MAX_CONSUMERS;
    p->max_lag = opts->max_lag ? opts->max_lag : MK_STREAM_DEFAULT_MAX_LAG;
    if (p->max_lag > MK_STREAM_MAX_LAG) p->max_lag = MK_STREAM_MAX_LAG;
    p->policy = opts->lag_policy;
    p->in_cap = opts->inbox ? opts->inbox : DEFAULT_INBOX;
    if (p->in_cap > 65536) p->in_cap = 65536;
    p->inbox = calloc(p->in_cap, sizeof *p->inbox);
    int rc = p->inbox ? mk_require_rt_build(&p->req, req, err) : MK_ENOMEM;
    if (rc < 0) {
        if (!p->inbox) mk_error_set(err, MK_ENOMEM, "out of memory");
        producer_destroy(p);
        return rc;
    }
    p->shim = shim_for(nw);
    if (!p->shim) {
        producer_destroy(p);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    attach_req a = {.shim = p->shim, .nw = nw, .p = p, .err = err, .rc = MK_ESTATE};
    run_on_loop(mk_network_net(nw), attach_run, &a);
    if (a.rc < 0) {
        producer_destroy(p);
        return a.rc;
    }
    rc = mk_network_add_served(nw, MK_SERVED_STREAM, &p->stream_id, err);
    if (rc < 0) {
        mk_stream_producer_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int mk_stream_producer_new(mk_network *nw, const char *name, const mk_requirements *req,
                           const mk_stream_producer_opts *opts, mk_stream_producer **out,
                           mk_error *err) {
    return producer_create(nw, name, NULL, req, opts, out, err);
}

int mk_stream_producer_from_def(mk_network *nw, const mk_stream_def *def,
                                const mk_stream_producer_opts *opts, mk_stream_producer **out,
                                mk_error *err) {
    if (!def) return mk_error_set(err, MK_EINVAL, "no stream declaration");
    return producer_create(nw, def->name, def->codec, &def->producer, opts, out, err);
}

typedef struct add_v_req {
    mk_require_rt *rt;
    mk_validator *v;
    int rc;
} add_v_req;

static void add_v_run(void *arg) {
    add_v_req *r = arg;
    r->rc = mk_require_rt_add_validator(r->rt, r->v);
}

int mk_stream_producer_require(mk_stream_producer *p, mk_validator *v, mk_error *err) {
    if (!p || !v) return mk_error_set(err, MK_EINVAL, "no producer or validator");
    add_v_req r = {&p->req, v, 0};
    run_on_loop(mk_network_net(p->nw), add_v_run, &r);
    if (r.rc < 0) mk_validator_free(v);
    return r.rc < 0 ? mk_error_set(err, r.rc, "cannot add the validator") : 0;
}

static void producer_detach_run(void *arg) {
    mk_stream_producer *p = arg;
    st_ctx *ctx = p->shim->ctx;
    p->closing = true;
    while (p->chans)
        prod_end(p->chans, true, false, MK_STREAM_R_CLOSED, "producer closed", 0);
    if (!ctx) return;
    for (mk_stream_producer **pp = &ctx->producers; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    ctx_maybe_free(ctx);
}

void mk_stream_producer_free(mk_stream_producer *p) {
    if (!p) return;
    mk_network_remove_served(p->nw, MK_SERVED_STREAM, &p->stream_id, NULL);
    pthread_mutex_lock(&p->o.mu);
    p->closing = true;
    pthread_cond_broadcast(&p->o.cond);
    pthread_mutex_unlock(&p->o.mu);
    run_on_loop(mk_network_net(p->nw), producer_detach_run, p);
    producer_destroy(p);
}

void mk_stream_producer_id(const mk_stream_producer *p, mk_id *out) {
    *out = p->stream_id;
}

int mk_stream_send(mk_stream_producer *p, const void *data, size_t len, uint32_t timeout_ms,
                   mk_error *err) {
    if (!p || (len && !data)) return mk_error_set(err, MK_EINVAL, "no producer or data");
    if (len > MK_STREAM_MAX_ITEM)
        return mk_error_set(err, MK_ETOOBIG, "datum of %zu bytes exceeds %zu", len,
                            (size_t)MK_STREAM_MAX_ITEM);
    st_item *it = malloc(sizeof *it + DATA_HDR + len);
    if (!it) return mk_error_set(err, MK_ENOMEM, "out of memory");
    atomic_init(&it->refs, 1);
    it->len = len;
    if (len) memcpy(it->buf + DATA_HDR, data, len);
    struct timespec dl;
    deadline_after(&dl, timeout_ms == MK_NET_NO_TIMEOUT ? 0 : timeout_ms);
    pthread_mutex_lock(&p->o.mu);
    while (p->in_n == p->in_cap && !p->closing) {
        int w = 0;
        if (timeout_ms == 0)
            w = ETIMEDOUT;
        else if (timeout_ms == MK_NET_NO_TIMEOUT)
            pthread_cond_wait(&p->o.cond, &p->o.mu);
        else
            w = pthread_cond_timedwait(&p->o.cond, &p->o.mu, &dl);
        if (w == ETIMEDOUT && p->in_n == p->in_cap) {
            pthread_mutex_unlock(&p->o.mu);
            free(it);
            return mk_error_set(err, MK_EBUSY, "producer inbox full");
        }
    }
    if (p->closing) {
        pthread_mutex_unlock(&p->o.mu);
        free(it);
        return mk_error_set(err, MK_ESTATE, "producer closed");
    }
    it->seq = p->next_seq++;
    p->inbox[(p->in_head + p->in_n) % p->in_cap] = it;
    p->in_n++;
    bool post = !p->flush_posted;
    p->flush_posted = true;
    pthread_mutex_unlock(&p->o.mu);
    if (post && mk_net_post(mk_network_net(p->nw), flush_cb, p) < 0) {
        pthread_mutex_lock(&p->o.mu);
        p->flush_posted = false;
        pthread_mutex_unlock(&p->o.mu);
        return mk_error_set(err, MK_ESTATE, "network stopped");
    }
    return 0;
}

int mk_stream_send_value(mk_stream_producer *p, const void *value, uint32_t timeout_ms,
                         mk_error *err) {
    if (!p || !p->codec || !p->codec->encode)
        return mk_error_set(err, MK_EINVAL, "the stream has no codec");
    mk_buf b;
    mk_buf_init(&b, MK_STREAM_MAX_ITEM);
    int rc = p->codec->encode(value, &b, err);
    if (rc == 0)
        rc = mk_stream_send(p, b.data, b.len, timeout_ms, err);
    else
        mk_error_prefix(err, rc, "encode (%s)", p->codec->name ? p->codec->name : "codec");
    mk_buf_free(&b);
    return rc;
}

int mk_stream_producer_wait(mk_stream_producer *p, const mk_stream_when *w, uint32_t timeout_ms) {
    return owner_wait(&p->o, w, timeout_ms);
}

void mk_stream_producer_stats(mk_stream_producer *p, mk_stream_stats *out) {
    pthread_mutex_lock(&p->o.mu);
    *out = p->o.st;
    pthread_mutex_unlock(&p->o.mu);
}

int mk_stream_producer_channels(mk_stream_producer *p, mk_stream_channel_stats **out, size_t *n) {
    return owner_channels(&p->o, out, n);
}

/* ------------------------------------------------------------------ */
/* Consumers (public)                                                  */
/* ------------------------------------------------------------------ */

static void consumer_destroy(mk_stream_consumer *c) {
    for (size_t i = 0; i < c->rq_n; i++)
        free(c->rq[(c->rq_head + i) % c->rq_cap].data);
    free(c->rq);
    if (c->efd >= 0) close(c->efd);
    mk_require_rt_free(&c->req);
    owner_destroy(&c->o);
    free(c);
}

static int consumer_create(mk_network *nw, const char *name, const mk_datum_codec *codec,
                           const mk_requirements *req, const mk_stream_consumer_opts *opts,
                           mk_stream_consumer **out, mk_error *err) {
    *out = NULL;
    MK_TRY(validate_name(name, err));
    if (!nw) return mk_error_set(err, MK_EINVAL, "no network");
    mk_stream_consumer_opts d;
    mk_stream_consumer_opts_init(&d);
    if (!opts) opts = &d;
    mk_stream_consumer *c = calloc(1, sizeof *c);
    if (!c) return mk_error_set(err, MK_ENOMEM, "out of memory");
    owner_init(&c->o, opts->on_event, opts->event_ctx);
    c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->nw = nw;
    snprintf(c->name, sizeof c->name, "%s", name);
    mk_id_from_name(&c->stream_id, name);
    c->codec = codec;
    c->window = opts->window ? opts->window : MK_STREAM_DEFAULT_WINDOW;
    if (c->window > MK_STREAM_MAX_WINDOW) c->window = MK_STREAM_MAX_WINDOW;
    c->max_producers = opts->max_producers ? opts->max_producers : MK_STREAM_DEFAULT_MAX_PRODUCERS;
    c->retry_min = opts->retry_min_ms ? opts->retry_min_ms : MK_STREAM_DEFAULT_RETRY_MIN_MS;
    c->retry_max = opts->retry_max_ms ? opts->retry_max_ms : MK_STREAM_DEFAULT_RETRY_MAX_MS;
    if (c->retry_max < c->retry_min) c->retry_max = c->retry_min;
    if (c->efd < 0) {
        consumer_destroy(c);
        return mk_error_set(err, MK_EIO, "eventfd: %s", strerror(errno));
    }
    int rc = mk_require_rt_build(&c->req, req, err);
    if (rc < 0) {
        consumer_destroy(c);
        return rc;
    }
    c->shim = shim_for(nw);
    if (!c->shim) {
        consumer_destroy(c);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    attach_req a = {.shim = c->shim, .nw = nw, .c = c, .err = err, .rc = MK_ESTATE};
    run_on_loop(mk_network_net(nw), attach_run, &a);
    if (a.rc < 0) {
        consumer_destroy(c);
        return a.rc;
    }
    *out = c;
    return 0;
}

int mk_stream_consumer_new(mk_network *nw, const char *name, const mk_requirements *req,
                           const mk_stream_consumer_opts *opts, mk_stream_consumer **out,
                           mk_error *err) {
    return consumer_create(nw, name, NULL, req, opts, out, err);
}

int mk_stream_consumer_from_def(mk_network *nw, const mk_stream_def *def,
                                const mk_stream_consumer_opts *opts, mk_stream_consumer **out,
                                mk_error *err) {
    if (!def) return mk_error_set(err, MK_EINVAL, "no stream declaration");
    return consumer_create(nw, def->name, def->codec, &def->consumer, opts, out, err);
}

int mk_stream_consumer_require(mk_stream_consumer *c, mk_validator *v, mk_error *err) {
    if (!c || !v) return mk_error_set(err, MK_EINVAL, "no consumer or validator");
    add_v_req r = {&c->req, v, 0};
    run_on_loop(mk_network_net(c->nw), add_v_run, &r);
    if (r.rc < 0) mk_validator_free(v);
    return r.rc < 0 ? mk_error_set(err, r.rc, "cannot add the validator") : 0;
}

typedef struct connect_req {
    mk_stream_consumer *c;
    mk_id peer;
    char addr[MK_NET_ADDR_MAX + 1];
    int rc;
} connect_req;

static void connect_run(void *arg) {
    connect_req *r = arg;
    st_ctx *ctx = r->c->shim->ctx;
    if (!ctx) {
        r->rc = MK_ESTATE;
        return;
    }
    st_chan *ch = cons_candidate(ctx, r->c, &r->peer, r->addr);
    if (!ch) {
        r->rc = MK_EBUSY;
        return;
    }
    ch->explicit_ = true;
    if (ch->state == CS_IDLE) {
        snprintf(ch->addr, sizeof ch->addr, "%s", r->addr);
        ch->retry_at = 0;
        try_subscribe(ch);
    }
    r->rc = 0;
}

int mk_stream_consumer_connect(mk_stream_consumer *c, const char *peer_addr, mk_error *err) {
    if (!c || !peer_addr) return mk_error_set(err, MK_EINVAL, "no consumer or address");
    connect_req r = {.c = c};
    MK_TRY(mk_parse_peer_addr(peer_addr, &r.peer, r.addr, err));
    run_on_loop(mk_network_net(c->nw), connect_run, &r);
    if (r.rc < 0) return mk_error_set(err, r.rc, "cannot add the producer");
    return 0;
}

static void consumer_detach_run(void *arg) {
    mk_stream_consumer *c = arg;
    st_ctx *ctx = c->shim->ctx;
    c->closing = true;
    while (c->chans) {
        st_chan *ch = c->chans;
        if (ch->state == CS_SUBSCRIBING || ch->state == CS_ACTIVE)
            send_end(ch, MK_SMSG_UNSUBSCRIBE, MK_STREAM_R_CLOSED, "consumer closed", 0);
        chan_free(ch);
    }
    if (!ctx) return;
    for (mk_stream_consumer **pp = &ctx->consumers; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    ctx_maybe_free(ctx);
}

void mk_stream_consumer_free(mk_stream_consumer *c) {
    if (!c) return;
    run_on_loop(mk_network_net(c->nw), consumer_detach_run, c);
    consumer_destroy(c);
}

int mk_stream_consumer_fd(const mk_stream_consumer *c) {
    return c->efd;
}

void mk_stream_item_free(mk_stream_item *item) {
    if (!item) return;
    if (item->value && item->codec && item->codec->free_value) item->codec->free_value(item->value);
    free(item->data);
    memset(item, 0, sizeof *item);
}

int mk_stream_recv(mk_stream_consumer *c, uint32_t timeout_ms, mk_stream_item *item) {
    memset(item, 0, sizeof *item);
    struct timespec dl;
    deadline_after(&dl, timeout_ms == MK_NET_NO_TIMEOUT ? 0 : timeout_ms);
    for (;;) {
        pthread_mutex_lock(&c->o.mu);
        while (c->rq_n == 0) {
            int w = 0;
            if (timeout_ms == 0)
                w = ETIMEDOUT;
            else if (timeout_ms == MK_NET_NO_TIMEOUT)
                pthread_cond_wait(&c->o.cond, &c->o.mu);
            else
                w = pthread_cond_timedwait(&c->o.cond, &c->o.mu, &dl);
            if (w == ETIMEDOUT && c->rq_n == 0) {
                pthread_mutex_unlock(&c->o.mu);
                return MK_ETIMEDOUT;
            }
        }
        st_ritem r = c->rq[c->rq_head];
        c->rq_head = (c->rq_head + 1) % c->rq_cap;
        if (--c->rq_n == 0) {
            uint64_t v;
            ssize_t rd = read(c->efd, &v, sizeof v);
            (void)rd;
        }
        bool post = false;
        if (r.ps && r.ps->cur_serial == r.serial) {
            r.ps->consumed++;
            uint32_t half = c->window / 2 ? c->window / 2 : 1;
            if (r.ps->consumed >= half && !c->credit_posted) post = c->credit_posted = true;
        }
        pthread_mutex_unlock(&c->o.mu);
        if (post && mk_net_post(mk_network_net(c->nw), credit_cb, c) < 0) {
            pthread_mutex_lock(&c->o.mu);
            c->credit_posted = false;
            pthread_mutex_unlock(&c->o.mu);
        }
        item->producer = r.producer;
        item->seq = r.seq;
        item->data = r.data;
        item->len = r.len;
        if (!c->codec || !c->codec->decode) return 0;
        mk_error err;
        mk_error_clear(&err);
        if (c->codec->decode(r.data, r.len, &item->value, &err) == 0) {
            item->codec = c->codec;
            return 0;
        }
        char pid[9];
        mk_id_short(&r.producer, pid);
        mk_log(MK_LOG_WARN, LOG, "consumer %s: undecodable datum %llu from %s: %s", c->name,
               (unsigned long long)r.seq, pid, err.msg);
        free(r.data);
        memset(item, 0, sizeof *item);
        pthread_mutex_lock(&c->o.mu);
        c->o.st.decode_errors++;
        pthread_mutex_unlock(&c->o.mu);
    }
}

int mk_stream_consumer_wait(mk_stream_consumer *c, const mk_stream_when *w, uint32_t timeout_ms) {
    return owner_wait(&c->o, w, timeout_ms);
}

void mk_stream_consumer_stats(mk_stream_consumer *c, mk_stream_stats *out) {
    pthread_mutex_lock(&c->o.mu);
    *out = c->o.st;
    pthread_mutex_unlock(&c->o.mu);
}

int mk_stream_consumer_channels(mk_stream_consumer *c, mk_stream_channel_stats **out, size_t *n) {
    return owner_channels(&c->o, out, n);
}
