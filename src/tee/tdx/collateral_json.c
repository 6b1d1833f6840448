/*
 * tee/tdx/collateral_json.c — JSON for the collateral documents. jansson
 * parses every text; this file adds the two things jansson does not do.
 *
 * 1. The depth cap. Every collateral text is parsed by jansson with
 *    JSON_REJECT_DUPLICATES, then its tree is walked and a value nested
 *    deeper than MK_TDX_JSON_DEPTH_MAX refuses the text (MK_ETOOBIG). The
 *    top-level object has depth 1 and a value inside a container one more
 *    than the container. (jansson's own limit, JSON_PARSER_MAX_DEPTH, is a
 *    compile-time 2048 that keeps its recursive parser off the end of the
 *    stack; a text beyond it is refused as too deep as well.)
 *
 * 2. Exact bytes. Intel signs the bytes of the "tcbInfo" / "enclaveIdentity"
 *    value exactly as its PCS serves them, and jansson keeps no byte
 *    offsets, so a PCS body's top-level object is walked once more over the
 *    raw text: whitespace and punctuation through the bounds-checked reader,
 *    each member name and value measured by jansson itself (json_loadb with
 *    JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK stops after one value and
 *    leaves the number of bytes it consumed in json_error_t.position). A
 *    member counts only when its name is spelled exactly as asked, without
 *    escapes. The caller then parses that span, never a re-serialisation,
 *    and requires it to equal the body's decoded member (collateral.c), so
 *    a name spelled with an escape ("tcb\u0049nfo") cannot make the
 *    evaluated document differ from the signed one.
 *
 * Invariant: the walk only runs over text mk_tdx_json_load accepted, so the
 * tokens it meets are well formed; a surprise is still an error, never a
 * read out of bounds (every step goes through mk_reader).
 */
#include <string.h>

#include "mosaik/bytes.h"
#include "core/json.h"
#include "tee/tdx/collateral_impl_internal.h"

static int too_deep(mk_error *err) {
    return mk_error_set(err, MK_ETOOBIG, "JSON: nesting deeper than %d", MK_TDX_JSON_DEPTH_MAX);
}

int mk_tdx_json_load(const char *text, size_t len, json_t **out, mk_error *err) {
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (json_error_code(&je) == json_error_stack_overflow) return too_deep(err);
        return mk_error_set(err, MK_EMALFORMED, "JSON: %s at offset %d", je.text, je.position);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return mk_error_set(err, MK_EMALFORMED, "JSON: not an object");
    }
    if (!mk_json_depth_ok(j, MK_TDX_JSON_DEPTH_MAX)) {
        json_decref(j);
        return too_deep(err);
    }
    *out = j;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The span of a top-level member                                      */
/* ------------------------------------------------------------------ */

static int walk_fail(const mk_reader *r, mk_error *err, const char *what) {
    return mk_error_set(err, MK_EMALFORMED, "JSON: %s at offset %zu", what, mk_reader_offset(r));
}

static void skip_ws(mk_reader *r) {
    const uint8_t *p;
    while (mk_reader_peek(r, 1, &p) == 0 &&
           (p[0] == ' ' || p[0] == '\t' || p[0] == '\n' || p[0] == '\r'))
        (void)mk_read_skip(r, 1);
}

static bool take(mk_reader *r, uint8_t want) {
    uint8_t c;
    return mk_read_u8(r, &c) == 0 && c == want;
}

/* The next JSON value (a member name is a string value) at the cursor, as a
 * view of its bytes; the cursor moves past it. jansson measures it. */
static int next_value(mk_reader *r, const uint8_t **v, size_t *n, mk_error *err) {
    size_t left = mk_reader_remaining(r);
    const uint8_t *p;
    if (left == 0 || mk_reader_peek(r, left, &p) < 0) return walk_fail(r, err, "expected a value");
    json_error_t je;
    json_t *j = json_loadb((const char *)p, left, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &je);
    bool ok = j && je.position > 0 && (size_t)je.position <= left;
    json_decref(j);
    if (!ok) return walk_fail(r, err, "expected a value");
    *n = (size_t)je.position;
    return mk_read_view(r, *n, v);
}

int mk_tdx_json_member_span(const char *text, size_t len, const char *key, bool *found, size_t *off,
                            size_t *vlen, mk_error *err) {
    size_t klen = strlen(key);
    mk_reader r;
    mk_reader_init(&r, text, len);
    *found = false;
    skip_ws(&r);
    if (!take(&r, '{')) return walk_fail(&r, err, "expected an object");
    skip_ws(&r);
    const uint8_t *p;
    if (mk_reader_peek(&r, 1, &p) == 0 && p[0] == '}') return 0;
    for (;;) {
        const uint8_t *name, *value;
        size_t nlen, vn;
        skip_ws(&r);
        MK_TRY(next_value(&r, &name, &nlen, err));
        bool wanted = nlen == klen + 2 && name[0] == '"' && memcmp(name + 1, key, klen) == 0 &&
                      name[klen + 1] == '"';
        skip_ws(&r);
        if (!take(&r, ':')) return walk_fail(&r, err, "expected ':'");
        skip_ws(&r);
        size_t vstart = mk_reader_offset(&r);
        MK_TRY(next_value(&r, &value, &vn, err));
        if (wanted) {
            if (*found) return walk_fail(&r, err, "duplicate key");
            *found = true;
            *off = vstart;
            *vlen = vn;
        }
        skip_ws(&r);
        uint8_t c;
        if (mk_read_u8(&r, &c) < 0) return walk_fail(&r, err, "unterminated object");
        if (c == '}') return 0;
        if (c != ',') return walk_fail(&r, err, "expected ',' or '}'");
    }
}
