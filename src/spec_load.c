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
 * SPEC_MAX_ERRORS errors it stops.
 */
#include "spec.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "yaml_tree.h"

struct loader {
    const char *file;
    struct diags *d;
    struct spec *s;
    struct strbuf path; /* dotted path of the value being read, for messages */
    struct spec_pos *stats_pos; /* per proxy: where stats_port is written (or the proxy) */
    const struct spec_host **host_index; /* hosts sorted by name, for resolution */
    size_t errors;      /* errors reported so far, the parser's included */
    bool stopped;       /* SPEC_MAX_ERRORS reached: report and check nothing more */
    size_t suggestions; /* "did you mean" searches made: each costs edit distances */
    const struct ynode **typos; /* unknown keys reported with a suggestion, not as secrets */
    size_t ntypos, captypos;
};

/* ------------------------------------------------------------------------ */
/* messages */

/* Add a diagnostic; the first error past SPEC_MAX_ERRORS stops the load, there. */
static void report(struct loader *L, enum diag_severity sev, const struct ynode *at,
                   const char *fmt, va_list ap)
{
    int line = at ? at->line : 0, col = at ? at->col : 0;
    if (L->stopped)
        return;
    if (sev == DIAG_ERROR && ++L->errors > SPEC_MAX_ERRORS) {
        diags_add(L->d, DIAG_ERROR, L->file, line, col, "too many errors, stopping");
        L->stopped = true;
        return;
    }
    char *msg = xvasprintf(fmt, ap);
    diags_add(L->d, sev, L->file, line, col, "%s", msg);
    free(msg);
}

static void error_at(struct loader *L, const struct ynode *at, const char *fmt, ...)
    RMGR_PRINTF(3, 4);
static void error_at(struct loader *L, const struct ynode *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(L, DIAG_ERROR, at, fmt, ap);
    va_end(ap);
}

static void warning_at(struct loader *L, const struct ynode *at, const char *fmt, ...)
    RMGR_PRINTF(3, 4);
static void warning_at(struct loader *L, const struct ynode *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(L, DIAG_WARNING, at, fmt, ap);
    va_end(ap);
}

/* An error at a position that has no node of its own (a resolved address). */
static void error_pos(struct loader *L, struct spec_pos pos, const char *fmt, ...)
    RMGR_PRINTF(3, 4);
static void error_pos(struct loader *L, struct spec_pos pos, const char *fmt, ...)
{
    struct ynode at = {.line = pos.line, .col = pos.col};
    va_list ap;
    va_start(ap, fmt);
    report(L, DIAG_ERROR, &at, fmt, ap);
    va_end(ap);
}

static size_t path_push_key(struct loader *L, const char *key)
{
    size_t old = L->path.len;
    if (old)
        sb_addc(&L->path, '.');
    sb_add(&L->path, key);
    return old;
}

static size_t path_push_index(struct loader *L, size_t i)
{
    size_t old = L->path.len;
    sb_addf(&L->path, "[%zu]", i);
    return old;
}

static void path_pop(struct loader *L, size_t old)
{
    L->path.len = old;
    if (L->path.buf)
        L->path.buf[old] = '\0';
}

static const char *path(const struct loader *L)
{
    return sb_str(&L->path);
}

/* " in sentinel" or " at top level", for unknown and missing keys */
static char *where(const struct loader *L)
{
    return L->path.len ? xasprintf(" in %s", path(L)) : xstrdup(" at top level");
}

/* Levenshtein distance, for "did you mean"; long strings are not compared. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest of `n` candidates within a small distance, or NULL. */
static const char *suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bestd = SIZE_MAX, len = strlen(word);
    if (len > 64)
        return NULL; /* not a typo of anything, and costly to compare */
    size_t limit = len <= 3 ? 1 : 2;
    for (size_t i = 0; i < n; i++) {
        size_t dist = edit_distance(word, cands[i]);
        if (dist <= limit && dist < bestd) {
            best = cands[i];
            bestd = dist;
        }
    }
    return best;
}

/* A known key that `word` starts with its first 4+ characters of ("down_after"), or NULL. */
static const char *suggest_prefix(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t len = strlen(word);
    for (size_t i = 0; len >= 4 && i < n; i++)
        if (!strncmp(cands[i], word, len) && (!best || strlen(cands[i]) < strlen(best)))
            best = cands[i];
    return best;
}

/* ------------------------------------------------------------------------ */
/* value checks */

#define MAX_NAME 63 /* a DNS label: names may end up in host names and directories */

