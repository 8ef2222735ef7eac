/*
 * apply.c - the executor: run a plan's steps wave by wave, each host's steps
 * in its own thread, with a health check after each wave. See apply.h.
 *
 * Every step is a small function that talks to one host (through its
 * transport) or one server (through hiredis). The run is a state machine
 * over the steps: PENDING -> DONE | FAILED, and whatever is still PENDING
 * when a step or a health check fails is reported as not run.
 */
#include "apply.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "conf.h"
#include "instance.h"
#include "rclient.h"
#include "redis_parse.h"
#include "util.h"

#define LOG_TAIL_LINES 15
#define POLL_MS 100
#define RESET_WAIT_MS 30000 /* a reset sentinel relearns its shard (measured 1-10 s) */
#define SENTINEL_REPLICAS_WAIT_MS 25000 /* replicas come with the master's INFO, every 10 s */

/* ====================================================================
 * Pure pieces
 * ==================================================================== */

size_t apply_lanes(const struct plan *p, enum step_wave w, size_t *lane_of)
{
    const char **keys = xcalloc(p->nsteps ? p->nsteps : 1, sizeof(*keys));
    size_t nkeys = 0;
    for (size_t i = 0; i < p->nsteps; i++) {
        const struct step *st = &p->steps[i];
        lane_of[i] = SIZE_MAX;
        if (st->wave != w || !step_acts(st))
            continue;
        /* proxies one at a time, whatever host they are on; sentinel resets too (the
         * other sentinels must keep what they know while one relearns it) */
        const char *key = w == WAVE_PROXIES && st->instance == INSTANCE_PROXY
                              ? "\001proxies"
                          : st->kind == STEP_SENTINEL_RESET ? "\001sentinel-reset"
                                                            : (st->host ? st->host : "");
        size_t k = 0;
        while (k < nkeys && !str_eq(keys[k], key))
            k++;
        if (k == nkeys)
            keys[nkeys++] = key;
        lane_of[i] = k;
    }
    free(keys);
    return nkeys;
}

bool apply_path_inside(const char *path, const char *root)
{
    if (!path || !root || root[0] != '/' || path[0] != '/')
        return false;
    size_t rlen = strlen(root);
    while (rlen > 1 && root[rlen - 1] == '/')
        rlen--;
    if (strncmp(path, root, rlen) || path[rlen] != '/')
        return false;
    const char *rest = path + rlen + 1;
    if (!*rest)
        return false;
    /* every component below root must be a plain name */
    while (*rest) {
        const char *slash = strchr(rest, '/');
        size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
        if (n == 0 || (n == 1 && rest[0] == '.') || (n == 2 && rest[0] == '.' && rest[1] == '.'))
            return false;
        if (!slash)
            break;
        rest = slash + 1;
        if (!*rest)
            return false; /* trailing slash */
    }
    return true;
}

/* The pure pieces of processes live in instance.c; these names stay for the unit tests. */
bool apply_cmdline_matches(const char *cmdline, size_t len, enum instance_kind k, int port,
                           const char *conf)
{
    return instance_cmdline_matches(cmdline, len, k, port, conf);
}

char **apply_start_argv(const struct spec *s, const struct step *st, const char *bin)
{
    return instance_start_argv(s, st, bin);
}

void apply_argv_free(char **argv)
{
    instance_argv_free(argv);
}

char *apply_tail_lines(const char *text, size_t n)
{
    return instance_tail_lines(text, n);
}

/* The spec proxy a proxy step is about (host IP + listen port), or NULL. */
static const struct spec_proxy *step_proxy(const struct spec *s, const struct step *st)
{
    return instance_proxy(s, st->ip, st->port);
}


/* ====================================================================
 * The run
 * ==================================================================== */

enum step_state { ST_PENDING, ST_DONE, ST_FAILED };

struct hostc {
    const char *name;     /* borrowed from the plan or spec */
    struct transport *t;  /* opened on first use */
    char *open_err;       /* why it could not be opened */
    bool open_host_key;   /* ... because its ssh host key is not trusted */
    char *bin[3];         /* per instance kind: the shipped binary, once checked */
};

struct run {
    const struct spec *s;
    const struct plan *p;
    const char *password;
    struct apply_options o;
    struct rclient_opts ro;          /* from o's timeouts */
    struct instance_policy policy;   /* from o's timeouts */
    char *cluster_root;    /* <base_dir>/<cluster> */
    struct hostc *hosts;
    size_t nhosts;
    size_t *number;        /* 1-based number of each acting step, 0 for "=" */
    size_t total;
    enum step_state *state;
    char **error;          /* per step */
    pthread_mutex_t lock;  /* output, abort */
    bool abort;
    bool host_key;         /* a step failed on a host key not trusted (implies abort) */
    bool live;             /* one lane: print a step's line before it runs */
};

static struct hostc *host_find(struct run *r, const char *name)
{
    for (size_t i = 0; i < r->nhosts; i++)
        if (str_eq(r->hosts[i].name, name))
            return &r->hosts[i];
    return NULL;
}

static void host_add(struct run *r, const char *name, size_t *cap)
{
    if (!name || host_find(r, name))
        return;
    VEC_GROW(r->hosts, r->nhosts, *cap);
    memset(&r->hosts[r->nhosts], 0, sizeof(r->hosts[0]));
    r->hosts[r->nhosts++].name = name;
}

/* The host's transport, opened on first use. NULL and *err when it cannot be. */
static struct transport *host_transport(struct run *r, struct hostc *h, char **err)
{
    if (h->t)
        return h->t;
    if (!h->open_err) {
        char *e = NULL;
        enum transport_failure why = TRANSPORT_FAILURE_NONE;
        h->t = transport_open_ex(r->s, h->name, &r->o.transport, &why, &e);
        h->open_host_key = !h->t && why == TRANSPORT_FAILURE_HOST_KEY;
        if (h->open_host_key)
            h->open_err = xasprintf("the ssh host key of host '%s' is not trusted: %s", h->name,
                                    e ? e : "unknown error");
        else if (!h->t)
            h->open_err = xasprintf("cannot reach host '%s': %s", h->name,
                                    e ? e : "unknown error");
        free(e);
    }
    if (!h->t)
        *err = xstrdup(h->open_err);
    return h->t;
}

/* Whether host h's ssh host key failed verification, at open or on a reconnect since. */
static bool host_key_failed(const struct hostc *h)
{
    return h && (h->open_host_key || transport_host_key_failed(h->t));
}

/*
 * Run argv on host h; 0 when it exited 0, else -1 and *err naming `shown`
 * (the command as the user knows it; NULL: argv). *out (may be NULL) gets
 * stdout.
 */
static int host_run_as(struct run *r, struct hostc *h, const char *const *argv,
                       const char *const *shown, char **out, char **err)
{
    struct transport *t = host_transport(r, h, err);
    if (!t)
        return -1;
    return instance_run(t, argv, shown, out, err);
}


static int host_run(struct run *r, struct hostc *h, const char *const *argv, char **out,
                    char **err)
{
    return host_run_as(r, h, argv, NULL, out, err);
}

