/*
 * discovery/network.c — the mk_network's lifecycle: creation in named
 * steps, graceful close with a departure, abort, free, and the accessors.
 * What the network does while it runs is in gossip.c, sync.c, peers.c,
 * transport.c, events.c and local.c (disc_internal.h lists them).
 *
 * Creation (mk_network_new), each step undone by the common failure path
 * (stop the transport if it runs, then network_destroy, which copes with
 * any prefix of the steps):
 *   1. check_config     refuse what cannot work (no network, too many
 *                       bootstrap peers or tags, a bad name or tag string);
 *   2. network_alloc    the object: mutex, monotonic condvar, intervals
 *                       with their defaults, the event queue and eventfd,
 *                       the network id (mk_name_or_id_parse);
 *      build_vouch      the ticket validators that vouch for peers;
 *   3. load_identity    the key: given, from key_file (created if absent),
 *                       or random; the peer id is its public key;
 *   4. parse_bootstrap  "PEERID@ADDR" strings, ourselves skipped;
 *   5. init_catalog     limits (max_peers kept below what a digest holds),
 *                       the judge when there are ticket validators;
 *   6. open_transport   an mk_transport on the same key and network id, its
 *                       connection limits ranked by the catalog
 *                       (mk_disc_peer_rank), with the "discovery" protocol
 *                       (transport.c);
 *   7. start_timers     heartbeat, sync, purge (periodic) and first-contact
 *                       timers, made and started before the transport
 *                       starts, so on this thread without a round trip to
 *                       the I/O thread each (their callbacks do nothing
 *                       until the network is RUNNING);
 *   8. first_entry      tags and addresses (the bound listen address when
 *                       none is advertised: known only once the transport
 *                       started), signed and committed; the network is
 *                       RUNNING from here (frames arriving before see an
 *                       empty local_wire); then the bootstrap syncs are
 *                       posted.
 *
 * Departure. mk_network_close (and free) signs an entry with `departed` set
 * and every list emptied, pushes it to up to DEPART_PEERS live peers (who
 * forward it like any announce), waits up to DEPART_WAIT_MS (500 ms) for
 * those sends to be done (sent or dropped, counted by transport.c), then
 * stops the transport, which flushes queued frames with TLS close_notify.
 * mk_network_abort skips the departure. Either way the state becomes
 * CLOSED and mk_network_next_event reports MK_ESTATE once drained.
 *
 * Destruction runs after the I/O thread stopped: the layers' slots first
 * (newest first; none of their callbacks can run any more), then timers,
 * the connection table's references, the transport and the rest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/resource.h"
#include "core/timeutil.h"
#include "discovery/disc_internal.h"
#include "mosaik/clock.h"
#include "mosaik/log.h"

#define DEPART_PEERS 16
#define DEPART_WAIT_MS 500

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
    cfg->max_new_per_conn = MK_NETWORK_DEFAULT_MAX_NEW_PER_CONN;
    cfg->max_conns = MK_TRANSPORT_DEFAULT_MAX_CONNS;
    cfg->max_conns_per_addr = MK_TRANSPORT_DEFAULT_MAX_CONNS_PER_ADDR;
    cfg->max_partial_bytes = MK_TRANSPORT_DEFAULT_MAX_PARTIAL_BYTES;
}

int mk_name_or_id_parse(const char *s, mk_id *out, mk_error *err) {
    if (!s) return mk_error_set(err, MK_EINVAL, "missing name or id");
    size_t n = strnlen(s, MK_NAME_MAX + 1);
    if (n == 0 || n > MK_NAME_MAX)
        return mk_error_set(err, MK_EINVAL, "a name or id must be 1..%d bytes", MK_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return mk_error_set(err, MK_EINVAL, "name or id: control character at byte %zu", i);
    bool hex_prefix = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    if (hex_prefix || (n == 2 * MK_ID_LEN && strspn(s, "0123456789abcdefABCDEF") == n)) {
        /* Meant as an id: exactly 64 hex digits, and not all zero. */
        mk_error e;
        mk_error_clear(&e);
        if (mk_id_from_hex(out, s, &e) < 0)
            return mk_error_set(err, MK_EINVAL, "\"%.80s\" is not a valid id: %s", s, e.msg);
    } else {
        mk_id_from_name(out, s);
    }
    if (mk_id_is_zero(out)) return mk_error_set(err, MK_EINVAL, "\"%.80s\" gives the zero id", s);
    return 0;
}

