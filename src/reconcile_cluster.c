/*
 * reconcile_cluster.c - one cluster's part of a run, on its own thread:
 * look, wait for Sentinel when it is failing over, plan, apply under the
 * cluster lock (--apply), tell the team about drift and apply outcomes,
 * check the alert rules and hand the metrics what the run saw
 * (reconcile_impl.h).
 */
#include "reconcile_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "apply.h"
#include "drift_state.h"
#include "failover.h"
#include "failover_wait.h"
#include "lock.h"
#include "log.h"
#include "metrics.h"
#include "reconcile_fleet.h"
#include "render.h"
#include "session.h"
#include "step_guard.h"
#include "top.h"
#include "util.h"

/* a plan that went stale while it was made (a failover) is made again, this often */
#define MAX_PLAN_ATTEMPTS 3
#define MAX_SENTINEL_WAITS 3 /* overlapping failovers waited for in one run */

/* Deliver an event now (from a cluster thread); failures are logged only. */
static void send_now(struct reconciler *r, const struct notify_event *ev)
{
    if (r->o->notify.ntargets == 0)
        return;
    char *err = NULL;
    if (notify_send(&r->o->notify, ev, &err) > 0)
        reconcile_log_warnings("notify-failed", ev->cluster, ev->commit, err);
    free(err);
}

/*
 * Tell the team about the drift in `p` (drift false: none). `note`, when not
 * NULL, leads the summary (e.g. what an apply just did).
 */
static void tell_drift(struct cluster_job *j, const struct spec *s, const struct plan *p,
                       bool drift, const char *note)
{
    struct reconciler *r = j->r;
    char *fp = NULL, *summary = NULL, *body = NULL;
    if (drift) {
        char *canon = reconcile_drift_canonical(p);
        fp = drift_fingerprint(canon);
        free(canon);
    }
    if (p->nrefusals) {
        struct strbuf sb = {0};
        sb_add(&sb, "The plan refuses shard");
        sb_add(&sb, p->nrefusals > 1 ? "s " : " ");
        for (size_t i = 0; i < p->nrefusals; i++)
            sb_addf(&sb, "%s%s", i ? ", " : "", p->refusals[i].shard);
        sb_add(&sb, ": a person must look.");
        summary = sb_detach(&sb);
    } else {
        summary = render_plan_summary(p);
    }
    if (note) {
        char *with = xasprintf("%s %s", note, summary);
        free(summary);
        summary = with;
    }
    body = render_plan_text(s, p, false);
    struct drift_input in = {s->cluster, fp, j->commit, j->subject, summary, body,
                             (long long)time(NULL)};
    char *warn = NULL;
    enum drift_action a = drift_notify(&r->o->notify, r->state_dir, &in, &warn);
    reconcile_log_warnings("notify-failed", s->cluster, j->commit, warn);
    free(warn);
    enum notify_event_kind kind;
    if (drift_action_event(a, &kind)) {
        struct log_field f[] = {{"fingerprint", fp}};
        log_event(LOG_INFO, notify_event_name(kind), s->cluster, j->commit, f, fp ? 1 : 0,
                  "%s", summary);
    }
    free(fp);
    free(summary);
    free(body);
}

/* Whether anything shows the metrics: a listener or a metrics file. */
static bool metrics_wanted(const struct reconciler *r)
{
    return r->http || r->o->metrics_file;
}

/*
 * The spec's alert rules on the last observation of this run: firing and
 * resolved go to the webhooks on transitions only (alerts.h). Runs also when
 * the spec has no rules, so alerts of rules just removed resolve.
 */
static void check_alerts(struct cluster_job *j, const struct session *s)
{
    struct reconciler *r = j->r;
    char *warn = NULL;
    struct alert_state st;
    alerts_check(&r->o->notify, r->state_dir, s->spec, s->observed, j->commit, false, &st, &warn);
    reconcile_log_warnings("notify-failed", s->spec->cluster, j->commit, warn);
    free(warn);
    /* every rule's state on every instance: rmgr_alert_firing and the status page */
    if (metrics_wanted(r)) {
        struct metrics_alert *v = xcalloc(st.nrows + 1, sizeof(*v));
        for (size_t i = 0; i < st.nrows; i++)
            v[i] = (struct metrics_alert){st.rows[i].name, st.rows[i].addr, st.rows[i].firing,
                                          st.rows[i].value, st.rows[i].since_s};
        metrics_set_alerts(r->metrics, s->spec->cluster, v, st.nrows);
        free(v);
    }
    alert_state_release(&st);
}

