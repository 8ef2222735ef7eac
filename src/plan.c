/*
 * plan.c - the planner: (spec, observed) -> ordered steps. Pure, no I/O.
 *
 * Two passes. First the truth: for every shard, which node is the master
 * now (Sentinel's view when Sentinel monitors the shard, otherwise what the
 * nodes themselves report), refusing whenever that is ambiguous: a plan
 * built on a wrong master would demote the node holding the newest data.
 * Then the steps, built around that master and never touching its role:
 * files, processes, replication, config drift, Sentinel monitors, proxy
 * configs, and the clean-up of shards removed from the spec.
 *
 * Steps are generated in spec order and stably sorted by wave, so output
 * is deterministic for a given input.
 *
 * This file: the step kind table, the builder every planning file adds
 * steps with (plan_impl.h), the helpers they share, and plan_compute()
 * running the passes: plan_truth.c (each shard's master, refusals),
 * plan_redis.c, plan_sentinel.c (with shards removed from the spec),
 * plan_proxy.c.
 */
#include "plan.h"
#include "plan_impl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

/* ---------------------------------------------------------------- names */

static const struct step_kind_desc step_kinds[] = {
#define STEP_KIND_ROW(kind, name, lane, flags, gates, exec) [kind] = {name, lane, flags, gates},
    STEP_KINDS(STEP_KIND_ROW)
#undef STEP_KIND_ROW
};
_Static_assert(ARRAY_SIZE(step_kinds) == STEP_KIND_COUNT, "a row per step kind");

const struct step_kind_desc *step_kind_desc(enum step_kind k)
{
    ASSERT((size_t)k < ARRAY_SIZE(step_kinds));
    return &step_kinds[k];
}

const char *step_kind_name(enum step_kind k)
{
    return step_kind_desc(k)->name;
}

bool step_kind_has(enum step_kind k, unsigned flags)
{
    return (step_kind_desc(k)->flags & flags) == flags;
}

const char *step_action_symbol(enum step_action a)
{
    switch (a) {
    case ACTION_NONE: return "=";
    case ACTION_CREATE: return "+";
    case ACTION_CHANGE: return "~";
    case ACTION_REMOVE: return "-";
    case ACTION_REPLACE: return "-/+";
    }
    return "?";
}

const char *step_safety_name(enum step_safety s)
{
    switch (s) {
    case SAFETY_SAFE: return "safe";
    case SAFETY_DISRUPTIVE: return "disruptive";
    case SAFETY_DESTRUCTIVE: return "destructive";
    }
    return "unknown";
}

const char *instance_kind_name(enum instance_kind k)
{
    switch (k) {
    case INSTANCE_REDIS: return "redis";
    case INSTANCE_SENTINEL: return "sentinel";
    case INSTANCE_PROXY: return "proxy";
    }
    return "unknown";
}

/* ---------------------------------------------------------------- builder */

void plan_warn(struct builder *b, const char *fmt, ...)
{
    ASSERT(b && b->p && fmt);
    va_list ap;
    va_start(ap, fmt);
    char *w = xvasprintf(fmt, ap);
    va_end(ap);
    VEC_GROW(b->p->warnings, b->p->nwarnings, b->warnings_cap);
    b->p->warnings[b->p->nwarnings++] = w;
}

struct plan_refusal *plan_refuse(struct builder *b, const char *shard, char *diagnosis)
{
    ASSERT(b && b->p && shard && diagnosis);
    VEC_GROW(b->p->refusals, b->p->nrefusals, b->refusals_cap);
    struct plan_refusal *r = &b->p->refusals[b->p->nrefusals++];
    memset(r, 0, sizeof(*r));
    r->shard = xstrdup(shard);
    r->diagnosis = diagnosis;
    for (size_t i = 0; i < b->s->nshards; i++)
        if (str_eq(b->s->shards[i].name, shard))
            plan_cite(&r->source, &b->s->shards[i].pos);
    return r;
}

struct step *plan_add_step(struct builder *b, enum step_kind kind, enum step_action action,
                           enum step_safety safety, enum step_wave wave, enum instance_kind inst,
                           const char *group, const struct spec_addr *at, const char *fmt, ...)
{
    ASSERT(b && b->p);
    ASSERT((size_t)kind < STEP_KIND_COUNT);
    ASSERT(wave >= WAVE_FILES && wave <= WAVE_UPGRADE);
    ASSERT(at && at->ip && at->port >= 1 && at->port <= 65535);
    ASSERT(group && fmt);
    ASSERT((action == ACTION_NONE) == step_kind_has(kind, STEPF_FACT));
    VEC_GROW(b->p->steps, b->p->nsteps, b->steps_cap);
    struct step *st = &b->p->steps[b->p->nsteps++];
    memset(st, 0, sizeof(*st));
    st->kind = kind;
    st->action = action;
    st->safety = safety;
    st->wave = wave;
    st->instance = inst;
    st->group = xstrdup(group);
    st->target = xasprintf("%s:%d", at->host ? at->host : at->ip, at->port);
    st->host = xstrdup(at->host ? at->host : at->ip);
    st->ip = xstrdup(at->ip);
    st->port = at->port;
    va_list ap;
    va_start(ap, fmt);
    st->reason = xvasprintf(fmt, ap);
    va_end(ap);
    plan_cite(&st->source, &at->pos);
    return st;
}

