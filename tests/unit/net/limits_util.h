/*
 * tests/unit/net/limits_util.h — what the limit tests (net, discovery,
 * streams) read of the limits themselves: the configuration fields and the
 * counters that issue 11 added (mk_transport_config.max_conns_per_addr,
 * max_partial_bytes, peer_rank; mk_transport_metrics.refused_addr, displaced,
 * closed_budget, partial_bytes; the discovery and streams counters).
 *
 * The attack tests assert behaviour (a real peer gets in, a hostile
 * connection is closed, a validator is not run again) through the API that
 * existed before, and these numbers through the helpers here, so the same
 * tests also run against the code before the limits with this header
 * replaced by limits_prefix_util.h, whose helpers do nothing (docs/net.md,
 * "Tests").
 */
#ifndef MOSAIK_LIMITS_UTIL_H
#define MOSAIK_LIMITS_UTIL_H

#include <stdint.h>
#include <string.h>

#include "mosaik/discovery.h"
#include "mosaik/net.h"
#include "mosaik/streams.h"

static inline mk_transport_metrics lu_net_metrics(mk_transport *net) {
    mk_transport_metrics m;
    mk_transport_metrics_get(net, &m);
    return m;
}

/* Limits of a test node: 0 keeps a default. */
static inline void lu_net_limits(mk_transport_config *cfg, uint32_t max_conns, uint32_t per_addr,
                                 size_t partial_bytes) {
    if (max_conns) cfg->max_conns = max_conns;
    if (per_addr) cfg->max_conns_per_addr = per_addr;
    if (partial_bytes) cfg->max_partial_bytes = partial_bytes;
}

static inline void lu_net_rank(mk_transport_config *cfg, mk_transport_rank_fn fn, void *ctx) {
    cfg->peer_rank = fn;
    cfg->peer_rank_ctx = ctx;
}

static inline uint64_t lu_refused_addr(mk_transport *net) {
    return lu_net_metrics(net).refused_addr;
}
static inline uint64_t lu_displaced(mk_transport *net) {
    return lu_net_metrics(net).displaced;
}
static inline uint64_t lu_closed_budget(mk_transport *net) {
    return lu_net_metrics(net).closed_budget;
}
static inline uint64_t lu_partial_bytes(mk_transport *net) {
    return lu_net_metrics(net).partial_bytes;
}

/* ----- discovery ----- */

static inline void lu_disc_vouch(mk_network_config *cfg, const mk_validator_spec *v, size_t n) {
    cfg->ticket_validators = v;
    cfg->n_ticket_validators = n;
}
static inline mk_network_metrics lu_disc_metrics(mk_network *nw) {
    mk_network_metrics m;
    mk_network_metrics_get(nw, &m);
    return m;
}
static inline uint64_t lu_refused_new_ids(mk_network *nw) {
    return lu_disc_metrics(nw).refused[MK_REFUSE_NEW_IDS];
}
static inline uint64_t lu_evicted(mk_network *nw) {
    return lu_disc_metrics(nw).evicted;
}
static inline mk_transport_metrics lu_disc_net(mk_network *nw) {
    return lu_disc_metrics(nw).net;
}
/* The Prometheus text holds `needle`. */
static inline bool lu_prometheus_has(mk_network *nw, const char *needle) {
    mk_buf p = MK_BUF_INIT;
    bool ok = mk_network_metrics_prometheus(nw, &p) == 0 && mk_buf_append_u8(&p, 0) == 0 &&
              strstr((const char *)p.data, needle) != NULL;
    mk_buf_free(&p);
    return ok;
}

/* ----- streams ----- */

static inline mk_stream_stats lu_prod_stats(mk_stream_producer *p) {
    mk_stream_stats st;
    mk_stream_producer_stats(p, &st);
    return st;
}
static inline void lu_verdict_ttl(mk_stream_producer_config *o, uint32_t ms) {
    o->verdict_ttl_ms = ms;
}
static inline uint64_t lu_verdict_hits(mk_stream_producer *p) {
    return lu_prod_stats(p).verdict_hits;
}
static inline uint64_t lu_closed_refusals(mk_stream_producer *p) {
    return lu_prod_stats(p).closed_refusals;
}

#endif
