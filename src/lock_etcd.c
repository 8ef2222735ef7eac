/*
 * lock_etcd.c - cluster locks and worker registrations as etcd leases. See
 * lock_etcd.h.
 */
#include "lock_etcd.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* A lease this process keeps alive. */
struct lease {
    long long id;
    long long ok_ms; /* when the last renewal that etcd accepted was sent */
    bool lost;       /* etcd said it is gone */
    struct lease *next;
};

struct etcd_locker {
    struct etcd *e;
    long ttl_ms;
    char *worker;
    char *host;
    pthread_mutex_t mu; /* leases, commit, registration */
    pthread_cond_t cv;
    struct lease *leases;
    char *commit;
    bool quit;
    pthread_t tid;
    bool started;
    struct lease *reg; /* the worker registration's lease, NULL until registered */
    long long *orphans; /* leases dropped while etcd did not answer: revoked later */
    size_t norphans;
};

struct etcd_lock {
    struct cluster_lock base;
    struct etcd_locker *k;
    struct lease *lease;
    char *key;
    long long revision; /* the key's create revision: the fencing token */
    bool own_locker;
};

const char *lock_url(const char *option)
{
    if (option && *option)
        return option;
    const char *env = getenv("RMGR_LOCK");
    return env && *env ? env : NULL;
}

/* ---- leases ------------------------------------------------------------------ */

static bool lease_gone(const struct etcd_locker *k, const struct lease *l, long long now)
{
    return l->lost || now - l->ok_ms >= k->ttl_ms;
}

/* Renew lease `id` once. 1 renewed, 0 etcd says it is gone, -1 etcd not reached. */
static int keepalive_once(struct etcd_locker *k, long long id)
{
    char *err = NULL;
    json_t *ans = etcd_call(k->e, "/v3/lease/keepalive", json_pack("{s:o}", "ID", etcd_int_json(id)),
                            &err);
    free(err);
    if (!ans)
        return -1;
    json_t *res = json_object_get(ans, "result");
    int rc = etcd_int(res ? res : ans, "TTL") > 0 ? 1 : 0;
    json_decref(ans);
    return rc;
}