int mk_parse_peer_addr(const char *s, mk_id *peer, char addr[MK_TRANSPORT_ADDR_MAX + 1],
                       mk_error *err) {
    const char *at = s ? strchr(s, '@') : NULL;
    if (!at) return mk_error_set(err, MK_EINVAL, "'%s': want PEERID@HOST:PORT", s ? s : "");
    char hex[65];
    size_t hl = (size_t)(at - s);
    if (hl != 64) return mk_error_set(err, MK_EINVAL, "'%s': the peer id must be 64 hex digits", s);
    memcpy(hex, s, 64);
    hex[64] = 0;
    MK_TRY(mk_id_from_hex(peer, hex, err));
    size_t al = strlen(at + 1);
    if (al == 0 || al > MK_TRANSPORT_ADDR_MAX || !strchr(at + 1, ':'))
        return mk_error_set(err, MK_EINVAL, "'%s': want HOST:PORT after '@'", s);
    memcpy(addr, at + 1, al + 1);
    return 0;
}

/* ----- destruction ----------------------------------------------------------- */

static void network_destroy(mk_network *nw) {
    /* Later layers' state first (newest first): the I/O thread has stopped,
     * so none of their callbacks can run any more. */
    mk_disc_slots_destroy(nw);
    mk_validator_set_free(&nw->vouch);
    mk_transport_timer_free(nw->t_announce);
    mk_transport_timer_free(nw->t_sync);
    mk_transport_timer_free(nw->t_purge);
    mk_transport_timer_free(nw->t_kick);
    for (size_t i = 0; i < nw->n_conns; i++)
        mk_transport_conn_unref(nw->conns[i].conn);
    nw->n_conns = 0;
    mk_transport_free(nw->net);
    free(nw->conns);
    mk_catalog_free(&nw->cat);
    mk_peer_entry_free(&nw->local);
    mk_buf_free(&nw->local_wire);
    if (nw->evq) mk_disc_events_free(nw);
    free(nw->evq);
    if (nw->efd >= 0) close(nw->efd);
    mk_ed25519_wipe(&nw->key);
    pthread_mutex_destroy(&nw->mu);
    pthread_mutex_destroy(&nw->rmu);
    pthread_cond_destroy(&nw->cond);
    free(nw);
}

/* ----- creation, step by step -------------------------------------------------- */

static int check_config(const mk_network_config *cfg, mk_error *err) {
    if (!cfg || !cfg->network || !*cfg->network)
        return mk_error_set(err, MK_EINVAL, "network: a network name or id is required");
    if (cfg->n_bootstrap > MK_NETWORK_MAX_BOOTSTRAP)
        return mk_error_set(err, MK_ETOOBIG, "network: at most %d bootstrap peers",
                            MK_NETWORK_MAX_BOOTSTRAP);
    if (cfg->n_tags > MK_ENTRY_MAX_TAGS)
        return mk_error_set(err, MK_ETOOBIG, "network: at most %d tags", MK_ENTRY_MAX_TAGS);
    if ((cfg->n_tags && !cfg->tags) || (cfg->n_ticket_validators && !cfg->ticket_validators))
        return mk_error_set(err, MK_EINVAL, "network: a count without its array");
    mk_id id;
    if (mk_name_or_id_parse(cfg->network, &id, err) < 0)
        return mk_error_prefix(err, MK_EINVAL, "network: the network");
    for (size_t i = 0; i < cfg->n_tags; i++)
        if (mk_name_or_id_parse(cfg->tags[i], &id, err) < 0)
            return mk_error_prefix(err, MK_EINVAL, "network: tag %zu", i);
    return 0;
}

