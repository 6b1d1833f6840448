/*
 * net/conn_tls.c — TLS I/O of a connection: reading the socket, driving the
 * handshake and its outcome, decrypting into the frame decoder, writing
 * what TLS produced, and accounting the send queue.
 *
 * Bytes in: libuv reads (into the network's one 64 KiB read buffer) go
 * into the read BIO; drive() runs SSL_do_handshake while handshaking, then
 * SSL_read in a loop, feeding plaintext to the frame decoder (mk_reader
 * based, frame.c), whose callback is conn_frame.c's. OpenSSL never touches
 * a socket (tls.c gives each SSL two memory BIOs).
 *
 * Bytes out: everything TLS writes lands in the write BIO and is flushed
 * into one uv_write per flush; a flush first seals the frames corked on
 * the connection (conn_frame.c) and takes over their send-queue bytes
 * (c->unflushed), so nothing corked can be overtaken. While libuv has
 * nothing queued, a flush writes at once (uv_try_write, staged in the
 * network's read buffer, which is free between callbacks) and queues only
 * what the socket did not take; bytes written at once are accounted done
 * in the check phase (mk_transport_flush_corked), so on_drain never runs
 * from within a send. Each queued user frame is accounted in
 * out_bytes (under net->mu) from mk_transport_conn_send until its uv_write
 * completes (or it is dropped); mk_transport_conn_send refuses with MK_EBUSY
 * beyond max_send_queue and on_drain fires once the queue falls below half.
 *
 * Handshake outcome: when TLS completes, the certificate callback (tls.c)
 * has set the peer id and ALPN has chosen the protocol; both are checked
 * again here. The listener then asks the connection limits (dial.c,
 * mk_transport_conn_admit_inbound: max_conns, max_conns_per_addr, ranks), and
 * once admitted sends the acceptance frame and is open;
 * the dialer waits for it (AWAIT_ACCEPT). A failed handshake is explained
 * by the reason the TLS callbacks stored on the connection, by the alert
 * (no matching ALPN), or by OpenSSL's error queue.
 *
 * Invariant: every failure path ends in mk_transport_conn_close_internal, after
 * which nothing here touches the connection but the accounting of writes
 * still in flight.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mosaik/log.h"
#include "net/net_internal.h"

/* ----- writing ------------------------------------------------------------ */

typedef struct wreq {
    uv_write_t req;
    mk_transport_conn *c;
    size_t plain;
    size_t len;
    uint8_t data[];
} wreq;

void mk_transport_conn_account_done(mk_transport_conn *c, size_t plain) {
    if (!plain) return;
    mk_transport *net = c->net;
    bool drain = false;
    uv_mutex_lock(&net->mu);
    c->out_bytes -= plain < c->out_bytes ? plain : c->out_bytes;
    if (c->want_drain && c->out_bytes <= net->cfg.max_send_queue / 2) {
        c->want_drain = false;
        drain = true;
    }
    uv_mutex_unlock(&net->mu);
    if (drain && mk_transport_conn_state(c) == CONN_OPEN && c->proto->ops.on_drain)
        c->proto->ops.on_drain(c, c->proto->ops.ctx);
}

static void close_write_failed(mk_transport_conn *c, int uv_status) {
    char why[128];
    snprintf(why, sizeof why, "write failed: %s", uv_strerror(uv_status));
    mk_transport_conn_close_internal(c, MK_ENETWORK, why, false);
}

static void on_write(uv_write_t *req, int status) {
    wreq *w = (wreq *)req;
    mk_transport_conn *c = w->c;
    size_t plain = w->plain, len = w->len;
    free(w);
    if (status == 0) MK_MET_ADD(c->net, bytes_out, len);
    mk_transport_conn_account_done(c, plain);
    if (status < 0 && status != UV_ECANCELED) close_write_failed(c, status);
}

/* Queue `carry` bytes at `at` and the rest of the write BIO (pending
 * bytes) as one uv_write; its `plain` bytes are done when it completes. */
static int write_queued(mk_transport_conn *c, BIO *wb, const uint8_t *at, size_t carry,
                        size_t pending, size_t plain) {
    wreq *w = malloc(sizeof *w + carry + pending);
    if (!w) {
        mk_transport_conn_account_done(c, plain);
        mk_transport_conn_close_internal(c, MK_ENOMEM, "out of memory", false);
        return MK_ENOMEM;
    }
    if (carry) memcpy(w->data, at, carry);
    int n = pending ? BIO_read(wb, w->data + carry, (int)pending) : 0;
    w->c = c;
    w->plain = plain;
    w->len = carry + (n > 0 ? (size_t)n : 0);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(w);
        mk_transport_conn_account_done(c, plain);
        close_write_failed(c, rc);
        return MK_ENETWORK;
    }
    return 0;
}

