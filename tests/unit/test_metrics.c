/*
 * test_metrics.c - the metrics records, the ring, rates, and their renderings
 * (Prometheus text golden, status page HTML and SVG charts, /api/status
 * JSON) from fixtures: a planner fixture (spec + observed.json) and INFO /
 * nutcracker stats texts through top's parsers. Pure: no server, no clock.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "metrics.h"
#include "metrics_http.h"
#include "observed.h"
#include "plan.h"
#include "spec.h"
#include "test.h"
#include "top.h"

#define T0 1796284800LL /* 2026-12-03 12:00:00 UTC */

static const char *tests_dir(void)
{
    const char *t = getenv("RMGR_TESTS_DIR");
    return t && *t ? t : "tests";
}

static char *fixture_path(const char *rel)
{
    return xasprintf("%s/fixtures/%s", tests_dir(), rel);
}

struct fx {
    struct spec *spec;
    struct observed *obs;
    struct plan *plan;
};

static bool fx_load(struct fx *f, const char *name)
{
    memset(f, 0, sizeof(*f));
    char *sp = xasprintf("%s/fixtures/plan/%s/spec.yaml", tests_dir(), name);
    char *op = xasprintf("%s/fixtures/plan/%s/observed.json", tests_dir(), name);
    struct diags d = {0};
    f->spec = spec_load_file(sp, &d);
    diags_release(&d);
    char *text = test_slurp(op), *err = NULL;
    f->obs = text ? observed_from_json(text, &err) : NULL;
    free(err);
    free(text);
    free(sp);
    free(op);
    if (f->spec && f->obs)
        f->plan = plan_compute(f->spec, f->obs);
    return f->spec && f->obs && f->plan;
}

static void fx_free(struct fx *f)
{
    plan_free(f->plan);
    observed_free(f->obs);
    spec_free(f->spec);
}

/* INFO of a master with `commands` processed and `mem` bytes used, one replica at `roff`. */
static char *master_info(long long commands, long long mem, const char *replica, long long roff)
{
    return xasprintf("# Clients\r\nconnected_clients:%d\r\n# Memory\r\nused_memory:%lld\r\n"
                     "maxmemory:67108864\r\n# Stats\r\ntotal_commands_processed:%lld\r\n"
                     "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n"
                     "slave0:ip=127.0.0.1,port=%s,state=online,offset=%lld,lag=1\r\n"
                     "master_repl_offset:%lld\r\n",
                     4, mem, commands, replica, roff, roff + 100);
}

static char *proxy_stats(long long ts, long long requests, long long ferr)
{
    return xasprintf("{\"service\":\"nutcracker\",\"timestamp\":%lld,\"test\":{"
                     "\"client_connections\":3,\"forward_error\":%lld,"
                     "\"127.0.0.1:7001:1 shard1\":{\"requests\":%lld},"
                     "\"127.0.0.1:7003:1 shard2\":{\"requests\":0}}}",
                     ts, ferr, requests);
}

/* A sample as top_sample() would make it: the fixture's two masters and one proxy. */
static void sample(struct top_sample *t, long long at_ms, long long c1, long long c2,
                   long long pts, long long preq, long long perr)
{
    memset(t, 0, sizeof(*t));
    t->at_ms = at_ms;
    t->nshards = 2;
    t->shards = xcalloc(2, sizeof(*t->shards));
    char *a = master_info(c1, 1048576, "7002", 5000);
    char *b = master_info(c2, 2097152, "7004", 9000);
    CHECK(top_parse_info(a, "127.0.0.1:7001", &t->shards[0]) == 0);
    CHECK(top_parse_info(b, "127.0.0.1:7003", &t->shards[1]) == 0);
    free(a);
    free(b);
    t->nproxies = 1;
    t->proxies = xcalloc(1, sizeof(*t->proxies));
    char *s = proxy_stats(pts, preq, perr), *err = NULL;
    CHECK(top_parse_proxy_stats(s, "test", &t->proxies[0], &err) == 0);
    free(err);
    free(s);
}

