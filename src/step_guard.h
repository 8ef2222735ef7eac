/*
 * step_guard.h - what runs around each step of an apply that acts
 * (apply_options.before_step/after_step):
 *
 *   - fencing: lock_check on the cluster's lock before the step; a lock no
 *     longer ours (an etcd lease lost, the key taken by another worker)
 *     fails the step before it acts, and the apply stops;
 *   - the step journal, a debugging aid: with $RMGR_STEP_JOURNAL set to a
 *     file, one line is appended (O_APPEND, one write) when a step starts
 *     and when it ends:
 *         <unix ms> <pid> <worker> <cluster> start <kind> <ip>:<port>
 *         <unix ms> <pid> <worker> <cluster> end|fail <kind> <ip>:<port>
 *     Several processes may share one file (the fleet test checks from it
 *     that no two workers ever act on one cluster at once).
 */
#ifndef RMGR_STEP_GUARD_H
#define RMGR_STEP_GUARD_H

#include "apply.h"
#include "lock.h"

struct step_guard {
    const char *cluster;       /* borrowed */
    const char *worker;        /* borrowed; NULL: "-" */
    struct cluster_lock *lock; /* borrowed; NULL: nothing to check */
    int journal_fd;            /* -1: no journal */
};

/* Fill g and point ao's hooks at it; g must outlive the apply. */
void step_guard_init(struct step_guard *g, struct apply_options *ao, const char *cluster,
                     const char *worker, struct cluster_lock *lock);
void step_guard_release(struct step_guard *g);

#endif
