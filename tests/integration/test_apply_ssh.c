/*
 * test_apply_ssh.c - `rmgr apply` and `rmgr destroy` over ssh: a private
 * sshd on a loopback port with generated keys (tests/harness_sshd.h), the
 * spec's host h1 reached through it at 127.0.0.1, binaries shipped.
 *
 *   deploy      every step goes through the ssh transport (one session per
 *               host and run), binaries are shipped to <base>/<cluster>/bin
 *               and run from there, the cluster works, plan says no changes,
 *               a second apply ships nothing, destroy stops every pid
 *   host key    a known_hosts with another key for the server is refused,
 *               naming the host, the key type, the key known_hosts has and
 *               the one the server offers, and the fix;
 *               --accept-new-host-keys does not change that; nothing is
 *               started on any host, also not on the healthy local one
 *   whole run   a deployed cluster spread over h1 (ssh) and a local host,
 *               a replica down on the local host: with h1's key changed
 *               (or unknown) apply exits 1 before it changes anything
 *               anywhere (files, processes, known_hosts), plan and status
 *               exit 1 saying why; --accept-new-host-keys adds an unknown
 *               key and the apply then heals the cluster
 *
 * The two-host layout: hosts h1 (ssh through the private sshd) and here
 * (transport local) are both this machine at 127.0.0.1, under two names;
 * the master is on h1, the replica, the sentinel and the proxy are here.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply_cluster.h"
#include "harness_sshd.h"
#include "test.h"

static struct harness *H;
static struct hsshd *S;

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static long long file_mtime_ns(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    return (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
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

/* "hosts:" + the sshd's entry for h1, with known_hosts replaced when `known_hosts` is given */
static char *hosts_yaml(const char *known_hosts)
{
    char *entry = hsshd_host_yaml(S, "h1");
    if (known_hosts) {
        char *at = strstr(entry, "known_hosts: ");
        if (at) {
            at[strlen("known_hosts: ")] = '\0';
            char *e = xasprintf("%s%s\n", entry, known_hosts);
            free(entry);
            entry = e;
        }
    }
    char *y = xasprintf("hosts:\n%s", entry);
    free(entry);
    return y;
}

/* The two-host spec: master on h1 (ssh, `known_hosts`), everything else on the local host "here". */
static void write_two_host_spec(const struct ac *c, const char *known_hosts)
{
    char *h1 = hosts_yaml(known_hosts);
    struct strbuf sb = {0};
    sb_addf(&sb, "cluster: %s\n%s  here:\n    address: %s\n    transport: local\n", c->name, h1,
            HARNESS_IP);
    sb_addf(&sb, "defaults:\n  transport: local\n  base_dir: %s\n", c->base);
    sb_addf(&sb,
            "redis:\n  config:\n    maxmemory: 64mb\n    save: \"\"\n    appendonly: \"no\"\n"
            "    repl-diskless-sync-delay: 0\n");
    sb_addf(&sb, "shards:\n  - name: %s\n    master: h1:%d\n    replicas: [here:%d]\n",
            c->shard[0], c->master[0], c->replica[0][0]);
    sb_addf(&sb, "sentinel:\n  quorum: 1\n  down_after_ms: 2000\n  failover_timeout_ms: 60000\n"
                 "  nodes: [here:%d]\n",
            c->sentinel[0]);
    sb_addf(&sb,
            "proxies:\n  - host: here\n    listen: %s:%d\n    stats_port: %d\n"
            "    hash: murmur\n    distribution: ketama\n    timeout_ms: 400\n",
            HARNESS_IP, c->proxy, c->stats);
    FILE *f = fopen(c->spec, "w");
    if (f) {
        fputs(sb_str(&sb), f);
        fclose(f);
    }
    sb_release(&sb);
    free(h1);
}

/* A known_hosts file at `path` that has another ED25519 key for the sshd. *fp gets that key's. */
static bool write_other_known_hosts(const char *path, char **fp)
{
    char *key = xasprintf("%s.key", path);
    char *pub = NULL;
    bool ok = harness_ssh_keygen(key, &pub, fp) == 0;
    FILE *f = ok ? fopen(path, "w") : NULL;
    if (f) {
        fprintf(f, "[%s]:%d %s\n", S->ip, S->port, pub);
        fclose(f);
    }
    free(key);
    free(pub);
    return f != NULL;
}