/* "\n  last lines of LOG:\n    ..." for a message, or "" when it cannot be read. Caller frees. */
static char *log_tail(struct run *r, struct hostc *h, enum instance_kind k, int port)
{
    char *log = conf_logfile_path(r->s, instance_kind_name(k), port);
    char *n = xasprintf("%d", LOG_TAIL_LINES);
    const char *argv[] = {"tail", "-n", n, log, NULL};
    char *out = NULL, *err = NULL;
    char *res;
    if (host_run(r, h, argv, &out, &err) == 0 && out && *out) {
        char *t = apply_tail_lines(out, LOG_TAIL_LINES);
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
 * Connect to ip:port within the connect timeout, AUTH when `auth` and the
 * spec has a password. NULL and *err when that fails.
 */
static redisContext *rconnect(struct run *r, const char *ip, int port, bool auth, char **err)
{
    struct rclient_err e;
    redisContext *c = rclient_connect(ip, port, &r->ro, auth ? r->password : NULL, &e);
    if (!c)
        *err = rclient_connect_message(&e, ip, port);
    return c;
}

/*
 * Send argv; the reply when it is not an error, else NULL and *err naming
 * `what` (never the arguments). With `secret` the error reply is not shown
 * either (it could quote an argument).
 */
static redisReply *rcmd(redisContext *c, const char *where, const char *what, bool secret,
                        int argc, const char **argv, char **err)
{
    struct rclient_err e;
    redisReply *rep = rclient_cmd(c, argc, argv, secret, &e);
    if (!rep)
        *err = rclient_cmd_message(&e, where, what);
    return rep;
}

/* rcmd when only success matters. 0 or -1. */
static int rcmd_ok(redisContext *c, const char *where, const char *what, bool secret, int argc,
                   const char **argv, char **err)
{
    redisReply *rep = rcmd(c, where, what, secret, argc, argv, err);
    if (!rep)
        return -1;
    rclient_reply_free(rep);
    return 0;
}

/* Whether ip:port answers (rclient_answers); with `auth`, after AUTH. */
static bool answers(struct run *r, const char *ip, int port, bool auth, char **why)
{
    return rclient_answers(ip, port, &r->ro, auth ? r->password : NULL, why);
}

/* Whether something accepts connections on ip:port (nothing else is said). */
static bool port_open(struct run *r, const char *ip, int port)
{
    return rclient_port_open(ip, port, &r->ro);
}

/* ---- binaries and processes (instance.c) --------------------------------- */

/*
 * The program to run for kind k on host h. With binaries.ship the local
 * file is copied to <base_dir>/<cluster>/bin/ first (once per run and host,
 * skipped when the same bytes are there). NULL and *err on failure.
 */
static const char *host_binary(struct run *r, struct hostc *h, enum instance_kind k, char **err)
{
    if (h->bin[k])
        return h->bin[k];
    if (r->s->defaults.binaries.ship) {
        struct transport *t = host_transport(r, h, err);
        if (!t || instance_ship_binary(t, r->s, k, err) < 0)
            return NULL;
    }
    h->bin[k] = instance_binary_path(r->s, k);
    return h->bin[k];
}

/*
 * Stop the instance of kind k at ip:port on host h (instance_stop with the
 * run's policy). 0, or -1 and *err. *note (may be NULL) gets "not running"
 * when there was nothing to do.
 */
static int stop_instance(struct run *r, struct hostc *h, enum instance_kind k, const char *ip,
                         int port, const char **note, char **err)
{
    struct transport *t = host_transport(r, h, err);
    if (!t)
        return -1;
    return instance_stop(t, &r->policy, r->s, k, ip, port, note, err);
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
    struct transport *t = host_transport(r, h, err);
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
    int rc = instance_start(t, r->s, st, bin, r->password ? "077" : "027", err);
    if (rc < 0) {
        /* it ran (the host answered): its log may say why */
        char *tail = log_tail(r, h, st->instance, st->port);
        char *m = xasprintf("%s%s", *err, tail);
        free(*err);
        free(tail);
        *err = m;
        return -1;
    }
    const char *aip;
    int aport;
    instance_answer_addr(r->s, st->instance, st->ip, st->port, &aip, &aport);
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
    redisContext *c = rconnect(r, st->ip, st->port, true, err);
    if (!c)
        return -1;
    char *where = xasprintf("%s:%d", st->ip, st->port);
    const char *rw[] = {"CONFIG", "REWRITE"};
    rc = rcmd_ok(c, where, "CONFIG REWRITE", false, 2, rw, err);
    free(where);
    rclient_close(c);
    return rc;
}

/* ---- steps --------------------------------------------------------------- */

/*
 * Install nutcracker.yml `text` for proxy sp at `conf`: to <conf>.new
 * first, checked with `nutcracker -t` (it gives no reason), then over the
 * config atomically, so a config nutcracker rejects is never started.
 */
static int write_nutcracker_checked(struct run *r, struct hostc *h, const struct spec_proxy *sp,
                                    const char *conf, const char *text, int mode, char **err)
{
    struct transport *t = host_transport(r, h, err);
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
    struct transport *t = host_transport(r, h, err);
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
            text = conf_render_sentinel(r->s, st->ip, st->port);
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
        instance_secret_free(text);
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
    instance_secret_free(text); /* it may hold the password */
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
        rc = host_run(r, h, argv, NULL, err);
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
static const char *setting_value(const struct run *r, const char *where, const char *key,
                                 const char *value, bool *secret, char **err)
{
    *secret = redis_is_secret_directive(key);
    if (!*secret || !str_eq(value, CONF_SECRET_PLACEHOLDER))
        return value;
    if (!r->password)
        *err = xasprintf("%s: the step sets %s but the spec has no password", where, key);
    return r->password;
}

/* replicaof / config-set / config-rewrite on the redis of step st, then CONFIG REWRITE. */
static int do_redis(struct run *r, const struct step *st, char **err)
{
    redisContext *c = rconnect(r, st->ip, st->port, true, err);
    if (!c)
        return -1;
    char *where = xasprintf("%s:%d", st->ip, st->port);
    int rc = 0;
    switch (st->kind) {
    case STEP_REPLICAOF: {
        char *port = xasprintf("%d", st->master_port);
        const char *argv[] = {"REPLICAOF", st->master_ip ? st->master_ip : "", port};
        rc = rcmd_ok(c, where, "REPLICAOF", false, 3, argv, err);
        free(port);
        break;
    }
    case STEP_CONFIG_SET:
        for (size_t i = 0; rc == 0 && i < st->nsettings; i++) {
            const char *key = st->settings[i].key;
            bool secret;
            const char *value = setting_value(r, where, key, st->settings[i].value, &secret, err);
            if (!value) {
                rc = -1;
                break;
            }
            const char *argv[] = {"CONFIG", "SET", key, value};
            char *what = xasprintf("CONFIG SET %s", key);
            rc = rcmd_ok(c, where, what, secret, 4, argv, err);
            free(what);
        }
        break;
    default:
        break;
    }
    if (rc == 0) {
        const char *argv[] = {"CONFIG", "REWRITE"};
        rc = rcmd_ok(c, where, "CONFIG REWRITE", false, 2, argv, err);
    }
    free(where);
    rclient_close(c);
    return rc;
}

/* SENTINEL SET <shard> k v ... for the step's settings (all when `with_quorum`). */
static int sentinel_set(const struct run *r, redisContext *c, const char *where,
                        const struct step *st, bool with_quorum, char **err)
{
    const char **argv = xcalloc(3 + 2 * st->nsettings, sizeof(*argv));
    int argc = 0;
    bool any_secret = false;
    argv[argc++] = "SENTINEL";
    argv[argc++] = "SET";
    argv[argc++] = st->shard;
    for (size_t i = 0; i < st->nsettings; i++) {
        if (!with_quorum && str_eq(st->settings[i].key, "quorum"))
            continue;
        bool secret;
        const char *value =
            setting_value(r, where, st->settings[i].key, st->settings[i].value, &secret, err);
        if (!value) {
            free(argv);
            return -1;
        }
        any_secret |= secret;
        argv[argc++] = st->settings[i].key;
        argv[argc++] = value;
    }
    int rc = argc > 3 ? rcmd_ok(c, where, "SENTINEL SET", any_secret, argc, argv, err) : 0;
    free(argv);
    return rc;
}

/* defined with the health checks below */
static void seen_add(struct strbuf *seen, const char *fmt, ...) RMGR_PRINTF(2, 3);
static bool peers_have(const struct obs_sentinel_peer *peers, size_t n, const char *ip, int port);

/* What a sentinel knows of one shard. */
struct sview {
    struct obs_sentinel_master *ms; /* SENTINEL MASTERS */
    size_t nms;
    const struct obs_sentinel_master *m; /* the shard's entry in ms, or NULL */
    struct obs_sentinel_peer *replicas, *sentinels;
    size_t nreplicas, nsentinels;
};

static void sview_release(struct sview *v)
{
    obs_sentinel_masters_free(v->ms, v->nms);
    obs_sentinel_peers_free(v->replicas, v->nreplicas);
    obs_sentinel_peers_free(v->sentinels, v->nsentinels);
    memset(v, 0, sizeof(*v));
}

/* Read sentinel c's view of `shard` into v (empty on entry). 0, or -1 and *err. */
static int sview_read(redisContext *c, const char *where, const char *shard, struct sview *v,
                      char **err)
{
    char *e = NULL;
    redisReply *rep = rclient_command(c, NULL, "SENTINEL", "MASTERS", NULL);
    int rc = rep ? redis_parse_sentinel_masters(rep, &v->ms, &v->nms, &e) : -1;
    rclient_reply_free(rep);
    for (size_t k = 0; rc == 0 && k < v->nms; k++)
        if (str_eq(v->ms[k].name, shard))
            v->m = &v->ms[k];
    if (rc == 0 && v->m) {
        rep = rclient_command(c, NULL, "SENTINEL", "REPLICAS", shard, NULL);
        rc = rep ? redis_parse_sentinel_peers(rep, false, &v->replicas, &v->nreplicas, &e) : -1;
        rclient_reply_free(rep);
    }
    if (rc == 0 && v->m) {
        rep = rclient_command(c, NULL, "SENTINEL", "SENTINELS", shard, NULL);
        rc = rep ? redis_parse_sentinel_peers(rep, true, &v->sentinels, &v->nsentinels, &e) : -1;
        rclient_reply_free(rep);
    }
    if (rc < 0)
        *err = xasprintf("%s: cannot read what it knows of %s: %s", where, shard,
                         e ? e : c->errstr[0] ? c->errstr : "no reply");
    free(e);
    return rc;
}

/* a peer Sentinel currently sees as up */
static bool peer_up(const struct obs_sentinel_peer *pe)
{
    return pe->ip && !(pe->flags && (strstr(pe->flags, "down") || strstr(pe->flags, "disconnected")));
}

static bool spec_shard_has(const struct spec *s, const char *shard, const char *ip, int port)
{
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_shard *sh = &s->shards[i];
        if (!str_eq(sh->name, shard))
            continue;
        for (size_t k = 0; k <= sh->nreplicas; k++) {
            const struct spec_addr *a = k == 0 ? &sh->master : &sh->replicas[k - 1];
            if (a->port == port && str_eq(a->ip, ip))
                return true;
        }
    }
    return false;
}

/*
 * Whether a reset sentinel knows again what it knew before (`was`): the
 * same master, every sentinel and member replica it saw up, and no replica
 * outside the shard. What is missing goes to *seen.
 */
static bool sview_restored(const struct run *r, const struct step *st, const struct sview *was,
                           const struct sview *now, struct strbuf *seen)
{
    if (!now->m) {
        seen_add(seen, "it does not monitor %s", st->shard);
        return false;
    }
    bool ok = true;
    if (now->m->port != st->master_port || !str_eq(now->m->ip, st->master_ip)) {
        seen_add(seen, "it has %s:%d as master of %s, not %s:%d", now->m->ip ? now->m->ip : "?",
                 now->m->port, st->shard, st->master_ip, st->master_port);
        ok = false;
    }
    for (size_t k = 0; k < was->nsentinels; k++) {
        const struct obs_sentinel_peer *pe = &was->sentinels[k];
        if (peer_up(pe) && !peers_have(now->sentinels, now->nsentinels, pe->ip, pe->port)) {
            seen_add(seen, "it does not know sentinel %s:%d yet", pe->ip, pe->port);
            ok = false;
        }
    }
    for (size_t k = 0; k < was->nreplicas; k++) {
        const struct obs_sentinel_peer *pe = &was->replicas[k];
        if (peer_up(pe) && spec_shard_has(r->s, st->shard, pe->ip, pe->port) &&
            !peers_have(now->replicas, now->nreplicas, pe->ip, pe->port)) {
            seen_add(seen, "it does not know replica %s:%d yet", pe->ip, pe->port);
            ok = false;
        }
    }
    for (size_t k = 0; k < now->nreplicas; k++) {
        const struct obs_sentinel_peer *pe = &now->replicas[k];
        if (pe->ip && !spec_shard_has(r->s, st->shard, pe->ip, pe->port)) {
            seen_add(seen, "it still lists %s:%d, which is not a member of %s", pe->ip, pe->port,
                     st->shard);
            ok = false;
        }
    }
    return ok;
}

/*
 * SENTINEL RESET <shard> on one sentinel (it forgets its replicas and the
 * other sentinels, stale entries included), then wait until it knows them
 * again, so that the next reset never leaves the quorum without knowledge.
 * Refuses to start while that sentinel sees another master or a failover.
 */
static int sentinel_reset(struct run *r, redisContext *c, const char *where,
                          const struct step *st, char **err)
{
    struct sview was = {0}, now = {0};
    struct strbuf seen = {0};
    int rc = -1;
    if (sview_read(c, where, st->shard, &was, err) < 0)
        goto out;
    if (!was.m) {
        *err = xasprintf("%s no longer monitors %s: re-run plan", where, st->shard);
        goto out;
    }
    if (was.m->port != st->master_port || !str_eq(was.m->ip, st->master_ip)) {
        *err = xasprintf("%s has %s:%d as master of %s, not the planned %s:%d: re-run plan",
                         where, was.m->ip ? was.m->ip : "?", was.m->port, st->shard,
                         st->master_ip ? st->master_ip : "?", st->master_port);
        goto out;
    }
    if (was.m->flags && (strstr(was.m->flags, "down") || strstr(was.m->flags, "failover"))) {
        *err = xasprintf("%s reports the master of %s as %s: not resetting it during a "
                         "failover; re-run plan when it settles",
                         where, st->shard, was.m->flags);
        goto out;
    }
    const char *argv[] = {"SENTINEL", "RESET", st->shard};
    if (rcmd_ok(c, where, "SENTINEL RESET", false, 3, argv, err) < 0)
        goto out;
    /* replicas come back with the master's INFO, every 10 s: allow a full period */
    long wait_ms = r->o.sentinel_timeout_ms > RESET_WAIT_MS ? r->o.sentinel_timeout_ms
                                                             : RESET_WAIT_MS;
    long long t0 = now_ms(), deadline = t0 + wait_ms;
    for (;;) {
        sb_release(&seen);
        sview_release(&now);
        char *e = NULL;
        if (sview_read(c, where, st->shard, &now, &e) < 0)
            seen_add(&seen, "%s", e);
        else if (sview_restored(r, st, &was, &now, &seen))
            break;
        free(e);
        if (now_ms() >= deadline) {
            *err = xasprintf("%s: after SENTINEL RESET %s it did not know the shard again within "
                             "%lld ms: %s",
                             where, st->shard, now_ms() - t0, sb_str(&seen));
            goto out;
        }
        sleep_ms(POLL_MS);
    }
    rc = 0;
out:
    sb_release(&seen);
    sview_release(&was);
    sview_release(&now);
    return rc;
}

static int do_sentinel(struct run *r, const struct step *st, char **err)
{
    if (!st->shard) {
        *err = xstrdup("the step names no shard");
        return -1;
    }
    redisContext *c = rconnect(r, st->ip, st->port, false, err);
    if (!c)
        return -1;
    char *where = xasprintf("sentinel %s:%d", st->ip, st->port);
    int rc = 0;
    switch (st->kind) {
    case STEP_SENTINEL_MONITOR: {
        const char *quorum = obs_kv_get(st->settings, st->nsettings, "quorum");
        char *port = xasprintf("%d", st->master_port);
        const char *argv[] = {"SENTINEL", "MONITOR", st->shard, st->master_ip ? st->master_ip : "",
                              port, quorum ? quorum : "1"};
        redisReply *rep = rclient_call(c, 6, argv, NULL);
        if (!rep) {
            *err = xasprintf("%s: SENTINEL MONITOR: %s", where, c->errstr);
            rc = -1;
        } else if (rep->type == REDIS_REPLY_ERROR) {
            /* already monitored: fine when it is the same master */
            if (rep->str && strstr(rep->str, "Duplicate")) {
                const char *q[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", st->shard};
                redisReply *a =
                    rcmd(c, where, "SENTINEL GET-MASTER-ADDR-BY-NAME", false, 3, q, err);
                if (!a) {
                    rc = -1;
                } else {
                    bool same = a->type == REDIS_REPLY_ARRAY && a->elements == 2 &&
                                a->element[0]->str && a->element[1]->str &&
                                str_eq(a->element[0]->str, st->master_ip) &&
                                str_eq(a->element[1]->str, port);
                    if (!same) {
                        *err = xasprintf("%s already monitors %s with another master; "
                                         "re-run plan",
                                         where, st->shard);
                        rc = -1;
                    }
                    rclient_reply_free(a);
                }
            } else {
                *err = xasprintf("%s: SENTINEL MONITOR %s: %s", where, st->shard,
                                 rep->str ? rep->str : "error");
                rc = -1;
            }
        }
        rclient_reply_free(rep);
        free(port);
        if (rc == 0)
            rc = sentinel_set(r, c, where, st, true, err);
        if (rc == 0 && r->password) {
            const char *argv2[] = {"SENTINEL", "SET", st->shard, "auth-pass", r->password};
            rc = rcmd_ok(c, where, "SENTINEL SET auth-pass", true, 5, argv2, err);
        }
        break;
    }
    case STEP_SENTINEL_SET:
        rc = sentinel_set(r, c, where, st, true, err);
        break;
    case STEP_SENTINEL_RESET:
        rc = sentinel_reset(r, c, where, st, err);
        break;
    case STEP_SENTINEL_REMOVE: {
        const char *argv[] = {"SENTINEL", "REMOVE", st->shard};
        redisReply *rep = rclient_call(c, 3, argv, NULL);
        if (!rep) {
            *err = xasprintf("%s: SENTINEL REMOVE: %s", where, c->errstr);
            rc = -1;
        } else if (rep->type == REDIS_REPLY_ERROR &&
                   !(rep->str && strstr(rep->str, "No such master"))) {
            *err = xasprintf("%s: SENTINEL REMOVE %s: %s", where, st->shard,
                             rep->str ? rep->str : "error");
            rc = -1;
        }
        rclient_reply_free(rep);
        break;
    }
    default:
        break;
    }
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
    char *text = conf_render_nutcracker(r->s, sp, r->p->masters, r->password);
    int rc = write_nutcracker_checked(r, h, sp, conf, text, r->password ? 0600 : 0640, err);
    instance_secret_free(text);
    free(conf);
    return rc;
}

/* Run one step. 0, or -1 and *err. *note may get a remark for the progress line. */
static int do_step(struct run *r, const struct step *st, const char **note, char **err)
{
    struct hostc *h = host_find(r, st->host);
    if (!h) {
        *err = xasprintf("no host '%s'", st->host ? st->host : "");
        return -1;
    }
    switch (st->kind) {
    case STEP_OBSERVED:
        return 0;
    case STEP_INSTALL_FILES:
        return do_install_files(r, h, st, err);
    case STEP_START:
        return start_instance(r, h, st, err);
    case STEP_STOP:
        return stop_instance(r, h, st->instance, st->ip, st->port, note, err);
    case STEP_REMOVE_FILES:
        return do_remove_files(r, h, st, err);
    case STEP_CONFIG_SET:
    case STEP_CONFIG_REWRITE:
    case STEP_REPLICAOF:
        return do_redis(r, st, err);
    case STEP_SENTINEL_MONITOR:
    case STEP_SENTINEL_SET:
    case STEP_SENTINEL_REMOVE:
    case STEP_SENTINEL_RESET:
        return do_sentinel(r, st, err);
    case STEP_PROXY_CONFIG:
        return do_proxy_config(r, h, st, err);
    case STEP_PROXY_RESTART:
        if (stop_instance(r, h, INSTANCE_PROXY, st->ip, st->port, NULL, err) < 0)
            return -1;
        return start_instance(r, h, st, err);
    }
    *err = xasprintf("unknown step kind %d", (int)st->kind);
    return -1;
}

/* ---- progress ------------------------------------------------------------ */

#define C_GREEN "\033[32m"
#define C_RED "\033[31m"
#define C_RESET "\033[0m"

/* "[3/12] + start 127.0.0.1:7001" (+ the shard for sentinel steps). Caller frees. */
static char *step_label(const struct run *r, size_t i)
{
    const struct step *st = &r->p->steps[i];
    bool shard = st->shard && (st->kind == STEP_SENTINEL_MONITOR ||
                               st->kind == STEP_SENTINEL_SET || st->kind == STEP_SENTINEL_REMOVE ||
                               st->kind == STEP_SENTINEL_RESET);
    return xasprintf("[%zu/%zu] %s %s %s%s%s", r->number[i], r->total,
                     step_action_symbol(st->action), step_kind_name(st->kind), st->target,
                     shard ? " " : "", shard ? st->shard : "");
}

/* Indent every line after the first of `msg` for the progress output. */
static void print_error_lines(FILE *out, const char *msg)
{
    fputs("      ", out);
    for (const char *p = msg; *p; p++) {
        fputc(*p, out);
        if (*p == '\n')
            fputs("      ", out);
    }
    fputc('\n', out);
}

static void print_result(const struct run *r, size_t i, bool ok, const char *note, long long ms,
                         const char *err)
{
    FILE *out = r->o.out;
    if (!out)
        return;
    if (!r->live) {
        char *label = step_label(r, i);
        fprintf(out, "%s ... ", label);
        free(label);
    }
    if (ok)
        fprintf(out, "%sdone%s (%s%s%lld ms)\n", r->o.color ? C_GREEN : "",
                r->o.color ? C_RESET : "", note ? note : "", note ? ", " : "", ms);
    else
        fprintf(out, "%sfailed%s (%lld ms)\n", r->o.color ? C_RED : "",
                r->o.color ? C_RESET : "", ms);
    if (!ok && err)
        print_error_lines(out, err);
    fflush(out);
}

/* ---- lanes and waves ------------------------------------------------------- */

struct lane {
    struct run *r;
    size_t *steps;
    size_t n, cap;
    pthread_t tid;
    bool threaded;
};

static void run_step(struct run *r, size_t i)
{
    const struct step *st = &r->p->steps[i];
    if (r->live && r->o.out) {
        pthread_mutex_lock(&r->lock);
        char *label = step_label(r, i);
        fprintf(r->o.out, "%s ... ", label);
        fflush(r->o.out);
        free(label);
        pthread_mutex_unlock(&r->lock);
    }
    long long t0 = now_ms();
    const char *note = NULL;
    char *err = NULL;
    int rc = do_step(r, st, &note, &err);
    long long ms = now_ms() - t0;
    pthread_mutex_lock(&r->lock);
    if (rc == 0) {
        r->state[i] = ST_DONE;
        free(err);
    } else {
        r->state[i] = ST_FAILED;
        r->error[i] = err ? err : xstrdup("failed");
        r->abort = true;
        /* a host that may not be the host it claims: fatal for the whole apply */
        if (host_key_failed(host_find(r, st->host)))
            r->host_key = true;
    }
    print_result(r, i, rc == 0, note, ms, r->error[i]);
    pthread_mutex_unlock(&r->lock);
}

static bool stop_requested(const struct run *r)
{
    return r->o.stop && *r->o.stop;
}

static void run_lane(struct lane *l)
{
    struct run *r = l->r;
    for (size_t k = 0; k < l->n; k++) {
        pthread_mutex_lock(&r->lock);
        bool stop = r->abort || stop_requested(r);
        pthread_mutex_unlock(&r->lock);
        if (stop)
            break;
        run_step(r, l->steps[k]);
    }
}

static void *lane_thread(void *arg)
{
    run_lane(arg);
    return NULL;
}

/* Run the steps of wave w. false when a step failed. */
static bool run_wave(struct run *r, enum step_wave w)
{
    const struct plan *p = r->p;
    size_t *lane_of = xcalloc(p->nsteps ? p->nsteps : 1, sizeof(*lane_of));
    size_t nlanes = apply_lanes(p, w, lane_of);
    if (nlanes == 0) {
        free(lane_of);
        return true;
    }
    struct lane *lanes = xcalloc(nlanes, sizeof(*lanes));
    size_t last = SIZE_MAX; /* a lane that must wait for all the others */
    for (size_t i = 0; i < p->nsteps; i++) {
        if (lane_of[i] == SIZE_MAX)
            continue;
        struct lane *l = &lanes[lane_of[i]];
        l->r = r;
        VEC_GROW(l->steps, l->n, l->cap);
        l->steps[l->n++] = i;
        /* in the clean-up, Sentinel forgets removed replicas only once they are stopped */
        if (w == WAVE_CLEANUP && p->steps[i].kind == STEP_SENTINEL_RESET)
            last = lane_of[i];
    }
    size_t nfirst = nlanes - (last != SIZE_MAX);
    r->live = nfirst == 1;
    if (nfirst == 1) {
        for (size_t k = 0; k < nlanes; k++)
            if (k != last)
                run_lane(&lanes[k]);
    } else {
        for (size_t k = 0; k < nlanes; k++)
            if (k != last)
                lanes[k].threaded =
                    pthread_create(&lanes[k].tid, NULL, lane_thread, &lanes[k]) == 0;
        /* out of threads: the rest run here, one after the other */
        for (size_t k = 0; k < nlanes; k++)
            if (k != last && !lanes[k].threaded)
                run_lane(&lanes[k]);
        for (size_t k = 0; k < nlanes; k++)
            if (lanes[k].threaded)
                pthread_join(lanes[k].tid, NULL);
    }
    if (last != SIZE_MAX) {
        r->live = true;
        run_lane(&lanes[last]); /* does nothing after a failure: r->abort */
    }
    for (size_t k = 0; k < nlanes; k++)
        free(lanes[k].steps);
    free(lanes);
    free(lane_of);
    return !r->abort;
}

/* ====================================================================
 * Health checks between waves
 * ==================================================================== */

/* Whether the plan could not observe this instance ("=" line that is not a master fact). */
static bool plan_unreachable(const struct run *r, enum instance_kind k, const char *ip, int port)
{
    for (size_t i = 0; i < r->p->nsteps; i++) {
        const struct step *st = &r->p->steps[i];
        if (st->kind != STEP_OBSERVED || st->instance != k || st->port != port ||
            !str_eq(st->ip, ip))
            continue;
        /* the "shard master is X" fact names a master, an unreachable line does not */
        if (k == INSTANCE_REDIS && st->master_ip)
            continue;
        return true;
    }
    return false;
}

/* Whether the plan has a step that changes things of kind k in waves up to `upto`. */
static bool plan_touches(const struct run *r, enum instance_kind k, enum step_wave from,
                         enum step_wave upto)
{
    for (size_t i = 0; i < r->p->nsteps; i++) {
        const struct step *st = &r->p->steps[i];
        if (!step_acts(st) || st->instance != k || st->wave < from || st->wave > upto)
            continue;
        if (st->kind == STEP_STOP || st->kind == STEP_REMOVE_FILES)
            continue;
        return true;
    }
    return false;
}

/*
 * A health check: `check` is called until it returns true or timeout_ms
 * passes; it leaves what it saw in *seen (freed between calls).
 */
typedef bool (*check_fn)(struct run *r, struct strbuf *seen);

static bool gate(struct run *r, const char *what, check_fn check, long timeout_ms, char **err)
{
    if (r->o.out) {
        fprintf(r->o.out, "check: %s ... ", what);
        fflush(r->o.out);
    }
    long long t0 = now_ms(), deadline = t0 + timeout_ms;
    struct strbuf seen = {0};
    bool ok;
    for (;;) {
        sb_release(&seen);
        ok = check(r, &seen);
        if (ok || now_ms() >= deadline)
            break;
        sleep_ms(POLL_MS);
    }
    long long ms = now_ms() - t0;
    if (r->o.out) {
        if (ok)
            fprintf(r->o.out, "%sok%s (%lld ms)\n", r->o.color ? C_GREEN : "",
                    r->o.color ? C_RESET : "", ms);
        else
            fprintf(r->o.out, "%sfailed%s (%lld ms)\n", r->o.color ? C_RED : "",
                    r->o.color ? C_RESET : "", ms);
        fflush(r->o.out);
    }
    if (!ok)
        *err = xasprintf("health check failed after %lld ms: %s: %s", ms, what, sb_str(&seen));
    sb_release(&seen);
    return ok;
}

static void seen_add(struct strbuf *seen, const char *fmt, ...) RMGR_PRINTF(2, 3);

static void seen_add(struct strbuf *seen, const char *fmt, ...)
{
    if (seen->len)
        sb_add(seen, "; ");
    va_list ap;
    va_start(ap, fmt);
    sb_vaddf(seen, fmt, ap);
    va_end(ap);
}

/* every instance started in WAVE_PROCESSES answers */
static bool check_started(struct run *r, struct strbuf *seen)
{
    bool ok = true;
    for (size_t i = 0; i < r->p->nsteps; i++) {
        const struct step *st = &r->p->steps[i];
        if (st->kind != STEP_START || st->wave != WAVE_PROCESSES || r->state[i] != ST_DONE)
            continue;
        char *why = NULL;
        if (!answers(r, st->ip, st->port, false, &why)) {
            seen_add(seen, "%s", why ? why : "no answer");
            ok = false;
        }
        free(why);
    }
    return ok;
}

/* every replica of every shard is linked to the planned master */
static bool check_replication(struct run *r, struct strbuf *seen)
{
    const struct spec *s = r->s;
    bool ok = true;
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_shard *sh = &s->shards[i];
        const struct spec_addr *M = &r->p->masters[i];
        if (plan_unreachable(r, INSTANCE_REDIS, M->ip, M->port))
            continue; /* the plan could not see the master: nothing to check against */
        for (size_t k = 0; k <= sh->nreplicas; k++) {
            const struct spec_addr *a = k == 0 ? &sh->master : &sh->replicas[k - 1];
            if ((a->port == M->port && str_eq(a->ip, M->ip)) ||
                plan_unreachable(r, INSTANCE_REDIS, a->ip, a->port))
                continue;
            char *err = NULL;
            redisContext *c = rconnect(r, a->ip, a->port, true, &err);
            if (!c) {
                seen_add(seen, "%s", err);
                free(err);
                ok = false;
                continue;
            }
            redisReply *rep = rclient_command(c, NULL, "INFO", "replication", NULL);
            if (!rep || rep->type != REDIS_REPLY_STRING) {
                seen_add(seen, "%s:%d: INFO: %s", a->ip, a->port,
                         rep && rep->str ? rep->str : c->errstr);
                ok = false;
            } else {
                char *role = redis_info_field(rep->str, "role");
                char *mh = redis_info_field(rep->str, "master_host");
                char *mp = redis_info_field(rep->str, "master_port");
                char *link = redis_info_field(rep->str, "master_link_status");
                long port = 0;
                bool follows = str_eq(role, "slave") && str_eq(mh, M->ip) && mp &&
                               parse_long(mp, 1, 65535, &port) && port == M->port;
                if (!follows) {
                    if (str_eq(role, "slave"))
                        seen_add(seen, "%s:%d replicates from %s:%s, not %s:%d", a->ip,
                                 a->port, mh ? mh : "?", mp ? mp : "?", M->ip, M->port);
                    else
                        seen_add(seen, "%s:%d is a %s, not a replica of %s:%d", a->ip, a->port,
                                 role ? role : "?", M->ip, M->port);
                    ok = false;
                } else if (!str_eq(link, "up")) {
                    seen_add(seen, "%s:%d link to %s:%d is %s", a->ip, a->port, M->ip, M->port,
                             link ? link : "unknown");
                    ok = false;
                }
                free(role);
                free(mh);
                free(mp);
                free(link);
            }
            rclient_reply_free(rep);
            rclient_close(c);
        }
    }
    return ok;
}

/* whether `peers` lists ip:port */
static bool peers_have(const struct obs_sentinel_peer *peers, size_t n, const char *ip, int port)
{
    for (size_t i = 0; i < n; i++)
        if (peers[i].port == port && str_eq(peers[i].ip, ip))
            return true;
    return false;
}

/*
 * Whether sentinel c (at a) lists, in SENTINEL REPLICAS, every replica of
 * shard i that runs: a failover can only promote a replica Sentinel knows.
 * Shards whose master the plan could not see (or left down) are skipped:
 * Sentinel learns replicas from the master's INFO.
 */
static bool sentinel_lists_replicas(struct run *r, redisContext *c, const struct spec_addr *a,
                                    size_t i, struct strbuf *seen)
{
    const struct spec_shard *sh = &r->s->shards[i];
    const struct spec_addr *M = &r->p->masters[i];
    if (plan_unreachable(r, INSTANCE_REDIS, M->ip, M->port))
        return true;
    struct obs_sentinel_peer *peers = NULL;
    size_t np = 0;
    char *err = NULL;
    redisReply *rep = rclient_command(c, NULL, "SENTINEL", "REPLICAS", sh->name, NULL);
    bool ok = true;
    if (!rep || redis_parse_sentinel_peers(rep, false, &peers, &np, &err) < 0) {
        seen_add(seen, "sentinel %s:%d: SENTINEL REPLICAS %s: %s", a->ip, a->port, sh->name,
                 err ? err : c->errstr);
        ok = false;
    }
    for (size_t k = 0; ok && k <= sh->nreplicas; k++) {
        const struct spec_addr *m = k == 0 ? &sh->master : &sh->replicas[k - 1];
        if ((m->port == M->port && str_eq(m->ip, M->ip)) ||
            plan_unreachable(r, INSTANCE_REDIS, m->ip, m->port) || !port_open(r, m->ip, m->port))
            continue;
        if (!peers_have(peers, np, m->ip, m->port)) {
            seen_add(seen,
                     "sentinel %s:%d does not list replica %s:%d of %s yet (Sentinel learns "
                     "replicas from the master's INFO every 10 s)",
                     a->ip, a->port, m->ip, m->port, sh->name);
            ok = false;
        }
    }
    free(err);
    obs_sentinel_peers_free(peers, np);
    rclient_reply_free(rep);
    return ok;
}

/*
 * every sentinel monitors every shard at the planned master, lists its
 * running replicas and knows the other sentinels
 */
static bool check_sentinels(struct run *r, struct strbuf *seen)
{
    const struct spec *s = r->s;
    const struct spec_sentinel *ss = &s->sentinel;
    bool ok = true;
    for (size_t j = 0; j < ss->nnodes; j++) {
        const struct spec_addr *a = &ss->nodes[j];
        if (plan_unreachable(r, INSTANCE_SENTINEL, a->ip, a->port))
            continue;
        char *err = NULL;
        redisContext *c = rconnect(r, a->ip, a->port, false, &err);
        if (!c) {
            seen_add(seen, "%s", err);
            free(err);
            ok = false;
            continue;
        }
        struct obs_sentinel_master *ms = NULL;
        size_t nms = 0;
        redisReply *rep = rclient_command(c, NULL, "SENTINEL", "MASTERS", NULL);
        if (!rep || redis_parse_sentinel_masters(rep, &ms, &nms, &err) < 0) {
            seen_add(seen, "sentinel %s:%d: SENTINEL MASTERS: %s", a->ip, a->port,
                     err ? err : c->errstr);
            free(err);
            err = NULL;
            ok = false;
        }
        rclient_reply_free(rep);
        for (size_t i = 0; ok && i < s->nshards; i++) {
            const char *name = s->shards[i].name;
            const struct spec_addr *M = &r->p->masters[i];
            const struct obs_sentinel_master *m = NULL;
            for (size_t k = 0; k < nms; k++)
                if (str_eq(ms[k].name, name))
                    m = &ms[k];
            if (!m) {
                seen_add(seen, "sentinel %s:%d does not monitor %s", a->ip, a->port, name);
                ok = false;
                continue;
            }
            if (m->port != M->port || !str_eq(m->ip, M->ip)) {
                seen_add(seen, "sentinel %s:%d has %s:%d as master of %s, not %s:%d", a->ip,
                         a->port, m->ip ? m->ip : "?", m->port, name, M->ip, M->port);
                ok = false;
                continue;
            }
            if (!sentinel_lists_replicas(r, c, a, i, seen))
                ok = false;
            rep = rclient_command(c, NULL, "SENTINEL", "SENTINELS", name, NULL);
            struct obs_sentinel_peer *peers = NULL;
            size_t np = 0;
            if (!rep || redis_parse_sentinel_peers(rep, true, &peers, &np, &err) < 0) {
                seen_add(seen, "sentinel %s:%d: SENTINEL SENTINELS %s: %s", a->ip, a->port,
                         name, err ? err : c->errstr);
                free(err);
                err = NULL;
                ok = false;
            } else {
                for (size_t o = 0; o < ss->nnodes; o++) {
                    const struct spec_addr *b = &ss->nodes[o];
                    if (o == j || plan_unreachable(r, INSTANCE_SENTINEL, b->ip, b->port))
                        continue;
                    if (!peers_have(peers, np, b->ip, b->port)) {
                        seen_add(seen, "sentinel %s:%d does not know sentinel %s:%d for %s yet",
                                 a->ip, a->port, b->ip, b->port, name);
                        ok = false;
                    }
                }
            }
            obs_sentinel_peers_free(peers, np);
            rclient_reply_free(rep);
        }
        obs_sentinel_masters_free(ms, nms);
        rclient_close(c);
    }
    return ok;
}

#define HEALTH_KEYS 64

/*
 * Health key n: distinct, fixed, and different in its first bytes, since
 * nutcracker 0.5.0's fnv1a_64 (32-bit, prime truncated to 435) puts keys
 * that differ only at the end ("rmgr:health:1", ":2" ...) on one server.
 */
static void health_key(char *buf, size_t size, int n)
{
    snprintf(buf, size, "%08x:rmgr:health:%d", ((unsigned)n + 1u) * 2654435761u, n);
}

/*
 * GET HEALTH_KEYS fixed keys through the proxy at ip:port (after AUTH when
 * the spec has a password): they hash onto the pool's servers, so a proxy
 * that cannot reach or authenticate to one of them answers an error for
 * some. Every reply must be nil or a value. false and *why otherwise.
 */
static bool proxy_round_trip(struct run *r, const char *ip, int port, char **why)
{
    redisContext *c = rconnect(r, ip, port, true, why);
    if (!c)
        return false;
    char key[64];
    for (int n = 0; n < HEALTH_KEYS; n++) {
        health_key(key, sizeof(key), n);
        rclient_append(c, 2, (const char *const[]){"GET", key});
    }
    bool ok = true;
    for (int n = 0; n < HEALTH_KEYS && ok; n++) {
        health_key(key, sizeof(key), n);
        redisReply *rep = rclient_get_reply(c, NULL);
        if (!rep) {
            *why = xasprintf("proxy %s:%d: GET %s: %s", ip, port, key,
                             c->errstr[0] ? c->errstr : "no reply");
            ok = false;
        } else if (rep->type != REDIS_REPLY_NIL && rep->type != REDIS_REPLY_STRING) {
            *why = xasprintf("proxy %s:%d: GET %s answered %s", ip, port, key,
                             rep->type == REDIS_REPLY_ERROR && rep->str ? rep->str
                                                                       : "something else");
            ok = false;
        }
        rclient_reply_free(rep);
    }
    rclient_close(c); /* replies still pending after a failure go with it */
    return ok;
}

/* whether the plan saw every shard master (none down, none unobservable) */
static bool plan_saw_every_master(const struct run *r)
{
    for (size_t i = 0; i < r->s->nshards; i++)
        if (plan_unreachable(r, INSTANCE_REDIS, r->p->masters[i].ip, r->p->masters[i].port))
            return false;
    return true;
}

/*
 * every proxy answers PING (after AUTH) on its listen port and, when every
 * shard master is up, serves GETs from its servers
 */
static bool check_proxies(struct run *r, struct strbuf *seen)
{
    bool ok = true, round_trip = plan_saw_every_master(r);
    for (size_t i = 0; i < r->s->nproxies; i++) {
        const struct spec_proxy *sp = &r->s->proxies[i];
        if (plan_unreachable(r, INSTANCE_PROXY, sp->host_ip, sp->listen.port))
            continue;
        char *why = NULL;
        if (!answers(r, sp->listen.ip, sp->listen.port, true, &why) ||
            (round_trip && !proxy_round_trip(r, sp->listen.ip, sp->listen.port, &why))) {
            seen_add(seen, "%s", why ? why : "no answer");
            ok = false;
        }
        free(why);
    }
    return ok;
}

/* Whether the plan changes replication: starts a replica or re-points one. */
static bool plan_changes_replication(const struct run *r)
{
    for (size_t i = 0; i < r->p->nsteps; i++) {
        const struct step *st = &r->p->steps[i];
        if (step_acts(st) && st->instance == INSTANCE_REDIS &&
            (st->kind == STEP_REPLICAOF || (st->kind == STEP_START && st->master_ip)))
            return true;
    }
    return false;
}

/* The health check after wave w, if the plan changed what it checks. */
static bool gate_after(struct run *r, enum step_wave w, char **err)
{
    switch (w) {
    case WAVE_PROCESSES:
        if (!plan_touches(r, INSTANCE_REDIS, WAVE_PROCESSES, WAVE_PROCESSES))
            return true;
        return gate(r, "every started redis answers", check_started, r->o.ready_timeout_ms, err);
    case WAVE_REPLICATION:
        if (!plan_touches(r, INSTANCE_REDIS, WAVE_FILES, WAVE_REPLICATION))
            return true;
        return gate(r, "every replica is linked to its master", check_replication,
                    r->o.repl_timeout_ms, err);
    case WAVE_SENTINELS: {
        /* a replica started or re-pointed must become a failover candidate too */
        if (!plan_touches(r, INSTANCE_SENTINEL, WAVE_SENTINELS, WAVE_SENTINELS) &&
            !plan_changes_replication(r))
            return true;
        /* Sentinel learns replicas from the master's INFO every 10 s */
        long timeout = r->o.sentinel_timeout_ms > SENTINEL_REPLICAS_WAIT_MS
                           ? r->o.sentinel_timeout_ms
                           : SENTINEL_REPLICAS_WAIT_MS;
        return gate(r,
                    "every sentinel monitors every shard, lists its replicas and knows the "
                    "other sentinels",
                    check_sentinels, timeout, err);
    }
    case WAVE_PROXIES:
        if (!plan_touches(r, INSTANCE_PROXY, WAVE_PROXIES, WAVE_PROXIES))
            return true;
        return gate(r,
                    plan_saw_every_master(r) ? "every proxy answers and reaches its servers"
                                             : "every proxy answers (a shard master is down: "
                                               "not reaching the servers)",
                    check_proxies, r->o.ready_timeout_ms, err);
    default:
        return true;
    }
}

/* ====================================================================
 * apply_run
 * ==================================================================== */

/* ---- before the first step: every host's transport ------------------------- */

struct preflight {
    struct run *r;
    struct hostc *h;
    pthread_t tid;
    bool threaded;
};

static void *preflight_thread(void *arg)
{
    struct preflight *pf = arg;
    char *e = NULL;
    host_transport(pf->r, pf->h, &e); /* failures stay in h->open_err */
    free(e);
    return NULL;
}

/* Whether the plan has a step that acts on host h. */
static bool host_acts(const struct run *r, const struct hostc *h)
{
    for (size_t i = 0; i < r->p->nsteps; i++)
        if (step_acts(&r->p->steps[i]) && str_eq(r->p->steps[i].host, h->name))
            return true;
    return false;
}

/*
 * Open the transport of every host a step acts on, in parallel, before
 * anything runs. Returns NULL, or (caller frees) the message when a host's
 * ssh key is not trusted: then nothing may run anywhere. A host that is
 * only down is left to its steps, which fail as they always did (and a
 * host with nothing to do is not contacted at all).
 */
static char *preflight_host_keys(struct run *r)
{
    struct preflight *pf = xcalloc(r->nhosts ? r->nhosts : 1, sizeof(*pf));
    size_t n = 0;
    for (size_t i = 0; i < r->nhosts; i++)
        if (host_acts(r, &r->hosts[i]))
            pf[n++] = (struct preflight){.r = r, .h = &r->hosts[i]};
    for (size_t i = 0; i < n; i++)
        pf[i].threaded = n > 1 && pthread_create(&pf[i].tid, NULL, preflight_thread, &pf[i]) == 0;
    for (size_t i = 0; i < n; i++)
        if (!pf[i].threaded)
            preflight_thread(&pf[i]);
    for (size_t i = 0; i < n; i++)
        if (pf[i].threaded)
            pthread_join(pf[i].tid, NULL);
    struct strbuf sb = {0};
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (pf[i].h->open_host_key) {
            sb_addf(&sb, "\n%s", pf[i].h->open_err);
            bad++;
        }
    free(pf);
    if (!bad)
        return NULL;
    char *msg = xasprintf("refusing to apply: the ssh host key of %zu host%s is not trusted; "
                          "nothing was changed on any host%s",
                          bad, bad == 1 ? "" : "s", sb_str(&sb));
    sb_release(&sb);
    return msg;
}

static char *cluster_root(const struct spec *s)
{
    const char *base = s->defaults.base_dir ? s->defaults.base_dir : "/";
    size_t n = strlen(base);
    return xasprintf("%s%s%s", base, n && base[n - 1] == '/' ? "" : "/", s->cluster);
}

static void options_defaults(struct apply_options *o)
{
    if (o->connect_timeout_ms <= 0)
        o->connect_timeout_ms = APPLY_DEFAULT_CONNECT_TIMEOUT_MS;
    if (o->command_timeout_ms <= 0)
        o->command_timeout_ms = APPLY_DEFAULT_COMMAND_TIMEOUT_MS;
    if (o->ready_timeout_ms <= 0)
        o->ready_timeout_ms = APPLY_DEFAULT_READY_TIMEOUT_MS;
    if (o->stop_timeout_ms <= 0)
        o->stop_timeout_ms = APPLY_DEFAULT_STOP_TIMEOUT_MS;
    if (o->repl_timeout_ms <= 0)
        o->repl_timeout_ms = APPLY_DEFAULT_REPL_TIMEOUT_MS;
    if (o->sentinel_timeout_ms <= 0)
        o->sentinel_timeout_ms = APPLY_DEFAULT_SENTINEL_TIMEOUT_MS;
}

/* The Redis client options and the instance policy from the run's options. */
static void run_clients(struct run *r)
{
    r->ro.connect_timeout_ms = r->o.connect_timeout_ms;
    r->ro.command_timeout_ms = r->o.command_timeout_ms;
    r->policy = instance_policy_default(r->o.stop_timeout_ms, r->o.connect_timeout_ms);
}

static void run_release(struct run *r)
{
    for (size_t i = 0; i < r->nhosts; i++) {
        transport_close(r->hosts[i].t);
        free(r->hosts[i].open_err);
        for (size_t k = 0; k < ARRAY_SIZE(r->hosts[i].bin); k++)
            free(r->hosts[i].bin[k]);
    }
    free(r->hosts);
    for (size_t i = 0; r->error && i < r->p->nsteps; i++)
        free(r->error[i]);
    free(r->error);
    free(r->state);
    free(r->number);
    free(r->cluster_root);
    pthread_mutex_destroy(&r->lock);
}

int apply_run(const struct spec *s, const struct plan *p, const char *password,
              const struct apply_options *o, struct apply_result *res)
{
    memset(res, 0, sizeof(*res));
    if (p->nrefusals) {
        res->error = xstrdup("the plan refuses: nothing was applied");
        return -1;
    }
    ignore_sigpipe();
    struct run r = {.s = s, .p = p, .password = password};
    if (o)
        r.o = *o;
    options_defaults(&r.o);
    run_clients(&r);
    pthread_mutex_init(&r.lock, NULL);
    r.cluster_root = cluster_root(s);
    size_t n = p->nsteps ? p->nsteps : 1, hcap = 0;
    r.number = xcalloc(n, sizeof(*r.number));
    r.state = xcalloc(n, sizeof(*r.state));
    r.error = xcalloc(n, sizeof(*r.error));
    for (size_t i = 0; i < p->nsteps; i++) {
        if (step_acts(&p->steps[i]))
            r.number[i] = ++r.total;
        host_add(&r, p->steps[i].host, &hcap);
    }

    static const char stopped[] = "stopped by a signal: the running steps finished, no other "
                                  "step was started; the next apply finishes the job";
    char *failure = preflight_host_keys(&r);
    for (int w = WAVE_FILES; w <= WAVE_CLEANUP && !failure; w++) {
        bool ran = run_wave(&r, (enum step_wave)w);
        if (ran && stop_requested(&r)) {
            bool pending = false;
            for (size_t i = 0; i < p->nsteps; i++)
                pending = pending || (r.number[i] && r.state[i] == ST_PENDING);
            if (pending)
                failure = xstrdup(stopped);
            break; /* every step ran: only the last health checks are skipped */
        }
        if (!ran) {
            for (size_t i = 0; i < p->nsteps && !failure; i++)
                if (r.state[i] == ST_FAILED &&
                    (!r.host_key || host_key_failed(host_find(&r, p->steps[i].host)))) {
                    char *label = step_label(&r, i);
                    failure = r.host_key
                                  ? xasprintf("the ssh host key of host '%s' is not trusted any "
                                              "more: no further step was started on any host\n"
                                              "%s: %s",
                                              p->steps[i].host, label, r.error[i])
                                  : xasprintf("%s: %s", label, r.error[i]);
                    free(label);
                }
            if (!failure)
                failure = xstrdup("a step failed");
            break;
        }
        char *err = NULL;
        if (!gate_after(&r, (enum step_wave)w, &err))
            failure = err ? err : xstrdup("health check failed");
    }

    struct strbuf pending = {0};
    for (size_t i = 0; i < p->nsteps; i++) {
        if (!r.number[i])
            continue;
        if (r.state[i] == ST_DONE) {
            res->done++;
        } else if (r.state[i] == ST_FAILED) {
            res->failed++;
        } else {
            res->not_run++;
            char *label = step_label(&r, i);
            sb_addf(&pending, "%s\n", label);
            free(label);
        }
    }
    res->not_run_list = pending.buf ? sb_detach(&pending) : NULL;
    res->error = failure;
    run_release(&r);
    return failure ? -1 : 0;
}

void apply_result_release(struct apply_result *r)
{
    if (!r)
        return;
    free(r->error);
    free(r->not_run_list);
    memset(r, 0, sizeof(*r));
}

/* ====================================================================
 * destroy (its plan: destroy_plan.c)
 * ==================================================================== */

int apply_remove_cluster_dirs(const struct spec *s, const struct apply_options *o, char **err)
{
    *err = NULL;
    struct run r = {.s = s};
    if (o)
        r.o = *o;
    options_defaults(&r.o);
    run_clients(&r);
    pthread_mutex_init(&r.lock, NULL);
    r.cluster_root = cluster_root(s);
    size_t hcap = 0;
    for (size_t i = 0; i < s->nproxies; i++)
        host_add(&r, s->proxies[i].host, &hcap);
    for (size_t j = 0; j < s->sentinel.nnodes; j++)
        host_add(&r, s->sentinel.nodes[j].host, &hcap);
    for (size_t i = 0; i < s->nshards; i++) {
        host_add(&r, s->shards[i].master.host, &hcap);
        for (size_t k = 0; k < s->shards[i].nreplicas; k++)
            host_add(&r, s->shards[i].replicas[k].host, &hcap);
    }
    int rc = 0;
    char *bin = xasprintf("%s/bin", r.cluster_root);
    for (size_t i = 0; i < r.nhosts && rc == 0; i++) {
        struct hostc *h = &r.hosts[i];
        if (s->defaults.binaries.ship) {
            const char *rm[] = {"rm", "-rf", "--", bin, NULL};
            rc = host_run(&r, h, rm, NULL, err);
        }
        if (rc == 0) {
            /* only when empty: anything else there is not ours to delete */
            const char *rmdir[] = {"rmdir", "--", r.cluster_root, NULL};
            char *e = NULL;
            if (host_run(&r, h, rmdir, NULL, &e) < 0 &&
                (!host_transport(&r, h, err) || host_key_failed(h))) {
                if (!*err) {
                    *err = e;
                    e = NULL;
                }
                rc = -1;
            }
            free(e);
        }
    }
    free(bin);
    run_release(&r);
    return rc;
}
