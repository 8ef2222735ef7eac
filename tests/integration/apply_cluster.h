/*
 * apply_cluster.h - a cluster that rmgr itself deploys, for the apply tests:
 * ports from the harness, base_dir inside the harness directory, the spec
 * written from a small struct the tests edit, and every pid rmgr started
 * tracked from its pidfile so the harness stops it at exit.
 *
 * Header-only (static inline) so test_apply_local.c and test_apply_ssh.c
 * share it without another object in the harness link line.
 */
#ifndef RMGR_APPLY_CLUSTER_H
#define RMGR_APPLY_CLUSTER_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "harness.h"
#include "redis_parse.h"
#include "util.h"

#define AC_MAX_SHARDS 4
#define AC_MAX_REPLICAS 2
#define AC_MAX_SENTINELS 3

struct ac {
    struct harness *h;
    char name[32];          /* cluster name */
    char *base;             /* base_dir */
    char *spec;             /* spec path */
    char *lock;             /* --lock-file */
    const char *password;   /* NULL: no auth; else the value of password_env */
    const char *password_env;
    char *hosts_yaml;       /* "hosts:\n  h1: ...": ssh tests; NULL: local */
    const char *host;       /* how addresses name the host: "h1" or "127.0.0.1" */
    bool ship;              /* binaries.ship */
    const char *redis_server_bin; /* binaries.redis_server; NULL: the default */

    int nshards;
    char shard[AC_MAX_SHARDS][24];
    int master[AC_MAX_SHARDS];
    int nrep[AC_MAX_SHARDS];
    int replica[AC_MAX_SHARDS][AC_MAX_REPLICAS];
    int nsent;
    int sentinel[AC_MAX_SENTINELS];
    int quorum;
    long down_after_ms;
    int proxy, stats; /* 0: no proxy */
    char maxmemory[16];
    bool redis_delay;       /* leave repl-diskless-sync-delay to Redis (not in the spec) */
};

/* Fill c with free ports: nshards shards of 1 master + nrep replicas, nsent sentinels, 1 proxy. */
static inline void ac_init(struct ac *c, struct harness *h, const char *name, int nshards,
                           int nrep, int nsent)
{
    memset(c, 0, sizeof(*c));
    c->h = h;
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->base = xasprintf("%s/base-%s", harness_dir(h), name);
    c->spec = xasprintf("%s/%s.yaml", harness_dir(h), name);
    c->lock = xasprintf("%s/%s.lock", harness_dir(h), name);
    c->host = HARNESS_IP;
    c->nshards = nshards;
    for (int i = 0; i < nshards; i++) {
        snprintf(c->shard[i], sizeof(c->shard[i]), "shard%d", i + 1);
        c->master[i] = harness_free_port();
        c->nrep[i] = nrep;
        for (int k = 0; k < nrep; k++)
            c->replica[i][k] = harness_free_port();
    }
    c->nsent = nsent;
    for (int j = 0; j < nsent; j++)
        c->sentinel[j] = harness_free_port();
    c->quorum = nsent > 1 ? 2 : 1;
    c->down_after_ms = 2000; /* FIELD-NOTES: 1000 gives spurious second failovers */
    c->proxy = harness_free_port();
    c->stats = harness_free_port();
    snprintf(c->maxmemory, sizeof(c->maxmemory), "64mb");
}

static inline void ac_release(struct ac *c)
{
    free(c->base);
    free(c->spec);
    free(c->lock);
    free(c->hosts_yaml);
}

/* Add shard i (the next one) with fresh ports. */
static inline void ac_add_shard(struct ac *c, int nrep)
{
    int i = c->nshards++;
    snprintf(c->shard[i], sizeof(c->shard[i]), "shard%d", i + 1);
    c->master[i] = harness_free_port();
    c->nrep[i] = nrep;
    for (int k = 0; k < nrep; k++)
        c->replica[i][k] = harness_free_port();
}

