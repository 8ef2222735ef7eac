/*
 * test_observe.c - observe_cluster() against real processes: 2 shards
 * (master + linked replica), 3 sentinels, 1 nutcracker; dead addresses cost
 * one timeout in parallel; passwords give "authentication failed" and never
 * enter the model. The one event loop: many silent addresses cost one
 * timeout, AUTH to sentinels without a password is tolerated, and error
 * replies in a pipeline land on the address that sent them.
 */
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster_fixture.h"
#include "conf.h"
#include "observe.h"
#include "observed.h"
#include "spec.h"
#include "test.h"

static struct harness *H;
static struct fx_cluster C;

static struct spec *load_spec(const char *yaml)
{
    struct diags d = {0};
    struct spec *s = spec_load_buffer("test.yaml", yaml, strlen(yaml), &d);
    if (!s)
        diags_print(&d, stdout);
    diags_release(&d);
    return s;
}

/* The fixture's cluster (named "obs") and `extra_shards` (may be NULL) as a spec, or NULL. */
static struct spec *fixture_spec(const char *extra_shards)
{
    char *yaml = fx_spec_yaml(&C, "obs", NULL, extra_shards);
    struct spec *s = load_spec(yaml);
    free(yaml);
    return s;
}

static const struct obs_sentinel_master *find_master(const struct obs_sentinel *s,
                                                     const char *name)
{
    for (size_t i = 0; i < s->nmasters; i++)
        if (!strcmp(s->masters[i].name, name))
            return &s->masters[i];
    return NULL;
}

/* Write what rmgr would install: <dir>/redis.conf or nutcracker.yml. */
static void install_file(const struct spec *s, const char *kind, int port, const char *text)
{
    char *dir = spec_instance_dir(s, kind, port);
    char *cmd = xasprintf("mkdir -p '%s'", dir);
    CHECK(system(cmd) == 0);
    char *path = conf_path(s, kind, port);
    CHECK(write_file_atomic(path, text, strlen(text), 0600) == 0);
    free(path);
    free(cmd);
    free(dir);
}

static void install_redis_files(const struct spec *s, int port, const char *password)
{
    char *text = conf_render_redis(s, HARNESS_IP, port, password);
    install_file(s, "redis", port, text);
    free(text);
}

static void install_proxy_files(const struct spec *s, const char *password)
{
    char *text = conf_render_nutcracker(s, &s->proxies[0], NULL, password);
    install_file(s, "proxy", s->proxies[0].listen.port, text);
    free(text);
}

