/*
 * alerts.c - evaluate the spec's alert rules (see alerts.h). Pure: no I/O.
 */
#include "alerts.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "observed.h"
#include "spec.h"
#include "util.h"

/* ------------------------------------------------------------ lifetime */

static void sample_release(struct alert_sample *s)
{
    free(s->addr);
    free(s->run_id);
    for (size_t i = 0; i < s->ncounters; i++)
        free(s->counters[i].name);
    free(s->counters);
}

static void row_release(struct alert_row *r)
{
    free(r->name);
    free(r->addr);
    free(r->shard);
    free(r->role);
}

void alert_state_release(struct alert_state *st)
{
    if (!st)
        return;
    ARRAY_FREE(st->samples, st->nsamples, sample_release);
    ARRAY_FREE(st->rows, st->nrows, row_release);
    memset(st, 0, sizeof(*st));
}

static void event_release(struct alert_event *e)
{
    free(e->name);
    free(e->field);
    free(e->addr);
    free(e->shard);
    free(e->role);
}

void alert_events_free(struct alert_event *ev, size_t n)
{
    ARRAY_FREE(ev, n, event_release);
}

/* ------------------------------------------------------------- lookups */

static char *format_addr(const char *ip, int port)
{
    return strchr(ip ? ip : "", ':') ? xasprintf("[%s]:%d", ip, port)
                                     : xasprintf("%s:%d", ip ? ip : "", port);
}

static const struct alert_sample *find_sample(const struct alert_state *st, const char *addr)
{
    for (size_t i = 0; st && i < st->nsamples; i++)
        if (!strcmp(st->samples[i].addr, addr))
            return &st->samples[i];
    return NULL;
}

static bool sample_counter(const struct alert_sample *s, const char *name, double *out)
{
    for (size_t i = 0; s && i < s->ncounters; i++) {
        if (!strcmp(s->counters[i].name, name)) {
            *out = s->counters[i].value;
            return true;
        }
    }
    return false;
}

static size_t find_row(const struct alert_state *st, const char *name, const char *addr)
{
    for (size_t i = 0; st && i < st->nrows; i++)
        if (!strcmp(st->rows[i].name, name) && !strcmp(st->rows[i].addr, addr))
            return i;
    return SIZE_MAX;
}

static const struct spec_alert *find_rule(const struct spec *s, const char *name)
{
    for (size_t i = 0; i < s->nalerts; i++)
        if (!strcmp(s->alerts[i].name, name))
            return &s->alerts[i];
    return NULL;
}

static bool is_proxy_rule(const struct spec_alert *a)
{
    return a->on == ALERT_ON_PROXIES;
}

/* ------------------------------------------------------------- building */

struct eval {
    const struct spec *s;
    const struct alert_state *prev;
    bool *handled;           /* per prev row: looked at this run */
    long long now_ms;
    struct alert_state *next;
    size_t cap_rows, cap_samples;
    struct alert_event *ev;
    size_t nev, cap_ev;
};

static void add_counter(struct alert_sample *s, size_t *cap, const char *name, double v)
{
    for (size_t i = 0; i < s->ncounters; i++)
        if (!strcmp(s->counters[i].name, name))
            return;
    VEC_GROW(s->counters, s->ncounters, *cap);
    s->counters[s->ncounters++] = (struct alert_counter){xstrdup(name), v};
}

static void push_sample(struct eval *E, struct alert_sample *smp)
{
    VEC_GROW(E->next->samples, E->next->nsamples, E->cap_samples);
    E->next->samples[E->next->nsamples++] = *smp;
}

static void push_row_copy(struct eval *E, const struct alert_row *r)
{
    VEC_GROW(E->next->rows, E->next->nrows, E->cap_rows);
    struct alert_row *c = &E->next->rows[E->next->nrows++];
    *c = *r;
    c->name = xstrdup(r->name);
    c->addr = xstrdup(r->addr);
    c->shard = r->shard ? xstrdup(r->shard) : NULL;
    c->role = r->role ? xstrdup(r->role) : NULL;
}

