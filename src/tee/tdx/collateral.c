/*
 * tee/tdx/collateral.c — TDX collateral: the TCB info, the TD_QE identity,
 * the PCK CRL and the root CA CRL, each with its issuer chain.
 *
 * Two input forms:
 *   - the dcap-qvl / Phala PCCS JSON bundle, whose `tcb_info` and
 *     `qe_identity` strings are the exact texts Intel signed;
 *   - Intel PCS v4 responses: bodies `{"tcbInfo":{...},"signature":"..."}`
 *     and `{"enclaveIdentity":{...},...}` plus issuer-chain headers.
 *
 * Exact bytes. Intel signs the bytes of the inner JSON value as served. We
 * never re-serialise: for a PCS body, a small structural JSON scanner (over
 * mk_reader: strings with escapes, nesting with a depth cap) walks the whole
 * body and records the byte span of the value of the top-level key; the
 * signature is checked over exactly that span, and the span (not the body)
 * is what jansson parses for the fields. The scanner also runs over every
 * text before jansson sees it, so jansson never meets nesting deeper than
 * JSON_DEPTH_MAX. Whole bodies are parsed with JSON_REJECT_DUPLICATES and the
 * parsed span must equal the body's decoded "tcbInfo" member, so an escaped
 * duplicate key cannot make the signed text differ from the one evaluated.
 *
 * Invariants: a collateral object is immutable once built, except for the
 * verification cache (mutex-protected). Every document is capped at
 * MK_TDX_COLLATERAL_MAX, chains at MK_TDX_CERT_DATA_MAX, levels/advisories
 * by the caps in collateral_internal.h. Parsing validates every field the
 * TCB evaluation reads (hex lengths, integer ranges, status names), so tcb.c
 * can trust the parsed structures.
 *
 * Verification (mk_tdx_collateral_verify): each issuer chain is verified to
 * a root of the trust store with mk_tdx_chain_verify_pem; the TCB info and QE
 * identity signing certificates must be issued directly by the root and be
 * "TCB Signing" certificates; the PCK CRL issuer chain's leaf (the Platform
 * or Processor CA) must be issued by the root and must have signed the PCK
 * CRL; the root CA CRL must be signed by the root. All chains must end in the
 * same root. JSON documents are valid for issueDate <= now < nextUpdate, CRLs
 * for thisUpdate <= now < nextUpdate (Intel's QvE treats "nextUpdate <= now"
 * as expired). The signing certificates and the CRL's CA must not be listed
 * in the root CA CRL.
 *
 * Warm path: a success is remembered with its window [now, valid_until) and
 * the root it ended in. Every check is monotone in time within that window,
 * so a later call with `now` inside it needs no signature work. Results that
 * end in the pinned Intel root hold for every trust store (all trust Intel);
 * simulator results are keyed by the SHA-256 of the simulator root's DER.
 */
#include "tee/tdx/collateral_internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/ossl.h"
#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "tee/tdx/tdx_internal.h"

#define JSON_DEPTH_MAX 16
#define BUNDLE_MAX (4 * MK_TDX_COLLATERAL_MAX)

struct mk_tdx_collateral {
    /* TCB info: exact signed text, signature, issuer chain, parsed. */
    char *tcb_text;
    size_t tcb_len;
    uint8_t tcb_sig[64];
    char *tcb_chain;
    mk_tdx_tcb_info *tcb;
    /* QE identity. */
    char *qe_text;
    size_t qe_len;
    uint8_t qe_sig[64];
    char *qe_chain;
    mk_tdx_qe_identity *qe;
    /* CRLs (DER kept for the bundle form). */
    uint8_t *pck_crl_der;
    size_t pck_crl_len;
    X509_CRL *pck_crl;
    int64_t pck_crl_this, pck_crl_next;
    char *pck_crl_chain;
    X509 *pck_crl_ca; /* first certificate of pck_crl_chain */
    uint8_t *root_crl_der;
    size_t root_crl_len;
    X509_CRL *root_crl;
    int64_t root_crl_this, root_crl_next;
    /* Warm verification cache. */
    pthread_mutex_t lock;
    bool cache_ok;
    int64_t cache_from, cache_until;
    bool cache_sim;
    uint8_t cache_sim_root[32];
};

/* ------------------------------------------------------------------ */
/* Status names                                                        */
/* ------------------------------------------------------------------ */

/* verify.c owns the name table (mk_tcb_status_name). */
const char *mk_tdx_status_str(mk_tcb_status s) {
    return mk_tcb_status_name(s);
}

/* Status sets a document may use (Intel's VALID_TCB_INFO_STATUSES etc.). */
#define BIT(s) (1u << (unsigned)(s))
#define PLATFORM_STATUSES                                                                          \
    (BIT(MK_TCB_UP_TO_DATE) | BIT(MK_TCB_OUT_OF_DATE) | BIT(MK_TCB_CONFIGURATION_NEEDED) |         \
     BIT(MK_TCB_REVOKED) | BIT(MK_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED) |                          \
     BIT(MK_TCB_SW_HARDENING_NEEDED) | BIT(MK_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED))
#define MODULE_STATUSES (BIT(MK_TCB_UP_TO_DATE) | BIT(MK_TCB_OUT_OF_DATE) | BIT(MK_TCB_REVOKED))
#define QE_STATUSES                                                                                \
    (BIT(MK_TCB_UP_TO_DATE) | BIT(MK_TCB_OUT_OF_DATE) | BIT(MK_TCB_CONFIGURATION_NEEDED) |         \
     BIT(MK_TCB_REVOKED) | BIT(MK_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED))

/* ------------------------------------------------------------------ */
/* Structural JSON scanner                                             */
/* ------------------------------------------------------------------ */

typedef struct json_span {
    const char *key; /* top-level key to locate (raw bytes, no escapes) */
    size_t klen;
    bool found;
    size_t off, len;
} json_span;

static int js_fail(const mk_reader *r, mk_error *err, const char *what) {
    return mk_error_set(err, MK_EMALFORMED, "JSON: %s at offset %zu", what, mk_reader_offset(r));
}

static void js_ws(mk_reader *r) {
    const uint8_t *p;
    while (mk_reader_peek(r, 1, &p) == 0 &&
           (p[0] == ' ' || p[0] == '\t' || p[0] == '\n' || p[0] == '\r'))
        (void)mk_read_skip(r, 1);
}

static int js_peek(const mk_reader *r) {
    const uint8_t *p;
    return mk_reader_peek(r, 1, &p) == 0 ? p[0] : -1;
}

static int js_string(mk_reader *r, mk_error *err) {
    uint8_t c;
    if (mk_read_u8(r, &c) < 0 || c != '"') return js_fail(r, err, "expected a string");
    for (;;) {
        if (mk_read_u8(r, &c) < 0) return js_fail(r, err, "unterminated string");
        if (c == '"') return 0;
        if (c < 0x20) return js_fail(r, err, "control character in string");
        if (c == '\\' && mk_read_u8(r, &c) < 0) return js_fail(r, err, "unterminated escape");
    }
}

static int js_value(mk_reader *r, unsigned depth, json_span *sp, mk_error *err);

/* True if the next bytes are the quoted key of sp. */
static bool js_key_is(const mk_reader *r, const json_span *sp) {
    const uint8_t *p;
    if (!sp || mk_reader_peek(r, sp->klen + 2, &p) < 0) return false;
    return p[0] == '"' && memcmp(p + 1, sp->key, sp->klen) == 0 && p[sp->klen + 1] == '"';
}

