/*
 * tools/mosaik/http_json.c — what the status page shows, as JSON
 * (/api/status.json, /api/peers.json, and the page itself, which is
 * rendered from the same object by http_page.c).
 *
 * Every value comes from the library's public queries, so an application
 * embedding libmosaik can serve the same: mk_network_local_entry and
 * mk_network_peers (the node and the catalog), mk_tdx_ticket_describe (a
 * ticket's platform, measurements, TCB status, simulated flag, verdict and
 * expiry), mk_validator_check (the node's verdict on a peer),
 * mk_stream_*_stats / _channels (streams), mk_group_status_get and
 * mk_group_members (groups: members, roles, leader, commit index),
 * mk_network_refusals (the recent refusals, with reasons). Times are UNIX seconds plus the seconds
 * left ("expires_in"), so a reader needs no clock of its own; an
 * expiration that never comes is null.
 *
 * Shape (docs/status-page.md has every field):
 *   status: {"time", "node": {...}, "peers": [...], "streams": [...],
 *            "groups": [...], "refusals": [...]}
 *   peers:  {"time", "peers": [...]}
 * Building is bounded: at most HTTP_MAX_PEERS_SHOWN peers are described
 * (each ticket costs a quote verification, on the node's main loop), the
 * others only counted; MK_ENTRY_MAX_TICKETS per entry, MK_NETWORK_REFUSALS
 * refusals.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "mosaik/groups.h"
#include "mosaik/jwt.h"
#if MOSAIK_HAVE_TDX
#include "mosaik/tdx_ticket.h"
#endif

static json_t *hex_id(const mk_id *id) {
    char h[MK_ID_HEX_LEN];
    mk_id_to_hex(id, h);
    return json_string(h);
}

static json_t *hex_bytes(const uint8_t *b, size_t n) {
    char h[2 * 64 + 1];
    if (n > 64) n = 64;
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = "0123456789abcdef"[b[i] >> 4];
        h[2 * i + 1] = "0123456789abcdef"[b[i] & 15];
    }
    h[2 * n] = 0;
    return json_string(h);
}

/* A time as {"at": UNIX seconds or null, "in": seconds left}. */
static void set_time(json_t *o, const char *key, int64_t t, int64_t now) {
    char k2[48];
    snprintf(k2, sizeof k2, "%s_in", key);
    if (t == MK_EXPIRES_NEVER) {
        json_object_set_new(o, key, json_null());
        json_object_set_new(o, k2, json_null());
        return;
    }
    json_object_set_new(o, key, json_integer(t));
    json_object_set_new(o, k2, json_integer(t - now));
}

static bool prefix_match(const mk_id *id, const char *peer) {
    if (!peer || !*peer) return true;
    char h[MK_ID_HEX_LEN];
    mk_id_to_hex(id, h);
    return !strncmp(h, peer, strlen(peer));
}

/* ----- tickets ----------------------------------------------------------- */

#if MOSAIK_HAVE_TDX
static void tdx_ticket(json_t *o, const mk_ticket *t, const mk_validator *v, const mk_peer_view *pv,
                       int64_t now) {
    mk_tdx_ticket_info in;
    mk_error err;
    mk_error_clear(&err);
    if (mk_tdx_ticket_describe(t, v, pv, now, &in, &err) < 0) {
        json_object_set_new(o, "error", json_string(err.msg));
        return;
    }
    json_t *m = json_object();
    json_object_set_new(m, "MRTD", hex_bytes(in.report.mr_td, 48));
    for (int i = 0; i < 4; i++) {
        char k[8];
        snprintf(k, sizeof k, "RTMR%d", i);
        json_object_set_new(m, k, hex_bytes(in.report.rtmr[i], 48));
    }
    json_object_set_new(o, "measurements", m);
    json_object_set_new(o, "quoted_at", json_integer(in.extra.quoted_at));
    set_time(o, "expires", in.extra.expiration, now);
    json_object_set_new(o, "collateral", json_boolean(in.has_collateral));
    json_object_set_new(o, "checked", json_boolean(in.checked));
    if (!in.checked) return;
    json_object_set_new(o, "verified", json_boolean(in.quote_ok));
    if (in.quote_ok) {
        json_object_set_new(o, "simulated", json_boolean(in.simulated));
        json_object_set_new(o, "tcb_status",
                            in.tcb_status == MK_TDX_TCB_UNKNOWN
                                ? json_null()
                                : json_string(mk_tdx_tcb_status_name(in.tcb_status)));
    }
    json_object_set_new(o, "admitted", json_boolean(in.verdict == 0));
    if (in.verdict == 0)
        set_time(o, "valid_until", in.valid_until, now);
    else
        json_object_set_new(o, "reason", json_string(in.reason));
}
#endif