int mk_transport_conn_flush(mk_transport_conn *c, size_t plain) {
    mk_transport *net = c->net;
    BIO *wb = c->ssl ? SSL_get_wbio(c->ssl) : NULL;
    if (c->handles_closing) c->cork_len = 0;
    if (c->cork_len && mk_transport_conn_cork_seal(c) < 0) {
        mk_transport_conn_account_done(c, plain);
        return MK_ENETWORK;
    }
    plain += c->unflushed;
    c->unflushed = 0;
    size_t pending = wb ? BIO_ctrl_pending(wb) : 0;
    if (pending == 0 || c->handles_closing) {
        if (pending) {
            /* Nowhere to write: discard. */
            uint8_t sink[4096];
            while (BIO_read(wb, sink, sizeof sink) > 0) {
            }
        }
        mk_transport_conn_account_done(c, plain);
        return 0;
    }
    /* Straight to the socket while it takes the bytes (nothing queued in
     * libuv), staged in the read buffer, which is free between callbacks. */
    size_t done = 0, carry = 0, off = 0;
    while (pending > 0 && carry == 0) {
        size_t want = pending < sizeof net->rbuf ? pending : sizeof net->rbuf;
        int n = BIO_read(wb, net->rbuf, (int)want);
        if (n <= 0) break;
        pending -= (size_t)n;
        uv_buf_t b = uv_buf_init((char *)net->rbuf, (unsigned)n);
        int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (r < 0 && r != UV_EAGAIN) {
            MK_MET_ADD(net, bytes_out, done);
            mk_transport_conn_account_done(c, plain);
            close_write_failed(c, r);
            return MK_ENETWORK;
        }
        off = r > 0 ? (size_t)r : 0;
        done += off;
        carry = (size_t)n - off;
    }
    MK_MET_ADD(net, bytes_out, done);
    if (carry || pending) return write_queued(c, wb, net->rbuf + off, carry, pending, plain);
    /* All written: accounted in the check phase, not from within a send
     * (on_drain may send). */
    c->written_plain += plain;
    if (plain) mk_transport_conn_cork_schedule(c);
    return 0;
}

int mk_transport_conn_tls_write_only(mk_transport_conn *c, const void *data, size_t len) {
    ERR_clear_error();
    int r = SSL_write(c->ssl, data, (int)len);
    if (r <= 0 || (size_t)r != len) {
        char buf[300], why[400];
        mk_transport_tls_errors(buf, sizeof buf);
        snprintf(why, sizeof why, "TLS write failed: %s", buf);
        mk_transport_conn_close_internal(c, MK_ENETWORK, why, false);
        return MK_ENETWORK;
    }
    return 0;
}

int mk_transport_conn_tls_write(mk_transport_conn *c, const void *data, size_t len, size_t plain) {
    int rc = mk_transport_conn_cork_seal(c);
    if (rc == 0) rc = mk_transport_conn_tls_write_only(c, data, len);
    if (rc < 0) {
        mk_transport_conn_account_done(c, plain);
        return rc;
    }
    c->last_tx_ms = mk_transport_now_ms(c->net);
    return mk_transport_conn_flush(c, plain);
}

/* ----- the handshake -------------------------------------------------------- */

static void handshake_failed(mk_transport_conn *c) {
    char tls[300], why[600];
    int reason = mk_transport_tls_errors(tls, sizeof tls);
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
    mk_transport_conn_close_internal(c, code, why, false);
}

static int handshake_done(mk_transport_conn *c) {
    mk_transport *net = c->net;
    mk_error e;
    mk_error_clear(&e);
    mk_id id;
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    if (!c->peer_known || mk_transport_cert_peer_id(cert, &id, &e) < 0 ||
        !mk_id_eq(&id, &c->peer)) {
        mk_transport_conn_close_internal(c, MK_EUNTRUSTED, "peer identity not established", false);
        return -1;
    }
    const unsigned char *sel = NULL;
    unsigned sl = 0;
    SSL_get0_alpn_selected(c->ssl, &sel, &sl);
    if (!c->proto || sl + 1 != c->proto->alpn_len || memcmp(sel, c->proto->alpn + 1, sl) != 0) {
        mk_transport_conn_close_internal(c, MK_EMISMATCH, "ALPN was not negotiated", false);
        return -1;
    }
    mk_transport_conn_set_max_frame(c);
    if (c->inbound) {
        if (c->counted_pending_in) {
            c->counted_pending_in = false;
            net->n_pending_in--;
        }
        if (!mk_transport_conn_admit_inbound(c)) return -1;
        mk_transport_conn_set_state(c, CONN_OPEN);
        mk_transport_conn_send_empty_frame(c); /* acceptance */
        if (mk_transport_conn_state(c) != CONN_OPEN) return -1;
        mk_transport_conn_activate(c);
    } else {
        mk_transport_conn_set_state(c, CONN_AWAIT_ACCEPT);
    }
    return mk_transport_conn_state(c) >= CONN_CLOSING ? -1 : 0;
}

