/*
 * convert_redismgr.c - a redis-mgr cluster dict as an rmgr spec
 * (convert_redismgr.h).
 *
 * What redis-mgr does that the spec has to say (read from its sources):
 * - `redis` is a flat list of master, slave, master, slave ...; an entry is
 *   'server-name:host:port:path' or a tuple ('host:port', path), whose
 *   server name is '<cluster_name>-<port of the pair's master>';
 * - `migration` entries 'old=>new' replace redis entries, in order;
 * - every sentinel monitors each master with quorum 2, down-after 60000,
 *   failover-timeout 180000, parallel-syncs 1;
 * - nutcracker listens on 0.0.0.0:<port>, stats on <port>+1000, with
 *   hash fnv1a_64, distribution modula, timeout 400, server_retry_timeout
 *   2000, server_failure_limit 2, preconnect, no auto_eject_hosts;
 * - REDIS_MONITOR_EXTRA (module, then the cluster's own) bounds INFO fields
 *   of every redis instance, `_slowlog_per_sec` a derived one.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_redismgr.h"
#include "pylit.h"

struct inst {
    char *host;
    int port;
    char *path;
    int line, col;
};

struct cshard {
    char *name;
    struct inst master, replica;
};

struct conv {
    const char *file;
    struct diags *d;
    const struct convert_opts *o;
    const char *var; /* the cluster dict's variable */
    const struct py_value *dict;
    /* hosts as written, and their IPs */
    char **host, **ip;
    size_t nhosts;
    struct cshard *shards;
    size_t nshards;
    struct inst *sentinels, *proxies;
    size_t nsentinels, nproxies;
};

static void cerr(struct conv *c, const struct py_value *at, const char *fmt, ...) RMGR_PRINTF(3, 4);

static void cerr(struct conv *c, const struct py_value *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diags_vadd(c->d, DIAG_ERROR, c->file, at ? at->line : 0, at ? at->col : 0, fmt, ap);
    va_end(ap);
}

static void inst_release(struct inst *i)
{
    free(i->host);
    free(i->path);
}

static bool is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool is_loopback(const char *ip)
{
    return !strncmp(ip, "127.", 4) || !strcmp(ip, "::1");
}

/* "host:port" (the port after the last ':') into *out; false with an error at v */
static bool host_port(struct conv *c, const struct py_value *v, const char *hp, struct inst *out)
{
    const char *colon = strrchr(hp, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == hp || !colon[1] || *end || port < 1 || port > 65535) {
        cerr(c, v, "'%s' is not host:port", hp);
        return false;
    }
    out->host = xstrndup(hp, (size_t)(colon - hp));
    if (out->host[0] == '[' && out->host[strlen(out->host) - 1] == ']') {
        char *h = xstrndup(out->host + 1, strlen(out->host) - 2);
        free(out->host);
        out->host = h;
    }
    out->port = (int)port;
    out->line = v->line;
    out->col = v->col;
    return true;
}

/* ('host:port', path) into *out */
static bool tuple_inst(struct conv *c, const struct py_value *v, const char *what, struct inst *out)
{
    if ((v->type != PY_TUPLE && v->type != PY_LIST) || v->n != 2 || v->items[0]->type != PY_STR ||
        v->items[1]->type != PY_STR) {
        cerr(c, v, "%s: expected ('host:port', 'path'), not a %s", what, py_type_name(v->type));
        return false;
    }
    if (!host_port(c, v, v->items[0]->s, out))
        return false;
    out->path = xstrdup(v->items[1]->s);
    return true;
}

static const struct py_value *field(struct conv *c, const char *key, enum py_type t, bool required)
{
    const struct py_value *v = py_dict_get(c->dict, key);
    if (!v) {
        if (required)
            cerr(c, c->dict, "cluster '%s' has no '%s'", c->var, key);
        return NULL;
    }
    if (v->type != t && !(t == PY_LIST && v->type == PY_TUPLE)) {
        cerr(c, v, "'%s' must be a %s, not a %s", key, py_type_name(t), py_type_name(v->type));
        return NULL;
    }
    return v;
}

