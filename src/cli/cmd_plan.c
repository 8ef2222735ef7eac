/*
 * cmd_plan.c - `rmgr plan -f SPEC`: observe the cluster, compute the steps
 * that would make it match the spec, and show them (text, JSON or
 * Markdown); optionally save them for `rmgr apply`.
 *
 * A plan that refuses a shard shows the diagnosis, no steps, and exits 1;
 * so does an ssh host key that is unknown or changed (session_check_host_keys).
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fingerprint.h"
#include "git_source.h"
#include "json_out.h"
#include "opt.h"
#include "render.h"
#include "session.h"
#include "spec_source.h"
#include "util.h"

#define SAVED_PLAN_KIND "rmgr-saved-plan"

enum plan_format { FORMAT_TEXT, FORMAT_JSON, FORMAT_MARKDOWN };

/*
 * Save the plan as {format_version, kind, spec_file, spec_sha, commit,
 * fingerprint, plan} to `path`, mode 0600. 0, or -1 with a message on stderr.
 */
static int save_plan(const struct session *s, const char *plan_json, const char *commit,
                     const struct spec_source *src, const char *path)
{
    json_error_t je;
    json_t *plan = json_loads(plan_json, 0, &je);
    if (!plan) {
        fprintf(stderr, "rmgr: internal error: plan JSON does not parse: %s\n", je.text);
        return -1;
    }
    char *sha = fingerprint_spec_sha(s->spec);
    json_t *doc = json_object();
    json_object_set_new(doc, "format_version", json_integer(PLAN_FORMAT_VERSION));
    json_object_set_new(doc, "kind", json_text(SAVED_PLAN_KIND));
    /* from git: the file in the cache, which `apply PLANFILE` reads */
    const char *spec_file = src && src->n ? src->files[0] : s->spec->file;
    /* absolute, so `apply PLANFILE` works from any directory */
    char *abs_spec = spec_file ? realpath(spec_file, NULL) : NULL;
    json_object_set_new(doc, "spec_file",
                        json_text(abs_spec ? abs_spec : spec_file ? spec_file : ""));
    free(abs_spec);
    json_object_set_new(doc, "spec_sha", sha ? json_text(sha) : json_null());
    json_object_set_new(doc, "commit", commit ? json_text(commit) : json_null());
    if (src && src->n) {
        json_object_set_new(doc, "subject", json_text(src->co.subject ? src->co.subject : ""));
        json_object_set_new(doc, "repo",
                            json_pack("{s:o, s:o, s:o}", "url", json_text(src->co.url ? src->co.url : ""),
                                      "ref", json_text(src->co.ref ? src->co.ref : ""), "path",
                                      json_text(src->names[0])));
    }
    json_object_set_new(doc, "fingerprint",
                        s->fingerprint ? json_text(s->fingerprint) : json_null());
    json_object_set_new(doc, "plan", plan);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    free(sha);
    int rc = 0;
    struct strbuf sb = {0};
    sb_add(&sb, text ? text : "");
    sb_addc(&sb, '\n');
    if (!text || write_file_atomic(path, sb.buf, sb.len, 0600) < 0) {
        fprintf(stderr, "rmgr: cannot write '%s': %s\n", path, strerror(errno));
        rc = -1;
    }
    sb_release(&sb);
    free(text);
    return rc;
}

struct plan_args {
    struct session_options so;
    struct git_source_opts git;
    enum plan_format fmt;
    bool detailed, no_color, explain;
    const char *out;
};

/* --json or --markdown (the row's name): one format, given any number of times */
static int set_format(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)value;
    enum plan_format *fmt = dest, f = opt->name[0] == 'j' ? FORMAT_JSON : FORMAT_MARKDOWN;
    if (*fmt != FORMAT_TEXT && *fmt != f) {
        *err = xstrdup("--json and --markdown exclude each other");
        return -1;
    }
    *fmt = f;
    return 0;
}

static const struct cli_opt plan_opts[] = {
    CLI_OPT_SPEC(struct plan_args, so),
    CLI_OPTS_POLICY(struct plan_args, so),
    CLI_OPTS_GIT_SOURCE(struct plan_args, git,
                        "\n(--path must lead to one spec; its commit and subject\n"
                        "head the text and are in the JSON and the saved plan)"),
    {CLI_OPT_FLAG, 0, "json", offsetof(struct plan_args, fmt), set_format,
     .help = "the plan as JSON (format: docs/plan-json.md)"},
    {CLI_OPT_FLAG, 0, "markdown", offsetof(struct plan_args, fmt), set_format,
     .help = "the plan as Markdown, for a pull-request comment"},
    {CLI_OPT_FLAG, 0, "explain", offsetof(struct plan_args, explain),
     .help = "under each step, the spec line asking for it\n"
             "(FILE:LINE: PATH) and what was observed"},
    {CLI_OPT_FLAG, 0, "detailed-exitcode", offsetof(struct plan_args, detailed),
     .help = "exit 0 no changes, 1 error or refusal, 2 changes"},
    {CLI_OPT_STRING, 0, "out", offsetof(struct plan_args, out), .arg = "FILE",
     .help = "also save the plan (JSON, mode 0600) to FILE"},
    {CLI_OPT_FLAG, 0, "no-color", offsetof(struct plan_args, no_color),
     .help = "no ANSI colours (also: NO_COLOR set, or not a tty)"},
    CLI_OPTS_TIMEOUTS(struct plan_args, so, CLI_TIMEOUT_HELP_OBSERVE),
};