void plan_step_add_setting(struct step *st, const char *key, const char *value)
{
    ASSERT(st && key && value);
    st->settings = xrealloc(st->settings, (st->nsettings + 1) * sizeof(*st->settings));
    st->settings[st->nsettings].key = xstrdup(key);
    st->settings[st->nsettings].value = xstrdup(value);
    st->nsettings++;
}

void plan_step_set_master(struct step *st, const struct spec_addr *m)
{
    ASSERT(st && m && m->ip);
    st->master_ip = xstrdup(m->ip);
    st->master_port = m->port;
}

/* ---------------------------------------------------------------- helpers */

bool plan_member_is_master(const struct builder *b, const struct spec_addr *members, size_t n,
                           size_t k, const struct spec_addr *fallback)
{
    ASSERT(b && members && k < n);
    const struct spec_addr *a = &members[k];
    const struct obs_redis *r = b->o ? observed_redis(b->o, a->ip, a->port) : NULL;
    if (redis_is_master(r) || redis_is_slave(r))
        return redis_is_master(r);
    for (size_t j = 0; b->o && j < n; j++)
        if (redis_is_master(observed_redis(b->o, members[j].ip, members[j].port)))
            return false;
    return fallback && addr_is(fallback, a->ip, a->port);
}

const struct spec_addr *plan_shard_find_member(const struct spec_shard *sh, const char *ip,
                                               int port)
{
    for (size_t k = 0; k < shard_nmembers(sh); k++)
        if (addr_is(shard_member(sh, k), ip, port))
            return shard_member(sh, k);
    return NULL;
}

/*
 * The first member of shard sh other than M that is not known to be stopped
 * (running ones first, then ones that could not be observed), or NULL when
 * every other member is down.
 */
const struct spec_addr *plan_member_not_down(const struct observed *o, const struct spec_shard *sh,
                                             const struct spec_addr *M)
{
    const struct spec_addr *unknown = NULL;
    for (size_t k = 0; k < shard_nmembers(sh); k++) {
        const struct spec_addr *a = shard_member(sh, k);
        if (addr_is(a, M->ip, M->port))
            continue;
        enum reach rc = redis_reach(observed_redis(o, a->ip, a->port));
        if (rc == REACH_OK)
            return a;
        if (rc != REACH_REFUSED && !unknown)
            unknown = a;
    }
    return unknown;
}

const struct obs_sentinel_master *plan_sentinel_find_master(const struct obs_sentinel *os,
                                                            const char *name)
{
    if (!os)
        return NULL;
    for (size_t i = 0; i < os->nmasters; i++)
        if (str_eq(os->masters[i].name, name))
            return &os->masters[i];
    return NULL;
}

void plan_addr_copy(struct spec_addr *dst, const struct spec_addr *src)
{
    dst->host = xstrdup(src->host ? src->host : src->ip);
    dst->ip = xstrdup(src->ip);
    dst->port = src->port;
    dst->pos = src->pos;
}

/*
 * The hosts: name for an address the spec uses (Sentinel may report a
 * hosts: name itself), the IP when spec instances use it without a hosts:
 * entry, or NULL when the address is foreign to this cluster.
 */
const char *plan_spec_host_for_ip(const struct spec *s, const char *ip)
{
    for (size_t h = 0; h < s->nhosts; h++)
        if (str_eq(s->hosts[h].address, ip) || str_eq(s->hosts[h].name, ip))
            return s->hosts[h].name;
    for (size_t i = 0; i < s->nshards; i++)
        for (size_t k = 0; k < shard_nmembers(&s->shards[i]); k++)
            if (str_eq(shard_member(&s->shards[i], k)->ip, ip))
                return ip;
    for (size_t j = 0; j < s->sentinel.nnodes; j++)
        if (str_eq(s->sentinel.nodes[j].ip, ip))
            return ip;
    for (size_t p = 0; p < s->nproxies; p++)
        if (str_eq(s->proxies[p].host_ip, ip))
            return ip;
    return NULL;
}

