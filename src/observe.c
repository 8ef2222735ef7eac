/*
 * observe.c - look at every instance the spec names, all at once.
 *
 * The servers (redis, sentinels, proxies' stats ports) are talked to on
 * this thread, on one poll loop (observe_net.c); meanwhile one thread per
 * host reads the instance files through that host's transport (opened
 * once). A files thread writes only the files fields of the records on its
 * host, the loop only the rest, so no locking is needed, and a dead
 * address or host costs its own timeout: the whole observation takes as
 * long as the slowest of them.
 *
 * A second round looks at the redis nodes the sentinels report that the
 * spec does not name but that run on the spec's hosts (a replica removed
 * from the spec): their INFO and whether their instance directory exists.
 *
 * Parsing of what the servers say is in redis_parse.c; this file only
 * talks. No secret enters the model: CONFIG GET values and config files
 * pass through obs_mask_secret() before they are stored.
 */
#include "observe_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "instance.h"
#include "redis_parse.h"
#include "transport.h"
#include "util.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_COMMAND_TIMEOUT_MS 2000
#define MAX_CONF_SIZE (4 * 1024 * 1024)
#define THREAD_STACK_SIZE (256 * 1024)

/* directives of the initial sentinel.conf (conf_render_sentinel) */
static const char *const sentinel_file_directives[] = {
    "port", "bind", "dir", "pidfile", "logfile", "daemonize",
};

/* What every files thread reads (never writes). */
struct observe_ctx {
    const struct spec *spec;
    const struct observe_options *opts;
    struct observed *obs;
    const char **redis_hosts; /* the host of obs->redis[i] (spec spelling) */
    size_t redis_from;        /* files jobs read obs->redis[redis_from..] */
    bool redis_only;          /* files jobs skip sentinels and proxies */
};

/* One host's instance files, read on a thread of its own. */
struct files_job {
    const struct observe_ctx *ctx;
    const char *host;
    pthread_t tid;
    bool threaded;
};

/* The directives whose runtime value observation reads with CONFIG GET. */
static size_t config_keys(const struct spec *s, const char ***out)
{
    const char **keys = xcalloc(s->nredis_config + 3, sizeof(*keys));
    size_t n = 0;
    for (size_t i = 0; i < s->nredis_config; i++)
        keys[n++] = s->redis_config[i].key;
    /* the secrets, and the delay an interrupted apply may have left at 0 (conf.h) */
    static const char *const secrets[] = {"requirepass", "masterauth", CONF_DISKLESS_DELAY};
    for (size_t i = 0; i < ARRAY_SIZE(secrets); i++) {
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup = dup || str_ieq(keys[k], secrets[i]);
        if (!dup)
            keys[n++] = secrets[i];
    }
    *out = keys;
    return n;
}

/* ---------------------------------------------------------------- files */

/* A host's files could not be read: say why on every instance of it. */
static void files_failed(struct obs_files *f, const char *why, bool host_key)
{
    f->checked = false;
    f->host_key_error = host_key;
    f->dir_present = f->conf_present = false;
    free(f->error);
    f->error = xstrdup(why);
}

/* The directives read from a redis.conf: spec->redis_config and the fixed ones. */
static size_t redis_file_keys(const struct spec *s, const char ***out)
{
    size_t nfixed = 0;
    while (conf_redis_fixed_directives[nfixed])
        nfixed++;
    const char **keys = xcalloc(s->nredis_config + nfixed + 2, sizeof(*keys));
    size_t n = 0;
    for (size_t i = 0; i < nfixed; i++)
        keys[n++] = conf_redis_fixed_directives[i];
    for (size_t i = 0; i <= s->nredis_config; i++) {
        /* and the delay an interrupted apply may have left at 0 (conf.h) */
        const char *key = i < s->nredis_config ? s->redis_config[i].key : CONF_DISKLESS_DELAY;
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup = dup || str_ieq(keys[k], key);
        if (!dup)
            keys[n++] = key;
    }
    *out = keys;
    return n;
}

/*
 * Read one instance's dir and config file into `f`. With `text`, the whole
 * file is handed back (caller frees) instead of directives. Returns 0, or
 * -1 with *err when the transport failed (the host is then given up on).
 */
