/*
 * discovery/metrics.c — the counters: refusals (counted and logged), the
 * snapshot mk_network_metrics_get, and its Prometheus text exposition
 * format (version 0.0.4).
 *
 * Refusals. Every refused entry or message is counted by reason under
 * nw->mu, recorded in the ring of recent refusals (refusals.c; not the
 * routine duplicates) and logged: routine duplicates (old_version, tombstone) at debug
 * level, stale / catalog_full / rate_limited at info, the rest as warnings,
 * of which at most LOG_BURST per second are printed (the rest counted and
 * summarised in the next window), so a hostile peer cannot flood the log.
 *
 * Prometheus. One "# HELP" and "# TYPE" line per metric family, then its
 * samples. Every sample carries the label peer="<first 8 hex digits of the
 * node id>" so several nodes can be scraped into one series set; refusals
 * are one family with a reason label. Counters end in _total. The output
 * depends only on the snapshot passed in (no locks, no I/O), so it is
 * bounded: a fixed number of lines.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "discovery/disc_internal.h"
#include "mosaik/clock.h"
#include "mosaik/log.h"

#define LOG_BURST 20 /* refusal warnings per second, then summarised */

/* ----- refusals ---------------------------------------------------------------- */

const char *mk_refusal_name(mk_refusal r) {
    static const char *names[MK_REFUSE_COUNT] = {
        "malformed",   "too_big",   "bad_signature", "wrong_network", "future", "stale",
        "old_version", "tombstone", "catalog_full",  "rate_limited",  "self",   "new_ids"};
    return (unsigned)r < MK_REFUSE_COUNT ? names[r] : "unknown";
}

/* Warnings beyond LOG_BURST per second are counted, not printed. */
static bool log_admit(mk_network *nw) {
    uint64_t now = mk_mono_ms();
    if (now - nw->log_window_ms >= 1000) {
        if (nw->log_suppressed)
            mk_log(MK_LOG_WARN, MK_DISC_LOG, "%u more refusals not logged (see metrics)",
                   nw->log_suppressed);
        nw->log_window_ms = now;
        nw->log_count = 0;
        nw->log_suppressed = 0;
    }
    if (++nw->log_count > LOG_BURST) {
        nw->log_suppressed++;
        return false;
    }
    return true;
}

void mk_disc_refusal(mk_network *nw, mk_refusal why, const mk_id *from, const char *reason) {
    pthread_mutex_lock(&nw->mu);
    if ((unsigned)why < MK_REFUSE_COUNT) nw->met.refused[why]++;
    pthread_mutex_unlock(&nw->mu);
    char pid[9] = "-";
    if (from) mk_id_short(from, pid);
    mk_log_level lvl = MK_LOG_WARN;
    if (why == MK_REFUSE_OLD_VERSION || why == MK_REFUSE_TOMBSTONE) lvl = MK_LOG_DEBUG;
    if (why == MK_REFUSE_STALE || why == MK_REFUSE_CATALOG_FULL || why == MK_REFUSE_RATE_LIMITED ||
        why == MK_REFUSE_NEW_IDS)
        lvl = MK_LOG_INFO;
    if (from && lvl != MK_LOG_DEBUG) { /* routine duplicates are not refusals of a peer */
        char why_text[MK_REFUSAL_REASON_MAX + 1];
        snprintf(why_text, sizeof why_text, "%s: %s", mk_refusal_name(why), reason);
        mk_network_note_refusal(nw, from, MK_REFUSAL_DISCOVERY, false, "", why_text);
    }
    if (!MK_LOG_ENABLED(lvl)) return;
    if (lvl == MK_LOG_WARN && !log_admit(nw)) return;
    mk_log(lvl, MK_DISC_LOG, "refused from %s: %s: %s", pid, mk_refusal_name(why), reason);
}

/* ----- snapshot ------------------------------------------------------------------- */

void mk_network_metrics_get(mk_network *nw, mk_network_metrics *out) {
    pthread_mutex_lock(&nw->mu);
    *out = nw->met;
    out->catalog_size = mk_catalog_live(&nw->cat);
    out->tombstones = nw->cat.n_tombstones;
    out->catalog_bytes = nw->cat.bytes;
    out->local_version = nw->local.version;
    pthread_mutex_unlock(&nw->mu);
    mk_transport_metrics_get(nw->net, &out->net);
}

int mk_network_metrics_prometheus(mk_network *nw, mk_buf *out) {
    mk_network_metrics m;
    mk_network_metrics_get(nw, &m);
    return mk_metrics_prometheus(&m, &nw->self, out);
}

/* ----- Prometheus text --------------------------------------------------------------- */

typedef struct fam {
    const char *name;
    const char *type; /* counter | gauge */
    const char *help;
    size_t off; /* offset of the uint64_t field */
} fam;

#define F(field, name, type, help)                                                                 \
    { name, type, help, offsetof(mk_network_metrics, field) }
#define N(field, name, type, help)                                                                 \
    { name, type, help, offsetof(mk_network_metrics, net) + offsetof(mk_transport_metrics, field) }

