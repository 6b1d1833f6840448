/*
 * host.c — the groups host of one network: the only file that attaches to
 * net and discovery (docs/net.md, "Attaching a layer").
 *
 * Algorithm. The first mk_group_new on an mk_network makes a host record:
 * it registers net protocol "groups" and one discovery hook, both with the
 * host as their context, and only then puts the host in the network's
 * typed slot (so a failed registration undoes itself and leaves no host
 * behind). The host keeps the table of the groups joined on that network.
 * When the last group leaves, the host detaches: the protocol is
 * unregistered (its connections close, no callback of it runs after), the
 * hook removed, the slot emptied, the record freed; the next join makes a
 * new one. Every callback runs on the network's I/O thread: it takes
 * host->mu and hands the connection, the frame or the entry event to the
 * groups of the table (bond.c does the per-group work); a frame goes only
 * to the group its header names, a malformed frame closes the connection.
 * The groups' dials (mk_ghost_dial) complete here as a connect; their
 * context is the network, and the completion finds the host in the slot,
 * so a dial that outlives a host never reaches a freed one.
 *
 * Sending. On the I/O thread a send may write synchronously and, when the
 * write fails, close the connection and run h_on_close at once, which takes
 * host->mu and g->bmu. So nothing is sent while the host dispatches a
 * frame, hook or connection (those hold the locks): mk_group_send queues a
 * copy in the thread's outbox and the dispatcher sends it after unlocking.
 * Frames are laid out [type u8][group id 32][body][payload] through
 * mk_writer; frame.c encodes the bodies.
 *
 * Invariants:
 *   - a host is in its network's slot exactly while its protocol and hook
 *     are registered and its table is not empty (reg_mu orders joins and
 *     leaves; detaching waits for the I/O thread, whose callbacks never
 *     take reg_mu); once a group left the table, which takes host->mu, no
 *     callback reaches the group;
 *   - at most HOST_MAX_GROUPS groups per network, each group id once;
 *   - nothing is sent with host->mu held (the outbox).
 */
#include <stdlib.h>
#include <string.h>

#include "groups/groups_internal.h"

#define HOST_MAX_GROUPS 64

struct mk_groups_host {
    mk_network *nw;
    mk_transport *net;
    pthread_mutex_t mu;
    mk_group *groups[HOST_MAX_GROUPS];
    size_t n;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

/* ----- the outbox and sending --------------------------------------------- */

typedef struct gout {
    struct gout *next;
    mk_transport_conn *conn; /* referenced */
    size_t n;
    uint8_t data[];
} gout;
typedef struct outbox {
    gout *head, **tail;
    struct outbox *prev;
} outbox;
static _Thread_local outbox *tl_outbox;

static void outbox_begin(outbox *o) {
    o->head = NULL;
    o->tail = &o->head;
    o->prev = tl_outbox;
    tl_outbox = o;
}

int (*mk_ghost_send_hook)(mk_transport_conn *conn);

/* The one place frames leave (the test hook may fail them first). */
static int host_send(mk_transport_conn *conn, const uint8_t *data, size_t n) {
    if (mk_ghost_send_hook && mk_ghost_send_hook(conn) < 0) return MK_ENETWORK;
    return mk_transport_conn_send(conn, data, n);
}

/* Call with no lock held. */
static void outbox_flush(outbox *o) {
    tl_outbox = o->prev;
    while (o->head) {
        gout *m = o->head;
        o->head = m->next;
        (void)host_send(m->conn, m->data, m->n);
        mk_transport_conn_unref(m->conn);
        free(m);
    }
}

/* Lay out [type][group id][body][tail] in out[0, n). */
static void frame_put(uint8_t *out, size_t n, const mk_id *group, uint8_t type, const void *body,
                      size_t blen, const void *tail, size_t tlen) {
    mk_writer w;
    mk_writer_init(&w, out, n);
    mk_write_u8(&w, type);
    mk_write_bytes(&w, group->b, MK_ID_LEN);
    mk_write_bytes(&w, body, blen);
    mk_write_bytes(&w, tail, tlen);
}

int mk_group_send(mk_transport_conn *conn, const mk_id *group, uint8_t type, const void *body,
                  size_t blen, const void *tail, size_t tlen) {
    size_t n = MK_GF_HDR + blen + tlen;
    if (n > MK_GF_MAX_FRAME) return MK_ETOOBIG;
    if (tl_outbox) {
        gout *m = malloc(sizeof *m + n);
        if (!m) return MK_ENOMEM;
        m->next = NULL;
        m->conn = mk_transport_conn_ref(conn);
        m->n = n;
        frame_put(m->data, n, group, type, body, blen, tail, tlen);
        *tl_outbox->tail = m;
        tl_outbox->tail = &m->next;
        return 0;
    }
    uint8_t stackbuf[4096]; /* most frames: raft messages with a few small entries */
    uint8_t *f = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!f) return MK_ENOMEM;
    frame_put(f, n, group, type, body, blen, tail, tlen);
    int rc = host_send(conn, f, n);
    if (f != stackbuf) free(f);
    return rc;
}

