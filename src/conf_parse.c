/*
 * conf_parse.c - reading and editing redis.conf / sentinel.conf text, and
 * comparing directive values the way Redis 7.0 does.
 *
 * Pure text in and out. Parsing follows Redis' own loader
 * (loadServerConfigFromString + sdssplitargs): a line is trimmed, skipped
 * when empty or starting with '#', split into whitespace-separated
 * arguments with "double" (\n \r \t \b \a \" \\ \xHH escapes) and
 * 'single' ('\'' escape) quotes; the directive name is case-insensitive.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* ------------------------------------------------------------------------
 * Directive table (Redis 7.0.15 src/config.c static_configs[])
 * ---------------------------------------------------------------------- */

enum conf_type {
    CT_STRING,  /* compared exactly */
    CT_BOOL,    /* yes/no, case-insensitive */
    CT_ENUM,    /* one name, case-insensitive */
    CT_FLAGS,   /* several enum names, any order ("default" = none) */
    CT_INT,     /* plain integer */
    CT_MEM,     /* integer with k/kb/m/mb/g/gb/b units */
    CT_MEMPCT,  /* memory or "N%" */
    CT_OCTAL,   /* octal integer */
    CT_SAVE,    /* "<seconds> <changes>"... or "" */
    CT_COBL,    /* client-output-buffer-limit <class> <hard> <soft> <secs>... */
    CT_INTLIST, /* integers separated by spaces */
    CT_DOUBLES, /* numbers separated by spaces */
    CT_WORDS,   /* words separated by spaces, each compared exactly */
    CT_NOTIFY,  /* notify-keyspace-events class letters */
};

struct conf_directive {
    const char *name;
    const char *alias; /* the older name Redis still accepts, or NULL */
    enum conf_type type;
};

/*
 * Redis 7.0.15's directives (src/config.c static_configs[]) by the way
 * their values compare; "name|alias" where Redis still accepts an older
 * name. Looked up through the sorted tables built from it once.
 */