static int read_instance_files(struct transport *t, const struct spec *s, const char *kind,
                               int port, const char *const *keys, size_t nkeys,
                               const char *password, struct obs_files *f, char **text,
                               long long *mtime, char **err)
{
    char *dir = spec_instance_dir(s, kind, port);
    char *path = conf_path(s, kind, port);
    char *data = NULL;
    size_t len = 0;
    long long m = 0;
    int rc = -1;

    int st = transport_stat_mtime(t, dir, &m, err);
    if (st < 0)
        goto out;
    f->dir_present = st == 0;
    st = f->dir_present ? transport_read_file(t, path, MAX_CONF_SIZE, &data, &len, err) : 1;
    if (st < 0)
        goto out;
    f->conf_present = st == 0;
    if (f->conf_present && mtime && transport_stat_mtime(t, path, mtime, err) < 0)
        goto out;
    if (f->conf_present && nkeys) {
        f->nconf = conf_get_directives(data, keys, nkeys, &f->conf);
        for (size_t i = 0; i < f->nconf; i++) {
            if (!redis_is_secret_directive(f->conf[i].key))
                continue;
            char *masked = xstrdup(obs_mask_secret(f->conf[i].value, password));
            free(f->conf[i].value);
            f->conf[i].value = masked;
        }
    }
    if (text) {
        *text = data;
        data = NULL;
    }
    f->checked = true;
    rc = 0;
out:
    free(data);
    free(dir);
    free(path);
    return rc;
}

/*
 * Sentinel's `auth-pass` per monitored master, masked, into f->conf as
 * "auth-pass <name>": a monitor added without it cannot reach its master.
 */
static void add_auth_pass(struct obs_files *f, const char *text, const char *password)
{
    struct obs_kv *ap = NULL;
    size_t n = redis_parse_sentinel_auth_pass(text, password, &ap);
    if (!n)
        return;
    f->conf = xrealloc(f->conf, (f->nconf + n) * sizeof(*f->conf));
    memcpy(&f->conf[f->nconf], ap, n * sizeof(*ap));
    f->nconf += n;
    free(ap);
}

/*
 * The masters a sentinel.conf monitors, into f->conf as "monitor <name>" =
 * "<ip> <port>": a sentinel that is down comes back with exactly these.
 */
static void add_monitors(struct obs_files *f, const char *text)
{
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = xstrndup(p, len);
        p += len + (nl ? 1 : 0);
        char name[256], ip[256];
        int port = 0;
        if (sscanf(line, " sentinel monitor %255s %255s %d", name, ip, &port) == 3) {
            f->conf = xrealloc(f->conf, (f->nconf + 1) * sizeof(*f->conf));
            f->conf[f->nconf].key = xasprintf("monitor %s", name);
            f->conf[f->nconf++].value = xasprintf("%s %d", ip, port);
        }
        free(line);
    }
}

