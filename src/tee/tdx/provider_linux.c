/*
 * tee/tdx/provider_linux.c — the TDX guest interfaces of Linux as quote
 * providers: configfs-tsm, /dev/tdx_guest and the sysfs measurement
 * registers (the provider interface is provider.c).
 *
 * configfs-tsm (Documentation/ABI/testing/configfs-tsm-report). One request:
 *   1. mkdir <report dir>/mosaik-<pid>-<counter>-<random>; the kernel fills
 *      it with attribute files (we wait, bounded, for `provider` to appear,
 *      which is immediate on configfs and lets emulated trees work too);
 *   2. `provider` must read "tdx_guest" (else MK_EMISMATCH);
 *   3. g0 = `generation`; write exactly 64 bytes to `inblob`;
 *   4. read `outblob` (cap MK_TDX_QUOTE_MAX). The kernel blocks the read
 *      while the host builds the quote; an empty or absent outblob is
 *      polled with growing sleeps until the timeout;
 *   5. g1 = `generation`; g1 must equal g0 + 1, else someone else wrote to
 *      the entry between our write and read, and the outblob may answer
 *      their inblob: the attempt is discarded and retried;
 *   6. rmdir the entry (on a non-configfs tree, the attribute files are
 *      unlinked first).
 * EBUSY/EAGAIN and generation races are retried with exponential backoff,
 * at most PROVIDER_ATTEMPTS times, each attempt in a fresh entry. All
 * configfs requests of the process are serialized by one mutex. Its local
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
 * offset 0 extends it.
 *
 * Invariants: no provider here ever falls back to the simulator; every size
 * read from the kernel is capped; a failed request leaves no entry behind
 * (best effort) and changes no caller-visible output.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "mosaik/log.h"
#include "tee/tdx/tdx_provider_internal.h"

#define PROVIDER_ATTEMPTS 5
#define ATTR_SMALL_MAX 256 /* cap for provider/generation/rtmr files */

struct tdx_report_req {
    uint8_t reportdata[MK_TDX_REPORT_DATA_LEN];
    uint8_t tdreport[MK_TDX_TDREPORT_LEN];
};
#define MK_TDX_CMD_GET_REPORT0 _IOWR('T', 1, struct tdx_report_req)
_Static_assert(sizeof(struct tdx_report_req) == 1088, "tdx_report_req layout");
_Static_assert(MK_TDX_CMD_GET_REPORT0 == 0xC4405401u, "TDX_CMD_GET_REPORT0 value");

static pthread_mutex_t configfs_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint entry_counter;

/* ---------------------------------------------------------------- */
/* Small file helpers                                                */
/* ---------------------------------------------------------------- */

static void sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool is_transient(int e) {
    return e == EBUSY || e == EAGAIN || e == EINTR;
}

/* Read a whole file into b (reset first), at most max bytes. Returns 0, or
 * -errno (with -EFBIG when over the cap). */
static int read_file_errno(const char *path, size_t max, mk_buf *b) {
    mk_buf_reset(b);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    uint8_t chunk[4096];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = -errno;
            break;
        }
        if (n == 0) break;
        if ((size_t)n > max - b->len) {
            rc = -EFBIG;
            break;
        }
        if (mk_buf_append(b, chunk, (size_t)n) < 0) {
            rc = -ENOMEM;
            break;
        }
    }
    close(fd);
    return rc;
}

/* Write exactly n bytes in one write() (attribute semantics). -errno. */
static int write_attr(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t w;
    do {
        w = write(fd, data, n);
    } while (w < 0 && errno == EINTR);
    int rc = w < 0 ? -errno : (size_t)w != n ? -EIO : 0;
    if (close(fd) != 0 && rc == 0) rc = -errno;
    return rc;
}

/* Parse a small attribute as text: trailing whitespace stripped, NUL-terminated
 * into out (size outsz). */
