/*
 * cmd_destroy.c - `rmgr destroy -f SPEC`: stop every proxy, sentinel and
 * redis the spec names (each by its pidfile, never by name) and delete their
 * instance directories.
 *
 * No password is needed: the pidfiles say what runs. The servers are looked
 * at (with the password when it can be read) only for their roles: a
 * shard's master as observed (after a failover not the spec's) stops after
 * its replicas. Instances of shards already removed from the spec are not
 * touched (apply with --allow-destructive removes those).
 */
#include <stdlib.h>
#include <string.h>

#include "apply_cli.h"
#include "cli.h"
#include "diag.h"
#include "lock.h"
#include "observe.h"
#include "opt.h"
#include "render.h"
#include "session.h"
#include "util.h"

struct destroy_args {
    struct session_options so;
    struct apply_cli_options co;
};

static const struct cli_opt destroy_opts[] = {
    CLI_OPT_SPEC(struct destroy_args, so),
    CLI_OPTS_APPLY(struct destroy_args, co, "do not ask (only together with --allow-destructive)",
                   "confirm that data may be deleted"),
    CLI_OPTS_TIMEOUTS(struct destroy_args, so, "command timeout per server (default 5000)"),
};

static int run_destroy(int argc, char **argv)
{
    struct destroy_args args = {0};
    int urc = cli_parse_spec_command(&command_destroy, argc, argv, &args, &args.so.spec_path);
    if (urc)
        return urc;
    const struct session_options so = args.so;
    const struct apply_cli_options co = args.co;

    struct diags d = {0};
    struct spec *spec = spec_load_file(so.spec_path, &d);
    diags_sort(&d);
    diags_print(&d, stderr);
    diags_release(&d);
    if (!spec)
        return EXIT_FAILURE_;

    bool color = cli_use_color(co.no_color);
    struct cluster_lock *lock = NULL;
    struct plan *p = NULL;
    struct apply_result res = {0};
    char *text = NULL;
    int rc = EXIT_FAILURE_;

    lock = apply_cli_lock(&co, spec->cluster, NULL);
    if (!lock)
        goto out;
    {
        /* the roles only: without a readable password they fall back to the spec */
        char *password = NULL, *perr = NULL;
        if (spec_read_password(spec, &password, &perr) < 0)
            password = NULL;
        free(perr);
        struct observe_options oo = {
            .connect_timeout_ms = so.connect_timeout_ms,
            .command_timeout_ms = so.command_timeout_ms,
            .password = password,
            .skip_files = true,
        };
        struct observed *obs = observe_cluster(spec, &oo);
        secret_free(password);
        p = apply_destroy_plan(spec, obs);
        observed_free(obs);
    }
    text = render_plan_text(spec, p, color);
    printf("Destroy cluster '%s': every instance is stopped and its directory deleted.\n\n",
           spec->cluster);
    fputs(text, stdout);
    fflush(stdout);
    if (co.auto_approve) {
        if (!co.allow_destructive) {
            fprintf(stderr, "rmgr: destroy deletes data: --auto-approve needs "
                            "--allow-destructive too\n");
            goto out;
        }
    } else {
        char *q = xasprintf("Do you really want to destroy cluster '%s' and its data?",
                            spec->cluster);
        bool yes = apply_cli_confirm(q, "--auto-approve --allow-destructive", "Destroy cancelled.");
        free(q);
        if (!yes)
            goto out;
    }
    printf("\n");
    struct apply_options ao =
        apply_cli_run_options(&co, so.connect_timeout_ms, so.command_timeout_ms);
    struct step_guard guard; /* the lock's fencing check (and $RMGR_STEP_JOURNAL) per step */
    step_guard_init(&guard, &ao, spec->cluster, NULL, lock);
    int arc = apply_run(spec, p, NULL, &ao, &res);
    step_guard_release(&guard);
    if (arc == 0) {
        char *err = NULL;
        if (apply_remove_cluster_dirs(spec, &ao, &err) < 0) {
            res.error = err ? err : xstrdup("cannot remove the cluster directory");
            arc = -1;
        }
    }
    apply_cli_print_result("Destroy", &res, color);
    rc = arc == 0 ? EXIT_OK : EXIT_FAILURE_;
out:
    apply_result_release(&res);
    free(text);
    plan_free(p);
    lock_release(lock);
    spec_free(spec);
    return rc;
}

const struct command command_destroy = {
    /* name, run, summary (`rmgr help`) */
    "destroy", run_destroy, "stop every instance of the spec and delete its data",
    .usage = "usage: rmgr destroy -f SPEC [options]\n"
             "\n"
             "Stop every proxy, then every sentinel, then every redis the spec names (each by\n"
             "its pidfile, after checking the pid is that instance), and delete their instance\n"
             "directories. Asks for 'yes' on a terminal; without one it needs --auto-approve\n"
             "and --allow-destructive.\n",
    CLI_COMMAND_OPTS(destroy_opts),
    .epilog = "Exit status: 0 destroyed, 1 error or cancelled, 2 usage error.\n",
};