static void push_event(struct eval *E, enum alert_change ch, const struct spec_alert *a,
                       const struct alert_row *r, double value, bool gone)
{
    VEC_GROW(E->ev, E->nev, E->cap_ev);
    struct alert_event *e = &E->ev[E->nev++];
    memset(e, 0, sizeof(*e));
    e->change = ch;
    e->name = xstrdup(r->name);
    e->field = a ? xstrdup(a->field) : NULL;
    e->addr = xstrdup(r->addr);
    e->shard = r->shard ? xstrdup(r->shard) : NULL;
    e->role = r->role ? xstrdup(r->role) : NULL;
    e->value = value;
    if (a) {
        e->has_min = a->has_min;
        e->has_max = a->has_max;
        e->min = a->min;
        e->max = a->max;
    }
    e->since_s = r->since_s;
    e->gone = gone;
}

/* Per second between a counter before and now; false when unknown. */
static bool rate(const struct alert_sample *before, const struct alert_sample *now,
                 const char *counter, double *out)
{
    double b, n;
    if (!before || !str_eq(before->run_id, now->run_id) || now->at_ms <= before->at_ms ||
        !sample_counter(before, counter, &b) || !sample_counter(now, counter, &n) || n < b)
        return false;
    *out = (n - b) * 1000.0 / (double)(now->at_ms - before->at_ms);
    return true;
}

/* slowlog_per_sec (see alerts.h): ids of the newest entries, or the entries in a log empty before. */
static bool slowlog_rate(const struct alert_sample *before, const struct alert_sample *now,
                         long long len, double *out)
{
    double b, n;
    if (!before || !str_eq(before->run_id, now->run_id) || now->at_ms <= before->at_ms ||
        !sample_counter(before, "slowlog_id", &b) || !sample_counter(now, "slowlog_id", &n))
        return false;
    double dt = (double)(now->at_ms - before->at_ms) / 1000.0;
    if (b >= 0 && n >= 0) {
        if (n < b)
            return false;
        *out = (n - b) / dt;
    } else if (b < 0 && n >= 0) {
        *out = (double)len / dt;
    } else if (b < 0 && n < 0) {
        *out = 0;
    } else {
        return false; /* emptied (SLOWLOG RESET): what came before it is not known */
    }
    return true;
}

/*
 * One rule on one instance with its value (known or not): the next row and
 * the transition, from the row the last run left.
 */
static void step(struct eval *E, const struct spec_alert *a, const char *addr, const char *shard,
                 const char *role, bool known, double v)
{
    size_t pi = find_row(E->prev, a->name, addr);
    const struct alert_row *pr = pi == SIZE_MAX ? NULL : &E->prev->rows[pi];
    if (pr)
        E->handled[pi] = true;
    if (!known) {
        if (pr)
            push_row_copy(E, pr);
        return;
    }
    bool out = (a->has_min && v < a->min) || (a->has_max && v > a->max);
    if (!out) {
        if (pr && pr->firing)
            push_event(E, ALERT_RESOLVED, a, pr, v, false);
        return;
    }
    struct alert_row r = {0};
    if (pr) {
        r = *pr;
    } else {
        r.pending_since_ms = E->now_ms;
    }
    r.name = (char *)a->name;
    r.addr = (char *)addr;
    r.shard = (char *)shard;
    r.role = (char *)role;
    r.value = v;
    if (!r.firing && E->now_ms - r.pending_since_ms >= a->for_ms) {
        r.firing = true;
        r.since_s = E->now_ms / 1000;
        push_event(E, ALERT_FIRING, a, &r, v, false);
    }
    push_row_copy(E, &r);
}

static void carry_sample(struct eval *E, const struct alert_sample *ps)
{
    struct alert_sample c = {xstrdup(ps->addr), ps->run_id ? xstrdup(ps->run_id) : NULL,
                             ps->at_ms, NULL, 0};
    size_t cap = 0;
    for (size_t i = 0; i < ps->ncounters; i++)
        add_counter(&c, &cap, ps->counters[i].name, ps->counters[i].value);
    push_sample(E, &c);
}

