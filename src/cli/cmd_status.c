/*
 * cmd_status.c - `rmgr status -f SPEC [--json]`: is the cluster healthy?
 *
 * Per shard its master (the one the planner works with, and whether
 * Sentinel chose it), its replicas with link status and lag; per sentinel
 * the shards it monitors and whether it agrees on their masters; per proxy
 * whether it answers and where each shard's server points. Everything that
 * is not healthy is listed as a problem; exit 0 when there is none, 1
 * otherwise. Reads nothing but what observation and the planner saw, and
 * the alert rules' state reconcile left (for rates and `for:`), which it
 * never writes.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "cli.h"
#include "instance.h"
#include "json_out.h"
#include "opt.h"
#include "redis_parse.h"
#include "session.h"
#include "util.h"

/* what is not healthy, one sentence each */
struct problems {
    struct strvec list;
};

static void problem(struct problems *p, const char *fmt, ...) RMGR_PRINTF(2, 3);
static void problem(struct problems *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strvec_add(&p->list, xvasprintf(fmt, ap));
    va_end(ap);
}

/* "reach (detail)" for a server that could not be observed. Caller frees. */
static char *why(enum reach r, const char *detail)
{
    if (r == REACH_REFUSED)
        return xasprintf("not running (%s)", detail ? detail : "connection refused");
    return detail ? xasprintf("%s (%s)", reach_name(r), detail) : xstrdup(reach_name(r));
}

static const struct obs_sentinel_master *sentinel_master(const struct obs_sentinel *s,
                                                         const char *name)
{
    for (size_t i = 0; i < s->nmasters; i++)
        if (str_eq(s->masters[i].name, name))
            return &s->masters[i];
    return NULL;
}

static const char *first_line(const char *text, char *buf, size_t size)
{
    size_t n = strcspn(text ? text : "", "\n");
    if (n >= size)
        n = size - 1;
    memcpy(buf, text ? text : "", n);
    buf[n] = '\0';
    return buf;
}

/*
 * The firing alerts of instance ip:port beside it ("  ALERT name=value") and
 * one problem each.
 */
static void alert_mark(const struct alert_state *al, const char *ip, int port, struct strbuf *out,
                       struct problems *pr)
{
    char *addr = strchr(ip, ':') ? xasprintf("[%s]:%d", ip, port) : xasprintf("%s:%d", ip, port);
    char *text = alerts_firing_text(al, addr);
    if (text)
        sb_addf(out, "  ALERT %s", text);
    for (size_t i = 0; al && i < al->nrows; i++) {
        const struct alert_row *r = &al->rows[i];
        if (r->firing && !strcmp(r->addr, addr))
            problem(pr, "alert %s firing on %s%s%s%s since %lld: value %g", r->name, addr,
                    r->shard ? " (" : "", r->shard ? r->shard : "", r->shard ? ")" : "",
                    r->since_s, r->value);
    }
    free(text);
    free(addr);
}

/* The master the planner works with for shard i. */
static const struct spec_addr *shard_master(const struct session *s, size_t i)
{
    const struct spec_addr *m = &s->plan->masters[i];
    return m->ip ? m : &s->spec->shards[i].master;
}

/* ------------------------------------------------------------- shards */

static json_t *status_shard(const struct session *s, size_t i, const struct alert_state *al,
                            struct strbuf *out, struct problems *pr)
{
    const struct spec *sp = s->spec;
    const struct observed *o = s->observed;
    const struct spec_shard *sh = &sp->shards[i];
    const struct spec_addr *m = shard_master(s, i);
    bool from_sentinel = s->plan->master_from_sentinel[i];
    json_t *js = json_object();
    json_object_set_new(js, "name", json_text(sh->name));
    json_object_set_new(js, "master", json_addr(m->ip, m->port));
    json_object_set_new(js, "master_from_sentinel", json_boolean(from_sentinel));

