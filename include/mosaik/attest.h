/*
 * mosaik/attest.h — the node's own attestation in one call, renewed by the
 * library (docs/discovery.md, "Attesting").
 *
 *   mk_attestation *at;
 *   if (mk_network_attest(nw, provider, NULL, &at, &err) < 0) ...  // installed
 *   ...                                                            // renewed
 *   mk_attestation_free(at);                                       // stopped
 *
 * An mk_attestation makes the node's ticket through the platform-neutral
 * TEE layer (mosaik/tee.h: an attester over any provider — TDX, SEV-SNP, a
 * simulator), bound to the network's peer id, network id and start time,
 * installs it in the local entry (replacing the tickets of its class,
 * announced to the peers), and renews it before it expires.
 *
 * Lifecycle (libuv's): mk_attestation_new checks the options and makes the
 * attester (no evidence yet); mk_attestation_start makes and installs the
 * first ticket on the calling thread (its failure is the call's, and
 * nothing was installed) and starts renewing; mk_attestation_stop stops
 * renewing (start again makes a fresh ticket); mk_attestation_free stops
 * and frees. mk_network_attest is new + start.
 *
 * Renewal: at renew_percent of the ticket's lifetime, moved by a random
 * amount of at most jitter_percent of the lifetime (so nodes started
 * together do not renew together). A failed attempt — the provider, the
 * endorsements (collateral) hook, installing — is retried after
 * retry_min_ms, doubling to at most retry_max_ms, each delay drawn at
 * random from its upper half, until one succeeds. Events say so (below).
 * Time is mk_now() / mk_mono_ms() (mosaik/clock.h): a test's replaced
 * clock drives it, looked at least every check_ms.
 *
 * Threads. Timing, installing and the events run on the network's I/O
 * thread (its libuv loop, a timer of mosaik/net.h). Evidence requests
 * block — the kernel interface up to the provider's timeout, a collateral
 * fetch over HTTPS — so each attestation has one worker thread that runs
 * the provider and the endorsement hooks during an attempt and sleeps
 * otherwise; it holds no lock of the library while doing so.
 *
 * Every function may be called from any thread except where said. Free
 * attestations before or after their network (mk_network_free stops the
 * ones still running; they must still be freed), but not at the same time.
 */
#ifndef MOSAIK_ATTEST_H
#define MOSAIK_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/discovery.h"
#include "mosaik/error.h"
#include "mosaik/export.h"
#include "mosaik/id.h"
#include "mosaik/tee.h"
#include "mosaik/ticket.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mk_attestation mk_attestation;

/* Defaults of mk_attestation_opts_init. */
#define MK_ATTEST_DEFAULT_RENEW_PERCENT 80u
#define MK_ATTEST_DEFAULT_JITTER_PERCENT 5u
#define MK_ATTEST_DEFAULT_RETRY_MIN_MS 1000u
#define MK_ATTEST_DEFAULT_RETRY_MAX_MS 300000u
#define MK_ATTEST_DEFAULT_CHECK_MS 1000u

typedef enum mk_attestation_event_type {
    MK_ATTEST_RENEWED = 1, /* a fresh ticket replaced the installed one */
    MK_ATTEST_FAILED = 2,  /* an attempt failed; the next one after retry_ms */
    MK_ATTEST_EXPIRED = 3, /* the installed ticket expired before a renewal succeeded */
} mk_attestation_event_type;

/* "renewed", "failed", "expired" ("unknown" otherwise). */
MK_EXTERN const char *mk_attestation_event_name(mk_attestation_event_type t);

typedef struct mk_attestation_event {
    mk_attestation_event_type type;
    mk_expiration expires; /* the installed ticket's expiration (RENEWED: the new one's) */
    int64_t next_at;       /* mk_now() when the next attempt is due (about) */
    uint32_t retry_ms;     /* FAILED: the backoff before it */
    unsigned failures;     /* consecutive failed attempts (RENEWED: before this one) */
    int code;              /* FAILED, EXPIRED: the last failure's MK_E* */
    const char *reason;    /* and its reason (borrowed, for the call); "" for RENEWED */
} mk_attestation_event;

/* Told of each event on the network's I/O thread: it must not block. It
 * may call mk_attestation_stop (which then only stops, without waiting)
 * and mk_attestation_status_get, not mk_attestation_free. */
typedef void (*mk_attestation_cb)(mk_attestation *a, const mk_attestation_event *ev, void *ctx);

/* Fresh endorsements for the next ticket, fetched before each attempt on
 * the worker thread (the first one on the thread of mk_attestation_start)
 * (TDX: the current collateral bundle, e.g. from Intel
 * PCS through the cache), appended to the empty `out`. A failure (a
 * negative MK_E* with a reason) fails the attempt, which is retried. */
