/*
 * tools/mosaik/cmd_node.c — `mosaik node`: run a discovery node.
 *
 * Creates an mk_network from the options, prints its id and address, then
 * one line per discovery event (JSON objects with --json, text otherwise)
 * until SIGINT/SIGTERM (graceful departure) or --run-for elapses.
 *
 * The main thread runs a poll(2) loop over: the network's event fd, a
 * self-pipe written by the signal handler, and (with --metrics) a listening
 * TCP socket. The metrics responder is deliberately tiny and bounded: one
 * client at a time, at most 4 KiB of request read within 1 s, any request
 * answered with the Prometheus text (HTTP/1.0, then close).
 *
 * TDX (simulated): --tdx-sim MRTD installs a ticket from a simulated TD with
 * that MRTD, chained to the simulator whose state is in --tdx-sim-state
 * (created by the first node, loaded by the others, so all share one root);
 * the ticket embeds the simulator's collateral (made afresh for each ticket)
 * and the library renews it (mk_network_attest, mosaik/attest.h: at 80 % of
 * its lifetime; a failed attempt is retried with backoff and reported on
 * stderr). --require-tdx-mrtd MRTD with --trust-sim-root FILE validates each
 * discovered/updated peer's TDX ticket and prints the verdict with its
 * reason. --tdx-sim-measurements / --require-tdx-measurements take MRTD,
 * RTMR1 and RTMR2 from a `mosaik tdx build` measurements.json instead (the
 * simulated TD then reports an image's pre-computed values; it is labelled
 * SIMULATED in the output and by the tag "mosaik.tdx.simulated" in its
 * entry). --produce / --consume NAME add a stream (cmd_node_stream.c); a
 * producer requires the TDX validator of its consumers.
 *
 * The options come from the command line and the configuration file of
 * --config (cmd_node_opts.c); the metrics responder adds the node's stream
 * statistics (cmd_node_stream.c) to the library's Prometheus text.
 *
 * --http ADDR serves the status page (http*.c, docs/status-page.md) from
 * the same poll loop: the server's descriptor is one more in the poll set.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>

#include "cli.h"
#include "cmd_node.h"
#include "cmd_node_stream.h"
#include "http.h"

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    ssize_t w = write(sig_pipe[1], &c, 1);
    (void)w;
    errno = saved;
}

void cli_node_usage(FILE *f) {
    fprintf(f,
            "usage: mosaik node --network NAME [options]\n"
            "       mosaik node --config FILE [options]\n"
            "\n"
            "Run a discovery node: prints its id and address, then peer events.\n"
            "\n"
            "  --network NAME|HEX      network name (hashed) or 64-hex-digit id (required)\n"
            "  --listen ADDR           listen address ip:port (default 127.0.0.1:0)\n"
            "  --advertise ADDR        address to publish (repeatable; default: the bound one)\n"
            "  --bootstrap ID@ADDR     a peer to contact first (repeatable)\n"
            "  --key FILE              secret key file (created if missing, mode 0600)\n"
            "  --tag T                 tag (name or hex id; repeatable)\n"
            "  --jwt-ticket FILE       install the JWT in FILE as a ticket\n"
            "  --tdx-sim MRTD_HEX      install a SIMULATED TDX ticket with this MRTD\n"
            "  --tdx-sim-state FILE    simulator state shared by all nodes (created if missing)\n"
            "  --require-tdx-mrtd HEX  validate peers' TDX tickets against this MRTD\n"
            "  --trust-sim-root FILE   trust this simulator (its state file or root DER)\n"
            "  --tdx-sim-measurements FILE  SIMULATED TDX ticket reporting MRTD/RTMR1/RTMR2\n"
            "                          of a `mosaik tdx build` measurements.json\n"
            "  --require-tdx-measurements FILE  validate peers against those registers\n"
            "  --produce NAME          produce stream NAME (requires the TDX validator)\n"
            "  --consume NAME          consume stream NAME, printing what arrives\n"
            "  --exit-after-items N    with --consume: leave after N items\n"
            "  --metrics ADDR          serve Prometheus metrics over HTTP on ip:port\n"
            "  --http [IP:]PORT        serve the status page, JSON API and metrics (read-only;\n"
            "                          IP defaults to 127.0.0.1; see docs/status-page.md)\n"
            "  --json                  one JSON object per line\n"
            "  --run-for SECONDS       exit (with a departure) after this long\n"
            "  --no-depart             on exit, leave without announcing a departure\n"
            "  --announce-ms N, --sync-ms N, --purge-after-ms N   intervals in ms, 1..86400000\n"
            "                          (defaults %u, %u, %u)\n"
            "  --config FILE           read options from FILE: 'name = value' lines, the\n"
            "                          long options without dashes, '#' comments; the\n"
            "                          command line overrides the file (a repeated option's\n"
            "                          whole list); see mosaik-node.conf\n"
            "  --print-config          print the options in effect in FILE's syntax, and exit\n"
            "\n"
            "The TDX options need a build with MOSAIK_TDX. Files may be '-' (stdin).\n"
            "SIGINT/SIGTERM: announce a departure and exit.\n"
            "Exit status: 0 ran (or printed), 1 failed, 2 usage or configuration error,\n"
            "3 a file, a socket or the network failed.\n",
            MK_NETWORK_DEFAULT_ANNOUNCE_MS, MK_NETWORK_DEFAULT_SYNC_MS,
            MK_NETWORK_DEFAULT_PURGE_MS);
}

typedef struct node_cli {
    bool json;
    mk_network *nw;
    mk_validator *tdx_validator;
    node_stream *stream; /* its statistics go into the metrics */
} node_cli;

