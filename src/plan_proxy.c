/*
 * plan_proxy.c - the planner's steps for the proxies: nutcracker.yml compared
 * with the one the spec renders (nutcracker_yml.c reads both), restarts.
 * Pure, no I/O.
 */
#include "plan_impl.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "nutcracker_yml.h"
#include "util.h"

/* ---------------------------------------------------------------- proxies */

static const struct obs_proxy *observed_proxy(const struct observed *o, const char *ip, int port)
{
    if (!o)
        return NULL;
    for (size_t i = 0; i < o->nproxies; i++)
        if (o->proxies[i].listen_port == port && str_eq(o->proxies[i].ip, ip))
            return &o->proxies[i];
    return NULL;
}


/* the "ip:port" nutcracker.yml y has for server `name`, or NULL */
static const char *yml_server(const struct nc_yml *y, const char *name)
{
    const struct nc_yml_server *sv = nc_yml_find(y, name);
    return sv ? sv->addr : NULL;
}

static const char *yml_key(const struct nc_yml *y, size_t i)
{
    return nc_yml_server_key(&y->servers[i]);
}

/*
 * Compare the nutcracker.yml found with the one the spec gives. Returns
 * true when they are equal (ignoring blank lines, comments and trailing
 * blanks); otherwise fills before/after with one line per changed server,
 * plus "edited by hand" when other lines differ too.
 */
static bool proxy_config_diff(const char *have, const char *want, char **before, char **after,
                              bool *servers_changed)
{
    struct nc_yml h, w;
    nc_yml_parse(&h, have);
    nc_yml_parse(&w, want);
    struct strbuf bb = {0}, ab = {0};
    *servers_changed = false;

    for (size_t i = 0; i < w.nservers; i++) {
        const char *old = yml_server(&h, yml_key(&w, i));
        if (old && str_eq(old, w.servers[i].addr))
            continue;
        sb_addf(&bb, "%s%s %s", bb.len ? "\n" : "", yml_key(&w, i), old ? old : "(missing)");
        sb_addf(&ab, "%s%s %s", ab.len ? "\n" : "", yml_key(&w, i), w.servers[i].addr);
    }
    for (size_t i = 0; i < h.nservers; i++) {
        if (yml_server(&w, yml_key(&h, i)))
            continue;
        sb_addf(&bb, "%s%s %s", bb.len ? "\n" : "", yml_key(&h, i), h.servers[i].addr);
        sb_addf(&ab, "%s%s (removed)", ab.len ? "\n" : "", yml_key(&h, i));
    }
    *servers_changed = bb.len > 0;
    /* every other line, and the order of the servers both files name */
    bool others_same = h.nother == w.nother;
    for (size_t i = 0; others_same && i < h.nother; i++)
        others_same = str_eq(h.other[i], w.other[i]);
    size_t hi = 0, wi = 0;
    while (others_same) {
        while (hi < h.nservers && !yml_server(&w, yml_key(&h, hi)))
            hi++;
        while (wi < w.nservers && !yml_server(&h, yml_key(&w, wi)))
            wi++;
        if (hi == h.nservers || wi == w.nservers) {
            others_same = hi == h.nservers && wi == w.nservers;
            break;
        }
        others_same = str_eq(yml_key(&h, hi++), yml_key(&w, wi++));
    }
    if (!others_same) {
        sb_addf(&bb, "%sedited by hand", bb.len ? "\n" : "");
        sb_addf(&ab, "%srendered from the spec", ab.len ? "\n" : "");
    }
    nc_yml_release(&h);
    nc_yml_release(&w);
    bool equal = !*servers_changed && others_same;
    if (equal) {
        sb_release(&bb);
        sb_release(&ab);
        *before = *after = NULL;
    } else {
        *before = sb_detach(&bb);
        *after = sb_detach(&ab);
    }
    return equal;
}

/*
 * The masters a proxy is to be rendered with: the plan's, except that a shard
 * Sentinel is failing over keeps the member the proxy has now (a proxy already
 * repointed at the promoted replica is never turned back). Caller frees the
 * array, not its strings.
 */