TEST(observes_the_whole_cluster)
{
    struct spec *s = fixture_spec(NULL);
    CHECK(s != NULL);
    if (!s)
        return;
    install_redis_files(s, hproc_port(C.master[0]), NULL);
    install_proxy_files(s, NULL);

    struct observe_options o = {.connect_timeout_ms = 1000, .command_timeout_ms = 2000};
    struct observed *obs = observe_cluster(s, &o);
    CHECK_INT_EQ(obs->nredis, 4);
    CHECK_INT_EQ(obs->nsentinels, 3);
    CHECK_INT_EQ(obs->nproxies, 1);
    CHECK(obs->took_ms >= 0 && obs->took_ms < 2000);

    for (int i = 0; i < FX_SHARDS && obs->nredis == 4; i++) {
        const struct obs_redis *m = &obs->redis[2 * i], *r = &obs->redis[2 * i + 1];
        CHECK_INT_EQ(m->port, hproc_port(C.master[i]));
        CHECK_INT_EQ(m->reach, REACH_OK);
        CHECK_STR_EQ(m->role, "master");
        CHECK(m->run_id && strlen(m->run_id) == 40);
        CHECK_INT_EQ(m->connected_slaves, 1);
        CHECK_INT_EQ(m->nreplicas, 1);
        if (m->nreplicas == 1) {
            CHECK_INT_EQ(m->replicas[0].port, hproc_port(C.replica[i]));
            CHECK_STR_EQ(m->replicas[0].state, "online");
        }
        CHECK_STR_EQ(obs_kv_get(m->config, m->nconfig, "maxmemory"), "0");
        CHECK_STR_EQ(obs_kv_get(m->config, m->nconfig, "appendonly"), "no");
        CHECK_STR_EQ(obs_kv_get(m->config, m->nconfig, "requirepass"), "");
        CHECK_STR_EQ(obs_kv_get(m->config, m->nconfig, "masterauth"), "");

        CHECK_INT_EQ(r->port, hproc_port(C.replica[i]));
        CHECK_INT_EQ(r->reach, REACH_OK);
        CHECK_STR_EQ(r->role, "slave");
        CHECK_STR_EQ(r->master_host, "127.0.0.1");
        CHECK_INT_EQ(r->master_port, hproc_port(C.master[i]));
        CHECK_STR_EQ(r->master_link_status, "up");
        CHECK(r->files.checked);
        CHECK(!r->files.dir_present);
        CHECK(!r->files.conf_present);
    }

    /* files of master 1: rendered by conf_render_redis, read back */
    const struct obs_redis *m1 = &obs->redis[0];
    CHECK(m1->files.checked);
    CHECK(m1->files.dir_present);
    CHECK(m1->files.conf_present);
    char port[16];
    snprintf(port, sizeof(port), "%d", hproc_port(C.master[0]));
    CHECK_STR_EQ(obs_kv_get(m1->files.conf, m1->files.nconf, "port"), port);
    CHECK_STR_EQ(obs_kv_get(m1->files.conf, m1->files.nconf, "maxmemory"), "64mb");
    CHECK(obs_kv_get(m1->files.conf, m1->files.nconf, "requirepass") == NULL);

    for (size_t k = 0; k < obs->nsentinels; k++) {
        const struct obs_sentinel *sn = &obs->sentinels[k];
        CHECK_INT_EQ(sn->port, hproc_port(C.sentinel[k]));
        CHECK_INT_EQ(sn->reach, REACH_OK);
        CHECK(sn->run_id && strlen(sn->run_id) == 40);
        CHECK_INT_EQ(sn->nmasters, 2);
        CHECK(sn->files.checked && !sn->files.dir_present);
        for (int i = 0; i < FX_SHARDS; i++) {
            char name[16];
            snprintf(name, sizeof(name), "shard%d", i + 1);
            const struct obs_sentinel_master *m = find_master(sn, name);
            CHECK(m != NULL);
            if (!m)
                continue;
            CHECK_STR_EQ(m->ip, "127.0.0.1");
            CHECK_INT_EQ(m->port, hproc_port(C.master[i]));
            CHECK_STR_EQ(m->flags, "master");
            CHECK_INT_EQ(m->quorum, 2);
            CHECK_INT_EQ(m->down_after_ms, 5000);
            CHECK_INT_EQ(m->num_other_sentinels, 2);
            CHECK_INT_EQ(m->nreplicas, 1);
            if (m->nreplicas == 1)
                CHECK_INT_EQ(m->replicas[0].port, hproc_port(C.replica[i]));
            CHECK_INT_EQ(m->nsentinels, 2);
            for (size_t x = 0; x < m->nsentinels; x++) {
                CHECK(m->sentinels[x].runid && strlen(m->sentinels[x].runid) == 40);
                CHECK(m->sentinels[x].port != sn->port);
            }
        }
    }

    const struct obs_proxy *p = &obs->proxies[0];
    CHECK_INT_EQ(p->reach, REACH_OK);
    CHECK_STR_EQ(p->ip, "127.0.0.1");
    CHECK_INT_EQ(p->listen_port, hproc_port(C.proxy));
    CHECK_INT_EQ(p->stats_port, hproc_stats_port(C.proxy));
    CHECK(p->uptime_s >= 0);
    CHECK(p->timestamp_s > 1600000000);
    CHECK(p->files.checked && p->files.dir_present && p->files.conf_present);
    CHECK(p->config_present);
    CHECK(p->config_mtime_s > 1600000000);
    char *want = conf_render_nutcracker(s, &s->proxies[0], NULL, NULL);
    CHECK_STR_EQ(p->config_text, want);
    free(want);

    /* the model survives its JSON form */
    char *json = observed_to_json(obs);
    char *err = NULL;
    struct observed *back = observed_from_json(json, &err);
    CHECK(back != NULL);
    if (back) {
        char *json2 = observed_to_json(back);
        CHECK_STR_EQ(json2, json);
        free(json2);
    }
    free(err);
    free(json);
    observed_free(back);
    observed_free(obs);
    spec_free(s);
}

