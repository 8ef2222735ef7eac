/*
 * test_watch_episode.c - the failover episode of --repoint-at promotion
 * (src/watch_episode.c) fed sentinel event sequences: the normal one, an
 * abort, a new election selecting another replica, a +switch-master naming
 * another address, events out of order, and the payload parser.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "util.h"
#include "watch_episode.h"

#define OLD "10.0.0.1:7001"
#define R1 "10.0.0.2:7002"
#define R2 "10.0.0.3:7003"

static struct wep_result feed(struct wep_shard *e, enum wep_kind k, int sentinel,
                              const char *master, const char *addr)
{
    struct wep_event ev = {.kind = k, .sentinel = sentinel, .master = master, .addr = addr,
                           .member = true};
    return wep_feed(e, &ev);
}

/* +odown from sentinels 0 and 1 (quorum 2), sentinel 0 elected, selects R1. */
static void to_selected(struct wep_shard *e)
{
    CHECK_INT_EQ(feed(e, WEP_ODOWN, 0, OLD, NULL).action, WEP_NOTHING);
    CHECK_INT_EQ(feed(e, WEP_ODOWN, 1, OLD, NULL).action, WEP_NOTHING);
    CHECK_INT_EQ(feed(e, WEP_LEADER, 0, OLD, NULL).action, WEP_NOTHING);
    struct wep_result r = feed(e, WEP_SELECTED, 0, OLD, R1);
    CHECK_INT_EQ(r.action, WEP_POLL);
    CHECK_STR_EQ(r.target, R1);
    /* +failover-state-send-slaveof-noone names the same replica: nothing new */
    CHECK_INT_EQ(feed(e, WEP_SELECTED, 0, OLD, R1).action, WEP_NOTHING);
}

TEST(normal_episode_repoints_at_the_promotion_and_is_confirmed)
{
    struct wep_shard e;
    wep_init(&e, 3, 2);
    to_selected(&e);
    /* only the polled member's answer counts */
    CHECK_INT_EQ(feed(&e, WEP_PROMOTED, -1, NULL, R2).action, WEP_NOTHING);
    struct wep_result r = feed(&e, WEP_PROMOTED, -1, NULL, R1);
    CHECK_INT_EQ(r.action, WEP_REPOINT);
    CHECK_STR_EQ(r.target, R1);
    CHECK_INT_EQ(r.outcome, WEP_QUIET);
    /* a second answer does not repoint twice */
    CHECK_INT_EQ(feed(&e, WEP_PROMOTED, -1, NULL, R1).action, WEP_NOTHING);
    r = feed(&e, WEP_SWITCH, -1, NULL, R1);
    CHECK_INT_EQ(r.outcome, WEP_CONFIRMED);
    CHECK_STR_EQ(r.previous, R1);
    CHECK(e.master == NULL && e.repointed == NULL && wep_odown_votes(&e) == 0);
    wep_release(&e);
}

TEST(no_quorum_of_odown_no_poll)
{
    struct wep_shard e;
    wep_init(&e, 3, 2);
    feed(&e, WEP_ODOWN, 0, OLD, NULL);
    feed(&e, WEP_LEADER, 0, OLD, NULL);
    CHECK_INT_EQ(feed(&e, WEP_SELECTED, 0, OLD, R1).action, WEP_NOTHING);
    CHECK_INT_EQ(feed(&e, WEP_PROMOTED, -1, NULL, R1).action, WEP_NOTHING);
    /* the second +odown arrives late (another connection): now poll */
    struct wep_result r = feed(&e, WEP_ODOWN, 2, OLD, NULL);
    CHECK_INT_EQ(r.action, WEP_POLL);
    CHECK_STR_EQ(r.target, R1);
    /* the same sentinel twice is one vote */
    struct wep_shard f;
    wep_init(&f, 3, 2);
    feed(&f, WEP_ODOWN, 0, OLD, NULL);
    feed(&f, WEP_ODOWN, 0, OLD, NULL);
    feed(&f, WEP_LEADER, 0, OLD, NULL);
    CHECK_INT_EQ(feed(&f, WEP_SELECTED, 0, OLD, R1).action, WEP_NOTHING);
    CHECK_INT_EQ(wep_odown_votes(&f), 1);
    /* -odown takes a vote back */
    feed(&f, WEP_ODOWN, 1, OLD, NULL);
    CHECK_INT_EQ(f.polling, true);
    CHECK_INT_EQ(feed(&f, WEP_ODOWN_CLEARED, 1, OLD, NULL).action, WEP_STOP_POLL);
    CHECK_INT_EQ(feed(&f, WEP_PROMOTED, -1, NULL, R1).action, WEP_NOTHING);
    wep_release(&f);
    wep_release(&e);
}

