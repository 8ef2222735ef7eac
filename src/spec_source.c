/*
 * spec_source.c - the spec files of a directory, and specs from a git
 * checkout, named by their repository path. See spec_source.h.
 */
#include "spec_source.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

/* ---- the spec files of a directory ------------------------------------- */

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether the symlink `path` resolves to somewhere under `realroot` (of length rn). */
static bool link_stays_inside(const char *path, const char *realroot, size_t rn)
{
    char *real = realpath(path, NULL);
    bool inside = real && realroot && !strncmp(real, realroot, rn) && real[rn] == '/';
    free(real);
    return inside;
}

int spec_list_dir(const char *dir, const char *root, char ***out, size_t *n, char **err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        *err = xasprintf("cannot open directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    char *realroot = root ? realpath(root, NULL) : NULL;
    size_t rn = realroot ? strlen(realroot) : 0;
    size_t len = strlen(dir);
    const char *sep = len && dir[len - 1] == '/' ? "" : "/";
    char **v = NULL;
    size_t nv = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!spec_is_file_name(de->d_name))
            continue;
        char *p = xasprintf("%s%s%s", dir, sep, de->d_name);
        struct stat st;
        if (root && lstat(p, &st) == 0 && S_ISLNK(st.st_mode) &&
            !link_stays_inside(p, realroot, rn)) {
            *err = xstrdup(de->d_name);
            free(p);
            rc = -2;
            break;
        }
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            VEC_GROW(v, nv, cap);
            v[nv++] = p;
        } else {
            free(p);
        }
    }
    closedir(d);
    free(realroot);
    if (rc < 0) {
        spec_list_free(v, nv);
        return rc;
    }
    if (nv > 1)
        qsort(v, nv, sizeof(*v), cmp_path);
    *out = v;
    *n = nv;
    return 0;
}

void spec_list_free(char **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* ---- specs from a git checkout ----------------------------------------- */

int spec_source_open(const struct git_source_opts *o, struct spec_source *out, char **err)
{
    memset(out, 0, sizeof(*out));
    if (git_source_sync(o, &out->co, err) < 0)
        return -1;
    if (git_source_list_specs(&out->co, &out->files, &out->n, err) < 0) {
        spec_source_release(out);
        return -1;
    }
    out->names = xcalloc(out->n + 1, sizeof(char *));
    size_t wl = strlen(out->co.workdir);
    for (size_t i = 0; i < out->n; i++) {
        const char *f = out->files[i];
        if (!strncmp(f, out->co.workdir, wl) && f[wl] == '/')
            out->names[i] = xstrdup(f + wl + 1);
        else
            out->names[i] = xstrdup(f);
    }
    return 0;
}

struct spec *spec_source_load(const struct spec_source *src, size_t i, struct diags *d)
{
    char *data;
    size_t len;
    if (read_file(src->files[i], SPEC_MAX_FILE_SIZE, &data, &len) < 0) {
        if (errno == EFBIG)
            diags_add(d, DIAG_ERROR, src->names[i], 0, 0, "spec is larger than %d bytes",
                      SPEC_MAX_FILE_SIZE);
        else
            diags_add(d, DIAG_ERROR, NULL, 0, 0, "cannot read '%s': %s", src->names[i],
                      strerror(errno));
        return NULL;
    }
    struct spec *s = spec_load_buffer(src->names[i], data, len, d);
    free(data);
    return s;
}

struct spec *spec_source_load_one(const struct git_source_opts *o, struct spec_source *src,
                                  FILE *err)
{
    char *msg = NULL;
    if (spec_source_open(o, src, &msg) < 0) {
        fprintf(err, "rmgr: %s\n", msg ? msg : "cannot read the repository");
        free(msg);
        return NULL;
    }
    if (src->n != 1) {
        fprintf(err, "rmgr: '%s' has %zu specs in '%s': this command takes one, name it "
                     "with --path\n",
                src->co.url, src->n, src->co.path && *src->co.path ? src->co.path : ".");
        for (size_t i = 0; i < src->n; i++)
            fprintf(err, "  %s\n", src->names[i]);
        return NULL;
    }
    struct diags d = {0};
    struct spec *s = spec_source_load(src, 0, &d);
    diags_sort(&d);
    diags_print(&d, err);
    diags_release(&d);
    spec_source_unlock(src); /* the bytes are loaded: let others sync the cache */
    return s;
}

void spec_source_unlock(struct spec_source *src)
{
    git_checkout_unlock(&src->co);
}

char *spec_source_describe(const struct spec_source *src)
{
    return xasprintf("%s at %s (%.12s): %s", src->co.url ? src->co.url : "?",
                     src->co.ref ? src->co.ref : "?", src->co.commit,
                     src->co.subject ? src->co.subject : "");
}

void spec_source_release(struct spec_source *src)
{
    if (!src)
        return;
    git_source_free_list(src->files, src->n);
    for (size_t i = 0; src->names && i < src->n; i++)
        free(src->names[i]);
    free(src->names);
    git_checkout_release(&src->co);
    memset(src, 0, sizeof(*src));
}