/* The ticket validators that vouch for peers, made from their specs. */
static int build_vouch(mk_network *nw, const mk_network_config *cfg, mk_error *err) {
    for (size_t i = 0; i < cfg->n_ticket_validators; i++) {
        const mk_validator_spec *sp = &cfg->ticket_validators[i];
        mk_validator *v = sp->make ? sp->make(sp->arg, err) : NULL;
        if (!v) {
            int rc = err && err->code ? err->code : MK_EINVAL;
            return mk_error_prefix(err, rc, "network: ticket validator %zu", i);
        }
        if (mk_validator_set_add(&nw->vouch, v) < 0) {
            mk_validator_free(v);
            return mk_error_set(err, MK_ENOMEM, "out of memory");
        }
    }
    return 0;
}

static int network_alloc(const mk_network_config *cfg, mk_network **out, mk_error *err) {
    mk_network *nw = calloc(1, sizeof *nw);
    if (!nw) return mk_error_set(err, MK_ENOMEM, "out of memory");
    *out = nw;
    nw->efd = -1;
    pthread_mutex_init(&nw->mu, NULL);
    pthread_mutex_init(&nw->rmu, NULL);
    mk_cond_init_mono(&nw->cond);
    mk_validator_set_init(&nw->vouch);
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
    nw->max_new_per_conn =
        cfg->max_new_per_conn ? cfg->max_new_per_conn : MK_NETWORK_DEFAULT_MAX_NEW_PER_CONN;
    nw->evq = calloc(nw->event_cap, sizeof *nw->evq);
    if (!nw->evq) return mk_error_set(err, MK_ENOMEM, "network: the event queue: out of memory");
    nw->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (nw->efd < 0) return mk_resource_error(err, errno, "network: the event queue's eventfd");
    return mk_name_or_id_parse(cfg->network, &nw->network_id, err);
}

static int load_identity(mk_network *nw, const mk_network_config *cfg, mk_error *err) {
    if (cfg->key) {
        nw->key = *cfg->key;
    } else if (cfg->key_file) {
        int rc = mk_transport_key_load_or_create(cfg->key_file, &nw->key, err);
        if (rc < 0) return mk_error_prefix(err, rc, "network: key file %s", cfg->key_file);
    } else if (mk_ed25519_generate(&nw->key) < 0) {
        return mk_error_set(err, MK_ECRYPTO, "network: cannot generate a key");
    }
    memcpy(nw->self.b, nw->key.public_key, 32);
    return 0;
}

static int parse_bootstrap(mk_network *nw, const mk_network_config *cfg, mk_error *err) {
    for (size_t i = 0; i < cfg->n_bootstrap; i++) {
        int rc = mk_parse_peer_addr(cfg->bootstrap[i], &nw->boot[i].peer, nw->boot[i].addr, err);
        if (rc < 0) return mk_error_prefix(err, rc, "network: bootstrap");
        if (mk_id_eq(&nw->boot[i].peer, &nw->self)) continue; /* ourselves: skip */
        nw->n_boot++;
        if (nw->n_boot - 1 != i) nw->boot[nw->n_boot - 1] = nw->boot[i];
    }
    return 0;
}

static void init_catalog(mk_network *nw, const mk_network_config *cfg) {
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
    if (nw->vouch.n) {
        nw->cat.judge = mk_disc_judge;
        nw->cat.judge_ctx = nw;
    }
}

static int open_transport(mk_network *nw, const mk_network_config *cfg, mk_error *err) {
    mk_transport_config nc;
    mk_transport_config_init(&nc);
    if (cfg->listen_addr) nc.listen_addr = cfg->listen_addr;
    nc.network_id = nw->network_id;
    nc.key = &nw->key;
    if (cfg->idle_timeout_ms) nc.idle_timeout_ms = cfg->idle_timeout_ms;
    if (cfg->max_conns) nc.max_conns = cfg->max_conns;
    if (cfg->max_conns_per_addr) nc.max_conns_per_addr = cfg->max_conns_per_addr;
    if (cfg->max_partial_bytes) nc.max_partial_bytes = cfg->max_partial_bytes;
    nc.peer_rank = mk_disc_peer_rank; /* the catalog ranks peers for net's limits */
    nc.peer_rank_ctx = nw;
    MK_TRY(mk_transport_new(&nc, &nw->net, err));
    mk_transport_protocol proto;
    mk_disc_protocol_init(nw, &proto);
    return mk_transport_protocol_register(nw->net, &proto, err);
}

