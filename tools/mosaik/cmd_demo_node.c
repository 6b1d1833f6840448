/*
 * tools/mosaik/cmd_demo_node.c — the node role of `mosaik demo` (the hidden
 * `mosaik demo --node NAME --role producer|consumer ...`, one process per
 * node, started by the parent in cmd_demo.c).
 *
 * A node loads the shared simulator states from DIR (TDX's, and SEV-SNP's
 * in a build with SNP), joins the demo network (bootstrapping from the
 * producer), installs its ticket, then opens the stream as its producer or
 * a consumer. A TDX node (--tee tdx, the default) makes its ticket once:
 * a simulated quote with the expected MRTD, another MRTD for "other", none
 * for "none", valid for an hour or until --expires. An SNP node (--tee snp)
 * attests with mk_network_attest over the SNP simulator provider (the
 * expected measurement, or another one for "other"; the certificates in
 * the ticket through mk_snp_endorse_certs; an hour, renewed by the
 * library). Both sides require the same of each other: with SNP, any of a
 * TDX ticket with the expected MRTD or an SNP ticket with the expected
 * measurement (MK_ANY_OF); without, the TDX ticket alone; each verified
 * to its simulator's root, trusted explicitly. It prints one JSON object
 * per line on stdout (its events: ready, admitted, refused, rejected,
 * disconnected, stats, final; error with a reason), serialised by a mutex
 * because stream callbacks run on the I/O thread. Every path stops the I/O
 * thread before the process exits. The producer writes "PEERID@ADDR" to
 * DIR/producer.addr; with --http it serves the status page (http*.c) while
 * it sends, and its "ready" event carries the address.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <jansson.h>

#include "cmd_demo.h"
#include "http.h"
#include "mosaik/streams.h"

#if MOSAIK_HAVE_TDX

/* What a node holds while it runs (freed by node_free). */
typedef struct demo_node {
    mk_tdx_sim *tsim;
    mk_tdx_collateral *coll;
#if MOSAIK_HAVE_SNP
    mk_snp_sim *ssim;
    mk_tee_provider *sprov; /* an SNP node's simulated platform */
    mk_attestation *at;     /* and its attestation, renewed by the library */
#endif
} demo_node;

static pthread_mutex_t g_out = PTHREAD_MUTEX_INITIALIZER;
static const char *g_node = "?";

/* Emit one JSON line (steals obj). */
static void emit_json(json_t *obj) {
    json_object_set_new(obj, "node", json_string(g_node));
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!s) return;
    pthread_mutex_lock(&g_out);
    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&g_out);
    free(s);
}

static void short_hex(const mk_id *id, char out[9]) {
    mk_id_short(id, out);
}

static void on_stream_event(const mk_stream_event *ev, void *ctx) {
    (void)ctx;
    char pid[9];
    short_hex(&ev->peer, pid);
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(mk_stream_event_name(ev->type)));
    json_object_set_new(o, "peer", json_string(pid));
    json_object_set_new(o, "side", json_string(ev->producer_side ? "producer" : "consumer"));
    if (ev->type == MK_STREAM_EV_ADMITTED) {
        json_object_set_new(o, "expires", json_integer(ev->expires));
    } else {
        json_object_set_new(o, "by_peer", json_boolean(ev->by_peer));
        json_object_set_new(o, "reason", json_string(mk_stream_reason_name(ev->reason)));
        json_object_set_new(o, "text", json_string(ev->text));
        if (ev->reason == MK_STREAM_R_EXPIRED) {
            json_object_set_new(o, "expired_at", json_integer(ev->expires));
            json_object_set_new(o, "late_ms", json_integer(ev->late_ms));
        }
    }
    emit_json(o);
}

static int node_fail(const char *what, const mk_error *err) {
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string("error"));
    json_object_set_new(o, "text", json_pack("s", what));
    json_object_set_new(o, "reason", json_string(err ? err->msg : ""));
    emit_json(o);
    return CLI_FAIL;
}

static void expected_td(mk_tdx_sim_td *td) {
    mk_tdx_sim_td_default(td);
}

/* This node's TDX ticket (a simulated quote with the expected MRTD, or
 * another one for "other"), valid until exp. */
