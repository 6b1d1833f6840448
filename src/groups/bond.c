/*
 * bond.c — bonds: which peers this group talks to, over which connection,
 * in which role, until when.
 *
 * Algorithm. One TLS connection per peer carries every group both peers
 * are in. For each group a bond is two HELLO frames, one each way:
 *   HELLO = role | reply flag | HMAC(group key, side, role, TLS exporter)
 * (ident.c has the MAC). A HELLO is accepted only if its MAC verifies and
 * the sender is admitted now (admit.c: its signed discovery entry lists
 * the group and passes every validator); the bond's expiration is the end
 * of that admission. The peer with the smaller id dials (mk_gbond_seek, on
 * the tick); a HELLO without the reply flag is always answered, and a
 * half-open bond is offered again every HELLO_RETRY_MS, so a side that
 * refused an early HELLO (entry not yet known) recovers when the other
 * retries. The role a HELLO claims counts only as a claim: with writer
 * validators a writer claim whose signed entry fails them bonds as a
 * reader (writers_refused); without them any admitted member may write.
 *
 * Every entry update re-judges the bond (mk_gbond_on_event: it may end it
 * with BYE, extend it with a fresh ticket, promote or demote a writer); a
 * departure or purge ends it; the tick closes bonds whose expiration
 * passed (mk_gbond_expire). When a bond ends the loop is told (PEER_DOWN:
 * the bridge drops its raft channels, forwards to it fail).
 *
 * Refusals. A HELLO from a peer whose entry lists the group but fails the
 * validators is answered with REFUSE carrying the validators' reason; the
 * refusal is recorded in the network's ring (mk_network_note_refusal) and
 * logged as a warning once per peer and reason. Since a refused peer is
 * never dialed for a bond, the smaller id dials it once per entry version
 * (admit.c: mk_gadmit_tell_locked) so that greet can tell it. The refused
 * side records the reason, shows it in its status, and its calls name it
 * (fsm.c); a bond with that peer clears it.
 *
 * Frames other than HELLO, BYE and REFUSE count only on an established bond over
 * the very connection they came on; they become jobs for the group's loop.
 * An OPEN without a bond is answered with CLOSE so the opener's raft sees
 * EOF at once.
 *
 * Invariants: the bond table, cut list and cache change only under g->bmu;
 * a bond holds a reference to its connection; nothing here sends while
 * host->mu is held except through the host's outbox (host.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "groups/groups_internal.h"
#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "mosaik/log.h"

#define HELLO_RETRY_MS 500 /* unsolicited HELLO retries on a half-open bond */

static void count(mk_group *g, uint64_t *counter) {
    pthread_mutex_lock(&g->smu);
    (*counter)++;
    pthread_mutex_unlock(&g->smu);
}

/* ----- the bond table ------------------------------------------------------ */

mk_gbond *mk_gbond_find(mk_group *g, const mk_id *peer) {
    for (mk_gbond *b = g->bonds; b; b = b->next)
        if (mk_id_eq(&b->peer, peer)) return b;
    return NULL;
}

bool mk_gbond_ok(const mk_gbond *b, int64_t now) {
    return b->sent_hello && b->got_hello && now < b->expires && mk_transport_conn_is_open(b->conn);
}

bool mk_group_is_cut(mk_group *g, const mk_id *peer) {
    for (size_t i = 0; i < g->n_cut; i++)
        if (mk_id_eq(&g->cut[i], peer)) return true;
    return false;
}

/* Remove the bond with peer (bmu held); returns whether there was one. */
bool mk_gbond_drop_locked(mk_group *g, const mk_id *peer, bool say_bye) {
    for (mk_gbond **pp = &g->bonds; *pp; pp = &(*pp)->next) {
        mk_gbond *b = *pp;
        if (!mk_id_eq(&b->peer, peer)) continue;
        *pp = b->next;
        if (say_bye) {
            mk_group_frame f = {.type = MK_GF_BYE, .group = g->id};
            (void)mk_group_send_frame(b->conn, &f);
        }
        mk_transport_conn_unref(b->conn);
        free(b);
        return true;
    }
    return false;
}

static void peer_down(mk_group *g, const mk_id *peer) {
    mk_gjob *j = mk_gjob_new(MK_GJ_PEER_DOWN);
    if (!j) return;
    j->peer = *peer;
    (void)mk_gjob_push(g, j);
}

