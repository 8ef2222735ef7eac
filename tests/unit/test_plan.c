/*
 * test_plan.c - the planner and its renderings against golden files.
 *
 * Every directory under tests/fixtures/plan/ is a case: spec.yaml and
 * observed.json in, expected.txt, expected.explain.txt (plan --explain: where
 * each step comes from) and expected.json (and expected.md where it exists)
 * out. UPDATE_GOLDEN=1 rewrites the expected files: review them by
 * hand before committing. Invariants of every plan and the provenance of its
 * steps are checked on each case; the observed-JSON model, the fingerprint and
 * the step-kind table here too. Properties that matter for safety are checked
 * in code in test_plan_safety.c, so a careless golden update cannot hide them;
 * plan_case.h loads the cases for both.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fingerprint.h"
#include "observed.h"
#include "plan.h"
#include "plan_case.h"
#include "render.h"
#include "spec.h"
#include "test.h"
#include "util.h"

/* whether ip:port is a member of shard sh */
static bool shard_has(const struct spec_shard *sh, const char *ip, int port)
{
    if (sh->master.port == port && str_eq(sh->master.ip, ip))
        return true;
    for (size_t k = 0; k < sh->nreplicas; k++)
        if (sh->replicas[k].port == port && str_eq(sh->replicas[k].ip, ip))
            return true;
    return false;
}

static bool has_reset(const struct plan *p, const char *ip, int port, const char *shard)
{
    for (size_t i = 0; i < p->nsteps; i++) {
        const struct step *s = &p->steps[i];
        if (s->kind == STEP_SENTINEL_RESET && s->port == port && str_eq(s->ip, ip) &&
            str_eq(s->shard, shard))
            return true;
    }
    return false;
}

/*
 * A plan that acts leaves no sentinel listing, as a replica of a shard, a
 * node outside it: a failover could promote that node and wipe the shard.
 * A shard left to Sentinel (failing over) is not acted on: the next plan
 * resets it.
 */
static void check_no_foreign_replicas(const struct spec *sp, const struct observed *o,
                                      const struct plan *p)
{
    if (p->nrefusals)
        return;
    for (size_t j = 0; j < o->nsentinels; j++) {
        const struct obs_sentinel *os = &o->sentinels[j];
        if (os->reach != REACH_OK)
            continue;
        for (size_t m = 0; m < os->nmasters; m++)
            for (size_t i = 0; i < sp->nshards; i++) {
                const struct spec_shard *sh = &sp->shards[i];
                if (!str_eq(os->masters[m].name, sh->name) || p->shard_waiting[i])
                    continue;
                for (size_t k = 0; k < os->masters[m].nreplicas; k++) {
                    const struct obs_sentinel_peer *pe = &os->masters[m].replicas[k];
                    if (!shard_has(sh, pe->ip, pe->port) && !has_reset(p, os->ip, os->port, sh->name)) {
                        printf("    sentinel %s:%d lists %s:%d for %s and is not reset\n",
                               os->ip, os->port, pe->ip, pe->port, sh->name);
                        test_current_failed = 1;
                    }
                }
            }
    }
}

/* ---------------------------------------------------------------- provenance */

/* the text of the spec at line:col (1-based), or NULL past its end */
static const char *spec_text_at(const struct spec *sp, int line, int col)
{
    const char *t = sp->source;
    for (int l = 1; t && l < line; l++) {
        t = strchr(t, '\n');
        if (t)
            t++;
    }
    if (!t || col < 1)
        return NULL;
    for (int c = 1; c < col; c++)
        if (!t[0] || t[0] == '\n')
            return NULL;
        else
            t++;
    return t;
}

static bool starts_with(const char *s, const char *prefix)
{
    return s && !strncmp(s, prefix, strlen(prefix));
}