static bool stopping(const struct cluster_job *j)
{
    return j->stop && *j->stop;
}

/* Observe and plan; the watcher generation seen before is returned in *gen. */
static void look(struct cluster_job *j, struct session *s, const struct session_options *so,
                 unsigned long *gen)
{
    *gen = watch_generation(j->r->watch, s->spec->cluster);
    session_observe(s, so);
    if (s->observed)
        metrics_observed(j->r->metrics, s->spec->cluster, (double)s->observed->took_ms / 1000.0);
    session_plan(s, so);
}

static bool has_acting_steps(const struct plan *p)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (step_acts(&p->steps[i]))
            return true;
    return false;
}

/*
 * Whether an apply outcome is news. A failing apply would otherwise be posted
 * on every cron run; it is remembered like drift, in a state of its own
 * ("<cluster>.apply"), keyed by the drift it tried to fix and what went
 * wrong (digits dropped: pids and timings change from run to run).
 * `outcome` NULL means the apply left nothing to report (state cleared).
 */
static bool apply_outcome_is_news(struct reconciler *r, const char *cluster, const char *commit,
                                  const struct plan *p, const char *outcome)
{
    char *key = xasprintf("%s.apply", cluster);
    char *fp = NULL;
    if (outcome) {
        struct strbuf canon = {0};
        char *drift = reconcile_drift_canonical(p);
        sb_add(&canon, drift);
        free(drift);
        sb_add(&canon, "\n--\n");
        for (const char *c = outcome; *c; c++)
            if (*c < '0' || *c > '9')
                sb_addc(&canon, *c);
        fp = drift_fingerprint(sb_str(&canon));
        sb_release(&canon);
    }
    struct drift_state prev = {0}, next = {0};
    char *warn = NULL, *err = NULL;
    drift_state_load(r->state_dir, key, &prev, &warn);
    reconcile_log_warnings("notify-state", cluster, commit, warn);
    enum drift_action a =
        drift_transition(&prev, fp, (long long)time(NULL), r->o->notify.remind_after_s, &next);
    bool news = a == DRIFT_FOUND || a == DRIFT_CHANGED || a == DRIFT_REMIND;
    /* a state that cannot be saved repeats a message at worst */
    if (a != DRIFT_NONE && drift_state_save(r->state_dir, key, &next, &err) < 0)
        reconcile_log_warnings("notify-state", cluster, commit, err);
    drift_state_release(&prev);
    drift_state_release(&next);
    free(warn);
    free(err);
    free(fp);
    free(key);
    return news;
}