static const char *const directive_names[] = {
    [CT_STRING] =
        "aclfile aof_rewrite_cpulist appenddirname appendfilename bgsave_cpulist "
        "bind-source-addr bio_cpulist cluster-announce-hostname cluster-announce-ip "
        "cluster-config-file dbfilename dir ignore-warnings logfile masterauth masteruser "
        "pidfile proc-title-template replica-announce-ip|slave-announce-ip requirepass "
        "server_cpulist syslog-ident tls-ca-cert-dir tls-ca-cert-file tls-cert-file "
        "tls-ciphers tls-ciphersuites tls-client-cert-file tls-client-key-file "
        "tls-client-key-file-pass tls-dh-params-file tls-key-file tls-key-file-pass "
        "tls-protocols unixsocket",
    [CT_BOOL] =
        "activedefrag activerehashing always-show-logo aof-disable-auto-gc aof-load-truncated "
        "aof-rewrite-incremental-fsync aof-timestamp-enabled aof-use-rdb-preamble appendonly "
        "cluster-allow-pubsubshard-when-down cluster-allow-reads-when-down "
        "cluster-allow-replica-migration cluster-enabled "
        "cluster-replica-no-failover|cluster-slave-no-failover cluster-require-full-coverage "
        "crash-log-enabled crash-memcheck-enabled daemonize disable-thp dynamic-hz "
        "io-threads-do-reads jemalloc-bg-thread latency-tracking lazyfree-lazy-eviction "
        "lazyfree-lazy-expire lazyfree-lazy-server-del lazyfree-lazy-user-del "
        "lazyfree-lazy-user-flush no-appendfsync-on-rewrite protected-mode rdb-del-sync-files "
        "rdb-save-incremental-fsync rdbchecksum rdbcompression repl-disable-tcp-nodelay "
        "repl-diskless-sync replica-announced replica-ignore-disk-write-errors "
        "replica-ignore-maxmemory|slave-ignore-maxmemory replica-lazy-flush|slave-lazy-flush "
        "replica-read-only|slave-read-only replica-serve-stale-data|slave-serve-stale-data "
        "set-proc-title stop-writes-on-bgsave-error syslog-enabled tls-cluster "
        "tls-prefer-server-ciphers tls-replication tls-session-caching use-exit-on-panic",
    [CT_ENUM] =
        "acl-pubsub-default appendfsync cluster-preferred-endpoint-type enable-debug-command "
        "enable-module-command enable-protected-configs loglevel maxmemory-policy "
        "oom-score-adj propagation-error-behavior repl-diskless-load sanitize-dump-payload "
        "supervised syslog-facility tls-auth-clients",
    [CT_FLAGS] =
        "shutdown-on-sigint shutdown-on-sigterm",
    [CT_INT] =
        "acllog-max-len active-defrag-cycle-max active-defrag-cycle-min "
        "active-defrag-max-scan-fields active-defrag-threshold-lower "
        "active-defrag-threshold-upper active-expire-effort auto-aof-rewrite-percentage "
        "busy-reply-threshold|lua-time-limit cluster-announce-bus-port cluster-announce-port "
        "cluster-announce-tls-port cluster-migration-barrier cluster-node-timeout "
        "cluster-port cluster-replica-validity-factor|cluster-slave-validity-factor databases "
        "hash-max-listpack-entries|hash-max-ziplist-entries hz io-threads key-load-delay "
        "latency-monitor-threshold lfu-decay-time lfu-log-factor list-compress-depth "
        "list-max-listpack-size|list-max-ziplist-size maxclients maxmemory-eviction-tenacity "
        "maxmemory-samples min-replicas-max-lag|min-slaves-max-lag "
        "min-replicas-to-write|min-slaves-to-write port rdb-key-save-delay repl-backlog-ttl "
        "repl-diskless-sync-delay repl-diskless-sync-max-replicas "
        "repl-ping-replica-period|repl-ping-slave-period repl-timeout "
        "replica-announce-port|slave-announce-port replica-priority|slave-priority "
        "set-max-intset-entries shutdown-timeout slowlog-log-slower-than slowlog-max-len "
        "socket-mark-id stream-node-max-entries tcp-backlog tcp-keepalive timeout tls-port "
        "tls-session-cache-size tls-session-cache-timeout tracking-table-max-keys "
        "watchdog-period zset-max-listpack-entries|zset-max-ziplist-entries",
    [CT_MEM] =
        "active-defrag-ignore-bytes client-query-buffer-limit cluster-link-sendbuf-limit "
        "hash-max-listpack-value|hash-max-ziplist-value hll-sparse-max-bytes maxmemory "
        "proto-max-bulk-len repl-backlog-size stream-node-max-bytes "
        "zset-max-listpack-value|zset-max-ziplist-value",
    [CT_MEMPCT] =
        "maxmemory-clients",
    [CT_OCTAL] =
        "unixsocketperm",
    [CT_SAVE] =
        "save",
    [CT_COBL] =
        "client-output-buffer-limit",
    [CT_INTLIST] =
        "oom-score-adj-values",
    [CT_DOUBLES] =
        "latency-tracking-info-percentiles",
    [CT_WORDS] =
        "bind replicaof|slaveof",
    [CT_NOTIFY] =
        "notify-keyspace-events",
};

/* every directive sorted by name, and those with an alias sorted by it */
static struct conf_directive *by_name, **by_alias;
static size_t nby_name, nby_alias;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static int cmp_name(const void *a, const void *b)
{
    return strcasecmp(((const struct conf_directive *)a)->name,
                      ((const struct conf_directive *)b)->name);
}

static int cmp_alias(const void *a, const void *b)
{
    return strcasecmp((*(const struct conf_directive *const *)a)->alias,
                      (*(const struct conf_directive *const *)b)->alias);
}

/* Split directive_names into the sorted tables (kept for the process' life). */
static void tables_build(void)
{
    static struct strbuf words[ARRAY_SIZE(directive_names)];
    size_t cap = 0, acap = 0;
    for (size_t t = 0; t < ARRAY_SIZE(directive_names); t++) {
        if (!directive_names[t])
            continue;
        sb_add(&words[t], directive_names[t]);
        for (char *w = words[t].buf, *next; w && *w; w = next) {
            next = strchr(w, ' ');
            if (next)
                *next++ = '\0';
            char *bar = strchr(w, '|');
            if (bar)
                *bar++ = '\0';
            VEC_GROW(by_name, nby_name, cap);
            by_name[nby_name++] = (struct conf_directive){w, bar, (enum conf_type)t};
        }
    }
    qsort(by_name, nby_name, sizeof(*by_name), cmp_name);
    for (size_t i = 0; i < nby_name; i++) {
        if (!by_name[i].alias)
            continue;
        VEC_GROW(by_alias, nby_alias, acap);
        by_alias[nby_alias++] = &by_name[i];
    }
    qsort(by_alias, nby_alias, sizeof(*by_alias), cmp_alias);
}