mk_transport_conn *mk_group_bond_conn(mk_group *g, const mk_id *peer) {
    mk_transport_conn *c = NULL;
    pthread_mutex_lock(&g->bmu);
    mk_gbond *b = mk_gbond_find(g, peer);
    if (b && mk_gbond_ok(b, mk_now()) && !mk_group_is_cut(g, peer))
        c = mk_transport_conn_ref(b->conn);
    pthread_mutex_unlock(&g->bmu);
    return c;
}

/* Bond record for (peer, conn), rebinding it if conn changed. bmu held. */
static mk_gbond *bond_for_conn(mk_group *g, const mk_id *peer, mk_transport_conn *conn) {
    mk_gbond *b = mk_gbond_find(g, peer);
    if (b && b->conn != conn) {
        mk_transport_conn_unref(b->conn);
        b->conn = mk_transport_conn_ref(conn);
        b->sent_hello = b->got_hello = false;
    }
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) return NULL;
        b->peer = *peer;
        b->rid = mk_group_rid_of(peer);
        b->conn = mk_transport_conn_ref(conn);
        b->next = g->bonds;
        g->bonds = b;
    }
    return b;
}

/* ----- the handshake ------------------------------------------------------- */

static int send_hello(mk_group *g, mk_transport_conn *conn, bool reply) {
    uint8_t exp[MK_GROUP_EXPORTER_LEN], mac[32];
    int rc = mk_transport_conn_export(conn, "groups", g->id.b, MK_ID_LEN, exp, sizeof exp, NULL);
    if (rc < 0) return rc;
    uint8_t side = mk_transport_conn_inbound(conn) ? 1 : 0;
    mk_group_frame f = {.type = MK_GF_HELLO,
                        .group = g->id,
                        .role = (uint8_t)g->cfg.role,
                        .reply = reply ? 1 : 0,
                        .mac = mac};
    rc = mk_group_bond_mac(&g->key, &g->id, side, f.role, exp, mac);
    mk_wipe(exp, sizeof exp);
    if (rc < 0) return rc;
    return mk_group_send_frame(conn, &f);
}

/* ----- refusals ------------------------------------------------------------ */

/* The peer's entry was judged and refused (bmu held): when the refusal is
 * worth telling (it lists the group, a validator said why), record it,
 * log it (a warning the first time for this peer and reason) and send it
 * the reason in a REFUSE. Without a reason (its entry is not known yet:
 * an early HELLO) only a debug line: the retry recovers. */
static void refuse_locked(mk_group *g, mk_transport_conn *conn, const mk_id *peer, const char *sh) {
    const char *why = mk_gadmit_refusal_locked(g, peer);
    if (!why) {
        mk_log(MK_LOG_DEBUG, "groups", "hello from %s refused: entry not known", sh);
        return;
    }
    bool fresh = mk_network_note_refusal(g->nw, peer, g->cfg.layer, false, g->name, why);
    mk_log(fresh ? MK_LOG_WARN : MK_LOG_DEBUG, "groups", "%s %s: refused %s: %s",
           mk_refusal_layer_name(g->cfg.layer), g->name, sh, why);
    mk_group_frame f = {
        .type = MK_GF_REFUSE, .group = g->id, .payload = (const uint8_t *)why, .plen = strlen(why)};
    (void)mk_group_send_frame(conn, &f);
}

/* A member refused our HELLO and said why. Only a peer whose signed entry
 * lists the group counts (anyone else's REFUSE is dropped); the reason is
 * recorded and shown, never acted on: bonds and retries go on as before,
 * so a false refusal only misleads the message of a failing call. */
static void on_refuse(mk_group *g, const mk_id *peer, const mk_group_frame *f, const char *sh) {
    mk_peer_entry e;
    if (mk_network_get(g->nw, peer, &e) < 0) return;
    bool listed = mk_peer_entry_serves(&e, MK_SERVED_GROUP, &g->id);
    mk_peer_entry_free(&e);
    if (!listed) return;
    char why[MK_GF_MAX_REASON + 1];
    memcpy(why, f->payload, f->plen);
    why[f->plen] = 0;
    bool fresh = mk_network_note_refusal(g->nw, peer, g->cfg.layer, true, g->name, why);
    mk_log(fresh ? MK_LOG_WARN : MK_LOG_DEBUG, "groups", "%s %s: %s refused us: %s",
           mk_refusal_layer_name(g->cfg.layer), g->name, sh, why);
    for (size_t i = 0; i < f->plen; i++) /* shown as text: no control bytes */
        if ((unsigned char)why[i] < 0x20 || why[i] == 0x7f) why[i] = '?';
    pthread_mutex_lock(&g->smu);
    g->st.refused = true;
    g->st.refused_by = *peer;
    memcpy(g->st.refusal, why, f->plen + 1);
    pthread_mutex_unlock(&g->smu);
}

