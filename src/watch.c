/*
 * watch.c - Sentinel +switch-master subscriptions and the fast proxy
 * repoint. See watch.h.
 *
 * Threads: one event loop (every subscription; owns the connections) and
 * one worker per cluster (repoints, carried out by repoint.c). They share
 * the cluster records under w->mu, which is only ever held for
 * bookkeeping, never across I/O.
 */
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "rclient.h"
#include "repoint.h"
#include "util.h"

#define SWITCH_CHANNEL "+switch-master"

/* ---------------------------------------------------------------- records */

/* One version of a cluster's spec; workers hold a reference while they use it. */
struct wconf {
    int refs; /* under w->mu */
    struct spec *spec;
    char *password;
    char *commit;
    char *subject;
};

/* A repoint for the worker: the masters to render, and what triggered it. */
struct wjob {
    bool pending;
    char **masters;      /* [nshards] "ip:port", NULL = unknown (asked from sentinels) */
    size_t nmasters;
    char *shard;
    char *old_master;
    char *new_master;
    long long quorum_us; /* when the quorum was reached (monotonic) */
};

struct wcluster {
    char *name;
    struct wconf *conf;
    size_t nshards, nsentinels;
    char **current;  /* [nshards]: the master the proxies point at, NULL = unknown */
    char **reports;  /* [nshards * nsentinels]: each sentinel's latest announced master */
    char **refused;  /* [nshards]: a non-member master already warned about */
    unsigned long generation;
    struct wjob job;
    bool precheck;   /* the worker checks the next failover's configs ahead when idle */
    struct repoint_checked *checked;
    struct repoint_sessions *sessions; /* the proxy hosts' transports, kept open */
    bool removed;
    bool worker_started;
    pthread_t worker;
    pthread_cond_t cond;
    struct watch *w;
    struct wcluster *next;
};

enum conn_state { C_IDLE, C_CONNECTING, C_SUBSCRIBING, C_SUBSCRIBED };

/* One subscription; owned by the loop thread. */
struct wconn {
    char *cluster;
    char *ip;
    int port;
    redisContext *c;
    enum conn_state state;
    long long next_try_ms;   /* C_IDLE: when to connect */
    long long since_ms;      /* when the current state began */
    long backoff_ms;
    long long ping_sent_ms;  /* 0: no PING outstanding */
    long long last_ping_ms;
    bool want_write;
    bool auth_pending;       /* the next reply is AUTH's */
    bool was_up;             /* subscribed at least once */
    bool down_logged;        /* the current outage was logged */
    bool keep;               /* still wanted after a cluster change */
};

struct watch {
    struct watch_options o;
    pthread_mutex_t mu;
    struct wcluster *clusters; /* under mu */
    bool stopping;             /* under mu */
    bool dirty;                /* under mu: the loop re-syncs its connections */
    size_t subscribed;         /* under mu */
    int wake[2];
    pthread_t loop;
    unsigned rand_state;
    struct wconn **conns;      /* loop thread only */
    size_t nconns, conns_cap;
};

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void wconf_unref(struct wconf *c)
{
    if (!c || --c->refs > 0)
        return;
    spec_free(c->spec);
    secret_free(c->password);
    free(c->commit);
    free(c->subject);
    free(c);
}

static void wjob_clear(struct wjob *j)
{
    free_strv(j->masters, j->nmasters);
    free(j->shard);
    free(j->old_master);
    free(j->new_master);
    memset(j, 0, sizeof(*j));
}

static void wake_loop(struct watch *w)
{
    char b = 1;
    if (write(w->wake[1], &b, 1) < 0) {
        /* the pipe is full: the loop wakes anyway */
    }
}

/* ---------------------------------------------------------------- pure pieces */

int watch_parse_switch(const char *payload, char **name, char **new_ip, int *new_port,
                       char **old_ip, int *old_port)
{
    char *f[5];
    size_t nf = 0;
    char *copy = xstrdup(payload ? payload : "");
    char *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (nf == 5) {
            nf = 6;
            break;
        }
        f[nf++] = tok;
    }
    long op, np;
    if (nf != 5 || !parse_long(f[2], 1, 65535, &op) || !parse_long(f[4], 1, 65535, &np)) {
        free(copy);
        return -1;
    }
    *name = xstrdup(f[0]);
    *old_ip = xstrdup(f[1]);
    *old_port = (int)op;
    *new_ip = xstrdup(f[3]);
    *new_port = (int)np;
    free(copy);
    return 0;
}

