/*
 * cmd_apply.c - `rmgr apply -f SPEC` or `rmgr apply PLANFILE`: lock the
 * cluster, observe, plan, show the plan, ask, and carry it out (apply.c).
 *
 * A saved plan (from `rmgr plan --out FILE`) is applied only while it still
 * holds: the spec's bytes must be the ones it was made from and the cluster
 * must look the same (same fingerprint); otherwise "plan is stale". A saved
 * plan is still confirmed like any other (or --auto-approve): the file says
 * what was reviewed, not that it may run unattended.
 *
 * The options, lock, prompt and summary it shares with destroy are in
 * apply_cli.c.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "apply_cli.h"
#include "cli.h"
#include "failover_wait.h"
#include "fingerprint.h"
#include "git_source.h"
#include "lock.h"
#include "render.h"
#include "session.h"
#include "spec_source.h"
#include "util.h"

static volatile sig_atomic_t stop_signalled;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_signalled = 1;
}

struct stop_signals {
    struct sigaction old_int, old_term;
};

/* The first SIGINT/SIGTERM sets stop_signalled (a second one kills); undo with stop_signals_end. */
static void stop_signals_begin(struct stop_signals *ss)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &ss->old_int);
    sigaction(SIGTERM, &sa, &ss->old_term);
}

static void stop_signals_end(const struct stop_signals *ss)
{
    sigaction(SIGINT, &ss->old_int, NULL);
    sigaction(SIGTERM, &ss->old_term, NULL);
}

#define SAVED_PLAN_KIND "rmgr-saved-plan"
#define MAX_SAVED_PLAN_SIZE (16 * 1024 * 1024)

/* ---- saved plans ------------------------------------------------------------ */

struct saved_plan {
    char *spec_file;
    char *spec_sha;    /* NULL when the plan has none */
    char *commit;      /* NULL when none */
    char *fingerprint;
    char *repo_url;    /* a plan made with --repo: the repository and the spec's path */
    char *repo_path;
};

static void saved_plan_release(struct saved_plan *sp)
{
    free(sp->spec_file);
    free(sp->spec_sha);
    free(sp->commit);
    free(sp->fingerprint);
    free(sp->repo_url);
    free(sp->repo_path);
}

