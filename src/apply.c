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
    struct lane_key {
        const char *host;
        int kind, port; /* kind -1: a lane of its own for every host */
    } *keys = xcalloc(p->nsteps ? p->nsteps : 1, sizeof(*keys));
    size_t nkeys = 0;
    for (size_t i = 0; i < p->nsteps; i++) {
        const struct step *st = &p->steps[i];
        lane_of[i] = SIZE_MAX;
        if (st->wave != w || !step_acts(st))
            continue;
        /* proxies one at a time, whatever host they are on; a kind's own lane (the lane
         * column of STEP_KINDS) is one for every host: sentinel resets one at a time */
        enum step_lane lane = step_kind_desc(st->kind)->lane;
        struct lane_key key = {st->host ? st->host : "", (int)st->instance, st->port};
        if (w == WAVE_PROXIES && st->instance == INSTANCE_PROXY)
            key = (struct lane_key){"\001proxies", -1, 0};
        else if (lane == LANE_SENTINEL_RESET)
            key = (struct lane_key){"\001sentinel-reset", -1, 0};
        else if (lane == LANE_UPGRADE)
            key = (struct lane_key){"\001upgrade", -1, 0};
        else if (lane == LANE_SENTINEL_AUTH)
            key = (struct lane_key){"\001sentinel-auth", -1, 0};
        size_t k = 0;
        while (k < nkeys && !(keys[k].kind == key.kind && keys[k].port == key.port &&
                              str_eq(keys[k].host, key.host)))
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

/* Once every host is added (the array no longer moves): their locks. */
static void hosts_ready(struct run *r)
{
    for (size_t i = 0; i < r->nhosts; i++)
        pthread_mutex_init(&r->hosts[i].bin_lock, NULL);
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

/*
 * A lane: steps that run one after the other (one instance's, or every
 * proxy's, or every sentinel reset's). The lanes of a wave run side by side,
 * at most r->o.parallel at once on one host, each once the lanes it waits for
 * (`deps`, of the same wave) have finished: a replica starts once its master
 * answers, a master stops once its replicas are stopped.
 */
struct lane {
    size_t *steps;
    size_t n, cap;
    struct hostc *h;   /* the host of its first step */
    size_t *deps;      /* lanes that must finish first */
    size_t ndeps, dcap;
    bool last;         /* runs after every other lane (sentinel resets of the clean-up) */
    enum { LANE_WAITING, LANE_RUNNING, LANE_FINISHED } state;
};

struct wave {
    struct run *r;
    struct lane *lanes;
    size_t nlanes;
    bool live;               /* one lane: a step's line is printed before it runs */
    pthread_mutex_t lock;    /* the lanes' states and the hosts' counts below */
    pthread_cond_t changed;  /* a lane finished */
    size_t *running;         /* per host of r: lanes running now */
};

static void run_step(struct run *r, size_t i, bool live)
{
    const struct step *st = &r->p->steps[i];
    run_print_start(r, i, live);
    long long t0 = now_ms();
    const char *note = NULL;
    char *err = NULL;
    /* the lock hook: a lock no longer ours fails the step before it acts */
    bool hooked = step_acts(st);
    int rc = hooked && r->o.before_step ? r->o.before_step(r->o.step_arg, st, &err) : 0;
    if (rc == 0) {
        rc = run_exec_step(r, st, &note, &err);
        if (hooked && r->o.after_step)
            r->o.after_step(r->o.step_arg, st, rc == 0);
    }
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
    run_print_result(r, i, rc == 0, note, ms, r->error[i], live);
    pthread_mutex_unlock(&r->lock);
}

static bool stop_requested(const struct run *r)
{
    return r->o.stop && *r->o.stop;
}

/* Whether the run must not start another step (a failure or a signal). */
static bool run_stopping(struct run *r)
{
    pthread_mutex_lock(&r->lock);
    bool stop = r->abort || stop_requested(r);
    pthread_mutex_unlock(&r->lock);
    return stop;
}

/* Whether steps a and b act on the same instance. */
static bool same_instance(const struct step *a, const struct step *b)
{
    return a->instance == b->instance && a->port == b->port && str_eq(a->ip, b->ip);
}

/*
 * Run lane l's steps in order. When the run is stopping (another lane
 * failed, or a signal), the instance the lane is on still gets the rest of
 * its steps (a sentinel started gets its monitors; a proxy its restart), and
 * no further instance is started; a failed step ends the lane at once.
 */
static void run_lane(struct run *r, const struct lane *l, bool live)
{
    for (size_t k = 0; k < l->n; k++) {
        const struct step *st = &r->p->steps[l->steps[k]];
        if (k > 0) {
            size_t prev = l->steps[k - 1];
            pthread_mutex_lock(&r->lock);
            bool failed = r->state[prev] != ST_DONE;
            pthread_mutex_unlock(&r->lock);
            if (failed || (run_stopping(r) && !same_instance(&r->p->steps[prev], st)))
                break;
        } else if (run_stopping(r)) {
            break;
        }
        run_step(r, l->steps[k], live);
    }
}

/* Whether step st starts or stops the redis at ip:port. */
static bool step_is_redis(const struct step *st, enum step_kind kind, const char *ip, int port)
{
    return st->kind == kind && st->instance == INSTANCE_REDIS && st->port == port &&
           str_eq(st->ip, ip);
}

bool apply_step_waits_for(const struct plan *p, size_t i, size_t j)
{
    const struct step *first = &p->steps[i], *o = &p->steps[j];
    if (i == j || first->instance != INSTANCE_REDIS)
        return false;
    /* a replica's first sync needs its master answering */
    if (first->kind == STEP_START && first->master_ip &&
        step_is_redis(o, STEP_START, first->master_ip, first->master_port))
        return true;
    /* a master's shutdown waits for replicas that lag: stop them first (the observed
     * master: after a failover it is not the spec's) */
    return first->kind == STEP_STOP && first->shard && first->stops_master &&
           o->kind == STEP_STOP && o->instance == INSTANCE_REDIS && str_eq(o->shard, first->shard) &&
           !o->stops_master;
}

/* Whether lane b must finish before lane a starts (both of one wave). */
static bool lane_waits_for(const struct run *r, const struct lane *a, const struct lane *b)
{
    for (size_t k = 0; k < b->n; k++)
        if (apply_step_waits_for(r->p, a->steps[0], b->steps[k]))
            return true;
    return false;
}

/* The lanes of wave w with their hosts and dependencies. */
static struct lane *wave_lanes(struct run *r, enum step_wave w, size_t *nlanes)
{
    const struct plan *p = r->p;
    size_t *lane_of = xcalloc(p->nsteps ? p->nsteps : 1, sizeof(*lane_of));
    *nlanes = apply_lanes(p, w, lane_of);
    struct lane *lanes = xcalloc(*nlanes ? *nlanes : 1, sizeof(*lanes));
    for (size_t i = 0; i < p->nsteps; i++) {
        if (lane_of[i] == SIZE_MAX)
            continue;
        struct lane *l = &lanes[lane_of[i]];
        if (!l->n)
            l->h = run_host_find(r, p->steps[i].host);
        VEC_GROW(l->steps, l->n, l->cap);
        l->steps[l->n++] = i;
        /* in the clean-up, Sentinel forgets removed replicas only once they are stopped */
        enum step_lane kl = step_kind_desc(p->steps[i].kind)->lane;
        if ((w == WAVE_CLEANUP && kl == LANE_SENTINEL_RESET) || kl == LANE_SENTINEL_AUTH)
            l->last = true;
    }
    for (size_t a = 0; a < *nlanes; a++)
        for (size_t b = 0; b < *nlanes; b++)
            if (a != b && lane_waits_for(r, &lanes[a], &lanes[b])) {
                VEC_GROW(lanes[a].deps, lanes[a].ndeps, lanes[a].dcap);
                lanes[a].deps[lanes[a].ndeps++] = b;
            }
    free(lane_of);
    return lanes;
}

/* Under wv->lock: whether lane k may start now. */
static bool lane_ready(const struct wave *wv, size_t k)
{
    const struct lane *l = &wv->lanes[k];
    if (l->state != LANE_WAITING)
        return false;
    for (size_t d = 0; d < l->ndeps; d++)
        if (wv->lanes[l->deps[d]].state != LANE_FINISHED)
            return false;
    if (l->last)
        for (size_t o = 0; o < wv->nlanes; o++)
            if (o != k && wv->lanes[o].state != LANE_FINISHED)
                return false;
    size_t hi = l->h ? (size_t)(l->h - wv->r->hosts) : 0;
    return !l->h || wv->running[hi] < (size_t)wv->r->o.parallel;
}

/* A worker: take the next lane that may start, run it, until none is left. */
static void *wave_worker(void *arg)
{
    struct wave *wv = arg;
    pthread_mutex_lock(&wv->lock);
    for (;;) {
        size_t k = SIZE_MAX, left = 0;
        for (size_t i = 0; i < wv->nlanes; i++) {
            if (wv->lanes[i].state == LANE_WAITING)
                left++;
            if (k == SIZE_MAX && lane_ready(wv, i))
                k = i;
        }
        if (!left)
            break;
        if (k == SIZE_MAX) {
            pthread_cond_wait(&wv->changed, &wv->lock);
            continue;
        }
        struct lane *l = &wv->lanes[k];
        size_t hi = l->h ? (size_t)(l->h - wv->r->hosts) : 0;
        l->state = LANE_RUNNING;
        if (l->h)
            wv->running[hi]++;
        pthread_mutex_unlock(&wv->lock);
        run_lane(wv->r, l, wv->live);
        pthread_mutex_lock(&wv->lock);
        l->state = LANE_FINISHED;
        if (l->h)
            wv->running[hi]--;
        pthread_cond_broadcast(&wv->changed);
    }
    pthread_mutex_unlock(&wv->lock);
    return NULL;
}

/*
 * Run the steps of wave w. `live` allows printing a step's line before it
 * runs when the wave has one lane. false when a step failed.
 */
static bool run_wave(struct run *r, enum step_wave w, bool live)
{
    struct wave wv = {.r = r};
    wv.lanes = wave_lanes(r, w, &wv.nlanes);
    if (wv.nlanes) {
        wv.live = live && wv.nlanes == 1;
        wv.running = xcalloc(r->nhosts ? r->nhosts : 1, sizeof(*wv.running));
        pthread_mutex_init(&wv.lock, NULL);
        pthread_cond_init(&wv.changed, NULL);
        /* as many workers as lanes can run at once: per host, up to o.parallel */
        size_t nworkers = 0;
        for (size_t hi = 0; hi <= r->nhosts; hi++) {
            size_t n = 0;
            for (size_t k = 0; k < wv.nlanes; k++)
                n += hi < r->nhosts ? wv.lanes[k].h == &r->hosts[hi] : !wv.lanes[k].h;
            nworkers += n < (size_t)r->o.parallel ? n : (size_t)r->o.parallel;
        }
        pthread_t *tid = xcalloc(nworkers, sizeof(*tid));
        size_t started = 0;
        while (started + 1 < nworkers &&
               pthread_create(&tid[started], NULL, wave_worker, &wv) == 0)
            started++;
        wave_worker(&wv); /* this thread works too (and alone when out of threads) */
        for (size_t k = 0; k < started; k++)
            pthread_join(tid[k], NULL);
        free(tid);
        pthread_cond_destroy(&wv.changed);
        pthread_mutex_destroy(&wv.lock);
        free(wv.running);
    }
    for (size_t k = 0; k < wv.nlanes; k++) {
        free(wv.lanes[k].steps);
        free(wv.lanes[k].deps);
    }
    free(wv.lanes);
    pthread_mutex_lock(&r->lock);
    bool ok = !r->abort;
    pthread_mutex_unlock(&r->lock);
    return ok;
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

/* ---- the stages of a run ----------------------------------------------------- */

/* What failed, from the steps' states (r->abort was set by a step). Caller frees. */
static char *step_failure(struct run *r)
{
    const struct plan *p = r->p;
    for (size_t i = 0; i < p->nsteps; i++)
        if (r->state[i] == ST_FAILED &&
            (!r->host_key || run_host_key_failed(run_host_find(r, p->steps[i].host)))) {
            char *label = run_step_label(r, i);
            char *failure = r->host_key
                                ? xasprintf("the ssh host key of host '%s' is not trusted any "
                                            "more: no further step was started on any host\n"
                                            "%s: %s",
                                            p->steps[i].host, label, r->error[i])
                                : xasprintf("%s: %s", label, r->error[i]);
            free(label);
            return failure;
        }
    return NULL;
}

/*
 * Wave w's steps (with `steps`) and then its health check (with `gate`). A
 * failed check stops the run like a failed step. NULL, or what the check
 * said (caller frees); a failed step is read from the states afterwards.
 */
static char *run_stage(struct run *r, enum step_wave w, bool steps, bool gate, bool live)
{
    if (steps && !run_wave(r, w, live))
        return NULL;
    if (!gate || run_stopping(r))
        return NULL;
    char *err = NULL;
    if (run_gate_after(r, w, &err)) {
        /* the replicas are linked: the first syncs are over */
        char *kept = w == WAVE_REPLICATION ? run_delay_restore(r) : NULL;
        if (!kept)
            return NULL;
        err = kept;
    }
    pthread_mutex_lock(&r->lock);
    r->abort = true;
    pthread_mutex_unlock(&r->lock);
    return err ? err : xstrdup("health check failed");
}

/* One of the stages that run side by side once the processes run. */
struct branch {
    struct run *r;
    enum step_wave w;
    bool steps, gate;
    char *failure;
    pthread_t tid;
    bool threaded;
};

static void *branch_thread(void *arg)
{
    struct branch *b = arg;
    b->failure = run_stage(b->r, b->w, b->steps, b->gate, false);
    return NULL;
}

/* Run n stages side by side (whole lines of output only); the first failure, or NULL. */
static char *run_branches(struct run *r, struct branch *br, size_t n)
{
    r->side_by_side = true;
    for (size_t k = 1; k < n; k++)
        br[k].threaded = pthread_create(&br[k].tid, NULL, branch_thread, &br[k]) == 0;
    branch_thread(&br[0]);
    for (size_t k = 1; k < n; k++) {
        if (br[k].threaded)
            pthread_join(br[k].tid, NULL);
        else
            branch_thread(&br[k]); /* out of threads: after the others */
    }
    r->side_by_side = false;
    char *failure = NULL;
    for (size_t k = 0; k < n; k++) {
        if (!failure)
            failure = br[k].failure;
        else
            free(br[k].failure);
    }
    return failure;
}

/*
 * Every stage, in the order of real dependencies: files; processes (a
 * replica once its master answers) and the check that they answer; the
 * replication steps; then side by side the check that the replicas are
 * linked (a first sync of a large dataset takes minutes), the sentinels'
 * steps and their check (Sentinel's 2 s hello period; a sentinel needs its
 * masters answering, not their replicas in sync), and the proxies (they need
 * only their servers, not Sentinel) with theirs; the clean-up once every
 * check passed. A sentinel's steps are never cut off by another stage's
 * failure: a sentinel started without its monitors would be planned as one
 * that keeps them in its file. The bound on lanes at once on a host
 * (--parallel) holds per stage. NULL, or what failed (caller frees).
 */
static char *run_stages(struct run *r)
{
    static const char stopped[] = "stopped by a signal: the instances being changed got the rest "
                                  "of their steps, no other was started; the next apply "
                                  "finishes the job";
    char *failure = NULL;
    static const enum step_wave before[] = {WAVE_FILES, WAVE_PROCESSES};
    for (size_t k = 0; k < ARRAY_SIZE(before) && !failure && !run_stopping(r); k++)
        failure = run_stage(r, before[k], true, true, true);
    if (!failure && !run_stopping(r))
        failure = run_stage(r, WAVE_REPLICATION, true, false, true);
    if (!failure && !run_stopping(r)) {
        struct branch br[] = {
            {.r = r, .w = WAVE_SENTINELS, .steps = true, .gate = true},
            {.r = r, .w = WAVE_REPLICATION, .steps = false, .gate = true},
            {.r = r, .w = WAVE_PROXIES, .steps = true, .gate = true},
        };
        failure = run_branches(r, br, ARRAY_SIZE(br));
    }
    if (!failure && !run_stopping(r))
        run_wave(r, WAVE_CLEANUP, true);
    /* the rolling upgrade last: every instance it restarts matches the spec otherwise */
    if (!failure && !run_stopping(r) && !r->abort)
        failure = run_stage(r, WAVE_UPGRADE, true, true, true);

    char *stepped = r->abort ? step_failure(r) : NULL;
    if (stepped) { /* a failed step is what the run reports first */
        free(failure);
        return stepped;
    }
    if (!failure && r->abort)
        failure = xstrdup("a step failed");
    if (!failure && stop_requested(r)) {
        bool pending = false;
        for (size_t i = 0; i < r->p->nsteps; i++)
            pending = pending || (r->number[i] && r->state[i] == ST_PENDING);
        if (pending)
            failure = xstrdup(stopped); /* else every step ran: only checks were skipped */
    }
    return failure;
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
        {offsetof(struct apply_options, parallel), APPLY_DEFAULT_PARALLEL},
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
        pthread_mutex_destroy(&r->hosts[i].bin_lock);
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
    hosts_ready(&r);

    char *failure = preflight_host_keys(&r);
    if (!failure)
        failure = run_stages(&r);
    char *kept = run_delay_restore(&r); /* after a failure too */
    if (kept && failure) {
        char *both = xasprintf("%s\n%s", failure, kept);
        free(failure);
        free(kept);
        failure = both;
    } else if (kept) {
        failure = kept;
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
    hosts_ready(&r);
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
