/* test_spec.c - the spec loader through spec_load_buffer: defaults, resolution,
 * positions, diagnostics and the helper functions. */
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "spec.h"
#include "test.h"
#include "yaml_tree.h"

static const char *full_spec =
    "cluster: demo\n"                                                   /* 1 */
    "hosts:\n"                                                          /* 2 */
    "  redis1: { address: 10.0.0.11, ssh: { user: deploy, port: 2222 } }\n" /* 3 */
    "  redis2: { address: 10.0.0.12, transport: local }\n"              /* 4 */
    "  mgr: { address: 10.0.0.10 }\n"                                   /* 5 */
    "defaults:\n"                                                       /* 6 */
    "  ssh: { identity: ~/.ssh/id_ed25519 }\n"                          /* 7 */
    "auth:\n"                                                           /* 8 */
    "  password_env: RMGR_REDIS_TEST_PW\n"                                    /* 9 */
    "redis:\n"                                                          /* 10 */
    "  config: { maxmemory: 256mb, appendonly: \"yes\", hz: 10 }\n"     /* 11 */
    "shards:\n"                                                         /* 12 */
    "  - name: shard1\n"                                                /* 13 */
    "    master: redis1:6379\n"                                         /* 14 */
    "    replicas: [redis2:6379, 10.0.0.13:6379]\n"                     /* 15 */
    "sentinel:\n"                                                       /* 16 */
    "  quorum: 2\n"                                                     /* 17 */
    "  nodes: [redis1:26379, redis2:26379, 10.0.0.13:26379]\n"          /* 18 */
    "proxies:\n"                                                        /* 19 */
    "  - host: mgr\n"                                                   /* 20 */
    "    listen: 127.0.0.1:22121\n";                                    /* 21 */

static struct spec *load(const char *text, struct diags *d)
{
    return spec_load_buffer("t.yaml", text, strlen(text), d);
}

/* All diagnostics as "line:col: sev: msg\n" lines, sorted. Caller frees. */
static char *diag_text(struct diags *d)
{
    struct strbuf sb = {0};
    diags_sort(d);
    for (size_t i = 0; i < d->n; i++)
        sb_addf(&sb, "%d:%d: %s: %s\n", d->v[i].line, d->v[i].col,
                d->v[i].severity == DIAG_ERROR ? "error" : "warning", d->v[i].message);
    return sb_detach(&sb);
}

