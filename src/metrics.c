/*
 * metrics.c - cluster records, the ring of observations and the registry
 * the reconcile loop hands them to (see metrics.h).
 */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

#include "observed.h"
#include "plan.h"
#include "redact.h"
#include "render.h"
#include "spec.h"
#include "top.h"

static const double bucket_bounds[METRICS_NBUCKETS] = {METRICS_OBSERVE_BUCKETS};

double metrics_bucket_bound(size_t i)
{
    ASSERT(i < METRICS_NBUCKETS);
    return bucket_bounds[i];
}

/* ---------------------------------------------------------------- records */

static char *addr_of(const char *ip, int port)
{
    return xasprintf("%s:%d", ip ? ip : "?", port);
}

/* The member of shard i that reports role:master, or NULL. */
static const struct obs_redis *shard_master(const struct spec *s, const struct observed *o,
                                            size_t i)
{
    const struct spec_shard *sh = &s->shards[i];
    for (size_t k = 0; k <= sh->nreplicas; k++) {
        const struct spec_addr *a = k == 0 ? &sh->master : &sh->replicas[k - 1];
        const struct obs_redis *r = o ? observed_redis(o, a->ip, a->port) : NULL;
        if (r && r->reach == REACH_OK && str_eq(r->role, "master"))
            return r;
    }
    return NULL;
}

static const struct top_replica *top_replica_of(const struct top_sample *t, size_t shard,
                                                const char *addr)
{
    if (!t || shard >= t->nshards || !t->shards[shard].ok)
        return NULL;
    for (size_t k = 0; k < t->shards[shard].nreplicas; k++)
        if (str_eq(t->shards[shard].replicas[k].addr, addr))
            return &t->shards[shard].replicas[k];
    return NULL;
}

static long count_acting(const struct plan *p)
{
    long n = 0;
    for (size_t i = 0; i < p->nsteps; i++)
        if (step_acts(&p->steps[i]))
            n++;
    return n;
}

void metrics_record_build(const struct spec *s, const struct observed *o, const struct plan *p,
                          const struct top_sample *t, struct metrics_cluster *out)
{
    out->name = xstrdup(s->cluster);
    out->drift_steps = p ? count_acting(p) : -1;
    out->drift_summary = p ? render_plan_summary(p) : NULL;

    size_t nr = 0;
    for (size_t i = 0; i < s->nshards; i++)
        nr += 1 + s->shards[i].nreplicas;
    out->redis = xcalloc(nr ? nr : 1, sizeof(*out->redis));
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_shard *sh = &s->shards[i];
        const struct obs_redis *m = shard_master(s, o, i);
        const struct top_redis *tm =
            t && i < t->nshards && t->shards[i].ok ? &t->shards[i] : NULL;
        for (size_t k = 0; k <= sh->nreplicas; k++) {
            const struct spec_addr *a = k == 0 ? &sh->master : &sh->replicas[k - 1];
            const struct obs_redis *r = o ? observed_redis(o, a->ip, a->port) : NULL;
            struct metrics_instance *mi = &out->redis[out->nredis++];
            mi->shard = xstrdup(sh->name);
            mi->addr = addr_of(a->ip, a->port);
            mi->up = r && r->reach == REACH_OK;
            bool master = mi->up ? str_eq(r->role, "master") : (m ? false : k == 0);
            mi->role = xstrdup(master ? "master" : "replica");
            mi->lag_bytes = -1;
            mi->lag_s = -1;
            mi->ops_per_sec = -1;
            mi->used_memory = -1;
            mi->clients = -1;
            if (!master && mi->up) {
                mi->link = xstrdup(r->master_link_status ? r->master_link_status : "down");
                if (m && r->slave_repl_offset >= 0 && m->master_repl_offset >= r->slave_repl_offset)
                    mi->lag_bytes = m->master_repl_offset - r->slave_repl_offset;
                const struct top_replica *tr = top_replica_of(t, i, mi->addr);
                if (tr)
                    mi->lag_s = tr->lag_s;
            }
            if (master && tm && str_eq(tm->addr, mi->addr)) {
                mi->used_memory = tm->used_memory;
                mi->maxmemory = tm->maxmemory;
                mi->clients = tm->clients;
            }
        }
    }

    out->sentinels = xcalloc(s->sentinel.nnodes ? s->sentinel.nnodes : 1,
                             sizeof(*out->sentinels));
    for (size_t i = 0; i < s->sentinel.nnodes; i++) {
        const struct spec_addr *a = &s->sentinel.nodes[i];
        const struct obs_sentinel *os = o ? observed_sentinel(o, a->ip, a->port) : NULL;
        struct metrics_sentinel *ms = &out->sentinels[out->nsentinels++];
        ms->addr = addr_of(a->ip, a->port);
        ms->up = os && os->reach == REACH_OK;
        ms->masters = ms->up ? os->nmasters : 0;
    }

    out->proxies = xcalloc(s->nproxies ? s->nproxies : 1, sizeof(*out->proxies));
    for (size_t i = 0; i < s->nproxies; i++) {
        const struct spec_proxy *sp = &s->proxies[i];
        struct metrics_proxy *mp = &out->proxies[out->nproxies++];
        mp->addr = addr_of(sp->listen.ip, sp->listen.port);
        const struct obs_proxy *op = o && i < o->nproxies ? &o->proxies[i] : NULL;
        const struct top_proxy *tp = t && i < t->nproxies ? &t->proxies[i] : NULL;
        mp->up = (op && op->reach == REACH_OK) || (tp && tp->ok);
        mp->requests = tp && tp->ok ? tp->requests : -1;
        mp->forward_errors = tp && tp->ok ? tp->forward_errors : -1;
        mp->requests_per_sec = -1;
        mp->forward_errors_per_sec = -1;
    }
}

