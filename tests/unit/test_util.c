/* test_util.c - util.c: atomic file replacement, durations, numbers */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "util.h"

static char dir[] = "/tmp/rmgr-test-util-XXXXXX";

#define WRITERS 4
#define ROUNDS 200
#define SIZE 65536

struct writer {
    const char *path;
    char fill;
    int failures;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char *buf = xmalloc(SIZE);
    memset(buf, w->fill, SIZE);
    for (int i = 0; i < ROUNDS; i++)
        if (write_file_atomic(w->path, buf, SIZE, 0600) < 0)
            w->failures++;
    free(buf);
    return NULL;
}

/* the file is whole and from one writer: SIZE bytes, all the same */
static bool file_is_whole(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    if (read_file(path, 2 * SIZE, &data, &len) < 0)
        return false;
    bool ok = len == SIZE;
    for (size_t i = 1; ok && i < len; i++)
        ok = data[i] == data[0];
    free(data);
    return ok;
}

/* Threads replacing one file at once: every write succeeds, every read sees one whole version. */
TEST(write_file_atomic_from_threads)
{
    char *path = xasprintf("%s/shared.conf", dir);
    pthread_t th[WRITERS];
    struct writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){path, (char)('A' + i), 0};
        CHECK_INT_EQ(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    int torn = 0;
    for (int i = 0; i < 2000; i++)
        if (access(path, F_OK) == 0 && !file_is_whole(path))
            torn++;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT_EQ(w[i].failures, 0);
    }
    CHECK_INT_EQ(torn, 0);
    CHECK(file_is_whole(path));
    free(path);
}

/* A symlink planted at a temporary name is never written through. */
TEST(write_file_atomic_never_follows_symlinks)
{
    char *victim = xasprintf("%s/victim", dir);
    char *path = xasprintf("%s/target.json", dir);
    CHECK_INT_EQ(write_file_atomic(victim, "keep", 4, 0600), 0);
    /* the names a guesser would plant: with and without a sequence number */
    char *planted[65];
    planted[0] = xasprintf("%s.rmgr-tmp.%ld", path, (long)getpid());
    for (unsigned i = 0; i < 64; i++)
        planted[i + 1] = xasprintf("%s.rmgr-tmp.%ld.%u", path, (long)getpid(), i);
    for (int i = 0; i < 65; i++)
        CHECK_INT_EQ(symlink(victim, planted[i]), 0);
    CHECK_INT_EQ(write_file_atomic(path, "new", 3, 0600), 0);
    char *v = test_slurp(victim), *t = test_slurp(path);
    CHECK_STR_EQ(v, "keep");
    CHECK_STR_EQ(t, "new");
    free(v);
    free(t);
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
    for (int i = 0; i < 65; i++) {
        unlink(planted[i]);
        free(planted[i]);
    }
    free(victim);
    free(path);
}

TEST(write_file_atomic_reports_errors)
{
    char *path = xasprintf("%s/no-such-dir/x", dir);
    errno = 0;
    CHECK_INT_EQ(write_file_atomic(path, "x", 1, 0600), -1);
    CHECK_INT_EQ(errno, ENOENT);
    free(path);
}

TEST(durations)
{
    long ms = 0;
    CHECK(parse_duration_ms("30s", &ms) && ms == 30000);
    CHECK(parse_duration_ms("250ms", &ms) && ms == 250);
    CHECK(parse_duration_ms("5m", &ms) && ms == 300000);
    CHECK(parse_duration_ms("2h", &ms) && ms == 7200000);
    CHECK(parse_duration_ms("7", &ms) && ms == 7000);
    CHECK(!parse_duration_ms("", &ms));
    CHECK(!parse_duration_ms("-1s", &ms));
    CHECK(!parse_duration_ms("1d", &ms));
    CHECK(!parse_duration_ms(" 1s", &ms));
    CHECK(!parse_duration_ms("99999999999999999999h", &ms));
    CHECK(!parse_duration_ms("1S", &ms)); /* units are lower case */
    CHECK(!parse_duration_ms("9223372036854775807h", &ms));
}

TEST(proc_stat_gone_needs_zombie_and_one_thread)
{
    /* fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime cutime cstime priority nice num_threads ... */
    const char *running = "42 (redis-server) S 1 42 42 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 5 0";
    const char *zombie_threads = "42 (nutcracker) Z 1 42 42 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 2 0";
    const char *zombie = "42 (nutcracker) Z 1 42 42 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0";
    const char *odd_name = "42 (a) Z (b) Z 1 42 42 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0";
    CHECK(!proc_stat_says_gone(running));
    CHECK(!proc_stat_says_gone(zombie_threads));
    CHECK(proc_stat_says_gone(zombie));
    CHECK(proc_stat_says_gone(odd_name));
    CHECK(!proc_stat_says_gone(""));
    CHECK(!proc_stat_says_gone(NULL));
}

TEST(unit_lookup_finds_a_suffix)
{
    static const struct unit units[] = {{"", 1}, {"kb", 1024}, {"k", 1000}};
    unsigned long long mul = 0;
    CHECK(unit_lookup(units, ARRAY_SIZE(units), "", false, &mul) && mul == 1);
    CHECK(unit_lookup(units, ARRAY_SIZE(units), "kb", false, &mul) && mul == 1024);
    CHECK(!unit_lookup(units, ARRAY_SIZE(units), "KB", false, &mul));
    CHECK(unit_lookup(units, ARRAY_SIZE(units), "KB", true, &mul) && mul == 1024);
    CHECK(!unit_lookup(units, ARRAY_SIZE(units), "kbb", true, &mul));
}

int main(void)
{
    RUN(unit_lookup_finds_a_suffix);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(write_file_atomic_from_threads);
    RUN(write_file_atomic_never_follows_symlinks);
    RUN(write_file_atomic_reports_errors);
    RUN(durations);
    RUN(proc_stat_gone_needs_zombie_and_one_thread);
    char *rm = xasprintf("rm -rf '%s'", dir);
    if (system(rm) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(rm);
    return test_done();
}
