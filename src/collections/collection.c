/*
 * collection.c — collections as groups: identity, handles, typed calls.
 *
 * Identity: collection id = D(N("mosaik.collections.v1"), name); the group
 * key = D(N("mosaik.collections.key.v1"), collection id) and the state
 * machine signature = D(D(N("mosaik.collections.sm.v1"), kind), capacity),
 * so handles agree on the group iff they agree on name, kind, capacity and
 * validators (the group id covers the validators). The key is not secret:
 * a collection without require_ticket is open to any node of the network
 * that knows its name; require_ticket is what restricts it.
 *
 * Every typed call encodes one command or query (coll_internal.h), runs it
 * through the group (mk_group_apply / mk_group_query) and decodes the
 * result with mk_reader. Mutations return the version they produced.
 */
#include <stdlib.h>
#include <string.h>

#include "collections/coll_internal.h"
#include "core/timeutil.h"

struct mk_collection {
    mk_collection_kind kind;
    mk_coll_state *state;
    mk_group *group;
    mk_validator_set owned; /* validators made from a declaration */
    bool owns_validators;
    mk_group_role role;
};

void mk_collection_config_init(mk_collection_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->role = MK_GROUP_WRITER;
}

static bool kind_ok(mk_collection_kind k) {
    return k >= MK_COLL_MAP && k <= MK_COLL_PQ;
}

/* Open into c (allocated by the caller, freed by it on failure). */
static int open_into(mk_collection *c, mk_network *nw, const mk_collection_config *cfg,
                     mk_error *err) {
    if (!cfg || !cfg->name || !cfg->name[0] || !kind_ok(cfg->kind) || !cfg->data_dir)
        return mk_error_set(err, MK_EINVAL, "collection needs a name, a kind and a data_dir");
    bool have_v = cfg->validators && cfg->validators->n > 0;
    if (cfg->require_ticket && !have_v)
        return mk_error_set(err, MK_EINVAL, "require_ticket without any validator");
    if (!cfg->require_ticket && have_v)
        return mk_error_set(err, MK_EINVAL, "validators given but require_ticket is false");
    if (cfg->capacity > MK_COLL_MAX_ITEMS)
        return mk_error_set(err, MK_ETOOBIG, "capacity over %zu", (size_t)MK_COLL_MAX_ITEMS);
    c->kind = cfg->kind;
    c->role = cfg->role;
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
    mk_id_from_name(&sbase, "mosaik.collections.sm.v1");
    mk_id_derive(&s1, &sbase, &kb, 1);
    mk_id_derive(&g.sm_signature, &s1, capb, sizeof capb);
    mk_group_sm sm = mk_coll_state_sm(c->state);
    g.sm = &sm;
    g.validators = cfg->require_ticket ? cfg->validators : NULL;
    g.writer_validators = cfg->writer_validators;
    g.data_dir = cfg->data_dir;
    g.bootstrap = cfg->bootstrap;
    g.role = cfg->role;
    g.election_ms = cfg->election_ms;
    g.heartbeat_ms = cfg->heartbeat_ms;
    g.tick_ms = cfg->tick_ms;
    g.snapshot_threshold = cfg->snapshot_threshold;
    g.snapshot_trailing = cfg->snapshot_trailing;
    int rc = mk_group_new(nw, &g, &c->group, err);
    if (rc < 0) {
        mk_coll_state_free(c->state);
        c->state = NULL;
    }
    return rc;
}

