/*
 * test_drift_state.c - the drift transition table, the state file (round trip,
 * corrupt files, paths) and drift_notify() without webhooks. No network.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drift_state.h"
#include "test.h"
#include "util.h"

#define T0 1764064800LL
#define HOUR 3600LL

static char tmpdir[] = "/tmp/rmgr-drift-XXXXXX";

static struct drift_state active(const char *fp, long long since, long long notified)
{
    struct drift_state s = {true, (char *)fp, since, notified};
    return s;
}

/* ------------------------------------------------------------ transitions */

TEST(clean_and_no_drift_is_quiet)
{
    struct drift_state prev = {0}, next;
    CHECK_INT_EQ(drift_transition(&prev, NULL, T0, 0, &next), DRIFT_NONE);
    CHECK(!next.active);
    drift_state_release(&next);
    CHECK_INT_EQ(drift_transition(NULL, "", T0, 0, &next), DRIFT_NONE);
    drift_state_release(&next);
}

TEST(new_drift_is_found)
{
    struct drift_state next;
    CHECK_INT_EQ(drift_transition(NULL, "aaa", T0, 0, &next), DRIFT_FOUND);
    CHECK(next.active);
    CHECK_STR_EQ(next.fingerprint, "aaa");
    CHECK_INT_EQ(next.since, T0);
    CHECK_INT_EQ(next.notified_at, T0);
    drift_state_release(&next);
}

TEST(same_drift_twice_is_quiet)
{
    struct drift_state prev = active("aaa", T0, T0), next;
    CHECK_INT_EQ(drift_transition(&prev, "aaa", T0 + 60, 0, &next), DRIFT_NONE);
    CHECK(next.active);
    CHECK_STR_EQ(next.fingerprint, "aaa");
    CHECK_INT_EQ(next.since, T0);
    CHECK_INT_EQ(next.notified_at, T0); /* quiet runs do not move it */
    drift_state_release(&next);
    /* with no reminder, even a year later */
    CHECK_INT_EQ(drift_transition(&prev, "aaa", T0 + 365 * 24 * HOUR, 0, &next), DRIFT_NONE);
    drift_state_release(&next);
}

TEST(reminder_after_the_interval)
{
    struct drift_state prev = active("aaa", T0, T0), next;
    CHECK_INT_EQ(drift_transition(&prev, "aaa", T0 + 24 * HOUR - 1, 24 * HOUR, &next),
                 DRIFT_NONE);
    drift_state_release(&next);
    CHECK_INT_EQ(drift_transition(&prev, "aaa", T0 + 24 * HOUR, 24 * HOUR, &next),
                 DRIFT_REMIND);
    CHECK_INT_EQ(next.notified_at, T0 + 24 * HOUR);
    CHECK_INT_EQ(next.since, T0);
    /* the next reminder counts from this one */
    struct drift_state after;
    CHECK_INT_EQ(drift_transition(&next, "aaa", T0 + 25 * HOUR, 24 * HOUR, &after), DRIFT_NONE);
    drift_state_release(&after);
    drift_state_release(&next);
}

TEST(clock_going_back_sends_no_reminder)
{
    struct drift_state prev = active("aaa", T0, T0), next;
    CHECK_INT_EQ(drift_transition(&prev, "aaa", T0 - 10 * HOUR, HOUR, &next), DRIFT_NONE);
    drift_state_release(&next);
}

TEST(different_drift_is_changed)
{
    struct drift_state prev = active("aaa", T0, T0 + 5), next;
    CHECK_INT_EQ(drift_transition(&prev, "bbb", T0 + 60, 0, &next), DRIFT_CHANGED);
    CHECK(next.active);
    CHECK_STR_EQ(next.fingerprint, "bbb");
    CHECK_INT_EQ(next.since, T0); /* drifting since the first one */
    CHECK_INT_EQ(next.notified_at, T0 + 60);
    drift_state_release(&next);
}

