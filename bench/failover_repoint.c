/*
 * failover_repoint.c - how long after a failover does the proxy serve the
 * new master? The client's view of `rmgr reconcile --watch`.
 *
 *   failover_repoint --shard NAME [--shard NAME]... --proxy PORT --sentinel PORT...
 *                    --quorum N [--password-env VAR] [--runs N]
 *
 * It subscribes to +switch-master on every sentinel itself. Per run: SENTINEL
 * FAILOVER on one sentinel, wait until a quorum of sentinels announced the
 * same new master (t0: when the quorum-th announcement arrived), then SET a
 * key of that shard through the proxy every 100 us on a fresh connection
 * until one succeeds AND the value is on the new master (t1; a SET that
 * reached the old master does not count). Prints t1 - t0 per run, then
 * min/p50/p90/max. Shards take turns; after a run the old master is made a
 * replica of the new one (REPLICAOF), and the next failover of that shard is
 * retried until Sentinel has a good replica to promote.
 *
 * Everything on 127.0.0.1. Exit 0 when every run completed.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "failover_repoint"
#include "bench_time.h"
#include "failover_bench.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
/* per shard and sentinel: the latest announced master "ip port", and when it arrived */
static char reports[MAX_SHARDS][MAX_SENTINELS][96];
static double report_at[MAX_SHARDS][MAX_SENTINELS];
static int subscribed;


/* One subscription per sentinel: record each +switch-master for our shard. */
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
        redisReply *r = redisCommand(c, "SUBSCRIBE +switch-master");
        freeReplyObject(r);
        pthread_mutex_lock(&mu);
        subscribed++;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&mu);
        void *reply;
        while (redisGetReply(c, &reply) == REDIS_OK) {
            double at = now_ms();
            redisReply *m = reply;
            if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
                m->element[2]->type == REDIS_REPLY_STRING) {
                char name[128], oip[64], nip[64];
                int op, np;
                int sh = sscanf(m->element[2]->str, "%127s %63s %d %63s %d", name, oip, &op,
                                nip, &np) == 5
                             ? shard_of(name)
                             : -1;
                if (sh >= 0) {
                    pthread_mutex_lock(&mu);
                    snprintf(reports[sh][i], sizeof(reports[sh][i]), "%s %d", nip, np);
                    report_at[sh][i] = at;
                    pthread_cond_broadcast(&cond);
                    pthread_mutex_unlock(&mu);
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double p)
{
    int i = (int)(p * (n - 1) + 0.5);
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

int main(int argc, char **argv)
{
    int runs = 20;
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
        else if (!strcmp(a, "--password-env"))
            password = getenv(v);
        else if (!strcmp(a, "--sentinel") && nsentinels < MAX_SENTINELS)
            sentinel_port[nsentinels++] = atoi(v);
        else
            die("unknown option '%s'", a);
        i++;
    }
    if (!nshards || !proxy_port || !nsentinels || quorum < 1 || runs < 1)
        die("usage: failover_repoint --shard NAME... --proxy PORT --sentinel PORT... --quorum N "
            "[--password-env VAR] [--runs N]");

    pthread_t tid;
    for (int i = 0; i < nsentinels; i++)
        if (pthread_create(&tid, NULL, subscriber, (void *)(long)i) != 0)
            die("cannot start a thread");
    pthread_mutex_lock(&mu);
    while (subscribed < nsentinels)
        pthread_cond_wait(&cond, &mu);
    pthread_mutex_unlock(&mu);

    double *took = calloc((size_t)runs, sizeof(double));
    int done = 0;
    for (int run = 0; run < runs; run++) {
        /* shards in turn: Sentinel needs ~10 s to trust a demoted master as a replica */
        int sh = run % nshards;
        const char *shard = shards[sh];
        char old[64];
        int old_port;
        if (!current_master(shard, old, sizeof(old), &old_port))
            die("no sentinel knows shard '%s'", shard);
        char *key = find_key(old_port);
        if (!key)
            die("no key maps to shard '%s' through the proxy", shard);
        pthread_mutex_lock(&mu);
        memset(reports[sh], 0, sizeof(reports[sh]));
        pthread_mutex_unlock(&mu);

        /* SENTINEL FAILOVER; -INPROG / -NOGOODSLAVE just mean "not yet" */
        double give_up = now_ms() + 60000;
        for (;;) {
            char *r = cmd(sentinel_port[run % nsentinels], true, "SENTINEL FAILOVER %s", shard);
            bool ok = r && !strcmp(r, "OK");
            free(r);
            if (ok)
                break;
            if (now_ms() > give_up)
                die("SENTINEL FAILOVER was refused for 60 s");
            sleep_us(200000);
        }

        /* t0: the quorum-th sentinel announced the same new master */
        char new_master[sizeof(reports[0][0])] = "";
        double t0 = 0;
        pthread_mutex_lock(&mu);
        for (;;) {
            for (int i = 0; i < nsentinels && !t0; i++) {
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
                    t0 = last;
                    memcpy(new_master, r, sizeof(reports[sh][i]));
                }
            }
            if (t0)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 30;
            if (pthread_cond_timedwait(&cond, &mu, &ts) == ETIMEDOUT)
                die("no quorum of +switch-master within 30 s");
        }
        pthread_mutex_unlock(&mu);
        int new_port = atoi(strchr(new_master, ' ') + 1);

        /* t1: a SET through the proxy that landed on the new master */
        char value[32];
        snprintf(value, sizeof(value), "run-%d", run);
        double t1 = 0;
        while (!t1) {
            if (is(cmd(proxy_port, true, "SET %s %s", key, value), "OK") &&
                is(cmd(new_port, true, "GET %s", key), value))
                t1 = now_ms();
            else if (now_ms() - t0 > 30000)
                die("the proxy did not serve the new master within 30 s");
            else
                sleep_us(100);
        }
        took[done++] = t1 - t0;
        printf("run %2d: %s %s -> %s: %.2f ms\n", run + 1, shard, old, new_master, t1 - t0);
        fflush(stdout);

        /*
         * Let the old master rejoin as a replica now (Sentinel would demote it
         * after ~10 s). Sentinel trusts it for the next failover of this
         * shard only after its next INFO (10 s period): the other shards go
         * first, and SENTINEL FAILOVER is retried on -NOGOODSLAVE.
         */
        free(cmd(old_port, true, "REPLICAOF %s", new_master));
    }
    qsort(took, (size_t)done, sizeof(double), cmp_double);
    printf("failover -> proxy serving the new master, %d runs: min %.2f ms, p50 %.2f ms, "
           "p90 %.2f ms, max %.2f ms\n",
           done, took[0], pct(took, done, 0.5), pct(took, done, 0.9), took[done - 1]);
    free(took);
    return 0;
}