/* Carry out s->plan under the cluster lock; then look again. Returns the status. */
static enum reconcile_status apply_drift(struct cluster_job *j, struct session *s,
                                         const struct session_options *so, unsigned long *gen,
                                         const char *failover)
{
    struct reconciler *r = j->r;
    const struct reconcile_options *o = r->o;
    const char *cluster = s->spec->cluster;
    char *lockpath = lock_default_path(cluster);
    char *err = NULL;
    /* at least a second: the watcher holds the lock for a few ms per repoint */
    struct cluster_lock *lk =
        lock_acquire(lockpath, o->lock_timeout_ms > 1000 ? o->lock_timeout_ms : 1000, &err);
    free(lockpath);
    if (!lk) {
        log_event(LOG_WARN, "apply-skipped", cluster, j->commit, NULL, 0,
                  "not applying this run: %s", err ? err : "cannot take the cluster lock");
        free(err);
        tell_drift(j, s->spec, s->plan, true, failover);
        return RECONCILE_DRIFT;
    }
    if (r->watch && watch_generation(r->watch, cluster) != *gen) {
        lock_release(lk);
        return RECONCILE_SKIPPED; /* a failover was handled meanwhile: plan again */
    }
    if (r->watch) {
        /*
         * The generation moves when a repoint is queued, not when it ends: a look
         * taken while one ran may have seen the proxy mid-restart (and planned to
         * start a second one). Under the lock no repoint runs: look again, and plan
         * again if anything differs.
         */
        char *before = xstrdup(s->fingerprint);
        look(j, s, so, gen);
        bool same = str_eq(before, s->fingerprint);
        free(before);
        if (!same) {
            lock_release(lk);
            log_event(LOG_INFO, "replan", cluster, j->commit, NULL, 0,
                      "the cluster changed while the plan was made (a repoint): planning again");
            return RECONCILE_SKIPPED;
        }
    }

    struct plan_counts c = plan_count(s->plan);
    log_event(LOG_INFO, "apply-start", cluster, j->commit, NULL, 0,
              "applying: %zu to add, %zu to change, %zu to remove", c.add, c.change, c.remove);
    struct apply_options ao = {
        .transport = {.accept_new_host_keys = o->accept_new_host_keys},
        .connect_timeout_ms = o->connect_timeout_ms,
        .command_timeout_ms = o->command_timeout_ms,
    };
    /* an ssh handshake may take longer than a redis connect: only raise its timeout */
    if (o->connect_timeout_ms > 0)
        ao.transport.connect_timeout_ms = o->connect_timeout_ms > 5000 ? o->connect_timeout_ms
                                                                       : 5000;
    FILE *out = log_stream_cluster(LOG_INFO, "apply-step", cluster, j->commit);
    ao.out = out;
    ao.color = false;
    ao.stop = j->stop; /* SIGTERM: finish the running step, start no other */
    struct apply_result res = {0};
    long long t0 = now_ms();
    /* fencing: with a fleet, each step checks the etcd lock is still ours (step_guard.h) */
    struct cluster_lock *fl = r->fleet ? fleet_lock(r->fleet, cluster) : NULL;
    struct step_guard guard;
    step_guard_init(&guard, &ao, cluster, r->fleet ? fleet_worker(r->fleet) : NULL,
                    fl ? fl : lk);
    int rc = apply_run(s->spec, s->plan, s->password, &ao, &res);
    step_guard_release(&guard);
    if (out)
        fclose(out);
    lock_release(lk);
    long long took = now_ms() - t0;
    if (rc != 0 && stopping(j)) {
        /* shutting down is not a failure to tell the team about: the next run finishes */
        log_event(LOG_INFO, "apply-stopped", cluster, j->commit, NULL, 0,
                  "%zu done, %zu not run: %s", res.done, res.not_run,
                  res.error ? res.error : "stopped");
        apply_result_release(&res);
        return RECONCILE_SKIPPED;
    }

    if (rc != 0)
        metrics_count_apply_failure(r->metrics, cluster);
    char *plan_text = render_plan_text(s->spec, s->plan, false);
    char *summary = render_plan_summary(s->plan);
    char took_txt[32];
    snprintf(took_txt, sizeof(took_txt), "%lld", took);
    struct log_field f[] = {{"took_ms", took_txt}};
    struct notify_event ev = {.cluster = cluster, .commit = j->commit, .subject = j->subject,
                              .timestamp = (long long)time(NULL)};
    char *ev_summary, *ev_body;
    if (rc == 0) {
        log_event(LOG_INFO, "apply-succeeded", cluster, j->commit, f, 1,
                  "applied %zu step%s in %lld ms", res.done, res.done == 1 ? "" : "s", took);
        ev.kind = NOTIFY_APPLY_SUCCEEDED;
        ev_summary = xasprintf("Applied: %s", summary);
        ev_body = xstrdup(plan_text);
    } else {
        log_event(LOG_ERROR, "apply-failed", cluster, j->commit, f, 1,
                  "%zu done, %zu failed, %zu not run: %s", res.done, res.failed, res.not_run,
                  res.error ? res.error : "unknown error");
        ev.kind = NOTIFY_APPLY_FAILED;
        ev_summary = xasprintf("Apply failed: %zu done, %zu failed, %zu not run.", res.done,
                               res.failed, res.not_run);
        ev_body = xasprintf("%s\nError: %s\n%s%s", plan_text, res.error ? res.error : "unknown",
                            res.not_run_list ? "Not run:\n" : "",
                            res.not_run_list ? res.not_run_list : "");
    }
    /* look again: what is left is drift (or, if all is well, drift resolved) */
    look(j, s, so, gen);
    bool left = plan_has_changes(s->plan) || s->plan->nrefusals;
    if (rc == 0 && left && s->plan->waiting && !s->plan->nrefusals && !s->plan->unreachable &&
        !has_acting_steps(s->plan)) {
        /* another failover started meanwhile: no news yet, the run waits for it */
        log_event(LOG_INFO, "failover-in-progress", cluster, j->commit, f, 1,
                  "applied %zu step%s; Sentinel is failing over %zu shard%s meanwhile",
                  res.done, res.done == 1 ? "" : "s", s->plan->waiting,
                  s->plan->waiting == 1 ? "" : "s");
        free(ev_summary);
        free(ev_body);
        free(plan_text);
        free(summary);
        apply_result_release(&res);
        return RECONCILE_SKIPPED;
    }
    /*
     * A clean apply is reported by the drift-resolved message it leads to, so a
     * drifted cluster costs the team exactly two messages: found and resolved.
     * A failed or partial apply is worth a message of its own.
     */
    ev.summary = ev_summary;
    ev.body = ev_body;
    char *note = NULL;
    if (rc != 0 || left) {
        /* the same failure (or partial success) is posted once, like drift */
        char *outcome = rc != 0 ? xasprintf("failed: %s", res.error ? res.error : "unknown")
                                : xstrdup("succeeded with drift left");
        if (apply_outcome_is_news(r, cluster, j->commit, s->plan, outcome))
            send_now(r, &ev);
        free(outcome);
    } else if (failover) {
        /* one message per failover: what Sentinel did and that rmgr followed it */
        apply_outcome_is_news(r, cluster, j->commit, s->plan, NULL);
        char *healed = xasprintf("%s Healed by reconcile --apply (%zu step%s applied): the "
                                 "cluster matches the spec.",
                                 failover, res.done, res.done == 1 ? "" : "s");
        char *body = xasprintf("%s\nApplied:\n%s", healed, plan_text);
        reconcile_queue_event(r, NOTIFY_FAILOVER_OBSERVED, cluster, j->commit, j->subject, healed,
                              body);
        free(body);
        free(healed);
    } else {
        apply_outcome_is_news(r, cluster, j->commit, s->plan, NULL);
        note = xasprintf("Drift resolved by reconcile --apply (%zu step%s applied).", res.done,
                         res.done == 1 ? "" : "s");
    }
    free(ev_summary);
    free(ev_body);
    free(plan_text);
    free(summary);
    apply_result_release(&res);

    /* a held failover not healed is said with the drift it leaves */
    tell_drift(j, s->spec, s->plan, left, note ? note : left ? failover : NULL);
    free(note);
    if (rc != 0)
        return RECONCILE_ERROR;
    if (left) {
        log_event(LOG_WARN, "drift", cluster, j->commit, NULL, 0,
                  "still differs from the spec after the apply: %s",
                  s->plan->nrefusals ? "the plan refuses" : "see the next run");
        return s->plan->nrefusals ? RECONCILE_ERROR : RECONCILE_DRIFT;
    }
    return RECONCILE_CORRECTED;
}

