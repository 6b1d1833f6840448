/*
 * compare_exchange is exactly-once across faults: three writers each run a
 * CAS-loop counter on one Cell while a fault thread cuts the bond between
 * the leader and a follower (mk_group_partition) and moves leadership
 * (mk_group_transfer), FAULTS times, so CAS calls are re-proposed while in
 * flight. A re-proposed CAS that had been applied must report the first
 * application (swapped), not a mismatch against its own value; otherwise
 * its client would count one swap too few and increment again. So the
 * counter ends at exactly the swaps the clients were told of, and so does
 * its version (one per swap; failed CAS move nothing), with every call
 * answered (no timeout).
 */
#include <stdatomic.h>

#include "collections_util.h"

#include "groups/groups_internal.h"

#define FAULTS 12

typedef struct client {
    mk_collection *c;
    atomic_bool *stop;
    int swaps, mismatches, errors;
} client;

static void *client_thread(void *arg) {
    client *k = arg;
    mk_buf cur = MK_BUF_INIT;
    char seen[32] = "", next[32];
    bool absent = true;
    while (!atomic_load(k->stop) && k->errors == 0) {
        snprintf(next, sizeof next, "%ld", (absent ? 0 : strtol(seen, NULL, 10)) + 1);
        mk_bytes e = CU_B(seen), d = CU_B(next);
        mk_buf_reset(&cur);
        int rc = mk_cell_compare_exchange(k->c, absent ? NULL : &e, &d, &cur, NULL, 10000, NULL);
        if (rc == 0) {
            snprintf(seen, sizeof seen, "%s", next);
            absent = false;
            k->swaps++;
        } else if (rc == MK_ESTATE) {
            snprintf(seen, sizeof seen, "%.*s", (int)cur.len, (const char *)cur.data);
            absent = false;
            k->mismatches++;
        } else {
            print_message("cas: %s\n", mk_strerror(rc));
            k->errors++;
        }
    }
    mk_buf_free(&cur);
    return NULL;
}

typedef struct faults {
    cu_cluster *cu;
    mk_collection **c;
    atomic_bool stop;
    int cuts, moves;
} faults;

static int leader_of(mk_collection **c, int n) {
    for (int i = 0; i < n; i++)
        if (mk_group_wait(mk_collection_group(c[i]), MK_GROUP_IS_LEADER, 0, 0) == 0) return i;
    return -1;
}

static void *fault_thread(void *arg) {
    faults *f = arg;
    for (unsigned i = 0; f->cuts + f->moves < FAULTS; i++) {
        int l = leader_of(f->c, 3);
        if (l < 0) {
            tg_sleep_ms(50);
            continue;
        }
        int o = (l + 1 + (int)(i % 2)) % 3;
        mk_id lid, oid;
        mk_network_peer_id(f->cu->nw[l], &lid);
        mk_network_peer_id(f->cu->nw[o], &oid);
        mk_group *lg = mk_collection_group(f->c[l]), *og = mk_collection_group(f->c[o]);
        if (i % 3 == 2) {
            (void)mk_group_transfer(lg, &oid, NULL);
            f->moves++;
        } else {
            mk_group_partition(lg, &oid, true);
            mk_group_partition(og, &lid, true);
            tg_sleep_ms(150 + 50 * (i % 4));
            mk_group_partition(lg, &oid, false);
            mk_group_partition(og, &lid, false);
            f->cuts++;
        }
        tg_sleep_ms(150);
    }
    atomic_store(&f->stop, true);
    return NULL;
}

static void test_cas_counter_under_faults(void **state) {
    (void)state;
    cu_cluster cu;
    cu_start(&cu, "coll-faults", 3);
    cu.all_writers = true;
    mk_collection *c[3];
    cu_open(&cu, &(mk_collection_config){.name = "counter", .kind = MK_COLL_CELL}, c);
    faults f = {.cu = &cu, .c = c};
    atomic_init(&f.stop, false);
    client k[3] = {{c[0], &f.stop, 0, 0, 0}, {c[1], &f.stop, 0, 0, 0}, {c[2], &f.stop, 0, 0, 0}};
    pthread_t tk[3], tf;
    tg_thread(&tf, fault_thread, &f);
    for (int i = 0; i < 3; i++)
        tg_thread(&tk[i], client_thread, &k[i]);
    tg_thread_join(tf);
    for (int i = 0; i < 3; i++)
        tg_thread_join(tk[i]);
    int swaps = k[0].swaps + k[1].swaps + k[2].swaps;
    mk_group_status gs;
    mk_group_status_get(mk_collection_group(c[0]), &gs);
    print_message("# re-proposals found applied (node 0): %llu\n",
                  (unsigned long long)gs.duplicates);
    print_message("# %d cuts, %d moves; swaps %d %d %d, mismatches %d %d %d\n", f.cuts, f.moves,
                  k[0].swaps, k[1].swaps, k[2].swaps, k[0].mismatches, k[1].mismatches,
                  k[2].mismatches);
    for (int i = 0; i < 3; i++)
        assert_int_equal(k[i].errors, 0);
    assert_true(swaps > 0); /* a client may starve (CAS is not fair), the counter may not */
    mk_buf v = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_cell_get(c[0], MK_GROUP_STRONG, &v, 10000, &err), 0, &err);
    char want[16];
    snprintf(want, sizeof want, "%d", swaps);
    CU_BUF_IS(v, want);
    mk_buf_free(&v);
    mk_collection_iter *it;
    TU_ASSERT_RC(mk_collection_iter_new(c[1], MK_GROUP_STRONG, &it, 10000, &err), 0, &err);
    assert_int_equal(mk_collection_iter_version(it), (uint64_t)swaps);
    mk_collection_iter_free(it);
    cu_close(c, 3);
    cu_stop(&cu);
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cas_counter_under_faults, tg_teardown),
    };
    return TG_RUN(tests);
}