const char *watch_quorum_master(char *const *reports, size_t n, int quorum)
{
    for (size_t i = 0; i < n; i++) {
        if (!reports[i])
            continue;
        int votes = 0;
        for (size_t j = 0; j < n; j++)
            votes += str_eq(reports[i], reports[j]);
        if (votes >= quorum && quorum > 0)
            return reports[i];
    }
    return NULL;
}

/* ---------------------------------------------------------------- clusters */

static struct wcluster *find_cluster(struct watch *w, const char *name)
{
    for (struct wcluster *c = w->clusters; c; c = c->next)
        if (!c->removed && str_eq(c->name, name))
            return c;
    return NULL;
}

/* The commit of the spec the watcher uses for `cluster`, for log lines. Caller frees. */
static char *cluster_commit(struct watch *w, const char *cluster)
{
    pthread_mutex_lock(&w->mu);
    struct wcluster *c = find_cluster(w, cluster);
    char *commit = c ? xstrdup(c->conf->commit) : NULL;
    pthread_mutex_unlock(&w->mu);
    return commit;
}

/* The cluster's password (caller secret_frees), NULL without auth:. */
static char *cluster_password(struct watch *w, const char *cluster)
{
    pthread_mutex_lock(&w->mu);
    struct wcluster *c = find_cluster(w, cluster);
    char *password = c && c->conf->password ? xstrdup(c->conf->password) : NULL;
    pthread_mutex_unlock(&w->mu);
    return password;
}

static int shard_index(const struct spec *s, const char *name)
{
    for (size_t i = 0; i < s->nshards; i++)
        if (str_eq(s->shards[i].name, name))
            return (int)i;
    return -1;
}

static int sentinel_index(const struct spec *s, const char *ip, int port)
{
    for (size_t i = 0; i < s->sentinel.nnodes; i++)
        if (str_eq(s->sentinel.nodes[i].ip, ip) && s->sentinel.nodes[i].port == port)
            return (int)i;
    return -1;
}

/* Whether ip:port is the master or a replica of shard `i` in the spec. */
static bool same_layout(const struct spec *a, const struct spec *b)
{
    if (a->nshards != b->nshards || a->sentinel.nnodes != b->sentinel.nnodes)
        return false;
    for (size_t i = 0; i < a->nshards; i++)
        if (!str_eq(a->shards[i].name, b->shards[i].name))
            return false;
    for (size_t i = 0; i < a->sentinel.nnodes; i++)
        if (!str_eq(a->sentinel.nodes[i].ip, b->sentinel.nodes[i].ip) ||
            a->sentinel.nodes[i].port != b->sentinel.nodes[i].port)
            return false;
    return true;
}

static void *worker_main(void *arg);

