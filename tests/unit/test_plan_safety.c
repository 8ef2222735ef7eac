/*
 * test_plan_safety.c - properties of the planner that matter for safety,
 * checked in code on the cases of tests/fixtures/plan/ (and on observations
 * edited from them): what a plan does during a failover, with a stale
 * master, a removed shard or replica, drifted auth. The goldens and the
 * renderings are in test_plan.c; so that a careless golden update cannot
 * hide these, they do not depend on the expected files.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "conf.h"
#include "observed.h"
#include "plan.h"
#include "plan_case.h"
#include "render.h"
#include "spec.h"
#include "test.h"
#include "util.h"

TEST(empty_creates_everything)
{
    LOAD(c, "empty");
    struct plan_counts n = plan_count(c.plan);
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(n.change, 0);
    CHECK_INT_EQ(n.remove, 0);
    /* 4 redis + 3 sentinels + 1 proxy: files and start each, 2 monitors per sentinel */
    CHECK_INT_EQ(count_kind(c.plan, STEP_INSTALL_FILES), 8);
    CHECK_INT_EQ(count_kind(c.plan, STEP_START), 8);
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_MONITOR), 6);
    CHECK_INT_EQ(n.add, 22);
    /* spec spelling for targets, IPs for addresses */
    const struct step *s = find_step(c.plan, STEP_START, "node1:7002");
    CHECK(s != NULL);
    if (s) {
        CHECK_STR_EQ(s->ip, "127.0.0.1");
        CHECK_STR_EQ(s->master_ip, "127.0.0.1");
        CHECK_INT_EQ(s->master_port, 7001);
    }
    s = find_step(c.plan, STEP_START, "node1:7001");
    CHECK(s && !s->master_ip);
    CHECK(plan_has_changes(c.plan));
    CHECK(!plan_has_destructive(c.plan));
    case_free(&c);
}

TEST(converged_has_no_changes)
{
    const char *names[] = {"converged", "auth-converged"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        LOAD(c, names[i]);
        CHECK_INT_EQ(c.plan->nsteps, 0);
        CHECK_INT_EQ(c.plan->nrefusals, 0);
        CHECK_INT_EQ(c.plan->nwarnings, 0);
        CHECK(!plan_has_changes(c.plan));
        char *t = render_plan_text(c.spec, c.plan, false);
        CHECK_STR_EQ(t, "No changes. The cluster matches the spec.\n");
        free(t);
        case_free(&c);
    }
}

TEST(delay_left_at_zero_is_put_back)
{
    LOAD(c, "converged");
    struct obs_redis *m = &c.obs->redis[0]; /* 127.0.0.1:7001, shard1's master */
    const char *key = "repl-diskless-sync-delay";
    /* the state an apply killed between lowering and restoring leaves: 0 at runtime only */
    kv_put(&m->config, &m->nconfig, key, "0");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nsteps, 1);
    CHECK_STR_EQ(step_setting(c.plan, STEP_CONFIG_SET, 7001, key), "5");
    /* the value its file has */
    kv_put(&m->files.conf, &m->files.nconf, key, "3");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nsteps, 1);
    CHECK_STR_EQ(step_setting(c.plan, STEP_CONFIG_SET, 7001, key), "3");
    /* a 0 in the file too is someone's choice; so is any other value */
    kv_put(&m->files.conf, &m->files.nconf, key, "0");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nsteps, 0);
    kv_put(&m->config, &m->nconfig, key, "2");
    kv_put(&m->files.conf, &m->files.nconf, key, "3");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nsteps, 0);
    /* started without a config file (a node being taken over): its 0 is its operator's */
    kv_put(&m->config, &m->nconfig, key, "0");
    kv_put(&m->files.conf, &m->files.nconf, key, "5");
    m->config_file = xstrdup("");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK(!step_setting(c.plan, STEP_CONFIG_SET, 7001, key));
    free(m->config_file);
    m->config_file = xstrdup("/srv/redis/7001/redis.conf");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_STR_EQ(step_setting(c.plan, STEP_CONFIG_SET, 7001, key), "5");
    /* no redis.conf to tell (a node rmgr did not deploy): left alone */
    kv_put(&m->config, &m->nconfig, key, "0");
    m->files.conf_present = false;
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK(!step_setting(c.plan, STEP_CONFIG_SET, 7001, key));
    case_free(&c);
}

TEST(failover_follows_sentinel)
{
    LOAD(c, "failover");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(count_kind(c.plan, STEP_REPLICAOF), 0);
    CHECK_STR_EQ(c.plan->masters[0].ip, "127.0.0.1");
    CHECK_INT_EQ(c.plan->masters[0].port, 7002);
    CHECK(c.plan->master_from_sentinel[0]);
    for (size_t i = 0; i < c.plan->nsteps; i++) {
        const struct step *s = &c.plan->steps[i];
        /* only the "=" fact may name the new master */
        if (s->port == 7002)
            CHECK(s->kind == STEP_OBSERVED);
    }
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_CONFIG), 1);
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_RESTART), 1);
    CHECK_INT_EQ(count_kind(c.plan, STEP_OBSERVED), 1);
    CHECK_INT_EQ(c.plan->nsteps, 3);
    const struct step *o = find_step(c.plan, STEP_OBSERVED, NULL);
    if (o)
        CHECK_STR_EQ(o->reason, "shard1 master is 127.0.0.1:7002 (Sentinel-owned; spec "
                                "bootstrap master 127.0.0.1:7001)");
    const struct step *pc = find_step(c.plan, STEP_PROXY_CONFIG, NULL);
    if (pc) {
        CHECK_STR_EQ(pc->before, "shard1 127.0.0.1:7001");
        CHECK_STR_EQ(pc->after, "shard1 127.0.0.1:7002");
        CHECK(pc->safety == SAFETY_DISRUPTIVE);
    }
    case_free(&c);
}