/* The first entry; starts the transport (the listen address is known after
 * start) and makes the network RUNNING. */
static int first_entry(mk_network *nw, const mk_network_config *cfg, mk_error *err) {
    mk_peer_entry e;
    mk_peer_entry_init(&e);
    e.peer_id = nw->self;
    e.network_id = nw->network_id;
    e.started_at = mk_now();
    int rc = 0;
    for (size_t i = 0; i < cfg->n_tags && rc == 0; i++) {
        mk_id tag;
        rc = mk_name_or_id_parse(cfg->tags[i], &tag, err);
        if (rc == 0) rc = mk_peer_entry_add_tag(&e, &tag, err);
    }
    for (size_t i = 0; i < cfg->n_advertise && rc == 0; i++)
        rc = mk_peer_entry_add_addr(&e, cfg->advertise[i], err);
    /* mk_transport_start's I/O thread blocks SIGPIPE itself. */
    if (rc == 0) rc = mk_transport_start(nw->net, err);
    if (rc == 0 && !cfg->n_advertise) {
        char addr[MK_TRANSPORT_ADDR_MAX + 1];
        rc = mk_transport_listen_addr(nw->net, addr, sizeof addr);
        if (rc == 0) rc = mk_peer_entry_add_addr(&e, addr, err);
    }
    pthread_mutex_lock(&nw->mu);
    if (rc == 0) rc = mk_disc_commit_locked(nw, &e, err);
    if (rc == 0) nw->state = MK_DISC_RUNNING;
    pthread_mutex_unlock(&nw->mu);
    mk_peer_entry_free(&e);
    return rc;
}

static int start_timers(mk_network *nw, mk_error *err) {
    int rc;
    if ((rc = mk_transport_timer_new(nw->net, mk_disc_on_announce_timer, nw, &nw->t_announce)) <
            0 ||
        (rc = mk_transport_timer_new(nw->net, mk_disc_on_sync_timer, nw, &nw->t_sync)) < 0 ||
        (rc = mk_transport_timer_new(nw->net, mk_disc_on_purge_timer, nw, &nw->t_purge)) < 0 ||
        (rc = mk_transport_timer_new(nw->net, mk_disc_on_kick_timer, nw, &nw->t_kick)) < 0)
        return mk_error_set(err, rc, "network: cannot create timers");
    uint64_t purge_tick = nw->purge_ms / 8 ? nw->purge_ms / 8 : 1;
    mk_transport_timer_start(nw->t_announce, mk_disc_jitter(nw->announce_ms), 0);
    mk_transport_timer_start(nw->t_sync, mk_disc_jitter(nw->sync_ms), 0);
    mk_transport_timer_start(nw->t_purge, purge_tick, purge_tick);
    return 0;
}

int mk_network_new(const mk_network_config *cfg, mk_network **out, mk_error *err) {
    *out = NULL;
    MK_TRY(check_config(cfg, err));
    mk_network *nw = NULL;
    int rc = network_alloc(cfg, &nw, err);
    if (rc == 0) rc = build_vouch(nw, cfg, err);
    if (rc == 0) rc = load_identity(nw, cfg, err);
    if (rc == 0) rc = parse_bootstrap(nw, cfg, err);
    if (rc == 0) init_catalog(nw, cfg);
    if (rc == 0) rc = open_transport(nw, cfg, err);
    if (rc == 0) rc = start_timers(nw, err);
    if (rc == 0) rc = first_entry(nw, cfg, err);
    if (rc < 0) {
        if (nw && nw->net) mk_transport_stop(nw->net);
        if (nw) network_destroy(nw);
        return rc;
    }
    mk_transport_post(nw->net, mk_disc_post_bootstrap, nw);
    char pid[9];
    mk_id_short(&nw->self, pid);
    mk_log(MK_LOG_INFO, MK_DISC_LOG, "node %s up at %s", pid,
           nw->local.n_addrs ? nw->local.addrs[0] : "-");
    *out = nw;
    return 0;
}

