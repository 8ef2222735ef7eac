/*
 * reconcile_impl.h - what the reconciler's files share; private to
 * reconcile.c (runs, clusters, lifecycle), reconcile_cluster.c (one
 * cluster's part of a run), reconcile_failover.c (the masters last seen,
 * failovers noticed and told) and reconcile_specs.c (the specs of a run,
 * with a fallback on the last good read).
 */
#ifndef RMGR_RECONCILE_IMPL_H
#define RMGR_RECONCILE_IMPL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"
#include "metrics_http.h"
#include "notify.h"
#include "plan.h"
#include "reconcile.h"
#include "spec.h"
#include "watch.h"

/* The masters a cluster's shards had at the last look, to notice failovers. */
struct known_cluster {
    char *name;
    char **shards;
    char **masters;
    size_t n;
    bool announced;  /* the watcher posted a failover the next runs heal: they post no
                        drift of their own for it */
    struct known_cluster *next;
};

/* A spec as it was last loaded successfully, to fall back on when git fails. */
struct saved_spec {
    char *file;
    char *source;
    size_t len;
};

struct reconciler {
    struct reconcile_options *o;
    char *state_dir;
    struct watch *watch;
    struct fleet *fleet;            /* --lock etcd://: the clusters this worker holds */
    pthread_mutex_t mu;             /* known; o while it is swapped */
    struct known_cluster *known;
    struct notify_queue *queue;     /* the background sender (failovers seen by the watcher) */
    struct saved_spec *saved;       /* specs of the last good source read */
    size_t nsaved;
    char *saved_commit, *saved_subject;
    struct metrics_registry *metrics; /* what /metrics, the page and --metrics-file show */
    struct metrics_server *http;    /* --metrics-listen; NULL */
    unsigned long runs;
    bool run_soon;                  /* under mu: the watcher repointed; with --apply the
                                       daemon runs at once to heal the rest (restart the
                                       old master as a replica) instead of at the interval */
};

struct run_spec {
    char *file;
    struct spec *spec;   /* NULL when it did not load */
};

struct run_specs {
    struct run_spec *v;
    size_t n, cap;
    char *commit, *subject;
    bool source_failed;  /* the specs could not be read (this run is an error) */
};

/* One cluster of a run: its spec and password until its session takes them, then its status. */
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

/* ---- reconcile.c ---- */

/* Log each line of `text` as a warning `event`. */
void reconcile_log_warnings(const char *event, const char *cluster, const char *commit,
                            const char *text);

/* Queue a notification for the background sender. */
void reconcile_queue_event(struct reconciler *r, enum notify_event_kind kind, const char *cluster,
                           const char *commit, const char *subject, const char *summary,
                           const char *body);

/* ---- reconcile_cluster.c ---- */

/*
 * Reconcile one cluster: look, wait for Sentinel, plan, apply (--apply),
 * tell, check the alerts, record the metrics. Takes j->spec and j->password.
 */
enum reconcile_status reconcile_cluster(struct cluster_job *j);

/* reconcile_cluster on a thread of its own: the status goes to j->status (`arg` is j). */
void *reconcile_cluster_thread(void *arg);

/* ---- reconcile_failover.c ---- */

void reconcile_known_free(struct known_cluster *k);

/* Whether the watcher announced a failover of `cluster` since the last call (cleared). */
bool reconcile_take_announced(struct reconciler *r, const char *cluster);

/* The watcher's callback (`arg` is the reconciler). */
void reconcile_on_watch_event(const struct watch_event *ev, void *arg);

/* After a plan: note masters Sentinel moved since the last look, give the watcher its baseline. */
void reconcile_note_masters(struct reconciler *r, const struct spec *s, const struct plan *p,
                            const char *commit, const char *subject, unsigned long gen,
                            char **held);

/* ---- reconcile_specs.c ---- */

void reconcile_specs_release(struct run_specs *rs);

/* Free the specs kept from the last good read (r->saved and its commit, subject). */
void reconcile_saved_release(struct reconciler *r);

/* Read the specs of a run (git or -f), falling back on the last good read when the source fails. */
void reconcile_load_specs(struct reconciler *r, struct run_specs *rs);

#endif
