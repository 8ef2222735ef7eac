/*
 * test_failover.c - failover_held_off(): Sentinel holding a failover back
 * after an abandoned attempt, read off an observation (failover.c).
 *
 * The case is the planner fixture master-down-sentinel-held-off (shard1's
 * master o_down for 14.2 s, failover-timeout 12 s, no attempt running); each
 * test changes one thing of it in memory.
 */
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "failover.h"
#include "observed.h"
#include "spec.h"
#include "test.h"
#include "util.h"

static struct spec *spec;
static struct observed *obs;

static bool load(void)
{
    const char *t = getenv("RMGR_TESTS_DIR");
    char *dir = xasprintf("%s/fixtures/plan/master-down-sentinel-held-off", t && *t ? t : "tests");
    char *sp = xasprintf("%s/spec.yaml", dir), *op = xasprintf("%s/observed.json", dir);
    struct diags d = {0};
    observed_free(obs);
    spec_free(spec);
    spec = spec_load_file(sp, &d);
    diags_release(&d);
    char *text = test_slurp(op), *err = NULL;
    obs = text ? observed_from_json(text, &err) : NULL;
    if (err)
        printf("    %s: %s\n", op, err);
    free(err);
    free(text);
    free(sp);
    free(op);
    free(dir);
    return spec && obs;
}

/* sentinel j's entry for shard1 */
static struct obs_sentinel_master *entry(size_t j)
{
    struct obs_sentinel *os = &obs->sentinels[j];
    for (size_t k = 0; k < os->nmasters; k++)
        if (str_eq(os->masters[k].name, "shard1"))
            return &os->masters[k];
    return NULL;
}

static void set_flags(size_t j, const char *flags)
{
    free(entry(j)->flags);
    entry(j)->flags = xstrdup(flags);
}

TEST(an_abandoned_attempt_is_held_off)
{
    CHECK(load());
    struct failover_hold fh = {0};
    CHECK(failover_held_off(spec, obs, 0, &fh));
    CHECK(fh.odown_ms == 14200);    /* the sentinel that flagged it down first */
    CHECK(fh.timeout_ms == 12000);
    /* 2 x 12 s + 1 s of Sentinel's start jitter - 14.2 s */
    CHECK(fh.retry_in_ms == 10800);
    char *d = failover_hold_describe(&fh, true);
    CHECK_CONTAINS(d, "o_down for 14.2 s");
    CHECK_CONTAINS(d, "at the latest 24.0 s (2 x failover-timeout)");
    CHECK_CONTAINS(d, "in about 11 s");
    free(d);
    d = failover_hold_describe(&fh, false); /* plans of one state read alike */
    CHECK(!strstr(d, "14.2") && !strstr(d, "in about"));
    free(d);
    CHECK(!failover_held_off(spec, obs, 1, &fh)); /* shard2's master is up */
}

TEST(an_attempt_running_is_not_held_off)
{
    CHECK(load());
    struct failover_hold fh;
    set_flags(2, "s_down,o_down,master,disconnected,failover_in_progress");
    CHECK(!failover_held_off(spec, obs, 0, &fh));
}

TEST(not_before_an_election_could_have_ended)
{
    CHECK(load());
    struct failover_hold fh;
    /* an election lasts min(10 s, failover-timeout), starting up to 1 s late */
    for (size_t j = 0; j < obs->nsentinels; j++)
        entry(j)->odown_ms = 12000;
    CHECK(!failover_held_off(spec, obs, 0, &fh));
    entry(1)->odown_ms = 12001;
    CHECK(failover_held_off(spec, obs, 0, &fh));
    CHECK(fh.odown_ms == 12001);
    /* failover-timeout below 10 s bounds the election instead */
    for (size_t j = 0; j < obs->nsentinels; j++)
        entry(j)->failover_timeout_ms = 4000, entry(j)->odown_ms = 6500;
    CHECK(failover_held_off(spec, obs, 0, &fh));
    CHECK(fh.retry_in_ms == 2 * 4000 + 1000 - 6500);
    for (size_t j = 0; j < obs->nsentinels; j++)
        entry(j)->odown_ms = 30000; /* overdue: the next attempt is due now */
    CHECK(failover_held_off(spec, obs, 0, &fh));
    CHECK(fh.retry_in_ms == 0);
}

TEST(s_down_alone_or_unreachable_sentinels_say_nothing)
{
    CHECK(load());
    struct failover_hold fh;
    for (size_t j = 0; j < obs->nsentinels; j++)
        set_flags(j, "s_down,master,disconnected"); /* fewer than a quorum see it down */
    CHECK(!failover_held_off(spec, obs, 0, &fh));
    CHECK(load());
    for (size_t j = 0; j < obs->nsentinels; j++)
        obs->sentinels[j].reach = REACH_REFUSED;
    CHECK(!failover_held_off(spec, obs, 0, &fh));
}

int main(void)
{
    RUN(an_abandoned_attempt_is_held_off);
    RUN(an_attempt_running_is_not_held_off);
    RUN(not_before_an_election_could_have_ended);
    RUN(s_down_alone_or_unreachable_sentinels_say_nothing);
    observed_free(obs);
    spec_free(spec);
    return test_done();
}
