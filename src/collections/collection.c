/*
 * collection.c — collections as groups: identity, handles, the calls
 * every kind has, and the plumbing of the per-kind calls (map.c, vec.c,
 * cell.c, pq.c, typed.c).
 *
 * Identity: collection id = D(N("mosaik.collections.v1"), name); the group
 * key = D(N("mosaik.collections.key.v1"), collection id) and the state
 * machine signature = D(D(N("mosaik.collections.sm.v2"), kind), capacity),
 * so handles agree on the group iff they agree on name, kind, capacity and
 * validators (the group id covers the validators), and run the same state
 * machine: v2 has commands v1 refuses (state.c), and a group of v1 and v2
 * members would diverge on them, so the signature keeps them apart. The
 * key is not secret: a collection without require_ticket is open to any
 * node of the network that knows its name; require_ticket is what
 * restricts it. The codecs are not part of the identity (they are a view
 * of the same bytes).
 *
 * Validators: the configuration (and declaration) hold specs by value; the
 * handle makes its own member and writer validator sets from them before
 * the group starts and frees them after the group, which borrows them.
 *
 * Every call encodes one command or query (coll_internal.h), runs it
 * through the group (mk_group_apply / mk_group_query) and decodes the
 * result with mk_reader. Mutations return the version they produced.
 * Waiting for a version or for an update polls the local version after
 * each apply (mk_group_wait on the next index, at most 50 ms at a time),
 * reading the applied index before the version, so an apply in between is
 * not slept through.
 */
#include <stdlib.h>
#include <string.h>

#include "collections/coll_internal.h"
#include "core/timeutil.h"

void mk_collection_config_init(mk_collection_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->role = MK_GROUP_WRITER;
}

static bool kind_ok(mk_collection_kind k) {
    return k >= MK_COLL_MAP && k <= MK_COLL_PQ;
}

/* Make c's member and writer validators from cfg's specs, and the
 * instance's own (inst, may be NULL) besides the member ones. */
static int make_validators(mk_collection *c, const mk_collection_config *cfg,
                           const mk_collection_config *inst, mk_error *err) {
    int rc = mk_validator_set_add_specs(&c->validators, cfg->validators, cfg->n_validators, err);
    if (rc == 0 && inst)
        rc = mk_validator_set_add_specs(&c->validators, inst->validators, inst->n_validators, err);
    if (rc < 0) return mk_error_prefix(err, rc, "collection %s", cfg->name ? cfg->name : "?");
    rc = mk_validator_set_add_specs(&c->writers, cfg->writer_validators, cfg->n_writer_validators,
                                    err);
    if (rc < 0)
        return mk_error_prefix(err, rc, "collection %s: writer", cfg->name ? cfg->name : "?");
    return 0;
}

/* Open into c (allocated by the caller, its validators made, freed by it
 * on failure). */
