/* test_top.c - rmgr top's parsing, rates and frames (pure). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "top.h"

static const char info1[] =
    "# Server\r\nredis_version:7.0.15\r\n# Clients\r\nconnected_clients:5\r\n"
    "# Memory\r\nused_memory:1048576\r\nmaxmemory:33554432\r\n"
    "# Stats\r\ntotal_commands_processed:1000\r\nkeyspace_hits:90\r\nkeyspace_misses:10\r\n"
    "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n"
    "slave0:ip=127.0.0.1,port=7002,state=online,offset=4000,lag=1\r\n"
    "master_repl_offset:5024\r\n"
    "# Keyspace\r\ndb0:keys=12,expires=0,avg_ttl=0\r\ndb3:keys=3,expires=1,avg_ttl=5\r\n";

TEST(info_of_a_master)
{
    struct top_redis r = {0};
    CHECK(top_parse_info(info1, "127.0.0.1:7001", &r) == 0);
    CHECK(r.ok);
    CHECK_STR_EQ(r.addr, "127.0.0.1:7001");
    CHECK(r.commands == 1000 && r.used_memory == 1048576 && r.maxmemory == 33554432);
    CHECK(r.clients == 5 && r.keys == 15 && r.hits == 90 && r.misses == 10);
    CHECK(r.master_offset == 5024 && r.nreplicas == 1);
    CHECK_STR_EQ(r.replicas[0].addr, "127.0.0.1:7002");
    CHECK(r.replicas[0].offset == 4000 && r.replicas[0].lag_s == 1);
    struct top_sample t = {.shards = &r, .nshards = 1};
    struct top_redis *keep = t.shards;
    t.shards = xcalloc(1, sizeof(r));
    t.shards[0] = *keep;
    top_sample_release(&t);

    struct top_redis s = {0};
    CHECK(top_parse_info("# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\n", "x", &s) < 0);
    CHECK(!s.ok && !s.addr);
}

TEST(proxy_stats)
{
    const char *json = "{\"service\":\"nutcracker\",\"uptime\":10,\"timestamp\":1700000000,"
                       "\"ops\":{\"client_connections\":3,\"forward_error\":2,"
                       "\"s1\":{\"requests\":40,\"server_eof\":0},"
                       "\"s2\":{\"requests\":60}}}";
    struct top_proxy p = {0};
    char *err = NULL;
    CHECK(top_parse_proxy_stats(json, "ops", &p, &err) == 0);
    CHECK(p.ok && p.requests == 100 && p.forward_errors == 2 && p.connections == 3);
    CHECK(p.timestamp_s == 1700000000);
    struct top_proxy q = {0};
    CHECK(top_parse_proxy_stats(json, "other", &q, &err) < 0);
    CHECK_CONTAINS(err, "no pool 'other'");
    free(err);
    err = NULL;
    CHECK(top_parse_proxy_stats("nope", "ops", &q, &err) < 0);
    free(err);
}

TEST(rates_from_two_observations)
{
    CHECK(top_rate(1000, 3000, 2000) == 1000.0);
    CHECK(top_rate(1000, 1000, 1000) == 0.0);
    CHECK(top_rate(5000, 10, 1000) == -1); /* a restart reset the counter */
    CHECK(top_rate(1, 2, 0) == -1);
}

TEST(frames_text_and_json)
{
    struct spec_shard sh = {.name = "alpha"};
    struct spec_proxy px = {.listen = {.ip = "127.0.0.1", .port = 22121}};
    struct spec sp = {.cluster = "ops", .shards = &sh, .nshards = 1, .proxies = &px,
                      .nproxies = 1};
    struct top_replica rep = {"127.0.0.1:7002", 4000, 1};
    struct top_redis a = {true, "127.0.0.1:7001", 1000, 1048576, 33554432, 5, 15, 90, 10,
                          5024, &rep, 1};
    struct top_redis b = a;
    b.commands = 3000, b.hits = 180, b.misses = 20;
    struct top_proxy pa = {true, 100, 1000, 2, 3}, pb = {true, 110, 6000, 2, 3};
    struct top_sample prev = {1000, &a, 1, &pa, 1}, cur = {3000, &b, 1, &pb, 1};

    struct strbuf sb = {0};
    top_render_text(&sp, &prev, &cur, &sb);
    CHECK_CONTAINS(sb_str(&sb), "alpha        127.0.0.1:7001            1000");
    CHECK_CONTAINS(sb_str(&sb), "1.0M/32.0M");
    CHECK_CONTAINS(sb_str(&sb), "90%");
    CHECK_CONTAINS(sb_str(&sb), "127.0.0.1:7002 1.0K 1s");
    CHECK_CONTAINS(sb_str(&sb), "127.0.0.1:22121            500");
    sb_release(&sb);
    top_render_text(&sp, NULL, &cur, &sb); /* one observation: no rate */
    CHECK_CONTAINS(sb_str(&sb), "127.0.0.1:7001               -");
    sb_release(&sb);

    char *doc = top_render_json(&sp, &prev, &cur);
    json_t *j = json_loads(doc, 0, NULL);
    CHECK(j != NULL);
    json_t *s0 = json_array_get(json_object_get(j, "shards"), 0);
    CHECK(json_real_value(json_object_get(s0, "ops_per_sec")) == 1000.0);
    CHECK(json_real_value(json_object_get(s0, "hit_rate")) == 0.9);
    json_t *r0 = json_array_get(json_object_get(s0, "replicas"), 0);
    CHECK(json_integer_value(json_object_get(r0, "lag_bytes")) == 1024);
    json_t *p0 = json_array_get(json_object_get(j, "proxies"), 0);
    CHECK(json_real_value(json_object_get(p0, "requests_per_sec")) == 500.0);
    CHECK(json_integer_value(json_object_get(j, "interval_ms")) == 2000);
    json_decref(j);
    free(doc);

    /* another master since the last sample: no rate across the failover */
    b.addr = "127.0.0.1:7002";
    doc = top_render_json(&sp, &prev, &cur);
    j = json_loads(doc, 0, NULL);
    s0 = json_array_get(json_object_get(j, "shards"), 0);
    CHECK(json_is_null(json_object_get(s0, "ops_per_sec")));
    json_decref(j);
    free(doc);
}

int main(void)
{
    RUN(info_of_a_master);
    RUN(proxy_stats);
    RUN(rates_from_two_observations);
    RUN(frames_text_and_json);
    return test_done();
}
