/*
 * test_apply_faults.c - `rmgr apply` on real clusters on this machine (local
 * transport) when it fails or is cut short, and what the daemons it starts
 * inherit. The deploy, failover and spec-edit tests are in test_apply_local.c;
 * the helpers both use in apply_local.h.
 *
 *   proxy files   install-files of a proxy checks nutcracker.yml with
 *                 nutcracker -t: a rejected file is neither installed nor
 *                 started
 *   interrupted   rmgr killed during a deploy; the next apply finishes it
 *                 (killed in the sentinel steps too: in one go)
 *   failed lane   a lane that fails stops the run, but every other lane
 *                 finishes the instance it is on; the next apply finishes
 *   failed step   a redis-server that cannot run: the first start fails, the
 *                 rest is not run; the next apply completes
 *   environment   daemons hold none of rmgr's environment; files that get the
 *                 password later stay 0600 after the daemons rewrite them
 *   sync delay    the repl-diskless-sync-delay 0 apply sets on a new shard's
 *                 master is put back; one an apply killed before the restore
 *                 left is planned and put back by the next apply
 *
 * Every pid rmgr starts is read from its pidfile and tracked, so the harness
 * stops it at exit even when a check fails.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply_cluster.h"
#include "apply_local.h"
#include "test.h"
#include "util.h"

static struct harness *H;

/* ---- a proxy config nutcracker rejects -------------------------------------- */

TEST(install_files_of_a_proxy_checks_the_config_before_starting_it)
{
    struct ac c;
    ac_init(&c, H, "ncbad", 1, 0, 1);
    ac_write_spec(&c);
    /* a nutcracker that rejects every config with -t and runs normally otherwise */
    char *fake = xasprintf("%s/fake-nutcracker", harness_dir(H));
    FILE *f = fopen(fake, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("#!/bin/sh\n"
              "for a in \"$@\"; do [ \"$a\" = -t ] && exit 1; done\n"
              "exec /usr/sbin/nutcracker \"$@\"\n",
              f);
        fclose(f);
    }
    CHECK(chmod(fake, 0755) == 0);
    char *spec = test_slurp(c.spec);
    char *base = xasprintf("  base_dir: %s\n", c.base);
    char *at = spec ? strstr(spec, base) : NULL;
    CHECK(at != NULL);
    if (at) {
        at += strlen(base);
        f = fopen(c.spec, "w");
        CHECK(f && fprintf(f, "%.*s  binaries:\n    nutcracker: %s\n%s", (int)(at - spec), spec,
                           fake, at) > 0 && fclose(f) == 0);
    }
    free(base);
    free(spec);

    struct ac_run r = ac_apply(&c, 1, NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.out, "+ install-files 127.0.0.1:");
    CHECK_CONTAINS(r.err, "nutcracker -t rejects the new config for proxy");
    ac_run_release(&r);
    for (int i = 0; i < c.nshards; i++)
        ac_track_one(&c, "redis", c.master[i]);
    ac_track_one(&c, "sentinel", c.sentinel[0]);
    CHECK(!harness_wait_port(HARNESS_IP, c.proxy, 1)); /* never started */
    char *dir = ac_instance_dir(&c, "proxy", c.proxy);
    char *yml = xasprintf("%s/nutcracker.yml", dir);
    CHECK(!file_exists(yml)); /* nor installed */
    free(yml);
    free(dir);

    ac_write_spec(&c); /* the real nutcracker */
    r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    CHECK(ac_track(&c));
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);
    free(fake);
    ac_release(&c);
}

/* ---- interrupted --------------------------------------------------------- */

