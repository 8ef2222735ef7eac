/*
 * switchover.c - a planned failover of one shard through Sentinel (see
 * switchover.h).
 */
#include "switchover.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rclient.h"
#include "reply.h"
#include "redis_parse.h"
#include "repoint.h"
#include "util.h"

#define SWITCHOVER_POLL_MS 100
#define SWITCHOVER_CATCH_UP_MS 3000 /* a replica behind the master gets this long */

/* ---------------------------------------------------------------- pure */

bool switchover_member_ready(const struct switchover_member *m, long long master_offset,
                             size_t nsentinels, char **why)
{
    const char *what = NULL;
    char *owned = NULL;
    if (!m->reached)
        what = "does not answer";
    else if (!m->replica_of_master)
        what = "is not a replica of the current master";
    else if (!m->link_up)
        what = "link to the master is down";
    else if (m->offset < master_offset)
        what = owned = xasprintf("not caught up (%lld bytes behind)", master_offset - m->offset);
    else if (m->sentinels_ok < nsentinels)
        what = owned = xasprintf("known to %zu of %zu sentinels", m->sentinels_ok, nsentinels);
    if (what && why)
        *why = xasprintf("%s:%d: %s", m->addr->ip, m->addr->port, what);
    free(owned);
    return !what;
}

bool switchover_converged(const struct plan *p, char **why)
{
    if (p->nrefusals)
        *why = xasprintf("the planner refuses shard %s: run 'rmgr plan -f SPEC'",
                         p->refusals[0].shard);
    else if (p->waiting)
        *why = xasprintf("%zu shard%s left to Sentinel (a master down or a failover under way)",
                         p->waiting, p->waiting == 1 ? " is" : "s are");
    else if (p->unreachable)
        *why = xasprintf("%zu instance%s could not be reached", p->unreachable,
                         p->unreachable == 1 ? "" : "s");
    else if (plan_has_changes(p))
        *why = xasprintf("the cluster does not match its spec (%zu step%s): run 'rmgr apply "
                         "-f SPEC' first", p->nsteps, p->nsteps == 1 ? "" : "s");
    else
        return true;
    return false;
}

void switchover_priorities(const long *current, size_t n, size_t to, long *out)
{
    for (size_t i = 0; i < n; i++) {
        if (i == to)
            out[i] = SWITCHOVER_BEST_PRIORITY;
        else if (current[i] > 0 && current[i] <= SWITCHOVER_BEST_PRIORITY)
            out[i] = SWITCHOVER_BEST_PRIORITY + 1;
        else
            out[i] = current[i];
    }
}

/* ---------------------------------------------------------------- I/O */

struct run {
    const struct spec *s;
    const char *password;
    const struct spec_shard *sh;
    const struct spec_addr *master;
    const struct switchover_options *o;
    struct rclient_opts ro;
    long long deadline;
    /* the shard's replicas (members other than the master) */
    const struct spec_addr **rep;
    size_t nrep;
    long *prio_was, *prio_set; /* -1: not read */
    bool prio_changed;
    bool paused; /* CLIENT PAUSE WRITE sent to the master (pause_master) */
};

static redisContext *open_redis(struct run *r, const struct spec_addr *a, char **err)
{
    struct rclient_err e;
    redisContext *c = rclient_connect(a->ip, a->port, &r->ro, r->password, &e);
    if (!c && err)
        *err = rclient_connect_message(&e, a->ip, a->port);
    return c;
}

static redisContext *open_sentinel(struct run *r, const struct spec_addr *a, char **err)
{
    struct rclient_err e;
    /* with auth: sentinels demand the password too (one without tolerates it) */
    redisContext *c = rclient_connect(a->ip, a->port, &r->ro, r->password, &e);
    if (!c && err)
        *err = rclient_connect_message(&e, a->ip, a->port);
    return c;
}

/* INFO replication of a, parsed into *info (released by the caller); 0 or -1. */
static int read_info(struct run *r, const struct spec_addr *a, struct obs_redis *info)
{
    redisContext *c = open_redis(r, a, NULL);
    if (!c)
        return -1;
    redisReply *rep = rclient_command(c, NULL, "INFO", "replication", NULL);
    char *why = NULL;
    int rc = rep && rep->type == REDIS_REPLY_STRING ? redis_parse_info(rep->str, info, &why) : -1;
    free(why);
    rclient_reply_free(rep);
    rclient_close(c);
    return rc;
}