/* The fixture cluster after three looks 10 s apart (rates known from the second). */
static void build_cluster(struct fx *f, struct metrics_cluster *c)
{
    memset(c, 0, sizeof(*c));
    c->name = xstrdup(f->spec->cluster);
    static const long long cmds1[] = {1000, 1500, 2500}, cmds2[] = {100, 100, 400};
    static const long long pts[] = {1000, 1030, 1030}, preq[] = {50, 350, 350};
    for (int i = 0; i < 3; i++) {
        struct top_sample t;
        sample(&t, 100000 + i * 10000LL, cmds1[i], cmds2[i], pts[i], preq[i], 0);
        struct metrics_cluster fresh = {0};
        metrics_record_build(f->spec, f->obs, f->plan, &t, &fresh);
        metrics_cluster_merge(c, &fresh, &t, T0 - 20 + i * 10);
        metrics_cluster_release(&fresh);
        top_sample_release(&t);
        metrics_cluster_observe(c, 0.02 * (i + 1));
    }
    free(c->status);
    c->status = xstrdup("in-sync");
    c->last_reconcile_s = (double)T0;
    c->last_success_s = (double)T0 - 60;
    c->failovers_total = 2;
    c->apply_failures_total = 1;
}

TEST(record_from_an_observation)
{
    struct fx f;
    CHECK(fx_load(&f, "converged"));
    if (!f.spec)
        return;
    struct metrics_cluster c;
    build_cluster(&f, &c);
    CHECK_INT_EQ(c.nredis, 4);
    CHECK_STR_EQ(c.redis[0].shard, "shard1");
    CHECK_STR_EQ(c.redis[0].role, "master");
    CHECK_STR_EQ(c.redis[0].addr, "127.0.0.1:7001");
    CHECK_STR_EQ(c.redis[1].role, "replica");
    CHECK_STR_EQ(c.redis[1].link, "up");
    CHECK(c.redis[1].lag_bytes >= 0);
    CHECK_INT_EQ(c.redis[1].lag_s, 1);
    CHECK_INT_EQ(c.redis[0].used_memory, 1048576);
    CHECK_INT_EQ(c.redis[0].clients, 4);
    /* (2500 - 1500) commands in 10 s */
    CHECK(c.redis[0].ops_per_sec == 100.0);
    CHECK(c.redis[2].ops_per_sec == 30.0);
    CHECK_INT_EQ(c.nsentinels, 3);
    CHECK(c.sentinels[0].up);
    CHECK_INT_EQ(c.drift_steps, 0);
    /* the proxy's rate is per nutcracker aggregation: 300 requests in 30 s, kept while its
       timestamp stands still */
    CHECK(c.proxies[0].requests_per_sec == 10.0);
    CHECK_INT_EQ(c.proxies[0].requests, 350);
    CHECK_INT_EQ(c.ring.n, 3);
    CHECK(c.ring.v[0].ops[0] < 0); /* the first look has no rate */
    CHECK(c.ring.v[1].ops[0] == 50.0);
    CHECK(c.ring.v[2].mem[1] == 2097152.0);
    metrics_cluster_release(&c);
    fx_free(&f);
}

TEST(a_new_master_restarts_the_rate)
{
    struct fx f;
    CHECK(fx_load(&f, "converged"));
    if (!f.spec)
        return;
    struct metrics_cluster c = {0};
    c.name = xstrdup("test");
    struct top_sample t;
    sample(&t, 1000, 1000, 1000, 1, 1, 0);
    struct metrics_cluster fresh = {0};
    metrics_record_build(f.spec, f.obs, f.plan, &t, &fresh);
    metrics_cluster_merge(&c, &fresh, &t, T0);
    metrics_cluster_release(&fresh);
    top_sample_release(&t);
    /* the counter went down (a restarted master): unknown, not negative */
    sample(&t, 2000, 10, 1000, 1, 1, 0);
    metrics_record_build(f.spec, f.obs, f.plan, &t, &fresh);
    metrics_cluster_merge(&c, &fresh, &t, T0 + 1);
    metrics_cluster_release(&fresh);
    top_sample_release(&t);
    CHECK(c.redis[0].ops_per_sec < 0);
    CHECK(c.redis[2].ops_per_sec == 0.0);
    metrics_cluster_release(&c);
    fx_free(&f);
}

TEST(a_down_replica)
{
    struct fx f;
    CHECK(fx_load(&f, "node-unreachable"));
    if (!f.spec)
        return;
    struct metrics_cluster c = {0};
    metrics_record_build(f.spec, f.obs, f.plan, NULL, &c);
    size_t down = 0;
    for (size_t i = 0; i < c.nredis; i++)
        if (!c.redis[i].up) {
            down++;
            CHECK(c.redis[i].lag_bytes < 0 && !c.redis[i].link);
        }
    CHECK(down >= 1);
    CHECK(c.drift_steps >= 0);
    metrics_cluster_release(&c);
    fx_free(&f);
}

