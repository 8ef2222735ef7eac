/*
 * render_plan.c - a plan as text, JSON or Markdown (see render.h).
 *
 * JSON format (format_version 1; docs/plan-json.md says the same for users):
 *
 *   format_version  1; bumped on any incompatible change
 *   cluster         the spec's cluster name
 *   spec            {file: path the spec was loaded from,
 *                    commit: git commit of the spec (--repo) or null,
 *                    subject: that commit's subject line or null}
 *   fingerprint     the id `rmgr apply PLANFILE` checks (plan --out), or null
 *   refused         true when any shard refused: nothing may be applied
 *   refusals        [{shard, diagnosis, source}]: diagnosis is multi-line text
 *   warnings        [string]
 *   steps           in execution order (by wave, then spec order):
 *     kind          the name column of STEP_KINDS in plan.h: observed,
 *                   install-files, start, ... (docs/plan-json.md lists them all)
 *     action        "=" observed fact, "+" create, "~" change, "-" remove, "-/+" replace
 *     safety        safe|disruptive|destructive
 *     wave          1 files, 2 processes, 3 replication, 4 sentinels, 5 proxies,
 *                   6 clean-up of removed shards
 *     instance      redis|sentinel|proxy
 *     group         shard name, "sentinels" or "proxies"
 *     target        "host:port" as the spec spells it
 *     host, ip, port  where the step runs
 *     reason        one line
 *     before, after what changes (lines joined with "\n"), or null
 *     shard         the shard the step is about (also on an unreachable redis's
 *                   "=" line), or null
 *     master        "ip:port" the step points at (replicaof, start as
 *                   replica, sentinel-monitor), or null
 *     settings      {directive or option: new value}; {} when none
 *     source        where the step comes from (struct plan_source):
 *                   {spec: [{file, line, col, path}], observed: [string]}:
 *                   the spec nodes that ask for it (the one it is about
 *                   first) and what instances said ("sentinel 127.0.0.1:26001
 *                   SENTINEL MASTERS: ..."); never both empty
 *   summary         {add, change, remove, observed, unreachable,
 *                    waiting: shards whose master is left down for Sentinel,
 *                    changes: plan_has_changes()}
 */
#include "render.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "util.h"

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"

static const char *action_color(enum step_action a)
{
    switch (a) {
    case ACTION_NONE: return C_DIM;
    case ACTION_CREATE: return C_GREEN;
    case ACTION_CHANGE: return C_YELLOW;
    case ACTION_REMOVE:
    case ACTION_REPLACE: return C_RED;
    }
    return "";
}

/* ---------------------------------------------------------------- groups */

/* Group names in display order: spec shards, sentinels, proxies, removed shards. */
struct groups {
    const char **v;
    size_t n, cap;
};

static void groups_add(struct groups *g, const char *name)
{
    for (size_t i = 0; i < g->n; i++)
        if (str_eq(g->v[i], name))
            return;
    VEC_GROW(g->v, g->n, g->cap);
    g->v[g->n++] = name;
}

static bool group_has_steps(const struct plan *p, const char *name)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (str_eq(p->steps[i].group, name))
            return true;
    return false;
}

static void groups_collect(struct groups *g, const struct spec *s, const struct plan *p)
{
    for (size_t i = 0; i < s->nshards; i++)
        if (group_has_steps(p, s->shards[i].name))
            groups_add(g, s->shards[i].name);
    if (group_has_steps(p, "sentinels"))
        groups_add(g, "sentinels");
    if (group_has_steps(p, "proxies"))
        groups_add(g, "proxies");
    /* shards removed from the spec last: their clean-up runs last */
    for (size_t i = 0; i < p->nsteps; i++)
        groups_add(g, p->steps[i].group);
}

/* ---------------------------------------------------------------- details */

