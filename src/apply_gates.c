/*
 * apply_gates.c - the health checks between waves: after the processes
 * every started redis answers, after replication every replica is linked,
 * after the sentinels they agree and know the replicas, after the proxies
 * each answers and reaches its servers. A check runs when the plan has a
 * step whose kind triggers it (the gates column of STEP_KINDS).
 */
#include "apply_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_parse.h"

#define SENTINEL_REPLICAS_WAIT_MS 25000 /* replicas come with the master's INFO, every 10 s */
#define HEALTH_KEYS 64

/*
 * A health check: `check` is called until it returns true or timeout_ms
 * passes; it leaves what it saw in *seen (freed between calls).
 */
typedef bool (*check_fn)(struct run *r, struct strbuf *seen);

/* Whether the plan could not observe this instance ("=" line that is not a master fact). */
bool run_plan_unreachable(const struct run *r, enum instance_kind k, const char *ip, int port)
{
    for (size_t i = 0; i < r->p->nsteps; i++) {
        const struct step *st = &r->p->steps[i];
        if (!step_kind_has(st->kind, STEPF_FACT) || st->instance != k || st->port != port ||
            !str_eq(st->ip, ip))
            continue;
        /* the "shard master is X" fact names a master, an unreachable line does not */
        if (k == INSTANCE_REDIS && st->master_ip)
            continue;
        return true;
    }
    return false;
}

/* Whether the plan has a step that changes things of kind k in waves up to `upto`. */
static bool plan_touches(const struct run *r, enum instance_kind k, enum step_wave from,
                         enum step_wave upto)
{
    for (size_t i = 0; i < r->p->nsteps; i++) {
        const struct step *st = &r->p->steps[i];
        if (!step_acts(st) || st->instance != k || st->wave < from || st->wave > upto)
            continue;
        if (!(step_kind_desc(st->kind)->gates & GATE_OWN))
            continue; /* a stopped or removed instance has nothing to check */
        return true;
    }
    return false;
}

static bool gate(struct run *r, const char *what, check_fn check, long timeout_ms, char **err)
{
    run_print_check(r, what);
    long long t0 = now_ms(), deadline = t0 + timeout_ms;
    struct strbuf seen = {0};
    bool ok;
    long delay_us = 1000;
    for (;;) {
        sb_release(&seen);
        ok = check(r, &seen);
        if (ok || now_ms() >= deadline)
            break;
        instance_backoff(&delay_us, POLL_CAP_US);
    }
    long long ms = now_ms() - t0;
    run_print_check_result(r, what, ok, ms);
    if (!ok)
        *err = xasprintf("health check failed after %lld ms: %s: %s", ms, what, sb_str(&seen));
    sb_release(&seen);
    return ok;
}

void run_seen_add(struct strbuf *seen, const char *fmt, ...)
{
    if (seen->len)
        sb_add(seen, "; ");
    va_list ap;
    va_start(ap, fmt);
    sb_vaddf(seen, fmt, ap);
    va_end(ap);
}

/* run_connect() to `a` for a check; NULL after the reason is added to `seen`. */
static redisContext *gate_connect(struct run *r, const struct spec_addr *a, bool auth,
                                  struct strbuf *seen)
{
    char *err = NULL;
    redisContext *c = run_connect(r, a->ip, a->port, auth, &err);
    if (!c) {
        run_seen_add(seen, "%s", err);
        free(err);
    }
    return c;
}

/* every instance started in WAVE_PROCESSES answers */
static bool check_started(struct run *r, struct strbuf *seen)
{
    bool ok = true;
    for (size_t i = 0; i < r->p->nsteps; i++) {
        const struct step *st = &r->p->steps[i];
        if (!step_kind_has(st->kind, STEPF_STARTS) || st->wave != WAVE_PROCESSES ||
            r->state[i] != ST_DONE)
            continue;
        char *why = NULL;
        if (!run_answers(r, st->ip, st->port, false, &why)) {
            run_seen_add(seen, "%s", why ? why : "no answer");
            ok = false;
        }
        free(why);
    }
    return ok;
}

/*
 * Whether the plan left shard i to Sentinel (its master down, or a failover
 * under way): its master is Sentinel's to name and its replicas Sentinel's to
 * repoint, so no gate holds them against the plan's master.
 */
static bool shard_left_to_sentinel(const struct run *r, size_t i)
{
    return r->p->shard_waiting && r->p->shard_waiting[i];
}

