/*
 * watch_conn.c - the subscriptions: a non-blocking connection per sentinel
 * of every cluster, SUBSCRIBEd to +switch-master (and the episode's
 * channels), reconnected with backoff and jitter, checked with PING; each
 * message goes to watch_events.c (watch_impl.h). Owned by the loop thread.
 */
#include "watch_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "rclient.h"
#include "util.h"

#define SWITCH_CHANNEL "+switch-master"
/* --repoint-at promotion: a shard's failover episode (watch_episode.h) */
#define EPISODE_CHANNELS "+odown -odown +elected-leader +selected-slave " \
                         "+failover-state-send-slaveof-noone"
#define ABORT_PATTERN "-failover-abort-*"

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
    struct wcluster *c = watch_find_cluster(w, cn->cluster);
    int ni = c ? watch_sentinel_index(c->conf->spec, cn->ip, cn->port) : -1;
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
        char *commit = watch_cluster_commit(w, cn->cluster);
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

void watch_conn_flush(struct watch *w, struct wconn *cn)
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
    struct rclient_err e;
    cn->c = rclient_connect_nonblock(cn->ip, cn->port, true, &e);
    if (!cn->c) {
        conn_fail(w, cn, e.text);
        return;
    }
    cn->state = C_CONNECTING;
    cn->since_ms = now_ms();
    cn->want_write = true;
}

const char *watch_connect_finish(struct watch *w, redisContext *c, const char *cluster,
                                 bool *auth_pending)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr)
        return strerror(soerr);
    char *password = watch_cluster_password(w, cluster);
    *auth_pending = rclient_append_auth(c, password);
    secret_free(password);
    return NULL;
}

/* The socket became writable while connecting: check, then SUBSCRIBE. */
void watch_conn_connected(struct watch *w, struct wconn *cn)
{
    /* sentinels with requirepass (auth: in the spec) want AUTH first */
    const char *why = watch_connect_finish(w, cn->c, cn->cluster, &cn->auth_pending);
    if (why) {
        conn_fail(w, cn, why);
        return;
    }
    if (w->o.repoint_at_promotion) {
        /* the format splits on spaces: one argument per channel */
        redisAppendCommand(cn->c, "SUBSCRIBE " SWITCH_CHANNEL " " EPISODE_CHANNELS);
        redisAppendCommand(cn->c, "PSUBSCRIBE " ABORT_PATTERN);
    } else {
        redisAppendCommand(cn->c, "SUBSCRIBE %s", SWITCH_CHANNEL);
    }
    cn->state = C_SUBSCRIBING;
    cn->since_ms = now_ms();
    watch_conn_flush(w, cn);
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
        char *commit = watch_cluster_commit(w, cn->cluster);
        log_event(cn->down_logged || cn->was_up ? LOG_INFO : LOG_DEBUG, "watch-subscribed",
                  cn->cluster, commit, f, 1, "subscribed to +switch-master on sentinel %s", from);
        free(commit);
        free(from);
        cn->was_up = true;
        cn->down_logged = false;
    } else if (str_ieq(kind, "message") && r->elements == 3 &&
               r->element[1]->type == REDIS_REPLY_STRING &&
               r->element[2]->type == REDIS_REPLY_STRING) {
        if (str_eq(r->element[1]->str, SWITCH_CHANNEL))
            watch_on_switch(w, cn, r->element[2]->str, at_us);
        else if (w->o.repoint_at_promotion)
            watch_on_episode_event(w, cn, r->element[1]->str, r->element[2]->str);
    } else if (str_ieq(kind, "pmessage") && r->elements == 4 &&
               r->element[2]->type == REDIS_REPLY_STRING &&
               r->element[3]->type == REDIS_REPLY_STRING && w->o.repoint_at_promotion) {
        watch_on_episode_event(w, cn, r->element[2]->str, r->element[3]->str);
    }
}

void watch_conn_readable(struct watch *w, struct wconn *cn)
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
long watch_conn_tick(struct watch *w, struct wconn *cn, long long now)
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
            watch_conn_flush(w, cn);
            if (!cn->c)
                return (long)(cn->next_try_ms - now);
        }
        return cn->ping_sent_ms ? (long)(cn->ping_sent_ms + limit + 2000 - now)
                                : (long)(cn->last_ping_ms + w->o.ping_interval_ms - now);
    }
    return 1000;
}

void watch_conn_free(struct watch *w, struct wconn *cn)
{
    if (cn->state == C_SUBSCRIBED)
        set_subscribed(w, -1);
    redisFree(cn->c);
    free(cn->cluster);
    free(cn->ip);
    free(cn);
}

/* Match the connections to the clusters' sentinels: keep, add, drop. */
void watch_sync_conns(struct watch *w)
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
            watch_conn_free(w, w->conns[i]);
    }
    w->nconns = n;
}
