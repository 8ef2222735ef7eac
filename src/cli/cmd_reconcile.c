/*
 * cmd_reconcile.c - `rmgr reconcile`: options, signals, and either one run
 * (--once, for cron and CI) or the daemon loop (reconcile.c).
 *
 * Signals: SIGTERM and SIGINT let the running step finish and exit 0 (a
 * second one exits at once); SIGHUP parses the same command line again
 * (and $RMGR_WEBHOOK_URL), reopens the log file and reconciles at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "reconcile.h"
#include "session.h"
#include "util.h"

const char reconcile_usage[] =
    "usage: rmgr reconcile (-f SPEC|DIR | --repo URL [--ref REF] [--path DIR]\n"
    "                      [--cache-dir DIR]) [--once | --interval DURATION] [--watch]\n"
    "                      [--apply [--allow-destructive]] [--webhook URL]... [options]\n"
    "\n"
    "Keep every cluster equal to its spec, unattended. Each run reads the specs\n"
    "(-f: a file, or every *.yaml/*.yml in a directory; --repo: every spec in\n"
    "--path of the repository, fetched anew each run), then for each cluster, on\n"
    "its own (one cluster's errors never hold up another): observe, plan, and if\n"
    "the plan has changes (drift) report it, or with --apply carry it out and\n"
    "look again. Destructive steps are applied only with --allow-destructive.\n"
    "\n"
    "Notifications (webhooks): drift found, changed and resolved are posted once\n"
    "per change, not every run (state per cluster in the state directory); an\n"
    "apply that fails (or leaves drift) once per distinct outcome; failovers\n"
    "observed. A webhook that fails is logged and changes nothing else.\n"
    "\n"
    "With --once: one run, for cron or CI. Otherwise a daemon: a run every\n"
    "--interval (start to start). With --watch the daemon also subscribes to\n"
    "+switch-master on every sentinel of every cluster; when a quorum of them\n"
    "name the same new master of a shard, the cluster's proxies are repointed at\n"
    "once (nutcracker.yml rewritten, nutcracker restarted by its pidfile, ready\n"
    "when it answers) without waiting for the interval; the next run heals\n"
    "anything missed. Without --apply the failover is only reported.\n"
    "\n"
    "Spec source (exactly one):\n"
    "  -f, --file SPEC|DIR      a spec, or a directory of specs\n"
    GIT_SOURCE_USAGE
    "\n"
    "Mode:\n"
    "  --once                   one run, then exit (exit status below)\n"
    "  --interval DURATION      time between runs of the daemon: 30s, 5m, 1h\n"
    "                           (default 5m; at least 1s)\n"
    "  --watch                  follow failovers and repoint proxies at once\n"
    "                           (daemon only; with --apply)\n"
    "  --apply                  correct drift (default: report only)\n"
    "  --allow-destructive      with --apply, also run destructive steps\n"
    "  --detailed-exitcode      with --once, exit 2 when drift remains\n"
    "  --lock-timeout DURATION  wait this long for a cluster's lock (held by\n"
    "                           `rmgr apply`) before skipping that cluster's apply\n"
    "                           this run (default 1s)\n"
    "  --state-dir DIR          drift state files, one per cluster (default: DIR/state\n"
    "                           with --cache-dir DIR, else $XDG_CACHE_HOME/rmgr/state\n"
    "                           or ~/.cache/rmgr/state)\n"
    "  --connect-timeout MS     connect timeout per server (default 1000)\n"
    "  --timeout MS             command timeout per server (default 2000)\n"
    "  --accept-new-host-keys   ssh: trust unknown host keys on first use (never\n"
    "                           changed ones)\n"
    "\n"
    "Notifications:\n"
    NOTIFY_OPTIONS_USAGE
    "\n"
    "Logging (one line per event, with cluster and commit):\n"
    "  --log-format text|json   (default text)\n"
    "  --log-file FILE          append to FILE instead of stderr (reopened on SIGHUP)\n"
    "  --log-level LEVEL        debug, info (default), warn or error\n"
    "\n"
    "Signals: SIGTERM or SIGINT finish the running step and exit 0 (a second one\n"
    "exits at once); SIGHUP reads the options again, reopens the log file and\n"
    "reconciles at once.\n"
    "\n"
    "Exit status (--once): 0 every cluster matches its spec (or was corrected;\n"
    "also with drift reported, unless --detailed-exitcode), 1 an error in any\n"
    "cluster (spec, password, refused plan, failed apply, git), 2 usage error, or\n"
    "drift remains with --detailed-exitcode. The daemon exits 0 after a signal.\n";

/* ---- options ------------------------------------------------------------- */

