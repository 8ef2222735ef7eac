/*
 * test_cli_opt.c - the command line's option parser (src/cli/opt.c): both
 * spellings of a value, flags, repeated and positional arguments, "--", and
 * every usage error word for word. Links build/src/cli/opt.o (not in libcore).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/opt.h"
#include "git_source.h"
#include "notify.h"
#include "session.h"
#include "test.h"
#include "util.h"

struct args {
    struct session_options so;
    struct git_source_opts git;
    struct notify_options notify;
    bool json;
    long wait_ms;
    const char *arg;
    int nargs;
};

static int count_arg(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)opt;
    (void)value;
    (void)err;
    ++*(int *)dest;
    return 0;
}

static const struct cli_opt opts[] = {
    CLI_OPTS_SESSION(struct args, so, CLI_TIMEOUT_HELP_OBSERVE),
    CLI_OPTS_GIT_SOURCE(struct args, git, ""),
    CLI_OPTS_NOTIFY(struct args, notify),
    {CLI_OPT_FLAG, 0, "json", offsetof(struct args, json)},
    {CLI_OPT_DURATION, 0, "wait", offsetof(struct args, wait_ms), NULL, 0, 0, "90s, 2m"},
    {CLI_OPT_DURATION, 0, "every", offsetof(struct args, wait_ms), NULL, 1000, 0, "30s, 5m"},
    {CLI_OPT_ARG, 0, NULL, offsetof(struct args, arg)},
};

static const struct cli_opt many_args[] = {
    {CLI_OPT_FLAG, 0, "json", offsetof(struct args, json)},
    {CLI_OPT_ARG, 0, NULL, offsetof(struct args, nargs), count_arg},
};

/* Parse the words after argv[0] with `t`; the error (or NULL) in *err. */
static int parse_with(const struct cli_opt *t, size_t n, unsigned flags, struct args *a,
                      char **err, char **words, int nwords)
{
    char *argv[32] = {"cmd"};
    for (int i = 0; i < nwords && i < 31; i++)
        argv[i + 1] = words[i];
    memset(a, 0, sizeof(*a));
    notify_options_init(&a->notify);
    *err = NULL;
    return cli_opt_parse(t, n, flags, nwords + 1, argv, a, err);
}

#define PARSE(a, err, ...)                                                               \
    parse_with(opts, ARRAY_SIZE(opts), 0, a, err, (char *[]){__VA_ARGS__},               \
               (int)ARRAY_SIZE(((char *[]){__VA_ARGS__})))

/* parse must fail with exactly `msg` */
#define CHECK_USAGE(msg, ...)                                                            \
    do {                                                                                 \
        struct args u_a;                                                                 \
        char *u_e;                                                                       \
        CHECK_INT_EQ(PARSE(&u_a, &u_e, __VA_ARGS__), -1);                                \
        CHECK_STR_EQ(u_e, msg);                                                          \
        free(u_e);                                                                       \
        notify_options_release(&u_a.notify);                                             \
    } while (0)

TEST(values_take_both_spellings)
{
    struct args a;
    char *err;
    CHECK_INT_EQ(PARSE(&a, &err, "-f", "s.yaml", "--timeout=5", "--connect-timeout", "7",
                       "--repo", "file:///x", "--ref=v1", "--path", "-dash", "--cache-dir=/c"),
                 0);
    CHECK_STR_EQ(a.so.spec_path, "s.yaml");
    CHECK_INT_EQ(a.so.command_timeout_ms, 5);
    CHECK_INT_EQ(a.so.connect_timeout_ms, 7);
    CHECK_STR_EQ(a.git.repo, "file:///x");
    CHECK_STR_EQ(a.git.ref, "v1");
    CHECK_STR_EQ(a.git.path, "-dash"); /* the next word, whatever it starts with */
    CHECK_STR_EQ(a.git.cache_dir, "/c");
    notify_options_release(&a.notify);

    /* the last one wins; -f=VALUE and --file=VALUE as for long names */
    CHECK_INT_EQ(PARSE(&a, &err, "--file=a", "-f=b", "--ref", "main", "--ref", "next"), 0);
    CHECK_STR_EQ(a.so.spec_path, "b");
    CHECK_STR_EQ(a.git.ref, "next");
    notify_options_release(&a.notify);
}

TEST(flags_durations_and_one_positional)
{
    struct args a;
    char *err;
    CHECK_INT_EQ(PARSE(&a, &err, "PLAN", "--json", "--json", "--wait", "90s"), 0);
    CHECK(a.json);
    CHECK_INT_EQ(a.wait_ms, 90000);
    CHECK_STR_EQ(a.arg, "PLAN");
    notify_options_release(&a.notify);
    CHECK_INT_EQ(PARSE(&a, &err, "--wait=0"), 0);
    CHECK_INT_EQ(a.wait_ms, 0);
    notify_options_release(&a.notify);
}