static void observe_files(struct files_job *j)
{
    const struct spec *s = j->ctx->spec;
    struct observed *o = j->ctx->obs;
    const struct observe_options *opts = j->ctx->opts;
    const char *pw = opts->password;
    struct transport_options topts = {
        .connect_timeout_ms = opts->connect_timeout_ms,
        .command_timeout_ms = opts->command_timeout_ms,
        .accept_new_host_keys = false, /* observing never trusts a new key */
    };
    char *err = NULL;
    enum transport_failure why = TRANSPORT_FAILURE_NONE;
    struct transport *t = transport_open_ex(s, j->host, &topts, &why, &err);
    char *failed = t ? NULL : xstrdup(err ? err : "cannot open transport");
    /* a host key not trusted is no host that is down: flagged for the whole run */
    bool host_key = !t && why == TRANSPORT_FAILURE_HOST_KEY;
    free(err);
    err = NULL;

    const char **rkeys;
    size_t nrkeys = redis_file_keys(s, &rkeys);

    for (size_t i = j->ctx->redis_from; i < o->nredis; i++) {
        struct obs_redis *r = &o->redis[i];
        if (!str_eq(j->ctx->redis_hosts[i], j->host))
            continue;
        if (!failed && read_instance_files(t, s, "redis", r->port, rkeys, nrkeys, pw,
                                           &r->files, NULL, NULL, &err) < 0) {
            failed = err;
            err = NULL;
            host_key = transport_host_key_failed(t);
        }
        if (failed)
            files_failed(&r->files, failed, host_key);
    }
    for (size_t i = 0; i < o->nsentinels && !j->ctx->redis_only; i++) {
        struct obs_sentinel *sn = &o->sentinels[i];
        if (!str_eq(s->sentinel.nodes[i].host, j->host))
            continue;
        char *text = NULL;
        if (!failed && read_instance_files(t, s, "sentinel", sn->port, sentinel_file_directives,
                                           ARRAY_SIZE(sentinel_file_directives), pw,
                                           &sn->files, &text, NULL, &err) < 0) {
            failed = err;
            err = NULL;
            host_key = transport_host_key_failed(t);
        }
        if (failed)
            files_failed(&sn->files, failed, host_key);
        else if (text) {
            add_auth_pass(&sn->files, text, pw);
            add_monitors(&sn->files, text);
        }
        if (text) {
            memset(text, 0, strlen(text)); /* auth-pass lines hold the password */
            free(text);
        }
    }
    for (size_t i = 0; i < o->nproxies && !j->ctx->redis_only; i++) {
        struct obs_proxy *p = &o->proxies[i];
        if (!str_eq(s->proxies[i].host, j->host))
            continue;
        char *text = NULL;
        if (!failed && read_instance_files(t, s, "proxy", p->listen_port, NULL, 0, pw,
                                           &p->files, &text, &p->config_mtime_s, &err) < 0) {
            failed = err;
            err = NULL;
            host_key = transport_host_key_failed(t);
        }
        if (failed) {
            files_failed(&p->files, failed, host_key); /* reach stays as the stats port said */
            p->config_mtime_s = 0;
        } else if (text) {
            p->config_present = true;
            p->config_text = redis_mask_nutcracker_auth(text, pw);
        }
        if (!failed) /* nutcracker does not say which file it runs: its process does */
            p->build.executable = instance_executable(t, s, INSTANCE_PROXY, p->listen_port);
        free(text);
    }
    free(rkeys);
    free(failed);
    transport_close(t);
}

/* ------------------------------------------------------------- threads */

static void *files_thread(void *arg)
{
    observe_files(arg);
    return NULL;
}

/* Start a files thread per host (inline when out of threads: later, in files_wait). */
static void files_start(struct files_job *jobs, size_t n, const struct observe_ctx *ctx)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);
    for (size_t i = 0; i < n; i++) {
        jobs[i].ctx = ctx;
        jobs[i].threaded = pthread_create(&jobs[i].tid, &attr, files_thread, &jobs[i]) == 0;
    }
    pthread_attr_destroy(&attr);
}

static void files_wait(struct files_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!jobs[i].threaded)
            observe_files(&jobs[i]);
    for (size_t i = 0; i < n; i++)
        if (jobs[i].threaded)
            pthread_join(jobs[i].tid, NULL);
}

/* Hosts that have at least one instance, each once, in spec order. */
static size_t spec_hosts(const struct spec *s, const char ***out)
{
    const char **v = NULL;
    size_t n = 0, cap = 0;
#define ADD_HOST(h)                                                                  \
    do {                                                                             \
        const char *h_ = (h);                                                        \
        bool seen_ = false;                                                          \
        for (size_t k_ = 0; k_ < n && !seen_; k_++)                                  \
            seen_ = str_eq(v[k_], h_);                                               \
        if (!seen_ && h_) {                                                          \
            VEC_GROW(v, n, cap);                                                     \
            v[n++] = h_;                                                             \
        }                                                                            \
    } while (0)
    for (size_t i = 0; i < s->nshards; i++) {
        ADD_HOST(s->shards[i].master.host);
        for (size_t k = 0; k < s->shards[i].nreplicas; k++)
            ADD_HOST(s->shards[i].replicas[k].host);
    }
    for (size_t i = 0; i < s->sentinel.nnodes; i++)
        ADD_HOST(s->sentinel.nodes[i].host);
    for (size_t i = 0; i < s->nproxies; i++)
        ADD_HOST(s->proxies[i].host);
#undef ADD_HOST
    *out = v;
    return n;
}

