/*
 * reconcile_fleet.c - workers sharing clusters through etcd leases. See
 * reconcile_fleet.h.
 */
#include "reconcile_fleet.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lock_etcd.h"
#include "log.h"
#include "util.h"

struct held {
    char *cluster;
    struct cluster_lock *lock;
};

struct fleet {
    struct etcd_locker *k;
    pthread_mutex_t mu; /* held, nheld (the watcher reads them) */
    struct held *held;
    size_t nheld;
    bool down;          /* etcd did not answer last run: said once */
    char *last_spread;  /* the last "N of M" logged */
};

struct fleet *fleet_new(const struct reconcile_options *o, char **err)
{
    const char *url = lock_url(o->lock);
    if (!url)
        return NULL;
    struct etcd_lock_options eo = o->lock_etcd;
    eo.etcd.url = url;
    struct etcd_locker *k = etcd_locker_new(&eo, err);
    if (!k)
        return NULL;
    struct fleet *f = xcalloc(1, sizeof(*f));
    f->k = k;
    pthread_mutex_init(&f->mu, NULL);
    return f;
}

void fleet_free(struct fleet *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nheld; i++) {
        lock_release(f->held[i].lock);
        free(f->held[i].cluster);
    }
    free(f->held);
    etcd_locker_free(f->k); /* revokes the registration */
    pthread_mutex_destroy(&f->mu);
    free(f->last_spread);
    free(f);
}

const char *fleet_worker(const struct fleet *f)
{
    return etcd_locker_worker(f->k);
}

/* ---- the assignment (pure) -------------------------------------------------------- */

uint64_t fleet_score(const char *worker, const char *cluster)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over worker NUL cluster */
    for (const char *c = worker; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    h = (h ^ 0) * 1099511628211ULL;
    for (const char *c = cluster; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    /* a final mix so that close names do not give close scores */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

struct pair {
    uint64_t score;
    size_t c, w;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    if (x->c != y->c)
        return x->c < y->c ? -1 : 1;
    return x->w < y->w ? -1 : x->w > y->w;
}

void fleet_assign(char *const *clusters, size_t nc, char *const *workers, size_t nw,
                  size_t *owner)
{
    size_t quota = (nc + nw - 1) / nw;
    struct pair *p = xcalloc(nc * nw + 1, sizeof(*p));
    size_t n = 0;
    for (size_t c = 0; c < nc; c++)
        for (size_t w = 0; w < nw; w++)
            p[n++] = (struct pair){fleet_score(workers[w], clusters[c]), c, w};
    qsort(p, n, sizeof(*p), cmp_pair);
    size_t *count = xcalloc(nw + 1, sizeof(*count));
    bool *done = xcalloc(nc + 1, sizeof(*done));
    for (size_t i = 0; i < n; i++) {
        if (done[p[i].c] || count[p[i].w] >= quota)
            continue;
        owner[p[i].c] = p[i].w;
        done[p[i].c] = true;
        count[p[i].w]++;
    }
    free(done);
    free(count);
    free(p);
}

/* ---- holdings ----------------------------------------------------------------------- */

static ssize_t held_index(const struct fleet *f, const char *cluster)
{
    for (size_t i = 0; i < f->nheld; i++)
        if (str_eq(f->held[i].cluster, cluster))
            return (ssize_t)i;
    return -1;
}

/* Forget held[i] (under no lock: the caller holds f->mu), returning its lock. */
static struct cluster_lock *held_remove(struct fleet *f, size_t i)
{
    struct cluster_lock *l = f->held[i].lock;
    free(f->held[i].cluster);
    f->held[i] = f->held[--f->nheld];
    return l;
}

struct cluster_lock *fleet_lock(struct fleet *f, const char *cluster)
{
    pthread_mutex_lock(&f->mu);
    ssize_t i = held_index(f, cluster);
    struct cluster_lock *l = i >= 0 ? f->held[i].lock : NULL;
    pthread_mutex_unlock(&f->mu);
    return l;
}

bool fleet_holds(void *fleet, const char *cluster)
{
    struct fleet *f = fleet;
    pthread_mutex_lock(&f->mu);
    ssize_t i = held_index(f, cluster);
    bool yes = i >= 0 && !etcd_lock_lost(f->held[i].lock);
    pthread_mutex_unlock(&f->mu);
    return yes;
}

/* Drop the lock of `cluster` (logged as `event` with `why`). */
static void drop(struct fleet *f, const char *cluster, const char *commit, enum log_level lvl,
                 const char *event, const char *why)
{
    pthread_mutex_lock(&f->mu);
    ssize_t i = held_index(f, cluster);
    struct cluster_lock *l = i >= 0 ? held_remove(f, (size_t)i) : NULL;
    pthread_mutex_unlock(&f->mu);
    if (!l)
        return;
    log_event(lvl, event, cluster, commit, NULL, 0, "%s", why);
    lock_release(l);
}

static bool named(char *const *names, size_t n, const char *cluster)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq(names[i], cluster))
            return true;
    return false;
}

