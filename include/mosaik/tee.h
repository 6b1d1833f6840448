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

#ifdef __cplusplus
}
#endif
#endif
