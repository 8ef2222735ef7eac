/*
 * test_json_out.c - JSON output keeps every value, UTF-8 or not (issue 14
 * finding 8: json_string() returns NULL for bytes that are not UTF-8, and
 * the value vanished from the document).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "log.h"
#include "observed.h"
#include "plan.h"
#include "render.h"
#include "spec.h"
#include "test.h"
#include "util.h"

#define FFFD "\xEF\xBF\xBD"

static char *text_of(const char *s)
{
    json_t *j = json_text(s);
    if (!j)
        return NULL;
    char *out = xstrdup(json_string_value(j));
    json_decref(j);
    return out;
}

TEST(text_replaces_every_byte_that_is_not_utf8)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},
        {"", ""},
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
        {"a\xFF" "b", "a" FFFD "b"},
        {"\xC0\xAF", FFFD FFFD},             /* overlong "/" */
        {"\xE0\x80\xAF", FFFD FFFD FFFD},    /* overlong, three bytes */
        {"\xED\xA0\x80", FFFD FFFD FFFD},    /* a UTF-16 surrogate */
        {"\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD}, /* past U+10FFFF */
        {"x\xE2\x82", "x" FFFD FFFD},        /* cut in the middle */
        {"\x80z", FFFD "z"},                 /* a lone continuation byte */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char *got = text_of(cases[i].in);
        CHECK_STR_EQ(got, cases[i].out);
        free(got);
    }
    json_t *n = json_str_or_null("\xFF");
    CHECK(n && json_is_string(n));
    json_decref(n);
    n = json_addr("10.0.0.1\xFF", 6379);
    CHECK(n && !strcmp(json_string_value(n), "10.0.0.1" FFFD ":6379"));
    json_decref(n);
    json_t *o = json_object();
    json_set_text_key(o, "auth-pass m\xFF", json_text("v"));
    CHECK(json_object_get(o, "auth-pass m" FFFD) != NULL);
    json_decref(o);
}

TEST(observed_json_keeps_a_config_text_that_is_not_utf8)
{
    struct obs_proxy px = {.ip = xstrdup("127.0.0.1"), .listen_port = 22121,
                           .stats_port = 22222, .reach = REACH_OK, .config_present = true,
                           .config_text = xstrdup("alpha:\n  listen: 0.0.0.0:22121 # \xFF\xFE\n")};
    struct observed o = {.proxies = &px, .nproxies = 1};
    char *j = observed_to_json(&o);
    CHECK_CONTAINS(j, "\"config_text\": \"alpha:\\n  listen: 0.0.0.0:22121 # " FFFD FFFD);
    char *err = NULL;
    struct observed *back = observed_from_json(j, &err);
    CHECK(back && back->nproxies == 1 && back->proxies[0].config_text);
    observed_free(back);
    free(err);
    free(j);
    free(px.ip);
    free(px.config_text);
}

TEST(observed_json_round_trips_the_build_each_instance_runs)
{
    struct obs_redis rd[2] = {
        {.ip = "127.0.0.1", .port = 7001, .reach = REACH_OK,
         .build = {.version = "7.0.15", .executable = "/opt/a/redis-server"}},
        {.ip = "127.0.0.1", .port = 7002, .reach = REACH_REFUSED}, /* unknown: left out */
    };
    struct obs_sentinel sn = {.ip = "127.0.0.1", .port = 26001, .reach = REACH_OK,
                              .build = {.version = "7.0.15",
                                        .executable = "/opt/a/redis-sentinel"}};
    struct obs_proxy px = {.ip = "127.0.0.1", .listen_port = 22121, .reach = REACH_OK,
                           .build = {.version = "0.5.0", .executable = "/opt/a/nutcracker"}};
    struct obs_program pg = {.host = "h1", .path = "/opt/b/redis-server", .version = "7.2.4"};
    struct observed o = {.redis = rd, .nredis = 2, .sentinels = &sn, .nsentinels = 1,
                         .proxies = &px, .nproxies = 1, .programs = &pg, .nprograms = 1};
    char *j = observed_to_json(&o);
    char *err = NULL;
    struct observed *back = observed_from_json(j, &err);
    CHECK(back != NULL);
    if (back) {
        CHECK_STR_EQ(back->redis[0].build.version, "7.0.15");
        CHECK_STR_EQ(back->redis[0].build.executable, "/opt/a/redis-server");
        CHECK(back->redis[1].build.version == NULL && back->redis[1].build.executable == NULL);
        CHECK_STR_EQ(back->sentinels[0].build.executable, "/opt/a/redis-sentinel");
        CHECK_STR_EQ(back->proxies[0].build.version, "0.5.0");
        CHECK_STR_EQ(back->proxies[0].build.executable, "/opt/a/nutcracker");
        CHECK_STR_EQ(observed_program_version(back, "h1", "/opt/b/redis-server"), "7.2.4");
        CHECK(observed_program_version(back, "h2", "/opt/b/redis-server") == NULL);
        char *again = observed_to_json(back);
        CHECK_STR_EQ(again, j);
        free(again);
    }
    observed_free(back);
    free(err);
    free(j);
}

TEST(plan_json_keeps_a_spec_path_that_is_not_utf8)
{
    const char *t = getenv("RMGR_TESTS_DIR");
    char *path = xasprintf("%s/fixtures/plan/converged/spec.yaml", t && *t ? t : "tests");
    char *spec = test_slurp(path);
    free(path);
    CHECK(spec != NULL);
    if (!spec)
        return;
    struct diags d = {0};
    struct spec *s = spec_load_buffer("/srv/specs/\xFF" "prod.yaml", spec, strlen(spec), &d);
    free(spec);
    if (!s)
        diags_print(&d, stdout);
    diags_release(&d);
    CHECK(s != NULL);
    if (!s)
        return;
    struct observed o = {0};
    struct plan *p = plan_compute(s, &o);
    char *j = render_plan_json(s, p, "fp", "c0ffee", "subject \xFF");
    CHECK_CONTAINS(j, "\"file\": \"/srv/specs/" FFFD "prod.yaml\"");
    CHECK_CONTAINS(j, "\"subject\": \"subject " FFFD "\"");
    free(j);
    plan_free(p);
    spec_free(s);
}

TEST(json_log_lines_keep_fields_and_message_that_are_not_utf8)
{
    struct log_field f[] = {{"path", "/x/\xFF"}};
    char *line = log_format_line(LOG_FORMAT_JSON, 0, LOG_INFO, "ev", "clu\xFF", NULL, f, 1,
                                 "msg \xFE");
    CHECK_CONTAINS(line, "\"cluster\":\"clu" FFFD "\"");
    CHECK_CONTAINS(line, "\"path\":\"/x/" FFFD "\"");
    CHECK_CONTAINS(line, "\"msg\":\"msg " FFFD "\"");
    free(line);
}

int main(void)
{
    RUN(text_replaces_every_byte_that_is_not_utf8);
    RUN(observed_json_keeps_a_config_text_that_is_not_utf8);
    RUN(observed_json_round_trips_the_build_each_instance_runs);
    RUN(plan_json_keeps_a_spec_path_that_is_not_utf8);
    RUN(json_log_lines_keep_fields_and_message_that_are_not_utf8);
    return test_done();
}
