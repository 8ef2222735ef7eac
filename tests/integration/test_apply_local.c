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
 *   proxy files   install-files of a proxy checks nutcracker.yml with
 *                 nutcracker -t: a rejected file is neither installed nor
 *                 started
 *   interrupted   rmgr killed during a deploy; the next apply finishes it
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
 *   environment   daemons hold none of rmgr's environment; files that get the
 *                 password later stay 0600 after the daemons rewrite them
 *   removed       a replica dropped from the spec: stopped, its directory
 *                 removed (only with --allow-destructive), then every sentinel
 *                 reset so none lists it as a failover candidate
 *   sync delay    the repl-diskless-sync-delay 0 apply sets on a new shard's
 *                 master is put back; one an apply killed before the restore
 *                 left is planned and put back by the next apply
 *
 * Every pid rmgr starts is read from its pidfile and tracked, so the harness
 * stops it at exit even when a check fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apply_cluster.h"
#include "lock.h"
#include "test.h"

#define PW "apply-TEST-pw-5c2e9d"
#define PW_ENV "RMGR_REDIS_APPLY_TEST_PW"

static struct harness *H;
static struct ac F; /* the failover / spec-edit cluster, shared by several tests */
static bool f_ready;

/* ---- helpers -------------------------------------------------------------- */

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int file_mode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

struct bg {
    pid_t pid;
    int fd;
    struct strbuf out;
};