/* the n-th line of a "\n"-joined string, into a new string; "" past the end */
static char *nth_line(const char *s, size_t n)
{
    while (s && n > 0) {
        s = strchr(s, '\n');
        if (s)
            s++;
        n--;
    }
    if (!s)
        return xstrdup("");
    const char *e = strchr(s, '\n');
    return e ? xstrndup(s, (size_t)(e - s)) : xstrdup(s);
}

static size_t count_lines(const char *s)
{
    if (!s)
        return 0;
    size_t n = 1;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/*
 * One "before -> after" line per changed item, each starting with `indent`.
 * For "key value" steps the key is written once: "maxmemory 0 -> 64mb".
 */
static void add_details(struct strbuf *sb, const struct step *st, const char *indent)
{
    if (!st->before && !st->after)
        return;
    size_t nb = count_lines(st->before), na = count_lines(st->after);
    size_t n = nb > na ? nb : na;
    for (size_t i = 0; i < n; i++) {
        char *b = nth_line(st->before, i), *a = nth_line(st->after, i);
        const char *bsp = strchr(b, ' '), *asp = strchr(a, ' ');
        if (step_kind_has(st->kind, STEPF_KV_DETAILS) && bsp && asp && bsp - b == asp - a &&
            !strncmp(b, a, (size_t)(bsp - b)))
            sb_addf(sb, "%s%s -> %s\n", indent, b, asp + 1);
        else
            sb_addf(sb, "%s%s -> %s\n", indent, *b ? b : "(none)", *a ? a : "(none)");
        free(b);
        free(a);
    }
}

/* ---------------------------------------------------------------- provenance */

static void add_spec_refs(struct strbuf *sb, const struct spec *s, const struct plan_source *src,
                          const char *indent)
{
    for (size_t i = 0; i < src->nspec; i++) {
        char *t = plan_spec_ref_text(s->file, &src->spec[i]);
        sb_addf(sb, "%sfrom %s\n", indent, t);
        free(t);
    }
}

static void add_observations(struct strbuf *sb, const struct plan_source *src,
                             const char *indent)
{
    for (size_t i = 0; i < src->nobserved; i++)
        sb_addf(sb, "%sfrom observed: %s\n", indent, src->observed[i]);
}

/*
 * "from FILE:LINE: PATH" and "from observed: ..." lines, each after
 * `indent`: what was observed first for a fact or a refusal (that is what
 * it rests on), the spec lines first for a step that acts.
 */
static void add_source(struct strbuf *sb, const struct spec *s, const struct plan_source *src,
                       bool observed_first, const char *indent)
{
    if (observed_first)
        add_observations(sb, src, indent);
    add_spec_refs(sb, s, src, indent);
    if (!observed_first)
        add_observations(sb, src, indent);
}

static json_t *source_to_json(const struct spec *s, const struct plan_source *src)
{
    json_t *refs = json_array();
    for (size_t i = 0; i < src->nspec; i++)
        json_array_append_new(refs, json_pack("{s:o, s:i, s:i, s:o}", "file",
                                              json_str_or_null(s->file), "line",
                                              src->spec[i].line, "col", src->spec[i].col, "path",
                                              json_str_or_null(src->spec[i].path)));
    json_t *obs = json_array();
    for (size_t i = 0; i < src->nobserved; i++)
        json_array_append_new(obs, json_str_or_null(src->observed[i]));
    return json_pack("{s:o, s:o}", "spec", refs, "observed", obs);
}

/* ---------------------------------------------------------------- text */

/*
 * The steps of `group`, a line each after `indent`: "SYM KIND TARGET: REASON"
 * and " [SAFETY]" unless safe (the symbol in its colour when `color`), then
 * the step's details under `details_indent`, and with `explain` where it
 * comes from.
 */
static void add_group_steps(struct strbuf *sb, const struct spec *s, const struct plan *p,
                            const char *group, bool color, bool explain, const char *indent,
                            const char *details_indent)
{
    for (size_t i = 0; i < p->nsteps; i++) {
        const struct step *st = &p->steps[i];
        if (!str_eq(st->group, group))
            continue;
        sb_addf(sb, "%s%s%s%s %s %s: %s", indent, color ? action_color(st->action) : "",
                step_action_symbol(st->action), color ? C_RESET : "", step_kind_name(st->kind),
                st->target, st->reason);
        if (st->safety != SAFETY_SAFE)
            sb_addf(sb, " [%s]", step_safety_name(st->safety));
        sb_addc(sb, '\n');
        add_details(sb, st, details_indent);
        if (explain)
            add_source(sb, s, &st->source, step_kind_has(st->kind, STEPF_FACT), details_indent);
    }
}

static size_t shards_word(size_t n, const char **word)
{
    *word = n == 1 ? "shard" : "shards";
    return n;
}

char *render_plan_summary(const struct plan *p)
{
    if (p->nrefusals) {
        const char *w;
        size_t n = shards_word(p->nrefusals, &w);
        return xasprintf("Refused: %zu %s cannot be planned safely; nothing will be changed.", n,
                         w);
    }
    struct plan_counts c = plan_count(p);
    if (c.add || c.change || c.remove)
        return xasprintf("Plan: %zu to add, %zu to change, %zu to remove.", c.add, c.change,
                         c.remove);
    if (p->unreachable)
        return xstrdup("No changes planned for the instances that could be observed.");
    if (p->waiting)
        return xstrdup("No changes planned while Sentinel fails over.");
    return xstrdup("No changes. The cluster matches the spec.");
}

static void add_indented(struct strbuf *sb, const char *text, const char *indent)
{
    const char *s = text;
    while (s && *s) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        sb_add(sb, indent);
        sb_addn(sb, s, len);
        sb_addc(sb, '\n');
        s += len + (e ? 1 : 0);
    }
}

