/*
 * failover.c - a Sentinel failover under way, read off the observed model
 * (failover.h). Pure: the planner and apply's wait loop both use it.
 */
#include "failover.h"

#include <string.h>

#include "util.h"

/* Whether the comma-separated `flags` has `flag` as one of its words. */
static bool has_flag(const char *flags, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = flags; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, flag, n))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static const struct spec_addr *member_at(const struct spec_shard *sh, const char *ip, int port)
{
    if (!ip)
        return NULL;
    if (sh->master.port == port && str_eq(sh->master.ip, ip))
        return &sh->master;
    for (size_t k = 0; k < sh->nreplicas; k++)
        if (sh->replicas[k].port == port && str_eq(sh->replicas[k].ip, ip))
            return &sh->replicas[k];
    return NULL;
}

static bool answers_master(const struct observed *o, const struct spec_addr *a)
{
    const struct obs_redis *r = a ? observed_redis(o, a->ip, a->port) : NULL;
    return r && r->reach == REACH_OK && str_eq(r->role, "master");
}

/*
 * Whether rmgr finds nothing listening at member a: the process is not running. A
 * sentinel that has only just (re)connected has not flagged such a master down yet
 * (Sentinel waits down-after first; a sentinel back from a stop is in TILT for 30 s).
 */
static bool not_running(const struct observed *o, const struct spec_addr *a)
{
    const struct obs_redis *r = a ? observed_redis(o, a->ip, a->port) : NULL;
    return r && r->reach == REACH_REFUSED;
}

static const struct obs_sentinel_master *shard_entry(const struct obs_sentinel *os,
                                                     const char *name)
{
    if (!os || os->reach != REACH_OK)
        return NULL;
    for (size_t i = 0; i < os->nmasters; i++)
        if (str_eq(os->masters[i].name, name))
            return &os->masters[i];
    return NULL;
}

/*
 * What spec sentinel j reports for shard sh (NULL: unreachable, or not monitoring it);
 * *named gets the member it names as master, else *leaving: the first node outside the
 * shard a sentinel names (recorded there), the master a member move leaves; NULL when it
 * names a second node outside the shard.
 */
static const struct obs_sentinel_master *sentinel_view(const struct spec *s,
                                                       const struct observed *o, size_t j,
                                                       const struct spec_shard *sh,
                                                       struct spec_addr *leaving,
                                                       const struct spec_addr **named)
{
    const struct spec_addr *a = &s->sentinel.nodes[j];
    const struct obs_sentinel_master *m = shard_entry(observed_sentinel(o, a->ip, a->port),
                                                      sh->name);
    *named = m ? member_at(sh, m->ip, m->port) : NULL;
    if (m && !*named && m->ip) {
        if (!leaving->ip)
            *leaving = (struct spec_addr){.host = m->ip, .ip = m->ip, .port = m->port};
        if (leaving->port == m->port && str_eq(leaving->ip, m->ip))
            *named = leaving;
    }
    return m;
}

/* A member that sentinel entry m flags as promoted among its replicas, or NULL. */
static const struct spec_addr *promoted_in(const struct spec_shard *sh,
                                           const struct obs_sentinel_master *m)
{
    for (size_t k = 0; k < m->nreplicas; k++)
        if (has_flag(m->replicas[k].flags, "promoted"))
            return member_at(sh, m->replicas[k].ip, m->replicas[k].port);
    return NULL;
}

/*
 * The epoch of the vote that made the sentinel at leader_ip:leader_port the
 * leader, as the leader records its peers' votes (entry m). A sentinel's
 * vote names the leader's Sentinel id, which only the other sentinels' peer
 * lists tell: INFO's run_id is another id.
 */
