/*
 * discovery/transport.c — discovery on the mk_transport: the protocol callbacks,
 * the table of open connections, and outgoing messages.
 *
 * Protocol "discovery" (frames of at most MK_DISC_MAX_FRAME, ctx = the
 * mk_network). on_connect/on_close keep a table of the open connections,
 * one reference each, so a frame to a connected peer is sent at once,
 * whichever side dialed. on_frame decodes one message (wire.c): announces
 * go to gossip.c, digests to sync.c; an undecodable message is refused
 * (counted) and closes that connection.
 *
 * Outgoing messages. Frames for a peer are collected in an mk_disc_out
 * (each length-prefixed, our own data) and handed to mk_disc_send_to on
 * the loop, which sends them on the open connection if there is one; else,
 * if a dial to that peer is in progress, appends them to it (up to 4 MiB);
 * else dials (mk_transport_dial, which reuses an open connection; no keep: idle
 * connections time out in the transport), unless max_dials are outstanding:
 * then they are dropped and counted, gossip being best effort and sync
 * repairing. The dial's completion sends what accumulated, or counts a
 * failed dial. Departure frames are counted in the message so that
 * mk_network_close can wait for them to be sent or dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "discovery/disc_internal.h"
#include "mosaik/log.h"

#define OUT_MAX ((size_t)4 << 20) /* bytes coalesced behind one pending dial */

/* ----- outgoing messages ----------------------------------------------------- */

mk_disc_out *mk_disc_out_new(mk_network *nw) {
    mk_disc_out *om = calloc(1, sizeof *om);
    if (!om) return NULL;
    om->nw = nw;
    mk_buf_init(&om->frames, OUT_MAX);
    return om;
}

void mk_disc_out_free(mk_disc_out *om) {
    mk_buf_free(&om->frames);
    free(om);
}

int mk_disc_frames_add(mk_buf *frames, const mk_buf *frame) {
    MK_TRY(mk_buf_append_u32be(frames, (uint32_t)frame->len));
    return mk_buf_append(frames, frame->data, frame->len);
}

int mk_disc_out_add(mk_disc_out *om, const mk_buf *frame) {
    return mk_disc_frames_add(&om->frames, frame);
}

size_t mk_disc_out_send(const mk_buf *frames, mk_transport_conn *conn) {
    mk_reader r;
    mk_reader_init(&r, frames->data, frames->len);
    size_t sent = 0;
    uint32_t len;
    const uint8_t *p;
    while (mk_read_u32be(&r, &len) == 0 && mk_read_view(&r, len, &p) == 0) {
        if (mk_transport_conn_send(conn, p, len) < 0) break;
        sent++;
    }
    return sent;
}

void mk_disc_depart_done(mk_network *nw, int n) {
    if (n <= 0) return;
    pthread_mutex_lock(&nw->mu);
    nw->depart_pending -= n;
    pthread_cond_broadcast(&nw->cond);
    pthread_mutex_unlock(&nw->mu);
}

/* Done with om (sent or dropped). */
static void out_done(mk_disc_out *om) {
    mk_disc_depart_done(om->nw, om->departures);
    mk_disc_out_free(om);
}

/* Loop only: an open connection to peer, or NULL. The table holds one
 * reference per connection between on_connect and on_close. */
static mk_transport_conn *conn_find(mk_network *nw, const mk_id *peer) {
    for (size_t i = 0; i < nw->n_conns; i++)
        if (mk_id_eq(&nw->conns[i].peer, peer) && mk_transport_conn_is_open(nw->conns[i].conn))
            return nw->conns[i].conn;
    return NULL;
}

static void pending_unlink(mk_network *nw, mk_disc_out *om) {
    for (mk_disc_out **pp = &nw->pending; *pp; pp = &(*pp)->next) {
        if (*pp == om) {
            *pp = om->next;
            om->next = NULL;
            return;
        }
    }
}

static void count_locked_add(mk_network *nw, uint64_t *counter) {
    pthread_mutex_lock(&nw->mu);
    (*counter)++;
    pthread_mutex_unlock(&nw->mu);
}