static void add_unreachable_line(struct strbuf *sb, const struct plan *p)
{
    if (p->unreachable)
        sb_addf(sb, "Unreachable: %zu %s could not be observed; the plan does not cover %s.\n",
                p->unreachable, p->unreachable == 1 ? "instance" : "instances",
                p->unreachable == 1 ? "it" : "them");
    if (p->waiting) {
        size_t moving = 0;
        for (size_t i = 0; p->shard_failover && i < p->nmasters; i++)
            moving += p->shard_failover[i];
        if (moving == p->waiting)
            sb_addf(sb, "Waiting: Sentinel is failing over %zu %s; rmgr leaves %s roles alone "
                        "until it is done.\n",
                    moving, moving == 1 ? "shard" : "shards", moving == 1 ? "its" : "their");
        else if (!moving)
            sb_addf(sb, "Waiting: %zu %s a master down; rmgr leaves %s to Sentinel's failover.\n",
                    p->waiting, p->waiting == 1 ? "shard has" : "shards have",
                    p->waiting == 1 ? "it" : "them");
        else
            sb_addf(sb, "Waiting: %zu shards are left to Sentinel (%zu failing over, %zu with "
                        "a master down).\n",
                    p->waiting, moving, p->waiting - moving);
    }
}

static char *render_text(const struct spec *s, const struct plan *p, bool color, bool explain)
{
    struct strbuf sb = {0};
    const char *reset = color ? C_RESET : "";

    for (size_t i = 0; i < p->nrefusals; i++) {
        sb_addf(&sb, "%sError:%s refusing to plan shard %s:\n", color ? C_BOLD C_RED : "", reset,
                p->refusals[i].shard);
        add_indented(&sb, p->refusals[i].diagnosis, "  ");
        if (explain)
            add_source(&sb, s, &p->refusals[i].source, true, "  ");
        sb_addc(&sb, '\n');
    }

    struct groups g = {0};
    groups_collect(&g, s, p);
    for (size_t gi = 0; gi < g.n; gi++) {
        sb_addf(&sb, "%s%s:%s\n", color ? C_BOLD : "", g.v[gi], reset);
        add_group_steps(&sb, s, p, g.v[gi], color, explain, "  ", "      ");
        sb_addc(&sb, '\n');
    }
    free(g.v);

    for (size_t i = 0; i < p->nwarnings; i++)
        sb_addf(&sb, "%sWarning:%s %s\n", color ? C_YELLOW : "", reset, p->warnings[i]);
    if (p->nwarnings)
        sb_addc(&sb, '\n');
    add_unreachable_line(&sb, p);
    char *sum = render_plan_summary(p);
    sb_addf(&sb, "%s\n", sum);
    free(sum);
    return sb_detach(&sb);
}

