/*
 * bench/bench_streams.c — mosaik streams over loopback TLS 1.3, side by
 * side with ZeroMQ PUB/SUB + CURVE (bench_streams_zmq.c, when libzmq was
 * found at build time).
 *
 * Measured, each printed as `name: value unit`:
 *   - throughput for 64 B, 1 KiB and 64 KiB messages: one producer and one
 *     consumer (two mk_networks in this process, TLS on 127.0.0.1); the
 *     producer sends as fast as it can for a fixed time with the drop
 *     policy (like PUB's high-water mark), the consumer counts delivered
 *     messages per second and MB/s (1 MB = 10^6 bytes);
 *   - the same in a lossless mode, where flow control delivers every
 *     message: our sender keeps what the producer has not yet sent (its
 *     statistics) under half of max_lag, so the lag policy never drops;
 *     the ZeroMQ publisher sets ZMQ_XPUB_NODROP and retries on EAGAIN;
 *   - one-way latency p50/p99 of paced 64 B messages (a send timestamp in
 *     the payload, same monotonic clock on both ends);
 *   - time from a JWT ticket's expiry to the subscription's end, as the
 *     producer measured it (expiry timer) and as the consumer saw it.
 *
 * usage: bench_streams [--seconds S] [--size N] [--latency]  (default 2 s
 * per size; --size runs only the throughput of that size, ours and the
 * peer, e.g. under perf record; --latency only the latency)
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosaik/mosaik.h>
#include <mosaik/streams.h>

#include "bench_streams.h"

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const mk_error *err) {
    fprintf(stderr, "bench_streams: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static mk_network *net(const char *name, mk_network *boot) {
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = name;
    cfg.sync_ms = 300;
    char bs[200];
    const char *bl[1] = {bs};
    if (boot) {
        mk_id id;
        mk_network_peer_id(boot, &id);
        char hex[MK_ID_HEX_LEN], addr[MK_TRANSPORT_ADDR_MAX + 1];
        mk_id_to_hex(&id, hex);
        mk_network_listen_addr(boot, addr, sizeof addr);
        snprintf(bs, sizeof bs, "%s@%s", hex, addr);
        cfg.bootstrap = bl;
        cfg.n_bootstrap = 1;
    }
    mk_network *nw = NULL;
    mk_error err;
    mk_error_clear(&err);
    if (mk_network_new(&cfg, &nw, &err) < 0) die("network", &err);
    return nw;
}

typedef struct rx {
    mk_stream_consumer *c;
    size_t size;
    int paced_n;
    unsigned long long got;
    double first, last;
    double *lat;
} rx;

static void *rx_main(void *arg) {
    rx *r = arg;
    mk_stream_item it;
    while (mk_stream_recv(r->c, 1000, &it) == 0) {
        double now = mono();
        if (it.len == 1 && it.data[0] == 'E' && r->size != 1) {
            mk_stream_item_free(&it);
            break;
        }
        if (!r->got) r->first = now;
        r->last = now;
        if (r->lat && r->got < (unsigned long long)r->paced_n && it.len >= sizeof(double)) {
            double t;
            memcpy(&t, it.data, sizeof t);
            r->lat[r->got] = (now - t) * 1e6;
        }
        r->got++;
        mk_stream_item_free(&it);
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_mosaik(size_t size, double seconds, int paced_n, bool lossless,
                         bench_result *out) {
    memset(out, 0, sizeof *out);
    mk_network *a = net("bench-streams", NULL);
    mk_network *b = net("bench-streams", a);
    mk_stream_producer_config po;
    mk_stream_producer_config_init(&po);
    po.lag_policy = MK_STREAM_LAG_DROP_NEWEST;
    po.max_lag = 8192;
    mk_stream_consumer_config co;
    mk_stream_consumer_config_init(&co);
    co.window = size >= 65536 ? 256 : 4096;
    mk_stream_producer *p = NULL;
    mk_stream_consumer *c = NULL;
    mk_error err;
    mk_error_clear(&err);
    po.name = "bench";
    if (mk_stream_producer_new(a, &po, &p, &err) < 0) die("producer", &err);
    co.name = "bench";
    if (mk_stream_consumer_new(b, &co, &c, &err) < 0) die("consumer", &err);
    mk_stream_when w = mk_when_subscribed();
    if (mk_stream_producer_wait(p, &w, 10000) < 0) die("subscription", NULL);
    rx r = {.c = c, .size = size, .paced_n = paced_n};
    if (paced_n) r.lat = calloc((size_t)paced_n, sizeof *r.lat);
    pthread_t th;
    pthread_create(&th, NULL, rx_main, &r);
    uint8_t *buf = calloc(1, size < 16 ? 16 : size);
    unsigned long long sent = 0;
    if (paced_n) {
        for (int i = 0; i < paced_n; i++) {
            double t = mono();
            memcpy(buf, &t, sizeof t);
            mk_stream_send(p, buf, size, 1000, NULL);
            struct timespec ps = {0, 200 * 1000L};
            nanosleep(&ps, NULL);
        }
        sent = (unsigned long long)paced_n;
    } else {
        double t0 = mono();
        while (mono() - t0 < seconds) {
            if (lossless) {
                mk_stream_stats st;
                mk_stream_producer_stats(p, &st);
                if (sent - st.items - st.drops > po.max_lag / 2) {
                    sched_yield();
                    continue;
                }
            }
            for (int k = 0; k < 64; k++)
                if (mk_stream_send(p, buf, size, 1000, NULL) == 0) sent++;
        }
    }
    for (int i = 0; i < 20; i++) {
        mk_stream_send(p, "E", 1, 1000, NULL);
        struct timespec ps = {0, 5 * 1000000L};
        nanosleep(&ps, NULL);
    }
    pthread_join(th, NULL);
    out->sent = sent;
    out->delivered = r.got;
    double span = r.last - r.first;
    if (!paced_n && span > 0) {
        out->msgs_per_s = (double)r.got / span;
        out->mb_per_s = (double)r.got * (double)size / span / 1e6;
    }
    if (r.lat && r.got) {
        size_t k = r.got < (unsigned long long)paced_n ? (size_t)r.got : (size_t)paced_n;
        qsort(r.lat, k, sizeof *r.lat, cmp_d);
        out->p50_us = r.lat[k / 2];
        out->p99_us = r.lat[(k * 99) / 100];
    }
    free(r.lat);
    free(buf);
    mk_stream_consumer_free(c);
    mk_stream_producer_free(p);
    mk_network_free(b);
    mk_network_free(a);
}

/* Expiry → disconnect. */
typedef struct exp_obs {
    pthread_mutex_t mu;
    long long late_ms;
    bool done;
} exp_obs;

