/*
 * opt.h - the one option parser of the command line: each command declares
 * a static table of its options and calls cli_opt_parse(), in the spirit of
 * libgit2's src/cli/opt.c and git's parse-options.
 *
 * A row names an option (short letter and/or long name), its type and
 * where its value goes: an offset into the caller's options struct (so one
 * table serves every parse, as reconcile's SIGHUP re-parse needs). Every
 * option is spelled exactly:
 *   --name VALUE, --name=VALUE, -n VALUE, -n=VALUE   options with a value
 *   --name, -n                                       flags ("--name=x" is unknown)
 * A value is the next word whatever it starts with; an empty value is a
 * usage error ("option '--name' needs a value") unless the row allows it.
 * Words that are not options are positional arguments, taken by the
 * table's CLI_OPT_ARG row ("unexpected argument 'x'" without one).
 *
 * The same rows print the command's --help (cli_opt_print_help): each
 * option row carries its value's name (`arg`) and its help text, so the help
 * lists exactly what is parsed.
 */
#ifndef RMGR_CLI_OPT_H
#define RMGR_CLI_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cli_opt_type {
    CLI_OPT_FLAG,     /* bool: set to true; no value */
    CLI_OPT_STRING,   /* const char *: the value, borrowed from argv; the last one wins */
    CLI_OPT_MS,       /* long: milliseconds from min to max */
    CLI_OPT_DURATION, /* long: a duration in ms (30s, 5m, 250ms, parse_duration_ms), >= min */
    CLI_OPT_ARG,      /* a positional argument: const char * (one only), or given to fn */
    CLI_OPT_GROUP,    /* no option: `help` is a heading of the --help ("Mode:") */
};

enum cli_opt_flags {
    CLI_OPT_EMPTY_OK = 1 << 0, /* an empty value goes to fn, which judges it */
};

struct cli_opt;

/*
 * Takes an option instead of storing it: `dest` is the caller's struct plus
 * the row's offset, `value` the option's value (NULL for a flag). Returns
 * 0, or -1 with *err set (a usage error; caller frees).
 */
typedef int (*cli_opt_fn)(void *dest, const struct cli_opt *opt, const char *value, char **err);

struct cli_opt {
    enum cli_opt_type type;
    char short_name;  /* 'f' for -f, or 0 */
    const char *name; /* "file" for --file, or NULL */
    size_t off;       /* offsetof() the destination in the caller's struct */
    cli_opt_fn fn;    /* NULL: store by type */
    long min, max;    /* CLI_OPT_MS: the range; CLI_OPT_DURATION: min (max unused) */
    const char *hint; /* CLI_OPT_DURATION: examples for the error, "30s, 5m, 250ms" */
    unsigned flags;   /* enum cli_opt_flags */
    const char *arg;  /* the value's name in --help: "SPEC", "DUR" (options with a value) */
    const char *help; /* --help text; '\n' starts a line under the first one */
};

/* How cli_opt_parse() reads the command line. */
enum cli_parse_flags {
    /* "--" ends the options (every later word is positional) and "-" is positional;
     * otherwise both are unknown options */
    CLI_PARSE_DASHDASH = 1 << 0,
};

/*
 * Parse argv[1..argc-1] (argv[0] is the command's name) into `base` by the
 * n rows of `opts`, in order. Returns 0, or -1 at the first usage error
 * with *err set (caller frees): "unknown option '--x'", "unexpected
 * argument 'x'", "option '--x' needs a value", "option '--timeout' needs
 * milliseconds (1-3600000), not 'x'", "option '--lock-timeout' needs a
 * duration (30s, 5m, 250ms), not 'x'", or what a row's fn said.
 */
int cli_opt_parse(const struct cli_opt *opts, size_t n, unsigned flags, int argc, char **argv,
                  void *base, char **err);

/*
 * Print the --help lines of the n rows of `opts` to `out`: "  -f, --file SPEC"
 * then its help in one column, continuation lines under it; a CLI_OPT_GROUP
 * row as a heading after a blank line. CLI_OPT_ARG rows are left to the
 * command's usage text.
 */
void cli_opt_print_help(FILE *out, const struct cli_opt *opts, size_t n);

/* ---- rows shared by several commands ----------------------------------------- */

/* --secrets-dir DIR: where auth.password_file may point (spec_set_secrets_dir) */
int cli_opt_secrets_dir(void *dest, const struct cli_opt *opt, const char *value, char **err);
#define CLI_OPT_SECRETS_DIR                                                              \
    {CLI_OPT_STRING, 0, "secrets-dir", 0, cli_opt_secrets_dir, .arg = "DIR",             \
     .help = "auth.password_file must be under DIR (default:\n"                          \
             "$RMGR_SECRETS_DIR, else /etc/rmgr/secrets and\n"                            \
             "~/.config/rmgr/secrets)"}

/* -f/--file SPEC into the struct session_options `m` of T, and --secrets-dir */
#define CLI_OPT_SPEC(T, m)                                                               \
    {CLI_OPT_STRING, 'f', "file", offsetof(T, m.spec_path), .arg = "SPEC",               \
     .help = "the cluster spec (YAML)"},                                                 \
    CLI_OPT_SECRETS_DIR

