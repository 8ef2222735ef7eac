/*
 * plan.h - the ordered list of steps that takes the observed state to the spec.
 *
 * plan_compute() is pure: (spec, observed) -> plan. It never talks to a
 * server. Rendering is in render_plan.c, execution in apply.c.
 *
 * Roles belong to Sentinel once it monitors a shard: the planner first works
 * out each shard's current master (the "truth"), refusing when that is
 * ambiguous, and only then plans steps around it.
 */
#ifndef RMGR_PLAN_H
#define RMGR_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "observed.h"
#include "spec.h"

#define PLAN_FORMAT_VERSION 1

enum step_kind {
    STEP_OBSERVED,         /* "=": an observed fact, no action */
    STEP_INSTALL_FILES,    /* instance dir + generated config (+ binaries) */
    STEP_START,
    STEP_STOP,
    STEP_REMOVE_FILES,     /* wipe an instance dir: destructive */
    STEP_CONFIG_SET,       /* CONFIG SET + CONFIG REWRITE */
    STEP_CONFIG_REWRITE,   /* runtime is right, the file drifted */
    STEP_REPLICAOF,
    STEP_SENTINEL_MONITOR,
    STEP_SENTINEL_SET,
    STEP_SENTINEL_REMOVE,
    STEP_PROXY_CONFIG,     /* write nutcracker.yml (checked with nutcracker -t) */
    STEP_PROXY_RESTART,
    STEP_SENTINEL_RESET,   /* SENTINEL RESET <shard> on one sentinel, then wait until
                              it knows the master and the other sentinels again */
};

/* "observed", "install-files", "start", ... as used in JSON and messages */
const char *step_kind_name(enum step_kind k);

enum step_action {  /* the symbol a step is drawn with */
    ACTION_NONE,    /* "=" */
    ACTION_CREATE,  /* "+" */
    ACTION_CHANGE,  /* "~" */
    ACTION_REMOVE,  /* "-" */
    ACTION_REPLACE, /* "-/+" */
};
const char *step_action_symbol(enum step_action a);

enum step_safety { SAFETY_SAFE, SAFETY_DISRUPTIVE, SAFETY_DESTRUCTIVE };
const char *step_safety_name(enum step_safety s);

/* Waves run in this order; steps inside one wave may run in parallel across hosts. */
enum step_wave {
    WAVE_FILES = 1,
    WAVE_PROCESSES,
    WAVE_REPLICATION,
    WAVE_SENTINELS,
    WAVE_PROXIES,
    WAVE_CLEANUP, /* stop and wipe instances of shards removed from the spec, once
                     Sentinel and the proxies no longer use them */
};

enum instance_kind { INSTANCE_REDIS, INSTANCE_SENTINEL, INSTANCE_PROXY };
const char *instance_kind_name(enum instance_kind k); /* "redis", "sentinel", "proxy" */

struct step {
    enum step_kind kind;
    enum step_action action;
    enum step_safety safety;
    enum step_wave wave;
    enum instance_kind instance;
    char *group;     /* shard name, "sentinels" or "proxies" */
    char *target;    /* "redis1:6379" (spec spelling), or a shard name */
    char *host;      /* hosts: name or IP the step runs on */
    char *ip;
    int port;
    char *reason;    /* why, in one line */
    char *before;    /* NULL when not applicable */
    char *after;

    /* what apply needs; unused fields are NULL/0 */
    char *shard;          /* shard name, for sentinel steps and replicaof */
    char *master_ip;      /* replicaof / start as replica / sentinel-monitor */
    int master_port;
    struct obs_kv *settings; /* config-set/config-rewrite directives (spec values),
                                sentinel-monitor/sentinel-set options */
    size_t nsettings;
};

struct plan_refusal {  /* why the plan refuses to act on a shard */
    char *shard;
    char *diagnosis;    /* multi-line: what each node and sentinel reports */
};

struct plan {
    struct step *steps;
    size_t nsteps;
    struct plan_refusal *refusals; /* non-empty: the plan must not be applied */
    size_t nrefusals;
    char **warnings;
    size_t nwarnings;
    size_t unreachable;   /* instances that could not be observed */
    size_t waiting;       /* shards left to Sentinel: the master is down and Sentinel is
                             to fail it over (rmgr does not restart it: it would come back
                             empty), or a failover is under way (nothing touches the
                             shard's roles until it ends) */

    /* per shard, the master the plan works with (index as spec->shards) */
    struct spec_addr *masters;
    bool *master_from_sentinel;
    bool *shard_waiting;  /* per shard: counted in `waiting` */
    bool *shard_failover; /* per shard: a failover is under way (failover.h) */
    size_t nmasters;      /* entries of masters (== spec->nshards); plan_free() frees them */
};

/* Compute the plan. Always returns a plan; check nrefusals before applying. */
struct plan *plan_compute(const struct spec *spec, const struct observed *obs);
void plan_free(struct plan *p);

/* counts for the summary line */
struct plan_counts {
    size_t add, change, remove, observed;
};
struct plan_counts plan_count(const struct plan *p);
/*
 * true when the cluster differs from the spec: any step that is not "=",
 * any instance that could not be observed (unreachable > 0), or any shard
 * whose master is down while rmgr waits for Sentinel's failover (waiting >
 * 0), so that `plan --detailed-exitcode` reports drift rather than "no
 * changes" for a cluster it could not fully see or deliberately left alone.
 * Refusals are reported separately.
 */
bool plan_has_changes(const struct plan *p);
bool plan_has_destructive(const struct plan *p);
/* Whether a step does something (every kind but an observed "=" line). */
bool step_acts(const struct step *st);

#endif