/* ---------------------------------------------------------------- reading */

/* The redis list as 'name:host:port:path' strings, migrations applied; NULL on an error. */
static char **redis_entries(struct conv *c, const struct py_value *list, const char *cluster_name,
                            const struct py_value ***where)
{
    char **e = xcalloc(list->n ? list->n : 1, sizeof(*e));
    *where = xcalloc(list->n ? list->n : 1, sizeof(**where));
    bool ok = true;
    for (size_t i = 0; i < list->n && ok; i++) {
        const struct py_value *v = list->items[i];
        (*where)[i] = v;
        if (v->type == PY_STR) {
            e[i] = xstrdup(v->s);
        } else {
            struct inst in = {0};
            ok = tuple_inst(c, v, "redis", &in);
            if (ok) {
                /* a slave takes its master's port for its name */
                int name_port = in.port;
                if (i % 2 == 1 && e[i - 1]) {
                    const char *p = strchr(e[i - 1], ':');
                    p = p ? strchr(p + 1, ':') : NULL;
                    name_port = p ? atoi(p + 1) : in.port;
                }
                e[i] = xasprintf("%s-%d:%s:%d:%s", cluster_name, name_port, in.host, in.port,
                                 in.path);
            }
            inst_release(&in);
        }
    }
    const struct py_value *mig = py_dict_get(c->dict, "migration");
    for (size_t m = 0; ok && mig && (mig->type == PY_LIST || mig->type == PY_TUPLE) && m < mig->n;
         m++) {
        const struct py_value *v = mig->items[m];
        const char *arrow = v->type == PY_STR ? strstr(v->s, "=>") : NULL;
        if (!arrow) {
            cerr(c, v, "migration: expected 'old=>new'");
            ok = false;
            break;
        }
        char *from = xstrndup(v->s, (size_t)(arrow - v->s));
        for (size_t i = 0; i < list->n; i++) {
            if (!strcmp(e[i], from)) {
                free(e[i]);
                e[i] = xstrdup(arrow + 2);
                (*where)[i] = v;
            }
        }
        free(from);
    }
    if (!ok) {
        strings_free(e, list->n);
        return NULL;
    }
    return e;
}

/* 'name:host:port:path' into *name and *out */
static bool named_inst(struct conv *c, const struct py_value *v, const char *s, char **name,
                       struct inst *out)
{
    const char *a = strchr(s, ':'), *b = a ? strchr(a + 1, ':') : NULL;
    const char *p = b ? strchr(b + 1, ':') : NULL;
    if (!a || !b || !p || a == s) {
        cerr(c, v, "redis: '%s' is not 'name:host:port:path'", s);
        return false;
    }
    char *hp = xstrndup(a + 1, (size_t)(p - a - 1));
    bool ok = host_port(c, v, hp, out);
    free(hp);
    if (!ok)
        return false;
    *name = xstrndup(s, (size_t)(a - s));
    out->path = xstrdup(p + 1);
    return true;
}

