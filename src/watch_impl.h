/*
 * watch_impl.h - what the watcher's files share: the cluster records, the
 * subscriptions and the ROLE polls. Private to watch.c (records, workers,
 * the event loop, lifecycle), watch_events.c (what the sentinels' messages
 * and the polls' answers do), watch_poll.c (the ROLE polls of a promotion)
 * and watch_conn.c (the subscriptions to the sentinels). Other modules call
 * watch.h.
 */
#ifndef RMGR_WATCH_IMPL_H
#define RMGR_WATCH_IMPL_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "watch.h"

/* One version of a cluster's spec; workers hold a reference while they use it. */
struct wconf {
    int refs; /* under w->mu */
    struct spec *spec;
    char *password;
    char *commit;
    char *subject;
};

/* A repoint for the worker: the masters to render, and what triggered it. */
struct wjob {
    bool pending;
    char **masters;      /* [nshards] "ip:port", NULL = unknown (asked from sentinels) */
    size_t nmasters;
    char *shard;
    char *old_master;
    char *new_master;
    long long quorum_us; /* when the trigger was seen (monotonic) */
    char *trigger;       /* "the quorum's +switch-master", "the promotion" */
};

struct wcluster {
    char *name;
    struct wconf *conf;
    size_t nshards, nsentinels;
    char **current;  /* [nshards]: the master the proxies point at, NULL = unknown */
    char **reports;  /* [nshards * nsentinels]: each sentinel's latest announced master */
    char **refused;  /* [nshards]: a non-member master already warned about */
    struct wep_shard *episodes; /* [nshards]: --repoint-at promotion */
    long long *early_us;        /* [nshards]: when the proxies were repointed at a promotion */
    unsigned long generation;
    struct wjob job;
    bool precheck;   /* the worker checks the next failover's configs ahead when idle */
    struct repoint_checked *checked;
    struct repoint_sessions *sessions; /* the proxy hosts' transports, kept open */
    bool removed;
    bool worker_started;
    pthread_t worker;
    pthread_cond_t cond;
    struct watch *w;
    struct wcluster *next;
};

enum conn_state { C_IDLE, C_CONNECTING, C_SUBSCRIBING, C_SUBSCRIBED };

/* One subscription; owned by the loop thread. */
struct wconn {
    char *cluster;
    char *ip;
    int port;
    redisContext *c;
    enum conn_state state;
    long long next_try_ms;   /* C_IDLE: when to connect */
    long long since_ms;      /* when the current state began */
    long backoff_ms;
    long long ping_sent_ms;  /* 0: no PING outstanding */
    long long last_ping_ms;
    bool want_write;
    bool auth_pending;       /* the next reply is AUTH's */
    bool was_up;             /* subscribed at least once */
    bool down_logged;        /* the current outage was logged */
    bool keep;               /* still wanted after a cluster change */
};

struct watch {
    struct watch_options o;
    pthread_mutex_t mu;
    struct wcluster *clusters; /* under mu */
    bool stopping;             /* under mu */
    bool dirty;                /* under mu: the loop re-syncs its connections */
    size_t subscribed;         /* under mu */
    int wake[2];
    pthread_t loop;
    unsigned rand_state;
    struct wconn **conns;      /* loop thread only */
    size_t nconns, conns_cap;
    struct wpoll **polls;      /* loop thread only: ROLE polls of selected members */
    size_t npolls, polls_cap;
};

enum poll_state { P_SLEEP, P_CONNECTING, P_WAITING };

/* A ROLE poll of the member Sentinel's leader selected; owned by the loop thread. */
struct wpoll {
    char *cluster;
    size_t shard;
    char *addr; /* "ip:port" */
    char *ip;
    int port;
    redisContext *c;
    enum poll_state state;
    bool auth_pending;
    long long next_ms;  /* P_SLEEP: when to ask again */
    long long since_ms; /* when the current attempt began */
    long long until_ms; /* give up (Sentinel aborts after its failover-timeout) */
    long long start_us;
    bool failed_logged;
    bool dead;          /* stopped: freed by the loop's next sweep */
};

/* ---------------------------------------------------------------- records (watch.c) */

