/*
 * Fuzz the exactly-once session table (src/groups/session.c) with the
 * bytes it takes from others: the snapshot prefix a leader sends
 * (mk_gsess_decode), and tagged commands from the log (rid, client id,
 * seq, floor as any member may send them). The input is decoded as a
 * table; then the rest drives check/record/touch with hostile tags, and
 * the table must still encode, decode and encode again to the same
 * bytes (the invariants session.c states survive any input).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "groups/groups_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const mk_gsessions *t) {
    mk_buf a = MK_BUF_INIT, b = MK_BUF_INIT;
    mk_buf_init(&a, MK_GSESS_SNAPSHOT_MAX);
    mk_buf_init(&b, MK_GSESS_SNAPSHOT_MAX);
    if (mk_gsess_encode(t, &a) != 0) abort();
    mk_gsessions *u = NULL;
    size_t used = 0;
    if (mk_gsess_decode(a.data, a.len, &u, &used) != 0 || used != a.len) abort();
    if (mk_gsess_encode(u, &b) != 0 || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
    mk_gsess_free(u);
    mk_buf_free(&a);
    mk_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mk_reader r;
    mk_reader_init(&r, data, size);
    uint16_t split;
    if (mk_read_u16be(&r, &split) < 0) return 0;
    size_t rest = mk_reader_remaining(&r), n = split < rest ? split : rest;
    const uint8_t *snap;
    if (mk_read_view(&r, n, &snap) < 0) return 0;
    mk_gsessions *t = NULL;
    size_t used;
    if (mk_gsess_decode(snap, n, &t, &used) != 0) t = mk_gsess_new();
    if (!t) return 0;
    uint64_t idx = 1;
    uint8_t op, rid, cid, seq, floor, len;
    while (mk_read_u8(&r, &op) == 0 && mk_read_u8(&r, &rid) == 0 && mk_read_u8(&r, &cid) == 0 &&
           mk_read_u8(&r, &seq) == 0 && mk_read_u8(&r, &floor) == 0 && mk_read_u8(&r, &len) == 0) {
        int st;
        const uint8_t *d;
        size_t dl;
        int cls = mk_gsess_check(t, rid % 40, cid % 20, seq, &st, &d, &dl);
        if (cls == MK_GSESS_DUP && dl > MK_GROUP_MAX_RESULT) abort();
        if (op % 2 == 0 && cls == MK_GSESS_NEW)
            (void)mk_gsess_record(t, rid % 40, cid % 20, seq, floor, idx++, -(op % 30), data,
                                  len < size ? len : size);
        else
            mk_gsess_touch(t, rid % 40, cid % 20, floor, idx++);
        if (mk_gsess_count(t) > MK_GSESS_MAX) abort();
    }
    roundtrip(t);
    mk_gsess_free(t);
    return 0;
}