/*
 * An ssh host key that is unknown, changed or revoked is an error of the
 * whole run (session_check_host_keys): logged, told like drift (a person
 * must look), and nothing is applied. --accept-new-host-keys trusts keys
 * never seen, as apply does.
 */
static bool host_keys_trusted(struct cluster_job *j, struct session *s,
                              const struct session_options *so)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return session_check_host_keys(s, so, j->r->o->accept_new_host_keys, stderr) == 0;
    int rc = session_check_host_keys(s, so, j->r->o->accept_new_host_keys, mem);
    fclose(mem);
    if (rc == 0) {
        free(text);
        return true;
    }
    for (char *c = text; *c; c++)
        if (*c == '\n')
            *c = ' ';
    log_event(LOG_ERROR, "host-key-untrusted", s->spec->cluster, j->commit, NULL, 0, "%s",
              text);
    char *note = xasprintf("Not applied: %s", text);
    tell_drift(j, s->spec, s->plan, true, note);
    free(note);
    free(text);
    return false;
}

/*
 * s->plan leaves shards to Sentinel (a master down, a failover under way):
 * say so in the log, never as drift or a failed apply, and wait until
 * Sentinel is done (failover_wait_bound_ms() per shard at most).
 * RECONCILE_SKIPPED: done, look again. Otherwise the run's status: a
 * failover that did not finish is told as drift, with why.
 */
