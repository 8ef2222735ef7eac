/*
 * redis_parse.c - INFO text, Sentinel replies and nutcracker stats into the
 * observed model. Pure: see redis_parse.h.
 */
#include "redis_parse.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "conf.h"
#include "nutcracker_yml.h"
#include "util.h"

/* ---------------------------------------------------------------- INFO */

/* Parse a decimal long long; false on junk. */
static bool parse_ll(const char *s, long long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/*
 * The value of "name=value" in a comma-separated list such as
 * "ip=10.0.0.2,port=6379,state=online", copied into buf, or NULL.
 */
static const char *csv_field(const char *list, const char *name, char *buf, size_t size)
{
    size_t nlen = strlen(name);
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nlen && !strncmp(p, name, nlen) && p[nlen] == '=') {
            size_t vlen = len - nlen - 1;
            if (vlen >= size)
                vlen = size - 1;
            memcpy(buf, p + nlen + 1, vlen);
            buf[vlen] = '\0';
            return buf;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

/* "slaveN" with N all digits */
static bool is_numbered(const char *key, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (strncmp(key, prefix, plen) || !key[plen])
        return false;
    for (const char *p = key + plen; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

/*
 * More keys than this in one database is no count a Redis server reports
 * (its dictionaries are indexed by 32-bit sizes on most builds): 2^40.
 */
#define INFO_MAX_DB_KEYS (1LL << 40)

/* Add a database's key count to the total, saturating instead of wrapping. */
static void add_keys(long long *total, long long v)
{
    *total = v > LLONG_MAX - *total ? LLONG_MAX : *total + v;
}

/*
 * One "key:value" line into `r`. Returns NULL, or why the line is not a
 * plausible answer (caller frees): a key count a replica could hide
 * behind is an error, never read as "no keys".
 */
static char *info_line(struct obs_redis *r, const char *key, const char *val, size_t *cap,
                       bool *saw_role)
{
    long long v;
    char buf[256];

    if (!strcmp(key, "run_id")) {
        free(r->run_id);
        r->run_id = xstrdup(val);
    } else if (!strcmp(key, "config_file")) {
        free(r->config_file);
        r->config_file = xstrdup(val);
    } else if (!strcmp(key, "redis_version")) {
        free(r->build.version);
        r->build.version = xstrdup(val);
    } else if (!strcmp(key, "executable")) {
        free(r->build.executable);
        r->build.executable = xstrdup(val);
    } else if (!strcmp(key, "process_id")) {
        if (parse_ll(val, &v) && v > 0 && v <= 4194304)
            r->build.pid = (long)v;
    } else if (!strcmp(key, "role")) {
        free(r->role);
        r->role = xstrdup(val);
        *saw_role = true;
    } else if (!strcmp(key, "master_host")) {
        free(r->master_host);
        r->master_host = xstrdup(val);
    } else if (!strcmp(key, "master_port")) {
        if (parse_ll(val, &v) && v >= 0 && v <= 65535)
            r->master_port = (int)v;
    } else if (!strcmp(key, "master_link_status")) {
        free(r->master_link_status);
        r->master_link_status = xstrdup(val);
    } else if (!strcmp(key, "master_repl_offset")) {
        if (parse_ll(val, &v))
            r->master_repl_offset = v;
    } else if (!strcmp(key, "slave_repl_offset")) {
        if (parse_ll(val, &v))
            r->slave_repl_offset = v;
    } else if (!strcmp(key, "connected_slaves")) {
        if (parse_ll(val, &v) && v >= 0 && v <= 1000000)
            r->connected_slaves = (int)v;
    } else if (!strcmp(key, "loading")) {
        r->loading = !strcmp(val, "1");
    } else if (is_numbered(key, "slave")) {
        /* slave0:ip=127.0.0.1,port=6380,state=online,offset=314,lag=1 */
        struct obs_redis_replica rep = {0};
        if (!csv_field(val, "ip", buf, sizeof(buf)))
            return NULL;
        rep.ip = xstrdup(buf);
        if (csv_field(val, "port", buf, sizeof(buf)) && parse_ll(buf, &v) && v >= 0 &&
            v <= 65535)
            rep.port = (int)v;
        if (csv_field(val, "state", buf, sizeof(buf)))
            rep.state = xstrdup(buf);
        if (csv_field(val, "offset", buf, sizeof(buf)) && parse_ll(buf, &v))
            rep.offset = v;
        VEC_GROW(r->replicas, r->nreplicas, *cap);
        r->replicas[r->nreplicas++] = rep;
    } else if (is_numbered(key, "db")) {
        /* db0:keys=1,expires=0,avg_ttl=0 */
        if (!csv_field(val, "keys", buf, sizeof(buf)) || !parse_ll(buf, &v) || v < 0 ||
            v > INFO_MAX_DB_KEYS) {
            r->keys = LLONG_MAX; /* whoever ignores the error still sees "holds data" */
            return xasprintf("INFO %s has no plausible key count: \"%.64s\"", key, val);
        }
        add_keys(&r->keys, v);
    }
    return NULL;
}

int redis_parse_info(const char *text, struct obs_redis *r, char **err)
{
    size_t cap = 0;
    bool saw_role = false;
    const char *p = text ? text : "";
    char *bad = NULL;

    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *next = eol ? eol + 1 : p + len;
        if (len && p[len - 1] == '\r')
            len--;
        const char *colon = memchr(p, ':', len);
        if (len && p[0] != '#' && colon) {
            char *key = xstrndup(p, (size_t)(colon - p));
            char *val = xstrndup(colon + 1, len - (size_t)(colon - p) - 1);
            char *why = info_line(r, key, val, &cap, &saw_role);
            if (why && !bad)
                bad = why;
            else
                free(why);
            free(key);
            free(val);
        }
        p = next;
    }
    if (!saw_role && !bad)
        bad = xstrdup("INFO has no role: not a redis server (a sentinel?)");
    if (bad) {
        *err = bad;
        return -1;
    }
    return 0;
}

char *redis_info_field(const char *text, const char *field)
{
    size_t flen = strlen(field);
    const char *p = text ? text : "";
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len && p[len - 1] == '\r')
            len--;
        if (len > flen && !strncmp(p, field, flen) && p[flen] == ':')
            return xstrndup(p + flen + 1, len - flen - 1);
        p = eol ? eol + 1 : p + strlen(p);
    }
    return NULL;
}

/* ------------------------------------------------------------ Sentinel */

static bool is_string(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* The value of `name` in a flat [name, value, ...] array, or NULL. */
static const char *flat_get(const redisReply *entry, const char *name)
{
    for (size_t i = 0; i + 1 < entry->elements; i += 2) {
        const redisReply *k = entry->element[i], *v = entry->element[i + 1];
        if (is_string(k) && is_string(v) && !strcmp(k->str, name))
            return v->str;
    }
    return NULL;
}

static long long flat_ll(const redisReply *entry, const char *name, long long dflt)
{
    long long v;
    return parse_ll(flat_get(entry, name), &v) ? v : dflt;
}

static int flat_port(const redisReply *entry)
{
    long long v = flat_ll(entry, "port", 0);
    return v >= 0 && v <= 65535 ? (int)v : 0;
}

/* Check that `reply` is an array of flat name/value arrays. */
static int check_table(const redisReply *reply, char **err)
{
    if (!reply) {
        *err = xstrdup("no reply");
        return -1;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        *err = xstrdup(reply->str ? reply->str : "error reply");
        return -1;
    }
    if (reply->type != REDIS_REPLY_ARRAY) {
        *err = xstrdup("unexpected reply: not an array");
        return -1;
    }
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements % 2) {
            *err = xasprintf("unexpected reply: entry %zu is not a list of name/value pairs", i);
            return -1;
        }
    }
    return 0;
}

