/*
 * test_apply.c - the pure pieces of the executor: lanes per wave, path
 * containment for remove-files, pid command-line checks, start commands,
 * log tails and the destroy plan. No process is started.
 */
#include <stdint.h>

#include "apply.h"
#include "instance.h"
#include "test.h"
#include "util.h"

static const char spec_yaml[] =
    "cluster: c1\n"
    "defaults:\n"
    "  transport: local\n"
    "  base_dir: /srv/rmgr\n"
    "hosts:\n"
    "  h1: {address: 127.0.0.1}\n"
    "  h2: {address: 127.0.0.2}\n"
    "shards:\n"
    "  - name: s1\n"
    "    master: h1:7001\n"
    "    replicas: [h2:7002]\n"
    "  - name: s2\n"
    "    master: h2:7003\n"
    "    replicas: [h1:7004]\n"
    "sentinel:\n"
    "  quorum: 2\n"
    "  nodes: [h1:26001, h2:26002, h1:26003]\n"
    "proxies:\n"
    "  - host: h1\n"
    "    listen: 127.0.0.1:22121\n"
    "    stats_port: 22231\n"
    "  - host: h2\n"
    "    listen: 127.0.0.2:22121\n"
    "    stats_port: 22232\n";

static struct spec *load_spec(void)
{
    struct diags d = {0};
    struct spec *s = spec_load_buffer("test.yaml", spec_yaml, sizeof(spec_yaml) - 1, &d);
    if (!s)
        diags_print(&d, stdout);
    diags_release(&d);
    return s;
}

/* a plan with steps added by add() */
static struct plan *new_plan(void)
{
    return xcalloc(1, sizeof(struct plan));
}

static void add(struct plan *p, enum step_kind k, enum step_wave w, enum instance_kind i,
                        const char *host, const char *ip, int port)
{
    p->steps = xrealloc(p->steps, (p->nsteps + 1) * sizeof(*p->steps));
    struct step *st = &p->steps[p->nsteps++];
    memset(st, 0, sizeof(*st));
    st->kind = k;
    st->action = k == STEP_OBSERVED ? ACTION_NONE : ACTION_CREATE;
    st->wave = w;
    st->instance = i;
    st->group = xstrdup("g");
    st->target = xasprintf("%s:%d", host, port);
    st->host = xstrdup(host);
    st->ip = xstrdup(ip);
    st->port = port;
    st->reason = xstrdup("test");
}

TEST(lanes_group_steps_by_instance_in_plan_order)
{
    struct plan *p = new_plan();
    add(p, STEP_INSTALL_FILES, WAVE_FILES, INSTANCE_REDIS, "h1", "127.0.0.1", 7001);
    add(p, STEP_INSTALL_FILES, WAVE_FILES, INSTANCE_REDIS, "h2", "127.0.0.2", 7002);
    add(p, STEP_OBSERVED, WAVE_FILES, INSTANCE_REDIS, "h1", "127.0.0.1", 7004);
    add(p, STEP_INSTALL_FILES, WAVE_FILES, INSTANCE_REDIS, "h1", "127.0.0.1", 7004);
    add(p, STEP_START, WAVE_PROCESSES, INSTANCE_REDIS, "h1", "127.0.0.1", 7001);
    add(p, STEP_INSTALL_FILES, WAVE_FILES, INSTANCE_SENTINEL, "h1", "127.0.0.1", 7001);
    add(p, STEP_CONFIG_SET, WAVE_FILES, INSTANCE_REDIS, "h1", "127.0.0.1", 7004);
    size_t lane[7];
    CHECK_INT_EQ(apply_lanes(p, WAVE_FILES, lane), 4);
    CHECK_INT_EQ(lane[0], 0);
    CHECK_INT_EQ(lane[1], 1);
    CHECK(lane[2] == SIZE_MAX); /* "=" lines do not run */
    CHECK_INT_EQ(lane[3], 2);   /* another instance of h1: another lane */
    CHECK(lane[4] == SIZE_MAX); /* another wave */
    CHECK_INT_EQ(lane[5], 3);   /* same port, another kind */
    CHECK_INT_EQ(lane[6], 2);   /* the same instance: its lane, in plan order */
    CHECK_INT_EQ(apply_lanes(p, WAVE_PROCESSES, lane), 1);
    CHECK_INT_EQ(lane[4], 0);
    CHECK_INT_EQ(apply_lanes(p, WAVE_SENTINELS, lane), 0);
    plan_free(p);
}

