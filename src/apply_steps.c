/*
 * apply_steps.c - the executors: one function per step kind, named by the
 * exec column of STEP_KINDS (plan.h). Each talks to one host through its
 * transport (instance.c for processes) or to one server through rclient.
 */
#include "apply_impl.h"
#include "apply_move.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "redis_parse.h"

#define LOG_TAIL_LINES 15
#define DISKLESS_DELAY "repl-diskless-sync-delay"

/* The spec proxy a proxy step is about (host IP + listen port), or NULL. */
static const struct spec_proxy *step_proxy(const struct spec *s, const struct step *st)
{
    return instance_proxy(s, st->ip, st->port);
}

/* "\n  last lines of LOG:\n    ..." for a message, or "" when it cannot be read. Caller frees. */
static char *log_tail(struct run *r, struct hostc *h, enum instance_kind k, int port)
{
    char *log = conf_logfile_path(r->s, instance_kind_name(k), port);
    char *n = xasprintf("%d", LOG_TAIL_LINES);
    const char *argv[] = {"tail", "-n", n, log, NULL};
    char *out = NULL, *err = NULL;
    char *res;
    if (run_host_cmd(r, h, argv, &out, &err) == 0 && out && *out) {
        char *t = instance_tail_lines(out, LOG_TAIL_LINES);
        res = xasprintf("\n  last lines of %s:\n%s", log, t);
        free(t);
    } else {
        res = xasprintf("\n  (no log at %s)", log);
    }
    free(out);
    free(err);
    free(n);
    free(log);
    return res;
}

/*
 * The program to run for kind k on host h. With binaries.ship the local
 * file is copied to <base_dir>/<cluster>/bin/ first (once per run and host,
 * skipped when the same bytes are there; made on the host from another
 * kind's shipped copy when it is the same program). NULL and *err on failure.
 */
static const char *host_binary(struct run *r, struct hostc *h, enum instance_kind k, char **err)
{
    pthread_mutex_lock(&h->bin_lock);
    if (!h->bin[k] && r->s->defaults.binaries.ship) {
        struct transport *t = run_host_transport(r, h, err);
        int copied = 0; /* the same program shipped for another kind: copied on the host */
        for (int j = 0; t && !copied && j < (int)(sizeof(h->bin) / sizeof(h->bin[0])); j++)
            if (j != (int)k && h->bin[j])
                copied = instance_ship_copy(t, r->s, k, (enum instance_kind)j, err);
        if (!t || copied < 0 || (!copied && instance_ship_binary(t, r->s, k, err) < 0)) {
            pthread_mutex_unlock(&h->bin_lock);
            return NULL;
        }
    }
    if (!h->bin[k])
        h->bin[k] = instance_binary_path(r->s, k);
    const char *bin = h->bin[k];
    pthread_mutex_unlock(&h->bin_lock);
    return bin;
}

/*
 * Stop the instance of kind k at ip:port on host h (instance_stop with the
 * run's policy). 0, or -1 and *err. *note (may be NULL) gets "not running"
 * when there was nothing to do.
 */
static int stop_instance(struct run *r, struct hostc *h, enum instance_kind k, const char *ip,
                         int port, const char **note, char **err)
{
    struct transport *t = run_host_transport(r, h, err);
    if (!t)
        return -1;
    /* on this machine: kill(2) and /proc without a fork per look */
    struct instance_policy pol = r->policy;
    pol.direct = spec_host_transport(r->s, h->name) == TRANSPORT_LOCAL;
    return instance_stop(t, &pol, r->s, k, ip, port, note, err);
}

/* ---- the first syncs of a new shard ---------------------------------------------- */

/* Whether the spec sets directive `key` for every redis. */
static bool spec_sets(const struct spec *s, const char *key)
{
    for (size_t i = 0; i < s->nredis_config; i++)
        if (!strcasecmp(s->redis_config[i].key, key))
            return true;
    return false;
}

