/*
 * tests/unit/tee/snp/test_snp_provider.c — SEV-SNP providers (provider.c,
 * provider_linux.c) and the attester (attester.c):
 *   - the simulator provider: labelled, reports for the asked report data,
 *     its certificate table, measurements, the VMPL setting;
 *   - configfs-tsm against a temporary tree played by a responder thread
 *     (provider "sev_guest"; outblob = a simulated report for inblob at the
 *     VMPL written to privlevel; auxblob = the simulator's certificate table
 *     padded to whole pages), and its refusals;
 *   - /dev/sev-guest with the ioctl replaced by a fake kernel that asks for
 *     a bigger certificate buffer first (EIO, VMM error INVALID_LEN), and
 *     firmware errors / bad sizes;
 *   - auto never picks the simulator;
 *   - attester -> ticket -> validator, with require_own from the provider.
 */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tee/snp/snp_internal.h"
#include "tee/tee_internal.h"

static mk_snp_sim *g_sim;

static int setup(void **state) {
    (void)state;
    mk_error err;
    return mk_snp_sim_new(NULL, &g_sim, &err);
}

static int teardown(void **state) {
    (void)state;
    mk_snp_sim_free(g_sim);
    return 0;
}

static void rd_fill(uint8_t rd[64], uint8_t v) {
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)(v + i);
}

/* ------------------------------------------------------------------ */
/* The simulator provider                                              */
/* ------------------------------------------------------------------ */

static void test_sim_provider(void **state) {
    (void)state;
    mk_snp_sim_guest g;
    mk_snp_sim_guest_default(&g);
    g.guest_svn = 9;
    mk_tee_provider *p = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_snp_provider_sim_new(g_sim, &g, &p, &err), 0, &err);
    assert_string_equal(mk_tee_provider_name(p), "simulator (NOT real SEV-SNP)");
    assert_true(mk_tee_provider_is_simulated(p));
    assert_int_equal(mk_tee_provider_platform(p), MK_TEE_SNP);
    assert_true(mk_tee_provider_available(p, &err));
    uint8_t rd[64];
    rd_fill(rd, 3);
    mk_buf rep = MK_BUF_INIT, tab = MK_BUF_INIT;
    TU_ASSERT_RC(mk_snp_provider_report(p, rd, &rep, &tab, &err), 0, &err);
    mk_snp_report r;
    TU_ASSERT_RC(mk_snp_report_parse(rep.data, rep.len, &r, &err), 0, &err);
    assert_memory_equal(r.report_data, rd, 64);
    assert_int_equal(r.guest_svn, 9);
    assert_int_equal(r.vmpl, 0);
    mk_snp_cert_table t;
    TU_ASSERT_RC(mk_snp_cert_table_parse(tab.data, tab.len, &t, &err), 0, &err);
    assert_int_equal(t.n, 3);
    /* VMPL setting. */
    assert_int_equal(mk_snp_provider_set_vmpl(p, 2), 0);
    TU_ASSERT_RC(mk_snp_provider_report(p, rd, &rep, NULL, &err), 0, &err);
    TU_ASSERT_RC(mk_snp_report_parse(rep.data, rep.len, &r, &err), 0, &err);
    assert_int_equal(r.vmpl, 2);
    assert_int_equal(mk_snp_provider_set_vmpl(p, 4), MK_EINVAL);
    assert_int_equal(mk_snp_provider_set_vmpl(NULL, 1), MK_EINVAL);
    assert_int_equal(mk_snp_provider_report(NULL, rd, &rep, NULL, &err), MK_EINVAL);
    /* Measurements. */
    mk_tee_measurements m;
    TU_ASSERT_RC(mk_tee_provider_measurements(p, &m, &err), 0, &err);
    assert_int_equal(m.platform, MK_TEE_SNP);
    const mk_tee_register *reg = mk_tee_measurements_find(&m, "MEASUREMENT");
    assert_non_null(reg);
    assert_int_equal(reg->len, 48);
    assert_memory_equal(reg->value, g.measurement, 48);
    reg = mk_tee_measurements_find(&m, "GUEST_SVN");
    assert_non_null(reg);
    assert_int_equal(reg->len, 4);
    assert_int_equal(reg->value[0], 9);
    assert_non_null(mk_tee_measurements_find(&m, "REPORTED_TCB"));
    assert_non_null(mk_tee_measurements_find(&m, "HOST_DATA"));
    mk_tee_provider_free(p);
    assert_int_equal(mk_snp_provider_sim_new(NULL, NULL, &p, &err), MK_EINVAL);
    assert_null(p);
    mk_buf_free(&rep);
    mk_buf_free(&tab);
}

