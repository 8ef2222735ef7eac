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
 */
#include "plan.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "failover.h"
#include "nutcracker_yml.h"
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

struct builder {
    const struct spec *s;
    const struct observed *o;
    struct plan *p;
    size_t steps_cap, warnings_cap, refusals_cap;
    const char *password; /* CONF_SECRET_PLACEHOLDER when the spec has auth */
    bool *reset_late;     /* per shard: sentinel resets wait for the clean-up wave */
    size_t nauth_failed;  /* spec redis instances that refused the password */
    size_t nredis;        /* spec redis instances */
};

static void warn(struct builder *b, const char *fmt, ...) RMGR_PRINTF(2, 3);

static void warn(struct builder *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *w = xvasprintf(fmt, ap);
    va_end(ap);
    VEC_GROW(b->p->warnings, b->p->nwarnings, b->warnings_cap);
    b->p->warnings[b->p->nwarnings++] = w;
}

/* Take ownership of `diagnosis`. */
static void refuse(struct builder *b, const char *shard, char *diagnosis)
{
    VEC_GROW(b->p->refusals, b->p->nrefusals, b->refusals_cap);
    b->p->refusals[b->p->nrefusals].shard = xstrdup(shard);
    b->p->refusals[b->p->nrefusals].diagnosis = diagnosis;
    b->p->nrefusals++;
}

/*
 * Append a step running on `at` (spec spelling for target and host). The
 * reason is formatted; everything else is filled in by the caller.
 */
static struct step *add_step(struct builder *b, enum step_kind kind, enum step_action action,
                             enum step_safety safety, enum step_wave wave,
                             enum instance_kind inst, const char *group,
                             const struct spec_addr *at, const char *fmt, ...)
    RMGR_PRINTF(9, 10);

static struct step *add_step(struct builder *b, enum step_kind kind, enum step_action action,
                             enum step_safety safety, enum step_wave wave,
                             enum instance_kind inst, const char *group,
                             const struct spec_addr *at, const char *fmt, ...)
{
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
    return st;
}

static void step_add_setting(struct step *st, const char *key, const char *value)
{
    st->settings = xrealloc(st->settings, (st->nsettings + 1) * sizeof(*st->settings));
    st->settings[st->nsettings].key = xstrdup(key);
    st->settings[st->nsettings].value = xstrdup(value);
    st->nsettings++;
}

static void step_set_master(struct step *st, const struct spec_addr *m)
{
    st->master_ip = xstrdup(m->ip);
    st->master_port = m->port;
}

/* ---------------------------------------------------------------- helpers */

static bool addr_is(const struct spec_addr *a, const char *ip, int port)
{
    return a->port == port && str_eq(a->ip, ip);
}

static size_t shard_nmembers(const struct spec_shard *sh)
{
    return 1 + sh->nreplicas;
}

/* member 0 is the spec master, then the replicas in spec order */
static const struct spec_addr *shard_member(const struct spec_shard *sh, size_t k)
{
    return k == 0 ? &sh->master : &sh->replicas[k - 1];
}

static const struct spec_addr *shard_find_member(const struct spec_shard *sh, const char *ip,
                                                 int port)
{
    for (size_t k = 0; k < shard_nmembers(sh); k++)
        if (addr_is(shard_member(sh, k), ip, port))
            return shard_member(sh, k);
    return NULL;
}

static enum reach redis_reach(const struct obs_redis *r)
{
    return r ? r->reach : REACH_NOT_CHECKED;
}

static bool reach_unreachable(enum reach r)
{
    return r != REACH_OK && r != REACH_REFUSED;
}

static bool redis_is_master(const struct obs_redis *r)
{
    return r && r->reach == REACH_OK && str_eq(r->role, "master");
}

static bool redis_is_slave(const struct obs_redis *r)
{
    return r && r->reach == REACH_OK && str_eq(r->role, "slave");
}

/* keys, replicas or a replication offset: the node has served writes */
static bool redis_holds_data(const struct obs_redis *r)
{
    return r && (r->keys > 0 || r->connected_slaves > 0 || r->master_repl_offset > 0);
}

/*
 * The first member of shard sh other than M that is not known to be stopped
 * (running ones first, then ones that could not be observed), or NULL when
 * every other member is down.
 */
static const struct spec_addr *member_not_down(const struct observed *o,
                                               const struct spec_shard *sh,
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

static const char *detail_or(const char *detail, const char *dflt)
{
    return detail && *detail ? detail : dflt;
}

static const struct obs_sentinel_master *sentinel_find_master(const struct obs_sentinel *os,
                                                              const char *name)
{
    if (!os)
        return NULL;
    for (size_t i = 0; i < os->nmasters; i++)
        if (str_eq(os->masters[i].name, name))
            return &os->masters[i];
    return NULL;
}

static const struct obs_proxy *observed_proxy(const struct observed *o, const char *ip, int port)
{
    if (!o)
        return NULL;
    for (size_t i = 0; i < o->nproxies; i++)
        if (o->proxies[i].listen_port == port && str_eq(o->proxies[i].ip, ip))
            return &o->proxies[i];
    return NULL;
}

static void addr_copy(struct spec_addr *dst, const struct spec_addr *src)
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
static const char *spec_host_for_ip(const struct spec *s, const char *ip)
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

/* a set of addresses in first-seen order */
struct node_list {
    struct spec_addr *v;
    size_t n, cap;
};

static void node_list_add(struct node_list *nl, const char *host, const char *ip, int port)
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

static void node_list_release(struct node_list *nl)
{
    for (size_t i = 0; i < nl->n; i++) {
        free(nl->v[i].host);
        free(nl->v[i].ip);
    }
    free(nl->v);
    memset(nl, 0, sizeof(*nl));
}

/* "ip:port, ip:port" */
static char *node_list_str(const struct node_list *nl)
{
    struct strbuf sb = {0};
    for (size_t i = 0; i < nl->n; i++)
        sb_addf(&sb, "%s%s:%d", i ? ", " : "", nl->v[i].ip, nl->v[i].port);
    return sb.buf ? sb_detach(&sb) : xstrdup("");
}

/* "ip:port" of a spec address, for reasons about masters */
static char *addr_ipport(const struct spec_addr *a)
{
    return xasprintf("%s:%d", a->ip, a->port);
}

/* One line saying what a redis node reports, for diagnoses. */
static void describe_redis(struct strbuf *sb, const struct spec_addr *a, const struct obs_redis *r)
{
    sb_addf(sb, "\n  redis %s:%d: ", a->ip, a->port);
    enum reach rc = redis_reach(r);
    if (rc == REACH_REFUSED) {
        sb_addf(sb, "not running (%s)", detail_or(r->reach_detail, "connection refused"));
        return;
    }
    if (rc != REACH_OK) {
        sb_addf(sb, "unreachable (%s%s%s)", reach_name(rc), r && r->reach_detail ? ": " : "",
                r && r->reach_detail ? r->reach_detail : "");
        return;
    }
    if (str_eq(r->role, "slave")) {
        sb_addf(sb, "replica of %s:%d (link %s), %lld keys, offset %lld",
                r->master_host ? r->master_host : "?", r->master_port,
                r->master_link_status ? r->master_link_status : "?", r->keys,
                r->slave_repl_offset);
        return;
    }
    sb_addf(sb, "%s, %lld keys, %d %s connected, offset %lld", r->role ? r->role : "unknown role",
            r->keys, r->connected_slaves, r->connected_slaves == 1 ? "replica" : "replicas",
            r->master_repl_offset);
}

/* One line per spec sentinel saying what it reports for `shard`. */
static void describe_sentinels(struct builder *b, struct strbuf *sb, const char *shard)
{
    const struct spec_sentinel *ss = &b->s->sentinel;
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct spec_addr *a = &ss->nodes[j];
        const struct obs_sentinel *os = observed_sentinel(b->o, a->ip, a->port);
        sb_addf(sb, "\n  sentinel %s:%d: ", a->ip, a->port);
        enum reach rc = os ? os->reach : REACH_NOT_CHECKED;
        if (rc != REACH_OK) {
            const char *det = os ? os->reach_detail : NULL;
            sb_addf(sb, "unreachable (%s%s%s)", reach_name(rc), det ? ": " : "", det ? det : "");
            continue;
        }
        const struct obs_sentinel_master *m = sentinel_find_master(os, shard);
        if (!m)
            sb_addf(sb, "does not monitor %s", shard);
        else
            sb_addf(sb, "master %s:%d (flags %s, epoch %lld)", m->ip ? m->ip : "?", m->port,
                    m->flags ? m->flags : "?", m->config_epoch);
    }
}

