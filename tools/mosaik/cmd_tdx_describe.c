/*
 * tools/mosaik/cmd_tdx_describe.c — quotes, tickets and verdicts as JSON
 * for `mosaik tdx verify` and `mosaik tdx inspect`.
 *
 * Fields are added to a caller's object in a fixed order (the output keeps
 * insertion order), binary values as lowercase hex. Keys whose value is
 * unknown are present with JSON null, so that a report always has the same
 * shape. The text form prints each key as "key: value" (strings bare, other
 * values as compact JSON) and a nested object as indented lines.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cmd_tdx.h"

json_t *cli_tdx_jhex(const uint8_t *d, size_t n) {
    char *s = malloc(2 * n + 1);
    if (!s) return json_null();
    mk_hex_encode(d, n, s);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static json_t *jhex_u64(uint64_t v) {
    char s[19];
    snprintf(s, sizeof s, "%016llx", (unsigned long long)v);
    return json_string(s);
}

void cli_tdx_describe_quote(json_t *o, const mk_tdx_quote *q) {
    const mk_tdx_td_report *r = &q->body;
    json_object_set_new(o, "quote_version", json_integer(q->version));
    json_object_set_new(o, "body",
                        json_string(q->body_type == MK_TDX_BODY_TD15 ? "TD1.5" : "TD1.0"));
    json_object_set_new(o, "tee_tcb_svn", cli_tdx_jhex(r->tee_tcb_svn, 16));
    json_object_set_new(o, "td_attributes", jhex_u64(r->td_attributes));
    json_object_set_new(o, "debug", json_boolean(r->td_attributes & MK_TDX_ATTR_DEBUG));
    json_object_set_new(o, "xfam", jhex_u64(r->xfam));
    json_object_set_new(o, "mrtd", cli_tdx_jhex(r->mr_td, 48));
    for (int i = 0; i < 4; i++) {
        char k[8];
        snprintf(k, sizeof k, "rtmr%d", i);
        json_object_set_new(o, k, cli_tdx_jhex(r->rtmr[i], 48));
    }
    json_object_set_new(o, "mr_config_id", cli_tdx_jhex(r->mr_config_id, 48));
    json_object_set_new(o, "mr_owner", cli_tdx_jhex(r->mr_owner, 48));
    json_object_set_new(o, "mr_owner_config", cli_tdx_jhex(r->mr_owner_config, 48));
    json_object_set_new(o, "mr_seam", cli_tdx_jhex(r->mr_seam, 48));
    json_object_set_new(o, "mr_service_td",
                        q->body_type == MK_TDX_BODY_TD15 ? cli_tdx_jhex(r->mr_service_td, 48)
                                                         : json_null());
    json_object_set_new(o, "report_data", cli_tdx_jhex(r->report_data, 64));
    json_object_set_new(o, "trailing_bytes", json_integer((json_int_t)q->trailing_bytes));
}

static const char *const QUOTE_KEYS[] = {
    "quote_version", "body",         "tee_tcb_svn",   "td_attributes",   "debug",
    "xfam",          "mrtd",         "rtmr0",         "rtmr1",           "rtmr2",
    "rtmr3",         "mr_config_id", "mr_owner",      "mr_owner_config", "mr_seam",
    "mr_service_td", "report_data",  "trailing_bytes"};

void cli_tdx_null_quote_fields(json_t *o) {
    for (size_t i = 0; i < sizeof QUOTE_KEYS / sizeof *QUOTE_KEYS; i++)
        if (!json_object_get(o, QUOTE_KEYS[i])) json_object_set_new(o, QUOTE_KEYS[i], json_null());
}

void cli_tdx_describe_result(json_t *o, const mk_tdx_result *res, bool have) {
    if (have && res->collateral_checked && res->tcb_status != MK_TDX_TCB_UNKNOWN) {
        json_object_set_new(o, "tcb_status", json_string(mk_tdx_tcb_status_name(res->tcb_status)));
        json_t *a = json_array();
        for (size_t i = 0; i < res->n_advisories && i < MK_TDX_MAX_ADVISORIES; i++)
            json_array_append_new(a, json_string(res->advisory_ids[i]));
        json_object_set_new(o, "advisory_ids", a);
    } else {
        json_object_set_new(o, "tcb_status", json_null());
        json_object_set_new(o, "advisory_ids", json_array());
    }
    bool has_fmspc = false;
    for (int i = 0; have && i < 6; i++)
        has_fmspc |= res->fmspc[i] != 0;
    json_object_set_new(o, "fmspc", has_fmspc ? cli_tdx_jhex(res->fmspc, 6) : json_null());
    json_object_set_new(o, "simulated", json_boolean(have && res->simulated));
    if (have && res->valid_until > 0 && res->valid_until != INT64_MAX) {
        char t[MK_RFC3339_LEN];
        mk_time_format_rfc3339(res->valid_until, t);
        json_object_set_new(o, "valid_until", json_string(t));
    } else {
        json_object_set_new(o, "valid_until", json_null());
    }
}

void cli_tdx_describe_extra(json_t *o, const mk_tdx_extra_data *x) {
    json_t *t = json_object();
    json_object_set_new(t, "peer_id", cli_tdx_jhex(x->peer_id.b, 32));
    json_object_set_new(t, "network_id", cli_tdx_jhex(x->network_id.b, 32));
    json_object_set_new(t, "started_at", json_integer(x->started_at));
    json_object_set_new(t, "quoted_at", json_integer(x->quoted_at));
    json_object_set_new(t, "expiration",
                        x->expiration == MK_EXPIRES_NEVER ? json_null()
                                                          : json_integer(x->expiration));
    json_object_set_new(o, "ticket", t);
}

/* Print a JSON object as "key: value" lines. */
static void print_text(json_t *o) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (json_is_object(v)) {
            printf("%s:\n", k);
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2) {
                char *s = json_dumps(v2, JSON_ENCODE_ANY);
                printf("  %s: %s\n", k2, s ? s : "?");
                free(s);
            }
            continue;
        }
        if (json_is_string(v)) {
            printf("%s: %s\n", k, json_string_value(v));
            continue;
        }
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("%s: %s\n", k, s ? s : "?");
        free(s);
    }
}

void cli_tdx_emit(json_t *o, bool json) {
    if (json)
        cli_emit(o);
    else
        print_text(o);
}
