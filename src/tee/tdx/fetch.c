/*
 * tee/tdx/fetch.c — download TDX collateral from Intel PCS (or a PCCS with
 * the same v4 paths) with libcurl, and cache it on disk.
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
 * Limits: every body is capped at MK_TDX_COLLATERAL_MAX (the transfer is
 * aborted as soon as it grows beyond), header values at 3 *
 * MK_TDX_CERT_DATA_MAX; total time per request opts->timeout_ms (default
 * 10 s); only https (http only with insecure_http_ok, for tests), also on
 * redirects (at most 3); only HTTP 200 is accepted.
 *
 * Cache: {cache_dir}/tdx-collateral-{fmspc}-{platform|processor}.json holds
 * the bundle JSON (mk_tdx_collateral_to_bundle), written atomically with
 * mk_file_write. Only collateral that verifies to the pinned Intel root at
 * `now` (mk_tdx_collateral_verify: signatures, chains, windows) is written,
 * so a misbehaving server cannot pin a bad bundle on disk until a nextUpdate
 * it chose; collateral under the simulator root is returned but never
 * cached. A cached file is reused only while it is complete, for the right
 * FMSPC, before its earliest nextUpdate, and still verifies at `now`; a
 * file that fails any of this is removed (and replaced by the next
 * successful fetch).
 *
 * Reasons do not name the operation ("FMSPC B0C06F000000, platform CA: GET
 * ...: HTTP 404", "missing argument"): callers prefix it (verify.c with
 * "collateral: fetch", the CLI with its command), so it is never said twice.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "mosaik/encoding.h"
#include "mosaik/log.h"
#include "tee/tdx/collateral_internal.h"

#define DEFAULT_TIMEOUT_MS 10000
#define HEADER_MAX (3 * MK_TDX_CERT_DATA_MAX)
#define CACHE_FILE_MAX (4 * MK_TDX_COLLATERAL_MAX)
#define URL_MAX 2048

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct response {
    mk_buf body;
    bool too_big;
    const char *const *hdr_names; /* NULL-terminated, tried in order */
    char *hdr[2];                 /* values of hdr_names[0..1] */
} response;

static void response_free(response *r) {
    mk_buf_free(&r->body);
    free(r->hdr[0]);
    free(r->hdr[1]);
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    response *r = ud;
    size_t len = size * n;
    if (len > MK_TDX_COLLATERAL_MAX - r->body.len || mk_buf_append(&r->body, p, len) < 0) {
        r->too_big = true;
        return 0; /* aborts the transfer */
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    response *r = ud;
    size_t len = size * n;
    /* A new response (after a redirect): forget earlier headers. */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        for (int i = 0; i < 2; i++) {
            free(r->hdr[i]);
            r->hdr[i] = NULL;
        }
        return len;
    }
    for (int i = 0; i < 2 && r->hdr_names[i]; i++) {
        size_t kl = strlen(r->hdr_names[i]);
        if (len <= kl || p[kl] != ':' || strncasecmp(p, r->hdr_names[i], kl) != 0) continue;
        size_t a = kl + 1, b = len;
        while (a < b && (p[a] == ' ' || p[a] == '\t'))
            a++;
        while (b > a && (p[b - 1] == '\r' || p[b - 1] == '\n' || p[b - 1] == ' '))
            b--;
        if (b - a > HEADER_MAX || r->hdr[i]) return 0; /* oversized or repeated: abort */
        r->hdr[i] = strndup(p + a, b - a);
        if (!r->hdr[i]) return 0;
    }
    return len;
}

static bool scheme_ok(const char *url, bool http_ok) {
    return strncasecmp(url, "https://", 8) == 0 || (http_ok && strncasecmp(url, "http://", 7) == 0);
}

static int http_get(CURL *h, const mk_tdx_fetch_opts *o, const char *url, response *r,
                    mk_error *err) {
    long timeout = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    const char *protos = o->insecure_http_ok ? "http,https" : "https";
    mk_buf_init(&r->body, MK_TDX_COLLATERAL_MAX);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protos);
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protos);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MK_TDX_COLLATERAL_MAX);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mosaik-tdx-collateral/1");
    CURLcode cc = curl_easy_perform(h);
    if (r->too_big || cc == CURLE_FILESIZE_EXCEEDED)
        return mk_error_set(err, MK_ETOOBIG, "GET %s: response larger than %d bytes", url,
                            MK_TDX_COLLATERAL_MAX);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return mk_error_set(err, MK_ETIMEDOUT, "GET %s: timed out after %ld ms", url, timeout);
    if (cc == CURLE_UNSUPPORTED_PROTOCOL)
        return mk_error_set(err, MK_EPOLICY, "GET %s: protocol not allowed (%s only)", url, protos);
    if (cc != CURLE_OK)
        return mk_error_set(err, MK_ENETWORK, "GET %s: %s", url, curl_easy_strerror(cc));
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (code == 404) return mk_error_set(err, MK_ENOTFOUND, "GET %s: HTTP 404 (not found)", url);
    if (code != 200) return mk_error_set(err, MK_ENETWORK, "GET %s: HTTP %ld", url, code);
    return 0;
}

static const char *first_hdr(const response *r) {
    return r->hdr[0] ? r->hdr[0] : r->hdr[1];
}

