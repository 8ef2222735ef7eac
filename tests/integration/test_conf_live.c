/*
 * test_conf_live.c - the rendered files work with the real programs, and the
 * directive reader and value comparison agree with what Redis 7.0 reports.
 *
 * redis-server and redis-sentinel are started from the files rmgr renders
 * (daemonize yes + pidfile, as apply does), nutcracker from its rendered
 * nutcracker.yml; all on 127.0.0.1, stopped by pid at the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf.h"
#include "diag.h"
#include "harness.h"
#include "spec.h"
#include "test.h"
#include "util.h"

#define PASSWORD "s3 cr\"et\\#x'"

static struct harness *h;
static struct spec *spec;

/* redis.conf directives whose live values are compared with the spec */
static const char *redis_config_yaml =
    "redis:\n"
    "  config:\n"
    "    maxmemory: 256mb\n"
    "    maxmemory-policy: ALLKEYS-LRU\n"
    "    save: \"3600 1 300 100\"\n"
    "    appendonly: \"No\"\n"
    "    client-output-buffer-limit: replica 256mb 64mb 60\n"
    "    notify-keyspace-events: KEA\n"
    "    tls-protocols: TLSv1.2 TLSv1.3\n"
    "    repl-diskless-sync-delay: 0\n"
    "    slave-read-only: \"yes\"\n"
    "    oom-score-adj-values: 0 200 800\n"
    "    latency-tracking-info-percentiles: 50 99 99.9\n"
    "    shutdown-on-sigterm: nosave now\n"
    "    maxmemory-clients: 10%\n"
    "    list-max-listpack-size: -2\n"
    "    client-query-buffer-limit: 1gb\n"
    "    hash-max-ziplist-value: 1kb\n"
    "    dbfilename: my dump.rdb\n";

static struct spec *load_spec(void)
{
    char *yaml = xasprintf("cluster: conflive\n"
                           "defaults:\n  transport: local\n  base_dir: %s\n"
                           "auth:\n  password_env: RMGR_REDIS_TEST_CONF_PASSWORD\n"
                           "%s"
                           "shards:\n"
                           "  - name: shard1\n    master: 127.0.0.1:%d\n"
                           "  - name: shard2\n    master: 127.0.0.1:%d\n"
                           "sentinel:\n  quorum: 1\n  nodes: [127.0.0.1:%d]\n"
                           "proxies:\n  - host: 127.0.0.1\n    listen: 127.0.0.1:%d\n"
                           "    stats_port: %d\n    hash_tag: \"{}\"\n",
                           harness_dir(h), redis_config_yaml, harness_free_port(),
                           harness_free_port(), harness_free_port(), harness_free_port(),
                           harness_free_port());
    struct diags d = {0};
    struct spec *s = spec_load_buffer("conflive.yaml", yaml, strlen(yaml), &d);
    diags_print(&d, stdout);
    diags_release(&d);
    free(yaml);
    return s;
}

/* Write `text` as the instance's config file, creating its directory. */
static char *write_conf(const char *kind, int port, const char *text)
{
    char *dir = spec_instance_dir(spec, kind, port);
    char *cluster_dir = xasprintf("%s/%s", spec->defaults.base_dir, spec->cluster);
    mkdir(cluster_dir, 0700);
    mkdir(dir, 0700);
    char *path = conf_path(spec, kind, port);
    if (write_file_atomic(path, text, strlen(text), 0600) != 0)
        printf("    cannot write '%s': %s\n", path, strerror(errno));
    free(cluster_dir);
    free(dir);
    return path;
}

/* Start a daemonizing program on its config file and track it by pidfile. */
static pid_t start_daemon(const char *program, const char *kind, int port, const char *expect)
{
    char *conf = conf_path(spec, kind, port);
    char *pidfile = conf_pidfile_path(spec, kind, port);
    const char *argv[] = {program, conf, NULL};
    int status = -1;
    char *err = NULL;
    pid_t pid = -1;
    if (harness_run(argv, NULL, &err, &status) == 0 && status == 0)
        pid = harness_track_pidfile(h, pidfile, expect);
    else
        printf("    %s %s: status %d: %s\n", program, conf, status, err ? err : "");
    if (pid > 0 && !harness_wait_ping("127.0.0.1", port, 0))
        pid = -1;
    if (pid < 0) {
        char *log = conf_logfile_path(spec, kind, port);
        char *text = NULL;
        if (read_file(log, 1 << 20, &text, NULL) == 0)
            printf("    log of %s:\n%s\n", kind, text);
        free(text);
        free(log);
    }
    free(err);
    free(conf);
    free(pidfile);
    return pid;
}

