/* test_exec.c - exec's judging of commands and its reply formatting (pure). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "test.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* the flags and categories Redis 7.0 reports in COMMAND INFO */
TEST(flags_decide_write)
{
    const char *get[] = {"readonly", "fast"}, *get_c[] = {"@read", "@string", "@fast"};
    const char *set[] = {"write", "denyoom"}, *set_c[] = {"@write", "@string"};
    const char *cfg[] = {"admin", "noscript", "loading", "stale"}, *cfg_c[] = {"@admin"};
    const char *info[] = {"loading", "stale"}, *info_c[] = {"@slow", "@dangerous"};
    const char *eval[] = {"noscript", "stale", "skip_monitor", "no_mandatory_keys",
                          "movablekeys"};
    const char *eval_c[] = {"@slow", "@scripting"};
    const char *eval_ro[] = {"readonly", "noscript", "stale"};
    const char *pub[] = {"pubsub", "loading", "stale", "fast", "may_replicate"};
    CHECK(!exec_flags_write(get, N(get), get_c, N(get_c)));
    CHECK(exec_flags_write(set, N(set), set_c, N(set_c)));
    CHECK(exec_flags_write(cfg, N(cfg), cfg_c, N(cfg_c)));
    CHECK(!exec_flags_write(info, N(info), info_c, N(info_c)));
    CHECK(exec_flags_write(eval, N(eval), eval_c, N(eval_c)));
    CHECK(!exec_flags_write(eval_ro, N(eval_ro), eval_c, N(eval_c)));
    CHECK(exec_flags_write(pub, N(pub), NULL, 0));
    CHECK(!exec_flags_write(NULL, 0, NULL, 0));
}

static void check_refused(int argc, const char *const *argv, const struct spec *s,
                          const char *needle)
{
    char *why = exec_refusal(argc, argv, s);
    CHECK(why != NULL);
    if (why)
        CHECK_CONTAINS(why, needle);
    free(why);
}

TEST(refusals_name_the_rmgr_command)
{
    const char *shutdown[] = {"shutdown", "nosave"};
    const char *flushall[] = {"FLUSHALL"}, *flushdb[] = {"FlushDB", "ASYNC"};
    const char *debug[] = {"DEBUG", "SLEEP", "1"};
    const char *replicaof[] = {"REPLICAOF", "NO", "ONE"}, *slaveof[] = {"slaveof", "h", "1"};
    const char *sfail[] = {"SENTINEL", "failover", "alpha"};
    const char *sremove[] = {"sentinel", "REMOVE", "alpha"};
    const char *sreset[] = {"SENTINEL", "RESET", "*"};
    check_refused(N(shutdown), shutdown, NULL, "rmgr destroy");
    check_refused(N(flushall), flushall, NULL, "rmgr destroy");
    check_refused(N(flushdb), flushdb, NULL, "rmgr destroy");
    check_refused(N(debug), debug, NULL, "rmgr status");
    check_refused(N(replicaof), replicaof, NULL, "rmgr failover");
    check_refused(N(slaveof), slaveof, NULL, "rmgr failover");
    check_refused(N(sfail), sfail, NULL, "rmgr failover -f SPEC SHARD");
    check_refused(N(sremove), sremove, NULL, "--allow-destructive");
    check_refused(N(sreset), sreset, NULL, "rmgr apply");

    const char *masters[] = {"SENTINEL", "MASTERS"}, *get[] = {"GET", "k"};
    const char *sentinel[] = {"SENTINEL"};
    CHECK(exec_refusal(N(masters), masters, NULL) == NULL);
    CHECK(exec_refusal(N(get), get, NULL) == NULL);
    CHECK(exec_refusal(N(sentinel), sentinel, NULL) == NULL);
    CHECK(exec_refusal(0, NULL, NULL) == NULL);
}

