/*
 * frame.c — parsing of "groups" protocol frames (pure; no state).
 *
 * Every frame is [type u8][group id 32][body]; the body per type is:
 *   HELLO   role u8 (0 writer, 1 reader), reply u8 (0/1), mac 32
 *   OPEN    chan u32
 *   DATA    dir u8 (0/1), chan u32, 1..MK_GF_CHUNK bytes
 *   CLOSE   dir u8 (0/1), chan u32
 *   FWD     seq u64, kind u8 (0 command, 1 query, 2 tagged command), payload
 *           <= MK_GROUP_MAX_COMMAND; a tagged command's payload is its tag
 *           [client id u64][client seq u64][floor u64] (MK_FWD_ONCE_HDR
 *           bytes, required) and then the command
 *   FWD_RES seq u64, status u32 (two's complement, 0 or a negative MK_E*),
 *           payload <= MK_GROUP_MAX_RESULT
 *   BYE     (empty)
 *   REFUSE  the validators' reason for refusing the receiver's HELLO, text
 *           of 1..MK_GF_MAX_REASON bytes (shown, never interpreted)
 * Integers big-endian. Anything else — unknown type, out-of-range
 * values, trailing bytes — is refused with MK_EMALFORMED; the payload is
 * borrowed from the input. All reads go through mk_reader.
 *
 * The writing side is the mirror image: mk_group_frame_write_body encodes
 * the fixed fields of the same struct through mk_writer (at most
 * MK_GF_MAX_BODY bytes); the sender (host.c, mk_group_send) adds the
 * header in front and the payload behind. So each body layout is written
 * down twice, once per direction, both in this file.
 */
#include <string.h>

#include "groups/groups_internal.h"

int mk_group_frame_parse(const uint8_t *data, size_t len, mk_group_frame *f, mk_error *err) {
    memset(f, 0, sizeof *f);
    mk_reader r;
    mk_reader_init(&r, data, len);
    if (len > MK_GF_MAX_FRAME) return mk_error_set(err, MK_ETOOBIG, "groups frame too big");
    if (mk_read_u8(&r, &f->type) < 0 || mk_read_bytes(&r, f->group.b, MK_ID_LEN) < 0)
        return mk_error_set(err, MK_EMALFORMED, "groups frame: short header");
    int bad = 0;
    switch (f->type) {
    case MK_GF_HELLO:
        bad = mk_read_u8(&r, &f->role) < 0 || f->role > MK_GROUP_READER ||
              mk_read_u8(&r, &f->reply) < 0 || f->reply > 1 || mk_read_view(&r, 32, &f->mac) < 0;
        break;
    case MK_GF_OPEN:
        bad = mk_read_u32be(&r, &f->chan) < 0;
        break;
    case MK_GF_DATA:
    case MK_GF_CLOSE:
        bad = mk_read_u8(&r, &f->dir) < 0 || f->dir > 1 || mk_read_u32be(&r, &f->chan) < 0;
        if (!bad && f->type == MK_GF_DATA) {
            f->plen = mk_reader_remaining(&r);
            bad =
                f->plen == 0 || f->plen > MK_GF_CHUNK || mk_read_view(&r, f->plen, &f->payload) < 0;
        }
        break;
    case MK_GF_FWD:
        bad =
            mk_read_u64be(&r, &f->seq) < 0 || mk_read_u8(&r, &f->kind) < 0 || f->kind > MK_FWD_ONCE;
        if (!bad) {
            size_t tag = f->kind == MK_FWD_ONCE ? MK_FWD_ONCE_HDR : 0;
            f->plen = mk_reader_remaining(&r);
            bad = f->plen < tag || f->plen - tag > MK_GROUP_MAX_COMMAND ||
                  mk_read_view(&r, f->plen, &f->payload) < 0;
        }
        break;
    case MK_GF_FWD_RES: {
        uint32_t st;
        bad = mk_read_u64be(&r, &f->seq) < 0 || mk_read_u32be(&r, &st) < 0;
        if (!bad) {
            f->status = (int32_t)st;
            bad = f->status > 0 || f->status < -1000;
        }
        if (!bad) {
            f->plen = mk_reader_remaining(&r);
            bad = f->plen > MK_GROUP_MAX_RESULT || mk_read_view(&r, f->plen, &f->payload) < 0;
        }
        break;
    }
    case MK_GF_BYE:
        break;
    case MK_GF_REFUSE: /* the reason: text of 1..MK_GF_MAX_REASON bytes */
        f->plen = mk_reader_remaining(&r);
        bad = f->plen == 0 || f->plen > MK_GF_MAX_REASON ||
              mk_read_view(&r, f->plen, &f->payload) < 0;
        break;
    default:
        return mk_error_set(err, MK_EMALFORMED, "groups frame: unknown type %u", f->type);
    }
    if (bad || !mk_reader_done(&r))
        return mk_error_set(err, MK_EMALFORMED, "groups frame: malformed body of type %u", f->type);
    return 0;
}

int mk_group_frame_write_body(mk_writer *w, const mk_group_frame *f) {
    switch (f->type) {
    case MK_GF_HELLO:
        mk_write_u8(w, f->role);
        mk_write_u8(w, f->reply);
        mk_write_bytes(w, f->mac, 32);
        break;
    case MK_GF_OPEN:
        mk_write_u32be(w, f->chan);
        break;
    case MK_GF_DATA:
    case MK_GF_CLOSE:
        mk_write_u8(w, f->dir);
        mk_write_u32be(w, f->chan);
        break;
    case MK_GF_FWD:
        mk_write_u64be(w, f->seq);
        mk_write_u8(w, f->kind);
        break;
    case MK_GF_FWD_RES:
        mk_write_u64be(w, f->seq);
        mk_write_u32be(w, (uint32_t)f->status);
        break;
    case MK_GF_BYE:
    case MK_GF_REFUSE: /* the reason is the payload */
        break;
    default:
        return MK_EINVAL;
    }
    return mk_writer_status(w);
}