/* 64-bit FNV-1a of a file's bytes, for a snapshot. */
static unsigned long long file_hash(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    unsigned long long h = 1469598103934665603ULL;
    if (read_file(path, 1024L * 1024 * 1024, &text, &len) < 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 1099511628211ULL;
    free(text);
    return h;
}

/*
 * Every file and directory under `dir` with its mode, size, mtime and a hash
 * of its bytes, one per line, sorted: two snapshots are equal when nothing
 * was written. Logs are left out (servers write them on their own).
 */
static char *snapshot(const char *dir)
{
    const char *argv[] = {"find", dir, "-printf", "%p %y %m\n", NULL};
    char *list = NULL;
    int status = -1;
    if (harness_run(argv, &list, NULL, &status) < 0 || status != 0) {
        free(list);
        return xstrdup("(find failed)");
    }
    struct strbuf sb = {0};
    for (char *line = list, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        size_t l = strlen(line);
        if (l > 4 && !strcmp(line + l - 4, ".log"))
            continue;
        sb_addf(&sb, "%s %s", line, sp + 1);
        struct stat st;
        if (sp[1] == 'f' && stat(line, &st) == 0)
            sb_addf(&sb, " %lld %lld %llx", (long long)st.st_size, file_mtime_ns(line),
                    file_hash(line));
        sb_addc(&sb, '\n');
    }
    free(list);
    const char *sort_argv[] = {"sort", NULL};
    char *sorted = NULL;
    if (harness_run_ex(sort_argv, sb_str(&sb), NULL, 0, &sorted, NULL, &status) < 0)
        sorted = NULL;
    sb_release(&sb);
    return sorted ? sorted : xstrdup("(sort failed)");
}

/* Whether the sentinel on `sport` flags the replica on `rport` of shard as down. */
static bool sentinel_sees_replica_down(const struct ac *c, int sport, const char *shard, int rport)
{
    /* flattened: "name\n...\nport\n<port>\n...\nflags\n<flags>\n..." per replica */
    char *r = ac_cmd(c, sport, true, "SENTINEL REPLICAS %s", shard);
    char *port = xasprintf("\nport\n%d\n", rport);
    const char *at = r ? strstr(r, port) : NULL;
    const char *flags = at ? strstr(at, "\nflags\n") : NULL;
    const char *next = at ? strstr(at + 1, "\nname\n") : NULL;
    bool down = false;
    if (flags && (!next || flags < next)) {
        flags += strlen("\nflags\n");
        size_t n = strcspn(flags, "\n");
        down = memmem(flags, n, "s_down", 6) != NULL;
    }
    free(port);
    free(r);
    return down;
}

/* What must appear in a host key refusal: host, key type, both fingerprints, the fix. */
static void check_changed_key_message(const char *text, const char *kh, const char *known_fp)
{
    CHECK_CONTAINS(text, "host 'h1'");
    CHECK_CONTAINS(text, "CHANGED");
    CHECK_CONTAINS(text, "ED25519");
    CHECK_CONTAINS(text, known_fp);
    CHECK_CONTAINS(text, S->host_fp);
    char *fix = xasprintf("ssh-keygen -R '[%s]:%d' -f '%s'", S->ip, S->port, kh);
    CHECK_CONTAINS(text, fix);
    free(fix);
    CHECK_CONTAINS(text, "--accept-new-host-keys");
    CHECK_CONTAINS(text, "rmgr changes nothing on any host");
}

TEST(deploy_over_ssh_with_shipped_binaries)
{
    struct ac c;
    ac_init(&c, H, "viassh", 1, 1, 1);
    c.hosts_yaml = hosts_yaml(NULL);
    c.host = "h1";
    c.ship = true;
    ac_write_spec(&c);
    int logins = hsshd_logins(S);

    struct ac_run r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "+ start h1:");
    CHECK_CONTAINS(r.out, "Apply complete");
    ac_run_release(&r);
    CHECK(ac_track(&c));
    /* observe opens one session for the files, apply one for all its steps */
    CHECK(hsshd_logins(S) > logins);
    CHECK(hsshd_logins(S) <= logins + 2);

    /* shipped and run from <base>/<cluster>/bin */
    char *bin = xasprintf("%s/%s/bin/redis-server", c.base, c.name);
    struct stat st;
    CHECK(stat(bin, &st) == 0 && (st.st_mode & 0777) == 0755);
    pid_t pid = read_pid(&c, "redis", c.master[0]);
    char *exe_link = xasprintf("/proc/%ld/exe", (long)pid);
    char exe[4096] = "";
    ssize_t n = readlink(exe_link, exe, sizeof(exe) - 1);
    if (n > 0)
        exe[n] = '\0';
    CHECK_STR_EQ(exe, bin);
    free(exe_link);
    long long shipped_at = file_mtime_ns(bin);
    /* Debian's redis-sentinel is redis-server's file: copied on the host, not sent twice */
    char *sbin = xasprintf("%s/%s/bin/redis-sentinel", c.base, c.name);
    CHECK(stat(sbin, &st) == 0 && (st.st_mode & 0777) == 0755);
    char *a = test_slurp(bin), *b = test_slurp(sbin);
    char *la = realpath("/usr/bin/redis-server", NULL), *lb = realpath("/usr/bin/redis-sentinel", NULL);
    if (la && lb && str_eq(la, lb)) {
        struct stat sa, sb;
        CHECK(stat(bin, &sa) == 0 && stat(sbin, &sb) == 0 && sa.st_size == sb.st_size &&
              a && b && !memcmp(a, b, (size_t)sa.st_size));
    }
    free(la);
    free(lb);
    free(a);
    free(b);
    exe_link = xasprintf("/proc/%ld/exe", (long)read_pid(&c, "sentinel", c.sentinel[0]));
    n = readlink(exe_link, exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    CHECK_STR_EQ(exe, sbin);
    free(exe_link);
    free(sbin);

    /* the cluster works */
    char *v = ac_cmd(&c, c.proxy, false, "SET %s %s", "over-ssh", "yes");
    CHECK_STR_EQ(v, "OK");
    free(v);
    v = ac_cmd(&c, c.replica[0][0], false, "GET %s", "over-ssh");
    for (int i = 0; i < 30 && !str_eq(v, "yes"); i++) {
        free(v);
        harness_sleep_ms(100);
        v = ac_cmd(&c, c.replica[0][0], false, "GET %s", "over-ssh");
    }
    CHECK_STR_EQ(v, "yes");
    free(v);
    CHECK(ac_is_linked_replica(&c, c.replica[0][0], c.master[0]));
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);

    /* a restart ships nothing: the same bytes are there */
    pid_t rep = read_pid(&c, "redis", c.replica[0][0]);
    CHECK(rep > 0 && kill(rep, SIGKILL) == 0);
    harness_sleep_ms(300);
    r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "Apply complete: 1 done.");
    ac_run_release(&r);
    CHECK(ac_track(&c));
    CHECK(file_mtime_ns(bin) == shipped_at);
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);

    /* destroy over ssh */
    pid_t pids[5] = {read_pid(&c, "redis", c.master[0]), read_pid(&c, "redis", c.replica[0][0]),
                     read_pid(&c, "sentinel", c.sentinel[0]), read_pid(&c, "proxy", c.proxy)};
    r = ac_rmgr("destroy", "-f", c.spec, "--auto-approve", "--allow-destructive", "--lock-file",
                c.lock, NULL);
    if (r.status != 0)
        ac_show("rmgr destroy", &r);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    for (int i = 0; i < 4; i++)
        CHECK(pids[i] > 0 && !harness_pid_alive(pids[i]));
    char *cdir = xasprintf("%s/%s", c.base, c.name);
    CHECK(!file_exists(cdir));
    free(cdir);
    free(bin);
    ac_release(&c);
}

