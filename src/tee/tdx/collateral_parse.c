/*
 * tee/tdx/collateral_parse.c — the TCB info and TD_QE identity parsers: from
 * the jansson tree of a signed document to the structures of
 * collateral_internal.h, which tcb.c evaluates without further checks.
 *
 * Every field the TCB evaluation reads is validated here: hex strings have
 * exactly the expected number of digits (any case), integers are in range,
 * times are RFC 3339, status names are Intel's and allowed for the list
 * they appear in (platform levels, module identity levels and QE levels
 * each have their own set), advisory IDs are short printable strings.
 * Lists are capped (MK_TDX_TCB_LEVELS_MAX, MK_TDX_MODULE_IDS_MAX,
 * MK_TDX_LEVEL_ADVISORIES_MAX). The TCB info must be version 3 with id
 * "TDX" or "SGX" (a TDX one has tdxModule), the QE identity version 2 (or
 * 3). Reasons name the field and, inside lists, the index.
 *
 * Orders (collateral_internal.h): platform TCB levels are sorted into
 * Intel's evaluation order — SGX component vector, then PCESVN, then TDX
 * component vector, all descending (a stable insertion sort; two equal
 * levels are refused as Intel does); module identity levels by ISVSVN
 * descending (stable); QE identity levels stay in JSON order.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/clock.h"
#include "mosaik/encoding.h"
#include "tee/tdx/collateral_impl_internal.h"

/* ------------------------------------------------------------------ */
/* Status names                                                        */
/* ------------------------------------------------------------------ */

/* verify.c owns the name table (mk_tdx_tcb_status_name). */
const char *mk_tdx_status_str(mk_tdx_tcb_status s) {
    return mk_tdx_tcb_status_name(s);
}

/* Status sets a document may use (Intel's VALID_TCB_INFO_STATUSES etc.). */
#define BIT(s) (1u << (unsigned)(s))
#define PLATFORM_STATUSES                                                                          \
    (BIT(MK_TDX_TCB_UP_TO_DATE) | BIT(MK_TDX_TCB_OUT_OF_DATE) |                                    \
     BIT(MK_TDX_TCB_CONFIGURATION_NEEDED) | BIT(MK_TDX_TCB_REVOKED) |                              \
     BIT(MK_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED) | BIT(MK_TDX_TCB_SW_HARDENING_NEEDED) |      \
     BIT(MK_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED))
#define MODULE_STATUSES                                                                            \
    (BIT(MK_TDX_TCB_UP_TO_DATE) | BIT(MK_TDX_TCB_OUT_OF_DATE) | BIT(MK_TDX_TCB_REVOKED))
#define QE_STATUSES                                                                                \
    (BIT(MK_TDX_TCB_UP_TO_DATE) | BIT(MK_TDX_TCB_OUT_OF_DATE) |                                    \
     BIT(MK_TDX_TCB_CONFIGURATION_NEEDED) | BIT(MK_TDX_TCB_REVOKED) |                              \
     BIT(MK_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED))

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

static int f_status(json_t *o, unsigned allowed, mk_tdx_tcb_status *out, mk_error *err) {
    const char *s;
    MK_TRY(f_str(o, "tcbStatus", &s, NULL, err));
    for (int i = 0; i < MK_TDX_TCB_STATUS_COUNT; i++) {
        if (strcmp(s, mk_tdx_tcb_status_name((mk_tdx_tcb_status)i)) == 0 && (allowed & BIT(i))) {
            *out = (mk_tdx_tcb_status)i;
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

void mk_tdx_tcb_info_free(mk_tdx_tcb_info *t) {
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

int mk_tdx_tcb_info_parse(json_t *o, mk_tdx_tcb_info **out, mk_error *err) {
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
    mk_tdx_tcb_info_free(t);
    return rc;
}

/* ------------------------------------------------------------------ */
/* QE identity                                                         */
/* ------------------------------------------------------------------ */

void mk_tdx_qe_identity_free(mk_tdx_qe_identity *q) {
    if (!q) return;
    isv_levels_free(q->levels, q->n_levels);
    free(q);
}

static uint32_t le32(const uint8_t b[4]) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

int mk_tdx_qe_identity_parse(json_t *o, mk_tdx_qe_identity **out, mk_error *err) {
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
    mk_tdx_qe_identity_free(q);
    return rc;
}