static void hexid(const mk_id *id, char out[MK_ID_HEX_LEN]) {
    mk_id_to_hex(id, out);
}

static void emit(const node_cli *c, json_t *o, const char *text) {
    if (c->json) {
        cli_emit_line(o);
    } else {
        fputs(text, stdout);
        fflush(stdout);
    }
}

static void print_event(node_cli *c, const mk_network_event *ev) {
    char pid[MK_ID_HEX_LEN];
    hexid(&ev->peer_id, pid);
    const mk_peer_entry *e = &ev->entry;
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(mk_network_event_name(ev->type)));
    json_object_set_new(o, "peer", json_string(pid));
    json_object_set_new(o, "version", json_integer((json_int_t)ev->version));
    json_object_set_new(o, "hops", json_integer(ev->hops));
    json_t *addrs = json_array(), *tags = json_array(), *tickets = json_array();
    for (size_t i = 0; i < e->n_addrs; i++)
        json_array_append_new(addrs, json_string(e->addrs[i]));
    for (size_t i = 0; i < e->tags.n; i++) {
        char h[MK_ID_HEX_LEN];
        hexid(&e->tags.items[i], h);
        json_array_append_new(tags, json_string(h));
    }
    mk_buf text = MK_BUF_INIT;
    mk_buf_printf(&text, "%-10s %s v%llu", mk_network_event_name(ev->type), pid,
                  (unsigned long long)ev->version);
    if (e->n_addrs) mk_buf_printf(&text, " at %s", e->addrs[0]);
    mk_buf_printf(&text, " (%zu tickets, %zu tags)\n", e->n_tickets, e->tags.n);
    for (size_t i = 0; i < e->n_tickets; i++) {
        char h[MK_ID_HEX_LEN];
        hexid(&e->tickets[i].class_id, h);
        json_t *t = json_object();
        json_object_set_new(t, "class", json_string(h));
        json_object_set_new(t, "bytes", json_integer((json_int_t)e->tickets[i].len));
        json_array_append_new(tickets, t);
    }
    json_object_set_new(o, "addrs", addrs);
    json_object_set_new(o, "tags", tags);
    json_object_set_new(o, "tickets", tickets);
    if (c->tdx_validator && (ev->type == MK_EVENT_DISCOVERED || ev->type == MK_EVENT_UPDATED)) {
        mk_peer_view pv;
        mk_peer_entry_view(e, &pv);
        mk_expiration exp = 0;
        mk_error err;
        mk_error_clear(&err);
        int rc = mk_validator_check(c->tdx_validator, &pv, mk_now(), &exp, &err);
        json_t *v = json_object();
        json_object_set_new(v, "valid", json_boolean(rc == 0));
        if (rc == 0) {
            json_object_set_new(v, "expires", json_integer(exp));
            char when[MK_RFC3339_LEN];
            mk_time_format_rfc3339(exp, when);
            mk_buf_printf(&text, "           tdx: VALID (simulated root trusted), until %s\n",
                          when);
        } else {
            json_object_set_new(v, "reason", json_string(err.msg));
            mk_buf_printf(&text, "           tdx: REFUSED: %s\n", err.msg);
        }
        json_object_set_new(o, "tdx", v);
    }
    mk_buf_append_u8(&text, 0);
    emit(c, o, (const char *)text.data);
    mk_buf_free(&text);
    json_decref(o);
}

