/*
 * The status page's documents (tools/mosaik/http_json.c, http_page.c,
 * http_route.c; docs/status-page.md) built over a live network and group:
 * the node, a group with its member, role, leader and commit index after
 * a command, the recent refusals (and the page's escaping of a hostile
 * reason), the peer filter; and the router's rules on a table of targets.
 */
#include "http.h"
#include "unit/groups/groups_util.h"

static void test_route(void **state) {
    (void)state;
    static const struct {
        const char *method, *url;
        int status;
    } cases[] = {
        {"GET", "/", 200},
        {"HEAD", "/api/status.json", 200},
        {"GET", "/api/peers.json?peer=ABcd&refresh=7&utm=1", 200},
        {"GET", "/metrics?", 200},
        {"POST", "/", 405},
        {"get", "/", 405},
        {"GET", "", 400},
        {"GET", "api", 400},
        {"GET", "/ x", 400},
        {"GET", "/\x7f", 400},
        {"GET", "/nope", 404},
        {"GET", "/api/status.json/", 404},
        {"GET", "/%61pi/status.json", 404},
        {"GET", "/?peer=g", 400},
        {"GET", "/?peer=%", 400},
        {"GET", "/?peer=%4", 400},
        {"GET", "/?x=%0a", 400},
        {"GET", "/?refresh=3601", 400},
        {"GET", "/?refresh=", 400},
        {"GET", "/?refresh=1&refresh=1", 400},
        {"GET", "/?a&b&c&d&e&f&g&h&i", 400},
        {"GET", "/?a&b&c&d&e&f&g&h", 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_route r;
        const char *why = NULL;
        int st = http_route_parse(cases[i].method, cases[i].url, &r, &why);
        if (st != cases[i].status)
            fail_msg("%s %s: %d (%s), want %d", cases[i].method, cases[i].url, st, why,
                     cases[i].status);
        assert_non_null(why);
    }
    http_route r;
    assert_int_equal(http_route_parse("GET", "/api/peers.json?peer=ABcd&refresh=7", &r, NULL), 200);
    assert_int_equal(r.id, HTTP_R_PEERS);
    assert_string_equal(r.peer, "abcd");
    assert_int_equal(r.refresh, 7);
    char long_url[HTTP_MAX_URL + 2];
    memset(long_url, 'a', sizeof long_url);
    long_url[0] = '/';
    long_url[sizeof long_url - 1] = 0;
    assert_int_equal(http_route_parse("GET", long_url, &r, NULL), 414);
}

static json_t *find(json_t *arr, const char *key, const char *val) {
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        const char *s = json_string_value(json_object_get(o, key));
        if (s && !strcmp(s, val)) return o;
    }
    return NULL;
}