static struct spec_addr *proxy_masters(struct builder *b, const struct obs_proxy *op)
{
    const struct spec *s = b->s;
    struct spec_addr *ms = xcalloc(s->nshards + 1, sizeof(*ms));
    memcpy(ms, b->p->masters, s->nshards * sizeof(*ms));
    struct nc_yml y;
    nc_yml_parse(&y, op->config_text);
    for (size_t i = 0; i < s->nshards; i++) {
        const char *have = b->p->shard_failover[i] ? yml_server(&y, s->shards[i].name) : NULL;
        for (size_t k = 0; have && k < shard_nmembers(&s->shards[i]); k++) {
            const struct spec_addr *a = shard_member(&s->shards[i], k);
            char *ap = plan_addr_ipport(a);
            if (str_eq(ap, have)) {
                ms[i].ip = a->ip;
                ms[i].port = a->port;
            }
            free(ap);
        }
    }
    nc_yml_release(&y);
    return ms;
}

/*
 * Apply renders a proxy's file from the plan's masters; for a shard Sentinel is
 * failing over the plan keeps the server the proxy has (ms): say which, as the
 * step's "server:<shard>" settings, so the file written is the one planned.
 */
static void failover_servers(struct builder *b, struct step *st, const struct spec_addr *ms)
{
    for (size_t i = 0; i < b->s->nshards; i++) {
        if (!b->p->shard_failover[i] || !ms[i].ip)
            continue;
        char *key = xasprintf("%s%s", PLAN_PROXY_SERVER_PREFIX, b->s->shards[i].name);
        char *val = plan_addr_ipport(&ms[i]);
        plan_step_add_setting(st, key, val);
        free(key);
        free(val);
    }
}

/* the shards whose server the proxy's file has wrong, and what the file says for them */
static void proxy_config_source(struct builder *b, struct step *st, const struct obs_proxy *op,
                                const struct spec_addr *ms)
{
    struct nc_yml y;
    nc_yml_parse(&y, op->config_text);
    for (size_t i = 0; i < b->s->nshards; i++) {
        const char *have = yml_server(&y, b->s->shards[i].name);
        char *want = plan_addr_ipport(&ms[i]);
        if (!str_eq(have, want)) {
            plan_cite(&st->source, &b->s->shards[i].pos);
            plan_observed(&st->source, "proxy %s:%d nutcracker.yml: server %s %s", op->ip,
                          op->listen_port, b->s->shards[i].name, have ? have : "(missing)");
        }
        free(want);
    }
    for (size_t k = 0; k < y.nservers; k++) {
        const char *name = nc_yml_server_key(&y.servers[k]);
        bool known = false;
        for (size_t i = 0; i < b->s->nshards; i++)
            known = known || str_eq(b->s->shards[i].name, name);
        if (!known)
            plan_observed(&st->source, "proxy %s:%d nutcracker.yml: server %s %s (not in %s)",
                          op->ip, op->listen_port, name, y.servers[k].addr,
                          b->s->file ? b->s->file : "the spec");
    }
    nc_yml_release(&y);
}

struct spec_addr *plan_proxy_masters(const struct spec *s, const struct plan *p,
                                     const struct step *st)
{
    struct spec_addr *ms = xcalloc(s->nshards + 1, sizeof(*ms));
    memcpy(ms, p->masters, s->nshards * sizeof(*ms));
    size_t plen = strlen(PLAN_PROXY_SERVER_PREFIX);
    for (size_t k = 0; st && k < st->nsettings; k++) {
        const char *key = st->settings[k].key;
        if (strncmp(key, PLAN_PROXY_SERVER_PREFIX, plen))
            continue;
        for (size_t i = 0; i < s->nshards; i++) {
            if (!str_eq(s->shards[i].name, key + plen))
                continue;
            for (size_t m = 0; m < shard_nmembers(&s->shards[i]); m++) {
                const struct spec_addr *a = shard_member(&s->shards[i], m);
                char *ap = plan_addr_ipport(a);
                if (str_eq(ap, st->settings[k].value)) {
                    ms[i].ip = a->ip;
                    ms[i].port = a->port;
                }
                free(ap);
            }
        }
    }
    return ms;
}

