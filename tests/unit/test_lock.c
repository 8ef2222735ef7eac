/* test_lock.c - one apply per cluster: flock semantics and holder messages */
#include <signal.h>
#include <stdlib.h>
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
    RUN(default_path_names_cluster);
    unlink(lockpath);
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    rmdir(sub);
    rmdir(dir);
    return test_done();
}
