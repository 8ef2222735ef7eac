/*
 * plan_upgrade.c - the planner's rolling upgrade: the instances whose
 * process runs another program than the one the spec gives for its kind
 * (defaults.binaries) are restarted on the spec's, one at a time, in the
 * order that keeps every shard writable and every acknowledged write:
 *
 *   1. the replicas, shard by shard (each linked and caught up before the next);
 *   2. per shard whose master runs the old program: a planned failover
 *      through Sentinel onto an upgraded replica, then the old master (now
 *      a replica of the new one) restarted like the replicas;
 *   3. the sentinels, one at a time (the others keep the quorum);
 *   4. the proxies, one at a time (the new program checks the config first).
 *
 * All of it is WAVE_UPGRADE, after every other change, on one lane
 * (LANE_UPGRADE). An instance the plan starts or restarts anyway gets the
 * spec's program from that step and is left out; a program that could not
 * be observed (an older observation, a host not reached) plans nothing.
 * An interrupted upgrade is finished by the next plan: what still runs the
 * old program is still planned. Pure, no I/O.
 */
#include "plan_impl.h"

#include <stdlib.h>
#include <string.h>

#include "instance.h"
#include "util.h"

/*
 * Whether build bd (observed) of the instance at `a` is known and is not
 * program `want`. With binaries.ship the spec's program is rmgr's own copy
 * of the build at each host: an instance on another file of the same build
 * (one started before rmgr adopted it) has nothing to gain from a restart,
 * so there it takes a version that differs from the shipped copy's.
 */
static bool runs_other(const struct builder *b, const struct spec_addr *a,
                       const struct obs_build *bd, const char *want)
{
    if (!bd || !bd->executable || !*bd->executable || str_eq(bd->executable, want))
        return false;
    if (!b->s->defaults.binaries.ship)
        return true;
    const char *v = observed_program_version(b->o, a->host ? a->host : a->ip, want);
    return v && bd->version && !str_eq(v, bd->version);
}

/*
 * Whether the plan already starts, restarts or stops the instance of kind
 * k at ip:port: it then gets the spec's program (or none) from that step.
 */
static bool plan_handles(const struct builder *b, enum instance_kind k, const char *ip, int port)
{
    for (size_t i = 0; i < b->p->nsteps; i++) {
        const struct step *st = &b->p->steps[i];
        if (!step_acts(st) || st->instance != k || st->port != port || !str_eq(st->ip, ip))
            continue;
        if (step_kind_has(st->kind, STEPF_STARTS) || st->kind == STEP_STOP)
            return true;
    }
    return false;
}

/* "7.0.15 /usr/bin/redis-server" (or the program alone when the version is unknown) */
static char *build_text(const struct obs_build *bd)
{
    if (bd->version && *bd->version)
        return xasprintf("%s %s", bd->version, bd->executable);
    return xstrdup(bd->executable);
}

/* An upgrade-restart of the instance at `a`; the reason is formatted. */
static struct step *restart_step(struct builder *b, enum instance_kind k, const char *group,
                                 const struct spec_addr *a, const struct obs_build *bd,
                                 const char *want, const char *then)
{
    struct step *st = plan_add_step(b, STEP_UPGRADE_RESTART, ACTION_CHANGE, SAFETY_DISRUPTIVE,
                                    WAVE_UPGRADE, k, group, a, "runs %s, the spec has %s: %s",
                                    bd->executable, want, then);
    st->before = build_text(bd);
    const char *v = observed_program_version(b->o, a->host ? a->host : a->ip, want);
    st->after = v ? xasprintf("%s %s", v, want) : xstrdup(want);
    if (v)
        plan_observed(&st->source, "host %s %s --version: %s", a->host ? a->host : a->ip, want,
                      v);
    plan_observed(&st->source, "%s %s:%d %s: %s%s%s", instance_kind_name(k), a->ip, a->port,
                  k == INSTANCE_PROXY ? "process" : "INFO server", bd->executable,
                  bd->version ? ", version " : "", bd->version ? bd->version : "");
    return st;
}

/* Whether shard i's roles may be touched: not refused, not left to Sentinel. */
static bool shard_settled(const struct builder *b, size_t i)
{
    const struct plan *p = b->p;
    for (size_t r = 0; r < p->nrefusals; r++)
        if (str_eq(p->refusals[r].shard, b->s->shards[i].name))
            return false;
    return !p->shard_waiting[i] && !p->shard_failover[i] && p->masters[i].ip;
}

/* Restarts of shard i's replicas that run another program than `want`. */
static void replica_steps(struct builder *b, size_t i, const char *want)
{
    const struct spec_shard *sh = &b->s->shards[i];
    const struct spec_addr *M = &b->p->masters[i];
    for (size_t k = 0; k < shard_nmembers(sh); k++) {
        const struct spec_addr *a = shard_member(sh, k);
        const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
        if (addr_is(a, M->ip, M->port) || !redis_is_slave(r) ||
            !runs_other(b, a, &r->build, want) || plan_handles(b, INSTANCE_REDIS, a->ip, a->port))
            continue;
        struct step *st = restart_step(b, INSTANCE_REDIS, sh->name, a, &r->build, want,
                                       "restart it, then wait until it is linked and caught up");
        st->shard = xstrdup(sh->name);
        plan_observed_redis(&st->source, a->ip, a->port, r);
    }
}