TEST(a_changed_host_key_is_refused_with_its_fingerprint)
{
    char *kh = xasprintf("%s/bad_known_hosts", harness_dir(H));
    char *known_fp = NULL;
    CHECK(write_other_known_hosts(kh, &known_fp));
    char *kh_before = test_slurp(kh);
    struct ac c;
    ac_init(&c, H, "badkey", 1, 1, 1);
    /* the master on h1, whose key changed; the rest on the healthy local host */
    write_two_host_spec(&c, kh);
    int logins = hsshd_logins(S);

    for (int accept = 0; accept < 2; accept++) {
        struct ac_run r = ac_apply(&c, 1, accept ? "--accept-new-host-keys" : NULL);
        CHECK_INT_EQ(r.status, 1);
        char *all = xasprintf("%s%s", r.out, r.err);
        CHECK_CONTAINS(all, S->host_fp);
        CHECK_CONTAINS(all, "CHANGED");
        check_changed_key_message(r.err, kh, known_fp ? known_fp : "?");
        /* refused before the plan ran: no step started */
        CHECK(!strstr(r.out, "] + "));
        CHECK(!strstr(all, "Apply complete"));
        free(all);
        ac_run_release(&r);
    }
    /* nothing was started on either host, no file written, known_hosts not touched */
    CHECK(!harness_wait_port(HARNESS_IP, c.master[0], 1));
    CHECK(!harness_wait_port(HARNESS_IP, c.replica[0][0], 1));
    CHECK(!harness_wait_port(HARNESS_IP, c.sentinel[0], 1));
    CHECK(!harness_wait_port(HARNESS_IP, c.proxy, 1));
    CHECK(!file_exists(c.base));
    char *text = test_slurp(kh);
    CHECK(text && !strstr(text, S->host_pub));
    CHECK_STR_EQ(text, kh_before);
    free(text);
    /* the key check comes before the login: h1 was never logged into */
    CHECK_INT_EQ(hsshd_logins(S), logins);
    free(kh_before);
    free(known_fp);
    free(kh);
    ac_release(&c);
}

