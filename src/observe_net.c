/*
 * observe_net.c - talk to every Redis, Sentinel and proxy address of an
 * observation at once, on one thread: one poll loop over non-blocking
 * connections (rclient_nb_*), each with its own deadline.
 *
 * Per address everything is queued at once and goes out pipelined with the
 * connect: a redis-server gets AUTH (with a password), the INFO sections
 * the planner reads and a CONFIG GET per managed directive; a sentinel gets
 * AUTH (with a password; a sentinel without one tolerates it), INFO server
 * and SENTINEL MASTERS, then REPLICAS and SENTINELS of every master in a
 * second pipeline. A nutcracker stats port sends one JSON document and
 * closes. Replies are taken in order; each connection keeps the list of
 * what it asked, so an error reply is told to the right record.
 *
 * Each connection writes only its own record; the files threads of
 * observe.c write only the files fields, so no locking is needed.
 */
#include "observe_impl.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "rclient.h"
#include "redis_parse.h"
#include "util.h"

#define MAX_STATS_SIZE (4 * 1024 * 1024)
#define FD_RESERVE 64 /* descriptors left for transports, files and logs */

/* What a queued command asks: the kind of reply and, for some, an index. */
enum ask {
    ASK_INFO,      /* redis: the INFO sections the planner reads */
    ASK_INFO_ALL,  /* redis: plain INFO, for a server older than 7.0 */
    ASK_CONFIG,    /* redis: CONFIG GET of keys[arg] */
    ASK_SINFO,     /* sentinel: INFO server */
    ASK_MASTERS,   /* sentinel: SENTINEL MASTERS */
    ASK_REPLICAS,  /* sentinel: SENTINEL REPLICAS of masters[arg] */
    ASK_SLAVES,    /* the same before Redis 5 */
    ASK_SENTINELS, /* sentinel: SENTINEL SENTINELS of masters[arg] */
    ASK_SLOWLOG_LEN, /* redis, for alert rules: SLOWLOG LEN */
    ASK_SLOWLOG_GET, /* redis, for alert rules: SLOWLOG GET 1 */
    ASK_SPASS,     /* sentinel: SENTINEL CONFIG GET sentinel-pass (with auth:) */
};

struct asked {
    enum ask what;
    size_t arg;
};

struct conn {
    enum net_kind kind;
    size_t index;       /* into obs->redis / sentinels / proxies */
    struct rclient_nb nb;
    struct asked *asked; /* queue of what the replies answer, from `head` */
    size_t head, nasked, cap;
    bool info_retry;    /* redis: INFO with sections was refused, plain INFO asked */
    /* proxy: a plain socket */
    int fd;
    bool connecting;
    long long deadline_ms;
    struct strbuf stats;
};

/* ------------------------------------------------------------- records */

static void set_reach(enum reach *reach, char **detail, enum reach r, const char *text)
{
    *reach = r;
    free(*detail);
    *detail = xstrdup(text);
}

/*
 * Record a failure the client described: a timeout as "connect timed out"
 * or "command timed out", an error reply to `what` as "what: reply" (NOAUTH
 * and the like as "authentication failed"), AUTH's own texts as they are.
 */
static void set_reach_from(enum reach *reach, char **detail, const struct rclient_err *e,
                           const char *what)
{
    if (e->io && e->reach == REACH_TIMEOUT) {
        set_reach(reach, detail, e->reach,
                  e->phase == RCLIENT_CONNECT ? "connect timed out" : "command timed out");
    } else if (e->io || e->phase == RCLIENT_AUTH) {
        set_reach(reach, detail, e->reach, e->text);
    } else if (e->reach == REACH_AUTH) {
        set_reach(reach, detail, REACH_AUTH, "authentication failed");
    } else {
        char *d = xasprintf("%s: %s", what, e->text[0] ? e->text : "error");
        set_reach(reach, detail, e->reach, d);
        free(d);
    }
}

/* The record's reach and detail, whichever kind the connection is for. */
static void conn_reach(const struct net_ctx *x, const struct conn *cn, enum reach **reach,
                       char ***detail)
{
    struct observed *o = x->obs;
    if (cn->kind == NET_REDIS) {
        *reach = &o->redis[cn->index].reach;
        *detail = &o->redis[cn->index].reach_detail;
    } else if (cn->kind == NET_SENTINEL) {
        *reach = &o->sentinels[cn->index].reach;
        *detail = &o->sentinels[cn->index].reach_detail;
    } else {
        *reach = &o->proxies[cn->index].reach;
        *detail = &o->proxies[cn->index].reach_detail;
    }
}

