/*
 * test_apply_local.c - `rmgr apply` and `rmgr destroy` deploying real
 * clusters on this machine through the local transport.
 *
 *   deploy        empty -> apply (with a password) -> keys written through the
 *                 proxy land on both shards, on a master and its replica;
 *                 replicas in sync; sentinels monitor every shard with the
 *                 spec's quorum; plan says no changes; a second apply too;
 *                 the password is in no output; a masterauth changed by hand
 *                 and a requirepass edited in a redis.conf are set back to the
 *                 spec's password (the plan shows only placeholders); with a
 *                 wrong password the plan refuses and the proxy is left
 *                 running; a sentinel monitor without auth-pass gets it back;
 *                 destroy stops every pid
 *   failover      SIGKILL a master: Sentinel promotes its replica; the plan
 *                 keeps the new master ("=" line, no replicaof), restarts the
 *                 proxy and starts the old master as a replica of the new
 *                 one; afterwards no changes, never a move back
 *   spec edits    add a shard, add a replica, quorum/down-after, maxmemory;
 *                 remove a shard: refused without --allow-destructive
 *   lock          a held lock refuses (naming the holder) or is waited for;
 *                 two applies at once: one acts, the other finds no changes
 *   saved plan    apply PLANFILE; stale after a change
 *   stale entry   a replica of shard2 pointed at shard1's master: refused while
 *                 it replicates from it; pointed back, Sentinel still lists it
 *                 for shard1: sentinel-reset, one sentinel at a time, until no
 *                 sentinel lists it
 *   dead master   SIGKILL a master (no persistence) and apply at once: it is
 *                 not started (it would come back empty and wipe the
 *                 replicas), the replicas keep every key; after Sentinel's
 *                 failover apply starts it as a replica and the keys survive
 *   proxy gate    a proxy whose server refuses GET (ACL) fails the gate
 *                 after a restart, though it answers PING
 *   removed       a replica dropped from the spec: stopped, its directory
 *                 removed (only with --allow-destructive), then every sentinel
 *                 reset so none lists it as a failover candidate
 *   usage         errors exit 2
 *
 * Applies that fail or are cut short, and what the daemons inherit, are in
 * test_apply_faults.c; the helpers both use in apply_local.h.
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
#include "lock.h"
#include "test.h"
#include "util.h"

static struct harness *H;
static struct ac F; /* the failover / spec-edit cluster, shared by several tests */
static bool f_ready;

/* ---- deploy ------------------------------------------------------------ */

