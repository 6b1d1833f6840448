/*
 * tee/snp/kds.c — AMD's key distribution service: URLs, requests and the
 * disk cache.
 *
 * Paths (KDS spec 57230 ch. 4; base = opts->base_url, default
 * https://kdsintf.amd.com, without a trailing '/'):
 *   {base}/vcek/v1/{Milan|Genoa}/{hwid}?blSPL=B&teeSPL=T&snpSPL=S&ucodeSPL=U
 *        hwid = lowercase hex of the 64-byte chip_id          (DER)
 *   {base}/vcek/v1/Turin/{hwid}?fmcSPL=F&blSPL=B&teeSPL=T&snpSPL=S&ucodeSPL=U
 *        hwid = hex of chip_id[0..8]; the 64-byte form is unknown to KDS
 *   {base}/{vcek|vlek}/v1/{product}/cert_chain   ASK (ASVK) then ARK, PEM
 *   {base}/{vcek|vlek}/v1/{product}/crl          DER, signed by the ARK
 * SPL values are decimal with two digits at least (blSPL=03), as AMD's own
 * tools send them. A VLEK is not public (the cloud provider loads it); it
 * comes from the report's certificate table or a file, never from here.
 *
 * Requests go through the shared fetcher (tee/fetch.c: https only, capped
 * bodies, HTTP 429 / 503 retried after Retry-After or an exponential
 * backoff — AMD's KDS throttles per client), and the disk cache is the
 * shared one (tee/cache.c: atomic writes, names that cannot leave the
 * directory).
 *
 * Cache entries ({cache_dir}/):
 *   snp-vcek-{product}-{hwid}-{raw TCB, 16 hex}.der   forever: a VCEK for
 *        one chip at one TCB never changes
 *   snp-{vcek|vlek}-chain-{product}.pem, snp-{vcek|vlek}-crl-{product}.der
 * What goes in must pass the sanity checks of mosaik/snp.h (signed by the
 * built-in ASK / pinned ARK, the right chip and TCB, a CRL current at now),
 * so a misbehaving server or cache directory cannot pin something that will
 * fail every verification; a cached file failing them is removed and
 * fetched again. The checks are not the trust decision: the verifier
 * verifies whatever it uses.
 */
#include <stdio.h>
#include <string.h>

#include "mosaik/encoding.h"
#include "mosaik/log.h"
#include "tee/snp/snp_internal.h"
#include "tee/tee_internal.h"

#define URL_MAX 1024
#define DEFAULT_ATTEMPTS 4

static const char *base_of(const mk_snp_fetch_opts *o, char *buf, size_t n) {
    const char *b = o && o->base_url && o->base_url[0] ? o->base_url : MK_SNP_KDS_URL;
    snprintf(buf, n, "%s", b);
    size_t l = strlen(buf);
    while (l > 0 && buf[l - 1] == '/')
        buf[--l] = '\0';
    return buf;
}

static size_t hwid_len(mk_snp_product p) {
    return p == MK_SNP_TURIN ? MK_SNP_TURIN_HWID_LEN : MK_SNP_CHIP_ID_LEN;
}

int mk_snp_vcek_url(const char *base_url, mk_snp_product p, const uint8_t chip_id[64],
                    const mk_snp_tcb *tcb, char *out, size_t n) {
    if (!chip_id || !tcb || !out || p == MK_SNP_PRODUCT_UNKNOWN || p > MK_SNP_TURIN)
        return MK_EINVAL;
    mk_snp_fetch_opts o = {.base_url = base_url};
    char base[URL_MAX], hex[2 * MK_SNP_CHIP_ID_LEN + 1], fmc[16] = "";
    base_of(&o, base, sizeof base);
    mk_hex_encode(chip_id, hwid_len(p), hex);
    if (p == MK_SNP_TURIN) snprintf(fmc, sizeof fmc, "fmcSPL=%02u&", tcb->fmc);
    int k = snprintf(out, n, "%s/vcek/v1/%s/%s?%sblSPL=%02u&teeSPL=%02u&snpSPL=%02u&ucodeSPL=%02u",
                     base, mk_snp_product_name(p), hex, fmc, tcb->bootloader, tcb->tee, tcb->snp,
                     tcb->microcode);
    return k < 0 || (size_t)k >= n ? MK_ETOOBIG : 0;
}

/* ------------------------------------------------------------------ */
/* Requests and the cache                                              */
/* ------------------------------------------------------------------ */

/* What a fetched or cached file must pass before it is used or cached. */
typedef int (*sanity_fn)(const mk_buf *b, const void *arg, mk_error *err);

