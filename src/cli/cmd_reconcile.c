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
#include "lock_cli.h"
#include "log.h"
#include "metrics_http.h"
#include "opt.h"
#include "reconcile.h"
#include "session.h"
#include "util.h"

/* ---- options ------------------------------------------------------------- */

/* --log-format text|json */
static int set_log_format(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)opt;
    if (log_format_parse(value, dest))
        return 0;
    *err = xasprintf("option '--log-format' needs text or json, not '%s'", value);
    return -1;
}

/* --log-level debug|info|warn|error */
static int set_log_level(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)opt;
    static const enum log_level levels[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};
    for (size_t k = 0; k < ARRAY_SIZE(levels); k++)
        if (str_eq(value, log_level_name(levels[k]))) {
            *(enum log_level *)dest = levels[k];
            return 0;
        }
    *err = xasprintf("option '--log-level' needs debug, info, warn or error, not '%s'", value);
    return -1;
}

/* --repoint-at switch|promotion */
static int set_repoint_at(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)opt;
    if (str_eq(value, "switch") || str_eq(value, "promotion")) {
        *(bool *)dest = str_eq(value, "promotion");
        return 0;
    }
    *err = xasprintf("option '--repoint-at' needs switch or promotion, not '%s'", value);
    return -1;
}

#define RO(field) offsetof(struct reconcile_options, field)

static const struct cli_opt reconcile_opts[] = {
    {CLI_OPT_GROUP, .help = "Spec source (exactly one):"},
    {CLI_OPT_STRING, 'f', "file", RO(spec_path), .arg = "SPEC|DIR",
     .help = "a spec, or a directory of specs"},
    CLI_OPT_SECRETS_DIR,
    CLI_OPTS_GIT_SOURCE(struct reconcile_options, git, ""),
    {CLI_OPT_GROUP, .help = "Mode:"},
    {CLI_OPT_FLAG, 0, "once", RO(once), .help = "one run, then exit (exit status below)"},
    {CLI_OPT_DURATION, 0, "interval", RO(interval_ms), NULL, 1000, 0, "30s, 5m, 1h",
     .arg = "DURATION",
     .help = "time between runs of the daemon: 30s, 5m, 1h\n(default 5m; at least 1s)"},
    {CLI_OPT_FLAG, 0, "watch", RO(watch),
     .help = "follow failovers and repoint proxies at once\n(daemon only; with --apply)"},
    {CLI_OPT_STRING, 0, "repoint-at", RO(repoint_at_promotion), set_repoint_at,
     .arg = "switch|promotion",
     .help = "with --watch, repoint when a quorum announces\n"
             "+switch-master (switch, default), or as soon as the\n"
             "replica Sentinel's leader selected answers ROLE master\n"
             "(promotion: ~1 s sooner; see README)"},
    {CLI_OPT_FLAG, 0, "apply", RO(apply), .help = "correct drift (default: report only)"},
    {CLI_OPT_FLAG, 0, "allow-destructive", RO(allow_destructive),
     .help = "with --apply, also run destructive steps"},
    {CLI_OPT_FLAG, 0, "detailed-exitcode", RO(detailed_exitcode),
     .help = "with --once, exit 2 when drift remains"},
    {CLI_OPT_DURATION, 0, "lock-timeout", RO(lock_timeout_ms), NULL, 0, 0, "30s, 5m, 250ms",
     .arg = "DURATION",
     .help = "wait this long for a cluster's lock (held by\n"
             "`rmgr apply`) before skipping that cluster's apply\n"
             "this run (default 1s)"},
    {CLI_OPT_STRING, 0, "state-dir", RO(state_dir), .arg = "DIR",
     .help = "drift state files, one per cluster (default: DIR/state\n"
             "with --cache-dir DIR, else $XDG_CACHE_HOME/rmgr/state\n"
             "or ~/.cache/rmgr/state)"},
    {CLI_OPT_MS, 0, "connect-timeout", RO(connect_timeout_ms), NULL, 1, 3600 * 1000,
     .arg = "MS", .help = "connect timeout per server (default 1000)"},
    {CLI_OPT_MS, 0, "timeout", RO(command_timeout_ms), NULL, 1, 3600 * 1000, .arg = "MS",
     .help = CLI_TIMEOUT_HELP_OBSERVE},
    {CLI_OPT_FLAG, 0, "accept-new-host-keys", RO(accept_new_host_keys),
     .help = "ssh: trust unknown host keys on first use (never\nchanged ones)"},
    {CLI_OPT_GROUP, .help = "Fleet (several workers share the clusters through etcd):"},
    CLI_OPTS_LOCK(struct reconcile_options, lock, lock_etcd),
    {CLI_OPT_STRING, 0, "worker-id", RO(lock_etcd.worker), .arg = "ID",
     .help = "this worker's name under /rmgr/workers/ (default\nHOSTNAME-PID; keep it stable across restarts)"},
    {CLI_OPT_GROUP, .help = "Notifications:"},
    CLI_OPTS_NOTIFY(struct reconcile_options, notify),
    {CLI_OPT_GROUP, .help = "Metrics and status page:"},
    {CLI_OPT_STRING, 0, "metrics-listen", RO(metrics_listen), .arg = "ADDR:PORT",
     .help = "serve /metrics (Prometheus), / (status page) and\n"
             "/api/status (JSON) here, e.g. 127.0.0.1:9121\n"
             "(daemon only; not loopback: needs a token)"},
    {CLI_OPT_STRING, 0, "metrics-file", RO(metrics_file), .arg = "PATH",
     .help = "write the metrics to PATH after every run, replaced\n"
             "atomically (node_exporter's textfile collector:\n"
             "name it *.prom)"},
    {CLI_OPT_STRING, 0, "metrics-token-file", RO(metrics_token_file), .arg = "FILE",
     .help = "bearer token every request to --metrics-listen must\n"
             "carry (a file under the secrets directory)"},
    {CLI_OPT_GROUP, .help = "Logging (one line per event, with cluster and commit):"},
    {CLI_OPT_STRING, 0, "log-format", RO(log_format), set_log_format, .arg = "text|json",
     .help = "(default text)"},
    {CLI_OPT_STRING, 0, "log-file", RO(log_file), .arg = "FILE",
     .help = "append to FILE instead of stderr (reopened on SIGHUP)"},
    {CLI_OPT_STRING, 0, "log-level", RO(log_level), set_log_level, .arg = "LEVEL",
     .help = "debug, info (default), warn or error"},
};