static char *json_str_or_null(json_t *doc, const char *key, bool *bad)
{
    json_t *v = json_object_get(doc, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    return xstrdup(json_string_value(v));
}

/* Read a file saved by `rmgr plan --out`. 0, or -1 after a message on stderr. */
static int saved_plan_load(const char *path, struct saved_plan *sp)
{
    char *text = NULL;
    size_t len = 0;
    if (read_file(path, MAX_SAVED_PLAN_SIZE, &text, &len) < 0) {
        fprintf(stderr, "rmgr: cannot read '%s': %s\n", path, strerror(errno));
        return -1;
    }
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    free(text);
    bool bad = !doc || !json_is_object(doc);
    if (!bad) {
        json_t *kind = json_object_get(doc, "kind");
        json_t *ver = json_object_get(doc, "format_version");
        bad = !json_is_string(kind) || strcmp(json_string_value(kind), SAVED_PLAN_KIND) ||
              !json_is_integer(ver);
        if (!bad && json_integer_value(ver) != PLAN_FORMAT_VERSION) {
            fprintf(stderr, "rmgr: '%s' is a saved plan of format %lld; this rmgr reads %d: "
                            "re-run plan\n",
                    path, (long long)json_integer_value(ver), PLAN_FORMAT_VERSION);
            json_decref(doc);
            return -1;
        }
    }
    if (!bad) {
        sp->spec_file = json_str_or_null(doc, "spec_file", &bad);
        sp->spec_sha = json_str_or_null(doc, "spec_sha", &bad);
        sp->commit = json_str_or_null(doc, "commit", &bad);
        sp->fingerprint = json_str_or_null(doc, "fingerprint", &bad);
        json_t *repo = json_object_get(doc, "repo");
        if (repo && json_is_object(repo)) {
            sp->repo_url = json_str_or_null(repo, "url", &bad);
            sp->repo_path = json_str_or_null(repo, "path", &bad);
        }
        bad = bad || !sp->spec_file || !*sp->spec_file || !sp->fingerprint;
    }
    json_decref(doc);
    if (bad) {
        fprintf(stderr, "rmgr: '%s' is not a plan saved by 'rmgr plan --out FILE'\n", path);
        return -1;
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------ */

/* new failovers while apply waits, before it gives up */
#define APPLY_MAX_FAILOVER_ROUNDS 5

/*
 * Wait while Sentinel fails over the shards s->plan leaves to it (at most
 * wait_ms, or failover_wait_bound_ms() per shard), saying what it
 * waits for. EXIT_OK when Sentinel is done; EXIT_FAILURE_ after saying why
 * not (deadline passed, or a signal).
 */
static int wait_for_sentinel(struct session *s, const struct session_options *so, long wait_ms)
{
    const struct plan *p = s->plan;
    long bound = 0;
    for (size_t i = 0; i < s->spec->nshards; i++)
        if (p->shard_waiting[i]) {
            long b = wait_ms >= 0 ? wait_ms : failover_wait_bound_ms(s->spec, s->observed, i);
            bound = b > bound ? b : bound;
        }
    printf("\nWaiting for Sentinel on %zu shard%s (at most %.0f s%s; --failover-wait changes it, "
           "0 does not wait):\n",
           p->waiting, p->waiting == 1 ? "" : "s", (double)bound / 1000.0,
           wait_ms >= 0 ? "" : ", or its next attempt after one it abandons");
    fflush(stdout);
    struct failover_wait_options fo = {
        .wait_ms = wait_ms,
        .observe = session_observe_options(s, so),
        .stop = &stop_signalled,
        .out = stdout,
    };
    /* the first SIGINT/SIGTERM ends the wait; nothing has been changed yet */
    struct stop_signals sig;
    stop_signals_begin(&sig);
    char *why = NULL;
    enum failover_wait_result r = failover_wait(s->spec, p, &fo, &why);
    stop_signals_end(&sig);
    if (r == FAILOVER_WAIT_STOPPED) {
        fprintf(stderr, "rmgr: stopped by a signal while waiting for Sentinel; nothing was "
                        "changed\n");
        return EXIT_FAILURE_;
    }
    if (r == FAILOVER_WAIT_TIMEOUT) {
        fprintf(stderr, "rmgr: %s; nothing was changed: look at the sentinels' logs, then "
                        "re-run apply\n",
                why);
        free(why);
        return EXIT_FAILURE_;
    }
    return EXIT_OK;
}

static size_t acting_steps(const struct plan *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nsteps; i++)
        if (!step_kind_has(p->steps[i].kind, STEPF_FACT) && p->steps[i].action != ACTION_NONE)
            n++;
    return n;
}

struct apply_args {
    struct session_options so;
    struct apply_cli_options co;
    struct git_source_opts git;
    const char *planfile;
    long failover_wait_ms;
};

static const struct cli_opt apply_opts[] = {
    CLI_OPT_SPEC(struct apply_args, so),
    CLI_OPTS_GIT_SOURCE(struct apply_args, git,
                        "\n(--path must lead to one spec; the commit and its\n"
                        "subject are printed first)"),
    {CLI_OPT_DURATION, 0, "failover-wait", offsetof(struct apply_args, failover_wait_ms), NULL,
     0, 0, "90s, 2m, 0 not to wait", .arg = "DUR",
     .help = "wait at most DUR (90s, 2m) for Sentinel (default: each\n"
             "shard's down-after + failover-timeout + 3 s, and\n"
             "Sentinel's next attempt after one it abandoned); 0:\n"
             "do not wait, apply the rest and exit 2"},
    CLI_OPTS_APPLY(struct apply_args, co, "do not ask for confirmation (needed without a terminal)",
                   "allow steps marked [destructive] (stopping and deleting\n"
                   "instances of removed shards, SENTINEL REMOVE)"),
    CLI_OPTS_TIMEOUTS(struct apply_args, so, "command timeout per server (default 2000 to observe,\n"
                                             "5000 to apply)"),
    {CLI_OPT_ARG, 0, NULL, offsetof(struct apply_args, planfile)}, /* PLANFILE */
};

static int run_apply(int argc, char **argv)
{
    const struct command *cmd = &command_apply;
    struct apply_args args = {.failover_wait_ms = FAILOVER_WAIT_DEFAULT};
    int urc = cli_parse_command(cmd, argc, argv, &args);
    if (urc)
        return urc;
    struct session_options so = args.so;
    const struct apply_cli_options co = args.co;
    struct git_source_opts git = args.git;
    const char *planfile = args.planfile;
    const long failover_wait_ms = args.failover_wait_ms;
    if (!so.spec_path && !planfile && !git_source_enabled(&git))
        return cli_usage_error(cmd, "apply needs a spec (-f SPEC or --repo URL) or a saved "
                                    "plan (PLANFILE)");
    if ((so.spec_path != NULL) + (planfile != NULL) + git_source_enabled(&git) > 1)
        return cli_usage_error(cmd, "give one of -f SPEC, --repo URL or a saved PLANFILE");
    if (!planfile || git.cache_dir) {
        /* with a PLANFILE only --cache-dir may be given: the plan names its repository */
        struct git_source_opts check = git;
        if (planfile)
            check.repo = "file:///";
        char *gerr = NULL;
        if (git_source_check_opts(&check, &gerr) < 0)
            return cli_opt_usage_error(cmd, gerr);
    }
    if (planfile && (git.ref || git.path))
        return cli_usage_error(cmd, "a saved plan names its own commit and path: no --ref or "
                                    "--path with PLANFILE");

    struct saved_plan saved = {0};
    struct spec_source src = {0};
    struct session s = {0};
    struct cluster_lock *lock = NULL;
    struct apply_result res = {0};
    char *text = NULL;
    int rc = EXIT_FAILURE_;
    bool color = cli_use_color(co.no_color);

    if (planfile) {
        if (saved_plan_load(planfile, &saved) < 0)
            goto out;
        so.spec_path = saved.spec_file;
        so.commit = saved.commit;
        if (saved.repo_url && saved.repo_path && saved.commit) {
            /* a plan made from git: read the spec at that commit again */
            git.repo = saved.repo_url;
            git.ref = saved.commit;
            git.path = saved.repo_path;
        }
    }
    if (git_source_enabled(&git)) {
        if (session_load_repo(&s, &so, &git, &src, stderr) < 0)
            goto out;
        so.commit = src.co.commit;
        printf("Spec: %s from %s at %s (%.12s): %s\n\n", src.names[0], src.co.url, src.co.ref,
               src.co.commit, src.co.subject ? src.co.subject : "");
    } else if (session_load(&s, &so, stderr) < 0) {
        goto out;
    }
    if (planfile) {
        char *sha = fingerprint_spec_sha(s.spec);
        bool same = sha && saved.spec_sha && !strcmp(sha, saved.spec_sha);
        free(sha);
        if (!same) {
            fprintf(stderr, "rmgr: plan is stale: re-run plan ('%s' changed since the plan "
                            "was saved)\n",
                    s.spec->file);
            goto out;
        }
    }
    lock = apply_cli_lock(&co, s.spec->cluster, so.commit);
    if (!lock)
        goto out;
    session_observe(&s, &so);
    session_plan(&s, &so);
    /* an ssh host key not trusted stops the whole run before anything is shown or done */
    if (session_check_host_keys(&s, &so, co.accept_new_host_keys, stderr) < 0)
        goto out;
    if (planfile && !str_eq(s.fingerprint, saved.fingerprint)) {
        fprintf(stderr, "rmgr: plan is stale: re-run plan (the cluster changed since the plan "
                        "was saved)\n");
        goto out;
    }

    const struct plan *p = s.plan;
    text = render_plan_text(s.spec, p, color);
    if (p->nrefusals) {
        fputs(text, stderr);
        goto out;
    }
    fputs(text, stdout);
    fflush(stdout);
    /* a saved plan is what was reviewed: it is applied as it stands, never re-planned */
    for (int round = 0; p->waiting && !planfile && failover_wait_ms != 0; round++) {
        if (round == APPLY_MAX_FAILOVER_ROUNDS) {
            fprintf(stderr, "rmgr: Sentinel started a new failover %d times while apply "
                            "waited: giving up; re-run apply when the cluster is calmer\n",
                    round);
            goto out;
        }
        int wrc = wait_for_sentinel(&s, &so, failover_wait_ms);
        if (wrc != EXIT_OK) {
            rc = wrc;
            goto out;
        }
        session_observe(&s, &so);
        session_plan(&s, &so);
        if (session_check_host_keys(&s, &so, co.accept_new_host_keys, stderr) < 0)
            goto out;
        p = s.plan;
        free(text);
        text = render_plan_text(s.spec, p, color);
        printf("\nSentinel is done; the plan now:\n\n");
        if (p->nrefusals) {
            fputs(text, stderr);
            goto out;
        }
        fputs(text, stdout);
        fflush(stdout);
    }
    if (acting_steps(p) == 0) {
        if (p->waiting) {
            fprintf(stderr, "rmgr: nothing to apply while Sentinel fails over %zu shard%s%s: "
                            "re-run apply after the failover\n",
                    p->waiting, p->waiting == 1 ? "" : "s",
                    planfile ? " (a saved plan does not wait)" : " (--failover-wait 0)");
            rc = EXIT_CHANGES;
            goto out;
        }
        if (p->unreachable) {
            fprintf(stderr, "rmgr: nothing to apply, but %zu instance%s could not be observed "
                            "(see the warnings above)\n",
                    p->unreachable, p->unreachable == 1 ? "" : "s");
            goto out;
        }
        rc = EXIT_OK;
        goto out;
    }
    if (plan_has_destructive(p) && !co.allow_destructive) {
        fprintf(stderr, "rmgr: the plan has destructive steps (marked [destructive]): re-run "
                        "with --allow-destructive to apply them\n");
        goto out;
    }
    if (!co.auto_approve && !apply_cli_confirm("Do you want to perform these actions?",
                                               "--auto-approve", "Apply cancelled."))
        goto out;
    printf("\n");
    struct apply_options ao =
        apply_cli_run_options(&co, so.connect_timeout_ms, so.command_timeout_ms);
    /* the first SIGINT/SIGTERM lets the running steps finish; a second one kills */
    struct stop_signals sig;
    stop_signals_begin(&sig);
    ao.stop = &stop_signalled;
    struct step_guard guard; /* the lock's fencing check (and $RMGR_STEP_JOURNAL) per step */
    step_guard_init(&guard, &ao, s.spec->cluster, NULL, lock);
    int arc = apply_run(s.spec, p, s.password, &ao, &res);
    step_guard_release(&guard);
    stop_signals_end(&sig);
    apply_cli_print_result("Apply", &res, color);
    rc = arc == 0 ? EXIT_OK : EXIT_FAILURE_;
    if (rc == EXIT_OK && p->waiting) {
        fprintf(stderr, "rmgr: applied the rest; %zu shard%s still wait%s on Sentinel: re-run "
                        "apply after the failover\n",
                p->waiting, p->waiting == 1 ? "" : "s", p->waiting == 1 ? "s" : "");
        rc = EXIT_CHANGES;
    }
out:
    apply_result_release(&res);
    free(text);
    lock_release(lock);
    session_release(&s);
    spec_source_release(&src);
    saved_plan_release(&saved);
    return rc;
}

const struct command command_apply = {
    /* name, run, summary (`rmgr help`) */
    "apply", run_apply, "carry out the plan: make the cluster match the spec",
    .usage = "usage: rmgr apply -f SPEC [options]\n"
             "       rmgr apply --repo URL [--ref REF] [--path DIR] [--cache-dir DIR] [options]\n"
             "       rmgr apply PLANFILE [options]\n"
             "\n"
             "Take the cluster's lock, observe, plan and print the plan like 'rmgr plan',\n"
             "then ask for confirmation and run the steps wave by wave (files, processes,\n"
             "replication, sentinels, proxies, clean-up), the instances of every host side\n"
             "by side (--parallel), each once what it needs answers (a replica its master),\n"
             "proxies one at a time, with health checks between the waves.\n"
             "The first failure stops the run: steps already running finish, nothing else\n"
             "starts, and the summary says what was done and what was not.\n"
             "\n"
             "PLANFILE is a plan saved with 'rmgr plan --out FILE'. It is applied only while\n"
             "it holds: when the spec file or the cluster changed since (fingerprint), apply\n"
             "says 'plan is stale: re-run plan'. It is confirmed like any other plan. A plan\n"
             "made with --repo is checked against the spec at its commit, fetched again\n"
             "(--cache-dir may be given).\n"
             "\n"
             "A shard whose master is down, or that Sentinel is failing over, is left to\n"
             "Sentinel: apply says what Sentinel is doing, waits until it is done (watching\n"
             "only that shard's members and the sentinels), plans again and carries out the\n"
             "rest: the proxies repointed at the promoted master, the old master restarted\n"
             "as its replica. A saved PLANFILE does not wait.\n",
    CLI_COMMAND_OPTS(apply_opts),
    .epilog = "Exit status: 0 applied (or no changes), 1 error, refusal, cancelled, a failed\n"
              "step or health check, or a failover that did not finish in time, 2 usage error,\n"
              "or shards still left to Sentinel (--failover-wait 0, a saved plan).\n",
};