static int need_hdr(const response *r, const char *url, mk_error *err) {
    if (first_hdr(r)) return 0;
    return mk_error_set(err, MK_EMALFORMED, "GET %s: no %s header", url, r->hdr_names[0]);
}

static int fetch_remote(const mk_tdx_fetch_opts *o, const char *base, const char *fmspc_hex,
                        mk_tdx_pck_ca ca, mk_tdx_collateral **out, mk_error *err) {
    static const char *const tcb_h[] = {"TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain", NULL};
    static const char *const qe_h[] = {"SGX-Enclave-Identity-Issuer-Chain", NULL, NULL};
    static const char *const crl_h[] = {"SGX-PCK-CRL-Issuer-Chain", NULL, NULL};
    static const char *const none_h[] = {NULL, NULL, NULL};
    response tcb = {.hdr_names = tcb_h}, qe = {.hdr_names = qe_h}, crl = {.hdr_names = crl_h},
             root = {.hdr_names = none_h};
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

    pthread_once(&curl_once, curl_init_once);
    CURL *h = curl_easy_init();
    if (!h) return mk_error_set(err, MK_ENOMEM, "curl_easy_init failed");
    int rc;
    MK_GUARD(rc, http_get(h, o, url[0], &tcb, err), done);
    MK_GUARD(rc, need_hdr(&tcb, url[0], err), done);
    MK_GUARD(rc, http_get(h, o, url[1], &qe, err), done);
    MK_GUARD(rc, need_hdr(&qe, url[1], err), done);
    MK_GUARD(rc, http_get(h, o, url[2], &crl, err), done);
    MK_GUARD(rc, need_hdr(&crl, url[2], err), done);
    MK_GUARD(rc, http_get(h, o, url[3], &root, err), done);

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
    curl_easy_cleanup(h);
    response_free(&tcb);
    response_free(&qe);
    response_free(&crl);
    response_free(&root);
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
static mk_tdx_collateral *cache_read(const char *path, const uint8_t fmspc[6], int64_t now) {
    mk_buf b = MK_BUF_INIT;
    mk_tdx_collateral *c = NULL;
    mk_error e;
    mk_error_clear(&e);
    if (mk_file_read(path, CACHE_FILE_MAX, &b, NULL) < 0) goto out;
    if (mk_tdx_collateral_from_bundle((const char *)b.data, b.len, &c, &e) < 0) {
        mk_log(MK_LOG_WARN, "tdx", "ignoring collateral cache %s: %s", path, e.msg);
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
        mk_log(MK_LOG_WARN, "tdx", "removing collateral cache %s: %s", path,
               e.msg[0] ? e.msg : "not signed under the Intel root");
        mk_tdx_collateral_free(c);
        c = NULL;
        unlink(path);
    }
out:
    mk_buf_free(&b);
    return c;
}

static void cache_write(const char *dir, const char *path, const mk_tdx_collateral *c) {
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        mk_log(MK_LOG_WARN, "tdx", "collateral cache: cannot create %s: %s", dir, strerror(errno));
        return;
    }
    mk_buf b = MK_BUF_INIT;
    mk_error e;
    mk_error_clear(&e);
    if (mk_tdx_collateral_to_bundle(c, &b) < 0 || mk_file_write(path, b.data, b.len, 0644, &e) < 0)
        mk_log(MK_LOG_WARN, "tdx", "collateral cache: cannot write %s: %s", path, e.msg);
    mk_buf_free(&b);
}

int mk_tdx_collateral_fetch(const mk_tdx_fetch_opts *o, const uint8_t fmspc[6], mk_tdx_pck_ca ca,
                            int64_t now, mk_tdx_collateral **out, mk_error *err) {
    if (!o || !o->base_url || !fmspc || !out)
        return mk_error_set(err, MK_EINVAL, "missing argument");
    if (ca != MK_TDX_CA_PLATFORM && ca != MK_TDX_CA_PROCESSOR)
        return mk_error_set(err, MK_EINVAL, "unknown CA %d", (int)ca);
    if (!scheme_ok(o->base_url, o->insecure_http_ok) ||
        (o->root_ca_crl_url && !scheme_ok(o->root_ca_crl_url, o->insecure_http_ok)))
        return mk_error_set(err, MK_EPOLICY, "%s is not an https URL",
                            scheme_ok(o->base_url, o->insecure_http_ok) ? o->root_ca_crl_url
                                                                        : o->base_url);
    *out = NULL;
    char fhex[13];
    mk_hex_encode(fmspc, 6, fhex);
    for (char *p = fhex; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    const char *caname = ca == MK_TDX_CA_PROCESSOR ? "processor" : "platform";

    char path[4096] = "";
    if (o->cache_dir && o->cache_dir[0]) {
        int n =
            snprintf(path, sizeof path, "%s/tdx-collateral-%s-%s.json", o->cache_dir, fhex, caname);
        if (n < 0 || (size_t)n >= sizeof path)
            return mk_error_set(err, MK_EINVAL, "cache path too long");
        mk_tdx_collateral *c = cache_read(path, fmspc, now);
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
    if (path[0]) {
        mk_error ve;
        mk_error_clear(&ve);
        if (verifies(c, now, &ve))
            cache_write(o->cache_dir, path, c);
        else
            mk_log(MK_LOG_WARN, "tdx", "collateral cache: not caching %s: %s", path,
                   ve.msg[0] ? ve.msg : "not signed under the Intel root");
    }
    *out = c;
    return 0;
}
