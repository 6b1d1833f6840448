/*
 * net/conn.c — connections: TLS over libuv streams, framing, duplicates,
 * idle timeouts, keep-alive and reconnection.
 *
 * State machine (c->state, written only on the I/O thread):
 *
 *   outbound: CONNECTING --tcp--> HANDSHAKE --tls--> AWAIT_ACCEPT --frame 0--> OPEN
 *   inbound:                      HANDSHAKE --tls--> OPEN (sends the acceptance frame)
 *   any --close--> CLOSING --handles closed--> CLOSED (removed from net->conns)
 *
 * The listener sends an empty frame (length 0) as soon as its side of the
 * handshake completed, i.e. after it verified the dialer's certificate and
 * the ALPN (network id, protocol). The dialer only reports the connection
 * open when that frame arrives, so a dialer the listener refused never
 * believes it is connected. Later empty frames are keepalives: they count
 * as received traffic but are not delivered.
 *
 * Bytes: libuv reads go into the read BIO; SSL_do_handshake/SSL_read drive
 * TLS; plaintext goes through the frame decoder (mk_reader based) to the
 * protocol's on_frame. Everything TLS writes lands in the write BIO and is
 * flushed into one uv_write per flush. Each queued user frame is accounted
 * in out_bytes (under net->mu) until its uv_write completes; mk_net_conn_send
 * refuses with MK_EBUSY beyond max_send_queue and on_drain fires once the
 * queue falls below half.
 *
 * Duplicates: at most one open connection per (peer, protocol). When a
 * second one opens, the one dialed by the lower peer id wins (both ends
 * compute the same answer for a simultaneous dial); between two connections
 * dialed by the same node, the newer wins (the old one is probably dead).
 * The loser closes with MK_EBUSY; dial waiters and keep records move to the
 * winner.
 *
 * Timers: one uv_timer per connection serves as the handshake deadline,
 * then as a periodic idle tick (idle/4) which closes idle connections, or
 * for a kept connection on the dialer's side sends keepalives instead, then
 * as the grace period of a graceful close.
 *
 * Inbound limits: at most max_pending inbound handshakes at a time. When
 * the table is full, the *oldest* pending handshake is closed to admit the
 * newcomer (evict_oldest_pending), so idle sockets cannot lock real peers
 * out; each still dies at the handshake deadline. max_conns refuses.
 *
 * Keep records (reconnection): a kept (peer, protocol) redials after its
 * connection closed for a reason other than a local close or stop, after
 * backoff/2 + random(backoff/2) ms; backoff doubles up to reconnect_max_ms
 * and resets when a connection opens.
 *
 * Lifetime: the network's reference on a connection is dropped when both
 * of its handles closed; conn memory is valid through every libuv callback.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mosaik/log.h"
#include "net/net_internal.h"

#define CLOSE_GRACE_MS 1000

static void on_handle_closed(uv_handle_t *h);
static void on_timer(uv_timer_t *t);
static void drive(mk_net_conn *c);
static void keep_schedule(mk_net_keep *k);

static int conn_state(const mk_net_conn *c) {
    return atomic_load_explicit(&((mk_net_conn *)c)->state, memory_order_acquire);
}

static void set_state(mk_net_conn *c, int s) {
    atomic_store_explicit(&c->state, s, memory_order_release);
}

static uint64_t now_ms(mk_net *net) {
    return uv_now(&net->loop);
}

static const char *short_id(const mk_id *id, char buf[9]) {
    mk_id_short(id, buf);
    return buf;
}

/* ----- reference counting ------------------------------------------------- */

