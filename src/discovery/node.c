/*
 * discovery/node.c — the mk_network object: the node's entry, the catalog,
 * gossip announce, catalog sync, events and hooks, on one mk_net.
 *
 * Threads. The mk_net's I/O thread ("the loop") runs every protocol
 * callback, timer and dial completion; user threads call the public API.
 * Shared state (the catalog, the local entry and its wire form, the event
 * queue, hooks, counters, the lifecycle state) is guarded by nw->mu. The
 * loop never holds mu while calling into net or into hooks; user threads
 * never wait for the loop while holding mu (net's timer and stop calls
 * wait for the loop, which may itself be waiting for mu).
 *
 * Local entry. Every change (tickets, tags, served ids) is applied to a
 * copy, which gets version = max(version + 1, wall clock ms), is signed and
 * encoded; only when all of that succeeded does it replace the entry (a
 * failed change leaves it untouched). Then an announce is posted to the
 * loop. A heartbeat timer (announce_ms, +-25% jitter) re-signs the entry
 * with a new version and announces it, so peers see it refreshed well
 * within purge_after.
 *
 * Gossip (epidemic broadcast). Announcing pushes [announce, hops = 1,
 * entry] to `fanout` random live peers. A node that accepts an announced
 * entry (newer than what it held) forwards it, with hops + 1, to `fanout`
 * random live peers other than the sender and the entry's owner, unless
 * hops reached max_hops. Duplicates are refused as not newer, which stops
 * the spread. Entries learnt by sync are not forwarded (hops = 0).
 *
 * Sync (anti-entropy). At start with each bootstrap peer, then every
 * sync_ms (+-25% jitter) with one random live peer (a bootstrap peer when
 * none is known), a node sends [digest, want_reply = 1, its (peer,
 * version) pairs]. The receiver sends back every entry the digest lacks or
 * holds older (as announces with hops 0) and its own digest with
 * want_reply = 0, to which the first node answers the same way. A digest
 * request from a peer is answered at most once per min_sync_gap_ms (a
 * 256-slot table, RATE_WAYS-way set-associative on a hash of the full peer
 * id, each slot owned by one full id; a slot changes owner only once its
 * owner's gap and reply wait have passed, so a colliding id cannot reset
 * another's limit: with no reusable slot the request is refused as rate
 * limited); a reply digest is processed only from a peer we asked within
 * the last 10 s (if we cannot take a slot for it, we do not ask). Frames to a peer are sent through
 * mk_net_dial, which reuses an open connection; at most max_dials dials are
 * outstanding, further sends are dropped (gossip is best effort, sync
 * repairs).
 *
 * First contact. When the first live peer is discovered (or rediscovered
 * after the catalog emptied), the node pushes its own entry 30 ms later,
 * so the peers its bootstrap sync revealed learn about it without waiting
 * for the heartbeat.
 *
 * Purge. A timer (purge_after / 8) drops entries whose version (their
 * signing time) is older than purge_after and tombstones older than
 * tombstone_ms; the catalog refuses such entries on arrival too (stale), so
 * purged entries do not come back. This assumes nodes' clocks agree to
 * well within purge_after (docs/discovery.md).
 *
 * Departure. mk_network_close signs an entry with `departed` set and every
 * list emptied, pushes it to up to 16 live peers (who forward it like any
 * announce), waits up to 500 ms for those dials to complete, then stops the
 * transport, which flushes queued frames with TLS close_notify.
 *
 * Events. Discovered / updated / departed / purged events (with a copy of
 * the entry) are queued in the same critical section that changed the
 * catalog (so whoever sees the change finds its event queued), in a bounded
 * queue (oldest dropped and counted beyond event_queue); then the hooks see
 * them on the loop. An eventfd is readable
 * exactly while the queue is non-empty: written when it becomes non-empty,
 * drained when it becomes empty, both under mu.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "discovery/disc_internal.h"
#include "mosaik/clock.h"
#include "mosaik/log.h"

#define LOG "discovery"
#define MAX_HOOKS 16
#define RATE_SLOTS 256
#define RATE_WAYS 4 /* slots per bucket (rate_find/rate_claim) */
#define DEPART_PEERS 16
#define DEPART_WAIT_MS 500
#define REPLY_WAIT_MS 10000
#define KICK_MS 30
#define SYNC_MAX_BYTES ((size_t)2 << 20) /* entries per sync answer (send queue: 4 MiB) */
#define LOG_BURST 20                     /* refusal warnings per second, then summarised */

enum { ST_RUNNING = 1, ST_CLOSING, ST_CLOSED };

typedef struct boot_peer {
    mk_id peer;
    char addr[MK_NET_ADDR_MAX + 1];
} boot_peer;

typedef struct rate_slot {
    mk_id peer;
    uint64_t last_request_ms; /* last digest request answered */
    uint64_t await_until_ms;  /* we asked this peer; accept its reply until then */
} rate_slot;

typedef struct conn_ref {
    mk_id peer;
    mk_net_conn *conn;
} conn_ref;

/* Per-network state of a later layer (streams, groups), destroyed with
 * the network after its I/O thread has stopped. */
#define MAX_ATTACHED 8
typedef struct attachment {
    const void *key;
    void *ptr;
    void (*destroy)(void *ptr);
} attachment;

typedef struct hook {
    mk_network_hook fn;
    void *ctx;
} hook;

struct mk_network {
    mk_net *net;
    mk_ed25519_key key;
    mk_id self, network_id;
    unsigned fanout, max_hops;
    uint32_t announce_ms, sync_ms, purge_ms, min_sync_gap_ms, max_dials, event_cap;
    boot_peer boot[MK_NETWORK_MAX_BOOTSTRAP];
    size_t n_boot;
    mk_net_timer *t_announce, *t_sync, *t_purge, *t_kick;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* events queued, departure progress, state */
    int state;
    mk_catalog cat;
    mk_peer_entry local;
    mk_buf local_wire;
    mk_network_event *evq;
    size_t ev_head, ev_n;
    int efd;
    hook hooks[MAX_HOOKS];
    size_t n_hooks;
    attachment attached[MAX_ATTACHED]; /* later layers' per-network state */
    size_t n_attached;
    mk_network_metrics met; /* counters; catalog and net fields filled on read */
    int depart_pending;     /* departure dials not yet completed */
    bool depart_posted;

