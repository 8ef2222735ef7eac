/*
 * git_source.c - specs from a git repository: a cached clone that is
 * fetched and force-checked-out on every run (see git_source.h).
 *
 * The cache for one URL is CACHE/<name>, where <name> is the URL made safe
 * for a file name plus a hash of it. Beside it live CACHE/<name>.lock (the
 * flock every sync holds) and, while a clone is under way,
 * CACHE/.<name>.tmp.XXXXXX: a clone is built there and renamed into place
 * only when complete, so a crash never leaves a half clone that looks good.
 *
 * An existing cache is used only when it is a repository whose origin is
 * the same URL, whose HEAD commit and tree can be read, and whose working
 * tree equals that commit; otherwise it is deleted and cloned again. The
 * cache's own config holds no credentials: http(s) userinfo is stripped
 * from the stored URL and handed to libgit2 through the credentials
 * callback instead (URLs, credentials and host keys: git_remote.c).
 */
#include "git_source.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "git_remote.h"
#include "spec.h"
#include "spec_source.h"
#include "util.h"

#define DEFAULT_LOCK_TIMEOUT_MS (10L * 60 * 1000)
#define FETCHED_REF "refs/rmgr/fetched"

/* ------------------------------------------------------------------------ */
/* libgit2 setup and small helpers                                           */

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_init_once(void)
{
    git_libgit2_init();
}

/* libgit2's last error message, never NULL. */
static const char *git_msg(void)
{
    const git_error *e = git_error_last();
    return e && e->message && *e->message ? e->message : "unknown error";
}

static int git_err_class(void)
{
    const git_error *e = git_error_last();
    return e ? e->klass : GIT_ERROR_NONE;
}

static bool is_hex(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* ------------------------------------------------------------------------ */
/* options                                                                   */

bool git_source_enabled(const struct git_source_opts *o)
{
    return o && o->repo;
}

/*
 * Normalise a --path: drop "." and empty components. Returns the relative
 * path ("" for the root), or NULL with *err set when it is absolute or has
 * a ".." or ".git" component.
 */
static char *normalize_path(const char *path, char **err)
{
    struct strbuf sb = {0};
    if (!path)
        return xstrdup("");
    if (path[0] == '/') {
        git_set_err(err, "--path '%s' must be relative to the repository", path);
        return NULL;
    }
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if ((n == 2 && !strncmp(p, "..", 2))) {
            git_set_err(err, "--path '%s' leaves the repository", path);
            sb_release(&sb);
            return NULL;
        }
        if (n == 4 && !strncmp(p, ".git", 4)) {
            git_set_err(err, "--path '%s' points into the .git directory", path);
            sb_release(&sb);
            return NULL;
        }
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (sb.len)
                sb_addc(&sb, '/');
            sb_addn(&sb, p, n);
        }
        p += n;
        if (*p == '/')
            p++;
    }
    if (!sb.buf)
        return xstrdup("");
    return sb_detach(&sb);
}

int git_source_check_opts(const struct git_source_opts *o, char **err)
{
    if (!o->repo) {
        const char *orphan = o->ref ? "--ref" : o->path ? "--path" : o->cache_dir ? "--cache-dir" : NULL;
        if (orphan) {
            git_set_err(err, "%s needs --repo", orphan);
            return -1;
        }
        return 0;
    }
    if (!*o->repo) {
        git_set_err(err, "--repo needs a URL");
        return -1;
    }
    if (o->ref) {
        if (!*o->ref || o->ref[0] == '-') {
            git_set_err(err, "invalid --ref '%s'", o->ref);
            return -1;
        }
        for (const char *c = o->ref; *c; c++) {
            if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == ' ' || *c == '~' || *c == '^' ||
                *c == ':' || *c == '?' || *c == '*' || *c == '[' || *c == '\\') {
                git_set_err(err, "invalid --ref '%s'", o->ref);
                return -1;
            }
        }
        if (strstr(o->ref, "..") || strstr(o->ref, "@{")) {
            git_set_err(err, "invalid --ref '%s'", o->ref);
            return -1;
        }
    }
    if (o->cache_dir && !*o->cache_dir) {
        git_set_err(err, "--cache-dir needs a directory");
        return -1;
    }
    char *np = normalize_path(o->path, err);
    if (!np)
        return -1;
    free(np);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* the cache directory                                                       */