TEST(deploy_with_password_then_no_changes_then_destroy)
{
    struct ac c;
    ac_init(&c, H, "deploy", 2, 1, 3);
    c.password = PW;
    c.password_env = PW_ENV;
    setenv(PW_ENV, PW, 1);
    ac_write_spec(&c);

    /* without a terminal and without --auto-approve nothing happens */
    struct ac_run r = ac_rmgr("apply", "-f", c.spec, "--lock-file", c.lock, NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.err, "--auto-approve");
    CHECK(!file_exists(c.base));
    ac_run_release(&r);

    r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK(ac_track(&c));
    CHECK_CONTAINS(r.out, "[1/22] + install-files");
    CHECK_CONTAINS(r.out, "check: every replica is linked to its master ... ok");
    CHECK_CONTAINS(r.out, "Apply complete: 22 done.");
    CHECK(!strstr(r.out, PW) && !strstr(r.err, PW));
    ac_run_release(&r);

    /* files: a config holding the password is 0600, instance dirs 0750 */
    char *dir = ac_instance_dir(&c, "redis", c.master[0]);
    char *conf = xasprintf("%s/redis.conf", dir);
    CHECK_INT_EQ(file_mode(dir), 0750);
    CHECK_INT_EQ(file_mode(conf), 0600);
    free(dir);
    free(conf);
    dir = ac_instance_dir(&c, "proxy", c.proxy);
    conf = xasprintf("%s/nutcracker.yml", dir);
    CHECK_INT_EQ(file_mode(conf), 0600);
    free(dir);
    free(conf);

    int per_shard[AC_MAX_SHARDS] = {0};
    CHECK(write_and_place(&c, NULL, "deploy", 60, per_shard));
    if (!(per_shard[0] > 0 && per_shard[1] > 0))
        printf("    keys per shard: %d %d\n", per_shard[0], per_shard[1]);
    CHECK(per_shard[0] > 0 && per_shard[1] > 0);
    CHECK(all_linked(&c, NULL));
    CHECK(sentinels_agree(&c, NULL));

    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);
    r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "No changes.");
    CHECK(!strstr(r.out, "Apply complete"));
    ac_run_release(&r);

    /* passwords drift: masterauth at runtime, requirepass in a file */
    char *ok = ac_cmd(&c, c.replica[0][0], true, "CONFIG SET masterauth %s", "other-pw-7d1");
    CHECK_STR_EQ(ok, "OK");
    free(ok);
    char *idir = ac_instance_dir(&c, "redis", c.master[1]);
    char *rconf = xasprintf("%s/redis.conf", idir);
    free(idir);
    char *text = test_slurp(rconf);
    char *at = requirepass_value(text);
    CHECK(at != NULL);
    if (at) {
        memset(at, 'X', strlen(PW)); /* another password of the same length */
        FILE *f = fopen(rconf, "w");
        CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
    }
    free(text);
    r = ac_rmgr("plan", "-f", c.spec, "--no-color", NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "masterauth <secret-mismatch> -> <secret>");
    CHECK_CONTAINS(r.out, "requirepass <secret-mismatch> -> <secret>");
    CHECK(!strstr(r.out, PW) && !strstr(r.out, "other-pw-7d1") && !strstr(r.err, PW));
    ac_run_release(&r);
    r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "config-set");
    CHECK_CONTAINS(r.out, "config-rewrite");
    CHECK(!strstr(r.out, PW) && !strstr(r.err, PW));
    ac_run_release(&r);
    char *ma = ac_cmd(&c, c.replica[0][0], true, "CONFIG GET masterauth");
    char *want = xasprintf("masterauth\n%s", PW);
    CHECK_STR_EQ(ma, want);
    free(ma);
    free(want);
    text = test_slurp(rconf);
    CHECK(requirepass_value(text) != NULL);
    free(text);
    free(rconf);
    CHECK(all_linked(&c, NULL));
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);

    /* a password the cluster does not have: refused, the proxy is left alone */
    pid_t proxy_pid = read_pid(&c, "proxy", c.proxy);
    setenv(PW_ENV, "wrong-pw-41b7", 1);
    r = ac_apply(&c, 1, NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.err, "authentication failed on 4 of 4 redis instances: the password from "
                          "environment variable " PW_ENV " does not match the cluster's");
    CHECK(!strstr(r.out, "proxy-restart") && !strstr(r.err, "proxy-restart"));
    CHECK(!strstr(r.out, "wrong-pw-41b7") && !strstr(r.err, "wrong-pw-41b7"));
    CHECK(!strstr(r.out, PW) && !strstr(r.err, PW));
    ac_run_release(&r);
    setenv(PW_ENV, PW, 1);
    CHECK(proxy_pid > 0 && harness_pid_alive(proxy_pid));
    CHECK_INT_EQ(read_pid(&c, "proxy", c.proxy), proxy_pid);
    ok = ac_cmd(&c, c.proxy, true, "SET after-wrong-pw 1");
    CHECK_STR_EQ(ok, "OK");
    free(ok);

    /* an interrupted sentinel-monitor: MONITOR done, SET auth-pass not */
    ok = ac_cmd(&c, c.sentinel[0], true, "SENTINEL REMOVE %s", c.shard[0]);
    CHECK_STR_EQ(ok, "OK");
    free(ok);
    ok = ac_cmd(&c, c.sentinel[0], true, "SENTINEL MONITOR %s %s %d %d", c.shard[0], HARNESS_IP,
                c.master[0], c.quorum);
    CHECK_STR_EQ(ok, "OK");
    free(ok);
    r = ac_rmgr("plan", "-f", c.spec, "--no-color", NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "auth-pass (absent) -> <secret>");
    CHECK(!strstr(r.out, PW) && !strstr(r.err, PW));
    ac_run_release(&r);
    r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "sentinel-set");
    CHECK(!strstr(r.out, PW) && !strstr(r.err, PW));
    ac_run_release(&r);
    char *sdir = ac_instance_dir(&c, "sentinel", c.sentinel[0]);
    char *sconf = xasprintf("%s/sentinel.conf", sdir);
    text = test_slurp(sconf);
    char *line = xasprintf("sentinel auth-pass %s %s\n", c.shard[0], PW);
    CHECK(text && strstr(text, line));
    free(line);
    free(text);
    free(sconf);
    free(sdir);
    CHECK(sentinels_agree(&c, NULL));
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);

    /* destroy: refused without --allow-destructive, then every pid gone */
    pid_t pids[16];
    int np = 0;
    for (int i = 0; i < c.nshards; i++) {
        pids[np++] = read_pid(&c, "redis", c.master[i]);
        pids[np++] = read_pid(&c, "redis", c.replica[i][0]);
    }
    for (int j = 0; j < c.nsent; j++)
        pids[np++] = read_pid(&c, "sentinel", c.sentinel[j]);
    pids[np++] = read_pid(&c, "proxy", c.proxy);
    r = ac_rmgr("destroy", "-f", c.spec, "--auto-approve", "--lock-file", c.lock, NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.err, "--allow-destructive");
    ac_run_release(&r);
    for (int i = 0; i < np; i++)
        CHECK(pids[i] > 0 && harness_pid_alive(pids[i]));

    r = ac_rmgr("destroy", "-f", c.spec, "--auto-approve", "--allow-destructive", "--lock-file",
                c.lock, NULL);
    if (r.status != 0)
        ac_show("rmgr destroy", &r);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "Destroy complete: 16 done.");
    ac_run_release(&r);
    for (int i = 0; i < np; i++)
        CHECK(!harness_pid_alive(pids[i]));
    char *cdir = xasprintf("%s/%s", c.base, c.name);
    CHECK(!file_exists(cdir));
    free(cdir);

    /* destroying what is gone is fine */
    r = ac_rmgr("destroy", "-f", c.spec, "--auto-approve", "--allow-destructive", "--lock-file",
                c.lock, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "not running");
    ac_run_release(&r);
    ac_release(&c);
}