static int run_plan(int argc, char **argv)
{
    const struct command *cmd = &command_plan;
    struct plan_args args = {.fmt = FORMAT_TEXT};
    int urc = cli_parse_command(cmd, argc, argv, &args);
    if (urc)
        return urc;
    struct session_options so = args.so;
    const struct git_source_opts git = args.git;
    const enum plan_format fmt = args.fmt;
    const bool detailed = args.detailed, no_color = args.no_color, explain = args.explain;
    const char *out = args.out;
    if (git_source_enabled(&git) && so.spec_path)
        return cli_usage_error(cmd, "-f and --repo exclude each other");
    char *gerr = NULL;
    if (git_source_check_opts(&git, &gerr) < 0)
        return cli_opt_usage_error(cmd, gerr);
    if (!so.spec_path && !git_source_enabled(&git))
        return cli_usage_error(cmd, "plan needs a spec: -f SPEC or --repo URL");

    struct session s = {0};
    struct spec_source src = {0};
    const char *subject = NULL;
    if (git_source_enabled(&git)) {
        if (session_load_repo(&s, &so, &git, &src, stderr) < 0) {
            spec_source_release(&src);
            return EXIT_FAILURE_;
        }
        so.commit = src.co.commit;
        subject = src.co.subject;
        session_observe(&s, &so);
        session_plan(&s, &so);
    } else if (session_open(&s, &so, stderr) < 0) {
        return EXIT_FAILURE_;
    }
    /* an untrusted host key is an error of the whole run, like a refusal: no plan */
    if (session_check_host_keys(&s, &so, false, stderr) < 0) {
        if (out)
            fprintf(stderr, "rmgr: not saving a plan to '%s'\n", out);
        session_release(&s);
        spec_source_release(&src);
        return EXIT_FAILURE_;
    }
    const struct plan *p = s.plan;
    bool refused = p->nrefusals > 0;

    /* only JSON output and --out need it: 7% of a 200-redis plan's CPU otherwise */
    char *json = fmt == FORMAT_JSON || out
                     ? render_plan_json(s.spec, p, s.fingerprint, so.commit, subject)
                     : NULL;
    char *text = NULL;
    switch (fmt) {
    case FORMAT_TEXT:
        text = explain ? render_plan_text_explain(s.spec, p, cli_use_color(no_color))
                       : render_plan_text(s.spec, p, cli_use_color(no_color));
        if (src.n) { /* which commit this plan is for, first */
            char *with = xasprintf("Spec: %s from %s at %s (%.12s): %s\n\n%s", src.names[0],
                                   src.co.url, src.co.ref, src.co.commit,
                                   subject ? subject : "", text);
            free(text);
            text = with;
        }
        break;
    case FORMAT_JSON:
        text = xstrdup(json);
        break;
    case FORMAT_MARKDOWN:
        text = render_plan_markdown(s.spec, p, s.fingerprint, so.commit, subject);
        break;
    }
    /* a refusal in text form is an error message; JSON and Markdown are documents */
    FILE *dest = refused && fmt == FORMAT_TEXT ? stderr : stdout;
    fputs(text, dest);
    if (fmt == FORMAT_TEXT && !refused && s.fingerprint)
        printf("Fingerprint: %s\n", s.fingerprint);
    fflush(stdout);

    int rc = EXIT_OK;
    if (refused) {
        rc = EXIT_FAILURE_;
        if (out)
            fprintf(stderr, "rmgr: the plan refuses: not saving it to '%s'\n", out);
    } else if (out && save_plan(&s, json, so.commit, &src, out) < 0) {
        rc = EXIT_FAILURE_;
    } else {
        if (out)
            fprintf(stderr, "Saved the plan to '%s'.\n", out);
        if (detailed && plan_has_changes(p))
            rc = EXIT_CHANGES;
    }
    free(text);
    free(json);
    session_release(&s);
    spec_source_release(&src);
    return rc;
}

const struct command command_plan = {
    /* name, run, summary (`rmgr help`) */
    "plan", run_plan, "show the steps that would make the cluster match the spec",
    .usage = "usage: rmgr plan -f SPEC [--json | --markdown] [--explain] [--detailed-exitcode]\n"
             "                 [--out FILE] [--no-color] [--connect-timeout MS] [--timeout MS]\n"
             "                 [--trusted-spec REF] [--allow-hosts FILE]\n"
             "       rmgr plan --repo URL [--ref REF] [--path DIR] [--cache-dir DIR] [options]\n"
             "\n"
             "Observe every instance the spec names, compare with the spec and print the\n"
             "ordered steps that would make them match (nothing is changed), then the\n"
             "plan's fingerprint. A shard whose master cannot be told safely is refused:\n"
             "the diagnosis is printed instead of steps and the exit status is 1.\n"
             "\n"
             "On pull requests, --trusted-spec origin/main refuses (exit 1, before any\n"
             "connection) a spec that changes where rmgr connects or what it reads;\n"
             "--allow-hosts FILE refuses any address not listed (README: \"Running plan\n"
             "on untrusted pull requests\").\n",
    CLI_COMMAND_OPTS(plan_opts),
    .epilog = "Exit status: 0 success (without --detailed-exitcode also with changes),\n"
              "1 error or refused plan, 2 changes pending (--detailed-exitcode) or usage error.\n",
};
