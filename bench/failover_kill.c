/*
 * failover_kill.c - SIGKILL a master: how long until a write through the
 * proxy succeeds again? The client's view of a real failover.
 *
 *   failover_kill --shard NAME [--shard NAME]... --proxy PORT --sentinel PORT...
 *                 --quorum N [--password-env VAR] [--runs N] [--min-gap-ms MS]
 *
 * It subscribes to +switch-master and +selected-slave on every sentinel. Per
 * run (shards in turn, a shard's master killed again only --min-gap-ms after
 * its last kill: Sentinel starts no failover of the same master within twice
 * its failover-timeout): the shard's master (asked from a sentinel) is sent
 * SIGKILL (its pid from INFO; t0); then a SET of a key of that shard goes
 * through the proxy every 1 ms on a fresh connection until one is answered
 * OK (t1: the proxy writes to a master again). Meanwhile, when a sentinel
 * publishes +selected-slave for the shard, the selected replica is polled
 * with ROLE every 1 ms until it answers master (tp: its promotion). Per run
 * it prints t1 - t0, t1 - tp and t1 - tq (tq: the quorum-th +switch-master;
 * negative = the write came first). Then it waits for the quorum's
 * +switch-master, and for the old master to be back (a follower with
 * --apply restarts it); after 3 s it starts it itself from its own config
 * file, as a replica of the new master.
 *
 * Everything on 127.0.0.1. Exit 0 when every run completed.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "failover_kill"
#include "bench_time.h"
#include "failover_bench.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
/* per shard and sentinel: the latest announced master "ip port", and when */
static char reports[MAX_SHARDS][MAX_SENTINELS][96];
static double report_at[MAX_SHARDS][MAX_SENTINELS];
/* per shard: the replica selected last (port), and when it answered ROLE master */
static int selected_port[MAX_SHARDS];
static double promoted_at[MAX_SHARDS];
static int subscribed;

/* Poll the selected replica of a shard for ROLE master (1 ms), record when. */
static void *promotion_poller(void *arg)
{
    int sh = (int)(long)arg;
    pthread_mutex_lock(&mu);
    int port = selected_port[sh];
    pthread_mutex_unlock(&mu);
    double give_up = now_ms() + 30000;
    redisContext *c = NULL;
    while (now_ms() < give_up) {
        if (!c)
            c = connect_to(port, true);
        redisReply *r = c ? redisCommand(c, "ROLE") : NULL;
        double at = now_ms();
        bool master = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                      r->element[0]->type == REDIS_REPLY_STRING &&
                      !strcmp(r->element[0]->str, "master");
        if (!r) {
            redisFree(c);
            c = NULL;
        }
        freeReplyObject(r);
        pthread_mutex_lock(&mu);
        bool still = selected_port[sh] == port;
        if (master && still) {
            promoted_at[sh] = at;
            pthread_cond_broadcast(&cond);
        }
        pthread_mutex_unlock(&mu);
        if (master || !still)
            break;
        sleep_us(1000);
    }
    redisFree(c);
    return NULL;
}

/* One subscription per sentinel: +switch-master and +selected-slave of our shards. */
static void *subscriber(void *arg)
{
    int i = (int)(long)arg;
    for (;;) {
        redisContext *c = connect_to(sentinel_port[i], true);
        if (!c) {
            sleep_us(100000);
            continue;
        }
        struct timeval none = {0, 0};
        redisSetTimeout(c, none);
        redisAppendCommand(c, "SUBSCRIBE +switch-master +selected-slave");
        pthread_mutex_lock(&mu);
        subscribed++;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&mu);
        void *reply;
        while (redisGetReply(c, &reply) == REDIS_OK) {
            double at = now_ms();
            redisReply *m = reply;
            if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
                m->element[1]->type == REDIS_REPLY_STRING &&
                m->element[2]->type == REDIS_REPLY_STRING) {
                const char *ch = m->element[1]->str, *p = m->element[2]->str;
                char name[128], a[64], b[64];
                int x, y;
                if (!strcmp(ch, "+switch-master") &&
                    sscanf(p, "%127s %63s %d %63s %d", name, a, &x, b, &y) == 5 &&
                    shard_of(name) >= 0) {
                    int sh = shard_of(name);
                    pthread_mutex_lock(&mu);
                    snprintf(reports[sh][i], sizeof(reports[sh][i]), "%s %d", b, y);
                    report_at[sh][i] = at;
                    pthread_cond_broadcast(&cond);
                    pthread_mutex_unlock(&mu);
                } else if (!strcmp(ch, "+selected-slave") &&
                           sscanf(p, "slave %63s %63s %d @ %127s", a, b, &y, name) == 4 &&
                           shard_of(name) >= 0) {
                    int sh = shard_of(name);
                    pthread_mutex_lock(&mu);
                    bool fresh = selected_port[sh] != y;
                    selected_port[sh] = y;
                    pthread_mutex_unlock(&mu);
                    pthread_t tid;
                    if (fresh && pthread_create(&tid, NULL, promotion_poller, (void *)(long)sh) == 0)
                        pthread_detach(tid);
                }
            }
            freeReplyObject(reply);
        }
        redisFree(c);
        pthread_mutex_lock(&mu);
        subscribed--;
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

