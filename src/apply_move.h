/*
 * apply_move.h - the executors of a member move's own step kinds
 * (wait-sync, failover): apply_steps.c's table names them. Private to apply.
 */
#ifndef RMGR_APPLY_MOVE_H
#define RMGR_APPLY_MOVE_H

#include "apply_impl.h"

/*
 * wait-sync: wait until the step's redis replicates from the step's master
 * with its link up, has reached the master's master_repl_offset and is
 * listed healthy by every spec sentinel. 0, or -1 and *err saying what was
 * still missing.
 */
int exec_wait_sync(struct run *r, struct hostc *h, const struct step *st, const char **note,
                   char **err);

/*
 * failover: a planned switchover of the step's shard through Sentinel onto
 * the step's redis, from the step's master (switchover.c, with writes paused
 * on the old master); the proxies are left to the plan's proxy steps. 0, or
 * -1 and *err.
 */
int exec_failover(struct run *r, struct hostc *h, const struct step *st, const char **note,
                  char **err);

#endif
