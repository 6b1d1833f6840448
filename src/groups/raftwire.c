/*
 * raftwire.c — the raft wire on a bridge channel: the channel hello, the
 * caps, and a bounded, incremental parser of libraft 0.15's uv stream
 * (pure: no I/O, no group state).
 *
 * Every byte a peer sends on a raft channel passes through this parser
 * before libraft sees it (bridge.c), because libraft 0.15 trusts its input:
 * it allocates header and payload sizes as announced, reads fixed offsets
 * past short headers, and sums entry lengths through a NULL list after a
 * failed batch decode (docs/groups.md, "The raft wire").
 *
 * A channel starts with a 32-byte hello from the opener, and the acceptor
 * answers with its own on the reverse direction, which carries nothing
 * else (raft never reads the stream it writes):
 *   magic "mkraft\0\1" | cluster: bootstrapper raft id u64 (big-endian),
 *   nonce 16 bytes (all zero: not known yet)
 * Then libraft's messages, integers little-endian:
 *   preamble: type u64 (1..6), header length u64
 *   RequestVote (3)          40: term, candidate, last index, last term, flags
 *   RequestVoteResult (4)    24: term, granted, flags
 *   AppendEntries (1)   48+16n: term, prev index, prev term, commit, n,
 *                               n x {term u64, type u8, 3 unused, len u32}, 8 unused
 *   AppendEntriesResult (2)  24: term, rejected, last index
 *   InstallSnapshot (5) 56+C: term, last index, last term, conf index, C,
 *                               configuration (C bytes), data length, 8 unused
 *   TimeoutNow (6)           24: term, last index, last term
 *   payload: AppendEntries the entries' data (back to back), InstallSnapshot
 *   the snapshot data.
 * Header sizes must be exactly these (0.15 decodes fixed offsets whatever
 * the size). Caps (mk_graft_limits_init) bound the header, the entry count,
 * each entry, their sum and the snapshot; entry types are 1..3, entry
 * lengths multiples of 8 (the receiver places entries at 8-byte offsets),
 * entry terms never above the message's term and never decreasing; a
 * configuration (InstallSnapshot's, or a RAFT_CHANGE entry's data, which is
 * collected whole before it is passed on) decodes completely: format 1,
 * 1..MK_GROUP_MAX_MEMBERS servers, ids nonzero and distinct, addresses
 * NUL-terminated, at most MK_GRAFT_MAX_ADDR bytes and distinct, roles 0..2,
 * its size the padded size. Snapshot data is never empty (0.15 would then
 * use an uninitialised pointer).
 *
 * The parser never holds more than one header (<= lim->max_header) and one
 * configuration entry; payload bytes are passed through as they arrive.
 * After each header the caller's on_msg gives a verdict: forward (the
 * header, then the payload, go to out), drop (the message is skipped), or
 * refuse. Any failure is final: the parser stays failed, and the caller
 * closes the channel. A parser in OUT mode reads our own raft's stream only
 * to see its messages (trusted limits: framing is checked, caps are not).
 */
#include <stdlib.h>
#include <string.h>

#include "groups/groups_internal.h"

static const uint8_t HELLO_MAGIC[8] = {'m', 'k', 'r', 'a', 'f', 't', 0, 1};

enum { P_HELLO, P_PRE, P_HDR, P_PAY, P_END, P_FAIL };

#define PRE_LEN 16
#define AE_FIXED 40 /* term, prev index, prev term, commit, n */
#define IS_FIXED 40 /* term, last index, last term, conf index, conf length */
#define TAIL 8      /* the unused word after AppendEntries / InstallSnapshot */
#define HARD_HEADER ((uint64_t)4 << 20)

static uint64_t pad8(uint64_t n) {
    return (n + 7) & ~(uint64_t)7;
}

/* ----- the hello ------------------------------------------------------------ */

bool mk_gcluster_known(const mk_gcluster *c) {
    return c->rid != 0;
}

