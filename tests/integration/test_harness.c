/*
 * test_harness.c - the integration harness itself: real redis, sentinel and
 * nutcracker start, talk, and stop; only their pids are ever signalled, also
 * when a test crashes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"
#include "util.h"

static struct harness *H;
static pid_t bystander; /* a process the harness must never touch */

static bool path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static long pidfile_pid(const char *path)
{
    char *text = test_slurp(path);
    long pid = text ? strtol(text, NULL, 10) : -1;
    free(text);
    return pid;
}

TEST(free_ports_are_distinct_and_bindable)
{
    int a = harness_free_port(), b = harness_free_port(), c = harness_free_port();
    CHECK(a > 0 && b > 0 && c > 0);
    CHECK(a != b && b != c && a != c);
}

TEST(redis_sentinel_nutcracker_work_together)
{
    struct hproc *r = harness_start_redis(H, 0, NULL);
    CHECK(r != NULL);
    if (!r)
        return;
    int rport = hproc_port(r);
    pid_t rpid = hproc_pid(r);
    CHECK(rpid > 0);
    CHECK_INT_EQ(pidfile_pid(hproc_pidfile(r)), rpid);

    char *mon = xasprintf("sentinel monitor m1 127.0.0.1 %d 1\n"
                          "sentinel down-after-milliseconds m1 2000\n", rport);
    struct hproc *s = harness_start_sentinel(H, 0, mon);
    free(mon);
    CHECK(s != NULL);

    char *pool = xasprintf("  redis: true\n  hash: fnv1a_64\n  distribution: ketama\n"
                           "  timeout: 1000\n  servers:\n   - 127.0.0.1:%d:1 s1\n", rport);
    struct hproc *n = harness_start_nutcracker(H, 0, 0, pool);
    free(pool);
    CHECK(n != NULL);
    if (!s || !n)
        return;
    CHECK(hproc_stats_port(n) > 0 && hproc_stats_port(n) != hproc_port(n));
    CHECK_INT_EQ(pidfile_pid(hproc_pidfile(n)), hproc_pid(n));

    char *reply = harness_redis_cmd(HARNESS_IP, hproc_port(n), NULL, "SET %s %s", "k1", "v1");
    CHECK_STR_EQ(reply, "OK");
    free(reply);
    reply = harness_redis_cmd(HARNESS_IP, rport, NULL, "GET %s", "k1");
    CHECK_STR_EQ(reply, "v1");
    free(reply);

    char *want = xasprintf("127.0.0.1\n%d", rport);
    reply = harness_redis_cmd(HARNESS_IP, hproc_port(s), NULL,
                              "SENTINEL GET-MASTER-ADDR-BY-NAME %s", "m1");
    CHECK_STR_EQ(reply, want);
    free(reply);
    free(want);
    /* sentinel rewrote its own config file: it must be writable */
    char *conf = test_slurp(hproc_conf(s));
    CHECK_CONTAINS(conf, "sentinel myid");
    free(conf);

    pid_t pids[3] = { hproc_pid(r), hproc_pid(s), hproc_pid(n) };
    CHECK_INT_EQ(harness_stop(H, n), 0);
    CHECK_INT_EQ(harness_stop(H, s), 0);
    CHECK_INT_EQ(harness_stop(H, r), 0);
    for (int i = 0; i < 3; i++)
        CHECK(!harness_pid_alive(pids[i]));
    CHECK_INT_EQ(hproc_pid(r), 0);
    CHECK(!hproc_alive(s));
    CHECK(!harness_wait_ping(HARNESS_IP, rport, 200));
    CHECK_INT_EQ(harness_stop(H, r), 0); /* stopping twice is harmless */
    CHECK(harness_pid_alive(bystander));
    CHECK(harness_pid_alive(getppid()));
}

TEST(reply_formats)
{
    struct hproc *r = harness_start_redis(H, 0, "requirepass s3cret\n");
    CHECK(r != NULL);
    if (!r)
        return;
    int port = hproc_port(r);
    char *t = harness_redis_cmd(HARNESS_IP, port, NULL, "PING");
    CHECK_STR_EQ(t, "-NOAUTH Authentication required.");
    free(t);
    t = harness_redis_cmd(HARNESS_IP, port, "s3cret", "RPUSH l a b c");
    CHECK_STR_EQ(t, "3");
    free(t);
    t = harness_redis_cmd(HARNESS_IP, port, "s3cret", "LRANGE l 0 -1");
    CHECK_STR_EQ(t, "a\nb\nc");
    free(t);
    t = harness_redis_cmd(HARNESS_IP, port, "s3cret", "GET %s", "missing");
    CHECK_STR_EQ(t, "(nil)");
    free(t);
    t = harness_redis_cmd(HARNESS_IP, port, "s3cret", "LRANGE missing 0 -1");
    CHECK_STR_EQ(t, "");
    free(t);
    fprintf(stderr, "(two expected errors follow)\n");
    t = harness_redis_cmd(HARNESS_IP, port, "wrong", "PING");
    CHECK(t == NULL);
    free(t);
    CHECK(harness_redis_cmd(HARNESS_IP, harness_free_port(), NULL, "PING") == NULL);
    CHECK_INT_EQ(harness_stop(H, r), 0);
}