static long long vote_epoch(const struct spec *s, const struct observed *o,
                            const struct obs_sentinel_master *m, const char *shard,
                            const struct spec_addr *leader)
{
    const char *myid = NULL;
    for (size_t j = 0; j < s->sentinel.nnodes && !myid; j++) {
        const struct spec_addr *a = &s->sentinel.nodes[j];
        const struct obs_sentinel_master *pm = shard_entry(observed_sentinel(o, a->ip, a->port), shard);
        for (size_t k = 0; pm && k < pm->nsentinels && !myid; k++)
            if (pm->sentinels[k].port == leader->port && str_eq(pm->sentinels[k].ip, leader->ip))
                myid = pm->sentinels[k].runid;
    }
    long long epoch = 0;
    for (size_t k = 0; myid && k < m->nsentinels; k++)
        if (str_eq(m->sentinels[k].voted_leader, myid) && m->sentinels[k].voted_leader_epoch > epoch)
            epoch = m->sentinels[k].voted_leader_epoch;
    return epoch;
}

bool failover_detect(const struct spec *s, const struct observed *o, size_t shard,
                     struct failover_view *fv)
{
    const struct spec_shard *sh = &s->shards[shard];
    const struct spec_sentinel *ss = &s->sentinel;
    struct failover_view v = {.elapsed_ms = -1};
    const struct spec_addr *down = NULL;  /* a master some sentinel flags down */
    const struct spec_addr *newest = NULL;/* the master named with the highest epoch */
    long long newest_epoch = -1, down_epoch = -1;
    bool odown = false;

    /* pass 1: the leader, the master being replaced, and what is flagged */
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct spec_addr *named;
        const struct obs_sentinel_master *m = sentinel_view(s, o, j, sh, &v.leaving, &named);
        if (!m)
            continue;
        if (!named)
            return false; /* two masters outside the shard: not ours to explain */
        v.sentinels++;
        /* down as this sentinel reports it, or a master behind the newest epoch that is
           not running (Sentinel's hello messages bring the sentinel the newer one) */
        bool is_down = has_flag(m->flags, "s_down") || has_flag(m->flags, "o_down") ||
                       not_running(o, named);
        if (has_flag(m->flags, "failover_in_progress") && !v.leader) {
            v.leader = &ss->nodes[j];
            v.old_master = named;
            v.state = m->failover_state;
            v.promoting = promoted_in(sh, m);
            v.epoch = vote_epoch(s, o, m, sh->name, &ss->nodes[j]);
            v.elapsed_ms = m->odown_ms;
        }
        if (has_flag(m->flags, "o_down")) {
            odown = true;
            if (m->odown_ms > v.elapsed_ms && !v.leader)
                v.elapsed_ms = m->odown_ms;
        }
        if (is_down && (!down || m->config_epoch < down_epoch)) {
            down = named;
            down_epoch = m->config_epoch;
        }
        if (m->config_epoch > newest_epoch) {
            newest = named;
            newest_epoch = m->config_epoch;
        }
        if (!v.promoting) {
            const struct spec_addr *p = promoted_in(sh, m);
            if (p)
                v.promoting = p;
        }
    }
    if (!v.sentinels)
        return false;

    if (!v.leader) {
        if (!down)
            return false; /* no sentinel thinks the master is down: nothing is moving */
        v.old_master = down;
        if (newest && newest != down && newest_epoch > down_epoch && answers_master(o, newest))
            v.promoting = newest; /* the new configuration is spreading */
        else if (!odown)
            return false;         /* s_down alone, by fewer than a quorum: no failover */
        if (!v.promoting) {
            /* o_down: the member that already took the role, if exactly one did */
            for (size_t k = 0; k <= sh->nreplicas; k++) {
                const struct spec_addr *a = k ? &sh->replicas[k - 1] : &sh->master;
                if (a == down || !answers_master(o, a))
                    continue;
                if (v.promoting)
                    return false; /* two candidates: not a failover rmgr can explain */
                v.promoting = a;
            }
            if (!v.promoting)
                return false;     /* down, but nobody promoted yet: the planner's "master down" */
        }
        /* without a leader's word, an old master that answers as a master is a second
           master, not a failover (a leader may fail over a live one: SENTINEL FAILOVER) */
        if (answers_master(o, v.old_master))
            return false;
    }
    if (v.promoting == v.old_master)
        v.promoting = NULL;
    /* a node outside the shard is only ever the master being replaced */
    if (v.leaving.ip && v.old_master != &v.leaving)
        return false;

    /* pass 2: every sentinel names the old master or the promoted one */
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct spec_addr *named;
        if (!sentinel_view(s, o, j, sh, &v.leaving, &named))
            continue;
        if (named == v.old_master)
            continue;
        if (!v.promoting && named != &v.leaving && answers_master(o, named))
            v.promoting = named; /* switched before the leader flagged the replica */
        if (named != v.promoting)
            return false;
        v.switched++;
    }
    *fv = v;
    if (v.old_master == &v.leaving)
        fv->old_master = &fv->leaving; /* into *fv, not this frame */
    return true;
}

