/*
 * cluster_fixture.h - a real 2-shard cluster for observe/plan/status tests:
 * per shard a master and a linked replica, 3 sentinels monitoring both
 * shards (quorum 2), 1 nutcracker pointing at the masters, all on harness
 * ports, and the YAML spec that describes them.
 *
 * Header-only (static inline) so test_observe.c and test_plan_cli.c share
 * it without another object in the harness link line.
 */
#ifndef RMGR_CLUSTER_FIXTURE_H
#define RMGR_CLUSTER_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "util.h"

#define FX_SHARDS 2
#define FX_SENTINELS 3

struct fx_cluster {
    struct harness *h;
    const char *password; /* NULL: no auth */
    struct hproc *master[FX_SHARDS], *replica[FX_SHARDS];
    struct hproc *sentinel[FX_SENTINELS];
    struct hproc *proxy;
    char *base_dir; /* spec base_dir, inside the harness dir */
};

/* Start every process; false (and a message) when one did not start. */
static inline bool fx_start(struct fx_cluster *c, struct harness *h, const char *password)
{
    memset(c, 0, sizeof(*c));
    c->h = h;
    c->password = password;
    c->base_dir = xasprintf("%s/base", harness_dir(h));
    char *auth = password ? xasprintf("requirepass %s\nmasterauth %s\n", password, password)
                          : xstrdup("");
    for (int i = 0; i < FX_SHARDS; i++) {
        c->master[i] = harness_start_redis(h, 0, auth);
        if (!c->master[i])
            goto fail;
        char *conf = xasprintf("%sreplicaof 127.0.0.1 %d\n", auth, hproc_port(c->master[i]));
        c->replica[i] = harness_start_redis(h, 0, conf);
        free(conf);
        if (!c->replica[i])
            goto fail;
    }
    struct strbuf mon = {0};
    /* as rmgr renders sentinel.conf with auth: (conf_render_sentinel) */
    if (password)
        sb_addf(&mon, "requirepass %s\nsentinel sentinel-pass %s\n", password, password);
    for (int i = 0; i < FX_SHARDS; i++) {
        sb_addf(&mon, "sentinel monitor shard%d 127.0.0.1 %d 2\n", i + 1,
                hproc_port(c->master[i]));
        sb_addf(&mon, "sentinel down-after-milliseconds shard%d 5000\n", i + 1);
        sb_addf(&mon, "sentinel failover-timeout shard%d 60000\n", i + 1); /* spec default */
        if (password)
            sb_addf(&mon, "sentinel auth-pass shard%d %s\n", i + 1, password);
    }
    for (int i = 0; i < FX_SENTINELS; i++) {
        c->sentinel[i] = harness_start_sentinel(h, 0, sb_str(&mon));
        if (!c->sentinel[i]) {
            sb_release(&mon);
            goto fail;
        }
    }
    sb_release(&mon);
    struct strbuf pool = {0};
    sb_add(&pool, "  redis: true\n  hash: fnv1a_64\n  distribution: ketama\n  timeout: 400\n");
    if (password)
        sb_addf(&pool, "  redis_auth: \"%s\"\n", password);
    sb_add(&pool, "  servers:\n");
    for (int i = 0; i < FX_SHARDS; i++)
        sb_addf(&pool, "   - 127.0.0.1:%d:1 shard%d\n", hproc_port(c->master[i]), i + 1);
    c->proxy = harness_start_nutcracker(h, 0, 0, sb_str(&pool));
    sb_release(&pool);
    free(auth);
    return c->proxy != NULL;
fail:
    free(auth);
    return false;
}

static inline void fx_release(struct fx_cluster *c)
{
    free(c->base_dir);
    c->base_dir = NULL;
}

/*
 * The spec for the cluster. `extra_shards` (may be NULL) is appended to the
 * shards: list as YAML items; `password_env` names the auth variable.
 * Caller frees.
 */
static inline char *fx_spec_yaml(const struct fx_cluster *c, const char *cluster,
                                 const char *password_env, const char *extra_shards)
{
    struct strbuf sb = {0};
    sb_addf(&sb,
            "cluster: %s\n"
            "defaults:\n"
            "  transport: local\n"
            "  base_dir: %s\n",
            cluster, c->base_dir);
    if (password_env)
        sb_addf(&sb, "auth:\n  password_env: %s\n", password_env);
    /* the harness runs every redis with repl-diskless-sync-delay 0: the spec says so */
    sb_add(&sb, "redis:\n  config:\n    maxmemory: 64mb\n    appendonly: \"no\"\n"
                "    repl-diskless-sync-delay: 0\n");
    sb_add(&sb, "shards:\n");
    for (int i = 0; i < FX_SHARDS; i++)
        sb_addf(&sb, "  - name: shard%d\n    master: 127.0.0.1:%d\n    replicas: [127.0.0.1:%d]\n",
                i + 1, hproc_port(c->master[i]), hproc_port(c->replica[i]));
    if (extra_shards)
        sb_add(&sb, extra_shards);
    sb_add(&sb, "sentinel:\n  quorum: 2\n  down_after_ms: 5000\n  nodes: [");
    for (int i = 0; i < FX_SENTINELS; i++)
        sb_addf(&sb, "%s127.0.0.1:%d", i ? ", " : "", hproc_port(c->sentinel[i]));
    sb_add(&sb, "]\n");
    sb_addf(&sb,
            "proxies:\n"
            "  - host: 127.0.0.1\n"
            "    listen: 127.0.0.1:%d\n"
            "    stats_port: %d\n"
            "    timeout_ms: 400\n",
            hproc_port(c->proxy), hproc_stats_port(c->proxy));
    return sb_detach(&sb);
}

/* Write `text` to <harness dir>/<name>; returns the path (caller frees) or NULL. */
static inline char *fx_write(const struct fx_cluster *c, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", harness_dir(c->h), name);
    if (write_file_atomic(path, text, strlen(text), 0644) < 0) {
        fprintf(stderr, "cannot write '%s'\n", path);
        free(path);
        return NULL;
    }
    return path;
}

static inline bool fx_reply_has(int port, const char *password, const char *needle,
                                const char *fmt, const char *arg)
{
    char *r = harness_redis_cmd(HARNESS_IP, port, password, fmt, arg);
    bool ok = r && strstr(r, needle);
    free(r);
    return ok;
}

/* Replicas linked, every sentinel sees the 2 others and the replica of each shard. */
static inline bool fx_converged(void *arg)
{
    const struct fx_cluster *c = arg;
    for (int i = 0; i < FX_SHARDS; i++)
        if (!fx_reply_has(hproc_port(c->replica[i]), c->password, "master_link_status:up",
                          "INFO %s", "replication"))
            return false;
    for (int s = 0; s < FX_SENTINELS; s++)
        for (int i = 0; i < FX_SHARDS; i++) {
            char name[16];
            snprintf(name, sizeof(name), "shard%d", i + 1);
            char *r = harness_redis_cmd(HARNESS_IP, hproc_port(c->sentinel[s]), c->password,
                                        "SENTINEL MASTER %s", name);
            bool ok = r && strstr(r, "\nnum-other-sentinels\n2\n") &&
                      strstr(r, "\nnum-slaves\n1\n");
            free(r);
            if (!ok)
                return false;
        }
    return true;
}

static inline bool fx_wait_converged(struct fx_cluster *c, long timeout_ms)
{
    return harness_wait_until(fx_converged, c, timeout_ms, 100);
}

#endif