static bool replica_has_a(void *arg)
{
    char *t = harness_redis_cmd(HARNESS_IP, hproc_port(arg), NULL, "GET a");
    bool ok = t && strcmp(t, "1") == 0;
    free(t);
    return ok;
}

TEST(replica_syncs_quickly)
{
    struct hproc *m = harness_start_redis(H, 0, NULL);
    CHECK(m != NULL);
    if (!m)
        return;
    char *extra = xasprintf("replicaof 127.0.0.1 %d\n", hproc_port(m));
    struct hproc *r = harness_start_redis(H, 0, extra);
    free(extra);
    CHECK(r != NULL);
    if (!r)
        return;
    char *t = harness_redis_cmd(HARNESS_IP, hproc_port(m), NULL, "SET a 1");
    CHECK_STR_EQ(t, "OK");
    free(t);
    CHECK(harness_wait_until(replica_has_a, r, 5000, 0));
}

TEST(kill_and_restart)
{
    struct hproc *r = harness_start_redis(H, 0, NULL);
    CHECK(r != NULL);
    if (!r)
        return;
    pid_t old = hproc_pid(r);
    CHECK_INT_EQ(harness_signal(H, r, SIGKILL), 0);
    for (int i = 0; i < 100 && hproc_alive(r); i++)
        harness_sleep_ms(10);
    CHECK(!hproc_alive(r));
    CHECK(!harness_pid_alive(old));
    CHECK_INT_EQ(harness_signal(H, r, SIGTERM), -1); /* gone: nothing is signalled */
    CHECK_INT_EQ(harness_restart(H, r), 0);
    CHECK(hproc_alive(r));
    CHECK(hproc_pid(r) != old);
    CHECK(harness_wait_ping(HARNESS_IP, hproc_port(r), 0));
    /* a stopped (SIGSTOP) process is still stopped by harness_stop */
    CHECK_INT_EQ(harness_signal(H, r, SIGSTOP), 0);
    pid_t pid = hproc_pid(r);
    CHECK_INT_EQ(harness_stop(H, r), 0);
    CHECK(!harness_pid_alive(pid));
}

TEST(port_taken_fails_cleanly)
{
    struct hproc *a = harness_start_redis(H, 0, NULL);
    CHECK(a != NULL);
    if (!a)
        return;
    fprintf(stderr, "(an expected startup failure follows)\n");
    struct hproc *b = harness_start_redis(H, hproc_port(a), NULL);
    CHECK(b == NULL);
    CHECK(hproc_alive(a));
    fprintf(stderr, "(an expected startup failure follows)\n");
    CHECK(harness_start_redis(H, 0, "no-such-directive yes\n") == NULL);
    CHECK_INT_EQ(harness_stop(H, a), 0);
}

TEST(tracks_daemons_started_by_others)
{
    int port = harness_free_port();
    char *pidfile = xasprintf("%s/other.pid", harness_dir(H));
    char *portstr = xasprintf("%d", port);
    const char *argv[] = { "redis-server", "--port", portstr, "--bind", "127.0.0.1",
                           "--daemonize", "yes", "--pidfile", pidfile, "--save", "",
                           "--logfile", "/dev/null", "--dir", harness_dir(H), NULL };
    int status = -1;
    CHECK_INT_EQ(harness_run(argv, NULL, NULL, &status), 0);
    CHECK_INT_EQ(status, 0);
    pid_t pid = harness_track_pidfile(H, pidfile, "redis-server");
    CHECK(pid > 0);
    CHECK(harness_wait_ping(HARNESS_IP, port, 0));
    fprintf(stderr, "(an expected refusal follows)\n");
    CHECK_INT_EQ(harness_track_pid(H, pid, "nutcracker"), -1);
    CHECK_INT_EQ(harness_stop_pid(H, pid), 0);
    CHECK(!harness_pid_alive(pid));
    CHECK(!harness_wait_ping(HARNESS_IP, port, 200));
    free(pidfile);
    free(portstr);
}

/* True when something accepts a TCP connection on 127.0.0.1:port right now. */
static bool port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/*
 * A SIGKILLed redis-server's main thread turns zombie while its other threads
 * still exit and hold the listening socket: it must count as alive until the
 * port is free, or a restart on the same port fails. Polled without pause, so
 * the window is hit (it was, in most rounds, before the harness waited).
 */
