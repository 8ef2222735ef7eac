/*
 * plan_case.h - the planner cases of tests/fixtures/plan/ for test_plan.c and
 * test_plan_safety.c: loading one (spec.yaml and observed.json, and the plan
 * computed from them), and small lookups into plans and observations.
 * Static inline: each test uses some of them.
 */
#ifndef RMGR_TEST_PLAN_CASE_H
#define RMGR_TEST_PLAN_CASE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "observed.h"
#include "plan.h"
#include "spec.h"
#include "test.h"
#include "util.h"

static inline const char *fixtures_dir(void)
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

static inline void case_free(struct tcase *c)
{
    plan_free(c->plan);
    observed_free(c->obs);
    spec_free(c->spec);
    free(c->dir);
    memset(c, 0, sizeof(*c));
}

static inline bool case_load(struct tcase *c, const char *name)
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

/* case c loaded from tests/fixtures/plan/<name>, or the test fails and returns */
#define LOAD(c, name)                                                                        \
    struct tcase c;                                                                          \
    if (!case_load(&c, name)) {                                                              \
        test_current_failed = 1;                                                             \
        return;                                                                              \
    }

/* ---------------------------------------------------------------- plan lookups */

/* the number of steps of kind k */
static inline size_t count_kind(const struct plan *p, enum step_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nsteps; i++)
        n += p->steps[i].kind == k;
    return n;
}

/* the first step of kind k on target (any target: NULL), or NULL */
static inline const struct step *find_step(const struct plan *p, enum step_kind k,
                                           const char *target)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == k && (!target || str_eq(p->steps[i].target, target)))
            return &p->steps[i];
    return NULL;
}

/* the index of the first step of kind k on target (any: NULL), or SIZE_MAX */
static inline size_t step_index(const struct plan *p, enum step_kind k, const char *target)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == k && (!target || str_eq(p->steps[i].target, target)))
            return i;
    return SIZE_MAX;
}

/* the index of the stop of 127.0.0.1:port in p, or SIZE_MAX */
static inline size_t stop_index(const struct plan *p, int port)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == STEP_STOP && p->steps[i].port == port)
            return i;
    return SIZE_MAX;
}

/* the setting `key` of the step of kind k on port, or NULL */
static inline const char *step_setting(const struct plan *p, enum step_kind k, int port,
                                       const char *key)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == k && p->steps[i].port == port)
            return obs_kv_get(p->steps[i].settings, p->steps[i].nsettings, key);
    return NULL;
}

/* whether any acting step of plan p touches shard `shard` (its members or its sentinel entries) */
static inline bool acts_on_shard(const struct plan *p, const char *shard)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (step_acts(&p->steps[i]) &&
            (str_eq(p->steps[i].shard, shard) || str_eq(p->steps[i].group, shard)))
            return true;
    return false;
}

/* ---------------------------------------------------------------- observation edits */

/* the observed redis node on 127.0.0.1:port (by port), or NULL */
static inline struct obs_redis *obs_node(struct observed *o, int port)
{
    for (size_t i = 0; i < o->nredis; i++)
        if (o->redis[i].port == port)
            return &o->redis[i];
    return NULL;
}

/* Make the observed node on port look stopped (connection refused). */
static inline void obs_stop(struct observed *o, int port)
{
    struct obs_redis *r = obs_node(o, port);
    if (r)
        r->reach = REACH_REFUSED;
}

/* the observed sentinel entry of shard `name` on the sentinel at `port` */
static inline struct obs_sentinel_master *entry_of(struct observed *o, int port,
                                                   const char *name)
{
    for (size_t j = 0; j < o->nsentinels; j++)
        for (size_t m = 0; o->sentinels[j].port == port && m < o->sentinels[j].nmasters; m++)
            if (str_eq(o->sentinels[j].masters[m].name, name))
                return &o->sentinels[j].masters[m];
    return NULL;
}

/* set key=value in an observed kv array (added when absent) */
static inline void kv_put(struct obs_kv **kv, size_t *n, const char *key,
                          const char *value)
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

/* Append key=value to a node's observed CONFIG GET results. */
static inline void obs_config_add(struct obs_redis *r, const char *key,
                                  const char *value)
{
    r->config = xrealloc(r->config, (r->nconfig + 1) * sizeof(*r->config));
    r->config[r->nconfig].key = xstrdup(key);
    r->config[r->nconfig].value = xstrdup(value);
    r->nconfig++;
}

#endif