/* ----- metrics responder ---------------------------------------------- */

static int listen_tcp(const char *addr, mk_error *err) {
    char host[MK_TRANSPORT_ADDR_MAX + 1];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        return mk_error_set(err, MK_EINVAL, "--metrics: want ip:port");
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    long port = strtol(colon + 1, NULL, 10);
    if (port < 0 || port > 65535) return mk_error_set(err, MK_EINVAL, "--metrics: bad port");
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    int fam;
    if (host[0] == '[') {
        size_t hl = strlen(host);
        if (hl < 2 || host[hl - 1] != ']') return mk_error_set(err, MK_EINVAL, "--metrics: bad ip");
        host[hl - 1] = 0;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            return mk_error_set(err, MK_EINVAL, "--metrics: bad ip");
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof *s6;
        fam = AF_INET6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return mk_error_set(err, MK_EINVAL, "--metrics: bad ip");
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        sl = sizeof *s4;
        fam = AF_INET;
    }
    int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return mk_error_set(err, MK_EIO, "--metrics: socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 8) < 0) {
        int e = errno;
        close(fd);
        return mk_error_set(err, MK_EIO, "--metrics %s: %s", addr, strerror(e));
    }
    return fd;
}

static void serve_metrics(node_cli *c, int lfd) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) return;
    char req[4096];
    size_t have = 0;
    uint64_t deadline = mk_mono_ms() + 1000;
    while (have < sizeof req && !memmem(req, have, "\r\n\r\n", 4)) {
        uint64_t now = mk_mono_ms();
        if (now >= deadline) break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(deadline - now)) <= 0) break;
        ssize_t n = read(fd, req + have, sizeof req - have);
        if (n <= 0) break;
        have += (size_t)n;
    }
    mk_buf body = MK_BUF_INIT, resp = MK_BUF_INIT;
    mk_network_metrics_prometheus(c->nw, &body);
    mk_id self;
    mk_network_peer_id(c->nw, &self);
    node_stream_prometheus(c->stream, &self, &body);
    mk_buf_printf(&resp,
                  "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                  body.len);
    mk_buf_append(&resp, body.data, body.len);
    size_t off = 0;
    while (off < resp.len) {
        ssize_t n = send(fd, resp.data + off, resp.len - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += (size_t)n;
    }
    mk_buf_free(&body);
    mk_buf_free(&resp);
    close(fd);
}

/* ----- TDX ------------------------------------------------------------- */

#if MOSAIK_HAVE_TDX
/* The simulated TD and its attestation (mosaik/attest.h: made, installed
 * and renewed by the library on the network's loop). Its events arrive on
 * the network's I/O thread; what to say about them waits in `note` for the
 * main loop, which prints it (the I/O thread never writes to stderr). */
typedef struct tdx_state {
    mk_tdx_sim *sim;
    mk_tdx_provider *prov;
    mk_attestation *at;
    pthread_mutex_t mu;
    char note[4 * MK_ERROR_MSG_MAX]; /* mu; empty: nothing to say */
} tdx_state;

/* Fresh simulated collateral for each ticket (valid 30 days from now). */
static int tdx_sim_collateral(void *ctx, mk_buf *out, mk_error *err) {
    tdx_state *t = ctx;
    return mk_tdx_sim_collateral_json(t->sim, mk_now(), out, err);
}

static void tdx_on_event(mk_attestation *a, const mk_attestation_event *ev, void *ctx) {
    (void)a;
    tdx_state *t = ctx;
    pthread_mutex_lock(&t->mu);
    size_t used = strlen(t->note), room = sizeof t->note - used; /* appended until full */
    if (ev->type == MK_ATTEST_FAILED)
        snprintf(
            t->note + used, room,
            "mosaik: node: renewing the TDX ticket: %s (attempt %u failed; next within %u ms)\n",
            ev->reason, ev->failures, ev->retry_ms);
    else if (ev->type == MK_ATTEST_EXPIRED)
        snprintf(t->note + used, room, "mosaik: node: the TDX ticket expired: %s\n", ev->reason);
    pthread_mutex_unlock(&t->mu);
}

/* What the attestation's events left to say, on stderr (the main loop). */
static void tdx_print_notes(tdx_state *t) {
    if (!t->at) return;
    char note[sizeof t->note];
    pthread_mutex_lock(&t->mu);
    memcpy(note, t->note, sizeof note);
    t->note[0] = 0;
    pthread_mutex_unlock(&t->mu);
    if (note[0]) fputs(note, stderr);
}

/* The simulated TD reports the registers of a build's measurements.json. */
static int tdx_sim_measurements(mk_tdx_sim_td *td, const char *path, mk_error *err) {
    char hx[3][97];
    MK_TRY(node_measurements_read(path, hx[0], hx[1], hx[2], err));
    MK_TRY(mk_hex_decode_exact(hx[0], td->mr_td, 48, err));
    MK_TRY(mk_hex_decode_exact(hx[1], td->rtmr[1], 48, err));
    MK_TRY(mk_hex_decode_exact(hx[2], td->rtmr[2], 48, err));
    printf("tdx: SIMULATED quote provider (not real TDX), reporting the registers of %s\n"
           "tdx:   MRTD  %s\ntdx:   RTMR1 %s\ntdx:   RTMR2 %s\n",
           path, hx[0], hx[1], hx[2]);
    fflush(stdout);
    return 0;
}

static int tdx_setup(tdx_state *t, const char *mrtd_hex, const char *meas, const char *state,
                     mk_network *nw, mk_error *err) {
    int64_t now = mk_now();
    if (state)
        MK_TRY(mk_tdx_sim_load_or_create(state, &(mk_tdx_sim_config){.now = now}, &t->sim, err));
    else
        MK_TRY(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = now}, &t->sim, err));
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    int rc = meas ? tdx_sim_measurements(&td, meas, err)
                  : mk_hex_decode_exact(mrtd_hex, td.mr_td, 48, err);
    if (rc < 0)
        return mk_error_prefix(err, rc,
                               meas ? "--tdx-sim-measurements" : "--tdx-sim: MRTD (96 hex digits)");
    MK_TRY(mk_tdx_provider_sim_new(t->sim, &td, &t->prov, err));
    mk_attestation_opts ao;
    mk_attestation_opts_init(&ao);
    ao.fetch_endorsements = tdx_sim_collateral; /* the collateral, embedded */
    ao.fetch_ctx = t;
    ao.on_event = tdx_on_event;
    ao.event_ctx = t;
    return mk_network_attest(nw, t->prov, &ao, &t->at, err);
}