TEST(an_interrupted_apply_is_finished_by_the_next)
{
    struct ac c;
    ac_init(&c, H, "intr", 2, 1, 3);
    ac_write_spec(&c);
    const char *args[] = {"apply", "-f", c.spec, "--auto-approve", "--lock-file", c.lock, NULL};
    struct bg b;
    CHECK(bg_start(&b, args));
    long long deadline = now_ms() + 30000;
    /* kill it while step 7 (a redis start) runs */
    while (!strstr(sb_str(&b.out), "[7/") && now_ms() < deadline && bg_read(&b, 50))
        ;
    CHECK(strstr(sb_str(&b.out), "[7/") != NULL);
    kill(b.pid, SIGKILL);
    int st = bg_finish(&b);
    CHECK_INT_EQ(st, 128 + SIGKILL);
    CHECK(!strstr(sb_str(&b.out), "Apply complete"));
    sb_release(&b.out);

    /* whatever it had started keeps running and is tracked */
    CHECK(ac_track_one(&c, "redis", c.master[0]) > 0);

    CHECK_INT_EQ(ac_plan_status(&c, 2), 2);
    struct ac_run r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "Apply complete");
    ac_run_release(&r);
    CHECK(ac_track(&c));
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);
    CHECK(all_linked(&c, NULL));
    CHECK(sentinels_agree(&c, NULL));
    ac_release(&c);
}

/*
 * rmgr killed -9 at a point of the deploy (the first progress line holding
 * `at`): the next apply finishes the job in one go, the plan after it is empty.
 */
static void interrupted_at(const char *name, const char *at)
{
    struct ac c;
    ac_init(&c, H, name, 2, 1, 3);
    ac_write_spec(&c);
    const char *args[] = {"apply", "-f", c.spec, "--auto-approve", "--lock-file", c.lock, NULL};
    struct bg b;
    CHECK(bg_start(&b, args));
    long long deadline = now_ms() + 60000;
    while (!strstr(sb_str(&b.out), at) && now_ms() < deadline && bg_read(&b, 20))
        ;
    CHECK(strstr(sb_str(&b.out), at) != NULL);
    kill(b.pid, SIGKILL);
    CHECK_INT_EQ(bg_finish(&b), 128 + SIGKILL);
    sb_release(&b.out);
    for (int i = 0; i < c.nshards; i++)
        ac_track_one(&c, "redis", c.master[i]);
    for (int j = 0; j < c.nsent; j++)
        ac_track_one(&c, "sentinel", c.sentinel[j]);

    struct ac_run r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "Apply complete");
    ac_run_release(&r);
    CHECK(ac_track(&c));
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);
    r = ac_rmgr("destroy", "-f", c.spec, "--auto-approve", "--allow-destructive", "--lock-file",
                c.lock, NULL);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    ac_release(&c);
}

TEST(an_apply_killed_in_the_sentinel_steps_is_finished_in_one_go)
{
    interrupted_at("intrsent", "] + sentinel-monitor");
    interrupted_at("intrsent2", "] + start 127.0.0.1:"); /* the first start that finished */
}

/* How many masters the sentinel on port monitors (-1: no answer). */
static int monitored(const struct ac *c, int port)
{
    char *rep = ac_cmd(c, port, true, "SENTINEL MASTERS");
    if (!rep)
        return -1;
    int n = 0;
    for (const char *p = rep; (p = strstr(p, "\nflags\n")) != NULL; p++)
        n++;
    if (!strncmp(rep, "flags\n", 6))
        n++;
    free(rep);
    return n;
}

/*
 * A lane that fails stops the run, but every other lane finishes the
 * instance it is on: a sentinel whose start ran gets its monitors (cut
 * after the start, it would run monitoring nothing). The next apply
 * finishes the job in one go.
 */
TEST(a_failed_lane_lets_the_others_finish_their_instance)
{
    struct ac c;
    ac_init(&c, H, "lanes", 2, 1, 3);
    ac_write_spec(&c);
    /* the third sentinel's install-files fails at once: a file is where its directory goes */
    char *blocker = ac_instance_dir(&c, "sentinel", c.sentinel[2]);
    char *cdir = xasprintf("%s/%s", c.base, c.name);
    CHECK(mkdir(c.base, 0700) == 0 && mkdir(cdir, 0700) == 0);
    FILE *f = fopen(blocker, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    struct ac_run r = ac_apply(&c, 1, NULL);
    CHECK_INT_EQ(r.status, 1);
    ac_run_release(&r);
    for (int j = 0; j < 2; j++) {
        CHECK(ac_track_one(&c, "sentinel", c.sentinel[j]) > 0);
        int n = monitored(&c, c.sentinel[j]);
        if (n != c.nshards)
            printf("    sentinel %d monitors %d of %d shards\n", c.sentinel[j], n, c.nshards);
        CHECK_INT_EQ(n, c.nshards);
    }
    unlink(blocker);
    free(blocker);
    free(cdir);
    r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    CHECK(ac_track(&c));
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);
    r = ac_rmgr("destroy", "-f", c.spec, "--auto-approve", "--allow-destructive", "--lock-file",
                c.lock, NULL);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    ac_release(&c);
}