    for (size_t k = 0; k < s->plan->nrefusals; k++) {
        if (!str_eq(s->plan->refusals[k].shard, sh->name))
            continue;
        char buf[512];
        problem(pr, "%s: the planner refuses it: %s", sh->name,
                first_line(s->plan->refusals[k].diagnosis, buf, sizeof(buf)));
    }

    /* sentinels that name this master */
    size_t agree = 0, reporting = 0;
    for (size_t k = 0; k < o->nsentinels; k++) {
        const struct obs_sentinel_master *sm = sentinel_master(&o->sentinels[k], sh->name);
        if (o->sentinels[k].reach != REACH_OK || !sm)
            continue;
        reporting++;
        if (str_eq(sm->ip, m->ip) && sm->port == m->port)
            agree++;
    }
    json_object_set_new(js, "sentinels_agree", json_integer((json_int_t)agree));

    sb_addf(out, "%s:\n", sh->name);
    const struct obs_redis *mo = observed_redis(o, m->ip, m->port);
    sb_addf(out, "  master   %s:%d  ", m->ip, m->port);
    if (!mo || mo->reach != REACH_OK) {
        char *w = mo ? why(mo->reach, mo->reach_detail) : xstrdup("not observed");
        sb_add(out, w);
        problem(pr, "%s: master %s:%d is %s", sh->name, m->ip, m->port, w);
        free(w);
    } else {
        sb_addf(out, "ok, %lld key%s", mo->keys, mo->keys == 1 ? "" : "s");
        if (!str_eq(mo->role, "master"))
            problem(pr, "%s: master %s:%d reports role %s", sh->name, m->ip, m->port,
                    mo->role ? mo->role : "unknown");
        if (mo->loading)
            problem(pr, "%s: master %s:%d is loading its data", sh->name, m->ip, m->port);
    }
    if (from_sentinel)
        sb_addf(out, ", chosen by Sentinel (%zu of %zu agree)", agree, o->nsentinels);
    else
        sb_add(out, ", not (yet) managed by Sentinel");
    alert_mark(al, m->ip, m->port, out, pr);
    sb_addc(out, '\n');
    json_object_set_new(js, "master_reach",
                        json_text(reach_name(mo ? mo->reach : REACH_NOT_CHECKED)));
    if (reporting && agree < reporting)
        problem(pr, "%s: only %zu of %zu sentinels name %s:%d as master", sh->name, agree,
                reporting, m->ip, m->port);

