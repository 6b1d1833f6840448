/*
 * mosaik/tdx_ticket.h — TDX attestation tickets, the TDX validator and the
 * node-facing attester (docs/tdx-tickets.md).
 *
 * A TDX ticket is a quote whose report data binds the ticket's *extra data*
 * {peer id, network id, started_at, quoted_at, expiration} (the shared
 * envelope of mosaik/tee.h, docs/tee.md):
 *
 *   report_data = SHA-512( u32be(len(D)) || D || peer_id[32] || network_id[32]
 *                          || i64be(started_at) || i64be(quoted_at)
 *                          || i64be(expiration) )
 *   with D = "mosaik.tdx.ticket.report-data.v1" (MK_TDX_REPORT_DATA_DOMAIN).
 *
 * The ticket optionally carries the collateral the attester used (the
 * bundle JSON of mk_tdx_collateral_to_bundle), so a verifier needs no PCS
 * access; every signature and validity window of it is still checked.
 *
 * Wire form (the data of an mk_ticket of class MK_TDX_TICKET_CLASS_NAME):
 * one zstd frame whose content is canonical CBOR — a definite-length map
 * with unsigned integer keys in increasing order, minimal integer
 * encodings, definite byte strings:
 *   0: version (1)            1: peer id (bstr 32)   2: network id (bstr 32)
 *   3: started_at (int)       4: quoted_at (int)     5: expiration (int,
 *   INT64_MAX = never)        6: quote (bstr)        7: collateral bundle
 *   JSON (bstr, optional).
 * Decoding refuses anything else: non-canonical CBOR, unknown versions or
 * keys, trailing bytes, frames that decompress beyond
 * MK_TDX_TICKET_MAX_DECOMPRESSED, times outside [0, MK_TDX_TIME_MAX]
 * (expiration may be INT64_MAX), an expiration before quoted_at.
 */
#ifndef MOSAIK_TDX_TICKET_H
#define MOSAIK_TDX_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/error.h"
#include "mosaik/export.h"
#include "mosaik/id.h"
#include "mosaik/tdx.h"
#include "mosaik/tee.h"
#include "mosaik/tdx_provider.h"
#include "mosaik/ticket.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* The ticket                                                          */
/* ------------------------------------------------------------------ */

/* Ticket class: mk_id_from_name(MK_TDX_TICKET_CLASS_NAME). */
#define MK_TDX_TICKET_CLASS_NAME "mosaik.ticket.tdx.v1"
#define MK_TDX_REPORT_DATA_DOMAIN "mosaik.tdx.ticket.report-data.v1"
#define MK_TDX_TICKET_VERSION 1
/* Hard caps: the compressed ticket is an mk_ticket's data (64 KiB), the
 * decompressed CBOR at most 128 KiB (the shared envelope's caps). */
#define MK_TDX_TICKET_MAX_COMPRESSED MK_TICKET_MAX_DATA
#define MK_TDX_TICKET_MAX_DECOMPRESSED MK_TEE_TICKET_MAX_DECOMPRESSED
/* Default lifetime of a ticket made by an attester. */
#define MK_TDX_TICKET_DEFAULT_LIFETIME MK_TEE_TICKET_DEFAULT_LIFETIME
/* Largest ticket time accepted by the decoder: 9999-12-31T23:59:59Z. */
#define MK_TDX_TIME_MAX MK_TEE_TIME_MAX

/* The extra data (the shared layer's). */
typedef mk_tee_extra_data mk_tdx_extra_data;

/* The report data binding x: SHA-512 of the preimage above. */
MK_EXTERN void mk_tdx_report_data(const mk_tdx_extra_data *x, uint8_t out[64]);

typedef struct mk_tdx_ticket {
    mk_tdx_extra_data extra;
    uint8_t *quote; /* owned */
    size_t quote_len;
    char *collateral; /* owned bundle JSON (NUL-terminated), NULL when absent */
    size_t collateral_len;
} mk_tdx_ticket;