void plan_node_list_add(struct node_list *nl, const char *host, const char *ip, int port)
{
    for (size_t i = 0; i < nl->n; i++)
        if (addr_is(&nl->v[i], ip, port))
            return;
    VEC_GROW(nl->v, nl->n, nl->cap);
    memset(&nl->v[nl->n], 0, sizeof(nl->v[nl->n]));
    nl->v[nl->n].host = xstrdup(host);
    nl->v[nl->n].ip = xstrdup(ip);
    nl->v[nl->n].port = port;
    nl->n++;
}

void plan_node_list_release(struct node_list *nl)
{
    for (size_t i = 0; i < nl->n; i++) {
        free(nl->v[i].host);
        free(nl->v[i].ip);
    }
    free(nl->v);
    memset(nl, 0, sizeof(*nl));
}

/* "ip:port" of a spec address, for reasons about masters */
char *plan_addr_ipport(const struct spec_addr *a)
{
    return xasprintf("%s:%d", a->ip, a->port);
}

/* ---------------------------------------------------------------- steps every pass adds */

/* "=" line and warning for an instance that could not be observed */
void plan_unreachable_step(struct builder *b, enum instance_kind inst, enum step_wave wave,
                           const char *group, const struct spec_addr *a, enum reach rc,
                           const char *detail)
{
    struct step *st = plan_add_step(b, STEP_OBSERVED, ACTION_NONE, SAFETY_SAFE, wave, inst, group,
                                    a, "unreachable (%s%s%s): no steps planned for it",
                                    reach_name(rc), detail ? ": " : "", detail ? detail : "");
    if (inst == INSTANCE_REDIS)
        st->shard = xstrdup(group); /* a redis's group is its shard */
    plan_observed(&st->source, "%s %s:%d: unreachable (%s%s%s)", instance_kind_name(inst), a->ip,
                  a->port, reach_name(rc), detail ? ": " : "", detail ? detail : "");
    plan_warn(b, "%s %s:%d could not be observed (%s): the plan does not cover it",
              instance_kind_name(inst), a->host ? a->host : a->ip, a->port, reach_name(rc));
    b->p->unreachable++;
}

/* install-files when the files were looked at and something is missing */
void plan_files_step(struct builder *b, enum instance_kind inst, enum step_wave wave,
                     const char *group, const char *shard, const struct spec_addr *a,
                     const struct obs_files *f, const char *conf_name)
{
    if (!f->checked) {
        /* silence here would turn "cannot look" into "nothing to do" */
        plan_warn(b, "files of %s %s:%d could not be checked (%s): the plan does not cover them",
                  instance_kind_name(inst), a->host ? a->host : a->ip, a->port,
                  f->error ? f->error : "host not reachable");
        b->p->unreachable++;
        return;
    }
    if (f->dir_present && f->conf_present)
        return;
    struct step *st =
        plan_add_step(b, STEP_INSTALL_FILES, ACTION_CREATE, SAFETY_SAFE, wave, inst, group, a, "%s",
                      !f->dir_present ? "instance directory missing" : conf_name);
    st->shard = xstrdup(shard);
    plan_observed_files(b, st, f);
}

/* how a masked password shows in before/after: "" is no password at all */
const char *plan_secret_shown(const char *have)
{
    return !have ? "(absent)" : !*have ? "(none)" : have;
}


/* ---------------------------------------------------------------- plan */

static void step_release(struct step *st)
{
    free(st->group);
    free(st->target);
    free(st->host);
    free(st->ip);
    free(st->reason);
    free(st->before);
    free(st->after);
    free(st->shard);
    free(st->master_ip);
    obs_kv_free_array(st->settings, st->nsettings);
    plan_source_release(&st->source);
}

static void refusal_release(struct plan_refusal *r)
{
    free(r->shard);
    free(r->diagnosis);
    plan_source_release(&r->source);
}

/* a step or refusal nothing was cited for: the spec file, at its cluster line */
static void source_fallback(const struct spec *s, struct plan_source *src)
{
    if (!src->nspec && !src->nobserved)
        plan_cite(src, &s->cluster_pos);
}

struct ordered {
    struct step st;
    size_t seq;
};