/*
 * The empty model for the spec: one record per instance, nothing checked.
 * *hosts gets the host of each Redis record (caller frees the array).
 */
static struct observed *observed_skeleton(const struct spec *s, const char ***hosts)
{
    struct observed *o = xcalloc(1, sizeof(*o));
    size_t n = 0;
    for (size_t i = 0; i < s->nshards; i++)
        n += 1 + s->shards[i].nreplicas;
    o->redis = xcalloc(n ? n : 1, sizeof(*o->redis));
    *hosts = xcalloc(n ? n : 1, sizeof(**hosts));
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_shard *sh = &s->shards[i];
        for (size_t k = 0; k <= sh->nreplicas; k++) {
            const struct spec_addr *a = k == 0 ? &sh->master : &sh->replicas[k - 1];
            (*hosts)[o->nredis] = a->host;
            struct obs_redis *r = &o->redis[o->nredis++];
            r->ip = xstrdup(a->ip);
            r->port = a->port;
            r->reach = REACH_NOT_CHECKED;
        }
    }
    o->sentinels = xcalloc(s->sentinel.nnodes ? s->sentinel.nnodes : 1, sizeof(*o->sentinels));
    for (size_t i = 0; i < s->sentinel.nnodes; i++) {
        struct obs_sentinel *sn = &o->sentinels[o->nsentinels++];
        sn->ip = xstrdup(s->sentinel.nodes[i].ip);
        sn->port = s->sentinel.nodes[i].port;
        sn->reach = REACH_NOT_CHECKED;
    }
    o->proxies = xcalloc(s->nproxies ? s->nproxies : 1, sizeof(*o->proxies));
    for (size_t i = 0; i < s->nproxies; i++) {
        struct obs_proxy *p = &o->proxies[o->nproxies++];
        p->ip = xstrdup(s->proxies[i].host_ip);
        p->listen_port = s->proxies[i].listen.port;
        p->stats_port = s->proxies[i].stats_port;
        p->reach = REACH_NOT_CHECKED;
    }
    return o;
}

/* ------------------------------------------------------------- extras */

/*
 * The host an address Sentinel reports is on, when this cluster could have
 * deployed an instance there: a hosts: entry with that address (or name),
 * or an IP the spec's own instances use. NULL for any other address.
 */
static const char *deployable_host(const struct spec *s, const char *ip)
{
    if (!ip)
        return NULL;
    for (size_t h = 0; h < s->nhosts; h++)
        if (str_eq(s->hosts[h].address, ip) || str_eq(s->hosts[h].name, ip))
            return s->hosts[h].name;
    for (size_t i = 0; i < s->nshards; i++)
        for (size_t k = 0; k <= s->shards[i].nreplicas; k++) {
            const struct spec_shard *sh = &s->shards[i];
            const struct spec_addr *a = k == 0 ? &sh->master : &sh->replicas[k - 1];
            if (str_eq(a->ip, ip))
                return a->host;
        }
    for (size_t j = 0; j < s->sentinel.nnodes; j++)
        if (str_eq(s->sentinel.nodes[j].ip, ip))
            return s->sentinel.nodes[j].host;
    for (size_t p = 0; p < s->nproxies; p++)
        if (str_eq(s->proxies[p].host_ip, ip))
            return s->proxies[p].host;
    return NULL;
}

/* Append a record for ip:port on host unless there is one. */
static void extra_add(struct observed *o, const char ***hosts, size_t *cap, const char *host,
                      const char *ip, int port)
{
    if (observed_redis(o, ip, port))
        return;
    if (o->nredis == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        o->redis = xrealloc(o->redis, *cap * sizeof(*o->redis));
        *hosts = xrealloc(*hosts, *cap * sizeof(**hosts));
    }
    struct obs_redis *r = &o->redis[o->nredis];
    memset(r, 0, sizeof(*r));
    r->ip = xstrdup(ip);
    r->port = port;
    r->reach = REACH_NOT_CHECKED;
    (*hosts)[o->nredis++] = host;
}

/*
 * Records for the redis nodes the sentinels report (replicas of any shard,
 * masters of shards the spec no longer has) that the spec does not name but
 * that run where this cluster deploys: the planner tells a replica removed
 * from the spec (its instance directory is there) from a foreign node.
 * Returns how many were added after the spec's records.
 */
