/*
 * test_plan.c - the planner and its renderings against golden files.
 *
 * Every directory under tests/fixtures/plan/ is a case: spec.yaml and
 * observed.json in, expected.txt, expected.explain.txt (plan --explain: where
 * each step comes from) and expected.json (and expected.md where it exists)
 * out. UPDATE_GOLDEN=1 rewrites the expected files: review them by
 * hand before committing. Properties that matter for safety are checked in
 * code as well, so a careless golden update cannot hide them.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apply.h"
#include "conf.h"
#include "fingerprint.h"
#include "observed.h"
#include "plan.h"
#include "render.h"
#include "spec.h"
#include "test.h"
#include "util.h"

static const char *fixtures_dir(void)
{
    static char path[4096];
    const char *t = getenv("RMGR_TESTS_DIR");
    snprintf(path, sizeof(path), "%s/fixtures/plan", t && *t ? t : "tests");
    return path;
}

/* One loaded case; free with case_free(). */
struct tcase {
    char *dir;
    struct spec *spec;
    struct observed *obs;
    struct plan *plan;
};

static void case_free(struct tcase *c)
{
    plan_free(c->plan);
    observed_free(c->obs);
    spec_free(c->spec);
    free(c->dir);
    memset(c, 0, sizeof(*c));
}

static bool case_load(struct tcase *c, const char *name)
{
    memset(c, 0, sizeof(*c));
    c->dir = xasprintf("%s/%s", fixtures_dir(), name);
    char *sp = xasprintf("%s/spec.yaml", c->dir);
    char *op = xasprintf("%s/observed.json", c->dir);
    struct diags d = {0};
    c->spec = spec_load_file(sp, &d);
    if (!c->spec) {
        printf("    %s: spec does not load:\n", sp);
        diags_print(&d, stdout);
    }
    diags_release(&d);
    char *text = test_slurp(op), *err = NULL;
    if (text) {
        c->obs = observed_from_json(text, &err);
        if (!c->obs)
            printf("    %s: %s\n", op, err);
    } else {
        printf("    %s: cannot read\n", op);
    }
    free(err);
    free(text);
    free(sp);
    free(op);
    if (!c->spec || !c->obs) {
        case_free(c);
        return false;
    }
    /* goldens must not depend on where the tests run from */
    free(c->spec->file);
    c->spec->file = xasprintf("%s/spec.yaml", name);
    c->plan = plan_compute(c->spec, c->obs);
    return true;
}

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
                if (!str_eq(os->masters[m].name, sh->name))
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

static size_t count_kind(const struct plan *p, enum step_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nsteps; i++)
        n += p->steps[i].kind == k;
    return n;
}

static const struct step *find_step(const struct plan *p, enum step_kind k, const char *target)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == k && (!target || str_eq(p->steps[i].target, target)))
            return &p->steps[i];
    return NULL;
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

#define LOAD(c, name)                                                                        \
    struct tcase c;                                                                          \
    if (!case_load(&c, name)) {                                                              \
        test_current_failed = 1;                                                             \
        return;                                                                              \
    }

TEST(empty_creates_everything)
{
    LOAD(c, "empty");
    struct plan_counts n = plan_count(c.plan);
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(n.change, 0);
    CHECK_INT_EQ(n.remove, 0);
    /* 4 redis + 3 sentinels + 1 proxy: files and start each, 2 monitors per sentinel */
    CHECK_INT_EQ(count_kind(c.plan, STEP_INSTALL_FILES), 8);
    CHECK_INT_EQ(count_kind(c.plan, STEP_START), 8);
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_MONITOR), 6);
    CHECK_INT_EQ(n.add, 22);
    /* spec spelling for targets, IPs for addresses */
    const struct step *s = find_step(c.plan, STEP_START, "node1:7002");
    CHECK(s != NULL);
    if (s) {
        CHECK_STR_EQ(s->ip, "127.0.0.1");
        CHECK_STR_EQ(s->master_ip, "127.0.0.1");
        CHECK_INT_EQ(s->master_port, 7001);
    }
    s = find_step(c.plan, STEP_START, "node1:7001");
    CHECK(s && !s->master_ip);
    CHECK(plan_has_changes(c.plan));
    CHECK(!plan_has_destructive(c.plan));
    case_free(&c);
}

TEST(converged_has_no_changes)
{
    const char *names[] = {"converged", "auth-converged"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        LOAD(c, names[i]);
        CHECK_INT_EQ(c.plan->nsteps, 0);
        CHECK_INT_EQ(c.plan->nrefusals, 0);
        CHECK_INT_EQ(c.plan->nwarnings, 0);
        CHECK(!plan_has_changes(c.plan));
        char *t = render_plan_text(c.spec, c.plan, false);
        CHECK_STR_EQ(t, "No changes. The cluster matches the spec.\n");
        free(t);
        case_free(&c);
    }
}

/* set key=value in an observed kv array (added when absent) */
static void kv_put(struct obs_kv **kv, size_t *n, const char *key, const char *value)
{
    for (size_t i = 0; i < *n; i++)
        if (str_eq((*kv)[i].key, key)) {
            free((*kv)[i].value);
            (*kv)[i].value = xstrdup(value);
            return;
        }
    *kv = xrealloc(*kv, (*n + 1) * sizeof(**kv));
    (*kv)[*n].key = xstrdup(key);
    (*kv)[*n].value = xstrdup(value);
    (*n)++;
}

/* the setting `key` of the step of kind k on port, or NULL */
static const char *step_setting(const struct plan *p, enum step_kind k, int port, const char *key)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == k && p->steps[i].port == port)
            return obs_kv_get(p->steps[i].settings, p->steps[i].nsettings, key);
    return NULL;
}