/* The directive `name` (either spelling, any case), or NULL. */
static const struct conf_directive *directive_find(const char *name)
{
    pthread_once(&tables_once, tables_build);
    struct conf_directive key = {.name = name, .alias = name};
    const struct conf_directive *d = bsearch(&key, by_name, nby_name, sizeof(*by_name), cmp_name);
    if (d)
        return d;
    const struct conf_directive *pk = &key;
    const struct conf_directive *const *a =
        bsearch(&pk, by_alias, nby_alias, sizeof(*by_alias), cmp_alias);
    return a ? *a : NULL;
}

/* Whether two directive names mean the same directive (case, old aliases). */
static bool names_match(const char *a, const char *b)
{
    if (!strcasecmp(a, b))
        return true;
    const struct conf_directive *d = directive_find(a);
    return d && d == directive_find(b);
}

/*
 * names_match(line_name, key) with both looked up already (`ld`, `kd`:
 * directive_find of each): the loops over lines and keys look up once.
 */
static bool found_match(const char *line_name, const struct conf_directive *ld,
                        const char *key, const struct conf_directive *kd)
{
    return kd ? kd == ld : !strcasecmp(line_name, key);
}

static bool type_is_multi_arg(enum conf_type t)
{
    return t == CT_FLAGS || t == CT_SAVE || t == CT_COBL || t == CT_INTLIST ||
           t == CT_DOUBLES || t == CT_WORDS;
}

static enum conf_type key_type(const char *key, bool *known)
{
    const struct conf_directive *d = directive_find(key);
    if (known)
        *known = d != NULL;
    return d ? d->type : CT_STRING;
}

/* ------------------------------------------------------------------------
 * Splitting a line into arguments
 * ---------------------------------------------------------------------- */

struct args {
    char **v;
    size_t n, cap;
};

static void args_release(struct args *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Split `p` into arguments by the rules of Redis' sdssplitargs. Returns 0,
 * or -1 on unbalanced quotes or a closing quote not followed by a space
 * (out is then empty).
 */
static int split_args(const char *p, struct args *out)
{
    memset(out, 0, sizeof(*out));
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p)
            return 0;
        struct strbuf cur = {0};
        char quote = 0; /* '"' or '\'' inside quotes */
        bool done = false;
        while (!done) {
            if (quote) {
                if (quote == '"' && p[0] == '\\' && p[1] == 'x' && hex_value(p[2]) >= 0 &&
                    hex_value(p[3]) >= 0) {
                    sb_addc(&cur, (char)(hex_value(p[2]) * 16 + hex_value(p[3])));
                    p += 3;
                } else if (quote == '"' && p[0] == '\\' && p[1]) {
                    p++;
                    char c;
                    switch (*p) {
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    case 'b': c = '\b'; break;
                    case 'a': c = '\a'; break;
                    default: c = *p; break;
                    }
                    sb_addc(&cur, c);
                } else if (quote == '\'' && p[0] == '\\' && p[1] == '\'') {
                    p++;
                    sb_addc(&cur, '\'');
                } else if (*p == quote) {
                    if (p[1] && !isspace((unsigned char)p[1]))
                        goto err;
                    done = true;
                } else if (!*p) {
                    goto err;
                } else {
                    sb_addc(&cur, *p);
                }
            } else {
                switch (*p) {
                case ' ': case '\n': case '\r': case '\t': case '\0':
                    done = true;
                    break;
                case '"':
                case '\'': quote = *p; break;
                default: sb_addc(&cur, *p); break;
                }
            }
            if (*p)
                p++;
        }
        VEC_GROW(out->v, out->n, out->cap);
        out->v[out->n++] = sb_detach(&cur);
        continue;
    err:
        sb_release(&cur);
        args_release(out);
        return -1;
    }
}

/* Split a value; a value that does not split cleanly becomes one argument. */
static void split_value(const char *value, struct args *out)
{
    if (split_args(value, out) < 0) {
        VEC_GROW(out->v, out->n, out->cap);
        out->v[out->n++] = xstrdup(value);
    }
}

