/* test_conf.c - config rendering, directive reading/editing, value comparison */
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "diag.h"
#include "spec.h"
#include "test.h"
#include "util.h"

/* tests/fixtures/conf/spec.yaml, loaded once by main() */
static struct spec *fx;

/* A shallow copy of the fixture a test may change (never free its fields). */
static struct spec fixture_spec(void)
{
    return *fx;
}

static char *fixture_path(const char *name)
{
    const char *dir = getenv("RMGR_TESTS_DIR");
    return xasprintf("%s/fixtures/conf/%s", dir ? dir : "tests", name);
}

static void golden(const char *name, const char *actual)
{
    char *path = fixture_path(name);
    check_golden(path, actual);
    free(path);
}

/* ------------------------------------------------------------------------
 * Paths
 * ---------------------------------------------------------------------- */

TEST(paths_are_inside_the_instance_dir)
{
    struct spec s = fixture_spec();
    char *p = conf_path(&s, "redis", 6379);
    CHECK_STR_EQ(p, "/var/lib/rmgr/shop/redis-6379/redis.conf");
    free(p);
    p = conf_path(&s, "sentinel", 26379);
    CHECK_STR_EQ(p, "/var/lib/rmgr/shop/sentinel-26379/sentinel.conf");
    free(p);
    p = conf_path(&s, "proxy", 22121);
    CHECK_STR_EQ(p, "/var/lib/rmgr/shop/proxy-22121/nutcracker.yml");
    free(p);
    p = conf_pidfile_path(&s, "redis", 6379);
    CHECK_STR_EQ(p, "/var/lib/rmgr/shop/redis-6379/redis.pid");
    free(p);
    p = conf_logfile_path(&s, "sentinel", 26379);
    CHECK_STR_EQ(p, "/var/lib/rmgr/shop/sentinel-26379/sentinel.log");
    free(p);
    p = conf_pidfile_path(&s, "proxy", 22121);
    CHECK_STR_EQ(p, "/var/lib/rmgr/shop/proxy-22121/proxy.pid");
    free(p);
}

/* ------------------------------------------------------------------------
 * Rendering
 * ---------------------------------------------------------------------- */

TEST(redis_conf_matches_golden)
{
    struct spec s = fixture_spec();
    char *text = conf_render_redis(&s, "10.0.0.1", 6379, NULL);
    golden("redis.conf", text);
    CHECK(!strstr(text, "\nreplicaof"));
    CHECK(!strstr(text, "requirepass"));
    CHECK(!strstr(text, "protected-mode"));
    free(text);
}

TEST(redis_conf_with_password_matches_golden)
{
    struct spec s = fixture_spec();
    char *text = conf_render_redis(&s, "10.0.0.1", 6379, CONF_SECRET_PLACEHOLDER);
    golden("redis-auth.conf", text);
    CHECK_CONTAINS(text, "\nprotected-mode no\n");
    CHECK_CONTAINS(text, "\nrequirepass <secret>\n");
    CHECK_CONTAINS(text, "\nmasterauth <secret>\n");
    free(text);
}

TEST(redis_conf_quotes_passwords_and_values)
{
    struct spec s = fixture_spec();
    char *text = conf_render_redis(&s, "10.0.0.1", 6379, "p w\"\\\n'");
    CHECK_CONTAINS(text, "\nrequirepass \"p w\\\"\\\\\\n'\"\n");
    CHECK_CONTAINS(text, "\nnotify-keyspace-events \"\"\n");
    CHECK_CONTAINS(text, "\ntls-protocols \"TLSv1.2 TLSv1.3\"\n");
    CHECK_CONTAINS(text, "\nsave 3600 1 300 100\n");
    CHECK_CONTAINS(text, "\nclient-output-buffer-limit replica 256mb 64mb 60\n");

    /* and reads back to the same values */
    const char *keys[] = {"requirepass", "notify-keyspace-events", "tls-protocols", "save"};
    struct obs_kv *kv;
    size_t n = conf_get_directives(text, keys, 4, &kv);
    CHECK_INT_EQ(n, 4);
    if (n == 4) {
        CHECK_STR_EQ(kv[0].value, "p w\"\\\n'");
        CHECK_STR_EQ(kv[1].value, "");
        CHECK_STR_EQ(kv[2].value, "TLSv1.2 TLSv1.3");
        CHECK_STR_EQ(kv[3].value, "3600 1 300 100");
    }
    obs_kv_free_array(kv, n);
    free(text);
}

