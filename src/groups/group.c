/*
 * group.c — the lifecycle of a group: join and free.
 *
 * Join, in steps, each undone if a later one fails:
 *   1. check the configuration and create the data directory;
 *   2. make the group record: its validators and key (specs.c: the
 *      borrowed sets, or its own made from specs), copy the configuration
 *      (defaults for the timers), derive the group id (ident.c: key, state machine signature,
 *      validators, and the writer validators when there are some), the
 *      raft id and address of this node, the locks;
 *   3. the loop with its handles (loop.c), raft on it: the FSM (fsm.c),
 *      the transport over bonds (bridge.c), raft_uv storage in the data
 *      directory, the timeouts, a bootstrap when asked for (raft refuses it
 *      on a directory that is not pristine), raft_start, the timers;
 *   4. enter the group into the network's host (host.c), advertise it in
 *      the local entry (MK_SERVED_GROUP), start the loop thread.
 * Before the thread runs, a failure is undone on the caller's thread: raft
 * is closed and the loop run until it has nothing left, then freed.
 *
 * Free: leave the host first (no I/O callback reaches the group after),
 * withdraw the group from the local entry, end every bond with BYE, then
 * stop the loop (g->stopping; loop.c closes raft) and join its thread.
 * The data directory stays.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "groups/groups_internal.h"
#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "mosaik/log.h"

void mk_group_config_init(mk_group_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->role = MK_GROUP_WRITER;
}

static int mkdir_p(const char *path) {
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
            tmp[i] = c;
        }
    }
    return 0;
}

static void group_destroy(mk_group *g) {
    pthread_mutex_lock(&g->qmu);
    mk_gjob *list = g->qhead;
    g->qhead = g->qtail = NULL;
    pthread_mutex_unlock(&g->qmu);
    while (list) {
        mk_gjob *j = list;
        list = j->next;
        mk_gjob_free(g, j, MK_ESTATE);
    }
    pthread_mutex_lock(&g->bmu);
    while (g->bonds)
        mk_gbond_drop_locked(g, &g->bonds->peer, false);
    pthread_mutex_unlock(&g->bmu);
    uv_loop_close(&g->loop);
    close(g->wake_fd);
    free(g->pump_buf);
    free(g->vc);
    mk_gspecs_free(g);
    free(g->data_dir);
    pthread_mutex_destroy(&g->qmu);
    pthread_mutex_destroy(&g->bmu);
    pthread_mutex_destroy(&g->smu);
    pthread_cond_destroy(&g->cond);
    free(g);
}

static int check_config(mk_network *nw, const mk_group_config *cfg, mk_error *err) {
    if (!nw || !cfg || !cfg->sm || !cfg->sm->apply || !cfg->data_dir)
        return mk_error_set(err, MK_EINVAL, "group config needs a network, sm and data_dir");
    if (cfg->role != MK_GROUP_WRITER && cfg->role != MK_GROUP_READER)
        return mk_error_set(err, MK_EINVAL, "bad role");
    if (mkdir_p(cfg->data_dir) != 0)
        return mk_error_set(err, MK_EIO, "cannot create %s: %s", cfg->data_dir, strerror(errno));
    return 0;
}

/* Step 2: the record's fields, identity and locks (data_dir NULL when out
 * of memory). */
static void group_init(mk_group *g, mk_network *nw, const mk_group_config *cfg) {
    g->nw = nw;
    g->net = mk_network_transport(nw);
    g->cfg = *cfg;
    /* Read only at join (specs.c): nothing points into the caller's specs. */
    g->cfg.validator_specs = g->cfg.writer_specs = NULL;
    g->cfg.n_validator_specs = g->cfg.n_writer_specs = 0;
    g->sm = *cfg->sm;
    g->data_dir = strdup(cfg->data_dir);
    g->cfg.data_dir = g->data_dir;
    if (!g->cfg.election_ms) g->cfg.election_ms = 1000;
    if (!g->cfg.heartbeat_ms) g->cfg.heartbeat_ms = 100;
    if (!g->cfg.tick_ms) g->cfg.tick_ms = 100;
    mk_network_peer_id(nw, &g->self);
    g->self_rid = mk_group_rid_of(&g->self);
    mk_id_to_hex(&g->self, g->self_addr);
    mk_group_id_derive(&g->key, &cfg->sm_signature, g->vs, &g->id);
    if (g->wvs) {
        /* Members must agree on who may write: the writer set is part of
         * the group's identity. */
        mk_id id2;
        mk_group_id_with_writers(&g->id, g->wvs, &id2);
        g->id = id2;
    }
    /* The name refusals are recorded under (the id may change above). */
    if (cfg->name && *cfg->name)
        snprintf(g->name, sizeof g->name, "%s", cfg->name);
    else
        mk_id_short(&g->id, g->name);
    g->cfg.name = g->name;
    mk_graft_limits_init(&g->rlim, cfg->snapshot_threshold, cfg->snapshot_trailing,
                         cfg->sm->snapshot != NULL);
    mk_graft_limits_trusted(&g->tlim);
    (void)mk_random_bytes(&g->next_seq, sizeof g->next_seq);
    g->next_seq >>= 1;
    pthread_mutex_init(&g->qmu, NULL);
    pthread_mutex_init(&g->bmu, NULL);
    pthread_mutex_init(&g->smu, NULL);
    mk_cond_init_mono(&g->cond);
}

