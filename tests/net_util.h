/*
 * tests/net_util.h — helpers shared by the networked tests (discovery,
 * streams, groups): the test's own clocks, waiting for a condition with a
 * deadline, a barrier on a transport's I/O thread, ports reserved for the
 * whole test, and in-process networks on loopback bootstrapped from
 * another one.
 *
 * Synchronisation. A test never sleeps a fixed time before an assertion
 * (scripts/check_sleeps.py, run by make test, holds the tests to it): it
 * waits for the condition with a deadline (TU_WAIT_UNTIL). An assertion
 * that something does NOT happen waits first for evidence that it had its
 * chance (a counter of the rounds that would bring it, a later event), or,
 * when only time can say (a backoff that must not fire), for the test's
 * clock to pass the moment and then tu_loop_barrier, so the I/O thread has
 * run every timer due by then.
 *
 * Clocks. Timing is measured with the test's clocks (tu_mono_ms,
 * tu_wall_ms: clock_gettime directly), never with the library's mk_mono_ms
 * or a time the library reports, which a fake clock or a bug would move
 * along with the code under test.
 *
 * Ports. A test that needs a fixed port (members restarting on their
 * address) reserves it with tu_port_reserve for the whole test: a TCP
 * socket bound to 127.0.0.1:0 with SO_REUSEADDR, never listening. Linux
 * lets the node's listener (libuv sets SO_REUSEADDR) bind the same
 * address, while automatic port choices of other sockets — other tests
 * under ctest -j — skip a port that has a bound socket. Binding, closing
 * and reusing the number later would leave it free in between.
 */
#ifndef MOSAIK_NETUTIL_H
#define MOSAIK_NETUTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "test_util.h"

static inline void tu_sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The test's monotonic clock, in ms. */
static inline uint64_t tu_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The test's wall clock, in ms since the epoch. */
static inline uint64_t tu_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Poll pred every 5 ms until true; fail the test after timeout_ms (the
 * test's clock). Evaluates to the milliseconds it waited. */
#define TU_WAIT_UNTIL(pred, timeout_ms, what)                                                      \
    ({                                                                                             \
        uint64_t tu_t0_ = tu_mono_ms();                                                            \
        while (!(pred)) {                                                                          \
            if (tu_mono_ms() - tu_t0_ > (uint64_t)(timeout_ms))                                    \
                fail_msg("timed out waiting for %s", what);                                        \
            tu_sleep_ms(5);                                                                        \
        }                                                                                          \
        tu_mono_ms() - tu_t0_;                                                                     \
    })

static inline void tu_barrier_fn_(mk_transport *net, void *ctx) {
    (void)net;
    (void)ctx;
}

/* Returns once net's I/O thread has run everything queued before the call,
 * and the timers due by then: two round trips through mk_transport_call —
 * the second is handled in a later loop iteration than the first, and a
 * loop iteration runs its due timers before it handles calls. A stopped
 * network passes (nothing of it runs any more). */
static inline void tu_loop_barrier(mk_transport *net) {
    for (int i = 0; i < 2; i++) {
        int rc = mk_transport_call(net, tu_barrier_fn_, NULL);
        if (rc != 0 && rc != MK_ESTATE) fail_msg("loop barrier: %s", mk_strerror(rc));
    }
}

/* For an assertion that a timer-driven action does not happen: returns once
 * ms have passed on the test's clock and then net's I/O thread has run
 * every timer due by then (tu_loop_barrier). */
static inline void tu_wait_loop_after(mk_transport *net, unsigned ms) {
    uint64_t end = tu_mono_ms() + ms;
    while (tu_mono_ms() < end)
        tu_sleep_ms(5);
    tu_loop_barrier(net);
}

/* A port on 127.0.0.1 reserved until tu_port_release (see "Ports" above). */
typedef struct tu_port {
    int fd;
    uint16_t port;
} tu_port;

static inline void tu_port_reserve(tu_port *p) {
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->fd >= 0);
    int on = 1;
    assert_int_equal(setsockopt(p->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(p->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    assert_int_equal(getsockname(p->fd, (struct sockaddr *)&a, &l), 0);
    p->port = ntohs(a.sin_port);
}

static inline void tu_port_release(tu_port *p) {
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
}

/* "PEERID@HOST:PORT" of a running network. */
static inline void tu_boot_string(mk_network *b, char *out, size_t n) {
    mk_id id;
    mk_network_peer_id(b, &id);
    char hex[MK_ID_HEX_LEN], addr[MK_TRANSPORT_ADDR_MAX + 1];
    mk_id_to_hex(&id, hex);
    assert_int_equal(mk_network_listen_addr(b, addr, sizeof addr), 0);
    snprintf(out, n, "%s@%s", hex, addr);
}

/* A network named `network` whose config the caller prepared (intervals),
 * bootstrapped from `boot` when not NULL. */
static inline mk_network *tu_network_new(mk_network_config *cfg, mk_network *boot) {
    char bs[200];
    const char *bl[1] = {bs};
    if (boot) {
        tu_boot_string(boot, bs, sizeof bs);
        cfg->bootstrap = bl;
        cfg->n_bootstrap = 1;
    }
    mk_network *nw = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_network_new(cfg, &nw, &err), 0, &err);
    cfg->bootstrap = NULL;
    cfg->n_bootstrap = 0;
    return nw;
}

#endif
