/*
 * net/conn.c — the connection object and its state machine: references,
 * creation, closing, activation and duplicates, the public accessors and
 * the TLS exporter. The bytes (conn_tls.c), the frames (conn_frame.c), the
 * timer (conn_timer.c) and dialing/accepting (dial.c) are elsewhere.
 *
 * State machine (c->state, written only on the I/O thread):
 *
 *   outbound: CONNECTING --tcp--> HANDSHAKE --tls--> AWAIT_ACCEPT --frame 0--> OPEN
 *   inbound:                      HANDSHAKE --tls--> OPEN (sends the acceptance frame)
 *   any --close--> CLOSING --handles closed--> CLOSED (removed from net->conns)
 *
 * Only a connection that reached OPEN and was *activated* (on_connect
 * delivered) is open for the user: on_close runs exactly once for each
 * on_connect, from mk_transport_conn_close_internal, which is the one way out of
 * every state. It counts the close by reason, completes waiting dials
 * (with another open connection to the same (peer, protocol) if there is
 * one, else with the error), schedules the redial of a kept peer unless
 * the close was local, and then closes the transport: at once when still
 * connecting or stopping, else after flushing what TLS holds (close_notify
 * if graceful, or a handshake alert), a TCP half-close and a grace period.
 *
 * Duplicates: at most one open connection per (peer, protocol). When a
 * second one opens, the one dialed by the lower peer id wins (both ends
 * compute the same answer for a simultaneous dial); between two connections
 * dialed by the same node, the newer wins (the old one is probably dead).
 * The loser closes with MK_EBUSY; dial waiters and keep records move to the
 * winner.
 *
 * Lifetime: the network's reference on a connection is dropped when both
 * of its handles closed; conn memory is valid through every libuv callback.
 * A connection holds a reference on its protocol record, so the name and
 * limits stay valid after the protocol was unregistered.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mosaik/log.h"
#include "net/net_internal.h"

static const char *short_id(const mk_id *id, char buf[9]) {
    mk_id_short(id, buf);
    return buf;
}

/* ----- reference counting ------------------------------------------------- */

