/*
 * harness.h - start real redis-server, redis-sentinel and nutcracker processes
 * on loopback for integration tests, and stop exactly those again.
 *
 *   struct harness *h = harness_new("failover");
 *   struct hproc *r = harness_start_redis(h, 0, NULL);          // 0: pick a free port
 *   char *pong = harness_redis_cmd("127.0.0.1", hproc_port(r), NULL, "PING");
 *   ...
 *   harness_cleanup(h);    // optional: atexit and fatal signals do it too
 *
 * Processes
 *   Daemons run in the foreground as children of the test, one directory each
 *   under the harness directory (<dir>/<kind>-<port>/ with the config, pidfile,
 *   log, and "stdout" holding whatever the program printed before its log was
 *   open). Their pid is known exactly from fork(), early exits are noticed at
 *   once, and each child gets PR_SET_PDEATHSIG=SIGKILL, so even a test killed
 *   with SIGKILL leaves no daemon behind. Start processes from the main thread
 *   (the death signal follows the thread that forked).
 *   redis and sentinel write their own pidfile; for nutcracker (which writes one
 *   only with -d) the harness writes the child's pid there, so rmgr finds all
 *   three the way it would in production.
 *
 * Tracking and stopping
 *   Every pid the harness signals is identified by pid + start time
 *   (/proc/PID/stat field 22), recorded when it was started or tracked: a pid
 *   that was reused by another program, or a zombie, is never signalled.
 *   Processes started by others (rmgr starting a daemon) can be handed to the
 *   harness with harness_track_pid()/harness_track_pidfile(), which check the
 *   command line first.
 *   Cleanup (harness_cleanup, atexit, SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGABRT/
 *   SIGSEGV/SIGBUS/SIGFPE/SIGILL) sends TERM to every tracked process, waits up
 *   to 5 s, then KILLs, and removes the directory. The signal path uses only
 *   pre-recorded data and async-signal-safe calls, then re-raises the signal.
 *   A forked child of the test that exits or crashes stops nothing: only the
 *   process that called harness_new() cleans up.
 *
 * Threads
 *   harness_redis_cmd, harness_wait_* and harness_pid_alive may be called from
 *   any thread; the rest (start, stop, track, free_port, run) from one thread.
 *
 * Environment
 *   HARNESS_KEEP=1    keep the directory (its path is printed) after cleanup
 *   HARNESS_VERBOSE=1 print each start/stop on stderr
 *   HARNESS_READY_TIMEOUT_MS  readiness deadline instead of 5000
 *   TMPDIR            where the directory is created (default /tmp)
 *
 * Errors are reported on stderr (lowercase, with the subject quoted); passwords
 * passed in are never printed. Only 127.0.0.1 is ever used.
 */
#ifndef RMGR_HARNESS_H
#define RMGR_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

struct harness; /* a temporary directory + the processes it tracks */
struct hproc;   /* a process the harness started; owned by the harness */

#define HARNESS_IP "127.0.0.1"
#define HARNESS_READY_TIMEOUT_MS 5000 /* default readiness deadline (see above) */

enum hproc_kind { HPROC_REDIS, HPROC_SENTINEL, HPROC_NUTCRACKER, HPROC_OTHER };

/* ---- lifecycle ---------------------------------------------------------- */

/*
 * Create a harness with a fresh directory $TMPDIR/rmgr-<name>-XXXXXX (mode
 * 0700). Installs the atexit and signal handlers on first use. Several
 * harnesses may live at once. Aborts the test (exit 2) if the directory
 * cannot be created: nothing useful can follow.
 */
struct harness *harness_new(const char *name);

/* Absolute path of the harness directory. */
const char *harness_dir(const struct harness *h);

/*
 * Stop every tracked process (TERM to all, wait up to 5 s, KILL the rest),
 * remove the directory unless HARNESS_KEEP=1, and free h and all its hprocs.
 * NULL is fine. Runs automatically at exit for harnesses still alive.
 */
void harness_cleanup(struct harness *h);

/* ---- ports -------------------------------------------------------------- */