static void conn_set_reach(const struct net_ctx *x, const struct conn *cn, enum reach r,
                           const char *text)
{
    enum reach *reach;
    char **detail;
    conn_reach(x, cn, &reach, &detail);
    set_reach(reach, detail, r, text);
}

/* ---------------------------------------------------------- commands */

static void ask(struct conn *cn, enum ask what, size_t arg, int argc, const char *const *argv)
{
    VEC_GROW(cn->asked, cn->nasked, cn->cap);
    cn->asked[cn->nasked++] = (struct asked){what, arg};
    rclient_nb_append(&cn->nb, argc, argv);
}

/* What the reply no one got would have answered, as a failure names it. */
static const char *asked_name(enum ask what)
{
    switch (what) {
    case ASK_INFO:
    case ASK_INFO_ALL:
    case ASK_SINFO: return "INFO";
    case ASK_CONFIG: return "CONFIG GET";
    case ASK_MASTERS: return "SENTINEL MASTERS";
    case ASK_REPLICAS:
    case ASK_SLAVES:
    case ASK_SENTINELS: return "SENTINEL";
    case ASK_SLOWLOG_LEN:
    case ASK_SLOWLOG_GET: return "SLOWLOG";
    case ASK_SPASS: return "SENTINEL CONFIG GET";
    }
    return "command";
}

/* Stop talking on cn (what is still owed is not wanted any more). */
static void conn_stop(struct conn *cn)
{
    rclient_nb_close(&cn->nb);
}

/* ---------------------------------------------------------------- Redis */

static void redis_queue(const struct net_ctx *x, struct conn *cn)
{
    static const char *const info[] = {"INFO", "server", "replication", "persistence",
                                       "keyspace"};
    /* alert rules read fields of the other default sections too */
    static const char *const info_alerts[] = {"INFO",  "server", "replication", "persistence",
                                              "keyspace", "clients", "memory", "stats", "cpu"};
    if (x->ninfo_fields)
        ask(cn, ASK_INFO, 0, ARRAY_SIZE(info_alerts), info_alerts);
    else
        ask(cn, ASK_INFO, 0, ARRAY_SIZE(info), info);
    for (size_t k = 0; k < x->nconfig_keys; k++)
        ask(cn, ASK_CONFIG, k, 3, (const char *const[]){"CONFIG", "GET", x->config_keys[k]});
    if (x->slowlog) {
        ask(cn, ASK_SLOWLOG_LEN, 0, 2, (const char *const[]){"SLOWLOG", "LEN"});
        ask(cn, ASK_SLOWLOG_GET, 0, 3, (const char *const[]){"SLOWLOG", "GET", "1"});
    }
}

/*
 * SLOWLOG LEN, then SLOWLOG GET 1: an error (an ACL that forbids it) leaves
 * slowlog_checked false, which the alert rules read as "unknown".
 */
static void redis_slowlog(const struct net_ctx *x, struct conn *cn, enum ask what,
                          const redisReply *rep)
{
    struct obs_redis *r = &x->obs->redis[cn->index];
    if (what == ASK_SLOWLOG_LEN) {
        r->slowlog_len = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
        return;
    }
    long long id;
    if (r->slowlog_len >= 0 && redis_parse_slowlog_get(rep, &id) == 0) {
        r->slowlog_last_id = id;
        r->slowlog_checked = true;
    }
}