TEST(skip_files_leaves_files_unchecked)
{
    struct spec *s = fixture_spec(NULL);
    if (!s)
        return;
    struct observe_options o = {.skip_files = true};
    struct observed *obs = observe_cluster(s, &o);
    CHECK_INT_EQ(obs->redis[0].reach, REACH_OK);
    CHECK(!obs->redis[0].files.checked);
    CHECK(!obs->proxies[0].files.checked);
    CHECK(obs->proxies[0].config_text == NULL);
    CHECK_INT_EQ(obs->proxies[0].reach, REACH_OK);
    observed_free(obs);
    spec_free(s);
}

/*
 * A loopback port whose connects never complete: a listening socket with
 * backlog 0 whose accept queue we fill, so the kernel drops further SYNs.
 */
static int blackhole_fd, blackhole_filler = -1, silent_fd;

static int listen_loopback(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

/* Connect without waiting; true when the connection completed within 200 ms. */
static bool connect_completes(int port, int *out_fd)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((unsigned short)port)};
    connect(fd, (struct sockaddr *)&a, sizeof(a));
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    bool done = poll(&p, 1, 200) == 1;
    *out_fd = fd;
    return done;
}

static int make_blackhole(void)
{
    int port;
    blackhole_fd = listen_loopback(0, &port);
    if (blackhole_fd < 0)
        return -1;
    for (int i = 0; i < 8; i++) {
        int fd;
        bool done = connect_completes(port, &fd);
        if (!done) {
            close(fd); /* the probe that hung shows the queue is full */
            return port;
        }
        blackhole_filler = fd; /* keep it: it fills the queue (leaks one fd per fill) */
    }
    return -1;
}

TEST(dead_addresses_cost_one_timeout_in_parallel)
{
    int bh = make_blackhole();
    int silent;
    silent_fd = listen_loopback(16, &silent); /* accepts in the kernel, never answers */
    int refused = harness_free_port();
    CHECK(bh > 0 && silent_fd >= 0 && refused > 0);
    if (bh <= 0 || silent_fd < 0)
        return;

    char *extra = xasprintf("  - name: shard3\n    master: 127.0.0.1:%d\n"
                            "    replicas: [127.0.0.1:%d, 127.0.0.1:%d]\n",
                            bh, silent, refused);
    struct spec *s = fixture_spec(extra);
    free(extra);
    CHECK(s != NULL);
    if (!s)
        return;

    struct observe_options o = {.connect_timeout_ms = 500, .command_timeout_ms = 800};
    struct observed *obs = observe_cluster(s, &o);
    CHECK_INT_EQ(obs->nredis, 7);
    if (obs->nredis == 7) {
        for (size_t i = 0; i < 4; i++)
            CHECK_INT_EQ(obs->redis[i].reach, REACH_OK);
        CHECK_INT_EQ(obs->redis[4].reach, REACH_TIMEOUT);
        CHECK_STR_EQ(obs->redis[4].reach_detail, "connect timed out");
        CHECK_INT_EQ(obs->redis[5].reach, REACH_TIMEOUT);
        CHECK_STR_EQ(obs->redis[5].reach_detail, "command timed out");
        CHECK_INT_EQ(obs->redis[6].reach, REACH_REFUSED);
        CHECK_STR_EQ(obs->redis[6].reach_detail, "Connection refused");
        CHECK(obs->redis[6].role == NULL);
    }
    for (size_t i = 0; i < obs->nsentinels; i++)
        CHECK_INT_EQ(obs->sentinels[i].reach, REACH_OK);
    CHECK_INT_EQ(obs->proxies[0].reach, REACH_OK);
    /* both timeouts ran at once: the slowest (800 ms), not their sum */
    printf("    took %lld ms\n", obs->took_ms);
    CHECK(obs->took_ms >= 750);
    CHECK(obs->took_ms < 800 + 500);
    observed_free(obs);
    spec_free(s);
    close(silent_fd);
    close(blackhole_fd);
    if (blackhole_filler >= 0)
        close(blackhole_filler);
}