mk_net_conn *mk_net_conn_ref(mk_net_conn *c) {
    if (c) atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void mk_net_conn_unref(mk_net_conn *c) {
    if (!c) return;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
    if (c->ssl) SSL_free(c->ssl);
    mk_frame_decoder_free(&c->dec);
    while (c->waiters) {
        mk_net_waiter *w = c->waiters;
        c->waiters = w->next;
        free(w);
    }
    free(c);
}

/* ----- creation ----------------------------------------------------------- */

static mk_net_conn *conn_new(mk_net *net, bool inbound) {
    mk_net_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    atomic_init(&c->refs, 1);
    atomic_init(&c->state, inbound ? CONN_HANDSHAKE : CONN_CONNECTING);
    c->net = net;
    c->inbound = inbound;
    c->serial = ++net->next_serial;
    mk_frame_decoder_init(&c->dec, net->cfg.max_frame);
    uv_tcp_init(&net->loop, &c->tcp);
    uv_timer_init(&net->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->connect_req.data = c;
    c->shutdown_req.data = c;
    c->handles_open = 2;
    c->last_rx_ms = c->last_tx_ms = now_ms(net);
    c->next = net->conns;
    if (net->conns) net->conns->prev = c;
    net->conns = c;
    net->n_conns++;
    MK_MET_ADD(net, conns_pending, 1);
    return c;
}

static void set_max_frame(mk_net_conn *c) {
    c->dec.max = c->proto->max_frame;
    c->dec.body.max = c->proto->max_frame;
}

static void close_handles(mk_net_conn *c) {
    if (c->handles_closing) return;
    c->handles_closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_handle_closed(uv_handle_t *h) {
    mk_net_conn *c = h->data;
    if (--c->handles_open > 0) return;
    set_state(c, CONN_CLOSED);
    mk_net_conn_list_remove(c->net, c);
    mk_net_conn_unref(c);
}

void mk_net_conn_list_remove(mk_net *net, mk_net_conn *c) {
    if (c->prev)
        c->prev->next = c->next;
    else
        net->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    net->n_conns--;
}

/* ----- lookups ------------------------------------------------------------ */

mk_net_conn *mk_net_conn_find_open(mk_net *net, const mk_id *peer, const mk_net_proto *proto) {
    for (mk_net_conn *c = net->conns; c; c = c->next)
        if (c->activated && conn_state(c) == CONN_OPEN && c->proto == proto &&
            mk_id_eq(&c->peer, peer))
            return c;
    return NULL;
}

mk_net_conn *mk_net_conn_find_dialing(mk_net *net, const mk_id *peer, const mk_net_proto *proto) {
    for (mk_net_conn *c = net->conns; c; c = c->next)
        if (!c->inbound && !c->activated && conn_state(c) < CONN_CLOSING && c->proto == proto &&
            mk_id_eq(&c->peer, peer))
            return c;
    return NULL;
}

/* ----- writing ------------------------------------------------------------ */

typedef struct wreq {
    uv_write_t req;
    mk_net_conn *c;
    size_t plain;
    size_t len;
    uint8_t data[];
} wreq;

static void account_done(mk_net_conn *c, size_t plain) {
    if (!plain) return;
    mk_net *net = c->net;
    bool drain = false;
    uv_mutex_lock(&net->mu);
    c->out_bytes -= plain < c->out_bytes ? plain : c->out_bytes;
    if (c->want_drain && c->out_bytes <= net->cfg.max_send_queue / 2) {
        c->want_drain = false;
        drain = true;
    }
    uv_mutex_unlock(&net->mu);
    if (drain && conn_state(c) == CONN_OPEN && c->proto->ops.on_drain)
        c->proto->ops.on_drain(c, c->proto->ops.ctx);
}

static void on_write(uv_write_t *req, int status) {
    wreq *w = (wreq *)req;
    mk_net_conn *c = w->c;
    size_t plain = w->plain, len = w->len;
    free(w);
    if (status == 0) MK_MET_ADD(c->net, bytes_out, len);
    account_done(c, plain);
    if (status < 0 && status != UV_ECANCELED) {
        char why[128];
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
        mk_net_conn_close_internal(c, MK_ENETWORK, why, false);
    }
}

/* Move everything TLS produced to the socket; plain bytes are accounted
 * when this write completes. Returns 0 or a negative code (conn closed). */
static int flush(mk_net_conn *c, size_t plain) {
    BIO *wb = c->ssl ? SSL_get_wbio(c->ssl) : NULL;
    size_t pending = wb ? BIO_ctrl_pending(wb) : 0;
    if (pending == 0 || c->handles_closing) {
        if (pending) {
            /* Nowhere to write: discard. */
            uint8_t sink[4096];
            while (BIO_read(wb, sink, sizeof sink) > 0) {
            }
        }
        account_done(c, plain);
        return 0;
    }
    wreq *w = malloc(sizeof *w + pending);
    if (!w) {
        account_done(c, plain);
        mk_net_conn_close_internal(c, MK_ENOMEM, "out of memory", false);
        return MK_ENOMEM;
    }
    int n = BIO_read(wb, w->data, (int)pending);
    w->c = c;
    w->plain = plain;
    w->len = n > 0 ? (size_t)n : 0;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(w);
        account_done(c, plain);
        char why[128];
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(rc));
        mk_net_conn_close_internal(c, MK_ENETWORK, why, false);
        return MK_ENETWORK;
    }
    return 0;
}

static int tls_write(mk_net_conn *c, const void *data, size_t len, size_t plain) {
    ERR_clear_error();
    int r = SSL_write(c->ssl, data, (int)len);
    if (r <= 0 || (size_t)r != len) {
        char buf[300], why[400];
        mk_net_tls_errors(buf, sizeof buf);
        snprintf(why, sizeof why, "TLS write failed: %s", buf);
        account_done(c, plain);
        mk_net_conn_close_internal(c, MK_ENETWORK, why, false);
        return MK_ENETWORK;
    }
    c->last_tx_ms = now_ms(c->net);
    return flush(c, plain);
}

void mk_net_conn_send_framed(mk_net_conn *c, uint8_t *buf, size_t len, size_t plain) {
    if (conn_state(c) != CONN_OPEN) {
        free(buf);
        account_done(c, plain);
        return;
    }
    int rc = tls_write(c, buf, len, plain);
    free(buf);
    if (rc == 0) MK_MET_ADD(c->net, frames_out, 1);
}

int mk_net_conn_send_raw(mk_net_conn *c, const void *data, size_t len) {
    if (conn_state(c) != CONN_OPEN) return MK_ESTATE;
    return tls_write(c, data, len, 0);
}

static void send_empty_frame(mk_net_conn *c) {
    static const uint8_t zero[MK_FRAME_HDR] = {0, 0, 0, 0};
    tls_write(c, zero, sizeof zero, 0);
}

/* ----- closing ------------------------------------------------------------- */

static void complete_waiters(mk_net_conn *c, int code, const char *reason) {
    mk_net *net = c->net;
    while (c->waiters) {
        mk_net_waiter *w = c->waiters;
        c->waiters = w->next;
        mk_net_conn *alt = net->stopping ? NULL : mk_net_conn_find_open(net, &c->peer, c->proto);
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

static void on_shutdown(uv_shutdown_t *req, int status) {
    (void)status;
    close_handles(req->data);
}

void mk_net_conn_close_internal(mk_net_conn *c, int code, const char *reason, bool graceful) {
    mk_net *net = c->net;
    int st = conn_state(c);
    if (st >= CONN_CLOSING) return;
    set_state(c, CONN_CLOSING);
    bool was_open = c->activated;
    if (was_open)
        MK_MET_SUB(net, conns_open, 1);
    else
        MK_MET_SUB(net, conns_pending, 1);
    if (c->counted_pending_in) {
        c->counted_pending_in = false;
        net->n_pending_in--;
    }
    if (c->evicted)
        MK_MET_ADD(net, refused_limit, 1);
    else if (code == MK_ETOOBIG)
        MK_MET_ADD(net, closed_oversize, 1);
    else if (code == MK_EMALFORMED && was_open)
        MK_MET_ADD(net, closed_malformed, 1);
    else if (code == MK_ETIMEDOUT && was_open)
        MK_MET_ADD(net, closed_idle, 1);
    else if (code == MK_EBUSY)
        MK_MET_ADD(net, closed_duplicate, 1);
    if (!was_open && !c->evicted && code != MK_ESTATE && code != MK_EBUSY)
        MK_MET_ADD(net, handshakes_failed, 1);

    char pid[9];
    mk_log(code == MK_ESTATE || code == MK_EBUSY ? MK_LOG_DEBUG : MK_LOG_INFO, "net",
           "close %s %s peer %s proto %s: %s (%s)", c->inbound ? "inbound" : "outbound", c->remote,
           c->peer_known || !c->inbound ? short_id(&c->peer, pid) : "?",
           c->proto ? c->proto->name : "?", reason, mk_strerror(code));

    mk_net_keep *k = c->keep;
    c->keep = NULL;
    if (k && k->conn == c) k->conn = NULL;
    if (was_open && c->proto->ops.on_close)
        c->proto->ops.on_close(c, code, reason, c->proto->ops.ctx);
    complete_waiters(c, code, reason);
    /* Reconnect a kept peer unless the close was ours (the record was then
     * removed before) or the network stops. */
    if (k && !k->conn && !net->stopping && code != MK_ESTATE) keep_schedule(k);

    if (c->handles_closing) return;
    if (st == CONN_CONNECTING || net->stopping) {
        close_handles(c);
        return;
    }
    if (graceful && c->ssl && SSL_is_init_finished(c->ssl)) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
    }
    /* Flush what TLS still holds (close_notify, a handshake alert). */
    flush(c, 0);
    if (c->handles_closing) return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        close_handles(c);
        return;
    }
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_timer, CLOSE_GRACE_MS, 0);
}

