/*
 * tee/tsm.c — Linux configfs-tsm (Documentation/ABI/testing/
 * configfs-tsm-report), the one report interface TDX (provider
 * "tdx_guest") and SEV-SNP ("sev_guest") guests share. One request:
 *   1. mkdir <report dir>/mosaik-<pid>-<counter>-<random>; the kernel fills
 *      it with attribute files (we wait, bounded, for `provider` to appear,
 *      which is immediate on configfs and lets emulated trees work too);
 *   2. `provider` must read the one the caller wants (else MK_EMISMATCH);
 *   3. g0 = `generation`; write `privlevel` when asked (SNP's VMPL), then
 *      exactly the caller's bytes to `inblob`;
 *   4. read `outblob` (capped). The kernel blocks the read while the host
 *      builds the report; an empty or absent outblob is polled with growing
 *      sleeps until the timeout; then `auxblob` when asked (SNP's
 *      certificate table; absent or empty: none), capped;
 *   5. g1 = `generation`; g1 must equal g0 plus the number of our writes,
 *      else someone else wrote to the entry between our writes and reads,
 *      and the outblob may answer their inblob: the attempt is discarded
 *      and retried;
 *   6. rmdir the entry (on a non-configfs tree, the attribute files are
 *      unlinked first).
 * EBUSY/EAGAIN and generation races are retried with exponential backoff
 * (20, 40, 80, 160 ms), at most TSM_ATTEMPTS times, each attempt in a fresh
 * entry, all within the request's timeout. All configfs requests of the
 * process are serialized by one mutex.
 *
 * Invariants: every size read from the kernel is capped; a failed request
 * leaves no entry behind (best effort) and leaves the caller's buffers as
 * they were. Reasons start with "configfs-tsm: " and name the guest kind
 * the caller expects ("not a TDX guest").
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "mosaik/log.h"
#include "tee/tee_internal.h"

#define TSM_ATTEMPTS 5

static pthread_mutex_t tsm_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint entry_counter;

static const char *const entry_attrs[] = {"inblob",          "outblob",      "auxblob",
                                          "provider",        "generation",   "privlevel",
                                          "privlevel_floor", "manifestblob", NULL};

bool mk_tee_tsm_available(const char *dir, const char *guest, mk_error *err) {
    struct stat st;
    if (!dir) dir = MK_TEE_TSM_REPORT_DIR;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return true;
    mk_error_set(err, MK_EUNAVAILABLE,
                 "configfs-tsm: %s not present (not a %s, or configfs not mounted)", dir, guest);
    return false;
}

static int read_generation(const char *path, uint64_t *out, mk_error *err) {
    char text[32];
    int rc = mk_tee_attr_read_text(path, text, sizeof text);
    if (rc < 0)
        return mk_error_set(err, mk_tee_errno_transient(-rc) ? MK_EBUSY : MK_EIO, "%s: %s", path,
                            strerror(-rc));
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end)
        return mk_error_set(err, MK_EMALFORMED, "%s: not a counter: \"%s\"", path, text);
    *out = (uint64_t)v;
    return 0;
}

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
    mk_log(MK_LOG_WARN, "tee", "cannot remove configfs-tsm entry %s: %s", entry, strerror(errno));
}

/* A fresh entry in the report dir. */
static int entry_make(const mk_tee_tsm_request *r, char *entry, size_t n, mk_error *err) {
    uint8_t rnd[4];
    char rhex[9];
    mk_random_bytes(rnd, sizeof rnd);
    mk_hex_encode(rnd, sizeof rnd, rhex);
    int w = snprintf(entry, n, "%s/mosaik-%d-%u-%s", r->dir, (int)getpid(),
                     atomic_fetch_add(&entry_counter, 1), rhex);
    if (w < 0 || (size_t)w >= n)
        return mk_error_set(err, MK_EINVAL, "configfs-tsm: report dir path too long");
    if (mkdir(entry, 0700) == 0) return 0;
    int e = errno;
    if (e == ENOENT || e == ENOTDIR)
        return mk_error_set(err, MK_EUNAVAILABLE,
                            "configfs-tsm: %s not present (not a %s, or configfs not mounted)",
                            r->dir, r->guest);
    if (mk_tee_errno_transient(e) || e == EEXIST)
        return mk_error_set(err, MK_EBUSY, "configfs-tsm: mkdir %s: %s", entry, strerror(e));
    return mk_error_set(err, MK_EIO, "configfs-tsm: mkdir %s: %s", entry, strerror(e));
}