TEST(delay_left_at_zero_is_put_back)
{
    LOAD(c, "converged");
    struct obs_redis *m = &c.obs->redis[0]; /* 127.0.0.1:7001, shard1's master */
    const char *key = "repl-diskless-sync-delay";
    /* the state an apply killed between lowering and restoring leaves: 0 at runtime only */
    kv_put(&m->config, &m->nconfig, key, "0");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nsteps, 1);
    CHECK_STR_EQ(step_setting(c.plan, STEP_CONFIG_SET, 7001, key), "5");
    /* the value its file has */
    kv_put(&m->files.conf, &m->files.nconf, key, "3");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nsteps, 1);
    CHECK_STR_EQ(step_setting(c.plan, STEP_CONFIG_SET, 7001, key), "3");
    /* a 0 in the file too is someone's choice; so is any other value */
    kv_put(&m->files.conf, &m->files.nconf, key, "0");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nsteps, 0);
    kv_put(&m->config, &m->nconfig, key, "2");
    kv_put(&m->files.conf, &m->files.nconf, key, "3");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nsteps, 0);
    /* started without a config file (a node being taken over): its 0 is its operator's */
    kv_put(&m->config, &m->nconfig, key, "0");
    kv_put(&m->files.conf, &m->files.nconf, key, "5");
    m->config_file = xstrdup("");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK(!step_setting(c.plan, STEP_CONFIG_SET, 7001, key));
    free(m->config_file);
    m->config_file = xstrdup("/srv/redis/7001/redis.conf");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_STR_EQ(step_setting(c.plan, STEP_CONFIG_SET, 7001, key), "5");
    /* no redis.conf to tell (a node rmgr did not deploy): left alone */
    kv_put(&m->config, &m->nconfig, key, "0");
    m->files.conf_present = false;
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK(!step_setting(c.plan, STEP_CONFIG_SET, 7001, key));
    case_free(&c);
}

TEST(failover_follows_sentinel)
{
    LOAD(c, "failover");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(count_kind(c.plan, STEP_REPLICAOF), 0);
    CHECK_STR_EQ(c.plan->masters[0].ip, "127.0.0.1");
    CHECK_INT_EQ(c.plan->masters[0].port, 7002);
    CHECK(c.plan->master_from_sentinel[0]);
    for (size_t i = 0; i < c.plan->nsteps; i++) {
        const struct step *s = &c.plan->steps[i];
        /* only the "=" fact may name the new master */
        if (s->port == 7002)
            CHECK(s->kind == STEP_OBSERVED);
    }
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_CONFIG), 1);
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_RESTART), 1);
    CHECK_INT_EQ(count_kind(c.plan, STEP_OBSERVED), 1);
    CHECK_INT_EQ(c.plan->nsteps, 3);
    const struct step *o = find_step(c.plan, STEP_OBSERVED, NULL);
    if (o)
        CHECK_STR_EQ(o->reason, "shard1 master is 127.0.0.1:7002 (Sentinel-owned; spec "
                                "bootstrap master 127.0.0.1:7001)");
    const struct step *pc = find_step(c.plan, STEP_PROXY_CONFIG, NULL);
    if (pc) {
        CHECK_STR_EQ(pc->before, "shard1 127.0.0.1:7001");
        CHECK_STR_EQ(pc->after, "shard1 127.0.0.1:7002");
        CHECK(pc->safety == SAFETY_DISRUPTIVE);
    }
    case_free(&c);
}

TEST(refusals_plan_nothing)
{
    struct {
        const char *name, *needle;
    } cases[] = {
        {"second-master", "runs as a second master of shard1 while Sentinel owns 127.0.0.1:7002; Sentinel lists it as a replica and demotes it"},
        {"sentinels-disagree", "sentinels disagree"},
        {"no-quorum", "no quorum"},
        {"replica-outside-shard", "127.0.0.1:7099, which is not a member of shard1"},
        {"two-masters", "two masters"},
        {"master-down-no-sentinel", "could wipe that replica"},
        {"foreign-replica", "unknown node 127.0.0.1:7099 replicates from the master of shard1; "
                            "Sentinel could promote it"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        LOAD(c, cases[i].name);
        CHECK_INT_EQ(c.plan->nrefusals, 1);
        CHECK_INT_EQ(c.plan->nsteps, 0);
        if (c.plan->nrefusals) {
            CHECK_STR_EQ(c.plan->refusals[0].shard, "shard1");
            CHECK_CONTAINS(c.plan->refusals[0].diagnosis, cases[i].needle);
            /* the diagnosis names every node of the shard */
            CHECK_CONTAINS(c.plan->refusals[0].diagnosis, "redis 127.0.0.1:7001:");
            CHECK_CONTAINS(c.plan->refusals[0].diagnosis, "redis 127.0.0.1:7002:");
        }
        char *t = render_plan_text(c.spec, c.plan, false);
        CHECK_CONTAINS(t, "Error: refusing to plan shard shard1:\n");
        free(t);
        char *j = render_plan_json(c.spec, c.plan, NULL, NULL, NULL);
        CHECK_CONTAINS(j, "\"refused\": true");
        free(j);
        case_free(&c);
    }
}

TEST(sentinel_drift_sets_only_drifted_options)
{
    LOAD(c, "sentinel-drift");
    CHECK_INT_EQ(c.plan->nsteps, 1);
    const struct step *s = find_step(c.plan, STEP_SENTINEL_SET, "127.0.0.1:26002");
    CHECK(s != NULL);
    if (s) {
        CHECK_INT_EQ(s->nsettings, 2);
        CHECK_STR_EQ(obs_kv_get(s->settings, s->nsettings, "quorum"), "2");
        CHECK_STR_EQ(obs_kv_get(s->settings, s->nsettings, "down-after-milliseconds"), "5000");
        CHECK_STR_EQ(s->shard, "shard1");
    }
    case_free(&c);
}

TEST(config_drift)
{
    LOAD(c, "config-drift");
    const struct step *s = find_step(c.plan, STEP_CONFIG_SET, "127.0.0.1:7001");
    CHECK(s && s->nsettings == 1);
    if (s && s->nsettings)
        CHECK_STR_EQ(s->settings[0].key, "maxmemory");
    CHECK(find_step(c.plan, STEP_CONFIG_REWRITE, "127.0.0.1:7003") != NULL);
    CHECK_INT_EQ(c.plan->nsteps, 2);
    case_free(&c);
}

TEST(shard_removed_is_destructive)
{
    LOAD(c, "shard-removed");
    CHECK(plan_has_destructive(c.plan));
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_REMOVE), 3);
    CHECK_INT_EQ(count_kind(c.plan, STEP_STOP), 2);
    CHECK_INT_EQ(count_kind(c.plan, STEP_REMOVE_FILES), 2);
    /* nothing of shard1 is stopped; the clean-up runs after the proxies moved */
    for (size_t i = 0; i < c.plan->nsteps; i++) {
        const struct step *s = &c.plan->steps[i];
        if (s->kind == STEP_STOP || s->kind == STEP_REMOVE_FILES) {
            CHECK(s->port == 7003 || s->port == 7004);
            CHECK(s->wave == WAVE_CLEANUP);
        }
    }
    const struct step *pc = find_step(c.plan, STEP_PROXY_CONFIG, NULL);
    CHECK(pc && pc->after && strstr(pc->after, "shard2 (removed)"));
    case_free(&c);
}

