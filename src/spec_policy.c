/*
 * spec_policy.c - judge a proposed spec against the trusted one and an
 * allow-list of host addresses. Pure. See spec_policy.h.
 */
#include "spec_policy.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "spec_load_impl.h" /* sl_is_loopback_or_any */
#include "util.h"
#include "yaml_tree.h"

/* ---- the allow-list ------------------------------------------------------- */

/* Parse "IP" or "IP/PREFIX" into *n. 0, or -1. */
static int parse_net(const char *s, struct allow_net *n)
{
    char buf[128];
    size_t len = strlen(s);
    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len + 1);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        if (!slash[1] || slash[1] < '0' || slash[1] > '9')
            return -1;
        prefix = strtol(slash + 1, &end, 10);
        if (*end)
            return -1;
    }
    memset(n, 0, sizeof(*n));
    if (inet_pton(AF_INET, buf, n->addr) == 1) {
        n->af = AF_INET;
        if (prefix > 32)
            return -1;
        n->prefix = prefix < 0 ? 32 : (int)prefix;
    } else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
        n->af = AF_INET6;
        if (prefix > 128)
            return -1;
        n->prefix = prefix < 0 ? 128 : (int)prefix;
    } else {
        return -1;
    }
    return 0;
}

size_t allow_list_parse(const char *name, const char *data, size_t len, struct allow_list *out,
                        struct diags *d)
{
    memset(out, 0, sizeof(*out));
    out->name = xstrdup(name);
    size_t errors = 0;
    int lineno = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && data[e] != '\n')
            e++;
        lineno++;
        bool has_nul = memchr(data + i, '\0', e - i) != NULL;
        char *line = xstrndup(data + i, e - i);
        i = e + 1;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        char *q = p + strlen(p);
        while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\r'))
            *--q = '\0';
        if (*p) {
            struct allow_net n;
            if (has_nul || parse_net(p, &n) < 0) {
                diags_add(d, DIAG_ERROR, name, lineno, (int)(p - line) + 1,
                          "'%s' is not an IP address or network (10.0.0.5, 10.0.0.0/24, fd00::/8)",
                          p);
                errors++;
            } else {
                VEC_GROW(out->v, out->n, out->cap);
                out->v[out->n++] = n;
            }
        }
        free(line);
    }
    return errors;
}

static bool net_has(const struct allow_net *n, int af, const unsigned char *a)
{
    if (n->af != af)
        return false;
    int full = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(n->addr, a, (size_t)full))
        return false;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (n->addr[full] & mask) == (a[full] & mask);
}

bool allow_list_has(const struct allow_list *a, const char *ip)
{
    unsigned char buf[16];
    int af;
    if (!a || !ip)
        return false;
    if (inet_pton(AF_INET, ip, buf) == 1)
        af = AF_INET;
    else if (inet_pton(AF_INET6, ip, buf) == 1)
        af = AF_INET6;
    else
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (net_has(&a->v[i], af, buf))
            return true;
    return false;
}

void allow_list_release(struct allow_list *a)
{
    if (!a)
        return;
    free(a->name);
    free(a->v);
    memset(a, 0, sizeof(*a));
}

/* ---- where a field is written ---------------------------------------------- */

/*
 * The key node of keys[0..n-1] in the document, or of the deepest prefix of
 * them that is written; *exact says whether the whole path is. NULL when
 * not even keys[0] is.
 */
static const struct ynode *ylookup(const struct ynode *root, const char *const *keys, size_t n,
                                   bool *exact)
{
    const struct ynode *map = root, *found = NULL;
    *exact = false;
    for (size_t i = 0; i < n; i++) {
        const struct ynode *k = ynode_get_key(map, keys[i]);
        if (!k)
            return found;
        found = k;
        map = ynode_get(map, keys[i]);
    }
    *exact = true;
    return found;
}

struct side {
    const struct spec *s;
    struct ynode *root; /* NULL when the source does not parse (it did once: it loaded) */
};