static void dial_cb(mk_transport_conn *conn, int status, const mk_error *err, void *ctx) {
    mk_disc_out *om = ctx;
    mk_network *nw = om->nw;
    nw->dials_out--;
    pending_unlink(nw, om);
    if (status == 0 && conn) {
        mk_disc_out_send(&om->frames, conn);
    } else {
        count_locked_add(nw, &nw->met.dials_failed);
        mk_log(MK_LOG_DEBUG, MK_DISC_LOG, "dial failed: %s", err ? err->msg : mk_strerror(status));
    }
    out_done(om);
}

/* Frames for a peer being dialed ride along with that dial. */
static bool ride_pending(mk_network *nw, const mk_id *peer, mk_disc_out *om) {
    for (mk_disc_out *p = nw->pending; p; p = p->next) {
        if (!mk_id_eq(&p->peer, peer)) continue;
        if (mk_buf_append(&p->frames, om->frames.data, om->frames.len) == 0) {
            p->departures += om->departures;
            om->departures = 0;
        } else {
            count_locked_add(nw, &nw->met.dials_dropped);
        }
        out_done(om);
        return true;
    }
    return false;
}

void mk_disc_send_to(mk_network *nw, const mk_id *peer, const char *addr, mk_disc_out *om) {
    om->peer = *peer;
    mk_transport_conn *c = conn_find(nw, peer);
    if (c) {
        mk_disc_out_send(&om->frames, c);
        out_done(om);
        return;
    }
    if (ride_pending(nw, peer, om)) return;
    if (nw->dials_out >= nw->max_dials) {
        count_locked_add(nw, &nw->met.dials_dropped);
        out_done(om);
        return;
    }
    nw->dials_out++;
    om->next = nw->pending;
    nw->pending = om;
    mk_error err;
    mk_error_clear(&err);
    if (mk_transport_dial(nw->net, peer, addr, MK_NETWORK_PROTOCOL, NULL, dial_cb, om, &err) < 0) {
        nw->dials_out--;
        pending_unlink(nw, om);
        count_locked_add(nw, &nw->met.dials_failed);
        mk_log(MK_LOG_DEBUG, MK_DISC_LOG, "dial %s: %s", addr, err.msg);
        out_done(om);
    }
}

/* ----- protocol callbacks ------------------------------------------------------ */

static void on_connect(mk_transport_conn *conn, bool inbound, void *ctx) {
    (void)inbound;
    mk_network *nw = ctx;
    if (nw->n_conns == nw->cap_conns) {
        size_t ncap = nw->cap_conns ? nw->cap_conns * 2 : 16;
        mk_disc_conn *p = realloc(nw->conns, ncap * sizeof *p);
        if (!p) return; /* not tracked: sends to this peer dial instead */
        nw->conns = p;
        nw->cap_conns = ncap;
    }
    mk_transport_conn_peer(conn, &nw->conns[nw->n_conns].peer);
    nw->conns[nw->n_conns++].conn = mk_transport_conn_ref(conn);
}

static void on_close(mk_transport_conn *conn, int code, const char *reason, void *ctx) {
    (void)code, (void)reason;
    mk_network *nw = ctx;
    for (size_t i = 0; i < nw->n_conns; i++) {
        if (nw->conns[i].conn == conn) {
            mk_transport_conn_unref(conn);
            nw->conns[i] = nw->conns[--nw->n_conns];
            return;
        }
    }
}

static void on_frame(mk_transport_conn *conn, const uint8_t *data, size_t len, void *ctx) {
    mk_network *nw = ctx;
    mk_id from;
    mk_transport_conn_peer(conn, &from);
    mk_disc_msg m;
    mk_refusal why;
    mk_error err;
    mk_error_clear(&err);
    if (mk_disc_decode(data, len, &m, &why, &err) < 0) {
        mk_disc_refusal(nw, why, &from, err.msg);
        mk_transport_conn_close(conn, "malformed discovery message");
        return;
    }
    if (m.type == MK_MSG_ANNOUNCE)
        mk_disc_handle_entry(nw, &from, m.entry, m.entry_len, m.hops);
    else
        mk_disc_handle_digest(nw, conn, &from, &m);
    mk_disc_msg_free(&m);
}

void mk_disc_protocol_init(mk_network *nw, mk_transport_protocol *p) {
    *p = (mk_transport_protocol){.name = MK_NETWORK_PROTOCOL,
                                 .max_frame = MK_DISC_MAX_FRAME,
                                 .on_connect = on_connect,
                                 .on_frame = on_frame,
                                 .on_close = on_close,
                                 .ctx = nw};
}
