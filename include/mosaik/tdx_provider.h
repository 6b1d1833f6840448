/*
 * mosaik/tdx_provider.h — where TDX quotes come from: the Linux guest
 * interfaces (configfs-tsm, /dev/tdx_guest, sysfs measurement registers)
 * and the TDX *simulator*, behind one provider interface.
 *
 * Providers
 *   configfs-tsm   /sys/kernel/config/tsm/report (Linux >= 6.7): a quote for
 *                  64 bytes of report data. Measurements through
 *                  /dev/tdx_guest or, failing that, from a fresh quote.
 *   tdx_guest      /dev/tdx_guest TDX_CMD_GET_REPORT0 ioctl: the local TD's
 *                  TDREPORT (measurements), no quote (mainline Linux has no
 *                  quote ioctl any more; quote() delegates to configfs-tsm
 *                  when that is present).
 *   auto           the first *real* provider that is available here. It never
 *                  falls back to the simulator.
 *   simulator      a software TD (mk_tdx_provider_sim_new): quotes signed by a
 *                  test PKI generated on this machine. Labelled everywhere:
 *                  its name contains "simulator", mk_tdx_provider_is_simulated
 *                  is true, its certificates' CNs contain "simulated", and no
 *                  verifier accepts its quotes unless told to trust its root
 *                  (mk_tdx_verifier_config.simulator_root_der). See
 *                  docs/tdx-simulator.md.
 *
 * RTMR extension (RTMR 2 and 3, the ones left to the TD's software) uses
 * /sys/devices/virtual/misc/tdx_guest/measurements/rtmrN:sha384 (Linux >=
 * 6.16); where the kernel lacks it the call fails with MK_EUNAVAILABLE.
 *
 * A TDX provider is an mk_tee_provider (mosaik/tee.h) of platform
 * MK_TEE_TDX: the generic functions (mk_tee_provider_evidence,
 * mk_tee_provider_measurements, an mk_tee_attester) take it as well, and
 * the functions here are the TDX-typed view of it (a quote, a TD report,
 * RTMRs). They refuse providers of another platform with MK_EINVAL.
 *
 * Thread safety: a provider may be used from several threads; configfs-tsm
 * requests are serialized process-wide.
 */
#ifndef MOSAIK_TDX_PROVIDER_H
#define MOSAIK_TDX_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/error.h"
#include "mosaik/export.h"
#include "mosaik/tdx.h"
#include "mosaik/tee.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MK_TDX_REPORT_DATA_LEN MK_TEE_REPORT_DATA_LEN
#define MK_TDX_TDREPORT_LEN 1024 /* TDREPORT_STRUCT from TDG.MR.REPORT */

/* Default kernel paths. */
#define MK_TDX_TSM_REPORT_DIR MK_TEE_TSM_REPORT_DIR
#define MK_TDX_GUEST_DEV "/dev/tdx_guest"
#define MK_TDX_MEASUREMENTS_DIR "/sys/devices/virtual/misc/tdx_guest/measurements"

/* ------------------------------------------------------------------ */
/* The provider interface                                              */
/* ------------------------------------------------------------------ */

typedef struct mk_tee_provider mk_tdx_provider;

/* A short human-readable name: "configfs-tsm", "tdx_guest",
 * "simulator (NOT real TDX)". Never NULL for a non-NULL p. */
MK_EXTERN const char *mk_tdx_provider_name(const mk_tdx_provider *p);

/* Whether the provider can produce quotes/reports on this machine right
 * now (the kernel interface exists and is usable). When false, err (may be
 * NULL) gets MK_EUNAVAILABLE and a reason naming the missing path. */
MK_EXTERN bool mk_tdx_provider_available(const mk_tdx_provider *p, mk_error *err);

/* Obtain a DCAP quote whose report_data is exactly `report_data`. The quote
 * replaces the contents of `quote` (at most MK_TDX_QUOTE_MAX bytes; the
 * kernel may pad it with trailing bytes). Errors: MK_EUNAVAILABLE (no such
 * interface), MK_EIO, MK_EBUSY (concurrent writers persisted through the
 * bounded retries), MK_ETIMEDOUT, MK_ETOOBIG, MK_EMISMATCH (the kernel's
 * "provider" is not tdx_guest). */
MK_EXTERN int mk_tdx_provider_quote(mk_tdx_provider *p,
                                    const uint8_t report_data[MK_TDX_REPORT_DATA_LEN],
                                    mk_buf *quote, mk_error *err);

/* The local TD's measurements and TCB fields (a TD report with the given
 * report_data; nothing is signed: this is local information only, not
 * evidence for a remote party). */
MK_EXTERN int mk_tdx_provider_report(mk_tdx_provider *p,
                                     const uint8_t report_data[MK_TDX_REPORT_DATA_LEN],
                                     mk_tdx_td_report *out, mk_error *err);

