/*
 * test_ha_lint.c - `validate --ha` rules on fixtures (pure).
 *
 * Every directory under tests/fixtures/ha/ is a case: spec.yaml, and for a
 * case "with --observe" observed.json (what the sentinels report) and/or
 * used_memory (lines "SHARD BYTES"). The report is compared with
 * expected.txt and expected.json (UPDATE_GOLDEN=1 rewrites them), and each
 * case must name the kind of risk it was built for, and no other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha_lint.h"
#include "observed.h"
#include "spec.h"
#include "test.h"
#include "util.h"

static const char *fixtures_dir(void)
{
    static char path[4096];
    const char *t = getenv("RMGR_TESTS_DIR");
    snprintf(path, sizeof(path), "%s/fixtures/ha", t && *t ? t : "tests");
    return path;
}

static struct spec *load_named(const char *path, const char *name, const char *dir_subst)
{
    char *text = test_slurp(path);
    if (!text)
        return NULL;
    struct strbuf sb = {0};
    for (const char *p = text; *p;) {
        const char *at = dir_subst ? strstr(p, "@DIR@") : NULL;
        if (!at) {
            sb_add(&sb, p);
            break;
        }
        sb_addn(&sb, p, (size_t)(at - p));
        sb_add(&sb, dir_subst);
        p = at + 5;
    }
    free(text);
    struct diags d = {0};
    struct spec *s = spec_load_buffer(name, sb_str(&sb), sb.len, &d);
    if (!s)
        diags_print(&d, stdout);
    diags_release(&d);
    sb_release(&sb);
    return s;
}

/* The observations of case `dir`, or false when it has none. */
static bool load_observed(const char *dir, const struct spec *s, struct ha_observed *out)
{
    char *opath = xasprintf("%s/observed.json", dir), *mpath = xasprintf("%s/used_memory", dir);
    char *otext = test_slurp(opath), *mtext = test_slurp(mpath);
    free(opath);
    free(mpath);
    if (!otext && !mtext)
        return false;
    struct observed *o = NULL;
    if (otext) {
        char *err = NULL;
        o = observed_from_json(otext, &err);
        if (!o)
            printf("    %s/observed.json: %s\n", dir, err ? err : "?");
        CHECK(o != NULL);
        free(err);
    }
    long long *mem = xcalloc(s->nshards, sizeof(*mem));
    for (size_t i = 0; i < s->nshards; i++)
        mem[i] = -1;
    for (char *line = mtext; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char name[64];
        long long bytes;
        if (sscanf(line, "%63s %lld", name, &bytes) == 2)
            for (size_t i = 0; i < s->nshards; i++)
                if (!strcmp(s->shards[i].name, name))
                    mem[i] = bytes;
        line = nl ? nl + 1 : NULL;
    }
    ha_observed_from(s, o, mem, out);
    free(mem);
    observed_free(o);
    free(otext);
    free(mtext);
    return true;
}

/* the kinds in r, as "a b c" */
static char *kinds_of(const struct ha_report *r)
{
    struct strbuf sb = {0};
    for (size_t i = 0; i < r->nrisks; i++) {
        if (i && r->risks[i].kind == r->risks[i - 1].kind)
            continue;
        sb_addf(&sb, "%s%s", sb.len ? " " : "", ha_risk_kind_name(r->risks[i].kind));
    }
    return sb_detach(&sb);
}

static bool covered[HA_NKINDS];

