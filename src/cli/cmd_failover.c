/*
 * cmd_failover.c - `rmgr failover -f SPEC SHARD [--to ADDRESS] [--timeout
 * DURATION]`: a planned switchover through Sentinel (switchover.c), then
 * the shard's new layout.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opt.h"
#include "select.h"
#include "session.h"
#include "switchover.h"
#include "util.h"

#define FAILOVER_LAYOUT_WAIT_MS 10000 /* for the other members to follow the new master */

struct failover_args {
    struct session_options so;
    const char *shard, *to;
    long timeout_ms;
};

static const struct cli_opt failover_opts[] = {
    CLI_OPT_SPEC(struct failover_args, so),
    {CLI_OPT_STRING, 0, "to", offsetof(struct failover_args, to), .arg = "ADDRESS",
     .help = "the replica to promote (IP:PORT or HOST:PORT)"},
    {CLI_OPT_DURATION, 0, "timeout", offsetof(struct failover_args, timeout_ms), NULL, 1, 0,
     "90s, 2m", .arg = "DURATION",
     .help = "give up after DURATION (90s, 2m; default: the\nsentinels' failover_timeout + 30 s)"},
    {CLI_OPT_MS, 0, "connect-timeout", offsetof(struct failover_args, so.connect_timeout_ms),
     NULL, 1, 3600 * 1000, .arg = "MS", .help = "connect timeout per server (default 1000)"},
    {CLI_OPT_ARG, 0, NULL, offsetof(struct failover_args, shard)},
};

/* Whether every member of shard i follows master m with its link up. */
static bool layout_settled(const struct session *s, size_t i, const struct spec_addr *m)
{
    const struct spec_shard *sh = &s->spec->shards[i];
    for (size_t k = 0; k <= sh->nreplicas; k++) {
        const struct spec_addr *x = k == 0 ? &sh->master : &sh->replicas[k - 1];
        if (str_eq(x->ip, m->ip) && x->port == m->port)
            continue;
        const struct obs_redis *r = observed_redis(s->observed, x->ip, x->port);
        if (!r || r->reach != REACH_OK || !str_eq(r->role, "slave") ||
            !str_eq(r->master_host, m->ip) || r->master_port != m->port ||
            !str_eq(r->master_link_status, "up"))
            return false;
    }
    return true;
}

static void print_layout(const struct session *s, size_t i)
{
    const struct spec_shard *sh = &s->spec->shards[i];
    const struct spec_addr *m = &s->plan->masters[i];
    printf("%s:\n  master   %s:%d\n", sh->name, m->ip, m->port);
    for (size_t k = 0; k <= sh->nreplicas; k++) {
        const struct spec_addr *x = k == 0 ? &sh->master : &sh->replicas[k - 1];
        if (str_eq(x->ip, m->ip) && x->port == m->port)
            continue;
        const struct obs_redis *r = observed_redis(s->observed, x->ip, x->port);
        if (!r || r->reach != REACH_OK)
            printf("  replica  %s:%d  %s\n", x->ip, x->port, r ? reach_name(r->reach) : "?");
        else
            printf("  replica  %s:%d  replica of %s:%d, link %s\n", x->ip, x->port,
                   r->master_host ? r->master_host : "?", r->master_port,
                   r->master_link_status ? r->master_link_status : "?");
    }
}

static int run_failover(int argc, char **argv)
{
    struct failover_args a = {0};
    const struct command *cmd = &command_failover;
    int rc = cli_parse_spec_command(cmd, argc, argv, &a, &a.so.spec_path);
    if (!rc && !a.shard)
        rc = cli_usage_error(cmd, "failover needs a shard: rmgr failover -f SPEC SHARD");
    if (rc)
        return rc;
    a.so.skip_files = false;
    struct session s = {0};
    if (session_open(&s, &a.so, stderr) < 0)
        return EXIT_FAILURE_;
    rc = select_check_shard(s.spec, a.shard);
    size_t i = 0;
    while (!rc && !str_eq(s.spec->shards[i].name, a.shard))
        i++;
    char *why = NULL;
    if (!rc && !switchover_converged(s.plan, &why)) {
        fprintf(stderr, "rmgr: failover refused: %s\n", why);
        rc = EXIT_FAILURE_;
    }
    free(why);
    if (rc) {
        session_release(&s);
        return rc;
    }
    const struct spec_addr *m = &s.plan->masters[i];
    printf("Switching %s over from %s:%d%s%s through Sentinel:\n", a.shard, m->ip, m->port,
           a.to ? " to " : "", a.to ? a.to : "");
    fflush(stdout);
    struct switchover_options o = {
        .to = a.to,
        .timeout_ms = a.timeout_ms ? a.timeout_ms : s.spec->sentinel.failover_timeout_ms + 30000,
        .connect_timeout_ms = a.so.connect_timeout_ms ? a.so.connect_timeout_ms
                                                      : SESSION_DEFAULT_CONNECT_TIMEOUT_MS,
        .command_timeout_ms = SESSION_DEFAULT_COMMAND_TIMEOUT_MS,
        .out = stdout,
    };
    char *new_master = NULL, *err = NULL;
    long long started = now_ms();
    rc = switchover_run(s.spec, s.password, s.plan, i, &o, &new_master, &err) < 0
             ? EXIT_FAILURE_ : EXIT_OK;
    if (err)
        fprintf(stderr, "rmgr: failover of %s: %s\n", a.shard, err);
    if (new_master) {
        /*
         * the new layout, once Sentinel reconfigured the other members: their
         * first sync may wait out repl-diskless-sync-delay, so the wait runs
         * to the command's own deadline (at least FAILOVER_LAYOUT_WAIT_MS)
         */
        long long until = started + (long long)o.timeout_ms;
        if (until < now_ms() + FAILOVER_LAYOUT_WAIT_MS)
            until = now_ms() + FAILOVER_LAYOUT_WAIT_MS;
        for (;;) {
            observed_free(s.observed);
            plan_free(s.plan);
            free(s.fingerprint);
            s.observed = NULL, s.plan = NULL, s.fingerprint = NULL;
            session_observe(&s, &a.so);
            session_plan(&s, &a.so);
            if (layout_settled(&s, i, &s.plan->masters[i]) || now_ms() >= until)
                break;
            sleep_ms(200);
        }
        printf("\n");
        print_layout(&s, i);
    }
    free(new_master);
    free(err);
    session_release(&s);
    return rc;
}

const struct command command_failover = {
    /* name, run, summary (`rmgr help`) */
    "failover", run_failover, "switch a shard's master over through Sentinel",
    .usage =
        "usage: rmgr failover -f SPEC SHARD [--to ADDRESS] [--timeout DURATION]\n"
        "                     [--connect-timeout MS]\n"
        "\n"
        "A planned switchover: check that the cluster is converged (an empty plan)\n"
        "and that a replica is linked, caught up and known to every sentinel; with\n"
        "--to, give that replica the best replica-priority and wait until every\n"
        "sentinel's SENTINEL REPLICAS shows it (Sentinel reads it from INFO every\n"
        "10 s); send SENTINEL FAILOVER, wait until a quorum of sentinels names the new\n"
        "master (+switch-master), put the priorities back, repoint the proxies and\n"
        "show the shard's new layout. Refused when no replica is ready or the cluster\n"
        "is not converged. Nothing is changed by rmgr itself but replica-priority,\n"
        "for the duration.\n",
    CLI_COMMAND_OPTS(failover_opts),
    .epilog =
        "Exit status: 0 switched (and the proxies repointed), 1 refused, failed, timed\n"
        "out, or Sentinel promoted another replica than --to, 2 usage error.\n",
};
