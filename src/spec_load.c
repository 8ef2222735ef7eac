/*
 * spec_load.c - YAML spec -> struct spec, reporting every problem.
 *
 * Shaped like twemproxy's nc_conf.c: yaml_tree.c turns libyaml events into
 * a tree with positions, then passes run over it:
 *   1. parse each section through a key -> handler table (unknown keys,
 *      wrong types, missing keys and bad values are reported, never fatal);
 *   2. scan the whole tree for literal password keys (but a typo of a known
 *      key, "passwordenv", was reported as a typo in pass 1);
 *   3. resolve addresses against hosts: and check the cluster as a whole
 *      (addresses used twice, quorum, duplicate shard names).
 * A load fails when it added any error; warnings alone do not fail it. After
 * SPEC_MAX_ERRORS errors it stops. Messages and value checks are in
 * spec_check.c, addresses in spec_addr.c (spec_load_impl.h).
 */
#include "spec.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "spec_load_impl.h"
#include "yaml_tree.h"

/* ------------------------------------------------------------------------ */
/* the key -> handler table */

/* How a value looks in a message: short scalars quoted, others by kind. */
const char *sl_got(const struct ynode *v, char *buf, size_t size)
{
    if (v->kind != YNODE_SCALAR || ynode_is_null(v) || v->len > 40 || sl_has_control_chars(v))
        return ynode_describe(v);
    if (!v->plain) /* "5000" is a string even when it reads like a number */
        snprintf(buf, size, "the quoted string \"%s\"", v->scalar);
    else
        snprintf(buf, size, "'%s'", v->scalar);
    return buf;
}

bool sl_expect_kind(struct loader *L, const struct ynode *v, enum ynode_kind kind)
{
    if (v->kind == kind)
        return true;
    sl_error_at(L, v, "wrong type for '%s': expected %s, got %s", sl_path(L),
             kind == YNODE_MAP ? "a mapping" : kind == YNODE_SEQ ? "a sequence" : "a scalar",
             ynode_describe(v));
    return false;
}

/* The text of a string scalar, or NULL after reporting why it is not one. */
const char *sl_get_string(struct loader *L, const struct ynode *v)
{
    if (v->kind != YNODE_SCALAR || ynode_looks_typed(v)) {
        sl_error_at(L, v, "wrong type for '%s': expected a string, got %s", sl_path(L),
                 ynode_describe(v));
        return NULL;
    }
    if (sl_has_control_chars(v) || strlen(v->scalar) != v->len) {
        sl_error_at(L, v, "'%s' must not contain control characters", sl_path(L));
        return NULL;
    }
    return v->scalar;
}

static bool get_long(struct loader *L, const struct field *f, const struct ynode *v, long *out)
{
    char buf[64];
    long n;
    if (!ynode_int(v, &n)) {
        sl_error_at(L, v, "wrong type for '%s': expected an integer, got %s", sl_path(L),
                 sl_got(v, buf, sizeof(buf)));
        return false;
    }
    if (n < f->min || n > f->max) {
        sl_error_at(L, v, "'%s' must be between %ld and %ld, got %ld", sl_path(L), f->min, f->max, n);
        return false;
    }
    *out = n;
    return true;
}

/* Does nothing: the caller reads the node later (top level sections). */
static void set_node(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    (void)L;
    *AT(obj, f, const struct ynode *) = v;
}

static void set_str(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    const char *s = sl_get_string(L, v);
    if (!s)
        return;
    char **dst = AT(obj, f, char *);
    free(*dst);
    *dst = xstrdup(s);
}

void sl_set_name(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    const char *s = sl_get_string(L, v);
    if (!s)
        return;
    if (strlen(s) > MAX_NAME) {
        sl_error_at(L, v, "'%s' is longer than %d characters", sl_path(L), MAX_NAME);
        return;
    }
    if (!sl_valid_name(s)) {
        sl_error_at(L, v, "bad name '%s' for '%s': use only letters, digits, '.', '_' and '-'", s,
                 sl_path(L));
        return;
    }
    char **dst = AT(obj, f, char *);
    free(*dst);
    *dst = xstrdup(s);
}

static void set_int(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    long n;
    if (get_long(L, f, v, &n))
        *AT(obj, f, int) = (int)n;
}

static void set_long(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    long n;
    if (get_long(L, f, v, &n))
        *AT(obj, f, long) = n;
}