/* the index of the stop of 127.0.0.1:port in p, or SIZE_MAX */
static size_t stop_index(const struct plan *p, int port)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == STEP_STOP && p->steps[i].port == port)
            return i;
    return SIZE_MAX;
}

TEST(removed_shard_master_stops_after_its_replicas)
{
    LOAD(c, "shard-removed");
    size_t m = stop_index(c.plan, 7003), r = stop_index(c.plan, 7004);
    CHECK(m != SIZE_MAX && r != SIZE_MAX);
    if (m == SIZE_MAX || r == SIZE_MAX) {
        case_free(&c);
        return;
    }
    /* Sentinel's master 7003 waits for its replica 7004, not the other way round */
    CHECK(c.plan->steps[m].stops_master && !c.plan->steps[r].stops_master);
    CHECK(apply_step_waits_for(c.plan, m, r));
    CHECK(!apply_step_waits_for(c.plan, r, m));

    /* after a failover (every sentinel names 7004, which answers as master) the roles turn */
    for (size_t j = 0; j < c.obs->nsentinels; j++)
        for (size_t k = 0; k < c.obs->sentinels[j].nmasters; k++) {
            struct obs_sentinel_master *sm = &c.obs->sentinels[j].masters[k];
            if (!str_eq(sm->name, "shard2"))
                continue;
            sm->port = 7004;
            for (size_t q = 0; q < sm->nreplicas; q++)
                sm->replicas[q].port = 7003;
        }
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    m = stop_index(c.plan, 7004);
    r = stop_index(c.plan, 7003);
    CHECK(m != SIZE_MAX && r != SIZE_MAX);
    if (m != SIZE_MAX && r != SIZE_MAX) {
        CHECK(c.plan->steps[m].stops_master && !c.plan->steps[r].stops_master);
        CHECK(apply_step_waits_for(c.plan, m, r));
        CHECK(!apply_step_waits_for(c.plan, r, m));
    }
    case_free(&c);
}

TEST(unreachable_node_counts_as_drift)
{
    LOAD(c, "node-unreachable");
    CHECK_INT_EQ(c.plan->unreachable, 1);
    CHECK_INT_EQ(c.plan->nsteps, 1);
    CHECK(c.plan->nsteps && c.plan->steps[0].kind == STEP_OBSERVED);
    if (c.plan->nsteps) /* JSON consumers find the shard in "shard", as for every redis step */
        CHECK_STR_EQ(c.plan->steps[0].shard, "shard2");
    CHECK(plan_has_changes(c.plan));
    CHECK_INT_EQ(c.plan->nwarnings, 1);
    struct plan_counts n = plan_count(c.plan);
    CHECK_INT_EQ(n.add + n.change + n.remove, 0);
    case_free(&c);
}

TEST(interrupted_proxy_restart)
{
    LOAD(c, "interrupted-proxy-restart");
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_CONFIG), 0);
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_RESTART), 1);
    const struct step *s = find_step(c.plan, STEP_PROXY_RESTART, NULL);
    if (s) /* the file may just have been touched: no claim that an apply was interrupted */
        CHECK_STR_EQ(s->reason, "nutcracker.yml was written after nutcracker started (an "
                                "interrupted apply, or the file was touched): restart so the "
                                "running config is known to match");
    case_free(&c);
}

TEST(stopped_proxy_is_started_not_restarted)
{
    LOAD(c, "proxy-down-stale");
    const struct step *pc = find_step(c.plan, STEP_PROXY_CONFIG, NULL);
    CHECK(pc && pc->safety == SAFETY_SAFE);
    CHECK(find_step(c.plan, STEP_START, "127.0.0.1:22121") != NULL);
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_RESTART), 0);
    case_free(&c);
}

