/*
 * session.c — the exactly-once session table: part of every group's
 * replicated state (applied in log order on every member, in snapshots).
 *
 * Algorithm (after the Raft dissertation, §6.3). Every command a member's
 * user calls carries (client id, seq, floor): the client id is the calling
 * node's, the seq is fixed once per logical call and kept across every
 * re-proposal, the floor is the lowest seq the caller still waits for
 * (call.c). The leader adds the raft id of the member the command came
 * from (itself, or the forwarding bond's peer), so a session is keyed by
 * (rid, cid) and a member can only touch sessions under its own rid. For
 * each session the table keeps
 *   floor  every seq below it is finished: never executed again;
 *   last   the log index of its latest command (least recently used order);
 *   results (seq, status, result bytes) of applied commands >= floor.
 * A command is classified before it runs (mk_gsess_check):
 *   DUP    its seq has a result: not executed, the first result answers;
 *   STALE  its seq is below the floor and has no result: not executed
 *          (its caller gave up on it, or its result was evicted);
 *   NEW    otherwise: executed, and its result recorded (mk_gsess_record).
 *
 * Bounds, all enforced while applying, in log order, from the table's own
 * contents, so every member evicts the same entries at the same index:
 *   MK_GSESS_PER_SESSION results per session (the lowest seq goes first,
 *     the floor rising past it); MK_GSESS_BYTES result bytes in all (from
 *     the least recently used session first); MK_GSESS_PER_RID sessions per
 *     raft id and MK_GSESS_MAX sessions in all (the least recently used
 *     session goes; ties: the lower (rid, cid)).
 * A duplicate whose result was evicted is STALE (refused, not re-run). A
 * duplicate whose whole session was evicted would run again: that takes
 * MK_GSESS_PER_RID newer sessions of the same member, or MK_GSESS_MAX
 * newer sessions, within one call's retries (docs/groups.md).
 *
 * Snapshot prefix (big-endian): magic "\0MKGSES1", n u32, then per session
 * rid u64, cid u64, floor u64, last u64, k u32 and k results
 * [seq u64][status u32 (two's complement)][len u32][bytes]. Decoding goes
 * through mk_reader and checks every bound, the key order, result order
 * and seq >= floor; a snapshot that does not start with the magic was
 * taken before sessions existed and reads as an empty table.
 *
 * Invariants: sessions sorted by (rid, cid), unique; results of a session
 * sorted by seq, unique, every seq >= floor; bytes = the sum of result
 * lengths. Not thread-safe: the caller holds g->smu.
 */
#include <stdlib.h>
#include <string.h>

#include "groups/groups_internal.h"

typedef struct gres {
    uint64_t seq;
    int32_t status;
    uint32_t len;
    uint8_t *data;
} gres;

typedef struct gsess {
    uint64_t rid, cid, floor, last;
    gres *res;
    uint32_t n, cap;
} gsess;

struct mk_gsessions {
    gsess *s;
    size_t n, cap;
    size_t bytes;
};

static const uint8_t MAGIC[8] = {0, 'M', 'K', 'G', 'S', 'E', 'S', '1'};

mk_gsessions *mk_gsess_new(void) {
    return calloc(1, sizeof(mk_gsessions));
}

static void sess_clear(gsess *s) {
    for (uint32_t i = 0; i < s->n; i++)
        free(s->res[i].data);
    free(s->res);
    s->res = NULL;
    s->n = s->cap = 0;
}

void mk_gsess_free(mk_gsessions *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++)
        sess_clear(&t->s[i]);
    free(t->s);
    free(t);
}

size_t mk_gsess_count(const mk_gsessions *t) {
    return t ? t->n : 0;
}

static int key_cmp(uint64_t ar, uint64_t ac, uint64_t br, uint64_t bc) {
    if (ar != br) return ar < br ? -1 : 1;
    if (ac != bc) return ac < bc ? -1 : 1;
    return 0;
}

