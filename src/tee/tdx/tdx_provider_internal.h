/*
 * src/tee/tdx/tdx_provider_internal.h — the inside of the TDX provider
 * interface (mosaik/tdx_provider.h), shared by
 *
 *   provider.c        the interface: construction, settings, dispatch, the
 *                     "auto" choice, and the simulator as a provider;
 *   provider_linux.c  the Linux guest interfaces: configfs-tsm,
 *                     /dev/tdx_guest (TDREPORT) and sysfs RTMRs;
 *   sim.c             the simulator's reference count.
 *
 * Each provider kind is one table (mk_tdx_provider_ops): its name and
 * whether it is simulated (constants of the kind), and the operations:
 * whether it is usable here, a quote for 64 bytes of report data, and the
 * local measurements (the TD report for given report data, reading and
 * extending RTMRs). The public functions check
 * their arguments and then call the provider's table; nothing switches on
 * a kind. A provider's reasons name it or its interface ("configfs-tsm:
 * ...", "tdx_guest: ...", "TDREPORT: ...", "simulator quote: ..."), so
 * callers need not repeat the provider's name. A platform-neutral TEE layer can build on the same
 * shape with one table per platform.
 *
 * Not installed; not part of the public API.
 */
#ifndef MOSAIK_TDX_PROVIDER_INTERNAL_H
#define MOSAIK_TDX_PROVIDER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mosaik/tdx_provider.h"

/* One provider kind. The operations' arguments are already checked:
 * p, rd, out and digest are non-NULL; read_rtmr gets index 0..3,
 * extend_rtmr only 2 or 3. */
typedef struct mk_tdx_provider_ops {
    const char *name;  /* mk_tdx_provider_name */
    bool is_simulated; /* mk_tdx_provider_is_simulated */
    bool (*available)(const mk_tdx_provider *p, mk_error *err);
    /* A quote whose report data is rd. */
    int (*quote)(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN], mk_buf *quote,
                 mk_error *err);
    /* Local measurements: the TD report for rd, and the RTMRs. */
    int (*report)(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN],
                  mk_tdx_td_report *out, mk_error *err);
    int (*read_rtmr)(mk_tdx_provider *p, int index, uint8_t out[MK_TDX_MR_LEN], mk_error *err);
    int (*extend_rtmr)(mk_tdx_provider *p, int index, const uint8_t digest[MK_TDX_MR_LEN],
                       mk_error *err);
} mk_tdx_provider_ops;

struct mk_tdx_provider {
    const mk_tdx_provider_ops *ops;
    char *path;     /* report dir (configfs-tsm) or device (tdx_guest) */
    char *meas_dir; /* sysfs measurements dir; guarded by lock */
    atomic_uint timeout_ms;
    mk_tdx_sim *sim;  /* simulator: a reference */
    mk_tdx_sim_td td; /* simulator: guarded by lock */
    pthread_mutex_t lock;
};

/* provider_linux.c */
extern const mk_tdx_provider_ops mk_tdx_provider_configfs_ops;
extern const mk_tdx_provider_ops mk_tdx_provider_devtdx_ops;
/* Parse a 1024-byte TDREPORT_STRUCT (as returned by TDX_CMD_GET_REPORT0)
 * into the report fields; TDX 1.5 fields (tee_tcb_svn2, mr_service_td) are
 * filled when the report type's version says TDX 1.5. */
int mk_tdx_tdreport_parse(const uint8_t *buf, size_t len, mk_tdx_td_report *out, mk_error *err);

/* provider.c: a provider of the given kind (path copied; may be NULL). */
mk_tdx_provider *mk_tdx_provider_alloc(const mk_tdx_provider_ops *ops, const char *path);

/* sim.c: take a reference to sim (released by mk_tdx_sim_free). Returns sim. */
mk_tdx_sim *mk_tdx_sim_ref(mk_tdx_sim *sim);

#endif
