/*
 * bridge.c — raft's transport (struct raft_uv_transport) over group bonds.
 *
 * Canonical raft's libuv backend wants byte streams (uv_stream_t) to and
 * from other servers. Raft never opens a port here: every raft connection
 * is a *channel* carried in frames of the bond with that peer, and raft
 * gets one end of a Unix socketpair whose other end (the "pump") lives on
 * the same loop:
 *
 *   raft --uv_pipe(fd0)--> socketpair --(fd1) pump--> DATA frames over TLS
 *   raft <--uv_pipe(fd0)-- socketpair <--(fd1) pump-- DATA frames over TLS
 *
 * connect(id, address): address is the peer id in hex; there must be an
 * established bond whose peer maps to that raft id, else RAFT_NOCONNECTION
 * (raft retries). We send OPEN(chan) and hand raft its stream on the next
 * loop iteration (a deferred callback, never from inside connect()).
 * The remote side answers OPEN by making its own socketpair and calling
 * raft's accept callback with the raft id *derived from the bonded peer id*
 * (never from anything the peer says).
 *
 * Channel numbers are chosen by the opener; frames carry dir = 0 when the
 * channel was opened by the frame's sender, 1 when by its receiver, so both
 * sides' numbering can coexist. EOF or an error on the pump (raft closed
 * its end) sends CLOSE; CLOSE, the end of the bond or a partition closes
 * the pump, which raft sees as EOF. Back-pressure: when the connection's
 * send queue is full the pump stops reading (raft's writes then queue in
 * the socket and in libuv) and a stashed chunk is retried by the fast tick.
 * Bytes queued toward raft are capped (MK_GF_MAX_PUMP_QUEUE): beyond it the
 * channel closes.
 *
 * Invariants: every channel is in g->chans until its pump starts closing;
 * a channel holds a reference to the connection it sends on; all of this
 * runs on the group's loop thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "groups/groups_internal.h"
#include "mosaik/log.h"

struct mk_gchan {
    mk_gchan *next;
    mk_group *g;
    mk_id peer;
    mk_transport_conn *conn;
    bool mine;
    uint32_t id;
    uv_pipe_t pump;
    bool closing;
    uint8_t *stash;
    size_t stash_len;
};

typedef struct pconn {
    struct pconn *next;
    struct raft_uv_connect *req;
    raft_uv_connect_cb cb;
    uv_pipe_t *stream;
} pconn;

typedef struct wreq {
    uv_write_t req;
    uv_buf_t buf;
    uint8_t data[];
} wreq;

static void free_raft_stream(uv_handle_t *h) {
    raft_free(h);
}

static void chan_closed_cb(uv_handle_t *h) {
    mk_gchan *c = h->data;
    if (c->conn) mk_transport_conn_unref(c->conn);
    free(c->stash);
    free(c);
}

static void chan_close(mk_gchan *c, bool tell_peer) {
    if (c->closing) return;
    c->closing = true;
    mk_group *g = c->g;
    for (mk_gchan **pp = &g->chans; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    if (tell_peer && c->conn) {
        mk_group_frame f = {
            .type = MK_GF_CLOSE, .group = g->id, .dir = c->mine ? 0 : 1, .chan = c->id};
        (void)mk_group_send_frame(c->conn, &f);
    }
    uv_close((uv_handle_t *)&c->pump, chan_closed_cb);
}

static void pump_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    (void)suggested;
    buf->base = malloc(MK_GF_CHUNK);
    buf->len = buf->base ? MK_GF_CHUNK : 0;
}

/* Send one DATA frame; 0, MK_EBUSY (stash it) or another error. */
static int chan_send(mk_gchan *c, const uint8_t *data, size_t len) {
    mk_group_frame f = {.type = MK_GF_DATA,
                        .group = c->g->id,
                        .dir = c->mine ? 0 : 1,
                        .chan = c->id,
                        .payload = data,
                        .plen = len};
    return mk_group_send_frame(c->conn, &f);
}

static void pump_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    mk_gchan *c = s->data;
    if (nread > 0 && !c->closing) {
        int rc = chan_send(c, (const uint8_t *)buf->base, (size_t)nread);
        if (rc == MK_EBUSY) {
            c->stash = (uint8_t *)buf->base; /* keep the chunk */
            c->stash_len = (size_t)nread;
            uv_read_stop(s);
            return;
        }
        if (rc < 0) chan_close(c, false);
    } else if (nread < 0) {
        chan_close(c, true);
    }
    free(buf->base);
}

