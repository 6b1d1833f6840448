/*
 * tee/snp/provider.c — SEV-SNP report providers on the shared provider
 * interface (tee/provider.c): construction and settings, the SNP-typed
 * mk_snp_provider_report, the local measurements every kind shares, the
 * "auto" choice among the real providers, and the simulator wrapped as a
 * provider (the simulator itself is sim.c; the Linux interfaces are
 * provider_linux.c).
 *
 * Every SNP provider has platform MK_TEE_SNP, the SNP ticket format, an
 * mk_snp_provider_state, and mk_snp_provider_destroy as its destroy
 * function, by which SNP's functions recognise their own providers. Its
 * evidence is a 1184-byte report whose structure parses and whose
 * report data is exactly what was asked for (anything else from a kernel
 * or host is refused); its auxiliary data is the host's certificate table,
 * parsed before it is handed on (certtable.c; empty when the host gave
 * none). Measurements come from a fresh report with zero report data:
 * MEASUREMENT, HOST_DATA, ID_KEY_DIGEST, AUTHOR_KEY (the author key
 * digest), FAMILY_ID, IMAGE_ID, GUEST_SVN (u32le) and REPORTED_TCB (u64le).
 *
 * The simulator provider reports for a copy of its simulated guest taken
 * at construction (the VMPL setting, when made, replaces the guest's) and
 * hands over the simulator's certificate table. It is named "simulator
 * (NOT real SEV-SNP)", is_simulated, and is never chosen by "auto".
 *
 * Invariants: no provider ever falls back to the simulator; the VMPL
 * setting is atomic, so it may change while other threads use the
 * provider; a failed request leaves the caller's buffers as they were.
 */
#include <stdlib.h>
#include <string.h>

#include "tee/snp/snp_internal.h"

/* ---------------------------------------------------------------- */
/* Construction and settings                                         */
/* ---------------------------------------------------------------- */

static void state_free(mk_snp_provider_state *s) {
    if (!s) return;
    mk_snp_sim_free(s->sim);
    free(s->path);
    free(s);
}

void mk_snp_provider_destroy(mk_tee_provider *p) {
    state_free(p->state);
    p->state = NULL;
}

mk_tee_provider *mk_snp_provider_alloc(const mk_tee_provider_ops *ops, const char *path) {
    mk_snp_provider_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    atomic_init(&s->vmpl, -1);
    s->path = path ? strdup(path) : NULL;
    mk_tee_provider *p = (path && !s->path) ? NULL : mk_tee_provider_alloc(ops, s);
    if (!p) state_free(s);
    return p;
}

bool mk_snp_provider_is_snp(const mk_tee_provider *p) {
    return p && p->ops->platform == MK_TEE_SNP && p->ops->destroy == mk_snp_provider_destroy;
}

int mk_snp_provider_set_vmpl(mk_tee_provider *p, int vmpl) {
    if (!mk_snp_provider_is_snp(p) || vmpl < -1 || vmpl > 3) return MK_EINVAL;
    atomic_store(&((mk_snp_provider_state *)p->state)->vmpl, vmpl);
    return 0;
}

int mk_snp_provider_check_report(const uint8_t rd[64], const mk_buf *report, const char *who,
                                 mk_error *err) {
    mk_snp_report r;
    int rc = mk_snp_report_parse(report->data, report->len, &r, err);
    if (rc < 0) return mk_error_prefix(err, rc, "%s", who);
    if (memcmp(r.report_data, rd, 64) != 0)
        return mk_error_set(err, MK_EMISMATCH,
                            "%s: the report's report data is not the one asked for", who);
    return 0;
}

int mk_snp_provider_check_table(mk_buf *aux, const char *who, mk_error *err) {
    mk_snp_cert_table t;
    int rc = mk_snp_cert_table_parse(aux->data, aux->len, &t, err);
    if (rc < 0) return mk_error_prefix(err, rc, "%s", who);
    size_t end = 0;
    for (size_t i = 0; i < t.n; i++)
        if (t.e[i].offset + t.e[i].len > end) end = t.e[i].offset + t.e[i].len;
    aux->len = end; /* whole pages from the kernel: drop the padding */
    return 0;
}

int mk_snp_provider_report(mk_tee_provider *p, const uint8_t report_data[64], mk_buf *report,
                           mk_buf *certs, mk_error *err) {
    if (!mk_snp_provider_is_snp(p)) return mk_error_set(err, MK_EINVAL, "not an SEV-SNP provider");
    return mk_tee_provider_evidence(p, report_data, report, certs, err);
}

/* ---------------------------------------------------------------- */
/* Measurements                                                      */
/* ---------------------------------------------------------------- */

