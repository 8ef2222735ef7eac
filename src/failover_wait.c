/*
 * failover_wait.c - wait while Sentinel fails shards over (failover_wait.h).
 */
#include "failover_wait.h"

#include <stdlib.h>
#include <string.h>

#include "failover.h"
#include "util.h"

/* shard i's down-after and failover-timeout, as the sentinels report them (else the spec's) */
static void shard_timing(const struct spec *s, const struct observed *obs, size_t i,
                         long *down_after, long *timeout)
{
    const struct spec_sentinel *ss = &s->sentinel;
    *down_after = ss->down_after_ms;
    *timeout = ss->failover_timeout_ms;
    for (size_t j = 0; obs && j < ss->nnodes; j++) {
        const struct obs_sentinel *os = observed_sentinel(obs, ss->nodes[j].ip, ss->nodes[j].port);
        for (size_t k = 0; os && os->reach == REACH_OK && k < os->nmasters; k++) {
            const struct obs_sentinel_master *m = &os->masters[k];
            if (!str_eq(m->name, s->shards[i].name))
                continue;
            if (m->down_after_ms > 0)
                *down_after = m->down_after_ms;
            if (m->failover_timeout_ms > 0)
                *timeout = m->failover_timeout_ms;
            return; /* the first sentinel that knows the shard says it */
        }
    }
}

long failover_wait_bound_ms(const struct spec *s, const struct observed *obs, size_t i)
{
    long down_after, timeout;
    shard_timing(s, obs, i, &down_after, &timeout);
    return down_after + timeout + FAILOVER_WAIT_SLACK_MS;
}

/* What shard i waits for, as the plan `p` of observation `obs` says; caller frees. */
static char *waiting_for(const struct spec *s, const struct observed *obs, const struct plan *p,
                         size_t i, bool with_time)
{
    struct failover_view fv;
    struct failover_hold fh;
    if (p->shard_failover[i] && failover_detect(s, obs, i, &fv))
        return failover_describe(&fv, with_time);
    if (failover_held_off(s, obs, i, &fh)) {
        char *hold = failover_hold_describe(&fh, with_time);
        char *what = xasprintf("master %s:%d is down; %s", p->masters[i].ip, p->masters[i].port,
                               hold);
        free(hold);
        return what;
    }
    return xasprintf("master %s:%d is down; Sentinel has not started a failover yet "
                     "(down-after %ld ms)",
                     p->masters[i].ip, p->masters[i].port, s->sentinel.down_after_ms);
}

static bool refused(const struct plan *p, const char *shard)
{
    for (size_t r = 0; r < p->nrefusals; r++)
        if (str_eq(p->refusals[r].shard, shard))
            return true;
    return false;
}

enum failover_wait_result failover_wait(const struct spec *s, const struct plan *p,
                                        const struct failover_wait_options *o, char **why)
{
    size_t n = s->nshards;
    long long start = now_ms();
    long poll = o->poll_ms > 0 ? o->poll_ms : FAILOVER_WAIT_POLL_MS;
    bool *waiting = xcalloc(n ? n : 1, sizeof(bool));
    char **last = xcalloc(n ? n : 1, sizeof(char *));
    long long *deadline = xcalloc(n ? n : 1, sizeof(long long));
    bool *extended = xcalloc(n ? n : 1, sizeof(bool));
    size_t nwaiting = 0;
    for (size_t i = 0; i < n; i++) {
        waiting[i] = p->shard_waiting && p->shard_waiting[i];
        nwaiting += waiting[i];
        /* the plan's own observation is gone: bound by the spec until the first poll */
        deadline[i] = start + (o->wait_ms >= 0 ? o->wait_ms : failover_wait_bound_ms(s, NULL, i));
    }
    struct observe_options oo = o->observe;
    oo.only_shards = waiting;
    enum failover_wait_result res = FAILOVER_WAIT_SETTLED;
    bool first = true;

    while (nwaiting > 0) {
        if (o->stop && *o->stop) {
            res = FAILOVER_WAIT_STOPPED;
            break;
        }
        struct observed *obs = observe_cluster(s, &oo);
        struct plan *q = plan_compute(s, obs);
        long long now = now_ms();
        for (size_t i = 0; i < n; i++) {
            if (!waiting[i])
                continue;
            if (first && o->wait_ms < 0)
                deadline[i] = start + failover_wait_bound_ms(s, obs, i);
            if (!q->shard_waiting[i] || refused(q, s->shards[i].name)) {
                waiting[i] = false;
                nwaiting--;
                if (o->out)
                    fprintf(o->out, "wait: %s: Sentinel is done (after %.1f s)\n",
                            s->shards[i].name, (double)(now - start) / 1000.0);
                continue;
            }
            char *what = waiting_for(s, obs, q, i, false);
            if (o->out && !str_eq(what, last[i]))
                fprintf(o->out, "wait: %s: %s [%.1f s]\n", s->shards[i].name, what,
                        (double)(now - start) / 1000.0);
            free(last[i]);
            last[i] = what;
            struct failover_hold fh;
            if (o->wait_ms < 0 && !extended[i] && failover_held_off(s, obs, i, &fh)) {
                extended[i] = true; /* once: a second abandoned attempt ends the wait */
                /* Sentinel's next attempt, and the failover-timeout it may take */
                long long retry = now + fh.retry_in_ms + fh.timeout_ms + FAILOVER_WAIT_SLACK_MS;
                if (retry > deadline[i]) {
                    deadline[i] = retry;
                    if (o->out)
                        fprintf(o->out,
                                "wait: %s: Sentinel's next attempt is due in about %lld s; rmgr "
                                "waits for it (at most %.1f s in all)\n",
                                s->shards[i].name, (fh.retry_in_ms + 999) / 1000,
                                (double)(deadline[i] - start) / 1000.0);
                }
            }
            if (now >= deadline[i] && res == FAILOVER_WAIT_SETTLED) {
                char *now_what = waiting_for(s, obs, q, i, true);
                *why = xasprintf("shard %s: Sentinel did not finish within %.1f s (%s): %s",
                                 s->shards[i].name, (double)(deadline[i] - start) / 1000.0,
                                 o->wait_ms >= 0 ? "--failover-wait"
                                                 : "down-after + failover-timeout, or "
                                                   "Sentinel's next attempt",
                                 now_what);
                free(now_what);
                res = FAILOVER_WAIT_TIMEOUT;
            }
        }
        if (o->out)
            fflush(o->out);
        plan_free(q);
        observed_free(obs);
        first = false;
        if (res != FAILOVER_WAIT_SETTLED || nwaiting == 0)
            break;
        for (long slept = 0; slept < poll && !(o->stop && *o->stop); slept += 20)
            sleep_ms(20);
    }
    strings_free(last, n);
    free(deadline);
    free(extended);
    free(waiting);
    return res;
}
