/*
 * discovery/metrics.c — the discovery and transport counters in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * One "# HELP" and "# TYPE" line per metric family, then its samples.
 * Every sample carries the label peer="<first 8 hex digits of the node id>"
 * so several nodes can be scraped into one series set; refusals are one
 * family with a reason label. Counters end in _total. The output depends
 * only on the snapshot passed in (no locks, no I/O), so it is bounded:
 * a fixed number of lines.
 */
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "discovery/disc_internal.h"

typedef struct fam {
    const char *name;
    const char *type; /* counter | gauge */
    const char *help;
    size_t off; /* offset of the uint64_t field */
} fam;

#define F(field, name, type, help)                                                                 \
    { name, type, help, offsetof(mk_network_metrics, field) }
#define N(field, name, type, help)                                                                 \
    { name, type, help, offsetof(mk_network_metrics, net) + offsetof(mk_net_metrics, field) }

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