/*
 * Whether start step st starts a master this plan creates (its files are
 * installed by the plan) whose replicas the plan starts too, with no
 * repl-diskless-sync-delay of the spec's: its replicas' first syncs need
 * not wait that delay (5 s by Redis' default) for more replicas to come.
 */
static bool new_empty_master(const struct run *r, const struct step *st)
{
    if (st->instance != INSTANCE_REDIS || st->master_ip || spec_sets(r->s, DISKLESS_DELAY))
        return false;
    bool created = false, replicas = false;
    for (size_t i = 0; i < r->p->nsteps; i++) {
        const struct step *o = &r->p->steps[i];
        if (o->instance != INSTANCE_REDIS)
            continue;
        created |= o->kind == STEP_INSTALL_FILES && o->action == ACTION_CREATE &&
                   o->port == st->port && str_eq(o->ip, st->ip);
        replicas |= o->kind == STEP_START && o->master_port == st->port &&
                    str_eq(o->master_ip, st->ip);
    }
    return created && replicas;
}

/*
 * On the new master at c: when it holds no key in any database (INFO
 * keyspace), note its repl-diskless-sync-delay and set it to 0 until
 * run_delay_restore(). Only at runtime, never in its file; should rmgr die
 * before the restore, the next plan sees the 0 and puts the value back
 * (plan_redis.c). 0, or -1 and *err.
 */