static bool read_layout(struct conv *c, const char *cluster_name)
{
    const struct py_value *redis = field(c, "redis", PY_LIST, true);
    const struct py_value *sent = field(c, "sentinel", PY_LIST, true);
    const struct py_value *nut = field(c, "nutcracker", PY_LIST, false);
    if (!redis || !sent)
        return false;
    if (redis->n == 0 || redis->n % 2) {
        cerr(c, redis, "'redis' must list master, slave pairs (%zu entries)", redis->n);
        return false;
    }
    const struct py_value **where = NULL;
    char **e = redis_entries(c, redis, cluster_name, &where);
    bool ok = e != NULL;
    c->shards = xcalloc(redis->n / 2, sizeof(*c->shards));
    for (size_t i = 0; ok && i < redis->n; i += 2) {
        struct cshard *sh = &c->shards[c->nshards++];
        char *rname = NULL;
        ok = named_inst(c, where[i], e[i], &sh->name, &sh->master) &&
             named_inst(c, where[i + 1], e[i + 1], &rname, &sh->replica);
        if (ok && strcmp(rname, sh->name))
            diags_add(c->d, DIAG_WARNING, c->file, where[i + 1]->line, where[i + 1]->col,
                      "slave named '%s', its master '%s': the shard is named after the master, "
                      "as nutcracker's server", rname, sh->name);
        for (size_t j = 0; ok && j + 1 < c->nshards; j++)
            if (!strcmp(c->shards[j].name, sh->name)) {
                cerr(c, where[i], "server name '%s' is used by two pairs", sh->name);
                ok = false;
            }
        free(rname);
    }
    if (e)
        strings_free(e, redis->n);
    free(where);
    c->sentinels = xcalloc(sent->n ? sent->n : 1, sizeof(*c->sentinels));
    for (size_t i = 0; ok && i < sent->n; i++)
        ok = tuple_inst(c, sent->items[i], "sentinel", &c->sentinels[c->nsentinels++]);
    if (ok && sent->n == 0) {
        cerr(c, sent, "'sentinel' lists no sentinel");
        ok = false;
    }
    c->proxies = xcalloc(nut && nut->n ? nut->n : 1, sizeof(*c->proxies));
    for (size_t i = 0; ok && nut && i < nut->n; i++)
        ok = tuple_inst(c, nut->items[i], "nutcracker", &c->proxies[c->nproxies++]);
    return ok;
}

/* every host once, with its IP */
static bool resolve_hosts(struct conv *c)
{
    struct inst **all = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < c->nshards; i++) {
        VEC_GROW(all, n, cap);
        all[n++] = &c->shards[i].master;
        VEC_GROW(all, n, cap);
        all[n++] = &c->shards[i].replica;
    }
    for (size_t i = 0; i < c->nsentinels; i++) {
        VEC_GROW(all, n, cap);
        all[n++] = &c->sentinels[i];
    }
    for (size_t i = 0; i < c->nproxies; i++) {
        VEC_GROW(all, n, cap);
        all[n++] = &c->proxies[i];
    }
    bool ok = true;
    c->host = xcalloc(n ? n : 1, sizeof(*c->host));
    c->ip = xcalloc(n ? n : 1, sizeof(*c->ip));
    for (size_t k = 0; k < n; k++) {
        const struct inst *in = all[k];
        bool seen = false;
        for (size_t j = 0; j < c->nhosts && !seen; j++)
            seen = !strcmp(c->host[j], in->host);
        if (seen)
            continue;
        char *ip = NULL;
        if (is_ip(in->host)) {
            ip = xstrdup(in->host);
        } else {
            bool name_ok = strlen(in->host) <= 63 && strspn(in->host, "0123456789.") < strlen(in->host);
            for (const char *p = in->host; *p && name_ok; p++)
                name_ok = isalnum((unsigned char)*p) || strchr("._-", *p);
            if (!name_ok) {
                diags_add(c->d, DIAG_ERROR, c->file, in->line, in->col,
                          "host '%s' is neither an IP address nor a host name", in->host);
                ok = false;
                continue;
            }
            ip = c->o->resolve ? c->o->resolve(in->host, c->o->resolve_ctx) : NULL;
            if (!ip || !is_ip(ip)) {
                diags_add(c->d, DIAG_ERROR, c->file, in->line, in->col,
                          "cannot resolve host '%s' to an IP address: pass --host %s=IP",
                          in->host, in->host);
                free(ip);
                ok = false;
                continue;
            }
        }
        c->host[c->nhosts] = xstrdup(in->host);
        c->ip[c->nhosts++] = ip;
    }
    free(all);
    return ok;
}

/* ---------------------------------------------------------------- writing */

/* s as a YAML scalar: plain when that reads back as the same string, else double-quoted */
static void yaml_str(struct strbuf *out, const char *s)
{
    static const char *const special[] = {"true", "false", "null", "yes", "no", "on", "off", "~"};
    bool plain = (is_ip(s) && !strchr(s, ':')) || (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789._/-") == strlen(s) &&
                 !strchr("-.", s[0]) && !isdigit((unsigned char)s[0]));
    for (size_t i = 0; plain && i < ARRAY_SIZE(special); i++)
        plain = !str_ieq(s, special[i]);
    if (plain) {
        sb_add(out, s);
        return;
    }
    sb_addc(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_addf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            sb_addf(out, "\\x%02x", *p);
        else
            sb_addc(out, (char)*p);
    }
    sb_addc(out, '"');
}

