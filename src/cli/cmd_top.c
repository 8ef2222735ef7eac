/*
 * cmd_top.c - `rmgr top -f SPEC [--interval 1s] [--once] [--json]`: a live
 * view of the shards' masters and the proxies (top.c), redrawn in place on
 * a terminal, plain frames one after another otherwise.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "opt.h"
#include "session.h"
#include "top.h"
#include "util.h"

struct top_args {
    struct session_options so;
    long interval_ms;
    bool once, json;
};

static const struct cli_opt top_opts[] = {
    CLI_OPT_SPEC(struct top_args, so),
    {CLI_OPT_DURATION, 0, "interval", offsetof(struct top_args, interval_ms), NULL, 100, 0,
     "1s, 500ms, 5s", .arg = "DURATION",
     .help = "between observations (default 1s, at least 100ms)"},
    {CLI_OPT_FLAG, 0, "once", offsetof(struct top_args, once),
     .help = "print one frame (two observations) and exit"},
    {CLI_OPT_FLAG, 0, "json", offsetof(struct top_args, json),
     .help = "frames as JSON documents (with --once: one, for scripts)"},
    CLI_OPTS_TIMEOUTS(struct top_args, so, CLI_TIMEOUT_HELP_OBSERVE),
};

static volatile sig_atomic_t top_stop;

static void on_signal(int sig)
{
    (void)sig;
    top_stop = 1;
}

/* Whether every shard's master and every proxy answered. */
static bool sample_complete(const struct top_sample *t)
{
    for (size_t i = 0; i < t->nshards; i++)
        if (!t->shards[i].ok)
            return false;
    for (size_t i = 0; i < t->nproxies; i++)
        if (!t->proxies[i].ok)
            return false;
    return true;
}

static void print_frame(const struct session *s, const struct top_args *a, bool tty,
                        const struct top_sample *prev, const struct top_sample *cur)
{
    if (a->json) {
        char *doc = top_render_json(s->spec, prev, cur);
        fputs(doc, stdout);
        free(doc);
        fflush(stdout);
        return;
    }
    struct strbuf out = {0};
    time_t now = time(NULL);
    struct tm tm;
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
    if (tty)
        sb_add(&out, "\033[H\033[2J"); /* home, clear: redraw in place */
    sb_addf(&out, "rmgr top  %s  %s  (every %.1fs%s)\n\n", s->spec->cluster, when,
            (double)a->interval_ms / 1000.0, tty ? ", Ctrl-C to quit" : "");
    top_render_text(s->spec, prev, cur, &out);
    if (!tty && !a->once)
        sb_addc(&out, '\n');
    fputs(sb_str(&out), stdout);
    fflush(stdout);
    sb_release(&out);
}

static int run_top(int argc, char **argv)
{
    struct top_args a = {.interval_ms = 1000};
    const struct command *cmd = &command_top;
    int rc = cli_parse_spec_command(cmd, argc, argv, &a, &a.so.spec_path);
    if (rc)
        return rc;
    struct session s = {0};
    if (session_load(&s, &a.so, stderr) < 0)
        return EXIT_FAILURE_;
    long ct = a.so.connect_timeout_ms ? a.so.connect_timeout_ms : SESSION_DEFAULT_CONNECT_TIMEOUT_MS;
    long mt = a.so.command_timeout_ms ? a.so.command_timeout_ms : SESSION_DEFAULT_COMMAND_TIMEOUT_MS;
    bool tty = isatty(STDOUT_FILENO) && !a.json;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct top_sample prev, cur;
    top_sample(s.spec, s.password, ct, mt, &prev);
    bool complete = true;
    while (!top_stop) {
        for (long waited = 0; waited < a.interval_ms && !top_stop; waited += 50)
            sleep_ms(a.interval_ms - waited < 50 ? a.interval_ms - waited : 50);
        if (top_stop)
            break;
        top_sample(s.spec, s.password, ct, mt, &cur);
        print_frame(&s, &a, tty, &prev, &cur);
        complete = sample_complete(&cur);
        top_sample_release(&prev);
        prev = cur;
        if (a.once)
            break;
    }
    top_sample_release(&prev);
    session_release(&s);
    return a.once && !complete ? EXIT_FAILURE_ : EXIT_OK;
}

const struct command command_top = {
    /* name, run, summary (`rmgr help`) */
    "top", run_top, "a live view of the masters' and proxies' load",
    .usage =
        "usage: rmgr top -f SPEC [--interval DURATION] [--once] [--json]\n"
        "                [--connect-timeout MS] [--timeout MS]\n"
        "\n"
        "Per shard its master's ops/s, memory used / maxmemory, clients, keys, hit rate\n"
        "and each replica's lag (bytes behind, seconds since its last ack); per proxy\n"
        "requests/s, forward errors and client connections. Rates come from two\n"
        "observations an interval apart (a proxy's from nutcracker's own aggregation\n"
        "timestamps: '-' until it aggregated again). On a terminal the view is redrawn\n"
        "in place until Ctrl-C; otherwise each frame is printed after the last.\n",
    CLI_COMMAND_OPTS(top_opts),
    .epilog =
        "Exit status: 0, or with --once 1 when a shard's master or a proxy did not\n"
        "answer; 1 the spec could not be loaded, 2 usage error.\n",
};