/* Make a socketpair: raft's end wrapped in a raft_malloc'ed uv_pipe_t, the
 * pump's end in c->pump (reading). */
static int chan_make(mk_group *g, const mk_id *peer, mk_transport_conn *conn, bool mine,
                     uint32_t id, uv_pipe_t **raft_end, mk_gchan **out) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        return RAFT_IOERR;
    mk_gchan *c = calloc(1, sizeof *c);
    uv_pipe_t *r = raft_malloc(sizeof *r);
    if (!c || !r) {
        free(c);
        raft_free(r);
        close(fds[0]);
        close(fds[1]);
        return RAFT_NOMEM;
    }
    c->g = g;
    c->peer = *peer;
    c->conn = mk_transport_conn_ref(conn);
    c->mine = mine;
    c->id = id;
    uv_pipe_init(&g->loop, &c->pump, 0);
    uv_pipe_init(&g->loop, r, 0);
    c->pump.data = c;
    if (uv_pipe_open(&c->pump, fds[1]) != 0 || uv_pipe_open(r, fds[0]) != 0) {
        /* Handles own nothing yet beyond the fds we close here. */
        close(fds[0]);
        close(fds[1]);
        c->closing = true;
        uv_close((uv_handle_t *)&c->pump, chan_closed_cb);
        uv_close((uv_handle_t *)r, free_raft_stream);
        return RAFT_IOERR;
    }
    uv_read_start((uv_stream_t *)&c->pump, pump_alloc, pump_read);
    c->next = g->chans;
    g->chans = c;
    *raft_end = r;
    *out = c;
    return 0;
}

static mk_gchan *chan_find(mk_group *g, const mk_id *peer, bool mine, uint32_t id) {
    for (mk_gchan *c = g->chans; c; c = c->next)
        if (c->mine == mine && c->id == id && mk_id_eq(&c->peer, peer)) return c;
    return NULL;
}

/* ----- the transport interface ----------------------------------------- */

static int tr_init(struct raft_uv_transport *t, raft_id id, const char *address) {
    (void)t;
    (void)id;
    (void)address;
    return 0;
}

static int tr_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb) {
    mk_group *g = t->impl;
    g->accept_cb = cb;
    return 0;
}

static int tr_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb) {
    mk_group *g = t->impl;
    mk_id peer;
    if (g->trans_closed) return RAFT_CANCELED;
    if (mk_id_from_hex(&peer, address, NULL) < 0 || mk_group_rid_of(&peer) != id) {
        snprintf(t->errmsg, sizeof t->errmsg, "bad raft address");
        return RAFT_NOCONNECTION;
    }
    mk_transport_conn *conn = mk_group_bond_conn(g, &peer);
    if (!conn) {
        snprintf(t->errmsg, sizeof t->errmsg, "no bond with that peer");
        return RAFT_NOCONNECTION;
    }
    pconn *p = calloc(1, sizeof *p);
    if (!p) {
        mk_transport_conn_unref(conn);
        return RAFT_NOMEM;
    }
    uint32_t chan = ++g->next_chan;
    mk_gchan *c;
    int rc = chan_make(g, &peer, conn, true, chan, &p->stream, &c);
    if (rc == 0) {
        mk_group_frame f = {.type = MK_GF_OPEN, .group = g->id, .chan = chan};
        if (mk_group_send_frame(conn, &f) < 0) {
            chan_close(c, false);
            uv_close((uv_handle_t *)p->stream, free_raft_stream);
            rc = RAFT_NOCONNECTION;
        }
    }
    mk_transport_conn_unref(conn);
    if (rc != 0) {
        free(p);
        return rc;
    }
    mk_log(MK_LOG_DEBUG, "groups", "raft connect to %.8s: chan %u", address, chan);
    p->req = req;
    p->cb = cb;
    p->next = g->pconns;
    g->pconns = p;
    uv_async_send(&g->async); /* the deferred callback runs from the async */
    return 0;
}

/* Fire the deferred connect callbacks (status 0 unless canceled). */
static void fire_pconns(mk_group *g, int status) {
    pconn *list = g->pconns;
    g->pconns = NULL;
    /* Oldest first. */
    pconn *rev = NULL;
    while (list) {
        pconn *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        pconn *p = rev;
        rev = p->next;
        if (status == 0) {
            p->cb(p->req, (struct uv_stream_s *)p->stream, 0);
        } else {
            uv_close((uv_handle_t *)p->stream, free_raft_stream);
            p->cb(p->req, NULL, status);
        }
        free(p);
    }
}

