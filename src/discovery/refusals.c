/*
 * discovery/refusals.c — the ring of a network's recent refusals
 * (mk_network_note_refusal, mk_network_refusals).
 *
 * Algorithm. A fixed array of MK_NETWORK_REFUSALS records. A refusal whose
 * (peer, layer, direction, where, reason) equals a held record's is merged
 * into it (count + 1, last_at = now); otherwise it takes a free slot, or
 * replaces the record seen least recently. "Recently" is a counter bumped
 * at every note (refusal_seen[i] is its value when record i was last
 * seen), so the order is exact within a second too. The snapshot copies
 * the records sorted by it, most recent first (insertion sort: at most 64
 * of them).
 *
 * Text. where and reason come from validators and from peers (a refusal a
 * peer sent us): they are cut to their caps at a UTF-8 character boundary
 * and every control byte (< 0x20, 0x7f) becomes '?', so a record can be
 * printed, logged or put in HTML/JSON after the usual escaping without
 * carrying terminal escapes or line breaks.
 *
 * Invariants: n_refusals <= MK_NETWORK_REFUSALS; the records change only
 * under nw->rmu, which is taken after any other lock and with nothing
 * called under it, so a layer may record while holding its own locks.
 */
#include <string.h>

#include "discovery/disc_internal.h"
#include "mosaik/clock.h"

const char *mk_refusal_layer_name(mk_refusal_layer l) {
    switch (l) {
    case MK_REFUSAL_DISCOVERY:
        return "discovery";
    case MK_REFUSAL_STREAM:
        return "stream";
    case MK_REFUSAL_GROUP:
        return "group";
    case MK_REFUSAL_COLLECTION:
        return "collection";
    }
    return "unknown";
}

/* Copy src into dst (cap bytes + NUL): cut at a character boundary, control
 * bytes replaced. */
static void clean_copy(char *dst, size_t cap, const char *src) {
    size_t n = src ? strlen(src) : 0;
    if (n > cap) {
        n = cap;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--; /* src[n] continues a character: cut before it starts */
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    dst[n] = 0;
}

bool mk_network_note_refusal(mk_network *nw, const mk_id *peer, mk_refusal_layer layer,
                             bool by_peer, const char *where, const char *reason) {
    if (!nw || !peer) return false;
    mk_refusal_record r;
    memset(&r, 0, sizeof r);
    r.peer = *peer;
    r.layer = layer;
    r.by_peer = by_peer;
    clean_copy(r.where, MK_REFUSAL_WHERE_MAX, where);
    clean_copy(r.reason, MK_REFUSAL_REASON_MAX, reason && *reason ? reason : "refused");
    r.first_at = r.last_at = mk_now();
    r.count = 1;
    bool fresh = true;
    pthread_mutex_lock(&nw->rmu);
    size_t slot = nw->n_refusals;
    for (size_t i = 0; i < nw->n_refusals; i++) {
        mk_refusal_record *h = &nw->refusals[i];
        if (mk_id_eq(&h->peer, peer) && h->layer == layer && h->by_peer == by_peer &&
            !strcmp(h->where, r.where) && !strcmp(h->reason, r.reason)) {
            h->count++;
            h->last_at = r.last_at;
            nw->refusal_seen[i] = ++nw->refusal_clock;
            fresh = false;
            break;
        }
    }
    if (fresh) {
        if (slot == MK_NETWORK_REFUSALS) {
            slot = 0;
            for (size_t i = 1; i < MK_NETWORK_REFUSALS; i++)
                if (nw->refusal_seen[i] < nw->refusal_seen[slot]) slot = i;
        } else {
            nw->n_refusals++;
        }
        nw->refusals[slot] = r;
        nw->refusal_seen[slot] = ++nw->refusal_clock;
    }
    pthread_mutex_unlock(&nw->rmu);
    return fresh;
}

size_t mk_network_refusals(mk_network *nw, mk_refusal_record *out, size_t cap) {
    if (!nw) return 0;
    pthread_mutex_lock(&nw->rmu);
    size_t n = nw->n_refusals;
    if (!out || !cap) {
        pthread_mutex_unlock(&nw->rmu);
        return n;
    }
    static const size_t max = MK_NETWORK_REFUSALS;
    size_t order[MK_NETWORK_REFUSALS];
    for (size_t i = 0; i < n && i < max; i++) {
        size_t j = i;
        while (j > 0 && nw->refusal_seen[order[j - 1]] < nw->refusal_seen[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    size_t k = n < cap ? n : cap;
    for (size_t i = 0; i < k; i++)
        out[i] = nw->refusals[order[i]];
    pthread_mutex_unlock(&nw->rmu);
    return k;
}