TEST(redis_conf_never_lets_fixed_directives_or_replicaof_through)
{
    struct spec s = fixture_spec();
    struct spec_kv cfg[] = {
        {"replicaof", "10.0.0.9 6379", {0, 0}}, {"SLAVEOF", "10.0.0.9 6379", {0, 0}},
        {"port", "1", {0, 0}},                  {"bind", "0.0.0.0", {0, 0}},
        {"protected-mode", "no", {0, 0}},       {"hz", "20", {0, 0}},
    };
    s.redis_config = cfg;
    s.nredis_config = ARRAY_SIZE(cfg);

    char *text = conf_render_redis(&s, "10.0.0.1", 6379, NULL);
    CHECK(!strstr(text, "\nreplicaof"));
    CHECK(!strstr(text, "SLAVEOF"));
    CHECK(!strstr(text, "port 1\n"));
    CHECK(!strstr(text, "0.0.0.0"));
    /* without a password the operator may open protected mode explicitly */
    CHECK_CONTAINS(text, "\nprotected-mode no\n");
    CHECK_CONTAINS(text, "\nhz 20\n");
    free(text);

    text = conf_render_redis(&s, "10.0.0.1", 6379, "pw");
    const char *k[] = {"protected-mode"};
    struct obs_kv *kv;
    size_t n = conf_get_directives(text, k, 1, &kv);
    CHECK_INT_EQ(n, 1);
    obs_kv_free_array(kv, n);
    /* exactly one protected-mode line */
    const char *first = strstr(text, "protected-mode");
    CHECK(first && !strstr(first + 1, "protected-mode"));
    free(text);
}

TEST(fixed_directive_list)
{
    const char *want[] = {"bind", "port", "dir", "pidfile", "logfile", "daemonize",
                          "protected-mode", "requirepass", "masterauth"};
    size_t n = 0;
    while (conf_redis_fixed_directives[n])
        n++;
    CHECK_INT_EQ(n, ARRAY_SIZE(want));
    for (size_t i = 0; i < ARRAY_SIZE(want) && i < n; i++)
        CHECK_STR_EQ(conf_redis_fixed_directives[i], want[i]);
}

TEST(fixed_directives_read_back_from_rendered_file)
{
    struct spec s = fixture_spec();
    char *text = conf_render_redis(&s, "10.0.0.1", 6379, "pw");
    size_t nfixed = 0;
    while (conf_redis_fixed_directives[nfixed])
        nfixed++;
    struct obs_kv *kv;
    size_t n = conf_get_directives(text, conf_redis_fixed_directives, nfixed, &kv);
    CHECK_INT_EQ(n, nfixed);
    CHECK_STR_EQ(obs_kv_get(kv, n, "bind"), "10.0.0.1");
    CHECK_STR_EQ(obs_kv_get(kv, n, "port"), "6379");
    CHECK_STR_EQ(obs_kv_get(kv, n, "dir"), "/var/lib/rmgr/shop/redis-6379");
    CHECK_STR_EQ(obs_kv_get(kv, n, "daemonize"), "yes");
    CHECK_STR_EQ(obs_kv_get(kv, n, "masterauth"), "pw");
    obs_kv_free_array(kv, n);
    free(text);
}

TEST(sentinel_conf_matches_golden)
{
    struct spec s = fixture_spec();
    char *text = conf_render_sentinel(&s, "10.0.0.3", 26379, NULL);
    golden("sentinel.conf", text);
    CHECK(!strstr(text, "sentinel monitor"));
    CHECK(!strstr(text, "requirepass"));
    CHECK(!strstr(text, "sentinel-pass"));
    free(text);
}

