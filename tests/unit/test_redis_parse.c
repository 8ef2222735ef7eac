/* test_redis_parse.c - INFO text, Sentinel replies, nutcracker stats into the model */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "redis_parse.h"
#include "test.h"
#include "util.h"

/* trimmed from a real Redis 7.0.15 master's INFO */
static const char info_master[] =
    "# Server\r\n"
    "redis_version:7.0.15\r\n"
    "redis_mode:standalone\r\n"
    "process_id:48213\r\n"
    "run_id:4c46cae3cd5c634a5610e3bd8644863fd2d970b4\r\n"
    "executable:/opt/redis-7.0/redis-server\r\n"
    "tcp_port:17001\r\n"
    "\r\n"
    "# Persistence\r\n"
    "loading:0\r\n"
    "async_loading:0\r\n"
    "\r\n"
    "# Replication\r\n"
    "role:master\r\n"
    "connected_slaves:2\r\n"
    "slave0:ip=127.0.0.1,port=17002,state=online,offset=314,lag=1\r\n"
    "slave1:ip=127.0.0.2,port=17003,state=wait_bgsave,offset=0,lag=0\r\n"
    "master_failover_state:no-failover\r\n"
    "master_replid:849dab6825712667045c3246382f554a14434d9e\r\n"
    "master_repl_offset:314\r\n"
    "second_repl_offset:-1\r\n"
    "\r\n"
    "# Keyspace\r\n"
    "db0:keys=12,expires=0,avg_ttl=0\r\n"
    "db3:keys=30,expires=1,avg_ttl=100\r\n";

static const char info_replica[] =
    "# Server\r\n"
    "run_id:fbde049fd74a9fdd3d7a56b670ee30766f682d73\r\n"
    "# Persistence\r\n"
    "loading:1\r\n"
    "# Replication\r\n"
    "role:slave\r\n"
    "master_host:127.0.0.1\r\n"
    "master_port:17001\r\n"
    "master_link_status:up\r\n"
    "master_last_io_seconds_ago:1\r\n"
    "slave_read_repl_offset:314\r\n"
    "slave_repl_offset:310\r\n"
    "slave_priority:100\r\n"
    "connected_slaves:0\r\n"
    "master_repl_offset:314\r\n"
    "# Keyspace\r\n";

static void release_info(struct obs_redis *r)
{
    free(r->run_id);
    obs_build_release(&r->build);
    free(r->role);
    free(r->master_host);
    free(r->master_link_status);
    for (size_t i = 0; i < r->nreplicas; i++) {
        free(r->replicas[i].ip);
        free(r->replicas[i].state);
    }
    free(r->replicas);
    memset(r, 0, sizeof(*r));
}

TEST(info_master_fields)
{
    struct obs_redis r = {0};
    char *err = NULL;
    CHECK_INT_EQ(redis_parse_info(info_master, &r, &err), 0);
    CHECK_STR_EQ(r.run_id, "4c46cae3cd5c634a5610e3bd8644863fd2d970b4");
    CHECK_STR_EQ(r.build.version, "7.0.15");
    CHECK_STR_EQ(r.build.executable, "/opt/redis-7.0/redis-server");
    CHECK_INT_EQ(r.build.pid, 48213);
    CHECK_STR_EQ(r.role, "master");
    CHECK(r.master_host == NULL);
    CHECK_INT_EQ(r.connected_slaves, 2);
    CHECK_INT_EQ(r.master_repl_offset, 314);
    CHECK_INT_EQ(r.keys, 42);
    CHECK(!r.loading);
    CHECK_INT_EQ(r.nreplicas, 2);
    if (r.nreplicas == 2) {
        CHECK_STR_EQ(r.replicas[0].ip, "127.0.0.1");
        CHECK_INT_EQ(r.replicas[0].port, 17002);
        CHECK_STR_EQ(r.replicas[0].state, "online");
        CHECK_INT_EQ(r.replicas[0].offset, 314);
        CHECK_STR_EQ(r.replicas[1].ip, "127.0.0.2");
        CHECK_STR_EQ(r.replicas[1].state, "wait_bgsave");
    }
    release_info(&r);
}

