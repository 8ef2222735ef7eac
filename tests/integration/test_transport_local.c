/* test_transport_local.c - the local transport runs real commands and touches real files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "transport.h"
#include "util.h"

static char tmpdir[] = "/tmp/rmgr-test-transport-local-XXXXXX";
static struct transport *t;

static char *path_in(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

static int run(const char *const *argv, struct exec_result *r)
{
    char *err = NULL;
    int rc = transport_exec(t, argv, r, &err);
    if (rc != 0)
        printf("    exec failed: %s\n", err ? err : "(no message)");
    free(err);
    return rc;
}

TEST(exec_returns_status_and_output)
{
    struct exec_result r;
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    CHECK_INT_EQ(run(argv, &r), 0);
    CHECK_INT_EQ(r.status, 3);
    CHECK_STR_EQ(r.out, "out\n");
    CHECK_STR_EQ(r.err, "err\n");
    exec_result_release(&r);

    const char *ok[] = {"true", NULL};
    CHECK_INT_EQ(run(ok, &r), 0);
    CHECK_INT_EQ(r.status, 0);
    CHECK_STR_EQ(r.out, "");
    CHECK_STR_EQ(r.err, "");
    exec_result_release(&r);
}

TEST(exec_passes_arguments_literally)
{
    struct exec_result r;
    const char *argv[] = {"printf", "[%s]\n", "a b", "it's", "$(id)", "", "x\ny", NULL};
    CHECK_INT_EQ(run(argv, &r), 0);
    CHECK_STR_EQ(r.out, "[a b]\n[it's]\n[$(id)]\n[]\n[x\ny]\n");
    exec_result_release(&r);
}

TEST(exec_reports_signal_as_128_plus_n)
{
    struct exec_result r;
    const char *argv[] = {"sh", "-c", "kill -TERM $$", NULL};
    CHECK_INT_EQ(run(argv, &r), 0);
    CHECK_INT_EQ(r.status, 128 + 15);
    exec_result_release(&r);
}

TEST(exec_missing_command_is_127)
{
    struct exec_result r;
    const char *argv[] = {"/nonexistent/rmgr-no-such-command", NULL};
    CHECK_INT_EQ(run(argv, &r), 0);
    CHECK_INT_EQ(r.status, 127);
    /* under valgrind posix_spawn cannot report exec errors: the child just exits 127 */
    if (!getenv("VALGRIND"))
        CHECK_CONTAINS(r.err, "No such file or directory");
    exec_result_release(&r);
}

TEST(exec_large_output_on_both_streams)
{
    /* 4 MiB on each stream, interleaved: a reader that waits on one pipe deadlocks */
    struct exec_result r;
    const char *argv[] = {"sh", "-c",
                          "i=0; while [ $i -lt 64 ]; do head -c 65536 /dev/zero | tr '\\0' o; "
                          "head -c 65536 /dev/zero | tr '\\0' e >&2; i=$((i+1)); done",
                          NULL};
    CHECK_INT_EQ(run(argv, &r), 0);
    CHECK_INT_EQ(r.status, 0);
    CHECK_INT_EQ(strlen(r.out), 64 * 65536);
    CHECK_INT_EQ(strlen(r.err), 64 * 65536);
    CHECK(r.out[0] == 'o' && r.out[64 * 65536 - 1] == 'o');
    CHECK(r.err[0] == 'e');
    exec_result_release(&r);
}

TEST(exec_timeout_kills_process_group)
{
    struct transport_options o = {.command_timeout_ms = 1000};
    char *err = NULL;
    struct transport *tt = transport_open(NULL, "localhost", &o, &err);
    CHECK(tt != NULL);
    if (!tt)
        return;
    /* a grandchild in the same group writes its pid, then sleeps: it must die too */
    char *pidfile = path_in("grandchild.pid");
    char *script = xasprintf("sleep 30 & echo $! > %s; wait", pidfile);
    const char *argv[] = {"sh", "-c", script, NULL};
    struct exec_result r;
    long long t0 = now_ms();
    int rc = transport_exec(tt, argv, &r, &err);
    long long took = now_ms() - t0;
    CHECK_INT_EQ(rc, -1);
    CHECK_CONTAINS(err, "timed out after 1000 ms");
    CHECK(took < 5000);
    free(err);
    char *pid_s = test_slurp(pidfile);
    CHECK(pid_s != NULL);
    if (pid_s) {
        pid_t gc = (pid_t)atol(pid_s);
        /* the grandchild was reparented to init: give it a moment to be reaped */
        int alive = 1;
        for (int i = 0; i < 100 && alive; i++) {
            char proc[64];
            snprintf(proc, sizeof(proc), "/proc/%ld/stat", (long)gc);
            char *st = test_slurp(proc);
            /* gone, or a zombie waiting for init */
            alive = st && !strstr(st, ") Z ");
            free(st);
            if (alive)
                usleep(20000);
        }
        CHECK(!alive);
        free(pid_s);
    }
    free(script);
    free(pidfile);
    transport_close(tt);
}

