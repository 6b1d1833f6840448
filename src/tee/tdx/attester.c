/*
 * tee/tdx/attester.c — the node-facing side of TDX tickets.
 *
 * An attester turns the local TD (a quote provider: configfs-tsm, the
 * tdx_guest device or the simulator) into tickets. Making a ticket:
 *   1. fix the extra data: peer id, network id, started_at, quoted_at =
 *      mk_now(), expiration (quoted_at + lifetime by default);
 *   2. report_data = SHA-512 of its canonical encoding (ticket.c);
 *   3. ask the provider for a quote over that report data;
 *   4. package quote, extra data and (optionally) the embedded collateral
 *      bundle, encode, and wrap as a generic mk_ticket of the TDX class.
 * The attester never verifies its own quote: verification is the
 * validator's job on the receiving side.
 *
 * install_own_ticket hands the fresh ticket to a sink (function pointer +
 * context). The network layer implements the sink to put the ticket into
 * the local peer entry and announce it; until then any code can use it.
 *
 * The attester holds a mutex so that it can be shared between threads
 * (the provider itself is thread-safe).
 */
#include "mosaik/tdx_ticket.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/clock.h"

struct mk_tdx_attester {
    mk_tdx_provider *provider; /* borrowed */
    pthread_mutex_t lock;
    char *collateral; /* bundle JSON or NULL */
    size_t collateral_len;
    int64_t lifetime;
};

static int bundle_of(const mk_tdx_collateral *c, char **out, size_t *len, mk_error *err) {
    *out = NULL;
    *len = 0;
    if (!c) return 0;
    mk_buf b;
    mk_buf_init(&b, MK_TDX_TICKET_MAX_DECOMPRESSED);
    int rc = mk_tdx_collateral_to_bundle(c, &b);
    if (rc < 0) {
        mk_buf_free(&b);
        return mk_error_set(err, rc, "attester: cannot serialise the collateral to embed");
    }
    *len = b.len;
    if (mk_buf_append_u8(&b, 0) < 0) {
        mk_buf_free(&b);
        return mk_error_set(err, MK_ETOOBIG, "attester: collateral too big to embed");
    }
    *out = (char *)mk_buf_steal(&b, NULL);
    return 0;
}

void mk_tdx_attester_config_init(mk_tdx_attester_config *cfg) {
    *cfg = (mk_tdx_attester_config){.lifetime = MK_TDX_TICKET_DEFAULT_LIFETIME};
}

