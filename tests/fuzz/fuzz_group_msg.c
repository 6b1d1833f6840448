/*
 * Fuzz the untrusted inputs of groups and collections: "groups" protocol
 * frames (mk_group_frame_parse), and the collection state machine's
 * commands, queries and snapshots (which arrive from the raft log and from
 * a leader's snapshot). The first byte picks the target; for collections
 * the rest is split into chunks by a u16 length prefix and each chunk is
 * tried as a snapshot, a command and a query, after which a snapshot of
 * the state must restore into a fresh state and snapshot identically.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collections/coll_internal.h"
#include "groups/groups_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mk_reader r;
    mk_reader_init(&r, data, size);
    uint8_t mode;
    if (mk_read_u8(&r, &mode) < 0) return 0;
    if (mode % 7 == 0) {
        mk_group_frame f;
        const uint8_t *p;
        size_t n = mk_reader_remaining(&r);
        if (mk_read_view(&r, n, &p) == 0) (void)mk_group_frame_parse(p, n, &f, NULL);
        return 0;
    }
    mk_collection_kind kind = (mk_collection_kind)(mode % 7);
    mk_coll_state *s = mk_coll_state_new(kind, 4);
    if (!s) return 0;
    mk_group_sm sm = mk_coll_state_sm(s);
    mk_buf res = MK_BUF_INIT;
    while (!mk_reader_done(&r)) {
        size_t n;
        const uint8_t *p;
        if (mk_read_len16le(&r, 4096, &n) < 0 || mk_read_view(&r, n, &p) < 0) break;
        (void)sm.restore(sm.state, p, n);
        mk_buf_reset(&res);
        (void)sm.apply(sm.state, p, n, &res);
        mk_buf_reset(&res);
        (void)sm.query(sm.state, p, n, &res);
    }
    mk_buf a = MK_BUF_INIT, b = MK_BUF_INIT;
    if (sm.snapshot(sm.state, &a) == 0) {
        mk_coll_state *t = mk_coll_state_new(kind, 4);
        mk_group_sm tm = mk_coll_state_sm(t);
        if (tm.restore(tm.state, a.data, a.len) != 0) abort();
        if (tm.snapshot(tm.state, &b) != 0 || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            abort();
        mk_coll_state_free(t);
    }
    mk_buf_free(&a);
    mk_buf_free(&b);
    mk_buf_free(&res);
    mk_coll_state_free(s);
    return 0;
}
