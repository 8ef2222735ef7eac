/* test_fleet.c - the fleet's assignment of clusters to workers (reconcile_fleet.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "reconcile_fleet.h"
#include "test.h"
#include "util.h"

#define NC 12

static char *clusters[NC];

static void counts(const size_t *owner, size_t nw, size_t *cnt)
{
    memset(cnt, 0, nw * sizeof(*cnt));
    for (size_t c = 0; c < NC; c++)
        cnt[owner[c]]++;
}

TEST(each_worker_takes_at_most_its_share)
{
    char *w3[] = {"w1", "w2", "w3"};
    size_t owner[NC], cnt[3];
    fleet_assign(clusters, NC, w3, 3, owner);
    counts(owner, 3, cnt);
    for (size_t w = 0; w < 3; w++)
        CHECK(cnt[w] == 4);
    char *w5[] = {"a", "b", "c", "d", "e"};
    size_t owner5[NC], cnt5[5];
    fleet_assign(clusters, NC, w5, 5, owner5);
    counts(owner5, 5, cnt5);
    size_t total = 0;
    for (size_t w = 0; w < 5; w++) {
        CHECK(cnt5[w] <= 3); /* ceil(12 / 5) */
        total += cnt5[w];
    }
    CHECK(total == NC);
}

TEST(same_lists_same_assignment)
{
    char *w3[] = {"w1", "w2", "w3"};
    size_t a[NC], b[NC];
    fleet_assign(clusters, NC, w3, 3, a);
    fleet_assign(clusters, NC, w3, 3, b);
    CHECK(!memcmp(a, b, sizeof(a)));
}

TEST(a_dead_worker_moves_only_its_clusters_when_shares_allow)
{
    /* 12 clusters over 4 workers (3 each); w4 dies: 3 workers take 4 each, so
       the survivors keep every cluster they had and share w4's three */
    char *w4[] = {"w1", "w2", "w3", "w4"};
    char *w3[] = {"w1", "w2", "w3"};
    size_t before[NC], after[NC];
    fleet_assign(clusters, NC, w4, 4, before);
    fleet_assign(clusters, NC, w3, 3, after);
    size_t moved = 0;
    for (size_t c = 0; c < NC; c++)
        if (before[c] != 3)
            moved += before[c] != after[c];
    /* the greedy cap may move a few more, never most of them */
    CHECK(moved <= 3);
    size_t cnt[3];
    counts(after, 3, cnt);
    for (size_t w = 0; w < 3; w++)
        CHECK(cnt[w] == 4);
}

TEST(score_depends_on_both_names)
{
    CHECK(fleet_score("w1", "c1") != fleet_score("w2", "c1"));
    CHECK(fleet_score("w1", "c1") != fleet_score("w1", "c2"));
    CHECK(fleet_score("w1", "c1") == fleet_score("w1", "c1"));
    CHECK(fleet_score("ab", "c") != fleet_score("a", "bc"));
}

TEST(etcd_int_and_prefix_end)
{
    json_t *o = json_pack("{s:s, s:I}", "a", "9007199254740993", "b", (json_int_t)7);
    CHECK(etcd_int(o, "a") == 9007199254740993LL);
    CHECK(etcd_int(o, "b") == 7);
    CHECK(etcd_int(o, "missing") == 0);
    json_decref(o);
    char *end = etcd_prefix_end("/rmgr/lock/");
    CHECK(!strcmp(end, "/rmgr/lock0"));
    free(end);
    json_t *b = etcd_b64("/rmgr/lock/c1");
    char *back = etcd_unb64(b);
    CHECK(!strcmp(back, "/rmgr/lock/c1"));
    free(back);
    json_decref(b);
}

TEST(lock_urls_are_checked)
{
    char *err = NULL;
    struct etcd_options o = {.url = "http://127.0.0.1:2379"};
    CHECK(etcd_new(&o, &err) == NULL);
    CHECK_CONTAINS(err, "etcd://HOST:PORT");
    free(err);
    err = NULL;
    o.url = "etcd://127.0.0.1:2379,nohost";
    CHECK(etcd_new(&o, &err) == NULL);
    CHECK_CONTAINS(err, "'nohost' in --lock is not HOST:PORT");
    free(err);
    err = NULL;
    o.url = "etcd://127.0.0.1:2379,127.0.0.2:2379";
    struct etcd *e = etcd_new(&o, &err);
    CHECK(e != NULL);
    etcd_free(e);
}

int main(void)
{
    for (size_t i = 0; i < NC; i++)
        clusters[i] = xasprintf("c%zu", i + 1);
    RUN(each_worker_takes_at_most_its_share);
    RUN(same_lists_same_assignment);
    RUN(a_dead_worker_moves_only_its_clusters_when_shares_allow);
    RUN(score_depends_on_both_names);
    RUN(etcd_int_and_prefix_end);
    RUN(lock_urls_are_checked);
    for (size_t i = 0; i < NC; i++)
        free(clusters[i]);
    return test_done();
}
