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
    struct spec_addr leaving;           /* old_master when it is no member of the shard (a
                                           member move, docs/design-move.md): ip:port as the
                                           sentinels report it (strings of the observation) */
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
 * promoted one, both members of the shard (the old master may be one node
 * outside it, which a member move fails over from: fv->leaving), and the
 * old master must not
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

/*
 * Sentinel holds a failover back. An attempt ends without a promotion when
 * no sentinel wins a majority of the votes (a split vote, too few sentinels
 * reachable) or no replica is eligible; every sentinel then waits 2 x
 * failover-timeout from that attempt's start before it tries again (and as
 * long after a failover of the same shard). The master stays o_down and no
 * sentinel flags failover_in_progress meanwhile, which is what
 * failover_held_off() reads, once the master has been o_down longer than an
 * election can last (failover-timeout, at most 10 s, plus Sentinel's start
 * jitter). Pure.
 */
#define SENTINEL_ELECTION_TIMEOUT_MS 10000 /* redis sentinel.c: an election's bound */
#define SENTINEL_START_JITTER_MS 1000      /* sentinel.c SENTINEL_MAX_DESYNC */

struct failover_hold {
    long long odown_ms; /* the longest a reachable spec sentinel has flagged the master o_down */
    long timeout_ms;    /* the shard's failover-timeout, as that sentinel reports it */
    long long retry_in_ms; /* the next attempt starts at the latest this long from now */
};

bool failover_held_off(const struct spec *s, const struct observed *o, size_t shard,
                       struct failover_hold *fh);

/*
 * "no sentinel is failing it over (o_down for 14.2 s): Sentinel abandoned an
 * attempt ...; it tries again at the latest 24.0 s (2 x failover-timeout)
 * after the master went down, in about 9 s". With with_time false the
 * changing times are left out. Caller frees.
 */
char *failover_hold_describe(const struct failover_hold *fh, bool with_time);

#endif
