/*
 * examples/attest_node.c — a node attests itself in one call, and the
 * library keeps the ticket renewed (mosaik/attest.h); a second node of the
 * network receives the ticket and its TDX validator accepts it.
 *
 * The TDX *simulator* stands in for a trust domain (its root is a test
 * root, trusted here explicitly). On a TDX machine make the provider with
 * mk_tdx_provider_auto_new and drop the simulator and the trust call; an
 * SEV-SNP provider goes through the same mk_network_attest.
 *
 * usage: attest_node   (prints what happens; exit 0 when b accepted a)
 */
#include <stdio.h>

#include <mosaik/mosaik.h>

/* Wait on b's events for a's entry carrying a ticket; judge it. */
static int judge(mk_network *b, const mk_id *a_id, mk_validator *v, mk_error *err) {
    mk_network_event ev;
    while (mk_network_next_event(b, 5000, &ev) == 0) {
        int rc = 1;
        if (mk_id_eq(&ev.peer_id, a_id) && ev.entry.n_tickets > 0) {
            mk_peer_view pv;
            mk_peer_entry_view(&ev.entry, &pv);
            mk_expiration exp;
            rc = mk_validator_check(v, &pv, mk_now(), &exp, err);
            char when[MK_RFC3339_LEN];
            mk_time_format_rfc3339(exp, when);
            printf(rc == 0 ? "b: a's TDX ticket is valid until %s\n" : "b: refused: %s\n",
                   rc == 0 ? when : err->msg);
        }
        mk_network_event_free(&ev);
        if (rc <= 0) return rc;
    }
    return mk_error_set(err, MK_ETIMEDOUT, "b never saw a's ticket");
}

int main(void) {
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim *sim = NULL;
    mk_tee_provider *prov = NULL;
    mk_network *a = NULL, *b = NULL;
    mk_attestation *at = NULL;
    mk_validator *v = NULL;
    mk_tdx_validator_opts *vo = mk_tdx_validator_opts_new();
    mk_buf coll = MK_BUF_INIT;
    int rc = vo ? 0 : MK_ENOMEM;

    /* Two nodes of one network, b bootstrapped from a. */
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = "attest-example";
    if (rc == 0) rc = mk_network_new(&cfg, &a, &err);
    mk_id a_id;
    char boot[MK_ID_HEX_LEN + MK_TRANSPORT_ADDR_MAX + 2], hex[MK_ID_HEX_LEN];
    const char *boots[] = {boot};
    if (rc == 0) {
        mk_network_peer_id(a, &a_id);
        mk_id_to_hex(&a_id, hex);
        char addr[MK_TRANSPORT_ADDR_MAX + 1];
        mk_network_listen_addr(a, addr, sizeof addr);
        snprintf(boot, sizeof boot, "%s@%s", hex, addr);
        cfg.bootstrap = boots, cfg.n_bootstrap = 1;
        rc = mk_network_new(&cfg, &b, &err);
    }

    /* a: the simulated TD, its collateral embedded in the ticket, and the
     * one call that installs the ticket and keeps it renewed. */
    if (rc == 0) rc = mk_tdx_sim_new(NULL, &sim, &err);
    if (rc == 0) rc = mk_tdx_provider_sim_new(sim, NULL, &prov, &err);
    if (rc == 0) rc = mk_tdx_sim_collateral_json(sim, mk_now(), &coll, &err);
    mk_attestation_opts o;
    mk_attestation_opts_init(&o);
    o.endorsements = coll.data, o.endorsements_len = coll.len;
    if (rc == 0) rc = mk_network_attest(a, prov, &o, &at, &err);
    if (rc == 0) {
        mk_attestation_status st;
        mk_attestation_status_get(at, &st);
        char exp[MK_RFC3339_LEN], next[MK_RFC3339_LEN];
        mk_time_format_rfc3339(st.expires, exp);
        mk_time_format_rfc3339(st.next_at, next);
        printf("a: %s ticket installed, valid until %s, renewed at %s\n",
               mk_tee_platform_name(mk_tee_provider_platform(prov)), exp, next);
    }

    /* b: a validator trusting the simulator root, requiring a's MRTD. */
    const uint8_t *der;
    size_t len;
    if (rc == 0) {
        mk_tdx_sim_root_der(sim, &der, &len);
        rc = mk_tdx_validator_opts_trust_simulator(vo, der, len, &err);
    }
    if (rc == 0) rc = mk_tdx_validator_opts_require_own_mrtd(vo, prov, &err);
    if (rc == 0 && !(v = mk_tdx_validator_new(vo, &err))) rc = err.code;
    if (rc == 0) rc = judge(b, &a_id, v, &err);

    if (rc < 0) fprintf(stderr, "attest_node: %s\n", err.msg);
    mk_attestation_free(at); /* stops renewing */
    mk_network_free(b);
    mk_network_free(a);
    mk_validator_free(v);
    mk_tdx_validator_opts_free(vo);
    mk_buf_free(&coll);
    mk_tee_provider_free(prov);
    mk_tdx_sim_free(sim);
    return rc == 0 ? 0 : 1;
}
