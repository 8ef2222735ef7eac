/*
 * test_reconcile_pure.c - the pure pieces of reconcile, watch and log: log
 * line formats, secret redaction in logs, +switch-master parsing, the quorum
 * rule, the drift text behind fingerprints, exit codes.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "reconcile.h"
#include "test.h"
#include "util.h"
#include "watch.h"

/* 2026-11-24T10:00:00.123Z */
#define T_MS 1795514400123LL

TEST(log_text_line)
{
    struct log_field f[] = {{"shard", "shard1"}, {"why", "two words"}, {"none", NULL},
                            {"q", "say \"hi\""}};
    char *line = log_format_line(LOG_FORMAT_TEXT, T_MS, LOG_INFO, "drift-found", "prod eu",
                                 "0123456789abcdef0123456789abcdef01234567", f, ARRAY_SIZE(f),
                                 "Plan: 1 to change.\nsecond line\n");
    CHECK_STR_EQ(line, "2026-11-24T10:00:00.123Z info drift-found cluster=\"prod eu\" "
                       "commit=0123456789ab shard=shard1 why=\"two words\" q=\"say \\\"hi\\\"\" "
                       "Plan: 1 to change.; second line");
    free(line);
    line = log_format_line(LOG_FORMAT_TEXT, T_MS, LOG_ERROR, "x", NULL, NULL, NULL, 0, "");
    CHECK_STR_EQ(line, "2026-11-24T10:00:00.123Z error x");
    free(line);
}

TEST(log_json_line)
{
    struct log_field f[] = {{"took_ms", "4.2"}, {"event", "not-twice"}, {"none", NULL}};
    char *line = log_format_line(LOG_FORMAT_JSON, T_MS, LOG_WARN, "repointed", "c1",
                                 "0123456789abcdef0123456789abcdef01234567", f, ARRAY_SIZE(f),
                                 "a\nb \"q\"");
    CHECK_STR_EQ(line, "{\"time\":\"2026-11-24T10:00:00.123Z\",\"level\":\"warn\","
                       "\"event\":\"repointed\",\"cluster\":\"c1\","
                       "\"commit\":\"0123456789abcdef0123456789abcdef01234567\","
                       "\"took_ms\":\"4.2\",\"msg\":\"a\\nb \\\"q\\\"\"}");
    free(line);
    /* bytes that are not UTF-8 do not lose the event */
    line = log_format_line(LOG_FORMAT_JSON, T_MS, LOG_INFO, "e", NULL, NULL, NULL, 0,
                           "bad \xff byte");
    json_error_t je;
    json_t *j = json_loads(line, 0, &je);
    CHECK(j != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(j, "event")), "e");
    json_decref(j);
    free(line);
}

TEST(log_formats_and_levels_parse)
{
    enum log_format f;
    CHECK(log_format_parse("json", &f) && f == LOG_FORMAT_JSON);
    CHECK(log_format_parse("text", &f) && f == LOG_FORMAT_TEXT);
    CHECK(!log_format_parse("yaml", &f));
    CHECK(!log_format_parse(NULL, &f));
    CHECK_STR_EQ(log_level_name(LOG_DEBUG), "debug");
    CHECK_STR_EQ(log_level_name(LOG_ERROR), "error");
}