TEST(only_the_leader_selects_a_member)
{
    struct wep_shard e;
    wep_init(&e, 3, 2);
    feed(&e, WEP_ODOWN, 0, OLD, NULL);
    feed(&e, WEP_ODOWN, 1, OLD, NULL);
    /* no leader yet */
    CHECK_INT_EQ(feed(&e, WEP_SELECTED, 0, OLD, R1).action, WEP_NOTHING);
    feed(&e, WEP_LEADER, 1, OLD, NULL);
    /* another sentinel than the leader */
    CHECK_INT_EQ(feed(&e, WEP_SELECTED, 0, OLD, R1).action, WEP_NOTHING);
    /* another master's failover */
    CHECK_INT_EQ(feed(&e, WEP_SELECTED, 1, "10.9.9.9:1", R1).action, WEP_NOTHING);
    /* not a member of the shard */
    struct wep_event ev = {.kind = WEP_SELECTED, .sentinel = 1, .master = OLD, .addr = R1,
                           .member = false};
    CHECK_INT_EQ(wep_feed(&e, &ev).action, WEP_NOTHING);
    CHECK_INT_EQ(feed(&e, WEP_SELECTED, 1, OLD, R1).action, WEP_POLL);
    /* out-of-range sentinel indexes are ignored */
    CHECK_INT_EQ(feed(&e, WEP_ABORT, 7, OLD, NULL).action, WEP_NOTHING);
    CHECK_INT_EQ(feed(&e, WEP_ABORT, -1, OLD, NULL).action, WEP_NOTHING);
    wep_release(&e);
}

TEST(abort_before_promotion_then_a_new_epoch_selects_another_replica)
{
    struct wep_shard e;
    wep_init(&e, 3, 2);
    to_selected(&e);
    /* R1 was killed: the leader times out */
    struct wep_result r = feed(&e, WEP_ABORT, 0, OLD, NULL);
    CHECK_INT_EQ(r.action, WEP_STOP_POLL);
    CHECK_INT_EQ(r.outcome, WEP_QUIET); /* nothing was repointed: nothing to undo */
    CHECK_INT_EQ(feed(&e, WEP_PROMOTED, -1, NULL, R1).action, WEP_NOTHING);
    /* the retry: another sentinel wins the new epoch and selects R2 */
    CHECK_INT_EQ(feed(&e, WEP_LEADER, 2, OLD, NULL).action, WEP_NOTHING);
    r = feed(&e, WEP_SELECTED, 2, OLD, R2);
    CHECK_INT_EQ(r.action, WEP_POLL);
    CHECK_STR_EQ(r.target, R2);
    r = feed(&e, WEP_PROMOTED, -1, NULL, R2);
    CHECK_INT_EQ(r.action, WEP_REPOINT);
    CHECK_STR_EQ(r.target, R2);
    r = feed(&e, WEP_SWITCH, -1, NULL, R2);
    CHECK_INT_EQ(r.outcome, WEP_CONFIRMED);
    wep_release(&e);
}

TEST(abort_after_the_early_repoint_is_reported)
{
    struct wep_shard e;
    wep_init(&e, 3, 2);
    to_selected(&e);
    CHECK_INT_EQ(feed(&e, WEP_PROMOTED, -1, NULL, R1).action, WEP_REPOINT);
    /* an abort from a sentinel that is not the leader changes nothing */
    CHECK_INT_EQ(feed(&e, WEP_ABORT, 1, OLD, NULL).outcome, WEP_QUIET);
    struct wep_result r = feed(&e, WEP_ABORT, 0, OLD, NULL);
    CHECK_INT_EQ(r.outcome, WEP_ABORTED);
    CHECK_STR_EQ(r.previous, R1);
    /* the quorum finally names R2: diverged, the watcher follows it */
    r = feed(&e, WEP_SWITCH, -1, NULL, R2);
    CHECK_INT_EQ(r.outcome, WEP_DIVERGED);
    CHECK_STR_EQ(r.previous, R1);
    wep_release(&e);
}

TEST(new_election_selecting_another_replica_after_the_early_repoint)
{
    struct wep_shard e;
    wep_init(&e, 3, 2);
    to_selected(&e);
    CHECK_INT_EQ(feed(&e, WEP_PROMOTED, -1, NULL, R1).action, WEP_REPOINT);
    CHECK_INT_EQ(feed(&e, WEP_LEADER, 1, OLD, NULL).action, WEP_NOTHING);
    struct wep_result r = feed(&e, WEP_SELECTED, 1, OLD, R2);
    CHECK_INT_EQ(r.outcome, WEP_RESELECTED);
    CHECK_STR_EQ(r.previous, R1);
    CHECK_INT_EQ(r.action, WEP_POLL);
    CHECK_STR_EQ(r.target, R2);
    r = feed(&e, WEP_PROMOTED, -1, NULL, R2);
    CHECK_INT_EQ(r.action, WEP_REPOINT);
    CHECK_STR_EQ(r.target, R2);
    CHECK_INT_EQ(feed(&e, WEP_SWITCH, -1, NULL, R2).outcome, WEP_CONFIRMED);
    wep_release(&e);
}

