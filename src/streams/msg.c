/*
 * streams/msg.c — the wire messages of the "streams" protocol.
 *
 * One message per transport frame. Every message starts with
 *
 *   u8 type | u32be channel
 *
 * where `channel` is a number the consumer chose for one subscription on
 * this connection; the producer echoes it. Because a connection is shared
 * by every stream between two peers in both directions, the type tells the
 * receiver which of its tables the channel refers to: SUBSCRIBE,
 * UNSUBSCRIBE and CREDIT name a subscription in which the receiver is the
 * producer; ACCEPT, CLOSE and DATA one in which it is the consumer.
 *
 *   SUBSCRIBE   stream id[32] | u32be window | u32be n | entry[n]
 *   ACCEPT      i64be expires | u32be n | entry[n]
 *   CLOSE       u16be reason | i64be expires | u16be n | text[n]
 *   UNSUBSCRIBE (same as CLOSE)
 *   DATA        u64be seq | payload (the rest of the frame)
 *   CREDIT      u32be more credits (0: keepalive)
 *
 * `entry` is the sender's signed peer entry (mk_peer_entry_encode), at most
 * MK_ENTRY_MAX_BYTES; window/credit at most MK_STREAM_MAX_WINDOW; text at
 * most MK_STREAM_MAX_REASON bytes; control characters (C0, DEL, and C1 in
 * its UTF-8 form) are replaced by '?' when decoded (it is shown to
 * operators). A payload is at
 * most MK_STREAM_MAX_ITEM bytes. Anything else — unknown type, short or
 * trailing bytes, over a cap — is refused (MK_EMALFORMED / MK_ETRUNC /
 * MK_ETOOBIG) and the receiver closes the connection.
 *
 * Decoding borrows entry and payload from the frame; nothing is allocated.
 */
#include <string.h>

#include "mosaik/streams.h"

int mk_stream_msg_decode(const uint8_t *data, size_t len, mk_stream_msg *m, mk_error *err) {
    memset(m, 0, sizeof *m);
    mk_reader r;
    mk_reader_init(&r, data, len);
    uint8_t type;
    uint32_t ch;
    int rc;
    if ((rc = mk_read_u8(&r, &type)) < 0 || (rc = mk_read_u32be(&r, &ch)) < 0)
        return mk_error_set(err, rc, "stream message: truncated header");
    m->channel = ch;
    uint64_t u64;
    uint32_t u32;
    uint16_t u16;
    size_t n;
    switch (type) {
    case MK_SMSG_SUBSCRIBE:
        if ((rc = mk_read_bytes(&r, m->stream_id.b, MK_ID_LEN)) < 0 ||
            (rc = mk_read_u32be(&r, &m->window)) < 0)
            return mk_error_set(err, rc, "subscribe: truncated");
        if (m->window == 0 || m->window > MK_STREAM_MAX_WINDOW)
            return mk_error_set(err, MK_EMALFORMED, "subscribe: window %u out of range",
                                (unsigned)m->window);
        if ((rc = mk_read_len32be(&r, MK_ENTRY_MAX_BYTES, &n)) < 0 ||
            (rc = mk_read_view(&r, n, &m->entry)) < 0)
            return mk_error_set(err, rc, "subscribe: bad entry length");
        m->entry_len = n;
        break;
    case MK_SMSG_ACCEPT:
        if ((rc = mk_read_u64be(&r, &u64)) < 0) return mk_error_set(err, rc, "accept: truncated");
        m->expires = (int64_t)u64;
        if ((rc = mk_read_len32be(&r, MK_ENTRY_MAX_BYTES, &n)) < 0 ||
            (rc = mk_read_view(&r, n, &m->entry)) < 0)
            return mk_error_set(err, rc, "accept: bad entry length");
        m->entry_len = n;
        break;
    case MK_SMSG_CLOSE:
    case MK_SMSG_UNSUBSCRIBE: {
        if ((rc = mk_read_u16be(&r, &u16)) < 0 || (rc = mk_read_u64be(&r, &u64)) < 0)
            return mk_error_set(err, rc, "close: truncated");
        m->reason = u16;
        m->expires = (int64_t)u64;
        uint16_t tl;
        if ((rc = mk_read_u16be(&r, &tl)) < 0) return mk_error_set(err, rc, "close: truncated");
        if (tl > MK_STREAM_MAX_REASON)
            return mk_error_set(err, MK_ETOOBIG, "close: reason text of %u bytes", (unsigned)tl);
        if ((rc = mk_read_bytes(&r, m->text, tl)) < 0)
            return mk_error_set(err, rc, "close: truncated text");
        /* Shown to operators: neutralise C0 controls, DEL and the UTF-8
         * form of C1 controls (C2 80..9F); other UTF-8 passes. */
        for (size_t i = 0; i < tl; i++) {
            uint8_t c8 = (uint8_t)m->text[i];
            if (c8 < 0x20 || c8 == 0x7f) m->text[i] = '?';
            if (c8 == 0xc2 && i + 1 < tl && (uint8_t)m->text[i + 1] >= 0x80 &&
                (uint8_t)m->text[i + 1] <= 0x9f)
                m->text[i] = m->text[i + 1] = '?';
        }
        m->text[tl] = 0;
        break;
    }
    case MK_SMSG_DATA:
        if ((rc = mk_read_u64be(&r, &m->seq)) < 0) return mk_error_set(err, rc, "data: truncated");
        n = mk_reader_remaining(&r);
        if (n > MK_STREAM_MAX_ITEM)
            return mk_error_set(err, MK_ETOOBIG, "data: %zu bytes over the cap", n);
        if ((rc = mk_read_view(&r, n, &m->data)) < 0) return mk_error_set(err, rc, "data");
        m->len = n;
        break;
    case MK_SMSG_CREDIT:
        if ((rc = mk_read_u32be(&r, &u32)) < 0) return mk_error_set(err, rc, "credit: truncated");
        if (u32 > MK_STREAM_MAX_WINDOW)
            return mk_error_set(err, MK_EMALFORMED, "credit: %u over the maximum window",
                                (unsigned)u32);
        m->window = u32;
        break;
    default:
        return mk_error_set(err, MK_EMALFORMED, "stream message: unknown type %u", type);
    }
    if (!mk_reader_done(&r))
        return mk_error_set(err, MK_EMALFORMED, "stream message type %u: %zu trailing bytes", type,
                            mk_reader_remaining(&r));
    m->type = (mk_stream_msg_type)type;
    return 0;
}