static size_t add_extras(const struct spec *s, struct observed *o, const char ***hosts)
{
    size_t first = o->nredis, cap = o->nredis;
    for (size_t j = 0; j < o->nsentinels; j++) {
        const struct obs_sentinel *sn = &o->sentinels[j];
        if (sn->reach != REACH_OK)
            continue;
        for (size_t m = 0; m < sn->nmasters; m++) {
            const struct obs_sentinel_master *ms = &sn->masters[m];
            const char *host = deployable_host(s, ms->ip);
            if (host && !spec_shard_of(s, ms->ip, ms->port))
                extra_add(o, hosts, &cap, host, ms->ip, ms->port);
            for (size_t k = 0; k < ms->nreplicas; k++) {
                const struct obs_sentinel_peer *pe = &ms->replicas[k];
                host = deployable_host(s, pe->ip);
                if (host && pe->port > 0 && !spec_shard_of(s, pe->ip, pe->port))
                    extra_add(o, hosts, &cap, host, pe->ip, pe->port);
            }
        }
    }
    return o->nredis - first;
}

/* ------------------------------------------------------------- jobs */

/* Whether redis record r is a member of a shard that o->only_shards selects. */
static bool wanted_shard(const struct spec *s, const struct observe_options *o,
                         const struct obs_redis *r)
{
    const struct spec_shard *sh = spec_shard_of(s, r->ip, r->port);
    return sh && o->only_shards[sh - s->shards];
}

/* ------------------------------------------------------------- programs */

/* Note program `want` on `host` for probing when build bd is another one (once each). */
static void program_wanted(struct observed *o, size_t *cap, const char *host,
                           const struct obs_build *bd, const char *want)
{
    if (!host || !bd->executable || !*bd->executable || str_eq(bd->executable, want))
        return;
    for (size_t i = 0; i < o->nprograms; i++)
        if (str_eq(o->programs[i].host, host) && str_eq(o->programs[i].path, want))
            return;
    VEC_GROW(o->programs, o->nprograms, *cap);
    o->programs[o->nprograms++] = (struct obs_program){.host = xstrdup(host),
                                                       .path = xstrdup(want)};
}

/* One redis or sentinel whose INFO executable is not the spec's program. */
struct build_check {
    const char *host;
    enum instance_kind kind;
    int port;
    struct obs_build *bd;
    const char *want;
};

/*
 * INFO's executable is argv[0] made absolute against the working directory,
 * symbolic links unresolved: "redis-server" started from $PATH in /srv shows
 * as /srv/redis-server. What the process runs is /proc/PID/exe on its host;
 * replace INFO's word with it (the spec's path when both are the same file).
 * When the pid is not visibly the instance, INFO's word stands.
 */
static void resolve_builds(struct transport *t, const char *host, struct build_check *bc,
                           size_t n)
{
    long *pids = xcalloc(n ? n : 1, sizeof(*pids));
    char **exe = xcalloc(n ? n : 1, sizeof(*exe));
    bool *done = xcalloc(n ? n : 1, sizeof(*done));
    for (size_t i = 0; i < n; i++)
        done[i] = !str_eq(bc[i].host, host) || !bc[i].bd->pid;
    /* one readlink per program wanted on the host, of every pid that is its instance */
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        const char *want = bc[i].want;
        for (size_t j = i; j < n; j++) {
            pids[j] = 0;
            if (done[j] || !str_eq(bc[j].want, want))
                continue;
            done[j] = true;
            if (instance_pid_is(t, bc[j].kind, bc[j].port, bc[j].bd->pid))
                pids[j] = bc[j].bd->pid;
        }
        instance_pids_executables(t, pids + i, n - i, want, exe + i);
        for (size_t j = i; j < n; j++) {
            if (!exe[j])
                continue;
            free(bc[j].bd->executable);
            bc[j].bd->executable = exe[j];
            exe[j] = NULL;
        }
    }
    free(done);
    free(exe);
    free(pids);
}

/* host into hosts[] (room for it) unless it is there */
static void add_host(const char **hosts, size_t *n, const char *host)
{
    for (size_t h = 0; h < *n; h++)
        if (str_eq(hosts[h], host))
            return;
    hosts[(*n)++] = host;
}