static int node_ticket(const cli_demo_node_args *a, mk_network *nw, demo_node *dn,
                       mk_expiration exp) {
    mk_error err;
    mk_error_clear(&err);
    mk_id peer, netid;
    mk_network_peer_id(nw, &peer);
    mk_network_id(nw, &netid);
    mk_tdx_sim_td td;
    expected_td(&td);
    if (!strcmp(a->mrtd, "other")) mk_sha384("other firmware", 14, td.mr_td);
    mk_tdx_provider *prov = NULL;
    mk_tdx_attester *att = NULL;
    mk_ticket t;
    int trc = mk_tdx_provider_sim_new(dn->tsim, &td, &prov, &err);
    if (trc == 0)
        trc = mk_tdx_attester_new(
            &(mk_tdx_attester_config){.provider = prov, .collateral = dn->coll}, &att, &err);
    if (trc == 0) {
        trc = mk_tdx_attester_ticket_with_expiration(att, &peer, &netid, mk_now(), exp, &t, &err);
        if (trc == 0) {
            trc = mk_network_add_ticket(nw, &t, &err);
            mk_ticket_free(&t);
        }
    }
    mk_tdx_attester_free(att);
    mk_tdx_provider_free(prov);
    return trc < 0 ? node_fail("ticket", &err) : CLI_OK;
}

#if MOSAIK_HAVE_SNP
/* This node's SNP attestation: the simulator provider for a guest with the
 * expected measurement (or another one for "other"), attested with
 * mk_network_attest, the simulator's certificates in the ticket; *exp gets
 * the installed ticket's expiration. */
static int node_attest_snp(const cli_demo_node_args *a, mk_network *nw, demo_node *dn,
                           mk_expiration *exp) {
    mk_error err;
    mk_error_clear(&err);
    mk_snp_sim_guest g;
    mk_snp_sim_guest_default(&g);
    if (!strcmp(a->mrtd, "other")) mk_sha384("other SNP guest", 15, g.measurement);
    mk_attestation_opts ao;
    mk_attestation_opts_init(&ao);
    ao.endorse = mk_snp_endorse_certs;
    ao.lifetime = 3600;
    if (mk_snp_provider_sim_new(dn->ssim, &g, &dn->sprov, &err) < 0 ||
        mk_network_attest(nw, dn->sprov, &ao, &dn->at, &err) < 0)
        return node_fail("SNP attestation", &err);
    mk_attestation_status st;
    mk_attestation_status_get(dn->at, &st);
    *exp = st.expires;
    return CLI_OK;
}
#endif

/* The stream, as its producer or a consumer, with the requirement both
 * sides apply: any of a TDX ticket with the expected MRTD or (with SNP) an
 * SNP ticket with the expected measurement, each verified to its
 * simulator's root (trusted explicitly). *page_v (when not NULL) gets a
 * validator of the TDX spec, for the status page (it describes TDX
 * tickets). */
static int node_open_stream(const cli_demo_node_args *a, mk_network *nw, demo_node *dn,
                            mk_stream_producer **pp, mk_stream_consumer **cp, mk_validator **page_v,
                            mk_validator **verdict_v) {
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim_td want;
    expected_td(&want);
    char mrtd[2 * sizeof want.mr_td + 1];
    mk_hex_encode(want.mr_td, sizeof want.mr_td, mrtd);
    const uint8_t *root;
    size_t root_len;
    mk_tdx_sim_root_der(dn->tsim, &root, &root_len);
    /* By value: the producer or consumer makes its validator from it. */
    const mk_validator_spec tdx =
        MK_TDX(.mrtd = mrtd, .sim_root = root, .sim_root_len = root_len, .max_lifetime = 24 * 3600);
#if MOSAIK_HAVE_SNP
    mk_snp_sim_guest g;
    mk_snp_sim_guest_default(&g);
    char meas[2 * sizeof g.measurement + 1];
    mk_hex_encode(g.measurement, sizeof g.measurement, meas);
    const uint8_t *sroot;
    size_t sroot_len;
    mk_snp_sim_root_der(dn->ssim, &sroot, &sroot_len);
    const mk_validator_spec specs[] = {
        MK_ANY_OF(tdx, MK_SNP(.measurement = meas, .sim_root = sroot, .sim_root_len = sroot_len,
                              .max_lifetime = 24 * 3600))};
#else
    const mk_validator_spec specs[] = {tdx};
#endif
    const mk_stream_def def = {
        .name = DEMO_STREAM,
        .producer = {.validators = specs, .n_validators = 1},
        .consumer = {.validators = specs, .n_validators = 1},
    };
    if (page_v && !(*page_v = tdx.make(tdx.arg, &err))) return node_fail("--http validator", &err);
    if (verdict_v && !(*verdict_v = specs[0].make(specs[0].arg, &err)))
        return node_fail("--http verdict validator", &err);
    int rc;
    if (a->producer) {
        mk_stream_producer_config po;
        mk_stream_producer_config_init(&po);
        po.on_event = on_stream_event;
        po.lag_policy = MK_STREAM_LAG_DROP_OLDEST;
        rc = mk_stream_producer_new_from_def(nw, &def, &po, pp, &err);
    } else {
        mk_stream_consumer_config co;
        mk_stream_consumer_config_init(&co);
        co.on_event = on_stream_event;
        co.retry_min_ms = 1000;
        co.retry_max_ms = 3000;
        rc = mk_stream_consumer_new_from_def(nw, &def, &co, cp, &err);
    }
    return rc < 0 ? node_fail("stream", &err) : CLI_OK;
}