TEST(lanes_run_proxies_one_at_a_time)
{
    struct plan *p = new_plan();
    add(p, STEP_PROXY_CONFIG, WAVE_PROXIES, INSTANCE_PROXY, "h1", "127.0.0.1", 22121);
    add(p, STEP_PROXY_RESTART, WAVE_PROXIES, INSTANCE_PROXY, "h1", "127.0.0.1", 22121);
    add(p, STEP_PROXY_CONFIG, WAVE_PROXIES, INSTANCE_PROXY, "h2", "127.0.0.2", 22121);
    add(p, STEP_STOP, WAVE_CLEANUP, INSTANCE_REDIS, "h1", "127.0.0.1", 7009);
    add(p, STEP_STOP, WAVE_CLEANUP, INSTANCE_REDIS, "h2", "127.0.0.2", 7010);
    size_t lane[5];
    CHECK_INT_EQ(apply_lanes(p, WAVE_PROXIES, lane), 1);
    CHECK(lane[0] == 0 && lane[1] == 0 && lane[2] == 0);
    /* outside WAVE_PROXIES instances run in parallel again */
    CHECK_INT_EQ(apply_lanes(p, WAVE_CLEANUP, lane), 2);
    plan_free(p);
}

/* sentinel-auth: one lane for every sentinel, apart from their own lanes */
TEST(lanes_run_sentinel_auth_one_at_a_time)
{
    struct plan *p = new_plan();
    add(p, STEP_SENTINEL_SET, WAVE_SENTINELS, INSTANCE_SENTINEL, "h1", "127.0.0.1", 26001);
    add(p, STEP_SENTINEL_AUTH, WAVE_SENTINELS, INSTANCE_SENTINEL, "h1", "127.0.0.1", 26001);
    add(p, STEP_SENTINEL_AUTH, WAVE_SENTINELS, INSTANCE_SENTINEL, "h2", "127.0.0.2", 26002);
    add(p, STEP_SENTINEL_AUTH, WAVE_SENTINELS, INSTANCE_SENTINEL, "h1", "127.0.0.1", 26001);
    size_t lane[4];
    CHECK_INT_EQ(apply_lanes(p, WAVE_SENTINELS, lane), 2);
    CHECK(lane[1] == lane[2] && lane[2] == lane[3]);
    CHECK(lane[0] != lane[1]); /* the sentinel's own steps: a lane that runs before it */
    plan_free(p);
}

TEST(remove_files_only_inside_the_cluster_dir)
{
    CHECK(apply_path_inside("/srv/rmgr/c1/redis-7001", "/srv/rmgr/c1"));
    CHECK(apply_path_inside("/srv/rmgr/c1/redis-7001", "/srv/rmgr/c1/"));
    CHECK(apply_path_inside("/srv/rmgr/c1/bin/x", "/srv/rmgr/c1"));
    CHECK(!apply_path_inside("/srv/rmgr/c1", "/srv/rmgr/c1"));
    CHECK(!apply_path_inside("/srv/rmgr/c1/", "/srv/rmgr/c1"));
    CHECK(!apply_path_inside("/srv/rmgr/c10/redis-7001", "/srv/rmgr/c1"));
    CHECK(!apply_path_inside("/srv/rmgr/c1/../etc", "/srv/rmgr/c1"));
    CHECK(!apply_path_inside("/srv/rmgr/c1/redis/..", "/srv/rmgr/c1"));
    CHECK(!apply_path_inside("/srv/rmgr/c1/./x", "/srv/rmgr/c1"));
    CHECK(!apply_path_inside("/srv/rmgr/c1//x", "/srv/rmgr/c1"));
    CHECK(!apply_path_inside("/srv/rmgr/c1/x/", "/srv/rmgr/c1"));
    CHECK(!apply_path_inside("/etc", "/srv/rmgr/c1"));
    CHECK(!apply_path_inside("srv/rmgr/c1/x", "srv/rmgr/c1"));
    CHECK(!apply_path_inside(NULL, "/srv"));
}