static enum reconcile_status wait_for_sentinel(struct cluster_job *j, struct session *s,
                                               const struct session_options *so)
{
    const struct plan *p = s->plan;
    const char *cluster = s->spec->cluster;
    for (size_t i = 0; i < s->spec->nshards; i++) {
        if (!p->shard_waiting[i])
            continue;
        struct log_field f[] = {{"shard", s->spec->shards[i].name}};
        struct failover_view fv;
        char *what = p->shard_failover[i] && failover_detect(s->spec, s->observed, i, &fv)
                         ? failover_describe(&fv, true)
                         : xasprintf("master %s:%d is down; waiting for Sentinel to fail it "
                                     "over",
                                     p->masters[i].ip, p->masters[i].port);
        log_event(LOG_INFO, "failover-in-progress", cluster, j->commit, f, 1, "%s", what);
        free(what);
    }
    struct failover_wait_options fo = {
        .wait_ms = FAILOVER_WAIT_DEFAULT,
        .observe = session_observe_options(s, so),
        .stop = j->stop,
        .out = log_stream_cluster(LOG_INFO, "failover-wait", cluster, j->commit),
    };
    char *why = NULL;
    enum failover_wait_result wr = failover_wait(s->spec, p, &fo, &why);
    if (fo.out)
        fclose(fo.out);
    if (wr == FAILOVER_WAIT_STOPPED)
        return RECONCILE_DRIFT; /* shutting down: the next run looks again */
    if (wr == FAILOVER_WAIT_TIMEOUT) {
        log_event(LOG_ERROR, "failover-timeout", cluster, j->commit, NULL, 0, "%s", why);
        char *note = xasprintf("Sentinel did not finish: %s.", why);
        tell_drift(j, s->spec, p, true, note);
        free(note);
        free(why);
        return RECONCILE_ERROR;
    }
    return RECONCILE_SKIPPED;
}

/*
 * Hand what this run saw of the cluster to the metrics registry: the last
 * look (instances, drift), a sample of the counters the page charts, and
 * how the run ended. A stopped run leaves the previous record.
 */
static void record_metrics(struct cluster_job *j, struct session *s, enum reconcile_status st)
{
    struct reconciler *r = j->r;
    if (!metrics_wanted(r) || st == RECONCILE_SKIPPED || !s->observed)
        return;
    const struct reconcile_options *o = r->o;
    struct top_sample t;
    top_sample(s->spec, s->password, o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 1000,
               o->command_timeout_ms > 0 ? o->command_timeout_ms : 1000, &t);
    struct metrics_cluster fresh = {0};
    metrics_record_build(s->spec, s->observed, s->plan, &t, &fresh);
    long long now = (long long)time(NULL);
    metrics_publish(r->metrics, &fresh, &t, now);
    metrics_cluster_release(&fresh);
    top_sample_release(&t);
    metrics_run_done(r->metrics, s->spec->cluster, j->commit, reconcile_status_name(st),
                     st != RECONCILE_ERROR, (double)now);
}

