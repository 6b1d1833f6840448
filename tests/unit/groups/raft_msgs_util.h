/*
 * Raft messages as libraft 0.15 writes them on a uv stream (little-endian,
 * see src/groups/raftwire.c), the channel hello, and the three messages
 * that crashed or bloated a member before the bridge parsed its input
 * (issue 11): for the parser's unit tests and for replaying attacks over a
 * real bond.
 */
#ifndef TEST_RAFT_MSGS_H
#define TEST_RAFT_MSGS_H

#include <stdint.h>
#include <string.h>

#include "groups/groups_internal.h"
#include "mosaik/bytes.h"

static inline void tr_u64(mk_buf *b, uint64_t v) {
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    assert_int_equal(mk_buf_append(b, x, 8), 0);
}

static inline void tr_u32(mk_buf *b, uint32_t v) {
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    assert_int_equal(mk_buf_append(b, x, 4), 0);
}

static inline void tr_u8(mk_buf *b, uint8_t v) {
    assert_int_equal(mk_buf_append(b, &v, 1), 0);
}

static inline void tr_hello(mk_buf *b, const mk_gcluster *c) {
    uint8_t h[MK_GRAFT_HELLO_LEN];
    mk_gcluster zero = {0};
    mk_graft_hello_write(h, c ? c : &zero);
    assert_int_equal(mk_buf_append(b, h, sizeof h), 0);
}

/* A small message: type, then its u64 fields. */
static inline void tr_small(mk_buf *b, uint64_t type, const uint64_t *f, size_t n) {
    tr_u64(b, type);
    tr_u64(b, 8 * n);
    for (size_t i = 0; i < n; i++)
        tr_u64(b, f[i]);
}

static inline void tr_aer(mk_buf *b, uint64_t term, uint64_t rejected, uint64_t last) {
    uint64_t f[3] = {term, rejected, last};
    tr_small(b, MK_GRAFT_AER, f, 3);
}

static inline void tr_rv(mk_buf *b, uint64_t term, uint64_t cand, uint64_t lli, uint64_t llt,
                         uint64_t flags) {
    uint64_t f[5] = {term, cand, lli, llt, flags};
    tr_small(b, MK_GRAFT_RV, f, 5);
}

static inline void tr_rvr(mk_buf *b, uint64_t term, uint64_t granted, uint64_t flags) {
    uint64_t f[3] = {term, granted, flags};
    tr_small(b, MK_GRAFT_RVR, f, 3);
}

static inline void tr_tn(mk_buf *b, uint64_t term, uint64_t lli, uint64_t llt) {
    uint64_t f[3] = {term, lli, llt};
    tr_small(b, MK_GRAFT_TN, f, 3);
}

typedef struct tr_entry {
    uint64_t term;
    uint8_t type;
    const uint8_t *data;
    uint32_t len;
} tr_entry;

static inline void tr_ae(mk_buf *b, uint64_t term, uint64_t prev, uint64_t prev_term,
                         uint64_t commit, const tr_entry *e, size_t n) {
    tr_u64(b, MK_GRAFT_AE);
    tr_u64(b, 48 + 16 * n);
    tr_u64(b, term);
    tr_u64(b, prev);
    tr_u64(b, prev_term);
    tr_u64(b, commit);
    tr_u64(b, n);
    for (size_t i = 0; i < n; i++) {
        tr_u64(b, e[i].term);
        tr_u8(b, e[i].type);
        tr_u8(b, 0);
        tr_u8(b, 0);
        tr_u8(b, 0);
        tr_u32(b, e[i].len);
    }
    tr_u64(b, 0x5a5a5a5a5a5a5a5aULL); /* never written by 0.15: heap garbage */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(mk_buf_append(b, e[i].data, e[i].len), 0);
}

/* An encoded configuration of n servers (ids ids[i], addresses addr[i]). */
static inline void tr_conf(mk_buf *b, const uint64_t *ids, const char *const *addr,
                           const uint8_t *roles, size_t n) {
    size_t start = b->len;
    tr_u8(b, 1);
    tr_u64(b, n);
    for (size_t i = 0; i < n; i++) {
        tr_u64(b, ids[i]);
        assert_int_equal(mk_buf_append(b, addr[i], strlen(addr[i]) + 1), 0);
        tr_u8(b, roles[i]);
    }
    while ((b->len - start) % 8)
        tr_u8(b, 0xee); /* padding: uninitialised in 0.15 */
}

static inline void tr_is(mk_buf *b, uint64_t term, uint64_t last, uint64_t last_term,
                         uint64_t conf_index, const mk_buf *conf, const uint8_t *data, size_t len) {
    tr_u64(b, MK_GRAFT_IS);
    tr_u64(b, 56 + conf->len);
    tr_u64(b, term);
    tr_u64(b, last);
    tr_u64(b, last_term);
    tr_u64(b, conf_index);
    tr_u64(b, conf->len);
    assert_int_equal(mk_buf_append(b, conf->data, conf->len), 0);
    tr_u64(b, len);
    tr_u64(b, 0x5a5a5a5a5a5a5a5aULL);
    assert_int_equal(mk_buf_append(b, data, len), 0);
}

/* The 72-byte batch whose header decode fails (entry type 9): 0.15 then
 * sums entry lengths through the NULL list it just freed. */
static inline void tr_crash_72(mk_buf *b) {
    tr_u64(b, MK_GRAFT_AE);
    tr_u64(b, 56);
    tr_u64(b, 1); /* term */
    tr_u64(b, 0);
    tr_u64(b, 0);
    tr_u64(b, 0);
    tr_u64(b, 1); /* one entry */
    tr_u64(b, 1); /* its term */
    tr_u8(b, 9);  /* no such entry type */
    tr_u8(b, 0);
    tr_u8(b, 0);
    tr_u8(b, 0);
    tr_u32(b, 8);
}

/* A header claiming 10^7 entries in 56 bytes (0.15 reads 160 MB past it). */
static inline void tr_crash_entries(mk_buf *b) {
    tr_u64(b, MK_GRAFT_AE);
    tr_u64(b, 56);
    tr_u64(b, 1);
    tr_u64(b, 0);
    tr_u64(b, 0);
    tr_u64(b, 0);
    tr_u64(b, 10000000);
    tr_u64(b, 1);
    tr_u64(b, 8);
}

/* A preamble announcing a 1 GiB header (0.15 allocates it as announced). */
static inline void tr_crash_gib(mk_buf *b) {
    tr_u64(b, MK_GRAFT_AE);
    tr_u64(b, (uint64_t)1 << 30);
}

#endif
