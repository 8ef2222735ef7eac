/*
 * repoint.c - the fast proxy repoint of reconcile --watch: every proxy of a
 * cluster rendered with the new shard masters, checked with `nutcracker -t`,
 * restarted and waited for, in parallel, under the cluster lock. See repoint.h.
 */
#include "repoint.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "conf.h"
#include "instance.h"
#include "lock.h"
#include "log.h"
#include "rclient.h"
#include "transport.h"
#include "util.h"

/* ---------------------------------------------------------------- checked configs */

struct repoint_checked {
    pthread_mutex_t mu;
    git_oid *ids;
    size_t n, cap;
};

#define MAX_CHECKED 4096 /* then start again: a bound, not a cache policy */

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_init_once(void)
{
    git_libgit2_init();
}

struct repoint_checked *repoint_checked_new(void)
{
    struct repoint_checked *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void repoint_checked_free(struct repoint_checked *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->ids);
    free(c);
}

/* The id of "bin NUL conf NUL text" (SHA-1 through libgit2); the text is wiped after. */
static git_oid checked_id(const char *bin, const char *conf, const char *text)
{
    struct strbuf sb = {0};
    sb_addn(&sb, bin, strlen(bin) + 1);
    sb_addn(&sb, conf, strlen(conf) + 1);
    sb_add(&sb, text);
    git_oid id;
    pthread_once(&git_once, git_init_once);
    if (git_odb_hash(&id, sb.buf, sb.len, GIT_OBJECT_BLOB) != 0)
        memset(&id, 0, sizeof(id)); /* cannot happen in memory; never found, see below */
    explicit_bzero(sb.buf, sb.len);
    sb_release(&sb);
    return id;
}

static bool checked_has(struct repoint_checked *c, const git_oid *id)
{
    if (!c || git_oid_is_zero(id))
        return false;
    pthread_mutex_lock(&c->mu);
    bool found = false;
    for (size_t i = 0; i < c->n && !found; i++)
        found = git_oid_equal(&c->ids[i], id);
    pthread_mutex_unlock(&c->mu);
    return found;
}

static void checked_add(struct repoint_checked *c, const git_oid *id)
{
    if (!c || git_oid_is_zero(id) || checked_has(c, id))
        return;
    pthread_mutex_lock(&c->mu);
    if (c->n >= MAX_CHECKED)
        c->n = 0;
    VEC_GROW(c->ids, c->n, c->cap);
    c->ids[c->n++] = *id;
    pthread_mutex_unlock(&c->mu);
}

/* ---------------------------------------------------------------- sessions */

struct session_slot {
    char *host;
    struct transport *t;     /* NULL: not open (yet, or since it broke) */
    unsigned long gen;       /* the pool's generation when t was opened */
    pthread_mutex_t use;     /* held by the one thread using t */
    struct session_slot *next;
};

struct repoint_sessions {
    pthread_mutex_t mu;      /* the list and gen only, never held across I/O */
    unsigned long gen;
    struct session_slot *slots;
};

struct repoint_sessions *repoint_sessions_new(void)
{
    struct repoint_sessions *ss = xcalloc(1, sizeof(*ss));
    pthread_mutex_init(&ss->mu, NULL);
    return ss;
}

void repoint_sessions_reset(struct repoint_sessions *ss)
{
    if (!ss)
        return;
    pthread_mutex_lock(&ss->mu);
    ss->gen++;
    pthread_mutex_unlock(&ss->mu);
}

void repoint_sessions_free(struct repoint_sessions *ss)
{
    if (!ss)
        return;
    for (struct session_slot *sl = ss->slots, *next; sl; sl = next) {
        next = sl->next;
        transport_close(sl->t);
        pthread_mutex_destroy(&sl->use);
        free(sl->host);
        free(sl);
    }
    pthread_mutex_destroy(&ss->mu);
    free(ss);
}

