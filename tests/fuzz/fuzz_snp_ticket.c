/*
 * fuzz_snp_ticket — the SNP ticket decoder (the shared envelope under
 * SNP's format: zstd + canonical CBOR, caps) and the SNP validator on
 * untrusted ticket bytes.
 *
 * The first input byte selects the target, the rest is the data:
 *   0: mk_snp_ticket_decode (the wire form: one zstd frame, capped);
 *   1: mk_snp_ticket_decode_cbor (the decompressed form);
 *   2: an SNP validator (AMD's roots and a simulator root, default policy)
 *      judging the wire form for a fixed peer, which also runs the report
 *      parser, the certificate reader and the verifier on what it carries;
 *   3: the data as a report, wrapped into a ticket (no certificates, or the
 *      simulator's chain when the second byte is odd), encoded, decoded
 *      and validated: every report the parser meets through a ticket.
 *   4: a ticket the fuzzer describes — extra data (peer, network, three
 *      times), the guest's policy, VMPL and measurement, whether the report
 *      data binds — made by the in-process simulator, whose root the
 *      validator trusts: every step after the signature is reached.
 *      Admission implies the report data binds, the peer matches, no DEBUG
 *      or MIGRATE_MA policy bit, and a ticket quoted no later than now plus
 *      the allowed skew that expires after now within max_lifetime.
 * Invariants checked: a decoded ticket re-encodes to exactly the input CBOR
 * and round-trips through the wire form; its sizes respect the caps; a
 * refusal always has a reason and leaves nothing allocated; an admitted
 * ticket expires in the future.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/mosaik.h"
#include "tee/snp/snp_internal.h" /* the CBOR layer of the ticket */

#define NOW 1780272000LL

static mk_validator *val;
static mk_snp_sim *sim;

static void init(void) {
    mk_snp_sim_config sc;
    mk_snp_sim_config_init(&sc);
    sc.now = NOW;
    if (mk_snp_sim_new(&sc, &sim, NULL) != 0) abort();
    mk_snp_validator_config cfg;
    mk_snp_validator_config_init(&cfg);
    mk_snp_sim_root_der(sim, &cfg.simulator_root_der, &cfg.simulator_root_len);
    cfg.max_lifetime = 86400;
    if (mk_snp_validator_new(&cfg, &val, NULL) != 0) abort();
}

static void check_ticket(const mk_snp_ticket *t, const uint8_t *cbor, size_t cbor_len) {
    if (t->report_len == 0 || t->report_len > MK_SNP_REPORT_LEN) abort();
    if (t->certs && (t->certs_len > MK_SNP_TICKET_CERTS_MAX || t->certs[t->certs_len])) abort();
    if (t->extra.expiration < t->extra.quoted_at) abort();
    mk_buf b = MK_BUF_INIT;
    if (mk_snp_ticket_encode_cbor(t, &b, NULL) != 0) abort();
    if (cbor && (b.len != cbor_len || memcmp(b.data, cbor, cbor_len) != 0)) abort();
    mk_buf w = MK_BUF_INIT;
    if (mk_snp_ticket_encode(t, &w, NULL) == 0) {
        mk_snp_ticket u;
        if (mk_snp_ticket_decode(w.data, w.len, &u, NULL) != 0) abort();
        if (memcmp(&u.extra, &t->extra, sizeof u.extra) != 0) abort();
        if (u.report_len != t->report_len || memcmp(u.report, t->report, t->report_len) != 0)
            abort();
        mk_snp_ticket_free(&u);
    }
    mk_buf_free(&w);
    mk_buf_free(&b);
}

static void validate(const uint8_t *d, size_t n, const mk_peer_view *pv) {
    mk_expiration e = 0;
    mk_error err;
    mk_error_clear(&err);
    int rc = val->ops->validate(val, d, n, pv, NOW, &e, &err);
    if (rc == 0 && e <= NOW) abort();
    if (rc < 0 && (err.code >= 0 || !err.msg[0])) abort();
}

/* Mode 3: the data as a report in a ticket bound to a fixed peer. */
static void wrapped(const uint8_t *d, size_t n) {
    if (n < 1) return;
    bool chain = d[0] & 1;
    d++, n--;
    if (n == 0 || n > MK_SNP_REPORT_LEN) return;
    mk_tee_extra_data x;
    memset(&x, 0, sizeof x);
    x.quoted_at = NOW;
    x.expiration = NOW + 60;
    const char *pem = NULL;
    size_t pn = 0;
    if (chain) mk_snp_sim_chain_pem(sim, &pem, &pn);
    mk_snp_ticket t;
    if (mk_snp_ticket_init(&t, &x, d, n, pem, pn, NULL) != 0) abort();
    mk_buf w = MK_BUF_INIT;
    if (mk_snp_ticket_encode(&t, &w, NULL) != 0) abort();
    mk_peer_view pv;
    memset(&pv, 0, sizeof pv);
    validate(w.data, w.len, &pv);
    mk_snp_ticket_check_binding(&t, NULL);
    mk_buf_free(&w);
    mk_snp_ticket_free(&t);
}