bool mk_gcluster_eq(const mk_gcluster *a, const mk_gcluster *b) {
    return a->rid == b->rid && memcmp(a->nonce, b->nonce, sizeof a->nonce) == 0;
}

void mk_graft_hello_write(uint8_t out[MK_GRAFT_HELLO_LEN], const mk_gcluster *c) {
    mk_writer w;
    mk_writer_init(&w, out, MK_GRAFT_HELLO_LEN);
    mk_write_bytes(&w, HELLO_MAGIC, sizeof HELLO_MAGIC);
    mk_write_u64be(&w, c->rid);
    mk_write_bytes(&w, c->nonce, sizeof c->nonce);
}

static int hello_read(const uint8_t *in, mk_gcluster *c) {
    mk_reader r;
    const uint8_t *magic;
    mk_reader_init(&r, in, MK_GRAFT_HELLO_LEN);
    if (mk_read_view(&r, sizeof HELLO_MAGIC, &magic) < 0 ||
        memcmp(magic, HELLO_MAGIC, sizeof HELLO_MAGIC) != 0 || mk_read_u64be(&r, &c->rid) < 0 ||
        mk_read_bytes(&r, c->nonce, sizeof c->nonce) < 0)
        return MK_EMALFORMED;
    static const uint8_t zero[16];
    if (c->rid == 0 && memcmp(c->nonce, zero, sizeof zero) != 0) return MK_EMALFORMED;
    return 0;
}

/* ----- caps ---------------------------------------------------------------- */

void mk_graft_limits_init(mk_graft_limits *l, unsigned threshold, unsigned trailing,
                          bool snapshots) {
    /* The leader sends every entry from a follower's next index to its last
     * one in one message; its log holds at most threshold + trailing entries
     * plus those that arrive while a snapshot is taken. Never below
     * libraft's defaults (1024, 2048), so a peer with default settings is
     * not cut off; doubled plus 4096 for the margin. Without snapshots the
     * log is never compacted: then only the hard header cap bounds n. */
    uint64_t t = threshold > 1024 ? threshold : 1024;
    uint64_t k = trailing > 2048 ? trailing : 2048;
    uint64_t hard = (HARD_HEADER - AE_FIXED - TAIL) / 16;
    uint64_t n = snapshots ? 2 * (t + k) + 4096 : hard;
    if (n > hard) n = hard;
    memset(l, 0, sizeof *l);
    l->max_entries = n;
    l->max_entry = MK_GRAFT_MAX_ENTRY;
    l->max_payload = n * MK_GRAFT_MAX_ENTRY;
    l->max_snapshot = MK_GROUP_MAX_SNAPSHOT;
    l->max_header = AE_FIXED + TAIL + 16 * n;
    if (l->max_header < IS_FIXED + MK_GRAFT_MAX_CONF + 8 + TAIL)
        l->max_header = IS_FIXED + MK_GRAFT_MAX_CONF + 8 + TAIL;
}

void mk_graft_limits_trusted(mk_graft_limits *l) {
    memset(l, 0, sizeof *l);
    l->trusted = true;
    l->max_entries = UINT32_MAX;
    l->max_entry = UINT32_MAX;
    l->max_payload = UINT64_MAX;
    l->max_snapshot = UINT64_MAX;
    l->max_header = (uint64_t)1 << 30;
}

/* ----- configurations --------------------------------------------------------- */

