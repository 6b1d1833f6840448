/*
 * tee/snp/http.c — the capped HTTPS GET the KDS client uses, with backoff
 * on HTTP 429 (and 503).
 *
 * This is the SNP side of a small internal interface (mk_snp_http_get in
 * snp_internal.h): when the platform-neutral fetcher of tee/ exists, this
 * file becomes a call into it and nothing else changes.
 *
 * Rules: only https:// (http:// only with insecure_http_ok, for tests), on
 * redirects too (at most 3); the whole request, connection included, within
 * timeout_ms (default 10 s); the body capped (the transfer is aborted as soon
 * as it would grow beyond, MK_ETOOBIG). AMD's KDS throttles per client and
 * answers 429: such an answer (or 503) is retried up to max_attempts times
 * in total (default 4), waiting the Retry-After seconds the server gave
 * (RFC 9110 §10.2.3, delay-seconds form) or else 1 s, 2 s, 4 s …, each wait
 * capped at max_backoff_ms (default 30 s). Status 200 is success, 404 is
 * MK_ENOTFOUND, anything else MK_ENETWORK; reasons say "GET <url>: …" and
 * never name the caller's operation.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "tee/snp/snp_internal.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_ATTEMPTS 4
#define DEFAULT_BACKOFF_MAX_MS 30000
#define FIRST_BACKOFF_MS 1000

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct xfer {
    mk_buf *body;
    size_t cap;
    bool too_big;
    long retry_after; /* seconds; -1 if absent */
} xfer;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    xfer *x = ud;
    size_t len = size * n;
    if (len > x->cap - x->body->len || mk_buf_append(x->body, p, len) < 0) {
        x->too_big = true;
        return 0; /* aborts the transfer */
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    xfer *x = ud;
    size_t len = size * n;
    static const char key[] = "Retry-After:";
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) x->retry_after = -1; /* a new response */
    if (len > sizeof key - 1 && strncasecmp(p, key, sizeof key - 1) == 0) {
        long v = 0;
        size_t i = sizeof key - 1;
        while (i < len && (p[i] == ' ' || p[i] == '\t'))
            i++;
        size_t d = i;
        while (i < len && p[i] >= '0' && p[i] <= '9' && v < 86400)
            v = v * 10 + (p[i++] - '0');
        if (i > d) x->retry_after = v; /* an HTTP-date is not used: back off instead */
    }
    return len;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* One request; *status gets the HTTP status on a completed transfer. */
static int get_once(CURL *h, const mk_snp_fetch_opts *o, const char *url, xfer *x, long *status,
                    mk_error *err) {
    long timeout = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    const char *protos = o->insecure_http_ok ? "http,https" : "https";
    mk_buf_reset(x->body);
    x->too_big = false;
    x->retry_after = -1;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protos);
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protos);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->cap);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mosaik-snp-kds/1");
    CURLcode cc = curl_easy_perform(h);
    if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED)
        return mk_error_set(err, MK_ETOOBIG, "GET %s: response larger than %zu bytes", url, x->cap);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return mk_error_set(err, MK_ETIMEDOUT, "GET %s: timed out after %ld ms", url, timeout);
    if (cc == CURLE_UNSUPPORTED_PROTOCOL)
        return mk_error_set(err, MK_EPOLICY, "GET %s: protocol not allowed (%s only)", url, protos);
    if (cc != CURLE_OK)
        return mk_error_set(err, MK_ENETWORK, "GET %s: %s", url, curl_easy_strerror(cc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

int mk_snp_http_get(const mk_snp_fetch_opts *o, const char *url, size_t cap, mk_buf *body,
                    mk_error *err) {
    if (!o || !url || !body) return mk_error_set(err, MK_EINVAL, "GET: missing argument");
    int attempts = o->max_attempts > 0 ? o->max_attempts : DEFAULT_ATTEMPTS;
    long max_wait = o->max_backoff_ms > 0 ? o->max_backoff_ms : DEFAULT_BACKOFF_MAX_MS;
    pthread_once(&curl_once, curl_init_once);
    CURL *h = curl_easy_init();
    if (!h) return mk_error_set(err, MK_ENOMEM, "curl_easy_init failed");
    xfer x = {.body = body, .cap = cap};
    long status = 0, wait = FIRST_BACKOFF_MS;
    int rc = 0;
    for (int i = 1;; i++) {
        if ((rc = get_once(h, o, url, &x, &status, err)) < 0) break;
        if (status == 200) break;
        if ((status != 429 && status != 503) || i >= attempts) {
            rc = status == 404
                     ? mk_error_set(err, MK_ENOTFOUND, "GET %s: HTTP 404 (not found)", url)
                     : mk_error_set(err, MK_ENETWORK, "GET %s: HTTP %ld%s", url, status,
                                    status == 429 ? " (rate limited; retries exhausted)" : "");
            break;
        }
        long ms = x.retry_after >= 0 ? x.retry_after * 1000 : wait;
        sleep_ms(ms < max_wait ? ms : max_wait);
        if (wait < max_wait) wait *= 2;
    }
    curl_easy_cleanup(h);
    if (rc < 0) mk_buf_reset(body);
    return rc;
}
