/*
 * tee/tdx/provider.c — TDX quote providers behind one interface
 * (mosaik/tdx_provider.h): construction, settings, the "auto" choice among
 * the real providers, and the simulator wrapped as a provider (the
 * simulator itself is sim.c; the Linux interfaces are provider_linux.c).
 *
 * Each provider carries the operations table of its kind
 * (tdx_provider_internal.h); the public functions check their arguments —
 * NULL pointers, RTMR indices (0..3 to read, only 2 and 3 to extend: RTMR 0
 * and 1 belong to firmware and kernel) — and then call that table. The
 * simulator provider quotes and reports for a copy of its simulated TD
 * taken under the provider's lock, and extends its RTMRs in that TD:
 * RTMR = SHA-384(RTMR || digest), as the TDX module does.
 *
 * Invariants: no provider ever falls back to the simulator (auto chooses
 * among configfs-tsm and tdx_guest only); a provider's settings may change
 * while other threads use it (timeout atomic, measurements dir and
 * simulated TD under the lock).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/crypto.h"
#include "mosaik/tdx_provider.h"
#include "tee/tdx/tdx_provider_internal.h"

#define PROVIDER_DEFAULT_TIMEOUT_MS 30000u

static const mk_tdx_provider_ops sim_ops;

/* ---------------------------------------------------------------- */
/* Construction and settings                                         */
/* ---------------------------------------------------------------- */

mk_tdx_provider *mk_tdx_provider_alloc(const mk_tdx_provider_ops *ops, const char *path) {
    mk_tdx_provider *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->ops = ops;
    atomic_init(&p->timeout_ms, PROVIDER_DEFAULT_TIMEOUT_MS);
    p->path = path ? strdup(path) : NULL;
    p->meas_dir = strdup(MK_TDX_MEASUREMENTS_DIR);
    if ((path && !p->path) || !p->meas_dir || pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p->path);
        free(p->meas_dir);
        free(p);
        return NULL;
    }
    return p;
}

/* *out = p, or MK_ENOMEM when p is NULL. */
static int provider_out(mk_tdx_provider *p, mk_tdx_provider **out, mk_error *err) {
    *out = p;
    return p ? 0 : mk_error_set(err, MK_ENOMEM, "out of memory");
}

int mk_tdx_provider_configfs_new(const char *tsm_report_dir, mk_tdx_provider **out, mk_error *err) {
    return provider_out(
        mk_tdx_provider_alloc(&mk_tdx_provider_configfs_ops,
                              tsm_report_dir ? tsm_report_dir : MK_TDX_TSM_REPORT_DIR),
        out, err);
}

int mk_tdx_provider_devtdx_new(const char *dev, mk_tdx_provider **out, mk_error *err) {
    return provider_out(
        mk_tdx_provider_alloc(&mk_tdx_provider_devtdx_ops, dev ? dev : MK_TDX_GUEST_DEV), out, err);
}

int mk_tdx_provider_sim_new(mk_tdx_sim *sim, const mk_tdx_sim_td *td, mk_tdx_provider **out,
                            mk_error *err) {
    *out = NULL;
    if (!sim) return mk_error_set(err, MK_EINVAL, "simulator provider: no simulator");
    mk_tdx_provider *p = mk_tdx_provider_alloc(&sim_ops, NULL);
    if (!p) return provider_out(p, out, err);
    p->sim = mk_tdx_sim_ref(sim);
    if (td)
        p->td = *td;
    else
        mk_tdx_sim_td_default(&p->td);
    *out = p;
    return 0;
}

void mk_tdx_provider_free(mk_tdx_provider *p) {
    if (!p) return;
    pthread_mutex_destroy(&p->lock);
    mk_tdx_sim_free(p->sim);
    free(p->path);
    free(p->meas_dir);
    free(p);
}

void mk_tdx_provider_set_timeout_ms(mk_tdx_provider *p, uint32_t ms) {
    if (p) atomic_store(&p->timeout_ms, ms ? ms : PROVIDER_DEFAULT_TIMEOUT_MS);
}

