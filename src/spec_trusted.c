/*
 * spec_trusted.c - read the trusted spec (git ref or path) and the
 * allow-list, then spec_policy_check(). See spec_trusted.h.
 */
#include "spec_trusted.h"

#include <errno.h>
#include <git2.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diag.h"
#include "spec_policy.h"
#include "spec_source.h"
#include "util.h"

#define ALLOW_LIST_MAX_SIZE (1024 * 1024)

static const char *git_msg(void)
{
    const git_error *e = git_error_last();
    return e && e->message && *e->message ? e->message : "unknown error";
}

static bool is_path(const char *ref)
{
    return ref[0] == '/' || !strncmp(ref, "./", 2) || !strncmp(ref, "../", 3);
}

/* A loaded spec when its cluster is `cluster`, else NULL (freed). Diagnostics dropped:
 * a broken file at the trusted ref is simply not the counterpart. */
static struct spec *keep_if(struct spec *s, const char *cluster)
{
    if (s && str_eq(s->cluster, cluster))
        return s;
    spec_free(s);
    return NULL;
}

static int find_in_path(const char *ref, const char *cluster, struct spec **out, char **name,
                        char **err)
{
    struct stat st;
    if (stat(ref, &st) < 0) {
        *err = xasprintf("--trusted-spec '%s': %s", ref, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        struct diags d = {0};
        *out = keep_if(spec_load_file(ref, &d), cluster);
        diags_release(&d);
        *name = xstrdup(ref);
        return 0;
    }
    char **list = NULL;
    size_t n = 0;
    if (spec_list_dir(ref, NULL, &list, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && !*out; i++) {
        struct diags d = {0};
        *out = keep_if(spec_load_file(list[i], &d), cluster);
        diags_release(&d);
        if (*out)
            *name = xstrdup(list[i]);
    }
    if (!*out)
        *name = xstrdup(ref);
    spec_list_free(list, n);
    return 0;
}

/* Load blob entry `e` of `tree` as a spec when it is a regular file named like a spec. */
static struct spec *load_entry(git_repository *repo, const git_tree_entry *e, const char *ref,
                               const char *dir, const char *cluster, char **name, char **why)
{
    git_filemode_t mode = git_tree_entry_filemode(e);
    const char *fn = git_tree_entry_name(e);
    if ((mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE) ||
        !spec_is_file_name(fn))
        return NULL;
    git_blob *blob = NULL;
    if (git_blob_lookup(&blob, repo, git_tree_entry_id(e)) != 0)
        return NULL;
    struct spec *s = NULL;
    git_object_size_t size = git_blob_rawsize(blob);
    char *shown = *dir ? xasprintf("%s:%s/%s", ref, dir, fn) : xasprintf("%s:%s", ref, fn);
    if (size <= SPEC_MAX_FILE_SIZE) {
        struct diags d = {0};
        struct spec *any = spec_load_buffer(shown, git_blob_rawcontent(blob), (size_t)size, &d);
        if (!any && why) {
            diags_sort(&d);
            for (size_t i = 0; i < d.n && !*why; i++)
                if (d.v[i].severity == DIAG_ERROR)
                    *why = xasprintf("%s:%d:%d: %s", shown, d.v[i].line, d.v[i].col,
                                     d.v[i].message);
        }
        s = keep_if(any, cluster);
        diags_release(&d);
    }
    git_blob_free(blob);
    if (s)
        *name = shown;
    else
        free(shown);
    return s;
}

static int find_in_git(const char *ref, const char *proposed_file, const char *cluster,
                       struct spec **out, char **name, char **err)
{
    git_libgit2_init();
    int rc = -1;
    git_repository *repo = NULL;
    git_object *obj = NULL;
    git_tree *root = NULL, *sub = NULL;
    git_tree_entry *dent = NULL;
    char *real = realpath(proposed_file, NULL), *wreal = NULL, *rel = NULL;
    if (!real) {
        *err = xasprintf("--trusted-spec: cannot resolve '%s': %s", proposed_file, strerror(errno));
        goto out;
    }
    char *dcopy = xstrdup(real);
    int orc = git_repository_open_ext(&repo, dirname(dcopy), 0, NULL);
    free(dcopy);
    if (orc != 0 || !git_repository_workdir(repo)) {
        *err = xasprintf("--trusted-spec '%s': '%s' is not in a git repository (REF is a git "
                         "ref of the spec's repository, or a path such as ./trusted/)",
                         ref, proposed_file);
        goto out;
    }
    wreal = realpath(git_repository_workdir(repo), NULL);
    size_t wl = wreal ? strlen(wreal) : 0;
    if (!wreal || strncmp(real, wreal, wl) || real[wl] != '/') {
        *err = xasprintf("--trusted-spec '%s': '%s' is not inside the work tree of its "
                         "repository", ref, proposed_file);
        goto out;
    }
    rel = xstrdup(real + wl + 1);
    if (git_revparse_single(&obj, repo, ref) != 0) {
        *err = xasprintf("--trusted-spec: ref '%s' not found in the repository at %s: %s", ref,
                         wreal, git_msg());
        goto out;
    }
    git_object *peeled = NULL;
    if (git_object_peel(&peeled, obj, GIT_OBJECT_TREE) != 0) {
        *err = xasprintf("--trusted-spec: '%s' is not a commit or tree: %s", ref, git_msg());
        goto out;
    }
    root = (git_tree *)peeled;
    char *slash = strrchr(rel, '/');
    const char *base = slash ? slash + 1 : rel;
    const char *dir = "";
    const git_tree *tree = root;
    if (slash) {
        *slash = '\0';
        dir = rel;
        if (git_tree_entry_bypath(&dent, root, dir) != 0 ||
            git_tree_entry_type(dent) != GIT_OBJECT_TREE ||
            git_tree_lookup(&sub, repo, git_tree_entry_id(dent)) != 0) {
            /* the directory is new in the pull request: no counterpart */
            *name = xasprintf("%s:%s", ref, dir);
            rc = 0;
            goto out;
        }
        tree = sub;
    }
    /* the same file first, then the others of its directory */
    const git_tree_entry *same = git_tree_entry_byname(tree, base);
    char *why = NULL; /* the same file at REF does not load: say so rather than "new cluster" */
    if (same)
        *out = load_entry(repo, same, ref, dir, cluster, name, &why);
    for (size_t i = 0, n = git_tree_entrycount(tree); i < n && !*out; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        if (e != same)
            *out = load_entry(repo, e, ref, dir, cluster, name, NULL);
    }
    if (!*out && why) {
        *err = xasprintf("--trusted-spec: the trusted spec does not load, so it cannot vouch "
                         "for this one: %s", why);
        free(why);
        goto out;
    }
    free(why);
    if (!*out)
        *name = *dir ? xasprintf("%s:%s", ref, dir) : xstrdup(ref);
    rc = 0;
out:
    git_tree_entry_free(dent);
    git_tree_free(sub);
    git_tree_free(root);
    git_object_free(obj);
    git_repository_free(repo);
    free(real);
    free(wreal);
    free(rel);
    return rc;
}

int spec_trusted_find(const char *ref, const char *proposed_file, const char *cluster,
                      struct spec **out, char **name, char **err)
{
    *out = NULL;
    *name = NULL;
    if (!ref || !*ref) {
        *err = xstrdup("--trusted-spec needs a git ref or a path");
        return -1;
    }
    return is_path(ref) ? find_in_path(ref, cluster, out, name, err)
                        : find_in_git(ref, proposed_file, cluster, out, name, err);
}

int spec_policy_enforce(const struct spec *proposed, const char *proposed_file,
                        const char *trusted_ref, const char *allow_file, FILE *err)
{
    if (!trusted_ref && !allow_file)
        return 0;
    struct diags d = {0};
    struct allow_list allow = {0};
    struct spec *trusted = NULL;
    char *tname = NULL, *msg = NULL;
    int rc = -1;
    if (allow_file) {
        char *data = NULL;
        size_t len = 0;
        if (read_file(allow_file, ALLOW_LIST_MAX_SIZE, &data, &len) < 0) {
            fprintf(err, "rmgr: --allow-hosts: cannot read '%s': %s\n", allow_file,
                    errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
            goto out;
        }
        size_t bad = allow_list_parse(allow_file, data, len, &allow, &d);
        free(data);
        if (bad)
            goto print;
    }
    if (trusted_ref &&
        spec_trusted_find(trusted_ref, proposed_file, proposed->cluster, &trusted, &tname,
                          &msg) < 0) {
        fprintf(err, "rmgr: %s\n", msg);
        goto out;
    }
    struct spec_policy p = {
        .trusted_mode = trusted_ref != NULL,
        .trusted = trusted,
        .trusted_name = tname ? tname : trusted_ref,
        .trusted_ref = trusted_ref,
        .allow = allow_file ? &allow : NULL,
    };
    if (spec_policy_check(proposed, &p, &d) == 0)
        rc = 0;
print:
    diags_sort(&d);
    diags_print(&d, err);
    if (rc < 0)
        fprintf(err, "rmgr: refused by policy (%s%s%s): nothing was connected to\n",
                trusted_ref ? "--trusted-spec " : "", trusted_ref ? trusted_ref : "",
                allow_file ? (trusted_ref ? ", --allow-hosts" : "--allow-hosts") : "");
out:
    diags_release(&d);
    allow_list_release(&allow);
    spec_free(trusted);
    free(tname);
    free(msg);
    return rc;
}