/* CONFIG GET key on a redis; the value, or NULL. */
static char *config_get(int port, const char *key)
{
    char *reply = harness_redis_cmd("127.0.0.1", port, PASSWORD, "CONFIG GET %s", key);
    char *nl = reply ? strchr(reply, '\n') : NULL;
    char *v = nl ? xstrdup(nl + 1) : NULL;
    free(reply);
    return v;
}

static pid_t redis_pid[2];

TEST(redis_starts_from_rendered_conf)
{
    for (int i = 0; i < 2; i++) {
        const struct spec_addr *m = &spec->shards[i].master;
        char *text = conf_render_redis(spec, m->ip, m->port, PASSWORD);
        free(write_conf("redis", m->port, text));
        free(text);
        redis_pid[i] = start_daemon("redis-server", "redis", m->port, "redis-server");
        CHECK(redis_pid[i] > 0);
    }
    /* the quoted password works; without it the server refuses */
    char *r = harness_redis_cmd("127.0.0.1", spec->shards[0].master.port, PASSWORD, "PING");
    CHECK_STR_EQ(r, "PONG");
    free(r);
    r = harness_redis_cmd("127.0.0.1", spec->shards[0].master.port, NULL, "GET x");
    CHECK(r && str_starts_with(r, "-NOAUTH"));
    free(r);
}

TEST(live_values_equal_spec_values)
{
    int port = spec->shards[0].master.port;
    for (size_t i = 0; i < spec->nredis_config; i++) {
        const struct spec_kv *kv = &spec->redis_config[i];
        char *live = config_get(port, kv->key);
        bool eq = live && conf_value_equal(kv->key, kv->value, live);
        if (!eq)
            printf("    %s: spec '%s' live '%s'\n", kv->key, kv->value, live ? live : "(none)");
        CHECK(eq);
        free(live);
    }
    /* and a changed value is seen as different */
    char *live = config_get(port, "maxmemory");
    CHECK(live && !conf_value_equal("maxmemory", "128mb", live));
    free(live);
}

TEST(live_fixed_directives_equal_rendered_ones)
{
    int port = spec->shards[0].master.port;
    char *text = conf_render_redis(spec, "127.0.0.1", port, PASSWORD);
    size_t n = 0;
    while (conf_redis_fixed_directives[n])
        n++;
    struct obs_kv *kv;
    size_t found = conf_get_directives(text, conf_redis_fixed_directives, n, &kv);
    CHECK_INT_EQ(found, n);
    for (size_t i = 0; i < found; i++) {
        char *live = config_get(port, kv[i].key);
        bool eq = live && conf_value_equal(kv[i].key, kv[i].value, live);
        if (!eq && strcmp(kv[i].key, "requirepass") && strcmp(kv[i].key, "masterauth"))
            printf("    %s: file '%s' live '%s'\n", kv[i].key, kv[i].value, live ? live : "(none)");
        CHECK(eq);
        free(live);
    }
    obs_kv_free_array(kv, found);
    free(text);
}

TEST(config_rewrite_output_reads_back)
{
    int port = spec->shards[0].master.port;
    char *r = harness_redis_cmd("127.0.0.1", port, PASSWORD, "CONFIG REWRITE");
    CHECK_STR_EQ(r, "OK");
    free(r);

    char *path = conf_path(spec, "redis", port);
    char *text = NULL;
    CHECK(read_file(path, 1 << 20, &text, NULL) == 0);
    if (!text) {
        free(path);
        return;
    }
    CHECK_CONTAINS(text, "# Generated by CONFIG REWRITE");
    for (size_t i = 0; i < spec->nredis_config; i++) {
        const struct spec_kv *kv = &spec->redis_config[i];
        const char *key = kv->key;
        struct obs_kv *got;
        size_t n = conf_get_directives(text, &key, 1, &got);
        bool eq = n == 1 && conf_value_equal(key, kv->value, got[0].value);
        if (!eq)
            printf("    %s: spec '%s' file '%s'\n", key, kv->value, n ? got[0].value : "(none)");
        CHECK(eq);
        obs_kv_free_array(got, n);
    }

    /* change one directive in Redis' own file; Redis accepts it on restart */
    struct obs_kv set[] = {{"maxmemory", "128mb"}, {"hz", "20"}};
    char *edited = conf_set_directives(text, set, 2);
    CHECK(write_file_atomic(path, edited, strlen(edited), 0600) == 0);
    CHECK(harness_stop_pid(h, redis_pid[0]) == 0);
    redis_pid[0] = start_daemon("redis-server", "redis", port, "redis-server");
    CHECK(redis_pid[0] > 0);
    char *live = config_get(port, "maxmemory");
    CHECK_STR_EQ(live, "134217728");
    free(live);
    live = config_get(port, "hz");
    CHECK_STR_EQ(live, "20");
    free(live);
    live = config_get(port, "save");
    CHECK_STR_EQ(live, "3600 1 300 100");
    free(live);

    free(edited);
    free(text);
    free(path);
}