TEST(many_silent_addresses_cost_one_timeout)
{
    enum { NSILENT = 8 };
    int fds[NSILENT], ports[NSILENT];
    struct strbuf extra = {0};
    for (int i = 0; i < NSILENT; i++) {
        fds[i] = listen_loopback(16, &ports[i]); /* accepts in the kernel, never answers */
        CHECK(fds[i] >= 0);
        if (fds[i] < 0)
            return;
        sb_addf(&extra, "  - name: silent%d\n    master: 127.0.0.1:%d\n", i, ports[i]);
    }
    struct spec *s = fixture_spec(sb_str(&extra));
    sb_release(&extra);
    CHECK(s != NULL);
    if (!s)
        return;
    struct observe_options o = {.connect_timeout_ms = 400, .command_timeout_ms = 600};
    struct observed *obs = observe_cluster(s, &o);
    CHECK_INT_EQ(obs->nredis, 4 + NSILENT);
    for (size_t i = 0; i < 4 && i < obs->nredis; i++)
        CHECK_INT_EQ(obs->redis[i].reach, REACH_OK);
    for (size_t i = 4; i < obs->nredis; i++) {
        CHECK_INT_EQ(obs->redis[i].reach, REACH_TIMEOUT);
        CHECK_STR_EQ(obs->redis[i].reach_detail, "command timed out");
    }
    for (size_t i = 0; i < obs->nsentinels; i++)
        CHECK_INT_EQ(obs->sentinels[i].reach, REACH_OK);
    /* 8 silent addresses, each with INFO and CONFIG GETs queued: one 600 ms timeout */
    printf("    took %lld ms\n", obs->took_ms);
    CHECK(obs->took_ms >= 550);
    CHECK(obs->took_ms < 600 + 400);
    observed_free(obs);
    spec_free(s);
    for (int i = 0; i < NSILENT; i++)
        close(fds[i]);
}

TEST(auth_to_sentinels_without_password_is_tolerated)
{
    /* the spec has a password; the fixture's redis and sentinels have none */
    struct spec *s = fixture_spec(NULL);
    if (!s)
        return;
    struct observe_options o = {.password = "obs-no-such-pw-1e2f"};
    struct observed *obs = observe_cluster(s, &o);
    for (size_t i = 0; i < obs->nredis; i++)
        CHECK_INT_EQ(obs->redis[i].reach, REACH_OK);
    CHECK_INT_EQ(obs->nsentinels, 3);
    for (size_t i = 0; i < obs->nsentinels; i++) {
        CHECK_INT_EQ(obs->sentinels[i].reach, REACH_OK);
        CHECK(obs->sentinels[i].reach_detail == NULL);
        CHECK_INT_EQ(obs->sentinels[i].nmasters, 2);
        CHECK(obs->sentinels[i].run_id && strlen(obs->sentinels[i].run_id) == 40);
    }
    observed_free(obs);
    spec_free(s);
}