/* The "ready" event; the producer also writes "PEERID@ADDR" to
 * DIR/producer.addr for the parent. */
static node_http *g_http; /* the producer's status page, or NULL */

static int node_ready(const cli_demo_node_args *a, mk_network *nw, bool has_ticket,
                      mk_expiration exp) {
    mk_error err;
    mk_error_clear(&err);
    mk_id peer;
    mk_network_peer_id(nw, &peer);
    char hex[MK_ID_HEX_LEN], addr[MK_TRANSPORT_ADDR_MAX + 1], sp[9];
    mk_id_to_hex(&peer, hex);
    mk_network_listen_addr(nw, addr, sizeof addr);
    short_hex(&peer, sp);
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string("ready"));
    json_object_set_new(o, "peer", json_string(sp));
    json_object_set_new(o, "peer_id", json_string(hex));
    json_object_set_new(o, "addr", json_string(addr));
    json_object_set_new(o, "tee", json_string(a->snp ? "snp" : "tdx"));
    json_object_set_new(o, a->snp ? "measurement" : "mrtd", json_string(a->mrtd));
    json_object_set_new(o, "ticket_expires", has_ticket ? json_integer(exp) : json_null());
    json_object_set_new(o, "simulated", json_true());
    if (g_http) {
        char h[MK_TRANSPORT_ADDR_MAX + 8];
        node_http_addr(g_http, h, sizeof h);
        json_object_set_new(o, "http", json_string(h));
    }
    if (a->producer) {
        char line[200], path2[1100];
        int ln = snprintf(line, sizeof line, "%s@%s\n", hex, addr);
        snprintf(path2, sizeof path2, "%s/producer.addr", a->dir);
        if (mk_file_write(path2, line, (size_t)ln, 0600, &err) < 0) {
            json_decref(o);
            return node_fail("address file", &err);
        }
    }
    emit_json(o);
    return CLI_OK;
}

static void stream_stats(mk_stream_producer *p, mk_stream_consumer *c, mk_stream_stats *st) {
    if (p)
        mk_stream_producer_stats(p, st);
    else
        mk_stream_consumer_stats(c, st);
}

/* Send (producer, ten items a second) or receive (consumer) until stopped
 * or the duration is over, with a "stats" event every second; then the
 * "final" counts. */
static void node_serve(const cli_demo_node_args *a, mk_stream_producer *p, mk_stream_consumer *c) {
    double t0 = cli_demo_now(), last_stats = t0;
    uint64_t n = 0;
    mk_stream_stats st;
    while (!cli_demo_stop && cli_demo_now() - t0 < a->duration) {
        if (p) {
            char msg[64];
            int len = snprintf(msg, sizeof msg, "ETH/USD %.2f #%llu", 3000.0 + (double)(n % 97),
                               (unsigned long long)n);
            mk_stream_send(p, msg, (size_t)len, 100, NULL);
            n++;
            if (g_http)
                node_http_serve_for(g_http, 100);
            else
                cli_demo_sleep_ms(100);
        } else {
            mk_stream_item it;
            if (mk_stream_recv(c, 100, &it) == 0) mk_stream_item_free(&it);
        }
        if (cli_demo_now() - last_stats >= 1.0) {
            last_stats = cli_demo_now();
            stream_stats(p, c, &st);
            emit_json(json_pack("{s:s,s:I,s:I,s:I,s:I}", "event", "stats", "items",
                                (json_int_t)st.items, "bytes", (json_int_t)st.bytes, "drops",
                                (json_int_t)st.drops, "active", (json_int_t)st.active));
        }
    }
    stream_stats(p, c, &st);
    emit_json(json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "event", "final", "items",
                        (json_int_t)st.items, "drops", (json_int_t)st.drops, "admitted",
                        (json_int_t)st.admitted, "refused", (json_int_t)st.refused, "rejected",
                        (json_int_t)st.rejected, "disconnected", (json_int_t)st.disconnected));
}

/* The ticket (TDX once, or SNP's attestation), the stream, the status page
 * (producer with --http), "ready", then serving. */