static void add_check(struct build_check **bc, size_t *n, size_t *cap, const char *host,
                      enum instance_kind kind, int port, struct obs_build *bd, const char *want)
{
    if (!host || !bd->executable || !*bd->executable || str_eq(bd->executable, want))
        return;
    VEC_GROW(*bc, *n, *cap);
    (*bc)[(*n)++] = (struct build_check){host, kind, port, bd, want};
}

/*
 * Where an instance runs another program than the spec's for its kind: on
 * that host, what the process really runs (resolve_builds), and what
 * `PROGRAM --version` of the spec's says there: the version a rolling
 * upgrade brings. Nothing is run when every instance runs the spec's program
 * (the usual case); one transport per such host.
 */
static void probe_programs(const struct spec *s, struct observed *o, const char **redis_hosts,
                           const struct observe_options *opts)
{
    char *want[3];
    for (int k = 0; k < 3; k++)
        want[k] = instance_binary_path(s, (enum instance_kind)k);
    struct build_check *bc = NULL;
    size_t nbc = 0, bcap = 0;
    for (size_t i = 0; i < o->nredis; i++)
        if (o->redis[i].reach == REACH_OK)
            add_check(&bc, &nbc, &bcap, redis_hosts[i], INSTANCE_REDIS, o->redis[i].port,
                      &o->redis[i].build, want[INSTANCE_REDIS]);
    for (size_t i = 0; i < o->nsentinels && i < s->sentinel.nnodes; i++)
        if (o->sentinels[i].reach == REACH_OK)
            add_check(&bc, &nbc, &bcap, s->sentinel.nodes[i].host, INSTANCE_SENTINEL,
                      o->sentinels[i].port, &o->sentinels[i].build, want[INSTANCE_SENTINEL]);
    /* the hosts to visit: those of the checks, then of proxies on another program */
    const char **hosts = xcalloc(nbc + o->nproxies + 1, sizeof(*hosts));
    size_t nhosts = 0;
    for (size_t i = 0; i < nbc; i++)
        add_host(hosts, &nhosts, bc[i].host);
    for (size_t i = 0; i < o->nproxies && i < s->nproxies; i++) {
        const char *ph = s->proxies[i].host;
        const struct obs_build *bd = &o->proxies[i].build;
        if (!ph || !bd->executable || !*bd->executable ||
            str_eq(bd->executable, want[INSTANCE_PROXY]))
            continue;
        add_host(hosts, &nhosts, ph);
    }
    struct transport_options topts = {
        .connect_timeout_ms = opts->connect_timeout_ms,
        .command_timeout_ms = opts->command_timeout_ms,
        .accept_new_host_keys = false,
    };
    size_t cap = 0;
    for (size_t h = 0; h < nhosts; h++) {
        char *err = NULL;
        enum transport_failure why = TRANSPORT_FAILURE_NONE;
        struct transport *t = transport_open_ex(s, hosts[h], &topts, &why, &err);
        free(err);
        if (!t)
            continue;
        resolve_builds(t, hosts[h], bc, nbc);
        size_t first = o->nprograms;
        for (size_t i = 0; i < nbc; i++)
            if (str_eq(bc[i].host, hosts[h]))
                program_wanted(o, &cap, hosts[h], bc[i].bd, bc[i].want);
        for (size_t i = 0; i < o->nproxies && i < s->nproxies; i++)
            if (str_eq(s->proxies[i].host, hosts[h]))
                program_wanted(o, &cap, hosts[h], &o->proxies[i].build, want[INSTANCE_PROXY]);
        for (size_t i = first; i < o->nprograms; i++) {
            struct obs_program *pg = &o->programs[i];
            const char *argv[] = {pg->path, "--version", NULL};
            struct exec_result er = {0};
            err = NULL;
            if (transport_exec(t, argv, &er, &err) == 0 && er.status == 0) {
                /* redis-server says it on stdout, nutcracker on stderr */
                pg->version = redis_parse_program_version(er.out);
                if (!pg->version)
                    pg->version = redis_parse_program_version(er.err);
            }
            exec_result_release(&er);
            free(err);
        }
        transport_close(t);
    }
    free(hosts);
    free(bc);
    for (int k = 0; k < 3; k++)
        free(want[k]);
}

