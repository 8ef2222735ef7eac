/*
 * plan_truth.c - the first pass of the planner: which node is each shard's master now.
 *
 * Sentinel's view once it monitors a shard, otherwise what the nodes report;
 * every ambiguity is a refusal with a diagnosis of what each node and
 * sentinel says. Pure, no I/O.
 */
#include "plan_impl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "failover.h"
#include "util.h"

/* "ip:port, ip:port" */
static char *node_list_str(const struct node_list *nl)
{
    struct strbuf sb = {0};
    for (size_t i = 0; i < nl->n; i++)
        sb_addf(&sb, "%s%s:%d", i ? ", " : "", nl->v[i].ip, nl->v[i].port);
    return sb.buf ? sb_detach(&sb) : xstrdup("");
}

/* One line saying what a redis node reports, for diagnoses. */
static void describe_redis(struct strbuf *sb, const struct spec_addr *a, const struct obs_redis *r)
{
    sb_addf(sb, "\n  redis %s:%d: ", a->ip, a->port);
    plan_describe_redis(sb, r);
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
        const struct obs_sentinel_master *m = plan_sentinel_find_master(os, shard);
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

/* Refuse shard sh: the headline formatted, then the diagnosis. The refusal, for its source. */
static struct plan_refusal *refuse_shard(struct builder *b, const struct spec_shard *sh,
                                         const char *fmt, ...) RMGR_PRINTF(3, 4);

static struct plan_refusal *refuse_shard(struct builder *b, const struct spec_shard *sh,
                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *headline = xvasprintf(fmt, ap);
    va_end(ap);
    struct plan_refusal *r = plan_refuse(b, sh->name, diagnosis(b, sh, headline));
    free(headline);
    return r;
}

/* what member a reports, into the source of refusal rf */
static void refusal_saw_redis(struct builder *b, struct plan_refusal *rf, const struct spec_addr *a)
{
    plan_observed_redis(&rf->source, a->ip, a->port, observed_redis(b->o, a->ip, a->port));
}

/*
 * Refuse shard `sh` when `mr`, the master it is to keep, replicates from
 * another node: "<who> replicates from H:P; <fix>", <who> formatted from
 * `fmt`. Returns whether it refused.
 */
static bool refuse_replica_master(struct builder *b, const struct spec_shard *sh,
                                  const struct obs_redis *mr, const char *fix, const char *fmt,
                                  ...) RMGR_PRINTF(5, 6);

static bool refuse_replica_master(struct builder *b, const struct spec_shard *sh,
                                  const struct obs_redis *mr, const char *fix, const char *fmt,
                                  ...)
{
    if (!redis_is_slave(mr))
        return false;
    va_list ap;
    va_start(ap, fmt);
    char *who = xvasprintf(fmt, ap);
    va_end(ap);
    struct plan_refusal *rf = refuse_shard(b, sh, "%s replicates from %s:%d; %s", who,
                                           mr->master_host ? mr->master_host : "?",
                                           mr->master_port, fix);
    plan_observed_redis(&rf->source, mr->ip, mr->port, mr);
    free(who);
    return true;
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
bool plan_deployed_here(struct builder *b, const char *ip, int port, const char **host)
{
    const struct obs_redis *r = observed_redis(b->o, ip, port);
    *host = plan_spec_host_for_ip(b->s, ip);
    return *host && r && !spec_shard_of(b->s, ip, port) && r->files.checked &&
           r->files.dir_present;
}

/*
 * stop + remove-files (clean-up wave) for replicas of shard sh that the spec
 * no longer has; the sentinels that list them are reset after that
 * (sentinel_reset_step), or Sentinel would learn them again from the master.
 */
/* a removed replica's step: the shard that no longer lists it, who reports it */
static void removed_replica_source(struct builder *b, const struct spec_shard *sh, struct step *st)
{
    plan_cite(&st->source, &sh->pos);
    plan_observed_sentinel_replica(b, &st->source, sh->name, st->ip, st->port);
    plan_observed_redis(&st->source, st->ip, st->port, observed_redis(b->o, st->ip, st->port));
}

static void removed_replica_steps(struct builder *b, const struct spec_shard *sh,
                                  const struct node_list *nl)
{
    for (size_t i = 0; i < nl->n; i++) {
        const struct spec_addr *a = &nl->v[i];
        const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
        struct step *st;
        if (redis_reach(r) != REACH_REFUSED) {
            st = plan_add_step(b, STEP_STOP, ACTION_REMOVE, SAFETY_DESTRUCTIVE, WAVE_CLEANUP,
                               INSTANCE_REDIS, sh->name, a,
                               "not a member of %s in the spec but replicates from its master, and "
                               "Sentinel could promote it: a replica removed from the spec",
                               sh->name);
            st->shard = xstrdup(sh->name);
            st->stops_master = plan_member_is_master(b, nl->v, nl->n, i, NULL);
            removed_replica_source(b, sh, st);
        }
        st = plan_add_step(b, STEP_REMOVE_FILES, ACTION_REMOVE, SAFETY_DESTRUCTIVE, WAVE_CLEANUP,
                           INSTANCE_REDIS, sh->name, a,
                           "removed from %s in the spec: delete its instance directory and data",
                           sh->name);
        st->shard = xstrdup(sh->name);
        removed_replica_source(b, sh, st);
    }
}

/*
 * Sentinel keeps every replica it ever saw in SENTINEL REPLICAS, and a
 * failover may promote any of them: an entry that is not a member of the
 * shard could take the shard over and wipe it. Such a node that really
 * replicates from the master M is stopped and its files removed when this
 * cluster deployed it (a replica removed from the spec), and refused
 * otherwise, as when M could not be observed to tell; any other entry is
 * stale. plan_sentinel_steps() resets the sentinels that list either kind.
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
            os && os->reach == REACH_OK ? plan_sentinel_find_master(os, sh->name) : NULL;
        bool listing = false;
        for (size_t k = 0; m && k < m->nreplicas; k++) {
            const struct obs_sentinel_peer *pe = &m->replicas[k];
            if (!pe->ip || plan_shard_find_member(sh, pe->ip, pe->port))
                continue;
            bool unknown = redis_reach(mr) != REACH_OK;
            const char *host;
            /* a master Sentinel lists as a replica: the old master of a failover (a move's
             * included) that Sentinel has not converted yet; a reset now would forget it
             * while it still takes writes */
            const struct obs_redis *er = observed_redis(b->o, pe->ip, pe->port);
            if (redis_is_master(er) && plan_spec_host_for_ip(b->s, pe->ip)) {
                struct plan_refusal *rf = refuse_shard(
                    b, sh,
                    "%s:%d, not a member of %s, runs as a master while sentinel %s:%d lists it "
                    "as a replica of %s: the old master of a failover that Sentinel converts "
                    "to a replica within ~10 s; re-run plan then",
                    pe->ip, pe->port, sh->name, ss->nodes[j].ip, ss->nodes[j].port, sh->name);
                plan_observed_sentinel_replica(b, &rf->source, sh->name, pe->ip, pe->port);
                plan_observed_redis(&rf->source, pe->ip, pe->port, er);
                plan_node_list_release(&stale);
                plan_node_list_release(&removed);
                return false;
            }
            /* a stopped one is what an interrupted removal (or move) left: its files go */
            bool stopped = redis_reach(observed_redis(b->o, pe->ip, pe->port)) == REACH_REFUSED;
            if (!unknown && (replicates_from(b, mr, pe->ip, pe->port, M) || stopped) &&
                plan_deployed_here(b, pe->ip, pe->port, &host)) {
                plan_node_list_add(&removed, host, pe->ip, pe->port);
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
                struct plan_refusal *rf = plan_refuse(b, sh->name, diagnosis(b, sh, headline));
                free(headline);
                plan_observed_sentinel_replica(b, &rf->source, sh->name, pe->ip, pe->port);
                plan_observed_redis(&rf->source, M->ip, M->port, mr);
                if (fr)
                    plan_observed_redis(&rf->source, pe->ip, pe->port, fr);
                plan_node_list_release(&stale);
                plan_node_list_release(&removed);
                return false;
            }
            plan_node_list_add(&stale, pe->ip, pe->ip, pe->port);
            listing = true;
        }
        nlisting += listing;
    }
    if (stale.n) {
        char *nodes = node_list_str(&stale);
        plan_warn(
            b,
            "Sentinel lists %s as %s of %s, but %s not a member of %s and %s not replicate "
            "from its master: a stale entry (a failover could promote it, wiping %s, and "
            "Sentinel re-points it at that master after failover-timeout); the plan resets the "
            "%zu %s that list %s (SENTINEL RESET %s), one at a time",
            nodes, stale.n == 1 ? "a replica" : "replicas", sh->name,
            stale.n == 1 ? "it is" : "they are", sh->name, stale.n == 1 ? "does" : "do", sh->name,
            nlisting, nlisting == 1 ? "sentinel" : "sentinels", stale.n == 1 ? "it" : "them",
            sh->name);
        free(nodes);
    }
    if (removed.n) {
        removed_replica_steps(b, sh, &removed);
        b->reset_late[i] = true;
    }
    plan_node_list_release(&stale);
    plan_node_list_release(&removed);
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
        struct plan_refusal *rf;
        if (source)
            rf = refuse_shard(b, sh,
                         "authentication failed on %zu of %zu redis instances: the password "
                         "from %s does not match the cluster's; rmgr does not rotate "
                         "passwords: change requirepass/masterauth on every node and auth-pass "
                         "on every sentinel first",
                         b->nauth_failed, b->nredis, source);
        else
            rf = refuse_shard(b, sh,
                         "authentication failed on %zu of %zu redis instances: they require a "
                         "password and the spec sets none (auth: password_env or "
                         "password_file); rmgr does not change passwords",
                         b->nauth_failed, b->nredis);
        free(source);
        plan_cite(&rf->source, &au->pos);
        for (size_t j = k; j < shard_nmembers(sh); j++)
            if (redis_reach(observed_redis(b->o, shard_member(sh, j)->ip,
                                           shard_member(sh, j)->port)) == REACH_AUTH)
                refusal_saw_redis(b, rf, shard_member(sh, j));
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
            os && os->reach == REACH_OK ? plan_sentinel_find_master(os, sh->name) : NULL;
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
    plan_addr_copy(&b->p->masters[i], fv.old_master);
    b->p->master_from_sentinel[i] = true;
    b->p->shard_failover[i] = true;
    b->p->shard_waiting[i] = true;
    b->p->waiting++;
    char *what = failover_describe(&fv, true);
    struct step *st =
        plan_add_step(b, STEP_OBSERVED, ACTION_NONE, SAFETY_SAFE, WAVE_FILES, INSTANCE_REDIS,
                      sh->name, fv.promoting ? fv.promoting : fv.old_master,
                      "%s: %s; nothing touches its roles until it ends", sh->name, what);
    st->shard = xstrdup(sh->name);
    if (fv.promoting)
        plan_step_set_master(st, fv.promoting);
    plan_observed_sentinels(b, &st->source, sh->name, NULL, 0);
    if (fv.promoting)
        plan_observed_redis(&st->source, fv.promoting->ip, fv.promoting->port,
                            observed_redis(b->o, fv.promoting->ip, fv.promoting->port));
    free(what);
    return true;
}

