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
 * operators). A payload is at most MK_STREAM_MAX_ITEM bytes. Anything else
 * — unknown type, short or trailing bytes, over a cap — is refused
 * (MK_EMALFORMED / MK_ETRUNC / MK_ETOOBIG) and the receiver closes the
 * connection.
 *
 * Decoding reads through mk_reader and borrows entry and payload from the
 * frame; nothing is allocated. Encoding checks the caps, computes the
 * message's size from its fields, takes that room from the output buffer
 * at once and writes through mk_writer, so a failed encode appends nothing.
 * The DATA header (type, channel, seq: ST_DATA_HDR bytes) is written only
 * by write_data_header: for mk_stream_msg_encode, and through
 * mk_st_data_header for the producer, which keeps each datum once with
 * room for the header in front and rewrites it for every channel.
 */
#include <string.h>

#include "streams/streams_internal.h"

/* SUBSCRIBE and ACCEPT end with the sender's entry. */
static int read_entry(mk_reader *r, mk_stream_msg *m, const char *what, mk_error *err) {
    size_t n;
    int rc;
    if ((rc = mk_read_len32be(r, MK_ENTRY_MAX_BYTES, &n)) < 0 ||
        (rc = mk_read_view(r, n, &m->entry)) < 0)
        return mk_error_set(err, rc, "%s: bad entry length", what);
    m->entry_len = n;
    return 0;
}

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
        MK_TRY(read_entry(&r, m, "subscribe", err));
        break;
    case MK_SMSG_ACCEPT:
        if ((rc = mk_read_u64be(&r, &u64)) < 0) return mk_error_set(err, rc, "accept: truncated");
        m->expires = (int64_t)u64;
        MK_TRY(read_entry(&r, m, "accept", err));
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

void mk_st_msg_init(mk_stream_msg *m, mk_stream_msg_type type, uint32_t channel) {
    memset(m, 0, sizeof *m);
    m->type = type;
    m->channel = channel;
}

/* The fixed part every message starts with. */
static void write_head(mk_writer *w, mk_stream_msg_type type, uint32_t channel) {
    mk_write_u8(w, (uint8_t)type);
    mk_write_u32be(w, channel);
}

/* The DATA header: the only place it is encoded (the producer writes it in
 * front of each shared item, once per channel it sends the item on). */
static void write_data_header(mk_writer *w, uint32_t channel, uint64_t seq) {
    write_head(w, MK_SMSG_DATA, channel);
    mk_write_u64be(w, seq);
}

void mk_st_data_header(uint8_t out[ST_DATA_HDR], uint32_t channel, uint64_t seq) {
    mk_writer w;
    mk_writer_init(&w, out, ST_DATA_HDR);
    write_data_header(&w, channel, seq);
}

/* Check m's fields against their caps and give the size of its body (what
 * follows the 5-byte head, or the 13-byte header for DATA). */
static int body_size(const mk_stream_msg *m, size_t *body, mk_error *err) {
    switch (m->type) {
    case MK_SMSG_SUBSCRIBE:
        if (m->entry_len > MK_ENTRY_MAX_BYTES || m->window == 0 || m->window > MK_STREAM_MAX_WINDOW)
            return mk_error_set(err, MK_EINVAL, "subscribe: bad window or entry");
        *body = MK_ID_LEN + 4 + 4 + m->entry_len;
        return 0;
    case MK_SMSG_ACCEPT:
        if (m->entry_len > MK_ENTRY_MAX_BYTES)
            return mk_error_set(err, MK_EINVAL, "accept: entry too big");
        *body = 8 + 4 + m->entry_len;
        return 0;
    case MK_SMSG_CLOSE:
    case MK_SMSG_UNSUBSCRIBE:
        *body = 2 + 8 + 2 + strnlen(m->text, MK_STREAM_MAX_REASON);
        return 0;
    case MK_SMSG_DATA:
        if (m->len > MK_STREAM_MAX_ITEM) return mk_error_set(err, MK_ETOOBIG, "data too big");
        *body = m->len;
        return 0;
    case MK_SMSG_CREDIT:
        if (m->window > MK_STREAM_MAX_WINDOW) return mk_error_set(err, MK_EINVAL, "credit too big");
        *body = 4;
        return 0;
    }
    return mk_error_set(err, MK_EINVAL, "unknown message type %d", (int)m->type);
}

/* The body of a message body_size accepted. */
static void write_body(mk_writer *w, const mk_stream_msg *m) {
    switch (m->type) {
    case MK_SMSG_SUBSCRIBE:
        mk_write_bytes(w, m->stream_id.b, MK_ID_LEN);
        mk_write_u32be(w, m->window);
        mk_write_u32be(w, (uint32_t)m->entry_len);
        mk_write_bytes(w, m->entry, m->entry_len);
        break;
    case MK_SMSG_ACCEPT:
        mk_write_u64be(w, (uint64_t)m->expires);
        mk_write_u32be(w, (uint32_t)m->entry_len);
        mk_write_bytes(w, m->entry, m->entry_len);
        break;
    case MK_SMSG_CLOSE:
    case MK_SMSG_UNSUBSCRIBE: {
        size_t tl = strnlen(m->text, MK_STREAM_MAX_REASON);
        mk_write_u16be(w, m->reason);
        mk_write_u64be(w, (uint64_t)m->expires);
        mk_write_u16be(w, (uint16_t)tl);
        mk_write_bytes(w, m->text, tl);
        break;
    }
    case MK_SMSG_DATA:
        mk_write_bytes(w, m->data, m->len);
        break;
    case MK_SMSG_CREDIT:
        mk_write_u32be(w, m->window);
        break;
    }
}

int mk_stream_msg_encode(const mk_stream_msg *m, mk_buf *out, mk_error *err) {
    size_t body = 0;
    MK_TRY(body_size(m, &body, err));
    bool data = m->type == MK_SMSG_DATA;
    size_t n = (data ? ST_DATA_HDR : 5) + body;
    mk_writer w;
    int rc = mk_buf_reserve(out, n); /* says MK_ENOMEM or MK_ETOOBIG */
    if (rc == 0) rc = mk_writer_init_buf(&w, out, n);
    if (rc < 0) return mk_error_set(err, rc, "stream message: out of memory");
    if (data)
        write_data_header(&w, m->channel, m->seq);
    else
        write_head(&w, m->type, m->channel);
    write_body(&w, m);
    /* n was computed from the same fields, so every write fitted. */
    return mk_writer_status(&w);
}