    json_t *reps = json_array();
    for (size_t k = 0; k <= sh->nreplicas; k++) {
        const struct spec_addr *a = k == 0 ? &sh->master : &sh->replicas[k - 1];
        if (str_eq(a->ip, m->ip) && a->port == m->port)
            continue;
        const struct obs_redis *r = observed_redis(o, a->ip, a->port);
        json_t *jr = json_object();
        json_object_set_new(jr, "addr", json_addr(a->ip, a->port));
        json_object_set_new(jr, "reach",
                            json_text(reach_name(r ? r->reach : REACH_NOT_CHECKED)));
        sb_addf(out, "  replica  %s:%d  ", a->ip, a->port);
        if (!r || r->reach != REACH_OK) {
            char *w = r ? why(r->reach, r->reach_detail) : xstrdup("not observed");
            sb_add(out, w);
            alert_mark(al, a->ip, a->port, out, pr);
            sb_addc(out, '\n');
            problem(pr, "%s: replica %s:%d is %s", sh->name, a->ip, a->port, w);
            free(w);
            json_array_append_new(reps, jr);
            continue;
        }
        const char *link = r->master_link_status ? r->master_link_status : "unknown";
        json_object_set_new(jr, "role", json_text(r->role ? r->role : "unknown"));
        json_object_set_new(jr, "link", json_text(link));
        if (!str_eq(r->role, "slave")) {
            sb_addf(out, "ok, but a %s", r->role ? r->role : "server of unknown role");
            alert_mark(al, a->ip, a->port, out, pr);
            sb_addc(out, '\n');
            problem(pr, "%s: replica %s:%d is a %s, not a replica of %s:%d", sh->name, a->ip,
                    a->port, r->role ? r->role : "server of unknown role", m->ip, m->port);
        } else {
            bool follows = str_eq(r->master_host, m->ip) && r->master_port == m->port;
            sb_addf(out, "ok, link %s", link);
            if (mo && mo->reach == REACH_OK && follows) {
                long long lag = mo->master_repl_offset - r->slave_repl_offset;
                if (lag < 0)
                    lag = 0;
                sb_addf(out, ", lag %lld byte%s", lag, lag == 1 ? "" : "s");
                json_object_set_new(jr, "lag_bytes", json_integer(lag));
            }
            if (!follows) {
                sb_addf(out, ", replicates from %s:%d", r->master_host ? r->master_host : "?",
                        r->master_port);
                problem(pr, "%s: replica %s:%d replicates from %s:%d, not from the master %s:%d",
                        sh->name, a->ip, a->port, r->master_host ? r->master_host : "?",
                        r->master_port, m->ip, m->port);
            } else if (!str_eq(link, "up")) {
                problem(pr, "%s: replica %s:%d has its link to the master %s", sh->name, a->ip,
                        a->port, link);
            }
            if (r->loading)
                problem(pr, "%s: replica %s:%d is loading its data", sh->name, a->ip, a->port);
            alert_mark(al, a->ip, a->port, out, pr);
            sb_addc(out, '\n');
        }
        json_array_append_new(reps, jr);
    }
    json_object_set_new(js, "replicas", reps);
    return js;
}

/* ----------------------------------------------------------- sentinels */

static json_t *status_sentinel(const struct session *s, size_t i, struct strbuf *out,
                               struct problems *pr)
{
    const struct spec *sp = s->spec;
    const struct obs_sentinel *sn = &s->observed->sentinels[i];
    json_t *js = json_object();
    json_object_set_new(js, "addr", json_addr(sn->ip, sn->port));
    json_object_set_new(js, "reach", json_text(reach_name(sn->reach)));
    json_t *mon = json_array();
    sb_addf(out, "  %s:%d  ", sn->ip, sn->port);
    if (sn->reach != REACH_OK) {
        char *w = why(sn->reach, sn->reach_detail);
        sb_addf(out, "%s\n", w);
        problem(pr, "sentinel %s:%d is %s", sn->ip, sn->port, w);
        free(w);
        json_object_set_new(js, "monitors", mon);
        return js;
    }
    sb_add(out, "ok, monitors");
    if (!sn->nmasters)
        sb_add(out, " nothing");
    for (size_t k = 0; k < sn->nmasters; k++) {
        sb_addf(out, "%s %s", k ? "," : "", sn->masters[k].name);
        json_array_append_new(mon, json_text(sn->masters[k].name));
    }
    sb_addc(out, '\n');
    json_object_set_new(js, "monitors", mon);

    size_t others = sp->sentinel.nnodes ? sp->sentinel.nnodes - 1 : 0;
    for (size_t k = 0; k < sp->nshards; k++) {
        const struct spec_shard *sh = &sp->shards[k];
        const struct spec_addr *m = shard_master(s, k);
        const struct obs_sentinel_master *sm = sentinel_master(sn, sh->name);
        if (!sm) {
            problem(pr, "sentinel %s:%d does not monitor %s", sn->ip, sn->port, sh->name);
            continue;
        }
        if (!str_eq(sm->ip, m->ip) || sm->port != m->port)
            problem(pr, "sentinel %s:%d names %s:%d as master of %s, not %s:%d", sn->ip,
                    sn->port, sm->ip, sm->port, sh->name, m->ip, m->port);
        if (sm->flags && (strstr(sm->flags, "s_down") || strstr(sm->flags, "o_down")))
            problem(pr, "sentinel %s:%d sees the master of %s down (%s)", sn->ip, sn->port,
                    sh->name, sm->flags);
        if ((size_t)sm->num_other_sentinels < others)
            problem(pr, "sentinel %s:%d knows %d other sentinel%s for %s, not %zu", sn->ip,
                    sn->port, sm->num_other_sentinels, sm->num_other_sentinels == 1 ? "" : "s",
                    sh->name, others);
    }
    return js;
}

