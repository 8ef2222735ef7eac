/*
 * main.c - rmgr's entry point: the command table and dispatch. Each command
 * lives in its own cmd_<name>.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct command commands[] = {
    {"validate", cmd_validate, "check specs for errors, every one with file:line:col",
     "usage: rmgr validate PATH...\n"
     "\n"
     "Load every spec named (a file, or a directory: every *.yaml and *.yml in it)\n"
     "and report every problem as file:line:col: message.\n"
     "\n"
     "Exit status: 0 all specs valid, 1 a spec has errors, 2 usage error.\n"},
};

static const char *usage_text =
    "usage: rmgr [--version] [--help] COMMAND [ARGS]\n";

const struct command *cli_find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

int cli_usage_error(const struct command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rmgr: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (cmd) {
        const char *nl = strchr(cmd->usage, '\n');
        fprintf(stderr, "%.*s\n", nl ? (int)(nl - cmd->usage) : (int)strlen(cmd->usage),
                cmd->usage);
        fprintf(stderr, "Try 'rmgr %s --help' for more.\n", cmd->name);
    } else {
        fputs(usage_text, stderr);
        fputs("Try 'rmgr help' for the list of commands.\n", stderr);
    }
    return EXIT_USAGE;
}

bool cli_use_color(bool no_color_flag)
{
    if (no_color_flag)
        return false;
    const char *nc = getenv("NO_COLOR");
    if (nc && *nc)
        return false;
    return isatty(STDOUT_FILENO);
}

static void print_help(FILE *out)
{
    fputs(usage_text, out);
    fputs("\nrmgr keeps Redis master/replica shards, Sentinel and twemproxy (nutcracker)\n"
          "in agreement with a declarative YAML spec.\n\nCommands:\n", out);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("  help       show this list, or a command's help: rmgr help COMMAND\n"
          "\nRun 'rmgr COMMAND --help' for a command's options.\n", out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("rmgr %s\n", RMGR_VERSION);
        return EXIT_OK;
    }
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        print_help(stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "help")) {
        if (argc < 3) {
            print_help(stdout);
            return EXIT_OK;
        }
        const struct command *cmd = cli_find_command(argv[2]);
        if (!cmd)
            return cli_usage_error(NULL, "unknown command '%s'", argv[2]);
        fputs(cmd->usage, stdout);
        return EXIT_OK;
    }
    if (name[0] == '-')
        return cli_usage_error(NULL, "unknown option '%s'", name);
    const struct command *cmd = cli_find_command(name);
    if (!cmd)
        return cli_usage_error(NULL, "unknown command '%s'", name);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(cmd->usage, stdout);
            return EXIT_OK;
        }
    }
    return cmd->run(argc - 1, argv + 1);
}