static int cmp_master(const void *a, const void *b)
{
    const struct obs_sentinel_master *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static int cmp_peer(const void *a, const void *b)
{
    const struct obs_sentinel_peer *x = a, *y = b;
    int c = strcmp(x->ip, y->ip);
    return c ? c : (x->port > y->port) - (x->port < y->port);
}

int redis_parse_sentinel_masters(const redisReply *reply, struct obs_sentinel_master **out,
                                 size_t *n, char **err)
{
    *out = NULL;
    *n = 0;
    if (check_table(reply, err) < 0)
        return -1;
    struct obs_sentinel_master *m = xcalloc(reply->elements, sizeof(*m));
    size_t k = 0;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        const char *name = flat_get(e, "name"), *ip = flat_get(e, "ip");
        if (!name || !ip)
            continue; /* not a master entry we can use */
        struct obs_sentinel_master *x = &m[k++];
        x->name = xstrdup(name);
        x->ip = xstrdup(ip);
        x->port = flat_port(e);
        x->flags = xstrdup(flat_get(e, "flags"));
        x->quorum = (int)flat_ll(e, "quorum", 0);
        x->down_after_ms = (long)flat_ll(e, "down-after-milliseconds", 0);
        x->failover_timeout_ms = (long)flat_ll(e, "failover-timeout", 0);
        x->parallel_syncs = (int)flat_ll(e, "parallel-syncs", 0);
        x->config_epoch = flat_ll(e, "config-epoch", 0);
        x->num_other_sentinels = (int)flat_ll(e, "num-other-sentinels", 0);
        /* only while a failover runs / the master is objectively down */
        x->failover_state = xstrdup(flat_get(e, "failover-state"));
        x->odown_ms = flat_ll(e, "o-down-time", -1);
    }
    /* Sentinel answers in hash-table order: sort, so output is stable */
    if (k > 1)
        qsort(m, k, sizeof(*m), cmp_master);
    *out = m;
    *n = k;
    return 0;
}