TEST(restarted_sentinel_keeps_its_monitors)
{
    LOAD(c, "sentinels-restart");
    CHECK(find_step(c.plan, STEP_START, "127.0.0.1:26002") != NULL);
    CHECK(!find_step(c.plan, STEP_SENTINEL_MONITOR, "127.0.0.1:26002"));
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_MONITOR), 2);
    /* an apply killed between its install-files and its monitors left a sentinel.conf
     * without them: it gets them after its start, in the same apply */
    struct obs_sentinel *os = NULL;
    for (size_t j = 0; j < c.obs->nsentinels; j++)
        if (c.obs->sentinels[j].port == 26002)
            os = &c.obs->sentinels[j];
    CHECK(os != NULL);
    if (os) {
        obs_kv_free_array(os->files.conf, os->files.nconf);
        os->files.conf = NULL;
        os->files.nconf = 0;
        plan_free(c.plan);
        c.plan = plan_compute(c.spec, c.obs);
        CHECK(find_step(c.plan, STEP_START, "127.0.0.1:26002") != NULL);
        CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_MONITOR), 4);
    }
    case_free(&c);
}

TEST(promoted_by_hand_keeps_the_data)
{
    LOAD(c, "promoted-by-hand");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(c.plan->masters[0].port, 7002);
    CHECK(!c.plan->master_from_sentinel[0]);
    const struct step *s = find_step(c.plan, STEP_REPLICAOF, "127.0.0.1:7001");
    CHECK(s && s->master_port == 7002);
    CHECK(!find_step(c.plan, STEP_REPLICAOF, "127.0.0.1:7002"));
    case_free(&c);
}

TEST(interrupted_bootstrap_is_accepted)
{
    LOAD(c, "interrupted-bootstrap");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    /* 26001 watches shard1 only: 5 monitors to add */
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_MONITOR), 5);
    case_free(&c);
}

TEST(stale_sentinel_replica_is_reset_one_sentinel_at_a_time)
{
    LOAD(c, "sentinel-stale-replica");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(c.plan->nsteps, 2);
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_RESET), 2);
    const char *targets[] = {"127.0.0.1:26001", "127.0.0.1:26003"};
    for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
        const struct step *s = find_step(c.plan, STEP_SENTINEL_RESET, targets[i]);
        CHECK(s != NULL);
        if (!s)
            continue;
        CHECK_STR_EQ(step_kind_name(s->kind), "sentinel-reset");
        CHECK(s->action == ACTION_CHANGE);
        CHECK(s->safety == SAFETY_DISRUPTIVE);
        CHECK(s->wave == WAVE_SENTINELS);
        CHECK_STR_EQ(s->shard, "shard1");
        CHECK_STR_EQ(s->master_ip, "127.0.0.1");
        CHECK_INT_EQ(s->master_port, 7001);
        CHECK_STR_EQ(s->before, "replica 127.0.0.1:7004");
    }
    CHECK(!find_step(c.plan, STEP_SENTINEL_RESET, "127.0.0.1:26002"));
    CHECK_INT_EQ(c.plan->nwarnings, 1);
    if (c.plan->nwarnings)
        CHECK_CONTAINS(c.plan->warnings[0], "127.0.0.1:7004 as a replica of shard1");
    CHECK(plan_has_changes(c.plan));

    /* apply runs every reset in one lane: never two sentinels at once */
    size_t lane_of[8];
    CHECK(c.plan->nsteps <= ARRAY_SIZE(lane_of));
    if (c.plan->nsteps <= ARRAY_SIZE(lane_of)) {
        CHECK_INT_EQ(apply_lanes(c.plan, WAVE_SENTINELS, lane_of), 1);
        CHECK_INT_EQ(lane_of[0], lane_of[1]);
    }
    case_free(&c);
}

TEST(foreign_replica_refused_when_it_follows_the_master)
{
    /* the node itself says it replicates from shard1's master */
    LOAD(c, "sentinel-stale-replica");
    for (size_t i = 0; i < c.obs->nredis; i++) {
        struct obs_redis *r = &c.obs->redis[i];
        if (r->port == 7004)
            r->master_port = 7001;
    }
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nsteps, 0);
    bool found = false;
    for (size_t i = 0; i < c.plan->nrefusals; i++)
        if (str_eq(c.plan->refusals[i].shard, "shard1")) {
            found = true;
            CHECK_CONTAINS(c.plan->refusals[i].diagnosis,
                           "unknown node 127.0.0.1:7004 replicates from the master of shard1");
            CHECK_CONTAINS(c.plan->refusals[i].diagnosis,
                           "redis 127.0.0.1:7004: replica of 127.0.0.1:7001");
        }
    CHECK(found);
    case_free(&c);

    /* the master cannot be observed: whether it replicates is unknown */
    LOAD(d, "sentinel-stale-replica");
    d.obs->redis[0].reach = REACH_TIMEOUT;
    plan_free(d.plan);
    d.plan = plan_compute(d.spec, d.obs);
    CHECK_INT_EQ(d.plan->nrefusals, 1);
    CHECK_INT_EQ(d.plan->nsteps, 0);
    if (d.plan->nrefusals)
        CHECK_CONTAINS(d.plan->refusals[0].diagnosis,
                       "may replicate from the master of shard1, which could not be observed");
    case_free(&d);
}