static bool path_is_address(const char *path)
{
    size_t n = strlen(path);
    return (n > 7 && !strcmp(path + n - 7, ".master")) || (n > 7 && !strcmp(path + n - 7, ".listen")) ||
           strstr(path, ".replicas[") || starts_with(path, "sentinel.nodes[");
}

/*
 * One spec ref of a step (or refusal: st NULL) about shard `shard` (or
 * NULL): the line it names really holds what its path says.
 */
static void check_ref(const struct spec *sp, const struct plan_spec_ref *r, const char *shard)
{
    const char *t = spec_text_at(sp, r->line, r->col);
    if (!t) {
        printf("    ref %d:%d %s: outside the spec\n", r->line, r->col, r->path);
        test_current_failed = 1;
        return;
    }
    size_t n;
    if (path_is_address(r->path)) {
        /* an address as written: NAME:PORT, IP:PORT or [v6]:PORT */
        CHECK(strchr(t, ':') && (t[0] == '[' || (t[0] >= '0' && t[0] <= '9') ||
                                 (t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z')));
    } else if (starts_with(r->path, "redis.config.")) {
        CHECK(starts_with(t, r->path + strlen("redis.config.")));
    } else if (starts_with(r->path, "auth.")) {
        CHECK(starts_with(t, r->path + strlen("auth.")));
    } else if (starts_with(r->path, "sentinel.")) {
        CHECK(starts_with(t, r->path + strlen("sentinel.")));
    } else if (sscanf(r->path, "shards[%zu]", &n) == 1) {
        CHECK(n < sp->nshards && sp->shards[n].pos.line == r->line);
        if (n < sp->nshards && shard && !str_eq(shard, sp->shards[n].name)) {
            printf("    ref %s names shard %s, the step is about %s\n", r->path,
                   sp->shards[n].name, shard);
            test_current_failed = 1;
        }
    } else if (sscanf(r->path, "proxies[%zu]", &n) == 1) {
        CHECK(n < sp->nproxies && sp->proxies[n].pos.line == r->line);
    } else if (!strcmp(r->path, "cluster") || !strcmp(r->path, "sentinel")) {
        CHECK(r->line == (r->path[0] == 'c' ? sp->cluster_pos.line : sp->sentinel.pos.line));
    } else {
        printf("    ref %d:%d: unexpected path '%s'\n", r->line, r->col, r->path);
        test_current_failed = 1;
    }
}

/* whether ip:port is a sentinel of the spec */
static bool spec_has_sentinel(const struct spec *sp, const char *ip, int port)
{
    for (size_t j = 0; j < sp->sentinel.nnodes; j++)
        if (sp->sentinel.nodes[j].port == port && str_eq(sp->sentinel.nodes[j].ip, ip))
            return true;
    return false;
}

/*
 * Provenance of every step and refusal: never empty; a fact and a refusal
 * say what was observed; a step on an instance of the spec cites that
 * instance first, at the line and column where its address is written; every
 * cited line holds what the path says; --explain shows each of them.
 */
static void check_sources(const struct tcase *c, const char *explained)
{
    const struct spec *sp = c->spec;
    for (size_t i = 0; i < c->plan->nsteps; i++) {
        const struct step *st = &c->plan->steps[i];
        const struct plan_source *src = &st->source;
        CHECK(src->nspec + src->nobserved > 0);
        if (step_kind_has(st->kind, STEPF_FACT) && !src->nobserved) {
            printf("    = %s %s: no observation\n", step_kind_name(st->kind), st->target);
            test_current_failed = 1;
        }
        bool on_spec = (st->instance == INSTANCE_REDIS && spec_shard_of(sp, st->ip, st->port)) ||
                       (st->instance == INSTANCE_SENTINEL &&
                        spec_has_sentinel(sp, st->ip, st->port));
        if (on_spec) {
            const char *t = src->nspec ? spec_text_at(sp, src->spec[0].line, src->spec[0].col)
                                       : NULL;
            if (!starts_with(t, st->target)) {
                printf("    %s %s: first ref is not where its address is written\n",
                       step_kind_name(st->kind), st->target);
                test_current_failed = 1;
            }
        }
        if (st->instance == INSTANCE_PROXY)
            CHECK(src->nspec && starts_with(src->spec[0].path, "proxies["));
        /* a node the spec does not have rests on what was observed of it */
        if (!on_spec && st->instance != INSTANCE_PROXY)
            CHECK(src->nobserved > 0);
        for (size_t k = 0; k < src->nspec; k++) {
            check_ref(sp, &src->spec[k], st->shard);
            char *line = plan_spec_ref_text(sp->file, &src->spec[k]);
            CHECK(strstr(explained, line) != NULL);
            free(line);
        }
        for (size_t k = 0; k < src->nobserved; k++)
            CHECK(strstr(explained, src->observed[k]) != NULL);
    }
    for (size_t i = 0; i < c->plan->nrefusals; i++) {
        const struct plan_refusal *r = &c->plan->refusals[i];
        CHECK(r->source.nobserved > 0);
        CHECK(r->source.nspec > 0 && starts_with(r->source.spec[0].path, "shards["));
        for (size_t k = 0; k < r->source.nspec; k++)
            check_ref(sp, &r->source.spec[k], r->shard);
    }
}

/* ---------------------------------------------------------------- goldens */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the case directories, sorted */
static size_t list_cases(char ***out)
{
    DIR *d = opendir(fixtures_dir());
    size_t n = 0, cap = 0;
    *out = NULL;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = xasprintf("%s/%s/spec.yaml", fixtures_dir(), e->d_name);
        struct stat st;
        if (stat(p, &st) == 0) {
            VEC_GROW(*out, n, cap);
            (*out)[n++] = xstrdup(e->d_name);
        }
        free(p);
    }
    closedir(d);
    qsort(*out, n, sizeof(**out), cmp_names);
    return n;
}

static void golden_case(const char *name)
{
    struct tcase c;
    printf("  case %s\n", name);
    if (!case_load(&c, name)) {
        test_current_failed = 1;
        return;
    }
    char *fp = fingerprint_compute(c.spec, NULL, c.obs);
    char *text = render_plan_text(c.spec, c.plan, false);
    char *json = render_plan_json(c.spec, c.plan, fp, NULL, NULL);
    char *path = xasprintf("%s/expected.txt", c.dir);
    check_golden(path, text);
    free(path);
    path = xasprintf("%s/expected.json", c.dir);
    check_golden(path, json);
    free(path);
    /* plan --explain: every step and refusal with its spec lines and observations */
    char *explained = render_plan_text_explain(c.spec, c.plan, false);
    path = xasprintf("%s/expected.explain.txt", c.dir);
    check_golden(path, explained);
    free(path);

    /* Markdown only where a golden exists (touch expected.md to add one) */
    path = xasprintf("%s/expected.md", c.dir);
    struct stat st;
    if (stat(path, &st) == 0) {
        char *md = render_plan_markdown(c.spec, c.plan, fp,
                                        "0123456789abcdef0123456789abcdef01234567",
                                        "Lower `maxmemory` <b>now</b>");
        check_golden(path, md);
        CHECK(!strchr(md, '\033'));
        free(md);
    }
    free(path);

    /* invariants of every plan */
    check_no_foreign_replicas(c.spec, c.obs, c.plan);
    CHECK(!strchr(text, '\033'));
    CHECK(!strstr(text, "hunter2") && !strstr(json, "hunter2"));
    if (c.plan->nrefusals)
        CHECK_INT_EQ(c.plan->nsteps, 0);
    for (size_t i = 0; i < c.plan->nsteps; i++) {
        const struct step *s = &c.plan->steps[i];
        if (i > 0)
            CHECK(c.plan->steps[i - 1].wave <= s->wave);
        /* never touch the role of a shard's master */
        for (size_t k = 0; k < c.spec->nshards; k++) {
            const struct spec_addr *m = &c.plan->masters[k];
            if (s->kind == STEP_REPLICAOF)
                CHECK(!(s->port == m->port && str_eq(s->ip, m->ip)));
        }
        /* a master is started as master only when no other member of its shard runs */
        if (s->kind == STEP_START && s->instance == INSTANCE_REDIS && !s->master_ip) {
            const struct spec_shard *sh = spec_shard_of(c.spec, s->ip, s->port);
            for (size_t k = 0; sh && k <= sh->nreplicas; k++) {
                const struct spec_addr *a = k == 0 ? &sh->master : &sh->replicas[k - 1];
                const struct obs_redis *r = observed_redis(c.obs, a->ip, a->port);
                if (a->port == s->port && str_eq(a->ip, s->ip))
                    continue;
                CHECK(r && (r->reach == REACH_REFUSED || (r->reach == REACH_OK && r->keys == 0)));
            }
        }
    }
    check_sources(&c, explained);
    free(explained);
    free(text);
    free(json);
    free(fp);
    case_free(&c);
}

TEST(goldens)
{
    char **names;
    size_t n = list_cases(&names);
    CHECK(n >= 15);
    for (size_t i = 0; i < n; i++) {
        golden_case(names[i]);
        free(names[i]);
    }
    free(names);
}

/* ---------------------------------------------------------------- properties */

/* ---------------------------------------------------------------- model */

TEST(observed_json_round_trip)
{
    char **names;
    size_t n = list_cases(&names);
    for (size_t i = 0; i < n; i++) {
        char *p = xasprintf("%s/%s/observed.json", fixtures_dir(), names[i]);
        char *text = test_slurp(p), *err = NULL;
        struct observed *o = text ? observed_from_json(text, &err) : NULL;
        CHECK(o != NULL);
        if (o) {
            char *a = observed_to_json(o);
            struct observed *o2 = observed_from_json(a, &err);
            CHECK(o2 != NULL);
            if (o2) {
                char *b = observed_to_json(o2);
                CHECK_STR_EQ(a, b);
                free(b);
            }
            observed_free(o2);
            free(a);
        }
        observed_free(o);
        free(err);
        free(text);
        free(p);
        free(names[i]);
    }
    free(names);
}

TEST(observed_json_rejects_bad_input)
{
    const char *bad[] = {
        "",
        "[]",
        "{\"redis\": [{\"ip\": \"127.0.0.1\", \"port\": 7001}]}",               /* no reach */
        "{\"redis\": [{\"ip\": \"127.0.0.1\", \"port\": 7001, \"reach\": \"maybe\"}]}",
        "{\"redis\": [{\"ip\": \"127.0.0.1\", \"port\": 70001, \"reach\": \"ok\"}]}",
        "{\"redis\": [{\"ip\": \"127.0.0.1\", \"port\": 7001, \"reach\": \"ok\", \"kyes\": 1}]}",
        ("{\"sentinels\": [{\"ip\": \"127.0.0.1\", \"port\": 1, \"reach\": \"ok\", "
         "\"masters\": [{\"ip\": \"x\"}]}]}"),
        "{\"proxies\": {}}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *err = NULL;
        struct observed *o = observed_from_json(bad[i], &err);
        CHECK(o == NULL);
        CHECK(err != NULL && *err);
        observed_free(o);
        free(err);
    }
    char *err = NULL;
    struct observed *o = observed_from_json(
        "{\"redis\": [{\"ip\": \"127.0.0.1\", \"port\": 7001, \"reach\": \"kyes\"}]}", &err);
    CHECK(!o);
    CHECK_CONTAINS(err, "redis[0]");
    free(err);
}

TEST(reach_names)
{
    for (int r = REACH_OK; r <= REACH_NOT_CHECKED; r++) {
        enum reach back;
        CHECK(reach_from_name(reach_name((enum reach)r), &back));
        CHECK_INT_EQ(back, r);
    }
    enum reach x;
    CHECK(!reach_from_name("nope", &x));
    CHECK(!reach_from_name(NULL, &x));
}

/* ---------------------------------------------------------------- fingerprint */

TEST(fingerprint_ignores_counters)
{
    LOAD(c, "converged");
    char *a = fingerprint_compute(c.spec, "abc", c.obs);
    CHECK_INT_EQ(strlen(a), 40);

    /* offsets, uptimes, timestamps and key counts move all the time */
    c.obs->redis[0].master_repl_offset += 1000;
    c.obs->redis[1].slave_repl_offset += 1000;
    c.obs->redis[0].keys += 5;
    c.obs->proxies[0].uptime_s += 60;
    c.obs->proxies[0].timestamp_s += 60;
    c.obs->took_ms += 7;
    char *b = fingerprint_compute(c.spec, "abc", c.obs);
    CHECK_STR_EQ(a, b);

    /* order of SENTINEL MASTERS entries is not a change */
    struct obs_sentinel *s = &c.obs->sentinels[0];
    if (s->nmasters == 2) {
        struct obs_sentinel_master t = s->masters[0];
        s->masters[0] = s->masters[1];
        s->masters[1] = t;
    }
    char *b2 = fingerprint_compute(c.spec, "abc", c.obs);
    CHECK_STR_EQ(a, b2);

    /* nor the order or flags of the replicas a sentinel lists, but a new entry is */
    struct obs_sentinel_master *sm = &c.obs->sentinels[0].masters[0];
    sm->replicas = xrealloc(sm->replicas, (sm->nreplicas + 1) * sizeof(*sm->replicas));
    struct obs_sentinel_peer extra = {.ip = xstrdup("127.0.0.1"), .port = 7004,
                                      .flags = xstrdup("slave")};
    sm->replicas[sm->nreplicas++] = extra;
    char *e1 = fingerprint_compute(c.spec, "abc", c.obs);
    CHECK(strcmp(a, e1) != 0);
    struct obs_sentinel_peer t = sm->replicas[0];
    sm->replicas[0] = sm->replicas[sm->nreplicas - 1];
    sm->replicas[sm->nreplicas - 1] = t;
    free(sm->replicas[0].flags);
    sm->replicas[0].flags = xstrdup("s_down,slave");
    char *e2 = fingerprint_compute(c.spec, "abc", c.obs);
    CHECK_STR_EQ(e1, e2);
    free(e1);
    free(e2);

    /* a failover, a restart, another commit or a hand edit are */
    char *d1 = fingerprint_compute(c.spec, "abd", c.obs);
    CHECK(strcmp(a, d1) != 0);
    free(c.obs->redis[1].run_id);
    c.obs->redis[1].run_id = xstrdup("restarted");
    char *d2 = fingerprint_compute(c.spec, "abc", c.obs);
    CHECK(strcmp(a, d2) != 0);
    c.obs->sentinels[1].masters[0].config_epoch++;
    char *d3 = fingerprint_compute(c.spec, "abc", c.obs);
    CHECK(strcmp(d2, d3) != 0);
    char *old = c.obs->proxies[0].config_text;
    c.obs->proxies[0].config_text = xasprintf("%s# edited\n", old);
    free(old);
    char *d4 = fingerprint_compute(c.spec, "abc", c.obs);
    CHECK(strcmp(d3, d4) != 0);
    char *d5 = fingerprint_compute(c.spec, NULL, c.obs);
    CHECK(strcmp(d4, d5) != 0);

    free(a);
    free(b);
    free(b2);
    free(d1);
    free(d2);
    free(d3);
    free(d4);
    free(d5);
    case_free(&c);
}

/* ---------------------------------------------------------------- rendering */

TEST(text_colour_only_when_asked)
{
    LOAD(c, "failover");
    char *plain = render_plan_text(c.spec, c.plan, false);
    char *col = render_plan_text(c.spec, c.plan, true);
    CHECK(!strchr(plain, '\033'));
    CHECK(strchr(col, '\033') != NULL);
    CHECK_CONTAINS(col, "\033[33m~\033[0m proxy-restart");
    CHECK_CONTAINS(plain, "Plan: 0 to add, 2 to change, 0 to remove.\n");
    free(plain);
    free(col);
    case_free(&c);
}

TEST(summary_lines)
{
    struct plan p = {0};
    char *s = render_plan_summary(&p);
    CHECK_STR_EQ(s, "No changes. The cluster matches the spec.");
    free(s);
    CHECK(!plan_has_changes(&p));
    p.unreachable = 2;
    CHECK(plan_has_changes(&p));
    s = render_plan_summary(&p);
    CHECK_STR_EQ(s, "No changes planned for the instances that could be observed.");
    free(s);
}

TEST(names)
{
    CHECK_STR_EQ(step_kind_name(STEP_PROXY_RESTART), "proxy-restart");
    CHECK_STR_EQ(step_kind_name(STEP_OBSERVED), "observed");
    CHECK_STR_EQ(step_kind_name(STEP_SENTINEL_RESET), "sentinel-reset");
    CHECK_STR_EQ(step_action_symbol(ACTION_REPLACE), "-/+");
    CHECK_STR_EQ(step_safety_name(SAFETY_DESTRUCTIVE), "destructive");
    CHECK_STR_EQ(instance_kind_name(INSTANCE_SENTINEL), "sentinel");
}

/* every row of STEP_KINDS has a name of its own; only "observed" is a fact */
TEST(step_kind_table)
{
    for (size_t k = 0; k < STEP_KIND_COUNT; k++) {
        const char *name = step_kind_name((enum step_kind)k);
        CHECK(name && *name);
        for (size_t j = 0; j < k; j++)
            CHECK(!str_eq(name, step_kind_name((enum step_kind)j)));
        CHECK(step_kind_has((enum step_kind)k, STEPF_FACT) == (k == STEP_OBSERVED));
    }
    CHECK(step_kind_desc(STEP_SENTINEL_RESET)->lane == LANE_SENTINEL_RESET);
    CHECK(step_kind_desc(STEP_SENTINEL_AUTH)->lane == LANE_SENTINEL_AUTH);
    CHECK(step_kind_has(STEP_SENTINEL_SET, STEPF_LABEL_SHARD | STEPF_KV_DETAILS));
    CHECK(!(step_kind_desc(STEP_STOP)->gates & GATE_OWN));
}

/* docs/plan-json.md lists the values of "kind" by hand: every row of STEP_KINDS is there */
TEST(step_kinds_documented)
{
    const char *t = getenv("RMGR_TESTS_DIR");
    char *p = xasprintf("%s/../docs/plan-json.md", t && *t ? t : "tests");
    char *doc = test_slurp(p);
    CHECK(doc != NULL);
    const char *row = doc ? strstr(doc, "| `kind` |") : NULL;
    CHECK(row != NULL);
    if (row) {
        const char *eol = strchr(row, '\n');
        char *line = xstrndup(row, eol ? (size_t)(eol - row) : strlen(row));
        for (size_t k = 0; k < STEP_KIND_COUNT; k++) {
            char *quoted = xasprintf("`%s`", step_kind_name((enum step_kind)k));
            CHECK_CONTAINS(line, quoted);
            free(quoted);
        }
        free(line);
    }
    free(doc);
    free(p);
}

int main(void)
{
    RUN(goldens);
    RUN(observed_json_round_trip);
    RUN(observed_json_rejects_bad_input);
    RUN(reach_names);
    RUN(fingerprint_ignores_counters);
    RUN(text_colour_only_when_asked);
    RUN(summary_lines);
    RUN(names);
    RUN(step_kind_table);
    RUN(step_kinds_documented);
    return test_done();
}