/* A transport to one host, from the pool (o->sessions) or opened for this use. */
struct session_use {
    struct session_slot *slot; /* NULL: not pooled, closed by session_put */
    struct transport *t;
    bool reused;               /* opened by an earlier use: it may have broken since */
};

static bool session_get(const struct spec *s, const char *host, const struct repoint_options *o,
                        struct session_use *u, char **err)
{
    *u = (struct session_use){0};
    struct transport_options to = {.connect_timeout_ms = o->connect_timeout_ms,
                                   .command_timeout_ms = 30000,
                                   .keep_shell = true};
    struct repoint_sessions *ss = o->sessions;
    if (!ss) {
        u->t = transport_open(s, host, &to, err);
        return u->t != NULL;
    }
    pthread_mutex_lock(&ss->mu);
    struct session_slot *sl = ss->slots;
    while (sl && !str_eq(sl->host, host))
        sl = sl->next;
    if (!sl) {
        sl = xcalloc(1, sizeof(*sl));
        sl->host = xstrdup(host);
        pthread_mutex_init(&sl->use, NULL);
        sl->next = ss->slots;
        ss->slots = sl;
    }
    unsigned long gen = ss->gen;
    pthread_mutex_unlock(&ss->mu);
    pthread_mutex_lock(&sl->use);
    if (sl->t && (sl->gen != gen || transport_host_key_failed(sl->t))) {
        transport_close(sl->t); /* opened with another spec, or its key failed: ask again */
        sl->t = NULL;
    }
    u->reused = sl->t != NULL;
    if (!sl->t) {
        sl->t = transport_open(s, host, &to, err);
        sl->gen = gen;
    }
    if (!sl->t) {
        pthread_mutex_unlock(&sl->use);
        return false;
    }
    u->slot = sl;
    u->t = sl->t;
    return true;
}

/* Give the transport back; `broken`: close it, so the next use opens a new session. */
static void session_put(struct session_use *u, bool broken)
{
    if (!u->slot) {
        transport_close(u->t);
    } else {
        if (broken) {
            transport_close(u->slot->t);
            u->slot->t = NULL;
        }
        pthread_mutex_unlock(&u->slot->use);
    }
    *u = (struct session_use){0};
}

/* ---------------------------------------------------------------- the repoint */

/* Split "ip:port" (the last colon) into a spec_addr; false on junk. */
static bool parse_hostport(const char *s, struct spec_addr *out)
{
    const char *colon = s ? strrchr(s, ':') : NULL;
    long port;
    if (!colon || colon == s || !parse_long(colon + 1, 1, 65535, &port))
        return false;
    out->ip = xstrndup(s, (size_t)(colon - s));
    out->host = xstrdup(out->ip);
    out->port = (int)port;
    return true;
}

/*
 * Ask the cluster's sentinels for a shard's master (the first that answers),
 * with AUTH when the spec has a password (a sentinel without one is fine).
 */
static char *ask_sentinels(const struct spec *s, const char *password, const char *shard,
                           long timeout_ms)
{
    struct rclient_opts o = {.connect_timeout_ms = timeout_ms, .command_timeout_ms = timeout_ms};
    for (size_t i = 0; i < s->sentinel.nnodes; i++) {
        struct rclient_err e;
        redisContext *c =
            rclient_connect(s->sentinel.nodes[i].ip, s->sentinel.nodes[i].port, &o, password, &e);
        if (!c)
            continue;
        redisReply *r =
            rclient_command(c, NULL, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", shard, NULL);
        char *addr = NULL;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING)
            addr = xasprintf("%s:%s", r->element[0]->str, r->element[1]->str);
        rclient_reply_free(r);
        rclient_close(c);
        if (addr)
            return addr;
    }
    return NULL;
}

static struct instance_policy proxy_policy(const struct spec *s, const struct spec_proxy *p,
                                           long connect_timeout_ms);

struct repoint_arg {
    const struct repoint_options *o;
    const struct spec *spec;
    const struct spec_proxy *proxy;
    const struct spec_addr *masters;
    const char *password;
    char *error; /* out */
};