/* Whether every sentinel lists a healthy replica of the shard (one it would promote). */
static bool good_replica(const char *shard)
{
    for (int i = 0; i < nsentinels; i++) {
        redisContext *c = connect_to(sentinel_port[i], true);
        if (!c)
            return false;
        redisReply *r = redisCommand(c, "SENTINEL REPLICAS %s", shard);
        bool good = false;
        for (size_t k = 0; r && r->type == REDIS_REPLY_ARRAY && k < r->elements && !good; k++) {
            redisReply *e = r->element[k];
            const char *flags = NULL, *link = NULL;
            for (size_t j = 0; e->type == REDIS_REPLY_ARRAY && j + 1 < e->elements; j += 2) {
                if (!strcmp(e->element[j]->str, "flags"))
                    flags = e->element[j + 1]->str;
                else if (!strcmp(e->element[j]->str, "master-link-status"))
                    link = e->element[j + 1]->str;
            }
            good = flags && !strcmp(flags, "slave") && link && !strcmp(link, "ok");
        }
        freeReplyObject(r);
        redisFree(c);
        if (!good)
            return false;
    }
    return true;
}

/* An INFO field of the instance on `port` ("process_id"), or NULL. Caller frees. */
static char *info_field(int port, const char *field)
{
    char *info = cmd(port, true, "INFO server");
    if (!info)
        return NULL;
    char *out = NULL;
    size_t n = strlen(field);
    for (char *line = strtok(info, "\r\n"); line; line = strtok(NULL, "\r\n"))
        if (!strncmp(line, field, n) && line[n] == ':')
            out = strdup(line + n + 1);
    free(info);
    return out;
}

