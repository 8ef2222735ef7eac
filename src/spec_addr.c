/*
 * spec_addr.c - addresses in a spec: IP literals, "NAME:PORT" values,
 * resolution of names against hosts:, and one instance per ip:port. See
 * spec_load_impl.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "spec_load_impl.h"

/* ---- IP literals ---------------------------------------------------------- */

bool sl_is_ipv4(const char *s)
{
    unsigned char buf[4];
    return inet_pton(AF_INET, s, buf) == 1;
}

bool sl_is_ipv6(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET6, s, buf) == 1;
}

bool sl_is_ip(const char *s)
{
    return sl_is_ipv4(s) || sl_is_ipv6(s);
}

/*
 * The one spelling of an IP literal (inet_ntop of inet_pton), so that [::1] and
 * [0:0:0:0:0:0:0:1] are the same address; a copy of `s` when it is no IP.
 */
char *sl_canonical_ip(const char *s)
{
    unsigned char buf[16];
    char out[INET6_ADDRSTRLEN];
    int af = inet_pton(AF_INET, s, buf) == 1 ? AF_INET : AF_INET6;
    if ((af == AF_INET6 && inet_pton(AF_INET6, s, buf) != 1) ||
        !inet_ntop(af, buf, out, sizeof(out)))
        return xstrdup(s);
    return xstrdup(out);
}

/* Digits and dots alone ("300.1.1.1", "10.0.0", "7") read as an IPv4 address, never as a name. */
bool sl_dotted_digits(const char *s)
{
    return *s && strspn(s, "0123456789.") == strlen(s);
}

bool sl_is_loopback_or_any(const char *ip)
{
    return str_starts_with(ip, "127.") || !strcmp(ip, "0.0.0.0") || !strcmp(ip, "::1") ||
           !strcmp(ip, "::");
}

/* "a.b.c.d:port" or "[v6]:port" */
char *sl_format_addr(const char *ip, int port)
{
    return strchr(ip, ':') ? xasprintf("[%s]:%d", ip, port) : xasprintf("%s:%d", ip, port);
}

/* ---- NAME:PORT values -------------------------------------------------------- */

/* Parse "NAME:PORT", "IP:PORT" or "[IPv6]:PORT"; the ip is resolved later. */
static bool parse_addr(struct loader *L, const struct ynode *v, struct spec_addr *a)
{
    const char *s = sl_get_string(L, v);
    if (!s)
        return false;
    const char *colon = strrchr(s, ':');
    char *host = NULL;
    bool ok = false;
    if (s[0] == '[') { /* only an IPv6 address goes in brackets */
        const char *close = strchr(s, ']');
        if (close && close[1] == ':' && close + 1 == colon) {
            host = xstrndup(s + 1, (size_t)(close - s - 1));
            ok = sl_is_ipv6(host);
        }
    } else if (colon && colon > s && !memchr(s, ':', (size_t)(colon - s))) {
        host = xstrndup(s, (size_t)(colon - s));
        ok = sl_is_ipv4(host) || sl_valid_name(host);
    }
    bool digits = colon && colon[1];
    for (const char *c = colon ? colon + 1 : ""; *c; c++)
        digits = digits && isdigit((unsigned char)*c);
    if (!ok || !digits) {
        sl_error_at(L, v, "bad address '%s' for '%s': expected NAME:PORT or IP:PORT", s, sl_path(L));
        free(host);
        return false;
    }
    if (sl_dotted_digits(host) && !sl_is_ipv4(host)) {
        sl_error_at(L, v, "'%s' is not a valid IP address", host);
        free(host);
        return false;
    }
    long port;
    if (colon[1] == '0' && colon[2]) { /* the schema's pattern has no leading zeros either */
        sl_error_at(L, v, "port %s in '%s' has a leading zero", colon + 1, s);
        free(host);
        return false;
    }
    if (!parse_long(colon + 1, 1, 65535, &port)) {
        sl_error_at(L, v, "port %s in '%s' is out of range 1..65535", colon + 1, s);
        free(host);
        return false;
    }
    free(a->host);
    a->host = sl_is_ip(host) ? sl_canonical_ip(host) : xstrdup(host);
    free(host);
    a->port = (int)port;
    a->pos = sl_pos(L, v);
    return true;
}