/* ---- a failed step ------------------------------------------------------ */

TEST(a_failed_step_stops_the_run)
{
    struct ac c;
    ac_init(&c, H, "broken", 2, 1, 1);
    c.redis_server_bin = "/nonexistent/redis-server";
    ac_write_spec(&c);
    /* one instance at a time: which steps ran does not depend on timing */
    struct ac_run r = ac_apply(&c, 1, "--parallel=1");
    CHECK_INT_EQ(r.status, 1);
    /* the four install-files ran, the first start failed, the rest did not run */
    CHECK_CONTAINS(r.out, "Apply failed: 4 done, 1 failed, 9 not run.");
    CHECK_CONTAINS(r.out, "Not run:");
    CHECK_CONTAINS(r.err, "'/nonexistent/redis-server ");
    CHECK_CONTAINS(r.err, "failed with status 127");
    CHECK(!strstr(r.out, "check: every replica"));
    ac_run_release(&r);
    CHECK(!harness_wait_port(HARNESS_IP, c.sentinel[0], 1));
    CHECK(!harness_wait_port(HARNESS_IP, c.proxy, 1));

    c.redis_server_bin = NULL;
    ac_write_spec(&c);
    r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "Apply complete: 10 done.");
    ac_run_release(&r);
    CHECK(ac_track(&c));
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);
    ac_release(&c);
}

/* ---- the first syncs' delay --------------------------------------------- */

/* repl-diskless-sync-delay of the redis on port (CONFIG GET), or -1. */
static long sync_delay(const struct ac *c, int port)
{
    char *rep = ac_cmd(c, port, false, "CONFIG GET repl-diskless-sync-delay");
    const char *nl = rep ? strchr(rep, '\n') : NULL;
    long v = nl ? atol(nl + 1) : -1;
    free(rep);
    return v;
}

TEST(a_sync_delay_left_at_zero_is_put_back)
{
    struct ac c;
    ac_init(&c, H, "delay", 1, 1, 1);
    c.proxy = 0;
    c.redis_delay = true; /* the spec leaves it to Redis: apply lowers it for the first sync */
    ac_write_spec(&c);
    struct ac_run r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    CHECK(ac_track(&c));
    CHECK_INT_EQ(sync_delay(&c, c.master[0]), 5); /* put back after the first sync */
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);

    /* what rmgr killed -9 between lowering and restoring leaves: 0 at runtime only */
    char *rep = ac_cmd(&c, c.master[0], false, "CONFIG SET repl-diskless-sync-delay 0");
    CHECK_STR_EQ(rep, "OK");
    free(rep);
    r = ac_rmgr("plan", "-f", c.spec, "--detailed-exitcode", "--no-color", NULL);
    CHECK_INT_EQ(r.status, 2);
    CHECK_CONTAINS(r.out, "repl-diskless-sync-delay 0 -> 5");
    ac_run_release(&r);
    r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    CHECK_INT_EQ(sync_delay(&c, c.master[0]), 5);
    char *dir = ac_instance_dir(&c, "redis", c.master[0]);
    char *conf = xasprintf("%s/redis.conf", dir);
    char *text = test_slurp(conf); /* the config-set's CONFIG REWRITE wrote no 0 */
    CHECK(text && !strstr(text, "repl-diskless-sync-delay 0"));
    free(text);
    free(conf);
    free(dir);
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);
    r = ac_rmgr("destroy", "-f", c.spec, "--auto-approve", "--allow-destructive", "--lock-file",
                c.lock, NULL);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    ac_release(&c);
}

/* ---- what a daemon inherits ---------------------------------------------- */

/* Whether /proc/PID/environ of pid names a variable that begins with `prefix`. */
static bool environ_has(pid_t pid, const char *prefix)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
    char *text = NULL;
    size_t len = 0;
    if (read_file(path, 1 << 20, &text, &len) < 0)
        return true; /* unreadable: do not pass */
    bool found = false;
    for (size_t i = 0; i < len && !found; i += strlen(text + i) + 1)
        found = !strncmp(text + i, prefix, strlen(prefix));
    free(text);
    return found;
}

