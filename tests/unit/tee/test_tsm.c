/*
 * tests/unit/tee/test_tsm.c — the shared configfs-tsm core (tee/tsm.c)
 * against a temporary directory tree that plays the kernel, as an SEV-SNP
 * guest would see it (provider "sev_guest", privlevel, auxblob):
 *
 * a responder thread gives each new entry its attribute files (provider,
 * generation, inblob, privlevel) and, when 64 bytes land in inblob, bumps
 * generation once per write it saw (privlevel, inblob) and writes
 * outblob = "OUT:" || inblob and, in the modes that have one, auxblob (a
 * certificate table stand-in). Files are replaced atomically with rename.
 * Modes: normal, no auxblob, an auxblob over the cap, another provider, a
 * concurrent writer on the first attempt, and "never answers".
 */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "tee/tee_internal.h"

enum mode { M_NORMAL, M_NOAUX, M_BIGAUX, M_WRONG_PROVIDER, M_RACE_ONCE, M_SILENT };

typedef struct fake_kernel {
    char dir[512];
    atomic_int mode;
    atomic_bool stop;
    atomic_int answered;
    atomic_int raced;
    atomic_int privlevel; /* last privlevel written, -1: none */
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

static void serve_entry(fake_kernel *k, const char *entry, const char *name) {
    int mode = atomic_load(&k->mode);
    if (!seen(k, name)) {
        if (k->nseen < 64) snprintf(k->seen[k->nseen++], sizeof k->seen[0], "%s", name);
        const char *prov = mode == M_WRONG_PROVIDER ? "tdx_guest\n" : "sev_guest\n";
        put_file(entry, "inblob", "", 0);
        put_file(entry, "privlevel", "", 0);
        put_file(entry, "generation", "3\n", 2);
        put_file(entry, "provider", prov, strlen(prov));
        return;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/outblob", entry);
    if (access(path, F_OK) == 0) return; /* answered */
    uint8_t in[64];
    if (get_file(entry, "inblob", in, sizeof in) != 64 || mode == M_SILENT) return;
    char lvl[8] = "";
    size_t ln = get_file(entry, "privlevel", (uint8_t *)lvl, sizeof lvl - 1);
    lvl[ln] = 0;
    atomic_store(&k->privlevel, ln ? atoi(lvl) : -1);
    bool race = mode == M_RACE_ONCE && atomic_load(&k->raced) == 0;
    if (race) atomic_fetch_add(&k->raced, 1);
    char gen[8];
    int gl = snprintf(gen, sizeof gen, "%d\n", 3 + (ln ? 1 : 0) + 1 + (race ? 1 : 0));
    put_file(entry, "generation", gen, (size_t)gl);
    if (mode == M_NORMAL) put_file(entry, "auxblob", "CERT-TABLE", 10);
    if (mode == M_BIGAUX) {
        static uint8_t big[5000];
        put_file(entry, "auxblob", big, sizeof big);
    }
    uint8_t out[68];
    memcpy(out, "OUT:", 4);
    memcpy(out + 4, in, 64);
    put_file(entry, "outblob", out, sizeof out);
    atomic_fetch_add(&k->answered, 1);
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
    snprintf(k->dir, sizeof k->dir, "%s/mk_tsm_tee_XXXXXX", MOSAIK_BINARY_DIR);
    assert_non_null(mkdtemp(k->dir));
    atomic_init(&k->mode, mode);
    atomic_init(&k->privlevel, -2);
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

static mk_tee_tsm_request request(const fake_kernel *k, const uint8_t rd[64], int privlevel) {
    return (mk_tee_tsm_request){
        .dir = k->dir,
        .provider = "sev_guest",
        .guest = "SEV-SNP guest",
        .what = "report",
        .inblob = rd,
        .inblob_len = 64,
        .privlevel = privlevel,
        .outblob_max = 4000,
        .auxblob_max = 4096,
        .timeout_ms = 10000,
    };
}

static void test_report_with_auxblob(void **state) {
    (void)state;
    fake_kernel *k = kernel_start(M_NORMAL);
    mk_error err;
    mk_error_clear(&err);
    assert_true(mk_tee_tsm_available(k->dir, "SEV-SNP guest", &err));
    uint8_t rd[64];
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)(i + 1);
    mk_buf out = MK_BUF_INIT, aux = MK_BUF_INIT;
    /* privlevel (a VMPL) is written before inblob; both writes count. */
    mk_tee_tsm_request r = request(k, rd, 2);
    TU_ASSERT_RC(mk_tee_tsm_report(&r, &out, &aux, &err), 0, &err);
    assert_int_equal(out.len, 68);
    assert_memory_equal(out.data, "OUT:", 4);
    assert_memory_equal(out.data + 4, rd, 64);
    assert_int_equal(aux.len, 10);
    assert_memory_equal(aux.data, "CERT-TABLE", 10);
    assert_int_equal(atomic_load(&k->privlevel), 2);
    /* Without privlevel; aux not wanted. */
    r = request(k, rd, -1);
    TU_ASSERT_RC(mk_tee_tsm_report(&r, &out, NULL, &err), 0, &err);
    assert_int_equal(atomic_load(&k->privlevel), -1);
    assert_int_equal(aux.len, 10); /* untouched */
    /* auxblob_max 0: aux is not read. */
    r.auxblob_max = 0;
    TU_ASSERT_RC(mk_tee_tsm_report(&r, &out, &aux, &err), 0, &err);
    assert_int_equal(aux.len, 10);
    assert_int_equal(atomic_load(&k->answered), 3);
    /* Bad requests. */
    r = request(k, rd, 4);
    TU_ASSERT_RC(mk_tee_tsm_report(&r, &out, &aux, &err), MK_EINVAL, &err);
    r = request(k, rd, -1);
    r.inblob_len = 65;
    TU_ASSERT_RC(mk_tee_tsm_report(&r, &out, &aux, &err), MK_EINVAL, &err);
    r = request(k, rd, -1);
    r.provider = NULL;
    TU_ASSERT_RC(mk_tee_tsm_report(&r, &out, &aux, &err), MK_EINVAL, &err);
    mk_buf_free(&out), mk_buf_free(&aux);
    kernel_stop(k);
}

static void test_auxblob_absent_or_big(void **state) {
    (void)state;
    uint8_t rd[64] = {7};
    mk_error err;
    mk_error_clear(&err);
    fake_kernel *k = kernel_start(M_NOAUX);
    mk_buf out = MK_BUF_INIT, aux = MK_BUF_INIT;
    mk_buf_append(&aux, "old", 3);
    mk_tee_tsm_request r = request(k, rd, -1);
    TU_ASSERT_RC(mk_tee_tsm_report(&r, &out, &aux, &err), 0, &err);
    assert_int_equal(aux.len, 0); /* no certificates from the host */
    kernel_stop(k);

    k = kernel_start(M_BIGAUX);
    r = request(k, rd, -1);
    mk_buf_reset(&out);
    TU_ASSERT_RC(mk_tee_tsm_report(&r, &out, &aux, &err), MK_ETOOBIG, &err);
    TU_ASSERT_REASON(&err, "configfs-tsm: auxblob larger than 4096 bytes");
    assert_int_equal(out.len, 0); /* nothing handed out on failure */
    mk_buf_free(&out), mk_buf_free(&aux);
    kernel_stop(k);
}

static void test_refusals(void **state) {
    (void)state;
    uint8_t rd[64] = {9};
    mk_error err;
    mk_error_clear(&err);
    mk_buf out = MK_BUF_INIT;
    /* Another platform's kernel provider. */
    fake_kernel *k = kernel_start(M_WRONG_PROVIDER);
    mk_tee_tsm_request r = request(k, rd, -1);
    TU_ASSERT_RC(mk_tee_tsm_report(&r, &out, NULL, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err,
                     "configfs-tsm: provider is \"tdx_guest\", not \"sev_guest\" (not a SEV-SNP "
                     "guest)");
    kernel_stop(k);
    /* A concurrent writer on the first attempt: the retry succeeds. */
    k = kernel_start(M_RACE_ONCE);
    r = request(k, rd, 1);
    TU_ASSERT_RC(mk_tee_tsm_report(&r, &out, NULL, &err), 0, &err);
    assert_int_equal(atomic_load(&k->raced), 1);
    assert_int_equal(atomic_load(&k->answered), 2);
    kernel_stop(k);
    /* Nobody answers: the request's own time limit. */
    k = kernel_start(M_SILENT);
    r = request(k, rd, -1);
    r.timeout_ms = 300;
    TU_ASSERT_RC(mk_tee_tsm_report(&r, &out, NULL, &err), MK_ETIMEDOUT, &err);
    TU_ASSERT_REASON(&err, "no report in");
    TU_ASSERT_REASON(&err, "within 300 ms");
    kernel_stop(k);
    /* No report dir at all. */
    char dir[400];
    snprintf(dir, sizeof dir, "%s/mk_no_tsm_%d/report", MOSAIK_BINARY_DIR, (int)getpid());
    assert_false(mk_tee_tsm_available(dir, "SEV-SNP guest", &err));
    assert_int_equal(err.code, MK_EUNAVAILABLE);
    TU_ASSERT_REASON(&err, "(not a SEV-SNP guest, or configfs not mounted)");
    fake_kernel none = {0};
    snprintf(none.dir, sizeof none.dir, "%s", dir);
    r = request(&none, rd, -1);
    TU_ASSERT_RC(mk_tee_tsm_report(&r, &out, NULL, &err), MK_EUNAVAILABLE, &err);
    mk_buf_free(&out);
}

static void test_attr_files(void **state) {
    (void)state;
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/mk_attr_XXXXXX", MOSAIK_BINARY_DIR);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/generation", dir);
    mk_buf b = MK_BUF_INIT;
    assert_int_equal(mk_tee_attr_read(path, 10, &b), -ENOENT);
    assert_int_equal(mk_tee_attr_write(path, "x", 1), -ENOENT); /* never created */
    assert_int_equal(mk_file_write(path, "12 \n\n", 5, 0600, NULL), 0);
    char text[8];
    assert_int_equal(mk_tee_attr_read_text(path, text, sizeof text), 0);
    assert_string_equal(text, "12");
    assert_int_equal(mk_tee_attr_read_text(path, text, 2), -EFBIG);
    assert_int_equal(mk_tee_attr_read(path, 4, &b), -EFBIG);
    assert_int_equal(mk_tee_attr_write(path, "345", 3), 0);
    assert_int_equal(mk_tee_attr_read(path, 10, &b), 0);
    assert_int_equal(b.len, 5); /* an attribute write does not truncate */
    assert_true(mk_tee_errno_transient(EBUSY) && mk_tee_errno_transient(EAGAIN));
    assert_false(mk_tee_errno_transient(EIO));
    uint64_t t0 = mk_tee_mono_ms();
    mk_tee_sleep_ms(20);
    assert_true(mk_tee_mono_ms() - t0 >= 20);
    mk_buf_free(&b);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_with_auxblob),
        cmocka_unit_test(test_auxblob_absent_or_big),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_attr_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