TEST(pipelined_errors_land_on_their_address)
{
    const char *pw = "obs-Pw-pipe-4d1b";
    /* one server refuses CONFIG, one needs a password: side by side with the fixture's */
    struct hproc *noconf = harness_start_redis(H, 0, "rename-command CONFIG \"\"\n");
    struct hproc *locked = harness_start_redis(H, 0, "requirepass obs-Pw-pipe-4d1b\n");
    CHECK(noconf != NULL && locked != NULL);
    if (!noconf || !locked)
        return;
    char *extra = xasprintf("  - name: noconf\n    master: 127.0.0.1:%d\n"
                            "  - name: locked\n    master: 127.0.0.1:%d\n",
                            hproc_port(noconf), hproc_port(locked));
    struct spec *s = fixture_spec(extra);
    free(extra);
    CHECK(s != NULL);
    if (!s)
        return;
    struct observed *obs = observe_cluster(s, NULL);
    CHECK_INT_EQ(obs->nredis, 6);
    if (obs->nredis == 6) {
        for (size_t i = 0; i < 4; i++) {
            CHECK_INT_EQ(obs->redis[i].reach, REACH_OK);
            CHECK_STR_EQ(obs_kv_get(obs->redis[i].config, obs->redis[i].nconfig, "maxmemory"),
                         "0");
        }
        const struct obs_redis *nc = &obs->redis[4], *lk = &obs->redis[5];
        CHECK_INT_EQ(nc->port, hproc_port(noconf));
        CHECK_INT_EQ(nc->reach, REACH_OK); /* INFO answered; every CONFIG GET refused */
        CHECK_STR_EQ(nc->role, "master");
        CHECK_INT_EQ(nc->nconfig, 0);
        CHECK_INT_EQ(lk->port, hproc_port(locked));
        CHECK_INT_EQ(lk->reach, REACH_AUTH);
        CHECK_STR_EQ(lk->reach_detail, "authentication failed");
        CHECK(lk->role == NULL);
    }
    observed_free(obs);

    /* with the password: the locked one opens, the others tolerate AUTH */
    struct observe_options o = {.password = pw};
    obs = observe_cluster(s, &o);
    for (size_t i = 0; i < obs->nredis; i++)
        CHECK_INT_EQ(obs->redis[i].reach, REACH_OK);
    if (obs->nredis == 6) {
        CHECK_INT_EQ(obs->redis[4].nconfig, 0);
        CHECK_STR_EQ(obs_kv_get(obs->redis[5].config, obs->redis[5].nconfig, "requirepass"),
                     CONF_SECRET_PLACEHOLDER);
    }
    char *json = observed_to_json(obs);
    CHECK(json && !strstr(json, pw));
    free(json);
    observed_free(obs);
    spec_free(s);
    harness_stop(H, noconf);
    harness_stop(H, locked);
}

TEST(dead_sentinel_and_proxy)
{
    char *yaml = fx_spec_yaml(&C, "obs", NULL, NULL);
    /* point the proxy's stats port and one sentinel at nothing */
    struct spec *s = load_spec(yaml);
    free(yaml);
    if (!s)
        return;
    s->proxies[0].stats_port = harness_free_port();
    s->sentinel.nodes[2].port = harness_free_port();
    struct observed *obs = observe_cluster(s, NULL);
    CHECK_INT_EQ(obs->sentinels[2].reach, REACH_REFUSED);
    CHECK_INT_EQ(obs->sentinels[2].nmasters, 0);
    CHECK_INT_EQ(obs->sentinels[0].reach, REACH_OK);
    CHECK_INT_EQ(obs->proxies[0].reach, REACH_REFUSED);
    CHECK_STR_EQ(obs->proxies[0].reach_detail, "Connection refused");
    /* a redis port asked as a sentinel, a sentinel asked as redis: errors, not crashes */
    observed_free(obs);
    s->sentinel.nodes[2].port = hproc_port(C.master[0]);
    s->shards[0].replicas[0].port = hproc_port(C.sentinel[0]);
    obs = observe_cluster(s, NULL);
    CHECK_INT_EQ(obs->sentinels[2].reach, REACH_ERROR);
    CHECK_CONTAINS(obs->sentinels[2].reach_detail, "SENTINEL");
    CHECK_INT_EQ(obs->redis[1].reach, REACH_ERROR);
    CHECK_CONTAINS(obs->redis[1].reach_detail, "not a redis server");
    observed_free(obs);
    spec_free(s);
}

