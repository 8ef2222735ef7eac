/*
 * spec_source.h - where specs come from: the spec files of a directory, and
 * the specs a command reads from a git repository
 * (`--repo URL [--ref REF] [--path DIR] [--cache-dir DIR]`, git_source.h).
 *
 * Commands show a spec by its path inside the repository ("specs/prod.yaml"),
 * not by where the cache happens to keep it, and carry the commit id and
 * subject into their output (plan text and JSON, saved plans, notifications).
 */
#ifndef RMGR_SPEC_SOURCE_H
#define RMGR_SPEC_SOURCE_H

#include <stddef.h>
#include <stdio.h>

#include "diag.h"
#include "git_source.h"
#include "spec.h"

/*
 * The spec files of directory `dir` (spec_is_file_name: *.yaml, *.yml, not
 * hidden; regular files, symlinks followed), sorted by name, each as
 * "dir/name" (no doubled '/'). With `root` set, a symlink among them that
 * leads outside the directory `root` is refused. Returns 0 with *out (caller
 * frees with spec_list_free; *n may be 0: the caller says what "no spec"
 * means), -1 with *err when the directory cannot be opened, or -2 with *err
 * the entry's file name when a symlink leads outside `root`.
 */
int spec_list_dir(const char *dir, const char *root, char ***out, size_t *n, char **err);

/* Free a list from spec_list_dir. NULL is fine. */
void spec_list_free(char **list, size_t n);

struct spec_source {
    struct git_checkout co; /* url, commit, subject, ref; the cache lock until released */
    char **files;           /* absolute paths of the spec files in the cache */
    char **names;           /* the same, relative to the repository root */
    size_t n;
};

/*
 * Fetch and check out the repository and list its specs. 0, or -1 with *err
 * (caller frees). The cache stays locked until spec_source_release() or
 * spec_source_unlock(): load the specs first.
 */
int spec_source_open(const struct git_source_opts *o, struct spec_source *out, char **err);

/* Load spec i, named by its repository path in messages. NULL (and diagnostics) on errors. */
struct spec *spec_source_load(const struct spec_source *src, size_t i, struct diags *d);

/*
 * For commands that act on one cluster (plan, apply): open the repository,
 * insist on exactly one spec under --path, load it (diagnostics on `err`)
 * and unlock the cache. Returns the spec (caller frees; src keeps the
 * commit, subject and names until released), or NULL after saying why on
 * `err`.
 */
struct spec *spec_source_load_one(const struct git_source_opts *o, struct spec_source *src,
                                  FILE *err);

/* Let other processes sync the cache; names, commit and subject stay valid. */
void spec_source_unlock(struct spec_source *src);

/* "<url> at <ref> (<12 digits of the commit>): <subject>", for a command's first line. Caller frees. */
char *spec_source_describe(const struct spec_source *src);

/* Free everything and unlock. A zeroed struct is fine. */
void spec_source_release(struct spec_source *src);

#endif