static int http_get(const mk_snp_fetch_opts *o, const char *url, size_t cap, mk_buf *out,
                    mk_error *err) {
    mk_tee_http_opts ho = {
        .timeout_ms = o->timeout_ms,
        .insecure_http_ok = o->insecure_http_ok,
        .body_max = cap,
        .user_agent = "mosaik-snp-kds/1",
        .max_attempts = o->max_attempts > 0 ? o->max_attempts : DEFAULT_ATTEMPTS,
        .backoff_ms = o->backoff_ms,
        .backoff_max_ms = o->max_backoff_ms,
    };
    mk_tee_http *h = NULL;
    MK_TRY(mk_tee_http_new(&ho, &h, err));
    mk_tee_http_response r;
    memset(&r, 0, sizeof r);
    int rc = mk_tee_http_get(h, url, NULL, &r, err);
    if (rc == 0) rc = mk_buf_append(out, r.body.data, r.body.len);
    mk_tee_http_response_free(&r);
    mk_tee_http_free(h);
    return rc;
}

/* The cached entry if it passes, else the KDS (and cache what passes). */
static int fetch_checked(const mk_snp_fetch_opts *o, const char *url, const char *name, size_t cap,
                         sanity_fn check, const void *arg, mk_buf *out, mk_error *err) {
    const char *dir = o->cache_dir && o->cache_dir[0] ? o->cache_dir : NULL;
    mk_buf b;
    mk_buf_init(&b, cap);
    if (dir && mk_tee_cache_read(dir, name, cap, &b, NULL) == 0) {
        if (check(&b, arg, NULL) == 0) goto done;
        mk_log(MK_LOG_WARN, "snp", "KDS cache %s/%s fails its check; removed", dir, name);
        mk_tee_cache_remove(dir, name);
    }
    mk_buf_reset(&b);
    int rc = http_get(o, url, cap, &b, err);
    if (rc == 0 && (rc = check(&b, arg, err)) < 0) rc = mk_error_prefix(err, rc, "GET %s", url);
    if (rc < 0) {
        mk_buf_free(&b);
        return rc;
    }
    mk_error ce;
    mk_error_clear(&ce);
    if (dir && mk_tee_cache_write(dir, name, b.data, b.len, &ce) < 0)
        mk_log(MK_LOG_WARN, "snp", "KDS cache %s/%s: %s", dir, name, ce.msg);
done:
    mk_buf_reset(out);
    rc = mk_buf_append(out, b.data, b.len);
    mk_buf_free(&b);
    return rc < 0 ? mk_error_set(err, rc, "out of memory") : 0;
}

/* ------------------------------------------------------------------ */
/* VCEK                                                                */
/* ------------------------------------------------------------------ */

typedef struct vcek_want {
    mk_snp_product p;
    const uint8_t *chip_id;
    const mk_snp_tcb *tcb;
} vcek_want;

static int vcek_sane(const mk_buf *b, const void *arg, mk_error *err) {
    const vcek_want *w = arg;
    mk_snp_cert_list l = {0};
    mk_snp_cert_info info;
    int rc = mk_snp_certs_read(b->data, b->len, &l, err);
    if (rc == 0 && l.n != 1) rc = mk_error_set(err, MK_EMALFORMED, "not one certificate");
    if (rc == 0) rc = mk_snp_cert_info_from_x509(l.cert[0], &info, err);
    if (rc < 0) goto out;
    size_t hl = hwid_len(w->p);
    mk_snp_tcb t = info.tcb;
    if (w->p != MK_SNP_TURIN) t.fmc = 0;
    mk_snp_tcb want = *w->tcb;
    if (w->p != MK_SNP_TURIN) want.fmc = 0;
    if (info.kind != MK_SNP_KEY_VCEK || info.hwid_len != hl || memcmp(info.hwid, w->chip_id, hl))
        rc = mk_error_set(err, MK_EMISMATCH, "not the VCEK of the chip asked for");
    else if (memcmp(&t, &want, sizeof t))
        rc = mk_error_set(err, MK_EMISMATCH, "not the VCEK of the TCB asked for");
    else if (!mk_snp_cert_signed_by(l.cert[0], mk_snp_amd_cert_x509(w->p, MK_SNP_CA_ASK)))
        rc = mk_error_set(err, MK_EUNTRUSTED, "certificate not signed by AMD's SEV-%s",
                          mk_snp_product_name(w->p));
out:
    mk_snp_cert_list_free(&l);
    return rc;
}