TEST(passwords_auth_and_masking)
{
    const char *pw = "obs-Pw-7f3a9c";
    struct hproc *r = harness_start_redis(H, 0, "requirepass obs-Pw-7f3a9c\n"
                                                "masterauth obs-Pw-7f3a9c\n");
    CHECK(r != NULL);
    if (!r)
        return;
    struct strbuf sb = {0};
    sb_addf(&sb, "cluster: auth\ndefaults:\n  transport: local\n  base_dir: %s\n"
                 "auth:\n  password_env: RMGR_REDIS_TEST_OBS_PW\n"
                 "shards:\n  - name: s1\n    master: 127.0.0.1:%d\n"
                 "sentinel:\n  quorum: 1\n  nodes: [127.0.0.1:%d]\n"
                 "proxies:\n  - host: 127.0.0.1\n    listen: 127.0.0.1:%d\n"
                 "    stats_port: %d\n",
            C.base_dir, hproc_port(r), hproc_port(C.sentinel[0]), hproc_port(C.proxy),
            hproc_stats_port(C.proxy));
    struct spec *s = load_spec(sb_str(&sb));
    sb_release(&sb);
    CHECK(s != NULL);
    if (!s)
        return;
    install_redis_files(s, hproc_port(r), pw);
    install_proxy_files(s, pw);

    /* right password: in, and every secret masked */
    struct observe_options o = {.password = pw};
    struct observed *obs = observe_cluster(s, &o);
    const struct obs_redis *x = &obs->redis[0];
    CHECK_INT_EQ(x->reach, REACH_OK);
    CHECK_STR_EQ(x->role, "master");
    CHECK_STR_EQ(obs_kv_get(x->config, x->nconfig, "requirepass"), CONF_SECRET_PLACEHOLDER);
    CHECK_STR_EQ(obs_kv_get(x->config, x->nconfig, "masterauth"), CONF_SECRET_PLACEHOLDER);
    CHECK_STR_EQ(obs_kv_get(x->files.conf, x->files.nconf, "requirepass"),
                 CONF_SECRET_PLACEHOLDER);
    CHECK_STR_EQ(obs_kv_get(x->files.conf, x->files.nconf, "masterauth"),
                 CONF_SECRET_PLACEHOLDER);
    const struct obs_proxy *p = &obs->proxies[0];
    CHECK(p->config_text && !strstr(p->config_text, pw));
    char *want = conf_render_nutcracker(s, &s->proxies[0], NULL, CONF_SECRET_PLACEHOLDER);
    CHECK_STR_EQ(p->config_text, want);
    free(want);
    char *json = observed_to_json(obs);
    CHECK(json && !strstr(json, pw));
    free(json);
    observed_free(obs);

    /* wrong password */
    o.password = "not-the-password";
    obs = observe_cluster(s, &o);
    CHECK_INT_EQ(obs->redis[0].reach, REACH_AUTH);
    CHECK_STR_EQ(obs->redis[0].reach_detail, "authentication failed");
    CHECK_CONTAINS(obs->proxies[0].config_text, "redis_auth: \"" CONF_SECRET_MISMATCH "\"");
    CHECK(!strstr(obs->proxies[0].config_text ? obs->proxies[0].config_text : "", pw));
    observed_free(obs);

    /* no password at all */
    o.password = NULL;
    obs = observe_cluster(s, &o);
    CHECK_INT_EQ(obs->redis[0].reach, REACH_AUTH);
    CHECK_STR_EQ(obs->redis[0].reach_detail, "authentication failed");
    CHECK_STR_EQ(obs_kv_get(obs->redis[0].files.conf, obs->redis[0].files.nconf, "requirepass"),
                 CONF_SECRET_MISMATCH);
    observed_free(obs);

    /* a password the server does not have: observed, requirepass reads as unset */
    s->shards[0].master.port = hproc_port(C.master[0]);
    o.password = pw;
    obs = observe_cluster(s, &o);
    CHECK_INT_EQ(obs->redis[0].reach, REACH_OK);
    CHECK_STR_EQ(obs_kv_get(obs->redis[0].config, obs->redis[0].nconfig, "requirepass"), "");
    observed_free(obs);
    spec_free(s);
    harness_stop(H, r);
}

int main(void)
{
    H = harness_new("observe");
    if (!fx_start(&C, H, NULL) || !fx_wait_converged(&C, 15000)) {
        printf("cluster did not start or converge\n");
        harness_cleanup(H);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(observes_the_whole_cluster);
    RUN(skip_files_leaves_files_unchecked);
    RUN(dead_addresses_cost_one_timeout_in_parallel);
    RUN(many_silent_addresses_cost_one_timeout);
    RUN(auth_to_sentinels_without_password_is_tolerated);
    RUN(pipelined_errors_land_on_their_address);
    RUN(dead_sentinel_and_proxy);
    RUN(passwords_auth_and_masking);
    fx_release(&C);
    harness_cleanup(H);
    return test_done();
}