/* The full picture of one shard, appended to every refusal. */
static char *diagnosis(struct builder *b, const struct spec_shard *sh, const char *headline)
{
    struct strbuf sb = {0};
    sb_add(&sb, headline);
    describe_sentinels(b, &sb, sh->name);
    for (size_t k = 0; k < shard_nmembers(sh); k++) {
        const struct spec_addr *a = shard_member(sh, k);
        describe_redis(&sb, a, observed_redis(b->o, a->ip, a->port));
    }
    return sb_detach(&sb);
}

static void refuse_shard(struct builder *b, const struct spec_shard *sh, const char *fmt, ...)
    RMGR_PRINTF(3, 4);

static void refuse_shard(struct builder *b, const struct spec_shard *sh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *headline = xvasprintf(fmt, ap);
    va_end(ap);
    refuse(b, sh->name, diagnosis(b, sh, headline));
    free(headline);
}

/* ---------------------------------------------------------------- truth */

/* Whether the master's INFO replication, or the node itself, says ip:port replicates from M. */
static bool replicates_from(struct builder *b, const struct obs_redis *mr, const char *ip,
                            int port, const struct spec_addr *M)
{
    for (size_t k = 0; mr && k < mr->nreplicas; k++)
        if (mr->replicas[k].port == port && str_eq(mr->replicas[k].ip, ip))
            return true;
    const struct obs_redis *r = observed_redis(b->o, ip, port);
    return redis_is_slave(r) && r->master_port == M->port && str_eq(r->master_host, M->ip);
}

/*
 * Whether ip:port, named by no shard of the spec, is an instance this
 * cluster deployed: it is on a host of the spec and observation found its
 * instance directory (<base_dir>/<cluster>/redis-<port>) there. The host
 * goes to *host.
 */
static bool deployed_here(struct builder *b, const char *ip, int port, const char **host)
{
    const struct obs_redis *r = observed_redis(b->o, ip, port);
    *host = spec_host_for_ip(b->s, ip);
    return *host && r && !spec_shard_of(b->s, ip, port) && r->files.checked &&
           r->files.dir_present;
}

/*
 * stop + remove-files (clean-up wave) for replicas of shard sh that the spec
 * no longer has; the sentinels that list them are reset after that
 * (sentinel_reset_step), or Sentinel would learn them again from the master.
 */
static void removed_replica_steps(struct builder *b, const struct spec_shard *sh,
                                  const struct node_list *nl)
{
    for (size_t i = 0; i < nl->n; i++) {
        const struct spec_addr *a = &nl->v[i];
        const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
        struct step *st;
        if (redis_reach(r) != REACH_REFUSED) {
            st = add_step(b, STEP_STOP, ACTION_REMOVE, SAFETY_DESTRUCTIVE, WAVE_CLEANUP,
                          INSTANCE_REDIS, sh->name, a,
                          "not a member of %s in the spec but replicates from its master, and "
                          "Sentinel could promote it: a replica removed from the spec",
                          sh->name);
            st->shard = xstrdup(sh->name);
        }
        st = add_step(b, STEP_REMOVE_FILES, ACTION_REMOVE, SAFETY_DESTRUCTIVE, WAVE_CLEANUP,
                      INSTANCE_REDIS, sh->name, a,
                      "removed from %s in the spec: delete its instance directory and data",
                      sh->name);
        st->shard = xstrdup(sh->name);
    }
}

/*
 * Sentinel keeps every replica it ever saw in SENTINEL REPLICAS, and a
 * failover may promote any of them: an entry that is not a member of the
 * shard could take the shard over and wipe it. Such a node that really
 * replicates from the master M is stopped and its files removed when this
 * cluster deployed it (a replica removed from the spec), and refused
 * otherwise, as when M could not be observed to tell; any other entry is
 * stale. sentinel_steps() resets the sentinels that list either kind.
 * Returns false after a refusal.
 */
static bool shard_foreign_replicas(struct builder *b, size_t i, const struct spec_addr *M)
{
    const struct spec_shard *sh = &b->s->shards[i];
    const struct spec_sentinel *ss = &b->s->sentinel;
    const struct obs_redis *mr = observed_redis(b->o, M->ip, M->port);
    struct node_list stale = {0}, removed = {0};
    size_t nlisting = 0;
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct obs_sentinel *os = observed_sentinel(b->o, ss->nodes[j].ip, ss->nodes[j].port);
        const struct obs_sentinel_master *m =
            os && os->reach == REACH_OK ? sentinel_find_master(os, sh->name) : NULL;
        bool listing = false;
        for (size_t k = 0; m && k < m->nreplicas; k++) {
            const struct obs_sentinel_peer *pe = &m->replicas[k];
            if (!pe->ip || shard_find_member(sh, pe->ip, pe->port))
                continue;
            bool unknown = redis_reach(mr) != REACH_OK;
            const char *host;
            if (!unknown && replicates_from(b, mr, pe->ip, pe->port, M) &&
                deployed_here(b, pe->ip, pe->port, &host)) {
                node_list_add(&removed, host, pe->ip, pe->port);
                continue;
            }
            if (unknown || replicates_from(b, mr, pe->ip, pe->port, M)) {
                struct strbuf h = {0};
                sb_addf(&h,
                        "unknown node %s:%d %s the master of %s%s; Sentinel could promote "
                        "it: sentinel %s:%d lists it as a replica of %s and it is not a member "
                        "of %s in the spec. %s, then re-run plan%s",
                        pe->ip, pe->port, unknown ? "may replicate from" : "replicates from",
                        sh->name, unknown ? ", which could not be observed" : "", ss->nodes[j].ip, ss->nodes[j].port, sh->name, sh->name,
                        unknown ? "Bring the master back"
                                : "Make it stop replicating from that master (REPLICAOF its own "
                                  "master, or NO ONE) or add it to the shard in the spec",
                        unknown ? ""
                                : " and apply it within failover-timeout (until its entry is "
                                  "reset, Sentinel re-points the node at this master)");
                const struct obs_redis *fr = observed_redis(b->o, pe->ip, pe->port);
                if (fr) {
                    struct spec_addr fa = {.ip = pe->ip, .port = pe->port};
                    describe_redis(&h, &fa, fr);
                }
                char *headline = sb_detach(&h);
                refuse(b, sh->name, diagnosis(b, sh, headline));
                free(headline);
                node_list_release(&stale);
                node_list_release(&removed);
                return false;
            }
            node_list_add(&stale, pe->ip, pe->ip, pe->port);
            listing = true;
        }
        nlisting += listing;
    }
    if (stale.n) {
        char *nodes = node_list_str(&stale);
        warn(b,
             "Sentinel lists %s as %s of %s, but %s not a member of %s and %s not replicate "
             "from its master: a stale entry (a failover could promote it, wiping %s, and "
             "Sentinel re-points it at that master after failover-timeout); the plan resets the "
             "%zu %s that list %s (SENTINEL RESET %s), one at a time",
             nodes, stale.n == 1 ? "a replica" : "replicas", sh->name,
             stale.n == 1 ? "it is" : "they are", sh->name, stale.n == 1 ? "does" : "do",
             sh->name, nlisting, nlisting == 1 ? "sentinel" : "sentinels",
             stale.n == 1 ? "it" : "them", sh->name);
        free(nodes);
    }
    if (removed.n) {
        removed_replica_steps(b, sh, &removed);
        b->reset_late[i] = true;
    }
    node_list_release(&stale);
    node_list_release(&removed);
    return true;
}

