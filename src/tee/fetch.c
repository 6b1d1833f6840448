/*
 * tee/fetch.c — the capped HTTPS client every platform's collateral comes
 * through (TDX: Intel PCS / a PCCS; SNP: AMD's key distribution service),
 * over libcurl.
 *
 * One mk_tee_http reuses one curl handle (and so its connections) for the
 * requests of one fetch. Each GET:
 *   - only https (http only with insecure_http_ok, for tests), also on
 *     redirects (at most 3);
 *   - a body capped at body_max: the transfer is aborted as soon as it
 *     grows beyond (and CURLOPT_MAXFILESIZE refuses a declared larger one);
 *   - the values of the response headers the caller names (at most
 *     MK_TEE_HTTP_HEADERS_MAX), each capped at header_max, a repeated one
 *     refused; headers of a redirect response are forgotten;
 *   - a time limit per attempt (timeout_ms, default 10 s);
 *   - only HTTP 200 is success; 404 is MK_ENOTFOUND, anything else
 *     MK_ENETWORK "GET <url>: HTTP <status>".
 *
 * Rate limiting. A 429 (Too Many Requests) or 503 answer is retried when
 * the options allow more than one attempt (max_attempts; AMD's KDS
 * throttles per client): the wait is the answer's Retry-After (delta
 * seconds, or an HTTP-date, RFC 9110 section 10.2.3) when present and
 * readable, else an exponential backoff (backoff_ms, doubled per attempt,
 * capped at backoff_max_ms). A Retry-After longer than backoff_max_ms, or
 * a wait that would take the request's waits past retry_budget_ms, ends the
 * request at once with MK_EBUSY and a reason saying so, rather than
 * blocking the caller for the server's chosen time; so does a 429 on the
 * last attempt. With one attempt (the default) a 429 is an ordinary HTTP
 * error (MK_ENETWORK "GET <url>: HTTP 429").
 *
 * Nothing fetched is trusted here: callers verify what they receive.
 * Reasons name the URL, not the operation: callers prefix it.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "mosaik/clock.h"
#include "tee/tee_internal.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_BACKOFF_MS 1000
#define DEFAULT_BACKOFF_MAX_MS 30000
#define DEFAULT_BUDGET_MS 120000
#define RETRY_SLOT MK_TEE_HTTP_HEADERS_MAX /* where Retry-After is kept */

struct mk_tee_http {
    CURL *curl;
    mk_tee_http_opts o;
    char *user_agent;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* What a transfer collects. */
typedef struct xfer {
    mk_tee_http_response *r;
    const mk_tee_http_opts *o;
    const char *const *names; /* the caller's header names */
    size_t nn;                /* how many (at most MK_TEE_HTTP_HEADERS_MAX) */
    char *vals[MK_TEE_HTTP_HEADERS_MAX + 1];
    bool too_big;
} xfer;

bool mk_tee_url_scheme_ok(const char *url, bool http_ok) {
    return url && (strncasecmp(url, "https://", 8) == 0 ||
                   (http_ok && strncasecmp(url, "http://", 7) == 0));
}

int mk_tee_http_new(const mk_tee_http_opts *o, mk_tee_http **out, mk_error *err) {
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    mk_tee_http *h = calloc(1, sizeof *h);
    if (!h) return mk_error_set(err, MK_ENOMEM, "out of memory");
    if (o) h->o = *o;
    if (h->o.timeout_ms <= 0) h->o.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (h->o.body_max == 0) h->o.body_max = MK_TEE_HTTP_BODY_MAX;
    if (h->o.header_max == 0) h->o.header_max = 3 * MK_TEE_CERT_DATA_MAX;
    if (h->o.backoff_ms <= 0) h->o.backoff_ms = DEFAULT_BACKOFF_MS;
    if (h->o.backoff_max_ms <= 0) h->o.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
    if (h->o.retry_budget_ms <= 0) h->o.retry_budget_ms = DEFAULT_BUDGET_MS;
    h->user_agent = strdup(o && o->user_agent ? o->user_agent : "mosaik-tee/1");
    h->o.user_agent = h->user_agent;
    h->curl = curl_easy_init();
    if (!h->curl || !h->user_agent) {
        mk_tee_http_free(h);
        return mk_error_set(err, MK_ENOMEM, "curl_easy_init failed");
    }
    *out = h;
    return 0;
}

void mk_tee_http_free(mk_tee_http *h) {
    if (!h) return;
    if (h->curl) curl_easy_cleanup(h->curl);
    free(h->user_agent);
    free(h);
}

void mk_tee_http_response_free(mk_tee_http_response *r) {
    if (!r) return;
    mk_buf_free(&r->body);
    for (int i = 0; i < MK_TEE_HTTP_HEADERS_MAX; i++)
        free(r->hdr[i]);
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    xfer *x = ud;
    size_t len = size * n;
    if (len > x->o->body_max - x->r->body.len || mk_buf_append(&x->r->body, p, len) < 0) {
        x->too_big = true;
        return 0; /* aborts the transfer */
    }
    return len;
}

static void forget_headers(xfer *x) {
    for (int i = 0; i <= MK_TEE_HTTP_HEADERS_MAX; i++) {
        free(x->vals[i]);
        x->vals[i] = NULL;
    }
}

/* The value of header line p if it is `name`, trimmed: [*a, *b). */
static bool header_is(const char *p, size_t len, const char *name, size_t *a, size_t *b) {
    size_t kl = strlen(name);
    if (len <= kl || p[kl] != ':' || strncasecmp(p, name, kl) != 0) return false;
    *a = kl + 1;
    *b = len;
    while (*a < *b && (p[*a] == ' ' || p[*a] == '\t'))
        (*a)++;
    while (*b > *a && (p[*b - 1] == '\r' || p[*b - 1] == '\n' || p[*b - 1] == ' '))
        (*b)--;
    return true;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    xfer *x = ud;
    size_t len = size * n;
    /* A new response (after a redirect): forget earlier headers. */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        forget_headers(x);
        return len;
    }
    for (size_t i = 0; i <= RETRY_SLOT; i++) {
        const char *name = i == RETRY_SLOT ? "Retry-After" : i < x->nn ? x->names[i] : NULL;
        size_t a, b;
        if (!name || !header_is(p, len, name, &a, &b)) continue;
        if (b - a > x->o->header_max || x->vals[i]) return 0; /* oversized or repeated: abort */
        x->vals[i] = strndup(p + a, b - a);
        if (!x->vals[i]) return 0;
    }
    return len;
}

