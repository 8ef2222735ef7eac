/*
 * select.h - what the operator's commands (exec, logs, top, backup,
 * failover) share to pick instances from a spec.
 */
#ifndef RMGR_CLI_SELECT_H
#define RMGR_CLI_SELECT_H

#include "spec.h"

/* The shard called `name`, or NULL. */
const struct spec_shard *select_shard(const struct spec *sp, const char *name);

/*
 * 0 when `name` is NULL or a shard of the spec; otherwise print
 * "rmgr: FILE: no shard 'NAME' in the spec" and return EXIT_FAILURE_.
 */
int select_check_shard(const struct spec *sp, const char *name);

#endif
