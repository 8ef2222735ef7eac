/* test_lock.c - one apply per cluster: flock semantics and holder messages */
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lock.h"
#include "test.h"
#include "util.h"

static char lockpath[256];

TEST(second_lock_is_refused_with_holder)
{
    char *err = NULL;
    struct cluster_lock *a = lock_acquire(lockpath, 0, &err);
    CHECK(a != NULL);
    struct cluster_lock *b = lock_acquire(lockpath, 0, &err);
    CHECK(b == NULL);
    CHECK_CONTAINS(err, "another apply holds the lock");
    CHECK_CONTAINS(err, "held by pid");
    free(err);
    err = NULL;
    b = lock_acquire(lockpath, 300, &err);
    CHECK(b == NULL);
    CHECK_CONTAINS(err, "gave up after 300 ms");
    free(err);
    lock_release(a);
    err = NULL;
    b = lock_acquire(lockpath, 0, &err);
    CHECK(b != NULL);
    lock_release(b);
}

TEST(lock_of_dead_process_is_taken_over)
{
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        char *err = NULL;
        struct cluster_lock *l = lock_acquire(lockpath, 0, &err);
        if (write(ready[1], l ? "y" : "n", 1) < 0)
            _exit(1);
        pause();
        _exit(0);
    }
    char c = 0;
    CHECK(read(ready[0], &c, 1) == 1);
    CHECK(c == 'y');
    char *err = NULL;
    CHECK(lock_acquire(lockpath, 0, &err) == NULL);
    free(err);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    err = NULL;
    struct cluster_lock *l = lock_acquire(lockpath, 1000, &err);
    CHECK(l != NULL);
    lock_release(l);
    close(ready[0]);
    close(ready[1]);
}

static char *slurp_or_empty(const char *path)
{
    char *s = test_slurp(path);
    return s ? s : xstrdup("");
}

/* a lock path planted by someone else never makes us clobber another file */
TEST(planted_lock_files_are_refused)
{
    char victim[300], planted[300];
    snprintf(victim, sizeof(victim), "%s.victim", lockpath);
    snprintf(planted, sizeof(planted), "%s.planted", lockpath);
    CHECK_INT_EQ(write_file_atomic(victim, "precious\n", 9, 0600), 0);
    char *err = NULL;

    CHECK_INT_EQ(symlink(victim, planted), 0);
    CHECK(lock_acquire(planted, 0, &err) == NULL);
    CHECK_CONTAINS(err, "is a symbolic link");
    free(err);
    err = NULL;
    unlink(planted);

    CHECK_INT_EQ(link(victim, planted), 0);
    CHECK(lock_acquire(planted, 0, &err) == NULL);
    CHECK_CONTAINS(err, "has other hard links");
    free(err);
    err = NULL;
    unlink(planted);

    CHECK_INT_EQ(mkfifo(planted, 0600), 0);
    CHECK(lock_acquire(planted, 0, &err) == NULL);
    CHECK_CONTAINS(err, "is not a regular file");
    free(err);
    err = NULL;
    unlink(planted);

    if (geteuid() == 0) { /* a file of another user */
        CHECK_INT_EQ(write_file_atomic(planted, "", 0, 0666), 0);
        CHECK_INT_EQ(chown(planted, 65534, 65534), 0);
        CHECK(lock_acquire(planted, 0, &err) == NULL);
        CHECK_CONTAINS(err, "belongs to another user");
        free(err);
        err = NULL;
        unlink(planted);
    }

    char *v = slurp_or_empty(victim);
    CHECK_STR_EQ(v, "precious\n");
    free(v);
    unlink(victim);
}

/* finding 4 of issue 14: /tmp/rmgr-<uid> may have been made by someone else */
TEST(lock_directory_of_another_user_or_open_mode_is_refused)
{
    char dir[] = "/tmp/rmgr-lockdir-test.XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/c.lock", dir);
    char *err = NULL;
    CHECK_INT_EQ(chmod(dir, 0777), 0);
    CHECK(lock_acquire(path, 0, &err) == NULL);
    CHECK_CONTAINS(err, "refusing lock directory");
    CHECK_CONTAINS(err, "mode 0777");
    free(err);
    err = NULL;
    CHECK_INT_EQ(chmod(dir, 0700), 0);
    if (geteuid() == 0) {
        CHECK_INT_EQ(chown(dir, 65534, 65534), 0);
        CHECK(lock_acquire(path, 0, &err) == NULL);
        CHECK_CONTAINS(err, "belongs to another user");
        free(err);
        err = NULL;
        CHECK_INT_EQ(chown(dir, 0, 0), 0);
    }
    struct cluster_lock *l = lock_acquire(path, 0, &err);
    CHECK(l != NULL);
    lock_release(l);
    unlink(path);
    rmdir(dir);
}

TEST(default_path_names_cluster)
{
    char *p = lock_default_path("demo");
    CHECK_CONTAINS(p, "demo.lock");
    free(p);
}

int main(void)
{
    char dir[] = "/tmp/rmgr-lock-test.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    snprintf(lockpath, sizeof(lockpath), "%s/sub/c.lock", dir);
    RUN(second_lock_is_refused_with_holder);
    RUN(lock_of_dead_process_is_taken_over);
    RUN(planted_lock_files_are_refused);
    RUN(lock_directory_of_another_user_or_open_mode_is_refused);
    RUN(default_path_names_cluster);
    unlink(lockpath);
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    rmdir(sub);
    rmdir(dir);
    return test_done();
}
