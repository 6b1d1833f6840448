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

#ifdef __cplusplus
}
#endif
#endif