static bool valid_name(const char *s)
{
    if (!*s || strlen(s) > MAX_NAME)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    return true;
}

/* 1-63 of [a-z0-9-], starting and ending with a letter or digit (a DNS label). */
static bool valid_cluster_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > MAX_NAME || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') && *s != '-')
            return false;
    return true;
}

static bool valid_env_name(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

static bool has_control_chars(const struct ynode *v)
{
    for (size_t i = 0; i < v->len; i++)
        if ((unsigned char)v->scalar[i] < 0x20 || v->scalar[i] == 0x7f)
            return true;
    return false;
}

static bool is_ipv4(const char *s)
{
    unsigned char buf[4];
    return inet_pton(AF_INET, s, buf) == 1;
}

static bool is_ipv6(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET6, s, buf) == 1;
}

static bool is_ip(const char *s)
{
    return is_ipv4(s) || is_ipv6(s);
}

/*
 * The one spelling of an IP literal (inet_ntop of inet_pton), so that [::1] and
 * [0:0:0:0:0:0:0:1] are the same address; a copy of `s` when it is no IP.
 */
static char *canonical_ip(const char *s)
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
static bool dotted_digits(const char *s)
{
    return *s && strspn(s, "0123456789.") == strlen(s);
}

static bool is_loopback_or_any(const char *ip)
{
    return str_starts_with(ip, "127.") || !strcmp(ip, "0.0.0.0") || !strcmp(ip, "::1") ||
           !strcmp(ip, "::");
}

/* "a.b.c.d:port" or "[v6]:port" */
static char *format_addr(const char *ip, int port)
{
    return strchr(ip, ':') ? xasprintf("[%s]:%d", ip, port) : xasprintf("%s:%d", ip, port);
}

/* Keys that would hold a secret: secrets come from auth.password_env/_file only. */
static bool is_secret_key(const char *key)
{
    static const char *const words[] = {
        "pass", "passwd", "password", "secret", "requirepass", "masterauth", "masteruser-pass",
        "auth-pass", "auth_pass", "redis_auth", "redis-auth", "sentinel-pass", "sentinel_pass",
        "primaryauth", "token", NULL};
    char low[128];
    size_t n = strlen(key);
    if (n >= sizeof(low))
        n = sizeof(low) - 1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)key[i]);
    low[n] = '\0';
    if (!strcmp(low, "password_env") || !strcmp(low, "password_file"))
        return false;
    for (size_t i = 0; words[i]; i++)
        if (!strcmp(low, words[i]))
            return true;
    /* tls-key-file-pass, tls-client-key-file-pass and the like */
    if (n > 5 && (!strcmp(low + n - 5, "-pass") || !strcmp(low + n - 5, "_pass")))
        return true;
    return strstr(low, "passw") || strstr(low, "secret");
}

/* Expand a leading "~" or "~/" to the home directory. Caller frees. */
static char *expand_home(const char *p)
{
    if (p[0] != '~' || (p[1] && p[1] != '/'))
        return xstrdup(p);
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home)
        return xstrdup(p);
    return xasprintf("%s%s", home, p + 1);
}

