/*
 * watch.c - Sentinel +switch-master subscriptions and the fast proxy
 * repoint. See watch.h.
 *
 * Threads: one event loop (every subscription; owns the connections) and
 * one worker per cluster (repoints, carried out by repoint.c). They share
 * the cluster records under w->mu, which is only ever held for
 * bookkeeping, never across I/O.
 *
 * Here: the cluster records, the workers, the loop and the lifecycle. What
 * the sentinels' messages do is in watch_events.c, the ROLE polls of a
 * promotion in watch_poll.c, the subscriptions in watch_conn.c
 * (watch_impl.h).
 */
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "repoint.h"
#include "util.h"
#include "watch_episode.h"
#include "watch_impl.h"

/* ---------------------------------------------------------------- records */

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
    free(j->trigger);
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

bool watch_quorum_reached(char *const *reports, size_t n, int quorum, const char *addr)
{
    int votes = 0;
    for (size_t j = 0; addr && j < n; j++)
        votes += str_eq(reports[j], addr);
    return quorum > 0 && votes >= quorum;
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

struct wcluster *watch_find_cluster(struct watch *w, const char *name)
{
    for (struct wcluster *c = w->clusters; c; c = c->next)
        if (!c->removed && str_eq(c->name, name))
            return c;
    return NULL;
}

/* The commit of the spec the watcher uses for `cluster`, for log lines. Caller frees. */
char *watch_cluster_commit(struct watch *w, const char *cluster)
{
    pthread_mutex_lock(&w->mu);
    struct wcluster *c = watch_find_cluster(w, cluster);
    char *commit = c ? xstrdup(c->conf->commit) : NULL;
    pthread_mutex_unlock(&w->mu);
    return commit;
}

/* The cluster's password (caller secret_frees), NULL without auth:. */
char *watch_cluster_password(struct watch *w, const char *cluster)
{
    pthread_mutex_lock(&w->mu);
    struct wcluster *c = watch_find_cluster(w, cluster);
    char *password = c && c->conf->password ? xstrdup(c->conf->password) : NULL;
    pthread_mutex_unlock(&w->mu);
    return password;
}

int watch_shard_index(const struct spec *s, const char *name)
{
    for (size_t i = 0; i < s->nshards; i++)
        if (str_eq(s->shards[i].name, name))
            return (int)i;
    return -1;
}

int watch_sentinel_index(const struct spec *s, const char *ip, int port)
{
    for (size_t i = 0; i < s->sentinel.nnodes; i++)
        if (str_eq(s->sentinel.nodes[i].ip, ip) && s->sentinel.nodes[i].port == port)
            return (int)i;
    return -1;
}

/* Whether two specs have the same shards and sentinels, in the same order. */
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

static void episodes_free(struct wcluster *c)
{
    for (size_t i = 0; c->episodes && i < c->nshards; i++)
        wep_release(&c->episodes[i]);
    free(c->episodes);
    free(c->early_us);
    c->episodes = NULL;
    c->early_us = NULL;
}

/* One episode per shard (after nshards and nsentinels were set). */
static void episodes_new(struct wcluster *c, int quorum)
{
    c->episodes = xcalloc(c->nshards + 1, sizeof(*c->episodes));
    c->early_us = xcalloc(c->nshards + 1, sizeof(*c->early_us));
    for (size_t i = 0; i < c->nshards; i++)
        wep_init(&c->episodes[i], c->nsentinels, quorum);
}

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
    struct wcluster *c = watch_find_cluster(w, copy->cluster);
    if (c && !same_layout(c->conf->spec, copy)) {
        /* shards or sentinels changed: keep the known masters by shard name */
        char **current = xcalloc(copy->nshards ? copy->nshards : 1, sizeof(char *));
        for (size_t i = 0; i < copy->nshards; i++) {
            int old = watch_shard_index(c->conf->spec, copy->shards[i].name);
            if (old >= 0) {
                current[i] = c->current[old];
                c->current[old] = NULL;
            }
        }
        free_strv(c->current, c->nshards);
        free_strv(c->reports, c->nshards * c->nsentinels);
        free_strv(c->refused, c->nshards);
        episodes_free(c);
        c->current = current;
        c->nshards = copy->nshards;
        c->nsentinels = copy->sentinel.nnodes;
        c->reports = xcalloc(c->nshards * c->nsentinels + 1, sizeof(char *));
        c->refused = xcalloc(c->nshards + 1, sizeof(char *));
        episodes_new(c, copy->sentinel.quorum);
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
        episodes_new(c, copy->sentinel.quorum);
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
    for (size_t i = 0; i < c->nshards; i++)
        c->episodes[i].quorum = copy->sentinel.quorum;
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
    episodes_free(c);
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
    struct wcluster *c = watch_find_cluster(w, cluster);
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
    struct wcluster *c = watch_find_cluster(w, cluster);
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
                      "proxies serve shard %s from %s, %.2f ms after %s", job.shard,
                      job.new_master, took, job.trigger ? job.trigger : "the trigger");
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

/* ---------------------------------------------------------------- the worker's job */

/*
 * Hand the worker a repoint of shard `si` to `addr` (the proxies' master of
 * that shard from now on). `trigger` says what caused it, for the log; a
 * pending job keeps its first trigger and start time. Called with w->mu held.
 */
void watch_queue_repoint(struct wcluster *c, size_t si, const char *addr, long long at_us,
                         const char *trigger)
{
    struct wjob *j = &c->job;
    char *old = xstrdup(c->current[si]);
    free(c->current[si]);
    c->current[si] = xstrdup(addr);
    free_strv(j->masters, j->nmasters);
    j->nmasters = c->nshards;
    j->masters = xcalloc(c->nshards + 1, sizeof(char *));
    for (size_t i = 0; i < c->nshards; i++)
        j->masters[i] = xstrdup(c->current[i]);
    if (!j->pending) {
        free(j->shard);
        free(j->old_master);
        free(j->new_master);
        free(j->trigger);
        j->shard = xstrdup(c->conf->spec->shards[si].name);
        j->old_master = old;
        old = NULL;
        j->new_master = xstrdup(addr);
        j->quorum_us = at_us;
        j->trigger = xstrdup(trigger);
    }
    free(old);
    j->pending = true;
    c->generation++;
    pthread_cond_signal(&c->cond);
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
            watch_sync_conns(w);

        long long now = now_ms();
        long wait = 1000;
        for (size_t i = 0; i < w->nconns; i++) {
            long t = watch_conn_tick(w, w->conns[i], now);
            if (t < wait)
                wait = t;
        }
        watch_poll_sweep(w, now);
        for (size_t i = 0; i < w->npolls; i++) {
            long t = watch_poll_tick(w, w->polls[i], now);
            if (t < wait)
                wait = t;
        }
        if (wait < 0)
            wait = 0;
        size_t npolls = w->npolls; /* polls started while handling events wait a round */
        if (pfd_cap < w->nconns + npolls + 1) {
            pfd_cap = w->nconns + npolls + 1;
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
        for (size_t i = 0; i < npolls; i++) {
            struct wpoll *p = w->polls[i];
            struct pollfd *q = &pfd[w->nconns + 1 + i];
            *q = (struct pollfd){.fd = -1};
            if (!p->c || p->state == P_SLEEP)
                continue;
            q->fd = p->c->fd;
            q->events = p->state == P_CONNECTING ? POLLOUT : POLLIN;
        }
        size_t nconns = w->nconns;
        int n = poll(pfd, nconns + npolls + 1, (int)wait);
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
                watch_conn_connected(w, cn);
                continue;
            }
            if (re & (POLLIN | POLLHUP | POLLERR))
                watch_conn_readable(w, cn);
            if (cn->c && (re & POLLOUT) && cn->want_write)
                watch_conn_flush(w, cn);
        }
        for (size_t i = 0; i < npolls && i < w->npolls; i++) {
            struct wpoll *p = w->polls[i];
            struct pollfd *q = &pfd[nconns + 1 + i];
            if (!q->revents || p->dead || !p->c || q->fd != p->c->fd)
                continue;
            if (p->state == P_CONNECTING)
                watch_poll_connected(w, p);
            else if (p->state == P_WAITING)
                watch_poll_readable(w, p);
        }
    }
    for (size_t i = 0; i < w->npolls; i++)
        watch_poll_free(w->polls[i]);
    free(w->polls);
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
    if (w->o.promotion_poll_ms <= 0)
        w->o.promotion_poll_ms = 5;
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
        watch_conn_free(w, w->conns[i]);
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