/*
 * A password the servers refuse: nothing can be seen or done right (the
 * proxy's redis_auth would look edited, its restart would break it), and
 * rmgr does not rotate passwords. Refuses shard sh when one of its members
 * answered "auth". Never names the password, only where it comes from.
 */
static bool shard_auth_refused(struct builder *b, const struct spec_shard *sh)
{
    const struct spec_auth *au = &b->s->auth;
    for (size_t k = 0; k < shard_nmembers(sh); k++) {
        const struct spec_addr *a = shard_member(sh, k);
        if (redis_reach(observed_redis(b->o, a->ip, a->port)) != REACH_AUTH)
            continue;
        char *source = au->password_env    ? xasprintf("environment variable %s", au->password_env)
                       : au->password_file ? xasprintf("file %s", au->password_file)
                                           : NULL;
        if (source)
            refuse_shard(b, sh,
                         "authentication failed on %zu of %zu redis instances: the password "
                         "from %s does not match the cluster's; rmgr does not rotate "
                         "passwords: change requirepass/masterauth on every node and auth-pass "
                         "on every sentinel first",
                         b->nauth_failed, b->nredis, source);
        else
            refuse_shard(b, sh,
                         "authentication failed on %zu of %zu redis instances: they require a "
                         "password and the spec sets none (auth: password_env or "
                         "password_file); rmgr does not change passwords",
                         b->nauth_failed, b->nredis);
        free(source);
        return true;
    }
    return false;
}

/* Whether a reachable spec sentinel lists member a among the shard's replicas. */
static bool sentinel_lists_replica(struct builder *b, const struct spec_shard *sh,
                                   const struct spec_addr *a)
{
    const struct spec_sentinel *ss = &b->s->sentinel;
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct obs_sentinel *os = observed_sentinel(b->o, ss->nodes[j].ip, ss->nodes[j].port);
        const struct obs_sentinel_master *m =
            os && os->reach == REACH_OK ? sentinel_find_master(os, sh->name) : NULL;
        for (size_t k = 0; m && k < m->nreplicas; k++)
            if (m->replicas[k].port == a->port && str_eq(m->replicas[k].ip, a->ip))
                return true;
    }
    return false;
}

/*
 * A failover under way is a state, not an ambiguity: an "=" line says what
 * Sentinel is doing, the shard counts as waiting, and nothing touches its
 * roles (redis_steps, sentinel_steps skip it; proxies keep the server they
 * have for it). The plan works with the master being replaced until
 * Sentinel names the new one. Returns true when shard i is failing over.
 */
static bool shard_failing_over(struct builder *b, size_t i)
{
    const struct spec_shard *sh = &b->s->shards[i];
    struct failover_view fv;
    if (!failover_detect(b->s, b->o, i, &fv))
        return false;
    addr_copy(&b->p->masters[i], fv.old_master);
    b->p->master_from_sentinel[i] = true;
    b->p->shard_failover[i] = true;
    b->p->shard_waiting[i] = true;
    b->p->waiting++;
    char *what = failover_describe(&fv, true);
    struct step *st = add_step(b, STEP_OBSERVED, ACTION_NONE, SAFETY_SAFE, WAVE_FILES,
                               INSTANCE_REDIS, sh->name, fv.promoting ? fv.promoting : fv.old_master,
                               "%s: %s; nothing touches its roles until it ends", sh->name, what);
    st->shard = xstrdup(sh->name);
    if (fv.promoting)
        step_set_master(st, fv.promoting);
    free(what);
    return true;
}

/*
 * Work out shard i's current master into plan->masters[i]. Returns false
 * (with a refusal recorded) when it cannot be told safely.
 */
