/*
 * plan_source.c - provenance: the spec lines and observations a step or a
 * refusal comes from (struct plan_source, plan.h). Pure, no I/O.
 *
 * The spec loader records a position and a path ("shards[1].replicas[0]")
 * on every node it builds; plan_add_step() cites the node of the address a
 * step runs on and plan_refuse() the shard, so that a rule gets the spec
 * line for free. What a rule adds by hand is what only it knows: another
 * node that asks for the step (a redis.config directive, a shard) with
 * plan_cite(), and what an instance said with plan_observed*().
 */
#include "plan_impl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

/* ---------------------------------------------------------------- the record */

void plan_source_release(struct plan_source *src)
{
    if (!src)
        return;
    for (size_t i = 0; i < src->nspec; i++)
        free(src->spec[i].path);
    free(src->spec);
    strings_free(src->observed, src->nobserved);
    memset(src, 0, sizeof(*src));
}

char *plan_spec_ref_text(const char *file, const struct plan_spec_ref *r)
{
    return xasprintf("%s:%d: %s", file ? file : "spec", r->line, r->path ? r->path : "");
}

void plan_cite(struct plan_source *src, const struct spec_pos *pos)
{
    ASSERT(src);
    if (!pos || pos->line <= 0)
        return; /* generated, not written in the spec */
    for (size_t i = 0; i < src->nspec; i++)
        if (src->spec[i].line == pos->line && src->spec[i].col == pos->col)
            return;
    src->spec = xrealloc(src->spec, (src->nspec + 1) * sizeof(*src->spec));
    src->spec[src->nspec].line = pos->line;
    src->spec[src->nspec].col = pos->col;
    src->spec[src->nspec].path = xstrdup(pos->path ? pos->path : "");
    src->nspec++;
}

void plan_observed(struct plan_source *src, const char *fmt, ...)
{
    ASSERT(src && fmt);
    va_list ap;
    va_start(ap, fmt);
    char *o = xvasprintf(fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < src->nobserved; i++)
        if (str_eq(src->observed[i], o)) {
            free(o);
            return;
        }
    src->observed = xrealloc(src->observed, (src->nobserved + 1) * sizeof(*src->observed));
    src->observed[src->nobserved++] = o;
}

/* ---------------------------------------------------------------- what instances said */

void plan_describe_redis(struct strbuf *sb, const struct obs_redis *r)
{
    enum reach rc = redis_reach(r);
    if (rc == REACH_REFUSED) {
        sb_addf(sb, "not running (%s)", detail_or(r->reach_detail, "connection refused"));
        return;
    }
    if (rc != REACH_OK) {
        sb_addf(sb, "unreachable (%s%s%s)", reach_name(rc), r && r->reach_detail ? ": " : "",
                r && r->reach_detail ? r->reach_detail : "");
        return;
    }
    if (str_eq(r->role, "slave")) {
        sb_addf(sb, "replica of %s:%d (link %s), %lld keys, offset %lld",
                r->master_host ? r->master_host : "?", r->master_port,
                r->master_link_status ? r->master_link_status : "?", r->keys,
                r->slave_repl_offset);
        return;
    }
    sb_addf(sb, "%s, %lld keys, %d %s connected, offset %lld", r->role ? r->role : "unknown role",
            r->keys, r->connected_slaves, r->connected_slaves == 1 ? "replica" : "replicas",
            r->master_repl_offset);
}

void plan_observed_redis(struct plan_source *src, const char *ip, int port,
                         const struct obs_redis *r)
{
    struct strbuf sb = {0};
    enum reach rc = redis_reach(r);
    if (!r)
        sb_add(&sb, ": not observed");
    else if (rc == REACH_OK)
        sb_add(&sb, " INFO: ");
    else if (rc == REACH_AUTH)
        sb_add(&sb, " AUTH: ");
    else
        sb_add(&sb, ": ");
    if (rc == REACH_AUTH)
        sb_add(&sb, detail_or(r->reach_detail, "the password was refused"));
    else if (r)
        plan_describe_redis(&sb, r);
    plan_observed(src, "redis %s:%d%s", ip, port, sb_str(&sb));
    sb_release(&sb);
}

