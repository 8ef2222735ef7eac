/*
 * test_notify_format.c - webhook payloads: goldens per format, size limits and
 * UTF-8 safe truncation, redaction, option parsing. Pure: no network.
 *
 * Goldens: tests/fixtures/notify/<case>.<format>.json (the exact wire payload
 * plus a newline). UPDATE_GOLDEN=1 rewrites them.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/opt.h"
#include "notify.h"
#include "test.h"
#include "util.h"

#define FIXTURES "tests/fixtures/notify/"

static const char plan_text[] =
    "shard1:\n"
    "  + add replica 127.0.0.1:7002 of 127.0.0.1:7001\n"
    "  ~ config maxmemory: 100mb -> 200mb on 127.0.0.1:7001\n"
    "sentinels:\n"
    "  ~ sentinel set shard1 down-after-milliseconds 5000 -> 3000\n"
    "proxies:\n"
    "  ~ rewrite nutcracker.yml on 127.0.0.1 (1 server changed) & restart <pool>\n"
    "\n"
    "Plan: 1 to add, 3 to change, 0 to remove.\n";

static struct notify_event found_event(void)
{
    struct notify_event ev = {
        .kind = NOTIFY_DRIFT_FOUND,
        .cluster = "prod-eu",
        .commit = "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        .subject = "Raise maxmemory on shard1",
        .summary = "Plan: 1 to add, 3 to change, 0 to remove.",
        .body = plan_text,
        .timestamp = 1764064800, /* 2025-11-25 10:00:00 UTC */
    };
    return ev;
}

static const enum notify_format all_formats[] = {NOTIFY_SLACK, NOTIFY_MATTERMOST,
                                                 NOTIFY_DISCORD, NOTIFY_GENERIC};

static void check_case_golden(const char *name, const struct notify_event *ev)
{
    for (size_t i = 0; i < ARRAY_SIZE(all_formats); i++) {
        enum notify_format f = all_formats[i];
        char *p = notify_payload_build(f, ev, NULL, 0, 0);
        CHECK(p != NULL);
        if (!p)
            continue;
        json_error_t je;
        json_t *j = json_loads(p, 0, &je);
        CHECK(j != NULL);
        json_decref(j);
        char *path = xasprintf(FIXTURES "%s.%s.json", name, notify_format_name(f));
        char *actual = xasprintf("%s\n", p);
        check_golden(path, actual);
        free(actual);
        free(path);
        free(p);
    }
}

/* The message text (or generic body) of a payload; caller frees. */
static char *payload_text(enum notify_format f, const char *payload)
{
    json_t *j = json_loads(payload, 0, NULL);
    if (!j)
        return NULL;
    const char *key = f == NOTIFY_DISCORD ? "content" : f == NOTIFY_GENERIC ? "body" : "text";
    const char *s = json_string_value(json_object_get(j, key));
    char *r = s ? xstrdup(s) : NULL;
    json_decref(j);
    return r;
}

