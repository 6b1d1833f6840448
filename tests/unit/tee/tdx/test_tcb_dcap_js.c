/*
 * tests/unit/tee/tdx/test_tcb_dcap_js.c — the TCB what-if cases that the
 * pure-JS dcap-qvl (@phala/dcap-qvl 0.3.9, npm) can check, run through it
 * and through mk_tdx_verify on the same documents: simulator quotes with
 * chosen TEE TCB SVNs and the simulator's own signed collateral, the
 * JS verifier trusting the simulator root (QuoteVerifier.newWithRootCa;
 * @phala/dcap-qvl-web pins Intel's root and cannot take these, see
 * docs/tdx-tcb-rules.md section 5). Each case names its row of
 * tests/data/tdx-tcb-whatif.tsv and whether dcap-qvl agrees there or
 * disagrees in the documented way (Intel's rule, which mosaik follows,
 * wins): a disagreement that vanishes or an agreement that breaks fails
 * the test, so the table's dcap-qvl column stays true.
 *
 * Needs node and npm (commands); installs the package into the build tree
 * once. Without them, or when npm cannot install it: skipped (exit 77).
 */
#include "test_util.h"

#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim_docs_util.h"

#define NOW 1767225600LL /* 2026-01-01 */
#define PKG_DIR MOSAIK_BINARY_DIR "/dcap-qvl-js"

typedef struct jcase {
    const char *name, *row;
    uint8_t svn[3], svn2[3]; /* svn2[1..2] 0 and svn2[0] 0: a TD 1.0 quote */
    const char *mosaik;      /* status name, or "refused" */
    const char *js;          /* the same for dcap-qvl (equal: agreement) */
} jcase;

static const jcase CASES[] = {
    {"UpToDate", "1", {6, 1, 3}, {0}, "UpToDate", "UpToDate"},
    {"module OutOfDate", "3", {3, 1, 3}, {0}, "OutOfDate", "OutOfDate"},
    {"module ISVSVN below every level", "4", {1, 1, 3}, {0}, "refused", "refused"},
    {"late microcode below every level", "5", {6, 1, 1}, {0}, "refused", "refused"},
    {"module major version without identity", "9", {6, 2, 3}, {0}, "refused", "UpToDate"},
    {"TD relaunch advised", "19", {3, 1, 3}, {6, 1, 3}, "TDRelaunchAdvised", "OutOfDate"},
    {"relaunch, svn2 also old", "20", {3, 1, 3}, {3, 1, 3}, "OutOfDate", "OutOfDate"},
};

static bool have(const char *cmd) {
    char c[128];
    snprintf(c, sizeof c, "command -v %s >/dev/null 2>&1", cmd);
    return system(c) == 0;
}

static void write_file(const char *dir, const char *name, const void *d, size_t n) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    mk_error err;
    TU_ASSERT_RC(mk_file_write(p, d, n, 0600, &err), 0, &err);
}

/* The JS verifier's verdict for dir/quote, dir/coll.json: "refused" or the
 * status name. */
static void js_verdict(const char *dir, char *out, size_t n) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && NODE_PATH='%s/node_modules' node '%s/run.cjs' quote coll.json %lld "
             "root.der > verdict 2>&1",
             dir, PKG_DIR, dir, (long long)NOW);
    assert_int_equal(system(cmd), 0);
    char p[600];
    snprintf(p, sizeof p, "%s/verdict", dir);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    if (!j) fail_msg("dcap-qvl printed no JSON (%s)", je.text);
    if (json_is_true(json_object_get(j, "ok")))
        snprintf(out, n, "%s", json_string_value(json_object_get(j, "status")));
    else
        snprintf(out, n, "refused");
    json_decref(j);
}

/* The table's rows marked "checked by test_tcb_dcap_js" are exactly the
 * rows of CASES. */
static void table_marks(void) {
    char path[1024], line[4096];
    snprintf(path, sizeof path, "%s/tests/data/tdx-tcb-whatif.tsv", MOSAIK_SOURCE_DIR);
    FILE *fh = fopen(path, "r");
    if (!fh) fail_msg("cannot open %s", path);
    size_t marked = 0;
    while (fgets(line, sizeof line, fh)) {
        if (line[0] == '#' || !strstr(line, "checked by test_tcb_dcap_js")) continue;
        size_t idl = strcspn(line, "\t"), i = 0;
        while (i < sizeof CASES / sizeof CASES[0] &&
               (strlen(CASES[i].row) != idl || strncmp(CASES[i].row, line, idl)))
            i++;
        if (i == sizeof CASES / sizeof CASES[0])
            fail_msg("row %.*s is marked checked here but has no case", (int)idl, line);
        marked++;
    }
    fclose(fh);
    if (marked != sizeof CASES / sizeof CASES[0])
        fail_msg("%zu rows marked, %zu cases", marked, sizeof CASES / sizeof CASES[0]);
}