TEST(refusals_plan_nothing)
{
    struct {
        const char *name, *needle;
    } cases[] = {
        {"second-master", "runs as a second master of shard1 while Sentinel owns 127.0.0.1:7002; Sentinel lists it as a replica and demotes it"},
        {"sentinels-disagree", "sentinels disagree"},
        {"no-quorum", "no quorum"},
        {"replica-outside-shard", "127.0.0.1:7099, which is not a member of shard1"},
        {"two-masters", "two masters"},
        {"master-down-no-sentinel", "could wipe that replica"},
        {"foreign-replica", "unknown node 127.0.0.1:7099 replicates from the master of shard1; "
                            "Sentinel could promote it"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        LOAD(c, cases[i].name);
        CHECK_INT_EQ(c.plan->nrefusals, 1);
        CHECK_INT_EQ(c.plan->nsteps, 0);
        if (c.plan->nrefusals) {
            CHECK_STR_EQ(c.plan->refusals[0].shard, "shard1");
            CHECK_CONTAINS(c.plan->refusals[0].diagnosis, cases[i].needle);
            /* the diagnosis names every node of the shard */
            CHECK_CONTAINS(c.plan->refusals[0].diagnosis, "redis 127.0.0.1:7001:");
            CHECK_CONTAINS(c.plan->refusals[0].diagnosis, "redis 127.0.0.1:7002:");
        }
        char *t = render_plan_text(c.spec, c.plan, false);
        CHECK_CONTAINS(t, "Error: refusing to plan shard shard1:\n");
        free(t);
        char *j = render_plan_json(c.spec, c.plan, NULL, NULL, NULL);
        CHECK_CONTAINS(j, "\"refused\": true");
        free(j);
        case_free(&c);
    }
}

TEST(sentinel_drift_sets_only_drifted_options)
{
    LOAD(c, "sentinel-drift");
    CHECK_INT_EQ(c.plan->nsteps, 1);
    const struct step *s = find_step(c.plan, STEP_SENTINEL_SET, "127.0.0.1:26002");
    CHECK(s != NULL);
    if (s) {
        CHECK_INT_EQ(s->nsettings, 2);
        CHECK_STR_EQ(obs_kv_get(s->settings, s->nsettings, "quorum"), "2");
        CHECK_STR_EQ(obs_kv_get(s->settings, s->nsettings, "down-after-milliseconds"), "5000");
        CHECK_STR_EQ(s->shard, "shard1");
    }
    case_free(&c);
}

TEST(config_drift)
{
    LOAD(c, "config-drift");
    const struct step *s = find_step(c.plan, STEP_CONFIG_SET, "127.0.0.1:7001");
    CHECK(s && s->nsettings == 1);
    if (s && s->nsettings)
        CHECK_STR_EQ(s->settings[0].key, "maxmemory");
    CHECK(find_step(c.plan, STEP_CONFIG_REWRITE, "127.0.0.1:7003") != NULL);
    CHECK_INT_EQ(c.plan->nsteps, 2);
    case_free(&c);
}

TEST(shard_removed_is_destructive)
{
    LOAD(c, "shard-removed");
    CHECK(plan_has_destructive(c.plan));
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_REMOVE), 3);
    CHECK_INT_EQ(count_kind(c.plan, STEP_STOP), 2);
    CHECK_INT_EQ(count_kind(c.plan, STEP_REMOVE_FILES), 2);
    /* nothing of shard1 is stopped; the clean-up runs after the proxies moved */
    for (size_t i = 0; i < c.plan->nsteps; i++) {
        const struct step *s = &c.plan->steps[i];
        if (s->kind == STEP_STOP || s->kind == STEP_REMOVE_FILES) {
            CHECK(s->port == 7003 || s->port == 7004);
            CHECK(s->wave == WAVE_CLEANUP);
        }
    }
    const struct step *pc = find_step(c.plan, STEP_PROXY_CONFIG, NULL);
    CHECK(pc && pc->after && strstr(pc->after, "shard2 (removed)"));
    case_free(&c);
}