/* every replica of every shard is linked to the planned master */
static bool check_replication(struct run *r, struct strbuf *seen)
{
    const struct spec *s = r->s;
    bool ok = true;
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_shard *sh = &s->shards[i];
        const struct spec_addr *M = &r->p->masters[i];
        if (run_plan_unreachable(r, INSTANCE_REDIS, M->ip, M->port))
            continue; /* the plan could not see the master: nothing to check against */
        if (shard_left_to_sentinel(r, i))
            continue; /* Sentinel is repointing its replicas, not rmgr */
        for (size_t k = 0; k <= sh->nreplicas; k++) {
            const struct spec_addr *a = k == 0 ? &sh->master : &sh->replicas[k - 1];
            if ((a->port == M->port && str_eq(a->ip, M->ip)) ||
                run_plan_unreachable(r, INSTANCE_REDIS, a->ip, a->port))
                continue;
            redisContext *c = gate_connect(r, a, true, seen);
            if (!c) {
                ok = false;
                continue;
            }
            redisReply *rep = rclient_command(c, NULL, "INFO", "replication", NULL);
            if (!rep || rep->type != REDIS_REPLY_STRING) {
                run_seen_add(seen, "%s:%d: INFO: %s", a->ip, a->port,
                         rep && rep->str ? rep->str : c->errstr);
                ok = false;
            } else {
                char *role = redis_info_field(rep->str, "role");
                char *mh = redis_info_field(rep->str, "master_host");
                char *mp = redis_info_field(rep->str, "master_port");
                char *link = redis_info_field(rep->str, "master_link_status");
                long port = 0;
                bool follows = str_eq(role, "slave") && str_eq(mh, M->ip) && mp &&
                               parse_long(mp, 1, 65535, &port) && port == M->port;
                if (!follows) {
                    if (str_eq(role, "slave"))
                        run_seen_add(seen, "%s:%d replicates from %s:%s, not %s:%d", a->ip,
                                 a->port, mh ? mh : "?", mp ? mp : "?", M->ip, M->port);
                    else
                        run_seen_add(seen, "%s:%d is a %s, not a replica of %s:%d", a->ip, a->port,
                                 role ? role : "?", M->ip, M->port);
                    ok = false;
                } else if (!str_eq(link, "up")) {
                    run_seen_add(seen, "%s:%d link to %s:%d is %s", a->ip, a->port, M->ip, M->port,
                             link ? link : "unknown");
                    ok = false;
                }
                free(role);
                free(mh);
                free(mp);
                free(link);
            }
            rclient_reply_free(rep);
            rclient_close(c);
        }
    }
    return ok;
}

/* whether `peers` lists ip:port */
bool run_peers_have(const struct obs_sentinel_peer *peers, size_t n, const char *ip, int port)
{
    for (size_t i = 0; i < n; i++)
        if (peers[i].port == port && str_eq(peers[i].ip, ip))
            return true;
    return false;
}

/*
 * Whether sentinel c (at a) lists, in SENTINEL REPLICAS, every replica of
 * shard i that runs: a failover can only promote a replica Sentinel knows.
 * Shards whose master the plan could not see (or left down) are skipped:
 * Sentinel learns replicas from the master's INFO.
 */
static bool sentinel_lists_replicas(struct run *r, redisContext *c, const struct spec_addr *a,
                                    size_t i, struct strbuf *seen)
{
    const struct spec_shard *sh = &r->s->shards[i];
    const struct spec_addr *M = &r->p->masters[i];
    if (run_plan_unreachable(r, INSTANCE_REDIS, M->ip, M->port) || shard_left_to_sentinel(r, i))
        return true;
    struct obs_sentinel_peer *peers = NULL;
    size_t np = 0;
    char *err = NULL;
    redisReply *rep = rclient_command(c, NULL, "SENTINEL", "REPLICAS", sh->name, NULL);
    bool ok = true;
    if (!rep || redis_parse_sentinel_peers(rep, false, &peers, &np, &err) < 0) {
        run_seen_add(seen, "sentinel %s:%d: SENTINEL REPLICAS %s: %s", a->ip, a->port, sh->name,
                 err ? err : c->errstr);
        ok = false;
    }
    for (size_t k = 0; ok && k <= sh->nreplicas; k++) {
        const struct spec_addr *m = k == 0 ? &sh->master : &sh->replicas[k - 1];
        if ((m->port == M->port && str_eq(m->ip, M->ip)) ||
            run_plan_unreachable(r, INSTANCE_REDIS, m->ip, m->port) ||
            !run_port_open(r, m->ip, m->port))
            continue;
        if (!run_peers_have(peers, np, m->ip, m->port)) {
            run_seen_add(seen,
                     "sentinel %s:%d does not list replica %s:%d of %s yet (Sentinel learns "
                     "replicas from the master's INFO every 10 s)",
                     a->ip, a->port, m->ip, m->port, sh->name);
            ok = false;
        }
    }
    free(err);
    obs_sentinel_peers_free(peers, np);
    rclient_reply_free(rep);
    return ok;
}