static void cross_check(void **state) {
    (void)state;
    table_marks();
    if (!have("node") || !have("npm")) TU_SKIP("node or npm is not installed");
    struct stat st;
    if (stat(PKG_DIR "/node_modules/@phala/dcap-qvl/package.json", &st) != 0) {
        mkdir(PKG_DIR, 0755);
        if (system("cd '" PKG_DIR "' && npm install --silent --no-audit --no-fund "
                   "@phala/dcap-qvl@0.3.9 > npm.log 2>&1") != 0)
            TU_SKIP("npm could not install @phala/dcap-qvl@0.3.9 (" PKG_DIR "/npm.log)");
    }
    char dir[] = "/tmp/mosaik-dcapjs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const char js[] =
        "const fs = require('fs');\n"
        "const q = require('@phala/dcap-qvl');\n"
        "const [quote, coll, now, root] = process.argv.slice(2);\n"
        "const v = q.QuoteVerifier.newWithRootCa(fs.readFileSync(root));\n"
        "try {\n"
        "  const r = v.verify(fs.readFileSync(quote), JSON.parse(fs.readFileSync(coll, 'utf8')),\n"
        "                     Number(now));\n"
        "  console.log(JSON.stringify({ok: true, status: r.status}));\n"
        "} catch (e) {\n"
        "  console.log(JSON.stringify({ok: false, error: String(e && e.message)}));\n"
        "}\n";
    write_file(dir, "run.cjs", js, sizeof js - 1);

    mk_error err;
    mk_tdx_sim *sim = NULL;
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = NOW - 86400}, &sim, &err), 0, &err);
    const uint8_t *der;
    size_t len;
    mk_tdx_sim_root_der(sim, &der, &len);
    write_file(dir, "root.der", der, len);
    mk_buf coll = MK_BUF_INIT;
    sd_bundle(sim, NOW, NULL, &coll);
    write_file(dir, "coll.json", coll.data, coll.len);
    mk_tdx_verifier_config cfg;
    mk_tdx_verifier_config_init(&cfg);
    cfg.simulator_root_der = der;
    cfg.simulator_root_len = len;
    mk_tdx_verifier *v = NULL;
    TU_ASSERT_RC(mk_tdx_verifier_new(&cfg, &v, &err), 0, &err);
    mk_tdx_policy pol;
    mk_tdx_policy_default(&pol);
    for (int s = 0; s < MK_TDX_TCB_STATUS_COUNT; s++)
        pol.accepted_statuses |= MK_TDX_TCB_BIT(s);
    mk_tdx_verifier_set_policy(v, &pol);
    mk_tdx_collateral *c = sd_collateral(&coll);

    size_t bad = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const jcase *k = &CASES[i];
        mk_tdx_sim_td td;
        mk_tdx_sim_td_default(&td);
        memcpy(td.tee_tcb_svn, k->svn, 3);
        if (k->svn2[0]) {
            td.quote_version = 5;
            td.body_type = MK_TDX_BODY_TD15;
            memcpy(td.tee_tcb_svn2, k->svn2, 3);
        }
        uint8_t rd[64] = {1};
        mk_buf q = MK_BUF_INIT;
        TU_ASSERT_RC(mk_tdx_sim_quote(sim, &td, rd, &q, &err), 0, &err);
        write_file(dir, "quote", q.data, q.len);
        mk_tdx_result r;
        int rc = mk_tdx_verify(v, q.data, q.len, c, NOW, &r, &err);
        const char *ours = rc < 0 ? "refused" : mk_tdx_tcb_status_name(r.tcb_status);
        char theirs[64];
        js_verdict(dir, theirs, sizeof theirs);
        bool ok = strcmp(ours, k->mosaik) == 0 && strcmp(theirs, k->js) == 0;
        print_message("row %s (%s): mosaik %s, dcap-qvl %s: %s%s\n", k->row, k->name, ours, theirs,
                      strcmp(k->mosaik, k->js) ? "known disagreement" : "agree",
                      ok ? "" : " -- NOT AS THE TABLE SAYS");
        if (!ok) bad++;
        mk_buf_free(&q);
    }
    mk_tdx_collateral_free(c);
    mk_tdx_verifier_free(v);
    mk_tdx_sim_free(sim);
    mk_buf_free(&coll);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    if (bad) fail_msg("%zu cases differ from the table's dcap-qvl column", bad);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(cross_check)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