void fleet_prepare(struct fleet *f, char *const *names, size_t n, const char *commit, bool *mine)
{
    for (size_t i = 0; i < n; i++)
        mine[i] = false;
    if (commit)
        etcd_locker_set_commit(f->k, commit);
    const char *me = fleet_worker(f);
    struct etcd *e = etcd_locker_client(f->k);

    /* 1. this worker registered, and who else is */
    char *err = NULL;
    struct strvec workers = {0};
    if (etcd_worker_register(f->k, &err) < 0 || etcd_workers(e, &workers, &err) < 0) {
        log_event(LOG_ERROR, "etcd-unreachable", NULL, commit, NULL, 0,
                  "not reconciling any cluster this run: %s", err ? err : "etcd did not answer");
        f->down = true;
        free(err);
        strvec_release(&workers);
        return;
    }
    if (f->down)
        log_event(LOG_INFO, "etcd-back", NULL, commit, NULL, 0,
                  "etcd at %s answers again: reconciling", etcd_url(e));
    f->down = false;
    if (!strvec_has(&workers, me))
        strvec_add(&workers, xstrdup(me)); /* registered a moment ago */

    /* 2. the locks still ours: the lease lives and the key has our create revision */
    pthread_mutex_lock(&f->mu);
    struct strvec check = {0};
    for (size_t i = 0; i < f->nheld; i++)
        strvec_add(&check, xstrdup(f->held[i].cluster));
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < check.n; i++) {
        struct cluster_lock *l = fleet_lock(f, check.v[i]);
        char *why = NULL;
        if (l && lock_check(l, &why) < 0) {
            char *msg = xasprintf("%s; not reconciling it until it is taken again", why);
            drop(f, check.v[i], commit, LOG_WARN, "lease-lost", msg);
            free(msg);
        }
        free(why);
    }
    strvec_release(&check);

    /* 3. who takes what */
    size_t *owner = xcalloc(n + 1, sizeof(*owner));
    if (n)
        fleet_assign(names, n, workers.v, workers.n, owner);

    /* 4. give back what is another's (or no longer in the specs) */
    pthread_mutex_lock(&f->mu);
    struct strvec give = {0};
    for (size_t i = 0; i < f->nheld; i++) {
        const char *c = f->held[i].cluster;
        bool keep = false;
        for (size_t k = 0; k < n && !keep; k++)
            keep = str_eq(names[k], c) && str_eq(workers.v[owner[k]], me);
        if (!keep)
            strvec_add(&give, xstrdup(c));
    }
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < give.n; i++) {
        char *why = named(names, n, give.v[i])
                        ? xasprintf("released: %zu live workers, this cluster now goes to "
                                    "another",
                                    workers.n)
                        : xstrdup("released: no spec names this cluster any more");
        drop(f, give.v[i], commit, LOG_INFO, "lock-released", why);
        free(why);
    }
    strvec_release(&give);

    /* 5. take what is ours and free */
    for (size_t i = 0; i < n; i++) {
        if (!str_eq(workers.v[owner[i]], me))
            continue;
        if (fleet_lock(f, names[i])) {
            mine[i] = true;
            continue;
        }
        bool busy = false;
        char *why = NULL;
        struct cluster_lock *l = etcd_lock_acquire(f->k, names[i], 0, false, &busy, &why);
        if (!l) {
            log_event(busy ? LOG_INFO : LOG_WARN, busy ? "lock-busy" : "lock-failed", names[i],
                      commit, NULL, 0, "not reconciling it this run: %s", why ? why : "?");
            free(why);
            continue;
        }
        pthread_mutex_lock(&f->mu);
        f->held = xrealloc(f->held, (f->nheld + 1) * sizeof(*f->held));
        f->held[f->nheld++] = (struct held){xstrdup(names[i]), l};
        pthread_mutex_unlock(&f->mu);
        log_event(LOG_INFO, "lock-taken", names[i], commit, NULL, 0,
                  "took " ETCD_LOCK_PREFIX "%s as worker %s", names[i], me);
        mine[i] = true;
    }
    size_t cnt = 0, quota = n ? (n + workers.n - 1) / workers.n : 0;
    for (size_t i = 0; i < n; i++)
        cnt += mine[i];
    char *spread = xasprintf("worker %s reconciles %zu of %zu clusters (%zu live workers, at "
                             "most %zu each)",
                             me, cnt, n, workers.n, quota);
    if (!str_eq(spread, f->last_spread))
        log_event(LOG_INFO, "fleet", NULL, commit, NULL, 0, "%s", spread);
    free(f->last_spread);
    f->last_spread = spread;
    free(owner);
    strvec_release(&workers);
}