/* Step 2: the provider attribute appears and names the wanted provider. */
static int check_provider(const mk_tee_tsm_request *r, const char *entry, uint64_t deadline,
                          mk_error *err) {
    char path[4200], prov[64];
    unsigned nap = 1;
    int rc;
    snprintf(path, sizeof path, "%s/provider", entry);
    for (;;) {
        rc = mk_tee_attr_read_text(path, prov, sizeof prov);
        if (rc != -ENOENT || mk_tee_mono_ms() >= deadline) break;
        mk_tee_sleep_ms(nap);
        if (nap < 50) nap *= 2;
    }
    if (rc < 0)
        return mk_error_set(err, rc == -ENOENT ? MK_ETIMEDOUT : MK_EIO, "configfs-tsm: %s: %s",
                            path, strerror(-rc));
    if (strcmp(prov, r->provider) != 0)
        return mk_error_set(err, MK_EMISMATCH,
                            "configfs-tsm: provider is \"%s\", not \"%s\" (not a %s)", prov,
                            r->provider, r->guest);
    return 0;
}

/* One attribute write of step 3. */
static int write_one(const char *entry, const char *name, const void *data, size_t n,
                     mk_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", entry, name);
    int rc = mk_tee_attr_write(path, data, n);
    if (rc < 0)
        return mk_error_set(err, mk_tee_errno_transient(-rc) ? MK_EBUSY : MK_EIO,
                            "configfs-tsm: writing %s: %s", path, strerror(-rc));
    return 0;
}