static int delay_lower(struct run *r, redisContext *c, const char *where, const struct step *st,
                       char **err)
{
    const char *info[] = {"INFO"};
    redisReply *rep = run_cmd(c, where, "INFO", false, 1, info, err);
    if (!rep)
        return -1;
    struct obs_redis seen = {0};
    char *perr = NULL;
    bool empty = rep->type == REDIS_REPLY_STRING && rep->str &&
                 redis_parse_info(rep->str, &seen, &perr) == 0 && seen.keys == 0;
    free(perr);
    obs_redis_release(&seen);
    rclient_reply_free(rep);
    if (!empty)
        return 0; /* not a new shard after all (or unreadable): its syncs keep the delay */
    const char *get[] = {"CONFIG", "GET", DISKLESS_DELAY};
    rep = run_cmd(c, where, "CONFIG GET " DISKLESS_DELAY, false, 3, get, err);
    if (!rep)
        return -1;
    char *was = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[1]->str
                    ? xstrdup(rep->element[1]->str)
                    : NULL;
    rclient_reply_free(rep);
    if (!was || str_eq(was, "0")) {
        free(was);
        return 0; /* a Redis without it, or already 0: nothing to lower */
    }
    const char *set[] = {"CONFIG", "SET", DISKLESS_DELAY, "0"};
    if (run_cmd_ok(c, where, "CONFIG SET " DISKLESS_DELAY, false, 4, set, err) < 0) {
        free(was);
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    VEC_GROW(r->lowered, r->nlowered, r->lowered_cap);
    r->lowered[r->nlowered++] = (struct lowered_delay){.st = st, .was = was};
    pthread_mutex_unlock(&r->lock);
    return 0;
}

char *run_delay_restore(struct run *r)
{
    pthread_mutex_lock(&r->lock);
    struct lowered_delay *lowered = r->lowered;
    size_t n = r->nlowered;
    r->lowered = NULL;
    r->nlowered = r->lowered_cap = 0;
    pthread_mutex_unlock(&r->lock);
    struct strbuf failed = {0};
    for (size_t i = 0; i < n; i++) {
        const struct step *st = lowered[i].st;
        char *e = NULL;
        redisContext *c = run_connect(r, st->ip, st->port, true, &e);
        const char *set[] = {"CONFIG", "SET", DISKLESS_DELAY, lowered[i].was};
        if (!c || run_cmd_ok(c, st->target, "CONFIG SET " DISKLESS_DELAY, false, 4, set, &e) < 0)
            sb_addf(&failed, "%scannot put back " DISKLESS_DELAY " %s on %s (apply set 0 for "
                             "its first syncs): %s; the next plan shows it and apply restores it",
                    failed.len ? "\n" : "", lowered[i].was, st->target, e ? e : "no answer");
        rclient_close(c);
        free(e);
        free(lowered[i].was);
    }
    free(lowered);
    return failed.len ? sb_detach(&failed) : NULL;
}

/*
 * Start the instance of start step st and wait until it answers. For a
 * redis, CONFIG REWRITE then records the role it was started with, so a
 * restart outside rmgr does not bring a replica back as a master.
 */
static int start_instance(struct run *r, struct hostc *h, const struct step *st, char **err)
{
    const char *bin = host_binary(r, h, st->instance, err);
    if (!bin)
        return -1;
    struct transport *t = run_host_transport(r, h, err);
    if (!t)
        return -1;
    /*
     * Redis and Sentinel rewrite their files (CONFIG REWRITE, failovers) with
     * mode 0644 & ~umask, whatever mode rmgr wrote: start them under a umask
     * that keeps a password (requirepass, auth-pass) private.
     */
    if (st->instance == INSTANCE_PROXY && !step_proxy(r->s, st)) {
        *err = xasprintf("no proxy in the spec listens on %s:%d", st->ip, st->port);
        return -1;
    }
    const char *aip;
    int aport;
    instance_answer_addr(r->s, st->instance, st->ip, st->port, &aip, &aport);
    /*
     * Something already serves the port (a process rmgr did not start, or one
     * whose pidfile was lost): a second instance would fail to bind and, on its
     * way out, delete the pidfile the live one wrote. Say so; start nothing.
     */
    const struct spec_proxy *sp = st->instance == INSTANCE_PROXY ? step_proxy(r->s, st) : NULL;
    int busy = rclient_port_open(aip, aport, &r->ro) ? aport
               : sp && rclient_port_open(st->ip, sp->stats_port, &r->ro) ? sp->stats_port
                                                                          : 0;
    if (busy) {
        *err = xasprintf("%s %s:%d was not running, but port %d already accepts connections: "
                         "another process holds it (not one of this cluster's pidfiles); "
                         "nothing was started: stop that process or change the spec",
                         instance_kind_name(st->instance), st->ip, st->port, busy);
        return -1;
    }
    int rc = instance_start(t, r->s, st, bin, "077", err);
    if (rc < 0) {
        /* it ran (the host answered): its log may say why */
        char *tail = log_tail(r, h, st->instance, st->port);
        char *m = xasprintf("%s%s", *err, tail);
        free(*err);
        free(tail);
        *err = m;
        return -1;
    }
    char *why = NULL;
    if (!instance_wait_answers(aip, aport, &r->ro,
                               st->instance == INSTANCE_PROXY ? r->password : NULL, &r->policy,
                               r->o.ready_timeout_ms, &why)) {
        char *tail = log_tail(r, h, st->instance, st->port);
        *err = xasprintf("%s %s:%d did not answer within %ld ms (%s)%s",
                         instance_kind_name(st->instance), aip, aport, r->o.ready_timeout_ms,
                         why ? why : "no answer", tail);
        free(tail);
        free(why);
        return -1;
    }
    free(why);
    if (st->instance != INSTANCE_REDIS)
        return 0;
    redisContext *c = run_connect(r, st->ip, st->port, true, err);
    if (!c)
        return -1;
    char *where = xasprintf("%s:%d", st->ip, st->port);
    const char *rw[] = {"CONFIG", "REWRITE"};
    rc = run_cmd_ok(c, where, "CONFIG REWRITE", false, 2, rw, err);
    if (rc == 0 && new_empty_master(r, st))
        rc = delay_lower(r, c, where, st, err); /* after the rewrite: the file keeps the default */
    free(where);
    rclient_close(c);
    return rc;
}

/*
 * Install nutcracker.yml `text` for proxy sp at `conf`: to <conf>.new
 * first, checked with `nutcracker -t` (it gives no reason), then over the
 * config atomically, so a config nutcracker rejects is never started.
 */
static int write_nutcracker_checked(struct run *r, struct hostc *h, const struct spec_proxy *sp,
                                    const char *conf, const char *text, int mode, char **err)
{
    struct transport *t = run_host_transport(r, h, err);
    if (!t)
        return -1;
    const char *bin = host_binary(r, h, INSTANCE_PROXY, err);
    if (!bin)
        return -1;
    char *who = xasprintf("proxy %s:%d", sp->listen.ip, sp->listen.port);
    int rc = instance_install_checked(t, &r->policy, bin, conf, text, mode, who, err);
    free(who);
    return rc;
}

static int do_install_files(struct run *r, struct hostc *h, const struct step *st, char **err)
{
    struct transport *t = run_host_transport(r, h, err);
    if (!t)
        return -1;
    const char *kind = instance_kind_name(st->instance);
    char *dir = spec_instance_dir(r->s, kind, st->port);
    char *path = conf_path(r->s, kind, st->port);
    char *text = NULL, *e = NULL;
    int rc = -1;
    if (transport_mkdir(t, dir, 0750, &e) < 0)
        goto out;
    long long mtime;
    int present = transport_stat_mtime(t, path, &mtime, &e);
    if (present < 0)
        goto out;
    int mode = 0640;
    switch (st->instance) {
    case INSTANCE_REDIS:
        /* never overwritten: Redis keeps replicaof and CONFIG REWRITE results there */
        if (present == 1)
            text = conf_render_redis(r->s, st->ip, st->port, r->password);
        if (r->password)
            mode = 0600;
        break;
    case INSTANCE_SENTINEL:
        /* never overwritten: Sentinel keeps its monitors and epochs there */
        if (present == 1)
            text = conf_render_sentinel(r->s, st->ip, st->port, r->password);
        if (r->password)
            mode = 0600;
        break;
    case INSTANCE_PROXY: {
        const struct spec_proxy *sp = step_proxy(r->s, st);
        if (!sp) {
            e = xasprintf("no proxy in the spec listens on %s:%d", st->ip, st->port);
            goto out;
        }
        text = conf_render_nutcracker(r->s, sp, r->p->masters, r->password);
        /* checked like a proxy-config: a rejected file is never started */
        if (write_nutcracker_checked(r, h, sp, path, text, r->password ? 0600 : 0640, &e) < 0)
            goto out;
        secret_free(text);
        text = NULL; /* installed */
        break;
    }
    }
    if (text && transport_write_file(t, path, text, strlen(text), mode, &e) < 0)
        goto out;
    if (!host_binary(r, h, st->instance, &e))
        goto out;
    rc = 0;
out:
    if (rc < 0)
        *err = e ? e : xstrdup("install failed");
    else
        free(e);
    secret_free(text); /* it may hold the password */
    free(dir);
    free(path);
    return rc;
}

static int do_remove_files(struct run *r, struct hostc *h, const struct step *st, char **err)
{
    char *dir = spec_instance_dir(r->s, instance_kind_name(st->instance), st->port);
    int rc = -1;
    if (!apply_path_inside(dir, r->cluster_root)) {
        *err = xasprintf("refusing to remove '%s': not inside '%s/'", dir, r->cluster_root);
    } else {
        const char *argv[] = {"rm", "-rf", "--", dir, NULL};
        rc = run_host_cmd(r, h, argv, NULL, err);
    }
    free(dir);
    return rc;
}

/*
 * The value to send for a step's setting key=value: a secret (requirepass,
 * masterauth, Sentinel's auth-pass) is planned only as the placeholder, and
 * the password goes in its place here. *secret says whether replies must
 * not be shown. NULL and *err when the spec has no password to send.
 */
const char *run_setting_value(const struct run *r, const char *where, const char *key,
                              const char *value, bool *secret, char **err)
{
    *secret = redis_is_secret_directive(key);
    if (!*secret || !str_eq(value, CONF_SECRET_PLACEHOLDER))
        return value;
    if (!r->password)
        *err = xasprintf("%s: the step sets %s but the spec has no password", where, key);
    return r->password;
}

/*
 * Connect to the redis of step st, run `fn` on it (NULL: nothing), then
 * CONFIG REWRITE so the file keeps what runs. 0, or -1 and *err.
 */
typedef int redis_step_fn(struct run *r, redisContext *c, const char *where,
                          const struct step *st, char **err);

static int redis_step(struct run *r, const struct step *st, redis_step_fn *fn, char **err)
{
    redisContext *c = run_connect(r, st->ip, st->port, true, err);
    if (!c)
        return -1;
    char *where = xasprintf("%s:%d", st->ip, st->port);
    int rc = fn ? fn(r, c, where, st, err) : 0;
    if (rc == 0) {
        const char *argv[] = {"CONFIG", "REWRITE"};
        rc = run_cmd_ok(c, where, "CONFIG REWRITE", false, 2, argv, err);
    }
    free(where);
    rclient_close(c);
    return rc;
}

/* REPLICAOF the step's master */
static int replicaof(struct run *r, redisContext *c, const char *where, const struct step *st,
                     char **err)
{
    (void)r;
    char *port = xasprintf("%d", st->master_port);
    const char *argv[] = {"REPLICAOF", st->master_ip ? st->master_ip : "", port};
    int rc = run_cmd_ok(c, where, "REPLICAOF", false, 3, argv, err);
    free(port);
    return rc;
}

/* CONFIG SET every setting of the step, the password in place of its placeholder */
static int config_set(struct run *r, redisContext *c, const char *where, const struct step *st,
                      char **err)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < st->nsettings; i++) {
        const char *key = st->settings[i].key;
        bool secret;
        const char *value = run_setting_value(r, where, key, st->settings[i].value, &secret, err);
        if (!value)
            return -1;
        const char *argv[] = {"CONFIG", "SET", key, value};
        char *what = xasprintf("CONFIG SET %s", key);
        rc = run_cmd_ok(c, where, what, secret, 4, argv, err);
        free(what);
    }
    return rc;
}

