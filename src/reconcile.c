/*
 * reconcile.c - runs over every cluster, each on its own thread; the daemon
 * loop; notifications; glue to the watcher. See reconcile.h; failovers are
 * in reconcile_failover.c, the specs of a run in reconcile_specs.c.
 */
#include "reconcile.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "drift_state.h"
#include "failover.h"
#include "failover_wait.h"
#include "lock.h"
#include "notify_queue.h"
#include "reconcile_fleet.h"
#include "reconcile_impl.h"
#include "step_guard.h"
#include "render.h"
#include "session.h"
#include "spec.h"
#include "spec_source.h"
#include "util.h"
#include "watch.h"

/* a plan that went stale while it was made (a failover) is made again, this often */
#define MAX_PLAN_ATTEMPTS 3
#define MAX_SENTINEL_WAITS 3 /* overlapping failovers waited for in one run */
#define RUN_SOON_POLL_MS 200 /* how soon a daemon notices the watcher asked for a run */

/* ---------------------------------------------------------------- options */

void reconcile_options_init(struct reconcile_options *o)
{
    memset(o, 0, sizeof(*o));
    o->interval_ms = RECONCILE_DEFAULT_INTERVAL_MS;
    o->log_format = LOG_FORMAT_TEXT;
    o->log_level = LOG_INFO;
    notify_options_init(&o->notify);
}

void reconcile_options_release(struct reconcile_options *o)
{
    if (!o)
        return;
    notify_options_release(&o->notify);
    memset(o, 0, sizeof(*o));
}

const char *reconcile_status_name(enum reconcile_status s)
{
    switch (s) {
    case RECONCILE_SKIPPED: return "skipped";
    case RECONCILE_IN_SYNC: return "in-sync";
    case RECONCILE_CORRECTED: return "corrected";
    case RECONCILE_DRIFT: return "drift";
    case RECONCILE_ERROR: return "error";
    }
    return "error";
}

int reconcile_exit_code(enum reconcile_status worst, bool detailed_exitcode)
{
    if (worst == RECONCILE_ERROR)
        return EXIT_FAILURE_;
    if (worst == RECONCILE_DRIFT && detailed_exitcode)
        return EXIT_CHANGES;
    return EXIT_OK;
}

/* ---------------------------------------------------------------- drift text */

char *reconcile_drift_canonical(const struct plan *p)
{
    struct strbuf sb = {0};
    for (size_t i = 0; i < p->nsteps; i++) {
        const struct step *st = &p->steps[i];
        if (!step_acts(st))
            continue;
        sb_addf(&sb, "%s %s %s %s:%d\n", step_kind_name(st->kind), step_action_symbol(st->action),
                st->target ? st->target : "-", st->ip ? st->ip : "-", st->port);
        if (st->before)
            sb_addf(&sb, "  before %s\n", st->before);
        if (st->after)
            sb_addf(&sb, "  after %s\n", st->after);
        if (st->master_ip)
            sb_addf(&sb, "  master %s:%d\n", st->master_ip, st->master_port);
        for (size_t k = 0; k < st->nsettings; k++)
            sb_addf(&sb, "  set %s %s\n", st->settings[k].key,
                    st->settings[k].value ? st->settings[k].value : "");
    }
    for (size_t i = 0; i < p->nrefusals; i++)
        sb_addf(&sb, "refused %s\n", p->refusals[i].shard);
    if (p->unreachable)
        sb_addf(&sb, "unreachable %zu\n", p->unreachable);
    if (p->waiting)
        sb_addf(&sb, "waiting %zu\n", p->waiting);
    return sb_detach(&sb);
}

/* ---------------------------------------------------------------- reconciler */

static char *abs_path(const char *p)
{
    if (p[0] == '/')
        return xstrdup(p);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return xstrdup(p);
    return xasprintf("%s/%s", cwd, p);
}

/* --state-dir, else <--cache-dir>/state, else $XDG_CACHE_HOME/rmgr/state or ~/.cache/rmgr/state. */
static char *state_dir_for(const struct reconcile_options *o, char **err)
{
    if (o->state_dir)
        return abs_path(o->state_dir);
    if (o->git.cache_dir) {
        char *root = abs_path(o->git.cache_dir);
        char *dir = xasprintf("%s/state", root);
        free(root);
        return dir;
    }
    char *dir = user_cache_path("state");
    if (!dir)
        *err = xstrdup("no state directory: set HOME or XDG_CACHE_HOME, or pass --state-dir");
    return dir;
}