    /* loop only */
    struct conn_ref *conns; /* open discovery connections (one ref each) */
    size_t n_conns, cap_conns;
    struct out_msg *pending; /* dials in progress, with their frames */
    rate_slot rate[RATE_SLOTS];
    uint32_t dials_out;
    bool kicked;
    uint64_t log_window_ms;
    unsigned log_count, log_suppressed;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static uint64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t jitter(uint64_t ms) {
    if (ms < 4) return ms ? ms : 1;
    return ms - ms / 4 + mk_random_below(ms / 2 + 1);
}

static void short_id(const mk_id *id, char out[9]) {
    mk_id_short(id, out);
}

const char *mk_refusal_name(mk_refusal r) {
    static const char *names[MK_REFUSE_COUNT] = {
        "malformed",   "too_big",   "bad_signature", "wrong_network", "future", "stale",
        "old_version", "tombstone", "catalog_full",  "rate_limited",  "self"};
    return (unsigned)r < MK_REFUSE_COUNT ? names[r] : "unknown";
}

const char *mk_network_event_name(mk_network_event_type t) {
    switch (t) {
    case MK_EVENT_DISCOVERED:
        return "discovered";
    case MK_EVENT_UPDATED:
        return "updated";
    case MK_EVENT_DEPARTED:
        return "departed";
    case MK_EVENT_PURGED:
        return "purged";
    }
    return "unknown";
}

int mk_parse_peer_addr(const char *s, mk_id *peer, char addr[MK_NET_ADDR_MAX + 1], mk_error *err) {
    const char *at = s ? strchr(s, '@') : NULL;
    if (!at) return mk_error_set(err, MK_EINVAL, "'%s': want PEERID@HOST:PORT", s ? s : "");
    char hex[65];
    size_t hl = (size_t)(at - s);
    if (hl != 64) return mk_error_set(err, MK_EINVAL, "'%s': the peer id must be 64 hex digits", s);
    memcpy(hex, s, 64);
    hex[64] = 0;
    MK_TRY(mk_id_from_hex(peer, hex, err));
    size_t al = strlen(at + 1);
    if (al == 0 || al > MK_NET_ADDR_MAX || !strchr(at + 1, ':'))
        return mk_error_set(err, MK_EINVAL, "'%s': want HOST:PORT after '@'", s);
    memcpy(addr, at + 1, al + 1);
    return 0;
}

/* Count a refusal and log it (warnings rate-limited; routine duplicates at
 * debug level). Loop or user thread; takes mu. */
static void refusal(mk_network *nw, mk_refusal why, const mk_id *from, const char *reason) {
    pthread_mutex_lock(&nw->mu);
    if ((unsigned)why < MK_REFUSE_COUNT) nw->met.refused[why]++;
    pthread_mutex_unlock(&nw->mu);
    char pid[9] = "-";
    if (from) short_id(from, pid);
    mk_log_level lvl = MK_LOG_WARN;
    if (why == MK_REFUSE_OLD_VERSION || why == MK_REFUSE_TOMBSTONE) lvl = MK_LOG_DEBUG;
    if (why == MK_REFUSE_STALE || why == MK_REFUSE_CATALOG_FULL || why == MK_REFUSE_RATE_LIMITED)
        lvl = MK_LOG_INFO;
    if (!MK_LOG_ENABLED(lvl)) return;
    if (lvl == MK_LOG_WARN) {
        uint64_t now = mk_mono_ms();
        if (now - nw->log_window_ms >= 1000) {
            if (nw->log_suppressed)
                mk_log(MK_LOG_WARN, LOG, "%u more refusals not logged (see metrics)",
                       nw->log_suppressed);
            nw->log_window_ms = now;
            nw->log_count = 0;
            nw->log_suppressed = 0;
        }
        if (++nw->log_count > LOG_BURST) {
            nw->log_suppressed++;
            return;
        }
    }
    mk_log(lvl, LOG, "refused from %s: %s: %s", pid, mk_refusal_name(why), reason);
}

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

/* Under mu. Takes ownership of ev's entry. */
static void ev_push_locked(mk_network *nw, mk_network_event *ev) {
    if (nw->ev_n == nw->event_cap) {
        mk_network_event_free(&nw->evq[nw->ev_head]);
        nw->ev_head = (nw->ev_head + 1) % nw->event_cap;
        nw->ev_n--;
        nw->met.events_dropped++;
    }
    size_t slot = (nw->ev_head + nw->ev_n) % nw->event_cap;
    nw->evq[slot] = *ev;
    if (nw->ev_n++ == 0) {
        uint64_t one = 1;
        ssize_t w = write(nw->efd, &one, sizeof one);
        (void)w;
    }
    pthread_cond_broadcast(&nw->cond);
}

/* Under mu: queue a copy of ev (the queue changes in the same critical
 * section as the catalog, so a user who sees the catalog changed finds the
 * event queued). */
static void queue_copy_locked(mk_network *nw, const mk_network_event *ev) {
    mk_network_event q = *ev;
    if (mk_peer_entry_copy(&q.entry, &ev->entry) < 0) mk_peer_entry_init(&q.entry);
    ev_push_locked(nw, &q);
}

/* On the loop, without mu: the hooks see the event (borrowed). */
static void run_hooks(mk_network *nw, const mk_network_event *ev) {
    hook hs[MAX_HOOKS];
    pthread_mutex_lock(&nw->mu);
    size_t nh = nw->n_hooks;
    memcpy(hs, nw->hooks, nh * sizeof *hs);
    pthread_mutex_unlock(&nw->mu);
    for (size_t i = 0; i < nh; i++)
        hs[i].fn(nw, ev, hs[i].ctx);
}

void mk_network_event_free(mk_network_event *ev) {
    if (!ev) return;
    mk_peer_entry_free(&ev->entry);
}

int mk_network_event_fd(const mk_network *nw) {
    return nw->efd;
}

int mk_network_next_event(mk_network *nw, uint32_t timeout_ms, mk_network_event *ev) {
    memset(ev, 0, sizeof *ev);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms != MK_NET_NO_TIMEOUT) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&nw->mu);
    int rc = 0;
    while (nw->ev_n == 0) {
        if (nw->state == ST_CLOSED) {
            rc = MK_ESTATE;
            break;
        }
        if (timeout_ms == 0) {
            rc = MK_ETIMEDOUT;
            break;
        }
        if (timeout_ms == MK_NET_NO_TIMEOUT) {
            pthread_cond_wait(&nw->cond, &nw->mu);
        } else if (pthread_cond_timedwait(&nw->cond, &nw->mu, &deadline) == ETIMEDOUT &&
                   nw->ev_n == 0) {
            rc = MK_ETIMEDOUT;
            break;
        }
    }
    if (rc == 0) {
        *ev = nw->evq[nw->ev_head];
        memset(&nw->evq[nw->ev_head], 0, sizeof *ev);
        nw->ev_head = (nw->ev_head + 1) % nw->event_cap;
        if (--nw->ev_n == 0) {
            uint64_t v;
            ssize_t r = read(nw->efd, &v, sizeof v);
            (void)r;
        }
    }
    pthread_mutex_unlock(&nw->mu);
    return rc;
}

int mk_network_add_hook(mk_network *nw, mk_network_hook fn, void *ctx, mk_error *err) {
    if (!fn) return mk_error_set(err, MK_EINVAL, "no hook function");
    pthread_mutex_lock(&nw->mu);
    int rc = 0;
    if (nw->n_hooks >= MAX_HOOKS)
        rc = mk_error_set(err, MK_EBUSY, "at most %d hooks", MAX_HOOKS);
    else
        nw->hooks[nw->n_hooks++] = (hook){fn, ctx};
    pthread_mutex_unlock(&nw->mu);
    return rc;
}

int mk_network_attach(mk_network *nw, const void *key, void *ptr, void (*destroy)(void *ptr),
                      mk_error *err) {
    if (!key) return mk_error_set(err, MK_EINVAL, "no attachment key");
    pthread_mutex_lock(&nw->mu);
    int rc = 0;
    for (size_t i = 0; i < nw->n_attached && rc == 0; i++)
        if (nw->attached[i].key == key) rc = mk_error_set(err, MK_EBUSY, "already attached");
    if (rc == 0 && nw->n_attached >= MAX_ATTACHED)
        rc = mk_error_set(err, MK_EBUSY, "at most %d attachments", MAX_ATTACHED);
    if (rc == 0) nw->attached[nw->n_attached++] = (attachment){key, ptr, destroy};
    pthread_mutex_unlock(&nw->mu);
    return rc;
}