static size_t cps(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* ------------------------------------------------------------------ goldens */

TEST(golden_drift_found)
{
    struct notify_event ev = found_event();
    check_case_golden("drift_found", &ev);
}

TEST(golden_drift_resolved_without_commit_or_body)
{
    struct notify_event ev = {
        .kind = NOTIFY_DRIFT_RESOLVED,
        .cluster = "prod-eu",
        .summary = "No changes. The cluster matches the spec.",
        .timestamp = 1764068400,
    };
    check_case_golden("drift_resolved", &ev);
}

TEST(golden_apply_failed)
{
    struct notify_event ev = {
        .kind = NOTIFY_APPLY_FAILED,
        .cluster = "staging",
        .commit = "0123456789abcdef0123456789abcdef01234567",
        .subject = "Move shard2 to @channel host <b> & co",
        .summary = "step 2 of 3 failed: CONFIG SET maxmemory on 127.0.0.1:7003",
        .body = "ERR Invalid argument '200xb' for CONFIG SET 'maxmemory'\n"
                "```not a fence```\n",
        .timestamp = 1764064800,
    };
    check_case_golden("apply_failed", &ev);
}

TEST(every_event_kind_has_a_name_and_builds)
{
    static const char *const names[] = {"drift-found",     "drift-changed",  "drift-resolved",
                                        "drift-reminder",  "apply-succeeded", "apply-failed",
                                        "failover-observed", "alert-firing", "alert-resolved"};
    for (int k = NOTIFY_DRIFT_FOUND; k <= NOTIFY_ALERT_RESOLVED; k++) {
        CHECK_STR_EQ(notify_event_name((enum notify_event_kind)k), names[k]);
        struct notify_event ev = found_event();
        ev.kind = (enum notify_event_kind)k;
        char *p = notify_payload_build(NOTIFY_GENERIC, &ev, NULL, 0, 0);
        char *want = xasprintf("\"event\":\"%s\"", names[k]);
        CHECK_CONTAINS(p, want);
        free(want);
        free(p);
    }
}

TEST(format_names_round_trip)
{
    enum notify_format f;
    for (size_t i = 0; i < ARRAY_SIZE(all_formats); i++) {
        CHECK(notify_format_parse(notify_format_name(all_formats[i]), &f));
        CHECK_INT_EQ(f, all_formats[i]);
    }
    CHECK(notify_format_parse("Discord", &f) && f == NOTIFY_DISCORD);
    CHECK(!notify_format_parse("teams", &f));
    CHECK_INT_EQ(notify_format_limit(NOTIFY_DISCORD), 2000);
    CHECK_INT_EQ(notify_format_limit(NOTIFY_SLACK), 40000);
    CHECK_INT_EQ(notify_format_limit(NOTIFY_MATTERMOST), 16383);
    CHECK_INT_EQ(notify_format_limit(NOTIFY_GENERIC), 65536);
}

/* --------------------------------------------------------------- escaping */

TEST(slack_escapes_control_characters)
{
    struct notify_event ev = found_event();
    ev.subject = "<!channel> & friends";
    char *p = notify_payload_build(NOTIFY_SLACK, &ev, NULL, 0, 0);
    char *t = payload_text(NOTIFY_SLACK, p);
    CHECK_CONTAINS(t, "&lt;!channel&gt; &amp; friends");
    CHECK(!strstr(t, "<!channel>"));
    free(t);
    free(p);
}

TEST(body_fence_cannot_close_the_code_block)
{
    struct notify_event ev = found_event();
    ev.body = "a\n```\nb\n";
    for (size_t i = 0; i < 3; i++) {
        char *p = notify_payload_build(all_formats[i], &ev, NULL, 0, 0);
        char *t = payload_text(all_formats[i], p);
        /* exactly the two fences of the block itself */
        int fences = 0;
        for (const char *s = t; (s = strstr(s, "```")); s += 3)
            fences++;
        CHECK_INT_EQ(fences, 2);
        free(t);
        free(p);
    }
}

TEST(discord_never_pings)
{
    struct notify_event ev = found_event();
    ev.subject = "@everyone look";
    char *p = notify_payload_build(NOTIFY_DISCORD, &ev, NULL, 0, 0);
    CHECK_CONTAINS(p, "\"allowed_mentions\":{\"parse\":[]}");
    free(p);
}

TEST(invalid_utf8_becomes_replacement_character)
{
    struct notify_event ev = found_event();
    ev.body = "bad \xff\xfe byte, overlong \xc0\xaf, cut \xe2\x82";
    ev.subject = "subject \x80";
    for (size_t i = 0; i < ARRAY_SIZE(all_formats); i++) {
        char *p = notify_payload_build(all_formats[i], &ev, NULL, 0, 0);
        CHECK(p != NULL);
        json_t *j = p ? json_loads(p, 0, NULL) : NULL;
        CHECK(j != NULL);
        json_decref(j);
        CHECK_CONTAINS(p, "bad \xEF\xBF\xBD\xEF\xBF\xBD byte");
        free(p);
    }
}

/* ------------------------------------------------------------- truncation */

/* A one-line body of n ASCII characters. */
static char *ascii_body(size_t n)
{
    char *b = xmalloc(n + 1);
    memset(b, 'a', n);
    b[n] = '\0';
    return b;
}

TEST(discord_message_exactly_at_the_limit_is_not_cut)
{
    struct notify_event ev = found_event();
    char *b1 = ascii_body(1);
    ev.body = b1;
    char *p = notify_payload_build(NOTIFY_DISCORD, &ev, NULL, 0, 0);
    char *t = payload_text(NOTIFY_DISCORD, p);
    size_t overhead = cps(t) - 1;
    free(t);
    free(p);
    free(b1);

    char *b = ascii_body(2000 - overhead);
    ev.body = b;
    p = notify_payload_build(NOTIFY_DISCORD, &ev, NULL, 0, 0);
    t = payload_text(NOTIFY_DISCORD, p);
    CHECK_INT_EQ(cps(t), 2000);
    CHECK(!strstr(t, "truncated"));
    CHECK_CONTAINS(t, b);
    free(t);
    free(p);
    free(b);

    /* one more character: cut, and still within the limit */
    b = ascii_body(2001 - overhead);
    ev.body = b;
    p = notify_payload_build(NOTIFY_DISCORD, &ev, NULL, 0, 0);
    t = payload_text(NOTIFY_DISCORD, p);
    CHECK(cps(t) <= 2000);
    CHECK_CONTAINS(t, "... (truncated, 1 more line)");
    free(t);
    free(p);
    free(b);
}

TEST(truncation_counts_the_lines_not_shown)
{
    struct strbuf sb = {0};
    for (int i = 1; i <= 200; i++)
        sb_addf(&sb, "line %03d of the plan, padded to be long enough\n", i);
    struct notify_event ev = found_event();
    ev.body = sb_str(&sb);
    char *p = notify_payload_build(NOTIFY_DISCORD, &ev, NULL, 0, 0);
    char *t = payload_text(NOTIFY_DISCORD, p);
    CHECK(cps(t) <= 2000);
    /* the last line shown in full, and the count of the rest */
    int last = 0;
    for (const char *s = t; (s = strstr(s, "line ")); s += 5)
        last = atoi(s + 5);
    char *want = xasprintf("```\n... (truncated, %d more lines)", 200 - last);
    CHECK(last > 10 && last < 200);
    CHECK_CONTAINS(t, want);
    /* cut at a line boundary: the last line shown is complete */
    char *full = xasprintf("line %03d of the plan, padded to be long enough\n```", last);
    CHECK_CONTAINS(t, full);
    free(full);
    free(want);
    free(t);
    free(p);
    sb_release(&sb);
}

TEST(multibyte_cut_is_utf8_safe_at_every_limit)
{
    /* one long line of 2-, 3- and 4-byte characters: the cut lands inside a line */
    struct strbuf sb = {0};
    for (int i = 0; i < 300; i++)
        sb_add(&sb, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"); /* é € 😀 */
    struct notify_event ev = found_event();
    ev.body = sb_str(&sb);
    char *full = notify_payload_build(NOTIFY_DISCORD, &ev, NULL, 0, 100000);
    char *ft = payload_text(NOTIFY_DISCORD, full);
    size_t total = cps(ft);
    free(ft);
    free(full);
    int bad = 0;
    for (size_t limit = 400; limit < total; limit += 7) {
        char *p = notify_payload_build(NOTIFY_DISCORD, &ev, NULL, 0, limit);
        char *t = p ? payload_text(NOTIFY_DISCORD, p) : NULL; /* NULL if not valid UTF-8 */
        if (!t || cps(t) > limit || !strstr(t, "(truncated, 1 more line)"))
            bad++;
        free(t);
        free(p);
    }
    CHECK_INT_EQ(bad, 0);
    sb_release(&sb);
}

TEST(generic_payload_stays_within_64k)
{
    struct strbuf sb = {0};
    for (int i = 0; i < 5000; i++)
        sb_addf(&sb, "\"quoted\" \\ line %d with an escape \x01 and \xE2\x82\xAC\n", i);
    struct notify_event ev = found_event();
    ev.body = sb_str(&sb);
    char *p = notify_payload_build(NOTIFY_GENERIC, &ev, NULL, 0, 0);
    CHECK(strlen(p) <= 65536);
    CHECK(strlen(p) > 60000); /* not cut far more than needed */
    char *body = payload_text(NOTIFY_GENERIC, p);
    CHECK_CONTAINS(body, " more lines)\n");
    free(body);
    free(p);
    sb_release(&sb);
}

TEST(slack_and_mattermost_limits)
{
    struct strbuf sb = {0};
    for (int i = 0; i < 3000; i++)
        sb_addf(&sb, "line %d <&> of a big plan\n", i);
    struct notify_event ev = found_event();
    ev.body = sb_str(&sb);
    char *p = notify_payload_build(NOTIFY_SLACK, &ev, NULL, 0, 0);
    char *t = payload_text(NOTIFY_SLACK, p);
    CHECK(cps(t) <= 40000 && cps(t) > 39000);
    CHECK_CONTAINS(t, "more lines)");
    free(t);
    free(p);
    p = notify_payload_build(NOTIFY_MATTERMOST, &ev, NULL, 0, 0);
    t = payload_text(NOTIFY_MATTERMOST, p);
    CHECK(cps(t) <= 16383 && cps(t) > 16000);
    free(t);
    free(p);
    sb_release(&sb);
}

TEST(tiny_limit_still_valid_json)
{
    struct notify_event ev = found_event();
    char *p = notify_payload_build(NOTIFY_SLACK, &ev, NULL, 0, 20);
    char *t = payload_text(NOTIFY_SLACK, p);
    CHECK(t && cps(t) <= 20);
    free(t);
    free(p);
}

TEST(secret_never_in_any_payload)
{
    char *secrets[] = {"p\"a\\ss<&>word", "hunter2"};
    struct notify_event ev = found_event();
    ev.body = "requirepass p\"a\\ss<&>word\nmasterauth hunter2\n";
    ev.subject = "rotate hunter2";
    ev.summary = "auth p\"a\\ss<&>word";
    for (size_t i = 0; i < ARRAY_SIZE(all_formats); i++) {
        char *p = notify_payload_build(all_formats[i], &ev, secrets, 2, 0);
        CHECK(!strstr(p, "hunter2"));
        CHECK(!strstr(p, "ss<&>word") && !strstr(p, "ss&lt;&amp;&gt;word"));
        CHECK(!strstr(p, "a\\\\ss")); /* the JSON-escaped form */
        CHECK_CONTAINS(p, "******");
        free(p);
    }
}

TEST(secret_cut_by_truncation_does_not_leak_a_prefix)
{
    /* the secret sits right where a cut would fall */
    char *secrets[] = {"ABCDEFGHIJKLMNOPQRSTUVWXYZ"};
    struct notify_event ev = found_event();
    struct strbuf sb = {0};
    for (int i = 0; i < 100; i++)
        sb_add(&sb, "ABCDEFGHIJKLMNOPQRSTUVWXYZ ");
    ev.body = sb_str(&sb);
    for (size_t limit = 300; limit < 400; limit++) {
        char *p = notify_payload_build(NOTIFY_DISCORD, &ev, secrets, 1, limit);
        CHECK(!strstr(p, "ABCDEF"));
        free(p);
    }
    sb_release(&sb);
}

/* ------------------------------------------------------------------- urls */

TEST(url_display_shows_scheme_and_host_only)
{
    char *s = notify_url_display("https://hooks.slack.com/services/T0/B0/XXXXSECRET");
    CHECK_STR_EQ(s, "https://hooks.slack.com");
    free(s);
    s = notify_url_display("HTTP://user:pw@127.0.0.1:8080?token=abc");
    CHECK_STR_EQ(s, "http://127.0.0.1:8080");
    free(s);
    s = notify_url_display("https://[::1]:9000/x#frag");
    CHECK_STR_EQ(s, "https://[::1]:9000");
    free(s);
    s = notify_url_display("not a url/secret");
    CHECK_STR_EQ(s, "(invalid url)");
    free(s);
}

/* ---------------------------------------------------------------- options */

/* reconcile's notify options: the rows of the command line's option table (src/cli/opt.h) */
struct notify_args {
    struct notify_options o;
};

static const struct cli_opt notify_opts[] = {CLI_OPTS_NOTIFY(struct notify_args, o)};

/* Parse argv[0..argc-1] (no command name) into o. 0, or -1 with *err. */
static int parse(struct notify_options *o, char **argv, int argc, char **err)
{
    char *av[16] = {"reconcile"};
    for (int i = 0; i < argc && i < 15; i++)
        av[i + 1] = argv[i];
    /* o is notify_args.o at offset 0 */
    return cli_opt_parse(notify_opts, ARRAY_SIZE(notify_opts), 0, argc + 1, av, o, err);
}

TEST(options_parse_webhooks_and_formats)
{
    struct notify_options o;
    notify_options_init(&o);
    char *argv[] = {"--webhook", "https://hooks.slack.com/services/T/B/X",
                    "--webhook=discord=https://discord.com/api/webhooks/1/tok",
                    "--webhook-format", "mattermost",
                    "--webhook-timeout=3s", "--webhook-retries", "2",
                    "--remind-after", "24h"};
    char *err = NULL;
    CHECK_INT_EQ(parse(&o, argv, (int)ARRAY_SIZE(argv), &err), 0);
    CHECK_INT_EQ(notify_options_finish(&o, "http://ignored.example/x", &err), 0);
    CHECK_INT_EQ(o.ntargets, 2);
    CHECK_INT_EQ(o.targets[0].format, NOTIFY_MATTERMOST); /* --webhook-format applies */
    CHECK_INT_EQ(o.targets[1].format, NOTIFY_DISCORD);    /* its own */
    CHECK_STR_EQ(o.targets[1].url, "https://discord.com/api/webhooks/1/tok");
    CHECK_INT_EQ(o.timeout_ms, 3000);
    CHECK_INT_EQ(o.connect_timeout_ms, 3000);
    CHECK_INT_EQ(o.max_attempts, 3);
    CHECK_INT_EQ(o.remind_after_s, 86400);
    free(err);
    notify_options_release(&o);
}

TEST(options_env_fallback)
{
    struct notify_options o;
    notify_options_init(&o);
    char *err = NULL;
    CHECK_INT_EQ(notify_options_finish(&o, " https://a.example/1, generic=http://b.example/2\n",
                                       &err), 0);
    CHECK_INT_EQ(o.ntargets, 2);
    CHECK_STR_EQ(o.targets[0].url, "https://a.example/1");
    CHECK_INT_EQ(o.targets[0].format, NOTIFY_SLACK);
    CHECK_INT_EQ(o.targets[1].format, NOTIFY_GENERIC);
    notify_options_release(&o);

    notify_options_init(&o);
    CHECK_INT_EQ(notify_options_finish(&o, "ftp://files.example/secret-path", &err), -1);
    CHECK_CONTAINS(err, "RMGR_WEBHOOK_URL");
    CHECK(!strstr(err, "secret-path"));
    free(err);
    notify_options_release(&o);
}

TEST(options_errors_hide_the_url)
{
    struct notify_options o;
    notify_options_init(&o);
    char *err = NULL;
    char *a1[] = {"--webhook", "ftp://host.example/very/secret"};
    CHECK_INT_EQ(parse(&o, a1, 2, &err), -1);
    CHECK_CONTAINS(err, "ftp://host.example");
    CHECK(!strstr(err, "secret"));
    free(err);
    err = NULL;
    char *a2[] = {"--webhook", "teams=https://x.example/secret"};
    CHECK_INT_EQ(parse(&o, a2, 2, &err), -1);
    CHECK_CONTAINS(err, "unknown webhook format 'teams'");
    CHECK(!strstr(err, "secret"));
    free(err);
    err = NULL;
    char *a3[] = {"--webhook-format", "teams"};
    CHECK_INT_EQ(parse(&o, a3, 2, &err), -1);
    free(err);
    err = NULL;
    char *a4[] = {"--webhook"};
    CHECK_INT_EQ(parse(&o, a4, 1, &err), -1);
    CHECK_CONTAINS(err, "needs a value");
    free(err);
    err = NULL;
    char *a5[] = {"--remind-after", "soon"};
    CHECK_INT_EQ(parse(&o, a5, 2, &err), -1);
    free(err);
    err = NULL;
    char *a6[] = {"--webhooks", "x"};
    CHECK_INT_EQ(parse(&o, a6, 2, &err), -1); /* not a notify option */
    CHECK_STR_EQ(err, "unknown option '--webhooks'");
    free(err);
    err = NULL;
    char *a7[] = {"--remind-after", "0"};
    CHECK_INT_EQ(parse(&o, a7, 2, &err), 0);
    CHECK_INT_EQ(o.remind_after_s, 0);
    CHECK_INT_EQ(o.ntargets, 0);
    notify_options_release(&o);
}

TEST(secrets_are_deduplicated)
{
    struct notify_options o;
    notify_options_init(&o);
    notify_options_add_secret(&o, "pw");
    notify_options_add_secret(&o, "pw");
    notify_options_add_secret(&o, "");
    notify_options_add_secret(&o, NULL);
    CHECK_INT_EQ(o.nsecrets, 1);
    notify_options_release(&o);
    notify_options_release(NULL);
}

int main(void)
{
    RUN(golden_drift_found);
    RUN(golden_drift_resolved_without_commit_or_body);
    RUN(golden_apply_failed);
    RUN(every_event_kind_has_a_name_and_builds);
    RUN(format_names_round_trip);
    RUN(slack_escapes_control_characters);
    RUN(body_fence_cannot_close_the_code_block);
    RUN(discord_never_pings);
    RUN(invalid_utf8_becomes_replacement_character);
    RUN(discord_message_exactly_at_the_limit_is_not_cut);
    RUN(truncation_counts_the_lines_not_shown);
    RUN(multibyte_cut_is_utf8_safe_at_every_limit);
    RUN(generic_payload_stays_within_64k);
    RUN(slack_and_mattermost_limits);
    RUN(tiny_limit_still_valid_json);
    RUN(secret_never_in_any_payload);
    RUN(secret_cut_by_truncation_does_not_leak_a_prefix);
    RUN(url_display_shows_scheme_and_host_only);
    RUN(options_parse_webhooks_and_formats);
    RUN(options_env_fallback);
    RUN(options_errors_hide_the_url);
    RUN(secrets_are_deduplicated);
    return test_done();
}
