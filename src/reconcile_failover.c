/*
 * reconcile_failover.c - the masters each cluster's shards had at the last
 * look, and the failovers noticed between looks or by the watcher, told to
 * the team once. See reconcile_impl.h.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reconcile_impl.h"
#include "util.h"

/* ---- failovers -------------------------------------------------------------- */

static struct known_cluster *known_find(struct reconciler *r, const char *name)
{
    for (struct known_cluster *k = r->known; k; k = k->next)
        if (str_eq(k->name, name))
            return k;
    return NULL;
}

void reconcile_known_free(struct known_cluster *k)
{
    for (size_t i = 0; i < k->n; i++) {
        free(k->shards[i]);
        free(k->masters[i]);
    }
    free(k->shards);
    free(k->masters);
    free(k->name);
    free(k);
}

/* The master last remembered for `shard`, or NULL. Under r->mu. */
static const char *known_master(struct reconciler *r, const char *cluster, const char *shard)
{
    struct known_cluster *k = known_find(r, cluster);
    for (size_t i = 0; k && i < k->n; i++)
        if (str_eq(k->shards[i], shard))
            return k->masters[i];
    return NULL;
}

/*
 * Remember the master of `shard`; returns the previous one (caller frees)
 * when it was known and differs, else NULL. Under r->mu.
 */
static char *known_update(struct reconciler *r, const char *cluster, const char *shard,
                          const char *master)
{
    struct known_cluster *k = known_find(r, cluster);
    if (!k) {
        k = xcalloc(1, sizeof(*k));
        k->name = xstrdup(cluster);
        k->next = r->known;
        r->known = k;
    }
    for (size_t i = 0; i < k->n; i++) {
        if (!str_eq(k->shards[i], shard))
            continue;
        if (str_eq(k->masters[i], master))
            return NULL;
        char *old = k->masters[i];
        k->masters[i] = xstrdup(master);
        return old;
    }
    k->shards = xrealloc(k->shards, (k->n + 1) * sizeof(char *));
    k->masters = xrealloc(k->masters, (k->n + 1) * sizeof(char *));
    k->shards[k->n] = xstrdup(shard);
    k->masters[k->n] = xstrdup(master);
    k->n++;
    return NULL;
}

/* Whether the watcher announced a failover of `cluster` since the last call (cleared). */
bool reconcile_take_announced(struct reconciler *r, const char *cluster)
{
    pthread_mutex_lock(&r->mu);
    struct known_cluster *k = known_find(r, cluster);
    bool a = k && k->announced;
    if (k)
        k->announced = false;
    pthread_mutex_unlock(&r->mu);
    return a;
}

/* The watcher repointed (or failed to): log nothing more, tell the team. */
void reconcile_on_watch_event(const struct watch_event *ev, void *arg)
{
    struct reconciler *r = arg;
    pthread_mutex_lock(&r->mu);
    /* an unexpected episode names no settled master: the quorum's repoint will */
    char *old = ev->kind == WATCH_EPISODE_UNEXPECTED || !ev->new_master
                    ? NULL
                    : known_update(r, ev->cluster, ev->shard, ev->new_master);
    struct known_cluster *k = known_find(r, ev->cluster);
    if (k && ev->kind == WATCH_REPOINTED)
        k->announced = true;
    if (ev->kind == WATCH_REPOINTED)
        r->run_soon = true;
    pthread_mutex_unlock(&r->mu);
    metrics_count_failovers(r->metrics, ev->cluster, 1);
    free(old);
    const char *old_master = ev->old_master ? ev->old_master : "(unknown)";
    char *summary = NULL; /* every kind has its case: -Wswitch names a missing one */
    switch (ev->kind) {
    case WATCH_REPOINTED:
        summary = xasprintf("Failover: shard %s master %s -> %s; proxies repointed in %.1f ms.",
                            ev->shard, old_master, ev->new_master, ev->took_ms);
        break;
    case WATCH_REPOINT_FAILED:
        summary = xasprintf("Failover: shard %s master %s -> %s; repointing the proxies "
                            "failed: %s",
                            ev->shard, old_master, ev->new_master,
                            ev->error ? ev->error : "unknown error");
        break;
    case WATCH_EPISODE_UNEXPECTED:
        summary = xasprintf("Failover: shard %s: %s.", ev->shard,
                            ev->error ? ev->error : "the failover did not end as expected");
        break;
    case WATCH_FAILOVER_SEEN:
        summary = xasprintf("Failover: shard %s master %s -> %s; proxies not repointed "
                            "(report only).",
                            ev->shard, old_master, ev->new_master);
        break;
    }
    reconcile_queue_event(r, NOTIFY_FAILOVER_OBSERVED, ev->cluster, ev->commit, ev->subject, summary,
                          NULL);
    free(summary);
}

/*
 * After a plan: note masters Sentinel moved since the last look (a failover
 * the watcher did not report), and give the watcher its baseline.
 */
void reconcile_note_masters(struct reconciler *r, const struct spec *s, const struct plan *p,
                            const char *commit, const char *subject, unsigned long gen,
                            char **held)
{
    if (p->nrefusals || !p->masters)
        return;
    if (r->watch && watch_generation(r->watch, s->cluster) != gen)
        return; /* a repoint happened meanwhile: this plan's masters may be older */
    struct strbuf changes = {0};
    /* a shard Sentinel is failing over has no settled master yet: the plan works
       with the old one, which must neither count as a fail-back nor reach the watcher */
    struct spec_addr *settled = xcalloc(s->nshards + 1, sizeof(*settled));
    unsigned nchanged = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < s->nshards; i++) {
        if (!p->masters[i].ip)
            continue;
        bool waiting = p->shard_waiting && p->shard_waiting[i];
        /* ... but a first sight of it is the baseline the failover is told against */
        if (waiting && known_master(r, s->cluster, s->shards[i].name))
            continue;
        if (!waiting)
            settled[i] = p->masters[i];
        char *m = xasprintf("%s:%d", p->masters[i].ip, p->masters[i].port);
        char *old = known_update(r, s->cluster, s->shards[i].name, m);
        if (old && p->master_from_sentinel && p->master_from_sentinel[i])
            nchanged++;
        if (old && p->master_from_sentinel && p->master_from_sentinel[i])
            sb_addf(&changes, "%sshard %s master %s -> %s", changes.len ? "; " : "",
                    s->shards[i].name, old, m);
        free(old);
        free(m);
    }
    pthread_mutex_unlock(&r->mu);
    if (nchanged)
        metrics_count_failovers(r->metrics, s->cluster, nchanged);
    if (r->watch)
        watch_set_masters(r->watch, s->cluster, settled, s->nshards, gen);
    free(settled);
    if (changes.len) {
        log_event(LOG_INFO, "failover-observed", s->cluster, commit, NULL, 0, "%s",
                  changes.buf);
        char *summary = xasprintf("Failover observed: %s.", changes.buf);
        if (held) {
            /* the caller heals it first and posts one message for all: failovers
               that overlapped in one run are told together */
            if (*held) {
                char *both = xasprintf("%s %s", *held, summary);
                free(*held);
                free(summary);
                summary = both;
            }
            *held = summary;
        } else {
            reconcile_queue_event(r, NOTIFY_FAILOVER_OBSERVED, s->cluster, commit, subject, summary,
                                  NULL);
            free(summary);
        }
    }
    sb_release(&changes);
}