/* Advance the handshake; 0 when it completed and data may be read. */
static int drive_handshake(mk_transport_conn *c) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            mk_transport_conn_flush(c, 0);
        else
            handshake_failed(c);
        return -1;
    }
    if (mk_transport_conn_flush(c, 0) < 0) return -1;
    return handshake_done(c);
}

/* ----- reading -------------------------------------------------------------- */

/* SSL_read failed with SSL error e (not WANT_READ): the peer closed, or a
 * TLS error. */
static void read_ended(mk_transport_conn *c, int e) {
    if (e == SSL_ERROR_ZERO_RETURN) {
        if (!mk_frame_decoder_at_boundary(&c->dec)) {
            char why[128];
            snprintf(why, sizeof why, "peer closed mid-frame (%zu bytes of a frame pending)",
                     mk_frame_decoder_partial(&c->dec));
            mk_transport_conn_close_internal(c, MK_EMALFORMED, why, true);
        } else {
            mk_transport_conn_close_internal(c, MK_ENETWORK, "peer closed the connection", true);
        }
        return;
    }
    char tls[300], why[400];
    mk_transport_tls_errors(tls, sizeof tls);
    snprintf(why, sizeof why, "TLS error: %s", tls[0] ? tls : "unknown");
    mk_transport_conn_close_internal(c, MK_ENETWORK, why, false);
}

void mk_transport_conn_drive(mk_transport_conn *c) {
    ERR_clear_error();
    if (mk_transport_conn_state(c) == CONN_HANDSHAKE && drive_handshake(c) < 0) return;
    uint8_t buf[16384];
    for (;;) {
        int st = mk_transport_conn_state(c);
        if (st != CONN_OPEN && st != CONN_AWAIT_ACCEPT) return;
        ERR_clear_error();
        int n = SSL_read(c->ssl, buf, sizeof buf);
        if (n > 0) {
            mk_error e;
            mk_error_clear(&e);
            int rc =
                mk_frame_decoder_feed(&c->dec, buf, (size_t)n, mk_transport_conn_on_frame, c, &e);
            MK_MET_SET(c->net, partial_bytes, c->net->budget.used);
            if (rc < 0) {
                char pid[9];
                mk_id_short(&c->peer, pid);
                mk_log(MK_LOG_WARN, "net", "peer %s proto %s: %s", pid, c->proto->name, e.msg);
                mk_transport_conn_close_internal(c, rc, e.msg, false);
                return;
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ) break;
        read_ended(c, e);
        return;
    }
    if (mk_transport_conn_state(c) < CONN_CLOSING) mk_transport_conn_flush(c, 0);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)suggested;
    mk_transport_conn *c = h->data;
    b->base = (char *)c->net->rbuf;
    b->len = sizeof c->net->rbuf;
}

/* The socket failed or reached EOF (nread < 0). */
static void read_failed(mk_transport_conn *c, int st, ssize_t nread) {
    char why[160];
    if (st == CONN_HANDSHAKE) {
        if (c->fail_code) {
            handshake_failed(c);
            return;
        }
        snprintf(why, sizeof why, "connection lost during the handshake: %s",
                 uv_strerror((int)nread));
        mk_transport_conn_close_internal(c, MK_ENETWORK, why, false);
    } else if (!mk_frame_decoder_at_boundary(&c->dec)) {
        snprintf(why, sizeof why, "connection lost mid-frame (%zu bytes of a frame pending)",
                 mk_frame_decoder_partial(&c->dec));
        mk_transport_conn_close_internal(c, MK_EMALFORMED, why, false);
    } else {
        snprintf(why, sizeof why, "peer closed the connection (%s)", uv_strerror((int)nread));
        mk_transport_conn_close_internal(c, MK_ENETWORK, why, false);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    mk_transport_conn *c = s->data;
    if (nread == 0) return;
    int st = mk_transport_conn_state(c);
    if (st >= CONN_CLOSING) return;
    if (nread < 0) {
        read_failed(c, st, nread);
        return;
    }
    MK_MET_ADD(c->net, bytes_in, nread);
    BIO *rb = SSL_get_rbio(c->ssl);
    if (BIO_write(rb, b->base, (int)nread) != (int)nread) {
        mk_transport_conn_close_internal(c, MK_ENOMEM, "TLS input buffer", false);
        return;
    }
    mk_transport_conn_drive(c);
}

void mk_transport_conn_read_start(mk_transport_conn *c) {
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}