/* A bond with peer formed: a refusal it sent no longer stands. */
static void refusal_clear(mk_group *g, const mk_id *peer) {
    pthread_mutex_lock(&g->smu);
    if (g->st.refused && mk_id_eq(&g->st.refused_by, peer)) {
        g->st.refused = false;
        g->st.refusal[0] = 0;
    }
    pthread_mutex_unlock(&g->smu);
}

/* Offer a bond on conn if the peer is a validated candidate (net thread);
 * a listed peer that is refused is told why. */
void mk_gbond_greet(mk_group *g, mk_transport_conn *conn) {
    mk_id peer;
    mk_transport_conn_peer(conn, &peer);
    pthread_mutex_lock(&g->bmu);
    mk_expiration exp;
    if (mk_group_is_cut(g, &peer)) {
        /* partitioned (tests) */
    } else if (mk_gadmit_judge_peer_locked(g, &peer, &exp, NULL, NULL) == 0) {
        mk_gbond *b = bond_for_conn(g, &peer, conn);
        if (b && !b->sent_hello && send_hello(g, conn, false) == 0) {
            b->sent_hello = true;
            b->expires = exp;
        }
    } else if (mk_gadmit_refusal_locked(g, &peer)) {
        char sh[9];
        mk_id_short(&peer, sh);
        refuse_locked(g, conn, &peer, sh);
    }
    pthread_mutex_unlock(&g->bmu);
}

/* A writer claim counts only with writer validators that pass (wrc). */
static uint8_t effective_role(mk_group *g, uint8_t role, int wrc, const mk_id *peer,
                              const char *sh) {
    uint8_t eff = role == MK_GROUP_WRITER ? MK_GROUP_WRITER : MK_GROUP_READER;
    if (eff == MK_GROUP_WRITER && g->wvs && wrc < 0) {
        eff = MK_GROUP_READER;
        char why[MK_GF_MAX_REASON + 1];
        snprintf(why, sizeof why, "writer role refused (bonded as a reader): %s", mk_strerror(wrc));
        bool fresh = mk_network_note_refusal(g->nw, peer, g->cfg.layer, false, g->name, why);
        mk_log(fresh ? MK_LOG_WARN : MK_LOG_DEBUG, "groups", "%s claims the writer role: %s", sh,
               why);
        count(g, &g->st.writers_refused);
    }
    return eff;
}

static void on_hello(mk_group *g, mk_transport_conn *conn, const mk_id *peer,
                     const mk_group_frame *f) {
    uint8_t role = f->role, reply = f->reply;
    uint8_t exp[MK_GROUP_EXPORTER_LEN], want[32];
    if (mk_transport_conn_export(conn, "groups", g->id.b, MK_ID_LEN, exp, sizeof exp, NULL) < 0)
        return;
    /* The sender's side: it dialed iff we are inbound. */
    uint8_t side = mk_transport_conn_inbound(conn) ? 0 : 1;
    int rc = mk_group_bond_mac(&g->key, &g->id, side, role, exp, want);
    mk_wipe(exp, sizeof exp);
    char sh[9];
    mk_id_short(peer, sh);
    pthread_mutex_lock(&g->bmu);
    mk_expiration until, wuntil = 0;
    int wrc = 0;
    if (rc < 0 || !mk_ct_equal(want, f->mac, 32)) {
        mk_log(MK_LOG_WARN, "groups", "bond with %s refused: bad group key proof", sh);
        count(g, &g->st.bonds_refused);
    } else if (mk_group_is_cut(g, peer)) {
        /* partitioned (tests) */
    } else if (mk_gadmit_judge_peer_locked(g, peer, &until, &wrc, &wuntil) < 0) {
        refuse_locked(g, conn, peer, sh);
        count(g, &g->st.bonds_refused);
    } else {
        mk_gbond *b = bond_for_conn(g, peer, conn);
        mk_log(MK_LOG_DEBUG, "groups", "hello from %s (reply %d) accepted; sent %d", sh, reply,
               b ? b->sent_hello : -1);
        if (b) {
            b->got_hello = true;
            b->claimed = role;
            b->role = effective_role(g, role, wrc, peer, sh);
            /* A writer bond lasts until the earlier of member and writer
             * admission (wuntil is that earlier one). */
            b->expires = b->role == MK_GROUP_WRITER && g->wvs ? wuntil : until;
            if ((!b->sent_hello || !reply) && send_hello(g, conn, true) == 0) b->sent_hello = true;
            if (b->sent_hello) refusal_clear(g, peer);
        }
    }
    pthread_mutex_unlock(&g->bmu);
}