/* A whole encoded configuration (format 1) of len bytes. */
bool mk_graft_conf_valid(const uint8_t *b, size_t len) {
    mk_reader r;
    uint8_t fmt;
    uint64_t n;
    mk_reader_init(&r, b, len);
    if (mk_read_u8(&r, &fmt) < 0 || fmt != 1 || mk_read_u64le(&r, &n) < 0 || n == 0 ||
        n > MK_GROUP_MAX_MEMBERS)
        return false;
    uint64_t ids[MK_GROUP_MAX_MEMBERS];
    const uint8_t *addr[MK_GROUP_MAX_MEMBERS];
    size_t alen[MK_GROUP_MAX_MEMBERS];
    for (size_t i = 0; i < n; i++) {
        const uint8_t *rest;
        uint8_t role;
        if (mk_read_u64le(&r, &ids[i]) < 0 || ids[i] == 0) return false;
        size_t room = mk_reader_remaining(&r);
        if (room > MK_GRAFT_MAX_ADDR + 1) room = MK_GRAFT_MAX_ADDR + 1;
        if (mk_reader_peek(&r, room, &rest) < 0) return false;
        const uint8_t *nul = memchr(rest, 0, room);
        if (!nul || nul == rest) return false;
        addr[i] = rest;
        alen[i] = (size_t)(nul - rest);
        if (mk_read_skip(&r, alen[i] + 1) < 0 || mk_read_u8(&r, &role) < 0 || role > 2)
            return false;
        for (size_t j = 0; j < i; j++)
            if (ids[j] == ids[i] || (alen[j] == alen[i] && memcmp(addr[j], addr[i], alen[i]) == 0))
                return false;
    }
    return pad8(mk_reader_offset(&r)) == len;
}

/* ----- headers --------------------------------------------------------------- */

static int bad(mk_graft_parser *p, int rc, const char *why) {
    p->why = why;
    return rc;
}

/* The fixed header size of a type (0: variable), and whether the type is known. */
static bool type_size(uint64_t type, uint64_t *size) {
    switch (type) {
    case MK_GRAFT_RV:
        *size = 40;
        return true;
    case MK_GRAFT_RVR:
    case MK_GRAFT_AER:
    case MK_GRAFT_TN:
        *size = 24;
        return true;
    case MK_GRAFT_AE:
    case MK_GRAFT_IS:
        *size = 0;
        return true;
    }
    return false;
}

static void entry_at(const mk_graft_parser *p, uint64_t i, uint64_t *term, uint8_t *type,
                     uint32_t *len) {
    mk_reader r;
    mk_reader_init(&r, p->buf + PRE_LEN + AE_FIXED + 16 * i, 16);
    (void)mk_read_u64le(&r, term);
    (void)mk_read_u8(&r, type);
    (void)mk_read_skip(&r, 3);
    (void)mk_read_u32le(&r, len);
}

static int decode_ae(mk_graft_parser *p, mk_reader *r) {
    mk_graft_msg *m = &p->m;
    const mk_graft_limits *l = p->lim;
    if (mk_read_u64le(r, &m->term) < 0 || mk_read_u64le(r, &m->prev_index) < 0 ||
        mk_read_u64le(r, &m->prev_term) < 0 || mk_read_u64le(r, &m->commit) < 0 ||
        mk_read_u64le(r, &m->n_entries) < 0)
        return bad(p, MK_EMALFORMED, "short AppendEntries header");
    if (m->n_entries > l->max_entries)
        return bad(p, MK_ETOOBIG, "AppendEntries with more entries than the cap");
    if (m->hlen != AE_FIXED + TAIL + 16 * m->n_entries)
        return bad(p, MK_EMALFORMED, "AppendEntries header size does not match its entry count");
    uint64_t last = m->prev_term, sum = 0;
    for (uint64_t i = 0; i < m->n_entries; i++) {
        uint64_t term;
        uint8_t type;
        uint32_t len;
        entry_at(p, i, &term, &type, &len);
        if (type < MK_GRAFT_COMMAND || type > MK_GRAFT_CHANGE)
            return bad(p, MK_EMALFORMED, "AppendEntries with an unknown entry type");
        sum += len;
        if (l->trusted) continue;
        if (len % 8 != 0) return bad(p, MK_EMALFORMED, "entry length not a multiple of 8");
        if (len > (type == MK_GRAFT_CHANGE ? MK_GRAFT_MAX_CONF : l->max_entry))
            return bad(p, MK_ETOOBIG, "entry over the cap");
        if (type == MK_GRAFT_CHANGE && len < 16)
            return bad(p, MK_EMALFORMED, "configuration entry too short");
        if (term > m->term || term < last) return bad(p, MK_EMALFORMED, "entry terms out of order");
        last = term;
    }
    if (sum > l->max_payload) return bad(p, MK_ETOOBIG, "AppendEntries payload over the cap");
    m->payload = sum;
    return 0;
}