/* ------------------------------------------------------------- proxies */

static json_t *status_proxy(const struct session *s, size_t i, const struct alert_state *al,
                            struct strbuf *out, struct problems *pr)
{
    const struct spec *sp = s->spec;
    const struct obs_proxy *p = &s->observed->proxies[i];
    const struct spec_proxy *spp = &sp->proxies[i];
    /* name the proxy as the spec does: its host, and the listen address when they differ */
    char *label = str_eq(spp->host, spp->listen.ip)
                      ? xasprintf("%s:%d", spp->listen.ip, spp->listen.port)
                      : xasprintf("%s %s:%d", spp->host, spp->listen.ip, spp->listen.port);
    json_t *js = json_object();
    json_object_set_new(js, "host", json_text(spp->host));
    json_object_set_new(js, "listen", json_addr(spp->listen.ip, spp->listen.port));
    json_object_set_new(js, "reach", json_text(reach_name(p->reach)));
    sb_addf(out, "  %s  ", label);
    if (p->reach != REACH_OK) {
        char *w = why(p->reach, p->reach_detail);
        sb_addf(out, "stats port %d: %s", p->stats_port, w);
        problem(pr, "proxy %s does not answer on its stats port %d: %s", label,
                p->stats_port, w);
        free(w);
    } else {
        sb_addf(out, "ok (up %llds)", p->uptime_s);
        json_object_set_new(js, "uptime_s", json_integer(p->uptime_s));
        /* nutcracker has no reload: a file newer than the process is not in effect */
        long long started = p->timestamp_s - p->uptime_s;
        if (p->config_present && p->config_mtime_s > started + 1)
            problem(pr, "proxy %s runs an older config: nutcracker.yml changed after it "
                        "started (restart pending)", label);
    }

    json_t *servers = json_object();
    if (!p->files.checked) {
        /* a host key message has detail lines: they are printed once, on stderr */
        char line[1024];
        const char *e = p->files.error ? first_line(p->files.error, line, sizeof(line))
                                       : "not checked";
        sb_addf(out, "; config not read: %s", e);
        problem(pr, "proxy %s: cannot read its config: %s", label, e);
    } else if (!p->config_present) {
        sb_add(out, "; no nutcracker.yml");
        problem(pr, "proxy %s has no nutcracker.yml", label);
    } else {
        struct nc_server *sv;
        size_t n = redis_parse_nutcracker_servers(p->config_text, &sv);
        sb_add(out, ":");
        for (size_t k = 0; k < sp->nshards; k++) {
            const struct spec_shard *sh = &sp->shards[k];
            const struct spec_addr *m = shard_master(s, k);
            const struct nc_server *x = NULL;
            for (size_t j = 0; j < n && !x; j++)
                if (str_eq(sv[j].name, sh->name))
                    x = &sv[j];
            if (!x) {
                sb_addf(out, "%s %s -> (missing)", k ? "," : "", sh->name);
                problem(pr, "proxy %s has no server for %s", label,
                        sh->name);
                continue;
            }
            sb_addf(out, "%s %s -> %s:%d", k ? "," : "", sh->name, x->ip, x->port);
            json_object_set_new(servers, sh->name, json_addr(x->ip, x->port));
            if (!str_eq(x->ip, m->ip) || x->port != m->port)
                problem(pr, "proxy %s sends %s to %s:%d, not to the master %s:%d", label,
                        sh->name, x->ip, x->port, m->ip, m->port);
        }
        nc_servers_free(sv, n);
    }
    alert_mark(al, spp->listen.ip, spp->listen.port, out, pr);
    sb_addc(out, '\n');
    json_object_set_new(js, "servers", servers);
    free(label);
    return js;
}