/* a cmdline as /proc shows it: arguments separated and ended by NUL */
#define CMDLINE(s) (s), sizeof(s) - 1

TEST(pid_checks_match_the_instance_only)
{
    /* redis and sentinel rewrite their title; the rest of argv becomes NULs or blanks */
    CHECK(instance_cmdline_matches(CMDLINE("redis-server 127.0.0.1:7001\0\0\0\0"), INSTANCE_REDIS,
                                7001, "/x/redis.conf"));
    CHECK(instance_cmdline_matches(CMDLINE("/srv/rmgr/c1/bin/redis-server 127.0.0.1:7001      "),
                                INSTANCE_REDIS, 7001, NULL));
    CHECK(!instance_cmdline_matches(CMDLINE("redis-server 127.0.0.1:70011\0"), INSTANCE_REDIS, 7001,
                                 NULL));
    CHECK(!instance_cmdline_matches(CMDLINE("redis-server 127.0.0.1:7002\0"), INSTANCE_REDIS, 7001,
                                 NULL));
    CHECK(!instance_cmdline_matches(CMDLINE("redis-sentinel 127.0.0.1:7001 [sentinel]\0"),
                                 INSTANCE_REDIS, 7001, NULL));
    CHECK(instance_cmdline_matches(CMDLINE("redis-sentinel 127.0.0.1:26001 [sentinel]\0"),
                                INSTANCE_SENTINEL, 26001, NULL));
    CHECK(instance_cmdline_matches(CMDLINE("redis-server *:26001 [sentinel]\0"), INSTANCE_SENTINEL,
                                26001, NULL));
    /* set-proc-title no: the arguments are still there */
    CHECK(instance_cmdline_matches(CMDLINE("redis-server\0/x/redis.conf\0--replicaof\0no\0one\0"),
                                INSTANCE_REDIS, 7001, "/x/redis.conf"));
    CHECK(!instance_cmdline_matches(CMDLINE("redis-server\0/y/redis.conf\0"), INSTANCE_REDIS, 7001,
                                 "/x/redis.conf"));
    /* a reused pid running something else */
    CHECK(!instance_cmdline_matches(CMDLINE("sleep\0" "1000\0"), INSTANCE_REDIS, 7001, NULL));
    CHECK(!instance_cmdline_matches(CMDLINE("bash\0-c\0echo :7001\0"), INSTANCE_REDIS, 7001, NULL));
    CHECK(instance_cmdline_matches(CMDLINE("nutcracker\0-d\0-c\0/x/nutcracker.yml\0-p\0/x/p\0"),
                                INSTANCE_PROXY, 22121, "/x/nutcracker.yml"));
    CHECK(!instance_cmdline_matches(CMDLINE("nutcracker\0-d\0-c\0/y/nutcracker.yml\0"),
                                 INSTANCE_PROXY, 22121, "/x/nutcracker.yml"));
    CHECK(!instance_cmdline_matches(CMDLINE("vi\0/x/nutcracker.yml\0"), INSTANCE_PROXY, 22121,
                                 "/x/nutcracker.yml"));
    CHECK(!instance_cmdline_matches("", 0, INSTANCE_REDIS, 7001, NULL));
}

static char *joined(char **argv)
{
    struct strbuf sb = {0};
    for (size_t i = 0; argv && argv[i]; i++)
        sb_addf(&sb, "%s%s", i ? " " : "", argv[i]);
    return sb_detach(&sb);
}

