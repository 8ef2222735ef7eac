/*
 * watch_events.c - what the sentinels' messages do to a cluster's records:
 * a quorum's +switch-master, the events of a failover episode (--repoint-at
 * promotion), and the promotion a ROLE poll saw (watch_impl.h). Runs on
 * the loop thread.
 */
#include "watch_impl.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "watch_episode.h"

/* Tell the team an episode did not end as the early repoint assumed. Under w->mu. */
static void report_unexpected(struct watch *w, struct wcluster *c, size_t si,
                              const char *old_master, const char *new_master, const char *what)
{
    const char *shard = c->conf->spec->shards[si].name;
    struct log_field f[] = {{"shard", shard}, {"master", new_master}, {"old_master", old_master}};
    log_event(LOG_WARN, "promotion-unexpected", c->name, c->conf->commit, f, ARRAY_SIZE(f),
              "shard %s: %s", shard, what);
    struct watch_event ev = {.kind = WATCH_EPISODE_UNEXPECTED, .cluster = c->name,
                             .commit = c->conf->commit, .subject = c->conf->subject,
                             .shard = shard, .old_master = old_master,
                             .new_master = new_master, .error = what};
    if (w->o.on_event)
        w->o.on_event(&ev, w->o.arg); /* only queues: fine under the lock */
}