static int node_run(const cli_demo_node_args *a, mk_network *nw, demo_node *dn,
                    mk_stream_producer **pp, mk_stream_consumer **cp) {
    bool has_ticket = strcmp(a->mrtd, "none") != 0;
    mk_expiration exp = a->expires ? a->expires : mk_now() + 3600;
    int rc = CLI_OK;
    if (has_ticket && !a->snp) rc = node_ticket(a, nw, dn, exp);
#if MOSAIK_HAVE_SNP
    if (has_ticket && a->snp) rc = node_attest_snp(a, nw, dn, &exp);
#endif
    /* The producer's status page describes the peers' TDX tickets with a
     * TDX validator of the stream's TDX spec, and judges every peer with the
     * stream's own requirement (the any-of), each a validator of its own. */
    bool page = a->http && a->producer;
    mk_validator *v = NULL, *verdict = NULL;
    if (rc == CLI_OK)
        rc = node_open_stream(a, nw, dn, pp, cp, page ? &v : NULL, page ? &verdict : NULL);
    node_stream ns = {.name = DEMO_STREAM, .p = *pp};
    http_view view = {nw, v, &ns, mk_mono_ms(), NULL, 0, verdict};
    if (rc == CLI_OK && page) {
        mk_error err;
        mk_error_clear(&err);
        if (node_http_start(a->http, &view, &g_http, &err) < 0) rc = node_fail("--http", &err);
    }
    if (rc == CLI_OK) rc = node_ready(a, nw, has_ticket, exp);
    if (rc == CLI_OK) node_serve(a, *pp, *cp);
    node_http_stop(g_http);
    g_http = NULL;
    mk_validator_free(v);
    mk_validator_free(verdict);
    return rc;
}

static void node_free(demo_node *dn) {
#if MOSAIK_HAVE_SNP
    mk_attestation_free(dn->at);
    mk_tee_provider_free(dn->sprov);
    mk_snp_sim_free(dn->ssim);
#endif
    mk_tdx_collateral_free(dn->coll);
    mk_tdx_sim_free(dn->tsim);
}

/* The shared simulator states from DIR (and the TDX collateral). */
static int node_load(const cli_demo_node_args *a, demo_node *dn) {
    mk_error err;
    mk_error_clear(&err);
    char path[1024];
    snprintf(path, sizeof path, "%s/sim.pem", a->dir);
    if (mk_tdx_sim_load(path, &dn->tsim, &err) < 0) return node_fail("load simulator", &err);
    if (mk_tdx_sim_collateral(dn->tsim, mk_now(), &dn->coll, &err) < 0)
        return node_fail("simulator collateral", &err);
#if MOSAIK_HAVE_SNP
    snprintf(path, sizeof path, "%s/snp-sim.pem", a->dir);
    if (mk_snp_sim_load(path, &dn->ssim, &err) < 0) return node_fail("load SNP simulator", &err);
#endif
    return CLI_OK;
}

int cli_demo_node_main(const cli_demo_node_args *a) {
    g_node = a->name;
    if (!getenv("MOSAIK_LOG")) mk_log_set_level(MK_LOG_ERROR); /* events go to stdout */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGTERM, cli_demo_on_signal);
    signal(SIGINT, cli_demo_on_signal);
    if (a->snp && !MOSAIK_HAVE_SNP) {
        mk_error e;
        mk_error_set(&e, MK_EUNAVAILABLE, "this build has no SEV-SNP support (MOSAIK_SNP=OFF)");
        return node_fail("--tee snp", &e);
    }
    demo_node dn;
    memset(&dn, 0, sizeof dn);
    if (node_load(a, &dn) != CLI_OK) {
        node_free(&dn);
        return CLI_FAIL;
    }
    mk_error err;
    mk_error_clear(&err);
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = DEMO_NETWORK;
    cfg.announce_ms = 1000;
    cfg.sync_ms = 500;
    const char *boot[1] = {a->bootstrap};
    if (a->bootstrap) {
        cfg.bootstrap = boot;
        cfg.n_bootstrap = 1;
    }
    mk_network *nw = NULL;
    if (mk_network_new(&cfg, &nw, &err) < 0) {
        node_free(&dn);
        return node_fail("network", &err);
    }
    mk_stream_producer *p = NULL;
    mk_stream_consumer *c = NULL;
    int rc = node_run(a, nw, &dn, &p, &c);
    /* Every path, failures included, stops the I/O thread before the
     * process exits: a thread still running during exit() would race with
     * OpenSSL's and libc's teardown. The attestation stops before its
     * network is freed. */
#if MOSAIK_HAVE_SNP
    mk_attestation_free(dn.at);
    dn.at = NULL;
#endif
    mk_stream_producer_free(p);
    mk_stream_consumer_free(c);
    mk_network_free(nw);
    node_free(&dn);
    return rc;
}

#endif /* MOSAIK_HAVE_TDX */
