/*
 * plan_sentinel.c - the planner's steps for the sentinels (monitor, set, reset,
 * remove) and the clean-up of shards removed from the spec. Pure, no I/O.
 */
#include "plan_impl.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

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
    struct step *st = plan_add_step(b, STEP_SENTINEL_MONITOR, ACTION_CREATE, SAFETY_SAFE,
                                    WAVE_SENTINELS, INSTANCE_SENTINEL, "sentinels", a,
                                    "monitor %s at %s:%d (%s)", sh->name, M->ip, M->port, why);
    st->shard = xstrdup(sh->name);
    plan_step_set_master(st, M);
    plan_cite(&st->source, &sh->pos);
    const struct obs_sentinel *os = observed_sentinel(b->o, a->ip, a->port);
    if (os && os->reach == REACH_OK)
        plan_observed(&st->source, "sentinel %s:%d SENTINEL MASTERS: does not monitor %s", a->ip,
                      a->port, sh->name);
    else
        plan_observed(&st->source, "sentinel %s:%d: not running%s%s%s", a->ip, a->port,
                      os && os->reach_detail ? " (" : "", os && os->reach_detail ? os->reach_detail : "",
                      os && os->reach_detail ? ")" : "");
    char *v = xasprintf("%d", ss->quorum);
    plan_step_add_setting(st, "quorum", v);
    free(v);
    v = ms_str(ss->down_after_ms);
    plan_step_add_setting(st, "down-after-milliseconds", v);
    free(v);
    v = ms_str(ss->failover_timeout_ms);
    plan_step_add_setting(st, "failover-timeout", v);
    free(v);
    v = xasprintf("%d", ss->parallel_syncs);
    plan_step_add_setting(st, "parallel-syncs", v);
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
        const struct spec_pos *pos;
    } opts[] = {
        {"quorum", m->quorum, ss->quorum, &ss->quorum_pos},
        {"down-after-milliseconds", m->down_after_ms, ss->down_after_ms, &ss->down_after_pos},
        {"failover-timeout", m->failover_timeout_ms, ss->failover_timeout_ms,
         &ss->failover_timeout_pos},
        {"parallel-syncs", m->parallel_syncs, ss->parallel_syncs, &ss->parallel_syncs_pos},
    };
    struct step *st = NULL;
    struct strbuf before = {0}, after = {0};
    for (size_t k = 0; k < ARRAY_SIZE(opts); k++) {
        if (opts[k].have == opts[k].want)
            continue;
        if (!st) {
            st = plan_add_step(b, STEP_SENTINEL_SET, ACTION_CHANGE, SAFETY_SAFE, WAVE_SENTINELS,
                               INSTANCE_SENTINEL, "sentinels", a, "%s options differ from the spec",
                               sh->name);
            st->shard = xstrdup(sh->name);
        }
        char *v = xasprintf("%lld", opts[k].want);
        plan_step_add_setting(st, opts[k].key, v);
        free(v);
        plan_cite(&st->source, opts[k].pos);
        plan_observed(&st->source, "sentinel %s:%d SENTINEL MASTERS: %s %s %lld", a->ip, a->port,
                      sh->name, opts[k].key, opts[k].have);
        sb_addf(&before, "%s%s %lld", before.len ? "\n" : "", opts[k].key, opts[k].have);
        sb_addf(&after, "%s%s %lld", after.len ? "\n" : "", opts[k].key, opts[k].want);
    }
    if (b->password && os->files.checked && os->files.conf_present) {
        char *key = xasprintf("auth-pass %s", sh->name);
        const char *have = obs_kv_get(os->files.conf, os->files.nconf, key);
        free(key);
        if (!str_eq(have, CONF_SECRET_PLACEHOLDER)) {
            if (!st) {
                st = plan_add_step(b, STEP_SENTINEL_SET, ACTION_CHANGE, SAFETY_SAFE, WAVE_SENTINELS,
                                   INSTANCE_SENTINEL, "sentinels", a, "%s %s", sh->name,
                                   have && *have ? "auth-pass is not the spec's password"
                                                 : "has no auth-pass: the sentinel cannot "
                                                   "authenticate to the master");
                st->shard = xstrdup(sh->name);
            }
            plan_step_add_setting(st, "auth-pass", CONF_SECRET_PLACEHOLDER);
            plan_cite(&st->source, &b->s->auth.pos);
            plan_observed(&st->source, "sentinel %s:%d sentinel.conf: auth-pass %s %s", a->ip,
                          a->port, sh->name, plan_secret_shown(have));
            sb_addf(&before, "%sauth-pass %s", before.len ? "\n" : "", plan_secret_shown(have));
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
        if (!pe->ip || plan_shard_find_member(sh, pe->ip, pe->port))
            continue;
        sb_addf(&before, "%sreplica %s:%d", before.len ? "\n" : "", pe->ip, pe->port);
        sb_addf(&after, "%s(forgotten)", after.len ? "\n" : "");
    }
    /* a member move: the master that leaves is a replica once the failover is done */
    const struct spec_addr *O = b->move_from[i].ip ? &b->move_from[i] : NULL;
    if (O && !(m->ip && addr_is(O, m->ip, m->port))) /* the sentinel follows another master */
        O = NULL;
    if (O) {
        sb_addf(&before, "%smaster %s:%d (leaves the spec)", before.len ? "\n" : "", O->ip,
                O->port);
        sb_addf(&after, "%s(forgotten)", after.len ? "\n" : "");
    }
    if (!before.len)
        return;
    struct strbuf seen = {0};
    for (size_t k = 0; k < m->nreplicas; k++) {
        const struct obs_sentinel_peer *pe = &m->replicas[k];
        if (pe->ip && !plan_shard_find_member(sh, pe->ip, pe->port))
            sb_addf(&seen, "%s%s:%d", seen.len ? ", " : "", pe->ip, pe->port);
    }
    if (O)
        sb_addf(&seen, "%smaster %s:%d", seen.len ? ", " : "", O->ip, O->port);
    /* a replica being removed must be stopped first, or Sentinel learns it again */
    bool late = b->reset_late[i];
    struct step *st;
    if (O)
        st = plan_add_step(b, STEP_SENTINEL_RESET, ACTION_CHANGE, SAFETY_DISRUPTIVE, WAVE_CLEANUP,
                           INSTANCE_SENTINEL, "sentinels", a,
                           "%s master %s:%d leaves the spec (a member move): SENTINEL RESET %s "
                           "once it is stopped, then wait until it knows the new master, the "
                           "replicas and the other sentinels again",
                           sh->name, O->ip, O->port, sh->name);
    else
        st = plan_add_step(
            b, STEP_SENTINEL_RESET, ACTION_CHANGE, SAFETY_DISRUPTIVE,
            late ? WAVE_CLEANUP : WAVE_SENTINELS, INSTANCE_SENTINEL, "sentinels", a,
            "lists nodes outside %s as its replicas (%s): SENTINEL RESET %s%s, "
            "then wait until it knows the master and the other sentinels "
            "again",
            sh->name, late ? "replicas removed from the spec" : "stale entries a failover could promote",
            sh->name, late ? " once they are stopped" : "");
    st->shard = xstrdup(sh->name);
    plan_step_set_master(st, &b->p->masters[i]);
    plan_cite(&st->source, &sh->pos);
    plan_observed(&st->source, "sentinel %s:%d SENTINEL REPLICAS %s: lists %s", a->ip, a->port,
                  sh->name, sb_str(&seen));
    sb_release(&seen);
    st->before = sb_detach(&before);
    st->after = sb_detach(&after);
}