TEST(exec_returns_when_daemon_keeps_pipes)
{
    /* the child exits, a background process keeps stdout open: do not wait for it */
    struct exec_result r;
    const char *argv[] = {"sh", "-c", "echo started; (sleep 3 &) ; exit 0", NULL};
    long long t0 = now_ms();
    CHECK_INT_EQ(run(argv, &r), 0);
    CHECK(now_ms() - t0 < 2500);
    CHECK_INT_EQ(r.status, 0);
    CHECK_STR_EQ(r.out, "started\n");
    exec_result_release(&r);
}

/* Issue 14 finding 6: no command run through the transport sees rmgr's secrets. */
TEST(exec_gives_a_minimal_environment)
{
    setenv("RMGR_REDIS_TRANSPORT_TEST_PW", "pw-in-rmgr-env-7d1e", 1);
    setenv("RMGR_GIT_TOKEN", "ghp_transport_test", 1);
    setenv("SOME_OTHER_SECRET", "other-7d1e", 1);
    struct exec_result r;
    const char *argv[] = {"env", NULL};
    CHECK_INT_EQ(run(argv, &r), 0);
    CHECK_INT_EQ(r.status, 0);
    if (r.out && strstr(r.out, "7d1e"))
        printf("    the child's environment:\n%s", r.out);
    CHECK(r.out && !strstr(r.out, "RMGR_") && !strstr(r.out, "7d1e") &&
          !strstr(r.out, "ghp_transport_test"));
    CHECK(r.out && strstr(r.out, "PATH=")); /* commands are still found */
    exec_result_release(&r);
    unsetenv("RMGR_REDIS_TRANSPORT_TEST_PW");
    unsetenv("RMGR_GIT_TOKEN");
    unsetenv("SOME_OTHER_SECRET");
}

TEST(write_read_back_with_mode)
{
    char *path = path_in("a/b/c/file.conf");
    char *err = NULL;
    const char data[] = "port 6379\n\0binary";
    CHECK_INT_EQ(transport_write_file(t, path, data, sizeof(data), 0640, &err), 0);
    CHECK(err == NULL);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640);

    char *out = NULL;
    size_t len = 0;
    CHECK_INT_EQ(transport_read_file(t, path, 1 << 20, &out, &len, &err), 0);
    CHECK_INT_EQ(len, sizeof(data));
    CHECK(out && memcmp(out, data, sizeof(data)) == 0);
    free(out);

    /* overwrite replaces content and mode; no temp file stays behind */
    CHECK_INT_EQ(transport_write_file(t, path, "x", 1, 0600, &err), 0);
    CHECK_INT_EQ(transport_read_file(t, path, 1 << 20, &out, &len, &err), 0);
    CHECK_STR_EQ(out, "x");
    free(out);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
    char *dir = path_in("a/b/c");
    const char *ls[] = {"ls", "-A", dir, NULL};
    struct exec_result r;
    CHECK_INT_EQ(run(ls, &r), 0);
    CHECK_STR_EQ(r.out, "file.conf\n");
    exec_result_release(&r);
    free(dir);
    free(path);
}