/* an instance's address as the spec writes it */
static void addr(struct strbuf *out, const struct inst *in)
{
    if (strchr(in->host, ':'))
        sb_addf(out, "\"[%s]:%d\"", in->host, in->port);
    else
        sb_addf(out, "%s:%d", in->host, in->port);
}

static void number(struct strbuf *out, const struct py_value *v)
{
    if (v->type == PY_FLOAT)
        sb_addf(out, "%.15g", v->f);
    else
        sb_addf(out, "%lld", v->i);
}

/* rmgr's cluster name for redis-mgr's: [a-z0-9-], 1-63, letters or digits at the ends */
static char *cluster_name_for(const char *s)
{
    struct strbuf sb = {0};
    for (const char *p = s; *p && sb.len < 63; p++) {
        char ch = (char)tolower((unsigned char)*p);
        if (!isalnum((unsigned char)ch))
            ch = '-';
        if (ch == '-' && (sb.len == 0 || sb.buf[sb.len - 1] == '-'))
            continue;
        sb_addc(&sb, ch);
    }
    while (sb.len && sb.buf[sb.len - 1] == '-')
        sb.buf[--sb.len] = '\0';
    if (!sb.len)
        sb_add(&sb, "cluster");
    return sb_detach(&sb);
}

/* the directory most instance paths share (their parents' common prefix), or NULL */
static char *common_base(struct conv *c)
{
    char *base = NULL;
    struct inst *lists[] = {c->sentinels, c->proxies};
    size_t ns[] = {c->nsentinels, c->nproxies};
    for (int pass = 0; pass < 3; pass++) {
        size_t n = pass == 0 ? c->nshards * 2 : ns[pass - 1];
        for (size_t i = 0; i < n; i++) {
            const struct inst *in = pass == 0 ? (i % 2 ? &c->shards[i / 2].replica
                                                       : &c->shards[i / 2].master)
                                              : &lists[pass - 1][i];
            if (!in->path || in->path[0] != '/' || strstr(in->path, "..")) {
                free(base);
                return NULL;
            }
            const char *slash = strrchr(in->path, '/');
            size_t len = (size_t)(slash - in->path);
            if (!base) {
                base = xstrndup(in->path, len);
                continue;
            }
            size_t k = 0;
            while (base[k] && k < len && base[k] == in->path[k])
                k++;
            if (base[k] || (k < len && in->path[k] != '/')) {
                while (k > 0 && base[k] != '/')
                    k--;
            }
            base[k] = '\0';
        }
    }
    if (base && !base[0]) {
        free(base);
        return NULL;
    }
    return base;
}