/*
 * Per replica, how many sentinels list it healthy and (when want is not
 * NULL) with replica-priority want[k]. -1 with *err when a sentinel could
 * not be asked.
 */
static int sentinels_see(struct run *r, size_t *ok, const long *want, char **err)
{
    memset(ok, 0, r->nrep * sizeof(*ok));
    const struct spec_sentinel *sn = &r->s->sentinel;
    for (size_t i = 0; i < sn->nnodes; i++) {
        redisContext *c = open_sentinel(r, &sn->nodes[i], err);
        if (!c)
            return -1;
        redisReply *rep = rclient_command(c, NULL, "SENTINEL", "REPLICAS", r->sh->name, NULL);
        rclient_close(c);
        if (!rep || rep->type != REDIS_REPLY_ARRAY) {
            *err = xasprintf("sentinel %s:%d: SENTINEL REPLICAS %s: %s", sn->nodes[i].ip,
                             sn->nodes[i].port, r->sh->name,
                             rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "no answer");
            rclient_reply_free(rep);
            return -1;
        }
        for (size_t k = 0; k < r->nrep; k++) {
            for (size_t j = 0; j < rep->elements; j++) {
                const redisReply *e = rep->element[j];
                const char *ip = reply_flat_field(e, "ip"), *port = reply_flat_field(e, "port");
                const char *flags = reply_flat_field(e, "flags");
                const char *prio = reply_flat_field(e, "slave-priority");
                if (!ip || !port || !str_eq(ip, r->rep[k]->ip) || atoi(port) != r->rep[k]->port)
                    continue;
                if (flags && (strstr(flags, "s_down") || strstr(flags, "disconnected")))
                    continue;
                if (want && want[k] >= 0 && (!prio || atol(prio) != want[k]))
                    continue;
                ok[k]++;
            }
        }
        rclient_reply_free(rep);
    }
    return 0;
}

static const struct spec_addr *find_replica(struct run *r, const char *addr, size_t *idx)
{
    for (size_t k = 0; k < r->nrep; k++) {
        char *a = xasprintf("%s:%d", r->rep[k]->ip, r->rep[k]->port);
        bool same = str_eq(a, addr) || (str_eq(r->rep[k]->host, addr));
        char *h = xasprintf("%s:%d", r->rep[k]->host, r->rep[k]->port);
        same = same || str_eq(h, addr);
        free(a);
        free(h);
        if (same) {
            *idx = k;
            return r->rep[k];
        }
    }
    return NULL;
}

/*
 * Check the replicas until one is ready (or the target, with --to) or
 * SWITCHOVER_CATCH_UP_MS passed. 0, or -1 with *err naming what is missing.
 */
static int check_ready(struct run *r, size_t to, char **err)
{
    long long until = now_ms() + SWITCHOVER_CATCH_UP_MS;
    size_t *ok = xcalloc(r->nrep, sizeof(*ok));
    int rc = -1;
    for (;;) {
        struct obs_redis mi = {0};
        free(*err);
        *err = NULL;
        if (read_info(r, r->master, &mi) < 0 || !str_eq(mi.role, "master")) {
            *err = xasprintf("master %s:%d does not answer as a master", r->master->ip,
                             r->master->port);
            obs_redis_release(&mi);
            break;
        }
        long long moff = mi.master_repl_offset;
        obs_redis_release(&mi);
        if (sentinels_see(r, ok, NULL, err) < 0)
            break;
        struct strbuf why = {0};
        bool any = false;
        for (size_t k = 0; k < r->nrep; k++) {
            if (to != (size_t)-1 && k != to)
                continue;
            struct obs_redis ri = {0};
            struct switchover_member m = {.addr = r->rep[k], .sentinels_ok = ok[k]};
            if (read_info(r, r->rep[k], &ri) == 0) {
                m.reached = true;
                m.replica_of_master = str_eq(ri.role, "slave") &&
                                      str_eq(ri.master_host, r->master->ip) &&
                                      ri.master_port == r->master->port;
                m.link_up = str_eq(ri.master_link_status, "up");
                m.offset = ri.slave_repl_offset;
            }
            obs_redis_release(&ri);
            char *w = NULL;
            if (switchover_member_ready(&m, moff, r->s->sentinel.nnodes, &w)) {
                any = true;
            } else {
                sb_addf(&why, "%s%s", why.len ? "; " : "", w);
                free(w);
            }
        }
        if (any) {
            sb_release(&why);
            rc = 0;
            break;
        }
        if (now_ms() >= until) {
            *err = xasprintf("no replica of %s is ready: %s", r->sh->name, sb_str(&why));
            sb_release(&why);
            break;
        }
        sb_release(&why);
        sleep_ms(SWITCHOVER_POLL_MS);
    }
    free(ok);
    return rc;
}

