/*
 * ha_lint.c - the single points of failure of a layout (`validate --ha`).
 *
 * Every rule asks one question of the spec (and of today's masters when an
 * observation is given) and adds a risk naming the hosts and the change.
 * Pure: no I/O.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ha_lint.h"
#include "json_out.h"

#define HA_KIND_NAME(id, name) name,
static const char *const kind_names[] = {HA_RISK_KINDS(HA_KIND_NAME)};
#undef HA_KIND_NAME

const char *ha_risk_kind_name(enum ha_risk_kind k)
{
    return (unsigned)k < HA_NKINDS ? kind_names[k] : "unknown";
}

/* ---------------------------------------------------------------- hosts */

/* The machines of a spec: one per IP, shown by the first name it is given. */
struct hosts {
    const char **ip, **label;
    size_t n, cap;
};

static size_t host_index(struct hosts *h, const char *ip, const char *label)
{
    for (size_t i = 0; i < h->n; i++)
        if (str_eq(h->ip[i], ip))
            return i;
    if (h->n >= h->cap) {
        h->cap = h->cap ? h->cap * 2 : 8;
        h->ip = xrealloc(h->ip, h->cap * sizeof(*h->ip));
        h->label = xrealloc(h->label, h->cap * sizeof(*h->label));
    }
    h->ip[h->n] = ip;
    h->label[h->n] = label ? label : ip;
    return h->n++;
}

static void hosts_release(struct hosts *h)
{
    free(h->ip);
    free(h->label);
}

/* every address of s, in spec order: shard members, sentinels, proxy hosts */
static void hosts_collect(struct hosts *h, const struct spec *s)
{
    for (size_t i = 0; i < s->nshards; i++) {
        host_index(h, s->shards[i].master.ip, s->shards[i].master.host);
        for (size_t k = 0; k < s->shards[i].nreplicas; k++)
            host_index(h, s->shards[i].replicas[k].ip, s->shards[i].replicas[k].host);
    }
    for (size_t i = 0; i < s->sentinel.nnodes; i++)
        host_index(h, s->sentinel.nodes[i].ip, s->sentinel.nodes[i].host);
    for (size_t i = 0; i < s->nproxies; i++)
        host_index(h, s->proxies[i].host_ip, s->proxies[i].host);
}

static const char *host_label(struct hosts *h, const char *ip)
{
    return h->label[host_index(h, ip, NULL)];
}

/* ---------------------------------------------------------------- the report */

static struct ha_risk *add_risk(struct ha_report *r, enum ha_risk_kind kind, struct spec_pos pos,
                                const char *change, const char *fmt, ...) RMGR_PRINTF(5, 6);

static struct ha_risk *add_risk(struct ha_report *r, enum ha_risk_kind kind, struct spec_pos pos,
                                const char *change, const char *fmt, ...)
{
    VEC_GROW(r->risks, r->nrisks, r->cap);
    struct ha_risk *k = &r->risks[r->nrisks++];
    memset(k, 0, sizeof(*k));
    k->kind = kind;
    k->pos = pos;
    va_list ap;
    va_start(ap, fmt);
    k->message = xvasprintf(fmt, ap);
    va_end(ap);
    k->change = xstrdup(change);
    return k;
}

static void risk_add_host(struct ha_risk *k, const char *label)
{
    if (!strvec_has(&k->hosts, label))
        strvec_add(&k->hosts, xstrdup(label));
}

void ha_report_release(struct ha_report *r)
{
    for (size_t i = 0; r && i < r->nrisks; i++) {
        strvec_release(&r->risks[i].hosts);
        free(r->risks[i].message);
        free(r->risks[i].change);
    }
    for (size_t i = 0; r && i < r->nmasters; i++)
        free(r->masters[i].address);
    if (r) {
        free(r->risks);
        free(r->masters);
    }
}

/* ---------------------------------------------------------------- observed masters */

void ha_observed_release(struct ha_observed *h)
{
    for (size_t i = 0; h && i < h->nshards; i++)
        free(h->shards[i].master_ip);
    if (h)
        free(h->shards);
}