static void set_port(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    char buf[64];
    long n;
    if (!ynode_int(v, &n)) {
        sl_error_at(L, v, "wrong type for '%s': expected a port number, got %s", sl_path(L),
                 sl_got(v, buf, sizeof(buf)));
        return;
    }
    if (n < 1 || n > 65535) {
        sl_error_at(L, v, "port %ld for '%s' is out of range 1..65535", n, sl_path(L));
        return;
    }
    *AT(obj, f, int) = (int)n;
}

static void set_bool(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    char buf[64];
    bool b;
    if (!ynode_is_bool(v, &b)) {
        sl_error_at(L, v, "wrong type for '%s': expected true or false, got %s", sl_path(L),
                 sl_got(v, buf, sizeof(buf)));
        return;
    }
    *AT(obj, f, bool) = b;
}

/* An absolute path without "..", after "~" expansion; trailing slashes dropped. */
static void set_path(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    const char *s = sl_get_string(L, v);
    if (!s)
        return;
    char *p = sl_expand_home(s);
    if (p[0] != '/') {
        sl_error_at(L, v, "'%s' must be an absolute path, got '%s'", sl_path(L), s);
        free(p);
        return;
    }
    if (sl_has_dotdot(p)) {
        sl_error_at(L, v, "'%s' must not contain '..', got '%s'", sl_path(L), s);
        free(p);
        return;
    }
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    char **dst = AT(obj, f, char *);
    free(*dst);
    *dst = p;
}

void sl_set_choice(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    const char *s = sl_get_string(L, v);
    if (!s)
        return;
    for (size_t i = 0; f->choices[i]; i++) {
        if (!strcmp(s, f->choices[i])) {
            char **dst = AT(obj, f, char *);
            free(*dst);
            *dst = xstrdup(s);
            return;
        }
    }
    struct strbuf sb = {0};
    for (size_t i = 0; f->choices[i]; i++)
        sb_addf(&sb, "%s%s", i ? ", " : "", f->choices[i]);
    sl_error_at(L, v, "bad value '%s' for '%s' (expected one of: %s)", s, sl_path(L), sb_str(&sb));
    sb_release(&sb);
}


static void set_transport(struct loader *L, const struct field *f, const struct ynode *v,
                          void *obj)
{
    const char *s = sl_get_string(L, v);
    if (!s)
        return;
    if (!strcmp(s, "local"))
        *AT(obj, f, enum transport_kind) = TRANSPORT_LOCAL;
    else if (!strcmp(s, "ssh"))
        *AT(obj, f, enum transport_kind) = TRANSPORT_SSH;
    else
        sl_error_at(L, v, "bad value '%s' for '%s' (expected one of: local, ssh)", s, sl_path(L));
}

static void set_hash_tag(struct loader *L, const struct field *f, const struct ynode *v,
                         void *obj)
{
    const char *s = sl_get_string(L, v);
    if (!s)
        return;
    /* nutcracker compares bytes: two characters are two bytes only in ASCII */
    if (strlen(s) != 2 || !(s[0] > ' ' && s[0] < 0x7f && s[1] > ' ' && s[1] < 0x7f)) {
        sl_error_at(L, v, "'%s' must be two ASCII characters other than space, like \"{}\"",
                 sl_path(L));
        return;
    }
    char **dst = AT(obj, f, char *);
    free(*dst);
    *dst = xstrdup(s);
}

static void set_env_name(struct loader *L, const struct field *f, const struct ynode *v,
                         void *obj)
{
    const char *s = sl_get_string(L, v);
    if (!s)
        return;
    /* the value is not echoed: someone may have pasted the password itself */
    if (!sl_valid_env_name(s)) {
        sl_error_at(L, v, "'%s' must name an environment variable (letters, digits and '_')",
                 sl_path(L));
        return;
    }
    /* anyone may propose a spec: it must not send rmgr's own credentials (RMGR_GIT_TOKEN,
       RMGR_WEBHOOK_URL...) or any other variable of the environment to an address */
    if (strncmp(s, SPEC_PASSWORD_ENV_PREFIX, strlen(SPEC_PASSWORD_ENV_PREFIX)) ||
        !s[strlen(SPEC_PASSWORD_ENV_PREFIX)]) {
        sl_error_at(L, v,
                    "'%s' must name a variable beginning with " SPEC_PASSWORD_ENV_PREFIX
                    " (like RMGR_REDIS_PASSWORD): only those may be sent to servers",
                    sl_path(L));
        return;
    }
    char **dst = AT(obj, f, char *);
    free(*dst);
    *dst = xstrdup(s);
}

/*
 * Run the handlers of `fields` over the pairs of `map`. Unknown keys get a
 * suggestion; missing required keys are reported at the mapping. Returns a
 * bit per field that was present.
 */