static void instance_release(struct metrics_instance *m)
{
    free(m->shard);
    free(m->role);
    free(m->addr);
    free(m->link);
}

static void sentinel_release(struct metrics_sentinel *m)
{
    free(m->addr);
}

static void proxy_release(struct metrics_proxy *m)
{
    free(m->addr);
}

static void alert_release(struct metrics_alert *a)
{
    free(a->name);
    free(a->instance);
}

static void point_release(struct metrics_point *p)
{
    free(p->ops);
    free(p->mem);
    free(p->preq);
    free(p->perr);
}

static void ring_release(struct metrics_ring *g)
{
    strings_free(g->shards, g->nshards);
    strings_free(g->proxies, g->nproxies);
    for (size_t i = 0; g->v && i < g->n; i++)
        point_release(&g->v[(g->head + i) % g->cap]);
    free(g->v);
    memset(g, 0, sizeof(*g));
}

static void looked_release(struct metrics_cluster *c)
{
    free(c->drift_summary);
    ARRAY_FREE(c->redis, c->nredis, instance_release);
    ARRAY_FREE(c->sentinels, c->nsentinels, sentinel_release);
    ARRAY_FREE(c->proxies, c->nproxies, proxy_release);
    c->drift_summary = NULL;
    c->redis = NULL;
    c->sentinels = NULL;
    c->proxies = NULL;
    c->nredis = c->nsentinels = c->nproxies = 0;
}

static void prev_release(struct metrics_cluster *c)
{
    size_t ns = c->ring.nshards, np = c->ring.nproxies;
    free(c->prev_commands);
    strings_free(c->prev_master, ns);
    free(c->prev_preq);
    free(c->prev_perr);
    free(c->prev_pts);
    free(c->last_preq);
    free(c->last_perr);
    (void)np;
    c->prev_commands = NULL;
    c->prev_master = NULL;
    c->prev_preq = c->prev_perr = c->prev_pts = NULL;
    c->last_preq = c->last_perr = NULL;
}

void metrics_cluster_release(struct metrics_cluster *c)
{
    if (!c)
        return;
    looked_release(c);
    prev_release(c);
    ARRAY_FREE(c->alerts, c->nalerts, alert_release);
    ring_release(&c->ring);
    free(c->name);
    free(c->commit);
    free(c->status);
    memset(c, 0, sizeof(*c));
}

