/*
 * apply_move.c - the executors of a member move (see apply_move.h and
 * docs/design-move.md): wait for the new member's sync, then the failover
 * onto it through Sentinel.
 */
#include "apply_move.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_parse.h"
#include "switchover.h"

#define WAIT_SYNC_MIN_MS 25000 /* Sentinel lists a new replica from the master's INFO, every 10 s */
#define WAIT_SYNC_POLL_CAP_US 200000
#define FAILOVER_MIN_MS 60000  /* priorities shown (10 s INFO period), failover, switch */

/* INFO replication of ip:port into *info (released by the caller). 0, or -1 and *why. */
static int info_replication(struct run *r, const char *ip, int port, struct obs_redis *info,
                            char **why)
{
    redisContext *c = run_connect(r, ip, port, true, why);
    if (!c)
        return -1;
    char *where = xasprintf("%s:%d", ip, port);
    const char *argv[] = {"INFO", "replication"};
    redisReply *rep = run_cmd(c, where, "INFO", false, 2, argv, why);
    int rc = -1;
    if (rep && rep->type == REDIS_REPLY_STRING)
        rc = redis_parse_info(rep->str, info, why);
    else if (rep)
        *why = xasprintf("%s: INFO: unexpected reply", where);
    rclient_reply_free(rep);
    rclient_close(c);
    free(where);
    return rc;
}

/* How many spec sentinels list ip:port as a healthy replica of `shard`. */
static size_t sentinels_listing(struct run *r, const char *shard, const char *ip, int port)
{
    size_t n = 0;
    const struct spec_sentinel *ss = &r->s->sentinel;
    for (size_t j = 0; j < ss->nnodes; j++) {
        char *e = NULL;
        redisContext *c = run_connect(r, ss->nodes[j].ip, ss->nodes[j].port, true, &e);
        free(e);
        if (!c)
            continue;
        redisReply *rep = rclient_command(c, NULL, "SENTINEL", "REPLICAS", shard, NULL);
        struct obs_sentinel_peer *peers = NULL;
        size_t np = 0;
        e = NULL;
        if (rep && redis_parse_sentinel_peers(rep, false, &peers, &np, &e) == 0)
            for (size_t k = 0; k < np; k++)
                if (peers[k].port == port && str_eq(peers[k].ip, ip) &&
                    !(peers[k].flags && (strstr(peers[k].flags, "s_down") ||
                                         strstr(peers[k].flags, "disconnected"))))
                    n++;
        free(e);
        obs_sentinel_peers_free(peers, np);
        rclient_reply_free(rep);
        rclient_close(c);
    }
    return n;
}

int exec_wait_sync(struct run *r, struct hostc *h, const struct step *st, const char **note,
                   char **err)
{
    (void)h, (void)note;
    if (!st->master_ip || !st->shard) {
        *err = xstrdup("the step names no master");
        return -1;
    }
    long wait_ms = r->o.repl_timeout_ms > WAIT_SYNC_MIN_MS ? r->o.repl_timeout_ms
                                                           : WAIT_SYNC_MIN_MS;
    long long t0 = now_ms(), deadline = t0 + wait_ms;
    long delay_us = 1000;
    struct spec_addr self = {.ip = st->ip, .port = st->port};
    for (;;) {
        char *why = NULL;
        struct obs_redis mi = {0}, ri = {0};
        if (info_replication(r, st->master_ip, st->master_port, &mi, &why) == 0 &&
            !str_eq(mi.role, "master")) {
            /* never wait on (or promote from) a node that is no longer the master */
            *err = xasprintf("%s:%d is no longer a master (role %s): re-run plan",
                             st->master_ip, st->master_port, mi.role ? mi.role : "?");
            obs_redis_release(&mi);
            return -1;
        }
        if (!why) {
            /* the master's offset first: the replica must reach at least that */
            struct switchover_member m = {.addr = &self};
            if (info_replication(r, st->ip, st->port, &ri, &why) == 0) {
                m.reached = true;
                m.replica_of_master = str_eq(ri.role, "slave") &&
                                      str_eq(ri.master_host, st->master_ip) &&
                                      ri.master_port == st->master_port;
                m.link_up = str_eq(ri.master_link_status, "up");
                m.offset = ri.slave_repl_offset;
                m.sentinels_ok = sentinels_listing(r, st->shard, st->ip, st->port);
            }
            free(why);
            why = NULL;
            if (switchover_member_ready(&m, mi.master_repl_offset, r->s->sentinel.nnodes, &why)) {
                obs_redis_release(&mi);
                obs_redis_release(&ri);
                return 0;
            }
        }
        obs_redis_release(&mi);
        obs_redis_release(&ri);
        if (now_ms() >= deadline) {
            *err = xasprintf("%s:%d not in sync with %s:%d after %lld ms: %s", st->ip, st->port,
                             st->master_ip, st->master_port, now_ms() - t0,
                             why ? why : "unknown");
            free(why);
            return -1;
        }
        free(why);
        instance_backoff(&delay_us, WAIT_SYNC_POLL_CAP_US);
    }
}