uint32_t sl_load_map(struct loader *L, const struct ynode *map, const struct field *fields,
                     size_t n, void *obj)
{
    uint32_t seen = 0;
    const char *names[32];
    for (size_t i = 0; i < n; i++)
        names[i] = fields[i].key;
    for (size_t p = 0; p < map->npairs && !L->stopped; p++) {
        const struct ynode *key = map->pairs[p].key, *val = map->pairs[p].value;
        size_t i;
        for (i = 0; i < n; i++)
            if (!strcmp(key->scalar, fields[i].key))
                break;
        if (i == n) {
            /* a typo of a known key ("passwordenv") is a typo before it is a secret */
            const char *s = sl_suggest(key->scalar, names, n);
            if (s) {
                VEC_GROW(L->typos, L->ntypos, L->captypos);
                L->typos[L->ntypos++] = key;
            } else if (sl_is_secret_key(key->scalar)) {
                continue; /* reported by the secret scan */
            } else {
                s = sl_suggest_prefix(key->scalar, names, n);
            }
            char *w = sl_where(L);
            if (s)
                sl_error_at(L, key, "unknown key '%s'%s (did you mean '%s'?)", key->scalar, w, s);
            else
                sl_error_at(L, key, "unknown key '%s'%s", key->scalar, w);
            free(w);
            continue;
        }
        seen |= 1u << i;
        size_t old = sl_path_push_key(L, key->scalar);
        fields[i].set(L, &fields[i], val, obj);
        sl_path_pop(L, old);
    }
    for (size_t i = 0; i < n; i++) {
        if (fields[i].required && !(seen & (1u << i))) {
            char *w = sl_where(L);
            sl_error_at(L, map, "missing required key '%s'%s", fields[i].key, w);
            free(w);
        }
    }
    return seen;
}


/* ------------------------------------------------------------------------ */
/* sections */

static const struct field ssh_fields[] = {
    {"user", sl_set_name, offsetof(struct spec_ssh, user)},
    {"port", set_port, offsetof(struct spec_ssh, port)},
    {"identity", set_path, offsetof(struct spec_ssh, identity)},
    {"known_hosts", set_path, offsetof(struct spec_ssh, known_hosts)},
};

static void set_ssh(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    if (sl_expect_kind(L, v, YNODE_MAP))
        LOAD_MAP(L, v, ssh_fields, AT(obj, f, struct spec_ssh));
}

static const struct field binaries_fields[] = {
    {"redis_server", set_path, offsetof(struct spec_binaries, redis_server)},
    {"redis_sentinel", set_path, offsetof(struct spec_binaries, redis_sentinel)},
    {"nutcracker", set_path, offsetof(struct spec_binaries, nutcracker)},
    {"ship", set_bool, offsetof(struct spec_binaries, ship)},
};

static void set_binaries(struct loader *L, const struct field *f, const struct ynode *v,
                         void *obj)
{
    if (sl_expect_kind(L, v, YNODE_MAP))
        LOAD_MAP(L, v, binaries_fields, AT(obj, f, struct spec_binaries));
}

static const struct field defaults_fields[] = {
    {"transport", set_transport, offsetof(struct spec_defaults, transport)},
    {"ssh", set_ssh, offsetof(struct spec_defaults, ssh)},
    {"base_dir", set_path, offsetof(struct spec_defaults, base_dir)},
    {"binaries", set_binaries, offsetof(struct spec_defaults, binaries)},
};

static void defaults_init(struct spec_defaults *df)
{
    df->transport = TRANSPORT_SSH;
    df->ssh.user = xstrdup("root");
    df->ssh.port = 22;
    df->ssh.identity = NULL;
    df->ssh.known_hosts = sl_expand_home("~/.ssh/known_hosts");
    df->base_dir = xstrdup("/var/lib/rmgr");
    df->binaries.redis_server = xstrdup("/usr/bin/redis-server");
    df->binaries.redis_sentinel = xstrdup("/usr/bin/redis-sentinel");
    df->binaries.nutcracker = xstrdup("/usr/sbin/nutcracker");
    df->binaries.ship = false;
}

/* hosts: NAME: { address, transport, ssh } */
struct host_raw {
    char *address;
    enum transport_kind transport;
    struct spec_ssh ssh; /* only what the host sets; the rest comes from defaults */
};

static const struct field host_fields[] = {
    {"address", set_str, offsetof(struct host_raw, address), true},
    {"transport", set_transport, offsetof(struct host_raw, transport)},
    {"ssh", set_ssh, offsetof(struct host_raw, ssh)},
};

