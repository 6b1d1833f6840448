/*
 * tools/mosaik/cmd_demo.c — `mosaik demo`: attested nodes on loopback
 * admitting and refusing each other over a stream.
 *
 * The parent process makes a temporary directory with one shared TDX
 * *simulator* state (mk_tdx_sim_load_or_create) and, in a build with
 * SEV-SNP, one shared SNP simulator state (mk_snp_sim_load_or_create),
 * then starts eight node processes (six without SNP), each this same
 * binary with the hidden role `mosaik demo --node NAME ...`
 * (cmd_demo_node.c):
 *
 *   producer  TDX, expected MRTD; serves stream "demo.prices", requiring
 *             of every consumer any of a TDX ticket with the expected MRTD
 *             or an SNP ticket with the expected measurement (MK_ANY_OF;
 *             without SNP support the TDX ticket alone)
 *   node-a    expected MRTD                           → admitted
 *   node-b    expected MRTD                           → admitted
 *   node-c    another MRTD ("other firmware")         → refused, MRTD mismatch
 *   node-d    no ticket                               → refused, no ticket
 *   node-e    expected MRTD, ticket expiring after ~8 s → admitted, then cut
 *             off within a second of the expiry (the delay is measured)
 *   node-f    SNP, expected measurement               → admitted
 *   node-g    SNP, another measurement                → refused, "no validator
 *             accepts (tdx: …; snp: measurement mismatch …)"
 *
 * Consumers require the same any-of of the producer (both sides validate;
 * one stream declaration for both roles). Each node prints one JSON object
 * per line on its stdout (its events: ready, admitted, refused, rejected,
 * disconnected, stats); the parent reads them all through pipes and
 * renders a timeline for a terminal (full measurements in reasons
 * shortened to 16 hex digits), or passes them through unchanged with
 * --json. The quotes are SIMULATED: signed through test roots generated
 * here, which the validators trust only because the demo tells them to.
 *
 * This file is the parent: the temporary directory, spawning the nodes,
 * rendering their events, stopping them and the summary. Children get
 * PR_SET_PDEATHSIG, the parent forwards SIGINT/SIGTERM and kills whatever
 * is left at the end; the temporary directory is removed.
 *
 * usage: mosaik demo [--json] [--duration SECONDS] [--expire-after SECONDS]
 *                    [--http [IP:]PORT] (the producer's status page)
 * (out-of-range values are usage errors: nothing is adjusted silently).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd_demo.h"

#if MOSAIK_HAVE_TDX

volatile sig_atomic_t cli_demo_stop;

void cli_demo_on_signal(int sig) {
    (void)sig;
    cli_demo_stop = 1;
}

double cli_demo_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_demo_sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* The parent                                                          */
/* ------------------------------------------------------------------ */

typedef struct child {
    const char *name, *mrtd, *role; /* mrtd: the MRTD or measurement, good/other/none */
    bool snp;                       /* an SEV-SNP node */
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
    char refusal[400]; /* the last refusal's text, for the summary */
} child;

static int g_n = NODES_TDX; /* the nodes started: NODES_MAX with SNP support */
static bool g_json;
static bool g_ending; /* shutting down: only collect the final counts */
static double g_t0;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    if (g_json) return;
    va_list ap;
    va_start(ap, fmt);
    printf("[%5.1fs] ", cli_demo_now() - g_t0);
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

/* What a node's ticket is, for the timeline (long) and the summary. */
static const char *ticket_label(const child *ch, bool lng) {
    if (!strcmp(ch->mrtd, "none")) return "no ticket";
    bool other = !strcmp(ch->mrtd, "other");
    if (ch->snp)
        return !lng    ? (other ? "SNP, other measurement" : "SNP, expected measurement")
               : other ? "simulated SEV-SNP ticket, OTHER measurement"
                       : "simulated SEV-SNP ticket, expected measurement";
    return !lng    ? (other ? "TDX, other MRTD" : "TDX, expected MRTD")
           : other ? "simulated TDX ticket, OTHER MRTD"
                   : "simulated TDX ticket, expected MRTD";
}

/* A reason for the timeline: every run of more than 24 hex digits (a full
 * measurement) shortened to its first 16 and "…". */
static void shorten_hex(const char *in, char *out, size_t cap) {
    size_t o = 0;
    while (*in && o + 4 < cap) {
        size_t run = strspn(in, "0123456789abcdefABCDEF");
        if (run > 24) {
            size_t k = cap - o - 4 < 16 ? cap - o - 4 : 16; /* room for "…" and NUL */
            memcpy(out + o, in, k);
            o += k;
            memcpy(out + o, "…", 3);
            o += 3;
            in += run;
        } else if (run) {
            size_t k = run < cap - o - 1 ? run : cap - o - 1;
            memcpy(out + o, in, k);
            o += k;
            in += run;
        } else {
            out[o++] = *in++;
        }
    }
    out[o] = 0;
}