void watch_set_cluster(struct watch *w, const struct spec *s, const char *password,
                       const char *commit, const char *subject)
{
    struct diags d = {0};
    struct spec *copy = spec_load_buffer(s->file, s->source, s->source_len, &d);
    diags_release(&d);
    if (!copy) {
        log_event(LOG_ERROR, "watch-error", s->cluster, commit, NULL, 0,
                  "cannot copy the spec for the watcher");
        return;
    }
    struct wconf *conf = xcalloc(1, sizeof(*conf));
    conf->refs = 1;
    conf->spec = copy;
    conf->password = xstrdup(password);
    conf->commit = xstrdup(commit);
    conf->subject = xstrdup(subject);

    pthread_mutex_lock(&w->mu);
    struct wcluster *c = find_cluster(w, copy->cluster);
    if (c && !same_layout(c->conf->spec, copy)) {
        /* shards or sentinels changed: keep the known masters by shard name */
        char **current = xcalloc(copy->nshards ? copy->nshards : 1, sizeof(char *));
        for (size_t i = 0; i < copy->nshards; i++) {
            int old = shard_index(c->conf->spec, copy->shards[i].name);
            if (old >= 0) {
                current[i] = c->current[old];
                c->current[old] = NULL;
            }
        }
        free_strv(c->current, c->nshards);
        free_strv(c->reports, c->nshards * c->nsentinels);
        free_strv(c->refused, c->nshards);
        c->current = current;
        c->nshards = copy->nshards;
        c->nsentinels = copy->sentinel.nnodes;
        c->reports = xcalloc(c->nshards * c->nsentinels + 1, sizeof(char *));
        c->refused = xcalloc(c->nshards + 1, sizeof(char *));
        wjob_clear(&c->job); /* its masters were indexed by the old shards */
        c->generation++;
    }
    if (c) {
        const struct spec *was = c->conf->spec;
        if (was->source_len != copy->source_len ||
            memcmp(was->source, copy->source, copy->source_len) != 0)
            repoint_sessions_reset(c->sessions); /* a host's address or keys may have changed */
        wconf_unref(c->conf);
        c->conf = conf;
    } else {
        c = xcalloc(1, sizeof(*c));
        c->w = w;
        c->name = xstrdup(copy->cluster);
        c->conf = conf;
        c->nshards = copy->nshards;
        c->nsentinels = copy->sentinel.nnodes;
        c->current = xcalloc(c->nshards + 1, sizeof(char *));
        c->reports = xcalloc(c->nshards * c->nsentinels + 1, sizeof(char *));
        c->refused = xcalloc(c->nshards + 1, sizeof(char *));
        pthread_cond_init(&c->cond, NULL);
        c->checked = repoint_checked_new();
        c->sessions = repoint_sessions_new();
        c->next = w->clusters;
        w->clusters = c;
        if (pthread_create(&c->worker, NULL, worker_main, c) == 0)
            c->worker_started = true;
        else
            log_event(LOG_ERROR, "watch-error", c->name, commit, NULL, 0,
                      "cannot start the repoint worker: %s", strerror(errno));
    }
    c->precheck = true;
    pthread_cond_signal(&c->cond);
    w->dirty = true;
    pthread_mutex_unlock(&w->mu);
    wake_loop(w);
}

static void cluster_free(struct wcluster *c)
{
    wjob_clear(&c->job);
    wconf_unref(c->conf);
    free_strv(c->current, c->nshards);
    free_strv(c->reports, c->nshards * c->nsentinels);
    free_strv(c->refused, c->nshards);
    pthread_cond_destroy(&c->cond);
    repoint_checked_free(c->checked);
    repoint_sessions_free(c->sessions);
    free(c->name);
    free(c);
}

void watch_retain(struct watch *w, char *const *names, size_t n)
{
    struct wcluster *gone = NULL;
    pthread_mutex_lock(&w->mu);
    for (struct wcluster **pp = &w->clusters; *pp;) {
        struct wcluster *c = *pp;
        bool keep = false;
        for (size_t i = 0; i < n && !keep; i++)
            keep = str_eq(names[i], c->name);
        if (keep) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        c->removed = true;
        pthread_cond_signal(&c->cond);
        c->next = gone;
        gone = c;
        w->dirty = true;
    }
    pthread_mutex_unlock(&w->mu);
    wake_loop(w);
    while (gone) {
        struct wcluster *c = gone;
        gone = c->next;
        if (c->worker_started)
            pthread_join(c->worker, NULL);
        cluster_free(c);
    }
}

unsigned long watch_generation(struct watch *w, const char *cluster)
{
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    struct wcluster *c = find_cluster(w, cluster);
    unsigned long g = c ? c->generation : 0;
    pthread_mutex_unlock(&w->mu);
    return g;
}

void watch_set_masters(struct watch *w, const char *cluster, const struct spec_addr *masters,
                       size_t n, unsigned long generation)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    struct wcluster *c = find_cluster(w, cluster);
    if (c && c->generation == generation && n == c->nshards) {
        for (size_t i = 0; i < n; i++) {
            if (!masters[i].ip)
                continue;
            free(c->current[i]);
            c->current[i] = xasprintf("%s:%d", masters[i].ip, masters[i].port);
        }
        c->precheck = true;
        pthread_cond_signal(&c->cond);
    }
    pthread_mutex_unlock(&w->mu);
}