/*
 * With auth:, the sentinels that do not have it yet (a cluster built before
 * auth: was added, or by a release that did not give sentinels a password).
 * Every sentinel gets sentinel-pass (what it uses to reach its peers) before
 * any gets requirepass (what it demands): a peer that demands a password
 * from one that does not send it is flagged s_down, and with two of three
 * so flagged the quorum is lost. apply runs these steps one at a time, in
 * plan order, each until the sentinels see each other again.
 */
static void sentinel_auth_steps(struct builder *b)
{
    const struct spec *s = b->s;
    if (!b->password)
        return;
    for (size_t i = 0; i < s->nshards; i++)
        if (b->p->shard_failover[i])
            return; /* not while Sentinel fails a shard over: the next plan has them */
    for (int phase = 0; phase < 2; phase++) {
        for (size_t j = 0; j < s->sentinel.nnodes; j++) {
            const struct spec_addr *a = &s->sentinel.nodes[j];
            const struct obs_sentinel *os = observed_sentinel(b->o, a->ip, a->port);
            if (!os || os->reach != REACH_OK)
                continue;
            const char *have = phase == 0 ? os->sentinel_pass : os->requirepass;
            /* NULL: not learned (an older Sentinel, an observation without auth:) */
            if (!have || str_eq(have, CONF_SECRET_PLACEHOLDER))
                continue;
            const char *key = phase == 0 ? "sentinel-pass" : "requirepass";
            struct step *st = plan_add_step(
                b, STEP_SENTINEL_AUTH, ACTION_CHANGE, phase == 0 ? SAFETY_SAFE : SAFETY_DISRUPTIVE,
                WAVE_SENTINELS, INSTANCE_SENTINEL, "sentinels", a, "%s",
                phase == 0 ? (*have ? "sentinel-pass is not the spec's password: it cannot "
                                      "authenticate to its peers"
                                    : "has no sentinel-pass: it cannot authenticate to peers "
                                      "that demand the password")
                           : "has no requirepass: it obeys anyone who reaches its port; "
                             "clients must AUTH afterwards");
            plan_step_add_setting(st, key, CONF_SECRET_PLACEHOLDER);
            plan_cite(&st->source, &s->auth.pos);
            if (phase == 0)
                plan_observed(&st->source, "sentinel %s:%d SENTINEL CONFIG GET sentinel-pass: %s",
                              a->ip, a->port, plan_secret_shown(have));
            else
                plan_observed(&st->source, "sentinel %s:%d AUTH: no password configured", a->ip,
                              a->port);
            st->before = xasprintf("%s %s", key, plan_secret_shown(have));
            st->after = xasprintf("%s %s", key, CONF_SECRET_PLACEHOLDER);
        }
    }
}

