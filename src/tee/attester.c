/*
 * tee/attester.c — the node-facing side of attestation tickets, for every
 * platform: one attester over any provider (mosaik/tee.h).
 *
 * Making a ticket:
 *   1. fix the extra data: peer id, network id, started_at, quoted_at =
 *      mk_now(), expiration (quoted_at + lifetime by default);
 *   2. report_data = mk_tee_report_data(domain of the provider's ticket
 *      format, extra data);
 *   3. ask the provider for evidence over that report data (and its
 *      auxiliary data when an endorse hook wants it);
 *   4. the endorsements: the hook's answer for this evidence (SNP: the
 *      VCEK from the certificate table), else the fixed ones of the
 *      configuration (TDX: the collateral bundle), else none;
 *   5. package extra data, evidence and endorsements in the provider's
 *      ticket format and wrap it as a generic mk_ticket of its class.
 * The attester never verifies its own evidence: verification is the
 * validator's job on the receiving side.
 *
 * install_own_ticket hands the fresh ticket to a sink (function pointer +
 * context). The network layer implements the sink to put the ticket into
 * the local peer entry and announce it, and calls install_own_ticket at
 * start and again before *expires (renewal); until then any code can use
 * it.
 *
 * The attester holds a mutex so that it can be shared between threads
 * (providers are thread-safe); settings changed while it runs apply to the
 * next ticket. Reasons say "attester: " and the step; the provider's own
 * reasons name the provider.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/clock.h"
#include "tee/tee_internal.h"

struct mk_tee_attester {
    mk_tee_provider *provider; /* borrowed */
    mk_tee_endorse_fn endorse;
    void *endorse_ctx;
    pthread_mutex_t lock;
    uint8_t *endorsements; /* fixed ones, or NULL */
    size_t endorsements_len;
    int64_t lifetime;
};

void mk_tee_attester_config_init(mk_tee_attester_config *cfg) {
    *cfg = (mk_tee_attester_config){.lifetime = MK_TEE_TICKET_DEFAULT_LIFETIME};
}

static int copy_endorsements(const uint8_t *data, size_t len, uint8_t **out, mk_error *err) {
    *out = NULL;
    if (!data) return 0;
    *out = malloc(len ? len : 1);
    if (!*out) return mk_error_set(err, MK_ENOMEM, "out of memory");
    if (len) memcpy(*out, data, len);
    return 0;
}

int mk_tee_attester_new(const mk_tee_attester_config *cfg, mk_tee_attester **out, mk_error *err) {
    *out = NULL;
    if (!cfg || !cfg->provider) return mk_error_set(err, MK_EINVAL, "attester: no provider");
    mk_tee_attester *a = calloc(1, sizeof *a);
    if (!a) return mk_error_set(err, MK_ENOMEM, "out of memory");
    a->provider = cfg->provider;
    a->endorse = cfg->endorse;
    a->endorse_ctx = cfg->endorse_ctx;
    a->lifetime = cfg->lifetime > 0 ? cfg->lifetime : MK_TEE_TICKET_DEFAULT_LIFETIME;
    pthread_mutex_init(&a->lock, NULL);
    int rc = copy_endorsements(cfg->endorsements, cfg->endorsements_len, &a->endorsements, err);
    if (rc < 0) {
        mk_tee_attester_free(a);
        return rc;
    }
    a->endorsements_len = a->endorsements ? cfg->endorsements_len : 0;
    *out = a;
    return 0;
}