TEST(info_replica_fields)
{
    struct obs_redis r = {0};
    char *err = NULL;
    CHECK_INT_EQ(redis_parse_info(info_replica, &r, &err), 0);
    CHECK_STR_EQ(r.role, "slave");
    CHECK_STR_EQ(r.master_host, "127.0.0.1");
    CHECK_INT_EQ(r.master_port, 17001);
    CHECK_STR_EQ(r.master_link_status, "up");
    CHECK_INT_EQ(r.slave_repl_offset, 310);
    CHECK_INT_EQ(r.master_repl_offset, 314);
    CHECK_INT_EQ(r.keys, 0);
    CHECK(r.loading);
    CHECK_INT_EQ(r.nreplicas, 0);
    release_info(&r);
}

TEST(info_without_role_or_with_junk)
{
    struct obs_redis r = {0};
    char *err = NULL;
    /* a sentinel's INFO server has no replication section */
    CHECK_INT_EQ(redis_parse_info("# Server\nredis_mode:sentinel\nrun_id:abc\n", &r, &err), -1);
    CHECK_STR_EQ(r.run_id, "abc");
    CHECK_STR_EQ(err, "INFO has no role: not a redis server (a sentinel?)");
    free(err);
    release_info(&r);
    CHECK_INT_EQ(redis_parse_info("", &r, &err), -1);
    free(err);
    CHECK_INT_EQ(redis_parse_info(NULL, &r, &err), -1);
    free(err);
    /* LF only, no final newline, bad numbers ignored, slave line without ip skipped */
    CHECK_INT_EQ(redis_parse_info("role:slave\nmaster_port:x\nslave0:port=1\n"
                                  "slaveX:ip=1.2.3.4\ndb0:keys=3\nmaster_host:h", &r, &err), 0);
    CHECK_STR_EQ(r.master_host, "h");
    CHECK_INT_EQ(r.master_port, 0);
    CHECK_INT_EQ(r.nreplicas, 0);
    CHECK_INT_EQ(r.keys, 3);
    release_info(&r);
}

/*
 * Issue 14 finding 7: key counts that wrapped the sum negative let a
 * replica holding data pass for empty. The sum saturates, and a count
 * no server reports is an observation error, never "0 keys".
 */
TEST(info_key_counts_never_wrap_or_vanish)
{
    static const char *const absurd[] = {
        "role:slave\ndb0:keys=4611686018427387904,expires=0\n"
        "db1:keys=4611686018427387904,expires=0\n", /* 2^62 twice: wrapped to -2^63 */
        "role:slave\ndb0:keys=9223372036854775807\ndb1:keys=1\n",
        "role:slave\ndb0:keys=99999999999999999999\n", /* past long long */
        "role:slave\ndb0:keys=-3,expires=0\n",         /* was ignored: 0 keys */
        "role:slave\ndb0:keys=lots\n",
        "role:slave\ndb0:expires=0\n",
    };
    for (size_t i = 0; i < sizeof(absurd) / sizeof(*absurd); i++) {
        struct obs_redis r = {0};
        char *err = NULL;
        CHECK_INT_EQ(redis_parse_info(absurd[i], &r, &err), -1);
        CHECK_CONTAINS(err, "INFO db");
        CHECK_CONTAINS(err, "no plausible key count");
        CHECK(r.keys > 0);
        free(err);
        release_info(&r);
    }
    /* the largest plausible counts add up without wrapping */
    struct strbuf sb = {0};
    sb_add(&sb, "role:slave\n");
    for (int db = 0; db < 10000; db++)
        sb_addf(&sb, "db%d:keys=1099511627776,expires=0\n", db);
    struct obs_redis r = {0};
    char *err = NULL;
    CHECK_INT_EQ(redis_parse_info(sb_str(&sb), &r, &err), 0);
    CHECK_INT_EQ(r.keys, 10000LL * 1099511627776LL);
    release_info(&r);
    sb_release(&sb);
}

TEST(info_field)
{
    char *v = redis_info_field(info_master, "run_id");
    CHECK_STR_EQ(v, "4c46cae3cd5c634a5610e3bd8644863fd2d970b4");
    free(v);
    v = redis_info_field(info_master, "tcp_port");
    CHECK_STR_EQ(v, "17001");
    free(v);
    CHECK(redis_info_field(info_master, "run") == NULL);
    CHECK(redis_info_field(NULL, "run_id") == NULL);
}

/* ------------------------------------------------ hand-built reply trees */