TEST(auth_drift_plans_only_the_placeholder)
{
    LOAD(c, "auth-drift");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(c.plan->nsteps, 2);
    const struct step *s = find_step(c.plan, STEP_CONFIG_SET, "127.0.0.1:7002");
    CHECK(s && s->nsettings == 1 && s->safety == SAFETY_SAFE && s->action == ACTION_CHANGE);
    if (s && s->nsettings == 1) {
        CHECK_STR_EQ(s->settings[0].key, "masterauth");
        CHECK_STR_EQ(s->settings[0].value, CONF_SECRET_PLACEHOLDER);
        CHECK_STR_EQ(s->before, "masterauth " CONF_SECRET_MISMATCH);
        CHECK_STR_EQ(s->after, "masterauth " CONF_SECRET_PLACEHOLDER);
    }
    s = find_step(c.plan, STEP_CONFIG_REWRITE, "127.0.0.1:7003");
    CHECK(s && s->nsettings == 2);
    if (s && s->nsettings == 2) {
        CHECK_STR_EQ(obs_kv_get(s->settings, 2, "requirepass"), CONF_SECRET_PLACEHOLDER);
        CHECK_STR_EQ(obs_kv_get(s->settings, 2, "masterauth"), CONF_SECRET_PLACEHOLDER);
    }
    /* no password at all on a node: a warning, never a step that turns auth on */
    for (size_t i = 0; i < c.plan->nsteps; i++)
        CHECK(c.plan->steps[i].port != 7004);
    CHECK_INT_EQ(c.plan->nwarnings, 1);
    if (c.plan->nwarnings)
        CHECK_CONTAINS(c.plan->warnings[0], "127.0.0.1:7004 runs without requirepass");
    char *t = render_plan_text(c.spec, c.plan, false);
    CHECK_CONTAINS(t, "      masterauth <secret-mismatch> -> <secret>\n");
    free(t);
    case_free(&c);
}

static struct obs_redis *obs_node(struct observed *o, int port)
{
    for (size_t i = 0; i < o->nredis; i++)
        if (o->redis[i].port == port)
            return &o->redis[i];
    return NULL;
}

/* Make the observed node on port look stopped (connection refused). */
static void obs_stop(struct observed *o, int port)
{
    struct obs_redis *r = obs_node(o, port);
    if (r)
        r->reach = REACH_REFUSED;
}

/* whether any acting step of plan p touches shard `shard` (its members or its sentinel entries) */
static bool acts_on_shard(const struct plan *p, const char *shard)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (step_acts(&p->steps[i]) &&
            (str_eq(p->steps[i].shard, shard) || str_eq(p->steps[i].group, shard)))
            return true;
    return false;
}

/* the observed sentinel entry of shard `name` on the sentinel at `port` */
static struct obs_sentinel_master *entry_of(struct observed *o, int port, const char *name)
{
    for (size_t j = 0; j < o->nsentinels; j++)
        for (size_t m = 0; o->sentinels[j].port == port && m < o->sentinels[j].nmasters; m++)
            if (str_eq(o->sentinels[j].masters[m].name, name))
                return &o->sentinels[j].masters[m];
    return NULL;
}

/* Observations taken during real failovers: a state to wait on, never a refusal. */
TEST(failover_in_progress_is_waiting_not_refused)
{
    static const struct {
        const char *name, *state;
        size_t switched;
    } cases[] = {
        {"failover-leader-behind", "reconf_slaves", 2},
        {"failover-promoted-unannounced", "wait_promotion", 0},
        {"failover-replicas-reconfiguring", "reconf_slaves", 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        LOAD(c, cases[i].name);
        CHECK_INT_EQ(c.plan->nrefusals, 0);
        CHECK_INT_EQ(c.plan->waiting, 1);
        CHECK(c.plan->shard_failover[0] && c.plan->shard_waiting[0]);
        CHECK(!c.plan->shard_failover[1] && !c.plan->shard_failover[2]);
        CHECK(!acts_on_shard(c.plan, "alpha"));
        CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_CONFIG), 0);
        CHECK(plan_has_changes(c.plan)); /* --detailed-exitcode: 2 */
        const struct step *st = find_step(c.plan, STEP_OBSERVED, "127.0.0.1:17002");
        CHECK(st != NULL);
        if (st) {
            char *want = xasprintf("alpha: Sentinel failover in progress (leader "
                                   "127.0.0.1:17103, epoch 3, state %s, promoting "
                                   "127.0.0.1:17002",
                                   cases[i].state);
            CHECK_CONTAINS(st->reason, want);
            free(want);
            CHECK_INT_EQ(st->master_port, 17002);
            if (cases[i].switched)
                CHECK_CONTAINS(st->reason, "2 of 3 sentinels switched");
            else
                CHECK(!strstr(st->reason, "switched"));
        }
        char *j = render_plan_json(c.spec, c.plan, NULL, NULL, NULL);
        CHECK_CONTAINS(j, "\"waiting\": 1");
        CHECK_CONTAINS(j, "\"refused\": false");
        free(j);
        char *t = render_plan_text(c.spec, c.plan, false);
        CHECK_CONTAINS(t, "Waiting: Sentinel is failing over 1 shard");
        CHECK(!strstr(t, "demote"));
        free(t);

        /* a proxy already repointed at the promoted replica is never turned back */
        struct obs_proxy *op = &c.obs->proxies[0];
        char *at = strstr(op->config_text, "127.0.0.1:17003:1 alpha");
        CHECK(at != NULL);
        if (at) {
            memcpy(at, "127.0.0.1:17002", 15);
            plan_free(c.plan);
            c.plan = plan_compute(c.spec, c.obs);
            CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_CONFIG), 0);
            CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_RESTART), 0);
            /* another change to the proxy: apply renders alpha as the proxy has it */
            c.spec->proxies[0].timeout_ms += 100;
            plan_free(c.plan);
            c.plan = plan_compute(c.spec, c.obs);
            const struct step *pc = find_step(c.plan, STEP_PROXY_CONFIG, NULL);
            CHECK(pc != NULL);
            if (pc) {
                CHECK_INT_EQ(pc->nsettings, 1);
                if (pc->nsettings) {
                    CHECK_STR_EQ(pc->settings[0].key, "server:alpha");
                    CHECK_STR_EQ(pc->settings[0].value, "127.0.0.1:17002");
                }
                struct spec_addr *ms = plan_proxy_masters(c.spec, c.plan, pc);
                CHECK_INT_EQ(ms[0].port, 17002);      /* not the dead 17003 */
                CHECK_INT_EQ(c.plan->masters[0].port, 17003);
                free(ms);
                CHECK(!pc->after || !strstr(pc->after, "alpha"));
            }
        }
        case_free(&c);
    }

    /* the same split without a failover running (the old master not flagged down):
       a real disagreement, refused as before */
    LOAD(d, "failover-leader-behind");
    struct obs_sentinel_master *m = entry_of(d.obs, 17103, "alpha");
    CHECK(m != NULL);
    if (m) {
        free(m->flags);
        m->flags = xstrdup("master");
        free(m->failover_state);
        m->failover_state = NULL;
        m->config_epoch = 2;
        plan_free(d.plan);
        d.plan = plan_compute(d.spec, d.obs);
        CHECK_INT_EQ(d.plan->nrefusals, 1);
        CHECK_INT_EQ(d.plan->waiting, 0);
        if (d.plan->nrefusals)
            CHECK_CONTAINS(d.plan->refusals[0].diagnosis, "sentinels disagree on the master of alpha");
    }
    case_free(&d);

    /* a failover flagged for a master outside the shard is no failover of ours */
    LOAD(e, "failover-promoted-unannounced");
    m = entry_of(e.obs, 17103, "alpha");
    if (m) {
        m->port = 17999;
        plan_free(e.plan);
        e.plan = plan_compute(e.spec, e.obs);
        CHECK_INT_EQ(e.plan->waiting, 0);
        CHECK_INT_EQ(e.plan->nrefusals, 1);
    }
    case_free(&e);
}