int redis_parse_sentinel_peers(const redisReply *reply, bool with_runid,
                               struct obs_sentinel_peer **out, size_t *n, char **err)
{
    *out = NULL;
    *n = 0;
    if (check_table(reply, err) < 0)
        return -1;
    struct obs_sentinel_peer *p = xcalloc(reply->elements, sizeof(*p));
    size_t k = 0;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        const char *ip = flat_get(e, "ip");
        if (!ip)
            continue;
        struct obs_sentinel_peer *x = &p[k++];
        x->ip = xstrdup(ip);
        x->port = flat_port(e);
        x->flags = xstrdup(flat_get(e, "flags"));
        if (with_runid) {
            x->runid = xstrdup(flat_get(e, "runid"));
            x->voted_leader = xstrdup(flat_get(e, "voted-leader"));
            x->voted_leader_epoch = flat_ll(e, "voted-leader-epoch", 0);
        }
    }
    if (k > 1)
        qsort(p, k, sizeof(*p), cmp_peer);
    *out = p;
    *n = k;
    return 0;
}

/* ------------------------------------------------------------ CONFIG GET */

int redis_parse_config_get(const redisReply *reply, char **value, char **err)
{
    *value = NULL;
    if (!reply) {
        *err = xstrdup("no reply");
        return -1;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        *err = xstrdup(reply->str ? reply->str : "error reply");
        return -1;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2) {
        *err = xstrdup("unexpected CONFIG GET reply");
        return -1;
    }
    if (reply->elements == 0)
        return 1;
    const redisReply *v = reply->element[1];
    if (!is_string(v)) {
        *err = xstrdup("unexpected CONFIG GET reply");
        return -1;
    }
    *value = xstrndup(v->str, v->len);
    return 0;
}

/* -------------------------------------------------------------- secrets */

bool redis_is_secret_directive(const char *key)
{
    return key && (str_ieq(key, "requirepass") || str_ieq(key, "masterauth") ||
                   str_ieq(key, "auth-pass") || str_ieq(key, "sentinel-pass"));
}

size_t redis_parse_sentinel_auth_pass(const char *text, const char *password,
                                      struct obs_kv **out)
{
    struct obs_kv *kv = NULL;
    size_t n = 0, cap = 0;
    for (const char *p = text ? text : ""; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = xstrndup(p, len);
        p += len + (nl ? 1 : 0);
        /* Sentinel reads its file with sdssplitargs: so does this */
        int argc = 0;
        sds *argv = sdssplitargs(line, &argc);
        if (argv && argc >= 4 && str_ieq(argv[0], "sentinel") && str_ieq(argv[1], "auth-pass")) {
            char *key = xasprintf("auth-pass %s", argv[2]);
            const char *masked = obs_mask_secret(argv[3], password);
            size_t k = 0;
            while (k < n && !str_eq(kv[k].key, key))
                k++;
            if (k == n) { /* last one wins, as when Sentinel loads the file */
                VEC_GROW(kv, n, cap);
                kv[n].key = key;
                kv[n++].value = xstrdup(masked);
            } else {
                free(key);
                free(kv[k].value);
                kv[k].value = xstrdup(masked);
            }
        }
        if (argv) {
            for (int i = 0; i < argc; i++) /* it held the password */
                memset(argv[i], 0, sdslen(argv[i]));
            sdsfreesplitres(argv, argc);
        }
        memset(line, 0, len);
        free(line);
    }
    *out = kv;
    return n;
}