char *render_plan_text(const struct spec *s, const struct plan *p, bool color)
{
    return render_text(s, p, color, false);
}

char *render_plan_text_explain(const struct spec *s, const struct plan *p, bool color)
{
    return render_text(s, p, color, true);
}

/* ---------------------------------------------------------------- JSON */

static json_t *step_to_json(const struct spec *s, const struct step *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_text(step_kind_name(st->kind)));
    json_object_set_new(o, "action", json_text(step_action_symbol(st->action)));
    json_object_set_new(o, "safety", json_text(step_safety_name(st->safety)));
    json_object_set_new(o, "wave", json_integer(st->wave));
    json_object_set_new(o, "instance", json_text(instance_kind_name(st->instance)));
    json_object_set_new(o, "group", json_str_or_null(st->group));
    json_object_set_new(o, "target", json_str_or_null(st->target));
    json_object_set_new(o, "host", json_str_or_null(st->host));
    json_object_set_new(o, "ip", json_str_or_null(st->ip));
    json_object_set_new(o, "port", json_integer(st->port));
    json_object_set_new(o, "reason", json_str_or_null(st->reason));
    json_object_set_new(o, "before", json_str_or_null(st->before));
    json_object_set_new(o, "after", json_str_or_null(st->after));
    json_object_set_new(o, "shard", json_str_or_null(st->shard));
    if (st->master_ip) {
        char *m = xasprintf("%s:%d", st->master_ip, st->master_port);
        json_object_set_new(o, "master", json_text(m));
        free(m);
    } else {
        json_object_set_new(o, "master", json_null());
    }
    json_t *set = json_object();
    for (size_t i = 0; i < st->nsettings; i++)
        json_set_text_key(set, st->settings[i].key, json_str_or_null(st->settings[i].value));
    json_object_set_new(o, "settings", set);
    json_object_set_new(o, "source", source_to_json(s, &st->source));
    return o;
}

char *render_plan_json(const struct spec *s, const struct plan *p, const char *fingerprint,
                       const char *commit, const char *subject)
{
    json_t *root = json_object();
    json_object_set_new(root, "format_version", json_integer(PLAN_FORMAT_VERSION));
    json_object_set_new(root, "cluster", json_str_or_null(s->cluster));
    json_object_set_new(root, "spec",
                        json_pack("{s:o, s:o, s:o}", "file", json_str_or_null(s->file), "commit",
                                  json_str_or_null(commit), "subject", json_str_or_null(subject)));
    json_object_set_new(root, "fingerprint", json_str_or_null(fingerprint));
    json_object_set_new(root, "refused", json_boolean(p->nrefusals > 0));

    json_t *a = json_array();
    for (size_t i = 0; i < p->nrefusals; i++)
        json_array_append_new(a, json_pack("{s:o, s:o, s:o}", "shard",
                                           json_str_or_null(p->refusals[i].shard), "diagnosis",
                                           json_str_or_null(p->refusals[i].diagnosis), "source",
                                           source_to_json(s, &p->refusals[i].source)));
    json_object_set_new(root, "refusals", a);

    a = json_array();
    for (size_t i = 0; i < p->nwarnings; i++)
        json_array_append_new(a, json_str_or_null(p->warnings[i]));
    json_object_set_new(root, "warnings", a);

    a = json_array();
    for (size_t i = 0; i < p->nsteps; i++)
        json_array_append_new(a, step_to_json(s, &p->steps[i]));
    json_object_set_new(root, "steps", a);

    struct plan_counts c = plan_count(p);
    json_t *sum = json_object();
    json_object_set_new(sum, "add", json_integer((json_int_t)c.add));
    json_object_set_new(sum, "change", json_integer((json_int_t)c.change));
    json_object_set_new(sum, "remove", json_integer((json_int_t)c.remove));
    json_object_set_new(sum, "observed", json_integer((json_int_t)c.observed));
    json_object_set_new(sum, "unreachable", json_integer((json_int_t)p->unreachable));
    json_object_set_new(sum, "waiting", json_integer((json_int_t)p->waiting));
    json_object_set_new(sum, "changes", json_boolean(plan_has_changes(p)));
    json_object_set_new(root, "summary", sum);

    return json_out_doc(root);
}