/* every node the planner cites records where it is written and its path in the document */
TEST(positions_carry_paths)
{
    struct diags d = {0};
    struct spec *s = load(full_spec, &d);
    CHECK(s != NULL);
    if (!s) {
        diags_release(&d);
        return;
    }
    struct {
        const struct spec_pos *pos;
        int line, col;
        const char *path;
    } want[] = {
        {&s->cluster_pos, 1, 10, "cluster"},
        {&spec_find_host(s, "redis2")->pos, 4, 3, "hosts.redis2"},
        {&s->auth.pos, 9, 3, "auth.password_env"},
        {&s->redis_config[1].pos, 11, 31, "redis.config.appendonly"},
        {&s->shards[0].pos, 13, 5, "shards[0]"},
        {&s->shards[0].master.pos, 14, 13, "shards[0].master"},
        {&s->shards[0].replicas[1].pos, 15, 29, "shards[0].replicas[1]"},
        {&s->sentinel.pos, 17, 3, "sentinel"},
        {&s->sentinel.quorum_pos, 17, 3, "sentinel.quorum"},
        {&s->sentinel.down_after_pos, 17, 3, "sentinel"}, /* a default: the section */
        {&s->sentinel.nodes[2].pos, 18, 39, "sentinel.nodes[2]"},
        {&s->proxies[0].pos, 20, 5, "proxies[0]"},
        {&s->proxies[0].listen.pos, 21, 13, "proxies[0].listen"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        CHECK_INT_EQ(want[i].pos->line, want[i].line);
        CHECK_INT_EQ(want[i].pos->col, want[i].col);
        CHECK_STR_EQ(want[i].pos->path, want[i].path);
    }
    spec_free(s);
    diags_release(&d);
}

TEST(full_spec_resolves)
{
    struct diags d = {0};
    setenv("HOME", "/home/tester", 1);
    struct spec *s = load(full_spec, &d);
    CHECK(s != NULL);
    CHECK_INT_EQ(d.n, 0);
    if (!s)
        goto out;
    CHECK_STR_EQ(s->cluster, "demo");
    CHECK_INT_EQ(s->cluster_pos.line, 1);
    CHECK_INT_EQ(s->cluster_pos.col, 10);
    CHECK_INT_EQ(s->source_len, strlen(full_spec));
    CHECK(memcmp(s->source, full_spec, s->source_len) == 0);
    CHECK_STR_EQ(s->file, "t.yaml");

    CHECK_INT_EQ(s->nhosts, 3);
    const struct spec_host *r1 = spec_find_host(s, "redis1");
    CHECK(r1 != NULL);
    if (r1) {
        CHECK_STR_EQ(r1->address, "10.0.0.11");
        CHECK_STR_EQ(r1->ssh.user, "deploy");
        CHECK_INT_EQ(r1->ssh.port, 2222);
        CHECK_STR_EQ(r1->ssh.identity, "/home/tester/.ssh/id_ed25519");
        CHECK_STR_EQ(r1->ssh.known_hosts, "/home/tester/.ssh/known_hosts");
        CHECK(r1->transport == TRANSPORT_SSH);
        CHECK_INT_EQ(r1->pos.line, 3);
        CHECK_INT_EQ(r1->pos.col, 3);
    }
    CHECK(spec_find_host(s, "10.0.0.11") == NULL);
    CHECK(spec_find_host(s, "nope") == NULL);
    CHECK(spec_host_transport(s, "redis2") == TRANSPORT_LOCAL);
    CHECK(spec_host_transport(s, "10.0.0.12") == TRANSPORT_LOCAL); /* by address too */
    CHECK(spec_host_transport(s, "10.0.0.99") == TRANSPORT_SSH);   /* defaults */
    CHECK_STR_EQ(spec_host_ssh(s, "redis1")->user, "deploy");
    CHECK_STR_EQ(spec_host_ssh(s, "mgr")->user, "root");
    CHECK_INT_EQ(spec_host_ssh(s, "10.0.0.99")->port, 22);

    CHECK_STR_EQ(s->auth.password_env, "RMGR_REDIS_TEST_PW");
    CHECK(s->auth.password_file == NULL);

    CHECK_INT_EQ(s->nredis_config, 3);
    if (s->nredis_config == 3) {
        CHECK_STR_EQ(s->redis_config[0].key, "maxmemory");
        CHECK_STR_EQ(s->redis_config[0].value, "256mb");
        CHECK_STR_EQ(s->redis_config[1].value, "yes");
        CHECK_STR_EQ(s->redis_config[2].value, "10"); /* ints are kept as text */
        CHECK_INT_EQ(s->redis_config[0].pos.line, 11);
    }

    CHECK_INT_EQ(s->nshards, 1);
    const struct spec_shard *sh = &s->shards[0];
    CHECK_STR_EQ(sh->name, "shard1");
    CHECK_STR_EQ(sh->master.host, "redis1");
    CHECK_STR_EQ(sh->master.ip, "10.0.0.11");
    CHECK_INT_EQ(sh->master.port, 6379);
    CHECK_INT_EQ(sh->master.pos.line, 14);
    CHECK_INT_EQ(sh->master.pos.col, 13);
    CHECK_INT_EQ(sh->nreplicas, 2);
    if (sh->nreplicas == 2) {
        CHECK_STR_EQ(sh->replicas[0].ip, "10.0.0.12");
        CHECK_STR_EQ(sh->replicas[1].host, "10.0.0.13");
        CHECK_STR_EQ(sh->replicas[1].ip, "10.0.0.13");
        CHECK_INT_EQ(sh->replicas[1].pos.col, 29);
    }
    CHECK(spec_shard_of(s, "10.0.0.12", 6379) == sh);
    CHECK(spec_shard_of(s, "10.0.0.11", 6379) == sh);
    CHECK(spec_shard_of(s, "10.0.0.11", 26379) == NULL);

    CHECK_INT_EQ(s->sentinel.quorum, 2);
    CHECK_INT_EQ(s->sentinel.nnodes, 3);
    CHECK_INT_EQ(s->sentinel.down_after_ms, 5000);
    CHECK_INT_EQ(s->sentinel.failover_timeout_ms, 60000);
    CHECK_INT_EQ(s->sentinel.parallel_syncs, 1);

    CHECK_INT_EQ(s->nproxies, 1);
    const struct spec_proxy *p = &s->proxies[0];
    CHECK_STR_EQ(p->host, "mgr");
    CHECK_STR_EQ(p->host_ip, "10.0.0.10");
    CHECK_STR_EQ(p->listen.ip, "127.0.0.1");
    CHECK_INT_EQ(p->listen.port, 22121);
    CHECK_INT_EQ(p->stats_port, 22222);
    CHECK_STR_EQ(p->hash, "fnv1a_64");
    CHECK_STR_EQ(p->distribution, "ketama");
    CHECK(p->hash_tag == NULL);
    CHECK_INT_EQ(p->timeout_ms, 400);
    CHECK_INT_EQ(p->server_retry_timeout_ms, 2000);
    CHECK_INT_EQ(p->server_failure_limit, 1);
    CHECK(!p->auto_eject_hosts);
    CHECK(p->preconnect);
    CHECK_INT_EQ(p->pos.line, 20);

    char *dir = spec_instance_dir(s, "redis", 6379);
    CHECK_STR_EQ(dir, "/var/lib/rmgr/demo/redis-6379");
    free(dir);
out:
    spec_free(s);
    diags_release(&d);
}

TEST(defaults_applied)
{
    struct diags d = {0};
    setenv("HOME", "/home/tester", 1);
    struct spec *s = load("cluster: x\n"
                          "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                          "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n",
                          &d);
    CHECK(s != NULL);
    if (s) {
        CHECK(s->defaults.transport == TRANSPORT_SSH);
        CHECK_STR_EQ(s->defaults.ssh.user, "root");
        CHECK_INT_EQ(s->defaults.ssh.port, 22);
        CHECK(s->defaults.ssh.identity == NULL);
        CHECK_STR_EQ(s->defaults.ssh.known_hosts, "/home/tester/.ssh/known_hosts");
        CHECK_STR_EQ(s->defaults.base_dir, "/var/lib/rmgr");
        CHECK_STR_EQ(s->defaults.binaries.redis_server, "/usr/bin/redis-server");
        CHECK_STR_EQ(s->defaults.binaries.redis_sentinel, "/usr/bin/redis-sentinel");
        CHECK_STR_EQ(s->defaults.binaries.nutcracker, "/usr/sbin/nutcracker");
        CHECK(!s->defaults.binaries.ship);
        CHECK_INT_EQ(s->nhosts, 0);
        CHECK_INT_EQ(s->nproxies, 0);
        CHECK_INT_EQ(s->nredis_config, 0);
        CHECK_INT_EQ(s->shards[0].nreplicas, 0);
        CHECK(s->auth.password_env == NULL && s->auth.password_file == NULL);
        CHECK(spec_host_transport(s, "127.0.0.1") == TRANSPORT_SSH);
        char *pw = (char *)"x", *err = (char *)"x";
        CHECK_INT_EQ(spec_read_password(s, &pw, &err), 0);
        CHECK(pw == NULL && err == NULL);
    }
    spec_free(s);
    diags_release(&d);
}

TEST(trailing_slash_and_instance_dir)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "defaults: { base_dir: /srv/rmgr/ }\n"
                          "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                          "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n",
                          &d);
    CHECK(s != NULL);
    if (s) {
        char *dir = spec_instance_dir(s, "sentinel", 26379);
        CHECK_STR_EQ(dir, "/srv/rmgr/x/sentinel-26379");
        free(dir);
    }
    spec_free(s);
    diags_release(&d);
}