TEST(killed_redis_counts_as_gone_only_with_its_port)
{
    for (int round = 0; round < 10; round++) {
        struct hproc *r = harness_start_redis(H, 0, NULL);
        CHECK(r != NULL);
        if (!r)
            return;
        int port = hproc_port(r);
        CHECK_INT_EQ(harness_signal(H, r, SIGKILL), 0);
        for (long i = 0; i < 50000000 && hproc_alive(r); i++) {
        }
        CHECK(!hproc_alive(r));
        CHECK(!port_accepts(port));
        CHECK_INT_EQ(harness_stop(H, r), 0);
    }
    /* the same for a daemon that is not our child (its zombie waits for init) */
    for (int round = 0; round < 5; round++) {
        int port = harness_free_port();
        char *pidfile = xasprintf("%s/killed-%d.pid", harness_dir(H), round);
        char *portstr = xasprintf("%d", port);
        const char *argv[] = { "redis-server", "--port", portstr, "--bind", "127.0.0.1",
                               "--daemonize", "yes", "--pidfile", pidfile, "--save", "",
                               "--logfile", "/dev/null", "--dir", harness_dir(H), NULL };
        int status = -1;
        CHECK_INT_EQ(harness_run(argv, NULL, NULL, &status), 0);
        pid_t pid = harness_track_pidfile(H, pidfile, "redis-server");
        CHECK(pid > 0);
        CHECK(harness_wait_ping(HARNESS_IP, port, 0));
        if (pid > 0) {
            kill(pid, SIGKILL);
            for (long i = 0; i < 50000000 && harness_pid_alive(pid); i++) {
            }
            CHECK(!harness_pid_alive(pid));
            CHECK(!port_accepts(port));
            CHECK_INT_EQ(harness_stop_pid(H, pid), 0);
        }
        free(pidfile);
        free(portstr);
    }
}

/* true once the forked child has exec'd sleep */
static bool runs_sleep(void *arg)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)*(pid_t *)arg);
    char *comm = test_slurp(path);
    bool ok = comm && strcmp(comm, "sleep\n") == 0;
    free(comm);
    return ok;
}