static int open_into(mk_collection *c, mk_network *nw, const mk_collection_config *cfg,
                     mk_error *err) {
    if (!cfg || !cfg->name || !cfg->name[0] || !kind_ok(cfg->kind) || !cfg->data_dir)
        return mk_error_set(err, MK_EINVAL, "collection needs a name, a kind and a data_dir");
    bool have_v = c->validators.n > 0;
    if (cfg->require_ticket && !have_v)
        return mk_error_set(err, MK_EINVAL, "require_ticket without any validator");
    if (!cfg->require_ticket && have_v)
        return mk_error_set(err, MK_EINVAL, "validators given but require_ticket is false");
    if (cfg->capacity > MK_COLL_MAX_ITEMS)
        return mk_error_set(err, MK_ETOOBIG, "capacity over %zu", (size_t)MK_COLL_MAX_ITEMS);
    c->kind = cfg->kind;
    c->role = cfg->role;
    c->key_codec = cfg->key_codec ? cfg->key_codec : &mk_codec_bytes;
    c->value_codec = cfg->value_codec ? cfg->value_codec : &mk_codec_bytes;
    c->state = mk_coll_state_new(cfg->kind, cfg->capacity);
    if (!c->state) return mk_error_set(err, MK_ENOMEM, "out of memory");
    size_t capacity = cfg->capacity ? cfg->capacity : MK_COLL_DEFAULT_CAPACITY;

    mk_id base, cid, kbase, sbase, s1;
    mk_id_from_name(&base, "mosaik.collections.v1");
    mk_id_derive(&cid, &base, cfg->name, strlen(cfg->name));
    mk_group_config g;
    mk_group_config_init(&g);
    mk_id_from_name(&kbase, "mosaik.collections.key.v1");
    mk_id_derive(&g.key, &kbase, cid.b, sizeof cid.b);
    uint8_t kb = (uint8_t)cfg->kind, capb[8];
    mk_writer w; /* capacity as u64 big-endian */
    mk_writer_init(&w, capb, sizeof capb);
    mk_write_u64be(&w, (uint64_t)capacity);
    mk_id_from_name(&sbase, "mosaik.collections.sm.v2");
    mk_id_derive(&s1, &sbase, &kb, 1);
    mk_id_derive(&g.sm_signature, &s1, capb, sizeof capb);
    mk_group_sm sm = mk_coll_state_sm(c->state);
    g.sm = &sm;
    g.validators = cfg->require_ticket ? &c->validators : NULL;
    g.writer_validators = c->writers.n ? &c->writers : NULL;
    g.data_dir = cfg->data_dir;
    g.bootstrap = cfg->bootstrap;
    g.role = cfg->role;
    g.election_ms = cfg->election_ms;
    g.heartbeat_ms = cfg->heartbeat_ms;
    g.tick_ms = cfg->tick_ms;
    g.snapshot_threshold = cfg->snapshot_threshold;
    g.snapshot_trailing = cfg->snapshot_trailing;
    g.name = cfg->name;
    g.layer = MK_REFUSAL_COLLECTION;
    int rc = mk_group_new(nw, &g, &c->group, err);
    if (rc < 0) {
        mk_coll_state_free(c->state);
        c->state = NULL;
    }
    return rc;
}

static mk_collection *handle_new(void) {
    mk_collection *c = calloc(1, sizeof *c);
    if (c) {
        mk_validator_set_init(&c->validators);
        mk_validator_set_init(&c->writers);
    }
    return c;
}

static void handle_free(mk_collection *c) {
    mk_validator_set_free(&c->validators);
    mk_validator_set_free(&c->writers);
    free(c);
}

