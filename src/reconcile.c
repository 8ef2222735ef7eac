/*
 * reconcile.c - runs over every cluster, each on its own thread; the daemon
 * loop; notifications; glue to the watcher. See reconcile.h; one cluster's
 * part of a run is in reconcile_cluster.c, failovers in
 * reconcile_failover.c, the specs of a run in reconcile_specs.c.
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

#include "metrics.h"
#include "metrics_http.h"
#include "notify_queue.h"
#include "reconcile_fleet.h"
#include "reconcile_impl.h"
#include "spec.h"
#include "spec_source.h"
#include "util.h"
#include "watch.h"

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

/* --metrics-file: the registry in Prometheus text, replaced atomically (node_exporter's textfile collector reads it). */
static void write_metrics_file(struct reconciler *r)
{
    const char *path = r->o->metrics_file;
    if (!path)
        return;
    char *text = metrics_render_locked(r->metrics, metrics_render_text, (double)time(NULL));
    if (write_file_atomic(path, text, strlen(text), 0644) < 0)
        log_event(LOG_WARN, "metrics-file-failed", NULL, NULL, NULL, 0,
                  "cannot write the metrics file '%s': %s", path, strerror(errno));
    free(text);
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
        metrics_add_secret(r->metrics, j->password);
        notify_queue_add_secret(r->queue, j->password); /* redacted from notifications too */
        if (r->watch)
            watch_set_cluster(r->watch, s, j->password, rs.commit, rs.subject);
        j->spec = s;
        rs.v[i].spec = NULL;
    }
    if (r->watch && !rs.source_failed)
        watch_retain(r->watch, names, nnames);
    /* clusters gone from the specs leave the metrics (names die with the sessions); before
     * the fleet's selection, which frees the specs of clusters held elsewhere (names[]
     * points into them) */
    if (!rs.source_failed)
        metrics_retain(r->metrics, names, nnames);
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
        j->started = pthread_create(&j->tid, NULL, reconcile_cluster_thread, j) == 0;
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
    write_metrics_file(r);
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
        .repoint_at_promotion = r->o->repoint_at_promotion,
        .on_event = reconcile_on_watch_event,
        .arg = r,
        .may_repoint = r->fleet ? fleet_holds : NULL, /* only the lease holder repoints */
        .fleet = r->fleet,
    };
    r->watch = watch_start(&wo, err);
    return r->watch ? 0 : -1;
}

/* --metrics-listen: the HTTP server (and its token). 0, or -1 with *err. */
static int start_metrics(struct reconciler *r, char **err)
{
    const struct reconcile_options *o = r->o;
    struct metrics_listen l;
    if (metrics_listen_parse(o->metrics_listen, &l, err) < 0)
        return -1;
    char *token = NULL;
    if (o->metrics_token_file && !(token = metrics_token_read(o->metrics_token_file, err)))
        return -1;
    r->http = metrics_server_start(&l, token, r->metrics, err);
    secret_free(token);
    if (!r->http)
        return -1;
    struct log_field f[] = {{"listen", o->metrics_listen}};
    log_event(LOG_INFO, "metrics-listen", NULL, NULL, f, 1,
              "serving /metrics, / and /api/status on %s%s", o->metrics_listen,
              o->metrics_token_file ? " (bearer token required)" : "");
    return 0;
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
    r->metrics = metrics_registry_new();
    if (o->metrics_listen && start_metrics(r, err) < 0) {
        metrics_registry_free(r->metrics);
        pthread_mutex_destroy(&r->mu);
        free(r->state_dir);
        free(r);
        return NULL;
    }
    char *ferr = NULL;
    r->fleet = fleet_new(o, &ferr);
    if (!r->fleet && ferr) {
        *err = ferr;
        metrics_server_stop(r->http);
        metrics_registry_free(r->metrics);
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

/* start_watch under the options `o`; when that fails, r keeps its old options. */
static int start_watch_with(struct reconciler *r, struct reconcile_options *o, char **err)
{
    struct reconcile_options *old = r->o;
    r->o = o;
    if (start_watch(r, err) < 0) {
        r->o = old;
        return -1;
    }
    return 0;
}

int reconciler_set_options(struct reconciler *r, struct reconcile_options *o, char **err)
{
    char *dir = state_dir_for(o, err);
    if (!dir)
        return -1;
    if (r->watch && (!o->watch || o->repoint_at_promotion != r->o->repoint_at_promotion)) {
        /* no watch any more, or other subscriptions: then a new watcher (below; the run
           SIGHUP triggers gives it the clusters) */
        watch_stop(r->watch);
        r->watch = NULL;
    }
    if (o->watch && !r->watch && start_watch_with(r, o, err) < 0) {
        free(dir);
        return -1;
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
    metrics_server_stop(r->http); /* no request reads the registry after this */
    metrics_registry_free(r->metrics);
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
