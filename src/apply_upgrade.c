/*
 * apply_upgrade.c - the executors of the rolling upgrade (plan_upgrade.c):
 * upgrade-restart and upgrade-failover. They run on one lane, one at a
 * time, and each waits until what it touched is healthy again before the
 * next one runs, since the wave's health gate would come only after all of
 * them:
 *
 *   a redis       restarted as a replica of the master it follows now (never
 *                 a master: that is the failover's job), then linked, caught
 *                 up with its master and listed by every sentinel;
 *   a sentinel    monitoring every shard and knowing every other sentinel;
 *   a proxy       after the new program accepted its config (nutcracker -t),
 *                 answering again;
 *   a failover    switchover_run (as `rmgr failover`: writes paused on the
 *                 old master until the proxies are repointed) onto a
 *                 replica that runs the spec's program.
 *
 * Each one first looks at what runs now: an instance already on the
 * spec's program (an earlier step's restart, a failover's proxy repoint, an
 * interrupted apply finished by hand) is left alone ("already upgraded").
 */
#include "apply_impl.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "redis_parse.h"
#include "reply.h"
#include "switchover.h"

#define UPGRADE_POLL_MS 100
#define UPGRADE_FAILOVER_MIN_MS 60000 /* the switchover, priority steering included */
#define UPGRADE_DEMOTE_MIN_MS 30000   /* Sentinel converts an old master ~8 s after a switch */

static const char already[] = "already runs the spec's program";

/* ---- looking at an instance ----------------------------------------------------- */

/* INFO of the redis at ip:port into *info (released by the caller). 0, or -1 and *err. */
static int redis_info(struct run *r, const char *ip, int port, struct obs_redis *info,
                      char **err)
{
    redisContext *c = run_connect(r, ip, port, true, err);
    if (!c)
        return -1;
    char *where = xasprintf("%s:%d", ip, port);
    const char *argv[] = {"INFO", "server", "replication"};
    redisReply *rep = run_cmd(c, where, "INFO", false, 3, argv, err);
    int rc = -1;
    if (rep && rep->type == REDIS_REPLY_STRING) {
        char *why = NULL;
        rc = redis_parse_info(rep->str, info, &why);
        if (rc < 0)
            *err = xasprintf("%s: INFO: %s", where, why);
        free(why);
    } else if (rep) {
        *err = xasprintf("%s: INFO: unexpected reply", where);
    }
    rclient_reply_free(rep);
    rclient_close(c);
    free(where);
    return rc;
}

/* The INFO server executable of the sentinel at ip:port (caller frees), or NULL and *err. */
static char *sentinel_executable(struct run *r, const char *ip, int port, char **err)
{
    redisContext *c = run_connect(r, ip, port, true, err);
    if (!c)
        return NULL;
    char *where = xasprintf("sentinel %s:%d", ip, port);
    const char *argv[] = {"INFO", "server"};
    redisReply *rep = run_cmd(c, where, "INFO", false, 2, argv, err);
    char *exe = NULL;
    if (rep && rep->type == REDIS_REPLY_STRING)
        exe = redis_info_field(rep->str, "executable");
    if (!exe && !*err)
        *err = xasprintf("%s: INFO server has no executable", where);
    rclient_reply_free(rep);
    rclient_close(c);
    free(where);
    return exe;
}

/* ---- waiting until healthy -------------------------------------------------------- */

/*
 * Wait until the redis of st is a replica of mip:mport with its link up and
 * its offset at least the master's (read before the replica's). 0, or -1
 * and *err with what was seen last.
 */
static int wait_caught_up(struct run *r, const struct step *st, const char *mip, int mport,
                          char **err)
{
    long long until = now_ms() + r->o.repl_timeout_ms;
    for (;;) {
        char *seen = NULL;
        struct obs_redis m = {0}, x = {0};
        if (redis_info(r, mip, mport, &m, &seen) == 0 && redis_info(r, st->ip, st->port, &x,
                                                                     &seen) == 0) {
            if (!str_eq(x.role, "slave") || !str_eq(x.master_host, mip) || x.master_port != mport)
                seen = xasprintf("not a replica of %s:%d", mip, mport);
            else if (!str_eq(x.master_link_status, "up"))
                seen = xstrdup("link to the master down");
            else if (x.slave_repl_offset < m.master_repl_offset)
                seen = xasprintf("%lld bytes behind", m.master_repl_offset - x.slave_repl_offset);
        }
        obs_redis_release(&m);
        obs_redis_release(&x);
        if (!seen)
            return 0;
        if (now_ms() >= until) {
            *err = xasprintf("%s:%d did not catch up with %s:%d within %ld ms: %s", st->ip,
                             st->port, mip, mport, r->o.repl_timeout_ms, seen);
            free(seen);
            return -1;
        }
        free(seen);
        sleep_ms(UPGRADE_POLL_MS);
    }
}