static bool has_dotdot(const char *p)
{
    for (const char *c = p; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return true;
        if (!e)
            break;
        c = e + 1;
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* the key -> handler table */

struct field;
typedef void (*field_fn)(struct loader *L, const struct field *f, const struct ynode *v,
                         void *obj);

struct field {
    const char *key;
    field_fn set;
    size_t off;
    bool required;
    long min, max;              /* integers */
    const char *const *choices; /* enumerations, NULL-terminated */
};

#define AT(obj, f, type) ((type *)(void *)((char *)(obj) + (f)->off))

/* How a value looks in a message: short scalars quoted, others by kind. */
static const char *got(const struct ynode *v, char *buf, size_t size)
{
    if (v->kind != YNODE_SCALAR || ynode_is_null(v) || v->len > 40 || has_control_chars(v))
        return ynode_describe(v);
    if (!v->plain) /* "5000" is a string even when it reads like a number */
        snprintf(buf, size, "the quoted string \"%s\"", v->scalar);
    else
        snprintf(buf, size, "'%s'", v->scalar);
    return buf;
}

static bool expect_kind(struct loader *L, const struct ynode *v, enum ynode_kind kind)
{
    if (v->kind == kind)
        return true;
    error_at(L, v, "wrong type for '%s': expected %s, got %s", path(L),
             kind == YNODE_MAP ? "a mapping" : kind == YNODE_SEQ ? "a sequence" : "a scalar",
             ynode_describe(v));
    return false;
}

/* The text of a string scalar, or NULL after reporting why it is not one. */
static const char *get_string(struct loader *L, const struct ynode *v)
{
    if (v->kind != YNODE_SCALAR || ynode_looks_typed(v)) {
        error_at(L, v, "wrong type for '%s': expected a string, got %s", path(L),
                 ynode_describe(v));
        return NULL;
    }
    if (has_control_chars(v) || strlen(v->scalar) != v->len) {
        error_at(L, v, "'%s' must not contain control characters", path(L));
        return NULL;
    }
    return v->scalar;
}

static bool get_long(struct loader *L, const struct field *f, const struct ynode *v, long *out)
{
    char buf[64];
    long n;
    if (!ynode_int(v, &n)) {
        error_at(L, v, "wrong type for '%s': expected an integer, got %s", path(L),
                 got(v, buf, sizeof(buf)));
        return false;
    }
    if (n < f->min || n > f->max) {
        error_at(L, v, "'%s' must be between %ld and %ld, got %ld", path(L), f->min, f->max, n);
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
    const char *s = get_string(L, v);
    if (!s)
        return;
    char **dst = AT(obj, f, char *);
    free(*dst);
    *dst = xstrdup(s);
}

static void set_name(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    const char *s = get_string(L, v);
    if (!s)
        return;
    if (strlen(s) > MAX_NAME) {
        error_at(L, v, "'%s' is longer than %d characters", path(L), MAX_NAME);
        return;
    }
    if (!valid_name(s)) {
        error_at(L, v, "bad name '%s' for '%s': use only letters, digits, '.', '_' and '-'", s,
                 path(L));
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
        error_at(L, v, "wrong type for '%s': expected a port number, got %s", path(L),
                 got(v, buf, sizeof(buf)));
        return;
    }
    if (n < 1 || n > 65535) {
        error_at(L, v, "port %ld for '%s' is out of range 1..65535", n, path(L));
        return;
    }
    *AT(obj, f, int) = (int)n;
}

static void set_bool(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    char buf[64];
    bool b;
    if (!ynode_is_bool(v, &b)) {
        error_at(L, v, "wrong type for '%s': expected true or false, got %s", path(L),
                 got(v, buf, sizeof(buf)));
        return;
    }
    *AT(obj, f, bool) = b;
}

/* An absolute path without "..", after "~" expansion; trailing slashes dropped. */
static void set_path(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    const char *s = get_string(L, v);
    if (!s)
        return;
    char *p = expand_home(s);
    if (p[0] != '/') {
        error_at(L, v, "'%s' must be an absolute path, got '%s'", path(L), s);
        free(p);
        return;
    }
    if (has_dotdot(p)) {
        error_at(L, v, "'%s' must not contain '..', got '%s'", path(L), s);
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

static void set_choice(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    const char *s = get_string(L, v);
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
    error_at(L, v, "bad value '%s' for '%s' (expected one of: %s)", s, path(L), sb_str(&sb));
    sb_release(&sb);
}


static void set_transport(struct loader *L, const struct field *f, const struct ynode *v,
                          void *obj)
{
    const char *s = get_string(L, v);
    if (!s)
        return;
    if (!strcmp(s, "local"))
        *AT(obj, f, enum transport_kind) = TRANSPORT_LOCAL;
    else if (!strcmp(s, "ssh"))
        *AT(obj, f, enum transport_kind) = TRANSPORT_SSH;
    else
        error_at(L, v, "bad value '%s' for '%s' (expected one of: local, ssh)", s, path(L));
}

static void set_hash_tag(struct loader *L, const struct field *f, const struct ynode *v,
                         void *obj)
{
    const char *s = get_string(L, v);
    if (!s)
        return;
    /* nutcracker compares bytes: two characters are two bytes only in ASCII */
    if (strlen(s) != 2 || !(s[0] > ' ' && s[0] < 0x7f && s[1] > ' ' && s[1] < 0x7f)) {
        error_at(L, v, "'%s' must be two ASCII characters other than space, like \"{}\"",
                 path(L));
        return;
    }
    char **dst = AT(obj, f, char *);
    free(*dst);
    *dst = xstrdup(s);
}

static void set_env_name(struct loader *L, const struct field *f, const struct ynode *v,
                         void *obj)
{
    const char *s = get_string(L, v);
    if (!s)
        return;
    /* the value is not echoed: someone may have pasted the password itself */
    if (!valid_env_name(s)) {
        error_at(L, v, "'%s' must name an environment variable (letters, digits and '_')",
                 path(L));
        return;
    }
    char **dst = AT(obj, f, char *);
    free(*dst);
    *dst = xstrdup(s);
}

/* Parse "NAME:PORT", "IP:PORT" or "[IPv6]:PORT"; the ip is resolved later. */
static bool parse_addr(struct loader *L, const struct ynode *v, struct spec_addr *a)
{
    const char *s = get_string(L, v);
    if (!s)
        return false;
    const char *colon = strrchr(s, ':');
    char *host = NULL;
    bool ok = false;
    if (s[0] == '[') { /* only an IPv6 address goes in brackets */
        const char *close = strchr(s, ']');
        if (close && close[1] == ':' && close + 1 == colon) {
            host = xstrndup(s + 1, (size_t)(close - s - 1));
            ok = is_ipv6(host);
        }
    } else if (colon && colon > s && !memchr(s, ':', (size_t)(colon - s))) {
        host = xstrndup(s, (size_t)(colon - s));
        ok = is_ipv4(host) || valid_name(host);
    }
    bool digits = colon && colon[1];
    for (const char *c = colon ? colon + 1 : ""; *c; c++)
        digits = digits && isdigit((unsigned char)*c);
    if (!ok || !digits) {
        error_at(L, v, "bad address '%s' for '%s': expected NAME:PORT or IP:PORT", s, path(L));
        free(host);
        return false;
    }
    if (dotted_digits(host) && !is_ipv4(host)) {
        error_at(L, v, "'%s' is not a valid IP address", host);
        free(host);
        return false;
    }
    long port;
    if (colon[1] == '0' && colon[2]) { /* the schema's pattern has no leading zeros either */
        error_at(L, v, "port %s in '%s' has a leading zero", colon + 1, s);
        free(host);
        return false;
    }
    if (!parse_long(colon + 1, 1, 65535, &port)) {
        error_at(L, v, "port %s in '%s' is out of range 1..65535", colon + 1, s);
        free(host);
        return false;
    }
    free(a->host);
    a->host = is_ip(host) ? canonical_ip(host) : xstrdup(host);
    free(host);
    a->port = (int)port;
    a->pos = (struct spec_pos){v->line, v->col};
    return true;
}

static void set_addr(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    parse_addr(L, v, AT(obj, f, struct spec_addr));
}

/* A sequence of addresses into a (struct spec_addr *, size_t) pair at f->off. */
static void load_addr_list(struct loader *L, const struct ynode *v, struct spec_addr **out,
                           size_t *nout)
{
    if (!expect_kind(L, v, YNODE_SEQ))
        return;
    struct spec_addr *arr = xcalloc(v->nitems ? v->nitems : 1, sizeof(*arr));
    size_t n = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        size_t old = path_push_index(L, i);
        if (parse_addr(L, v->items[i], &arr[n]))
            n++;
        path_pop(L, old);
    }
    *out = arr;
    *nout = n;
}

static void set_replicas(struct loader *L, const struct field *f, const struct ynode *v,
                         void *obj)
{
    (void)f;
    struct spec_shard *sh = obj;
    load_addr_list(L, v, &sh->replicas, &sh->nreplicas);
}

static void set_sentinel_nodes(struct loader *L, const struct field *f, const struct ynode *v,
                               void *obj)
{
    (void)f;
    struct spec_sentinel *se = obj;
    load_addr_list(L, v, &se->nodes, &se->nnodes);
    if (v->kind == YNODE_SEQ && v->nitems == 0)
        error_at(L, v, "'%s' must list at least one sentinel", path(L));
}

/*
 * Run the handlers of `fields` over the pairs of `map`. Unknown keys get a
 * suggestion; missing required keys are reported at the mapping. Returns a
 * bit per field that was present.
 */
static uint32_t load_map(struct loader *L, const struct ynode *map, const struct field *fields,
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
            const char *s = suggest(key->scalar, names, n);
            if (s) {
                VEC_GROW(L->typos, L->ntypos, L->captypos);
                L->typos[L->ntypos++] = key;
            } else if (is_secret_key(key->scalar)) {
                continue; /* reported by the secret scan */
            } else {
                s = suggest_prefix(key->scalar, names, n);
            }
            char *w = where(L);
            if (s)
                error_at(L, key, "unknown key '%s'%s (did you mean '%s'?)", key->scalar, w, s);
            else
                error_at(L, key, "unknown key '%s'%s", key->scalar, w);
            free(w);
            continue;
        }
        seen |= 1u << i;
        size_t old = path_push_key(L, key->scalar);
        fields[i].set(L, &fields[i], val, obj);
        path_pop(L, old);
    }
    for (size_t i = 0; i < n; i++) {
        if (fields[i].required && !(seen & (1u << i))) {
            char *w = where(L);
            error_at(L, map, "missing required key '%s'%s", fields[i].key, w);
            free(w);
        }
    }
    return seen;
}

#define LOAD_MAP(L, map, table, obj) load_map((L), (map), (table), ARRAY_SIZE(table), (obj))

/* ------------------------------------------------------------------------ */
/* sections */

static const struct field ssh_fields[] = {
    {"user", set_name, offsetof(struct spec_ssh, user)},
    {"port", set_port, offsetof(struct spec_ssh, port)},
    {"identity", set_path, offsetof(struct spec_ssh, identity)},
    {"known_hosts", set_path, offsetof(struct spec_ssh, known_hosts)},
};

static void set_ssh(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    if (expect_kind(L, v, YNODE_MAP))
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
    if (expect_kind(L, v, YNODE_MAP))
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
    df->ssh.known_hosts = expand_home("~/.ssh/known_hosts");
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
    if (!expect_kind(L, v, YNODE_MAP))
        return;
    s->hosts = xcalloc(v->npairs ? v->npairs : 1, sizeof(*s->hosts));
    for (size_t i = 0; i < v->npairs; i++) {
        const struct ynode *key = v->pairs[i].key, *val = v->pairs[i].value;
        if (strlen(key->scalar) > MAX_NAME) {
            error_at(L, key, "bad host name: longer than %d characters", MAX_NAME);
            continue;
        }
        if (!valid_name(key->scalar)) {
            error_at(L, key, "bad host name '%s': use only letters, digits, '.', '_' and '-'",
                     key->scalar);
            continue;
        }
        if (dotted_digits(key->scalar) && !is_ipv4(key->scalar)) {
            error_at(L, key, "bad host name '%s': digits and dots alone read as an IP address",
                     key->scalar);
            continue;
        }
        size_t old = path_push_key(L, key->scalar);
        if (!expect_kind(L, val, YNODE_MAP)) {
            path_pop(L, old);
            continue;
        }
        struct host_raw raw = {0};
        uint32_t seen = LOAD_MAP(L, val, host_fields, &raw);
        const struct ynode *addr = ynode_get(val, "address");
        if (raw.address && !is_ip(raw.address)) {
            error_at(L, addr, "'%s.address' must be an IP address, got '%s'", path(L),
                     raw.address);
            free(raw.address);
            raw.address = NULL;
        } else if (raw.address) {
            char *c = canonical_ip(raw.address);
            free(raw.address);
            raw.address = c;
            /* 10.0.0.9:7001 would mean another machine than the address says */
            if (is_ipv4(key->scalar) && strcmp(key->scalar, c))
                error_at(L, key, "host name '%s' looks like an IP address, but its address is %s",
                         key->scalar, c);
        }
        path_pop(L, old);

        const struct spec_ssh *dfl = &s->defaults.ssh;
        struct spec_host *h = &s->hosts[s->nhosts++];
        h->name = xstrdup(key->scalar);
        h->address = raw.address;
        h->transport = (seen & 2) /* host_fields[1] */ ? raw.transport : s->defaults.transport;
        h->ssh.user = raw.ssh.user ? raw.ssh.user : xstrdup(dfl->user);
        h->ssh.port = raw.ssh.port ? raw.ssh.port : dfl->port;
        h->ssh.identity = raw.ssh.identity ? raw.ssh.identity : xstrdup(dfl->identity);
        h->ssh.known_hosts = raw.ssh.known_hosts ? raw.ssh.known_hosts : xstrdup(dfl->known_hosts);
        h->pos = (struct spec_pos){key->line, key->col};
    }
}

static const struct field auth_fields[] = {
    {"password_env", set_env_name, offsetof(struct spec_auth, password_env)},
    {"password_file", set_path, offsetof(struct spec_auth, password_file)},
};

static void load_auth(struct loader *L, const struct ynode *v)
{
    if (!expect_kind(L, v, YNODE_MAP))
        return;
    uint32_t seen = LOAD_MAP(L, v, auth_fields, &L->s->auth);
    if (seen == 3)
        error_at(L, ynode_get_key(v, "password_file"),
                 "auth takes password_env or password_file, not both");
    else if (!seen && !v->npairs)
        error_at(L, v, "auth needs password_env or password_file");
}

/* a name and where it is written, to find duplicates by sorting */
struct named {
    const char *name;
    const struct ynode *node;
};

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
static void report_duplicate_names(struct loader *L, struct named *v, size_t n, const char *what,
                                   bool icase)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), icase ? named_icmp : named_cmp);
    for (size_t i = 1, first = 0; i < n; i++) {
        if (icase ? strcasecmp(v[i].name, v[first].name) : strcmp(v[i].name, v[first].name)) {
            first = i;
            continue;
        }
        error_at(L, v[i].node, "duplicate %s '%s' (first at line %d)", what, v[i].name,
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
    if (!expect_kind(L, v, YNODE_MAP))
        return;
    s->redis_config = xcalloc(v->npairs ? v->npairs : 1, sizeof(*s->redis_config));
    struct named *names = xcalloc(v->npairs ? v->npairs : 1, sizeof(*names));
    size_t nnames = 0;
    for (size_t i = 0; i < v->npairs; i++) {
        const struct ynode *key = v->pairs[i].key, *val = v->pairs[i].value;
        const char *k = key->scalar;
        if (is_secret_key(k))
            continue; /* reported by the secret scan */
        bool managed = false;
        for (size_t m = 0; managed_directives[m]; m++)
            managed = managed || str_ieq(k, managed_directives[m]);
        if (managed) {
            error_at(L, key, "redis.config directive '%s' is managed by rmgr", k);
            continue;
        }
        bool ok = *k != '\0';
        for (const char *c = k; *c; c++)
            ok = ok && (isalnum((unsigned char)*c) || *c == '-' || *c == '_');
        if (!ok) {
            error_at(L, key, "bad redis.config directive name '%s'", k);
            continue;
        }
        size_t old = path_push_key(L, k);
        if (val->kind != YNODE_SCALAR || ynode_is_null(val)) {
            error_at(L, val, "wrong type for '%s': expected a scalar, got %s%s", path(L),
                     ynode_describe(val),
                     ynode_is_null(val) ? " (write \"\" for an empty value)" : "");
        } else if (has_control_chars(val) || strlen(val->scalar) != val->len) {
            error_at(L, val, "'%s' must not contain control characters", path(L));
        } else {
            struct spec_kv *kv = &s->redis_config[s->nredis_config++];
            kv->key = xstrdup(k);
            kv->value = xstrdup(val->scalar);
            kv->pos = (struct spec_pos){key->line, key->col};
            names[nnames++] = (struct named){k, key};
        }
        path_pop(L, old);
    }
    /* redis reads directive names in any case: MAXMEMORY overrides maxmemory */
    report_duplicate_names(L, names, nnames, "redis.config directive", true);
    free(names);
}

static const struct field redis_fields[] = {
    {"config", set_redis_config, 0},
};

static const struct field shard_fields[] = {
    {"name", set_name, offsetof(struct spec_shard, name), true},
    {"master", set_addr, offsetof(struct spec_shard, master), true},
    {"replicas", set_replicas, 0},
};

static void load_shards(struct loader *L, const struct ynode *v)
{
    struct spec *s = L->s;
    if (!expect_kind(L, v, YNODE_SEQ))
        return;
    if (v->nitems == 0)
        error_at(L, v, "'shards' must list at least one shard");
    s->shards = xcalloc(v->nitems ? v->nitems : 1, sizeof(*s->shards));
    struct named *names = xcalloc(v->nitems ? v->nitems : 1, sizeof(*names));
    size_t nnames = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        const struct ynode *item = v->items[i];
        size_t old = path_push_index(L, i);
        if (expect_kind(L, item, YNODE_MAP)) {
            struct spec_shard *sh = &s->shards[s->nshards++];
            sh->pos = (struct spec_pos){item->line, item->col};
            LOAD_MAP(L, item, shard_fields, sh);
            const struct ynode *nm = ynode_get(item, "name");
            if (sh->name)
                names[nnames++] = (struct named){sh->name, nm};
        }
        path_pop(L, old);
    }
    report_duplicate_names(L, names, nnames, "shard name", false);
    free(names);
}