void watch_set_report_only(struct watch *w, bool report_only)
{
    pthread_mutex_lock(&w->mu);
    w->o.report_only = report_only;
    pthread_mutex_unlock(&w->mu);
}

size_t watch_subscribed(struct watch *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->subscribed;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* repoint_precheck's stop: a repoint waits, or the cluster goes. */
static bool job_waiting(void *arg)
{
    struct wcluster *c = arg;
    pthread_mutex_lock(&c->w->mu);
    bool waiting = c->job.pending || c->removed || c->w->stopping;
    pthread_mutex_unlock(&c->w->mu);
    return waiting;
}

/*
 * Idle: check with nutcracker -t, ahead, the configs the next failover of
 * any one shard would install (repoint_precheck), so the repoint itself
 * does not wait for the check. Called and returns with w->mu held.
 */
static void worker_precheck(struct watch *w, struct wcluster *c)
{
    c->precheck = false;
    if (w->o.report_only)
        return;
    struct wconf *conf = c->conf;
    conf->refs++;
    size_t n = c->nshards;
    char **current = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        current[i] = c->current[i] ? xstrdup(c->current[i]) : NULL;
    struct repoint_options ro = {.connect_timeout_ms = w->o.connect_timeout_ms,
                                 .checked = c->checked,
                                 .sessions = c->sessions};
    pthread_mutex_unlock(&w->mu);
    repoint_precheck(conf->spec, conf->password, current, n, &ro, job_waiting, c);
    free_strv(current, n);
    pthread_mutex_lock(&w->mu);
    wconf_unref(conf);
}

static void *worker_main(void *arg)
{
    struct wcluster *c = arg;
    struct watch *w = c->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!c->job.pending && !c->precheck && !c->removed && !w->stopping)
            pthread_cond_wait(&c->cond, &w->mu);
        if (c->removed || w->stopping)
            break;
        if (!c->job.pending) {
            worker_precheck(w, c);
            continue;
        }
        struct wjob job = c->job;
        memset(&c->job, 0, sizeof(c->job));
        job.pending = false;
        struct wconf *conf = c->conf;
        conf->refs++;
        pthread_mutex_unlock(&w->mu);

        char *err = NULL;
        struct repoint_options ro = {.connect_timeout_ms = w->o.connect_timeout_ms,
                                     .ready_timeout_ms = w->o.ready_timeout_ms,
                                     .lock_timeout_ms = w->o.lock_timeout_ms,
                                     .lock_dir = w->o.lock_dir,
                                     .commit = conf->commit,
                                     .checked = c->checked,
                                     .sessions = c->sessions};
        int rc = repoint_proxies(conf->spec, conf->password, job.masters, job.nmasters, &ro,
                                 &err);
        double took = (double)(now_us() - job.quorum_us) / 1000.0;
        char took_txt[32];
        snprintf(took_txt, sizeof(took_txt), "%.2f", took);
        struct log_field f[] = {{"shard", job.shard}, {"master", job.new_master},
                                {"old_master", job.old_master}, {"took_ms", took_txt}};
        if (rc == 0)
            log_event(LOG_INFO, "repointed", c->name, conf->commit, f, ARRAY_SIZE(f),
                      "proxies serve shard %s from %s, %.2f ms after the quorum's +switch-master",
                      job.shard, job.new_master, took);
        else
            log_event(LOG_ERROR, "repoint-failed", c->name, conf->commit, f, ARRAY_SIZE(f),
                      "%s", err);
        if (w->o.on_event) {
            struct watch_event ev = {
                .kind = rc == 0 ? WATCH_REPOINTED : WATCH_REPOINT_FAILED,
                .cluster = c->name,
                .commit = conf->commit,
                .subject = conf->subject,
                .shard = job.shard,
                .old_master = job.old_master,
                .new_master = job.new_master,
                .took_ms = took,
                .error = err,
            };
            w->o.on_event(&ev, w->o.arg);
        }
        free(err);
        wjob_clear(&job);
        pthread_mutex_lock(&w->mu);
        wconf_unref(conf);
        c->precheck = true; /* for the failover after this one */
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---------------------------------------------------------------- events */

/* One +switch-master from the sentinel behind `cn`; runs on the loop thread. */
static void on_switch(struct watch *w, struct wconn *cn, const char *payload, long long at_us)
{
    char *shard = NULL, *nip = NULL, *oip = NULL;
    int nport = 0, oport = 0;
    if (watch_parse_switch(payload, &shard, &nip, &nport, &oip, &oport) < 0) {
        char *commit = cluster_commit(w, cn->cluster);
        log_event(LOG_WARN, "switch-master", cn->cluster, commit, NULL, 0,
                  "ignoring a malformed +switch-master from %s:%d", cn->ip, cn->port);
        free(commit);
        return;
    }
    char *addr = xasprintf("%s:%d", nip, nport);
    char *from = xasprintf("%s:%d", cn->ip, cn->port);
    pthread_mutex_lock(&w->mu);
    struct wcluster *c = find_cluster(w, cn->cluster);
    const struct spec *s = c ? c->conf->spec : NULL;
    int si = s ? shard_index(s, shard) : -1;
    int ni = s ? sentinel_index(s, cn->ip, cn->port) : -1;
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
    const char *q = watch_quorum_master(row, c->nsentinels, s->sentinel.quorum);
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
    struct wjob *j = &c->job;
    char *old = xstrdup(c->current[si]);
    free(c->current[si]);
    c->current[si] = xstrdup(q);
    free_strv(j->masters, j->nmasters);
    j->nmasters = c->nshards;
    j->masters = xcalloc(c->nshards + 1, sizeof(char *));
    for (size_t i = 0; i < c->nshards; i++)
        j->masters[i] = xstrdup(c->current[i]);
    if (!j->pending) { /* a pending job keeps its first trigger and its start time */
        free(j->shard);
        free(j->old_master);
        free(j->new_master);
        j->shard = xstrdup(shard);
        j->old_master = old;
        old = NULL;
        j->new_master = xstrdup(q);
        j->quorum_us = at_us;
    }
    free(old);
    j->pending = true;
    c->generation++;
    pthread_cond_signal(&c->cond);
out:
    pthread_mutex_unlock(&w->mu);
    free(addr);
    free(from);
    free(shard);
    free(nip);
    free(oip);
}

/* ---------------------------------------------------------------- connections */


static void set_subscribed(struct watch *w, int delta)
{
    pthread_mutex_lock(&w->mu);
    w->subscribed = (size_t)((long)w->subscribed + delta);
    pthread_mutex_unlock(&w->mu);
}

/* Forget what the sentinel of `cn` announced: it may have changed its mind meanwhile. */
static void forget_reports(struct watch *w, struct wconn *cn)
{
    pthread_mutex_lock(&w->mu);
    struct wcluster *c = find_cluster(w, cn->cluster);
    int ni = c ? sentinel_index(c->conf->spec, cn->ip, cn->port) : -1;
    for (size_t i = 0; ni >= 0 && i < c->nshards; i++) {
        free(c->reports[i * c->nsentinels + (size_t)ni]);
        c->reports[i * c->nsentinels + (size_t)ni] = NULL;
    }
    pthread_mutex_unlock(&w->mu);
}

/* Drop the connection and schedule the next attempt with backoff and jitter. */
static void conn_fail(struct watch *w, struct wconn *cn, const char *why)
{
    if (cn->state == C_SUBSCRIBED)
        set_subscribed(w, -1);
    if (!cn->down_logged) {
        struct log_field f[] = {{"sentinel", NULL}};
        char *from = xasprintf("%s:%d", cn->ip, cn->port);
        f[0].value = from;
        char *commit = cluster_commit(w, cn->cluster);
        log_event(LOG_WARN, "watch-lost", cn->cluster, commit, f, 1,
                  "%s sentinel %s: %s; retrying with backoff",
                  cn->was_up ? "lost the subscription to" : "cannot subscribe to", from, why);
        free(commit);
        free(from);
        cn->down_logged = true;
    }
    redisFree(cn->c);
    cn->c = NULL;
    cn->state = C_IDLE;
    cn->ping_sent_ms = 0;
    forget_reports(w, cn);
    long jitter = cn->backoff_ms / 5;
    long delay = cn->backoff_ms + (jitter ? (long)(rand_r(&w->rand_state) % (unsigned)(2 * jitter + 1)) - jitter : 0);
    cn->next_try_ms = now_ms() + delay;
    cn->backoff_ms = cn->backoff_ms * 2 > w->o.backoff_max_ms ? w->o.backoff_max_ms
                                                               : cn->backoff_ms * 2;
}

static void conn_flush(struct watch *w, struct wconn *cn)
{
    int done = 0;
    if (redisBufferWrite(cn->c, &done) != REDIS_OK) {
        conn_fail(w, cn, cn->c->errstr);
        return;
    }
    cn->want_write = !done;
}

static void conn_start(struct watch *w, struct wconn *cn)
{
    cn->c = redisConnectNonBlock(cn->ip, cn->port);
    if (!cn->c || cn->c->err) {
        char why[160];
        snprintf(why, sizeof(why), "%s", cn->c ? cn->c->errstr : "out of memory");
        conn_fail(w, cn, why);
        return;
    }
    redisEnableKeepAlive(cn->c);
    rclient_bound_reader(cn->c->reader);
    cn->state = C_CONNECTING;
    cn->since_ms = now_ms();
    cn->want_write = true;
}

/* The socket became writable while connecting: check, then SUBSCRIBE. */
static void conn_connected(struct watch *w, struct wconn *cn)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(cn->c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr) {
        conn_fail(w, cn, strerror(soerr));
        return;
    }
    /* sentinels with requirepass (auth: in the spec) want AUTH first */
    char *password = cluster_password(w, cn->cluster);
    cn->auth_pending = password != NULL;
    if (password)
        redisAppendCommand(cn->c, "AUTH %s", password);
    secret_free(password);
    redisAppendCommand(cn->c, "SUBSCRIBE %s", SWITCH_CHANNEL);
    cn->state = C_SUBSCRIBING;
    cn->since_ms = now_ms();
    conn_flush(w, cn);
}