static void load_hosts(struct loader *L, const struct ynode *v)
{
    struct spec *s = L->s;
    if (!sl_expect_kind(L, v, YNODE_MAP))
        return;
    s->hosts = xcalloc(v->npairs ? v->npairs : 1, sizeof(*s->hosts));
    for (size_t i = 0; i < v->npairs; i++) {
        const struct ynode *key = v->pairs[i].key, *val = v->pairs[i].value;
        if (strlen(key->scalar) > MAX_NAME) {
            sl_error_at(L, key, "bad host name: longer than %d characters", MAX_NAME);
            continue;
        }
        if (!sl_valid_name(key->scalar)) {
            sl_error_at(L, key, "bad host name '%s': use only letters, digits, '.', '_' and '-'",
                     key->scalar);
            continue;
        }
        if (sl_dotted_digits(key->scalar) && !sl_is_ipv4(key->scalar)) {
            sl_error_at(L, key, "bad host name '%s': digits and dots alone read as an IP address",
                     key->scalar);
            continue;
        }
        size_t old = sl_path_push_key(L, key->scalar);
        if (!sl_expect_kind(L, val, YNODE_MAP)) {
            sl_path_pop(L, old);
            continue;
        }
        struct host_raw raw = {0};
        uint32_t seen = LOAD_MAP(L, val, host_fields, &raw);
        const struct ynode *addr = ynode_get(val, "address");
        if (raw.address && !sl_is_ip(raw.address)) {
            sl_error_at(L, addr, "'%s.address' must be an IP address, got '%s'", sl_path(L),
                     raw.address);
            free(raw.address);
            raw.address = NULL;
        } else if (raw.address) {
            char *c = sl_canonical_ip(raw.address);
            free(raw.address);
            raw.address = c;
            /* 10.0.0.9:7001 would mean another machine than the address says */
            if (sl_is_ipv4(key->scalar) && strcmp(key->scalar, c))
                sl_error_at(L, key, "host name '%s' looks like an IP address, but its address is %s",
                         key->scalar, c);
        }
        struct spec_pos hpos = sl_pos(L, key);
        sl_path_pop(L, old);

        const struct spec_ssh *dfl = &s->defaults.ssh;
        struct spec_host *h = &s->hosts[s->nhosts++];
        h->name = xstrdup(key->scalar);
        h->address = raw.address;
        h->transport = (seen & 2) /* host_fields[1] */ ? raw.transport : s->defaults.transport;
        h->ssh.user = raw.ssh.user ? raw.ssh.user : xstrdup(dfl->user);
        h->ssh.port = raw.ssh.port ? raw.ssh.port : dfl->port;
        h->ssh.identity = raw.ssh.identity ? raw.ssh.identity : xstrdup(dfl->identity);
        h->ssh.known_hosts = raw.ssh.known_hosts ? raw.ssh.known_hosts : xstrdup(dfl->known_hosts);
        h->pos = hpos;
    }
}

/* password_file: an absolute path, or a name inside the secrets directory (spec_open_secret_file) */
static void set_secret_file(struct loader *L, const struct field *f, const struct ynode *v,
                            void *obj)
{
    const char *s = sl_get_string(L, v);
    if (!s)
        return;
    char *p = sl_expand_home(s);
    const char *why = !*p                      ? "must not be empty"
                      : sl_has_control_chars(v) ? "must not contain control characters"
                      : sl_has_dotdot(p)        ? "must not contain '..'"
                                                : NULL;
    if (why) {
        if (*p && !sl_has_control_chars(v))
            sl_error_at(L, v, "'%s' %s, got '%s'", sl_path(L), why, s);
        else
            sl_error_at(L, v, "'%s' %s", sl_path(L), why);
        free(p);
        return;
    }
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    struct spec_auth *au = obj;
    free(*AT(obj, f, char *));
    *AT(obj, f, char *) = p;
    au->password_file_pos = (struct spec_pos){v->line, v->col};
}

static const struct field auth_fields[] = {
    {"password_env", set_env_name, offsetof(struct spec_auth, password_env)},
    {"password_file", set_secret_file, offsetof(struct spec_auth, password_file)},
};

static void load_auth(struct loader *L, const struct ynode *v)
{
    if (!sl_expect_kind(L, v, YNODE_MAP))
        return;
    uint32_t seen = LOAD_MAP(L, v, auth_fields, &L->s->auth);
    struct spec_auth *au = &L->s->auth;
    au->pos = sl_pos_key(L, v, au->password_env ? "password_env" : "password_file", au->pos);
    if (seen == 3)
        sl_error_at(L, ynode_get_key(v, "password_file"),
                 "auth takes password_env or password_file, not both");
    else if (!seen && !v->npairs)
        sl_error_at(L, v, "auth needs password_env or password_file");
}