static const struct field sentinel_fields[] = {
    {"quorum", set_int, offsetof(struct spec_sentinel, quorum), true, 1, INT_MAX},
    {"down_after_ms", set_long, offsetof(struct spec_sentinel, down_after_ms), false, 1, INT_MAX},
    {"failover_timeout_ms", set_long, offsetof(struct spec_sentinel, failover_timeout_ms), false,
     1, INT_MAX},
    {"parallel_syncs", set_int, offsetof(struct spec_sentinel, parallel_syncs), false, 1, 1000},
    {"nodes", set_sentinel_nodes, 0, true},
};

static void load_sentinel(struct loader *L, const struct ynode *v)
{
    struct spec_sentinel *se = &L->s->sentinel;
    if (!expect_kind(L, v, YNODE_MAP))
        return;
    se->pos = (struct spec_pos){v->line, v->col};
    LOAD_MAP(L, v, sentinel_fields, se);
    const struct ynode *q = ynode_get(v, "quorum");
    if (se->quorum > 0 && se->nnodes > 0) {
        if ((size_t)se->quorum > se->nnodes)
            error_at(L, q, "quorum %d is larger than the number of sentinels (%zu)", se->quorum,
                     se->nnodes);
        else if ((size_t)se->quorum * 2 <= se->nnodes)
            warning_at(L, q, "quorum %d is not a majority of the %zu sentinels", se->quorum,
                       se->nnodes);
    }
    const struct ynode *da = ynode_get(v, "down_after_ms");
    if (da && se->down_after_ms > 0 && se->down_after_ms < 2000)
        warning_at(L, da, "down_after_ms %ld is below 2000 and causes spurious failovers",
                   se->down_after_ms);
}