static int config_priority(struct run *r, const struct spec_addr *a, long value, char **err)
{
    redisContext *c = open_redis(r, a, err);
    if (!c)
        return -1;
    char v[32];
    snprintf(v, sizeof(v), "%ld", value);
    const char *argv[] = {"CONFIG", "SET", "replica-priority", v};
    struct rclient_err e;
    int rc = rclient_ok(c, 4, argv, false, &e);
    if (rc < 0) {
        char *where = xasprintf("%s:%d", a->ip, a->port);
        *err = rclient_cmd_message(&e, where, "CONFIG SET replica-priority");
        free(where);
    }
    rclient_close(c);
    return rc;
}

/* Give the target the best priority and wait until every sentinel shows it. */
static int steer_priorities(struct run *r, size_t to, char **err)
{
    for (size_t k = 0; k < r->nrep; k++) {
        r->prio_was[k] = -1;
        redisContext *c = open_redis(r, r->rep[k], err);
        if (!c)
            return -1;
        redisReply *rep = rclient_command(c, NULL, "CONFIG", "GET", "replica-priority", NULL);
        char *value = NULL, *e = NULL;
        if (redis_parse_config_get(rep, &value, &e) == 0)
            r->prio_was[k] = atol(value);
        free(value);
        free(e);
        rclient_reply_free(rep);
        rclient_close(c);
        if (r->prio_was[k] < 0) {
            *err = xasprintf("%s:%d: cannot read replica-priority", r->rep[k]->ip,
                             r->rep[k]->port);
            return -1;
        }
    }
    switchover_priorities(r->prio_was, r->nrep, to, r->prio_set);
    for (size_t k = 0; k < r->nrep; k++) {
        if (r->prio_set[k] == r->prio_was[k])
            continue;
        r->prio_changed = true;
        if (config_priority(r, r->rep[k], r->prio_set[k], err) < 0)
            return -1;
    }
    fprintf(r->o->out, "  replica-priority %d on %s:%d; waiting until every sentinel shows it "
                       "(Sentinel reads INFO every 10 s)\n",
            SWITCHOVER_BEST_PRIORITY, r->rep[to]->ip, r->rep[to]->port);
    fflush(r->o->out);
    size_t *ok = xcalloc(r->nrep, sizeof(*ok));
    int rc = -1;
    for (;;) {
        free(*err);
        *err = NULL;
        if (sentinels_see(r, ok, r->prio_set, err) < 0)
            break;
        bool all = true;
        for (size_t k = 0; k < r->nrep; k++)
            if (ok[k] < r->s->sentinel.nnodes)
                all = false;
        if (all) {
            rc = 0;
            break;
        }
        if (now_ms() >= r->deadline) {
            *err = xasprintf("the sentinels did not show the new replica-priority in time");
            break;
        }
        sleep_ms(SWITCHOVER_POLL_MS * 2);
    }
    free(ok);
    return rc;
}

static void restore_priorities(struct run *r)
{
    for (size_t k = 0; r->prio_changed && k < r->nrep; k++) {
        if (r->prio_was[k] < 0 || r->prio_set[k] == r->prio_was[k])
            continue;
        char *err = NULL;
        if (config_priority(r, r->rep[k], r->prio_was[k], &err) < 0) {
            fprintf(r->o->out, "  warning: could not put replica-priority %ld back on %s:%d: %s\n",
                    r->prio_was[k], r->rep[k]->ip, r->rep[k]->port, err);
            free(err);
        }
    }
}

/*
 * Wait until a quorum of sentinels names a master other than the old one
 * (their +switch-master). 0 with *addr ("ip:port") or -1 with *err.
 */