int mk_tdx_attester_new(const mk_tdx_attester_config *cfg, mk_tdx_attester **out, mk_error *err) {
    *out = NULL;
    if (!cfg || !cfg->provider) return mk_error_set(err, MK_EINVAL, "attester: no TDX provider");
    mk_tdx_attester *a = calloc(1, sizeof *a);
    if (!a) return mk_error_set(err, MK_ENOMEM, "out of memory");
    a->provider = cfg->provider;
    a->lifetime = cfg->lifetime > 0 ? cfg->lifetime : MK_TDX_TICKET_DEFAULT_LIFETIME;
    pthread_mutex_init(&a->lock, NULL);
    int rc = bundle_of(cfg->collateral, &a->collateral, &a->collateral_len, err);
    if (rc < 0) {
        mk_tdx_attester_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void mk_tdx_attester_free(mk_tdx_attester *a) {
    if (!a) return;
    free(a->collateral);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void mk_tdx_attester_set_lifetime(mk_tdx_attester *a, int64_t seconds) {
    pthread_mutex_lock(&a->lock);
    a->lifetime = seconds > 0 ? seconds : MK_TDX_TICKET_DEFAULT_LIFETIME;
    pthread_mutex_unlock(&a->lock);
}

int mk_tdx_attester_set_collateral(mk_tdx_attester *a, const mk_tdx_collateral *embed,
                                   mk_error *err) {
    char *c;
    size_t n;
    MK_TRY(bundle_of(embed, &c, &n, err));
    pthread_mutex_lock(&a->lock);
    free(a->collateral);
    a->collateral = c;
    a->collateral_len = n;
    pthread_mutex_unlock(&a->lock);
    return 0;
}

static int make_ticket(mk_tdx_attester *a, const mk_id *peer_id, const mk_id *network_id,
                       int64_t started_at, bool default_exp, mk_expiration expiration,
                       mk_ticket *out, mk_error *err) {
    memset(out, 0, sizeof *out);
    if (!a || !peer_id || !network_id) return mk_error_set(err, MK_EINVAL, "attester: bad call");
    mk_tdx_extra_data x;
    memset(&x, 0, sizeof x);
    x.peer_id = *peer_id;
    x.network_id = *network_id;
    x.started_at = started_at;
    x.quoted_at = mk_now();
    pthread_mutex_lock(&a->lock);
    int64_t lifetime = a->lifetime;
    pthread_mutex_unlock(&a->lock);
    x.expiration = default_exp ? x.quoted_at + lifetime : expiration;
    if (x.expiration <= x.quoted_at)
        return mk_error_set(err, MK_EINVAL, "attester: expiration is not after now");

    uint8_t rd[MK_TDX_REPORT_DATA_LEN];
    mk_tdx_report_data(&x, rd);
    mk_buf quote;
    mk_buf_init(&quote, MK_TDX_QUOTE_MAX);
    int rc = mk_tdx_provider_quote(a->provider, rd, &quote, err);
    if (rc < 0) {
        mk_buf_free(&quote);
        return mk_error_prefix(err, rc, "attester: quote"); /* the reason names the provider */
    }
    mk_tdx_ticket t;
    pthread_mutex_lock(&a->lock);
    rc = mk_tdx_ticket_init(&t, &x, quote.data, quote.len, a->collateral, a->collateral_len, err);
    pthread_mutex_unlock(&a->lock);
    mk_buf_free(&quote);
    if (rc < 0) return rc;
    rc = mk_tdx_ticket_to_generic(&t, out, err);
    mk_tdx_ticket_free(&t);
    return rc;
}

int mk_tdx_attester_ticket(mk_tdx_attester *a, const mk_id *peer_id, const mk_id *network_id,
                           int64_t started_at, mk_ticket *out, mk_error *err) {
    return make_ticket(a, peer_id, network_id, started_at, true, 0, out, err);
}

int mk_tdx_attester_ticket_with_expiration(mk_tdx_attester *a, const mk_id *peer_id,
                                           const mk_id *network_id, int64_t started_at,
                                           mk_expiration expiration, mk_ticket *out,
                                           mk_error *err) {
    return make_ticket(a, peer_id, network_id, started_at, false, expiration, out, err);
}

int mk_tdx_attester_measurements(mk_tdx_attester *a, mk_tdx_td_report *out, mk_error *err) {
    if (!a) return mk_error_set(err, MK_EINVAL, "attester: bad call");
    uint8_t rd[MK_TDX_REPORT_DATA_LEN] = {0};
    int rc = mk_tdx_provider_report(a->provider, rd, out, err);
    if (rc < 0)
        return mk_error_prefix(err, rc, "attester: report"); /* the reason names the provider */
    return 0;
}

int mk_tdx_attester_mrtd(mk_tdx_attester *a, uint8_t out[48], mk_error *err) {
    mk_tdx_td_report r;
    MK_TRY(mk_tdx_attester_measurements(a, &r, err));
    memcpy(out, r.mr_td, 48);
    return 0;
}

int mk_tdx_attester_rtmr(mk_tdx_attester *a, unsigned idx, uint8_t out[48], mk_error *err) {
    if (idx > 3) return mk_error_set(err, MK_EINVAL, "no RTMR%u (0..3)", idx);
    mk_tdx_td_report r;
    MK_TRY(mk_tdx_attester_measurements(a, &r, err));
    memcpy(out, r.rtmr[idx], 48);
    return 0;
}

int mk_tdx_attester_rtmr0(mk_tdx_attester *a, uint8_t out[48], mk_error *err) {
    return mk_tdx_attester_rtmr(a, 0, out, err);
}
int mk_tdx_attester_rtmr1(mk_tdx_attester *a, uint8_t out[48], mk_error *err) {
    return mk_tdx_attester_rtmr(a, 1, out, err);
}
int mk_tdx_attester_rtmr2(mk_tdx_attester *a, uint8_t out[48], mk_error *err) {
    return mk_tdx_attester_rtmr(a, 2, out, err);
}
int mk_tdx_attester_rtmr3(mk_tdx_attester *a, uint8_t out[48], mk_error *err) {
    return mk_tdx_attester_rtmr(a, 3, out, err);
}

int mk_tdx_attester_install_own_ticket(mk_tdx_attester *a, const mk_id *peer_id,
                                       const mk_id *network_id, int64_t started_at,
                                       const mk_ticket_sink *sink, mk_expiration *expires,
                                       mk_error *err) {
    if (!sink || !sink->add_ticket) return mk_error_set(err, MK_EINVAL, "attester: no sink");
    mk_ticket t;
    MK_TRY(mk_tdx_attester_ticket(a, peer_id, network_id, started_at, &t, err));
    int rc = sink->add_ticket(sink->ctx, &t, err);
    if (rc < 0) {
        mk_ticket_free(&t);
        return mk_error_prefix(err, rc, "attester: installing the ticket");
    }
    if (expires) {
        mk_tdx_ticket tt;
        if (mk_tdx_ticket_decode(t.data, t.len, &tt, NULL) == 0) {
            *expires = tt.extra.expiration;
            mk_tdx_ticket_free(&tt);
        }
    }
    mk_ticket_free(&t);
    return 0;
}