/*
 * Connect to the sentinel of step st (AUTH with the spec's password: a
 * sentinel not given requirepass yet tolerates it) and run `fn` on it for
 * the step's shard. 0, or -1 and *err.
 */
static int sentinel_step(struct run *r, const struct step *st, sentinel_step_fn *fn, char **err)
{
    if (!st->shard) {
        *err = xstrdup("the step names no shard");
        return -1;
    }
    redisContext *c = run_connect(r, st->ip, st->port, true, err);
    if (!c)
        return -1;
    char *where = xasprintf("sentinel %s:%d", st->ip, st->port);
    int rc = fn(r, c, where, st, err);
    free(where);
    rclient_close(c);
    return rc;
}


/*
 * Write the proxy's new nutcracker.yml: to <conf>.new first, checked with
 * `nutcracker -t`, then over the config atomically.
 */
static int do_proxy_config(struct run *r, struct hostc *h, const struct step *st, char **err)
{
    const struct spec_proxy *sp = step_proxy(r->s, st);
    if (!sp) {
        *err = xasprintf("no proxy in the spec listens on %s:%d", st->ip, st->port);
        return -1;
    }
    char *conf = conf_path(r->s, "proxy", st->port);
    /* a shard Sentinel is failing over keeps the server the plan saw in the file */
    struct spec_addr *ms = plan_proxy_masters(r->s, r->p, st);
    char *text = conf_render_nutcracker(r->s, sp, ms, r->password);
    free(ms);
    int rc = write_nutcracker_checked(r, h, sp, conf, text, r->password ? 0600 : 0640, err);
    secret_free(text);
    free(conf);
    return rc;
}