static void side_open(struct side *sd, const struct spec *s)
{
    struct diags d = {0};
    const struct ytree_limits lim = {SPEC_MAX_NODES, SPEC_MAX_DEPTH, 1};
    sd->s = s;
    sd->root = s && s->source ? ytree_parse(s->file ? s->file : "spec", s->source,
                                            s->source_len, &lim, &d)
                              : NULL;
    diags_release(&d);
}

/* ---- the endpoints a spec connects to --------------------------------------- */

struct ep {
    const char *kind; /* "redis", "sentinel", "proxy", "proxy stats", "ssh" */
    char *label;      /* "shards[0].master", "hosts.h1 (ssh)" */
    const char *ip;
    int port;
    int line, col;
};

struct eps {
    struct ep *v;
    size_t n, cap;
};

static void eps_add(struct eps *e, const char *kind, char *label, const char *ip, int port,
                    struct spec_pos pos)
{
    VEC_GROW(e->v, e->n, e->cap);
    e->v[e->n++] = (struct ep){kind, label, ip, port, pos.line, pos.col};
}

/* ssh to the host of an instance on `host` (a hosts: name or an IP), once per address:port */
static void eps_add_ssh(struct eps *e, const struct spec *s, const char *host, const char *ip,
                        struct spec_pos pos)
{
    if (!host || spec_host_transport(s, host) != TRANSPORT_SSH)
        return;
    const struct spec_host *h = spec_find_host(s, host);
    const struct spec_ssh *ssh = spec_host_ssh(s, host);
    const char *addr = h && h->address ? h->address : ip;
    int port = ssh ? ssh->port : 22;
    if (!addr)
        return;
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->v[i].kind, "ssh") && str_eq(e->v[i].ip, addr) && e->v[i].port == port)
            return;
    eps_add(e, "ssh", h ? xasprintf("hosts.%s (ssh)", host) : xasprintf("ssh to %s", host), addr,
            port, h ? h->pos : pos);
}

static void eps_collect(struct eps *e, const struct spec *s)
{
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_shard *sh = &s->shards[i];
        eps_add(e, "redis", xasprintf("shards[%zu].master", i), sh->master.ip, sh->master.port,
                sh->master.pos);
        for (size_t k = 0; k < sh->nreplicas; k++)
            eps_add(e, "redis", xasprintf("shards[%zu].replicas[%zu]", i, k), sh->replicas[k].ip,
                    sh->replicas[k].port, sh->replicas[k].pos);
    }
    for (size_t i = 0; i < s->sentinel.nnodes; i++)
        eps_add(e, "sentinel", xasprintf("sentinel.nodes[%zu]", i), s->sentinel.nodes[i].ip,
                s->sentinel.nodes[i].port, s->sentinel.nodes[i].pos);
    for (size_t i = 0; i < s->nproxies; i++) {
        const struct spec_proxy *p = &s->proxies[i];
        /* a loopback or wildcard listen address is the proxy's host's (spec_addr.c) */
        const char *lip = p->listen.ip && sl_is_loopback_or_any(p->listen.ip) && p->host_ip
                              ? p->host_ip
                              : p->listen.ip;
        eps_add(e, "proxy", xasprintf("proxies[%zu].listen", i), lip, p->listen.port,
                p->listen.pos.line ? p->listen.pos : p->pos);
        eps_add(e, "proxy stats", xasprintf("proxies[%zu].stats_port", i), p->host_ip,
                p->stats_port, p->pos);
    }
    /* ssh to each host, after the instances */
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_shard *sh = &s->shards[i];
        eps_add_ssh(e, s, sh->master.host, sh->master.ip, sh->master.pos);
        for (size_t k = 0; k < sh->nreplicas; k++)
            eps_add_ssh(e, s, sh->replicas[k].host, sh->replicas[k].ip, sh->replicas[k].pos);
    }
    for (size_t i = 0; i < s->sentinel.nnodes; i++)
        eps_add_ssh(e, s, s->sentinel.nodes[i].host, s->sentinel.nodes[i].ip,
                    s->sentinel.nodes[i].pos);
    for (size_t i = 0; i < s->nproxies; i++)
        eps_add_ssh(e, s, s->proxies[i].host, s->proxies[i].host_ip, s->proxies[i].pos);
}