/*
 * Render, check and install, restart and wait for one proxy, with the
 * instance controller's fast policy: on this machine signals and /proc go
 * without a fork, and the polls are sub-millisecond. 0, or -1 with a->error.
 */
static int repoint_proxy_on(struct repoint_arg *a, struct transport *t, char **errp)
{
    const struct spec *s = a->spec;
    const struct spec_proxy *p = a->proxy;
    int port = p->listen.port;
    char *err = NULL;
    struct instance_policy pol = proxy_policy(s, p, a->o->connect_timeout_ms);
    char *text = conf_render_nutcracker(s, p, a->masters, a->password);
    char *conf = conf_path(s, "proxy", port);
    char *logfile = conf_logfile_path(s, "proxy", port);
    char *bin = instance_binary_path(s, INSTANCE_PROXY);
    char *who = xasprintf("proxy %s:%d", p->listen.ip, port);
    int rc = -1;
    int mode = a->password ? 0600 : 0640;
    long long t0 = now_us(), t_installed = 0, t_stopped = 0, t_started = 0;
    git_oid id = checked_id(bin, conf, text);
    bool prechecked = checked_has(a->o->checked, &id);
    if (prechecked) {
        /* this very text passed nutcracker -t ahead (repoint_precheck) */
        if (transport_write_file(t, conf, text, strlen(text), mode, &err) < 0)
            goto out;
    } else {
        if (instance_install_checked(t, &pol, bin, conf, text, mode, who, &err) < 0)
            goto out;
        checked_add(a->o->checked, &id);
    }
    t_installed = now_us();
    if (instance_stop(t, &pol, s, INSTANCE_PROXY, p->host_ip, port, NULL, &err) < 0)
        goto out;
    t_stopped = now_us();
    /*
     * The command line apply uses, so pid checks and later applies agree, and
     * its umask: a daemon that holds the password (redis_auth) runs under 077.
     */
    struct step st = {.kind = STEP_START, .instance = INSTANCE_PROXY, .ip = p->host_ip,
                      .port = port};
    if (instance_start(t, s, &st, bin, "077", &err) < 0)
        goto out;
    t_started = now_us();
    /* a wildcard listen address is reached through the host's own address */
    const char *ip = str_eq(p->listen.ip, "0.0.0.0") || str_eq(p->listen.ip, "::")
                         ? p->host_ip
                         : p->listen.ip;
    struct rclient_opts ro = {.connect_timeout_ms = 200, .command_timeout_ms = 200};
    pol.poll_us = 250;
    char *why = NULL;
    if (!instance_wait_answers(ip, port, &ro, a->password, &pol, a->o->ready_timeout_ms,
                               &why)) {
        err = xasprintf("nutcracker did not answer within %ld ms (see '%s'): %s",
                        a->o->ready_timeout_ms, logfile, why ? why : "no answer");
        free(why);
        goto out;
    }
    free(why);
    rc = 0;
    /* where a repoint's time goes, for the bench and for a slow proxy host */
    log_event(LOG_DEBUG, "repoint-steps", s->cluster, a->o->commit, NULL, 0,
              "%s: install %.2f ms (%s), stop %.2f ms, start %.2f ms, answering %.2f ms", who,
              (double)(t_installed - t0) / 1000.0, prechecked ? "checked ahead" : "checked now",
              (double)(t_stopped - t_installed) / 1000.0,
              (double)(t_started - t_stopped) / 1000.0, (double)(now_us() - t_started) / 1000.0);
out:
    if (rc < 0) {
        size_t n = err ? strcspn(err, "\n") : 0;
        *errp = xasprintf("%s: %.*s", who, (int)n, err ? err : "failed");
    }
    free(err);
    secret_free(text); /* it holds the password */
    free(conf);
    free(logfile);
    free(bin);
    free(who);
    return rc;
}

/*
 * Repoint one proxy on its host's pooled session. A session kept open since
 * an earlier repoint may have broken meanwhile (sshd restarted, the host
 * rebooted): then once more on a new one. Every step is safe to repeat.
 */
