/*
 * Fuzz target: the streams protocol message decoder (mk_stream_msg_decode),
 * then what the engine does next with a decoded message: the peer entry of
 * SUBSCRIBE/ACCEPT goes to mk_peer_entry_decode. A decoded message must
 * re-encode to exactly the input bytes, except that control characters in
 * a reason text were neutralised (then it must decode to the same text).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/discovery.h"
#include "mosaik/streams.h"
#include "streams/streams_internal.h" /* the wire messages */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mk_stream_msg m;
    if (mk_stream_msg_decode(data, size, &m, NULL) < 0) return 0;
    if (m.entry_len) {
        mk_peer_entry e;
        if (mk_peer_entry_decode(m.entry, m.entry_len, &e, NULL) == 0) mk_peer_entry_free(&e);
    }
    mk_buf b;
    mk_buf_init(&b, 0);
    if (mk_stream_msg_encode(&m, &b, NULL) != 0) abort();
    bool text = m.type == MK_SMSG_CLOSE || m.type == MK_SMSG_UNSUBSCRIBE;
    if (!text && (b.len != size || memcmp(b.data, data, size) != 0)) abort();
    mk_stream_msg m2;
    if (mk_stream_msg_decode(b.data, b.len, &m2, NULL) != 0) abort();
    if (m2.type != m.type || m2.channel != m.channel || m2.len != m.len ||
        strcmp(m2.text, m.text) != 0)
        abort();
    mk_buf_free(&b);
    return 0;
}