void mk_tee_attester_free(mk_tee_attester *a) {
    if (!a) return;
    free(a->endorsements);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

mk_tee_provider *mk_tee_attester_provider(const mk_tee_attester *a) {
    return a ? a->provider : NULL;
}

void mk_tee_attester_set_lifetime(mk_tee_attester *a, int64_t seconds) {
    if (!a) return;
    pthread_mutex_lock(&a->lock);
    a->lifetime = seconds > 0 ? seconds : MK_TEE_TICKET_DEFAULT_LIFETIME;
    pthread_mutex_unlock(&a->lock);
}

int mk_tee_attester_set_endorsements(mk_tee_attester *a, const uint8_t *data, size_t len,
                                     mk_error *err) {
    if (!a) return mk_error_set(err, MK_EINVAL, "attester: bad call");
    uint8_t *copy;
    MK_TRY(copy_endorsements(data, len, &copy, err));
    pthread_mutex_lock(&a->lock);
    free(a->endorsements);
    a->endorsements = copy;
    a->endorsements_len = copy ? len : 0;
    pthread_mutex_unlock(&a->lock);
    return 0;
}

/* Steps 3 and 4: evidence for x, and the endorsements the hook makes of it
 * (hooked stays false without a hook). */
static int evidence_for(mk_tee_attester *a, const mk_tee_ticket_format *f,
                        const mk_tee_extra_data *x, mk_buf *ev, mk_buf *end, bool *hooked,
                        mk_error *err) {
    uint8_t rd[MK_TEE_REPORT_DATA_LEN];
    if (mk_tee_report_data(f->domain, x, rd) < 0)
        return mk_error_set(err, MK_EINVAL, "attester: bad report-data domain");
    mk_buf aux;
    mk_buf_init(&aux, MK_TEE_TICKET_MAX_DECOMPRESSED);
    int rc = mk_tee_provider_evidence(a->provider, rd, ev, a->endorse ? &aux : NULL, err);
    if (rc < 0) {
        mk_buf_free(&aux);
        return mk_error_prefix(err, rc, "attester: %s", f->evidence_name);
    }
    *hooked = a->endorse != NULL;
    if (a->endorse) {
        rc = a->endorse(a->endorse_ctx, ev->data, ev->len, aux.data, aux.len, end, err);
        if (rc < 0) mk_error_prefix(err, rc, "attester: %s", f->endorsements_name);
    }
    mk_buf_free(&aux);
    return rc;
}

static int make_ticket(mk_tee_attester *a, const mk_id *peer_id, const mk_id *network_id,
                       int64_t started_at, bool default_exp, mk_expiration expiration,
                       mk_ticket *out, mk_expiration *expires, mk_error *err) {
    memset(out, 0, sizeof *out);
    if (!a || !peer_id || !network_id) return mk_error_set(err, MK_EINVAL, "attester: bad call");
    const mk_tee_ticket_format *f = a->provider->ops->ticket;
    mk_tee_extra_data x;
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

    mk_buf ev, end;
    mk_buf_init(&ev, f->evidence_max);
    mk_buf_init(&end, f->endorsements_max);
    bool hooked = false;
    mk_tee_ticket t;
    int rc = evidence_for(a, f, &x, &ev, &end, &hooked, err);
    if (rc == 0 && hooked) {
        rc =
            mk_tee_ticket_init(f, &t, &x, ev.data, ev.len, end.len ? end.data : NULL, end.len, err);
    } else if (rc == 0) {
        pthread_mutex_lock(&a->lock);
        rc = mk_tee_ticket_init(f, &t, &x, ev.data, ev.len, a->endorsements, a->endorsements_len,
                                err);
        pthread_mutex_unlock(&a->lock);
    }
    mk_buf_free(&ev);
    mk_buf_free(&end);
    if (rc < 0) return rc;
    rc = mk_tee_ticket_to_generic(&t, out, err);
    mk_tee_ticket_free(&t);
    if (rc == 0 && expires) *expires = x.expiration;
    return rc;
}

int mk_tee_attester_ticket(mk_tee_attester *a, const mk_id *peer_id, const mk_id *network_id,
                           int64_t started_at, mk_ticket *out, mk_error *err) {
    return make_ticket(a, peer_id, network_id, started_at, true, 0, out, NULL, err);
}

int mk_tee_attester_ticket_with_expiration(mk_tee_attester *a, const mk_id *peer_id,
                                           const mk_id *network_id, int64_t started_at,
                                           mk_expiration expiration, mk_ticket *out,
                                           mk_error *err) {
    return make_ticket(a, peer_id, network_id, started_at, false, expiration, out, NULL, err);
}

int mk_tee_attester_measurements(mk_tee_attester *a, mk_tee_measurements *out, mk_error *err) {
    if (!a) return mk_error_set(err, MK_EINVAL, "attester: bad call");
    int rc = mk_tee_provider_measurements(a->provider, out, err);
    if (rc < 0) return mk_error_prefix(err, rc, "attester: measurements");
    return 0;
}

int mk_tee_attester_install_own_ticket(mk_tee_attester *a, const mk_id *peer_id,
                                       const mk_id *network_id, int64_t started_at,
                                       const mk_ticket_sink *sink, mk_expiration *expires,
                                       mk_error *err) {
    if (!sink || !sink->add_ticket) return mk_error_set(err, MK_EINVAL, "attester: no sink");
    mk_ticket t;
    mk_expiration e = 0;
    MK_TRY(make_ticket(a, peer_id, network_id, started_at, true, 0, &t, &e, err));
    int rc = sink->add_ticket(sink->ctx, &t, err);
    mk_ticket_free(&t);
    if (rc < 0) return mk_error_prefix(err, rc, "attester: installing the ticket");
    if (expires) *expires = e;
    return 0;
}
