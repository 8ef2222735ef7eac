/*
 * status_json.c - /api/status: what the status page shows, as JSON. Pure.
 * Unknown numbers are null.
 */
#include <jansson.h>
#include <stdlib.h>

#include "metrics.h"

static json_t *num_or_null(double v)
{
    return v < 0 ? json_null() : json_real(v);
}

static json_t *int_or_null(long long v)
{
    return v < 0 ? json_null() : json_integer(v);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *cluster_json(const struct metrics_cluster *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "status", str_or_null(c->status));
    json_object_set_new(o, "commit", str_or_null(c->commit));
    json_object_set_new(o, "drift_steps", int_or_null(c->drift_steps));
    json_object_set_new(o, "drift_summary", str_or_null(c->drift_summary));
    json_object_set_new(o, "last_reconcile", num_or_null(c->last_reconcile_s > 0
                                                             ? c->last_reconcile_s : -1));
    json_object_set_new(o, "last_success", num_or_null(c->last_success_s > 0
                                                           ? c->last_success_s : -1));
    json_object_set_new(o, "failovers", json_integer((json_int_t)c->failovers_total));
    json_object_set_new(o, "apply_failures", json_integer((json_int_t)c->apply_failures_total));

    json_t *shards = json_array();
    for (size_t i = 0; i < c->nredis;) {
        size_t end = i;
        while (end < c->nredis && str_eq(c->redis[end].shard, c->redis[i].shard))
            end++;
        json_t *sh = json_object();
        json_object_set_new(sh, "name", json_string(c->redis[i].shard));
        json_t *master = json_null(), *replicas = json_array();
        for (size_t k = i; k < end; k++) {
            const struct metrics_instance *m = &c->redis[k];
            json_t *x = json_object();
            json_object_set_new(x, "address", json_string(m->addr));
            json_object_set_new(x, "up", json_boolean(m->up));
            if (str_eq(m->role, "master") && json_is_null(master)) {
                json_object_set_new(x, "ops_per_sec", num_or_null(m->ops_per_sec));
                json_object_set_new(x, "used_memory", int_or_null(m->used_memory));
                json_object_set_new(x, "maxmemory", json_integer(m->maxmemory));
                json_object_set_new(x, "clients", int_or_null(m->clients));
                master = x;
            } else {
                json_object_set_new(x, "link", str_or_null(m->link));
                json_object_set_new(x, "lag_bytes", int_or_null(m->lag_bytes));
                json_object_set_new(x, "lag_seconds", int_or_null(m->lag_s));
                json_array_append_new(replicas, x);
            }
        }
        json_object_set_new(sh, "master", master);
        json_object_set_new(sh, "replicas", replicas);
        json_array_append_new(shards, sh);
        i = end;
    }
    json_object_set_new(o, "shards", shards);

    json_t *sentinels = json_array();
    for (size_t i = 0; i < c->nsentinels; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "address", json_string(c->sentinels[i].addr));
        json_object_set_new(x, "up", json_boolean(c->sentinels[i].up));
        json_object_set_new(x, "masters", json_integer((json_int_t)c->sentinels[i].masters));
        json_array_append_new(sentinels, x);
    }
    json_object_set_new(o, "sentinels", sentinels);

    json_t *proxies = json_array();
    for (size_t i = 0; i < c->nproxies; i++) {
        const struct metrics_proxy *p = &c->proxies[i];
        json_t *x = json_object();
        json_object_set_new(x, "address", json_string(p->addr));
        json_object_set_new(x, "up", json_boolean(p->up));
        json_object_set_new(x, "requests", int_or_null(p->requests));
        json_object_set_new(x, "forward_errors", int_or_null(p->forward_errors));
        json_object_set_new(x, "requests_per_sec", num_or_null(p->requests_per_sec));
        json_object_set_new(x, "forward_errors_per_sec", num_or_null(p->forward_errors_per_sec));
        json_array_append_new(proxies, x);
    }
    json_object_set_new(o, "proxies", proxies);

    json_t *alerts = json_array();
    for (size_t i = 0; i < c->nalerts; i++) {
        const struct metrics_alert *a = &c->alerts[i];
        json_t *x = json_object();
        json_object_set_new(x, "alert", json_string(a->name));
        json_object_set_new(x, "address", str_or_null(a->instance));
        json_object_set_new(x, "firing", json_boolean(a->firing));
        json_object_set_new(x, "value", json_real(a->value));
        json_object_set_new(x, "since", a->since_s ? json_integer(a->since_s) : json_null());
        json_array_append_new(alerts, x);
    }
    json_object_set_new(o, "alerts", alerts);
    json_object_set_new(o, "samples", json_integer((json_int_t)c->ring.n));
    return o;
}

void status_render_json(const struct metrics_view *v, struct strbuf *out)
{
    json_t *root = json_object();
    json_object_set_new(root, "time", json_real(v->now_s));
    json_t *clusters = json_array();
    for (size_t i = 0; i < v->n; i++)
        json_array_append_new(clusters, cluster_json(&v->clusters[i]));
    json_object_set_new(root, "clusters", clusters);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    sb_add(out, text ? text : "{}");
    sb_addc(out, '\n');
    free(text);
}