/* ---- failover ---------------------------------------------------------- */

struct switched {
    const struct ac *c;
    int shard, port;
};

static bool switched_cond(void *arg)
{
    struct switched *s = arg;
    for (int j = 0; j < s->c->nsent; j++)
        if (ac_sentinel_master_port(s->c, s->c->sentinel[j], s->c->shard[s->shard]) != s->port)
            return false;
    char *role = ac_info(s->c, s->port, "role");
    bool ok = str_eq(role, "master");
    free(role);
    return ok;
}

TEST(failover_keeps_the_new_master_and_the_old_one_rejoins_as_replica)
{
    ac_init(&F, H, "fo", 2, 1, 3);
    ac_write_spec(&F);
    struct ac_run r = ac_apply(&F, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    CHECK(ac_track(&F));
    int per_shard[AC_MAX_SHARDS] = {0};
    CHECK(write_and_place(&F, NULL, "before", 40, per_shard));

    pid_t old = read_pid(&F, "redis", F.master[0]);
    CHECK(old > 0 && kill(old, SIGKILL) == 0);
    struct switched sw = {&F, 0, F.replica[0][0]};
    CHECK(wait_for(switched_cond, &sw, 30000));

    r = ac_rmgr("plan", "-f", F.spec, "--no-color", NULL);
    CHECK_INT_EQ(r.status, 0);
    char *obs = xasprintf("= observed 127.0.0.1:%d: shard1 master is 127.0.0.1:%d", F.replica[0][0],
                          F.replica[0][0]);
    char *start = xasprintf("+ start 127.0.0.1:%d: not running; start as replica of 127.0.0.1:%d",
                            F.master[0], F.replica[0][0]);
    CHECK_CONTAINS(r.out, obs);
    CHECK_CONTAINS(r.out, start);
    CHECK_CONTAINS(r.out, "proxy-config");
    CHECK(!strstr(r.out, "replicaof"));
    free(obs);
    free(start);
    ac_run_release(&r);

    r = ac_apply(&F, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "proxy-restart");
    ac_run_release(&r);
    CHECK(ac_track(&F));

    /* the old master is a replica of the new one; nothing moves back */
    int masters[AC_MAX_SHARDS] = {F.replica[0][0], F.master[1]};
    struct linked l = {&F, F.master[0], F.replica[0][0]};
    CHECK(wait_for(linked_cond, &l, 10000));
    CHECK(sentinels_agree(&F, masters));
    for (int i = 0; i < 40; i++) {
        char key[32], want[32];
        make_key(key, sizeof(key), "before", i);
        snprintf(want, sizeof(want), "v%d", i);
        char *v = ac_cmd(&F, F.proxy, true, "GET %s", key);
        CHECK_STR_EQ(v, want);
        free(v);
    }
    memset(per_shard, 0, sizeof(per_shard));
    CHECK(write_and_place(&F, masters, "after", 40, per_shard));
    CHECK(per_shard[0] > 0);

    CHECK_INT_EQ(ac_plan_status(&F, 0), 0);
    r = ac_rmgr("plan", "-f", F.spec, "--no-color", NULL);
    CHECK(!strstr(r.out, "replicaof"));
    CHECK_CONTAINS(r.out, "No changes.");
    ac_run_release(&r);
    f_ready = true;
}

/* ---- spec edits -------------------------------------------------------- */

/* apply the edited spec, then the plan must say no changes */
static bool apply_converges(struct ac *c, const char *expect)
{
    ac_write_spec(c);
    struct ac_run r = ac_apply(c, 0, NULL);
    bool ok = r.status == 0 && (!expect || strstr(r.out, expect));
    if (r.status == 0 && expect && !strstr(r.out, expect)) {
        printf("    \"%s\" not in the apply output\n", expect);
        ac_show("rmgr apply", &r);
    }
    ac_run_release(&r);
    ok &= ac_track(c);
    ok &= ac_plan_status(c, 0) == 0;
    return ok;
}

TEST(spec_edits_apply_and_converge)
{
    CHECK(f_ready);
    if (!f_ready)
        return;
    int masters[AC_MAX_SHARDS] = {F.replica[0][0], F.master[1], 0, 0};

    /* a new shard: its nodes, sentinel monitors, the proxy */
    ac_add_shard(&F, 1);
    CHECK(apply_converges(&F, "sentinel-monitor"));
    masters[2] = F.master[2];
    struct linked l = {&F, F.replica[2][0], F.master[2]};
    CHECK(wait_for(linked_cond, &l, 5000));
    char *yml = xasprintf("%s/%s/proxy-%d/nutcracker.yml", F.base, F.name, F.proxy);
    char *text = test_slurp(yml);
    CHECK_CONTAINS(text, "shard3");
    free(text);
    free(yml);

    /* a new replica of shard2 */
    F.nrep[1] = 2;
    F.replica[1][1] = harness_free_port();
    CHECK(apply_converges(&F, "start"));
    l = (struct linked){&F, F.replica[1][1], F.master[1]};
    CHECK(wait_for(linked_cond, &l, 5000));

    /* sentinel options */
    F.quorum = 3;
    F.down_after_ms = 3000;
    CHECK(apply_converges(&F, "sentinel-set"));
    CHECK(sentinels_agree(&F, masters));

    /* a redis option, on every node (the failed-over shard included) */
    snprintf(F.maxmemory, sizeof(F.maxmemory), "32mb");
    CHECK(apply_converges(&F, "config-set"));
    char *mm = ac_cmd(&F, F.master[0], true, "CONFIG GET maxmemory");
    CHECK_STR_EQ(mm, "maxmemory\n33554432");
    free(mm);

    /* removing a shard deletes data: only with --allow-destructive */
    pid_t gone[2] = {read_pid(&F, "redis", F.master[2]), read_pid(&F, "redis", F.replica[2][0])};
    int removed_port = F.master[2];
    F.nshards = 2;
    ac_write_spec(&F);
    struct ac_run r = ac_apply(&F, 1, NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.err, "--allow-destructive");
    ac_run_release(&r);
    CHECK(harness_pid_alive(gone[0]) && harness_pid_alive(gone[1]));
    r = ac_apply(&F, 0, "--allow-destructive");
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "sentinel-remove");
    CHECK_CONTAINS(r.out, "remove-files");
    ac_run_release(&r);
    CHECK(!harness_pid_alive(gone[0]) && !harness_pid_alive(gone[1]));
    char *dir = ac_instance_dir(&F, "redis", removed_port);
    CHECK(!file_exists(dir));
    free(dir);
    char *m = ac_cmd(&F, F.sentinel[0], true, "SENTINEL MASTER shard3");
    CHECK(m && m[0] == '-');
    free(m);
    CHECK_INT_EQ(ac_plan_status(&F, 0), 0);
}