/*
 * What sentinel ip:port misses: for `shard` (NULL: every spec shard) a
 * master entry, and the replica rip:rport (when rip) listed without
 * s_down/disconnected, and every other spec sentinel. NULL when nothing.
 */
static char *sentinel_misses(struct run *r, const char *ip, int port, const char *shard,
                             const char *rip, int rport)
{
    char *err = NULL;
    redisContext *c = run_connect(r, ip, port, true, &err);
    if (!c)
        return err;
    struct strbuf miss = {0};
    size_t nsentinels = r->s->sentinel.nnodes;
    for (size_t i = 0; i < r->s->nshards; i++) {
        const char *name = r->s->shards[i].name;
        if (shard && !str_eq(shard, name))
            continue;
        redisReply *rep = rclient_command(c, NULL, "SENTINEL", "SENTINELS", name, NULL);
        if (!rep || rep->type != REDIS_REPLY_ARRAY) {
            sb_addf(&miss, "%sdoes not monitor %s", miss.len ? "; " : "", name);
        } else if (rep->elements + 1 < nsentinels) {
            sb_addf(&miss, "%sknows %zu of the %zu other sentinels for %s", miss.len ? "; " : "",
                    rep->elements, nsentinels - 1, name);
        }
        rclient_reply_free(rep);
        if (!rip)
            continue;
        rep = rclient_command(c, NULL, "SENTINEL", "REPLICAS", name, NULL);
        bool listed = false;
        for (size_t k = 0; rep && rep->type == REDIS_REPLY_ARRAY && k < rep->elements; k++) {
            const char *eip = reply_flat_field(rep->element[k], "ip");
            const char *eport = reply_flat_field(rep->element[k], "port");
            const char *flags = reply_flat_field(rep->element[k], "flags");
            listed |= eip && eport && str_eq(eip, rip) && atoi(eport) == rport && flags &&
                      !strstr(flags, "s_down") && !strstr(flags, "disconnected");
        }
        if (!listed)
            sb_addf(&miss, "%sdoes not list %s:%d as an up replica of %s", miss.len ? "; " : "",
                    rip, rport, name);
        rclient_reply_free(rep);
    }
    rclient_close(c);
    if (!miss.len) {
        sb_release(&miss);
        return NULL;
    }
    char *out = xasprintf("sentinel %s:%d %s", ip, port, sb_str(&miss));
    sb_release(&miss);
    return out;
}

/*
 * Wait until every sentinel (only = a single one when not NULL) has what
 * sentinel_misses looks for. 0, or -1 and *err.
 */
static int wait_sentinels(struct run *r, const struct spec_addr *only, const char *shard,
                          const char *rip, int rport, char **err)
{
    long long until = now_ms() + r->o.sentinel_timeout_ms;
    for (;;) {
        char *miss = NULL;
        for (size_t j = 0; j < r->s->sentinel.nnodes && !miss; j++) {
            const struct spec_addr *a = &r->s->sentinel.nodes[j];
            if (!only || (only->port == a->port && str_eq(only->ip, a->ip)))
                miss = sentinel_misses(r, a->ip, a->port, shard, rip, rport);
        }
        if (!miss)
            return 0;
        if (now_ms() >= until) {
            *err = xasprintf("not within %ld ms: %s", r->o.sentinel_timeout_ms, miss);
            free(miss);
            return -1;
        }
        free(miss);
        sleep_ms(UPGRADE_POLL_MS * 2);
    }
}

/* ---- upgrade-restart -------------------------------------------------------------- */

/* Whether this run's upgrade-failover of st's shard (on st's address) went through. */
static bool failed_over(const struct run *r, const struct step *st)
{
    for (size_t i = 0; i < r->p->nsteps; i++) {
        const struct step *o = &r->p->steps[i];
        if (o->kind == STEP_UPGRADE_FAILOVER && o->port == st->port && str_eq(o->ip, st->ip))
            return r->state[i] == ST_DONE;
    }
    return false;
}