/* with auth: Sentinel demands the password and uses it to reach its peers */
TEST(sentinel_conf_with_password_matches_golden)
{
    struct spec s = fixture_spec();
    char *text = conf_render_sentinel(&s, "10.0.0.3", 26379, "p w\"1");
    golden("sentinel-auth.conf", text);
    CHECK_CONTAINS(text, "\nrequirepass \"p w\\\"1\"\n");
    CHECK_CONTAINS(text, "\nsentinel sentinel-pass \"p w\\\"1\"\n");
    const char *keys[] = {"requirepass"};
    struct obs_kv *kv = NULL;
    size_t n = conf_get_directives(text, keys, 1, &kv);
    CHECK_INT_EQ(n, 1);
    CHECK_STR_EQ(obs_kv_get(kv, n, "requirepass"), "p w\"1");
    obs_kv_free_array(kv, n);
    free(text);
}

TEST(nutcracker_yml_matches_golden)
{
    struct spec s = fixture_spec();
    /* shard2 failed over to its replica */
    struct spec_addr masters[] = {s.shards[0].master, s.shards[1].replicas[0]};
    char *text = conf_render_nutcracker(&s, &s.proxies[0], masters, NULL);
    golden("nutcracker.yml", text);
    CHECK_CONTAINS(text, "   - 10.0.0.1:6379:1 shard1\n   - 10.0.0.1:6380:1 shard2\n");
    CHECK(!strstr(text, "redis_auth"));
    free(text);
}

TEST(nutcracker_yml_with_password_matches_golden)
{
    struct spec s = fixture_spec();
    struct spec_proxy p = s.proxies[0];
    p.hash_tag = NULL;
    p.auto_eject_hosts = true;
    char *text = conf_render_nutcracker(&s, &p, NULL, "se\"cr\\et");
    golden("nutcracker-auth.yml", text);
    CHECK_CONTAINS(text, "  redis_auth: \"se\\\"cr\\\\et\"\n");
    CHECK(!strstr(text, "hash_tag"));
    free(text);
}

TEST(nutcracker_yml_is_deterministic)
{
    struct spec s = fixture_spec();
    char *a = conf_render_nutcracker(&s, &s.proxies[0], NULL, "x");
    char *b = conf_render_nutcracker(&s, &s.proxies[0], NULL, "x");
    CHECK_STR_EQ(a, b);
    free(a);
    free(b);
}

/* ------------------------------------------------------------------------
 * conf_quote_arg / conf_format_value
 * ---------------------------------------------------------------------- */

TEST(quoting_like_config_rewrite)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", "\"\""},
        {"plain", "plain"},
        {"/var/lib/rmgr/x", "/var/lib/rmgr/x"},
        {"two words", "\"two words\""},
        {"tab\there", "\"tab\\there\""},
        {"q\"uote", "\"q\\\"uote\""},
        {"sq'uote", "\"sq'uote\""},
        {"back\\slash", "\"back\\\\slash\""},
        {"nl\nx\r", "\"nl\\nx\\r\""},
        {"\x01\x7f\xc3\xa9", "\"\\x01\\x7f\\xc3\\xa9\""},
        {"#hash", "#hash"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *q = conf_quote_arg(cases[i].in);
        CHECK_STR_EQ(q, cases[i].out);
        free(q);
    }
    char *q = conf_quote_arg(NULL);
    CHECK_STR_EQ(q, "\"\"");
    free(q);
}

