/*
 * metrics.h - what `rmgr reconcile` knows about each cluster, for Prometheus
 * (/metrics, --metrics-file), the status page (/) and /api/status.
 *
 * The reconcile loop is the only writer: after each look at a cluster it
 * builds the cluster's record (metrics_record_build, outside any lock) and
 * hands it to the registry under the registry's lock (metrics_publish); the
 * counters (failovers, apply failures, the observe-duration histogram) and
 * the ring of observations are updated under the same lock. The HTTP thread
 * only reads: it takes the lock, renders the records (metrics_text.c,
 * status_page.c, status_json.c: pure functions of a metrics_view) and lets
 * go. No request ever runs a command on a cluster.
 *
 * Alerts: the alert rules (`alerts:` in the spec) are evaluated elsewhere;
 * they hand their state over with metrics_set_alerts(). Until they do, a
 * cluster has no alert rows and rmgr_alert_firing has no samples.
 */
#ifndef RMGR_METRICS_H
#define RMGR_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct spec;
struct observed;
struct plan;
struct top_sample;

/* The observe-duration histogram's upper bounds (seconds), +Inf apart. */
#define METRICS_OBSERVE_BUCKETS 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
#define METRICS_NBUCKETS 8

/* The ring keeps this many observations per cluster (one hour at 5 s). */
#define METRICS_RING_CAP 720
/* The charts show this much history. */
#define METRICS_CHART_WINDOW_S 3600

struct metrics_instance {       /* a redis the spec names */
    char *shard;
    char *role;                 /* "master" or "replica", as observed (spec's when down) */
    char *addr;                 /* "ip:port" */
    bool up;                    /* answered */
    char *link;                 /* replica: master_link_status "up"/"down"; else NULL */
    long long lag_bytes;        /* replica: master's offset minus its own; -1 unknown */
    long lag_s;                 /* replica: seconds since its last ack; -1 unknown */
    double ops_per_sec;         /* master: commands per second since the last sample; -1 */
    long long used_memory;      /* master: bytes; -1 unknown */
    long long maxmemory;        /* 0: no limit */
    long long clients;          /* master: connected_clients; -1 unknown */
};

struct metrics_sentinel {
    char *addr;
    bool up;
    size_t masters;             /* SENTINEL MASTERS entries it reports */
};

struct metrics_proxy {
    char *addr;                 /* "ip:listen_port" */
    bool up;                    /* its stats port answered */
    long long requests;         /* counters from nutcracker's stats; -1 unknown */
    long long forward_errors;
    double requests_per_sec;    /* between nutcracker's last two aggregations; -1 */
    double forward_errors_per_sec;
};

/* One alert rule's state on one instance, as the alert evaluator hands it over. */
struct metrics_alert {
    char *name;                 /* the `alert` label */
    char *instance;             /* "ip:port" it is about (may be NULL: the cluster) */
    bool firing;
    double value;               /* the value that made it fire (or the last one) */
    long long since_s;          /* unix time it started firing; 0 when not firing */
};

/* One observation in the ring; a value < 0 is unknown (a gap in the chart). */
struct metrics_point {
    long long t_s;              /* unix time */
    double *ops;                /* per shard: the master's ops/s */
    double *mem;                /* per shard: the master's used memory, bytes */
    double *preq;               /* per proxy: requests/s */
    double *perr;               /* per proxy: forward errors/s */
};

struct metrics_ring {
    char **shards;              /* the columns: shard names ... */
    size_t nshards;
    char **proxies;             /* ... and proxy addresses */
    size_t nproxies;
    struct metrics_point *v;    /* cap entries; oldest at head when full */
    size_t cap, n, head;
};

struct metrics_cluster {
    char *name;
    char *commit;               /* of the specs, when from git; NULL */
    char *status;               /* "in-sync", "drift", "error", ...; NULL before the first run */
    long drift_steps;           /* acting steps of the last plan; -1 unknown */
    char *drift_summary;        /* the plan's summary line; NULL */
    double last_reconcile_s;    /* unix time a run of it ended; 0 never */
    double last_success_s;      /* ... ended in sync, corrected or with drift reported */
    unsigned long long failovers_total;
    unsigned long long apply_failures_total;
    unsigned long long observe_buckets[METRICS_NBUCKETS]; /* not cumulative */
    unsigned long long observe_count;
    double observe_sum_s;
    struct metrics_instance *redis;
    size_t nredis;
    struct metrics_sentinel *sentinels;
    size_t nsentinels;
    struct metrics_proxy *proxies;
    size_t nproxies;
    struct metrics_alert *alerts; /* metrics_set_alerts(); none until alerts land */
    size_t nalerts;
    struct metrics_ring ring;
    /* the last counters, for rates */
    long long *prev_commands;   /* per shard; -1 */
    char **prev_master;         /* per shard: which master they were read from */
    long long prev_at_ms;
    long long *prev_preq, *prev_perr, *prev_pts; /* per proxy: counters and nutcracker's timestamp */
    double *last_preq, *last_perr; /* per proxy: the last rate known */
};