static int decode_is(mk_graft_parser *p, mk_reader *r) {
    mk_graft_msg *m = &p->m;
    const mk_graft_limits *l = p->lim;
    uint64_t clen;
    const uint8_t *conf;
    if (mk_read_u64le(r, &m->term) < 0 || mk_read_u64le(r, &m->last_index) < 0 ||
        mk_read_u64le(r, &m->last_term) < 0 || mk_read_u64le(r, &m->conf_index) < 0 ||
        mk_read_u64le(r, &clen) < 0)
        return bad(p, MK_EMALFORMED, "short InstallSnapshot header");
    if (!l->trusted && clen > MK_GRAFT_MAX_CONF)
        return bad(p, MK_ETOOBIG, "InstallSnapshot configuration over the cap");
    if (clen > m->hlen || m->hlen != IS_FIXED + clen + 8 + TAIL)
        return bad(p, MK_EMALFORMED, "InstallSnapshot header size does not match");
    if (mk_read_view(r, (size_t)clen, &conf) < 0 || mk_read_u64le(r, &m->payload) < 0)
        return bad(p, MK_EMALFORMED, "short InstallSnapshot header");
    if (l->trusted) return 0;
    if (!mk_graft_conf_valid(conf, (size_t)clen))
        return bad(p, MK_EMALFORMED, "InstallSnapshot with a malformed configuration");
    if (m->payload == 0) return bad(p, MK_EMALFORMED, "InstallSnapshot without data");
    if (m->payload > l->max_snapshot) return bad(p, MK_ETOOBIG, "snapshot over the cap");
    if (m->conf_index > m->last_index || m->last_term > m->term || m->last_index == 0)
        return bad(p, MK_EMALFORMED, "InstallSnapshot indices out of order");
    return 0;
}

/* The fixed-size types: all fields are u64. */
static int decode_small(mk_graft_parser *p, mk_reader *r) {
    mk_graft_msg *m = &p->m;
    int rc = mk_read_u64le(r, &m->term);
    switch (m->type) {
    case MK_GRAFT_RV:
        rc |= mk_read_u64le(r, &m->candidate) | mk_read_u64le(r, &m->last_index) |
              mk_read_u64le(r, &m->last_term) | mk_read_u64le(r, &m->flags);
        if (rc == 0 && !p->lim->trusted && (m->candidate == 0 || (m->flags & ~(uint64_t)3)))
            return bad(p, MK_EMALFORMED, "RequestVote with a bad candidate or flags");
        break;
    case MK_GRAFT_RVR:
        rc |= mk_read_u64le(r, &m->granted) | mk_read_u64le(r, &m->flags);
        if (rc == 0 && !p->lim->trusted && (m->granted > 1 || (m->flags & ~(uint64_t)1)))
            return bad(p, MK_EMALFORMED, "RequestVoteResult with bad flags");
        break;
    case MK_GRAFT_AER:
        rc |= mk_read_u64le(r, &m->rejected) | mk_read_u64le(r, &m->last_index);
        break;
    default: /* TimeoutNow */
        rc |= mk_read_u64le(r, &m->last_index) | mk_read_u64le(r, &m->last_term);
        break;
    }
    return rc < 0 ? bad(p, MK_EMALFORMED, "short raft header") : 0;
}

/* ----- the stream ------------------------------------------------------------- */

