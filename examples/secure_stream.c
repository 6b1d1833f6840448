/*
 * examples/secure_stream.c — the design's first example: a stream whose
 * consumers must show a TDX quote with one MRTD (the measurement `mosaik
 * tdx measure` prints for your image).
 *
 * Two nodes in one process. The consumer's trust domain is the TDX
 * *simulator* (its root is a test root, trusted here explicitly): on a TDX
 * machine make the provider with mk_tdx_provider_auto_new, embed real
 * collateral or let the validator fetch it, and drop the simulator. The
 * consumer attests itself in one call and the library renews its ticket;
 * the producer admits only consumers whose ticket passes MK_TDX(...).
 *
 * On an error the program prints the reason and exits 1 at once (TRY),
 * leaving the process to reclaim what it holds.
 */
#include <stdio.h>

#include <mosaik/mosaik.h>

#define MRTD                                                                                       \
    "5c209f01c794bf86979702ae2d1ebc15ac3064a2b3c32a2905315d2ce3e4c92d7e879e61623f4d4524582b2ec402" \
    "0602"
#define TRY(call)                                                                                  \
    if ((rc = (call)) < 0)                                                                         \
    return fprintf(stderr, "secure_stream: %s\n", err.msg[0] ? err.msg : mk_strerror(rc)), 1

int main(void) {
    mk_error err = {0};
    int rc;
    mk_network *prod, *cons;
    mk_network_config nc;
    mk_network_config_init(&nc);
    nc.network = "example-prices";
    char contact[MK_NETWORK_CONTACT_MAX];
    TRY(mk_network_new(&nc, &prod, &err));
    TRY(mk_network_contact(prod, contact, sizeof contact));
    nc.bootstrap = (const char *[]){contact}, nc.n_bootstrap = 1;
    TRY(mk_network_new(&nc, &cons, &err));

    /* The consumer's (simulated) TD attests itself, collateral embedded. */
    mk_tdx_sim *sim;
    mk_tee_provider *td;
    mk_attestation *at;
    mk_buf coll = MK_BUF_INIT;
    TRY(mk_tdx_sim_new(NULL, &sim, &err));
    TRY(mk_tdx_provider_sim_new(sim, NULL, &td, &err));
    TRY(mk_tdx_sim_collateral_json(sim, mk_now(), &coll, &err));
    mk_attestation_opts ao;
    mk_attestation_opts_init(&ao);
    ao.endorsements = coll.data, ao.endorsements_len = coll.len;
    TRY(mk_network_attest(cons, td, &ao, &at, &err));

    /* The producer requires that MRTD, under the simulator's root. */
    const uint8_t *root;
    size_t root_len;
    mk_tdx_sim_root_der(sim, &root, &root_len);
    mk_stream_producer_config pc = {
        .name = "prices",
        .requirements = {
            MK_VALIDATORS(MK_TDX(.mrtd = MRTD, .sim_root = root, .sim_root_len = root_len))}};
    mk_stream_producer *p;
    TRY(mk_stream_producer_new(prod, &pc, &p, &err));
    mk_stream_consumer *c;
    TRY(mk_stream_consumer_new(cons, &(mk_stream_consumer_config){.name = "prices"}, &c, &err));
    mk_stream_when one = mk_when_subscribed();
    TRY(mk_stream_producer_wait(p, &one, 10000));
    TRY(mk_stream_send(p, "ETH 3412.50", 11, 1000, &err));
    mk_stream_item item;
    TRY(mk_stream_recv(c, 10000, &item));
    printf("admitted consumer received: %.*s\n", (int)item.len, (const char *)item.data);

    mk_stream_item_free(&item);
    mk_stream_consumer_free(c);
    mk_stream_producer_free(p);
    mk_attestation_free(at);
    mk_network_free(cons);
    mk_network_free(prod);
    mk_tee_provider_free(td);
    mk_tdx_sim_free(sim);
    mk_buf_free(&coll);
    return 0;
}