/* ---------------------------------------------------------------- the ring */

static bool same_names(char *const *a, size_t na, const struct metrics_cluster *f, bool shards)
{
    size_t nb = 0;
    if (shards) {
        /* the shards of fresh, in order, once each (masters and replicas share them) */
        for (size_t i = 0; i < f->nredis; i++)
            if (i == 0 || !str_eq(f->redis[i].shard, f->redis[i - 1].shard)) {
                if (nb >= na || !str_eq(a[nb], f->redis[i].shard))
                    return false;
                nb++;
            }
        return nb == na;
    }
    if (na != f->nproxies)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i], f->proxies[i].addr))
            return false;
    return true;
}

/* Set the ring's columns (and the counters kept for rates) for fresh's layout. */
static void ring_reset(struct metrics_cluster *c, const struct metrics_cluster *f)
{
    prev_release(c);
    ring_release(&c->ring);
    struct metrics_ring *g = &c->ring;
    g->shards = xcalloc(f->nredis + 1, sizeof(char *));
    for (size_t i = 0; i < f->nredis; i++)
        if (i == 0 || !str_eq(f->redis[i].shard, f->redis[i - 1].shard))
            g->shards[g->nshards++] = xstrdup(f->redis[i].shard);
    g->proxies = xcalloc(f->nproxies + 1, sizeof(char *));
    for (size_t i = 0; i < f->nproxies; i++)
        g->proxies[g->nproxies++] = xstrdup(f->proxies[i].addr);
    g->cap = METRICS_RING_CAP;
    g->v = xcalloc(g->cap, sizeof(*g->v));
    size_t ns = g->nshards + 1, np = g->nproxies + 1;
    c->prev_commands = xcalloc(ns, sizeof(long long));
    c->prev_master = xcalloc(ns, sizeof(char *));
    for (size_t i = 0; i < ns; i++)
        c->prev_commands[i] = -1;
    c->prev_preq = xcalloc(np, sizeof(long long));
    c->prev_perr = xcalloc(np, sizeof(long long));
    c->prev_pts = xcalloc(np, sizeof(long long));
    c->last_preq = xcalloc(np, sizeof(double));
    c->last_perr = xcalloc(np, sizeof(double));
    for (size_t i = 0; i < np; i++) {
        c->prev_preq[i] = c->prev_perr[i] = c->prev_pts[i] = -1;
        c->last_preq[i] = c->last_perr[i] = -1;
    }
}

static struct metrics_point *ring_push(struct metrics_ring *g, long long t_s)
{
    struct metrics_point *p;
    if (g->n < g->cap) {
        p = &g->v[(g->head + g->n) % g->cap];
        g->n++;
    } else {
        p = &g->v[g->head];
        point_release(p);
        g->head = (g->head + 1) % g->cap;
    }
    memset(p, 0, sizeof(*p));
    p->t_s = t_s;
    p->ops = xcalloc(g->nshards + 1, sizeof(double));
    p->mem = xcalloc(g->nshards + 1, sizeof(double));
    p->preq = xcalloc(g->nproxies + 1, sizeof(double));
    p->perr = xcalloc(g->nproxies + 1, sizeof(double));
    return p;
}

static double rate(long long before, long long after, double dt_s)
{
    if (before < 0 || after < before || dt_s <= 0)
        return -1;
    return (double)(after - before) / dt_s;
}