/* ----- from the host (I/O thread, host->mu held) -------------------------- */

/* The connection closed or the peer said BYE on it: end the bond on it. */
void mk_gbond_on_conn_close(mk_group *g, mk_transport_conn *conn, const mk_id *peer) {
    pthread_mutex_lock(&g->bmu);
    mk_gbond *b = mk_gbond_find(g, peer);
    bool hit = b && b->conn == conn && mk_gbond_drop_locked(g, peer, false);
    pthread_mutex_unlock(&g->bmu);
    if (hit) peer_down(g, peer);
}

/* Is there an established bond over this very connection? bmu not held. */
static bool bonded_on(mk_group *g, const mk_id *peer, mk_transport_conn *conn, uint8_t *role) {
    pthread_mutex_lock(&g->bmu);
    mk_gbond *b = mk_gbond_find(g, peer);
    bool ok = b && b->conn == conn && mk_gbond_ok(b, mk_now()) && !mk_group_is_cut(g, peer);
    if (ok && role) *role = b->role;
    pthread_mutex_unlock(&g->bmu);
    return ok;
}

void mk_gbond_on_frame(mk_group *g, mk_transport_conn *conn, const mk_id *peer,
                       const mk_group_frame *f) {
    uint8_t role = 0;
    if (f->type == MK_GF_HELLO) {
        on_hello(g, conn, peer, f);
        return;
    }
    if (f->type == MK_GF_BYE) {
        mk_gbond_on_conn_close(g, conn, peer);
        return;
    }
    if (f->type == MK_GF_REFUSE) {
        char sh[9];
        mk_id_short(peer, sh);
        on_refuse(g, peer, f, sh);
        return;
    }
    if (!bonded_on(g, peer, conn, &role)) {
        if (f->type == MK_GF_OPEN) {
            /* refuse, so the opener's raft sees EOF at once */
            mk_group_frame c = {.type = MK_GF_CLOSE, .group = g->id, .dir = 1, .chan = f->chan};
            (void)mk_group_send_frame(conn, &c);
        }
        return;
    }
    static const int jt[] = {[MK_GF_OPEN] = MK_GJ_OPEN,
                             [MK_GF_DATA] = MK_GJ_DATA,
                             [MK_GF_CLOSE] = MK_GJ_CLOSE,
                             [MK_GF_FWD] = MK_GJ_FWD_IN,
                             [MK_GF_FWD_RES] = MK_GJ_FWD_RES};
    if (f->type >= sizeof jt / sizeof jt[0] || !jt[f->type]) return;
    mk_gjob *j = mk_gjob_new(jt[f->type]);
    if (!j) return;
    j->dir = f->dir;
    j->chan = f->chan;
    j->seq = f->seq;
    j->kind = f->kind;
    j->status = f->status;
    j->role = role;
    if (f->plen && mk_buf_append(&j->data, f->payload, f->plen) < 0) {
        mk_gjob_free(g, j, 0);
        return;
    }
    j->peer = *peer;
    j->conn = mk_transport_conn_ref(conn);
    (void)mk_gjob_push(g, j);
}

/* Re-judge bond b on the peer's new signed entry; whether it ended. */
static bool rejudge_locked(mk_group *g, mk_gbond *b, const mk_peer_entry *e) {
    mk_expiration exp, wexp = 0;
    int wrc = 0;
    if (mk_gadmit_judge_locked(g, e, &exp, &wrc, &wexp) != 0) {
        bool down = mk_gbond_drop_locked(g, &e->peer_id, true);
        count(g, &g->st.bonds_expired);
        return down;
    }
    b->expires = exp; /* a fresh signed entry may extend it */
    if (b->claimed == MK_GROUP_WRITER && g->wvs) {
        if (wrc == 0) {
            b->role = MK_GROUP_WRITER;
            b->expires = wexp;
        } else if (b->role == MK_GROUP_WRITER) {
            b->role = MK_GROUP_READER; /* demoted by the reconcile */
            count(g, &g->st.writers_refused);
        }
    }
    return false;
}