TEST(exited_process_is_never_signalled)
{
    /* a child that exits and is reaped: its pid may be reused by anyone */
    pid_t pid = fork();
    if (pid == 0) {
        execlp("sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0);
    CHECK(harness_wait_until(runs_sleep, &pid, 5000, 1));
    CHECK_INT_EQ(harness_track_pid(H, pid, "sleep"), 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK(!harness_pid_alive(pid));
    CHECK_INT_EQ(harness_stop_pid(H, pid), 0);
    fprintf(stderr, "(an expected refusal follows)\n");
    CHECK_INT_EQ(harness_track_pid(H, pid, NULL), -1);
}

TEST(run_captures_output)
{
    const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
    char *out = NULL, *err = NULL;
    int status = 0;
    CHECK_INT_EQ(harness_run(argv, &out, &err, &status), 0);
    CHECK_STR_EQ(out, "out\n");
    CHECK_STR_EQ(err, "err\n");
    CHECK_INT_EQ(status, 3);
    free(out);
    free(err);

    const char *cat[] = { "cat", NULL };
    CHECK_INT_EQ(harness_run_ex(cat, "line1\nline2\n", NULL, 0, &out, NULL, &status), 0);
    CHECK_STR_EQ(out, "line1\nline2\n");
    CHECK_INT_EQ(status, 0);
    free(out);

    const char *pwd[] = { "pwd", NULL };
    CHECK_INT_EQ(harness_run_ex(pwd, NULL, "/", 0, &out, NULL, &status), 0);
    CHECK_STR_EQ(out, "/\n");
    free(out);

    const char *slow[] = { "sleep", "10", NULL };
    fprintf(stderr, "(an expected timeout follows)\n");
    CHECK_INT_EQ(harness_run_ex(slow, NULL, NULL, 200, NULL, NULL, &status), -1);
    CHECK_INT_EQ(status, 128 + SIGKILL);

    const char *missing[] = { "no-such-program-rmgr", NULL };
    fprintf(stderr, "(an expected error follows)\n");
    CHECK_INT_EQ(harness_run(missing, NULL, NULL, &status), -1);
}

TEST(forked_child_exit_stops_nothing)
{
    struct hproc *r = harness_start_redis(H, 0, NULL);
    CHECK(r != NULL);
    if (!r)
        return;
    pid_t child = fork();
    if (child == 0)
        exit(0); /* runs the atexit handlers, which must leave r alone */
    int st = -1;
    waitpid(child, &st, 0);
    CHECK(WIFEXITED(st));
    CHECK(hproc_alive(r));
    CHECK(path_exists(hproc_conf(r)));
    CHECK(harness_wait_ping(HARNESS_IP, hproc_port(r), 0));
    CHECK_INT_EQ(harness_stop(H, r), 0);
}

static bool counter_reaches_3(void *arg)
{
    return ++*(int *)arg >= 3;
}

TEST(wait_until_polls)
{
    int n = 0;
    CHECK(harness_wait_until(counter_reaches_3, &n, 5000, 1));
    CHECK_INT_EQ(n, 3);
    n = -1000000;
    CHECK(!harness_wait_until(counter_reaches_3, &n, 30, 10));
}

/*
 * Run this binary as "crash MODE" in a child: it starts a redis and dies;
 * afterwards the redis must be gone (and the directory unless SIGKILL).
 */
static void check_crash(const char *mode, int expect_status)
{
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    CHECK(len > 0);
    if (len <= 0)
        return;
    self[len] = '\0';
    const char *argv[] = { self, "crash", mode, NULL };
    char *out = NULL;
    int status = -1;
    CHECK_INT_EQ(harness_run(argv, &out, NULL, &status), 0);
    CHECK_INT_EQ(status, expect_status);
    long pid = 0;
    char dir[1024] = "";
    CHECK(out && sscanf(out, "%ld %1023s", &pid, dir) == 2);
    if (pid > 0) {
        /* after SIGKILL the death signal is asynchronous: give it a moment */
        for (int i = 0; i < 100 && harness_pid_alive((pid_t)pid); i++)
            harness_sleep_ms(10);
        CHECK(!harness_pid_alive((pid_t)pid));
    }
    if (strcmp(mode, "kill") == 0) {
        /* nobody could clean up: the directory stays, remove it here */
        CHECK(path_exists(dir));
        const char *rm[] = { "rm", "-rf", dir, NULL };
        if (dir[0] == '/' && strstr(dir, "rmgr-crash-"))
            harness_run(rm, NULL, NULL, NULL);
    } else {
        CHECK(dir[0] && !path_exists(dir));
    }
    free(out);
}

TEST(segfault_stops_processes) { check_crash("segv", 128 + SIGSEGV); }
TEST(abort_stops_processes) { check_crash("abort", 128 + SIGABRT); }
TEST(sigterm_stops_processes) { check_crash("term", 128 + SIGTERM); }
TEST(exit_stops_processes) { check_crash("exit", 1); }
TEST(sigkill_still_stops_children) { check_crash("kill", 128 + SIGKILL); }

/* cleanup stops what is left, removes the directory, and nothing else */
TEST(cleanup_stops_rest_and_spares_bystander)
{
    struct hproc *r = harness_start_redis(H, 0, NULL);
    CHECK(r != NULL);
    pid_t pid = hproc_pid(r);
    char *dir = xstrdup(harness_dir(H));
    harness_cleanup(H);
    H = NULL;
    CHECK(!harness_pid_alive(pid));
    CHECK(!path_exists(dir));
    CHECK(harness_pid_alive(bystander));
    free(dir);
}

static int crash_child(const char *mode)
{
    struct harness *h = harness_new("crash");
    struct hproc *r = harness_start_redis(h, 0, NULL);
    if (!r)
        return 3;
    printf("%d %s\n", (int)hproc_pid(r), harness_dir(h));
    fflush(stdout);
    if (strcmp(mode, "segv") == 0)
        raise(SIGSEGV);
    else if (strcmp(mode, "abort") == 0)
        abort();
    else if (strcmp(mode, "term") == 0)
        raise(SIGTERM);
    else if (strcmp(mode, "kill") == 0)
        raise(SIGKILL);
    return 1; /* atexit cleans up */
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "crash") == 0)
        return crash_child(argv[2]);

    bystander = fork();
    if (bystander == 0) {
        execlp("sleep", "sleep", "120", (char *)NULL);
        _exit(127);
    }
    H = harness_new("harness");

    RUN(free_ports_are_distinct_and_bindable);
    RUN(redis_sentinel_nutcracker_work_together);
    RUN(reply_formats);
    RUN(replica_syncs_quickly);
    RUN(kill_and_restart);
    RUN(killed_redis_counts_as_gone_only_with_its_port);
    RUN(port_taken_fails_cleanly);
    RUN(tracks_daemons_started_by_others);
    RUN(exited_process_is_never_signalled);
    RUN(run_captures_output);
    RUN(wait_until_polls);
    RUN(forked_child_exit_stops_nothing);
    RUN(segfault_stops_processes);
    RUN(abort_stops_processes);
    RUN(sigterm_stops_processes);
    RUN(exit_stops_processes);
    RUN(sigkill_still_stops_children);

    RUN(cleanup_stops_rest_and_spares_bystander);

    kill(bystander, SIGKILL);
    waitpid(bystander, NULL, 0);
    return test_done();
}