/*
 * Work out shard i's current master into plan->masters[i]. Returns false
 * (with a refusal recorded) when it cannot be told safely.
 */
bool plan_shard_truth(struct builder *b, size_t i)
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
        const struct obs_sentinel_master *m = plan_sentinel_find_master(os, sh->name);
        if (!m)
            continue;
        if (view && (view->port != m->port || !str_eq(view->ip, m->ip))) {
            struct plan_refusal *rf =
                refuse_shard(b, sh, "sentinels disagree on the master of %s", sh->name);
            plan_observed_sentinels(b, &rf->source, sh->name, NULL, 0);
            return false;
        }
        view = m;
        nviews++;
    }

    /* a member move: the master Sentinel agrees on has left the spec (plan_move.c) */
    const struct spec_addr *move_to = nviews > 0 ? plan_move_source(b, i, view) : NULL;
    const struct spec_addr *O = move_to ? &b->move_from[i] : NULL;

    /* a replica following something outside the shard is never ours to fix */
    for (size_t k = 0; k < shard_nmembers(sh); k++) {
        const struct spec_addr *a = shard_member(sh, k);
        const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
        if (redis_is_slave(r) && !plan_shard_find_member(sh, r->master_host, r->master_port) &&
            !(O && addr_is(O, r->master_host, r->master_port))) {
            struct plan_refusal *rf =
                refuse_shard(b, sh, "%s:%d replicates from %s:%d, which is not a member of %s",
                             a->ip, a->port, r->master_host ? r->master_host : "?",
                             r->master_port, sh->name);
            refusal_saw_redis(b, rf, a);
            return false;
        }
    }

    if (nviews > 0) {
        M = move_to ? move_to : plan_shard_find_member(sh, view->ip, view->port);
        if (!M) {
            struct plan_refusal *rf = refuse_shard(
                b, sh, "sentinels report %s:%d as master of %s, which is not a member of %s in the spec",
                view->ip ? view->ip : "?", view->port, sh->name, sh->name);
            plan_observed_sentinels(b, &rf->source, sh->name, view->ip, view->port);
            return false;
        }
        bool other_master = false;
        for (size_t k = 0; k < shard_nmembers(sh); k++) {
            const struct spec_addr *a = shard_member(sh, k);
            if (a != M && redis_is_master(observed_redis(b->o, a->ip, a->port)))
                other_master = true;
        }
        if (nviews < (size_t)ss->quorum && !(M == &sh->master && !other_master && !O)) {
            struct plan_refusal *rf = refuse_shard(
                b, sh,
                "no quorum for the master of %s: %zu of %zu sentinels report %s:%d "
                "(quorum %d, %zu unreachable)",
                sh->name, nviews, ss->nnodes, M->ip, M->port, ss->quorum, nunreach);
            plan_cite(&rf->source, &ss->quorum_pos);
            plan_observed_sentinels(b, &rf->source, sh->name, NULL, 0);
            return false;
        }
        from_sentinel = true;
        for (size_t k = 0; k < shard_nmembers(sh); k++) {
            const struct spec_addr *a = shard_member(sh, k);
            if (a != M && redis_is_master(observed_redis(b->o, a->ip, a->port))) {
                /* Sentinel demotes only a node it lists as a replica of the shard */
                struct plan_refusal *rf;
                if (sentinel_lists_replica(b, sh, a))
                    rf = refuse_shard(b, sh,
                                 "%s:%d runs as a second master of %s while Sentinel owns "
                                 "%s:%d; Sentinel lists it as a replica and demotes it "
                                 "(+convert-to-slave) within ~10 s: re-run plan then",
                                 a->ip, a->port, sh->name, M->ip, M->port);
                else
                    rf = refuse_shard(b, sh,
                                 "%s:%d runs as a second master of %s while Sentinel owns "
                                 "%s:%d, and no sentinel lists it, so none will demote it: "
                                 "check which node holds the newest data, then make %s:%d a "
                                 "replica of %s:%d by hand (or fail over to it with SENTINEL "
                                 "FAILOVER after making it a replica)",
                                 a->ip, a->port, sh->name, M->ip, M->port, a->ip, a->port,
                                 M->ip, M->port);
                plan_observed_sentinels(b, &rf->source, sh->name, M->ip, M->port);
                plan_observed_sentinel_replica(b, &rf->source, sh->name, a->ip, a->port);
                refusal_saw_redis(b, rf, a);
                return false;
            }
        }
        const struct obs_redis *mr = observed_redis(b->o, M->ip, M->port);
        if (!O && refuse_replica_master(b, sh, mr, "re-run plan when it settles",
                                  "failover in progress: Sentinel reports %s:%d as master of %s "
                                  "but it",
                                  M->ip, M->port, sh->name))
            return false;
        /* a master left down for Sentinel gets its own warning in plan_redis_steps() */
        bool left_down = redis_reach(mr) == REACH_REFUSED && plan_member_not_down(b->o, sh, M);
        if (view->flags && strstr(view->flags, "down") && !left_down)
            plan_warn(b,
                      "sentinels report %s master %s:%d as down (%s): a failover may be under way",
                      sh->name, M->ip, M->port, view->flags);
        /* during a move the old master still holds the data: entries are judged by it */
        if (!shard_foreign_replicas(b, i, O ? O : M))
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
            struct plan_refusal *rf = refuse_shard(
                b, sh,
                "two masters in %s hold data; rmgr never demotes a node holding data: "
                "decide which one keeps it and make the other a replica by hand",
                sh->name);
            for (size_t k = 0; k < shard_nmembers(sh); k++) {
                const struct spec_addr *a = shard_member(sh, k);
                const struct obs_redis *r = observed_redis(b->o, a->ip, a->port);
                if (redis_is_master(r) && redis_holds_data(r))
                    refusal_saw_redis(b, rf, a);
            }
            plan_observed_sentinels(b, &rf->source, sh->name, NULL, 0);
            return false;
        }
        M = holder ? holder : &sh->master;
        if (M != &sh->master) {
            for (size_t k = 0; k < shard_nmembers(sh); k++) {
                const struct spec_addr *a = shard_member(sh, k);
                enum reach rc = redis_reach(observed_redis(b->o, a->ip, a->port));
                if (reach_unreachable(rc)) {
                    struct plan_refusal *rf = refuse_shard(
                        b, sh,
                        "%s:%d is the only master holding data in %s but %s:%d is "
                        "unreachable, so which node holds the newest data is unknown",
                        M->ip, M->port, sh->name, a->ip, a->port);
                    refusal_saw_redis(b, rf, M);
                    refusal_saw_redis(b, rf, a);
                    return false;
                }
            }
        }
        const struct obs_redis *mr = observed_redis(b->o, M->ip, M->port);
        if (refuse_replica_master(b, sh, mr, "make one node master by hand",
                                  "no member of %s is a master holding data and the spec master "
                                  "%s:%d",
                                  sh->name, M->ip, M->port))
            return false;
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
                    struct plan_refusal *rf = refuse_shard(
                        b, sh,
                        "%s master %s:%d is not running while %s:%d %s and no "
                        "sentinel monitors the shard: starting the master could "
                        "wipe that replica when it resyncs",
                        sh->name, M->ip, M->port, a->ip, a->port, what);
                    free(what);
                    refusal_saw_redis(b, rf, M);
                    refusal_saw_redis(b, rf, a);
                    plan_observed_sentinels(b, &rf->source, sh->name, NULL, 0);
                    return false;
                }
                if (rc != REACH_OK) {
                    struct plan_refusal *rf = refuse_shard(b, sh,
                                 "%s master %s:%d is not running while %s:%d could not be "
                                 "observed (%s) and no sentinel monitors the shard: whether "
                                 "it holds data is unknown, and starting the master could "
                                 "wipe it when it resyncs",
                                 sh->name, M->ip, M->port, a->ip, a->port, reach_name(rc));
                    refusal_saw_redis(b, rf, M);
                    refusal_saw_redis(b, rf, a);
                    plan_observed_sentinels(b, &rf->source, sh->name, NULL, 0);
                    return false;
                }
            }
        }
    }

    plan_addr_copy(&b->p->masters[i], M);
    b->p->master_from_sentinel[i] = from_sentinel;
    if (M != &sh->master) {
        char *m = plan_addr_ipport(M), *sm = plan_addr_ipport(&sh->master);
        struct step *st =
            plan_add_step(b, STEP_OBSERVED, ACTION_NONE, SAFETY_SAFE, WAVE_FILES, INSTANCE_REDIS,
                          sh->name, M, "%s master is %s (%s; spec bootstrap master %s)", sh->name,
                          m, from_sentinel ? "Sentinel-owned" : "the only master holding data", sm);
        st->shard = xstrdup(sh->name);
        plan_step_set_master(st, M);
        if (from_sentinel)
            plan_observed_sentinels(b, &st->source, sh->name, M->ip, M->port);
        else
            plan_observed_redis(&st->source, M->ip, M->port, observed_redis(b->o, M->ip, M->port));
        free(m);
        free(sm);
    }
    return true;
}

