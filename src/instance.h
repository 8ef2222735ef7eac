/*
 * instance.h - the one instance controller: find an instance's process by
 * its pidfile (checked against /proc/PID/cmdline, pids wrap), stop it with
 * TERM then KILL, start it, wait until it answers, ship its binary, and
 * install a nutcracker config only after `nutcracker -t` accepted it.
 *
 * Everything goes through the host's transport, except what a policy with
 * `direct` allows on the local host (kill(2), /proc and rename(2) without a
 * fork): that is reconcile --watch's fast path. apply and watch differ only
 * in their struct instance_policy.
 */
#ifndef RMGR_INSTANCE_H
#define RMGR_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>

#include "plan.h"
#include "rclient.h"
#include "spec.h"
#include "transport.h"

struct instance_policy {
    long poll_us;            /* between two looks at a process or a port */
    long term_timeout_ms;    /* SIGTERM -> SIGKILL */
    long kill_timeout_ms;    /* SIGKILL -> "survived SIGKILL" */
    long pid_min, pid_max;   /* a pidfile number outside names no process */
    long connect_timeout_ms; /* "does the port answer" checks */
    bool direct;             /* the host is this machine: signal and read /proc directly */
};

/*
 * Sleep *delay_us, then double it up to cap_us: a wait that retries soon
 * (from 1 ms) and then no more often than every cap_us.
 */
void instance_backoff(long *delay_us, long cap_us);

/* apply's policy: polls from 1 ms doubling up to 20 ms, TERM for term_timeout_ms, 5 s after KILL, pids 2..4194304. */
struct instance_policy instance_policy_default(long term_timeout_ms, long connect_timeout_ms);

/* ---- pure pieces --------------------------------------------------------- */

/* "redis-server", "redis-sentinel", "nutcracker". */
const char *instance_bin_name(enum instance_kind k);

/*
 * The program for kind k on a host: <base_dir>/<cluster>/bin/<name> with
 * binaries.ship (where instance_ship_binary puts it), else the spec's path.
 * Caller frees.
 */
char *instance_binary_path(const struct spec *s, enum instance_kind k);

/* The address an instance answers on: a proxy's listen address, else ip:port itself. */
void instance_answer_addr(const struct spec *s, enum instance_kind k, const char *ip, int port,
                          const char **aip, int *aport);

/* The spec proxy on host IP `ip` listening on `port`, or NULL. */
const struct spec_proxy *instance_proxy(const struct spec *s, const char *ip, int port);

/*
 * Whether /proc/PID/cmdline text (NUL-separated, `len` bytes) is the
 * instance: redis-server / redis-sentinel with ":port" in its process title
 * or `conf` among its arguments; nutcracker with `conf` among its arguments.
 */
bool instance_cmdline_matches(const char *cmdline, size_t len, enum instance_kind k, int port,
                              const char *conf);

/*
 * The argv (NULL-terminated, caller frees with instance_argv_free) that
 * starts the instance of start step `st` with program `bin`: a redis that
 * is not its shard's master gets --replicaof <master>, the master
 * --replicaof no one (so a stale replicaof line in its file cannot demote
 * it). NULL for a proxy the spec does not have.
 */
char **instance_start_argv(const struct spec *s, const struct step *st, const char *bin);
void instance_argv_free(char **argv);

/* The last `n` lines of `text`, each indented by four spaces. Caller frees. */
char *instance_tail_lines(const char *text, size_t n);

/* ---- on a host ----------------------------------------------------------- */

/*
 * Run argv on t; 0 when it exited 0, else -1 and *err "'<shown>' failed
 * with status N: <first lines of its output>" (shown: the command as the
 * user knows it; NULL: argv). *out (may be NULL) gets stdout.
 */
int instance_run(struct transport *t, const char *const *argv, const char *const *shown,
                 char **out, char **err);

/* Whether process pid is gone (reaped, or a zombie): 1, 0, or -1 and *err. */
int instance_pid_gone(struct transport *t, const struct instance_policy *pol, long pid,
                      char **err);

/* Wait up to timeout_ms for pid to go: 1 gone, 0 still there, -1 and *err. */
int instance_wait_gone(struct transport *t, const struct instance_policy *pol, long pid,
                       long timeout_ms, char **err);

/*
 * Stop the instance of kind k at ip:port (ip: its host's IP) by its
 * pidfile: check that the pid is that instance, TERM, wait, KILL, wait.
 * An instance whose pidfile names no such process and whose port is closed
 * is already stopped (*note, may be NULL, gets "not running"); one whose
 * port answers is an error (something else runs there). 0, or -1 and *err.
 */
