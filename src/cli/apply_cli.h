/*
 * apply_cli.h - what `rmgr apply` and `rmgr destroy` share on the command
 * line: their options, the cluster lock, the prompt and the summary.
 */
#ifndef RMGR_APPLY_CLI_H
#define RMGR_APPLY_CLI_H

#include <stdbool.h>

#include "apply.h"

struct command;
struct cluster_lock;

struct apply_cli_options {
    bool auto_approve;
    bool allow_destructive;
    bool accept_new_host_keys;
    bool no_color;
    long lock_timeout_ms;  /* --lock-timeout; 0: do not wait */
    const char *lock_file; /* --lock-file; NULL: lock_default_path() */
};

/*
 * Take one of the options above at argv[*i] like session_parse_option():
 * 1 taken, 0 not one of them, -1 after a usage error.
 */
int apply_cli_parse_option(struct apply_cli_options *o, const struct command *cmd, int argc,
                           char **argv, int *i);

/* Take the cluster's lock; NULL after printing why (the holder) on stderr. */
struct cluster_lock *apply_cli_lock(const struct apply_cli_options *o, const char *cluster);

/*
 * Ask `question` on a terminal and read the answer: true only for "yes".
 * Without a terminal on stdin, false after saying on stderr what to pass.
 */
bool apply_cli_confirm(const char *question, const char *flags_hint);

/* The apply options for the command line's timeouts and flags. */
struct apply_options apply_cli_run_options(const struct apply_cli_options *o,
                                           long connect_timeout_ms, long command_timeout_ms);

/* "<What> complete: N done." or "<What> failed: ..." + what was not run + the error. */
void apply_cli_print_result(const char *what, const struct apply_result *res, bool color);

#endif