static int js_object(mk_reader *r, unsigned depth, json_span *sp, mk_error *err) {
    uint8_t c;
    (void)mk_read_u8(r, &c); /* '{' */
    js_ws(r);
    if (js_peek(r) == '}') return mk_read_skip(r, 1);
    for (;;) {
        js_ws(r);
        bool wanted = js_key_is(r, sp);
        size_t kstart = mk_reader_offset(r);
        MK_TRY(js_string(r, err));
        wanted = wanted && mk_reader_offset(r) - kstart == sp->klen + 2;
        js_ws(r);
        if (mk_read_u8(r, &c) < 0 || c != ':') return js_fail(r, err, "expected ':'");
        js_ws(r);
        size_t vstart = mk_reader_offset(r);
        MK_TRY(js_value(r, depth + 1, NULL, err));
        if (wanted) {
            if (sp->found) return js_fail(r, err, "duplicate key");
            sp->found = true;
            sp->off = vstart;
            sp->len = mk_reader_offset(r) - vstart;
        }
        js_ws(r);
        if (mk_read_u8(r, &c) < 0) return js_fail(r, err, "unterminated object");
        if (c == '}') return 0;
        if (c != ',') return js_fail(r, err, "expected ',' or '}'");
    }
}

static int js_array(mk_reader *r, unsigned depth, mk_error *err) {
    uint8_t c;
    (void)mk_read_u8(r, &c); /* '[' */
    js_ws(r);
    if (js_peek(r) == ']') return mk_read_skip(r, 1);
    for (;;) {
        MK_TRY(js_value(r, depth + 1, NULL, err));
        js_ws(r);
        if (mk_read_u8(r, &c) < 0) return js_fail(r, err, "unterminated array");
        if (c == ']') return 0;
        if (c != ',') return js_fail(r, err, "expected ',' or ']'");
    }
}

static int js_value(mk_reader *r, unsigned depth, json_span *sp, mk_error *err) {
    if (depth > JSON_DEPTH_MAX)
        return mk_error_set(err, MK_ETOOBIG, "JSON: nesting deeper than %d at offset %zu",
                            JSON_DEPTH_MAX, mk_reader_offset(r));
    js_ws(r);
    int c = js_peek(r);
    if (c == '{') return js_object(r, depth, sp, err);
    if (c == '[') return js_array(r, depth, err);
    if (c == '"') return js_string(r, err);
    /* number, true, false, null: jansson validates the details */
    size_t n = 0;
    while ((c = js_peek(r)) >= 0 && (isalnum(c) || c == '+' || c == '-' || c == '.')) {
        (void)mk_read_skip(r, 1);
        n++;
    }
    return n ? 0 : js_fail(r, err, "unexpected character");
}

/* Scan a whole document (an object, surrounding whitespace allowed); if
 * sp is given, record the span of its top-level key. */
static int js_scan(const char *text, size_t len, json_span *sp, mk_error *err) {
    mk_reader r;
    mk_reader_init(&r, text, len);
    js_ws(&r);
    if (js_peek(&r) != '{') return js_fail(&r, err, "expected an object");
    MK_TRY(js_value(&r, 1, sp, err));
    js_ws(&r);
    if (!mk_reader_done(&r)) return js_fail(&r, err, "trailing data");
    return 0;
}

static int js_load(const char *text, size_t len, json_t **out, mk_error *err) {
    MK_TRY(js_scan(text, len, NULL, err));
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) return mk_error_set(err, MK_EMALFORMED, "JSON: %s (line %d)", je.text, je.line);
    if (!json_is_object(j)) {
        json_decref(j);
        return mk_error_set(err, MK_EMALFORMED, "JSON: not an object");
    }
    *out = j;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Field helpers                                                       */
/* ------------------------------------------------------------------ */

static int f_str(json_t *o, const char *key, const char **s, size_t *len, mk_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v) return mk_error_set(err, MK_EMALFORMED, "missing \"%s\"", key);
    if (!json_is_string(v)) return mk_error_set(err, MK_EMALFORMED, "\"%s\" is not a string", key);
    *s = json_string_value(v);
    if (len) *len = json_string_length(v);
    return 0;
}

static int f_int(json_t *o, const char *key, json_int_t min, json_int_t max, json_int_t *out,
                 mk_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v) return mk_error_set(err, MK_EMALFORMED, "missing \"%s\"", key);
    if (!json_is_integer(v))
        return mk_error_set(err, MK_EMALFORMED, "\"%s\" is not an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return mk_error_set(err, MK_EMALFORMED, "\"%s\" = %lld out of range", key, (long long)x);
    *out = x;
    return 0;
}

static int f_hex(json_t *o, const char *key, uint8_t *dst, size_t n, mk_error *err) {
    const char *s;
    size_t len;
    MK_TRY(f_str(o, key, &s, &len, err));
    if (len != 2 * n)
        return mk_error_set(err, MK_EMALFORMED, "\"%s\": expected %zu hex digits, got %zu", key,
                            2 * n, len);
    int rc = mk_hex_decode_exact(s, dst, n, err);
    if (rc < 0) return mk_error_prefix(err, rc, "\"%s\"", key);
    return 0;
}

static int f_time(json_t *o, const char *key, int64_t *t, mk_error *err) {
    const char *s;
    size_t len;
    MK_TRY(f_str(o, key, &s, &len, err));
    int rc = mk_time_parse_rfc3339(s, len, t, err);
    if (rc < 0) return mk_error_prefix(err, rc, "\"%s\"", key);
    return 0;
}

static int f_array(json_t *o, const char *key, size_t min, size_t max, json_t **out,
                   mk_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v) return mk_error_set(err, MK_EMALFORMED, "missing \"%s\"", key);
    if (!json_is_array(v)) return mk_error_set(err, MK_EMALFORMED, "\"%s\" is not an array", key);
    size_t n = json_array_size(v);
    if (n < min || n > max)
        return mk_error_set(err, MK_EMALFORMED, "\"%s\" has %zu entries (allowed %zu..%zu)", key, n,
                            min, max);
    *out = v;
    return 0;
}

static int f_status(json_t *o, unsigned allowed, mk_tcb_status *out, mk_error *err) {
    const char *s;
    MK_TRY(f_str(o, "tcbStatus", &s, NULL, err));
    for (int i = 0; i < MK_TCB_STATUS_COUNT; i++) {
        if (strcmp(s, mk_tcb_status_name((mk_tcb_status)i)) == 0 && (allowed & BIT(i))) {
            *out = (mk_tcb_status)i;
            return 0;
        }
    }
    return mk_error_set(err, MK_EMALFORMED, "unrecognized tcbStatus \"%.40s\"", s);
}

static int f_advisories(json_t *o, size_t *n_out, mk_tdx_advisory **out, mk_error *err) {
    *n_out = 0;
    *out = NULL;
    json_t *a = json_object_get(o, "advisoryIDs");
    if (!a) return 0; /* optional */
    if (!json_is_array(a)) return mk_error_set(err, MK_EMALFORMED, "advisoryIDs: not an array");
    size_t n = json_array_size(a);
    if (n > MK_TDX_LEVEL_ADVISORIES_MAX)
        return mk_error_set(err, MK_ETOOBIG, "advisoryIDs: %zu entries (max %d)", n,
                            MK_TDX_LEVEL_ADVISORIES_MAX);
    if (n == 0) return 0;
    mk_tdx_advisory *adv = calloc(n, sizeof *adv);
    if (!adv) return mk_error_set(err, MK_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        size_t len = json_is_string(v) ? json_string_length(v) : 0;
        const char *s = json_string_value(v);
        bool ok = len > 0 && len < MK_TDX_ADVISORY_LEN;
        for (size_t k = 0; ok && k < len; k++)
            ok = isgraph((unsigned char)s[k]) != 0;
        if (!ok) {
            free(adv);
            return mk_error_set(err, MK_EMALFORMED, "advisoryIDs[%zu]: not a short ID string", i);
        }
        memcpy(adv[i], s, len);
    }
    *n_out = n;
    *out = adv;
    return 0;
}

