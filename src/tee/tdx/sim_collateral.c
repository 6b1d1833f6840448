/*
 * tee/tdx/sim_collateral.c — collateral for the simulator's platform, in
 * the dcap-qvl bundle form, signed by the simulated TCB signing key.
 *
 * The TCB info (TDX, version 3, FMSPC "MKSIM\0", PCE-ID 0000) has two
 * platform levels — UpToDate at the PCK certificate's SGX components,
 * PCESVN and the simulated TD's TDX components, and OutOfDate below it with
 * advisory MOSAIK-SIM-SA-00001 — a tdxModule with zero MRSIGNER and
 * attributes, and the module identity TDX_01 (UpToDate from ISVSVN 4,
 * OutOfDate from 2). The TD_QE identity (version 2) publishes the simulated
 * QE's MRSIGNER and ISVPRODID with levels UpToDate from ISVSVN 4 and
 * OutOfDate from 0. Both are valid [now - 1 h, now + 30 days), like the two
 * empty CRLs (PCK CRL by the PCK CA, root CA CRL by the root).
 *
 * Each document text is built once per call and signed over its exact
 * bytes, as Intel's PCS serves them; the bundle carries those bytes
 * unchanged (mk_tdx_bundle_write, compact JSON).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mosaik/clock.h"
#include "mosaik/encoding.h"
#include "tee/tdx/sim_internal.h"
#include "tee/tee_internal.h"
#include "tee/tdx/tdx_internal.h"

static void hex_upper(const uint8_t *p, size_t n, char *out) {
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

static void append_svns(mk_buf *b, const uint8_t svn[16]) {
    mk_buf_append_str(b, "[");
    for (int i = 0; i < 16; i++)
        mk_buf_printf(b, "%s{\"svn\":%u}", i ? "," : "", svn[i]);
    mk_buf_append_str(b, "]");
}

static void append_level(mk_buf *b, const uint8_t sgx[16], int pcesvn, const uint8_t tdx[16],
                         const char *date, const char *status, const char *advisory) {
    mk_buf_append_str(b, "{\"tcb\":{\"sgxtcbcomponents\":");
    append_svns(b, sgx);
    mk_buf_printf(b, ",\"pcesvn\":%d,\"tdxtcbcomponents\":", pcesvn);
    append_svns(b, tdx);
    mk_buf_printf(b, "},\"tcbDate\":\"%s\",\"tcbStatus\":\"%s\"", date, status);
    if (advisory) mk_buf_printf(b, ",\"advisoryIDs\":[\"%s\"]", advisory);
    mk_buf_append_str(b, "}");
}

static int tcb_info_text(int64_t now, mk_buf *b) {
    char issue[MK_RFC3339_LEN], next[MK_RFC3339_LEN], fmspc[13], zeros48[97];
    mk_time_format_rfc3339(now - 3600, issue);
    mk_time_format_rfc3339(now + 30 * 86400, next);
    hex_upper(mk_tdx_sim_fmspc, 6, fmspc);
    memset(zeros48, '0', 96);
    zeros48[96] = 0;
    mk_buf_printf(b,
                  "{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
                  "\"fmspc\":\"%s\",\"pceId\":\"0000\",\"tcbType\":0,"
                  "\"tcbEvaluationDataNumber\":1,"
                  "\"tdxModule\":{\"mrsigner\":\"%s\",\"attributes\":\"0000000000000000\","
                  "\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},"
                  "\"tdxModuleIdentities\":[{\"id\":\"TDX_01\",\"mrsigner\":\"%s\","
                  "\"attributes\":\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\","
                  "\"tcbLevels\":[{\"tcb\":{\"isvsvn\":4},\"tcbDate\":\"2024-03-13T00:00:00Z\","
                  "\"tcbStatus\":\"UpToDate\"},{\"tcb\":{\"isvsvn\":2},"
                  "\"tcbDate\":\"2023-08-09T00:00:00Z\",\"tcbStatus\":\"OutOfDate\"}]}],"
                  "\"tcbLevels\":[",
                  issue, next, fmspc, zeros48, zeros48);
    append_level(b, mk_tdx_sim_sgx_comps, MK_TDX_SIM_PCESVN, mk_tdx_sim_tdx_comps,
                 "2024-03-13T00:00:00Z", "UpToDate", NULL);
    mk_buf_append_str(b, ",");
    append_level(b, mk_tdx_sim_old_sgx_comps, MK_TDX_SIM_OLD_PCESVN, mk_tdx_sim_old_tdx_comps,
                 "2018-01-04T00:00:00Z", "OutOfDate", "MOSAIK-SIM-SA-00001");
    return mk_buf_append_str(b, "]}");
}

static int qe_identity_text(const mk_tdx_sim *sim, int64_t now, mk_buf *b) {
    char issue[MK_RFC3339_LEN], next[MK_RFC3339_LEN], mrsigner[65];
    mk_time_format_rfc3339(now - 3600, issue);
    mk_time_format_rfc3339(now + 30 * 86400, next);
    hex_upper(sim->qe_mrsigner, 32, mrsigner);
    return mk_buf_printf(
        b,
        "{\"id\":\"TD_QE\",\"version\":2,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
        "\"tcbEvaluationDataNumber\":1,\"miscselect\":\"00000000\","
        "\"miscselectMask\":\"FFFFFFFF\",\"attributes\":\"11000000000000000000000000000000\","
        "\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":\"%s\","
        "\"isvprodid\":%d,\"tcbLevels\":[{\"tcb\":{\"isvsvn\":4},"
        "\"tcbDate\":\"2024-03-13T00:00:00Z\",\"tcbStatus\":\"UpToDate\"},"
        "{\"tcb\":{\"isvsvn\":0},\"tcbDate\":\"2021-11-10T00:00:00Z\","
        "\"tcbStatus\":\"OutOfDate\"}]}",
        issue, next, mrsigner, MK_TDX_SIM_QE_ISVPRODID);
}

/* Sets key to a new JSON string of n bytes; false on failure. */

