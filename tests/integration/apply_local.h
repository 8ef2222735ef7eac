/*
 * apply_local.h - helpers of the apply tests on this machine (test_apply_local.c
 * and test_apply_faults.c): files, rmgr in the background, replicas linked and
 * sentinels agreeing, keys written through the proxy and found on their shard,
 * the pid of an instance rmgr started. On top of apply_cluster.h; static
 * inline, as each test uses some of them.
 */
#ifndef RMGR_APPLY_LOCAL_H
#define RMGR_APPLY_LOCAL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apply_cluster.h"
#include "test.h"
#include "util.h"

#define PW "apply-TEST-pw-5c2e9d"
#define PW_ENV "RMGR_REDIS_APPLY_TEST_PW"

static inline bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static inline int file_mode(const char *path)
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
static inline bool bg_start(struct bg *b, const char *const *args)
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
static inline bool bg_read(struct bg *b, long ms)
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
static inline int bg_finish(struct bg *b)
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
static inline bool wait_for(bool (*cond)(void *), void *arg, long timeout_ms)
{
    return harness_wait_until(cond, arg, timeout_ms, 100);
}

struct linked {
    const struct ac *c;
    int port, master;
};

static inline bool linked_cond(void *arg)
{
    struct linked *l = arg;
    return ac_is_linked_replica(l->c, l->port, l->master);
}

/* Every replica of every shard linked to the shard's master (spec roles). */
static inline bool all_linked(const struct ac *c, const int *masters)
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
static inline bool sentinels_agree(const struct ac *c, const int *masters)
{
    bool ok = true;
    for (int j = 0; j < c->nsent; j++)
        for (int i = 0; i < c->nshards; i++) {
            char *m = ac_cmd(c, c->sentinel[j], true, "SENTINEL MASTER %s", c->shard[i]);
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
static inline int shard_of_key(const struct ac *c, const int *masters, const char *key)
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
static inline void make_key(char *buf, size_t n, const char *prefix, int i)
{
    snprintf(buf, n, "%08x:%s:%d", ((unsigned)i + 1u) * 2654435761u, prefix, i);
}

struct key_on {
    const struct ac *c;
    int port;
    const char *key, *want;
};

static inline bool key_on_cond(void *arg)
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
static inline bool write_and_place(const struct ac *c, const int *masters, const char *prefix,
                                   int n, int *per_shard)
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

static inline pid_t read_pid(const struct ac *c, const char *kind, int port)
{
    char *pf = ac_pidfile(c, kind, port);
    char *text = test_slurp(pf);
    free(pf);
    pid_t pid = text ? (pid_t)atol(text) : 0;
    free(text);
    return pid;
}

/* Where the password starts on the requirepass line of a redis.conf text, or NULL. */
static inline char *requirepass_value(char *text)
{
    char *line = text ? strstr(text, "\nrequirepass ") : NULL;
    char *pw = line ? strstr(line, PW) : NULL;
    char *eol = line ? strchr(line + 1, '\n') : NULL;
    return pw && (!eol || pw < eol) ? pw : NULL;
}

#endif
