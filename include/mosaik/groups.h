/*
 * mosaik/groups.h — groups: replicated state machines on canonical raft.
 *
 * A group is a set of peers that agree on the log of one state machine.
 *
 * Identity. A group id is derived from a group key, the state machine's
 * signature and the signature of every validator the group requires
 * (mk_group_id_derive). The group key is a 32-byte secret shared by the
 * members, or derived from the validator set (mk_group_key_from_validators)
 * so that nodes configured with the same validators meet in the same group
 * without sharing a secret.
 *
 * Membership. A member is a peer whose discovery entry lists the group id
 * (served kind MK_SERVED_GROUP) and passes every validator of the group.
 * Members bond over authenticated connections (net protocol "groups"): each
 * side proves knowledge of the group key with HMAC(group key, TLS exporter
 * of that connection) in both directions, so a bond cannot be replayed on
 * another connection (the key is known to every member, so the role in a
 * HELLO is a claim: only writer_validators make it an authorization).
 * Validators are checked at bond time and on every
 * entry update received from discovery (the signed, discovery-verified
 * entry; nothing a member relays counts); a bond closes at the earliest
 * expiration of the peer's admission.
 *
 * Consensus. Canonical raft (libraft) with its libuv I/O backend: the log
 * and snapshots live in the group's data directory. Raft's transport is
 * bridged onto the bonds (raft never opens a port): see docs/groups.md. The
 * leader adds bonded, validated members to the raft configuration (voters;
 * readers as standbys that never vote) and removes members whose admission
 * lapsed or who departed. A node bootstraps the group only when told to
 * (config.bootstrap) and only with a pristine data directory.
 *
 * Threading. Each group runs raft on a loop thread of its own. Every
 * function here may be called from any thread except the group's loop and
 * the network's I/O thread (the blocking ones would deadlock there). State
 * machine callbacks run on the group's loop with the group's state lock
 * held; weak queries take the same lock on the caller's thread.
 */
#ifndef MOSAIK_GROUPS_H
#define MOSAIK_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/discovery.h"
#include "mosaik/error.h"
#include "mosaik/export.h"
#include "mosaik/id.h"
#include "mosaik/ticket.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MK_GROUPS_PROTOCOL "groups"
#define MK_GROUP_MAX_COMMAND ((size_t)1 << 20) /* one command or query */
#define MK_GROUP_MAX_RESULT ((size_t)1 << 20)  /* one result */
#define MK_GROUP_MAX_SNAPSHOT ((size_t)256 << 20)
#define MK_GROUP_MAX_MEMBERS 64
#define MK_GROUP_DEFAULT_TIMEOUT_MS 10000u

/* ----- identity -------------------------------------------------------- */

/* The group key derived from a validator set's signature (public: anyone
 * with the same validator configuration derives the same key). */
MK_EXTERN void mk_group_key_from_validators(const mk_validator_set *vs, mk_id *key);
/* group id = derive(derive(derive(from_name("mosaik.groups.id.v1"), key),
 * sm signature), validator-set signature) where the validator-set
 * signature covers every validator (order-independent). vs may be NULL
 * (no validators). */
MK_EXTERN void mk_group_id_derive(const mk_id *key, const mk_id *sm_signature,
                                  const mk_validator_set *vs, mk_id *out);

/* ----- state machines -------------------------------------------------- */

/* A deterministic state machine. Every callback runs with the group's
 * state lock held; none may call back into the group. */
typedef struct mk_group_sm {
    /* Apply one committed command; append the result to *result (capped at
     * MK_GROUP_MAX_RESULT). A negative return is the command's status (it
     * is still committed: it must leave the state as it was). */
    int (*apply)(void *state, const uint8_t *cmd, size_t len, mk_buf *result);
    /* Read-only query. */
    int (*query)(void *state, const uint8_t *q, size_t len, mk_buf *result);
    /* Serialise the whole state / replace it from a snapshot. restore must
     * treat data as untrusted (mk_reader) and change nothing on failure. */
    int (*snapshot)(void *state, mk_buf *out);
    int (*restore)(void *state, const uint8_t *data, size_t len);
    void *state;
} mk_group_sm;