static bool spec_has_shard(const struct spec *s, const char *name)
{
    for (size_t i = 0; i < s->nshards; i++)
        if (str_eq(s->shards[i].name, name))
            return true;
    return false;
}


static void removed_add(struct strvec *removed, const char *name)
{
    if (!strvec_has(removed, name))
        strvec_add(removed, xstrdup(name));
}

void plan_sentinel_steps(struct builder *b, struct strvec *removed)
{
    const struct spec *s = b->s;
    const struct spec_sentinel *ss = &s->sentinel;
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct spec_addr *a = &ss->nodes[j];
        const struct obs_sentinel *os = observed_sentinel(b->o, a->ip, a->port);
        enum reach rc = os ? os->reach : REACH_NOT_CHECKED;

        if (reach_unreachable(rc)) {
            plan_unreachable_step(b, INSTANCE_SENTINEL, WAVE_SENTINELS, "sentinels", a, rc,
                                  os ? os->reach_detail : "not observed");
            continue;
        }
        plan_files_step(b, INSTANCE_SENTINEL, WAVE_SENTINELS, "sentinels", NULL, a, &os->files,
                        "sentinel.conf missing");
        if (rc == REACH_REFUSED) {
            /* Sentinel owns its file: a restarted one keeps the monitors it has there (an
             * apply interrupted between install-files and its monitors left none) */
            bool keeps = os->files.checked && os->files.conf_present;
            struct step *st = plan_add_step(b, STEP_START, ACTION_CREATE, SAFETY_SAFE, WAVE_SENTINELS,
                          INSTANCE_SENTINEL, "sentinels", a, "%s",
                          keeps ? "not running; it keeps its monitors in sentinel.conf"
                                : "not running");
            plan_observed(&st->source, "sentinel %s:%d: not running (%s)", a->ip, a->port,
                          detail_or(os->reach_detail, "connection refused"));
            for (size_t i = 0; i < s->nshards; i++) {
                char *key = xasprintf("monitor %s", s->shards[i].name);
                bool in_file = obs_kv_get(os->files.conf, os->files.nconf, key) != NULL;
                free(key);
                if (!keeps || !in_file)
                    sentinel_monitor_step(b, a, i, keeps ? "not in its sentinel.conf"
                                                         : "new sentinel");
            }
            continue;
        }
        for (size_t i = 0; i < s->nshards; i++) {
            const struct obs_sentinel_master *m = plan_sentinel_find_master(os, s->shards[i].name);
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
            struct step *st =
                plan_add_step(b, STEP_SENTINEL_REMOVE, ACTION_REMOVE, SAFETY_DESTRUCTIVE,
                              WAVE_SENTINELS, INSTANCE_SENTINEL, "sentinels", a,
                              "%s is not in the spec: stop monitoring it", name);
            st->shard = xstrdup(name);
            st->master_ip = xstrdup(os->masters[k].ip);
            st->master_port = os->masters[k].port;
            plan_observed(&st->source,
                          "sentinel %s:%d SENTINEL MASTERS: %s master %s:%d (not in %s)", a->ip,
                          a->port, name, os->masters[k].ip ? os->masters[k].ip : "?",
                          os->masters[k].port, s->file ? s->file : "the spec");
            removed_add(removed, name);
        }
    }
    sentinel_auth_steps(b);
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

