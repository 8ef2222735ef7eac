/*
 * destroy_plan.c - the plan `rmgr destroy` runs: stop every instance the
 * spec describes, then wipe its directory. Built from the spec (the steps
 * are idempotent: stopping a stopped instance is a no-op) and, when there is
 * one, the observed state for the roles (a master stops after its replicas),
 * with the planner's step builder. Pure, no I/O.
 */
#include "apply.h"

#include <stdlib.h>

#include "plan_impl.h"
#include "util.h"

/* stop (in `wave`) or remove-files (in WAVE_CLEANUP) of the instance at `at` */
static struct step *destroy_step(struct builder *b, enum step_kind kind, enum step_wave wave,
                                 enum instance_kind inst, const char *group,
                                 const struct spec_addr *at)
{
    return plan_add_step(b, kind, ACTION_REMOVE, SAFETY_DESTRUCTIVE, wave, inst, group, at, "%s",
                         kind == STEP_STOP ? "destroy: stop"
                                           : "destroy: delete its directory and data");
}

/* stop or remove-files for every instance, in destroy order */
static void destroy_steps(struct builder *b, enum step_kind kind)
{
    const struct spec *s = b->s;
    bool stop = kind == STEP_STOP;
    for (size_t i = 0; i < s->nproxies; i++) {
        const struct spec_proxy *sp = &s->proxies[i];
        struct spec_addr at = {.host = sp->host, .ip = sp->host_ip, .port = sp->listen.port};
        destroy_step(b, kind, stop ? WAVE_FILES : WAVE_CLEANUP, INSTANCE_PROXY, "proxies", &at);
    }
    for (size_t j = 0; j < s->sentinel.nnodes; j++) {
        const struct spec_addr *a = &s->sentinel.nodes[j];
        destroy_step(b, kind, stop ? WAVE_PROCESSES : WAVE_CLEANUP, INSTANCE_SENTINEL,
                     "sentinels", a);
    }
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_shard *sh = &s->shards[i];
        /* replicas first: a master's shutdown waits for replicas that lag (apply orders the
         * lanes by stops_master: the observed master, which after a failover is not the
         * spec's) */
        size_t n = shard_nmembers(sh);
        struct spec_addr *members = xcalloc(n, sizeof(*members));
        for (size_t k = 0; k < n; k++)
            members[k] = *shard_member(sh, k);
        for (size_t k = 1; k <= n; k++) {
            size_t m = k % n; /* the replicas, then the spec master */
            struct step *st = destroy_step(b, kind, stop ? WAVE_REPLICATION : WAVE_CLEANUP,
                                           INSTANCE_REDIS, sh->name, &members[m]);
            st->shard = xstrdup(sh->name);
            st->stops_master = stop && plan_member_is_master(b, members, n, m, &sh->master);
        }
        free(members);
    }
}

struct plan *apply_destroy_plan(const struct spec *s, const struct observed *o)
{
    struct builder b = {.s = s, .o = o, .p = xcalloc(1, sizeof(struct plan))};
    destroy_steps(&b, STEP_STOP);
    destroy_steps(&b, STEP_REMOVE_FILES);
    return b.p;
}