int mk_collection_new(mk_network *nw, const mk_collection_config *cfg, mk_collection **out,
                      mk_error *err) {
    *out = NULL;
    mk_collection *c = calloc(1, sizeof *c);
    if (!c) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = open_into(c, nw, cfg, err);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int mk_collection_new_from_def(mk_network *nw, const mk_collection_def *def,
                               const mk_collection_opts *opts, mk_collection **out, mk_error *err) {
    *out = NULL;
    if (!def || !opts) return mk_error_set(err, MK_EINVAL, "no definition or options");
    mk_collection *c = calloc(1, sizeof *c);
    if (!c) return mk_error_set(err, MK_ENOMEM, "out of memory");
    /* The validators live in the handle: the group borrows &c->owned. */
    mk_validator_set_init(&c->owned);
    c->owns_validators = true;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < def->n_validators; i++) {
        const mk_validator_spec *sp = &def->validators[i];
        mk_validator *v = sp->make ? sp->make(sp->arg, err) : NULL;
        if (!v) {
            rc = err && err->code < 0 ? err->code : MK_EINVAL;
            mk_error_prefix(err, rc, "collection %s: validator %zu", def->name, i);
        } else if ((rc = mk_validator_set_add(&c->owned, v)) < 0) {
            mk_validator_free(v);
        }
    }
    if (rc == 0) {
        mk_collection_config cfg;
        mk_collection_config_init(&cfg);
        cfg.name = def->name;
        cfg.kind = def->kind;
        cfg.capacity = def->capacity;
        cfg.require_ticket = def->require_ticket;
        cfg.validators = &c->owned;
        cfg.data_dir = opts->data_dir;
        cfg.bootstrap = opts->bootstrap;
        cfg.role = opts->role;
        cfg.election_ms = opts->election_ms;
        cfg.heartbeat_ms = opts->heartbeat_ms;
        cfg.tick_ms = opts->tick_ms;
        rc = open_into(c, nw, &cfg, err);
    }
    if (rc < 0) {
        mk_validator_set_free(&c->owned);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void mk_collection_free(mk_collection *c) {
    if (!c) return;
    mk_group_free(c->group);
    mk_coll_state_free(c->state);
    if (c->owns_validators) mk_validator_set_free(&c->owned);
    free(c);
}

mk_group *mk_collection_group(mk_collection *c) {
    return c->group;
}
mk_collection_kind mk_collection_kind_of(const mk_collection *c) {
    return c->kind;
}

/* ----- plumbing -------------------------------------------------------------- */

static int put_bstr(mk_buf *b, const void *p, size_t n) {
    int rc = mk_buf_append_u32be(b, (uint32_t)n);
    return rc < 0 ? rc : mk_buf_append(b, p, n);
}

/* Run a command; on success *version (may be NULL) gets the version and
 * r is positioned after it, over `res`. */
static int run(mk_collection *c, mk_collection_kind need, const mk_buf *cmd, mk_buf *res,
               mk_reader *r, uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    if (need && c->kind != need)
        return mk_error_set(err, MK_EINVAL, "operation of another collection kind");
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

static int simple(mk_collection *c, mk_collection_kind need, uint8_t op, const void *k, size_t kl,
                  bool with_k, const void *v, size_t vl, bool with_v, uint8_t *flag,
                  uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    if (with_k && kl > MK_COLL_MAX_KEY) return mk_error_set(err, MK_ETOOBIG, "key too big");
    if (with_v && vl > MK_COLL_MAX_VALUE) return mk_error_set(err, MK_ETOOBIG, "value too big");
    mk_buf cmd = MK_BUF_INIT, res = MK_BUF_INIT;
    mk_reader r;
    int rc = mk_buf_append_u8(&cmd, op);
    if (rc == 0 && with_k) rc = put_bstr(&cmd, k, kl);
    if (rc == 0 && with_v) rc = put_bstr(&cmd, v, vl);
    if (rc == 0) rc = run(c, need, &cmd, &res, &r, version, timeout_ms, err);
    if (rc == 0 && flag) {
        if (mk_read_u8(&r, flag) < 0) rc = mk_error_set(err, MK_EMALFORMED, "short result");
    }
    mk_buf_free(&cmd);
    mk_buf_free(&res);
    return rc;
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

int mk_collection_wait_version(mk_collection *c, uint64_t v, uint32_t timeout_ms) {
    uint64_t t0 = mk_sys_mono_ms();
    for (;;) {
        if (mk_collection_version(c) >= v) return 0;
        if (mk_sys_mono_ms() - t0 >= timeout_ms) return MK_ETIMEDOUT;
        mk_group_status s;
        mk_group_status_get(c->group, &s);
        /* Sleep until the next apply (or 5 ms). */
        (void)mk_group_wait(c->group, MK_GROUP_INDEX, s.applied + 1, 5);
    }
}

int mk_collection_clear(mk_collection *c, uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    return simple(c, 0, MK_COP_CLEAR, NULL, 0, false, NULL, 0, false, NULL, version, timeout_ms,
                  err);
}

/* Query returning bytes (Map/Set/Vec get with a key or index). */
static int get_bytes(mk_collection *c, mk_collection_kind need, mk_group_consistency cons,
                     const void *key, size_t kl, bool with_k, const uint64_t *index, mk_buf *val,
                     uint32_t timeout_ms, mk_error *err) {
    if (c->kind != need)
        return mk_error_set(err, MK_EINVAL, "operation of another collection kind");
    if (with_k && kl > MK_COLL_MAX_KEY) return mk_error_set(err, MK_ETOOBIG, "key too big");
    mk_buf q = MK_BUF_INIT;
    int rc = mk_buf_append_u8(&q, MK_CQ_GET);
    if (rc == 0 && with_k) rc = put_bstr(&q, key, kl);
    if (rc == 0 && index) rc = mk_buf_append_u64be(&q, *index);
    if (rc == 0) rc = ask(c, cons, &q, val, timeout_ms, err);
    mk_buf_free(&q);
    return rc;
}

/* ----- Map --------------------------------------------------------------------- */

int mk_map_put(mk_collection *c, const void *key, size_t klen, const void *val, size_t vlen,
               uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    return simple(c, MK_COLL_MAP, MK_COP_MAP_PUT, key, klen, true, val, vlen, true, NULL, version,
                  timeout_ms, err);
}

int mk_map_remove(mk_collection *c, const void *key, size_t klen, bool *existed, uint64_t *version,
                  uint32_t timeout_ms, mk_error *err) {
    uint8_t f = 0;
    int rc = simple(c, MK_COLL_MAP, MK_COP_MAP_REMOVE, key, klen, true, NULL, 0, false, &f, version,
                    timeout_ms, err);
    if (rc == 0 && existed) *existed = f != 0;
    return rc;
}

int mk_map_get(mk_collection *c, mk_group_consistency cons, const void *key, size_t klen,
               mk_buf *val, uint32_t timeout_ms, mk_error *err) {
    return get_bytes(c, MK_COLL_MAP, cons, key, klen, true, NULL, val, timeout_ms, err);
}

/* ----- Vec --------------------------------------------------------------------- */

int mk_vec_push(mk_collection *c, const void *val, size_t vlen, uint64_t *index, uint64_t *version,
                uint32_t timeout_ms, mk_error *err) {
    if (vlen > MK_COLL_MAX_VALUE) return mk_error_set(err, MK_ETOOBIG, "value too big");
    mk_buf cmd = MK_BUF_INIT, res = MK_BUF_INIT;
    mk_reader r;
    int rc = mk_buf_append_u8(&cmd, MK_COP_VEC_PUSH);
    if (rc == 0) rc = put_bstr(&cmd, val, vlen);
    if (rc == 0) rc = run(c, MK_COLL_VEC, &cmd, &res, &r, version, timeout_ms, err);
    uint64_t i;
    if (rc == 0 && mk_read_u64be(&r, &i) < 0) rc = mk_error_set(err, MK_EMALFORMED, "short");
    if (rc == 0 && index) *index = i;
    mk_buf_free(&cmd);
    mk_buf_free(&res);
    return rc;
}

int mk_vec_set(mk_collection *c, uint64_t index, const void *val, size_t vlen, uint64_t *version,
               uint32_t timeout_ms, mk_error *err) {
    if (vlen > MK_COLL_MAX_VALUE) return mk_error_set(err, MK_ETOOBIG, "value too big");
    mk_buf cmd = MK_BUF_INIT, res = MK_BUF_INIT;
    mk_reader r;
    int rc = mk_buf_append_u8(&cmd, MK_COP_VEC_SET);
    if (rc == 0) rc = mk_buf_append_u64be(&cmd, index);
    if (rc == 0) rc = put_bstr(&cmd, val, vlen);
    if (rc == 0) rc = run(c, MK_COLL_VEC, &cmd, &res, &r, version, timeout_ms, err);
    mk_buf_free(&cmd);
    mk_buf_free(&res);
    return rc;
}

int mk_vec_pop(mk_collection *c, mk_buf *val, uint64_t *version, uint32_t timeout_ms,
               mk_error *err) {
    mk_buf cmd = MK_BUF_INIT, res = MK_BUF_INIT;
    mk_reader r;
    int rc = mk_buf_append_u8(&cmd, MK_COP_VEC_POP);
    if (rc == 0) rc = run(c, MK_COLL_VEC, &cmd, &res, &r, version, timeout_ms, err);
    if (rc == 0 && val) {
        size_t n = mk_reader_remaining(&r);
        const uint8_t *p;
        if (mk_read_view(&r, n, &p) == 0) rc = mk_buf_append(val, p, n);
    }
    mk_buf_free(&cmd);
    mk_buf_free(&res);
    return rc;
}

int mk_vec_get(mk_collection *c, mk_group_consistency cons, uint64_t index, mk_buf *val,
               uint32_t timeout_ms, mk_error *err) {
    return get_bytes(c, MK_COLL_VEC, cons, NULL, 0, false, &index, val, timeout_ms, err);
}

/* ----- Set --------------------------------------------------------------------- */

int mk_set_insert(mk_collection *c, const void *val, size_t vlen, bool *added, uint64_t *version,
                  uint32_t timeout_ms, mk_error *err) {
    uint8_t f = 0;
    int rc = simple(c, MK_COLL_SET, MK_COP_SET_INSERT, val, vlen, true, NULL, 0, false, &f, version,
                    timeout_ms, err);
    if (rc == 0 && added) *added = f != 0;
    return rc;
}

int mk_set_remove(mk_collection *c, const void *val, size_t vlen, bool *removed, uint64_t *version,
                  uint32_t timeout_ms, mk_error *err) {
    uint8_t f = 0;
    int rc = simple(c, MK_COLL_SET, MK_COP_SET_REMOVE, val, vlen, true, NULL, 0, false, &f, version,
                    timeout_ms, err);
    if (rc == 0 && removed) *removed = f != 0;
    return rc;
}

int mk_set_contains(mk_collection *c, mk_group_consistency cons, const void *val, size_t vlen,
                    bool *out, uint32_t timeout_ms, mk_error *err) {
    mk_buf res = MK_BUF_INIT;
    int rc = get_bytes(c, MK_COLL_SET, cons, val, vlen, true, NULL, &res, timeout_ms, err);
    mk_buf_free(&res);
    if (rc == MK_ENOTFOUND) {
        *out = false;
        if (err) mk_error_clear(err);
        return 0;
    }
    if (rc == 0) *out = true;
    return rc;
}

/* ----- Cell and Once ------------------------------------------------------------- */

int mk_cell_set(mk_collection *c, const void *val, size_t vlen, uint64_t *version,
                uint32_t timeout_ms, mk_error *err) {
    return simple(c, MK_COLL_CELL, MK_COP_CELL_SET, NULL, 0, false, val, vlen, true, NULL, version,
                  timeout_ms, err);
}

int mk_cell_get(mk_collection *c, mk_group_consistency cons, mk_buf *val, uint32_t timeout_ms,
                mk_error *err) {
    return get_bytes(c, MK_COLL_CELL, cons, NULL, 0, false, NULL, val, timeout_ms, err);
}

int mk_once_set(mk_collection *c, const void *val, size_t vlen, uint64_t *version,
                uint32_t timeout_ms, mk_error *err) {
    return simple(c, MK_COLL_ONCE, MK_COP_ONCE_SET, NULL, 0, false, val, vlen, true, NULL, version,
                  timeout_ms, err);
}

int mk_once_get(mk_collection *c, mk_group_consistency cons, mk_buf *val, uint32_t timeout_ms,
                mk_error *err) {
    return get_bytes(c, MK_COLL_ONCE, cons, NULL, 0, false, NULL, val, timeout_ms, err);
}

/* ----- PriorityQueue ------------------------------------------------------------- */

int mk_pq_push(mk_collection *c, int64_t prio, const void *val, size_t vlen, bool *inserted,
               uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    if (vlen > MK_COLL_MAX_VALUE) return mk_error_set(err, MK_ETOOBIG, "value too big");
    mk_buf cmd = MK_BUF_INIT, res = MK_BUF_INIT;
    mk_reader r;
    int rc = mk_buf_append_u8(&cmd, MK_COP_PQ_PUSH);
    if (rc == 0) rc = mk_buf_append_u64be(&cmd, (uint64_t)prio);
    if (rc == 0) rc = put_bstr(&cmd, val, vlen);
    if (rc == 0) rc = run(c, MK_COLL_PQ, &cmd, &res, &r, version, timeout_ms, err);
    uint8_t f;
    if (rc == 0 && mk_read_u8(&r, &f) < 0) rc = mk_error_set(err, MK_EMALFORMED, "short");
    if (rc == 0 && inserted) *inserted = f != 0;
    mk_buf_free(&cmd);
    mk_buf_free(&res);
    return rc;
}

static int split_prio(const uint8_t *data, size_t len, int64_t *prio, mk_buf *val, mk_error *err) {
    mk_reader r;
    mk_reader_init(&r, data, len);
    uint64_t p;
    if (mk_read_u64be(&r, &p) < 0) return mk_error_set(err, MK_EMALFORMED, "short result");
    if (prio) *prio = (int64_t)p;
    size_t n = mk_reader_remaining(&r);
    const uint8_t *v;
    if (mk_read_view(&r, n, &v) < 0) return MK_EMALFORMED;
    return val ? mk_buf_append(val, v, n) : 0;
}

int mk_pq_pop(mk_collection *c, int64_t *prio, mk_buf *val, uint64_t *version, uint32_t timeout_ms,
              mk_error *err) {
    mk_buf cmd = MK_BUF_INIT, res = MK_BUF_INIT;
    mk_reader r;
    int rc = mk_buf_append_u8(&cmd, MK_COP_PQ_POP);
    if (rc == 0) rc = run(c, MK_COLL_PQ, &cmd, &res, &r, version, timeout_ms, err);
    if (rc == 0) {
        size_t n = mk_reader_remaining(&r);
        const uint8_t *rest;
        rc = mk_read_view(&r, n, &rest);
        if (rc == 0) rc = split_prio(rest, n, prio, val, err);
    }
    mk_buf_free(&cmd);
    mk_buf_free(&res);
    return rc;
}

int mk_pq_peek(mk_collection *c, mk_group_consistency cons, int64_t *prio, mk_buf *val,
               uint32_t timeout_ms, mk_error *err) {
    mk_buf res = MK_BUF_INIT;
    int rc = get_bytes(c, MK_COLL_PQ, cons, NULL, 0, false, NULL, &res, timeout_ms, err);
    if (rc == 0) rc = split_prio(res.data, res.len, prio, val, err);
    mk_buf_free(&res);
    return rc;
}