TEST(removed_shard_master_stops_after_its_replicas)
{
    LOAD(c, "shard-removed");
    size_t m = stop_index(c.plan, 7003), r = stop_index(c.plan, 7004);
    CHECK(m != SIZE_MAX && r != SIZE_MAX);
    if (m == SIZE_MAX || r == SIZE_MAX) {
        case_free(&c);
        return;
    }
    /* Sentinel's master 7003 waits for its replica 7004, not the other way round */
    CHECK(c.plan->steps[m].stops_master && !c.plan->steps[r].stops_master);
    CHECK(apply_step_waits_for(c.plan, m, r));
    CHECK(!apply_step_waits_for(c.plan, r, m));

    /* after a failover (every sentinel names 7004, which answers as master) the roles turn */
    for (size_t j = 0; j < c.obs->nsentinels; j++)
        for (size_t k = 0; k < c.obs->sentinels[j].nmasters; k++) {
            struct obs_sentinel_master *sm = &c.obs->sentinels[j].masters[k];
            if (!str_eq(sm->name, "shard2"))
                continue;
            sm->port = 7004;
            for (size_t q = 0; q < sm->nreplicas; q++)
                sm->replicas[q].port = 7003;
        }
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    m = stop_index(c.plan, 7004);
    r = stop_index(c.plan, 7003);
    CHECK(m != SIZE_MAX && r != SIZE_MAX);
    if (m != SIZE_MAX && r != SIZE_MAX) {
        CHECK(c.plan->steps[m].stops_master && !c.plan->steps[r].stops_master);
        CHECK(apply_step_waits_for(c.plan, m, r));
        CHECK(!apply_step_waits_for(c.plan, r, m));
    }
    case_free(&c);
}

TEST(unreachable_node_counts_as_drift)
{
    LOAD(c, "node-unreachable");
    CHECK_INT_EQ(c.plan->unreachable, 1);
    CHECK_INT_EQ(c.plan->nsteps, 1);
    CHECK(c.plan->nsteps && c.plan->steps[0].kind == STEP_OBSERVED);
    if (c.plan->nsteps) /* JSON consumers find the shard in "shard", as for every redis step */
        CHECK_STR_EQ(c.plan->steps[0].shard, "shard2");
    CHECK(plan_has_changes(c.plan));
    CHECK_INT_EQ(c.plan->nwarnings, 1);
    struct plan_counts n = plan_count(c.plan);
    CHECK_INT_EQ(n.add + n.change + n.remove, 0);
    case_free(&c);
}

TEST(interrupted_proxy_restart)
{
    LOAD(c, "interrupted-proxy-restart");
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_CONFIG), 0);
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_RESTART), 1);
    const struct step *s = find_step(c.plan, STEP_PROXY_RESTART, NULL);
    if (s) /* the file may just have been touched: no claim that an apply was interrupted */
        CHECK_STR_EQ(s->reason, "nutcracker.yml was written after nutcracker started (an "
                                "interrupted apply, or the file was touched): restart so the "
                                "running config is known to match");
    case_free(&c);
}

TEST(stopped_proxy_is_started_not_restarted)
{
    LOAD(c, "proxy-down-stale");
    const struct step *pc = find_step(c.plan, STEP_PROXY_CONFIG, NULL);
    CHECK(pc && pc->safety == SAFETY_SAFE);
    CHECK(find_step(c.plan, STEP_START, "127.0.0.1:22121") != NULL);
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_RESTART), 0);
    case_free(&c);
}

TEST(restarted_sentinel_keeps_its_monitors)
{
    LOAD(c, "sentinels-restart");
    CHECK(find_step(c.plan, STEP_START, "127.0.0.1:26002") != NULL);
    CHECK(!find_step(c.plan, STEP_SENTINEL_MONITOR, "127.0.0.1:26002"));
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_MONITOR), 2);
    /* an apply killed between its install-files and its monitors left a sentinel.conf
     * without them: it gets them after its start, in the same apply */
    struct obs_sentinel *os = NULL;
    for (size_t j = 0; j < c.obs->nsentinels; j++)
        if (c.obs->sentinels[j].port == 26002)
            os = &c.obs->sentinels[j];
    CHECK(os != NULL);
    if (os) {
        obs_kv_free_array(os->files.conf, os->files.nconf);
        os->files.conf = NULL;
        os->files.nconf = 0;
        plan_free(c.plan);
        c.plan = plan_compute(c.spec, c.obs);
        CHECK(find_step(c.plan, STEP_START, "127.0.0.1:26002") != NULL);
        CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_MONITOR), 4);
    }
    case_free(&c);
}

TEST(promoted_by_hand_keeps_the_data)
{
    LOAD(c, "promoted-by-hand");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(c.plan->masters[0].port, 7002);
    CHECK(!c.plan->master_from_sentinel[0]);
    const struct step *s = find_step(c.plan, STEP_REPLICAOF, "127.0.0.1:7001");
    CHECK(s && s->master_port == 7002);
    CHECK(!find_step(c.plan, STEP_REPLICAOF, "127.0.0.1:7002"));
    case_free(&c);
}

TEST(interrupted_bootstrap_is_accepted)
{
    LOAD(c, "interrupted-bootstrap");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    /* 26001 watches shard1 only: 5 monitors to add */
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_MONITOR), 5);
    case_free(&c);
}