static int cmp_ordered(const void *a, const void *b)
{
    const struct ordered *x = a, *y = b;
    if (x->st.wave != y->st.wave)
        return x->st.wave < y->st.wave ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* stable sort by wave: generation order is spec order */
static void sort_steps(struct plan *p)
{
    if (p->nsteps < 2)
        return;
    struct ordered *v = xcalloc(p->nsteps, sizeof(*v));
    for (size_t i = 0; i < p->nsteps; i++) {
        v[i].st = p->steps[i];
        v[i].seq = i;
    }
    qsort(v, p->nsteps, sizeof(*v), cmp_ordered);
    for (size_t i = 0; i < p->nsteps; i++)
        p->steps[i] = v[i].st;
    free(v);
}

struct plan *plan_compute(const struct spec *spec, const struct observed *obs)
{
    struct plan *p = xcalloc(1, sizeof(*p));
    struct builder b = {.s = spec, .o = obs, .p = p};
    b.password = (spec->auth.password_env || spec->auth.password_file) ? CONF_SECRET_PLACEHOLDER
                                                                       : NULL;
    p->masters = xcalloc(spec->nshards + 1, sizeof(*p->masters));
    p->nmasters = spec->nshards;
    p->master_from_sentinel = xcalloc(spec->nshards ? spec->nshards : 1, sizeof(bool));
    p->shard_waiting = xcalloc(spec->nshards ? spec->nshards : 1, sizeof(bool));
    p->shard_failover = xcalloc(spec->nshards ? spec->nshards : 1, sizeof(bool));

    bool *ok = xcalloc(spec->nshards ? spec->nshards : 1, sizeof(bool));
    b.reset_late = xcalloc(spec->nshards ? spec->nshards : 1, sizeof(bool));
    b.move_from = xcalloc(spec->nshards ? spec->nshards : 1, sizeof(*b.move_from));
    for (size_t i = 0; i < spec->nshards; i++)
        for (size_t k = 0; k < shard_nmembers(&spec->shards[i]); k++) {
            const struct spec_addr *a = shard_member(&spec->shards[i], k);
            b.nredis++;
            b.nauth_failed += redis_reach(observed_redis(obs, a->ip, a->port)) == REACH_AUTH;
        }
    for (size_t i = 0; i < spec->nshards; i++) {
        ok[i] = plan_shard_truth(&b, i);
        if (!ok[i])
            plan_addr_copy(&p->masters[i], &spec->shards[i].master);
    }
    for (size_t i = 0; i < spec->nshards; i++) {
        plan_redis_steps(&b, i);
        plan_move_steps(&b, i);
    }

    struct strvec removed = {0};
    plan_sentinel_steps(&b, &removed);
    plan_proxy_steps(&b);
    for (size_t i = 0; i < removed.n; i++)
        plan_removed_shard_steps(&b, removed.v[i]);
    strvec_release(&removed);
    plan_upgrade_steps(&b);
    free(ok);
    free(b.reset_late);
    ARRAY_FREE(b.move_from, spec->nshards, spec_addr_release);

    if (p->nrefusals) {
        /* a plan that refuses must not be applied, even in part */
        for (size_t i = 0; i < p->nsteps; i++)
            step_release(&p->steps[i]);
        p->nsteps = 0;
    }
    for (size_t i = 0; i < p->nsteps; i++)
        source_fallback(spec, &p->steps[i].source);
    for (size_t i = 0; i < p->nrefusals; i++)
        source_fallback(spec, &p->refusals[i].source);
    sort_steps(p);
    return p;
}

void plan_free(struct plan *p)
{
    if (!p)
        return;
    ARRAY_FREE(p->steps, p->nsteps, step_release);
    ARRAY_FREE(p->refusals, p->nrefusals, refusal_release);
    strings_free(p->warnings, p->nwarnings);
    ARRAY_FREE(p->masters, p->nmasters, spec_addr_release);
    free(p->shard_waiting);
    free(p->shard_failover);
    free(p->master_from_sentinel);
    free(p);
}

struct plan_counts plan_count(const struct plan *p)
{
    struct plan_counts c = {0};
    for (size_t i = 0; p && i < p->nsteps; i++) {
        switch (p->steps[i].action) {
        case ACTION_NONE: c.observed++; break;
        case ACTION_CREATE: c.add++; break;
        case ACTION_CHANGE: c.change++; break;
        case ACTION_REMOVE: c.remove++; break;
        case ACTION_REPLACE: c.add++; c.remove++; break;
        }
    }
    return c;
}

bool plan_has_changes(const struct plan *p)
{
    if (!p)
        return false;
    if (p->unreachable > 0 || p->waiting > 0)
        return true;
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].action != ACTION_NONE)
            return true;
    return false;
}

bool plan_has_destructive(const struct plan *p)
{
    for (size_t i = 0; p && i < p->nsteps; i++)
        if (p->steps[i].safety == SAFETY_DESTRUCTIVE)
            return true;
    return false;
}

bool step_acts(const struct step *st)
{
    return !step_kind_has(st->kind, STEPF_FACT) && st->action != ACTION_NONE;
}