/* ---- saved plans ------------------------------------------------------- */

static bool port_closed_cond(void *arg)
{
    return !harness_wait_port(HARNESS_IP, *(int *)arg, 1);
}

TEST(saved_plan_applies_until_stale)
{
    CHECK(f_ready);
    if (!f_ready)
        return;
    char *saved = xasprintf("%s/fo.plan", harness_dir(H));
    snprintf(F.maxmemory, sizeof(F.maxmemory), "48mb");
    ac_write_spec(&F);
    struct ac_run r = ac_rmgr("plan", "-f", F.spec, "--out", saved, NULL);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);

    /* the cluster moved since the plan was saved: a replica crashed */
    pid_t crashed = read_pid(&F, "redis", F.replica[1][1]);
    CHECK(crashed > 0 && kill(crashed, SIGKILL) == 0);
    CHECK(harness_wait_until(port_closed_cond, &F.replica[1][1], 5000, 50));
    r = ac_rmgr("apply", saved, "--auto-approve", "--lock-file", F.lock, NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.err, "plan is stale: re-run plan");
    ac_run_release(&r);

    r = ac_rmgr("plan", "-f", F.spec, "--out", saved, NULL);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    r = ac_rmgr("apply", saved, "--auto-approve", "--lock-file", F.lock, NULL);
    if (r.status != 0)
        ac_show("rmgr apply PLANFILE", &r);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "Apply complete");
    /* a restarted replica is a failover candidate only once every sentinel lists it */
    CHECK_CONTAINS(r.out, "lists its replicas and knows the other sentinels ... ok");
    ac_run_release(&r);

    /* the spec changed since: stale as well */
    r = ac_rmgr("plan", "-f", F.spec, "--out", saved, NULL);
    ac_run_release(&r);
    snprintf(F.maxmemory, sizeof(F.maxmemory), "64mb");
    ac_write_spec(&F);
    r = ac_rmgr("apply", saved, "--auto-approve", "--lock-file", F.lock, NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.err, "plan is stale: re-run plan");
    ac_run_release(&r);
    free(saved);
    CHECK(apply_converges(&F, "config-set"));
}