void mk_net_conn_close_all(mk_net *net) {
    for (mk_net_conn *c = net->conns; c; c = c->next) {
        mk_net_conn_close_internal(c, MK_ESTATE, "network stopping", false);
        close_handles(c);
    }
}

/* ----- activation and duplicates -------------------------------------------- */

/* Does `fresh` win against `old` (same peer and protocol)? */
static bool fresh_wins(mk_net *net, const mk_net_conn *old, const mk_net_conn *fresh) {
    const mk_id *d_old = old->inbound ? &old->peer : &net->self;
    const mk_id *d_new = fresh->inbound ? &fresh->peer : &net->self;
    if (!mk_id_eq(d_old, d_new)) return mk_id_cmp(d_new, d_old) < 0;
    return true;
}

static void start_ticks(mk_net_conn *c) {
    uint32_t idle = c->net->cfg.idle_timeout_ms;
    uv_timer_stop(&c->timer);
    if (idle == MK_NET_NO_TIMEOUT) return;
    uint64_t tick = idle / 4;
    if (tick < 5) tick = 5;
    if (tick > 5000) tick = 5000;
    uv_timer_start(&c->timer, on_timer, tick, tick);
}

static void activate(mk_net_conn *c) {
    mk_net *net = c->net;
    mk_net_conn *old = mk_net_conn_find_open(net, &c->peer, c->proto);
    if (old) {
        if (!fresh_wins(net, old, c)) {
            /* Hand waiters and the keep record to the survivor. */
            while (c->waiters) {
                mk_net_waiter *w = c->waiters;
                c->waiters = w->next;
                w->cb(old, 0, NULL, w->ctx);
                free(w);
            }
            if (c->keep && !old->keep) {
                old->keep = c->keep;
                old->keep->conn = old;
                c->keep = NULL;
            }
            mk_net_conn_close_internal(c, MK_EBUSY,
                                       "duplicate connection to the same peer and protocol", true);
            return;
        }
        if (old->keep && !c->keep) {
            c->keep = old->keep;
            c->keep->conn = c;
            old->keep = NULL;
        }
        mk_net_conn_close_internal(
            old, MK_EBUSY, "replaced by another connection to the same peer and protocol", true);
    }
    c->activated = true;
    MK_MET_SUB(net, conns_pending, 1);
    MK_MET_ADD(net, conns_open, 1);
    if (c->inbound)
        MK_MET_ADD(net, conns_inbound, 1);
    else
        MK_MET_ADD(net, conns_outbound, 1);
    if (c->keep) c->keep->backoff_ms = net->cfg.reconnect_min_ms;
    c->last_rx_ms = c->last_tx_ms = now_ms(net);
    start_ticks(c);
    char pid[9];
    mk_log(MK_LOG_DEBUG, "net", "open %s %s peer %s proto %s", c->inbound ? "inbound" : "outbound",
           c->remote, short_id(&c->peer, pid), c->proto->name);
    if (c->proto->ops.on_connect) c->proto->ops.on_connect(c, c->inbound, c->proto->ops.ctx);
    while (c->waiters && conn_state(c) == CONN_OPEN) {
        mk_net_waiter *w = c->waiters;
        c->waiters = w->next;
        w->cb(c, 0, NULL, w->ctx);
        free(w);
    }
}

