/*
 * test_provider.c — the real quote providers without TDX hardware.
 *
 * configfs-tsm is exercised against a temporary directory tree that mimics
 * the kernel interface: a responder thread plays the kernel, giving each new
 * entry its attribute files (provider, generation, inblob, outblob) and, when
 * 64 bytes land in inblob, bumping generation and writing a simulator quote
 * for that report data to outblob (files are replaced atomically with
 * rename, so the provider sees either nothing or the whole value). Modes:
 * normal, wrong provider name, a concurrent writer (generation jumps by 2)
 * on every request or only on the first one, and "never answers".
 *
 * /dev/tdx_guest and the auto provider are checked for what this machine
 * has (no TDX): unavailable, with a reason. The TDREPORT parser is checked
 * on a synthetic 1024-byte report. A TDX provider seen through the shared
 * interface (mosaik/tee.h): its platform, measurement registers, the
 * shared attester's tickets as TDX tickets; and the TDX-typed functions
 * refusing another platform's provider.
 */
#include "test_util.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "mosaik/tdx_provider.h"
#include "tee/tdx/tdx_internal.h"
#include "tee/tdx/tdx_provider_internal.h" /* mk_tdx_tdreport_parse */

#define T0 ((int64_t)1752919200)

enum mode { M_NORMAL, M_WRONG_PROVIDER, M_RACE_ALWAYS, M_RACE_ONCE, M_SILENT };

typedef struct fake_kernel {
    char dir[512];
    mk_tdx_sim *sim;
    atomic_int mode;
    atomic_bool stop;
    atomic_int answered; /* quotes written */
    atomic_int raced;    /* concurrent writes simulated */
    char seen[64][256];  /* entries already populated */
    int nseen;
    pthread_t thread;
} fake_kernel;

static mk_tdx_sim *g_sim;

static int setup(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    return mk_tdx_sim_new(&(mk_tdx_sim_config){.now = T0}, &g_sim, &err) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    mk_tdx_sim_free(g_sim);
    return 0;
}

static void put_file(const char *dir, const char *name, const void *data, size_t len) {
    char tmp[1200], path[1200];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(tmp, "wb");
    if (!f) return; /* the entry may be gone already */
    if (len) fwrite(data, 1, len, f);
    fclose(f);
    rename(tmp, path);
}

static bool seen(fake_kernel *k, const char *name) {
    for (int i = 0; i < k->nseen; i++)
        if (strcmp(k->seen[i], name) == 0) return true;
    return false;
}

static void serve_entry(fake_kernel *k, const char *entry, const char *name) {
    char path[1100];
    if (!seen(k, name)) {
        if (k->nseen < 64) snprintf(k->seen[k->nseen++], sizeof k->seen[0], "%s", name);
        const char *prov =
            atomic_load(&k->mode) == M_WRONG_PROVIDER ? "sev_guest\n" : "tdx_guest\n";
        put_file(entry, "inblob", "", 0);
        put_file(entry, "generation", "7\n", 2);
        put_file(entry, "provider", prov, strlen(prov));
        return;
    }
    snprintf(path, sizeof path, "%s/outblob", entry);
    if (access(path, F_OK) == 0) return; /* answered */
    snprintf(path, sizeof path, "%s/inblob", entry);
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size != 64) return;
    uint8_t rd[64];
    FILE *f = fopen(path, "rb");
    if (!f) return;
    size_t n = fread(rd, 1, 64, f);
    fclose(f);
    if (n != 64) return;
    int mode = atomic_load(&k->mode);
    if (mode == M_SILENT) return;
    bool race = mode == M_RACE_ALWAYS || (mode == M_RACE_ONCE && atomic_load(&k->raced) == 0);
    if (race) atomic_fetch_add(&k->raced, 1);
    /* The kernel bumps generation on the inblob write; a concurrent writer
     * bumps it once more. */
    put_file(entry, "generation", race ? "9\n" : "8\n", 2);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_buf q = MK_BUF_INIT;
    if (mk_tdx_sim_quote(k->sim, &td, rd, &q, NULL) == 0) {
        put_file(entry, "outblob", q.data, q.len);
        atomic_fetch_add(&k->answered, 1);
    }
    mk_buf_free(&q);
}

