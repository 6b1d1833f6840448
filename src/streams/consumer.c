/*
 * streams/consumer.c — the consumer: its handle (user threads) and its
 * engine (the loop): candidates, slots, backoff, subscribing.
 *
 * Candidates. Every entry in the catalog that claims to serve the stream
 * (at creation: mk_st_cons_scan; then on every discovery event), and every
 * producer named with mk_stream_consumer_connect, becomes a candidate: a
 * channel record in state IDLE with the address to dial. Claims cost
 * nothing (ids are free), so a consumer keeps at most 8 × max_producers of
 * them (at least 256: cons_max_candidates), and only the channels that are
 * DIALING, SUBSCRIBING or ACTIVE hold one of its max_producers slots
 * (cons_busy).
 * IDLE candidates wait and are tried in turn when a slot is free, the one
 * waiting longest (earliest retry_at) first (mk_st_cons_pump, from the
 * tick): candidates that fail go back to IDLE with backoff behind the
 * others, so entries that merely claim the stream cannot keep a real
 * producer out.
 *
 * Subscribing. IDLE → (pre-check of the catalog entry, when known) →
 * DIALING (mk_transport_dial; the dial callback finds the channel again by its
 * serial, since the channel may be gone by then) → SUBSCRIBING (SUBSCRIBE
 * sent with our entry and the window) → ACTIVE on an ACCEPT whose entry
 * passes our requirements (admit.c). A refusal, a CLOSE, a failed dial or
 * a closed connection returns the channel to IDLE (mk_st_cons_reset) with a
 * new serial — credits for items of the old subscription no longer count —
 * and a retry after exponential backoff (retry_min_ms doubling up to
 * retry_max_ms; a refusal by our own requirements waits retry_max_ms). A
 * change of the producer's entry retries at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mosaik/clock.h"
#include "mosaik/log.h"
#include "streams/streams_internal.h"

/* ------------------------------------------------------------------ */
/* Engine (loop)                                                       */
/* ------------------------------------------------------------------ */

static uint64_t backoff_next(mk_stream_consumer *c, st_chan *ch) {
    if (!ch->backoff) ch->backoff = c->retry_min;
    uint64_t b = ch->backoff;
    ch->backoff = ch->backoff * 2 > c->retry_max ? c->retry_max : ch->backoff * 2;
    return b;
}

void mk_st_cons_reset(st_chan *ch, bool notify, mk_stream_event_type ev, bool by_peer,
                      unsigned reason, const char *text, mk_expiration expired) {
    mk_stream_consumer *c = ch->c;
    if (notify && ch->conn && (ch->state == CS_SUBSCRIBING || ch->state == CS_ACTIVE))
        mk_st_send_end(ch, MK_SMSG_UNSUBSCRIBE, reason, text, expired);
    bool was_active = ch->state == CS_ACTIVE;
    if (was_active) mk_st_chan_set_active(ch, false);
    ch->state = CS_IDLE;
    mk_st_chan_drop_conn(ch);
    ch->outstanding = 0;
    ch->got_any = false;
    /* New serial: credits of items from this subscription no longer count. */
    pthread_mutex_lock(&c->o.mu);
    ch->serial = ++ch->ctx->next_serial;
    if (ch->ps) {
        ch->ps->cur_serial = ch->serial;
        ch->ps->consumed = 0;
    }
    pthread_mutex_unlock(&c->o.mu);
    ch->retry_at = mk_mono_ms() + backoff_next(c, ch);
    if ((int)ev)
        mk_st_emit(ch, ev, by_peer, reason, text, reason == MK_STREAM_R_EXPIRED ? expired : 0);
}

typedef struct dial_ctx {
    st_shim *shim;
    uint64_t serial;
} dial_ctx;

static st_chan *find_serial(st_ctx *ctx, uint64_t serial) {
    for (st_owner *o = ctx->consumers; o; o = o->next)
        for (st_chan *ch = o->chans; ch; ch = ch->next)
            if (ch->serial == serial) return ch;
    return NULL;
}

