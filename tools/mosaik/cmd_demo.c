/*
 * tools/mosaik/cmd_demo.c — `mosaik demo`: attested nodes on loopback
 * admitting and refusing each other over a stream.
 *
 * The parent process makes a temporary directory with one shared TDX
 * *simulator* state (mk_tdx_sim_load_or_create), then starts six node
 * processes, each this same binary with the hidden role `mosaik demo
 * --node NAME ...`:
 *
 *   producer  expected MRTD; serves stream "demo.prices", requiring of
 *             every consumer a TDX ticket with the expected MRTD
 *   node-a    expected MRTD                           → admitted
 *   node-b    expected MRTD                           → admitted
 *   node-c    another MRTD ("other firmware")         → refused, MRTD mismatch
 *   node-d    no ticket                               → refused, no ticket
 *   node-e    expected MRTD, ticket expiring after ~8 s → admitted, then cut
 *             off within a second of the expiry (the delay is measured)
 *
 * Consumers also require the expected MRTD of the producer (both sides
 * validate). Each node prints one JSON object per line on its stdout (its
 * events: ready, admitted, refused, rejected, disconnected, stats); the
 * parent reads them all through pipes and renders a timeline for a
 * terminal, or passes them through with --json. The quotes are SIMULATED:
 * signed by a test root generated here, which the validators trust only
 * because the demo tells them to.
 *
 * Children get PR_SET_PDEATHSIG, the parent forwards SIGINT/SIGTERM and
 * kills whatever is left at the end; the temporary directory is removed.
 *
 * usage: mosaik demo [--json] [--duration SECONDS] [--expire-after SECONDS]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "mosaik/streams.h"

#if MOSAIK_HAVE_TDX

#define DEMO_NETWORK "mosaik-demo"
#define DEMO_STREAM "demo.prices"
#define NODES 6

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* The node role (child process)                                       */
/* ------------------------------------------------------------------ */

static pthread_mutex_t g_out = PTHREAD_MUTEX_INITIALIZER;
static const char *g_node = "?";

/* Emit one JSON line (steals obj). */
static void emit_json(json_t *obj) {
    json_object_set_new(obj, "node", json_string(g_node));
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!s) return;
    pthread_mutex_lock(&g_out);
    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&g_out);
    free(s);
}

static void short_hex(const mk_id *id, char out[9]) {
    mk_id_short(id, out);
}

static void on_stream_event(const mk_stream_event *ev, void *ctx) {
    (void)ctx;
    char pid[9];
    short_hex(&ev->peer, pid);
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(mk_stream_event_name(ev->type)));
    json_object_set_new(o, "peer", json_string(pid));
    json_object_set_new(o, "side", json_string(ev->producer_side ? "producer" : "consumer"));
    if (ev->type == MK_STREAM_EV_ADMITTED) {
        json_object_set_new(o, "expires", json_integer(ev->expires));
    } else {
        json_object_set_new(o, "by_peer", json_boolean(ev->by_peer));
        json_object_set_new(o, "reason", json_string(mk_stream_reason_name(ev->reason)));
        json_object_set_new(o, "text", json_string(ev->text));
        if (ev->reason == MK_STREAM_R_EXPIRED) {
            json_object_set_new(o, "expired_at", json_integer(ev->expires));
            json_object_set_new(o, "late_ms", json_integer(ev->late_ms));
        }
    }
    emit_json(o);
}

typedef struct node_args {
    const char *name, *dir, *bootstrap, *mrtd;
    int64_t expires;
    bool producer;
    int duration;
} node_args;

static int node_fail(const char *what, const mk_error *err) {
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string("error"));
    json_object_set_new(o, "text", json_pack("s", what));
    json_object_set_new(o, "reason", json_string(err ? err->msg : ""));
    emit_json(o);
    return CLI_FAIL;
}

static mk_tdx_validator_opts *g_tdx_opts;

static void expected_td(mk_tdx_sim_td *td) {
    mk_tdx_sim_td_default(td);
}

static int node_run(const node_args *a, mk_network *nw, mk_tdx_sim *sim, mk_tdx_collateral *coll,
                    mk_stream_producer **pp, mk_stream_consumer **cp);