static redisReply *rstr(const char *s)
{
    redisReply *r = xcalloc(1, sizeof(*r));
    r->type = REDIS_REPLY_STRING;
    r->str = xstrdup(s);
    r->len = strlen(s);
    return r;
}

static redisReply *rerr(const char *s)
{
    redisReply *r = rstr(s);
    r->type = REDIS_REPLY_ERROR;
    return r;
}

static redisReply *rinteger(long long v)
{
    redisReply *r = xcalloc(1, sizeof(*r));
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    return r;
}

/* An array of n replies. */
static redisReply *rarr(size_t n, ...)
{
    redisReply *r = xcalloc(1, sizeof(*r));
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = xcalloc(n ? n : 1, sizeof(*r->element));
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        r->element[i] = va_arg(ap, redisReply *);
    va_end(ap);
    return r;
}

/* A flat name/value array from a NULL-terminated list of strings. */
static redisReply *rflat(const char *first, ...)
{
    redisReply *r = xcalloc(1, sizeof(*r));
    size_t cap = 0;
    r->type = REDIS_REPLY_ARRAY;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        VEC_GROW(r->element, r->elements, cap);
        r->element[r->elements++] = rstr(s);
    }
    va_end(ap);
    return r;
}

static void rfree(redisReply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->elements; i++)
        rfree(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

static redisReply *master_entry(const char *name, const char *ip, const char *port,
                                const char *flags, const char *epoch)
{
    return rflat("name", name, "ip", ip, "port", port, "runid", "4c46", "flags", flags,
                 "link-pending-commands", "0", "down-after-milliseconds", "5000",
                 "role-reported", "master", "config-epoch", epoch, "num-slaves", "1",
                 "num-other-sentinels", "2", "quorum", "2", "failover-timeout", "60000",
                 "parallel-syncs", "1", NULL);
}

TEST(sentinel_masters)
{
    /* in Sentinel's hash order; parsed sorted by name */
    redisReply *reply = rarr(2, master_entry("shard2", "127.0.0.1", "17003", "s_down,master", "7"),
                             master_entry("shard1", "127.0.0.1", "17001", "master", "0"));
    struct obs_sentinel_master *m;
    size_t n;
    char *err = NULL;
    CHECK_INT_EQ(redis_parse_sentinel_masters(reply, &m, &n, &err), 0);
    CHECK_INT_EQ(n, 2);
    if (n == 2) {
        CHECK_STR_EQ(m[0].name, "shard1");
        CHECK_STR_EQ(m[0].ip, "127.0.0.1");
        CHECK_INT_EQ(m[0].port, 17001);
        CHECK_STR_EQ(m[0].flags, "master");
        CHECK_INT_EQ(m[0].quorum, 2);
        CHECK_INT_EQ(m[0].down_after_ms, 5000);
        CHECK_INT_EQ(m[0].failover_timeout_ms, 60000);
        CHECK_INT_EQ(m[0].parallel_syncs, 1);
        CHECK_INT_EQ(m[0].config_epoch, 0);
        CHECK_INT_EQ(m[0].num_other_sentinels, 2);
        CHECK(m[0].replicas == NULL && m[0].nreplicas == 0);
        CHECK_STR_EQ(m[1].name, "shard2");
        CHECK_STR_EQ(m[1].flags, "s_down,master");
        CHECK_INT_EQ(m[1].config_epoch, 7);
    }
    obs_sentinel_masters_free(m, n);
    rfree(reply);

    /* no masters monitored */
    reply = rarr(0);
    CHECK_INT_EQ(redis_parse_sentinel_masters(reply, &m, &n, &err), 0);
    CHECK_INT_EQ(n, 0);
    obs_sentinel_masters_free(m, n);
    rfree(reply);
}

TEST(sentinel_masters_bad_shapes)
{
    struct obs_sentinel_master *m;
    size_t n;
    char *err = NULL;

    CHECK_INT_EQ(redis_parse_sentinel_masters(NULL, &m, &n, &err), -1);
    free(err);
    err = NULL;

    redisReply *reply = rerr("ERR unknown command 'sentinel'");
    CHECK_INT_EQ(redis_parse_sentinel_masters(reply, &m, &n, &err), -1);
    CHECK_STR_EQ(err, "ERR unknown command 'sentinel'");
    free(err);
    err = NULL;
    rfree(reply);

    reply = rinteger(3);
    CHECK_INT_EQ(redis_parse_sentinel_masters(reply, &m, &n, &err), -1);
    CHECK_CONTAINS(err, "not an array");
    free(err);
    err = NULL;
    rfree(reply);

    reply = rarr(1, rflat("name", "x", "ip", NULL)); /* odd count */
    CHECK_INT_EQ(redis_parse_sentinel_masters(reply, &m, &n, &err), -1);
    CHECK_CONTAINS(err, "name/value");
    free(err);
    err = NULL;
    rfree(reply);

    /* an entry without name/ip is skipped; a bad port reads as 0 */
    reply = rarr(2, rflat("flags", "master", NULL),
                 rflat("name", "s", "ip", "10.0.0.1", "port", "99999", NULL));
    CHECK_INT_EQ(redis_parse_sentinel_masters(reply, &m, &n, &err), 0);
    CHECK_INT_EQ(n, 1);
    if (n == 1) {
        CHECK_INT_EQ(m[0].port, 0);
        CHECK(m[0].flags == NULL);
    }
    obs_sentinel_masters_free(m, n);
    rfree(reply);
}

TEST(sentinel_peers)
{
    redisReply *replicas = rarr(1, rflat("name", "127.0.0.1:17002", "ip", "127.0.0.1", "port",
                                         "17002", "runid", "fbde", "flags", "slave",
                                         "master-link-status", "ok", NULL));
    redisReply *sentinels =
        rarr(2,
             rflat("name", "b", "ip", "127.0.0.1", "port", "26381", "runid", "r2", "flags",
                   "s_down,sentinel", NULL),
             rflat("name", "a", "ip", "127.0.0.1", "port", "26380", "runid", "r1", "flags",
                   "sentinel", NULL));
    struct obs_sentinel_peer *p;
    size_t n;
    char *err = NULL;

    CHECK_INT_EQ(redis_parse_sentinel_peers(replicas, false, &p, &n, &err), 0);
    CHECK_INT_EQ(n, 1);
    if (n == 1) {
        CHECK_STR_EQ(p[0].ip, "127.0.0.1");
        CHECK_INT_EQ(p[0].port, 17002);
        CHECK_STR_EQ(p[0].flags, "slave");
        CHECK(p[0].runid == NULL);
    }
    obs_sentinel_peers_free(p, n);

    CHECK_INT_EQ(redis_parse_sentinel_peers(sentinels, true, &p, &n, &err), 0);
    CHECK_INT_EQ(n, 2);
    if (n == 2) {
        CHECK_INT_EQ(p[1].port, 26381);
        CHECK_STR_EQ(p[1].flags, "s_down,sentinel");
        CHECK_STR_EQ(p[0].runid, "r1");
    }
    obs_sentinel_peers_free(p, n);

    redisReply *bad = rarr(1, rstr("x"));
    CHECK_INT_EQ(redis_parse_sentinel_peers(bad, true, &p, &n, &err), -1);
    CHECK(err != NULL);
    free(err);
    rfree(bad);
    rfree(replicas);
    rfree(sentinels);
}

TEST(config_get)
{
    char *v = NULL, *err = NULL;
    redisReply *r = rarr(2, rstr("maxmemory"), rstr("268435456"));
    CHECK_INT_EQ(redis_parse_config_get(r, &v, &err), 0);
    CHECK_STR_EQ(v, "268435456");
    free(v);
    rfree(r);

    r = rarr(0);
    CHECK_INT_EQ(redis_parse_config_get(r, &v, &err), 1);
    CHECK(v == NULL);
    rfree(r);

    r = rerr("ERR unknown command 'CONFIG'");
    CHECK_INT_EQ(redis_parse_config_get(r, &v, &err), -1);
    CHECK_STR_EQ(err, "ERR unknown command 'CONFIG'");
    free(err);
    rfree(r);

    r = rarr(1, rstr("maxmemory"));
    CHECK_INT_EQ(redis_parse_config_get(r, &v, &err), -1);
    free(err);
    rfree(r);
}

TEST(mask_secret)
{
    CHECK_STR_EQ(obs_mask_secret("", "pw"), "");
    CHECK_STR_EQ(obs_mask_secret(NULL, "pw"), "");
    CHECK_STR_EQ(obs_mask_secret("pw", "pw"), CONF_SECRET_PLACEHOLDER);
    CHECK_STR_EQ(obs_mask_secret("other", "pw"), CONF_SECRET_MISMATCH);
    CHECK_STR_EQ(obs_mask_secret("pw", NULL), CONF_SECRET_MISMATCH);
    CHECK(redis_is_secret_directive("requirepass"));
    CHECK(redis_is_secret_directive("MasterAuth"));
    CHECK(!redis_is_secret_directive("maxmemory"));
    CHECK(!redis_is_secret_directive(NULL));
}

TEST(sentinel_auth_pass)
{
    /* as Sentinel 7.0 rewrites its file (quoted when needed) */
    const char *conf = "port 26379\n"
                       "sentinel monitor shard1 127.0.0.1 7001 2\n"
                       "sentinel auth-pass shard1 s3cret\n"
                       "# sentinel auth-pass shard9 s3cret\n"
                       "sentinel monitor shard2 127.0.0.1 7003 2\n"
                       "  SENTINEL auth-pass shard2 \"s3 cret\"\r\n"
                       "sentinel auth-pass shard3 other\n"
                       "sentinel auth-pass shard1 s3cret\n"
                       "sentinel auth-pass broken \"unterminated\n";
    struct obs_kv *kv = NULL;
    size_t n = redis_parse_sentinel_auth_pass(conf, "s3cret", &kv);
    CHECK_INT_EQ(n, 3);
    CHECK_STR_EQ(obs_kv_get(kv, n, "auth-pass shard1"), CONF_SECRET_PLACEHOLDER);
    CHECK_STR_EQ(obs_kv_get(kv, n, "auth-pass shard2"), CONF_SECRET_MISMATCH);
    CHECK_STR_EQ(obs_kv_get(kv, n, "auth-pass shard3"), CONF_SECRET_MISMATCH);
    CHECK(!obs_kv_get(kv, n, "auth-pass shard9"));
    for (size_t i = 0; i < n; i++) {
        CHECK(!strstr(kv[i].value, "s3cret"));
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
    n = redis_parse_sentinel_auth_pass("port 1\n", "pw", &kv);
    CHECK_INT_EQ(n, 0);
    CHECK(kv == NULL);
    CHECK(redis_is_secret_directive("auth-pass"));
    CHECK(redis_is_secret_directive("sentinel-pass")); /* sentinel.conf with auth: */
}

TEST(mask_nutcracker_auth)
{
    const char *yml = "shards:\n"
                      "  listen: 127.0.0.1:22121\n"
                      "  redis: true\n"
                      "  redis_auth: s3cret\n"
                      "  servers:\n"
                      "   - 127.0.0.1:6379:1 shard1\n";
    char *m = redis_mask_nutcracker_auth(yml, "s3cret");
    CHECK(!strstr(m, "s3cret"));
    CHECK_CONTAINS(m, "  redis_auth: " CONF_SECRET_PLACEHOLDER "\n  servers:\n");
    CHECK_CONTAINS(m, "shards:\n  listen: 127.0.0.1:22121\n");
    free(m);

    m = redis_mask_nutcracker_auth(yml, "other");
    CHECK(!strstr(m, "s3cret"));
    CHECK_CONTAINS(m, "redis_auth: " CONF_SECRET_MISMATCH "\n");
    free(m);

    /* quotes are kept, escapes understood, comments and CRLF kept */
    m = redis_mask_nutcracker_auth("p:\r\n  redis_auth: \"a\\\"b\"\r\n", "a\"b");
    CHECK_STR_EQ(m, "p:\r\n  redis_auth: \"" CONF_SECRET_PLACEHOLDER "\"\r\n");
    free(m);
    m = redis_mask_nutcracker_auth("  redis_auth: 'it''s' # pw\n", "it's");
    CHECK_STR_EQ(m, "  redis_auth: '" CONF_SECRET_PLACEHOLDER "' # pw\n");
    free(m);
    m = redis_mask_nutcracker_auth("  redis_auth: abc # note", NULL);
    CHECK_STR_EQ(m, "  redis_auth: " CONF_SECRET_MISMATCH " # note");
    free(m);

    /* nothing to mask: byte for byte */
    m = redis_mask_nutcracker_auth("a: 1\n\nb: 2", "pw");
    CHECK_STR_EQ(m, "a: 1\n\nb: 2");
    free(m);
    m = redis_mask_nutcracker_auth("a: 1\n\nb: 2", "pw");
    CHECK_STR_EQ(m, "a: 1\n\nb: 2");
    free(m);
    m = redis_mask_nutcracker_auth(NULL, "pw");
    CHECK_STR_EQ(m, "");
    free(m);
}

/* a hand-edited nutcracker.yml: every YAML form of the key and value is masked */
TEST(mask_nutcracker_auth_any_yaml_form)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"p:\n  redis_auth : s3cret\n", "p:\n  redis_auth : <secret>\n"},
        {"p:\n  \"redis_auth\": s3cret\n", "p:\n  \"redis_auth\": <secret>\n"},
        {"p:\n  'redis_auth': oldpw\n", "p:\n  'redis_auth': <secret-mismatch>\n"},
        {"p: {listen: 1, redis_auth: s3cret}\n", "p: {listen: 1, redis_auth: <secret>}\n"},
        {"p:\n  redis_auth:\n    oldpw\n  x: 1\n", "p:\n  redis_auth:\n    <secret-mismatch>\n  x: 1\n"},
        {"p:\n  redis_auth: |-\n    s3cret\n\n  x: 1\n", "p:\n  redis_auth: <secret>\n\n  x: 1\n"},
        {"p:\n  redis_auth: >\r\n    oldpw\r\n", "p:\n  redis_auth: <secret-mismatch>\r\n"},
        {"p:\n  redis_auth: \"old\n    pw\"\n", "p:\n  redis_auth: \"<secret-mismatch>\"\n"},
        {"p:\n  redis_auth: !!str s3cret\n", "p:\n  redis_auth: !!str <secret>\n"},
        {"x: &a oldpw\np:\n  redis_auth: *a\n", "x: &a <secret-mismatch>\np:\n  redis_auth: *a\n"},
        {"p:\n  redis_auth:\n  - oldpw\n  x: 1\n", "p:\n  redis_auth:\n  - <secret-mismatch>\n  x: 1\n"},
        {"p:\n  redis_auth: {a: oldpw}\n", "p:\n  redis_auth: {<secret-mismatch>: <secret-mismatch>}\n"},
        /* not YAML: line by line from the error on, and the password never */
        {"p:\n  redis_auth: s3cret\n  x: [\n", "p:\n  redis_auth: <secret>\n  x: [\n"},
        {"p:\n  x: [\n  {redis_auth: oldpw}\n", "p:\n  x: [\n  {redis_auth: <secret-mismatch>}\n"},
        {"p:\n  x: [\n  \xff{redis_auth: oldpw}\n", "p:\n  x: [\n  \xff{redis_auth: <secret-mismatch>\n"},
        {"p: \xff\n  k: s3cret\n", "p: \xff\n  k: <secret>\n"},
        {"p:\n  other_key: s3cret\n", "p:\n  other_key: <secret>\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *m = redis_mask_nutcracker_auth(cases[i].in, "s3cret");
        CHECK_STR_EQ(m, cases[i].want);
        CHECK(!strstr(m, "s3cret") && !strstr(m, "oldpw") && !strstr(m, "old\n"));
        free(m);
    }
}