/* "--name VALUE" or "--name=VALUE" at argv[*i]: 1 (and *v), 0 not it, -1 missing value. */
static int opt_value(const char *name, int argc, char **argv, int *i, const char **v,
                     char **err)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n))
        return 0;
    if (a[n] == '=')
        *v = a + n + 1;
    else if (a[n] == '\0' && *i + 1 < argc)
        *v = argv[++*i];
    else if (a[n] == '\0')
        *v = "";
    else
        return 0;
    if (!**v) {
        *err = xasprintf("option '%s' needs a value", name);
        return -1;
    }
    return 1;
}

static bool parse_ms_option(const char *name, const char *v, long min, long max, long *out,
                            char **err)
{
    if (parse_long(v, min, max, out))
        return true;
    *err = xasprintf("option '%s' needs milliseconds (%ld-%ld), not '%s'", name, min, max, v);
    return false;
}

static bool parse_duration_option(const char *name, const char *v, long min, long *out,
                                  char **err)
{
    if (parse_duration_ms(v, out) && *out >= min)
        return true;
    *err = min > 0 ? xasprintf("option '%s' needs a duration of at least %ld ms (30s, 5m, 1h), "
                               "not '%s'", name, min, v)
                   : xasprintf("option '%s' needs a duration (30s, 5m, 250ms), not '%s'", name, v);
    return false;
}

/*
 * Parse argv into o (initialised here). 0, or -1 with *err (a usage error).
 * Pure apart from $RMGR_WEBHOOK_URL, so SIGHUP can run it again.
 */
static int parse_args(int argc, char **argv, struct reconcile_options *o, char **err)
{
    reconcile_options_init(o);
    bool interval_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int rc;
        if ((rc = opt_value("-f", argc, argv, &i, &v, err)) != 0 ||
            (rc = opt_value("--file", argc, argv, &i, &v, err)) != 0) {
            if (rc < 0)
                return -1;
            o->spec_path = v;
            continue;
        }
        rc = git_source_parse_opt(&o->git, a, i + 1 < argc ? argv[i + 1] : NULL);
        if (rc < 0) {
            *err = xasprintf("option '%s' needs a value", a);
            return -1;
        }
        if (rc > 0) {
            i += rc - 1;
            continue;
        }
        rc = notify_options_parse_arg(&o->notify, argc, argv, &i, err);
        if (rc < 0)
            return -1;
        if (rc > 0)
            continue;
        if ((rc = opt_value("--interval", argc, argv, &i, &v, err)) != 0) {
            if (rc < 0 || !parse_duration_option("--interval", v, 1000, &o->interval_ms, err))
                return -1;
            interval_given = true;
        } else if ((rc = opt_value("--lock-timeout", argc, argv, &i, &v, err)) != 0) {
            if (rc < 0 || !parse_duration_option("--lock-timeout", v, 0, &o->lock_timeout_ms, err))
                return -1;
        } else if ((rc = opt_value("--state-dir", argc, argv, &i, &v, err)) != 0) {
            if (rc < 0)
                return -1;
            o->state_dir = v;
        } else if ((rc = opt_value("--connect-timeout", argc, argv, &i, &v, err)) != 0) {
            if (rc < 0 ||
                !parse_ms_option("--connect-timeout", v, 1, 3600000, &o->connect_timeout_ms, err))
                return -1;
        } else if ((rc = opt_value("--timeout", argc, argv, &i, &v, err)) != 0) {
            if (rc < 0 ||
                !parse_ms_option("--timeout", v, 1, 3600000, &o->command_timeout_ms, err))
                return -1;
        } else if ((rc = opt_value("--log-format", argc, argv, &i, &v, err)) != 0) {
            if (rc < 0)
                return -1;
            if (!log_format_parse(v, &o->log_format)) {
                *err = xasprintf("option '--log-format' needs text or json, not '%s'", v);
                return -1;
            }
        } else if ((rc = opt_value("--log-file", argc, argv, &i, &v, err)) != 0) {
            if (rc < 0)
                return -1;
            o->log_file = v;
        } else if ((rc = opt_value("--log-level", argc, argv, &i, &v, err)) != 0) {
            if (rc < 0)
                return -1;
            static const enum log_level levels[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};
            bool ok = false;
            for (size_t k = 0; k < ARRAY_SIZE(levels) && !ok; k++)
                if (str_eq(v, log_level_name(levels[k]))) {
                    o->log_level = levels[k];
                    ok = true;
                }
            if (!ok) {
                *err = xasprintf("option '--log-level' needs debug, info, warn or error, not '%s'",
                                 v);
                return -1;
            }
        } else if (!strcmp(a, "--once")) {
            o->once = true;
        } else if (!strcmp(a, "--watch")) {
            o->watch = true;
        } else if (!strcmp(a, "--apply")) {
            o->apply = true;
        } else if (!strcmp(a, "--allow-destructive")) {
            o->allow_destructive = true;
        } else if (!strcmp(a, "--detailed-exitcode")) {
            o->detailed_exitcode = true;
        } else if (!strcmp(a, "--accept-new-host-keys")) {
            o->accept_new_host_keys = true;
        } else if (a[0] == '-') {
            *err = xasprintf("unknown option '%s'", a);
            return -1;
        } else {
            *err = xasprintf("unexpected argument '%s'", a);
            return -1;
        }
    }
    if (!!o->spec_path == git_source_enabled(&o->git)) {
        *err = xstrdup(o->spec_path ? "-f and --repo exclude each other"
                                    : "reconcile needs specs: -f SPEC|DIR or --repo URL");
        return -1;
    }
    if (git_source_check_opts(&o->git, err) < 0)
        return -1;
    if (o->once && (o->watch || interval_given)) {
        *err = xasprintf("--once excludes %s", o->watch ? "--watch" : "--interval");
        return -1;
    }
    if (o->detailed_exitcode && !o->once) {
        *err = xstrdup("--detailed-exitcode needs --once");
        return -1;
    }
    if (o->allow_destructive && !o->apply) {
        *err = xstrdup("--allow-destructive needs --apply");
        return -1;
    }
    if (notify_options_finish(&o->notify, getenv("RMGR_WEBHOOK_URL"), err) < 0)
        return -1;
    return 0;
}

