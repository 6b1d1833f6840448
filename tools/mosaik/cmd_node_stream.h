/*
 * tools/mosaik/cmd_node_stream.h — streams and image measurements for
 * `mosaik node` (cmd_node_stream.c).
 */
#ifndef MOSAIK_CLI_NODE_STREAM_H
#define MOSAIK_CLI_NODE_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "mosaik/mosaik.h"

typedef struct node_stream {
    const char *name;
    bool json;
    mk_stream_producer *p;
    mk_stream_consumer *c;
    uint64_t sent, received, exit_after, next_send_ms;
} node_stream;

/* Produce or consume (exactly one of the names set). A producer requires
 * `require` of its consumers (taken; may be NULL). */
int node_stream_start(node_stream *s, mk_network *nw, const char *produce, const char *consume,
                      mk_validator *require, bool json, mk_error *err);
/* Send when due, print what arrived; true once exit_after items arrived. */
bool node_stream_step(node_stream *s, uint64_t now_ms);
void node_stream_free(node_stream *s);

/* The stream's statistics in the Prometheus text format, appended to out
 * (nothing without a stream). self labels the samples like the library's
 * own (peer="<8 hex digits>"). */
int node_stream_prometheus(const node_stream *s, const mk_id *self, mk_buf *out);

/* MRTD, RTMR1, RTMR2 (hex) of a `mosaik tdx build` measurements.json. */
int node_measurements_read(const char *path, char mrtd[97], char rtmr1[97], char rtmr2[97],
                           mk_error *err);

#endif