TEST(every_problem_reported)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "shards:\n"
                          "  - name: a\n"
                          "    master: nohost:7001\n"
                          "    replicas: [127.0.0.1:0]\n"
                          "sentinel:\n"
                          "  nodes: [127.0.0.1:26379]\n"
                          "  qorum: 1\n"
                          "  down_after_ms: 100\n",
                          &d);
    CHECK(s == NULL);
    char *t = diag_text(&d);
    CHECK_STR_EQ(t,
                 "4:13: error: undefined host 'nohost': define it under hosts: or use an IP address\n"
                 "5:16: error: port 0 in '127.0.0.1:0' is out of range 1..65535\n"
                 "7:3: error: missing required key 'quorum' in sentinel\n"
                 "8:3: error: unknown key 'qorum' in sentinel (did you mean 'quorum'?)\n"
                 "9:18: warning: down_after_ms 100 is below 2000 and causes spurious failovers\n");
    free(t);
    diags_release(&d);
}

TEST(warnings_do_not_fail)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                          "sentinel: { quorum: 1, nodes: [127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3] }\n",
                          &d);
    CHECK(s != NULL);
    CHECK_INT_EQ(diags_count(&d, DIAG_WARNING), 1);
    CHECK_INT_EQ(diags_count(&d, DIAG_ERROR), 0);
    if (d.n)
        CHECK_STR_EQ(d.v[0].message, "quorum 1 is not a majority of the 3 sentinels");
    spec_free(s);
    diags_release(&d);
}

TEST(address_used_twice_across_roles)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "hosts: { h: { address: 127.0.0.1 } }\n"
                          "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                          "sentinel: { quorum: 1, nodes: [h:7001] }\n"
                          "proxies: [{ host: h, listen: 127.0.0.1:22121, stats_port: 22121 }]\n",
                          &d);
    CHECK(s == NULL);
    char *t = diag_text(&d);
    CHECK_STR_EQ(t, "4:32: error: address 127.0.0.1:7001 is used twice (first by master of shard 'a' at line 3)\n"
                    "5:59: error: address 127.0.0.1:22121 is used twice (first by the listen address of proxy 1 at line 5)\n");
    free(t);
    diags_release(&d);
}

TEST(loopback_listen_on_two_hosts_is_fine)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "hosts: { a: { address: 10.0.0.1 }, b: { address: 10.0.0.2 } }\n"
                          "shards: [{ name: s, master: a:6379 }]\n"
                          "sentinel: { quorum: 1, nodes: [a:26379] }\n"
                          "proxies: [{ host: a, listen: 127.0.0.1:22121 },\n"
                          "          { host: b, listen: 127.0.0.1:22121 }]\n",
                          &d);
    CHECK(s != NULL);
    CHECK_INT_EQ(d.n, 0);
    spec_free(s);
    diags_release(&d);
}

TEST(secrets_refused_everywhere)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "redis: { config: { requirepass: hunter2, masterauth: hunter2,\n"
                          "                   tls-key-file-pass: hunter2, tls-client-key-file-pass: x } }\n"
                          "hosts: { h: { address: 127.0.0.1, ssh: { password: hunter2 } } }\n"
                          "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                          "sentinel: { quorum: 1, nodes: [127.0.0.1:26379], auth-pass: x }\n",
                          &d);
    CHECK(s == NULL);
    CHECK_INT_EQ(diags_count(&d, DIAG_ERROR), 6);
    for (size_t i = 0; i < d.n; i++) {
        CHECK_CONTAINS(d.v[i].message, "literal password key");
        CHECK(strstr(d.v[i].message, "hunter2") == NULL);
    }
    diags_release(&d);
}