/* Write the spec file for c as it stands. */
static inline void ac_write_spec(const struct ac *c)
{
    struct strbuf sb = {0};
    sb_addf(&sb, "cluster: %s\n", c->name);
    if (c->hosts_yaml)
        sb_add(&sb, c->hosts_yaml);
    sb_addf(&sb, "defaults:\n  transport: %s\n  base_dir: %s\n", c->hosts_yaml ? "ssh" : "local",
            c->base);
    if (c->ship || c->redis_server_bin)
        sb_add(&sb, "  binaries:\n");
    if (c->ship)
        sb_add(&sb, "    ship: true\n");
    if (c->redis_server_bin)
        sb_addf(&sb, "    redis_server: %s\n", c->redis_server_bin);
    if (c->password_env)
        sb_addf(&sb, "auth:\n  password_env: %s\n", c->password_env);
    sb_addf(&sb,
            "redis:\n  config:\n    maxmemory: %s\n    save: \"\"\n    appendonly: \"no\"\n%s",
            c->maxmemory, c->redis_delay ? "" : "    repl-diskless-sync-delay: 0\n");
    sb_add(&sb, "shards:\n");
    for (int i = 0; i < c->nshards; i++) {
        sb_addf(&sb, "  - name: %s\n    master: %s:%d\n", c->shard[i], c->host, c->master[i]);
        if (c->nrep[i]) {
            sb_add(&sb, "    replicas: [");
            for (int k = 0; k < c->nrep[i]; k++)
                sb_addf(&sb, "%s%s:%d", k ? ", " : "", c->host, c->replica[i][k]);
            sb_add(&sb, "]\n");
        }
    }
    sb_addf(&sb, "sentinel:\n  quorum: %d\n  down_after_ms: %ld\n  failover_timeout_ms: 60000\n"
                 "  nodes: [",
            c->quorum, c->down_after_ms);
    for (int j = 0; j < c->nsent; j++)
        sb_addf(&sb, "%s%s:%d", j ? ", " : "", c->host, c->sentinel[j]);
    sb_add(&sb, "]\n");
    if (c->proxy)
        sb_addf(&sb,
                "proxies:\n  - host: %s\n    listen: %s:%d\n    stats_port: %d\n"
                "    hash: fnv1a_64\n    distribution: ketama\n    timeout_ms: 400\n",
                c->host, HARNESS_IP, c->proxy, c->stats);
    FILE *f = fopen(c->spec, "w");
    if (f) {
        fputs(sb_str(&sb), f);
        fclose(f);
    }
    sb_release(&sb);
}

struct ac_run {
    int status;
    char *out, *err;
};