/* Build a ticket from copies of the quote and the (optional) bundle JSON. */
MK_EXTERN int mk_tdx_ticket_init(mk_tdx_ticket *t, const mk_tdx_extra_data *x, const uint8_t *quote,
                                 size_t quote_len, const char *collateral, size_t collateral_len,
                                 mk_error *err);
MK_EXTERN void mk_tdx_ticket_free(mk_tdx_ticket *t);

/* The wire form (zstd of the canonical CBOR; the same ticket always gives
 * the same bytes), and decoding it: on failure *t is zeroed and nothing is
 * allocated. */
MK_EXTERN int mk_tdx_ticket_encode(const mk_tdx_ticket *t, mk_buf *out, mk_error *err);
MK_EXTERN int mk_tdx_ticket_decode(const uint8_t *data, size_t len, mk_tdx_ticket *t,
                                   mk_error *err);

/* The ticket class id, and conversions to / from the generic ticket. */
MK_EXTERN void mk_tdx_ticket_class(mk_id *out);
MK_EXTERN int mk_tdx_ticket_to_generic(const mk_tdx_ticket *t, mk_ticket *out, mk_error *err);
MK_EXTERN int mk_tdx_ticket_from_generic(const mk_ticket *in, mk_tdx_ticket *t, mk_error *err);

/* Parse the embedded collateral (MK_ENOTFOUND when the ticket has none). */
MK_EXTERN int mk_tdx_ticket_collateral(const mk_tdx_ticket *t, mk_tdx_collateral **out,
                                       mk_error *err);
/* Check that the quote's report data is the hash of the extra data
 * (structure only: no signature is verified here). */
MK_EXTERN int mk_tdx_ticket_check_binding(const mk_tdx_ticket *t, mk_error *err);

/* ------------------------------------------------------------------ */
/* Measurement criteria                                                */
/* ------------------------------------------------------------------ */

#define MK_TDX_REQ_MRTD (1u << 0)
#define MK_TDX_REQ_RTMR0 (1u << 1)
#define MK_TDX_REQ_RTMR1 (1u << 2)
#define MK_TDX_REQ_RTMR2 (1u << 3)
#define MK_TDX_REQ_RTMR3 (1u << 4)
#define MK_TDX_REQ_RTMR(i) (1u << (1u + (unsigned)(i)))
#define MK_TDX_REQ_ALL 0x1fu

/* Which registers must equal which values (unset registers are free). */
typedef struct mk_tdx_criteria {
    unsigned mask; /* MK_TDX_REQ_* */
    uint8_t mrtd[48];
    uint8_t rtmr[4][48];
} mk_tdx_criteria;

MK_EXTERN void mk_tdx_criteria_init(mk_tdx_criteria *c);
MK_EXTERN void mk_tdx_criteria_require_mrtd(mk_tdx_criteria *c, const uint8_t v[48]);
MK_EXTERN void mk_tdx_criteria_require_rtmr(mk_tdx_criteria *c, unsigned idx, const uint8_t v[48]);
/* 96 hex digits, optional 0x. */
MK_EXTERN int mk_tdx_criteria_require_mrtd_hex(mk_tdx_criteria *c, const char *hex, mk_error *err);
MK_EXTERN int mk_tdx_criteria_require_rtmr_hex(mk_tdx_criteria *c, unsigned idx, const char *hex,
                                               mk_error *err);
/* Every register named in `mask` taken from a TD report. */
MK_EXTERN void mk_tdx_criteria_from_report(mk_tdx_criteria *c, const mk_tdx_td_report *r,
                                           unsigned mask);
/* 0 if r satisfies c; else MK_EMISMATCH with "MRTD mismatch: want ab12…, got cd34…". */
MK_EXTERN int mk_tdx_criteria_match(const mk_tdx_criteria *c, const mk_tdx_td_report *r,
                                    mk_error *err);

/* ------------------------------------------------------------------ */
/* The validator                                                       */
/* ------------------------------------------------------------------ */

/* Validator configuration (a builder; the validator copies it). */
typedef struct mk_tdx_validator_opts mk_tdx_validator_opts;