void ha_observed_from(const struct spec *s, const struct observed *o,
                      const long long *used_memory, struct ha_observed *out)
{
    out->nshards = s->nshards;
    out->shards = xcalloc(s->nshards ? s->nshards : 1, sizeof(*out->shards));
    for (size_t i = 0; i < s->nshards; i++) {
        struct ha_shard_obs *so = &out->shards[i];
        so->used_memory = used_memory ? used_memory[i] : -1;
        /* count the addresses the sentinels name for this shard */
        const struct obs_sentinel_master *seen[64];
        size_t votes[64], nseen = 0;
        for (size_t j = 0; o && j < o->nsentinels; j++) {
            const struct obs_sentinel *sn = &o->sentinels[j];
            if (sn->reach != REACH_OK)
                continue;
            for (size_t m = 0; m < sn->nmasters; m++) {
                const struct obs_sentinel_master *sm = &sn->masters[m];
                if (!str_eq(sm->name, s->shards[i].name) || !sm->ip)
                    continue;
                size_t k = 0;
                while (k < nseen && !(seen[k]->port == sm->port && str_eq(seen[k]->ip, sm->ip)))
                    k++;
                if (k == nseen && nseen < 64) {
                    seen[nseen] = sm;
                    votes[nseen++] = 0;
                }
                if (k < nseen)
                    votes[k]++;
            }
        }
        size_t best = 0;
        bool tie = false;
        for (size_t k = 1; k < nseen; k++) {
            if (votes[k] > votes[best]) {
                best = k;
                tie = false;
            } else if (votes[k] == votes[best]) {
                tie = true;
            }
        }
        if (nseen && !tie) {
            so->master_ip = xstrdup(seen[best]->ip);
            so->master_port = seen[best]->port;
        }
    }
}

/* ---------------------------------------------------------------- memory sizes */

long long ha_parse_memory(const char *v)
{
    static const struct unit units[] = {
        {"", 1},           {"k", 1000},          {"kb", 1024},
        {"m", 1000000},    {"mb", 1024 * 1024},  {"g", 1000000000ULL},
        {"gb", 1024ULL * 1024 * 1024},
    };
    if (!v || !*v)
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || errno || *v == '-' || *v == '+')
        return -1;
    unsigned long long mul;
    if (!unit_lookup(units, ARRAY_SIZE(units), end, true, &mul))
        return -1;
    if (n && mul > (unsigned long long)(1LL << 62) / n)
        return -1;
    return (long long)(n * mul);
}

/* "2.1 GB", "64.0 MB", "512 bytes": a size for messages (powers of 1000, as throughput) */
static void human_size(char *buf, size_t len, long long b)
{
    if (b >= 1000LL * 1000 * 1000)
        snprintf(buf, len, "%.1f GB", b / 1e9);
    else if (b >= 1000LL * 1000)
        snprintf(buf, len, "%.1f MB", b / 1e6);
    else if (b >= 1000)
        snprintf(buf, len, "%.1f kB", b / 1e3);
    else
        snprintf(buf, len, "%lld bytes", b);
}

/* ---------------------------------------------------------------- the rules */

struct lint {
    const struct spec *s;
    const struct ha_observed *obs;
    struct ha_report *r;
    struct hosts h;
    size_t *master_host;   /* per shard: host index of today's master */
    size_t *master_member; /* per shard: member index of it (0: spec master), or SIZE_MAX */
};

static const struct spec_addr *member(const struct spec_shard *sh, size_t k)
{
    return k == 0 ? &sh->master : &sh->replicas[k - 1];
}

static int majority(size_t n)
{
    return (int)(n / 2 + 1);
}

/* every sentinel's host into risk k */
static void add_sentinel_hosts(struct lint *l, struct ha_risk *k)
{
    for (size_t i = 0; i < l->s->sentinel.nnodes; i++)
        risk_add_host(k, host_label(&l->h, l->s->sentinel.nodes[i].ip));
}

