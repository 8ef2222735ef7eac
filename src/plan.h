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

/*
 * A proxy-config step's setting "server:<shard>" = "ip:port": the server that
 * shard keeps in the file while Sentinel fails it over (not the plan's master
 * for it); apply renders the file with it (plan_proxy_masters).
 */
#define PLAN_PROXY_SERVER_PREFIX "server:"

/*
 * Every step kind, one row each: adding a kind is a row here, its executor
 * in apply_steps.c (the exec column names it: a missing one fails to
 * compile) and its golden case under tests/fixtures/plan/.
 *
 *   kind   the enum step_kind constant
 *   name   as in JSON, messages and progress lines
 *   lane   how apply runs the steps of one wave side by side (enum step_lane)
 *   flags  STEPF_*: how the kind is drawn and counted
 *   gates  GATE_*: which health checks a step of this kind makes apply run
 *   exec   the function in apply_steps.c that carries it out
 */
#define STEP_KINDS(X)                                                                        \
    /* "=": an observed fact, no action */                                                 \
    X(STEP_OBSERVED, "observed", LANE_HOST, STEPF_FACT, GATE_NONE, exec_observed)          \
    /* instance dir + generated config (+ binaries) */                                     \
    X(STEP_INSTALL_FILES, "install-files", LANE_HOST, 0, GATE_OWN, exec_install_files)     \
    /* start, wait until it answers (a redis: CONFIG REWRITE its role) */                  \
    X(STEP_START, "start", LANE_HOST, STEPF_STARTS, GATE_OWN | GATE_SENTINELS_IF_REPLICA,  \
      exec_start)                                                                          \
    X(STEP_STOP, "stop", LANE_HOST, 0, GATE_NONE, exec_stop)                               \
    /* wipe an instance dir: destructive */                                                \
    X(STEP_REMOVE_FILES, "remove-files", LANE_HOST, 0, GATE_NONE, exec_remove_files)       \
    /* CONFIG SET + CONFIG REWRITE */                                                      \
    X(STEP_CONFIG_SET, "config-set", LANE_HOST, STEPF_KV_DETAILS, GATE_OWN, exec_config_set) \
    /* runtime is right, the file drifted */                                               \
    X(STEP_CONFIG_REWRITE, "config-rewrite", LANE_HOST, STEPF_KV_DETAILS, GATE_OWN,         \
      exec_config_rewrite)                                                                 \
    X(STEP_REPLICAOF, "replicaof", LANE_HOST, 0, GATE_OWN | GATE_SENTINELS_IF_REPLICA,      \
      exec_replicaof)                                                                      \
    X(STEP_SENTINEL_MONITOR, "sentinel-monitor", LANE_HOST, STEPF_LABEL_SHARD, GATE_OWN,    \
      exec_sentinel_monitor)                                                               \
    X(STEP_SENTINEL_SET, "sentinel-set", LANE_HOST, STEPF_LABEL_SHARD | STEPF_KV_DETAILS,   \
      GATE_OWN, exec_sentinel_set)                                                         \
    X(STEP_SENTINEL_REMOVE, "sentinel-remove", LANE_HOST, STEPF_LABEL_SHARD, GATE_OWN,      \
      exec_sentinel_remove)                                                                \
    /* write nutcracker.yml (checked with nutcracker -t) */                                \
    X(STEP_PROXY_CONFIG, "proxy-config", LANE_HOST, STEPF_KV_DETAILS, GATE_OWN,             \
      exec_proxy_config)                                                                   \
    X(STEP_PROXY_RESTART, "proxy-restart", LANE_HOST, STEPF_STARTS, GATE_OWN,               \
      exec_proxy_restart)                                                                  \
    /* SENTINEL RESET <shard> on one sentinel, then wait until it knows the master and     \
       the other sentinels again */                                                        \
    X(STEP_SENTINEL_RESET, "sentinel-reset", LANE_SENTINEL_RESET, STEPF_LABEL_SHARD,        \
      GATE_OWN, exec_sentinel_reset)                                                       \
    /* a member move (apply_move.c): wait until the redis is linked to the step's master,  \
       caught up with its offset and listed by every sentinel */                           \
    X(STEP_WAIT_SYNC, "wait-sync", LANE_HOST, 0, GATE_OWN | GATE_SENTINELS_IF_REPLICA,      \
      exec_wait_sync)                                                                      \
    /* planned failover through Sentinel from the step's master onto its redis           \
       (switchover.c, writes paused on the old master) */                                  \
    X(STEP_FAILOVER, "failover", LANE_HOST, STEPF_LABEL_SHARD,                              \
      GATE_OWN | GATE_SENTINELS_IF_REPLICA, exec_failover)                                 \
    /* rolling upgrade (plan_upgrade.c, apply_upgrade.c): restart an instance that runs    \
       another program than the spec's on it, then wait until it is healthy again (a       \
       replica linked and caught up, a sentinel knowing its masters and peers) */          \
    X(STEP_UPGRADE_RESTART, "upgrade-restart", LANE_UPGRADE, 0, GATE_NONE,                  \
      exec_upgrade_restart)                                                                \
    /* a planned failover (switchover.c) of a master onto an upgraded replica */          \
    X(STEP_UPGRADE_FAILOVER, "upgrade-failover", LANE_UPGRADE, STEPF_LABEL_SHARD, GATE_NONE, \
      exec_upgrade_failover)                                                               \
    /* an existing sentinel gets auth: SENTINEL CONFIG SET sentinel-pass (every sentinel    \
       first), then requirepass (ACL SETUSER default, SENTINEL FLUSHCONFIG); one at a      \
       time, until the sentinels see each other again with quorum */                       \
    X(STEP_SENTINEL_AUTH, "sentinel-auth", LANE_SENTINEL_AUTH, STEPF_KV_DETAILS, GATE_OWN,  \
      exec_sentinel_auth)