#undef RO

/*
 * Parse argv into o (initialised here). 0, or -1 with *err (a usage error).
 * Pure apart from $RMGR_WEBHOOK_URL, so SIGHUP can run it again.
 */
static int parse_args(int argc, char **argv, struct reconcile_options *o, char **err)
{
    reconcile_options_init(o);
    long default_interval_ms = o->interval_ms;
    o->interval_ms = -1; /* whether --interval was given: it is at least 1000 */
    if (cli_opt_parse(reconcile_opts, ARRAY_SIZE(reconcile_opts), 0, argc, argv, o, err) < 0)
        return -1;
    bool interval_given = o->interval_ms >= 0;
    if (!interval_given)
        o->interval_ms = default_interval_ms;
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
    if (o->repoint_at_promotion && !o->watch) {
        *err = xstrdup("--repoint-at promotion needs --watch");
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
    if (o->metrics_listen) {
        struct metrics_listen l;
        if (o->once) {
            *err = xstrdup("--once excludes --metrics-listen (use --metrics-file)");
            return -1;
        }
        if (metrics_listen_parse(o->metrics_listen, &l, err) < 0)
            return -1;
        if (!l.loopback && !o->metrics_token_file) {
            *err = xasprintf("--metrics-listen %s is not a loopback address: it needs "
                             "--metrics-token-file",
                             o->metrics_listen);
            return -1;
        }
    } else if (o->metrics_token_file) {
        *err = xstrdup("--metrics-token-file needs --metrics-listen");
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

static int run_reconcile(int argc, char **argv)
{
    const struct command *cmd = &command_reconcile;
    struct reconcile_options *o = xcalloc(1, sizeof(*o));
    char *err = NULL;
    if (parse_args(argc, argv, o, &err) < 0) {
        reconcile_options_release(o);
        free(o);
        return cli_opt_usage_error(cmd, err);
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
    int rc = EXIT_FAILURE_;
    if (!r) {
        log_event(LOG_ERROR, "start-failed", NULL, NULL, NULL, 0, "%s", err ? err : "cannot start");
        free(err);
    } else if (o->once) {
        enum reconcile_status worst = reconciler_run(r, &stop_flag);
        rc = stop_flag && worst == RECONCILE_SKIPPED ? EXIT_OK
                                                      : reconcile_exit_code(worst, o->detailed_exitcode);
    } else {
        struct reparse rp = {argc, argv, notify_log};
        struct reconcile_signals sig = {&stop_flag, &reload_flag, wake_pipe[0], reload_options,
                                        &rp};
        rc = reconcile_loop(r, &o, &sig);
    }
    reconciler_free(r); /* NULL when it did not start */
    reconcile_options_release(o);
    free(o);
    if (notify_log)
        fclose(notify_log);
    log_close();
    return rc;
}

const struct command command_reconcile = {
    /* name, run, summary (`rmgr help`) */
    "reconcile", run_reconcile, "keep clusters equal to their specs: cron job or daemon",
    .usage =
        "usage: rmgr reconcile (-f SPEC|DIR | --repo URL [--ref REF] [--path DIR]\n"
        "                      [--cache-dir DIR]) [--once | --interval DURATION]\n"
        "                      [--watch [--repoint-at switch|promotion]]\n"
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
        "With --repoint-at promotion the watcher also follows each shard's failover\n"
        "(+odown, +elected-leader, +selected-slave, -failover-abort-*): once a quorum\n"
        "published +odown and the elected leader selected a member of the shard, it\n"
        "polls that member every few ms and repoints the proxies as soon as it\n"
        "answers ROLE master, about a second before the quorum's +switch-master. A\n"
        "failover that then ends otherwise (aborted, another replica selected, another\n"
        "master announced) is logged and notified, and the quorum is followed.\n"
        "\n"
        "Metrics: --metrics-listen serves Prometheus metrics at /metrics, a status\n"
        "page (shards, sentinels, proxies, drift, alerts, charts of the last hour) at\n"
        "/ and the same as JSON at /api/status, from what the runs observed: a\n"
        "request never talks to a cluster. --metrics-file writes the metrics after\n"
        "every run (with --once too, for cron).\n",
    CLI_COMMAND_OPTS(reconcile_opts),
    .epilog =
        "Signals: SIGTERM or SIGINT finish the running step and exit 0 (a second one\n"
        "exits at once); SIGHUP reads the options again, reopens the log file and\n"
        "reconciles at once.\n"
        "\n"
        "Exit status (--once): 0 every cluster matches its spec (or was corrected;\n"
        "also with drift reported, unless --detailed-exitcode), 1 an error in any\n"
        "cluster (spec, password, refused plan, failed apply, git), 2 usage error, or\n"
        "drift remains with --detailed-exitcode. The daemon exits 0 after a signal.\n",
};