static void rule_sentinel_count(struct lint *l)
{
    const struct spec_sentinel *sn = &l->s->sentinel;
    size_t n = sn->nnodes;
    if (n >= 3 && n % 2 == 1)
        return;
    struct ha_risk *k;
    if (n < 3)
        k = add_risk(l->r, HA_SENTINEL_COUNT, sn->pos,
                     "run at least 3 sentinels, each on its own host",
                     "%zu sentinel%s: fewer than 3 cannot lose one and still have a majority "
                     "to authorise a failover", n, n == 1 ? "" : "s");
    else
        k = add_risk(l->r, HA_SENTINEL_COUNT, sn->pos,
                     n == 4 ? "run 3 or 5 sentinels, each on its own host"
                            : "run an odd number of sentinels, each on its own host",
                     "%zu sentinels: an even number tolerates no more failed sentinels than "
                     "%zu would (a majority of %zu is %d, so %zu may fail)", n, n - 1, n,
                     majority(n), n - (size_t)majority(n));
    add_sentinel_hosts(l, k);
}

static void rule_quorum(struct lint *l)
{
    const struct spec_sentinel *sn = &l->s->sentinel;
    int maj = majority(sn->nnodes);
    if (sn->quorum >= maj)
        return;
    char *change = xasprintf("set sentinel.quorum to %d", maj);
    struct ha_risk *k = add_risk(l->r, HA_QUORUM_NOT_MAJORITY, sn->pos, change,
             "quorum %d is not a majority of %zu sentinels (%d): %d sentinels that lose sight "
             "of a master flag it down, but a failover still needs %d to elect a leader, and "
             "either side of a network split may see the master down",
             sn->quorum, sn->nnodes, maj, sn->quorum, maj);
    add_sentinel_hosts(l, k);
    free(change);
}

static void rule_sentinel_host_loss(struct lint *l)
{
    const struct spec_sentinel *sn = &l->s->sentinel;
    size_t n = sn->nnodes;
    int maj = majority(n);
    int need = sn->quorum > maj ? sn->quorum : maj;
    for (size_t hi = 0; hi < l->h.n; hi++) {
        size_t on = 0;
        for (size_t i = 0; i < n; i++)
            on += str_eq(sn->nodes[i].ip, l->h.ip[hi]);
        if (!on || (long)(n - on) >= need)
            continue;
        size_t left = n - on;
        bool below_q = (int)left < sn->quorum, below_m = (int)left < maj;
        long may = (long)n - need; /* sentinels any one host may hold */
        char *change = may > 0
            ? xasprintf("move sentinels off %s: with %zu sentinels and quorum %d no host may "
                        "hold more than %ld of them (or add sentinels on other hosts)",
                        l->h.label[hi], n, sn->quorum, may)
            : xasprintf("add sentinels on other hosts: with %zu sentinels and quorum %d the "
                        "loss of any one leaves too few", n, sn->quorum);
        char q[48] = "", m[48] = "";
        if (below_q)
            snprintf(q, sizeof(q), "the quorum (%d)", sn->quorum);
        if (below_m)
            snprintf(m, sizeof(m), "a majority (%d)", maj);
        struct ha_risk *k = add_risk(
            l->r, HA_SENTINEL_HOST_LOSS, sn->pos, change,
            "losing host %s (%zu of %zu sentinels) leaves %zu: fewer than %s%s%s: no failover "
            "can be authorised", l->h.label[hi], on, n, left, q,
            below_q && below_m ? " and fewer than " : "", m);
        risk_add_host(k, l->h.label[hi]);
        free(change);
    }
}

static void rule_down_after(struct lint *l)
{
    const struct spec_sentinel *sn = &l->s->sentinel;
    if (sn->down_after_ms >= HA_MIN_DOWN_AFTER_MS)
        return;
    struct ha_risk *k = add_risk(l->r, HA_DOWN_AFTER_LOW, sn->pos,
             "set sentinel.down_after_ms to 2000 or more (5000 is the default)",
             "sentinel.down_after_ms %ld is below %d: with 1000 ms, 5 of 19 measured failovers "
             "were followed by a spurious second one, once back to a stale old master",
             sn->down_after_ms, HA_MIN_DOWN_AFTER_MS);
    add_sentinel_hosts(l, k);
}