int mk_snp_provider_measurements(mk_tee_provider *p, mk_tee_measurements *out, mk_error *err) {
    uint8_t rd[64] = {0};
    mk_buf rep;
    mk_buf_init(&rep, 0);
    mk_snp_report r;
    int rc = p->ops->evidence(p, rd, &rep, NULL, err);
    if (rc == 0) rc = mk_snp_report_parse(rep.data, rep.len, &r, err);
    if (rc == 0) {
        uint8_t svn[4], tcb[8];
        for (int i = 0; i < 8; i++) {
            if (i < 4) svn[i] = (uint8_t)(r.guest_svn >> (8 * i));
            tcb[i] = (uint8_t)(r.reported_tcb >> (8 * i));
        }
        const struct {
            const char *name;
            const uint8_t *v;
            size_t n;
        } regs[] = {{"MEASUREMENT", r.measurement, 48},
                    {"HOST_DATA", r.host_data, 32},
                    {"ID_KEY_DIGEST", r.id_key_digest, 48},
                    {"AUTHOR_KEY", r.author_key_digest, 48},
                    {"FAMILY_ID", r.family_id, 16},
                    {"IMAGE_ID", r.image_id, 16},
                    {"GUEST_SVN", svn, 4},
                    {"REPORTED_TCB", tcb, 8}};
        for (size_t i = 0; rc == 0 && i < sizeof regs / sizeof regs[0]; i++)
            rc = mk_tee_measurements_add(out, regs[i].name, regs[i].v, regs[i].n);
        if (rc < 0) mk_error_set(err, rc, "measurements: too many registers");
    }
    mk_buf_free(&rep);
    return rc;
}

/* ---------------------------------------------------------------- */
/* The simulator as a provider                                       */
/* ---------------------------------------------------------------- */

static bool sim_available(const mk_tee_provider *p, mk_error *err) {
    (void)p;
    (void)err;
    return true;
}

static int sim_evidence(mk_tee_provider *p, const uint8_t rd[64], mk_buf *evidence, mk_buf *aux,
                        mk_error *err) {
    mk_snp_provider_state *s = p->state;
    mk_snp_sim_guest g = s->guest;
    int vmpl = atomic_load(&s->vmpl);
    if (vmpl >= 0) g.vmpl = (uint32_t)vmpl;
    mk_buf rep, tab;
    mk_buf_init(&rep, 0);
    mk_buf_init(&tab, 0);
    int rc = mk_snp_sim_report(s->sim, &g, rd, &rep, err);
    if (rc == 0 && aux) rc = mk_snp_sim_cert_table(s->sim, &tab, err);
    if (rc == 0) {
        mk_buf_free(evidence);
        *evidence = rep;
        mk_buf_init(&rep, 0);
        if (aux) {
            mk_buf_free(aux);
            *aux = tab;
            mk_buf_init(&tab, 0);
        }
    }
    mk_buf_free(&rep);
    mk_buf_free(&tab);
    return rc;
}

static const mk_tee_provider_ops sim_ops = {
    .name = "simulator (NOT real SEV-SNP)",
    .platform = MK_TEE_SNP,
    .is_simulated = true,
    .ticket = &mk_snp_ticket_format,
    .available = sim_available,
    .evidence = sim_evidence,
    .measurements = mk_snp_provider_measurements,
    .destroy = mk_snp_provider_destroy,
};

int mk_snp_provider_sim_new(mk_snp_sim *sim, const mk_snp_sim_guest *g, mk_tee_provider **out,
                            mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "simulator provider: no out");
    *out = NULL;
    if (!sim) return mk_error_set(err, MK_EINVAL, "simulator provider: no simulator");
    mk_tee_provider *p = mk_snp_provider_alloc(&sim_ops, NULL);
    if (!p) return mk_error_set(err, MK_ENOMEM, "out of memory");
    mk_snp_provider_state *s = p->state;
    s->sim = mk_snp_sim_ref(sim);
    if (g)
        s->guest = *g;
    else
        mk_snp_sim_guest_default(&s->guest);
    *out = p;
    return 0;
}

/* ---------------------------------------------------------------- */
/* Constructors of the real providers, and auto                      */
/* ---------------------------------------------------------------- */

int mk_snp_provider_configfs_new(const char *dir, mk_tee_provider **out, mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "configfs-tsm provider: no out");
    *out = mk_snp_provider_alloc(&mk_snp_provider_configfs_ops, dir ? dir : MK_TEE_TSM_REPORT_DIR);
    return *out ? 0 : mk_error_set(err, MK_ENOMEM, "out of memory");
}

int mk_snp_provider_devsev_new(const char *dev, mk_tee_provider **out, mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "sev-guest provider: no out");
    *out = mk_snp_provider_alloc(&mk_snp_provider_devsev_ops, dev ? dev : MK_SNP_GUEST_DEV);
    return *out ? 0 : mk_error_set(err, MK_ENOMEM, "out of memory");
}

int mk_snp_provider_auto_new(mk_tee_provider **out, mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "auto provider: no out");
    *out = NULL;
    mk_tee_provider *p = NULL;
    mk_error e1, e2;
    mk_error_clear(&e1);
    mk_error_clear(&e2);
    MK_TRY(mk_snp_provider_configfs_new(NULL, &p, err));
    if (mk_tee_provider_available(p, &e1)) {
        *out = p;
        return 0;
    }
    mk_tee_provider_free(p);
    MK_TRY(mk_snp_provider_devsev_new(NULL, &p, err));
    if (mk_tee_provider_available(p, &e2)) {
        *out = p;
        return 0;
    }
    mk_tee_provider_free(p);
    return mk_error_set(err, MK_EUNAVAILABLE, "no SEV-SNP guest interface here (%s; %s)", e1.msg,
                        e2.msg);
}
