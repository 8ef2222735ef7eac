/*
 * git_source.h - specs from a git repository (GitOps).
 *
 * `--repo URL [--ref REF] [--path DIR] [--cache-dir DIR]` is an alternative
 * to `-f`: the repository is cloned once into a cache directory, and every
 * run fetches and force-checks-out REF (detached), so a pipeline that runs
 * `plan` on a pull request and `apply` on merge, or a reconcile daemon,
 * always reads exactly the committed specs. A cache somebody edited, or one
 * that is broken (not a repository, broken objects, another remote URL), is
 * deleted and cloned again. An flock on a lock file beside the cache keeps
 * two rmgr processes from syncing the same cache at once.
 *
 * URLs: https://, http://, ssh://, user@host:path, git://, file:// and plain
 * paths. Credentials come from the environment, never from the command line:
 *   RMGR_GIT_TOKEN                        https token (user RMGR_GIT_USERNAME,
 *                                         else the URL's user, else x-access-token)
 *   RMGR_GIT_USERNAME, RMGR_GIT_PASSWORD  https basic auth
 *   RMGR_GIT_SSH_KEY                      ssh private key file (else ssh-agent);
 *   RMGR_GIT_SSH_PASSPHRASE               its passphrase, if any
 *   RMGR_GIT_KNOWN_HOSTS                  extra known_hosts file (ssh host keys are
 *                                         always checked against ~/.ssh/known_hosts)
 * A user and password written in an http(s) URL are used too, but they are
 * never written to the cache's config nor shown: messages show the URL
 * without its userinfo.
 */
#ifndef RMGR_GIT_SOURCE_H
#define RMGR_GIT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

/* The command line's options for these (--repo ...) are rows of src/cli/opt.h. */

/*
 * What the user asked for. The strings are borrowed (typically argv) and
 * must outlive the calls that use them. Zero-initialise to start.
 */
struct git_source_opts {
    const char *repo;      /* --repo; NULL: specs do not come from git */
    const char *ref;       /* --ref; NULL or "HEAD": the remote's HEAD branch */
    const char *path;      /* --path; NULL: the repository's root */
    const char *cache_dir; /* --cache-dir: parent of the per-repository caches */
    long lock_timeout_ms;  /* wait for another process's lock; 0: 10 minutes */
};

/* What git_source_sync() checked out. Everything is owned; see git_checkout_release(). */
struct git_checkout {
    char *url;         /* the repository URL as shown to users: no userinfo */
    char *workdir;     /* absolute path of the checked-out tree inside the cache */
    char *path;        /* --path normalised, relative to workdir; "" for the root */
    char *spec_path;   /* workdir/path: a directory, or one spec file */
    bool spec_is_file; /* --path named a file */
    char *ref;         /* what was checked out: branch or tag name, ref, or commit id */
    char commit[41];   /* the commit id, 40 hex digits */
    char *subject;     /* the commit's subject (git log --format=%s) */
    bool cloned;       /* this run cloned (first run, or the cache was rebuilt) */
    char *rebuilt;     /* why an existing cache was deleted and cloned again, or NULL */
    bool locked;       /* private: the cache lock is held (lock_fd) */
    int lock_fd;
};

/* true when --repo was given */
bool git_source_enabled(const struct git_source_opts *o);

/*
 * Check the options without touching disk or network: --ref/--path/--cache-dir
 * need --repo, --path must be relative and stay inside the repository.
 * Returns 0, or -1 with *err set (caller frees).
 */
int git_source_check_opts(const struct git_source_opts *o, char **err);

/*
 * Clone (first time) or fetch, then check out o->ref detached and forced
 * into the cache. On success returns 0 and fills *out, which then holds the
 * cache's lock so the files do not change while the caller reads them: call
 * git_checkout_release() (or git_checkout_unlock()) as soon as the specs are
 * loaded; a second sync of the same cache in the same process before that
 * waits for the lock. On failure returns -1, *out is empty (release is still
 * safe) and *err says why (caller frees), e.g. "ref 'x' not found in URL",
 * "authentication failed for URL", "path 'x' not found in URL at REF (ID)".
 */
int git_source_sync(const struct git_source_opts *o, struct git_checkout *out, char **err);

/*
 * The spec files of a checkout: every *.yaml and *.yml directly in
 * spec_path (hidden files skipped, sorted by name), or spec_path itself when
 * it is a file. Absolute paths. Symlinks that lead outside the repository
 * are refused. No spec files is an error. Returns 0, or -1 with *err set.
 */
int git_source_list_specs(const struct git_checkout *c, char ***out, size_t *n, char **err);

/* Free a list from git_source_list_specs(); NULL is fine. */
void git_source_free_list(char **list, size_t n);

/* Release the cache lock early; the strings stay valid. */
void git_checkout_unlock(struct git_checkout *c);

/* Unlock and free everything in *c, leaving it empty. A zeroed struct is fine. */
void git_checkout_release(struct git_checkout *c);

/* The URL with any userinfo of an http(s) URL removed and any password
 * removed elsewhere, for messages. Caller frees. */
char *git_source_redact_url(const char *url);

/* The cache directory that o->repo would use (nothing is created).
 * Returns NULL with *err set when the URL or the cache root is unusable. */
char *git_source_cache_path(const struct git_source_opts *o, char **err);

#endif
