/*
 * import.c - a spec from a running deployment (see import.h).
 */
#include "import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nutcracker_yml.h"
#include "rclient.h"
#include "reply.h"
#include "util.h"

/* ---------------------------------------------------------------- rendering */

static void add_addr(struct strbuf *sb, const struct import_addr *a)
{
    sb_addf(sb, "%s:%d", a->ip, a->port);
}

char *import_render(const struct import_model *m)
{
    struct strbuf sb = {0};
    sb_add(&sb, "# Written by rmgr import from a running deployment. Review it, then run\n"
                "# 'rmgr plan -f' with it: rmgr's own files (configs, pidfiles, logs under\n"
                "# base_dir) do not exist yet for instances it did not start.\n");
    sb_addf(&sb, "cluster: %s\n", m->cluster);
    sb_addf(&sb, "defaults:\n  transport: %s\n", m->all_local ? "local" : "ssh");
    if (m->password_env)
        sb_addf(&sb, "auth:\n  password_env: %s\n", m->password_env);
    sb_add(&sb, "shards:\n");
    for (size_t i = 0; i < m->nshards; i++) {
        const struct import_shard *s = &m->shards[i];
        sb_addf(&sb, "  - name: %s\n    master: ", s->name);
        add_addr(&sb, &s->master);
        sb_add(&sb, "   # Sentinel's master now\n");
        if (s->nreplicas) {
            sb_add(&sb, "    replicas: [");
            for (size_t k = 0; k < s->nreplicas; k++) {
                if (k)
                    sb_add(&sb, ", ");
                add_addr(&sb, &s->replicas[k]);
            }
            sb_add(&sb, "]\n");
        }
    }
    sb_addf(&sb, "sentinel:\n  quorum: %d\n  down_after_ms: %ld\n  failover_timeout_ms: %ld\n"
                 "  parallel_syncs: %d\n  nodes: [",
            m->quorum, m->down_after_ms, m->failover_timeout_ms, m->parallel_syncs);
    for (size_t i = 0; i < m->nsentinels; i++) {
        if (i)
            sb_add(&sb, ", ");
        add_addr(&sb, &m->sentinels[i]);
    }
    sb_add(&sb, "]\n");
    if (m->nproxies)
        sb_add(&sb, "proxies:\n");
    for (size_t i = 0; i < m->nproxies; i++) {
        const struct import_proxy *p = &m->proxies[i];
        sb_addf(&sb, "  - host: %s   # from %s\n    listen: ", p->listen.ip, p->file);
        add_addr(&sb, &p->listen);
        sb_add(&sb, "\n    stats_port: 22222   # nutcracker's -s is not in its config: check it\n");
        if (p->hash)
            sb_addf(&sb, "    hash: %s\n", p->hash);
        if (p->distribution)
            sb_addf(&sb, "    distribution: %s\n", p->distribution);
        if (p->hash_tag)
            sb_addf(&sb, "    hash_tag: \"%s\"\n", p->hash_tag);
        if (p->timeout_ms >= 0)
            sb_addf(&sb, "    timeout_ms: %ld\n", p->timeout_ms);
        if (p->server_retry_timeout_ms >= 0)
            sb_addf(&sb, "    server_retry_timeout_ms: %ld\n", p->server_retry_timeout_ms);
        if (p->server_failure_limit >= 0)
            sb_addf(&sb, "    server_failure_limit: %ld\n", p->server_failure_limit);
        if (p->auto_eject_hosts >= 0)
            sb_addf(&sb, "    auto_eject_hosts: %s\n", p->auto_eject_hosts ? "true" : "false");
        if (p->preconnect >= 0)
            sb_addf(&sb, "    preconnect: %s\n", p->preconnect ? "true" : "false");
    }
    return sb_detach(&sb);
}

/* ---------------------------------------------------------------- proxies */

/* "  key: value" -> key and value (both trimmed, quotes removed); false if not one. */
static bool split_kv(const char *line, char *key, size_t kn, char *val, size_t vn)
{
    while (*line == ' ')
        line++;
    const char *colon = strchr(line, ':');
    if (!colon || colon == line)
        return false;
    snprintf(key, kn, "%.*s", (int)(colon - line), line);
    const char *v = colon + 1;
    while (*v == ' ')
        v++;
    size_t n = strlen(v);
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0])
        v++, n -= 2;
    snprintf(val, vn, "%.*s", (int)n, v);
    return true;
}