enum step_kind {
#define STEP_KIND_ENUM(kind, name, lane, flags, gates, exec) kind,
    STEP_KINDS(STEP_KIND_ENUM)
#undef STEP_KIND_ENUM
};
/* the number of rows (not an enumerator, so that a switch over every kind needs no default) */
#define STEP_KIND_ONE(kind, name, lane, flags, gates, exec) +1
#define STEP_KIND_COUNT (0 STEP_KINDS(STEP_KIND_ONE))

enum step_lane {
    LANE_HOST,           /* one lane per instance: instances run side by side, an instance's
                            steps in order.
                            (In the proxies wave every proxy step shares one lane whatever its
                            kind: proxies restart one at a time.) */
    LANE_SENTINEL_RESET, /* one lane for all hosts (the other sentinels keep what they know
                            while one relearns it), and in the clean-up wave after every other
                            lane (Sentinel forgets removed replicas once they are stopped) */
    LANE_UPGRADE,        /* one lane for the whole cluster, in plan order: a rolling upgrade
                            touches one instance at a time */
    LANE_SENTINEL_AUTH,  /* one lane for all hosts, after every other lane of its wave: one
                            sentinel at a time, and its CLIENT KILL must not cut the
                            connections of another lane's steps */
};

/* flags of a step kind */
#define STEPF_FACT 0x1        /* an observed fact: never acts, never numbered */
#define STEPF_STARTS 0x2      /* starts its instance: checked to answer after the wave */
#define STEPF_KV_DETAILS 0x4  /* before/after lines are "key value": the key is drawn once */
#define STEPF_LABEL_SHARD 0x8 /* progress lines name the shard after the target */

/* health gates a step of a kind triggers (apply_gates.c) */
#define GATE_NONE 0x0
#define GATE_OWN 0x1 /* the check of its instance kind after the wave: redis answer and
                        replicas linked, sentinels agree, proxies answer */
#define GATE_SENTINELS_IF_REPLICA 0x2 /* on a redis pointed at a master (master_ip): the
                                         sentinel check, a new failover candidate */

struct step_kind_desc {
    const char *name;
    enum step_lane lane;
    unsigned flags; /* STEPF_* */
    unsigned gates; /* GATE_* */
};

/* The row of kind k; never NULL (a value outside the enum aborts). */
const struct step_kind_desc *step_kind_desc(enum step_kind k);
/* "observed", "install-files", "start", ... as used in JSON and messages */
const char *step_kind_name(enum step_kind k);
/* Whether kind k has every flag in `flags`. */
bool step_kind_has(enum step_kind k, unsigned flags);

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
    WAVE_UPGRADE, /* the rolling upgrade, once everything else matches the spec: replicas,
                     then masters by failover, sentinels, proxies, one at a time */
};

enum instance_kind { INSTANCE_REDIS, INSTANCE_SENTINEL, INSTANCE_PROXY };
const char *instance_kind_name(enum instance_kind k); /* "redis", "sentinel", "proxy" */

/* One spec node a step comes from: <spec file>:<line>: <path>. */
struct plan_spec_ref {
    int line, col;
    char *path; /* "shards[1].replicas[0]", "redis.config.maxmemory", "proxies[0]" */
};

/*
 * Where a step or a refusal comes from (`plan --explain`, JSON "source"):
 * the spec nodes that ask for it, the one it is about first, and the
 * observations it rests on, each "<kind> <ip:port> <what was asked>: <what
 * it said>" ("sentinel 127.0.0.1:26001 SENTINEL MASTERS: shard1 master
 * 127.0.0.1:7002"). plan_add_step() cites the spec node of the address a step
 * runs on, plan_refuse() the shard; a step about nothing in the spec (a node
 * removed from it) names the observation that found it.
 */
struct plan_source {
    struct plan_spec_ref *spec;
    size_t nspec;
    char **observed;
    size_t nobserved;
};

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
    bool stops_master;    /* a redis stop: the node is its shard's master as observed (the
                             spec's or Sentinel's when no member was observed as one): it
                             stops after the shard's other members */

    struct plan_source source; /* why: the spec lines and observations behind the step */
};

struct plan_refusal {  /* why the plan refuses to act on a shard */
    char *shard;
    char *diagnosis;    /* multi-line: what each node and sentinel reports */
    struct plan_source source; /* the shard in the spec, the observations refused */
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

/*
 * The masters proxy step st is rendered with: p->masters, with the shards st's
 * "server:<shard>" settings name on those members. Caller frees the array (not
 * its strings, which belong to the spec).
 */
struct spec_addr *plan_proxy_masters(const struct spec *s, const struct plan *p,
                                     const struct step *st);

void plan_source_release(struct plan_source *src);
/* "spec.yaml:14: shards[1].replicas[0]" for ref r of a plan made from a spec loaded from `file` */
char *plan_spec_ref_text(const char *file, const struct plan_spec_ref *r);

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