/* The attestation first (it stops renewing), then what it uses. */
static void tdx_free(tdx_state *t) {
    mk_attestation_free(t->at);
    mk_tdx_provider_free(t->prov);
    mk_tdx_sim_free(t->sim);
    pthread_mutex_destroy(&t->mu);
}

static mk_validator *tdx_validator(const char *mrtd_hex, const char *meas, const char *root_path,
                                   mk_error *err) {
    mk_buf root = MK_BUF_INIT;
    mk_validator *v = NULL;
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    if (!o) return NULL;
    if (root_path && cli_tdx_load_sim_root(root_path, &root, err) < 0) goto out;
    if (root.len && mk_tdx_validator_opts_trust_simulator(o, root.data, root.len, err) < 0)
        goto out;
    mk_tdx_criteria *c = mk_tdx_validator_opts_baseline(o);
    char hx[3][97];
    if (meas && (node_measurements_read(meas, hx[0], hx[1], hx[2], err) < 0 ||
                 mk_tdx_criteria_require_mrtd_hex(c, hx[0], err) < 0 ||
                 mk_tdx_criteria_require_rtmr_hex(c, 1, hx[1], err) < 0 ||
                 mk_tdx_criteria_require_rtmr_hex(c, 2, hx[2], err) < 0))
        goto out;
    if (!meas && mk_tdx_criteria_require_mrtd_hex(c, mrtd_hex, err) < 0) goto out;
    v = mk_tdx_validator_new(o, err);
out:
    mk_tdx_validator_opts_free(o);
    mk_buf_free(&root);
    return v;
}
#endif