/* Issue 14 finding 9: the temps an interrupted write left are removed by the next write. */
TEST(stale_temps_of_a_file_are_removed_when_it_is_written)
{
    char *dir = path_in("stale");
    char *target = path_in("stale/nutcracker.yml");
    char *e0 = NULL;
    CHECK_INT_EQ(transport_mkdir(t, dir, 0700, &e0), 0);
    free(e0);
    /* what a rmgr killed -9 mid-write left (another pid), a live thread's temp (ours), and
     * another file's temp: only the first go when the file is written again */
    const char *names[] = {"%s/%s.rmgr-tmp.%ld.7", "%s/.%s.rmgr-tmp.%ld.8", "%s/%s.rmgr-tmp.%ld.9",
                           "%s/other.conf.rmgr-tmp.%ld.1"};
    long pids[] = {999999, 999999, (long)getpid(), 999999};
    char *paths[4];
    for (int i = 0; i < 4; i++) {
        paths[i] = i < 3 ? xasprintf(names[i], dir, "nutcracker.yml", pids[i])
                         : xasprintf(names[i], dir, pids[i]);
        FILE *f = fopen(paths[i], "w");
        CHECK(f != NULL);
        if (f) {
            fputs("redis_auth: secret\n", f);
            fclose(f);
        }
    }
    char *err = NULL;
    CHECK_INT_EQ(transport_write_file(t, target, "x\n", 2, 0600, &err), 0);
    if (err)
        printf("    %s\n", err);
    free(err);
    struct stat st;
    CHECK(stat(paths[0], &st) < 0 && errno == ENOENT);
    CHECK(stat(paths[1], &st) < 0 && errno == ENOENT);
    CHECK(stat(paths[2], &st) == 0); /* this process's own: maybe being written */
    CHECK(stat(paths[3], &st) == 0); /* another file's */
    for (int i = 0; i < 4; i++) {
        unlink(paths[i]);
        free(paths[i]);
    }
    free(target);
    free(dir);
}

TEST(read_respects_size_cap)
{
    char *path = path_in("big");
    char *err = NULL;
    CHECK_INT_EQ(transport_write_file(t, path, "0123456789", 10, 0644, &err), 0);
    char *out = NULL;
    size_t len = 0;
    CHECK_INT_EQ(transport_read_file(t, path, 5, &out, &len, &err), -1);
    CHECK_CONTAINS(err, "larger than 5 bytes");
    CHECK(out == NULL);
    free(err);
    free(path);
}

/* finding 1 of issue 14: a redis.conf symlinked to a credentials file must not be read */
TEST(symlinked_file_is_refused)
{
    char *target = path_in("secret-target"), *link_path = path_in("redis.conf.link");
    char *err = NULL, *out = NULL;
    size_t len = 0;
    CHECK_INT_EQ(transport_write_file(t, target, "machine github.com password ghp_x\n", 34, 0600,
                                      &err), 0);
    unlink(link_path);
    CHECK_INT_EQ(symlink(target, link_path), 0);
    CHECK_INT_EQ(transport_read_file(t, link_path, 1024, &out, &len, &err), -1);
    CHECK(out == NULL);
    CHECK_CONTAINS(err, "symbolic link");
    CHECK(!err || !strstr(err, "ghp_x"));
    free(err);
    unlink(link_path);
    unlink(target);
    free(target);
    free(link_path);
}

/* finding 3 of issue 14: a directory another user can write is not ours to start daemons from */
TEST(untrusted_directory_is_refused)
{
    char *dir = path_in("planted"), *file = path_in("planted/local/redis-7001/redis.conf");
    char *err = NULL;
    CHECK_INT_EQ(mkdir(dir, 0777), 0);
    CHECK_INT_EQ(chmod(dir, 0777), 0);
    CHECK_INT_EQ(transport_write_file(t, file, "port 7001\n", 10, 0600, &err), -1);
    CHECK_CONTAINS(err, "is writable by group or others");
    free(err);
    err = NULL;
    char *sub = path_in("planted/local/sub");
    CHECK_INT_EQ(transport_mkdir(t, sub, 0700, &err), -1);
    free(sub);
    CHECK_CONTAINS(err, "is writable by group or others");
    free(err);
    err = NULL;
    CHECK_INT_EQ(chmod(dir, 0755), 0);
    if (geteuid() == 0) {
        CHECK_INT_EQ(chown(dir, 65534, 65534), 0);
        CHECK_INT_EQ(transport_write_file(t, file, "port 7001\n", 10, 0600, &err), -1);
        CHECK_CONTAINS(err, "belongs to another user");
        free(err);
        err = NULL;
        CHECK_INT_EQ(chown(dir, 0, 0), 0);
    }
    /* ours, and below /tmp (root-owned, sticky): fine */
    CHECK_INT_EQ(transport_write_file(t, file, "port 7001\n", 10, 0600, &err), 0);
    free(err);
    free(dir);
    free(file);
}

