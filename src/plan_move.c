/*
 * plan_move.c - the planner's rules for moving a member of a shard to
 * another address (what redis-mgr's `migrate` did). Pure, no I/O.
 *
 * The spec keeps the shard's name and changes a member's address; the plan
 * tells a move from "remove one, add another" by the spec against what
 * Sentinel reports (docs/design-move.md):
 *
 *   - the master moves when the master the sentinels agree on is no member
 *     of the shard in the spec, this cluster deployed it (on a spec host,
 *     its instance directory there) and it runs as a master: the shard's
 *     master: entry is where it goes. The members follow the old master
 *     until the failover (plan_redis.c is handed it as their master); the
 *     new one is deployed as its replica, waited for (wait-sync), promoted
 *     through Sentinel (failover), and the old one stopped and wiped in the
 *     clean-up wave, after which the sentinels are reset one at a time;
 *   - a replica moves when a replica Sentinel lists has left the spec (the
 *     clean-up plan_truth.c makes for it) while the spec has a member
 *     Sentinel does not list yet: the new one is waited for (wait-sync)
 *     before the old one is stopped.
 */
#include "plan_impl.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---------------------------------------------------------------- rules */

const struct spec_addr *plan_move_source(struct builder *b, size_t i,
                                         const struct obs_sentinel_master *view)
{
    const struct spec_shard *sh = &b->s->shards[i];
    const char *host;
    if (!view || !view->ip || plan_shard_find_member(sh, view->ip, view->port))
        return NULL;
    if (!plan_deployed_here(b, view->ip, view->port, &host) ||
        !redis_is_master(observed_redis(b->o, view->ip, view->port)))
        return NULL; /* foreign or down: plan_shard_truth refuses it */
    struct spec_addr *O = &b->move_from[i];
    spec_addr_release(O);
    O->host = xstrdup(host);
    O->ip = xstrdup(view->ip);
    O->port = view->port;
    return &sh->master;
}

/* Whether a reachable spec sentinel lists ip:port as a replica of shard `name`. */
static bool listed_by_sentinel(struct builder *b, const char *name, const char *ip, int port)
{
    const struct spec_sentinel *ss = &b->s->sentinel;
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct obs_sentinel *os = observed_sentinel(b->o, ss->nodes[j].ip, ss->nodes[j].port);
        const struct obs_sentinel_master *m =
            os && os->reach == REACH_OK ? plan_sentinel_find_master(os, name) : NULL;
        for (size_t k = 0; m && k < m->nreplicas; k++)
            if (m->replicas[k].port == port && str_eq(m->replicas[k].ip, ip))
                return true;
    }
    return false;
}

/* ---------------------------------------------------------------- steps */

/* wait-sync on member a: linked to master M and caught up, known to the sentinels */
static void wait_sync_step(struct builder *b, const struct spec_shard *sh,
                           const struct spec_addr *a, const struct spec_addr *M, const char *why)
{
    struct step *st = plan_add_step(
        b, STEP_WAIT_SYNC, ACTION_CHANGE, SAFETY_SAFE, WAVE_REPLICATION, INSTANCE_REDIS, sh->name,
        a, "%s: wait until it is linked to %s:%d, caught up with its offset and listed by every "
        "sentinel", why, M->ip, M->port);
    st->shard = xstrdup(sh->name);
    plan_step_set_master(st, M);
    const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
    st->before = redis_is_slave(r) && str_eq(r->master_host, M->ip) && r->master_port == M->port
                     ? xasprintf("replica of %s:%d (offset %lld, link %s)", M->ip, M->port,
                                 r->slave_repl_offset,
                                 r->master_link_status ? r->master_link_status : "?")
                     : xstrdup(redis_reach(r) == REACH_OK ? "not a replica of it yet"
                                                          : "not running yet");
    st->after = xasprintf("replica of %s:%d, caught up", M->ip, M->port);
    plan_observed_redis(&st->source, a->ip, a->port, r);
    plan_observed_redis(&st->source, M->ip, M->port, observed_redis(b->o, M->ip, M->port));
}