/*
 * Issue 14 findings 5 and 6: a daemon started by apply holds none of rmgr's
 * environment (the password, the git token, the webhook URL), and a cluster
 * that gets a password later keeps every file holding it private after the
 * daemons rewrite them (CONFIG SET masterauth, SENTINEL SET auth-pass), as
 * they run under umask 077 whether or not the spec had a password.
 */
TEST(daemons_get_a_minimal_environment_and_private_files)
{
    struct ac c;
    ac_init(&c, H, "env", 1, 1, 1);
    ac_write_spec(&c);
    setenv("RMGR_REDIS_ENV_TEST_PW", PW, 1); /* named by no spec: still never inherited */
    setenv("RMGR_GIT_TOKEN", "ghp_env_test_token", 1);
    setenv("RMGR_WEBHOOK_URL", "http://127.0.0.1:9/hook", 1);
    struct ac_run r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK(ac_track(&c));
    ac_run_release(&r);
    const struct {
        const char *kind;
        int port;
    } daemons[] = {{"redis", c.master[0]}, {"redis", c.replica[0][0]},
                   {"sentinel", c.sentinel[0]}, {"proxy", c.proxy}};
    for (size_t i = 0; i < ARRAY_SIZE(daemons); i++) {
        pid_t pid = read_pid(&c, daemons[i].kind, daemons[i].port);
        CHECK(pid > 0);
        if (pid > 0 && environ_has(pid, "RMGR_"))
            printf("    %s %d inherited rmgr's environment\n", daemons[i].kind,
                   daemons[i].port);
        CHECK(pid > 0 && !environ_has(pid, "RMGR_"));
    }

    /*
     * A password set later (CONFIG SET masterauth, SENTINEL SET auth-pass, as
     * rmgr and Sentinel send them) makes the daemons rewrite their files with
     * mode 0644 & ~umask: they must still be 0600.
     */
    for (int k = 0; k < 2; k++) {
        int port = k ? c.replica[0][0] : c.master[0];
        char *rep = ac_cmd(&c, port, false, "CONFIG SET masterauth %s", PW);
        CHECK_STR_EQ(rep, "OK");
        free(rep);
        rep = ac_cmd(&c, port, false, "CONFIG REWRITE");
        CHECK_STR_EQ(rep, "OK");
        free(rep);
    }
    char *rep = ac_cmd(&c, c.sentinel[0], true, "SENTINEL SET %s auth-pass %s", c.shard[0], PW);
    CHECK_STR_EQ(rep, "OK");
    free(rep);
    const struct {
        const char *kind, *file;
        int port;
    } files[] = {{"redis", "redis.conf", c.master[0]},
                 {"redis", "redis.conf", c.replica[0][0]},
                 {"sentinel", "sentinel.conf", c.sentinel[0]}};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char *dir = ac_instance_dir(&c, files[i].kind, files[i].port);
        char *path = xasprintf("%s/%s", dir, files[i].file);
        char *text = test_slurp(path);
        CHECK(text && strstr(text, PW)); /* it holds the password now */
        CHECK_INT_EQ(file_mode(path), 0600);
        free(text);
        free(path);
        free(dir);
    }
    unsetenv("RMGR_GIT_TOKEN");
    unsetenv("RMGR_WEBHOOK_URL");
    r = ac_rmgr("destroy", "-f", c.spec, "--auto-approve", "--allow-destructive", "--lock-file",
                c.lock, NULL);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    ac_release(&c);
}

int main(void)
{
    H = harness_new("apply-faults");
    /* test_apply_local.c's deploy test leaves this set: these ran with it in the environment */
    setenv(PW_ENV, PW, 1);
    RUN(install_files_of_a_proxy_checks_the_config_before_starting_it);
    RUN(an_interrupted_apply_is_finished_by_the_next);
    RUN(an_apply_killed_in_the_sentinel_steps_is_finished_in_one_go);
    RUN(a_failed_lane_lets_the_others_finish_their_instance);
    RUN(a_failed_step_stops_the_run);
    RUN(daemons_get_a_minimal_environment_and_private_files);
    RUN(a_sync_delay_left_at_zero_is_put_back);
    harness_cleanup(H);
    return test_done();
}