TEST(a_changed_host_key_stops_the_whole_run)
{
    struct ac c;
    ac_init(&c, H, "wholerun", 1, 1, 1);
    write_two_host_spec(&c, NULL); /* the sshd's own known_hosts: h1 trusted */
    struct ac_run r = ac_apply(&c, 0, NULL);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    CHECK(ac_track(&c));
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);

    /* the replica on the local host goes down: a plan would start it again */
    pid_t replica = read_pid(&c, "redis", c.replica[0][0]);
    CHECK(replica > 0 && kill(replica, SIGKILL) == 0);
    for (int i = 0; i < 100 && harness_pid_alive(replica); i++)
        harness_sleep_ms(50);
    CHECK(!harness_pid_alive(replica));
    /* once the sentinel has flagged it, nothing on the hosts moves on its own */
    bool flagged = false;
    for (int i = 0; i < 100 && !flagged; i++) {
        flagged = sentinel_sees_replica_down(&c, c.sentinel[0], c.shard[0], c.replica[0][0]);
        if (!flagged)
            harness_sleep_ms(100);
    }
    CHECK(flagged);
    harness_sleep_ms(300);
    pid_t before[3] = {read_pid(&c, "redis", c.master[0]), read_pid(&c, "sentinel", c.sentinel[0]),
                       read_pid(&c, "proxy", c.proxy)};
    char *snap = snapshot(c.base);

    /* h1's key changed: apply (with or without the flag), plan and status all exit 1 */
    char *kh = xasprintf("%s/wholerun_known_hosts", harness_dir(H));
    char *known_fp = NULL;
    CHECK(write_other_known_hosts(kh, &known_fp));
    char *kh_before = test_slurp(kh);
    write_two_host_spec(&c, kh);
    int logins = hsshd_logins(S);
    for (int accept = 0; accept < 2; accept++) {
        r = ac_apply(&c, 1, accept ? "--accept-new-host-keys" : NULL);
        CHECK_INT_EQ(r.status, 1);
        check_changed_key_message(r.err, kh, known_fp ? known_fp : "?");
        CHECK(!strstr(r.out, "] + "));
        CHECK(!strstr(r.out, "Apply complete"));
        ac_run_release(&r);
    }
    r = ac_rmgr("plan", "-f", c.spec, "--detailed-exitcode", "--no-color", NULL);
    CHECK_INT_EQ(r.status, 1); /* an error, not drift (2) */
    check_changed_key_message(r.err, kh, known_fp ? known_fp : "?");
    CHECK(!strstr(r.out, "Plan:"));
    ac_run_release(&r);
    r = ac_rmgr("status", "-f", c.spec, NULL);
    CHECK_INT_EQ(r.status, 1);
    check_changed_key_message(r.err, kh, known_fp ? known_fp : "?");
    CHECK_CONTAINS(r.out, "ssh host key not trusted");
    ac_run_release(&r);

    /* nothing changed anywhere: no file, no process; the replica is still down */
    char *snap_after = snapshot(c.base);
    CHECK_STR_EQ(snap_after, snap);
    free(snap_after);
    CHECK_INT_EQ(read_pid(&c, "redis", c.master[0]), before[0]);
    CHECK_INT_EQ(read_pid(&c, "sentinel", c.sentinel[0]), before[1]);
    CHECK_INT_EQ(read_pid(&c, "proxy", c.proxy), before[2]);
    for (int i = 0; i < 3; i++)
        CHECK(before[i] > 0 && harness_pid_alive(before[i]));
    CHECK(!harness_wait_port(HARNESS_IP, c.replica[0][0], 1));
    char *text = test_slurp(kh);
    CHECK_STR_EQ(text, kh_before);
    free(text);
    CHECK_INT_EQ(hsshd_logins(S), logins);

    /* unknown (no known_hosts at all): refused alike, naming the key and both fixes */
    char *kh_new = xasprintf("%s/wholerun_new_known_hosts", harness_dir(H));
    unlink(kh_new);
    write_two_host_spec(&c, kh_new);
    r = ac_apply(&c, 1, NULL);
    CHECK_INT_EQ(r.status, 1);
    char *expect = xasprintf("host key for [%s]:%d is not in known_hosts (ED25519 %s)", S->ip,
                             S->port, S->host_fp);
    CHECK_CONTAINS(r.err, expect);
    free(expect);
    CHECK_CONTAINS(r.err, "host 'h1'");
    CHECK_CONTAINS(r.err, "--accept-new-host-keys");
    CHECK_CONTAINS(r.err, "rmgr changes nothing on any host");
    CHECK(!strstr(r.out, "] + "));
    ac_run_release(&r);
    snap_after = snapshot(c.base);
    CHECK_STR_EQ(snap_after, snap);
    free(snap_after);
    CHECK(!harness_wait_port(HARNESS_IP, c.replica[0][0], 1));
    CHECK(!file_exists(kh_new));

    /* ... and --accept-new-host-keys trusts it on first use, then heals the cluster */
    r = ac_apply(&c, 0, "--accept-new-host-keys");
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.err, "added the new ssh host key of host 'h1'");
    CHECK_CONTAINS(r.out, "+ start here:");
    CHECK_CONTAINS(r.out, "Apply complete");
    ac_run_release(&r);
    CHECK(ac_track(&c));
    text = test_slurp(kh_new);
    CHECK(text && strstr(text, S->host_pub));
    free(text);
    CHECK_INT_EQ(ac_plan_status(&c, 0), 0);

    r = ac_rmgr("destroy", "-f", c.spec, "--auto-approve", "--allow-destructive", "--lock-file",
                c.lock, NULL);
    if (r.status != 0)
        ac_show("rmgr destroy", &r);
    CHECK_INT_EQ(r.status, 0);
    ac_run_release(&r);
    free(kh_new);
    free(kh_before);
    free(known_fp);
    free(kh);
    free(snap);
    ac_release(&c);
}

int main(void)
{
    H = harness_new("apply-ssh");
    S = harness_start_sshd(H, NULL);
    if (!S) {
        printf("FAIL sshd could not be started\n");
        harness_cleanup(H);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(deploy_over_ssh_with_shipped_binaries);
    RUN(a_changed_host_key_is_refused_with_its_fingerprint);
    RUN(a_changed_host_key_stops_the_whole_run);
    harness_cleanup(H);
    return test_done();
}
