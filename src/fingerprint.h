/*
 * fingerprint.h - an id for "this spec at this commit against this state".
 *
 * `rmgr plan` prints it, `rmgr plan --out PLANFILE` saves it, and `rmgr apply
 * PLANFILE` refuses ("plan is stale") when the id computed at apply time
 * differs: someone changed the spec or the cluster moved (failover, restart,
 * hand edit) since the plan was reviewed.
 *
 * It covers the spec's bytes, the commit, each redis run_id/role/master,
 * each sentinel's config_epoch, master address and listed replicas per
 * shard, and a hash of
 * each proxy's config text. It never covers offsets, uptimes, timestamps or
 * key counts, which change all the time without changing the plan.
 */
#ifndef RMGR_FINGERPRINT_H
#define RMGR_FINGERPRINT_H

#include "observed.h"
#include "spec.h"

/* 40 hex digits (SHA-1 through libgit2). `commit` and `o` may be NULL. Caller frees. */
char *fingerprint_compute(const struct spec *s, const char *commit, const struct observed *o);

/* The git blob id of the spec's bytes (what `git hash-object` prints); saved plans record it. */
char *fingerprint_spec_sha(const struct spec *s);

/* The canonical text that fingerprint_compute() hashes, for debugging. Caller frees. */
char *fingerprint_canonical(const struct spec *s, const char *commit, const struct observed *o);

#endif
