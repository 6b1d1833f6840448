/*
 * tests/unit/net/limits_prefix_util.h — limits_util.h for the code before
 * issue 11's limits (branch point 40be672): the same helpers, doing nothing
 * or reading 0, since the configuration fields and counters they touch do
 * not exist there. Not used by the build; to run the attack tests against
 * the old code, copy test_net_limits.c, tls_flood_util.h,
 * ../../integration/test_discovery_bounds.c, ../../integration/discovery_util.h
 * and ../streams/test_streams_bounds.c into a tree at that commit, and this
 * file as its tests/unit/net/limits_util.h. Each attack then fails on its
 * behavioural assertion (docs/net.md, "Tests").
 */
#ifndef MOSAIK_LIMITS_UTIL_H
#define MOSAIK_LIMITS_UTIL_H
#include <stdint.h>
#include <string.h>
#include "mosaik/discovery.h"
#include "mosaik/net.h"
#include "mosaik/streams.h"
#define MK_STREAM_DEFAULT_MAX_REFUSALS 8u
typedef int (*lu_rank_fn)(const mk_id *peer, void *ctx);
static inline mk_transport_metrics lu_net_metrics(mk_transport *net) {
    mk_transport_metrics m;
    mk_transport_metrics_get(net, &m);
    return m;
}
static inline void lu_net_limits(mk_transport_config *c, uint32_t a, uint32_t b, size_t d) {
    (void)c, (void)a, (void)b, (void)d;
}
static inline void lu_net_rank(mk_transport_config *c, lu_rank_fn f, void *x) {
    (void)c, (void)f, (void)x;
}
static inline uint64_t lu_refused_addr(mk_transport *n) {
    (void)n;
    return 0;
}
static inline uint64_t lu_displaced(mk_transport *n) {
    (void)n;
    return 0;
}
static inline uint64_t lu_closed_budget(mk_transport *n) {
    (void)n;
    return 0;
}
static inline uint64_t lu_partial_bytes(mk_transport *n) {
    (void)n;
    return 0;
}
static inline void lu_disc_vouch(mk_network_config *c, const mk_validator_spec *v, size_t n) {
    (void)c, (void)v, (void)n;
}
static inline uint64_t lu_refused_new_ids(mk_network *nw) {
    (void)nw;
    return 0;
}
static inline uint64_t lu_evicted(mk_network *nw) {
    (void)nw;
    return 0;
}
typedef struct {
    uint64_t conns_open, displaced, refused_addr, partial_bytes, closed_budget;
} lu_net_view;
static inline lu_net_view lu_disc_net(mk_network *nw) {
    mk_network_metrics m;
    mk_network_metrics_get(nw, &m);
    lu_net_view v = {m.net.conns_open, 0, 0, 0, 0};
    return v;
}
static inline bool lu_prometheus_has(mk_network *nw, const char *needle) {
    mk_buf p = MK_BUF_INIT;
    bool ok = mk_network_metrics_prometheus(nw, &p) == 0 && mk_buf_append_u8(&p, 0) == 0 &&
              strstr((const char *)p.data, needle);
    mk_buf_free(&p);
    return ok;
}
static inline void lu_verdict_ttl(mk_stream_producer_config *o, uint32_t ms) {
    (void)o, (void)ms;
}
static inline uint64_t lu_verdict_hits(mk_stream_producer *p) {
    (void)p;
    return 0;
}
static inline uint64_t lu_closed_refusals(mk_stream_producer *p) {
    (void)p;
    return 0;
}
#endif