/* ------------------------------------------------------------------ */
/* TCB info                                                            */
/* ------------------------------------------------------------------ */

static void isv_levels_free(mk_tdx_isv_level *l, size_t n) {
    for (size_t i = 0; l && i < n; i++)
        free(l[i].adv);
    free(l);
}

static void tcb_info_free(mk_tdx_tcb_info *t) {
    if (!t) return;
    for (size_t i = 0; t->module_ids && i < t->n_module_ids; i++)
        isv_levels_free(t->module_ids[i].levels, t->module_ids[i].n_levels);
    free(t->module_ids);
    for (size_t i = 0; t->levels && i < t->n_levels; i++)
        free(t->levels[i].adv);
    free(t->levels);
    free(t);
}

/* Parse an ISVSVN-graded level list ("tcbLevels" of a module identity or
 * of the QE identity). */
static int parse_isv_levels(json_t *o, unsigned allowed, mk_tdx_isv_level **out, size_t *n_out,
                            mk_error *err) {
    json_t *arr;
    MK_TRY(f_array(o, "tcbLevels", 1, MK_TDX_TCB_LEVELS_MAX, &arr, err));
    size_t n = json_array_size(arr);
    mk_tdx_isv_level *lv = calloc(n, sizeof *lv);
    if (!lv) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *e = json_array_get(arr, i), *tcb;
        json_int_t svn;
        if (!json_is_object(e) || !json_is_object(tcb = json_object_get(e, "tcb"))) {
            rc = mk_error_set(err, MK_EMALFORMED, "not an object with \"tcb\"");
        } else if ((rc = f_int(tcb, "isvsvn", 0, 65535, &svn, err)) == 0 &&
                   (rc = f_time(e, "tcbDate", &lv[i].tcb_date, err)) == 0 &&
                   (rc = f_status(e, allowed, &lv[i].status, err)) == 0) {
            lv[i].isvsvn = (uint16_t)svn;
            rc = f_advisories(e, &lv[i].n_adv, &lv[i].adv, err);
        }
        if (rc < 0) mk_error_prefix(err, rc, "tcbLevels[%zu]", i);
    }
    if (rc < 0) {
        isv_levels_free(lv, n);
        return rc;
    }
    *out = lv;
    *n_out = n;
    return 0;
}

static int parse_module(json_t *o, mk_tdx_module_identity *m, bool with_levels, mk_error *err) {
    if (!json_is_object(o)) return mk_error_set(err, MK_EMALFORMED, "not an object");
    MK_TRY(f_hex(o, "mrsigner", m->mrsigner, 48, err));
    MK_TRY(f_hex(o, "attributes", m->attributes, 8, err));
    MK_TRY(f_hex(o, "attributesMask", m->attributes_mask, 8, err));
    if (!with_levels) return 0;
    const char *id;
    size_t idlen;
    MK_TRY(f_str(o, "id", &id, &idlen, err));
    if (idlen == 0 || idlen >= sizeof m->id)
        return mk_error_set(err, MK_EMALFORMED, "bad module identity id");
    memcpy(m->id, id, idlen);
    /* Intel orders module levels by isvsvn, descending (stable here). */
    MK_TRY(parse_isv_levels(o, MODULE_STATUSES, &m->levels, &m->n_levels, err));
    for (size_t i = 1; i < m->n_levels; i++) {
        mk_tdx_isv_level x = m->levels[i];
        size_t j = i;
        for (; j > 0 && m->levels[j - 1].isvsvn < x.isvsvn; j--)
            m->levels[j] = m->levels[j - 1];
        m->levels[j] = x;
    }
    return 0;
}

static int parse_components(json_t *tcb, const char *key, uint8_t out[16], mk_error *err) {
    json_t *arr;
    MK_TRY(f_array(tcb, key, 16, 16, &arr, err));
    for (size_t i = 0; i < 16; i++) {
        json_t *c = json_array_get(arr, i);
        json_int_t svn;
        if (!json_is_object(c))
            return mk_error_set(err, MK_EMALFORMED, "%s[%zu]: not an object", key, i);
        int rc = f_int(c, "svn", 0, 255, &svn, err);
        if (rc < 0) return mk_error_prefix(err, rc, "%s[%zu]", key, i);
        out[i] = (uint8_t)svn;
    }
    return 0;
}

/* Intel's order of platform levels: a greater level comes first. */
static int level_cmp(const mk_tdx_tcb_level *a, const mk_tdx_tcb_level *b) {
    int c = memcmp(a->sgx, b->sgx, 16);
    if (c) return c;
    if (a->pcesvn != b->pcesvn) return a->pcesvn < b->pcesvn ? -1 : 1;
    return memcmp(a->tdx, b->tdx, 16);
}

static int parse_tcb_levels(json_t *o, mk_tdx_tcb_info *t, mk_error *err) {
    json_t *arr;
    MK_TRY(f_array(o, "tcbLevels", 1, MK_TDX_TCB_LEVELS_MAX, &arr, err));
    size_t n = json_array_size(arr);
    t->levels = calloc(n, sizeof *t->levels);
    if (!t->levels) return mk_error_set(err, MK_ENOMEM, "out of memory");
    t->n_levels = n;
    for (size_t i = 0; i < n; i++) {
        mk_tdx_tcb_level *l = &t->levels[i];
        json_t *e = json_array_get(arr, i), *tcb;
        json_int_t pce;
        int rc;
        if (!json_is_object(e) || !json_is_object(tcb = json_object_get(e, "tcb")))
            rc = mk_error_set(err, MK_EMALFORMED, "not an object with \"tcb\"");
        else if ((rc = parse_components(tcb, "sgxtcbcomponents", l->sgx, err)) == 0 &&
                 (rc = f_int(tcb, "pcesvn", 0, 65535, &pce, err)) == 0 &&
                 (!t->is_tdx ||
                  (rc = parse_components(tcb, "tdxtcbcomponents", l->tdx, err)) == 0) &&
                 (rc = f_time(e, "tcbDate", &l->tcb_date, err)) == 0 &&
                 (rc = f_status(e, PLATFORM_STATUSES, &l->status, err)) == 0)
            rc = f_advisories(e, &l->n_adv, &l->adv, err);
        if (rc < 0) return mk_error_prefix(err, rc, "tcbLevels[%zu]", i);
        l->pcesvn = (uint16_t)pce;
    }
    /* Stable insertion sort, descending; duplicates are refused as Intel does. */
    for (size_t i = 1; i < n; i++) {
        mk_tdx_tcb_level x = t->levels[i];
        size_t j = i;
        for (; j > 0 && level_cmp(&t->levels[j - 1], &x) < 0; j--)
            t->levels[j] = t->levels[j - 1];
        t->levels[j] = x;
    }
    for (size_t i = 1; i < n; i++)
        if (level_cmp(&t->levels[i - 1], &t->levels[i]) == 0)
            return mk_error_set(err, MK_EMALFORMED, "tcbLevels: duplicate level");
    return 0;
}

