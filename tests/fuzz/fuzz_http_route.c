/*
 * Fuzz the status page's routing (tools/mosaik/http_route.c): the part of
 * request handling that is ours (libmicrohttpd parses HTTP itself). The
 * first byte picks the method (GET, HEAD, POST or the next bytes up to a
 * NUL), the rest is the raw request target. Checked besides memory safety:
 * the answer is one of the documented statuses, a 200 has a route and a
 * lower-case hex peer filter within its cap, and a refresh in range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > HTTP_MAX_URL + 64) return 0;
    static const char *methods[] = {"GET", "HEAD", "POST", NULL};
    const char *method = methods[data[0] % 4];
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;
    char *url = buf;
    if (!method) { /* the method is the text up to the first NUL, the target after it */
        method = buf;
        size_t ml = strnlen(buf, size - 1);
        url = ml + 1 < size ? buf + ml + 1 : buf + ml;
    }
    http_route r;
    const char *why = NULL;
    int st = http_route_parse(method, url, &r, &why);
    if (st != 200 && st != 400 && st != 404 && st != 405 && st != 414) abort();
    if (!why) abort();
    if (st == 200) {
        if (r.id < HTTP_R_PAGE || r.id > HTTP_R_METRICS) abort();
        size_t n = strnlen(r.peer, sizeof r.peer);
        if (n > HTTP_MAX_PEER_FILTER) abort();
        for (size_t i = 0; i < n; i++)
            if (!strchr("0123456789abcdef", r.peer[i])) abort();
        if (r.refresh < -1 || r.refresh > 3600) abort();
    }
    free(buf);
    return 0;
}
