/*
 * reconcile_specs.c - the specs of a run: from git or a file or directory
 * (-f), each loaded with its diagnostics logged, and the sources of the last
 * good read kept to fall back on when the source fails. See
 * reconcile_impl.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "reconcile_impl.h"
#include "spec_source.h"
#include "util.h"

/* ---- specs of a run --------------------------------------------------------------- */

static void run_spec_release(struct run_spec *r)
{
    free(r->file);
    spec_free(r->spec);
}

void reconcile_specs_release(struct run_specs *rs)
{
    ARRAY_FREE(rs->v, rs->n, run_spec_release);
    free(rs->commit);
    free(rs->subject);
    memset(rs, 0, sizeof(*rs));
}

/* -f: the file, or the sorted *.yaml / *.yml files of the directory. */
static int list_local(const char *path, char ***out, size_t *n, char **err)
{
    struct stat st;
    *out = NULL;
    *n = 0;
    if (stat(path, &st) < 0) {
        *err = xasprintf("cannot access '%s': %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        *out = xcalloc(1, sizeof(char *));
        (*out)[0] = xstrdup(path);
        *n = 1;
        return 0;
    }
    if (spec_list_dir(path, NULL, out, n, err) < 0)
        return -1;
    if (*n == 0) {
        free(*out);
        *out = NULL;
        *err = xasprintf("no *.yaml or *.yml files in '%s'", path);
        return -1;
    }
    return 0;
}

static void log_diags(const struct diags *d, const char *commit)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct diag *g = &d->v[i];
        char where[64];
        snprintf(where, sizeof(where), "%d:%d", g->line, g->col);
        struct log_field f[] = {{"file", g->file}, {"at", g->line ? where : NULL}};
        log_event(g->severity == DIAG_ERROR ? LOG_ERROR : LOG_WARN,
                  g->severity == DIAG_ERROR ? "spec-error" : "spec-warning", NULL, commit, f,
                  ARRAY_SIZE(f), "%s", g->message);
    }
}

static void add_spec(struct run_specs *rs, const char *file, struct spec *s)
{
    VEC_GROW(rs->v, rs->n, rs->cap);
    rs->v[rs->n++] = (struct run_spec){xstrdup(file), s};
}

static void saved_spec_release(struct saved_spec *sv)
{
    free(sv->file);
    free(sv->source);
}

void reconcile_saved_release(struct reconciler *r)
{
    ARRAY_FREE(r->saved, r->nsaved, saved_spec_release);
    free(r->saved_commit);
    free(r->saved_subject);
    r->saved = NULL;
    r->nsaved = 0;
    r->saved_commit = r->saved_subject = NULL;
}

/* Keep the sources of a good read, for a run where the source fails. */
static void save_sources(struct reconciler *r, const struct run_specs *rs)
{
    reconcile_saved_release(r);
    r->saved = xcalloc(rs->n + 1, sizeof(*r->saved));
    for (size_t i = 0; i < rs->n; i++) {
        const struct spec *s = rs->v[i].spec;
        if (!s)
            continue;
        struct saved_spec *sv = &r->saved[r->nsaved++];
        sv->file = xstrdup(s->file);
        sv->len = s->source_len;
        sv->source = xmalloc(s->source_len + 1);
        memcpy(sv->source, s->source, s->source_len);
        sv->source[s->source_len] = '\0';
    }
    r->saved_commit = xstrdup(rs->commit);
    r->saved_subject = xstrdup(rs->subject);
}

/* Load every spec of this run. Problems are logged; rs->source_failed says the run failed. */
void reconcile_load_specs(struct reconciler *r, struct run_specs *rs)
{
    const struct reconcile_options *o = r->o;
    char *err = NULL;
    if (git_source_enabled(&o->git)) {
        struct spec_source src;
        if (spec_source_open(&o->git, &src, &err) < 0)
            goto failed;
        const struct git_checkout *co = &src.co;
        rs->commit = xstrdup(co->commit);
        rs->subject = xstrdup(co->subject);
        bool changed = !str_eq(r->saved_commit, co->commit);
        struct log_field f[] = {{"ref", co->ref}, {"subject", co->subject}};
        log_event(changed ? LOG_INFO : LOG_DEBUG, "git-sync", NULL, co->commit, f,
                  ARRAY_SIZE(f), "%s %s at %.12s: %s", co->cloned ? "cloned" : "fetched",
                  co->url, co->commit, co->subject ? co->subject : "");
        if (co->rebuilt)
            log_event(LOG_WARN, "git-cache-rebuilt", NULL, co->commit, NULL, 0,
                      "the cache was cloned again: %s", co->rebuilt);
        for (size_t i = 0; i < src.n; i++) {
            struct diags d = {0};
            struct spec *s = spec_source_load(&src, i, &d);
            diags_sort(&d);
            log_diags(&d, rs->commit);
            diags_release(&d);
            add_spec(rs, src.names[i], s);
        }
        spec_source_release(&src);
    } else {
        char **files = NULL;
        size_t nfiles = 0;
        if (list_local(o->spec_path, &files, &nfiles, &err) < 0)
            goto failed;
        for (size_t i = 0; i < nfiles; i++) {
            struct diags d = {0};
            struct spec *s = spec_load_file(files[i], &d);
            diags_sort(&d);
            log_diags(&d, rs->commit);
            diags_release(&d);
            add_spec(rs, files[i], s);
        }
        spec_list_free(files, nfiles);
    }
    save_sources(r, rs);
    return;

failed:
    log_event(LOG_ERROR, "source-failed", NULL, NULL, NULL, 0, "%s",
              err ? err : "cannot read the specs");
    free(err);
    rs->source_failed = true;
    if (r->nsaved) {
        log_event(LOG_WARN, "source-fallback", NULL, r->saved_commit, NULL, 0,
                  "using the specs of the last good read (%zu clusters)", r->nsaved);
        rs->commit = xstrdup(r->saved_commit);
        rs->subject = xstrdup(r->saved_subject);
        for (size_t i = 0; i < r->nsaved; i++) {
            struct diags d = {0};
            struct spec *s = spec_load_buffer(r->saved[i].file, r->saved[i].source,
                                              r->saved[i].len, &d);
            diags_release(&d);
            add_spec(rs, r->saved[i].file, s);
        }
    }
}