static bool shard_truth(struct builder *b, size_t i)
{
    const struct spec_shard *sh = &b->s->shards[i];
    const struct spec_sentinel *ss = &b->s->sentinel;
    const struct spec_addr *M = NULL;
    bool from_sentinel = false;

    if (shard_auth_refused(b, sh))
        return false;
    if (shard_failing_over(b, i))
        return true;

    /* what every reachable sentinel says */
    const struct obs_sentinel_master *view = NULL;
    size_t nviews = 0, nunreach = 0;
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct obs_sentinel *os = observed_sentinel(b->o, ss->nodes[j].ip, ss->nodes[j].port);
        if (!os || os->reach != REACH_OK) {
            nunreach++;
            continue;
        }
        const struct obs_sentinel_master *m = sentinel_find_master(os, sh->name);
        if (!m)
            continue;
        if (view && (view->port != m->port || !str_eq(view->ip, m->ip))) {
            refuse_shard(b, sh, "sentinels disagree on the master of %s", sh->name);
            return false;
        }
        view = m;
        nviews++;
    }

    /* a replica following something outside the shard is never ours to fix */
    for (size_t k = 0; k < shard_nmembers(sh); k++) {
        const struct spec_addr *a = shard_member(sh, k);
        const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
        if (redis_is_slave(r) && !shard_find_member(sh, r->master_host, r->master_port)) {
            refuse_shard(b, sh, "%s:%d replicates from %s:%d, which is not a member of %s",
                         a->ip, a->port, r->master_host ? r->master_host : "?", r->master_port,
                         sh->name);
            return false;
        }
    }

    if (nviews > 0) {
        M = shard_find_member(sh, view->ip, view->port);
        if (!M) {
            refuse_shard(b, sh,
                         "sentinels report %s:%d as master of %s, which is not a member of %s "
                         "in the spec",
                         view->ip ? view->ip : "?", view->port, sh->name, sh->name);
            return false;
        }
        bool other_master = false;
        for (size_t k = 0; k < shard_nmembers(sh); k++) {
            const struct spec_addr *a = shard_member(sh, k);
            if (a != M && redis_is_master(observed_redis(b->o, a->ip, a->port)))
                other_master = true;
        }
        if (nviews < (size_t)ss->quorum && !(M == &sh->master && !other_master)) {
            refuse_shard(b, sh,
                         "no quorum for the master of %s: %zu of %zu sentinels report %s:%d "
                         "(quorum %d, %zu unreachable)",
                         sh->name, nviews, ss->nnodes, M->ip, M->port, ss->quorum, nunreach);
            return false;
        }
        from_sentinel = true;
        for (size_t k = 0; k < shard_nmembers(sh); k++) {
            const struct spec_addr *a = shard_member(sh, k);
            if (a != M && redis_is_master(observed_redis(b->o, a->ip, a->port))) {
                /* Sentinel demotes only a node it lists as a replica of the shard */
                if (sentinel_lists_replica(b, sh, a))
                    refuse_shard(b, sh,
                                 "%s:%d runs as a second master of %s while Sentinel owns "
                                 "%s:%d; Sentinel lists it as a replica and demotes it "
                                 "(+convert-to-slave) within ~10 s: re-run plan then",
                                 a->ip, a->port, sh->name, M->ip, M->port);
                else
                    refuse_shard(b, sh,
                                 "%s:%d runs as a second master of %s while Sentinel owns "
                                 "%s:%d, and no sentinel lists it, so none will demote it: "
                                 "check which node holds the newest data, then make %s:%d a "
                                 "replica of %s:%d by hand (or fail over to it with SENTINEL "
                                 "FAILOVER after making it a replica)",
                                 a->ip, a->port, sh->name, M->ip, M->port, a->ip, a->port,
                                 M->ip, M->port);
                return false;
            }
        }
        const struct obs_redis *mr = observed_redis(b->o, M->ip, M->port);
        if (redis_is_slave(mr)) {
            refuse_shard(b, sh,
                         "failover in progress: Sentinel reports %s:%d as master of %s but it "
                         "replicates from %s:%d; re-run plan when it settles",
                         M->ip, M->port, sh->name, mr->master_host ? mr->master_host : "?",
                         mr->master_port);
            return false;
        }
        /* a master left down for Sentinel gets its own warning in redis_steps() */
        bool left_down = redis_reach(mr) == REACH_REFUSED && member_not_down(b->o, sh, M);
        if (view->flags && strstr(view->flags, "down") && !left_down)
            warn(b, "sentinels report %s master %s:%d as down (%s): a failover may be under way",
                 sh->name, M->ip, M->port, view->flags);
        if (!shard_foreign_replicas(b, i, M))
            return false;
    } else {
        /* nobody monitors the shard: what the nodes report */
        const struct spec_addr *holder = NULL;
        size_t nholders = 0;
        for (size_t k = 0; k < shard_nmembers(sh); k++) {
            const struct spec_addr *a = shard_member(sh, k);
            const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
            if (redis_is_master(r) && redis_holds_data(r)) {
                holder = a;
                nholders++;
            }
        }
        if (nholders > 1) {
            refuse_shard(b, sh,
                         "two masters in %s hold data; rmgr never demotes a node holding data: "
                         "decide which one keeps it and make the other a replica by hand",
                         sh->name);
            return false;
        }
        M = holder ? holder : &sh->master;
        if (M != &sh->master) {
            for (size_t k = 0; k < shard_nmembers(sh); k++) {
                const struct spec_addr *a = shard_member(sh, k);
                enum reach rc = redis_reach(observed_redis(b->o, a->ip, a->port));
                if (reach_unreachable(rc)) {
                    refuse_shard(b, sh,
                                 "%s:%d is the only master holding data in %s but %s:%d is "
                                 "unreachable, so which node holds the newest data is unknown",
                                 M->ip, M->port, sh->name, a->ip, a->port);
                    return false;
                }
            }
        }
        const struct obs_redis *mr = observed_redis(b->o, M->ip, M->port);
        if (redis_is_slave(mr)) {
            refuse_shard(b, sh,
                         "no member of %s is a master holding data and the spec master %s:%d "
                         "replicates from %s:%d; make one node master by hand",
                         sh->name, M->ip, M->port, mr->master_host ? mr->master_host : "?",
                         mr->master_port);
            return false;
        }
        /*
         * No Sentinel will fail over: a master restarted empty would wipe every
         * replica that resyncs from it. Starting it is only safe when the
         * others are known to hold nothing (or are down too).
         */
        if (redis_reach(mr) == REACH_REFUSED) {
            for (size_t k = 0; k < shard_nmembers(sh); k++) {
                const struct spec_addr *a = shard_member(sh, k);
                const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
                enum reach rc = redis_reach(r);
                if (a == M || rc == REACH_REFUSED)
                    continue;
                if (rc == REACH_OK && (r->keys > 0 || r->loading)) {
                    char *what = r->loading ? xstrdup("is loading its data")
                                            : xasprintf("holds %lld keys", r->keys);
                    refuse_shard(b, sh,
                                 "%s master %s:%d is not running while %s:%d %s and no "
                                 "sentinel monitors the shard: starting the master could "
                                 "wipe that replica when it resyncs",
                                 sh->name, M->ip, M->port, a->ip, a->port, what);
                    free(what);
                    return false;
                }
                if (rc != REACH_OK) {
                    refuse_shard(b, sh,
                                 "%s master %s:%d is not running while %s:%d could not be "
                                 "observed (%s) and no sentinel monitors the shard: whether "
                                 "it holds data is unknown, and starting the master could "
                                 "wipe it when it resyncs",
                                 sh->name, M->ip, M->port, a->ip, a->port, reach_name(rc));
                    return false;
                }
            }
        }
    }

    addr_copy(&b->p->masters[i], M);
    b->p->master_from_sentinel[i] = from_sentinel;
    if (M != &sh->master) {
        char *m = addr_ipport(M), *sm = addr_ipport(&sh->master);
        struct step *st = add_step(
            b, STEP_OBSERVED, ACTION_NONE, SAFETY_SAFE, WAVE_FILES, INSTANCE_REDIS, sh->name, M,
            "%s master is %s (%s; spec bootstrap master %s)", sh->name, m,
            from_sentinel ? "Sentinel-owned" : "the only master holding data", sm);
        st->shard = xstrdup(sh->name);
        step_set_master(st, M);
        free(m);
        free(sm);
    }
    return true;
}

/* ---------------------------------------------------------------- redis */

/* "=" line and warning for an instance that could not be observed */
static void unreachable_step(struct builder *b, enum instance_kind inst, enum step_wave wave,
                             const char *group, const struct spec_addr *a, enum reach rc,
                             const char *detail)
{
    struct step *st =
        add_step(b, STEP_OBSERVED, ACTION_NONE, SAFETY_SAFE, wave, inst, group, a,
                 "unreachable (%s%s%s): no steps planned for it", reach_name(rc),
                 detail ? ": " : "", detail ? detail : "");
    if (inst == INSTANCE_REDIS)
        st->shard = xstrdup(group); /* a redis's group is its shard */
    warn(b, "%s %s:%d could not be observed (%s): the plan does not cover it",
         instance_kind_name(inst), a->host ? a->host : a->ip, a->port, reach_name(rc));
    b->p->unreachable++;
}

/* install-files when the files were looked at and something is missing */
static void files_step(struct builder *b, enum instance_kind inst, enum step_wave wave,
                       const char *group, const char *shard, const struct spec_addr *a,
                       const struct obs_files *f, const char *conf_name)
{
    if (!f->checked) {
        /* silence here would turn "cannot look" into "nothing to do" */
        warn(b, "files of %s %s:%d could not be checked (%s): the plan does not cover them",
             instance_kind_name(inst), a->host ? a->host : a->ip, a->port,
             f->error ? f->error : "host not reachable");
        b->p->unreachable++;
        return;
    }
    if (f->dir_present && f->conf_present)
        return;
    struct step *st = add_step(b, STEP_INSTALL_FILES, ACTION_CREATE, SAFETY_SAFE, wave, inst,
                               group, a, "%s",
                               !f->dir_present ? "instance directory missing" : conf_name);
    st->shard = xstrdup(shard);
}

/* Directives holding the password: observation stores only CONF_SECRET_* or "". */
static const char *const secret_keys[] = {"requirepass", "masterauth"};

/* how a masked password shows in before/after: "" is no password at all */
static const char *secret_shown(const char *have)
{
    return !have ? "(absent)" : !*have ? "(none)" : have;
}

/* Add `key have -> want` to the config-set / config-rewrite step *st, creating it. */
static void config_drift(struct builder *b, struct step **st, enum step_kind kind,
                         const struct spec_shard *sh, const struct spec_addr *a, const char *key,
                         const char *have, const char *want, struct strbuf *before,
                         struct strbuf *after)
{
    if (!*st) {
        *st = add_step(b, kind, ACTION_CHANGE, SAFETY_SAFE, WAVE_REPLICATION, INSTANCE_REDIS,
                       sh->name, a, "%s",
                       kind == STEP_CONFIG_SET ? "running config differs from the spec"
                                               : "redis.conf differs from the running config");
        (*st)->shard = xstrdup(sh->name);
    }
    step_add_setting(*st, key, want);
    sb_addf(before, "%s%s %s", before->len ? "\n" : "", key, have);
    sb_addf(after, "%s%s %s", after->len ? "\n" : "", key, want);
}

/*
 * Passwords the planner does not change: a node without one although the
 * spec has auth (turning auth on under running clients is for a person to
 * time), and one the spec does not know (a spec without auth: may merely
 * lack its auth section, so nothing is cleared).
 */