static void conn_reply(struct watch *w, struct wconn *cn, redisReply *r, long long at_us)
{
    if (cn->auth_pending) {
        cn->auth_pending = false;
        /* a sentinel without a password says so: subscribing goes on */
        if (r->type == REDIS_REPLY_ERROR && !rclient_auth_tolerated(r->str)) {
            char *why = xasprintf("AUTH: %s", r->str);
            conn_fail(w, cn, why);
            free(why);
        }
        return;
    }
    if (r->type == REDIS_REPLY_STATUS && str_ieq(r->str, "PONG")) {
        cn->ping_sent_ms = 0;
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        conn_fail(w, cn, r->str);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    if (str_ieq(kind, "pong")) {
        cn->ping_sent_ms = 0;
    } else if (str_ieq(kind, "subscribe") && cn->state == C_SUBSCRIBING) {
        cn->state = C_SUBSCRIBED;
        cn->since_ms = cn->last_ping_ms = now_ms();
        cn->backoff_ms = w->o.backoff_min_ms;
        set_subscribed(w, +1);
        char *from = xasprintf("%s:%d", cn->ip, cn->port);
        struct log_field f[] = {{"sentinel", from}};
        char *commit = cluster_commit(w, cn->cluster);
        log_event(cn->down_logged || cn->was_up ? LOG_INFO : LOG_DEBUG, "watch-subscribed",
                  cn->cluster, commit, f, 1, "subscribed to +switch-master on sentinel %s", from);
        free(commit);
        free(from);
        cn->was_up = true;
        cn->down_logged = false;
    } else if (str_ieq(kind, "message") && r->elements == 3 &&
               r->element[2]->type == REDIS_REPLY_STRING) {
        on_switch(w, cn, r->element[2]->str, at_us);
    }
}

static void conn_readable(struct watch *w, struct wconn *cn)
{
    long long at_us = now_us();
    if (redisBufferRead(cn->c) != REDIS_OK || rclient_reply_too_large(cn->c)) {
        conn_fail(w, cn, cn->c->errstr[0] ? cn->c->errstr : "connection closed");
        return;
    }
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(cn->c, &reply) != REDIS_OK) {
            rclient_reply_too_large(cn->c); /* names a refused array */
            conn_fail(w, cn, cn->c->errstr);
            return;
        }
        if (!reply)
            return;
        conn_reply(w, cn, reply, at_us);
        freeReplyObject(reply);
        if (!cn->c)
            return; /* the reply failed the connection */
    }
}

