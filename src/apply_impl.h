/*
 * apply_impl.h - what the executor's files share: the run and its hosts,
 * and the calls every step and health check goes through. Private to
 * apply.c (the run loop: hosts, lanes, waves), apply_steps.c (one
 * executor per step kind), apply_sentinel.c (what the sentinel steps do on
 * a sentinel), apply_upgrade.c (the upgrade steps), apply_gates.c (health
 * checks between waves) and apply_progress.c (what the run prints).
 */
#ifndef RMGR_APPLY_IMPL_H
#define RMGR_APPLY_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "apply.h"
#include "instance.h"
#include "rclient.h"
#include "util.h"

#define POLL_CAP_US 20000 /* a wait retries after 1 ms, doubling up to this */

enum step_state { ST_PENDING, ST_DONE, ST_FAILED };

struct hostc {
    const char *name;     /* borrowed from the plan or spec */
    struct transport *t;  /* opened on first use */
    char *open_err;       /* why it could not be opened */
    bool open_host_key;   /* ... because its ssh host key is not trusted */
    char *bin[3];         /* per instance kind: the shipped binary, once checked */
    pthread_mutex_t bin_lock; /* bin[]: one lane ships, the others wait for it */
};

/* A new master whose repl-diskless-sync-delay apply lowered to 0 for its first syncs. */
struct lowered_delay {
    const struct step *st; /* its start step */
    char *was;             /* the value to put back */
};

struct run {
    const struct spec *s;
    const struct plan *p;
    const char *password;
    struct apply_options o;
    struct rclient_opts ro;          /* from o's timeouts */
    struct instance_policy policy;   /* from o's timeouts */
    char *cluster_root;    /* <base_dir>/<cluster> */
    struct hostc *hosts;
    size_t nhosts;
    size_t *number;        /* 1-based number of each acting step, 0 for "=" */
    size_t total;
    enum step_state *state;
    char **error;          /* per step */
    pthread_mutex_t lock;  /* output, abort */
    bool abort;
    bool host_key;         /* a step failed on a host key not trusted (implies abort) */
    bool side_by_side;     /* stages run at once: whole lines only (set between threads) */
    struct lowered_delay *lowered; /* under lock */
    size_t nlowered, lowered_cap;
};


/* ---------------------------------------------------------------- hosts and servers (apply.c) */

/* The host named `name` of the run, or NULL. */
struct hostc *run_host_find(struct run *r, const char *name);

/* The host's transport, opened on first use. NULL and *err when it cannot be. */
struct transport *run_host_transport(struct run *r, struct hostc *h, char **err);

/* Whether host h's ssh host key failed verification, at open or on a reconnect since. */
bool run_host_key_failed(const struct hostc *h);

/*
 * Run argv on host h; 0 when it exited 0, else -1 and *err naming `shown`
 * (the command as the user knows it; NULL: argv). *out (may be NULL) gets
 * stdout.
 */
int run_host_cmd_as(struct run *r, struct hostc *h, const char *const *argv,
                    const char *const *shown, char **out, char **err);
int run_host_cmd(struct run *r, struct hostc *h, const char *const *argv, char **out,
                 char **err);

/*
 * Connect to ip:port within the connect timeout, AUTH when `auth` and the
 * spec has a password. NULL and *err when that fails.
 */
redisContext *run_connect(struct run *r, const char *ip, int port, bool auth, char **err);

/*
 * Send argv; the reply when it is not an error, else NULL and *err naming
 * `what` (never the arguments). With `secret` the error reply is not shown
 * either (it could quote an argument).
 */
redisReply *run_cmd(redisContext *c, const char *where, const char *what, bool secret, int argc,
                    const char **argv, char **err);

/* run_cmd when only success matters. 0 or -1. */
int run_cmd_ok(redisContext *c, const char *where, const char *what, bool secret, int argc,
               const char **argv, char **err);

/* Whether ip:port answers (rclient_answers); with `auth`, after AUTH. */
bool run_answers(struct run *r, const char *ip, int port, bool auth, char **why);

/* Whether something accepts connections on ip:port (nothing else is said). */
bool run_port_open(struct run *r, const char *ip, int port);
/* Whether the plan could not observe this instance (an "=" unreachable line). */
bool run_plan_unreachable(const struct run *r, enum instance_kind k, const char *ip, int port);

/* ---------------------------------------------------------------- steps (apply_steps.c) */

/*
 * Run step st with the executor its kind's row of STEP_KINDS names. 0, or
 * -1 and *err. *note may get a remark for the progress line.
 */