void metrics_cluster_merge(struct metrics_cluster *c, struct metrics_cluster *fresh,
                           const struct top_sample *t, long long now_s)
{
    if (!c->ring.v || !same_names(c->ring.shards, c->ring.nshards, fresh, true) ||
        !same_names(c->ring.proxies, c->ring.nproxies, fresh, false))
        ring_reset(c, fresh);
    looked_release(c);
    c->drift_steps = fresh->drift_steps;
    c->drift_summary = fresh->drift_summary;
    c->redis = fresh->redis;
    c->nredis = fresh->nredis;
    c->sentinels = fresh->sentinels;
    c->nsentinels = fresh->nsentinels;
    c->proxies = fresh->proxies;
    c->nproxies = fresh->nproxies;
    fresh->drift_summary = NULL;
    fresh->redis = NULL;
    fresh->sentinels = NULL;
    fresh->proxies = NULL;
    fresh->nredis = fresh->nsentinels = fresh->nproxies = 0;

    struct metrics_ring *g = &c->ring;
    struct metrics_point *pt = ring_push(g, now_s);
    long long at_ms = t ? t->at_ms : 0;
    double dt_s = c->prev_at_ms && at_ms ? (double)(at_ms - c->prev_at_ms) / 1000.0 : 0;
    size_t shard = 0;
    for (size_t i = 0; i < c->nredis; i++) {
        if (i > 0 && !str_eq(c->redis[i].shard, c->redis[i - 1].shard))
            shard++;
        if (shard >= g->nshards)
            break;
        struct metrics_instance *mi = &c->redis[i];
        bool first = i == 0 || !str_eq(c->redis[i].shard, c->redis[i - 1].shard);
        if (first) {
            pt->ops[shard] = -1;
            pt->mem[shard] = -1;
        }
        if (!str_eq(mi->role, "master") || !mi->up)
            continue;
        const struct top_redis *tm =
            t && shard < t->nshards && t->shards[shard].ok ? &t->shards[shard] : NULL;
        if (!tm || !str_eq(tm->addr, mi->addr))
            continue;
        if (str_eq(c->prev_master[shard], tm->addr))
            mi->ops_per_sec = rate(c->prev_commands[shard], tm->commands, dt_s);
        free(c->prev_master[shard]);
        c->prev_master[shard] = xstrdup(tm->addr);
        c->prev_commands[shard] = tm->commands;
        pt->ops[shard] = mi->ops_per_sec;
        pt->mem[shard] = (double)mi->used_memory;
    }
    for (size_t i = 0; i < g->nproxies && i < c->nproxies; i++) {
        struct metrics_proxy *mp = &c->proxies[i];
        const struct top_proxy *tp = t && i < t->nproxies && t->proxies[i].ok ? &t->proxies[i]
                                                                              : NULL;
        if (tp && tp->timestamp_s != c->prev_pts[i]) {
            /* nutcracker aggregates every stats interval: a rate per aggregation */
            double dts = c->prev_pts[i] >= 0 ? (double)(tp->timestamp_s - c->prev_pts[i]) : 0;
            c->last_preq[i] = rate(c->prev_preq[i], tp->requests, dts);
            c->last_perr[i] = rate(c->prev_perr[i], tp->forward_errors, dts);
            c->prev_preq[i] = tp->requests;
            c->prev_perr[i] = tp->forward_errors;
            c->prev_pts[i] = tp->timestamp_s;
        } else if (!tp) {
            c->last_preq[i] = c->last_perr[i] = -1;
        }
        mp->requests_per_sec = c->last_preq[i];
        mp->forward_errors_per_sec = c->last_perr[i];
        pt->preq[i] = mp->requests_per_sec;
        pt->perr[i] = mp->forward_errors_per_sec;
    }
    if (at_ms)
        c->prev_at_ms = at_ms;
}

void metrics_cluster_observe(struct metrics_cluster *c, double took_s)
{
    size_t i = 0;
    while (i < METRICS_NBUCKETS && took_s > bucket_bounds[i])
        i++;
    if (i < METRICS_NBUCKETS)
        c->observe_buckets[i]++;
    c->observe_count++;
    c->observe_sum_s += took_s;
}

void metrics_cluster_set_alerts(struct metrics_cluster *c, const struct metrics_alert *alerts,
                                size_t n)
{
    ARRAY_FREE(c->alerts, c->nalerts, alert_release);
    c->alerts = xcalloc(n + 1, sizeof(*c->alerts));
    c->nalerts = n;
    for (size_t i = 0; i < n; i++) {
        c->alerts[i] = alerts[i];
        c->alerts[i].name = xstrdup(alerts[i].name);
        c->alerts[i].instance = xstrdup(alerts[i].instance);
    }
}