void mk_gbond_on_event(mk_group *g, const mk_network_event *ev) {
    bool down = false;
    pthread_mutex_lock(&g->bmu);
    mk_gbond *b = mk_gbond_find(g, &ev->peer_id);
    if (ev->type == MK_EVENT_DEPARTED || ev->type == MK_EVENT_PURGED) {
        mk_gmember_gone_locked(g, &ev->peer_id, ev->type == MK_EVENT_DEPARTED);
        mk_gadmit_evict_locked(g, &ev->peer_id);
        if (b) down = mk_gbond_drop_locked(g, &ev->peer_id, false);
    } else {
        mk_gmember_gone_locked(g, &ev->peer_id, false);
        if (b) down = rejudge_locked(g, b, &ev->entry);
    }
    pthread_mutex_unlock(&g->bmu);
    if (down) peer_down(g, &ev->peer_id);
}

/* ----- from the tick (loop thread) ---------------------------------------- */

/* Candidates: peers whose signed entry lists the group and passes. */
void mk_gbond_seek(mk_group *g) {
    mk_peer_entry *es;
    size_t n;
    if (mk_network_peers(g->nw, &es, &n) < 0) return;
    int64_t now = mk_now();
    for (size_t i = 0; i < n; i++) {
        mk_peer_entry *e = &es[i];
        if (!mk_peer_entry_serves(e, MK_SERVED_GROUP, &g->id) || e->n_addrs == 0) continue;
        bool dial = false;
        mk_transport_conn *resend = NULL;
        pthread_mutex_lock(&g->bmu);
        mk_expiration exp;
        if (!mk_group_is_cut(g, &e->peer_id) &&
            mk_gadmit_judge_locked(g, e, &exp, NULL, NULL) == 0) {
            mk_gbond *b = mk_gbond_find(g, &e->peer_id);
            if (!b || !mk_transport_conn_is_open(b->conn)) {
                dial = mk_id_cmp(&g->self, &e->peer_id) < 0;
            } else if (!mk_gbond_ok(b, now) && mk_sys_mono_ms() - b->hello_at >= HELLO_RETRY_MS) {
                b->hello_at = mk_sys_mono_ms();
                resend = mk_transport_conn_ref(b->conn);
                b->sent_hello = true;
                b->expires = exp;
            }
        } else if (!mk_group_is_cut(g, &e->peer_id) && mk_gadmit_tell_locked(g, e)) {
            /* refused: never dialed for a bond, so dial once to say why */
            mk_gbond *b = mk_gbond_find(g, &e->peer_id);
            dial = !b || !mk_transport_conn_is_open(b->conn);
        }
        pthread_mutex_unlock(&g->bmu);
        if (resend) {
            (void)send_hello(g, resend, false);
            mk_transport_conn_unref(resend);
        }
        if (dial) mk_ghost_dial(g, &e->peer_id, e->addrs[0]);
    }
    mk_peer_entries_free(es, n);
}

void mk_gbond_expire(mk_group *g) {
    int64_t now = mk_now();
    mk_id down[MK_GROUP_MAX_MEMBERS];
    size_t nd = 0;
    pthread_mutex_lock(&g->bmu);
    for (mk_gbond *b = g->bonds, *n; b; b = n) {
        n = b->next;
        if (now >= b->expires && nd < MK_GROUP_MAX_MEMBERS) {
            down[nd++] = b->peer;
            mk_gbond_drop_locked(g, &b->peer, true);
        }
    }
    pthread_mutex_unlock(&g->bmu);
    if (nd) {
        pthread_mutex_lock(&g->smu);
        g->st.bonds_expired += nd;
        pthread_mutex_unlock(&g->smu);
    }
    for (size_t i = 0; i < nd; i++) {
        mk_gbridge_peer_down(g, &down[i]);
        mk_gprop_fwd_fail_peer(g, &down[i]);
    }
}

/* ----- tests --------------------------------------------------------------- */

void mk_group_partition(mk_group *g, const mk_id *peer, bool cut) {
    bool down = false;
    pthread_mutex_lock(&g->bmu);
    size_t i;
    for (i = 0; i < g->n_cut; i++)
        if (mk_id_eq(&g->cut[i], peer)) break;
    if (cut && i == g->n_cut && g->n_cut < MK_GROUP_MAX_CUT) g->cut[g->n_cut++] = *peer;
    if (!cut && i < g->n_cut) g->cut[i] = g->cut[--g->n_cut];
    if (cut) down = mk_gbond_drop_locked(g, peer, false);
    pthread_mutex_unlock(&g->bmu);
    if (down || cut) peer_down(g, peer);
}
