/*
 * cmd_logs.c - `rmgr logs -f SPEC [--shard NAME] [--kind redis|sentinel|proxy]
 * [-n LINES] [--follow]`: the logs of the selected instances over their
 * transports, each line prefixed by "ADDRESS KIND | ", merged by time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "conf.h"
#include "logs.h"
#include "opt.h"
#include "select.h"
#include "session.h"
#include "util.h"

#define LOGS_FOLLOW_POLL_MS 500

struct logs_args {
    struct session_options so;
    const char *shard, *kind;
    long lines;
    bool follow;
};

static int take_lines(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)opt;
    if (!parse_long(value, 0, 1000000, (long *)dest)) {
        *err = xasprintf("option '-n' needs a number of lines (0-1000000), not '%s'", value);
        return -1;
    }
    return 0;
}

static const struct cli_opt logs_opts[] = {
    CLI_OPT_SPEC(struct logs_args, so),
    {CLI_OPT_STRING, 0, "shard", offsetof(struct logs_args, shard), .arg = "NAME",
     .help = "only this shard's redis instances (sentinels and\nproxies serve every shard: they stay unless --kind)"},
    {CLI_OPT_STRING, 0, "kind", offsetof(struct logs_args, kind), .arg = "KIND",
     .help = "only redis, sentinel or proxy instances"},
    {CLI_OPT_STRING, 'n', "lines", offsetof(struct logs_args, lines), take_lines, .arg = "LINES",
     .help = "lines from each log (default 10)"},
    {CLI_OPT_FLAG, 0, "follow", offsetof(struct logs_args, follow),
     .help = "then print lines as they are appended, until\ninterrupted (a log that shrank is read again)"},
    {CLI_OPT_MS, 0, "connect-timeout", offsetof(struct logs_args, so.connect_timeout_ms), NULL, 1,
     3600 * 1000, .arg = "MS", .help = "connect timeout per host (default 5000)"},
    {CLI_OPT_MS, 0, "timeout", offsetof(struct logs_args, so.command_timeout_ms), NULL, 1,
     3600 * 1000, .arg = "MS", .help = "command timeout per host (default 30000)"},
};

struct sources {
    struct logs_source *v;
    size_t n, cap;
};

static void add_source(struct sources *s, const struct spec *sp, const char *kind,
                       const char *host, const char *ip, int port)
{
    VEC_GROW(s->v, s->n, s->cap);
    s->v[s->n++] = (struct logs_source){
        .label = xasprintf("%s:%d %s", ip, port, kind),
        .host = xstrdup(host),
        .path = conf_logfile_path(sp, kind, port),
    };
}

static void select_sources(const struct spec *sp, const struct logs_args *a, struct sources *s)
{
    if (!a->kind || str_eq(a->kind, "redis"))
        for (size_t i = 0; i < sp->nshards; i++) {
            const struct spec_shard *sh = &sp->shards[i];
            if (a->shard && !str_eq(a->shard, sh->name))
                continue;
            for (size_t k = 0; k <= sh->nreplicas; k++) {
                const struct spec_addr *x = k == 0 ? &sh->master : &sh->replicas[k - 1];
                add_source(s, sp, "redis", x->host, x->ip, x->port);
            }
        }
    if (!a->kind || str_eq(a->kind, "sentinel"))
        for (size_t i = 0; i < sp->sentinel.nnodes; i++) {
            const struct spec_addr *x = &sp->sentinel.nodes[i];
            add_source(s, sp, "sentinel", x->host, x->ip, x->port);
        }
    if (!a->kind || str_eq(a->kind, "proxy"))
        for (size_t i = 0; i < sp->nproxies; i++) {
            const struct spec_proxy *p = &sp->proxies[i];
            add_source(s, sp, "proxy", p->host, p->listen.ip, p->listen.port);
        }
}

/* Print the fetched lines merged; report each failed source. Returns how many failed. */
static size_t print_batch(struct sources *s, char **last_errors)
{
    struct strbuf out = {0};
    logs_merge(s->v, s->n, &out);
    fputs(sb_str(&out), stdout);
    fflush(stdout);
    sb_release(&out);
    size_t failed = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->v[i].error) {
            free(last_errors[i]);
            last_errors[i] = NULL;
            continue;
        }
        failed++;
        if (!str_eq(last_errors[i], s->v[i].error))
            fprintf(stderr, "rmgr: %s: %s\n", s->v[i].label, s->v[i].error);
        free(last_errors[i]);
        last_errors[i] = xstrdup(s->v[i].error);
    }
    return failed;
}

static int run_logs(int argc, char **argv)
{
    struct logs_args a = {.lines = 10};
    const struct command *cmd = &command_logs;
    int rc = cli_parse_spec_command(cmd, argc, argv, &a, &a.so.spec_path);
    if (!rc && a.kind && !str_eq(a.kind, "redis") && !str_eq(a.kind, "sentinel") &&
        !str_eq(a.kind, "proxy"))
        rc = cli_usage_error(cmd, "option '--kind' needs redis, sentinel or proxy, not '%s'",
                             a.kind);
    if (rc)
        return rc;
    struct session s = {0};
    if (session_load(&s, &a.so, stderr) < 0)
        return EXIT_FAILURE_;
    if (select_check_shard(s.spec, a.shard)) {
        session_release(&s);
        return EXIT_FAILURE_;
    }
    struct sources src = {0};
    select_sources(s.spec, &a, &src);
    struct transport_options to = {a.so.connect_timeout_ms, a.so.command_timeout_ms, false};
    char **last_errors = xcalloc(src.n ? src.n : 1, sizeof(*last_errors));
    logs_fetch(s.spec, src.v, src.n, a.lines, &to);
    size_t failed = print_batch(&src, last_errors);
    while (a.follow) {
        struct timespec ts = {0, LOGS_FOLLOW_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
        logs_fetch(s.spec, src.v, src.n, -1, &to);
        print_batch(&src, last_errors);
    }
    for (size_t i = 0; i < src.n; i++) {
        free(last_errors[i]);
        logs_source_release(&src.v[i]);
    }
    free(last_errors);
    free(src.v);
    session_release(&s);
    return failed ? EXIT_FAILURE_ : EXIT_OK;
}

const struct command command_logs = {
    /* name, run, summary (`rmgr help`) */
    "logs", run_logs, "show the instances' logs, merged by time",
    .usage =
        "usage: rmgr logs -f SPEC [--shard NAME] [--kind redis|sentinel|proxy] [-n LINES]\n"
        "                 [--follow] [--connect-timeout MS] [--timeout MS]\n"
        "\n"
        "Read the log file of every selected instance over its transport (local or\n"
        "ssh), the last LINES lines of each, and print them merged by time (Redis and\n"
        "Sentinel's 'pid:role dd Mon yyyy hh:mm:ss.mmm', nutcracker's '[yyyy-mm-dd\n"
        "hh:mm:ss.mmm]'; a line without a time stays after the line before it), each\n"
        "prefixed by its instance: '127.0.0.1:7001 redis | ...'.\n",
    CLI_COMMAND_OPTS(logs_opts),
    .epilog =
        "Exit status: 0 every log was read, 1 a log could not be read (each is named\n"
        "on stderr) or the spec could not be loaded, 2 usage error.\n",
};