/* An INFO reply: reach OK with its fields, or the reason it is not one. */
static void redis_info(const struct net_ctx *x, struct conn *cn, const redisReply *rep)
{
    char *why = NULL;
    struct obs_redis *r = &x->obs->redis[cn->index];
    struct rclient_err e;
    if (rclient_reply_error(rep, false, &e)) {
        if (e.reach != REACH_AUTH && !cn->info_retry) {
            /* before 7.0 INFO takes one section: ask for all of them */
            cn->info_retry = true;
            ask(cn, ASK_INFO_ALL, 0, 1, (const char *const[]){"INFO"});
            return;
        }
        set_reach_from(&r->reach, &r->reach_detail, &e, "INFO");
    } else if (rep->type != REDIS_REPLY_STRING || redis_parse_info(rep->str, r, &why) < 0) {
        set_reach(&r->reach, &r->reach_detail, REACH_ERROR,
                  why ? why : "INFO is not a string: not a redis server");
        free(why);
    } else {
        r->reach = REACH_OK;
        if (x->ninfo_fields)
            r->ninfo_num = redis_parse_info_numbers(rep->str, x->info_fields, x->ninfo_fields,
                                                    &r->info_num);
        return;
    }
    /* as if CONFIG GET had never been asked */
    obs_kv_free_array(r->config, r->nconfig);
    r->config = NULL;
    r->nconfig = 0;
    conn_stop(cn);
}

/* CONFIG GET of one managed directive. Unknown ones are left out. */
static void redis_config(const struct net_ctx *x, struct conn *cn, size_t k,
                         const redisReply *rep)
{
    struct obs_redis *r = &x->obs->redis[cn->index];
    const char *key = x->config_keys[k];
    if (!r->config)
        r->config = xcalloc(x->nconfig_keys ? x->nconfig_keys : 1, sizeof(*r->config));
    char *value = NULL, *err = NULL;
    int rc = redis_parse_config_get(rep, &value, &err);
    if (rc == 0) {
        struct obs_kv *kv = &r->config[r->nconfig++];
        kv->key = xstrdup(key);
        if (redis_is_secret_directive(key)) {
            kv->value = xstrdup(obs_mask_secret(value, x->opts->password));
            free(value);
        } else {
            kv->value = value;
        }
    } else if (rc < 0 && rep->type == REDIS_REPLY_ERROR && redis_error_is_auth(rep->str)) {
        set_reach(&r->reach, &r->reach_detail, REACH_AUTH, "authentication failed");
    }
    free(err);
}

/* ------------------------------------------------------------- Sentinel */

static void sentinel_queue(const struct net_ctx *x, struct conn *cn)
{
    /* what it uses to reach its peers (Sentinel 6.2 and later) */
    if (x->opts->password)
        ask(cn, ASK_SPASS, 0, 4,
            (const char *const[]){"SENTINEL", "CONFIG", "GET", "sentinel-pass"});
    ask(cn, ASK_SINFO, 0, 2, (const char *const[]){"INFO", "server"});
    ask(cn, ASK_MASTERS, 0, 2, (const char *const[]){"SENTINEL", "MASTERS"});
}

/* A failure of the whole sentinel: say it and stop. */
static void sentinel_failed(struct obs_sentinel *s, struct conn *cn, const char *what,
                            const char *name, const char *err)
{
    char *d = name ? xasprintf("%s %s: %s", what, name, err) : xasprintf("%s: %s", what, err);
    set_reach(&s->reach, &s->reach_detail, REACH_ERROR, d);
    free(d);
    conn_stop(cn);
}

static void sentinel_masters(struct obs_sentinel *s, struct conn *cn, const redisReply *rep)
{
    struct rclient_err e;
    if (rclient_reply_error(rep, false, &e)) {
        set_reach_from(&s->reach, &s->reach_detail, &e, "SENTINEL MASTERS");
        conn_stop(cn);
        return;
    }
    char *err = NULL;
    if (redis_parse_sentinel_masters(rep, &s->masters, &s->nmasters, &err) < 0) {
        sentinel_failed(s, cn, "SENTINEL MASTERS", NULL, err);
        free(err);
        return;
    }
    for (size_t m = 0; m < s->nmasters; m++) {
        const char *name = s->masters[m].name;
        ask(cn, ASK_REPLICAS, m, 3, (const char *const[]){"SENTINEL", "REPLICAS", name});
        ask(cn, ASK_SENTINELS, m, 3, (const char *const[]){"SENTINEL", "SENTINELS", name});
    }
}

