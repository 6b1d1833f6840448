/*
 * tee/tdx/provider.c — TDX quote providers on the shared provider
 * interface (tee/provider.c): construction, settings, the TDX-typed
 * functions of mosaik/tdx_provider.h, the "auto" choice among the real
 * providers, and the simulator wrapped as a provider (the simulator itself
 * is sim.c; the Linux interfaces are provider_linux.c).
 *
 * Each provider carries the TDX table of its kind (tdx_provider_internal.h),
 * whose first member is the shared table: the shared layer sees a provider
 * of platform MK_TEE_TDX whose evidence is a quote and whose measurements
 * are MRTD, RTMR0..3, MRCONFIGID, MROWNER and MROWNERCONFIG of a fresh TD
 * report. The TDX functions check their arguments — NULL pointers, a
 * provider of another platform, RTMR indices (0..3 to read, only 2 and 3
 * to extend: RTMR 0 and 1 belong to firmware and kernel) — and then call
 * the table. The simulator provider quotes and reports for a copy of its
 * simulated TD taken under the provider's lock, and extends its RTMRs in
 * that TD: RTMR = SHA-384(RTMR || digest), as the TDX module does.
 *
 * Invariants: no provider ever falls back to the simulator (auto chooses
 * among configfs-tsm and tdx_guest only); a provider's settings may change
 * while other threads use it (timeout atomic, measurements dir and
 * simulated TD under the lock).
 */
#include <stdlib.h>
#include <string.h>

#include "mosaik/crypto.h"
#include "mosaik/tdx_provider.h"
#include "tee/tdx/tdx_internal.h"
#include "tee/tdx/tdx_provider_internal.h"

static const mk_tdx_provider_ops sim_ops;

/* ---------------------------------------------------------------- */
/* Construction and settings                                         */
/* ---------------------------------------------------------------- */

static void state_free(mk_tdx_provider_state *s) {
    if (!s) return;
    pthread_mutex_destroy(&s->lock);
    mk_tdx_sim_free(s->sim);
    free(s->path);
    free(s->meas_dir);
    free(s);
}

mk_tdx_provider *mk_tdx_provider_alloc(const mk_tdx_provider_ops *ops, const char *path) {
    mk_tdx_provider_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->path = path ? strdup(path) : NULL;
    s->meas_dir = strdup(MK_TDX_MEASUREMENTS_DIR);
    if ((path && !s->path) || !s->meas_dir || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s->path);
        free(s->meas_dir);
        free(s);
        return NULL;
    }
    mk_tdx_provider *p = mk_tee_provider_alloc(&ops->tee, s);
    if (!p) state_free(s);
    return p;
}

void mk_tdx_provider_destroy(mk_tee_provider *p) {
    state_free(mk_tdx_state(p));
    p->state = NULL;
}

const mk_tdx_provider_ops *mk_tdx_provider_ops_of(const mk_tdx_provider *p) {
    if (!p || p->ops->platform != MK_TEE_TDX || p->ops->destroy != mk_tdx_provider_destroy)
        return NULL;
    return (const mk_tdx_provider_ops *)p->ops;
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
    mk_tdx_provider_state *s = mk_tdx_state(p);
    s->sim = mk_tdx_sim_ref(sim);
    if (td)
        s->td = *td;
    else
        mk_tdx_sim_td_default(&s->td);
    *out = p;
    return 0;
}

void mk_tdx_provider_free(mk_tdx_provider *p) {
    mk_tee_provider_free(p);
}

void mk_tdx_provider_set_timeout_ms(mk_tdx_provider *p, uint32_t ms) {
    mk_tee_provider_set_timeout_ms(p, ms);
}