/* One problem per host whose ssh host key is not trusted (the first line of its message). */
static void host_key_problems(const struct observed *o, struct problems *pr)
{
    size_t n = o->nredis + o->nsentinels + o->nproxies;
    const char **seen = xcalloc(n ? n : 1, sizeof(*seen));
    size_t nseen = 0;
    for (size_t i = 0; i < n; i++) {
        const struct obs_files *f = i < o->nredis ? &o->redis[i].files
                                    : i < o->nredis + o->nsentinels
                                        ? &o->sentinels[i - o->nredis].files
                                        : &o->proxies[i - o->nredis - o->nsentinels].files;
        if (!f->host_key_error || !f->error)
            continue;
        bool dup = false;
        for (size_t k = 0; k < nseen && !dup; k++)
            dup = str_eq(seen[k], f->error);
        if (dup)
            continue;
        seen[nseen++] = f->error;
        char line[1024];
        problem(pr, "ssh host key not trusted: %s", first_line(f->error, line, sizeof(line)));
    }
    free(seen);
}

/* ---- versions ---- */

struct build_group {
    enum instance_kind kind;
    const char *version, *executable; /* borrowed from the observation */
    struct strvec instances;          /* "ip:port" */
};

static void build_add(struct build_group **g, size_t *n, size_t *cap, enum instance_kind k,
                      const struct obs_build *b, const char *ip, int port)
{
    if (!b->executable && !b->version)
        return;
    size_t i = 0;
    while (i < *n && !((*g)[i].kind == k && str_eq((*g)[i].version, b->version) &&
                       str_eq((*g)[i].executable, b->executable)))
        i++;
    if (i == *n) {
        VEC_GROW(*g, *n, *cap);
        (*g)[*n] = (struct build_group){.kind = k, .version = b->version,
                                         .executable = b->executable};
        (*n)++;
    }
    strvec_add(&(*g)[i].instances, xasprintf("%s:%d", ip, port));
}

/*
 * "versions:" - each build that runs (kind, version, program) with its
 * instances, and whether it is the spec's program; the JSON array of the same.
 */
static json_t *status_versions(const struct spec *sp, const struct observed *o,
                               struct strbuf *out)
{
    struct build_group *g = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < o->nredis; i++)
        if (o->redis[i].reach == REACH_OK)
            build_add(&g, &n, &cap, INSTANCE_REDIS, &o->redis[i].build, o->redis[i].ip,
                      o->redis[i].port);
    for (size_t i = 0; i < o->nsentinels; i++)
        if (o->sentinels[i].reach == REACH_OK)
            build_add(&g, &n, &cap, INSTANCE_SENTINEL, &o->sentinels[i].build,
                      o->sentinels[i].ip, o->sentinels[i].port);
    for (size_t i = 0; i < o->nproxies; i++)
        if (o->proxies[i].reach == REACH_OK)
            build_add(&g, &n, &cap, INSTANCE_PROXY, &o->proxies[i].build, o->proxies[i].ip,
                      o->proxies[i].listen_port);
    json_t *arr = json_array();
    if (n)
        sb_add(out, "versions:\n");
    for (size_t i = 0; i < n; i++) {
        char *want = instance_binary_path(sp, g[i].kind);
        bool spec = g[i].executable && str_eq(g[i].executable, want);
        sb_addf(out, "  %-8s %s %s: ", instance_kind_name(g[i].kind),
                g[i].version ? g[i].version : "(version unknown)",
                g[i].executable ? g[i].executable : "(program unknown)");
        json_t *insts = json_array();
        for (size_t k = 0; k < g[i].instances.n; k++) {
            sb_addf(out, "%s%s", k ? ", " : "", g[i].instances.v[k]);
            json_array_append_new(insts, json_text(g[i].instances.v[k]));
        }
        if (!spec && g[i].executable)
            sb_addf(out, " (the spec has %s: 'rmgr plan' upgrades them)", want);
        sb_add(out, "\n");
        json_t *x = json_object();
        json_object_set_new(x, "kind", json_text(instance_kind_name(g[i].kind)));
        json_object_set_new(x, "version", json_str_or_null(g[i].version));
        json_object_set_new(x, "executable", json_str_or_null(g[i].executable));
        json_object_set_new(x, "spec", json_boolean(spec));
        json_object_set_new(x, "instances", insts);
        json_array_append_new(arr, x);
        free(want);
        strvec_release(&g[i].instances);
    }
    free(g);
    return arr;
}