/* Run case `name`; `kinds` is what it must name ("" for none). */
static void run_case(const char *name, const char *kinds)
{
    char *dir = xasprintf("%s/%s", fixtures_dir(), name);
    char *path = xasprintf("%s/spec.yaml", dir);
    struct spec *s = load_named(path, "spec.yaml", NULL);
    CHECK(s != NULL);
    if (s) {
        struct ha_observed obs = {0};
        bool observed = load_observed(dir, s, &obs);
        struct ha_report r = {0};
        ha_lint(s, observed ? &obs : NULL, &r);
        char *got = kinds_of(&r);
        CHECK_STR_EQ(got, kinds);
        free(got);
        for (size_t i = 0; i < r.nrisks; i++) {
            covered[r.risks[i].kind] = true;
            CHECK(r.risks[i].hosts.n > 0);   /* every risk names its hosts */
            CHECK(r.risks[i].pos.line > 0);  /* and the line it comes from */
            CHECK(r.risks[i].change && *r.risks[i].change);
        }
        struct strbuf txt = {0};
        ha_render_text(&r, &txt);
        char *gold = xasprintf("%s/expected.txt", dir);
        check_golden(gold, sb_str(&txt));
        free(gold);
        const struct ha_report *rp = &r;
        char *json = ha_render_json(&rp, 1);
        gold = xasprintf("%s/expected.json", dir);
        check_golden(gold, json);
        free(gold);
        free(json);
        sb_release(&txt);
        ha_report_release(&r);
        ha_observed_release(&obs);
        spec_free(s);
    }
    free(path);
    free(dir);
}

TEST(clean_layout_has_no_risk) { run_case("clean", ""); }
TEST(shard_on_one_host) { run_case("shard-one-host", "shard-one-host"); }
TEST(host_holding_most_sentinels) { run_case("sentinel-host-loss", "sentinel-host-loss"); }
TEST(masters_on_one_host_from_spec) { run_case("masters-one-host", "masters-one-host"); }
TEST(masters_on_one_host_as_sentinel_reports)
{
    run_case("masters-one-host-observed", "masters-one-host");
}
TEST(every_proxy_on_one_host) { run_case("proxies-one-host", "proxies-one-host"); }
TEST(proxy_beside_only_replica) { run_case("proxy-with-only-replica", "proxy-with-only-replica"); }
TEST(even_sentinels) { run_case("sentinel-count-even", "sentinel-count"); }
TEST(one_sentinel)
{
    /* one sentinel: too few, and its host's loss leaves none */
    run_case("sentinel-count-few", "sentinel-count sentinel-host-loss");
}
TEST(quorum_below_majority) { run_case("quorum-not-majority", "quorum-not-majority"); }
TEST(down_after_below_2000) { run_case("down-after-low", "down-after-low"); }
TEST(failover_timeout_against_maxmemory)
{
    run_case("failover-timeout-maxmemory", "failover-timeout-short");
}
TEST(failover_timeout_against_used_memory)
{
    run_case("failover-timeout-observed", "failover-timeout-short");
}

TEST(every_kind_has_a_fixture)
{
    for (size_t k = 0; k < HA_NKINDS; k++) {
        if (!covered[k])
            printf("    no fixture names %s\n", ha_risk_kind_name((enum ha_risk_kind)k));
        CHECK(covered[k]);
    }
}

/*
 * The seed walk-through's layout (4 sentinels, quorum 2, the proxy on the
 * manager only), from the spec the walk-through test deploys.
 */
TEST(walkthrough_layout_risks_named)
{
    const char *t = getenv("RMGR_TESTS_DIR");
    char *path = xasprintf("%s/integration/walkthrough/spec.yaml.in", t && *t ? t : "tests");
    struct spec *s = load_named(path, "walkthrough.yaml", "/tmp/rmgr-walkthrough");
    CHECK(s != NULL);
    if (s) {
        struct ha_report r = {0};
        ha_lint(s, NULL, &r);
        char *got = kinds_of(&r);
        CHECK_STR_EQ(got, "sentinel-count quorum-not-majority proxies-one-host");
        free(got);
        struct strbuf txt = {0};
        ha_render_text(&r, &txt);
        CHECK_CONTAINS(sb_str(&txt), "hosts: redis1, redis2, redis3, redis4");
        CHECK_CONTAINS(sb_str(&txt), "the only proxy runs on host mgr");
        char *gold = xasprintf("%s/walkthrough.expected.txt", fixtures_dir());
        check_golden(gold, sb_str(&txt));
        free(gold);
        sb_release(&txt);
        ha_report_release(&r);
        spec_free(s);
    }
    free(path);
}