/*
 * every sentinel monitors every shard at the planned master, lists its
 * running replicas and knows the other sentinels
 */
static bool check_sentinels(struct run *r, struct strbuf *seen)
{
    const struct spec *s = r->s;
    const struct spec_sentinel *ss = &s->sentinel;
    bool ok = true;
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct spec_addr *a = &ss->nodes[j];
        if (run_plan_unreachable(r, INSTANCE_SENTINEL, a->ip, a->port))
            continue;
        /* with auth: sentinels demand the password (one not migrated yet tolerates it) */
        redisContext *c = gate_connect(r, a, true, seen);
        if (!c) {
            ok = false;
            continue;
        }
        char *err = NULL;
        struct obs_sentinel_master *ms = NULL;
        size_t nms = 0;
        redisReply *rep = rclient_command(c, NULL, "SENTINEL", "MASTERS", NULL);
        if (!rep || redis_parse_sentinel_masters(rep, &ms, &nms, &err) < 0) {
            run_seen_add(seen, "sentinel %s:%d: SENTINEL MASTERS: %s", a->ip, a->port,
                     err ? err : c->errstr);
            free(err);
            err = NULL;
            ok = false;
        }
        rclient_reply_free(rep);
        for (size_t i = 0; ok && i < s->nshards; i++) {
            const char *name = s->shards[i].name;
            const struct spec_addr *M = &r->p->masters[i];
            const struct obs_sentinel_master *m = NULL;
            for (size_t k = 0; k < nms; k++)
                if (str_eq(ms[k].name, name))
                    m = &ms[k];
            if (!m) {
                run_seen_add(seen, "sentinel %s:%d does not monitor %s", a->ip, a->port, name);
                ok = false;
                continue;
            }
            if ((m->port != M->port || !str_eq(m->ip, M->ip)) && !shard_left_to_sentinel(r, i)) {
                run_seen_add(seen, "sentinel %s:%d has %s:%d as master of %s, not %s:%d", a->ip,
                         a->port, m->ip ? m->ip : "?", m->port, name, M->ip, M->port);
                ok = false;
                continue;
            }
            if (!sentinel_lists_replicas(r, c, a, i, seen))
                ok = false;
            rep = rclient_command(c, NULL, "SENTINEL", "SENTINELS", name, NULL);
            struct obs_sentinel_peer *peers = NULL;
            size_t np = 0;
            if (!rep || redis_parse_sentinel_peers(rep, true, &peers, &np, &err) < 0) {
                run_seen_add(seen, "sentinel %s:%d: SENTINEL SENTINELS %s: %s", a->ip, a->port,
                         name, err ? err : c->errstr);
                free(err);
                err = NULL;
                ok = false;
            } else {
                for (size_t o = 0; o < ss->nnodes; o++) {
                    const struct spec_addr *b = &ss->nodes[o];
                    if (o == j || run_plan_unreachable(r, INSTANCE_SENTINEL, b->ip, b->port))
                        continue;
                    if (!run_peers_have(peers, np, b->ip, b->port)) {
                        run_seen_add(seen, "sentinel %s:%d does not know sentinel %s:%d for %s yet",
                                 a->ip, a->port, b->ip, b->port, name);
                        ok = false;
                    }
                }
            }
            obs_sentinel_peers_free(peers, np);
            rclient_reply_free(rep);
        }
        obs_sentinel_masters_free(ms, nms);
        rclient_close(c);
    }
    return ok;
}

/*
 * Health key n: distinct, fixed, and different in its first bytes, since
 * nutcracker 0.5.0's fnv1a_64 (32-bit, prime truncated to 435) puts keys
 * that differ only at the end ("rmgr:health:1", ":2" ...) on one server.
 */
static void health_key(char *buf, size_t size, int n)
{
    snprintf(buf, size, "%08x:rmgr:health:%d", ((unsigned)n + 1u) * 2654435761u, n);
}

/*
 * GET HEALTH_KEYS fixed keys through the proxy at ip:port (after AUTH when
 * the spec has a password): they hash onto the pool's servers, so a proxy
 * that cannot reach or authenticate to one of them answers an error for
 * some. Every reply must be nil or a value. false and *why otherwise.
 */