static void auth_warnings(struct builder *b, const struct spec_addr *a, const struct obs_redis *r)
{
    for (size_t k = 0; k < ARRAY_SIZE(secret_keys); k++) {
        const char *key = secret_keys[k];
        const char *run = obs_kv_get(r->config, r->nconfig, key);
        const char *file = r->files.checked ? obs_kv_get(r->files.conf, r->files.nconf, key)
                                            : NULL;
        if (b->password && run && !*run)
            warn(b,
                 "%s:%d runs without %s although the spec sets a password: rmgr does not turn "
                 "auth on under running clients; set it by hand (CONFIG SET %s, CONFIG REWRITE) "
                 "once every client has the password",
                 a->host ? a->host : a->ip, a->port, key, key);
        else if (!b->password && ((run && *run) || (file && *file)))
            warn(b,
                 "%s:%d has a %s%s but the spec sets no password: rmgr leaves it; add auth: to "
                 "the spec, or clear it by hand (CONFIG SET %s \"\", CONFIG REWRITE)",
                 a->host ? a->host : a->ip, a->port, key,
                 run && *run ? "" : " in its redis.conf", key);
    }
}

static void redis_config_steps(struct builder *b, const struct spec_shard *sh,
                               const struct spec_addr *a, const struct obs_redis *r)
{
    const struct spec *s = b->s;
    struct strbuf before = {0}, after = {0};
    struct step *st = NULL;
    auth_warnings(b, a, r);
    for (size_t c = 0; c < s->nredis_config; c++) {
        const struct spec_kv *kv = &s->redis_config[c];
        const char *have = obs_kv_get(r->config, r->nconfig, kv->key);
        if (!have || conf_value_equal(kv->key, have, kv->value))
            continue;
        config_drift(b, &st, STEP_CONFIG_SET, sh, a, kv->key, have, kv->value, &before, &after);
    }
    /* a password other than the spec's: set the placeholder, apply substitutes it */
    for (size_t k = 0; b->password && k < ARRAY_SIZE(secret_keys); k++) {
        const char *have = obs_kv_get(r->config, r->nconfig, secret_keys[k]);
        if (str_eq(have, CONF_SECRET_MISMATCH))
            config_drift(b, &st, STEP_CONFIG_SET, sh, a, secret_keys[k], have,
                         CONF_SECRET_PLACEHOLDER, &before, &after);
    }
    if (st) {
        st->before = sb_detach(&before);
        st->after = sb_detach(&after);
        return;
    }

    /* runtime is right; the file may still have drifted */
    const struct obs_files *f = &r->files;
    if (!f->checked || !f->conf_present)
        return;
    for (size_t c = 0; c < s->nredis_config; c++) {
        const struct spec_kv *kv = &s->redis_config[c];
        const char *have = obs_kv_get(f->conf, f->nconf, kv->key);
        if (have && conf_value_equal(kv->key, have, kv->value))
            continue;
        config_drift(b, &st, STEP_CONFIG_REWRITE, sh, a, kv->key, have ? have : "(absent)",
                     kv->value, &before, &after);
    }
    /* CONFIG REWRITE writes the running password: only when that is the spec's */
    for (size_t k = 0; b->password && k < ARRAY_SIZE(secret_keys); k++) {
        const char *run = obs_kv_get(r->config, r->nconfig, secret_keys[k]);
        const char *have = obs_kv_get(f->conf, f->nconf, secret_keys[k]);
        if (str_eq(run, CONF_SECRET_PLACEHOLDER) && !str_eq(have, CONF_SECRET_PLACEHOLDER))
            config_drift(b, &st, STEP_CONFIG_REWRITE, sh, a, secret_keys[k], secret_shown(have),
                         CONF_SECRET_PLACEHOLDER, &before, &after);
    }
    if (st) {
        st->before = sb_detach(&before);
        st->after = sb_detach(&after);
    }
}

/* down-after-milliseconds of shard sh as a sentinel reports it, else the spec's */
static long shard_down_after_ms(struct builder *b, const struct spec_shard *sh)
{
    const struct spec_sentinel *ss = &b->s->sentinel;
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct obs_sentinel *os = observed_sentinel(b->o, ss->nodes[j].ip, ss->nodes[j].port);
        const struct obs_sentinel_master *m =
            os && os->reach == REACH_OK ? sentinel_find_master(os, sh->name) : NULL;
        if (m && m->down_after_ms > 0)
            return m->down_after_ms;
    }
    return ss->down_after_ms;
}

/*
 * The "=" line for a Sentinel-owned master that is down while another member
 * is up (or cannot be seen): restarted without persistence it would come
 * back empty, and its replicas would wipe themselves resyncing from it. It
 * is left for Sentinel to fail over; the next plan starts it as a replica.
 */
static void master_left_down(struct builder *b, const struct spec_shard *sh,
                             const struct spec_addr *a, const struct spec_addr *up)
{
    const struct obs_redis *ur = observed_redis(b->o, up->ip, up->port);
    long down_after = shard_down_after_ms(b, sh);
    struct step *st = add_step(
        b, STEP_OBSERVED, ACTION_NONE, SAFETY_SAFE, WAVE_PROCESSES, INSTANCE_REDIS, sh->name, a,
        "%s master %s:%d is down; waiting for Sentinel to fail over to a replica (down-after "
        "%ld ms); no restart, it would come back empty and wipe the replicas",
        sh->name, a->ip, a->port, down_after);
    st->shard = xstrdup(sh->name);
    warn(b,
         "%s master %s:%d is not running while %s:%d %s: rmgr does not restart it (an empty "
         "master wipes the replicas that resync from it); Sentinel promotes a replica once the "
         "master has been down for %ld ms, and the next plan starts %s:%d as a replica of the "
         "new master. If Sentinel cannot fail over (no quorum, no eligible replica), find the "
         "node with the newest data before starting anything by hand",
         sh->name, a->ip, a->port, up->ip, up->port,
         redis_reach(ur) == REACH_OK ? "is running" : "could not be observed", down_after,
         a->ip, a->port);
    for (size_t i = 0; i < b->s->nshards; i++)
        if (&b->s->shards[i] == sh && !b->p->shard_waiting[i]) {
            b->p->shard_waiting[i] = true;
            b->p->waiting++;
        }
}