static void test_documents(void **state) {
    (void)state;
    mk_network *nw = tg_net("status-json", NULL);
    char *dir = tg_tmpdir("status");
    tg_counter ctr = {0};
    mk_group_sm sm = tg_counter_sm(&ctr);
    mk_group_config cfg;
    mk_group_config_init(&cfg);
    mk_id_from_name(&cfg.key, "status key");
    mk_id_from_name(&cfg.sm_signature, "test.counter.v1");
    cfg.sm = &sm;
    cfg.data_dir = dir;
    cfg.bootstrap = true;
    cfg.election_ms = 300;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    cfg.name = "counter";
    mk_group *g = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(tg_join(nw, &cfg, &g, &err), 0, &err);
    assert_int_equal(tg_add(g, 5, 5000), 5);
    TG_WAIT(mk_group_members(g, NULL, 0) == 1, 5000, "the configuration");
    mk_id self, other;
    mk_network_peer_id(nw, &self);
    mk_id_from_name(&other, "someone");
    char hs[MK_ID_HEX_LEN], ho[MK_ID_HEX_LEN];
    mk_id_to_hex(&self, hs);
    mk_id_to_hex(&other, ho);
    mk_network_note_refusal(nw, &other, MK_REFUSAL_COLLECTION, false, "vault",
                            "<script>alert(1)</script> & \"quotes\"");

    http_group hg = {"counter", g};
    http_view v = {nw, NULL, NULL, mk_mono_ms(), &hg, 1};
    json_t *st = http_status_json(&v, NULL);
    assert_non_null(st);
    json_t *node = json_object_get(st, "node");
    assert_string_equal(json_string_value(json_object_get(node, "peer")), hs);
    json_t *gj = json_array_get(json_object_get(st, "groups"), 0);
    assert_non_null(gj);
    assert_string_equal(json_string_value(json_object_get(gj, "name")), "counter");
    assert_string_equal(json_string_value(json_object_get(gj, "leader")), hs);
    assert_true(json_integer_value(json_object_get(gj, "commit")) >= 1);
    json_t *m = find(json_object_get(gj, "members"), "peer", hs);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "role")), "writer");
    assert_true(json_is_true(json_object_get(m, "leader")) &&
                json_is_true(json_object_get(m, "self")));
    /* The same group in the Prometheus text: each family once, a sample
     * per group (the group twice here), the label escaped. */
    mk_group *gs[2] = {g, g};
    const char *names[2] = {"coun\"ter", "counter"};
    mk_buf prom = MK_BUF_INIT;
    assert_int_equal(mk_group_metrics_prometheus(gs, names, 2, &prom), 0);
    assert_int_equal(mk_buf_append_u8(&prom, 0), 0);
    const char *text = (const char *)prom.data;
    char want[160];
    char ps[9];
    mk_id_short(&self, ps);
    snprintf(want, sizeof want,
             "mosaik_group_is_leader{peer=\"%s\",group=\"coun\\\"ter\",group_id=\"", ps);
    assert_non_null(strstr(text, want));
    const char *h = strstr(text, "# HELP mosaik_group_commit_index ");
    assert_non_null(h);
    assert_null(strstr(h + 1, "# HELP mosaik_group_commit_index "));
    size_t samples = 0;
    for (const char *q = text; (q = strstr(q, "\nmosaik_group_commit_index{")); q++)
        samples++;
    assert_int_equal(samples, 2);
    const char *c = strstr(text, "\nmosaik_group_commit_index{");
    c = strchr(c, '}');
    assert_true(strtoull(c + 1, NULL, 10) >= 1);
    mk_buf_free(&prom);
    assert_int_equal(mk_group_metrics_prometheus(NULL, NULL, 1, &prom), MK_EINVAL);

    json_t *r = find(json_object_get(st, "refusals"), "peer", ho);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "layer")), "collection");
    assert_string_equal(json_string_value(json_object_get(r, "where")), "vault");
    assert_string_equal(json_string_value(json_object_get(r, "direction")), "we refused");
    assert_int_equal(json_integer_value(json_object_get(st, "peers_total")), 0);

    /* The page: the group and the refusal, the reason escaped. */
    mk_buf page = MK_BUF_INIT;
    assert_int_equal(http_page_render(st, 0, &page), 0);
    assert_int_equal(mk_buf_append_u8(&page, 0), 0);
    const char *html = (const char *)page.data;
    assert_non_null(strstr(html, "<td>counter</td>"));
    assert_non_null(strstr(html, "writer, leader, this node"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    assert_null(strstr(html, "<script>alert"));
    assert_non_null(strstr(html, "data-refresh=\"0\""));
    mk_buf_free(&page);
    json_decref(st);

    /* A filter that matches no peer; peers.json has the same shape. */
    json_t *pj = http_peers_json(&v, "ffff");
    assert_int_equal(json_array_size(json_object_get(pj, "peers")), 0);
    assert_true(json_is_false(json_object_get(pj, "peers_truncated")));
    json_decref(pj);

    tg_group_free(g);
    tg_net_free(nw);
    tg_dir_free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route),
        cmocka_unit_test_teardown(test_documents, tg_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
