/*
 * Fuzz the bridge's input stream: the bytes a peer writes on a raft
 * channel, through the parser that stands before libraft
 * (src/groups/raftwire.c) and the role rules (raftgate.c).
 *
 * Input: a control byte (mode: a peer's channel with its hello, our own
 * raft's stream, the reverse direction; small or the default caps), a
 * 4-byte seed for the read sizes, the verdicts and the judge's view, then
 * the stream. The stream is fed in reads of 1..4096 bytes. Each header
 * gets a verdict (mostly forward; some drop, some refuse) and is judged by
 * mk_graft_judge too. The oracle: whatever was passed on must itself be a
 * well-formed stream under the same caps, so it is fed to a second parser
 * (OUT mode) that must never fail; and a parser never passes more bytes
 * than it was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "groups/groups_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fz {
    uint32_t rng;
    mk_buf out;
    mk_graft_view view;
    size_t forwarded;
} fz;

static uint32_t next(fz *f) {
    f->rng = f->rng * 1103515245u + 12345u;
    return f->rng >> 8;
}

static int on_hello(void *ctx, const mk_gcluster *c, const char **why) {
    fz *f = ctx;
    (void)c;
    if (next(f) % 16 == 0) {
        *why = "refused by the fuzzer";
        return MK_EPOLICY;
    }
    return 0;
}

static int on_msg(void *ctx, const mk_graft_msg *m, const char **why) {
    fz *f = ctx;
    const char *jwhy = NULL;
    int j = mk_graft_judge(m, &f->view, &jwhy);
    if (j != MK_GRAFT_FORWARD && !jwhy) abort();
    f->view.term = m->term; /* move the view along */
    f->view.role = (uint8_t)(next(f) % 2);
    uint32_t r = next(f) % 16;
    if (r == 0) {
        *why = "refused by the fuzzer";
        return MK_GRAFT_REFUSE;
    }
    return r < 3 ? MK_GRAFT_DROP : MK_GRAFT_FORWARD;
}

static int out(void *ctx, const uint8_t *p, size_t n) {
    fz *f = ctx;
    f->forwarded += n;
    return mk_buf_append(&f->out, p, n) < 0 ? MK_ENOMEM : 0;
}

/* The passed-on bytes, read back: never malformed, never over a cap. */
static int check_msg(void *ctx, const mk_graft_msg *m, const char **why) {
    (void)ctx;
    (void)m;
    (void)why;
    return MK_GRAFT_FORWARD;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5) return 0;
    uint8_t ctl = data[0];
    fz f;
    memset(&f, 0, sizeof f);
    memcpy(&f.rng, data + 1, 4);
    data += 5;
    size -= 5;
    int mode = ctl % 3;
    mk_graft_limits lim;
    if (ctl & 4) {
        mk_graft_limits_init(&lim, 0, 0, (ctl & 8) != 0);
    } else { /* small caps, so the fuzzer reaches their edges */
        mk_graft_limits_init(&lim, 0, 0, true);
        lim.max_entries = 1 + (ctl >> 4);
        lim.max_entry = 256;
        lim.max_payload = 1024;
        lim.max_snapshot = 512;
        lim.max_header = 48 + 16 * lim.max_entries + 64;
    }
    f.view.sender = next(&f) % 4;
    f.view.leader = next(&f) % 2;
    f.view.lt_term = next(&f) % 8;
    f.view.lt_rid = next(&f) % 4;
    f.view.ae_credit = next(&f) % 3;
    f.view.rv_credit = next(&f) % 3;
    mk_buf_init(&f.out, 0);
    mk_graft_parser p;
    mk_graft_parser_init(&p, mode, &lim);
    mk_graft_ops ops = {on_hello, on_msg, out, &f};
    size_t off = 0;
    int rc = 0;
    while (off < size && rc == 0) {
        size_t k = 1 + next(&f) % 4096;
        if (k > size - off) k = size - off;
        rc = mk_graft_feed(&p, data + off, k, &ops);
        off += k;
    }
    if (rc < 0 && !p.why) abort();
    if (f.forwarded > size) abort();
    mk_graft_parser_free(&p);

    /* What passed must read back cleanly (it may end inside a message). */
    mk_graft_parser q;
    mk_graft_parser_init(&q, MK_GRAFT_OUT, &lim);
    mk_graft_ops qops = {NULL, check_msg, NULL, NULL};
    if (mk_graft_feed(&q, f.out.data, f.out.len, &qops) < 0) abort();
    mk_graft_parser_free(&q);
    mk_buf_free(&f.out);
    (void)mk_graft_conf_valid(data, size);
    return 0;
}