MK_EXTERN mk_tdx_validator_opts *mk_tdx_validator_opts_new(void);
MK_EXTERN void mk_tdx_validator_opts_free(mk_tdx_validator_opts *o);
/* The baseline every ticket must satisfy (mutable; initially empty). */
MK_EXTERN mk_tdx_criteria *mk_tdx_validator_opts_baseline(mk_tdx_validator_opts *o);
/* Add a variant: when any are configured, at least one must match. A
 * variant must pin at least one register (else MK_EINVAL: it would match
 * every TD). */
MK_EXTERN int mk_tdx_validator_opts_add_variant(mk_tdx_validator_opts *o, const mk_tdx_criteria *c);
/* Require the registers in `mask` to equal the local TD's (read through
 * provider's report): require_own_mrtd is mask MK_TDX_REQ_MRTD, etc.
 * from_local is mask MK_TDX_REQ_ALL. Added to the baseline. */
MK_EXTERN int mk_tdx_validator_opts_require_own(mk_tdx_validator_opts *o, mk_tdx_provider *p,
                                                unsigned mask, mk_error *err);
MK_EXTERN int mk_tdx_validator_opts_from_local(mk_tdx_validator_opts *o, mk_tdx_provider *p,
                                               mk_error *err);
MK_EXTERN int mk_tdx_validator_opts_require_own_mrtd(mk_tdx_validator_opts *o, mk_tdx_provider *p,
                                                     mk_error *err);
MK_EXTERN int mk_tdx_validator_opts_require_own_rtmr(mk_tdx_validator_opts *o, mk_tdx_provider *p,
                                                     unsigned idx, mk_error *err);
/* Freshness: refuse tickets with now - quoted_at > max_age, quoted_at <
 * not_before, or expiration - quoted_at > max_lifetime (so a never-expiring
 * ticket is refused when max_lifetime is set). 0 / INT64_MIN disable. */
MK_EXTERN void mk_tdx_validator_opts_max_age(mk_tdx_validator_opts *o, int64_t seconds);
MK_EXTERN void mk_tdx_validator_opts_not_before(mk_tdx_validator_opts *o, int64_t t);
MK_EXTERN void mk_tdx_validator_opts_max_lifetime(mk_tdx_validator_opts *o, int64_t seconds);
/* The quote policy (default: mk_tdx_policy_default). */
MK_EXTERN void mk_tdx_validator_opts_policy(mk_tdx_validator_opts *o, const mk_tdx_policy *p);
/* Trust a simulator root (DER). Never done by default. */
MK_EXTERN int mk_tdx_validator_opts_trust_simulator(mk_tdx_validator_opts *o,
                                                    const uint8_t *root_der, size_t len,
                                                    mk_error *err);
/* Collateral sources. The operator's come first: a static bundle if set,
 * else a fetcher (PCS/PCCS) if set; the ticket's own bundle (default
 * allowed) only when neither is configured, so a peer can never replace the
 * operator's fresher collateral with an older bundle. With none available
 * the policy must allow chain_only. opts_fetch refuses a NULL base_url
 * (MK_EINVAL). A failing setter leaves the previous setting in place. */
MK_EXTERN void mk_tdx_validator_opts_collateral_from_ticket(mk_tdx_validator_opts *o, bool allow);
MK_EXTERN int mk_tdx_validator_opts_static_collateral(mk_tdx_validator_opts *o,
                                                      const mk_tdx_collateral *c, mk_error *err);
MK_EXTERN int mk_tdx_validator_opts_fetch(mk_tdx_validator_opts *o, const mk_tdx_fetch_opts *f,
                                          mk_error *err);

/* A validator of class MK_TDX_TICKET_CLASS_NAME. Its signature is
 * mk_id_derive(mk_id_from_name("mosaik.validator.tdx.v1"), canonical
 * configuration): criteria, variants (sorted, deduplicated), freshness
 * limits, every policy field (collateral freshness limits appended only
 * when set), the SHA-256 of the trusted simulator root. The collateral
 * source is deliberately not part of it (see docs/tdx-tickets.md,
 * "signature()"). */
MK_EXTERN mk_validator *mk_tdx_validator_new(const mk_tdx_validator_opts *o, mk_error *err);