/* ----- reading -------------------------------------------------------------- */

static int on_frame(void *ctx, const uint8_t *data, size_t len) {
    mk_net_conn *c = ctx;
    c->last_rx_ms = now_ms(c->net);
    int st = conn_state(c);
    if (st == CONN_AWAIT_ACCEPT) {
        if (len != 0) {
            mk_net_conn_close_internal(c, MK_EMALFORMED,
                                       "protocol violation: expected the acceptance frame", false);
            return 1;
        }
        set_state(c, CONN_OPEN);
        activate(c);
        return conn_state(c) == CONN_OPEN ? 0 : 1;
    }
    if (st != CONN_OPEN) return 1;
    if (len == 0) return 0; /* keepalive */
    MK_MET_ADD(c->net, frames_in, 1);
    if (c->proto->ops.on_frame) c->proto->ops.on_frame(c, data, len, c->proto->ops.ctx);
    return conn_state(c) == CONN_OPEN ? 0 : 1;
}

static void handshake_failed(mk_net_conn *c) {
    char tls[300], why[600];
    int reason = mk_net_tls_errors(tls, sizeof tls);
    int code;
    if (c->fail_code) {
        code = c->fail_code;
        snprintf(why, sizeof why, "%s", c->fail_reason);
    } else if (reason == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL) {
        code = MK_EMISMATCH;
        snprintf(why, sizeof why,
                 "the peer refused the handshake: no matching ALPN (another network id, or "
                 "protocol not served)");
    } else {
        code = MK_ENETWORK;
        snprintf(why, sizeof why, "TLS handshake failed: %s", tls[0] ? tls : "unknown error");
    }
    /* The alert TLS queued is flushed by the close. */
    mk_net_conn_close_internal(c, code, why, false);
}