/* The addresses' round and the hosts' files threads, at the same time. */
static void run_round(const struct net_ctx *net, const struct net_target *targets, size_t ntargets,
                      struct files_job *files, size_t nfiles, const struct observe_ctx *ctx)
{
    files_start(files, nfiles, ctx);
    observe_net(net, targets, ntargets);
    files_wait(files, nfiles);
}

struct observed *observe_cluster(const struct spec *s, const struct observe_options *opts)
{
    long long start = now_ms();
    struct observe_options o = {0};
    if (opts)
        o = *opts;
    if (o.connect_timeout_ms <= 0)
        o.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    if (o.command_timeout_ms <= 0)
        o.command_timeout_ms = DEFAULT_COMMAND_TIMEOUT_MS;
    ignore_sigpipe();

    struct observe_ctx ctx = {.spec = s, .opts = &o};
    struct observed *obs = observed_skeleton(s, &ctx.redis_hosts);
    ctx.obs = obs;
    const char **keys;
    struct net_ctx net = {.opts = &o, .obs = obs};
    net.nconfig_keys = config_keys(s, &keys);
    net.config_keys = keys;
    net.pool = s->cluster;
    const char **info_fields = xcalloc(s->nalerts ? s->nalerts : 1, sizeof(*info_fields));
    for (size_t i = 0; i < s->nalerts; i++) {
        const struct spec_alert *a = &s->alerts[i];
        net.slowlog = net.slowlog || a->kind == ALERT_SLOWLOG_PER_SEC;
        bool seen = !a->info_field;
        for (size_t k = 0; k < net.ninfo_fields && !seen; k++)
            seen = !strcmp(info_fields[k], a->info_field);
        if (!seen)
            info_fields[net.ninfo_fields++] = a->info_field;
    }
    net.info_fields = info_fields;
    const char **hosts = NULL;
    if (o.only_shards)
        o.skip_files = true;
    size_t nhosts = o.skip_files ? 0 : spec_hosts(s, &hosts);
    size_t nt = obs->nredis + obs->nsentinels + obs->nproxies;
    struct net_target *targets = xcalloc(nt ? nt : 1, sizeof(*targets));
    struct files_job *files = xcalloc(nhosts ? nhosts : 1, sizeof(*files));
    size_t n = 0;
    for (size_t i = 0; i < obs->nredis; i++)
        if (!o.only_shards || wanted_shard(s, &o, &obs->redis[i]))
            targets[n++] = (struct net_target){NET_REDIS, i};
    for (size_t i = 0; i < obs->nsentinels; i++)
        targets[n++] = (struct net_target){NET_SENTINEL, i};
    for (size_t i = 0; i < obs->nproxies && !o.only_shards; i++)
        targets[n++] = (struct net_target){NET_PROXY, i};
    for (size_t i = 0; i < nhosts; i++)
        files[i].host = hosts[i];
    run_round(&net, targets, n, files, nhosts, &ctx);
    free(targets);
    free(files);
    free(hosts);

    /* second round: nodes the sentinels report that the spec does not name */
    size_t first = obs->nredis;
    size_t nextra = o.only_shards ? 0 : add_extras(s, obs, &ctx.redis_hosts);
    if (nextra) {
        targets = xcalloc(nextra, sizeof(*targets));
        files = xcalloc(nextra, sizeof(*files));
        size_t nf = 0;
        for (size_t i = first; i < obs->nredis; i++) {
            targets[i - first] = (struct net_target){NET_REDIS, i};
            bool seen = o.skip_files;
            for (size_t k = first; k < i && !seen; k++)
                seen = str_eq(ctx.redis_hosts[k], ctx.redis_hosts[i]);
            if (!seen)
                files[nf++].host = ctx.redis_hosts[i];
        }
        ctx.redis_from = first;
        ctx.redis_only = true;
        run_round(&net, targets, nextra, files, nf, &ctx);
        free(targets);
        free(files);
    }
    if (!o.skip_files)
        probe_programs(s, obs, ctx.redis_hosts, &o);
    free(keys);
    free(info_fields);
    free(ctx.redis_hosts);
    obs->took_ms = now_ms() - start;
    return obs;
}