/* Binary search: index of (rid, cid), or where it would go (*found false). */
static size_t sess_find(const mk_gsessions *t, uint64_t rid, uint64_t cid, bool *found) {
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(t->s[mid].rid, t->s[mid].cid, rid, cid);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static gres *res_find(const gsess *s, uint64_t seq) {
    uint32_t lo = 0, hi = s->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->res[mid].seq == seq) return &s->res[mid];
        if (s->res[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int mk_gsess_check(const mk_gsessions *t, uint64_t rid, uint64_t cid, uint64_t seq, int *status,
                   const uint8_t **data, size_t *len) {
    bool found;
    size_t i = t ? sess_find(t, rid, cid, &found) : 0;
    if (!t || !found) return MK_GSESS_NEW;
    const gsess *s = &t->s[i];
    const gres *r = res_find(s, seq);
    if (r) {
        *status = r->status;
        *data = r->data;
        *len = r->len;
        return MK_GSESS_DUP;
    }
    return seq < s->floor ? MK_GSESS_STALE : MK_GSESS_NEW;
}

/* Drop the lowest result of s; the floor rises past it. */
static void drop_lowest(mk_gsessions *t, gsess *s) {
    gres *r = &s->res[0];
    if (s->floor <= r->seq) s->floor = r->seq + 1;
    t->bytes -= r->len;
    free(r->data);
    memmove(&s->res[0], &s->res[1], (s->n - 1) * sizeof *s->res);
    s->n--;
}

/* Raise the floor of s to f, dropping the results below it. */
static void raise_floor(mk_gsessions *t, gsess *s, uint64_t f) {
    if (f <= s->floor) return;
    while (s->n && s->res[0].seq < f)
        drop_lowest(t, s);
    s->floor = f;
}

static void sess_remove(mk_gsessions *t, size_t i) {
    for (uint32_t k = 0; k < t->s[i].n; k++)
        t->bytes -= t->s[i].res[k].len;
    sess_clear(&t->s[i]);
    memmove(&t->s[i], &t->s[i + 1], (t->n - i - 1) * sizeof *t->s);
    t->n--;
}

/* The least recently used session (of rid only, if by_rid), or t->n. */
static size_t lru(const mk_gsessions *t, bool by_rid, uint64_t rid, size_t *count) {
    size_t best = t->n;
    *count = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (by_rid && t->s[i].rid != rid) continue;
        (*count)++;
        if (best == t->n || t->s[i].last < t->s[best].last) best = i;
    }
    return best;
}

/* The session (rid, cid), created (evicting as the bounds say) if new. */
static gsess *sess_get(mk_gsessions *t, uint64_t rid, uint64_t cid) {
    bool found;
    size_t i = sess_find(t, rid, cid, &found);
    if (found) return &t->s[i];
    size_t count, victim = lru(t, true, rid, &count);
    if (count >= MK_GSESS_PER_RID) sess_remove(t, victim);
    if (t->n >= MK_GSESS_MAX) sess_remove(t, lru(t, false, 0, &count));
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 8;
        gsess *ns = realloc(t->s, nc * sizeof *ns);
        if (!ns) return NULL;
        t->s = ns;
        t->cap = nc;
    }
    i = sess_find(t, rid, cid, &found);
    memmove(&t->s[i + 1], &t->s[i], (t->n - i) * sizeof *t->s);
    t->s[i] = (gsess){.rid = rid, .cid = cid};
    t->n++;
    return &t->s[i];
}

/* Keep the result bytes within MK_GSESS_BYTES: the least recently used
 * sessions give up their lowest results first. */
static void trim_bytes(mk_gsessions *t) {
    while (t->bytes > MK_GSESS_BYTES) {
        size_t best = t->n;
        for (size_t i = 0; i < t->n; i++)
            if (t->s[i].n && (best == t->n || t->s[i].last < t->s[best].last)) best = i;
        if (best == t->n) return;
        drop_lowest(t, &t->s[best]);
    }
}

void mk_gsess_touch(mk_gsessions *t, uint64_t rid, uint64_t cid, uint64_t floor, uint64_t idx) {
    bool found;
    size_t i = t ? sess_find(t, rid, cid, &found) : 0;
    if (!t || !found) return;
    t->s[i].last = idx;
    raise_floor(t, &t->s[i], floor);
}

int mk_gsess_record(mk_gsessions *t, uint64_t rid, uint64_t cid, uint64_t seq, uint64_t floor,
                    uint64_t idx, int status, const uint8_t *data, size_t len) {
    if (len > MK_GROUP_MAX_RESULT) len = 0;
    gsess *s = sess_get(t, rid, cid);
    if (!s) return MK_ENOMEM;
    s->last = idx;
    raise_floor(t, s, floor);
    if (seq < s->floor || res_find(s, seq)) return 0;
    if (s->n == s->cap) {
        uint32_t nc = s->cap ? s->cap * 2 : 4;
        gres *nr = realloc(s->res, nc * sizeof *nr);
        if (!nr) return MK_ENOMEM;
        s->res = nr;
        s->cap = nc;
    }
    uint8_t *copy = NULL;
    if (len && !(copy = malloc(len))) return MK_ENOMEM;
    if (len) memcpy(copy, data, len);
    uint32_t k = s->n;
    while (k > 0 && s->res[k - 1].seq > seq)
        k--;
    memmove(&s->res[k + 1], &s->res[k], (s->n - k) * sizeof *s->res);
    s->res[k] = (gres){seq, status, (uint32_t)len, copy};
    s->n++;
    t->bytes += len;
    while (s->n > MK_GSESS_PER_SESSION)
        drop_lowest(t, s);
    trim_bytes(t);
    return 0;
}

/* ----- snapshots ------------------------------------------------------------- */

int mk_gsess_encode(const mk_gsessions *t, mk_buf *out) {
    size_t n = t ? t->n : 0;
    int rc = mk_buf_append(out, MAGIC, sizeof MAGIC);
    if (rc == 0) rc = mk_buf_append_u32be(out, (uint32_t)n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const gsess *s = &t->s[i];
        rc = mk_buf_append_u64be(out, s->rid);
        if (rc == 0) rc = mk_buf_append_u64be(out, s->cid);
        if (rc == 0) rc = mk_buf_append_u64be(out, s->floor);
        if (rc == 0) rc = mk_buf_append_u64be(out, s->last);
        if (rc == 0) rc = mk_buf_append_u32be(out, s->n);
        for (uint32_t k = 0; rc == 0 && k < s->n; k++) {
            rc = mk_buf_append_u64be(out, s->res[k].seq);
            if (rc == 0) rc = mk_buf_append_u32be(out, (uint32_t)s->res[k].status);
            if (rc == 0) rc = mk_buf_append_u32be(out, s->res[k].len);
            if (rc == 0) rc = mk_buf_append(out, s->res[k].data, s->res[k].len);
        }
    }
    return rc;
}

/* One session's results into s (sorted, >= floor, within the bounds). */
static int decode_results(mk_reader *r, mk_gsessions *t, gsess *s, uint32_t k) {
    s->res = k ? calloc(k, sizeof *s->res) : NULL;
    if (k && !s->res) return MK_ENOMEM;
    s->cap = k;
    for (uint32_t j = 0; j < k; j++) {
        uint64_t seq;
        uint32_t st;
        size_t len;
        const uint8_t *p;
        if (mk_read_u64be(r, &seq) < 0 || mk_read_u32be(r, &st) < 0 ||
            mk_read_len32be(r, MK_GROUP_MAX_RESULT, &len) < 0 || mk_read_view(r, len, &p) < 0)
            return MK_EMALFORMED;
        int32_t status = (int32_t)st;
        if (seq < s->floor || (j && seq <= s->res[j - 1].seq) || status > 0 ||
            t->bytes + len > MK_GSESS_BYTES)
            return MK_EMALFORMED;
        uint8_t *copy = len ? malloc(len) : NULL;
        if (len && !copy) return MK_ENOMEM;
        if (len) memcpy(copy, p, len);
        s->res[j] = (gres){seq, status, (uint32_t)len, copy};
        s->n++;
        t->bytes += len;
    }
    return 0;
}

static int decode_table(mk_reader *r, mk_gsessions *t) {
    uint32_t n;
    if (mk_read_u32be(r, &n) < 0 || n > MK_GSESS_MAX) return MK_EMALFORMED;
    t->s = n ? calloc(n, sizeof *t->s) : NULL;
    if (n && !t->s) return MK_ENOMEM;
    t->cap = n;
    size_t per_rid = 0;
    for (uint32_t i = 0; i < n; i++) {
        gsess *s = &t->s[i];
        uint32_t k;
        if (mk_read_u64be(r, &s->rid) < 0 || mk_read_u64be(r, &s->cid) < 0 ||
            mk_read_u64be(r, &s->floor) < 0 || mk_read_u64be(r, &s->last) < 0 ||
            mk_read_u32be(r, &k) < 0 || k > MK_GSESS_PER_SESSION)
            return MK_EMALFORMED;
        t->n++;
        if (i && key_cmp(t->s[i - 1].rid, t->s[i - 1].cid, s->rid, s->cid) >= 0)
            return MK_EMALFORMED;
        per_rid = i && t->s[i - 1].rid == s->rid ? per_rid + 1 : 1;
        if (per_rid > MK_GSESS_PER_RID) return MK_EMALFORMED;
        int rc = decode_results(r, t, s, k);
        if (rc < 0) return rc;
    }
    return 0;
}

int mk_gsess_decode(const uint8_t *data, size_t len, mk_gsessions **out, size_t *consumed) {
    *out = NULL;
    *consumed = 0;
    mk_gsessions *t = mk_gsess_new();
    if (!t) return MK_ENOMEM;
    if (len < sizeof MAGIC || memcmp(data, MAGIC, sizeof MAGIC) != 0) {
        *out = t; /* taken before sessions existed: an empty table */
        return 0;
    }
    mk_reader r;
    mk_reader_init(&r, data + sizeof MAGIC, len - sizeof MAGIC);
    int rc = decode_table(&r, t);
    if (rc < 0) {
        mk_gsess_free(t);
        return rc;
    }
    *out = t;
    *consumed = sizeof MAGIC + mk_reader_offset(&r);
    return 0;
}