const char *obs_mask_secret(const char *value, const char *password)
{
    if (!value || !*value)
        return "";
    if (password && !strcmp(value, password))
        return CONF_SECRET_PLACEHOLDER;
    return CONF_SECRET_MISMATCH;
}

/*
 * Unquote a YAML scalar [s, s+len) written as plain, 'single' (with ''
 * for ') or "double" (with \" and \\) text. Caller frees.
 */
static char *yaml_unquote(const char *s, size_t len, char quote)
{
    struct strbuf sb = {0};
    for (size_t i = 0; i < len; i++) {
        if (quote == '\'' && s[i] == '\'' && i + 1 < len && s[i + 1] == '\'')
            i++;
        else if (quote == '"' && s[i] == '\\' && i + 1 < len)
            i++;
        sb_addc(&sb, s[i]);
    }
    return sb_detach(&sb);
}

/* Rewrite one "redis_auth: value" line [line, line+len) into sb. */
static void mask_auth_line(struct strbuf *sb, const char *line, size_t len, const char *password)
{
    const char *p = line, *end = line + len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    p += strlen("redis_auth:");
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    sb_addn(sb, line, (size_t)(p - line)); /* indent, key, spacing */

    const char *vend = end;
    while (vend > p && (vend[-1] == ' ' || vend[-1] == '\t' || vend[-1] == '\r'))
        vend--;
    char quote = 0;
    const char *vs = p, *ve = vend;
    if (vs < vend && (*vs == '"' || *vs == '\'')) {
        /* find the closing quote; '' and \x are escapes inside */
        const char *q = vs + 1;
        while (q < vend) {
            if (*vs == '\'' && *q == '\'' && q + 1 < vend && q[1] == '\'')
                q += 2;
            else if (*vs == '"' && *q == '\\' && q + 1 < vend)
                q += 2;
            else if (*q == *vs)
                break;
            else
                q++;
        }
        if (q < vend) {
            quote = *vs;
            vs++;
            ve = q;
        }
    }
    if (!quote) {
        /* a plain scalar may carry a trailing " # comment" */
        for (const char *q = vs; q < ve; q++)
            if (*q == '#' && q > vs && (q[-1] == ' ' || q[-1] == '\t')) {
                ve = q;
                while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                break;
            }
    }
    char *value = yaml_unquote(vs, (size_t)(ve - vs), quote);
    if (quote)
        sb_addc(sb, quote);
    sb_add(sb, obs_mask_secret(value, password));
    if (quote)
        sb_addc(sb, quote);
    free(value);
    const char *rest = quote ? ve + 1 : ve;
    sb_addn(sb, rest, (size_t)(end - rest)); /* comment, spaces, \r */
}

/*
 * The line-by-line masker, for text that is not valid YAML: the value of a
 * "redis_auth: value" line, and the rest of any other line that names
 * redis_auth.
 */
static void mask_auth_lines(struct strbuf *sb, const char *p, const char *password)
{
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *q = p;
        while (q < p + len && (*q == ' ' || *q == '\t'))
            q++;
        const char *key = memmem(p, len, "redis_auth", strlen("redis_auth"));
        if ((size_t)(p + len - q) >= strlen("redis_auth:") && str_starts_with(q, "redis_auth:")) {
            mask_auth_line(sb, p, len, password);
        } else if (key) {
            sb_addn(sb, p, (size_t)(key - p) + strlen("redis_auth"));
            sb_add(sb, ": " CONF_SECRET_MISMATCH);
        } else {
            sb_addn(sb, p, len);
        }
        if (eol)
            sb_addc(sb, '\n');
        p += len + (eol ? 1 : 0);
    }
}

/* A byte range [start, end) of the text to show as `with`. */
struct mask_range {
    size_t start, end;
    const char *with;
};

/* An anchored scalar, so that "redis_auth: *a" masks what &a names. */
struct mask_anchor {
    char *name;
    size_t start, end; /* the scalar's range, as masked */
};

struct masker {
    const char *text;
    const char *password;
    struct mask_range *ranges;
    size_t nranges, capranges;
    struct mask_anchor *anchors;
    size_t nanchors, capanchors;
};

