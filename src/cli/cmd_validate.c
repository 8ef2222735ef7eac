/*
 * cmd_validate.c - `rmgr validate [-f] PATH...`: load every spec named (files, or
 * directories of *.yaml / *.yml), print every problem sorted by position,
 * and one summary line per cluster when all is well. Writes nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "diag.h"
#include "git_source.h"
#include "spec.h"
#include "spec_source.h"
#include "util.h"

struct pathlist {
    char **v;
    size_t n, cap;
};

static void pathlist_add(struct pathlist *pl, char *p)
{
    VEC_GROW(pl->v, pl->n, pl->cap);
    pl->v[pl->n++] = p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add `arg` (a file), or the sorted .yaml and .yml files of `arg` (a directory). */
static void expand_arg(const char *arg, struct pathlist *out, struct diags *d)
{
    struct stat st;
    if (stat(arg, &st) < 0) {
        diags_add(d, DIAG_ERROR, NULL, 0, 0, "cannot access '%s': %s", arg, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        pathlist_add(out, xstrdup(arg));
        return;
    }
    DIR *dir = opendir(arg);
    if (!dir) {
        diags_add(d, DIAG_ERROR, NULL, 0, 0, "cannot open directory '%s': %s", arg,
                  strerror(errno));
        return;
    }
    struct pathlist found = {0};
    size_t len = strlen(arg);
    const char *sep = len && arg[len - 1] == '/' ? "" : "/";
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!spec_is_file_name(de->d_name))
            continue;
        char *p = xasprintf("%s%s%s", arg, sep, de->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            pathlist_add(&found, p);
        else
            free(p);
    }
    closedir(dir);
    if (found.n == 0)
        diags_add(d, DIAG_ERROR, NULL, 0, 0, "no *.yaml or *.yml files in '%s'", arg);
    if (found.n > 1)
        qsort(found.v, found.n, sizeof(*found.v), cmp_str);
    for (size_t i = 0; i < found.n; i++)
        pathlist_add(out, found.v[i]);
    free(found.v);
}

/*
 * Keep the first of the paths naming one file (`specs/a.yaml specs/`, a
 * symlink): the same spec twice would be reported as a duplicate cluster.
 */
static void drop_repeated_files(struct pathlist *files)
{
    char **real = xcalloc(files->n ? files->n : 1, sizeof(*real));
    size_t n = 0;
    for (size_t i = 0; i < files->n; i++) {
        real[i] = realpath(files->v[i], NULL); /* NULL: unreadable, reported by the load */
        bool seen = false;
        for (size_t j = 0; real[i] && j < i && !seen; j++)
            seen = real[j] && !strcmp(real[i], real[j]);
        if (seen)
            free(files->v[i]);
        else
            files->v[n++] = files->v[i];
    }
    for (size_t i = 0; i < files->n; i++)
        free(real[i]);
    free(real);
    files->n = n;
}

static void print_summary(const struct spec *s)
{
    size_t redis = 0;
    for (size_t i = 0; i < s->nshards; i++)
        redis += 1 + s->shards[i].nreplicas;
    printf("%s: cluster '%s': %zu shard%s, %zu redis, %zu sentinel%s, %zu prox%s\n", s->file,
           s->cluster, s->nshards, s->nshards == 1 ? "" : "s", redis, s->sentinel.nnodes,
           s->sentinel.nnodes == 1 ? "" : "s", s->nproxies, s->nproxies == 1 ? "y" : "ies");
}

/*
 * "-f PATH", "--file PATH" or "--file=PATH", as the other commands take a spec:
 * 1 with *value set, 0 when argv[*i] is another argument, -1 when the value is missing.
 */
static int file_option(int argc, char **argv, int *i, const char **value)
{
    const char *a = argv[*i];
    if (!strncmp(a, "--file=", 7)) {
        *value = a + 7;
        return **value ? 1 : -1;
    }
    if (strcmp(a, "-f") != 0 && strcmp(a, "--file") != 0)
        return 0;
    if (*i + 1 >= argc || !argv[*i + 1][0])
        return -1;
    *value = argv[++*i];
    return 1;
}