mk_transport_conn *mk_transport_conn_ref(mk_transport_conn *c) {
    if (c) atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void mk_transport_conn_unref(mk_transport_conn *c) {
    if (!c) return;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
    if (c->ssl) SSL_free(c->ssl);
    free(c->cork);
    mk_frame_decoder_free(&c->dec);
    while (c->waiters) {
        mk_transport_waiter *w = c->waiters;
        c->waiters = w->next;
        free(w);
    }
    mk_transport_proto_unref(c->proto);
    free(c);
}

/* ----- creation ----------------------------------------------------------- */

mk_transport_conn *mk_transport_conn_new(mk_transport *net, bool inbound) {
    mk_transport_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    atomic_init(&c->refs, 1);
    atomic_init(&c->state, inbound ? CONN_HANDSHAKE : CONN_CONNECTING);
    c->net = net;
    c->inbound = inbound;
    c->serial = ++net->next_serial;
    mk_frame_decoder_init(&c->dec, net->cfg.max_frame);
    c->dec.budget = &net->budget;
    uv_tcp_init(&net->loop, &c->tcp);
    uv_timer_init(&net->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->connect_req.data = c;
    c->shutdown_req.data = c;
    c->handles_open = 2;
    c->last_rx_ms = c->last_tx_ms = mk_transport_now_ms(net);
    c->next = net->conns;
    if (net->conns) net->conns->prev = c;
    net->conns = c;
    net->n_conns++;
    MK_MET_ADD(net, conns_pending, 1);
    return c;
}

void mk_transport_conn_set_max_frame(mk_transport_conn *c) {
    c->dec.max = c->proto->max_frame;
    c->dec.body.max = c->proto->max_frame;
}

void mk_transport_conn_set_proto(mk_transport_conn *c, mk_transport_proto *proto) {
    mk_transport_proto *old = c->proto;
    c->proto = mk_transport_proto_ref(proto);
    mk_transport_proto_unref(old);
    mk_transport_conn_set_max_frame(c);
}

static void on_handle_closed(uv_handle_t *h) {
    mk_transport_conn *c = h->data;
    if (--c->handles_open > 0) return;
    mk_transport_conn_set_state(c, CONN_CLOSED);
    /* Nothing feeds the decoder any more: give the budget its bytes back
     * here, on the loop (the last reference may go on another thread). */
    mk_frame_budget_release(&c->dec);
    c->dec.budget = NULL;
    MK_MET_SET(c->net, partial_bytes, c->net->budget.used);
    mk_transport_conn_list_remove(c->net, c);
    mk_transport_conn_unref(c);
}

void mk_transport_conn_close_handles(mk_transport_conn *c) {
    if (c->handles_closing) return;
    c->handles_closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

void mk_transport_conn_list_remove(mk_transport *net, mk_transport_conn *c) {
    if (c->prev)
        c->prev->next = c->next;
    else
        net->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    net->n_conns--;
}

/* ----- lookups ------------------------------------------------------------ */

mk_transport_conn *mk_transport_conn_find_open(mk_transport *net, const mk_id *peer,
                                               const mk_transport_proto *proto) {
    for (mk_transport_conn *c = net->conns; c; c = c->next)
        if (c->activated && mk_transport_conn_state(c) == CONN_OPEN && c->proto == proto &&
            mk_id_eq(&c->peer, peer))
            return c;
    return NULL;
}

mk_transport_conn *mk_transport_conn_find_dialing(mk_transport *net, const mk_id *peer,
                                                  const mk_transport_proto *proto) {
    for (mk_transport_conn *c = net->conns; c; c = c->next)
        if (!c->inbound && !c->activated && mk_transport_conn_state(c) < CONN_CLOSING &&
            c->proto == proto && mk_id_eq(&c->peer, peer))
            return c;
    return NULL;
}

/* ----- closing ------------------------------------------------------------- */

static void complete_waiters(mk_transport_conn *c, int code, const char *reason) {
    mk_transport *net = c->net;
    bool live = !net->stopping && c->proto && !atomic_load(&c->proto->dead);
    while (c->waiters) {
        mk_transport_waiter *w = c->waiters;
        c->waiters = w->next;
        mk_transport_conn *alt = live ? mk_transport_conn_find_open(net, &c->peer, c->proto) : NULL;
        if (alt) {
            w->cb(alt, 0, NULL, w->ctx);
        } else {
            mk_error e;
            mk_error_set(&e, code, "dial %s: %s", c->remote, reason);
            w->cb(NULL, code, &e, w->ctx);
        }
        free(w);
    }
}

static void count_close(mk_transport_conn *c, int code, bool was_open) {
    mk_transport *net = c->net;
    if (was_open)
        MK_MET_SUB(net, conns_open, 1);
    else
        MK_MET_SUB(net, conns_pending, 1);
    if (c->counted_pending_in) {
        c->counted_pending_in = false;
        net->n_pending_in--;
    }
    if (c->counted_active) {
        c->counted_active = false;
        net->n_active--;
    }
    if (c->cause == CAUSE_PENDING_EVICTED || c->cause == CAUSE_REFUSED_LIMIT)
        MK_MET_ADD(net, refused_limit, 1);
    else if (c->cause == CAUSE_REFUSED_ADDR)
        MK_MET_ADD(net, refused_addr, 1);
    else if (c->cause == CAUSE_DISPLACED)
        MK_MET_ADD(net, displaced, 1);
    else if (c->cause == CAUSE_BUDGET)
        MK_MET_ADD(net, closed_budget, 1);
    else if (code == MK_ETOOBIG)
        MK_MET_ADD(net, closed_oversize, 1);
    else if (code == MK_EMALFORMED && was_open)
        MK_MET_ADD(net, closed_malformed, 1);
    else if (code == MK_ETIMEDOUT && was_open)
        MK_MET_ADD(net, closed_idle, 1);
    else if (code == MK_EBUSY)
        MK_MET_ADD(net, closed_duplicate, 1);
    if (!was_open && c->cause == CAUSE_NONE && code != MK_ESTATE && code != MK_EBUSY)
        MK_MET_ADD(net, handshakes_failed, 1);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    (void)status;
    mk_transport_conn_close_handles(req->data);
}

/* The transport side of a close: flush, half-close, grace period. */
static void close_transport(mk_transport_conn *c, int st, bool graceful) {
    if (c->handles_closing) return;
    /* Frames corked before the close are written first (uv_write tries at
     * once), as they were when every frame was written when sent; then
     * close_notify can no longer overtake them. */
    if (st != CONN_CONNECTING && (c->cork_len || c->unflushed)) mk_transport_conn_flush(c, 0);
    if (c->handles_closing) return;
    /* Closed by a limit: nothing to flush for a peer we do not serve, and
     * its slot is free as soon as the handles are. */
    if (st == CONN_CONNECTING || c->net->stopping || c->cause != CAUSE_NONE) {
        mk_transport_conn_close_handles(c);
        return;
    }
    if (graceful && c->ssl && SSL_is_init_finished(c->ssl)) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
    }
    /* Flush what TLS still holds (close_notify, a handshake alert). */
    mk_transport_conn_flush(c, 0);
    if (c->handles_closing) return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        mk_transport_conn_close_handles(c);
        return;
    }
    mk_transport_conn_start_grace(c);
}

void mk_transport_conn_close_internal(mk_transport_conn *c, int code, const char *reason,
                                      bool graceful) {
    mk_transport *net = c->net;
    int st = mk_transport_conn_state(c);
    if (st >= CONN_CLOSING) return;
    mk_transport_conn_set_state(c, CONN_CLOSING);
    bool was_open = c->activated;
    count_close(c, code, was_open);

    char pid[9];
    mk_log(code == MK_ESTATE || code == MK_EBUSY ? MK_LOG_DEBUG : MK_LOG_INFO, "net",
           "close %s %s peer %s proto %s: %s (%s)", c->inbound ? "inbound" : "outbound", c->remote,
           c->peer_known || !c->inbound ? short_id(&c->peer, pid) : "?",
           c->proto ? c->proto->name : "?", reason, mk_strerror(code));

    mk_transport_keep *k = c->keep;
    c->keep = NULL;
    if (k && k->conn == c) k->conn = NULL;
    if (was_open && c->proto->ops.on_close)
        c->proto->ops.on_close(c, code, reason, c->proto->ops.ctx);
    complete_waiters(c, code, reason);
    /* Reconnect a kept peer unless the close was ours (the record was then
     * removed before) or the network stops. */
    if (k && !k->conn && !net->stopping && code != MK_ESTATE) mk_transport_keep_schedule(k);
    close_transport(c, st, graceful);
}

void mk_transport_conn_close_all(mk_transport *net) {
    for (mk_transport_conn *c = net->conns; c; c = c->next) {
        mk_transport_conn_close_internal(c, MK_ESTATE, "network stopping", false);
        mk_transport_conn_close_handles(c);
    }
}

void mk_transport_conn_close_proto(mk_transport *net, mk_transport_proto *proto) {
    for (mk_transport_keep *k = net->keeps, *next; k; k = next) {
        next = k->next;
        if (k->proto == proto) mk_transport_keep_remove(net, k);
    }
    /* Closing runs user callbacks, which may close other connections but
     * never free list nodes (that waits for the handle callbacks). */
    for (mk_transport_conn *c = net->conns; c; c = c->next)
        if (c->proto == proto && mk_transport_conn_state(c) < CONN_CLOSING)
            mk_transport_conn_close_internal(c, MK_ESTATE, "protocol unregistered", true);
}

/* ----- activation and duplicates -------------------------------------------- */

/* Does `fresh` win against `old` (same peer and protocol)? */
static bool fresh_wins(mk_transport *net, const mk_transport_conn *old,
                       const mk_transport_conn *fresh) {
    const mk_id *d_old = old->inbound ? &old->peer : &net->self;
    const mk_id *d_new = fresh->inbound ? &fresh->peer : &net->self;
    if (!mk_id_eq(d_old, d_new)) return mk_id_cmp(d_new, d_old) < 0;
    return true;
}

/* Resolve a duplicate of c; false when c lost (and is closing). */
static bool settle_duplicate(mk_transport_conn *c) {
    mk_transport *net = c->net;
    mk_transport_conn *old = mk_transport_conn_find_open(net, &c->peer, c->proto);
    if (!old) return true;
    if (!fresh_wins(net, old, c)) {
        /* Hand waiters and the keep record to the survivor. */
        while (c->waiters) {
            mk_transport_waiter *w = c->waiters;
            c->waiters = w->next;
            w->cb(old, 0, NULL, w->ctx);
            free(w);
        }
        if (c->keep && !old->keep) {
            old->keep = c->keep;
            old->keep->conn = old;
            c->keep = NULL;
        }
        mk_transport_conn_close_internal(
            c, MK_EBUSY, "duplicate connection to the same peer and protocol", true);
        return false;
    }
    if (old->keep && !c->keep) {
        c->keep = old->keep;
        c->keep->conn = c;
        old->keep = NULL;
    }
    mk_transport_conn_close_internal(
        old, MK_EBUSY, "replaced by another connection to the same peer and protocol", true);
    return true;
}

void mk_transport_conn_activate(mk_transport_conn *c) {
    mk_transport *net = c->net;
    if (!settle_duplicate(c)) return;
    c->activated = true;
    MK_MET_SUB(net, conns_pending, 1);
    MK_MET_ADD(net, conns_open, 1);
    if (c->inbound)
        MK_MET_ADD(net, conns_inbound, 1);
    else
        MK_MET_ADD(net, conns_outbound, 1);
    if (c->keep) c->keep->backoff_ms = net->cfg.reconnect_min_ms;
    c->last_rx_ms = c->last_tx_ms = mk_transport_now_ms(net);
    mk_transport_conn_start_ticks(c);
    char pid[9];
    mk_log(MK_LOG_DEBUG, "net", "open %s %s peer %s proto %s", c->inbound ? "inbound" : "outbound",
           c->remote, short_id(&c->peer, pid), c->proto->name);
    if (c->proto->ops.on_connect) c->proto->ops.on_connect(c, c->inbound, c->proto->ops.ctx);
    while (c->waiters && mk_transport_conn_state(c) == CONN_OPEN) {
        mk_transport_waiter *w = c->waiters;
        c->waiters = w->next;
        w->cb(c, 0, NULL, w->ctx);
        free(w);
    }
}

/* ----- public connection functions ------------------------------------------------ */

typedef struct close_job {
    mk_transport_conn *c;
    char reason[128];
} close_job;

static void close_local(mk_transport_conn *c, const char *reason) {
    if (c->keep) mk_transport_keep_remove(c->net, c->keep);
    mk_transport_conn_close_internal(c, MK_ESTATE, reason, true);
}

static void close_job_run(mk_transport *net, void *ctx, int status) {
    (void)net;
    close_job *j = ctx;
    if (status == 0) close_local(j->c, j->reason);
    mk_transport_conn_unref(j->c);
    free(j);
}

void mk_transport_conn_close(mk_transport_conn *c, const char *reason) {
    if (!c) return;
    if (!reason) reason = "closed locally";
    if (mk_transport_on_loop(c->net)) {
        close_local(c, reason);
        return;
    }
    close_job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->c = mk_transport_conn_ref(c);
    snprintf(j->reason, sizeof j->reason, "%s", reason);
    if (mk_transport_post_internal(c->net, close_job_run, j) < 0) {
        mk_transport_conn_unref(c);
        free(j);
    }
}

void mk_transport_conn_peer(const mk_transport_conn *c, mk_id *out) {
    *out = c->peer;
}

const char *mk_transport_conn_protocol(const mk_transport_conn *c) {
    return c->proto ? c->proto->name : "";
}

bool mk_transport_conn_inbound(const mk_transport_conn *c) {
    return c->inbound;
}

bool mk_transport_conn_is_open(const mk_transport_conn *c) {
    return mk_transport_conn_state(c) == CONN_OPEN;
}

const char *mk_transport_conn_remote_addr(const mk_transport_conn *c) {
    return c->remote;
}

mk_transport *mk_transport_conn_transport(const mk_transport_conn *c) {
    return c->net;
}

size_t mk_transport_conn_queued(const mk_transport_conn *c) {
    mk_transport *net = c->net;
    uv_mutex_lock(&net->mu);
    size_t n = c->out_bytes;
    uv_mutex_unlock(&net->mu);
    return n;
}

void mk_transport_conn_set_user(mk_transport_conn *c, void *user) {
    c->user = user;
}

void *mk_transport_conn_get_user(const mk_transport_conn *c) {
    return c->user;
}

/* ----- the exporter ------------------------------------------------------------------ */

#define EXPORT_MAX 1024
#define EXPORT_LABEL_MAX 64

typedef struct export_job {
    mk_transport_conn *c;
    char label[EXPORT_LABEL_MAX + 32];
    const void *context;
    size_t context_len;
    uint8_t *out;
    size_t len;
    int rc;
} export_job;

static void export_run(mk_transport *net, void *ctx) {
    (void)net;
    export_job *j = ctx;
    mk_transport_conn *c = j->c;
    if (!c->ssl || !SSL_is_init_finished(c->ssl) || !c->activated) {
        j->rc = MK_ESTATE;
        return;
    }
    ERR_clear_error();
    int ok = SSL_export_keying_material(c->ssl, j->out, j->len, j->label, strlen(j->label),
                                        j->context, j->context_len, j->context != NULL);
    j->rc = ok == 1 ? 0 : MK_ECRYPTO;
    ERR_clear_error();
}

int mk_transport_conn_export(mk_transport_conn *c, const char *label, const void *context,
                             size_t context_len, uint8_t *out, size_t len, mk_error *err) {
    if (!c || !label || !out || len == 0 || len > EXPORT_MAX)
        return mk_error_set(err, MK_EINVAL, "exporter: bad arguments (len 1..%d)", EXPORT_MAX);
    if (strlen(label) > EXPORT_LABEL_MAX)
        return mk_error_set(err, MK_EINVAL, "exporter: label longer than %d", EXPORT_LABEL_MAX);
    export_job j = {
        .c = c, .context = context, .context_len = context_len, .out = out, .len = len, .rc = 0};
    snprintf(j.label, sizeof j.label, "EXPORTER-mosaik-%s", label);
    int rc = mk_transport_call(c->net, export_run, &j);
    if (rc == 0) rc = j.rc;
    if (rc == MK_ESTATE) return mk_error_set(err, rc, "exporter: connection not open");
    if (rc < 0) return mk_error_set(err, rc, "exporter failed");
    return 0;
}