/* the master moves: shard i's master O has left the spec, T (p->masters[i]) takes over */
static void master_move_steps(struct builder *b, size_t i)
{
    const struct spec_shard *sh = &b->s->shards[i];
    const struct spec_addr *O = &b->move_from[i], *T = &b->p->masters[i];
    const struct obs_redis *tr = observed_redis(b->o, T->ip, T->port);
    if (reach_unreachable(redis_reach(tr)))
        return; /* its "=" line says so; nothing moves onto what cannot be seen */

    wait_sync_step(b, sh, T, O, "the new master of a member move");

    struct step *st = plan_add_step(
        b, STEP_FAILOVER, ACTION_CHANGE, SAFETY_DISRUPTIVE, WAVE_REPLICATION, INSTANCE_REDIS,
        sh->name, T,
        "%s master %s:%d is not in the spec: planned failover to %s:%d through Sentinel "
        "(writes pause on the old master until it replicates from the new one)",
        sh->name, O->ip, O->port, T->ip, T->port);
    st->shard = xstrdup(sh->name);
    plan_step_set_master(st, O);
    st->before = xasprintf("master %s:%d", O->ip, O->port);
    st->after = xasprintf("master %s:%d", T->ip, T->port);
    plan_cite(&st->source, &sh->pos);
    plan_observed_sentinels(b, &st->source, sh->name, O->ip, O->port);
    plan_observed_redis(&st->source, O->ip, O->port, observed_redis(b->o, O->ip, O->port));

    /* the old master, a replica of the new one by then */
    st = plan_add_step(b, STEP_STOP, ACTION_REMOVE, SAFETY_DISRUPTIVE, WAVE_CLEANUP,
                       INSTANCE_REDIS, sh->name, O,
                       "old master of %s, moved to %s:%d: stop it once the failover is done",
                       sh->name, T->ip, T->port);
    st->shard = xstrdup(sh->name);
    plan_cite(&st->source, &sh->pos);
    plan_observed_sentinels(b, &st->source, sh->name, O->ip, O->port);
    st = plan_add_step(b, STEP_REMOVE_FILES, ACTION_REMOVE, SAFETY_DESTRUCTIVE, WAVE_CLEANUP,
                       INSTANCE_REDIS, sh->name, O,
                       "old master of %s, moved to %s:%d: delete its instance directory (its "
                       "data lives on in the new master)",
                       sh->name, T->ip, T->port);
    st->shard = xstrdup(sh->name);
    plan_cite(&st->source, &sh->pos);
    plan_observed_sentinels(b, &st->source, sh->name, O->ip, O->port);
    /* Sentinel forgets the old master only once it is stopped */
    b->reset_late[i] = true;
}

/* a replica moves: one Sentinel lists left the spec (reset_late), a new member is not listed */
static void replica_move_steps(struct builder *b, size_t i)
{
    const struct spec_shard *sh = &b->s->shards[i];
    const struct spec_addr *M = &b->p->masters[i];
    if (!redis_is_master(observed_redis(b->o, M->ip, M->port)))
        return;
    for (size_t k = 0; k < shard_nmembers(sh); k++) {
        const struct spec_addr *a = shard_member(sh, k);
        if (addr_is(a, M->ip, M->port))
            continue;
        enum reach rc = redis_reach(observed_redis(b->o, a->ip, a->port));
        if (rc == REACH_REFUSED ||
            (rc == REACH_OK && !listed_by_sentinel(b, sh->name, a->ip, a->port)))
            wait_sync_step(b, sh, a, M,
                           "the new replica of a member move, before the old one stops");
    }
}

void plan_move_steps(struct builder *b, size_t i)
{
    if (b->p->nrefusals && b->p->shard_failover[i])
        return;
    if (b->move_from[i].ip)
        master_move_steps(b, i);
    else if (b->reset_late[i] && !b->p->shard_waiting[i])
        replica_move_steps(b, i);
}
