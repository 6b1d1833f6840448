/*
 * provider.c — TDX quote providers behind one interface: Linux configfs-tsm,
 * /dev/tdx_guest (TDX_CMD_GET_REPORT0), sysfs measurement registers, the
 * "auto" choice among the real ones, and the simulator wrapped as a
 * provider (the simulator itself is sim.c).
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
 * configfs requests of the process are serialized by one mutex.
 *
 * /dev/tdx_guest: the 1088-byte struct {reportdata[64]; tdreport[1024]} is
 * exchanged with TDX_CMD_GET_REPORT0 = _IOWR('T', 1, struct) = 0xC4405401;
 * the TDREPORT is parsed through mk_reader (offsets: notes §2.4).
 *
 * RTMRs: <measurements dir>/rtmrN:sha384 (Linux >= 6.16, tsm-mr): reading
 * gives the register, writing 48 bytes at offset 0 extends it.
 *
 * Invariants: no provider ever falls back to the simulator; every size read
 * from the kernel is capped; a failed request leaves no entry behind (best
 * effort) and changes no caller-visible output.
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
#include "mosaik/tdx_provider.h"
#include "tee/tdx/tdx_provider_internal.h"

#define PROVIDER_DEFAULT_TIMEOUT_MS 30000u
#define PROVIDER_ATTEMPTS 5
#define ATTR_SMALL_MAX 256 /* cap for provider/generation/rtmr files */

struct tdx_report_req {
    uint8_t reportdata[MK_TDX_REPORT_DATA_LEN];
    uint8_t tdreport[MK_TDX_TDREPORT_LEN];
};
#define MK_TDX_CMD_GET_REPORT0 _IOWR('T', 1, struct tdx_report_req)
_Static_assert(sizeof(struct tdx_report_req) == 1088, "tdx_report_req layout");
_Static_assert(MK_TDX_CMD_GET_REPORT0 == 0xC4405401u, "TDX_CMD_GET_REPORT0 value");

typedef enum { P_CONFIGFS, P_DEVTDX, P_SIM } provider_kind;

struct mk_tdx_provider {
    provider_kind kind;
    char *path;     /* report dir (configfs) or device (devtdx) */
    char *meas_dir; /* sysfs measurements dir */
    atomic_uint timeout_ms;
    mk_tdx_sim *sim;  /* P_SIM: a reference */
    mk_tdx_sim_td td; /* P_SIM: guarded by lock */
    pthread_mutex_t lock;
};

static pthread_mutex_t configfs_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint entry_counter;

/* ---------------------------------------------------------------- */
/* Construction                                                      */
/* ---------------------------------------------------------------- */

static mk_tdx_provider *provider_new(provider_kind kind, const char *path) {
    mk_tdx_provider *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->kind = kind;
    atomic_init(&p->timeout_ms, PROVIDER_DEFAULT_TIMEOUT_MS);
    p->path = path ? strdup(path) : NULL;
    p->meas_dir = strdup(MK_TDX_MEASUREMENTS_DIR);
    if ((path && !p->path) || !p->meas_dir || pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p->path);
        free(p->meas_dir);
        free(p);
        return NULL;
    }
    return p;
}

mk_tdx_provider *mk_tdx_provider_configfs_new(const char *tsm_report_dir) {
    return provider_new(P_CONFIGFS, tsm_report_dir ? tsm_report_dir : MK_TDX_TSM_REPORT_DIR);
}

mk_tdx_provider *mk_tdx_provider_devtdx_new(const char *dev) {
    return provider_new(P_DEVTDX, dev ? dev : MK_TDX_GUEST_DEV);
}

mk_tdx_provider *mk_tdx_provider_sim_new(mk_tdx_sim *sim, const mk_tdx_sim_td *td) {
    if (!sim) return NULL;
    mk_tdx_provider *p = provider_new(P_SIM, NULL);
    if (!p) return NULL;
    p->sim = mk_tdx_sim_ref(sim);
    if (td)
        p->td = *td;
    else
        mk_tdx_sim_td_default(&p->td);
    return p;
}