/* One attempt. On success (any HTTP status) r->status is set. */
static int perform(mk_tee_http *h, const char *url, xfer *x, mk_error *err) {
    const mk_tee_http_opts *o = &h->o;
    const char *protos = o->insecure_http_ok ? "http,https" : "https";
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protos);
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protos);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->body_max);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_USERAGENT, o->user_agent);
    CURLcode cc = curl_easy_perform(c);
    if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED)
        return mk_error_set(err, MK_ETOOBIG, "GET %s: response larger than %zu bytes", url,
                            o->body_max);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return mk_error_set(err, MK_ETIMEDOUT, "GET %s: timed out after %ld ms", url,
                            o->timeout_ms);
    if (cc == CURLE_UNSUPPORTED_PROTOCOL)
        return mk_error_set(err, MK_EPOLICY, "GET %s: protocol not allowed (%s only)", url, protos);
    if (cc != CURLE_OK)
        return mk_error_set(err, MK_ENETWORK, "GET %s: %s", url, curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->r->status);
    return 0;
}

bool mk_tee_retry_after(const char *value, int64_t now, int64_t *seconds) {
    if (!value || !*value) return false;
    const char *p = value;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '\0') {
        if (p - value > 9) return false; /* beyond any sane wait */
        *seconds = strtoll(value, NULL, 10);
        return true;
    }
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1) return false;
    *seconds = (int64_t)t > now ? (int64_t)t - now : 0;
    return true;
}

/* After a 429/503: how long to wait before attempt `attempt` + 1, or a
 * refusal when the wait is too long. */
static int retry_wait(const mk_tee_http *h, const char *url, const xfer *x, int attempt,
                      long waited, long *wait, mk_error *err) {
    const mk_tee_http_opts *o = &h->o;
    int64_t ra;
    long status = x->r->status;
    if (mk_tee_retry_after(x->vals[RETRY_SLOT], mk_now(), &ra)) {
        if (ra > o->backoff_max_ms / 1000)
            return mk_error_set(err, MK_EBUSY,
                                "GET %s: HTTP %ld (rate limited): Retry-After %lld s is longer "
                                "than this client waits (%ld ms)",
                                url, status, (long long)ra, o->backoff_max_ms);
        *wait = (long)ra * 1000;
    } else {
        long w = o->backoff_ms;
        for (int i = 1; i < attempt && w < o->backoff_max_ms; i++)
            w *= 2;
        *wait = w < o->backoff_max_ms ? w : o->backoff_max_ms;
    }
    if (waited + *wait > o->retry_budget_ms)
        return mk_error_set(err, MK_EBUSY,
                            "GET %s: HTTP %ld (rate limited): gave up after %d attempts and %ld ms "
                            "of waiting",
                            url, status, attempt, waited);
    return 0;
}

static void sleep_ms(long ms) {
    struct timespec ts = {(time_t)(ms / 1000), (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int mk_tee_http_get(mk_tee_http *h, const char *url, const char *const *hdr_names,
                    mk_tee_http_response *r, mk_error *err) {
    memset(r, 0, sizeof *r);
    if (!h || !url) return mk_error_set(err, MK_EINVAL, "missing argument");
    size_t nn = 0;
    while (hdr_names && hdr_names[nn])
        nn++;
    if (nn > MK_TEE_HTTP_HEADERS_MAX) return mk_error_set(err, MK_EINVAL, "too many headers");
    long waited = 0;
    int rc = 0;
    for (int attempt = 1;; attempt++) {
        mk_tee_http_response_free(r);
        mk_buf_init(&r->body, h->o.body_max);
        xfer x = {.r = r, .o = &h->o, .names = hdr_names, .nn = nn};
        r->attempts = attempt;
        rc = perform(h, url, &x, err);
        if (rc == 0) {
            for (size_t i = 0; i < nn; i++) {
                r->hdr[i] = x.vals[i];
                x.vals[i] = NULL;
            }
        }
        bool limited = rc == 0 && (r->status == 429 || r->status == 503);
        long wait = 0;
        if (limited && attempt < h->o.max_attempts)
            rc = retry_wait(h, url, &x, attempt, waited, &wait, err);
        else
            limited = false;
        forget_headers(&x);
        if (rc < 0 || !limited) break;
        sleep_ms(wait);
        waited += wait;
    }
    if (rc == 0 && (r->status == 429 || r->status == 503) && r->attempts > 1)
        rc = mk_error_set(err, MK_EBUSY, "GET %s: HTTP %ld (rate limited) after %d attempts", url,
                          r->status, r->attempts);
    else if (rc == 0 && r->status == 404)
        rc = mk_error_set(err, MK_ENOTFOUND, "GET %s: HTTP 404 (not found)", url);
    else if (rc == 0 && r->status != 200)
        rc = mk_error_set(err, MK_ENETWORK, "GET %s: HTTP %ld", url, r->status);
    if (rc < 0) mk_tee_http_response_free(r);
    return rc;
}
