/*
 * mosaik/tee.h — the platform-neutral TEE layer (docs/tee.md): which
 * platforms exist, the extra data a ticket's evidence binds, the shared
 * freshness / peer / network checks, the provider interface and the
 * attester every platform plugs into.
 *
 * A platform (Intel TDX: mosaik/tdx*.h; AMD SEV-SNP next) supplies
 *   - providers: where its evidence comes from (a Linux guest interface, a
 *     simulator), as mk_tee_provider objects;
 *   - its ticket format (class, report-data domain, caps) and its verifier
 *     and validator, built on the checks below.
 * The layer knows nothing about the network: a validator sees only ticket
 * bytes and the peer entry they came with.
 */
#ifndef MOSAIK_TEE_H
#define MOSAIK_TEE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/error.h"
#include "mosaik/export.h"
#include "mosaik/id.h"
#include "mosaik/ticket.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Platforms                                                           */
/* ------------------------------------------------------------------ */

typedef enum mk_tee_platform {
    MK_TEE_NONE = 0, /* no platform (a NULL provider) */
    MK_TEE_TDX = 1,  /* Intel TDX */
    MK_TEE_SNP = 2,  /* AMD SEV-SNP */
} mk_tee_platform;

/* "TDX", "SEV-SNP", or "none" for anything else. */
MK_EXTERN const char *mk_tee_platform_name(mk_tee_platform p);

/* ------------------------------------------------------------------ */
/* What a ticket's evidence binds                                      */
/* ------------------------------------------------------------------ */

#define MK_TEE_REPORT_DATA_LEN 64 /* the report data of every platform's evidence */
#define MK_TEE_DOMAIN_MAX 128     /* longest report-data domain string */
/* Hard cap on a ticket's decompressed (CBOR) form; its wire form is an
 * mk_ticket's data (MK_TICKET_MAX_DATA). */
#define MK_TEE_TICKET_MAX_DECOMPRESSED (128 * 1024)
/* Default lifetime of a ticket made by an attester, seconds. */
#define MK_TEE_TICKET_DEFAULT_LIFETIME 3600
/* Largest ticket time accepted by the decoders: 9999-12-31T23:59:59Z. */
#define MK_TEE_TIME_MAX INT64_C(253402300799)
/* Tickets quoted further than this in the future are refused, seconds. */
#define MK_TEE_CLOCK_SKEW 300

/* The extra data a ticket's evidence binds. */
typedef struct mk_tee_extra_data {
    mk_id peer_id;
    mk_id network_id;
    int64_t started_at; /* when the node started (UTC seconds) */
    int64_t quoted_at;  /* when the evidence was made */
    int64_t expiration; /* when the ticket expires; MK_EXPIRES_NEVER = never */
} mk_tee_extra_data;

/* The report data binding x under a platform's domain string D (at most
 * MK_TEE_DOMAIN_MAX bytes; TDX: MK_TDX_REPORT_DATA_DOMAIN):
 *   SHA-512( u32be(len(D)) || D || peer_id[32] || network_id[32]
 *            || i64be(started_at) || i64be(quoted_at) || i64be(expiration) )
 * MK_EINVAL for a missing or too long domain. */
MK_EXTERN int mk_tee_report_data(const char *domain, const mk_tee_extra_data *x,
                                 uint8_t out[MK_TEE_REPORT_DATA_LEN]);

/* ------------------------------------------------------------------ */
/* The checks after the evidence verified                              */
/* ------------------------------------------------------------------ */

/* Freshness limits of a validator; 0 turns a limit off. */
typedef struct mk_tee_freshness {
    int64_t max_age;      /* now - quoted_at at most this */
    int64_t not_before;   /* quoted_at at least this */
    int64_t max_lifetime; /* expiration - quoted_at at most this (never: refused) */
} mk_tee_freshness;

/* The ticket binds this peer and this network (MK_EMISMATCH naming both
 * ids otherwise). */
MK_EXTERN int mk_tee_check_peer(const mk_tee_extra_data *x, const mk_peer_view *peer,
                                mk_error *err);