/* ---------------------------------------------------------------- Markdown */

static size_t group_count(const struct plan *p, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nsteps; i++)
        n += str_eq(p->steps[i].group, name);
    return n;
}

/* ": subject" for the footer, with Markdown/HTML specials neutralised (it is a commit message) */
static void md_escaped_subject(struct strbuf *sb, const char *subject)
{
    sb_add(sb, ": ");
    for (const char *c = subject; *c && *c != '\n'; c++) {
        if (strchr("\\`*_[]<>|#~", *c))
            sb_addc(sb, '\\');
        sb_addc(sb, *c);
    }
}

char *render_plan_markdown(const struct spec *s, const struct plan *p, const char *fingerprint,
                           const char *commit, const char *subject)
{
    struct strbuf sb = {0};
    char *sum = render_plan_summary(p);
    sb_addf(&sb, "### rmgr plan for `%s`\n\n", s->cluster ? s->cluster : "?");
    sb_addf(&sb, "**%s**\n\n", sum);
    free(sum);
    if (p->unreachable || p->waiting) {
        add_unreachable_line(&sb, p);
        sb_addc(&sb, '\n');
    }

    for (size_t i = 0; i < p->nrefusals; i++) {
        sb_addf(&sb, "<details open><summary>Refusing to plan shard %s</summary>\n\n```\n",
                p->refusals[i].shard);
        add_indented(&sb, p->refusals[i].diagnosis, "");
        add_source(&sb, s, &p->refusals[i].source, true, "  ");
        sb_add(&sb, "```\n\n</details>\n\n");
    }

    struct groups g = {0};
    groups_collect(&g, s, p);
    for (size_t gi = 0; gi < g.n; gi++) {
        size_t n = group_count(p, g.v[gi]);
        sb_addf(&sb, "<details><summary>%s (%zu %s)</summary>\n\n```diff\n", g.v[gi], n,
                n == 1 ? "step" : "steps");
        add_group_steps(&sb, s, p, g.v[gi], false, true, "", "    ");
        sb_add(&sb, "```\n\n</details>\n\n");
    }
    free(g.v);

    if (p->nwarnings) {
        sb_add(&sb, "Warnings:\n\n");
        for (size_t i = 0; i < p->nwarnings; i++)
            sb_addf(&sb, "- %s\n", p->warnings[i]);
        sb_addc(&sb, '\n');
    }
    if (fingerprint || commit) {
        sb_add(&sb, "<sub>");
        if (commit)
            sb_addf(&sb, "spec commit `%.12s`", commit);
        if (commit && subject && *subject)
            md_escaped_subject(&sb, subject);
        if (fingerprint)
            sb_addf(&sb, "%sfingerprint `%s`", commit ? " · " : "", fingerprint);
        sb_add(&sb, "</sub>\n");
    }
    return sb_detach(&sb);
}