static void rule_failover_timeout(struct lint *l)
{
    const struct spec *s = l->s;
    struct ha_report *r = l->r;
    r->sync_bytes = -1;
    for (size_t i = 0; l->obs && i < s->nshards; i++) {
        if (l->obs->shards[i].used_memory > r->sync_bytes) {
            r->sync_bytes = l->obs->shards[i].used_memory;
            r->sync_source = "used_memory";
            r->sync_shard = s->shards[i].name;
        }
    }
    for (size_t i = 0; r->sync_bytes < 0 && i < s->nredis_config; i++) {
        if (str_ieq(s->redis_config[i].key, "maxmemory")) {
            long long b = ha_parse_memory(s->redis_config[i].value);
            if (b > 0) {
                r->sync_bytes = b;
                r->sync_source = "maxmemory";
            }
        }
    }
    if (r->sync_bytes < 0)
        return;
    r->sync_ms = r->sync_bytes * 1000 / HA_SYNC_BYTES_PER_SEC;
    if (s->sentinel.failover_timeout_ms >= r->sync_ms)
        return;
    char size[32], *what, *change;
    human_size(size, sizeof(size), r->sync_bytes);
    if (r->sync_shard)
        what = xasprintf("the largest shard (%s, %s of used_memory observed)", r->sync_shard, size);
    else
        what = xasprintf("a shard at maxmemory (%s)", size);
    long long want = (r->sync_ms * 2 + 999) / 1000 * 1000;
    change = xasprintf("set sentinel.failover_timeout_ms to at least %lld (twice the estimate)",
                       want);
    struct ha_risk *k = add_risk(r, HA_FAILOVER_TIMEOUT_SHORT, s->sentinel.pos, change,
             "sentinel.failover_timeout_ms %ld is shorter than a full sync of %s could take: "
             "about %lld ms at an assumed %lld MB/s (BGSAVE, transfer and load)",
             s->sentinel.failover_timeout_ms, what, r->sync_ms, HA_SYNC_BYTES_PER_SEC / 1000000);
    add_sentinel_hosts(l, k);
    free(what);
    free(change);
}

static void rule_shard_one_host(struct lint *l)
{
    for (size_t i = 0; i < l->s->nshards; i++) {
        const struct spec_shard *sh = &l->s->shards[i];
        bool apart = false;
        for (size_t k = 1; k <= sh->nreplicas && !apart; k++)
            apart = !str_eq(sh->replicas[k - 1].ip, sh->master.ip);
        if (apart)
            continue;
        const char *host = host_label(&l->h, sh->master.ip);
        struct ha_risk *k;
        if (sh->nreplicas == 0)
            k = add_risk(l->r, HA_SHARD_ONE_HOST, sh->pos, "add a replica on another host",
                         "shard %s has no replica: losing host %s loses the shard", sh->name,
                         host);
        else
            k = add_risk(l->r, HA_SHARD_ONE_HOST, sh->pos, "move a replica to another host",
                         "shard %s has its master and %s on host %s: losing %s loses the "
                         "shard", sh->name, sh->nreplicas == 1 ? "its replica" : "every replica",
                         host, host);
        risk_add_host(k, host);
    }
}

/* the label of a replica of shard i on a host holding no master, or NULL */
static const struct spec_addr *free_replica(struct lint *l, size_t i)
{
    const struct spec_shard *sh = &l->s->shards[i];
    for (size_t m = 0; m < 1 + sh->nreplicas; m++) {
        if (m == l->master_member[i])
            continue;
        const struct spec_addr *a = member(sh, m);
        size_t hi = host_index(&l->h, a->ip, NULL);
        bool busy = false;
        for (size_t j = 0; j < l->s->nshards && !busy; j++)
            busy = l->master_host[j] == hi;
        if (!busy)
            return a;
    }
    return NULL;
}