TEST(missing_file_is_1)
{
    char *path = path_in("no/such/file");
    char *err = NULL, *out = NULL;
    size_t len = 7;
    long long mt = 0;
    CHECK_INT_EQ(transport_read_file(t, path, 1024, &out, &len, &err), 1);
    CHECK(out == NULL && err == NULL);
    CHECK_INT_EQ(transport_stat_mtime(t, path, &mt, &err), 1);
    CHECK(err == NULL);
    free(path);
}

TEST(stat_mtime_matches_file)
{
    char *path = path_in("mtime");
    char *err = NULL;
    CHECK_INT_EQ(transport_write_file(t, path, "m", 1, 0644, &err), 0);
    struct timespec times[2] = {{1700000000, 0}, {1700000000, 0}};
    CHECK(utimensat(AT_FDCWD, path, times, 0) == 0);
    long long mt = 0;
    CHECK_INT_EQ(transport_stat_mtime(t, path, &mt, &err), 0);
    CHECK_INT_EQ(mt, 1700000000LL);
    free(path);
}

TEST(mkdir_p_with_mode)
{
    char *path = path_in("d1/d2/d3/");
    char *err = NULL;
    CHECK_INT_EQ(transport_mkdir(t, path, 0700, &err), 0);
    CHECK(err == NULL);
    struct stat st;
    char *d3 = path_in("d1/d2/d3");
    CHECK(stat(d3, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
    /* existing directories are fine */
    CHECK_INT_EQ(transport_mkdir(t, d3, 0700, &err), 0);
    /* a file in the way is not */
    char *f = path_in("d1/file");
    CHECK_INT_EQ(transport_write_file(t, f, "", 0, 0644, &err), 0);
    char *under = path_in("d1/file/sub");
    CHECK_INT_EQ(transport_mkdir(t, under, 0755, &err), -1);
    CHECK_CONTAINS(err, "not a directory");
    free(err);
    free(under);
    free(f);
    free(d3);
    free(path);
}

TEST(relative_paths_refused)
{
    char *err = NULL;
    CHECK_INT_EQ(transport_write_file(t, "rel/file", "x", 1, 0644, &err), -1);
    CHECK_CONTAINS(err, "not absolute");
    free(err);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        printf("cannot create a temporary directory: %s\n", strerror(errno));
        printf("0 passed, 1 failed\n");
        return 1;
    }
    char *err = NULL;
    t = transport_open(NULL, "localhost", NULL, &err);
    if (!t) {
        printf("cannot open the local transport: %s\n0 passed, 1 failed\n", err);
        return 1;
    }
    CHECK_STR_EQ(transport_host(t), "localhost");
    RUN(exec_returns_status_and_output);
    RUN(exec_passes_arguments_literally);
    RUN(exec_reports_signal_as_128_plus_n);
    RUN(exec_missing_command_is_127);
    RUN(exec_large_output_on_both_streams);
    RUN(exec_timeout_kills_process_group);
    RUN(exec_returns_when_daemon_keeps_pipes);
    RUN(exec_gives_a_minimal_environment);
    RUN(write_read_back_with_mode);
    RUN(stale_temps_of_a_file_are_removed_when_it_is_written);
    RUN(read_respects_size_cap);
    RUN(symlinked_file_is_refused);
    RUN(untrusted_directory_is_refused);
    RUN(missing_file_is_1);
    RUN(stat_mtime_matches_file);
    RUN(mkdir_p_with_mode);
    RUN(relative_paths_refused);
    transport_close(t);

    const char *rm[] = {"rm", "-rf", tmpdir, NULL};
    struct exec_result r;
    t = transport_open(NULL, "localhost", NULL, &err);
    if (t && transport_exec(t, rm, &r, &err) == 0)
        exec_result_release(&r);
    transport_close(t);
    free(err);
    return test_done();
}