/* One ticket: its class and platform, and what its platform shows. */
static json_t *ticket_json(const mk_ticket *t, const mk_validator *v, const mk_peer_view *pv,
                           int64_t now) {
    json_t *o = json_object();
    json_object_set_new(o, "class", hex_id(&t->class_id));
    json_object_set_new(o, "bytes", json_integer((json_int_t)t->len));
    mk_id cls;
    mk_jwt_class(&cls);
    const char *platform = mk_id_eq(&cls, &t->class_id) ? "jwt" : "unknown";
#if MOSAIK_HAVE_TDX
    mk_tdx_ticket_class(&cls);
    if (mk_id_eq(&cls, &t->class_id)) {
        platform = "tdx";
        tdx_ticket(o, t, v, pv, now);
    }
#else
    (void)v;
    (void)pv;
    (void)now;
#endif
    json_object_set_new(o, "platform", json_string(platform));
    return o;
}

/* ----- peers ------------------------------------------------------------- */

static json_t *entry_json(const mk_peer_entry *e, const mk_validator *v, int64_t now) {
    json_t *o = json_object();
    json_object_set_new(o, "peer", hex_id(&e->peer_id));
    json_object_set_new(o, "version", json_integer((json_int_t)e->version));
    json_object_set_new(o, "started_at", json_integer(e->started_at));
    json_t *addrs = json_array(), *tags = json_array(), *tickets = json_array();
    for (size_t i = 0; i < e->n_addrs; i++)
        json_array_append_new(addrs, json_string(e->addrs[i]));
    mk_id sim;
    mk_id_from_name(&sim, "mosaik.tdx.simulated");
    for (size_t i = 0; i < e->tags.n; i++)
        json_array_append_new(tags, hex_id(&e->tags.items[i]));
    json_object_set_new(o, "addrs", addrs);
    json_object_set_new(o, "tags", tags);
    /* the entry's own label (a claim: the verified flag is the ticket's) */
    json_object_set_new(o, "simulated_tag", json_boolean(mk_peer_entry_has_tag(e, &sim)));
    mk_peer_view pv;
    mk_peer_entry_view(e, &pv);
    bool simulated = false;
    for (size_t i = 0; i < e->n_tickets; i++) {
        json_t *t = ticket_json(&e->tickets[i], v, &pv, now);
        simulated |= json_is_true(json_object_get(t, "simulated"));
        json_array_append_new(tickets, t);
    }
    json_object_set_new(o, "tickets", tickets);
    json_object_set_new(o, "simulated", json_boolean(simulated || mk_peer_entry_has_tag(e, &sim)));
    return o;
}

/* The node's verdict on a peer (the view's verdict validator, else its TDX
 * validator, when it has one). */
static void verdict_json(json_t *o, const mk_peer_entry *e, const mk_validator *v, int64_t now) {
    if (!v) {
        json_object_set_new(o, "verdict", json_null());
        return;
    }
    mk_peer_view pv;
    mk_peer_entry_view(e, &pv);
    mk_expiration exp = 0;
    mk_error err;
    mk_error_clear(&err);
    json_t *d = json_object();
    int rc = mk_validator_check(v, &pv, now, &exp, &err);
    json_object_set_new(d, "admitted", json_boolean(rc == 0));
    if (rc == 0)
        set_time(d, "until", exp, now);
    else
        json_object_set_new(d, "reason", json_string(err.msg));
    json_object_set_new(o, "verdict", d);
}

/* The peers matching the filter into doc: "peers" (at most
 * HTTP_MAX_PEERS_SHOWN), "peers_total", "peers_truncated". */