TEST(nutcracker_servers)
{
    const char *yml = "# generated by rmgr\n"
                      "shards:\n"
                      "  listen: 127.0.0.1:22121\n"
                      "  servers:\n"
                      "   - 127.0.0.1:6379:1 shard1\n"
                      "   - \"10.0.0.2:6380:1 shard2\"\n"
                      "   - 10.0.0.3:6381:1\n"
                      "   - junk\n"
                      "  timeout: 400\n"
                      "other:\n"
                      "  servers:\n"
                      "  - ::1:7000:1 v6\n";
    struct nc_server *s;
    size_t n = redis_parse_nutcracker_servers(yml, &s);
    CHECK_INT_EQ(n, 4);
    if (n == 4) {
        CHECK_STR_EQ(s[0].name, "shard1");
        CHECK_STR_EQ(s[0].ip, "127.0.0.1");
        CHECK_INT_EQ(s[0].port, 6379);
        CHECK_STR_EQ(s[1].name, "shard2");
        CHECK_STR_EQ(s[1].ip, "10.0.0.2");
        CHECK_INT_EQ(s[1].port, 6380);
        CHECK(s[2].name == NULL);
        CHECK_INT_EQ(s[2].port, 6381);
        CHECK_STR_EQ(s[3].ip, "::1");
        CHECK_INT_EQ(s[3].port, 7000);
    }
    nc_servers_free(s, n);
    CHECK_INT_EQ(redis_parse_nutcracker_servers("timeout: 1\n- 1.2.3.4:5:1 x\n", &s), 0);
    nc_servers_free(s, 0);
}