int mk_tdx_provider_set_measurements_dir(mk_tdx_provider *p, const char *dir) {
    if (!mk_tdx_provider_ops_of(p) || !dir) return MK_EINVAL;
    char *d = strdup(dir);
    if (!d) return MK_ENOMEM;
    mk_tdx_provider_state *s = mk_tdx_state(p);
    pthread_mutex_lock(&s->lock);
    free(s->meas_dir);
    s->meas_dir = d;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* ---------------------------------------------------------------- */
/* The TDX-typed interface                                           */
/* ---------------------------------------------------------------- */

const char *mk_tdx_provider_name(const mk_tdx_provider *p) {
    return mk_tee_provider_name(p);
}

bool mk_tdx_provider_is_simulated(const mk_tdx_provider *p) {
    return mk_tee_provider_is_simulated(p);
}

bool mk_tdx_provider_available(const mk_tdx_provider *p, mk_error *err) {
    return mk_tee_provider_available(p, err);
}

int mk_tdx_provider_quote(mk_tdx_provider *p, const uint8_t report_data[MK_TDX_REPORT_DATA_LEN],
                          mk_buf *quote, mk_error *err) {
    if (!p || !report_data || !quote)
        return mk_error_set(err, MK_EINVAL, "TDX quote: NULL argument");
    if (!mk_tdx_provider_ops_of(p))
        return mk_error_set(err, MK_EINVAL, "TDX quote: %s is not a TDX provider",
                            mk_tee_provider_name(p));
    return p->ops->evidence(p, report_data, quote, NULL, err);
}

int mk_tdx_provider_report(mk_tdx_provider *p, const uint8_t report_data[MK_TDX_REPORT_DATA_LEN],
                           mk_tdx_td_report *out, mk_error *err) {
    if (!p || !report_data || !out)
        return mk_error_set(err, MK_EINVAL, "TDX report: NULL argument");
    const mk_tdx_provider_ops *t = mk_tdx_provider_ops_of(p);
    if (!t)
        return mk_error_set(err, MK_EINVAL, "TDX report: %s is not a TDX provider",
                            mk_tee_provider_name(p));
    return t->report(p, report_data, out, err);
}

int mk_tdx_provider_read_rtmr(mk_tdx_provider *p, int index, uint8_t out[MK_TDX_MR_LEN],
                              mk_error *err) {
    const mk_tdx_provider_ops *t = mk_tdx_provider_ops_of(p);
    if (!t || !out || index < 0 || index > 3)
        return mk_error_set(err, MK_EINVAL, "RTMR read: bad argument (index %d)", index);
    return t->read_rtmr(p, index, out, err);
}

int mk_tdx_provider_extend_rtmr(mk_tdx_provider *p, int index, const uint8_t digest[MK_TDX_MR_LEN],
                                mk_error *err) {
    const mk_tdx_provider_ops *t = mk_tdx_provider_ops_of(p);
    if (!t || !digest) return mk_error_set(err, MK_EINVAL, "RTMR extend: NULL argument");
    if (index != 2 && index != 3)
        return mk_error_set(err, MK_EINVAL,
                            "RTMR extend: index %d refused (only RTMR2 and RTMR3 are left to "
                            "TD software)",
                            index);
    return t->extend_rtmr(p, index, digest, err);
}

int mk_tdx_provider_measurements(mk_tee_provider *p, mk_tee_measurements *out, mk_error *err) {
    uint8_t rd[MK_TDX_REPORT_DATA_LEN] = {0};
    mk_tdx_td_report r;
    MK_TRY(((const mk_tdx_provider_ops *)p->ops)->report(p, rd, &r, err));
    static const char *const rtmr[4] = {"RTMR0", "RTMR1", "RTMR2", "RTMR3"};
    mk_tee_measurements_add(out, "MRTD", r.mr_td, 48);
    for (int i = 0; i < 4; i++)
        mk_tee_measurements_add(out, rtmr[i], r.rtmr[i], 48);
    mk_tee_measurements_add(out, "MRCONFIGID", r.mr_config_id, 48);
    mk_tee_measurements_add(out, "MROWNER", r.mr_owner, 48);
    mk_tee_measurements_add(out, "MROWNERCONFIG", r.mr_owner_config, 48);
    return 0;
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
    mk_tdx_provider_state *s = mk_tdx_state(p);
    pthread_mutex_lock(&s->lock);
    mk_tdx_sim_td td = s->td;
    pthread_mutex_unlock(&s->lock);
    return td;
}

static int sim_quote(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN], mk_buf *quote,
                     mk_buf *aux, mk_error *err) {
    mk_tdx_sim_td td = sim_td(p);
    MK_TRY(mk_tdx_sim_quote(mk_tdx_state(p)->sim, &td, rd, quote, err));
    if (aux) mk_buf_reset(aux);
    return 0;
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
    mk_tdx_provider_state *s = mk_tdx_state(p);
    pthread_mutex_lock(&s->lock);
    memcpy(out, s->td.rtmr[index], 48);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int sim_extend_rtmr(mk_tdx_provider *p, int index, const uint8_t digest[MK_TDX_MR_LEN],
                           mk_error *err) {
    (void)err;
    mk_tdx_provider_state *s = mk_tdx_state(p);
    pthread_mutex_lock(&s->lock);
    uint8_t in[96];
    memcpy(in, s->td.rtmr[index], 48);
    memcpy(in + 48, digest, 48);
    mk_sha384(in, sizeof in, s->td.rtmr[index]);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static const mk_tdx_provider_ops sim_ops = {
    .tee =
        {
            .name = "simulator (NOT real TDX)",
            .platform = MK_TEE_TDX,
            .is_simulated = true,
            .ticket = &mk_tdx_ticket_format,
            .available = sim_available,
            .evidence = sim_quote,
            .measurements = mk_tdx_provider_measurements,
            .destroy = mk_tdx_provider_destroy,
        },
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