/* An old master back as a master beside a finished failover, named by a sentinel that missed it. */
TEST(stale_master_beside_a_finished_failover_is_refused)
{
    LOAD(c, "failover-stale-master");
    CHECK_INT_EQ(c.plan->nrefusals, 1);
    CHECK_INT_EQ(c.plan->nsteps, 0);
    CHECK_INT_EQ(c.plan->waiting, 0);
    if (c.plan->nrefusals) {
        CHECK_STR_EQ(c.plan->refusals[0].shard, "alpha");
        CHECK_CONTAINS(c.plan->refusals[0].diagnosis, "sentinels disagree on the master of alpha");
        CHECK_CONTAINS(c.plan->refusals[0].diagnosis,
                       "sentinel 127.0.0.1:17101: master 127.0.0.1:17002 (flags master, epoch 3)");
    }
    case_free(&c);
}

TEST(dead_master_is_left_to_sentinel_while_a_replica_runs)
{
    LOAD(c, "master-down-replica-alive");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    /* never restarted empty: no start, no replicaof, the proxy keeps the master */
    CHECK(!find_step(c.plan, STEP_START, "127.0.0.1:7001"));
    CHECK_INT_EQ(count_kind(c.plan, STEP_REPLICAOF), 0);
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_CONFIG), 0);
    CHECK_INT_EQ(count_kind(c.plan, STEP_PROXY_RESTART), 0);
    CHECK_INT_EQ(c.plan->masters[0].port, 7001);
    const struct step *s = find_step(c.plan, STEP_OBSERVED, "127.0.0.1:7001");
    CHECK(s && s->action == ACTION_NONE && !s->master_ip);
    if (s)
        CHECK_STR_EQ(s->reason, "shard1 master 127.0.0.1:7001 is down; waiting for Sentinel to "
                                "fail over to a replica (down-after 5000 ms); no restart, it "
                                "would come back empty and wipe the replicas");
    CHECK_INT_EQ(c.plan->waiting, 1);
    CHECK_INT_EQ(c.plan->unreachable, 0);
    CHECK(plan_has_changes(c.plan)); /* --detailed-exitcode: 2 */
    CHECK_INT_EQ(c.plan->nwarnings, 1);
    if (c.plan->nwarnings)
        CHECK_CONTAINS(c.plan->warnings[0], "rmgr does not restart it");
    char *sum = render_plan_summary(c.plan);
    CHECK_STR_EQ(sum, "No changes planned while Sentinel fails over.");
    free(sum);

    /* a replica that cannot be observed may hold the data too: still wait */
    c.obs->redis[1].reach = REACH_TIMEOUT;
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK(!find_step(c.plan, STEP_START, "127.0.0.1:7001"));
    CHECK_INT_EQ(c.plan->waiting, 1);

    /* every member down: nothing to wipe, start the master as master */
    obs_stop(c.obs, 7002);
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->waiting, 0);
    s = find_step(c.plan, STEP_START, "127.0.0.1:7001");
    CHECK(s && !s->master_ip);
    s = find_step(c.plan, STEP_START, "127.0.0.1:7002");
    CHECK(s && s->master_port == 7001);
    case_free(&c);
}