/* Validate and also return the decoded ticket's verification result
 * (the CLI and tests use it; res may be NULL). */
MK_EXTERN int mk_tdx_validator_validate_ex(const mk_validator *v, const uint8_t *data, size_t len,
                                           const mk_peer_view *peer, int64_t now,
                                           mk_expiration *expires, mk_tdx_result *res,
                                           mk_error *err);

/* ------------------------------------------------------------------ */
/* Describing a ticket (the operator's view)                           */
/* ------------------------------------------------------------------ */

#define MK_TDX_INFO_REASON_MAX 255

/* What a peer's TDX ticket shows, for a status page. Without a validator
 * nothing is verified: the measurements are what the quote claims. With a
 * TDX validator the quote's chain and collateral are checked (quote_ok:
 * then the measurements, tcb_status and simulated are verified facts) and
 * then the whole ticket (verdict: 0 admitted, until valid_until; else the
 * validator's reason, e.g. "tdx: MRTD mismatch: ..."). */
typedef struct mk_tdx_ticket_info {
    mk_tdx_extra_data extra;      /* peer, network, started, quoted, expiration (as claimed) */
    mk_tdx_td_report report;      /* MRTD, RTMR0..3, ... from the quote */
    bool has_collateral;          /* the ticket embeds its collateral */
    bool checked;                 /* judged by a TDX validator */
    bool quote_ok;                /* checked: the quote verified (chain, signatures, TCB) */
    mk_tdx_tcb_status tcb_status; /* quote_ok: its TCB status (UNKNOWN without collateral) */
    bool simulated;               /* quote_ok: the chain ends in a trusted simulator root */
    int verdict;                  /* checked: 0, or the validator's MK_E* */
    mk_expiration valid_until;    /* checked and admitted: the admission's end */
    char reason[MK_TDX_INFO_REASON_MAX + 1]; /* checked and refused: why */
} mk_tdx_ticket_info;

/* Describe t (a ticket of the TDX class) for a peer (v and peer may be
 * NULL: nothing is checked). 0, or MK_EINVAL / MK_EMALFORMED when t is not
 * a decodable TDX ticket (err says why). */
MK_EXTERN int mk_tdx_ticket_describe(const mk_ticket *t, const mk_validator *v,
                                     const mk_peer_view *peer, int64_t now, mk_tdx_ticket_info *out,
                                     mk_error *err);

/* ------------------------------------------------------------------ */
/* The attester (node-facing)                                          */
/* ------------------------------------------------------------------ */

/* The shared attester (mosaik/tee.h) over a TDX provider, with the
 * collateral bundle as the endorsements of its tickets. */
typedef struct mk_tee_attester mk_tdx_attester;

typedef struct mk_tdx_attester_config {
    /* Where quotes and measurements come from (required; borrowed: it must
     * outlive the attester). */
    mk_tdx_provider *provider;
    /* Collateral whose bundle is copied into every ticket, so verifiers
     * need no PCS access (NULL, the default: embed none). */
    const mk_tdx_collateral *collateral;
    /* Lifetime of tickets from mk_tdx_attester_ticket, seconds (<= 0:
     * MK_TDX_TICKET_DEFAULT_LIFETIME, the default). */
    int64_t lifetime;
} mk_tdx_attester_config;

MK_EXTERN void mk_tdx_attester_config_init(mk_tdx_attester_config *cfg);

/* An attester making tickets for the local TD through cfg->provider. */
MK_EXTERN int mk_tdx_attester_new(const mk_tdx_attester_config *cfg, mk_tdx_attester **out,
                                  mk_error *err);
MK_EXTERN void mk_tdx_attester_free(mk_tdx_attester *a);
/* Changing an attester in use: the lifetime of the next tickets (<= 0: the
 * default), the embedded collateral (NULL: embed none). */
MK_EXTERN void mk_tdx_attester_set_lifetime(mk_tdx_attester *a, int64_t seconds);
MK_EXTERN int mk_tdx_attester_set_collateral(mk_tdx_attester *a, const mk_tdx_collateral *embed,
                                             mk_error *err);