int mk_group_send_frame(mk_transport_conn *conn, const mk_group_frame *f) {
    uint8_t body[MK_GF_MAX_BODY];
    mk_writer w;
    mk_writer_init(&w, body, sizeof body);
    int rc = mk_group_frame_write_body(&w, f);
    if (rc < 0) return rc;
    return mk_group_send(conn, &f->group, f->type, body, mk_writer_len(&w), f->payload, f->plen);
}

/* ----- dispatch (I/O thread) ---------------------------------------------- */

/* A dispatch holds host->mu and collects its sends in an outbox, sent
 * once the lock is released. */
static void dispatch_begin(mk_groups_host *h, outbox *o) {
    outbox_begin(o);
    pthread_mutex_lock(&h->mu);
}

static void dispatch_end(mk_groups_host *h, outbox *o) {
    pthread_mutex_unlock(&h->mu);
    outbox_flush(o);
}

static mk_group *host_find(mk_groups_host *h, const mk_id *gid) {
    for (size_t i = 0; i < h->n; i++)
        if (mk_id_eq(&h->groups[i]->id, gid)) return h->groups[i];
    return NULL;
}

static void h_on_connect(mk_transport_conn *conn, bool inbound, void *ctx) {
    (void)inbound;
    mk_groups_host *h = ctx;
    outbox o;
    dispatch_begin(h, &o);
    for (size_t i = 0; i < h->n; i++)
        mk_gbond_greet(h->groups[i], conn);
    dispatch_end(h, &o);
}

static const mk_network_slot_type host_slot;

/* ctx is the network: the host that holds the slot now, if any. */
static void dial_cb(mk_transport_conn *conn, int status, const mk_error *err, void *ctx) {
    (void)err;
    if (status != 0 || !conn) return;
    mk_groups_host *h = mk_network_slot_get(ctx, &host_slot);
    if (h) h_on_connect(conn, false, h);
}

static void h_on_close(mk_transport_conn *conn, int code, const char *reason, void *ctx) {
    (void)code;
    (void)reason;
    mk_groups_host *h = ctx;
    mk_id peer;
    mk_transport_conn_peer(conn, &peer);
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++)
        mk_gbond_on_conn_close(h->groups[i], conn, &peer);
    pthread_mutex_unlock(&h->mu);
}

static void h_on_frame(mk_transport_conn *conn, const uint8_t *data, size_t len, void *ctx) {
    mk_groups_host *h = ctx;
    mk_group_frame f;
    mk_id peer;
    if (mk_group_frame_parse(data, len, &f, NULL) < 0) {
        mk_transport_conn_close(conn, "groups: malformed frame");
        return;
    }
    mk_transport_conn_peer(conn, &peer);
    outbox o;
    dispatch_begin(h, &o);
    mk_group *g = host_find(h, &f.group);
    if (g) mk_gbond_on_frame(g, conn, &peer, &f);
    dispatch_end(h, &o);
}

