/*
 * apply.c - the executor: run a plan's steps wave by wave, each host's steps
 * in its own thread, with a health check after each wave. See apply.h.
 *
 * Every step is a small function that talks to one host (through its
 * transport) or one server (through rclient). The run is a state machine
 * over the steps: PENDING -> DONE | FAILED, and whatever is still PENDING
 * when a step or a health check fails is reported as not run.
 *
 * This file: the run loop (hosts, lanes, waves, the result). The executors
 * are in apply_steps.c, the health checks in apply_gates.c, the output in
 * apply_progress.c, the destroy plan in destroy_plan.c.
 */
#include "apply.h"
#include "apply_impl.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "instance.h"
#include "rclient.h"
#include "util.h"

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
        /* proxies one at a time, whatever host they are on; a kind's own lane (the lane
         * column of STEP_KINDS) is one for every host: sentinel resets one at a time */
        enum step_lane lane = step_kind_desc(st->kind)->lane;
        const char *key = w == WAVE_PROXIES && st->instance == INSTANCE_PROXY ? "\001proxies"
                          : lane == LANE_SENTINEL_RESET ? "\001sentinel-reset"
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

/* ====================================================================
 * The run: hosts and servers every step and check goes through
 * ==================================================================== */

struct hostc *run_host_find(struct run *r, const char *name)
{
    for (size_t i = 0; i < r->nhosts; i++)
        if (str_eq(r->hosts[i].name, name))
            return &r->hosts[i];
    return NULL;
}

static void host_add(struct run *r, const char *name, size_t *cap)
{
    if (!name || run_host_find(r, name))
        return;
    VEC_GROW(r->hosts, r->nhosts, *cap);
    memset(&r->hosts[r->nhosts], 0, sizeof(r->hosts[0]));
    r->hosts[r->nhosts++].name = name;
}

/* The host's transport, opened on first use. NULL and *err when it cannot be. */
struct transport *run_host_transport(struct run *r, struct hostc *h, char **err)
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
bool run_host_key_failed(const struct hostc *h)
{
    return h && (h->open_host_key || transport_host_key_failed(h->t));
}

/*
 * Run argv on host h; 0 when it exited 0, else -1 and *err naming `shown`
 * (the command as the user knows it; NULL: argv). *out (may be NULL) gets
 * stdout.
 */
int run_host_cmd_as(struct run *r, struct hostc *h, const char *const *argv,
                       const char *const *shown, char **out, char **err)
{
    struct transport *t = run_host_transport(r, h, err);
    if (!t)
        return -1;
    return instance_run(t, argv, shown, out, err);
}

int run_host_cmd(struct run *r, struct hostc *h, const char *const *argv, char **out,
                    char **err)
{
    return run_host_cmd_as(r, h, argv, NULL, out, err);
}

/*
 * Connect to ip:port within the connect timeout, AUTH when `auth` and the
 * spec has a password. NULL and *err when that fails.
 */
redisContext *run_connect(struct run *r, const char *ip, int port, bool auth, char **err)
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
redisReply *run_cmd(redisContext *c, const char *where, const char *what, bool secret,
                        int argc, const char **argv, char **err)
{
    struct rclient_err e;
    redisReply *rep = rclient_cmd(c, argc, argv, secret, &e);
    if (!rep)
        *err = rclient_cmd_message(&e, where, what);
    return rep;
}

/* rcmd when only success matters. 0 or -1. */
int run_cmd_ok(redisContext *c, const char *where, const char *what, bool secret, int argc,
                   const char **argv, char **err)
{
    redisReply *rep = run_cmd(c, where, what, secret, argc, argv, err);
    if (!rep)
        return -1;
    rclient_reply_free(rep);
    return 0;
}

/* Whether ip:port answers (rclient_answers); with `auth`, after AUTH. */
bool run_answers(struct run *r, const char *ip, int port, bool auth, char **why)
{
    return rclient_answers(ip, port, &r->ro, auth ? r->password : NULL, why);
}

/* Whether something accepts connections on ip:port (nothing else is said). */
bool run_port_open(struct run *r, const char *ip, int port)
{
    return rclient_port_open(ip, port, &r->ro);
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
    run_print_start(r, i);
    long long t0 = now_ms();
    const char *note = NULL;
    char *err = NULL;
    int rc = run_exec_step(r, st, &note, &err);
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
        if (run_host_key_failed(run_host_find(r, st->host)))
            r->host_key = true;
    }
    run_print_result(r, i, rc == 0, note, ms, r->error[i]);
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
        if (w == WAVE_CLEANUP && step_kind_desc(p->steps[i].kind)->lane == LANE_SENTINEL_RESET)
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
    run_host_transport(pf->r, pf->h, &e); /* failures stay in h->open_err */
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
    static const struct {
        size_t off;
        long ms;
    } defaults[] = {
        {offsetof(struct apply_options, connect_timeout_ms), APPLY_DEFAULT_CONNECT_TIMEOUT_MS},
        {offsetof(struct apply_options, command_timeout_ms), APPLY_DEFAULT_COMMAND_TIMEOUT_MS},
        {offsetof(struct apply_options, ready_timeout_ms), APPLY_DEFAULT_READY_TIMEOUT_MS},
        {offsetof(struct apply_options, stop_timeout_ms), APPLY_DEFAULT_STOP_TIMEOUT_MS},
        {offsetof(struct apply_options, repl_timeout_ms), APPLY_DEFAULT_REPL_TIMEOUT_MS},
        {offsetof(struct apply_options, sentinel_timeout_ms), APPLY_DEFAULT_SENTINEL_TIMEOUT_MS},
    };
    for (size_t i = 0; i < ARRAY_SIZE(defaults); i++) {
        long *ms = (long *)((char *)o + defaults[i].off);
        if (*ms <= 0)
            *ms = defaults[i].ms;
    }
}

/* The Redis client options and the instance policy from the run's options. */
static void run_clients(struct run *r)
{
    r->ro.connect_timeout_ms = r->o.connect_timeout_ms;
    r->ro.command_timeout_ms = r->o.command_timeout_ms;
    r->policy = instance_policy_default(r->o.stop_timeout_ms, r->o.connect_timeout_ms);
}

/*
 * The parts of a run every entry point sets the same way: the spec, the
 * options (`o` may be NULL) with their defaults, the clients, the lock and
 * the cluster's root directory. Undone by run_release().
 */
static void run_init(struct run *r, const struct spec *s, const struct apply_options *o)
{
    r->s = s;
    if (o)
        r->o = *o;
    options_defaults(&r->o);
    run_clients(r);
    pthread_mutex_init(&r->lock, NULL);
    r->cluster_root = cluster_root(s);
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
    struct run r = {.p = p, .password = password};
    run_init(&r, s, o);
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
                    (!r.host_key || run_host_key_failed(run_host_find(&r, p->steps[i].host)))) {
                    char *label = run_step_label(&r, i);
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
        if (!run_gate_after(&r, (enum step_wave)w, &err))
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
            char *label = run_step_label(&r, i);
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
    struct run r = {0};
    run_init(&r, s, o);
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
            rc = run_host_cmd(&r, h, rm, NULL, err);
        }
        if (rc == 0) {
            /* only when empty: anything else there is not ours to delete */
            const char *rmdir[] = {"rmdir", "--", r.cluster_root, NULL};
            char *e = NULL;
            if (run_host_cmd(&r, h, rmdir, NULL, &e) < 0 &&
                (!run_host_transport(&r, h, err) || run_host_key_failed(h))) {
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