static void redis_steps(struct builder *b, size_t i)
{
    const struct spec_shard *sh = &b->s->shards[i];
    if (b->p->shard_failover[i]) {
        /* Sentinel is reconfiguring the members: only say what could not be seen */
        for (size_t k = 0; k < shard_nmembers(sh); k++) {
            const struct spec_addr *a = shard_member(sh, k);
            const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
            if (reach_unreachable(redis_reach(r)))
                unreachable_step(b, INSTANCE_REDIS, WAVE_FILES, sh->name, a, redis_reach(r),
                                 r ? r->reach_detail : "not observed");
        }
        return;
    }
    const struct spec_addr *M = &b->p->masters[i];
    char *mstr = addr_ipport(M);
    /* a Sentinel-owned master that is down while another member is not: Sentinel's turn */
    const struct spec_addr *up =
        b->p->master_from_sentinel[i] &&
                redis_reach(observed_redis(b->o, M->ip, M->port)) == REACH_REFUSED
            ? member_not_down(b->o, sh, M)
            : NULL;

    for (size_t k = 0; k < shard_nmembers(sh); k++) {
        const struct spec_addr *a = shard_member(sh, k);
        const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
        enum reach rc = redis_reach(r);
        bool is_m = addr_is(M, a->ip, a->port);

        if (reach_unreachable(rc)) {
            unreachable_step(b, INSTANCE_REDIS, WAVE_FILES, sh->name, a, rc,
                             r ? r->reach_detail : "not observed");
            continue;
        }
        files_step(b, INSTANCE_REDIS, WAVE_FILES, sh->name, sh->name, a, &r->files,
                   "redis.conf missing");
        if (rc == REACH_REFUSED) {
            struct step *st;
            if (is_m && up) {
                master_left_down(b, sh, a, up);
                continue;
            }
            if (is_m) {
                st = add_step(b, STEP_START, ACTION_CREATE, SAFETY_SAFE, WAVE_PROCESSES,
                              INSTANCE_REDIS, sh->name, a, "not running; start as master");
            } else {
                st = add_step(b, STEP_START, ACTION_CREATE, SAFETY_SAFE, WAVE_PROCESSES,
                              INSTANCE_REDIS, sh->name, a,
                              "not running; start as replica of %s", mstr);
                step_set_master(st, M);
            }
            st->shard = xstrdup(sh->name);
            continue;
        }

        /* running: replication (never on the master), then config */
        if (!is_m) {
            bool follows_m = redis_is_slave(r) && str_eq(r->master_host, M->ip) &&
                             r->master_port == M->port;
            if (!follows_m) {
                struct step *st;
                if (redis_is_slave(r)) {
                    st = add_step(b, STEP_REPLICAOF, ACTION_CHANGE, SAFETY_SAFE,
                                  WAVE_REPLICATION, INSTANCE_REDIS, sh->name, a,
                                  "replicates from %s:%d instead of the master", r->master_host,
                                  r->master_port);
                    st->before = xasprintf("replica of %s:%d", r->master_host, r->master_port);
                } else {
                    st = add_step(b, STEP_REPLICAOF, ACTION_CHANGE, SAFETY_SAFE,
                                  WAVE_REPLICATION, INSTANCE_REDIS, sh->name, a,
                                  "runs as an empty master; make it a replica");
                    st->before = xstrdup("master (no data)");
                }
                st->after = xasprintf("replica of %s", mstr);
                st->shard = xstrdup(sh->name);
                step_set_master(st, M);
            } else if (r->master_link_status && !str_eq(r->master_link_status, "up") && !up) {
                warn(b, "%s:%d replication link to %s is %s", a->host ? a->host : a->ip, a->port,
                     mstr, r->master_link_status);
            }
        }
        if (r->loading)
            warn(b, "%s:%d is loading its dataset: its config is checked on the next plan",
                 a->host ? a->host : a->ip, a->port);
        else
            redis_config_steps(b, sh, a, r);
    }
    free(mstr);
}

/* ---------------------------------------------------------------- sentinels */

static char *ms_str(long ms)
{
    return xasprintf("%ld", ms);
}

static void sentinel_monitor_step(struct builder *b, const struct spec_addr *a, size_t i,
                                  const char *why)
{
    const struct spec_sentinel *ss = &b->s->sentinel;
    const struct spec_shard *sh = &b->s->shards[i];
    const struct spec_addr *M = &b->p->masters[i];
    struct step *st = add_step(b, STEP_SENTINEL_MONITOR, ACTION_CREATE, SAFETY_SAFE,
                               WAVE_SENTINELS, INSTANCE_SENTINEL, "sentinels", a,
                               "monitor %s at %s:%d (%s)", sh->name, M->ip, M->port, why);
    st->shard = xstrdup(sh->name);
    step_set_master(st, M);
    char *v = xasprintf("%d", ss->quorum);
    step_add_setting(st, "quorum", v);
    free(v);
    v = ms_str(ss->down_after_ms);
    step_add_setting(st, "down-after-milliseconds", v);
    free(v);
    v = ms_str(ss->failover_timeout_ms);
    step_add_setting(st, "failover-timeout", v);
    free(v);
    v = xasprintf("%d", ss->parallel_syncs);
    step_add_setting(st, "parallel-syncs", v);
    free(v);
}

/*
 * sentinel-set for the options of shard i that differ from the spec, and
 * for auth-pass when the spec has a password and the sentinel's file has
 * none or another one for the shard (a monitor added by an interrupted
 * apply: the sentinel cannot talk to its master). The plan holds only the
 * placeholder; apply sends the password.
 */
static void sentinel_set_step(struct builder *b, const struct spec_addr *a, size_t i,
                              const struct obs_sentinel *os, const struct obs_sentinel_master *m)
{
    const struct spec_sentinel *ss = &b->s->sentinel;
    const struct spec_shard *sh = &b->s->shards[i];
    struct {
        const char *key;
        long long have, want;
    } opts[] = {
        {"quorum", m->quorum, ss->quorum},
        {"down-after-milliseconds", m->down_after_ms, ss->down_after_ms},
        {"failover-timeout", m->failover_timeout_ms, ss->failover_timeout_ms},
        {"parallel-syncs", m->parallel_syncs, ss->parallel_syncs},
    };
    struct step *st = NULL;
    struct strbuf before = {0}, after = {0};
    for (size_t k = 0; k < ARRAY_SIZE(opts); k++) {
        if (opts[k].have == opts[k].want)
            continue;
        if (!st) {
            st = add_step(b, STEP_SENTINEL_SET, ACTION_CHANGE, SAFETY_SAFE, WAVE_SENTINELS,
                          INSTANCE_SENTINEL, "sentinels", a, "%s options differ from the spec",
                          sh->name);
            st->shard = xstrdup(sh->name);
        }
        char *v = xasprintf("%lld", opts[k].want);
        step_add_setting(st, opts[k].key, v);
        free(v);
        sb_addf(&before, "%s%s %lld", before.len ? "\n" : "", opts[k].key, opts[k].have);
        sb_addf(&after, "%s%s %lld", after.len ? "\n" : "", opts[k].key, opts[k].want);
    }
    if (b->password && os->files.checked && os->files.conf_present) {
        char *key = xasprintf("auth-pass %s", sh->name);
        const char *have = obs_kv_get(os->files.conf, os->files.nconf, key);
        free(key);
        if (!str_eq(have, CONF_SECRET_PLACEHOLDER)) {
            if (!st) {
                st = add_step(b, STEP_SENTINEL_SET, ACTION_CHANGE, SAFETY_SAFE, WAVE_SENTINELS,
                              INSTANCE_SENTINEL, "sentinels", a,
                              "%s %s", sh->name,
                              have && *have ? "auth-pass is not the spec's password"
                                            : "has no auth-pass: the sentinel cannot "
                                              "authenticate to the master");
                st->shard = xstrdup(sh->name);
            }
            step_add_setting(st, "auth-pass", CONF_SECRET_PLACEHOLDER);
            sb_addf(&before, "%sauth-pass %s", before.len ? "\n" : "", secret_shown(have));
            sb_addf(&after, "%sauth-pass %s", after.len ? "\n" : "", CONF_SECRET_PLACEHOLDER);
        }
    }
    if (st) {
        st->before = sb_detach(&before);
        st->after = sb_detach(&after);
    }
}

/*
 * sentinel-reset when the sentinel lists, as replicas of shard i, nodes that
 * are not members of it (shard_foreign_replicas() refused the shard unless
 * every such entry is stale). Apply resets one sentinel at a time.
 */
static void sentinel_reset_step(struct builder *b, const struct spec_addr *a, size_t i,
                                const struct obs_sentinel_master *m)
{
    const struct spec_shard *sh = &b->s->shards[i];
    struct strbuf before = {0}, after = {0};
    for (size_t k = 0; k < m->nreplicas; k++) {
        const struct obs_sentinel_peer *pe = &m->replicas[k];
        if (!pe->ip || shard_find_member(sh, pe->ip, pe->port))
            continue;
        sb_addf(&before, "%sreplica %s:%d", before.len ? "\n" : "", pe->ip, pe->port);
        sb_addf(&after, "%s(forgotten)", after.len ? "\n" : "");
    }
    if (!before.len)
        return;
    /* a replica being removed must be stopped first, or Sentinel learns it again */
    bool late = b->reset_late[i];
    struct step *st = add_step(b, STEP_SENTINEL_RESET, ACTION_CHANGE, SAFETY_DISRUPTIVE,
                               late ? WAVE_CLEANUP : WAVE_SENTINELS, INSTANCE_SENTINEL,
                               "sentinels", a,
                               "lists nodes outside %s as its replicas (%s): SENTINEL RESET %s%s, "
                               "then wait until it knows the master and the other sentinels "
                               "again",
                               sh->name,
                               late ? "replicas removed from the spec"
                                    : "stale entries a failover could promote",
                               sh->name, late ? " once they are stopped" : "");
    st->shard = xstrdup(sh->name);
    step_set_master(st, &b->p->masters[i]);
    st->before = sb_detach(&before);
    st->after = sb_detach(&after);
}