static void eps_release(struct eps *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].label);
    free(e->v);
    memset(e, 0, sizeof(*e));
}

static const struct ep *eps_find(const struct eps *e, const char *kind, const char *ip, int port)
{
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->v[i].kind, kind) && str_eq(e->v[i].ip, ip) && e->v[i].port == port)
            return &e->v[i];
    return NULL;
}

static const struct ep *eps_find_label(const struct eps *e, const char *label)
{
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->v[i].label, label))
            return &e->v[i];
    return NULL;
}

/* "10.0.0.1:7001", "[::1]:7001" */
static char *hostport(const char *ip, int port)
{
    return strchr(ip ? ip : "", ':') ? xasprintf("[%s]:%d", ip, port)
                                     : xasprintf("%s:%d", ip ? ip : "?", port);
}

/* ---- the check --------------------------------------------------------------- */

struct checker {
    const struct spec_policy *p;
    struct side prop, trust;
    struct diags *d;
    size_t refusals;
};

static void refuse(struct checker *c, int line, int col, const char *fmt, ...) RMGR_PRINTF(4, 5);
static void refuse(struct checker *c, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    diags_add(c->d, DIAG_ERROR, c->prop.s->file, line, col, "%s", msg);
    free(msg);
    c->refusals++;
}

/* " (origin/main:specs/prod.yaml:12)" or " (origin/main:specs/prod.yaml)" for a field of the trusted spec */
static char *trusted_at(const struct checker *c, const char *const *keys, size_t n)
{
    bool exact;
    const struct ynode *k = c->trust.root ? ylookup(c->trust.root, keys, n, &exact) : NULL;
    if (k && exact)
        return xasprintf("%s:%d", c->p->trusted_name, k->line);
    return xstrdup(c->p->trusted_name);
}

static const char *show(const char *v)
{
    return v ? v : "(not set)";
}

/*
 * Compare one setting: keys[0..n-1] is its path in the document (for the
 * line), `field` its name in messages. `inherited`: the proposed spec does
 * not write it (it comes from a default another check already judged), so
 * a difference is not reported twice.
 */
static void cmp_field(struct checker *c, const char *const *keys, size_t n, const char *field,
                      const char *prop, const char *trust)
{
    if (str_eq(prop, trust) || (!prop && !trust))
        return;
    bool exact;
    const struct ynode *k = c->prop.root ? ylookup(c->prop.root, keys, n, &exact) : NULL;
    int line = k ? k->line : c->prop.s->cluster_pos.line, col = k ? k->col : 0;
    char *at = trusted_at(c, keys, n);
    refuse(c, line, col,
           "%s is '%s' here but '%s' in the trusted spec (%s): --trusted-spec refuses a change "
           "of where rmgr connects or what it reads",
           field, show(prop), show(trust), at);
    free(at);
}

static void cmp_int(struct checker *c, const char *const *keys, size_t n, const char *field,
                    long prop, long trust)
{
    if (prop == trust)
        return;
    char a[32], b[32];
    snprintf(a, sizeof(a), "%ld", prop);
    snprintf(b, sizeof(b), "%ld", trust);
    cmp_field(c, keys, n, field, a, b);
}

static const char *transport_name(enum transport_kind t)
{
    return t == TRANSPORT_LOCAL ? "local" : "ssh";
}