static const char *const hashes[] = {"one_at_a_time", "md5", "crc16", "crc32", "crc32a",
                                     "fnv1_64", "fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh",
                                     "murmur", "jenkins", NULL};
static const char *const distributions[] = {"ketama", "modula", "random", NULL};

static void set_proxy_host(struct loader *L, const struct field *f, const struct ynode *v,
                           void *obj)
{
    const char *s = get_string(L, v);
    if (!s)
        return;
    if (!valid_name(s) && !is_ip(s)) {
        error_at(L, v, "bad host '%s' for '%s': expected a name under hosts: or an IP address",
                 s, path(L));
        return;
    }
    if (dotted_digits(s) && !is_ipv4(s)) {
        error_at(L, v, "'%s' is not a valid IP address", s);
        return;
    }
    char **dst = AT(obj, f, char *);
    free(*dst);
    *dst = is_ip(s) ? canonical_ip(s) : xstrdup(s);
}

static const struct field proxy_fields[] = {
    {"host", set_proxy_host, offsetof(struct spec_proxy, host), true},
    {"listen", set_addr, offsetof(struct spec_proxy, listen), true},
    {"stats_port", set_port, offsetof(struct spec_proxy, stats_port)},
    {"hash", set_choice, offsetof(struct spec_proxy, hash), false, 0, 0, hashes},
    {"distribution", set_choice, offsetof(struct spec_proxy, distribution), false, 0, 0,
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
    if (!expect_kind(L, v, YNODE_SEQ))
        return;
    s->proxies = xcalloc(v->nitems ? v->nitems : 1, sizeof(*s->proxies));
    for (size_t i = 0; i < v->nitems; i++) {
        const struct ynode *item = v->items[i];
        size_t old = path_push_index(L, i);
        if (expect_kind(L, item, YNODE_MAP)) {
            struct spec_proxy *p = &s->proxies[s->nproxies++];
            p->pos = (struct spec_pos){item->line, item->col};
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
        path_pop(L, old);
    }
}

static void set_cluster(struct loader *L, const struct field *f, const struct ynode *v, void *obj)
{
    (void)f;
    struct spec *s = obj;
    const char *name = get_string(L, v);
    if (!name)
        return;
    if (!valid_cluster_name(name)) {
        error_at(L, v,
                 "bad cluster name '%s': use 1 to %d lowercase letters, digits and '-', "
                 "starting and ending with a letter or digit",
                 strlen(name) > 80 ? "..." : name, MAX_NAME);
        return;
    }
    s->cluster = xstrdup(name);
    s->cluster_pos = (struct spec_pos){v->line, v->col};
}

struct sections {
    const struct ynode *cluster, *hosts, *defaults, *auth, *redis, *shards, *sentinel, *proxies;
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
            if (is_secret_key(k->scalar) && !is_typo(L, k))
                error_at(L, k,
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
    if (is_ip(host))
        return host;
    const char **names = xcalloc(L->s->nhosts + 1, sizeof(*names));
    for (size_t i = 0; i < L->s->nhosts; i++)
        names[i] = L->s->hosts[i].name;
    /* a suggestion costs an edit distance per host: bound the hosts and the searches */
    const char *sug = NULL;
    if (L->s->nhosts <= 256 && L->suggestions++ < SPEC_MAX_ERRORS)
        sug = suggest(host, names, L->s->nhosts);
    if (sug)
        error_pos(L, pos, "undefined host '%s' (did you mean '%s'?)", host, sug);
    else
        error_pos(L, pos, "undefined host '%s': define it under hosts: or use an IP address",
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
static void check_addresses(struct loader *L)
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
        const char *lip = p->listen.ip && is_loopback_or_any(p->listen.ip) ? p->host_ip
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
        char *a = format_addr(v[i].ip, v[i].port);
        error_pos(L, v[i].pos, "address %s is used twice (first by %s at line %d)", a,
                  v[first].what, v[first].pos.line);
        free(a);
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].what);
    free(v);
}

static void resolve_all(struct loader *L)
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

static const struct field top_fields[] = {
    {"cluster", set_node, offsetof(struct sections, cluster), true},
    {"hosts", set_node, offsetof(struct sections, hosts)},
    {"defaults", set_node, offsetof(struct sections, defaults)},
    {"auth", set_node, offsetof(struct sections, auth)},
    {"redis", set_node, offsetof(struct sections, redis)},
    {"shards", set_node, offsetof(struct sections, shards), true},
    {"sentinel", set_node, offsetof(struct sections, sentinel), true},
    {"proxies", set_node, offsetof(struct sections, proxies)},
};

/* Sections are read in dependency order (defaults before hosts, hosts before addresses). */
static void load_root(struct loader *L, const struct ynode *root)
{
    struct spec *s = L->s;
    if (root->kind != YNODE_MAP) {
        error_at(L, root, "a spec must be a mapping at top level, got %s", ynode_describe(root));
        return;
    }
    struct sections sec = {0};
    LOAD_MAP(L, root, top_fields, &sec);

    size_t old;
    if (sec.cluster) {
        old = path_push_key(L, "cluster");
        set_cluster(L, NULL, sec.cluster, s);
        path_pop(L, old);
    }
    if (sec.defaults) {
        old = path_push_key(L, "defaults");
        if (expect_kind(L, sec.defaults, YNODE_MAP))
            LOAD_MAP(L, sec.defaults, defaults_fields, &s->defaults);
        path_pop(L, old);
    }
    if (sec.hosts) {
        old = path_push_key(L, "hosts");
        load_hosts(L, sec.hosts);
        path_pop(L, old);
    }
    if (sec.auth) {
        old = path_push_key(L, "auth");
        load_auth(L, sec.auth);
        path_pop(L, old);
    }
    if (sec.redis) {
        old = path_push_key(L, "redis");
        if (expect_kind(L, sec.redis, YNODE_MAP))
            LOAD_MAP(L, sec.redis, redis_fields, NULL);
        path_pop(L, old);
    }
    if (sec.shards) {
        old = path_push_key(L, "shards");
        load_shards(L, sec.shards);
        path_pop(L, old);
    }
    if (sec.sentinel) {
        old = path_push_key(L, "sentinel");
        load_sentinel(L, sec.sentinel);
        path_pop(L, old);
    }
    if (sec.proxies) {
        old = path_push_key(L, "proxies");
        load_proxies(L, sec.proxies);
        path_pop(L, old);
    }
    scan_secrets(L, root);
    if (L->stopped)
        return;
    resolve_all(L);
    if (!L->stopped)
        check_addresses(L);
}

/* ------------------------------------------------------------------------ */
/* public */

struct spec *spec_load_buffer(const char *name, const char *data, size_t len, struct diags *d)
{
    size_t errors_before = diags_count(d, DIAG_ERROR);
    if (len > SPEC_MAX_FILE_SIZE) {
        diags_add(d, DIAG_ERROR, name, 0, 0, "spec is larger than %d bytes", SPEC_MAX_FILE_SIZE);
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
            diags_add(d, DIAG_ERROR, path, 0, 0, "spec is larger than %d bytes",
                      SPEC_MAX_FILE_SIZE);
        else
            diags_add(d, DIAG_ERROR, NULL, 0, 0, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct spec *s = spec_load_buffer(path, data, len, d);
    free(data);
    return s;
}