void plan_proxy_steps(struct builder *b)
{
    const struct spec *s = b->s;
    for (size_t i = 0; i < s->nproxies; i++) {
        const struct spec_proxy *sp = &s->proxies[i];
        struct spec_addr a = {.host = sp->host, .ip = sp->host_ip, .port = sp->listen.port,
                              .pos = sp->pos};
        const struct obs_proxy *op = observed_proxy(b->o, sp->host_ip, sp->listen.port);
        enum reach rc = op ? op->reach : REACH_NOT_CHECKED;

        if (reach_unreachable(rc)) {
            plan_unreachable_step(b, INSTANCE_PROXY, WAVE_PROXIES, "proxies", &a, rc,
                                  op ? op->reach_detail : "not observed");
            continue;
        }
        if (!op->files.checked) {
            plan_unreachable_step(b, INSTANCE_PROXY, WAVE_PROXIES, "proxies", &a, REACH_NOT_CHECKED,
                                  op->files.error ? op->files.error : "nutcracker.yml not read");
            continue;
        }
        bool running = rc == REACH_OK;
        bool restart = false;
        const char *restart_why = NULL;
        bool file_newer = false; /* the restart is for a file written after the start */

        if (!op->config_present || !op->config_text) {
            struct step *st = plan_add_step(b, STEP_INSTALL_FILES, ACTION_CREATE, SAFETY_SAFE,
                                            WAVE_PROXIES, INSTANCE_PROXY, "proxies", &a, "%s",
                                            op->files.dir_present ? "nutcracker.yml missing"
                                                                  : "instance directory missing");
            plan_observed_files(b, st, &op->files);
            restart = true;
            restart_why = "running without its nutcracker.yml: restart to load the new one";
        } else {
            struct spec_addr *ms = proxy_masters(b, op);
            char *want = conf_render_nutcracker(s, sp, ms, b->password);
            char *before, *after;
            bool servers_changed;
            if (!proxy_config_diff(op->config_text, want, &before, &after, &servers_changed)) {
                /* rewriting the file of a stopped proxy disturbs nobody */
                struct step *st = plan_add_step(
                    b, STEP_PROXY_CONFIG, ACTION_CHANGE, running ? SAFETY_DISRUPTIVE : SAFETY_SAFE,
                    WAVE_PROXIES, INSTANCE_PROXY, "proxies", &a, "%s",
                    servers_changed ? "servers differ from the shard masters"
                                    : "nutcracker.yml was edited by hand");
                st->before = before;
                st->after = after;
                failover_servers(b, st, ms);
                proxy_config_source(b, st, op, ms);
                restart = true;
                restart_why = "nutcracker has no reload: restart to load the new config";
            } else if (running && op->timestamp_s > 0 && op->config_mtime_s > 0 &&
                       op->timestamp_s - op->uptime_s < op->config_mtime_s) {
                restart = true;
                file_newer = true;
                /* equal as far as rmgr compares, but what runs was read from an older file */
                restart_why = "nutcracker.yml was written after nutcracker started (an "
                              "interrupted apply, or the file was touched): restart so the "
                              "running config is known to match";
            }
            free(want);
            free(ms);
        }
        if (!running) {
            struct step *st = plan_add_step(b, STEP_START, ACTION_CREATE, SAFETY_SAFE,
                                            WAVE_PROXIES, INSTANCE_PROXY, "proxies", &a,
                                            "not running");
            plan_observed(&st->source, "proxy %s:%d stats port %d: not running (%s)", sp->host_ip,
                          sp->listen.port, sp->stats_port,
                          detail_or(op->reach_detail, "connection refused"));
        }
        else if (restart) {
            struct step *st = plan_add_step(b, STEP_PROXY_RESTART, ACTION_CHANGE,
                                            SAFETY_DISRUPTIVE, WAVE_PROXIES, INSTANCE_PROXY,
                                            "proxies", &a, "%s", restart_why);
            if (file_newer)
                plan_observed(&st->source,
                              "proxy %s:%d stats: up %llds at %lld; nutcracker.yml modified at %lld",
                              op->ip, op->listen_port, op->uptime_s, op->timestamp_s,
                              op->config_mtime_s);
        }
    }
}