/* ---- locks ------------------------------------------------------------- */

TEST(a_held_lock_refuses_or_is_waited_for)
{
    CHECK(f_ready);
    if (!f_ready)
        return;
    char *err = NULL;
    struct cluster_lock *l = lock_acquire(F.lock, 0, &err);
    CHECK(l != NULL);
    free(err);
    struct ac_run r = ac_apply(&F, 1, NULL);
    CHECK_INT_EQ(r.status, 1);
    char *holder = xasprintf("held by pid %ld", (long)getpid());
    CHECK_CONTAINS(r.err, holder);
    free(holder);
    ac_run_release(&r);

    /* --lock-timeout waits for the holder */
    const char *args[] = {"apply", "-f", F.spec, "--auto-approve", "--lock-file", F.lock,
                          "--lock-timeout", "20s", NULL};
    struct bg b;
    CHECK(bg_start(&b, args));
    long long t0 = now_ms();
    for (int i = 0; i < 10; i++)
        bg_read(&b, 100);
    CHECK(b.out.len == 0); /* still waiting: nothing printed */
    lock_release(l);
    int st = bg_finish(&b);
    CHECK_INT_EQ(st, 0);
    CHECK(now_ms() - t0 >= 1000);
    CHECK_CONTAINS(sb_str(&b.out), "No changes.");
    sb_release(&b.out);

    /* two applies at once: one does the work, the other then finds nothing to do */
    F.down_after_ms = 2000;
    ac_write_spec(&F);
    struct bg b1, b2;
    CHECK(bg_start(&b1, args));
    CHECK(bg_start(&b2, args));
    int s1 = bg_finish(&b1), s2 = bg_finish(&b2);
    CHECK_INT_EQ(s1, 0);
    CHECK_INT_EQ(s2, 0);
    const char *o1 = sb_str(&b1.out), *o2 = sb_str(&b2.out);
    bool acted1 = strstr(o1, "Apply complete") != NULL, acted2 = strstr(o2, "Apply complete") != NULL;
    bool one_acted = acted1 != acted2;
    CHECK(one_acted);
    CHECK(strstr(o1, "No changes.") || strstr(o2, "No changes."));
    if (!one_acted)
        printf("--- first:\n%s--- second:\n%s", o1, o2);
    sb_release(&b1.out);
    sb_release(&b2.out);
    CHECK_INT_EQ(ac_plan_status(&F, 0), 0);
}

/* ---- a stale Sentinel replica entry ------------------------------------------ */

struct listing {
    const struct ac *c;
    const char *shard;
    int port;
    bool want; /* every sentinel lists port (true) or none does (false) */
};

static bool listing_cond(void *arg)
{
    struct listing *l = arg;
    char needle[64];
    snprintf(needle, sizeof(needle), "name\n%s:%d\n", HARNESS_IP, l->port);
    for (int j = 0; j < l->c->nsent; j++) {
        char *r = ac_cmd(l->c, l->c->sentinel[j], true, "SENTINEL REPLICAS %s", l->shard);
        bool listed = r && strstr(r, needle);
        free(r);
        if (listed != l->want)
            return false;
    }
    return true;
}