enum reconcile_status reconcile_cluster(struct cluster_job *j)
{
    struct reconciler *r = j->r;
    const struct reconcile_options *o = r->o;
    struct session s = {.spec = j->spec, .password = j->password};
    j->spec = NULL;
    j->password = NULL;
    struct session_options so = {
        .connect_timeout_ms = o->connect_timeout_ms,
        .command_timeout_ms = o->command_timeout_ms,
        .commit = j->commit,
    };
    const char *cluster = s.spec->cluster;
    enum reconcile_status st = RECONCILE_SKIPPED;
    int waits = 0;         /* times this run waited for Sentinel (failovers may overlap) */
    char *failover = NULL; /* "Failover observed: ..." held until healed */
    /* the watcher told the team of a failover: healing what it left is no news */
    bool quiet = o->apply && reconcile_take_announced(r, cluster);
    for (int attempt = 0; attempt < MAX_PLAN_ATTEMPTS && !stopping(j); attempt++) {
        unsigned long gen;
        look(j, &s, &so, &gen);
        if (stopping(j))
            break;
        if (!host_keys_trusted(j, &s, &so)) {
            st = RECONCILE_ERROR;
            break;
        }
        const struct plan *p = s.plan;
        reconcile_note_masters(r, s.spec, p, j->commit, j->subject, gen,
                               waits && o->apply ? &failover : NULL);
        if (p->waiting && !p->nrefusals && waits < MAX_SENTINEL_WAITS) {
            /* Sentinel at work is no drift to report: wait for its outcome, then look again */
            enum reconcile_status ws = wait_for_sentinel(j, &s, &so);
            if (ws != RECONCILE_SKIPPED) {
                st = ws;
                break;
            }
            waits++;
            quiet = quiet || (o->apply && reconcile_take_announced(r, cluster));
            attempt--;
            continue;
        }
        if (p->nrefusals) {
            for (size_t i = 0; i < p->nrefusals; i++) {
                struct log_field f[] = {{"shard", p->refusals[i].shard}};
                log_event(LOG_ERROR, "plan-refused", cluster, j->commit, f, 1,
                          "refusing to plan shard %s: %s", p->refusals[i].shard,
                          p->refusals[i].diagnosis);
            }
            tell_drift(j, s.spec, p, true, NULL);
            st = RECONCILE_ERROR;
            break;
        }
        if (!plan_has_changes(p)) {
            log_event(LOG_INFO, "in-sync", cluster, j->commit, NULL, 0,
                      "the cluster matches the spec");
            tell_drift(j, s.spec, p, false, NULL);
            apply_outcome_is_news(r, cluster, j->commit, p, NULL); /* a failure is over */
            st = RECONCILE_IN_SYNC;
            break;
        }
        char *summary = render_plan_summary(p);
        log_event(LOG_INFO, "drift", cluster, j->commit, NULL, 0, "%s%s", summary,
                  p->unreachable ? " (some instances could not be reached)" : "");
        free(summary);
        if (!o->apply) {
            tell_drift(j, s.spec, p, true, NULL);
            st = RECONCILE_DRIFT;
            break;
        }
        if (plan_has_destructive(p) && !o->allow_destructive) {
            log_event(LOG_WARN, "apply-skipped", cluster, j->commit, NULL, 0,
                      "the plan has destructive steps: not applying without --allow-destructive");
            tell_drift(j, s.spec, p, true, NULL);
            st = RECONCILE_DRIFT;
            break;
        }
        if (!has_acting_steps(p)) {
            if (p->waiting)
                log_event(LOG_WARN, "apply-skipped", cluster, j->commit, NULL, 0,
                          "a master is down in %zu shard%s: waiting for Sentinel to fail over",
                          p->waiting, p->waiting == 1 ? "" : "s");
            else
                log_event(LOG_WARN, "apply-skipped", cluster, j->commit, NULL, 0,
                          "%zu instances could not be observed and there is nothing to apply",
                          p->unreachable);
            tell_drift(j, s.spec, p, true, NULL);
            st = RECONCILE_DRIFT;
            break;
        }
        /* the drift is news before it is fixed: found, then resolved; a failover that
           was waited for is told once, healed */
        if (!failover && !quiet)
            tell_drift(j, s.spec, p, true, NULL);
        st = apply_drift(j, &s, &so, &gen, failover);
        if (st != RECONCILE_SKIPPED) {
            reconcile_note_masters(r, s.spec, s.plan, j->commit, j->subject, gen, NULL);
            break;
        }
        log_event(LOG_INFO, "replan", cluster, j->commit, NULL, 0,
                  "a failover was handled while planning: planning again");
    }
    if (failover && st != RECONCILE_CORRECTED && st != RECONCILE_ERROR)
        reconcile_queue_event(r, NOTIFY_FAILOVER_OBSERVED, cluster, j->commit, j->subject, failover,
                              NULL);
    free(failover);
    if (s.observed && !stopping(j))
        check_alerts(j, &s);
    record_metrics(j, &s, st);
    session_release(&s);
    return st;
}

void *reconcile_cluster_thread(void *arg)
{
    struct cluster_job *j = arg;
    j->status = reconcile_cluster(j);
    return NULL;
}