TEST(log_file_redacts_and_filters)
{
    char path[] = "/tmp/rmgr-test-log-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    char *err = NULL;
    CHECK_INT_EQ(log_open(path, LOG_FORMAT_JSON, LOG_INFO, &err), 0);
    log_add_secret("s3cr\"et");
    log_add_secret("");
    log_add_secret(NULL);
    struct log_field f[] = {{"detail", "auth s3cr\"et failed"}};
    log_event(LOG_DEBUG, "hidden", NULL, NULL, NULL, 0, "below the level");
    log_event(LOG_INFO, "shown", "c", NULL, f, 1, "password s3cr\"et in the message");
    FILE *s = log_stream(LOG_WARN, "streamed");
    CHECK(s != NULL);
    if (s) {
        fputs("first\nsecond without newline", s);
        fclose(s);
    }
    CHECK_INT_EQ(log_reopen(&err), 0);
    log_close();
    char *text = test_slurp(path);
    CHECK(text && !strstr(text, "s3cr"));
    CHECK(text && !strstr(text, "below the level"));
    CHECK_CONTAINS(text, "\"detail\":\"auth ****** failed\"");
    CHECK_CONTAINS(text, "password ****** in the message");
    CHECK_CONTAINS(text, "\"event\":\"streamed\",\"msg\":\"first\"");
    CHECK_CONTAINS(text, "\"msg\":\"second without newline\"");
    /* one JSON object per line */
    size_t lines = 0;
    for (char *p = text; p && *p; p++)
        lines += *p == '\n';
    CHECK_INT_EQ(lines, 3);
    free(text);
    unlink(path);
    CHECK(log_open("/nonexistent-dir/x.log", LOG_FORMAT_TEXT, LOG_INFO, &err) < 0);
    CHECK_CONTAINS(err, "cannot open log file '/nonexistent-dir/x.log'");
    free(err);
}