int instance_stop(struct transport *t, const struct instance_policy *pol, const struct spec *s,
                  enum instance_kind k, const char *ip, int port, const char **note, char **err);

/*
 * The program file process `pid` on t's host runs, as instance_executable
 * says it: readlink -m of /proc/PID/exe, or `want` itself when both name the
 * same file once symbolic links are resolved. NULL when it cannot be read
 * (another user's process, no such pid). Caller frees.
 */
char *instance_pid_executable(struct transport *t, long pid, const char *want);

/*
 * instance_pid_executable of n pids at once, with one `readlink -m` on t's
 * host (a plan of 200 instances on other programs forked 200 of them: 0.4 s):
 * exe[i] for pids[i] (caller frees each; NULL as above, or for a pid <= 0).
 */
void instance_pids_executables(struct transport *t, const long *pids, size_t n, const char *want,
                               char **exe);

/*
 * Whether the pid a redis or sentinel on `port` reports (INFO process_id) is
 * that instance on t's host: /proc/PID/cmdline names the port (a pid seen from
 * another PID namespace, a container, names another process, or none).
 */
bool instance_pid_is(struct transport *t, enum instance_kind k, int port, long pid);

/*
 * instance_pid_executable for the pid a redis or sentinel on `port` reports
 * (INFO process_id), once /proc/PID/cmdline shows that this pid on t's host is
 * that instance (its process title names the port): a pid seen from another
 * PID namespace (a container) names another process, or none. NULL otherwise.
 */
char *instance_pid_executable_of(struct transport *t, enum instance_kind k, int port, long pid,
                                 const char *want);

/*
 * The program file the running instance of kind k on port `port` was
 * started from: readlink of /proc/PID/exe for the pid its pidfile names,
 * when that pid is the instance (its cmdline matches); the spec's path
 * (instance_binary_path) when both name the same file once symbolic links
 * are resolved. A file replaced since shows as "PATH (deleted)". NULL when
 * not running or not readable. Caller frees.
 */
char *instance_executable(struct transport *t, const struct spec *s, enum instance_kind k,
                          int port);

/*
 * Start the instance of start step st with program bin (it daemonizes),
 * through `env -i PATH=...`: a daemon gets a minimal environment, never
 * rmgr's (RMGR_REDIS_PASSWORD, RMGR_GIT_TOKEN ...). With `umask` ("077"),
 * also through `sh -c 'umask 077 && exec "$@"'`: Redis and Sentinel rewrite
 * their files with mode 0644 & ~umask. 0, or -1 and *err.
 */
int instance_start(struct transport *t, const struct spec *s, const struct step *st,
                   const char *bin, const char *umask, char **err);

/*
 * Poll rclient_answers until it holds or timeout_ms passes (from 1 ms,
 * doubling up to pol->poll_us). On false *why says what was seen last (caller frees).
 */
bool instance_wait_answers(const char *ip, int port, const struct rclient_opts *o,
                           const char *password, const struct instance_policy *pol,
                           long timeout_ms, char **why);

/*
 * Copy the local binary for kind k to instance_binary_path() on t, unless
 * the same bytes are there. 0, or -1 and *err.
 */
int instance_ship_binary(struct transport *t, const struct spec *s, enum instance_kind k,
                         char **err);

/*
 * Ship kind k's binary as a copy, made on the host, of kind `from`'s, which
 * is already there (instance_ship_binary() of this run): Debian's
 * redis-server and redis-sentinel are one file, and over ssh a second
 * transfer of the same ~10 MB was most of a sentinel's install (BENCHMARKS.md,
 * seed layout). The copy goes to a temporary name and is renamed into place
 * (a running program's file is never written). 1 when done so (or the host's
 * copy already matched), 0 when the local files differ (ship k itself), -1 and
 * *err on failure.
 */
int instance_ship_copy(struct transport *t, const struct spec *s, enum instance_kind k,
                       enum instance_kind from, char **err);

/*
 * Install nutcracker config `text` at `conf` (mode `mode`): to <conf>.new,
 * checked with `bin -t -c <conf>.new` (it gives no reason), then over
 * `conf` atomically, so a config nutcracker rejects is never started. `who`
 * names the proxy in the message ("proxy ip:port"). 0, or -1 and *err.
 * The caller wipes `text` (secret_free): it may hold the password.
 */
int instance_install_checked(struct transport *t, const struct instance_policy *pol,
                             const char *bin, const char *conf, const char *text, int mode,
                             const char *who, char **err);

#endif
