/*
 * tee/tdx/attester.c — the TDX attester: the shared attester (tee/
 * attester.c) over a TDX provider, with the collateral bundle as its
 * endorsements and the TD's registers in TDX terms.
 *
 * mk_tdx_attester is mk_tee_attester. What is TDX's here: the provider
 * must be a TDX provider; the embedded collateral is serialised once to
 * the dcap-qvl bundle JSON (mk_tdx_collateral_to_bundle) and handed to the
 * shared attester as fixed endorsements, which TDX's ticket format keeps
 * as text; the measurements are read as a TD report (MRTD, RTMRs) through
 * the provider's TDX table. Making tickets, the lifetime and
 * install_own_ticket are the shared attester's.
 */
#include "mosaik/tdx_ticket.h"

#include <stdlib.h>
#include <string.h>

#include "tee/tdx/tdx_internal.h"
#include "tee/tdx/tdx_provider_internal.h"

/* The bundle JSON of c (NUL-terminated, *len without the NUL), or NULL
 * for no collateral. */
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
    if (!mk_tdx_provider_ops_of(cfg->provider))
        return mk_error_set(err, MK_EINVAL, "attester: %s is not a TDX provider",
                            mk_tee_provider_name(cfg->provider));
    char *bundle;
    size_t len;
    MK_TRY(bundle_of(cfg->collateral, &bundle, &len, err));
    mk_tee_attester_config tc;
    mk_tee_attester_config_init(&tc);
    tc.provider = cfg->provider;
    tc.endorsements = (const uint8_t *)bundle;
    tc.endorsements_len = len;
    tc.lifetime = cfg->lifetime;
    int rc = mk_tee_attester_new(&tc, out, err);
    free(bundle);
    return rc;
}

void mk_tdx_attester_free(mk_tdx_attester *a) {
    mk_tee_attester_free(a);
}

void mk_tdx_attester_set_lifetime(mk_tdx_attester *a, int64_t seconds) {
    mk_tee_attester_set_lifetime(a, seconds);
}

int mk_tdx_attester_set_collateral(mk_tdx_attester *a, const mk_tdx_collateral *embed,
                                   mk_error *err) {
    char *c;
    size_t n;
    MK_TRY(bundle_of(embed, &c, &n, err));
    int rc = mk_tee_attester_set_endorsements(a, (const uint8_t *)c, n, err);
    free(c);
    return rc;
}

int mk_tdx_attester_ticket(mk_tdx_attester *a, const mk_id *peer_id, const mk_id *network_id,
                           int64_t started_at, mk_ticket *out, mk_error *err) {
    return mk_tee_attester_ticket(a, peer_id, network_id, started_at, out, err);
}

int mk_tdx_attester_ticket_with_expiration(mk_tdx_attester *a, const mk_id *peer_id,
                                           const mk_id *network_id, int64_t started_at,
                                           mk_expiration expiration, mk_ticket *out,
                                           mk_error *err) {
    return mk_tee_attester_ticket_with_expiration(a, peer_id, network_id, started_at, expiration,
                                                  out, err);
}

int mk_tdx_attester_install_own_ticket(mk_tdx_attester *a, const mk_id *peer_id,
                                       const mk_id *network_id, int64_t started_at,
                                       const mk_ticket_sink *sink, mk_expiration *expires,
                                       mk_error *err) {
    return mk_tee_attester_install_own_ticket(a, peer_id, network_id, started_at, sink, expires,
                                              err);
}

int mk_tdx_attester_measurements(mk_tdx_attester *a, mk_tdx_td_report *out, mk_error *err) {
    if (!a) return mk_error_set(err, MK_EINVAL, "attester: bad call");
    uint8_t rd[MK_TDX_REPORT_DATA_LEN] = {0};
    int rc = mk_tdx_provider_report(mk_tee_attester_provider(a), rd, out, err);
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