/* The root that holds every cached repository, or NULL with *err. */
static char *cache_root(const struct git_source_opts *o, char **err)
{
    if (o->cache_dir) {
        if (o->cache_dir[0] == '/')
            return xstrdup(o->cache_dir);
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) {
            git_set_err(err, "cannot get the current directory: %s", strerror(errno));
            return NULL;
        }
        return xasprintf("%s/%s", cwd, o->cache_dir);
    }
    char *dir = user_cache_path("repos");
    if (!dir)
        git_set_err(err, "no cache directory: set HOME or XDG_CACHE_HOME, or pass --cache-dir");
    return dir;
}

/* "<readable tail of the URL>-<16 hex of its SHA-1>": safe, short, unique. */
static char *cache_name(const char *store_url)
{
    const char *s = strstr(store_url, "://");
    s = s ? s + 3 : store_url;
    struct strbuf sb = {0};
    for (; *s; s++) {
        char c = *s;
        if (!isalnum((unsigned char)c) && c != '.' && c != '_' && c != '-')
            c = '-';
        if (c == '-' && sb.len && sb.buf[sb.len - 1] == '-')
            continue;
        sb_addc(&sb, c);
    }
    const char *tail = sb_str(&sb);
    if (strlen(tail) > 40)
        tail += strlen(tail) - 40;
    while (*tail == '-' || *tail == '.')
        tail++;
    git_oid oid;
    char hex[GIT_OID_HEXSZ + 1] = {0};
    if (git_odb_hash(&oid, store_url, strlen(store_url), GIT_OBJECT_BLOB) == 0)
        git_oid_tostr(hex, sizeof(hex), &oid);
    else
        memset(hex, '0', GIT_OID_HEXSZ);
    char *name = xasprintf("%s%s%.16s", tail, *tail ? "-" : "", hex);
    sb_release(&sb);
    return name;
}