/* Sentinels split evenly on a shard's master: unknown, the spec's master stands. */
TEST(sentinels_split_is_no_master)
{
    struct diags d = {0};
    const char *y = "cluster: x\n"
                    "shards: [{name: s1, master: 10.0.0.1:6379, replicas: [10.0.0.2:6379]}]\n"
                    "sentinel: {quorum: 1, nodes: [10.0.0.1:26379, 10.0.0.2:26379]}\n";
    struct spec *s = spec_load_buffer("x.yaml", y, strlen(y), &d);
    CHECK(s != NULL);
    const char *js =
        "{\"took_ms\": 1, \"redis\": [], \"proxies\": [], \"sentinels\": ["
        "{\"ip\": \"10.0.0.1\", \"port\": 26379, \"reach\": \"ok\", \"reach_detail\": null,"
        " \"masters\": [{\"name\": \"s1\", \"ip\": \"10.0.0.1\", \"port\": 6379}]},"
        "{\"ip\": \"10.0.0.2\", \"port\": 26379, \"reach\": \"ok\", \"reach_detail\": null,"
        " \"masters\": [{\"name\": \"s1\", \"ip\": \"10.0.0.2\", \"port\": 6379}]}]}";
    char *err = NULL;
    struct observed *o = observed_from_json(js, &err);
    CHECK(o != NULL);
    if (s && o) {
        struct ha_observed h = {0};
        ha_observed_from(s, o, NULL, &h);
        CHECK_INT_EQ(h.nshards, 1);
        CHECK(h.shards[0].master_ip == NULL);
        CHECK_INT_EQ(h.shards[0].used_memory, -1);
        struct ha_report r = {0};
        ha_lint(s, &h, &r);
        CHECK_STR_EQ(r.masters_from, "spec");
        ha_report_release(&r);
        ha_observed_release(&h);
    }
    free(err);
    observed_free(o);
    spec_free(s);
    diags_release(&d);
}

TEST(memory_values)
{
    CHECK_INT_EQ(ha_parse_memory("64mb"), 64LL * 1024 * 1024);
    CHECK_INT_EQ(ha_parse_memory("1G"), 1000000000LL);
    CHECK_INT_EQ(ha_parse_memory("1gb"), 1024LL * 1024 * 1024);
    CHECK_INT_EQ(ha_parse_memory("1048576"), 1048576);
    CHECK_INT_EQ(ha_parse_memory("5k"), 5000);
    CHECK_INT_EQ(ha_parse_memory("0"), 0);
    CHECK_INT_EQ(ha_parse_memory(""), -1);
    CHECK_INT_EQ(ha_parse_memory("-1"), -1);
    CHECK_INT_EQ(ha_parse_memory("12 mb"), -1);
    CHECK_INT_EQ(ha_parse_memory("10tb"), -1);
    CHECK_INT_EQ(ha_parse_memory("99999999999999999999gb"), -1);
}

int main(void)
{
    RUN(clean_layout_has_no_risk);
    RUN(shard_on_one_host);
    RUN(host_holding_most_sentinels);
    RUN(masters_on_one_host_from_spec);
    RUN(masters_on_one_host_as_sentinel_reports);
    RUN(every_proxy_on_one_host);
    RUN(proxy_beside_only_replica);
    RUN(even_sentinels);
    RUN(one_sentinel);
    RUN(quorum_below_majority);
    RUN(down_after_below_2000);
    RUN(failover_timeout_against_maxmemory);
    RUN(failover_timeout_against_used_memory);
    RUN(every_kind_has_a_fixture);
    RUN(walkthrough_layout_risks_named);
    RUN(sentinels_split_is_no_master);
    RUN(memory_values);
    return test_done();
}
