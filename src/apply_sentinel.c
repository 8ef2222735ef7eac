/*
 * apply_sentinel.c - the executors of the sentinel steps: SENTINEL
 * MONITOR, SET, REMOVE and RESET of a shard on the step's sentinel (run
 * through sentinel_step, apply_steps.c), and sentinel-auth, which gives the
 * sentinels the spec's password and waits until they see each other again
 * (apply_impl.h).
 */
#include "apply_impl.h"

#include <stdlib.h>
#include <string.h>

#include "redis_parse.h"

#define RESET_WAIT_MS 30000 /* a reset sentinel relearns its shard (measured 1-10 s) */
#define RESET_POLL_CAP_US 100000

/* SENTINEL SET <shard> k v ... for the step's settings (all when `with_quorum`). */
static int sentinel_set(const struct run *r, redisContext *c, const char *where,
                        const struct step *st, bool with_quorum, char **err)
{
    const char **argv = xcalloc(3 + 2 * st->nsettings, sizeof(*argv));
    int argc = 0;
    bool any_secret = false;
    argv[argc++] = "SENTINEL";
    argv[argc++] = "SET";
    argv[argc++] = st->shard;
    for (size_t i = 0; i < st->nsettings; i++) {
        if (!with_quorum && str_eq(st->settings[i].key, "quorum"))
            continue;
        bool secret;
        const char *value =
            run_setting_value(r, where, st->settings[i].key, st->settings[i].value, &secret, err);
        if (!value) {
            free(argv);
            return -1;
        }
        any_secret |= secret;
        argv[argc++] = st->settings[i].key;
        argv[argc++] = value;
    }
    int rc = argc > 3 ? run_cmd_ok(c, where, "SENTINEL SET", any_secret, argc, argv, err) : 0;
    free(argv);
    return rc;
}

/* What a sentinel knows of one shard. */
struct sview {
    struct obs_sentinel_master *ms; /* SENTINEL MASTERS */
    size_t nms;
    const struct obs_sentinel_master *m; /* the shard's entry in ms, or NULL */
    struct obs_sentinel_peer *replicas, *sentinels;
    size_t nreplicas, nsentinels;
};

static void sview_release(struct sview *v)
{
    obs_sentinel_masters_free(v->ms, v->nms);
    obs_sentinel_peers_free(v->replicas, v->nreplicas);
    obs_sentinel_peers_free(v->sentinels, v->nsentinels);
    memset(v, 0, sizeof(*v));
}

/* Read sentinel c's view of `shard` into v (empty on entry). 0, or -1 and *err. */
static int sview_read(redisContext *c, const char *where, const char *shard, struct sview *v,
                      char **err)
{
    char *e = NULL;
    redisReply *rep = rclient_command(c, NULL, "SENTINEL", "MASTERS", NULL);
    int rc = rep ? redis_parse_sentinel_masters(rep, &v->ms, &v->nms, &e) : -1;
    rclient_reply_free(rep);
    for (size_t k = 0; rc == 0 && k < v->nms; k++)
        if (str_eq(v->ms[k].name, shard))
            v->m = &v->ms[k];
    if (rc == 0 && v->m) {
        rep = rclient_command(c, NULL, "SENTINEL", "REPLICAS", shard, NULL);
        rc = rep ? redis_parse_sentinel_peers(rep, false, &v->replicas, &v->nreplicas, &e) : -1;
        rclient_reply_free(rep);
    }
    if (rc == 0 && v->m) {
        rep = rclient_command(c, NULL, "SENTINEL", "SENTINELS", shard, NULL);
        rc = rep ? redis_parse_sentinel_peers(rep, true, &v->sentinels, &v->nsentinels, &e) : -1;
        rclient_reply_free(rep);
    }
    if (rc < 0)
        *err = xasprintf("%s: cannot read what it knows of %s: %s", where, shard,
                         e ? e : c->errstr[0] ? c->errstr : "no reply");
    free(e);
    return rc;
}