char *git_source_cache_path(const struct git_source_opts *o, char **err)
{
    pthread_once(&git_once, git_init_once);
    if (!o->repo || !*o->repo) {
        git_set_err(err, "no --repo given");
        return NULL;
    }
    struct src_url u;
    if (git_url_parse(o->repo, &u, err) != 0)
        return NULL;
    char *root = cache_root(o, err);
    char *path = NULL;
    if (root) {
        char *name = cache_name(u.store);
        path = xasprintf("%s/%s", root, name);
        free(name);
    }
    free(root);
    git_url_release(&u);
    return path;
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int mkdir_p(const char *path, char **err)
{
    char *p = xstrdup(path);
    for (char *c = p + 1;; c++) {
        if (*c == '/' || *c == '\0') {
            char saved = *c;
            *c = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                git_set_err(err, "cannot create '%s': %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *c = saved;
            if (!saved)
                break;
        }
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        git_set_err(err, "cache directory '%s' is not a directory", path);
        return -1;
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = type == FTW_DP ? rmdir(path) : unlink(path);
    return rc != 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf without following symlinks. Missing is fine. */
static int rm_rf(const char *path, char **err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : (git_set_err(err, "cannot remove '%s': %s", path, strerror(errno)), -1);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT) {
            git_set_err(err, "cannot remove '%s': %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        git_set_err(err, "cannot remove '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Remove the leftovers of clones that crashed: ROOT/.<name>.tmp.* */
static void remove_stale_tmp(const char *root, const char *name)
{
    DIR *d = opendir(root);
    if (!d)
        return;
    char *prefix = xasprintf(".%s.tmp.", name);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (str_starts_with(de->d_name, prefix)) {
            char *p = xasprintf("%s/%s", root, de->d_name);
            rm_rf(p, NULL);
            free(p);
        }
    }
    free(prefix);
    closedir(d);
}

/* Take the exclusive lock on `lockpath`, waiting up to timeout_ms. Returns the fd or -1. */
static int lock_cache(const char *lockpath, long timeout_ms, char **err)
{
    int fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        git_set_err(err, "cannot open lock file '%s': %s", lockpath, strerror(errno));
        return -1;
    }
    long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : DEFAULT_LOCK_TIMEOUT_MS);
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            git_set_err(err, "cannot lock '%s': %s", lockpath, strerror(errno));
            break;
        }
        if (now_ms() >= deadline) {
            git_set_err(err, "cache '%s' is locked by another rmgr process", lockpath);
            break;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    close(fd);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* fetch, resolve, checkout                                                  */

enum { SYNC_OK = 0, SYNC_FAIL = -1, SYNC_LOCAL = -2 }; /* LOCAL: the cache itself is at fault */

/* Turn a failed fetch into a plain message. Returns SYNC_LOCAL when the
 * failure looks like local corruption rather than a problem with the remote. */
static int fetch_error(int rc, const struct remote_ctx *cx, char **err)
{
    const char *url = cx->u->display;
    if (cx->cert_rejected) {
        git_set_err(err, "cannot fetch from %s: %s", url, cx->cert_error);
        return SYNC_FAIL;
    }
    if (rc == GIT_EAUTH || cx->exhausted) {
        if (cx->offered)
            git_set_err(err, "authentication failed for %s", url);
        else
            git_set_err(err, "authentication failed for %s: no credentials (set RMGR_GIT_TOKEN, "
                         "RMGR_GIT_USERNAME and RMGR_GIT_PASSWORD, or RMGR_GIT_SSH_KEY)", url);
        return SYNC_FAIL;
    }
    if (rc == GIT_ECERTIFICATE) {
        git_set_err(err, "cannot fetch from %s: certificate check failed: %s", url, git_msg());
        return SYNC_FAIL;
    }
    int klass = git_err_class();
    git_set_err(err, "cannot fetch from %s: %s", url, git_msg());
    switch (klass) {
    case GIT_ERROR_ODB:
    case GIT_ERROR_OBJECT:
    case GIT_ERROR_ZLIB:
    case GIT_ERROR_REFERENCE:
    case GIT_ERROR_REPOSITORY:
    case GIT_ERROR_INDEX:
    case GIT_ERROR_CONFIG:
    case GIT_ERROR_FILESYSTEM:
        return SYNC_LOCAL;
    default:
        return SYNC_FAIL;
    }
}

/*
 * Fetch from origin. With refspec NULL: every branch (as origin/NAME) and
 * every tag, pruning what the remote deleted, and the remote's default
 * branch into *default_branch when that is not NULL (it may stay NULL).
 * Otherwise just that refspec. Returns SYNC_OK, SYNC_FAIL or SYNC_LOCAL.
 */
static int do_fetch(git_repository *repo, struct remote_ctx *cx, const char *refspec,
                    char **default_branch, char **err)
{
    static char *all[] = {"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"};
    char *one[1] = {(char *)refspec};
    git_strarray specs = refspec ? (git_strarray){one, 1} : (git_strarray){all, 2};
    /*
     * An in-memory remote for the URL the cache was checked against: no
     * url.*.insteadOf rewriting from the user's config, and no config scan
     * with libgit2 1.5.1's regex matcher, which leaks on every non-match
     * (fixed in 1.6.1) and would grow a reconcile daemon without bound.
     */
    git_remote *remote = NULL;
    git_remote_create_options ro = GIT_REMOTE_CREATE_OPTIONS_INIT;
    ro.repository = repo;
    ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    if (git_remote_create_with_opts(&remote, cx->u->store, &ro) != 0) {
        git_set_err(err, "cannot set up remote %s: %s", cx->u->display, git_msg());
        return SYNC_LOCAL;
    }
    git_fetch_options fo = GIT_FETCH_OPTIONS_INIT;
    fo.callbacks.credentials = git_remote_credentials;
    fo.callbacks.certificate_check = git_remote_check_cert;
    fo.callbacks.payload = cx;
    fo.prune = refspec ? GIT_FETCH_NO_PRUNE : GIT_FETCH_PRUNE;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE; /* tags come through the refspec */
    cx->tried_userpass = cx->tried_key = cx->tried_agent = cx->tried_username = false;
    cx->exhausted = cx->offered = cx->cert_rejected = false;
    git_error_clear();
    int rc = git_remote_fetch(remote, &specs, &fo, "rmgr: fetch");
    if (rc != 0) {
        rc = fetch_error(rc, cx, err);
        git_remote_free(remote);
        return rc;
    }
    if (default_branch) {
        git_buf buf = {0};
        if (git_remote_default_branch(&buf, remote) == 0 && buf.ptr &&
            str_starts_with(buf.ptr, "refs/heads/"))
            *default_branch = xstrdup(buf.ptr + strlen("refs/heads/"));
        git_buf_dispose(&buf);
        git_error_clear();
    }
    git_remote_free(remote);
    return SYNC_OK;
}

/* Look `refname` up and peel it to a commit id. 0, GIT_ENOTFOUND, or another error. */
static int peel_ref(git_repository *repo, const char *refname, git_oid *out)
{
    git_reference *ref = NULL;
    git_object *obj = NULL;
    int rc = git_reference_lookup(&ref, repo, refname);
    if (rc == 0)
        rc = git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT);
    if (rc == 0)
        git_oid_cpy(out, git_object_id(obj));
    git_object_free(obj);
    git_reference_free(ref);
    return rc;
}

/* Fetch `what` (a ref name or a full commit id) alone into FETCHED_REF. */
static int fetch_one(git_repository *repo, struct remote_ctx *cx, const char *what, char **err)
{
    git_reference *ref = NULL;
    /* drop the previous one so an old fetch cannot answer for this one */
    if (git_reference_lookup(&ref, repo, FETCHED_REF) == 0)
        git_reference_delete(ref);
    git_reference_free(ref);
    git_error_clear();
    char *spec = xasprintf("+%s:%s", what, FETCHED_REF);
    int rc = do_fetch(repo, cx, spec, NULL, err);
    free(spec);
    return rc;
}

/* Find a commit by a 4..40 digit id. 0, GIT_ENOTFOUND, GIT_EAMBIGUOUS, or another error. */
static int lookup_commit_id(git_repository *repo, const char *hex, git_oid *out)
{
    git_oid prefix;
    git_object *obj = NULL, *commit = NULL;
    int rc = git_oid_fromstrn(&prefix, hex, strlen(hex));
    if (rc == 0)
        rc = git_object_lookup_prefix(&obj, repo, &prefix, strlen(hex), GIT_OBJECT_ANY);
    if (rc == 0)
        rc = git_object_peel(&commit, obj, GIT_OBJECT_COMMIT);
    if (rc == 0)
        git_oid_cpy(out, git_object_id(commit));
    else if (obj)
        rc = GIT_ENOTFOUND; /* an id of something that is not a commit */
    git_object_free(commit);
    git_object_free(obj);
    return rc;
}

/*
 * Find the commit for `ref` (NULL: the default branch) much as git does: a
 * full ref name, else a tag, a branch, a commit id. A ref outside
 * refs/heads and refs/tags (refs/pull/1/head) and a full commit id that no
 * branch or tag reaches are fetched on their own. Returns SYNC_OK,
 * SYNC_FAIL (nothing wrong with the cache) or SYNC_LOCAL.
 */
static int resolve(git_repository *repo, struct remote_ctx *cx, const char *ref,
                   const char *default_branch, git_oid *out, char **err)
{
    const char *url = cx->u->display;
    char *name;
    int rc;

    if (!ref) {
        if (!default_branch) {
            git_set_err(err, "%s has no default branch (is it empty?): pass --ref", url);
            return SYNC_FAIL;
        }
        name = xasprintf("refs/remotes/origin/%s", default_branch);
        rc = peel_ref(repo, name, out);
        free(name);
        if (rc == 0)
            return SYNC_OK;
        git_set_err(err, "default branch '%s' of %s cannot be read: %s", default_branch, url, git_msg());
        return SYNC_LOCAL;
    }
    if (str_starts_with(ref, "refs/heads/")) {
        name = xasprintf("refs/remotes/origin/%s", ref + strlen("refs/heads/"));
        rc = peel_ref(repo, name, out);
        free(name);
    } else if (str_starts_with(ref, "refs/tags/")) {
        rc = peel_ref(repo, ref, out);
    } else if (str_starts_with(ref, "refs/")) {
        if ((rc = fetch_one(repo, cx, ref, err)) != SYNC_OK)
            return rc;
        rc = peel_ref(repo, FETCHED_REF, out);
    } else {
        rc = GIT_ENOTFOUND;
        const char *forms[] = {"refs/tags/%s", "refs/remotes/origin/%s"};
        for (size_t i = 0; i < ARRAY_SIZE(forms) && rc == GIT_ENOTFOUND; i++) {
            name = xasprintf(forms[i], ref);
            rc = peel_ref(repo, name, out);
            if (rc == GIT_EINVALIDSPEC)
                rc = GIT_ENOTFOUND;
            free(name);
        }
        if (rc == GIT_ENOTFOUND && is_hex(ref, 4, GIT_OID_HEXSZ)) {
            rc = lookup_commit_id(repo, ref, out);
            if (rc == GIT_EAMBIGUOUS) {
                git_set_err(err, "commit id '%s' is ambiguous in %s: give more digits", ref, url);
                return SYNC_FAIL;
            }
            if (rc == GIT_ENOTFOUND && strlen(ref) == GIT_OID_HEXSZ) {
                /* a commit no branch or tag reaches (a pull request's head): ask for it */
                char *ferr = NULL;
                if (fetch_one(repo, cx, ref, &ferr) == SYNC_OK) {
                    rc = lookup_commit_id(repo, ref, out);
                } else {
                    git_set_err(err, "ref '%s' not found in %s (fetching it by id: %s)", ref, url, ferr);
                    free(ferr);
                    return SYNC_FAIL;
                }
            }
        }
    }
    if (rc == 0)
        return SYNC_OK;
    if (rc == GIT_ENOTFOUND) {
        git_set_err(err, "ref '%s' not found in %s", ref, url);
        return SYNC_FAIL;
    }
    git_set_err(err, "cannot resolve ref '%s' in %s: %s", ref, url, git_msg());
    return SYNC_LOCAL;
}

/* What a sync reports about the commit it checked out. */
struct commit_info {
    char id[GIT_OID_HEXSZ + 1];
    char *subject;
    char *refname; /* --ref, or the default branch's name */
};

static void commit_info_release(struct commit_info *ci)
{
    free(ci->subject);
    free(ci->refname);
    memset(ci, 0, sizeof(*ci));
}

/* Force the working tree to `id`, detach HEAD there, and describe the commit. */
static int checkout_commit(git_repository *repo, const git_oid *id, struct commit_info *ci,
                           char **err)
{
    git_commit *commit = NULL;
    git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
    co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED |
                           GIT_CHECKOUT_REMOVE_IGNORED;
    if (git_commit_lookup(&commit, repo, id) != 0 ||
        git_checkout_tree(repo, (const git_object *)commit, &co) != 0 ||
        git_repository_set_head_detached(repo, id) != 0) {
        git_set_err(err, "cannot check out %.12s: %s", git_oid_tostr_s(id), git_msg());
        git_commit_free(commit);
        return SYNC_LOCAL;
    }
    git_oid_tostr(ci->id, sizeof(ci->id), id);
    const char *summary = git_commit_summary(commit);
    ci->subject = xstrdup(summary ? summary : "");
    git_commit_free(commit);
    return SYNC_OK;
}

/*
 * Why the existing cache at `workdir` cannot be used, or NULL when it can
 * (then *repo_out is open). Caller frees the reason.
 */
static char *cache_problem(const char *workdir, const char *store_url, git_repository **repo_out)
{
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    git_status_list *st = NULL;
    git_commit *head = NULL;
    git_tree *tree = NULL;
    char *why = NULL;
    struct stat sb;
    git_oid id;

    if (lstat(workdir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        why = xstrdup("it is not a directory");
        goto out;
    }
    if (git_repository_open_ext(&repo, workdir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) != 0) {
        why = xasprintf("it is not a usable repository (%s)", git_msg());
        goto out;
    }
    const char *wd = git_repository_workdir(repo);
    char *want = xasprintf("%s/", workdir);
    bool same = wd && !strcmp(wd, want);
    free(want);
    if (git_repository_is_bare(repo) || !same) {
        why = xstrdup("it is not a working tree of its own");
        goto out;
    }
    const char *origin = NULL;
    if (git_repository_config_snapshot(&cfg, repo) != 0 ||
        git_config_get_string(&origin, cfg, "remote.origin.url") != 0) {
        why = xstrdup("it has no origin remote");
        goto out;
    }
    if (!str_eq(origin, store_url)) {
        why = xstrdup("its remote URL differs");
        goto out;
    }
    if (git_reference_name_to_id(&id, repo, "HEAD") != 0 || git_commit_lookup(&head, repo, &id) != 0 ||
        git_commit_tree(&tree, head) != 0) {
        why = xasprintf("its HEAD or objects are broken (%s)", git_msg());
        goto out;
    }
    git_status_options so = GIT_STATUS_OPTIONS_INIT;
    so.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
    so.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
               GIT_STATUS_OPT_INCLUDE_IGNORED | GIT_STATUS_OPT_RECURSE_IGNORED_DIRS |
               GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
    if (git_status_list_new(&st, repo, &so) != 0) {
        why = xasprintf("its status cannot be read (%s)", git_msg());
        goto out;
    }
    size_t n = git_status_list_entrycount(st);
    if (n > 0) {
        const git_status_entry *e = git_status_byindex(st, 0);
        const git_diff_delta *d = e->index_to_workdir ? e->index_to_workdir : e->head_to_index;
        const char *p = d ? (d->new_file.path ? d->new_file.path : d->old_file.path) : NULL;
        why = xasprintf("its working tree was modified (%zu path%s, e.g. '%s')", n,
                        n == 1 ? "" : "s", p ? p : "?");
        goto out;
    }
out:
    git_error_clear();
    git_status_list_free(st);
    git_tree_free(tree);
    git_commit_free(head);
    git_config_free(cfg);
    if (why) {
        git_repository_free(repo);
        repo = NULL;
    }
    *repo_out = repo;
    return why;
}

/* ------------------------------------------------------------------------ */
/* sync                                                                      */

struct sync_job {
    const struct git_source_opts *o;
    struct src_url u;
    char *root, *name, *workdir;
    struct remote_ctx cx;
};

/* Fetch, resolve and check out in an open repository. */
static int update_repo(struct sync_job *j, git_repository *repo, struct commit_info *ci,
                       char **err)
{
    char *default_branch = NULL;
    git_oid id;
    const char *ref = str_eq(j->o->ref, "HEAD") ? NULL : j->o->ref; /* HEAD: the default */
    int rc = do_fetch(repo, &j->cx, NULL, ref ? NULL : &default_branch, err);
    if (rc == SYNC_OK)
        rc = resolve(repo, &j->cx, ref, default_branch, &id, err);
    if (rc == SYNC_OK)
        rc = checkout_commit(repo, &id, ci, err);
    if (rc == SYNC_OK)
        ci->refname = xstrdup(ref ? ref : default_branch);
    free(default_branch);
    return rc;
}

/* Clone into a temporary directory beside the cache, then move it into place. */
static int clone_fresh(struct sync_job *j, struct commit_info *ci, char **err)
{
    char *tmp = xasprintf("%s/.%s.tmp.XXXXXX", j->root, j->name);
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    int rc = SYNC_FAIL;

    if (!mkdtemp(tmp)) {
        git_set_err(err, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return SYNC_FAIL;
    }
    git_repository_init_options io = GIT_REPOSITORY_INIT_OPTIONS_INIT;
    io.flags = GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
    /*
     * origin is written by hand rather than with io.origin_url (which scans
     * the config with the leaking regex matcher, see do_fetch); core.autocrlf
     * off keeps the specs' bytes exactly as committed, whatever the user's
     * global config says.
     */
    if (git_repository_init_ext(&repo, tmp, &io) != 0 || git_repository_config(&cfg, repo) != 0 ||
        git_config_set_string(cfg, "remote.origin.url", j->u.store) != 0 ||
        git_config_set_string(cfg, "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*") != 0 ||
        git_config_set_bool(cfg, "core.autocrlf", 0) != 0) {
        git_set_err(err, "cannot create a repository in '%s': %s", tmp, git_msg());
        git_config_free(cfg);
        git_repository_free(repo);
        goto out;
    }
    git_config_free(cfg);
    rc = update_repo(j, repo, ci, err);
    git_repository_free(repo);
    if (rc != SYNC_OK)
        goto out;
    if (rm_rf(j->workdir, err) != 0) {
        rc = SYNC_FAIL;
        goto out;
    }
    if (rename(tmp, j->workdir) != 0) {
        git_set_err(err, "cannot move the clone to '%s': %s", j->workdir, strerror(errno));
        rc = SYNC_FAIL;
        goto out;
    }
    rc = SYNC_OK;
out:
    if (rc != SYNC_OK)
        commit_info_release(ci);
    rm_rf(tmp, NULL);
    free(tmp);
    return rc;
}

/*
 * Point out->spec_path at workdir/rel, refusing what is missing or what a
 * symlink leads outside the repository to.
 */
static int locate_specs(struct git_checkout *out, char **err)
{
    const char *shown = *out->path ? out->path : ".";
    char *p = *out->path ? xasprintf("%s/%s", out->workdir, out->path) : xstrdup(out->workdir);
    char *real = NULL, *realwd = NULL;
    struct stat st;
    int rc = -1;

    if (lstat(p, &st) != 0) {
        git_set_err(err, "path '%s' not found in %s at %s (%.7s)", shown, out->url, out->ref, out->commit);
        goto out;
    }
    real = realpath(p, NULL);
    realwd = realpath(out->workdir, NULL);
    size_t n = realwd ? strlen(realwd) : 0;
    if (!real && realwd) {
        git_set_err(err, "path '%s' in %s is a broken symlink", shown, out->url);
        goto out;
    }
    if (!real || !realwd || strncmp(real, realwd, n) != 0 || (real[n] != '/' && real[n] != '\0')) {
        git_set_err(err, "path '%s' leaves the repository %s", shown, out->url);
        goto out;
    }
    if (strstr(real + n, "/.git/") || !strcmp(real + n, "/.git")) {
        git_set_err(err, "path '%s' points into the .git directory", shown);
        goto out;
    }
    if (stat(p, &st) != 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
        git_set_err(err, "path '%s' in %s is neither a directory nor a file", shown, out->url);
        goto out;
    }
    out->spec_is_file = S_ISREG(st.st_mode);
    out->spec_path = p;
    p = NULL;
    rc = 0;
out:
    free(p);
    free(real);
    free(realwd);
    return rc;
}

int git_source_sync(const struct git_source_opts *o, struct git_checkout *out, char **err)
{
    struct sync_job j = {.o = o};
    struct commit_info ci = {0};
    git_repository *repo = NULL;
    char *lockpath = NULL, *why = NULL, *rel = NULL;
    int rc = -1;
    struct stat st;

    memset(out, 0, sizeof(*out));
    out->lock_fd = -1;
    pthread_once(&git_once, git_init_once);
    if (!o->repo) {
        git_set_err(err, "no --repo given");
        return -1;
    }
    if (git_source_check_opts(o, err) != 0 || !(rel = normalize_path(o->path, err)))
        return -1;
    if (git_url_parse(o->repo, &j.u, err) != 0) {
        free(rel);
        return -1;
    }
    j.cx.u = &j.u;
    if (!(j.root = cache_root(o, err)) || mkdir_p(j.root, err) != 0)
        goto out;
    j.name = cache_name(j.u.store);
    j.workdir = xasprintf("%s/%s", j.root, j.name);
    lockpath = xasprintf("%s.lock", j.workdir);
    if ((out->lock_fd = lock_cache(lockpath, o->lock_timeout_ms, err)) < 0)
        goto out;
    out->locked = true;
    remove_stale_tmp(j.root, j.name);

    if (lstat(j.workdir, &st) == 0) {
        why = cache_problem(j.workdir, j.u.store, &repo);
    } else if (errno != ENOENT) {
        git_set_err(err, "cannot use cache '%s': %s", j.workdir, strerror(errno));
        goto out;
    }
    if (repo) {
        int r = update_repo(&j, repo, &ci, err);
        git_repository_free(repo);
        if (r == SYNC_FAIL)
            goto out;
        if (r == SYNC_LOCAL) {
            why = xasprintf("updating it failed (%s)", *err);
            free(*err);
            *err = NULL;
        }
    }
    if (!ci.refname) {
        if (clone_fresh(&j, &ci, err) != SYNC_OK)
            goto out;
        out->cloned = true;
        out->rebuilt = why;
        why = NULL;
    }

    out->url = xstrdup(j.u.display);
    out->workdir = xstrdup(j.workdir);
    out->path = rel;
    rel = NULL;
    out->ref = ci.refname;
    ci.refname = NULL;
    memcpy(out->commit, ci.id, sizeof(out->commit));
    out->subject = ci.subject;
    ci.subject = NULL;
    if (locate_specs(out, err) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        git_checkout_release(out);
    commit_info_release(&ci);
    free(j.cx.cert_error);
    git_url_release(&j.u);
    free(j.root);
    free(j.name);
    free(j.workdir);
    free(lockpath);
    free(why);
    free(rel);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* spec files                                                                */

int git_source_list_specs(const struct git_checkout *c, char ***out, size_t *nout, char **err)
{
    *out = NULL;
    *nout = 0;
    if (!c || !c->spec_path) {
        git_set_err(err, "no checkout");
        return -1;
    }
    if (c->spec_is_file) {
        char **v = xmalloc(sizeof(*v));
        v[0] = xstrdup(c->spec_path);
        *out = v;
        *nout = 1;
        return 0;
    }
    char *msg = NULL;
    int rc = spec_list_dir(c->spec_path, c->workdir, out, nout, &msg);
    if (rc == -2)
        git_set_err(err, "spec '%s' in %s is a symlink that leads outside the repository", msg,
                c->url);
    else if (rc < 0)
        git_set_err(err, "%s", msg);
    free(msg);
    if (rc < 0)
        return -1;
    if (*nout == 0) {
        git_set_err(err, "no spec files (*.yaml, *.yml) in '%s' of %s at %s (%.7s)",
                *c->path ? c->path : ".", c->url, c->ref, c->commit);
        return -1;
    }
    return 0;
}

void git_source_free_list(char **list, size_t n)
{
    spec_list_free(list, n);
}

/* ------------------------------------------------------------------------ */
/* checkout lifetime                                                         */

void git_checkout_unlock(struct git_checkout *c)
{
    if (!c || !c->locked)
        return;
    close(c->lock_fd); /* closing the only descriptor releases the flock */
    c->locked = false;
    c->lock_fd = -1;
}

void git_checkout_release(struct git_checkout *c)
{
    if (!c)
        return;
    git_checkout_unlock(c);
    free(c->url);
    free(c->workdir);
    free(c->path);
    free(c->spec_path);
    free(c->ref);
    free(c->subject);
    free(c->rebuilt);
    memset(c, 0, sizeof(*c));
    c->lock_fd = -1;
}