static void *responder(void *arg) {
    fake_kernel *k = arg;
    while (!atomic_load(&k->stop)) {
        DIR *d = opendir(k->dir);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                char entry[1024];
                snprintf(entry, sizeof entry, "%s/%s", k->dir, e->d_name);
                struct stat st;
                if (stat(entry, &st) == 0 && S_ISDIR(st.st_mode)) serve_entry(k, entry, e->d_name);
            }
            closedir(d);
        }
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static fake_kernel *kernel_start(enum mode mode) {
    fake_kernel *k = calloc(1, sizeof *k);
    assert_non_null(k);
    snprintf(k->dir, sizeof k->dir, "%s/mk_tsm_XXXXXX", MOSAIK_BINARY_DIR);
    assert_non_null(mkdtemp(k->dir));
    k->sim = g_sim;
    atomic_init(&k->mode, mode);
    assert_int_equal(pthread_create(&k->thread, NULL, responder, k), 0);
    return k;
}

static int count_entries(const char *dir) {
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void kernel_stop(fake_kernel *k) {
    atomic_store(&k->stop, true);
    pthread_join(k->thread, NULL);
    assert_int_equal(count_entries(k->dir), 0); /* every entry removed */
    rmdir(k->dir);
    free(k);
}

/* ---- configfs-tsm ---- */

static void test_configfs_quote(void **state) {
    (void)state;
    fake_kernel *k = kernel_start(M_NORMAL);
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_configfs_new(k->dir, &p, NULL), 0);
    assert_non_null(p);
    mk_tdx_provider_set_timeout_ms(p, 10000);
    assert_string_equal(mk_tdx_provider_name(p), "configfs-tsm");
    assert_false(mk_tdx_provider_is_simulated(p));
    mk_error err;
    mk_error_clear(&err);
    assert_true(mk_tdx_provider_available(p, &err));

    for (int round = 0; round < 3; round++) {
        uint8_t rd[64];
        for (int i = 0; i < 64; i++)
            rd[i] = (uint8_t)(i * 3 + round);
        mk_buf q = MK_BUF_INIT;
        TU_ASSERT_RC(mk_tdx_provider_quote(p, rd, &q, &err), 0, &err);
        mk_tdx_quote parsed;
        TU_ASSERT_RC(mk_tdx_quote_parse(q.data, q.len, &parsed, &err), 0, &err);
        assert_memory_equal(parsed.body.report_data, rd, 64);
        mk_buf_free(&q);
    }
    assert_int_equal(atomic_load(&k->answered), 3);

    /* report() on a machine without /dev/tdx_guest: from a fresh quote. */
    uint8_t rd[64] = {9, 8, 7};
    mk_tdx_td_report rep;
    TU_ASSERT_RC(mk_tdx_provider_report(p, rd, &rep, &err), 0, &err);
    assert_memory_equal(rep.report_data, rd, 64);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    assert_memory_equal(rep.mr_td, td.mr_td, 48);

    mk_tdx_provider_free(p);
    kernel_stop(k);
}

typedef struct quoter {
    mk_tdx_provider *p;
    int ok;
    uint8_t seed;
} quoter;

static void *quote_thread(void *arg) {
    quoter *qt = arg;
    for (int i = 0; i < 2; i++) {
        uint8_t rd[64];
        memset(rd, qt->seed + i, sizeof rd);
        mk_buf q = MK_BUF_INIT;
        mk_tdx_quote parsed;
        if (mk_tdx_provider_quote(qt->p, rd, &q, NULL) == 0 &&
            mk_tdx_quote_parse(q.data, q.len, &parsed, NULL) == 0 &&
            memcmp(parsed.body.report_data, rd, 64) == 0)
            qt->ok++;
        mk_buf_free(&q);
    }
    return NULL;
}

/* Several threads share one provider: requests are serialized and each gets
 * the quote for its own report data. */