static int tcb_info_parse(json_t *o, mk_tdx_tcb_info **out, mk_error *err) {
    mk_tdx_tcb_info *t = calloc(1, sizeof *t);
    if (!t) return mk_error_set(err, MK_ENOMEM, "out of memory");
    const char *id;
    json_int_t v;
    int rc;
    MK_GUARD(rc, f_str(o, "id", &id, NULL, err), fail);
    if (strcmp(id, "TDX") == 0) {
        t->is_tdx = true;
    } else if (strcmp(id, "SGX") != 0) {
        rc = mk_error_set(err, MK_EUNSUPPORTED, "id \"%.16s\" is neither TDX nor SGX", id);
        goto fail;
    }
    MK_GUARD(rc, f_int(o, "version", 0, 1000, &v, err), fail);
    if (v != 3) {
        rc = mk_error_set(err, MK_EUNSUPPORTED, "version %d not supported (need 3)", (int)v);
        goto fail;
    }
    t->version = (int)v;
    MK_GUARD(rc, f_time(o, "issueDate", &t->issue_date, err), fail);
    MK_GUARD(rc, f_time(o, "nextUpdate", &t->next_update, err), fail);
    MK_GUARD(rc, f_hex(o, "fmspc", t->fmspc, 6, err), fail);
    MK_GUARD(rc, f_hex(o, "pceId", t->pce_id, 2, err), fail);
    MK_GUARD(rc, f_int(o, "tcbType", 0, 0, &v, err), fail);
    MK_GUARD(rc, f_int(o, "tcbEvaluationDataNumber", 0, UINT32_MAX, &v, err), fail);
    t->eval_number = (uint32_t)v;
    json_t *m = json_object_get(o, "tdxModule");
    if (t->is_tdx != (m != NULL)) {
        rc = mk_error_set(err, MK_EMALFORMED,
                          t->is_tdx ? "missing \"tdxModule\"" : "\"tdxModule\" in an SGX TCB info");
        goto fail;
    }
    if (m) {
        t->has_module = true;
        rc = parse_module(m, &t->module, false, err);
        if (rc < 0) {
            mk_error_prefix(err, rc, "tdxModule");
            goto fail;
        }
    }
    json_t *ids = json_object_get(o, "tdxModuleIdentities");
    if (ids) {
        MK_GUARD(rc, f_array(o, "tdxModuleIdentities", 1, MK_TDX_MODULE_IDS_MAX, &ids, err), fail);
        size_t n = json_array_size(ids);
        t->module_ids = calloc(n, sizeof *t->module_ids);
        if (!t->module_ids) {
            rc = mk_error_set(err, MK_ENOMEM, "out of memory");
            goto fail;
        }
        t->n_module_ids = n;
        for (size_t i = 0; i < n; i++) {
            rc = parse_module(json_array_get(ids, i), &t->module_ids[i], true, err);
            if (rc < 0) {
                mk_error_prefix(err, rc, "tdxModuleIdentities[%zu]", i);
                goto fail;
            }
        }
    }
    MK_GUARD(rc, parse_tcb_levels(o, t, err), fail);
    *out = t;
    return 0;
fail:
    tcb_info_free(t);
    return rc;
}

/* ------------------------------------------------------------------ */
/* QE identity                                                         */
/* ------------------------------------------------------------------ */

static void qe_identity_free(mk_tdx_qe_identity *q) {
    if (!q) return;
    isv_levels_free(q->levels, q->n_levels);
    free(q);
}

static uint32_t le32(const uint8_t b[4]) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int qe_identity_parse(json_t *o, mk_tdx_qe_identity **out, mk_error *err) {
    mk_tdx_qe_identity *q = calloc(1, sizeof *q);
    if (!q) return mk_error_set(err, MK_ENOMEM, "out of memory");
    const char *id;
    size_t idlen;
    json_int_t v;
    uint8_t b4[4];
    int rc;
    MK_GUARD(rc, f_str(o, "id", &id, &idlen, err), fail);
    if (idlen == 0 || idlen >= sizeof q->id) {
        rc = mk_error_set(err, MK_EMALFORMED, "bad \"id\"");
        goto fail;
    }
    memcpy(q->id, id, idlen);
    MK_GUARD(rc, f_int(o, "version", 0, 1000, &v, err), fail);
    if (v != 2 && v != 3) {
        rc = mk_error_set(err, MK_EUNSUPPORTED, "version %d not supported (need 2)", (int)v);
        goto fail;
    }
    q->version = (int)v;
    MK_GUARD(rc, f_time(o, "issueDate", &q->issue_date, err), fail);
    MK_GUARD(rc, f_time(o, "nextUpdate", &q->next_update, err), fail);
    MK_GUARD(rc, f_int(o, "tcbEvaluationDataNumber", 0, UINT32_MAX, &v, err), fail);
    q->eval_number = (uint32_t)v;
    /* The hex bytes are the u32's little-endian bytes, like the report field. */
    MK_GUARD(rc, f_hex(o, "miscselect", b4, 4, err), fail);
    q->miscselect = le32(b4);
    MK_GUARD(rc, f_hex(o, "miscselectMask", b4, 4, err), fail);
    q->miscselect_mask = le32(b4);
    MK_GUARD(rc, f_hex(o, "attributes", q->attributes, 16, err), fail);
    MK_GUARD(rc, f_hex(o, "attributesMask", q->attributes_mask, 16, err), fail);
    MK_GUARD(rc, f_hex(o, "mrsigner", q->mrsigner, 32, err), fail);
    MK_GUARD(rc, f_int(o, "isvprodid", 0, 65535, &v, err), fail);
    q->isvprodid = (uint16_t)v;
    MK_GUARD(rc, parse_isv_levels(o, QE_STATUSES, &q->levels, &q->n_levels, err), fail);
    *out = q;
    return 0;
fail:
    qe_identity_free(q);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Building blocks of the collateral object                            */
/* ------------------------------------------------------------------ */

static int64_t asn1_to_unix(const ASN1_TIME *t, bool *ok) {
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
        *ok = false;
        return 0;
    }
    *ok = true;
    return mk_time_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec);
}