static void sentinel_peers(struct obs_sentinel *s, struct conn *cn, enum ask what, size_t m,
                           const redisReply *rep)
{
    struct obs_sentinel_master *ms = &s->masters[m];
    if (what == ASK_REPLICAS && rep->type == REDIS_REPLY_ERROR) {
        /* before Redis 5: SENTINEL SLAVES */
        ask(cn, ASK_SLAVES, m, 3, (const char *const[]){"SENTINEL", "SLAVES", ms->name});
        return;
    }
    bool sentinels = what == ASK_SENTINELS;
    char *err = NULL;
    if (redis_parse_sentinel_peers(rep, sentinels, sentinels ? &ms->sentinels : &ms->replicas,
                                   sentinels ? &ms->nsentinels : &ms->nreplicas, &err) < 0)
        sentinel_failed(s, cn, sentinels ? "SENTINEL SENTINELS" : "SENTINEL REPLICAS",
                        ms->name, err);
    free(err);
}

static void sentinel_reply(const struct net_ctx *x, struct conn *cn, const struct asked *a,
                           const redisReply *rep)
{
    struct obs_sentinel *s = &x->obs->sentinels[cn->index];
    struct rclient_err e;
    switch (a->what) {
    case ASK_SPASS:
        /* whether it demands the password: how AUTH, the first reply, went */
        free(s->requirepass);
        s->requirepass = cn->nb.no_password ? xstrdup("")
                         : cn->nb.auth_ok   ? xstrdup(CONF_SECRET_PLACEHOLDER)
                                            : NULL;
        /* {"sentinel-pass", value}; an older Sentinel has no SENTINEL CONFIG: unknown */
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[1]->type == REDIS_REPLY_STRING) {
            free(s->sentinel_pass);
            s->sentinel_pass =
                xstrdup(obs_mask_secret(rep->element[1]->str, x->opts->password));
        }
        return;
    case ASK_SINFO:
        if (rclient_reply_error(rep, false, &e)) {
            set_reach_from(&s->reach, &s->reach_detail, &e, "INFO");
            conn_stop(cn);
        } else if (rep->type == REDIS_REPLY_STRING) {
            s->run_id = redis_info_field(rep->str, "run_id");
            s->build.version = redis_info_field(rep->str, "redis_version");
            s->build.executable = redis_info_field(rep->str, "executable");
            char *pid = redis_info_field(rep->str, "process_id");
            long v;
            if (pid && parse_long(pid, 1, 4194304, &v))
                s->build.pid = v;
            free(pid);
        }
        return;
    case ASK_MASTERS: sentinel_masters(s, cn, rep); return;
    default: sentinel_peers(s, cn, a->what, a->arg, rep); return;
    }
}

/* ------------------------------------------------------ redis protocol */

static void conn_reply(const struct net_ctx *x, struct conn *cn, const redisReply *rep)
{
    const struct asked a = cn->asked[cn->head++];
    if (cn->kind == NET_SENTINEL)
        sentinel_reply(x, cn, &a, rep);
    else if (a.what == ASK_CONFIG)
        redis_config(x, cn, a.arg, rep);
    else if (a.what == ASK_SLOWLOG_LEN || a.what == ASK_SLOWLOG_GET)
        redis_slowlog(x, cn, a.what, rep);
    else
        redis_info(x, cn, rep);
}

/* Everything asked was answered: what that means for the record. */
static void conn_answered(const struct net_ctx *x, struct conn *cn)
{
    if (cn->kind == NET_SENTINEL) {
        struct obs_sentinel *s = &x->obs->sentinels[cn->index];
        s->reach = REACH_OK;
        free(s->reach_detail);
        s->reach_detail = NULL;
    }
}

static void rconn_io(const struct net_ctx *x, struct conn *cn, short revents, long long now)
{
    rclient_nb_io(&cn->nb, revents, now);
    redisReply *rep;
    int rc;
    while ((rc = rclient_nb_next(&cn->nb, &rep)) > 0) {
        conn_reply(x, cn, rep);
        rclient_reply_free(rep);
    }
    if (rc < 0) {
        enum reach *reach;
        char **detail;
        conn_reach(x, cn, &reach, &detail);
        const char *what = cn->head < cn->nasked ? asked_name(cn->asked[cn->head].what) : "AUTH";
        set_reach_from(reach, detail, &cn->nb.err, what);
    } else if (cn->nb.c && !rclient_nb_busy(&cn->nb)) {
        conn_answered(x, cn);
        conn_stop(cn);
    }
}