TEST(ring_keeps_the_newest)
{
    struct fx f;
    CHECK(fx_load(&f, "converged"));
    if (!f.spec)
        return;
    struct metrics_cluster c = {0};
    c.name = xstrdup("test");
    for (long long i = 0; i < METRICS_RING_CAP + 5; i++) {
        struct metrics_cluster fresh = {0};
        metrics_record_build(f.spec, f.obs, f.plan, NULL, &fresh);
        metrics_cluster_merge(&c, &fresh, NULL, T0 + i);
        metrics_cluster_release(&fresh);
    }
    CHECK_INT_EQ(c.ring.n, METRICS_RING_CAP);
    CHECK_INT_EQ(c.ring.v[c.ring.head].t_s, T0 + 5);
    CHECK_INT_EQ(c.ring.v[(c.ring.head + c.ring.n - 1) % c.ring.cap].t_s,
                 T0 + METRICS_RING_CAP + 4);
    metrics_cluster_release(&c);
    fx_free(&f);
}

TEST(histogram_buckets)
{
    struct metrics_cluster c = {0};
    metrics_cluster_observe(&c, 0.05);  /* le is inclusive */
    metrics_cluster_observe(&c, 0.051);
    metrics_cluster_observe(&c, 20);    /* +Inf only */
    CHECK_INT_EQ(c.observe_buckets[0], 1);
    CHECK_INT_EQ(c.observe_buckets[1], 1);
    CHECK_INT_EQ(c.observe_count, 3);
    unsigned long long sum = 0;
    for (size_t i = 0; i < METRICS_NBUCKETS; i++)
        sum += c.observe_buckets[i];
    CHECK_INT_EQ(sum, 2);
}

/* A view of the fixture cluster with one alert firing and one not. */
static void fixture_view(struct fx *f, struct metrics_cluster *c)
{
    build_cluster(f, c);
    struct metrics_alert a[] = {
        {"connected_clients", "127.0.0.1:7001", true, 5, T0 - 120},
        {"used_cpu_user", "127.0.0.1:7003", false, 0.2, 0},
    };
    metrics_cluster_set_alerts(c, a, ARRAY_SIZE(a));
}

TEST(exposition_golden)
{
    struct fx f;
    CHECK(fx_load(&f, "converged"));
    if (!f.spec)
        return;
    struct metrics_cluster c;
    fixture_view(&f, &c);
    struct metrics_view v = {&c, 1, (double)T0};
    struct strbuf sb = {0};
    metrics_render_text(&v, &sb);
    char *path = fixture_path("metrics/expected.prom");
    CHECK(check_golden(path, sb_str(&sb)));
    /* every sample line belongs to a family declared before it */
    CHECK_CONTAINS(sb_str(&sb), "rmgr_alert_firing{cluster=\"test\",alert=\"connected_clients\","
                                "address=\"127.0.0.1:7001\"} 1\n");
    free(path);
    sb_release(&sb);
    metrics_cluster_release(&c);
    fx_free(&f);
}