static void write_alerts(struct conv *c, const struct py_module *m, struct strbuf *out)
{
    const struct py_value *global = py_module_get(m, "REDIS_MONITOR_EXTRA");
    const struct py_value *own = py_dict_get(c->dict, "REDIS_MONITOR_EXTRA");
    if (global && global->type != PY_DICT)
        global = NULL;
    if (own && own->type != PY_DICT) {
        cerr(c, own, "REDIS_MONITOR_EXTRA must be a dict, not a %s", py_type_name(own->type));
        return;
    }
    /* the keys in dict.update() order: the module's, then the cluster's new ones */
    const struct py_value *keys[256];
    size_t n = 0;
    const struct py_value *src[] = {global, own};
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; src[s] && i + 1 < src[s]->n && n < ARRAY_SIZE(keys); i += 2) {
            const struct py_value *k = src[s]->items[i];
            bool dup = k->type != PY_STR;
            for (size_t j = 0; j < n && !dup; j++)
                dup = !strcmp(keys[j]->s, k->s);
            if (!dup)
                keys[n++] = k;
        }
    }
    if (!n)
        return;
    sb_add(out, "\n# REDIS_MONITOR_EXTRA");
    if (global)
        sb_addf(out, " (%s:%d)", c->file, global->line);
    if (own)
        sb_addf(out, "%s (%s:%d)", global ? ",\n# overridden by the cluster's own" : " of the cluster",
                c->file, own->line);
    sb_add(out, ":\n# redis-mgr checked each bound on every redis instance, as `on: all` does.\n"
                "# It compared the INFO value itself: used_cpu_user, for one, is CPU seconds\n"
                "# since start (`rate(used_cpu_user)` bounds the CPU share instead).\n"
                "alerts:\n");
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i]->s;
        const struct py_value *v = own ? py_dict_get(own, k) : NULL;
        if (!v)
            v = py_dict_get(global, k);
        if (!v || (v->type != PY_TUPLE && v->type != PY_LIST) || v->n != 2 ||
            !(v->items[0]->type == PY_INT || v->items[0]->type == PY_FLOAT) ||
            !(v->items[1]->type == PY_INT || v->items[1]->type == PY_FLOAT)) {
            sb_addf(out, "  # not converted: '%s' (%s:%d): not a (min, max) range\n", k, c->file,
                    v ? v->line : keys[i]->line);
            continue;
        }
        /* redis-mgr's own derived field: '_slowlog_per_sec' is rmgr's slowlog_per_sec */
        const char *f = k[0] == '_' ? k + 1 : k;
        sb_add(out, "  - name: ");
        yaml_str(out, f);
        sb_add(out, "\n    field: ");
        yaml_str(out, f);
        sb_add(out, "\n    min: ");
        number(out, v->items[0]);
        sb_add(out, "\n    max: ");
        number(out, v->items[1]);
        sb_add(out, "\n    on: all\n");
    }
    const struct py_value *nut = py_module_get(m, "NUTCRACKER_MONITOR_EXTRA");
    const struct py_value *nown = py_dict_get(c->dict, "NUTCRACKER_MONITOR_EXTRA");
    if (nut || nown)
        sb_addf(out, "# NUTCRACKER_MONITOR_EXTRA (%s:%d) is not converted:\n"
                     "# its fields are per-minute counts of redis-mgr's own (forward_error_INC,\n# ...); write "
                     "proxy alerts with forward_error_per_sec or server_ejects, `on: proxies`.\n",
                c->file, (nown ? nown : nut)->line);
}

static void write_binaries(const struct py_module *m, struct strbuf *out)
{
    const struct py_value *b = py_module_get(m, "BINARYS");
    static const char *const keys[][2] = {{"REDIS_SERVER_BINS", "redis_server"},
                                          {"REDIS_SENTINEL_BINS", "redis_sentinel"},
                                          {"NUTCRACKER_BINS", "nutcracker"}};
    sb_add(out, "  # redis-mgr copied its binaries to every host; rmgr does so with ship\n"
                "  binaries:\n");
    for (size_t i = 0; b && b->type == PY_DICT && i < ARRAY_SIZE(keys); i++) {
        const struct py_value *v = py_dict_get(b, keys[i][0]);
        if (!v || v->type != PY_STR || v->s[0] != '/' || strstr(v->s, ".."))
            continue; /* relative to redis-mgr's directory: rmgr's defaults stand */
        char *path = xstrdup(v->s);
        size_t len = strlen(path);
        if (i == 0 && len >= 7 && !strcmp(path + len - 7, "redis-*")) {
            char *p = xasprintf("%.*sredis-server", (int)(len - 7), path);
            free(path);
            path = p;
        }
        if (!strchr(path, '*')) {
            sb_addf(out, "    %s: ", keys[i][1]);
            yaml_str(out, path);
            sb_addc(out, '\n');
        }
        free(path);
    }
    sb_add(out, "    ship: true\n");
}

