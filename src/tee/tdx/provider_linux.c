/*
 * tee/tdx/provider_linux.c — the TDX guest interfaces of Linux as quote
 * providers: configfs-tsm, /dev/tdx_guest and the sysfs measurement
 * registers (the provider interface is provider.c).
 *
 * configfs-tsm: one report request of the shared core (tee/tsm.c: a fresh
 * entry, the provider attribute must read "tdx_guest", the generation race
 * check, bounded retries, serialized process-wide) with the 64 bytes of
 * report data as inblob and the quote as outblob (capped at
 * MK_TDX_QUOTE_MAX); TDX has no auxblob and no privlevel. Its local
 * measurements come from /dev/tdx_guest when present, else from the body
 * of a fresh quote.
 *
 * /dev/tdx_guest: the 1088-byte struct {reportdata[64]; tdreport[1024]} is
 * exchanged with TDX_CMD_GET_REPORT0 = _IOWR('T', 1, struct) = 0xC4405401;
 * the TDREPORT is parsed through mk_reader (its offsets are listed in
 * docs/tdx-simulator.md: REPORTMACSTRUCT [0, 256) with the report data at
 * 128, TEE_TCB_INFO [256, 512), TDINFO [512, 1024)). Mainline Linux has no
 * quote ioctl: a quote from this provider goes through configfs-tsm.
 *
 * RTMRs: <measurements dir>/rtmrN:sha384 (Linux >= 6.16, tsm-mr): reading
 * gives the register (48 raw bytes, or 96 hex digits), writing 48 bytes at
 * offset 0 extends it (attribute files: tee/attr.c).
 *
 * Invariants: no provider here ever falls back to the simulator; every size
 * read from the kernel is capped; a failed request leaves no entry behind
 * (best effort) and changes no caller-visible output.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "tee/tdx/tdx_internal.h"
#include "tee/tdx/tdx_provider_internal.h"

struct tdx_report_req {
    uint8_t reportdata[MK_TDX_REPORT_DATA_LEN];
    uint8_t tdreport[MK_TDX_TDREPORT_LEN];
};
#define MK_TDX_CMD_GET_REPORT0 _IOWR('T', 1, struct tdx_report_req)
_Static_assert(sizeof(struct tdx_report_req) == 1088, "tdx_report_req layout");
_Static_assert(MK_TDX_CMD_GET_REPORT0 == 0xC4405401u, "TDX_CMD_GET_REPORT0 value");

/* A quote for rd from the configfs-tsm report dir `dir` (NULL: the
 * default), replacing *quote. */
static int configfs_quote(const mk_tdx_provider *p, const char *dir, const uint8_t rd[64],
                          mk_buf *quote, mk_error *err) {
    const mk_tee_tsm_request r = {
        .dir = dir,
        .provider = "tdx_guest",
        .guest = "TDX guest",
        .what = "quote",
        .inblob = rd,
        .inblob_len = MK_TDX_REPORT_DATA_LEN,
        .privlevel = -1,
        .outblob_max = MK_TDX_QUOTE_MAX,
        .timeout_ms = mk_tee_provider_timeout_ms(p),
    };
    return mk_tee_tsm_report(&r, quote, NULL, err);
}

/* ---------------------------------------------------------------- */
/* /dev/tdx_guest and the TDREPORT                                   */
/* ---------------------------------------------------------------- */

int mk_tdx_tdreport_parse(const uint8_t *buf, size_t len, mk_tdx_td_report *out, mk_error *err) {
    if (!buf || !out) return mk_error_set(err, MK_EINVAL, "TDREPORT: NULL argument");
    if (len != MK_TDX_TDREPORT_LEN)
        return mk_error_set(err, MK_EMALFORMED, "TDREPORT: %zu bytes, want %d", len,
                            MK_TDX_TDREPORT_LEN);
    mk_reader r;
    mk_reader_init(&r, buf, len);
    mk_tdx_td_report rep;
    memset(&rep, 0, sizeof rep);
    uint8_t type, subtype, version;
    /* REPORTMACSTRUCT [0, 256) */
    MK_TRY(mk_read_u8(&r, &type));
    MK_TRY(mk_read_u8(&r, &subtype));
    MK_TRY(mk_read_u8(&r, &version));
    if (type != MK_TDX_TEE_TYPE)
        return mk_error_set(err, MK_EMALFORMED, "TDREPORT: type 0x%02x is not TDX (0x81)", type);
    MK_TRY(mk_read_skip(&r, 128 - 3));
    MK_TRY(mk_read_bytes(&r, rep.report_data, 64));
    MK_TRY(mk_read_skip(&r, 256 - 192));
    /* TEE_TCB_INFO [256, 512) */
    MK_TRY(mk_read_skip(&r, 8)); /* valid */
    MK_TRY(mk_read_bytes(&r, rep.tee_tcb_svn, 16));
    MK_TRY(mk_read_bytes(&r, rep.mr_seam, 48));
    MK_TRY(mk_read_bytes(&r, rep.mr_signer_seam, 48));
    MK_TRY(mk_read_u64le(&r, &rep.seam_attributes));
    uint8_t svn2[16];
    MK_TRY(mk_read_bytes(&r, svn2, 16));
    MK_TRY(mk_read_skip(&r, 512 - 400));
    /* TDINFO [512, 1024) */
    MK_TRY(mk_read_u64le(&r, &rep.td_attributes));
    MK_TRY(mk_read_u64le(&r, &rep.xfam));
    MK_TRY(mk_read_bytes(&r, rep.mr_td, 48));
    MK_TRY(mk_read_bytes(&r, rep.mr_config_id, 48));
    MK_TRY(mk_read_bytes(&r, rep.mr_owner, 48));
    MK_TRY(mk_read_bytes(&r, rep.mr_owner_config, 48));
    MK_TRY(mk_read_bytes(&r, rep.rtmr, sizeof rep.rtmr));
    uint8_t servtd[48];
    MK_TRY(mk_read_bytes(&r, servtd, 48));
    if (version >= 1) { /* TDX 1.5 report */
        memcpy(rep.tee_tcb_svn2, svn2, 16);
        memcpy(rep.mr_service_td, servtd, 48);
    }
    (void)subtype;
    *out = rep;
    return 0;
}