/*
 * A free TCP port on 127.0.0.1: bind port 0, read it, close. Never returns the
 * same port twice within one process. Returns -1 (and reports) on failure.
 */
int harness_free_port(void);

/* ---- starting daemons -------------------------------------------------------
 * Each returns a handle once the process answers PING (redis, sentinel,
 * nutcracker) or accepts a TCP connection (harness_start_cmd), within
 * HARNESS_READY_TIMEOUT_MS. On failure: NULL, a message and the tail of the
 * process' log on stderr, and the process stopped. A port of 0 means "pick a
 * free one"; then a start that failed because the port was taken is retried
 * on another port.
 */

/*
 * redis-server with: port, bind 127.0.0.1, daemonize no, pidfile, dir,
 * logfile, save "", appendonly no, repl-diskless-sync-delay 0. extra_conf
 * (may be NULL) is appended verbatim, so its lines override these, e.g.
 * "requirepass s3cret\nmasterauth s3cret\n" or "replicaof 127.0.0.1 6380\n".
 */
struct hproc *harness_start_redis(struct harness *h, int port, const char *extra_conf);

/*
 * redis-sentinel with its own writable sentinel.conf (port, bind, pidfile,
 * logfile, dir) followed by extra_conf, typically
 * "sentinel monitor m1 127.0.0.1 6379 1\nsentinel down-after-milliseconds m1 2000\n".
 */
struct hproc *harness_start_sentinel(struct harness *h, int port, const char *extra_conf);

/*
 * nutcracker -c nutcracker.yml -p pidfile -o log -s stats_port -a 127.0.0.1,
 * with a single pool "alpha" listening on 127.0.0.1:listen_port.
 * pool_yaml_body holds the pool's other keys, each indented by two spaces:
 *   "  redis: true\n  hash: fnv1a_64\n  servers:\n   - 127.0.0.1:6379:1 s1\n"
 * stats_port 0 picks a free one (nutcracker would open 22222 on 0.0.0.0).
 */
struct hproc *harness_start_nutcracker(struct harness *h, int listen_port, int stats_port,
                                       const char *pool_yaml_body);

/*
 * nutcracker with a complete configuration file text (any pools); readiness is
 * PING on listen_port, which must be one of its listen ports.
 */
struct hproc *harness_start_nutcracker_conf(struct harness *h, int listen_port, int stats_port,
                                            const char *conf_yaml);

/*
 * Any foreground program (e.g. sshd -D): argv[0] is looked up in PATH, run
 * in <dir>/<label>-<port>/ with stdout+stderr to "stdout" there. Readiness is a
 * TCP connect to port (0: no readiness check, the process just must not exit
 * within 50 ms).
 */
struct hproc *harness_start_cmd(struct harness *h, const char *label, const char *const argv[],
                                int port);

/* ---- handles ------------------------------------------------------------ */

pid_t hproc_pid(const struct hproc *p);     /* 0 once stopped */
int hproc_port(const struct hproc *p);      /* listen port */
int hproc_stats_port(const struct hproc *p);/* nutcracker stats port, else 0 */
enum hproc_kind hproc_kind(const struct hproc *p);
const char *hproc_dir(const struct hproc *p);     /* its working directory */
const char *hproc_conf(const struct hproc *p);    /* config file, or NULL */
const char *hproc_pidfile(const struct hproc *p); /* pidfile, or NULL */
const char *hproc_log(const struct hproc *p);     /* log file (or "stdout") */

/* ---- stopping and signalling ---------------------------------------------- */

/*
 * Stop p: TERM, wait up to 5 s, then KILL; reaps it. 0 when it is gone (also
 * when it was already gone), -1 if it survived KILL.
 */
int harness_stop(struct harness *h, struct hproc *p);

/*
 * Send sig to p if it is still the process that was started (e.g. SIGKILL to
 * simulate a crash, SIGSTOP to simulate a hang). 0 sent, -1 not running.
 */
int harness_signal(struct harness *h, struct hproc *p, int sig);