static void mask_add(struct masker *m, size_t start, size_t end, const char *with)
{
    VEC_GROW(m->ranges, m->nranges, m->capranges);
    m->ranges[m->nranges++] = (struct mask_range){start, end, with};
}

/*
 * The part of a scalar token to replace: inside the quotes of a quoted one;
 * for a block scalar ("|", ">") its indicator and lines, keeping the line
 * breaks that end it.
 */
static void scalar_range(const struct masker *m, const yaml_token_t *t, size_t *start,
                         size_t *end)
{
    *start = t->start_mark.index;
    *end = t->end_mark.index;
    switch (t->data.scalar.style) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        if (*end - *start >= 2) {
            (*start)++;
            (*end)--;
        }
        break;
    case YAML_LITERAL_SCALAR_STYLE:
    case YAML_FOLDED_SCALAR_STYLE:
        while (*end > *start && strchr(" \t\r\n", m->text[*end - 1]))
            (*end)--;
        while (*end < t->end_mark.index && (m->text[*end] == ' ' || m->text[*end] == '\t'))
            (*end)++;
        break;
    default:
        break;
    }
}

static void mask_scalar(struct masker *m, const yaml_token_t *t, const char *with)
{
    size_t start, end;
    scalar_range(m, t, &start, &end);
    mask_add(m, start, end, with ? with : obs_mask_secret((const char *)t->data.scalar.value,
                                                          m->password));
}