static void write_spec(struct conv *c, const struct py_module *m, const char *cname,
                       const char *rmgr_name, struct strbuf *out)
{
    const struct py_value *user = py_dict_get(c->dict, "user");
    bool all_loop = true, named = false;
    for (size_t i = 0; i < c->nhosts; i++) {
        all_loop &= is_loopback(c->ip[i]);
        named |= !is_ip(c->host[i]);
    }
    size_t dict_line = 0;
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->names[i], c->var))
            dict_line = (size_t)m->lines[i];
    sb_addf(out, "# Converted by `rmgr convert redis-mgr` from redis-mgr's cluster '%s'\n"
                 "# (%s:%zu).\n# Check it with `rmgr validate --ha` and `rmgr plan` first.\n",
            c->var, c->file, dict_line);
    if (strcmp(cname, rmgr_name))
        sb_addf(out, "# redis-mgr's cluster_name '%s' is not an rmgr cluster name ([a-z0-9-]).\n",
                cname);
    sb_addf(out, "cluster: %s\n", rmgr_name);
    if (named) {
        sb_add(out, "\nhosts:\n");
        /* by name, as a reader looks them up */
        size_t *order = xcalloc(c->nhosts, sizeof(*order));
        for (size_t i = 0; i < c->nhosts; i++) {
            size_t k = i;
            while (k > 0 && strcmp(c->host[order[k - 1]], c->host[i]) > 0) {
                order[k] = order[k - 1];
                k--;
            }
            order[k] = i;
        }
        for (size_t j = 0; j < c->nhosts; j++) {
            size_t i = order[j];
            if (!is_ip(c->host[i]))
                sb_addf(out, "  %s: { address: %s }\n", c->host[i], c->ip[i]);
        }
        free(order);
    }
    sb_addf(out, "\ndefaults:\n  transport: %s\n", all_loop ? "local" : "ssh");
    if (!all_loop && user && user->type == PY_STR) {
        sb_add(out, "  ssh:\n    user: ");
        yaml_str(out, user->s);
        sb_addc(out, '\n');
    }
    char *base = common_base(c);
    sb_add(out, "  # redis-mgr kept each instance in a directory of its own (such as\n  # ");
    sb_add(out, c->shards[0].master.path);
    sb_add(out, "); rmgr keeps them in <base_dir>/<cluster>/<kind>-<port>\n");
    if (base) {
        sb_add(out, "  base_dir: ");
        yaml_str(out, base);
        sb_addc(out, '\n');
    }
    free(base);
    write_binaries(m, out);

    if (!all_loop)
        sb_add(out, "\n# redis-mgr set no password, and Redis' protected mode refuses other hosts\n"
                    "# without one: off here, as redis-mgr's servers ran. Better: auth: (README).\n"
                    "redis:\n  config:\n    protected-mode: \"no\"\n");

    sb_add(out, "\n# The shard names are redis-mgr's server names: nutcracker hashes keys by\n"
                "# them, so every key stays on the shard it is on.\nshards:\n");
    for (size_t i = 0; i < c->nshards; i++) {
        const struct cshard *sh = &c->shards[i];
        sb_add(out, "  - name: ");
        yaml_str(out, sh->name);
        sb_add(out, "\n    master: ");
        addr(out, &sh->master);
        sb_add(out, "\n    replicas: [");
        addr(out, &sh->replica);
        sb_add(out, "]\n");
    }

    sb_add(out, "\n# redis-mgr's fixed settings (sentinel monitor ... 2, down-after-milliseconds\n"
                "# 60000, failover-timeout 180000, parallel-syncs 1)\n");
    if (c->nsentinels < 2)
        sb_add(out, "# quorum 2 of one sentinel can never be reached: 1 here\n");
    sb_addf(out, "sentinel:\n  quorum: %d\n  down_after_ms: 60000\n  failover_timeout_ms: 180000\n"
                 "  parallel_syncs: 1\n  nodes:\n", c->nsentinels < 2 ? 1 : 2);
    for (size_t i = 0; i < c->nsentinels; i++) {
        sb_add(out, "    - ");
        addr(out, &c->sentinels[i]);
        sb_addc(out, '\n');
    }

    if (c->nproxies) {
        sb_add(out, "\n# redis-mgr's nutcracker pool, kept so that keys hash as before: the\n"
                    "# listen address 0.0.0.0, stats on the port + 1000, hash, distribution and\n"
                    "# timeouts (its backlog 512 and one server connection are nutcracker's\n"
                    "# defaults)\nproxies:\n");
        for (size_t i = 0; i < c->nproxies; i++) {
            const struct inst *p = &c->proxies[i];
            sb_add(out, "  - host: ");
            yaml_str(out, p->host);
            if (strchr(p->host, ':'))
                sb_addf(out, "\n    listen: \"[::]:%d\"\n", p->port);
            else
                sb_addf(out, "\n    listen: 0.0.0.0:%d\n", p->port);
            sb_addf(out, "    stats_port: %d\n", p->port + 1000);
            sb_add(out, "    hash: fnv1a_64\n    distribution: modula\n    timeout_ms: 400\n"
                        "    server_retry_timeout_ms: 2000\n    server_failure_limit: 2\n"
                        "    auto_eject_hosts: false\n    preconnect: true\n");
        }
    }
    write_alerts(c, m, out);
}