/* a peer Sentinel currently sees as up */
static bool peer_up(const struct obs_sentinel_peer *pe)
{
    return pe->ip && !(pe->flags && (strstr(pe->flags, "down") || strstr(pe->flags, "disconnected")));
}

static bool spec_shard_has(const struct spec *s, const char *shard, const char *ip, int port)
{
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_shard *sh = &s->shards[i];
        if (!str_eq(sh->name, shard))
            continue;
        for (size_t k = 0; k <= sh->nreplicas; k++) {
            const struct spec_addr *a = k == 0 ? &sh->master : &sh->replicas[k - 1];
            if (a->port == port && str_eq(a->ip, ip))
                return true;
        }
    }
    return false;
}

/*
 * Whether a reset sentinel knows again what it knew before (`was`): the
 * same master, every sentinel and member replica it saw up, and no replica
 * outside the shard. What is missing goes to *seen.
 */
static bool sview_restored(const struct run *r, const struct step *st, const struct sview *was,
                           const struct sview *now, struct strbuf *seen)
{
    if (!now->m) {
        run_seen_add(seen, "it does not monitor %s", st->shard);
        return false;
    }
    bool ok = true;
    if (now->m->port != st->master_port || !str_eq(now->m->ip, st->master_ip)) {
        run_seen_add(seen, "it has %s:%d as master of %s, not %s:%d", now->m->ip ? now->m->ip : "?",
                 now->m->port, st->shard, st->master_ip, st->master_port);
        ok = false;
    }
    for (size_t k = 0; k < was->nsentinels; k++) {
        const struct obs_sentinel_peer *pe = &was->sentinels[k];
        if (peer_up(pe) && !run_peers_have(now->sentinels, now->nsentinels, pe->ip, pe->port)) {
            run_seen_add(seen, "it does not know sentinel %s:%d yet", pe->ip, pe->port);
            ok = false;
        }
    }
    for (size_t k = 0; k < was->nreplicas; k++) {
        const struct obs_sentinel_peer *pe = &was->replicas[k];
        if (peer_up(pe) && spec_shard_has(r->s, st->shard, pe->ip, pe->port) &&
            !run_peers_have(now->replicas, now->nreplicas, pe->ip, pe->port)) {
            run_seen_add(seen, "it does not know replica %s:%d yet", pe->ip, pe->port);
            ok = false;
        }
    }
    for (size_t k = 0; k < now->nreplicas; k++) {
        const struct obs_sentinel_peer *pe = &now->replicas[k];
        if (pe->ip && !spec_shard_has(r->s, st->shard, pe->ip, pe->port)) {
            run_seen_add(seen, "it still lists %s:%d, which is not a member of %s", pe->ip,
                         pe->port, st->shard);
            ok = false;
        }
    }
    return ok;
}

/*
 * SENTINEL RESET <shard> on one sentinel (it forgets its replicas and the
 * other sentinels, stale entries included), then wait until it knows them
 * again, so that the next reset never leaves the quorum without knowledge.
 * Refuses to start while that sentinel sees another master or a failover.
 */