static int handshake_done(mk_net_conn *c) {
    mk_net *net = c->net;
    mk_error e;
    mk_error_clear(&e);
    mk_id id;
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    if (!c->peer_known || mk_net_cert_peer_id(cert, &id, &e) < 0 || !mk_id_eq(&id, &c->peer)) {
        mk_net_conn_close_internal(c, MK_EUNTRUSTED, "peer identity not established", false);
        return -1;
    }
    const unsigned char *sel = NULL;
    unsigned sl = 0;
    SSL_get0_alpn_selected(c->ssl, &sel, &sl);
    if (!c->proto || sl + 1 != c->proto->alpn_len || memcmp(sel, c->proto->alpn + 1, sl) != 0) {
        mk_net_conn_close_internal(c, MK_EMISMATCH, "ALPN was not negotiated", false);
        return -1;
    }
    set_max_frame(c);
    if (c->inbound) {
        if (c->counted_pending_in) {
            c->counted_pending_in = false;
            net->n_pending_in--;
        }
        set_state(c, CONN_OPEN);
        send_empty_frame(c); /* acceptance */
        if (conn_state(c) != CONN_OPEN) return -1;
        activate(c);
    } else {
        set_state(c, CONN_AWAIT_ACCEPT);
    }
    return conn_state(c) >= CONN_CLOSING ? -1 : 0;
}

static void drive(mk_net_conn *c) {
    ERR_clear_error();
    if (conn_state(c) == CONN_HANDSHAKE) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                flush(c, 0);
                return;
            }
            handshake_failed(c);
            return;
        }
        if (flush(c, 0) < 0) return;
        if (handshake_done(c) < 0) return;
    }
    uint8_t buf[16384];
    for (;;) {
        int st = conn_state(c);
        if (st != CONN_OPEN && st != CONN_AWAIT_ACCEPT) return;
        ERR_clear_error();
        int n = SSL_read(c->ssl, buf, sizeof buf);
        if (n > 0) {
            mk_error e;
            mk_error_clear(&e);
            int rc = mk_frame_decoder_feed(&c->dec, buf, (size_t)n, on_frame, c, &e);
            if (rc < 0) {
                char pid[9];
                mk_log(MK_LOG_WARN, "net", "peer %s proto %s: %s", short_id(&c->peer, pid),
                       c->proto->name, e.msg);
                mk_net_conn_close_internal(c, rc, e.msg, false);
                return;
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ) break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            if (!mk_frame_decoder_at_boundary(&c->dec)) {
                char why[128];
                snprintf(why, sizeof why, "peer closed mid-frame (%zu bytes of a frame pending)",
                         mk_frame_decoder_partial(&c->dec));
                mk_net_conn_close_internal(c, MK_EMALFORMED, why, true);
            } else {
                mk_net_conn_close_internal(c, MK_ENETWORK, "peer closed the connection", true);
            }
            return;
        }
        char tls[300], why[400];
        mk_net_tls_errors(tls, sizeof tls);
        snprintf(why, sizeof why, "TLS error: %s", tls[0] ? tls : "unknown");
        mk_net_conn_close_internal(c, MK_ENETWORK, why, false);
        return;
    }
    if (conn_state(c) < CONN_CLOSING) flush(c, 0);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)suggested;
    mk_net_conn *c = h->data;
    b->base = (char *)c->net->rbuf;
    b->len = sizeof c->net->rbuf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    mk_net_conn *c = s->data;
    if (nread == 0) return;
    int st = conn_state(c);
    if (st >= CONN_CLOSING) return;
    if (nread < 0) {
        char why[160];
        if (st == CONN_HANDSHAKE) {
            if (c->fail_code) {
                handshake_failed(c);
                return;
            }
            snprintf(why, sizeof why, "connection lost during the handshake: %s",
                     uv_strerror((int)nread));
            mk_net_conn_close_internal(c, MK_ENETWORK, why, false);
        } else if (!mk_frame_decoder_at_boundary(&c->dec)) {
            snprintf(why, sizeof why, "connection lost mid-frame (%zu bytes of a frame pending)",
                     mk_frame_decoder_partial(&c->dec));
            mk_net_conn_close_internal(c, MK_EMALFORMED, why, false);
        } else {
            snprintf(why, sizeof why, "peer closed the connection (%s)", uv_strerror((int)nread));
            mk_net_conn_close_internal(c, MK_ENETWORK, why, false);
        }
        return;
    }
    MK_MET_ADD(c->net, bytes_in, nread);
    BIO *rb = SSL_get_rbio(c->ssl);
    if (BIO_write(rb, b->base, (int)nread) != (int)nread) {
        mk_net_conn_close_internal(c, MK_ENOMEM, "TLS input buffer", false);
        return;
    }
    drive(c);
}

/* ----- timers ----------------------------------------------------------------- */

