/*
 * apply_cli.h - what `rmgr apply` and `rmgr destroy` share on the command
 * line: their options, the cluster lock, the prompt and the summary.
 */
#ifndef RMGR_APPLY_CLI_H
#define RMGR_APPLY_CLI_H

#include <stdbool.h>

#include "apply.h"
#include "lock_cli.h"
#include "opt.h"
#include "step_guard.h"

struct cluster_lock;

struct apply_cli_options {
    bool auto_approve;
    bool allow_destructive;
    bool accept_new_host_keys;
    bool no_color;
    long lock_timeout_ms;  /* --lock-timeout; 0: do not wait */
    const char *lock_file; /* --lock-file; NULL: lock_default_path() */
    long parallel;         /* --parallel N: instances acted on at once per host; 0: default */
    const char *lock;      /* --lock etcd://...; NULL: $RMGR_LOCK, else the lock file */
    struct etcd_lock_options lock_etcd; /* --lock-cacert, --lock-ttl ... */
};

/* --parallel's value: a count from 1 to APPLY_MAX_PARALLEL (a cli_opt_fn). */
#define APPLY_MAX_PARALLEL 1024
int apply_cli_set_parallel(void *dest, const struct cli_opt *opt, const char *value, char **err);

/*
 * The option rows (opt.h) of the options above, into a struct
 * apply_cli_options `m` of T; the help of --auto-approve and
 * --allow-destructive is the command's (what they allow differs).
 */
#define CLI_OPTS_APPLY(T, m, auto_approve_help, allow_destructive_help)                  \
    {CLI_OPT_FLAG, 0, "auto-approve", offsetof(T, m.auto_approve),                       \
     .help = auto_approve_help},                                                         \
    {CLI_OPT_FLAG, 0, "allow-destructive", offsetof(T, m.allow_destructive),             \
     .help = allow_destructive_help},                                                    \
    {CLI_OPT_DURATION, 0, "lock-timeout", offsetof(T, m.lock_timeout_ms), NULL, 0, 0,    \
     "30s, 5m, 250ms", .arg = "DUR",                                                     \
     .help = "wait up to DUR (30s, 5m, 250ms) for another apply on the\n"                \
             "cluster to finish (default: do not wait)"},                                \
    {CLI_OPT_STRING, 0, "lock-file", offsetof(T, m.lock_file), .arg = "PATH",            \
     .help = "the lock file (default $XDG_RUNTIME_DIR/rmgr/CLUSTER.lock,\n"              \
             "else /tmp/rmgr-UID/CLUSTER.lock)"},                                        \
    {CLI_OPT_FLAG, 0, "accept-new-host-keys", offsetof(T, m.accept_new_host_keys),       \
     .help = "trust unknown ssh host keys and add them to known_hosts\n"                 \
             "(a changed key is always refused)"},                                       \
    {CLI_OPT_FLAG, 0, "no-color", offsetof(T, m.no_color),                               \
     .help = "no ANSI colours (also: NO_COLOR set, or not a tty)"},                      \
    {CLI_OPT_STRING, 0, "parallel", offsetof(T, m.parallel), apply_cli_set_parallel,     \
     .arg = "N",                                                                         \
     .help = "act on at most N instances of one host at once (default 16;\n"            \
             "hosts always run side by side)"},                                          \
    CLI_OPTS_LOCK(T, m.lock, m.lock_etcd)

/*
 * Take the cluster's lock: the etcd lease of --lock/$RMGR_LOCK (its value
 * naming `commit`, may be NULL), else the lock file. NULL after printing
 * why (the holder) on stderr.
 */
struct cluster_lock *apply_cli_lock(const struct apply_cli_options *o, const char *cluster,
                                    const char *commit);

/*
 * Ask `question` on a terminal and read the answer: true only for "yes";
 * any other answer prints `cancelled` ("Apply cancelled."). Without a
 * terminal on stdin, false after saying on stderr what to pass.
 */
bool apply_cli_confirm(const char *question, const char *flags_hint, const char *cancelled);

/* The apply options for the command line's timeouts and flags. */
struct apply_options apply_cli_run_options(const struct apply_cli_options *o,
                                           long connect_timeout_ms, long command_timeout_ms);

/* "<What> complete: N done." or "<What> failed: ..." + what was not run + the error. */
void apply_cli_print_result(const char *what, const struct apply_result *res, bool color);

#endif