static char *dup_text(const char *s, size_t len) {
    char *p = malloc(len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}

/* Set the signed text of a document, parse it, and check its signature
 * hex. `text` is the exact inner JSON value. */
static int set_tcb_info(mk_tdx_collateral *c, const char *text, size_t len, const char *sig_hex,
                        size_t sig_len, mk_error *err) {
    if (len > MK_TDX_COLLATERAL_MAX)
        return mk_error_set(err, MK_ETOOBIG, "TCB info: %zu bytes (max %d)", len,
                            MK_TDX_COLLATERAL_MAX);
    if (sig_len != 128 || mk_hex_decode_exact(sig_hex, c->tcb_sig, 64, err) < 0)
        return mk_error_set(err, MK_EMALFORMED, "TCB info: signature is not 128 hex digits");
    json_t *j;
    int rc = js_load(text, len, &j, err);
    if (rc == 0) {
        rc = tcb_info_parse(j, &c->tcb, err);
        json_decref(j);
    }
    if (rc < 0) return mk_error_prefix(err, rc, "TCB info");
    if (!(c->tcb_text = dup_text(text, len))) return mk_error_set(err, MK_ENOMEM, "out of memory");
    c->tcb_len = len;
    return 0;
}

static int set_qe_identity(mk_tdx_collateral *c, const char *text, size_t len, const char *sig_hex,
                           size_t sig_len, mk_error *err) {
    if (len > MK_TDX_COLLATERAL_MAX)
        return mk_error_set(err, MK_ETOOBIG, "QE identity: %zu bytes (max %d)", len,
                            MK_TDX_COLLATERAL_MAX);
    if (sig_len != 128 || mk_hex_decode_exact(sig_hex, c->qe_sig, 64, err) < 0)
        return mk_error_set(err, MK_EMALFORMED, "QE identity: signature is not 128 hex digits");
    json_t *j;
    int rc = js_load(text, len, &j, err);
    if (rc == 0) {
        rc = qe_identity_parse(j, &c->qe, err);
        json_decref(j);
    }
    if (rc < 0) return mk_error_prefix(err, rc, "QE identity");
    if (!(c->qe_text = dup_text(text, len))) return mk_error_set(err, MK_ENOMEM, "out of memory");
    c->qe_len = len;
    return 0;
}

/* An issuer chain: plain PEM, or URL-encoded PEM (as in PCS headers). */
static int set_chain(char **dst, const char *what, const char *s, size_t len, mk_error *err) {
    if (len > 3 * MK_TDX_CERT_DATA_MAX)
        return mk_error_set(err, MK_ETOOBIG, "%s issuer chain: %zu bytes", what, len);
    char *pem = NULL;
    size_t plen = 0;
    static const char tag[] = "-----BEGIN CERTIFICATE-----";
    if (memmem(s, len, tag, sizeof tag - 1) == NULL) { /* URL-encoded has %20 */
        int olen = 0;
        char *dec = curl_easy_unescape(NULL, s, (int)len, &olen);
        if (!dec) return mk_error_set(err, MK_ENOMEM, "%s issuer chain: cannot decode", what);
        pem = dup_text(dec, (size_t)olen);
        plen = (size_t)olen;
        curl_free(dec);
    } else {
        pem = dup_text(s, len);
        plen = len;
    }
    if (!pem) return mk_error_set(err, MK_ENOMEM, "out of memory");
    bool ok = plen > 0 && plen <= MK_TDX_CERT_DATA_MAX && strstr(pem, "-----BEGIN CERTIFICATE");
    for (size_t i = 0; ok && i < plen; i++) {
        unsigned char ch = (unsigned char)pem[i];
        ok = (ch >= 0x20 && ch < 0x7f) || ch == '\n' || ch == '\r' || ch == '\t';
    }
    if (!ok) {
        free(pem);
        return mk_error_set(err, MK_EMALFORMED, "%s issuer chain: not a PEM certificate chain",
                            what);
    }
    *dst = pem;
    return 0;
}

static bool all_hex(const uint8_t *p, size_t n) {
    if (n == 0 || n % 2) return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit(p[i])) return false;
    return true;
}