/* ----- running --------------------------------------------------------- */

/* A running node: what it prints through, its sockets and its TDX state. */
typedef struct node_run {
    node_cli c;
    int mfd; /* the metrics socket, or -1 */
    mk_error err;
    node_stream stream;
    node_http *http; /* --http, or NULL */
    http_view view;  /* what it shows */
#if MOSAIK_HAVE_TDX
    tdx_state tdx;
#endif
} node_run;

/* SIGINT/SIGTERM write to the self-pipe the loop polls; SIGPIPE ignored. */
static int node_signals(void) {
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return cli_fail(CLI_IO, "node: pipe: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return CLI_CONTINUE;
}

/* The JWT in path (without trailing line ends) as the node's ticket. */
static int install_jwt(mk_network *nw, const char *path, mk_error *err) {
    mk_buf tok = MK_BUF_INIT;
    mk_ticket t;
    mk_id cls;
    mk_jwt_class(&cls);
    int rc = cli_read_file(path, MK_JWT_MAX_TOKEN + 16, &tok, err);
    while (rc == 0 && tok.len && (tok.data[tok.len - 1] == '\n' || tok.data[tok.len - 1] == '\r'))
        tok.len--;
    if (rc == 0 && mk_ticket_init(&t, &cls, tok.data, tok.len) == 0) {
        rc = mk_network_replace_ticket(nw, &t, err);
        mk_ticket_free(&t);
    }
    mk_buf_free(&tok);
    return rc;
}

/* --produce / --consume: a producer requires the TDX validator (a second
 * instance, owned by the stream). */
static int node_start_stream(node_run *r, const node_opts *o) {
    if (!o->produce && !o->consume) return CLI_CONTINUE;
    mk_validator *v = NULL;
#if MOSAIK_HAVE_TDX
    if (o->produce && (o->req_meas || o->req_mrtd) &&
        !(v = tdx_validator(o->req_mrtd, o->req_meas, o->trust_root, &r->err)))
        return cli_fail_err("node: TDX validator", &r->err);
#endif
    r->stream.exit_after = o->exit_after;
    if (node_stream_start(&r->stream, r->c.nw, o->produce, o->consume, v, o->json, &r->err) < 0)
        return cli_fail_err("node", &r->err);
    return CLI_CONTINUE;
}

/* The metrics socket, the network and the node's tickets. */
static int node_start(node_run *r, const node_opts *o) {
    if (o->metrics_addr && (r->mfd = listen_tcp(o->metrics_addr, &r->err)) < 0)
        return r->err.code == MK_EINVAL ? cli_usage_error("node: %s", r->err.msg)
                                        : cli_fail_err("node", &r->err);
    if (mk_network_new(&o->cfg, &r->c.nw, &r->err) < 0) return cli_fail_err("node", &r->err);
    if (o->jwt_path && install_jwt(r->c.nw, o->jwt_path, &r->err) < 0)
        return cli_fail(cli_exit_code(r->err.code), "node: --jwt-ticket %s: %s", o->jwt_path,
                        r->err.msg);
#if MOSAIK_HAVE_TDX
    if (o->tdx_mrtd) {
        if (!o->tdx_state_path)
            fprintf(stderr, "mosaik: note: no --tdx-sim-state: a private simulator root\n");
        if (tdx_setup(&r->tdx, o->tdx_mrtd, o->sim_meas, o->tdx_state_path, r->c.nw, &r->err) < 0)
            return cli_fail_err("node: --tdx-sim", &r->err);
    }
#endif
    return node_start_stream(r, o);
}

/* --http: the status page server over the node's handles. */
static int node_start_http(node_run *r, const node_opts *o) {
    if (!o->http_addr) return CLI_CONTINUE;
    r->view = (http_view){r->c.nw, r->c.tdx_validator, &r->stream, mk_mono_ms()};
    if (node_http_start(o->http_addr, &r->view, &r->http, &r->err) < 0)
        return r->err.code == MK_EINVAL ? cli_usage_error("node: %s", r->err.msg)
                                        : cli_fail_err("node", &r->err);
    return CLI_CONTINUE;
}

/* The bound address of a listening socket as "ip:port" ("[ip]:port" for
 * IPv6); empty when it has none. */
static void sock_addr_text(int fd, char *out, size_t n) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    out[0] = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        snprintf(out, n, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        snprintf(out, n, "%s:%u", ip, ntohs(s4->sin_port));
    }
}