/* Carry what the last run knew of an instance that did not answer. */
static void carry(struct eval *E, const char *addr)
{
    const struct alert_sample *ps = find_sample(E->prev, addr);
    if (ps)
        carry_sample(E, ps);
    for (size_t i = 0; E->prev && i < E->prev->nrows; i++) {
        const struct alert_row *r = &E->prev->rows[i];
        if (!strcmp(r->addr, addr) && find_rule(E->s, r->name)) {
            E->handled[i] = true;
            push_row_copy(E, r);
        }
    }
}

static bool rule_applies(const struct spec_alert *a, bool master)
{
    return a->on == ALERT_ON_ALL || (a->on == ALERT_ON_MASTERS && master) ||
           (a->on == ALERT_ON_REPLICAS && !master);
}

static void eval_redis(struct eval *E, const struct observed *o, const struct obs_redis *r)
{
    const struct spec *s = E->s;
    const struct spec_shard *sh = spec_shard_of(s, r->ip, r->port);
    if (!sh)
        return; /* a node the spec does not name: drift says so */
    char *addr = format_addr(r->ip, r->port);
    if (r->reach != REACH_OK || !r->role) {
        carry(E, addr);
        free(addr);
        return;
    }
    bool master = !strcmp(r->role, "master");
    const char *role = master ? "master" : "replica";
    struct alert_sample cur = {xstrdup(addr), r->run_id ? xstrdup(r->run_id) : NULL, E->now_ms,
                               NULL, 0};
    size_t cap = 0;
    for (size_t i = 0; i < s->nalerts; i++) {
        const struct spec_alert *a = &s->alerts[i];
        double v;
        if (a->kind == ALERT_RATE && obs_num_get(r, a->info_field, &v))
            add_counter(&cur, &cap, a->info_field, v);
        if (a->kind == ALERT_SLOWLOG_PER_SEC && r->slowlog_checked)
            add_counter(&cur, &cap, "slowlog_id", (double)r->slowlog_last_id);
    }
    const struct alert_sample *before = find_sample(E->prev, addr);
    for (size_t i = 0; i < s->nalerts; i++) {
        const struct spec_alert *a = &s->alerts[i];
        if (is_proxy_rule(a) || !rule_applies(a, master))
            continue;
        double v = 0;
        bool known = false;
        switch (a->kind) {
        case ALERT_INFO: known = obs_num_get(r, a->info_field, &v); break;
        case ALERT_RATE: known = rate(before, &cur, a->info_field, &v); break;
        case ALERT_SLOWLOG_PER_SEC:
            known = r->slowlog_checked && slowlog_rate(before, &cur, r->slowlog_len, &v);
            break;
        case ALERT_REPL_LAG_BYTES: {
            if (master)
                continue; /* on: all: a master has no lag */
            const struct obs_redis *m = r->master_host
                                            ? observed_redis(o, r->master_host, r->master_port)
                                            : NULL;
            known = m && m->reach == REACH_OK && str_eq(m->role, "master");
            if (known) {
                long long lag = m->master_repl_offset - r->slave_repl_offset;
                v = (double)(lag > 0 ? lag : 0);
            }
            break;
        }
        case ALERT_FORWARD_ERROR_PER_SEC:
        case ALERT_SERVER_EJECTS: continue;
        }
        step(E, a, addr, sh->name, role, known, v);
    }
    push_sample(E, &cur);
    free(addr);
}