TEST(repeated_webhooks_go_to_notify)
{
    struct args a;
    char *err;
    CHECK_INT_EQ(PARSE(&a, &err, "--webhook", "https://a.example/1",
                       "--webhook=discord=https://b.example/2", "--webhook-retries", "2",
                       "--remind-after=24h"), 0);
    CHECK_INT_EQ(a.notify.ntargets, 2);
    CHECK_INT_EQ(a.notify.max_attempts, 3);
    CHECK_INT_EQ(a.notify.remind_after_s, 86400);
    notify_options_release(&a.notify);
    /* an empty webhook is notify's to judge, a missing one the parser's */
    CHECK_USAGE("webhook is not a URL (expected http://... or https://...)", "--webhook=");
    CHECK_USAGE("option '--webhook' needs a value", "--webhook");
}

TEST(usage_errors_word_for_word)
{
    CHECK_USAGE("unknown option '--bogus'", "--bogus");
    CHECK_USAGE("unknown option '-x'", "-x");
    CHECK_USAGE("unknown option '-'", "-");
    CHECK_USAGE("unknown option '--'", "--");
    CHECK_USAGE("unknown option '--json=yes'", "--json=yes");
    CHECK_USAGE("unknown option '--paths'", "--paths", "x");
    CHECK_USAGE("unknown option '--reference'", "--reference", "x");
    CHECK_USAGE("unknown option '-fx'", "-fx");
    CHECK_USAGE("unexpected argument 'two'", "one", "two");
    CHECK_USAGE("option '-f' needs a value", "-f");
    CHECK_USAGE("option '-f' needs a value", "-f", "");
    CHECK_USAGE("option '--file' needs a value", "--file=");
    CHECK_USAGE("option '--path' needs a value", "--path");
    CHECK_USAGE("option '--path' needs a value", "--path", "");
    CHECK_USAGE("option '--path' needs a value", "--path=");
    CHECK_USAGE("option '--timeout' needs milliseconds (1-3600000), not '0'", "--timeout", "0");
    CHECK_USAGE("option '--connect-timeout' needs milliseconds (1-3600000), not '5x'",
                "--connect-timeout=5x");
    CHECK_USAGE("option '--wait' needs a duration (90s, 2m), not 'soon'", "--wait", "soon");
    CHECK_USAGE("option '--every' needs a duration of at least 1000 ms (30s, 5m), not '10ms'",
                "--every", "10ms");
}

TEST(dashdash_ends_options)
{
    struct args a;
    char *err;
    CHECK_INT_EQ(parse_with(many_args, ARRAY_SIZE(many_args), CLI_PARSE_DASHDASH, &a, &err,
                            (char *[]){"a", "-", "--json", "--", "--json", "--"}, 6), 0);
    CHECK_INT_EQ(a.nargs, 4); /* a, -, --json, -- */
    CHECK(a.json);
    notify_options_release(&a.notify);
    CHECK_INT_EQ(parse_with(many_args, ARRAY_SIZE(many_args), CLI_PARSE_DASHDASH, &a, &err,
                            (char *[]){"--bogus"}, 1), -1);
    CHECK_STR_EQ(err, "unknown option '--bogus'");
    free(err);
    notify_options_release(&a.notify);
}

static const struct cli_opt help_rows[] = {
    {CLI_OPT_GROUP, .help = "Source:"},
    {CLI_OPT_STRING, 'f', "file", offsetof(struct args, so.spec_path), .arg = "SPEC",
     .help = "the spec"},
    {CLI_OPT_FLAG, 0, "json", offsetof(struct args, json), .help = "as JSON\nsecond line"},
    {CLI_OPT_ARG, 0, NULL, offsetof(struct args, arg)},
    {CLI_OPT_GROUP, .help = "More:"},
    {CLI_OPT_DURATION, 0, "a-rather-long-option-name", offsetof(struct args, wait_ms), NULL, 0, 0,
     "1s", .arg = "DUR", .help = "widens the column"},
};

TEST(help_lists_rows_in_one_column)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_opt_print_help(f, help_rows, 2); /* the heading and -f: the column at its minimum */
    cli_opt_print_help(f, help_rows, ARRAY_SIZE(help_rows));
    fclose(f);
    CHECK_STR_EQ(text, "Source:\n"
                       "  -f, --file SPEC         the spec\n"
                       "Source:\n"
                       "  -f, --file SPEC                  the spec\n"
                       "  --json                           as JSON\n"
                       "                                   second line\n"
                       "\n"
                       "More:\n"
                       "  --a-rather-long-option-name DUR  widens the column\n");
    free(text);
}

int main(void)
{
    RUN(values_take_both_spellings);
    RUN(flags_durations_and_one_positional);
    RUN(repeated_webhooks_go_to_notify);
    RUN(usage_errors_word_for_word);
    RUN(dashdash_ends_options);
    RUN(help_lists_rows_in_one_column);
    return test_done();
}