int run_sentinel_reset(struct run *r, redisContext *c, const char *where,
                       const struct step *st, char **err)
{
    struct sview was = {0}, now = {0};
    struct strbuf seen = {0};
    int rc = -1;
    if (sview_read(c, where, st->shard, &was, err) < 0)
        goto out;
    if (!was.m) {
        *err = xasprintf("%s no longer monitors %s: re-run plan", where, st->shard);
        goto out;
    }
    if (was.m->port != st->master_port || !str_eq(was.m->ip, st->master_ip)) {
        *err = xasprintf("%s has %s:%d as master of %s, not the planned %s:%d: re-run plan",
                         where, was.m->ip ? was.m->ip : "?", was.m->port, st->shard,
                         st->master_ip ? st->master_ip : "?", st->master_port);
        goto out;
    }
    if (was.m->flags && (strstr(was.m->flags, "down") || strstr(was.m->flags, "failover"))) {
        *err = xasprintf("%s reports the master of %s as %s: not resetting it during a "
                         "failover; re-run plan when it settles",
                         where, st->shard, was.m->flags);
        goto out;
    }
    const char *argv[] = {"SENTINEL", "RESET", st->shard};
    if (run_cmd_ok(c, where, "SENTINEL RESET", false, 3, argv, err) < 0)
        goto out;
    /* replicas come back with the master's INFO, every 10 s: allow a full period */
    long wait_ms = r->o.sentinel_timeout_ms > RESET_WAIT_MS ? r->o.sentinel_timeout_ms
                                                             : RESET_WAIT_MS;
    long long t0 = now_ms(), deadline = t0 + wait_ms;
    long delay_us = 1000;
    for (;;) {
        sb_release(&seen);
        sview_release(&now);
        char *e = NULL;
        if (sview_read(c, where, st->shard, &now, &e) < 0)
            run_seen_add(&seen, "%s", e);
        else if (sview_restored(r, st, &was, &now, &seen))
            break;
        free(e);
        if (now_ms() >= deadline) {
            *err = xasprintf("%s: after SENTINEL RESET %s it did not know the shard again within "
                             "%lld ms: %s",
                             where, st->shard, now_ms() - t0, sb_str(&seen));
            goto out;
        }
        instance_backoff(&delay_us, RESET_POLL_CAP_US);
    }
    rc = 0;
out:
    sb_release(&seen);
    sview_release(&was);
    sview_release(&now);
    return rc;
}

/*
 * SENTINEL MONITOR the shard at the step's master (already monitoring the
 * same master is fine), its options, and auth-pass when the spec has a
 * password.
 */