static int node_main(const node_args *a) {
    g_node = a->name;
    if (!getenv("MOSAIK_LOG")) mk_log_set_level(MK_LOG_ERROR); /* events go to stdout */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    mk_error err;
    mk_error_clear(&err);
    char path[1024];
    snprintf(path, sizeof path, "%s/sim.pem", a->dir);
    mk_tdx_sim *sim = NULL;
    if (mk_tdx_sim_load(path, &sim, &err) < 0) return node_fail("load simulator", &err);
    mk_tdx_collateral *coll = NULL;
    if (mk_tdx_sim_collateral(sim, mk_now(), &coll, &err) < 0)
        return node_fail("simulator collateral", &err);

    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = DEMO_NETWORK;
    cfg.announce_ms = 1000;
    cfg.sync_ms = 500;
    const char *boot[1] = {a->bootstrap};
    if (a->bootstrap) {
        cfg.bootstrap = boot;
        cfg.n_bootstrap = 1;
    }
    mk_network *nw = NULL;
    if (mk_network_new(&cfg, &nw, &err) < 0) {
        mk_tdx_collateral_free(coll);
        mk_tdx_sim_free(sim);
        return node_fail("network", &err);
    }
    mk_stream_producer *p = NULL;
    mk_stream_consumer *c = NULL;
    int rc = node_run(a, nw, sim, coll, &p, &c);
    /* Every path, failures included, stops the I/O thread before the
     * process exits: a thread still running during exit() would race with
     * OpenSSL's and libc's teardown. */
    mk_stream_producer_free(p);
    mk_stream_consumer_free(c);
    mk_network_free(nw);
    mk_tdx_validator_opts_free(g_tdx_opts);
    g_tdx_opts = NULL;
    mk_tdx_collateral_free(coll);
    mk_tdx_sim_free(sim);
    return rc;
}