/* ---------------------------------------------------------------- registry */

struct metrics_registry *metrics_registry_new(void)
{
    struct metrics_registry *r = xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void metrics_registry_free(struct metrics_registry *r)
{
    if (!r)
        return;
    ARRAY_FREE(r->v, r->n, metrics_cluster_release);
    for (size_t i = 0; i < r->nsecrets; i++)
        secret_free(r->secrets[i]);
    free(r->secrets);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void metrics_add_secret(struct metrics_registry *r, const char *secret)
{
    if (!r || !secret || !*secret)
        return;
    pthread_mutex_lock(&r->mu);
    bool have = false;
    for (size_t i = 0; i < r->nsecrets && !have; i++)
        have = str_eq(r->secrets[i], secret);
    if (!have) {
        r->secrets = xrealloc(r->secrets, (r->nsecrets + 1) * sizeof(char *));
        r->secrets[r->nsecrets++] = xstrdup(secret);
    }
    pthread_mutex_unlock(&r->mu);
}

/* The record of `name`, created when new; under r->mu. */
static struct metrics_cluster *find(struct metrics_registry *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (str_eq(r->v[i].name, name))
            return &r->v[i];
    VEC_GROW(r->v, r->n, r->cap);
    struct metrics_cluster *c = &r->v[r->n++];
    memset(c, 0, sizeof(*c));
    c->name = xstrdup(name);
    c->drift_steps = -1;
    return c;
}

void metrics_publish(struct metrics_registry *r, struct metrics_cluster *fresh,
                     const struct top_sample *t, long long now_s)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    metrics_cluster_merge(find(r, fresh->name), fresh, t, now_s);
    pthread_mutex_unlock(&r->mu);
}

void metrics_run_done(struct metrics_registry *r, const char *cluster, const char *commit,
                      const char *status, bool success, double now_s)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    struct metrics_cluster *c = find(r, cluster);
    free(c->status);
    c->status = xstrdup(status);
    free(c->commit);
    c->commit = xstrdup(commit);
    c->last_reconcile_s = now_s;
    if (success)
        c->last_success_s = now_s;
    pthread_mutex_unlock(&r->mu);
}

void metrics_observed(struct metrics_registry *r, const char *cluster, double took_s)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    metrics_cluster_observe(find(r, cluster), took_s);
    pthread_mutex_unlock(&r->mu);
}

void metrics_count_failovers(struct metrics_registry *r, const char *cluster, unsigned n)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    find(r, cluster)->failovers_total += n;
    pthread_mutex_unlock(&r->mu);
}

void metrics_count_apply_failure(struct metrics_registry *r, const char *cluster)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    find(r, cluster)->apply_failures_total++;
    pthread_mutex_unlock(&r->mu);
}

void metrics_set_alerts(struct metrics_registry *r, const char *cluster,
                        const struct metrics_alert *alerts, size_t n)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    metrics_cluster_set_alerts(find(r, cluster), alerts, n);
    pthread_mutex_unlock(&r->mu);
}

void metrics_retain(struct metrics_registry *r, char *const *names, size_t n)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    size_t w = 0;
    for (size_t i = 0; i < r->n; i++) {
        bool keep = false;
        for (size_t k = 0; k < n && !keep; k++)
            keep = str_eq(names[k], r->v[i].name);
        if (keep)
            r->v[w++] = r->v[i];
        else
            metrics_cluster_release(&r->v[i]);
    }
    r->n = w;
    pthread_mutex_unlock(&r->mu);
}

char *metrics_render_locked(struct metrics_registry *r,
                            void (*fn)(const struct metrics_view *v, struct strbuf *out),
                            double now_s)
{
    struct strbuf sb = {0};
    pthread_mutex_lock(&r->mu);
    struct metrics_view v = {r->v, r->n, now_s};
    fn(&v, &sb);
    char *text = redact_secrets(sb_str(&sb), r->secrets, r->nsecrets);
    pthread_mutex_unlock(&r->mu);
    sb_release(&sb);
    return text;
}