/* Start rmgr with argv (after the program) in the background, stdout+stderr on a pipe. */
static bool bg_start(struct bg *b, const char *const *args)
{
    memset(b, 0, sizeof(*b));
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return false;
    const char *argv[24] = {ac_rmgr_bin()};
    int n = 1;
    for (; args[n - 1] && n < 23; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    b->pid = fork();
    if (b->pid < 0)
        return false;
    if (b->pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    b->fd = p[0];
    return true;
}

/* Read what is there within ms; false at EOF. */
static bool bg_read(struct bg *b, long ms)
{
    struct pollfd pfd = {.fd = b->fd, .events = POLLIN};
    if (poll(&pfd, 1, (int)ms) <= 0)
        return true;
    char buf[4096];
    ssize_t n = read(b->fd, buf, sizeof(buf));
    if (n <= 0)
        return false;
    sb_addn(&b->out, buf, (size_t)n);
    return true;
}

/* Read to EOF and reap; the exit status (128+N for a signal). */
static int bg_finish(struct bg *b)
{
    long long deadline = now_ms() + 120000;
    while (now_ms() < deadline && bg_read(b, 200))
        ;
    close(b->fd);
    int ws = 0;
    while (waitpid(b->pid, &ws, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* Poll cond until true or timeout. */
static bool wait_for(bool (*cond)(void *), void *arg, long timeout_ms)
{
    return harness_wait_until(cond, arg, timeout_ms, 100);
}

struct linked {
    const struct ac *c;
    int port, master;
};

static bool linked_cond(void *arg)
{
    struct linked *l = arg;
    return ac_is_linked_replica(l->c, l->port, l->master);
}

/* Every replica of every shard linked to the shard's master (spec roles). */
static bool all_linked(const struct ac *c, const int *masters)
{
    bool ok = true;
    for (int i = 0; i < c->nshards; i++)
        for (int k = 0; k < c->nrep[i]; k++) {
            struct linked l = {c, c->replica[i][k], masters ? masters[i] : c->master[i]};
            if (!wait_for(linked_cond, &l, 10000)) {
                printf("    replica %d is not linked to %d\n", l.port, l.master);
                ok = false;
            }
        }
    return ok;
}

/* Whether every sentinel monitors every shard at the spec master with the spec quorum. */
static bool sentinels_agree(const struct ac *c, const int *masters)
{
    bool ok = true;
    for (int j = 0; j < c->nsent; j++)
        for (int i = 0; i < c->nshards; i++) {
            char *m = ac_cmd(c, c->sentinel[j], false, "SENTINEL MASTER %s", c->shard[i]);
            char *port = m ? ac_flat_get(m, "port") : NULL;
            char *quorum = m ? ac_flat_get(m, "quorum") : NULL;
            char *down = m ? ac_flat_get(m, "down-after-milliseconds") : NULL;
            char *others = m ? ac_flat_get(m, "num-other-sentinels") : NULL;
            int want = masters ? masters[i] : c->master[i];
            bool good = port && atoi(port) == want && quorum && atoi(quorum) == c->quorum &&
                        down && atol(down) == c->down_after_ms && others &&
                        atoi(others) == c->nsent - 1;
            if (!good) {
                printf("    sentinel %d on %s: port %s (want %d), quorum %s (want %d), "
                       "down-after %s, others %s\n",
                       c->sentinel[j], c->shard[i], port ? port : "-", want,
                       quorum ? quorum : "-", c->quorum, down ? down : "-",
                       others ? others : "-");
                ok = false;
            }
            free(m);
            free(port);
            free(quorum);
            free(down);
            free(others);
        }
    return ok;
}

/* The shard index holding key (by GET on each master), -1 if none, -2 if several. */
static int shard_of_key(const struct ac *c, const int *masters, const char *key)
{
    int found = -1;
    for (int i = 0; i < c->nshards; i++) {
        char *v = ac_cmd(c, masters ? masters[i] : c->master[i], true, "GET %s", key);
        if (v && strcmp(v, "(nil)") && v[0] != '-')
            found = found == -1 ? i : -2;
        free(v);
    }
    return found;
}

/*
 * Key i of a series. The keys differ in their first bytes: nutcracker's
 * fnv1a_64 (32 bits in 0.5.0) puts "deploy:1" .. "deploy:60" all on one
 * ketama arc.
 */
static void make_key(char *buf, size_t n, const char *prefix, int i)
{
    snprintf(buf, n, "%08x:%s:%d", ((unsigned)i + 1u) * 2654435761u, prefix, i);
}

struct key_on {
    const struct ac *c;
    int port;
    const char *key, *want;
};

static bool key_on_cond(void *arg)
{
    struct key_on *k = arg;
    char *v = ac_cmd(k->c, k->port, true, "GET %s", k->key);
    bool ok = str_eq(v, k->want);
    free(v);
    return ok;
}

/*
 * Write n keys through the proxy; each must land on exactly one master and
 * reach that shard's replicas. Counts per shard into per_shard.
 */
static bool write_and_place(const struct ac *c, const int *masters, const char *prefix, int n,
                            int *per_shard)
{
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        char key[64], val[64];
        make_key(key, sizeof(key), prefix, i);
        snprintf(val, sizeof(val), "v%d", i);
        char *r = ac_cmd(c, c->proxy, true, "SET %s %s", key, val);
        if (!str_eq(r, "OK")) {
            printf("    SET %s through the proxy: %s\n", key, r ? r : "(no answer)");
            ok = false;
        }
        free(r);
        int s = shard_of_key(c, masters, key);
        if (s < 0) {
            printf("    %s is on %s\n", key, s == -1 ? "no master" : "several masters");
            ok = false;
            continue;
        }
        per_shard[s]++;
        for (int k = 0; k < c->nrep[s]; k++) {
            int rport = c->replica[s][k];
            if (masters && masters[s] == rport)
                rport = c->master[s]; /* after a failover the old master is the replica */
            struct key_on ko = {c, rport, key, val};
            if (!wait_for(key_on_cond, &ko, 3000)) {
                printf("    %s did not reach replica %d\n", key, rport);
                ok = false;
            }
        }
    }
    return ok;
}

static pid_t read_pid(const struct ac *c, const char *kind, int port)
{
    char *pf = ac_pidfile(c, kind, port);
    char *text = test_slurp(pf);
    free(pf);
    pid_t pid = text ? (pid_t)atol(text) : 0;
    free(text);
    return pid;
}

/* Where the password starts on the requirepass line of a redis.conf text, or NULL. */
static char *requirepass_value(char *text)
{
    char *line = text ? strstr(text, "\nrequirepass ") : NULL;
    char *pw = line ? strstr(line, PW) : NULL;
    char *eol = line ? strchr(line + 1, '\n') : NULL;
    return pw && (!eol || pw < eol) ? pw : NULL;
}

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
    ok = ac_cmd(&c, c.sentinel[0], false, "SENTINEL REMOVE %s", c.shard[0]);
    CHECK_STR_EQ(ok, "OK");
    free(ok);
    ok = ac_cmd(&c, c.sentinel[0], false, "SENTINEL MONITOR %s %s %d %d", c.shard[0], HARNESS_IP,
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
    char *m = ac_cmd(&F, F.sentinel[0], false, "SENTINEL MASTER shard3");
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
        char *r = ac_cmd(l->c, l->c->sentinel[j], false, "SENTINEL REPLICAS %s", l->shard);
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
        char *m = ac_cmd(p->c, p->c->sentinel[j], false, "SENTINEL MASTER %s",
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
    char *rep = ac_cmd(c, port, false, "SENTINEL MASTERS");
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
    char *rep = ac_cmd(&c, c.sentinel[0], false, "SENTINEL SET %s auth-pass %s", c.shard[0], PW);
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
    RUN(install_files_of_a_proxy_checks_the_config_before_starting_it);
    RUN(an_interrupted_apply_is_finished_by_the_next);
    RUN(an_apply_killed_in_the_sentinel_steps_is_finished_in_one_go);
    RUN(a_failed_lane_lets_the_others_finish_their_instance);
    RUN(a_failed_step_stops_the_run);
    RUN(daemons_get_a_minimal_environment_and_private_files);
    RUN(a_sync_delay_left_at_zero_is_put_back);
    harness_cleanup(H);
    ac_release(&F);
    return test_done();
}
