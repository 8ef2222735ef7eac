/*
 * plan_redis.c - the planner's steps for the redis members of each shard: files,
 * processes, replication around the master plan_truth.c found, config drift.
 * Pure, no I/O.
 */
#include "plan_impl.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "failover.h"
#include "util.h"

/* ---------------------------------------------------------------- redis */

/* Directives holding the password: observation stores only CONF_SECRET_* or "". */
static const char *const secret_keys[] = {"requirepass", "masterauth"};

/*
 * Add `key have -> want` to the config-set / config-rewrite step *st, creating it.
 * `kv` is the redis.config entry that asks for it (NULL: the password, from
 * auth:, or a value rmgr restores, such as the sync delay an interrupted apply
 * left), `seen` where `have` was read ("CONFIG GET", "redis.conf").
 */
static void config_drift(struct builder *b, struct step **st, enum step_kind kind,
                         const struct spec_shard *sh, const struct spec_addr *a,
                         const struct spec_kv *kv, const char *seen, const char *key,
                         const char *have, const char *want, struct strbuf *before,
                         struct strbuf *after)
{
    if (!*st) {
        *st = plan_add_step(b, kind, ACTION_CHANGE, SAFETY_SAFE, WAVE_REPLICATION, INSTANCE_REDIS,
                            sh->name, a, "%s",
                            kind == STEP_CONFIG_SET ? "running config differs from the spec"
                                                    : "redis.conf differs from the running config");
        (*st)->shard = xstrdup(sh->name);
    }
    plan_step_add_setting(*st, key, want);
    if (kv)
        plan_cite(&(*st)->source, &kv->pos);
    else if (str_eq(key, "requirepass") || str_eq(key, "masterauth"))
        plan_cite(&(*st)->source, &b->s->auth.pos); /* a password: from auth: */
    plan_observed(&(*st)->source, "redis %s:%d %s %s: %s", a->ip, a->port, seen, key, have);
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
            plan_warn(
                b,
                "%s:%d runs without %s although the spec sets a password: rmgr does not turn "
                "auth on under running clients; set it by hand (CONFIG SET %s, CONFIG REWRITE) "
                "once every client has the password",
                a->host ? a->host : a->ip, a->port, key, key);
        else if (!b->password && ((run && *run) || (file && *file)))
            plan_warn(
                b,
                "%s:%d has a %s%s but the spec sets no password: rmgr leaves it; add auth: to "
                "the spec, or clear it by hand (CONFIG SET %s \"\", CONFIG REWRITE)",
                a->host ? a->host : a->ip, a->port, key, run && *run ? "" : " in its redis.conf",
                key);
    }
}

/* The managed directives whose value in redis.conf differs from the spec, into *st. */
static void file_config_drift(struct builder *b, struct step **st, enum step_kind kind,
                              const struct spec_shard *sh, const struct spec_addr *a,
                              const struct obs_files *f, struct strbuf *before,
                              struct strbuf *after)
{
    for (size_t c = 0; c < b->s->nredis_config; c++) {
        const struct spec_kv *kv = &b->s->redis_config[c];
        const char *have = obs_kv_get(f->conf, f->nconf, kv->key);
        if (have && conf_value_equal(kv->key, have, kv->value))
            continue;
        config_drift(b, st, kind, sh, a, kv, "redis.conf", kv->key, have ? have : "(absent)",
                     kv->value, before, after);
    }
}

/* Whether the spec manages directive `key`. */
static bool spec_manages(const struct spec *s, const char *key)
{
    for (size_t c = 0; c < s->nredis_config; c++)
        if (str_ieq(s->redis_config[c].key, key))
            return true;
    return false;
}

/*
 * The value repl-diskless-sync-delay gets back when an interrupted apply left
 * the 0 it sets, at runtime only, for a new shard's first syncs (conf.h): the
 * value of the node's redis.conf, Redis' default when the file does not set
 * it. NULL when nothing is to be put back: the spec sets it, `have` is not
 * 0, the node has no redis.conf to tell (rmgr did not deploy it), or the
 * file says 0 as well (someone's choice, or a CONFIG REWRITE by Sentinel
 * that wrote the 0 before a plan saw it: the two look alike).
 */
static const char *delay_to_restore(const struct builder *b, const char *have,
                                    const struct obs_redis *r)
{
    const struct obs_files *f = &r->files;
    if (spec_manages(b->s, CONF_DISKLESS_DELAY) || !str_eq(have, "0") || !f->checked ||
        !f->conf_present)
        return NULL;
    /* started without a config file (a node being taken over): its 0 is its operator's
     * choice, not an apply's, and it has no file to rewrite */
    if (r->config_file && !*r->config_file)
        return NULL;
    const char *file = obs_kv_get(f->conf, f->nconf, CONF_DISKLESS_DELAY);
    if (file && conf_value_equal(CONF_DISKLESS_DELAY, file, "0"))
        return NULL;
    return file && *file ? file : CONF_DISKLESS_DELAY_DEFAULT;
}