static void h_hook(mk_network *nw, const mk_network_event *ev, void *ctx) {
    (void)nw;
    mk_groups_host *h = ctx;
    outbox o;
    dispatch_begin(h, &o);
    for (size_t i = 0; i < h->n; i++)
        mk_gbond_on_event(h->groups[i], ev);
    dispatch_end(h, &o);
}

/* ----- attaching and detaching -------------------------------------------- */

static void host_destroy(void *ptr) {
    mk_groups_host *h = ptr;
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Destroyed by mk_network_free only if groups were not freed first. */
static const mk_network_slot_type host_slot = {.name = "groups", .destroy = host_destroy};

/* A new host: protocol and hook registered, then the slot taken; any
 * failure undoes the steps before it. reg_mu held. */
static mk_groups_host *host_attach(mk_network *nw, mk_error *err, int *rc) {
    mk_groups_host *h = calloc(1, sizeof *h);
    if (!h) {
        *rc = mk_error_set(err, MK_ENOMEM, "out of memory");
        return NULL;
    }
    h->nw = nw;
    h->net = mk_network_transport(nw);
    pthread_mutex_init(&h->mu, NULL);
    mk_transport_protocol p = {.name = MK_GROUPS_PROTOCOL,
                               .max_frame = MK_GF_MAX_FRAME,
                               .on_connect = h_on_connect,
                               .on_frame = h_on_frame,
                               .on_close = h_on_close,
                               .ctx = h};
    *rc = mk_transport_protocol_register(h->net, &p, err);
    if (*rc == 0) {
        *rc = mk_network_add_hook(nw, h_hook, h, err);
        if (*rc == 0) {
            *rc = mk_network_slot_attach(nw, &host_slot, h, err);
            if (*rc == 0) return h;
            (void)mk_network_remove_hook(nw, h_hook, h);
        }
        (void)mk_transport_protocol_unregister(h->net, MK_GROUPS_PROTOCOL, NULL);
    }
    host_destroy(h);
    return NULL;
}

/* Unregister, remove the hook, empty the slot, free. reg_mu held; not on
 * the I/O thread; h->mu not held (the callbacks take it). */
static void host_detach(mk_groups_host *h) {
    (void)mk_transport_protocol_unregister(h->net, MK_GROUPS_PROTOCOL, NULL);
    (void)mk_network_remove_hook(h->nw, h_hook, h);
    (void)mk_network_slot_detach(h->nw, &host_slot);
    host_destroy(h);
}

/* ----- the host's table ---------------------------------------------------- */

int mk_ghost_join(mk_group *g, mk_error *err) {
    int rc = 0;
    pthread_mutex_lock(&reg_mu);
    mk_groups_host *h = mk_network_slot_get(g->nw, &host_slot);
    if (!h) h = host_attach(g->nw, err, &rc);
    if (h) {
        pthread_mutex_lock(&h->mu);
        if (host_find(h, &g->id)) {
            rc = mk_error_set(err, MK_EBUSY, "this node already joined that group");
        } else if (h->n == HOST_MAX_GROUPS) {
            rc = mk_error_set(err, MK_EBUSY, "too many groups on one network");
        } else {
            g->host = h;
            h->groups[h->n++] = g;
        }
        pthread_mutex_unlock(&h->mu);
    }
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

void mk_ghost_leave(mk_group *g) {
    mk_groups_host *h = g->host;
    if (!h) return;
    pthread_mutex_lock(&reg_mu);
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++)
        if (h->groups[i] == g) {
            h->groups[i] = h->groups[--h->n];
            break;
        }
    bool last = h->n == 0;
    pthread_mutex_unlock(&h->mu);
    g->host = NULL;
    if (last) host_detach(h);
    pthread_mutex_unlock(&reg_mu);
}

void mk_ghost_dial(mk_group *g, const mk_id *peer, const char *addr) {
    (void)mk_transport_dial(g->net, peer, addr, MK_GROUPS_PROTOCOL, NULL, dial_cb, g->nw, NULL);
}

bool mk_ghost_attached(mk_network *nw) {
    return mk_network_slot_get(nw, &host_slot) != NULL;
}