void plan_observed_files(struct builder *b, struct step *st, const struct obs_files *f)
{
    const char *kind = instance_kind_name(st->instance);
    char *path = f->dir_present ? conf_path(b->s, kind, st->port)
                                : spec_instance_dir(b->s, kind, st->port);
    plan_observed(&st->source, "%s %s:%d files: %s missing", kind, st->ip, st->port, path);
    free(path);
}

/* what sentinel os says of shard `shard`: " SENTINEL MASTERS: ..." or ": unreachable (...)" */
static char *sentinel_answer(const struct obs_sentinel *os, const char *shard)
{
    enum reach rc = os ? os->reach : REACH_NOT_CHECKED;
    if (rc != REACH_OK) {
        const char *det = os ? os->reach_detail : "not observed";
        return xasprintf(": unreachable (%s%s%s)", reach_name(rc), det ? ": " : "",
                         det ? det : "");
    }
    const struct obs_sentinel_master *m = plan_sentinel_find_master(os, shard);
    if (!m)
        return xasprintf(" SENTINEL MASTERS: does not monitor %s", shard);
    return xasprintf(" SENTINEL MASTERS: %s master %s:%d (flags %s, epoch %lld)", shard,
                     m->ip ? m->ip : "?", m->port, m->flags ? m->flags : "?", m->config_epoch);
}

void plan_observed_sentinels(struct builder *b, struct plan_source *src, const char *shard,
                             const char *ip, int port)
{
    const struct spec_sentinel *ss = &b->s->sentinel;
    char **answers = xcalloc(ss->nnodes + 1, sizeof(*answers));
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct obs_sentinel *os = observed_sentinel(b->o, ss->nodes[j].ip, ss->nodes[j].port);
        const struct obs_sentinel_master *m =
            os && os->reach == REACH_OK ? plan_sentinel_find_master(os, shard) : NULL;
        if (ip && !(m && m->port == port && str_eq(m->ip, ip)))
            continue;
        answers[j] = sentinel_answer(os, shard);
    }
    /* one line per distinct answer, naming every sentinel that gave it */
    for (size_t j = 0; j < ss->nnodes; j++) {
        if (!answers[j])
            continue;
        struct strbuf who = {0};
        size_t n = 0;
        for (size_t k = j; k < ss->nnodes; k++) {
            if (!answers[k] || (k != j && !str_eq(answers[k], answers[j])))
                continue;
            sb_addf(&who, "%s%s:%d", n ? ", " : "", ss->nodes[k].ip, ss->nodes[k].port);
            n++;
            if (k != j) {
                free(answers[k]);
                answers[k] = NULL;
            }
        }
        plan_observed(src, "%s %s%s", n == 1 ? "sentinel" : "sentinels", sb_str(&who), answers[j]);
        sb_release(&who);
        free(answers[j]);
        answers[j] = NULL;
    }
    free(answers);
}

void plan_observed_sentinel_replica(struct builder *b, struct plan_source *src,
                                    const char *shard, const char *ip, int port)
{
    const struct spec_sentinel *ss = &b->s->sentinel;
    struct strbuf who = {0};
    size_t n = 0;
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct obs_sentinel *os = observed_sentinel(b->o, ss->nodes[j].ip, ss->nodes[j].port);
        const struct obs_sentinel_master *m =
            os && os->reach == REACH_OK ? plan_sentinel_find_master(os, shard) : NULL;
        bool lists = false;
        for (size_t k = 0; m && k < m->nreplicas; k++)
            lists = lists || (m->replicas[k].port == port && str_eq(m->replicas[k].ip, ip));
        if (!lists)
            continue;
        sb_addf(&who, "%s%s:%d", n ? ", " : "", ss->nodes[j].ip, ss->nodes[j].port);
        n++;
    }
    if (n)
        plan_observed(src, "%s %s SENTINEL REPLICAS %s: lists %s:%d", n == 1 ? "sentinel" : "sentinels",
                      sb_str(&who), shard, ip, port);
    sb_release(&who);
}