static int read_text_attr(const char *path, char *out, size_t outsz) {
    mk_buf b = MK_BUF_INIT;
    int rc = read_file_errno(path, ATTR_SMALL_MAX, &b);
    if (rc == 0) {
        size_t n = b.len;
        while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == ' ' || b.data[n - 1] == 0))
            n--;
        if (n >= outsz) {
            rc = -EFBIG;
        } else {
            if (n) memcpy(out, b.data, n);
            out[n] = 0;
        }
    }
    mk_buf_free(&b);
    return rc;
}

static int read_generation(const char *path, uint64_t *out, mk_error *err) {
    char text[32];
    int rc = read_text_attr(path, text, sizeof text);
    if (rc < 0)
        return mk_error_set(err, is_transient(-rc) ? MK_EBUSY : MK_EIO, "%s: %s", path,
                            strerror(-rc));
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end)
        return mk_error_set(err, MK_EMALFORMED, "%s: not a counter: \"%s\"", path, text);
    *out = (uint64_t)v;
    return 0;
}

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---------------------------------------------------------------- */
/* configfs-tsm                                                      */
/* ---------------------------------------------------------------- */

static const char *const entry_attrs[] = {"inblob",          "outblob",      "auxblob",
                                          "provider",        "generation",   "privlevel",
                                          "privlevel_floor", "manifestblob", NULL};

static void entry_remove(const char *entry) {
    if (rmdir(entry) == 0 || errno == ENOENT) return;
    if (errno == ENOTEMPTY || errno == EEXIST) {
        /* Not configfs (an emulated tree): remove the files we know. */
        char path[4200];
        for (int i = 0; entry_attrs[i]; i++) {
            snprintf(path, sizeof path, "%s/%s", entry, entry_attrs[i]);
            unlink(path);
        }
        if (rmdir(entry) == 0) return;
    }
    mk_log(MK_LOG_WARN, "tdx", "cannot remove configfs-tsm entry %s: %s", entry, strerror(errno));
}

