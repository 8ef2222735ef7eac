/*
 * failover_bench.h - what the failover benches (failover_repoint.c,
 * failover_kill.c) share: the cluster they are told about, one-shot
 * commands, the shard's master as Sentinel names it. Each bench is one .c
 * file that defines BENCH_NAME and includes this once.
 *
 * Sentinels get the password too: rmgr gives them the cluster's (sentinel
 * auth), and one that has none answers "no password configured", which
 * counts as success.
 */
#ifndef RMGR_FAILOVER_BENCH_H
#define RMGR_FAILOVER_BENCH_H

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SENTINELS 16
#define MAX_SHARDS 8
#define IP "127.0.0.1"

static const char *shards[MAX_SHARDS];
static int nshards;
static const char *password;
static int proxy_port, quorum, nsentinels, sentinel_port[MAX_SENTINELS];

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(BENCH_NAME ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* A connection to port, AUTHed with the password when `auth`; NULL when that fails. */
static redisContext *connect_to(int port, bool auth)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout(IP, port, tv);
    if (!c || c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (auth && password) {
        redisReply *r = redisCommand(c, "AUTH %s", password);
        bool ok = r && (r->type == REDIS_REPLY_STATUS ||
                        (r->type == REDIS_REPLY_ERROR && strstr(r->str, "no password")));
        freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

static int shard_of(const char *name)
{
    for (int k = 0; k < nshards; k++)
        if (!strcmp(name, shards[k]))
            return k;
    return -1;
}

/* The shard's master as the first sentinel that answers names it: "ip port", and its port. */
static bool current_master(const char *shard, char *out, size_t n, int *port)
{
    for (int i = 0; i < nsentinels; i++) {
        redisContext *c = connect_to(sentinel_port[i], true);
        if (!c)
            continue;
        redisReply *r = redisCommand(c, "SENTINEL GET-MASTER-ADDR-BY-NAME %s", shard);
        bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2;
        if (ok) {
            snprintf(out, n, "%s %s", r->element[0]->str, r->element[1]->str);
            *port = atoi(r->element[1]->str);
        }
        freeReplyObject(r);
        redisFree(c);
        if (ok)
            return true;
    }
    return false;
}

/* One command on a fresh connection; the reply's text ("-ERR ..." for an error), or NULL. */
static char *cmd(int port, bool auth, const char *fmt, ...)
{
    redisContext *c = connect_to(port, auth);
    if (!c)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    char *out = NULL;
    if (r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING))
        out = strdup(r->str);
    else if (r && r->type == REDIS_REPLY_INTEGER && asprintf(&out, "%lld", r->integer) < 0)
        out = NULL;
    else if (r && r->type == REDIS_REPLY_ERROR && asprintf(&out, "-%s", r->str) < 0)
        out = NULL;
    freeReplyObject(r);
    redisFree(c);
    return out;
}

/* Whether s (freed) is want. */
static bool is(char *s, const char *want)
{
    bool eq = s && !strcmp(s, want);
    free(s);
    return eq;
}

/* A key the proxy sends to the shard whose master listens on master_port. */
static char *find_key(int master_port)
{
    static char key[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "bench:%d", i);
        if (!is(cmd(proxy_port, true, "SET %s probe", key), "OK"))
            continue;
        if (is(cmd(master_port, true, "EXISTS %s", key), "1"))
            return key;
    }
    return NULL;
}

#endif