int mk_tdx_provider_set_measurements_dir(mk_tdx_provider *p, const char *dir) {
    if (!p || !dir) return MK_EINVAL;
    char *d = strdup(dir);
    if (!d) return MK_ENOMEM;
    pthread_mutex_lock(&p->lock);
    free(p->meas_dir);
    p->meas_dir = d;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* ---------------------------------------------------------------- */
/* The interface                                                     */
/* ---------------------------------------------------------------- */

const char *mk_tdx_provider_name(const mk_tdx_provider *p) {
    return p ? p->ops->name : "(none)";
}

bool mk_tdx_provider_is_simulated(const mk_tdx_provider *p) {
    return p && p->ops->is_simulated;
}

bool mk_tdx_provider_available(const mk_tdx_provider *p, mk_error *err) {
    if (!p) {
        mk_error_set(err, MK_EINVAL, "no provider");
        return false;
    }
    return p->ops->available(p, err);
}

int mk_tdx_provider_quote(mk_tdx_provider *p, const uint8_t report_data[MK_TDX_REPORT_DATA_LEN],
                          mk_buf *quote, mk_error *err) {
    if (!p || !report_data || !quote)
        return mk_error_set(err, MK_EINVAL, "TDX quote: NULL argument");
    return p->ops->quote(p, report_data, quote, err);
}

int mk_tdx_provider_report(mk_tdx_provider *p, const uint8_t report_data[MK_TDX_REPORT_DATA_LEN],
                           mk_tdx_td_report *out, mk_error *err) {
    if (!p || !report_data || !out)
        return mk_error_set(err, MK_EINVAL, "TDX report: NULL argument");
    return p->ops->report(p, report_data, out, err);
}

int mk_tdx_provider_read_rtmr(mk_tdx_provider *p, int index, uint8_t out[MK_TDX_MR_LEN],
                              mk_error *err) {
    if (!p || !out || index < 0 || index > 3)
        return mk_error_set(err, MK_EINVAL, "RTMR read: bad argument (index %d)", index);
    return p->ops->read_rtmr(p, index, out, err);
}

int mk_tdx_provider_extend_rtmr(mk_tdx_provider *p, int index, const uint8_t digest[MK_TDX_MR_LEN],
                                mk_error *err) {
    if (!p || !digest) return mk_error_set(err, MK_EINVAL, "RTMR extend: NULL argument");
    if (index != 2 && index != 3)
        return mk_error_set(err, MK_EINVAL,
                            "RTMR extend: index %d refused (only RTMR2 and RTMR3 are left to "
                            "TD software)",
                            index);
    return p->ops->extend_rtmr(p, index, digest, err);
}

/* ---------------------------------------------------------------- */
/* The simulator as a provider                                       */
/* ---------------------------------------------------------------- */

static bool sim_available(const mk_tdx_provider *p, mk_error *err) {
    (void)p;
    (void)err;
    return true;
}

static mk_tdx_sim_td sim_td(mk_tdx_provider *p) {
    pthread_mutex_lock(&p->lock);
    mk_tdx_sim_td td = p->td;
    pthread_mutex_unlock(&p->lock);
    return td;
}

static int sim_quote(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN], mk_buf *quote,
                     mk_error *err) {
    mk_tdx_sim_td td = sim_td(p);
    return mk_tdx_sim_quote(p->sim, &td, rd, quote, err);
}

static int sim_report(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN],
                      mk_tdx_td_report *out, mk_error *err) {
    (void)err;
    mk_tdx_sim_td td = sim_td(p);
    mk_tdx_sim_td_report(&td, rd, out);
    return 0;
}

static int sim_read_rtmr(mk_tdx_provider *p, int index, uint8_t out[MK_TDX_MR_LEN], mk_error *err) {
    (void)err;
    pthread_mutex_lock(&p->lock);
    memcpy(out, p->td.rtmr[index], 48);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static int sim_extend_rtmr(mk_tdx_provider *p, int index, const uint8_t digest[MK_TDX_MR_LEN],
                           mk_error *err) {
    (void)err;
    pthread_mutex_lock(&p->lock);
    uint8_t in[96];
    memcpy(in, p->td.rtmr[index], 48);
    memcpy(in + 48, digest, 48);
    mk_sha384(in, sizeof in, p->td.rtmr[index]);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static const mk_tdx_provider_ops sim_ops = {
    .name = "simulator (NOT real TDX)",
    .is_simulated = true,
    .available = sim_available,
    .quote = sim_quote,
    .report = sim_report,
    .read_rtmr = sim_read_rtmr,
    .extend_rtmr = sim_extend_rtmr,
};

/* ---------------------------------------------------------------- */
/* auto                                                              */
/* ---------------------------------------------------------------- */

int mk_tdx_provider_auto_new(mk_tdx_provider **out, mk_error *err) {
    *out = NULL;
    mk_error e1, e2;
    mk_error_clear(&e1);
    mk_error_clear(&e2);
    mk_tdx_provider *p = NULL;
    MK_TRY(mk_tdx_provider_configfs_new(NULL, &p, err));
    if (mk_tdx_provider_available(p, &e1)) return provider_out(p, out, err);
    mk_tdx_provider_free(p);
    MK_TRY(mk_tdx_provider_devtdx_new(NULL, &p, err));
    if (mk_tdx_provider_available(p, &e2)) return provider_out(p, out, err);
    mk_tdx_provider_free(p);
    return mk_error_set(err, MK_EUNAVAILABLE,
                        "no TDX quote provider on this machine (%s; %s); the simulator is never "
                        "chosen automatically",
                        e1.msg, e2.msg);
}
