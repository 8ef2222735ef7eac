/*
 * cmd_observe.c - `rmgr observe -f SPEC [--json]`: what is running, exactly
 * as the planner sees it. --json prints the observed model in the format of
 * the planner's fixtures (observed_json.c), so a live state can be captured
 * as a test fixture; without it, one line per instance.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "observed.h"
#include "opt.h"
#include "session.h"
#include "util.h"

static void print_files(const struct obs_files *f)
{
    if (!f->checked) {
        if (f->error)
            printf("; files not checked: %s", f->error);
    } else if (!f->dir_present) {
        printf("; no instance dir");
    } else if (!f->conf_present) {
        printf("; no config file");
    }
}

static void print_redis(const struct obs_redis *r)
{
    printf("redis     %s:%-6d %-11s", r->ip, r->port, reach_name(r->reach));
    if (r->reach != REACH_OK) {
        printf(" %s", r->reach_detail ? r->reach_detail : "");
    } else if (str_eq(r->role, "master")) {
        printf(" master, %d replica%s, %lld key%s, offset %lld", r->connected_slaves,
               r->connected_slaves == 1 ? "" : "s", r->keys, r->keys == 1 ? "" : "s",
               r->master_repl_offset);
    } else {
        printf(" replica of %s:%d (link %s), offset %lld", r->master_host ? r->master_host : "?",
               r->master_port, r->master_link_status ? r->master_link_status : "?",
               r->slave_repl_offset);
    }
    if (r->loading)
        printf(", loading");
    print_files(&r->files);
    putchar('\n');
}

static void print_sentinel(const struct obs_sentinel *s)
{
    printf("sentinel  %s:%-6d %-11s", s->ip, s->port, reach_name(s->reach));
    if (s->reach != REACH_OK)
        printf(" %s", s->reach_detail ? s->reach_detail : "");
    else if (!s->nmasters)
        printf(" monitors nothing");
    for (size_t i = 0; s->reach == REACH_OK && i < s->nmasters; i++) {
        const struct obs_sentinel_master *m = &s->masters[i];
        printf("%s %s -> %s:%d (%s, epoch %lld, %zu replica%s, %zu other sentinel%s)",
               i ? ";" : "", m->name, m->ip, m->port, m->flags ? m->flags : "?",
               m->config_epoch, m->nreplicas, m->nreplicas == 1 ? "" : "s", m->nsentinels,
               m->nsentinels == 1 ? "" : "s");
    }
    print_files(&s->files);
    putchar('\n');
}

static void print_proxy(const struct obs_proxy *p)
{
    printf("proxy     %s:%-6d %-11s", p->ip, p->listen_port, reach_name(p->reach));
    if (p->reach != REACH_OK)
        printf(" stats port %d: %s", p->stats_port, p->reach_detail ? p->reach_detail : "");
    else
        printf(" up %llds", p->uptime_s);
    if (p->files.checked)
        printf(", config %s", p->config_present ? "present" : "absent");
    print_files(&p->files);
    putchar('\n');
}

struct observe_args {
    struct session_options so;
    bool json;
};

static const struct cli_opt observe_opts[] = {
    CLI_OPT_SPEC(struct observe_args, so),
    CLI_OPTS_POLICY(struct observe_args, so),
    {CLI_OPT_FLAG, 0, "json", offsetof(struct observe_args, json),
     .help = "the observed model as JSON"},
    {CLI_OPT_FLAG, 0, "skip-files", offsetof(struct observe_args, so.skip_files),
     .help = "do not read instance files on the hosts"},
    CLI_OPTS_TIMEOUTS(struct observe_args, so, CLI_TIMEOUT_HELP_OBSERVE),
};

static int run_observe(int argc, char **argv)
{
    struct observe_args args = {0};
    int urc = cli_parse_spec_command(&command_observe, argc, argv, &args, &args.so.spec_path);
    if (urc)
        return urc;

    struct session s = {0};
    if (session_load(&s, &args.so, stderr) < 0)
        return EXIT_FAILURE_;
    session_observe(&s, &args.so);
    const struct observed *o = s.observed;
    if (args.json) {
        char *text = observed_to_json(o);
        fputs(text, stdout);
        if (!*text || text[strlen(text) - 1] != '\n')
            putchar('\n');
        free(text);
    } else {
        for (size_t i = 0; i < o->nredis; i++)
            print_redis(&o->redis[i]);
        for (size_t i = 0; i < o->nsentinels; i++)
            print_sentinel(&o->sentinels[i]);
        for (size_t i = 0; i < o->nproxies; i++)
            print_proxy(&o->proxies[i]);
        printf("Observed %zu redis, %zu sentinel%s, %zu prox%s in %lld ms.\n", o->nredis,
               o->nsentinels, o->nsentinels == 1 ? "" : "s", o->nproxies,
               o->nproxies == 1 ? "y" : "ies", o->took_ms);
    }
    session_release(&s);
    return EXIT_OK;
}

const struct command command_observe = {
    /* name, run, summary (`rmgr help`) */
    "observe", run_observe, "show what is running, as the planner sees it",
    .usage = "usage: rmgr observe -f SPEC [--json] [--skip-files] [--connect-timeout MS]\n"
             "                    [--timeout MS]\n"
             "\n"
             "Look at every instance the spec names (in parallel: a dead host costs one\n"
             "timeout) and print one line each; with --json the whole observed model, in\n"
             "the format of the planner's test fixtures. Passwords never appear.\n",
    CLI_COMMAND_OPTS(observe_opts),
    .epilog = "Exit status: 0 observed (whatever was found), 1 the spec or password could\n"
              "not be read, 2 usage error.\n",
};
