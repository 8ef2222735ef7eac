/*
 * switchover.h - `rmgr failover`: a planned switchover of one shard through
 * Sentinel.
 *
 * Sentinel owns which member is master, so rmgr never promotes a replica
 * itself: it checks that a replica is linked and caught up and known to
 * every sentinel, steers Sentinel's choice with replica-priority when a
 * target is given (Sentinel reads it from INFO only every 10 s, so rmgr waits
 * until every sentinel shows it), pauses writes on the master (CLIENT PAUSE
 * WRITE) and checks again that the replica holds every one, sends SENTINEL
 * FAILOVER, waits until a quorum of sentinels names the new master, makes the
 * old master its replica (REPLICAOF, as Sentinel would a few seconds later)
 * and ends the pause, puts the priorities back and repoints the proxies: a
 * write the old master acknowledged is never lost with it, the writes it held
 * are refused (READONLY) rather than accepted and lost.
 */
#ifndef RMGR_SWITCHOVER_H
#define RMGR_SWITCHOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "plan.h"
#include "spec.h"

/* The replica-priority that makes a target Sentinel's first choice. */
#define SWITCHOVER_BEST_PRIORITY 1

/* What was seen of one replica of the shard, for the readiness check. */
struct switchover_member {
    const struct spec_addr *addr;
    bool reached;         /* answered INFO */
    bool replica_of_master; /* role:slave of the current master */
    bool link_up;         /* master_link_status:up */
    long long offset;     /* slave_repl_offset */
    size_t sentinels_ok;  /* sentinels listing it without s_down/disconnected */
};

/*
 * Whether member m is ready to be promoted: linked to the master, caught up
 * (its offset at least `master_offset`, the master's offset read before the
 * replica's) and known to all `nsentinels`. When not, *why (caller frees)
 * says what is missing, "127.0.0.1:7002: link down".
 */
bool switchover_member_ready(const struct switchover_member *m, long long master_offset,
                             size_t nsentinels, char **why);

/*
 * Whether the plan shows a converged cluster: nothing to change, nothing
 * refused, waiting or unreachable. When not, *why (caller frees) says what.
 */
bool switchover_converged(const struct plan *p, char **why);

/*
 * The replica-priority each replica gets for the switchover onto `to`
 * (index into the members): the target SWITCHOVER_BEST_PRIORITY, every
 * other replica that Sentinel could prefer or tie with (0 < priority <=
 * best) best + 1; the others keep theirs (0 never promotes). `current`
 * and `out` have n entries.
 */
void switchover_priorities(const long *current, size_t n, size_t to, long *out);

struct switchover_options {
    const char *to;          /* "ip:port" of the replica to promote, or NULL */
    long timeout_ms;         /* the whole switchover, priorities included */
    long connect_timeout_ms;
    long command_timeout_ms;
    FILE *out;               /* progress lines */
    bool lock_held;          /* the caller holds the cluster lock (apply): the proxies are
                                repointed without taking it */
    bool no_repoint; /* the caller repoints the proxies (apply's proxy steps) */
};

/*
 * Switch shard `shard` over, as described above; `p` is a plan made from a
 * fresh observation (the current master). Returns 0 with *new_master set
 * ("ip:port", caller frees), or -1 with *err set (caller frees); once
 * Sentinel switched, the proxies are repointed even when the promoted member
 * is not the one asked for (then -1 says so).
 */
int switchover_run(const struct spec *s, const char *password, const struct plan *p,
                   size_t shard, const struct switchover_options *o, char **new_master,
                   char **err);

#endif