TEST(exposition_escapes_labels_and_skips_unknowns)
{
    struct metrics_cluster c = {0};
    c.name = xstrdup("a\"b\\c\nd");
    c.drift_steps = -1;
    struct metrics_view v = {&c, 1, (double)T0};
    struct strbuf sb = {0};
    metrics_render_text(&v, &sb);
    CHECK_CONTAINS(sb_str(&sb), "rmgr_failovers_total{cluster=\"a\\\"b\\\\c\\nd\"} 0\n");
    CHECK(!strstr(sb_str(&sb), "rmgr_drift_steps{"));           /* unknown: no sample */
    CHECK(!strstr(sb_str(&sb), "rmgr_last_success_timestamp_seconds{")); /* never */
    sb_release(&sb);
    metrics_cluster_release(&c);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

TEST(chart_svg_golden_and_gaps)
{
    long long t[] = {T0 - 7200, T0 - 1800, T0 - 1200, T0 - 600, T0};
    double a[] = {5, 10, -1, 20, 40}, b[] = {-1, -1, -1, -1, -1};
    const double *series[] = {a, b};
    char *names[] = {"shard1", "sh<2>"};
    struct strbuf sb = {0};
    status_render_chart("ops/s per master", "", t, 5, names, series, 2, T0, &sb);
    const char *svg = sb_str(&sb);
    char *path = fixture_path("metrics/chart.svg");
    CHECK(check_golden(path, svg));
    free(path);
    /* the point two hours ago is outside the window; -1 is a gap: two lines */
    CHECK_INT_EQ(count(svg, "<circle class=\"pt\""), 3);
    CHECK_INT_EQ(count(svg, "<polyline"), 2);
    CHECK_CONTAINS(svg, "data-points=\"3\"");
    CHECK_CONTAINS(svg, "sh&lt;2&gt;");
    /* y axis up to a round 50; the newest point (40) at 4/5 of the height */
    CHECK_CONTAINS(svg, ">50</text>");
    sb_release(&sb);

    status_render_chart("memory", "bytes", t, 0, names, series, 0, T0, &sb);
    CHECK_CONTAINS(sb_str(&sb), "no data yet");
    CHECK_CONTAINS(sb_str(&sb), "data-points=\"0\"");
    sb_release(&sb);
}

TEST(status_page_html)
{
    struct fx f;
    CHECK(fx_load(&f, "converged"));
    if (!f.spec)
        return;
    struct metrics_cluster c[2];
    fixture_view(&f, &c[0]);
    memset(&c[1], 0, sizeof(c[1]));
    c[1].name = xstrdup("<script>x</script>");
    c[1].drift_steps = -1;
    struct metrics_view v = {c, 2, (double)T0};
    struct strbuf sb = {0};
    status_render_html(&v, &sb);
    const char *html = sb_str(&sb);
    CHECK_CONTAINS(html, "<meta http-equiv=\"refresh\"");
    CHECK_CONTAINS(html, "data-shard=\"shard1\"");
    CHECK_CONTAINS(html, "data-shard=\"shard2\"");
    CHECK_CONTAINS(html, "127.0.0.1:7002 link up");
    CHECK_INT_EQ(count(html, "<tr class=\"sentinel\">"), 3);
    CHECK_INT_EQ(count(html, "<tr class=\"proxy\">"), 1);
    CHECK_CONTAINS(html, "<li class=\"alert\">connected_clients on 127.0.0.1:7001: 5");
    CHECK(!strstr(html, "used_cpu_user on")); /* not firing: not listed */
    CHECK_INT_EQ(count(html, "<svg class=\"chart\""), 8); /* four per cluster */
    CHECK_CONTAINS(html, "&lt;script&gt;x&lt;/script&gt;");
    CHECK(!strstr(html, "<script"));
    CHECK(!strstr(html, "http://") || !strstr(html, "src=")); /* nothing fetched */
    CHECK_CONTAINS(html, "100</td>"); /* shard1's ops/s */
    CHECK_CONTAINS(html, "1.0 MiB / 64.0 MiB");
    char *path = fixture_path("metrics/status.html");
    CHECK(check_golden(path, html));
    free(path);
    sb_release(&sb);
    metrics_cluster_release(&c[0]);
    metrics_cluster_release(&c[1]);
    fx_free(&f);
}

TEST(status_json)
{
    struct fx f;
    CHECK(fx_load(&f, "converged"));
    if (!f.spec)
        return;
    struct metrics_cluster c;
    fixture_view(&f, &c);
    struct metrics_view v = {&c, 1, (double)T0};
    struct strbuf sb = {0};
    status_render_json(&v, &sb);
    json_error_t je;
    json_t *root = json_loads(sb_str(&sb), 0, &je);
    CHECK(root != NULL);
    json_t *cl = json_array_get(json_object_get(root, "clusters"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(cl, "name")), "test");
    json_t *shards = json_object_get(cl, "shards");
    CHECK_INT_EQ(json_array_size(shards), 2);
    json_t *m = json_object_get(json_array_get(shards, 1), "master");
    CHECK_STR_EQ(json_string_value(json_object_get(m, "address")), "127.0.0.1:7003");
    CHECK(json_real_value(json_object_get(m, "ops_per_sec")) == 30.0);
    json_t *r = json_array_get(json_object_get(json_array_get(shards, 0), "replicas"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(r, "link")), "up");
    CHECK_INT_EQ(json_array_size(json_object_get(cl, "alerts")), 2);
    CHECK_INT_EQ(json_integer_value(json_object_get(cl, "samples")), 3);
    json_decref(root);
    sb_release(&sb);
    metrics_cluster_release(&c);
    fx_free(&f);
}

TEST(registry_redacts_and_forgets)
{
    struct metrics_registry *r = metrics_registry_new();
    metrics_add_secret(r, "hunter2-secret");
    metrics_count_failovers(r, "a", 2);
    metrics_count_apply_failure(r, "b");
    metrics_run_done(r, "a", "deadbeef hunter2-secret", "in-sync", true, (double)T0);
    char *text = metrics_render_locked(r, metrics_render_text, (double)T0);
    CHECK_CONTAINS(text, "rmgr_failovers_total{cluster=\"a\"} 2\n");
    CHECK_CONTAINS(text, "rmgr_apply_failures_total{cluster=\"b\"} 1\n");
    free(text);
    text = metrics_render_locked(r, status_render_html, (double)T0);
    CHECK(!strstr(text, "hunter2-secret"));
    CHECK_CONTAINS(text, "deadbeef ******");
    free(text);
    char *keep[] = {"b"};
    metrics_retain(r, keep, 1);
    text = metrics_render_locked(r, metrics_render_text, (double)T0);
    CHECK(!strstr(text, "cluster=\"a\""));
    CHECK_CONTAINS(text, "cluster=\"b\"");
    free(text);
    metrics_registry_free(r);
}

TEST(listen_addresses)
{
    struct metrics_listen l;
    char *err = NULL;
    CHECK(metrics_listen_parse("127.0.0.1:9121", &l, &err) == 0 && l.loopback && l.port == 9121);
    CHECK(metrics_listen_parse("127.0.0.2:80", &l, &err) == 0 && l.loopback);
    CHECK(metrics_listen_parse("127.255.255.254:80", &l, &err) == 0 && l.loopback);
    CHECK(metrics_listen_parse("[::1]:9121", &l, &err) == 0 && l.loopback && l.ipv6);
    CHECK_STR_EQ(l.ip, "::1");
    CHECK(metrics_listen_parse("0.0.0.0:9121", &l, &err) == 0 && !l.loopback);
    CHECK(metrics_listen_parse("10.0.0.5:9121", &l, &err) == 0 && !l.loopback);
    CHECK(metrics_listen_parse("128.0.0.1:9121", &l, &err) == 0 && !l.loopback);
    CHECK(metrics_listen_parse("[::]:9121", &l, &err) == 0 && !l.loopback);
    CHECK(metrics_listen_parse("[::ffff:127.0.0.1]:1", &l, &err) == 0 && !l.loopback);
    static const char *const bad[] = {"localhost:9121", "127.0.0.1", "127.0.0.1:0",
                                      "127.0.0.1:65536", "::1:9121", "[::1]9121", ":9121",
                                      "127.0.0.1:91x", "300.0.0.1:1"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        err = NULL;
        CHECK(metrics_listen_parse(bad[i], &l, &err) < 0);
        CHECK(err && strstr(err, bad[i]));
        free(err);
    }
}

TEST(token_compare)
{
    CHECK(metrics_token_equal("abcdefghijklmnop", "abcdefghijklmnop"));
    CHECK(!metrics_token_equal("abcdefghijklmnop", "abcdefghijklmnoq"));
    CHECK(!metrics_token_equal("abcdefghijklmnop", "abcdefghijklmno"));
    CHECK(!metrics_token_equal("abcdefghijklmno", "abcdefghijklmnop"));
    CHECK(!metrics_token_equal("", "abcdefghijklmnop"));
    CHECK(metrics_token_equal("", ""));
}

int main(void)
{
    RUN(record_from_an_observation);
    RUN(a_new_master_restarts_the_rate);
    RUN(a_down_replica);
    RUN(ring_keeps_the_newest);
    RUN(histogram_buckets);
    RUN(exposition_golden);
    RUN(exposition_escapes_labels_and_skips_unknowns);
    RUN(chart_svg_golden_and_gaps);
    RUN(status_page_html);
    RUN(status_json);
    RUN(registry_redacts_and_forgets);
    RUN(listen_addresses);
    RUN(token_compare);
    return test_done();
}