/* One +switch-master from the sentinel behind `cn`; runs on the loop thread. */
void watch_on_switch(struct watch *w, struct wconn *cn, const char *payload, long long at_us)
{
    char *shard = NULL, *nip = NULL, *oip = NULL;
    int nport = 0, oport = 0;
    if (watch_parse_switch(payload, &shard, &nip, &nport, &oip, &oport) < 0) {
        char *commit = watch_cluster_commit(w, cn->cluster);
        log_event(LOG_WARN, "switch-master", cn->cluster, commit, NULL, 0,
                  "ignoring a malformed +switch-master from %s:%d", cn->ip, cn->port);
        free(commit);
        return;
    }
    char *addr = xasprintf("%s:%d", nip, nport);
    char *from = xasprintf("%s:%d", cn->ip, cn->port);
    bool stop_poll = false;
    pthread_mutex_lock(&w->mu);
    struct wcluster *c = watch_find_cluster(w, cn->cluster);
    const struct spec *s = c ? c->conf->spec : NULL;
    int si = s ? watch_shard_index(s, shard) : -1;
    int ni = s ? watch_sentinel_index(s, cn->ip, cn->port) : -1;
    const char *commit = c ? c->conf->commit : NULL;
    struct log_field f[] = {{"shard", shard}, {"master", addr}, {"sentinel", from}};
    log_event(LOG_INFO, "switch-master", cn->cluster, commit, f, ARRAY_SIZE(f),
              "sentinel %s announces %s as master of %s (was %s:%d)", from, addr, shard, oip,
              oport);
    if (si < 0 || ni < 0)
        goto out;
    char **row = &c->reports[(size_t)si * c->nsentinels];
    free(row[ni]);
    row[ni] = xstrdup(addr);
    /* only the address this message names can have just reached a quorum: the others'
       rows may still hold the last failover's announcements */
    const char *q = watch_quorum_reached(row, c->nsentinels, s->sentinel.quorum, addr)
                        ? row[ni]
                        : NULL;
    struct wep_shard *ep = &c->episodes[si];
    if (q && (ep->repointed || !str_eq(q, c->current[si]))) {
        /* the quorum ends the episode: confirmed, or another master to follow */
        struct wep_event e = {.kind = WEP_SWITCH, .sentinel = -1, .addr = q};
        struct wep_result r = wep_feed(ep, &e);
        stop_poll = r.action == WEP_STOP_POLL;
        if (r.outcome == WEP_CONFIRMED) {
            char gap[32];
            snprintf(gap, sizeof(gap), "%.2f", (double)(at_us - c->early_us[si]) / 1000.0);
            struct log_field g[] = {{"shard", shard}, {"master", q}, {"early_ms", gap}};
            log_event(LOG_INFO, "promotion-confirmed", c->name, commit, g, ARRAY_SIZE(g),
                      "a quorum of %d sentinels agree: %s is the master of %s; the proxies "
                      "serve it since its promotion, %s ms before this +switch-master",
                      s->sentinel.quorum, q, shard, gap);
        } else if (r.outcome == WEP_DIVERGED) {
            char *what = xasprintf("the quorum's +switch-master names %s, not %s where the "
                                   "proxies were repointed at its promotion: following the "
                                   "quorum (repointing again)", q, r.previous);
            report_unexpected(w, c, (size_t)si, r.previous, q, what);
            free(what);
        }
    }
    if (!q || str_eq(q, c->current[si]))
        goto out;
    if (spec_shard_of(s, nip, nport) != &s->shards[si]) {
        if (!str_eq(c->refused[si], q)) {
            log_event(LOG_ERROR, "failover-refused", c->name, commit, f, ARRAY_SIZE(f),
                      "sentinels promoted %s, which the spec does not list in shard %s: "
                      "not repointing the proxies", q, shard);
            free(c->refused[si]);
            c->refused[si] = xstrdup(q);
        }
        goto out;
    }
    if (w->o.may_repoint && !w->o.may_repoint(w->o.fleet, c->name)) { /* fleet: holder only */
        log_event(LOG_INFO, "failover", c->name, commit, f, ARRAY_SIZE(f),
                  "%s is the master of %s; another worker holds the lease: not repointing", q,
                  shard);
        free(c->current[si]);
        c->current[si] = xstrdup(q);
        goto out;
    }
    if (w->o.report_only) {
        log_event(LOG_WARN, "failover", c->name, commit, f, ARRAY_SIZE(f),
                  "a quorum of %d sentinels agree: %s is the master of %s; not repointing "
                  "the proxies (report only: no --apply)", s->sentinel.quorum, q, shard);
        struct watch_event ev = {.kind = WATCH_FAILOVER_SEEN, .cluster = c->name,
                                 .commit = commit, .subject = c->conf->subject, .shard = shard,
                                 .old_master = c->current[si], .new_master = q};
        if (w->o.on_event)
            w->o.on_event(&ev, w->o.arg); /* only queues: fine under the lock */
        free(c->current[si]);
        c->current[si] = xstrdup(q);
        goto out;
    }
    log_event(LOG_INFO, "failover", c->name, commit, f, ARRAY_SIZE(f),
              "a quorum of %d sentinels agree: %s is the master of %s; repointing the proxies",
              s->sentinel.quorum, q, shard);
    watch_queue_repoint(c, (size_t)si, q, at_us, "the quorum's +switch-master");
out:
    pthread_mutex_unlock(&w->mu);
    if (stop_poll)
        watch_poll_stop(w, cn->cluster, (size_t)si);
    free(addr);
    free(from);
    free(shard);
    free(nip);
    free(oip);
}

/* ---------------------------------------------------------------- episodes */

/*
 * One event of a failover episode (--repoint-at promotion) from the
 * sentinel behind `cn`: fed to the shard's episode, whose result starts or
 * stops a ROLE poll. Runs on the loop thread.
 */