static void rule_masters_one_host(struct lint *l)
{
    const struct spec *s = l->s;
    size_t *shards = xcalloc(s->nshards ? s->nshards : 1, sizeof(*shards));
    for (size_t hi = 0; hi < l->h.n; hi++) {
        size_t n = 0;
        for (size_t i = 0; i < s->nshards; i++)
            if (l->master_host[i] == hi)
                shards[n++] = i;
        if (n < 2)
            continue;
        struct strbuf names = {0}, change = {0};
        for (size_t j = 0; j < n; j++)
            sb_addf(&names, "%s%s", j ? ", " : "", s->shards[shards[j]].name);
        /* keep the first master there, move the others */
        for (size_t j = 1; j < n; j++) {
            size_t i = shards[j];
            const struct spec_addr *to = free_replica(l, i);
            if (change.len)
                sb_add(&change, "; ");
            if (to)
                sb_addf(&change, "rmgr failover -f SPEC %s --to %s:%d", s->shards[i].name,
                        to->ip, to->port);
            else
                sb_addf(&change, "give shard %s a replica on a host without a master, then "
                        "fail over to it", s->shards[i].name);
        }
        const char *from = strcmp(l->r->masters_from, "spec") ? "masters as Sentinel reports them"
                                                              : "the spec's bootstrap masters";
        char *text = xasprintf("spread the masters over hosts: %s%s", sb_str(&change),
                               strcmp(l->r->masters_from, "spec")
                                   ? ""
                                   : " (before the first apply: swap master and replica in "
                                     "the spec)");
        struct ha_risk *k = add_risk(
            l->r, HA_MASTERS_ONE_HOST, s->shards[shards[1]].pos, text,
            "losing host %s takes the masters of %zu shards at once (%s; %s): all of "
            "them fail over together and writes to them fail until each one has",
            l->h.label[hi], n, sb_str(&names), from);
        risk_add_host(k, l->h.label[hi]);
        free(text);
        sb_release(&names);
        sb_release(&change);
    }
    free(shards);
}

static void rule_proxies_one_host(struct lint *l)
{
    const struct spec *s = l->s;
    if (s->nproxies == 0)
        return;
    for (size_t i = 1; i < s->nproxies; i++)
        if (!str_eq(s->proxies[i].host_ip, s->proxies[0].host_ip))
            return;
    const char *host = host_label(&l->h, s->proxies[0].host_ip);
    struct ha_risk *k = add_risk(
        l->r, HA_PROXIES_ONE_HOST, s->proxies[0].pos,
        "add a proxy on another host and give clients both addresses",
        s->nproxies == 1 ? "the only proxy runs on host %s: losing %s cuts every client off "
                           "from every shard"
                         : "every proxy runs on host %s: losing %s cuts every client off from "
                           "every shard",
        host, host);
    risk_add_host(k, host);
}

static void rule_proxy_with_only_replica(struct lint *l)
{
    const struct spec *s = l->s;
    for (size_t p = 0; p < s->nproxies; p++) {
        const struct spec_proxy *px = &s->proxies[p];
        bool seen = false; /* an earlier proxy on the same host said it already */
        for (size_t q = 0; q < p && !seen; q++)
            seen = str_eq(s->proxies[q].host_ip, px->host_ip);
        if (seen)
            continue;
        for (size_t i = 0; i < s->nshards; i++) {
            const struct spec_shard *sh = &s->shards[i];
            if (sh->nreplicas != 1)
                continue; /* 1 + replicas members: one replica today */
            size_t rep = l->master_member[i] == 1 ? 0 : 1;
            if (l->master_member[i] != 0 && l->master_member[i] != 1)
                continue; /* a master outside the spec: no single replica to name */
            const struct spec_addr *a = member(sh, rep);
            if (!str_eq(a->ip, px->host_ip))
                continue;
            const char *host = host_label(&l->h, px->host_ip);
            char *change = xasprintf("move the proxy to a host without a shard's only replica, "
                                     "or give shard %s a second replica", sh->name);
            struct ha_risk *k = add_risk(
                l->r, HA_PROXY_WITH_ONLY_REPLICA, px->pos, change,
                "proxy %s:%d runs on host %s, beside shard %s's only replica %s:%d: losing %s "
                "takes a proxy and the shard's redundancy at once",
                px->listen.ip, px->listen.port, host, sh->name, a->ip, a->port, host);
            risk_add_host(k, host);
            free(change);
        }
    }
}