static void on_timer(uv_timer_t *t) {
    mk_net_conn *c = t->data;
    mk_net *net = c->net;
    int st = conn_state(c);
    char why[128];
    switch (st) {
    case CONN_CONNECTING:
    case CONN_HANDSHAKE:
    case CONN_AWAIT_ACCEPT:
        snprintf(why, sizeof why, "handshake timed out after %u ms", net->cfg.handshake_timeout_ms);
        mk_net_conn_close_internal(c, MK_ETIMEDOUT, why, false);
        return;
    case CONN_OPEN: {
        uint32_t idle = net->cfg.idle_timeout_ms;
        uint64_t now = now_ms(net);
        if (c->keep && !c->inbound) {
            if (now - c->last_tx_ms >= idle / 3) send_empty_frame(c);
            return;
        }
        uint64_t last = c->last_rx_ms > c->last_tx_ms ? c->last_rx_ms : c->last_tx_ms;
        if (now - last >= idle) {
            snprintf(why, sizeof why, "idle for %u ms", idle);
            mk_net_conn_close_internal(c, MK_ETIMEDOUT, why, true);
        }
        return;
    }
    default:
        close_handles(c); /* grace period of a graceful close is over */
        return;
    }
}

/* ----- dialing and accepting ---------------------------------------------------- */

static void on_connected(uv_connect_t *req, int status) {
    mk_net_conn *c = req->data;
    if (status == UV_ECANCELED || conn_state(c) != CONN_CONNECTING) return;
    char why[200];
    if (status < 0) {
        snprintf(why, sizeof why, "connect to %s: %s", c->remote, uv_strerror(status));
        mk_net_conn_close_internal(c, MK_ENETWORK, why, false);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    mk_error e;
    mk_error_clear(&e);
    if (mk_net_tls_new(c->net, c, true, &e) < 0) {
        mk_net_conn_close_internal(c, e.code, e.msg, false);
        return;
    }
    set_state(c, CONN_HANDSHAKE);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
    drive(c);
}

int mk_net_conn_dial_start(mk_net *net, const mk_id *peer, mk_net_proto *proto,
                           const struct sockaddr *addr, const char *addr_str, mk_net_keep *keep,
                           mk_net_waiter *waiter) {
    if (net->n_conns >= net->cfg.max_conns) return MK_EBUSY;
    mk_net_conn *c = conn_new(net, false);
    if (!c) return MK_ENOMEM;
    c->peer = *peer;
    c->proto = proto;
    set_max_frame(c);
    snprintf(c->remote, sizeof c->remote, "%s", addr_str);
    if (keep) {
        c->keep = keep;
        keep->conn = c;
    }
    if (waiter) {
        waiter->next = c->waiters;
        c->waiters = waiter;
    }
    uv_timer_start(&c->timer, on_timer, net->cfg.handshake_timeout_ms, 0);
    int rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connected);
    if (rc < 0) {
        char why[200];
        snprintf(why, sizeof why, "connect to %s: %s", addr_str, uv_strerror(rc));
        mk_net_conn_close_internal(c, MK_ENETWORK, why, false);
    }
    return 0;
}

static void free_handle(uv_handle_t *h) {
    free(h);
}

/* The pending-handshake table is full: close the oldest inbound handshake
 * (smallest serial) so a newcomer always gets a slot. Idle sockets that
 * never speak TLS therefore cannot lock real peers out; they only shorten
 * each other's lives. Returns false if there is nothing to evict. */
static bool evict_oldest_pending(mk_net *net) {
    mk_net_conn *old = NULL;
    for (mk_net_conn *c = net->conns; c; c = c->next)
        if (c->counted_pending_in && conn_state(c) < CONN_CLOSING &&
            (!old || c->serial < old->serial))
            old = c;
    if (!old) return false;
    old->evicted = true;
    mk_log(MK_LOG_WARN, "net", "dropped the oldest pending handshake (%s): %u pending", old->remote,
           (unsigned)net->n_pending_in);
    mk_net_conn_close_internal(old, MK_EBUSY, "too many pending handshakes (oldest dropped)",
                               false);
    return true;
}

