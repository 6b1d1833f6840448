/*
 * core/json.c — the nesting-depth bound of untrusted JSON documents
 * (core/json.h).
 *
 * Depth-first over an explicit stack of (container, next child) frames, at
 * most max frames deep. The root is at depth 1 and a child one deeper than
 * its container; every value counts, a scalar too (a string at depth
 * max + 1 is too deep, as is an empty array there). Only objects and
 * arrays push a frame. jansson iterates objects with an iterator and
 * arrays by index; the frame keeps whichever applies.
 */
#include "core/json.h"

#include <stdlib.h>

typedef struct frame {
    const json_t *v;
    void *iter;   /* objects: the next member */
    size_t index; /* arrays: the next element */
} frame;

static const json_t *next_child(frame *f) {
    if (json_is_object(f->v)) {
        if (!f->iter) return NULL;
        const json_t *x = json_object_iter_value(f->iter);
        f->iter = json_object_iter_next((json_t *)f->v, f->iter);
        return x;
    }
    return f->index < json_array_size(f->v) ? json_array_get(f->v, f->index++) : NULL;
}

bool mk_json_depth_ok(const json_t *v, int max) {
    if (max < 1) return false;
    if (!json_is_object(v) && !json_is_array(v)) return true;
    frame *st = calloc((size_t)max, sizeof *st);
    if (!st) return false;
    int top = 0;
    st[0] = (frame){v, json_is_object(v) ? json_object_iter((json_t *)v) : NULL, 0};
    bool ok = true;
    while (top >= 0) {
        const json_t *x = next_child(&st[top]);
        if (!x) {
            top--;
            continue;
        }
        if (top + 2 > max) { /* x is at depth top + 2 */
            ok = false;
            break;
        }
        if (!json_is_object(x) && !json_is_array(x)) continue;
        top++;
        st[top] = (frame){x, json_is_object(x) ? json_object_iter((json_t *)x) : NULL, 0};
    }
    free(st);
    return ok;
}