TEST(stale_sentinel_replica_is_reset_one_sentinel_at_a_time)
{
    LOAD(c, "sentinel-stale-replica");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(c.plan->nsteps, 2);
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_RESET), 2);
    const char *targets[] = {"127.0.0.1:26001", "127.0.0.1:26003"};
    for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
        const struct step *s = find_step(c.plan, STEP_SENTINEL_RESET, targets[i]);
        CHECK(s != NULL);
        if (!s)
            continue;
        CHECK_STR_EQ(step_kind_name(s->kind), "sentinel-reset");
        CHECK(s->action == ACTION_CHANGE);
        CHECK(s->safety == SAFETY_DISRUPTIVE);
        CHECK(s->wave == WAVE_SENTINELS);
        CHECK_STR_EQ(s->shard, "shard1");
        CHECK_STR_EQ(s->master_ip, "127.0.0.1");
        CHECK_INT_EQ(s->master_port, 7001);
        CHECK_STR_EQ(s->before, "replica 127.0.0.1:7004");
    }
    CHECK(!find_step(c.plan, STEP_SENTINEL_RESET, "127.0.0.1:26002"));
    CHECK_INT_EQ(c.plan->nwarnings, 1);
    if (c.plan->nwarnings)
        CHECK_CONTAINS(c.plan->warnings[0], "127.0.0.1:7004 as a replica of shard1");
    CHECK(plan_has_changes(c.plan));

    /* apply runs every reset in one lane: never two sentinels at once */
    size_t lane_of[8];
    CHECK(c.plan->nsteps <= ARRAY_SIZE(lane_of));
    if (c.plan->nsteps <= ARRAY_SIZE(lane_of)) {
        CHECK_INT_EQ(apply_lanes(c.plan, WAVE_SENTINELS, lane_of), 1);
        CHECK_INT_EQ(lane_of[0], lane_of[1]);
    }
    case_free(&c);
}

TEST(foreign_replica_refused_when_it_follows_the_master)
{
    /* the node itself says it replicates from shard1's master */
    LOAD(c, "sentinel-stale-replica");
    for (size_t i = 0; i < c.obs->nredis; i++) {
        struct obs_redis *r = &c.obs->redis[i];
        if (r->port == 7004)
            r->master_port = 7001;
    }
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nsteps, 0);
    bool found = false;
    for (size_t i = 0; i < c.plan->nrefusals; i++)
        if (str_eq(c.plan->refusals[i].shard, "shard1")) {
            found = true;
            CHECK_CONTAINS(c.plan->refusals[i].diagnosis,
                           "unknown node 127.0.0.1:7004 replicates from the master of shard1");
            CHECK_CONTAINS(c.plan->refusals[i].diagnosis,
                           "redis 127.0.0.1:7004: replica of 127.0.0.1:7001");
        }
    CHECK(found);
    case_free(&c);

    /* the master cannot be observed: whether it replicates is unknown */
    LOAD(d, "sentinel-stale-replica");
    d.obs->redis[0].reach = REACH_TIMEOUT;
    plan_free(d.plan);
    d.plan = plan_compute(d.spec, d.obs);
    CHECK_INT_EQ(d.plan->nrefusals, 1);
    CHECK_INT_EQ(d.plan->nsteps, 0);
    if (d.plan->nrefusals)
        CHECK_CONTAINS(d.plan->refusals[0].diagnosis,
                       "may replicate from the master of shard1, which could not be observed");
    case_free(&d);
}

TEST(auth_drift_plans_only_the_placeholder)
{
    LOAD(c, "auth-drift");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(c.plan->nsteps, 2);
    const struct step *s = find_step(c.plan, STEP_CONFIG_SET, "127.0.0.1:7002");
    CHECK(s && s->nsettings == 1 && s->safety == SAFETY_SAFE && s->action == ACTION_CHANGE);
    if (s && s->nsettings == 1) {
        CHECK_STR_EQ(s->settings[0].key, "masterauth");
        CHECK_STR_EQ(s->settings[0].value, CONF_SECRET_PLACEHOLDER);
        CHECK_STR_EQ(s->before, "masterauth " CONF_SECRET_MISMATCH);
        CHECK_STR_EQ(s->after, "masterauth " CONF_SECRET_PLACEHOLDER);
    }
    s = find_step(c.plan, STEP_CONFIG_REWRITE, "127.0.0.1:7003");
    CHECK(s && s->nsettings == 2);
    if (s && s->nsettings == 2) {
        CHECK_STR_EQ(obs_kv_get(s->settings, 2, "requirepass"), CONF_SECRET_PLACEHOLDER);
        CHECK_STR_EQ(obs_kv_get(s->settings, 2, "masterauth"), CONF_SECRET_PLACEHOLDER);
    }
    /* no password at all on a node: a warning, never a step that turns auth on */
    for (size_t i = 0; i < c.plan->nsteps; i++)
        CHECK(c.plan->steps[i].port != 7004);
    CHECK_INT_EQ(c.plan->nwarnings, 1);
    if (c.plan->nwarnings)
        CHECK_CONTAINS(c.plan->warnings[0], "127.0.0.1:7004 runs without requirepass");
    char *t = render_plan_text(c.spec, c.plan, false);
    CHECK_CONTAINS(t, "      masterauth <secret-mismatch> -> <secret>\n");
    free(t);
    case_free(&c);
}