void mk_graft_parser_init(mk_graft_parser *p, int mode, const mk_graft_limits *lim) {
    memset(p, 0, sizeof *p);
    p->mode = (uint8_t)mode;
    p->lim = lim;
    p->state = mode == MK_GRAFT_OUT ? P_PRE : P_HELLO;
}

void mk_graft_parser_free(mk_graft_parser *p) {
    free(p->buf);
    free(p->cbuf);
    p->buf = p->cbuf = NULL;
}

bool mk_graft_parser_failed(const mk_graft_parser *p) {
    return p->state == P_FAIL;
}

static int fail(mk_graft_parser *p, int rc, const char *why) {
    if (why) p->why = why;
    if (!p->why) p->why = "raft stream refused";
    mk_graft_parser_free(p);
    p->state = P_FAIL;
    p->rc = rc;
    return rc;
}

/* Copy up to want - *have bytes into dst; the count taken. */
static size_t take(uint8_t *dst, size_t *have, size_t want, const uint8_t *d, size_t n) {
    size_t k = want - *have < n ? want - *have : n;
    memcpy(dst + *have, d, k);
    *have += k;
    return k;
}

static void msg_done(mk_graft_parser *p) {
    free(p->buf);
    p->buf = NULL;
    p->have = 0;
    p->state = P_PRE;
}

static int on_hello(mk_graft_parser *p, const mk_graft_ops *ops) {
    mk_gcluster c;
    if (hello_read(p->head, &c) < 0) return bad(p, MK_EMALFORMED, "bad channel hello");
    if (ops->on_hello && ops->on_hello(ops->ctx, &c, &p->why) < 0) return MK_EPOLICY;
    p->have = 0;
    p->state = p->mode == MK_GRAFT_REPLY ? P_END : P_PRE;
    return 0;
}

static int on_preamble(mk_graft_parser *p) {
    mk_reader r;
    uint64_t fixed;
    memset(&p->m, 0, sizeof p->m);
    p->why = NULL;
    mk_reader_init(&r, p->head, PRE_LEN);
    (void)mk_read_u64le(&r, &p->m.type);
    (void)mk_read_u64le(&r, &p->m.hlen);
    if (!type_size(p->m.type, &fixed)) return bad(p, MK_EMALFORMED, "unknown raft message type");
    uint64_t h = p->m.hlen;
    if (fixed ? h != fixed : h < (p->m.type == MK_GRAFT_AE ? AE_FIXED : IS_FIXED) + TAIL)
        return bad(p, MK_EMALFORMED, "raft header size does not match its type");
    if (h > p->lim->max_header) return bad(p, MK_ETOOBIG, "raft header over the cap");
    p->blen = (size_t)(PRE_LEN + h);
    p->buf = malloc(p->blen);
    if (!p->buf) return bad(p, MK_ENOMEM, "out of memory");
    memcpy(p->buf, p->head, PRE_LEN);
    p->bhave = PRE_LEN;
    p->state = P_HDR;
    return 0;
}

static int on_header(mk_graft_parser *p, const mk_graft_ops *ops) {
    mk_reader r;
    mk_reader_init(&r, p->buf + PRE_LEN, p->blen - PRE_LEN);
    int rc = p->m.type == MK_GRAFT_AE   ? decode_ae(p, &r)
             : p->m.type == MK_GRAFT_IS ? decode_is(p, &r)
                                        : decode_small(p, &r);
    if (rc < 0) return rc;
    p->verdict = ops->on_msg ? ops->on_msg(ops->ctx, &p->m, &p->why) : MK_GRAFT_FORWARD;
    if (p->verdict == MK_GRAFT_REFUSE) return MK_EPOLICY;
    if (p->verdict == MK_GRAFT_FORWARD && ops->out &&
        (rc = ops->out(ops->ctx, p->buf, p->blen)) < 0)
        return bad(p, rc, "cannot pass the message on");
    p->left = p->m.payload;
    p->entry = p->eleft = 0;
    if (p->left == 0)
        msg_done(p);
    else
        p->state = P_PAY;
    return 0;
}