/* finding 10 of issue 14: an ACL user line carries its password after '>' (or its hash after '#') */
TEST(acl_user_passwords_refused)
{
    static const char *const users[] = {
        "default on >hunter2 ~* +@all",
        "ops on #e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 +@all",
    };
    for (size_t i = 0; i < 2; i++) {
        struct diags d = {0};
        char *text = xasprintf("cluster: x\n"
                               "redis: { config: { User: \"%s\" } }\n"
                               "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                               "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n",
                               users[i]);
        struct spec *s = load(text, &d);
        CHECK(s == NULL);
        CHECK_INT_EQ(diags_count(&d, DIAG_ERROR), 1);
        char *t = diag_text(&d);
        CHECK_CONTAINS(t, "2:20: error: redis.config 'User' holds a password");
        CHECK(strstr(t, "hunter2") == NULL && strstr(t, "e3b0c44") == NULL);
        free(t);
        free(text);
        diags_release(&d);
    }
    /* an ACL user without a password (nopass, or keys only) is fine */
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "redis: { config: { user: \"reader on nopass ~cache:* +get\" } }\n"
                          "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                          "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n",
                          &d);
    CHECK(s != NULL);
    spec_free(s);
    diags_release(&d);
}

/* finding 1 of issue 14: a spec must not redirect rmgr's own credentials to a server */
TEST(password_env_only_rmgr_redis_prefix)
{
    static const char *const refused[] = {"RMGR_GIT_TOKEN", "RMGR_WEBHOOK_URL", "HOME",
                                          "GITHUB_TOKEN", "RMGR_REDIS", "rmgr_redis_pw"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        struct diags d = {0};
        char *text = xasprintf("cluster: x\nauth: { password_env: %s }\n"
                               "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                               "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n",
                               refused[i]);
        struct spec *s = load(text, &d);
        CHECK(s == NULL);
        char *t = diag_text(&d);
        CHECK_CONTAINS(t, "2:23: error: 'auth.password_env' must name a variable beginning with "
                          "RMGR_REDIS_");
        free(t);
        free(text);
        diags_release(&d);
    }
}

static struct spec *load_password_file(const char *file, struct diags *d)
{
    char *text = xasprintf("cluster: x\nauth: { password_file: \"%s\" }\n"
                           "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                           "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n",
                           file);
    struct spec *s = load(text, d);
    free(text);
    return s;
}

/* The password read from `file` ("" when refused, the message in *err). Caller frees. */
static char *password_of(const char *file, char **err)
{
    struct diags d = {0};
    struct spec *s = load_password_file(file, &d);
    char *pw = NULL;
    *err = NULL;
    if (!s)
        *err = diag_text(&d);
    else if (spec_read_password(s, &pw, err) < 0)
        pw = NULL;
    spec_free(s);
    diags_release(&d);
    return pw ? pw : xstrdup("");
}

/* finding 1 of issue 14: a spec reads files only under the operator's secrets directory */
TEST(password_file_only_under_secrets_dir)
{
    char sdir[] = "/tmp/rmgr-test-secrets-XXXXXX", outside[] = "/tmp/rmgr-test-outside-XXXXXX";
    CHECK(mkdtemp(sdir) != NULL && mkdtemp(outside) != NULL);
    char *f = xasprintf("%s/pw", sdir), *sub = xasprintf("%s/sub", sdir);
    char *subf = xasprintf("%s/sub/pw", sdir), *out = xasprintf("%s/token", outside);
    char *lnk = xasprintf("%s/link", sdir), *dlnk = xasprintf("%s/dlink", sdir);
    CHECK_INT_EQ(write_file_atomic(f, "s3cret\n", 7, 0600), 0);
    CHECK_INT_EQ(mkdir(sub, 0700), 0);
    CHECK_INT_EQ(write_file_atomic(subf, "sub-pw\n", 7, 0600), 0);
    CHECK_INT_EQ(write_file_atomic(out, "ghp_token\n", 10, 0600), 0);
    CHECK_INT_EQ(symlink(out, lnk), 0);
    CHECK_INT_EQ(symlink(outside, dlnk), 0);
    spec_set_secrets_dir(sdir);
    char *err, *pw;

    pw = password_of("pw", &err); /* relative: inside the secrets directory */
    CHECK_STR_EQ(pw, "s3cret");
    free(pw), free(err);
    pw = password_of("sub/pw", &err);
    CHECK_STR_EQ(pw, "sub-pw");
    free(pw), free(err);
    pw = password_of(f, &err); /* absolute, under it */
    CHECK_STR_EQ(pw, "s3cret");
    free(pw), free(err);

    pw = password_of(out, &err);
    CHECK_STR_EQ(pw, "");
    CHECK_CONTAINS(err, "t.yaml:2:24: password_file");
    CHECK_CONTAINS(err, "is not under the secrets directory");
    free(pw), free(err);
    pw = password_of("link", &err);
    CHECK_STR_EQ(pw, "");
    CHECK_CONTAINS(err, "symbolic link");
    free(pw), free(err);
    pw = password_of("dlink/token", &err);
    CHECK_STR_EQ(pw, "");
    CHECK_CONTAINS(err, "symbolic link");
    free(pw), free(err);
    pw = password_of("../pw", &err); /* refused by the loader, at its position */
    CHECK_STR_EQ(pw, "");
    CHECK_CONTAINS(err, "2:24: error: 'auth.password_file' must not contain '..'");
    free(pw), free(err);

    spec_set_secrets_dir(NULL);
    unlink(lnk), unlink(dlnk), unlink(subf), rmdir(sub), unlink(f), rmdir(sdir);
    unlink(out), rmdir(outside);
    free(f), free(sub), free(subf), free(out), free(lnk), free(dlnk);
}