/* The "started" event: ids, addresses, the bootstrap form, metrics URL. */
static void node_print_started(node_run *r) {
    mk_id pid, nid;
    mk_network_peer_id(r->c.nw, &pid);
    mk_network_id(r->c.nw, &nid);
    char ph[MK_ID_HEX_LEN], nh[MK_ID_HEX_LEN], addr[MK_TRANSPORT_ADDR_MAX + 1] = "";
    hexid(&pid, ph);
    hexid(&nid, nh);
    mk_network_listen_addr(r->c.nw, addr, sizeof addr);
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string("started"));
    json_object_set_new(o, "peer", json_string(ph));
    json_object_set_new(o, "addr", json_string(addr));
    char bs[MK_ID_HEX_LEN + MK_TRANSPORT_ADDR_MAX + 2];
    snprintf(bs, sizeof bs, "%s@%s", ph, addr);
    json_object_set_new(o, "bootstrap", json_string(bs));
    json_object_set_new(o, "network", json_string(nh));
    char maddr[MK_TRANSPORT_ADDR_MAX + 8] = "";
    if (r->mfd >= 0) {
        sock_addr_text(r->mfd, maddr, sizeof maddr);
        json_object_set_new(o, "metrics", json_string(maddr));
    }
    char haddr[MK_TRANSPORT_ADDR_MAX + 8] = "";
    if (r->http) {
        node_http_addr(r->http, haddr, sizeof haddr);
        json_object_set_new(o, "http", json_string(haddr));
    }
    char text[640];
    snprintf(text, sizeof text,
             "node %s\n  listening on %s\n  network %s\n  bootstrap: %s\n%s%s%s%s%s%s", ph, addr,
             nh, bs, maddr[0] ? "  metrics: http://" : "", maddr, maddr[0] ? "/metrics\n" : "",
             haddr[0] ? "  status page: http://" : "", haddr, haddr[0] ? "/\n" : "");
    emit(&r->c, o, text);
    json_decref(o);
}

/* Events, metrics requests and what the TDX attestation reports, until a
 * signal or --run-for. */
