/*
 * bench/bench_streams_zmq.c — the ZeroMQ peer of bench_streams: PUB/SUB
 * over TCP on loopback with CURVE security (libzmq from Debian), measured
 * the same way as mosaik streams: delivered messages per second for a
 * given size (the publisher sends as fast as it can for a fixed time; the
 * subscriber counts what arrives; PUB drops beyond its high-water mark like
 * a producer's drop policy), and one-way latency of paced messages.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "bench_streams.h"

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct zpub {
    void *ctx;
    char endpoint[64];
    char server_secret[41];
    size_t size;
    double seconds;
    int paced_n;   /* latency mode: this many paced messages */
    bool lossless; /* ZMQ_XPUB_NODROP: a full pipe makes zmq_send fail, it is retried */
    unsigned long long sent;
    volatile bool go;
    volatile bool done; /* the subscriber saw the end marker */
} zpub;

static void *pub_main(void *arg) {
    zpub *z = arg;
    void *s = zmq_socket(z->ctx, ZMQ_PUB);
    int one = 1, hwm = 100000;
    zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, z->server_secret, 40);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (z->lossless) zmq_setsockopt(s, ZMQ_XPUB_NODROP, &one, sizeof one);
    zmq_bind(s, "tcp://127.0.0.1:*");
    size_t len = sizeof z->endpoint;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, z->endpoint, &len);
    __atomic_store_n(&z->go, true, __ATOMIC_RELEASE);
    uint8_t *buf = calloc(1, z->size < 16 ? 16 : z->size);
    /* Let the subscriber connect and finish the CURVE handshake. */
    struct timespec w = {0, 300 * 1000000L};
    nanosleep(&w, NULL);
    if (z->paced_n) {
        for (int i = 0; i < z->paced_n; i++) {
            double t = mono();
            memcpy(buf, &t, sizeof t);
            zmq_send(s, buf, z->size, 0);
            struct timespec p = {0, 200 * 1000L};
            nanosleep(&p, NULL);
        }
    } else {
        double t0 = mono();
        while (mono() - t0 < z->seconds) {
            for (int k = 0; k < 64; k++)
                if (zmq_send(s, buf, z->size, ZMQ_DONTWAIT) >= 0) z->sent++;
        }
    }
    /* An end marker (1 byte), repeated in case of drops. */
    /* Lossless: until the subscriber saw it (at most 10 s), as closing with
     * linger 0 drops what the pipe still holds. */
    for (int i = 0;
         i < 20 || (z->lossless && !__atomic_load_n(&z->done, __ATOMIC_ACQUIRE) && i < 2000); i++) {
        zmq_send(s, "E", 1, ZMQ_DONTWAIT);
        struct timespec p = {0, 5 * 1000000L};
        nanosleep(&p, NULL);
    }
    free(buf);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s);
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int bench_zmq(size_t size, double seconds, int paced_n, bool lossless, bench_result *out) {
    memset(out, 0, sizeof *out);
    char server_public[41], server_secret[41], client_public[41], client_secret[41];
    if (zmq_curve_keypair(server_public, server_secret) != 0 ||
        zmq_curve_keypair(client_public, client_secret) != 0) {
        fprintf(stderr, "zmq: CURVE not available\n");
        return -1;
    }
    zpub z = {.size = size, .seconds = seconds, .paced_n = paced_n, .lossless = lossless};
    z.ctx = zmq_ctx_new();
    memcpy(z.server_secret, server_secret, 41);
    pthread_t th;
    pthread_create(&th, NULL, pub_main, &z);
    while (!__atomic_load_n(&z.go, __ATOMIC_ACQUIRE)) {
        struct timespec p = {0, 1000000L};
        nanosleep(&p, NULL);
    }
    void *s = zmq_socket(z.ctx, ZMQ_SUB);
    int hwm = 100000, tmo = 3000;
    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_public, 40);
    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, client_public, 40);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, client_secret, 40);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect(s, z.endpoint);
    size_t cap = size < 16 ? 16 : size;
    uint8_t *buf = malloc(cap);
    double *lat = paced_n ? calloc((size_t)paced_n, sizeof *lat) : NULL;
    unsigned long long got = 0;
    double first = 0, last = 0;
    for (;;) {
        int n = zmq_recv(s, buf, cap, 0);
        if (n < 0) break;
        if (n == 1 && buf[0] == 'E' && size != 1) break;
        double now = mono();
        if (!got) first = now;
        last = now;
        if (lat && got < (unsigned long long)paced_n) {
            double t;
            memcpy(&t, buf, sizeof t);
            lat[got] = (now - t) * 1e6;
        }
        got++;
    }
    __atomic_store_n(&z.done, true, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s);
    zmq_ctx_term(z.ctx);
    out->delivered = got;
    out->sent = paced_n ? (unsigned long long)paced_n : z.sent;
    double span = last - first;
    if (span > 0 && !paced_n) {
        out->msgs_per_s = (double)got / span;
        out->mb_per_s = (double)got * (double)size / span / 1e6;
    }
    if (lat && got) {
        size_t k = got < (unsigned long long)paced_n ? (size_t)got : (size_t)paced_n;
        qsort(lat, k, sizeof *lat, cmp_d);
        out->p50_us = lat[k / 2];
        out->p99_us = lat[(k * 99) / 100];
    }
    free(lat);
    free(buf);
    return 0;
}
