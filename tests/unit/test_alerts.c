/*
 * test_alerts.c - the alert rules (alerts.c) on fixture observations
 * (tests/fixtures/alerts/obs_t*.json, 10 s apart) with the rules of
 * tests/fixtures/alerts/spec.yaml: values, rates, `for:`, firing and
 * resolved transitions, unreachable instances, restarts, rules removed.
 * Between two runs the state goes through its JSON form, as from cron.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "diag.h"
#include "observed.h"
#include "spec.h"
#include "test.h"
#include "util.h"

#define FIX "tests/fixtures/alerts/"
#define T0 1764064800000LL /* unix ms */

static struct spec *load_spec(const char *path)
{
    struct diags d = {0};
    struct spec *s = spec_load_file(path, &d);
    diags_release(&d);
    return s;
}

static struct observed *load_obs(int t)
{
    char *path = xasprintf(FIX "obs_t%d.json", t);
    char *text = NULL, *err = NULL;
    struct observed *o = NULL;
    if (read_file(path, 1 << 20, &text, NULL) == 0)
        o = observed_from_json(text, &err);
    if (!o)
        fprintf(stderr, "%s: %s\n", path, err ? err : "unreadable");
    free(err);
    free(text);
    free(path);
    return o;
}

/* The transitions as "firing name addr=value" lines, in order. */
static char *events_text(const struct alert_event *ev, size_t n)
{
    struct strbuf sb = {0};
    for (size_t i = 0; i < n; i++)
        sb_addf(&sb, "%s %s %s=%g%s\n", ev[i].change == ALERT_FIRING ? "firing" : "resolved",
                ev[i].name, ev[i].addr, ev[i].value, ev[i].gone ? " gone" : "");
    return sb_detach(&sb);
}

/*
 * Evaluate observation t at T0 + t*10 s from *st (replaced by the next
 * state, after a JSON round trip) and compare the transitions with `want`.
 */
static void run_at(const struct spec *s, int t, struct alert_state *st, const char *want)
{
    struct observed *o = load_obs(t);
    CHECK(o != NULL);
    if (!o)
        return;
    struct alert_state next;
    struct alert_event *ev;
    size_t n;
    alerts_evaluate(s, o, st, T0 + t * 10000LL, &next, &ev, &n);
    char *got = events_text(ev, n);
    CHECK_STR_EQ(got, want);
    free(got);
    alert_events_free(ev, n);
    char *json = alert_state_to_json(&next);
    alert_state_release(&next);
    alert_state_release(st);
    char *err = NULL;
    CHECK_INT_EQ(alert_state_from_json(json, st, &err), 0);
    free(err);
    free(json);
    observed_free(o);
}

static bool firing(const struct alert_state *st, const char *name, const char *addr)
{
    for (size_t i = 0; i < st->nrows; i++)
        if (!strcmp(st->rows[i].name, name) && !strcmp(st->rows[i].addr, addr))
            return st->rows[i].firing;
    return false;
}

TEST(rules_fire_and_resolve_over_six_observations)
{
    struct spec *s = load_spec(FIX "spec.yaml");
    CHECK(s != NULL);
    if (!s)
        return;
    struct alert_state st = {0};
    /* first look: in range, and no rate has two observations yet */
    run_at(s, 0, &st, "");
    CHECK_INT_EQ(st.nrows, 0);
    CHECK_INT_EQ(st.nsamples, 3);
    run_at(s, 1, &st,
           "firing connected_clients 127.0.0.1:7001=5\n"
           "firing replication_lag_bytes 127.0.0.1:7002=4000\n"
           "firing forward_error_per_sec 127.0.0.1:22121=5\n"
           "firing server_ejects 127.0.0.1:22121=1\n");
    /* cpu at 0.6/s is out of range, but not yet for 20 s */
    CHECK(!firing(&st, "cpu-busy", "127.0.0.1:7001"));
    CHECK_INT_EQ(st.nrows, 5);
    run_at(s, 2, &st,
           "resolved connected_clients 127.0.0.1:7001=1\n"
           "firing slowlog_per_sec 127.0.0.1:7001=20\n"
           "resolved replication_lag_bytes 127.0.0.1:7002=0\n");
    /* the proxy's stats were not aggregated again: its rate is unknown, nothing changes */
    CHECK(firing(&st, "forward_error_per_sec", "127.0.0.1:22121"));
    run_at(s, 3, &st,
           "firing cpu-busy 127.0.0.1:7001=0.6\n"
           "resolved slowlog_per_sec 127.0.0.1:7001=0\n"
           "resolved forward_error_per_sec 127.0.0.1:22121=0\n");
    /* the master does not answer: what it had firing stays firing, nothing is sent */
    run_at(s, 4, &st, "");
    CHECK(firing(&st, "cpu-busy", "127.0.0.1:7001"));
    /* restarted (new run id): no rate across a restart, so cpu-busy holds */
    run_at(s, 5, &st, "firing connected_clients 127.0.0.1:7001=9\n");
    CHECK(firing(&st, "cpu-busy", "127.0.0.1:7001"));

    struct alert_firing *f;
    size_t n = alerts_firing(&st, "al", &f);
    CHECK_INT_EQ(n, 3); /* per instance (redis, then proxies), in rule order */
    if (n == 3) {
        CHECK_STR_EQ(f[0].name, "connected_clients");
        CHECK_INT_EQ(f[0].since_s, (T0 + 50000) / 1000);
        CHECK_STR_EQ(f[1].name, "cpu-busy");
        CHECK_STR_EQ(f[1].cluster, "al");
        CHECK_STR_EQ(f[1].shard, "s1");
        CHECK_STR_EQ(f[1].addr, "127.0.0.1:7001");
        CHECK_STR_EQ(f[1].role, "master");
        CHECK(fabs(f[1].value - 0.6) < 1e-9);
        CHECK_INT_EQ(f[1].since_s, (T0 + 30000) / 1000);
        CHECK_STR_EQ(f[2].name, "server_ejects");
        CHECK(f[2].shard == NULL);
        CHECK_STR_EQ(f[2].role, "proxy");
    }
    free(f);
    char *txt = alerts_firing_text(&st, "127.0.0.1:7001");
    CHECK_STR_EQ(txt, "connected_clients=9, cpu-busy=0.6"); /* in rule order */
    free(txt);
    CHECK(alerts_firing_text(&st, "127.0.0.1:7002") == NULL);

    /* the rules removed from the spec: what was firing resolves, as gone */
    struct diags d = {0};
    const char *text = "cluster: al\ndefaults: { transport: local }\n"
                       "shards: [{name: s1, master: 127.0.0.1:7001, replicas: [127.0.0.1:7002]}]\n"
                       "sentinel: {quorum: 2, nodes: [127.0.0.1:27001, 127.0.0.1:27002, "
                       "127.0.0.1:27003]}\n"
                       "proxies: [{host: 127.0.0.1, listen: 127.0.0.1:22121}]\n"
                       "alerts: [{field: connected_clients, max: 2, on: masters}]\n";
    struct spec *s2 = spec_load_buffer("s2.yaml", text, strlen(text), &d);
    diags_release(&d);
    CHECK(s2 != NULL);
    if (s2)
        run_at(s2, 5, &st,
               "resolved cpu-busy 127.0.0.1:7001=nan gone\n"
               "resolved server_ejects 127.0.0.1:22121=nan gone\n");
    CHECK_INT_EQ(st.nrows, 1);
    spec_free(s2);
    alert_state_release(&st);
    spec_free(s);
}