/* One attempt in a fresh entry. MK_EBUSY means "retry". */
static int configfs_once(const mk_tdx_provider *p, const uint8_t rd[64], uint64_t deadline,
                         mk_buf *quote, mk_error *err) {
    char entry[4096], path[4200];
    uint8_t rnd[4];
    char rhex[9];
    mk_random_bytes(rnd, sizeof rnd);
    mk_hex_encode(rnd, sizeof rnd, rhex);
    int n = snprintf(entry, sizeof entry, "%s/mosaik-%d-%u-%s", p->path, (int)getpid(),
                     atomic_fetch_add(&entry_counter, 1), rhex);
    if (n < 0 || (size_t)n >= sizeof entry)
        return mk_error_set(err, MK_EINVAL, "configfs-tsm: report dir path too long");
    if (mkdir(entry, 0700) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return mk_error_set(err, MK_EUNAVAILABLE,
                                "configfs-tsm: %s not present (not a TDX guest, or configfs "
                                "not mounted)",
                                p->path);
        if (is_transient(e) || e == EEXIST)
            return mk_error_set(err, MK_EBUSY, "configfs-tsm: mkdir %s: %s", entry, strerror(e));
        return mk_error_set(err, MK_EIO, "configfs-tsm: mkdir %s: %s", entry, strerror(e));
    }

    int rc;
    char prov[64];
    unsigned nap = 1;
    /* 2. the provider attribute */
    snprintf(path, sizeof path, "%s/provider", entry);
    for (;;) {
        rc = read_text_attr(path, prov, sizeof prov);
        if (rc != -ENOENT) break;
        if (mono_ms() >= deadline) break;
        sleep_ms(nap);
        if (nap < 50) nap *= 2;
    }
    if (rc < 0) {
        rc = mk_error_set(err, rc == -ENOENT ? MK_ETIMEDOUT : MK_EIO, "configfs-tsm: %s: %s", path,
                          strerror(-rc));
        goto done;
    }
    if (strcmp(prov, "tdx_guest") != 0) {
        rc = mk_error_set(err, MK_EMISMATCH,
                          "configfs-tsm: provider is \"%s\", not \"tdx_guest\" (not a TDX guest)",
                          prov);
        goto done;
    }
    /* 3. generation, inblob */
    uint64_t g0 = 0, g1 = 0;
    snprintf(path, sizeof path, "%s/generation", entry);
    MK_GUARD(rc, read_generation(path, &g0, err), done);
    snprintf(path, sizeof path, "%s/inblob", entry);
    rc = write_attr(path, rd, MK_TDX_REPORT_DATA_LEN);
    if (rc < 0) {
        rc = mk_error_set(err, is_transient(-rc) ? MK_EBUSY : MK_EIO,
                          "configfs-tsm: writing %s: %s", path, strerror(-rc));
        goto done;
    }
    /* 4. outblob */
    snprintf(path, sizeof path, "%s/outblob", entry);
    mk_buf blob = MK_BUF_INIT;
    nap = 1;
    for (;;) {
        rc = read_file_errno(path, MK_TDX_QUOTE_MAX, &blob);
        if (rc == 0 && blob.len > 0) break;
        if (rc < 0 && rc != -ENOENT) break;
        if (mono_ms() >= deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        sleep_ms(nap);
        if (nap < 50) nap *= 2;
    }
    if (rc < 0) {
        int code = rc == -EFBIG        ? MK_ETOOBIG
                   : rc == -ETIMEDOUT  ? MK_ETIMEDOUT
                   : is_transient(-rc) ? MK_EBUSY
                                       : MK_EIO;
        if (rc == -EFBIG)
            rc = mk_error_set(err, code, "configfs-tsm: outblob larger than %u bytes",
                              (unsigned)MK_TDX_QUOTE_MAX);
        else if (rc == -ETIMEDOUT)
            rc = mk_error_set(err, code, "configfs-tsm: no quote in %s within %u ms", path,
                              atomic_load(&p->timeout_ms));
        else
            rc = mk_error_set(err, code, "configfs-tsm: reading %s: %s", path, strerror(-rc));
        mk_buf_free(&blob);
        goto done;
    }
    /* 5. generation again */
    snprintf(path, sizeof path, "%s/generation", entry);
    rc = read_generation(path, &g1, err);
    if (rc == 0 && g1 != g0 + 1)
        rc = mk_error_set(err, MK_EBUSY,
                          "configfs-tsm: generation went from %llu to %llu (want +1): a concurrent "
                          "writer used the entry",
                          (unsigned long long)g0, (unsigned long long)g1);
    if (rc == 0) {
        mk_buf_free(quote);
        *quote = blob;
    } else {
        mk_buf_free(&blob);
    }
done:
    entry_remove(entry);
    return rc;
}

static int configfs_quote(const mk_tdx_provider *p, const uint8_t rd[64], mk_buf *quote,
                          mk_error *err) {
    uint64_t deadline = mono_ms() + atomic_load(&p->timeout_ms);
    int rc = MK_EBUSY;
    pthread_mutex_lock(&configfs_lock);
    for (int attempt = 0; attempt < PROVIDER_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            if (mono_ms() >= deadline) break;
            sleep_ms(10u << attempt); /* 20, 40, 80, 160 ms */
        }
        rc = configfs_once(p, rd, deadline, quote, err);
        if (rc != MK_EBUSY) break;
    }
    pthread_mutex_unlock(&configfs_lock);
    if (rc == MK_EBUSY) mk_error_prefix(err, rc, "after %d attempts", PROVIDER_ATTEMPTS);
    return rc;
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
        rc = mk_error_set(err, is_transient(e) ? MK_EBUSY : MK_EIO,
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
    pthread_mutex_lock(&p->lock);
    int n = snprintf(out, outsz, "%s/rtmr%d:sha384", p->meas_dir, index);
    pthread_mutex_unlock(&p->lock);
    return (n < 0 || (size_t)n >= outsz) ? MK_EINVAL : 0;
}

static int sysfs_read_rtmr(mk_tdx_provider *p, int index, uint8_t out[MK_TDX_MR_LEN],
                           mk_error *err) {
    char path[4096];
    if (rtmr_path(p, index, path, sizeof path) < 0)
        return mk_error_set(err, MK_EINVAL, "RTMR read: path too long");
    mk_buf b = MK_BUF_INIT;
    int rc = read_file_errno(path, ATTR_SMALL_MAX, &b);
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
    int rc = write_attr(path, digest, 48);
    if (rc == -ENOENT)
        return mk_error_set(err, MK_EUNAVAILABLE,
                            "RTMR%d: %s not present (kernel without TDX measurement sysfs, "
                            "Linux >= 6.16)",
                            index, path);
    if (rc < 0)
        return mk_error_set(err, is_transient(-rc) ? MK_EBUSY : MK_EIO,
                            "RTMR%d: extending through %s: %s", index, path, strerror(-rc));
    return 0;
}

/* ---------------------------------------------------------------- */
/* The two providers                                                 */
/* ---------------------------------------------------------------- */

static bool configfs_available(const mk_tdx_provider *p, mk_error *err) {
    struct stat st;
    if (stat(p->path, &st) == 0 && S_ISDIR(st.st_mode)) return true;
    mk_error_set(err, MK_EUNAVAILABLE,
                 "configfs-tsm: %s not present (not a TDX guest, or configfs not mounted)",
                 p->path);
    return false;
}

static bool devtdx_available(const mk_tdx_provider *p, mk_error *err) {
    int fd = devtdx_open(p->path, err);
    if (fd < 0) return false;
    close(fd);
    return true;
}

static int configfs_provider_quote(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN],
                                   mk_buf *quote, mk_error *err) {
    return configfs_quote(p, rd, quote, err);
}