TEST(duplicate_key_and_managed_directive)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "redis: { config: { port: 1, Dir: /x } }\n"
                          "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                          "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n"
                          "cluster: y\n",
                          &d);
    CHECK(s == NULL);
    char *t = diag_text(&d);
    CHECK_STR_EQ(t, "2:20: error: redis.config directive 'port' is managed by rmgr\n"
                    "2:29: error: redis.config directive 'Dir' is managed by rmgr\n"
                    "5:1: error: duplicate key 'cluster' (first at line 1)\n");
    free(t);
    diags_release(&d);

    /* redis reads directive names in any case */
    s = load("cluster: x\n"
             "redis:\n"
             "  config:\n"
             "    maxmemory: 1mb\n"
             "    hz: 10\n"
             "    MAXMEMORY: 2mb\n"
             "    MaxMemory: 3mb\n"
             "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
             "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n",
             &d);
    CHECK(s == NULL);
    t = diag_text(&d);
    CHECK_STR_EQ(t, "6:5: error: duplicate redis.config directive 'MAXMEMORY' (first at line 4)\n"
                    "7:5: error: duplicate redis.config directive 'MaxMemory' (first at line 4)\n");
    free(t);
    diags_release(&d);
}

TEST(aliases_are_copied)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "hosts:\n"
                          "  a: { address: 10.0.0.1, ssh: &ssh { user: ops, port: 2200 } }\n"
                          "  b: { address: 10.0.0.2, ssh: *ssh }\n"
                          "shards: [{ name: s, master: a:6379, replicas: [b:6379] }]\n"
                          "sentinel: { quorum: 1, nodes: [a:26379] }\n",
                          &d);
    CHECK(s != NULL);
    if (s) {
        CHECK_STR_EQ(spec_host_ssh(s, "b")->user, "ops");
        CHECK_INT_EQ(spec_host_ssh(s, "b")->port, 2200);
    }
    spec_free(s);
    diags_release(&d);
}

TEST(limits)
{
    struct diags d = {0};
    /* billion laughs: 9^9 nodes if expanded */
    struct strbuf sb = {0};
    sb_add(&sb, "cluster: x\na: &a [l, l, l, l, l, l, l, l, l]\n");
    for (char c = 'b'; c <= 'j'; c++) {
        sb_addf(&sb, "%c: &%c [", c, c);
        for (int i = 0; i < 9; i++)
            sb_addf(&sb, "%s*%c", i ? ", " : "", c - 1);
        sb_add(&sb, "]\n");
    }
    struct spec *s = load(sb_str(&sb), &d);
    CHECK(s == NULL);
    CHECK_INT_EQ(d.n, 1);
    if (d.n)
        CHECK_CONTAINS(d.v[0].message, "more than 100000 nodes");
    sb_release(&sb);
    diags_release(&d);

    for (int i = 0; i < 40; i++)
        sb_addc(&sb, '[');
    for (int i = 0; i < 40; i++)
        sb_addc(&sb, ']');
    s = load(sb_str(&sb), &d);
    CHECK(s == NULL);
    if (d.n)
        CHECK_STR_EQ(d.v[0].message, "nesting is deeper than 32 levels");
    sb_release(&sb);
    diags_release(&d);

    char *big = malloc(SPEC_MAX_FILE_SIZE + 2);
    memset(big, '#', SPEC_MAX_FILE_SIZE + 1);
    big[SPEC_MAX_FILE_SIZE + 1] = '\0';
    s = spec_load_buffer("big.yaml", big, SPEC_MAX_FILE_SIZE + 1, &d);
    CHECK(s == NULL);
    if (d.n)
        CHECK_STR_EQ(d.v[0].message, "spec is larger than 1048576 bytes");
    free(big);
    diags_release(&d);
}

TEST(syntax_error_position)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\nshards: [\n", &d);
    CHECK(s == NULL);
    CHECK_INT_EQ(d.n, 1);
    if (d.n) {
        CHECK_INT_EQ(d.v[0].line, 3);
        CHECK_CONTAINS(d.v[0].message, "syntax error: ");
    }
    diags_release(&d);
}