static int node_run(const node_args *a, mk_network *nw, mk_tdx_sim *sim, mk_tdx_collateral *coll,
                    mk_stream_producer **pp, mk_stream_consumer **cp) {
    mk_error err;
    mk_error_clear(&err);
    mk_id peer, netid;
    mk_network_peer_id(nw, &peer);
    mk_network_id(nw, &netid);

    /* This node's TDX ticket (simulated quote). */
    mk_tdx_sim_td td;
    expected_td(&td);
    bool has_ticket = strcmp(a->mrtd, "none") != 0;
    if (!strcmp(a->mrtd, "other")) mk_sha384("other firmware", 14, td.mr_td);
    mk_expiration exp = a->expires ? a->expires : mk_now() + 3600;
    if (has_ticket) {
        mk_tdx_provider *prov = mk_tdx_provider_sim_new(sim, &td);
        mk_tdx_attester *att = NULL;
        mk_ticket t;
        int trc = !prov ? mk_error_set(&err, MK_ENOMEM, "out of memory")
                        : mk_tdx_attester_new(prov, coll, &att, &err);
        if (trc == 0) {
            trc = mk_tdx_attester_ticket_with_expiration(att, &peer, &netid, mk_now(), exp, &t,
                                                         &err);
            if (trc == 0) {
                trc = mk_network_add_ticket(nw, &t, &err);
                mk_ticket_free(&t);
            }
        }
        mk_tdx_attester_free(att);
        mk_tdx_provider_free(prov);
        if (trc < 0) return node_fail("ticket", &err);
    }

    /* The requirement both sides apply: a TDX ticket with the expected MRTD,
     * verified to the simulator's root (trusted explicitly). */
    mk_tdx_sim_td want;
    expected_td(&want);
    g_tdx_opts = mk_tdx_validator_opts_new();
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(g_tdx_opts), want.mr_td);
    mk_tdx_validator_opts_max_lifetime(g_tdx_opts, 24 * 3600);
    const uint8_t *root;
    size_t root_len;
    mk_tdx_sim_root_der(sim, &root, &root_len);
    if (mk_tdx_validator_opts_trust_simulator(g_tdx_opts, root, root_len, &err) < 0)
        return node_fail("trust", &err);
    static const mk_validator_spec specs[] = {{mk_validator_factory_tdx, &g_tdx_opts}};
    const mk_stream_def def = {
        .name = DEMO_STREAM,
        .producer = {.validators = specs, .n_validators = 1},
        .consumer = {.validators = specs, .n_validators = 1},
    };

    mk_stream_producer *p = NULL;
    mk_stream_consumer *c = NULL;
    int rc;
    if (a->producer) {
        mk_stream_producer_opts po;
        mk_stream_producer_opts_init(&po);
        po.on_event = on_stream_event;
        po.lag_policy = MK_STREAM_LAG_DROP_OLDEST;
        rc = mk_stream_producer_from_def(nw, &def, &po, &p, &err);
    } else {
        mk_stream_consumer_opts co;
        mk_stream_consumer_opts_init(&co);
        co.on_event = on_stream_event;
        co.retry_min_ms = 1000;
        co.retry_max_ms = 3000;
        rc = mk_stream_consumer_from_def(nw, &def, &co, &c, &err);
    }
    *pp = p;
    *cp = c;
    if (rc < 0) return node_fail("stream", &err);

    char hex[MK_ID_HEX_LEN], addr[MK_NET_ADDR_MAX + 1], sp[9];
    mk_id_to_hex(&peer, hex);
    mk_network_listen_addr(nw, addr, sizeof addr);
    short_hex(&peer, sp);
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string("ready"));
    json_object_set_new(o, "peer", json_string(sp));
    json_object_set_new(o, "peer_id", json_string(hex));
    json_object_set_new(o, "addr", json_string(addr));
    json_object_set_new(o, "mrtd", json_string(a->mrtd));
    json_object_set_new(o, "ticket_expires", has_ticket ? json_integer(exp) : json_null());
    json_object_set_new(o, "simulated", json_true());
    if (a->producer) {
        char line[200], path2[1100];
        int ln = snprintf(line, sizeof line, "%s@%s\n", hex, addr);
        snprintf(path2, sizeof path2, "%s/producer.addr", a->dir);
        if (mk_file_write(path2, line, (size_t)ln, 0600, &err) < 0) {
            json_decref(o);
            return node_fail("address file", &err);
        }
    }
    emit_json(o);

    double t0 = now_s(), last_stats = t0;
    uint64_t n = 0;
    while (!g_stop && now_s() - t0 < a->duration) {
        if (p) {
            char msg[64];
            int len = snprintf(msg, sizeof msg, "ETH/USD %.2f #%llu", 3000.0 + (double)(n % 97),
                               (unsigned long long)n);
            mk_stream_send(p, msg, (size_t)len, 100, NULL);
            n++;
            sleep_ms(100);
        } else {
            mk_stream_item it;
            if (mk_stream_recv(c, 100, &it) == 0) mk_stream_item_free(&it);
        }
        if (now_s() - last_stats >= 1.0) {
            last_stats = now_s();
            mk_stream_stats st;
            if (p)
                mk_stream_producer_stats(p, &st);
            else
                mk_stream_consumer_stats(c, &st);
            json_t *s = json_object();
            json_object_set_new(s, "event", json_string("stats"));
            json_object_set_new(s, "items", json_integer((json_int_t)st.items));
            json_object_set_new(s, "bytes", json_integer((json_int_t)st.bytes));
            json_object_set_new(s, "drops", json_integer((json_int_t)st.drops));
            json_object_set_new(s, "active", json_integer(st.active));
            emit_json(s);
        }
    }
    mk_stream_stats st;
    if (p)
        mk_stream_producer_stats(p, &st);
    else
        mk_stream_consumer_stats(c, &st);
    o = json_object();
    json_object_set_new(o, "event", json_string("final"));
    json_object_set_new(o, "items", json_integer((json_int_t)st.items));
    json_object_set_new(o, "drops", json_integer((json_int_t)st.drops));
    json_object_set_new(o, "admitted", json_integer((json_int_t)st.admitted));
    json_object_set_new(o, "refused", json_integer((json_int_t)st.refused));
    json_object_set_new(o, "rejected", json_integer((json_int_t)st.rejected));
    json_object_set_new(o, "disconnected", json_integer((json_int_t)st.disconnected));
    emit_json(o);
    return CLI_OK;
}

