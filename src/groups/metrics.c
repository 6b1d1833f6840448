/*
 * groups/metrics.c — groups' statistics in the Prometheus text format
 * (mk_group_metrics_prometheus), from one mk_group_status snapshot each.
 *
 * Each family is written once (its HELP and TYPE lines, then one sample
 * per group, as the exposition format requires of a family), its samples
 * labelled peer (this node, short id), group (the caller's name for it,
 * escaped as the format requires: backslash, double quote and newline)
 * and group_id (the group's id, short). Gauges are the state now (term,
 * indexes, sizes, leadership); counters only grow while the group lives.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "groups/groups_internal.h"

typedef struct gfam {
    const char *name;
    const char *type;
    const char *help;
    size_t off; /* of a uint64_t, unsigned or bool field of mk_group_status */
    char width; /* 'q' uint64_t, 'u' unsigned, 'b' bool */
} gfam;

#define Q(field, name, type, help)                                                                 \
    { name, type, help, offsetof(mk_group_status, field), 'q' }
#define U(field, name, type, help)                                                                 \
    { name, type, help, offsetof(mk_group_status, field), 'u' }
#define B(field, name, type, help)                                                                 \
    { name, type, help, offsetof(mk_group_status, field), 'b' }

static const gfam gfams[] = {
    B(is_leader, "mosaik_group_is_leader", "gauge", "1 when this node leads the group"),
    B(in_config, "mosaik_group_in_config", "gauge", "1 when this node is in the configuration"),
    Q(term, "mosaik_group_term", "gauge", "Raft term"),
    Q(commit, "mosaik_group_commit_index", "gauge", "Commit index known here"),
    Q(applied, "mosaik_group_applied_index", "gauge", "Last applied index"),
    U(members, "mosaik_group_members", "gauge", "Configuration size (voters and standbys)"),
    U(voters, "mosaik_group_voters", "gauge", "Voters (writers) in the configuration"),
    U(bonds, "mosaik_group_bonds", "gauge", "Established, unexpired bonds"),
    U(sessions, "mosaik_group_sessions", "gauge", "Client sessions in the replicated table"),
    Q(snapshots_restored, "mosaik_group_snapshots_restored_total", "counter",
      "Snapshots installed here"),
    Q(refused_readers, "mosaik_group_reader_commands_refused_total", "counter",
      "Commands refused because a reader sent them"),
    Q(bonds_refused, "mosaik_group_bonds_refused_total", "counter",
      "Bond handshakes or validations that failed"),
    Q(bonds_expired, "mosaik_group_bonds_expired_total", "counter",
      "Bonds closed by expiry or revalidation"),
    Q(writers_refused, "mosaik_group_writers_refused_total", "counter",
      "Writer claims refused by the writer validators"),
    Q(duplicates, "mosaik_group_duplicate_commands_total", "counter",
      "Commands found again in the log and not re-run"),
    Q(stale_commands, "mosaik_group_stale_commands_total", "counter",
      "Commands below their session's floor, not run"),
};

/* name as a label value: \ " and newline escaped; at most 128 bytes kept. */
static void label_escape(const char *name, char *out, size_t n) {
    size_t j = 0;
    for (size_t i = 0; name && name[i] && i < 128 && j + 3 < n; i++) {
        char c = name[i];
        if (c == '\\' || c == '"') {
            out[j++] = '\\';
            out[j++] = c;
        } else if (c == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = c;
        }
    }
    out[j] = '\0';
}

static uint64_t field_value(const mk_group_status *st, const gfam *f) {
    const uint8_t *p = (const uint8_t *)st + f->off;
    if (f->width == 'q') {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    if (f->width == 'u') {
        unsigned v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    bool b;
    memcpy(&b, p, sizeof b);
    return b ? 1 : 0;
}

typedef struct gsample {
    mk_group_status st;
    char peer[9], id[9], label[2 * 128 + 1];
} gsample;

int mk_group_metrics_prometheus(mk_group *const *groups, const char *const *names, size_t n,
                                mk_buf *out) {
    if (!out || (n && !groups) || n > MK_GROUP_METRICS_MAX) return MK_EINVAL;
    if (n == 0) return 0;
    gsample *s = calloc(n, sizeof *s);
    if (!s) return MK_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        mk_id self, gid;
        mk_group_status_get(groups[k], &s[k].st);
        mk_network_peer_id(groups[k]->nw, &self);
        mk_group_id(groups[k], &gid);
        mk_id_short(&self, s[k].peer);
        mk_id_short(&gid, s[k].id);
        label_escape(names ? names[k] : "", s[k].label, sizeof s[k].label);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof gfams / sizeof gfams[0]; i++) {
        const gfam *f = &gfams[i];
        rc = mk_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
        for (size_t k = 0; rc == 0 && k < n; k++)
            rc = mk_buf_printf(out, "%s{peer=\"%s\",group=\"%s\",group_id=\"%s\"} %" PRIu64 "\n",
                               f->name, s[k].peer, s[k].label, s[k].id, field_value(&s[k].st, f));
    }
    free(s);
    return rc;
}