/*
 * --trusted-spec REF and --allow-hosts FILE (policy mode for pipelines that
 * plan pull requests, spec_trusted.h) into the struct session_options `m` of T
 */
#define CLI_OPTS_POLICY(T, m)                                                            \
    {CLI_OPT_STRING, 0, "trusted-spec", offsetof(T, m.trusted_spec), .arg = "REF",       \
     .help = "policy mode: refuse, before connecting, a spec whose\n"                     \
             "addresses, hosts, auth, base_dir, ssh or binaries\n"                        \
             "differ from the same cluster at git ref REF of its\n"                       \
             "repository (e.g. origin/main; or a path: ./dir, /dir)"},                    \
    {CLI_OPT_STRING, 0, "allow-hosts", offsetof(T, m.allow_hosts), .arg = "FILE",        \
     .help = "refuse, before connecting, a spec that would connect\n"                    \
             "to an address not in FILE (one IP or CIDR a line, #)"}

/*
 * --connect-timeout MS, --timeout MS into the struct session_options `m` of
 * T; `timeout_help` says --timeout's default, which differs by command.
 */
#define CLI_OPTS_TIMEOUTS(T, m, timeout_help)                                            \
    {CLI_OPT_MS, 0, "connect-timeout", offsetof(T, m.connect_timeout_ms), NULL, 1,       \
     3600 * 1000, .arg = "MS", .help = "connect timeout per server (default 1000)"},     \
    {CLI_OPT_MS, 0, "timeout", offsetof(T, m.command_timeout_ms), NULL, 1, 3600 * 1000,  \
     .arg = "MS", .help = timeout_help}

/* Both of the above. */
#define CLI_OPTS_SESSION(T, m, timeout_help)                                             \
    CLI_OPT_SPEC(T, m), CLI_OPTS_TIMEOUTS(T, m, timeout_help)

/* --timeout's help for the commands that only observe */
#define CLI_TIMEOUT_HELP_OBSERVE "command timeout per server (default 2000)"

/*
 * --repo, --ref, --path, --cache-dir into a struct git_source_opts `m` of T;
 * `path_note` ends --path's help (what the command makes of it, or "").
 */
#define CLI_OPTS_GIT_SOURCE(T, m, path_note)                                             \
    {CLI_OPT_STRING, 0, "repo", offsetof(T, m.repo), .arg = "URL",                       \
     .help = "read specs from this git repository instead of -f\n"                       \
             "(https://, ssh://, user@host:path, file:// or a path)"},                   \
    {CLI_OPT_STRING, 0, "ref", offsetof(T, m.ref), .arg = "REF",                         \
     .help = "branch, tag, full ref name or commit id to check out\n"                    \
             "(default: the remote's HEAD branch)"},                                     \
    {CLI_OPT_STRING, 0, "path", offsetof(T, m.path), .arg = "DIR",                       \
     .help = "directory of specs (or one spec file) inside the\n"                        \
             "repository (default: its root)" path_note},                                \
    {CLI_OPT_STRING, 0, "cache-dir", offsetof(T, m.cache_dir), .arg = "DIR",             \
     .help = "where clones are kept (default:\n"                                         \
             "$XDG_CACHE_HOME/rmgr/repos or ~/.cache/rmgr/repos)"}

/*
 * --webhook (repeatable), --webhook-format, --webhook-timeout,
 * --webhook-retries, --remind-after into a struct notify_options `m` of T
 * (notify_options_set() judges the values).
 */
#define CLI_OPTS_NOTIFY(T, m)                                                            \
    {CLI_OPT_STRING, 0, "webhook", offsetof(T, m), cli_opt_notify,                       \
     .flags = CLI_OPT_EMPTY_OK, .arg = "URL",                                            \
     .help = "post notifications to URL (repeatable; FORMAT=URL\n"                       \
             "gives one webhook its own format); default: the\n"                         \
             "URLs in $RMGR_WEBHOOK_URL (space separated)"},                             \
    {CLI_OPT_STRING, 0, "webhook-format", offsetof(T, m), cli_opt_notify,                \
     .flags = CLI_OPT_EMPTY_OK, .arg = "FORMAT",                                         \
     .help = "slack (default), mattermost, discord or generic"},                         \
    {CLI_OPT_STRING, 0, "webhook-timeout", offsetof(T, m), cli_opt_notify,               \
     .flags = CLI_OPT_EMPTY_OK, .arg = "DUR", .help = "time limit of one POST (default 10s)"}, \
    {CLI_OPT_STRING, 0, "webhook-retries", offsetof(T, m), cli_opt_notify,               \
     .flags = CLI_OPT_EMPTY_OK, .arg = "N",                                              \
     .help = "retries after a network error, 5xx or 429 (default 3)"},                   \
    {CLI_OPT_STRING, 0, "remind-after", offsetof(T, m), cli_opt_notify,                  \
     .flags = CLI_OPT_EMPTY_OK, .arg = "DUR",                                            \
     .help = "repeat an unchanged drift after DUR (e.g. 24h;\n"                          \
             "default 0 = never)"}

/* The fn of CLI_OPTS_NOTIFY: notify_options_set() on the struct notify_options at dest. */
int cli_opt_notify(void *dest, const struct cli_opt *opt, const char *value, char **err);

#endif