/*
 * After the quorum's switch: wait until every spec sentinel names ip:port as
 * master of `shard` and none still runs the failover (the leader reports the
 * old master until its failover ends), so that the step leaves a settled
 * shard behind. 0, or -1 and *err.
 */
static int wait_settled(struct run *r, const char *shard, const char *ip, int port, char **err)
{
    const struct spec_sentinel *ss = &r->s->sentinel;
    long wait_ms = ss->failover_timeout_ms + 10000;
    if (wait_ms < r->o.sentinel_timeout_ms)
        wait_ms = r->o.sentinel_timeout_ms;
    long long t0 = now_ms(), deadline = t0 + wait_ms;
    long delay_us = 1000;
    for (;;) {
        struct strbuf seen = {0};
        for (size_t j = 0; j < ss->nnodes; j++) {
            char *e = NULL;
            redisContext *c = run_connect(r, ss->nodes[j].ip, ss->nodes[j].port, true, &e);
            if (!c) {
                run_seen_add(&seen, "%s", e);
                free(e);
                continue;
            }
            struct obs_sentinel_master *ms = NULL;
            size_t nms = 0;
            redisReply *rep = rclient_command(c, NULL, "SENTINEL", "MASTERS", NULL);
            const struct obs_sentinel_master *m = NULL;
            if (rep && redis_parse_sentinel_masters(rep, &ms, &nms, &e) == 0)
                for (size_t k = 0; k < nms; k++)
                    if (str_eq(ms[k].name, shard))
                        m = &ms[k];
            if (!m)
                run_seen_add(&seen, "sentinel %s:%d: no entry for %s", ss->nodes[j].ip,
                             ss->nodes[j].port, shard);
            else if (m->port != port || !str_eq(m->ip, ip) ||
                     (m->flags && strstr(m->flags, "failover_in_progress")))
                run_seen_add(&seen, "sentinel %s:%d: master %s:%d (%s)", ss->nodes[j].ip,
                             ss->nodes[j].port, m->ip ? m->ip : "?", m->port,
                             m->flags ? m->flags : "?");
            free(e);
            obs_sentinel_masters_free(ms, nms);
            rclient_reply_free(rep);
            rclient_close(c);
        }
        if (!seen.len) {
            sb_release(&seen);
            return 0;
        }
        if (now_ms() >= deadline) {
            *err = xasprintf("the sentinels did not settle on %s:%d as master of %s within %lld "
                             "ms: %s",
                             ip, port, shard, now_ms() - t0, sb_str(&seen));
            sb_release(&seen);
            return -1;
        }
        sb_release(&seen);
        instance_backoff(&delay_us, WAIT_SYNC_POLL_CAP_US);
    }
}

int exec_failover(struct run *r, struct hostc *h, const struct step *st, const char **note,
                  char **err)
{
    (void)h, (void)note;
    size_t shard = r->s->nshards;
    for (size_t i = 0; i < r->s->nshards; i++)
        if (str_eq(r->s->shards[i].name, st->shard))
            shard = i;
    if (shard == r->s->nshards || !st->master_ip) {
        *err = xasprintf("the step names no shard of the spec or no master");
        return -1;
    }
    /* the switchover starts from the step's master, the one that leaves the spec */
    struct plan view = *r->p;
    struct spec_addr *ms = xcalloc(r->s->nshards + 1, sizeof(*ms));
    memcpy(ms, r->p->masters, r->s->nshards * sizeof(*ms));
    ms[shard] = (struct spec_addr){.host = st->master_ip, .ip = st->master_ip,
                                   .port = st->master_port};
    view.masters = ms;
    char *to = xasprintf("%s:%d", st->ip, st->port);
    char *lines = NULL;
    size_t nlines = 0;
    FILE *out = open_memstream(&lines, &nlines);
    if (!out) {
        free(ms);
        free(to);
        *err = xstrdup("open_memstream failed");
        return -1;
    }
    struct switchover_options o = {
        .to = to,
        .timeout_ms = r->o.sentinel_timeout_ms > FAILOVER_MIN_MS ? r->o.sentinel_timeout_ms
                                                                 : FAILOVER_MIN_MS,
        .connect_timeout_ms = r->ro.connect_timeout_ms,
        .command_timeout_ms = r->ro.command_timeout_ms,
        .out = out,
        .no_repoint = true,
    };
    char *new_master = NULL, *e = NULL;
    int rc = switchover_run(r->s, r->password, &view, shard, &o, &new_master, &e);
    fclose(out);
    if (rc == 0)
        rc = wait_settled(r, st->shard, st->ip, st->port, &e);
    if (rc < 0) {
        *err = xasprintf("%s%s%s", e ? e : "failover failed", lines && *lines ? "\n" : "",
                         lines ? lines : "");
        /* progress lines end with a newline: drop the last one */
        size_t n = strlen(*err);
        if (n && (*err)[n - 1] == '\n')
            (*err)[n - 1] = '\0';
    }
    free(e);
    free(new_master);
    free(lines);
    free(to);
    free(ms);
    return rc;
}
