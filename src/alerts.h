/*
 * alerts.h - the spec's threshold alerts (`alerts:`): which are firing, and
 * when one starts or stops.
 *
 * Pure (alerts.c): the spec's rules, the observation just made, and the
 * state the last run left (counters for rates, rules pending or firing) in;
 * the next state and the transitions (firing, resolved) out. The state is
 * kept in the cluster's drift state file (drift_state.h, "alerts" member),
 * so transitions survive across cron runs and --watch iterations; the JSON
 * form is alerts_json.c, the load-send-save step alerts_notify.c.
 *
 * Readers of the firing state (metrics, status page, `rmgr status`) use
 * struct alert_state and alerts_firing().
 *
 * Rules and values:
 *   - an INFO field: its value on each instance `on:` selects;
 *   - rate(FIELD): (counter now - counter before) / seconds between the two
 *     observations; unknown on the first observation, after a restart (run
 *     id changed) or when the counter went down;
 *   - slowlog_per_sec: slowlog entries added per second, from the id of the
 *     newest entry (SLOWLOG GET 1) of two observations, or the entries now
 *     in a log that was empty before (SLOWLOG LEN);
 *   - replication_lag_bytes: a replica's master's master_repl_offset minus
 *     its own slave_repl_offset (both observed in the same run);
 *   - forward_error_per_sec: a proxy pool's forward_error per second of
 *     nutcracker's own aggregation timestamps; server_ejects: its counter.
 * A rule is out of range when value < min or value > max. It fires when it
 * has been out of range at every observation for `for` (at once when 0) and
 * resolves at the first observation in range. An unknown value (instance
 * unreachable, field missing, no rate yet) changes nothing.
 */
#ifndef RMGR_ALERTS_H
#define RMGR_ALERTS_H

#include <stdbool.h>
#include <stddef.h>

#include "notify.h"

struct spec;
struct observed;

/* A counter of one instance at its last observation, for rates. */
struct alert_counter {
    char *name;              /* an INFO field, "slowlog_id" or "forward_error" */
    double value;
};

/* What rates need of one instance's last observation. */
struct alert_sample {
    char *addr;              /* "ip:port" (a proxy: its listen address) */
    char *run_id;            /* redis run_id; a proxy: its start time; restarts reset rates */
    long long at_ms;         /* unix ms of the observation (a proxy: of its stats) */
    struct alert_counter *counters;
    size_t ncounters;
};

/* One rule on one instance that is out of range (pending) or firing. */
struct alert_row {
    char *name;              /* the rule's name: the `alert` label */
    char *addr;              /* "ip:port" */
    char *shard;             /* the shard of a redis; NULL for a proxy */
    char *role;              /* "master", "replica" or "proxy" */
    bool firing;
    long long pending_since_ms; /* unix ms of the first observation out of range */
    long long since_s;       /* unix seconds it started firing; 0 when pending */
    double value;            /* the value at the last observation */
};

struct alert_state {
    struct alert_sample *samples;
    size_t nsamples;
    struct alert_row *rows;
    size_t nrows;
};

void alert_state_release(struct alert_state *st);

enum alert_change { ALERT_FIRING, ALERT_RESOLVED };

/* A transition: what is sent through the webhooks. */
struct alert_event {
    enum alert_change change;
    char *name, *field, *addr, *shard, *role;
    double value;            /* now (resolved: the value back in range; NAN when gone) */
    bool has_min, has_max;
    double min, max;
    long long since_s;       /* when it started firing */
    bool gone;               /* resolved because the rule or the instance left the spec */
};

void alert_events_free(struct alert_event *ev, size_t n);

/*
 * Evaluate every rule of `s` on observation `o` made at `now_ms` (unix ms),
 * from the state `prev` (may be NULL: none). Fills *next (release it) and
 * returns the transitions in *events (alert_events_free), *nevents of them.
 * Rows of unreachable instances are carried over unchanged; firing rows whose
 * rule or instance is no longer in the spec resolve (gone).
 */
void alerts_evaluate(const struct spec *s, const struct observed *o,
                     const struct alert_state *prev, long long now_ms, struct alert_state *next,
                     struct alert_event **events, size_t *nevents);

/* One firing alert, for readers (metrics, the status page); strings borrowed from the state. */
struct alert_firing {
    const char *name;        /* the `alert` label */
    const char *cluster;     /* as passed to alerts_firing() */
    const char *shard;       /* NULL for a proxy */
    const char *addr;        /* "ip:port" */
    const char *role;        /* "master", "replica" or "proxy" */
    double value;            /* at the last observation */
    long long since_s;       /* unix seconds it started firing */
};

/* The firing alerts of st (the state of `cluster`), in rule order per instance; caller frees *out. */
size_t alerts_firing(const struct alert_state *st, const char *cluster,
                     struct alert_firing **out);

/* The firing rows about instance `addr` ("ip:port"), as "name=value" joined by ", ". NULL: none. */
char *alerts_firing_text(const struct alert_state *st, const char *addr);

/* One line for a log or a webhook summary: "alert connected_clients firing on ...". */
char *alert_event_text(const struct alert_event *ev, const char *cluster);

/* The state as a JSON value (text) and back (alerts_json.c). NULL / -1 with *err. */
char *alert_state_to_json(const struct alert_state *st);
int alert_state_from_json(const char *json, struct alert_state *out, char **err);

/*
 * The whole step (alerts_notify.c): load the state from the cluster's drift
 * state file, evaluate, send each transition through o's webhooks, and save
 * (unless every webhook failed on a transition: the next run tries again).
 * `dry` (rmgr status) only evaluates: nothing sent, nothing saved. *st_out
 * (may be NULL) gets the new state; *warnings one line per problem.
 * Returns the number of transitions.
 */
size_t alerts_check(const struct notify_options *o, const char *state_dir, const struct spec *s,
                    const struct observed *obs, const char *commit, bool dry,
                    struct alert_state *st_out, char **warnings);

#endif