TEST(format_value_splits_multi_argument_directives)
{
    static const struct {
        const char *key, *value, *out;
    } cases[] = {
        {"save", "3600 1 300 100", "3600 1 300 100"},
        {"save", "  3600   1 ", "3600 1"},
        {"save", "", "\"\""},
        {"save", "\"\"", "\"\""},
        {"SAVE", "60 10", "60 10"},
        {"bind", "127.0.0.1 -::1", "127.0.0.1 -::1"},
        {"client-output-buffer-limit", "normal 0 0 0 pubsub 32mb 8mb 60",
         "normal 0 0 0 pubsub 32mb 8mb 60"},
        {"shutdown-on-sigterm", "nosave now", "nosave now"},
        {"tls-protocols", "TLSv1.2 TLSv1.3", "\"TLSv1.2 TLSv1.3\""},
        {"unknown-directive", "a b", "\"a b\""},
        {"maxmemory", "1gb", "1gb"},
        {"logfile", "", "\"\""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *v = conf_format_value(cases[i].key, cases[i].value);
        CHECK_STR_EQ(v, cases[i].out);
        free(v);
    }
}

/* ------------------------------------------------------------------------
 * conf_get_directives
 * ---------------------------------------------------------------------- */

static char *get1(const char *text, const char *key)
{
    struct obs_kv *kv;
    size_t n = conf_get_directives(text, &key, 1, &kv);
    char *v = n ? xstrdup(kv[0].value) : NULL;
    obs_kv_free_array(kv, n);
    return v;
}

TEST(get_directives_table)
{
    static const struct {
        const char *text, *key, *value; /* value NULL: not found */
    } cases[] = {
        {"port 6379\n", "port", "6379"},
        {"  PORT   6379  \r\n", "port", "6379"},
        {"port 6379\nport 6380\n", "port", "6380"},              /* last wins */
        {"port 6379", "port", "6379"},                            /* no final newline */
        {"# port 1\nport 2\n", "port", "2"},                      /* comments */
        {"   # port 1\n", "port", NULL},
        {"portx 1\n", "port", NULL},
        {"dir \"/a b/c\"\n", "dir", "/a b/c"},
        {"dir '/a b/c'\n", "dir", "/a b/c"},
        {"requirepass \"a\\\"b\\\\c\\n\\x41\\t\"\n", "requirepass", "a\"b\\c\nA\t"},
        {"requirepass 'it\\'s'\n", "requirepass", "it's"},
        {"requirepass \"\\q\"\n", "requirepass", "q"},
        {"requirepass \"unbalanced\nport 1\n", "requirepass", NULL}, /* refused line */
        {"requirepass \"a\"b\n", "requirepass", NULL}, /* quote must end the argument */
        {"notify-keyspace-events \"\"\n", "notify-keyspace-events", ""},
        {"save 3600 1 300 100\n", "save", "3600 1 300 100"},
        {"save \"3600 1 300 100\"\n", "save", "3600 1 300 100"},
        {"save 3600   1\tsave\n", "save", "3600 1 save"},
        /* Redis accumulates save lines in a config file; save "" clears */
        {"save 900 1\nsave 300 10\n", "save", "900 1 300 10"},
        {"save 900 1\nsave \"\"\n", "save", ""},
        {"save \"\"\nsave 60 5\n", "save", "60 5"},
        {"client-output-buffer-limit normal 0 0 0\n"
         "client-output-buffer-limit replica 256mb 64mb 60\n"
         "client-output-buffer-limit pubsub 32mb 8mb 60\n"
         "client-output-buffer-limit slave 1mb 1mb 1\n",
         "client-output-buffer-limit", "normal 0 0 0 slave 1mb 1mb 1 pubsub 32mb 8mb 60"},
        /* how CONFIG REWRITE (7.0.15) left a spec's save "3600 1 300 100" */
        {"save 3600 1\nappendonly no\n\n# Generated by CONFIG REWRITE\nsave 300 100\n", "save",
         "3600 1 300 100"},
        {"bind 127.0.0.1   ::1\n", "bind", "127.0.0.1 ::1"},
        /* old names */
        {"slave-read-only no\n", "replica-read-only", "no"},
        {"replica-read-only no\n", "slave-read-only", "no"},
        {"hash-max-ziplist-value 64\n", "hash-max-listpack-value", "64"},
        {"slaveof 10.0.0.1 6379\n", "replicaof", "10.0.0.1 6379"},
        {"", "port", NULL},
        {"\n\n\n", "port", NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *v = get1(cases[i].text, cases[i].key);
        if (cases[i].value) {
            if (!v || strcmp(v, cases[i].value))
                printf("    case %zu\n", i);
            CHECK_STR_EQ(v, cases[i].value);
        } else {
            if (v)
                printf("    case %zu: unexpected \"%s\"\n", i, v);
            CHECK(v == NULL);
        }
        free(v);
    }
}

TEST(get_directives_several_keys_in_key_order)
{
    const char *text = "maxmemory 1gb\n# comment\nappendonly yes\nport 7000\n";
    const char *keys[] = {"port", "missing", "MaxMemory", "appendonly"};
    struct obs_kv *kv = NULL;
    size_t n = conf_get_directives(text, keys, 4, &kv);
    CHECK_INT_EQ(n, 3);
    if (n == 3) {
        CHECK_STR_EQ(kv[0].key, "port");
        CHECK_STR_EQ(kv[0].value, "7000");
        CHECK_STR_EQ(kv[1].key, "MaxMemory");
        CHECK_STR_EQ(kv[1].value, "1gb");
        CHECK_STR_EQ(kv[2].key, "appendonly");
        CHECK_STR_EQ(kv[2].value, "yes");
    }
    obs_kv_free_array(kv, n);

    n = conf_get_directives(text, keys, 0, &kv);
    CHECK_INT_EQ(n, 0);
    CHECK(kv == NULL);
    obs_kv_free_array(NULL, 0);
}

/* ------------------------------------------------------------------------
 * conf_set_directives
 * ---------------------------------------------------------------------- */

/* a file after Redis and Sentinel wrote to it */
static const char *rewritten_redis_conf =
    "# Generated by rmgr\n"
    "bind 10.0.0.1\n"
    "port 6379\n"
    "maxmemory 128mb\n"
    "  # indented comment  \n"
    "replicaof 10.0.0.2 6380\n"
    "save 900 1\n"
    "save 300 10\n"
    "appendonly no\n"
    "\n"
    "# Generated by CONFIG REWRITE\n"
    "user default on nopass ~* &* +@all\n"
    "MAXMEMORY 64mb\n";

TEST(set_directives_replaces_in_place_and_keeps_the_rest)
{
    struct obs_kv kv[] = {
        {"maxmemory", "256mb"},
        {"save", "3600 1 300 100"},
        {"hz", "20"},
        {"notify-keyspace-events", ""},
    };
    char *out = conf_set_directives(rewritten_redis_conf, kv, ARRAY_SIZE(kv));
    CHECK_STR_EQ(out, "# Generated by rmgr\n"
                      "bind 10.0.0.1\n"
                      "port 6379\n"
                      "maxmemory 256mb\n"
                      "  # indented comment  \n"
                      "replicaof 10.0.0.2 6380\n"
                      "save 3600 1 300 100\n"
                      "appendonly no\n"
                      "\n"
                      "# Generated by CONFIG REWRITE\n"
                      "user default on nopass ~* &* +@all\n"
                      "hz 20\n"
                      "notify-keyspace-events \"\"\n");
    /* what was set reads back */
    const char *keys[] = {"maxmemory", "save", "hz", "notify-keyspace-events", "replicaof"};
    struct obs_kv *got;
    size_t n = conf_get_directives(out, keys, 5, &got);
    CHECK_INT_EQ(n, 5);
    if (n == 5) {
        CHECK_STR_EQ(got[0].value, "256mb");
        CHECK_STR_EQ(got[1].value, "3600 1 300 100");
        CHECK_STR_EQ(got[2].value, "20");
        CHECK_STR_EQ(got[3].value, "");
        CHECK_STR_EQ(got[4].value, "10.0.0.2 6380");
    }
    obs_kv_free_array(got, n);
    free(out);
}

TEST(set_directives_keeps_sentinel_state_byte_for_byte)
{
    const char *sentinel_conf =
        "# Generated by rmgr\r\n"
        "port 26379\n"
        "bind 10.0.0.3\n"
        "dir \"/var/lib/rmgr/shop/sentinel-26379\"\n"
        "daemonize yes\n"
        "sentinel myid 5a0c9d6d1d0d5d0c8b2e0e5f3a6e7b8c9d0e1f2a\n"
        "sentinel monitor shard1 10.0.0.1 6379 2\n"
        "sentinel auth-pass shard1 \"secret\"\n"
        "latency-tracking-info-percentiles 50 99 99.9\n"
        "sentinel config-epoch shard1 3\n"
        "sentinel leader-epoch shard1 3\n"
        "sentinel known-replica shard1 10.0.0.2 6379\n"
        "sentinel known-sentinel shard1 10.0.0.4 26379 "
        "8e1b2c3d4e5f60718293a4b5c6d7e8f901234567\n"
        "sentinel current-epoch 3\n"
        "\ttrailing\ttab line";
    struct obs_kv kv[] = {{"logfile", "/var/lib/rmgr/shop/sentinel-26379/sentinel.log"},
                          {"daemonize", "yes"}};
    char *out = conf_set_directives(sentinel_conf, kv, 2);
    char *want = xasprintf("%s\nlogfile /var/lib/rmgr/shop/sentinel-26379/sentinel.log\n",
                           sentinel_conf);
    CHECK_STR_EQ(out, want);
    free(want);
    free(out);
}

TEST(set_directives_edge_cases)
{
    /* nothing to do: identical bytes */
    char *out = conf_set_directives(rewritten_redis_conf, NULL, 0);
    CHECK_STR_EQ(out, rewritten_redis_conf);
    free(out);

    /* empty input */
    struct obs_kv one[] = {{"port", "6379"}};
    out = conf_set_directives("", one, 1);
    CHECK_STR_EQ(out, "port 6379\n");
    free(out);

    /* no final newline before an appended directive */
    out = conf_set_directives("bind 1.2.3.4", one, 1);
    CHECK_STR_EQ(out, "bind 1.2.3.4\nport 6379\n");
    free(out);

    /* the old name in the file is replaced by the name asked for */
    struct obs_kv ro[] = {{"replica-read-only", "yes"}};
    out = conf_set_directives("slave-read-only no\nport 1\n", ro, 1);
    CHECK_STR_EQ(out, "replica-read-only yes\nport 1\n");
    free(out);

    /* a NULL value removes every occurrence */
    struct obs_kv rm[] = {{"maxmemory", NULL}};
    out = conf_set_directives("maxmemory 1\nport 1\nmaxmemory 2\n", rm, 1);
    CHECK_STR_EQ(out, "port 1\n");
    free(out);

    /* a key listed twice is written once */
    struct obs_kv twice[] = {{"hz", "10"}, {"HZ", "20"}};
    out = conf_set_directives("port 1\n", twice, 2);
    CHECK_STR_EQ(out, "port 1\nhz 10\n");
    free(out);

    /* values that need quotes */
    struct obs_kv q[] = {{"requirepass", "a b\"c"}, {"bind", "10.0.0.1 ::1"}};
    out = conf_set_directives("requirepass old\n", q, 2);
    CHECK_STR_EQ(out, "requirepass \"a b\\\"c\"\nbind 10.0.0.1 ::1\n");
    free(out);

    /* a line Redis would refuse is left alone (and not taken for the key) */
    struct obs_kv p[] = {{"dir", "/x"}};
    out = conf_set_directives("dir \"/unterminated\n", p, 1);
    CHECK_STR_EQ(out, "dir \"/unterminated\ndir /x\n");
    free(out);
}

/* ------------------------------------------------------------------------
 * conf_value_equal
 * ---------------------------------------------------------------------- */

TEST(value_equal_table)
{
    static const struct {
        const char *key, *a, *b;
        bool equal;
    } cases[] = {
        /* memory units */
        {"maxmemory", "268435456", "256mb", true},
        {"maxmemory", "256MB", "256mb", true},
        {"maxmemory", "256Mb", "268435456", true},
        {"maxmemory", "1k", "1000", true},
        {"maxmemory", "1kb", "1024", true},
        {"maxmemory", "1m", "1000000", true},
        {"maxmemory", "1mb", "1048576", true},
        {"maxmemory", "1g", "1000000000", true},
        {"maxmemory", "1gb", "1073741824", true},
        {"maxmemory", "1G", "1gb", false},
        {"maxmemory", "1k", "1kb", false},
        {"maxmemory", "100b", "100", true},
        {"maxmemory", "0", "00", true},
        {"maxmemory", "0", "0mb", true},
        {"maxmemory", "256mb", "256", false},
        {"maxmemory", "1.5gb", "1610612736", false},
        {"maxmemory", "-1", "-1", true},
        {"maxmemory", "junk", "Junk", false},
        {"repl-backlog-size", "1mb", "1048576", true},
        {"client-query-buffer-limit", "1gb", "1073741824", true},
        {"hash-max-ziplist-value", "1kb", "1024", true},
        {"maxmemory-clients", "10%", "10%", true},
        {"maxmemory-clients", "10%", "010%", true},
        {"maxmemory-clients", "10%", "10", false},
        {"maxmemory-clients", "1kb", "1024", true},
        /* yes/no */
        {"appendonly", "YES", "yes", true},
        {"appendonly", "No", "no", true},
        {"appendonly", "yes", "no", false},
        {"appendonly", "yes", "1", false},
        {"slave-read-only", "YES", "yes", true},
        /* enums */
        {"maxmemory-policy", "ALLKEYS-LRU", "allkeys-lru", true},
        {"maxmemory-policy", "allkeys-lru", "allkeys-lfu", false},
        {"loglevel", "Notice", "notice", true},
        {"oom-score-adj", "yes", "relative", true},
        {"oom-score-adj", "no", "relative", false},
        {"shutdown-on-sigterm", "nosave now", "NOW nosave", true},
        {"shutdown-on-sigterm", "default", "", true},
        {"shutdown-on-sigterm", "save", "nosave", false},
        /* integers */
        {"hz", "10", "010", true},
        {"hz", "+10", "10", true},
        {"timeout", "0", "00", true},
        {"timeout", "0", "", false},
        {"hz", "10", "10k", false},
        {"list-max-listpack-size", "-2", "-02", true},
        {"unixsocketperm", "700", "0700", true},
        {"unixsocketperm", "700", "448", false},
        /* save */
        {"save", "", "\"\"", true},
        {"save", "", "", true},
        {"save", "3600 1 300 100", "3600 1  300 100", true},
        {"save", " 3600 1 300 100 ", "3600 1 300 100", true},
        {"save", "3600 1 300 100", "3600 1", false},
        {"save", "3600 1", "", false},
        {"save", "3600 01", "3600 1", true},
        /* client-output-buffer-limit */
        {"client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
         "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60", true},
        {"client-output-buffer-limit", "replica 256mb 64mb 60",
         "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", true},
        {"client-output-buffer-limit", "replica 256mb 64mb 61",
         "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", false},
        /* CONFIG REWRITE kept only "normal 0 0 0" of a spec naming the default replica limits */
        {"client-output-buffer-limit", "replica 256mb 64mb 60", "normal 0 0 0", true},
        {"client-output-buffer-limit", "master 1 1 1", "master 1 1 1", true}, /* same text */
        {"client-output-buffer-limit", "master 1 1 1", "master 1 1 01", false},
        /* lists */
        {"bind", "127.0.0.1  ::1", "127.0.0.1 ::1", true},
        {"bind", "::1 127.0.0.1", "127.0.0.1 ::1", false},
        {"oom-score-adj-values", "0 200 800", "0  200 0800", true},
        {"latency-tracking-info-percentiles", "50 99 99.9", "50.0 99 99.90", true},
        {"latency-tracking-info-percentiles", "50 99", "50 99 99.9", false},
        {"replicaof", "NO ONE", "no one", true},
        /* notify-keyspace-events */
        {"notify-keyspace-events", "KEA", "AKE", true},
        {"notify-keyspace-events", "Ex", "xE", true},
        {"notify-keyspace-events", "g$lshzxetdKE", "AKE", true},
        {"notify-keyspace-events", "Ex", "Ee", false},
        {"notify-keyspace-events", "", "\"\"", false},
        /* strings are exact */
        {"dir", "/var/lib/x", "/var/lib/x", true},
        {"dir", "/var/lib/x", "/var/lib/x/", false},
        {"dbfilename", "dump.rdb", "DUMP.RDB", false},
        {"requirepass", "a b", "a  b", false},
        {"tls-protocols", "TLSv1.2 TLSv1.3", "TLSv1.2  TLSv1.3", false},
        /* unknown directives: only the obvious */
        {"mymodule.flag", "YES", "yes", true},
        {"mymodule.size", "010", "10", true},
        {"mymodule.size", "1kb", "1024", false},
        {"mymodule.name", "Abc", "abc", false},
        /* NULL */
        {"maxmemory", NULL, NULL, true},
        {"maxmemory", NULL, "0", false},
        {"maxmemory", "0", NULL, false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bool got = conf_value_equal(cases[i].key, cases[i].a, cases[i].b);
        bool back = conf_value_equal(cases[i].key, cases[i].b, cases[i].a);
        if (got != cases[i].equal || back != got)
            printf("    case %zu: %s '%s' vs '%s': got %d/%d, want %d\n", i, cases[i].key,
                   cases[i].a ? cases[i].a : "(null)", cases[i].b ? cases[i].b : "(null)", got,
                   back, cases[i].equal);
        CHECK(got == cases[i].equal);
        CHECK(back == got);
    }
}

TEST(rendered_values_equal_their_spec_values)
{
    /* what the planner does: spec value vs the value read back from the file */
    struct spec s = fixture_spec();
    char *text = conf_render_redis(&s, "10.0.0.1", 6379, NULL);
    for (size_t i = 0; i < s.nredis_config; i++) {
        const char *key = s.redis_config[i].key;
        char *v = get1(text, key);
        CHECK(v != NULL);
        if (v && !conf_value_equal(key, s.redis_config[i].value, v))
            printf("    %s: '%s' vs '%s'\n", key, s.redis_config[i].value, v);
        CHECK(v && conf_value_equal(key, s.redis_config[i].value, v));
        free(v);
    }
    free(text);
}

int main(void)
{
    char *spec_path = fixture_path("spec.yaml");
    struct diags d = {0};
    fx = spec_load_file(spec_path, &d);
    diags_print(&d, stdout);
    diags_release(&d);
    free(spec_path);
    if (!fx) {
        printf("FAIL cannot load the spec fixture\n");
        test_failed_count++;
        return test_done();
    }
    RUN(paths_are_inside_the_instance_dir);
    RUN(redis_conf_matches_golden);
    RUN(redis_conf_with_password_matches_golden);
    RUN(redis_conf_quotes_passwords_and_values);
    RUN(redis_conf_never_lets_fixed_directives_or_replicaof_through);
    RUN(fixed_directive_list);
    RUN(fixed_directives_read_back_from_rendered_file);
    RUN(sentinel_conf_matches_golden);
    RUN(sentinel_conf_with_password_matches_golden);
    RUN(nutcracker_yml_matches_golden);
    RUN(nutcracker_yml_with_password_matches_golden);
    RUN(nutcracker_yml_is_deterministic);
    RUN(quoting_like_config_rewrite);
    RUN(format_value_splits_multi_argument_directives);
    RUN(get_directives_table);
    RUN(get_directives_several_keys_in_key_order);
    RUN(set_directives_replaces_in_place_and_keeps_the_rest);
    RUN(set_directives_keeps_sentinel_state_byte_for_byte);
    RUN(set_directives_edge_cases);
    RUN(value_equal_table);
    RUN(rendered_values_equal_their_spec_values);
    spec_free(fx);
    return test_done();
}
