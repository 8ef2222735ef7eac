/*
 * cmd_validate.c - `rmgr validate [-f] PATH...`: load every spec named (files, or
 * directories of *.yaml / *.yml), print every problem sorted by position,
 * and one summary line per cluster when all is well. Writes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "diag.h"
#include "git_source.h"
#include "ha_lint.h"
#include "observe.h"
#include "opt.h"
#include "session.h"
#include "spec.h"
#include "spec_source.h"
#include "spec_trusted.h"
#include "top.h"
#include "util.h"

/* Add `arg` (a file), or the sorted .yaml and .yml files of `arg` (a directory). */
static void expand_arg(const char *arg, struct strvec *out, struct diags *d)
{
    struct stat st;
    if (stat(arg, &st) < 0) {
        diags_add(d, DIAG_ERROR, NULL, 0, 0, "cannot access '%s': %s", arg, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        strvec_add(out, xstrdup(arg));
        return;
    }
    char **found = NULL, *err = NULL;
    size_t nfound = 0;
    if (spec_list_dir(arg, NULL, &found, &nfound, &err) < 0) {
        diags_add(d, DIAG_ERROR, NULL, 0, 0, "%s", err);
        free(err);
        return;
    }
    if (nfound == 0)
        diags_add(d, DIAG_ERROR, NULL, 0, 0, "no *.yaml or *.yml files in '%s'", arg);
    for (size_t i = 0; i < nfound; i++)
        strvec_add(out, found[i]); /* the paths move to out */
    free(found);
}

/*
 * Keep the first of the paths naming one file (`specs/a.yaml specs/`, a
 * symlink): the same spec twice would be reported as a duplicate cluster.
 */
static void drop_repeated_files(struct strvec *files)
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

struct validate_args {
    struct strvec paths; /* PATH arguments and -f values, in order */
    struct git_source_opts git;
    bool ha, observe, json;
    struct session_options so; /* only --trusted-spec and --allow-hosts */
};

/* A PATH, or the value of -f/--file: the same, as the other commands take a spec. */
static int add_path(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)opt;
    (void)err;
    strvec_add(dest, xstrdup(value));
    return 0;
}

static const struct cli_opt validate_opts[] = {
    {CLI_OPT_STRING, 'f', "file", offsetof(struct validate_args, paths), add_path, .arg = "PATH",
     .help = "the same as PATH, as the other commands take a spec"},
    CLI_OPTS_GIT_SOURCE(struct validate_args, git, ""),
    {CLI_OPT_FLAG, 0, "ha", offsetof(struct validate_args, ha),
     .help = "also name the single points of failure of each layout\n"
             "(exit 3 when there are any)"},
    {CLI_OPT_FLAG, 0, "observe", offsetof(struct validate_args, observe),
     .help = "with --ha: today's masters from Sentinel and the\n"
             "masters' used_memory (contacts the cluster)"},
    {CLI_OPT_FLAG, 0, "json", offsetof(struct validate_args, json),
     .help = "with --ha: the risks as one JSON document on stdout"},
    CLI_OPT_SECRETS_DIR,
    CLI_OPTS_POLICY(struct validate_args, so),
    {CLI_OPT_ARG, 0, NULL, offsetof(struct validate_args, paths), add_path}, /* PATH... */
};

/*
 * With --observe: what Sentinel and the masters say of spec s now. Returns
 * 0, or -1 when the password cannot be read (said on stderr).
 */
static int observe_ha(const struct spec *s, struct ha_observed *out)
{
    char *password = NULL, *err = NULL;
    if (spec_read_password(s, &password, &err) < 0) {
        fprintf(stderr, "rmgr: %s: %s\n", s->file, err ? err : "cannot read the password");
        free(err);
        return -1;
    }
    struct observe_options oo = {
        .connect_timeout_ms = SESSION_DEFAULT_CONNECT_TIMEOUT_MS,
        .command_timeout_ms = SESSION_DEFAULT_COMMAND_TIMEOUT_MS,
        .password = password,
        .skip_files = true,
    };
    struct observed *o = observe_cluster(s, &oo);
    struct top_sample t = {0};
    top_sample(s, password, oo.connect_timeout_ms, oo.command_timeout_ms, &t);
    long long *mem = xcalloc(s->nshards ? s->nshards : 1, sizeof(*mem));
    for (size_t i = 0; i < s->nshards; i++)
        mem[i] = i < t.nshards && t.shards[i].ok ? t.shards[i].used_memory : -1;
    ha_observed_from(s, o, mem, out);
    free(mem);
    top_sample_release(&t);
    observed_free(o);
    secret_free(password);
    return 0;
}

/* validate --ha over the loaded specs: the risks as text or JSON; EXIT_RISKS when any. */
static int run_ha(struct spec **specs, size_t n, const struct validate_args *va)
{
    struct ha_report *reports = xcalloc(n ? n : 1, sizeof(*reports));
    const struct ha_report **rp = xcalloc(n ? n : 1, sizeof(*rp));
    size_t nrisks = 0;
    bool error = false;
    struct strbuf out = {0};
    for (size_t i = 0; i < n; i++) {
        struct ha_observed obs = {0};
        if (va->observe && observe_ha(specs[i], &obs) < 0)
            error = true;
        ha_lint(specs[i], va->observe ? &obs : NULL, &reports[i]);
        ha_observed_release(&obs);
        nrisks += reports[i].nrisks;
        rp[i] = &reports[i];
        if (!va->json)
            ha_render_text(&reports[i], &out);
    }
    if (va->json) {
        char *doc = ha_render_json(rp, n);
        fputs(doc, stdout);
        free(doc);
    } else {
        fputs(sb_str(&out), stdout);
    }
    sb_release(&out);
    for (size_t i = 0; i < n; i++)
        ha_report_release(&reports[i]);
    free(reports);
    free(rp);
    return error ? EXIT_FAILURE_ : nrisks ? EXIT_RISKS : EXIT_OK;
}