/* ---- signals ------------------------------------------------------------- */

static volatile sig_atomic_t stop_flag, reload_flag;
static int wake_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGHUP) {
        reload_flag = 1;
    } else if (stop_flag) {
        /* a second request: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
    } else {
        stop_flag = 1;
    }
    char b = 1;
    if (wake_pipe[1] >= 0 && write(wake_pipe[1], &b, 1) < 0) {
        /* full: the loop wakes anyway */
    }
    errno = saved;
}

static void install_signals(void)
{
    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        wake_pipe[0] = wake_pipe[1] = -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* hiredis and libcurl write to sockets a peer may have closed */
    signal(SIGPIPE, SIG_IGN);
}

struct reparse {
    int argc;
    char **argv;
    FILE *notify_log;
};

static int reload_options(void *arg, struct reconcile_options **out, char **err)
{
    struct reparse *rp = arg;
    struct reconcile_options *o = xcalloc(1, sizeof(*o));
    if (parse_args(rp->argc, rp->argv, o, err) < 0) {
        reconcile_options_release(o);
        free(o);
        return -1;
    }
    o->notify.log = rp->notify_log;
    *out = o;
    return 0;
}

/* ---- the command ----------------------------------------------------------- */

int cmd_reconcile(int argc, char **argv)
{
    const struct command *cmd = cli_find_command("reconcile");
    struct reconcile_options *o = xcalloc(1, sizeof(*o));
    char *err = NULL;
    if (parse_args(argc, argv, o, &err) < 0) {
        int rc = cli_usage_error(cmd, "%s", err ? err : "invalid options");
        free(err);
        reconcile_options_release(o);
        free(o);
        return rc;
    }
    if (log_open(o->log_file, o->log_format, o->log_level, &err) < 0) {
        fprintf(stderr, "rmgr: %s\n", err);
        free(err);
        reconcile_options_release(o);
        free(o);
        return EXIT_FAILURE_;
    }
    /* webhook retry messages become log events too */
    FILE *notify_log = log_stream(LOG_WARN, "notify-retry");
    o->notify.log = notify_log;
    install_signals();

    struct reconciler *r = reconciler_new(o, &err);
    if (!r) {
        log_event(LOG_ERROR, "start-failed", NULL, NULL, NULL, 0, "%s", err ? err : "cannot start");
        free(err);
        reconcile_options_release(o);
        free(o);
        if (notify_log)
            fclose(notify_log);
        log_close();
        return EXIT_FAILURE_;
    }
    int rc;
    if (o->once) {
        enum reconcile_status worst = reconciler_run(r, &stop_flag);
        rc = stop_flag && worst == RECONCILE_SKIPPED ? EXIT_OK
                                                      : reconcile_exit_code(worst, o->detailed_exitcode);
    } else {
        struct reparse rp = {argc, argv, notify_log};
        struct reconcile_signals sig = {&stop_flag, &reload_flag, wake_pipe[0], reload_options,
                                        &rp};
        rc = reconcile_loop(r, &o, &sig);
    }
    reconciler_free(r);
    reconcile_options_release(o);
    free(o);
    if (notify_log)
        fclose(notify_log);
    log_close();
    return rc;
}