int mk_snp_fetch_vcek(const mk_snp_fetch_opts *o, mk_snp_product p, const uint8_t chip_id[64],
                      const mk_snp_tcb *tcb, mk_buf *out, mk_error *err) {
    if (!o || !chip_id || !tcb || !out || p == MK_SNP_PRODUCT_UNKNOWN || p > MK_SNP_TURIN)
        return mk_error_set(err, MK_EINVAL, "VCEK fetch: missing argument or unknown product");
    char url[URL_MAX], base[URL_MAX], name[256], hex[2 * MK_SNP_CHIP_ID_LEN + 1];
    if (mk_snp_vcek_url(base_of(o, base, sizeof base), p, chip_id, tcb, url, sizeof url) < 0)
        return mk_error_set(err, MK_EINVAL, "VCEK fetch: URL too long");
    mk_hex_encode(chip_id, hwid_len(p), hex);
    snprintf(name, sizeof name, "snp-vcek-%s-%s-%016llx.der", mk_snp_product_name(p), hex,
             (unsigned long long)mk_snp_tcb_encode(tcb, p));
    vcek_want w = {p, chip_id, tcb};
    return fetch_checked(o, url, name, MK_SNP_CERT_MAX, vcek_sane, &w, out, err);
}

/* ------------------------------------------------------------------ */
/* Chain and CRL                                                       */
/* ------------------------------------------------------------------ */

typedef struct ca_want {
    mk_snp_product p;
    mk_snp_signing_key key;
    int64_t now;
} ca_want;

static X509 *intermediate_of(const ca_want *w) {
    return mk_snp_amd_cert_x509(w->p, w->key == MK_SNP_KEY_VLEK ? MK_SNP_CA_ASVK : MK_SNP_CA_ASK);
}

static int chain_sane(const mk_buf *b, const void *arg, mk_error *err) {
    const ca_want *w = arg;
    X509 *ark = mk_snp_amd_cert_x509(w->p, MK_SNP_CA_ARK);
    mk_snp_cert_list l = {0};
    int rc = mk_snp_certs_read(b->data, b->len, &l, err);
    if (rc == 0 && (l.n != 2 || !mk_tee_same_der(l.cert[1], ark)))
        rc = mk_error_set(err, MK_EUNTRUSTED, "chain does not end in AMD's pinned ARK-%s",
                          mk_snp_product_name(w->p));
    if (rc == 0 && !mk_snp_cert_signed_by(l.cert[0], ark))
        rc = mk_error_set(err, MK_EUNTRUSTED, "chain's first certificate is not signed by ARK-%s",
                          mk_snp_product_name(w->p));
    mk_snp_cert_list_free(&l);
    return rc;
}

static int crl_sane(const mk_buf *b, const void *arg, mk_error *err) {
    const ca_want *w = arg;
    int64_t nu;
    int rc = mk_snp_crl_check(b->data, b->len, mk_snp_amd_cert_x509(w->p, MK_SNP_CA_ARK),
                              intermediate_of(w), w->now, &nu, err);
    return rc == MK_EREVOKED ? 0 : rc; /* a valid CRL; revocation is the verifier's verdict */
}

static int fetch_ca(const mk_snp_fetch_opts *o, mk_snp_product p, mk_snp_signing_key key,
                    int64_t now, bool crl, mk_buf *out, mk_error *err) {
    if (!o || !out || p == MK_SNP_PRODUCT_UNKNOWN || p > MK_SNP_TURIN ||
        (key != MK_SNP_KEY_VCEK && key != MK_SNP_KEY_VLEK))
        return mk_error_set(err, MK_EINVAL, "KDS fetch: missing argument or unknown product");
    const char *k = key == MK_SNP_KEY_VLEK ? "vlek" : "vcek";
    char url[URL_MAX], base[URL_MAX], name[128];
    snprintf(url, sizeof url, "%s/%s/v1/%s/%s", base_of(o, base, sizeof base), k,
             mk_snp_product_name(p), crl ? "crl" : "cert_chain");
    snprintf(name, sizeof name, "snp-%s-%s-%s.%s", k, crl ? "crl" : "chain", mk_snp_product_name(p),
             crl ? "der" : "pem");
    ca_want w = {p, key, now};
    return fetch_checked(o, url, name, crl ? MK_SNP_CRL_MAX : 2 * MK_SNP_CERT_MAX,
                         crl ? crl_sane : chain_sane, &w, out, err);
}

int mk_snp_fetch_chain(const mk_snp_fetch_opts *o, mk_snp_product p, mk_snp_signing_key key,
                       mk_buf *out, mk_error *err) {
    return fetch_ca(o, p, key, 0, false, out, err);
}

int mk_snp_fetch_crl(const mk_snp_fetch_opts *o, mk_snp_product p, mk_snp_signing_key key,
                     int64_t now, mk_buf *out, mk_error *err) {
    return fetch_ca(o, p, key, now, true, out, err);
}