TEST(start_commands)
{
    struct spec *s = load_spec();
    CHECK(s != NULL);
    if (!s)
        return;
    struct plan *p = new_plan();
    /* add() reallocates: take pointers once every step is in */
    add(p, STEP_START, WAVE_PROCESSES, INSTANCE_REDIS, "h1", "127.0.0.1", 7001);
    add(p, STEP_START, WAVE_PROCESSES, INSTANCE_REDIS, "h2", "127.0.0.2", 7002);
    add(p, STEP_START, WAVE_SENTINELS, INSTANCE_SENTINEL, "h2", "127.0.0.2", 26002);
    add(p, STEP_START, WAVE_PROXIES, INSTANCE_PROXY, "h2", "127.0.0.2", 22121);
    add(p, STEP_START, WAVE_PROXIES, INSTANCE_PROXY, "h2", "127.0.0.2", 1);
    struct step *m = &p->steps[0], *r = &p->steps[1], *sn = &p->steps[2], *px = &p->steps[3],
                *bad = &p->steps[4];
    r->master_ip = xstrdup("127.0.0.1");
    r->master_port = 7001;

    char **v = instance_start_argv(s, m, "/usr/bin/redis-server");
    char *j = joined(v);
    CHECK_STR_EQ(j, "/usr/bin/redis-server /srv/rmgr/c1/redis-7001/redis.conf --replicaof no one");
    free(j);
    instance_argv_free(v);

    v = instance_start_argv(s, r, "redis-server");
    j = joined(v);
    CHECK_STR_EQ(j, "redis-server /srv/rmgr/c1/redis-7002/redis.conf --replicaof 127.0.0.1 7001");
    free(j);
    instance_argv_free(v);

    v = instance_start_argv(s, sn, "redis-sentinel");
    j = joined(v);
    CHECK_STR_EQ(j, "redis-sentinel /srv/rmgr/c1/sentinel-26002/sentinel.conf");
    free(j);
    instance_argv_free(v);

    v = instance_start_argv(s, px, "/usr/sbin/nutcracker");
    j = joined(v);
    CHECK_STR_EQ(j, "/usr/sbin/nutcracker -d -c /srv/rmgr/c1/proxy-22121/nutcracker.yml "
                    "-p /srv/rmgr/c1/proxy-22121/proxy.pid -o /srv/rmgr/c1/proxy-22121/proxy.log "
                    "-s 22232 -a 127.0.0.2");
    free(j);
    instance_argv_free(v);

    CHECK(instance_start_argv(s, bad, "nutcracker") == NULL);
    plan_free(p);
    spec_free(s);
}

TEST(log_tails)
{
    char *t = instance_tail_lines("a\nb\nc\nd\n", 2);
    CHECK_STR_EQ(t, "    c\n    d");
    free(t);
    t = instance_tail_lines("only", 5);
    CHECK_STR_EQ(t, "    only");
    free(t);
    t = instance_tail_lines("x\ny\n\n\n", 5);
    CHECK_STR_EQ(t, "    x\n    y");
    free(t);
    t = instance_tail_lines("", 3);
    CHECK_STR_EQ(t, "");
    free(t);
    t = instance_tail_lines(NULL, 3);
    CHECK_STR_EQ(t, "");
    free(t);
}

TEST(destroy_stops_proxies_then_sentinels_then_replicas_then_masters)
{
    struct spec *s = load_spec();
    CHECK(s != NULL);
    if (!s)
        return;
    struct plan *p = apply_destroy_plan(s, NULL);
    /* 2 proxies + 3 sentinels + 4 redis, each stopped and removed */
    CHECK_INT_EQ(p->nsteps, 18);
    CHECK(plan_has_destructive(p));
    CHECK_INT_EQ(p->nrefusals, 0);
    const char *expect[] = {
        "stop proxy h1:22121 1",     "stop proxy h2:22121 1",     "stop sentinel h1:26001 2",
        "stop sentinel h2:26002 2",  "stop sentinel h1:26003 2",  "stop redis h2:7002 3",
        "stop redis h1:7001 3",      "stop redis h1:7004 3",      "stop redis h2:7003 3",
        "remove-files proxy h1:22121 6",
    };
    for (size_t i = 0; i < ARRAY_SIZE(expect) && i < p->nsteps; i++) {
        const struct step *st = &p->steps[i];
        char *got = xasprintf("%s %s %s %d", step_kind_name(st->kind),
                              instance_kind_name(st->instance), st->target, (int)st->wave);
        CHECK_STR_EQ(got, expect[i]);
        free(got);
    }
    for (size_t i = 0; i < p->nsteps; i++)
        CHECK(p->steps[i].action == ACTION_REMOVE && p->steps[i].safety == SAFETY_DESTRUCTIVE);
    /* every stop comes before every remove-files of the same wave order */
    size_t lane[18];
    CHECK_INT_EQ(apply_lanes(p, WAVE_FILES, lane), 2);
    CHECK_INT_EQ(apply_lanes(p, WAVE_CLEANUP, lane), 9); /* every directory at once */
    plan_free(p);
    spec_free(s);
}