/* A CRL given as DER, PEM or hex text (PCCS): parse, keep DER, read times. */
static int set_crl(const char *what, const uint8_t *data, size_t len, uint8_t **der_out,
                   size_t *der_len, X509_CRL **crl_out, int64_t *this_up, int64_t *next_up,
                   mk_error *err) {
    if (len > 2 * MK_TDX_COLLATERAL_MAX)
        return mk_error_set(err, MK_ETOOBIG, "%s: %zu bytes", what, len);
    mk_buf hex = MK_BUF_INIT;
    if (all_hex(data, len)) {
        int rc = mk_hex_decode((const char *)data, len, &hex, err);
        if (rc < 0) {
            mk_buf_free(&hex);
            return mk_error_prefix(err, rc, "%s", what);
        }
        data = hex.data;
        len = hex.len;
    }
    X509_CRL *crl = NULL;
    int rc = mk_tdx_crl_parse(data, len, &crl, err);
    mk_buf_free(&hex);
    if (rc < 0) return mk_error_prefix(err, rc, "%s", what);
    unsigned char *der = NULL;
    int dlen = i2d_X509_CRL(crl, &der);
    bool ok1, ok2 = false;
    *this_up = asn1_to_unix(X509_CRL_get0_lastUpdate(crl), &ok1);
    if (ok1) *next_up = asn1_to_unix(X509_CRL_get0_nextUpdate(crl), &ok2);
    if (dlen <= 0 || !ok1 || !ok2) {
        OPENSSL_free(der);
        X509_CRL_free(crl);
        return mk_error_set(err, MK_EMALFORMED, "%s: missing thisUpdate/nextUpdate", what);
    }
    *der_out = malloc((size_t)dlen);
    if (!*der_out) {
        OPENSSL_free(der);
        X509_CRL_free(crl);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    memcpy(*der_out, der, (size_t)dlen);
    OPENSSL_free(der);
    *der_len = (size_t)dlen;
    *crl_out = crl;
    return 0;
}

static mk_tdx_collateral *coll_new(void) {
    mk_tdx_collateral *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void mk_tdx_collateral_free(mk_tdx_collateral *c) {
    if (!c) return;
    free(c->tcb_text);
    free(c->tcb_chain);
    tcb_info_free(c->tcb);
    free(c->qe_text);
    free(c->qe_chain);
    qe_identity_free(c->qe);
    free(c->pck_crl_der);
    X509_CRL_free(c->pck_crl);
    free(c->pck_crl_chain);
    X509_free(c->pck_crl_ca);
    free(c->root_crl_der);
    X509_CRL_free(c->root_crl);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* First certificate of the PCK CRL issuer chain (the CRL's CA). */
static int load_pck_crl_ca(mk_tdx_collateral *c, mk_error *err) {
    BIO *b = BIO_new_mem_buf(c->pck_crl_chain, (int)strlen(c->pck_crl_chain));
    if (!b) return mk_error_set(err, MK_ENOMEM, "out of memory");
    c->pck_crl_ca = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    ERR_clear_error();
    if (!c->pck_crl_ca)
        return mk_error_set(err, MK_EMALFORMED, "PCK CRL issuer chain: no certificate");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Bundle form                                                         */
/* ------------------------------------------------------------------ */

/* Optional string member: NULL when absent. */
static int b_opt(json_t *o, const char *key, const char **s, size_t *len, mk_error *err) {
    *s = NULL;
    *len = 0;
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v))
        return mk_error_set(err, MK_EMALFORMED, "bundle: \"%s\" is not a string", key);
    *s = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

int mk_tdx_collateral_from_bundle(const char *json, size_t len, mk_tdx_collateral **out,
                                  mk_error *err) {
    if (!json || !out) return mk_error_set(err, MK_EINVAL, "bundle: missing argument");
    if (len > BUNDLE_MAX)
        return mk_error_set(err, MK_ETOOBIG, "bundle: %zu bytes (max %d)", len, BUNDLE_MAX);
    json_t *j;
    int rc = js_load(json, len, &j, err);
    if (rc < 0) return mk_error_prefix(err, rc, "collateral bundle");
    mk_tdx_collateral *c = coll_new();
    if (!c) {
        json_decref(j);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    const char *s, *sig;
    size_t sl, sigl;
    /* TCB info: text, signature and chain travel together. */
    MK_GUARD(rc, b_opt(j, "tcb_info", &s, &sl, err), fail);
    if (s) {
        MK_GUARD(rc, b_opt(j, "tcb_info_signature", &sig, &sigl, err), fail);
        if (!sig) {
            rc = mk_error_set(err, MK_EMALFORMED, "bundle: tcb_info without tcb_info_signature");
            goto fail;
        }
        MK_GUARD(rc, set_tcb_info(c, s, sl, sig, sigl, err), fail);
        MK_GUARD(rc, b_opt(j, "tcb_info_issuer_chain", &s, &sl, err), fail);
        if (s) MK_GUARD(rc, set_chain(&c->tcb_chain, "TCB info", s, sl, err), fail);
    }
    MK_GUARD(rc, b_opt(j, "qe_identity", &s, &sl, err), fail);
    if (s) {
        MK_GUARD(rc, b_opt(j, "qe_identity_signature", &sig, &sigl, err), fail);
        if (!sig) {
            rc = mk_error_set(err, MK_EMALFORMED,
                              "bundle: qe_identity without qe_identity_signature");
            goto fail;
        }
        MK_GUARD(rc, set_qe_identity(c, s, sl, sig, sigl, err), fail);
        MK_GUARD(rc, b_opt(j, "qe_identity_issuer_chain", &s, &sl, err), fail);
        if (s) MK_GUARD(rc, set_chain(&c->qe_chain, "QE identity", s, sl, err), fail);
    }
    MK_GUARD(rc, b_opt(j, "pck_crl", &s, &sl, err), fail);
    if (s)
        MK_GUARD(rc,
                 set_crl("PCK CRL", (const uint8_t *)s, sl, &c->pck_crl_der, &c->pck_crl_len,
                         &c->pck_crl, &c->pck_crl_this, &c->pck_crl_next, err),
                 fail);
    MK_GUARD(rc, b_opt(j, "pck_crl_issuer_chain", &s, &sl, err), fail);
    if (s) {
        MK_GUARD(rc, set_chain(&c->pck_crl_chain, "PCK CRL", s, sl, err), fail);
        MK_GUARD(rc, load_pck_crl_ca(c, err), fail);
    }
    MK_GUARD(rc, b_opt(j, "root_ca_crl", &s, &sl, err), fail);
    if (s)
        MK_GUARD(rc,
                 set_crl("root CA CRL", (const uint8_t *)s, sl, &c->root_crl_der, &c->root_crl_len,
                         &c->root_crl, &c->root_crl_this, &c->root_crl_next, err),
                 fail);
    if (!c->tcb && !c->qe && !c->pck_crl && !c->root_crl) {
        rc = mk_error_set(err, MK_EMALFORMED, "collateral bundle: no documents");
        goto fail;
    }
    json_decref(j);
    *out = c;
    return 0;
fail:
    json_decref(j);
    mk_tdx_collateral_free(c);
    return rc;
}

static int put_str(json_t *o, const char *key, const char *s, size_t len) {
    json_t *v = json_stringn(s, len);
    if (!v || json_object_set_new(o, key, v) < 0) return MK_ENOMEM;
    return 0;
}

static int put_hex(json_t *o, const char *key, const uint8_t *d, size_t n) {
    char *h = malloc(2 * n + 1);
    if (!h) return MK_ENOMEM;
    mk_hex_encode(d, n, h);
    int rc = put_str(o, key, h, 2 * n);
    free(h);
    return rc;
}

int mk_tdx_collateral_to_bundle(const mk_tdx_collateral *c, mk_buf *out) {
    if (!c || !out) return MK_EINVAL;
    json_t *o = json_object();
    if (!o) return MK_ENOMEM;
    int rc = 0;
    /* dcap-qvl's key order. */
    if (rc == 0 && c->pck_crl_chain)
        rc = put_str(o, "pck_crl_issuer_chain", c->pck_crl_chain, strlen(c->pck_crl_chain));
    if (rc == 0 && c->root_crl) rc = put_hex(o, "root_ca_crl", c->root_crl_der, c->root_crl_len);
    if (rc == 0 && c->pck_crl) rc = put_hex(o, "pck_crl", c->pck_crl_der, c->pck_crl_len);
    if (rc == 0 && c->tcb_chain)
        rc = put_str(o, "tcb_info_issuer_chain", c->tcb_chain, strlen(c->tcb_chain));
    if (rc == 0 && c->tcb) rc = put_str(o, "tcb_info", c->tcb_text, c->tcb_len);
    if (rc == 0 && c->tcb) rc = put_hex(o, "tcb_info_signature", c->tcb_sig, 64);
    if (rc == 0 && c->qe_chain)
        rc = put_str(o, "qe_identity_issuer_chain", c->qe_chain, strlen(c->qe_chain));
    if (rc == 0 && c->qe) rc = put_str(o, "qe_identity", c->qe_text, c->qe_len);
    if (rc == 0 && c->qe) rc = put_hex(o, "qe_identity_signature", c->qe_sig, 64);
    if (rc == 0) {
        char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_INDENT(2));
        rc = s ? mk_buf_append_str(out, s) : MK_ENOMEM;
        free(s);
    }
    json_decref(o);
    return rc;
}

/* ------------------------------------------------------------------ */
/* PCS form                                                            */
/* ------------------------------------------------------------------ */

/* Locate `key` in a PCS body, check the decoded member equals the span,
 * and return the span and the signature string. */
static int pcs_body(const char *what, const char *body, size_t len, const char *key, size_t *off,
                    size_t *vlen, char sig[129], mk_error *err) {
    if (len > MK_TDX_COLLATERAL_MAX)
        return mk_error_set(err, MK_ETOOBIG, "%s response: %zu bytes (max %d)", what, len,
                            MK_TDX_COLLATERAL_MAX);
    json_span sp = {.key = key, .klen = strlen(key)};
    int rc = js_scan(body, len, &sp, err);
    if (rc < 0) return mk_error_prefix(err, rc, "%s response", what);
    if (!sp.found)
        return mk_error_set(err, MK_EMALFORMED, "%s response: no \"%s\" member", what, key);
    json_error_t je;
    json_t *whole = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    json_t *inner = json_loadb(body + sp.off, sp.len, JSON_REJECT_DUPLICATES, &je);
    json_t *s = whole ? json_object_get(whole, "signature") : NULL;
    if (!whole || !inner || !json_equal(inner, json_object_get(whole, key)))
        rc = mk_error_set(err, MK_EMALFORMED, "%s response: invalid JSON", what);
    else if (!json_is_string(s) || json_string_length(s) != 128)
        rc = mk_error_set(err, MK_EMALFORMED, "%s response: \"signature\" is not 128 hex digits",
                          what);
    else
        memcpy(sig, json_string_value(s), 129);
    json_decref(whole);
    json_decref(inner);
    if (rc < 0) return rc;
    *off = sp.off;
    *vlen = sp.len;
    return 0;
}

int mk_tdx_collateral_from_pcs(const mk_tdx_pcs_responses *r, mk_tdx_collateral **out,
                               mk_error *err) {
    if (!r || !out) return mk_error_set(err, MK_EINVAL, "PCS responses: missing argument");
    mk_tdx_collateral *c = coll_new();
    if (!c) return mk_error_set(err, MK_ENOMEM, "out of memory");
    char sig[129];
    size_t off, vlen;
    int rc;
    if (r->tcb_info_body) {
        MK_GUARD(rc,
                 pcs_body("TCB info", r->tcb_info_body, r->tcb_info_len, "tcbInfo", &off, &vlen,
                          sig, err),
                 fail);
        MK_GUARD(rc, set_tcb_info(c, r->tcb_info_body + off, vlen, sig, 128, err), fail);
    }
    if (r->tcb_info_issuer_chain)
        MK_GUARD(rc,
                 set_chain(&c->tcb_chain, "TCB info", r->tcb_info_issuer_chain,
                           strlen(r->tcb_info_issuer_chain), err),
                 fail);
    if (r->qe_identity_body) {
        MK_GUARD(rc,
                 pcs_body("QE identity", r->qe_identity_body, r->qe_identity_len, "enclaveIdentity",
                          &off, &vlen, sig, err),
                 fail);
        MK_GUARD(rc, set_qe_identity(c, r->qe_identity_body + off, vlen, sig, 128, err), fail);
    }
    if (r->qe_identity_issuer_chain)
        MK_GUARD(rc,
                 set_chain(&c->qe_chain, "QE identity", r->qe_identity_issuer_chain,
                           strlen(r->qe_identity_issuer_chain), err),
                 fail);
    if (r->pck_crl)
        MK_GUARD(rc,
                 set_crl("PCK CRL", r->pck_crl, r->pck_crl_len, &c->pck_crl_der, &c->pck_crl_len,
                         &c->pck_crl, &c->pck_crl_this, &c->pck_crl_next, err),
                 fail);
    if (r->pck_crl_issuer_chain) {
        MK_GUARD(rc,
                 set_chain(&c->pck_crl_chain, "PCK CRL", r->pck_crl_issuer_chain,
                           strlen(r->pck_crl_issuer_chain), err),
                 fail);
        MK_GUARD(rc, load_pck_crl_ca(c, err), fail);
    }
    if (r->root_ca_crl)
        MK_GUARD(rc,
                 set_crl("root CA CRL", r->root_ca_crl, r->root_ca_crl_len, &c->root_crl_der,
                         &c->root_crl_len, &c->root_crl, &c->root_crl_this, &c->root_crl_next, err),
                 fail);
    if (!c->tcb && !c->qe && !c->pck_crl && !c->root_crl) {
        rc = mk_error_set(err, MK_EINVAL, "PCS responses: no documents");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    mk_tdx_collateral_free(c);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

const mk_tdx_tcb_info *mk_tdx_collateral_tcb_info(const mk_tdx_collateral *c) {
    return c ? c->tcb : NULL;
}

const mk_tdx_qe_identity *mk_tdx_collateral_qe_identity(const mk_tdx_collateral *c) {
    return c ? c->qe : NULL;
}

bool mk_tdx_collateral_fmspc(const mk_tdx_collateral *c, uint8_t fmspc[6]) {
    if (!c || !c->tcb) return false;
    memcpy(fmspc, c->tcb->fmspc, 6);
    return true;
}

int64_t mk_tdx_collateral_next_update(const mk_tdx_collateral *c) {
    if (!c) return 0;
    int64_t m = INT64_MAX;
    if (c->tcb && c->tcb->next_update < m) m = c->tcb->next_update;
    if (c->qe && c->qe->next_update < m) m = c->qe->next_update;
    if (c->pck_crl && c->pck_crl_next < m) m = c->pck_crl_next;
    if (c->root_crl && c->root_crl_next < m) m = c->root_crl_next;
    return m == INT64_MAX ? 0 : m;
}

/* ------------------------------------------------------------------ */
/* Verification                                                        */
/* ------------------------------------------------------------------ */

static int window(const char *what, int64_t from, int64_t until, int64_t now, mk_error *err) {
    char a[MK_RFC3339_LEN], b[MK_RFC3339_LEN];
    if (now < from) {
        mk_time_format_rfc3339(from, a);
        mk_time_format_rfc3339(now, b);
        return mk_error_set(err, MK_ENOTYET, "%s not valid before %s (now %s)", what, a, b);
    }
    if (now >= until) {
        mk_time_format_rfc3339(until, a);
        mk_time_format_rfc3339(now, b);
        return mk_error_set(err, MK_EEXPIRED, "%s expired at %s (now %s)", what, a, b);
    }
    return 0;
}

static void cert_cn(X509 *x, char *out, size_t n) {
    out[0] = 0;
    X509_NAME *nm = x ? X509_get_subject_name(x) : NULL;
    int i = nm ? X509_NAME_get_index_by_NID(nm, NID_commonName, -1) : -1;
    if (i < 0) return;
    ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i));
    int len = ASN1_STRING_length(s);
    if (len < 0) return;
    size_t l = (size_t)len < n - 1 ? (size_t)len : n - 1;
    memcpy(out, ASN1_STRING_get0_data(s), l);
    out[l] = 0;
}

typedef struct vstate {
    mk_tdx_trust *t;
    int64_t now;
    int64_t until;
    int roots; /* bit 0: Intel root seen, bit 1: simulator root seen */
} vstate;

static void note_chain(vstate *v, const mk_tdx_chain *ch) {
    v->roots |= ch->simulated ? 2 : 1;
    if (ch->not_after < v->until) v->until = ch->not_after;
}

/* A JSON document: chain (leaf issued by the root, "TCB Signing"),
 * not revoked by the root CA CRL, signature over the exact text, window. */
static int verify_doc(vstate *v, const mk_tdx_collateral *c, const char *what, const char *chain,
                      const char *text, size_t len, const uint8_t sig[64], int64_t issue,
                      int64_t next, mk_error *err) {
    if (!chain) return mk_error_set(err, MK_ENOTFOUND, "%s: no issuer chain", what);
    mk_tdx_chain ch;
    memset(&ch, 0, sizeof ch);
    int rc = mk_tdx_chain_verify_pem(v->t, chain, strlen(chain), v->now, &ch, err);
    if (rc < 0) return mk_error_prefix(err, rc, "%s issuer chain", what);
    char cn[128];
    cert_cn(ch.leaf, cn, sizeof cn);
    mk_pubkey *key = NULL;
    if (ch.intermediate || !strstr(cn, "TCB Signing")) {
        rc = mk_error_set(err, MK_EUNTRUSTED,
                          "%s: signer '%s' is not a TCB signing certificate issued by the root",
                          what, cn);
    } else if (c->root_crl && (rc = mk_tdx_crl_lookup(c->root_crl, ch.leaf, err)) < 0) {
        mk_error_prefix(err, rc, "%s signer '%s'", what, cn);
    } else if ((rc = mk_pubkey_from_evp(ch.leaf_key, &key)) < 0) {
        mk_error_set(err, rc, "%s: cannot use the signer's key", what);
    } else if ((rc = mk_ecdsa_verify_raw(key, MK_SHA256, text, len, sig, 64, err)) < 0) {
        if (rc == MK_EBADSIG)
            mk_error_set(err, MK_EBADSIG, "%s: signature does not verify under '%s'", what, cn);
        else
            mk_error_prefix(err, rc, "%s signature", what);
    } else if ((rc = window(what, issue, next, v->now, err)) == 0) {
        note_chain(v, &ch);
        if (next < v->until) v->until = next;
    }
    mk_pubkey_free(key);
    mk_tdx_chain_free(&ch);
    return rc;
}

int mk_tdx_collateral_verify_doc(const mk_tdx_collateral *c, mk_tdx_trust *t, mk_tdx_doc which,
                                 int64_t now, mk_error *err) {
    if (!c || !t) return mk_error_set(err, MK_EINVAL, "collateral: missing argument");
    vstate v = {.t = t, .now = now, .until = INT64_MAX, .roots = 0};
    if (which == MK_TDX_DOC_TCB_INFO) {
        if (!c->tcb) return mk_error_set(err, MK_ENOTFOUND, "collateral: no TCB info");
        return verify_doc(&v, c, "TCB info", c->tcb_chain, c->tcb_text, c->tcb_len, c->tcb_sig,
                          c->tcb->issue_date, c->tcb->next_update, err);
    }
    if (which == MK_TDX_DOC_QE_IDENTITY) {
        if (!c->qe) return mk_error_set(err, MK_ENOTFOUND, "collateral: no QE identity");
        return verify_doc(&v, c, "QE identity", c->qe_chain, c->qe_text, c->qe_len, c->qe_sig,
                          c->qe->issue_date, c->qe->next_update, err);
    }
    return mk_error_set(err, MK_EINVAL, "collateral: unknown document");
}

static int verify_uncached(const mk_tdx_collateral *c, vstate *v, mk_error *err) {
    if (!c->tcb) return mk_error_set(err, MK_ENOTFOUND, "collateral: no TCB info");
    if (!c->qe) return mk_error_set(err, MK_ENOTFOUND, "collateral: no QE identity");
    if (!c->pck_crl) return mk_error_set(err, MK_ENOTFOUND, "collateral: no PCK CRL");
    if (!c->root_crl) return mk_error_set(err, MK_ENOTFOUND, "collateral: no root CA CRL");
    if (!c->pck_crl_chain)
        return mk_error_set(err, MK_ENOTFOUND, "collateral: no PCK CRL issuer chain");

    /* PCK CRL issuer chain: the CA issued by the root. */
    mk_tdx_chain ch;
    memset(&ch, 0, sizeof ch);
    int rc =
        mk_tdx_chain_verify_pem(v->t, c->pck_crl_chain, strlen(c->pck_crl_chain), v->now, &ch, err);
    if (rc < 0) return mk_error_prefix(err, rc, "PCK CRL issuer chain");
    bool sim = ch.simulated;
    X509 *root = mk_tdx_trust_root(v->t, sim);
    char cn[128];
    cert_cn(ch.leaf, cn, sizeof cn);
    if (ch.intermediate || !root) {
        rc = mk_error_set(err, MK_EUNTRUSTED, "PCK CRL issuer '%s' is not issued by the root", cn);
    } else if (X509_cmp(ch.leaf, c->pck_crl_ca) != 0) {
        rc = mk_error_set(err, MK_EMALFORMED, "PCK CRL issuer chain: unexpected leaf");
    } else if (X509_NAME_cmp(X509_CRL_get_issuer(c->pck_crl), X509_get_subject_name(ch.leaf))) {
        rc = mk_error_set(err, MK_EMISMATCH, "PCK CRL is not issued by '%s'", cn);
    } else if (X509_NAME_cmp(X509_CRL_get_issuer(c->root_crl), X509_get_subject_name(root))) {
        rc = mk_error_set(err, MK_EMISMATCH, "root CA CRL is not issued by the trusted root");
    } else if ((rc = window("root CA CRL", c->root_crl_this, c->root_crl_next, v->now, err)) < 0) {
    } else if ((rc = mk_tdx_crl_check(c->root_crl, root, v->now, err)) < 0) {
        mk_error_prefix(err, rc, "root CA CRL");
    } else if ((rc = window("PCK CRL", c->pck_crl_this, c->pck_crl_next, v->now, err)) < 0) {
    } else if ((rc = mk_tdx_crl_check(c->pck_crl, ch.leaf, v->now, err)) < 0) {
        mk_error_prefix(err, rc, "PCK CRL");
    } else if ((rc = mk_tdx_crl_lookup(c->root_crl, ch.leaf, err)) < 0) {
        mk_error_prefix(err, rc, "PCK CRL issuer '%s'", cn);
    } else {
        note_chain(v, &ch);
        if (c->root_crl_next < v->until) v->until = c->root_crl_next;
        if (c->pck_crl_next < v->until) v->until = c->pck_crl_next;
    }
    mk_tdx_chain_free(&ch);
    if (rc < 0) return rc;

    MK_TRY(verify_doc(v, c, "TCB info", c->tcb_chain, c->tcb_text, c->tcb_len, c->tcb_sig,
                      c->tcb->issue_date, c->tcb->next_update, err));
    MK_TRY(verify_doc(v, c, "QE identity", c->qe_chain, c->qe_text, c->qe_len, c->qe_sig,
                      c->qe->issue_date, c->qe->next_update, err));
    if (v->roots == 3)
        return mk_error_set(err, MK_EUNTRUSTED,
                            "collateral chains end in different roots (Intel and simulator)");
    return 0;
}

static bool sim_root_digest(mk_tdx_trust *t, uint8_t out[32]) {
    X509 *root = mk_tdx_trust_root(t, true);
    unsigned int n = 0;
    return root && X509_digest(root, EVP_sha256(), out, &n) == 1 && n == 32;
}

int mk_tdx_collateral_verify(const mk_tdx_collateral *cc, mk_tdx_trust *t, int64_t now,
                             int64_t *valid_until, bool *simulated, mk_error *err) {
    if (!cc || !t) return mk_error_set(err, MK_EINVAL, "collateral: missing argument");
    mk_tdx_collateral *c = (mk_tdx_collateral *)cc; /* only the cache is written */
    uint8_t dig[32];

    pthread_mutex_lock(&c->lock);
    bool hit = c->cache_ok && now >= c->cache_from && now < c->cache_until;
    bool sim = c->cache_sim;
    int64_t until = c->cache_until;
    uint8_t cached_dig[32];
    memcpy(cached_dig, c->cache_sim_root, 32);
    pthread_mutex_unlock(&c->lock);
    if (hit && sim) hit = sim_root_digest(t, dig) && memcmp(dig, cached_dig, 32) == 0;
    if (hit) {
        if (valid_until) *valid_until = until;
        if (simulated) *simulated = sim;
        return 0;
    }

    vstate v = {.t = t, .now = now, .until = INT64_MAX, .roots = 0};
    int rc = verify_uncached(c, &v, err);
    if (rc < 0) return rc;
    sim = v.roots == 2;
    bool have_dig = !sim || sim_root_digest(t, dig);
    pthread_mutex_lock(&c->lock);
    if (have_dig && v.until > now) {
        c->cache_ok = true;
        c->cache_from = now;
        c->cache_until = v.until;
        c->cache_sim = sim;
        if (sim) memcpy(c->cache_sim_root, dig, 32);
    }
    pthread_mutex_unlock(&c->lock);
    if (valid_until) *valid_until = v.until;
    if (simulated) *simulated = sim;
    return 0;
}

int mk_tdx_collateral_check_revocation(const mk_tdx_collateral *c, const mk_tdx_chain *chain,
                                       mk_error *err) {
    if (!c || !chain || !chain->leaf)
        return mk_error_set(err, MK_EINVAL, "revocation: missing argument");
    if (!c->root_crl || !c->pck_crl || !c->pck_crl_ca)
        return mk_error_set(err, MK_ENOTFOUND, "revocation: collateral has no CRLs");
    if (!chain->intermediate)
        return mk_error_set(err, MK_EMALFORMED, "revocation: PCK chain has no intermediate CA");
    char cn[128];
    cert_cn(chain->intermediate, cn, sizeof cn);
    if (X509_NAME_cmp(X509_CRL_get_issuer(c->root_crl), X509_get_issuer_name(chain->intermediate)))
        return mk_error_set(err, MK_EMISMATCH, "root CA CRL is not from the issuer of '%s'", cn);
    int rc = mk_tdx_crl_lookup(c->root_crl, chain->intermediate, err);
    if (rc < 0) return mk_error_prefix(err, rc, "PCK chain intermediate '%s'", cn);
    /* The PCK CRL must come from the very CA that issued the leaf. */
    if (X509_NAME_cmp(X509_CRL_get_issuer(c->pck_crl), X509_get_issuer_name(chain->leaf))) {
        char crl_cn[128];
        cert_cn(c->pck_crl_ca, crl_cn, sizeof crl_cn);
        return mk_error_set(err, MK_EMISMATCH,
                            "PCK CRL is from '%s' but the PCK certificate is issued by '%s'",
                            crl_cn, cn);
    }
    if (X509_cmp(c->pck_crl_ca, chain->intermediate) != 0)
        return mk_error_set(err, MK_EMISMATCH,
                            "PCK CRL issuer certificate differs from the PCK chain's '%s'", cn);
    rc = mk_tdx_crl_lookup(c->pck_crl, chain->leaf, err);
    if (rc < 0) return mk_error_prefix(err, rc, "PCK certificate");
    return 0;
}