/* "2 shards, 3 sentinels, 1 proxy" */
static char *counts_line(const struct spec *sp)
{
    return xasprintf("%zu shard%s, %zu sentinel%s, %zu prox%s", sp->nshards,
                     sp->nshards == 1 ? "" : "s", sp->sentinel.nnodes,
                     sp->sentinel.nnodes == 1 ? "" : "s", sp->nproxies,
                     sp->nproxies == 1 ? "y" : "ies");
}

struct status_args {
    struct session_options so;
    const char *state_dir;
    bool json;
    bool no_color; /* accepted like every command's: status prints no colour */
};

static const struct cli_opt status_opts[] = {
    CLI_OPT_SPEC(struct status_args, so),
    CLI_OPTS_POLICY(struct status_args, so),
    {CLI_OPT_FLAG, 0, "json", offsetof(struct status_args, json),
     .help = "the same as JSON, with \"healthy\" and \"problems\""},
    {CLI_OPT_FLAG, 0, "no-color", offsetof(struct status_args, no_color),
     .help = "accepted for symmetry with the other commands (no colour is used)"},
    {CLI_OPT_STRING, 0, "state-dir", offsetof(struct status_args, state_dir), .arg = "DIR",
     .help = "where reconcile keeps its state, for the alert rules' rates\n"
             "and `for:` (default: $XDG_CACHE_HOME/rmgr/state or\n"
             "~/.cache/rmgr/state, as reconcile's)"},
    CLI_OPTS_TIMEOUTS(struct status_args, so, CLI_TIMEOUT_HELP_OBSERVE),
};