/*
 * Whether shard i has a replica linked to its master whose program was
 * observed: it runs the spec's now or replica_steps restarts it onto it,
 * so the failover has an upgraded replica to go to.
 */
static bool shard_has_upgraded_replica(const struct builder *b, size_t i)
{
    const struct spec_shard *sh = &b->s->shards[i];
    const struct spec_addr *M = &b->p->masters[i];
    for (size_t k = 0; k < shard_nmembers(sh); k++) {
        const struct spec_addr *a = shard_member(sh, k);
        const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
        if (!addr_is(a, M->ip, M->port) && redis_is_slave(r) && r->build.executable &&
            str_eq(r->master_host, M->ip) && r->master_port == M->port)
            return true; /* on `want` now, or restarted onto it by replica_steps */
    }
    return false;
}

/* The failover of shard i's master onto an upgraded replica, then its own restart. */
static void master_steps(struct builder *b, size_t i, const char *want)
{
    const struct spec_shard *sh = &b->s->shards[i];
    const struct spec_addr *M = &b->p->masters[i];
    const struct obs_redis *r = observed_redis(b->o, M->ip, M->port);
    if (!redis_is_master(r) || !runs_other(b, M, &r->build, want) ||
        plan_handles(b, INSTANCE_REDIS, M->ip, M->port))
        return;
    if (!shard_has_upgraded_replica(b, i)) {
        plan_warn(b,
                  "master %s:%d of %s runs %s, the spec has %s: it has no replica linked to fail "
                  "over to, so the plan does not restart it (add a replica to the spec, or "
                  "restart it by hand when the shard may be unavailable)",
                  M->host ? M->host : M->ip, M->port, sh->name, r->build.executable, want);
        return;
    }
    struct step *fo = plan_add_step(
        b, STEP_UPGRADE_FAILOVER, ACTION_CHANGE, SAFETY_DISRUPTIVE, WAVE_UPGRADE, INSTANCE_REDIS,
        sh->name, M, "master runs %s, the spec has %s: SENTINEL FAILOVER %s onto a replica that "
        "runs %s",
        r->build.executable, want, sh->name, want);
    fo->shard = xstrdup(sh->name);
    fo->before = xasprintf("master %s:%d", M->ip, M->port);
    fo->after = xstrdup("master: an upgraded replica");
    plan_observed_redis(&fo->source, M->ip, M->port, r);
    plan_observed_sentinels(b, &fo->source, sh->name, M->ip, M->port);
    struct step *st = restart_step(b, INSTANCE_REDIS, sh->name, M, &r->build, want,
                                   "after the failover restart it as a replica of the new "
                                   "master, then wait until it is linked and caught up");
    st->shard = xstrdup(sh->name);
}

void plan_upgrade_steps(struct builder *b)
{
    const struct spec *s = b->s;
    if (!b->o)
        return;
    char *want = instance_binary_path(s, INSTANCE_REDIS);
    for (size_t i = 0; i < s->nshards; i++)
        if (shard_settled(b, i))
            replica_steps(b, i, want);
    for (size_t i = 0; i < s->nshards; i++)
        if (shard_settled(b, i))
            master_steps(b, i, want);
    free(want);

    want = instance_binary_path(s, INSTANCE_SENTINEL);
    for (size_t j = 0; j < s->sentinel.nnodes; j++) {
        const struct spec_addr *a = &s->sentinel.nodes[j];
        const struct obs_sentinel *os = observed_sentinel(b->o, a->ip, a->port);
        if (!os || os->reach != REACH_OK || !runs_other(b, a, &os->build, want) ||
            plan_handles(b, INSTANCE_SENTINEL, a->ip, a->port))
            continue;
        restart_step(b, INSTANCE_SENTINEL, "sentinels", a, &os->build, want,
                     "restart it, then wait until it monitors every shard and knows the other "
                     "sentinels");
    }
    free(want);

    want = instance_binary_path(s, INSTANCE_PROXY);
    for (size_t j = 0; j < s->nproxies; j++) {
        const struct spec_proxy *sp = &s->proxies[j];
        struct spec_addr a = {.host = sp->host, .ip = sp->host_ip, .port = sp->listen.port,
                              .pos = sp->pos};
        const struct obs_proxy *op = NULL;
        for (size_t k = 0; k < b->o->nproxies && !op; k++)
            if (str_eq(b->o->proxies[k].ip, sp->host_ip) &&
                b->o->proxies[k].listen_port == sp->listen.port)
                op = &b->o->proxies[k];
        if (!op || op->reach != REACH_OK || !runs_other(b, &a, &op->build, want) ||
            plan_handles(b, INSTANCE_PROXY, a.ip, a.port))
            continue;
        restart_step(b, INSTANCE_PROXY, "proxies", &a, &op->build, want,
                     "check its config with the new program (nutcracker -t), restart it, then "
                     "wait until it answers");
    }
    free(want);
}