static bool proxy_round_trip(struct run *r, const char *ip, int port, char **why)
{
    redisContext *c = run_connect(r, ip, port, true, why);
    if (!c)
        return false;
    char key[64];
    for (int n = 0; n < HEALTH_KEYS; n++) {
        health_key(key, sizeof(key), n);
        rclient_append(c, 2, (const char *const[]){"GET", key});
    }
    bool ok = true;
    for (int n = 0; n < HEALTH_KEYS && ok; n++) {
        health_key(key, sizeof(key), n);
        redisReply *rep = rclient_get_reply(c, NULL);
        if (!rep) {
            *why = xasprintf("proxy %s:%d: GET %s: %s", ip, port, key,
                             c->errstr[0] ? c->errstr : "no reply");
            ok = false;
        } else if (rep->type != REDIS_REPLY_NIL && rep->type != REDIS_REPLY_STRING) {
            *why = xasprintf("proxy %s:%d: GET %s answered %s", ip, port, key,
                             rep->type == REDIS_REPLY_ERROR && rep->str ? rep->str
                                                                       : "something else");
            ok = false;
        }
        rclient_reply_free(rep);
    }
    rclient_close(c); /* replies still pending after a failure go with it */
    return ok;
}

/* whether the plan saw every shard master (none down, none unobservable) */
static bool plan_saw_every_master(const struct run *r)
{
    for (size_t i = 0; i < r->s->nshards; i++)
        if (run_plan_unreachable(r, INSTANCE_REDIS, r->p->masters[i].ip, r->p->masters[i].port))
            return false;
    return true;
}

/*
 * every proxy answers PING (after AUTH) on its listen port and, when every
 * shard master is up, serves GETs from its servers
 */
static bool check_proxies(struct run *r, struct strbuf *seen)
{
    bool ok = true, round_trip = plan_saw_every_master(r);
    for (size_t i = 0; i < r->s->nproxies; i++) {
        const struct spec_proxy *sp = &r->s->proxies[i];
        if (run_plan_unreachable(r, INSTANCE_PROXY, sp->host_ip, sp->listen.port))
            continue;
        char *why = NULL;
        if (!run_answers(r, sp->listen.ip, sp->listen.port, true, &why) ||
            (round_trip && !proxy_round_trip(r, sp->listen.ip, sp->listen.port, &why))) {
            run_seen_add(seen, "%s", why ? why : "no answer");
            ok = false;
        }
        free(why);
    }
    return ok;
}

/* Whether the plan changes replication: starts a replica or re-points one. */
static bool plan_changes_replication(const struct run *r)
{
    for (size_t i = 0; i < r->p->nsteps; i++) {
        const struct step *st = &r->p->steps[i];
        if (step_acts(st) && st->instance == INSTANCE_REDIS && st->master_ip &&
            (step_kind_desc(st->kind)->gates & GATE_SENTINELS_IF_REPLICA))
            return true;
    }
    return false;
}

/* The health check after wave w, if the plan changed what it checks. */
bool run_gate_after(struct run *r, enum step_wave w, char **err)
{
    switch (w) {
    case WAVE_PROCESSES:
        if (!plan_touches(r, INSTANCE_REDIS, WAVE_PROCESSES, WAVE_PROCESSES))
            return true;
        return gate(r, "every started redis answers", check_started, r->o.ready_timeout_ms, err);
    case WAVE_REPLICATION:
        if (!plan_touches(r, INSTANCE_REDIS, WAVE_FILES, WAVE_REPLICATION))
            return true;
        return gate(r, "every replica is linked to its master", check_replication,
                    r->o.repl_timeout_ms, err);
    case WAVE_SENTINELS: {
        /* a replica started or re-pointed must become a failover candidate too */
        if (!plan_touches(r, INSTANCE_SENTINEL, WAVE_SENTINELS, WAVE_SENTINELS) &&
            !plan_changes_replication(r))
            return true;
        /* Sentinel learns replicas from the master's INFO every 10 s */
        long timeout = r->o.sentinel_timeout_ms > SENTINEL_REPLICAS_WAIT_MS
                           ? r->o.sentinel_timeout_ms
                           : SENTINEL_REPLICAS_WAIT_MS;
        return gate(r,
                    "every sentinel monitors every shard, lists its replicas and knows the "
                    "other sentinels",
                    check_sentinels, timeout, err);
    }
    case WAVE_PROXIES:
        if (!plan_touches(r, INSTANCE_PROXY, WAVE_PROXIES, WAVE_PROXIES))
            return true;
        return gate(r,
                    plan_saw_every_master(r) ? "every proxy answers and reaches its servers"
                                             : "every proxy answers (a shard master is down: "
                                               "not reaching the servers)",
                    check_proxies, r->o.ready_timeout_ms, err);
    case WAVE_FILES:   /* checked with the processes they are for */
    case WAVE_CLEANUP: /* what it removes has nothing left to check */
    case WAVE_UPGRADE: /* each step waits until its instance is healthy (apply_upgrade.c) */
        return true;
    }
    return true;
}