static void node_loop(node_run *r, double run_for) {
    uint64_t start = mk_mono_ms();
    uint64_t end = run_for > 0 ? start + (uint64_t)(run_for * 1000.0) : UINT64_MAX;
    bool stop = false;
    while (!stop) {
        uint64_t now = mk_mono_ms();
        if (now >= end) break;
        int timeout = end == UINT64_MAX ? 1000 : (int)(end - now < 1000 ? end - now : 1000);
        if ((r->stream.p || r->stream.c) && timeout > 100) timeout = 100;
        int ht = r->http ? node_http_timeout_ms(r->http) : -1;
        if (ht >= 0 && ht < timeout) timeout = ht;
        struct pollfd p[4] = {{mk_network_event_fd(r->c.nw), POLLIN, 0},
                              {sig_pipe[0], POLLIN, 0},
                              {r->mfd, POLLIN, 0},
                              {r->http ? node_http_fd(r->http) : -1, POLLIN, 0}};
        int n = poll(p, 4, timeout); /* fd -1: ignored */
        if (n < 0 && errno != EINTR) break;
        if (p[1].revents & POLLIN) stop = true;
        mk_network_event ev;
        while (mk_network_next_event(r->c.nw, 0, &ev) == 0) {
            print_event(&r->c, &ev);
            mk_network_event_free(&ev);
        }
        if (r->mfd >= 0 && (p[2].revents & POLLIN)) serve_metrics(&r->c, r->mfd);
        if (r->http) node_http_run(r->http);
        if (node_stream_step(&r->stream, mk_mono_ms())) stop = true;
#if MOSAIK_HAVE_TDX
        tdx_print_notes(&r->tdx); /* the library renews the TDX ticket */
#endif
    }
}

/* Leave (with a departure unless --no-depart) and say so. */
static void node_leave(node_run *r, bool no_depart) {
    node_stream_free(&r->stream); /* before the network it uses */
    if (no_depart)
        mk_network_abort(r->c.nw);
    else
        mk_network_close(r->c.nw);
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(no_depart ? "stopped" : "left"));
    emit(&r->c, o, no_depart ? "stopped\n" : "left (departure announced)\n");
    json_decref(o);
}

static void node_run_free(node_run *r) {
    node_http_stop(r->http); /* before what it shows */
    node_stream_free(&r->stream);
    mk_network_free(r->c.nw);
    if (r->mfd >= 0) close(r->mfd);
#if MOSAIK_HAVE_TDX
    tdx_free(&r->tdx);
#endif
    mk_validator_free(r->c.tdx_validator);
    for (int i = 0; i < 2; i++)
        if (sig_pipe[i] >= 0) close(sig_pipe[i]), sig_pipe[i] = -1;
}

/* The node with its options: validators, signals, the network; then the
 * loop until a signal or --run-for. */
static int node_main(const node_opts *o) {
    node_run r;
    memset(&r, 0, sizeof r);
    r.c.json = o->json;
    r.c.stream = &r.stream;
    r.mfd = -1;
    mk_error_clear(&r.err);
#if MOSAIK_HAVE_TDX
    pthread_mutex_init(&r.tdx.mu, NULL);
#endif
    int rc = CLI_CONTINUE;
#if MOSAIK_HAVE_TDX
    if (o->req_mrtd &&
        !(r.c.tdx_validator = tdx_validator(o->req_mrtd, o->req_meas, o->trust_root, &r.err)))
        rc = cli_fail_err("node: TDX validator", &r.err);
#endif
    if (rc == CLI_CONTINUE) rc = node_signals();
    if (rc == CLI_CONTINUE) rc = node_start(&r, o);
    if (rc == CLI_CONTINUE) rc = node_start_http(&r, o);
    if (rc == CLI_CONTINUE) {
        node_print_started(&r);
        node_loop(&r, o->run_for);
        node_leave(&r, o->no_depart);
        rc = CLI_OK;
    }
    node_run_free(&r);
    return rc;
}

int cli_cmd_node(int argc, char **argv) {
    node_opts *o = malloc(sizeof *o);
    if (!o) return cli_fail(CLI_FAIL, "node: out of memory");
    int rc = node_parse(argc, argv, o);
    if (rc == CLI_CONTINUE && o->print_config) rc = node_print_config(o);
    if (rc == CLI_CONTINUE) rc = node_opts_finish(o);
    if (rc == CLI_CONTINUE) rc = node_main(o);
    node_opts_free(o);
    free(o);
    return rc;
}