typedef enum mk_group_role {
    MK_GROUP_WRITER = 0, /* voter; may propose commands */
    MK_GROUP_READER = 1, /* raft standby: replicates, never votes; the leader refuses its
                            commands (an enforcement boundary only with writer_validators) */
} mk_group_role;

typedef struct mk_group_config {
    mk_id key;                          /* the group key */
    mk_id sm_signature;                 /* the state machine's signature */
    const mk_group_sm *sm;              /* copied; sm->state must outlive the group */
    const mk_validator_set *validators; /* borrowed, outlives the group; NULL: none */
    /* Writer authorization (borrowed; NULL or empty: none). A peer whose
     * HELLO claims the writer role is treated as a writer (voter, may
     * propose) only if its signed discovery entry also passes every one of
     * these; otherwise it is bonded as a reader (standby; the leader
     * refuses its commands and counts writers_refused). Without writer
     * validators every admitted member may write: the reader role is then
     * only a self-restriction (see docs/groups.md). Covered by the group id
     * when non-empty. */
    const mk_validator_set *writer_validators;
    /* The same as specs, by value (mosaik/ticket.h, docs/validators.md):
     * the group makes and owns a validator from each, required besides the
     * borrowed sets' (either form, or both). */
    const mk_validator_spec *validator_specs;
    size_t n_validator_specs;
    const mk_validator_spec *writer_specs;
    size_t n_writer_specs;
    /* Derive the key from all the group's member validators
     * (mk_group_key_from_validators) instead of taking `key`, which must
     * then stay zero (else MK_EINVAL). */
    bool key_from_validators;
    const char *data_dir; /* raft log + snapshots (created if missing) */
    bool bootstrap;       /* pristine data dir: start a one-member group */
    mk_group_role role;
    uint32_t election_ms;        /* 0: 1000 */
    uint32_t heartbeat_ms;       /* 0: 100 */
    unsigned snapshot_threshold; /* 0: 1024 entries */
    unsigned snapshot_trailing;  /* 0: 128 entries */
    uint32_t tick_ms;            /* membership/expiry tick; 0: 100 */
    /* Refusals (the network's ring, mk_network_refusals, and the log) name
     * the group by this (NULL: the first 8 hex digits of its id) and the
     * layer (collections set MK_REFUSAL_COLLECTION). */
    const char *name;
    mk_refusal_layer layer;
} mk_group_config;

MK_EXTERN void mk_group_config_init(mk_group_config *cfg);

typedef struct mk_group mk_group;

/* Join: advertise the group in the local entry, start raft on a loop
 * thread, bond with validated members. */
MK_EXTERN int mk_group_new(mk_network *nw, const mk_group_config *cfg, mk_group **out,
                           mk_error *err);
/* Stop raft (the data directory stays), close bonds, withdraw the group
 * from the entry, free. NULL is fine. Call before mk_network_free. */
MK_EXTERN void mk_group_free(mk_group *g);

MK_EXTERN void mk_group_id(const mk_group *g, mk_id *out);

/* Propose a command and wait for it to commit and apply (on any member: a
 * follower forwards it to the leader). *result (may be NULL) gets the
 * state machine's result; the return is the apply status. Readers get
 * MK_EPOLICY. MK_ETIMEDOUT when no leader committed it in time (it may
 * still commit later). Exactly-once: one call applies its command at most
 * once however often it is re-proposed (leader changes, lost bonds), and
 * a re-proposal that finds it applied gets the first application's status
 * and result (docs/groups.md, "Exactly-once commands"). */
MK_EXTERN int mk_group_apply(mk_group *g, const void *cmd, size_t len, mk_buf *result,
                             uint32_t timeout_ms, mk_error *err);

typedef enum mk_group_consistency {
    MK_GROUP_WEAK = 0,   /* local state, possibly stale */
    MK_GROUP_STRONG = 1, /* run on the leader after a barrier (linearizable) */
} mk_group_consistency;