/* Observations taken during real failovers: a state to wait on, never a refusal. */
TEST(failover_in_progress_is_waiting_not_refused)
{
    static const struct {
        const char *name, *state;
        size_t switched;
    } cases[] = {
        {"failover-leader-behind", "reconf_slaves", 2},
        {"failover-promoted-unannounced", "wait_promotion", 0},
        {"failover-replicas-reconfiguring", "reconf_slaves", 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        LOAD(c, cases[i].name);
        CHECK_INT_EQ(c.plan->nrefusals, 0);
        CHECK_INT_EQ(c.plan->waiting, 1);
        CHECK(c.plan->shard_failover[0] && c.plan->shard_waiting[0]);
        CHECK(!c.plan->shard_failover[1] && !c.plan->shard_failover[2]);
        CHECK(!acts_on_shard(c.plan, "alpha"));
        CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_CONFIG), 0);
        CHECK(plan_has_changes(c.plan)); /* --detailed-exitcode: 2 */
        const struct step *st = find_step(c.plan, STEP_OBSERVED, "127.0.0.1:17002");
        CHECK(st != NULL);
        if (st) {
            char *want = xasprintf("alpha: Sentinel failover in progress (leader "
                                   "127.0.0.1:17103, epoch 3, state %s, promoting "
                                   "127.0.0.1:17002",
                                   cases[i].state);
            CHECK_CONTAINS(st->reason, want);
            free(want);
            CHECK_INT_EQ(st->master_port, 17002);
            if (cases[i].switched)
                CHECK_CONTAINS(st->reason, "2 of 3 sentinels switched");
            else
                CHECK(!strstr(st->reason, "switched"));
        }
        char *j = render_plan_json(c.spec, c.plan, NULL, NULL, NULL);
        CHECK_CONTAINS(j, "\"waiting\": 1");
        CHECK_CONTAINS(j, "\"refused\": false");
        free(j);
        char *t = render_plan_text(c.spec, c.plan, false);
        CHECK_CONTAINS(t, "Waiting: Sentinel is failing over 1 shard");
        CHECK(!strstr(t, "demote"));
        free(t);

        /* a proxy already repointed at the promoted replica is never turned back */
        struct obs_proxy *op = &c.obs->proxies[0];
        char *at = strstr(op->config_text, "127.0.0.1:17003:1 alpha");
        CHECK(at != NULL);
        if (at) {
            memcpy(at, "127.0.0.1:17002", 15);
            plan_free(c.plan);
            c.plan = plan_compute(c.spec, c.obs);
            CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_CONFIG), 0);
            CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_RESTART), 0);
            /* another change to the proxy: apply renders alpha as the proxy has it */
            c.spec->proxies[0].timeout_ms += 100;
            plan_free(c.plan);
            c.plan = plan_compute(c.spec, c.obs);
            const struct step *pc = find_step(c.plan, STEP_PROXY_CONFIG, NULL);
            CHECK(pc != NULL);
            if (pc) {
                CHECK_INT_EQ(pc->nsettings, 1);
                if (pc->nsettings) {
                    CHECK_STR_EQ(pc->settings[0].key, "server:alpha");
                    CHECK_STR_EQ(pc->settings[0].value, "127.0.0.1:17002");
                }
                struct spec_addr *ms = plan_proxy_masters(c.spec, c.plan, pc);
                CHECK_INT_EQ(ms[0].port, 17002);      /* not the dead 17003 */
                CHECK_INT_EQ(c.plan->masters[0].port, 17003);
                free(ms);
                CHECK(!pc->after || !strstr(pc->after, "alpha"));
            }
        }
        case_free(&c);
    }

    /* the same split after the failover ended, the sentinel left behind back from a
       stop (in TILT: nothing flagged yet) at an older epoch, naming the old master that
       does not run: its hello messages bring it epoch 3 (captured in CI, test_failover_retry:
       that sentinel named 17003 "master,disconnected" at epoch 0), so Sentinel is still
       spreading its configuration: waiting, not refused */
    LOAD(d, "failover-leader-behind");
    struct obs_sentinel_master *m = entry_of(d.obs, 17103, "alpha");
    CHECK(m != NULL);
    if (m) {
        free(m->flags);
        m->flags = xstrdup("master,disconnected");
        free(m->failover_state);
        m->failover_state = NULL;
        m->config_epoch = 2;
        plan_free(d.plan);
        d.plan = plan_compute(d.spec, d.obs);
        CHECK_INT_EQ(d.plan->nrefusals, 0);
        CHECK_INT_EQ(d.plan->waiting, 1);
        CHECK_INT_EQ(d.plan->masters[0].port, 17003); /* no step moves alpha's roles */
        CHECK(!acts_on_shard(d.plan, "alpha"));
        CHECK_INT_EQ(count_kind(d.plan, STEP_PROXY_CONFIG), 0);
        const struct step *st = find_step(d.plan, STEP_OBSERVED, "127.0.0.1:17002");
        CHECK(st != NULL);
        if (st)
            CHECK_CONTAINS(st->reason, "promoting 127.0.0.1:17002, 2 of 3 sentinels switched");

        /* the same epoch on both sides: nothing orders them, a real disagreement */
        m->config_epoch = 3;
        plan_free(d.plan);
        d.plan = plan_compute(d.spec, d.obs);
        CHECK_INT_EQ(d.plan->nrefusals, 1);
        CHECK_INT_EQ(d.plan->waiting, 0);
        if (d.plan->nrefusals)
            CHECK_CONTAINS(d.plan->refusals[0].diagnosis, "sentinels disagree on the master of alpha");

        /* an older epoch, but the old master runs (as a replica) and nothing flags it down:
           not a failover spreading, a sentinel that missed one (partitioned): refused */
        m->config_epoch = 2;
        struct obs_redis *old = (struct obs_redis *)observed_redis(d.obs, "127.0.0.1", 17003);
        CHECK(old != NULL);
        if (old) {
            old->reach = REACH_OK;
            free(old->role);
            old->role = xstrdup("slave");
        }
        plan_free(d.plan);
        d.plan = plan_compute(d.spec, d.obs);
        CHECK_INT_EQ(d.plan->nrefusals, 1);
        CHECK_INT_EQ(d.plan->waiting, 0);
        if (d.plan->nrefusals)
            CHECK_CONTAINS(d.plan->refusals[0].diagnosis, "sentinels disagree on the master of alpha");
    }
    case_free(&d);

    /* a failover flagged for a master outside the shard is no failover of ours */
    LOAD(e, "failover-promoted-unannounced");
    m = entry_of(e.obs, 17103, "alpha");
    if (m) {
        m->port = 17999;
        plan_free(e.plan);
        e.plan = plan_compute(e.spec, e.obs);
        CHECK_INT_EQ(e.plan->waiting, 0);
        CHECK_INT_EQ(e.plan->nrefusals, 1);
    }
    case_free(&e);
}