/* ---------------------------------------------------------------- proxy */

/* Start connecting a plain socket to ip:port (the stats port); failures recorded. */
static void proxy_start(const struct net_ctx *x, struct conn *cn)
{
    const struct obs_proxy *p = &x->obs->proxies[cn->index];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char portbuf[16], eb[128];
    snprintf(portbuf, sizeof(portbuf), "%d", p->stats_port);
    int gai = getaddrinfo(p->ip, portbuf, &hints, &ai);
    if (gai) {
        char *d = xasprintf("cannot resolve '%s': %s", p->ip, gai_strerror(gai));
        conn_set_reach(x, cn, REACH_ERROR, d);
        free(d);
        return;
    }
    cn->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int e = cn->fd < 0 ? errno : 0;
    if (!e && connect(cn->fd, ai->ai_addr, ai->ai_addrlen) < 0)
        e = errno;
    freeaddrinfo(ai);
    cn->connecting = e == EINPROGRESS;
    cn->deadline_ms = now_ms() + x->opts->connect_timeout_ms;
    if (e && e != EINPROGRESS) {
        conn_set_reach(x, cn, e == ECONNREFUSED ? REACH_REFUSED : REACH_ERROR,
                       strerror_r(e, eb, sizeof(eb)));
        if (cn->fd >= 0)
            close(cn->fd);
        cn->fd = -1;
    } else if (!e) {
        cn->deadline_ms = now_ms() + x->opts->command_timeout_ms;
    }
}

static void proxy_end(struct conn *cn)
{
    close(cn->fd);
    cn->fd = -1;
    sb_release(&cn->stats);
}

static void proxy_fail(const struct net_ctx *x, struct conn *cn, enum reach r, const char *why)
{
    conn_set_reach(x, cn, r, why);
    proxy_end(cn);
}

/* The whole JSON document came: the proxy answered. */
static void proxy_done(const struct net_ctx *x, struct conn *cn)
{
    struct obs_proxy *p = &x->obs->proxies[cn->index];
    char *err = NULL;
    if (redis_parse_proxy_stats(sb_str(&cn->stats), &p->uptime_s, &p->timestamp_s, &err) < 0)
        set_reach(&p->reach, &p->reach_detail, REACH_ERROR, err);
    else {
        p->reach = REACH_OK;
        p->build.version = redis_parse_proxy_version(sb_str(&cn->stats));
    }
    if (p->reach == REACH_OK)
        p->pool_stats = redis_parse_proxy_pool(sb_str(&cn->stats), x->pool, &p->forward_error,
                                               &p->server_ejects);
    free(err);
    proxy_end(cn);
}