/* ---- notifications -------------------------------------------------------- */

void reconcile_log_warnings(const char *event, const char *cluster, const char *commit,
                            const char *text)
{
    if (!text)
        return;
    char *copy = xstrdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        log_event(LOG_WARN, event, cluster, commit, NULL, 0, "%s", line);
    free(copy);
}

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

/* The sender could not deliver `ev`: log it. */
static void notify_failed(const struct notify_event *ev, const char *err, void *arg)
{
    (void)arg;
    reconcile_log_warnings("notify-failed", ev->cluster, ev->commit, err);
}

void reconcile_queue_event(struct reconciler *r, enum notify_event_kind kind, const char *cluster,
                           const char *commit, const char *subject, const char *summary,
                           const char *body)
{
    struct notify_event ev = {kind, cluster, commit, subject, summary, body, 0};
    notify_queue_push(r->queue, &ev);
}

/* ---- one cluster ----------------------------------------------------------------- */

struct cluster_job {
    struct reconciler *r;
    struct spec *spec;          /* handed to the session */
    char *password;             /* handed to the session */
    const char *commit, *subject;
    volatile sig_atomic_t *stop;
    enum reconcile_status status;
    pthread_t tid;
    bool started;
    bool elsewhere;             /* another worker of the fleet holds the cluster */
};

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
 * Sentinel is done (each shard's down-after + failover-timeout at most).
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

static enum reconcile_status reconcile_cluster(struct cluster_job *j)
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
    session_release(&s);
    return st;
}

static void *cluster_thread(void *arg)
{
    struct cluster_job *j = arg;
    j->status = reconcile_cluster(j);
    return NULL;
}

/* ---- a run ---------------------------------------------------------------------- */

/* --lock etcd://: the clusters another worker holds are not reconciled here (reconcile_fleet.h) */
static void reconcile_fleet_select(struct reconciler *r, struct cluster_job *jobs, size_t n,
                                   char **names, size_t nnames, const char *commit)
{
    bool *mine = xcalloc(nnames + 1, sizeof(bool));
    fleet_prepare(r->fleet, names, nnames, commit, mine);
    for (size_t i = 0; i < n; i++) {
        struct cluster_job *j = &jobs[i];
        if (!j->spec)
            continue;
        for (size_t k = 0; k < nnames; k++)
            if (names[k] == j->spec->cluster && !mine[k]) {
                spec_free(j->spec);
                free(j->password);
                j->spec = NULL;
                j->password = NULL;
                j->elsewhere = true;
                j->status = RECONCILE_SKIPPED;
                break;
            }
    }
    free(mine);
}

enum reconcile_status reconciler_run(struct reconciler *r, volatile sig_atomic_t *stop)
{
    long long t0 = now_ms();
    r->runs++;
    struct run_specs rs = {0};
    reconcile_load_specs(r, &rs);
    enum reconcile_status worst = rs.source_failed ? RECONCILE_ERROR : RECONCILE_SKIPPED;

    struct cluster_job *jobs = xcalloc(rs.n + 1, sizeof(*jobs));
    char **names = xcalloc(rs.n + 1, sizeof(char *));
    size_t nnames = 0;
    for (size_t i = 0; i < rs.n; i++) {
        struct cluster_job *j = &jobs[i];
        j->r = r;
        j->commit = rs.commit;
        j->subject = rs.subject;
        j->stop = stop;
        j->status = RECONCILE_ERROR;
        struct spec *s = rs.v[i].spec;
        if (!s) {
            log_event(LOG_ERROR, "cluster-failed", NULL, rs.commit, NULL, 0,
                      "'%s' has errors: its cluster is not reconciled", rs.v[i].file);
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < nnames && !dup; k++)
            dup = str_eq(names[k], s->cluster);
        if (dup) {
            log_event(LOG_ERROR, "cluster-failed", s->cluster, rs.commit, NULL, 0,
                      "'%s' names a cluster another spec names too: skipped", s->file);
            continue;
        }
        names[nnames++] = s->cluster;
        char *msg = NULL;
        if (spec_read_password(s, &j->password, &msg) < 0) {
            log_event(LOG_ERROR, "cluster-failed", s->cluster, rs.commit, NULL, 0,
                      "cannot read the password: %s", msg ? msg : "unknown error");
            free(msg);
            continue;
        }
        /* secrets are registered before any thread sends or logs */
        log_add_secret(j->password);
        notify_queue_add_secret(r->queue, j->password); /* redacted from notifications too */
        if (r->watch)
            watch_set_cluster(r->watch, s, j->password, rs.commit, rs.subject);
        j->spec = s;
        rs.v[i].spec = NULL;
    }
    if (r->watch && !rs.source_failed)
        watch_retain(r->watch, names, nnames);
    if (r->fleet)
        reconcile_fleet_select(r, jobs, rs.n, names, nnames, rs.commit);