int run_exec_step(struct run *r, const struct step *st, const char **note, char **err);

/*
 * Put back repl-diskless-sync-delay on every master whose start lowered it
 * (CONFIG SET only: its file never had the 0). NULL, or (caller frees) a
 * line per master that kept its 0 (the next plan restores it).
 */
char *run_delay_restore(struct run *r);

/* The program for kind k on host h (shipped first with binaries.ship). NULL and *err. */
const char *run_host_binary(struct run *r, struct hostc *h, enum instance_kind k, char **err);

/* Stop the instance of step st (kind, ip, port) by its pidfile. 0, or -1 and *err. */
int run_instance_stop(struct run *r, struct hostc *h, const struct step *st, char **err);

/*
 * Start the instance of step st as a start step would (a redis as a replica
 * of st->master_ip when set), wait until it answers. 0, or -1 and *err.
 */
int run_instance_start(struct run *r, struct hostc *h, const struct step *st, char **err);

/*
 * The value to send for a step's setting key=value: a secret (requirepass,
 * masterauth, Sentinel's auth-pass) is planned only as the placeholder, and
 * the password goes in its place here. *secret says whether replies must
 * not be shown. NULL and *err when the spec has no password to send.
 */
const char *run_setting_value(const struct run *r, const char *where, const char *key,
                              const char *value, bool *secret, char **err);

/* ---------------------------------------------------------------- sentinel steps (apply_sentinel.c) */

/*
 * What a sentinel step does on the step's sentinel, connected (with AUTH)
 * by sentinel_step (apply_steps.c); `where` names it for messages. 0, or -1
 * and *err.
 */
typedef int sentinel_step_fn(struct run *r, redisContext *c, const char *where,
                             const struct step *st, char **err);

/* SENTINEL MONITOR the shard at the step's master, its options and auth-pass */
sentinel_step_fn run_sentinel_monitor;
/* SENTINEL SET every option of the step */
sentinel_step_fn run_sentinel_set_options;
/* SENTINEL REMOVE the shard (one the sentinel does not know is removed already) */
sentinel_step_fn run_sentinel_remove;
/* SENTINEL RESET the shard, then wait until the sentinel knows it again */
sentinel_step_fn run_sentinel_reset;

/*
 * sentinel-auth: give the step's sentinel the spec's password (sentinel-pass,
 * requirepass), then wait until the sentinels see each other with quorum.
 */
int run_sentinel_auth(struct run *r, struct hostc *h, const struct step *st, char **err);

/* ---------------------------------------------------------------- upgrade (apply_upgrade.c) */

/* upgrade-restart: restart an instance on the spec's program and wait until it is healthy */
int exec_upgrade_restart(struct run *r, struct hostc *h, const struct step *st,
                         const char **note, char **err);
/* upgrade-failover: SENTINEL FAILOVER of a shard onto a replica that runs the spec's program */
int exec_upgrade_failover(struct run *r, struct hostc *h, const struct step *st,
                          const char **note, char **err);

/* ---------------------------------------------------------------- health checks (apply_gates.c) */

/* The health check after wave w, if the plan changed what it checks. false and *err. */
bool run_gate_after(struct run *r, enum step_wave w, char **err);

/* Append "; "-separated what a check saw. */
void run_seen_add(struct strbuf *seen, const char *fmt, ...) RMGR_PRINTF(2, 3);

/* whether `peers` lists ip:port */
bool run_peers_have(const struct obs_sentinel_peer *peers, size_t n, const char *ip, int port);

/* ---------------------------------------------------------------- progress (apply_progress.c) */

/* "[3/12] + start 127.0.0.1:7001" (+ the shard for sentinel steps). Caller frees. */
char *run_step_label(const struct run *r, size_t i);

/* With `live` (one lane): "<label> ... " before step i runs. Takes r->lock. */
void run_print_start(struct run *r, size_t i, bool live);

/*
 * "done (note, N ms)" or "failed (N ms)" and the error lines of step i,
 * after its label unless `live` printed it. Called under r->lock.
 */
void run_print_result(const struct run *r, size_t i, bool ok, const char *note, long long ms,
                      const char *err, bool live);

/*
 * "check: <what> ... " before a health check, then "ok (N ms)" or "failed
 * (N ms)"; while stages run side by side, the whole line at the end.
 */
void run_print_check(struct run *r, const char *what);
void run_print_check_result(struct run *r, const char *what, bool ok, long long ms);

#endif