int mk_collection_new(mk_network *nw, const mk_collection_config *cfg, mk_collection **out,
                      mk_error *err) {
    *out = NULL;
    if (!cfg) return mk_error_set(err, MK_EINVAL, "no collection configuration");
    mk_collection *c = handle_new();
    if (!c) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = make_validators(c, cfg, NULL, err);
    if (rc == 0) rc = open_into(c, nw, cfg, err);
    if (rc < 0) {
        handle_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* The fields a declaration gives are left at their defaults in cfg. */
static bool def_fields_unset(const mk_collection_config *cfg) {
    return !cfg->name && cfg->kind == 0 && cfg->capacity == 0 && !cfg->require_ticket &&
           !cfg->key_codec && !cfg->value_codec;
}

int mk_collection_new_from_def(mk_network *nw, const mk_collection_def *def,
                               const mk_collection_config *node, mk_collection **out,
                               mk_error *err) {
    *out = NULL;
    if (!def || !node) return mk_error_set(err, MK_EINVAL, "no definition or configuration");
    if (!def_fields_unset(node))
        return mk_error_set(err, MK_EINVAL,
                            "collection %s: name, kind, capacity, require_ticket, the declared "
                            "validators and codecs come from the declaration",
                            def->name ? def->name : "?");
    mk_collection *c = handle_new();
    if (!c) return mk_error_set(err, MK_ENOMEM, "out of memory");
    mk_collection_config cfg = *node;
    cfg.name = def->name;
    cfg.kind = def->kind;
    cfg.capacity = def->capacity;
    cfg.require_ticket = def->require_ticket;
    cfg.validators = def->validators;
    cfg.n_validators = def->n_validators;
    cfg.key_codec = def->key_codec;
    cfg.value_codec = def->value_codec;
    int rc = make_validators(c, &cfg, node, err);
    if (rc == 0) rc = open_into(c, nw, &cfg, err);
    if (rc < 0) {
        handle_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void mk_collection_free(mk_collection *c) {
    if (!c) return;
    mk_group_free(c->group);
    mk_coll_state_free(c->state);
    handle_free(c);
}

mk_group *mk_collection_group(mk_collection *c) {
    return c->group;
}
mk_collection_kind mk_collection_kind_of(const mk_collection *c) {
    return c->kind;
}

/* ----- plumbing -------------------------------------------------------------- */

int mk_coll_cmd_init(mk_buf *cmd, uint8_t op) {
    mk_buf_init(cmd, MK_GROUP_MAX_COMMAND);
    return mk_buf_append_u8(cmd, op);
}

int mk_coll_put_bstr(mk_buf *b, const void *p, size_t n) {
    int rc = mk_buf_append_u32be(b, (uint32_t)n);
    return rc < 0 ? rc : mk_buf_append(b, p, n);
}

int mk_coll_put_opt(mk_buf *b, const mk_bytes *v) {
    int rc = mk_buf_append_u8(b, v ? 1 : 0);
    return rc < 0 || !v ? rc : mk_coll_put_bstr(b, v->data, v->len);
}

int mk_coll_need(const mk_collection *c, mk_collection_kind need, mk_error *err) {
    if (need && c->kind != need)
        return mk_error_set(err, MK_EINVAL, "operation of another collection kind");
    return 0;
}

int mk_coll_run(mk_collection *c, mk_collection_kind need, const mk_buf *cmd, mk_buf *res,
                mk_reader *r, uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    MK_TRY(mk_coll_need(c, need, err));
    if (c->role == MK_GROUP_READER) return mk_error_set(err, MK_EPOLICY, "a reader cannot write");
    int rc = mk_group_apply(c->group, cmd->data, cmd->len, res, timeout_ms, err);
    if (rc < 0) return rc;
    mk_reader_init(r, res->data, res->len);
    uint64_t v;
    if (mk_read_u64be(r, &v) < 0) return mk_error_set(err, MK_EMALFORMED, "short result");
    if (version) *version = v;
    return 0;
}

static int ask(mk_collection *c, mk_group_consistency cons, const mk_buf *q, mk_buf *res,
               uint32_t timeout_ms, mk_error *err) {
    return mk_group_query(c->group, cons, q->data, q->len, res, timeout_ms, err);
}

int mk_coll_simple(mk_collection *c, mk_collection_kind need, uint8_t op, const void *k, size_t kl,
                   bool with_k, const void *v, size_t vl, bool with_v, uint8_t *flag,
                   uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    if (with_k && kl > MK_COLL_MAX_KEY) return mk_error_set(err, MK_ETOOBIG, "key too big");
    if (with_v && vl > MK_COLL_MAX_VALUE) return mk_error_set(err, MK_ETOOBIG, "value too big");
    mk_buf cmd, res = MK_BUF_INIT;
    mk_reader r;
    int rc = mk_coll_cmd_init(&cmd, op);
    if (rc == 0 && with_k) rc = mk_coll_put_bstr(&cmd, k, kl);
    if (rc == 0 && with_v) rc = mk_coll_put_bstr(&cmd, v, vl);
    if (rc == 0) rc = mk_coll_run(c, need, &cmd, &res, &r, version, timeout_ms, err);
    if (rc == 0 && flag) {
        if (mk_read_u8(&r, flag) < 0) rc = mk_error_set(err, MK_EMALFORMED, "short result");
    }
    mk_buf_free(&cmd);
    mk_buf_free(&res);
    return rc;
}

int mk_coll_take_rest(mk_reader *r, mk_buf *out) {
    size_t n = mk_reader_remaining(r);
    const uint8_t *p;
    if (mk_read_view(r, n, &p) < 0) return MK_EMALFORMED;
    return out ? mk_buf_append(out, p, n) : 0;
}

int mk_coll_cas_result(mk_reader *r, mk_buf *current, mk_error *err) {
    uint8_t swapped, present;
    if (mk_read_u8(r, &swapped) < 0) return mk_error_set(err, MK_EMALFORMED, "short result");
    if (swapped) return 0;
    if (mk_read_u8(r, &present) < 0) return mk_error_set(err, MK_EMALFORMED, "short result");
    if (!present) return mk_error_set(err, MK_ENOTFOUND, "compare_exchange: the entry is absent");
    int rc = mk_coll_take_rest(r, current);
    if (rc < 0) return mk_error_set(err, rc, "compare_exchange: result");
    return mk_error_set(err, MK_ESTATE, "compare_exchange: the entry holds another value");
}

int mk_coll_put_batch(mk_buf *cmd, const mk_bytes *keys, const mk_bytes *values, size_t n,
                      mk_error *err) {
    if (n > MK_COLL_MAX_ITEMS)
        return mk_error_set(err, MK_ETOOBIG, "batch of %zu over %zu", n, MK_COLL_MAX_ITEMS);
    if (n && !keys) return mk_error_set(err, MK_EINVAL, "no batch");
    int rc = mk_buf_append_u32be(cmd, (uint32_t)n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (keys[i].len > MK_COLL_MAX_KEY) return mk_error_set(err, MK_ETOOBIG, "key too big");
        rc = mk_coll_put_bstr(cmd, keys[i].data, keys[i].len);
        if (rc == 0 && values) {
            if (values[i].len > MK_COLL_MAX_VALUE)
                return mk_error_set(err, MK_ETOOBIG, "value too big");
            rc = mk_coll_put_bstr(cmd, values[i].data, values[i].len);
        }
    }
    return rc < 0 ? mk_error_set(err, rc, "batch over %zu bytes", MK_GROUP_MAX_COMMAND) : 0;
}

int mk_collection_len(mk_collection *c, mk_group_consistency cons, uint64_t *out,
                      uint32_t timeout_ms, mk_error *err) {
    mk_buf q = MK_BUF_INIT, res = MK_BUF_INIT;
    int rc = mk_buf_append_u8(&q, MK_CQ_LEN);
    if (rc == 0) rc = ask(c, cons, &q, &res, timeout_ms, err);
    mk_reader r;
    mk_reader_init(&r, res.data, res.len);
    if (rc == 0 && mk_read_u64be(&r, out) < 0) rc = mk_error_set(err, MK_EMALFORMED, "short");
    mk_buf_free(&q);
    mk_buf_free(&res);
    return rc;
}

uint64_t mk_collection_version(mk_collection *c) {
    mk_buf q = MK_BUF_INIT, res = MK_BUF_INIT;
    uint64_t v = 0;
    mk_reader r;
    if (mk_buf_append_u8(&q, MK_CQ_VERSION) == 0 &&
        mk_group_query(c->group, MK_GROUP_WEAK, q.data, q.len, &res, 0, NULL) == 0) {
        mk_reader_init(&r, res.data, res.len);
        if (mk_read_u64be(&r, &v) < 0) v = 0;
    }
    mk_buf_free(&q);
    mk_buf_free(&res);
    return v;
}

/* Sleep until the next apply, at most 50 ms or what is left of the
 * timeout; false when the timeout is over. applied: read before the
 * version was. */
static bool wait_step(mk_collection *c, uint64_t t0, uint32_t timeout_ms, uint64_t applied) {
    uint64_t el = mk_sys_mono_ms() - t0;
    if (el >= timeout_ms) return false;
    uint64_t left = timeout_ms - el;
    (void)mk_group_wait(c->group, MK_GROUP_INDEX, applied + 1, left < 50 ? (uint32_t)left : 50);
    return true;
}

static uint64_t applied_now(mk_collection *c) {
    mk_group_status s;
    mk_group_status_get(c->group, &s);
    return s.applied;
}

int mk_collection_wait_version(mk_collection *c, uint64_t v, uint32_t timeout_ms) {
    uint64_t t0 = mk_sys_mono_ms();
    for (;;) {
        uint64_t applied = applied_now(c);
        if (mk_collection_version(c) >= v) return 0;
        if (!wait_step(c, t0, timeout_ms, applied)) return MK_ETIMEDOUT;
    }
}

int mk_collection_wait_updated(mk_collection *c, uint64_t *version, uint32_t timeout_ms) {
    uint64_t t0 = mk_sys_mono_ms();
    for (;;) {
        uint64_t applied = applied_now(c);
        uint64_t now = mk_collection_version(c);
        if (now != *version) {
            *version = now;
            return 0;
        }
        if (!wait_step(c, t0, timeout_ms, applied)) return MK_ETIMEDOUT;
    }
}

void mk_collection_value_free(mk_collection *c, void *value) {
    if (c) mk_datum_free(c->value_codec, value);
}

int mk_collection_clear(mk_collection *c, uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    return mk_coll_simple(c, 0, MK_COP_CLEAR, NULL, 0, false, NULL, 0, false, NULL, version,
                          timeout_ms, err);
}

int mk_coll_get_bytes(mk_collection *c, mk_collection_kind need, mk_group_consistency cons,
                      const void *key, size_t kl, bool with_k, const uint64_t *index, mk_buf *val,
                      uint32_t timeout_ms, mk_error *err) {
    MK_TRY(mk_coll_need(c, need, err));
    if (with_k && kl > MK_COLL_MAX_KEY) return mk_error_set(err, MK_ETOOBIG, "key too big");
    mk_buf q = MK_BUF_INIT;
    int rc = mk_buf_append_u8(&q, MK_CQ_GET);
    if (rc == 0 && with_k) rc = mk_coll_put_bstr(&q, key, kl);
    if (rc == 0 && index) rc = mk_buf_append_u64be(&q, *index);
    if (rc == 0) rc = ask(c, cons, &q, val, timeout_ms, err);
    mk_buf_free(&q);
    return rc;
}

int mk_coll_cas(mk_collection *c, mk_collection_kind kind, const void *key, size_t klen,
                const mk_bytes *expected, const mk_bytes *desired, mk_buf *current,
                uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    if (klen > MK_COLL_MAX_KEY) return mk_error_set(err, MK_ETOOBIG, "key too big");
    if ((expected && expected->len > MK_COLL_MAX_VALUE) ||
        (desired && desired->len > MK_COLL_MAX_VALUE))
        return mk_error_set(err, MK_ETOOBIG, "value too big");
    mk_buf cmd, res = MK_BUF_INIT;
    mk_reader r;
    int rc = mk_coll_cmd_init(&cmd, kind == MK_COLL_MAP ? MK_COP_MAP_CAS : MK_COP_CELL_CAS);
    if (rc == 0 && kind == MK_COLL_MAP) rc = mk_coll_put_bstr(&cmd, key, klen);
    if (rc == 0) rc = mk_coll_put_opt(&cmd, expected);
    if (rc == 0) rc = mk_coll_put_opt(&cmd, desired);
    if (rc == 0) rc = mk_coll_run(c, kind, &cmd, &res, &r, version, timeout_ms, err);
    if (rc == 0) rc = mk_coll_cas_result(&r, current, err);
    mk_buf_free(&cmd);
    mk_buf_free(&res);
    return rc;
}