static void send_subscribe(st_chan *ch) {
    mk_stream_consumer *c = ch->c;
    mk_buf w;
    mk_buf_init(&w, MK_ENTRY_MAX_BYTES);
    int rc = mk_st_local_entry_wire(ch->ctx, &w);
    if (rc == 0) {
        mk_stream_msg m;
        mk_st_msg_init(&m, MK_SMSG_SUBSCRIBE, ch->no);
        m.stream_id = c->o.stream_id;
        m.window = c->window;
        m.entry = w.data;
        m.entry_len = w.len;
        rc = mk_st_send_msg(ch->conn, &m);
    }
    mk_buf_free(&w);
    if (rc < 0) {
        mk_st_cons_reset(ch, false, MK_STREAM_EV_REJECTED, false, MK_STREAM_R_NETWORK,
                         "could not send the subscription", 0);
        return;
    }
    ch->state = CS_SUBSCRIBING;
    ch->last_tx = mk_mono_ms();
}

static void dial_done(mk_transport_conn *conn, int status, const mk_error *err, void *arg) {
    dial_ctx *d = arg;
    st_ctx *ctx = d->shim->ctx;
    st_chan *ch = ctx ? find_serial(ctx, d->serial) : NULL;
    free(d);
    if (!ch || ch->state != CS_DIALING) return;
    if (status < 0) {
        char t[MK_STREAM_MAX_REASON];
        snprintf(t, sizeof t, "dial %s: %.180s", ch->addr,
                 err && err->msg[0] ? err->msg : "failed");
        mk_st_cons_reset(ch, false, MK_STREAM_EV_REJECTED, true, MK_STREAM_R_NETWORK, t, 0);
        return;
    }
    ch->conn = mk_transport_conn_ref(conn);
    send_subscribe(ch);
}

/* Channels of c that hold one of its max_producers slots: an attempt in
 * flight (DIALING, bounded by the transport's handshake timeout) or a
 * subscription (SUBSCRIBING, ACTIVE). IDLE candidates never hold a slot. */
static uint32_t cons_busy(const mk_stream_consumer *c) {
    uint32_t n = 0;
    for (const st_chan *ch = c->o.chans; ch; ch = ch->next)
        n += ch->state != CS_IDLE;
    return n;
}