TEST(config_set_of_managed_directives)
{
    struct spec_kv kv[] = {{"maxmemory", "32mb", {0, 0}}};
    struct spec s = {.redis_config = kv, .nredis_config = 1};
    const char *mm[] = {"CONFIG", "SET", "MAXMEMORY", "1mb"};
    const char *pw[] = {"config", "set", "requirepass", "x"};
    const char *two[] = {"CONFIG", "SET", "hz", "20", "dir", "/tmp"};
    const char *repl[] = {"CONFIG", "SET", "replicaof", "h 1"};
    const char *hz[] = {"CONFIG", "SET", "hz", "20"};
    const char *get[] = {"CONFIG", "GET", "maxmemory"};
    check_refused(N(mm), mm, &s, "change redis.config in the spec");
    check_refused(N(pw), pw, &s, "'requirepass'");
    check_refused(N(two), two, &s, "'dir'");
    check_refused(N(repl), repl, &s, "'replicaof'");
    CHECK(exec_refusal(N(mm), mm, NULL) == NULL); /* without the spec, maxmemory is free */
    CHECK(exec_refusal(N(hz), hz, &s) == NULL);
    CHECK(exec_refusal(N(get), get, &s) == NULL);
}

TEST(info_names)
{
    const char *cs[] = {"CONFIG", "Set", "x"}, *ping[] = {"PING"};
    char *a = exec_info_name(N(cs), cs, true), *b = exec_info_name(N(cs), cs, false);
    char *c = exec_info_name(N(ping), ping, true);
    CHECK_STR_EQ(a, "config|set");
    CHECK_STR_EQ(b, "config");
    CHECK_STR_EQ(c, "ping");
    free(a);
    free(b);
    free(c);
    const char *keys[] = {"keys", "*"};
    CHECK(exec_is_keys(N(keys), keys));
    CHECK(!exec_is_keys(N(ping), ping));
}

static redisReply str(int type, const char *s)
{
    return (redisReply){.type = type, .str = (char *)s, .len = strlen(s)};
}

TEST(replies_as_redis_cli_shows_them)
{
    redisReply info = str(REDIS_REPLY_STRING, "# Replication\r\nrole:master\r\n\r\nx:1\r\n");
    redisReply i = {.type = REDIS_REPLY_INTEGER, .integer = 42};
    redisReply nil = {.type = REDIS_REPLY_NIL};
    redisReply err = str(REDIS_REPLY_ERROR, "ERR wrong");
    redisReply a1 = str(REDIS_REPLY_STRING, "127.0.0.1"), a2 = str(REDIS_REPLY_STRING, "7001");
    redisReply *inner_el[] = {&a1, &a2};
    redisReply inner = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = inner_el};
    redisReply *outer_el[] = {&i, &inner, &nil};
    redisReply outer = {.type = REDIS_REPLY_ARRAY, .elements = 3, .element = outer_el};
    redisReply empty = {.type = REDIS_REPLY_ARRAY};
    redisReply blank = str(REDIS_REPLY_STRING, "");

    struct strbuf sb = {0};
    exec_format_reply(&sb, &info, "  ");
    CHECK_STR_EQ(sb_str(&sb), "  # Replication\n  role:master\n  \n  x:1\n");
    sb_release(&sb);
    exec_format_reply(&sb, &outer, "  ");
    CHECK_STR_EQ(sb_str(&sb), "  1) (integer) 42\n  2) \n     1) 127.0.0.1\n     2) 7001\n"
                              "  3) (nil)\n");
    sb_release(&sb);
    exec_format_reply(&sb, &err, "");
    exec_format_reply(&sb, &empty, "");
    exec_format_reply(&sb, &blank, "");
    exec_format_reply(&sb, NULL, "");
    CHECK_STR_EQ(sb_str(&sb), "(error) ERR wrong\n(empty array)\n\"\"\n(no reply)\n");
    sb_release(&sb);

    json_t *j = exec_reply_json(&outer);
    char *t = json_dumps(j, JSON_COMPACT);
    CHECK_STR_EQ(t, "[42,[\"127.0.0.1\",\"7001\"],null]");
    free(t);
    json_decref(j);
    j = exec_reply_json(&err);
    t = json_dumps(j, JSON_COMPACT);
    CHECK_STR_EQ(t, "{\"error\":\"ERR wrong\"}");
    free(t);
    json_decref(j);
    redisReply bin = {.type = REDIS_REPLY_STRING, .str = "a\xff" "b", .len = 3};
    j = exec_reply_json(&bin);
    CHECK_STR_EQ(json_string_value(j), "a?b");
    json_decref(j);
}

int main(void)
{
    RUN(flags_decide_write);
    RUN(refusals_name_the_rmgr_command);
    RUN(config_set_of_managed_directives);
    RUN(info_names);
    RUN(replies_as_redis_cli_shows_them);
    return test_done();
}