static int repoint_proxy(struct repoint_arg *a)
{
    const struct spec_proxy *p = a->proxy;
    for (int attempt = 0;; attempt++) {
        struct session_use u;
        char *err = NULL;
        if (!session_get(a->spec, p->host, a->o, &u, &err)) {
            free(a->error);
            a->error = xasprintf("proxy %s:%d: %s", p->listen.ip, p->listen.port,
                                 err ? err : "no transport");
            free(err);
            return -1;
        }
        bool reused = u.reused;
        int rc = repoint_proxy_on(a, u.t, &err);
        bool key_failed = transport_host_key_failed(u.t);
        session_put(&u, rc < 0);
        if (rc == 0 || !reused || key_failed || attempt > 0) {
            free(a->error);
            a->error = err;
            return rc;
        }
        log_event(LOG_DEBUG, "repoint-retry", a->spec->cluster, a->o->commit, NULL, 0,
                  "%s; again on a new session", err);
        free(err);
    }
}

static void *repoint_thread(void *arg)
{
    repoint_proxy(arg);
    return NULL;
}

static char *lock_path_for(const struct repoint_options *o, const char *cluster)
{
    if (o->lock_dir)
        return xasprintf("%s/%s.lock", o->lock_dir, cluster);
    return lock_default_path(cluster);
}

int repoint_proxies(const struct spec *s, const char *password, char *const *given,
                    size_t ngiven, const struct repoint_options *o, char **err)
{
    struct spec_addr *masters = xcalloc(s->nshards + 1, sizeof(*masters));
    int rc = -1;
    for (size_t i = 0; i < s->nshards; i++) {
        char *asked = NULL;
        const char *m = i < ngiven ? given[i] : NULL;
        if (!m)
            m = asked = ask_sentinels(s, password, s->shards[i].name, o->connect_timeout_ms);
        bool ok = m && parse_hostport(m, &masters[i]);
        free(asked);
        if (!ok) {
            *err = xasprintf("the master of shard '%s' is not known: leaving the proxies to "
                             "the next full reconcile", s->shards[i].name);
            goto out;
        }
    }
    char *lockpath = o->lock_held ? NULL : lock_path_for(o, s->cluster);
    char *lerr = NULL;
    struct cluster_lock *lk = o->lock_held ? NULL : lock_acquire(lockpath, 0, &lerr);
    if (!lk && !o->lock_held) {
        log_event(LOG_WARN, "repoint-wait", s->cluster, o->commit, NULL, 0,
                  "waiting for the cluster lock: %s", lerr ? lerr : "");
        free(lerr);
        lerr = NULL;
        lk = lock_acquire(lockpath, o->lock_timeout_ms, &lerr);
    }
    free(lockpath);
    if (!lk && !o->lock_held) {
        *err = lerr;
        goto out;
    }
    size_t n = s->nproxies;
    struct repoint_arg *args = xcalloc(n + 1, sizeof(*args));
    pthread_t *tids = xcalloc(n + 1, sizeof(*tids));
    bool *started = xcalloc(n + 1, sizeof(*started));
    for (size_t i = 0; i < n; i++) {
        args[i] = (struct repoint_arg){o, s, &s->proxies[i], masters, password, NULL};
        if (i + 1 < n)
            started[i] = pthread_create(&tids[i], NULL, repoint_thread, &args[i]) == 0;
        if (!started[i])
            repoint_proxy(&args[i]); /* the last one (or one without a thread) here */
    }
    struct strbuf sb = {0};
    for (size_t i = 0; i < n; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        if (args[i].error) {
            sb_addf(&sb, "%s%s", sb.len ? "; " : "", args[i].error);
            free(args[i].error);
        }
    }
    lock_release(lk);
    free(args);
    free(tids);
    free(started);
    if (sb.len) {
        *err = sb_detach(&sb);
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < s->nshards; i++) {
        free(masters[i].ip);
        free(masters[i].host);
    }
    free(masters);
    return rc;
}