static void on_ev(const mk_stream_event *ev, void *ctx) {
    exp_obs *o = ctx;
    if (ev->type != MK_STREAM_EV_DISCONNECTED || ev->reason != MK_STREAM_R_EXPIRED) return;
    pthread_mutex_lock(&o->mu);
    o->late_ms = ev->late_ms;
    o->done = true;
    pthread_mutex_unlock(&o->mu);
}

static void bench_expiry(long long *prod_ms, long long *cons_ms) {
    mk_network *a = net("bench-expiry", NULL);
    mk_network *b = net("bench-expiry", a);
    uint8_t secret[32];
    memset(secret, 7, sizeof secret);
    mk_jwt_key *k = NULL;
    mk_error err;
    mk_error_clear(&err);
    if (mk_jwt_key_hs(MK_JWT_HS256, secret, sizeof secret, &k, &err) < 0) die("key", &err);
    mk_id peer;
    mk_network_peer_id(b, &peer);
    mk_jwt_builder *jb = mk_jwt_builder_new();
    mk_jwt_builder_set_subject_peer(jb, &peer);
    mk_jwt_builder_set_expires_at(jb, mk_now() + 2);
    mk_ticket t;
    if (mk_jwt_builder_ticket(jb, k, mk_now(), &t, &err) < 0) die("ticket", &err);
    mk_jwt_builder_free(jb);
    mk_network_add_ticket(b, &t, &err);
    mk_ticket_free(&t);
    exp_obs po = {.mu = PTHREAD_MUTEX_INITIALIZER}, co = {.mu = PTHREAD_MUTEX_INITIALIZER};
    const mk_jwt_key *keys[1] = {k};
    mk_jwt_validator_config ja;
    mk_jwt_validator_config_init(&ja);
    ja.keys = keys;
    ja.n_keys = 1;
    mk_validator_spec spec = {mk_validator_factory_jwt, &ja};
    mk_requirements req = {.validators = &spec, .n_validators = 1};
    mk_stream_producer_config pop;
    mk_stream_producer_config_init(&pop);
    pop.on_event = on_ev;
    pop.event_ctx = &po;
    mk_stream_consumer_config cop;
    mk_stream_consumer_config_init(&cop);
    cop.on_event = on_ev;
    cop.event_ctx = &co;
    mk_stream_producer *p = NULL;
    mk_stream_consumer *c = NULL;
    pop.name = "exp";
    pop.requirements = req;
    if (mk_stream_producer_new(a, &pop, &p, &err) < 0) die("producer", &err);
    cop.name = "exp";
    if (mk_stream_consumer_new(b, &cop, &c, &err) < 0) die("consumer", &err);
    double t0 = mono();
    for (;;) {
        pthread_mutex_lock(&co.mu);
        bool done = co.done;
        pthread_mutex_unlock(&co.mu);
        if (done || mono() - t0 > 6) break;
        struct timespec ps = {0, 5 * 1000000L};
        nanosleep(&ps, NULL);
    }
    *prod_ms = po.done ? po.late_ms : -1;
    *cons_ms = co.done ? co.late_ms : -1;
    mk_stream_consumer_free(c);
    mk_stream_producer_free(p);
    mk_network_free(b);
    mk_network_free(a);
    mk_jwt_key_free(k);
}