void ha_lint(const struct spec *s, const struct ha_observed *obs, struct ha_report *out)
{
    struct lint l = {.s = s, .obs = obs, .r = out};
    out->file = s->file;
    out->cluster = s->cluster;
    out->sync_bytes = -1;
    hosts_collect(&l.h, s);

    /* today's master of each shard: Sentinel's word with --observe, else the spec's */
    size_t nsh = s->nshards ? s->nshards : 1, from_sentinel = 0;
    l.master_host = xcalloc(nsh, sizeof(*l.master_host));
    l.master_member = xcalloc(nsh, sizeof(*l.master_member));
    out->masters = xcalloc(nsh, sizeof(*out->masters));
    out->nmasters = s->nshards;
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_shard *sh = &s->shards[i];
        const char *ip = sh->master.ip;
        int port = sh->master.port;
        bool told = obs && i < obs->nshards && obs->shards[i].master_ip;
        if (told) {
            ip = obs->shards[i].master_ip;
            port = obs->shards[i].master_port;
            from_sentinel++;
        }
        out->masters[i].shard = sh->name;
        out->masters[i].address = strchr(ip, ':') ? xasprintf("[%s]:%d", ip, port)
                                                  : xasprintf("%s:%d", ip, port);
        out->masters[i].from_sentinel = told;
        l.master_member[i] = SIZE_MAX;
        for (size_t k = 0; k < 1 + sh->nreplicas; k++)
            if (member(sh, k)->port == port && str_eq(member(sh, k)->ip, ip))
                l.master_member[i] = k;
        l.master_host[i] = host_index(&l.h, ip, NULL);
    }
    out->masters_from = from_sentinel == 0                ? "spec"
                        : from_sentinel == s->nshards ? "sentinel"
                                                      : "sentinel+spec";

    rule_sentinel_count(&l);
    rule_quorum(&l);
    rule_sentinel_host_loss(&l);
    rule_down_after(&l);
    rule_failover_timeout(&l);
    rule_shard_one_host(&l);
    rule_masters_one_host(&l);
    rule_proxies_one_host(&l);
    rule_proxy_with_only_replica(&l);

    free(l.master_host);
    free(l.master_member);
    hosts_release(&l.h);
}

/* ---------------------------------------------------------------- rendering */

static const char *masters_from_text(const char *from)
{
    if (!strcmp(from, "sentinel"))
        return "masters as Sentinel reports them";
    if (!strcmp(from, "spec"))
        return "masters from the spec";
    return "masters as Sentinel reports them, the spec's where no sentinel answered";
}

