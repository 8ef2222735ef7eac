/*
 * metrics_text.c - the registry as Prometheus text exposition format 0.0.4
 * (what /metrics serves and --metrics-file writes). Pure.
 *
 * Names follow Prometheus' conventions: an rmgr_ prefix, base units in the
 * name (_seconds, _bytes), _total on counters; labels cluster, shard, role
 * (master, replica, sentinel, proxy) and address.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

/* A label value with \, " and newline escaped. */
static void add_label_value(struct strbuf *out, const char *v)
{
    for (const char *c = v ? v : ""; *c; c++) {
        if (*c == '\\')
            sb_add(out, "\\\\");
        else if (*c == '"')
            sb_add(out, "\\\"");
        else if (*c == '\n')
            sb_add(out, "\\n");
        else
            sb_addc(out, *c);
    }
}

static void add_number(struct strbuf *out, double v)
{
    if (isnan(v))
        sb_add(out, "NaN");
    else if (isinf(v))
        sb_add(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        sb_addf(out, "%.0f", v);
    else
        sb_addf(out, "%.15g", v);
}

static void header(struct strbuf *out, const char *name, const char *type, const char *help)
{
    sb_addf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",...} value; labels as NULL-terminated key, value pairs (a NULL value skips) */
static void sample(struct strbuf *out, const char *name, const char *const *labels, double v)
{
    sb_add(out, name);
    bool any = false;
    for (size_t i = 0; labels && labels[i]; i += 2) {
        if (!labels[i + 1])
            continue;
        sb_add(out, any ? "," : "{");
        sb_addf(out, "%s=\"", labels[i]);
        add_label_value(out, labels[i + 1]);
        sb_addc(out, '"');
        any = true;
    }
    if (any)
        sb_addc(out, '}');
    sb_addc(out, ' ');
    add_number(out, v);
    sb_addc(out, '\n');
}

static void per_cluster(struct strbuf *out, const struct metrics_view *v, const char *name,
                        const char *type, const char *help,
                        double (*get)(const struct metrics_cluster *c), bool only_known)
{
    header(out, name, type, help);
    for (size_t i = 0; i < v->n; i++) {
        const struct metrics_cluster *c = &v->clusters[i];
        double x = get(c);
        if (only_known && x < 0)
            continue;
        const char *labels[] = {"cluster", c->name, NULL};
        sample(out, name, labels, x);
    }
}

static double get_drift(const struct metrics_cluster *c) { return (double)c->drift_steps; }
static double get_last_run(const struct metrics_cluster *c)
{
    return c->last_reconcile_s > 0 ? c->last_reconcile_s : -1;
}
static double get_last_ok(const struct metrics_cluster *c)
{
    return c->last_success_s > 0 ? c->last_success_s : -1;
}
static double get_failovers(const struct metrics_cluster *c) { return (double)c->failovers_total; }
static double get_apply_failures(const struct metrics_cluster *c)
{
    return (double)c->apply_failures_total;
}

static void histogram(struct strbuf *out, const struct metrics_view *v)
{
    const char *name = "rmgr_observe_duration_seconds";
    header(out, name, "histogram", "Time one observation of the whole cluster took.");
    for (size_t i = 0; i < v->n; i++) {
        const struct metrics_cluster *c = &v->clusters[i];
        unsigned long long cum = 0;
        char le[32];
        for (size_t b = 0; b < METRICS_NBUCKETS; b++) {
            cum += c->observe_buckets[b];
            snprintf(le, sizeof(le), "%g", metrics_bucket_bound(b));
            const char *labels[] = {"cluster", c->name, "le", le, NULL};
            sample(out, "rmgr_observe_duration_seconds_bucket", labels, (double)cum);
        }
        const char *inf[] = {"cluster", c->name, "le", "+Inf", NULL};
        sample(out, "rmgr_observe_duration_seconds_bucket", inf, (double)c->observe_count);
        const char *labels[] = {"cluster", c->name, NULL};
        sample(out, "rmgr_observe_duration_seconds_sum", labels, c->observe_sum_s);
        sample(out, "rmgr_observe_duration_seconds_count", labels, (double)c->observe_count);
    }
}

static void alerts(struct strbuf *out, const struct metrics_view *v)
{
    header(out, "rmgr_alert_firing", "gauge",
           "1 while the alert rule fires on the instance, else 0.");
    for (size_t i = 0; i < v->n; i++) {
        const struct metrics_cluster *c = &v->clusters[i];
        for (size_t k = 0; k < c->nalerts; k++) {
            const char *labels[] = {"cluster", c->name, "alert", c->alerts[k].name,
                                    "address", c->alerts[k].instance, NULL};
            sample(out, "rmgr_alert_firing", labels, c->alerts[k].firing ? 1 : 0);
        }
    }
}

enum ifield { I_UP, I_OPS, I_MEM, I_MAXMEM, I_CLIENTS, I_LAG_BYTES, I_LAG_S };

static double ifield(const struct metrics_instance *m, enum ifield f)
{
    switch (f) {
    case I_UP: return m->up ? 1 : 0;
    case I_OPS: return m->ops_per_sec;
    case I_MEM: return (double)m->used_memory;
    case I_MAXMEM: return m->maxmemory > 0 && m->used_memory >= 0 ? (double)m->maxmemory : -1;
    case I_CLIENTS: return (double)m->clients;
    case I_LAG_BYTES: return (double)m->lag_bytes;
    case I_LAG_S: return (double)m->lag_s;
    }
    return -1;
}

static void per_redis(struct strbuf *out, const struct metrics_view *v, const char *name,
                      const char *help, enum ifield f)
{
    header(out, name, "gauge", help);
    for (size_t i = 0; i < v->n; i++) {
        const struct metrics_cluster *c = &v->clusters[i];
        for (size_t k = 0; k < c->nredis; k++) {
            const struct metrics_instance *m = &c->redis[k];
            double x = ifield(m, f);
            if (x < 0)
                continue;
            const char *labels[] = {"cluster", c->name, "shard", m->shard, "role", m->role,
                                    "address", m->addr, NULL};
            sample(out, name, labels, x);
        }
    }
}

static void up(struct strbuf *out, const struct metrics_view *v)
{
    per_redis(out, v, "rmgr_up", "1 when the instance answered rmgr's last look, else 0.", I_UP);
    for (size_t i = 0; i < v->n; i++) {
        const struct metrics_cluster *c = &v->clusters[i];
        for (size_t k = 0; k < c->nsentinels; k++) {
            const char *labels[] = {"cluster", c->name, "role", "sentinel", "address",
                                    c->sentinels[k].addr, NULL};
            sample(out, "rmgr_up", labels, c->sentinels[k].up ? 1 : 0);
        }
        for (size_t k = 0; k < c->nproxies; k++) {
            const char *labels[] = {"cluster", c->name, "role", "proxy", "address",
                                    c->proxies[k].addr, NULL};
            sample(out, "rmgr_up", labels, c->proxies[k].up ? 1 : 0);
        }
    }
}

static void per_proxy(struct strbuf *out, const struct metrics_view *v, const char *name,
                      const char *help, bool errors)
{
    header(out, name, "counter", help);
    for (size_t i = 0; i < v->n; i++) {
        const struct metrics_cluster *c = &v->clusters[i];
        for (size_t k = 0; k < c->nproxies; k++) {
            const struct metrics_proxy *p = &c->proxies[k];
            long long x = errors ? p->forward_errors : p->requests;
            if (x < 0)
                continue;
            const char *labels[] = {"cluster", c->name, "role", "proxy", "address", p->addr,
                                    NULL};
            sample(out, name, labels, (double)x);
        }
    }
}

void metrics_render_text(const struct metrics_view *v, struct strbuf *out)
{
    per_cluster(out, v, "rmgr_drift_steps", "gauge",
                "Steps the cluster's last plan would carry out (0: it matches its spec).",
                get_drift, true);
    per_cluster(out, v, "rmgr_last_reconcile_timestamp_seconds", "gauge",
                "Unix time the cluster's last reconcile run ended.", get_last_run, true);
    per_cluster(out, v, "rmgr_last_success_timestamp_seconds", "gauge",
                "Unix time a reconcile run of the cluster last ended without an error.",
                get_last_ok, true);
    per_cluster(out, v, "rmgr_failovers_total", "counter",
                "Master changes Sentinel made that rmgr noticed, per shard.", get_failovers,
                false);
    per_cluster(out, v, "rmgr_apply_failures_total", "counter",
                "Applies of the cluster's plan that failed.", get_apply_failures, false);
    histogram(out, v);
    alerts(out, v);
    up(out, v);
    per_redis(out, v, "rmgr_redis_ops_per_second",
              "Commands per second the master processed between rmgr's last two looks.", I_OPS);
    per_redis(out, v, "rmgr_redis_memory_used_bytes", "INFO used_memory of the master.",
              I_MEM);
    per_redis(out, v, "rmgr_redis_memory_max_bytes",
              "INFO maxmemory of the master (when set).", I_MAXMEM);
    per_redis(out, v, "rmgr_redis_connected_clients",
              "INFO connected_clients of the master.", I_CLIENTS);
    per_redis(out, v, "rmgr_redis_replication_lag_bytes",
              "Bytes of replication stream the replica is behind its master.", I_LAG_BYTES);
    per_redis(out, v, "rmgr_redis_replication_lag_seconds",
              "Seconds since the replica last acknowledged its master (INFO lag=).", I_LAG_S);
    per_proxy(out, v, "rmgr_proxy_requests_total", "Requests the proxy's pool served.", false);
    per_proxy(out, v, "rmgr_proxy_forward_errors_total",
              "Requests the proxy could not forward to a server.", true);
}