/* A fresh ticket (quoted now, i.e. mk_now()) binding peer and network,
 * expiring after the lifetime / at `expiration` (MK_EXPIRES_NEVER allowed,
 * but validators with max_lifetime refuse it). */
MK_EXTERN int mk_tdx_attester_ticket(mk_tdx_attester *a, const mk_id *peer_id,
                                     const mk_id *network_id, int64_t started_at, mk_ticket *out,
                                     mk_error *err);
MK_EXTERN int mk_tdx_attester_ticket_with_expiration(mk_tdx_attester *a, const mk_id *peer_id,
                                                     const mk_id *network_id, int64_t started_at,
                                                     mk_expiration expiration, mk_ticket *out,
                                                     mk_error *err);

/* The local TD's measurements (via the provider's report; local knowledge,
 * not evidence). */
MK_EXTERN int mk_tdx_attester_measurements(mk_tdx_attester *a, mk_tdx_td_report *out,
                                           mk_error *err);
MK_EXTERN int mk_tdx_attester_mrtd(mk_tdx_attester *a, uint8_t out[48], mk_error *err);
MK_EXTERN int mk_tdx_attester_rtmr(mk_tdx_attester *a, unsigned idx, uint8_t out[48],
                                   mk_error *err);
MK_EXTERN int mk_tdx_attester_rtmr0(mk_tdx_attester *a, uint8_t out[48], mk_error *err);
MK_EXTERN int mk_tdx_attester_rtmr1(mk_tdx_attester *a, uint8_t out[48], mk_error *err);
MK_EXTERN int mk_tdx_attester_rtmr2(mk_tdx_attester *a, uint8_t out[48], mk_error *err);
MK_EXTERN int mk_tdx_attester_rtmr3(mk_tdx_attester *a, uint8_t out[48], mk_error *err);

/* Make a fresh ticket (default lifetime) and hand it to the sink. The
 * network layer calls it at start and again before the ticket expires;
 * *expires (may be NULL) receives the ticket's expiration. */
MK_EXTERN int mk_tdx_attester_install_own_ticket(mk_tdx_attester *a, const mk_id *peer_id,
                                                 const mk_id *network_id, int64_t started_at,
                                                 const mk_ticket_sink *sink, mk_expiration *expires,
                                                 mk_error *err);

/* ------------------------------------------------------------------ */
/* Specs (declarations and configurations, mosaik/ticket.h)            */
/* ------------------------------------------------------------------ */

/* A TDX validator described by value: the validator is made from opts
 * (NULL: the defaults of mk_tdx_validator_opts_new) with these fields
 * applied over it. Everything is read during the factory call only and
 * copied, so opts may be freed, and the spec may be a compound literal,
 * once the object made from it exists. A field left zero keeps opts'
 * setting. */
typedef struct mk_tdx_spec {
    const mk_tdx_validator_opts *opts;
    /* Required registers, 96 hex digits (optional 0x); each replaces the
     * base's baseline value of that register. */
    const char *mrtd;
    const char *rtmr[4];
    /* Trust this simulator root (DER), instead of the base's. */
    const uint8_t *sim_root;
    size_t sim_root_len;
    /* Freshness limits in seconds (mk_tdx_validator_opts_max_age, _max_lifetime). */
    int64_t max_age, max_lifetime;
} mk_tdx_spec;

/* The TDX factory (mk_validator_factory): arg is a const mk_tdx_spec *.
 * A malformed register is MK_EINVAL naming it ("tdx spec: mrtd: …"). */
MK_EXTERN mk_validator *mk_tdx_spec_factory(const void *arg, mk_error *err);

/* A spec (mk_validator_spec) of a TDX validator, e.g. in MK_VALIDATORS:
 *   MK_TDX(.mrtd = "4f3c…")                      a constant, in a declaration
 *   MK_TDX(.opts = o, .mrtd = hex, .max_age = 600)   per instance */
#define MK_TDX(...)                                                                                \
    {                                                                                              \
        mk_tdx_spec_factory, &(const mk_tdx_spec) {                                                \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

#ifdef __cplusplus
}
#endif
#endif