/* Extend RTMR `index` (2 or 3; 0 and 1 belong to firmware and kernel and
 * are refused with MK_EINVAL) with a 48-byte digest:
 * RTMR := SHA-384(RTMR || digest). MK_EUNAVAILABLE where the kernel offers
 * no extension interface. */
MK_EXTERN int mk_tdx_provider_extend_rtmr(mk_tdx_provider *p, int index,
                                          const uint8_t digest[MK_TDX_MR_LEN], mk_error *err);

/* True for the simulator (its quotes are not hardware evidence). */
MK_EXTERN bool mk_tdx_provider_is_simulated(const mk_tdx_provider *p);

/* Bound the time one quote request may wait for the kernel/host (default
 * 30000 ms for configfs-tsm). ms == 0 restores the default. */
MK_EXTERN void mk_tdx_provider_set_timeout_ms(mk_tdx_provider *p, uint32_t ms);

/* Free (NULL is a no-op). */
MK_EXTERN void mk_tdx_provider_free(mk_tdx_provider *p);

/* ------------------------------------------------------------------ */
/* Real providers                                                      */
/* ------------------------------------------------------------------ */

/* configfs-tsm. tsm_report_dir NULL = MK_TDX_TSM_REPORT_DIR. Construction
 * does not touch the file system (check with mk_tdx_provider_available).
 * Fails only when out of memory.
 *
 * A quote request: mkdir a uniquely named entry under the report dir, check
 * that `provider` reads "tdx_guest", read `generation`, write exactly 64
 * bytes to `inblob`, read `outblob` (capped at MK_TDX_QUOTE_MAX; polled while
 * empty, up to the timeout), read `generation` again and require that it
 * advanced by exactly one (else another writer touched the entry: retry);
 * EBUSY/EAGAIN are retried with exponential backoff; a bounded number of
 * attempts (5); the entry is removed at the end. */
MK_EXTERN int mk_tdx_provider_configfs_new(const char *tsm_report_dir, mk_tdx_provider **out,
                                           mk_error *err);

/* /dev/tdx_guest. dev NULL = MK_TDX_GUEST_DEV. Fails only when out of memory.
 * report() uses the TDX_CMD_GET_REPORT0 ioctl; quote() is delegated to
 * configfs-tsm at its default path (MK_EUNAVAILABLE if that is absent). */
MK_EXTERN int mk_tdx_provider_devtdx_new(const char *dev, mk_tdx_provider **out, mk_error *err);

/* Where RTMRs are read and extended (default MK_TDX_MEASUREMENTS_DIR; tests
 * point it at a temporary tree). Applies to the configfs and tdx_guest
 * providers; ignored by the simulator. dir is copied. */
MK_EXTERN int mk_tdx_provider_set_measurements_dir(mk_tdx_provider *p, const char *dir);

/* Read RTMR `index` (0..3) from the measurements dir (file "rtmrN:sha384":
 * 48 raw bytes, or 96 hex characters). MK_EUNAVAILABLE when absent. */
MK_EXTERN int mk_tdx_provider_read_rtmr(mk_tdx_provider *p, int index, uint8_t out[MK_TDX_MR_LEN],
                                        mk_error *err);

/* The first available real provider: configfs-tsm, then /dev/tdx_guest.
 * MK_EUNAVAILABLE (*out NULL) with a reason naming every path tried when
 * none is (as on any machine without TDX). Never chooses the simulator. */
MK_EXTERN int mk_tdx_provider_auto_new(mk_tdx_provider **out, mk_error *err);

/* ------------------------------------------------------------------ */
/* The simulator                                                       */
/* ------------------------------------------------------------------ */

/* A simulated TDX platform: a self-signed "mosaik simulated SGX Root CA"
 * (P-256), a "mosaik simulated PCK Platform CA" under it, a "mosaik
 * simulated SGX PCK Certificate" leaf carrying the SGX extension
 * (1.2.840.113741.1.13.1; FMSPC MK_TDX_SIM_FMSPC), a "mosaik simulated SGX
 * TCB Signing" certificate under the root (signs TCB info and QE identity),
 * a simulated quoting enclave (QE report signed by the PCK leaf key) and an
 * attestation key. Immutable after creation; thread-safe; reference
 * counted internally (providers keep it alive). */
typedef struct mk_tdx_sim mk_tdx_sim;

/* FMSPC of the simulated platform: "MKSIM\0", obviously not Intel's. */
#define MK_TDX_SIM_FMSPC "4D4B53494D00"

typedef struct mk_tdx_sim_config {
    /* Certificates are valid from now - 1 day for 10 years (0, the
     * default: mk_now() at creation). */
    int64_t now;
} mk_tdx_sim_config;

MK_EXTERN void mk_tdx_sim_config_init(mk_tdx_sim_config *cfg);