int mk_stream_msg_encode(const mk_stream_msg *m, mk_buf *out, mk_error *err) {
    int rc = mk_buf_append_u8(out, (uint8_t)m->type);
    if (rc == 0) rc = mk_buf_append_u32be(out, m->channel);
    switch (m->type) {
    case MK_SMSG_SUBSCRIBE:
        if (m->entry_len > MK_ENTRY_MAX_BYTES || m->window == 0 || m->window > MK_STREAM_MAX_WINDOW)
            return mk_error_set(err, MK_EINVAL, "subscribe: bad window or entry");
        if (rc == 0) rc = mk_buf_append(out, m->stream_id.b, MK_ID_LEN);
        if (rc == 0) rc = mk_buf_append_u32be(out, m->window);
        if (rc == 0) rc = mk_buf_append_u32be(out, (uint32_t)m->entry_len);
        if (rc == 0) rc = mk_buf_append(out, m->entry, m->entry_len);
        break;
    case MK_SMSG_ACCEPT:
        if (m->entry_len > MK_ENTRY_MAX_BYTES)
            return mk_error_set(err, MK_EINVAL, "accept: entry too big");
        if (rc == 0) rc = mk_buf_append_u64be(out, (uint64_t)m->expires);
        if (rc == 0) rc = mk_buf_append_u32be(out, (uint32_t)m->entry_len);
        if (rc == 0) rc = mk_buf_append(out, m->entry, m->entry_len);
        break;
    case MK_SMSG_CLOSE:
    case MK_SMSG_UNSUBSCRIBE: {
        size_t tl = strnlen(m->text, MK_STREAM_MAX_REASON);
        if (rc == 0) rc = mk_buf_append_u16be(out, m->reason);
        if (rc == 0) rc = mk_buf_append_u64be(out, (uint64_t)m->expires);
        if (rc == 0) rc = mk_buf_append_u16be(out, (uint16_t)tl);
        if (rc == 0) rc = mk_buf_append(out, m->text, tl);
        break;
    }
    case MK_SMSG_DATA:
        if (m->len > MK_STREAM_MAX_ITEM) return mk_error_set(err, MK_ETOOBIG, "data too big");
        if (rc == 0) rc = mk_buf_append_u64be(out, m->seq);
        if (rc == 0) rc = mk_buf_append(out, m->data, m->len);
        break;
    case MK_SMSG_CREDIT:
        if (m->window > MK_STREAM_MAX_WINDOW) return mk_error_set(err, MK_EINVAL, "credit too big");
        if (rc == 0) rc = mk_buf_append_u32be(out, m->window);
        break;
    default:
        return mk_error_set(err, MK_EINVAL, "unknown message type %d", (int)m->type);
    }
    if (rc < 0) return mk_error_set(err, rc, "stream message: out of memory");
    return 0;
}