/* Step 4: outblob, polled while empty or absent until the deadline. */
static int read_outblob(const mk_tee_tsm_request *r, const char *entry, uint64_t deadline,
                        mk_buf *blob, mk_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/outblob", entry);
    unsigned nap = 1;
    int rc;
    for (;;) {
        rc = mk_tee_attr_read(path, r->outblob_max, blob);
        if (rc == 0 && blob->len > 0) return 0;
        if (rc < 0 && rc != -ENOENT) break;
        if (mk_tee_mono_ms() >= deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        mk_tee_sleep_ms(nap);
        if (nap < 50) nap *= 2;
    }
    if (rc == -EFBIG)
        return mk_error_set(err, MK_ETOOBIG, "configfs-tsm: outblob larger than %u bytes",
                            (unsigned)r->outblob_max);
    if (rc == -ETIMEDOUT)
        return mk_error_set(err, MK_ETIMEDOUT, "configfs-tsm: no %s in %s within %u ms", r->what,
                            path, r->timeout_ms);
    return mk_error_set(err, mk_tee_errno_transient(-rc) ? MK_EBUSY : MK_EIO,
                        "configfs-tsm: reading %s: %s", path, strerror(-rc));
}

/* Step 4, SNP: auxblob (absent: none). */
static int read_auxblob(const mk_tee_tsm_request *r, const char *entry, mk_buf *aux,
                        mk_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/auxblob", entry);
    int rc = mk_tee_attr_read(path, r->auxblob_max, aux);
    if (rc == 0) return 0;
    if (rc == -ENOENT) {
        mk_buf_reset(aux);
        return 0;
    }
    if (rc == -EFBIG)
        return mk_error_set(err, MK_ETOOBIG, "configfs-tsm: auxblob larger than %zu bytes",
                            r->auxblob_max);
    return mk_error_set(err, mk_tee_errno_transient(-rc) ? MK_EBUSY : MK_EIO,
                        "configfs-tsm: reading %s: %s", path, strerror(-rc));
}

/* Steps 3 to 5 in a fresh entry. MK_EBUSY means "retry". */
static int tsm_steps(const mk_tee_tsm_request *r, const char *entry, uint64_t deadline,
                     mk_buf *blob, mk_buf *aux, mk_error *err) {
    char path[4200];
    uint64_t g0 = 0, g1 = 0;
    unsigned writes = 0;
    snprintf(path, sizeof path, "%s/generation", entry);
    MK_TRY(read_generation(path, &g0, err));
    if (r->privlevel >= 0) {
        char lvl[8];
        int n = snprintf(lvl, sizeof lvl, "%d", r->privlevel);
        MK_TRY(write_one(entry, "privlevel", lvl, (size_t)n, err));
        writes++;
    }
    MK_TRY(write_one(entry, "inblob", r->inblob, r->inblob_len, err));
    writes++;
    MK_TRY(read_outblob(r, entry, deadline, blob, err));
    if (aux) MK_TRY(read_auxblob(r, entry, aux, err));
    MK_TRY(read_generation(path, &g1, err));
    if (g1 != g0 + writes)
        return mk_error_set(err, MK_EBUSY,
                            "configfs-tsm: generation went from %llu to %llu (want +%u): a "
                            "concurrent writer used the entry",
                            (unsigned long long)g0, (unsigned long long)g1, writes);
    return 0;
}

/* One attempt in a fresh entry. */
static int tsm_once(const mk_tee_tsm_request *r, uint64_t deadline, mk_buf *out, mk_buf *aux,
                    mk_error *err) {
    char entry[4096];
    MK_TRY(entry_make(r, entry, sizeof entry, err));
    mk_buf blob = MK_BUF_INIT, ablob = MK_BUF_INIT;
    int rc = check_provider(r, entry, deadline, err);
    if (rc == 0) rc = tsm_steps(r, entry, deadline, &blob, aux ? &ablob : NULL, err);
    if (rc == 0) {
        mk_buf_free(out);
        *out = blob;
        if (aux) {
            mk_buf_free(aux);
            *aux = ablob;
        }
    } else {
        mk_buf_free(&blob);
        mk_buf_free(&ablob);
    }
    entry_remove(entry);
    return rc;
}

int mk_tee_tsm_report(const mk_tee_tsm_request *req, mk_buf *out, mk_buf *aux, mk_error *err) {
    if (!req || !req->provider || !req->guest || !req->inblob || !out)
        return mk_error_set(err, MK_EINVAL, "configfs-tsm: bad request");
    if (req->inblob_len == 0 || req->inblob_len > MK_TEE_TSM_INBLOB_MAX || req->privlevel > 3 ||
        req->outblob_max == 0)
        return mk_error_set(err, MK_EINVAL, "configfs-tsm: bad request");
    mk_tee_tsm_request r = *req;
    if (!r.dir) r.dir = MK_TEE_TSM_REPORT_DIR;
    if (!r.what) r.what = "report";
    if (!r.auxblob_max) aux = NULL;
    uint64_t deadline = mk_tee_mono_ms() + r.timeout_ms;
    int rc = MK_EBUSY;
    pthread_mutex_lock(&tsm_lock);
    for (int attempt = 0; attempt < TSM_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            if (mk_tee_mono_ms() >= deadline) break;
            mk_tee_sleep_ms(10u << attempt); /* 20, 40, 80, 160 ms */
        }
        rc = tsm_once(&r, deadline, out, aux, err);
        if (rc != MK_EBUSY) break;
    }
    pthread_mutex_unlock(&tsm_lock);
    if (rc == MK_EBUSY) mk_error_prefix(err, rc, "after %d attempts", TSM_ATTEMPTS);
    return rc;
}