static void test_configfs_threads(void **state) {
    (void)state;
    fake_kernel *k = kernel_start(M_NORMAL);
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_configfs_new(k->dir, &p, NULL), 0);
    mk_tdx_provider_set_timeout_ms(p, 10000);
    quoter qs[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        qs[i] = (quoter){p, 0, (uint8_t)(0x20 * (i + 1))};
        assert_int_equal(pthread_create(&th[i], NULL, quote_thread, &qs[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(qs[i].ok, 2);
    }
    assert_int_equal(atomic_load(&k->answered), 6);
    mk_tdx_provider_free(p);
    kernel_stop(k);
}

static void test_configfs_wrong_provider(void **state) {
    (void)state;
    fake_kernel *k = kernel_start(M_WRONG_PROVIDER);
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_configfs_new(k->dir, &p, NULL), 0);
    mk_tdx_provider_set_timeout_ms(p, 5000);
    uint8_t rd[64] = {0};
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_provider_quote(p, rd, &q, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "sev_guest");
    assert_int_equal(q.len, 0);
    mk_tdx_provider_free(p);
    kernel_stop(k);
}

static void test_configfs_concurrent_writer(void **state) {
    (void)state;
    /* Every attempt raced: give up with MK_EBUSY after the bounded retries. */
    fake_kernel *k = kernel_start(M_RACE_ALWAYS);
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_configfs_new(k->dir, &p, NULL), 0);
    mk_tdx_provider_set_timeout_ms(p, 10000);
    uint8_t rd[64] = {5};
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_provider_quote(p, rd, &q, &err), MK_EBUSY, &err);
    TU_ASSERT_REASON(&err, "concurrent writer");
    assert_int_equal(q.len, 0);
    assert_int_equal(atomic_load(&k->raced), 5);
    mk_tdx_provider_free(p);
    kernel_stop(k);

    /* Raced once: the retry succeeds. */
    k = kernel_start(M_RACE_ONCE);
    assert_int_equal(mk_tdx_provider_configfs_new(k->dir, &p, NULL), 0);
    mk_tdx_provider_set_timeout_ms(p, 10000);
    TU_ASSERT_RC(mk_tdx_provider_quote(p, rd, &q, &err), 0, &err);
    assert_int_equal(atomic_load(&k->raced), 1);
    assert_int_equal(atomic_load(&k->answered), 2);
    mk_tdx_quote parsed;
    TU_ASSERT_RC(mk_tdx_quote_parse(q.data, q.len, &parsed, &err), 0, &err);
    assert_memory_equal(parsed.body.report_data, rd, 64);
    mk_buf_free(&q);
    mk_tdx_provider_free(p);
    kernel_stop(k);
}

static void test_configfs_timeout(void **state) {
    (void)state;
    fake_kernel *k = kernel_start(M_SILENT);
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_configfs_new(k->dir, &p, NULL), 0);
    mk_tdx_provider_set_timeout_ms(p, 300);
    uint8_t rd[64] = {5};
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_provider_quote(p, rd, &q, &err), MK_ETIMEDOUT, &err);
    mk_tdx_provider_free(p);
    kernel_stop(k);
}

static void test_configfs_missing(void **state) {
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/mk_no_such_tsm_%d/report", MOSAIK_BINARY_DIR, (int)getpid());
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_configfs_new(dir, &p, NULL), 0);
    mk_error err;
    mk_error_clear(&err);
    assert_false(mk_tdx_provider_available(p, &err));
    assert_int_equal(err.code, MK_EUNAVAILABLE);
    TU_ASSERT_REASON(&err, dir);
    uint8_t rd[64] = {0};
    mk_buf q = MK_BUF_INIT;
    TU_ASSERT_RC(mk_tdx_provider_quote(p, rd, &q, &err), MK_EUNAVAILABLE, &err);
    mk_tdx_provider_free(p);
}

/* ---- /dev/tdx_guest, RTMR sysfs, auto ---- */

static void test_devtdx_absent(void **state) {
    (void)state;
    char dev[600];
    snprintf(dev, sizeof dev, "%s/mk_no_tdx_guest_%d", MOSAIK_BINARY_DIR, (int)getpid());
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_devtdx_new(dev, &p, NULL), 0);
    assert_string_equal(mk_tdx_provider_name(p), "tdx_guest");
    mk_error err;
    mk_error_clear(&err);
    assert_false(mk_tdx_provider_available(p, &err));
    assert_int_equal(err.code, MK_EUNAVAILABLE);
    uint8_t rd[64] = {0};
    mk_tdx_td_report rep;
    TU_ASSERT_RC(mk_tdx_provider_report(p, rd, &rep, &err), MK_EUNAVAILABLE, &err);
    TU_ASSERT_REASON(&err, dev);
    mk_tdx_provider_free(p);
}