static void render(child *all, size_t n, child *ch, json_t *o) {
    const char *ev = json_string_value(json_object_get(o, "event"));
    const char *peer = json_string_value(json_object_get(o, "peer"));
    const char *reason = json_string_value(json_object_get(o, "reason"));
    const char *raw = json_string_value(json_object_get(o, "text"));
    char text_buf[600];
    const char *text = raw ? (shorten_hex(raw, text_buf, sizeof text_buf), text_buf) : NULL;
    bool by_peer = json_is_true(json_object_get(o, "by_peer"));
    if (!ev) return;
    if (!strcmp(ev, "ready")) {
        snprintf(ch->peer, sizeof ch->peer, "%s", peer ? peer : "?");
        ch->ready = true;
        json_t *te = json_object_get(o, "ticket_expires");
        char when[MK_RFC3339_LEN] = "";
        if (json_is_integer(te)) mk_time_format_rfc3339(json_integer_value(te), when);
        say("%-8s up (peer %s) — %s%s%s", ch->name, ch->peer, ticket_label(ch, true),
            when[0] ? ", expires " : "", when);
        const char *http = json_string_value(json_object_get(o, "http"));
        if (http) say("%-8s status page: http://%s/ (while the demo runs)", ch->name, http);
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
        snprintf(ch->refusal, sizeof ch->refusal, "%s", raw ? raw : "");
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
    struct pollfd pf[NODES_MAX];
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
    snprintf(path, sizeof path, "%s/snp-sim.pem", dir);
    unlink(path);
    rmdir(dir);
}

/* The shared SNP simulator state in dir and the expected measurement
 * (hex; "" without SNP support); 0 or a negative MK_E*. */
static int demo_prepare_snp(const char *dir, char meas[97], mk_error *err) {
    meas[0] = 0;
#if MOSAIK_HAVE_SNP
    char simpath[1200];
    snprintf(simpath, sizeof simpath, "%s/snp-sim.pem", dir);
    mk_snp_sim *sim = NULL;
    MK_TRY(mk_snp_sim_load_or_create(simpath, NULL, &sim, err));
    mk_snp_sim_free(sim);
    mk_snp_sim_guest g;
    mk_snp_sim_guest_default(&g);
    mk_hex_encode(g.measurement, 48, meas);
#else
    (void)dir, (void)err;
#endif
    return 0;
}

/* This binary's path, a temporary directory with the shared simulator
 * states, the expected MRTD and SNP measurement (hex); CLI_CONTINUE or
 * the exit code. */
static int demo_prepare(char self[1024], char dir[], char mrtd[97], char meas[97]) {
    ssize_t sl = readlink("/proc/self/exe", self, 1023);
    if (sl <= 0) return cli_fail(CLI_IO, "demo: cannot find my own binary");
    self[sl] = 0;
    if (!mkdtemp(dir)) return cli_fail(CLI_IO, "demo: mkdtemp: %s", strerror(errno));
    char simpath[1200];
    snprintf(simpath, sizeof simpath, "%s/sim.pem", dir);
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim *sim = NULL;
    if (mk_tdx_sim_load_or_create(simpath, NULL, &sim, &err) < 0) {
        rm_tree(dir);
        return cli_fail_err("demo: simulator", &err);
    }
    mk_tdx_sim_free(sim);
    if (demo_prepare_snp(dir, meas, &err) < 0) {
        rm_tree(dir);
        return cli_fail_err("demo: SNP simulator", &err);
    }
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_hex_encode(td.mr_td, 48, mrtd);
    return CLI_CONTINUE;
}

static void demo_banner(const char *dir, const char *mrtd, const char *meas, int duration,
                        int expire_after) {
    if (g_json) {
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:b,s:s,s:i,s:i,s:b}", "node", "demo", "event", "start",
                      "stream", DEMO_STREAM, "simulated", 1, "expected_mrtd", mrtd, "duration",
                      duration, "expire_after", expire_after, "snp", MOSAIK_HAVE_SNP);
        if (meas[0]) json_object_set_new(o, "expected_measurement", json_string(meas));
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(o);
        return;
    }
    const bool snp = meas[0] != 0;
    printf("mosaik demo — %d node processes on 127.0.0.1, network \"%s\"\n\n", g_n, DEMO_NETWORK);
    if (snp)
        printf("  THE QUOTES ARE SIMULATED: a software TD (TDX) and a software SEV-SNP\n"
               "  guest sign them through test chains generated in %s,\n"
               "  whose roots are not Intel's or AMD's. The validators accept them only\n"
               "  because this demo explicitly trusts those roots.\n\n",
               dir);
    else
        printf("  THE TDX QUOTES ARE SIMULATED: a software TD signs them through a test chain\n"
               "  generated in %s, whose root is not Intel's. The validators accept\n"
               "  them only because this demo explicitly trusts that root.\n\n",
               dir);
    printf("  stream \"%s\": the producer admits consumers whose TDX ticket shows\n"
           "  MRTD %.16s…",
           DEMO_STREAM, mrtd);
    if (snp) printf(" or whose SEV-SNP ticket shows measurement\n  %.16s…", meas);
    printf("; consumers require the same of the producer.\n"
           "  node-a, node-b: expected MRTD · node-c: other firmware · node-d: no ticket\n"
           "  node-e: expected MRTD, ticket expires %d s after the start\n",
           expire_after);
    if (snp)
        printf("  node-f: SEV-SNP, expected measurement · node-g: SEV-SNP, other measurement\n\n");
    else
        printf("  (this build has no SEV-SNP support, MOSAIK_SNP=OFF: the SNP nodes node-f\n"
               "  and node-g are not started)\n\n");
    fflush(stdout);
}

