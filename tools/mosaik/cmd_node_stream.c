/*
 * tools/mosaik/cmd_node_stream.c — the stream and image parts of `mosaik
 * node` (cmd_node.c): `--produce NAME` / `--consume NAME`, and reading the
 * registers of a `mosaik tdx build` measurements.json for the simulator
 * (`--tdx-sim-measurements`) or a validator (`--require-tdx-measurements`).
 *
 * A producer sends "item N" every 250 ms to every admitted consumer and
 * requires of consumers the validator it is given (the node's TDX
 * validator: a refused consumer is reported with the validator's reason). A
 * consumer prints every datum it receives and, with --exit-after-items N,
 * makes the node leave after N. Stream events (admitted, refused, rejected,
 * disconnected) come from the I/O thread; they and the main thread's lines
 * are printed under one mutex so lines never interleave.
 *
 * Metrics: the stream's mk_stream_stats as Prometheus families
 * mosaik_stream_*, labelled with the node (peer), the stream's name and
 * the side, appended by the node's metrics responder to the library's
 * discovery and transport families.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cmd_node_stream.h"

static pthread_mutex_t g_out = PTHREAD_MUTEX_INITIALIZER;

static void out_line(bool json, json_t *o, const char *text) {
    pthread_mutex_lock(&g_out);
    if (json) {
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) printf("%s\n", s);
        free(s);
    } else {
        fputs(text, stdout);
    }
    fflush(stdout);
    pthread_mutex_unlock(&g_out);
}

static void on_event(const mk_stream_event *ev, void *ctx) {
    const node_stream *s = ctx;
    char peer[MK_ID_HEX_LEN];
    mk_id_to_hex(&ev->peer, peer);
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string("stream"));
    json_object_set_new(o, "stream", json_string(s->name));
    json_object_set_new(o, "what", json_string(mk_stream_event_name(ev->type)));
    json_object_set_new(o, "peer", json_string(peer));
    json_object_set_new(o, "side", json_string(ev->producer_side ? "producer" : "consumer"));
    if (ev->type != MK_STREAM_EV_ADMITTED) {
        json_object_set_new(o, "reason", json_string(mk_stream_reason_name(ev->reason)));
        json_object_set_new(o, "text", json_string(ev->text ? ev->text : ""));
    }
    char text[MK_STREAM_MAX_REASON + 256];
    snprintf(text, sizeof text, "stream %s: %s %s%s%s%s\n", s->name, mk_stream_event_name(ev->type),
             peer, ev->type != MK_STREAM_EV_ADMITTED ? " (" : "",
             ev->type != MK_STREAM_EV_ADMITTED ? (ev->text && *ev->text ? ev->text : "-") : "",
             ev->type != MK_STREAM_EV_ADMITTED ? ")" : "");
    out_line(s->json, o, text);
    json_decref(o);
}

int node_stream_start(node_stream *s, mk_network *nw, const char *produce, const char *consume,
                      mk_validator *require, bool json, mk_error *err) {
    s->json = json;
    s->name = produce ? produce : consume;
    if (produce) {
        mk_stream_producer_config po;
        mk_stream_producer_config_init(&po);
        po.on_event = on_event;
        po.event_ctx = s;
        po.lag_policy = MK_STREAM_LAG_DROP_OLDEST;
        po.name = produce;
        if (mk_stream_producer_new(nw, &po, &s->p, err) < 0) {
            mk_validator_free(require);
            return mk_error_prefix(err, err->code, "--produce %s", produce);
        }
        if (require) return mk_stream_producer_require(s->p, require, err);
        return 0;
    }
    mk_validator_free(require);
    mk_stream_consumer_config co;
    mk_stream_consumer_config_init(&co);
    co.on_event = on_event;
    co.event_ctx = s;
    co.retry_min_ms = 500;
    co.retry_max_ms = 2000;
    co.name = consume;
    if (mk_stream_consumer_new(nw, &co, &s->c, err) < 0)
        return mk_error_prefix(err, err->code, "--consume %s", consume);
    return 0;
}

bool node_stream_step(node_stream *s, uint64_t now_ms) {
    if (s->p && now_ms >= s->next_send_ms) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "item %llu", (unsigned long long)s->sent);
        if (mk_stream_send(s->p, msg, (size_t)n, 100, NULL) == 0) s->sent++;
        s->next_send_ms = now_ms + 250;
    }
    mk_stream_item it;
    while (s->c && mk_stream_recv(s->c, 0, &it) == 0) {
        char text[160];
        int len = it.len > 64 ? 64 : (int)it.len;
        snprintf(text, sizeof text, "stream %s: received #%llu \"%.*s\"\n", s->name,
                 (unsigned long long)it.seq, len, (const char *)it.data);
        json_t *o =
            json_pack("{s:s, s:s, s:I, s:s#}", "event", "received", "stream", s->name, "seq",
                      (json_int_t)it.seq, "data", (const char *)it.data, (size_t)len);
        out_line(s->json, o, text);
        json_decref(o);
        mk_stream_item_free(&it);
        s->received++;
    }
    return s->exit_after && s->received >= s->exit_after;
}

void node_stream_free(node_stream *s) {
    mk_stream_producer_free(s->p);
    mk_stream_consumer_free(s->c);
    s->p = NULL;
    s->c = NULL;
}

int node_measurements_read(const char *path, char mrtd[97], char rtmr1[97], char rtmr2[97],
                           mk_error *err) {
    mk_buf b = MK_BUF_INIT;
    mk_buf_init(&b, 4 << 20);
    int rc = cli_read_file(path, 4 << 20, &b, err);
    json_t *root = rc == 0 ? json_loadb((const char *)b.data, b.len, 0, NULL) : NULL;
    mk_buf_free(&b);
    if (rc < 0) return rc;
    const char *k[3] = {"mrtd", "rtmr1", "rtmr2"};
    char *out[3] = {mrtd, rtmr1, rtmr2};
    for (int i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(root, k[i]));
        if (!v || strlen(v) != 96) {
            json_decref(root);
            return mk_error_set(err, MK_EMALFORMED, "%s: no %s (want a measurements.json)", path,
                                k[i]);
        }
        memcpy(out[i], v, 97);
    }
    json_decref(root);
    return 0;
}

/* ----- Prometheus ------------------------------------------------------- */