TEST(read_password)
{
    struct diags d = {0};
    char sdir[] = "/tmp/rmgr-test-secrets-XXXXXX";
    CHECK(mkdtemp(sdir) != NULL);
    spec_set_secrets_dir(sdir);
    char path[300];
    snprintf(path, sizeof(path), "%s/pw-XXXXXX", sdir);
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "s3cret\nignored\n", 15) == 15);
    close(fd);
    char *text = xasprintf("cluster: x\nauth: { password_file: %s }\n"
                           "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                           "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n",
                           path);
    struct spec *s = load(text, &d);
    CHECK(s != NULL);
    char *pw = NULL, *err = NULL;
    if (s) {
        CHECK_INT_EQ(spec_read_password(s, &pw, &err), 0);
        CHECK_STR_EQ(pw, "s3cret");
        free(pw);
        free(err);
    }
    spec_free(s);
    free(text);
    unlink(path);
    rmdir(sdir);
    spec_set_secrets_dir(NULL);

    s = load("cluster: x\nauth: { password_env: RMGR_REDIS_TEST_UNSET_PW }\n"
             "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
             "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n",
             &d);
    CHECK(s != NULL);
    if (s) {
        unsetenv("RMGR_REDIS_TEST_UNSET_PW");
        pw = err = NULL;
        CHECK_INT_EQ(spec_read_password(s, &pw, &err), -1);
        CHECK(pw == NULL);
        CHECK_STR_EQ(err, "environment variable 'RMGR_REDIS_TEST_UNSET_PW' is not set");
        free(err);
        setenv("RMGR_REDIS_TEST_UNSET_PW", "topsecret", 1);
        pw = err = NULL;
        CHECK_INT_EQ(spec_read_password(s, &pw, &err), 0);
        CHECK_STR_EQ(pw, "topsecret");
        free(pw);
        free(err);
        setenv("RMGR_REDIS_TEST_UNSET_PW", "", 1);
        pw = err = NULL;
        CHECK_INT_EQ(spec_read_password(s, &pw, &err), -1);
        CHECK_STR_EQ(err, "environment variable 'RMGR_REDIS_TEST_UNSET_PW' is empty");
        free(err);
    }
    spec_free(s);
    diags_release(&d);
}

TEST(auth_needs_exactly_one)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\nauth: { }\n"
                          "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                          "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n",
                          &d);
    CHECK(s == NULL);
    if (d.n)
        CHECK_STR_EQ(d.v[0].message, "auth needs password_env or password_file");
    diags_release(&d);
}

TEST(string_fields_refuse_typed_scalars)
{
    struct diags d = {0};
    struct spec *s = load("cluster: 123\n"
                          "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                          "sentinel: { quorum: '2', nodes: [127.0.0.1:26379] }\n",
                          &d);
    CHECK(s == NULL);
    char *t = diag_text(&d);
    CHECK_STR_EQ(t, "1:10: error: wrong type for 'cluster': expected a string, got an integer\n"
                    "3:21: error: wrong type for 'sentinel.quorum': expected an integer, got the quoted string \"2\"\n");
    free(t);
    diags_release(&d);
}

TEST(ipv6_addresses)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "shards: [{ name: a, master: \"[::1]:7001\" }]\n"
                          "sentinel: { quorum: 1, nodes: [\"[::1]:26379\"] }\n",
                          &d);
    CHECK(s != NULL);
    if (s) {
        CHECK_STR_EQ(s->shards[0].master.ip, "::1");
        CHECK_INT_EQ(s->shards[0].master.port, 7001);
    }
    spec_free(s);
    diags_release(&d);
}

/* One IPv6 address written two ways is one address: IPs are spelled as inet_ntop does. */
TEST(ipv6_spelled_two_ways)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "hosts: { h: { address: \"0:0:0:0:0:0:0:1\" }, g: { address: FD00::A } }\n"
                          "shards: [{ name: a, master: \"[::1]:7001\",\n"
                          "           replicas: [\"[0:0:0:0:0:0:0:1]:7001\", h:7001, \"[fd00:0::a]:7002\"] }]\n"
                          "sentinel: { quorum: 1, nodes: [g:7002] }\n"
                          "proxies: [{ host: \"0::1\", listen: 127.0.0.1:22121 }]\n",
                          &d);
    CHECK(s == NULL);
    char *t = diag_text(&d);
    CHECK_STR_EQ(t, "4:23: error: address [::1]:7001 is used twice (first by master of shard 'a' at line 3)\n"
                    "4:49: error: address [::1]:7001 is used twice (first by master of shard 'a' at line 3)\n"
                    "5:32: error: address [fd00::a]:7002 is used twice (first by replica of shard 'a' at line 4)\n");
    free(t);
    diags_release(&d);

    s = load("cluster: x\n"
             "hosts: { h: { address: \"FD00:0:0::1\" } }\n"
             "shards: [{ name: a, master: \"[0:0:0:0:0:0:0:1]:7001\" }]\n"
             "sentinel: { quorum: 1, nodes: [h:26379] }\n"
             "proxies: [{ host: \"0::1\", listen: 127.0.0.1:22121 }]\n",
             &d);
    CHECK(s != NULL);
    if (s) {
        CHECK_STR_EQ(s->shards[0].master.ip, "::1");
        CHECK_STR_EQ(s->shards[0].master.host, "::1");
        CHECK_STR_EQ(spec_find_host(s, "h")->address, "fd00::1");
        CHECK_STR_EQ(s->sentinel.nodes[0].ip, "fd00::1");
        CHECK_STR_EQ(s->proxies[0].host, "::1");
        CHECK_STR_EQ(s->proxies[0].host_ip, "::1");
    }
    spec_free(s);
    diags_release(&d);
}