/* Quoted at most MK_TEE_CLOCK_SKEW in the future (MK_ENOTYET), within
 * max_age (MK_EEXPIRED), not before not_before and within max_lifetime
 * (MK_EPOLICY). Overflow-free for any now. */
MK_EXTERN int mk_tee_check_freshness(const mk_tee_freshness *f, const mk_tee_extra_data *x,
                                     int64_t now, mk_error *err);
/* Not expired at now (MK_EEXPIRED); *expires (may be NULL) = the earlier
 * of the ticket's expiration and valid_until (the evidence's verified
 * window; <= 0: none). */
MK_EXTERN int mk_tee_check_expiry(const mk_tee_extra_data *x, int64_t valid_until, int64_t now,
                                  mk_expiration *expires, mk_error *err);

/* ------------------------------------------------------------------ */
/* Measurements                                                        */
/* ------------------------------------------------------------------ */

#define MK_TEE_REGISTERS_MAX 16
#define MK_TEE_REGISTER_MAX 64

/* One measurement register under its platform's name ("MRTD", "RTMR0"). */
typedef struct mk_tee_register {
    char name[16];
    uint8_t value[MK_TEE_REGISTER_MAX];
    size_t len;
} mk_tee_register;

/* The local TEE's measurements: local knowledge, not evidence. */
typedef struct mk_tee_measurements {
    mk_tee_platform platform;
    size_t n;
    mk_tee_register reg[MK_TEE_REGISTERS_MAX];
} mk_tee_measurements;

/* The register called name, or NULL. */
MK_EXTERN const mk_tee_register *mk_tee_measurements_find(const mk_tee_measurements *m,
                                                          const char *name);

/* ------------------------------------------------------------------ */
/* Providers                                                           */
/* ------------------------------------------------------------------ */

/* Where a platform's evidence comes from: a Linux guest interface, or a
 * simulator (never chosen automatically, and labelled: is_simulated, and
 * a name containing "simulator"). Made by a platform's constructors
 * (mk_tdx_provider_configfs_new, mk_tdx_provider_sim_new, ...); used from
 * any thread. */
typedef struct mk_tee_provider mk_tee_provider;

/* Where Linux's configfs-tsm report interface lives (TDX and SEV-SNP). */
#define MK_TEE_TSM_REPORT_DIR "/sys/kernel/config/tsm/report"

/* A short name: "configfs-tsm", "tdx_guest", "simulator (NOT real TDX)";
 * "(none)" for NULL. */
MK_EXTERN const char *mk_tee_provider_name(const mk_tee_provider *p);
/* The platform of its evidence (MK_TEE_NONE for NULL). */
MK_EXTERN mk_tee_platform mk_tee_provider_platform(const mk_tee_provider *p);
/* True for a simulator: its evidence is not hardware evidence. */
MK_EXTERN bool mk_tee_provider_is_simulated(const mk_tee_provider *p);
/* Whether it can produce evidence here now; when false, err (may be NULL)
 * gets MK_EUNAVAILABLE and a reason naming what is missing. */
MK_EXTERN bool mk_tee_provider_available(const mk_tee_provider *p, mk_error *err);
/* Evidence (a TDX quote, an SNP report) whose report data is exactly
 * report_data; it replaces the contents of `evidence`. aux (may be NULL)
 * receives the provider's auxiliary data (SNP's certificate table; empty
 * when there is none). On failure neither buffer changes. */
MK_EXTERN int mk_tee_provider_evidence(mk_tee_provider *p,
                                       const uint8_t report_data[MK_TEE_REPORT_DATA_LEN],
                                       mk_buf *evidence, mk_buf *aux, mk_error *err);
/* The local TEE's measurement registers. */
MK_EXTERN int mk_tee_provider_measurements(mk_tee_provider *p, mk_tee_measurements *out,
                                           mk_error *err);
/* Bound the time one evidence request may wait for the kernel or host
 * (default 30000 ms); 0 restores the default. */