static int restart_redis(struct run *r, struct hostc *h, const struct step *st, const char *want,
                         const char **note, char **err)
{
    struct obs_redis info = {0};
    int rc = -1;
    if (redis_info(r, st->ip, st->port, &info, err) < 0)
        goto out;
    if (str_eq(info.build.executable, want)) {
        *note = already;
        rc = 0;
        goto out;
    }
    /* an old master: Sentinel turns it into a replica some seconds after the switch */
    long long until = now_ms() + (r->o.sentinel_timeout_ms > UPGRADE_DEMOTE_MIN_MS
                                      ? r->o.sentinel_timeout_ms
                                      : UPGRADE_DEMOTE_MIN_MS);
    while (!str_eq(info.role, "slave") && st->shard && failed_over(r, st) && now_ms() < until) {
        sleep_ms(UPGRADE_POLL_MS * 2);
        obs_redis_release(&info);
        memset(&info, 0, sizeof(info));
        if (redis_info(r, st->ip, st->port, &info, err) < 0)
            goto out;
    }
    if (!str_eq(info.role, "slave") || !info.master_host || !info.master_port) {
        *err = xasprintf("%s:%d is %s: a master is upgraded only after its shard's failover "
                         "moved the role away (upgrade-failover)",
                         st->ip, st->port, info.role ? "a master" : "of no known role");
        goto out;
    }
    /* the master it follows now, not the one at plan time: a failover may have moved it */
    struct step start = *st;
    start.kind = STEP_START;
    start.master_ip = info.master_host;
    start.master_port = info.master_port;
    if (run_instance_stop(r, h, st, err) < 0 || run_instance_start(r, h, &start, err) < 0)
        goto out;
    if (wait_caught_up(r, st, info.master_host, info.master_port, err) < 0)
        goto out;
    char *why = NULL;
    if (st->shard && wait_sentinels(r, NULL, st->shard, st->ip, st->port, &why) < 0) {
        *err = xasprintf("%s:%d restarted and caught up, but the sentinels do not see it: %s",
                         st->ip, st->port, why);
        free(why);
        goto out;
    }
    rc = 0;
out:
    obs_redis_release(&info);
    return rc;
}

static int restart_sentinel(struct run *r, struct hostc *h, const struct step *st,
                            const char *want, const char **note, char **err)
{
    char *exe = sentinel_executable(r, st->ip, st->port, err);
    if (!exe)
        return -1;
    bool same = str_eq(exe, want);
    free(exe);
    if (same) {
        *note = already;
        return 0;
    }
    /* the others keep the quorum meanwhile: this one is back in full before the next */
    struct step start = *st;
    start.kind = STEP_START;
    if (run_instance_stop(r, h, st, err) < 0 || run_instance_start(r, h, &start, err) < 0)
        return -1;
    struct spec_addr self = {.ip = st->ip, .port = st->port};
    char *why = NULL;
    if (wait_sentinels(r, &self, NULL, NULL, 0, &why) < 0) {
        *err = xasprintf("sentinel %s:%d restarted but does not know its shards and peers: %s",
                         st->ip, st->port, why);
        free(why);
        return -1;
    }
    return 0;
}

static int restart_proxy(struct run *r, struct hostc *h, const struct step *st, const char *want,
                         const char **note, char **err)
{
    struct transport *t = run_host_transport(r, h, err);
    if (!t)
        return -1;
    char *exe = instance_executable(t, r->s, INSTANCE_PROXY, st->port);
    bool same = str_eq(exe, want);
    free(exe);
    if (same) {
        *note = already;
        return 0;
    }
    /* the new program must accept the config it is about to run with */
    char *conf = conf_path(r->s, instance_kind_name(INSTANCE_PROXY), st->port);
    const char *argv[] = {want, "-t", "-c", conf, NULL};
    int rc = run_host_cmd(r, h, argv, NULL, err);
    if (rc < 0) {
        char *m = xasprintf("%s rejects %s (nothing was restarted): %s", want, conf, *err);
        free(*err);
        *err = m;
    }
    free(conf);
    if (rc < 0)
        return -1;
    struct step start = *st;
    start.kind = STEP_START;
    if (run_instance_stop(r, h, st, err) < 0 || run_instance_start(r, h, &start, err) < 0)
        return -1;
    return 0;
}

int exec_upgrade_restart(struct run *r, struct hostc *h, const struct step *st,
                         const char **note, char **err)
{
    const char *want = run_host_binary(r, h, st->instance, err);
    if (!want)
        return -1;
    switch (st->instance) {
    case INSTANCE_REDIS: return restart_redis(r, h, st, want, note, err);
    case INSTANCE_SENTINEL: return restart_sentinel(r, h, st, want, note, err);
    case INSTANCE_PROXY: return restart_proxy(r, h, st, want, note, err);
    }
    *err = xstrdup("unknown instance kind");
    return -1;
}