/* Cluster names are DNS labels; other names are at most 63 characters too. */
TEST(name_lengths)
{
    struct diags d = {0};
    char *text = xasprintf("cluster: a-\n"
                           "hosts: { %0*d: { address: 10.0.0.1 } }\n"
                           "shards: [{ name: s%0*d, master: 127.0.0.1:7001 }]\n"
                           "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n",
                           64, 0, 63, 0);
    text[strstr(text, "00000") - text] = 'h'; /* a host name of 64 characters: h000... */
    struct spec *s = load(text, &d);
    CHECK(s == NULL);
    char *t = diag_text(&d);
    CHECK_STR_EQ(t, "1:10: error: bad cluster name 'a-': use 1 to 63 lowercase letters, digits and '-', "
                    "starting and ending with a letter or digit\n"
                    "2:10: error: bad host name: longer than 63 characters\n"
                    "3:18: error: 'shards[0].name' is longer than 63 characters\n");
    free(t);
    free(text);
    diags_release(&d);

    s = load("cluster: 0a-b\n"
             "shards: [{ name: s, master: 127.0.0.1:7001 }]\n"
             "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n",
             &d);
    CHECK(s != NULL);
    spec_free(s);
    diags_release(&d);
}

/* A typo of a known key gets a suggestion, even when it looks like a secret. */
TEST(typos_of_known_keys)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "auth: { passwordenv: X, password: y }\n"
                          "shards: [{ name: a, master: 127.0.0.1:7001 }]\n"
                          "sentinel: { quorum: 1, nodes: [127.0.0.1:26379], down_after: 1 }\n",
                          &d);
    CHECK(s == NULL);
    char *t = diag_text(&d);
    CHECK_STR_EQ(t, "2:9: error: unknown key 'passwordenv' in auth (did you mean 'password_env'?)\n"
                    "2:25: error: literal password key 'password': secrets never go in a spec, "
                    "use auth.password_env or auth.password_file\n"
                    "4:50: error: unknown key 'down_after' in sentinel (did you mean 'down_after_ms'?)\n");
    free(t);
    diags_release(&d);
}

/* A host may be named as its own IPv4 address, not as another one. */
TEST(host_named_like_an_ip)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "hosts: { 10.0.0.9: { address: 10.0.0.8 }, 10.0.0.7: { address: 10.0.0.7 } }\n"
                          "shards: [{ name: a, master: 10.0.0.7:7001 }]\n"
                          "sentinel: { quorum: 1, nodes: [10.0.0.7:26379] }\n",
                          &d);
    CHECK(s == NULL);
    char *t = diag_text(&d);
    CHECK_STR_EQ(t, "2:10: error: host name '10.0.0.9' looks like an IP address, but its address is 10.0.0.8\n");
    free(t);
    diags_release(&d);
}

TEST(tree_positions)
{
    struct diags d = {0};
    struct ytree_limits lim = {1000, 8};
    const char *y = "a:\n  b: [1, 'x']\n";
    struct ynode *root = ytree_parse("y", y, strlen(y), &lim, &d);
    CHECK(root != NULL);
    if (root) {
        const struct ynode *b = ynode_get(ynode_get(root, "a"), "b");
        CHECK(b && b->kind == YNODE_SEQ && b->nitems == 2);
        if (b && b->nitems == 2) {
            CHECK_INT_EQ(b->line, 2);
            CHECK_INT_EQ(b->col, 6);
            CHECK(b->items[0]->plain);
            CHECK(!b->items[1]->plain);
            CHECK_INT_EQ(b->items[1]->col, 10);
        }
        const struct ynode *k = ynode_get_key(ynode_get(root, "a"), "b");
        CHECK(k && k->line == 2 && k->col == 3);
    }
    ynode_free(root);
    diags_release(&d);
}

/* Plain scalars are typed by the YAML 1.2 core schema, as schemas/ validators read them. */
TEST(yaml12_core_typing)
{
    struct diags d = {0};
    struct ytree_limits lim = {1000, 8};
    const char *y = "[yes, no, on, off, 0x1f, 0o17, +5, 1e3, .5, .inf, .NaN, 1_0, 0b1, 08, 'x', 0o8,"
                    " 2.0, -3e0, 1e400, 9e18]";
    struct ynode *root = ytree_parse("y", y, strlen(y), &lim, &d);
    CHECK(root && root->nitems == 20);
    if (root && root->nitems == 20) {
        struct ynode **it = root->items;
        for (int i = 0; i < 4; i++)
            CHECK_STR_EQ(ynode_describe(it[i]), "a string");
        long v = 0;
        CHECK(ynode_int(it[4], &v) && v == 31);
        CHECK(ynode_int(it[5], &v) && v == 15);
        CHECK(ynode_int(it[6], &v) && v == 5);
        CHECK_STR_EQ(ynode_describe(it[7]), "a number");
        CHECK_STR_EQ(ynode_describe(it[8]), "a number");
        CHECK_STR_EQ(ynode_describe(it[9]), "a number");
        CHECK_STR_EQ(ynode_describe(it[10]), "a number");
        CHECK(!ynode_int(it[9], &v) && !ynode_int(it[10], &v));
        CHECK_STR_EQ(ynode_describe(it[11]), "a string"); /* no underscores in 1.2 core */
        CHECK_STR_EQ(ynode_describe(it[12]), "a string"); /* nor binary */
        CHECK(ynode_int(it[13], &v) && v == 8);            /* decimal, not octal */
        CHECK(!ynode_int(it[14], &v));                     /* quoted */
        CHECK_STR_EQ(ynode_describe(it[15]), "a string");
        CHECK(!ynode_looks_typed(it[0]) && ynode_looks_typed(it[4]));
        /* a number without a fraction is an integer, as in JSON Schema */
        CHECK(ynode_int(it[16], &v) && v == 2);
        CHECK(ynode_int(it[17], &v) && v == -3);
        CHECK(ynode_int(it[7], &v) && v == 1000);
        CHECK(!ynode_int(it[8], &v));  /* .5 */
        CHECK(!ynode_int(it[18], &v)); /* infinite */
        CHECK(ynode_int(it[19], &v) && v == 9000000000000000000L);
    }
    ynode_free(root);
    diags_release(&d);
}