static int wait_switch(struct run *r, char **addr, char **err)
{
    const struct spec_sentinel *sn = &r->s->sentinel;
    char *old = xasprintf("%s:%d", r->master->ip, r->master->port);
    int rc = -1;
    while (rc < 0) {
        char **named = xcalloc(sn->nnodes, sizeof(*named));
        for (size_t i = 0; i < sn->nnodes; i++) {
            redisContext *c = open_sentinel(r, &sn->nodes[i], NULL);
            if (!c)
                continue;
            redisReply *rep = rclient_command(c, NULL, "SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                                              r->sh->name, NULL);
            if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
                named[i] = xasprintf("%s:%s", rep->element[0]->str, rep->element[1]->str);
            rclient_reply_free(rep);
            rclient_close(c);
        }
        for (size_t i = 0; i < sn->nnodes && rc < 0; i++) {
            if (!named[i] || str_eq(named[i], old))
                continue;
            size_t agree = 0;
            for (size_t j = 0; j < sn->nnodes; j++)
                agree += str_eq(named[i], named[j]);
            if ((int)agree >= sn->quorum) {
                *addr = xstrdup(named[i]);
                rc = 0;
            }
        }
        for (size_t i = 0; i < sn->nnodes; i++)
            free(named[i]);
        free(named);
        if (rc < 0 && now_ms() >= r->deadline) {
            *err = xasprintf("no quorum of sentinels switched %s away from %s in time",
                             r->sh->name, old);
            break;
        }
        if (rc < 0)
            sleep_ms(SWITCHOVER_POLL_MS);
    }
    free(old);
    return rc;
}

static int send_failover(struct run *r, char **err)
{
    const struct spec_sentinel *sn = &r->s->sentinel;
    for (size_t i = 0; i < sn->nnodes; i++) {
        redisContext *c = open_sentinel(r, &sn->nodes[i], NULL);
        if (!c)
            continue;
        const char *argv[] = {"SENTINEL", "FAILOVER", r->sh->name};
        struct rclient_err e;
        int rc = rclient_ok(c, 3, argv, false, &e);
        rclient_close(c);
        if (rc == 0) {
            fprintf(r->o->out, "  SENTINEL FAILOVER %s sent to %s:%d\n", r->sh->name,
                    sn->nodes[i].ip, sn->nodes[i].port);
            fflush(r->o->out);
            return 0;
        }
        char *where = xasprintf("sentinel %s:%d", sn->nodes[i].ip, sn->nodes[i].port);
        *err = rclient_cmd_message(&e, where, "SENTINEL FAILOVER");
        free(where);
        return -1;
    }
    *err = xstrdup("no sentinel answers");
    return -1;
}

/*
 * pause_master: CLIENT PAUSE WRITE on the master for as long as the
 * switchover may still take (plus a margin: unpause_master ends it), then
 * wait until the target has everything the master acknowledged. From
 * SENTINEL FAILOVER until the old master replicates from the new one, a write
 * it acknowledged after the promoted replica's last offset would be lost when
 * Sentinel turns it into a replica (measured: 234 of 6224 acknowledged keys
 * lost without the pause, none with it). Sentinel's own commands (INFO,
 * REPLICAOF in MULTI) are not writes. 0, or -1 with *err.
 */
static int pause_master(struct run *r, size_t to, char **err)
{
    redisContext *c = open_redis(r, r->master, err);
    if (!c)
        return -1;
    long long left = r->deadline - now_ms();
    char ms[32];
    snprintf(ms, sizeof(ms), "%lld", (left > 0 ? left : 0) + 5000);
    const char *argv[] = {"CLIENT", "PAUSE", ms, "WRITE"};
    struct rclient_err e;
    int rc = rclient_ok(c, 4, argv, false, &e);
    rclient_close(c);
    if (rc < 0) {
        char *where = xasprintf("%s:%d", r->master->ip, r->master->port);
        *err = rclient_cmd_message(&e, where, "CLIENT PAUSE");
        free(where);
        return -1;
    }
    r->paused = true;
    fprintf(r->o->out, "  writes paused on %s:%d until it replicates from the new master\n",
            r->master->ip, r->master->port);
    fflush(r->o->out);
    /* the master's offset no longer moves: the target must reach it */
    return check_ready(r, to, err);
}

/* The old master replicates from the one a quorum switched to, then its writes resume. */
static void unpause_master(struct run *r, const char *new_master)
{
    redisContext *c = open_redis(r, r->master, NULL);
    if (!c) {
        fprintf(r->o->out, "  warning: %s:%d does not answer: its write pause ends by itself\n",
                r->master->ip, r->master->port);
        return;
    }
    struct rclient_err e;
    const char *colon = new_master ? strrchr(new_master, ':') : NULL;
    if (colon) {
        /* Sentinel does the same once it sees the old master again: do it now, so the
         * writes it held are refused (READONLY) rather than accepted and lost */
        char *host = xstrndup(new_master, (size_t)(colon - new_master));
        const char *argv[] = {"REPLICAOF", host, colon + 1};
        if (rclient_ok(c, 3, argv, false, &e) == 0) {
            const char *rw[] = {"CONFIG", "REWRITE"};
            (void)rclient_ok(c, 2, rw, false, &e);
        } else {
            fprintf(r->o->out, "  warning: REPLICAOF %s on %s:%d failed (Sentinel will do it)\n",
                    new_master, r->master->ip, r->master->port);
        }
        free(host);
    }
    const char *un[] = {"CLIENT", "UNPAUSE"};
    if (rclient_ok(c, 2, un, false, &e) < 0)
        fprintf(r->o->out, "  warning: CLIENT UNPAUSE on %s:%d failed: the pause ends by itself\n",
                r->master->ip, r->master->port);
    rclient_close(c);
    r->paused = false;
}

int switchover_run(const struct spec *s, const char *password, const struct plan *p,
                   size_t shard, const struct switchover_options *o, char **new_master,
                   char **err)
{
    *new_master = NULL;
    *err = NULL;
    struct run r = {.s = s, .password = password, .sh = &s->shards[shard], .o = o,
                    .ro = {o->connect_timeout_ms, o->command_timeout_ms},
                    .deadline = now_ms() + o->timeout_ms};
    r.master = p->masters[shard].ip ? &p->masters[shard] : &r.sh->master;
    r.rep = xcalloc(r.sh->nreplicas + 1, sizeof(*r.rep));
    for (size_t k = 0; k <= r.sh->nreplicas; k++) {
        const struct spec_addr *a = k == 0 ? &r.sh->master : &r.sh->replicas[k - 1];
        if (!(str_eq(a->ip, r.master->ip) && a->port == r.master->port))
            r.rep[r.nrep++] = a;
    }
    r.prio_was = xcalloc(r.nrep + 1, sizeof(long));
    r.prio_set = xcalloc(r.nrep + 1, sizeof(long));
    int rc = -1;
    size_t to = (size_t)-1;
    if (!r.nrep) {
        *err = xasprintf("shard %s has no replica to fail over to", r.sh->name);
        goto done;
    }
    if (o->to && !find_replica(&r, o->to, &to)) {
        *err = xasprintf("%s is not a replica of shard %s (its master is %s:%d)", o->to,
                         r.sh->name, r.master->ip, r.master->port);
        goto done;
    }
    if (check_ready(&r, to, err) < 0)
        goto done;
    if (to != (size_t)-1 && steer_priorities(&r, to, err) < 0)
        goto done;
    /* writes wait from here; the target must then hold every acknowledged one */
    if (pause_master(&r, to, err) < 0)
        goto done;
    if (send_failover(&r, err) < 0)
        goto done;
    if (wait_switch(&r, new_master, err) < 0)
        goto done;
    fprintf(o->out, "  a quorum of sentinels switched %s to %s\n", r.sh->name, *new_master);
    fflush(o->out);
    rc = 0;
done:
    if (r.paused)
        unpause_master(&r, *new_master);
    restore_priorities(&r);
    if (*new_master && !o->no_repoint) {
        char **given = xcalloc(s->nshards, sizeof(*given));
        given[shard] = *new_master;
        struct repoint_options ropt = {.connect_timeout_ms = o->connect_timeout_ms,
                                       .ready_timeout_ms = 10000, .lock_timeout_ms = 30000,
                                       .lock_held = o->lock_held};
        char *rerr = NULL;
        if (s->nproxies && repoint_proxies(s, password, given, s->nshards, &ropt, &rerr) < 0) {
            *err = xasprintf("the proxies could not be repointed: %s", rerr);
            rc = -1;
        } else if (s->nproxies) {
            fprintf(o->out, "  %zu prox%s repointed\n", s->nproxies,
                    s->nproxies == 1 ? "y" : "ies");
        }
        free(rerr);
        free(given);
    }
    if (*new_master) {
        if (rc == 0 && to != (size_t)-1) {
            char *want = xasprintf("%s:%d", r.rep[to]->ip, r.rep[to]->port);
            if (!str_eq(want, *new_master)) {
                *err = xasprintf("Sentinel promoted %s, not %s", *new_master, want);
                rc = -1;
            }
            free(want);
        }
    }
    free(r.prio_was);
    free(r.prio_set);
    free(r.rep);
    return rc;
}