static int named_pos_cmp(const struct named *x, const struct named *y)
{
    if (x->node->line != y->node->line)
        return x->node->line < y->node->line ? -1 : 1;
    return x->node->col < y->node->col ? -1 : x->node->col > y->node->col;
}

static int named_cmp(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : named_pos_cmp(x, y);
}

static int named_icmp(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcasecmp(x->name, y->name);
    return c ? c : named_pos_cmp(x, y);
}

/*
 * Report every name after its first occurrence ("duplicate shard name 'x' (first
 * at line N)"), names compared ignoring case when `icase`. Sorting keeps it n log n.
 */
void sl_report_duplicate_names(struct loader *L, struct named *v, size_t n, const char *what,
                               bool icase)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), icase ? named_icmp : named_cmp);
    for (size_t i = 1, first = 0; i < n; i++) {
        if (icase ? strcasecmp(v[i].name, v[first].name) : strcmp(v[i].name, v[first].name)) {
            first = i;
            continue;
        }
        sl_error_at(L, v[i].node, "duplicate %s '%s' (first at line %d)", what, v[i].name,
                 v[first].node->line);
    }
}

/* redis.conf directives rmgr writes itself from the rest of the spec */
static const char *const managed_directives[] = {
    "port", "bind", "dir", "daemonize", "pidfile", "logfile", "replicaof", "slaveof",
    "requirepass", "masterauth", "include", NULL};

static void set_redis_config(struct loader *L, const struct field *f, const struct ynode *v,
                             void *obj)
{
    (void)f;
    (void)obj;
    struct spec *s = L->s;
    if (!sl_expect_kind(L, v, YNODE_MAP))
        return;
    s->redis_config = xcalloc(v->npairs ? v->npairs : 1, sizeof(*s->redis_config));
    struct named *names = xcalloc(v->npairs ? v->npairs : 1, sizeof(*names));
    size_t nnames = 0;
    for (size_t i = 0; i < v->npairs; i++) {
        const struct ynode *key = v->pairs[i].key, *val = v->pairs[i].value;
        const char *k = key->scalar;
        if (sl_is_secret_key(k))
            continue; /* reported by the secret scan */
        bool managed = false;
        for (size_t m = 0; managed_directives[m]; m++)
            managed = managed || str_ieq(k, managed_directives[m]);
        if (managed) {
            sl_error_at(L, key, "redis.config directive '%s' is managed by rmgr", k);
            continue;
        }
        bool ok = *k != '\0';
        for (const char *c = k; *c; c++)
            ok = ok && (isalnum((unsigned char)*c) || *c == '-' || *c == '_');
        if (!ok) {
            sl_error_at(L, key, "bad redis.config directive name '%s'", k);
            continue;
        }
        size_t old = sl_path_push_key(L, k);
        if (val->kind != YNODE_SCALAR || ynode_is_null(val)) {
            sl_error_at(L, val, "wrong type for '%s': expected a scalar, got %s%s", sl_path(L),
                     ynode_describe(val),
                     ynode_is_null(val) ? " (write \"\" for an empty value)" : "");
        } else if (sl_has_control_chars(val) || strlen(val->scalar) != val->len) {
            sl_error_at(L, val, "'%s' must not contain control characters", sl_path(L));
        } else if (str_ieq(k, "user") && sl_acl_has_password(val->scalar)) {
            /* the value is not echoed: it holds the password */
            sl_error_at(L, key,
                        "redis.config '%s' holds a password (an ACL '>password' or '#hash'): "
                        "secrets never go in a spec, use auth.password_env or "
                        "auth.password_file",
                        k);
        } else {
            struct spec_kv *kv = &s->redis_config[s->nredis_config++];
            kv->key = xstrdup(k);
            kv->value = xstrdup(val->scalar);
            kv->pos = sl_pos(L, key);
            names[nnames++] = (struct named){k, key};
        }
        sl_path_pop(L, old);
    }
    /* redis reads directive names in any case: MAXMEMORY overrides maxmemory */
    sl_report_duplicate_names(L, names, nnames, "redis.config directive", true);
    free(names);
}

static const struct field redis_fields[] = {
    {"config", set_redis_config, 0},
};

static const struct field shard_fields[] = {
    {"name", sl_set_name, offsetof(struct spec_shard, name), true},
    {"master", sl_set_addr, offsetof(struct spec_shard, master), true},
    {"replicas", sl_set_replicas, 0},
};