static char *args_join(const struct args *a, size_t from)
{
    struct strbuf sb = {0};
    for (size_t i = from; i < a->n; i++) {
        if (i > from)
            sb_addc(&sb, ' ');
        sb_add(&sb, a->v[i]);
    }
    return sb_detach(&sb);
}

/*
 * The arguments of one config line [line, line+len) like Redis' loader:
 * trimmed, comments and blank lines give 0 arguments. Returns -1 for a line
 * Redis would refuse (unbalanced quotes).
 */
static int parse_line(const char *line, size_t len, struct args *out)
{
    memset(out, 0, sizeof(*out));
    while (len && strchr(" \t\r\n", line[0])) {
        line++;
        len--;
    }
    while (len && strchr(" \t\r\n", line[len - 1]))
        len--;
    if (!len || line[0] == '#')
        return 0;
    char *copy = xstrndup(line, len);
    int rc = split_args(copy, out);
    free(copy);
    return rc;
}

/* ------------------------------------------------------------------------
 * Reading directives
 * ---------------------------------------------------------------------- */

void obs_kv_free_array(struct obs_kv *kv, size_t n)
{
    if (!kv)
        return;
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

/*
 * The value arguments of a multi-argument directive: like Redis, a single
 * non-empty argument is split again, so `save "3600 1"` equals `save 3600 1`.
 */
static void multi_values(const struct args *line, struct args *out)
{
    if (line->n == 2 && line->v[1][0]) {
        split_value(line->v[1], out);
        return;
    }
    memset(out, 0, sizeof(*out));
    for (size_t i = 1; i < line->n; i++) {
        VEC_GROW(out->v, out->n, out->cap);
        out->v[out->n++] = xstrdup(line->v[i]);
    }
}

/* client-output-buffer-limit class slot, or -1 */
static int cobl_class(const char *name)
{
    if (!strcasecmp(name, "normal"))
        return 0;
    if (!strcasecmp(name, "slave") || !strcasecmp(name, "replica"))
        return 1;
    if (!strcasecmp(name, "pubsub"))
        return 2;
    return -1;
}

struct found {
    bool present;
    char *value;
    char *cobl[3]; /* client-output-buffer-limit: per-class "<class> h s secs" */
};

/* Fold one line's value into `f` the way Redis applies repeated directives. */
static void found_add(struct found *f, enum conf_type type, const struct args *line)
{
    if (type == CT_SAVE) {
        /* in a config file save lines accumulate; save "" clears them */
        struct args vals;
        multi_values(line, &vals);
        char *joined = args_join(&vals, 0);
        if (f->present && f->value[0] && joined[0]) {
            char *both = xasprintf("%s %s", f->value, joined);
            free(joined);
            joined = both;
        }
        free(f->value);
        f->value = joined;
        args_release(&vals);
    } else if (type == CT_COBL) {
        /* each line sets the classes it names; the others keep their value */
        struct args vals;
        multi_values(line, &vals);
        bool ok = vals.n && vals.n % 4 == 0;
        for (size_t i = 0; ok && i < vals.n; i += 4)
            ok = cobl_class(vals.v[i]) >= 0;
        if (ok) {
            for (size_t i = 0; i < vals.n; i += 4) {
                int c = cobl_class(vals.v[i]);
                free(f->cobl[c]);
                f->cobl[c] = xasprintf("%s %s %s %s", vals.v[i], vals.v[i + 1],
                                       vals.v[i + 2], vals.v[i + 3]);
            }
            struct strbuf sb = {0};
            for (int c = 0; c < 3; c++) {
                if (!f->cobl[c])
                    continue;
                if (sb.len)
                    sb_addc(&sb, ' ');
                sb_add(&sb, f->cobl[c]);
            }
            free(f->value);
            f->value = sb_detach(&sb);
        } else {
            free(f->value); /* Redis would refuse it; report it as written */
            f->value = args_join(&vals, 0);
        }
        args_release(&vals);
    } else if (type_is_multi_arg(type)) {
        struct args vals;
        multi_values(line, &vals);
        free(f->value);
        f->value = args_join(&vals, 0);
        args_release(&vals);
    } else {
        free(f->value);
        f->value = args_join(line, 1);
    }
    f->present = true;
}

/* Length of the line at `p`, its newline included. */
static size_t line_len(const char *p)
{
    const char *nl = strchr(p, '\n');
    return nl ? (size_t)(nl - p) + 1 : strlen(p);
}

size_t conf_get_directives(const char *text, const char *const *keys, size_t nkeys,
                           struct obs_kv **out)
{
    struct found *f = xcalloc(nkeys ? nkeys : 1, sizeof(*f));
    const struct conf_directive **kd = xcalloc(nkeys ? nkeys : 1, sizeof(*kd));
    for (size_t k = 0; k < nkeys; k++)
        kd[k] = directive_find(keys[k]);
    size_t len;
    for (const char *line = text ? text : ""; *line; line += len) {
        len = line_len(line);
        struct args a;
        if (parse_line(line, len, &a) < 0 || a.n == 0)
            continue;
        const struct conf_directive *ld = directive_find(a.v[0]);
        for (size_t k = 0; k < nkeys; k++) {
            if (found_match(a.v[0], ld, keys[k], kd[k])) {
                found_add(&f[k], kd[k] ? kd[k]->type : CT_STRING, &a);
                break;
            }
        }
        args_release(&a);
    }
    free(kd);

    size_t n = 0;
    struct obs_kv *kv = NULL;
    for (size_t k = 0; k < nkeys; k++)
        if (f[k].present)
            n++;
    if (n)
        kv = xcalloc(n, sizeof(*kv));
    size_t j = 0;
    for (size_t k = 0; k < nkeys; k++) {
        if (f[k].present) {
            kv[j].key = xstrdup(keys[k]);
            kv[j].value = f[k].value;
            f[k].value = NULL;
            j++;
        }
        free(f[k].value);
        for (int c = 0; c < 3; c++)
            free(f[k].cobl[c]);
    }
    free(f);
    if (out)
        *out = kv;
    else
        obs_kv_free_array(kv, n);
    return n;
}

/* ------------------------------------------------------------------------
 * Editing directives
 * ---------------------------------------------------------------------- */

char *conf_format_value(const char *key, const char *value)
{
    if (!value)
        value = "";
    if (!type_is_multi_arg(key_type(key, NULL)))
        return conf_quote_arg(value);
    struct args a;
    split_value(value, &a);
    struct strbuf sb = {0};
    if (a.n == 0)
        sb_add(&sb, "\"\"");
    for (size_t i = 0; i < a.n; i++) {
        char *q = conf_quote_arg(a.v[i]);
        if (i)
            sb_addc(&sb, ' ');
        sb_add(&sb, q);
        free(q);
    }
    args_release(&a);
    return sb_detach(&sb);
}

static void sb_add_directive_line(struct strbuf *sb, const struct obs_kv *kv)
{
    char *v = conf_format_value(kv->key, kv->value);
    sb_addf(sb, "%s %s\n", kv->key, v);
    free(v);
}

/*
 * A NULL value removes the directive. Lines Redis would refuse are kept as
 * they are: rmgr does not repair what it does not understand.
 */
char *conf_set_directives(const char *text, const struct obs_kv *kv, size_t n)
{
    bool *done = xcalloc(n ? n : 1, sizeof(*done));
    const struct conf_directive **kd = xcalloc(n ? n : 1, sizeof(*kd));
    for (size_t k = 0; k < n; k++)
        kd[k] = directive_find(kv[k].key);
    struct strbuf sb = {0};
    size_t len;
    for (const char *line = text ? text : ""; *line; line += len) {
        len = line_len(line);
        struct args a;
        size_t k = n;
        if (parse_line(line, len, &a) == 0 && a.n > 0) {
            const struct conf_directive *ld = directive_find(a.v[0]);
            for (k = 0; k < n; k++)
                if (found_match(a.v[0], ld, kv[k].key, kd[k]))
                    break;
        }
        args_release(&a);
        if (k == n) {
            sb_addn(&sb, line, len);
        } else if (!done[k]) {
            done[k] = true;
            if (kv[k].value)
                sb_add_directive_line(&sb, &kv[k]);
        }
        /* else: a later duplicate, dropped so the first line decides */
    }
    for (size_t k = 0; k < n; k++) {
        if (done[k] || !kv[k].value)
            continue;
        /* skip a key listed twice in kv */
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = kv[j].value && names_match(kv[j].key, kv[k].key);
        if (dup)
            continue;
        if (sb.len && sb.buf[sb.len - 1] != '\n')
            sb_addc(&sb, '\n');
        sb_add_directive_line(&sb, &kv[k]);
    }
    free(kd);
    free(done);
    return sb_detach(&sb);
}

/* ------------------------------------------------------------------------
 * Comparing values
 * ---------------------------------------------------------------------- */

/* Redis' yesnotoi: 1, 0 or -1. */
static int yes_no(const char *s)
{
    if (!strcasecmp(s, "yes"))
        return 1;
    if (!strcasecmp(s, "no"))
        return 0;
    return -1;
}

static bool parse_int_base(const char *s, int base, long long *out)
{
    if (!*s || isspace((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, base);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* A memory value like Redis' memtoull: digits and an optional unit. */
static bool parse_mem(const char *s, unsigned long long *out)
{
    const char *u = s;
    while (isdigit((unsigned char)*u))
        u++;
    if (u == s)
        return false;
    /* Redis' memtoull: k/m/g are powers of 1000, kb/mb/gb of 1024 */
    static const struct unit mem_units[] = {
        {"", 1}, {"b", 1}, {"k", 1000}, {"kb", 1024}, {"m", 1000 * 1000}, {"mb", 1024 * 1024},
        {"g", 1000ULL * 1000 * 1000}, {"gb", 1024ULL * 1024 * 1024},
    };
    unsigned long long mul;
    if (!unit_lookup(mem_units, ARRAY_SIZE(mem_units), u, true, &mul))
        return false;
    unsigned long long v = 0;
    for (const char *p = s; p < u; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (mul > 1 && v > UINT64_MAX / mul)
        return false;
    *out = v * mul;
    return true;
}

static bool mem_equal(const char *a, const char *b)
{
    unsigned long long x, y;
    return parse_mem(a, &x) && parse_mem(b, &y) && x == y;
}

static bool int_equal(const char *a, const char *b, int base)
{
    long long x, y;
    return parse_int_base(a, base, &x) && parse_int_base(b, base, &y) && x == y;
}

static bool double_equal(const char *a, const char *b)
{
    char *ea, *eb;
    errno = 0;
    double x = strtod(a, &ea);
    double y = strtod(b, &eb);
    return *a && *b && !*ea && !*eb && !errno && x == y;
}

/* "N%" as N, or -1 */
static long long percent_of(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || s[n - 1] != '%')
        return -1;
    char *num = xstrndup(s, n - 1);
    long long v;
    bool ok = parse_int_base(num, 10, &v) && v >= 0;
    free(num);
    return ok ? v : -1;
}

/* notify-keyspace-events letters as Redis' flag bits, or -1 */
static long notify_flags(const char *s)
{
    static const char letters[] = "KEg$lshzxetm?dn"; /* bit i; '?' unused */
    const long all = (1L << 2) | (1L << 3) | (1L << 4) | (1L << 5) | (1L << 6) | (1L << 7) |
                     (1L << 8) | (1L << 9) | (1L << 10) | (1L << 13);
    long flags = 0;
    for (const char *p = s; *p; p++) {
        if (*p == 'A') {
            flags |= all;
            continue;
        }
        const char *l = *p == '?' ? NULL : strchr(letters, *p);
        if (!l)
            return -1;
        flags |= 1L << (l - letters);
    }
    return flags;
}

/* Value split into arguments; a lone "" argument means no arguments. */
static void value_args(const char *value, struct args *out)
{
    split_value(value, out);
    if (out->n == 1 && !out->v[0][0])
        args_release(out);
}

static int cmp_lower(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

/* Compare argument lists with `eq` per element. */
static bool lists_equal(const char *a, const char *b, bool (*eq)(const char *, const char *))
{
    struct args x, y;
    value_args(a, &x);
    value_args(b, &y);
    bool same = x.n == y.n;
    for (size_t i = 0; same && i < x.n; i++)
        same = eq(x.v[i], y.v[i]);
    args_release(&x);
    args_release(&y);
    return same;
}

static bool int10_equal(const char *a, const char *b) { return int_equal(a, b, 10); }
static bool exact_equal(const char *a, const char *b) { return !strcmp(a, b); }
static bool ci_equal(const char *a, const char *b) { return !strcasecmp(a, b); }

/* shutdown-on-sig*: the same set of flag names; "default" adds nothing */
static bool flags_equal(const char *a, const char *b)
{
    struct args x, y;
    value_args(a, &x);
    value_args(b, &y);
    struct args *both[2] = {&x, &y};
    for (int k = 0; k < 2; k++) {
        struct args *v = both[k];
        size_t w = 0;
        for (size_t i = 0; i < v->n; i++) {
            if (!strcasecmp(v->v[i], "default")) {
                free(v->v[i]);
                continue;
            }
            v->v[w++] = v->v[i];
        }
        v->n = w;
        if (v->n)
            qsort(v->v, v->n, sizeof(char *), cmp_lower);
        /* drop repeats */
        w = 0;
        for (size_t i = 0; i < v->n; i++) {
            if (w && !strcasecmp(v->v[w - 1], v->v[i])) {
                free(v->v[i]);
                continue;
            }
            v->v[w++] = v->v[i];
        }
        v->n = w;
    }
    bool same = x.n == y.n;
    for (size_t i = 0; same && i < x.n; i++)
        same = !strcasecmp(x.v[i], y.v[i]);
    args_release(&x);
    args_release(&y);
    return same;
}

struct cobl {
    bool set[3];
    unsigned long long hard[3], soft[3];
    long long secs[3];
};

static bool cobl_parse(const char *value, struct cobl *c)
{
    memset(c, 0, sizeof(*c));
    struct args a;
    value_args(value, &a);
    bool ok = a.n && a.n % 4 == 0;
    for (size_t i = 0; ok && i < a.n; i += 4) {
        int k = cobl_class(a.v[i]);
        ok = k >= 0 && parse_mem(a.v[i + 1], &c->hard[k]) && parse_mem(a.v[i + 2], &c->soft[k]) &&
             parse_int_base(a.v[i + 3], 10, &c->secs[k]) && c->secs[k] >= 0;
        if (ok)
            c->set[k] = true;
    }
    args_release(&a);
    return ok;
}

/*
 * Classes named on both sides must agree; a class named on one side only is
 * not compared: Redis keeps the current limits of classes a value omits, so
 * a spec that sets only "replica ..." equals a CONFIG GET that lists all three.
 */
static bool cobl_equal(const char *a, const char *b)
{
    struct cobl x, y;
    if (!cobl_parse(a, &x) || !cobl_parse(b, &y))
        return false;
    for (int k = 0; k < 3; k++)
        if (x.set[k] && y.set[k] &&
            (x.hard[k] != y.hard[k] || x.soft[k] != y.soft[k] || x.secs[k] != y.secs[k]))
            return false;
    return true;
}

bool conf_value_equal(const char *key, const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    if (!strcmp(a, b))
        return true;
    bool known;
    enum conf_type type = key_type(key ? key : "", &known);
    if (!known) {
        /* unknown to Redis 7.0 (a module or newer option): the obvious cases */
        if (yes_no(a) >= 0 && yes_no(b) >= 0)
            return yes_no(a) == yes_no(b);
        return int_equal(a, b, 10);
    }
    switch (type) {
    case CT_STRING:
        return false;
    case CT_BOOL:
        return yes_no(a) >= 0 && yes_no(a) == yes_no(b);
    case CT_ENUM:
        if (!strcasecmp(key, "oom-score-adj")) {
            /* "yes" is the old spelling of "relative" */
            const char *x = !strcasecmp(a, "yes") ? "relative" : a;
            const char *y = !strcasecmp(b, "yes") ? "relative" : b;
            return !strcasecmp(x, y);
        }
        return !strcasecmp(a, b);
    case CT_FLAGS:
        return flags_equal(a, b);
    case CT_INT:
        return int_equal(a, b, 10);
    case CT_MEM:
        return mem_equal(a, b);
    case CT_MEMPCT: {
        long long pa = percent_of(a), pb = percent_of(b);
        if (pa >= 0 || pb >= 0)
            return pa == pb;
        return mem_equal(a, b);
    }
    case CT_OCTAL:
        return int_equal(a, b, 8);
    case CT_SAVE:
    case CT_INTLIST:
        return lists_equal(a, b, int10_equal);
    case CT_COBL:
        return cobl_equal(a, b);
    case CT_DOUBLES:
        return lists_equal(a, b, double_equal);
    case CT_WORDS:
        /* replicaof "NO ONE"; bind addresses are compared exactly */
        return lists_equal(a, b, names_match(key, "replicaof") ? ci_equal : exact_equal);
    case CT_NOTIFY: {
        long fa = notify_flags(a), fb = notify_flags(b);
        return fa >= 0 && fa == fb;
    }
    }
    return false;
}