static int cmp_range(const void *a, const void *b)
{
    const struct mask_range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * Scan the YAML tokens and collect the range of every redis_auth value,
 * whatever the form: quoted keys, "key :", flow mappings, block and
 * multi-line scalars, aliases. A value that is a collection is masked
 * scalar by scalar. Returns the offset up to which the text was scanned:
 * strlen(text), or less after a syntax error.
 */
static size_t mask_scan(struct masker *m)
{
    enum { S_NONE, S_KEY, S_AUTH_KEY, S_AUTH_VALUE, S_NESTED, S_INDENTLESS } st = S_NONE;
    int depth = 0;        /* S_NESTED: collections open inside the value */
    char *anchor = NULL;  /* an anchor waiting for its node */
    size_t done = 0;      /* text before this offset is fully scanned */
    size_t len = strlen(m->text);
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return 0;
    yaml_parser_set_input_string(&parser, (const unsigned char *)m->text, len);
    for (;;) {
        yaml_token_t t;
        if (!yaml_parser_scan(&parser, &t))
            break;
        yaml_token_type_t type = t.type;
        if (type == YAML_STREAM_END_TOKEN) {
            yaml_token_delete(&t);
            done = len;
            break;
        }
        if (type == YAML_ANCHOR_TOKEN) {
            free(anchor);
            anchor = xstrdup((const char *)t.data.anchor.value);
        } else if (type == YAML_SCALAR_TOKEN) {
            bool secret = st == S_AUTH_VALUE || st == S_NESTED || st == S_INDENTLESS;
            if (secret)
                mask_scalar(m, &t, st == S_AUTH_VALUE ? NULL : CONF_SECRET_MISMATCH);
            if (anchor) {
                VEC_GROW(m->anchors, m->nanchors, m->capanchors);
                struct mask_anchor *a = &m->anchors[m->nanchors++];
                a->name = anchor;
                scalar_range(m, &t, &a->start, &a->end);
                anchor = NULL;
            }
            if (st == S_KEY)
                st = str_eq((const char *)t.data.scalar.value, "redis_auth") ? S_AUTH_KEY
                                                                              : S_NONE;
            else if (st == S_AUTH_VALUE)
                st = S_NONE;
        } else if (type == YAML_ALIAS_TOKEN) {
            if (st == S_AUTH_VALUE || st == S_NESTED || st == S_INDENTLESS)
                for (size_t i = 0; i < m->nanchors; i++)
                    if (str_eq(m->anchors[i].name, (const char *)t.data.alias.value))
                        mask_add(m, m->anchors[i].start, m->anchors[i].end,
                                 CONF_SECRET_MISMATCH);
            if (st == S_AUTH_VALUE || st == S_KEY)
                st = S_NONE;
        } else if (type == YAML_TAG_TOKEN) {
            /* "!!str": the node follows */
        } else if (type == YAML_BLOCK_SEQUENCE_START_TOKEN ||
                   type == YAML_BLOCK_MAPPING_START_TOKEN ||
                   type == YAML_FLOW_SEQUENCE_START_TOKEN ||
                   type == YAML_FLOW_MAPPING_START_TOKEN) {
            free(anchor); /* anchors of collections are not followed */
            anchor = NULL;
            if (st == S_AUTH_VALUE) {
                st = S_NESTED;
                depth = 1;
            } else if (st == S_NESTED) {
                depth++;
            } else if (st != S_INDENTLESS) {
                st = S_NONE;
            }
        } else if (type == YAML_BLOCK_END_TOKEN || type == YAML_FLOW_SEQUENCE_END_TOKEN ||
                   type == YAML_FLOW_MAPPING_END_TOKEN) {
            if (st == S_NESTED && --depth == 0)
                st = S_NONE;
            else if (st != S_NESTED)
                st = S_NONE;
        } else if (type == YAML_BLOCK_ENTRY_TOKEN) {
            /* "redis_auth:\n- x": a sequence at the key's own indentation */
            if (st == S_AUTH_VALUE)
                st = S_INDENTLESS;
        } else if (type == YAML_KEY_TOKEN) {
            if (st != S_NESTED)
                st = S_KEY;
        } else if (type == YAML_VALUE_TOKEN) {
            if (st == S_AUTH_KEY)
                st = S_AUTH_VALUE;
            else if (st == S_KEY)
                st = S_NONE; /* a key that was not a plain scalar */
        } else if (type == YAML_FLOW_ENTRY_TOKEN) {
            if (st != S_NESTED)
                st = S_NONE;
        }
        /* a token ends where the next may begin: all before it is scanned */
        if (st == S_NONE && !anchor)
            done = t.end_mark.index;
        yaml_token_delete(&t);
    }
    free(anchor);
    yaml_parser_delete(&parser);
    return done;
}

char *redis_mask_nutcracker_auth(const char *text, const char *password)
{
    struct masker m = {.text = text ? text : "", .password = password};
    size_t len = strlen(m.text);
    size_t done = mask_scan(&m);

    /*
     * After a syntax error the rest is masked line by line, from the start
     * of the line where the scan stopped (or of a range that crosses it).
     */
    if (m.nranges) /* qsort(NULL, 0, ...) is undefined behaviour */
        qsort(m.ranges, m.nranges, sizeof(*m.ranges), cmp_range);
    size_t limit = len;
    if (done < len) {
        limit = done;
        for (size_t i = m.nranges; i-- > 0;)
            if (m.ranges[i].start < limit && m.ranges[i].end > limit)
                limit = m.ranges[i].start;
        while (limit > 0 && m.text[limit - 1] != '\n')
            limit--;
    }
    /* ranges in order, overlaps dropped (an alias may repeat one) */
    struct strbuf sb = {0};
    size_t at = 0;
    for (size_t i = 0; i < m.nranges; i++) {
        const struct mask_range *r = &m.ranges[i];
        if (r->start < at || r->end > limit)
            continue;
        sb_addn(&sb, m.text + at, r->start - at);
        sb_add(&sb, r->with);
        at = r->end;
    }
    sb_addn(&sb, m.text + at, limit - at);
    mask_auth_lines(&sb, m.text + limit, password);
    for (size_t i = 0; i < m.nanchors; i++)
        free(m.anchors[i].name);
    free(m.anchors);
    free(m.ranges);

    /* whatever form escaped the above: the password itself never shows */
    if (password && *password && strstr(sb_str(&sb), password)) {
        struct strbuf out = {0};
        const char *p = sb_str(&sb), *hit;
        size_t plen = strlen(password);
        while ((hit = strstr(p, password))) {
            sb_addn(&out, p, (size_t)(hit - p));
            sb_add(&out, CONF_SECRET_PLACEHOLDER);
            p = hit + plen;
        }
        sb_add(&out, p);
        sb_release(&sb);
        return sb_detach(&out);
    }
    return sb_detach(&sb);
}

/* ------------------------------------------------------------ nutcracker */

size_t redis_parse_nutcracker_servers(const char *text, struct nc_server **out)
{
    struct nc_yml y;
    nc_yml_parse(&y, text);
    struct nc_server *v = y.nservers ? xcalloc(y.nservers, sizeof(*v)) : NULL;
    for (size_t i = 0; i < y.nservers; i++) {
        v[i].name = xstrdup(y.servers[i].name);
        v[i].ip = xstrdup(y.servers[i].ip);
        v[i].port = y.servers[i].port;
    }
    size_t n = y.nservers;
    nc_yml_release(&y);
    *out = v;
    return n;
}

void nc_servers_free(struct nc_server *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        free(s[i].name);
        free(s[i].ip);
    }
    free(s);
}