/* What the renderers read: the clusters, in the order first seen. */
struct metrics_view {
    const struct metrics_cluster *clusters;
    size_t n;
    double now_s;               /* unix time of the rendering */
};

/* The upper bound of bucket i (i < METRICS_NBUCKETS). */
double metrics_bucket_bound(size_t i);

/* ---- records (pure) ----------------------------------------------------- */

/*
 * The part of a cluster's record one look gives: instances, sentinels and
 * proxies from the spec, the observation and (may be NULL) a top sample;
 * drift from the plan (may be NULL). Fills the fields it names in *out
 * (zeroed by the caller); counters, ring and alerts are left alone.
 */
void metrics_record_build(const struct spec *s, const struct observed *o, const struct plan *p,
                          const struct top_sample *t, struct metrics_cluster *out);

void metrics_cluster_release(struct metrics_cluster *c);

/*
 * Move the looked-at fields of `fresh` into `c` (what was there is freed),
 * compute the rates against the previous sample and add a point to the ring
 * at `now_s`. `t` (may be NULL) gives the counters. Pure: tests call it.
 */
void metrics_cluster_merge(struct metrics_cluster *c, struct metrics_cluster *fresh,
                           const struct top_sample *t, long long now_s);

/* Count one observation of `took_s` seconds in the histogram. */
void metrics_cluster_observe(struct metrics_cluster *c, double took_s);

/* Replace c's alert rows with copies of alerts[0..n). */
void metrics_cluster_set_alerts(struct metrics_cluster *c, const struct metrics_alert *alerts,
                                size_t n);

/* ---- the registry (thread-safe) ------------------------------------------ */

struct metrics_registry {
    pthread_mutex_t mu;
    struct metrics_cluster *v;
    size_t n, cap;
    char **secrets;             /* passwords: redacted from every response */
    size_t nsecrets;
};

struct metrics_registry *metrics_registry_new(void);
void metrics_registry_free(struct metrics_registry *r);

/* A password to keep out of every page (copied). */
void metrics_add_secret(struct metrics_registry *r, const char *secret);

/* metrics_cluster_merge() into the cluster named fresh->name (created when new). */
void metrics_publish(struct metrics_registry *r, struct metrics_cluster *fresh,
                     const struct top_sample *t, long long now_s);

/* The end of a run of `cluster`: its status and times. */
void metrics_run_done(struct metrics_registry *r, const char *cluster, const char *commit,
                      const char *status, bool success, double now_s);

void metrics_observed(struct metrics_registry *r, const char *cluster, double took_s);
void metrics_count_failovers(struct metrics_registry *r, const char *cluster, unsigned n);
void metrics_count_apply_failure(struct metrics_registry *r, const char *cluster);

/*
 * The alert evaluator's hook: the state of every rule of `cluster` now
 * (copied). Call it after every evaluation; n == 0 clears.
 */
void metrics_set_alerts(struct metrics_registry *r, const char *cluster,
                        const struct metrics_alert *alerts, size_t n);

/* Forget the clusters not named in names[0..n) (gone from the specs). */
void metrics_retain(struct metrics_registry *r, char *const *names, size_t n);

/*
 * Render under the lock: fn(view, arg, out), then the secrets redacted.
 * Returns the text (caller frees).
 */
char *metrics_render_locked(struct metrics_registry *r,
                            void (*fn)(const struct metrics_view *v, struct strbuf *out),
                            double now_s);

/* ---- renderers (pure) ----------------------------------------------------- */

/* Prometheus text exposition format 0.0.4 (metrics_text.c). */
void metrics_render_text(const struct metrics_view *v, struct strbuf *out);

/* The status page, HTML with inline SVG charts (status_page.c). */
void status_render_html(const struct metrics_view *v, struct strbuf *out);

/* One chart as an SVG element: series[k][i] over times t[i] (< 0: a gap). */
void status_render_chart(const char *title, const char *unit, const long long *t, size_t npoints,
                         char *const *names, const double *const *series, size_t nseries,
                         long long now_s, struct strbuf *out);

/* /api/status: the same as JSON (status_json.c). */
void status_render_json(const struct metrics_view *v, struct strbuf *out);

#endif
