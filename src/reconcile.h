/*
 * reconcile.h - keep clusters equal to their specs, unattended: the engine of
 * `rmgr reconcile` (cron job with --once, daemon with --interval/--watch).
 *
 * A run takes the specs (-f FILE|DIR, or every spec of --repo at its newest
 * commit), and reconciles each cluster on its own thread: observe, plan,
 * and when the plan has changes (drift) either report it (default) or, with
 * --apply, carry it out and check again. What one cluster does (a bad spec,
 * a refused plan, a failed apply, a dead host) never holds up another.
 *
 * The team is told through notify.h: drift found / changed / resolved once
 * per change (drift_state.h keeps a state file per cluster under the state
 * directory, so a cron job does not repeat itself), apply succeeded or
 * failed, failover observed. A webhook that fails is logged and changes
 * nothing else.
 *
 * With --watch the daemon also runs watch.h: proxies are repointed within
 * milliseconds of a failover, and the periodic run heals anything missed.
 */
#ifndef RMGR_RECONCILE_H
#define RMGR_RECONCILE_H

#include <signal.h>
#include <stdbool.h>

#include "exit_code.h"
#include "git_source.h"
#include "lock_etcd.h"
#include "log.h"
#include "notify.h"
#include "plan.h"

#define RECONCILE_DEFAULT_INTERVAL_MS (5 * 60 * 1000L)

struct reconcile_options {
    const char *spec_path;          /* -f FILE|DIR; borrowed */
    struct git_source_opts git;     /* --repo, --ref, --path, --cache-dir */
    const char *state_dir;          /* --state-dir; NULL: <cache>/state */
    bool once;                      /* --once: one run, exit status = worst cluster */
    long interval_ms;               /* --interval: daemon period (start to start) */
    bool watch;                     /* --watch: follow failovers (daemon only) */
    bool repoint_at_promotion;      /* --repoint-at promotion (with --watch); else switch */
    bool apply;                     /* --apply: correct drift; else report only */
    bool allow_destructive;         /* --allow-destructive: also remove things */
    bool detailed_exitcode;         /* --once: 2 when drift remains */
    long connect_timeout_ms;        /* 0: session default */
    long command_timeout_ms;
    long lock_timeout_ms;           /* --lock-timeout: wait for the cluster lock; 0: skip */
    bool accept_new_host_keys;      /* ssh hosts: trust on first use */
    struct notify_options notify;   /* --webhook ... */
    const char *log_file;           /* --log-file; NULL: stderr */
    enum log_format log_format;     /* --log-format */
    enum log_level log_level;       /* --log-level */
    const char *lock;               /* --lock etcd://...; NULL: $RMGR_LOCK, else no fleet */
    struct etcd_lock_options lock_etcd; /* --lock-cacert ... --lock-ttl, --worker-id */
    const char *metrics_listen;     /* --metrics-listen ADDR:PORT (daemon; read at start) */
    const char *metrics_file;       /* --metrics-file PATH: written after every run */
    const char *metrics_token_file; /* --metrics-token-file (read at start) */
};

void reconcile_options_init(struct reconcile_options *o);
void reconcile_options_release(struct reconcile_options *o);

/* What became of one cluster in a run; a higher value is worse. */
enum reconcile_status {
    RECONCILE_SKIPPED,    /* not looked at (shutting down) */
    RECONCILE_IN_SYNC,    /* matched the spec */
    RECONCILE_CORRECTED,  /* drift applied and gone */
    RECONCILE_DRIFT,      /* drift remains (report only, or it could not be applied) */
    RECONCILE_ERROR,      /* spec, password, refusal, failed apply, git */
};
const char *reconcile_status_name(enum reconcile_status s); /* "in-sync", ... */

/* Exit status of a --once run whose worst cluster ended as `worst`. */
int reconcile_exit_code(enum reconcile_status worst, bool detailed_exitcode);

/* The daemon's (or cron run's) state across runs. */
struct reconciler;

/*
 * Create a reconciler for `o` (borrowed until reconciler_free or
 * reconciler_set_options). Starts the watcher when o->watch. NULL with *err.
 */
struct reconciler *reconciler_new(struct reconcile_options *o, char **err);

/*
 * Replace the options (SIGHUP): starts or stops the watcher as needed.
 * The previous options are no longer used when this returns.
 */
int reconciler_set_options(struct reconciler *r, struct reconcile_options *o, char **err);

/*
 * One run over every cluster. `stop` (may be NULL) is polled between steps:
 * when it becomes non-zero, running steps finish and nothing new starts.
 * Returns the worst status of any cluster.
 */
enum reconcile_status reconciler_run(struct reconciler *r, volatile sig_atomic_t *stop);

/* Stop the watcher, deliver queued notifications (bounded), free. NULL is fine. */
void reconciler_free(struct reconciler *r);

/* How the daemon loop learns about signals (set by the caller's handlers). */
struct reconcile_signals {
    volatile sig_atomic_t *stop;    /* SIGTERM/SIGINT */
    volatile sig_atomic_t *reload;  /* SIGHUP */
    int wake_fd;                    /* readable when a signal arrived (self-pipe) */
    /* SIGHUP: parse the options again into *out; 0, or -1 (then keep the old ones) */
    int (*reload_options)(void *arg, struct reconcile_options **out, char **err);
    void *arg;
};

/*
 * The daemon: run, wait for the interval (or a signal), run again, until
 * stop. On reload, re-read the options, reopen the log and run at once.
 * Returns 0 after a clean stop. `*o` may be replaced by reloads (the loop
 * owns it then, and the final one is returned through `o`).
 */
int reconcile_loop(struct reconciler *r, struct reconcile_options **o,
                   const struct reconcile_signals *sig);

/* ---- pure pieces, exposed for unit tests ---------------------------------- */

/*
 * The text a drift fingerprint is computed from: every step that acts (kind,
 * action, target, before, after, settings), each refused shard, and the
 * number of unreachable instances; no reasons, offsets or times, so the same
 * drift gives the same text run after run. Caller frees.
 */
char *reconcile_drift_canonical(const struct plan *p);

#endif