/* ---- the executor of each step kind ------------------------------------------ */

/*
 * An executor: carry out step st on host h. 0, or -1 and *err. *note (never
 * NULL) may get a remark for the progress line.
 */
typedef int step_exec_fn(struct run *r, struct hostc *h, const struct step *st,
                         const char **note, char **err);

static int exec_observed(struct run *r, struct hostc *h, const struct step *st,
                         const char **note, char **err)
{
    (void)r, (void)h, (void)st, (void)note, (void)err;
    return 0; /* a fact: nothing to do */
}

/*
 * The executors that only hand the step on: to a function of (run, host,
 * step) on its host, of a connection to its redis (redis_step: CONFIG
 * REWRITE after) or to its sentinel (sentinel_step).
 */
#define EXEC_ON_HOST(name, fn)                                                               \
    static int name(struct run *r, struct hostc *h, const struct step *st,                   \
                    const char **note, char **err)                                           \
    {                                                                                        \
        (void)note;                                                                          \
        return fn(r, h, st, err);                                                            \
    }
#define EXEC_ON_SERVER(name, via, fn)                                                        \
    static int name(struct run *r, struct hostc *h, const struct step *st,                   \
                    const char **note, char **err)                                           \
    {                                                                                        \
        (void)h, (void)note;                                                                 \
        return via(r, st, fn, err);                                                          \
    }