MK_EXTERN void mk_tee_provider_set_timeout_ms(mk_tee_provider *p, uint32_t ms);
/* Free (NULL is a no-op). */
MK_EXTERN void mk_tee_provider_free(mk_tee_provider *p);

/* ------------------------------------------------------------------ */
/* The attester (node-facing)                                          */
/* ------------------------------------------------------------------ */

typedef struct mk_tee_attester mk_tee_attester;

/* Endorsements for one piece of evidence, made from it and the provider's
 * auxiliary data (SNP: the VCEK out of the certificate table), appended to
 * `endorsements` (empty: none). 0 or a negative MK_E* with a reason. */
typedef int (*mk_tee_endorse_fn)(void *ctx, const uint8_t *evidence, size_t evidence_len,
                                 const uint8_t *aux, size_t aux_len, mk_buf *endorsements,
                                 mk_error *err);

typedef struct mk_tee_attester_config {
    /* Where evidence and measurements come from (required; borrowed: it
     * must outlive the attester). Its platform fixes the ticket format. */
    mk_tee_provider *provider;
    /* Endorsements copied into every ticket, so verifiers need no network
     * (TDX: the collateral bundle JSON). NULL, the default: none. */
    const uint8_t *endorsements;
    size_t endorsements_len;
    /* Or per ticket, from its evidence (NULL, the default: none); when
     * set, the fixed endorsements are not used. */
    mk_tee_endorse_fn endorse;
    void *endorse_ctx;
    /* Lifetime of tickets, seconds (<= 0: MK_TEE_TICKET_DEFAULT_LIFETIME,
     * the default). */
    int64_t lifetime;
} mk_tee_attester_config;

MK_EXTERN void mk_tee_attester_config_init(mk_tee_attester_config *cfg);
/* An attester making tickets for the local TEE through cfg->provider. */
MK_EXTERN int mk_tee_attester_new(const mk_tee_attester_config *cfg, mk_tee_attester **out,
                                  mk_error *err);
MK_EXTERN void mk_tee_attester_free(mk_tee_attester *a);
/* Changing an attester in use (for the next tickets): the lifetime (<= 0:
 * the default), the fixed endorsements (NULL: none; copied). */
MK_EXTERN void mk_tee_attester_set_lifetime(mk_tee_attester *a, int64_t seconds);
MK_EXTERN int mk_tee_attester_set_endorsements(mk_tee_attester *a, const uint8_t *data, size_t len,
                                               mk_error *err);
/* Its provider (borrowed). */
MK_EXTERN mk_tee_provider *mk_tee_attester_provider(const mk_tee_attester *a);

/* A fresh ticket (quoted now, i.e. mk_now()) binding peer and network,
 * expiring after the lifetime / at `expiration` (MK_EXPIRES_NEVER allowed,
 * but validators with max_lifetime refuse it), of the provider's ticket
 * class. */
MK_EXTERN int mk_tee_attester_ticket(mk_tee_attester *a, const mk_id *peer_id,
                                     const mk_id *network_id, int64_t started_at, mk_ticket *out,
                                     mk_error *err);
MK_EXTERN int mk_tee_attester_ticket_with_expiration(mk_tee_attester *a, const mk_id *peer_id,
                                                     const mk_id *network_id, int64_t started_at,
                                                     mk_expiration expiration, mk_ticket *out,
                                                     mk_error *err);
/* Make a fresh ticket (default lifetime) and hand it to the sink. The
 * network layer calls it at start and again before the ticket expires;
 * *expires (may be NULL) receives the ticket's expiration. */
MK_EXTERN int mk_tee_attester_install_own_ticket(mk_tee_attester *a, const mk_id *peer_id,
                                                 const mk_id *network_id, int64_t started_at,
                                                 const mk_ticket_sink *sink, mk_expiration *expires,
                                                 mk_error *err);
/* The local TEE's measurements (through the provider). */
MK_EXTERN int mk_tee_attester_measurements(mk_tee_attester *a, mk_tee_measurements *out,
                                           mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