void ha_render_text(const struct ha_report *r, struct strbuf *out)
{
    if (r->nrisks)
        sb_addf(out, "%s: cluster '%s': %zu HA risk%s (%s)\n", r->file, r->cluster, r->nrisks,
                r->nrisks == 1 ? "" : "s", masters_from_text(r->masters_from));
    else
        sb_addf(out, "%s: cluster '%s': no HA risk found (%s)\n", r->file, r->cluster,
                masters_from_text(r->masters_from));
    for (size_t i = 0; i < r->nrisks; i++) {
        const struct ha_risk *k = &r->risks[i];
        sb_addf(out, "%s:%d:%d: risk: %s: %s\n", r->file, k->pos.line, k->pos.col,
                ha_risk_kind_name(k->kind), k->message);
        for (size_t h = 0; h < k->hosts.n; h++)
            sb_addf(out, "%s%s", h ? ", " : "  hosts: ", k->hosts.v[h]);
        sb_addf(out, "%s  change: %s\n", k->hosts.n ? "\n" : "", k->change);
    }
    bool short_timeout = false;
    for (size_t i = 0; i < r->nrisks; i++)
        short_timeout |= r->risks[i].kind == HA_FAILOVER_TIMEOUT_SHORT;
    if (r->sync_bytes >= 0 && !short_timeout)
        sb_addf(out, "%s: note: a full sync of %s (%lld bytes) estimated at %lld ms at an assumed "
                "%lld MB/s: within failover_timeout_ms\n", r->file,
                r->sync_shard ? r->sync_shard : "a shard at maxmemory", r->sync_bytes, r->sync_ms,
                HA_SYNC_BYTES_PER_SEC / 1000000);
    if (r->sync_bytes < 0)
        sb_addf(out, "%s: note: failover_timeout_ms not checked against a full sync: no "
                "maxmemory in redis.config%s\n", r->file,
                strcmp(r->masters_from, "spec") ? " and no used_memory observed"
                                                : " (--observe reads used_memory)");
}

char *ha_render_json(const struct ha_report *const *r, size_t n)
{
    json_t *root = json_object(), *clusters = json_array();
    size_t total = 0;
    for (size_t c = 0; c < n; c++) {
        json_t *cl = json_object(), *risks = json_array();
        json_object_set_new(cl, "file", json_text(r[c]->file));
        json_object_set_new(cl, "cluster", json_text(r[c]->cluster));
        json_object_set_new(cl, "masters_from", json_text(r[c]->masters_from));
        json_t *masters = json_array();
        for (size_t i = 0; i < r[c]->nmasters; i++) {
            json_t *m = json_object();
            json_object_set_new(m, "shard", json_text(r[c]->masters[i].shard));
            json_object_set_new(m, "address", json_text(r[c]->masters[i].address));
            json_object_set_new(m, "from",
                                json_text(r[c]->masters[i].from_sentinel ? "sentinel" : "spec"));
            json_array_append_new(masters, m);
        }
        json_object_set_new(cl, "masters", masters);
        if (r[c]->sync_bytes >= 0) {
            json_t *sync = json_object();
            json_object_set_new(sync, "bytes", json_integer(r[c]->sync_bytes));
            json_object_set_new(sync, "source", json_text(r[c]->sync_source));
            json_object_set_new(sync, "shard", json_str_or_null(r[c]->sync_shard));
            json_object_set_new(sync, "assumed_bytes_per_sec", json_integer(HA_SYNC_BYTES_PER_SEC));
            json_object_set_new(sync, "estimate_ms", json_integer(r[c]->sync_ms));
            json_object_set_new(cl, "full_sync", sync);
        } else {
            json_object_set_new(cl, "full_sync", json_null());
        }
        for (size_t i = 0; i < r[c]->nrisks; i++) {
            const struct ha_risk *k = &r[c]->risks[i];
            json_t *o = json_object(), *hosts = json_array();
            json_object_set_new(o, "kind", json_text(ha_risk_kind_name(k->kind)));
            json_object_set_new(o, "line", json_integer(k->pos.line));
            json_object_set_new(o, "col", json_integer(k->pos.col));
            for (size_t h = 0; h < k->hosts.n; h++)
                json_array_append_new(hosts, json_text(k->hosts.v[h]));
            json_object_set_new(o, "hosts", hosts);
            json_object_set_new(o, "message", json_text(k->message));
            json_object_set_new(o, "change", json_text(k->change));
            json_array_append_new(risks, o);
        }
        total += r[c]->nrisks;
        json_object_set_new(cl, "risks", risks);
        json_array_append_new(clusters, cl);
    }
    json_object_set_new(root, "clusters", clusters);
    json_object_set_new(root, "risks", json_integer((json_int_t)total));
    return json_out_doc(root);
}