TEST(dead_master_without_sentinel_starts_only_when_nothing_can_be_wiped)
{
    /* the replica holds keys: refused (golden master-down-no-sentinel) */
    LOAD(c, "master-down-no-sentinel");
    CHECK_INT_EQ(c.plan->nrefusals, 1);
    /* loading its data: keys are not known yet */
    struct obs_redis *r = obs_node(c.obs, 7002);
    r->keys = 0;
    r->loading = true;
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nrefusals, 1);
    if (c.plan->nrefusals)
        CHECK_CONTAINS(c.plan->refusals[0].diagnosis, "is loading its data");
    /* not observable: unknown */
    r->loading = false;
    r->reach = REACH_TIMEOUT;
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nrefusals, 1);
    if (c.plan->nrefusals)
        CHECK_CONTAINS(c.plan->refusals[0].diagnosis, "could not be observed (timeout)");
    /* an empty running replica: nothing to lose, the master is started */
    r->reach = REACH_OK;
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(c.plan->waiting, 0);
    CHECK(find_step(c.plan, STEP_START, "127.0.0.1:7001") != NULL);
    case_free(&c);
}

static size_t step_index(const struct plan *p, enum step_kind k, const char *target)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == k && (!target || str_eq(p->steps[i].target, target)))
            return i;
    return SIZE_MAX;
}

TEST(removed_replica_is_stopped_then_forgotten_by_sentinel)
{
    LOAD(c, "replica-removed");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    size_t stop = step_index(c.plan, STEP_STOP, "127.0.0.1:7005");
    size_t rm = step_index(c.plan, STEP_REMOVE_FILES, "127.0.0.1:7005");
    CHECK(stop != SIZE_MAX && rm != SIZE_MAX);
    if (stop == SIZE_MAX || rm == SIZE_MAX) {
        case_free(&c);
        return;
    }
    CHECK(stop < rm);
    const struct step *st = &c.plan->steps[stop];
    CHECK(st->action == ACTION_REMOVE && st->safety == SAFETY_DESTRUCTIVE &&
          st->wave == WAVE_CLEANUP && st->instance == INSTANCE_REDIS);
    CHECK_STR_EQ(st->shard, "shard1");
    st = &c.plan->steps[rm];
    CHECK(st->action == ACTION_REMOVE && st->safety == SAFETY_DESTRUCTIVE &&
          st->wave == WAVE_CLEANUP);
    CHECK(plan_has_destructive(c.plan));
    /* every sentinel forgets it, after the stop, one at a time */
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_RESET), 3);
    size_t lane_of[16];
    CHECK(c.plan->nsteps <= ARRAY_SIZE(lane_of));
    if (c.plan->nsteps <= ARRAY_SIZE(lane_of)) {
        CHECK_INT_EQ(apply_lanes(c.plan, WAVE_CLEANUP, lane_of), 2);
        for (size_t i = 0; i < c.plan->nsteps; i++) {
            const struct step *s = &c.plan->steps[i];
            if (s->kind != STEP_SENTINEL_RESET)
                continue;
            CHECK(s->wave == WAVE_CLEANUP && i > rm);
            CHECK(lane_of[i] != lane_of[stop]);
            CHECK_STR_EQ(s->before, "replica 127.0.0.1:7005");
            CHECK_INT_EQ(s->master_port, 7001);
        }
    }
    case_free(&c);

    /* no instance directory of this cluster there: not ours, refused */
    LOAD(d, "replica-removed");
    obs_node(d.obs, 7005)->files.dir_present = false;
    plan_free(d.plan);
    d.plan = plan_compute(d.spec, d.obs);
    CHECK_INT_EQ(d.plan->nrefusals, 1);
    if (d.plan->nrefusals)
        CHECK_CONTAINS(d.plan->refusals[0].diagnosis,
                       "unknown node 127.0.0.1:7005 replicates from the master of shard1");
    /* its files could not be looked at: not known to be ours */
    obs_node(d.obs, 7005)->files.dir_present = true;
    obs_node(d.obs, 7005)->files.checked = false;
    plan_free(d.plan);
    d.plan = plan_compute(d.spec, d.obs);
    CHECK_INT_EQ(d.plan->nrefusals, 1);
    /* the master cannot be observed: still refused */
    obs_node(d.obs, 7005)->files.checked = true;
    obs_node(d.obs, 7001)->reach = REACH_TIMEOUT;
    plan_free(d.plan);
    d.plan = plan_compute(d.spec, d.obs);
    CHECK_INT_EQ(d.plan->nrefusals, 1);
    case_free(&d);

    /* pointed elsewhere (shard2's master) and gone from shard1's INFO: a stale entry */
    LOAD(e, "replica-removed");
    obs_node(e.obs, 7005)->master_port = 7003;
    obs_node(e.obs, 7001)->nreplicas = 1; /* the array keeps its entry for freeing */
    plan_free(e.plan);
    e.plan = plan_compute(e.spec, e.obs);
    CHECK_INT_EQ(e.plan->nrefusals, 0);
    CHECK_INT_EQ(count_kind(e.plan, STEP_STOP), 0);
    CHECK_INT_EQ(count_kind(e.plan, STEP_SENTINEL_RESET), 3);
    for (size_t i = 0; i < e.plan->nsteps; i++)
        CHECK(e.plan->steps[i].wave == WAVE_SENTINELS);
    obs_node(e.obs, 7001)->nreplicas = 2;
    case_free(&e);
}

