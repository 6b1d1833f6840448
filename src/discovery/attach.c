/*
 * discovery/attach.c — per-network slots for the layers built on discovery
 * (streams, groups): a pointer stored under a key, with a destructor run by
 * mk_network_free after the I/O thread has stopped, newest first, or handed
 * back by a detach.
 *
 * A slot's key is the address of the layer's mk_network_slot_type, which
 * also carries the name and the destructor. Slots live in one small table
 * (MK_DISC_MAX_SLOTS) under nw->mu, so a type is attached at most once. The table is only
 * data: attaching or detaching runs no code of the layer (mk_network_free
 * alone calls the destructors), so no lock order arises with the layers'
 * own locks. What must happen on the I/O thread when a layer detaches —
 * unregistering its protocol, removing its hook — the layer does itself
 * (docs/net.md, "Attaching a layer").
 */
#include <string.h>

#include "discovery/disc_internal.h"

/* Under mu: the slot index of key, or -1. */
static int slot_find_locked(const mk_network *nw, const void *key) {
    for (size_t i = 0; i < nw->n_slots; i++)
        if (nw->slots[i].key == key) return (int)i;
    return -1;
}

static int slot_add(mk_network *nw, const void *key, const char *what, void *ptr,
                    void (*destroy)(void *ptr), mk_error *err) {
    pthread_mutex_lock(&nw->mu);
    int rc = 0;
    if (slot_find_locked(nw, key) >= 0 && what)
        rc = mk_error_set(err, MK_EBUSY, "%s: already attached", what);
    else if (slot_find_locked(nw, key) >= 0)
        rc = mk_error_set(err, MK_EBUSY, "already attached");
    else if (nw->n_slots >= MK_DISC_MAX_SLOTS)
        rc = mk_error_set(err, MK_EBUSY, "at most %d attachments", MK_DISC_MAX_SLOTS);
    else
        nw->slots[nw->n_slots++] = (mk_disc_slot){key, ptr, destroy};
    pthread_mutex_unlock(&nw->mu);
    return rc;
}

static void *slot_get(mk_network *nw, const void *key) {
    pthread_mutex_lock(&nw->mu);
    int i = slot_find_locked(nw, key);
    void *ptr = i >= 0 ? nw->slots[i].ptr : NULL;
    pthread_mutex_unlock(&nw->mu);
    return ptr;
}

int mk_network_slot_attach(mk_network *nw, const mk_network_slot_type *type, void *ptr,
                           mk_error *err) {
    if (!nw || !type) return mk_error_set(err, MK_EINVAL, "no slot type");
    return slot_add(nw, type, type->name ? type->name : "slot", ptr, type->destroy, err);
}

void *mk_network_slot_get(mk_network *nw, const mk_network_slot_type *type) {
    return nw && type ? slot_get(nw, type) : NULL;
}

void *mk_network_slot_detach(mk_network *nw, const mk_network_slot_type *type) {
    if (!nw || !type) return NULL;
    pthread_mutex_lock(&nw->mu);
    int i = slot_find_locked(nw, type);
    void *ptr = NULL;
    if (i >= 0) {
        ptr = nw->slots[i].ptr;
        /* Keep the order: destructors run newest first. */
        memmove(&nw->slots[i], &nw->slots[i + 1],
                (nw->n_slots - (size_t)i - 1) * sizeof nw->slots[0]);
        nw->n_slots--;
    }
    pthread_mutex_unlock(&nw->mu);
    return ptr;
}

void mk_disc_slots_destroy(mk_network *nw) {
    for (size_t i = nw->n_slots; i-- > 0;)
        if (nw->slots[i].destroy) nw->slots[i].destroy(nw->slots[i].ptr);
    nw->n_slots = 0;
}