static inline void ac_run_release(struct ac_run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

static inline const char *ac_rmgr_bin(void)
{
    const char *b = getenv("RMGR_BIN");
    return b && *b ? b : "./rmgr";
}

/* Run rmgr with the arguments (NULL-terminated; at most 20). */
static inline struct ac_run ac_rmgr(const char *a1, ...)
{
    const char *argv[24] = {ac_rmgr_bin()};
    int n = 1;
    va_list ap;
    va_start(ap, a1);
    for (const char *a = a1; a && n < 22; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    struct ac_run r = {0};
    if (harness_run_ex(argv, NULL, NULL, 120000, &r.out, &r.err, &r.status) < 0)
        r.status = -1;
    if (!r.out)
        r.out = xstrdup("");
    if (!r.err)
        r.err = xstrdup("");
    return r;
}

/* Show a run's output (for a failed check). */
static inline void ac_show(const char *what, const struct ac_run *r)
{
    printf("    --- %s: exit %d\n    --- stdout:\n%s    --- stderr:\n%s", what, r->status, r->out,
           r->err);
}

/* `rmgr apply -f SPEC --auto-approve --lock-file LOCK [extra]`, shown unless it exits `want`. */
static inline struct ac_run ac_apply(const struct ac *c, int want, const char *extra)
{
    struct ac_run r = extra ? ac_rmgr("apply", "-f", c->spec, "--auto-approve", "--lock-file",
                                      c->lock, extra, NULL)
                            : ac_rmgr("apply", "-f", c->spec, "--auto-approve", "--lock-file",
                                      c->lock, NULL);
    if (r.status != want)
        ac_show("rmgr apply", &r);
    return r;
}

/* `rmgr plan -f SPEC --detailed-exitcode`'s status; the output is shown when it is not `want`. */
static inline int ac_plan_status(const struct ac *c, int want)
{
    struct ac_run r = ac_rmgr("plan", "-f", c->spec, "--detailed-exitcode", "--no-color", NULL);
    if (r.status != want)
        ac_show("rmgr plan --detailed-exitcode", &r);
    int st = r.status;
    ac_run_release(&r);
    return st;
}

static inline char *ac_pidfile(const struct ac *c, const char *kind, int port)
{
    return xasprintf("%s/%s/%s-%d/%s.pid", c->base, c->name, kind, port, kind);
}

static inline char *ac_instance_dir(const struct ac *c, const char *kind, int port)
{
    return xasprintf("%s/%s/%s-%d", c->base, c->name, kind, port);
}

/* Track the process of one instance from its pidfile; its pid or -1. */
static inline pid_t ac_track_one(const struct ac *c, const char *kind, int port)
{
    char *pf = ac_pidfile(c, kind, port);
    const char *expect = !strcmp(kind, "redis")      ? "redis-server"
                         : !strcmp(kind, "sentinel") ? "redis-sentinel"
                                                     : "nutcracker";
    pid_t pid = harness_track_pidfile(c->h, pf, expect);
    free(pf);
    return pid;
}

/* Track every instance of the spec (all must run). false when one does not. */
static inline bool ac_track(const struct ac *c)
{
    bool ok = true;
    for (int i = 0; i < c->nshards; i++) {
        ok &= ac_track_one(c, "redis", c->master[i]) > 0;
        for (int k = 0; k < c->nrep[i]; k++)
            ok &= ac_track_one(c, "redis", c->replica[i][k]) > 0;
    }
    for (int j = 0; j < c->nsent; j++)
        ok &= ac_track_one(c, "sentinel", c->sentinel[j]) > 0;
    if (c->proxy)
        ok &= ac_track_one(c, "proxy", c->proxy) > 0;
    return ok;
}

/*
 * One command (hiredis format: "GET %s") on 127.0.0.1:port, with the
 * cluster's password when `auth` (with auth: the sentinels demand it too; one without
 * a password answers on). Caller frees.
 */
#define ac_cmd(c, port, auth, ...)                                                    \
    harness_redis_cmd(HARNESS_IP, (port), (auth) ? (c)->password : NULL, __VA_ARGS__)

/* The value of `key` in a flattened name/value reply ("name\nshard1\nip\n..."). Caller frees. */
static inline char *ac_flat_get(const char *flat, const char *key)
{
    const char *p = flat;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            return NULL;
        const char *v = nl + 1;
        const char *vnl = strchr(v, '\n');
        size_t klen = (size_t)(nl - p);
        if (klen == strlen(key) && !strncmp(p, key, klen))
            return vnl ? xstrndup(v, (size_t)(vnl - v)) : xstrdup(v);
        p = vnl ? vnl + 1 : NULL;
    }
    return NULL;
}

/* INFO replication field of the redis on port. Caller frees. */
static inline char *ac_info(const struct ac *c, int port, const char *field)
{
    char *info = ac_cmd(c, port, true, "INFO replication");
    char *v = info ? redis_info_field(info, field) : NULL;
    free(info);
    return v;
}

/* Whether the redis on port is a replica of master_port with its link up. */
static inline bool ac_is_linked_replica(const struct ac *c, int port, int master_port)
{
    char *role = ac_info(c, port, "role");
    char *mp = ac_info(c, port, "master_port");
    char *link = ac_info(c, port, "master_link_status");
    char want[16];
    snprintf(want, sizeof(want), "%d", master_port);
    bool ok = str_eq(role, "slave") && str_eq(mp, want) && str_eq(link, "up");
    free(role);
    free(mp);
    free(link);
    return ok;
}

/* The master port sentinel on `sport` has for shard, or 0. */
static inline int ac_sentinel_master_port(const struct ac *c, int sport, const char *shard)
{
    char *r = ac_cmd(c, sport, true, "SENTINEL GET-MASTER-ADDR-BY-NAME %s", shard);
    int port = 0;
    const char *nl = r ? strchr(r, '\n') : NULL;
    if (nl)
        port = atoi(nl + 1);
    free(r);
    return port;
}

#endif