static bool spec_has_shard(const struct spec *s, const char *name)
{
    for (size_t i = 0; i < s->nshards; i++)
        if (str_eq(s->shards[i].name, name))
            return true;
    return false;
}

/* names of monitored shards the spec no longer has, first-seen order */
struct removed {
    char **names;
    size_t n, cap;
};

static void removed_add(struct removed *rm, const char *name)
{
    for (size_t i = 0; i < rm->n; i++)
        if (str_eq(rm->names[i], name))
            return;
    VEC_GROW(rm->names, rm->n, rm->cap);
    rm->names[rm->n++] = xstrdup(name);
}

static void sentinel_steps(struct builder *b, struct removed *rm)
{
    const struct spec *s = b->s;
    const struct spec_sentinel *ss = &s->sentinel;
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct spec_addr *a = &ss->nodes[j];
        const struct obs_sentinel *os = observed_sentinel(b->o, a->ip, a->port);
        enum reach rc = os ? os->reach : REACH_NOT_CHECKED;

        if (reach_unreachable(rc)) {
            unreachable_step(b, INSTANCE_SENTINEL, WAVE_SENTINELS, "sentinels", a, rc,
                             os ? os->reach_detail : "not observed");
            continue;
        }
        files_step(b, INSTANCE_SENTINEL, WAVE_SENTINELS, "sentinels", NULL, a, &os->files,
                   "sentinel.conf missing");
        if (rc == REACH_REFUSED) {
            /* Sentinel owns its file: a restarted one keeps its monitors */
            bool keeps = os->files.checked && os->files.conf_present;
            add_step(b, STEP_START, ACTION_CREATE, SAFETY_SAFE, WAVE_SENTINELS,
                     INSTANCE_SENTINEL, "sentinels", a, "%s",
                     keeps ? "not running; it keeps its monitors in sentinel.conf"
                           : "not running");
            if (!keeps)
                for (size_t i = 0; i < s->nshards; i++)
                    sentinel_monitor_step(b, a, i, "new sentinel");
            continue;
        }
        for (size_t i = 0; i < s->nshards; i++) {
            const struct obs_sentinel_master *m = sentinel_find_master(os, s->shards[i].name);
            if (b->p->shard_failover[i])
                continue; /* Sentinel's own settings stay as they are until it is done */
            if (!m) {
                sentinel_monitor_step(b, a, i, "not monitored yet");
            } else {
                sentinel_set_step(b, a, i, os, m);
                sentinel_reset_step(b, a, i, m);
            }
        }
        for (size_t k = 0; k < os->nmasters; k++) {
            const char *name = os->masters[k].name;
            if (spec_has_shard(s, name))
                continue;
            struct step *st = add_step(b, STEP_SENTINEL_REMOVE, ACTION_REMOVE,
                                       SAFETY_DESTRUCTIVE, WAVE_SENTINELS, INSTANCE_SENTINEL,
                                       "sentinels", a, "%s is not in the spec: stop monitoring it",
                                       name);
            st->shard = xstrdup(name);
            st->master_ip = xstrdup(os->masters[k].ip);
            st->master_port = os->masters[k].port;
            removed_add(rm, name);
        }
    }
}

/* ---------------------------------------------------------------- removed shards */

/* whether ip:port is an instance the spec still wants */
static bool spec_uses_addr(const struct spec *s, const char *ip, int port)
{
    if (spec_shard_of(s, ip, port))
        return true;
    for (size_t j = 0; j < s->sentinel.nnodes; j++)
        if (addr_is(&s->sentinel.nodes[j], ip, port))
            return true;
    for (size_t p = 0; p < s->nproxies; p++)
        if (str_eq(s->proxies[p].host_ip, ip) &&
            (s->proxies[p].listen.port == port || s->proxies[p].stats_port == port))
            return true;
    return false;
}

/* stop + remove-files for the nodes Sentinel reports for a removed shard */
static void removed_shard_steps(struct builder *b, const char *name)
{
    const struct spec *s = b->s;
    struct node_list nl = {0};
    for (size_t j = 0; j < s->sentinel.nnodes; j++) {
        const struct obs_sentinel *os =
            observed_sentinel(b->o, s->sentinel.nodes[j].ip, s->sentinel.nodes[j].port);
        if (!os || os->reach != REACH_OK)
            continue;
        const struct obs_sentinel_master *m = sentinel_find_master(os, name);
        if (!m)
            continue;
        const char *host;
        if (m->ip && (host = spec_host_for_ip(s, m->ip)) && !spec_uses_addr(s, m->ip, m->port))
            node_list_add(&nl, host, m->ip, m->port);
        for (size_t r = 0; r < m->nreplicas; r++) {
            const struct obs_sentinel_peer *pe = &m->replicas[r];
            if (pe->ip && (host = spec_host_for_ip(s, pe->ip)) &&
                !spec_uses_addr(s, pe->ip, pe->port))
                node_list_add(&nl, host, pe->ip, pe->port);
        }
    }
    for (size_t i = 0; i < nl.n; i++) {
        const struct spec_addr *a = &nl.v[i];
        const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
        struct step *st;
        if (!r || r->reach != REACH_REFUSED) {
            st = add_step(b, STEP_STOP, ACTION_REMOVE, SAFETY_DESTRUCTIVE, WAVE_CLEANUP,
                          INSTANCE_REDIS, name, a, "%s was removed from the spec", name);
            st->shard = xstrdup(name);
        }
        st = add_step(b, STEP_REMOVE_FILES, ACTION_REMOVE, SAFETY_DESTRUCTIVE, WAVE_CLEANUP,
                      INSTANCE_REDIS, name, a,
                      "%s was removed from the spec: delete its instance directory and data",
                      name);
        st->shard = xstrdup(name);
    }
    node_list_release(&nl);
}

/* ---------------------------------------------------------------- proxies */

/* the "ip:port" nutcracker.yml y has for server `name`, or NULL */
static const char *yml_server(const struct nc_yml *y, const char *name)
{
    const struct nc_yml_server *sv = nc_yml_find(y, name);
    return sv ? sv->addr : NULL;
}

static const char *yml_key(const struct nc_yml *y, size_t i)
{
    return nc_yml_server_key(&y->servers[i]);
}

/*
 * Compare the nutcracker.yml found with the one the spec gives. Returns
 * true when they are equal (ignoring blank lines, comments and trailing
 * blanks); otherwise fills before/after with one line per changed server,
 * plus "edited by hand" when other lines differ too.
 */