/* Mainline Linux has no quote ioctl: quotes come from configfs-tsm. */
static int devtdx_quote(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN], mk_buf *quote,
                        mk_error *err) {
    mk_tdx_provider *c = NULL;
    MK_TRY(mk_tdx_provider_configfs_new(NULL, &c, err));
    mk_tdx_provider_set_timeout_ms(c, atomic_load(&p->timeout_ms));
    int rc = configfs_quote(c, rd, quote, err);
    mk_tdx_provider_free(c);
    if (rc < 0) mk_error_prefix(err, rc, "tdx_guest has no quote interface");
    return rc;
}

/* Prefer the local TDREPORT; on any failure there, take the body of a
 * fresh quote (its error is the one reported). */
static int configfs_report(mk_tdx_provider *p, const uint8_t rd[MK_TDX_REPORT_DATA_LEN],
                           mk_tdx_td_report *out, mk_error *err) {
    if (devtdx_report(MK_TDX_GUEST_DEV, rd, out, NULL) == 0) return 0;
    mk_buf q = MK_BUF_INIT;
    int rc = configfs_quote(p, rd, &q, err);
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
    return devtdx_report(p->path, rd, out, err);
}

const mk_tdx_provider_ops mk_tdx_provider_configfs_ops = {
    .name = "configfs-tsm",
    .is_simulated = false,
    .available = configfs_available,
    .quote = configfs_provider_quote,
    .report = configfs_report,
    .read_rtmr = sysfs_read_rtmr,
    .extend_rtmr = sysfs_extend,
};

const mk_tdx_provider_ops mk_tdx_provider_devtdx_ops = {
    .name = "tdx_guest",
    .is_simulated = false,
    .available = devtdx_available,
    .quote = devtdx_quote,
    .report = devtdx_provider_report,
    .read_rtmr = sysfs_read_rtmr,
    .extend_rtmr = sysfs_extend,
};