TEST(a_password_the_servers_refuse_refuses_the_plan)
{
    LOAD(c, "wrong-password");
    CHECK_INT_EQ(c.plan->nrefusals, 2);
    CHECK_INT_EQ(c.plan->nsteps, 0); /* no proxy-config or restart with the wrong password */
    for (size_t i = 0; i < c.plan->nrefusals; i++) {
        const char *d = c.plan->refusals[i].diagnosis;
        CHECK_CONTAINS(d, "authentication failed on 4 of 4 redis instances: the password "
                          "from environment variable RMGR_REDIS_TEST_PASSWORD does not match the "
                          "cluster's; rmgr does not rotate passwords");
        CHECK_CONTAINS(d, "auth-pass on every sentinel");
    }
    case_free(&c);

    /* one node is enough; a spec without auth: says it sets none */
    LOAD(d, "converged");
    d.obs->redis[3].reach = REACH_AUTH;
    plan_free(d.plan);
    d.plan = plan_compute(d.spec, d.obs);
    CHECK_INT_EQ(d.plan->nrefusals, 1);
    CHECK_INT_EQ(d.plan->nsteps, 0);
    if (d.plan->nrefusals) {
        CHECK_STR_EQ(d.plan->refusals[0].shard, "shard2");
        CHECK_CONTAINS(d.plan->refusals[0].diagnosis,
                       "authentication failed on 1 of 4 redis instances: they require a "
                       "password and the spec sets none");
    }
    case_free(&d);
}

TEST(sentinel_auth_pass_missing_or_other_is_set)
{
    LOAD(c, "sentinel-auth-missing");
    CHECK_INT_EQ(c.plan->nrefusals, 0);
    CHECK_INT_EQ(c.plan->nsteps, 2);
    const struct step *s = find_step(c.plan, STEP_SENTINEL_SET, "127.0.0.1:26002");
    CHECK(s && s->safety == SAFETY_SAFE && s->action == ACTION_CHANGE && s->nsettings == 1);
    if (s && s->nsettings == 1) {
        CHECK_STR_EQ(s->shard, "shard2");
        CHECK_STR_EQ(s->settings[0].key, "auth-pass");
        CHECK_STR_EQ(s->settings[0].value, CONF_SECRET_PLACEHOLDER);
        CHECK_STR_EQ(s->before, "auth-pass (absent)");
        CHECK_STR_EQ(s->after, "auth-pass " CONF_SECRET_PLACEHOLDER);
    }
    s = find_step(c.plan, STEP_SENTINEL_SET, "127.0.0.1:26003");
    CHECK(s && s->nsettings == 1);
    if (s)
        CHECK_STR_EQ(s->shard, "shard1");
    /* with an option drift on the same shard: one step */
    for (size_t k = 0; k < c.obs->sentinels[1].nmasters; k++)
        if (str_eq(c.obs->sentinels[1].masters[k].name, "shard2"))
            c.obs->sentinels[1].masters[k].quorum = 1;
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    s = find_step(c.plan, STEP_SENTINEL_SET, "127.0.0.1:26002");
    CHECK(s && s->nsettings == 2);
    if (s) {
        CHECK_STR_EQ(s->before, "quorum 1\nauth-pass (absent)");
        CHECK_STR_EQ(obs_kv_get(s->settings, s->nsettings, "quorum"), "2");
    }
    CHECK_INT_EQ(count_kind(c.plan, STEP_SENTINEL_SET), 2);
    case_free(&c);
}

/* Append key=value to a node's observed CONFIG GET results. */
static void obs_config_add(struct obs_redis *r, const char *key, const char *value)
{
    r->config = xrealloc(r->config, (r->nconfig + 1) * sizeof(*r->config));
    r->config[r->nconfig].key = xstrdup(key);
    r->config[r->nconfig].value = xstrdup(value);
    r->nconfig++;
}

TEST(password_unknown_to_the_spec_is_left_with_a_warning)
{
    LOAD(c, "converged");
    obs_config_add(&c.obs->redis[1], "masterauth", CONF_SECRET_MISMATCH);
    obs_config_add(&c.obs->redis[1], "requirepass", "");
    plan_free(c.plan);
    c.plan = plan_compute(c.spec, c.obs);
    CHECK_INT_EQ(c.plan->nsteps, 0);
    CHECK_INT_EQ(c.plan->nwarnings, 1);
    if (c.plan->nwarnings)
        CHECK_CONTAINS(c.plan->warnings[0],
                       "127.0.0.1:7002 has a masterauth but the spec sets no password");
    case_free(&c);
}

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
    RUN(empty_creates_everything);
    RUN(converged_has_no_changes);
    RUN(delay_left_at_zero_is_put_back);
    RUN(failover_follows_sentinel);
    RUN(refusals_plan_nothing);
    RUN(sentinel_drift_sets_only_drifted_options);
    RUN(config_drift);
    RUN(shard_removed_is_destructive);
    RUN(removed_shard_master_stops_after_its_replicas);
    RUN(unreachable_node_counts_as_drift);
    RUN(interrupted_proxy_restart);
    RUN(stopped_proxy_is_started_not_restarted);
    RUN(restarted_sentinel_keeps_its_monitors);
    RUN(promoted_by_hand_keeps_the_data);
    RUN(interrupted_bootstrap_is_accepted);
    RUN(stale_sentinel_replica_is_reset_one_sentinel_at_a_time);
    RUN(foreign_replica_refused_when_it_follows_the_master);
    RUN(auth_drift_plans_only_the_placeholder);
    RUN(password_unknown_to_the_spec_is_left_with_a_warning);
    RUN(dead_master_is_left_to_sentinel_while_a_replica_runs);
    RUN(failover_in_progress_is_waiting_not_refused);
    RUN(stale_master_beside_a_finished_failover_is_refused);
    RUN(removed_replica_is_stopped_then_forgotten_by_sentinel);
    RUN(a_password_the_servers_refuse_refuses_the_plan);
    RUN(sentinel_auth_pass_missing_or_other_is_set);
    RUN(dead_master_without_sentinel_starts_only_when_nothing_can_be_wiped);
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