static bool proxy_config_diff(const char *have, const char *want, char **before, char **after,
                              bool *servers_changed)
{
    struct nc_yml h, w;
    nc_yml_parse(&h, have);
    nc_yml_parse(&w, want);
    struct strbuf bb = {0}, ab = {0};
    *servers_changed = false;

    for (size_t i = 0; i < w.nservers; i++) {
        const char *old = yml_server(&h, yml_key(&w, i));
        if (old && str_eq(old, w.servers[i].addr))
            continue;
        sb_addf(&bb, "%s%s %s", bb.len ? "\n" : "", yml_key(&w, i), old ? old : "(missing)");
        sb_addf(&ab, "%s%s %s", ab.len ? "\n" : "", yml_key(&w, i), w.servers[i].addr);
    }
    for (size_t i = 0; i < h.nservers; i++) {
        if (yml_server(&w, yml_key(&h, i)))
            continue;
        sb_addf(&bb, "%s%s %s", bb.len ? "\n" : "", yml_key(&h, i), h.servers[i].addr);
        sb_addf(&ab, "%s%s (removed)", ab.len ? "\n" : "", yml_key(&h, i));
    }
    *servers_changed = bb.len > 0;
    /* every other line, and the order of the servers both files name */
    bool others_same = h.nother == w.nother;
    for (size_t i = 0; others_same && i < h.nother; i++)
        others_same = str_eq(h.other[i], w.other[i]);
    size_t hi = 0, wi = 0;
    while (others_same) {
        while (hi < h.nservers && !yml_server(&w, yml_key(&h, hi)))
            hi++;
        while (wi < w.nservers && !yml_server(&h, yml_key(&w, wi)))
            wi++;
        if (hi == h.nservers || wi == w.nservers) {
            others_same = hi == h.nservers && wi == w.nservers;
            break;
        }
        others_same = str_eq(yml_key(&h, hi++), yml_key(&w, wi++));
    }
    if (!others_same) {
        sb_addf(&bb, "%sedited by hand", bb.len ? "\n" : "");
        sb_addf(&ab, "%srendered from the spec", ab.len ? "\n" : "");
    }
    nc_yml_release(&h);
    nc_yml_release(&w);
    bool equal = !*servers_changed && others_same;
    if (equal) {
        sb_release(&bb);
        sb_release(&ab);
        *before = *after = NULL;
    } else {
        *before = sb_detach(&bb);
        *after = sb_detach(&ab);
    }
    return equal;
}

/*
 * The masters a proxy is to be rendered with: the plan's, except that a shard
 * Sentinel is failing over keeps the member the proxy has now (a proxy already
 * repointed at the promoted replica is never turned back). Caller frees the
 * array, not its strings.
 */
static struct spec_addr *proxy_masters(struct builder *b, const struct obs_proxy *op)
{
    const struct spec *s = b->s;
    struct spec_addr *ms = xcalloc(s->nshards + 1, sizeof(*ms));
    memcpy(ms, b->p->masters, s->nshards * sizeof(*ms));
    struct nc_yml y;
    nc_yml_parse(&y, op->config_text);
    for (size_t i = 0; i < s->nshards; i++) {
        const char *have = b->p->shard_failover[i] ? yml_server(&y, s->shards[i].name) : NULL;
        for (size_t k = 0; have && k < shard_nmembers(&s->shards[i]); k++) {
            const struct spec_addr *a = shard_member(&s->shards[i], k);
            char *ap = addr_ipport(a);
            if (str_eq(ap, have)) {
                ms[i].ip = a->ip;
                ms[i].port = a->port;
            }
            free(ap);
        }
    }
    nc_yml_release(&y);
    return ms;
}

static void proxy_steps(struct builder *b)
{
    const struct spec *s = b->s;
    for (size_t i = 0; i < s->nproxies; i++) {
        const struct spec_proxy *sp = &s->proxies[i];
        struct spec_addr a = {.host = sp->host, .ip = sp->host_ip, .port = sp->listen.port};
        const struct obs_proxy *op = observed_proxy(b->o, sp->host_ip, sp->listen.port);
        enum reach rc = op ? op->reach : REACH_NOT_CHECKED;

        if (reach_unreachable(rc)) {
            unreachable_step(b, INSTANCE_PROXY, WAVE_PROXIES, "proxies", &a, rc,
                             op ? op->reach_detail : "not observed");
            continue;
        }
        if (!op->files.checked) {
            unreachable_step(b, INSTANCE_PROXY, WAVE_PROXIES, "proxies", &a, REACH_NOT_CHECKED,
                             op->files.error ? op->files.error : "nutcracker.yml not read");
            continue;
        }
        bool running = rc == REACH_OK;
        bool restart = false;
        const char *restart_why = NULL;

        if (!op->config_present || !op->config_text) {
            add_step(b, STEP_INSTALL_FILES, ACTION_CREATE, SAFETY_SAFE, WAVE_PROXIES,
                     INSTANCE_PROXY, "proxies", &a, "%s",
                     op->files.dir_present ? "nutcracker.yml missing"
                                           : "instance directory missing");
            restart = true;
            restart_why = "running without its nutcracker.yml: restart to load the new one";
        } else {
            struct spec_addr *ms = proxy_masters(b, op);
            char *want = conf_render_nutcracker(s, sp, ms, b->password);
            free(ms);
            char *before, *after;
            bool servers_changed;
            if (!proxy_config_diff(op->config_text, want, &before, &after, &servers_changed)) {
                /* rewriting the file of a stopped proxy disturbs nobody */
                struct step *st = add_step(
                    b, STEP_PROXY_CONFIG, ACTION_CHANGE,
                    running ? SAFETY_DISRUPTIVE : SAFETY_SAFE, WAVE_PROXIES,
                    INSTANCE_PROXY, "proxies", &a, "%s",
                    servers_changed ? "servers differ from the shard masters"
                                    : "nutcracker.yml was edited by hand");
                st->before = before;
                st->after = after;
                restart = true;
                restart_why = "nutcracker has no reload: restart to load the new config";
            } else if (running && op->timestamp_s > 0 && op->config_mtime_s > 0 &&
                       op->timestamp_s - op->uptime_s < op->config_mtime_s) {
                restart = true;
                /* equal as far as rmgr compares, but what runs was read from an older file */
                restart_why = "nutcracker.yml was written after nutcracker started (an "
                              "interrupted apply, or the file was touched): restart so the "
                              "running config is known to match";
            }
            free(want);
        }
        if (!running)
            add_step(b, STEP_START, ACTION_CREATE, SAFETY_SAFE, WAVE_PROXIES, INSTANCE_PROXY,
                     "proxies", &a, "not running");
        else if (restart)
            add_step(b, STEP_PROXY_RESTART, ACTION_CHANGE, SAFETY_DISRUPTIVE, WAVE_PROXIES,
                     INSTANCE_PROXY, "proxies", &a, "%s", restart_why);
    }
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
    for (size_t i = 0; i < st->nsettings; i++) {
        free(st->settings[i].key);
        free(st->settings[i].value);
    }
    free(st->settings);
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
    for (size_t i = 0; i < spec->nshards; i++)
        for (size_t k = 0; k < shard_nmembers(&spec->shards[i]); k++) {
            const struct spec_addr *a = shard_member(&spec->shards[i], k);
            b.nredis++;
            b.nauth_failed += redis_reach(observed_redis(obs, a->ip, a->port)) == REACH_AUTH;
        }
    for (size_t i = 0; i < spec->nshards; i++) {
        ok[i] = shard_truth(&b, i);
        if (!ok[i])
            addr_copy(&p->masters[i], &spec->shards[i].master);
    }
    for (size_t i = 0; i < spec->nshards; i++)
        redis_steps(&b, i);

    struct removed rm = {0};
    sentinel_steps(&b, &rm);
    proxy_steps(&b);
    for (size_t i = 0; i < rm.n; i++) {
        removed_shard_steps(&b, rm.names[i]);
        free(rm.names[i]);
    }
    free(rm.names);
    free(ok);
    free(b.reset_late);

    if (p->nrefusals) {
        /* a plan that refuses must not be applied, even in part */
        for (size_t i = 0; i < p->nsteps; i++)
            step_release(&p->steps[i]);
        p->nsteps = 0;
    }
    sort_steps(p);
    return p;
}

void plan_free(struct plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nsteps; i++)
        step_release(&p->steps[i]);
    free(p->steps);
    for (size_t i = 0; i < p->nrefusals; i++) {
        free(p->refusals[i].shard);
        free(p->refusals[i].diagnosis);
    }
    free(p->refusals);
    for (size_t i = 0; i < p->nwarnings; i++)
        free(p->warnings[i]);
    free(p->warnings);
    for (size_t i = 0; p->masters && i < p->nmasters; i++) {
        free(p->masters[i].host);
        free(p->masters[i].ip);
    }
    free(p->masters);
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
