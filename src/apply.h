/*
 * apply.h - carry a plan out: steps wave by wave through each host's
 * transport and hiredis, with health checks between them.
 *
 * Inside a wave the steps of each instance form a lane: lanes run side by
 * side (at most `parallel` on one host), a lane runs its steps in plan
 * order, and every proxy step of WAVE_PROXIES is in one lane (proxies
 * restart one at a time so the pool never loses all of them). A lane waits
 * for the lanes it depends on: a replica starts once its master answers, a
 * master stops once its replicas are stopped. Files, processes (and their
 * check), replication (and its check) and the sentinels' steps run in
 * order; then side by side the sentinels' check and the proxies' steps and
 * check (a proxy needs its servers, not Sentinel's hello period); the
 * clean-up last. When a step or check fails, running lanes finish the instance
 * they are on (its steps that belong together: a sentinel's start and its
 * monitors), no other instance starts, and the result says what was done and
 * what was not. The sentinel
 * resets of WAVE_CLEANUP run after the wave's other steps (a replica removed
 * from the spec is stopped before Sentinel is made to forget it).
 *
 * A master the plan creates for a new shard (empty, its replicas started by
 * the same plan, the spec setting no repl-diskless-sync-delay) runs with
 * repl-diskless-sync-delay 0 until its replicas are linked, then gets its
 * value back (CONFIG SET only: its file never holds the 0).
 *
 * Health checks after a wave that changed what they check: every started
 * instance answers; every replica is linked to its master; every sentinel
 * monitors every shard at the planned master, lists each running replica
 * (a failover candidate; allowed 25 s, as Sentinel learns replicas from the
 * master's INFO every 10 s) and knows the other sentinels, checked whenever
 * the plan touched sentinels or replication; every proxy answers PING after
 * AUTH and, unless a shard master is down, GETs 64 fixed keys from its
 * servers without an error reply.
 *
 * One transport per host, opened on first use and reused for the whole run.
 * Secrets: the password is sent to servers and written into config files,
 * never printed, logged or put into an error message.
 */
#ifndef RMGR_APPLY_H
#define RMGR_APPLY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "plan.h"
#include "spec.h"
#include "transport.h"

#define APPLY_DEFAULT_CONNECT_TIMEOUT_MS 1000
#define APPLY_DEFAULT_COMMAND_TIMEOUT_MS 5000
#define APPLY_DEFAULT_READY_TIMEOUT_MS 10000    /* a started instance answers PING */
#define APPLY_DEFAULT_STOP_TIMEOUT_MS 15000     /* TERM -> KILL (a master waits 10 s) */
#define APPLY_DEFAULT_REPL_TIMEOUT_MS 30000     /* every replica linked to its master */
#define APPLY_DEFAULT_SENTINEL_TIMEOUT_MS 15000 /* sentinels agree and know each other */
#define APPLY_DEFAULT_PARALLEL 16               /* instances acted on at once per host */

struct apply_options {
    struct transport_options transport; /* hosts: timeouts, accept_new_host_keys */
    long connect_timeout_ms;  /* per connect to a redis/sentinel/proxy; 0: default */
    long command_timeout_ms;  /* per command; 0: default */
    long ready_timeout_ms;    /* 0: defaults above */
    long stop_timeout_ms;
    long repl_timeout_ms;
    long sentinel_timeout_ms;
    long parallel;            /* instances acted on at once on one host; 0: default */
    FILE *out;                /* progress lines ("[3/12] + start ... done"); NULL: silent */
    bool color;
    /* when set and non-zero (a signal arrived), the running instances finish and no
     * further step starts; the next apply finishes the job. May be NULL. */
    const volatile sig_atomic_t *stop;
    /* Hooks (step_guard.h), each may be NULL; called on the step's own thread around
     * each step that acts. before_step returning non-zero fails that step with *err
     * (not run) and stops the run: the cluster lock's fencing check. */
    int (*before_step)(void *arg, const struct step *st, char **err);
    void (*after_step)(void *arg, const struct step *st, bool ok);
    void *step_arg;
};

struct apply_result {
    size_t done, failed, not_run; /* steps that act ("=" lines are not counted) */
    char *error;                  /* what failed (step or health check); NULL on success */
    char *not_run_list;           /* "[7/12] + start ...\n" per step not run; NULL if none */
};

/*
 * Run every step of `p` (which must not refuse) against the cluster of `s`.
 * `password` is the spec's password or NULL. Returns 0 when every step and
 * every health check passed, -1 otherwise (res says how far it got).
 */
int apply_run(const struct spec *s, const struct plan *p, const char *password,
              const struct apply_options *o, struct apply_result *res);
void apply_result_release(struct apply_result *r);

/*
 * The plan `rmgr destroy` runs: stop every proxy, then every sentinel, then
 * every redis (replicas before masters), each by its pidfile, then remove
 * every instance directory. Waves serve only as that order. The masters are
 * the ones `o` observed (after a failover not the spec's); the spec's when
 * `o` is NULL or saw no master of a shard. Free with plan_free().
 */
struct plan *apply_destroy_plan(const struct spec *s, const struct observed *o);

/*
 * After a destroy: on every host of the spec remove <base_dir>/<cluster>/bin
 * (shipped binaries) and the then empty <base_dir>/<cluster>. 0, or -1 with
 * a message in *err (caller frees).
 */
int apply_remove_cluster_dirs(const struct spec *s, const struct apply_options *o, char **err);

/* ---- pure pieces, exposed for unit tests ---------------------------------- */

/*
 * Split the steps of wave `w` into lanes: lane_of[i] gets the lane of step i
 * (SIZE_MAX for steps of other waves and for "=" steps). The steps of one
 * instance (host, kind, port) share a lane; in WAVE_PROXIES all proxy steps
 * share one, and all sentinel resets share one. Lanes are
 * numbered in order of first appearance. Returns the number of lanes.
 */
size_t apply_lanes(const struct plan *p, enum step_wave w, size_t *lane_of);

/*
 * Whether the lane of step i must wait for the lane holding step j (both of
 * one wave): a replica's start waits for its master's start, and a redis
 * stop with stops_master waits for the stops of its shard's other members.
 */
bool apply_step_waits_for(const struct plan *p, size_t i, size_t j);

/* Whether `path` is strictly inside directory `root` (no "..", "." or "//" in it). */
bool apply_path_inside(const char *path, const char *root);

#endif