TEST(switch_master_payload)
{
    char *name = NULL, *nip = NULL, *oip = NULL;
    int np = 0, op = 0;
    CHECK_INT_EQ(watch_parse_switch("shard1 127.0.0.1 7001 127.0.0.1 7002", &name, &nip, &np,
                                    &oip, &op), 0);
    CHECK_STR_EQ(name, "shard1");
    CHECK_STR_EQ(oip, "127.0.0.1");
    CHECK_INT_EQ(op, 7001);
    CHECK_STR_EQ(nip, "127.0.0.1");
    CHECK_INT_EQ(np, 7002);
    free(name);
    free(nip);
    free(oip);
    static const char *bad[] = {"", "shard1", "shard1 127.0.0.1 7001 127.0.0.1",
                                "shard1 127.0.0.1 7001 127.0.0.1 7002 extra",
                                "shard1 127.0.0.1 x 127.0.0.1 7002",
                                "shard1 127.0.0.1 7001 127.0.0.1 70000",
                                "shard1 127.0.0.1 7001 127.0.0.1 0"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        CHECK_INT_EQ(watch_parse_switch(bad[i], &name, &nip, &np, &oip, &op), -1);
    CHECK_INT_EQ(watch_parse_switch(NULL, &name, &nip, &np, &oip, &op), -1);
}

TEST(quorum_rule)
{
    char *none[3] = {NULL, NULL, NULL};
    CHECK(watch_quorum_master(none, 3, 2) == NULL);
    char *one[3] = {NULL, "10.0.0.2:7002", NULL};
    CHECK(watch_quorum_master(one, 3, 2) == NULL);
    CHECK_STR_EQ(watch_quorum_master(one, 3, 1), "10.0.0.2:7002");
    char *two[3] = {"10.0.0.2:7002", NULL, "10.0.0.2:7002"};
    CHECK_STR_EQ(watch_quorum_master(two, 3, 2), "10.0.0.2:7002");
    /* the second failover of a shard: one sentinel announced the new master, the other two
       rows still hold the first failover's; a quorum for the old one is not news */
    char *stale[] = {"10.0.0.1:7001", "10.0.0.2:7002", "10.0.0.2:7002"};
    CHECK(!watch_quorum_reached(stale, 3, 2, "10.0.0.1:7001"));
    CHECK(watch_quorum_reached(stale, 3, 2, "10.0.0.2:7002"));
    CHECK(!watch_quorum_reached(stale, 3, 0, "10.0.0.2:7002"));
    CHECK(!watch_quorum_reached(stale, 3, 2, NULL));
    char *fresh[] = {"10.0.0.1:7001", "10.0.0.1:7001", "10.0.0.2:7002"};
    CHECK(watch_quorum_reached(fresh, 3, 2, "10.0.0.1:7001"));
    CHECK(watch_quorum_master(two, 3, 3) == NULL);
    char *split[3] = {"10.0.0.2:7002", "10.0.0.3:7003", "10.0.0.4:7004"};
    CHECK(watch_quorum_master(split, 3, 2) == NULL);
    char *mixed[4] = {"10.0.0.3:7003", "10.0.0.2:7002", "10.0.0.3:7003", NULL};
    CHECK_STR_EQ(watch_quorum_master(mixed, 4, 2), "10.0.0.3:7003");
    CHECK(watch_quorum_master(two, 3, 0) == NULL); /* a quorum of 0 is no quorum */
}

static struct step mk_step(enum step_kind k, enum step_action a, const char *target,
                           const char *reason, const char *before, const char *after)
{
    struct step st;
    memset(&st, 0, sizeof(st));
    st.kind = k;
    st.action = a;
    st.target = (char *)target;
    st.ip = (char *)"127.0.0.1";
    st.port = 7001;
    st.reason = (char *)reason;
    st.before = (char *)before;
    st.after = (char *)after;
    return st;
}

TEST(drift_canonical_text)
{
    struct obs_kv kv = {(char *)"maxmemory", (char *)"64mb"};
    struct step steps[3];
    steps[0] = mk_step(STEP_OBSERVED, ACTION_NONE, "127.0.0.1:7002", "lag 120 bytes", NULL, NULL);
    steps[1] = mk_step(STEP_CONFIG_SET, ACTION_CHANGE, "127.0.0.1:7001", "differs",
                       "maxmemory 0", "maxmemory 64mb");
    steps[1].settings = &kv;
    steps[1].nsettings = 1;
    steps[2] = mk_step(STEP_PROXY_RESTART, ACTION_CHANGE, "127.0.0.1:22121", "no reload",
                       NULL, NULL);
    struct plan_refusal ref = {(char *)"shard2", (char *)"offset 123 vs 456"};
    struct plan p;
    memset(&p, 0, sizeof(p));
    p.steps = steps;
    p.nsteps = 3;
    char *a = reconcile_drift_canonical(&p);
    CHECK_STR_EQ(a, "config-set ~ 127.0.0.1:7001 127.0.0.1:7001\n"
                    "  before maxmemory 0\n"
                    "  after maxmemory 64mb\n"
                    "  set maxmemory 64mb\n"
                    "proxy-restart ~ 127.0.0.1:22121 127.0.0.1:7001\n");
    /* reasons, observed facts and diagnoses (offsets, lags) do not count */
    steps[0].reason = (char *)"lag 999 bytes";
    steps[1].reason = (char *)"something else";
    char *b = reconcile_drift_canonical(&p);
    CHECK_STR_EQ(a, b);
    p.refusals = &ref;
    p.nrefusals = 1;
    p.unreachable = 2;
    char *c = reconcile_drift_canonical(&p);
    CHECK_CONTAINS(c, "refused shard2\nunreachable 2\n");
    CHECK(!strstr(c, "offset"));
    free(a);
    free(b);
    free(c);
    struct plan empty;
    memset(&empty, 0, sizeof(empty));
    char *e = reconcile_drift_canonical(&empty);
    CHECK_STR_EQ(e, "");
    free(e);
}

TEST(exit_codes)
{
    CHECK_INT_EQ(reconcile_exit_code(RECONCILE_IN_SYNC, false), EXIT_OK);
    CHECK_INT_EQ(reconcile_exit_code(RECONCILE_SKIPPED, true), EXIT_OK);
    CHECK_INT_EQ(reconcile_exit_code(RECONCILE_CORRECTED, true), EXIT_OK);
    CHECK_INT_EQ(reconcile_exit_code(RECONCILE_DRIFT, false), EXIT_OK);
    CHECK_INT_EQ(reconcile_exit_code(RECONCILE_DRIFT, true), EXIT_CHANGES);
    CHECK_INT_EQ(reconcile_exit_code(RECONCILE_ERROR, false), EXIT_FAILURE_);
    CHECK_INT_EQ(reconcile_exit_code(RECONCILE_ERROR, true), EXIT_FAILURE_);
    CHECK_STR_EQ(reconcile_status_name(RECONCILE_CORRECTED), "corrected");
}

int main(void)
{
    RUN(log_text_line);
    RUN(log_json_line);
    RUN(log_formats_and_levels_parse);
    RUN(log_file_redacts_and_filters);
    RUN(switch_master_payload);
    RUN(quorum_rule);
    RUN(drift_canonical_text);
    RUN(exit_codes);
    return test_done();
}