/* Step to the next entry with data (AppendEntries). */
static void next_entry(mk_graft_parser *p) {
    while (p->entry < p->m.n_entries) {
        uint64_t term;
        uint8_t type;
        uint32_t len;
        entry_at(p, p->entry++, &term, &type, &len);
        if (len == 0) continue;
        p->eleft = len;
        p->etype = type;
        p->chave = 0;
        return;
    }
}

/* Pass AppendEntries data on; a configuration entry is collected whole and
 * checked before it goes. */
static int pass_entries(mk_graft_parser *p, const uint8_t *d, size_t k, const mk_graft_ops *ops) {
    size_t off = 0, start = 0;
    int rc;
    while (off < k) {
        if (p->eleft == 0) next_entry(p);
        if (p->eleft == 0) return bad(p, MK_EMALFORMED, "payload beyond the entries");
        size_t c = k - off < p->eleft ? k - off : (size_t)p->eleft;
        if (p->etype != MK_GRAFT_CHANGE) {
            off += c;
            p->eleft -= c;
            continue;
        }
        if (off > start && (rc = ops->out(ops->ctx, d + start, off - start)) < 0) return rc;
        if (!p->cbuf && !(p->cbuf = malloc(MK_GRAFT_MAX_CONF))) return MK_ENOMEM;
        memcpy(p->cbuf + p->chave, d + off, c);
        p->chave += c;
        off += c;
        start = off;
        p->eleft -= c;
        if (p->eleft) continue;
        if (!mk_graft_conf_valid(p->cbuf, p->chave))
            return bad(p, MK_EMALFORMED, "configuration entry malformed");
        if ((rc = ops->out(ops->ctx, p->cbuf, p->chave)) < 0) return rc;
    }
    return off > start ? ops->out(ops->ctx, d + start, off - start) : 0;
}

static int on_payload(mk_graft_parser *p, const uint8_t *d, size_t n, const mk_graft_ops *ops,
                      size_t *used) {
    size_t k = n < p->left ? n : (size_t)p->left;
    int rc = 0;
    *used = k;
    if (p->verdict == MK_GRAFT_FORWARD && ops->out) {
        if (p->m.type == MK_GRAFT_AE && !p->lim->trusted)
            rc = pass_entries(p, d, k, ops);
        else
            rc = ops->out(ops->ctx, d, k);
        if (rc < 0) return p->why ? rc : bad(p, rc, "cannot pass the message on");
    }
    p->left -= k;
    if (p->left == 0) msg_done(p);
    return 0;
}

int mk_graft_feed(mk_graft_parser *p, const uint8_t *d, size_t n, const mk_graft_ops *ops) {
    if (p->state == P_FAIL) return p->rc;
    while (n > 0) {
        size_t k = 0;
        int rc = 0;
        switch (p->state) {
        case P_HELLO:
            k = take(p->head, &p->have, MK_GRAFT_HELLO_LEN, d, n);
            if (p->have == MK_GRAFT_HELLO_LEN) rc = on_hello(p, ops);
            break;
        case P_PRE:
            k = take(p->head, &p->have, PRE_LEN, d, n);
            if (p->have == PRE_LEN) rc = on_preamble(p);
            break;
        case P_HDR:
            k = take(p->buf, &p->bhave, p->blen, d, n);
            if (p->bhave == p->blen) rc = on_header(p, ops);
            break;
        case P_PAY:
            rc = on_payload(p, d, n, ops, &k);
            break;
        default:
            rc = bad(p, MK_EMALFORMED, "bytes after the channel hello");
            break;
        }
        if (rc < 0) return fail(p, rc, NULL);
        d += k;
        n -= k;
    }
    return 0;
}