typedef int (*mk_attestation_endorsements_fn)(void *ctx, mk_buf *out, mk_error *err);

typedef struct mk_attestation_opts {
    /* Endorsements embedded in every ticket (copied; TDX: the collateral
     * bundle JSON, mk_tdx_collateral_to_bundle). NULL: none. */
    const uint8_t *endorsements;
    size_t endorsements_len;
    /* Or fetched afresh before each ticket (NULL: none). */
    mk_attestation_endorsements_fn fetch_endorsements;
    void *fetch_ctx;
    /* Or made per ticket from its evidence (mosaik/tee.h; SNP: the VCEK
     * out of the certificate table). At most one of the three. */
    mk_tee_endorse_fn endorse;
    void *endorse_ctx;
    int64_t lifetime; /* seconds (0: MK_TEE_TICKET_DEFAULT_LIFETIME) */
    /* renew_percent 1..99; jitter_percent below renew_percent and
     * 100 - renew_percent; 1 <= retry_min_ms <= retry_max_ms; check_ms >=
     * 1 (else MK_EINVAL). */
    unsigned renew_percent;  /* MK_ATTEST_DEFAULT_RENEW_PERCENT */
    unsigned jitter_percent; /* MK_ATTEST_DEFAULT_JITTER_PERCENT */
    uint32_t retry_min_ms;   /* MK_ATTEST_DEFAULT_RETRY_MIN_MS */
    uint32_t retry_max_ms;   /* MK_ATTEST_DEFAULT_RETRY_MAX_MS */
    /* Longest the loop waits without looking at the clock: how late a
     * renewal can be after the wall clock jumped (a suspended machine) or
     * a test moved its replaced clock. */
    uint32_t check_ms;          /* MK_ATTEST_DEFAULT_CHECK_MS */
    mk_attestation_cb on_event; /* NULL: none */
    void *event_ctx;
} mk_attestation_opts;

MK_EXTERN void mk_attestation_opts_init(mk_attestation_opts *o);

/* An attestation of nw through provider (borrowed: it must outlive the
 * attestation) with opts (NULL: the defaults; copied). No evidence yet. */
MK_EXTERN int mk_attestation_new(mk_network *nw, mk_tee_provider *provider,
                                 const mk_attestation_opts *opts, mk_attestation **out,
                                 mk_error *err);
/* Make and install the first ticket now, on the calling thread (not the
 * network's I/O thread), then renew it. MK_ESTATE when running already or
 * when the network is closed. */
MK_EXTERN int mk_attestation_start(mk_attestation *a, mk_error *err);
/* Stop renewing. Waits for an attempt in progress (bounded by the
 * provider's timeout), whose ticket is then not installed; afterwards
 * nothing of the attestation runs until started again. The installed
 * ticket stays in the entry until it expires (mk_network_remove_tickets_of
 * takes it out). Idempotent. On the I/O thread (the callback) it only
 * stops, without waiting. */
MK_EXTERN int mk_attestation_stop(mk_attestation *a);
/* Stop, then free (NULL is a no-op). Not on the network's I/O thread. */
MK_EXTERN void mk_attestation_free(mk_attestation *a);

/* New and start in one call; on failure nothing is left behind. */
MK_EXTERN int mk_network_attest(mk_network *nw, mk_tee_provider *provider,
                                const mk_attestation_opts *opts, mk_attestation **out,
                                mk_error *err);

typedef struct mk_attestation_status {
    bool running;          /* started, not stopped, its network not freed (a closed
                              network renews no more: its loop has stopped) */
    bool attempting;       /* an attempt is in progress (on the worker) */
    bool expired;          /* the installed ticket expired; no renewal succeeded since */
    mk_id class_id;        /* the class of its tickets (zero before the first one) */
    mk_expiration expires; /* the installed ticket's expiration (0: none yet) */
    int64_t next_at;       /* mk_now() when the next attempt is due (0: none) */
    uint64_t renewals;     /* successful renewals (the first ticket not counted) */
    uint64_t failures;     /* failed attempts in all */
    unsigned failing;      /* consecutive failed attempts now */
    uint32_t retry_ms;     /* the current backoff (0: not failing) */
    uint64_t checked_ms;   /* mk_mono_ms() when the loop last looked at the clock */
    int last_code;         /* the last failure's MK_E* (0: none yet) */
    char last_reason[MK_ERROR_MSG_MAX]; /* and its reason */
} mk_attestation_status;

MK_EXTERN void mk_attestation_status_get(mk_attestation *a, mk_attestation_status *out);

#ifdef __cplusplus
}
#endif
#endif