static void peers_into(json_t *doc, const http_view *v, const char *peer, int64_t now) {
    json_t *a = json_array();
    mk_peer_entry *es = NULL;
    size_t n = 0, total = 0;
    if (mk_network_peers(v->nw, &es, &n) < 0) n = 0;
    for (size_t i = 0; i < n; i++) {
        if (!prefix_match(&es[i].peer_id, peer)) continue;
        if (++total > HTTP_MAX_PEERS_SHOWN) continue;
        json_t *o = entry_json(&es[i], v->tdx_validator, now);
        verdict_json(o, &es[i], v->verdict_validator ? v->verdict_validator : v->tdx_validator,
                     now);
        json_array_append_new(a, o);
    }
    mk_peer_entries_free(es, n);
    json_object_set_new(doc, "peers", a);
    json_object_set_new(doc, "peers_total", json_integer((json_int_t)total));
    json_object_set_new(doc, "peers_truncated", json_boolean(total > HTTP_MAX_PEERS_SHOWN));
}

/* ----- the node, streams, refusals ----------------------------------------- */

static json_t *node_json(const http_view *v, int64_t now) {
    mk_peer_entry e;
    json_t *o;
    if (mk_network_local_entry(v->nw, &e) < 0) {
        o = json_object();
    } else {
        o = entry_json(&e, v->tdx_validator, now); /* own tickets judged as a peer's would be */
        mk_peer_entry_free(&e);
    }
    mk_id nid;
    mk_network_id(v->nw, &nid);
    json_object_set_new(o, "network", hex_id(&nid));
    char addr[MK_TRANSPORT_ADDR_MAX + 1] = "";
    mk_network_listen_addr(v->nw, addr, sizeof addr);
    json_object_set_new(o, "listen", json_string(addr));
    json_object_set_new(o, "uptime_s",
                        json_integer((json_int_t)((mk_mono_ms() - v->started_ms) / 1000)));
    json_object_set_new(o, "peers_known", json_integer((json_int_t)mk_network_peer_count(v->nw)));
    return o;
}

static json_t *channel_json(const mk_stream_channel_stats *c, int64_t now) {
    json_t *o = json_object();
    json_object_set_new(o, "peer", hex_id(&c->peer));
    json_object_set_new(o, "state", json_string(c->active ? "active" : "inactive"));
    json_object_set_new(o, "items", json_integer((json_int_t)c->items));
    json_object_set_new(o, "bytes", json_integer((json_int_t)c->bytes));
    json_object_set_new(o, "drops", json_integer((json_int_t)c->drops));
    json_object_set_new(o, "queued", json_integer((json_int_t)c->queued));
    if (c->expires > 0) /* 0: never admitted */
        set_time(o, "expires", c->expires, now);
    json_object_set_new(o, "last_reason",
                        c->last_reason ? json_string(mk_stream_reason_name(c->last_reason))
                                       : json_null());
    return o;
}

static json_t *streams_array(const node_stream *s, int64_t now) {
    json_t *a = json_array();
    if (!s || (!s->p && !s->c)) return a;
    mk_stream_stats st;
    mk_stream_channel_stats *ch = NULL;
    size_t n = 0;
    if (s->p) {
        mk_stream_producer_stats(s->p, &st);
        (void)mk_stream_producer_channels(s->p, &ch, &n);
    } else {
        mk_stream_consumer_stats(s->c, &st);
        (void)mk_stream_consumer_channels(s->c, &ch, &n);
    }
    json_t *o = json_object(), *chans = json_array();
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "role", json_string(s->p ? "producer" : "consumer"));
    json_object_set_new(o, "items", json_integer((json_int_t)st.items));
    json_object_set_new(o, "bytes", json_integer((json_int_t)st.bytes));
    json_object_set_new(o, "drops", json_integer((json_int_t)st.drops));
    json_object_set_new(o, "admitted", json_integer((json_int_t)st.admitted));
    json_object_set_new(o, "refused", json_integer((json_int_t)st.refused));
    json_object_set_new(o, "rejected", json_integer((json_int_t)st.rejected));
    json_object_set_new(o, "active", json_integer(st.active));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(chans, channel_json(&ch[i], now));
    free(ch);
    json_object_set_new(o, "channels", chans);
    json_array_append_new(a, o);
    return a;
}

