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
 *               naming the key the server offers; --accept-new-host-keys
 *               does not change that; nothing is started
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
    char *key = xasprintf("%s/other_host_key", harness_dir(H));
    char *pub = NULL;
    CHECK(harness_ssh_keygen(key, &pub, NULL) == 0);
    char *kh = xasprintf("%s/bad_known_hosts", harness_dir(H));
    FILE *f = fopen(kh, "w");
    CHECK(f != NULL);
    if (f) {
        fprintf(f, "[%s]:%d %s\n", S->ip, S->port, pub ? pub : "");
        fclose(f);
    }
    struct ac c;
    ac_init(&c, H, "badkey", 1, 1, 1);
    c.hosts_yaml = hosts_yaml(kh);
    c.host = "h1";
    ac_write_spec(&c);

    for (int accept = 0; accept < 2; accept++) {
        struct ac_run r = ac_apply(&c, 1, accept ? "--accept-new-host-keys" : NULL);
        CHECK_INT_EQ(r.status, 1);
        char *all = xasprintf("%s%s", r.out, r.err);
        CHECK_CONTAINS(all, S->host_fp);
        CHECK_CONTAINS(all, "CHANGED");
        free(all);
        ac_run_release(&r);
    }
    /* nothing was started, the known_hosts file was not touched */
    CHECK(!harness_wait_port(HARNESS_IP, c.master[0], 1));
    CHECK(!harness_wait_port(HARNESS_IP, c.proxy, 1));
    char *text = test_slurp(kh);
    CHECK(text && !strstr(text, S->host_pub));
    free(text);
    free(key);
    free(pub);
    free(kh);
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
    harness_cleanup(H);
    return test_done();
}
