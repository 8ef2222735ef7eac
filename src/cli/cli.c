/*
 * cli.c - what every subcommand shares: the list of commands, their --help,
 * usage errors and the opening that parses a command's options.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "opt.h"
#include "util.h"

/* in the order `rmgr help` lists them */
static const struct command *const commands[] = {
    &command_validate, &command_plan,    &command_observe,   &command_status,
    &command_apply,    &command_destroy, &command_reconcile, &command_exec,
    &command_logs,     &command_top,     &command_failover,  &command_backup,
    &command_import,   &command_convert, &command_locks,     &command_unlock,
};

const struct command *const *cli_commands(size_t *n) {
  *n = ARRAY_SIZE(commands);
  return commands;
}

static const char *usage_text =
    "usage: rmgr [--version] [--help] COMMAND [ARGS]\n";

const struct command *cli_find_command(const char *name) {
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    if (!strcmp(commands[i]->name, name))
      return commands[i];
  return NULL;
}

int cli_usage_error(const struct command *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("rmgr: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (cmd) {
    const char *nl = strchr(cmd->usage, '\n');
    fprintf(stderr, "%.*s\n",
            nl ? (int)(nl - cmd->usage) : (int)strlen(cmd->usage), cmd->usage);
    fprintf(stderr, "Try 'rmgr %s --help' for more.\n", cmd->name);
  } else {
    fputs(usage_text, stderr);
    fputs("Try 'rmgr help' for the list of commands.\n", stderr);
  }
  return EXIT_USAGE;
}

int cli_opt_usage_error(const struct command *cmd, char *err) {
  int rc = cli_usage_error(cmd, "%s", err ? err : "invalid options");
  free(err);
  return rc;
}

int cli_parse_command(const struct command *cmd, int argc, char **argv,
                      void *args) {
  char *err = NULL;
  if (cli_opt_parse(cmd->opts, cmd->nopts, cmd->parse_flags, argc, argv, args,
                    &err) < 0)
    return cli_opt_usage_error(cmd, err);
  return 0;
}

int cli_parse_spec_command(const struct command *cmd, int argc, char **argv,
                           void *args, const char *const *spec_path) {
  int rc = cli_parse_command(cmd, argc, argv, args);
  if (rc || *spec_path)
    return rc;
  return cli_usage_error(cmd, "%s needs a spec: -f SPEC", cmd->name);
}

bool cli_use_color(bool no_color_flag) {
  if (no_color_flag)
    return false;
  const char *nc = getenv("NO_COLOR");
  if (nc && *nc)
    return false;
  return isatty(STDOUT_FILENO);
}

void cli_print_overview(FILE *out) {
  fputs(usage_text, out);
  fputs("\nrmgr keeps Redis master/replica shards, Sentinel and twemproxy "
        "(nutcracker)\n"
        "in agreement with a declarative YAML spec.\n\nCommands:\n",
        out);
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
  fputs("  help       show this list, or a command's help: rmgr help COMMAND\n"
        "\nRun 'rmgr COMMAND --help' for a command's options.\n",
        out);
}

void cli_print_command_help(FILE *out, const struct command *cmd) {
  fputs(cmd->usage, out);
  if (cmd->nopts) {
    fputs("\n", out);
    if (cmd->opts[0].type != CLI_OPT_GROUP)
      fputs("Options:\n", out);
    cli_opt_print_help(out, cmd->opts, cmd->nopts);
  }
  if (cmd->epilog) {
    fputs("\n", out);
    fputs(cmd->epilog, out);
  }
}