int redis_parse_proxy_stats(const char *json, long long *uptime_s, long long *timestamp_s,
                            char **err)
{
    json_error_t je;
    json_t *root = json_loads(json ? json : "", 0, &je);
    if (!root) {
        *err = xasprintf("invalid stats JSON: %s", je.text);
        return -1;
    }
    int rc = -1;
    json_t *up = json_object_get(root, "uptime"), *ts = json_object_get(root, "timestamp");
    if (!json_is_object(root))
        *err = xstrdup("invalid stats JSON: not an object");
    else if (!json_is_integer(up) || !json_is_integer(ts))
        *err = xstrdup("invalid stats JSON: no \"uptime\" or \"timestamp\"");
    else {
        *uptime_s = json_integer_value(up);
        *timestamp_s = json_integer_value(ts);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

bool redis_parse_proxy_pool(const char *json, const char *pool, long long *forward_error,
                            long long *server_ejects)
{
    json_t *root = json_loads(json ? json : "", 0, NULL);
    json_t *po = root && pool ? json_object_get(root, pool) : NULL;
    json_t *fe = json_object_get(po, "forward_error"), *ej = json_object_get(po, "server_ejects");
    bool ok = json_is_integer(fe) && json_is_integer(ej);
    if (ok) {
        *forward_error = json_integer_value(fe);
        *server_ejects = json_integer_value(ej);
    }
    json_decref(root);
    return ok;
}

size_t redis_parse_info_numbers(const char *text, const char *const *fields, size_t nfields,
                                struct obs_num **out)
{
    *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < nfields; i++) {
        char *v = redis_info_field(text, fields[i]);
        char *end = NULL;
        double d = 0;
        if (v && *v) {
            errno = 0;
            d = strtod(v, &end);
        }
        if (v && *v && !errno && end && !*end && d == d) {
            if (!*out)
                *out = xcalloc(nfields, sizeof(**out));
            (*out)[n].key = xstrdup(fields[i]);
            (*out)[n++].value = d;
        }
        free(v);
    }
    return n;
}

int redis_parse_slowlog_get(const redisReply *reply, long long *last_id)
{
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        return -1;
    if (reply->elements == 0) {
        *last_id = -1;
        return 0;
    }
    const redisReply *e = reply->element[0];
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 1 || !e->element[0] ||
        e->element[0]->type != REDIS_REPLY_INTEGER || e->element[0]->integer < 0)
        return -1;
    *last_id = e->element[0]->integer;
    return 0;
}

char *redis_parse_program_version(const char *text)
{
    static const char *const marks[] = {" v=", "nutcracker-"};
    for (size_t i = 0; text && i < ARRAY_SIZE(marks); i++) {
        const char *p = strstr(text, marks[i]);
        if (!p)
            continue;
        p += strlen(marks[i]);
        size_t n = strcspn(p, " \t\r\n");
        if (n)
            return xstrndup(p, n);
    }
    return NULL;
}

char *redis_parse_proxy_version(const char *json)
{
    json_t *root = json_loads(json ? json : "", 0, NULL);
    json_t *v = json_is_object(root) ? json_object_get(root, "version") : NULL;
    char *out = json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
    json_decref(root);
    return out;
}

/* ------------------------------------------------------------- errors */

static bool has_strerror(const char *errstr, int errnum)
{
    char buf[128];
    const char *msg = strerror_r(errnum, buf, sizeof(buf));
    return errstr && msg && strstr(errstr, msg);
}

enum reach redis_reach_from_io(int err, const char *errstr)
{
    if (err == REDIS_ERR_IO) {
        if (has_strerror(errstr, ECONNREFUSED))
            return REACH_REFUSED;
        if (has_strerror(errstr, ETIMEDOUT) || has_strerror(errstr, EAGAIN) ||
            has_strerror(errstr, EINPROGRESS))
            return REACH_TIMEOUT;
    }
    return REACH_ERROR;
}

bool redis_error_is_auth(const char *errstr)
{
    return errstr && (str_starts_with(errstr, "NOAUTH") || str_starts_with(errstr, "WRONGPASS") ||
                      str_starts_with(errstr, "ERR invalid password"));
}