void mk_gbridge_connected(mk_group *g, void *req_ptr) {
    (void)req_ptr;
    if (g->pconns) fire_pconns(g, g->trans_closed ? RAFT_CANCELED : 0);
}

static void tr_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb) {
    mk_group *g = t->impl;
    g->trans_closed = true;
    g->accept_cb = NULL;
    fire_pconns(g, RAFT_CANCELED);
    mk_gbridge_close_all(g);
    if (cb) cb(t);
}

void mk_gbridge_setup(mk_group *g) {
    memset(&g->trans, 0, sizeof g->trans);
    g->trans.impl = g;
    g->trans.init = tr_init;
    g->trans.listen = tr_listen;
    g->trans.connect = tr_connect;
    g->trans.close = tr_close;
}

/* ----- events from the bond -------------------------------------------- */

void mk_gbridge_on_open(mk_group *g, const mk_id *peer, mk_transport_conn *conn, uint32_t chan) {
    /* The refusal: CLOSE of the channel the sender numbered (dir 1). */
    mk_group_frame refuse = {.type = MK_GF_CLOSE, .group = g->id, .dir = 1, .chan = chan};
    mk_transport_conn *bc = mk_group_bond_conn(g, peer);
    if (!bc || bc != conn || !g->accept_cb || g->trans_closed || chan_find(g, peer, false, chan)) {
        mk_log(MK_LOG_DEBUG, "groups", "refusing raft channel %u (bond %d same %d accept %d)", chan,
               bc != NULL, bc == conn, g->accept_cb != NULL);
        if (bc) mk_transport_conn_unref(bc);
        (void)mk_group_send_frame(conn, &refuse);
        return;
    }
    mk_transport_conn_unref(bc);
    uv_pipe_t *r;
    mk_gchan *c;
    if (chan_make(g, peer, conn, false, chan, &r, &c) != 0) {
        (void)mk_group_send_frame(conn, &refuse);
        return;
    }
    char addr[MK_ID_HEX_LEN];
    mk_id_to_hex(peer, addr);
    mk_log(MK_LOG_DEBUG, "groups", "raft accept from %.8s: chan %u", addr, chan);
    g->accept_cb(&g->trans, mk_group_rid_of(peer), addr, (struct uv_stream_s *)r);
}

static void write_done(uv_write_t *req, int status) {
    (void)status;
    free(req->data);
}

void mk_gbridge_on_data(mk_group *g, const mk_id *peer, uint8_t dir, uint32_t chan,
                        const uint8_t *data, size_t len) {
    /* dir 0: opened by the sender, i.e. not by us. */
    mk_gchan *c = chan_find(g, peer, dir == 1, chan);
    if (!c || c->closing || len == 0) return;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pump) > MK_GF_MAX_PUMP_QUEUE) {
        mk_log(MK_LOG_WARN, "groups", "raft channel backlog over cap: closing");
        chan_close(c, true);
        return;
    }
    wreq *w = malloc(sizeof *w + len);
    if (!w) {
        chan_close(c, true);
        return;
    }
    memcpy(w->data, data, len);
    w->buf = uv_buf_init((char *)w->data, (unsigned)len);
    w->req.data = w;
    if (uv_write(&w->req, (uv_stream_t *)&c->pump, &w->buf, 1, write_done) != 0) {
        free(w);
        chan_close(c, false);
    }
}

void mk_gbridge_on_close(mk_group *g, const mk_id *peer, uint8_t dir, uint32_t chan) {
    mk_gchan *c = chan_find(g, peer, dir == 1, chan);
    if (c) chan_close(c, false);
}

void mk_gbridge_peer_down(mk_group *g, const mk_id *peer) {
    for (mk_gchan *c = g->chans, *n; c; c = n) {
        n = c->next;
        if (mk_id_eq(&c->peer, peer)) chan_close(c, true);
    }
}

void mk_gbridge_flush(mk_group *g) {
    for (mk_gchan *c = g->chans, *n; c; c = n) {
        n = c->next;
        if (!c->stash) continue;
        int rc = chan_send(c, c->stash, c->stash_len);
        if (rc == MK_EBUSY) continue;
        free(c->stash);
        c->stash = NULL;
        if (rc < 0)
            chan_close(c, false);
        else
            uv_read_start((uv_stream_t *)&c->pump, pump_alloc, pump_read);
    }
}

void mk_gbridge_close_all(mk_group *g) {
    while (g->chans)
        chan_close(g->chans, true);
}
