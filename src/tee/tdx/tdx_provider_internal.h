/*
 * src/tee/tdx/tdx_provider_internal.h — the inside of the TDX providers
 * (mosaik/tdx_provider.h) on the shared provider interface
 * (tee/tee_internal.h, mk_tee_provider_ops), shared by
 *
 *   provider.c        the TDX-typed functions, construction, the "auto"
 *                     choice, the simulator as a provider;
 *   provider_linux.c  the Linux guest interfaces: configfs-tsm (the shared
 *                     core, tee/tsm.c), /dev/tdx_guest (TDREPORT) and
 *                     sysfs RTMRs;
 *   sim.c             the simulator's reference count.
 *
 * Each TDX provider kind is one mk_tdx_provider_ops: the shared table
 * first (name, platform MK_TEE_TDX, whether simulated, TDX's ticket
 * format, available, evidence = a quote, the measurement registers,
 * destroy), then TDX's own operations (the TD report for given report
 * data, reading and extending RTMRs). Every TDX table has the same destroy
 * and measurements functions; mk_tdx_provider_ops_of recognises a TDX
 * provider by its destroy function, so the TDX-typed functions never
 * misread another platform's provider. A provider's reasons name it or its
 * interface ("configfs-tsm: ...", "tdx_guest: ...", "TDREPORT: ...",
 * "simulator quote: ..."), so callers need not repeat the provider's name.
 *
 * Not installed; not part of the public API.
 */
#ifndef MOSAIK_TDX_PROVIDER_INTERNAL_H
#define MOSAIK_TDX_PROVIDER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mosaik/tdx_provider.h"
#include "tee/tee_internal.h"

/* One TDX provider kind. The TDX operations' arguments are already
 * checked: p, rd, out and digest are non-NULL; read_rtmr gets index 0..3,
 * extend_rtmr only 2 or 3. */
typedef struct mk_tdx_provider_ops {
    mk_tee_provider_ops tee; /* first: what the shared layer sees */
    /* Local measurements: the TD report for rd, and the RTMRs. */
    int (*report)(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN],
                  mk_tdx_td_report *out, mk_error *err);
    int (*read_rtmr)(mk_tdx_provider *p, int index, uint8_t out[MK_TDX_MR_LEN], mk_error *err);
    int (*extend_rtmr)(mk_tdx_provider *p, int index, const uint8_t digest[MK_TDX_MR_LEN],
                       mk_error *err);
} mk_tdx_provider_ops;

/* The state of every TDX provider kind (mk_tee_provider.state). */
typedef struct mk_tdx_provider_state {
    char *path;       /* report dir (configfs-tsm) or device (tdx_guest) */
    char *meas_dir;   /* sysfs measurements dir; guarded by lock */
    mk_tdx_sim *sim;  /* simulator: a reference */
    mk_tdx_sim_td td; /* simulator: guarded by lock */
    pthread_mutex_t lock;
} mk_tdx_provider_state;

/* provider_linux.c */
extern const mk_tdx_provider_ops mk_tdx_provider_configfs_ops;
extern const mk_tdx_provider_ops mk_tdx_provider_devtdx_ops;
/* Parse a 1024-byte TDREPORT_STRUCT (as returned by TDX_CMD_GET_REPORT0)
 * into the report fields; TDX 1.5 fields (tee_tcb_svn2, mr_service_td) are
 * filled when the report type's version says TDX 1.5. */
int mk_tdx_tdreport_parse(const uint8_t *buf, size_t len, mk_tdx_td_report *out, mk_error *err);

/* provider.c: a provider of the given kind (path copied; may be NULL). */
mk_tdx_provider *mk_tdx_provider_alloc(const mk_tdx_provider_ops *ops, const char *path);
/* The shared table's destroy and measurements of every TDX kind. */
void mk_tdx_provider_destroy(mk_tee_provider *p);
int mk_tdx_provider_measurements(mk_tee_provider *p, mk_tee_measurements *out, mk_error *err);
/* p's TDX table, or NULL when p is not a TDX provider. */
const mk_tdx_provider_ops *mk_tdx_provider_ops_of(const mk_tdx_provider *p);

static inline mk_tdx_provider_state *mk_tdx_state(const mk_tdx_provider *p) {
    return (mk_tdx_provider_state *)p->state;
}

/* sim.c: take a reference to sim (released by mk_tdx_sim_free). Returns sim. */
mk_tdx_sim *mk_tdx_sim_ref(mk_tdx_sim *sim);

#endif