static int parse_bool(const char *v)
{
    return !strcmp(v, "true") || !strcmp(v, "yes") ? 1 : 0;
}

int import_parse_proxy(const char *file, const char *text, struct import_proxy *p, char **err)
{
    memset(p, 0, sizeof(*p));
    p->timeout_ms = p->server_retry_timeout_ms = p->server_failure_limit = -1;
    p->auto_eject_hosts = p->preconnect = -1;
    p->file = xstrdup(file);
    struct nc_yml y = {0};
    nc_yml_parse(&y, text);
    int pools = 0;
    for (size_t i = 0; i < y.nother && pools < 2; i++) {
        const char *l = y.other[i];
        if (l[0] != ' ' && l[0] != '\t') {
            pools++; /* a pool's name at column 0; only the first is read */
            continue;
        }
        char k[64], v[256];
        if (!split_kv(l, k, sizeof(k), v, sizeof(v)))
            continue;
        if (!strcmp(k, "listen")) {
            char *c = strrchr(v, ':');
            if (c) {
                p->listen.ip = xasprintf("%.*s", (int)(c - v), v);
                p->listen.port = atoi(c + 1);
            }
        } else if (!strcmp(k, "hash")) {
            p->hash = xstrdup(v);
        } else if (!strcmp(k, "distribution")) {
            p->distribution = xstrdup(v);
        } else if (!strcmp(k, "hash_tag")) {
            p->hash_tag = xstrdup(v);
        } else if (!strcmp(k, "timeout")) {
            p->timeout_ms = atol(v);
        } else if (!strcmp(k, "server_retry_timeout")) {
            p->server_retry_timeout_ms = atol(v);
        } else if (!strcmp(k, "server_failure_limit")) {
            p->server_failure_limit = atol(v);
        } else if (!strcmp(k, "auto_eject_hosts")) {
            p->auto_eject_hosts = parse_bool(v);
        } else if (!strcmp(k, "preconnect")) {
            p->preconnect = parse_bool(v);
        } /* redis_auth holds the password: never copied into a spec */
    }
    nc_yml_release(&y);
    if (!p->listen.ip || p->listen.port <= 0) {
        *err = xasprintf("%s: no 'listen: IP:PORT' in its first pool", file);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- gathering */

static int cmp_addr(const void *a, const void *b)
{
    const struct import_addr *x = a, *y = b;
    int c = strcmp(x->ip, y->ip);
    return c ? c : (x->port > y->port) - (x->port < y->port);
}

static int cmp_shard(const void *a, const void *b)
{
    return strcmp(((const struct import_shard *)a)->name, ((const struct import_shard *)b)->name);
}

static bool addr_known(const struct import_addr *v, size_t n, const char *ip, int port)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].ip, ip) && v[i].port == port)
            return true;
    return false;
}

static redisReply *ask(redisContext *c, const char *sub, const char *name)
{
    return rclient_command(c, NULL, "SENTINEL", sub, name, NULL);
}