    for (size_t i = 0; i < rs.n; i++) {
        struct cluster_job *j = &jobs[i];
        if (!j->spec)
            continue;
        if (stop && *stop) {
            j->status = RECONCILE_SKIPPED;
            continue;
        }
        j->started = pthread_create(&j->tid, NULL, cluster_thread, j) == 0;
        if (!j->started)
            j->status = reconcile_cluster(j); /* no thread: do it here */
    }
    size_t counts[RECONCILE_ERROR + 1] = {0};
    size_t elsewhere = 0; /* clusters other workers of the fleet reconcile */
    for (size_t i = 0; i < rs.n; i++) {
        struct cluster_job *j = &jobs[i];
        if (j->started)
            pthread_join(j->tid, NULL);
        if (j->spec) { /* never handed to a session */
            spec_free(j->spec);
            free(j->password);
        }
        if (j->elsewhere) {
            elsewhere++;
            continue;
        }
        counts[j->status]++;
        if (j->status > worst)
            worst = j->status;
    }
    char took[32];
    snprintf(took, sizeof(took), "%lld", now_ms() - t0);
    struct log_field f[] = {{"took_ms", took}, {"result", reconcile_status_name(worst)}};
    log_event(worst == RECONCILE_ERROR ? LOG_WARN : LOG_INFO, "run-done", NULL, rs.commit, f,
              ARRAY_SIZE(f),
              "%zu cluster%s: %zu in sync, %zu corrected, %zu with drift, %zu with errors%s%s",
              rs.n - elsewhere, rs.n - elsewhere == 1 ? "" : "s", counts[RECONCILE_IN_SYNC],
              counts[RECONCILE_CORRECTED], counts[RECONCILE_DRIFT], counts[RECONCILE_ERROR],
              counts[RECONCILE_SKIPPED] ? " (some skipped: stopping)" : "",
              elsewhere ? " (the others' clusters not counted)" : "");
    free(names);
    free(jobs);
    reconcile_specs_release(&rs);
    return worst;
}

/* ---- lifecycle ------------------------------------------------------------------- */

static int start_watch(struct reconciler *r, char **err)
{
    struct watch_options wo = {
        .connect_timeout_ms = r->o->connect_timeout_ms,
        .report_only = !r->o->apply,
        .on_event = reconcile_on_watch_event,
        .arg = r,
        .may_repoint = r->fleet ? fleet_holds : NULL, /* only the lease holder repoints */
        .fleet = r->fleet,
    };
    r->watch = watch_start(&wo, err);
    return r->watch ? 0 : -1;
}

struct reconciler *reconciler_new(struct reconcile_options *o, char **err)
{
    struct reconciler *r = xcalloc(1, sizeof(*r));
    r->o = o;
    r->state_dir = state_dir_for(o, err);
    if (!r->state_dir) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    char *ferr = NULL;
    r->fleet = fleet_new(o, &ferr);
    if (!r->fleet && ferr) {
        *err = ferr;
        pthread_mutex_destroy(&r->mu);
        free(r->state_dir);
        free(r);
        return NULL;
    }
    r->queue = notify_queue_start(&o->notify, notify_failed, NULL);
    if (o->watch && start_watch(r, err) < 0) {
        reconciler_free(r);
        return NULL;
    }
    return r;
}