TEST(proxy_stats)
{
    long long up = -1, ts = -1;
    char *err = NULL;
    const char *json = "{\"service\":\"nutcracker\", \"source\":\"vm\", \"version\":\"0.5.0\", "
                       "\"uptime\":42, \"timestamp\":1795572148, \"total_connections\":1, "
                       "\"pool\": {\"client_eof\":0, \"shard1\": {\"requests\":0}}}";
    CHECK_INT_EQ(redis_parse_proxy_stats(json, &up, &ts, &err), 0);
    CHECK_INT_EQ(up, 42);
    CHECK_INT_EQ(ts, 1795572148);
    char *v = redis_parse_proxy_version(json);
    CHECK_STR_EQ(v, "0.5.0");
    free(v);
    CHECK(redis_parse_proxy_version("{\"version\":5}") == NULL);
    CHECK(redis_parse_proxy_version("{\"uptime\":1") == NULL);
    CHECK(redis_parse_proxy_version(NULL) == NULL);
    v = redis_parse_program_version("Redis server v=7.2.4 sha=00000000:0 malloc=jemalloc\n");
    CHECK_STR_EQ(v, "7.2.4");
    free(v);
    v = redis_parse_program_version("This is nutcracker-0.5.0\n\nUsage: nutcracker [-?hVdDt]");
    CHECK_STR_EQ(v, "0.5.0");
    free(v);
    CHECK(redis_parse_program_version("sh: 1: /opt/b/redis-server: not found") == NULL);
    CHECK(redis_parse_program_version(NULL) == NULL);

    CHECK_INT_EQ(redis_parse_proxy_stats("{\"uptime\":1", &up, &ts, &err), -1);
    CHECK_CONTAINS(err, "invalid stats JSON");
    free(err);
    CHECK_INT_EQ(redis_parse_proxy_stats("[1]", &up, &ts, &err), -1);
    free(err);
    CHECK_INT_EQ(redis_parse_proxy_stats("{\"uptime\":\"1\",\"timestamp\":2}", &up, &ts, &err),
                 -1);
    free(err);
    CHECK_INT_EQ(redis_parse_proxy_stats(NULL, &up, &ts, &err), -1);
    free(err);
}