/* An old master back as a master beside a finished failover, named by a sentinel that missed it. */
TEST(stale_master_beside_a_finished_failover_is_refused)
{
    LOAD(c, "failover-stale-master");
    CHECK_INT_EQ(c.plan->nrefusals, 1);
    CHECK_INT_EQ(c.plan->nsteps, 0);
    CHECK_INT_EQ(c.plan->waiting, 0);
    if (c.plan->nrefusals) {
        CHECK_STR_EQ(c.plan->refusals[0].shard, "alpha");
        CHECK_CONTAINS(c.plan->refusals[0].diagnosis, "sentinels disagree on the master of alpha");
        CHECK_CONTAINS(c.plan->refusals[0].diagnosis,
                       "sentinel 127.0.0.1:17101: master 127.0.0.1:17002 (flags master, epoch 3)");
    }
    case_free(&c);
}

TEST(dead_master_is_left_to_sentinel_while_a_replica_runs)
{
    LOAD(c, "master-down-replica-alive");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    /* never restarted empty: no start, no replicaof, the proxy keeps the master */
    CHECK(!find_step(c.plan, STEP_START, "127.0.0.1:7001"));
    CHECK_INT_EQ(count_kind(c.plan, STEP_REPLICAOF), 0);
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_CONFIG), 0);
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_RESTART), 0);
    CHECK_INT_EQ(c.plan->masters[0].port, 7001);
    const struct step *s = find_step(c.plan, STEP_OBSERVED, "127.0.0.1:7001");
    CHECK(s && s->action == ACTION_NONE && !s->master_ip);
    if (s)
        CHECK_STR_EQ(s->reason, "shard1 master 127.0.0.1:7001 is down; waiting for Sentinel to "
                                "fail over to a replica (down-after 5000 ms); no restart, it "
                                "would come back empty and wipe the replicas");
    CHECK_INT_EQ(c.plan->waiting, 1);
    CHECK_INT_EQ(c.plan->unreachable, 0);
    CHECK(plan_has_changes(c.plan)); /* --detailed-exitcode: 2 */
    CHECK_INT_EQ(c.plan->nwarnings, 1);
    if (c.plan->nwarnings)
        CHECK_CONTAINS(c.plan->warnings[0], "rmgr does not restart it");
    char *sum = render_plan_summary(c.plan);
    CHECK_STR_EQ(sum, "No changes planned while Sentinel fails over.");
    free(sum);

    /* a replica that cannot be observed may hold the data too: still wait */
    c.obs->redis[1].reach = REACH_TIMEOUT;
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK(!find_step(c.plan, STEP_START, "127.0.0.1:7001"));
    CHECK_INT_EQ(c.plan->waiting, 1);

    /* every member down: nothing to wipe, start the master as master */
    obs_stop(c.obs, 7002);
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->waiting, 0);
    s = find_step(c.plan, STEP_START, "127.0.0.1:7001");
    CHECK(s && !s->master_ip);
    s = find_step(c.plan, STEP_START, "127.0.0.1:7002");
    CHECK(s && s->master_port == 7001);
    case_free(&c);
}