/* The "PEERID@ADDR" the producer writes next to the simulator state (tried
 * for up to 2.5 s); boot stays empty if none came. */
static void read_producer_addr(const char *dir, char *boot, size_t n) {
    for (int tries = 0; tries < 50 && !boot[0]; tries++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/producer.addr", dir);
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(boot, (int)n, f)) boot[0] = 0;
            fclose(f);
            boot[strcspn(boot, "\n")] = 0;
        }
        if (!boot[0]) cli_demo_sleep_ms(50);
    }
}

/* The producer, then (once it is up and its address known) the consumers,
 * node-e with a ticket expiring at exp_s. */
static int demo_spawn(child ch[NODES_MAX], char *self, char *dir, char *dur_s, char *exp_s,
                      char *http) {
    char *pargs[] = {self,
                     "demo",
                     "--node",
                     (char *)ch[0].name,
                     "--role",
                     "producer",
                     "--dir",
                     dir,
                     "--mrtd",
                     "good",
                     "--duration",
                     dur_s,
                     http ? "--http" : NULL,
                     http,
                     NULL};
    if (spawn(&ch[0], self, pargs) < 0) return cli_fail(CLI_IO, "demo: cannot start the producer");
    /* Wait for the producer's address (the consumers' bootstrap peer). */
    char boot[200] = "";
    double t_wait = cli_demo_now();
    while (!ch[0].ready && cli_demo_now() - t_wait < 15 && !cli_demo_stop)
        poll_children(ch, 1, 100);
    if (!ch[0].ready) return cli_fail(CLI_FAIL, "demo: the producer did not start");
    read_producer_addr(dir, boot, sizeof boot);
    if (!boot[0]) return cli_fail(CLI_FAIL, "demo: no producer address");
    for (int i = 1; i < g_n; i++) {
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
                         "--tee",
                         ch[i].snp ? "snp" : "tdx",
                         i == 5 ? "--expires" : NULL,
                         exp_s,
                         NULL};
        if (spawn(&ch[i], self, cargs) < 0) return cli_fail(CLI_IO, "demo: cannot start a node");
    }
    return CLI_OK;
}

/* Render the nodes' events until the duration is over (or a signal), with
 * the items each consumer received every two seconds. */
static void demo_watch(child ch[NODES_MAX], int duration) {
    double last_data = cli_demo_now();
    while (!cli_demo_stop && cli_demo_now() - g_t0 < duration) {
        poll_children(ch, (size_t)g_n, 100);
        if (cli_demo_now() - last_data >= 2.0) {
            last_data = cli_demo_now();
            if (!g_json) {
                char line[400];
                int off = snprintf(line, sizeof line, "data     items received:");
                for (int i = 1; i < g_n; i++)
                    off += snprintf(line + off, sizeof line - (size_t)off, " %s=%lld", ch[i].name,
                                    ch[i].items);
                say("%s", line);
            }
        }
    }
}

/* SIGTERM to every child, their final lines collected (up to 3 s), then
 * whatever is left killed; the temporary directory removed. */