/*
 * A node that is down starts from its redis.conf: what differs there from
 * the spec is set (and rewritten) once it runs, in the same apply, or the
 * second plan would not be empty.
 */
static void stopped_config_steps(struct builder *b, const struct spec_shard *sh,
                                 const struct spec_addr *a, const struct obs_files *f)
{
    if (!f->checked || !f->conf_present)
        return;
    struct strbuf before = {0}, after = {0};
    struct step *st = NULL;
    file_config_drift(b, &st, STEP_CONFIG_SET, sh, a, f, &before, &after);
    if (st) {
        st->before = sb_detach(&before);
        st->after = sb_detach(&after);
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
        config_drift(b, &st, STEP_CONFIG_SET, sh, a, kv, "CONFIG GET", kv->key, have, kv->value,
                     &before, &after);
    }
    /* a delay left at 0 by an apply that did not get to put it back */
    const char *run_delay = obs_kv_get(r->config, r->nconfig, CONF_DISKLESS_DELAY);
    const char *delay = delay_to_restore(b, run_delay, r);
    if (delay)
        config_drift(b, &st, STEP_CONFIG_SET, sh, a, NULL, "CONFIG GET", CONF_DISKLESS_DELAY,
                     run_delay, delay, &before, &after);
    /* a password other than the spec's: set the placeholder, apply substitutes it */
    for (size_t k = 0; b->password && k < ARRAY_SIZE(secret_keys); k++) {
        const char *have = obs_kv_get(r->config, r->nconfig, secret_keys[k]);
        if (str_eq(have, CONF_SECRET_MISMATCH))
            config_drift(b, &st, STEP_CONFIG_SET, sh, a, NULL, "CONFIG GET", secret_keys[k], have,
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
    file_config_drift(b, &st, STEP_CONFIG_REWRITE, sh, a, f, &before, &after);
    /* CONFIG REWRITE writes the running password: only when that is the spec's */
    for (size_t k = 0; b->password && k < ARRAY_SIZE(secret_keys); k++) {
        const char *run = obs_kv_get(r->config, r->nconfig, secret_keys[k]);
        const char *have = obs_kv_get(f->conf, f->nconf, secret_keys[k]);
        if (str_eq(run, CONF_SECRET_PLACEHOLDER) && !str_eq(have, CONF_SECRET_PLACEHOLDER))
            config_drift(b, &st, STEP_CONFIG_REWRITE, sh, a, NULL, "redis.conf", secret_keys[k],
                         plan_secret_shown(have), CONF_SECRET_PLACEHOLDER, &before, &after);
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
            os && os->reach == REACH_OK ? plan_sentinel_find_master(os, sh->name) : NULL;
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
    size_t shard = (size_t)(sh - b->s->shards);
    struct failover_hold fh;
    /* without the times: two plans of one state read alike */
    char *hold = failover_held_off(b->s, b->o, shard, &fh) ? failover_hold_describe(&fh, false)
                                                           : NULL;
    struct step *st = plan_add_step(
        b, STEP_OBSERVED, ACTION_NONE, SAFETY_SAFE, WAVE_PROCESSES, INSTANCE_REDIS, sh->name, a,
        "%s master %s:%d is down; waiting for Sentinel to fail over to a replica (down-after "
        "%ld ms); no restart, it would come back empty and wipe the replicas%s%s",
        sh->name, a->ip, a->port, down_after, hold ? "; " : "", hold ? hold : "");
    free(hold);
    st->shard = xstrdup(sh->name);
    plan_observed_redis(&st->source, a->ip, a->port, observed_redis(b->o, a->ip, a->port));
    plan_observed_sentinels(b, &st->source, sh->name, a->ip, a->port);
    plan_observed_redis(&st->source, up->ip, up->port, ur);
    plan_warn(
        b,
        "%s master %s:%d is not running while %s:%d %s: rmgr does not restart it (an empty "
        "master wipes the replicas that resync from it); Sentinel promotes a replica once the "
        "master has been down for %ld ms, and the next plan starts %s:%d as a replica of the "
        "new master. If Sentinel cannot fail over (no quorum, no eligible replica), find the "
        "node with the newest data before starting anything by hand",
        sh->name, a->ip, a->port, up->ip, up->port,
        redis_reach(ur) == REACH_OK ? "is running" : "could not be observed", down_after, a->ip,
        a->port);
    if (!b->p->shard_waiting[shard]) {
        b->p->shard_waiting[shard] = true;
        b->p->waiting++;
    }
}

void plan_redis_steps(struct builder *b, size_t i)
{
    const struct spec_shard *sh = &b->s->shards[i];
    if (b->p->shard_failover[i]) {
        /* Sentinel is reconfiguring the members: only say what could not be seen */
        for (size_t k = 0; k < shard_nmembers(sh); k++) {
            const struct spec_addr *a = shard_member(sh, k);
            const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
            if (reach_unreachable(redis_reach(r)))
                plan_unreachable_step(b, INSTANCE_REDIS, WAVE_FILES, sh->name, a, redis_reach(r),
                                      r ? r->reach_detail : "not observed");
        }
        return;
    }
    /* during a member move the members follow the master that leaves (plan_move.c) */
    const struct spec_addr *M = b->move_from[i].ip ? &b->move_from[i] : &b->p->masters[i];
    char *mstr = plan_addr_ipport(M);
    /* a Sentinel-owned master that is down while another member is not: Sentinel's turn */
    const struct spec_addr *up =
        b->p->master_from_sentinel[i] &&
                redis_reach(observed_redis(b->o, M->ip, M->port)) == REACH_REFUSED
            ? plan_member_not_down(b->o, sh, M)
            : NULL;

    for (size_t k = 0; k < shard_nmembers(sh); k++) {
        const struct spec_addr *a = shard_member(sh, k);
        const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
        enum reach rc = redis_reach(r);
        bool is_m = addr_is(M, a->ip, a->port);

        if (reach_unreachable(rc)) {
            plan_unreachable_step(b, INSTANCE_REDIS, WAVE_FILES, sh->name, a, rc,
                                  r ? r->reach_detail : "not observed");
            continue;
        }
        plan_files_step(b, INSTANCE_REDIS, WAVE_FILES, sh->name, sh->name, a, &r->files,
                        "redis.conf missing");
        if (rc == REACH_REFUSED) {
            struct step *st;
            if (is_m && up) {
                master_left_down(b, sh, a, up);
                continue;
            }
            if (is_m) {
                st = plan_add_step(b, STEP_START, ACTION_CREATE, SAFETY_SAFE, WAVE_PROCESSES,
                                   INSTANCE_REDIS, sh->name, a, "not running; start as master");
            } else {
                st = plan_add_step(b, STEP_START, ACTION_CREATE, SAFETY_SAFE, WAVE_PROCESSES,
                                   INSTANCE_REDIS, sh->name, a,
                                   "not running; start as replica of %s", mstr);
                plan_step_set_master(st, M);
            }
            st->shard = xstrdup(sh->name);
            plan_observed_redis(&st->source, a->ip, a->port, r);
            stopped_config_steps(b, sh, a, &r->files);
            continue;
        }

        /* running: replication (never on the master), then config */
        if (!is_m) {
            bool follows_m = redis_is_slave(r) && str_eq(r->master_host, M->ip) &&
                             r->master_port == M->port;
            if (!follows_m) {
                struct step *st;
                if (redis_is_slave(r)) {
                    st = plan_add_step(b, STEP_REPLICAOF, ACTION_CHANGE, SAFETY_SAFE,
                                       WAVE_REPLICATION, INSTANCE_REDIS, sh->name, a,
                                       "replicates from %s:%d instead of the master",
                                       r->master_host, r->master_port);
                    st->before = xasprintf("replica of %s:%d", r->master_host, r->master_port);
                } else {
                    st = plan_add_step(b, STEP_REPLICAOF, ACTION_CHANGE, SAFETY_SAFE,
                                       WAVE_REPLICATION, INSTANCE_REDIS, sh->name, a,
                                       "runs as an empty master; make it a replica");
                    st->before = xstrdup("master (no data)");
                }
                st->after = xasprintf("replica of %s", mstr);
                st->shard = xstrdup(sh->name);
                plan_step_set_master(st, M);
                plan_observed_redis(&st->source, a->ip, a->port, r);
            } else if (r->master_link_status && !str_eq(r->master_link_status, "up") && !up) {
                plan_warn(b, "%s:%d replication link to %s is %s", a->host ? a->host : a->ip,
                          a->port, mstr, r->master_link_status);
            }
        }
        if (r->loading)
            plan_warn(b, "%s:%d is loading its dataset: its config is checked on the next plan",
                      a->host ? a->host : a->ip, a->port);
        else
            redis_config_steps(b, sh, a, r);
    }
    free(mstr);
}

