/*
 * tee/snp/provider_linux.c — the SEV-SNP guest interfaces of Linux as
 * report providers: configfs-tsm ("sev_guest") and /dev/sev-guest
 * (SNP_GET_EXT_REPORT). The shared provider code is provider.c.
 *
 * configfs-tsm: one report request of the shared core (tee/tsm.c: a fresh
 * entry, provider "sev_guest", the generation race check, bounded
 * retries) with the 64 bytes of report data as inblob (sev_guest wants
 * exactly 64), privlevel when a VMPL is set, the report from outblob
 * (capped at MK_SNP_REPORT_RESP_LEN) and the certificate table from
 * auxblob (capped at MK_SNP_CERT_TABLE_MAX; absent: the host gave none).
 *
 * /dev/sev-guest (include/uapi/linux/sev-guest.h): SNP_GET_EXT_REPORT =
 * _IOWR('S', 2, struct snp_guest_request_ioctl) = 0xC0205302 with
 *   snp_guest_request_ioctl {u8 msg_version = 1; u64 req_data; u64
 *   resp_data; u64 exitinfo2 (bits 31:0 firmware error, 63:32 VMM error)}
 *   snp_ext_report_req {snp_report_req {user_data[64]; u32 vmpl; rsvd[28]};
 *   u64 certs_address; u32 certs_len}
 *   snp_report_resp {data[4000]} = MSG_REPORT_RSP: status u32 @0,
 *   report_size u32 @4, the report @0x20.
 * The certificate buffer starts at one page; when the host says it is too
 * small (EIO with VMM error INVALID_LEN) the kernel has rewritten
 * certs_len with the size needed, and the request is repeated once with a
 * buffer that large (at most MK_SNP_CERT_TABLE_MAX; the kernel has already
 * advanced its message sequence number, so the retry reuses no IV). The
 * response is read through mk_reader: a non-zero status or a report_size
 * other than 1184 is refused. The ioctl goes through mk_snp_dev_ioctl so
 * tests can play the kernel.
 *
 * Invariants: every size from the kernel is capped; the caller's buffers
 * change only on success; errno and both error halves are in the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tee/snp/snp_internal.h"

_Static_assert(sizeof(mk_snp_report_req) == 96, "snp_report_req layout");
_Static_assert(sizeof(mk_snp_ext_report_req) == 112, "snp_ext_report_req layout");
_Static_assert(sizeof(mk_snp_guest_request_ioctl) == 32, "snp_guest_request_ioctl layout");
_Static_assert(MK_SNP_GET_EXT_REPORT == _IOWR('S', 2, mk_snp_guest_request_ioctl),
               "SNP_GET_EXT_REPORT value");

static int sys_ioctl(int fd, unsigned long request, void *arg) {
    return ioctl(fd, request, arg);
}

int (*mk_snp_dev_ioctl)(int fd, unsigned long request, void *arg) = sys_ioctl;

/* Hand over a report and table on success. */
static void give(mk_buf *evidence, mk_buf *rep, mk_buf *aux, mk_buf *tab) {
    mk_buf_free(evidence);
    *evidence = *rep;
    mk_buf_init(rep, 0);
    if (aux) {
        mk_buf_free(aux);
        *aux = *tab;
        mk_buf_init(tab, 0);
    }
}

/* ---------------------------------------------------------------- */
/* configfs-tsm                                                      */
/* ---------------------------------------------------------------- */

static bool configfs_available(const mk_tee_provider *p, mk_error *err) {
    return mk_tee_tsm_available(((mk_snp_provider_state *)p->state)->path, "SEV-SNP guest", err);
}

static int configfs_evidence(mk_tee_provider *p, const uint8_t rd[64], mk_buf *evidence,
                             mk_buf *aux, mk_error *err) {
    mk_snp_provider_state *s = p->state;
    const mk_tee_tsm_request r = {
        .dir = s->path,
        .provider = "sev_guest",
        .guest = "SEV-SNP guest",
        .what = "report",
        .inblob = rd,
        .inblob_len = 64,
        .privlevel = atomic_load(&s->vmpl),
        .outblob_max = MK_SNP_REPORT_RESP_LEN,
        .auxblob_max = aux ? MK_SNP_CERT_TABLE_MAX : 0,
        .timeout_ms = mk_tee_provider_timeout_ms(p),
    };
    mk_buf rep, tab;
    mk_buf_init(&rep, 0);
    mk_buf_init(&tab, 0);
    int rc = mk_tee_tsm_report(&r, &rep, aux ? &tab : NULL, err);
    if (rc == 0) rc = mk_snp_provider_check_report(rd, &rep, "configfs-tsm", err);
    if (rc == 0 && aux) rc = mk_snp_provider_check_table(&tab, "configfs-tsm auxblob", err);
    if (rc == 0) give(evidence, &rep, aux, &tab);
    mk_buf_free(&rep);
    mk_buf_free(&tab);
    return rc;
}

const mk_tee_provider_ops mk_snp_provider_configfs_ops = {
    .name = "configfs-tsm (sev_guest)",
    .platform = MK_TEE_SNP,
    .is_simulated = false,
    .ticket = &mk_snp_ticket_format,
    .available = configfs_available,
    .evidence = configfs_evidence,
    .measurements = mk_snp_provider_measurements,
    .destroy = mk_snp_provider_destroy,
};

/* ---------------------------------------------------------------- */
/* /dev/sev-guest                                                    */
/* ---------------------------------------------------------------- */

static bool devsev_available(const mk_tee_provider *p, mk_error *err) {
    const char *path = ((mk_snp_provider_state *)p->state)->path;
    if (access(path, R_OK | W_OK) == 0) return true;
    mk_error_set(err, MK_EUNAVAILABLE, "sev-guest: %s: %s (not an SEV-SNP guest?)", path,
                 strerror(errno));
    return false;
}