TEST(dead_master_without_sentinel_starts_only_when_nothing_can_be_wiped)
{
    /* the replica holds keys: refused (golden master-down-no-sentinel) */
    LOAD(c, "master-down-no-sentinel");
    CHECK_INT_EQ(c.plan->nrefusals, 1);
    /* loading its data: keys are not known yet */
    struct obs_redis *r = obs_node(c.obs, 7002);
    r->keys = 0;
    r->loading = true;
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nrefusals, 1);
    if (c.plan->nrefusals)
        CHECK_CONTAINS(c.plan->refusals[0].diagnosis, "is loading its data");
    /* not observable: unknown */
    r->loading = false;
    r->reach = REACH_TIMEOUT;
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nrefusals, 1);
    if (c.plan->nrefusals)
        CHECK_CONTAINS(c.plan->refusals[0].diagnosis, "could not be observed (timeout)");
    /* an empty running replica: nothing to lose, the master is started */
    r->reach = REACH_OK;
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(c.plan->waiting, 0);
    CHECK(find_step(c.plan, STEP_START, "127.0.0.1:7001") != NULL);
    case_free(&c);
}

TEST(removed_replica_is_stopped_then_forgotten_by_sentinel)
{
    LOAD(c, "replica-removed");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    size_t stop = step_index(c.plan, STEP_STOP, "127.0.0.1:7005");
    size_t rm = step_index(c.plan, STEP_REMOVE_FILES, "127.0.0.1:7005");
    CHECK(stop != SIZE_MAX && rm != SIZE_MAX);
    if (stop == SIZE_MAX || rm == SIZE_MAX) {
        case_free(&c);
        return;
    }
    CHECK(stop < rm);
    const struct step *st = &c.plan->steps[stop];
    CHECK(st->action == ACTION_REMOVE && st->safety == SAFETY_DESTRUCTIVE &&
          st->wave == WAVE_CLEANUP && st->instance == INSTANCE_REDIS);
    CHECK_STR_EQ(st->shard, "shard1");
    st = &c.plan->steps[rm];
    CHECK(st->action == ACTION_REMOVE && st->safety == SAFETY_DESTRUCTIVE &&
          st->wave == WAVE_CLEANUP);
    CHECK(plan_has_destructive(c.plan));
    /* every sentinel forgets it, after the stop, one at a time */
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_RESET), 3);
    size_t lane_of[16];
    CHECK(c.plan->nsteps <= ARRAY_SIZE(lane_of));
    if (c.plan->nsteps <= ARRAY_SIZE(lane_of)) {
        CHECK_INT_EQ(apply_lanes(c.plan, WAVE_CLEANUP, lane_of), 2);
        for (size_t i = 0; i < c.plan->nsteps; i++) {
            const struct step *s = &c.plan->steps[i];
            if (s->kind != STEP_SENTINEL_RESET)
                continue;
            CHECK(s->wave == WAVE_CLEANUP && i > rm);
            CHECK(lane_of[i] != lane_of[stop]);
            CHECK_STR_EQ(s->before, "replica 127.0.0.1:7005");
            CHECK_INT_EQ(s->master_port, 7001);
        }
    }
    case_free(&c);

    /* no instance directory of this cluster there: not ours, refused */
    LOAD(d, "replica-removed");
    obs_node(d.obs, 7005)->files.dir_present = false;
    plan_free(d.plan);
    d.plan = plan_compute(d.spec, d.obs);
    CHECK_INT_EQ(d.plan->nrefusals, 1);
    if (d.plan->nrefusals)
        CHECK_CONTAINS(d.plan->refusals[0].diagnosis,
                       "unknown node 127.0.0.1:7005 replicates from the master of shard1");
    /* its files could not be looked at: not known to be ours */
    obs_node(d.obs, 7005)->files.dir_present = true;
    obs_node(d.obs, 7005)->files.checked = false;
    plan_free(d.plan);
    d.plan = plan_compute(d.spec, d.obs);
    CHECK_INT_EQ(d.plan->nrefusals, 1);
    /* the master cannot be observed: still refused */
    obs_node(d.obs, 7005)->files.checked = true;
    obs_node(d.obs, 7001)->reach = REACH_TIMEOUT;
    plan_free(d.plan);
    d.plan = plan_compute(d.spec, d.obs);
    CHECK_INT_EQ(d.plan->nrefusals, 1);
    case_free(&d);

    /* pointed elsewhere (shard2's master) and gone from shard1's INFO: a stale entry */
    LOAD(e, "replica-removed");
    obs_node(e.obs, 7005)->master_port = 7003;
    obs_node(e.obs, 7001)->nreplicas = 1; /* the array keeps its entry for freeing */
    plan_free(e.plan);
    e.plan = plan_compute(e.spec, e.obs);
    CHECK_INT_EQ(e.plan->nrefusals, 0);
    CHECK_INT_EQ(count_kind(e.plan, STEP_STOP), 0);
    CHECK_INT_EQ(count_kind(e.plan, STEP_SENTINEL_RESET), 3);
    for (size_t i = 0; i < e.plan->nsteps; i++)
        CHECK(e.plan->steps[i].wave == WAVE_SENTINELS);
    obs_node(e.obs, 7001)->nreplicas = 2;
    case_free(&e);
}

