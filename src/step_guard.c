/*
 * step_guard.c - the fencing check and the step journal around each step
 * that acts. See step_guard.h.
 */
#include "step_guard.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "util.h"

static void journal(const struct step_guard *g, const struct step *st, const char *what)
{
    if (g->journal_fd < 0)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    long long ms = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    char *line = xasprintf("%lld %ld %s %s %s %s %s:%d\n", ms, (long)getpid(),
                           g->worker ? g->worker : "-", g->cluster, what,
                           step_kind_name(st->kind), st->ip ? st->ip : "-", st->port);
    if (write(g->journal_fd, line, strlen(line)) < 0) {
        /* a debugging aid: a full disk does not fail the apply */
    }
    free(line);
}

static int before_step(void *arg, const struct step *st, char **err)
{
    struct step_guard *g = arg;
    if (lock_check(g->lock, err) < 0)
        return -1;
    journal(g, st, "start");
    return 0;
}

static void after_step(void *arg, const struct step *st, bool ok)
{
    journal(arg, st, ok ? "end" : "fail");
}

void step_guard_init(struct step_guard *g, struct apply_options *ao, const char *cluster,
                     const char *worker, struct cluster_lock *lock)
{
    g->cluster = cluster;
    g->worker = worker;
    g->lock = lock;
    g->journal_fd = -1;
    const char *path = getenv("RMGR_STEP_JOURNAL");
    if (path && *path)
        g->journal_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    ao->before_step = before_step;
    ao->after_step = after_step;
    ao->step_arg = g;
}

void step_guard_release(struct step_guard *g)
{
    if (g->journal_fd >= 0)
        close(g->journal_fd);
    g->journal_fd = -1;
}
