/*
 * cli.h - what every subcommand shares: exit codes, the command table entry,
 * usage errors. Options are parsed by the table-driven parser of opt.h.
 */
#ifndef RMGR_CLI_H
#define RMGR_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "exit_code.h"

struct cli_opt;

/*
 * A subcommand, defined in its cmd_<name>.c next to its option table. Its
 * --help is `usage`, then the options as the table lists them (opt.h:
 * cli_opt_print_help, under "Options:" unless the table starts with a
 * heading), then `epilog`.
 */
struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;               /* one line for `rmgr help` */
    const char *usage;                 /* "usage: rmgr NAME ..." and what it does */
    const struct cli_opt *opts;        /* the options it parses (and lists in --help) */
    size_t nopts;
    unsigned parse_flags;              /* enum cli_parse_flags */
    const char *epilog;                /* after the options: exit status, signals; or NULL */
};

/* .opts and .nopts of a struct command from its static option table */
#define CLI_COMMAND_OPTS(table) .opts = (table), .nopts = sizeof(table) / sizeof((table)[0])

/* The commands `rmgr help` lists, in its order; *n gets their count. */
const struct command *const *cli_commands(size_t *n);

/* Print `rmgr help` (the list of commands) to `out`. */
void cli_print_overview(FILE *out);

/* Print `rmgr NAME --help` to `out`. */
void cli_print_command_help(FILE *out, const struct command *cmd);

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

/*
 * The opening of every subcommand: argv is parsed against cmd's option table
 * (cli_opt_parse() with its parse_flags) into `args`. Returns 0, or
 * EXIT_USAGE once the error and the usage line are printed.
 */
int cli_parse_command(const struct command *cmd, int argc, char **argv, void *args);

/*
 * cli_parse_command(), then "rmgr: NAME needs a spec: -f SPEC" and EXIT_USAGE
 * when *spec_path (the -f of `args`) is still NULL.
 */
int cli_parse_spec_command(const struct command *cmd, int argc, char **argv, void *args,
                           const char *const *spec_path);

/* The subcommands, one per cmd_<name>.c; cli.c lists them for `rmgr help`. */
extern const struct command command_validate, command_plan, command_observe, command_status,
    command_apply, command_destroy, command_reconcile, command_exec, command_logs, command_top,
    command_failover, command_backup, command_import, command_convert, command_locks,
    command_unlock;

#endif