static void *keepalive_thread(void *arg)
{
    struct etcd_locker *k = arg;
    long period = k->ttl_ms / 3 > 100 ? k->ttl_ms / 3 : 100;
    pthread_mutex_lock(&k->mu);
    while (!k->quit) {
        size_t n = 0;
        for (struct lease *l = k->leases; l; l = l->next)
            n++;
        long long *ids = xcalloc(n + 1, sizeof(*ids));
        n = 0;
        for (struct lease *l = k->leases; l; l = l->next)
            if (!l->lost)
                ids[n++] = l->id;
        pthread_mutex_unlock(&k->mu);
        for (size_t i = 0; i < n; i++) {
            long long sent = now_ms();
            int rc = keepalive_once(k, ids[i]);
            pthread_mutex_lock(&k->mu);
            for (struct lease *l = k->leases; l; l = l->next)
                if (l->id == ids[i]) {
                    if (rc > 0 && !lease_gone(k, l, sent))
                        l->ok_ms = sent;
                    else if (rc == 0)
                        l->lost = true;
                }
            pthread_mutex_unlock(&k->mu);
        }
        free(ids);
        pthread_mutex_lock(&k->mu);
        if (k->quit)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ns = ts.tv_nsec + (period % 1000) * 1000000LL;
        ts.tv_sec += period / 1000 + ns / 1000000000LL;
        ts.tv_nsec = ns % 1000000000LL;
        pthread_cond_timedwait(&k->cv, &k->mu, &ts);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

/* Grant a lease of the TTL, kept alive from now. NULL with *err. */
static struct lease *lease_grant(struct etcd_locker *k, char **err)
{
    long long sent = now_ms();
    long secs = (k->ttl_ms + 999) / 1000;
    json_t *ans = etcd_call(k->e, "/v3/lease/grant",
                            json_pack("{s:I, s:I}", "TTL", (json_int_t)secs, "ID", (json_int_t)0),
                            err);
    if (!ans)
        return NULL;
    long long id = etcd_int(ans, "ID");
    json_decref(ans);
    if (!id) {
        *err = xstrdup("etcd granted no lease");
        return NULL;
    }
    struct lease *l = xcalloc(1, sizeof(*l));
    l->id = id;
    l->ok_ms = sent;
    pthread_mutex_lock(&k->mu);
    l->next = k->leases;
    k->leases = l;
    pthread_mutex_unlock(&k->mu);
    return l;
}

/* Revoke lease `id`: 0 (also when etcd no longer knows it), -1 when etcd did not answer. */
static int lease_revoke(struct etcd *e, long long id)
{
    char *err = NULL;
    json_t *ans = etcd_call(e, "/v3/lease/revoke", json_pack("{s:o}", "ID", etcd_int_json(id)),
                            &err);
    bool unanswered = !ans && err && str_starts_with(err, "no etcd member answers");
    free(err);
    json_decref(ans);
    return unanswered ? -1 : 0;
}

/* Stop keeping `l` alive and revoke it (its keys go with it); best effort. */
static void lease_drop(struct etcd_locker *k, struct lease *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&k->mu);
    for (struct lease **p = &k->leases; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    pthread_mutex_unlock(&k->mu);
    if (lease_revoke(k->e, l->id) < 0) {
        /* etcd may keep it (a restarted etcd renews leases): revoke it once it answers */
        pthread_mutex_lock(&k->mu);
        k->orphans = xrealloc(k->orphans, (k->norphans + 1) * sizeof(*k->orphans));
        k->orphans[k->norphans++] = l->id;
        pthread_mutex_unlock(&k->mu);
    }
    free(l);
}

/* Revoke the leases dropped while etcd did not answer. */
static void revoke_orphans(struct etcd_locker *k)
{
    pthread_mutex_lock(&k->mu);
    long long *v = k->orphans;
    size_t n = k->norphans;
    k->orphans = NULL;
    k->norphans = 0;
    pthread_mutex_unlock(&k->mu);
    for (size_t i = 0; i < n; i++)
        if (lease_revoke(k->e, v[i]) < 0) {
            pthread_mutex_lock(&k->mu);
            k->orphans = xrealloc(k->orphans, (k->norphans + 1) * sizeof(*k->orphans));
            k->orphans[k->norphans++] = v[i];
            pthread_mutex_unlock(&k->mu);
        }
    free(v);
}

/* ---- the locker ------------------------------------------------------------------ */

struct etcd_locker *etcd_locker_new(const struct etcd_lock_options *o, char **err)
{
    struct etcd *e = etcd_new(&o->etcd, err);
    if (!e)
        return NULL;
    struct etcd_locker *k = xcalloc(1, sizeof(*k));
    k->e = e;
    k->ttl_ms = o->ttl_ms > 0 ? (o->ttl_ms + 999) / 1000 * 1000 : ETCD_LOCK_DEFAULT_TTL_MS;
    char host[256] = "unknown";
    gethostname(host, sizeof(host) - 1);
    k->host = xstrdup(host);
    k->worker = o->worker && *o->worker ? xstrdup(o->worker)
                                        : xasprintf("%s-%ld", host, (long)getpid());
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    k->started = pthread_create(&k->tid, NULL, keepalive_thread, k) == 0;
    if (!k->started) {
        *err = xstrdup("cannot start the etcd keepalive thread");
        etcd_locker_free(k);
        return NULL;
    }
    return k;
}

void etcd_locker_free(struct etcd_locker *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->quit = true;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
    if (k->started)
        pthread_join(k->tid, NULL);
    while (k->leases)
        lease_drop(k, k->leases);
    etcd_free(k->e);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    free(k->worker);
    free(k->host);
    free(k->commit);
    free(k->orphans);
    free(k);
}

struct etcd *etcd_locker_client(struct etcd_locker *k)
{
    return k->e;
}

const char *etcd_locker_worker(const struct etcd_locker *k)
{
    return k->worker;
}

long etcd_locker_ttl_ms(const struct etcd_locker *k)
{
    return k->ttl_ms;
}

void etcd_locker_set_commit(struct etcd_locker *k, const char *commit)
{
    pthread_mutex_lock(&k->mu);
    free(k->commit);
    k->commit = xstrdup(commit);
    pthread_mutex_unlock(&k->mu);
}

static char *holder_value(struct etcd_locker *k)
{
    char since[64] = "";
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    pthread_mutex_lock(&k->mu);
    json_t *v = json_pack("{s:s, s:s, s:I, s:s, s:s}", "worker", k->worker, "host", k->host,
                          "pid", (json_int_t)getpid(), "commit", k->commit ? k->commit : "",
                          "since", since);
    pthread_mutex_unlock(&k->mu);
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return s;
}

/* "worker W (pid P on HOST) since T" from a holder value. */
static char *describe_holder(const char *value)
{
    json_t *v = value ? json_loads(value, 0, NULL) : NULL;
    char *out;
    if (!v) {
        out = xstrdup("an unknown holder");
    } else {
        out = xasprintf("worker %s (pid %lld on %s) since %s",
                        json_string_value(json_object_get(v, "worker"))
                            ? json_string_value(json_object_get(v, "worker"))
                            : "?",
                        (long long)json_integer_value(json_object_get(v, "pid")),
                        json_string_value(json_object_get(v, "host"))
                            ? json_string_value(json_object_get(v, "host"))
                            : "?",
                        json_string_value(json_object_get(v, "since"))
                            ? json_string_value(json_object_get(v, "since"))
                            : "?");
    }
    json_decref(v);
    return out;
}

/* The first kv of a txn's failure range, or NULL. */
static const json_t *txn_range_kv(const json_t *ans)
{
    const json_t *r = json_array_get(json_object_get(ans, "responses"), 0);
    const json_t *rr = json_object_get(r, "response_range");
    return json_array_get(json_object_get(rr, "kvs"), 0);
}

/*
 * Create `key` = `value` under lease `lease` if absent. 1 created (*rev its
 * create revision), 0 present (*holder its value), -1 with *err.
 */
static int create_if_absent(struct etcd *e, const char *key, const char *value, long long lease,
                            long long *rev, char **holder, char **err)
{
    json_t *req = json_pack(
        "{s:[{s:o, s:s, s:s, s:s}], s:[{s:{s:o, s:o, s:o}}], s:[{s:{s:o}}]}", "compare", "key",
        etcd_b64(key), "target", "CREATE", "create_revision", "0", "result", "EQUAL", "success",
        "request_put", "key", etcd_b64(key), "value", etcd_b64(value), "lease",
        etcd_int_json(lease), "failure", "request_range", "key", etcd_b64(key));
    json_t *ans = etcd_call(e, "/v3/kv/txn", req, err);
    if (!ans)
        return -1;
    int rc;
    if (json_is_true(json_object_get(ans, "succeeded"))) {
        *rev = etcd_int(json_object_get(ans, "header"), "revision");
        rc = 1;
    } else {
        const json_t *kv = txn_range_kv(ans);
        *holder = kv ? etcd_unb64(json_object_get(kv, "value")) : NULL;
        rc = 0;
    }
    json_decref(ans);
    return rc;
}

/* ---- locks ------------------------------------------------------------------------ */

static int etcd_lock_check(struct cluster_lock *base, char **err)
{
    struct etcd_lock *l = (struct etcd_lock *)base;
    struct etcd_locker *k = l->k;
    pthread_mutex_lock(&k->mu);
    long long age = now_ms() - l->lease->ok_ms;
    bool gone = lease_gone(k, l->lease, now_ms());
    bool said = l->lease->lost;
    pthread_mutex_unlock(&k->mu);
    if (gone) {
        *err = said ? xasprintf("lost the lease of %s (etcd expired it): stopping before the "
                                "next step",
                                l->key)
                    : xasprintf("lost the lease of %s (not renewed for %lld ms, TTL %ld ms): "
                                "stopping before the next step",
                                l->key, age, k->ttl_ms);
        return -1;
    }
    /* one transaction: the key still has our create revision (the fencing token) */
    json_t *req = json_pack("{s:[{s:o, s:s, s:o, s:s}], s:[], s:[{s:{s:o}}]}", "compare", "key",
                            etcd_b64(l->key), "target", "CREATE", "create_revision",
                            etcd_int_json(l->revision), "result", "EQUAL", "success", "failure",
                            "request_range", "key", etcd_b64(l->key));
    char *why = NULL;
    json_t *ans = etcd_call(k->e, "/v3/kv/txn", req, &why);
    if (!ans) {
        *err = xasprintf("cannot confirm the lock %s with etcd (%s): stopping before the next "
                         "step",
                         l->key, why ? why : "no answer");
        free(why);
        return -1;
    }
    int rc = 0;
    if (!json_is_true(json_object_get(ans, "succeeded"))) {
        const json_t *kv = txn_range_kv(ans);
        char *value = kv ? etcd_unb64(json_object_get(kv, "value")) : NULL;
        char *who = value ? describe_holder(value) : NULL;
        *err = who ? xasprintf("fenced: %s is now held by %s (create revision %lld, ours %lld): "
                               "not acting",
                               l->key, who, etcd_int(kv, "create_revision"), l->revision)
                   : xasprintf("fenced: %s is gone (ours had create revision %lld): not acting",
                               l->key, l->revision);
        free(who);
        free(value);
        pthread_mutex_lock(&k->mu);
        l->lease->lost = true; /* not ours any more, whatever the lease says */
        pthread_mutex_unlock(&k->mu);
        rc = -1;
    }
    json_decref(ans);
    return rc;
}

static void etcd_lock_release(struct cluster_lock *base)
{
    struct etcd_lock *l = (struct etcd_lock *)base;
    lease_drop(l->k, l->lease); /* revoking deletes the key if it is still ours */
    if (l->own_locker)
        etcd_locker_free(l->k);
    free(l->key);
    free(l);
}

static const struct lock_ops etcd_lock_ops = {"etcd", etcd_lock_check, etcd_lock_release};

bool etcd_lock_lost(struct cluster_lock *base)
{
    if (!base || base->ops != &etcd_lock_ops)
        return false;
    struct etcd_lock *l = (struct etcd_lock *)base;
    pthread_mutex_lock(&l->k->mu);
    bool gone = lease_gone(l->k, l->lease, now_ms());
    pthread_mutex_unlock(&l->k->mu);
    return gone;
}

struct cluster_lock *etcd_lock_acquire(struct etcd_locker *k, const char *cluster,
                                       long timeout_ms, bool own_locker, bool *busy, char **err)
{
    char *key = xasprintf(ETCD_LOCK_PREFIX "%s", cluster);
    long long deadline = now_ms() + timeout_ms;
    if (busy)
        *busy = false;
    for (;;) {
        struct lease *lease = lease_grant(k, err);
        if (!lease) {
            char *why = *err;
            *err = xasprintf("cannot take %s in etcd at %s: %s", key, etcd_url(k->e), why);
            free(why);
            break;
        }
        char *value = holder_value(k);
        long long rev = 0;
        char *holder = NULL, *why = NULL;
        int rc = create_if_absent(k->e, key, value, lease->id, &rev, &holder, &why);
        free(value);
        if (rc == 1) {
            struct etcd_lock *l = xcalloc(1, sizeof(*l));
            l->base.ops = &etcd_lock_ops;
            l->k = k;
            l->lease = lease;
            l->key = key;
            l->revision = rev;
            l->own_locker = own_locker;
            return &l->base;
        }
        lease_drop(k, lease);
        if (rc < 0) {
            *err = xasprintf("cannot take %s in etcd at %s: %s", key, etcd_url(k->e), why);
            free(why);
            break;
        }
        if (now_ms() >= deadline) {
            char *who = describe_holder(holder);
            *err = timeout_ms > 0 ? xasprintf("%s is held by %s; gave up after %ld ms", key, who,
                                              timeout_ms)
                                  : xasprintf("%s is held by %s", key, who);
            free(who);
            free(holder);
            if (busy)
                *busy = true;
            break;
        }
        free(holder);
        sleep_ms(200);
    }
    free(key);
    if (own_locker)
        etcd_locker_free(k);
    return NULL;
}

/* ---- workers ------------------------------------------------------------------------ */

int etcd_worker_register(struct etcd_locker *k, char **err)
{
    pthread_mutex_lock(&k->mu);
    struct lease *reg = k->reg;
    bool alive = reg && !lease_gone(k, reg, now_ms());
    pthread_mutex_unlock(&k->mu);
    revoke_orphans(k);
    if (alive)
        return 0;
    if (reg) {
        lease_drop(k, reg);
        k->reg = NULL;
    }
    struct lease *lease = lease_grant(k, err);
    if (!lease)
        return -1;
    char *key = xasprintf(ETCD_WORKER_PREFIX "%s", k->worker);
    char *value = holder_value(k);
    long long rev = 0;
    char *holder = NULL;
    int rc = create_if_absent(k->e, key, value, lease->id, &rev, &holder, err);
    free(value);
    if (rc == 1) {
        k->reg = lease;
        free(key);
        return 0;
    }
    lease_drop(k, lease);
    if (rc == 0) {
        char *who = describe_holder(holder);
        *err = xasprintf("the worker id '%s' is registered by %s (%s): waiting for it to go",
                         k->worker, who, key);
        free(who);
        free(holder);
    }
    free(key);
    return -1;
}

static json_t *range_prefix(struct etcd *e, const char *prefix, bool keys_only, char **err)
{
    char *end = etcd_prefix_end(prefix);
    json_t *req = json_pack("{s:o, s:o, s:b}", "key", etcd_b64(prefix), "range_end",
                            etcd_b64(end), "keys_only", keys_only);
    free(end);
    return etcd_call(e, "/v3/kv/range", req, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int etcd_workers(struct etcd *e, struct strvec *ids, char **err)
{
    json_t *ans = range_prefix(e, ETCD_WORKER_PREFIX, true, err);
    if (!ans)
        return -1;
    size_t i;
    json_t *kv;
    json_array_foreach(json_object_get(ans, "kvs"), i, kv) {
        char *key = etcd_unb64(json_object_get(kv, "key"));
        if (key && strlen(key) > strlen(ETCD_WORKER_PREFIX))
            strvec_add(ids, xstrdup(key + strlen(ETCD_WORKER_PREFIX)));
        free(key);
    }
    json_decref(ans);
    if (ids->n)
        qsort(ids->v, ids->n, sizeof(char *), cmp_str);
    return 0;
}

/* ---- listing and unlocking ---------------------------------------------------------- */

static int cmp_info(const void *a, const void *b)
{
    return strcmp(((const struct etcd_lock_info *)a)->cluster,
                  ((const struct etcd_lock_info *)b)->cluster);
}

static char *field(const json_t *v, const char *name)
{
    const char *s = json_string_value(json_object_get(v, name));
    return xstrdup(s ? s : "?");
}

int etcd_locks_list(struct etcd *e, bool with_ttl, struct etcd_lock_info **out, size_t *n,
                    char **err)
{
    json_t *ans = range_prefix(e, ETCD_LOCK_PREFIX, false, err);
    if (!ans)
        return -1;
    json_t *kvs = json_object_get(ans, "kvs");
    size_t cnt = json_array_size(kvs), i;
    struct etcd_lock_info *v = xcalloc(cnt + 1, sizeof(*v));
    json_t *kv;
    json_array_foreach(kvs, i, kv) {
        struct etcd_lock_info *x = &v[i];
        char *key = etcd_unb64(json_object_get(kv, "key"));
        x->cluster = xstrdup(key ? key + strlen(ETCD_LOCK_PREFIX) : "?");
        free(key);
        char *value = etcd_unb64(json_object_get(kv, "value"));
        json_t *h = value ? json_loads(value, 0, NULL) : NULL;
        free(value);
        x->worker = field(h, "worker");
        x->host = field(h, "host");
        x->commit = field(h, "commit");
        x->since = field(h, "since");
        x->pid = (long)json_integer_value(json_object_get(h, "pid"));
        json_decref(h);
        x->revision = etcd_int(kv, "create_revision");
        x->lease = etcd_int(kv, "lease");
        x->ttl_left = -1;
        if (with_ttl && x->lease) {
            char *why = NULL;
            json_t *t = etcd_call(e, "/v3/lease/timetolive",
                                  json_pack("{s:o}", "ID", etcd_int_json(x->lease)), &why);
            free(why);
            if (t)
                x->ttl_left = etcd_int(t, "TTL");
            json_decref(t);
        }
    }
    json_decref(ans);
    if (cnt)
        qsort(v, cnt, sizeof(*v), cmp_info);
    *out = v;
    *n = cnt;
    return 0;
}

void etcd_lock_infos_free(struct etcd_lock_info *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].cluster);
        free(v[i].worker);
        free(v[i].host);
        free(v[i].commit);
        free(v[i].since);
    }
    free(v);
}

int etcd_unlock(struct etcd *e, const char *cluster, long long revision, char **err)
{
    char *key = xasprintf(ETCD_LOCK_PREFIX "%s", cluster);
    json_t *req = json_pack("{s:[{s:o, s:s, s:o, s:s}], s:[{s:{s:o}}], s:[]}", "compare", "key",
                            etcd_b64(key), "target", "CREATE", "create_revision",
                            etcd_int_json(revision), "result", "EQUAL", "success",
                            "request_delete_range", "key", etcd_b64(key), "failure");
    free(key);
    json_t *ans = etcd_call(e, "/v3/kv/txn", req, err);
    if (!ans)
        return -1;
    bool ok = json_is_true(json_object_get(ans, "succeeded"));
    json_decref(ans);
    /* the holder's lease is left alone: its next check is fenced (the key is gone) and
       it revokes the lease itself */
    return ok ? 0 : 1;
}