TEST(a_password_the_servers_refuse_refuses_the_plan)
{
    LOAD(c, "wrong-password");
    CHECK_INT_EQ(c.plan->nrefusals, 2);
    CHECK_INT_EQ(c.plan->nsteps, 0); /* no proxy-config or restart with the wrong password */
    for (size_t i = 0; i < c.plan->nrefusals; i++) {
        const char *d = c.plan->refusals[i].diagnosis;
        CHECK_CONTAINS(d, "authentication failed on 4 of 4 redis instances: the password "
                          "from environment variable RMGR_REDIS_TEST_PASSWORD does not match the "
                          "cluster's; rmgr does not rotate passwords");
        CHECK_CONTAINS(d, "auth-pass on every sentinel");
    }
    case_free(&c);

    /* one node is enough; a spec without auth: says it sets none */
    LOAD(d, "converged");
    d.obs->redis[3].reach = REACH_AUTH;
    plan_free(d.plan);
    d.plan = plan_compute(d.spec, d.obs);
    CHECK_INT_EQ(d.plan->nrefusals, 1);
    CHECK_INT_EQ(d.plan->nsteps, 0);
    if (d.plan->nrefusals) {
        CHECK_STR_EQ(d.plan->refusals[0].shard, "shard2");
        CHECK_CONTAINS(d.plan->refusals[0].diagnosis,
                       "authentication failed on 1 of 4 redis instances: they require a "
                       "password and the spec sets none");
    }
    case_free(&d);
}

TEST(sentinel_auth_pass_missing_or_other_is_set)
{
    LOAD(c, "sentinel-auth-missing");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(c.plan->nsteps, 2);
    const struct step *s = find_step(c.plan, STEP_SENTINEL_SET, "127.0.0.1:26002");
    CHECK(s && s->safety == SAFETY_SAFE && s->action == ACTION_CHANGE && s->nsettings == 1);
    if (s && s->nsettings == 1) {
        CHECK_STR_EQ(s->shard, "shard2");
        CHECK_STR_EQ(s->settings[0].key, "auth-pass");
        CHECK_STR_EQ(s->settings[0].value, CONF_SECRET_PLACEHOLDER);
        CHECK_STR_EQ(s->before, "auth-pass (absent)");
        CHECK_STR_EQ(s->after, "auth-pass " CONF_SECRET_PLACEHOLDER);
    }
    s = find_step(c.plan, STEP_SENTINEL_SET, "127.0.0.1:26003");
    CHECK(s && s->nsettings == 1);
    if (s)
        CHECK_STR_EQ(s->shard, "shard1");
    /* with an option drift on the same shard: one step */
    for (size_t k = 0; k < c.obs->sentinels[1].nmasters; k++)
        if (str_eq(c.obs->sentinels[1].masters[k].name, "shard2"))
            c.obs->sentinels[1].masters[k].quorum = 1;
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    s = find_step(c.plan, STEP_SENTINEL_SET, "127.0.0.1:26002");
    CHECK(s && s->nsettings == 2);
    if (s) {
        CHECK_STR_EQ(s->before, "quorum 1\nauth-pass (absent)");
        CHECK_STR_EQ(obs_kv_get(s->settings, s->nsettings, "quorum"), "2");
    }
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_SET), 2);
    case_free(&c);
}

TEST(password_unknown_to_the_spec_is_left_with_a_warning)
{
    LOAD(c, "converged");
    obs_config_add(&c.obs->redis[1], "masterauth", CONF_SECRET_MISMATCH);
    obs_config_add(&c.obs->redis[1], "requirepass", "");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nsteps, 0);
    CHECK_INT_EQ(c.plan->nwarnings, 1);
    if (c.plan->nwarnings)
        CHECK_CONTAINS(c.plan->warnings[0],
                       "127.0.0.1:7002 has a masterauth but the spec sets no password");
    case_free(&c);
}

int main(void)
{
    RUN(empty_creates_everything);
    RUN(converged_has_no_changes);
    RUN(delay_left_at_zero_is_put_back);
    RUN(failover_follows_sentinel);
    RUN(refusals_plan_nothing);
    RUN(sentinel_drift_sets_only_drifted_options);
    RUN(config_drift);
    RUN(shard_removed_is_destructive);
    RUN(removed_shard_master_stops_after_its_replicas);
    RUN(unreachable_node_counts_as_drift);
    RUN(interrupted_proxy_restart);
    RUN(stopped_proxy_is_started_not_restarted);
    RUN(restarted_sentinel_keeps_its_monitors);
    RUN(promoted_by_hand_keeps_the_data);
    RUN(interrupted_bootstrap_is_accepted);
    RUN(stale_sentinel_replica_is_reset_one_sentinel_at_a_time);
    RUN(foreign_replica_refused_when_it_follows_the_master);
    RUN(auth_drift_plans_only_the_placeholder);
    RUN(password_unknown_to_the_spec_is_left_with_a_warning);
    RUN(dead_master_is_left_to_sentinel_while_a_replica_runs);
    RUN(failover_in_progress_is_waiting_not_refused);
    RUN(stale_master_beside_a_finished_failover_is_refused);
    RUN(removed_replica_is_stopped_then_forgotten_by_sentinel);
    RUN(a_password_the_servers_refuse_refuses_the_plan);
    RUN(sentinel_auth_pass_missing_or_other_is_set);
    RUN(dead_master_without_sentinel_starts_only_when_nothing_can_be_wiped);
    return test_done();
}