TEST(reach_from_errors)
{
    char buf[128];
    CHECK_INT_EQ(redis_reach_from_io(REDIS_ERR_IO, strerror_r(ECONNREFUSED, buf, sizeof(buf))),
                 REACH_REFUSED);
    CHECK_INT_EQ(redis_reach_from_io(REDIS_ERR_IO, strerror_r(ETIMEDOUT, buf, sizeof(buf))),
                 REACH_TIMEOUT);
    CHECK_INT_EQ(redis_reach_from_io(REDIS_ERR_IO, strerror_r(EAGAIN, buf, sizeof(buf))),
                 REACH_TIMEOUT);
    CHECK_INT_EQ(redis_reach_from_io(REDIS_ERR_EOF, "Server closed the connection"),
                 REACH_ERROR);
    CHECK_INT_EQ(redis_reach_from_io(REDIS_ERR_IO, NULL), REACH_ERROR);
    CHECK(redis_error_is_auth("NOAUTH Authentication required."));
    CHECK(redis_error_is_auth("WRONGPASS invalid username-password pair or user is disabled."));
    CHECK(redis_error_is_auth("ERR invalid password"));
    CHECK(!redis_error_is_auth("ERR unknown command"));
    CHECK(!redis_error_is_auth(NULL));
}

int main(void)
{
    RUN(info_master_fields);
    RUN(info_replica_fields);
    RUN(info_without_role_or_with_junk);
    RUN(info_key_counts_never_wrap_or_vanish);
    RUN(info_field);
    RUN(sentinel_masters);
    RUN(sentinel_masters_bad_shapes);
    RUN(sentinel_peers);
    RUN(config_get);
    RUN(mask_secret);
    RUN(sentinel_auth_pass);
    RUN(mask_nutcracker_auth);
    RUN(mask_nutcracker_auth_any_yaml_form);
    RUN(nutcracker_servers);
    RUN(proxy_stats);
    RUN(reach_from_errors);
    return test_done();
}