/* Timeouts and pings; returns the ms until this connection needs attention. */
static long conn_tick(struct watch *w, struct wconn *cn, long long now)
{
    long limit = w->o.connect_timeout_ms;
    switch (cn->state) {
    case C_IDLE:
        if (now >= cn->next_try_ms) {
            conn_start(w, cn);
            return cn->state == C_IDLE ? (long)(cn->next_try_ms - now) : limit;
        }
        return (long)(cn->next_try_ms - now);
    case C_CONNECTING:
    case C_SUBSCRIBING:
        if (now - cn->since_ms >= limit) {
            conn_fail(w, cn, cn->state == C_CONNECTING ? "connect timed out"
                                                       : "no answer to SUBSCRIBE");
            return (long)(cn->next_try_ms - now);
        }
        return (long)(cn->since_ms + limit - now);
    case C_SUBSCRIBED:
        if (cn->ping_sent_ms && now - cn->ping_sent_ms >= limit + 2000) {
            conn_fail(w, cn, "no answer to PING");
            return (long)(cn->next_try_ms - now);
        }
        if (!cn->ping_sent_ms && now - cn->last_ping_ms >= w->o.ping_interval_ms) {
            redisAppendCommand(cn->c, "PING");
            cn->ping_sent_ms = cn->last_ping_ms = now;
            conn_flush(w, cn);
            if (!cn->c)
                return (long)(cn->next_try_ms - now);
        }
        return cn->ping_sent_ms ? (long)(cn->ping_sent_ms + limit + 2000 - now)
                                : (long)(cn->last_ping_ms + w->o.ping_interval_ms - now);
    }
    return 1000;
}