/* Brackets hold an IPv6 address only; digits and dots alone are an IPv4 address, never a name. */
TEST(ip_literals_and_names)
{
    struct diags d = {0};
    struct spec *s = load("cluster: x\n"
                          "hosts: { 300.1.1.1: { address: 10.0.0.1 }, 10.0.0.2: { address: 10.0.0.2 } }\n"
                          "shards: [{ name: a, master: \"[10.0.0.2]:7001\", replicas: [\"[h]:7001\"] }]\n"
                          "sentinel: { quorum: 1, nodes: [10.0.0.07:26379, \"[:::::]:1\"] }\n"
                          "proxies: [{ host: 10.0.0, listen: 10.0.0.2:022121 }]\n",
                          &d);
    CHECK(s == NULL);
    char *t = diag_text(&d);
    CHECK_STR_EQ(t,
                 "2:10: error: bad host name '300.1.1.1': digits and dots alone read as an IP address\n"
                 "3:29: error: bad address '[10.0.0.2]:7001' for 'shards[0].master': expected NAME:PORT or IP:PORT\n"
                 "3:59: error: bad address '[h]:7001' for 'shards[0].replicas[0]': expected NAME:PORT or IP:PORT\n"
                 "4:32: error: '10.0.0.07' is not a valid IP address\n"
                 "4:49: error: bad address '[:::::]:1' for 'sentinel.nodes[1]': expected NAME:PORT or IP:PORT\n"
                 "5:19: error: '10.0.0' is not a valid IP address\n"
                 "5:35: error: port 022121 in '10.0.0.2:022121' has a leading zero\n");
    free(t);
    diags_release(&d);
}

/* After SPEC_MAX_ERRORS errors the load stops, in the loader and in the parser alike. */
TEST(too_many_errors)
{
    struct diags d = {0};
    struct strbuf sb = {0};
    sb_add(&sb, "cluster: x\nhosts:\n");
    for (int i = 0; i < 200; i++)
        sb_addf(&sb, "  host%d: { address: 10.0.%d.%d }\n", i, i / 200, i % 200 + 1);
    sb_add(&sb, "shards:\n");
    for (int i = 0; i < 300; i++)
        sb_addf(&sb, "  - { name: s%d, master: nohost%d:7001 }\n", i, i);
    sb_add(&sb, "sentinel: { quorum: 1, nodes: [10.0.0.1:26379] }\n");
    struct spec *s = load(sb_str(&sb), &d);
    CHECK(s == NULL);
    CHECK_INT_EQ(diags_count(&d, DIAG_ERROR), SPEC_MAX_ERRORS + 1);
    if (d.n == SPEC_MAX_ERRORS + 1) {
        CHECK_STR_EQ(d.v[0].message, "undefined host 'nohost0' (did you mean 'host0'?)");
        CHECK_STR_EQ(d.v[SPEC_MAX_ERRORS].message, "too many errors, stopping");
    }
    sb_release(&sb);
    diags_release(&d);

    /* duplicate keys are counted by the parser */
    sb_add(&sb, "cluster: x\nredis: { config: {");
    for (int i = 0; i < 150; i++)
        sb_add(&sb, " hz: 1,");
    sb_add(&sb, " } }\n");
    s = load(sb_str(&sb), &d);
    CHECK(s == NULL);
    CHECK_INT_EQ(diags_count(&d, DIAG_ERROR), SPEC_MAX_ERRORS + 1);
    if (d.n)
        CHECK_STR_EQ(d.v[d.n - 1].message, "too many errors, stopping");
    sb_release(&sb);
    diags_release(&d);
}

int main(void)
{
    RUN(full_spec_resolves);
    RUN(defaults_applied);
    RUN(trailing_slash_and_instance_dir);
    RUN(every_problem_reported);
    RUN(warnings_do_not_fail);
    RUN(address_used_twice_across_roles);
    RUN(loopback_listen_on_two_hosts_is_fine);
    RUN(secrets_refused_everywhere);
    RUN(acl_user_passwords_refused);
    RUN(password_env_only_rmgr_redis_prefix);
    RUN(password_file_only_under_secrets_dir);
    RUN(duplicate_key_and_managed_directive);
    RUN(aliases_are_copied);
    RUN(limits);
    RUN(syntax_error_position);
    RUN(read_password);
    RUN(auth_needs_exactly_one);
    RUN(string_fields_refuse_typed_scalars);
    RUN(ipv6_addresses);
    RUN(tree_positions);
    RUN(host_named_like_an_ip);
    RUN(typos_of_known_keys);
    RUN(name_lengths);
    RUN(ipv6_spelled_two_ways);
    RUN(yaml12_core_typing);
    RUN(ip_literals_and_names);
    RUN(too_many_errors);
    RUN(positions_carry_paths);
    return test_done();
}