static int64_t get_i64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

/* Mode 4 input: peer[32] network[32] started[8] quoted_off[4] life[4]
 * policy[8] vmpl[1] meas[1] flags[1] (bit 0: bind to other data, bit 1:
 * the validator sees another peer). Times relative to NOW keep them in
 * range often. */
static void described(const uint8_t *d, size_t n) {
    if (n < 91) return;
    mk_tee_extra_data x;
    memcpy(x.peer_id.b, d, 32);
    memcpy(x.network_id.b, d + 32, 32);
    x.started_at = get_i64(d + 64);
    int32_t qoff = (int32_t)((uint32_t)d[72] << 24 | (uint32_t)d[73] << 16 | d[74] << 8 | d[75]);
    uint32_t life = (uint32_t)d[76] << 24 | (uint32_t)d[77] << 16 | d[78] << 8 | d[79];
    x.quoted_at = NOW + qoff;
    x.expiration = life == UINT32_MAX ? MK_EXPIRES_NEVER : x.quoted_at + life;
    mk_snp_sim_guest g;
    mk_snp_sim_guest_default(&g);
    g.policy = (uint64_t)get_i64(d + 80);
    g.vmpl = d[88] % 4;
    if (d[89]) memset(g.measurement, d[89], 48);
    bool other_rd = d[90] & 1, other_peer = d[90] & 2;
    mk_tee_extra_data bound = x;
    if (other_rd) bound.started_at ^= 1;
    uint8_t rd[64];
    mk_snp_report_data(&bound, rd);
    mk_buf rep = MK_BUF_INIT, w = MK_BUF_INIT;
    const char *pem;
    size_t pn;
    mk_snp_sim_chain_pem(sim, &pem, &pn);
    mk_snp_ticket t;
    if (mk_snp_sim_report(sim, &g, rd, &rep, NULL) != 0) abort();
    if (mk_snp_ticket_init(&t, &x, rep.data, rep.len, pem, pn, NULL) == 0 &&
        mk_snp_ticket_encode(&t, &w, NULL) == 0) {
        mk_peer_view pv;
        memset(&pv, 0, sizeof pv);
        pv.peer_id = x.peer_id;
        pv.network_id = x.network_id;
        if (other_peer) pv.peer_id.b[0] ^= 1;
        mk_expiration e = 0;
        mk_error err;
        mk_error_clear(&err);
        int rc = val->ops->validate(val, w.data, w.len, &pv, NOW, &e, &err);
        if (rc == 0 && (other_rd || other_peer ||
                        (g.policy & (MK_SNP_POLICY_DEBUG | MK_SNP_POLICY_MIGRATE_MA)) ||
                        x.quoted_at > NOW + MK_TEE_CLOCK_SKEW || x.expiration <= NOW ||
                        x.expiration - x.quoted_at > 86400 || e > x.expiration || e <= NOW))
            abort();
        if (rc < 0 && (err.code >= 0 || !err.msg[0])) abort();
    }
    mk_snp_ticket_free(&t);
    mk_buf_free(&rep);
    mk_buf_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!val) init();
    if (size < 1) return 0;
    uint8_t mode = data[0] % 5;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    mk_snp_ticket t;
    mk_error err;
    mk_error_clear(&err);
    if (mode == 0) {
        if (mk_snp_ticket_decode(d, n, &t, &err) == 0) {
            check_ticket(&t, NULL, 0);
            mk_snp_ticket_free(&t);
        } else if (err.code >= 0 || !err.msg[0] || t.report || t.certs) {
            abort(); /* a refusal has a reason and leaves nothing allocated */
        }
    } else if (mode == 1) {
        if (mk_snp_ticket_decode_cbor(d, n, &t, &err) == 0) {
            check_ticket(&t, d, n);
            mk_snp_ticket_free(&t);
        } else if (t.report || t.certs) {
            abort();
        }
    } else if (mode == 2) {
        mk_peer_view pv;
        memset(&pv, 0, sizeof pv);
        validate(d, n, &pv);
    } else if (mode == 3) {
        wrapped(d, n);
    } else {
        described(d, n);
    }
    return 0;
}