typedef struct stream_family {
    const char *name, *type, *help;
    size_t off; /* of the uint64_t in mk_stream_stats */
} stream_family;

#define SF(field, name, type, help)                                                                \
    { name, type, help, offsetof(mk_stream_stats, field) }

static const stream_family FAMILIES[] = {
    SF(items, "mosaik_stream_items_total", "counter", "Items sent (producer) or received"),
    SF(bytes, "mosaik_stream_bytes_total", "counter", "Item bytes sent or received"),
    SF(drops, "mosaik_stream_drops_total", "counter",
       "Items dropped by the lag policy (producer) or sequence gaps (consumer)"),
    SF(admitted, "mosaik_stream_admitted_total", "counter", "Peers admitted"),
    SF(refused, "mosaik_stream_refused_total", "counter", "Peers this side refused"),
    SF(rejected, "mosaik_stream_rejected_total", "counter",
       "Times the other side refused this one"),
    SF(disconnected, "mosaik_stream_disconnected_total", "counter", "Channels that ended"),
    SF(decode_errors, "mosaik_stream_decode_errors_total", "counter",
       "Messages that did not decode"),
    SF(verdict_hits, "mosaik_stream_verdict_cache_hits_total", "counter",
       "Judgements answered from the verdict cache"),
    SF(closed_refusals, "mosaik_stream_closed_refusals_total", "counter",
       "Connections closed after too many refusals (producer)"),
};

/* A label value with Prometheus's escapes (backslash, quote, newline). */
static int put_label(mk_buf *out, const char *v) {
    for (; *v; v++) {
        int rc = *v == '\\'   ? mk_buf_append_str(out, "\\\\")
                 : *v == '"'  ? mk_buf_append_str(out, "\\\"")
                 : *v == '\n' ? mk_buf_append_str(out, "\\n")
                              : mk_buf_append_u8(out, (uint8_t)*v);
        if (rc < 0) return rc;
    }
    return 0;
}

/* One sample's labels: {peer="...",stream="...",side="..."}. */
static int put_labels(mk_buf *out, const node_stream *s, const char *pid) {
    MK_TRY(mk_buf_printf(out, "{peer=\"%s\",stream=\"", pid));
    MK_TRY(put_label(out, s->name));
    return mk_buf_printf(out, "\",side=\"%s\"}", s->p ? "producer" : "consumer");
}

int node_stream_prometheus(const node_stream *s, const mk_id *self, mk_buf *out) {
    if (!s || (!s->p && !s->c)) return 0;
    mk_stream_stats st;
    if (s->p)
        mk_stream_producer_stats(s->p, &st);
    else
        mk_stream_consumer_stats(s->c, &st);
    char pid[9];
    mk_id_short(self, pid);
    const uint8_t *base = (const uint8_t *)&st;
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++) {
        const stream_family *f = &FAMILIES[i];
        uint64_t v;
        memcpy(&v, base + f->off, sizeof v);
        MK_TRY(mk_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s", f->name, f->help, f->name,
                             f->type, f->name));
        MK_TRY(put_labels(out, s, pid));
        MK_TRY(mk_buf_printf(out, " %" PRIu64 "\n", v));
    }
    MK_TRY(mk_buf_printf(out, "# HELP mosaik_stream_channels_active Channels open now\n"
                              "# TYPE mosaik_stream_channels_active gauge\n"
                              "mosaik_stream_channels_active"));
    MK_TRY(put_labels(out, s, pid));
    return mk_buf_printf(out, " %u\n", (unsigned)st.active);
}