void mk_net_conn_accept(mk_net *net) {
    if (net->n_pending_in >= net->cfg.max_pending && net->n_conns < net->cfg.max_conns)
        evict_oldest_pending(net);
    if (net->n_pending_in >= net->cfg.max_pending || net->n_conns >= net->cfg.max_conns) {
        uv_tcp_t *tmp = malloc(sizeof *tmp);
        if (!tmp) return;
        uv_tcp_init(&net->loop, tmp);
        uv_accept((uv_stream_t *)&net->listener, (uv_stream_t *)tmp);
        uv_close((uv_handle_t *)tmp, free_handle);
        MK_MET_ADD(net, refused_limit, 1);
        mk_log(MK_LOG_WARN, "net", "refused an inbound connection: %s",
               net->n_pending_in >= net->cfg.max_pending ? "too many pending handshakes"
                                                         : "too many connections");
        return;
    }
    mk_net_conn *c = conn_new(net, true);
    if (!c) return;
    if (uv_accept((uv_stream_t *)&net->listener, (uv_stream_t *)&c->tcp) != 0) {
        mk_net_conn_close_internal(c, MK_ENETWORK, "accept failed", false);
        close_handles(c);
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        mk_net_addr_format((const struct sockaddr *)&ss, c->remote, sizeof c->remote);
    c->counted_pending_in = true;
    net->n_pending_in++;
    uv_tcp_nodelay(&c->tcp, 1);
    mk_error e;
    mk_error_clear(&e);
    if (mk_net_tls_new(net, c, false, &e) < 0) {
        mk_net_conn_close_internal(c, e.code, e.msg, false);
        return;
    }
    uv_timer_start(&c->timer, on_timer, net->cfg.handshake_timeout_ms, 0);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}

/* ----- keep records ------------------------------------------------------------ */

static void on_keep_timer(uv_timer_t *t) {
    mk_net_keep *k = t->data;
    mk_net *net = k->net;
    if (k->conn || net->stopping) return;
    MK_MET_ADD(net, reconnects, 1);
    mk_net_conn *o = mk_net_conn_find_open(net, &k->peer, k->proto);
    if (!o) o = mk_net_conn_find_dialing(net, &k->peer, k->proto);
    if (o) {
        if (!o->keep) {
            o->keep = k;
            k->conn = o;
        }
        return;
    }
    if (mk_net_conn_dial_start(net, &k->peer, k->proto, (const struct sockaddr *)&k->addr,
                               k->addr_str, k, NULL) < 0)
        keep_schedule(k);
}

static void keep_schedule(mk_net_keep *k) {
    mk_net *net = k->net;
    uint32_t b = k->backoff_ms ? k->backoff_ms : 1;
    uint64_t delay = b / 2 + mk_random_below((uint64_t)b / 2 + 1);
    uint64_t next = (uint64_t)b * 2;
    k->backoff_ms = next > net->cfg.reconnect_max_ms ? net->cfg.reconnect_max_ms : (uint32_t)next;
    uv_timer_start(&k->timer, on_keep_timer, delay, 0);
}

mk_net_keep *mk_net_keep_find(mk_net *net, const mk_id *peer, const mk_net_proto *proto) {
    for (mk_net_keep *k = net->keeps; k; k = k->next)
        if (k->proto == proto && mk_id_eq(&k->peer, peer)) return k;
    return NULL;
}

mk_net_keep *mk_net_keep_get(mk_net *net, const mk_id *peer, mk_net_proto *proto,
                             const struct sockaddr *addr, const char *addr_str) {
    mk_net_keep *k = mk_net_keep_find(net, peer, proto);
    if (!k) {
        k = calloc(1, sizeof *k);
        if (!k) return NULL;
        k->net = net;
        k->peer = *peer;
        k->proto = proto;
        k->backoff_ms = net->cfg.reconnect_min_ms;
        uv_timer_init(&net->loop, &k->timer);
        k->timer.data = k;
        k->next = net->keeps;
        net->keeps = k;
    }
    size_t alen =
        addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memcpy(&k->addr, addr, alen);
    snprintf(k->addr_str, sizeof k->addr_str, "%s", addr_str);
    return k;
}

static void free_keep(uv_handle_t *h) {
    free(h->data);
}

void mk_net_keep_remove(mk_net *net, mk_net_keep *k) {
    for (mk_net_keep **pp = &net->keeps; *pp; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    }
    if (k->conn) k->conn->keep = NULL;
    k->conn = NULL;
    uv_close((uv_handle_t *)&k->timer, free_keep);
}

/* ----- public connection functions ------------------------------------------------ */

typedef struct send_job {
    mk_net_conn *c;
    uint8_t *buf;
    size_t len;
} send_job;

static void send_job_run(mk_net *net, void *ctx, int status) {
    (void)net;
    send_job *j = ctx;
    if (status == 0) {
        mk_net_conn_send_framed(j->c, j->buf, j->len, j->len);
    } else {
        free(j->buf);
        account_done(j->c, j->len);
    }
    mk_net_conn_unref(j->c);
    free(j);
}

int mk_net_conn_send(mk_net_conn *c, const void *data, size_t len) {
    if (!c || !data || len == 0) return MK_EINVAL;
    if (len > c->proto->max_frame) return MK_ETOOBIG;
    mk_net *net = c->net;
    size_t plain = len + MK_FRAME_HDR;
    uv_mutex_lock(&net->mu);
    if (conn_state(c) != CONN_OPEN || atomic_load(&net->state) != NET_RUNNING) {
        uv_mutex_unlock(&net->mu);
        return MK_ESTATE;
    }
    if (c->out_bytes && c->out_bytes + plain > net->cfg.max_send_queue) {
        c->want_drain = true;
        uv_mutex_unlock(&net->mu);
        MK_MET_ADD(net, send_busy, 1);
        return MK_EBUSY;
    }
    c->out_bytes += plain;
    uv_mutex_unlock(&net->mu);
    uint8_t *buf = malloc(plain);
    send_job *j = mk_net_on_loop(net) ? NULL : malloc(sizeof *j);
    if (!buf || (!j && !mk_net_on_loop(net))) {
        free(buf);
        free(j);
        account_done(c, plain);
        return MK_ENOMEM;
    }
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    memcpy(buf + MK_FRAME_HDR, data, len);
    if (!j) {
        mk_net_conn_send_framed(c, buf, plain, plain);
        return 0;
    }
    j->c = mk_net_conn_ref(c);
    j->buf = buf;
    j->len = plain;
    int rc = mk_net_post_internal(net, send_job_run, j);
    if (rc < 0) {
        free(buf);
        mk_net_conn_unref(c);
        free(j);
        account_done(c, plain);
    }
    return rc;
}

typedef struct close_job {
    mk_net_conn *c;
    char reason[128];
} close_job;

static void close_local(mk_net_conn *c, const char *reason) {
    if (c->keep) mk_net_keep_remove(c->net, c->keep);
    mk_net_conn_close_internal(c, MK_ESTATE, reason, true);
}

static void close_job_run(mk_net *net, void *ctx, int status) {
    (void)net;
    close_job *j = ctx;
    if (status == 0) close_local(j->c, j->reason);
    mk_net_conn_unref(j->c);
    free(j);
}

void mk_net_conn_close(mk_net_conn *c, const char *reason) {
    if (!c) return;
    if (!reason) reason = "closed locally";
    if (mk_net_on_loop(c->net)) {
        close_local(c, reason);
        return;
    }
    close_job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->c = mk_net_conn_ref(c);
    snprintf(j->reason, sizeof j->reason, "%s", reason);
    if (mk_net_post_internal(c->net, close_job_run, j) < 0) {
        mk_net_conn_unref(c);
        free(j);
    }
}

void mk_net_conn_peer(const mk_net_conn *c, mk_id *out) {
    *out = c->peer;
}

const char *mk_net_conn_protocol(const mk_net_conn *c) {
    return c->proto ? c->proto->name : "";
}

bool mk_net_conn_inbound(const mk_net_conn *c) {
    return c->inbound;
}

bool mk_net_conn_is_open(const mk_net_conn *c) {
    return conn_state(c) == CONN_OPEN;
}

const char *mk_net_conn_remote_addr(const mk_net_conn *c) {
    return c->remote;
}

mk_net *mk_net_conn_net(const mk_net_conn *c) {
    return c->net;
}

size_t mk_net_conn_queued(const mk_net_conn *c) {
    mk_net *net = c->net;
    uv_mutex_lock(&net->mu);
    size_t n = c->out_bytes;
    uv_mutex_unlock(&net->mu);
    return n;
}

void mk_net_conn_set_user(mk_net_conn *c, void *user) {
    c->user = user;
}

void *mk_net_conn_get_user(const mk_net_conn *c) {
    return c->user;
}

#define EXPORT_MAX 1024
#define EXPORT_LABEL_MAX 64

typedef struct export_job {
    mk_net_conn *c;
    char label[EXPORT_LABEL_MAX + 32];
    const void *context;
    size_t context_len;
    uint8_t *out;
    size_t len;
    int rc;
} export_job;

static void export_run(mk_net *net, void *ctx) {
    (void)net;
    export_job *j = ctx;
    mk_net_conn *c = j->c;
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

int mk_net_conn_export(mk_net_conn *c, const char *label, const void *context, size_t context_len,
                       uint8_t *out, size_t len, mk_error *err) {
    if (!c || !label || !out || len == 0 || len > EXPORT_MAX)
        return mk_error_set(err, MK_EINVAL, "exporter: bad arguments (len 1..%d)", EXPORT_MAX);
    if (strlen(label) > EXPORT_LABEL_MAX)
        return mk_error_set(err, MK_EINVAL, "exporter: label longer than %d", EXPORT_LABEL_MAX);
    export_job j = {
        .c = c, .context = context, .context_len = context_len, .out = out, .len = len, .rc = 0};
    snprintf(j.label, sizeof j.label, "EXPORTER-mosaik-%s", label);
    int rc = mk_net_call(c->net, export_run, &j);
    if (rc == 0) rc = j.rc;
    if (rc == MK_ESTATE) return mk_error_set(err, rc, "exporter: connection not open");
    if (rc < 0) return mk_error_set(err, rc, "exporter failed");
    return 0;
}