/* Start redis-server from its own config file as a replica of ip port (daemonized). */
static void restart_as_replica(const char *exe, const char *conf, const char *master)
{
    char ip[64];
    int port;
    if (sscanf(master, "%63s %d", ip, &port) != 2)
        return;
    char arg[96];
    snprintf(arg, sizeof(arg), "%s %d", ip, port);
    pid_t pid = fork();
    if (pid == 0) {
        execl(exe, exe, conf, "--replicaof", arg, "--daemonize", "yes", (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    int i = (int)(p / 100.0 * n + 0.999999) - 1; /* nearest rank */
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

int main(int argc, char **argv)
{
    int runs = 10;
    long min_gap_ms = 22000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("option '%s' needs a value", a);
        if (!strcmp(a, "--shard") && nshards < MAX_SHARDS)
            shards[nshards++] = v;
        else if (!strcmp(a, "--proxy"))
            proxy_port = atoi(v);
        else if (!strcmp(a, "--quorum"))
            quorum = atoi(v);
        else if (!strcmp(a, "--runs"))
            runs = atoi(v);
        else if (!strcmp(a, "--min-gap-ms"))
            min_gap_ms = atol(v);
        else if (!strcmp(a, "--password-env"))
            password = getenv(v);
        else if (!strcmp(a, "--sentinel") && nsentinels < MAX_SENTINELS)
            sentinel_port[nsentinels++] = atoi(v);
        else
            die("unknown option '%s'", a);
        i++;
    }
    if (!nshards || !proxy_port || !nsentinels || quorum < 1 || runs < 1)
        die("usage: failover_kill --shard NAME... --proxy PORT --sentinel PORT... --quorum N "
            "[--password-env VAR] [--runs N] [--min-gap-ms MS]");
    signal(SIGPIPE, SIG_IGN);
    pthread_t tid;
    for (int i = 0; i < nsentinels; i++)
        if (pthread_create(&tid, NULL, subscriber, (void *)(long)i) != 0)
            die("cannot start a thread");
    pthread_mutex_lock(&mu);
    while (subscribed < nsentinels)
        pthread_cond_wait(&cond, &mu);
    pthread_mutex_unlock(&mu);

    double *kw = calloc((size_t)runs, sizeof(double)), *pw = calloc((size_t)runs, sizeof(double));
    double *qw = calloc((size_t)runs, sizeof(double));
    double last_kill[MAX_SHARDS] = {0};
    int done = 0, npw = 0, nqw = 0;
    for (int run = 0; run < runs; run++) {
        int sh = run % nshards;
        const char *shard = shards[sh];
        if (last_kill[sh] > 0 && now_ms() - last_kill[sh] < min_gap_ms)
            sleep_us((long)((min_gap_ms - (now_ms() - last_kill[sh])) * 1000));
        double wait_until = now_ms() + 60000;
        while (!good_replica(shard)) {
            if (now_ms() > wait_until)
                die("no sentinel-approved replica of '%s' within 60 s", shard);
            sleep_us(200000);
        }
        char old[64];
        int old_port;
        if (!current_master(shard, old, sizeof(old), &old_port))
            die("no sentinel knows shard '%s'", shard);
        char *key = find_key(old_port);
        if (!key)
            die("no key maps to shard '%s' through the proxy", shard);
        char *pid_s = info_field(old_port, "process_id");
        char *exe = info_field(old_port, "executable");
        char *conf = info_field(old_port, "config_file");
        if (!pid_s || !exe || !conf || !*conf)
            die("no pid, executable or config file from %s", old);
        pthread_mutex_lock(&mu);
        memset(reports[sh], 0, sizeof(reports[sh]));
        selected_port[sh] = 0;
        promoted_at[sh] = 0;
        pthread_mutex_unlock(&mu);

        double t0 = now_ms();
        if (kill((pid_t)atol(pid_s), SIGKILL) < 0)
            die("cannot kill %s: %s", pid_s, strerror(errno));
        last_kill[sh] = t0;

        char value[32];
        snprintf(value, sizeof(value), "run-%d", run);
        double t1 = 0;
        while (!t1) {
            if (is(cmd(proxy_port, true, "SET %s %s", key, value), "OK"))
                t1 = now_ms();
            else if (now_ms() - t0 > 60000)
                die("no write through the proxy within 60 s of the kill");
            else
                sleep_us(1000);
        }

        /* the quorum's +switch-master (tq) */
        char new_master[96] = "";
        double tq = 0;
        pthread_mutex_lock(&mu);
        while (!tq) {
            for (int i = 0; i < nsentinels && !tq; i++) {
                const char *r = reports[sh][i];
                if (!r[0] || !strcmp(r, old))
                    continue;
                int votes = 0;
                double last = 0;
                for (int j = 0; j < nsentinels; j++)
                    if (!strcmp(r, reports[sh][j])) {
                        votes++;
                        if (report_at[sh][j] > last)
                            last = report_at[sh][j];
                    }
                if (votes >= quorum) {
                    tq = last;
                    snprintf(new_master, sizeof(new_master), "%s", r);
                }
            }
            if (tq)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 15;
            if (pthread_cond_timedwait(&cond, &mu, &ts) == ETIMEDOUT)
                break; /* no failover: the old master came back first (a reconcile restarted it) */
        }
        double tp = promoted_at[sh];
        pthread_mutex_unlock(&mu);
        kw[done] = t1 - t0;
        if (tq > 0)
            qw[nqw++] = t1 - tq;
        if (tp > 0)
            pw[npw++] = t1 - tp;
        done++;
        char ptxt[48] = "promotion not seen";
        if (tp > 0)
            snprintf(ptxt, sizeof(ptxt), "promotion->write %.1f ms", t1 - tp);
        char qtxt[48] = "no failover: the old master came back";
        if (tq > 0)
            snprintf(qtxt, sizeof(qtxt), "switch->write %.1f ms", t1 - tq);
        printf("run %2d: %s %s -> %s: kill->write %.1f ms (%s, %s)\n", run + 1, shard, old,
               tq > 0 ? new_master : old, t1 - t0, ptxt, qtxt);
        fflush(stdout);
        if (tq <= 0) {
            free(pid_s);
            free(exe);
            free(conf);
            continue;
        }

        /* the old master back as a replica of the new one (a follower may have done it) */
        double back_by = now_ms() + 3000;
        while (!is(cmd(old_port, true, "PING"), "PONG") && now_ms() < back_by)
            sleep_us(50000);
        if (!is(cmd(old_port, true, "PING"), "PONG")) {
            restart_as_replica(exe, conf, new_master);
            for (int k = 0; k < 100 && !is(cmd(old_port, true, "PING"), "PONG"); k++)
                sleep_us(50000);
        }
        free(cmd(old_port, true, "REPLICAOF %s", new_master));
        free(pid_s);
        free(exe);
        free(conf);
    }
    int n = done;
    printf("kill -> write, %d runs: p50 %.1f ms, p95 %.1f ms\n", n, pct(kw, n, 50),
           pct(kw, n, 95));
    if (npw)
        printf("promotion -> write, %d runs: p50 %.1f ms, p95 %.1f ms\n", npw, pct(pw, npw, 50),
               pct(pw, npw, 95));
    if (nqw)
        printf("switch -> write, %d runs: p50 %.1f ms, p95 %.1f ms\n", nqw, pct(qw, nqw, 50),
               pct(qw, nqw, 95));
    free(kw);
    free(pw);
    free(qw);
    return 0;
}