static json_t *group_json(const http_group *hg) {
    mk_group_status st;
    mk_group_status_get(hg->g, &st);
    mk_id gid;
    mk_group_id(hg->g, &gid);
    json_t *o = json_object(), *ms = json_array();
    json_object_set_new(o, "name", json_string(hg->name ? hg->name : ""));
    json_object_set_new(o, "id", hex_id(&gid));
    json_object_set_new(o, "leader", st.leader_known ? hex_id(&st.leader) : json_null());
    json_object_set_new(o, "is_leader", json_boolean(st.is_leader));
    json_object_set_new(o, "term", json_integer((json_int_t)st.term));
    json_object_set_new(o, "commit", json_integer((json_int_t)st.commit));
    json_object_set_new(o, "applied", json_integer((json_int_t)st.applied));
    json_object_set_new(o, "bonds", json_integer(st.bonds));
    json_object_set_new(o, "refusal", st.refused ? json_string(st.refusal) : json_null());
    mk_group_member m[MK_GROUP_MAX_MEMBERS];
    size_t n = mk_group_members(hg->g, m, MK_GROUP_MAX_MEMBERS);
    for (size_t i = 0; i < n && i < MK_GROUP_MAX_MEMBERS; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "peer", hex_id(&m[i].peer));
        json_object_set_new(e, "role", json_string(m[i].voter ? "writer" : "reader"));
        json_object_set_new(e, "leader", json_boolean(m[i].leader));
        json_object_set_new(e, "self", json_boolean(m[i].self));
        json_object_set_new(e, "bonded", json_boolean(m[i].bonded));
        json_array_append_new(ms, e);
    }
    json_object_set_new(o, "members", ms);
    return o;
}

static json_t *refusals_array(mk_network *nw) {
    static mk_refusal_record r[MK_NETWORK_REFUSALS]; /* the server is single-threaded */
    size_t n = mk_network_refusals(nw, r, MK_NETWORK_REFUSALS);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "peer", hex_id(&r[i].peer));
        json_object_set_new(o, "layer", json_string(mk_refusal_layer_name(r[i].layer)));
        json_object_set_new(o, "where", json_string(r[i].where));
        json_object_set_new(o, "direction",
                            json_string(r[i].by_peer ? "refused us" : "we refused"));
        json_object_set_new(o, "reason", json_string(r[i].reason));
        json_object_set_new(o, "first_at", json_integer(r[i].first_at));
        json_object_set_new(o, "last_at", json_integer(r[i].last_at));
        json_object_set_new(o, "count", json_integer((json_int_t)r[i].count));
        json_array_append_new(a, o);
    }
    return a;
}

json_t *http_peers_json(const http_view *v, const char *peer) {
    int64_t now = mk_now();
    json_t *o = json_object();
    json_object_set_new(o, "time", json_integer(now));
    peers_into(o, v, peer, now);
    return o;
}

json_t *http_status_json(const http_view *v, const char *peer) {
    int64_t now = mk_now();
    json_t *o = json_object();
    json_object_set_new(o, "time", json_integer(now));
    json_object_set_new(o, "node", node_json(v, now));
    peers_into(o, v, peer, now);
    json_object_set_new(o, "streams", streams_array(v->stream, now));
    json_t *groups = json_array();
    for (size_t i = 0; i < v->n_groups; i++)
        json_array_append_new(groups, group_json(&v->groups[i]));
    json_object_set_new(o, "groups", groups);
    json_object_set_new(o, "refusals", refusals_array(v->nw));
    return o;
}

int http_groups_prometheus(const http_view *v, mk_buf *out) {
    size_t n = v->n_groups < MK_GROUP_METRICS_MAX ? v->n_groups : MK_GROUP_METRICS_MAX;
    if (!n) return 0;
    mk_group **gs = calloc(n, sizeof *gs);
    const char **names = calloc(n, sizeof *names);
    int rc = gs && names ? 0 : MK_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        gs[i] = v->groups[i].g, names[i] = v->groups[i].name;
    if (rc == 0) rc = mk_group_metrics_prometheus(gs, names, n, out);
    free(gs);
    free(names);
    return rc;
}