TEST(drift_gone_is_resolved)
{
    struct drift_state prev = active("aaa", T0, T0), next;
    CHECK_INT_EQ(drift_transition(&prev, NULL, T0 + 60, 0, &next), DRIFT_RESOLVED);
    CHECK(!next.active);
    CHECK(next.fingerprint == NULL);
    CHECK_INT_EQ(next.since, 0);
    CHECK_INT_EQ(next.notified_at, T0 + 60);
    drift_state_release(&next);
    /* and then quiet */
    struct drift_state clean = {false, NULL, 0, T0 + 60};
    CHECK_INT_EQ(drift_transition(&clean, NULL, T0 + 120, HOUR, &next), DRIFT_NONE);
    CHECK_INT_EQ(next.notified_at, T0 + 60);
    drift_state_release(&next);
}

TEST(active_without_fingerprint_counts_as_clean)
{
    struct drift_state prev = {true, NULL, T0, T0}, next;
    CHECK_INT_EQ(drift_transition(&prev, "aaa", T0 + 1, 0, &next), DRIFT_FOUND);
    drift_state_release(&next);
}

TEST(actions_map_to_events)
{
    enum notify_event_kind k;
    CHECK(!drift_action_event(DRIFT_NONE, &k));
    CHECK(drift_action_event(DRIFT_FOUND, &k) && k == NOTIFY_DRIFT_FOUND);
    CHECK(drift_action_event(DRIFT_CHANGED, &k) && k == NOTIFY_DRIFT_CHANGED);
    CHECK(drift_action_event(DRIFT_RESOLVED, &k) && k == NOTIFY_DRIFT_RESOLVED);
    CHECK(drift_action_event(DRIFT_REMIND, &k) && k == NOTIFY_DRIFT_REMINDER);
    CHECK_STR_EQ(drift_action_name(DRIFT_REMIND), "remind");
}

TEST(fingerprint_is_stable)
{
    char *a = drift_fingerprint("shard1 + replica 127.0.0.1:7002\n");
    char *b = drift_fingerprint("shard1 + replica 127.0.0.1:7002\n");
    char *c = drift_fingerprint("shard1 + replica 127.0.0.1:7003\n");
    char *e = drift_fingerprint(NULL);
    CHECK_INT_EQ(strlen(a), 40);
    CHECK_STR_EQ(a, b);
    CHECK(strcmp(a, c) != 0);
    CHECK_STR_EQ(e, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"); /* git's empty blob */
    free(a);
    free(b);
    free(c);
    free(e);
}

/* ------------------------------------------------------------ state files */

TEST(json_round_trip)
{
    struct drift_state s = active("3f1c", T0, T0 + 5), back;
    char *j = drift_state_to_json(&s, "prod");
    char *err = NULL;
    CHECK_INT_EQ(drift_state_from_json(j, &back, &err), 0);
    CHECK(back.active);
    CHECK_STR_EQ(back.fingerprint, "3f1c");
    CHECK_INT_EQ(back.since, T0);
    CHECK_INT_EQ(back.notified_at, T0 + 5);
    CHECK_CONTAINS(j, "\"cluster\": \"prod\"");
    drift_state_release(&back);
    free(j);
}

TEST(json_rejects_bad_states)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{\"active\": true, \"fingerprint\": \"a\"}",              /* no version */
        "{\"version\": 99, \"active\": false}",
        "{\"version\": 1, \"active\": \"yes\"}",
        "{\"version\": 1, \"active\": true}",                     /* no fingerprint */
        "{\"version\": 1, \"active\": true, \"fingerprint\": 7}",
        "{\"version\": 1, \"active\": false, \"since\": \"noon\"}",
        "{\"version\": 1, \"active\": false, \"notified_at\": -5}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct drift_state s;
        char *err = NULL;
        int rc = drift_state_from_json(bad[i], &s, &err);
        if (rc != -1 || !err)
            printf("    accepted: %s\n", bad[i]);
        CHECK_INT_EQ(rc, -1);
        CHECK(err != NULL);
        CHECK(s.fingerprint == NULL);
        free(err);
    }
    /* unknown keys are fine */
    struct drift_state s;
    char *err = NULL;
    CHECK_INT_EQ(drift_state_from_json("{\"version\":1,\"active\":false,\"later\":[1]}", &s, &err),
                 0);
    drift_state_release(&s);
}

