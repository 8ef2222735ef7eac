/*
 * spec_trusted.h - the I/O of policy mode (spec_policy.h): find the trusted
 * counterpart of a proposed spec at a git ref of its repository, read the
 * allow-list, and refuse a spec before anything connects.
 *
 * `--trusted-spec REF`: REF is a git ref or commit of the repository the
 * proposed spec is in (`origin/main`, `main`, a commit id), read with
 * libgit2 from that repository's objects (for `--repo`, the cache's); the
 * trusted counterpart is the spec with the same `cluster:` in the directory
 * of REF's tree that holds the proposed spec's path. REF may instead be a
 * spec file or a directory of specs written as a path, "/..." or "./..."
 * (a bare word is always a git ref, so a pull request cannot shadow
 * "origin/main" with a directory of that name).
 */
#ifndef RMGR_SPEC_TRUSTED_H
#define RMGR_SPEC_TRUSTED_H

#include <stdio.h>

#include "spec.h"

/*
 * The spec of cluster `cluster` at `ref` (see above) into *out (NULL: there
 * is none there) and its name for messages into *name ("origin/main:specs/prod.yaml";
 * caller frees both). 0, or -1 with *err (REF unknown, the proposed spec not in
 * a git repository, ...).
 */
int spec_trusted_find(const char *ref, const char *proposed_file, const char *cluster,
                      struct spec **out, char **name, char **err);

/*
 * Apply policy mode to `proposed` (read from `proposed_file`): trusted_ref
 * and allow_file may each be NULL (both NULL: nothing to do). Returns 0 when
 * the spec may be observed, or -1 after printing on `err` every refusal
 * (file:line:col: error: ...) or why the policy could not be read, and a
 * last line saying that nothing was connected to.
 */
int spec_policy_enforce(const struct spec *proposed, const char *proposed_file,
                        const char *trusted_ref, const char *allow_file, FILE *err);

#endif