static void load_shards(struct loader *L, const struct ynode *v)
{
    struct spec *s = L->s;
    if (!sl_expect_kind(L, v, YNODE_SEQ))
        return;
    if (v->nitems == 0)
        sl_error_at(L, v, "'shards' must list at least one shard");
    s->shards = xcalloc(v->nitems ? v->nitems : 1, sizeof(*s->shards));
    struct named *names = xcalloc(v->nitems ? v->nitems : 1, sizeof(*names));
    size_t nnames = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        const struct ynode *item = v->items[i];
        size_t old = sl_path_push_index(L, i);
        if (sl_expect_kind(L, item, YNODE_MAP)) {
            struct spec_shard *sh = &s->shards[s->nshards++];
            sh->pos = sl_pos(L, item);
            LOAD_MAP(L, item, shard_fields, sh);
            const struct ynode *nm = ynode_get(item, "name");
            if (sh->name)
                names[nnames++] = (struct named){sh->name, nm};
        }
        sl_path_pop(L, old);
    }
    sl_report_duplicate_names(L, names, nnames, "shard name", false);
    free(names);
}

static const struct field sentinel_fields[] = {
    {"quorum", set_int, offsetof(struct spec_sentinel, quorum), true, 1, INT_MAX},
    {"down_after_ms", set_long, offsetof(struct spec_sentinel, down_after_ms), false, 1, INT_MAX},
    {"failover_timeout_ms", set_long, offsetof(struct spec_sentinel, failover_timeout_ms), false,
     1, INT_MAX},
    {"parallel_syncs", set_int, offsetof(struct spec_sentinel, parallel_syncs), false, 1, 1000},
    {"nodes", sl_set_sentinel_nodes, 0, true},
};

static void load_sentinel(struct loader *L, const struct ynode *v)
{
    struct spec_sentinel *se = &L->s->sentinel;
    if (!sl_expect_kind(L, v, YNODE_MAP))
        return;
    se->pos = sl_pos(L, v);
    LOAD_MAP(L, v, sentinel_fields, se);
    se->quorum_pos = sl_pos_key(L, v, "quorum", se->pos);
    se->down_after_pos = sl_pos_key(L, v, "down_after_ms", se->pos);
    se->failover_timeout_pos = sl_pos_key(L, v, "failover_timeout_ms", se->pos);
    se->parallel_syncs_pos = sl_pos_key(L, v, "parallel_syncs", se->pos);
    const struct ynode *q = ynode_get(v, "quorum");
    if (se->quorum > 0 && se->nnodes > 0) {
        if ((size_t)se->quorum > se->nnodes)
            sl_error_at(L, q, "quorum %d is larger than the number of sentinels (%zu)", se->quorum,
                     se->nnodes);
        else if ((size_t)se->quorum * 2 <= se->nnodes)
            sl_warning_at(L, q, "quorum %d is not a majority of the %zu sentinels", se->quorum,
                       se->nnodes);
    }
    const struct ynode *da = ynode_get(v, "down_after_ms");
    if (da && se->down_after_ms > 0 && se->down_after_ms < 2000)
        sl_warning_at(L, da, "down_after_ms %ld is below 2000 and causes spurious failovers",
                   se->down_after_ms);
}

static const char *const hashes[] = {"one_at_a_time", "md5", "crc16", "crc32", "crc32a",
                                     "fnv1_64", "fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh",
                                     "murmur", "jenkins", NULL};
static const char *const distributions[] = {"ketama", "modula", "random", NULL};

static void set_proxy_host(struct loader *L, const struct field *f, const struct ynode *v,
                           void *obj)
{
    const char *s = sl_get_string(L, v);
    if (!s)
        return;
    if (!sl_valid_name(s) && !sl_is_ip(s)) {
        sl_error_at(L, v, "bad host '%s' for '%s': expected a name under hosts: or an IP address",
                 s, sl_path(L));
        return;
    }
    if (sl_dotted_digits(s) && !sl_is_ipv4(s)) {
        sl_error_at(L, v, "'%s' is not a valid IP address", s);
        return;
    }
    char **dst = AT(obj, f, char *);
    free(*dst);
    *dst = sl_is_ip(s) ? sl_canonical_ip(s) : xstrdup(s);
}