/* ---- upgrade-failover ------------------------------------------------------------- */

/*
 * The replica of shard sh (master mip:mport) to promote: NULL when every replica
 * linked to M runs `want` (Sentinel may pick any), else "ip:port" of one
 * that does (caller frees), steered to with its replica-priority. -1 and
 * *err when none does.
 */
static int pick_target(struct run *r, const struct spec_shard *sh, const char *mip, int mport,
                       const char *want, char **to, char **err)
{
    *to = NULL;
    bool all = true;
    for (size_t k = 0; k <= sh->nreplicas; k++) {
        const struct spec_addr *a = k == 0 ? &sh->master : &sh->replicas[k - 1];
        if (a->port == mport && str_eq(a->ip, mip))
            continue;
        struct obs_redis x = {0};
        char *e = NULL;
        bool linked = redis_info(r, a->ip, a->port, &x, &e) == 0 && str_eq(x.role, "slave") &&
                      str_eq(x.master_host, mip) && x.master_port == mport &&
                      str_eq(x.master_link_status, "up");
        bool upgraded = linked && str_eq(x.build.executable, want);
        if (upgraded && !*to)
            *to = xasprintf("%s:%d", a->ip, a->port);
        if (!upgraded)
            all = false;
        free(e);
        obs_redis_release(&x);
    }
    if (!*to) {
        *err = xasprintf("no replica of %s linked to %s:%d runs %s", sh->name, mip, mport, want);
        return -1;
    }
    if (all) {
        free(*to);
        *to = NULL;
    }
    return 0;
}

int exec_upgrade_failover(struct run *r, struct hostc *h, const struct step *st,
                          const char **note, char **err)
{
    size_t i = 0;
    while (i < r->s->nshards && !str_eq(r->s->shards[i].name, st->shard))
        i++;
    if (i == r->s->nshards) {
        *err = xasprintf("no shard '%s' in the spec", st->shard ? st->shard : "");
        return -1;
    }
    const char *want = run_host_binary(r, h, INSTANCE_REDIS, err);
    if (!want)
        return -1;
    struct obs_redis m = {0};
    if (redis_info(r, st->ip, st->port, &m, err) < 0)
        return -1;
    int rc = -1;
    char *to = NULL, *new_master = NULL;
    if (str_eq(m.build.executable, want)) {
        *note = already;
        rc = 0;
        goto out;
    }
    if (!str_eq(m.role, "master")) {
        /* moved since the plan (an earlier run, Sentinel): its restart step follows */
        *note = "no longer the master";
        rc = 0;
        goto out;
    }
    if (pick_target(r, &r->s->shards[i], st->ip, st->port, want, &to, err) < 0)
        goto out;
    long timeout = r->s->sentinel.failover_timeout_ms + r->o.sentinel_timeout_ms;
    if (timeout < UPGRADE_FAILOVER_MIN_MS)
        timeout = UPGRADE_FAILOVER_MIN_MS;
    char *said = NULL;
    size_t said_len = 0;
    FILE *out = open_memstream(&said, &said_len); /* its progress lines: the step's own line says it */
    struct switchover_options o = {
        .to = to,
        .timeout_ms = timeout,
        .connect_timeout_ms = r->ro.connect_timeout_ms,
        .command_timeout_ms = r->ro.command_timeout_ms,
        .out = out ? out : stderr,
        .lock_held = true, /* apply holds the cluster lock */
    };
    /* the plan's master for the shard is st's: the one observed before the run */
    rc = switchover_run(r->s, r->password, r->p, i, &o, &new_master, err);
    if (out)
        fclose(out);
    free(said);
    if (rc == 0 && new_master) {
        /* the new master must run the spec's program: never leave a master on the old one */
        char *ip = xstrdup(new_master), *colon = strrchr(ip, ':');
        struct obs_redis nm = {0};
        char *e = NULL;
        if (colon) {
            *colon = '\0';
            if (redis_info(r, ip, atoi(colon + 1), &nm, &e) == 0 &&
                !str_eq(nm.build.executable, want)) {
                *err = xasprintf("Sentinel promoted %s, which runs %s, not %s", new_master,
                                 nm.build.executable ? nm.build.executable : "an unknown program",
                                 want);
                rc = -1;
            }
        }
        free(e);
        obs_redis_release(&nm);
        free(ip);
    }
out:
    free(to);
    free(new_master);
    obs_redis_release(&m);
    return rc;
}
