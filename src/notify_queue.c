/*
 * notify_queue.c - the background notification sender. See notify_queue.h.
 */
#include "notify_queue.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

/* An event waiting for the sender, with copies of its strings. */
struct queued_event {
    enum notify_event_kind kind;
    char *cluster, *commit, *subject, *summary, *body;
    long long timestamp;
    struct queued_event *next;
};

struct notify_queue {
    pthread_mutex_t mu; /* everything below, and *o while the sender posts */
    pthread_cond_t cond;
    struct notify_options *o;
    notify_queue_failed_fn *failed;
    void *arg;
    struct queued_event *head, *tail;
    bool sending;
    bool stop;
    pthread_t thread;
    bool started;
};

static void queued_free(struct queued_event *q)
{
    free(q->cluster);
    free(q->commit);
    free(q->subject);
    free(q->summary);
    free(q->body);
    free(q);
}

/* Post one event; failures go to the callback only. */
static void send_one(struct notify_queue *nq, const struct notify_event *ev)
{
    if (nq->o->ntargets == 0)
        return;
    char *err = NULL;
    if (notify_send(nq->o, ev, &err) > 0 && nq->failed)
        nq->failed(ev, err, nq->arg);
    free(err);
}

static void *sender_main(void *arg)
{
    struct notify_queue *nq = arg;
    pthread_mutex_lock(&nq->mu);
    for (;;) {
        while (!nq->head && !nq->stop)
            pthread_cond_wait(&nq->cond, &nq->mu);
        if (!nq->head)
            break;
        struct queued_event *q = nq->head;
        nq->head = q->next;
        if (!nq->head)
            nq->tail = NULL;
        nq->sending = true;
        pthread_mutex_unlock(&nq->mu);
        struct notify_event ev = {q->kind, q->cluster, q->commit, q->subject, q->summary,
                                  q->body, q->timestamp};
        send_one(nq, &ev);
        queued_free(q);
        pthread_mutex_lock(&nq->mu);
        nq->sending = false;
        pthread_cond_broadcast(&nq->cond);
    }
    pthread_mutex_unlock(&nq->mu);
    return NULL;
}

struct notify_queue *notify_queue_start(struct notify_options *o, notify_queue_failed_fn *failed,
                                        void *arg)
{
    struct notify_queue *nq = xcalloc(1, sizeof(*nq));
    pthread_mutex_init(&nq->mu, NULL);
    pthread_cond_init(&nq->cond, NULL);
    nq->o = o;
    nq->failed = failed;
    nq->arg = arg;
    nq->started = pthread_create(&nq->thread, NULL, sender_main, nq) == 0;
    return nq;
}

void notify_queue_push(struct notify_queue *nq, const struct notify_event *ev)
{
    struct queued_event *q = xcalloc(1, sizeof(*q));
    q->kind = ev->kind;
    q->cluster = xstrdup(ev->cluster);
    q->commit = xstrdup(ev->commit);
    q->subject = xstrdup(ev->subject);
    q->summary = xstrdup(ev->summary);
    q->body = xstrdup(ev->body);
    q->timestamp = ev->timestamp ? ev->timestamp : (long long)time(NULL);
    pthread_mutex_lock(&nq->mu);
    if (nq->tail)
        nq->tail->next = q;
    else
        nq->head = q;
    nq->tail = q;
    pthread_cond_broadcast(&nq->cond);
    pthread_mutex_unlock(&nq->mu);
}

void notify_queue_set_options(struct notify_queue *nq, struct notify_options *o)
{
    pthread_mutex_lock(&nq->mu);
    while (nq->sending)
        pthread_cond_wait(&nq->cond, &nq->mu);
    nq->o = o;
    pthread_mutex_unlock(&nq->mu);
}

void notify_queue_add_secret(struct notify_queue *nq, const char *secret)
{
    if (!secret || !*secret)
        return;
    pthread_mutex_lock(&nq->mu);
    bool known = false;
    for (size_t i = 0; i < nq->o->nsecrets && !known; i++)
        known = str_eq(nq->o->secrets[i], secret);
    while (!known && nq->sending)
        pthread_cond_wait(&nq->cond, &nq->mu);
    if (!known)
        notify_options_add_secret(nq->o, secret);
    pthread_mutex_unlock(&nq->mu);
}

void notify_queue_stop(struct notify_queue *nq)
{
    if (!nq)
        return;
    pthread_mutex_lock(&nq->mu);
    nq->stop = true;
    pthread_cond_broadcast(&nq->cond);
    pthread_mutex_unlock(&nq->mu);
    if (nq->started)
        pthread_join(nq->thread, NULL);
    while (nq->head) {
        struct queued_event *q = nq->head;
        nq->head = q->next;
        queued_free(q);
    }
    pthread_cond_destroy(&nq->cond);
    pthread_mutex_destroy(&nq->mu);
    free(nq);
}