void *mk_network_attached(mk_network *nw, const void *key) {
    void *ptr = NULL;
    pthread_mutex_lock(&nw->mu);
    for (size_t i = 0; i < nw->n_attached; i++)
        if (nw->attached[i].key == key) ptr = nw->attached[i].ptr;
    pthread_mutex_unlock(&nw->mu);
    return ptr;
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */
/* ------------------------------------------------------------------ */

typedef struct out_msg {
    mk_network *nw;
    mk_id peer;
    mk_buf frames;        /* u32be length + bytes, repeated (our own data) */
    int departures;       /* departure frames inside (close waits for them) */
    struct out_msg *next; /* pending-dial list */
} out_msg;

#define OUT_MAX ((size_t)4 << 20) /* bytes coalesced behind one pending dial */

static out_msg *out_new(mk_network *nw) {
    out_msg *om = calloc(1, sizeof *om);
    if (!om) return NULL;
    om->nw = nw;
    mk_buf_init(&om->frames, OUT_MAX);
    return om;
}

static void out_free(out_msg *om) {
    mk_buf_free(&om->frames);
    free(om);
}

static int out_add(out_msg *om, const mk_buf *frame) {
    MK_TRY(mk_buf_append_u32be(&om->frames, (uint32_t)frame->len));
    return mk_buf_append(&om->frames, frame->data, frame->len);
}

/* Send each frame of om on conn; stops at the first refusal. */
static size_t out_send(out_msg *om, mk_net_conn *conn) {
    mk_reader r;
    mk_reader_init(&r, om->frames.data, om->frames.len);
    size_t sent = 0;
    uint32_t len;
    const uint8_t *p;
    while (mk_read_u32be(&r, &len) == 0 && mk_read_view(&r, len, &p) == 0) {
        if (mk_net_conn_send(conn, p, len) < 0) break;
        sent++;
    }
    return sent;
}

static void depart_done(mk_network *nw, int n) {
    if (n <= 0) return;
    pthread_mutex_lock(&nw->mu);
    nw->depart_pending -= n;
    pthread_cond_broadcast(&nw->cond);
    pthread_mutex_unlock(&nw->mu);
}

/* Done with om (sent or dropped). */
static void out_done(out_msg *om) {
    depart_done(om->nw, om->departures);
    out_free(om);
}

/* Loop only: an open connection to peer, or NULL. The table holds one
 * reference per connection between on_connect and on_close. */
static mk_net_conn *conn_find(mk_network *nw, const mk_id *peer) {
    for (size_t i = 0; i < nw->n_conns; i++)
        if (mk_id_eq(&nw->conns[i].peer, peer) && mk_net_conn_is_open(nw->conns[i].conn))
            return nw->conns[i].conn;
    return NULL;
}

static void pending_unlink(mk_network *nw, out_msg *om) {
    for (out_msg **pp = &nw->pending; *pp; pp = &(*pp)->next) {
        if (*pp == om) {
            *pp = om->next;
            om->next = NULL;
            return;
        }
    }
}

static void dial_cb(mk_net_conn *conn, int status, const mk_error *err, void *ctx) {
    out_msg *om = ctx;
    mk_network *nw = om->nw;
    nw->dials_out--;
    pending_unlink(nw, om);
    if (status == 0 && conn) {
        out_send(om, conn);
    } else {
        pthread_mutex_lock(&nw->mu);
        nw->met.dials_failed++;
        pthread_mutex_unlock(&nw->mu);
        mk_log(MK_LOG_DEBUG, LOG, "dial failed: %s", err ? err->msg : mk_strerror(status));
    }
    out_done(om);
}

static void count_dropped(mk_network *nw) {
    pthread_mutex_lock(&nw->mu);
    nw->met.dials_dropped++;
    pthread_mutex_unlock(&nw->mu);
}

/* Loop only. Takes ownership of om. An open connection is used directly;
 * frames for a peer being dialed ride along with that dial; otherwise a
 * new dial, unless max_dials are outstanding (then dropped, counted). */
static void send_to(mk_network *nw, const mk_id *peer, const char *addr, out_msg *om) {
    om->peer = *peer;
    mk_net_conn *c = conn_find(nw, peer);
    if (c) {
        out_send(om, c);
        out_done(om);
        return;
    }
    for (out_msg *p = nw->pending; p; p = p->next) {
        if (mk_id_eq(&p->peer, peer)) {
            if (mk_buf_append(&p->frames, om->frames.data, om->frames.len) == 0) {
                p->departures += om->departures;
                om->departures = 0;
            } else {
                count_dropped(nw);
            }
            out_done(om);
            return;
        }
    }
    if (nw->dials_out >= nw->max_dials) {
        count_dropped(nw);
        out_done(om);
        return;
    }
    nw->dials_out++;
    om->next = nw->pending;
    nw->pending = om;
    mk_error err;
    mk_error_clear(&err);
    if (mk_net_dial(nw->net, peer, addr, MK_NETWORK_PROTOCOL, NULL, dial_cb, om, &err) < 0) {
        nw->dials_out--;
        pending_unlink(nw, om);
        pthread_mutex_lock(&nw->mu);
        nw->met.dials_failed++;
        pthread_mutex_unlock(&nw->mu);
        mk_log(MK_LOG_DEBUG, LOG, "dial %s: %s", addr, err.msg);
        out_done(om);
    }
}

typedef struct target {
    mk_id peer;
    char addr[MK_NET_ADDR_MAX + 1];
} target;

/* Under mu: up to k random live peers with an address, excluding ex1/ex2. */
static size_t pick_locked(mk_network *nw, size_t k, const mk_id *ex1, const mk_id *ex2,
                          target **out) {
    *out = NULL;
    mk_catalog *c = &nw->cat;
    size_t *idx = malloc((c->n ? c->n : 1) * sizeof *idx);
    if (!idx) return 0;
    size_t m = 0;
    for (size_t i = 0; i < c->n; i++) {
        const mk_peer_entry *e = &c->recs[i].entry;
        if (e->departed || !e->n_addrs) continue;
        if ((ex1 && mk_id_eq(&e->peer_id, ex1)) || (ex2 && mk_id_eq(&e->peer_id, ex2))) continue;
        idx[m++] = i;
    }
    if (k > m) k = m;
    target *t = k ? calloc(k, sizeof *t) : NULL;
    if (!t) {
        free(idx);
        return 0;
    }
    for (size_t i = 0; i < k; i++) { /* partial Fisher-Yates */
        size_t j = i + (size_t)mk_random_below(m - i);
        size_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
        const mk_peer_entry *e = &c->recs[idx[i]].entry;
        t[i].peer = e->peer_id;
        memcpy(t[i].addr, e->addrs[mk_random_below(e->n_addrs)], sizeof t[i].addr);
    }
    free(idx);
    *out = t;
    return k;
}

/* Loop only: push an entry (wire form) as an announce to k random peers. */
static void push_entry(mk_network *nw, const uint8_t *wire, size_t len, unsigned hops, size_t k,
                       const mk_id *ex1, const mk_id *ex2, bool departure) {
    mk_buf frame = MK_BUF_INIT;
    if (mk_disc_encode_announce(&frame, hops, wire, len) < 0) {
        mk_buf_free(&frame);
        return;
    }
    target *t;
    pthread_mutex_lock(&nw->mu);
    size_t n = pick_locked(nw, k, ex1, ex2, &t);
    if (departure) nw->depart_pending += (int)n;
    nw->met.announces_sent += n;
    if (hops > 1) nw->met.forwarded += n;
    pthread_mutex_unlock(&nw->mu);
    for (size_t i = 0; i < n; i++) {
        out_msg *om = out_new(nw);
        if (!om || out_add(om, &frame) < 0) {
            if (om) out_free(om);
            if (departure) depart_done(nw, 1);
            continue;
        }
        om->departures = departure ? 1 : 0;
        send_to(nw, &t[i].peer, t[i].addr, om);
    }
    free(t);
    mk_buf_free(&frame);
}

static void announce_local(mk_network *nw) {
    pthread_mutex_lock(&nw->mu);
    if (nw->state != ST_RUNNING || !nw->local_wire.len) {
        pthread_mutex_unlock(&nw->mu);
        return;
    }
    mk_buf w = MK_BUF_INIT;
    int rc = mk_buf_append(&w, nw->local_wire.data, nw->local_wire.len);
    pthread_mutex_unlock(&nw->mu);
    if (rc == 0) push_entry(nw, w.data, w.len, 1, nw->fanout, NULL, NULL, false);
    mk_buf_free(&w);
}

/* ------------------------------------------------------------------ */
/* Sync                                                                */
/* ------------------------------------------------------------------ */

static rate_slot *rate_bucket(mk_network *nw, const mk_id *peer) {
    uint32_t h = 2166136261u; /* FNV-1a over the whole id */
    for (size_t i = 0; i < sizeof peer->b; i++)
        h = (h ^ peer->b[i]) * 16777619u;
    return &nw->rate[(h % (RATE_SLOTS / RATE_WAYS)) * RATE_WAYS];
}

/* The slot owned by peer, or NULL. */
static rate_slot *rate_find(mk_network *nw, const mk_id *peer) {
    rate_slot *b = rate_bucket(nw, peer);
    for (int i = 0; i < RATE_WAYS; i++)
        if (mk_id_eq(&b[i].peer, peer)) return &b[i];
    return NULL;
}

/* peer's slot, taking over (reset) a free or stale slot of its bucket if it
 * has none: stale = its owner's request gap and reply wait have passed.
 * NULL when every slot of the bucket is in use by other peers. */
static rate_slot *rate_claim(mk_network *nw, const mk_id *peer, uint64_t now) {
    rate_slot *s = rate_find(nw, peer);
    if (s) return s;
    rate_slot *b = rate_bucket(nw, peer), *best = NULL;
    for (int i = 0; i < RATE_WAYS; i++) {
        rate_slot *x = &b[i];
        bool stale = (!x->last_request_ms || now - x->last_request_ms >= nw->min_sync_gap_ms) &&
                     x->await_until_ms < now;
        if (stale && (!best || x->last_request_ms < best->last_request_ms)) best = x;
    }
    if (!best) return NULL;
    memset(best, 0, sizeof *best);
    best->peer = *peer;
    return best;
}

/* Under mu: our digest (catalog records and the local entry). */
static int digest_locked(mk_network *nw, bool want_reply, mk_buf *frame) {
    size_t n = nw->cat.n + 1;
    mk_digest_item *items = calloc(n, sizeof *items);
    if (!items) return MK_ENOMEM;
    for (size_t i = 0; i < nw->cat.n; i++) {
        items[i].peer = nw->cat.recs[i].entry.peer_id;
        items[i].version = nw->cat.recs[i].entry.version;
    }
    items[n - 1].peer = nw->self;
    items[n - 1].version = nw->local.version;
    int rc = mk_disc_encode_digest(frame, want_reply, items, n);
    free(items);
    return rc;
}

/* Loop only: ask peer for a sync. */
static void sync_with(mk_network *nw, const mk_id *peer, const char *addr) {
    out_msg *om = out_new(nw);
    if (!om) return;
    mk_buf frame = MK_BUF_INIT;
    pthread_mutex_lock(&nw->mu);
    int rc = digest_locked(nw, true, &frame);
    if (rc == 0) nw->met.syncs_started++;
    pthread_mutex_unlock(&nw->mu);
    if (rc == 0) rc = out_add(om, &frame);
    mk_buf_free(&frame);
    if (rc < 0) {
        out_free(om);
        return;
    }
    uint64_t now = mk_mono_ms();
    rate_slot *s = rate_claim(nw, peer, now);
    if (!s) {
        /* Its reply could not be accepted: skip this round. */
        out_free(om);
        return;
    }
    s->await_until_ms = now + REPLY_WAIT_MS;
    send_to(nw, peer, addr, om);
}

static void handle_digest(mk_network *nw, mk_net_conn *conn, const mk_id *from,
                          const mk_disc_msg *m) {
    uint64_t now = mk_mono_ms();
    if (m->want_reply) {
        rate_slot *s = rate_claim(nw, from, now);
        if (!s || (s->last_request_ms && now - s->last_request_ms < nw->min_sync_gap_ms)) {
            refusal(nw, MK_REFUSE_RATE_LIMITED, from, "sync requested again too soon");
            return;
        }
        s->last_request_ms = now;
    } else {
        rate_slot *s = rate_find(nw, from);
        if (!s || s->await_until_ms < now) {
            refusal(nw, MK_REFUSE_RATE_LIMITED, from, "digest reply we did not ask for");
            return;
        }
        s->await_until_ms = 0;
    }

    /* Frames for what the peer lacks, collected under mu, sent after: our
     * digest first (if asked), then entries up to SYNC_MAX_BYTES (the rest
     * follows in later syncs, the peer's digest will show it lacks them). */
    mk_buf frames, f = MK_BUF_INIT;
    mk_buf_init(&frames, SYNC_MAX_BYTES + MK_DISC_MAX_FRAME);
    size_t n_entries = 0;
    pthread_mutex_lock(&nw->mu);
    if (m->want_reply) {
        if (digest_locked(nw, false, &f) == 0 && mk_buf_append_u32be(&frames, (uint32_t)f.len) == 0)
            mk_buf_append(&frames, f.data, f.len);
        nw->met.syncs_answered++;
    }
    uint64_t v;
    if (nw->local_wire.len && (!mk_digest_lookup(m, &nw->self, &v) || v < nw->local.version)) {
        mk_buf_reset(&f);
        if (mk_disc_encode_announce(&f, 0, nw->local_wire.data, nw->local_wire.len) == 0 &&
            mk_buf_append_u32be(&frames, (uint32_t)f.len) == 0 &&
            mk_buf_append(&frames, f.data, f.len) == 0)
            n_entries++;
    }
    for (size_t i = 0; i < nw->cat.n && frames.len < SYNC_MAX_BYTES; i++) {
        const mk_catalog_rec *r = &nw->cat.recs[i];
        if (mk_id_eq(&r->entry.peer_id, from)) continue;
        if (mk_digest_lookup(m, &r->entry.peer_id, &v) && v >= r->entry.version) continue;
        mk_buf_reset(&f);
        if (mk_disc_encode_announce(&f, 0, r->wire, r->wire_len) < 0 ||
            mk_buf_append_u32be(&frames, (uint32_t)f.len) < 0 ||
            mk_buf_append(&frames, f.data, f.len) < 0)
            break;
        n_entries++;
    }
    nw->met.sync_entries_sent += n_entries;
    pthread_mutex_unlock(&nw->mu);
    out_msg om = {.nw = nw, .frames = frames};
    out_send(&om, conn); /* on the connection the digest came in on */
    mk_buf_free(&frames);
    mk_buf_free(&f);
}

/* ------------------------------------------------------------------ */
/* Receiving entries                                                   */
/* ------------------------------------------------------------------ */

static void handle_entry(mk_network *nw, const mk_id *from, const uint8_t *wire, size_t len,
                         unsigned hops) {
    mk_error err;
    mk_error_clear(&err);
    mk_offer_result res = MK_OFFER_REFRESHED;
    mk_refusal why = MK_REFUSE_MALFORMED;
    mk_network_event ev;
    memset(&ev, 0, sizeof ev);
    pthread_mutex_lock(&nw->mu);
    if (nw->state != ST_RUNNING) {
        pthread_mutex_unlock(&nw->mu);
        return;
    }
    size_t live_before = mk_catalog_live(&nw->cat);
    int rc = mk_catalog_offer(&nw->cat, wire, len, wall_ms(), &res, &ev.entry, &why, &err);
    if (rc == 0) {
        nw->met.entries_accepted++;
        ev.peer_id = ev.entry.peer_id;
        ev.version = ev.entry.version;
        ev.hops = hops;
        ev.at_ms = mk_mono_ms();
        if (res == MK_OFFER_NEW) nw->met.discovered++, ev.type = MK_EVENT_DISCOVERED;
        if (res == MK_OFFER_UPDATED) nw->met.updated++, ev.type = MK_EVENT_UPDATED;
        if (res == MK_OFFER_DEPARTED) nw->met.departed++, ev.type = MK_EVENT_DEPARTED;
        if (res != MK_OFFER_REFRESHED) queue_copy_locked(nw, &ev);
    }
    bool first = rc == 0 && live_before == 0 && mk_catalog_live(&nw->cat) > 0;
    pthread_mutex_unlock(&nw->mu);
    if (rc < 0) {
        refusal(nw, why, from, err.msg);
        return;
    }
    mk_id subject = ev.peer_id;
    /* Forward what is new (content); refreshes travel by sync. */
    if (hops > 0 && hops < nw->max_hops && res != MK_OFFER_REFRESHED)
        push_entry(nw, wire, len, hops + 1, nw->fanout, from, &subject, false);
    if (first && !nw->kicked) {
        nw->kicked = true;
        mk_net_timer_start(nw->t_kick, KICK_MS, 0);
    }
    if (res != MK_OFFER_REFRESHED) {
        char pid[9];
        short_id(&ev.peer_id, pid);
        mk_log(MK_LOG_INFO, LOG, "%s %s version %llu (hops %u)", mk_network_event_name(ev.type),
               pid, (unsigned long long)ev.version, hops);
        run_hooks(nw, &ev);
    }
    mk_network_event_free(&ev);
}

/* ------------------------------------------------------------------ */
/* Protocol callbacks                                                  */
/* ------------------------------------------------------------------ */

static void on_connect(mk_net_conn *conn, bool inbound, void *ctx) {
    (void)inbound;
    mk_network *nw = ctx;
    if (nw->n_conns == nw->cap_conns) {
        size_t ncap = nw->cap_conns ? nw->cap_conns * 2 : 16;
        conn_ref *p = realloc(nw->conns, ncap * sizeof *p);
        if (!p) return; /* not tracked: sends to this peer dial instead */
        nw->conns = p;
        nw->cap_conns = ncap;
    }
    mk_net_conn_peer(conn, &nw->conns[nw->n_conns].peer);
    nw->conns[nw->n_conns++].conn = mk_net_conn_ref(conn);
}

static void on_close(mk_net_conn *conn, int code, const char *reason, void *ctx) {
    (void)code, (void)reason;
    mk_network *nw = ctx;
    for (size_t i = 0; i < nw->n_conns; i++) {
        if (nw->conns[i].conn == conn) {
            mk_net_conn_unref(conn);
            nw->conns[i] = nw->conns[--nw->n_conns];
            return;
        }
    }
}

static void on_frame(mk_net_conn *conn, const uint8_t *data, size_t len, void *ctx) {
    mk_network *nw = ctx;
    mk_id from;
    mk_net_conn_peer(conn, &from);
    mk_disc_msg m;
    mk_refusal why;
    mk_error err;
    mk_error_clear(&err);
    if (mk_disc_decode(data, len, &m, &why, &err) < 0) {
        refusal(nw, why, &from, err.msg);
        mk_net_conn_close(conn, "malformed discovery message");
        return;
    }
    if (m.type == MK_MSG_ANNOUNCE)
        handle_entry(nw, &from, m.entry, m.entry_len, m.hops);
    else
        handle_digest(nw, conn, &from, &m);
    mk_disc_msg_free(&m);
}

/* ------------------------------------------------------------------ */
/* Timers                                                              */
/* ------------------------------------------------------------------ */

/* Under mu: new version, sign, encode; replaces local on success. */
static int commit_locked(mk_network *nw, mk_peer_entry *next, mk_error *err) {
    uint64_t now = wall_ms();
    next->version = nw->local.version + 1 > now ? nw->local.version + 1 : now;
    mk_buf w;
    mk_buf_init(&w, MK_ENTRY_MAX_BYTES);
    int rc = mk_peer_entry_sign(next, &nw->key, err);
    if (rc == 0) rc = mk_peer_entry_encode(next, &w, err);
    if (rc < 0) {
        mk_buf_free(&w);
        return rc;
    }
    mk_peer_entry_free(&nw->local);
    nw->local = *next;
    mk_peer_entry_init(next);
    mk_buf_free(&nw->local_wire);
    nw->local_wire = w;
    return 0;
}

static void on_announce_timer(mk_net_timer *t, void *ctx) {
    mk_network *nw = ctx;
    pthread_mutex_lock(&nw->mu);
    mk_peer_entry next;
    int rc = nw->state == ST_RUNNING ? mk_peer_entry_copy(&next, &nw->local) : MK_ESTATE;
    if (rc == 0) {
        rc = commit_locked(nw, &next, NULL);
        mk_peer_entry_free(&next);
    }
    pthread_mutex_unlock(&nw->mu);
    if (rc == 0) announce_local(nw);
    mk_net_timer_start(t, jitter(nw->announce_ms), 0);
}

static void on_kick_timer(mk_net_timer *t, void *ctx) {
    (void)t;
    announce_local(ctx);
}

static void on_sync_timer(mk_net_timer *t, void *ctx) {
    mk_network *nw = ctx;
    target *tg;
    pthread_mutex_lock(&nw->mu);
    size_t n = nw->state == ST_RUNNING ? pick_locked(nw, 1, NULL, NULL, &tg) : 0;
    pthread_mutex_unlock(&nw->mu);
    if (n) {
        sync_with(nw, &tg[0].peer, tg[0].addr);
        free(tg);
    } else if (nw->n_boot) {
        const boot_peer *b = &nw->boot[mk_random_below(nw->n_boot)];
        sync_with(nw, &b->peer, b->addr);
    }
    mk_net_timer_start(t, jitter(nw->sync_ms), 0);
}

typedef struct purge_ctx {
    mk_network_event *evs;
    size_t n, cap;
} purge_ctx;

static void purge_cb(const mk_catalog_rec *rec, void *ctx) {
    purge_ctx *pc = ctx;
    if (pc->n == pc->cap) {
        size_t ncap = pc->cap ? pc->cap * 2 : 8;
        mk_network_event *p = realloc(pc->evs, ncap * sizeof *p);
        if (!p) return;
        pc->evs = p;
        pc->cap = ncap;
    }
    mk_network_event *ev = &pc->evs[pc->n];
    memset(ev, 0, sizeof *ev);
    ev->type = MK_EVENT_PURGED;
    ev->peer_id = rec->entry.peer_id;
    ev->version = rec->entry.version;
    ev->at_ms = mk_mono_ms();
    if (mk_peer_entry_copy(&ev->entry, &rec->entry) < 0) mk_peer_entry_init(&ev->entry);
    pc->n++;
}

static void on_purge_timer(mk_net_timer *t, void *ctx) {
    (void)t;
    mk_network *nw = ctx;
    purge_ctx pc = {0};
    pthread_mutex_lock(&nw->mu);
    if (nw->state == ST_RUNNING) {
        size_t n = mk_catalog_expire(&nw->cat, wall_ms(), purge_cb, &pc);
        nw->met.purged += n;
        if (mk_catalog_live(&nw->cat) == 0) nw->kicked = false;
        for (size_t i = 0; i < pc.n; i++)
            queue_copy_locked(nw, &pc.evs[i]);
    }
    pthread_mutex_unlock(&nw->mu);
    for (size_t i = 0; i < pc.n; i++) {
        char pid[9];
        short_id(&pc.evs[i].peer_id, pid);
        mk_log(MK_LOG_INFO, LOG, "purged %s (version %llu)", pid,
               (unsigned long long)pc.evs[i].version);
        run_hooks(nw, &pc.evs[i]);
        mk_network_event_free(&pc.evs[i]);
    }
    free(pc.evs);
}

static void post_bootstrap(mk_net *net, void *ctx, int status) {
    (void)net;
    mk_network *nw = ctx;
    if (status < 0) return;
    for (size_t i = 0; i < nw->n_boot; i++)
        sync_with(nw, &nw->boot[i].peer, nw->boot[i].addr);
}

static void post_announce(mk_net *net, void *ctx, int status) {
    (void)net;
    if (status == 0) announce_local(ctx);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

void mk_network_config_init(mk_network_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->fanout = MK_NETWORK_DEFAULT_FANOUT;
    cfg->max_hops = MK_NETWORK_DEFAULT_HOPS;
    cfg->announce_ms = MK_NETWORK_DEFAULT_ANNOUNCE_MS;
    cfg->sync_ms = MK_NETWORK_DEFAULT_SYNC_MS;
    cfg->purge_after_ms = MK_NETWORK_DEFAULT_PURGE_MS;
    cfg->max_drift_ms = MK_NETWORK_DEFAULT_MAX_DRIFT_MS;
    cfg->max_peers = MK_NETWORK_DEFAULT_MAX_PEERS;
    cfg->max_catalog_bytes = MK_NETWORK_DEFAULT_MAX_CATALOG_BYTES;
    cfg->max_dials = MK_NETWORK_DEFAULT_MAX_DIALS;
    cfg->event_queue = MK_NETWORK_DEFAULT_EVENT_QUEUE;
}

static void network_destroy(mk_network *nw) {
    /* Later layers' state first (newest first): the I/O thread has stopped,
     * so none of their callbacks can run any more. */
    for (size_t i = nw->n_attached; i-- > 0;)
        if (nw->attached[i].destroy) nw->attached[i].destroy(nw->attached[i].ptr);
    nw->n_attached = 0;
    mk_net_timer_free(nw->t_announce);
    mk_net_timer_free(nw->t_sync);
    mk_net_timer_free(nw->t_purge);
    mk_net_timer_free(nw->t_kick);
    for (size_t i = 0; i < nw->n_conns; i++)
        mk_net_conn_unref(nw->conns[i].conn);
    nw->n_conns = 0;
    mk_net_free(nw->net);
    free(nw->conns);
    mk_catalog_free(&nw->cat);
    mk_peer_entry_free(&nw->local);
    mk_buf_free(&nw->local_wire);
    for (size_t i = 0; i < nw->ev_n; i++)
        mk_network_event_free(&nw->evq[(nw->ev_head + i) % nw->event_cap]);
    free(nw->evq);
    if (nw->efd >= 0) close(nw->efd);
    mk_ed25519_wipe(&nw->key);
    pthread_mutex_destroy(&nw->mu);
    pthread_cond_destroy(&nw->cond);
    free(nw);
}

int mk_network_new(const mk_network_config *cfg, mk_network **out, mk_error *err) {
    *out = NULL;
    if (!cfg || !cfg->network || !*cfg->network)
        return mk_error_set(err, MK_EINVAL, "network: a network name or id is required");
    if (cfg->n_bootstrap > MK_NETWORK_MAX_BOOTSTRAP)
        return mk_error_set(err, MK_ETOOBIG, "network: at most %d bootstrap peers",
                            MK_NETWORK_MAX_BOOTSTRAP);
    if (cfg->n_tags > MK_ENTRY_MAX_TAGS)
        return mk_error_set(err, MK_ETOOBIG, "network: at most %d tags", MK_ENTRY_MAX_TAGS);
    mk_network *nw = calloc(1, sizeof *nw);
    if (!nw) return mk_error_set(err, MK_ENOMEM, "out of memory");
    nw->efd = -1;
    pthread_mutex_init(&nw->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&nw->cond, &ca);
    pthread_condattr_destroy(&ca);
    mk_peer_entry_init(&nw->local);
    mk_buf_init(&nw->local_wire, MK_ENTRY_MAX_BYTES);

    nw->fanout = cfg->fanout ? cfg->fanout : MK_NETWORK_DEFAULT_FANOUT;
    nw->max_hops = cfg->max_hops ? cfg->max_hops : MK_NETWORK_DEFAULT_HOPS;
    nw->announce_ms = cfg->announce_ms ? cfg->announce_ms : MK_NETWORK_DEFAULT_ANNOUNCE_MS;
    nw->sync_ms = cfg->sync_ms ? cfg->sync_ms : MK_NETWORK_DEFAULT_SYNC_MS;
    nw->purge_ms = cfg->purge_after_ms ? cfg->purge_after_ms : MK_NETWORK_DEFAULT_PURGE_MS;
    nw->min_sync_gap_ms = cfg->min_sync_gap_ms ? cfg->min_sync_gap_ms : nw->sync_ms / 4;
    nw->max_dials = cfg->max_dials ? cfg->max_dials : MK_NETWORK_DEFAULT_MAX_DIALS;
    nw->event_cap = cfg->event_queue ? cfg->event_queue : MK_NETWORK_DEFAULT_EVENT_QUEUE;
    nw->evq = calloc(nw->event_cap, sizeof *nw->evq);
    nw->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = 0;
    if (!nw->evq || nw->efd < 0) {
        rc = mk_error_set(err, MK_EIO, "network: cannot create the event queue");
        goto fail;
    }
    mk_id_parse(&nw->network_id, cfg->network);

    /* Identity. */
    if (cfg->key) {
        nw->key = *cfg->key;
    } else if (cfg->key_file) {
        rc = mk_net_key_load_or_create(cfg->key_file, &nw->key, err);
        if (rc < 0) {
            mk_error_prefix(err, rc, "network: key file %s", cfg->key_file);
            goto fail;
        }
    } else if (mk_ed25519_generate(&nw->key) < 0) {
        rc = mk_error_set(err, MK_ECRYPTO, "network: cannot generate a key");
        goto fail;
    }
    memcpy(nw->self.b, nw->key.public_key, 32);

    for (size_t i = 0; i < cfg->n_bootstrap; i++) {
        rc = mk_parse_peer_addr(cfg->bootstrap[i], &nw->boot[i].peer, nw->boot[i].addr, err);
        if (rc < 0) {
            mk_error_prefix(err, rc, "network: bootstrap");
            goto fail;
        }
        if (mk_id_eq(&nw->boot[i].peer, &nw->self)) continue; /* ourselves: skip */
        nw->n_boot++;
        if (nw->n_boot - 1 != i) nw->boot[nw->n_boot - 1] = nw->boot[i];
    }

    mk_catalog_limits lim = {
        /* A digest (every record and our own) must fit one frame. */
        .max_peers =
            cfg->max_peers
                ? (cfg->max_peers < MK_DIGEST_MAX_ITEMS ? cfg->max_peers : MK_DIGEST_MAX_ITEMS - 1)
                : MK_NETWORK_DEFAULT_MAX_PEERS,
        .max_bytes =
            cfg->max_catalog_bytes ? cfg->max_catalog_bytes : MK_NETWORK_DEFAULT_MAX_CATALOG_BYTES,
        .purge_after_ms = nw->purge_ms,
        .tombstone_ms = cfg->tombstone_ms ? cfg->tombstone_ms : 2ull * nw->purge_ms,
        .max_drift_ms = cfg->max_drift_ms ? cfg->max_drift_ms : MK_NETWORK_DEFAULT_MAX_DRIFT_MS,
    };
    mk_catalog_init(&nw->cat, &nw->network_id, &nw->self, &lim);

    /* Transport. */
    mk_net_config nc;
    mk_net_config_init(&nc);
    if (cfg->listen_addr) nc.listen_addr = cfg->listen_addr;
    nc.network_id = nw->network_id;
    nc.key = &nw->key;
    if (cfg->idle_timeout_ms) nc.idle_timeout_ms = cfg->idle_timeout_ms;
    rc = mk_net_new(&nc, &nw->net, err);
    if (rc < 0) goto fail;
    mk_net_protocol proto = {.name = MK_NETWORK_PROTOCOL,
                             .max_frame = MK_DISC_MAX_FRAME,
                             .on_connect = on_connect,
                             .on_frame = on_frame,
                             .on_close = on_close,
                             .ctx = nw};
    rc = mk_net_register_protocol(nw->net, &proto, err);
    if (rc < 0) goto fail;

    /* The first entry (the listen address is known after start; frames
     * arriving before the entry is set see an empty local_wire). */
    mk_peer_entry e;
    mk_peer_entry_init(&e);
    e.peer_id = nw->self;
    e.network_id = nw->network_id;
    e.started_at = mk_now();
    for (size_t i = 0; i < cfg->n_tags && rc == 0; i++) {
        mk_id tag;
        mk_id_parse(&tag, cfg->tags[i]);
        rc = mk_peer_entry_add_tag(&e, &tag, err);
    }
    for (size_t i = 0; i < cfg->n_advertise && rc == 0; i++)
        rc = mk_peer_entry_add_addr(&e, cfg->advertise[i], err);
    if (rc == 0) {
        /* mk_net_start's I/O thread blocks SIGPIPE itself. */
        rc = mk_net_start(nw->net, err);
    }
    if (rc == 0 && !cfg->n_advertise) {
        char addr[MK_NET_ADDR_MAX + 1];
        rc = mk_net_listen_addr(nw->net, addr, sizeof addr);
        if (rc == 0) rc = mk_peer_entry_add_addr(&e, addr, err);
    }
    pthread_mutex_lock(&nw->mu);
    if (rc == 0) rc = commit_locked(nw, &e, err);
    if (rc == 0) nw->state = ST_RUNNING;
    pthread_mutex_unlock(&nw->mu);
    mk_peer_entry_free(&e);
    if (rc < 0) goto fail;

    if ((rc = mk_net_timer_new(nw->net, on_announce_timer, nw, &nw->t_announce)) < 0 ||
        (rc = mk_net_timer_new(nw->net, on_sync_timer, nw, &nw->t_sync)) < 0 ||
        (rc = mk_net_timer_new(nw->net, on_purge_timer, nw, &nw->t_purge)) < 0 ||
        (rc = mk_net_timer_new(nw->net, on_kick_timer, nw, &nw->t_kick)) < 0) {
        mk_error_set(err, rc, "network: cannot create timers");
        goto fail;
    }
    uint64_t purge_tick = nw->purge_ms / 8 ? nw->purge_ms / 8 : 1;
    mk_net_timer_start(nw->t_announce, jitter(nw->announce_ms), 0);
    mk_net_timer_start(nw->t_sync, jitter(nw->sync_ms), 0);
    mk_net_timer_start(nw->t_purge, purge_tick, purge_tick);
    mk_net_post(nw->net, post_bootstrap, nw);
    char pid[9];
    short_id(&nw->self, pid);
    mk_log(MK_LOG_INFO, LOG, "node %s up at %s", pid, nw->local.n_addrs ? nw->local.addrs[0] : "-");
    *out = nw;
    return 0;
fail:
    if (nw->net) mk_net_stop(nw->net);
    network_destroy(nw);
    return rc < 0 ? rc : MK_EINVAL;
}

static void post_depart(mk_net *net, void *ctx, int status) {
    (void)net;
    mk_network *nw = ctx;
    if (status == 0) {
        mk_buf w = MK_BUF_INIT;
        pthread_mutex_lock(&nw->mu);
        int rc = mk_buf_append(&w, nw->local_wire.data, nw->local_wire.len);
        pthread_mutex_unlock(&nw->mu);
        if (rc == 0) push_entry(nw, w.data, w.len, 1, DEPART_PEERS, NULL, NULL, true);
        mk_buf_free(&w);
    }
    pthread_mutex_lock(&nw->mu);
    nw->depart_posted = true;
    pthread_cond_broadcast(&nw->cond);
    pthread_mutex_unlock(&nw->mu);
}

static int shutdown_net(mk_network *nw, bool depart) {
    pthread_mutex_lock(&nw->mu);
    if (nw->state != ST_RUNNING) {
        pthread_mutex_unlock(&nw->mu);
        return 0;
    }
    nw->state = ST_CLOSING;
    bool posted = false;
    if (depart) {
        mk_peer_entry next;
        mk_peer_entry_init(&next);
        next.peer_id = nw->self;
        next.network_id = nw->network_id;
        next.started_at = nw->local.started_at;
        next.departed = true;
        if (commit_locked(nw, &next, NULL) == 0) posted = true;
        mk_peer_entry_free(&next);
    }
    pthread_mutex_unlock(&nw->mu);
    if (posted && mk_net_post(nw->net, post_depart, nw) == 0) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += DEPART_WAIT_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
        pthread_mutex_lock(&nw->mu);
        while (!nw->depart_posted || nw->depart_pending > 0)
            if (pthread_cond_timedwait(&nw->cond, &nw->mu, &deadline) == ETIMEDOUT) break;
        pthread_mutex_unlock(&nw->mu);
    }
    mk_net_stop(nw->net);
    pthread_mutex_lock(&nw->mu);
    nw->state = ST_CLOSED;
    pthread_cond_broadcast(&nw->cond);
    pthread_mutex_unlock(&nw->mu);
    return 0;
}

int mk_network_close(mk_network *nw) {
    return nw ? shutdown_net(nw, true) : MK_EINVAL;
}

int mk_network_abort(mk_network *nw) {
    return nw ? shutdown_net(nw, false) : MK_EINVAL;
}

void mk_network_free(mk_network *nw) {
    if (!nw) return;
    shutdown_net(nw, true);
    network_destroy(nw);
}

void mk_network_peer_id(const mk_network *nw, mk_id *out) {
    *out = nw->self;
}

void mk_network_id(const mk_network *nw, mk_id *out) {
    *out = nw->network_id;
}

int mk_network_listen_addr(const mk_network *nw, char *out, size_t n) {
    return mk_net_listen_addr(nw->net, out, n);
}

mk_net *mk_network_net(mk_network *nw) {
    return nw->net;
}

/* ------------------------------------------------------------------ */
/* Local entry changes                                                 */
/* ------------------------------------------------------------------ */

typedef int (*change_fn)(mk_peer_entry *e, const void *a, const void *b, mk_error *err);

/* Apply fn to a copy of the local entry; commit and announce if it returns
 * 0, leave everything unchanged otherwise. */
static int change(mk_network *nw, change_fn fn, const void *a, const void *b, mk_error *err) {
    pthread_mutex_lock(&nw->mu);
    if (nw->state != ST_RUNNING) {
        pthread_mutex_unlock(&nw->mu);
        return mk_error_set(err, MK_ESTATE, "network: closed");
    }
    mk_peer_entry next;
    int rc = mk_peer_entry_copy(&next, &nw->local);
    if (rc < 0) rc = mk_error_set(err, rc, "out of memory");
    if (rc == 0) rc = fn(&next, a, b, err);
    if (rc == 0) rc = commit_locked(nw, &next, err);
    mk_peer_entry_free(&next);
    pthread_mutex_unlock(&nw->mu);
    if (rc == 0) mk_net_post(nw->net, post_announce, nw);
    return rc;
}

static int ch_add_ticket(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    (void)b;
    return mk_peer_entry_add_ticket(e, a, err);
}

static int ch_remove_ticket(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    (void)b;
    if (!mk_peer_entry_remove_ticket(e, a))
        return mk_error_set(err, MK_ENOTFOUND, "no such ticket in the local entry");
    return 0;
}

static int ch_remove_class(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    (void)err;
    size_t n = mk_peer_entry_remove_tickets_of(e, a);
    if (b) *(size_t *)b = n;
    return 0;
}

static int ch_replace_ticket(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    (void)b;
    const mk_ticket *t = a;
    mk_peer_entry_remove_tickets_of(e, &t->class_id);
    return mk_peer_entry_add_ticket(e, t, err);
}

static int ch_add_tag(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    (void)b;
    return mk_peer_entry_add_tag(e, a, err);
}

static int ch_remove_tag(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    (void)b;
    if (!mk_peer_entry_remove_tag(e, a)) return mk_error_set(err, MK_ENOTFOUND, "no such tag");
    return 0;
}

static int ch_add_served(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    return mk_peer_entry_add_served(e, *(const mk_served_kind *)b, a, err);
}

static int ch_remove_served(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    if (!mk_peer_entry_remove_served(e, *(const mk_served_kind *)b, a))
        return mk_error_set(err, MK_ENOTFOUND, "not served");
    return 0;
}

int mk_network_add_ticket(mk_network *nw, const mk_ticket *t, mk_error *err) {
    return change(nw, ch_add_ticket, t, NULL, err);
}

int mk_network_remove_ticket(mk_network *nw, const mk_ticket *t, mk_error *err) {
    return change(nw, ch_remove_ticket, t, NULL, err);
}

int mk_network_remove_tickets_of(mk_network *nw, const mk_id *class_id, size_t *removed,
                                 mk_error *err) {
    size_t n = 0;
    int rc = change(nw, ch_remove_class, class_id, &n, err);
    if (removed) *removed = n;
    return rc;
}

int mk_network_replace_ticket(mk_network *nw, const mk_ticket *t, mk_error *err) {
    return change(nw, ch_replace_ticket, t, NULL, err);
}

int mk_network_sink_add_ticket(void *ctx, const mk_ticket *t, mk_error *err) {
    return mk_network_replace_ticket(ctx, t, err);
}

int mk_network_add_tag(mk_network *nw, const mk_id *tag, mk_error *err) {
    return change(nw, ch_add_tag, tag, NULL, err);
}

int mk_network_remove_tag(mk_network *nw, const mk_id *tag, mk_error *err) {
    return change(nw, ch_remove_tag, tag, NULL, err);
}

int mk_network_add_served(mk_network *nw, mk_served_kind kind, const mk_id *id, mk_error *err) {
    return change(nw, ch_add_served, id, &kind, err);
}

int mk_network_remove_served(mk_network *nw, mk_served_kind kind, const mk_id *id, mk_error *err) {
    return change(nw, ch_remove_served, id, &kind, err);
}

int mk_network_local_entry(mk_network *nw, mk_peer_entry *out) {
    pthread_mutex_lock(&nw->mu);
    int rc = mk_peer_entry_copy(out, &nw->local);
    pthread_mutex_unlock(&nw->mu);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Catalog queries                                                     */
/* ------------------------------------------------------------------ */

void mk_peer_entries_free(mk_peer_entry *entries, size_t n) {
    for (size_t i = 0; i < n; i++)
        mk_peer_entry_free(&entries[i]);
    free(entries);
}

int mk_network_peers(mk_network *nw, mk_peer_entry **out, size_t *n) {
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&nw->mu);
    size_t live = mk_catalog_live(&nw->cat), k = 0;
    mk_peer_entry *arr = calloc(live ? live : 1, sizeof *arr);
    int rc = arr ? 0 : MK_ENOMEM;
    for (size_t i = 0; rc == 0 && i < nw->cat.n; i++) {
        if (nw->cat.recs[i].entry.departed) continue;
        rc = mk_peer_entry_copy(&arr[k], &nw->cat.recs[i].entry);
        if (rc == 0) k++;
    }
    pthread_mutex_unlock(&nw->mu);
    if (rc < 0) {
        if (arr) mk_peer_entries_free(arr, k);
        return rc;
    }
    *out = arr;
    *n = k;
    return 0;
}

int mk_network_get(mk_network *nw, const mk_id *peer, mk_peer_entry *out) {
    mk_peer_entry_init(out);
    pthread_mutex_lock(&nw->mu);
    const mk_catalog_rec *r = mk_catalog_find(&nw->cat, peer);
    int rc = (!r || r->entry.departed) ? MK_ENOTFOUND : mk_peer_entry_copy(out, &r->entry);
    pthread_mutex_unlock(&nw->mu);
    return rc;
}

size_t mk_network_peer_count(mk_network *nw) {
    pthread_mutex_lock(&nw->mu);
    size_t n = mk_catalog_live(&nw->cat);
    pthread_mutex_unlock(&nw->mu);
    return n;
}

void mk_network_metrics_get(mk_network *nw, mk_network_metrics *out) {
    pthread_mutex_lock(&nw->mu);
    *out = nw->met;
    out->catalog_size = mk_catalog_live(&nw->cat);
    out->tombstones = nw->cat.n_tombstones;
    out->catalog_bytes = nw->cat.bytes;
    out->local_version = nw->local.version;
    pthread_mutex_unlock(&nw->mu);
    mk_net_metrics_get(nw->net, &out->net);
}

int mk_network_metrics_prometheus(mk_network *nw, mk_buf *out) {
    mk_network_metrics m;
    mk_network_metrics_get(nw, &m);
    return mk_metrics_prometheus(&m, &nw->self, out);
}