int run_sentinel_monitor(struct run *r, redisContext *c, const char *where,
                         const struct step *st, char **err)
{
    int rc = 0;
    const char *quorum = obs_kv_get(st->settings, st->nsettings, "quorum");
    char *port = xasprintf("%d", st->master_port);
    const char *argv[] = {"SENTINEL", "MONITOR", st->shard, st->master_ip ? st->master_ip : "",
                          port, quorum ? quorum : "1"};
    redisReply *rep = rclient_call(c, 6, argv, NULL);
    if (!rep) {
        *err = xasprintf("%s: SENTINEL MONITOR: %s", where, c->errstr);
        rc = -1;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        /* already monitored: fine when it is the same master */
        if (rep->str && strstr(rep->str, "Duplicate")) {
            const char *q[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", st->shard};
            redisReply *a =
                run_cmd(c, where, "SENTINEL GET-MASTER-ADDR-BY-NAME", false, 3, q, err);
            if (!a) {
                rc = -1;
            } else {
                bool same = a->type == REDIS_REPLY_ARRAY && a->elements == 2 &&
                            a->element[0]->str && a->element[1]->str &&
                            str_eq(a->element[0]->str, st->master_ip) &&
                            str_eq(a->element[1]->str, port);
                if (!same) {
                    *err = xasprintf("%s already monitors %s with another master; "
                                     "re-run plan",
                                     where, st->shard);
                    rc = -1;
                }
                rclient_reply_free(a);
            }
        } else {
            *err = xasprintf("%s: SENTINEL MONITOR %s: %s", where, st->shard,
                             rep->str ? rep->str : "error");
            rc = -1;
        }
    }
    rclient_reply_free(rep);
    free(port);
    if (rc == 0)
        rc = sentinel_set(r, c, where, st, true, err);
    if (rc == 0 && r->password) {
        const char *argv2[] = {"SENTINEL", "SET", st->shard, "auth-pass", r->password};
        rc = run_cmd_ok(c, where, "SENTINEL SET auth-pass", true, 5, argv2, err);
    }
    return rc;
}

/* SENTINEL SET every option of the step */
int run_sentinel_set_options(struct run *r, redisContext *c, const char *where,
                             const struct step *st, char **err)
{
    return sentinel_set(r, c, where, st, true, err);
}

/* SENTINEL REMOVE the shard; one the sentinel does not know is removed already */
int run_sentinel_remove(struct run *r, redisContext *c, const char *where,
                        const struct step *st, char **err)
{
    (void)r;
    int rc = 0;
    const char *argv[] = {"SENTINEL", "REMOVE", st->shard};
    redisReply *rep = rclient_call(c, 3, argv, NULL);
    if (!rep) {
        *err = xasprintf("%s: SENTINEL REMOVE: %s", where, c->errstr);
        rc = -1;
    } else if (rep->type == REDIS_REPLY_ERROR &&
               !(rep->str && strstr(rep->str, "No such master"))) {
        *err = xasprintf("%s: SENTINEL REMOVE %s: %s", where, st->shard,
                         rep->str ? rep->str : "error");
        rc = -1;
    }
    rclient_reply_free(rep);
    return rc;
}

/* ---- sentinel-auth ---------------------------------------------------------- */

/* the value of `key` in a flat key/value array reply (SENTINEL SENTINELS entry) */
static const char *kv_reply_get(const redisReply *e, const char *key)
{
    if (!e || e->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < e->elements; i += 2)
        if (e->element[i]->type == REDIS_REPLY_STRING && str_eq(e->element[i]->str, key) &&
            e->element[i + 1]->type == REDIS_REPLY_STRING)
            return e->element[i + 1]->str;
    return NULL;
}

/*
 * Whether the sentinels see each other since `since_ms` (now_ms() clock):
 * from every sentinel of the spec the plan could observe, for every shard it
 * monitors, each peer it lists is not s_down and answered a ping after
 * since_ms, and SENTINEL CKQUORUM is OK. What is not so goes to *seen.
 */
static bool sentinels_see_each_other(struct run *r, long long since_ms, struct strbuf *seen)
{
    const struct spec *s = r->s;
    bool ok = true;
    long long elapsed = now_ms() - since_ms;
    for (size_t j = 0; j < s->sentinel.nnodes; j++) {
        const struct spec_addr *a = &s->sentinel.nodes[j];
        if (run_plan_unreachable(r, INSTANCE_SENTINEL, a->ip, a->port))
            continue;
        char *e = NULL;
        redisContext *c = run_connect(r, a->ip, a->port, true, &e);
        if (!c) {
            run_seen_add(seen, "%s", e);
            free(e);
            ok = false;
            continue;
        }
        for (size_t i = 0; i < s->nshards; i++) {
            const char *shard = s->shards[i].name;
            redisReply *q = rclient_command(c, NULL, "SENTINEL", "CKQUORUM", shard, NULL);
            if (q && q->type == REDIS_REPLY_ERROR && q->str && strstr(q->str, "No such master")) {
                rclient_reply_free(q);
                continue; /* not monitored: the plan's monitor steps see to it */
            }
            if (!q || q->type != REDIS_REPLY_STATUS || strncmp(q->str, "OK", 2)) {
                run_seen_add(seen, "sentinel %s:%d CKQUORUM %s: %s", a->ip, a->port, shard,
                             q && q->str ? q->str : c->errstr);
                ok = false;
            }
            rclient_reply_free(q);
            redisReply *p = rclient_command(c, NULL, "SENTINEL", "SENTINELS", shard, NULL);
            for (size_t k = 0; p && p->type == REDIS_REPLY_ARRAY && k < p->elements; k++) {
                const redisReply *pe = p->element[k];
                const char *ip = kv_reply_get(pe, "ip"), *port = kv_reply_get(pe, "port");
                const char *flags = kv_reply_get(pe, "flags");
                const char *ping = kv_reply_get(pe, "last-ok-ping-reply");
                long long ago = ping ? strtoll(ping, NULL, 10) : -1;
                if (flags && strstr(flags, "s_down")) {
                    run_seen_add(seen, "sentinel %s:%d sees %s:%s as %s", a->ip, a->port,
                                 ip ? ip : "?", port ? port : "?", flags);
                    ok = false;
                } else if (ago < 0 || ago >= elapsed) {
                    run_seen_add(seen, "sentinel %s:%d has no answered ping from %s:%s since "
                                 "the change",
                                 a->ip, a->port, ip ? ip : "?", port ? port : "?");
                    ok = false;
                }
            }
            if (!p || p->type != REDIS_REPLY_ARRAY) {
                run_seen_add(seen, "sentinel %s:%d SENTINEL SENTINELS %s: %s", a->ip, a->port,
                             shard, p && p->str ? p->str : c->errstr);
                ok = false;
            }
            rclient_reply_free(p);
        }
        rclient_close(c);
    }
    return ok;
}

/*
 * Give the step's sentinel what the spec's auth: asks (the settings say
 * which): sentinel-pass with SENTINEL CONFIG SET, requirepass as Sentinel
 * 7.0 allows it (no CONFIG SET there: ACL SETUSER default resetpass >pw,
 * then SENTINEL FLUSHCONFIG, which stores "user default on #<sha256>").
 * Then its incoming connections are closed (CLIENT KILL TYPE normal: the
 * peers' links were authenticated before and would stay so) and the step
 * waits until the sentinels see each other again with quorum.
 */
static int sentinel_auth(struct run *r, const struct step *st, char **err)
{
    if (!r->password) {
        *err = xstrdup("the spec has no password: re-run plan");
        return -1;
    }
    redisContext *c = run_connect(r, st->ip, st->port, true, err);
    if (!c)
        return -1;
    char *where = xasprintf("sentinel %s:%d", st->ip, st->port);
    int rc = 0;
    if (obs_kv_get(st->settings, st->nsettings, "sentinel-pass")) {
        const char *argv[] = {"SENTINEL", "CONFIG", "SET", "sentinel-pass", r->password};
        rc = run_cmd_ok(c, where, "SENTINEL CONFIG SET sentinel-pass", true, 5, argv, err);
    }
    if (rc == 0 && obs_kv_get(st->settings, st->nsettings, "requirepass")) {
        char *rule = xasprintf(">%s", r->password);
        const char *argv[] = {"ACL", "SETUSER", "default", "resetpass", rule};
        rc = run_cmd_ok(c, where, "ACL SETUSER default (requirepass)", true, 5, argv, err);
        secret_free(rule);
        const char *flush[] = {"SENTINEL", "FLUSHCONFIG"};
        if (rc == 0)
            rc = run_cmd_ok(c, where, "SENTINEL FLUSHCONFIG", false, 2, flush, err);
    }
    long long t0 = now_ms();
    if (rc == 0) {
        const char *kill[] = {"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"};
        rc = run_cmd_ok(c, where, "CLIENT KILL TYPE normal", false, 6, kill, err);
    }
    rclient_close(c);
    if (rc == 0) {
        long wait_ms = r->o.sentinel_timeout_ms > RESET_WAIT_MS ? r->o.sentinel_timeout_ms
                                                                 : RESET_WAIT_MS;
        long long deadline = t0 + wait_ms;
        long delay_us = 1000;
        struct strbuf seen = {0};
        for (;;) {
            sb_release(&seen);
            if (sentinels_see_each_other(r, t0, &seen))
                break;
            if (now_ms() >= deadline) {
                *err = xasprintf("%s: the sentinels did not see each other with quorum within "
                                 "%lld ms of the change: %s",
                                 where, now_ms() - t0, sb_str(&seen));
                rc = -1;
                break;
            }
            instance_backoff(&delay_us, RESET_POLL_CAP_US * 2);
        }
        sb_release(&seen);
    }
    free(where);
    return rc;
}

int run_sentinel_auth(struct run *r, struct hostc *h, const struct step *st, char **err)
{
    (void)h;
    return sentinel_auth(r, st, err);
}