/* The cluster named `name` (not removed), or NULL. Called with w->mu held. */
struct wcluster *watch_find_cluster(struct watch *w, const char *name);

/* The commit of the spec the watcher uses for `cluster`, for log lines. Caller frees. */
char *watch_cluster_commit(struct watch *w, const char *cluster);

/* The cluster's password (caller secret_frees), NULL without auth:. */
char *watch_cluster_password(struct watch *w, const char *cluster);

/* The index of shard `name` in the spec, or -1. */
int watch_shard_index(const struct spec *s, const char *name);

/* The index of the spec's sentinel at ip:port, or -1. */
int watch_sentinel_index(const struct spec *s, const char *ip, int port);

/*
 * Hand the worker a repoint of shard `si` to `addr` (the proxies' master of
 * that shard from now on). `trigger` says what caused it, for the log; a
 * pending job keeps its first trigger and start time. Called with w->mu held.
 */
void watch_queue_repoint(struct wcluster *c, size_t si, const char *addr, long long at_us,
                         const char *trigger);

/* ---------------------------------------------------------------- events (watch_events.c) */

/* One +switch-master from the sentinel behind `cn`; runs on the loop thread. */
void watch_on_switch(struct watch *w, struct wconn *cn, const char *payload, long long at_us);

/*
 * One event of a failover episode (--repoint-at promotion) from the
 * sentinel behind `cn`: fed to the shard's episode, whose result starts or
 * stops a ROLE poll. Runs on the loop thread.
 */
void watch_on_episode_event(struct watch *w, struct wconn *cn, const char *channel,
                            const char *payload);

/* The selected member answered ROLE master: repoint now if the episode agrees. */
void watch_on_promoted(struct watch *w, const char *cluster, size_t si, const char *addr,
                       long long at_us, long long poll_start_us);

/* ---------------------------------------------------------------- polls (watch_poll.c) */

/* Poll `addr`, selected for shard `si`, for ROLE master (the shard's last poll stops). */
void watch_poll_start(struct watch *w, const char *cluster, size_t si, const char *addr,
                      long long failover_timeout_ms);

/* Stop the poll of a shard (freed by watch_poll_sweep: the loop may be iterating). */
void watch_poll_stop(struct watch *w, const char *cluster, size_t si);

/* Free the stopped polls and those past their deadline. */
void watch_poll_sweep(struct watch *w, long long now);

/* Timeouts and the next attempt; the ms until this poll needs attention. */
long watch_poll_tick(struct watch *w, struct wpoll *p, long long now);

/* The socket became writable while connecting: check, then AUTH and ROLE. */
void watch_poll_connected(struct watch *w, struct wpoll *p);

/* Readable: AUTH's and ROLE's replies. Returns true when the poll is over. */
bool watch_poll_readable(struct watch *w, struct wpoll *p);

void watch_poll_free(struct wpoll *p);

/* ---------------------------------------------------------------- connections (watch_conn.c) */

/* Timeouts and pings; returns the ms until this connection needs attention. */
long watch_conn_tick(struct watch *w, struct wconn *cn, long long now);

/* The socket became writable while connecting: check, then SUBSCRIBE. */
void watch_conn_connected(struct watch *w, struct wconn *cn);

/* Readable: the replies and messages, each handled as it comes. */
void watch_conn_readable(struct watch *w, struct wconn *cn);

/* Write what is queued; what is left waits for POLLOUT (want_write). */
void watch_conn_flush(struct watch *w, struct wconn *cn);

void watch_conn_free(struct watch *w, struct wconn *cn);

/* Match the connections to the clusters' sentinels: keep, add, drop. */
void watch_sync_conns(struct watch *w);

/*
 * A non-blocking connect to a server of `cluster` became writable: NULL when
 * it connected, with AUTH queued on c when the spec has auth: (*auth_pending:
 * the next reply is AUTH's); else why it did not connect (*auth_pending
 * untouched). The subscriptions and the polls both finish connects so.
 */
const char *watch_connect_finish(struct watch *w, redisContext *c, const char *cluster,
                                 bool *auth_pending);

#endif