void sl_set_addr(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    parse_addr(L, v, AT(obj, f, struct spec_addr));
}

/* A sequence of addresses into a (struct spec_addr *, size_t) pair at f->off. */
static void load_addr_list(struct loader *L, const struct ynode *v, struct spec_addr **out,
                           size_t *nout)
{
    if (!sl_expect_kind(L, v, YNODE_SEQ))
        return;
    struct spec_addr *arr = xcalloc(v->nitems ? v->nitems : 1, sizeof(*arr));
    size_t n = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        size_t old = sl_path_push_index(L, i);
        if (parse_addr(L, v->items[i], &arr[n]))
            n++;
        sl_path_pop(L, old);
    }
    *out = arr;
    *nout = n;
}

void sl_set_replicas(struct loader *L, const struct field *f, const struct ynode *v,
                         void *obj)
{
    (void)f;
    struct spec_shard *sh = obj;
    load_addr_list(L, v, &sh->replicas, &sh->nreplicas);
}

void sl_set_sentinel_nodes(struct loader *L, const struct field *f, const struct ynode *v,
                               void *obj)
{
    (void)f;
    struct spec_sentinel *se = obj;
    load_addr_list(L, v, &se->nodes, &se->nnodes);
    if (v->kind == YNODE_SEQ && v->nitems == 0)
        sl_error_at(L, v, "'%s' must list at least one sentinel", sl_path(L));
}

/* ---- resolution and uniqueness ---------------------------------------------- */

static int host_cmp(const void *a, const void *b)
{
    const struct spec_host *x = a;
    const struct spec_host *const *y = b;
    return strcmp(x->name, (*y)->name);
}

static int host_ptr_cmp(const void *a, const void *b)
{
    return strcmp((*(const struct spec_host *const *)a)->name,
                  (*(const struct spec_host *const *)b)->name);
}

/* Find the IP for a name or IP literal; reports and returns NULL when unknown. */
static const char *resolve_host(struct loader *L, const char *host, struct spec_pos pos,
                                bool *known_bad)
{
    const struct spec_host *h = NULL;
    if (L->s->nhosts) {
        struct spec_host key = {.name = (char *)host};
        const struct spec_host **found =
            bsearch(&key, L->host_index, L->s->nhosts, sizeof(*L->host_index), host_cmp);
        h = found ? *found : NULL;
    }
    *known_bad = false;
    if (h) {
        *known_bad = !h->address; /* its own error is already reported */
        return h->address;
    }
    if (sl_is_ip(host))
        return host;
    const char **names = xcalloc(L->s->nhosts + 1, sizeof(*names));
    for (size_t i = 0; i < L->s->nhosts; i++)
        names[i] = L->s->hosts[i].name;
    /* a suggestion costs an edit distance per host: bound the hosts and the searches */
    const char *sug = NULL;
    if (L->s->nhosts <= 256 && L->suggestions++ < SPEC_MAX_ERRORS)
        sug = sl_suggest(host, names, L->s->nhosts);
    if (sug)
        sl_error_pos(L, pos, "undefined host '%s' (did you mean '%s'?)", host, sug);
    else
        sl_error_pos(L, pos, "undefined host '%s': define it under hosts: or use an IP address",
                  host);
    free(names);
    return NULL;
}

static void resolve_addr(struct loader *L, struct spec_addr *a)
{
    bool bad;
    if (!a->host || L->stopped)
        return;
    const char *ip = resolve_host(L, a->host, a->pos, &bad);
    if (ip)
        a->ip = xstrdup(ip);
}

struct use {
    const char *ip;
    int port;
    struct spec_pos pos;
    char *what;
};