/* ------------------------------------------------------------------ */
/* The parent                                                          */
/* ------------------------------------------------------------------ */

typedef struct child {
    const char *name, *mrtd, *role;
    pid_t pid;
    int fd;
    char buf[8192];
    size_t len;
    char peer[9];
    bool ready;
    long long items, drops;
    bool admitted_once;
    char seen[8][600]; /* lines printed recently (a refusal is retried) */
    unsigned n_seen;
    long long late_ms;
    bool cut;
} child;

static bool g_json;
static bool g_ending; /* shutting down: only collect the final counts */
static double g_t0;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    if (g_json) return;
    va_list ap;
    va_start(ap, fmt);
    printf("[%5.1fs] ", now_s() - g_t0);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

static const char *name_of(child *ch, size_t n, const char *peer) {
    for (size_t i = 0; i < n; i++)
        if (ch[i].ready && !strcmp(ch[i].peer, peer)) return ch[i].name;
    return peer;
}

static void render(child *all, size_t n, child *ch, json_t *o) {
    const char *ev = json_string_value(json_object_get(o, "event"));
    const char *peer = json_string_value(json_object_get(o, "peer"));
    const char *reason = json_string_value(json_object_get(o, "reason"));
    const char *text = json_string_value(json_object_get(o, "text"));
    bool by_peer = json_is_true(json_object_get(o, "by_peer"));
    if (!ev) return;
    if (!strcmp(ev, "ready")) {
        snprintf(ch->peer, sizeof ch->peer, "%s", peer ? peer : "?");
        ch->ready = true;
        json_t *te = json_object_get(o, "ticket_expires");
        char when[MK_RFC3339_LEN] = "";
        if (json_is_integer(te)) mk_time_format_rfc3339(json_integer_value(te), when);
        say("%-8s up (peer %s) — %s%s%s", ch->name, ch->peer,
            !strcmp(ch->mrtd, "none")    ? "no ticket"
            : !strcmp(ch->mrtd, "other") ? "simulated TDX ticket, OTHER MRTD"
                                         : "simulated TDX ticket, expected MRTD",
            when[0] ? ", expires " : "", when);
        return;
    }
    if (!strcmp(ev, "stats")) {
        ch->items = json_integer_value(json_object_get(o, "items"));
        ch->drops = json_integer_value(json_object_get(o, "drops"));
        return;
    }
    if (!strcmp(ev, "final")) {
        ch->items = json_integer_value(json_object_get(o, "items"));
        return;
    }
    if (!strcmp(ev, "error")) {
        say("%-8s ERROR %s: %s", ch->name, text ? text : "", reason ? reason : "");
        return;
    }
    const char *who = name_of(all, n, peer ? peer : "?");
    char line[600];
    if (!strcmp(ev, "admitted")) {
        char when[MK_RFC3339_LEN];
        mk_time_format_rfc3339(json_integer_value(json_object_get(o, "expires")), when);
        if (!strcmp(ch->role, "producer"))
            snprintf(line, sizeof line, "%-8s ADMITTED  %-8s (its ticket is valid until %s)",
                     ch->name, who, when);
        else
            snprintf(line, sizeof line, "%-8s subscribed to %s (producer verified)", ch->name, who);
        ch->admitted_once = true;
    } else if (!strcmp(ev, "refused")) {
        snprintf(line, sizeof line, "%-8s REFUSED   %-8s %s: %.400s", ch->name, who,
                 reason ? reason : "", text ? text : "");
    } else if (!strcmp(ev, "rejected")) {
        snprintf(line, sizeof line, "%-8s refused by %s — %s: %.400s", ch->name, who,
                 reason ? reason : "", text ? text : "");
    } else if (!strcmp(ev, "disconnected")) {
        json_t *late = json_object_get(o, "late_ms");
        if (!strcmp(ch->role, "producer") && reason && !strcmp(reason, "closed")) return;
        if (json_is_integer(late)) {
            long long ms = json_integer_value(late);
            snprintf(line, sizeof line,
                     "%-8s %s %-8s EXPIRED — cut off %lld ms after the ticket expired", ch->name,
                     by_peer ? "cut off by" : "CUT OFF  ", who, ms);
            ch->late_ms = ms;
            ch->cut = true;
        } else {
            snprintf(line, sizeof line, "%-8s disconnected %s %s — %s: %.400s", ch->name,
                     by_peer ? "by" : "from", who, reason ? reason : "", text ? text : "");
        }
    } else {
        return;
    }
    /* Do not repeat a refusal retried every few seconds. */
    for (unsigned i = 0; i < 8; i++)
        if (!strcmp(line, ch->seen[i])) return;
    snprintf(ch->seen[ch->n_seen++ % 8], sizeof ch->seen[0], "%s", line);
    if (!g_ending) say("%s", line);
}