static void eval_proxy(struct eval *E, const struct obs_proxy *p)
{
    const struct spec *s = E->s;
    char *addr = format_addr(p->ip, p->listen_port);
    if (p->reach != REACH_OK || !p->pool_stats) {
        carry(E, addr);
        free(addr);
        return;
    }
    /* nutcracker's counters change once per stats aggregation: time them by its timestamps */
    struct alert_sample cur = {xstrdup(addr), xasprintf("start:%lld", p->timestamp_s - p->uptime_s),
                               p->timestamp_s * 1000, NULL, 0};
    size_t cap = 0;
    add_counter(&cur, &cap, "forward_error", (double)p->forward_error);
    const struct alert_sample *before = find_sample(E->prev, addr);
    for (size_t i = 0; i < s->nalerts; i++) {
        const struct spec_alert *a = &s->alerts[i];
        if (!is_proxy_rule(a))
            continue;
        double v = 0;
        bool known = true;
        if (a->kind == ALERT_SERVER_EJECTS)
            v = (double)p->server_ejects;
        else
            known = rate(before, &cur, "forward_error", &v);
        step(E, a, addr, NULL, "proxy", known, v);
    }
    /* the same aggregation seen twice: keep the older sample, rates need time between */
    if (before && before->at_ms == cur.at_ms && str_eq(before->run_id, cur.run_id)) {
        sample_release(&cur);
        carry_sample(E, before);
    } else {
        push_sample(E, &cur);
    }
    free(addr);
}

void alerts_evaluate(const struct spec *s, const struct observed *o,
                     const struct alert_state *prev, long long now_ms, struct alert_state *next,
                     struct alert_event **events, size_t *nevents)
{
    memset(next, 0, sizeof(*next));
    struct eval E = {.s = s, .prev = prev, .now_ms = now_ms, .next = next};
    E.handled = xcalloc(prev && prev->nrows ? prev->nrows : 1, sizeof(*E.handled));
    if (s->nalerts) {
        for (size_t i = 0; i < o->nredis; i++)
            eval_redis(&E, o, &o->redis[i]);
        for (size_t i = 0; i < o->nproxies; i++)
            eval_proxy(&E, &o->proxies[i]);
    }
    /* firing rows nobody looked at: the rule, the instance or its role is gone */
    for (size_t i = 0; prev && i < prev->nrows; i++) {
        const struct alert_row *r = &prev->rows[i];
        if (!E.handled[i] && r->firing)
            push_event(&E, ALERT_RESOLVED, find_rule(s, r->name), r, NAN, true);
    }
    free(E.handled);
    *events = E.ev;
    *nevents = E.nev;
}

/* ------------------------------------------------------------- readers */

size_t alerts_firing(const struct alert_state *st, const char *cluster,
                     struct alert_firing **out)
{
    size_t n = 0;
    *out = xcalloc(st && st->nrows ? st->nrows : 1, sizeof(**out));
    for (size_t i = 0; st && i < st->nrows; i++) {
        const struct alert_row *r = &st->rows[i];
        if (r->firing)
            (*out)[n++] = (struct alert_firing){r->name, cluster, r->shard, r->addr,
                                                r->role, r->value, r->since_s};
    }
    return n;
}

char *alerts_firing_text(const struct alert_state *st, const char *addr)
{
    struct strbuf sb = {0};
    for (size_t i = 0; st && i < st->nrows; i++) {
        const struct alert_row *r = &st->rows[i];
        if (r->firing && !strcmp(r->addr, addr))
            sb_addf(&sb, "%s%s=%g", sb.len ? ", " : "", r->name, r->value);
    }
    return sb.len ? sb_detach(&sb) : NULL;
}

char *alert_event_text(const struct alert_event *ev, const char *cluster)
{
    struct strbuf sb = {0};
    sb_addf(&sb, "alert %s %s on %s", ev->name, ev->change == ALERT_FIRING ? "firing" : "resolved",
            ev->addr);
    if (ev->shard || ev->role)
        sb_addf(&sb, " (%s%s%s)", ev->shard ? ev->shard : "", ev->shard && ev->role ? " " : "",
                ev->role ? ev->role : "");
    if (cluster)
        sb_addf(&sb, " in %s", cluster);
    if (ev->gone) {
        sb_add(&sb, ": the rule no longer applies there");
    } else {
        sb_addf(&sb, ": %s = %g", ev->field ? ev->field : ev->name, ev->value);
        if (ev->has_min && ev->has_max)
            sb_addf(&sb, " (allowed %g..%g)", ev->min, ev->max);
        else if (ev->has_max)
            sb_addf(&sb, " (max %g)", ev->max);
        else if (ev->has_min)
            sb_addf(&sb, " (min %g)", ev->min);
    }
    return sb_detach(&sb);
}
