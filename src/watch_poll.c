/*
 * watch_poll.c - the ROLE polls of --repoint-at promotion: the member
 * Sentinel's leader selected is asked for ROLE every few ms until it
 * answers master (watch_on_promoted) or the episode stops the poll
 * (watch_impl.h). Owned by the loop thread.
 */
#include "watch_impl.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rclient.h"
#include "util.h"

void watch_poll_free(struct wpoll *p)
{
    if (!p)
        return;
    redisFree(p->c);
    free(p->cluster);
    free(p->addr);
    free(p->ip);
    free(p);
}

/* Stop the poll of a shard (freed by watch_poll_sweep: the loop may be iterating). */
void watch_poll_stop(struct watch *w, const char *cluster, size_t si)
{
    for (size_t i = 0; i < w->npolls; i++)
        if (str_eq(w->polls[i]->cluster, cluster) && w->polls[i]->shard == si)
            w->polls[i]->dead = true;
}

/* Free the stopped polls and those past their deadline. */
void watch_poll_sweep(struct watch *w, long long now)
{
    size_t n = 0;
    for (size_t i = 0; i < w->npolls; i++) {
        struct wpoll *p = w->polls[i];
        if (!p->dead && now > p->until_ms) {
            log_event(LOG_WARN, "promotion-poll", p->cluster, NULL, NULL, 0,
                      "%s never answered ROLE master: stopped polling it; following the quorum",
                      p->addr);
            p->dead = true;
        }
        if (p->dead)
            watch_poll_free(p);
        else
            w->polls[n++] = p;
    }
    w->npolls = n;
}

void watch_poll_start(struct watch *w, const char *cluster, size_t si, const char *addr,
                      long long failover_timeout_ms)
{
    watch_poll_stop(w, cluster, si);
    struct wpoll *p = xcalloc(1, sizeof(*p));
    p->cluster = xstrdup(cluster);
    p->shard = si;
    p->addr = xstrdup(addr);
    p->ip = xstrdup(addr);
    char *colon = strrchr(p->ip, ':');
    p->port = colon ? atoi(colon + 1) : 0;
    if (colon)
        *colon = '\0';
    p->state = P_SLEEP;
    p->next_ms = now_ms();
    p->until_ms = p->next_ms + 2 * (failover_timeout_ms > 0 ? failover_timeout_ms : 60000);
    p->start_us = now_us();
    VEC_GROW(w->polls, w->npolls, w->polls_cap);
    w->polls[w->npolls++] = p;
    log_event(LOG_DEBUG, "promotion-poll", cluster, NULL, NULL, 0,
              "polling %s for ROLE master every %ld ms", addr, w->o.promotion_poll_ms);
}

/* End this attempt; ask again after the poll period. */
static void poll_retry(struct watch *w, struct wpoll *p, const char *why)
{
    if (why && !p->failed_logged) {
        log_event(LOG_DEBUG, "promotion-poll", p->cluster, NULL, NULL, 0, "%s: %s", p->addr,
                  why);
        p->failed_logged = true;
    }
    redisFree(p->c);
    p->c = NULL;
    p->state = P_SLEEP;
    p->next_ms = now_ms() + w->o.promotion_poll_ms;
}

static void poll_send(struct watch *w, struct wpoll *p)
{
    int done = 0;
    redisAppendCommand(p->c, "ROLE");
    p->state = P_WAITING;
    p->since_ms = now_ms();
    if (redisBufferWrite(p->c, &done) != REDIS_OK)
        poll_retry(w, p, p->c->errstr);
}

/* Timeouts and the next attempt; the ms until this poll needs attention. */
long watch_poll_tick(struct watch *w, struct wpoll *p, long long now)
{
    if (p->state == P_SLEEP) {
        if (now < p->next_ms)
            return (long)(p->next_ms - now);
        if (p->c) {
            poll_send(w, p); /* connection kept: ask again */
            return w->o.connect_timeout_ms;
        }
        struct rclient_err e;
        p->c = rclient_connect_nonblock(p->ip, p->port, false, &e);
        if (!p->c) {
            poll_retry(w, p, e.text);
            return w->o.promotion_poll_ms;
        }
        p->state = P_CONNECTING;
        p->since_ms = now;
        return w->o.connect_timeout_ms;
    }
    if (now - p->since_ms >= w->o.connect_timeout_ms) {
        poll_retry(w, p, p->state == P_CONNECTING ? "connect timed out" : "no answer to ROLE");
        return w->o.promotion_poll_ms;
    }
    return (long)(p->since_ms + w->o.connect_timeout_ms - now);
}

void watch_poll_connected(struct watch *w, struct wpoll *p)
{
    const char *why = watch_connect_finish(w, p->c, p->cluster, &p->auth_pending);
    if (why) {
        poll_retry(w, p, why);
        return;
    }
    poll_send(w, p);
}

/* Readable: AUTH's and ROLE's replies. Returns true when the poll is over. */
bool watch_poll_readable(struct watch *w, struct wpoll *p)
{
    long long at_us = now_us();
    if (redisBufferRead(p->c) != REDIS_OK || rclient_reply_too_large(p->c)) {
        /* Sentinel's promotion kills the clients of the replica (CLIENT KILL TYPE normal) */
        poll_retry(w, p, p->c->errstr[0] ? p->c->errstr : "connection closed");
        p->next_ms = now_ms(); /* at once: a killed connection may mean promoted */
        return false;
    }
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(p->c, &reply) != REDIS_OK) {
            poll_retry(w, p, p->c->errstr);
            return false;
        }
        if (!reply)
            return false;
        redisReply *r = reply;
        if (p->auth_pending) {
            p->auth_pending = false;
            bool bad = r->type == REDIS_REPLY_ERROR && !rclient_auth_tolerated(r->str);
            freeReplyObject(reply);
            if (bad) {
                poll_retry(w, p, "AUTH refused");
                return false;
            }
            continue;
        }
        bool master = r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                      r->element[0]->type == REDIS_REPLY_STRING &&
                      str_eq(r->element[0]->str, "master");
        freeReplyObject(reply);
        if (master) {
            char *cluster = xstrdup(p->cluster), *addr = xstrdup(p->addr);
            size_t si = p->shard;
            long long start = p->start_us;
            p->dead = true;
            watch_on_promoted(w, cluster, si, addr, at_us, start);
            free(cluster);
            free(addr);
            return true;
        }
        p->state = P_SLEEP; /* still a replica: ask again on this connection */
        p->next_ms = now_ms() + w->o.promotion_poll_ms;
    }
}