/* add an observed redis to o */
static void obs_add_redis(struct observed *o, const char *ip, int port, const char *role,
                          enum reach reach)
{
    o->redis = xrealloc(o->redis, (o->nredis + 1) * sizeof(*o->redis));
    struct obs_redis *r = &o->redis[o->nredis++];
    memset(r, 0, sizeof(*r));
    r->ip = xstrdup(ip);
    r->port = port;
    r->reach = reach;
    r->role = role ? xstrdup(role) : NULL;
}

/* the index of the step of kind k at port in p, or SIZE_MAX */
static size_t step_at(const struct plan *p, enum step_kind k, int port)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == k && p->steps[i].port == port)
            return i;
    return SIZE_MAX;
}

TEST(destroy_stops_the_observed_master_last)
{
    struct spec *s = load_spec();
    CHECK(s != NULL);
    if (!s)
        return;
    /* from the spec alone: the spec master h1:7001 waits for h2:7002 */
    struct plan *p = apply_destroy_plan(s, NULL);
    size_t a = step_at(p, STEP_STOP, 7001), b = step_at(p, STEP_STOP, 7002);
    CHECK(apply_step_waits_for(p, a, b) && !apply_step_waits_for(p, b, a));
    plan_free(p);

    /* Sentinel promoted 7002: it is the one that stops last */
    struct observed *o = xcalloc(1, sizeof(*o));
    obs_add_redis(o, "127.0.0.1", 7001, "slave", REACH_OK);
    obs_add_redis(o, "127.0.0.2", 7002, "master", REACH_OK);
    /* shard s2: its spec master 7003 is down, nothing answered as master: the spec's */
    obs_add_redis(o, "127.0.0.2", 7003, NULL, REACH_REFUSED);
    obs_add_redis(o, "127.0.0.1", 7004, "slave", REACH_OK);
    p = apply_destroy_plan(s, o);
    a = step_at(p, STEP_STOP, 7001);
    b = step_at(p, STEP_STOP, 7002);
    CHECK(apply_step_waits_for(p, b, a));
    CHECK(!apply_step_waits_for(p, a, b));
    size_t c = step_at(p, STEP_STOP, 7003), d = step_at(p, STEP_STOP, 7004);
    CHECK(apply_step_waits_for(p, c, d) && !apply_step_waits_for(p, d, c));
    /* only stops wait: the directories go at once */
    CHECK(!apply_step_waits_for(p, step_at(p, STEP_REMOVE_FILES, 7002),
                                step_at(p, STEP_REMOVE_FILES, 7001)));
    plan_free(p);
    observed_free(o);
    spec_free(s);
}

int main(void)
{
    RUN(lanes_group_steps_by_instance_in_plan_order);
    RUN(lanes_run_proxies_one_at_a_time);
    RUN(lanes_run_sentinel_auth_one_at_a_time);
    RUN(remove_files_only_inside_the_cluster_dir);
    RUN(pid_checks_match_the_instance_only);
    RUN(start_commands);
    RUN(log_tails);
    RUN(destroy_stops_proxies_then_sentinels_then_replicas_then_masters);
    RUN(destroy_stops_the_observed_master_last);
    return test_done();
}