/* who reports st's node for shard `name`, which the spec no longer has */
static void removed_shard_source(struct builder *b, const char *name, struct step *st)
{
    plan_observed_sentinels(b, &st->source, name, st->ip, st->port);
    plan_observed_sentinel_replica(b, &st->source, name, st->ip, st->port);
}

/* stop + remove-files for the nodes Sentinel reports for a removed shard */
void plan_removed_shard_steps(struct builder *b, const char *name)
{
    const struct spec *s = b->s;
    struct node_list nl = {0};
    struct spec_addr sentinel_master = {0}; /* the first sentinel's master: the fallback */
    for (size_t j = 0; j < s->sentinel.nnodes; j++) {
        const struct obs_sentinel *os =
            observed_sentinel(b->o, s->sentinel.nodes[j].ip, s->sentinel.nodes[j].port);
        if (!os || os->reach != REACH_OK)
            continue;
        const struct obs_sentinel_master *m = plan_sentinel_find_master(os, name);
        if (!m)
            continue;
        if (!sentinel_master.ip && m->ip)
            sentinel_master = (struct spec_addr){.ip = m->ip, .port = m->port};
        const char *host;
        if (m->ip && (host = plan_spec_host_for_ip(s, m->ip)) && !spec_uses_addr(s, m->ip, m->port))
            plan_node_list_add(&nl, host, m->ip, m->port);
        for (size_t r = 0; r < m->nreplicas; r++) {
            const struct obs_sentinel_peer *pe = &m->replicas[r];
            if (pe->ip && (host = plan_spec_host_for_ip(s, pe->ip)) &&
                !spec_uses_addr(s, pe->ip, pe->port))
                plan_node_list_add(&nl, host, pe->ip, pe->port);
        }
    }
    for (size_t i = 0; i < nl.n; i++) {
        const struct spec_addr *a = &nl.v[i];
        const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
        struct step *st;
        if (!r || r->reach != REACH_REFUSED) {
            st = plan_add_step(b, STEP_STOP, ACTION_REMOVE, SAFETY_DESTRUCTIVE, WAVE_CLEANUP,
                               INSTANCE_REDIS, name, a, "%s was removed from the spec", name);
            st->shard = xstrdup(name);
            /* its master stops after its replicas (apply orders the lanes by this) */
            st->stops_master = plan_member_is_master(b, nl.v, nl.n, i,
                                                     sentinel_master.ip ? &sentinel_master : NULL);
            removed_shard_source(b, name, st);
        }
        st = plan_add_step(
            b, STEP_REMOVE_FILES, ACTION_REMOVE, SAFETY_DESTRUCTIVE, WAVE_CLEANUP, INSTANCE_REDIS,
            name, a, "%s was removed from the spec: delete its instance directory and data", name);
        st->shard = xstrdup(name);
        removed_shard_source(b, name, st);
    }
    plan_node_list_release(&nl);
}