TEST(sentinel_starts_from_rendered_conf_and_keeps_our_lines)
{
    const struct spec_addr *node = &spec->sentinel.nodes[0];
    char *rendered = conf_render_sentinel(spec, node->ip, node->port, NULL);
    char *path = write_conf("sentinel", node->port, rendered);
    pid_t pid = start_daemon("redis-sentinel", "sentinel", node->port, "sentinel");
    CHECK(pid > 0);

    /* a monitor makes Sentinel rewrite its file */
    char *r = harness_redis_cmd("127.0.0.1", node->port, NULL, "SENTINEL MONITOR m1 127.0.0.1 %d 1",
                                spec->shards[1].master.port);
    CHECK_STR_EQ(r, "OK");
    free(r);

    char *text = NULL;
    CHECK(read_file(path, 1 << 20, &text, NULL) == 0);
    if (text) {
        CHECK_CONTAINS(text, "sentinel monitor m1 127.0.0.1");
        const char *keys[] = {"port", "bind", "dir", "pidfile", "logfile", "daemonize"};
        struct obs_kv *want, *got;
        size_t nw = conf_get_directives(rendered, keys, 6, &want);
        size_t ng = conf_get_directives(text, keys, 6, &got);
        CHECK_INT_EQ(nw, 6);
        CHECK_INT_EQ(ng, 6);
        for (size_t i = 0; i < nw && i < ng; i++) {
            bool eq = conf_value_equal(want[i].key, want[i].value, got[i].value);
            if (!eq)
                printf("    %s: rendered '%s' rewritten '%s'\n", want[i].key, want[i].value,
                       got[i].value);
            CHECK(eq);
        }
        obs_kv_free_array(want, nw);
        obs_kv_free_array(got, ng);

        /* editing a managed directive leaves Sentinel's state alone */
        struct obs_kv set[] = {{"loglevel", "verbose"}};
        char *edited = conf_set_directives(text, set, 1);
        char *want_text = xasprintf("%s%sloglevel verbose\n", text,
                                    text[0] && text[strlen(text) - 1] != '\n' ? "\n" : "");
        if (strstr(text, "\nloglevel "))
            free(want_text), want_text = NULL;
        if (want_text)
            CHECK_STR_EQ(edited, want_text);
        free(want_text);
        free(edited);
    }
    free(text);
    free(rendered);
    free(path);
}

TEST(nutcracker_runs_rendered_conf_with_auth)
{
    const struct spec_proxy *p = &spec->proxies[0];
    char *text = conf_render_nutcracker(spec, p, NULL, PASSWORD);
    struct hproc *nc = harness_start_nutcracker_conf(h, p->listen.port, p->stats_port, text);
    CHECK(nc != NULL);
    if (nc) {
        int port = p->listen.port;
        char *r = harness_redis_cmd("127.0.0.1", port, NULL, "GET a");
        CHECK(r && strstr(r, "NOAUTH"));
        free(r);
        /* keys land on both shards and read back through the proxy */
        for (int i = 0; i < 20; i++) {
            r = harness_redis_cmd("127.0.0.1", port, PASSWORD, "SET key%d v%d", i, i);
            CHECK_STR_EQ(r, "OK");
            free(r);
        }
        r = harness_redis_cmd("127.0.0.1", port, PASSWORD, "GET key7");
        CHECK_STR_EQ(r, "v7");
        free(r);
        for (int s = 0; s < 2; s++) {
            r = harness_redis_cmd("127.0.0.1", spec->shards[s].master.port, PASSWORD, "DBSIZE");
            CHECK(r && atoi(r) > 0);
            free(r);
        }
    }
    free(text);
}

int main(void)
{
    h = harness_new("conf-live");
    setenv("RMGR_REDIS_TEST_CONF_PASSWORD", PASSWORD, 1);
    spec = load_spec();
    if (!spec) {
        printf("FAIL cannot load the spec\n");
        test_failed_count++;
        harness_cleanup(h);
        return test_done();
    }
    RUN(redis_starts_from_rendered_conf);
    RUN(live_values_equal_spec_values);
    RUN(live_fixed_directives_equal_rendered_ones);
    RUN(config_rewrite_output_reads_back);
    RUN(sentinel_starts_from_rendered_conf_and_keeps_our_lines);
    RUN(nutcracker_runs_rendered_conf_with_auth);
    harness_cleanup(h);
    spec_free(spec);
    return test_done();
}