static void try_subscribe(st_chan *ch) {
    st_ctx *ctx = ch->ctx;
    mk_stream_consumer *c = ch->c;
    if (ch->state != CS_IDLE || c->o.closing) return;
    /* No free slot: stay IDLE; mk_st_cons_pump tries it when one frees up. */
    if (cons_busy(c) >= c->max_producers) return;
    /* Judge the producer first when its entry is known. */
    if (ch->has_entry) {
        mk_error err;
        mk_error_clear(&err);
        unsigned reason;
        mk_expiration exp;
        if (mk_st_judge(ch, mk_now(), &exp, &reason, &err) < 0) {
            ch->retry_at = mk_mono_ms() + c->retry_max;
            ch->backoff = c->retry_max;
            mk_st_emit(ch, MK_STREAM_EV_REFUSED, false, reason, err.msg, 0);
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
    int rc = mk_transport_dial(ctx->net, &ch->peer, ch->addr, MK_STREAMS_PROTOCOL, NULL, dial_done,
                               d, &err);
    if (rc < 0) {
        free(d);
        ch->state = CS_IDLE;
        mk_st_cons_reset(ch, false, MK_STREAM_EV_REJECTED, false, MK_STREAM_R_NETWORK, err.msg, 0);
    }
}

/* Candidates are kept up to this many per consumer; only max_producers of
 * them hold a slot at a time (cons_busy). */
static size_t cons_max_candidates(const mk_stream_consumer *c) {
    size_t m = (size_t)c->max_producers * 8;
    return m < ST_MAX_CANDIDATES ? ST_MAX_CANDIDATES : m;
}

/* Fill the free slots of c with IDLE candidates that are due, the one
 * waiting longest (earliest retry_at) first: candidates that fail go back
 * to IDLE with backoff behind the others, so every candidate, the real
 * producer among Sybils included, gets its turn (round-robin). */
void mk_st_cons_pump(mk_stream_consumer *c, uint64_t now) {
    for (uint32_t round = 0; round <= c->max_producers && !c->o.closing; round++) {
        if (cons_busy(c) >= c->max_producers) return;
        st_chan *best = NULL;
        for (st_chan *ch = c->o.chans; ch; ch = ch->next)
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
    for (st_chan *ch = c->o.chans; ch; ch = ch->next)
        if (mk_id_eq(&ch->peer, peer)) {
            if (addr && addr[0] && ch->state == CS_IDLE)
                snprintf(ch->addr, sizeof ch->addr, "%s", addr);
            return ch;
        }
    size_t n = 0;
    for (st_chan *ch = c->o.chans; ch; ch = ch->next)
        n++;
    if (n >= cons_max_candidates(c)) {
        uint64_t now = mk_mono_ms();
        if (now >= c->warn_full_at) {
            c->warn_full_at = now + 10000;
            mk_log(MK_LOG_WARN, ST_LOG, "consumer %s: ignoring producers beyond %u candidates",
                   c->o.name, (unsigned)cons_max_candidates(c));
        }
        return NULL;
    }
    st_chan *ch = mk_st_chan_new(ctx, &c->o, peer);
    if (!ch) return NULL;
    snprintf(ch->addr, sizeof ch->addr, "%s", addr ? addr : "");
    ch->state = CS_IDLE;
    ch->retry_at = 0;
    return ch;
}

/* Keep e as the candidate's entry when it is newer; false when it could
 * not be copied (then the channel has no entry). */
static bool take_newer(st_chan *ch, const mk_peer_entry *e, bool *changed) {
    *changed = false;
    if (ch->has_entry && e->version <= ch->entry.version) return true;
    mk_peer_entry_free(&ch->entry);
    ch->has_entry = mk_peer_entry_copy(&ch->entry, e) == 0;
    *changed = ch->has_entry;
    return ch->has_entry;
}

void mk_st_cons_scan(st_ctx *ctx, mk_stream_consumer *c) {
    mk_peer_entry *peers = NULL;
    size_t n = 0;
    if (mk_network_peers(ctx->nw, &peers, &n) < 0) return;
    for (size_t i = 0; i < n; i++) {
        const mk_peer_entry *e = &peers[i];
        if (!mk_peer_entry_serves(e, MK_SERVED_STREAM, &c->o.stream_id)) continue;
        st_chan *ch = cons_candidate(ctx, c, &e->peer_id, e->n_addrs ? e->addrs[0] : "");
        if (!ch) continue;
        ch->from_discovery = true;
        bool changed;
        take_newer(ch, e, &changed);
        if (ch->state == CS_IDLE && ch->addr[0]) try_subscribe(ch);
    }
    mk_peer_entries_free(peers, n);
}

void mk_st_cons_on_accept(st_chan *ch, const mk_id *peer, const mk_stream_msg *m) {
    if (ch->state != CS_SUBSCRIBING) return;
    mk_error err;
    mk_error_clear(&err);
    mk_peer_entry e;
    unsigned reason = MK_STREAM_R_BAD_ENTRY;
    int rc = mk_st_take_entry(ch->ctx, peer, m->entry, m->entry_len, &e, &err);
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
    if (rc == 0) rc = mk_st_judge(ch, mk_now(), &exp, &reason, &err);
    if (rc < 0) {
        mk_st_send_end(ch, MK_SMSG_UNSUBSCRIBE, reason, err.msg, 0);
        mk_st_chan_drop_conn(ch);
        ch->state = CS_IDLE;
        mk_st_cons_reset(ch, false, MK_STREAM_EV_REFUSED, false, reason, err.msg, 0);
        ch->retry_at = mk_mono_ms() + ch->c->retry_max;
        return;
    }
    ch->expires = exp;
    ch->state = CS_ACTIVE;
    ch->outstanding = ch->c->window;
    ch->backoff = 0;
    mk_st_chan_set_active(ch, true);
    mk_st_emit(ch, MK_STREAM_EV_ADMITTED, false, 0, "", exp);
    mk_st_arm_expiry(ch->ctx);
}

void mk_st_cons_on_close(st_chan *ch, const mk_stream_msg *m) {
    mk_stream_event_type t =
        ch->state == CS_ACTIVE ? MK_STREAM_EV_DISCONNECTED : MK_STREAM_EV_REJECTED;
    mk_st_cons_reset(ch, false, t, true, m->reason, m->text, m->expires);
}

void mk_st_cons_close(st_chan *ch) {
    if (ch->state == CS_SUBSCRIBING || ch->state == CS_ACTIVE)
        mk_st_send_end(ch, MK_SMSG_UNSUBSCRIBE, MK_STREAM_R_CLOSED, "consumer closed", 0);
    mk_st_chan_free(ch);
}

/* One discovery event for one consumer. */
static void cons_on_entry(st_ctx *ctx, mk_stream_consumer *c, const mk_network_event *ev) {
    bool gone = ev->type == MK_EVENT_DEPARTED || ev->type == MK_EVENT_PURGED;
    const mk_peer_entry *e = &ev->entry;
    st_chan *ch = NULL;
    for (st_chan *x = c->o.chans; x; x = x->next)
        if (mk_id_eq(&x->peer, &ev->peer_id)) ch = x;
    bool serves = !gone && mk_peer_entry_serves(e, MK_SERVED_STREAM, &c->o.stream_id);
    if (!ch && serves) ch = cons_candidate(ctx, c, &ev->peer_id, e->n_addrs ? e->addrs[0] : "");
    if (!ch) return;
    if (gone || !serves) {
        if (ch->state != CS_IDLE)
            mk_st_cons_reset(ch, true, MK_STREAM_EV_DISCONNECTED, false,
                             gone ? MK_STREAM_R_DEPARTED : MK_STREAM_R_CLOSED,
                             gone ? "producer departed" : "peer no longer produces the stream", 0);
        if (!ch->explicit_) mk_st_chan_free(ch);
        return;
    }
    ch->from_discovery = true;
    bool changed;
    if (!take_newer(ch, e, &changed)) return;
    if (changed && ch->state == CS_ACTIVE) mk_st_revalidate(ch, false);
    if (ch->state == CS_IDLE) {
        if (e->n_addrs && ch->addr[0] == 0) snprintf(ch->addr, sizeof ch->addr, "%s", e->addrs[0]);
        ch->retry_at = 0; /* the producer changed: try again now */
        try_subscribe(ch);
    }
}

void mk_st_cons_on_entry(st_ctx *ctx, const mk_network_event *ev) {
    for (st_owner *o = ctx->consumers; o; o = o->next)
        cons_on_entry(ctx, o->c, ev);
}

/* ------------------------------------------------------------------ */
/* The handle (user threads)                                           */
/* ------------------------------------------------------------------ */

void mk_stream_consumer_config_init(mk_stream_consumer_config *cfg) {
    *cfg = (mk_stream_consumer_config){.window = MK_STREAM_DEFAULT_WINDOW,
                                       .max_producers = MK_STREAM_DEFAULT_MAX_PRODUCERS,
                                       .retry_min_ms = MK_STREAM_DEFAULT_RETRY_MIN_MS,
                                       .retry_max_ms = MK_STREAM_DEFAULT_RETRY_MAX_MS,
                                       .verdict_ttl_ms = MK_STREAM_DEFAULT_VERDICT_TTL_MS};
}

static void consumer_destroy(mk_stream_consumer *c) {
    mk_st_rq_clear(c);
    if (c->efd >= 0) close(c->efd);
    mk_st_owner_fini(&c->o);
    free(c);
}

static int consumer_create(mk_network *nw, const char *name, const mk_datum_codec *codec,
                           const mk_requirements *req, const mk_requirements *inst,
                           const mk_stream_consumer_config *opts, mk_stream_consumer **out,
                           mk_error *err) {
    *out = NULL;
    MK_TRY(mk_st_owner_check(nw, name, err));
    mk_stream_consumer *c = calloc(1, sizeof *c);
    if (!c) return mk_error_set(err, MK_ENOMEM, "out of memory");
    mk_st_owner_init(&c->o, nw, name, codec, opts->on_event, opts->event_ctx);
    c->o.c = c;
    mk_st_ring_init(&c->rq, sizeof(st_ritem));
    c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->window = opts->window ? opts->window : MK_STREAM_DEFAULT_WINDOW;
    if (c->window > MK_STREAM_MAX_WINDOW) c->window = MK_STREAM_MAX_WINDOW;
    c->max_producers = opts->max_producers ? opts->max_producers : MK_STREAM_DEFAULT_MAX_PRODUCERS;
    c->retry_min = opts->retry_min_ms ? opts->retry_min_ms : MK_STREAM_DEFAULT_RETRY_MIN_MS;
    c->retry_max = opts->retry_max_ms ? opts->retry_max_ms : MK_STREAM_DEFAULT_RETRY_MAX_MS;
    if (c->retry_max < c->retry_min) c->retry_max = c->retry_min;
    c->o.verdict_ttl_ms =
        opts->verdict_ttl_ms ? opts->verdict_ttl_ms : MK_STREAM_DEFAULT_VERDICT_TTL_MS;
    int rc = c->efd >= 0 ? mk_st_owner_attach(&c->o, req, inst, err)
                         : mk_error_set(err, MK_EIO, "eventfd: %s", strerror(errno));
    if (rc < 0) {
        consumer_destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

int mk_stream_consumer_new(mk_network *nw, const mk_stream_consumer_config *cfg,
                           mk_stream_consumer **out, mk_error *err) {
    if (!cfg) {
        *out = NULL;
        return mk_error_set(err, MK_EINVAL, "no consumer configuration");
    }
    return consumer_create(nw, cfg->name, cfg->codec, &cfg->requirements, NULL, cfg, out, err);
}

int mk_stream_consumer_new_from_def(mk_network *nw, const mk_stream_def *def,
                                    const mk_stream_consumer_config *cfg, mk_stream_consumer **out,
                                    mk_error *err) {
    *out = NULL;
    if (!def) return mk_error_set(err, MK_EINVAL, "no stream declaration");
    mk_stream_consumer_config d;
    mk_stream_consumer_config_init(&d);
    if (!cfg) cfg = &d;
    if (cfg->name || cfg->codec || !mk_require_only_validators(&cfg->requirements))
        return mk_error_set(err, MK_EINVAL,
                            "stream %s: the name, the codec, the tags and the predicate come from "
                            "the declaration (an instance adds validators only)",
                            def->name ? def->name : "?");
    return consumer_create(nw, def->name, def->codec, &def->consumer, &cfg->requirements, cfg, out,
                           err);
}

typedef struct connect_req {
    mk_stream_consumer *c;
    mk_id peer;
    char addr[MK_TRANSPORT_ADDR_MAX + 1];
    int rc;
} connect_req;

static void connect_run(void *arg) {
    connect_req *r = arg;
    st_ctx *ctx = r->c->o.shim->ctx;
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
    mk_st_run_on_loop(c->o.nw, connect_run, &r);
    if (r.rc < 0) return mk_error_set(err, r.rc, "cannot add the producer");
    return 0;
}

void mk_stream_consumer_free(mk_stream_consumer *c) {
    if (!c) return;
    mk_st_owner_detach(&c->o);
    consumer_destroy(c);
}