static int devtdx_open(const char *dev, mk_error *err) {
    int fd = open(dev, O_RDWR | O_CLOEXEC);
    if (fd >= 0) return fd;
    int e = errno;
    if (e == ENOENT || e == ENXIO || e == ENODEV)
        return mk_error_set(err, MK_EUNAVAILABLE,
                            "tdx_guest: %s not present (not a TDX guest, or no tdx_guest driver)",
                            dev);
    return mk_error_set(err, MK_EIO, "tdx_guest: open %s: %s", dev, strerror(e));
}

static int devtdx_report(const char *dev, const uint8_t rd[64], mk_tdx_td_report *out,
                         mk_error *err) {
    int fd = devtdx_open(dev, err);
    if (fd < 0) return fd;
    struct tdx_report_req *req = calloc(1, sizeof *req);
    if (!req) {
        close(fd);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    memcpy(req->reportdata, rd, 64);
    int rc;
    int ir;
    do {
        ir = ioctl(fd, MK_TDX_CMD_GET_REPORT0, req);
    } while (ir < 0 && errno == EINTR);
    if (ir < 0) {
        int e = errno;
        rc = mk_error_set(err, mk_tee_errno_transient(e) ? MK_EBUSY : MK_EIO,
                          "tdx_guest: TDX_CMD_GET_REPORT0 on %s: %s", dev, strerror(e));
    } else {
        mk_tdx_td_report rep;
        rc = mk_tdx_tdreport_parse(req->tdreport, sizeof req->tdreport, &rep, err);
        if (rc == 0 && memcmp(rep.report_data, rd, 64) != 0)
            rc = mk_error_set(err, MK_EMISMATCH,
                              "tdx_guest: TDREPORT carries different report data");
        if (rc == 0) *out = rep;
    }
    mk_wipe(req, sizeof *req);
    free(req);
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------- */
/* RTMRs through sysfs                                               */
/* ---------------------------------------------------------------- */

static int rtmr_path(mk_tdx_provider *p, int index, char *out, size_t outsz) {
    mk_tdx_provider_state *s = mk_tdx_state(p);
    pthread_mutex_lock(&s->lock);
    int n = snprintf(out, outsz, "%s/rtmr%d:sha384", s->meas_dir, index);
    pthread_mutex_unlock(&s->lock);
    return (n < 0 || (size_t)n >= outsz) ? MK_EINVAL : 0;
}

static int sysfs_read_rtmr(mk_tdx_provider *p, int index, uint8_t out[MK_TDX_MR_LEN],
                           mk_error *err) {
    char path[4096];
    if (rtmr_path(p, index, path, sizeof path) < 0)
        return mk_error_set(err, MK_EINVAL, "RTMR read: path too long");
    mk_buf b = MK_BUF_INIT;
    int rc = mk_tee_attr_read(path, MK_TEE_ATTR_SMALL_MAX, &b);
    if (rc == -ENOENT) {
        rc = mk_error_set(err, MK_EUNAVAILABLE,
                          "RTMR%d: %s not present (kernel without TDX measurement sysfs, "
                          "Linux >= 6.16)",
                          index, path);
    } else if (rc < 0) {
        rc = mk_error_set(err, MK_EIO, "RTMR%d: reading %s: %s", index, path, strerror(-rc));
    } else if (b.len == 48) {
        memcpy(out, b.data, 48);
    } else {
        size_t n = b.len;
        while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == 0))
            n--;
        char hex[97];
        if (n == 96) {
            memcpy(hex, b.data, 96);
            hex[96] = 0;
        }
        if (n != 96 || mk_hex_decode_exact(hex, out, 48, NULL) < 0)
            rc = mk_error_set(err, MK_EMALFORMED,
                              "RTMR%d: %s holds %zu bytes (want 48 raw or 96 hex)", index, path,
                              b.len);
    }
    mk_buf_free(&b);
    return rc;
}

