/*
 * ident.c — group identity: the group id, the key derived from validators,
 * the raft server id of a peer, and the bond proof.
 *
 * group id = D(D(D(N("mosaik.groups.id.v1"), key), sm signature), vs sig)
 * where D is mk_id_derive and N mk_id_from_name. The validator-set
 * signature is order-independent and covers every validator, so two groups
 * that differ in any validator's configuration, in the state machine or in
 * the key get different ids (and do not meet).
 * With writer validators (mk_group_new), the id is further derived with
 * "mosaik.groups.writers.v1" | writer-set signature
 * (mk_group_id_with_writers), so members agree on who may write.
 *
 * The key from validators is D(N("mosaik.groups.key.v1"), vs signature): it
 * is public, which is the point: nodes with the same validator
 * configuration meet without sharing a secret; membership is then gated by
 * the validators alone.
 *
 * Bond proof: HMAC-SHA256(key, "mosaik.groups.bond.v1" | group id | side |
 * role | exporter) with exporter the 32-byte TLS exporter of the very
 * connection (label "groups", context the group id). The side byte (0 for
 * the dialer, 1 for the listener) keeps one side's proof from being
 * reflected back; the exporter binds it to this TLS session so it cannot be
 * replayed on another connection.
 */
#include <string.h>

#include "groups/groups_internal.h"
#include "mosaik/crypto.h"

#define BOND_DOMAIN "mosaik.groups.bond.v1"

void mk_group_key_from_validators(const mk_validator_set *vs, mk_id *key) {
    mk_id base, sig;
    mk_id_from_name(&base, "mosaik.groups.key.v1");
    mk_validator_set empty;
    mk_validator_set_init(&empty);
    mk_validator_set_signature(vs ? vs : &empty, &sig);
    mk_id_derive(key, &base, sig.b, sizeof sig.b);
}

void mk_group_id_derive(const mk_id *key, const mk_id *sm_signature, const mk_validator_set *vs,
                        mk_id *out) {
    mk_id a, b, c, vsig;
    mk_validator_set empty;
    mk_validator_set_init(&empty);
    mk_validator_set_signature(vs ? vs : &empty, &vsig);
    mk_id_from_name(&a, "mosaik.groups.id.v1");
    mk_id_derive(&b, &a, key->b, sizeof key->b);
    mk_id_derive(&c, &b, sm_signature->b, sizeof sm_signature->b);
    mk_id_derive(out, &c, vsig.b, sizeof vsig.b);
}

void mk_group_id_with_writers(const mk_id *id, const mk_validator_set *wvs, mk_id *out) {
    static const char dom[] = "mosaik.groups.writers.v1";
    uint8_t d[sizeof dom - 1 + MK_ID_LEN];
    mk_id ws;
    mk_validator_set_signature(wvs, &ws);
    mk_writer w;
    mk_writer_init(&w, d, sizeof d);
    mk_write_bytes(&w, dom, sizeof dom - 1);
    mk_write_bytes(&w, ws.b, MK_ID_LEN);
    mk_id_derive(out, id, d, mk_writer_len(&w));
}

uint64_t mk_group_rid_of(const mk_id *peer) {
    mk_id base, d;
    mk_id_from_name(&base, "mosaik.groups.raft-id.v1");
    mk_id_derive(&d, &base, peer->b, sizeof peer->b);
    uint64_t v = 0;
    mk_reader r; /* the first 8 bytes, big-endian */
    mk_reader_init(&r, d.b, sizeof d.b);
    (void)mk_read_u64be(&r, &v);
    v &= 0x7fffffffffffffffULL; /* positive in any signed view */
    return v ? v : 1;
}

uint64_t mk_group_raft_id(const mk_id *peer) {
    return mk_group_rid_of(peer);
}

int mk_group_bond_mac(const mk_id *key, const mk_id *group_id, uint8_t side, uint8_t role,
                      const uint8_t exporter[MK_GROUP_EXPORTER_LEN], uint8_t out[32]) {
    uint8_t msg[sizeof BOND_DOMAIN - 1 + MK_ID_LEN + 2 + MK_GROUP_EXPORTER_LEN];
    mk_writer w;
    mk_writer_init(&w, msg, sizeof msg);
    mk_write_bytes(&w, BOND_DOMAIN, sizeof BOND_DOMAIN - 1);
    mk_write_bytes(&w, group_id->b, MK_ID_LEN);
    mk_write_u8(&w, side);
    mk_write_u8(&w, role);
    mk_write_bytes(&w, exporter, MK_GROUP_EXPORTER_LEN);
    if (mk_writer_status(&w) < 0) return MK_EINVAL;
    return mk_hmac(MK_SHA256, key->b, sizeof key->b, msg, mk_writer_len(&w), out);
}