static const fam fams[] = {
    F(catalog_size, "mosaik_discovery_catalog_peers", "gauge", "Live peers in the catalog"),
    F(tombstones, "mosaik_discovery_catalog_tombstones", "gauge", "Departures held"),
    F(catalog_bytes, "mosaik_discovery_catalog_bytes", "gauge", "Encoded entry bytes held"),
    F(local_version, "mosaik_discovery_local_version", "gauge", "Version of the local entry"),
    F(announces_sent, "mosaik_discovery_announces_sent_total", "counter",
      "Announce frames pushed by gossip"),
    F(forwarded, "mosaik_discovery_forwarded_total", "counter", "Entries forwarded"),
    F(entries_accepted, "mosaik_discovery_entries_accepted_total", "counter",
      "Entries accepted into the catalog"),
    F(syncs_started, "mosaik_discovery_syncs_started_total", "counter", "Syncs requested"),
    F(syncs_answered, "mosaik_discovery_syncs_answered_total", "counter", "Syncs answered"),
    F(sync_entries_sent, "mosaik_discovery_sync_entries_sent_total", "counter",
      "Entries sent by sync"),
    F(discovered, "mosaik_discovery_peers_discovered_total", "counter", "Peers discovered"),
    F(updated, "mosaik_discovery_peers_updated_total", "counter", "Peer entries updated"),
    F(departed, "mosaik_discovery_peers_departed_total", "counter", "Peers departed"),
    F(purged, "mosaik_discovery_peers_purged_total", "counter", "Peers purged"),
    F(evicted, "mosaik_discovery_peers_evicted_total", "counter",
      "Entries evicted from a full catalog for a vouched peer"),
    F(dials_failed, "mosaik_discovery_dials_failed_total", "counter", "Dials that failed"),
    F(dials_dropped, "mosaik_discovery_dials_dropped_total", "counter",
      "Sends dropped over the dial limit"),
    F(events_dropped, "mosaik_discovery_events_dropped_total", "counter",
      "Events dropped from a full queue"),
    N(conns_open, "mosaik_net_connections_open", "gauge", "Open connections"),
    N(conns_pending, "mosaik_net_connections_pending", "gauge", "Connections handshaking"),
    N(conns_inbound, "mosaik_net_connections_inbound_total", "counter", "Inbound connections"),
    N(conns_outbound, "mosaik_net_connections_outbound_total", "counter", "Outbound connections"),
    N(handshakes_failed, "mosaik_net_handshakes_failed_total", "counter", "Failed handshakes"),
    N(bytes_in, "mosaik_net_bytes_in_total", "counter", "TCP bytes received"),
    N(bytes_out, "mosaik_net_bytes_out_total", "counter", "TCP bytes sent"),
    N(frames_in, "mosaik_net_frames_in_total", "counter", "Frames received"),
    N(frames_out, "mosaik_net_frames_out_total", "counter", "Frames sent"),
    N(refused_network, "mosaik_net_refused_network_total", "counter",
      "Handshakes refused: another network"),
    N(refused_protocol, "mosaik_net_refused_protocol_total", "counter",
      "Handshakes refused: a protocol not served"),
    N(refused_peer, "mosaik_net_refused_peer_total", "counter",
      "Handshakes refused: bad certificate or unexpected peer"),
    N(refused_limit, "mosaik_net_refused_limit_total", "counter",
      "Inbound connections refused over max_conns or max_pending"),
    N(refused_addr, "mosaik_net_refused_addr_total", "counter",
      "Inbound connections refused over max_conns_per_addr"),
    N(displaced, "mosaik_net_displaced_total", "counter",
      "Inbound connections closed for a higher-ranked peer"),
    N(closed_budget, "mosaik_net_closed_budget_total", "counter",
      "Connections closed over the partial-frame budget"),
    N(partial_bytes, "mosaik_net_partial_frame_bytes", "gauge", "Bytes of frames received in part"),
    N(closed_oversize, "mosaik_net_closed_oversize_total", "counter",
      "Connections closed for an oversized frame"),
    N(closed_malformed, "mosaik_net_closed_malformed_total", "counter",
      "Connections closed for a malformed stream"),
    N(closed_idle, "mosaik_net_closed_idle_total", "counter", "Connections closed when idle"),
};

int mk_metrics_prometheus(const mk_network_metrics *m, const mk_id *peer, mk_buf *out) {
    char pid[9];
    mk_id_short(peer, pid);
    const uint8_t *base = (const uint8_t *)m;
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        const fam *f = &fams[i];
        uint64_t v;
        memcpy(&v, base + f->off, sizeof v);
        MK_TRY(mk_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s{peer=\"%s\"} %" PRIu64 "\n",
                             f->name, f->help, f->name, f->type, f->name, pid, v));
    }
    MK_TRY(mk_buf_printf(out, "# HELP mosaik_discovery_refused_total Entries and messages refused, "
                              "by reason\n# TYPE mosaik_discovery_refused_total counter\n"));
    for (int r = 0; r < MK_REFUSE_COUNT; r++)
        MK_TRY(mk_buf_printf(
            out, "mosaik_discovery_refused_total{peer=\"%s\",reason=\"%s\"} %" PRIu64 "\n", pid,
            mk_refusal_name((mk_refusal)r), m->refused[r]));
    return 0;
}