/* Generate a fresh simulator PKI (cfg NULL: the defaults). */
MK_EXTERN int mk_tdx_sim_new(const mk_tdx_sim_config *cfg, mk_tdx_sim **out, mk_error *err);
/* Persist all keys and certificates (PEM, one file, mode 0600, written
 * atomically) so that several processes share one simulator root. */
MK_EXTERN int mk_tdx_sim_save(const mk_tdx_sim *sim, const char *path, mk_error *err);
/* Load a file written by mk_tdx_sim_save (checks that the keys match the
 * certificates and the chain links up). */
MK_EXTERN int mk_tdx_sim_load(const char *path, mk_tdx_sim **out, mk_error *err);
/* Load `path` if it exists, else create a new simulator from cfg (NULL:
 * the defaults) and save it there (race-free between processes: the first
 * writer wins, others load it). */
MK_EXTERN int mk_tdx_sim_load_or_create(const char *path, const mk_tdx_sim_config *cfg,
                                        mk_tdx_sim **out, mk_error *err);
MK_EXTERN void mk_tdx_sim_free(mk_tdx_sim *sim);

/* The simulator root certificate (DER), for a verifier's
 * simulator_root_der (or mk_tdx_verifier_trust_simulator). *der points into
 * sim (valid while sim lives). */
MK_EXTERN void mk_tdx_sim_root_der(const mk_tdx_sim *sim, const uint8_t **der, size_t *len);
/* The PCK chain as embedded in quotes (PEM: leaf, PCK CA, root), NUL-free. */
MK_EXTERN void mk_tdx_sim_pck_chain_pem(const mk_tdx_sim *sim, const char **pem, size_t *len);

/* Collateral for the simulated platform in the dcap-qvl bundle format:
 * TCB info v3 (id TDX, FMSPC MK_TDX_SIM_FMSPC) with an UpToDate level for
 * the SVNs of mk_tdx_sim_td_default and an OutOfDate level below it,
 * tdxModule and tdxModuleIdentities TDX_01 (isvsvn 4 UpToDate, 2 OutOfDate),
 * QE identity v2 TD_QE, both signed (raw r||s hex) by the TCB signing key
 * over the exact text; empty PCK CRL (by the PCK CA) and root CA CRL (by the
 * root); every window [now - 1 h, now + 30 days]. */
MK_EXTERN int mk_tdx_sim_collateral_json(const mk_tdx_sim *sim, int64_t now, mk_buf *out,
                                         mk_error *err);
/* The same, parsed with mk_tdx_collateral_from_bundle. */
MK_EXTERN int mk_tdx_sim_collateral(const mk_tdx_sim *sim, int64_t now, mk_tdx_collateral **out,
                                    mk_error *err);

/* A simulated TD: the measurements and TCB values its quotes carry. */
typedef struct mk_tdx_sim_td {
    uint8_t mr_td[48];
    uint8_t rtmr[4][48];
    uint8_t mr_config_id[48], mr_owner[48], mr_owner_config[48];
    uint64_t td_attributes;
    uint64_t xfam;
    uint16_t quote_version;     /* 4 or 5 */
    mk_tdx_body_type body_type; /* TD10; TD15 needs quote_version 5 */
    uint8_t tee_tcb_svn[16];
    uint8_t tee_tcb_svn2[16];  /* TD 1.5 only */
    uint8_t mr_service_td[48]; /* TD 1.5 only */
} mk_tdx_sim_td;

/* Defaults: mr_td = SHA-384("mosaik simulated TD"), RTMRs and config ids
 * zero, attributes SEPT_VE_DISABLE, xfam 0x602e7, quote v4 with a TD 1.0
 * body, tee_tcb_svn = tee_tcb_svn2 = 06 01 03 00.. (the collateral's
 * UpToDate level, TDX module TDX_01). */
MK_EXTERN void mk_tdx_sim_td_default(mk_tdx_sim_td *td);

/* Build a complete, signed quote (v4, or v5 with a TD 1.0/1.5 body) for td
 * with the given report data. Replaces the contents of out. */
MK_EXTERN int mk_tdx_sim_quote(const mk_tdx_sim *sim, const mk_tdx_sim_td *td,
                               const uint8_t report_data[MK_TDX_REPORT_DATA_LEN], mk_buf *out,
                               mk_error *err);

/* The TD report (body) a quote for td would carry. */
MK_EXTERN void mk_tdx_sim_td_report(const mk_tdx_sim_td *td,
                                    const uint8_t report_data[MK_TDX_REPORT_DATA_LEN],
                                    mk_tdx_td_report *out);

/* Wrap a simulated TD as a provider (name "simulator (NOT real TDX)",
 * is_simulated true). td is copied (NULL: mk_tdx_sim_td_default); extend_rtmr
 * changes the copy. The provider holds a reference to sim. */
MK_EXTERN int mk_tdx_provider_sim_new(mk_tdx_sim *sim, const mk_tdx_sim_td *td,
                                      mk_tdx_provider **out, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