/* ---------------------------------------------------------------- the conversion */

/* the cluster dict the options name, or the only one; NULL with an error */
static bool pick_cluster(struct conv *c, const struct py_module *m)
{
    struct strbuf names = {0};
    size_t found = 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct py_value *v = m->values[i];
        const struct py_value *cn = py_dict_get(v, "cluster_name");
        if (!v || v->type != PY_DICT || !cn)
            continue;
        bool match = !c->o->cluster || !strcmp(m->names[i], c->o->cluster) ||
                     (cn->type == PY_STR && !strcmp(cn->s, c->o->cluster));
        sb_addf(&names, "%s%s", names.len ? ", " : "", m->names[i]);
        if (!match)
            continue;
        if (!found || (c->o->cluster && !strcmp(m->names[i], c->o->cluster))) {
            c->var = m->names[i];
            c->dict = v;
        }
        found++;
    }
    bool ok = true;
    if (!found && c->o->cluster) {
        diags_add(c->d, DIAG_ERROR, c->file, 0, 0, "no cluster '%s' (clusters: %s)", c->o->cluster,
                  names.len ? sb_str(&names) : "none");
        ok = false;
    } else if (!found) {
        diags_add(c->d, DIAG_ERROR, c->file, 0, 0,
                  "no redis-mgr cluster: no dict with a 'cluster_name'");
        ok = false;
    } else if (found > 1 && !c->o->cluster) {
        diags_add(c->d, DIAG_ERROR, c->file, 0, 0,
                  "%zu clusters (%s): choose one with --cluster NAME", found, sb_str(&names));
        ok = false;
    }
    sb_release(&names);
    return ok;
}

int convert_redismgr(const char *file, const char *text, size_t len,
                     const struct convert_opts *o, struct strbuf *out, struct diags *d)
{
    struct py_module m = {0};
    struct conv c = {.file = file, .d = d, .o = o};
    size_t errors = diags_count(d, DIAG_ERROR);
    if (py_module_read(&m, file, text, len, d) == 0 && pick_cluster(&c, &m)) {
        const struct py_value *cn = field(&c, "cluster_name", PY_STR, true);
        if (cn && read_layout(&c, cn->s) && resolve_hosts(&c)) {
            char *name = cluster_name_for(cn->s);
            write_spec(&c, &m, cn->s, name, out);
            free(name);
        }
    }
    for (size_t i = 0; i < c.nshards; i++) {
        free(c.shards[i].name);
        inst_release(&c.shards[i].master);
        inst_release(&c.shards[i].replica);
    }
    free(c.shards);
    ARRAY_FREE(c.sentinels, c.nsentinels, inst_release);
    ARRAY_FREE(c.proxies, c.nproxies, inst_release);
    strings_free(c.host, c.nhosts);
    strings_free(c.ip, c.nhosts);
    py_module_release(&m);
    return diags_count(d, DIAG_ERROR) > errors ? -1 : 0;
}