/*
 * Start p again with the same command and config file (which the program may
 * have rewritten, as sentinel and CONFIG REWRITE do), on the same port, and
 * wait for readiness. Stops it first if it still runs. 0 or -1.
 */
int harness_restart(struct harness *h, struct hproc *p);

/* True while p runs (not stopped, not exited, not a zombie). */
bool hproc_alive(const struct hproc *p);

/* ---- processes started by others ------------------------------------------ */

/*
 * Track pid (started by someone else, e.g. rmgr from its pidfile) so cleanup
 * stops it. Refuses (-1, message) unless the process exists, is not a zombie
 * and expect (may be NULL) occurs in its command line, /proc/PID/comm or exe
 * path. Tracking the same process twice is harmless. 0 on success.
 */
int harness_track_pid(struct harness *h, pid_t pid, const char *expect);

/*
 * Wait up to HARNESS_READY_TIMEOUT_MS for pidfile to name a live process
 * matching expect, then track it. Returns the pid, or -1 with a message.
 */
pid_t harness_track_pidfile(struct harness *h, const char *pidfile, const char *expect);

/*
 * Stop a pid tracked with harness_track_pid[file] like harness_stop (TERM,
 * 5 s, KILL), after checking it is still the tracked process. 0 gone, -1 not.
 */
int harness_stop_pid(struct harness *h, pid_t pid);

/*
 * True if pid exists and has not finished exiting: a zombie (which still
 * answers kill -0) counts as gone once its last thread is gone too, since
 * until then the process still holds its files and listening sockets.
 * Reaps it first if it is an exited child of ours.
 */
bool harness_pid_alive(pid_t pid);

/* ---- waiting -------------------------------------------------------------- */

/*
 * PING ip:port every 50 ms until it answers or timeout_ms passes (<= 0 means
 * HARNESS_READY_TIMEOUT_MS). Any reply counts as alive (also -NOAUTH and
 * other errors) except -LOADING, which keeps waiting.
 */
bool harness_wait_ping(const char *ip, int port, long timeout_ms);

/* True when a TCP connect to ip:port succeeds within timeout_ms (polled every 50 ms). */
bool harness_wait_port(const char *ip, int port, long timeout_ms);

/*
 * Call cond(arg) every every_ms (<= 0: 50) until it returns true (-> true) or
 * timeout_ms passes (-> false). cond is always called at least once.
 */
bool harness_wait_until(bool (*cond)(void *arg), void *arg, long timeout_ms, long every_ms);

/* Sleep for ms milliseconds (restarted after signals). */
void harness_sleep_ms(long ms);

/* ---- talking to servers ---------------------------------------------------- */

/*
 * Run one command (hiredis format: "SET %s %s") on ip:port, AUTH first when
 * password is not NULL. Returns the reply as text, which the caller frees:
 * status and string replies as they are, integers in decimal, nil as "(nil)",
 * errors as "-" + message ("-NOAUTH Authentication required."), arrays as
 * their elements (flattened) joined by "\n". NULL (and a message) when the
 * server cannot be reached or does not answer within 5 s.
 */
char *harness_redis_cmd(const char *ip, int port, const char *password, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* ---- running programs ------------------------------------------------------ */

/*
 * Run argv (argv[0] looked up in PATH; e.g. getenv("RMGR_BIN")), stdin from
 * /dev/null, and capture stdout and stderr into *out / *err (NUL-terminated,
 * caller frees; each pointer may be NULL to discard). *status (may be NULL)
 * gets the exit code, or 128+signal. Killed after 60 s. Output of daemons the
 * program leaves behind with the pipes open is not waited for.
 * 0 when the program ran (whatever its exit code), -1 on fork/exec failure or
 * timeout.
 */
int harness_run(const char *const argv[], char **out, char **err, int *status);

/* harness_run with text for stdin (may be NULL), a working directory (NULL: the
 * current one) and a timeout (<= 0: 60 s). */
int harness_run_ex(const char *const argv[], const char *input, const char *cwd,
                   long timeout_ms, char **out, char **err, int *status);

#endif