static void print_result(const char *who, const char *key, const bench_result *r) {
    printf("%s_%s_msgs: %.0f msg/s\n", who, key, r->msgs_per_s);
    printf("%s_%s_throughput: %.1f MB/s\n", who, key, r->mb_per_s);
    printf("%s_%s_delivered: %.1f %%\n", who, key,
           r->sent ? 100.0 * (double)r->delivered / (double)r->sent : 0.0);
}

int main(int argc, char **argv) {
    double seconds = 2;
    size_t only = 0;
    bool latency_only = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        if (!strcmp(argv[i], "--size") && i + 1 < argc) only = (size_t)atol(argv[++i]);
        if (!strcmp(argv[i], "--latency")) latency_only = true;
    }
    mk_log_set_level(MK_LOG_ERROR);
    static const size_t sizes[] = {64, 1024, 65536};
    static const char *const names[] = {"64B", "1KiB", "64KiB"};
    printf("# mosaik streams (TLS 1.3, loopback) vs ZeroMQ PUB/SUB + CURVE (loopback)\n");
    printf("# one producer, one consumer, one process; delivered messages (drops allowed)\n");
    for (int mode = 0; mode < 2 && !latency_only; mode++) {
        bool lossless = mode == 1;
        if (lossless)
            printf("# lossless: flow control delivers every message (ZeroMQ: XPUB_NODROP)\n");
        for (int i = 0; i < 3; i++) {
            if (only && sizes[i] != only) continue;
            char key[32];
            snprintf(key, sizeof key, "%s%s", names[i], lossless ? "_lossless" : "");
            bench_result r;
            bench_mosaik(sizes[i], seconds, 0, lossless, &r);
            print_result("streams", key, &r);
#ifdef MOSAIK_BENCH_ZMQ
            bench_zmq(sizes[i], seconds, 0, lossless, &r);
            print_result("zmq_curve", key, &r);
#endif
            fflush(stdout);
        }
    }
    if (only) return 0;
    bench_result l;
    bench_mosaik(64, 0, 2000, false, &l);
    printf("streams_latency_p50: %.1f us\n", l.p50_us);
    printf("streams_latency_p99: %.1f us\n", l.p99_us);
#ifdef MOSAIK_BENCH_ZMQ
    bench_zmq(64, 0, 2000, false, &l);
    printf("zmq_curve_latency_p50: %.1f us\n", l.p50_us);
    printf("zmq_curve_latency_p99: %.1f us\n", l.p99_us);
#else
    printf("# ZeroMQ peer not built (libzmq not found)\n");
#endif
    long long pm, cm;
    bench_expiry(&pm, &cm);
    printf("streams_expiry_to_disconnect_producer: %lld ms\n", pm);
    printf("streams_expiry_to_disconnect_consumer: %lld ms\n", cm);
    return 0;
}