TEST(path_escapes_unsafe_cluster_names)
{
    char *p = drift_state_path("/c/state", "prod-eu_1.a");
    CHECK_STR_EQ(p, "/c/state/prod-eu_1.a.json");
    free(p);
    p = drift_state_path("/c/state/", "../etc/x");
    CHECK_STR_EQ(p, "/c/state/%2E.%2Fetc%2Fx.json");
    free(p);
    p = drift_state_path("/c", ".hidden");
    CHECK_STR_EQ(p, "/c/%2Ehidden.json");
    free(p);
    p = drift_state_path("/c", "");
    CHECK_STR_EQ(p, "/c/%00.json");
    free(p);
}

TEST(save_then_load_survives)
{
    char *dir = xasprintf("%s/cache/state", tmpdir); /* parents created on save */
    struct drift_state s = active("abc123", T0, T0 + 60), back;
    char *err = NULL, *warn = NULL;
    CHECK_INT_EQ(drift_state_save(dir, "prod", &s, &err), 0);
    CHECK(err == NULL);
    CHECK_INT_EQ(drift_state_load(dir, "prod", &back, &warn), 0);
    CHECK(warn == NULL);
    CHECK(back.active);
    CHECK_STR_EQ(back.fingerprint, "abc123");
    CHECK_INT_EQ(back.since, T0);
    CHECK_INT_EQ(back.notified_at, T0 + 60);
    /* the transition continues from what was read */
    struct drift_state next;
    CHECK_INT_EQ(drift_transition(&back, "abc123", T0 + 120, 0, &next), DRIFT_NONE);
    drift_state_release(&next);
    drift_state_release(&back);
    /* no temporary file left behind */
    char *p = drift_state_path(dir, "prod");
    struct stat st;
    CHECK_INT_EQ(stat(p, &st), 0);
    CHECK_INT_EQ(st.st_mode & 0777, 0644);
    free(p);
    free(dir);
}

TEST(missing_file_is_empty_without_warning)
{
    struct drift_state s;
    char *warn = NULL;
    CHECK_INT_EQ(drift_state_load(tmpdir, "never-seen", &s, &warn), 0);
    CHECK(warn == NULL);
    CHECK(!s.active);
    drift_state_release(&s);
}

TEST(corrupt_file_is_empty_with_warning)
{
    char *path = drift_state_path(tmpdir, "broken");
    CHECK_INT_EQ(write_file_atomic(path, "{\"version\": 1, \"act", 19, 0644), 0);
    struct drift_state s;
    char *warn = NULL;
    CHECK_INT_EQ(drift_state_load(tmpdir, "broken", &s, &warn), 0);
    CHECK(!s.active);
    CHECK(s.fingerprint == NULL);
    CHECK_CONTAINS(warn, "ignoring corrupt drift state");
    CHECK_CONTAINS(warn, "broken.json");
    free(warn);
    /* as good as no state: the drift is announced (once) */
    struct drift_state next;
    CHECK_INT_EQ(drift_transition(&s, "aaa", T0, 0, &next), DRIFT_FOUND);
    drift_state_release(&next);
    drift_state_release(&s);
    free(path);
}

TEST(unreadable_state_dir_is_a_save_error)
{
    struct drift_state s = active("a", T0, T0);
    char *err = NULL;
    char *file = xasprintf("%s/plainfile", tmpdir);
    CHECK_INT_EQ(write_file_atomic(file, "x", 1, 0644), 0);
    char *dir = xasprintf("%s/sub", file); /* a directory under a regular file */
    CHECK_INT_EQ(drift_state_save(dir, "prod", &s, &err), -1);
    CHECK_CONTAINS(err, "cannot create");
    free(err);
    free(dir);
    free(file);
}

/* ------------------------------------------------- a cron job, minute by minute */