EXEC_ON_HOST(exec_install_files, do_install_files)
EXEC_ON_HOST(exec_start, start_instance)
EXEC_ON_HOST(exec_remove_files, do_remove_files)
EXEC_ON_HOST(exec_proxy_config, do_proxy_config)
EXEC_ON_HOST(exec_sentinel_auth, run_sentinel_auth)
EXEC_ON_SERVER(exec_config_set, redis_step, config_set)
EXEC_ON_SERVER(exec_config_rewrite, redis_step, NULL) /* the CONFIG REWRITE it ends with */
EXEC_ON_SERVER(exec_replicaof, redis_step, replicaof)
EXEC_ON_SERVER(exec_sentinel_monitor, sentinel_step, run_sentinel_monitor)
EXEC_ON_SERVER(exec_sentinel_set, sentinel_step, run_sentinel_set_options)
EXEC_ON_SERVER(exec_sentinel_remove, sentinel_step, run_sentinel_remove)
EXEC_ON_SERVER(exec_sentinel_reset, sentinel_step, run_sentinel_reset)

static int exec_stop(struct run *r, struct hostc *h, const struct step *st, const char **note,
                     char **err)
{
    return stop_instance(r, h, st->instance, st->ip, st->port, note, err);
}

static int exec_proxy_restart(struct run *r, struct hostc *h, const struct step *st,
                              const char **note, char **err)
{
    (void)note;
    if (stop_instance(r, h, INSTANCE_PROXY, st->ip, st->port, NULL, err) < 0)
        return -1;
    return start_instance(r, h, st, err);
}

/* ---- for the executors in other files (apply_upgrade.c) ---- */

const char *run_host_binary(struct run *r, struct hostc *h, enum instance_kind k, char **err)
{
    return host_binary(r, h, k, err);
}

int run_instance_stop(struct run *r, struct hostc *h, const struct step *st, char **err)
{
    return stop_instance(r, h, st->instance, st->ip, st->port, NULL, err);
}

int run_instance_start(struct run *r, struct hostc *h, const struct step *st, char **err)
{
    return start_instance(r, h, st, err);
}

/* the exec column of STEP_KINDS: a kind without its executor does not compile */
static step_exec_fn *const step_exec[] = {
#define STEP_EXEC_ROW(kind, name, lane, flags, gates, exec) [kind] = exec,
    STEP_KINDS(STEP_EXEC_ROW)
#undef STEP_EXEC_ROW
};
_Static_assert(ARRAY_SIZE(step_exec) == STEP_KIND_COUNT, "an executor per step kind");

int run_exec_step(struct run *r, const struct step *st, const char **note, char **err)
{
    ASSERT((size_t)st->kind < ARRAY_SIZE(step_exec) && step_exec[st->kind]);
    struct hostc *h = run_host_find(r, st->host);
    if (!h) {
        *err = xasprintf("no host '%s'", st->host ? st->host : "");
        return -1;
    }
    return step_exec[st->kind](r, h, st, note, err);
}