static void handle_line(child *all, size_t n, child *ch, const char *line) {
    if (g_json) {
        printf("%s\n", line);
        fflush(stdout);
    }
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    if (!o) {
        if (!g_json) say("%-8s %s", ch->name, line);
        return;
    }
    render(all, n, ch, o);
    json_decref(o);
}

static void pump_child(child *all, size_t n, child *ch) {
    if (ch->fd < 0) return;
    ssize_t r = read(ch->fd, ch->buf + ch->len, sizeof ch->buf - 1 - ch->len);
    if (r <= 0) {
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            close(ch->fd);
            ch->fd = -1;
        }
        return;
    }
    ch->len += (size_t)r;
    char *start = ch->buf, *nl;
    while ((nl = memchr(start, '\n', ch->len - (size_t)(start - ch->buf)))) {
        *nl = 0;
        handle_line(all, n, ch, start);
        start = nl + 1;
    }
    size_t rest = ch->len - (size_t)(start - ch->buf);
    memmove(ch->buf, start, rest);
    ch->len = rest;
    if (ch->len == sizeof ch->buf - 1) ch->len = 0; /* an absurd line: drop */
}

static void poll_children(child *ch, size_t n, int ms) {
    struct pollfd pf[NODES];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        pf[i] = (struct pollfd){.fd = ch[i].fd, .events = POLLIN};
    k = n;
    if (poll(pf, (nfds_t)k, ms) <= 0) return;
    for (size_t i = 0; i < n; i++)
        if (pf[i].revents) pump_child(ch, n, &ch[i]);
}