static void conn_free(struct watch *w, struct wconn *cn)
{
    if (cn->state == C_SUBSCRIBED)
        set_subscribed(w, -1);
    redisFree(cn->c);
    free(cn->cluster);
    free(cn->ip);
    free(cn);
}

/* Match the connections to the clusters' sentinels: keep, add, drop. */
static void sync_conns(struct watch *w)
{
    for (size_t i = 0; i < w->nconns; i++)
        w->conns[i]->keep = false;
    pthread_mutex_lock(&w->mu);
    w->dirty = false;
    for (struct wcluster *c = w->clusters; c; c = c->next) {
        const struct spec *s = c->conf->spec;
        for (size_t k = 0; k < s->sentinel.nnodes; k++) {
            const struct spec_addr *a = &s->sentinel.nodes[k];
            struct wconn *found = NULL;
            for (size_t i = 0; i < w->nconns && !found; i++)
                if (str_eq(w->conns[i]->cluster, c->name) && str_eq(w->conns[i]->ip, a->ip) &&
                    w->conns[i]->port == a->port)
                    found = w->conns[i];
            if (!found) {
                found = xcalloc(1, sizeof(*found));
                found->cluster = xstrdup(c->name);
                found->ip = xstrdup(a->ip);
                found->port = a->port;
                found->backoff_ms = w->o.backoff_min_ms;
                VEC_GROW(w->conns, w->nconns, w->conns_cap);
                w->conns[w->nconns++] = found;
            }
            found->keep = true;
        }
    }
    pthread_mutex_unlock(&w->mu);
    size_t n = 0;
    for (size_t i = 0; i < w->nconns; i++) {
        if (w->conns[i]->keep)
            w->conns[n++] = w->conns[i];
        else
            conn_free(w, w->conns[i]);
    }
    w->nconns = n;
}