void mk_tdx_provider_free(mk_tdx_provider *p) {
    if (!p) return;
    pthread_mutex_destroy(&p->lock);
    mk_tdx_sim_free(p->sim);
    free(p->path);
    free(p->meas_dir);
    free(p);
}

const char *mk_tdx_provider_name(const mk_tdx_provider *p) {
    if (!p) return "(none)";
    switch (p->kind) {
    case P_CONFIGFS:
        return "configfs-tsm";
    case P_DEVTDX:
        return "tdx_guest";
    case P_SIM:
        return "simulator (NOT real TDX)";
    }
    return "(unknown)";
}

bool mk_tdx_provider_is_simulated(const mk_tdx_provider *p) {
    return p && p->kind == P_SIM;
}

void mk_tdx_provider_set_timeout_ms(mk_tdx_provider *p, uint32_t ms) {
    if (p) atomic_store(&p->timeout_ms, ms ? ms : PROVIDER_DEFAULT_TIMEOUT_MS);
}

int mk_tdx_provider_set_measurements_dir(mk_tdx_provider *p, const char *dir) {
    if (!p || !dir) return MK_EINVAL;
    char *d = strdup(dir);
    if (!d) return MK_ENOMEM;
    pthread_mutex_lock(&p->lock);
    free(p->meas_dir);
    p->meas_dir = d;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

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

int mk_tdx_provider_read_rtmr(mk_tdx_provider *p, int index, uint8_t out[MK_TDX_MR_LEN],
                              mk_error *err) {
    if (!p || !out || index < 0 || index > 3)
        return mk_error_set(err, MK_EINVAL, "RTMR read: bad argument (index %d)", index);
    if (p->kind == P_SIM) {
        pthread_mutex_lock(&p->lock);
        memcpy(out, p->td.rtmr[index], 48);
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
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
/* The interface                                                     */
/* ---------------------------------------------------------------- */

bool mk_tdx_provider_available(const mk_tdx_provider *p, mk_error *err) {
    if (!p) {
        mk_error_set(err, MK_EINVAL, "no provider");
        return false;
    }
    struct stat st;
    switch (p->kind) {
    case P_SIM:
        return true;
    case P_CONFIGFS:
        if (stat(p->path, &st) == 0 && S_ISDIR(st.st_mode)) return true;
        mk_error_set(err, MK_EUNAVAILABLE,
                     "configfs-tsm: %s not present (not a TDX guest, or configfs not mounted)",
                     p->path);
        return false;
    case P_DEVTDX: {
        int fd = devtdx_open(p->path, err);
        if (fd < 0) return false;
        close(fd);
        return true;
    }
    }
    return false;
}

int mk_tdx_provider_quote(mk_tdx_provider *p, const uint8_t report_data[MK_TDX_REPORT_DATA_LEN],
                          mk_buf *quote, mk_error *err) {
    if (!p || !report_data || !quote)
        return mk_error_set(err, MK_EINVAL, "TDX quote: NULL argument");
    switch (p->kind) {
    case P_SIM: {
        mk_tdx_sim_td td;
        pthread_mutex_lock(&p->lock);
        td = p->td;
        pthread_mutex_unlock(&p->lock);
        return mk_tdx_sim_quote(p->sim, &td, report_data, quote, err);
    }
    case P_CONFIGFS:
        return configfs_quote(p, report_data, quote, err);
    case P_DEVTDX: {
        /* Mainline Linux has no quote ioctl: quotes come from configfs-tsm. */
        mk_tdx_provider *c = mk_tdx_provider_configfs_new(NULL);
        if (!c) return mk_error_set(err, MK_ENOMEM, "out of memory");
        mk_tdx_provider_set_timeout_ms(c, atomic_load(&p->timeout_ms));
        int rc = configfs_quote(c, report_data, quote, err);
        mk_tdx_provider_free(c);
        if (rc < 0) mk_error_prefix(err, rc, "tdx_guest has no quote interface; via configfs-tsm");
        return rc;
    }
    }
    return mk_error_set(err, MK_EINVAL, "TDX quote: unknown provider");
}

int mk_tdx_provider_report(mk_tdx_provider *p, const uint8_t report_data[MK_TDX_REPORT_DATA_LEN],
                           mk_tdx_td_report *out, mk_error *err) {
    if (!p || !report_data || !out)
        return mk_error_set(err, MK_EINVAL, "TDX report: NULL argument");
    switch (p->kind) {
    case P_SIM: {
        mk_tdx_sim_td td;
        pthread_mutex_lock(&p->lock);
        td = p->td;
        pthread_mutex_unlock(&p->lock);
        mk_tdx_sim_td_report(&td, report_data, out);
        return 0;
    }
    case P_DEVTDX:
        return devtdx_report(p->path, report_data, out, err);
    case P_CONFIGFS: {
        /* Prefer the local TDREPORT; on any failure there, take the body
         * of a fresh quote (its error is the one reported). */
        if (devtdx_report(MK_TDX_GUEST_DEV, report_data, out, NULL) == 0) return 0;
        mk_buf q = MK_BUF_INIT;
        int rc = configfs_quote(p, report_data, &q, err);
        if (rc == 0) {
            mk_tdx_quote parsed;
            rc = mk_tdx_quote_parse(q.data, q.len, &parsed, err);
            if (rc < 0)
                mk_error_prefix(err, rc, "configfs-tsm quote");
            else if (memcmp(parsed.body.report_data, report_data, 64) != 0)
                rc = mk_error_set(err, MK_EMISMATCH,
                                  "configfs-tsm: the quote carries different report data");
            else
                *out = parsed.body;
        }
        mk_buf_free(&q);
        return rc;
    }
    }
    return mk_error_set(err, MK_EINVAL, "TDX report: unknown provider");
}

int mk_tdx_provider_extend_rtmr(mk_tdx_provider *p, int index, const uint8_t digest[MK_TDX_MR_LEN],
                                mk_error *err) {
    if (!p || !digest) return mk_error_set(err, MK_EINVAL, "RTMR extend: NULL argument");
    if (index != 2 && index != 3)
        return mk_error_set(err, MK_EINVAL,
                            "RTMR extend: index %d refused (only RTMR2 and RTMR3 are left to "
                            "TD software)",
                            index);
    if (p->kind == P_SIM) {
        pthread_mutex_lock(&p->lock);
        uint8_t in[96];
        memcpy(in, p->td.rtmr[index], 48);
        memcpy(in + 48, digest, 48);
        mk_sha384(in, sizeof in, p->td.rtmr[index]);
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    return sysfs_extend(p, index, digest, err);
}

mk_tdx_provider *mk_tdx_provider_auto_new(mk_error *err) {
    mk_error e1, e2;
    mk_error_clear(&e1);
    mk_error_clear(&e2);
    mk_tdx_provider *p = mk_tdx_provider_configfs_new(NULL);
    if (!p) {
        mk_error_set(err, MK_ENOMEM, "out of memory");
        return NULL;
    }
    if (mk_tdx_provider_available(p, &e1)) return p;
    mk_tdx_provider_free(p);
    p = mk_tdx_provider_devtdx_new(NULL);
    if (!p) {
        mk_error_set(err, MK_ENOMEM, "out of memory");
        return NULL;
    }
    if (mk_tdx_provider_available(p, &e2)) return p;
    mk_tdx_provider_free(p);
    mk_error_set(err, MK_EUNAVAILABLE,
                 "no TDX quote provider on this machine (%s; %s); the simulator is never chosen "
                 "automatically",
                 e1.msg, e2.msg);
    return NULL;
}