static pid_t spawn(child *ch, const char *self, char *const *args) {
    int p[2];
    if (pipe(p) < 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(self, args);
        _exit(127);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    ch->fd = p[0];
    ch->pid = pid;
    return pid;
}

static void rm_tree(const char *dir) {
    char path[1200];
    snprintf(path, sizeof path, "%s/sim.pem", dir);
    unlink(path);
    rmdir(dir);
}

static int parent_main(int duration, int expire_after) {
    char self[1024];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) return cli_usage_error("demo: cannot find my own binary");
    self[sl] = 0;
    char dir[] = "/tmp/mosaik-demo-XXXXXX";
    if (!mkdtemp(dir)) return cli_usage_error("demo: mkdtemp: %s", strerror(errno));
    char simpath[1200];
    snprintf(simpath, sizeof simpath, "%s/sim.pem", dir);
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim *sim = NULL;
    if (mk_tdx_sim_load_or_create(simpath, mk_now(), &sim, &err) < 0) {
        rm_tree(dir);
        fprintf(stderr, "mosaik: demo: simulator: %s\n", err.msg);
        return CLI_FAIL;
    }
    mk_tdx_sim_free(sim);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    char mrtd[97];
    mk_hex_encode(td.mr_td, 48, mrtd);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    g_t0 = now_s();
    if (g_json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:b,s:s,s:i,s:i}", "node", "demo", "event", "start",
                              "stream", DEMO_STREAM, "simulated", 1, "expected_mrtd", mrtd,
                              "duration", duration, "expire_after", expire_after);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("mosaik demo — %d node processes on 127.0.0.1, network \"%s\"\n"
               "\n"
               "  THE TDX QUOTES ARE SIMULATED: a software TD signs them through a test chain\n"
               "  generated in %s, whose root is not Intel's. The validators accept\n"
               "  them only because this demo explicitly trusts that root.\n"
               "\n"
               "  stream \"%s\": the producer admits consumers whose TDX ticket shows\n"
               "  MRTD %.16s…; consumers require the same of the producer.\n"
               "  node-a, node-b: expected MRTD · node-c: other firmware · node-d: no ticket\n"
               "  node-e: expected MRTD, ticket expires %d s after the start\n\n",
               NODES, DEMO_NETWORK, dir, DEMO_STREAM, mrtd, expire_after);
        fflush(stdout);
    }

    child ch[NODES] = {
        {.name = "producer", .mrtd = "good", .role = "producer"},
        {.name = "node-a", .mrtd = "good", .role = "consumer"},
        {.name = "node-b", .mrtd = "good", .role = "consumer"},
        {.name = "node-c", .mrtd = "other", .role = "consumer"},
        {.name = "node-d", .mrtd = "none", .role = "consumer"},
        {.name = "node-e", .mrtd = "good", .role = "consumer"},
    };
    for (int i = 0; i < NODES; i++)
        ch[i].fd = -1, ch[i].pid = -1;
    int64_t exp_e = mk_now() + expire_after;
    char dur_s[16], exp_s[32];
    snprintf(dur_s, sizeof dur_s, "%d", duration + 1);
    snprintf(exp_s, sizeof exp_s, "%lld", (long long)exp_e);

    char *pargs[] = {self, "demo",   "--node", (char *)ch[0].name, "--role", "producer", "--dir",
                     dir,  "--mrtd", "good",   "--duration",       dur_s,    NULL};
    int rc = CLI_OK;
    if (spawn(&ch[0], self, pargs) < 0) {
        rc = CLI_FAIL;
        goto out;
    }
    /* Wait for the producer's address (the consumers' bootstrap peer). */
    char boot[200] = "";
    double t_wait = now_s();
    while (!ch[0].ready && now_s() - t_wait < 15 && !g_stop)
        poll_children(ch, 1, 100);
    if (!ch[0].ready) {
        fprintf(stderr, "mosaik: demo: the producer did not start\n");
        rc = CLI_FAIL;
        goto out;
    }
    /* The producer writes "PEERID@ADDR" next to the simulator state. */
    for (int tries = 0; tries < 50 && !boot[0]; tries++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/producer.addr", dir);
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(boot, sizeof boot, f)) boot[0] = 0;
            fclose(f);
            boot[strcspn(boot, "\n")] = 0;
        }
        if (!boot[0]) sleep_ms(50);
    }
    if (!boot[0]) {
        fprintf(stderr, "mosaik: demo: no producer address\n");
        rc = CLI_FAIL;
        goto out;
    }
    for (int i = 1; i < NODES; i++) {
        char *cargs[] = {self,
                         "demo",
                         "--node",
                         (char *)ch[i].name,
                         "--role",
                         "consumer",
                         "--dir",
                         dir,
                         "--mrtd",
                         (char *)ch[i].mrtd,
                         "--bootstrap",
                         boot,
                         "--duration",
                         dur_s,
                         i == 5 ? "--expires" : NULL,
                         exp_s,
                         NULL};
        if (spawn(&ch[i], self, cargs) < 0) {
            rc = CLI_FAIL;
            goto out;
        }
    }
    double last_data = now_s();
    while (!g_stop && now_s() - g_t0 < duration) {
        poll_children(ch, NODES, 100);
        if (now_s() - last_data >= 2.0) {
            last_data = now_s();
            if (!g_json) {
                char line[400];
                int off = snprintf(line, sizeof line, "data     items received:");
                for (int i = 1; i < NODES; i++)
                    off += snprintf(line + off, sizeof line - (size_t)off, " %s=%lld", ch[i].name,
                                    ch[i].items);
                say("%s", line);
            }
        }
    }