static void *loop_main(void *arg)
{
    struct watch *w = arg;
    struct pollfd *pfd = NULL;
    size_t pfd_cap = 0;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        bool stop = w->stopping, dirty = w->dirty;
        pthread_mutex_unlock(&w->mu);
        if (stop)
            break;
        if (dirty)
            sync_conns(w);

        long long now = now_ms();
        long wait = 1000;
        for (size_t i = 0; i < w->nconns; i++) {
            long t = conn_tick(w, w->conns[i], now);
            if (t < wait)
                wait = t;
        }
        if (wait < 0)
            wait = 0;
        if (pfd_cap < w->nconns + 1) {
            pfd_cap = w->nconns + 1;
            pfd = xrealloc(pfd, pfd_cap * sizeof(*pfd));
        }
        pfd[0] = (struct pollfd){.fd = w->wake[0], .events = POLLIN};
        for (size_t i = 0; i < w->nconns; i++) {
            struct wconn *cn = w->conns[i];
            pfd[i + 1] = (struct pollfd){.fd = -1};
            if (!cn->c)
                continue;
            pfd[i + 1].fd = cn->c->fd;
            pfd[i + 1].events = (short)((cn->state == C_CONNECTING || cn->want_write ? POLLOUT : 0) |
                                        (cn->state != C_CONNECTING ? POLLIN : 0));
        }
        int n = poll(pfd, w->nconns + 1, (int)wait);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (pfd[0].revents) {
            char buf[64];
            while (read(w->wake[0], buf, sizeof(buf)) > 0)
                ;
        }
        for (size_t i = 0; i < w->nconns; i++) {
            struct wconn *cn = w->conns[i];
            short re = pfd[i + 1].revents;
            if (!re || !cn->c || pfd[i + 1].fd != cn->c->fd)
                continue;
            if (cn->state == C_CONNECTING) {
                conn_connected(w, cn);
                continue;
            }
            if (re & (POLLIN | POLLHUP | POLLERR))
                conn_readable(w, cn);
            if (cn->c && (re & POLLOUT) && cn->want_write)
                conn_flush(w, cn);
        }
    }
    free(pfd);
    return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

struct watch *watch_start(const struct watch_options *o, char **err)
{
    struct watch *w = xcalloc(1, sizeof(*w));
    w->o = *o;
    if (w->o.connect_timeout_ms <= 0)
        w->o.connect_timeout_ms = 1000;
    if (w->o.ready_timeout_ms <= 0)
        w->o.ready_timeout_ms = 5000;
    if (w->o.lock_timeout_ms <= 0)
        w->o.lock_timeout_ms = 60000;
    if (w->o.backoff_min_ms <= 0)
        w->o.backoff_min_ms = 100;
    if (w->o.backoff_max_ms <= 0)
        w->o.backoff_max_ms = 10000;
    if (w->o.backoff_max_ms < w->o.backoff_min_ms)
        w->o.backoff_max_ms = w->o.backoff_min_ms;
    if (w->o.ping_interval_ms <= 0)
        w->o.ping_interval_ms = 5000;
    w->rand_state = (unsigned)getpid() ^ (unsigned)now_ms();
    pthread_mutex_init(&w->mu, NULL);
    if (pipe2(w->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        *err = xasprintf("cannot create a pipe: %s", strerror(errno));
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    if (pthread_create(&w->loop, NULL, loop_main, w) != 0) {
        *err = xasprintf("cannot start the watch thread: %s", strerror(errno));
        close(w->wake[0]);
        close(w->wake[1]);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

void watch_stop(struct watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    for (struct wcluster *c = w->clusters; c; c = c->next)
        pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&w->mu);
    wake_loop(w);
    pthread_join(w->loop, NULL);
    for (size_t i = 0; i < w->nconns; i++)
        conn_free(w, w->conns[i]);
    free(w->conns);
    struct wcluster *c = w->clusters;
    while (c) {
        struct wcluster *next = c->next;
        if (c->worker_started)
            pthread_join(c->worker, NULL);
        cluster_free(c);
        c = next;
    }
    close(w->wake[0]);
    close(w->wake[1]);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
