/*
 * failover_wait.h - wait, watching, while Sentinel fails shards over.
 *
 * A plan whose shards wait on Sentinel (a master down that Sentinel is to
 * fail over, or a failover under way) cannot be carried out for them yet;
 * apply and reconcile --apply wait here until Sentinel is done, then plan
 * again. Each poll observes only the waiting shards' members and the
 * sentinels (no files, no proxies), and says on `out` what Sentinel is doing
 * whenever that changes.
 */
#ifndef RMGR_FAILOVER_WAIT_H
#define RMGR_FAILOVER_WAIT_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "observe.h"
#include "plan.h"
#include "spec.h"

#define FAILOVER_WAIT_DEFAULT (-1) /* each shard's down-after + failover-timeout (+ slack, or
                                      Sentinel's next attempt: failover_wait_bound_ms()) */
#define FAILOVER_WAIT_POLL_MS 100
/* Sentinel agrees on o_down and starts an attempt up to ~2 s after down-after
   (FIELD-NOTES: 3.1-3.3 s to a promotion with down-after 2000 ms) */
#define FAILOVER_WAIT_SLACK_MS 3000

struct failover_wait_options {
    long wait_ms;                     /* FAILOVER_WAIT_DEFAULT, or the bound for all shards */
    long poll_ms;                     /* 0: FAILOVER_WAIT_POLL_MS */
    struct observe_options observe;   /* timeouts and password; filters are set here */
    volatile sig_atomic_t *stop;      /* set by a signal: stop waiting; may be NULL */
    FILE *out;                        /* progress lines; NULL: silent */
};

enum failover_wait_result {
    FAILOVER_WAIT_SETTLED,  /* no shard waits any more (or one became refused: plan again) */
    FAILOVER_WAIT_TIMEOUT,  /* a shard still waits at its deadline: *why says which */
    FAILOVER_WAIT_STOPPED,  /* *stop was set */
};

/*
 * Wait until none of the shards that `p` counts as waiting (p->shard_waiting)
 * still waits. On FAILOVER_WAIT_TIMEOUT, *why (caller frees) names the shard,
 * how long rmgr waited and what Sentinel was doing then.
 */
enum failover_wait_result failover_wait(const struct spec *s, const struct plan *p,
                                        const struct failover_wait_options *o, char **why);

/*
 * The longest rmgr waits by default for shard i: its down-after plus its
 * failover-timeout, as the sentinels report them (else the spec's), plus
 * FAILOVER_WAIT_SLACK_MS. When Sentinel abandons an attempt
 * (failover_held_off()), the wait grows once to cover its next attempt: it
 * starts at the latest 2 x failover-timeout after the master went down and
 * may take failover-timeout.
 */
long failover_wait_bound_ms(const struct spec *s, const struct observed *obs, size_t i);

#endif
