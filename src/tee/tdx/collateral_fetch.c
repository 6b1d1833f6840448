/*
 * tee/tdx/collateral_fetch.c — download TDX collateral from Intel PCS (or a
 * PCCS with the same v4 paths) through the shared capped HTTPS client
 * (tee/fetch.c), and keep it in the shared disk cache (tee/cache.c).
 *
 * Requests (base = opts->base_url without trailing '/'):
 *   {base}/tdx/certification/v4/tcb?fmspc=HEX        TCB-Info-Issuer-Chain
 *                                                     (or SGX-TCB-Info-Issuer-Chain)
 *   {base}/tdx/certification/v4/qe/identity          SGX-Enclave-Identity-Issuer-Chain
 *   {base}/sgx/certification/v4/pckcrl?ca=platform|processor&encoding=der
 *                                                     SGX-PCK-CRL-Issuer-Chain
 *   opts->root_ca_crl_url, or {base}/sgx/certification/v4/rootcacrl
 *                                                     (DER, PEM or PCCS's hex)
 * The bodies and (URL-encoded) headers go to mk_tdx_collateral_from_pcs,
 * which keeps the exact signed bytes. Nothing fetched is trusted: it is
 * verified later by mk_tdx_collateral_verify.
 *
 * Limits (enforced by tee/fetch.c): every body is capped at
 * MK_TDX_COLLATERAL_MAX (the transfer is aborted as soon as it grows
 * beyond), header values at 3 * MK_TDX_CERT_DATA_MAX; total time per
 * request opts->timeout_ms (default 10 s); only https (http only with
 * insecure_http_ok, for tests), also on redirects (at most 3); only HTTP 200
 * is accepted. One attempt per request: a 429 from PCS is reported as
 * "HTTP 429" like any other status (the shared client's retries are not
 * enabled for PCS).
 *
 * Cache: {cache_dir}/tdx-collateral-{fmspc}-{platform|processor}.json holds
 * the bundle JSON (mk_tdx_collateral_to_bundle), written atomically
 * (mk_tee_cache_write: a fresh O_EXCL | O_NOFOLLOW file renamed over it).
 * Only collateral that verifies to the pinned Intel root at `now`
 * (mk_tdx_collateral_verify: signatures, chains, windows) is written, so a
 * misbehaving server cannot pin a bad bundle on disk until a nextUpdate it
 * chose; collateral under the simulator root is returned but never cached.
 * A cached file is reused only while it is complete, for the right FMSPC,
 * before its earliest nextUpdate, and still verifies at `now`; a file that
 * fails any of this is removed (and replaced by the next successful fetch).
 *
 * Reasons do not name the operation ("FMSPC B0C06F000000, platform CA: GET
 * ...: HTTP 404", "missing argument"): callers prefix it (verify.c with
 * "collateral: fetch", the CLI with its command), so it is never said twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/encoding.h"
#include "mosaik/log.h"
#include "tee/tdx/collateral_internal.h"

#define HEADER_MAX (3 * MK_TDX_CERT_DATA_MAX)
#define CACHE_FILE_MAX (4 * MK_TDX_COLLATERAL_MAX)
#define URL_MAX 2048

static const char *first_hdr(const mk_tee_http_response *r) {
    return r->hdr[0] ? r->hdr[0] : r->hdr[1];
}

/* GET url; the first of the header names (one of them) must be present. */
static int get(mk_tee_http *h, const char *url, const char *const *names, mk_tee_http_response *r,
               mk_error *err) {
    MK_TRY(mk_tee_http_get(h, url, names, r, err));
    if (!names[0] || first_hdr(r)) return 0;
    return mk_error_set(err, MK_EMALFORMED, "GET %s: no %s header", url, names[0]);
}