static int sysfs_extend(mk_tdx_provider *p, int index, const uint8_t digest[48], mk_error *err) {
    char path[4096];
    if (rtmr_path(p, index, path, sizeof path) < 0)
        return mk_error_set(err, MK_EINVAL, "RTMR extend: path too long");
    int rc = mk_tee_attr_write(path, digest, 48);
    if (rc == -ENOENT)
        return mk_error_set(err, MK_EUNAVAILABLE,
                            "RTMR%d: %s not present (kernel without TDX measurement sysfs, "
                            "Linux >= 6.16)",
                            index, path);
    if (rc < 0)
        return mk_error_set(err, mk_tee_errno_transient(-rc) ? MK_EBUSY : MK_EIO,
                            "RTMR%d: extending through %s: %s", index, path, strerror(-rc));
    return 0;
}

/* ---------------------------------------------------------------- */
/* The two providers                                                 */
/* ---------------------------------------------------------------- */

static bool configfs_available(const mk_tdx_provider *p, mk_error *err) {
    return mk_tee_tsm_available(mk_tdx_state(p)->path, "TDX guest", err);
}

static bool devtdx_available(const mk_tdx_provider *p, mk_error *err) {
    int fd = devtdx_open(mk_tdx_state(p)->path, err);
    if (fd < 0) return false;
    close(fd);
    return true;
}

static int configfs_provider_quote(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN],
                                   mk_buf *quote, mk_buf *aux, mk_error *err) {
    MK_TRY(configfs_quote(p, mk_tdx_state(p)->path, rd, quote, err));
    if (aux) mk_buf_reset(aux);
    return 0;
}

/* Mainline Linux has no quote ioctl: quotes come from configfs-tsm at its
 * default path. */
static int devtdx_quote(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN], mk_buf *quote,
                        mk_buf *aux, mk_error *err) {
    int rc = configfs_quote(p, NULL, rd, quote, err);
    if (rc < 0) return mk_error_prefix(err, rc, "tdx_guest has no quote interface");
    if (aux) mk_buf_reset(aux);
    return 0;
}

/* Prefer the local TDREPORT; on any failure there, take the body of a
 * fresh quote (its error is the one reported). */
static int configfs_report(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN],
                           mk_tdx_td_report *out, mk_error *err) {
    if (devtdx_report(MK_TDX_GUEST_DEV, rd, out, NULL) == 0) return 0;
    mk_buf q = MK_BUF_INIT;
    int rc = configfs_quote(p, mk_tdx_state(p)->path, rd, &q, err);
    if (rc == 0) {
        mk_tdx_quote parsed;
        rc = mk_tdx_quote_parse(q.data, q.len, &parsed, err);
        if (rc < 0)
            mk_error_prefix(err, rc, "configfs-tsm quote");
        else if (memcmp(parsed.body.report_data, rd, 64) != 0)
            rc = mk_error_set(err, MK_EMISMATCH,
                              "configfs-tsm: the quote carries different report data");
        else
            *out = parsed.body;
    }
    mk_buf_free(&q);
    return rc;
}

static int devtdx_provider_report(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN],
                                  mk_tdx_td_report *out, mk_error *err) {
    return devtdx_report(mk_tdx_state(p)->path, rd, out, err);
}

const mk_tdx_provider_ops mk_tdx_provider_configfs_ops = {
    .tee =
        {
            .name = "configfs-tsm",
            .platform = MK_TEE_TDX,
            .is_simulated = false,
            .ticket = &mk_tdx_ticket_format,
            .available = configfs_available,
            .evidence = configfs_provider_quote,
            .measurements = mk_tdx_provider_measurements,
            .destroy = mk_tdx_provider_destroy,
        },
    .report = configfs_report,
    .read_rtmr = sysfs_read_rtmr,
    .extend_rtmr = sysfs_extend,
};

const mk_tdx_provider_ops mk_tdx_provider_devtdx_ops = {
    .tee =
        {
            .name = "tdx_guest",
            .platform = MK_TEE_TDX,
            .is_simulated = false,
            .ticket = &mk_tdx_ticket_format,
            .available = devtdx_available,
            .evidence = devtdx_quote,
            .measurements = mk_tdx_provider_measurements,
            .destroy = mk_tdx_provider_destroy,
        },
    .report = devtdx_provider_report,
    .read_rtmr = sysfs_read_rtmr,
    .extend_rtmr = sysfs_extend,
};