int mk_tdx_sim_collateral_json(const mk_tdx_sim *sim, int64_t now, mk_buf *out, mk_error *err) {
    if (!sim || !out) return mk_error_set(err, MK_EINVAL, "simulator collateral: NULL argument");
    mk_buf tcb = MK_BUF_INIT, qe = MK_BUF_INIT, pck_crl = MK_BUF_INIT, root_crl = MK_BUF_INIT;
    mk_buf json = MK_BUF_INIT;
    uint8_t tcb_sig[64], qe_sig[64];
    int rc;
    if (tcb_info_text(now, &tcb) < 0 || qe_identity_text(sim, now, &qe) < 0) {
        rc = mk_error_set(err, MK_ENOMEM, "out of memory");
        goto done;
    }
    MK_GUARD(rc, mk_tdx_sim_sign(sim->tcb_key, tcb.data, tcb.len, tcb_sig, err), done);
    MK_GUARD(rc, mk_tdx_sim_sign(sim->tcb_key, qe.data, qe.len, qe_sig, err), done);
    MK_GUARD(rc, mk_tee_sim_crl(sim->pck_ca, sim->pck_ca_key, now, &pck_crl, err), done);
    MK_GUARD(rc, mk_tee_sim_crl(sim->root, sim->root_key, now, &root_crl, err), done);
    mk_tdx_bundle_parts p = {
        .pck_crl_issuer_chain = sim->pck_ca_chain,
        .root_ca_crl = root_crl.data,
        .root_ca_crl_len = root_crl.len,
        .pck_crl = pck_crl.data,
        .pck_crl_len = pck_crl.len,
        .tcb_info_issuer_chain = sim->tcb_chain,
        .tcb_info = (const char *)tcb.data,
        .tcb_info_len = tcb.len,
        .tcb_info_signature = tcb_sig,
        .qe_identity_issuer_chain = sim->tcb_chain,
        .qe_identity = (const char *)qe.data,
        .qe_identity_len = qe.len,
        .qe_identity_signature = qe_sig,
    };
    if (mk_tdx_bundle_write(&p, JSON_COMPACT, &json) < 0) {
        rc = mk_error_set(err, MK_ENOMEM, "simulator collateral: JSON encoding failed");
        goto done;
    }
    mk_buf_reset(out);
    rc = mk_buf_append(out, json.data, json.len);
    if (rc < 0) mk_error_set(err, rc, "simulator collateral: %s", mk_strerror(rc));
done:
    mk_buf_free(&json);
    mk_buf_free(&tcb);
    mk_buf_free(&qe);
    mk_buf_free(&pck_crl);
    mk_buf_free(&root_crl);
    return rc;
}

int mk_tdx_sim_collateral(const mk_tdx_sim *sim, int64_t now, mk_tdx_collateral **out,
                          mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "simulator collateral: NULL output");
    *out = NULL;
    mk_buf json = MK_BUF_INIT;
    int rc = mk_tdx_sim_collateral_json(sim, now, &json, err);
    if (rc == 0) {
        rc = mk_tdx_collateral_from_bundle((const char *)json.data, json.len, out, err);
        if (rc < 0) mk_error_prefix(err, rc, "simulator collateral");
    }
    mk_buf_free(&json);
    return rc;
}
