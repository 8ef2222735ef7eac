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
#include "opt.h"

static const struct command commands[] = {
    {"validate", cmd_validate, "check specs for errors, every one with file:line:col",
     "usage: rmgr validate [-f] PATH...\n"
     "       rmgr validate --repo URL [--ref REF] [--path DIR] [--cache-dir DIR]\n"
     "\n"
     "Load every spec named (a file, or a directory: every *.yaml and *.yml in it,\n"
     "sorted) and report every problem to stderr as file:line:col: error|warning: message.\n"
     "When there is no error, print one summary line per cluster to stdout. Cluster names\n"
     "must be unique across the specs given. Nothing is written and nothing is contacted\n"
     "(with --repo: only the repository, into the cache; stdout then starts with the\n"
     "commit and its subject, and specs are named by their path in the repository).\n"
     "\n"
     "Options:\n"
     "  -f, --file PATH    the same as PATH, as the other commands take a spec\n"
     GIT_SOURCE_USAGE
     "\n"
     "Exit status: 0 all specs valid (warnings allowed), 1 a spec has errors, 2 usage error.\n"},
    {"plan", cmd_plan, "show the steps that would make the cluster match the spec",
     "usage: rmgr plan -f SPEC [--json | --markdown] [--detailed-exitcode] [--out FILE]\n"
     "                 [--no-color] [--connect-timeout MS] [--timeout MS]\n"
     "       rmgr plan --repo URL [--ref REF] [--path DIR] [--cache-dir DIR] [options]\n"
     "\n"
     "Observe every instance the spec names, compare with the spec and print the\n"
     "ordered steps that would make them match (nothing is changed), then the\n"
     "plan's fingerprint. A shard whose master cannot be told safely is refused:\n"
     "the diagnosis is printed instead of steps and the exit status is 1.\n"
     "\n"
     "Options:\n"
     "  -f, --file SPEC         the cluster spec (YAML)\n"
     GIT_SOURCE_USAGE
     "                     (--path must lead to one spec; its commit and subject\n"
     "                     head the text and are in the JSON and the saved plan)\n"
     "  --json                  the plan as JSON (format: docs/plan-json.md)\n"
     "  --markdown              the plan as Markdown, for a pull-request comment\n"
     "  --detailed-exitcode     exit 0 no changes, 1 error or refusal, 2 changes\n"
     "  --out FILE              also save the plan (JSON, mode 0600) to FILE\n"
     "  --no-color              no ANSI colours (also: NO_COLOR set, or not a tty)\n"
     "  --connect-timeout MS    connect timeout per server (default 1000)\n"
     "  --timeout MS            command timeout per server (default 2000)\n"
     "\n"
     "Exit status: 0 success (without --detailed-exitcode also with changes),\n"
     "1 error or refused plan, 2 changes pending (--detailed-exitcode) or usage error.\n"},
    {"observe", cmd_observe, "show what is running, as the planner sees it",
     "usage: rmgr observe -f SPEC [--json] [--skip-files] [--connect-timeout MS]\n"
     "                    [--timeout MS]\n"
     "\n"
     "Look at every instance the spec names (in parallel: a dead host costs one\n"
     "timeout) and print one line each; with --json the whole observed model, in\n"
     "the format of the planner's test fixtures. Passwords never appear.\n"
     "\n"
     "Options:\n"
     "  -f, --file SPEC         the cluster spec (YAML)\n"
     "  --json                  the observed model as JSON\n"
     "  --skip-files            do not read instance files on the hosts\n"
     "  --connect-timeout MS    connect timeout per server (default 1000)\n"
     "  --timeout MS            command timeout per server (default 2000)\n"
     "\n"
     "Exit status: 0 observed (whatever was found), 1 the spec or password could\n"
     "not be read, 2 usage error.\n"},
    {"status", cmd_status, "summarise the cluster's health",
     "usage: rmgr status -f SPEC [--json] [--no-color] [--connect-timeout MS] [--timeout MS]\n"
     "\n"
     "Per shard its master (and whether Sentinel chose it) and its replicas with\n"
     "link status and lag; per sentinel the shards it monitors and whether it\n"
     "agrees on their masters; per proxy whether it answers and which server each\n"
     "shard points at. Ends with a line such as\n"
     "'2 shards, 3 sentinels, 1 proxy: all healthy', after a list of problems if any.\n"
     "\n"
     "Options:\n"
     "  -f, --file SPEC         the cluster spec (YAML)\n"
     "  --json                  the same as JSON, with \"healthy\" and \"problems\"\n"
     "  --no-color              accepted for symmetry with the other commands (no colour is used)\n"
     "  --connect-timeout MS    connect timeout per server (default 1000)\n"
     "  --timeout MS            command timeout per server (default 2000)\n"
     "\n"
     "Exit status: 0 healthy, 1 not healthy or an error, 2 usage error.\n"},
    {"apply", cmd_apply, "carry out the plan: make the cluster match the spec",
     "usage: rmgr apply -f SPEC [options]\n"
     "       rmgr apply --repo URL [--ref REF] [--path DIR] [--cache-dir DIR] [options]\n"
     "       rmgr apply PLANFILE [options]\n"
     "\n"
     "Take the cluster's lock, observe, plan and print the plan like 'rmgr plan',\n"
     "then ask for confirmation and run the steps wave by wave (files, processes,\n"
     "replication, sentinels, proxies, clean-up), each host's steps in parallel with\n"
     "the other hosts', proxies one at a time, with a health check after each wave.\n"
     "The first failure stops the run: steps already running finish, nothing else\n"
     "starts, and the summary says what was done and what was not.\n"
     "\n"
     "PLANFILE is a plan saved with 'rmgr plan --out FILE'. It is applied only while\n"
     "it holds: when the spec file or the cluster changed since (fingerprint), apply\n"
     "says 'plan is stale: re-run plan'. It is confirmed like any other plan. A plan\n"
     "made with --repo is checked against the spec at its commit, fetched again\n"
     "(--cache-dir may be given).\n"
     "\n"
     "A shard whose master is down, or that Sentinel is failing over, is left to\n"
     "Sentinel: apply says what Sentinel is doing, waits until it is done (watching\n"
     "only that shard's members and the sentinels), plans again and carries out the\n"
     "rest: the proxies repointed at the promoted master, the old master restarted\n"
     "as its replica. A saved PLANFILE does not wait.\n"
     "\n"
     "Options:\n"
     "  -f, --file SPEC         the cluster spec (YAML)\n"
     GIT_SOURCE_USAGE
     "                     (--path must lead to one spec; the commit and its\n"
     "                     subject are printed first)\n"
     "  --failover-wait DUR     wait at most DUR (90s, 2m) for Sentinel (default: each\n"
     "                          shard's down-after + failover-timeout); 0: do not\n"
     "                          wait, apply the rest and exit 2\n"
     "  --auto-approve          do not ask for confirmation (needed without a terminal)\n"
     "  --allow-destructive     allow steps marked [destructive] (stopping and deleting\n"
     "                          instances of removed shards, SENTINEL REMOVE)\n"
     "  --lock-timeout DUR      wait up to DUR (30s, 5m, 250ms) for another apply on the\n"
     "                          cluster to finish (default: do not wait)\n"
     "  --lock-file PATH        the lock file (default $XDG_RUNTIME_DIR/rmgr/CLUSTER.lock,\n"
     "                          else /tmp/rmgr-UID/CLUSTER.lock)\n"
     "  --accept-new-host-keys  trust unknown ssh host keys and add them to known_hosts\n"
     "                          (a changed key is always refused)\n"
     "  --connect-timeout MS    connect timeout per server (default 1000)\n"
     "  --timeout MS            command timeout per server (default 2000 to observe,\n"
     "                          5000 to apply)\n"
     "  --no-color              no ANSI colours (also: NO_COLOR set, or not a tty)\n"
     "\n"
     "Exit status: 0 applied (or no changes), 1 error, refusal, cancelled, a failed\n"
     "step or health check, or a failover that did not finish in time, 2 usage error,\n"
     "or shards still left to Sentinel (--failover-wait 0, a saved plan).\n"},
    {"destroy", cmd_destroy, "stop every instance of the spec and delete its data",
     "usage: rmgr destroy -f SPEC [options]\n"
     "\n"
     "Stop every proxy, then every sentinel, then every redis the spec names (each by\n"
     "its pidfile, after checking the pid is that instance), and delete their instance\n"
     "directories. Asks for 'yes' on a terminal; without one it needs --auto-approve\n"
     "and --allow-destructive.\n"
     "\n"
     "Options:\n"
     "  -f, --file SPEC         the cluster spec (YAML)\n"
     "  --auto-approve          do not ask (only together with --allow-destructive)\n"
     "  --allow-destructive     confirm that data may be deleted\n"
     "  --lock-timeout DUR      wait up to DUR for another apply on the cluster\n"
     "  --lock-file PATH        the lock file (default as for apply)\n"
     "  --accept-new-host-keys  trust unknown ssh host keys (a changed key is refused)\n"
     "  --connect-timeout MS    connect timeout per server (default 1000)\n"
     "  --timeout MS            command timeout per server (default 5000)\n"
     "  --no-color              no ANSI colours\n"
     "\n"
     "Exit status: 0 destroyed, 1 error or cancelled, 2 usage error.\n"},
    {"reconcile", cmd_reconcile, "keep clusters equal to their specs: cron job or daemon",
     reconcile_usage},
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

int cli_opt_usage_error(const struct command *cmd, char *err)
{
    int rc = cli_usage_error(cmd, "%s", err ? err : "invalid options");
    free(err);
    return rc;
}

int cli_parse_command(const char *name, const struct cli_opt *opts, size_t nopts, unsigned flags,
                      int argc, char **argv, void *args, const struct command **cmd)
{
    *cmd = cli_find_command(name);
    char *err = NULL;
    if (cli_opt_parse(opts, nopts, flags, argc, argv, args, &err) < 0)
        return cli_opt_usage_error(*cmd, err);
    return 0;
}

int cli_needs_spec(const struct command *cmd, const char *spec_path)
{
    return spec_path ? 0 : cli_usage_error(cmd, "%s needs a spec: -f SPEC", cmd->name);
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