TEST(a_stale_sentinel_replica_entry_is_reset)
{
    CHECK(f_ready);
    if (!f_ready)
        return;
    int m1 = F.replica[0][0], m2 = F.master[1], foreign = F.replica[1][0];
    char *r = ac_cmd(&F, foreign, true, "REPLICAOF %s %d", HARNESS_IP, m1);
    CHECK_STR_EQ(r, "OK");
    free(r);
    /* Sentinel learns replicas from the master's INFO, every 10 s */
    struct listing l = {&F, "shard1", foreign, true};
    CHECK(wait_for(listing_cond, &l, 25000));
    struct linked lk = {&F, foreign, m1};
    CHECK(wait_for(linked_cond, &lk, 10000));

    struct ac_run run = ac_rmgr("plan", "-f", F.spec, "--no-color", NULL);
    CHECK_INT_EQ(run.status, 1);
    char *refusal = xasprintf("unknown node %s:%d replicates from the master of shard1",
                              HARNESS_IP, foreign);
    CHECK_CONTAINS(run.err, refusal); /* a refusal is an error: stderr */
    free(refusal);
    ac_run_release(&run);

    r = ac_cmd(&F, foreign, true, "REPLICAOF %s %d", HARNESS_IP, m2);
    CHECK_STR_EQ(r, "OK");
    free(r);
    lk = (struct linked){&F, foreign, m2};
    CHECK(wait_for(linked_cond, &lk, 10000));
    CHECK(listing_cond(&l)); /* the entry stays */

    run = ac_rmgr("plan", "-f", F.spec, "--no-color", NULL);
    CHECK_INT_EQ(run.status, 0);
    CHECK_CONTAINS(run.out, "sentinel-reset");
    CHECK_CONTAINS(run.out, "a stale entry (a failover could promote it");
    ac_run_release(&run);

    run = ac_apply(&F, 0, NULL);
    CHECK_INT_EQ(run.status, 0);
    char *line = xasprintf("~ sentinel-reset %s:%d shard1 ... done", HARNESS_IP, F.sentinel[2]);
    CHECK_CONTAINS(run.out, line);
    free(line);
    CHECK_CONTAINS(run.out, "check: every sentinel monitors every shard");
    ac_run_release(&run);
    l.want = false;
    CHECK(listing_cond(&l));
    int masters[AC_MAX_SHARDS] = {m1, m2};
    CHECK(sentinels_agree(&F, masters));
    CHECK_INT_EQ(ac_plan_status(&F, 0), 0);
}

/* ---- a dead master left to Sentinel ---------------------------------------- */

static long dbsize(const struct ac *c, int port)
{
    char *v = ac_cmd(c, port, true, "DBSIZE");
    long n = v && v[0] != '-' ? atol(v) : -1;
    free(v);
    return n;
}

struct promoted {
    const struct ac *c;
    int shard;
    const int *candidates;
    int n;
    int port; /* out: the promoted node */
};

/*
 * Every sentinel has one of the candidates as master, with no failover
 * under way (SENTINEL MASTER flags), and that node is a master.
 */
static bool promoted_cond(void *arg)
{
    struct promoted *p = arg;
    int port = ac_sentinel_master_port(p->c, p->c->sentinel[0], p->c->shard[p->shard]);
    bool known = false;
    for (int k = 0; k < p->n; k++)
        known |= p->candidates[k] == port;
    if (!known)
        return false;
    struct switched sw = {p->c, p->shard, port};
    if (!switched_cond(&sw))
        return false;
    for (int j = 0; j < p->c->nsent; j++) {
        char *m = ac_cmd(p->c, p->c->sentinel[j], true, "SENTINEL MASTER %s",
                         p->c->shard[p->shard]);
        char *flags = m ? ac_flat_get(m, "flags") : NULL;
        char *mp = m ? ac_flat_get(m, "port") : NULL;
        bool settled = flags && str_eq(flags, "master") && mp && atoi(mp) == port;
        free(m);
        free(flags);
        free(mp);
        if (!settled)
            return false;
    }
    p->port = port;
    return true;
}

/* shard masters of F as the tests leave them */
static int f_masters[AC_MAX_SHARDS];

