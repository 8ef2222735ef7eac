/*
 * top.c - samples, rates and frames of `rmgr top` (see top.h).
 */
#include "top.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "json_out.h"
#include "parallel.h"
#include "rclient.h"
#include "redis_parse.h"

/* ---------------------------------------------------------------- parsing */

static long long info_ll(const char *text, const char *field)
{
    char *v = redis_info_field(text, field);
    long long n = v ? atoll(v) : 0;
    free(v);
    return n;
}

/* "keys=12,expires=0,avg_ttl=0" of every dbN line, summed */
static long long info_keys(const char *text)
{
    long long sum = 0;
    for (const char *p = text; (p = strstr(p, "\ndb")); p++) {
        const char *k = strstr(p, ":keys=");
        const char *nl = strchr(p + 1, '\n');
        if (k && (!nl || k < nl))
            sum += atoll(k + 6);
    }
    return sum;
}

int top_parse_info(const char *text, const char *addr, struct top_redis *r)
{
    struct obs_redis o = {0};
    char *why = NULL;
    int rc = redis_parse_info(text, &o, &why);
    free(why);
    if (rc == 0 && str_eq(o.role, "master")) {
        r->ok = true;
        r->addr = xstrdup(addr);
        r->commands = info_ll(text, "total_commands_processed");
        r->used_memory = info_ll(text, "used_memory");
        r->maxmemory = info_ll(text, "maxmemory");
        r->clients = info_ll(text, "connected_clients");
        r->hits = info_ll(text, "keyspace_hits");
        r->misses = info_ll(text, "keyspace_misses");
        r->keys = info_keys(text);
        r->master_offset = o.master_repl_offset;
        r->replicas = xcalloc(o.nreplicas ? o.nreplicas : 1, sizeof(*r->replicas));
        for (size_t i = 0; i < o.nreplicas; i++) {
            r->replicas[i].addr = xasprintf("%s:%d", o.replicas[i].ip, o.replicas[i].port);
            r->replicas[i].offset = o.replicas[i].offset;
            r->replicas[i].lag_s = -1;
        }
        r->nreplicas = o.nreplicas;
        /* lag= of the slaveN lines, in the order redis_parse_info kept them */
        for (size_t i = 0; i < r->nreplicas; i++) {
            char key[32];
            snprintf(key, sizeof(key), "slave%zu", i);
            char *line = redis_info_field(text, key);
            const char *lag = line ? strstr(line, "lag=") : NULL;
            if (lag) {
                char *ip_end = strstr(line, "ip="), *port = strstr(line, "port=");
                if (ip_end && port) {
                    char *a = xasprintf("%.*s:%d", (int)strcspn(ip_end + 3, ","), ip_end + 3,
                                        atoi(port + 5));
                    for (size_t k = 0; k < r->nreplicas; k++)
                        if (str_eq(r->replicas[k].addr, a))
                            r->replicas[k].lag_s = atol(lag + 4);
                    free(a);
                }
            }
            free(line);
        }
    } else {
        rc = -1;
    }
    obs_redis_release(&o);
    return rc;
}