int cmd_validate(int argc, char **argv)
{
    const struct command *cmd = cli_find_command("validate");
    struct pathlist args = {0};
    struct git_source_opts git = {0};
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        if (!opts_done && !strcmp(argv[i], "--")) {
            opts_done = true;
            continue;
        }
        const char *file;
        int frc = opts_done ? 0 : file_option(argc, argv, &i, &file);
        if (frc < 0) {
            free(args.v);
            return cli_usage_error(cmd, "option '%s' needs a value", argv[i]);
        }
        if (frc > 0) {
            pathlist_add(&args, (char *)file);
            continue;
        }
        if (!opts_done && argv[i][0] == '-' && argv[i][1]) {
            int rc = git_source_parse_opt(&git, argv[i], i + 1 < argc ? argv[i + 1] : NULL);
            if (rc > 0) {
                i += rc - 1;
                continue;
            }
            free(args.v);
            if (rc < 0)
                return cli_usage_error(cmd, "option '%s' needs a value", argv[i]);
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        }
        pathlist_add(&args, argv[i]);
    }
    char *gerr = NULL;
    if (git_source_enabled(&git) && args.n) {
        free(args.v);
        return cli_usage_error(cmd, "--repo and PATH arguments exclude each other");
    }
    if (git_source_check_opts(&git, &gerr) < 0) {
        free(args.v);
        int rc = cli_usage_error(cmd, "%s", gerr);
        free(gerr);
        return rc;
    }
    if (args.n == 0 && !git_source_enabled(&git)) {
        free(args.v);
        return cli_usage_error(cmd, "validate needs at least one PATH (or --repo URL)");
    }

    struct diags d = {0};
    struct pathlist files = {0};
    struct spec_source src = {0};
    if (git_source_enabled(&git)) {
        if (spec_source_open(&git, &src, &gerr) < 0) {
            fprintf(stderr, "rmgr: %s\n", gerr ? gerr : "cannot read the repository");
            free(gerr);
            free(args.v);
            return EXIT_FAILURE_;
        }
        char *what = spec_source_describe(&src);
        printf("%s\n", what);
        free(what);
        for (size_t i = 0; i < src.n; i++)
            pathlist_add(&files, xstrdup(src.names[i]));
    }
    for (size_t i = 0; i < args.n; i++)
        expand_arg(args.v[i], &files, &d);
    free(args.v);
    drop_repeated_files(&files);

    struct spec **specs = xcalloc(files.n ? files.n : 1, sizeof(*specs));
    for (size_t i = 0; i < files.n; i++)
        specs[i] = src.n ? spec_source_load(&src, i, &d) : spec_load_file(files.v[i], &d);
    spec_source_release(&src);

    /* a cluster name names one cluster: two specs for it would fight */
    for (size_t i = 0; i < files.n; i++) {
        for (size_t j = 0; specs[i] && j < i; j++) {
            if (specs[j] && !strcmp(specs[i]->cluster, specs[j]->cluster)) {
                diags_add(&d, DIAG_ERROR, specs[i]->file, specs[i]->cluster_pos.line,
                          specs[i]->cluster_pos.col,
                          "duplicate cluster name '%s' (first in %s:%d:%d)", specs[i]->cluster,
                          specs[j]->file, specs[j]->cluster_pos.line, specs[j]->cluster_pos.col);
                break;
            }
        }
    }

    diags_sort(&d);
    diags_print(&d, stderr);
    bool failed = diags_count(&d, DIAG_ERROR) > 0;
    if (!failed)
        for (size_t i = 0; i < files.n; i++)
            print_summary(specs[i]);

    for (size_t i = 0; i < files.n; i++) {
        spec_free(specs[i]);
        free(files.v[i]);
    }
    free(specs);
    free(files.v);
    diags_release(&d);
    return failed ? EXIT_FAILURE_ : EXIT_OK;
}