/* Undo a join whose raft never started: close the handles, run the loop
 * dry, free. */
static void discard_unstarted(mk_group *g) {
    uv_close((uv_handle_t *)&g->wake, NULL);
    uv_close((uv_handle_t *)&g->tick, NULL);
    uv_close((uv_handle_t *)&g->fast, NULL);
    uv_run(&g->loop, UV_RUN_DEFAULT);
    group_destroy(g);
}

/* Undo a join whose raft started but whose thread did not. */
static void discard_started(mk_group *g) {
    mk_gloop_begin_shutdown(g);
    uv_run(&g->loop, UV_RUN_DEFAULT);
    group_destroy(g);
}

/* ----- the cluster identity ------------------------------------------------ */

/* File "mosaik-cluster" in the data directory: "v1 " and 48 hex digits (the
 * bootstrapper's raft id u64 big-endian, a 16-byte nonce), a newline. */
#define CLUSTER_FILE "mosaik-cluster"
#define CLUSTER_TEXT 52

/* Read it: 0 (missing: not known yet) or an error. */
static int cluster_load(mk_group *g, mk_error *err) {
    char path[4200], text[CLUSTER_TEXT + 2];
    snprintf(path, sizeof path, "%s/" CLUSTER_FILE, g->data_dir);
    FILE *f = fopen(path, "re");
    if (!f) return errno == ENOENT ? 0 : mk_error_set(err, MK_EIO, "%s: %s", path, strerror(errno));
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    uint8_t raw[24];
    mk_reader r;
    mk_reader_init(&r, raw, sizeof raw);
    if (n == CLUSTER_TEXT && memcmp(text, "v1 ", 3) == 0 && text[n - 1] == '\n') {
        text[n - 1] = 0;
        if (mk_hex_decode_exact(text + 3, raw, sizeof raw, NULL) == 0 &&
            mk_read_u64be(&r, &g->cluster.rid) == 0 &&
            mk_read_bytes(&r, g->cluster.nonce, sizeof g->cluster.nonce) == 0 && g->cluster.rid)
            return 0;
    }
    memset(&g->cluster, 0, sizeof g->cluster);
    return mk_error_set(err, MK_EMALFORMED, "%s: not a cluster identity", path);
}

int mk_group_cluster_save(mk_group *g) {
    uint8_t raw[24];
    char hex[2 * sizeof raw + 1], text[CLUSTER_TEXT + 1], path[4200], tmp[4210];
    mk_writer w;
    mk_writer_init(&w, raw, sizeof raw);
    mk_write_u64be(&w, g->cluster.rid);
    mk_write_bytes(&w, g->cluster.nonce, sizeof g->cluster.nonce);
    mk_hex_encode(raw, sizeof raw, hex);
    snprintf(text, sizeof text, "v1 %s\n", hex);
    snprintf(path, sizeof path, "%s/" CLUSTER_FILE, g->data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, text, CLUSTER_TEXT) == CLUSTER_TEXT && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (ok) return 0;
    mk_log(MK_LOG_WARN, "groups", "cannot save %s: %s", path, strerror(errno));
    (void)unlink(tmp);
    return MK_EIO;
}

/* A pristine data directory gets a one-member configuration of this node
 * and a new cluster identity; another one keeps what it has. */
static int bootstrap(mk_group *g, mk_error *err) {
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rc = raft_configuration_add(&conf, g->self_rid, g->self_addr, RAFT_VOTER);
    if (rc == 0) rc = raft_bootstrap(&g->raft, &conf);
    raft_configuration_close(&conf);
    if (rc == RAFT_CANTBOOTSTRAP) return 0;
    if (rc != 0) {
        mk_log(MK_LOG_WARN, "groups", "bootstrap: %s", raft_strerror(rc));
        return 0;
    }
    g->cluster.rid = g->self_rid;
    (void)mk_random_bytes(g->cluster.nonce, sizeof g->cluster.nonce);
    if (mk_group_cluster_save(g) < 0)
        return mk_error_set(err, MK_EIO, "cannot save the cluster identity in %s", g->data_dir);
    return 0;
}