static long long json_ll(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

int top_parse_proxy_stats(const char *json, const char *pool, struct top_proxy *p, char **err)
{
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    if (!root) {
        *err = xasprintf("stats are not JSON: %s", je.text);
        return -1;
    }
    json_t *po = json_object_get(root, pool);
    if (!json_is_object(po)) {
        *err = xasprintf("stats have no pool '%s'", pool);
        json_decref(root);
        return -1;
    }
    p->ok = true;
    p->timestamp_s = json_ll(root, "timestamp");
    p->forward_errors = json_ll(po, "forward_error");
    p->connections = json_ll(po, "client_connections");
    const char *k;
    json_t *v;
    json_object_foreach(po, k, v) {
        if (json_is_object(v))
            p->requests += json_ll(v, "requests");
    }
    json_decref(root);
    return 0;
}

double top_rate(long long before, long long after, long long dt_ms)
{
    if (dt_ms <= 0 || after < before)
        return -1;
    return (double)(after - before) * 1000.0 / (double)dt_ms;
}

/* ---------------------------------------------------------------- frames */

static void human_bytes(char *buf, size_t n, long long b)
{
    const char *u[] = {"B", "K", "M", "G", "T"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4)
        v /= 1024, i++;
    snprintf(buf, n, i ? "%.1f%s" : "%.0f%s", v, u[i]);
}

static const struct top_redis *prev_shard(const struct top_sample *prev, size_t i,
                                          const struct top_redis *cur)
{
    if (!prev || i >= prev->nshards || !prev->shards[i].ok || !str_eq(prev->shards[i].addr, cur->addr))
        return NULL; /* another master since: no rate across a failover */
    return &prev->shards[i];
}

/* The rates of shard i: ops/s and hit rate (percent), -1 when unknown. */
static void shard_rates(const struct top_sample *prev, const struct top_sample *cur, size_t i,
                        double *ops, double *hit)
{
    const struct top_redis *c = &cur->shards[i], *p = prev_shard(prev, i, c);
    *ops = p ? top_rate(p->commands, c->commands, cur->at_ms - prev->at_ms) : -1;
    long long h = p ? c->hits - p->hits : c->hits, m = p ? c->misses - p->misses : c->misses;
    *hit = h + m > 0 ? 100.0 * (double)h / (double)(h + m) : -1;
}

/*
 * Requests/s of proxy i. nutcracker aggregates its counters every stats
 * interval: the rate is over its own timestamps, unknown while both samples
 * show the same aggregation.
 */
static double proxy_rate(const struct top_sample *prev, const struct top_sample *cur, size_t i,
                         long long *errors)
{
    const struct top_proxy *c = &cur->proxies[i];
    const struct top_proxy *p = prev && i < prev->nproxies && prev->proxies[i].ok
                                    ? &prev->proxies[i] : NULL;
    *errors = p && c->forward_errors >= p->forward_errors ? c->forward_errors - p->forward_errors
                                                          : -1;
    if (!p || c->timestamp_s == p->timestamp_s)
        return -1;
    return top_rate(p->requests, c->requests, (c->timestamp_s - p->timestamp_s) * 1000);
}

static void fmt_rate(char *buf, size_t n, double r, const char *suffix)
{
    if (r < 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.0f%s", r, suffix);
}

void top_render_text(const struct spec *s, const struct top_sample *prev,
                     const struct top_sample *cur, struct strbuf *out)
{
    sb_addf(out, "%-12s %-21s %8s %19s %7s %9s %6s  %s\n", "SHARD", "MASTER", "OPS/S",
            "MEMORY/MAX", "CLIENTS", "KEYS", "HIT", "REPLICA LAG");
    for (size_t i = 0; i < cur->nshards && i < s->nshards; i++) {
        const struct top_redis *r = &cur->shards[i];
        if (!r->ok) {
            sb_addf(out, "%-12s %-21s (no master answers)\n", s->shards[i].name, "-");
            continue;
        }
        double ops, hit;
        shard_rates(prev, cur, i, &ops, &hit);
        char o[32], h[32], mem[24], max[24], both[48];
        fmt_rate(o, sizeof(o), ops, "");
        fmt_rate(h, sizeof(h), hit, "%");
        human_bytes(mem, sizeof(mem), r->used_memory);
        if (r->maxmemory)
            human_bytes(max, sizeof(max), r->maxmemory);
        else
            snprintf(max, sizeof(max), "none");
        snprintf(both, sizeof(both), "%s/%s", mem, max);
        sb_addf(out, "%-12s %-21s %8s %19s %7lld %9lld %6s ", s->shards[i].name, r->addr, o,
                both, r->clients, r->keys, h);
        if (!r->nreplicas)
            sb_add(out, " (no replica)");
        for (size_t k = 0; k < r->nreplicas; k++) {
            char lag[24];
            human_bytes(lag, sizeof(lag), r->master_offset > r->replicas[k].offset
                                              ? r->master_offset - r->replicas[k].offset : 0);
            sb_addf(out, " %s %s", r->replicas[k].addr, lag);
            if (r->replicas[k].lag_s >= 0)
                sb_addf(out, " %lds", r->replicas[k].lag_s);
        }
        sb_addc(out, '\n');
    }
    if (!s->nproxies)
        return;
    sb_addf(out, "%-12s %-21s %8s %19s %7s\n", "PROXY", "LISTEN", "REQ/S", "FORWARD ERRORS",
            "CONNS");
    for (size_t i = 0; i < cur->nproxies && i < s->nproxies; i++) {
        const struct top_proxy *p = &cur->proxies[i];
        char addr[64];
        snprintf(addr, sizeof(addr), "%s:%d", s->proxies[i].listen.ip, s->proxies[i].listen.port);
        if (!p->ok) {
            sb_addf(out, "%-12s %-21s (stats do not answer)\n", "proxy", addr);
            continue;
        }
        long long errors;
        char rq[32], fe[32];
        fmt_rate(rq, sizeof(rq), proxy_rate(prev, cur, i, &errors), "");
        if (errors < 0)
            snprintf(fe, sizeof(fe), "%lld", p->forward_errors);
        else
            snprintf(fe, sizeof(fe), "%lld (+%lld)", p->forward_errors, errors);
        sb_addf(out, "%-12s %-21s %8s %19s %7lld\n", "proxy", addr, rq, fe, p->connections);
    }
}

static json_t *rate_json(double r)
{
    return r < 0 ? json_null() : json_real(r);
}

char *top_render_json(const struct spec *s, const struct top_sample *prev,
                      const struct top_sample *cur)
{
    json_t *root = json_object(), *shards = json_array(), *proxies = json_array();
    json_object_set_new(root, "cluster", json_string(s->cluster));
    json_object_set_new(root, "interval_ms",
                        prev ? json_integer(cur->at_ms - prev->at_ms) : json_null());
    for (size_t i = 0; i < cur->nshards && i < s->nshards; i++) {
        const struct top_redis *r = &cur->shards[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(s->shards[i].name));
        json_object_set_new(o, "master", json_str_or_null(r->addr));
        if (r->ok) {
            double ops, hit;
            shard_rates(prev, cur, i, &ops, &hit);
            json_object_set_new(o, "ops_per_sec", rate_json(ops));
            json_object_set_new(o, "used_memory", json_integer(r->used_memory));
            json_object_set_new(o, "maxmemory", json_integer(r->maxmemory));
            json_object_set_new(o, "clients", json_integer(r->clients));
            json_object_set_new(o, "keys", json_integer(r->keys));
            json_object_set_new(o, "hit_rate", hit < 0 ? json_null() : json_real(hit / 100.0));
            json_t *reps = json_array();
            for (size_t k = 0; k < r->nreplicas; k++) {
                json_t *x = json_object();
                json_object_set_new(x, "address", json_string(r->replicas[k].addr));
                json_object_set_new(x, "lag_bytes",
                                    json_integer(r->master_offset > r->replicas[k].offset
                                                     ? r->master_offset - r->replicas[k].offset
                                                     : 0));
                json_object_set_new(x, "lag_seconds", r->replicas[k].lag_s >= 0
                                                          ? json_integer(r->replicas[k].lag_s)
                                                          : json_null());
                json_array_append_new(reps, x);
            }
            json_object_set_new(o, "replicas", reps);
        }
        json_array_append_new(shards, o);
    }
    for (size_t i = 0; i < cur->nproxies && i < s->nproxies; i++) {
        const struct top_proxy *p = &cur->proxies[i];
        json_t *o = json_object();
        json_object_set_new(o, "listen", json_sprintf("%s:%d", s->proxies[i].listen.ip,
                                                      s->proxies[i].listen.port));
        json_object_set_new(o, "up", json_boolean(p->ok));
        if (p->ok) {
            long long errors;
            json_object_set_new(o, "requests_per_sec", rate_json(proxy_rate(prev, cur, i, &errors)));
            json_object_set_new(o, "forward_errors", json_integer(p->forward_errors));
            json_object_set_new(o, "connections", json_integer(p->connections));
        }
        json_array_append_new(proxies, o);
    }
    json_object_set_new(root, "shards", shards);
    json_object_set_new(root, "proxies", proxies);
    return json_out_doc(root);
}

/* ---------------------------------------------------------------- sampling */

struct member_job {
    const struct spec_addr *a;
    const char *password;
    struct rclient_opts ro;
    char *info; /* INFO text, or NULL */
};

static void *sample_member(void *arg)
{
    struct member_job *j = arg;
    struct rclient_err e;
    redisContext *c = rclient_connect(j->a->ip, j->a->port, &j->ro, j->password, &e);
    if (!c)
        return NULL;
    redisReply *r = rclient_command(c, NULL, "INFO", "all", NULL);
    if (r && r->type == REDIS_REPLY_STRING)
        j->info = xstrdup(r->str);
    rclient_reply_free(r);
    rclient_close(c);
    return NULL;
}

struct proxy_job {
    const struct spec *s;
    const struct spec_proxy *p;
    long timeout_ms;
    struct top_proxy *out;
};

/* nutcracker's stats port sends one JSON document and closes. */
static char *read_stats(const char *ip, int port, long timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct strbuf sb = {0};
    bool ok = inet_pton(AF_INET, ip, &sa.sin_addr) == 1 &&
              connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    char buf[8192];
    ssize_t n;
    while (ok && (n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0 || sb.len > (1 << 20)) {
            ok = false;
            break;
        }
        sb_addn(&sb, buf, (size_t)n);
    }
    close(fd);
    if (!ok) {
        sb_release(&sb);
        return NULL;
    }
    return sb_detach(&sb);
}

static void *sample_proxy(void *arg)
{
    struct proxy_job *j = arg;
    char *json = read_stats(j->p->host_ip, j->p->stats_port, j->timeout_ms);
    char *err = NULL;
    if (json && top_parse_proxy_stats(json, j->s->cluster, j->out, &err) < 0)
        j->out->ok = false;
    free(err);
    free(json);
    return NULL;
}

void top_sample(const struct spec *s, const char *password, long connect_timeout_ms,
                long command_timeout_ms, struct top_sample *out)
{
    memset(out, 0, sizeof(*out));
    size_t nm = 0;
    for (size_t i = 0; i < s->nshards; i++)
        nm += 1 + s->shards[i].nreplicas;
    struct member_job *mj = xcalloc(nm ? nm : 1, sizeof(*mj));
    size_t k = 0;
    for (size_t i = 0; i < s->nshards; i++)
        for (size_t r = 0; r <= s->shards[i].nreplicas; r++)
            mj[k++] = (struct member_job){
                r == 0 ? &s->shards[i].master : &s->shards[i].replicas[r - 1], password,
                {connect_timeout_ms, command_timeout_ms}, NULL};
    out->nproxies = s->nproxies;
    out->proxies = xcalloc(s->nproxies ? s->nproxies : 1, sizeof(*out->proxies));
    struct proxy_job *pj = xcalloc(s->nproxies ? s->nproxies : 1, sizeof(*pj));
    for (size_t i = 0; i < s->nproxies; i++)
        pj[i] = (struct proxy_job){s, &s->proxies[i], command_timeout_ms, &out->proxies[i]};
    parallel_each(mj, nm, sizeof(*mj), sample_member);
    parallel_each(pj, s->nproxies, sizeof(*pj), sample_proxy);
    out->at_ms = now_ms();
    out->nshards = s->nshards;
    out->shards = xcalloc(s->nshards ? s->nshards : 1, sizeof(*out->shards));
    k = 0;
    for (size_t i = 0; i < s->nshards; i++)
        for (size_t r = 0; r <= s->shards[i].nreplicas; r++, k++) {
            if (!mj[k].info || out->shards[i].ok)
                continue;
            char *addr = xasprintf("%s:%d", mj[k].a->ip, mj[k].a->port);
            struct top_redis t = {0};
            if (top_parse_info(mj[k].info, addr, &t) == 0)
                out->shards[i] = t;
            free(addr);
        }
    for (k = 0; k < nm; k++)
        free(mj[k].info);
    free(mj);
    free(pj);
}

void top_sample_release(struct top_sample *t)
{
    for (size_t i = 0; i < t->nshards; i++) {
        free(t->shards[i].addr);
        for (size_t k = 0; k < t->shards[i].nreplicas; k++)
            free(t->shards[i].replicas[k].addr);
        free(t->shards[i].replicas);
    }
    free(t->shards);
    free(t->proxies);
    memset(t, 0, sizeof(*t));
}