TEST(a_dead_master_is_not_restarted_empty_before_the_failover)
{
    CHECK(f_ready);
    if (!f_ready)
        return;
    f_masters[0] = F.replica[0][0];
    f_masters[1] = F.master[1];
    int per_shard[AC_MAX_SHARDS] = {0};
    CHECK(write_and_place(&F, f_masters, "dead", 40, per_shard));
    int old = F.master[1];
    long keys = dbsize(&F, old);
    CHECK(keys > 0);

    /* no persistence (save "", no AOF): restarted now, it would come back empty */
    pid_t pid = read_pid(&F, "redis", old);
    CHECK(pid > 0 && kill(pid, SIGKILL) == 0);
    CHECK(harness_wait_until(port_closed_cond, &old, 5000, 20));
    /* not waiting for Sentinel: nothing to do for that shard yet, exit 2 */
    struct ac_run r = ac_apply(&F, 2, "--failover-wait=0");
    CHECK_INT_EQ(r.status, 2);
    char *line = xasprintf("shard2 master 127.0.0.1:%d is down; waiting for Sentinel to fail "
                           "over to a replica",
                           old);
    CHECK_CONTAINS(r.out, line);
    free(line);
    char *start = xasprintf("+ start 127.0.0.1:%d", old);
    CHECK(!strstr(r.out, start));
    CHECK(!strstr(r.out, "replicaof"));
    CHECK(!strstr(r.out, "proxy-"));
    ac_run_release(&r);
    CHECK(!harness_wait_port(HARNESS_IP, old, 1)); /* still down */
    for (int k = 0; k < F.nrep[1]; k++)
        CHECK_INT_EQ(dbsize(&F, F.replica[1][k]), keys); /* nothing wiped */

    /* apply waits while Sentinel promotes a replica; then the old master rejoins as its
       replica */
    r = ac_apply(&F, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "Waiting for Sentinel on 1 shard");
    CHECK_CONTAINS(r.out, "Sentinel is done; the plan now:");
    struct promoted pr = {&F, 1, F.replica[1], F.nrep[1], 0};
    CHECK(wait_for(promoted_cond, &pr, 1000));
    char *as_replica = xasprintf("%s: not running; start as replica of 127.0.0.1:%d", start + 2,
                                 pr.port);
    CHECK_CONTAINS(r.out, as_replica);
    free(as_replica);
    ac_run_release(&r);
    free(start);
    CHECK(ac_track(&F));
    struct linked lk = {&F, old, pr.port};
    CHECK(wait_for(linked_cond, &lk, 10000));
    CHECK_INT_EQ(dbsize(&F, old), keys);
    CHECK_INT_EQ(dbsize(&F, pr.port), keys);
    for (int i = 0; i < 40; i++) {
        char key[64], want[32];
        make_key(key, sizeof(key), "dead", i);
        snprintf(want, sizeof(want), "v%d", i);
        char *v = ac_cmd(&F, F.proxy, true, "GET %s", key);
        CHECK_STR_EQ(v, want);
        free(v);
    }
    f_masters[1] = pr.port;
    CHECK_INT_EQ(ac_plan_status(&F, 0), 0);
}

/* ---- a replica removed from the spec --------------------------------------- */

TEST(a_replica_removed_from_the_spec_is_stopped_and_forgotten)
{
    CHECK(f_ready && f_masters[1]);
    if (!f_ready || !f_masters[1] || F.nrep[1] != 2)
        return;
    /* drop a replica of shard2 that is not its master now */
    int gone = F.replica[1][1], kept = F.replica[1][0];
    if (gone == f_masters[1]) {
        gone = F.replica[1][0];
        kept = F.replica[1][1];
    }
    pid_t pid = read_pid(&F, "redis", gone);
    CHECK(pid > 0);
    struct listing l = {&F, "shard2", gone, true};
    CHECK(wait_for(listing_cond, &l, 25000));
    F.replica[1][0] = kept;
    F.nrep[1] = 1;
    ac_write_spec(&F);

    struct ac_run r = ac_rmgr("plan", "-f", F.spec, "--no-color", NULL);
    CHECK_INT_EQ(r.status, 0);
    char *stop = xasprintf("- stop 127.0.0.1:%d: not a member of shard2 in the spec", gone);
    CHECK_CONTAINS(r.out, stop);
    free(stop);
    CHECK_CONTAINS(r.out, "SENTINEL RESET shard2 once they are stopped");
    ac_run_release(&r);
    r = ac_apply(&F, 1, NULL);
    CHECK_CONTAINS(r.err, "--allow-destructive");
    ac_run_release(&r);
    CHECK(harness_pid_alive(pid));

    r = ac_apply(&F, 0, "--allow-destructive");
    CHECK_INT_EQ(r.status, 0);
    char *stopped = xasprintf("- stop 127.0.0.1:%d ... done", gone);
    char *reset = xasprintf("~ sentinel-reset 127.0.0.1:%d shard2 ... done", F.sentinel[0]);
    const char *a = strstr(r.out, stopped), *b = strstr(r.out, reset);
    CHECK(a && b && a < b); /* forgotten only once it is stopped */
    free(stopped);
    free(reset);
    ac_run_release(&r);
    CHECK(!harness_pid_alive(pid));
    char *dir = ac_instance_dir(&F, "redis", gone);
    CHECK(!file_exists(dir));
    free(dir);
    l.want = false;
    CHECK(listing_cond(&l)); /* no sentinel could promote it any more */
    int members[] = {F.master[1], kept};
    for (size_t k = 0; k < ARRAY_SIZE(members); k++) {
        struct linked lk = {&F, members[k], f_masters[1]};
        if (members[k] != f_masters[1])
            CHECK(wait_for(linked_cond, &lk, 10000));
    }
    CHECK(sentinels_agree(&F, f_masters));
    CHECK_INT_EQ(ac_plan_status(&F, 0), 0);
}

