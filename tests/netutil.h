/*
 * tests/netutil.h — helpers shared by the networked tests (discovery,
 * streams, groups): sleeping, waiting for a condition with a deadline, and
 * in-process networks on loopback bootstrapped from another one.
 */
#ifndef MOSAIK_NETUTIL_H
#define MOSAIK_NETUTIL_H

#include <time.h>

#include "testutil.h"

static inline void tu_sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Poll pred every 5 ms until true; fail the test after timeout_ms. Evaluates
 * to the milliseconds it waited. */
#define TU_WAIT_UNTIL(pred, timeout_ms, what)                                                      \
    ({                                                                                             \
        uint64_t tu_t0_ = mk_mono_ms();                                                            \
        while (!(pred)) {                                                                          \
            if (mk_mono_ms() - tu_t0_ > (uint64_t)(timeout_ms))                                    \
                fail_msg("timed out waiting for %s", what);                                        \
            tu_sleep_ms(5);                                                                        \
        }                                                                                          \
        mk_mono_ms() - tu_t0_;                                                                     \
    })

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