static void demo_stop(child ch[NODES_MAX], const char *dir) {
    g_ending = true;
    for (int i = 0; i < g_n; i++)
        if (ch[i].pid > 0) kill(ch[i].pid, SIGTERM);
    double t_end = cli_demo_now();
    for (;;) {
        bool open = false;
        for (int i = 0; i < g_n; i++)
            open |= ch[i].fd >= 0;
        if (!open || cli_demo_now() - t_end > 3) break;
        poll_children(ch, (size_t)g_n, 100);
    }
    for (int i = 0; i < g_n; i++) {
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
}

/* What each consumer got: a table, or the JSON "end" event. */
static void demo_summary(const child ch[NODES_MAX]) {
    if (!g_json) {
        printf("\nsummary (simulated %s):\n", g_n > NODES_TDX ? "TDX and SEV-SNP" : "TDX");
        for (int i = 1; i < g_n; i++) {
            printf("  %-7s %-25s %-9s %6lld items", ch[i].name, ticket_label(&ch[i], false),
                   ch[i].admitted_once ? "admitted" : "refused", ch[i].items);
            if (ch[i].cut) printf("   cut off %lld ms after its ticket expired", ch[i].late_ms);
            printf("\n");
        }
        printf("  total time %.1f s\n", cli_demo_now() - g_t0);
        return;
    }
    json_t *o = json_pack("{s:s,s:s,s:f}", "node", "demo", "event", "end", "seconds",
                          cli_demo_now() - g_t0);
    json_t *sum = json_array();
    for (int i = 1; i < g_n; i++) {
        json_t *e =
            json_pack("{s:s,s:s,s:s,s:b,s:I}", "node", ch[i].name, "tee", ch[i].snp ? "snp" : "tdx",
                      ch[i].snp ? "measurement" : "mrtd", ch[i].mrtd, "admitted",
                      ch[i].admitted_once, "items", (json_int_t)ch[i].items);
        if (!ch[i].admitted_once && ch[i].refusal[0])
            json_object_set_new(e, "refusal", json_string(ch[i].refusal));
        if (ch[i].cut) json_object_set_new(e, "cut_off_late_ms", json_integer(ch[i].late_ms));
        json_array_append_new(sum, e);
    }
    json_object_set_new(o, "summary", sum);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("%s\n", s);
    free(s);
    json_decref(o);
}

static int parent_main(int duration, int expire_after, char *http) {
    char self[1024], dir[] = "/tmp/mosaik-demo-XXXXXX", mrtd[97], meas[97];
    int rc = demo_prepare(self, dir, mrtd, meas);
    if (rc != CLI_CONTINUE) return rc;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cli_demo_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    g_t0 = cli_demo_now();
    g_n = MOSAIK_HAVE_SNP ? NODES_MAX : NODES_TDX;
    demo_banner(dir, mrtd, meas, duration, expire_after);
    child ch[NODES_MAX] = {
        {.name = "producer", .mrtd = "good", .role = "producer"},
        {.name = "node-a", .mrtd = "good", .role = "consumer"},
        {.name = "node-b", .mrtd = "good", .role = "consumer"},
        {.name = "node-c", .mrtd = "other", .role = "consumer"},
        {.name = "node-d", .mrtd = "none", .role = "consumer"},
        {.name = "node-e", .mrtd = "good", .role = "consumer"},
        {.name = "node-f", .mrtd = "good", .role = "consumer", .snp = true},
        {.name = "node-g", .mrtd = "other", .role = "consumer", .snp = true},
    };
    for (int i = 0; i < NODES_MAX; i++)
        ch[i].fd = -1, ch[i].pid = -1;
    int64_t exp_e = mk_now() + expire_after;
    char dur_s[16], exp_s[32];
    snprintf(dur_s, sizeof dur_s, "%d", duration + 1);
    snprintf(exp_s, sizeof exp_s, "%lld", (long long)exp_e);
    rc = demo_spawn(ch, self, dir, dur_s, exp_s, http);
    if (rc == CLI_OK) demo_watch(ch, duration);
    demo_stop(ch, dir);
    if (rc == CLI_OK || g_json) demo_summary(ch);
    return rc;
}

void cli_demo_usage(FILE *f) {
    fprintf(f,
            "usage: mosaik demo [--json] [--duration SECONDS] [--expire-after SECONDS]\n"
            "                   [--http [IP:]PORT]\n"
            "\n"
            "Eight node processes on 127.0.0.1 form one mixed network; a producer serves\n"
            "a stream that admits only consumers whose TDX ticket shows the expected MRTD\n"
            "or whose SEV-SNP ticket shows the expected measurement. Two TDX nodes are\n"
            "admitted, one with other firmware and one without a ticket are refused, one\n"
            "is cut off when its ticket expires; one SNP node is admitted, one with\n"
            "another measurement refused. THE QUOTES ARE SIMULATED (test roots, trusted\n"
            "only because the demo says so). Without SEV-SNP support (MOSAIK_SNP=OFF)\n"
            "the two SNP nodes are not started.\n"
            "\n"
            "  --duration S         how long the network runs, %d..%d (default 14)\n"
            "  --expire-after S     when node-e's ticket expires, 2..(duration - 2)\n"
            "                       (default 8)\n"
            "  --json               one JSON object per line (the nodes' events, then\n"
            "                       \"end\" with the summary)\n"
            "  --http [IP:]PORT     the producer serves its status page there while the\n"
            "                       demo runs (IP defaults to 127.0.0.1; PORT 0: any)\n"
            "\n"
            "Exit status: 0 ran, 1 a node failed, 2 usage error, 3 a process or a file\n"
            "could not be made.\n",
            4, 3600);
}

/* The hidden node role's options (cmd_demo_node.c); CLI_CONTINUE or a
 * usage error. */
static int demo_node_option(int c, const char *arg, cli_demo_node_args *a, const char **role) {
    uint64_t v;
    switch (c) {
    case 'N':
        a->name = arg;
        break;
    case 'R':
        *role = arg;
        break;
    case 'D':
        a->dir = arg;
        break;
    case 'M':
        a->mrtd = arg;
        break;
    case 'T':
        if (strcmp(arg, "tdx") && strcmp(arg, "snp"))
            return cli_usage_error("demo: --tee wants tdx or snp, not '%s'", arg);
        a->snp = !strcmp(arg, "snp");
        break;
    case 'B':
        a->bootstrap = arg;
        break;
    case 'E':
        if (cli_parse_time("--expires", arg, &a->expires)) return CLI_USAGE;
        break;
    case 'u':
        if (cli_parse_u64("--duration", arg, 1, 3601, &v)) return CLI_USAGE;
        a->duration = (int)v;
        break;
    case 'H':
        a->http = arg;
        break;
    default:
        return cli_help_or_usage(c == 'h', cli_demo_usage);
    }
    return CLI_CONTINUE;
}

int cli_cmd_demo(int argc, char **argv) {
    cli_demo_node_args a = {.mrtd = "good", .duration = 14};
    const char *role = NULL, *expire_s = NULL;
    bool json = false;
    const cli_opt opts[] = {{"json", no_argument, 'j', NULL, &json},
                            {"duration", required_argument, 'u', NULL, NULL},
                            {"expire-after", required_argument, 'x', &expire_s, NULL},
                            {"node", required_argument, 'N', NULL, NULL},
                            {"role", required_argument, 'R', NULL, NULL},
                            {"dir", required_argument, 'D', NULL, NULL},
                            {"mrtd", required_argument, 'M', NULL, NULL},
                            {"tee", required_argument, 'T', NULL, NULL},
                            {"bootstrap", required_argument, 'B', NULL, NULL},
                            {"expires", required_argument, 'E', NULL, NULL},
                            {"http", required_argument, 'H', NULL, NULL},
                            {"help", no_argument, 'h', NULL, NULL},
                            {NULL, 0, 0, NULL, NULL}};
    int c, rc;
    optind = 0;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1)
        if ((rc = demo_node_option(c, optarg, &a, &role)) != CLI_CONTINUE) return rc;
    if (optind != argc) return cli_usage_error("demo: unexpected argument '%s'", argv[optind]);
    g_json = cli_json = json;
    if (a.name) {
        if (!a.dir || !role) return cli_usage_error("demo --node needs --dir and --role");
        a.producer = !strcmp(role, "producer");
        return cli_demo_node_main(&a);
    }
    if (a.duration < 4 || a.duration > 3600)
        return cli_usage_error("demo: --duration wants seconds in [4, 3600], not %d", a.duration);
    uint64_t expire_after = 8;
    if (expire_s &&
        cli_parse_u64("--expire-after", expire_s, 2, (uint64_t)a.duration - 2, &expire_after))
        return CLI_USAGE;
    if (!expire_s && expire_after > (uint64_t)a.duration - 2)
        return cli_usage_error("demo: --duration %d is too short for the default --expire-after 8 "
                               "(give --expire-after 2..%d)",
                               a.duration, a.duration - 2);
    return parent_main(a.duration, (int)expire_after, (char *)a.http);
}

#else /* !MOSAIK_HAVE_TDX */

int cli_cmd_demo(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_usage_error("demo: this build has no TDX support (MOSAIK_TDX=OFF)");
}

void cli_demo_usage(FILE *f) {
    fprintf(f, "usage: mosaik demo (this build has no TDX support)\n");
}

#endif
