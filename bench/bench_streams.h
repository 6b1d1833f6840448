/* bench/bench_streams.h — shared by bench_streams.c and its ZeroMQ peer. */
#ifndef BENCH_STREAMS_H
#define BENCH_STREAMS_H
#include <stdbool.h>
#include <stddef.h>

typedef struct bench_result {
    unsigned long long sent, delivered;
    double msgs_per_s, mb_per_s;
    double p50_us, p99_us;
} bench_result;

/* Throughput (paced_n == 0: send for `seconds`; lossless: the publisher
 * never drops, ZMQ_XPUB_NODROP) or latency (paced_n paced messages of
 * `size` bytes). */
int bench_zmq(size_t size, double seconds, int paced_n, bool lossless, bench_result *out);

#endif