static int run_status(int argc, char **argv)
{
    struct status_args args = {0};
    int urc = cli_parse_spec_command(&command_status, argc, argv, &args, &args.so.spec_path);
    if (urc)
        return urc;

    struct session s = {0};
    if (session_open(&s, &args.so, stderr) < 0)
        return EXIT_FAILURE_;
    /* an untrusted host key is an error, said in full; the health below is still shown */
    bool host_keys_ok = session_check_host_keys(&s, &args.so, false, stderr) == 0;
    const struct spec *sp = s.spec;
    struct problems pr = {0};
    struct strbuf out = {0};
    json_t *root = json_object();
    json_t *shards = json_array(), *sentinels = json_array(), *proxies = json_array();

    /* the alert rules on this observation, from reconcile's state: nothing sent or saved */
    struct alert_state al = {0};
    char *state_dir = args.state_dir ? xstrdup(args.state_dir) : user_cache_path("state");
    if (sp->nalerts || state_dir) {
        struct notify_options no;
        notify_options_init(&no);
        char *warn = NULL;
        alerts_check(&no, state_dir, sp, s.observed, NULL, true, &al, &warn);
        if (warn)
            fprintf(stderr, "warning: %s\n", warn);
        free(warn);
        notify_options_release(&no);
    }
    free(state_dir);

    char *counts = counts_line(sp);
    sb_addf(&out, "Cluster %s: %s\n\n", sp->cluster, counts);
    for (size_t i = 0; i < sp->nshards; i++)
        json_array_append_new(shards, status_shard(&s, i, &al, &out, &pr));
    if (s.observed->nsentinels)
        sb_add(&out, "sentinels:\n");
    for (size_t i = 0; i < s.observed->nsentinels; i++)
        json_array_append_new(sentinels, status_sentinel(&s, i, &out, &pr));
    if (s.observed->nproxies)
        sb_add(&out, "proxies:\n");
    for (size_t i = 0; i < s.observed->nproxies; i++)
        json_array_append_new(proxies, status_proxy(&s, i, &al, &out, &pr));
    host_key_problems(s.observed, &pr);
    json_t *versions = status_versions(sp, s.observed, &out);

    if (args.json) {
        json_t *probs = json_array();
        for (size_t i = 0; i < pr.list.n; i++)
            json_array_append_new(probs, json_text(pr.list.v[i]));
        json_object_set_new(root, "cluster", json_text(sp->cluster));
        json_object_set_new(root, "healthy", json_boolean(pr.list.n == 0));
        json_object_set_new(root, "shards", shards);
        json_object_set_new(root, "sentinels", sentinels);
        json_object_set_new(root, "proxies", proxies);
        json_object_set_new(root, "versions", versions);
        json_object_set_new(root, "problems", probs);
        json_t *alerts = json_array();
        for (size_t i = 0; i < al.nrows; i++) {
            const struct alert_row *r = &al.rows[i];
            if (r->firing)
                json_array_append_new(
                    alerts, json_pack("{s:o, s:o, s:o, s:o, s:f, s:I}", "name", json_text(r->name),
                                      "addr", json_text(r->addr), "shard",
                                      r->shard ? json_text(r->shard) : json_null(), "role",
                                      json_text(r->role ? r->role : ""), "value", r->value,
                                      "since", (json_int_t)r->since_s));
        }
        json_object_set_new(root, "alerts", alerts);
        json_object_set_new(root, "took_ms", json_integer(s.observed->took_ms));
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text ? text : "null");
        free(text);
    } else {
        json_decref(shards);
        json_decref(sentinels);
        json_decref(proxies);
        json_decref(versions);
        fputs(sb_str(&out), stdout);
        if (pr.list.n) {
            printf("\nProblems:\n");
            for (size_t i = 0; i < pr.list.n; i++)
                printf("  - %s\n", pr.list.v[i]);
        }
        if (pr.list.n)
            printf("\n%s: %zu problem%s\n", counts, pr.list.n, pr.list.n == 1 ? "" : "s");
        else
            printf("\n%s: all healthy\n", counts);
    }
    json_decref(root);
    int rc = pr.list.n || !host_keys_ok ? EXIT_FAILURE_ : EXIT_OK;
    free(counts);
    sb_release(&out);
    strvec_release(&pr.list);
    alert_state_release(&al);
    session_release(&s);
    return rc;
}

const struct command command_status = {
    /* name, run, summary (`rmgr help`) */
    "status", run_status, "summarise the cluster's health",
    .usage = "usage: rmgr status -f SPEC [--json] [--no-color] [--state-dir DIR]\n"
             "                   [--connect-timeout MS] [--timeout MS]\n"
             "                   [--trusted-spec REF] [--allow-hosts FILE]\n"
             "\n"
             "Per shard its master (and whether Sentinel chose it) and its replicas with\n"
             "link status and lag; per sentinel the shards it monitors and whether it\n"
             "agrees on their masters; per proxy whether it answers and which server each\n"
             "shard points at. Ends with a line such as\n"
             "'2 shards, 3 sentinels, 1 proxy: all healthy', after a list of problems if any.\n"
             "A firing alert of the spec's alerts: is shown beside its instance (ALERT\n"
             "name=value) and is a problem.\n",
    CLI_COMMAND_OPTS(status_opts),
    .epilog = "Exit status: 0 healthy, 1 not healthy or an error, 2 usage error.\n",
};
