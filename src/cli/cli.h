/*
 * cli.h - what every subcommand shares: exit codes, the command table entry,
 * usage errors. Options are parsed by the table-driven parser of opt.h.
 */
#ifndef RMGR_CLI_H
#define RMGR_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "exit_code.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;               /* one line for `rmgr help` */
    const char *usage;                 /* full text for `rmgr COMMAND --help` */
};

/* Print "rmgr: <msg>" and the command's usage line to stderr; returns EXIT_USAGE. */
int cli_usage_error(const struct command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The entry for `name`, or NULL. */
const struct command *cli_find_command(const char *name);

/* true when stdout is a terminal and neither NO_COLOR nor --no-color says otherwise */
bool cli_use_color(bool no_color_flag);

/*
 * cli_usage_error(cmd, "%s", err), freeing err (from cli_opt_parse() or another
 * check of the options); returns EXIT_USAGE.
 */
int cli_opt_usage_error(const struct command *cmd, char *err);

struct cli_opt;

/*
 * The opening of every subcommand: *cmd gets the entry of `name` and argv is
 * parsed against `opts` (cli_opt_parse() with `flags`) into `args`. Returns 0,
 * or EXIT_USAGE once the error and the usage line are printed.
 */
int cli_parse_command(const char *name, const struct cli_opt *opts, size_t nopts, unsigned flags,
                      int argc, char **argv, void *args, const struct command **cmd);

/* 0 when `spec_path` is set, else "rmgr: NAME needs a spec: -f SPEC" and EXIT_USAGE. */
int cli_needs_spec(const struct command *cmd, const char *spec_path);

/* Implemented subcommands (cmd_<name>.c). */
int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_observe(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_destroy(int argc, char **argv);
int cmd_reconcile(int argc, char **argv);
extern const char reconcile_usage[]; /* in cmd_reconcile.c: built from option macros */

#endif
