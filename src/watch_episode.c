/*
 * watch_episode.c - a shard's failover episode from its sentinels' events.
 * See watch_episode.h.
 */
#include "watch_episode.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? xstrdup(v) : NULL;
}

/* Forget everything: the next +odown begins a new episode. */
static void episode_reset(struct wep_shard *e)
{
    set_str(&e->master, NULL);
    set_str(&e->selected, NULL);
    set_str(&e->repointed, NULL);
    memset(e->odown, 0, e->nsentinels * sizeof(bool));
    e->leader = -1;
    e->polling = false;
}

/*
 * An event about `master`: when the episode is about another master, a new
 * episode begins with this one (a poll of the last one stops: r->action).
 */
static void episode_follow_master(struct wep_shard *e, const char *master, struct wep_result *r)
{
    if (str_eq(e->master, master))
        return;
    bool was_polling = e->polling;
    episode_reset(e);
    set_str(&e->master, master);
    if (was_polling)
        r->action = WEP_STOP_POLL;
}

void wep_init(struct wep_shard *e, size_t nsentinels, int quorum)
{
    memset(e, 0, sizeof(*e));
    e->nsentinels = nsentinels;
    e->quorum = quorum;
    e->odown = xcalloc(nsentinels + 1, sizeof(bool));
    e->leader = -1;
}

void wep_release(struct wep_shard *e)
{
    if (!e)
        return;
    free(e->master);
    free(e->selected);
    free(e->repointed);
    free(e->ended);
    free(e->odown);
    memset(e, 0, sizeof(*e));
}

int wep_odown_votes(const struct wep_shard *e)
{
    int n = 0;
    for (size_t i = 0; i < e->nsentinels; i++)
        n += e->odown[i];
    return n;
}

const char *wep_outcome_name(enum wep_outcome o)
{
    switch (o) {
    case WEP_QUIET:
        return "quiet";
    case WEP_CONFIRMED:
        return "confirmed";
    case WEP_DIVERGED:
        return "diverged";
    case WEP_ABORTED:
        return "aborted";
    case WEP_RESELECTED:
        return "reselected";
    }
    return "?";
}

/* Conditions 1 and 2 hold: poll the selected member (unless already). */
static struct wep_result maybe_poll(struct wep_shard *e, struct wep_result r)
{
    if (!e->selected || e->polling || wep_odown_votes(e) < e->quorum || e->quorum < 1 ||
        str_eq(e->selected, e->repointed))
        return r;
    e->polling = true;
    r.action = WEP_POLL;
    r.target = e->selected;
    return r;
}

static bool sentinel_ok(const struct wep_shard *e, int s)
{
    return s >= 0 && (size_t)s < e->nsentinels;
}

struct wep_result wep_feed(struct wep_shard *e, const struct wep_event *ev)
{
    struct wep_result r = {WEP_NOTHING, WEP_QUIET, NULL, NULL};
    switch (ev->kind) {
    case WEP_ODOWN:
        if (!sentinel_ok(e, ev->sentinel) || !ev->master)
            return r;
        episode_follow_master(e, ev->master, &r); /* another master is down: a new episode */
        e->odown[ev->sentinel] = true;
        return maybe_poll(e, r);
    case WEP_ODOWN_CLEARED:
        if (!sentinel_ok(e, ev->sentinel) || !str_eq(e->master, ev->master))
            return r;
        e->odown[ev->sentinel] = false;
        if (wep_odown_votes(e) < e->quorum && e->polling && !e->repointed) {
            e->polling = false;
            r.action = WEP_STOP_POLL;
        }
        if (wep_odown_votes(e) == 0 && !e->repointed)
            episode_reset(e);
        return r;
    case WEP_LEADER:
        if (!sentinel_ok(e, ev->sentinel) || !ev->master)
            return r;
        /* a leader for a master nobody said was down (yet): start the episode */
        episode_follow_master(e, ev->master, &r);
        /* a new election: what the last leader selected is no longer the plan */
        e->leader = ev->sentinel;
        set_str(&e->selected, NULL);
        if (e->polling) {
            e->polling = false;
            r.action = WEP_STOP_POLL;
        }
        return r;
    case WEP_SELECTED:
        if (!sentinel_ok(e, ev->sentinel) || ev->sentinel != e->leader ||
            !str_eq(e->master, ev->master) || !ev->addr || !ev->member)
            return r;
        if (str_eq(e->selected, ev->addr))
            return maybe_poll(e, r); /* +failover-state-send-slaveof-noone after +selected-slave */
        if (e->polling) {
            e->polling = false;
            r.action = WEP_STOP_POLL;
        }
        set_str(&e->selected, ev->addr);
        if (e->repointed && !str_eq(e->repointed, ev->addr)) {
            r.outcome = WEP_RESELECTED;
            r.previous = e->repointed;
        }
        return maybe_poll(e, r);
    case WEP_ABORT:
        if (!sentinel_ok(e, ev->sentinel) || ev->sentinel != e->leader ||
            !str_eq(e->master, ev->master))
            return r;
        e->leader = -1;
        set_str(&e->selected, NULL);
        if (e->polling) {
            e->polling = false;
            r.action = WEP_STOP_POLL;
        }
        if (e->repointed) {
            r.outcome = WEP_ABORTED;
            r.previous = e->repointed;
        }
        return r;
    case WEP_PROMOTED:
        if (!e->polling || !str_eq(e->selected, ev->addr) || wep_odown_votes(e) < e->quorum)
            return r;
        e->polling = false;
        set_str(&e->repointed, ev->addr);
        r.action = WEP_REPOINT;
        r.target = e->repointed;
        return r;
    case WEP_SWITCH:
        if (e->polling)
            r.action = WEP_STOP_POLL;
        set_str(&e->ended, e->repointed); /* outlives the reset, for the result */
        if (e->repointed) {
            r.outcome = str_eq(e->repointed, ev->addr) ? WEP_CONFIRMED : WEP_DIVERGED;
            r.previous = e->ended;
        }
        episode_reset(e);
        return r;
    }
    return r;
}

/* "ip:port" from an ip and a port word, or NULL. Caller frees. */
static char *join_addr(const char *ip, const char *port)
{
    long p;
    if (!ip || !*ip || !port || !parse_long(port, 1, 65535, &p))
        return NULL;
    return xasprintf("%s:%ld", ip, p);
}

int wep_parse_payload(const char *payload, char **name, char **master, char **addr)
{
    char *f[10];
    size_t nf = 0;
    char *copy = xstrdup(payload ? payload : "");
    char *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok && nf < ARRAY_SIZE(f);
         tok = strtok_r(NULL, " ", &save))
        f[nf++] = tok;
    int rc = -1;
    char *m = NULL, *a = NULL;
    if (nf >= 4 && str_eq(f[0], "master")) {
        m = join_addr(f[2], f[3]);
        if (m) {
            *name = xstrdup(f[1]);
            *master = m;
            *addr = NULL;
            rc = 0;
        }
    } else if (nf >= 8 && (str_eq(f[0], "slave") || str_eq(f[0], "replica")) &&
               str_eq(f[4], "@")) {
        a = join_addr(f[2], f[3]);
        m = join_addr(f[6], f[7]);
        if (a && m) {
            *name = xstrdup(f[5]);
            *master = m;
            *addr = a;
            rc = 0;
        } else {
            free(a);
            free(m);
        }
    }
    free(copy);
    return rc;
}