static int use_cmp(const void *a, const void *b)
{
    const struct use *x = a, *y = b;
    int c = strcmp(x->ip, y->ip);
    if (c)
        return c;
    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    if (x->pos.line != y->pos.line)
        return x->pos.line < y->pos.line ? -1 : 1;
    return x->pos.col < y->pos.col ? -1 : x->pos.col > y->pos.col;
}

static void add_use(struct use **v, size_t *n, size_t *cap, const char *ip, int port,
                    struct spec_pos pos, char *what)
{
    if (!ip || !port) {
        free(what);
        return;
    }
    VEC_GROW(*v, *n, *cap);
    (*v)[(*n)++] = (struct use){ip, port, pos, what};
}

/* Every ip:port is bound by exactly one instance, across all roles. */
void sl_check_addresses(struct loader *L)
{
    struct spec *s = L->s;
    struct use *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_shard *sh = &s->shards[i];
        const char *nm = sh->name ? sh->name : "?";
        add_use(&v, &n, &cap, sh->master.ip, sh->master.port, sh->master.pos,
                xasprintf("master of shard '%s'", nm));
        for (size_t j = 0; j < sh->nreplicas; j++)
            add_use(&v, &n, &cap, sh->replicas[j].ip, sh->replicas[j].port, sh->replicas[j].pos,
                    xasprintf("replica of shard '%s'", nm));
    }
    for (size_t i = 0; i < s->sentinel.nnodes; i++)
        add_use(&v, &n, &cap, s->sentinel.nodes[i].ip, s->sentinel.nodes[i].port,
                s->sentinel.nodes[i].pos, xstrdup("a sentinel"));
    for (size_t i = 0; i < s->nproxies; i++) {
        const struct spec_proxy *p = &s->proxies[i];
        if (!p->host_ip)
            continue;
        /* a loopback or wildcard listen address is bound on the proxy's own host */
        const char *lip = p->listen.ip && sl_is_loopback_or_any(p->listen.ip) ? p->host_ip
                                                                          : p->listen.ip;
        add_use(&v, &n, &cap, lip, p->listen.port, p->listen.pos,
                xasprintf("the listen address of proxy %zu", i + 1));
        add_use(&v, &n, &cap, p->host_ip, p->stats_port, L->stats_pos[i],
                xasprintf("the stats port of proxy %zu", i + 1));
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), use_cmp);
    size_t first = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(v[i].ip, v[first].ip) || v[i].port != v[first].port) {
            first = i;
            continue;
        }
        char *a = sl_format_addr(v[i].ip, v[i].port);
        sl_error_pos(L, v[i].pos, "address %s is used twice (first by %s at line %d)", a,
                  v[first].what, v[first].pos.line);
        free(a);
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].what);
    free(v);
}

void sl_resolve_all(struct loader *L)
{
    struct spec *s = L->s;
    L->host_index = xcalloc(s->nhosts ? s->nhosts : 1, sizeof(*L->host_index));
    for (size_t i = 0; i < s->nhosts; i++)
        L->host_index[i] = &s->hosts[i];
    if (s->nhosts > 1)
        qsort(L->host_index, s->nhosts, sizeof(*L->host_index), host_ptr_cmp);
    for (size_t i = 0; i < s->nshards; i++) {
        resolve_addr(L, &s->shards[i].master);
        for (size_t j = 0; j < s->shards[i].nreplicas; j++)
            resolve_addr(L, &s->shards[i].replicas[j]);
    }
    for (size_t i = 0; i < s->sentinel.nnodes; i++)
        resolve_addr(L, &s->sentinel.nodes[i]);
    for (size_t i = 0; i < s->nproxies; i++) {
        struct spec_proxy *p = &s->proxies[i];
        resolve_addr(L, &p->listen);
        if (p->host && !L->stopped) {
            bool bad;
            const char *ip = resolve_host(L, p->host, p->pos, &bad);
            p->host_ip = xstrdup(ip);
        }
    }
}
