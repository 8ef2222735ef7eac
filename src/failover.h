/*
 * failover.h - tell a Sentinel failover that is under way from an ambiguity.
 *
 * While Sentinel fails a shard over, what rmgr observes looks ambiguous: the
 * promoted replica answers role:master before any sentinel names it, the
 * other sentinels switch to it from the leader's hello messages about a
 * second before the leader itself does, and the leader keeps reporting the
 * old master (flags ...,failover_in_progress) until its failover ends. None of
 * that is "two masters" or "sentinels disagree": it is a state that ends by
 * itself within failover-timeout. failover_detect() reads it off the observed
 * model. It is pure: no I/O.
 */
#ifndef RMGR_FAILOVER_H
#define RMGR_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "observed.h"
#include "spec.h"

struct failover_view {
    const struct spec_addr *old_master; /* the member being replaced */
    const struct spec_addr *promoting;  /* the member promoted or being promoted; NULL
                                           while Sentinel has not picked one */
    const struct spec_addr *leader;     /* the spec sentinel running it; NULL when none of
                                           the reachable ones says so */
    const char *state;                  /* the leader's failover-state, or NULL */
    long long epoch;                    /* the failover's epoch; 0 when unknown */
    long long elapsed_ms;               /* since the master was flagged o_down; -1 unknown */
    size_t switched;                    /* sentinels that already report `promoting` */
    size_t sentinels;                   /* reachable sentinels that monitor the shard */
};

/*
 * Whether shard `shard` (index into s->shards) is being failed over by
 * Sentinel right now, as `o` shows it, filling *fv when so. True when:
 *  - a reachable spec sentinel flags the shard's master failover_in_progress
 *    (it leads the failover); or
 *  - a sentinel flags it o_down (a quorum agreed it is down) while another
 *    member answers role:master or is flagged promoted; or
 *  - the sentinels are split between a master they flag down and a member
 *    with a newer config epoch that answers role:master (the new
 *    configuration is still spreading).
 * In every case each sentinel must name either the old master or the
 * promoted one, both members of the shard, and the old master must not
 * answer as a master: anything else is not Sentinel at work, and the
 * planner's refusals apply as before.
 */
bool failover_detect(const struct spec *s, const struct observed *o, size_t shard,
                     struct failover_view *fv);

/*
 * "Sentinel failover in progress (leader 10.0.0.3:26379, epoch 3, state
 * wait_promotion, promoting 10.0.0.3:6379, 1.2 s so far)": one line for the
 * plan and for apply's progress. With with_time false the elapsed time is
 * left out (to tell whether anything changed between two polls). Caller frees.
 */
char *failover_describe(const struct failover_view *fv, bool with_time);

#endif