out:
    g_ending = true;
    for (int i = 0; i < NODES; i++)
        if (ch[i].pid > 0) kill(ch[i].pid, SIGTERM);
    /* Collect the final lines (up to 3 s), then make sure all are gone. */
    double t_end = now_s();
    for (;;) {
        bool open = false;
        for (int i = 0; i < NODES; i++)
            open |= ch[i].fd >= 0;
        if (!open || now_s() - t_end > 3) break;
        poll_children(ch, NODES, 100);
    }
    for (int i = 0; i < NODES; i++) {
        if (ch[i].pid <= 0) continue;
        if (waitpid(ch[i].pid, NULL, WNOHANG) == 0) {
            kill(ch[i].pid, SIGKILL);
            waitpid(ch[i].pid, NULL, 0);
        }
        if (ch[i].fd >= 0) close(ch[i].fd);
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/producer.addr", dir);
    unlink(path);
    rm_tree(dir);
    if (rc == CLI_OK && !g_json) {
        printf("\nsummary (simulated TDX):\n");
        for (int i = 1; i < NODES; i++) {
            printf("  %-7s %-14s %-9s %6lld items", ch[i].name,
                   !strcmp(ch[i].mrtd, "none")    ? "no ticket"
                   : !strcmp(ch[i].mrtd, "other") ? "other MRTD"
                                                  : "expected MRTD",
                   ch[i].admitted_once ? "admitted" : "refused", ch[i].items);
            if (ch[i].cut) printf("   cut off %lld ms after its ticket expired", ch[i].late_ms);
            printf("\n");
        }
        printf("  total time %.1f s\n", now_s() - g_t0);
    } else if (g_json) {
        json_t *o =
            json_pack("{s:s,s:s,s:f}", "node", "demo", "event", "end", "seconds", now_s() - g_t0);
        json_t *sum = json_array();
        for (int i = 1; i < NODES; i++) {
            json_t *e =
                json_pack("{s:s,s:s,s:b,s:I}", "node", ch[i].name, "mrtd", ch[i].mrtd, "admitted",
                          ch[i].admitted_once, "items", (json_int_t)ch[i].items);
            if (ch[i].cut) json_object_set_new(e, "cut_off_late_ms", json_integer(ch[i].late_ms));
            json_array_append_new(sum, e);
        }
        json_object_set_new(o, "summary", sum);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    }
    return rc;
}

int cli_cmd_demo(int argc, char **argv) {
    node_args a = {.mrtd = "good", .duration = 14};
    const char *role = NULL;
    int duration = 14, expire_after = 8;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--json")) {
            g_json = true;
        } else if (!strcmp(k, "--duration") && v) {
            duration = a.duration = atoi(v), i++;
        } else if (!strcmp(k, "--expire-after") && v) {
            expire_after = atoi(v), i++;
        } else if (!strcmp(k, "--node") && v) {
            a.name = v, i++;
        } else if (!strcmp(k, "--role") && v) {
            role = v, i++;
        } else if (!strcmp(k, "--dir") && v) {
            a.dir = v, i++;
        } else if (!strcmp(k, "--mrtd") && v) {
            a.mrtd = v, i++;
        } else if (!strcmp(k, "--bootstrap") && v) {
            a.bootstrap = v, i++;
        } else if (!strcmp(k, "--expires") && v) {
            a.expires = strtoll(v, NULL, 10), i++;
        } else {
            return cli_usage_error(
                "usage: mosaik demo [--json] [--duration SECONDS] [--expire-after SECONDS]");
        }
    }
    if (a.name) {
        if (!a.dir || !role) return cli_usage_error("demo --node needs --dir and --role");
        a.producer = !strcmp(role, "producer");
        if (a.duration < 1) a.duration = 1;
        return node_main(&a);
    }
    if (duration < 4) duration = 4;
    if (expire_after < 2) expire_after = 2;
    if (expire_after >= duration) duration = expire_after + 4;
    return parent_main(duration, expire_after);
}

#else /* !MOSAIK_HAVE_TDX */

int cli_cmd_demo(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_usage_error("demo: this build has no TDX support (MOSAIK_TDX=OFF)");
}

#endif