int import_gather(const char *ip, int port, long timeout_ms, const char *password,
                  struct import_model *m, char **err)
{
    struct rclient_opts ro = {timeout_ms, timeout_ms};
    struct rclient_err e;
    redisContext *c = rclient_connect(ip, port, &ro, password, &e);
    if (!c) {
        *err = rclient_connect_message(&e, ip, port);
        return -1;
    }
    redisReply *masters = rclient_command(c, NULL, "SENTINEL", "MASTERS", NULL);
    if (!masters || masters->type != REDIS_REPLY_ARRAY) {
        *err = xasprintf("%s:%d: SENTINEL MASTERS: %s", ip, port,
                         masters && masters->type == REDIS_REPLY_ERROR ? masters->str
                                                                       : "not a sentinel");
        rclient_reply_free(masters);
        rclient_close(c);
        return -1;
    }
    size_t cap = 0, scap = 0;
    VEC_GROW(m->sentinels, m->nsentinels, scap);
    m->sentinels[m->nsentinels++] = (struct import_addr){xstrdup(ip), port};
    for (size_t i = 0; i < masters->elements; i++) {
        const redisReply *me = masters->element[i];
        const char *name = reply_flat_field(me, "name"), *mip = reply_flat_field(me, "ip"), *mport = reply_flat_field(me, "port");
        if (!name || !mip || !mport)
            continue;
        if (m->nshards == 0) {
            const char *q = reply_flat_field(me, "quorum"), *da = reply_flat_field(me, "down-after-milliseconds");
            const char *ft = reply_flat_field(me, "failover-timeout"), *ps = reply_flat_field(me, "parallel-syncs");
            m->quorum = q ? atoi(q) : 2;
            m->down_after_ms = da ? atol(da) : 30000;
            m->failover_timeout_ms = ft ? atol(ft) : 180000;
            m->parallel_syncs = ps ? atoi(ps) : 1;
        }
        VEC_GROW(m->shards, m->nshards, cap);
        struct import_shard *s = &m->shards[m->nshards++];
        *s = (struct import_shard){xstrdup(name), {xstrdup(mip), atoi(mport)}, NULL, 0};
        redisReply *reps = ask(c, "REPLICAS", name);
        size_t rcap = 0;
        for (size_t k = 0; reps && reps->type == REDIS_REPLY_ARRAY && k < reps->elements; k++) {
            const char *rip = reply_flat_field(reps->element[k], "ip"), *rport = reply_flat_field(reps->element[k], "port");
            if (!rip || !rport)
                continue;
            VEC_GROW(s->replicas, s->nreplicas, rcap);
            s->replicas[s->nreplicas++] = (struct import_addr){xstrdup(rip), atoi(rport)};
        }
        rclient_reply_free(reps);
        if (s->nreplicas)
            qsort(s->replicas, s->nreplicas, sizeof(*s->replicas), cmp_addr);
        redisReply *sens = ask(c, "SENTINELS", name);
        for (size_t k = 0; sens && sens->type == REDIS_REPLY_ARRAY && k < sens->elements; k++) {
            const char *sip = reply_flat_field(sens->element[k], "ip"), *sport = reply_flat_field(sens->element[k], "port");
            if (!sip || !sport || addr_known(m->sentinels, m->nsentinels, sip, atoi(sport)))
                continue;
            VEC_GROW(m->sentinels, m->nsentinels, scap);
            m->sentinels[m->nsentinels++] = (struct import_addr){xstrdup(sip), atoi(sport)};
        }
        rclient_reply_free(sens);
    }
    rclient_reply_free(masters);
    rclient_close(c);
    if (m->nshards)
        qsort(m->shards, m->nshards, sizeof(*m->shards), cmp_shard);
    if (m->nsentinels > 1)
        qsort(m->sentinels + 1, m->nsentinels - 1, sizeof(*m->sentinels), cmp_addr);
    if (!m->nshards) {
        *err = xasprintf("%s:%d monitors no master", ip, port);
        return -1;
    }
    return 0;
}

static void addr_release(struct import_addr *a)
{
    free(a->ip);
}

void import_model_release(struct import_model *m)
{
    for (size_t i = 0; i < m->nshards; i++) {
        free(m->shards[i].name);
        addr_release(&m->shards[i].master);
        for (size_t k = 0; k < m->shards[i].nreplicas; k++)
            addr_release(&m->shards[i].replicas[k]);
        free(m->shards[i].replicas);
    }
    free(m->shards);
    for (size_t i = 0; i < m->nsentinels; i++)
        addr_release(&m->sentinels[i]);
    free(m->sentinels);
    for (size_t i = 0; i < m->nproxies; i++) {
        struct import_proxy *p = &m->proxies[i];
        free(p->file);
        addr_release(&p->listen);
        free(p->hash);
        free(p->distribution);
        free(p->hash_tag);
    }
    free(m->proxies);
    free(m->cluster);
    free(m->password_env);
    memset(m, 0, sizeof(*m));
}