static void test_sim_provider_free(void **state) {
    (void)state;
    mk_tee_provider *p = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_snp_provider_sim_new(g_sim, NULL, &p, &err), 0, &err);
    mk_tee_provider_free(p);
}

/* ------------------------------------------------------------------ */
/* configfs-tsm                                                        */
/* ------------------------------------------------------------------ */

enum mode { M_NORMAL, M_WRONG_RD, M_BAD_TABLE };

typedef struct fake_kernel {
    char dir[512];
    atomic_int mode;
    atomic_bool stop;
    atomic_int answered;
    char seen[64][256];
    int nseen;
    pthread_t thread;
} fake_kernel;

static void put_file(const char *dir, const char *name, const void *data, size_t len) {
    char tmp[1200], path[1200];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    if (len) fwrite(data, 1, len, f);
    fclose(f);
    rename(tmp, path);
}

static size_t get_file(const char *dir, const char *name, uint8_t *out, size_t cap) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(out, 1, cap, f);
    fclose(f);
    return n;
}

static bool seen(fake_kernel *k, const char *name) {
    for (int i = 0; i < k->nseen; i++)
        if (strcmp(k->seen[i], name) == 0) return true;
    return false;
}

static void answer(fake_kernel *k, const char *entry, const uint8_t in[64], int vmpl) {
    int mode = atomic_load(&k->mode);
    mk_snp_sim_guest g;
    mk_snp_sim_guest_default(&g);
    g.vmpl = vmpl < 0 ? 0 : (uint32_t)vmpl;
    uint8_t rd[64];
    memcpy(rd, in, 64);
    if (mode == M_WRONG_RD) rd[0] ^= 1;
    mk_buf rep = MK_BUF_INIT, tab = MK_BUF_INIT;
    if (mk_snp_sim_report(g_sim, &g, rd, &rep, NULL) < 0 ||
        mk_snp_sim_cert_table(g_sim, &tab, NULL) < 0)
        return;
    size_t padded = (tab.len + 4095) / 4096 * 4096;
    mk_buf_extend(&tab, padded - tab.len);
    if (mode == M_BAD_TABLE) tab.data[16] = 8; /* the VCEK entry's offset inside the header */
    char gen[8];
    int gl = snprintf(gen, sizeof gen, "%d\n", 3 + (vmpl >= 0 ? 1 : 0) + 1);
    put_file(entry, "generation", gen, (size_t)gl);
    put_file(entry, "auxblob", tab.data, tab.len);
    put_file(entry, "outblob", rep.data, rep.len);
    atomic_fetch_add(&k->answered, 1);
    mk_buf_free(&rep);
    mk_buf_free(&tab);
}