static void cmp_ssh(struct checker *c, const char *prefix, const char *k0, const char *k1,
                    const struct spec_ssh *p, const struct spec_ssh *t, const struct spec_ssh *pdfl,
                    const struct spec_ssh *tdfl)
{
    static const char *const names[] = {"user", "port", "identity", "known_hosts"};
    for (size_t i = 0; i < 4; i++) {
        const char *keys[] = {k0, k1, "ssh", names[i]};
        size_t n = k1 ? 4 : 3;
        if (!k1) {
            keys[1] = "ssh";
            keys[2] = names[i];
        }
        /* a host that only inherits the default: the default's own check says it */
        if (pdfl) {
            bool exact;
            if (!c->prop.root || !ylookup(c->prop.root, keys, n, &exact) || !exact) {
                bool same_default;
                switch (i) {
                case 0: same_default = str_eq(pdfl->user, tdfl->user); break;
                case 1: same_default = pdfl->port == tdfl->port; break;
                case 2: same_default = str_eq(pdfl->identity, tdfl->identity) ||
                                       (!pdfl->identity && !tdfl->identity); break;
                default: same_default = str_eq(pdfl->known_hosts, tdfl->known_hosts); break;
                }
                if (!same_default)
                    continue;
            }
        }
        char *field = xasprintf("%s.ssh.%s", prefix, names[i]);
        if (i == 1)
            cmp_int(c, keys, n, field, p->port, t->port);
        else if (i == 0)
            cmp_field(c, keys, n, field, p->user, t->user);
        else if (i == 2)
            cmp_field(c, keys, n, field, p->identity, t->identity);
        else
            cmp_field(c, keys, n, field, p->known_hosts, t->known_hosts);
        free(field);
    }
}

static void check_settings(struct checker *c)
{
    const struct spec *p = c->prop.s, *t = c->trust.s;
    cmp_field(c, (const char *[]){"auth", "password_env"}, 2, "auth.password_env",
              p->auth.password_env, t->auth.password_env);
    cmp_field(c, (const char *[]){"auth", "password_file"}, 2, "auth.password_file",
              p->auth.password_file, t->auth.password_file);
    cmp_field(c, (const char *[]){"defaults", "base_dir"}, 2, "defaults.base_dir",
              p->defaults.base_dir, t->defaults.base_dir);
    cmp_field(c, (const char *[]){"defaults", "transport"}, 2, "defaults.transport",
              transport_name(p->defaults.transport), transport_name(t->defaults.transport));
    cmp_ssh(c, "defaults", "defaults", NULL, &p->defaults.ssh, &t->defaults.ssh, NULL, NULL);
    const struct spec_binaries *pb = &p->defaults.binaries, *tb = &t->defaults.binaries;
    cmp_field(c, (const char *[]){"defaults", "binaries", "redis_server"}, 3,
              "defaults.binaries.redis_server", pb->redis_server, tb->redis_server);
    cmp_field(c, (const char *[]){"defaults", "binaries", "redis_sentinel"}, 3,
              "defaults.binaries.redis_sentinel", pb->redis_sentinel, tb->redis_sentinel);
    cmp_field(c, (const char *[]){"defaults", "binaries", "nutcracker"}, 3,
              "defaults.binaries.nutcracker", pb->nutcracker, tb->nutcracker);
    cmp_field(c, (const char *[]){"defaults", "binaries", "ship"}, 3, "defaults.binaries.ship",
              pb->ship ? "true" : "false", tb->ship ? "true" : "false");

    for (size_t i = 0; i < p->nhosts; i++) {
        const struct spec_host *h = &p->hosts[i];
        const struct spec_host *th = spec_find_host(t, h->name);
        char *prefix = xasprintf("hosts.%s", h->name);
        if (!th) {
            /* a host new in the pull request: its address is judged with the endpoints;
             * what it would inherit must be what the trusted spec's hosts inherit */
            bool exact;
            const char *keys[] = {"hosts", h->name, "transport"};
            const struct ynode *k = c->prop.root ? ylookup(c->prop.root, keys, 3, &exact) : NULL;
            if (k && exact) {
                char *field = xasprintf("%s.transport", prefix);
                cmp_field(c, keys, 3, field, transport_name(h->transport),
                          transport_name(t->defaults.transport));
                free(field);
            }
            cmp_ssh(c, prefix, "hosts", h->name, &h->ssh, &t->defaults.ssh, &p->defaults.ssh,
                    &t->defaults.ssh);
            free(prefix);
            continue;
        }
        bool addr_ok = str_eq(h->address, th->address) ||
                       (c->p->allow && allow_list_has(c->p->allow, h->address));
        if (!addr_ok) {
            char *field = xasprintf("%s.address", prefix);
            cmp_field(c, (const char *[]){"hosts", h->name, "address"}, 3, field, h->address,
                      th->address);
            free(field);
        }
        if (h->transport != th->transport) {
            char *field = xasprintf("%s.transport", prefix);
            bool exact;
            const char *keys[] = {"hosts", h->name, "transport"};
            const struct ynode *k = c->prop.root ? ylookup(c->prop.root, keys, 3, &exact) : NULL;
            /* inherited from defaults.transport, which said it already */
            if ((k && exact) || p->defaults.transport == t->defaults.transport)
                cmp_field(c, keys, 3, field, transport_name(h->transport),
                          transport_name(th->transport));
            free(field);
        }
        cmp_ssh(c, prefix, "hosts", h->name, &h->ssh, &th->ssh, &p->defaults.ssh,
                &t->defaults.ssh);
        free(prefix);
    }
}