/* ----- departure and shutdown ---------------------------------------------------- */

static void post_depart(mk_transport *net, void *ctx, int status) {
    (void)net;
    mk_network *nw = ctx;
    if (status == 0) {
        mk_buf w = MK_BUF_INIT;
        pthread_mutex_lock(&nw->mu);
        int rc = mk_buf_append(&w, nw->local_wire.data, nw->local_wire.len);
        pthread_mutex_unlock(&nw->mu);
        if (rc == 0) mk_disc_push_entry(nw, w.data, w.len, 1, DEPART_PEERS, NULL, NULL, true);
        mk_buf_free(&w);
    }
    pthread_mutex_lock(&nw->mu);
    nw->depart_posted = true;
    pthread_cond_broadcast(&nw->cond);
    pthread_mutex_unlock(&nw->mu);
}

/* Under mu: sign the departure (every list empty). */
static bool sign_departure_locked(mk_network *nw) {
    mk_peer_entry next;
    mk_peer_entry_init(&next);
    next.peer_id = nw->self;
    next.network_id = nw->network_id;
    next.started_at = nw->local.started_at;
    next.departed = true;
    bool ok = mk_disc_commit_locked(nw, &next, NULL) == 0;
    mk_peer_entry_free(&next);
    return ok;
}

/* Push the departure and wait up to DEPART_WAIT_MS for its sends. */
static void send_departure(mk_network *nw) {
    if (mk_transport_post(nw->net, post_depart, nw) < 0) return;
    struct timespec deadline;
    mk_deadline_after(&deadline, DEPART_WAIT_MS);
    pthread_mutex_lock(&nw->mu);
    while (!nw->depart_posted || nw->depart_pending > 0)
        if (pthread_cond_timedwait(&nw->cond, &nw->mu, &deadline) == ETIMEDOUT) break;
    pthread_mutex_unlock(&nw->mu);
}

static int shutdown_net(mk_network *nw, bool depart) {
    pthread_mutex_lock(&nw->mu);
    if (nw->state != MK_DISC_RUNNING) {
        pthread_mutex_unlock(&nw->mu);
        return 0;
    }
    nw->state = MK_DISC_CLOSING;
    bool signed_departure = depart && sign_departure_locked(nw);
    pthread_mutex_unlock(&nw->mu);
    if (signed_departure) send_departure(nw);
    mk_transport_stop(nw->net);
    pthread_mutex_lock(&nw->mu);
    nw->state = MK_DISC_CLOSED;
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

/* ----- accessors -------------------------------------------------------------------- */

void mk_network_peer_id(const mk_network *nw, mk_id *out) {
    *out = nw->self;
}

void mk_network_id(const mk_network *nw, mk_id *out) {
    *out = nw->network_id;
}

int mk_network_listen_addr(const mk_network *nw, char *out, size_t n) {
    return mk_transport_listen_addr(nw->net, out, n);
}

int mk_network_contact(const mk_network *nw, char *out, size_t n) {
    char addr[MK_TRANSPORT_ADDR_MAX + 1], hex[MK_ID_HEX_LEN];
    int rc = mk_network_listen_addr(nw, addr, sizeof addr);
    if (rc < 0) return rc;
    mk_id_to_hex(&nw->self, hex);
    int len = snprintf(out, n, "%s@%s", hex, addr);
    return len < 0 || (size_t)len >= n ? MK_ETOOBIG : 0;
}

mk_transport *mk_network_transport(mk_network *nw) {
    return nw->net;
}