TEST(for_zero_fires_at_the_first_observation_and_min_alone_works)
{
    struct diags d = {0};
    const char *text = "cluster: al\ndefaults: { transport: local }\n"
                       "shards: [{name: s1, master: 127.0.0.1:7001, replicas: [127.0.0.1:7002]}]\n"
                       "sentinel: {quorum: 2, nodes: [127.0.0.1:27001, 127.0.0.1:27002, "
                       "127.0.0.1:27003]}\n"
                       "alerts: [{field: connected_clients, min: 2, on: replicas, name: lonely},\n"
                       "         {field: used_cpu_user, min: 0, max: 1}]\n";
    struct spec *s = spec_load_buffer("s.yaml", text, strlen(text), &d);
    diags_release(&d);
    CHECK(s != NULL);
    if (!s)
        return;
    struct alert_state st = {0};
    /* used_cpu_user is the raw counter (10 s of CPU on the master): out of 0..1 at once */
    run_at(s, 0, &st,
           "firing used_cpu_user 127.0.0.1:7001=10\n"
           "firing lonely 127.0.0.1:7002=1\n");
    /* firing stays quiet while it stays out of range */
    run_at(s, 1, &st, "");
    alert_state_release(&st);
    spec_free(s);
}

TEST(event_text_names_the_rule_the_instance_and_the_bounds)
{
    struct alert_event e = {.change = ALERT_FIRING, .name = "clients", .field = "connected_clients",
                            .addr = "127.0.0.1:7001", .shard = "s1", .role = "master",
                            .value = 5, .has_max = true, .max = 2};
    char *t = alert_event_text(&e, "prod");
    CHECK_STR_EQ(t, "alert clients firing on 127.0.0.1:7001 (s1 master) in prod: "
                    "connected_clients = 5 (max 2)");
    free(t);
    e.change = ALERT_RESOLVED;
    e.has_min = true;
    e.min = 0;
    e.value = 1;
    t = alert_event_text(&e, "prod");
    CHECK_STR_EQ(t, "alert clients resolved on 127.0.0.1:7001 (s1 master) in prod: "
                    "connected_clients = 1 (allowed 0..2)");
    free(t);
}

TEST(a_damaged_state_is_read_as_far_as_it_goes)
{
    struct alert_state st;
    char *err = NULL;
    CHECK_INT_EQ(alert_state_from_json("[1]", &st, &err), -1);
    free(err);
    err = NULL;
    CHECK_INT_EQ(alert_state_from_json("{\"rows\": [{\"name\": \"x\"}, {\"name\": \"y\", \"addr\": "
                                       "\"1.2.3.4:5\", \"value\": 3, \"firing\": true}]}",
                                       &st, &err),
                 0);
    CHECK_INT_EQ(st.nrows, 1);
    CHECK(st.rows[0].firing);
    alert_state_release(&st);
}

int main(void)
{
    RUN(rules_fire_and_resolve_over_six_observations);
    RUN(for_zero_fires_at_the_first_observation_and_min_alone_works);
    RUN(event_text_names_the_rule_the_instance_and_the_bounds);
    RUN(a_damaged_state_is_read_as_far_as_it_goes);
    return test_done();
}