static void check_endpoints(struct checker *c, const struct eps *prop, const struct eps *trust)
{
    const struct spec_policy *p = c->p;
    for (size_t i = 0; i < prop->n; i++) {
        const struct ep *e = &prop->v[i];
        bool allowed = p->allow && allow_list_has(p->allow, e->ip);
        char *hp = hostport(e->ip, e->port);
        if (p->allow && !allowed) {
            refuse(c, e->line, e->col,
                   "%s: %s (%s) is not in the allow-list '%s' (--allow-hosts): rmgr connects "
                   "only to listed hosts",
                   e->label, hp, e->kind, p->allow->name);
        } else if (p->trusted_mode && p->trusted && !allowed &&
                   !eps_find(trust, e->kind, e->ip, e->port)) {
            const struct ep *was = eps_find_label(trust, e->label);
            char *old = was ? hostport(was->ip, was->port) : NULL;
            if (old)
                refuse(c, e->line, e->col,
                       "%s is %s here but %s in the trusted spec (%s:%d): --trusted-spec "
                       "refuses an address the trusted spec does not connect to",
                       e->label, hp, old, p->trusted_name, was->line);
            else
                refuse(c, e->line, e->col,
                       "%s: %s (%s) is not an address of the trusted spec (%s): --trusted-spec "
                       "refuses an address the trusted spec does not connect to",
                       e->label, hp, e->kind, p->trusted_name);
            free(old);
        }
        free(hp);
    }
}

size_t spec_policy_check(const struct spec *proposed, const struct spec_policy *p,
                         struct diags *d)
{
    if (!p->trusted_mode && !p->allow)
        return 0;
    struct checker c = {.p = p, .d = d};
    side_open(&c.prop, proposed);
    side_open(&c.trust, p->trusted_mode ? p->trusted : NULL);
    struct eps prop = {0}, trust = {0};
    eps_collect(&prop, proposed);
    if (p->trusted)
        eps_collect(&trust, p->trusted);

    if (p->trusted_mode && !p->trusted && !p->allow)
        refuse(&c, proposed->cluster_pos.line, proposed->cluster_pos.col,
               "cluster '%s' is not in the trusted spec (%s): --trusted-spec refuses a new "
               "cluster unless every address it names is in --allow-hosts",
               proposed->cluster, p->trusted_ref ? p->trusted_ref : p->trusted_name);
    check_endpoints(&c, &prop, &trust);
    if (p->trusted_mode && p->trusted)
        check_settings(&c);

    eps_release(&prop);
    eps_release(&trust);
    ynode_free(c.prop.root);
    ynode_free(c.trust.root);
    return c.refusals;
}