void watch_on_episode_event(struct watch *w, struct wconn *cn, const char *channel,
                            const char *payload)
{
    char *name = NULL, *master = NULL, *addr = NULL;
    if (wep_parse_payload(payload, &name, &master, &addr) < 0)
        return; /* +odown of a sentinel or junk: not a shard's */
    enum wep_kind kind;
    if (str_eq(channel, "+odown"))
        kind = WEP_ODOWN;
    else if (str_eq(channel, "-odown"))
        kind = WEP_ODOWN_CLEARED;
    else if (str_eq(channel, "+elected-leader"))
        kind = WEP_LEADER;
    else if (str_eq(channel, "+selected-slave") ||
             str_eq(channel, "+failover-state-send-slaveof-noone"))
        kind = WEP_SELECTED;
    else if (!strncmp(channel, "-failover-abort-", 16))
        kind = WEP_ABORT;
    else
        goto done;
    char *from = xasprintf("%s:%d", cn->ip, cn->port);
    char *poll_addr = NULL;
    long long fo_timeout = 0;
    enum wep_action act = WEP_NOTHING;
    int si = -1;
    pthread_mutex_lock(&w->mu);
    struct wcluster *c = watch_find_cluster(w, cn->cluster);
    const struct spec *s = c ? c->conf->spec : NULL;
    si = s ? watch_shard_index(s, name) : -1;
    int ni = s ? watch_sentinel_index(s, cn->ip, cn->port) : -1;
    if (si >= 0 && ni >= 0) {
        struct log_field f[] = {{"shard", name}, {"sentinel", from}, {"master", master},
                                {"replica", addr}};
        log_event(kind == WEP_ABORT ? LOG_WARN : LOG_INFO, "sentinel-event", c->name,
                  c->conf->commit, f, ARRAY_SIZE(f), "sentinel %s published %s %s", from,
                  channel, payload);
        bool may = !w->o.report_only &&
                   (!w->o.may_repoint || w->o.may_repoint(w->o.fleet, c->name));
        const struct spec_shard *member = NULL;
        if (addr) {
            char *colon = strrchr(addr, ':');
            *colon = '\0';
            member = spec_shard_of(s, addr, atoi(colon + 1));
            *colon = ':';
        }
        struct wep_event e = {.kind = kind, .sentinel = ni, .master = master, .addr = addr,
                              .member = member == &s->shards[si], .detail = channel};
        struct wep_result r = may ? wep_feed(&c->episodes[si], &e)
                                  : (struct wep_result){WEP_NOTHING, WEP_QUIET, NULL, NULL};
        act = r.action;
        if (act == WEP_POLL) {
            poll_addr = xstrdup(r.target);
            fo_timeout = s->sentinel.failover_timeout_ms;
        }
        if (r.outcome == WEP_ABORTED || r.outcome == WEP_RESELECTED) {
            char *what = r.outcome == WEP_ABORTED
                ? xasprintf("%s by sentinel %s after the proxies were repointed at %s's "
                            "promotion: following the quorum (the next +switch-master)",
                            channel, from, r.previous)
                : xasprintf("a new election selected %s after the proxies were repointed at "
                            "%s's promotion: following the new selection and the quorum",
                            addr, r.previous);
            report_unexpected(w, c, (size_t)si, r.previous, addr, what);
            free(what);
        }
    }
    pthread_mutex_unlock(&w->mu);
    if (act == WEP_POLL)
        watch_poll_start(w, cn->cluster, (size_t)si, poll_addr, fo_timeout);
    else if (act == WEP_STOP_POLL)
        watch_poll_stop(w, cn->cluster, (size_t)si);
    free(poll_addr);
    free(from);
done:
    free(name);
    free(master);
    free(addr);
}

/* The selected member answered ROLE master: repoint now if the episode agrees. */
void watch_on_promoted(struct watch *w, const char *cluster, size_t si, const char *addr,
                       long long at_us, long long poll_start_us)
{
    pthread_mutex_lock(&w->mu);
    struct wcluster *c = watch_find_cluster(w, cluster);
    if (c && si < c->nshards && !w->o.report_only) {
        struct wep_event e = {.kind = WEP_PROMOTED, .sentinel = -1, .addr = addr};
        struct wep_result r = wep_feed(&c->episodes[si], &e);
        if (r.action == WEP_REPOINT && !str_eq(r.target, c->current[si])) {
            const char *shard = c->conf->spec->shards[si].name;
            char since[32];
            snprintf(since, sizeof(since), "%.2f", (double)(at_us - poll_start_us) / 1000.0);
            struct log_field f[] = {{"shard", shard}, {"master", addr},
                                    {"polled_ms", since}};
            log_event(LOG_INFO, "promoted", c->name, c->conf->commit, f, ARRAY_SIZE(f),
                      "%s, selected by Sentinel's leader, answers ROLE master (%s ms after "
                      "the selection): repointing the proxies before the quorum's "
                      "+switch-master", addr, since);
            c->early_us[si] = at_us;
            watch_queue_repoint(c, si, addr, at_us, "the promotion");
        }
    }
    pthread_mutex_unlock(&w->mu);
}