static const struct field proxy_fields[] = {
    {"host", set_proxy_host, offsetof(struct spec_proxy, host), true},
    {"listen", sl_set_addr, offsetof(struct spec_proxy, listen), true},
    {"stats_port", set_port, offsetof(struct spec_proxy, stats_port)},
    {"hash", sl_set_choice, offsetof(struct spec_proxy, hash), false, 0, 0, hashes},
    {"distribution", sl_set_choice, offsetof(struct spec_proxy, distribution), false, 0, 0,
     distributions},
    {"hash_tag", set_hash_tag, offsetof(struct spec_proxy, hash_tag)},
    {"timeout_ms", set_int, offsetof(struct spec_proxy, timeout_ms), false, 1, INT_MAX},
    {"server_retry_timeout_ms", set_int, offsetof(struct spec_proxy, server_retry_timeout_ms),
     false, 1, INT_MAX},
    {"server_failure_limit", set_int, offsetof(struct spec_proxy, server_failure_limit), false, 1,
     INT_MAX},
    {"auto_eject_hosts", set_bool, offsetof(struct spec_proxy, auto_eject_hosts)},
    {"preconnect", set_bool, offsetof(struct spec_proxy, preconnect)},
};

static void load_proxies(struct loader *L, const struct ynode *v)
{
    struct spec *s = L->s;
    if (!sl_expect_kind(L, v, YNODE_SEQ))
        return;
    s->proxies = xcalloc(v->nitems ? v->nitems : 1, sizeof(*s->proxies));
    for (size_t i = 0; i < v->nitems; i++) {
        const struct ynode *item = v->items[i];
        size_t old = sl_path_push_index(L, i);
        if (sl_expect_kind(L, item, YNODE_MAP)) {
            struct spec_proxy *p = &s->proxies[s->nproxies++];
            p->pos = sl_pos(L, item);
            p->stats_port = 22222;
            p->hash = xstrdup("fnv1a_64");
            p->distribution = xstrdup("ketama");
            p->timeout_ms = 400;
            p->server_retry_timeout_ms = 2000;
            p->server_failure_limit = 1;
            p->auto_eject_hosts = false;
            p->preconnect = true;
            LOAD_MAP(L, item, proxy_fields, p);
            const struct ynode *sp = ynode_get(item, "stats_port");
            L->stats_pos = xrealloc(L->stats_pos, s->nproxies * sizeof(*L->stats_pos));
            L->stats_pos[s->nproxies - 1] = sp ? (struct spec_pos){sp->line, sp->col} : p->pos;
        }
        sl_path_pop(L, old);
    }
}

static void set_cluster(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    (void)f;
    struct spec *s = obj;
    const char *name = sl_get_string(L, v);
    if (!name)
        return;
    if (!sl_valid_cluster_name(name)) {
        sl_error_at(L, v,
                 "bad cluster name '%s': use 1 to %d lowercase letters, digits and '-', "
                 "starting and ending with a letter or digit",
                 strlen(name) > 80 ? "..." : name, MAX_NAME);
        return;
    }
    s->cluster = xstrdup(name);
    s->cluster_pos = sl_pos(L, v);
}

struct sections {
    const struct ynode *cluster, *hosts, *defaults, *auth, *redis, *shards, *sentinel, *proxies,
        *alerts;
};

/* ------------------------------------------------------------------------ */
/* whole-tree passes */

static bool is_typo(const struct loader *L, const struct ynode *key)
{
    for (size_t i = 0; i < L->ntypos; i++)
        if (L->typos[i] == key)
            return true;
    return false;
}

/*
 * Report every key that would put a secret into the spec, at any depth; runs
 * after the sections, so keys already reported as typos of known keys are
 * not reported twice.
 */
static void scan_secrets(struct loader *L, const struct ynode *n)
{
    if (L->stopped)
        return;
    if (n->kind == YNODE_MAP) {
        for (size_t i = 0; i < n->npairs; i++) {
            const struct ynode *k = n->pairs[i].key;
            if (sl_is_secret_key(k->scalar) && !is_typo(L, k))
                sl_error_at(L, k,
                         "literal password key '%s': secrets never go in a spec, use "
                         "auth.password_env or auth.password_file",
                         k->scalar);
            scan_secrets(L, n->pairs[i].value);
        }
    } else if (n->kind == YNODE_SEQ) {
        for (size_t i = 0; i < n->nitems; i++)
            scan_secrets(L, n->items[i]);
    }
}

static const struct field top_fields[] = {
    {"cluster", set_node, offsetof(struct sections, cluster), true},
    {"hosts", set_node, offsetof(struct sections, hosts)},
    {"defaults", set_node, offsetof(struct sections, defaults)},
    {"auth", set_node, offsetof(struct sections, auth)},
    {"redis", set_node, offsetof(struct sections, redis)},
    {"shards", set_node, offsetof(struct sections, shards), true},
    {"sentinel", set_node, offsetof(struct sections, sentinel), true},
    {"proxies", set_node, offsetof(struct sections, proxies)},
    {"alerts", set_node, offsetof(struct sections, alerts)},
};