/* ---- the proxy gate reaches the servers ------------------------------------ */

TEST(the_proxy_gate_fails_when_the_proxy_cannot_use_a_server)
{
    CHECK(f_ready && f_masters[0]);
    if (!f_ready || !f_masters[0])
        return;
    /* shard1's master refuses GET to the proxy; PING and what rmgr observes still work */
    char *ok = ac_cmd(&F, f_masters[0], false, "ACL SETUSER default -get");
    CHECK_STR_EQ(ok, "OK");
    free(ok);
    /* a nutcracker.yml newer than the process: the plan restarts the proxy */
    char *dir = ac_instance_dir(&F, "proxy", F.proxy);
    char *yml = xasprintf("%s/nutcracker.yml", dir);
    sleep(1);
    CHECK(utimes(yml, NULL) == 0);
    struct ac_run r = ac_apply(&F, 1, NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.out, "~ proxy-restart");
    CHECK_CONTAINS(r.out, "check: every proxy answers and reaches its servers ... failed");
    CHECK_CONTAINS(r.err, ":rmgr:health:");
    CHECK_CONTAINS(r.err, "NOPERM");
    ac_run_release(&r);
    CHECK(ac_track(&F));

    ok = ac_cmd(&F, f_masters[0], false, "ACL SETUSER default +get");
    CHECK_STR_EQ(ok, "OK");
    free(ok);
    sleep(1); /* newer than the restarted process, to the second */
    CHECK(utimes(yml, NULL) == 0);
    r = ac_apply(&F, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "check: every proxy answers and reaches its servers ... ok");
    ac_run_release(&r);
    CHECK(ac_track(&F));
    free(yml);
    free(dir);
    CHECK_INT_EQ(ac_plan_status(&F, 0), 0);
}

/* ---- usage ------------------------------------------------------------- */

TEST(usage_errors_exit_2)
{
    struct ac_run r = ac_rmgr("apply", NULL);
    CHECK_INT_EQ(r.status, 2);
    ac_run_release(&r);
    r = ac_rmgr("apply", "-f", "x.yaml", "--frobnicate", NULL);
    CHECK_INT_EQ(r.status, 2);
    CHECK_CONTAINS(r.err, "unknown option '--frobnicate'");
    ac_run_release(&r);
    r = ac_rmgr("apply", "-f", "x.yaml", "saved.plan", NULL);
    CHECK_INT_EQ(r.status, 2);
    ac_run_release(&r);
    r = ac_rmgr("apply", "-f", "x.yaml", "--lock-timeout", "soon", NULL);
    CHECK_INT_EQ(r.status, 2);
    ac_run_release(&r);
    r = ac_rmgr("destroy", NULL);
    CHECK_INT_EQ(r.status, 2);
    ac_run_release(&r);
    r = ac_rmgr("apply", "--help", NULL);
    CHECK_INT_EQ(r.status, 0);
    const char *opts[] = {"--auto-approve", "--allow-destructive", "--lock-timeout",
                          "--lock-file", "--accept-new-host-keys", "--connect-timeout",
                          "--timeout", "--no-color", "--parallel", "PLANFILE"};
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
        CHECK_CONTAINS(r.out, opts[i]);
    ac_run_release(&r);
    r = ac_rmgr("destroy", "--help", NULL);
    CHECK_INT_EQ(r.status, 0);
    for (size_t i = 0; i + 1 < ARRAY_SIZE(opts); i++)
        CHECK_CONTAINS(r.out, opts[i]);
    ac_run_release(&r);
}

int main(void)
{
    H = harness_new("apply");
    RUN(usage_errors_exit_2);
    RUN(deploy_with_password_then_no_changes_then_destroy);
    RUN(failover_keeps_the_new_master_and_the_old_one_rejoins_as_replica);
    RUN(spec_edits_apply_and_converge);
    RUN(saved_plan_applies_until_stale);
    RUN(a_held_lock_refuses_or_is_waited_for);
    RUN(a_stale_sentinel_replica_entry_is_reset);
    RUN(a_dead_master_is_not_restarted_empty_before_the_failover);
    RUN(a_replica_removed_from_the_spec_is_stopped_and_forgotten);
    RUN(the_proxy_gate_fails_when_the_proxy_cannot_use_a_server);
    harness_cleanup(H);
    ac_release(&F);
    return test_done();
}