static int fetch_remote(const mk_tdx_fetch_opts *o, const char *base, const char *fmspc_hex,
                        mk_tdx_pck_ca ca, mk_tdx_collateral **out, mk_error *err) {
    static const char *const tcb_h[] = {"TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain", NULL};
    static const char *const qe_h[] = {"SGX-Enclave-Identity-Issuer-Chain", NULL};
    static const char *const crl_h[] = {"SGX-PCK-CRL-Issuer-Chain", NULL};
    static const char *const none_h[] = {NULL};
    mk_tee_http_response tcb = {0}, qe = {0}, crl = {0}, root = {0};
    char url[4][URL_MAX];
    int n0 = snprintf(url[0], URL_MAX, "%s/tdx/certification/v4/tcb?fmspc=%s", base, fmspc_hex);
    int n1 = snprintf(url[1], URL_MAX, "%s/tdx/certification/v4/qe/identity", base);
    int n2 = snprintf(url[2], URL_MAX, "%s/sgx/certification/v4/pckcrl?ca=%s&encoding=der", base,
                      ca == MK_TDX_CA_PROCESSOR ? "processor" : "platform");
    int n3 = o->root_ca_crl_url
                 ? snprintf(url[3], URL_MAX, "%s", o->root_ca_crl_url)
                 : snprintf(url[3], URL_MAX, "%s/sgx/certification/v4/rootcacrl", base);
    if (n0 < 0 || n0 >= URL_MAX || n1 < 0 || n1 >= URL_MAX || n2 < 0 || n2 >= URL_MAX || n3 < 0 ||
        n3 >= URL_MAX)
        return mk_error_set(err, MK_EINVAL, "URL too long");

    const mk_tee_http_opts ho = {
        .timeout_ms = o->timeout_ms,
        .insecure_http_ok = o->insecure_http_ok,
        .body_max = MK_TDX_COLLATERAL_MAX,
        .header_max = HEADER_MAX,
        .user_agent = "mosaik-tdx-collateral/1",
    };
    mk_tee_http *h = NULL;
    MK_TRY(mk_tee_http_new(&ho, &h, err));
    int rc;
    MK_GUARD(rc, get(h, url[0], tcb_h, &tcb, err), done);
    MK_GUARD(rc, get(h, url[1], qe_h, &qe, err), done);
    MK_GUARD(rc, get(h, url[2], crl_h, &crl, err), done);
    MK_GUARD(rc, get(h, url[3], none_h, &root, err), done);

    mk_tdx_pcs_responses r = {
        .tcb_info_body = (const char *)tcb.body.data,
        .tcb_info_len = tcb.body.len,
        .tcb_info_issuer_chain = first_hdr(&tcb),
        .qe_identity_body = (const char *)qe.body.data,
        .qe_identity_len = qe.body.len,
        .qe_identity_issuer_chain = first_hdr(&qe),
        .pck_crl = crl.body.data,
        .pck_crl_len = crl.body.len,
        .pck_crl_issuer_chain = first_hdr(&crl),
        .root_ca_crl = root.body.data,
        .root_ca_crl_len = root.body.len,
    };
    if (!r.tcb_info_body || !r.qe_identity_body || !r.pck_crl || !r.root_ca_crl) {
        rc = mk_error_set(err, MK_EMALFORMED, "empty response");
        goto done;
    }
    rc = mk_tdx_collateral_from_pcs(&r, out, err);
done:
    mk_tee_http_free(h);
    mk_tee_http_response_free(&tcb);
    mk_tee_http_response_free(&qe);
    mk_tee_http_response_free(&crl);
    mk_tee_http_response_free(&root);
    return rc;
}

/* Whether c verifies to the pinned Intel root at now. */
static bool verifies(const mk_tdx_collateral *c, int64_t now, mk_error *e) {
    mk_tee_trust *t = mk_tdx_trust_new();
    if (!t) {
        mk_error_set(e, MK_ENOMEM, "out of memory");
        return false;
    }
    int64_t vu = 0;
    bool sim = false;
    int rc = mk_tdx_collateral_verify(c, t, now, &vu, &sim, e);
    mk_tee_trust_free(t);
    return rc == 0 && !sim;
}

/* A usable cached collateral, or NULL (an unusable file is removed). */
static mk_tdx_collateral *cache_read(const char *dir, const char *name, const uint8_t fmspc[6],
                                     int64_t now) {
    mk_buf b = MK_BUF_INIT;
    mk_tdx_collateral *c = NULL;
    mk_error e;
    mk_error_clear(&e);
    if (mk_tee_cache_read(dir, name, CACHE_FILE_MAX, &b, NULL) < 0) goto out;
    if (mk_tdx_collateral_from_bundle((const char *)b.data, b.len, &c, &e) < 0) {
        mk_log(MK_LOG_WARN, "tdx", "ignoring collateral cache %s/%s: %s", dir, name, e.msg);
        c = NULL;
        goto out;
    }
    uint8_t f[6];
    if (!mk_tdx_collateral_fmspc(c, f) || memcmp(f, fmspc, 6) != 0 ||
        !mk_tdx_collateral_qe_identity(c) || mk_tdx_collateral_next_update(c) <= now) {
        mk_tdx_collateral_free(c);
        c = NULL;
        goto out;
    }
    if (!verifies(c, now, &e)) {
        mk_log(MK_LOG_WARN, "tdx", "removing collateral cache %s/%s: %s", dir, name,
               e.msg[0] ? e.msg : "not signed under the Intel root");
        mk_tdx_collateral_free(c);
        c = NULL;
        mk_tee_cache_remove(dir, name);
    }
out:
    mk_buf_free(&b);
    return c;
}