/* Sections are read in dependency order (defaults before hosts, hosts before addresses). */
static void load_root(struct loader *L, const struct ynode *root)
{
    struct spec *s = L->s;
    if (root->kind != YNODE_MAP) {
        sl_error_at(L, root, "a spec must be a mapping at top level, got %s", ynode_describe(root));
        return;
    }
    struct sections sec = {0};
    LOAD_MAP(L, root, top_fields, &sec);

    size_t old;
    if (sec.cluster) {
        old = sl_path_push_key(L, "cluster");
        set_cluster(L, NULL, sec.cluster, s);
        sl_path_pop(L, old);
    }
    if (sec.defaults) {
        old = sl_path_push_key(L, "defaults");
        if (sl_expect_kind(L, sec.defaults, YNODE_MAP))
            LOAD_MAP(L, sec.defaults, defaults_fields, &s->defaults);
        sl_path_pop(L, old);
    }
    if (sec.hosts) {
        old = sl_path_push_key(L, "hosts");
        load_hosts(L, sec.hosts);
        sl_path_pop(L, old);
    }
    if (sec.auth) {
        old = sl_path_push_key(L, "auth");
        load_auth(L, sec.auth);
        sl_path_pop(L, old);
    }
    if (sec.redis) {
        old = sl_path_push_key(L, "redis");
        if (sl_expect_kind(L, sec.redis, YNODE_MAP))
            LOAD_MAP(L, sec.redis, redis_fields, NULL);
        sl_path_pop(L, old);
    }
    if (sec.shards) {
        old = sl_path_push_key(L, "shards");
        load_shards(L, sec.shards);
        sl_path_pop(L, old);
    }
    if (sec.sentinel) {
        old = sl_path_push_key(L, "sentinel");
        load_sentinel(L, sec.sentinel);
        sl_path_pop(L, old);
    }
    if (sec.proxies) {
        old = sl_path_push_key(L, "proxies");
        load_proxies(L, sec.proxies);
        sl_path_pop(L, old);
    }
    if (sec.alerts) {
        old = sl_path_push_key(L, "alerts");
        sl_load_alerts(L, sec.alerts);
        sl_path_pop(L, old);
    }
    scan_secrets(L, root);
    if (L->stopped)
        return;
    sl_resolve_all(L);
    if (!L->stopped)
        sl_check_addresses(L);
}

/* ------------------------------------------------------------------------ */
/* public */

struct spec *spec_load_buffer(const char *name, const char *data, size_t len, struct diags *d)
{
    size_t errors_before = diags_count(d, DIAG_ERROR);
    if (len > SPEC_MAX_FILE_SIZE) {
        /* file:1:1 like every other error: editors and CI annotations jump to it */
        diags_add(d, DIAG_ERROR, name, 1, 1, "spec is larger than %d bytes", SPEC_MAX_FILE_SIZE);
        return NULL;
    }
    struct ytree_limits lim = {SPEC_MAX_NODES, SPEC_MAX_DEPTH, SPEC_MAX_ERRORS};
    struct ynode *root = ytree_parse(name, data, len, &lim, d);
    if (!root)
        return NULL;

    struct spec *s = xcalloc(1, sizeof(*s));
    s->file = xstrdup(name);
    s->source = xmalloc(len + 1);
    memcpy(s->source, data, len);
    s->source[len] = '\0';
    s->source_len = len;
    defaults_init(&s->defaults);
    s->sentinel.down_after_ms = 5000;
    s->sentinel.failover_timeout_ms = 60000;
    s->sentinel.parallel_syncs = 1;

    struct loader L = {.file = name, .d = d, .s = s};
    L.errors = diags_count(d, DIAG_ERROR) - errors_before; /* duplicate keys */
    load_root(&L, root);
    sb_release(&L.path);
    free(L.stats_pos);
    free(L.host_index);
    free(L.typos);
    ynode_free(root);

    if (diags_count(d, DIAG_ERROR) > errors_before) {
        spec_free(s);
        return NULL;
    }
    return s;
}

struct spec *spec_load_file(const char *path, struct diags *d)
{
    char *data;
    size_t len;
    if (read_file(path, SPEC_MAX_FILE_SIZE, &data, &len) < 0) {
        if (errno == EFBIG)
            diags_add(d, DIAG_ERROR, path, 1, 1, "spec is larger than %d bytes",
                      SPEC_MAX_FILE_SIZE);
        else
            diags_add(d, DIAG_ERROR, NULL, 0, 0, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct spec *s = spec_load_buffer(path, data, len, d);
    free(data);
    return s;
}