char *failover_describe(const struct failover_view *fv, bool with_time)
{
    struct strbuf sb = {0};
    sb_add(&sb, "Sentinel failover in progress (");
    if (fv->leader)
        sb_addf(&sb, "leader %s:%d", fv->leader->ip, fv->leader->port);
    else
        sb_add(&sb, "leader not seen");
    if (fv->epoch > 0)
        sb_addf(&sb, ", epoch %lld", fv->epoch);
    if (fv->state)
        sb_addf(&sb, ", state %s", fv->state);
    if (fv->promoting)
        sb_addf(&sb, ", promoting %s:%d", fv->promoting->ip, fv->promoting->port);
    else
        sb_add(&sb, ", no replica selected yet");
    if (fv->switched)
        sb_addf(&sb, ", %zu of %zu sentinels switched", fv->switched, fv->sentinels);
    if (with_time && fv->elapsed_ms >= 0)
        sb_addf(&sb, ", %lld.%lld s so far", fv->elapsed_ms / 1000, fv->elapsed_ms % 1000 / 100);
    sb_add(&sb, ")");
    return sb_detach(&sb);
}

bool failover_held_off(const struct spec *s, const struct observed *o, size_t shard,
                       struct failover_hold *fh)
{
    const struct spec_sentinel *ss = &s->sentinel;
    struct failover_hold h = {.odown_ms = -1, .timeout_ms = ss->failover_timeout_ms};
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct spec_addr *a = &ss->nodes[j];
        const struct obs_sentinel_master *m =
            shard_entry(observed_sentinel(o, a->ip, a->port), s->shards[shard].name);
        if (!m)
            continue;
        if (has_flag(m->flags, "failover_in_progress"))
            return false; /* an attempt is running: failover_detect() says which */
        if (has_flag(m->flags, "o_down") && m->odown_ms > h.odown_ms) {
            h.odown_ms = m->odown_ms;
            if (m->failover_timeout_ms > 0)
                h.timeout_ms = m->failover_timeout_ms;
        }
    }
    long election = h.timeout_ms < SENTINEL_ELECTION_TIMEOUT_MS ? h.timeout_ms
                                                                : SENTINEL_ELECTION_TIMEOUT_MS;
    if (h.odown_ms < 0 || h.odown_ms <= election + 2 * SENTINEL_START_JITTER_MS)
        return false;
    /* the last attempt began before the master went o_down, or within the jitter after */
    h.retry_in_ms = 2LL * h.timeout_ms + SENTINEL_START_JITTER_MS - h.odown_ms;
    if (h.retry_in_ms < 0)
        h.retry_in_ms = 0;
    *fh = h;
    return true;
}

char *failover_hold_describe(const struct failover_hold *fh, bool with_time)
{
    struct strbuf sb = {0};
    sb_add(&sb, "no sentinel is failing it over");
    if (with_time)
        sb_addf(&sb, " (o_down for %lld.%lld s)", fh->odown_ms / 1000, fh->odown_ms % 1000 / 100);
    sb_addf(&sb,
            ": Sentinel abandoned an attempt (no sentinel won a majority of the votes, or no "
            "replica was eligible: the sentinels' logs say -failover-abort-*) or failed this "
            "shard over less than 2 x failover-timeout ago; it tries again at the latest "
            "%ld.%ld s (2 x failover-timeout) after the master went down",
            2 * fh->timeout_ms / 1000, 2 * fh->timeout_ms % 1000 / 100);
    if (with_time)
        sb_addf(&sb, ", in about %lld s", (fh->retry_in_ms + 999) / 1000);
    return sb_detach(&sb);
}
