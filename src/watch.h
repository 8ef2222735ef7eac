/*
 * watch.h - follow Sentinel's +switch-master announcements and repoint the
 * proxies at once (reconcile --watch).
 *
 * nutcracker has no reload and knows nothing of Sentinel: after a failover it
 * keeps sending writes to the old master until its config is rewritten and
 * it is restarted. A full reconcile would notice within its interval; the
 * watcher closes that gap to milliseconds.
 *
 * One thread runs an event loop over a non-blocking hiredis connection per
 * sentinel of every cluster, each SUBSCRIBEd to +switch-master (reconnected
 * with exponential backoff and jitter, checked with PING). When a quorum of
 * a cluster's sentinels (the spec's sentinel quorum) have announced the same
 * new master for a shard, and that master is a member of the shard in the
 * spec, the cluster's worker thread repoints every proxy of the cluster
 * (with repoint_at_promotion, already when the replica Sentinel's leader
 * selected answers ROLE master: watch_episode.h):
 * render nutcracker.yml with the new masters, write it atomically, stop the
 * running nutcracker by its pidfile (the command line is checked first),
 * start it again and wait until it answers. No observation happens first:
 * the masters of the other shards are the ones the last full reconcile
 * found (watch_set_masters), else asked from the sentinels.
 *
 * Clusters are independent: each has its own worker, so a slow proxy host
 * of one cluster delays no other. A repoint holds the cluster's lock
 * (lock.h), the one `rmgr apply` and reconcile's apply take, so they never
 * restart the same proxy at once; reconcile compares watch_generation()
 * before and after planning so it never applies a plan made before a
 * repoint.
 */
#ifndef RMGR_WATCH_H
#define RMGR_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "spec.h"

struct watch;

enum watch_event_kind {
    WATCH_REPOINTED,      /* every proxy of the cluster serves with the new masters */
    WATCH_REPOINT_FAILED, /* at least one proxy could not be repointed */
    WATCH_FAILOVER_SEEN,  /* report only: a quorum agrees on a new master, nothing done */
    WATCH_EPISODE_UNEXPECTED, /* --repoint-at promotion: after the early repoint the failover
                                 was aborted, reselected or announced another master */
};

/* What a worker reports after acting on a failover. Strings are borrowed. */
struct watch_event {
    enum watch_event_kind kind;
    const char *cluster;
    const char *commit;       /* of the spec in use; may be NULL */
    const char *subject;
    const char *shard;        /* the shard whose master changed */
    const char *old_master;   /* "ip:port" the proxies pointed at, or NULL if unknown */
    const char *new_master;   /* "ip:port" */
    double took_ms;           /* trigger (the quorum's +switch-master, or the promotion
                                 with --repoint-at promotion) -> every proxy serving */
    const char *error;        /* WATCH_REPOINT_FAILED: why; WATCH_EPISODE_UNEXPECTED: what */
};

typedef void (*watch_callback)(const struct watch_event *ev, void *arg);

struct watch_options {
    long connect_timeout_ms;  /* sentinels (blocking queries) and proxies; 0: 1000 */
    long ready_timeout_ms;    /* a restarted nutcracker answers PING; 0: 5000 */
    long lock_timeout_ms;     /* wait for the cluster lock; 0: 60000 */
    long backoff_min_ms;      /* first reconnect delay; 0: 100 */
    long backoff_max_ms;      /* cap; 0: 10000 */
    long ping_interval_ms;    /* liveness check of each subscription; 0: 5000 */
    const char *lock_dir;     /* NULL: lock_default_path() */
    bool report_only;         /* log and report failovers, never repoint (no --apply) */
    /* --repoint-at promotion: also follow each shard's failover episode (+odown,
     * +elected-leader, +selected-slave …, watch_episode.h) and repoint when the selected
     * member answers ROLE master, before the quorum's +switch-master */
    bool repoint_at_promotion;
    long promotion_poll_ms;   /* ROLE poll period of the selected member; 0: 5 */
    watch_callback on_event;  /* called from the cluster's worker thread; may be NULL */
    void *arg;
    /* with a fleet (reconcile --lock etcd://): whether this worker holds the cluster's
     * lease; a failover of a cluster it does not hold is left to the holder. NULL: all */
    bool (*may_repoint)(void *fleet, const char *cluster);
    void *fleet;
};

/* Start the event loop thread. NULL with *err set (caller frees) on failure. */
struct watch *watch_start(const struct watch_options *o, char **err);

/*
 * Watch the cluster of `s`, or update it (matched by cluster name): the spec
 * is copied (loaded again from s->source), so the caller keeps its own.
 * Subscriptions to sentinels that are still in the spec are kept.
 */
void watch_set_cluster(struct watch *w, const struct spec *s, const char *password,
                       const char *commit, const char *subject);

/* Stop watching every cluster whose name is not in names[0..n). */
void watch_retain(struct watch *w, char *const *names, size_t n);

/*
 * Repoints started for `cluster` so far (0 for an unknown cluster). A plan
 * computed while this changed may be stale.
 */
unsigned long watch_generation(struct watch *w, const char *cluster);

/*
 * The masters a full reconcile found (masters[i] for s->shards[i], n of
 * them), used to render the shards a failover does not concern. Ignored
 * when a repoint started since `generation` was read.
 */
void watch_set_masters(struct watch *w, const char *cluster, const struct spec_addr *masters,
                       size_t n, unsigned long generation);

/* Change report_only (after the options were read again). */
void watch_set_report_only(struct watch *w, bool report_only);

/* Sentinel subscriptions currently confirmed, over all clusters (for tests and logs). */
size_t watch_subscribed(struct watch *w);

/*
 * Stop: close every subscription, let running repoints finish, join all
 * threads and free everything. NULL is fine.
 */
void watch_stop(struct watch *w);

/* ---- pure pieces, exposed for unit tests ---------------------------------- */

/*
 * Parse a +switch-master payload "<name> <old-ip> <old-port> <new-ip> <new-port>".
 * Returns 0 and fills the out-parameters (caller frees the strings), -1 on junk.
 */
int watch_parse_switch(const char *payload, char **name, char **new_ip, int *new_port,
                       char **old_ip, int *old_port);

/*
 * The quorum rule: `reports` holds each sentinel's latest announced master
 * as "ip:port" (NULL = none). Returns the address that at least `quorum`
 * sentinels agree on, or NULL. Borrowed from `reports`.
 */
const char *watch_quorum_master(char *const *reports, size_t n, int quorum);

/*
 * Whether at least `quorum` of the n reports name `addr`. The watcher asks it
 * for the address a +switch-master just announced: with --repoint-at
 * promotion the proxies may already serve the new master while the other
 * sentinels' reports still name the previous failover's, which must not
 * count as a quorum "for another address".
 */
bool watch_quorum_reached(char *const *reports, size_t n, int quorum, const char *addr);

#endif