static void cache_write(const char *dir, const char *name, const mk_tdx_collateral *c) {
    mk_buf b = MK_BUF_INIT;
    mk_error e;
    mk_error_clear(&e);
    if (mk_tdx_collateral_to_bundle(c, &b) < 0)
        mk_log(MK_LOG_WARN, "tdx", "collateral cache: cannot write %s/%s", dir, name);
    else if (mk_tee_cache_write(dir, name, b.data, b.len, &e) < 0)
        mk_log(MK_LOG_WARN, "tdx", "collateral cache: %s", e.msg);
    mk_buf_free(&b);
}

int mk_tdx_collateral_fetch(const mk_tdx_fetch_opts *o, const uint8_t fmspc[6], mk_tdx_pck_ca ca,
                            int64_t now, mk_tdx_collateral **out, mk_error *err) {
    if (!o || !o->base_url || !fmspc || !out)
        return mk_error_set(err, MK_EINVAL, "missing argument");
    if (ca != MK_TDX_CA_PLATFORM && ca != MK_TDX_CA_PROCESSOR)
        return mk_error_set(err, MK_EINVAL, "unknown CA %d", (int)ca);
    if (!mk_tee_url_scheme_ok(o->base_url, o->insecure_http_ok) ||
        (o->root_ca_crl_url && !mk_tee_url_scheme_ok(o->root_ca_crl_url, o->insecure_http_ok)))
        return mk_error_set(err, MK_EPOLICY, "%s is not an https URL",
                            mk_tee_url_scheme_ok(o->base_url, o->insecure_http_ok)
                                ? o->root_ca_crl_url
                                : o->base_url);
    *out = NULL;
    char fhex[13];
    mk_hex_encode(fmspc, 6, fhex);
    for (char *p = fhex; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    const char *caname = ca == MK_TDX_CA_PROCESSOR ? "processor" : "platform";

    char name[64] = "", path[4096];
    bool cache = o->cache_dir && o->cache_dir[0];
    if (cache) {
        snprintf(name, sizeof name, "tdx-collateral-%s-%s.json", fhex, caname);
        MK_TRY(mk_tee_cache_path(o->cache_dir, name, path, sizeof path, err));
        mk_tdx_collateral *c = cache_read(o->cache_dir, name, fmspc, now);
        if (c) {
            *out = c;
            return 0;
        }
    }

    size_t bl = strlen(o->base_url);
    while (bl > 0 && o->base_url[bl - 1] == '/')
        bl--;
    if (bl >= URL_MAX / 2) return mk_error_set(err, MK_EINVAL, "URL too long");
    char base[URL_MAX / 2];
    memcpy(base, o->base_url, bl);
    base[bl] = 0;

    mk_tdx_collateral *c = NULL;
    int rc = fetch_remote(o, base, fhex, ca, &c, err);
    if (rc < 0) return mk_error_prefix(err, rc, "FMSPC %s, %s CA", fhex, caname);
    uint8_t f[6];
    if (!mk_tdx_collateral_fmspc(c, f) || memcmp(f, fmspc, 6) != 0) {
        mk_tdx_collateral_free(c);
        return mk_error_set(err, MK_EMISMATCH, "TCB info is not for FMSPC %s", fhex);
    }
    if (cache) {
        mk_error ve;
        mk_error_clear(&ve);
        if (verifies(c, now, &ve))
            cache_write(o->cache_dir, name, c);
        else
            mk_log(MK_LOG_WARN, "tdx", "collateral cache: not caching %s: %s", path,
                   ve.msg[0] ? ve.msg : "not signed under the Intel root");
    }
    *out = c;
    return 0;
}