/* The report out of MSG_REPORT_RSP. */
static int read_resp(const uint8_t *resp, mk_buf *rep, mk_error *err) {
    mk_reader r;
    mk_reader_init(&r, resp, MK_SNP_REPORT_RESP_LEN);
    uint32_t status = 0, size = 0;
    const uint8_t *body = NULL;
    int rc = mk_read_u32le(&r, &status);
    if (rc == 0) rc = mk_read_u32le(&r, &size);
    if (rc == 0) rc = mk_read_skip(&r, 0x18);
    if (rc < 0) return mk_error_set(err, MK_EIO, "sev-guest: short response");
    if (status)
        return mk_error_set(err, MK_EIO, "sev-guest: the firmware answered status 0x%x", status);
    if (size != MK_SNP_REPORT_LEN || mk_read_view(&r, size, &body) < 0)
        return mk_error_set(err, MK_EMALFORMED, "sev-guest: report_size %u (want %d)", size,
                            MK_SNP_REPORT_LEN);
    return mk_buf_append(rep, body, size) < 0 ? mk_error_set(err, MK_ENOMEM, "out of memory") : 0;
}

/* One SNP_GET_EXT_REPORT with a certificate buffer of *certs_len bytes
 * (rewritten by the kernel when too small): 0, or -errno with
 * *vmm / *fw the error halves. */
static int ext_report(int fd, const uint8_t rd[64], int vmpl, uint8_t *certs, uint32_t *certs_len,
                      uint8_t *resp, uint32_t *vmm, uint32_t *fw) {
    mk_snp_ext_report_req req;
    memset(&req, 0, sizeof req);
    memcpy(req.data.user_data, rd, 64);
    req.data.vmpl = (uint32_t)(vmpl < 0 ? 0 : vmpl);
    req.certs_address = (uint64_t)(uintptr_t)certs;
    req.certs_len = *certs_len;
    mk_snp_guest_request_ioctl io;
    memset(&io, 0, sizeof io);
    io.msg_version = 1;
    io.req_data = (uint64_t)(uintptr_t)&req;
    io.resp_data = (uint64_t)(uintptr_t)resp;
    io.exitinfo2 = 0xff;
    int rc = mk_snp_dev_ioctl(fd, MK_SNP_GET_EXT_REPORT, &io) < 0 ? -errno : 0;
    *vmm = (uint32_t)(io.exitinfo2 >> 32);
    *fw = (uint32_t)io.exitinfo2;
    *certs_len = req.certs_len;
    return rc;
}

static int devsev_request(int fd, const uint8_t rd[64], int vmpl, mk_buf *rep, mk_buf *tab,
                          mk_error *err) {
    uint8_t resp[MK_SNP_REPORT_RESP_LEN];
    uint32_t len = MK_SNP_CERTS_PAGE, vmm = 0, fw = 0;
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (mk_buf_reserve(tab, len) < 0) return mk_error_set(err, MK_ENOMEM, "out of memory");
        memset(tab->data, 0, len);
        memset(resp, 0, sizeof resp);
        uint32_t asked = len;
        rc = ext_report(fd, rd, vmpl, tab->data, &len, resp, &vmm, &fw);
        if (rc == -EIO && vmm == MK_SNP_VMM_ERR_INVALID_LEN && attempt == 0 && len > asked) {
            if (len > MK_SNP_CERT_TABLE_MAX || len % MK_SNP_CERTS_PAGE)
                return mk_error_set(err, MK_ETOOBIG,
                                    "sev-guest: the host's certificates need %u bytes (cap %d)",
                                    len, MK_SNP_CERT_TABLE_MAX);
            continue;
        }
        break;
    }
    if (rc < 0)
        return mk_error_set(err, rc == -EBUSY || rc == -EAGAIN ? MK_EBUSY : MK_EIO,
                            "sev-guest: SNP_GET_EXT_REPORT: %s (firmware error 0x%x, VMM error "
                            "0x%x)",
                            strerror(-rc), fw, vmm);
    tab->len = len <= MK_SNP_CERT_TABLE_MAX ? len : 0;
    return read_resp(resp, rep, err);
}

static int devsev_evidence(mk_tee_provider *p, const uint8_t rd[64], mk_buf *evidence, mk_buf *aux,
                           mk_error *err) {
    mk_snp_provider_state *s = p->state;
    int fd = open(s->path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return mk_error_set(err, errno == ENOENT ? MK_EUNAVAILABLE : MK_EIO, "sev-guest: %s: %s",
                            s->path, strerror(errno));
    mk_buf rep, tab;
    mk_buf_init(&rep, 0);
    mk_buf_init(&tab, 0);
    int rc = devsev_request(fd, rd, atomic_load(&s->vmpl), &rep, &tab, err);
    close(fd);
    if (rc == 0) rc = mk_snp_provider_check_report(rd, &rep, "sev-guest", err);
    if (rc == 0 && aux) rc = mk_snp_provider_check_table(&tab, "sev-guest certificates", err);
    if (rc == 0) give(evidence, &rep, aux, &tab);
    mk_buf_free(&rep);
    mk_buf_free(&tab);
    return rc;
}

const mk_tee_provider_ops mk_snp_provider_devsev_ops = {
    .name = "sev-guest",
    .platform = MK_TEE_SNP,
    .is_simulated = false,
    .ticket = &mk_snp_ticket_format,
    .available = devsev_available,
    .evidence = devsev_evidence,
    .measurements = mk_snp_provider_measurements,
    .destroy = mk_snp_provider_destroy,
};