/* Raft's timeouts. A snapshot dropped by a busy follower gets no answer:
 * the leader retries after the install-snapshot timeout (libraft: 30 s),
 * here five election timeouts, at least 2 s. */
static void raft_timeouts(mk_group *g, const mk_group_config *cfg) {
    uint32_t snap_ms = 5 * g->cfg.election_ms;
    raft_set_election_timeout(&g->raft, g->cfg.election_ms);
    raft_set_heartbeat_timeout(&g->raft, g->cfg.heartbeat_ms);
    raft_set_install_snapshot_timeout(&g->raft, snap_ms < 2000 ? 2000 : snap_ms);
    raft_set_pre_vote(&g->raft, true);
    if (cfg->snapshot_threshold) raft_set_snapshot_threshold(&g->raft, cfg->snapshot_threshold);
    if (cfg->snapshot_trailing) raft_set_snapshot_trailing(&g->raft, cfg->snapshot_trailing);
}

/* Step 3; on failure g is freed. */
static int raft_setup(mk_group *g, const mk_group_config *cfg, mk_error *err) {
    mk_gfsm_setup(g);
    mk_gbridge_setup(g);
    int rc = raft_uv_init(&g->io, &g->loop, g->data_dir, &g->trans);
    if (rc != 0) {
        mk_error_set(err, MK_EIO, "raft_uv_init(%s): %s", g->data_dir, g->io.errmsg);
        discard_unstarted(g);
        return MK_EIO;
    }
    raft_uv_set_connect_retry_delay(&g->io, 100);
    rc = raft_init(&g->raft, &g->io, &g->fsm, g->self_rid, g->self_addr);
    if (rc != 0) {
        mk_error_set(err, MK_EIO, "raft_init: %s", raft_strerror(rc));
        raft_uv_close(&g->io);
        discard_unstarted(g);
        return MK_EIO;
    }
    raft_timeouts(g, cfg);
    rc = cluster_load(g, err);
    if (rc == 0 && cfg->bootstrap) rc = bootstrap(g, err);
    if (rc < 0) {
        discard_started(g);
        return rc;
    }
    rc = raft_start(&g->raft);
    if (rc != 0) {
        mk_error_set(err, MK_EIO, "raft_start: %s", raft_errmsg(&g->raft));
        discard_started(g);
        return MK_EIO;
    }
    mk_gloop_start_timers(g);
    return 0;
}

/* Step 4; on failure g is freed. */
static int attach(mk_group *g, mk_error *err) {
    int rc = mk_ghost_join(g, err);
    if (rc == 0) rc = mk_network_add_served(g->nw, MK_SERVED_GROUP, &g->id, err);
    if (rc == 0) rc = mk_gloop_spawn(g, err);
    if (rc < 0) {
        mk_ghost_leave(g);
        pthread_mutex_lock(&g->qmu);
        g->stopping = true;
        pthread_mutex_unlock(&g->qmu);
        discard_started(g);
        return rc;
    }
    g->thread_started = true;
    return 0;
}

int mk_group_new(mk_network *nw, const mk_group_config *cfg, mk_group **out, mk_error *err) {
    *out = NULL;
    int rc = check_config(nw, cfg, err);
    if (rc < 0) return rc;
    mk_group *g = calloc(1, sizeof *g);
    if (!g) return mk_error_set(err, MK_ENOMEM, "out of memory");
    rc = mk_gspecs_make(g, cfg, err);
    if (rc < 0) {
        free(g);
        return rc;
    }
    group_init(g, nw, cfg);
    rc = g->data_dir ? mk_gloop_init(g, err) : mk_error_set(err, MK_ENOMEM, "out of memory");
    if (rc < 0) {
        mk_gspecs_free(g);
        free(g->data_dir);
        free(g);
        return rc;
    }
    rc = raft_setup(g, cfg, err);
    if (rc == 0) rc = attach(g, err);
    if (rc < 0) return rc;
    *out = g;
    return 0;
}

void mk_group_free(mk_group *g) {
    if (!g) return;
    mk_ghost_leave(g);
    (void)mk_network_remove_served(g->nw, MK_SERVED_GROUP, &g->id, NULL);
    pthread_mutex_lock(&g->bmu);
    while (g->bonds)
        mk_gbond_drop_locked(g, &g->bonds->peer, true);
    pthread_mutex_unlock(&g->bmu);
    pthread_mutex_lock(&g->qmu);
    g->stopping = true;
    pthread_mutex_unlock(&g->qmu);
    mk_gloop_wake(g);
    if (g->thread_started) pthread_join(g->thread, NULL);
    group_destroy(g);
}

void mk_group_id(const mk_group *g, mk_id *out) {
    *out = g->id;
}