static void test_rtmr_sysfs(void **state) {
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/mk_meas_XXXXXX", MOSAIK_BINARY_DIR);
    assert_non_null(mkdtemp(dir));
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_devtdx_new("/nonexistent/tdx_guest", &p, NULL), 0);
    assert_int_equal(mk_tdx_provider_set_measurements_dir(p, dir), 0);
    mk_error err;
    mk_error_clear(&err);
    uint8_t d[48], got[48];
    memset(d, 0xAB, sizeof d);
    /* Absent: unavailable. */
    TU_ASSERT_RC(mk_tdx_provider_extend_rtmr(p, 3, d, &err), MK_EUNAVAILABLE, &err);
    TU_ASSERT_RC(mk_tdx_provider_read_rtmr(p, 3, got, &err), MK_EUNAVAILABLE, &err);
    TU_ASSERT_RC(mk_tdx_provider_extend_rtmr(p, 1, d, &err), MK_EINVAL, &err);

    /* Present (as a plain file): the write carries exactly the digest; a
     * read of 48 raw bytes or 96 hex characters is accepted. */
    char path[700];
    snprintf(path, sizeof path, "%s/rtmr3:sha384", dir);
    TU_ASSERT_RC(mk_file_write(path, "", 0, 0600, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_provider_extend_rtmr(p, 3, d, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_provider_read_rtmr(p, 3, got, &err), 0, &err);
    assert_memory_equal(got, d, 48);
    char hex[98];
    mk_hex_encode(d, 48, hex);
    hex[96] = '\n';
    TU_ASSERT_RC(mk_file_write(path, hex, 97, 0600, &err), 0, &err);
    memset(got, 0, sizeof got);
    TU_ASSERT_RC(mk_tdx_provider_read_rtmr(p, 3, got, &err), 0, &err);
    assert_memory_equal(got, d, 48);
    TU_ASSERT_RC(mk_file_write(path, "xyz", 3, 0600, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_provider_read_rtmr(p, 3, got, &err), MK_EMALFORMED, &err);
    unlink(path);
    rmdir(dir);
    mk_tdx_provider_free(p);
}

static void test_auto_unavailable(void **state) {
    (void)state;
    struct stat st;
    if (stat(MK_TDX_TSM_REPORT_DIR, &st) == 0 || stat(MK_TDX_GUEST_DEV, &st) == 0) {
        /* Only meaningful on a machine without TDX guest interfaces. */
        TU_SKIP("this machine has TDX guest interfaces (%s or %s)", MK_TDX_TSM_REPORT_DIR,
                MK_TDX_GUEST_DEV);
    }
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_provider *p = NULL;
    mk_tdx_provider_auto_new(&p, &err);
    assert_null(p);
    assert_int_equal(err.code, MK_EUNAVAILABLE);
    TU_ASSERT_REASON(&err, MK_TDX_TSM_REPORT_DIR);
    TU_ASSERT_REASON(&err, MK_TDX_GUEST_DEV);
    TU_ASSERT_REASON(&err, "simulator is never chosen");
}

static void test_tdreport_parse(void **state) {
    (void)state;
    uint8_t r[1024];
    memset(r, 0, sizeof r);
    r[0] = 0x81;
    for (int i = 0; i < 64; i++)
        r[128 + i] = (uint8_t)(0x40 + i);
    r[264] = 6; /* tee_tcb_svn */
    r[265] = 1;
    memset(r + 280, 0x5E, 48); /* mr_seam */
    r[384] = 0x0D;             /* tee_tcb_svn2 */
    r[512] = 0x00;             /* td_attributes = 0x10000000 */
    r[515] = 0x10;
    r[520] = 0xE7; /* xfam = 0x602e7 */
    r[521] = 0x02;
    r[522] = 0x06;
    memset(r + 528, 0x11, 48); /* mr_td */
    memset(r + 576, 0x22, 48); /* mr_config_id */
    memset(r + 624, 0x33, 48); /* mr_owner */
    memset(r + 672, 0x44, 48); /* mr_owner_config */
    for (int i = 0; i < 4; i++)
        memset(r + 720 + 48 * i, 0xA0 + i, 48);
    memset(r + 912, 0x99, 48); /* servtd hash */

    mk_tdx_td_report rep;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_tdreport_parse(r, sizeof r, &rep, &err), 0, &err);
    assert_int_equal(rep.report_data[0], 0x40);
    assert_int_equal(rep.report_data[63], 0x40 + 63);
    assert_int_equal(rep.tee_tcb_svn[0], 6);
    assert_int_equal(rep.tee_tcb_svn[1], 1);
    assert_int_equal(rep.mr_seam[47], 0x5E);
    assert_true(rep.td_attributes == 0x10000000ull);
    assert_true(rep.xfam == 0x602e7ull);
    assert_int_equal(rep.mr_td[0], 0x11);
    assert_int_equal(rep.mr_config_id[47], 0x22);
    assert_int_equal(rep.mr_owner[0], 0x33);
    assert_int_equal(rep.mr_owner_config[0], 0x44);
    assert_int_equal(rep.rtmr[0][0], 0xA0);
    assert_int_equal(rep.rtmr[3][47], 0xA3);
    /* Version 0 (TDX 1.0): no 1.5 fields. */
    assert_int_equal(rep.tee_tcb_svn2[0], 0);
    assert_int_equal(rep.mr_service_td[0], 0);
    r[2] = 1; /* TDX 1.5 */
    TU_ASSERT_RC(mk_tdx_tdreport_parse(r, sizeof r, &rep, &err), 0, &err);
    assert_int_equal(rep.tee_tcb_svn2[0], 0x0D);
    assert_int_equal(rep.mr_service_td[0], 0x99);

    TU_ASSERT_RC(mk_tdx_tdreport_parse(r, 1023, &rep, &err), MK_EMALFORMED, &err);
    r[0] = 0x00; /* SGX */
    TU_ASSERT_RC(mk_tdx_tdreport_parse(r, sizeof r, &rep, &err), MK_EMALFORMED, &err);
}

/* ---- the shared interface ---- */

static bool other_available(const mk_tee_provider *p, mk_error *err) {
    (void)p, (void)err;
    return true;
}

static int other_evidence(mk_tee_provider *p, const uint8_t rd[64], mk_buf *ev, mk_buf *aux,
                          mk_error *err) {
    (void)p, (void)aux, (void)err;
    mk_buf_reset(ev);
    return mk_buf_append(ev, rd, 64);
}

static int other_measurements(mk_tee_provider *p, mk_tee_measurements *out, mk_error *err) {
    (void)p, (void)out, (void)err;
    return 0;
}

static void test_tee_view(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_tdx_provider *p = NULL;
    TU_ASSERT_RC(mk_tdx_provider_sim_new(g_sim, &td, &p, &err), 0, &err);
    assert_int_equal(mk_tee_provider_platform(p), MK_TEE_TDX);
    assert_true(mk_tee_provider_is_simulated(p));
    uint8_t d[48];
    memset(d, 0x33, sizeof d);
    TU_ASSERT_RC(mk_tdx_provider_extend_rtmr(p, 3, d, &err), 0, &err);
    mk_tee_measurements m;
    TU_ASSERT_RC(mk_tee_provider_measurements(p, &m, &err), 0, &err);
    assert_int_equal(m.platform, MK_TEE_TDX);
    assert_int_equal(m.n, 8);
    const mk_tee_register *mrtd = mk_tee_measurements_find(&m, "MRTD");
    assert_non_null(mrtd);
    assert_int_equal(mrtd->len, 48);
    assert_memory_equal(mrtd->value, td.mr_td, 48);
    uint8_t r3[48];
    TU_ASSERT_RC(mk_tdx_provider_read_rtmr(p, 3, r3, &err), 0, &err);
    assert_memory_equal(mk_tee_measurements_find(&m, "RTMR3")->value, r3, 48);
    assert_non_null(mk_tee_measurements_find(&m, "MROWNERCONFIG"));
    /* Evidence through the shared interface is a TDX quote; no aux data. */
    uint8_t rd[64];
    memset(rd, 0x44, sizeof rd);
    mk_buf q = MK_BUF_INIT, aux = MK_BUF_INIT;
    mk_buf_append(&aux, "x", 1);
    TU_ASSERT_RC(mk_tee_provider_evidence(p, rd, &q, &aux, &err), 0, &err);
    assert_int_equal(aux.len, 0);
    mk_tdx_quote parsed;
    TU_ASSERT_RC(mk_tdx_quote_parse(q.data, q.len, &parsed, &err), 0, &err);
    assert_memory_equal(parsed.body.report_data, rd, 64);
    /* The shared attester over it makes TDX tickets. */
    mk_tee_attester_config cfg;
    mk_tee_attester_config_init(&cfg);
    cfg.provider = p;
    mk_tee_attester *a = NULL;
    TU_ASSERT_RC(mk_tee_attester_new(&cfg, &a, &err), 0, &err);
    mk_id peer, net;
    mk_id_from_name(&peer, "peer");
    mk_id_from_name(&net, "net");
    mk_ticket g;
    TU_ASSERT_RC(mk_tee_attester_ticket(a, &peer, &net, T0, &g, &err), 0, &err);
    mk_tdx_ticket t;
    TU_ASSERT_RC(mk_tdx_ticket_from_generic(&g, &t, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_ticket_check_binding(&t, &err), 0, &err);
    assert_null(t.collateral);
    mk_tdx_ticket_free(&t);
    mk_ticket_free(&g);
    mk_tee_attester_free(a);
    mk_buf_free(&q), mk_buf_free(&aux);

    /* Another platform's provider is not a TDX provider. */
    static const mk_tee_ticket_format other_fmt = {.platform = MK_TEE_SNP,
                                                   .label = "other ticket",
                                                   .class_name = "other",
                                                   .domain = "other",
                                                   .evidence_name = "report",
                                                   .endorsements_name = "certs",
                                                   .version = 1,
                                                   .evidence_max = 100,
                                                   .endorsements_max = 100};
    static const mk_tee_provider_ops other = {.name = "other",
                                              .platform = MK_TEE_SNP,
                                              .ticket = &other_fmt,
                                              .available = other_available,
                                              .evidence = other_evidence,
                                              .measurements = other_measurements};
    mk_tee_provider *o = mk_tee_provider_alloc(&other, NULL);
    assert_non_null(o);
    mk_tdx_td_report rep;
    TU_ASSERT_RC(mk_tdx_provider_quote(o, rd, &q, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "TDX quote: other is not a TDX provider");
    TU_ASSERT_RC(mk_tdx_provider_report(o, rd, &rep, &err), MK_EINVAL, &err);
    TU_ASSERT_RC(mk_tdx_provider_read_rtmr(o, 0, r3, &err), MK_EINVAL, &err);
    TU_ASSERT_RC(mk_tdx_provider_extend_rtmr(o, 3, d, &err), MK_EINVAL, &err);
    assert_int_equal(mk_tdx_provider_set_measurements_dir(o, "/tmp"), MK_EINVAL);
    mk_tdx_attester *ta = NULL;
    TU_ASSERT_RC(mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = o}, &ta, &err),
                 MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "attester: other is not a TDX provider");
    assert_null(ta);
    mk_tee_provider_free(o);
    mk_tdx_provider_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configfs_quote),
        cmocka_unit_test(test_configfs_threads),
        cmocka_unit_test(test_configfs_wrong_provider),
        cmocka_unit_test(test_configfs_concurrent_writer),
        cmocka_unit_test(test_configfs_timeout),
        cmocka_unit_test(test_configfs_missing),
        cmocka_unit_test(test_devtdx_absent),
        cmocka_unit_test(test_rtmr_sysfs),
        cmocka_unit_test(test_auto_unavailable),
        cmocka_unit_test(test_tdreport_parse),
        cmocka_unit_test(test_tee_view),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
