/*
 * tee/provider.c — the provider interface: where a platform's evidence
 * comes from (mosaik/tee.h).
 *
 * A provider is an operations table of its kind (mk_tee_provider_ops,
 * tee_internal.h: name, platform, whether simulated, the ticket format its
 * evidence goes into, and the operations: available here, evidence for 64
 * bytes of report data, local measurements, destroy) plus the kind's
 * state. The public functions check their arguments and call the table;
 * nothing switches on a kind, so a platform adds a kind by adding a table.
 * A platform keeps its own typed operations (TDX: the TD report, RTMRs)
 * in a larger table that begins with this one, and recognises its own
 * providers by their destroy function (see tee/tdx/provider.c).
 *
 * Invariants: a provider is used from any thread (the timeout is atomic;
 * the kind guards its state); evidence replaces the caller's buffers only
 * on success; no provider ever falls back to a simulator: a simulated
 * provider says so (is_simulated, and its name).
 */
#include <stdlib.h>
#include <string.h>

#include "tee/tee_internal.h"

mk_tee_provider *mk_tee_provider_alloc(const mk_tee_provider_ops *ops, void *state) {
    if (!ops || !ops->name || !ops->ticket || ops->ticket->platform != ops->platform ||
        !ops->available || !ops->evidence || !ops->measurements)
        return NULL;
    mk_tee_provider *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->ops = ops;
    p->state = state;
    atomic_init(&p->timeout_ms, MK_TEE_PROVIDER_DEFAULT_TIMEOUT_MS);
    return p;
}

void mk_tee_provider_free(mk_tee_provider *p) {
    if (!p) return;
    if (p->ops->destroy) p->ops->destroy(p);
    free(p);
}

const char *mk_tee_provider_name(const mk_tee_provider *p) {
    return p ? p->ops->name : "(none)";
}

mk_tee_platform mk_tee_provider_platform(const mk_tee_provider *p) {
    return p ? p->ops->platform : MK_TEE_NONE;
}

bool mk_tee_provider_is_simulated(const mk_tee_provider *p) {
    return p && p->ops->is_simulated;
}

bool mk_tee_provider_available(const mk_tee_provider *p, mk_error *err) {
    if (!p) {
        mk_error_set(err, MK_EINVAL, "no provider");
        return false;
    }
    return p->ops->available(p, err);
}

int mk_tee_provider_evidence(mk_tee_provider *p, const uint8_t report_data[MK_TEE_REPORT_DATA_LEN],
                             mk_buf *evidence, mk_buf *aux, mk_error *err) {
    if (!p || !report_data || !evidence)
        return mk_error_set(err, MK_EINVAL, "evidence: NULL argument");
    return p->ops->evidence(p, report_data, evidence, aux, err);
}

int mk_tee_provider_measurements(mk_tee_provider *p, mk_tee_measurements *out, mk_error *err) {
    if (!p || !out) return mk_error_set(err, MK_EINVAL, "measurements: NULL argument");
    memset(out, 0, sizeof *out);
    int rc = p->ops->measurements(p, out, err);
    out->platform = p->ops->platform;
    if (rc < 0) memset(out, 0, sizeof *out);
    return rc;
}

void mk_tee_provider_set_timeout_ms(mk_tee_provider *p, uint32_t ms) {
    if (p) atomic_store(&p->timeout_ms, ms ? ms : MK_TEE_PROVIDER_DEFAULT_TIMEOUT_MS);
}

uint32_t mk_tee_provider_timeout_ms(const mk_tee_provider *p) {
    return atomic_load(&((mk_tee_provider *)p)->timeout_ms);
}