TEST(cron_every_minute_posts_once)
{
    struct notify_options o;
    notify_options_init(&o); /* no webhooks: the state still moves */
    o.remind_after_s = 24 * HOUR;
    char *dir = xasprintf("%s/cron-state", tmpdir);
    struct drift_input in = {.cluster = "prod", .summary = "Plan: 1 to add.", .body = "+ x\n"};
    enum drift_action seen[8];
    struct {
        const char *fp;
        long long at;
    } runs[] = {
        {NULL, T0},                     /* clean */
        {"f1", T0 + 60},                /* found */
        {"f1", T0 + 120},               /* quiet */
        {"f1", T0 + 180},               /* quiet */
        {"f2", T0 + 240},               /* changed */
        {"f2", T0 + 240 + 24 * HOUR},   /* reminder */
        {NULL, T0 + 300 + 24 * HOUR},   /* resolved */
        {NULL, T0 + 360 + 24 * HOUR},   /* quiet */
    };
    for (size_t i = 0; i < ARRAY_SIZE(runs); i++) {
        in.fingerprint = runs[i].fp;
        in.now = runs[i].at;
        char *warn = NULL;
        seen[i] = drift_notify(&o, dir, &in, &warn);
        CHECK(warn == NULL);
        free(warn);
    }
    CHECK_INT_EQ(seen[0], DRIFT_NONE);
    CHECK_INT_EQ(seen[1], DRIFT_FOUND);
    CHECK_INT_EQ(seen[2], DRIFT_NONE);
    CHECK_INT_EQ(seen[3], DRIFT_NONE);
    CHECK_INT_EQ(seen[4], DRIFT_CHANGED);
    CHECK_INT_EQ(seen[5], DRIFT_REMIND);
    CHECK_INT_EQ(seen[6], DRIFT_RESOLVED);
    CHECK_INT_EQ(seen[7], DRIFT_NONE);
    notify_options_release(&o);
    free(dir);
}

TEST(corrupt_state_is_repaired_by_a_quiet_run)
{
    struct notify_options o;
    notify_options_init(&o);
    char *dir = xasprintf("%s/repair", tmpdir);
    struct drift_state s = {0};
    char *err = NULL;
    CHECK_INT_EQ(drift_state_save(dir, "c1", &s, &err), 0);
    char *path = drift_state_path(dir, "c1");
    CHECK_INT_EQ(write_file_atomic(path, "garbage", 7, 0644), 0);
    struct drift_input in = {.cluster = "c1", .summary = "No changes.", .now = T0};
    char *warn = NULL;
    CHECK_INT_EQ(drift_notify(&o, dir, &in, &warn), DRIFT_NONE);
    CHECK_CONTAINS(warn, "ignoring corrupt drift state");
    free(warn);
    warn = NULL;
    CHECK_INT_EQ(drift_notify(&o, dir, &in, &warn), DRIFT_NONE);
    CHECK(warn == NULL); /* rewritten the first time */
    free(warn);
    free(path);
    free(dir);
    notify_options_release(&o);
}

static void remove_tree(void)
{
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove '%s'\n", tmpdir);
    free(cmd);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(clean_and_no_drift_is_quiet);
    RUN(new_drift_is_found);
    RUN(same_drift_twice_is_quiet);
    RUN(reminder_after_the_interval);
    RUN(clock_going_back_sends_no_reminder);
    RUN(different_drift_is_changed);
    RUN(drift_gone_is_resolved);
    RUN(active_without_fingerprint_counts_as_clean);
    RUN(actions_map_to_events);
    RUN(fingerprint_is_stable);
    RUN(json_round_trip);
    RUN(json_rejects_bad_states);
    RUN(path_escapes_unsafe_cluster_names);
    RUN(save_then_load_survives);
    RUN(missing_file_is_empty_without_warning);
    RUN(corrupt_file_is_empty_with_warning);
    RUN(unreadable_state_dir_is_a_save_error);
    RUN(cron_every_minute_posts_once);
    RUN(corrupt_state_is_repaired_by_a_quiet_run);
    remove_tree();
    return test_done();
}