/* The policy of repoint_proxy for the host of proxy p. */
static struct instance_policy proxy_policy(const struct spec *s, const struct spec_proxy *p,
                                           long connect_timeout_ms)
{
    bool local = spec_host_transport(s, p->host) == TRANSPORT_LOCAL;
    struct instance_policy pol = instance_policy_default(5000, connect_timeout_ms);
    pol.direct = local;
    pol.poll_us = local ? 200 : 2000; /* a poll over a kept session is one SFTP round trip */
    pol.kill_timeout_ms = 2000;
    return pol;
}

/*
 * Check the config of proxy p with masters `m` on t at <conf>.precheck and
 * remember it when nutcracker -t accepts it. Nothing is reported: a config
 * not checked here is checked at repoint time.
 */
static void precheck_one(struct transport *t, const struct instance_policy *pol,
                         const struct spec *s, const struct spec_proxy *p,
                         const struct spec_addr *m, const char *password,
                         struct repoint_checked *checked)
{
    char *text = conf_render_nutcracker(s, p, m, password);
    char *conf = conf_path(s, "proxy", p->listen.port);
    char *bin = instance_binary_path(s, INSTANCE_PROXY);
    git_oid id = checked_id(bin, conf, text);
    if (!checked_has(checked, &id)) {
        char *scratch = xasprintf("%s.precheck", conf);
        char *e = NULL;
        const char *check[] = {bin, "-t", "-c", scratch, NULL};
        const char *rm[] = {"rm", "-f", "--", scratch, NULL};
        if (transport_write_file(t, scratch, text, strlen(text), password ? 0600 : 0640, &e) ==
                0 &&
            instance_run(t, check, NULL, NULL, &e) == 0)
            checked_add(checked, &id);
        free(e);
        e = NULL;
        if (pol->direct ? unlink(scratch) < 0 && errno != ENOENT
                        : instance_run(t, rm, NULL, NULL, &e) < 0)
            log_event(LOG_DEBUG, "precheck", s->cluster, NULL, NULL, 0,
                      "cannot remove '%s'", scratch);
        free(e);
        free(scratch);
    }
    secret_free(text);
    free(conf);
    free(bin);
}

void repoint_precheck(const struct spec *s, const char *password, char *const *current,
                      size_t n, const struct repoint_options *o, bool (*stop)(void *),
                      void *arg)
{
    if (!o->checked || n != s->nshards)
        return;
    struct spec_addr *m = xcalloc(n + 1, sizeof(*m));
    bool known = true;
    for (size_t i = 0; i < n; i++)
        known = known && current[i] && parse_hostport(current[i], &m[i]);
    for (size_t k = 0; known && k < s->nproxies; k++) {
        const struct spec_proxy *p = &s->proxies[k];
        struct session_use u;
        char *err = NULL;
        bool open = session_get(s, p->host, o, &u, &err);
        free(err);
        if (!open)
            continue;
        struct transport *t = u.t;
        struct instance_policy pol = proxy_policy(s, p, o->connect_timeout_ms);
        for (size_t i = 0; i < n && !(stop && stop(arg)); i++) {
            const struct spec_shard *sh = &s->shards[i];
            struct spec_addr keep = m[i];
            for (size_t r = 0; r <= sh->nreplicas && !(stop && stop(arg)); r++) {
                const struct spec_addr *cand = r == 0 ? &sh->master : &sh->replicas[r - 1];
                char *hp = xasprintf("%s:%d", cand->ip, cand->port);
                if (!str_eq(hp, current[i]) && parse_hostport(hp, &m[i])) {
                    precheck_one(t, &pol, s, p, m, password, o->checked);
                    free(m[i].ip);
                    free(m[i].host);
                }
                m[i] = keep;
                free(hp);
            }
        }
        session_put(&u, false); /* a broken session is dropped by the transport itself */
    }
    for (size_t i = 0; i < n; i++) {
        free(m[i].ip);
        free(m[i].host);
    }
    free(m);
}