static int run_validate(int argc, char **argv)
{
    const struct command *cmd = &command_validate;
    struct validate_args va = {0};
    int urc = cli_parse_command(cmd, argc, argv, &va);
    if (urc) {
        strvec_release(&va.paths);
        return urc;
    }
    struct strvec args = va.paths;
    const struct git_source_opts git = va.git;
    char *gerr = NULL;
    if (git_source_enabled(&git) && args.n) {
        strvec_release(&args);
        return cli_usage_error(cmd, "--repo and PATH arguments exclude each other");
    }
    if (git_source_check_opts(&git, &gerr) < 0) {
        strvec_release(&args);
        return cli_opt_usage_error(cmd, gerr);
    }
    if ((va.observe || va.json) && !va.ha) {
        strvec_release(&args);
        return cli_usage_error(cmd, "%s needs --ha", va.observe ? "--observe" : "--json");
    }
    if (args.n == 0 && !git_source_enabled(&git)) {
        strvec_release(&args);
        return cli_usage_error(cmd, "validate needs at least one PATH (or --repo URL)");
    }

    struct diags d = {0};
    struct strvec files = {0};
    struct spec_source src = {0};
    if (git_source_enabled(&git)) {
        if (spec_source_open(&git, &src, &gerr) < 0) {
            fprintf(stderr, "rmgr: %s\n", gerr ? gerr : "cannot read the repository");
            free(gerr);
            strvec_release(&args);
            return EXIT_FAILURE_;
        }
        char *what = spec_source_describe(&src);
        printf("%s\n", what);
        free(what);
        for (size_t i = 0; i < src.n; i++)
            strvec_add(&files, xstrdup(src.names[i]));
    }
    for (size_t i = 0; i < args.n; i++)
        expand_arg(args.v[i], &files, &d);
    strvec_release(&args);
    drop_repeated_files(&files);

    struct spec **specs = xcalloc(files.n ? files.n : 1, sizeof(*specs));
    for (size_t i = 0; i < files.n; i++)
        specs[i] = src.n ? spec_source_load(&src, i, &d) : spec_load_file(files.v[i], &d);
    /* policy mode: judged here, so --observe never contacts a refused spec's addresses */
    bool refused = false;
    for (size_t i = 0; i < files.n; i++)
        if (specs[i] && spec_policy_enforce(specs[i], src.n ? src.files[i] : files.v[i],
                                            va.so.trusted_spec, va.so.allow_hosts, stderr) < 0)
            refused = true;
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
    bool failed = refused || diags_count(&d, DIAG_ERROR) > 0;
    int rc = failed ? EXIT_FAILURE_ : EXIT_OK;
    if (!failed && va.ha)
        rc = run_ha(specs, files.n, &va);
    else if (!failed)
        for (size_t i = 0; i < files.n; i++)
            print_summary(specs[i]);

    for (size_t i = 0; i < files.n; i++)
        spec_free(specs[i]);
    free(specs);
    strvec_release(&files);
    diags_release(&d);
    return rc;
}

const struct command command_validate = {
    /* name, run, summary (`rmgr help`) */
    "validate", run_validate, "check specs for errors, every one with file:line:col",
    .usage = "usage: rmgr validate [-f] PATH... [--ha [--observe] [--json]]\n"
             "                     [--trusted-spec REF] [--allow-hosts FILE]\n"
             "       rmgr validate --repo URL [--ref REF] [--path DIR] [--cache-dir DIR] [--ha]\n"
             "\n"
             "Load every spec named (a file, or a directory: every *.yaml and *.yml in it,\n"
             "sorted) and report every problem to stderr as file:line:col: error|warning: message.\n"
             "When there is no error, print one summary line per cluster to stdout. Cluster names\n"
             "must be unique across the specs given. Nothing is written and nothing is contacted\n"
             "(with --repo: only the repository, into the cache; stdout then starts with the\n"
             "commit and its subject, and specs are named by their path in the repository).\n"
             "\n"
             "With --ha, each valid spec's layout is also checked for single points of failure:\n"
             "a shard on one host, a host whose loss leaves too few sentinels, a host holding\n"
             "two shards' masters, every proxy on one host, a proxy beside a shard's only\n"
             "replica, an even number of sentinels or fewer than 3, a quorum that is not a\n"
             "majority, down_after_ms below 2000, and a failover_timeout_ms shorter than a full\n"
             "sync of the largest shard (at an assumed 50 MB/s; from maxmemory, or with\n"
             "--observe the masters' used_memory). Each risk names the hosts and the change.\n"
             "--observe takes today's masters from Sentinel instead of the spec's bootstrap\n"
             "masters.\n",
    CLI_COMMAND_OPTS(validate_opts),
    .parse_flags = CLI_PARSE_DASHDASH,
    .epilog = "Exit status: 0 all specs valid (warnings allowed), 1 a spec has errors (or, with\n"
              "--observe, a password could not be read), 2 usage error, 3 with --ha: risks found.\n",
};