static void serve_entry(fake_kernel *k, const char *entry, const char *name) {
    if (!seen(k, name)) {
        if (k->nseen < 64) snprintf(k->seen[k->nseen++], sizeof k->seen[0], "%s", name);
        put_file(entry, "inblob", "", 0);
        put_file(entry, "privlevel", "", 0);
        put_file(entry, "generation", "3\n", 2);
        put_file(entry, "provider", "sev_guest\n", 10);
        return;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/outblob", entry);
    if (access(path, F_OK) == 0) return;
    uint8_t in[64];
    if (get_file(entry, "inblob", in, sizeof in) != 64) return;
    char lvl[8] = "";
    size_t ln = get_file(entry, "privlevel", (uint8_t *)lvl, sizeof lvl - 1);
    lvl[ln] = 0;
    answer(k, entry, in, ln ? atoi(lvl) : -1);
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
    snprintf(k->dir, sizeof k->dir, "%s/mk_tsm_snp_XXXXXX", MOSAIK_BINARY_DIR);
    assert_non_null(mkdtemp(k->dir));
    atomic_init(&k->mode, mode);
    assert_int_equal(pthread_create(&k->thread, NULL, responder, k), 0);
    return k;
}

static void kernel_stop(fake_kernel *k) {
    atomic_store(&k->stop, true);
    pthread_join(k->thread, NULL);
    rmdir(k->dir);
    free(k);
}

static void test_configfs(void **state) {
    (void)state;
    fake_kernel *k = kernel_start(M_NORMAL);
    mk_tee_provider *p = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_snp_provider_configfs_new(k->dir, &p, &err), 0, &err);
    assert_string_equal(mk_tee_provider_name(p), "configfs-tsm (sev_guest)");
    assert_false(mk_tee_provider_is_simulated(p));
    assert_true(mk_tee_provider_available(p, &err));
    uint8_t rd[64];
    rd_fill(rd, 7);
    mk_buf rep = MK_BUF_INIT, tab = MK_BUF_INIT;
    TU_ASSERT_RC(mk_snp_provider_report(p, rd, &rep, &tab, &err), 0, &err);
    assert_int_equal(rep.len, MK_SNP_REPORT_LEN);
    mk_buf want = MK_BUF_INIT;
    TU_ASSERT_RC(mk_snp_sim_cert_table(g_sim, &want, &err), 0, &err);
    assert_int_equal(tab.len, want.len); /* page padding trimmed */
    assert_memory_equal(tab.data, want.data, want.len);
    mk_snp_report r;
    TU_ASSERT_RC(mk_snp_report_parse(rep.data, rep.len, &r, &err), 0, &err);
    assert_int_equal(r.vmpl, 0);
    /* privlevel carries the VMPL. */
    assert_int_equal(mk_snp_provider_set_vmpl(p, 1), 0);
    TU_ASSERT_RC(mk_snp_provider_report(p, rd, &rep, NULL, &err), 0, &err);
    TU_ASSERT_RC(mk_snp_report_parse(rep.data, rep.len, &r, &err), 0, &err);
    assert_int_equal(r.vmpl, 1);
    /* A report made for other report data is refused; buffers unchanged. */
    atomic_store(&k->mode, M_WRONG_RD);
    size_t before = rep.len;
    assert_int_equal(mk_snp_provider_report(p, rd, &rep, &tab, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "configfs-tsm: the report's report data is not the one asked for");
    assert_int_equal(rep.len, before);
    assert_int_equal(tab.len, want.len);
    atomic_store(&k->mode, M_BAD_TABLE);
    assert_int_equal(mk_snp_provider_report(p, rd, &rep, &tab, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "configfs-tsm auxblob: certificate table: entry 1 (VCEK) at offset 8");
    mk_tee_provider_free(p);
    kernel_stop(k);

    /* No such tree. */
    TU_ASSERT_RC(mk_snp_provider_configfs_new("/nonexistent/tsm/report", &p, &err), 0, &err);
    assert_false(mk_tee_provider_available(p, &err));
    TU_ASSERT_REASON(&err, "/nonexistent/tsm/report not present (not a SEV-SNP guest");
    assert_int_equal(mk_snp_provider_report(p, rd, &rep, NULL, &err), MK_EUNAVAILABLE);
    mk_tee_provider_free(p);
    mk_buf_free(&rep);
    mk_buf_free(&tab);
    mk_buf_free(&want);
}

/* ------------------------------------------------------------------ */
/* /dev/sev-guest                                                      */
/* ------------------------------------------------------------------ */

static struct {
    int calls;
    int fail; /* 0 ok, 1 firmware error, 2 bad report size */
    uint32_t vmpl_seen;
} g_dev;

static int fake_ioctl(int fd, unsigned long request, void *arg) {
    (void)fd;
    g_dev.calls++;
    mk_snp_guest_request_ioctl *io = arg;
    if (request != MK_SNP_GET_EXT_REPORT || io->msg_version != 1) {
        errno = EINVAL;
        return -1;
    }
    mk_snp_ext_report_req *req = (mk_snp_ext_report_req *)(uintptr_t)io->req_data;
    uint8_t *resp = (uint8_t *)(uintptr_t)io->resp_data;
    g_dev.vmpl_seen = req->data.vmpl;
    if (g_dev.fail == 1) {
        io->exitinfo2 = 0x16;
        errno = EIO;
        return -1;
    }
    mk_buf tab = MK_BUF_INIT, rep = MK_BUF_INIT;
    mk_snp_sim_cert_table(g_sim, &tab, NULL);
    /* This host wants two pages, more than the first try offers. */
    uint32_t need = (uint32_t)((tab.len + 4095) / 4096 * 4096) + 4096;
    int rc = 0;
    if (req->certs_len < need) {
        req->certs_len = need;
        io->exitinfo2 = (uint64_t)MK_SNP_VMM_ERR_INVALID_LEN << 32;
        errno = EIO;
        rc = -1;
    } else {
        mk_snp_sim_guest g;
        mk_snp_sim_guest_default(&g);
        g.vmpl = req->data.vmpl;
        mk_snp_sim_report(g_sim, &g, req->data.user_data, &rep, NULL);
        memcpy((uint8_t *)(uintptr_t)req->certs_address, tab.data, tab.len);
        memset(resp, 0, MK_SNP_REPORT_RESP_LEN);
        uint32_t size = g_dev.fail == 2 ? 1000 : MK_SNP_REPORT_LEN;
        memcpy(resp + 4, &size, 4);
        memcpy(resp + 0x20, rep.data, rep.len);
        io->exitinfo2 = 0;
    }
    mk_buf_free(&tab);
    mk_buf_free(&rep);
    return rc;
}

static void test_devsev(void **state) {
    (void)state;
    char dev[] = "/tmp/mk_sev_guest_XXXXXX";
    int fd = mkstemp(dev);
    assert_true(fd >= 0);
    close(fd);
    int (*saved)(int, unsigned long, void *) = mk_snp_dev_ioctl;
    mk_snp_dev_ioctl = fake_ioctl;
    mk_tee_provider *p = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_snp_provider_devsev_new(dev, &p, &err), 0, &err);
    assert_string_equal(mk_tee_provider_name(p), "sev-guest");
    assert_true(mk_tee_provider_available(p, &err));
    uint8_t rd[64];
    rd_fill(rd, 11);
    mk_buf rep = MK_BUF_INIT, tab = MK_BUF_INIT, want = MK_BUF_INIT;
    memset(&g_dev, 0, sizeof g_dev);
    TU_ASSERT_RC(mk_snp_provider_report(p, rd, &rep, &tab, &err), 0, &err);
    assert_int_equal(g_dev.calls, 2); /* one page was too small: asked again */
    TU_ASSERT_RC(mk_snp_sim_cert_table(g_sim, &want, &err), 0, &err);
    assert_int_equal(tab.len, want.len);
    assert_memory_equal(tab.data, want.data, want.len);
    mk_snp_report r;
    TU_ASSERT_RC(mk_snp_report_parse(rep.data, rep.len, &r, &err), 0, &err);
    assert_memory_equal(r.report_data, rd, 64);
    assert_int_equal(mk_snp_provider_set_vmpl(p, 3), 0);
    TU_ASSERT_RC(mk_snp_provider_report(p, rd, &rep, NULL, &err), 0, &err);
    assert_int_equal(g_dev.vmpl_seen, 3);
    /* Firmware error; a bad report size. */
    g_dev.fail = 1;
    assert_int_equal(mk_snp_provider_report(p, rd, &rep, &tab, &err), MK_EIO);
    TU_ASSERT_REASON(&err, "SNP_GET_EXT_REPORT: Input/output error (firmware error 0x16");
    g_dev.fail = 2;
    assert_int_equal(mk_snp_provider_report(p, rd, &rep, &tab, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "sev-guest: report_size 1000 (want 1184)");
    assert_int_equal(tab.len, want.len); /* unchanged */
    mk_tee_provider_free(p);
    mk_snp_dev_ioctl = saved;
    unlink(dev);
    TU_ASSERT_RC(mk_snp_provider_devsev_new("/nonexistent/sev-guest", &p, &err), 0, &err);
    assert_false(mk_tee_provider_available(p, &err));
    TU_ASSERT_REASON(&err, "sev-guest: /nonexistent/sev-guest: No such file");
    assert_int_equal(mk_snp_provider_report(p, rd, &rep, NULL, &err), MK_EUNAVAILABLE);
    mk_tee_provider_free(p);
    mk_buf_free(&rep);
    mk_buf_free(&tab);
    mk_buf_free(&want);
}

static void test_auto(void **state) {
    (void)state;
    mk_tee_provider *p = NULL;
    mk_error err;
    int rc = mk_snp_provider_auto_new(&p, &err);
    if (rc == 0) { /* on a real SEV-SNP guest */
        assert_false(mk_tee_provider_is_simulated(p));
        mk_tee_provider_free(p);
        return;
    }
    assert_int_equal(rc, MK_EUNAVAILABLE);
    TU_ASSERT_REASON(&err, "no SEV-SNP guest interface here");
    TU_ASSERT_REASON(&err, MK_TEE_TSM_REPORT_DIR);
    TU_ASSERT_REASON(&err, MK_SNP_GUEST_DEV);
    assert_null(p);
}

/* ------------------------------------------------------------------ */
/* Attester -> ticket -> validator                                     */
/* ------------------------------------------------------------------ */

static void test_attester_to_validator(void **state) {
    (void)state;
    mk_tee_provider *p = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_snp_provider_sim_new(g_sim, NULL, &p, &err), 0, &err);
    mk_snp_attester_config ac;
    mk_snp_attester_config_init(&ac);
    ac.provider = p;
    ac.lifetime = 600;
    mk_snp_attester *a = NULL;
    TU_ASSERT_RC(mk_snp_attester_new(&ac, &a, &err), 0, &err);
    mk_id peer, net;
    mk_id_from_name(&peer, "node 1");
    mk_id_from_name(&net, "fleet");
    mk_ticket t;
    int64_t now = mk_now();
    TU_ASSERT_RC(mk_tee_attester_ticket(a, &peer, &net, now - 5, &t, &err), 0, &err);
    mk_id cls;
    mk_snp_ticket_class(&cls);
    assert_true(mk_id_eq(&t.class_id, &cls));
    mk_snp_ticket st;
    TU_ASSERT_RC(mk_snp_ticket_from_generic(&t, &st, &err), 0, &err);
    const char *pem;
    size_t n;
    mk_snp_sim_chain_pem(g_sim, &pem, &n);
    assert_int_equal(st.certs_len, n); /* the table's VCEK, ASK, ARK */
    assert_memory_equal(st.certs, pem, n);
    assert_int_equal(st.extra.expiration - st.extra.quoted_at, 600);
    TU_ASSERT_RC(mk_snp_ticket_check_binding(&st, &err), 0, &err);
    mk_snp_ticket_free(&st);

    /* The validator pins the local guest's measurement (require_own). */
    mk_snp_validator_config vc;
    mk_snp_validator_config_init(&vc);
    mk_snp_sim_root_der(g_sim, &vc.simulator_root_der, &vc.simulator_root_len);
    vc.own_provider = p;
    vc.require_own = MK_SNP_REQ_MEASUREMENT | MK_SNP_REQ_HOST_DATA;
    mk_validator *v = NULL;
    TU_ASSERT_RC(mk_snp_validator_new(&vc, &v, &err), 0, &err);
    mk_peer_view pv = {peer, net, &t, 1};
    mk_expiration exp;
    TU_ASSERT_RC(mk_validator_check(v, &pv, now, &exp, &err), 0, &err);
    assert_true(exp <= now + 600);
    mk_validator_free(v);

    /* A guest with another measurement is refused by that validator. */
    mk_snp_sim_guest g;
    mk_snp_sim_guest_default(&g);
    memset(g.measurement, 0x44, 48);
    mk_tee_provider *p2 = NULL;
    TU_ASSERT_RC(mk_snp_provider_sim_new(g_sim, &g, &p2, &err), 0, &err);
    vc.own_provider = p2;
    TU_ASSERT_RC(mk_snp_validator_new(&vc, &v, &err), 0, &err);
    assert_int_equal(mk_validator_check(v, &pv, now, &exp, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "measurement mismatch: want 4444");
    mk_validator_free(v);
    /* require_own without a provider is a configuration error. */
    vc.own_provider = NULL;
    assert_int_equal(mk_snp_validator_new(&vc, &v, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "require_own: no SEV-SNP provider");
    /* The attester needs an SNP provider. */
    ac.provider = NULL;
    mk_snp_attester *a2 = NULL;
    assert_int_equal(mk_snp_attester_new(&ac, &a2, &err), MK_EINVAL);
    assert_null(a2);
    /* An empty table gives no endorsements; a table without the leaf
     * refuses. */
    mk_buf e = MK_BUF_INIT;
    TU_ASSERT_RC(mk_snp_endorse_certs(NULL, NULL, 0, NULL, 0, &e, &err), 0, &err);
    assert_int_equal(e.len, 0);
    mk_ticket_free(&t);
    mk_tee_attester_free(a);
    mk_tee_provider_free(p);
    mk_tee_provider_free(p2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_provider), cmocka_unit_test(test_sim_provider_free),
        cmocka_unit_test(test_configfs),     cmocka_unit_test(test_devsev),
        cmocka_unit_test(test_auto),         cmocka_unit_test(test_attester_to_validator),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