static void proxy_io(const struct net_ctx *x, struct conn *cn, short revents, long long now)
{
    char eb[128];
    if (cn->connecting && revents) {
        int e = 0;
        socklen_t len = sizeof(e);
        if (getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
            e = errno;
        if (e) {
            proxy_fail(x, cn, e == ECONNREFUSED ? REACH_REFUSED : REACH_ERROR,
                       strerror_r(e, eb, sizeof(eb)));
            return;
        }
        cn->connecting = false;
        cn->deadline_ms = now + x->opts->command_timeout_ms;
        return;
    }
    while (!cn->connecting && revents) {
        char buf[8192];
        ssize_t n = read(cn->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            proxy_fail(x, cn, REACH_ERROR, strerror_r(errno, eb, sizeof(eb)));
            return;
        }
        if (n == 0) {
            proxy_done(x, cn);
            return;
        }
        if (cn->stats.len + (size_t)n > MAX_STATS_SIZE) {
            proxy_fail(x, cn, REACH_ERROR, "stats reply too large");
            return;
        }
        sb_addn(&cn->stats, buf, (size_t)n);
    }
    if (now >= cn->deadline_ms)
        proxy_fail(x, cn, REACH_TIMEOUT, cn->connecting ? "connect timed out"
                                                        : "stats read timed out");
}

/* ------------------------------------------------------------- the loop */

static void conn_start(const struct net_ctx *x, struct conn *cn)
{
    struct rclient_opts ro = {.connect_timeout_ms = x->opts->connect_timeout_ms,
                              .command_timeout_ms = x->opts->command_timeout_ms};
    const struct observed *o = x->obs;
    cn->fd = -1;
    switch (cn->kind) {
    case NET_REDIS:
        rclient_nb_start(&cn->nb, o->redis[cn->index].ip, o->redis[cn->index].port, &ro,
                         x->opts->password);
        redis_queue(x, cn);
        break;
    case NET_SENTINEL:
        /* with the spec's password: a sentinel without requirepass tolerates AUTH */
        rclient_nb_start(&cn->nb, o->sentinels[cn->index].ip, o->sentinels[cn->index].port,
                         &ro, x->opts->password);
        sentinel_queue(x, cn);
        break;
    case NET_PROXY: proxy_start(x, cn); return;
    }
    if (cn->nb.failed)
        rconn_io(x, cn, 0, now_ms()); /* records why */
}

static bool conn_busy(const struct conn *cn)
{
    return cn->kind == NET_PROXY ? cn->fd >= 0 : rclient_nb_busy(&cn->nb);
}

static int conn_fd(const struct conn *cn)
{
    return cn->kind == NET_PROXY ? cn->fd : rclient_nb_fd(&cn->nb);
}

static short conn_events(const struct conn *cn)
{
    if (cn->kind == NET_PROXY)
        return cn->connecting ? POLLOUT : POLLIN;
    return rclient_nb_events(&cn->nb);
}

static long long conn_deadline(const struct conn *cn)
{
    return cn->kind == NET_PROXY ? cn->deadline_ms : rclient_nb_deadline(&cn->nb);
}

static void conn_io(const struct net_ctx *x, struct conn *cn, short revents, long long now)
{
    if (cn->kind == NET_PROXY)
        proxy_io(x, cn, revents, now);
    else
        rconn_io(x, cn, revents, now);
}

/*
 * How many connections may be open at once: the descriptor limit less a
 * reserve for the transports and files; the rest wait for a free slot.
 */
static size_t fd_budget(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return FD_RESERVE;
    rlim_t cur = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur;
    return cur > 2 * FD_RESERVE ? (size_t)(cur - FD_RESERVE) : FD_RESERVE;
}

void observe_net(const struct net_ctx *x, const struct net_target *targets, size_t n)
{
    if (!n)
        return;
    struct conn *cs = xcalloc(n, sizeof(*cs));
    for (size_t i = 0; i < n; i++) {
        cs[i].kind = targets[i].kind;
        cs[i].index = targets[i].index;
    }
    size_t window = fd_budget();
    if (window > n)
        window = n;
    size_t *live = xcalloc(window, sizeof(*live));
    struct pollfd *pf = xcalloc(window, sizeof(*pf));
    size_t nlive = 0, next = 0;
    for (;;) {
        while (nlive < window && next < n) {
            conn_start(x, &cs[next]);
            if (conn_busy(&cs[next]))
                live[nlive++] = next;
            next++;
        }
        if (!nlive)
            break;
        long long now = now_ms(), soonest = LLONG_MAX;
        for (size_t k = 0; k < nlive; k++) {
            const struct conn *cn = &cs[live[k]];
            pf[k] = (struct pollfd){.fd = conn_fd(cn), .events = conn_events(cn)};
            if (conn_deadline(cn) < soonest)
                soonest = conn_deadline(cn);
        }
        long long wait = soonest - now;
        int pr = poll(pf, nlive, wait < 0 ? 0 : wait > INT_MAX ? INT_MAX : (int)wait);
        if (pr < 0 && errno != EINTR)
            break; /* cannot happen with valid descriptors; the records stay not-checked */
        now = now_ms();
        size_t kept = 0;
        for (size_t k = 0; k < nlive; k++) {
            struct conn *cn = &cs[live[k]];
            conn_io(x, cn, pr > 0 ? pf[k].revents : 0, now);
            if (conn_busy(cn))
                live[kept++] = live[k];
        }
        nlive = kept;
    }
    for (size_t i = 0; i < n; i++) {
        if (cs[i].kind == NET_PROXY && cs[i].fd >= 0)
            proxy_end(&cs[i]);
        else if (cs[i].kind != NET_PROXY)
            rclient_nb_close(&cs[i].nb);
        free(cs[i].asked);
    }
    free(pf);
    free(live);
    free(cs);
}