TEST(switch_master_naming_another_address)
{
    struct wep_shard e;
    wep_init(&e, 3, 2);
    to_selected(&e);
    CHECK_INT_EQ(feed(&e, WEP_PROMOTED, -1, NULL, R1).action, WEP_REPOINT);
    struct wep_result r = feed(&e, WEP_SWITCH, -1, NULL, R2);
    CHECK_INT_EQ(r.outcome, WEP_DIVERGED);
    CHECK_STR_EQ(r.previous, R1);
    /* the episode is over: the next one starts from nothing */
    CHECK(e.master == NULL && e.selected == NULL && !e.polling);
    CHECK_INT_EQ(feed(&e, WEP_PROMOTED, -1, NULL, R1).action, WEP_NOTHING);
    /* a +switch-master without an early repoint: quiet, but a poll stops */
    to_selected(&e);
    r = feed(&e, WEP_SWITCH, -1, NULL, R1);
    CHECK_INT_EQ(r.action, WEP_STOP_POLL);
    CHECK_INT_EQ(r.outcome, WEP_QUIET);
    wep_release(&e);
}

TEST(odown_of_another_master_starts_a_new_episode)
{
    struct wep_shard e;
    wep_init(&e, 3, 2);
    to_selected(&e);
    struct wep_result r = feed(&e, WEP_ODOWN, 2, R2, NULL);
    CHECK_INT_EQ(r.action, WEP_STOP_POLL);
    CHECK_STR_EQ(e.master, R2);
    CHECK_INT_EQ(wep_odown_votes(&e), 1);
    CHECK_INT_EQ(feed(&e, WEP_PROMOTED, -1, NULL, R1).action, WEP_NOTHING);
    /* every vote taken back: the episode is forgotten */
    feed(&e, WEP_ODOWN_CLEARED, 2, R2, NULL);
    CHECK(e.master == NULL);
    wep_release(&e);
}

TEST(payload_parser)
{
    char *name = NULL, *master = NULL, *addr = NULL;
    CHECK_INT_EQ(wep_parse_payload("master shard1 127.0.0.1 7001 #quorum 2/2", &name, &master,
                                   &addr), 0);
    CHECK_STR_EQ(name, "shard1");
    CHECK_STR_EQ(master, "127.0.0.1:7001");
    CHECK(addr == NULL);
    free(name);
    free(master);
    CHECK_INT_EQ(wep_parse_payload("slave 127.0.0.1:7002 127.0.0.1 7002 @ shard1 127.0.0.1 7001",
                                   &name, &master, &addr), 0);
    CHECK_STR_EQ(name, "shard1");
    CHECK_STR_EQ(master, "127.0.0.1:7001");
    CHECK_STR_EQ(addr, "127.0.0.1:7002");
    free(name);
    free(master);
    free(addr);
    const char *bad[] = {"", "master shard1 127.0.0.1", "master shard1 127.0.0.1 port",
                         "slave 1:2 127.0.0.1 7002 shard1 127.0.0.1 7001",
                         "slave 1:2 127.0.0.1 0 @ shard1 127.0.0.1 7001",
                         "sentinel abc 127.0.0.1 26379 @ shard1 127.0.0.1 7001"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        name = master = addr = NULL;
        CHECK_INT_EQ(wep_parse_payload(bad[i], &name, &master, &addr), -1);
        CHECK(name == NULL && master == NULL && addr == NULL);
    }
    CHECK_INT_EQ(wep_parse_payload(NULL, &name, &master, &addr), -1);
    CHECK_STR_EQ(wep_outcome_name(WEP_ABORTED), "aborted");
}

int main(void)
{
    RUN(normal_episode_repoints_at_the_promotion_and_is_confirmed);
    RUN(no_quorum_of_odown_no_poll);
    RUN(only_the_leader_selects_a_member);
    RUN(abort_before_promotion_then_a_new_epoch_selects_another_replica);
    RUN(abort_after_the_early_repoint_is_reported);
    RUN(new_election_selecting_another_replica_after_the_early_repoint);
    RUN(switch_master_naming_another_address);
    RUN(odown_of_another_master_starts_a_new_episode);
    RUN(payload_parser);
    return test_done();
}