int reconciler_set_options(struct reconciler *r, struct reconcile_options *o, char **err)
{
    char *dir = state_dir_for(o, err);
    if (!dir)
        return -1;
    if (o->watch && !r->watch) {
        struct reconcile_options *old = r->o;
        r->o = o;
        if (start_watch(r, err) < 0) {
            r->o = old;
            free(dir);
            return -1;
        }
    } else if (!o->watch && r->watch) {
        watch_stop(r->watch);
        r->watch = NULL;
    }
    if (r->watch)
        watch_set_report_only(r->watch, !o->apply);
    /* the sender reads r->o: swap only while it is not sending */
    pthread_mutex_lock(&r->mu);
    notify_queue_set_options(r->queue, &o->notify);
    r->o = o;
    free(r->state_dir);
    r->state_dir = dir;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

void reconciler_free(struct reconciler *r)
{
    if (!r)
        return;
    watch_stop(r->watch); /* no more events after this */
    fleet_free(r->fleet); /* releases its leases */
    notify_queue_stop(r->queue); /* delivers what is queued (bounded by retries) */
    while (r->known) {
        struct known_cluster *k = r->known;
        r->known = k->next;
        reconcile_known_free(k);
    }
    reconcile_saved_release(r);
    pthread_mutex_destroy(&r->mu);
    free(r->state_dir);
    free(r);
}

/* ---- the daemon loop ------------------------------------------------------------- */

static void drain(int fd)
{
    char buf[64];
    while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
        ;
}

int reconcile_loop(struct reconciler *r, struct reconcile_options **o,
                   const struct reconcile_signals *sig)
{
    char iv[32];
    snprintf(iv, sizeof(iv), "%ld", (*o)->interval_ms);
    struct log_field f[] = {{"interval_ms", iv}, {"watch", (*o)->watch ? "yes" : "no"},
                            {"apply", (*o)->apply ? "yes" : "no"}};
    log_event(LOG_INFO, "daemon-start", NULL, NULL, f, ARRAY_SIZE(f),
              "reconciling every %ld ms%s", (*o)->interval_ms,
              (*o)->watch ? ", following failovers" : "");
    long long next = now_ms();
    for (;;) {
        if (*sig->stop)
            break;
        if (*sig->reload) {
            *sig->reload = 0;
            struct reconcile_options *fresh = NULL;
            char *err = NULL;
            if (sig->reload_options(sig->arg, &fresh, &err) < 0 ||
                log_open(fresh->log_file, fresh->log_format, fresh->log_level, &err) < 0 ||
                reconciler_set_options(r, fresh, &err) < 0) {
                log_event(LOG_ERROR, "reload-failed", NULL, NULL, NULL, 0,
                          "keeping the old options: %s", err ? err : "invalid options");
                if (fresh) {
                    reconcile_options_release(fresh);
                    free(fresh);
                }
                /* the log may have been switched already: point it back */
                char *e2 = NULL;
                if (log_open((*o)->log_file, (*o)->log_format, (*o)->log_level, &e2) < 0)
                    free(e2);
            } else {
                reconcile_options_release(*o);
                free(*o);
                *o = fresh;
                log_event(LOG_INFO, "reloaded", NULL, NULL, NULL, 0,
                          "options read again, log reopened; reconciling now");
            }
            free(err);
            next = now_ms();
        }
        long long now = now_ms();
        pthread_mutex_lock(&r->mu);
        bool soon = r->run_soon && (*o)->apply;
        r->run_soon = false;
        pthread_mutex_unlock(&r->mu);
        if (soon)
            log_event(LOG_INFO, "run-after-failover", NULL, NULL, NULL, 0,
                      "the watcher repointed proxies: reconciling now to heal the rest");
        if (now >= next || soon) {
            reconciler_run(r, sig->stop);
            next = now_ms() + (*o)->interval_ms;
            continue;
        }
        struct pollfd pfd = {.fd = sig->wake_fd, .events = POLLIN};
        long long wait = next - now;
        /* the watcher's repoints arrive on its own thread: look at run_soon often */
        if (r->watch && wait > RUN_SOON_POLL_MS)
            wait = RUN_SOON_POLL_MS;
        int n = poll(&pfd, sig->wake_fd >= 0 ? 1 : 0, wait > INT_MAX ? INT_MAX : (int)wait);
        if (n > 0)
            drain(sig->wake_fd);
    }
    log_event(LOG_INFO, "daemon-stop", NULL, NULL, NULL, 0, "stopping: signal received");
    return EXIT_OK;
}