MK_EXTERN int mk_group_query(mk_group *g, mk_group_consistency c, const void *q, size_t len,
                             mk_buf *result, uint32_t timeout_ms, mk_error *err);

typedef enum mk_group_condition {
    MK_GROUP_LEADER_KNOWN = 1, /* some leader is known */
    MK_GROUP_ONLINE = 2,       /* in the configuration, leader known, caught up to its commit */
    MK_GROUP_INDEX = 3,        /* applied index >= arg */
    MK_GROUP_IS_LEADER = 4,    /* this node leads */
    MK_GROUP_MEMBERS = 5,      /* the configuration has >= arg members */
} mk_group_condition;

/* Wait for a condition: 0, or MK_ETIMEDOUT (timeout_ms 0: only check). */
MK_EXTERN int mk_group_wait(mk_group *g, mk_group_condition c, uint64_t arg, uint32_t timeout_ms);

typedef struct mk_group_status {
    bool is_leader;
    bool leader_known;
    mk_id leader; /* valid when leader_known */
    uint64_t term;
    uint64_t applied; /* last applied index */
    uint64_t commit;  /* commit index known here */
    unsigned members; /* configuration size (voters + standbys) */
    unsigned voters;
    unsigned bonds; /* established, unexpired bonds */
    bool in_config; /* this node is in the configuration */
    uint64_t snapshots_restored;
    uint64_t refused_readers; /* commands refused because they came from readers */
    uint64_t bonds_refused;   /* handshakes or validations that failed */
    uint64_t bonds_expired;   /* bonds closed by expiration or revalidation */
    uint64_t writers_refused; /* writer claims refused by the writer validators */
    unsigned vcache;          /* entries in the validation cache */
    /* Exactly-once (docs/groups.md): counted as this member applies the
     * log (entries a restored snapshot covers are not counted here). */
    uint64_t duplicates;     /* commands found again in the log: not re-run */
    uint64_t stale_commands; /* commands below their session's floor: not run */
    unsigned sessions;       /* sessions in the replicated table */
    /* The latest refusal a member sent this node (its validators' reason,
     * e.g. "tdx: MRTD mismatch: ..."); "" when none, or once a bond with
     * that member formed. Calls that find no reachable leader then fail
     * with "not admitted: <peer>: <reason>". */
    bool refused;
    mk_id refused_by;
    char refusal[MK_REFUSAL_REASON_MAX + 1];
} mk_group_status;

MK_EXTERN void mk_group_status_get(mk_group *g, mk_group_status *out);

/* The statistics of n groups (names[k] labels groups[k]; names may be
 * NULL) in the Prometheus text format, appended to out: each family once
 * (mosaik_group_term, _commit_index, _applied_index, _members, _voters,
 * _bonds, _sessions, _is_leader, _in_config and the *_total counters of
 * mk_group_status), one sample per group labelled peer, group and
 * group_id. At most MK_GROUP_METRICS_MAX groups (else MK_EINVAL). */
#define MK_GROUP_METRICS_MAX 1024
MK_EXTERN int mk_group_metrics_prometheus(mk_group *const *groups, const char *const *names,
                                          size_t n, mk_buf *out);

/* One member of the raft configuration, as this node last saw it. */
typedef struct mk_group_member {
    mk_id peer;
    bool voter;  /* a writer (voter); false: a reader (standby) */
    bool leader; /* the leader this node knows */
    bool self;   /* this node */
    bool bonded; /* bonded with this node now (false for self) */
} mk_group_member;

/* The configuration's members (refreshed with the status, at most
 * MK_GROUP_MAX_MEMBERS): up to cap copied into out; returns how many
 * there are (out may be NULL with cap 0). */
MK_EXTERN size_t mk_group_members(mk_group *g, mk_group_member *out, size_t cap);
/* Is peer bonded with this node in this group right now? */
MK_EXTERN bool mk_group_bonded(mk_group *g, const mk_id *peer);
/* Ask raft to hand leadership to another voter (0: any). */
MK_EXTERN int mk_group_transfer(mk_group *g, const mk_id *to, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
